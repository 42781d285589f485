//! The descriptors: the one exported symbol of a kiln shared object and what it points at.
//!
//! A module `.so` exports [`DESCRIPTOR_SYMBOL`] ([`ModuleDescriptor`]); a component `.so`
//! exports [`COMPONENT_DESCRIPTOR_SYMBOL`] ([`ComponentDescriptor`]), whose module array points
//! at one hidden [`ModuleDescriptor`] per core module. Both are 96-byte little-endian records
//! with a common head:
//!
//! ```text
//! 0    magic             [u8; 8]    "KILN\0MOD" / "KILN\0CMP"
//! 8    abi_version       u32        ABI_VERSION
//! 12   size              u32        DESCRIPTOR_SIZE
//! 16   checksum          [u8; 16]   file checksum (crate::artifact::checksum); zero inside a
//!                                   component
//! 32   fingerprint       ptr, len   crate::Fingerprint, encoded
//! 48   metadata          ptr, len   postcard ModuleMetadata / ComponentMetadata
//! 64   module:    text ptr, len;  data ptr, len (page-aligned data blob)
//!      component: modules ptr, count (array of ModuleDescriptor pointers);  glue text ptr, len
//! ```
//!
//! This file is the only writer and the only reader of that layout: the compiler's emit stages
//! call [`ModuleDescriptor::encode`] / [`ComponentDescriptor::encode`] and attach a relocation
//! at each of [`ModuleDescriptor::POINTERS`]; `kiln inspect`, the static verifier and the
//! runtime read through [`ModuleDescriptor::read`] / [`ComponentDescriptor::read`] over an
//! [`Image`] (the file, where a pointer is the addend of its relocation, or the loaded object).

use std::fmt;

/// Name of the one global symbol a module `.so` exports.
pub const DESCRIPTOR_SYMBOL: &str = "kiln_module_v1";

/// Magic bytes at the start of a module descriptor.
pub const DESCRIPTOR_MAGIC: [u8; 8] = *b"KILN\0MOD";

/// Name of the one global symbol a component `.so` exports.
pub const COMPONENT_DESCRIPTOR_SYMBOL: &str = "kiln_component_v1";

/// Magic bytes at the start of a component descriptor.
pub const COMPONENT_DESCRIPTOR_MAGIC: [u8; 8] = *b"KILN\0CMP";

/// Version of the compiler/runtime contract (VM context layout, builtins, descriptor and
/// metadata formats). Bump on any incompatible change; the runtime rejects artifacts whose
/// version differs.
pub const ABI_VERSION: u32 = 7;

/// Size in bytes of either descriptor.
pub const DESCRIPTOR_SIZE: u32 = 96;

/// Byte offset of the checksum in either descriptor.
pub const OFFSET_CHECKSUM: u32 = 16;

/// Length of the checksum.
pub const CHECKSUM_LEN: usize = 16;

/// Alignment of the data blob and of memory images inside it (the largest page size of any
/// supported target, so images can be mapped copy-on-write).
pub const DATA_ALIGN: u64 = 65536;

/// Largest number of core modules a component descriptor may list.
pub const MAX_MODULES: u64 = 1 << 16;

/// A range of the loaded image: a link-time virtual address when read from the file, a
/// run-time address when read from memory.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Start address (0 with `len == 0`: absent).
    pub addr: u64,
    /// Length in bytes.
    pub len: u64,
}

impl Span {
    /// A span of `len` bytes at `addr`.
    pub fn new(addr: u64, len: u64) -> Span {
        Span { addr, len }
    }

    /// The end address, or `None` on overflow.
    pub fn end(&self) -> Option<u64> {
        self.addr.checked_add(self.len)
    }

    /// The same span moved by `base` (link-time address → run-time address); absent spans stay
    /// absent.
    pub fn relocated(self, base: u64) -> Span {
        if self.addr == 0 && self.len == 0 {
            self
        } else {
            Span::new(self.addr.wrapping_add(base), self.len)
        }
    }
}

/// What a descriptor reader could not accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescriptorError(pub String);

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DescriptorError {}

fn err<T>(msg: impl Into<String>) -> Result<T, DescriptorError> {
    Err(DescriptorError(msg.into()))
}

/// Where descriptors are read from.
pub trait Image {
    /// `len` bytes at address `addr`, or an error naming what is wrong.
    fn bytes(&self, addr: u64, len: u64) -> Result<&[u8], DescriptorError>;
    /// The pointer stored in the 8-byte field at `addr`: the addend of its relative relocation
    /// in a file (0 when there is no relocation and the word is 0), the word itself in memory.
    fn pointer(&self, addr: u64) -> Result<u64, DescriptorError>;
}

/// The fields both descriptors share.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DescriptorHead {
    /// The file checksum (zero in the core-module descriptors inside a component).
    pub checksum: [u8; CHECKSUM_LEN],
    /// The encoded [`crate::Fingerprint`].
    pub fingerprint: Span,
    /// The serialized metadata.
    pub metadata: Span,
}

/// A module's descriptor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleDescriptor {
    /// Digest, fingerprint and metadata.
    pub head: DescriptorHead,
    /// The compiled code: every code offset in the metadata is relative to its start.
    pub text: Span,
    /// The data blob (segment bytes and memory images).
    pub data: Span,
}

/// A component's descriptor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComponentDescriptor {
    /// Digest, fingerprint and plan.
    pub head: DescriptorHead,
    /// The array of module descriptor pointers (`len` is the number of modules, not bytes).
    pub modules: Span,
    /// The compiled canonical-ABI glue code (absent when there is none).
    pub glue_text: Span,
}

/// A pointer field of a descriptor and what it points at.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Pointee {
    /// The encoded fingerprint.
    Fingerprint,
    /// The metadata section.
    Metadata,
    /// A module's `.text`.
    Text,
    /// A module's data blob.
    Data,
    /// A component's array of module descriptor pointers.
    Modules,
    /// A component's glue code.
    GlueText,
}

const OFFSET_FINGERPRINT: u32 = 32;
const OFFSET_METADATA: u32 = 48;
const OFFSET_TAIL0: u32 = 64;
const OFFSET_TAIL1: u32 = 80;

fn put(out: &mut [u8], at: u32, v: u64) {
    out[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
}

fn word(bytes: &[u8], at: u32) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at as usize..at as usize + 8]);
    u64::from_le_bytes(w)
}

fn encode_head(magic: [u8; 8], head: &DescriptorHead, tail: [Span; 2]) -> Vec<u8> {
    let mut out = vec![0u8; DESCRIPTOR_SIZE as usize];
    out[0..8].copy_from_slice(&magic);
    out[8..12].copy_from_slice(&ABI_VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&DESCRIPTOR_SIZE.to_le_bytes());
    out[16..32].copy_from_slice(&head.checksum);
    let spans = [head.fingerprint, head.metadata, tail[0], tail[1]];
    for (i, s) in spans.iter().enumerate() {
        let at = OFFSET_FINGERPRINT + 16 * i as u32;
        put(&mut out, at, s.addr);
        put(&mut out, at + 8, s.len);
    }
    out
}

/// Reads and checks a descriptor's head at `addr`; returns the head, its two kind-specific
/// spans and the raw bytes.
fn read_common(
    image: &dyn Image,
    addr: u64,
    magic: [u8; 8],
    what: &str,
) -> Result<(DescriptorHead, [Span; 2]), DescriptorError> {
    let first = image.bytes(addr, 16)?;
    if first[0..8] != magic {
        return err(format!(
            "not a kiln shared object: bad {what} descriptor magic"
        ));
    }
    let abi = u32::from_le_bytes([first[8], first[9], first[10], first[11]]);
    if abi != ABI_VERSION {
        return err(format!(
            "compiled for ABI version {abi}, this kiln supports {ABI_VERSION}"
        ));
    }
    let size = u32::from_le_bytes([first[12], first[13], first[14], first[15]]);
    if size != DESCRIPTOR_SIZE {
        return err(format!(
            "not a kiln shared object: {what} descriptor of {size} bytes, expected \
             {DESCRIPTOR_SIZE}"
        ));
    }
    let bytes = image.bytes(addr, u64::from(DESCRIPTOR_SIZE))?;
    let mut checksum = [0u8; CHECKSUM_LEN];
    checksum.copy_from_slice(&bytes[16..32]);
    let mut spans = [Span::default(); 4];
    for (i, s) in spans.iter_mut().enumerate() {
        let at = OFFSET_FINGERPRINT + 16 * i as u32;
        let ptr = image.pointer(addr + u64::from(at))?;
        let len = word(bytes, at + 8);
        if ptr == 0 && len != 0 {
            return err(format!(
                "corrupt {what} descriptor: null pointer with length {len}"
            ));
        }
        if ptr.checked_add(len).is_none() {
            return err(format!("corrupt {what} descriptor: range overflows"));
        }
        *s = Span::new(ptr, len);
    }
    if spans[0].len == 0 || spans[1].len == 0 {
        return err(format!(
            "corrupt {what} descriptor: no fingerprint or metadata"
        ));
    }
    let head = DescriptorHead {
        checksum,
        fingerprint: spans[0],
        metadata: spans[1],
    };
    Ok((head, [spans[2], spans[3]]))
}

impl ModuleDescriptor {
    /// Byte offsets of the pointer fields and what each points at, for the relocations the
    /// compiler attaches.
    pub const POINTERS: [(u32, Pointee); 4] = [
        (OFFSET_FINGERPRINT, Pointee::Fingerprint),
        (OFFSET_METADATA, Pointee::Metadata),
        (OFFSET_TAIL0, Pointee::Text),
        (OFFSET_TAIL1, Pointee::Data),
    ];

    /// The descriptor's bytes (pointer fields hold the span addresses: 0 in an object, where
    /// relocations fill them).
    pub fn encode(&self) -> Vec<u8> {
        encode_head(DESCRIPTOR_MAGIC, &self.head, [self.text, self.data])
    }

    /// Reads and checks the module descriptor at `addr` of `image`.
    pub fn read(image: &dyn Image, addr: u64) -> Result<ModuleDescriptor, DescriptorError> {
        let (head, [text, data]) = read_common(image, addr, DESCRIPTOR_MAGIC, "module")?;
        if data.len == 0 {
            return err("corrupt module descriptor: no data blob");
        }
        Ok(ModuleDescriptor { head, text, data })
    }

    /// The same descriptor with every span moved by `base`.
    pub fn relocated(&self, base: u64) -> ModuleDescriptor {
        ModuleDescriptor {
            head: self.head.relocated(base),
            text: self.text.relocated(base),
            data: self.data.relocated(base),
        }
    }
}

impl ComponentDescriptor {
    /// Byte offsets of the pointer fields and what each points at.
    pub const POINTERS: [(u32, Pointee); 4] = [
        (OFFSET_FINGERPRINT, Pointee::Fingerprint),
        (OFFSET_METADATA, Pointee::Metadata),
        (OFFSET_TAIL0, Pointee::Modules),
        (OFFSET_TAIL1, Pointee::GlueText),
    ];

    /// The descriptor's bytes (pointer fields hold the span addresses).
    pub fn encode(&self) -> Vec<u8> {
        encode_head(
            COMPONENT_DESCRIPTOR_MAGIC,
            &self.head,
            [self.modules, self.glue_text],
        )
    }

    /// Reads and checks the component descriptor at `addr` of `image`.
    pub fn read(image: &dyn Image, addr: u64) -> Result<ComponentDescriptor, DescriptorError> {
        let (head, [modules, glue_text]) =
            read_common(image, addr, COMPONENT_DESCRIPTOR_MAGIC, "component")?;
        if modules.len > MAX_MODULES {
            return err(format!(
                "corrupt component descriptor: {} core modules",
                modules.len
            ));
        }
        if modules.addr.checked_add(modules.len * 8).is_none() {
            return err("corrupt component descriptor: module array overflows");
        }
        Ok(ComponentDescriptor {
            head,
            modules,
            glue_text,
        })
    }

    /// The addresses of the core modules' descriptors, read from the module array.
    pub fn module_addresses(&self, image: &dyn Image) -> Result<Vec<u64>, DescriptorError> {
        image.bytes(self.modules.addr, self.modules.len * 8)?;
        (0..self.modules.len)
            .map(|i| {
                let p = image.pointer(self.modules.addr + 8 * i)?;
                if p == 0 {
                    return err(format!("component descriptor: core module {i} is missing"));
                }
                Ok(p)
            })
            .collect()
    }

    /// The same descriptor with every span moved by `base` (absent spans stay absent; the
    /// module array's count stays).
    pub fn relocated(&self, base: u64) -> ComponentDescriptor {
        ComponentDescriptor {
            head: self.head.relocated(base),
            modules: self.modules.relocated(base),
            glue_text: self.glue_text.relocated(base),
        }
    }
}

impl DescriptorHead {
    fn relocated(&self, base: u64) -> DescriptorHead {
        DescriptorHead {
            checksum: self.checksum,
            fingerprint: self.fingerprint.relocated(base),
            metadata: self.metadata.relocated(base),
        }
    }
}

/// An [`Image`] over plain bytes at a base address whose pointers are the stored words, as in
/// a loaded object: used by the round-trip tests, and by readers of a descriptor copied out
/// of memory.
pub struct WordImage<'a> {
    /// Address of `bytes[0]`.
    pub base: u64,
    /// The bytes.
    pub bytes: &'a [u8],
}

impl Image for WordImage<'_> {
    fn bytes(&self, addr: u64, len: u64) -> Result<&[u8], DescriptorError> {
        let from = addr
            .checked_sub(self.base)
            .and_then(|o| usize::try_from(o).ok());
        let range = from.and_then(|f| Some(f..f.checked_add(usize::try_from(len).ok()?)?));
        match range.and_then(|r| self.bytes.get(r)) {
            Some(b) => Ok(b),
            None => err(format!("address {addr:#x} (+{len}) is outside the image")),
        }
    }

    fn pointer(&self, addr: u64) -> Result<u64, DescriptorError> {
        let b = self.bytes(addr, 8)?;
        Ok(word(b, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> DescriptorHead {
        DescriptorHead {
            checksum: [7; 16],
            fingerprint: Span::new(0x2000, 40),
            metadata: Span::new(0x3000, 1234),
        }
    }

    #[test]
    fn module_descriptor_round_trips() {
        let d = ModuleDescriptor {
            head: head(),
            text: Span::new(0x1000, 0x800),
            data: Span::new(0x10000, 99),
        };
        let bytes = d.encode();
        assert_eq!(bytes.len(), DESCRIPTOR_SIZE as usize);
        let image = WordImage {
            base: 0x5000,
            bytes: &bytes,
        };
        assert_eq!(ModuleDescriptor::read(&image, 0x5000), Ok(d.clone()));
        for (at, _) in ModuleDescriptor::POINTERS {
            assert_ne!(word(&bytes, at), 0);
        }
        // A component reader refuses a module descriptor, and the other way round.
        assert!(ComponentDescriptor::read(&image, 0x5000).is_err());
        let moved = d.relocated(0x7000_0000);
        assert_eq!(moved.text.addr, 0x7000_1000);
        assert_eq!(moved.head.checksum, d.head.checksum);
    }

    #[test]
    fn component_descriptor_round_trips_with_its_module_array() {
        let d = ComponentDescriptor {
            head: head(),
            modules: Span::new(0x5000 + u64::from(DESCRIPTOR_SIZE), 2),
            glue_text: Span::default(),
        };
        let mut bytes = d.encode();
        bytes.extend_from_slice(&0x6000u64.to_le_bytes());
        bytes.extend_from_slice(&0x6100u64.to_le_bytes());
        let image = WordImage {
            base: 0x5000,
            bytes: &bytes,
        };
        let back = ComponentDescriptor::read(&image, 0x5000).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.module_addresses(&image).unwrap(), vec![0x6000, 0x6100]);
        assert!(ModuleDescriptor::read(&image, 0x5000).is_err());
        // Absent ranges (no modules, no glue) stay null when relocated, as in memory.
        let empty = ComponentDescriptor {
            head: head(),
            ..Default::default()
        };
        let moved = empty.relocated(0x7000_0000);
        assert_eq!(moved.modules, Span::default());
        assert_eq!(moved.glue_text, Span::default());
    }

    #[test]
    fn bad_descriptors_are_errors() {
        let d = ModuleDescriptor {
            head: head(),
            text: Span::new(0x1000, 0x800),
            data: Span::new(0x10000, 99),
        };
        let good = d.encode();
        let read = |b: &[u8]| {
            ModuleDescriptor::read(&WordImage { base: 0, bytes: b }, 0)
                .unwrap_err()
                .0
        };
        let mut b = good.clone();
        b[9] = 9;
        assert!(read(&b).contains("ABI version"), "{}", read(&b));
        let mut b = good.clone();
        b[12] = 64;
        assert!(read(&b).contains("descriptor of 64 bytes"));
        // Truncated: the reader asks the image for bytes it does not have.
        assert!(read(&good[..90]).contains("outside the image"));
        // A null pointer with a length.
        let mut b = good.clone();
        put(&mut b, OFFSET_TAIL0, 0);
        assert!(read(&b).contains("null pointer"));
        // A range that wraps around.
        let mut b = good.clone();
        put(&mut b, OFFSET_METADATA + 8, u64::MAX);
        assert!(read(&b).contains("overflows"));
        let mut b = good;
        b[0] = b'X';
        assert!(read(&b).contains("bad module descriptor magic"));
    }
}

//! The static verifier: accepts a file only if it is exactly what kiln emits, read as the
//! dynamic loader would read it, so `dlopen` of an accepted file runs nothing from it and
//! maps nothing the runtime does not expect.
//!
//! What it requires (anything else is an [`ArtifactError`] naming the first problem):
//! - a 64-bit little-endian `ET_DYN` for the expected machine;
//! - program headers `PT_LOAD`, `PT_DYNAMIC`, `PT_NOTE`, `PT_GNU_STACK` (not executable),
//!   `PT_GNU_RELRO` and at most one `PT_GNU_EH_FRAME` (checked entry by entry in
//!   [`super::eh_frame`]) only — no `PT_INTERP`, `PT_TLS`, ...; every segment inside the file,
//!   loads page-congruent, in address order, not overlapping, with no zero-fill tail, none
//!   both writable and executable, every writable one made read-only after relocation
//!   (covered by `PT_GNU_RELRO`), the whole image at most [`MAX_IMAGE_SPAN`];
//! - a dynamic section with only the symbol table, string table, GNU hash table, `RELA`
//!   relocations and `BIND_NOW` flags — no `DT_NEEDED`, `DT_INIT`, `DT_INIT_ARRAY`,
//!   `DT_PREINIT_ARRAY`, `DT_FINI*`, `DT_TEXTREL`, PLT, versioning, `DT_AUDIT`, filters, paths;
//! - only `R_*_RELATIVE` relocations (no `IRELATIVE`, TLS, symbol or PLT relocations), each
//!   writing inside `PT_GNU_RELRO` and pointing inside the image;
//! - exactly one dynamic symbol besides the null one: the descriptor (`kiln_module_v1` or
//!   `kiln_component_v1`), a defined global data object that the loader's own hash lookup
//!   finds, inside `PT_GNU_RELRO`;
//! - a descriptor that decodes ([`crate::descriptor`]) with every range inside a loaded
//!   segment of the right kind (code in a read+execute segment, fingerprint, metadata and data
//!   in read-only ones, descriptors and the module array in `PT_GNU_RELRO`), a fingerprint
//!   that decodes, and, for a component, core-module descriptors that do too.
//!
//! The ELF-level checks are in [`super::structure`]; the checksum is checked separately
//! ([`super::checksum`]): it needs every byte of the file.

use super::elf::{ElfFile, Machine, ProgramHeader, PF_R, PF_W, PF_X};
use super::structure::{
    check_dynamic, check_header, check_relocations, check_segments, check_symbols,
    refused_dynamic_tags,
};
use super::ArtifactError;
use crate::descriptor::{
    ComponentDescriptor, DescriptorError, Image, ModuleDescriptor, Span, CHECKSUM_LEN,
    COMPONENT_DESCRIPTOR_SYMBOL, DESCRIPTOR_SIZE, DESCRIPTOR_SYMBOL, OFFSET_CHECKSUM,
};
use crate::fingerprint::{Fingerprint, MAX_FINGERPRINT_LEN};
use std::collections::BTreeMap;

/// Largest address range a kiln `.so` may span when loaded.
pub const MAX_IMAGE_SPAN: u64 = 1 << 32;

/// What a kiln shared object holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    /// A core module (`kiln_module_v1`).
    Module,
    /// A component (`kiln_component_v1`).
    Component,
}

impl ArtifactKind {
    /// The exported descriptor symbol of this kind.
    pub fn symbol(self) -> &'static str {
        match self {
            ArtifactKind::Module => DESCRIPTOR_SYMBOL,
            ArtifactKind::Component => COMPONENT_DESCRIPTOR_SYMBOL,
        }
    }
}

/// A file the verifier accepted, and what it found.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The machine the code is for.
    pub machine: Machine,
    /// Module or component.
    pub kind: ArtifactKind,
    /// Link-time address of the exported descriptor (its symbol's value).
    pub descriptor_addr: u64,
    /// File offset of the exported descriptor.
    pub descriptor_offset: u64,
    /// The `PT_LOAD` segments, in address order.
    pub loads: Vec<ProgramHeader>,
    /// The `PT_GNU_RELRO` range.
    pub relro: Span,
    /// The standalone module's descriptor (kind [`ArtifactKind::Module`]).
    pub module: Option<ModuleDescriptor>,
    /// The component's descriptor (kind [`ArtifactKind::Component`]).
    pub component: Option<ComponentDescriptor>,
    /// A component's core modules: each descriptor's address and contents, in array order.
    pub component_modules: Vec<(u64, ModuleDescriptor)>,
    /// The decoded fingerprint.
    pub fingerprint: Fingerprint,
    /// The checksum the exported descriptor records.
    pub recorded_checksum: [u8; CHECKSUM_LEN],
}

impl Verified {
    /// File offset of the checksum field.
    pub fn checksum_offset(&self) -> u64 {
        self.descriptor_offset + u64::from(OFFSET_CHECKSUM)
    }

    /// The file offset of link-time address `addr`, when `[addr, addr + len)` is file-backed.
    pub fn file_offset(&self, addr: u64, len: u64) -> Option<u64> {
        self.loads
            .iter()
            .find(|p| p.contains(addr, len))
            .map(|p| addr - p.vaddr + p.offset)
    }

    /// The file bytes of a span the verifier checked (empty if it is not file-backed).
    pub fn bytes<'a>(&self, data: &'a [u8], span: Span) -> &'a [u8] {
        self.file_offset(span.addr, span.len)
            .and_then(|o| data.get(o as usize..(o + span.len) as usize))
            .unwrap_or(&[])
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, ArtifactError> {
    Err(ArtifactError::new(msg))
}

/// The descriptors as the file stores them: pointers are the addends of relative relocations.
struct FileImage<'e, 'a> {
    elf: &'e ElfFile<'a>,
    relocs: &'e BTreeMap<u64, u64>,
}

impl Image for FileImage<'_, '_> {
    fn bytes(&self, addr: u64, len: u64) -> Result<&[u8], DescriptorError> {
        self.elf
            .read(addr, len)
            .map_err(|e| DescriptorError(e.to_string()))
    }

    fn pointer(&self, addr: u64) -> Result<u64, DescriptorError> {
        if let Some(a) = self.relocs.get(&addr) {
            return Ok(*a);
        }
        let b = self.bytes(addr, 8)?;
        if b.iter().all(|x| *x == 0) {
            Ok(0)
        } else {
            Err(DescriptorError(format!(
                "the pointer at {addr:#x} has no relocation"
            )))
        }
    }
}

/// What a span must be in.
#[derive(Copy, Clone, PartialEq)]
enum Place {
    /// A read+execute segment.
    Code,
    /// A segment that is never writable.
    ReadOnly,
    /// The read-only-after-relocation range.
    Relro,
}

fn check_span(
    loads: &[ProgramHeader],
    relro: Span,
    span: Span,
    place: Place,
    what: &str,
) -> Result<(), ArtifactError> {
    let (lo, hi) = (
        loads[0].vaddr,
        loads[loads.len() - 1].vaddr + loads[loads.len() - 1].memsz,
    );
    if span.len == 0 {
        if span.addr == 0 || (span.addr >= lo && span.addr <= hi) {
            return Ok(());
        }
        return fail(format!("{what} points outside the image"));
    }
    let ok = match place {
        Place::Relro => {
            span.addr >= relro.addr
                && span.end().is_some_and(|e| e <= relro.addr + relro.len)
                && loads.iter().any(|p| p.contains(span.addr, span.len))
        }
        Place::Code => loads
            .iter()
            .any(|p| p.contains(span.addr, span.len) && p.flags == PF_R | PF_X),
        // Neither writable nor executable: metadata and data are never code (a pointer onto
        // code would read instructions as metadata, or expose code through a memory image).
        Place::ReadOnly => loads
            .iter()
            .any(|p| p.contains(span.addr, span.len) && p.flags & (PF_W | PF_X) == 0),
    };
    if !ok {
        let kind = match place {
            Place::Code => "an executable segment",
            Place::ReadOnly => "a read-only segment (neither writable nor executable)",
            Place::Relro => "the read-only-after-relocation data",
        };
        return fail(format!(
            "{what} ({:#x}..+{:#x}) is not inside {kind} of the file",
            span.addr, span.len
        ));
    }
    Ok(())
}

fn check_module_descriptor(
    loads: &[ProgramHeader],
    relro: Span,
    d: &ModuleDescriptor,
    what: &str,
) -> Result<(), ArtifactError> {
    check_span(
        loads,
        relro,
        d.head.fingerprint,
        Place::ReadOnly,
        &format!("{what}'s fingerprint"),
    )?;
    check_span(
        loads,
        relro,
        d.head.metadata,
        Place::ReadOnly,
        &format!("{what}'s metadata"),
    )?;
    check_span(loads, relro, d.text, Place::Code, &format!("{what}'s code"))?;
    check_span(
        loads,
        relro,
        d.data,
        Place::ReadOnly,
        &format!("{what}'s data"),
    )
}

/// Verifies `data` as a kiln shared object for `machine` (any kiln machine when `None`).
pub fn verify(data: &[u8], machine: Option<Machine>) -> Result<Verified, ArtifactError> {
    let elf = ElfFile::parse(data)?;
    let machine = check_header(&elf, machine)?;
    let refused = refused_dynamic_tags(&elf);
    if !refused.is_empty() {
        return fail(format!(
            "unexpected {} in the dynamic section: not what kiln emits",
            refused.join(", ")
        ));
    }
    let (loads, dynamic_ph, relro) = check_segments(&elf)?;
    let image_end = loads[loads.len() - 1].vaddr + loads[loads.len() - 1].memsz;
    let dynamic = check_dynamic(&elf, &dynamic_ph)?;
    for (addr, what) in [
        (dynamic.strtab, "string table"),
        (dynamic.symtab, "symbol table"),
        (dynamic.gnu_hash, "hash table"),
    ] {
        if !loads
            .iter()
            .any(|p| p.contains(addr, 1) && p.flags & PF_W == 0)
        {
            return fail(format!("the dynamic {what} is not in a read-only segment"));
        }
    }
    let relocs = check_relocations(&elf, machine, &dynamic, relro, image_end)?;
    for p in loads.iter().filter(|p| p.flags & PF_W != 0) {
        if !(p.vaddr >= relro.addr && p.vaddr + p.memsz <= relro.addr + relro.len) {
            return fail("a writable segment is not made read-only after relocation (RELRO)");
        }
    }
    let (kind, desc_addr, desc_size) = check_symbols(&elf, &dynamic)?;
    check_span(
        &loads,
        relro,
        Span::new(desc_addr, desc_size),
        Place::Relro,
        "the descriptor",
    )?;
    let image = FileImage {
        elf: &elf,
        relocs: &relocs,
    };
    let descriptor_offset = elf
        .file_offset(desc_addr, desc_size)
        .ok_or_else(|| ArtifactError::new("the descriptor is not file-backed"))?;
    let (mut module, mut component, mut component_modules) = (None, None, Vec::new());
    let head = match kind {
        ArtifactKind::Module => {
            let d = ModuleDescriptor::read(&image, desc_addr)?;
            check_module_descriptor(&loads, relro, &d, "the module")?;
            let head = d.head.clone();
            module = Some(d);
            head
        }
        ArtifactKind::Component => {
            let d = ComponentDescriptor::read(&image, desc_addr)?;
            let what = "the component";
            check_span(
                &loads,
                relro,
                d.head.fingerprint,
                Place::ReadOnly,
                "the component's fingerprint",
            )?;
            check_span(
                &loads,
                relro,
                d.head.metadata,
                Place::ReadOnly,
                "the component's plan",
            )?;
            check_span(
                &loads,
                relro,
                d.glue_text,
                Place::Code,
                "the component's glue code",
            )?;
            check_span(
                &loads,
                relro,
                Span::new(d.modules.addr, d.modules.len * 8),
                Place::Relro,
                &format!("{what}'s module array"),
            )?;
            for (i, addr) in d.module_addresses(&image)?.into_iter().enumerate() {
                let name = format!("core module {i}");
                check_span(
                    &loads,
                    relro,
                    Span::new(addr, u64::from(DESCRIPTOR_SIZE)),
                    Place::Relro,
                    &format!("{name}'s descriptor"),
                )?;
                let m = ModuleDescriptor::read(&image, addr)
                    .map_err(|e| ArtifactError::new(format!("{name}: {e}")))?;
                check_module_descriptor(&loads, relro, &m, &name)?;
                component_modules.push((addr, m));
            }
            let head = d.head.clone();
            component = Some(d);
            head
        }
    };
    if head.fingerprint.len > MAX_FINGERPRINT_LEN {
        return fail("the fingerprint is too long");
    }
    let fp_bytes = elf.read(head.fingerprint.addr, head.fingerprint.len)?;
    let fingerprint = Fingerprint::decode(fp_bytes).map_err(ArtifactError::new)?;
    for (i, (_, m)) in component_modules.iter().enumerate() {
        if elf.read(m.head.fingerprint.addr, m.head.fingerprint.len)? != fp_bytes {
            return fail(format!(
                "core module {i}'s fingerprint differs from the component's"
            ));
        }
    }
    Ok(Verified {
        machine,
        kind,
        descriptor_addr: desc_addr,
        descriptor_offset,
        loads,
        relro,
        module,
        component,
        component_modules,
        fingerprint,
        recorded_checksum: head.checksum,
    })
}

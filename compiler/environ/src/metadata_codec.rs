//! The byte layout of a module's metadata (ABI 6): a section directory, the postcard-encoded
//! *shape*, and fixed-width tables and string tables read in place.
//!
//! ```text
//! u32 section count (= SECTIONS)   u32 flags (bit 0: the module has debug lines)
//! SECTIONS x (u32 offset, u32 length), relative to the start of the metadata
//! sections, in directory order:
//!   SHAPE               postcard of ModuleMetadata without its #[serde(skip)] fields
//!   FUNCTIONS           24-byte entries (flags, type index, body start, body length,
//!                       array-call trampoline, host trampoline); flags bit 0 body, bit 1 array
//!                       trampoline, bit 2 host trampoline (absent values are 0)
//!   FUNCTION_NAMES      a NameTable (u32 count, count x (u32 start, u32 len), string bytes)
//!   TRAPS               8-byte entries (code offset, trap kind)
//!   ADDRESS_MAP         8-byte entries (code offset, wasm offset)
//!   EXCEPTION_SITES     12-byte entries (return offset, frame offset, handlers end)
//!   EXCEPTION_HANDLERS  12-byte entries (tag, context offset, handler offset)
//!   DEBUG_FILES         a NameTable
//!   DEBUG_ROWS          12-byte entries (code offset, file index, line)
//! ```
//!
//! Loading decodes the shape and the function table ([`ModuleMetadata::decode_shape`]) and
//! checks that every section lies inside the metadata and holds whole entries; the other
//! tables are windows of the metadata bytes ([`ModuleMetadata::attach`]), read entry by entry
//! when a trap, a backtrace or a throw needs them. Every read is bounds-checked: a damaged table
//! gives wrong or missing answers or an error, never a panic or a read outside the bytes.

use crate::metadata::{DebugLineTable, FunctionInfo, ModuleMetadata};
use crate::shared::{check_names, read_u32, NameTable, SharedBytes};
use crate::{ExceptionTable, OffsetTable, TrapTable};

/// Number of sections in the directory.
pub const SECTIONS: usize = 9;
/// Section: the postcard-encoded shape.
pub const SHAPE: usize = 0;
/// Section: the fixed-width function table.
pub const FUNCTIONS: usize = 1;
/// Section: the function name table.
pub const FUNCTION_NAMES: usize = 2;
/// Section: the trap table.
pub const TRAPS: usize = 3;
/// Section: the address map.
pub const ADDRESS_MAP: usize = 4;
/// Section: the exception table's call sites.
pub const EXCEPTION_SITES: usize = 5;
/// Section: the exception table's handlers.
pub const EXCEPTION_HANDLERS: usize = 6;
/// Section: the debug line table's files.
pub const DEBUG_FILES: usize = 7;
/// Section: the debug line table's rows.
pub const DEBUG_ROWS: usize = 8;

/// Size of the header: count, flags, directory.
const HEADER: usize = 8 + 8 * SECTIONS;
/// Size of one function entry.
const FUNCTION_SIZE: usize = 24;
/// Flag: the module has debug lines.
const HAS_DEBUG_LINES: u32 = 1;

/// Where each section of a metadata blob lies (checked against the blob's length).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MetadataLayout {
    sections: [(usize, usize); SECTIONS],
    flags: u32,
    len: usize,
}

impl MetadataLayout {
    /// Offset (in the metadata) and length of section `i` (see the constants of this module).
    pub fn section(&self, i: usize) -> Option<(usize, usize)> {
        self.sections.get(i).copied()
    }

    fn get<'a>(&self, bytes: &'a [u8], section: usize) -> &'a [u8] {
        let (at, len) = self.sections[section];
        bytes.get(at..at + len).unwrap_or(&[])
    }

    fn shared(&self, bytes: &SharedBytes, section: usize) -> Result<SharedBytes, String> {
        let (at, len) = self.sections[section];
        bytes
            .slice(at, len)
            .ok_or_else(|| format!("metadata section {section} outside the metadata"))
    }
}

/// Checks that `bytes` is a whole number of `size`-byte entries.
fn whole(bytes: &[u8], size: usize, what: &str) -> Result<(), String> {
    if bytes.len().is_multiple_of(size) {
        Ok(())
    } else {
        Err(format!("{what} has a partial entry"))
    }
}

fn encode_function(f: &FunctionInfo, out: &mut Vec<u8>) {
    let flags = u32::from(f.body.is_some())
        | u32::from(f.array_trampoline.is_some()) << 1
        | u32::from(f.host_trampoline.is_some()) << 2;
    let (start, len) = f.body.unwrap_or((0, 0));
    for v in [
        flags,
        f.type_index,
        start,
        len,
        f.array_trampoline.unwrap_or(0),
        f.host_trampoline.unwrap_or(0),
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn decode_functions(bytes: &[u8]) -> Result<Vec<FunctionInfo>, String> {
    whole(bytes, FUNCTION_SIZE, "function table")?;
    bytes
        .chunks_exact(FUNCTION_SIZE)
        .enumerate()
        .map(|(i, e)| {
            let v =
                |k: usize| u32::from_le_bytes([e[k * 4], e[k * 4 + 1], e[k * 4 + 2], e[k * 4 + 3]]);
            let flags = v(0);
            if flags & !7 != 0 {
                return Err(format!("function {i} has unknown flags {flags:#x}"));
            }
            Ok(FunctionInfo {
                type_index: v(1),
                body: (flags & 1 != 0).then(|| (v(2), v(3))),
                array_trampoline: (flags & 2 != 0).then(|| v(4)),
                host_trampoline: (flags & 4 != 0).then(|| v(5)),
            })
        })
        .collect()
}

impl ModuleMetadata {
    /// Serializes the metadata (deterministic).
    pub fn to_bytes(&self) -> Vec<u8> {
        let shape = postcard::to_allocvec(self).expect("metadata serialization cannot fail");
        let mut functions = Vec::with_capacity(self.functions.len() * FUNCTION_SIZE);
        for f in &self.functions {
            encode_function(f, &mut functions);
        }
        let debug = self.debug_lines.clone().unwrap_or_default();
        let sections: [&[u8]; SECTIONS] = [
            &shape,
            &functions,
            self.function_names.as_bytes(),
            self.trap_sites.table().as_bytes(),
            self.address_map.as_bytes(),
            self.exception_table.site_bytes(),
            self.exception_table.handler_bytes(),
            debug.files().as_bytes(),
            debug.row_bytes(),
        ];
        let total = HEADER + sections.iter().map(|s| s.len()).sum::<usize>();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(SECTIONS as u32).to_le_bytes());
        let flags = if self.debug_lines.is_some() {
            HAS_DEBUG_LINES
        } else {
            0
        };
        out.extend_from_slice(&flags.to_le_bytes());
        let mut at = HEADER;
        for s in &sections {
            let (o, l) = (u32::try_from(at), u32::try_from(s.len()));
            let (o, l) = (
                o.expect("metadata under 4 GiB"),
                l.expect("metadata under 4 GiB"),
            );
            out.extend_from_slice(&o.to_le_bytes());
            out.extend_from_slice(&l.to_le_bytes());
            at += s.len();
        }
        for s in &sections {
            out.extend_from_slice(s);
        }
        out
    }

    /// Decodes metadata written by [`ModuleMetadata::to_bytes`], with its tables over a copy of
    /// `bytes` (the runtime reads them in place instead: [`ModuleMetadata::decode_shape`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<ModuleMetadata, String> {
        let (mut m, layout) = ModuleMetadata::decode_shape(bytes)?;
        m.attach(&layout, SharedBytes::from_vec(bytes.to_vec()))?;
        Ok(m)
    }

    /// Decodes the shape and the function table and checks the section directory and every
    /// table's length; the tables read in place stay empty until [`ModuleMetadata::attach`].
    pub fn decode_shape(bytes: &[u8]) -> Result<(ModuleMetadata, MetadataLayout), String> {
        let corrupt = |e: String| format!("corrupt kiln metadata: {e}");
        let count = read_u32(bytes, 0).ok_or_else(|| corrupt("truncated header".into()))?;
        if count as usize != SECTIONS || bytes.len() < HEADER {
            return Err(corrupt(format!("{count} sections, expected {SECTIONS}")));
        }
        let flags = read_u32(bytes, 4).unwrap_or(0);
        if flags & !HAS_DEBUG_LINES != 0 {
            return Err(corrupt(format!("unknown flags {flags:#x}")));
        }
        let mut sections = [(0, 0); SECTIONS];
        for (i, s) in sections.iter_mut().enumerate() {
            let at = read_u32(bytes, 8 + 8 * i).unwrap_or(0) as usize;
            let len = read_u32(bytes, 12 + 8 * i).unwrap_or(0) as usize;
            if at < HEADER || at.checked_add(len).is_none_or(|e| e > bytes.len()) {
                return Err(corrupt(format!("section {i} outside the metadata")));
            }
            *s = (at, len);
        }
        let layout = MetadataLayout {
            sections,
            flags,
            len: bytes.len(),
        };
        let mut m: ModuleMetadata =
            postcard::from_bytes(layout.get(bytes, SHAPE)).map_err(|e| corrupt(e.to_string()))?;
        m.functions = decode_functions(layout.get(bytes, FUNCTIONS)).map_err(corrupt)?;
        let names = check_names(layout.get(bytes, FUNCTION_NAMES), "function name table");
        if names.map_err(corrupt)? > m.functions.len() {
            return Err(corrupt("more function names than functions".into()));
        }
        whole(layout.get(bytes, TRAPS), 8, "trap table").map_err(corrupt)?;
        whole(layout.get(bytes, ADDRESS_MAP), 8, "address map").map_err(corrupt)?;
        whole(layout.get(bytes, EXCEPTION_SITES), 12, "exception table").map_err(corrupt)?;
        whole(layout.get(bytes, EXCEPTION_HANDLERS), 12, "exception table").map_err(corrupt)?;
        check_names(layout.get(bytes, DEBUG_FILES), "debug file table").map_err(corrupt)?;
        whole(layout.get(bytes, DEBUG_ROWS), 12, "debug line table").map_err(corrupt)?;
        Ok((m, layout))
    }

    /// Points the tables read in place at `bytes`: the same metadata bytes
    /// [`ModuleMetadata::decode_shape`] decoded `layout` from, wherever they now lie.
    pub fn attach(&mut self, layout: &MetadataLayout, bytes: SharedBytes) -> Result<(), String> {
        let corrupt = |e: String| format!("corrupt kiln metadata: {e}");
        if bytes.len() != layout.len {
            return Err(corrupt(format!(
                "{} bytes, the checked metadata had {}",
                bytes.len(),
                layout.len
            )));
        }
        let part = |s: usize| layout.shared(&bytes, s).map_err(corrupt);
        self.function_names = NameTable::from_shared(part(FUNCTION_NAMES)?).map_err(corrupt)?;
        self.trap_sites =
            TrapTable::from_table(OffsetTable::from_shared(part(TRAPS)?).map_err(corrupt)?);
        self.address_map = OffsetTable::from_shared(part(ADDRESS_MAP)?).map_err(corrupt)?;
        self.exception_table =
            ExceptionTable::from_shared(part(EXCEPTION_SITES)?, part(EXCEPTION_HANDLERS)?);
        self.exception_table.check().map_err(corrupt)?;
        self.debug_lines = if layout.flags & HAS_DEBUG_LINES != 0 {
            let files = NameTable::from_shared(part(DEBUG_FILES)?).map_err(corrupt)?;
            Some(DebugLineTable::from_shared(files, part(DEBUG_ROWS)?).map_err(corrupt)?)
        } else {
            None
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exception::{ExceptionTableBuilder, Handler};
    use crate::metadata::{BoundsChecks, BuildInfo, Export, ExportKind, FuncType, ValType};
    use crate::TrapKind;

    fn sample(debug: bool) -> ModuleMetadata {
        let mut exceptions = ExceptionTableBuilder::default();
        let h = Handler {
            tag: 0,
            context_sp_offset: 8,
            handler: 0x30,
        };
        exceptions.add_site(0x14, 16, &[h]).unwrap();
        ModuleMetadata {
            build: BuildInfo {
                kiln_version: "test".into(),
                abi_version: crate::ABI_VERSION,
                target: "x86_64-unknown-linux-gnu".into(),
                cpu: "native".into(),
                cpu_features: vec!["sse2".into()],
                input_sha256: [7; 32],
                opt_level: 2,
                bounds_checks: BoundsChecks::Guard,
                epoch_interruption: false,
                debug_info: debug,
            },
            types: vec![FuncType {
                params: vec![ValType::I32],
                results: vec![],
            }],
            imports: vec![],
            functions: vec![
                FunctionInfo {
                    type_index: 0,
                    body: Some((0x10, 0x20)),
                    array_trampoline: Some(0x40),
                    host_trampoline: None,
                },
                FunctionInfo {
                    type_index: 0,
                    body: Some((0x30, 0x8)),
                    array_trampoline: None,
                    host_trampoline: Some(0),
                },
            ],
            tables: vec![],
            memories: vec![],
            globals: vec![],
            tags: vec![0],
            type_identities: vec![],
            global_inits: vec![],
            exports: vec![Export {
                name: "f".into(),
                kind: ExportKind::Func,
                index: 0,
            }],
            start: None,
            elems: vec![],
            data: vec![],
            memory_images: vec![],
            trap_sites: TrapTable::from_sorted_sites([
                (0x12, TrapKind::MemoryOutOfBounds),
                (0x18, TrapKind::StackOverflow),
            ]),
            address_map: OffsetTable::from_sorted_pairs([(0x10, 100), (0x18, 104)]),
            exception_table: exceptions.finish(),
            name: Some("m".into()),
            function_names: NameTable::from_names([Some("main"), None]),
            debug_lines: debug.then(|| {
                DebugLineTable::new(&["a.c".into()], &[(0x10, 0, 3), (0x18, 0, 4), (0x30, 0, 0)])
            }),
        }
    }

    /// Every lazily read answer of `m`, so damaged tables are exercised.
    fn answers(m: &ModuleMetadata) -> Vec<String> {
        let mut out = Vec::new();
        for off in [0, 0x10, 0x12, 0x14, 0x18, 0x1c, 0x30, u32::MAX] {
            out.push(format!(
                "{off:#x}: {:?} {:?} {:?} {:?}",
                m.trap_at(off),
                m.wasm_offset_at(off),
                m.source_line_at(off),
                m.exception_table
                    .lookup(off)
                    .map(|(f, h)| (f, h.collect::<Vec<_>>()))
            ));
        }
        for i in 0..4 {
            out.push(format!("{:?}", m.function_name(i)));
        }
        out
    }

    #[test]
    fn round_trip() {
        for debug in [false, true] {
            let m = sample(debug);
            let bytes = m.to_bytes();
            let back = ModuleMetadata::from_bytes(&bytes).unwrap();
            assert_eq!(back, m);
            assert_eq!(back.to_bytes(), bytes);
            assert_eq!(back.function_name(0), Ok(Some("main")));
            assert_eq!(back.function_name(1), Ok(None));
            assert_eq!(back.trap_at(0x18), Some(TrapKind::StackOverflow));
            assert_eq!(back.wasm_offset_at(0x1a), Some(104));
            assert_eq!(back.exception_table.lookup(0x14).unwrap().0, 16);
            assert_eq!(back.source_line_at(0x19), debug.then_some(("a.c", 4)));
            assert_eq!(back.source_line_at(0x31), None);
            assert_eq!(back.debug_lines.is_some(), debug);
            // The shape alone, then the tables over other bytes holding the same metadata.
            let (mut shape, layout) = ModuleMetadata::decode_shape(&bytes).unwrap();
            assert!(shape.trap_sites.is_empty() && shape.function_names.is_empty());
            assert_eq!(shape.functions, m.functions);
            shape
                .attach(&layout, SharedBytes::from_vec(bytes.clone()))
                .unwrap();
            assert_eq!(shape, m);
            let short = SharedBytes::from_vec(bytes[..bytes.len() - 1].to_vec());
            assert!(shape.attach(&layout, short).is_err());
        }
    }

    #[test]
    fn every_damaged_byte_is_an_error_or_harmless() {
        let bytes = sample(true).to_bytes();
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[at] ^= flip;
                if let Ok(m) = ModuleMetadata::from_bytes(&b) {
                    answers(&m);
                }
            }
        }
        for len in 0..bytes.len() {
            assert!(ModuleMetadata::from_bytes(&bytes[..len]).is_err(), "{len}");
        }
    }
}

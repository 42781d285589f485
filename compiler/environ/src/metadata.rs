//! The versioned metadata a kiln `.so` carries, and its serialized form.
//!
//! Written by the compiler's emit stage (deterministic; byte layout in
//! [`crate::metadata_codec`]: the shape in `postcard`, per-function tables fixed-width and read
//! in place), read by the runtime before it runs anything. All code offsets are relative to the
//! descriptor's `text`; all data offsets are relative to the descriptor's `data`.

use crate::shared::{read_u32, NameTable, SharedBytes};
use crate::{ExceptionTable, OffsetTable, TrapKind, TrapTable};
use serde::{Deserialize, Serialize};

/// A WebAssembly value type.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValType {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `v128`
    V128,
    /// `funcref` (nullable)
    FuncRef,
    /// `externref` (nullable)
    ExternRef,
    /// `exnref` (nullable): an exception reference (exception handling, Wasm 3.0)
    ExnRef,
}

impl std::fmt::Display for ValType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
            ValType::ExnRef => "exnref",
        })
    }
}

/// A function type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct FuncType {
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result types.
    pub results: Vec<ValType>,
}

impl std::fmt::Display for FuncType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[ValType]| {
            v.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "({}) -> ({})", list(&self.params), list(&self.results))
    }
}

/// A table type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableType {
    /// Element type (`FuncRef` or `ExternRef`).
    pub element: ValType,
    /// Minimum number of elements.
    pub min: u64,
    /// Maximum number of elements, if any.
    pub max: Option<u64>,
}

/// A linear memory type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryType {
    /// Minimum size in pages.
    pub min: u64,
    /// Maximum size in pages, if any.
    pub max: Option<u64>,
    /// Whether the memory is 64-bit indexed.
    pub memory64: bool,
    /// Whether the memory is shared.
    pub shared: bool,
    /// log2 of the page size (16 for 64 KiB pages).
    pub page_size_log2: u8,
}

/// A global type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalType {
    /// Value type.
    pub ty: ValType,
    /// Whether the global is mutable.
    pub mutable: bool,
}

/// One operation of a constant expression (extended-const included).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ConstOp {
    /// `i32.const`
    I32Const(i32),
    /// `i64.const`
    I64Const(i64),
    /// `f32.const` (bits)
    F32Const(u32),
    /// `f64.const` (bits)
    F64Const(u64),
    /// `v128.const` (bits)
    V128Const(u128),
    /// `ref.null`
    RefNull,
    /// `ref.func`
    RefFunc(u32),
    /// `global.get`
    GlobalGet(u32),
    /// `i32.add`
    I32Add,
    /// `i32.sub`
    I32Sub,
    /// `i32.mul`
    I32Mul,
    /// `i64.add`
    I64Add,
    /// `i64.sub`
    I64Sub,
    /// `i64.mul`
    I64Mul,
}

/// A constant expression, evaluated by the runtime at instantiation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct ConstExpr {
    /// The operations, in order (a stack machine).
    pub ops: Vec<ConstOp>,
}

/// What an import provides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ImportKind {
    /// A function of the given type index.
    Func(u32),
    /// A table.
    Table(TableType),
    /// A memory.
    Memory(MemoryType),
    /// A global.
    Global(GlobalType),
    /// A tag (exception handling) of the given type index (a function type without results).
    Tag(u32),
}

/// An import of the module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Import {
    /// Module name.
    pub module: String,
    /// Field name.
    pub name: String,
    /// What is imported.
    pub kind: ImportKind,
}

/// The kind of an exported item.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportKind {
    /// A function.
    Func,
    /// A table.
    Table,
    /// A memory.
    Memory,
    /// A global.
    Global,
    /// A tag.
    Tag,
}

/// An export of the module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Export {
    /// Export name.
    pub name: String,
    /// Export kind.
    pub kind: ExportKind,
    /// Index in the module's index space of that kind (imports first).
    pub index: u32,
}

/// Compiled-code facts about one function (imported or defined); its name is in
/// [`ModuleMetadata::function_names`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionInfo {
    /// Type index.
    pub type_index: u32,
    /// Defined functions: offset and length of the body (wasm calling convention).
    /// Imported functions: `None`.
    pub body: Option<(u32, u32)>,
    /// Offset of the host-to-wasm "array call" trampoline, for functions that can be called
    /// from the host (exported or placed in tables).
    pub array_trampoline: Option<u32>,
    /// Imported functions: offset of the wasm-to-host trampoline used when the import is
    /// satisfied by a host function.
    pub host_trampoline: Option<u32>,
}

/// The mode of an element segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ElemMode {
    /// Copied into `table` at `offset` during instantiation, then dropped.
    Active {
        /// Table index.
        table: u32,
        /// Offset expression.
        offset: ConstExpr,
    },
    /// Available to `table.init`.
    Passive,
    /// Declarative: dropped at instantiation.
    Declared,
}

/// An element segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ElemSegment {
    /// Mode.
    pub mode: ElemMode,
    /// Element type.
    pub element: ValType,
    /// The items, each a constant expression producing a reference.
    pub items: Vec<ConstExpr>,
}

/// The mode of a data segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DataMode {
    /// Copied into `memory` at `offset` during instantiation, then dropped.
    Active {
        /// Memory index.
        memory: u32,
        /// Offset expression.
        offset: ConstExpr,
    },
    /// Available to `memory.init`.
    Passive,
}

/// A data segment; its bytes are in the data blob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSegment {
    /// Mode.
    pub mode: DataMode,
    /// Offset of the bytes in the data blob.
    pub data_offset: u64,
    /// Length of the bytes.
    pub len: u64,
    /// Whether the bytes are already part of a [`MemoryImage`] (the runtime then skips
    /// copying them when it maps the image).
    pub in_image: bool,
}

/// A page-aligned initial image of a defined memory, mapped copy-on-write at instantiation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryImage {
    /// Memory index (in the module's memory index space; always a defined memory).
    pub memory: u32,
    /// Offset in the linear memory where the image starts (multiple of [`crate::descriptor::DATA_ALIGN`]).
    pub memory_offset: u64,
    /// Offset of the image in the data blob (multiple of [`crate::descriptor::DATA_ALIGN`]).
    pub data_offset: u64,
    /// Length of the image (multiple of [`crate::descriptor::DATA_ALIGN`]).
    pub len: u64,
}

/// How compiled code checks linear-memory bounds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BoundsChecks {
    /// Guard pages: the runtime reserves [`crate::vmoffsets::GUARD_RESERVATION`] bytes per
    /// memory; accesses beyond the accessible size fault and become traps.
    Guard,
    /// An explicit comparison against the current length before every access.
    Explicit,
}

/// Facts about the build: who wrote the artifact, for what, from what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// kiln version of the compiler.
    pub kiln_version: String,
    /// ABI version (also in the descriptor).
    pub abi_version: u32,
    /// Target triple.
    pub target: String,
    /// The CPU baseline the code was compiled for (`native`, `x86-64-v2`, `x86-64-v3`, ...).
    pub cpu: String,
    /// CPU features the code assumes (names as in `is_x86_feature_detected!`), sorted.
    pub cpu_features: Vec<String>,
    /// SHA-256 of the input bytes.
    pub input_sha256: [u8; 32],
    /// Optimisation level (0, 1, 2).
    pub opt_level: u8,
    /// Bounds-check strategy the code was compiled with.
    pub bounds_checks: BoundsChecks,
    /// Whether loops and function entries check the epoch deadline.
    pub epoch_interruption: bool,
    /// Whether the code was compiled with debug info (`-g`).
    pub debug_info: bool,
}

/// Everything the runtime needs to know about a compiled core module.
///
/// The *shape* (build facts, types, imports, functions, tables, memories, globals, segments,
/// exports...) is decoded when a module loads. The large per-function parts — trap sites, the
/// address map, the exception table, function names and debug lines — are fixed-width tables
/// and string tables read in place from the metadata bytes when they are needed (see
/// `metadata_codec.rs` for the byte layout); they are not part of the serde form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModuleMetadata {
    /// Build facts, checked first.
    pub build: BuildInfo,
    /// Function types (type section order).
    pub types: Vec<FuncType>,
    /// Imports, in order.
    pub imports: Vec<Import>,
    /// Every function (imports first); stored as a fixed-width table.
    #[serde(skip)]
    pub functions: Vec<FunctionInfo>,
    /// Every table type (imports first).
    pub tables: Vec<TableType>,
    /// Every memory type (imports first).
    pub memories: Vec<MemoryType>,
    /// Every global type (imports first).
    pub globals: Vec<GlobalType>,
    /// Every tag's type index (imports first); the type is a function type without results
    /// whose parameters are the exception's payload.
    pub tags: Vec<u32>,
    /// Canonical identity of the types whose identity is more than their signature: types of
    /// an explicit recursion group with several members, and types whose signature refers to
    /// other types (typed function references). `None` (or missing: the vector may be
    /// shorter than `types`) means the signature alone identifies the type. Two types are
    /// the same type (for imports, `call_indirect` and tags) when their signatures and
    /// identities are equal.
    pub type_identities: Vec<Option<String>>,
    /// Initializers of defined globals (one per defined global).
    pub global_inits: Vec<ConstExpr>,
    /// Exports, in order.
    pub exports: Vec<Export>,
    /// Start function.
    pub start: Option<u32>,
    /// Element segments.
    pub elems: Vec<ElemSegment>,
    /// Data segments.
    pub data: Vec<DataSegment>,
    /// Copy-on-write memory images.
    pub memory_images: Vec<MemoryImage>,
    /// Trap sites: (code offset, trap kind), sorted by offset (a fixed-width byte table).
    #[serde(skip)]
    pub trap_sites: TrapTable,
    /// Address map: (code offset, wasm byte offset), sorted by code offset (a fixed-width
    /// byte table).
    #[serde(skip)]
    pub address_map: OffsetTable,
    /// Call sites inside `try_table`s and their catch handlers.
    #[serde(skip)]
    pub exception_table: ExceptionTable,
    /// Module name from the name section.
    pub name: Option<String>,
    /// Function names from the name section (demangled), one entry per function (imports
    /// first) or none at all; read in place.
    #[serde(skip)]
    pub function_names: NameTable,
    /// Source lines of the code, for trap backtraces; present when compiled with `-g`.
    #[serde(skip)]
    pub debug_lines: Option<DebugLineTable>,
}

/// Size of one row of a [`DebugLineTable`]: code offset, file index, line.
const LINE_ROW_SIZE: usize = 12;

/// A compact line table (code offset → source file and line), so the runtime can print
/// `file:line` in trap backtraces without reading DWARF. Read in place: rows are 12-byte
/// little-endian entries `(code offset, file index, line)` sorted by code offset, files a
/// [`NameTable`]. A row holds until the next one; line 0 means "no source line" (code between
/// functions, trampolines).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DebugLineTable {
    files: NameTable,
    rows: SharedBytes,
}

impl DebugLineTable {
    /// Builds a table from source files and rows sorted by code offset.
    pub fn new(files: &[String], rows: &[(u32, u32, u32)]) -> DebugLineTable {
        let mut bytes = Vec::with_capacity(rows.len() * LINE_ROW_SIZE);
        for (o, f, l) in rows {
            for v in [o, f, l] {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        DebugLineTable {
            files: NameTable::from_names(files.iter().map(|f| Some(f.as_str()))),
            rows: SharedBytes::from_vec(bytes),
        }
    }

    /// Wraps a file table and row bytes read in place (the rows must be whole entries).
    pub fn from_shared(files: NameTable, rows: SharedBytes) -> Result<DebugLineTable, String> {
        if !rows.len().is_multiple_of(LINE_ROW_SIZE) {
            return Err("debug line table has a partial row".into());
        }
        Ok(DebugLineTable { files, rows })
    }

    /// The source files.
    pub fn files(&self) -> &NameTable {
        &self.files
    }

    /// The raw row bytes.
    pub fn row_bytes(&self) -> &[u8] {
        self.rows.as_slice()
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len() / LINE_ROW_SIZE
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`: `(code offset, file index, line)`.
    pub fn row(&self, i: usize) -> Option<(u32, u32, u32)> {
        let b = self.rows.as_slice();
        let at = i.checked_mul(LINE_ROW_SIZE)?;
        Some((read_u32(b, at)?, read_u32(b, at + 4)?, read_u32(b, at + 8)?))
    }

    /// The source file and line of a code offset, if known (and the table is well formed).
    pub fn lookup(&self, code_offset: u32) -> Option<(&str, u32)> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.row(mid)?.0 <= code_offset {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let (_, file, line) = self.row(lo.checked_sub(1)?)?;
        if line == 0 {
            return None;
        }
        Some((self.files.get(file as usize).ok()??, line))
    }
}

/// The counts of each import kind.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Imported functions.
    pub funcs: u32,
    /// Imported tables.
    pub tables: u32,
    /// Imported memories.
    pub memories: u32,
    /// Imported globals.
    pub globals: u32,
    /// Imported tags.
    pub tags: u32,
}

impl ModuleMetadata {
    /// Counts the imports of each kind.
    pub fn import_counts(&self) -> ImportCounts {
        let mut c = ImportCounts::default();
        for i in &self.imports {
            match i.kind {
                ImportKind::Func(_) => c.funcs += 1,
                ImportKind::Table(_) => c.tables += 1,
                ImportKind::Memory(_) => c.memories += 1,
                ImportKind::Global(_) => c.globals += 1,
                ImportKind::Tag(_) => c.tags += 1,
            }
        }
        c
    }

    /// The VM context layout for this module.
    pub fn vmoffsets(&self) -> crate::VMOffsets {
        let c = self.import_counts();
        crate::VMOffsets::new(
            c,
            self.types.len() as u32,
            self.functions.len() as u32,
            self.tables.len() as u32,
            self.memories.len() as u32,
            self.globals.len() as u32,
        )
    }

    /// The canonical identity of type `index`, when it is more than its signature.
    pub fn type_identity(&self, index: u32) -> Option<&str> {
        self.type_identities.get(index as usize)?.as_deref()
    }

    /// The payload types of tag `index` (imports first).
    pub fn tag_params(&self, index: u32) -> Option<&[ValType]> {
        let ty = *self.tags.get(index as usize)?;
        Some(&self.types.get(ty as usize)?.params)
    }

    /// The name of function `index` (imports first), if it has one; an error when the stored
    /// name is malformed.
    pub fn function_name(&self, index: u32) -> Result<Option<&str>, String> {
        self.function_names.get(index as usize)
    }

    /// Looks up the trap kind recorded for a code offset.
    pub fn trap_at(&self, code_offset: u32) -> Option<TrapKind> {
        self.trap_sites.lookup(code_offset)
    }

    /// The function whose body contains a code offset.
    pub fn function_at(&self, code_offset: u32) -> Option<u32> {
        self.functions
            .iter()
            .position(|f| match f.body {
                Some((start, len)) => code_offset >= start && code_offset < start + len,
                None => false,
            })
            .map(|i| i as u32)
    }

    /// The source file and line of a code offset, when the module has debug lines.
    pub fn source_line_at(&self, code_offset: u32) -> Option<(&str, u32)> {
        self.debug_lines.as_ref()?.lookup(code_offset)
    }

    /// The wasm byte offset for a code offset (the closest preceding mapping).
    pub fn wasm_offset_at(&self, code_offset: u32) -> Option<u32> {
        self.address_map.at_or_before(code_offset)
    }
}

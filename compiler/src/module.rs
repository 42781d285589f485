//! Stage 1 — parse & validate: wasm bytes → [`ModuleTranslation`].
//!
//! wasmparser validates the module with exactly the feature set kiln supports; this stage
//! collects everything later stages need (types, imports, index spaces, segments, names) and
//! leaves each function body with its `FuncToValidate`, so bodies are validated while they are
//! translated, in parallel.

use crate::error::{CompileError, Result};
use kiln_environ::{
    ConstExpr, ConstOp, DataMode, ElemMode, Export, ExportKind, FuncType, GlobalType, Import,
    ImportKind, MemoryType, TableType, VMOffsets, ValType,
};
use wasmparser::{
    FuncToValidate, FunctionBody, Parser, Payload, Validator, ValidatorResources, WasmFeatures,
};

/// A data segment as parsed (bytes borrowed from the input).
#[derive(Debug, Clone)]
pub struct ParsedData<'data> {
    /// Mode (active with memory and offset, or passive).
    pub mode: DataMode,
    /// The segment's bytes.
    pub bytes: &'data [u8],
}

/// An element segment as parsed.
#[derive(Debug, Clone)]
pub struct ParsedElem {
    /// Mode.
    pub mode: ElemMode,
    /// Element type.
    pub element: ValType,
    /// Items as constant expressions.
    pub items: Vec<ConstExpr>,
}

/// A defined function's body, waiting to be validated and translated.
pub struct FunctionBodyData<'data> {
    /// The body.
    pub body: FunctionBody<'data>,
    /// Its validator.
    pub validator: FuncToValidate<ValidatorResources>,
}

/// Everything known about a module after parsing and validating its sections.
pub struct ModuleTranslation<'data> {
    /// Function types, by type index.
    pub types: Vec<FuncType>,
    /// Imports in order.
    pub imports: Vec<Import>,
    /// Type index of every function (imports first).
    pub functions: Vec<u32>,
    /// Number of imported functions.
    pub num_imported_funcs: u32,
    /// Every table (imports first).
    pub tables: Vec<TableType>,
    /// Number of imported tables.
    pub num_imported_tables: u32,
    /// Every memory (imports first).
    pub memories: Vec<MemoryType>,
    /// Number of imported memories.
    pub num_imported_memories: u32,
    /// Every global (imports first).
    pub globals: Vec<GlobalType>,
    /// Number of imported globals.
    pub num_imported_globals: u32,
    /// Initializers of defined globals.
    pub global_inits: Vec<ConstExpr>,
    /// Exports.
    pub exports: Vec<Export>,
    /// Start function.
    pub start: Option<u32>,
    /// Element segments.
    pub elems: Vec<ParsedElem>,
    /// Data segments.
    pub data: Vec<ParsedData<'data>>,
    /// Bodies of defined functions, in order.
    pub bodies: Vec<FunctionBodyData<'data>>,
    /// Function names from the name section.
    pub func_names: Vec<Option<String>>,
    /// Module name from the name section.
    pub module_name: Option<String>,
    /// Functions that may be called from outside compiled code (exported, or referenced by
    /// `ref.func`/element segments/globals): they get array-call trampolines.
    pub escaping: Vec<bool>,
    /// VM context layout.
    pub offsets: VMOffsets,
}

impl<'data> ModuleTranslation<'data> {
    /// Type of function `index` (in the whole function index space).
    pub fn func_type(&self, index: u32) -> &FuncType {
        &self.types[self.functions[index as usize] as usize]
    }

    /// Whether function `index` is imported.
    pub fn is_imported_func(&self, index: u32) -> bool {
        index < self.num_imported_funcs
    }

    /// Whether memory `index` is imported.
    pub fn is_imported_memory(&self, index: u32) -> bool {
        index < self.num_imported_memories
    }

    /// Whether table `index` is imported.
    pub fn is_imported_table(&self, index: u32) -> bool {
        index < self.num_imported_tables
    }

    /// Whether global `index` is imported.
    pub fn is_imported_global(&self, index: u32) -> bool {
        index < self.num_imported_globals
    }
}

/// The WebAssembly features kiln compiles: WebAssembly 2.0 plus multi-memory, tail calls and
/// extended-const.
pub fn supported_features() -> WasmFeatures {
    WasmFeatures::WASM2
        | WasmFeatures::MULTI_MEMORY
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::EXTENDED_CONST
}

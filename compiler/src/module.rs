//! Stage 1 — parse & validate: wasm bytes → [`ModuleTranslation`].
//!
//! wasmparser validates the module with exactly the feature set kiln supports; this stage
//! collects everything later stages need (types, imports, index spaces, segments, names) and
//! leaves each function body with its `FuncToValidate`, so bodies are validated while they are
//! translated, in parallel.

use crate::error::{CompileError, Result};
use crate::types::{ref_type, val_type, TypeSection};
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
    /// Every tag's type index (imports first).
    pub tags: Vec<u32>,
    /// Number of imported tags.
    pub num_imported_tags: u32,
    /// Canonical identities of types that need one (see `ModuleMetadata::type_identities`).
    pub type_identities: Vec<Option<String>>,
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

    /// The payload types of tag `index`.
    pub fn tag_params(&self, index: u32) -> Option<&[ValType]> {
        let ty = *self.tags.get(index as usize)?;
        Some(&self.types.get(ty as usize)?.params)
    }
}

/// The WebAssembly features kiln compiles: WebAssembly 2.0 plus multi-memory, tail calls,
/// extended-const and exception handling (Wasm 3.0's `try_table`/`throw`/`throw_ref`/`exnref`).
///
/// Exception handling comes with the parts of the Wasm 3.0 type system it is specified and
/// tested with, so `FUNCTION_REFERENCES` and `GC` are accepted for their *types*: explicit
/// recursion groups of final function types and typed references to functions, externs and
/// exceptions (see `types.rs`). Everything else those proposals add is a compile error:
/// struct, array and other GC heap types, declared subtyping, their instructions (`call_ref`,
/// `br_on_null`, `struct.new`, `ref.cast`...) and table initializer expressions.
pub fn supported_features() -> WasmFeatures {
    WasmFeatures::WASM2
        | WasmFeatures::MULTI_MEMORY
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::EXTENDED_CONST
        | WasmFeatures::EXCEPTIONS
        | WasmFeatures::FUNCTION_REFERENCES
        | WasmFeatures::GC
}

pub(crate) fn table_type(offset: usize, t: &wasmparser::TableType) -> Result<TableType> {
    if t.table64 || t.shared {
        return Err(CompileError::at(
            offset,
            "64-bit and shared tables are not supported",
        ));
    }
    let element = ref_type(offset, t.element_type)?;
    if element == ValType::ExnRef {
        // Exception objects live only as long as the outermost call into the guest (kiln has
        // no garbage collector), so they may not be stored where they would outlive it.
        return Err(CompileError::at(
            offset,
            "unsupported: tables of exception references",
        ));
    }
    Ok(TableType {
        element,
        min: t.initial,
        max: t.maximum,
    })
}

pub(crate) fn memory_type(offset: usize, m: &wasmparser::MemoryType) -> Result<MemoryType> {
    if m.memory64 || m.shared {
        return Err(CompileError::at(
            offset,
            "64-bit and shared memories are not supported",
        ));
    }
    Ok(MemoryType {
        min: m.initial,
        max: m.maximum,
        memory64: m.memory64,
        shared: m.shared,
        page_size_log2: m.page_size_log2.unwrap_or(16) as u8,
    })
}

pub(crate) fn global_type(offset: usize, g: &wasmparser::GlobalType) -> Result<GlobalType> {
    let ty = val_type(offset, g.content_type)?;
    if ty == ValType::ExnRef && g.mutable {
        // As for tables: an immutable `exnref` global can only ever be null.
        return Err(CompileError::at(
            offset,
            "unsupported: mutable globals of exception references",
        ));
    }
    Ok(GlobalType {
        ty,
        mutable: g.mutable,
    })
}

/// Converts a (validated) constant expression.
pub fn const_expr(expr: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr> {
    let mut ops = Vec::new();
    let mut reader = expr.get_operators_reader();
    while !reader.eof() {
        let offset = reader.original_position();
        let op = reader.read()?;
        use wasmparser::Operator as O;
        ops.push(match op {
            O::I32Const { value } => ConstOp::I32Const(value),
            O::I64Const { value } => ConstOp::I64Const(value),
            O::F32Const { value } => ConstOp::F32Const(value.bits()),
            O::F64Const { value } => ConstOp::F64Const(value.bits()),
            O::V128Const { value } => ConstOp::V128Const(value.i128() as u128),
            O::RefNull { .. } => ConstOp::RefNull,
            O::RefFunc { function_index } => ConstOp::RefFunc(function_index),
            O::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
            O::I32Add => ConstOp::I32Add,
            O::I32Sub => ConstOp::I32Sub,
            O::I32Mul => ConstOp::I32Mul,
            O::I64Add => ConstOp::I64Add,
            O::I64Sub => ConstOp::I64Sub,
            O::I64Mul => ConstOp::I64Mul,
            O::End => continue,
            other => {
                return Err(CompileError::at(
                    offset,
                    format!("unsupported operator in constant expression: {other:?}"),
                ))
            }
        });
    }
    Ok(ops_expr(ops))
}

fn ops_expr(ops: Vec<ConstOp>) -> ConstExpr {
    ConstExpr { ops }
}

fn mark_refs(expr: &ConstExpr, escaping: &mut Vec<u32>) {
    for op in &expr.ops {
        if let ConstOp::RefFunc(f) = op {
            escaping.push(*f);
        }
    }
}

/// Validates `wasm` with every supported feature and collects its [`ModuleTranslation`].
/// Function bodies are validated later, while they are translated.
pub fn parse(wasm: &[u8]) -> Result<ModuleTranslation<'_>> {
    parse_with_features(wasm, supported_features())
}

/// Like [`parse`], accepting only `features` (which must be supported).
pub fn parse_with_features(wasm: &[u8], features: WasmFeatures) -> Result<ModuleTranslation<'_>> {
    let unsupported = features.difference(supported_features());
    if !unsupported.is_empty() {
        return Err(CompileError::msg(format!(
            "unsupported WebAssembly features requested: {unsupported:?}"
        )));
    }
    let mut validator = Validator::new_with_features(features);
    let mut m = ModuleTranslation {
        types: Vec::new(),
        imports: Vec::new(),
        functions: Vec::new(),
        num_imported_funcs: 0,
        tables: Vec::new(),
        num_imported_tables: 0,
        memories: Vec::new(),
        num_imported_memories: 0,
        globals: Vec::new(),
        num_imported_globals: 0,
        tags: Vec::new(),
        num_imported_tags: 0,
        type_identities: Vec::new(),
        global_inits: Vec::new(),
        exports: Vec::new(),
        start: None,
        elems: Vec::new(),
        data: Vec::new(),
        bodies: Vec::new(),
        func_names: Vec::new(),
        module_name: None,
        escaping: Vec::new(),
        offsets: VMOffsets::new(Default::default(), 0, 0, 0, 0, 0),
    };
    let mut type_section = TypeSection::default();
    let mut escaping = Vec::new();
    let mut names: Vec<(u32, String)> = Vec::new();
    let mut seen_end = false;
    let mut parser = Parser::new(0);
    // The parser's own feature set decides encodings (e.g. 64-bit memory limits); keep it
    // identical to the validator's.
    parser.set_features(features);
    for payload in parser.parse_all(wasm) {
        let payload = payload?;
        if let wasmparser::ValidPayload::Func(validator, body) = validator.payload(&payload)? {
            m.bodies.push(FunctionBodyData { body, validator });
            continue;
        }
        match payload {
            Payload::Version {
                encoding, range, ..
            } if encoding != wasmparser::Encoding::Module => {
                return Err(CompileError::at(
                    range.start,
                    "this is a component; kiln compiles core modules here",
                ));
            }
            Payload::TypeSection(reader) => {
                for group in reader.into_iter_with_offsets() {
                    let (offset, group) = group?;
                    type_section.add_group(offset, group)?;
                }
                m.types.clone_from(&type_section.types);
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports_with_offsets() {
                    let (offset, import) = import?;
                    let kind = match import.ty {
                        wasmparser::TypeRef::Func(t) | wasmparser::TypeRef::FuncExact(t) => {
                            m.functions.push(t);
                            m.num_imported_funcs += 1;
                            ImportKind::Func(t)
                        }
                        wasmparser::TypeRef::Table(t) => {
                            let t = table_type(offset, &t)?;
                            m.tables.push(t.clone());
                            m.num_imported_tables += 1;
                            ImportKind::Table(t)
                        }
                        wasmparser::TypeRef::Memory(t) => {
                            let t = memory_type(offset, &t)?;
                            m.memories.push(t.clone());
                            m.num_imported_memories += 1;
                            ImportKind::Memory(t)
                        }
                        wasmparser::TypeRef::Global(t) => {
                            let t = global_type(offset, &t)?;
                            m.globals.push(t.clone());
                            m.num_imported_globals += 1;
                            ImportKind::Global(t)
                        }
                        wasmparser::TypeRef::Tag(t) => {
                            m.tags.push(t.func_type_idx);
                            m.num_imported_tags += 1;
                            ImportKind::Tag(t.func_type_idx)
                        }
                    };
                    m.imports.push(Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        kind,
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                for t in reader {
                    m.functions.push(t?);
                }
            }
            Payload::TableSection(reader) => {
                for table in reader.into_iter_with_offsets() {
                    let (offset, table) = table?;
                    if let wasmparser::TableInit::Expr(_) = table.init {
                        return Err(CompileError::at(
                            offset,
                            "table initializers are not supported",
                        ));
                    }
                    m.tables.push(table_type(offset, &table.ty)?);
                }
            }
            Payload::MemorySection(reader) => {
                for mem in reader.into_iter_with_offsets() {
                    let (offset, mem) = mem?;
                    m.memories.push(memory_type(offset, &mem)?);
                }
            }
            Payload::GlobalSection(reader) => {
                for g in reader.into_iter_with_offsets() {
                    let (offset, g) = g?;
                    m.globals.push(global_type(offset, &g.ty)?);
                    let init = const_expr(&g.init_expr)?;
                    mark_refs(&init, &mut escaping);
                    m.global_inits.push(init);
                }
            }
            Payload::ExportSection(reader) => {
                for e in reader {
                    let e = e?;
                    let kind = match e.kind {
                        wasmparser::ExternalKind::Func | wasmparser::ExternalKind::FuncExact => {
                            escaping.push(e.index);
                            ExportKind::Func
                        }
                        wasmparser::ExternalKind::Table => ExportKind::Table,
                        wasmparser::ExternalKind::Memory => ExportKind::Memory,
                        wasmparser::ExternalKind::Global => ExportKind::Global,
                        wasmparser::ExternalKind::Tag => ExportKind::Tag,
                    };
                    m.exports.push(Export {
                        name: e.name.to_string(),
                        kind,
                        index: e.index,
                    });
                }
            }
            Payload::TagSection(reader) => {
                for t in reader {
                    m.tags.push(t?.func_type_idx);
                }
            }
            Payload::StartSection { func, .. } => m.start = Some(func),
            Payload::ElementSection(reader) => {
                for elem in reader {
                    let elem = elem?;
                    let offset = elem.range.start;
                    let mode = match elem.kind {
                        wasmparser::ElementKind::Passive => ElemMode::Passive,
                        wasmparser::ElementKind::Declared => ElemMode::Declared,
                        wasmparser::ElementKind::Active {
                            table_index,
                            offset_expr,
                        } => ElemMode::Active {
                            table: table_index.unwrap_or(0),
                            offset: const_expr(&offset_expr)?,
                        },
                    };
                    let (element, items) = match elem.items {
                        wasmparser::ElementItems::Functions(r) => {
                            let mut items = Vec::new();
                            for f in r {
                                let f = f?;
                                escaping.push(f);
                                items.push(ops_expr(vec![ConstOp::RefFunc(f)]));
                            }
                            (ValType::FuncRef, items)
                        }
                        wasmparser::ElementItems::Expressions(ty, r) => {
                            let mut items = Vec::new();
                            for e in r {
                                let e = const_expr(&e?)?;
                                mark_refs(&e, &mut escaping);
                                items.push(e);
                            }
                            (ref_type(offset, ty)?, items)
                        }
                    };
                    m.elems.push(ParsedElem {
                        mode,
                        element,
                        items,
                    });
                }
            }
            Payload::DataSection(reader) => {
                for d in reader {
                    let d = d?;
                    let mode = match d.kind {
                        wasmparser::DataKind::Passive => DataMode::Passive,
                        wasmparser::DataKind::Active {
                            memory_index,
                            offset_expr,
                        } => DataMode::Active {
                            memory: memory_index,
                            offset: const_expr(&offset_expr)?,
                        },
                    };
                    m.data.push(ParsedData {
                        mode,
                        bytes: d.data,
                    });
                }
            }
            Payload::CustomSection(reader) => {
                if let wasmparser::KnownCustom::Name(names_reader) = reader.as_known() {
                    // The name section is advisory: a malformed one is ignored, as engines do.
                    let _ = collect_names(names_reader, &mut names, &mut m.module_name);
                }
            }
            Payload::End(_) => seen_end = true,
            _ => {}
        }
    }
    if !seen_end {
        return Err(CompileError::msg("unexpected end of module"));
    }
    m.type_identities = type_section.identities;
    let num_funcs = m.functions.len();
    m.func_names = vec![None; num_funcs];
    for (i, name) in names {
        if let Some(slot) = m.func_names.get_mut(i as usize) {
            *slot = Some(name);
        }
    }
    m.escaping = vec![false; num_funcs];
    for f in escaping {
        if let Some(e) = m.escaping.get_mut(f as usize) {
            *e = true;
        }
    }
    if let Some(s) = m.start {
        m.escaping[s as usize] = true;
    }
    let counts = kiln_environ::ImportCounts {
        funcs: m.num_imported_funcs,
        tables: m.num_imported_tables,
        memories: m.num_imported_memories,
        globals: m.num_imported_globals,
        tags: m.num_imported_tags,
    };
    m.offsets = VMOffsets::new(
        counts,
        m.types.len() as u32,
        num_funcs as u32,
        m.tables.len() as u32,
        m.memories.len() as u32,
        m.globals.len() as u32,
    );
    Ok(m)
}

fn collect_names(
    reader: wasmparser::NameSectionReader<'_>,
    names: &mut Vec<(u32, String)>,
    module_name: &mut Option<String>,
) -> Result<()> {
    for name in reader {
        match name? {
            wasmparser::Name::Module { name, .. } => *module_name = Some(name.to_string()),
            wasmparser::Name::Function(map) => {
                for n in map {
                    let n = n?;
                    names.push((n.index, n.name.to_string()));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

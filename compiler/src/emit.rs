//! Stage 5 — emit: compiled functions + module facts → one relocatable object.
//!
//! The object (written with cranelift-object) holds:
//! - `.text`: every wasm function body and trampoline, as local symbols named from the name
//!   section (`wasm[3]::fac`, `array_call[3]`, `host_call[0]`);
//! - `.kiln.data`: the data blob — page-aligned copy-on-write memory images first, then the
//!   bytes of every segment not covered by an image;
//! - `.kiln.meta`: the encoded [`Fingerprint`], then the serialized [`ModuleMetadata`];
//! - the descriptor ([`ModuleDescriptor::encode`]), the object's only global symbol
//!   ([`kiln_environ::DESCRIPTOR_SYMBOL`]), whose pointer fields are relocations to the
//!   sections above. Its checksum stays zero here: [`crate::link`] writes it into the linked file.

use crate::codegen::{CompiledFunction, FunctionKind, RelocTarget};
use crate::error::{CompileError, Result};
use crate::module::ModuleTranslation;
use cranelift_codegen::ir;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_module::{FuncId, Linkage, Module, ModuleReloc, ModuleRelocTarget};
use cranelift_object::{ObjectBuilder, ObjectModule};
use kiln_environ::descriptor::{DescriptorHead, Pointee, DATA_ALIGN, DESCRIPTOR_SIZE};
use kiln_environ::exception::{ExceptionTableBuilder, Handler};
use kiln_environ::{
    BuildInfo, ConstOp, DataMode, DataSegment, ElemSegment, Fingerprint, FunctionInfo, MemoryImage,
    ModuleDescriptor, ModuleMetadata, OffsetTable, Span, TrapTable, DESCRIPTOR_SYMBOL,
};
use object::write::{Relocation, StandardSection, Symbol, SymbolSection};
use object::{RelocationEncoding, RelocationFlags, RelocationKind, SectionKind, SymbolFlags};
use object::{SymbolKind, SymbolScope};
use std::collections::HashMap;

/// A relocatable object and the metadata it carries.
pub struct ObjectFile {
    /// The object file bytes (ELF, Mach-O or COFF, per target).
    pub bytes: Vec<u8>,
    /// The metadata serialized into it.
    pub metadata: ModuleMetadata,
}

/// Largest memory image kiln lays out: beyond this, sparse data is copied at instantiation.
const MAX_IMAGE_SPAN: u64 = 64 << 20;

/// The data blob and the segment/image tables that describe it.
struct DataLayout {
    blob: Vec<u8>,
    segments: Vec<DataSegment>,
    images: Vec<MemoryImage>,
}

fn const_i32_offset(expr: &kiln_environ::ConstExpr) -> Option<u32> {
    match expr.ops.as_slice() {
        [ConstOp::I32Const(v)] => Some(*v as u32),
        _ => None,
    }
}

/// The demangled names of every function, for the metadata's name table (none at all when the
/// module names no function).
fn function_names(module: &ModuleTranslation<'_>) -> kiln_environ::NameTable {
    if module.func_names.iter().all(Option::is_none) {
        return kiln_environ::NameTable::default();
    }
    let names: Vec<Option<String>> = module
        .func_names
        .iter()
        .map(|n| n.as_deref().map(crate::debug::demangle))
        .collect();
    kiln_environ::NameTable::from_names(names.iter().map(Option::as_deref))
}

fn layout_data(module: &ModuleTranslation<'_>) -> DataLayout {
    let mut blob = Vec::new();
    let mut images = Vec::new();
    let mut in_image = vec![false; module.data.len()];
    for mem in module.num_imported_memories..module.memories.len() as u32 {
        let ty = &module.memories[mem as usize];
        let min_bytes = ty.min << ty.page_size_log2;
        let mut ranges = Vec::new();
        let mut eligible = true;
        let mut total = 0u64;
        for (i, d) in module.data.iter().enumerate() {
            if let DataMode::Active { memory, offset } = &d.mode {
                if *memory != mem {
                    continue;
                }
                match const_i32_offset(offset) {
                    Some(o) if u64::from(o) + d.bytes.len() as u64 <= min_bytes => {
                        ranges.push((i, u64::from(o)));
                        total += d.bytes.len() as u64;
                    }
                    _ => eligible = false,
                }
            }
        }
        if !eligible || ranges.is_empty() || total == 0 {
            continue;
        }
        let start = ranges.iter().map(|(_, o)| *o).min().unwrap_or(0) / DATA_ALIGN * DATA_ALIGN;
        let end = ranges
            .iter()
            .map(|(i, o)| o + module.data[*i].bytes.len() as u64)
            .max()
            .unwrap_or(0)
            .div_ceil(DATA_ALIGN)
            * DATA_ALIGN;
        if end - start > MAX_IMAGE_SPAN && end - start > 4 * total {
            continue;
        }
        let data_offset = (blob.len() as u64).div_ceil(DATA_ALIGN) * DATA_ALIGN;
        blob.resize((data_offset + (end - start)) as usize, 0);
        for (i, o) in &ranges {
            let bytes = module.data[*i].bytes;
            let at = (data_offset + o - start) as usize;
            blob[at..at + bytes.len()].copy_from_slice(bytes);
            in_image[*i] = true;
        }
        images.push(MemoryImage {
            memory: mem,
            memory_offset: start,
            data_offset,
            len: end - start,
        });
    }
    let mut segments = Vec::new();
    for (i, d) in module.data.iter().enumerate() {
        let (data_offset, len) = if in_image[i] {
            (0, d.bytes.len() as u64)
        } else {
            let at = blob.len() as u64;
            blob.extend_from_slice(d.bytes);
            (at, d.bytes.len() as u64)
        };
        segments.push(DataSegment {
            mode: d.mode.clone(),
            data_offset,
            len,
            in_image: in_image[i],
        });
    }
    DataLayout {
        blob,
        segments,
        images,
    }
}

fn module_err(e: impl std::fmt::Display) -> CompileError {
    CompileError::msg(format!("object emission failed: {e}"))
}

/// How the module's descriptor symbol is named and seen.
#[derive(Clone, Debug)]
pub struct DescriptorSymbol {
    /// Symbol name.
    pub name: String,
    /// Exported from the shared object (a standalone module), or local to the link (a core
    /// module inside a component, reached through the component's descriptor).
    pub exported: bool,
}

impl Default for DescriptorSymbol {
    fn default() -> Self {
        DescriptorSymbol {
            name: DESCRIPTOR_SYMBOL.to_string(),
            exported: true,
        }
    }
}

/// Writes the relocatable object for a compiled module.
pub fn emit(
    module: &ModuleTranslation<'_>,
    isa: OwnedTargetIsa,
    functions: Vec<CompiledFunction>,
    build: BuildInfo,
) -> Result<ObjectFile> {
    emit_with_descriptor(module, isa, functions, build, &DescriptorSymbol::default())
}

/// Like [`emit`], naming the descriptor symbol. A non-exported descriptor is a global symbol
/// with hidden visibility, so other objects of the same link can refer to it.
pub fn emit_with_descriptor(
    module: &ModuleTranslation<'_>,
    isa: OwnedTargetIsa,
    functions: Vec<CompiledFunction>,
    build: BuildInfo,
    descriptor: &DescriptorSymbol,
) -> Result<ObjectFile> {
    emit_object(module, isa, functions, build, descriptor, None)
}

/// Like [`emit_with_descriptor`]; with `debug`, also writes CFI and DWARF ([`crate::debug`]).
pub fn emit_object(
    module: &ModuleTranslation<'_>,
    isa: OwnedTargetIsa,
    functions: Vec<CompiledFunction>,
    build: BuildInfo,
    descriptor: &DescriptorSymbol,
    debug: Option<&crate::debug::DebugInput<'_>>,
) -> Result<ObjectFile> {
    let builder = ObjectBuilder::new(
        isa.clone(),
        "kiln",
        cranelift_module::default_libcall_names(),
    )
    .map_err(module_err)?;
    let mut obj = ObjectModule::new(builder);
    let dummy_sig = ir::Signature::new(isa.default_call_conv());

    // Declare every function first so relocations can name any of them.
    let mut ids = Vec::with_capacity(functions.len());
    let mut wasm_ids: HashMap<u32, FuncId> = HashMap::new();
    for f in &functions {
        let id = obj
            .declare_function(&f.name, Linkage::Local, &dummy_sig)
            .map_err(module_err)?;
        if let FunctionKind::Wasm(i) = f.kind {
            wasm_ids.insert(i, id);
        }
        ids.push(id);
    }
    for (f, id) in functions.iter().zip(&ids) {
        let relocs = f
            .relocs
            .iter()
            .map(|r| {
                let name = match r.target {
                    RelocTarget::WasmFunction(i) => {
                        let target = wasm_ids.get(&i).ok_or_else(|| {
                            CompileError::msg(format!(
                                "internal error: `{}` refers to wasm function {i}, which has no body",
                                f.name
                            ))
                        })?;
                        ModuleRelocTarget::user(0, target.as_u32())
                    }
                    RelocTarget::SelfOffset(o) => ModuleRelocTarget::FunctionOffset(*id, o),
                };
                Ok(ModuleReloc {
                    offset: r.offset,
                    kind: r.kind,
                    name,
                    addend: r.addend,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        obj.define_function_bytes(*id, f.alignment, &f.code, &relocs)
            .map_err(module_err)?;
    }
    let mut product = obj.finish();
    let object = &mut product.object;
    let text = object.section_id(StandardSection::Text);
    let text_len = object.section(text).data().len() as u64;

    // Function metadata, from the symbol offsets the object writer chose.
    let mut infos: Vec<FunctionInfo> = (0..module.functions.len() as u32)
        .map(|i| FunctionInfo {
            type_index: module.functions[i as usize],
            body: None,
            array_trampoline: None,
            host_trampoline: None,
        })
        .collect();
    let mut trap_sites = Vec::new();
    let mut address_map = Vec::new();
    let mut exception_sites = Vec::new();
    let mut starts = Vec::with_capacity(functions.len());
    for (f, id) in functions.iter().zip(&ids) {
        let (sym, _) = product.functions[*id].ok_or_else(|| module_err("function not defined"))?;
        let start = u32::try_from(object.symbol(sym).value)
            .map_err(|_| CompileError::msg("code larger than 4 GiB"))?;
        match f.kind {
            FunctionKind::Wasm(i) => infos[i as usize].body = Some((start, f.code.len() as u32)),
            FunctionKind::ArrayTrampoline(i) => infos[i as usize].array_trampoline = Some(start),
            FunctionKind::HostTrampoline(i) => infos[i as usize].host_trampoline = Some(start),
        }
        starts.push(start);
        trap_sites.extend(f.traps.iter().map(|(o, k)| (start + o, *k)));
        for (ret, frame_offset, handlers) in &f.exception_sites {
            let handlers: Vec<Handler> = handlers
                .iter()
                .map(|h| Handler {
                    handler: start + h.handler,
                    ..*h
                })
                .collect();
            exception_sites.push((start + ret, *frame_offset, handlers));
        }
        address_map.extend(f.srclocs.iter().map(|(o, w)| (start + o, *w)));
    }
    trap_sites.sort_by_key(|(o, _)| *o);
    exception_sites.sort_by_key(|(o, _, _)| *o);
    let mut exceptions = ExceptionTableBuilder::default();
    for (ret, frame_offset, handlers) in &exception_sites {
        exceptions
            .add_site(*ret, *frame_offset, handlers)
            .map_err(|e| CompileError::msg(format!("internal error: {e}")))?;
    }
    address_map.sort_by_key(|(o, _)| *o);
    let debug_lines = match debug {
        Some(input) => {
            crate::debug::emit_debug_info(object, text, &*isa, module, &functions, &starts, input)?
        }
        None => {
            crate::debug::emit_unwind_info(object, text, &*isa, &functions, &starts)?;
            None
        }
    };

    let data = layout_data(module);
    let metadata = ModuleMetadata {
        build,
        types: module.types.clone(),
        imports: module.imports.clone(),
        functions: infos,
        tables: module.tables.clone(),
        memories: module.memories.clone(),
        globals: module.globals.clone(),
        tags: module.tags.clone(),
        type_identities: module.type_identities.clone(),
        global_inits: module.global_inits.clone(),
        exports: module.exports.clone(),
        start: module.start,
        elems: module
            .elems
            .iter()
            .map(|e| ElemSegment {
                mode: e.mode.clone(),
                element: e.element,
                items: e.items.clone(),
            })
            .collect(),
        data: data.segments,
        memory_images: data.images,
        trap_sites: TrapTable::from_sorted_sites(trap_sites),
        address_map: OffsetTable::from_sorted_pairs(address_map),
        exception_table: exceptions.finish(),
        name: module.module_name.clone(),
        // Trap backtraces print these names: demangled, as the debug symbols are.
        function_names: function_names(module),
        debug_lines,
    };
    let meta_bytes = metadata.to_bytes();
    let fingerprint = Fingerprint::of(&metadata.build).encode();

    // `.kiln.meta`: the fingerprint, then the metadata.
    let meta_section = object.add_section(
        Vec::new(),
        b".kiln.meta".to_vec(),
        SectionKind::ReadOnlyData,
    );
    let fp_offset = object.append_section_data(meta_section, fingerprint.as_bytes(), 8);
    let meta_offset = object.append_section_data(meta_section, &meta_bytes, 8);
    let data_align = if metadata.memory_images.is_empty() {
        16
    } else {
        DATA_ALIGN
    };
    let data_section = object.add_section(
        Vec::new(),
        b".kiln.data".to_vec(),
        SectionKind::ReadOnlyData,
    );
    // Never empty, so the section (and its symbol) exists.
    let blob = if data.blob.is_empty() {
        vec![0u8]
    } else {
        data.blob
    };
    object.append_section_data(data_section, &blob, data_align);

    // The descriptor: lengths in place, pointers as relocations (the file checksum is written
    // after linking, by `link`).
    let desc = ModuleDescriptor {
        head: DescriptorHead {
            checksum: [0; 16],
            fingerprint: Span::new(0, fingerprint.len() as u64),
            metadata: Span::new(0, meta_bytes.len() as u64),
        },
        text: Span::new(0, text_len),
        data: Span::new(0, blob.len() as u64),
    };
    let desc_section = object.section_id(StandardSection::ReadOnlyDataWithRel);
    let desc_offset = object.append_section_data(desc_section, &desc.encode(), 16);
    for (field, pointee) in ModuleDescriptor::POINTERS {
        let (target, addend) = match pointee {
            Pointee::Fingerprint => (meta_section, fp_offset),
            Pointee::Metadata => (meta_section, meta_offset),
            Pointee::Text => (text, 0),
            Pointee::Data => (data_section, 0),
            Pointee::Modules | Pointee::GlueText => {
                unreachable!("a module descriptor has no {pointee:?} field")
            }
        };
        let symbol = object.section_symbol(target);
        object
            .add_relocation(
                desc_section,
                Relocation {
                    offset: desc_offset + u64::from(field),
                    symbol,
                    addend: addend as i64,
                    flags: RelocationFlags::Generic {
                        kind: RelocationKind::Absolute,
                        encoding: RelocationEncoding::Generic,
                        size: 64,
                    },
                },
            )
            .map_err(module_err)?;
    }
    object.add_symbol(Symbol {
        name: descriptor.name.as_bytes().to_vec(),
        value: desc_offset,
        size: u64::from(DESCRIPTOR_SIZE),
        kind: SymbolKind::Data,
        scope: if descriptor.exported {
            SymbolScope::Dynamic
        } else {
            SymbolScope::Linkage
        },
        weak: false,
        section: SymbolSection::Section(desc_section),
        flags: SymbolFlags::None,
    });
    let bytes = product.emit().map_err(module_err)?;
    Ok(ObjectFile { bytes, metadata })
}

//! Debug info (`kiln compile -g`): DWARF and CFI inside the shared object, so gdb and lldb
//! debug guest code in a `dlopen`ed module by themselves (no JIT registration).
//!
//! Place in the pipeline: the translator labels wasm locals and the vmctx
//! ([`local_label`], [`vmctx_label`]); codegen keeps each function's unwind info and value
//! label ranges; the emit stage, once `.text` is laid out, calls [`emit_debug_info`], which adds
//! to the object:
//! - `.eh_frame` for every function and trampoline ([`unwind`]);
//! - with guest DWARF (clang `-g`): the guest's compile units translated to native addresses,
//!   with native line tables and variable locations ([`transform`], [`expr`], [`lines`]);
//! - without: one unit whose source is a WAT listing written beside the `.so` ([`synthetic`],
//!   [`Listing`]).
//!
//! It also returns a compact line table for the metadata, which the runtime uses to print
//! `file:line` in trap backtraces without reading DWARF.

mod expr;
mod lines;
mod mapping;
mod pointers;
mod synthetic;
mod transform;
mod unwind;
mod writer;

use crate::codegen::CompiledFunction;
use crate::error::{CompileError, Result};
use crate::module::ModuleTranslation;
use cranelift_codegen::ir::ValueLabel;
use cranelift_codegen::isa::TargetIsa;
use gimli::write::Sections;
use kiln_environ::DebugLineTable;
use object::write::{Object, SectionId};
use std::collections::HashMap;

/// Label index of the vmctx value (wasm locals use their own index, below 50 000).
const VMCTX_LABEL_INDEX: u32 = 0x7fff_fff0;

/// The value label of the VM context parameter.
pub fn vmctx_label() -> ValueLabel {
    ValueLabel::from_u32(VMCTX_LABEL_INDEX)
}

/// The value label of wasm local `index`.
pub fn local_label(index: u32) -> ValueLabel {
    ValueLabel::from_u32(index)
}

/// Label index of operand-stack slot 0 (slot `d`, counted from the bottom of the function's
/// operand stack, is `OPERAND_LABEL_BASE + d`).
const OPERAND_LABEL_BASE: u32 = 0x4000_0000;

/// Operand-stack slots deeper than this get no label.
pub const MAX_LABELLED_OPERAND: usize = 1 << 12;

/// The value label of the wasm operand-stack slot `depth` (from the bottom), what clang's
/// `DW_OP_WASM_location 2 N` names.
pub fn operand_label(depth: u32) -> ValueLabel {
    ValueLabel::from_u32(OPERAND_LABEL_BASE + depth)
}

/// Under `-g`, after each operator: labels the operand-stack values pushed since the last
/// call with [`operand_label`] of their slot (`labelled`: the value labelled at each slot so
/// far). Scans from the top down to the first slot that still holds its labelled value, so
/// the work is linear in the number of pushes.
pub fn label_operand_stack(
    builder: &mut cranelift_frontend::FunctionBuilder<'_>,
    stack: &[cranelift_codegen::ir::Value],
    labelled: &mut Vec<cranelift_codegen::ir::Value>,
) {
    use cranelift_codegen::packed_option::ReservedValue;
    let len = stack.len().min(MAX_LABELLED_OPERAND);
    labelled.truncate(len);
    labelled.resize(len, cranelift_codegen::ir::Value::reserved_value());
    for d in (0..len).rev() {
        if labelled[d] == stack[d] {
            break;
        }
        builder.set_val_label(stack[d], operand_label(d as u32));
        labelled[d] = stack[d];
    }
}

/// Moves value labels set on values that SSA construction later turned into aliases onto the
/// values they alias (Cranelift drops labels left on aliases).
pub fn move_labels_off_aliases(dfg: &mut cranelift_codegen::ir::DataFlowGraph) {
    use cranelift_codegen::ir::ValueLabelAssignments;
    let Some(labels) = dfg.values_labels.take() else {
        return;
    };
    let mut out = std::collections::BTreeMap::new();
    for (value, assignments) in labels {
        let target = dfg.resolve_aliases(value);
        match assignments {
            ValueLabelAssignments::Starts(starts) => {
                match out
                    .entry(target)
                    .or_insert_with(|| ValueLabelAssignments::Starts(Vec::new()))
                {
                    ValueLabelAssignments::Starts(list) => list.extend(starts),
                    other @ ValueLabelAssignments::Alias { .. } => {
                        *other = ValueLabelAssignments::Starts(starts)
                    }
                }
            }
            alias => {
                out.entry(target).or_insert(alias);
            }
        }
    }
    dfg.values_labels = Some(out);
}

/// Demangles a Rust (legacy or v0) or Itanium C++ symbol name; other names come back unchanged.
pub fn demangle(name: &str) -> String {
    if let Ok(d) = rustc_demangle::try_demangle(name) {
        return format!("{d:#}");
    }
    if name.starts_with("_Z") {
        if let Ok(sym) = cpp_demangle::Symbol::new(name) {
            if let Ok(d) = sym.demangle() {
                return d;
            }
        }
    }
    name.to_string()
}

/// Whether `wasm` carries DWARF (a `.debug_info` custom section).
pub fn has_guest_dwarf(wasm: &[u8]) -> bool {
    wasmparser::Parser::new(0).parse_all(wasm).any(
        |p| matches!(p, Ok(wasmparser::Payload::CustomSection(r)) if r.name() == ".debug_info"),
    )
}

/// A WAT listing of the input: the source that line tables point into when the input has no
/// DWARF.
#[derive(Clone, Debug)]
pub struct Listing {
    /// File name of the listing, as debuggers look it up (relative to `comp_dir`).
    pub name: String,
    /// Directory the listing is in (absolute), or empty.
    pub comp_dir: String,
    /// The listing text.
    pub text: String,
    /// `(absolute wasm offset, 1-based line)` for every line that prints something with an
    /// offset.
    pub rows: Vec<(u64, u64)>,
}

impl Listing {
    /// Prints `wasm` as WAT (wasmprinter), remembering each line's wasm offset.
    pub fn new(wasm: &[u8], name: String, comp_dir: String) -> Result<Listing> {
        let mut storage = String::new();
        let mut text = String::new();
        let mut rows = Vec::new();
        let mut config = wasmprinter::Config::new();
        config.name_unnamed(false);
        let lines = config
            .offsets_and_lines(wasm, &mut storage)
            .map_err(|e| CompileError::msg(format!("cannot print the WAT listing: {e}")))?;
        for (i, (offset, line)) in lines.enumerate() {
            text.push_str(line);
            if !line.ends_with('\n') {
                text.push('\n');
            }
            if let Some(o) = offset {
                rows.push((o as u64, i as u64 + 1));
            }
        }
        // One row per offset: the first line that printed it.
        rows.sort_by_key(|r| r.0);
        rows.dedup_by_key(|r| r.0);
        Ok(Listing {
            name,
            comp_dir,
            text,
            rows,
        })
    }
}

/// What the debug info is made from, besides the compiled functions.
pub struct DebugInput<'a> {
    /// The input module's bytes (for its DWARF sections and offsets).
    pub wasm: &'a [u8],
    /// The WAT listing, when the input has no DWARF.
    pub listing: Option<&'a Listing>,
}

/// A compiled function and its offset in `.text`.
#[derive(Clone, Copy)]
pub(crate) struct Placed<'a> {
    /// The function.
    pub func: &'a CompiledFunction,
    /// Its offset in `.text`.
    pub start: u32,
}

/// A trap-table row before file interning: `(text offset, file, line)`.
pub(crate) type TrapRow = (u32, String, u32);

fn vm_layout(module: &ModuleTranslation<'_>, isa: &dyn TargetIsa) -> expr::VmLayout {
    let off = &module.offsets;
    let memory0 = if module.memories.is_empty() {
        None
    } else if module.num_imported_memories > 0 {
        Some((off.vmctx_imported_memory(0), true))
    } else {
        Some((off.vmctx_defined_memory(0), false))
    };
    let globals = (0..module.globals.len() as u32)
        .map(|g| {
            if g < module.num_imported_globals {
                (off.vmctx_imported_global(g), true)
            } else {
                (
                    off.vmctx_defined_global(g - module.num_imported_globals),
                    false,
                )
            }
        })
        .collect();
    let x64 = matches!(
        isa.triple().architecture,
        target_lexicon::Architecture::X86_64
    );
    let param_regs = if x64 {
        module
            .functions
            .iter()
            .map(|&t| {
                let floats: Vec<bool> = module
                    .types
                    .get(t as usize)
                    .map(|ty| {
                        ty.params
                            .iter()
                            .map(|p| {
                                matches!(
                                    p,
                                    kiln_environ::ValType::F32
                                        | kiln_environ::ValType::F64
                                        | kiln_environ::ValType::V128
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                expr::VmLayout::x64_param_regs(&floats)
            })
            .collect()
    } else {
        Vec::new()
    };
    expr::VmLayout {
        memory0,
        globals,
        param_regs,
        vmctx_reg: x64.then_some(5),
    }
}

/// Adds only `.eh_frame` for `functions` (placed at `starts` in `text`) to `object`: every
/// `.so` carries CFI, so in-process unwinders and profilers walk guest frames without `-g`.
pub fn emit_unwind_info(
    object: &mut Object<'_>,
    text: SectionId,
    isa: &dyn TargetIsa,
    functions: &[CompiledFunction],
    starts: &[u32],
) -> Result<()> {
    let placed: Vec<Placed<'_>> = functions
        .iter()
        .zip(starts)
        .map(|(func, &start)| Placed { func, start })
        .collect();
    if let Some(eh) = unwind::write_eh_frame(isa, &placed)? {
        let all = [(gimli::SectionId::EhFrame, &eh)];
        let created = writer::DebugSections::create(object, &all);
        created.fill(object, text, gimli::SectionId::EhFrame, &eh)?;
    }
    Ok(())
}

/// Adds `.eh_frame` for a component's glue functions (`functions`: `.text` offset and unwind
/// info) to the component object.
pub fn emit_glue_unwind_info(
    object: &mut Object<'_>,
    text: SectionId,
    isa: &dyn TargetIsa,
    functions: &[(u64, &cranelift_codegen::isa::unwind::UnwindInfo)],
) -> Result<()> {
    if let Some(eh) = unwind::write_eh_frame_for(isa, functions)? {
        let all = [(gimli::SectionId::EhFrame, &eh)];
        let created = writer::DebugSections::create(object, &all);
        created.fill(object, text, gimli::SectionId::EhFrame, &eh)?;
    }
    Ok(())
}

/// Adds `.eh_frame` and the DWARF sections for `functions` (placed at `starts` in `text`) to
/// `object`; returns the compact line table for the metadata.
pub fn emit_debug_info(
    object: &mut Object<'_>,
    text: SectionId,
    isa: &dyn TargetIsa,
    module: &ModuleTranslation<'_>,
    functions: &[CompiledFunction],
    starts: &[u32],
    input: &DebugInput<'_>,
) -> Result<Option<DebugLineTable>> {
    let placed: Vec<Placed<'_>> = functions
        .iter()
        .zip(starts)
        .map(|(func, &start)| Placed { func, start })
        .collect();
    let eh_frame = unwind::write_eh_frame(isa, &placed)?;
    let facts = mapping::scan(input.wasm, module.num_imported_funcs)?;
    let map = mapping::AddrMap::new(&placed, &facts);
    let layout = vm_layout(module, isa);
    let translator = expr::Translator {
        isa,
        layout: &layout,
        homes_cache: Default::default(),
    };
    let dwarf = match transform::transform(&map, &translator)? {
        Some(d) => Some(d),
        None => input
            .listing
            .map(|listing| synthetic::synthesize(&map, listing, module, &translator)),
    };
    let mut sections = Sections::new(writer::RelocSection::new());
    let rows = match dwarf {
        Some((mut dwarf, rows)) => {
            dwarf
                .write(&mut sections)
                .map_err(|e| CompileError::msg(format!("cannot write DWARF: {e}")))?;
            Some(rows)
        }
        None => None,
    };
    let mut all: Vec<(gimli::SectionId, &writer::RelocSection)> = Vec::new();
    if let Some(eh) = &eh_frame {
        all.push((gimli::SectionId::EhFrame, eh));
    }
    sections
        .for_each(|id, section| -> std::result::Result<(), ()> {
            all.push((id, section));
            Ok(())
        })
        .ok();
    let created = writer::DebugSections::create(object, &all);
    for (id, section) in all {
        created.fill(object, text, id, section)?;
    }
    Ok(rows.map(line_table))
}

fn line_table(mut rows: Vec<TrapRow>) -> DebugLineTable {
    // Function ends (line 0) sort before a function starting at the same offset.
    rows.sort_by_key(|r| (r.0, r.2 != 0));
    let mut files: Vec<String> = Vec::new();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut out: Vec<(u32, u32, u32)> = Vec::with_capacity(rows.len());
    for (off, file, line) in rows {
        let f = if line == 0 {
            0
        } else {
            *index.entry(file.clone()).or_insert_with(|| {
                files.push(file);
                files.len() as u32 - 1
            })
        };
        match out.last_mut() {
            Some(last) if last.0 == off => *last = (off, f, line),
            Some(last) if (last.1, last.2) == (f, line) => {}
            _ => out.push((off, f, line)),
        }
    }
    DebugLineTable::new(&files, &out)
}

/// Moves the debug sections of the shared object `so` into `<so>.debug` and links them back
/// with `.gnu_debuglink` (the build id, which `ld` writes, identifies the pair too). Uses
/// `objcopy` from binutils (`KILN_OBJCOPY` overrides it).
pub fn split_debug_info(so: &std::path::Path) -> Result<()> {
    let objcopy = std::env::var("KILN_OBJCOPY").unwrap_or_else(|_| "objcopy".to_string());
    let mut debug = so.as_os_str().to_owned();
    debug.push(".debug");
    let debug = std::path::PathBuf::from(debug);
    let run = |args: &[&std::ffi::OsStr]| -> Result<()> {
        let out = std::process::Command::new(&objcopy)
            .args(args)
            .output()
            .map_err(|e| {
                CompileError::msg(format!(
                    "cannot run `{objcopy}` for --split-debug ({e}); install binutils or set \
                     KILN_OBJCOPY"
                ))
            })?;
        if !out.status.success() {
            return Err(CompileError::msg(format!(
                "`{objcopy}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    };
    run(&[
        "--only-keep-debug".as_ref(),
        so.as_os_str(),
        debug.as_os_str(),
    ])?;
    let mut link = std::ffi::OsString::from("--add-gnu-debuglink=");
    link.push(&debug);
    run(&["--strip-debug".as_ref(), link.as_os_str(), so.as_os_str()])?;
    Ok(())
}

#[cfg(test)]
mod tests;

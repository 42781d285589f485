//! Stage 3 — codegen: Cranelift IR → machine code, in parallel.
//!
//! Builds the target ISA from the [`Config`], then translates and compiles every defined
//! function on a rayon pool (`-j N`). Nothing is serial per function except the final
//! emission. The result is a list of [`CompiledFunction`]s: machine code, relocations, trap
//! sites and a source map, all relative to the function's start.

use crate::config::{Config, OptLevel};
use crate::error::{CompileError, Result};
use crate::module::ModuleTranslation;
use cranelift_codegen::binemit::Reloc;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{self, ExternalName};
use cranelift_codegen::isa::{self, OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, FinalizedRelocTarget};
use kiln_environ::exception::{Handler, CATCH_ALL, NO_CONTEXT};
use kiln_environ::TrapKind;
use rayon::prelude::*;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a compiled function is, which decides its symbol and how others refer to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FunctionKind {
    /// The body of wasm function `index` (wasm calling convention).
    Wasm(u32),
    /// The host-to-wasm array-call trampoline of function `index`.
    ArrayTrampoline(u32),
    /// The wasm-to-host trampoline of imported function `index`.
    HostTrampoline(u32),
}

/// What a relocation refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelocTarget {
    /// The body of wasm function `index`.
    WasmFunction(u32),
    /// An offset inside the function being relocated.
    SelfOffset(u32),
}

/// A relocation in a compiled function.
#[derive(Clone, Debug)]
pub struct Relocation {
    /// Offset in the function.
    pub offset: u32,
    /// Relocation kind.
    pub kind: Reloc,
    /// Target.
    pub target: RelocTarget,
    /// Addend.
    pub addend: i64,
}

/// A function after code generation.
#[derive(Clone, Debug)]
pub struct CompiledFunction {
    /// What this function is.
    pub kind: FunctionKind,
    /// Symbol name.
    pub name: String,
    /// Machine code.
    pub code: Vec<u8>,
    /// Required alignment.
    pub alignment: u64,
    /// Relocations.
    pub relocs: Vec<Relocation>,
    /// Trap sites: (offset in function, kind).
    pub traps: Vec<(u32, TrapKind)>,
    /// Call sites with catch handlers, in code order: return offset, distance from the frame
    /// pointer down to the stack pointer at the call, and the handlers (handler offsets
    /// relative to the function's start).
    pub exception_sites: Vec<(u32, u32, Vec<Handler>)>,
    /// Source map: (offset in function, wasm byte offset), sorted.
    pub srclocs: Vec<(u32, u32)>,
    /// Call-frame information, for `.eh_frame` (written under `-g`).
    pub unwind: Option<cranelift_codegen::isa::unwind::UnwindInfo>,
    /// Where each labelled value (wasm local, vmctx) lives, by code range; empty unless the
    /// function was translated with debug info (see [`crate::debug`]).
    pub value_labels: cranelift_codegen::ValueLabelsRanges,
}

/// Builds the target ISA for `config`.
pub fn build_isa(config: &Config) -> Result<OwnedTargetIsa> {
    let mut flags = settings::builder();
    let set = |flags: &mut settings::Builder, name: &str, value: &str| {
        flags
            .set(name, value)
            .map_err(|e| CompileError::msg(format!("cranelift setting {name}={value}: {e}")))
    };
    set(
        &mut flags,
        "opt_level",
        match config.opt_level {
            OptLevel::O0 => "none",
            OptLevel::O1 | OptLevel::O2 => "speed",
        },
    )?;
    set(&mut flags, "is_pic", "true")?;
    set(&mut flags, "preserve_frame_pointers", "true")?;
    set(&mut flags, "enable_probestack", "false")?;
    set(&mut flags, "unwind_info", "true")?;
    // Functions with more results than return registers (multi-value) return the rest through
    // an implicit return area; without this Cranelift rejects them ("Too many return values").
    set(&mut flags, "enable_multi_ret_implicit_sret", "true")?;
    set(
        &mut flags,
        "enable_verifier",
        if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        },
    )?;
    set(&mut flags, "enable_heap_access_spectre_mitigation", "false")?;
    set(
        &mut flags,
        "enable_table_access_spectre_mitigation",
        "false",
    )?;
    let flags = settings::Flags::new(flags);
    let (builder, _) = isa_builder(config)?;
    let triple = builder.triple().clone();
    if triple.pointer_width().map(|w| w.bits()) != Ok(64) {
        return Err(CompileError::msg(format!(
            "target `{triple}` is not 64-bit; kiln supports 64-bit targets only"
        )));
    }
    builder
        .finish(flags)
        .map_err(|e| CompileError::msg(format!("cannot build target ISA: {e}")))
}

/// The CPU baseline a configuration compiles for: `config.cpu`, or by default `native` for
/// the host and `x86-64-v2` (x86-64) or `generic` (other architectures) for an explicit target.
pub fn cpu_name(config: &Config) -> String {
    match (&config.cpu, &config.target) {
        (Some(cpu), _) => cpu.clone(),
        (None, None) => "native".to_string(),
        (None, Some(t)) if t.starts_with("x86_64") => "x86-64-v2".to_string(),
        (None, Some(_)) => "generic".to_string(),
    }
}

/// The ISA builder for the configured target and CPU baseline, and the baseline's name.
fn isa_builder(config: &Config) -> Result<(isa::Builder, String)> {
    let cpu = cpu_name(config);
    let host = target_lexicon::Triple::host();
    let triple = match &config.target {
        None => host.clone(),
        Some(t) => target_lexicon::Triple::from_str(t)
            .map_err(|e| CompileError::msg(format!("invalid target `{t}`: {e}")))?,
    };
    if cpu == "native" {
        if triple != host {
            return Err(CompileError::msg(format!(
                "`--cpu native` compiles for this machine's CPU, but the target is `{triple}`; \
                 name a CPU baseline (e.g. `--cpu x86-64-v3`) or `generic`"
            )));
        }
        let b = cranelift_native::builder()
            .map_err(|e| CompileError::msg(format!("host is not supported by Cranelift: {e}")))?;
        return Ok((b, cpu));
    }
    let mut b = isa::lookup(triple.clone())
        .map_err(|e| CompileError::msg(format!("unsupported target `{triple}`: {e}")))?;
    if cpu != "generic" {
        b.enable(&cpu).map_err(|_| {
            let known: Vec<String> = b
                .iter()
                .filter(|s| s.kind == settings::SettingKind::Preset)
                .map(|s| s.name.to_string())
                .collect();
            CompileError::msg(format!(
                "unknown CPU `{cpu}` for {}; known: native, generic{}{}",
                triple.architecture,
                if known.is_empty() { "" } else { ", " },
                known.join(", ")
            ))
        })?;
    }
    Ok((b, cpu))
}

/// The build facts an artifact compiled from `wasm` with `config` for `isa` records (and its
/// fingerprint shows).
pub fn build_info(wasm: &[u8], config: &Config, isa: &dyn TargetIsa) -> kiln_environ::BuildInfo {
    use sha2::{Digest, Sha256};
    kiln_environ::BuildInfo {
        kiln_version: kiln_environ::KILN_VERSION.to_string(),
        abi_version: kiln_environ::ABI_VERSION,
        target: isa.triple().to_string(),
        cpu: cpu_name(config),
        cpu_features: cpu_features(isa),
        input_sha256: Sha256::digest(wasm).into(),
        opt_level: config.opt_level.as_u8(),
        bounds_checks: config.tunables.bounds_checks,
        epoch_interruption: config.tunables.epoch_interruption,
        debug_info: config.debug_info,
    }
}

/// The CPU features compiled code assumes, named as `is_x86_feature_detected!` names them.
pub fn cpu_features(isa: &dyn TargetIsa) -> Vec<String> {
    let mut out = Vec::new();
    for v in isa.isa_flags() {
        if v.as_bool() != Some(true) {
            continue;
        }
        let Some(name) = v.name.strip_prefix("has_") else {
            continue;
        };
        let name = match name {
            "sse41" => "sse4.1".to_string(),
            "sse42" => "sse4.2".to_string(),
            other => other.to_string(),
        };
        out.push(name);
    }
    out.sort();
    out
}

/// Compiles one Cranelift function and collects its code and tables.
pub fn compile_ir(
    isa: &dyn TargetIsa,
    kind: FunctionKind,
    name: String,
    func: ir::Function,
) -> Result<CompiledFunction> {
    let names = func.params.user_named_funcs().clone();
    let mut ctx = Context::for_function(func);
    let code = ctx
        .compile(isa, &mut ControlPlane::default())
        .map_err(|e| {
            CompileError::msg(format!(
                "code generation failed for `{name}`: {:?}",
                e.inner
            ))
        })?;
    let unwind = code
        .create_unwind_info(isa)
        .map_err(|e| CompileError::msg(format!("unwind information failed for `{name}`: {e:?}")))?;
    let value_labels = code.value_labels_ranges.clone();
    let buffer = &code.buffer;
    let mut relocs = Vec::new();
    for r in buffer.relocs() {
        let target = match &r.target {
            FinalizedRelocTarget::Func(off) => RelocTarget::SelfOffset(*off),
            FinalizedRelocTarget::ExternalName(ExternalName::User(reff)) => {
                let n = &names[*reff];
                if n.namespace != 0 {
                    return Err(CompileError::msg(format!(
                        "internal error: unexpected external name {n:?} in `{name}`"
                    )));
                }
                RelocTarget::WasmFunction(n.index)
            }
            FinalizedRelocTarget::ExternalName(other) => {
                return Err(CompileError::msg(format!(
                    "`{name}` needs the external routine {other:?}, which kiln objects cannot \
                     reference; compile for a CPU with the needed features"
                )))
            }
        };
        relocs.push(Relocation {
            offset: r.offset,
            kind: r.kind,
            target,
            addend: r.addend,
        });
    }
    let mut traps = Vec::new();
    for t in buffer.traps() {
        let kind = crate::translate::trap_kind(t.code).ok_or_else(|| {
            CompileError::msg(format!(
                "internal error: unknown trap code {} in `{name}`",
                t.code
            ))
        })?;
        traps.push((t.offset, kind));
    }
    let exception_sites = exception_sites(buffer, &name)?;
    let srclocs = buffer
        .get_srclocs_sorted()
        .iter()
        .filter(|s| !s.loc.is_default())
        .map(|s| (s.start, s.loc.bits()))
        .collect();
    Ok(CompiledFunction {
        kind,
        name,
        code: code.code_buffer().to_vec(),
        alignment: u64::from(buffer.alignment),
        relocs,
        traps,
        exception_sites,
        srclocs,
        unwind,
        value_labels,
    })
}

/// The call sites of `buffer` that have catch handlers, as [`CompiledFunction::exception_sites`].
fn exception_sites(
    buffer: &cranelift_codegen::MachBufferFinalized<cranelift_codegen::Final>,
    name: &str,
) -> Result<Vec<(u32, u32, Vec<Handler>)>> {
    use cranelift_codegen::{ExceptionContextLoc, FinalizedMachExceptionHandler as H};
    let mut out = Vec::new();
    for site in buffer.call_sites() {
        if site.exception_handlers.is_empty() {
            continue;
        }
        let internal = |what: &str| {
            CompileError::msg(format!(
                "internal error: exception call site in `{name}`: {what}"
            ))
        };
        let frame_offset = site
            .frame_offset
            .ok_or_else(|| internal("no frame offset"))?;
        let mut context = NO_CONTEXT;
        let mut handlers = Vec::new();
        for h in site.exception_handlers {
            match h {
                H::Context(ExceptionContextLoc::SPOffset(o)) => context = *o,
                H::Context(ExceptionContextLoc::GPR(_)) => {
                    return Err(internal("VM context in a register"))
                }
                H::Tag(tag, offset) => {
                    if context == NO_CONTEXT {
                        return Err(internal("tag handler without a context"));
                    }
                    handlers.push(Handler {
                        tag: tag.as_u32(),
                        context_sp_offset: context,
                        handler: *offset,
                    });
                }
                H::Default(offset) => handlers.push(Handler {
                    tag: CATCH_ALL,
                    context_sp_offset: context,
                    handler: *offset,
                }),
            }
        }
        out.push((site.ret_addr, frame_offset, handlers));
    }
    Ok(out)
}

/// A symbol-safe rendering of a name-section name (demangled where the producer mangled it).
pub fn symbol_name(module: &ModuleTranslation<'_>, index: u32) -> String {
    match module
        .func_names
        .get(index as usize)
        .and_then(|n| n.as_deref())
    {
        Some(n) => format!("wasm[{index}]::{}", crate::debug::demangle(n)),
        None => format!("wasm[{index}]"),
    }
}

/// Translates and compiles every defined function of `module` in parallel.
pub fn compile_functions(
    module: &mut ModuleTranslation<'_>,
    isa: &dyn TargetIsa,
    config: &Config,
) -> Result<Vec<CompiledFunction>> {
    let bodies: Vec<_> = std::mem::take(&mut module.bodies)
        .into_iter()
        .enumerate()
        .collect();
    let total = bodies.len();
    let done = AtomicUsize::new(0);
    let module = &*module;
    let work = || {
        bodies
            .into_par_iter()
            .map(|(def_index, body)| {
                let func_index = module.num_imported_funcs + def_index as u32;
                let func = crate::translate::translate_function_with_debug(
                    module,
                    isa,
                    &config.tunables,
                    def_index as u32,
                    body,
                    config.debug_info,
                )?;
                let compiled = compile_ir(
                    isa,
                    FunctionKind::Wasm(func_index),
                    symbol_name(module, func_index),
                    func,
                )?;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(p) = &config.progress {
                    p(n, total);
                }
                Ok(compiled)
            })
            .collect::<Result<Vec<_>>>()
    };
    match config.jobs {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()
            .map_err(|e| CompileError::msg(format!("cannot start {n} compile threads: {e}")))?
            .install(work),
        None => work(),
    }
}

//! Core-module differential cases: a wasm-smith module (kiln's supported features, NaNs
//! canonicalised, bounded by wasm-smith's fuel global so every call terminates) is compiled
//! and instantiated in kiln and in wasmtime; every exported function is called in export order
//! with generated arguments; results (NaN-aware) and trap kinds are compared, and after every
//! call so are the exported globals, memories and table sizes.

use crate::rng::Rng;
use anyhow::{anyhow, Result};
use std::path::Path;

/// A core value in a runtime-neutral form.
#[derive(Clone, Debug)]
pub enum Cv {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32` bits
    F32(u32),
    /// `f64` bits
    F64(u64),
    /// `v128`
    V128(u128),
    /// A reference: `true` when null.
    Ref(bool),
}

impl PartialEq for Cv {
    fn eq(&self, other: &Cv) -> bool {
        match (self, other) {
            (Cv::I32(a), Cv::I32(b)) => a == b,
            (Cv::I64(a), Cv::I64(b)) => a == b,
            (Cv::F32(a), Cv::F32(b)) => {
                a == b || (f32::from_bits(*a).is_nan() && f32::from_bits(*b).is_nan())
            }
            (Cv::F64(a), Cv::F64(b)) => {
                a == b || (f64::from_bits(*a).is_nan() && f64::from_bits(*b).is_nan())
            }
            (Cv::V128(a), Cv::V128(b)) => a == b,
            (Cv::Ref(a), Cv::Ref(b)) => a == b,
            _ => false,
        }
    }
}

/// The result of one call (or of instantiation).
#[derive(Debug, PartialEq)]
pub enum CoreOutcome {
    /// Returned values.
    Values(Vec<Cv>),
    /// A trap, by kind name (wasmtime's names).
    Trap(String),
}

/// The wasm-smith configuration: features both runtimes support and kiln accepts.
fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        exceptions_enabled: false,
        gc_enabled: false,
        memory64_enabled: false,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        simd_enabled: true,
        tail_call_enabled: true,
        extended_const_enabled: true,
        canonicalize_nans: true,
        max_imports: 0,
        export_everything: true,
        min_funcs: 4,
        max_memories: 2,
        max_tables: 2,
        max_memory32_bytes: 1 << 24,
        max_table_elements: 1000,
        // Declared maxima keep growth within limits both runtimes meet (growth past what a
        // runtime can allocate is implementation-defined: -1, or an error in wasmtime).
        table_max_size_required: true,
        memory_max_size_required: true,
        ..wasm_smith::Config::default()
    }
}

/// A generated module (binary) for seed `r`; `None` when wasm-smith gave up.
pub fn generate(r: &mut Rng) -> Option<Vec<u8>> {
    let bytes = r.bytes(16384);
    let mut u = arbitrary::Unstructured::new(&bytes);
    let mut m = wasm_smith::Module::new(smith_config(), &mut u).ok()?;
    m.ensure_termination(2000).ok()?;
    Some(m.to_bytes())
}

fn arg(r: &mut Rng, ty: kiln_runtime::ValType) -> Cv {
    use kiln_runtime::ValType as T;
    let pick = r.below(4);
    let bits = match pick {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        _ => r.next(),
    };
    match ty {
        T::I32 => Cv::I32(bits as i32),
        T::I64 => Cv::I64(bits as i64),
        T::F32 => Cv::F32(bits as u32),
        T::F64 => Cv::F64(bits),
        T::V128 => Cv::V128(u128::from(bits) << 64 | u128::from(r.next())),
        T::FuncRef | T::ExternRef | T::ExnRef => Cv::Ref(true),
    }
}

fn kiln_trap_name(k: kiln_runtime::TrapKind) -> String {
    match k {
        kiln_runtime::TrapKind::TableIndexOutOfBounds => "TableOutOfBounds".into(),
        k => format!("{k:?}"),
    }
}

fn wasmtime_trap_name(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(t) => format!("{t:?}"),
        None => format!("error: {e}"),
    }
}

fn to_kiln(v: &Cv) -> kiln_runtime::Val {
    use kiln_runtime::Val;
    match v {
        Cv::I32(x) => Val::I32(*x),
        Cv::I64(x) => Val::I64(*x),
        Cv::F32(x) => Val::F32(*x),
        Cv::F64(x) => Val::F64(*x),
        Cv::V128(x) => Val::V128(*x),
        Cv::Ref(_) => Val::ExternRef(None),
    }
}

fn from_kiln(v: &kiln_runtime::Val) -> Cv {
    use kiln_runtime::Val;
    match v {
        Val::I32(x) => Cv::I32(*x),
        Val::I64(x) => Cv::I64(*x),
        Val::F32(x) => Cv::F32(*x),
        Val::F64(x) => Cv::F64(*x),
        Val::V128(x) => Cv::V128(*x),
        Val::FuncRef(f) => Cv::Ref(f.is_none()),
        Val::ExternRef(e) => Cv::Ref(e.is_none()),
        Val::ExnRef(e) => Cv::Ref(e.is_none()),
    }
}

fn from_wasmtime(v: &wasmtime::Val) -> Cv {
    use wasmtime::Val;
    match v {
        Val::I32(x) => Cv::I32(*x),
        Val::I64(x) => Cv::I64(*x),
        Val::F32(x) => Cv::F32(*x),
        Val::F64(x) => Cv::F64(*x),
        Val::V128(x) => Cv::V128(x.as_u128()),
        Val::FuncRef(f) => Cv::Ref(f.is_none()),
        Val::ExternRef(e) => Cv::Ref(e.is_none()),
        Val::AnyRef(e) => Cv::Ref(e.is_none()),
        Val::ExnRef(e) => Cv::Ref(e.is_none()),
        Val::ContRef(e) => Cv::Ref(e.is_none()),
    }
}

/// Runs one module in both runtimes; `Ok(None)` when they agree, `Ok(Some(why))` when not,
/// `Err` when the case could not be run (e.g. kiln rejected the module).
pub fn run(
    wasm: &[u8],
    r: &mut Rng,
    kengine: &kiln_runtime::Engine,
    wengine: &wasmtime::Engine,
    dir: &Path,
) -> Result<Option<String>> {
    let so = dir.join(format!("core{}.so", std::process::id()));
    let compiled =
        kiln_compiler::compile_to_file(wasm, &Default::default(), kiln_compiler::Emit::So, &so);
    let wmodule = wasmtime::Module::new(wengine, wasm);
    let (kmodule, wmodule) = match (compiled, wmodule) {
        (Ok(_), Ok(w)) => (
            kiln_runtime::Module::load(kengine, &so).map_err(|e| anyhow!("kiln load: {e}"))?,
            w,
        ),
        (Err(e), Ok(_)) => return Ok(Some(format!("kiln rejects a module wasmtime accepts: {e}"))),
        (Ok(_), Err(e)) => {
            return Ok(Some(format!(
                "wasmtime rejects a module kiln accepts: {e:#}"
            )))
        }
        (Err(_), Err(_)) => return Err(anyhow!("both runtimes reject the module")),
    };
    let _ = std::fs::remove_file(&so);
    let mut store = wasmtime::Store::new(wengine, ());
    let winst = wasmtime::Instance::new(&mut store, &wmodule, &[]);
    let kinst = kiln_runtime::Instance::new(&kmodule, &[]);
    let (kinst, winst) = match (kinst, winst) {
        (Ok(k), Ok(w)) => (k, w),
        (k, w) => {
            let ko = match k {
                Ok(_) => CoreOutcome::Values(vec![]),
                Err(kiln_runtime::Error::Trap(t)) => CoreOutcome::Trap(kiln_trap_name(t.kind)),
                Err(e) => return Err(anyhow!("kiln instantiate: {e}")),
            };
            let wo = match w {
                Ok(_) => CoreOutcome::Values(vec![]),
                Err(e) => CoreOutcome::Trap(wasmtime_trap_name(&e)),
            };
            if ko == wo {
                crate::stats::bump(&crate::stats::CORE_TRAPS);
                return Ok(None);
            }
            return Ok(Some(format!("instantiation: kiln {ko:?}, wasmtime {wo:?}")));
        }
    };
    let mut log = Vec::new();
    for (name, ext) in kinst.exports() {
        let kiln_runtime::Extern::Func(kf) = ext else {
            continue;
        };
        let Some(wf) = winst.get_func(&mut store, &name) else {
            return Ok(Some(format!("wasmtime lacks export {name}")));
        };
        let ty = kf.ty();
        let args: Vec<Cv> = ty.params.iter().map(|t| arg(r, *t)).collect();
        let kargs: Vec<kiln_runtime::Val> = args
            .iter()
            .zip(&ty.params)
            .map(|(a, t)| match t {
                kiln_runtime::ValType::FuncRef => kiln_runtime::Val::FuncRef(None),
                kiln_runtime::ValType::ExnRef => kiln_runtime::Val::ExnRef(None),
                _ => to_kiln(a),
            })
            .collect();
        let wargs: Vec<wasmtime::Val> = args
            .iter()
            .zip(&ty.params)
            .map(|(a, t)| match (a, t) {
                (Cv::I32(x), _) => wasmtime::Val::I32(*x),
                (Cv::I64(x), _) => wasmtime::Val::I64(*x),
                (Cv::F32(x), _) => wasmtime::Val::F32(*x),
                (Cv::F64(x), _) => wasmtime::Val::F64(*x),
                (Cv::V128(x), _) => wasmtime::Val::V128((*x).into()),
                (Cv::Ref(_), kiln_runtime::ValType::FuncRef) => wasmtime::Val::FuncRef(None),
                (Cv::Ref(_), kiln_runtime::ValType::ExnRef) => wasmtime::Val::ExnRef(None),
                (Cv::Ref(_), _) => wasmtime::Val::ExternRef(None),
            })
            .collect();
        let ko = match kf.call(&kargs) {
            Ok(v) => CoreOutcome::Values(v.iter().map(from_kiln).collect()),
            Err(kiln_runtime::Error::Trap(t)) => CoreOutcome::Trap(kiln_trap_name(t.kind)),
            Err(e) => return Err(anyhow!("kiln call {name}: {e}")),
        };
        let mut results = vec![wasmtime::Val::I32(0); ty.results.len()];
        let wo = match wf.call(&mut store, &wargs, &mut results) {
            Ok(()) => CoreOutcome::Values(results.iter().map(from_wasmtime).collect()),
            Err(e) => CoreOutcome::Trap(wasmtime_trap_name(&e)),
        };
        log.push(format!("{name}{args:?} -> {ko:?}"));
        if ko == wo {
            crate::stats::bump(match ko {
                CoreOutcome::Trap(_) => &crate::stats::CORE_TRAPS,
                CoreOutcome::Values(_) => &crate::stats::CORE_VALUES,
            });
        } else {
            return Ok(Some(format!(
                "call {name}{args:?}: kiln {ko:?}, wasmtime {wo:?}\ncalls before:\n{}",
                log.join("\n")
            )));
        }
        // Side effects (also those before a trap) must match after every call.
        if let Some(why) = compare_state(&kinst, &winst, &mut store)? {
            return Ok(Some(format!(
                "after call {name}{args:?}: {why}\ncalls:\n{}",
                log.join("\n")
            )));
        }
    }
    Ok(None)
}

/// Compares exported globals and memories.
fn compare_state(
    kinst: &kiln_runtime::Instance,
    winst: &wasmtime::Instance,
    store: &mut wasmtime::Store<()>,
) -> Result<Option<String>> {
    for (name, ext) in kinst.exports() {
        match ext {
            kiln_runtime::Extern::Global(g) => {
                let Some(wg) = winst.get_global(&mut *store, &name) else {
                    return Ok(Some(format!("wasmtime lacks global {name}")));
                };
                let (k, w) = (from_kiln(&g.get()), from_wasmtime(&wg.get(&mut *store)));
                if k != w {
                    return Ok(Some(format!("global {name}: kiln {k:?}, wasmtime {w:?}")));
                }
            }
            kiln_runtime::Extern::Memory(m) => {
                let Some(wm) = winst.get_memory(&mut *store, &name) else {
                    return Ok(Some(format!("wasmtime lacks memory {name}")));
                };
                let wdata = wm.data(&*store);
                if m.data_size() != wdata.len() as u64 {
                    return Ok(Some(format!(
                        "memory {name}: kiln {} bytes, wasmtime {}",
                        m.data_size(),
                        wdata.len()
                    )));
                }
                let mut kdata = vec![0u8; wdata.len()];
                m.read(0, &mut kdata)
                    .map_err(|e| anyhow!("kiln memory read: {e}"))?;
                if let Some(i) = kdata.iter().zip(wdata).position(|(a, b)| a != b) {
                    return Ok(Some(format!(
                        "memory {name} differs at byte {i}: kiln {}, wasmtime {}",
                        kdata[i], wdata[i]
                    )));
                }
            }
            kiln_runtime::Extern::Table(t) => {
                let Some(wt) = winst.get_table(&mut *store, &name) else {
                    return Ok(Some(format!("wasmtime lacks table {name}")));
                };
                let (k, w) = (t.size(), wt.size(&*store));
                if k != w {
                    return Ok(Some(format!("table {name}: kiln size {k}, wasmtime {w}")));
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

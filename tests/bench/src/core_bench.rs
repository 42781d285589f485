//! Core-module runtime rows: load (`.so` dlopen + checks vs `Module::deserialize_file` of a
//! `.cwasm`; the compile rows' components too, vs `component::Component::deserialize_file`), instantiate (empty, 2-page memory touched, 1 MiB data with and without touching;
//! wasmtime with and without the pooling allocator) and calls (host→guest nop and add,
//! guest→host nop).

use crate::engines::{wasmtime_engine, wasmtime_store, Kx};
use crate::report_types::Row;
use crate::stats::{per_op_ns, Summary};
use anyhow::{Context, Result};
use kiln_runtime::{FuncType, Linker, Module, Val};
use std::path::{Path, PathBuf};

/// Iteration counts and repetitions for the runtime rows.
#[derive(Clone, Copy)]
pub struct Sizes {
    /// Repetitions of every measurement (the median is reported).
    pub reps: usize,
    /// Operations per repetition for instantiate/load rows.
    pub inst_iters: u64,
    /// Operations per repetition for call rows.
    pub call_iters: u64,
}

/// Compiles WAT text with kiln into `<work>/<name>.so` and with wasmtime into a module.
pub fn compile_both(
    wat_text: &str,
    name: &str,
    work: &Path,
    engine: &wasmtime::Engine,
) -> Result<(PathBuf, wasmtime::Module)> {
    let wasm = wat::parse_str(wat_text).with_context(|| format!("parse {name}"))?;
    let so = work.join(format!("{name}.so"));
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .kx()?;
    let module = wasmtime::Module::new(engine, &wasm)?;
    Ok((so, module))
}

fn med(s: Summary) -> Option<f64> {
    Some(s.median)
}

/// A compiled artifact of the compile rows, loaded by the load rows.
pub struct Artifact {
    /// Input name.
    pub name: String,
    /// kiln's shared object.
    pub so: PathBuf,
    /// wasmtime's serialised artifact.
    pub cwasm: PathBuf,
    /// A component (`Component::load` / `component::Component::deserialize_file`).
    pub component: bool,
}

/// Load rows for the compile rows' artifacts.
pub fn load_rows(artifacts: &[Artifact], sizes: Sizes) -> Result<Vec<Row>> {
    let kengine = kiln_runtime::Engine::default();
    let wengine = wasmtime_engine(false)?;
    let mut rows = Vec::new();
    for Artifact {
        name,
        so,
        cwasm,
        component,
    } in artifacts
    {
        // Large inputs load in milliseconds: fewer operations per repetition.
        let big = std::fs::metadata(so).map_or(0, |m| m.len()) > (8 << 20);
        let iters = if big {
            3
        } else {
            (sizes.inst_iters / 20).max(5)
        };
        let k = per_op_ns(sizes.reps, iters, || {
            if *component {
                drop(kiln_runtime::Component::load(&kengine, so).expect("kiln load"));
            } else {
                drop(Module::load(&kengine, so).expect("kiln load"));
            }
        });
        let w = per_op_ns(sizes.reps, iters, || {
            // SAFETY (both): the file was written by `Engine::precompile_module` /
            // `precompile_component` of an engine with the same configuration in this run,
            // and nothing modifies it meanwhile.
            if *component {
                let c =
                    unsafe { wasmtime::component::Component::deserialize_file(&wengine, cwasm) }
                        .expect("wasmtime deserialize");
                drop(c);
            } else {
                let m = unsafe { wasmtime::Module::deserialize_file(&wengine, cwasm) }
                    .expect("wasmtime deserialize");
                drop(m);
            }
        });
        eprintln!(
            "  load {name}: kiln {:.0} ns, wasmtime {:.0} ns",
            k.median, w.median
        );
        let (k, w) = (med(k).map(|v| v / 1e3), med(w).map(|v| v / 1e3));
        rows.push(
            Row::new(format!("load {name}"), "µs")
                .col("kiln (.so)", k)
                .col("wasmtime (.cwasm)", w)
                .ratio_of(k, w)
                .goal("≤ 1.0×"),
        );
    }
    Ok(rows)
}

/// Instantiate rows.
pub fn instantiate_rows(work: &Path, sizes: Sizes) -> Result<Vec<Row>> {
    let kengine = kiln_runtime::Engine::default();
    let on_demand = wasmtime_engine(false)?;
    let pooling = wasmtime_engine(true)?;
    let data = crate::inputs::data_wat();
    let cases: [(&str, &str, &str, bool, Option<f64>); 5] = [
        (
            "empty module",
            "empty",
            crate::inputs::EMPTY_WAT,
            false,
            Some(0.5),
        ),
        (
            "2-page memory",
            "mem",
            crate::inputs::MEMORY_WAT,
            false,
            None,
        ),
        (
            "2-page memory, 2 pages touched",
            "mem",
            crate::inputs::MEMORY_WAT,
            true,
            None,
        ),
        ("1 MiB data", "data", &data, false, Some(2.0)),
        ("1 MiB data, 2 pages touched", "data", &data, true, None),
    ];
    let mut rows = Vec::new();
    for (label, file, text, touch, goal) in cases {
        let (so, wmod) = compile_both(text, file, work, &on_demand)?;
        let wmod_pool = wasmtime::Module::new(&pooling, wat::parse_str(text)?)?;
        let kmod = Module::load(&kengine, &so).kx()?;
        let iters = sizes.inst_iters;
        // Both engines instantiate through a pre-instantiated module (imports resolved once).
        let kpre = Linker::new(&kengine).instantiate_pre(&kmod).kx()?;
        let k = per_op_ns(sizes.reps, iters, || {
            let i = kpre.instantiate().expect("kiln instantiate");
            if touch {
                i.get_func("touch")
                    .expect("touch")
                    .call(&[])
                    .expect("touch");
            }
            drop(i);
        });
        let wasmtime_case = |engine: &wasmtime::Engine, m: &wasmtime::Module| -> Result<Summary> {
            let linker = wasmtime::Linker::<()>::new(engine);
            let pre = linker.instantiate_pre(m)?;
            Ok(per_op_ns(sizes.reps, iters, || {
                let mut store = wasmtime_store(engine);
                let i = pre.instantiate(&mut store).expect("wasmtime instantiate");
                if touch {
                    let f = i
                        .get_typed_func::<(), ()>(&mut store, "touch")
                        .expect("touch");
                    f.call(&mut store, ()).expect("touch");
                }
                drop(store);
            }))
        };
        let w = wasmtime_case(&on_demand, &wmod)?;
        let p = wasmtime_case(&pooling, &wmod_pool)?;
        eprintln!(
            "  instantiate {label}: kiln {:.0} ns, wasmtime {:.0} ns, pooling {:.0} ns",
            k.median, w.median, p.median
        );
        let (k, w, p) = (
            med(k).map(|v| v / 1e3),
            med(w).map(|v| v / 1e3),
            med(p).map(|v| v / 1e3),
        );
        let goal = match goal {
            None => String::new(),
            Some(g) => {
                let met = k.is_some_and(|k| k <= g);
                format!("≤ {g} µs ({})", if met { "met" } else { "not met" })
            }
        };
        rows.push(
            Row::new(format!("instantiate: {label}"), "µs")
                .col("kiln", k)
                .col("wasmtime on-demand", w)
                .col("wasmtime pooling", p)
                .ratio_of(k, p)
                .goal(goal),
        );
    }
    Ok(rows)
}

/// Call rows (core modules).
pub fn call_rows(work: &Path, sizes: Sizes) -> Result<Vec<Row>> {
    let kengine = kiln_runtime::Engine::default();
    let wengine = wasmtime_engine(false)?;
    let (so, wmod) = compile_both(crate::inputs::CALLS_WAT, "calls", work, &wengine)?;
    let kmod = Module::load(&kengine, &so).kx()?;
    let mut linker = Linker::new(&kengine);
    linker.func_new(
        "host",
        "nop",
        FuncType {
            params: vec![],
            results: vec![],
        },
        |_, _, _| Ok(()),
    );
    let ki = linker.instantiate(&kmod).kx()?;
    let knop = ki.get_func("nop").context("nop")?;
    let kadd = ki.get_func("add").context("add")?;
    let knop_t = knop.typed::<(), ()>().kx()?;
    let kadd_t = kadd.typed::<(i32, i32), i32>().kx()?;
    let khost = ki.get_func("call_host").context("call_host")?;
    // The same module whose host import is a typed host function (`func_wrap`, as wasmtime's).
    let mut wrapped = Linker::new(&kengine);
    wrapped.func_wrap("host", "nop", |_, ()| Ok(()));
    let ki_wrapped = wrapped.instantiate(&kmod).kx()?;
    let khost_wrapped = ki_wrapped.get_func("call_host").context("call_host")?;

    let mut wl = wasmtime::Linker::<()>::new(&wengine);
    wl.func_wrap("host", "nop", || {})?;
    let mut store = wasmtime_store(&wengine);
    let wi = wl.instantiate(&mut store, &wmod)?;
    let wnop = wi.get_typed_func::<(), ()>(&mut store, "nop")?;
    let wadd = wi.get_typed_func::<(i32, i32), i32>(&mut store, "add")?;
    let whost = wi.get_typed_func::<i32, ()>(&mut store, "call_host")?;
    let wnop_dyn = wi.get_func(&mut store, "nop").context("nop")?;
    let wadd_dyn = wi.get_func(&mut store, "add").context("add")?;

    let n = sizes.call_iters;
    let r = sizes.reps;
    let k_nop = per_op_ns(r, n, || {
        knop.call(&[]).expect("nop");
    });
    let kt_nop = per_op_ns(r, n, || knop_t.call(()).expect("nop"));
    let w_nop = per_op_ns(r, n, || wnop.call(&mut store, ()).expect("nop"));
    let wd_nop = per_op_ns(r, n, || {
        wnop_dyn.call(&mut store, &[], &mut []).expect("nop")
    });
    let args = [Val::I32(1), Val::I32(2)];
    let k_add = per_op_ns(r, n, || {
        let v = kadd.call(&args).expect("add");
        std::hint::black_box(v);
    });
    let kt_add = per_op_ns(r, n, || {
        std::hint::black_box(kadd_t.call((1, 2)).expect("add"));
    });
    let w_add = per_op_ns(r, n, || {
        std::hint::black_box(wadd.call(&mut store, (1, 2)).expect("add"));
    });
    let wargs = [wasmtime::Val::I32(1), wasmtime::Val::I32(2)];
    let mut wres = [wasmtime::Val::I32(0)];
    let wd_add = per_op_ns(r, n, || {
        wadd_dyn.call(&mut store, &wargs, &mut wres).expect("add")
    });
    // Guest→host: one call of `call_host(n)` per repetition, per-call time.
    let hn = (n * 10).min(i32::MAX as u64) as i32;
    let k_host = per_op_ns(r, 1, || {
        khost.call(&[Val::I32(hn)]).expect("call_host");
    });
    let kw_host = per_op_ns(r, 1, || {
        khost_wrapped
            .call(&[Val::I32(hn)])
            .expect("call_host (func_wrap)");
    });
    let w_host = per_op_ns(r, 1, || whost.call(&mut store, hn).expect("call_host"));
    let per = |s: Summary| Some(s.median / hn as f64);
    let mut rows = Vec::new();
    // Typed against typed: the ratio compares kiln's TypedFunc with wasmtime's.
    let mut push = |name: &str, kt: Summary, k: Summary, w: Summary, wd: Summary, goal: &str| {
        eprintln!(
            "  call {name}: kiln typed {:.1} ns, kiln {:.1} ns, wasmtime typed {:.1} ns",
            kt.median, k.median, w.median
        );
        rows.push(
            Row::new(name, "ns")
                .col("kiln TypedFunc", med(kt))
                .col("kiln (Func::call)", med(k))
                .col("wasmtime TypedFunc", med(w))
                .col("wasmtime Func::call", med(wd))
                .ratio_of(med(kt), med(w))
                .goal(goal),
        );
    };
    push(
        "host→guest core nop",
        kt_nop,
        k_nop,
        w_nop,
        wd_nop,
        "≤ 5 ns",
    );
    push(
        "host→guest core add(i32, i32)",
        kt_add,
        k_add,
        w_add,
        wd_add,
        "",
    );
    let (kh, kwh, wh) = (per(k_host), per(kw_host), per(w_host));
    eprintln!("  call guest→host: kiln {kh:?} ns (func_wrap {kwh:?}), wasmtime {wh:?} ns");
    // Host side: kiln `func_wrap` in the typed column, `func_new` (dynamic `Val`s) in the
    // dynamic one; wasmtime's host function is a `func_wrap` closure.
    rows.push(
        Row::new("guest→host nop (per call, in a guest loop)", "ns")
            .col("kiln TypedFunc", kwh)
            .col("kiln (Func::call)", kh)
            .col("wasmtime TypedFunc", wh)
            .col("wasmtime Func::call", None)
            .ratio_of(kwh, wh),
    );
    Ok(rows)
}

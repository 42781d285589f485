//! Rows for components loaded as plugins: instantiate of the WASI-importing components (with
//! each engine's WASI host), host→guest calls of the componentize-js component, and the
//! plugin-host rows (load + instantiate + first call + drop, first in a fresh process and
//! repeated in one process).

use crate::core_bench::Sizes;
use crate::engines::{wasmtime_engine, Kx};
use crate::plugins::{kiln_linker, kiln_once, wasmtime_linker, wasmtime_once, Plugin};
use crate::report_types::Row;
use crate::stats::{per_op_ns, summarize, Summary};
use anyhow::{bail, Context, Result};
use kiln_runtime::component::Val;
use kiln_runtime::Component;
use std::process::Command;
use std::time::Instant;

/// Operations per repetition for an operation of unknown cost: about 200 ms of work per
/// repetition (20 ms in smoke mode), at least 3 and at most `sizes.inst_iters`.
fn adaptive_iters(sizes: Sizes, mut op: impl FnMut()) -> u64 {
    op();
    let t = Instant::now();
    op();
    let one = t.elapsed().as_nanos().max(1) as f64;
    let budget = if sizes.reps > 1 { 200e6 } else { 20e6 };
    ((budget / one) as u64).clamp(3, sizes.inst_iters.max(3))
}

fn us(s: Summary) -> Option<f64> {
    Some(s.median / 1e3)
}

/// Writes `<work>/component.so` and `<work>/component.cwasm` (the WAT component for kiln and
/// wasmtime), so the plugin rows load it from files like the compiled inputs.
pub fn write_component_artifacts(work: &std::path::Path) -> Result<()> {
    let wasm = wat::parse_str(crate::inputs::component_wat()?)?;
    let so = work.join("component.so");
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .kx()?;
    let engine = wasmtime_engine(false)?;
    std::fs::write(
        work.join("component.cwasm"),
        engine.precompile_component(&wasm)?,
    )?;
    Ok(())
}

/// Instantiate rows for the plugins that import WASI (module already loaded; one operation =
/// instantiate with a fresh WASI state, drop).
pub fn wasi_instantiate_rows(
    plugins: &[Plugin],
    sizes: Sizes,
    notes: &mut Vec<String>,
) -> Result<Vec<Row>> {
    let kengine = kiln_runtime::Engine::default();
    let on_demand = wasmtime_engine(false)?;
    let pooling = wasmtime_engine(true)?;
    let mut rows = Vec::new();
    for p in plugins.iter().filter(|p| p.wasi) {
        match wasi_instantiate_row(p, sizes, &kengine, &on_demand, &pooling) {
            Ok(row) => rows.push(row),
            Err(e) => {
                eprintln!("  instantiate {}: not measured: {e:#}", p.name);
                notes.push(format!("instantiate: {} — {e:#}", p.name));
            }
        }
    }
    Ok(rows)
}

/// One WASI instantiate row.
fn wasi_instantiate_row(
    p: &Plugin,
    sizes: Sizes,
    kengine: &kiln_runtime::Engine,
    on_demand: &wasmtime::Engine,
    pooling: &wasmtime::Engine,
) -> Result<Row> {
    {
        let kcomp = Component::load(kengine, &p.so).kx()?;
        let linker = kiln_linker(kengine, true);
        let kop = || drop(linker.instantiate(&kcomp).expect("kiln instantiate"));
        let k = per_op_ns(sizes.reps, adaptive_iters(sizes, kop), kop);
        let winst = |engine: &wasmtime::Engine| -> Result<Summary> {
            // SAFETY: written by `precompile_component` of an engine with the same code
            // generation settings in this run (the compile rows); not modified meanwhile.
            let c = unsafe { wasmtime::component::Component::deserialize_file(engine, &p.cwasm) }?;
            let pre = wasmtime_linker(engine, true)?.instantiate_pre(&c)?;
            let op = || {
                let mut store = crate::plugins::wasmtime_store(engine);
                pre.instantiate(&mut store).expect("wasmtime instantiate");
            };
            Ok(per_op_ns(sizes.reps, adaptive_iters(sizes, op), op))
        };
        let w = winst(on_demand)?;
        // The pooling allocator's default per-component limits may not fit a large plugin.
        let pool = winst(pooling)
            .map_err(|e| eprintln!("  {}: no pooling figure: {e:#}", p.name))
            .ok();
        eprintln!(
            "  instantiate {} (WASI): kiln {:.0} ns, wasmtime {:.0} ns, pooling {:?} ns",
            p.name,
            k.median,
            w.median,
            pool.map(|s| s.median)
        );
        let pool_us = pool.and_then(us);
        Ok(
            Row::new(format!("instantiate: {} (with WASI)", p.name), "µs")
                .col("kiln", us(k))
                .col("wasmtime on-demand", us(w))
                .col("wasmtime pooling", pool_us)
                .ratio_of(us(k), pool_us.or(us(w)))
                .goal(if pool_us.is_some() {
                    ""
                } else {
                    "ratio vs on-demand (pooling limits exceeded)"
                }),
        )
    }
}

/// Host→guest calls of the componentize-js component: `greet(string) -> string` and
/// `sum(list<u32>) -> u64` (1000 elements), kiln dynamic and raw vs wasmtime `TypedFunc`.
pub fn js_call_rows(p: &Plugin, sizes: Sizes) -> Result<Vec<Row>> {
    let kengine = kiln_runtime::Engine::default();
    let kcomp = Component::load(&kengine, &p.so).kx()?;
    let ki = kiln_linker(&kengine, true).instantiate(&kcomp).kx()?;
    let kgreet = ki.get_func("greet").context("greet")?;
    let ksum = ki.get_func("sum").context("sum")?;
    let wengine = wasmtime_engine(false)?;
    // SAFETY: as in `wasi_instantiate_rows`.
    let wcomp = unsafe { wasmtime::component::Component::deserialize_file(&wengine, &p.cwasm) }?;
    let mut store = crate::plugins::wasmtime_store(&wengine);
    let wi = wasmtime_linker(&wengine, true)?.instantiate(&mut store, &wcomp)?;
    let wgreet = wi.get_typed_func::<(&str,), (String,)>(&mut store, "greet")?;
    let wsum = wi.get_typed_func::<(&[u32],), (u64,)>(&mut store, "sum")?;
    let r = sizes.reps;
    let mut rows = Vec::new();

    let name = "world";
    let args = [Val::String(name.into())];
    let greet_repr: [usize; 2] = [name.as_ptr() as usize, name.len()];
    let kd_op = || {
        std::hint::black_box(ki.call_func(&kgreet, &args).expect("greet"));
    };
    let kr_op = || {
        let mut res = [0u64; 2];
        // SAFETY: `greet(string) -> string`: the argument struct is `{ptr, len}` of valid
        // UTF-8 that outlives the call; the result is a 16-byte `{ptr, len}` within `res`,
        // read before the post-return.
        let ret =
            unsafe { ki.call_raw(&kgreet, greet_repr.as_ptr().cast(), res.as_mut_ptr().cast()) }
                .expect("greet raw");
        std::hint::black_box(res);
        ki.post_return_raw(&kgreet, ret).expect("post-return");
    };
    let iters = adaptive_iters(sizes, kd_op).max(sizes.call_iters / 100);
    let kd = per_op_ns(r, iters, kd_op);
    let kr = per_op_ns(r, iters, kr_op);
    let w = per_op_ns(r, iters, || {
        std::hint::black_box(wgreet.call(&mut store, (name,)).expect("greet"));
    });
    let (kd_s, wd_s) = (
        ki.call_func(&kgreet, &args).kx()?,
        wgreet.call(&mut store, (name,))?.0,
    );
    if kd_s != Some(Val::String(wd_s.clone())) {
        bail!("greet differs: kiln {kd_s:?}, wasmtime {wd_s:?}");
    }
    eprintln!(
        "  js greet: kiln {:.0} ns (raw {:.0}), wasmtime {:.0} ns",
        kd.median, kr.median, w.median
    );
    rows.push(
        Row::new("host→guest JS component greet(\"world\") → string", "ns")
            .col("kiln (dynamic Val)", Some(kd.median))
            .col("kiln TypedFunc", None)
            .col("kiln (raw C repr.)", Some(kr.median))
            .col("wasmtime TypedFunc", Some(w.median))
            .ratio_of(Some(kr.median), Some(w.median)),
    );

    let xs: Vec<u32> = (0..1000).collect();
    let want: u64 = xs.iter().map(|&x| u64::from(x)).sum();
    let largs = [Val::List(xs.iter().map(|&x| Val::U32(x)).collect())];
    let list_repr: [usize; 2] = [xs.as_ptr() as usize, xs.len()];
    let kd_op = || {
        std::hint::black_box(ki.call_func(&ksum, &largs).expect("sum"));
    };
    let kr_op = || {
        let mut res = [0u64; 1];
        // SAFETY: `sum(list<u32>) -> u64`: the argument struct is `{ptr, len}` of `len` u32
        // elements that outlive the call; the result is a u64 within `res`.
        let ret = unsafe { ki.call_raw(&ksum, list_repr.as_ptr().cast(), res.as_mut_ptr().cast()) }
            .expect("sum raw");
        assert_eq!(res[0], want, "sum");
        ki.post_return_raw(&ksum, ret).expect("post-return");
    };
    let iters = adaptive_iters(sizes, kd_op).max(sizes.call_iters / 1000);
    let kd = per_op_ns(r, iters, kd_op);
    let kr = per_op_ns(r, iters, kr_op);
    let w = per_op_ns(r, iters, || {
        let (s,) = wsum.call(&mut store, (&xs,)).expect("sum");
        assert_eq!(s, want, "sum");
    });
    eprintln!(
        "  js sum(1000 × u32): kiln {:.0} ns (raw {:.0}), wasmtime {:.0} ns",
        kd.median, kr.median, w.median
    );
    rows.push(
        Row::new(
            "host→guest JS component sum(list<u32>, 1000 elements)",
            "ns",
        )
        .col("kiln (dynamic Val)", Some(kd.median))
        .col("kiln TypedFunc", None)
        .col("kiln (raw C repr.)", Some(kr.median))
        .col("wasmtime TypedFunc", Some(w.median))
        .ratio_of(Some(kr.median), Some(w.median)),
    );
    Ok(rows)
}

/// One fresh-process measurement: this binary with `--child-plugin`, timed inside the child.
fn child_ns(engine: &str, p: &Plugin) -> Result<f64> {
    let o = Command::new(std::env::current_exe()?)
        .arg("--child-plugin")
        .arg(engine)
        .arg(p.call.as_str())
        .arg(if p.wasi { "wasi" } else { "none" })
        .arg(&p.so)
        .arg(&p.cwasm)
        .output()?;
    let out = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        bail!(
            "{engine} plugin child for {} failed: {}",
            p.name,
            String::from_utf8_lossy(&o.stderr)
        );
    }
    out.trim()
        .parse()
        .with_context(|| format!("unexpected child output {out:?}"))
}

/// The plugin-host rows: per plugin, load from the file + instantiate (with WASI where the
/// component imports it) + the first call + drop; first in a fresh process (`reps` children
/// per engine, interleaved) and repeated in this process.
pub fn plugin_host_rows(
    plugins: &[Plugin],
    sizes: Sizes,
    notes: &mut Vec<String>,
) -> Result<Vec<Row>> {
    let kengine = kiln_runtime::Engine::default();
    let wengine = wasmtime_engine(false)?;
    let mut rows = Vec::new();
    for p in plugins {
        match plugin_host_row(p, sizes, &kengine, &wengine) {
            Ok(row) => rows.push(row),
            Err(e) => {
                eprintln!("  plugin host {}: not measured: {e:#}", p.name);
                notes.push(format!("plugin host: {} — {e:#}", p.name));
            }
        }
    }
    Ok(rows)
}

/// One plugin-host row.
fn plugin_host_row(
    p: &Plugin,
    sizes: Sizes,
    kengine: &kiln_runtime::Engine,
    wengine: &wasmtime::Engine,
) -> Result<Row> {
    {
        let (mut kf, mut wf) = (Vec::new(), Vec::new());
        for _ in 0..sizes.reps {
            kf.push(child_ns("kiln", p)?);
            wf.push(child_ns("wasmtime", p)?);
        }
        let (kf, wf) = (summarize(kf), summarize(wf));
        kiln_once(kengine, p)?;
        wasmtime_once(wengine, p)?;
        let kop = || kiln_once(kengine, p).expect("kiln plugin");
        let k = per_op_ns(sizes.reps, adaptive_iters(sizes, kop), kop);
        let wop = || wasmtime_once(wengine, p).expect("wasmtime plugin");
        let w = per_op_ns(sizes.reps, adaptive_iters(sizes, wop), wop);
        eprintln!(
            "  plugin host {}: fresh process kiln {:.0} µs, wasmtime {:.0} µs; repeated kiln \
             {:.0} µs, wasmtime {:.0} µs",
            p.name,
            kf.median / 1e3,
            wf.median / 1e3,
            k.median / 1e3,
            w.median / 1e3
        );
        Ok(Row::new(
            format!(
                "plugin host: {}{}, first call {}",
                p.name,
                if p.wasi { " + WASI" } else { "" },
                p.call.describe()
            ),
            "µs",
        )
        .col("kiln, fresh process", us(kf))
        .col("wasmtime, fresh process", us(wf))
        .col("kiln, repeated", us(k))
        .col("wasmtime, repeated", us(w))
        .ratio_of(us(kf), us(wf)))
    }
}

/// Every plugin row for the compiled inputs `compiled` (artifact names in `work`): the WASI
/// instantiate rows, the JS call rows (when the JS component was compiled) and the
/// plugin-host rows.
/// A failure with one plugin becomes a line of `notes` (for "Not measured"), not an error.
pub fn plugin_rows(
    work: &std::path::Path,
    compiled: &[String],
    sizes: Sizes,
    notes: &mut Vec<String>,
) -> Result<(Vec<Row>, Vec<Row>, Vec<Row>)> {
    write_component_artifacts(work)?;
    let plugins = crate::plugins::plugins(work, compiled);
    eprintln!("WASI instantiate rows");
    let inst = wasi_instantiate_rows(&plugins, sizes, notes)?;
    let mut calls = Vec::new();
    if let Some(js) = plugins.iter().find(|p| p.name == "js-component") {
        eprintln!("JS call rows");
        match js_call_rows(js, sizes) {
            Ok(rows) => calls = rows,
            Err(e) => {
                eprintln!("  JS calls: not measured: {e:#}");
                notes.push(format!("calls: js-component — {e:#}"));
            }
        }
    }
    eprintln!("plugin-host rows");
    let host = plugin_host_rows(&plugins, sizes, notes)?;
    Ok((inst, calls, host))
}

/// The plugin-host section of the report.
pub fn plugin_section(rows: Vec<Row>) -> crate::report_types::Section {
    crate::report_types::Section {
        title: "Plugin host (load + instantiate + first call)".into(),
        about: "The cost a host pays per plugin: load the compiled component from its file, \
                make the linker (with the engine's WASI 0.2 host when the component imports \
                WASI; nothing granted), instantiate, make the first call through the typed \
                API, drop everything. kiln: `Component::load` of the `.so` + \
                `ComponentLinker` + `kiln_runtime::wasi::add_to_linker` + `instantiate` + \
                `typed_func(..).call`; wasmtime: `component::Component::deserialize_file` of \
                the `.cwasm` + `component::Linker` + `wasmtime_wasi::p2::add_to_linker_sync` \
                + `Store` with a `WasiCtx` + `instantiate` + `TypedFunc::call`. \"Fresh \
                process\": the first plugin of a new process (this binary re-executed with \
                `--child-plugin`, one child per repetition, timed inside the child; the engine \
                is made before the clock starts); \"repeated\": the same sequence again and \
                again in one process. The ratio compares the fresh-process figures."
            .into(),
        rows,
    }
}

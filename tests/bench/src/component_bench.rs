//! Component rows: instantiating the three-core-module component, host→guest calls (`nop`,
//! `len(string)` with 16 B / 1 KiB / 64 KiB strings) and component→component calls through
//! the fused adapter (the outer component's loop calling the inner one), kiln beside wasmtime.

use crate::engines::{wasmtime_engine, wasmtime_store, Kx};
use crate::report_types::Row;
use crate::stats::{per_op_ns, Summary};
use anyhow::{Context, Result};
use kiln_runtime::component::Val;
use kiln_runtime::{Component, ComponentLinker};
use std::path::Path;

use crate::core_bench::Sizes;

const SIZES: [(usize, &str); 3] = [(16, "16 B"), (1024, "1 KiB"), (65536, "64 KiB")];

fn med(s: Summary) -> Option<f64> {
    Some(s.median)
}

/// Every component row.
pub fn component_rows(work: &Path, sizes: Sizes) -> Result<Vec<Row>> {
    let wasm = wat::parse_str(crate::inputs::component_wat()?)?;
    let so = work.join("component.so");
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .kx()?;
    let kengine = kiln_runtime::Engine::default();
    let kcomp = Component::load(&kengine, &so).kx()?;
    let klinker = ComponentLinker::new(&kengine);
    let on_demand = wasmtime_engine(false)?;
    let wcomp = wasmtime::component::Component::new(&on_demand, &wasm)?;
    let (r, n) = (sizes.reps, sizes.call_iters);
    let mut rows = Vec::new();

    rows.push(instantiate_row(&kengine, &kcomp, &wasm, sizes)?);

    // Host→guest calls.
    let ki = klinker.instantiate(&kcomp).kx()?;
    let knop = ki.get_func("nop").context("nop")?;
    let klen = ki.get_func("len").context("len")?;
    let knop_t = ki.typed_func::<(), ()>("nop").kx()?;
    let kloop_nop = ki.get_func("call-nop").context("call-nop")?;
    let kloop_len = ki.get_func("call-len").context("call-len")?;
    let wl = wasmtime::component::Linker::<()>::new(&on_demand);
    let mut store = wasmtime_store(&on_demand);
    let wi = wl.instantiate(&mut store, &wcomp)?;
    let wnop = wi.get_typed_func::<(), ()>(&mut store, "nop")?;
    let wlen = wi.get_typed_func::<(&str,), (u32,)>(&mut store, "len")?;
    let wloop_nop = wi.get_typed_func::<(u32,), (u32,)>(&mut store, "call-nop")?;
    let wloop_len = wi.get_typed_func::<(u32, u32), (u32,)>(&mut store, "call-len")?;

    let k_nop = per_op_ns(r, n, || {
        ki.call_func(&knop, &[]).expect("nop");
    });
    let k_nop_raw = per_op_ns(r, n, || {
        let mut res = [0u64; 1];
        // SAFETY: `nop` has no parameters or result: neither buffer is read or written.
        let ret = unsafe { ki.call_raw(&knop, std::ptr::null(), res.as_mut_ptr().cast()) }
            .expect("nop raw");
        ki.post_return_raw(&knop, ret).expect("post-return");
    });
    let kt_nop = per_op_ns(r, n, || knop_t.call(()).expect("nop typed"));
    let w_nop = per_op_ns(r, n, || wnop.call(&mut store, ()).expect("nop"));
    eprintln!(
        "  component nop: kiln {:.1} ns (raw {:.1}), wasmtime {:.1} ns",
        k_nop.median, k_nop_raw.median, w_nop.median
    );
    rows.push(
        Row::new("host→guest component nop", "ns")
            .col("kiln (dynamic Val)", med(k_nop))
            .col("kiln TypedFunc", med(kt_nop))
            .col("kiln (raw C repr.)", med(k_nop_raw))
            .col("wasmtime TypedFunc", med(w_nop))
            .ratio_of(med(k_nop_raw), med(w_nop))
            .goal(goal_abs(med(k_nop_raw), 30.0, "ns")),
    );
    for (size, label) in SIZES {
        let s = "a".repeat(size);
        let args = [Val::String(s.clone())];
        let iters = (n / (1 + size as u64 / 1024)).max(100);
        let kd = per_op_ns(r, iters, || {
            let v = ki.call_func(&klen, &args).expect("len");
            std::hint::black_box(v);
        });
        let host_repr: [usize; 2] = [s.as_ptr() as usize, s.len()];
        let kr = per_op_ns(r, iters, || {
            let mut res = [0u64; 1];
            // SAFETY: `len(string) -> u32`: the argument struct is `{ptr, len}` of valid UTF-8
            // that outlives the call; the result is a u32 within `res`.
            let ret =
                unsafe { ki.call_raw(&klen, host_repr.as_ptr().cast(), res.as_mut_ptr().cast()) }
                    .expect("len raw");
            std::hint::black_box(res);
            ki.post_return_raw(&klen, ret).expect("post-return");
        });
        // Per size: the typed function's parameter lifetime is that of this string.
        let klen_t = ki.typed_func::<(&str,), u32>("len").kx()?;
        let kt = per_op_ns(r, iters, || {
            std::hint::black_box(klen_t.call((s.as_str(),)).expect("len typed"));
        });
        let w = per_op_ns(r, iters, || {
            std::hint::black_box(wlen.call(&mut store, (&s,)).expect("len"));
        });
        let mut copy_dst = vec![0u8; size];
        let memcpy = per_op_ns(r, iters, || {
            copy_dst.copy_from_slice(std::hint::black_box(s.as_bytes()));
            std::hint::black_box(&copy_dst);
        });
        eprintln!(
            "  component string {label}: kiln {:.1} ns (raw {:.1}), wasmtime {:.1} ns, memcpy {:.1} ns",
            kd.median, kr.median, w.median, memcpy.median
        );
        let goal = if size == 65536 {
            let g = memcpy.median + 50.0;
            format!(
                "≤ memcpy + 50 ns = {g:.0} ns ({})",
                if kr.median <= g { "met" } else { "not met" }
            )
        } else {
            String::new()
        };
        rows.push(
            Row::new(format!("host→guest component string {label}"), "ns")
                .col("kiln (dynamic Val)", med(kd))
                .col("kiln TypedFunc", med(kt))
                .col("kiln (raw C repr.)", med(kr))
                .col("wasmtime TypedFunc", med(w))
                .ratio_of(med(kr), med(w))
                .goal(goal),
        );
    }

    // Component→component through the fused adapter: the guest loops `m` times.
    let m = (n * 10).min(u32::MAX as u64) as u32;
    let kc = per_op_ns(r, 1, || {
        ki.call_func(&kloop_nop, &[Val::U32(m)]).expect("call-nop");
    });
    let wc = per_op_ns(r, 1, || {
        wloop_nop.call(&mut store, (m,)).expect("call-nop");
    });
    let per = |s: Summary, m: u32| Some(s.median / m as f64);
    eprintln!(
        "  component→component nop: kiln {:?} ns, wasmtime {:?} ns",
        per(kc, m),
        per(wc, m)
    );
    rows.push(
        Row::new("component→component nop (fused adapter)", "ns")
            .col("kiln (dynamic Val)", per(kc, m))
            .col("kiln TypedFunc", None)
            .col("kiln (raw C repr.)", None)
            .col("wasmtime TypedFunc", per(wc, m))
            .ratio_of(per(kc, m), per(wc, m))
            .goal(goal_ratio(per(kc, m), per(wc, m), 1.0, "× wasmtime")),
    );
    for (size, label) in SIZES {
        let mm = (m / (1 + size as u32 / 256)).max(100);
        let kc = per_op_ns(r, 1, || {
            ki.call_func(&kloop_len, &[Val::U32(mm), Val::U32(size as u32)])
                .expect("call-len");
        });
        let wc = per_op_ns(r, 1, || {
            wloop_len
                .call(&mut store, (mm, size as u32))
                .expect("call-len");
        });
        eprintln!(
            "  component→component string {label}: kiln {:?} ns, wasmtime {:?} ns",
            per(kc, mm),
            per(wc, mm)
        );
        rows.push(
            Row::new(format!("component→component string {label}"), "ns")
                .col("kiln (dynamic Val)", per(kc, mm))
                .col("kiln TypedFunc", None)
                .col("kiln (raw C repr.)", None)
                .col("wasmtime TypedFunc", per(wc, mm))
                .ratio_of(per(kc, mm), per(wc, mm))
                .goal(goal_ratio(per(kc, mm), per(wc, mm), 1.0, "× wasmtime")),
        );
    }
    Ok(rows)
}

fn goal_ratio(k: Option<f64>, w: Option<f64>, goal: f64, what: &str) -> String {
    match (k, w) {
        (Some(k), Some(w)) => format!(
            "≤ {goal}{what} ({})",
            if k / w <= goal { "met" } else { "not met" }
        ),
        _ => format!("≤ {goal}{what}"),
    }
}

fn goal_abs(k: Option<f64>, goal: f64, unit: &str) -> String {
    match k {
        Some(k) => format!(
            "≤ {goal} {unit} ({})",
            if k <= goal { "met" } else { "not met" }
        ),
        None => format!("≤ {goal} {unit}"),
    }
}

/// Compiles the three-core-module component and measures only its instantiate row.
pub fn component_instantiate_row(work: &Path, sizes: Sizes) -> Result<Row> {
    let wasm = wat::parse_str(crate::inputs::component_wat()?)?;
    let so = work.join("component.so");
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .kx()?;
    let kengine = kiln_runtime::Engine::default();
    let kcomp = Component::load(&kengine, &so).kx()?;
    instantiate_row(&kengine, &kcomp, &wasm, sizes)
}

/// The component instantiate row: kiln beside wasmtime on-demand and pooling.
fn instantiate_row(
    kengine: &kiln_runtime::Engine,
    kcomp: &Component,
    wasm: &[u8],
    sizes: Sizes,
) -> Result<Row> {
    // Both engines instantiate through a pre-instantiated component.
    let kpre = ComponentLinker::new(kengine).instantiate_pre(kcomp).kx()?;
    let on_demand = wasmtime_engine(false)?;
    let pooling = wasmtime_engine(true)?;
    let wcomp = wasmtime::component::Component::new(&on_demand, wasm)?;
    let wcomp_pool = wasmtime::component::Component::new(&pooling, wasm)?;
    let r = sizes.reps;
    let k = per_op_ns(r, sizes.inst_iters, || {
        drop(kpre.instantiate().expect("kiln instantiate"));
    });
    let winst =
        |engine: &wasmtime::Engine, c: &wasmtime::component::Component| -> Result<Summary> {
            let linker = wasmtime::component::Linker::<()>::new(engine);
            let pre = linker.instantiate_pre(c)?;
            Ok(per_op_ns(r, sizes.inst_iters, || {
                let mut store = wasmtime_store(engine);
                pre.instantiate(&mut store).expect("wasmtime instantiate");
            }))
        };
    let w = winst(&on_demand, &wcomp)?;
    let p = winst(&pooling, &wcomp_pool)?;
    eprintln!(
        "  component instantiate: kiln {:.0} ns, wasmtime {:.0} ns, pooling {:.0} ns",
        k.median, w.median, p.median
    );
    let us = |s: Summary| Some(s.median / 1e3);
    Ok(Row::new("instantiate: component with 3 core modules", "µs")
        .col("kiln", us(k))
        .col("wasmtime on-demand", us(w))
        .col("wasmtime pooling", us(p))
        .ratio_of(us(k), us(p))
        .goal(goal_ratio(us(k), us(p), 0.7, "× pooling")))
}

//! Component-model async rows: the overhead of an `async` call (a host→guest call of an
//! `async`-lifted export with a `callback` that delivers its result with `task.return` and
//! exits), and a 1 MiB `stream<u8>` moved through one instance (one 1 MiB write, 64 KiB
//! reads), kiln beside wasmtime 48 (`Func::call_async` on a store with component-model async).

use crate::engines::{wasmtime_config, Kx};
use crate::report_types::Row;
use crate::stats::{per_op_ns, Summary};
use anyhow::{Context, Result};
use kiln_runtime::component::Val;
use kiln_runtime::{Component, ComponentLinker};
use std::path::Path;

use crate::core_bench::Sizes;

/// An `async` export that returns at once: `task.return`, then EXIT.
const NOP_WAT: &str = r#"(component
  (core module $m
    (import "" "task.return" (func $tr))
    (func (export "nop") (result i32) (call $tr) (i32.const 0))
    (func (export "nop-cb") (param i32 i32 i32) (result i32) unreachable))
  (core func $tr (canon task.return))
  (core instance $i (instantiate $m (with "" (instance (export "task.return" (func $tr))))))
  (func (export "nop") async
    (canon lift (core func $i "nop") async (callback (core func $i "nop-cb"))))
)"#;

/// An `async` export that moves 1 MiB through a `stream<u8>` of its own instance: one write of
/// 1 MiB (pending), 16 reads of 64 KiB, then returns the byte count.
const STREAM_WAT: &str = r#"(component
  (core module $Mem (memory (export "mem") 17))
  (core instance $mem (instantiate $Mem))
  (core module $m
    (import "" "mem" (memory 17))
    (import "" "task.return" (func $tr (param i32)))
    (import "" "stream.new" (func $new (result i64)))
    (import "" "stream.read" (func $read (param i32 i32 i32) (result i32)))
    (import "" "stream.write" (func $write (param i32 i32 i32) (result i32)))
    (import "" "stream.cancel-write" (func $cancel-write (param i32) (result i32)))
    (import "" "stream.drop-readable" (func $drop-r (param i32)))
    (import "" "stream.drop-writable" (func $drop-w (param i32)))
    (func (export "run") (result i32)
      (local $s i64) (local $r i32) (local $w i32) (local $got i32) (local $ret i32)
      (local.set $s (call $new))
      (local.set $r (i32.wrap_i64 (local.get $s)))
      (local.set $w (i32.wrap_i64 (i64.shr_u (local.get $s) (i64.const 32))))
      (if (i32.ne (call $write (local.get $w) (i32.const 65536) (i32.const 1048576)) (i32.const -1))
        (then unreachable))
      (loop $l
        (local.set $ret (call $read (local.get $r) (i32.const 0) (i32.const 65536)))
        (if (i32.ne (i32.and (local.get $ret) (i32.const 0xf)) (i32.const 0)) (then unreachable))
        (local.set $got (i32.add (local.get $got) (i32.shr_u (local.get $ret) (i32.const 4))))
        (br_if $l (i32.lt_u (local.get $got) (i32.const 1048576))))
      (drop (call $cancel-write (local.get $w)))
      (call $drop-w (local.get $w))
      (call $drop-r (local.get $r))
      (call $tr (local.get $got))
      (i32.const 0))
    (func (export "run-cb") (param i32 i32 i32) (result i32) unreachable))
  (type $ST (stream u8))
  (core func $tr (canon task.return (result u32)))
  (core func $new (canon stream.new $ST))
  (core func $read (canon stream.read $ST async (memory (core memory $mem "mem"))))
  (core func $write (canon stream.write $ST async (memory (core memory $mem "mem"))))
  (core func $cancel-write (canon stream.cancel-write $ST))
  (core func $drop-r (canon stream.drop-readable $ST))
  (core func $drop-w (canon stream.drop-writable $ST))
  (core instance $i (instantiate $m (with "" (instance
    (export "mem" (memory $mem "mem"))
    (export "task.return" (func $tr))
    (export "stream.new" (func $new))
    (export "stream.read" (func $read))
    (export "stream.write" (func $write))
    (export "stream.cancel-write" (func $cancel-write))
    (export "stream.drop-readable" (func $drop-r))
    (export "stream.drop-writable" (func $drop-w))))))
  (func (export "run") async (result u32)
    (canon lift (core func $i "run") async (callback (core func $i "run-cb"))))
)"#;

fn med(s: Summary) -> Option<f64> {
    Some(s.median)
}

/// One component on both runtimes: kiln's instance and export, wasmtime's store and export.
struct Both {
    k: kiln_runtime::component::ComponentInstance,
    kf: kiln_runtime::component::ComponentFunc,
    store: wasmtime::Store<()>,
    wf: wasmtime::component::Func,
}

fn setup(work: &Path, name: &str, wat: &str, export: &str) -> Result<Both> {
    let wasm = wat::parse_str(wat)?;
    let so = work.join(format!("{name}.so"));
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .kx()?;
    let kengine = kiln_runtime::Engine::default();
    let kcomp = Component::load(&kengine, &so).kx()?;
    let k = ComponentLinker::new(&kengine).instantiate(&kcomp).kx()?;
    let kf = k.get_func(export).context("kiln export")?;
    let mut config = wasmtime_config(2, false);
    config.wasm_component_model_async(true);
    let engine = wasmtime::Engine::new(&config)?;
    let wcomp = wasmtime::component::Component::new(&engine, &wasm)?;
    let mut store = wasmtime::Store::new(&engine, ());
    store.set_epoch_deadline(u64::MAX / 4);
    let linker = wasmtime::component::Linker::<()>::new(&engine);
    let rt = runtime()?;
    let wi = rt.block_on(linker.instantiate_async(&mut store, &wcomp))?;
    let wf = wi.get_func(&mut store, export).context("wasmtime export")?;
    Ok(Both { k, kf, store, wf })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().build()?)
}

/// The async rows.
pub fn async_rows(work: &Path, sizes: Sizes) -> Result<Vec<Row>> {
    let (r, n) = (sizes.reps, sizes.call_iters);
    let rt = runtime()?;
    let mut rows = Vec::new();

    let mut nop = setup(work, "async-nop", NOP_WAT, "nop")?;
    let k_nop = per_op_ns(r, n, || {
        nop.k.call_func(&nop.kf, &[]).expect("kiln async nop");
    });
    let w_nop = per_op_ns(r, n, || {
        rt.block_on(nop.wf.call_async(&mut nop.store, &[], &mut []))
            .expect("wasmtime async nop");
    });
    eprintln!(
        "  async nop: kiln {:.1} ns, wasmtime {:.1} ns",
        k_nop.median, w_nop.median
    );
    rows.push(
        Row::new("host→guest async nop (callback lift, task.return)", "ns")
            .col("kiln", med(k_nop))
            .col("wasmtime call_async", med(w_nop))
            .ratio_of(med(k_nop), med(w_nop)),
    );

    let mut st = setup(work, "async-stream", STREAM_WAT, "run")?;
    let iters = (n / 100).max(20);
    let k_st = per_op_ns(r, iters, || {
        let out = st.k.call_func(&st.kf, &[]).expect("kiln stream");
        assert!(
            matches!(out, Some(Val::U32(1_048_576))),
            "kiln moved {out:?}"
        );
    });
    let w_st = per_op_ns(r, iters, || {
        let mut out = [wasmtime::component::Val::U32(0)];
        rt.block_on(st.wf.call_async(&mut st.store, &[], &mut out))
            .expect("wasmtime stream");
        assert!(matches!(out[0], wasmtime::component::Val::U32(1_048_576)));
    });
    eprintln!(
        "  1 MiB stream: kiln {:.1} µs, wasmtime {:.1} µs",
        k_st.median / 1000.0,
        w_st.median / 1000.0
    );
    rows.push(
        Row::new("stream<u8> of 1 MiB in one instance (64 KiB reads)", "µs")
            .col("kiln", Some(k_st.median / 1000.0))
            .col("wasmtime call_async", Some(w_st.median / 1000.0))
            .ratio_of(Some(k_st.median), Some(w_st.median)),
    );
    Ok(rows)
}

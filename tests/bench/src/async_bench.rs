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

/// A guest→guest `async` call: the outer component's callback-lifted `run` calls the inner
/// component's `async` `double` through an `async` lowering (a subtask), then returns its
/// result; minus the nop row, it is the cost of one async call between components.
const CALL_WAT: &str = r#"
(component
  (component $Inner
    (core module $m
      (import "" "task.return" (func $tr (param i32)))
      (func (export "double") (param $x i32) (result i32)
        (call $tr (i32.mul (local.get $x) (i32.const 2)))
        (i32.const 0))
      (func (export "double-cb") (param i32 i32 i32) (result i32) unreachable))
    (core func $tr (canon task.return (result u32)))
    (core instance $i (instantiate $m (with "" (instance (export "task.return" (func $tr))))))
    (func (export "double") async (param "x" u32) (result u32)
      (canon lift (core func $i "double") async (callback (core func $i "double-cb")))))
  (instance $inner (instantiate $Inner))
  (component $Outer
    (import "double" (func $d async (param "x" u32) (result u32)))
    (core module $Mem (memory (export "mem") 1))
    (core instance $mem (instantiate $Mem))
    (core module $m
      (import "" "mem" (memory 1))
      (import "" "task.return" (func $tr (param i32)))
      (import "" "double" (func $double (param i32 i32) (result i32)))
      (import "" "waitable-set.new" (func $ws.new (result i32)))
      (import "" "waitable.join" (func $join (param i32 i32)))
      (import "" "subtask.drop" (func $sdrop (param i32)))
      (import "" "waitable-set.drop" (func $ws.drop (param i32)))
      ;; RETURNED (2): the result is at 8 already; else wait for the subtask (WAIT = 2)
      (func (export "run") (result i32)
        (local $s i32) (local $ws i32)
        (local.set $s (call $double (i32.const 21) (i32.const 8)))
        (if (i32.eq (local.get $s) (i32.const 2))
          (then (call $tr (i32.load (i32.const 8))) (return (i32.const 0))))
        (local.set $ws (call $ws.new))
        (call $join (i32.shr_u (local.get $s) (i32.const 4)) (local.get $ws))
        (i32.store (i32.const 16) (local.get $ws))
        (i32.or (i32.const 2) (i32.shl (local.get $ws) (i32.const 4))))
      (func (export "run-cb") (param $ev i32) (param $h i32) (param $state i32) (result i32)
        (if (i32.eq (local.get $state) (i32.const 2))
          (then
            (call $join (local.get $h) (i32.const 0))
            (call $sdrop (local.get $h))
            (call $ws.drop (i32.load (i32.const 16)))
            (call $tr (i32.load (i32.const 8)))
            (return (i32.const 0))))
        (i32.or (i32.const 2) (i32.shl (i32.load (i32.const 16)) (i32.const 4)))))
    (core func $tr (canon task.return (result u32)))
    (core func $double (canon lower (func $d) async (memory (core memory $mem "mem"))))
    (core func $ws.new (canon waitable-set.new))
    (core func $join (canon waitable.join))
    (core func $sdrop (canon subtask.drop))
    (core func $ws.drop (canon waitable-set.drop))
    (core instance $i (instantiate $m (with "" (instance
      (export "mem" (memory $mem "mem"))
      (export "task.return" (func $tr))
      (export "double" (func $double))
      (export "waitable-set.new" (func $ws.new))
      (export "waitable.join" (func $join))
      (export "subtask.drop" (func $sdrop))
      (export "waitable-set.drop" (func $ws.drop))))))
    (func (export "run") async (result u32)
      (canon lift (core func $i "run") async (callback (core func $i "run-cb")))))
  (instance $outer (instantiate $Outer (with "double" (func $inner "double"))))
  (export "run" (func $outer "run")))
"#;

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

    let mut call = setup(work, "async-call", CALL_WAT, "run")?;
    // wasmtime 48 keeps an entry in its resource table for every subtask of `call_async`
    // calls on one store (its "resource table has no free keys" after enough of them): fewer.
    let calls = (n / 20).max(100);
    let k_call = per_op_ns(r, calls, || {
        let out = call.k.call_func(&call.kf, &[]).expect("kiln async call");
        assert!(matches!(out, Some(Val::U32(42))), "kiln gave {out:?}");
    });
    let w_call = per_op_ns(r, calls, || {
        let mut out = [wasmtime::component::Val::U32(0)];
        rt.block_on(call.wf.call_async(&mut call.store, &[], &mut out))
            .expect("wasmtime async call");
        assert!(matches!(out[0], wasmtime::component::Val::U32(42)));
    });
    eprintln!(
        "  guest→guest async call: kiln {:.1} ns, wasmtime {:.1} ns",
        k_call.median, w_call.median
    );
    rows.push(
        Row::new(
            "host→guest async call making one guest→guest async call (subtask)",
            "ns",
        )
        .col("kiln", med(k_call))
        .col("wasmtime call_async", med(w_call))
        .ratio_of(med(k_call), med(w_call)),
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

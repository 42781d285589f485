//! Component-model async through the host API: `tests/components/async.wat` compiled to a
//! real `.so`, loaded and called by the runtime. The reference tests' `async/` directory
//! (`component_conformance.rs`) checks the rules; this file checks what a host relies on:
//! results of async exports, a stackful task waiting for a subtask of another component, a
//! 1 MiB stream, traps (deadlock, a synchronous task that blocks, a trap inside a task) as
//! error values with the process going on, tasks still suspended when the instance is dropped,
//! and instances used from several threads.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::component::Val;
use kiln_runtime::{Component, ComponentInstance, ComponentLinker, Engine, Error};
use std::path::Path;

struct Compiled {
    _dir: TempDir,
    engine: Engine,
    component: Component,
}

fn compile() -> Compiled {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("components")
        .join("async.wat");
    let wasm = wat::parse_file(&path).expect("async.wat");
    let dir = TempDir::new("kiln-component-async").expect("temp dir");
    let so = dir.path().join("async.so");
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .expect("compile async.wat");
    let engine = Engine::default();
    let component = Component::load(&engine, &so).expect("load");
    Compiled {
        _dir: dir,
        engine,
        component,
    }
}

fn instance(c: &Compiled) -> ComponentInstance {
    ComponentLinker::new(&c.engine)
        .instantiate(&c.component)
        .expect("instantiate")
}

fn trap_message(r: Result<Option<Val>, Error>) -> String {
    match r {
        Err(Error::Trap(t)) => t.rendered(),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn async_exports_return_their_results() {
    let c = compile();
    let i = instance(&c);
    for _ in 0..1000 {
        assert_eq!(i.call("answer", &[]).expect("answer"), Some(Val::U32(42)));
    }
    // A stackful task that calls another component asynchronously and waits for the subtask.
    for x in [0u32, 5, 1000] {
        assert_eq!(
            i.call("quadruple", &[Val::U32(x)]).expect("quadruple"),
            Some(Val::U32(4 * x))
        );
    }
}

#[test]
fn a_mebibyte_moves_through_a_stream() {
    let c = compile();
    let i = instance(&c);
    for _ in 0..3 {
        assert_eq!(
            i.call("stream", &[]).expect("stream"),
            Some(Val::U32(1 << 20))
        );
    }
}

#[test]
fn deadlocks_and_blocking_synchronous_tasks_are_traps() {
    let c = compile();
    let m = trap_message(instance(&c).call("deadlock", &[]));
    assert!(m.contains("deadlock detected"), "{m}");
    let m = trap_message(instance(&c).call("sync-wait", &[]));
    assert!(
        m.contains("cannot block a synchronous task before returning"),
        "{m}"
    );
    let m = trap_message(instance(&c).call("boom", &[]));
    assert!(m.contains("unreachable"), "{m}");
    // A guest that starts threads without end is stopped at the runtime's bound.
    let m = trap_message(instance(&c).call("spawn-forever", &[]));
    assert!(m.contains("too many tasks and threads"), "{m}");
    // The process goes on, and a new instance works.
    assert_eq!(
        instance(&c).call("answer", &[]).expect("answer"),
        Some(Val::U32(42))
    );
}

#[test]
fn tasks_left_waiting_are_cancelled_when_the_instance_goes() {
    let c = compile();
    for _ in 0..50 {
        let i = instance(&c);
        // `linger` returns 7, then waits forever on an empty set: its fiber stays suspended.
        assert_eq!(i.call("linger", &[]).expect("linger"), Some(Val::U32(7)));
        assert_eq!(i.call("linger", &[]).expect("linger"), Some(Val::U32(7)));
        drop(i);
    }
}

#[test]
fn instances_run_async_calls_on_several_threads() {
    let c = compile();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let c = &c;
            s.spawn(move || {
                let i = instance(c);
                for x in 0..100 {
                    assert_eq!(
                        i.call("quadruple", &[Val::U32(x + t)]).expect("quadruple"),
                        Some(Val::U32(4 * (x + t)))
                    );
                }
                assert_eq!(
                    i.call("stream", &[]).expect("stream"),
                    Some(Val::U32(1 << 20))
                );
            });
        }
    });
}

/// The Rust guest of `tests/async-guests/rust` (wit-bindgen's async support), built for
/// `wasm32-wasip2` and cached; `None` (with the reason printed) where the target is missing.
fn rust_guest() -> Option<std::path::PathBuf> {
    use kiln_tests::guest_build::{build_wasip2_guest, cache_dir, wasip2_target_missing};
    if let Some(why) = wasip2_target_missing() {
        eprintln!("skipping the Rust async guest: {why}");
        return None;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("async-guests/rust");
    Some(build_wasip2_guest(
        &src,
        &cache_dir().join("kiln-async-guests"),
        "async_guest",
    ))
}

/// What `sum-stream(n)` must return: the sum of the bytes the guest's writer sends, `i % 251`
/// for `i` in each 4 KiB chunk.
fn expected_sum(n: u32) -> u64 {
    let mut left = n as u64;
    let mut total = 0;
    while left > 0 {
        let chunk = left.min(4096);
        total += (0..chunk).map(|i| i % 251).sum::<u64>();
        left -= chunk;
    }
    total
}

#[test]
fn a_rust_async_guest_runs_its_spawned_tasks_and_streams() {
    let Some(wasm) = rust_guest() else { return };
    let dir = TempDir::new("kiln-async-guest").expect("temp dir");
    let so = dir.path().join("guest.so");
    let bytes = std::fs::read(&wasm).expect("read the guest");
    kiln_compiler::compile_to_file(&bytes, &Default::default(), kiln_compiler::Emit::So, &so)
        .expect("compile the guest");
    let engine = Engine::default();
    let component = Component::load(&engine, &so).expect("load");
    let mut linker = ComponentLinker::new(&engine);
    kiln_runtime::wasi::add_to_linker(&mut linker, kiln_runtime::wasi::WasiConfig::new());
    let i = linker.instantiate(&component).expect("instantiate");
    assert_eq!(
        i.call("double", &[Val::U32(21)]).expect("double"),
        Some(Val::U32(42))
    );
    for n in [0u32, 1, 4095, 4096, 100_000, 1 << 20] {
        assert_eq!(
            i.call("sum-stream", &[Val::U32(n)]).expect("sum-stream"),
            Some(Val::U64(expected_sum(n))),
            "sum-stream({n})"
        );
    }
}

#[test]
fn tasks_suspended_in_guest_code_keep_the_instance_on_their_thread() {
    let c = compile();
    let i = instance(&c);
    // Finished tasks leave nothing behind: another thread may call.
    assert_eq!(i.call("answer", &[]).expect("answer"), Some(Val::U32(42)));
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(i.call("answer", &[]).expect("answer"), Some(Val::U32(42))));
    });
    // A callback task waiting for events holds no guest frames: other threads may call.
    assert_eq!(i.call("linger", &[]).expect("linger"), Some(Val::U32(7)));
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(i.call("answer", &[]).expect("answer"), Some(Val::U32(42))));
    });
    // A stackful task suspended inside guest code keeps the store entered by this thread.
    assert_eq!(
        i.call("linger-stackful", &[]).expect("linger-stackful"),
        Some(Val::U32(7))
    );
    std::thread::scope(|s| {
        s.spawn(|| match i.call("answer", &[]) {
            Err(Error::Busy(_)) => {}
            other => panic!("expected Busy from another thread, got {other:?}"),
        });
    });
    // This thread goes on using it.
    assert_eq!(i.call("answer", &[]).expect("answer"), Some(Val::U32(42)));
}

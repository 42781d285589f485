//! The thread and limit model (docs/runtime-api.md, "Threads, stores and limits"), through the
//! real path: modules compiled from `.wat` to `.so`, loaded and called by the runtime.
//!
//! - A store (the instances linked together) runs one thread at a time: a second thread's
//!   entry is `Error::Busy`, never a corrupted instance or a spurious trap.
//! - Every guest frame on a thread is limited by that thread's stack limit, whatever instance
//!   it belongs to; host functions recursing through guests end in a stack-overflow trap.
//! - Objects of two engines never meet; tables never move under concurrent readers.
//! - A `ResourceLimiter` bounds memory and table growth and the instance count.

use kiln_environ::{TableType, TrapKind, ValType};
use kiln_runtime::{
    Engine, Error, Extern, Func, FuncType, Instance, Linker, StoreLimits, Table, Val,
};
use kiln_tests::load_wat;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

fn trap_kind<T: std::fmt::Debug>(r: Result<T, Error>) -> TrapKind {
    match r {
        Err(Error::Trap(t)) => t.kind,
        other => panic!("expected a trap, got {other:?}"),
    }
}

fn i32_of(r: Vec<Val>) -> i32 {
    match r[..] {
        [Val::I32(v)] => v,
        ref o => panic!("expected one i32, got {o:?}"),
    }
}

/// A guest blocked inside a host function holds its store: another thread's call into the
/// same instance is refused with `Error::Busy`, and the instance works afterwards.
#[test]
fn a_second_thread_entering_a_running_store_is_busy() {
    let engine = Engine::default();
    let wat = r#"(module
      (import "host" "block" (func $block))
      (global $n (mut i32) (i32.const 0))
      (func (export "enter") (call $block))
      (func (export "bump") (result i32)
        (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (global.get $n)))"#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let inside = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let (i2, r2) = (inside.clone(), release.clone());
    let block = Func::new(&engine, FuncType::default(), move |_, _, _| {
        i2.wait();
        r2.wait();
        Ok(())
    });
    let inst = Instance::new(&module, &[Extern::Func(block)]).unwrap();
    let enter = inst.get_func("enter").unwrap();
    let t = std::thread::spawn(move || enter.call(&[]).map(|_| ()));
    inside.wait();
    // The other thread is inside the store: refused, whichever export.
    let bump = inst.get_func("bump").unwrap();
    match bump.call(&[]) {
        Err(Error::Busy(m)) => assert!(m.contains("another thread"), "{m}"),
        other => panic!("expected Error::Busy, got {other:?}"),
    }
    release.wait();
    t.join().unwrap().unwrap();
    // Nothing was corrupted: the refused call did not run.
    assert_eq!(i32_of(bump.call(&[]).unwrap()), 1);
}

/// Many threads hammering one instance: every call either runs to its exact result or is
/// `Error::Busy`; no spurious stack-overflow traps, no lost updates.
#[test]
fn concurrent_calls_into_one_instance_are_serialized_or_refused() {
    let engine = Engine::default();
    // The C host's module (`work`, `count`), with a table of its own.
    let (_so, module) = load_wat(&engine, C_HOST_MODULE).unwrap();
    let ty = TableType {
        element: ValType::ExternRef,
        min: 1,
        max: None,
    };
    let table = Table::new(&engine, ty, Val::ExternRef(None)).unwrap();
    let inst = Instance::new(&module, &[Extern::Table(table)]).unwrap();
    let (ok, busy) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let work = inst.get_func("work").unwrap();
                for k in 0..3000 {
                    let n = 100 + (k % 50);
                    match work.call(&[Val::I32(n)]) {
                        Ok(r) => {
                            assert_eq!(i32_of(r), n * (n - 1) / 2);
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Error::Busy(_)) => {
                            busy.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
            });
        }
    });
    let ok = ok.load(Ordering::Relaxed);
    assert_eq!(ok + busy.load(Ordering::Relaxed), 4 * 3000);
    // Every call that ran counted itself exactly once: no two ran at the same time.
    let count = i32_of(inst.get_func("count").unwrap().call(&[]).unwrap());
    assert_eq!(count as u64, ok);
}

/// A function of one instance reached through another instance's table runs under the
/// calling thread's stack limit: unbounded recursion across the two is a clean trap.
#[test]
fn recursion_through_another_instances_table_traps() {
    let engine = Engine::default();
    let a = r#"(module
      (table (export "t") 2 funcref)
      (type $t (func (param i32) (result i32)))
      (func $down (param i32) (result i32)
        (call_indirect (type $t) (i32.add (local.get 0) (i32.const 1)) (i32.const 1)))
      (elem (i32.const 0) $down))"#;
    let b = r#"(module
      (import "a" "t" (table 2 funcref))
      (type $t (func (param i32) (result i32)))
      (func $up (param i32) (result i32)
        (call_indirect (type $t) (i32.add (local.get 0) (i32.const 1)) (i32.const 0)))
      (elem (i32.const 1) $up)
      (func (export "go") (result i32) (call $up (i32.const 0))))"#;
    let (_s1, ma) = load_wat(&engine, a).unwrap();
    let (_s2, mb) = load_wat(&engine, b).unwrap();
    let ia = Instance::new(&ma, &[]).unwrap();
    let t = ia.get_export("t").unwrap();
    let ib = Instance::new(&mb, &[t]).unwrap();
    assert!(Instance::same_store(&ia, &ib));
    let go = ib.get_func("go").unwrap();
    // On a small thread stack too: the limit is clamped to leave the host its reserve.
    for stack in [8 << 20, 256 << 10] {
        let go = go.clone();
        let r = std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || trap_kind(go.call(&[])))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(r, TrapKind::StackOverflow);
    }
}

/// A host function calling back into the guest that called it, without end, ends in a
/// stack-overflow trap (the nesting runs on one thread stack: guest frames check the limit,
/// host calls check the reserve).
#[test]
fn host_and_guest_recursing_through_each_other_trap() {
    let engine = Engine::default();
    let wat = r#"(module
      (import "host" "again" (func $again (param i32) (result i32)))
      (func (export "f") (param i32) (result i32)
        (call $again (i32.add (local.get 0) (i32.const 1)))))"#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let slot: Arc<std::sync::OnceLock<Func>> = Arc::new(std::sync::OnceLock::new());
    let s2 = slot.clone();
    let ty = FuncType {
        params: vec![ValType::I32],
        results: vec![ValType::I32],
    };
    let again = Func::new(&engine, ty, move |_, args, results| {
        let f = s2.get().expect("set before the call");
        let r = f.call(args).map_err(|e| match e {
            Error::Trap(t) => t,
            e => kiln_runtime::Trap::host(e.to_string()),
        })?;
        results[0] = r[0].clone();
        Ok(())
    });
    let inst = Instance::new(&module, &[Extern::Func(again)]).unwrap();
    let f = inst.get_func("f").unwrap();
    slot.set(f.clone()).ok();
    let r = std::thread::Builder::new()
        .stack_size(4 << 20)
        .spawn(move || trap_kind(f.call(&[Val::I32(0)])))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(r, TrapKind::StackOverflow);
}

/// Objects of two engines never meet: linking, table and global setters, call arguments.
#[test]
fn objects_of_two_engines_do_not_mix() {
    let (e1, e2) = (Engine::default(), Engine::default());
    let wat = r#"(module
      (import "m" "f" (func (param i32) (result i32)))
      (table (export "t") 1 funcref)
      (global (export "g") (mut funcref) (ref.null func))
      (func (export "call0") (param i32) (result i32)
        (call_indirect (param i32) (result i32) (local.get 0) (i32.const 0)))
      (func (export "take") (param funcref)))"#;
    let (_s1, m1) = load_wat(&e1, wat).unwrap();
    let ty = FuncType {
        params: vec![ValType::I32],
        results: vec![ValType::I32],
    };
    let f1 = Func::new(&e1, ty.clone(), |_, a, r| {
        r[0] = a[0].clone();
        Ok(())
    });
    let f2 = Func::new(&e2, ty, |_, _, r| {
        r[0] = Val::I32(-1);
        Ok(())
    });
    // Linking with a function of another engine.
    match Instance::new(&m1, &[Extern::Func(f2.clone())]) {
        Err(Error::Link(m)) => assert!(m.contains("another engine"), "{m}"),
        other => panic!("expected a link error, got {:?}", other.err()),
    }
    let mut l = Linker::new(&e2);
    l.define("m", "f", Extern::Func(f2.clone()));
    assert!(matches!(l.instantiate(&m1), Err(Error::Link(_))));
    // A guest function of engine 2 (same signature, different type ids) cannot be stored
    // into engine 1's table, global, or passed to its functions.
    let (_s2, m2) = load_wat(&e2, wat).unwrap();
    let i2 = Instance::new(&m2, &[Extern::Func(f2)]).unwrap();
    let g2 = i2.get_func("call0").unwrap();
    let i1 = Instance::new(&m1, &[Extern::Func(f1)]).unwrap();
    let Some(Extern::Table(t1)) = i1.get_export("t") else {
        panic!("table")
    };
    assert!(t1.set(0, Val::FuncRef(Some(g2.clone()))).is_err());
    assert!(t1.grow(1, Val::FuncRef(Some(g2.clone()))).is_err());
    let Some(Extern::Global(gl)) = i1.get_export("g") else {
        panic!("global")
    };
    assert!(gl.set(Val::FuncRef(Some(g2.clone()))).is_err());
    let take = i1.get_func("take").unwrap();
    assert!(take.call(&[Val::FuncRef(Some(g2))]).is_err());
    // The table still holds null: calling through it traps as the spec says.
    assert_eq!(
        trap_kind(i1.get_func("call0").unwrap().call(&[Val::I32(5)])),
        TrapKind::IndirectCallToNull
    );
}

/// Host threads read and write a table while guest code on another thread grows it: the
/// storage never moves, so every access sees a consistent element.
#[test]
fn tables_grow_under_concurrent_host_access() {
    let engine = Engine::default();
    let wat = r#"(module
      (import "host" "t" (table 1 100000 externref))
      (func (export "grow") (param i32) (result i32)
        (table.grow 0 (ref.null extern) (local.get 0))))"#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let table = Table::new(
        &engine,
        TableType {
            element: ValType::ExternRef,
            min: 1,
            max: Some(100_000),
        },
        Val::ExternRef(Some(7)),
    )
    .unwrap();
    let inst = Instance::new(&module, &[Extern::Table(table.clone())]).unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let grow = inst.get_func("grow").unwrap();
            while i32_of(grow.call(&[Val::I32(97)]).unwrap()) != -1 {}
            done.store(true, Ordering::Release);
        });
        for k in 0..3u32 {
            let (table, done) = (&table, &done);
            s.spawn(move || {
                let mut n = 0u64;
                while !done.load(Ordering::Acquire) {
                    let size = table.size();
                    assert!(size >= 1);
                    // The last element is always there and null or a value the host wrote.
                    match table.get(size - 1) {
                        Some(Val::ExternRef(None | Some(7))) => {}
                        Some(Val::ExternRef(Some(v))) => assert!(v >= 1000, "{v}"),
                        other => panic!("element {}: {other:?}", size - 1),
                    }
                    table
                        .set(n % size, Val::ExternRef(Some(1000 + u64::from(k))))
                        .unwrap();
                    n += 1;
                }
            });
        }
    });
    assert_eq!(table.size(), 1 + (99_999 / 97) * 97);
}

/// A limiter bounds memory and table growth (the guest sees -1), initial sizes, and the
/// instance count of a store.
#[test]
fn resource_limits_bound_growth_and_instances() {
    let engine = Engine::default();
    let wat = r#"(module
      (memory (export "m") 1)
      (table 1 funcref)
      (func (export "mgrow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "tgrow") (param i32) (result i32)
        (table.grow (ref.null func) (local.get 0))))"#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let mut linker = Linker::new(&engine);
    linker.set_limiter(Arc::new(StoreLimits {
        memory_size: Some(4 << 16),
        table_elements: Some(10),
        instances: 2,
        ..Default::default()
    }));
    let inst = linker.instantiate(&module).unwrap();
    let call =
        |name: &str, v: i32| i32_of(inst.get_func(name).unwrap().call(&[Val::I32(v)]).unwrap());
    assert_eq!(call("mgrow", 3), 1);
    assert_eq!(call("mgrow", 1), -1, "5 pages exceed the 4-page limit");
    assert_eq!(call("tgrow", 9), 1);
    assert_eq!(call("tgrow", 1), -1, "11 elements exceed the limit of 10");
    // The host's grow of the instance's memory obeys the same limit.
    let Some(Extern::Memory(m)) = inst.get_export("m") else {
        panic!("memory")
    };
    assert!(m.grow(1).is_err());
    // Each instantiation through the linker is its own store: the count is per store, so
    // an initial size beyond the limit is what fails here.
    let big = r#"(module (memory 5))"#;
    let (_s2, big) = load_wat(&engine, big).unwrap();
    match linker.instantiate(&big) {
        Err(Error::Other(m)) => assert!(m.contains("exceeds the store's limits"), "{m}"),
        other => panic!("expected a limit error, got {:?}", other.err()),
    }
    // Instances linked together share a store, and its count.
    let user =
        r#"(module (import "a" "m" (memory 1)) (import "a" "f" (func (param i32) (result i32))))"#;
    let (_s3, user) = load_wat(&engine, user).unwrap();
    let mut l2 = linker.clone();
    l2.define("a", "m", Extern::Memory(m.clone()));
    l2.define("a", "f", Extern::Func(inst.get_func("mgrow").unwrap()));
    l2.instantiate(&user).unwrap();
    match l2.instantiate(&user) {
        Err(Error::Other(m)) => assert!(m.contains("instance limit of 2"), "{m}"),
        other => panic!("expected the instance limit, got {:?}", other.err()),
    }
}

/// The stress test: threads instantiating, linking, calling, trapping, growing shared tables
/// and dropping, at once. Every outcome is a result, a trap or `Busy`; the process survives.
#[test]
fn stress_threads_instances_tables_traps_and_drops() {
    let engine = Engine::default();
    let lib = r#"(module
      (memory (export "mem") 1)
      (table (export "tab") 4 1000 funcref)
      (func $sq (export "sq") (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
      (func (export "boom") unreachable)
      (elem (i32.const 0) $sq))"#;
    let user = r#"(module
      (import "lib" "tab" (table 4 funcref))
      (import "lib" "sq" (func $sq (param i32) (result i32)))
      (type $t (func (param i32) (result i32)))
      (func (export "via_table") (param i32) (result i32)
        (call_indirect (type $t) (local.get 0) (i32.const 0)))
      (func (export "grow") (result i32) (table.grow (ref.null func) (i32.const 1)))
      (func $rec (export "rec") (param i32) (result i32) (call $rec (local.get 0)))
      (func (export "direct") (param i32) (result i32) (call $sq (local.get 0))))"#;
    let (_s1, lib) = load_wat(&engine, lib).unwrap();
    let (_s2, user) = load_wat(&engine, user).unwrap();
    let rounds: usize = std::env::var("KILN_STRESS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let busy = AtomicU64::new(0);
    // Half the threads share one library instance (one store, contended), the others make
    // their own each round.
    let shared = Instance::new(&lib, &[]).unwrap();
    std::thread::scope(|s| {
        for t in 0..6usize {
            let (lib, user, engine, busy, shared) = (&lib, &user, &engine, &busy, &shared);
            s.spawn(move || {
                for r in 0..rounds {
                    let l = if t % 2 == 0 {
                        shared.clone()
                    } else {
                        Instance::new(lib, &[]).unwrap()
                    };
                    let mut linker = Linker::new(engine);
                    linker.instance("lib", &l);
                    let u = match linker.instantiate(user) {
                        Ok(u) => u,
                        Err(Error::Busy(_)) => {
                            busy.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Err(e) => panic!("instantiate: {e}"),
                    };
                    let x = (r % 100) as i32;
                    for (name, args) in [
                        ("via_table", vec![Val::I32(x)]),
                        ("direct", vec![Val::I32(x)]),
                        ("grow", vec![]),
                        ("rec", vec![Val::I32(0)]),
                    ] {
                        match (name, u.get_func(name).unwrap().call(&args)) {
                            (_, Err(Error::Busy(_))) => {
                                busy.fetch_add(1, Ordering::Relaxed);
                            }
                            ("via_table" | "direct", Ok(v)) => assert_eq!(i32_of(v), x * x),
                            ("grow", Ok(v)) => assert!(i32_of(v) >= -1),
                            ("rec", r) => assert_eq!(trap_kind(r), TrapKind::StackOverflow),
                            (n, r) => panic!("{n}: {r:?}"),
                        }
                    }
                    match l.get_func("boom").unwrap().call(&[]) {
                        Err(Error::Trap(t)) => assert_eq!(t.kind, TrapKind::UnreachableCodeReached),
                        Err(Error::Busy(_)) => {
                            busy.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("boom: {other:?}"),
                    }
                    drop(u);
                }
            });
        }
    });
    eprintln!("stress: {} busy refusals", busy.load(Ordering::Relaxed));
}

/// The module `samples/c-host/threads_test.c` drives.
const C_HOST_MODULE: &str = r#"(module
  (import "host" "t" (table 1 externref))
  (global $n (mut i32) (i32.const 0))
  (func (export "work") (param i32) (result i32) (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get 0))))
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (local.get $acc))
  (func (export "count") (result i32) (global.get $n))
  (func (export "grow") (param i32) (result i32)
    (table.grow 0 (ref.null extern) (local.get 0)))
  (func (export "boom") unreachable))"#;

/// Builds the multithreaded C host and compiles its module; returns (dir, host, module).
fn c_threads_host() -> (
    kiln_cli::tempdir::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let dir = kiln_cli::tempdir::TempDir::new("kiln-threads").unwrap();
    let so = dir.path().join("m.so");
    kiln_compiler::compile_to_file(
        &wat::parse_str(C_HOST_MODULE).unwrap(),
        &kiln_compiler::Config::default(),
        kiln_compiler::Emit::So,
        &so,
    )
    .unwrap();
    let source = kiln_tests::workspace().join("samples/c-host/threads_test.c");
    let exe = kiln_tests::chost::CHost::new(&source)
        .flags(&["-O1", "-g", "-pthread"])
        .build(dir.path(), "threads_test");
    (dir, exe, so)
}

/// A C host sharing one instance and one table between threads (calls, growth, reads,
/// writes, traps, instances created and deleted): every check in the program holds.
#[test]
fn c_host_threads_share_instances_and_tables() {
    let (_dir, exe, so) = c_threads_host();
    let rounds = std::env::var("KILN_STRESS_ROUNDS").unwrap_or_else(|_| "100".into());
    let out = std::process::Command::new(&exe)
        .arg(&so)
        .arg(&rounds)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("ok calls="),
        "status {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("C host: {stdout}");
}

/// The same C host under Valgrind's memcheck: no invalid read, write or free anywhere (host,
/// runtime, compiled code) while threads share instances and tables. Definedness checking is
/// off: memcheck loses track of stack definedness when a trap `siglongjmp`s out of the signal
/// handler's alternate stack, which is by design, not an error. (Helgrind and DRD do not model
/// Rust's atomics, so they report the store hand-over and `Arc` counts themselves as races:
/// see docs/runtime-api.md.)
#[test]
fn c_host_threads_are_clean_under_memcheck() {
    kiln_tests::tools::require_tool("valgrind", "the memcheck test", "valgrind");
    let (_dir, exe, so) = c_threads_host();
    let out = std::process::Command::new("valgrind")
        .args([
            "-q",
            "--tool=memcheck",
            "--undef-value-errors=no",
            "--error-exitcode=99",
        ])
        .arg(&exe)
        .arg(&so)
        .arg("4")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("ok calls="),
        "status {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A component instance called from several threads at once: every call returns the right
/// value or `Error::Busy`; the instance is never left unusable (its `may_enter` flags are only
/// touched by the thread that owns its store).
#[test]
fn a_component_instance_shared_between_threads_stays_usable() {
    use kiln_runtime::component::Val as CVal;
    let engine = Engine::default();
    let path = kiln_tests::workspace().join("tests/components/greet.wat");
    let dir = kiln_cli::tempdir::TempDir::new("kiln-threads-component").unwrap();
    let so = dir.path().join("greet.so");
    kiln_compiler::compile_to_file(
        &wat::parse_file(&path).unwrap(),
        &kiln_compiler::Config::default(),
        kiln_compiler::Emit::So,
        &so,
    )
    .unwrap();
    let component = kiln_runtime::Component::load(&engine, &so).unwrap();
    let inst = kiln_runtime::ComponentLinker::new(&engine)
        .instantiate(&component)
        .unwrap();
    let (ok, busy) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|s| {
        for t in 0..4 {
            let (inst, ok, busy) = (&inst, &ok, &busy);
            s.spawn(move || {
                for k in 0..200 {
                    let name = format!("t{t}-{k}");
                    match inst.call("greet", &[CVal::String(name.clone())]) {
                        Ok(Some(CVal::String(s))) => {
                            assert_eq!(s, format!("Hello, {name}!"));
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Error::Busy(_)) => {
                            busy.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("unexpected: {other:?}"),
                    }
                }
            });
        }
    });
    assert_eq!(
        ok.load(Ordering::Relaxed) + busy.load(Ordering::Relaxed),
        800
    );
    // Still usable afterwards.
    assert_eq!(
        inst.call("greet", &[CVal::String("end".into())]).unwrap(),
        Some(CVal::String("Hello, end!".into()))
    );
}

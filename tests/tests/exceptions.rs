//! Exception handling through the real path and the Rust API: exceptions reaching the host,
//! crossing host functions, thrown by the host, bounded exception memory, and the runtime's
//! machinery (traps, stack limit, epoch deadlines, nested calls, threads) after exceptions.

use kiln_environ::{FuncType, TrapKind, ValType};
use kiln_runtime::{
    live_exception_objects, Engine, EngineConfig, Error, Exception, Extern, Instance, Linker, Tag,
    Trap, Val,
};
use kiln_tests::load_wat;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn ty(params: &[ValType], results: &[ValType]) -> FuncType {
    FuncType {
        params: params.to_vec(),
        results: results.to_vec(),
    }
}

fn uncaught(r: Result<Vec<Val>, Error>) -> Trap {
    match r {
        Err(Error::Trap(t)) if t.kind == TrapKind::UncaughtException => t,
        other => panic!("expected an uncaught exception, got {other:?}"),
    }
}

fn i32s(r: Result<Vec<Val>, Error>) -> Vec<i32> {
    r.unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|v| match v {
            Val::I32(x) => *x,
            other => panic!("not an i32: {other:?}"),
        })
        .collect()
}

const THROWER: &str = r#"
(module
  (tag $e (export "e") (param i32 f64))
  (tag $r (export "r") (param exnref))
  (func $inner (param i32) (throw $e (local.get 0) (f64.const 2.5)))
  (func (export "throw") (param i32) (call $inner (local.get 0)))
  (func (export "throw-ref-payload")
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (throw $e (i32.const 1) (f64.const 0)))
      (unreachable))
    (throw $r))
  (func (export "get-exnref") (result exnref)
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (throw $e (i32.const 1) (f64.const 0)))
      (unreachable)))
  (func (export "null-exnref") (result exnref) (ref.null exn)))
"#;

/// An exception no guest frame catches is an error for the host, with a copy of the exception
/// and a backtrace from the throw; the instance stays usable.
#[test]
fn uncaught_exception_reaches_the_host_as_a_trap() {
    let engine = Engine::default();
    let (_so, module) = load_wat(&engine, THROWER).unwrap();
    let inst = Instance::new(&module, &[]).unwrap();
    let Some(Extern::Tag(e)) = inst.get_export("e") else {
        panic!("tag export")
    };
    let t = uncaught(inst.get_func("throw").unwrap().call(&[Val::I32(42)]));
    assert!(t.message.contains("uncaught exception"), "{t}");
    let x = t.exception.as_ref().expect("a copy of the exception");
    assert!(Tag::same(x.tag(), &e));
    assert!(matches!(x.payload(), [Val::I32(42), Val::F64(b)] if *b == 2.5f64.to_bits()));
    assert!(t.backtrace.len() >= 2, "{t}");
    // A payload holding an exception reference cannot be copied out: no copy, still a trap.
    let t = uncaught(inst.get_func("throw-ref-payload").unwrap().call(&[]));
    assert!(t.exception.is_none());
    // The exception heap is empty once the call returned, and the instance still works.
    assert_eq!(live_exception_objects(), 0);
    uncaught(inst.get_func("throw").unwrap().call(&[Val::I32(1)]));
}

/// Exception references never leave wasm: a non-null one returned to the host is an error,
/// a null one is `Val::ExnRef(None)`.
#[test]
fn exception_references_stay_in_wasm() {
    let engine = Engine::default();
    let (_so, module) = load_wat(&engine, THROWER).unwrap();
    let inst = Instance::new(&module, &[]).unwrap();
    match inst.get_func("get-exnref").unwrap().call(&[]) {
        Err(Error::Other(m)) => assert!(m.contains("exception reference"), "{m}"),
        other => panic!("{other:?}"),
    }
    let r = inst.get_func("null-exnref").unwrap().call(&[]).unwrap();
    assert!(matches!(r[..], [Val::ExnRef(None)]));

    // A host function receiving one makes the guest trap.
    let wat = r#"
    (module
      (import "host" "take" (func $take (param exnref)))
      (tag $e)
      (func (export "pass") (param i32)
        (if (local.get 0)
          (then
            (block $h (result exnref)
              (try_table (catch_all_ref $h) (throw $e))
              (unreachable))
            (call $take))
          (else (call $take (ref.null exn))))))
    "#;
    let (_so2, m2) = load_wat(&engine, wat).unwrap();
    let mut linker = Linker::new(&engine);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    linker.func_new(
        "host",
        "take",
        ty(&[ValType::ExnRef], &[]),
        move |_, args, _| {
            assert!(matches!(args, [Val::ExnRef(None)]));
            c.fetch_add(1, Ordering::Relaxed);
            Ok(())
        },
    );
    let inst2 = linker.instantiate(&m2).unwrap();
    match inst2.get_func("pass").unwrap().call(&[Val::I32(1)]) {
        Err(Error::Trap(t)) => assert!(t.message.contains("exception reference"), "{t}"),
        other => panic!("{other:?}"),
    }
    inst2
        .get_func("pass")
        .unwrap()
        .call(&[Val::I32(0)])
        .unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

const CATCHER: &str = r#"
(module
  (import "thrower" "e" (tag $e (param i32 f64)))
  (import "host" "call" (func $host (param i32) (result i32)))
  ;; Catches what the host function lets through.
  (func (export "run") (param i32) (result i32)
    (block $h (result i32 f64)
      (try_table (catch $e $h)
        (return (call $host (local.get 0))))
      (unreachable))
    (drop)
    (i32.add (i32.const 1000))))
"#;

/// Guest → host function → guest: the inner exception ends the inner call (it never unwinds
/// through the host's frames); returned by the host function, it is thrown again in the outer
/// guest, which catches it. A host function may also swallow it, or turn it into a plain error.
#[test]
fn exceptions_cross_host_functions_as_errors() {
    let engine = Engine::default();
    let (_s1, thrower) = load_wat(&engine, THROWER).unwrap();
    let (_s2, catcher) = load_wat(&engine, CATCHER).unwrap();
    let thrower = Instance::new(&thrower, &[]).unwrap();
    let throw = thrower.get_func("throw").unwrap();
    let mut linker = Linker::new(&engine);
    linker.instance("thrower", &thrower);
    linker.func_new(
        "host",
        "call",
        ty(&[ValType::I32], &[ValType::I32]),
        move |_, args, results| {
            let Val::I32(mode) = args[0] else {
                unreachable!()
            };
            match throw.call(&[Val::I32(mode)]) {
                Ok(_) => unreachable!("`throw` throws"),
                Err(Error::Trap(t)) if mode == 1 => Err(t),
                Err(Error::Trap(t)) if mode == 2 => {
                    assert_eq!(t.kind, TrapKind::UncaughtException);
                    results[0] = Val::I32(-2);
                    Ok(())
                }
                Err(_) => Err(Trap::host("not an exception any more")),
            }
        },
    );
    let inst = linker.instantiate(&catcher).unwrap();
    let run = inst.get_func("run").unwrap();
    assert_eq!(i32s(run.call(&[Val::I32(1)])), [1001]);
    assert_eq!(i32s(run.call(&[Val::I32(2)])), [-2]);
    match run.call(&[Val::I32(3)]) {
        Err(Error::Trap(t)) => {
            assert_eq!(t.kind, TrapKind::HostError);
            assert!(t.exception.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(i32s(run.call(&[Val::I32(1)])), [1001]);
}

/// The host makes a tag, satisfies a tag import with it, and throws exceptions of it from a
/// host function; the guest catches them, and what it does not catch comes back as a copy.
#[test]
fn host_tags_and_host_thrown_exceptions() {
    let engine = Engine::default();
    let tag = Tag::new(&engine, ty(&[ValType::I64, ValType::FuncRef], &[])).unwrap();
    let wat = r#"
    (module
      (import "host" "tag" (tag $t (param i64 funcref)))
      (import "host" "fail" (func $fail (param i64)))
      (func (export "catch") (param i64) (result i64)
        (block $h (result i64 funcref)
          (try_table (catch $t $h) (call $fail (local.get 0)))
          (return (i64.const -1)))
        (drop))
      (func (export "no-catch") (param i64) (call $fail (local.get 0))))
    "#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let mut linker = Linker::new(&engine);
    linker.define("host", "tag", Extern::Tag(tag.clone()));
    let t2 = tag.clone();
    linker.func_new(
        "host",
        "fail",
        ty(&[ValType::I64], &[]),
        move |_, args, _| {
            let x = Exception::new(&t2, vec![args[0].clone(), Val::FuncRef(None)]).unwrap();
            Err(Trap::throw(x))
        },
    );
    let inst = linker.instantiate(&module).unwrap();
    let r = inst
        .get_func("catch")
        .unwrap()
        .call(&[Val::I64(77)])
        .unwrap();
    assert!(matches!(r[..], [Val::I64(77)]));
    let t = uncaught(inst.get_func("no-catch").unwrap().call(&[Val::I64(5)]));
    let x = t.exception.unwrap();
    assert!(Tag::same(x.tag(), &tag));
    assert!(matches!(x.payload(), [Val::I64(5), Val::FuncRef(None)]));

    // Tag imports are checked by type, and tags of another engine do not link.
    let other = Tag::new(&engine, ty(&[ValType::I64], &[])).unwrap();
    linker.define("host", "tag", Extern::Tag(other));
    assert!(matches!(linker.instantiate(&module), Err(Error::Link(_))));
    let foreign = Tag::new(
        &Engine::default(),
        ty(&[ValType::I64, ValType::FuncRef], &[]),
    )
    .unwrap();
    linker.define("host", "tag", Extern::Tag(foreign));
    assert!(matches!(linker.instantiate(&module), Err(Error::Link(_))));
}

/// A guest that throws and catches in a loop runs in bounded memory: the exception heap
/// collects (watched from a host function the loop calls), and everything is freed when the
/// call returns. A guest that keeps every exception alive hits the limit: a trap.
#[test]
fn throw_loops_run_in_bounded_memory() {
    let engine = Engine::new(EngineConfig {
        max_live_exceptions: 50_000,
        ..EngineConfig::default()
    });
    let wat = r#"
    (module
      (import "host" "check" (func $check))
      (tag $e (param i32))
      (tag $chain (param exnref))
      (func $throw (param i32) (throw $e (local.get 0)))
      (func (export "loop") (param i32) (result i32)
        (local $i i32) (local $sum i32)
        (loop $next
          (block $h (result i32)
            (try_table (catch $e $h) (call $throw (local.get $i)))
            (unreachable))
          (local.set $sum (i32.xor (local.get $sum)))
          (if (i32.eqz (i32.and (local.get $i) (i32.const 0xffff))) (then (call $check)))
          (br_if $next (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                                 (local.get 0))))
        (local.get $sum))
      ;; Every exception holds the previous one: all stay reachable.
      (func (export "chain") (param i32)
        (local $prev exnref) (local $i i32)
        (block $h (result exnref)
          (try_table (catch_all_ref $h) (throw $e (i32.const 0)))
          (unreachable))
        (local.set $prev)
        (loop $next
          (block $h (result exnref)
            (try_table (catch_all_ref $h) (throw $chain (local.get $prev)))
            (unreachable))
          (local.set $prev)
          (br_if $next (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                                 (local.get 0))))))
    "#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let peak = Arc::new(AtomicUsize::new(0));
    let p = peak.clone();
    let mut linker = Linker::new(&engine);
    linker.func_new("host", "check", ty(&[], &[]), move |_, _, _| {
        p.fetch_max(live_exception_objects(), Ordering::Relaxed);
        Ok(())
    });
    let inst = linker.instantiate(&module).unwrap();
    // More throws than the limit allows live exceptions: only collection lets this finish.
    let n = 200_000;
    let expected = (0..n).fold(0i32, |acc, i| acc ^ i);
    assert_eq!(
        i32s(inst.get_func("loop").unwrap().call(&[Val::I32(n)])),
        [expected]
    );
    let peak = peak.load(Ordering::Relaxed);
    assert!(
        peak > 0 && peak <= 4096,
        "peak of {peak} live exception objects"
    );
    assert_eq!(live_exception_objects(), 0);

    match inst.get_func("chain").unwrap().call(&[Val::I32(100_000)]) {
        Err(Error::Trap(t)) => assert_eq!(t.kind, TrapKind::ExceptionLimit, "{t}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(live_exception_objects(), 0);
    inst.get_func("chain")
        .unwrap()
        .call(&[Val::I32(1000)])
        .unwrap();
}

/// After an exception is caught deep down the stack, everything else keeps working: traps,
/// the stack limit, epoch interruption, nested calls from host functions, later calls.
#[test]
fn runtime_keeps_working_after_caught_exceptions() {
    let engine = Engine::default();
    let wat = r#"
    (module
      (import "host" "reenter" (func $reenter (param i32) (result i32)))
      (tag $e (param i32))
      (func $deep (param i32) (result i32)
        (if (i32.eqz (local.get 0)) (then (throw $e (i32.const 9))))
        (i32.add (call $deep (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))
      (func (export "deep") (param i32) (result i32)
        (block $h (result i32)
          (try_table (catch $e $h) (return (call $deep (local.get 0))))
          (unreachable)))
      (func $rec (export "recurse") (param i32) (result i32)
        (i32.add (call $rec (local.get 0)) (i32.const 1)))
      (func (export "spin") (loop $l (br $l)))
      (func (export "trap") (unreachable))
      ;; host -> guest -> host -> guest: the inner guest throws and catches.
      (func (export "nested") (param i32) (result i32)
        (block $h (result i32)
          (try_table (catch $e $h) (return (call $reenter (local.get 0))))
          (unreachable))
        (i32.const 100) (i32.add)))
    "#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let slot: Arc<std::sync::OnceLock<Instance>> = Arc::new(std::sync::OnceLock::new());
    let s = slot.clone();
    let mut linker = Linker::new(&engine);
    linker.func_new(
        "host",
        "reenter",
        ty(&[ValType::I32], &[ValType::I32]),
        move |_, args, results| {
            let inst = s.get().unwrap();
            // The inner call catches its own exception.
            let r = inst
                .get_func("deep")
                .unwrap()
                .call(&[args[0].clone()])
                .map_err(|e| Trap::host(e.to_string()))?;
            results[0] = r[0].clone();
            Ok(())
        },
    );
    let inst = linker.instantiate(&module).unwrap();
    slot.set(inst.clone()).ok();
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || {
            let call = |name: &str, args: &[Val]| inst.get_func(name).unwrap().call(args);
            for _ in 0..3 {
                assert_eq!(i32s(call("deep", &[Val::I32(5000)])), [9]);
                match call("trap", &[]) {
                    Err(Error::Trap(t)) => assert_eq!(t.kind, TrapKind::UnreachableCodeReached),
                    other => panic!("{other:?}"),
                }
                match call("recurse", &[Val::I32(0)]) {
                    Err(Error::Trap(t)) => assert_eq!(t.kind, TrapKind::StackOverflow),
                    other => panic!("{other:?}"),
                }
                assert_eq!(i32s(call("nested", &[Val::I32(7)])), [9]);
            }
            // Interruption still works after all that.
            inst.set_epoch_deadline(1);
            let engine2 = inst.module().engine().clone();
            let ticker = std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                engine2.increment_epoch();
                engine2.increment_epoch();
            });
            match call("spin", &[]) {
                Err(Error::Trap(t)) => assert_eq!(t.kind, TrapKind::Interrupt),
                other => panic!("{other:?}"),
            }
            ticker.join().unwrap();
            inst.set_epoch_deadline(u64::MAX / 2);
            assert_eq!(i32s(call("deep", &[Val::I32(3)])), [9]);
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Threads throwing and catching at the same time (each in its own instance of one module) do
/// not see each other's exceptions.
#[test]
fn threads_throw_independently() {
    let engine = Engine::default();
    let wat = r#"
    (module
      (tag $e (param i32))
      (func $throw (param i32) (throw $e (local.get 0)))
      (func (export "loop") (param i32 i32) (result i32)
        (local $i i32) (local $sum i32)
        (loop $next
          (block $h (result i32)
            (try_table (catch $e $h) (call $throw (i32.add (local.get 0) (local.get $i))))
            (unreachable))
          (local.set $sum (i32.add (local.get $sum)))
          (br_if $next (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                                 (local.get 1))))
        (local.get $sum)))
    "#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let inst = Instance::new(&module, &[]).unwrap();
            let f = inst.get_func("loop").unwrap();
            std::thread::spawn(move || {
                let base = t * 1_000_000;
                let n = 20_000;
                let expected = (0..n).fold(0i32, |a, i| a.wrapping_add(base + i));
                assert_eq!(i32s(f.call(&[Val::I32(base), Val::I32(n)])), [expected]);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// Host functions have plain signatures: they satisfy imports whose types match by signature,
/// even types of a recursion group or with typed references (wasm exports must match by
/// canonical type: see `tests/exceptions/types.wast`).
#[test]
fn host_functions_satisfy_imports_by_signature() {
    let engine = Engine::default();
    let wat = r#"
    (module
      (rec (type $r (func (param i32))) (type $s (func)))
      (type $t (func (result i32)))
      (import "host" "get" (func $get (result (ref null $t))))
      (import "host" "log" (func $log (type $r)))
      (table 1 funcref)
      (func (export "run") (result i32)
        (call $log (i32.const 5))
        (table.set (i32.const 0) (call $get))
        (call_indirect (type $t) (i32.const 0))))
    "#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let logged = Arc::new(AtomicUsize::new(0));
    let l = logged.clone();
    let mut linker = Linker::new(&engine);
    linker.func_new("host", "get", ty(&[], &[ValType::FuncRef]), |_, _, r| {
        r[0] = Val::FuncRef(None);
        Ok(())
    });
    linker.func_new("host", "log", ty(&[ValType::I32], &[]), move |_, a, _| {
        assert!(matches!(a, [Val::I32(5)]));
        l.fetch_add(1, Ordering::Relaxed);
        Ok(())
    });
    let inst = linker.instantiate(&module).unwrap();
    match inst.get_func("run").unwrap().call(&[]) {
        Err(Error::Trap(t)) => assert_eq!(t.kind, TrapKind::IndirectCallToNull),
        other => panic!("{other:?}"),
    }
    assert_eq!(logged.load(Ordering::Relaxed), 1);
}

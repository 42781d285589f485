//! Fibers (the runtime's stack switching, `runtime-support/src/fiber.rs`) through the real
//! path: wat compiled to a `.so`, loaded and called on fibers, with host functions that suspend
//! the fiber from inside a guest call. The fiber API is crate-private; the tests reach it through
//! the hidden `kiln_runtime::__private::fiber` hook.

use kiln_environ::TrapKind;
use kiln_runtime::__private::fiber::{on_fiber, stack_size_for, suspend, Fiber, FiberStack};
use kiln_runtime::{Engine, EngineConfig, Error, Instance, Linker, Trap, Val};
use kiln_tests::load_wat;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

/// Guest code that suspends through the host (`host.yield`), traps in several ways, recurses
/// without end, and calls back into the host (`host.call-leaf`, which calls `leaf`).
const GUEST: &str = r#"
(module
  (import "host" "yield" (func $yield (param i32) (result i32)))
  (import "host" "call-leaf" (func $call_leaf (param i32) (result i32)))
  (import "host" "step" (func $step))
  (memory (export "mem") 1)
  (global $depth (mut i32) (i32.const 0))
  ;; acc = i; three times: acc = acc * 3 + yield(acc), with memory traffic between.
  (func (export "run") (param $i i32) (result i32)
    (local $acc i32) (local $n i32)
    (local.set $acc (local.get $i))
    (loop $again
      (i32.store (i32.mul (local.get $i) (i32.const 4)) (local.get $acc))
      (local.set $acc
        (i32.add (i32.mul (i32.load (i32.mul (local.get $i) (i32.const 4))) (i32.const 3))
                 (call $yield (local.get $acc))))
      (br_if $again (i32.lt_u (local.tee $n (i32.add (local.get $n) (i32.const 1)))
                              (i32.const 3))))
    (local.get $acc))
  (func $unreachable (export "unreachable") (unreachable))
  (func $oob (export "oob") (result i32) (i32.load (i32.const 70000)))
  (func $yield_then_trap (export "yield-then-trap") (result i32)
    (drop (call $yield (i32.const 0)))
    (i32.load (i32.const 70000)))
  (func $rec (export "recurse") (param i32) (result i32)
    (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
    (call $rec (i32.add (local.get 0) (i32.const 1))))
  (func (export "depth") (result i32) (global.get $depth))
  ;; Suspends once, then spins until the epoch deadline interrupts it.
  (func (export "yield-then-spin")
    (drop (call $yield (i32.const 0)))
    (loop $l (br $l)))
  (func (export "reset-depth") (global.set $depth (i32.const 0)))
  ;; Runs the parked fiber a step (host.step), then recurses without end: the stack limit of
  ;; this (the resumer's) stack must be back in the store.
  (func (export "step-then-recurse") (result i32)
    (call $step)
    (call $rec (i32.const 0)))
  ;; Runs the parked fiber a step, then computes with its own frames intact.
  (func $step_then_add (export "step-then-add") (param i32 i32) (result i32)
    (call $step)
    (i32.add (local.get 0) (local.get 1)))
  ;; Nested: host -> guest `leaf` (which suspends) inside this call.
  (func (export "outer") (param i32) (result i32)
    (i32.add (call $call_leaf (local.get 0)) (i32.const 1000)))
  (func (export "leaf") (param i32) (result i32)
    (i32.mul (call $yield (local.get 0)) (i32.const 2))))
"#;

thread_local! {
    /// The fiber `host.step` resumes (one step per call).
    static PARKED: RefCell<Option<Fiber>> = const { RefCell::new(None) };
    /// The instance `host.call-leaf` calls back into.
    static INSTANCE: RefCell<Option<Instance>> = const { RefCell::new(None) };
}

/// Resumes the parked fiber once (dropping it when it finished); `Ok(finished)`.
fn step_parked() -> Result<bool, Error> {
    let mut f = PARKED
        .with(|p| p.borrow_mut().take())
        .ok_or_else(|| Error::Other("no parked fiber".into()))?;
    let done = f.resume()?;
    if !done {
        PARKED.with(|p| *p.borrow_mut() = Some(f));
    }
    Ok(done)
}

fn instance(engine: &Engine) -> (kiln_tests::Compiled, Instance) {
    let (so, module) = load_wat(engine, GUEST).unwrap();
    let mut linker = Linker::new(engine);
    linker.func_wrap("host", "yield", |_, x: i32| -> Result<i32, Trap> {
        assert!(on_fiber(), "yield runs on the fiber");
        suspend()?;
        Ok(x + 1)
    });
    linker.func_wrap("host", "call-leaf", |_, x: i32| -> Result<i32, Trap> {
        let leaf = INSTANCE
            .with(|i| i.borrow().as_ref().map(|i| i.get_func("leaf").unwrap()))
            .ok_or_else(|| Trap::host("no instance"))?;
        match leaf.call(&[Val::I32(x)]) {
            Ok(r) => Ok(i32s(r)[0]),
            Err(Error::Trap(t)) => Err(t),
            Err(e) => Err(Trap::host(e.to_string())),
        }
    });
    linker.func_wrap("host", "step", |_, ()| -> Result<(), Trap> {
        step_parked().map_err(|e| Trap::host(e.to_string()))?;
        Ok(())
    });
    let inst = linker.instantiate(&module).unwrap();
    INSTANCE.with(|i| *i.borrow_mut() = Some(inst.clone()));
    (so, inst)
}

fn i32s(v: Vec<Val>) -> Vec<i32> {
    v.into_iter()
        .map(|v| match v {
            Val::I32(x) => x,
            other => panic!("not an i32: {other:?}"),
        })
        .collect()
}

fn stack() -> FiberStack {
    FiberStack::new(stack_size_for(EngineConfig::default().max_wasm_stack)).unwrap()
}

type Outcome = Rc<RefCell<Option<Result<Vec<Val>, Error>>>>;

/// A fiber calling `name(args)` on `inst`; the call's result lands in the returned cell.
fn call_on_fiber(
    inst: &Instance,
    name: &str,
    args: Vec<Val>,
    stack: FiberStack,
) -> (Fiber, Outcome) {
    let out: Outcome = Rc::new(RefCell::new(None));
    let o = out.clone();
    let f = inst.get_func(name).unwrap();
    let fiber = Fiber::new(
        stack,
        Box::new(move || {
            let r = f.call(&args);
            *o.borrow_mut() = Some(r);
        }),
    );
    (fiber, out)
}

fn expected_run(i: i32) -> i32 {
    let mut acc = i;
    for _ in 0..3 {
        acc = acc.wrapping_mul(3).wrapping_add(acc + 1);
    }
    acc
}

fn trap_kind(r: Option<Result<Vec<Val>, Error>>) -> TrapKind {
    match r {
        Some(Err(Error::Trap(t))) => t.kind,
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// A guest call on a fiber suspends inside a host function and completes, with the right
/// result, when resumed later; the thread runs guest code of the same store meanwhile.
#[test]
fn guest_call_suspends_in_a_host_function_and_resumes() {
    let engine = Engine::default();
    let (_so, inst) = instance(&engine);
    let (mut f, out) = call_on_fiber(&inst, "run", vec![Val::I32(5)], stack());
    for _ in 0..3 {
        assert!(!f.resume().unwrap(), "suspended in host.yield");
        assert!(out.borrow().is_none());
        // The same store, entered by the suspended fiber, runs guest code on the thread.
        let (mut g, o2) = call_on_fiber(&inst, "run", vec![Val::I32(1)], stack());
        while !g.resume().unwrap() {}
        assert_eq!(
            i32s(o2.borrow_mut().take().unwrap().unwrap()),
            [expected_run(1)]
        );
        assert_eq!(
            trap_kind(Some(inst.get_func("oob").unwrap().call(&[]))),
            TrapKind::MemoryOutOfBounds
        );
    }
    assert!(f.resume().unwrap(), "finished");
    assert!(f.is_finished());
    assert_eq!(
        i32s(out.borrow_mut().take().unwrap().unwrap()),
        [expected_run(5)]
    );
    assert!(f.resume().is_err(), "a finished fiber cannot be resumed");
}

/// 100 fibers suspended at once, resumed round by round in changing orders, each complete
/// with its own result.
#[test]
fn many_fibers_interleave() {
    let engine = Engine::default();
    let (_so, inst) = instance(&engine);
    let mut fibers: Vec<(i32, Fiber, Outcome)> = (0..100)
        .map(|i| {
            let (f, o) = call_on_fiber(&inst, "run", vec![Val::I32(i)], stack());
            (i, f, o)
        })
        .collect();
    let mut round = 0usize;
    while !fibers.is_empty() {
        // Reverse, rotate: a different order every round.
        fibers.reverse();
        let k = round % fibers.len();
        fibers.rotate_left(k);
        let mut still = Vec::new();
        for (i, mut f, o) in fibers {
            if f.resume().unwrap() {
                assert_eq!(
                    i32s(o.borrow_mut().take().unwrap().unwrap()),
                    [expected_run(i)]
                );
            } else {
                still.push((i, f, o));
            }
        }
        fibers = still;
        round += 1;
    }
    assert_eq!(round, 4, "three suspensions, then the return");
}

/// Traps on a fiber (before and after a suspension) end the fiber's call with an error; the
/// thread keeps working, including a resumer that is itself inside guest code.
#[test]
fn traps_on_a_fiber_unwind_only_the_fiber() {
    let engine = Engine::default();
    let (_so, inst) = instance(&engine);
    for (name, kind) in [
        ("unreachable", TrapKind::UnreachableCodeReached),
        ("oob", TrapKind::MemoryOutOfBounds),
    ] {
        let (mut f, out) = call_on_fiber(&inst, name, vec![], stack());
        assert!(f.resume().unwrap());
        let r = out.borrow_mut().take();
        let t = match r {
            Some(Err(Error::Trap(t))) => t,
            other => panic!("expected a trap, got {other:?}"),
        };
        assert_eq!(t.kind, kind);
        let names: Vec<_> = t.backtrace.iter().map(|f| f.func_name.as_deref()).collect();
        assert_eq!(names, [Some(name)], "{t}");
    }
    // A trap after a suspension, while the resumer is inside guest code (`step-then-add`):
    // the trap ends the fiber's call, the resumer's guest frames carry on.
    let (f, out) = call_on_fiber(&inst, "yield-then-trap", vec![], stack());
    PARKED.with(|p| *p.borrow_mut() = Some(f));
    let add = inst.get_func("step-then-add").unwrap();
    assert_eq!(i32s(add.call(&[Val::I32(2), Val::I32(3)]).unwrap()), [5]);
    assert!(out.borrow().is_none(), "suspended once");
    assert_eq!(i32s(add.call(&[Val::I32(4), Val::I32(3)]).unwrap()), [7]);
    match out.borrow_mut().take() {
        Some(Err(Error::Trap(t))) => {
            assert_eq!(t.kind, TrapKind::MemoryOutOfBounds);
            // Only the fiber's frames: the resumer's `step-then-add` is on another stack.
            let names: Vec<_> = t.backtrace.iter().map(|f| f.func_name.as_deref()).collect();
            assert_eq!(names, [Some("yield_then_trap")], "{t}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(PARKED.with(|p| p.borrow().is_none()), "finished");
    // The thread's own calls still work and still trap cleanly.
    inst.get_func("reset-depth").unwrap().call(&[]).unwrap();
    assert_eq!(
        i32s(inst.get_func("depth").unwrap().call(&[]).unwrap()),
        [0]
    );
    assert_eq!(
        trap_kind(Some(inst.get_func("unreachable").unwrap().call(&[]))),
        TrapKind::UnreachableCodeReached
    );
}

/// The deepest recursion `recurse` reaches on the current stack before its stack-overflow trap.
fn overflow_depth(inst: &Instance, r: Result<Vec<Val>, Error>) -> i32 {
    match r {
        Err(Error::Trap(t)) => assert_eq!(t.kind, TrapKind::StackOverflow, "{t}"),
        other => panic!("expected a stack overflow, got {other:?}"),
    }
    let d = i32s(inst.get_func("depth").unwrap().call(&[]).unwrap())[0];
    inst.get_func("reset-depth").unwrap().call(&[]).unwrap();
    d
}

/// Infinite recursion on a fiber is a stack-overflow trap, whatever the fiber's stack size
/// (limited by `max_wasm_stack`, by the stack's own size, or too small for any guest frame);
/// the resumer's stack limit is back in the store once the fiber suspends.
#[test]
fn recursion_on_a_fiber_is_a_stack_overflow() {
    let engine = Engine::default();
    let (_so, inst) = instance(&engine);
    let on_thread = overflow_depth(
        &inst,
        inst.get_func("recurse").unwrap().call(&[Val::I32(0)]),
    );
    assert!(on_thread > 1000, "{on_thread}");
    let max = EngineConfig::default().max_wasm_stack;
    let mut depths = Vec::new();
    for size in [stack_size_for(max), 200 * 1024, 64 * 1024] {
        let (mut f, out) = call_on_fiber(
            &inst,
            "recurse",
            vec![Val::I32(0)],
            FiberStack::new(size).unwrap(),
        );
        assert!(f.resume().unwrap());
        let r = out.borrow_mut().take().unwrap();
        depths.push(overflow_depth(&inst, r));
    }
    // The full budget on a big enough stack; less on a smaller one; none on a tiny one.
    assert!(
        depths[0].abs_diff(on_thread) * 20 < on_thread as u32,
        "{depths:?} vs {on_thread}"
    );
    assert!(depths[1] > 0 && depths[1] < depths[0] / 2, "{depths:?}");
    assert_eq!(depths[2], 0, "{depths:?}");
    // A resumer in guest code resumes a fiber that entered the same store (and suspends
    // there); its own recursion then gets its own limit, not the fiber's.
    let (f, _out) = call_on_fiber(
        &inst,
        "run",
        vec![Val::I32(3)],
        FiberStack::new(200 * 1024).unwrap(),
    );
    PARKED.with(|p| *p.borrow_mut() = Some(f));
    let resumer = overflow_depth(&inst, inst.get_func("step-then-recurse").unwrap().call(&[]));
    assert!(resumer.abs_diff(on_thread) <= 2, "{resumer} vs {on_thread}");
    // And the fiber, resumed from guest code again, gets its own back.
    let resumer = overflow_depth(&inst, inst.get_func("step-then-recurse").unwrap().call(&[]));
    assert!(resumer.abs_diff(on_thread) <= 2, "{resumer} vs {on_thread}");
    PARKED.with(|p| p.borrow_mut().take());
}

/// The epoch deadline interrupts guest code on a fiber (resumed after a suspension) as on the
/// thread: the fiber's call ends with an interrupt trap, and the thread goes on.
#[test]
fn deadline_interrupts_a_fiber() {
    let engine = Engine::default();
    let (_so, inst) = instance(&engine);
    let (mut f, out) = call_on_fiber(&inst, "yield-then-spin", vec![], stack());
    assert!(!f.resume().unwrap());
    inst.set_epoch_deadline(1);
    let e = engine.clone();
    let ticker = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        e.increment_epoch();
    });
    assert!(f.resume().unwrap());
    ticker.join().unwrap();
    assert_eq!(trap_kind(out.borrow_mut().take()), TrapKind::Interrupt);
    inst.set_epoch_deadline(u64::MAX / 2);
    let (mut f, out) = call_on_fiber(&inst, "run", vec![Val::I32(2)], stack());
    while !f.resume().unwrap() {}
    assert_eq!(
        i32s(out.borrow_mut().take().unwrap().unwrap()),
        [expected_run(2)]
    );
}

/// A host function on a fiber calls back into guest code (a nested entry on the fiber's
/// stack), which suspends: both activations survive the suspension.
#[test]
fn nested_host_to_guest_call_on_a_fiber() {
    let engine = Engine::default();
    let (_so, inst) = instance(&engine);
    let (mut f, out) = call_on_fiber(&inst, "outer", vec![Val::I32(20)], stack());
    assert!(!f.resume().unwrap());
    // Meanwhile the thread makes its own nested-free calls.
    assert_eq!(
        trap_kind(Some(inst.get_func("unreachable").unwrap().call(&[]))),
        TrapKind::UnreachableCodeReached
    );
    assert!(f.resume().unwrap());
    assert_eq!(
        i32s(out.borrow_mut().take().unwrap().unwrap()),
        [(20 + 1) * 2 + 1000]
    );
}

/// Dropping a suspended fiber resumes it cancelled: `suspend` fails, the host function's trap
/// unwinds the guest frames, the body's values are dropped and the store is left (another
/// thread can call into it). A never-started fiber is just freed.
#[test]
fn dropping_a_suspended_fiber_cancels_it() {
    let engine = Engine::default();
    let (_so, inst) = instance(&engine);
    struct Guard(Rc<Cell<u32>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let dropped = Rc::new(Cell::new(0));
    let out: Outcome = Rc::new(RefCell::new(None));
    let (d, o, run) = (
        dropped.clone(),
        out.clone(),
        inst.get_func("outer").unwrap(),
    );
    let mut f = Fiber::new(
        stack(),
        Box::new(move || {
            let _g = Guard(d);
            *o.borrow_mut() = Some(run.call(&[Val::I32(1)]));
        }),
    );
    assert!(!f.resume().unwrap(), "suspended two activations deep");
    assert_eq!(dropped.get(), 0);
    drop(f);
    assert_eq!(dropped.get(), 1);
    match out.borrow_mut().take() {
        Some(Err(Error::Trap(t))) => assert!(t.message.contains("cancelled"), "{t}"),
        other => panic!("expected the cancellation trap, got {other:?}"),
    }
    // The store is free again: another thread enters it.
    let oob = inst.get_func("oob").unwrap();
    let r = std::thread::spawn(move || oob.call(&[]).map(|_| ()))
        .join()
        .unwrap();
    assert!(
        matches!(r, Err(Error::Trap(ref t)) if t.kind == TrapKind::MemoryOutOfBounds),
        "{r:?}"
    );
    let d = dropped.clone();
    drop(Fiber::new(stack(), Box::new(move || d.set(99))));
    assert_eq!(dropped.get(), 1, "a never-started body does not run");
}

/// A fiber moved to another thread cannot be resumed there (an error, not undefined
/// behaviour); back on its thread it completes.
#[test]
fn resume_on_another_thread_is_an_error() {
    let engine = Engine::default();
    let (_so, inst) = instance(&engine);
    let (mut f, out) = call_on_fiber(&inst, "run", vec![Val::I32(7)], stack());
    assert!(!f.resume().unwrap());
    let mut f = std::thread::spawn(move || {
        let mut f = f;
        let e = f.resume().unwrap_err();
        assert!(e.to_string().contains("thread"), "{e}");
        f
    })
    .join()
    .unwrap();
    while !f.resume().unwrap() {}
    assert_eq!(
        i32s(out.borrow_mut().take().unwrap().unwrap()),
        [expected_run(7)]
    );
}

/// Exceptions held in guest frames of parked stacks: `host.check` records the number of live
/// exception objects in [`LIVE`].
const EXN_GUEST: &str = r#"
(module
  (import "host" "step" (func $step))
  (import "host" "yield" (func $yield (param i32) (result i32)))
  (import "host" "check" (func $check))
  (tag $e (param i32))
  (func $make (param i32) (result exnref)
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (throw $e (local.get 0)))
      (unreachable)))
  (func $unpack (param exnref) (result i32)
    (block $c (result i32)
      (try_table (catch $e $c) (throw_ref (local.get 0)))
      (unreachable)))
  (func (export "hold-across-yield") (param i32) (result i32)
    (local $x exnref)
    (local.set $x (call $make (local.get 0)))
    (drop (call $yield (i32.const 0)))
    (call $unpack (local.get $x)))
  (func (export "hold-across-step") (param i32) (result i32)
    (local $x exnref)
    (local.set $x (call $make (local.get 0)))
    (call $step)
    (call $check)
    (call $unpack (local.get $x)))
  (func (export "churn") (param i32)
    (local $i i32)
    (loop $next
      (drop (call $make (local.get $i)))
      (br_if $next (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                             (local.get 0))))
    (call $check))
  (func (export "nop")))
"#;

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Exception objects referenced only from guest frames of another stack survive: a fiber's
/// outermost return does not reset the heap while its resumer holds one, and collections
/// (which do run: the live count stays bounded) scan suspended fibers and resumers.
#[test]
fn exceptions_on_parked_stacks_survive() {
    use std::sync::atomic::Ordering;
    let engine = Engine::default();
    let (_so, module) = load_wat(&engine, EXN_GUEST).unwrap();
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "yield", |_, x: i32| -> Result<i32, Trap> {
        suspend()?;
        Ok(x)
    });
    linker.func_wrap("host", "step", |_, ()| -> Result<(), Trap> {
        step_parked().map_err(|e| Trap::host(e.to_string()))?;
        Ok(())
    });
    linker.func_wrap("host", "check", |_, ()| -> Result<(), Trap> {
        LIVE.store(kiln_runtime::live_exception_objects(), Ordering::Relaxed);
        Ok(())
    });
    let inst = linker.instantiate(&module).unwrap();
    let churn = 5000;
    // A suspended fiber holds one while the thread churns through thousands.
    let (mut f, out) = call_on_fiber(&inst, "hold-across-yield", vec![Val::I32(11)], stack());
    assert!(!f.resume().unwrap());
    inst.get_func("churn")
        .unwrap()
        .call(&[Val::I32(churn)])
        .unwrap();
    let live = LIVE.load(Ordering::Relaxed);
    assert!(
        live >= 1 && live < churn as usize,
        "collected, but not the held one: {live}"
    );
    assert!(f.resume().unwrap());
    assert_eq!(i32s(out.borrow_mut().take().unwrap().unwrap()), [11]);
    // A fiber's outermost return while its resumer holds one.
    let (f, _) = call_on_fiber(&inst, "nop", vec![], stack());
    PARKED.with(|p| *p.borrow_mut() = Some(f));
    let hold = inst.get_func("hold-across-step").unwrap();
    assert_eq!(i32s(hold.call(&[Val::I32(22)]).unwrap()), [22]);
    assert!(LIVE.load(Ordering::Relaxed) >= 1);
    // A fiber churns (collecting on its stack) while its resumer holds one.
    let (f, _) = call_on_fiber(&inst, "churn", vec![Val::I32(churn)], stack());
    PARKED.with(|p| *p.borrow_mut() = Some(f));
    assert_eq!(i32s(hold.call(&[Val::I32(33)]).unwrap()), [33]);
    let live = LIVE.load(Ordering::Relaxed);
    assert!(live >= 1 && live < churn as usize, "{live}");
    assert_eq!(
        kiln_runtime::live_exception_objects(),
        0,
        "reset once all returned"
    );
}

/// Costs, printed (not asserted): a suspend + resume round trip (bare, and through a guest
/// call of a suspending host function), and creating a fiber with a pooled stack.
#[test]
fn fiber_costs() {
    let n = 100_000u32;
    let mut f = Fiber::new(stack(), Box::new(|| while suspend().is_ok() {}));
    f.resume().unwrap();
    let t = Instant::now();
    for _ in 0..n {
        f.resume().unwrap();
    }
    let bare = t.elapsed().as_nanos() / u128::from(n);
    drop(f);

    let engine = Engine::default();
    let (_so, module) = load_wat(
        &engine,
        r#"(module
          (import "host" "yield" (func $yield (param i32) (result i32)))
          (func (export "loop") (param i32)
            (loop $l
              (br_if $l (call $yield (local.tee 0 (i32.sub (local.get 0) (i32.const 1))))))))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "yield", |_, x: i32| -> Result<i32, Trap> {
        suspend()?;
        Ok(x)
    });
    let inst = linker.instantiate(&module).unwrap();
    let (mut f, out) = call_on_fiber(&inst, "loop", vec![Val::I32(n as i32)], stack());
    let t = Instant::now();
    let mut rounds = 0u32;
    while !f.resume().unwrap() {
        rounds += 1;
    }
    let guest = t.elapsed().as_nanos() / u128::from(rounds);
    assert_eq!(rounds, n);
    assert!(out.borrow().as_ref().unwrap().is_ok());

    let size = stack_size_for(EngineConfig::default().max_wasm_stack);
    let m = 20_000u32;
    let t = Instant::now();
    for _ in 0..m {
        let mut f = Fiber::new(FiberStack::new(size).unwrap(), Box::new(|| {}));
        assert!(f.resume().unwrap());
    }
    let pooled = t.elapsed().as_nanos() / u128::from(m);
    // Fresh mappings: more stacks alive at once than the pool keeps.
    let t = Instant::now();
    let fresh: Vec<FiberStack> = (0..64).map(|_| FiberStack::new(size).unwrap()).collect();
    let mapped = t.elapsed().as_nanos() / 64;
    drop(fresh);
    println!(
        "fiber costs: suspend+resume {bare} ns; through a guest host call {guest} ns; \
         create+run+drop with a pooled stack {pooled} ns; a fresh stack mapping {mapped} ns"
    );
}

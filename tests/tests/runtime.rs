//! End-to-end runtime behaviour through the real path (wat → `.so` → load → instantiate → call),
//! and the properties every kiln `.so` must have.

use kiln_environ::TrapKind;
use kiln_runtime::{Engine, Error, Instance, Val};
use kiln_tests::{compile_wat, load_wat};
use object::elf;
use object::read::elf::{Dyn, ElfFile64, ProgramHeader};
use object::{Object, ObjectSection, ObjectSymbol};
use std::time::Duration;

const TRAPPY: &str = r#"
(module
  (memory 1)
  (func (export "unreachable") unreachable)
  (func (export "oob") (result i32) (i32.load (i32.const 70000)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func $rec (export "recurse") (param i32) (result i32)
    (call $rec (i32.add (local.get 0) (i32.const 1))))
  (func (export "ok") (result i32) (i32.const 7)))
"#;

fn trap_kind(r: Result<Vec<Val>, Error>) -> TrapKind {
    match r {
        Err(Error::Trap(t)) => t.kind,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn traps_leave_the_host_alive() {
    let engine = Engine::default();
    let (_so, module) = load_wat(&engine, TRAPPY).unwrap();
    let inst = Instance::new(&module, &[]).unwrap();
    let call = |name: &str, args: &[Val]| inst.get_func(name).unwrap().call(args);
    assert_eq!(
        trap_kind(call("unreachable", &[])),
        TrapKind::UnreachableCodeReached
    );
    assert_eq!(trap_kind(call("oob", &[])), TrapKind::MemoryOutOfBounds);
    assert_eq!(
        trap_kind(call("div", &[Val::I32(1), Val::I32(0)])),
        TrapKind::IntegerDivisionByZero
    );
    assert_eq!(
        trap_kind(call("div", &[Val::I32(i32::MIN), Val::I32(-1)])),
        TrapKind::IntegerOverflow
    );
    assert_eq!(
        trap_kind(call("recurse", &[Val::I32(0)])),
        TrapKind::StackOverflow
    );
    // The host carries on, and so does a new instance of the same module.
    let fresh = Instance::new(&module, &[]).unwrap();
    let r = fresh.get_func("ok").unwrap().call(&[]).unwrap();
    assert!(matches!(r[..], [Val::I32(7)]));
    // Repeated traps do not exhaust anything.
    for _ in 0..100 {
        assert_eq!(trap_kind(call("oob", &[])), TrapKind::MemoryOutOfBounds);
    }
}

#[test]
fn trap_message_has_kind_and_backtrace() {
    let engine = Engine::default();
    let wat = r#"(module (func $inner unreachable) (func (export "outer") (call $inner)))"#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let inst = Instance::new(&module, &[]).unwrap();
    match inst.get_func("outer").unwrap().call(&[]) {
        Err(Error::Trap(t)) => {
            assert!(t.to_string().contains("unreachable"), "{t}");
            assert!(!t.backtrace.is_empty(), "no backtrace: {t}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// Backtraces name functions as the debug symbols do: mangled Rust and C++ names demangled.
#[test]
fn trap_backtraces_demangle_names() {
    let engine = Engine::default();
    let wat = r#"(module
        (func $_ZN7mycrate5inner17h0123456789abcdefE unreachable)
        (func $_Z5outeri (param i32) (call $_ZN7mycrate5inner17h0123456789abcdefE))
        (func $plain_c (export "run") (call $_Z5outeri (i32.const 1))))"#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let inst = Instance::new(&module, &[]).unwrap();
    match inst.get_func("run").unwrap().call(&[]) {
        Err(Error::Trap(t)) => {
            let names: Vec<_> = t
                .backtrace
                .iter()
                .map(|f| f.func_name.clone().unwrap_or_default())
                .collect();
            assert_eq!(names, ["mycrate::inner", "outer(int)", "plain_c"], "{t}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn instances_do_not_share_memory() {
    let engine = Engine::default();
    let wat = r#"
      (module
        (memory 1)
        (global $g (mut i32) (i32.const 0))
        (func (export "store") (param i32) (i32.store (i32.const 16) (local.get 0))
          (global.set $g (local.get 0)))
        (func (export "load") (result i32) (i32.load (i32.const 16)))
        (func (export "global") (result i32) (global.get $g)))
    "#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let a = Instance::new(&module, &[]).unwrap();
    let b = Instance::new(&module, &[]).unwrap();
    a.get_func("store").unwrap().call(&[Val::I32(42)]).unwrap();
    let load = |i: &Instance, f: &str| match i.get_func(f).unwrap().call(&[]).unwrap()[..] {
        [Val::I32(v)] => v,
        ref other => panic!("unexpected results {other:?}"),
    };
    assert_eq!(load(&a, "load"), 42);
    assert_eq!(load(&b, "load"), 0);
    assert_eq!(load(&a, "global"), 42);
    assert_eq!(load(&b, "global"), 0);
}

#[test]
fn epoch_deadline_interrupts_an_infinite_loop() {
    let engine = Engine::default();
    let wat = r#"(module (func (export "spin") (loop (br 0))))"#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let inst = Instance::new(&module, &[]).unwrap();
    inst.set_epoch_deadline(1);
    let ticker = engine.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        ticker.increment_epoch();
    });
    match inst.get_func("spin").unwrap().call(&[]) {
        Err(Error::Trap(trap)) => {
            assert_eq!(trap.kind, TrapKind::Interrupt);
            assert!(trap.to_string().contains("interrupted"), "{trap}");
        }
        other => panic!("expected an interrupt, got {other:?}"),
    }
    t.join().unwrap();
}

/// The compiled code keeps a copy of the deadline in a register across loops: a deadline the
/// host sets during a call (here from a host function, while the guest function that loops
/// afterwards is already running, with no deadline before) must still stop that loop, in the
/// caller itself and in a caller two frames up (after a nested call returns).
#[test]
fn deadline_set_by_a_host_call_stops_a_running_loop() {
    let engine = Engine::default();
    let wat = r#"
      (module
        (import "host" "arm" (func $arm))
        (func $inner (call $arm))
        (func (export "direct") (call $arm) (loop (br 0)))
        (func (export "nested") (call $inner) (loop (br 0))))
    "#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    for export in ["direct", "nested"] {
        let mut linker = kiln_runtime::Linker::new(&engine);
        linker.func_new("host", "arm", Default::default(), |caller, _, _| {
            caller
                .instance()
                .expect("called from the guest")
                .set_epoch_deadline(1);
            Ok(())
        });
        let inst = linker.instantiate(&module).unwrap();
        // A far deadline when the call starts (the function caches it); `arm` moves it to
        // the next tick. A stale cached copy would only stop the loop 1000 ticks later.
        inst.set_epoch_deadline(1000);
        let start = engine.epoch();
        let ticker = engine.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let t = std::thread::spawn(move || {
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(2));
                ticker.increment_epoch();
            }
        });
        let result = inst.get_func(export).unwrap().call(&[]);
        let ticks = engine.epoch() - start;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        t.join().unwrap();
        match result {
            Err(Error::Trap(trap)) => assert_eq!(trap.kind, TrapKind::Interrupt, "{export}"),
            other => panic!("{export}: expected an interrupt, got {other:?}"),
        }
        assert!(
            ticks < 1000,
            "{export}: the loop ran on to the old deadline ({ticks} ticks)"
        );
    }
}

#[test]
fn shared_object_is_clean() {
    let so = compile_wat(TRAPPY).unwrap();
    let data = std::fs::read(&so.path).unwrap();
    let file = ElfFile64::<object::Endianness>::parse(&*data).unwrap();
    let endian = file.endian();

    // Exactly one exported symbol, the descriptor; no undefined symbols.
    let mut exported = Vec::new();
    for sym in file.dynamic_symbols() {
        let name = sym.name().unwrap_or("?").to_string();
        assert!(!sym.is_undefined(), "undefined dynamic symbol `{name}`");
        if sym.is_global() && sym.is_definition() {
            exported.push(name);
        }
    }
    assert_eq!(exported, vec![kiln_environ::DESCRIPTOR_SYMBOL.to_string()]);
    for sym in file.symbols() {
        assert!(
            !sym.is_undefined() || sym.name().unwrap_or("").is_empty(),
            "undefined symbol `{}`",
            sym.name().unwrap_or("?")
        );
    }

    // No text relocations, no constructors.
    let (dynamic, _) = file
        .elf_section_table()
        .dynamic(endian, &*data)
        .unwrap()
        .expect("a dynamic section");
    for d in dynamic {
        let tag = d.d_tag(endian);
        let val = d.d_val(endian);
        assert_ne!(tag, elf::DT_TEXTREL, "DT_TEXTREL present");
        if tag == elf::DT_FLAGS {
            assert_eq!(val & u64::from(elf::DF_TEXTREL), 0, "DF_TEXTREL set");
        }
        assert_ne!(tag, elf::DT_INIT, "DT_INIT present (constructor)");
    }
    for s in file.sections() {
        let name = s.name().unwrap_or("");
        if name == ".init_array" || name == ".ctors" {
            assert_eq!(s.size(), 0, "{name} is not empty (constructors)");
        }
    }

    // No TLS, and no segment both writable and executable.
    for ph in file.elf_program_headers() {
        assert_ne!(ph.p_type(endian), elf::PT_TLS, "PT_TLS segment present");
        let flags = ph.p_flags(endian);
        assert!(
            flags & (elf::PF_W | elf::PF_X) != (elf::PF_W | elf::PF_X),
            "writable and executable segment"
        );
    }
}

#[test]
fn traps_on_several_threads_at_once() {
    let engine = Engine::default();
    let (_so, module) = load_wat(&engine, TRAPPY).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let inst = Instance::new(&module, &[]).unwrap();
                for i in 0..200 {
                    let name = ["unreachable", "oob", "ok"][i % 3];
                    let r = inst.get_func(name).unwrap().call(&[]);
                    match name {
                        "unreachable" => {
                            assert_eq!(trap_kind(r), TrapKind::UnreachableCodeReached)
                        }
                        "oob" => assert_eq!(trap_kind(r), TrapKind::MemoryOutOfBounds),
                        _ => assert!(matches!(r.unwrap()[..], [Val::I32(7)])),
                    }
                }
            });
        }
    });
}

/// Typed calls (`Func::typed`) give what dynamic calls give, check the type once, and trap the
/// same way.
#[test]
fn typed_calls_match_dynamic_calls() {
    let engine = Engine::default();
    let wat = r#"(module
      (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
      (func (export "mix") (param i64 f32 f64) (result f64 i64)
        (f64.add (f64.convert_i64_s (local.get 0))
                 (f64.add (f64.promote_f32 (local.get 1)) (local.get 2)))
        (local.get 0))
      (func (export "nop"))
      (func (export "boom") (param i32) (result i32) unreachable))"#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let inst = Instance::new(&module, &[]).unwrap();
    let add = inst
        .get_func("add")
        .unwrap()
        .typed::<(i32, i32), i32>()
        .unwrap();
    for (a, b) in [(1, 2), (i32::MAX, 1), (-5, 3)] {
        assert_eq!(add.call((a, b)).unwrap(), a.wrapping_add(b));
        let dynamic = inst
            .get_func("add")
            .unwrap()
            .call(&[Val::I32(a), Val::I32(b)]);
        assert!(matches!(dynamic.unwrap()[..], [Val::I32(v)] if v == a.wrapping_add(b)));
    }
    let mix = inst
        .get_func("mix")
        .unwrap()
        .typed::<(i64, f32, f64), (f64, i64)>()
        .unwrap();
    assert_eq!(mix.call((-7, 1.5, 0.25)).unwrap(), (-5.25, -7));
    let nop = inst.get_func("nop").unwrap().typed::<(), ()>().unwrap();
    nop.call(()).unwrap();
    let boom = inst.get_func("boom").unwrap().typed::<i32, i32>().unwrap();
    match boom.call(1) {
        Err(Error::Trap(t)) => assert_eq!(t.kind, TrapKind::UnreachableCodeReached),
        other => panic!("expected a trap, got {other:?}"),
    }
    // Wrong types are refused when the typed function is made, not at call time.
    assert!(inst
        .get_func("add")
        .unwrap()
        .typed::<(i32, i64), i32>()
        .is_err());
    assert!(inst
        .get_func("add")
        .unwrap()
        .typed::<(i32, i32), ()>()
        .is_err());
    let host = kiln_runtime::Func::new(&engine, Default::default(), |_, _, _| Ok(()));
    assert!(host.typed::<(), ()>().is_err());
}

/// Typed host functions (`Func::wrap`, `Linker::func_wrap`) receive and return the guest's
/// values exactly, called from guest code and directly from the host; their errors and panics
/// are traps of the guest call; raw calls on value slots give the same results as dynamic ones.
#[test]
fn typed_host_functions_and_raw_calls() {
    let engine = Engine::default();
    let wat = r#"(module
      (import "host" "scale" (func $scale (param i64 f32 f64) (result f64 i32)))
      (import "host" "fail" (func $fail (param i32)))
      (import "host" "panic" (func $panic))
      (func (export "use_scale") (param i64 f32 f64) (result f64 i32)
        (call $scale (local.get 0) (local.get 1) (local.get 2)))
      (func (export "use_fail") (param i32) (call $fail (local.get 0)))
      (func (export "use_panic") (call $panic))
      (func (export "sub") (param i32 i32) (result i32) (i32.sub (local.get 0) (local.get 1)))
      (func (export "ref") (param externref) (result externref) (local.get 0)))"#;
    let (_so, module) = load_wat(&engine, wat).unwrap();
    let mut linker = kiln_runtime::Linker::new(&engine);
    linker.func_wrap("host", "scale", |_, (a, b, c): (i64, f32, f64)| {
        Ok((a as f64 * f64::from(b) + c, (a as i32).wrapping_neg()))
    });
    linker.func_wrap(
        "host",
        "fail",
        |_, code: i32| -> Result<(), kiln_runtime::Trap> {
            Err(kiln_runtime::Trap::host(format!("refused {code}")))
        },
    );
    linker.func_wrap("host", "panic", |_, ()| -> Result<(), kiln_runtime::Trap> {
        panic!("host bug")
    });
    let inst = linker.instantiate(&module).unwrap();
    let scale = inst
        .get_func("use_scale")
        .unwrap()
        .typed::<(i64, f32, f64), (f64, i32)>()
        .unwrap();
    assert_eq!(scale.call((3, 1.5, 0.25)).unwrap(), (4.75, -3));
    assert_eq!(
        scale.call((-1 << 40, 2.0, 0.0)).unwrap(),
        ((-(1i64 << 41)) as f64, 0)
    );
    match inst.get_func("use_fail").unwrap().call(&[Val::I32(7)]) {
        Err(Error::Trap(t)) => assert!(t.to_string().contains("refused 7"), "{t}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    match inst.get_func("use_panic").unwrap().call(&[]) {
        Err(Error::Trap(t)) => assert!(t.to_string().contains("panicked"), "{t}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    // The same wrapped function called directly by the host, with dynamic values.
    let direct = kiln_runtime::Func::wrap(&engine, |_, (a, b): (i32, i32)| Ok(a * b));
    match direct.call(&[Val::I32(6), Val::I32(7)]).unwrap()[..] {
        [Val::I32(42)] => {}
        ref other => panic!("unexpected {other:?}"),
    }
    // Raw calls: same results as dynamic calls; short arrays, references and host
    // functions are errors before anything runs.
    let sub = inst.get_func("sub").unwrap();
    let mut slots = [
        kiln_runtime::ValRaw::from_u128(10),
        kiln_runtime::ValRaw::from_u128(3),
    ];
    sub.call_raw(&mut slots).unwrap();
    assert_eq!(slots[0].get_u32(), 7);
    assert!(sub.call_raw(&mut slots[..1]).is_err());
    let mut one = [kiln_runtime::ValRaw::default()];
    let e = inst
        .get_func("ref")
        .unwrap()
        .call_raw(&mut one)
        .unwrap_err();
    assert!(e.to_string().contains("numeric"), "{e}");
    assert!(direct.call_raw(&mut slots).is_err());
}

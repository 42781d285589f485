//! End-to-end tests of the runtime on a hand-assembled kiln `.so` (see `fake_so.rs`): loading
//! and checks, instantiation (images, segments, tables, globals), calls in both directions,
//! builtins, and every way a guest can trap.

mod fake_so;

use fake_so::f;
use kiln_runtime::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

fn setup(tag: &str) -> (Engine, Module) {
    let engine = Engine::default();
    let path = fake_so::fake_module(tag);
    let module = Module::load(&engine, &path).expect("load fake module");
    (engine, module)
}

fn host_cb(engine: &Engine) -> Func {
    Func::new(
        engine,
        FuncType {
            params: vec![ValType::I32],
            results: vec![ValType::I32],
        },
        |caller, args, results| {
            let Val::I32(x) = args[0] else { unreachable!() };
            if x < 0 {
                return Err(Trap::host(format!("negative: {x}")));
            }
            // Reads the caller's memory: byte 0 is 'I' from the image.
            let mem = caller.memory(0).expect("caller memory");
            let mut b = [0u8; 1];
            mem.read(0, &mut b).unwrap();
            results[0] = Val::I32(x * 2 + i32::from(b[0]));
            Ok(())
        },
    )
}

fn instantiate(engine: &Engine, module: &Module) -> Instance {
    Instance::new(module, &[Extern::Func(host_cb(engine))]).expect("instantiate")
}

fn call(i: &Instance, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
    i.get_func(name)
        .unwrap_or_else(|| panic!("export {name}"))
        .call(args)
}

fn trap_of(r: Result<Vec<Val>, Error>) -> Trap {
    match r {
        Err(Error::Trap(t)) => t,
        other => panic!("expected a trap, got {other:?}"),
    }
}

fn i32_of(r: Result<Vec<Val>, Error>) -> i32 {
    match r.expect("call").as_slice() {
        [Val::I32(v)] => *v,
        other => panic!("expected one i32, got {other:?}"),
    }
}

#[test]
fn image_segments_and_loads() {
    let (engine, module) = setup("image");
    let i = instantiate(&engine, &module);
    let mem = match i.get_export("memory") {
        Some(Extern::Memory(m)) => m,
        other => panic!("{other:?}"),
    };
    let mut buf = [0u8; 5];
    mem.read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"IMAGE", "image mapped, in-image segment skipped");
    // The image is a copy-on-write mapping of the file, not a copy.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let base = format!("{:x}-", mem.data_ptr() as usize);
    let line = maps
        .lines()
        .find(|l| l.starts_with(&base))
        .expect("mapping at the memory base");
    assert!(line.ends_with("fake.so"), "{line}");
    mem.read(100, &mut buf).unwrap();
    assert_eq!(&buf, b"hello", "active segment copied");
    assert_eq!(
        i32_of(call(&i, "load", &[Val::I32(100)])),
        i32::from_le_bytes(*b"hell")
    );
    // Copy-on-write: writing does not change a second instance.
    call(&i, "store", &[Val::I32(0), Val::I32(0x21212121)]).unwrap();
    mem.read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"!!!!E");
    let j = instantiate(&engine, &module);
    assert_eq!(
        i32_of(call(&j, "load", &[Val::I32(0)])),
        i32::from_le_bytes(*b"IMAG")
    );
}

#[test]
fn out_of_bounds_load_is_a_trap_and_the_host_goes_on() {
    let (engine, module) = setup("oob");
    let i = instantiate(&engine, &module);
    let t = trap_of(call(&i, "load", &[Val::I32(65536)]));
    assert_eq!(t.kind, TrapKind::MemoryOutOfBounds);
    assert_eq!(t.message, "out of bounds memory access");
    assert_eq!(t.backtrace.len(), 1, "{t}");
    assert_eq!(t.backtrace[0].func_name.as_deref(), Some("load"));
    assert_eq!(t.backtrace[0].wasm_offset, Some(f::LOAD * 0x100 + 7));
    assert_eq!(t.backtrace[0].module_name.as_deref(), Some("fake"));
    assert_eq!(t.backtrace[0].source, Some(("fake.c".to_string(), 12)));
    assert!(
        t.to_string()
            .ends_with("fake!load (offset 0x107)\n           at fake.c:12"),
        "{t}"
    );
    // Far out of bounds: still within the guard reservation.
    let t = trap_of(call(&i, "load", &[Val::I32(-1)]));
    assert_eq!(t.kind, TrapKind::MemoryOutOfBounds);
    // The instance keeps working, and a new one too.
    assert_eq!(
        i32_of(call(&i, "load", &[Val::I32(0)])),
        i32::from_le_bytes(*b"IMAG")
    );
    let j = instantiate(&engine, &module);
    assert_eq!(
        i32_of(call(&j, "load", &[Val::I32(100)])),
        i32::from_le_bytes(*b"hell")
    );
    let t = trap_of(call(&i, "store", &[Val::I32(70000), Val::I32(1)]));
    assert_eq!(t.kind, TrapKind::MemoryOutOfBounds);
}

#[test]
fn instances_do_not_share_memory() {
    let (engine, module) = setup("share");
    let a = instantiate(&engine, &module);
    let b = instantiate(&engine, &module);
    call(&a, "store", &[Val::I32(200), Val::I32(7)]).unwrap();
    assert_eq!(i32_of(call(&a, "load", &[Val::I32(200)])), 7);
    assert_eq!(i32_of(call(&b, "load", &[Val::I32(200)])), 0);
}

#[test]
fn unreachable_div_and_traps_display() {
    let (engine, module) = setup("ud2");
    let i = instantiate(&engine, &module);
    let t = trap_of(call(&i, "unreachable", &[]));
    assert_eq!(t.kind, TrapKind::UnreachableCodeReached);
    let shown = t.to_string();
    assert!(
        shown.starts_with(
            "wasm trap: wasm `unreachable` instruction executed\nwasm backtrace:\n    0: fake!unreachable"
        ),
        "{shown}"
    );
    let t = trap_of(call(&i, "div", &[Val::I32(1), Val::I32(0)]));
    assert_eq!(t.kind, TrapKind::IntegerDivisionByZero);
    assert_eq!(i32_of(call(&i, "div", &[Val::I32(7), Val::I32(2)])), 3);
}

#[test]
fn host_functions_called_from_guest() {
    let (engine, module) = setup("host");
    let i = instantiate(&engine, &module);
    assert_eq!(
        i32_of(call(&i, "call_host", &[Val::I32(5)])),
        10 + i32::from(b'I')
    );
    let t = trap_of(call(&i, "call_host", &[Val::I32(-3)]));
    assert_eq!(t.kind, TrapKind::HostError);
    assert_eq!(t.message, "negative: -3");
    assert_eq!(
        t.backtrace.first().and_then(|f| f.func_name.as_deref()),
        Some("call_host"),
        "{t}"
    );
    // Still fine afterwards.
    assert_eq!(
        i32_of(call(&i, "call_host", &[Val::I32(1)])),
        2 + i32::from(b'I')
    );
}

#[test]
fn nested_entry_through_host_function() {
    let engine = Engine::default();
    let path = fake_so::fake_module("nested");
    let module = Module::load(&engine, &path).unwrap();
    // The host function calls back into another instance's `unreachable`, catches the trap,
    // and reports its message length.
    let other = instantiate(&engine, &module);
    let inner = other.get_func("unreachable").unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let c2 = calls.clone();
    let cb = Func::new(
        &engine,
        FuncType {
            params: vec![ValType::I32],
            results: vec![ValType::I32],
        },
        move |_caller, args, results| {
            c2.fetch_add(1, Ordering::SeqCst);
            let r = inner.call(&[]);
            let Err(Error::Trap(t)) = r else {
                return Err(Trap::host("expected a trap"));
            };
            let Val::I32(x) = args[0] else { unreachable!() };
            results[0] = Val::I32(t.message.len() as i32 + x);
            Ok(())
        },
    );
    let i = Instance::new(&module, &[Extern::Func(cb)]).unwrap();
    assert_eq!(
        i32_of(call(&i, "call_host", &[Val::I32(100)])),
        100 + TrapKind::UnreachableCodeReached.message().len() as i32
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The two instances are not linked: separate stores, each entered by this thread.
    assert!(!Instance::same_store(&i, &other));
}

#[test]
fn memory_grow_builtin_and_fill_bounds() {
    let (engine, module) = setup("grow");
    let i = instantiate(&engine, &module);
    let grow = |d: i64| match call(&i, "grow", &[Val::I64(d)]).unwrap()[0] {
        Val::I64(v) => v,
        ref o => panic!("{o:?}"),
    };
    assert_eq!(grow(1), 1);
    assert_eq!(grow(0), 2);
    assert_eq!(grow(2), -1, "beyond the maximum of 3");
    assert_eq!(grow(1), 2);
    assert_eq!(grow(1), -1);
    // The new pages are accessible to guest code.
    call(&i, "store", &[Val::I32(3 * 65536 - 4), Val::I32(9)]).unwrap();
    assert_eq!(i32_of(call(&i, "load", &[Val::I32(3 * 65536 - 4)])), 9);
    // memory.fill: zero length at the end is fine; one past traps with a backtrace.
    let size = 3 * 65536i64;
    call(&i, "fill", &[Val::I64(size), Val::I32(1), Val::I64(0)]).unwrap();
    call(
        &i,
        "fill",
        &[Val::I64(size - 2), Val::I32(0x41), Val::I64(2)],
    )
    .unwrap();
    let t = trap_of(call(
        &i,
        "fill",
        &[Val::I64(size - 1), Val::I32(1), Val::I64(2)],
    ));
    assert_eq!(t.kind, TrapKind::MemoryOutOfBounds);
    assert_eq!(
        t.backtrace.first().and_then(|f| f.func_name.as_deref()),
        Some("fill"),
        "{t}"
    );
    let t = trap_of(call(
        &i,
        "fill",
        &[Val::I64(size + 1), Val::I32(1), Val::I64(0)],
    ));
    assert_eq!(t.kind, TrapKind::MemoryOutOfBounds);
}

#[test]
fn stack_overflow_with_limit_check() {
    let (engine, module) = setup("stack");
    let i = instantiate(&engine, &module);
    let t = trap_of(call(&i, "recurse", &[]));
    assert_eq!(t.kind, TrapKind::StackOverflow);
    assert_eq!(t.message, "call stack exhausted");
    assert!(t.backtrace.len() > 100, "{}", t.backtrace.len());
    assert!(t
        .backtrace
        .iter()
        .all(|f| f.func_name.as_deref() == Some("recurse")));
    // Again, to check the limit is reset properly.
    assert_eq!(
        trap_of(call(&i, "recurse", &[])).kind,
        TrapKind::StackOverflow
    );
}

#[test]
fn stack_overflow_on_the_guard_page() {
    // A thread with a small stack, so the guard page is hit before the limit.
    let h = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let (engine, module) = setup("guard");
            let i = instantiate(&engine, &module);
            let t = trap_of(call(&i, "recurse_nolimit", &[]));
            assert_eq!(t.kind, TrapKind::StackOverflow);
            // The thread still works after overflowing its stack.
            assert_eq!(i32_of(call(&i, "div", &[Val::I32(9), Val::I32(3)])), 3);
        })
        .unwrap();
    h.join().unwrap();
}

#[test]
fn epoch_interruption() {
    let (engine, module) = setup("epoch");
    let i = instantiate(&engine, &module);
    i.set_epoch_deadline(0);
    let t = trap_of(call(&i, "spin", &[]));
    assert_eq!(t.kind, TrapKind::Interrupt);
    assert_eq!(
        t.backtrace.first().and_then(|f| f.func_name.as_deref()),
        Some("spin"),
        "{t}"
    );
    i.set_epoch_deadline(1);
    let e2 = engine.clone();
    let ticker = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        e2.increment_epoch();
    });
    let t = trap_of(call(&i, "spin", &[]));
    assert_eq!(t.kind, TrapKind::Interrupt);
    ticker.join().unwrap();
}

#[test]
fn tables_globals_and_funcrefs() {
    let (engine, module) = setup("refs");
    let i = instantiate(&engine, &module);
    let table = match i.get_export("table") {
        Some(Extern::Table(t)) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(table.size(), 2);
    let Some(Val::FuncRef(Some(load))) = table.get(0) else {
        panic!("elem 0")
    };
    assert!(matches!(table.get(1), Some(Val::FuncRef(None))));
    assert!(table.get(2).is_none());
    assert_eq!(
        load.ty(),
        FuncType {
            params: vec![ValType::I32],
            results: vec![ValType::I32]
        }
    );
    assert_eq!(
        i32_of(load.call(&[Val::I32(100)])),
        i32::from_le_bytes(*b"hell")
    );
    // A funcref returned by guest code.
    let r = call(&i, "funcref", &[]).unwrap();
    let [Val::FuncRef(Some(g))] = r.as_slice() else {
        panic!("{r:?}")
    };
    assert!(Func::same(g, &load));
    drop(i);
    // The function keeps its instance alive.
    assert_eq!(i32_of(g.call(&[Val::I32(0)])), i32::from_le_bytes(*b"IMAG"));
    // Host funcs in tables; growth.
    let hf = host_cb(&engine);
    assert_eq!(table.grow(3, Val::FuncRef(Some(hf.clone()))).unwrap(), 2);
    let Some(Val::FuncRef(Some(h))) = table.get(4) else {
        panic!()
    };
    assert!(h.is_host());
    assert!(table.grow(100, Val::FuncRef(None)).is_err());
    assert!(table.set(0, Val::I32(1)).is_err());

    let (engine2, module2) = setup("refs2");
    let j = instantiate(&engine2, &module2);
    let Some(Extern::Global(g)) = j.get_export("g") else {
        panic!()
    };
    assert!(matches!(g.get(), Val::I32(42)));
    g.set(Val::I32(7)).unwrap();
    assert!(matches!(g.get(), Val::I32(7)));
    assert!(g.set(Val::I64(7)).is_err());
}

#[test]
fn argument_and_import_checks() {
    let (engine, module) = setup("checks");
    let i = instantiate(&engine, &module);
    assert!(matches!(call(&i, "load", &[]), Err(Error::Other(_))));
    assert!(matches!(
        call(&i, "load", &[Val::I64(1)]),
        Err(Error::Other(_))
    ));
    let wrong = Func::new(&engine, FuncType::default(), |_, _, _| Ok(()));
    match Instance::new(&module, &[Extern::Func(wrong)]) {
        Err(Error::Link(m)) => assert_eq!(m, "incompatible import type for `host::cb`"),
        other => panic!("{:?}", other.err()),
    }
    let mem = Memory::new(
        &engine,
        MemoryType {
            min: 1,
            max: None,
            memory64: false,
            shared: false,
            page_size_log2: 16,
        },
    )
    .unwrap();
    assert!(matches!(
        Instance::new(&module, &[Extern::Memory(mem)]),
        Err(Error::Link(_))
    ));
    assert!(matches!(Instance::new(&module, &[]), Err(Error::Link(_))));
    // The linker resolves by name.
    let mut linker = Linker::new(&engine);
    assert!(
        matches!(linker.instantiate(&module), Err(Error::Link(m)) if m.contains("unknown import `host::cb`"))
    );
    linker.define("host", "cb", Extern::Func(host_cb(&engine)));
    let k = linker.instantiate(&module).unwrap();
    assert_eq!(
        i32_of(call(&k, "call_host", &[Val::I32(0)])),
        i32::from(b'I')
    );
}

fn load_err(
    tag: &str,
    edit: impl FnOnce(&mut kiln_environ::ModuleMetadata),
    asm_edit: impl FnOnce(String) -> String,
) -> String {
    let mut md = fake_so::metadata();
    edit(&mut md);
    let asm = asm_edit(fake_so::assembly(&md));
    let so = fake_so::build_broken(&fake_so::scratch(tag), "bad", &asm);
    match Module::load(&Engine::default(), &so) {
        Err(Error::Load(m)) => m,
        other => panic!("expected a load error, got {other:?}"),
    }
}

#[test]
fn load_checks() {
    let m = load_err(
        "target",
        |md| md.build.target = "aarch64-unknown-linux-gnu".into(),
        |s| s,
    );
    assert!(
        m.contains("compiled for target aarch64-unknown-linux-gnu"),
        "{m}"
    );
    let m = load_err(
        "feat",
        |md| md.build.cpu_features.push("sse9".into()),
        |s| s,
    );
    assert!(
        m.contains("requires CPU features unknown to this runtime: sse9"),
        "{m}"
    );
    let m = load_err("abi", |md| md.build.abi_version = 99, |s| s);
    assert!(
        m.contains("for ABI version 99, this runtime (kiln 0.1.0) supports ABI version"),
        "{m}"
    );
    let m = load_err(
        "dabi",
        |_| {},
        |s| {
            let abi = kiln_environ::ABI_VERSION;
            s.replace(
                &format!("    .long {abi}\n    .long 96"),
                &format!("    .long {}\n    .long 96", abi + 100),
            )
        },
    );
    let other = kiln_environ::ABI_VERSION + 100;
    assert!(
        m.contains(&format!("compiled for ABI version {other}")),
        "{m}"
    );
    let m = load_err("magic", |_| {}, |s| s.replace("KILN\\0MOD", "KILN\\0BAD"));
    assert!(m.contains("not a kiln shared object"), "{m}");
    let m = load_err(
        "nosym",
        |_| {},
        |s| s.replace("kiln_module_v1", "other_symbol"),
    );
    assert!(m.contains("not a kiln shared object"), "{m}");
    let m = load_err(
        "meta",
        |_| {},
        |s| s.replace("metadata_end - metadata_start", "3"),
    );
    assert!(m.contains("corrupt kiln metadata"), "{m}");
    let m = load_err(
        "body",
        |md| md.functions[1].body = Some((1 << 30, 4)),
        |s| s,
    );
    assert!(
        m.contains("corrupt kiln metadata: function 1 body outside the text"),
        "{m}"
    );
    let m = load_err("count", |md| md.global_inits.clear(), |s| s);
    assert!(m.contains("corrupt kiln metadata"), "{m}");
    let m = load_err(
        "export",
        |md| {
            md.exports.push(kiln_environ::Export {
                name: "x".into(),
                kind: kiln_environ::ExportKind::Memory,
                index: 5,
            })
        },
        |s| s,
    );
    assert!(m.contains("corrupt kiln metadata: export `x` index"), "{m}");
    match Module::load(
        &Engine::default(),
        std::path::Path::new("/nonexistent/x.so"),
    ) {
        Err(Error::Load(m)) => assert!(m.contains("/nonexistent/x.so"), "{m}"),
        other => panic!("{other:?}"),
    }
    if has_cpu_feature("avx512f") == Some(false) {
        let m = load_err(
            "avx",
            |md| md.build.cpu_features.push("avx512f".into()),
            |s| s,
        );
        assert!(
            m.contains("compiled for x86-64, this CPU lacks avx512f"),
            "{m}"
        );
    }
}

#[test]
fn guest_code_ranges_are_registered_while_the_module_lives() {
    let (engine, module) = setup("ranges");
    let i = instantiate(&engine, &module);
    let (start, len) = module.text_range();
    assert!(is_guest_pc(start) && is_guest_pc(start + len - 1) && !is_guest_pc(start + len));
    let here = guest_code_ranges_are_registered_while_the_module_lives as *const () as usize;
    assert!(!is_guest_pc(here));
    drop(module);
    assert!(
        is_guest_pc(start),
        "the instance keeps the module registered"
    );
    // (Not asserted after `drop(i)`: a module loaded by a parallel test may reuse the range.)
    drop(i);
}

/// Set in the child process of `host_segfaults_are_not_swallowed`.
const CRASH_CHILD: &str = "KILN_RUNTIME_TEST_CRASH_CHILD";

#[test]
fn host_segfaults_are_not_swallowed() {
    if std::env::var_os(CRASH_CHILD).is_some() {
        // Child: a host function called from guest code dereferences null. The fault is not in
        // guest code, so it must reach the previous handler (std's, then the default action).
        let engine = Engine::default();
        let module = Module::load(&engine, &fake_so::fake_module("crash")).unwrap();
        let cb = Func::new(
            &engine,
            FuncType {
                params: vec![ValType::I32],
                results: vec![ValType::I32],
            },
            |_, _, _| {
                // SAFETY: none; this deliberately faults to test signal chaining.
                unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u32>(), 1) };
                Ok(())
            },
        );
        let i = Instance::new(&module, &[Extern::Func(cb)]).unwrap();
        let r = call(&i, "call_host", &[Val::I32(1)]);
        eprintln!("child survived a host segfault: {r:?}");
        std::process::exit(0);
    }
    use std::os::unix::process::ExitStatusExt;
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "host_segfaults_are_not_swallowed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, "1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSEGV),
        "child status {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn host_functions_in_tables_borrow_a_trampoline() {
    let (engine, module) = setup("hosttable");
    let i = instantiate(&engine, &module);
    let Some(Extern::Table(table)) = i.get_export("table") else {
        panic!("table")
    };
    // Never imported anywhere: guest calls borrow the module's trampoline for (i32) -> (i32).
    let f = Func::new(
        &engine,
        FuncType {
            params: vec![ValType::I32],
            results: vec![ValType::I32],
        },
        |_, args, results| {
            let Val::I32(x) = args[0] else { unreachable!() };
            results[0] = Val::I32(x * 10);
            Ok(())
        },
    );
    table.set(1, Val::FuncRef(Some(f))).unwrap();
    assert_eq!(
        i32_of(call(&i, "call_table", &[Val::I32(1), Val::I32(4)])),
        40
    );
    // A guest function through the same path.
    assert_eq!(
        i32_of(call(&i, "call_table", &[Val::I32(0), Val::I32(100)])),
        i32::from_le_bytes(*b"hell")
    );
    // A signature no module has a trampoline for: calling it traps instead of crashing.
    let g = Func::new(
        &engine,
        FuncType {
            params: vec![ValType::F64],
            results: vec![],
        },
        |_, _, _| Ok(()),
    );
    table.set(1, Val::FuncRef(Some(g))).unwrap();
    let t = trap_of(call(&i, "call_table", &[Val::I32(1), Val::I32(4)]));
    assert_eq!(t.kind, TrapKind::HostError);
    assert!(t.message.contains("without a host trampoline"), "{t}");
    assert_eq!(
        t.backtrace.first().and_then(|f| f.func_name.as_deref()),
        Some("call_table"),
        "{t}"
    );
}

#[test]
fn traps_while_other_threads_load_and_drop_modules() {
    // Regression: a trap on one thread while another thread held the code-registry lock used to
    // reach the default signal action and kill the process.
    let engine = Engine::default();
    let path = fake_so::fake_module("concurrent");
    let module = Module::load(&engine, &path).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loader = {
        let (engine, path, stop) = (engine.clone(), path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) || n < 50 {
                drop(Module::load(&engine, &path).unwrap());
                n += 1;
            }
        })
    };
    let i = instantiate(&engine, &module);
    for _ in 0..2000 {
        assert_eq!(
            trap_of(call(&i, "load", &[Val::I32(-1)])).kind,
            TrapKind::MemoryOutOfBounds
        );
        assert_eq!(
            trap_of(call(&i, "unreachable", &[])).kind,
            TrapKind::UnreachableCodeReached
        );
    }
    stop.store(true, Ordering::Relaxed);
    loader.join().unwrap();
}

#[test]
#[ignore = "timing report, run with --ignored --nocapture"]
fn timing_report() {
    let (engine, module) = setup("timing");
    let cb = host_cb(&engine);
    // 20000 instances × 8 GiB reservations exceed the 128 TiB address space: this also shows
    // that dropping an instance releases its memory reservation.
    let n = 20000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        drop(Instance::new(&module, &[Extern::Func(cb.clone())]).unwrap());
    }
    println!("instantiate + drop: {:?} each", t.elapsed() / n);
    let i = instantiate(&engine, &module);
    let f = i.get_func("div").unwrap();
    let t = std::time::Instant::now();
    for _ in 0..100 * n {
        f.call(&[Val::I32(9), Val::I32(3)]).unwrap();
    }
    println!("call: {:?} each", t.elapsed() / (100 * n));
    let t = std::time::Instant::now();
    for _ in 0..n {
        let _ = call(&i, "unreachable", &[]);
    }
    println!("trap: {:?} each", t.elapsed() / n);
}

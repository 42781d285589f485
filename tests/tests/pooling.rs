//! The engine's reservation pool and pre-instantiation (docs/runtime-api.md, "Instantiation:
//! pooling and pre-instantiation"), through the real path: modules compiled from `.wat` to
//! `.so`, loaded and instantiated by the runtime.
//!
//! - A reused memory slot is indistinguishable from a fresh one: every byte the guest can read
//!   is zero or the module's data image, whatever the previous owner wrote or grew; its size
//!   is the new minimum and an access past it traps (guard kept). The same for tables.
//! - Store limits still apply to pooled memories and tables.
//! - Many threads instantiating and dropping through one engine see only clean slots.
//! - `InstancePre` / `ComponentPre` instantiate repeatedly without the linker.

use kiln_environ::TrapKind;
use kiln_runtime::component::Val as CVal;
use kiln_runtime::{
    ComponentLinker, Engine, EngineConfig, Error, Instance, InstancePre, Linker, Memory,
    StoreLimits, Val,
};
use kiln_tests::load_wat;
use std::sync::Arc;

const PAGE: usize = 65536;

/// Two pages (max 6): a page-aligned one-page segment at page 1 (mapped copy-on-write from the
/// `.so` when the image allows), a small one at 100 (copied).
const IMAGE_WAT: &str = r#"(module
  (memory (export "memory") 2 6)
  (table (export "table") 4 10 funcref)
  (data (i32.const 100) "small segment")
  (data (i32.const 65536) "PAGE-ALIGNED" (; padded below ;))
  (func $f)
  (elem declare func $f)
  (func (export "fill") (param i32)
    (memory.fill (i32.const 0) (local.get 0) (i32.mul (memory.size) (i32.const 65536))))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "table-size") (result i32) (table.size 0))
  (func (export "table-fill")
    (drop (table.grow 0 (ref.func $f) (i32.const 3)))
    (table.fill 0 (i32.const 0) (ref.func $f) (table.size 0)))
  (func (export "is-null") (param i32) (result i32) (ref.is_null (table.get 0 (local.get 0)))))"#;

/// One page, no data.
const PLAIN_WAT: &str = r#"(module
  (memory (export "memory") 1 3)
  (func (export "fill") (param i32)
    (memory.fill (i32.const 0) (local.get 0) (i32.mul (memory.size) (i32.const 65536))))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0))))"#;

/// `IMAGE_WAT` with the page-aligned segment a whole page long (so the compiler's image is
/// page-sized and can be mapped from the file).
fn image_wat() -> String {
    let page: String = (0..PAGE)
        .map(|i| format!("\\{:02x}", (i * 7 % 251) as u8 | 1))
        .collect();
    IMAGE_WAT.replace(
        r#""PAGE-ALIGNED" (; padded below ;)"#,
        &format!("\"{page}\""),
    )
}

/// What the image module's memory holds right after instantiation.
fn expected_image() -> Vec<u8> {
    let mut m = vec![0u8; 2 * PAGE];
    m[100..113].copy_from_slice(b"small segment");
    for i in 0..PAGE {
        m[PAGE + i] = (i * 7 % 251) as u8 | 1;
    }
    m
}

fn engine(slots: usize) -> Engine {
    Engine::new(EngineConfig {
        pooled_reservations: slots,
        ..Default::default()
    })
}

fn call(i: &Instance, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
    i.get_func(name)
        .unwrap_or_else(|| panic!("no export {name}"))
        .call(args)
}

fn i32_of(r: Result<Vec<Val>, Error>) -> i32 {
    match r.expect("call")[..] {
        [Val::I32(v)] => v,
        ref o => panic!("expected one i32, got {o:?}"),
    }
}

fn trap_kind(r: Result<Vec<Val>, Error>) -> TrapKind {
    match r {
        Err(Error::Trap(t)) => t.kind,
        other => panic!("expected a trap, got {other:?}"),
    }
}

fn memory(i: &Instance) -> Memory {
    match i.get_export("memory") {
        Some(kiln_runtime::Extern::Memory(m)) => m,
        _ => panic!("no memory export"),
    }
}

/// Every byte of the instance's memory, as the host reads it.
fn contents(i: &Instance) -> Vec<u8> {
    let m = memory(i);
    let mut buf = vec![0u8; m.data_size() as usize];
    m.read(0, &mut buf).expect("read");
    buf
}

/// The guest sees exactly `want`: its size, a sample of bytes through its own loads (the
/// host reads every byte), and a trap one byte past the end and further into the old size.
fn check_fresh(i: &Instance, want: &[u8], pages_before: usize) {
    assert_eq!(contents(i), want, "memory of a new instance");
    let len = want.len();
    for at in [0, 100, 112, 113, PAGE - 1, PAGE.min(len - 1), len - 1] {
        assert_eq!(
            i32_of(call(i, "load", &[Val::I32(at as i32)])),
            want[at] as i32,
            "byte {at}"
        );
    }
    for at in [len, len + PAGE - 1, pages_before * PAGE - 1] {
        if at >= len {
            assert_eq!(
                trap_kind(call(i, "load", &[Val::I32(at as i32)])),
                TrapKind::MemoryOutOfBounds,
                "load at {at} past the {len}-byte memory"
            );
        }
    }
}

#[test]
fn a_reused_slot_shows_only_zeros_and_the_data_image() {
    // Room for the memory's and the table's slots.
    let engine = engine(4);
    let (_c1, image) = load_wat(&engine, &image_wat()).expect("image module");
    let (_c2, plain) = load_wat(&engine, PLAIN_WAT).expect("plain module");
    let want = expected_image();
    let plain_zero = vec![0u8; PAGE];

    // Dirty an instance of the image module thoroughly: every byte, grown pages too.
    let a = Instance::new(&image, &[]).expect("instance 1");
    check_fresh(&a, &want, 2);
    assert_eq!(i32_of(call(&a, "grow", &[Val::I32(3)])), 2);
    call(&a, "fill", &[Val::I32(0xAB)]).expect("fill");
    assert_eq!(contents(&a), vec![0xAB; 5 * PAGE]);
    let base = memory(&a).data_ptr() as usize;
    drop(a);
    assert!(
        engine.pooled_reservations() >= 1,
        "the memory went back to the pool"
    );

    // The same module from the pool: the image again, 2 pages, pages 2..5 fault again.
    let b = Instance::new(&image, &[]).expect("instance 2");
    assert_eq!(memory(&b).data_ptr() as usize, base, "the slot was reused");
    check_fresh(&b, &want, 5);
    assert_eq!(i32_of(call(&b, "size", &[])), 2);
    call(&b, "fill", &[Val::I32(0xCD)]).expect("fill");
    drop(b);

    // Another module in the same slot: zeros only (the image is gone), 1 page.
    let c = Instance::new(&plain, &[]).expect("plain instance");
    assert_eq!(memory(&c).data_ptr() as usize, base, "the slot was reused");
    check_fresh(&c, &plain_zero, 2);
    assert_eq!(i32_of(call(&c, "grow", &[Val::I32(2)])), 1);
    call(&c, "fill", &[Val::I32(0xEF)]).expect("fill");
    drop(c);

    // And back: the image module in the slot the plain one dirtied.
    let d = Instance::new(&image, &[]).expect("instance 3");
    check_fresh(&d, &want, 3);
    // A grow after reuse gives zero pages.
    assert_eq!(i32_of(call(&d, "grow", &[Val::I32(1)])), 2);
    assert_eq!(contents(&d)[2 * PAGE..], vec![0u8; PAGE][..]);
    drop(d);

    // Host-created memories come from the pool as well and start zeroed.
    let m = Memory::new(
        &engine,
        kiln_runtime::MemoryType {
            min: 1,
            max: None,
            memory64: false,
            shared: false,
            page_size_log2: 16,
        },
    )
    .expect("host memory");
    let mut buf = vec![1u8; PAGE];
    m.read(0, &mut buf).expect("read");
    assert_eq!(buf, plain_zero);
    assert_eq!(m.size_pages(), 1);
}

#[test]
fn a_reused_table_starts_at_its_minimum_with_null_elements() {
    let engine = engine(4);
    let (_c, image) = load_wat(&engine, &image_wat()).expect("module");
    for round in 0..3 {
        let i = Instance::new(&image, &[]).expect("instance");
        assert_eq!(i32_of(call(&i, "table-size", &[])), 4, "round {round}");
        for e in 0..4 {
            assert_eq!(
                i32_of(call(&i, "is-null", &[Val::I32(e)])),
                1,
                "element {e}"
            );
        }
        assert_eq!(
            trap_kind(call(&i, "is-null", &[Val::I32(4)])),
            TrapKind::TableOutOfBounds
        );
        call(&i, "table-fill", &[]).expect("table-fill");
        assert_eq!(i32_of(call(&i, "table-size", &[])), 7);
        assert_eq!(i32_of(call(&i, "is-null", &[Val::I32(6)])), 0);
    }
}

#[test]
fn store_limits_apply_to_pooled_memories() {
    let engine = engine(4);
    let (_c1, image) = load_wat(&engine, &image_wat()).expect("image module");
    let (_c2, plain) = load_wat(&engine, PLAIN_WAT).expect("plain module");
    // Warm the pool with a slot grown large.
    let a = Instance::new(&image, &[]).expect("instance");
    call(&a, "grow", &[Val::I32(4)]).expect("grow");
    drop(a);

    let mut linker = Linker::new(&engine);
    linker.set_limiter(Arc::new(StoreLimits {
        memory_size: Some(PAGE as u64),
        ..Default::default()
    }));
    let Err(e) = linker.instantiate(&image) else {
        panic!("a 2-page memory instantiated under a 1-page limit");
    };
    assert!(e.to_string().contains("exceeds the store's limits"), "{e}");
    let pre = linker.instantiate_pre(&plain).expect("pre");
    for _ in 0..3 {
        let i = pre.instantiate().expect("1-page instance");
        assert_eq!(
            i32_of(call(&i, "grow", &[Val::I32(1)])),
            -1,
            "grow past the limit"
        );
        assert_eq!(contents(&i), vec![0u8; PAGE]);
        assert_eq!(
            trap_kind(call(&i, "load", &[Val::I32(PAGE as i32)])),
            TrapKind::MemoryOutOfBounds
        );
    }
}

#[test]
fn many_threads_instantiate_and_drop_through_one_engine() {
    let engine = engine(8);
    let (_c1, image) = load_wat(&engine, &image_wat()).expect("image module");
    let (_c2, plain) = load_wat(&engine, PLAIN_WAT).expect("plain module");
    let linker = Linker::new(&engine);
    let pres: Arc<[InstancePre; 2]> = Arc::new([
        linker.instantiate_pre(&image).expect("pre"),
        linker.instantiate_pre(&plain).expect("pre"),
    ]);
    let want = Arc::new(expected_image());
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let (pres, want) = (pres.clone(), want.clone());
            std::thread::spawn(move || {
                for n in 0..150usize {
                    let which = (t + n) % 2;
                    let i = pres[which].instantiate().expect("instantiate");
                    let c = contents(&i);
                    if which == 0 {
                        assert!(c == *want, "thread {t} round {n}: image module memory");
                    } else {
                        assert!(c.iter().all(|&b| b == 0), "thread {t} round {n}: zeros");
                    }
                    call(&i, "grow", &[Val::I32(1)]).expect("grow");
                    call(&i, "fill", &[Val::I32((t * 31 + n) as i32 | 1)]).expect("fill");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert!(engine.pooled_reservations() <= 8, "the pool is bounded");
}

/// Start address and length of every mapping in `/proc/self/maps`.
fn mappings() -> Vec<(usize, usize)> {
    std::fs::read_to_string("/proc/self/maps")
        .expect("maps")
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_whitespace().next()?.split_once('-')?;
            let a = usize::from_str_radix(a, 16).ok()?;
            Some((a, usize::from_str_radix(b, 16).ok()? - a))
        })
        .collect()
}

#[test]
fn dropping_the_engine_releases_its_pool_and_pooling_can_be_off() {
    let engine = engine(4);
    let (c, plain) = load_wat(&engine, PLAIN_WAT).expect("plain module");
    let i = Instance::new(&plain, &[]).expect("instance");
    let base = memory(&i).data_ptr() as usize;
    drop(i);
    assert_eq!(engine.pooled_reservations(), 1);
    assert!(
        mappings().iter().any(|&(a, _)| a == base),
        "the slot is kept"
    );
    drop(plain);
    drop(engine);
    // The slot's reservation (8 GiB + guard, PROT_NONE) is unmapped; another test's new
    // mapping could take the address, but not one with the slot's whole extent.
    let big = mappings()
        .iter()
        .any(|&(a, len)| a <= base && base < a + len && len >= 1 << 32);
    assert!(!big, "the engine's pool was unmapped");
    drop(c);

    let off = engine_off();
    assert_eq!(off.pooled_reservations(), 0);
}

fn engine_off() -> Engine {
    let engine = engine(0);
    let (_c, plain) = load_wat(&engine, PLAIN_WAT).expect("plain module");
    let i = Instance::new(&plain, &[]).expect("instance");
    call(&i, "fill", &[Val::I32(9)]).expect("fill");
    drop(i);
    let i = Instance::new(&plain, &[]).expect("instance");
    assert_eq!(contents(&i), vec![0u8; PAGE]);
    drop(i);
    engine
}

#[test]
fn instance_pre_resolves_imports_once() {
    let engine = Engine::default();
    let (_c, m) = load_wat(
        &engine,
        r#"(module (import "host" "base" (func $b (result i32)))
             (func (export "f") (result i32) (i32.add (call $b) (i32.const 1))))"#,
    )
    .expect("module");
    let mut linker = Linker::new(&engine);
    let Err(e) = linker.instantiate_pre(&m) else {
        panic!("pre without the import");
    };
    assert!(e.to_string().contains("unknown import `host::base`"), "{e}");
    linker.func_new(
        "host",
        "base",
        kiln_runtime::FuncType {
            params: vec![],
            results: vec![kiln_environ::ValType::I32],
        },
        |_, _, r| {
            r[0] = Val::I32(41);
            Ok(())
        },
    );
    let pre = linker.instantiate_pre(&m).expect("pre");
    // Later definitions do not change the pre's imports.
    linker.func_new(
        "host",
        "base",
        kiln_runtime::FuncType {
            params: vec![],
            results: vec![kiln_environ::ValType::I32],
        },
        |_, _, r| {
            r[0] = Val::I32(0);
            Ok(())
        },
    );
    for _ in 0..5 {
        let i = pre.instantiate().expect("instance");
        assert_eq!(i32_of(call(&i, "f", &[])), 42);
    }
    // The wrong type is refused when the pre is made.
    let mut bad = Linker::new(&engine);
    bad.func_new(
        "host",
        "base",
        kiln_runtime::FuncType {
            params: vec![],
            results: vec![],
        },
        |_, _, _| Ok(()),
    );
    assert!(matches!(bad.instantiate_pre(&m), Err(Error::Link(_))));
}

#[test]
fn component_pre_instantiates_clean_instances() {
    let engine = engine(4);
    let (_dir, c) = kiln_tests::load_component_file(&engine, "greet.wat", &Default::default());
    let pre = ComponentLinker::new(&engine)
        .instantiate_pre(&c)
        .expect("component pre");
    for round in 0..4 {
        let i = pre.instantiate().expect("component instance");
        // The bump allocator's area is zero in a new instance, whoever used the slot before.
        let mem = i.core_instances()[0].memory(0).expect("memory");
        let mut buf = vec![1u8; 4096];
        mem.read(4096, &mut buf).expect("read");
        assert!(buf.iter().all(|&b| b == 0), "round {round}");
        let r = i
            .call("greet", &[CVal::String(format!("n{round}"))])
            .expect("greet");
        assert_eq!(r, Some(CVal::String(format!("Hello, n{round}!"))));
    }
}

/// The module of `samples/c-host/pre_test.c`.
const C_MODULE_WAT: &str = r#"(module
  (import "host" "base" (func $base (result i32)))
  (memory (export "memory") 1 2)
  (func (export "f") (result i32) (i32.add (call $base) (i32.const 1)))
  (func (export "dirty") (memory.fill (i32.const 0) (i32.const 0x5A) (i32.const 65536))))"#;

#[test]
fn c_host_uses_instance_pre_and_component_pre() {
    let compiled = kiln_tests::compile_wat(C_MODULE_WAT).expect("module");
    let dir = compiled.dir.path();
    let wasm = wat::parse_file(kiln_tests::workspace().join("tests/components/calls.wat"))
        .expect("calls.wat");
    let component = dir.join("calls.so");
    kiln_compiler::compile_to_file(
        &wasm,
        &Default::default(),
        kiln_compiler::Emit::So,
        &component,
    )
    .expect("compile calls.wat");
    let src = kiln_tests::workspace().join("samples/c-host/pre_test.c");
    let exe = kiln_tests::chost::CHost::new(&src).build(dir, "pre_test");
    let (ok, out, err) =
        kiln_tests::tools::run_program(&exe, &[compiled.path.as_os_str(), component.as_os_str()]);
    let show = format!("stdout:\n{out}\nstderr:\n{err}");
    for line in [
        "pre without import: error kind 1, pre NULL",
        "core pre rounds: 20/20",
        "component pre rounds: 10/10",
        "null pre: error kind 3",
        "failures: 0",
    ] {
        assert!(out.lines().any(|l| l == line), "missing `{line}`\n{show}");
    }
    assert!(ok, "pre_test failed\n{show}");
}

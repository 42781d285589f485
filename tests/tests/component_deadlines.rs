//! Deadlines on component instances, through the real path (components compiled to `.so`,
//! loaded, instantiated and called by the runtime): epoch deadlines set on the linker (applied
//! before start functions run) or on the instance interrupt guest loops, glue loops and
//! blocking WASI calls; `kiln run --timeout` ends a spinning or sleeping component command.

use kiln_cli::tempdir::TempDir;
use kiln_environ::TrapKind;
use kiln_runtime::component::Val;
use kiln_runtime::{Component, ComponentLinker, Engine, Error};
use std::path::Path;
use std::time::{Duration, Instant};

/// Compiles and loads `tests/components/<name>` into `engine`.
fn component(engine: &Engine, name: &str) -> (TempDir, Component) {
    kiln_tests::load_component_file(engine, name, &Default::default())
}

/// Advances `engine`'s epoch once after `after`.
fn tick_after(engine: &Engine, after: Duration) -> std::thread::JoinHandle<()> {
    let engine = engine.clone();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        engine.increment_epoch();
    })
}

fn interrupt<T: std::fmt::Debug>(r: Result<T, Error>) -> kiln_runtime::Trap {
    match r {
        Err(Error::Trap(t)) if t.kind == TrapKind::Interrupt => t,
        other => panic!("expected an interrupt, got {other:?}"),
    }
}

/// A component export spinning forever is interrupted by the instance's deadline, and by the
/// linker's deadline; the instance is poisoned afterwards as the canonical ABI says, the host
/// is not.
#[test]
fn a_spinning_export_is_interrupted() {
    let engine = Engine::default();
    let (_d, c) = component(&engine, "deadlines.wat");
    let inst = ComponentLinker::new(&engine).instantiate(&c).unwrap();
    inst.set_epoch_deadline(1);
    let t = tick_after(&engine, Duration::from_millis(50));
    interrupt(inst.call("spin", &[]));
    t.join().unwrap();

    let mut l = ComponentLinker::new(&engine);
    l.set_epoch_deadline(1);
    let inst = l.instantiate(&c).unwrap();
    let t = tick_after(&engine, Duration::from_millis(50));
    interrupt(inst.call("spin", &[]));
    t.join().unwrap();
}

/// A core start function that never returns: the linker's deadline is in place before it runs,
/// so instantiation ends with an interrupt.
#[test]
fn a_spinning_start_function_is_interrupted() {
    let engine = Engine::default();
    let (_d, c) = component(&engine, "deadlines-start.wat");
    let mut l = ComponentLinker::new(&engine);
    l.set_epoch_deadline(1);
    let t = tick_after(&engine, Duration::from_millis(50));
    interrupt(l.instantiate(&c).map(|_| ()));
    t.join().unwrap();
}

/// The glue's own loops honour the deadline. The component is compiled without epoch checks
/// in guest code, so only the glue can notice: with the deadline already passed, its loop over
/// the argument's chars (after the callee's `realloc`) traps with an interrupt. Without a
/// deadline the same call completes.
#[test]
fn a_glue_loop_is_interrupted() {
    let engine = Engine::default();
    let mut config = kiln_compiler::Config::default();
    config.tunables.epoch_interruption = false;
    let (_d, c) = kiln_tests::load_component_file(&engine, "deadlines.wat", &config);
    let chars = Val::List(
        (0..200_000u32)
            .map(|i| Val::Char(char::from(b'a' + (i % 26) as u8)))
            .collect(),
    );
    let inst = ComponentLinker::new(&engine).instantiate(&c).unwrap();
    assert_eq!(
        inst.call("chars", std::slice::from_ref(&chars)).unwrap(),
        Some(Val::U32(200_000))
    );
    let inst = ComponentLinker::new(&engine).instantiate(&c).unwrap();
    inst.set_epoch_deadline(0);
    interrupt(inst.call("chars", &[chars]));
}

/// The WASI command guest's `sleep 600` (subscribe-duration + poll) and `spin` end soon after
/// the deadline, through the API and through `kiln run --timeout`.
#[test]
fn wasi_sleep_and_spin_end_at_the_deadline() {
    if let Some(why) = kiln_tests::wasip2_target_missing() {
        eprintln!("skipping: {why}");
        return;
    }
    let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("wasi-guests/cli");
    let target = kiln_tests::cache_dir().join("kiln-wasi-guests").join("cli");
    let wasm = kiln_tests::build_wasip2_guest(&guest, &target, "wasi-cli-guest");
    let dir = TempDir::new("kiln-deadlines-wasi").unwrap();
    let so = dir.path().join("guest.so");
    kiln_compiler::compile_to_file(
        &std::fs::read(&wasm).unwrap(),
        &Default::default(),
        kiln_compiler::Emit::So,
        &so,
    )
    .unwrap();
    for mode in [&["sleep", "600"][..], &["spin"][..]] {
        let engine = Engine::default();
        let component = Component::load(&engine, &so).unwrap();
        let mut linker = ComponentLinker::new(&engine);
        let mut config = kiln_runtime::wasi::WasiConfig::new();
        let mut args = vec!["guest"];
        args.extend_from_slice(mode);
        config.args(&args);
        kiln_runtime::wasi::add_to_linker(&mut linker, config);
        linker.set_epoch_deadline(1);
        let instance = linker.instantiate(&component).unwrap();
        let start = Instant::now();
        let t = tick_after(&engine, Duration::from_millis(200));
        interrupt(kiln_runtime::wasi::run_command(&instance));
        t.join().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{mode:?} took {:?}",
            start.elapsed()
        );
    }
    // The CLI.
    let kiln = kiln_tests::tools::kiln_exe();
    for mode in [&["sleep", "600"][..], &["spin"][..]] {
        let start = Instant::now();
        let out = std::process::Command::new(kiln)
            .args(["run", "--timeout", "300ms"])
            .arg(&so)
            .args(mode)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{mode:?}: {stderr}");
        assert!(stderr.contains("interrupt"), "{mode:?}: {stderr}");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{mode:?} took {:?}",
            start.elapsed()
        );
    }
}

//! The WASI host through the Rust API, on the hand-written command tests/components/wasi-echo.wat
//! (imports the 0.2.0 interfaces; the host defines 0.2.12): arguments, stdout to a buffer and to
//! a file descriptor, the exit status of `run`, instances of one linker isolated, missing WASI
//! definitions named. The C API and CLI run the same command in component_capi.rs and
//! cli/tests/wasi_run.rs.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::wasi::{self, OutputBuffer, OutputConfig, WasiConfig};
use kiln_runtime::{Component, ComponentLinker, Engine};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

fn load() -> (TempDir, Engine, Component) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("components/wasi-echo.wat");
    let wasm = wat::parse_file(&path).expect("wat");
    let dir = TempDir::new("kiln-wasi-api").expect("temp dir");
    let so = dir.path().join("echo.so");
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .expect("compile");
    let engine = Engine::default();
    let component = Component::load(&engine, &so).expect("load");
    (dir, engine, component)
}

fn run(engine: &Engine, component: &Component, args: &[&str]) -> (i32, Vec<u8>) {
    let out = OutputBuffer::new();
    let mut cfg = WasiConfig::new();
    cfg.args(args);
    cfg.stdout = OutputConfig::Buffer(out.clone());
    let mut linker = ComponentLinker::new(engine);
    wasi::add_to_linker(&mut linker, cfg);
    let instance = linker.instantiate(component).expect("instantiate");
    let status = wasi::run_command(&instance).expect("run");
    (status, out.contents())
}

#[test]
fn arguments_reach_the_guest_and_stdout_the_buffer() {
    let (_dir, engine, component) = load();
    let (status, out) = run(&engine, &component, &["echo", "a", "bc", "ünï"]);
    assert_eq!(status, 0);
    assert_eq!(String::from_utf8(out).unwrap(), "a bc ünï\n");
    let (status, out) = run(&engine, &component, &["echo"]);
    assert_eq!(status, 1, "run returns err without arguments");
    assert!(out.is_empty());
}

#[test]
fn stdout_to_a_file_descriptor() {
    let (_dir, engine, component) = load();
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let mut cfg = WasiConfig::new();
    cfg.args(&["echo", "through", "a", "pipe"]);
    cfg.stdout = OutputConfig::Fd(OwnedFd::from(writer));
    let mut linker = ComponentLinker::new(&engine);
    wasi::add_to_linker(&mut linker, cfg);
    let instance = linker.instantiate(&component).expect("instantiate");
    assert_eq!(wasi::run_command(&instance).expect("run"), 0);
    // The write end lives in the linker's configuration and the instance: drop both.
    drop(instance);
    drop(linker);
    let mut got = String::new();
    reader.read_to_string(&mut got).expect("read pipe");
    assert_eq!(got, "through a pipe\n");
}

#[test]
fn instances_of_one_linker_have_their_own_state() {
    let (_dir, engine, component) = load();
    let out = OutputBuffer::new();
    let mut cfg = WasiConfig::new();
    cfg.args(&["echo", "x"]);
    cfg.stdout = OutputConfig::Buffer(out.clone());
    let mut linker = ComponentLinker::new(&engine);
    wasi::add_to_linker(&mut linker, cfg);
    let a = linker.instantiate(&component).expect("a");
    let b = linker.instantiate(&component).expect("b");
    assert_eq!(wasi::run_command(&a).expect("a"), 0);
    assert_eq!(wasi::run_command(&b).expect("b"), 0);
    // Both wrote to the shared buffer; each got its own stream handle.
    assert_eq!(out.contents(), b"x\nx\n");
}

#[test]
fn without_wasi_the_missing_import_is_named() {
    let (_dir, engine, component) = load();
    match ComponentLinker::new(&engine).instantiate(&component) {
        Err(e) => assert!(e.to_string().contains("wasi:"), "{e}"),
        Ok(_) => panic!("instantiated without WASI"),
    }
}

#[test]
fn a_component_that_is_not_a_command() {
    let (_dir, engine, _) = load();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("components/host-resource.wat");
    let dir = TempDir::new("kiln-wasi-api-nc").expect("temp dir");
    let so = dir.path().join("c.so");
    kiln_compiler::compile_to_file(
        &wat::parse_file(&path).expect("wat"),
        &Default::default(),
        kiln_compiler::Emit::So,
        &so,
    )
    .expect("compile");
    let component = Component::load(&engine, &so).expect("load");
    let mut linker = ComponentLinker::new(&engine);
    linker.func("test:host/counters@0.1.0#[constructor]counter", |_| {
        Ok(None)
    });
    linker.func("test:host/counters@0.1.0#[method]counter.next", |_| {
        Ok(None)
    });
    linker.func("test:host/counters@0.1.0#consume", |_| Ok(None));
    let instance = linker.instantiate(&component).expect("instantiate");
    let e = wasi::run_command(&instance).expect_err("not a command");
    assert!(e.to_string().contains("wasi:cli/run"), "{e}");
}

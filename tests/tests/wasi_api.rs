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

/// A component whose WASI imports have other types than WASI's does not link: the WASI host
/// declares each function's type (from WASI's WIT), and the linker compares them with the
/// component's imports, resources by the interface that defines them.
#[test]
fn wasi_imports_of_another_type_do_not_link() {
    let engine = Engine::default();
    let dir = TempDir::new("kiln-wasi-types").expect("temp dir");
    let link = |name: &str, wat: &str| {
        let wasm = wat::parse_str(wat).unwrap_or_else(|e| panic!("{name}: {e}"));
        let so = dir.path().join(format!("{name}.so"));
        kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let component = Component::load(&engine, &so).expect("load");
        let mut linker = ComponentLinker::new(&engine);
        wasi::add_to_linker(&mut linker, WasiConfig::new());
        linker.instantiate(&component).map(drop)
    };
    // get-random-u64 with a parameter, with a string result, or async: refused at link time.
    for (name, ty) in [
        ("param", "(func (param \"n\" (list u8)) (result u64))"),
        ("result", "(func (result string))"),
        ("async", "(func async (result u64))"),
    ] {
        let wat = format!(
            "(component (import \"wasi:random/random@0.2.0\" \
             (instance (export \"get-random-u64\" {ty}))))"
        );
        let e = link(name, &wat).expect_err(name).to_string();
        assert!(
            e.contains("`wasi:random/random@0.2.0#get-random-u64` has the wrong type"),
            "{name}: {e}"
        );
        assert!(e.contains("func() -> u64"), "{name}: {e}");
    }
    // The right type links.
    let ok = "(component (import \"wasi:random/random@0.2.0\" \
              (instance (export \"get-random-u64\" (func (result u64))))))";
    link("ok", ok).expect("WASI's own type links");
    // Resources are compared by the interface defining them: `poll` of borrowed pollables
    // links; `poll` of borrowed wasi:io/error `error`s does not.
    let poll = |ty: &str| {
        format!(
            r#"(component
                 (import "wasi:io/error@0.2.0" (instance $err (export "error" (type (sub resource)))))
                 (alias export $err "error" (type $error))
                 (import "wasi:io/poll@0.2.0" (instance
                   (export "error" (type $e (eq $error)))
                   (export "pollable" (type $pollable (sub resource)))
                   (export "poll" (func (param "in" (list (borrow {ty}))) (result (list u32)))))))"#
        )
    };
    link("right-resource", &poll("$pollable")).expect("WASI's own read links");
    let e = link("wrong-resource", &poll("$e"))
        .expect_err("a poll of errors links")
        .to_string();
    assert!(e.contains("has the wrong type"), "{e}");
}

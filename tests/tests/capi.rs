//! The C API (`runtime-support/include/kiln.h`) tested from C: wat modules are compiled to
//! `.so` files with `kiln_compiler`, C programs from `samples/c-host/` are built with the
//! system `cc` against `kiln.h` and `libkiln_runtime` (shared and static), run, and their
//! output checked.

use kiln_cli::tempdir::TempDir;
use kiln_environ::TrapKind;
use kiln_tests::chost::{CHost, Link};
use kiln_tests::tools::{run_program, runtime_lib_dir};
use kiln_tests::workspace;
use object::{Object, ObjectSymbol};
use std::path::{Path, PathBuf};

/// The module `api_test.c` drives (imports `env.add_host`, `env.log`, `env.peek`,
/// `env.reenter`).
const MAIN: &str = r#"
(module
  (import "env" "add_host" (func $add_host (param i32 i32) (result i32)))
  (import "env" "log" (func $log (param i32 i32)))
  (import "env" "peek" (func $peek (param i32) (result i32)))
  (import "env" "reenter" (func $reenter (param i32 i32) (result i32)))
  (memory (export "memory") 1 4)
  (data (i32.const 16) "hello from wasm")
  (global $counter (export "counter") (mut i32) (i32.const 0))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "mix") (param i64 f32 f64) (result f64)
    (f64.add (f64.add (f64.convert_i64_s (local.get 0)) (f64.promote_f32 (local.get 1)))
             (local.get 2)))
  (func (export "v128_id") (param v128) (result v128) (local.get 0))
  (func (export "call_host") (param i32 i32) (result i32)
    (call $add_host (local.get 0) (i32.const 100)))
  (func (export "greet") (call $log (i32.const 16) (i32.const 15)))
  (func (export "peek_via_host") (param i32 i32) (result i32) (call $peek (local.get 0)))
  (func (export "reenter") (param i32 i32) (result i32)
    (call $reenter (local.get 0) (local.get 1)))
  (func (export "store") (param i32 i32) (result i32)
    (i32.store (local.get 0) (local.get 1)) (local.get 1))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func $inner unreachable)
  (func (export "boom") (call $inner))
  (func (export "bump") (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.get $counter))
  (func (export "spin") (loop $l (br $l)))
  (func (export "ref_id") (param externref) (result externref) (local.get 0)))
"#;

/// A module linked against an instance of `MAIN`.
const CLIENT: &str = r#"
(module
  (import "lib" "add" (func $add (param i32 i32) (result i32)))
  (import "lib" "memory" (memory 1))
  (func (export "add_and_peek") (param i32 i32) (result i32)
    (i32.add (call $add (local.get 0) (local.get 1)) (i32.load8_u (i32.const 100)))))
"#;

/// Compiles wat to a `.so` in `dir`.
fn compile(dir: &Path, name: &str, wat: &str) -> PathBuf {
    let wasm = wat::parse_str(wat).expect("valid wat");
    let path = dir.join(name);
    kiln_compiler::compile_to_file(
        &wasm,
        &kiln_compiler::Config::default(),
        kiln_compiler::Emit::So,
        &path,
    )
    .expect("compiles");
    path
}

/// Builds a C source file against `kiln.h` and the runtime library.
fn build_c(dir: &Path, source: &Path, name: &str, link: Link) -> PathBuf {
    CHost::new(source).link(link).build(dir, name)
}

/// Runs a program; returns (success, stdout, stderr).
fn run(exe: &Path, args: &[&Path]) -> (bool, String, String) {
    run_program(exe, args)
}

#[test]
fn c_program_drives_the_whole_api() {
    let dir = TempDir::new("kiln-capi").unwrap();
    let main = compile(dir.path(), "main.so", MAIN);
    let client = compile(dir.path(), "client.so", CLIENT);
    let junk = dir.path().join("not-a-module.so");
    std::fs::write(&junk, "this is not a shared object\n").unwrap();
    let src = workspace().join("samples/c-host/api_test.c");
    let exe = build_c(dir.path(), &src, "api_test", Link::Shared);
    let (ok, out, err) = run(&exe, &[&main, &client, &junk]);
    let show = format!("stdout:\n{out}\nstderr:\n{err}");
    for line in [
        // a load error for a non-kiln file; NULL arguments are errors
        "load error: kind 0",
        "null engine: kind 3, engine is NULL",
        "import 0: env.add_host kind 0",
        "export 0: memory kind 2",
        "export 1: counter kind 3",
        // calls with arguments and results of every numeric type
        "add(2, 3) = 5",
        "mix types: 1 2 3 -> 3",
        "mix = 40000000001.75",
        "mismatch: kind 3",
        "v128 round trip: ok",
        // raw calls on value slots; refused for short arrays and reference types
        "raw add(40, 2) = 42",
        "raw mix = 40000000001.75",
        "raw short: kind 3",
        "raw externref: kind 3, refused",
        "raw div: error kind 2",
        // a host import implemented in C, called from the guest (and reading guest memory)
        "call_host(7) = 107 (host calls: 1)",
        "log: hello from wasm",
        // caller-aware host functions reach the calling instance; re-entering the guest
        "peek(17) via caller = 101 (e)",
        "reenter(6, 3) = 2",
        "reenter trap: error kind 2, trap kind 7, message \"integer divide by zero\"",
        "caller-less: error kind 2, trap kind 11, \
         message \"the host function was not called from wasm\"",
        // guest memory
        "memory[100..104] = 4 3 2 1, pages 1, bytes 65536",
        "memory read: hello from wasm",
        "grow: old 1, now 2",
        // globals
        "counter = 2 (mutable 1)",
        "counter after set+bump = 41",
        // traps as trap objects with kind, message and backtrace
        "div: error kind 2, trap kind 7, message \"integer divide by zero\"",
        "kept trap: integer divide by zero",
        "boom: error kind 2, trap kind 9, message \"wasm `unreachable` instruction executed\"",
        "boom frame 0: func 13 inner (has offset)",
        "boom display: has backtrace",
        "host error: error kind 2, trap kind 11, message \"add_host refuses -1\"",
        "kind message 7: integer divide by zero",
        "spin: error kind 2, trap kind 10, message \"interrupted\"",
        // the process keeps running: the instance and a second instance work
        "after traps: add(40, 2) = 42",
        "second instance: add(20, 22) = 42, memory[100] = 0",
        // linking
        "unlinked: kind 1, unknown import `lib::add`",
        "client: 7",
        "extern kinds: 0 2",
        "client2: 11",
        // host items
        "direct host call: 11",
        "host memory: xyz",
        "table: size 2, call via element = 17",
        "finalized: 5",
        "failures: 0",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing line `{line}`\n{show}"
        );
    }
    assert!(ok, "api_test failed\n{show}");
}

/// A module `trust_test.c` calls: `load(0)` reads the first byte of its data image ("k").
const TRUST_MODULE: &str = r#"
(module
  (memory 1)
  (data (i32.const 0) "kiln")
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0))))
"#;

#[test]
fn c_program_refuses_hostile_files_and_checks_signatures() {
    use kiln_runtime::signature::SecretKey;
    use kiln_tests::hostile::{self, Trick};
    let dir = TempDir::new("kiln-capi-trust").unwrap();
    let d = dir.path();
    let module = compile(d, "module.so", TRUST_MODULE);
    let component = compile(
        d,
        "component.so",
        r#"(component
          (core module $m (func (export "f") (param i32) (result i32) (local.get 0)))
          (core instance $i (instantiate $m))
          (func (export "id") (param "x" s32) (result s32) (canon lift (core func $i "f"))))"#,
    );
    let unsigned = d.join("unsigned.so");
    std::fs::copy(&module, &unsigned).unwrap();
    let key = SecretKey::generate().unwrap();
    let other = SecretKey::generate().unwrap();
    let write = |name: &str, text: String| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let secret = write("key", key.to_text());
    let public = write("key.pub", key.public_key().to_text());
    let other_public = write("other.pub", other.public_key().to_text());
    // The hostile files: code that runs at load, posing as modules, and damaged artifacts.
    let marker = d.join("marker");
    let mut hostile_files = Vec::new();
    for (trick, name) in [
        (Trick::Constructor, "x.wasm"),
        (Trick::InitArrayPosingAsKiln, "no-extension"),
        (Trick::DtInit, "init.so"),
        (Trick::Ifunc, "ifunc.so"),
        (Trick::Needed, "needed.so"),
        (Trick::Tls, "tls.so"),
    ] {
        hostile_files.push(hostile::build(
            &d.join(format!("{trick:?}")),
            name,
            trick,
            &marker,
        ));
    }
    hostile_files.push(hostile::truncated(&module, 4096, &d.join("cut.so")));
    let bytes = std::fs::read(&module).unwrap();
    let mut raw = bytes.clone();
    hostile::set_raw_descriptor_pointer(&mut raw, 48, 0x10);
    let mut flipped = bytes.clone();
    hostile::flip_memory64(&mut flipped);
    for (name, b) in [("meta-0x10.so", raw), ("flipped.so", flipped)] {
        std::fs::write(d.join(name), b).unwrap();
        hostile_files.push(d.join(name));
    }
    let src = workspace().join("samples/c-host/trust_test.c");
    let exe = build_c(d, &src, "trust_test", Link::Shared);
    let mut args: Vec<&Path> = vec![
        &marker,
        &secret,
        &public,
        &other_public,
        &module,
        &component,
        &unsigned,
    ];
    args.extend(hostile_files.iter().map(PathBuf::as_path));
    let (ok, out, err) = run(&exe, &args);
    let show = format!("stdout:\n{out}\nstderr:\n{err}");
    for line in [
        "hostile files: 9 refused, marker absent",
        "signed and verified",
        "signed module: load(0) = 107",
        "private copy: load(0) = 107",
        "failures: 0",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing line `{line}`\n{show}"
        );
    }
    for reason in [
        "DT_NEEDED",
        "DT_INIT_ARRAY",
        "DT_INIT (a constructor)",
        "IRELATIVE",
        "PT_TLS",
        "extends past the end of the file",
        "has no relocation",
        "checksum mismatch",
        "a signature is required",
        "not trusted",
    ] {
        assert!(out.contains(reason), "no refusal for `{reason}`\n{show}");
    }
    assert!(ok, "trust_test failed\n{show}");
    assert!(!marker.exists());
}

#[test]
fn sample_host_runs_fib_statically_linked() {
    let dir = TempDir::new("kiln-capi-host").unwrap();
    let fib = std::fs::read_to_string(workspace().join("samples/fib.wat")).unwrap();
    let so = compile(dir.path(), "fib.so", &fib);
    let src = workspace().join("samples/c-host/host.c");
    let exe = build_c(dir.path(), &src, "host", Link::Static);
    let arg = |s: &str| PathBuf::from(s);
    let (ok, out, err) = run(&exe, &[&so, &arg("fib"), &arg("20")]);
    assert!(ok, "host failed: {out}{err}");
    assert_eq!(out, "6765\n");
    let (ok, out, _) = run(&exe, &[&so, &arg("fib_iter"), &arg("90")]);
    assert!(ok);
    assert_eq!(out, "2880067194370816120\n");
    let (ok, _, err) = run(&exe, &[&so, &arg("divide"), &arg("1"), &arg("0")]);
    assert!(!ok);
    assert!(
        err.contains("error: integer divide by zero (trap kind 7)"),
        "{err}"
    );
    let (ok, _, err) = run(&exe, &[&src, &arg("fib"), &arg("1")]);
    assert!(!ok);
    assert!(err.contains("cannot load module"), "{err}");
}

#[test]
fn header_matches_the_library_and_the_contract() {
    let header =
        std::fs::read_to_string(workspace().join("runtime-support/include/kiln.h")).unwrap();
    // Trap kinds: same values, order and messages as kiln_environ::TrapKind.
    let mut kinds = Vec::new();
    for line in header.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("KILN_TRAP_") {
            let (_, rest) = rest.split_once('=').expect("`= N`");
            let (n, rest) = rest.split_once(',').expect("`N,`");
            let msg = rest.split('"').nth(1).expect("message in the comment");
            kinds.push((n.trim().parse::<usize>().unwrap(), msg.to_string()));
        }
    }
    assert_eq!(kinds.len(), TrapKind::ALL.len());
    for (i, (n, msg)) in kinds.iter().enumerate() {
        assert_eq!(*n, i);
        assert_eq!(TrapKind::ALL[i] as usize, i);
        assert_eq!(msg, TrapKind::ALL[i].message());
    }
    // Every function the header declares is exported by the shared library, and vice versa.
    let mut declared: Vec<String> = Vec::new();
    for line in header.lines() {
        let code = line.split("/*").next().unwrap_or("");
        if code.starts_with(' ') || code.starts_with("typedef") || code.starts_with('#') {
            continue;
        }
        if let Some(open) = code.find('(') {
            let name = code[..open]
                .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("");
            if name.starts_with("kiln_") {
                declared.push(name.to_string());
            }
        }
    }
    declared.sort();
    let bytes = std::fs::read(runtime_lib_dir().join("libkiln_runtime.so")).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let mut exported: Vec<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_definition())
        .filter_map(|s| s.name().ok().map(str::to_string))
        .filter(|n| n.starts_with("kiln_"))
        .collect();
    exported.sort();
    exported.dedup();
    assert!(
        declared.len() > 70,
        "parsed {} declarations",
        declared.len()
    );
    assert_eq!(declared, exported);
}

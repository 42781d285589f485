//! The `kiln` binary end to end: compile, run (results, traps, timeouts, exit codes), inspect,
//! wast.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kiln() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
    // Keep `kiln run`'s compile cache inside the test's directory.
    c.env_remove("XDG_CACHE_HOME");
    c
}

struct Dir(kiln_cli::tempdir::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(kiln_cli::tempdir::TempDir::new("kiln-cli-test").unwrap())
    }
    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
}

fn run(cmd: &mut Command, dir: &Dir) -> Output {
    cmd.env("XDG_CACHE_HOME", dir.path().join("cache"))
        .output()
        .expect("run kiln")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const MODULE: &str = r#"
(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "mix") (param i64 f32 f64) (result i64 f32 f64)
    (local.get 0) (local.get 1) (local.get 2))
  (func (export "boom") unreachable)
  (func (export "spin") (loop (br 0)))
  (func $rec (export "rec") (call $rec))
  (func (export "oob") (result i32) (i32.load (i32.const 0x7fffffff)))
  (memory 1))
"#;

#[test]
fn run_invoke_prints_results() {
    let dir = Dir::new();
    let wat = dir.file("m.wat", MODULE);
    let o = run(
        kiln()
            .args(["run", "--invoke", "add"])
            .arg(&wat)
            .args(["2", "-3"]),
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "-1\n");
    let o = run(
        kiln()
            .args(["run", "--invoke", "mix"])
            .arg(&wat)
            .args(["0x10", "1.5", "-inf"]),
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "16\n1.5\n-inf\n");
    // The compiled module went into the cache.
    let cached = std::fs::read_dir(dir.path().join("cache/kiln"))
        .unwrap()
        .count();
    assert_eq!(cached, 1);
}

#[test]
fn trap_exits_with_status_1_and_message() {
    let dir = Dir::new();
    let wat = dir.file("m.wat", MODULE);
    let o = run(kiln().args(["run", "--invoke", "boom"]).arg(&wat), &dir);
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(&o));
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("unreachable"), "{err}");
    // Traps raised by signals (guard-page fault, stack overflow) are errors too, never a
    // signal death.
    for (export, message) in [
        ("oob", "out of bounds memory access"),
        ("rec", "call stack exhausted"),
    ] {
        let o = run(kiln().args(["run", "--invoke", export]).arg(&wat), &dir);
        assert_eq!(o.status.code(), Some(1), "{export}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{export}: {}", stderr(&o));
        assert!(stderr(&o).contains("wasm backtrace:"), "{}", stderr(&o));
    }
}

/// A wasm exception nothing catches ends `kiln run` like a trap: status 1, the message, the
/// backtrace from the throw.
#[test]
fn uncaught_exception_exits_with_status_1() {
    let dir = Dir::new();
    let wat = dir.file(
        "exc.wat",
        r#"(module
             (tag $e (param i32))
             (func $throw (throw $e (i32.const 3)))
             (func (export "caught") (result i32)
               (block $h (result i32) (try_table (catch $e $h) (call $throw)) (i32.const -1)))
             (func (export "boom") (result i32) (call $throw) (i32.const 1)))"#,
    );
    let o = run(kiln().args(["run", "--invoke", "caught"]).arg(&wat), &dir);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "3");
    let o = run(kiln().args(["run", "--invoke", "boom"]).arg(&wat), &dir);
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: wasm trap: uncaught exception"),
        "{err}"
    );
    assert!(err.contains("payload [3]"), "{err}");
    assert!(err.contains("wasm backtrace:"), "{err}");
}

#[test]
fn timeout_interrupts() {
    let dir = Dir::new();
    let wat = dir.file("m.wat", MODULE);
    let o = run(
        kiln()
            .args(["run", "--timeout", "200ms", "--invoke", "spin"])
            .arg(&wat),
        &dir,
    );
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(&o));
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
}

#[test]
fn run_without_invoke_or_start() {
    let dir = Dir::new();
    let wat = dir.file("m.wat", MODULE);
    let o = run(kiln().arg("run").arg(&wat), &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no --invoke given and module has no _start export"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_arguments_are_errors() {
    let dir = Dir::new();
    let wat = dir.file("m.wat", MODULE);
    let o = run(
        kiln()
            .args(["run", "--invoke", "add"])
            .arg(&wat)
            .args(["1"]),
        &dir,
    );
    assert_eq!(o.status.code(), Some(1));
    let o = run(
        kiln()
            .args(["run", "--invoke", "add"])
            .arg(&wat)
            .args(["1", "x"]),
        &dir,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid i32"), "{}", stderr(&o));
}

#[test]
fn compile_then_run_and_inspect_the_so() {
    let dir = Dir::new();
    let wat = dir.file("m.wat", MODULE);
    let so = dir.path().join("m.so");
    let o = run(
        kiln()
            .arg("compile")
            .arg(&wat)
            .arg("-o")
            .arg(&so)
            .args(["-O", "1"]),
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "compile is silent: {}", stderr(&o));
    let o = run(
        kiln()
            .args(["run", "--invoke", "add"])
            .arg(&so)
            .args(["40", "2"]),
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "42\n");
    let o = run(kiln().arg("inspect").arg(&so), &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "kiln version:",
        "ABI version:",
        "target:",
        "opt level:      1",
        "add: func",
        ".text",
    ] {
        assert!(out.contains(needle), "missing `{needle}` in:\n{out}");
    }
}

#[test]
fn compile_errors_name_the_file() {
    let dir = Dir::new();
    let wat = dir.file("bad.wat", "(module (func (result i32)))");
    let o = run(kiln().arg("compile").arg(&wat), &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("failed to compile"), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.wat"), "{}", stderr(&o));
}

#[test]
fn wast_command_counts() {
    let dir = Dir::new();
    let good = dir.file(
        "good.wast",
        r#"(module (func (export "f") (result i32) (i32.const 1)))
           (assert_return (invoke "f") (i32.const 1))"#,
    );
    let bad = dir.file(
        "bad.wast",
        r#"(module (func (export "f") (result i32) (i32.const 1)))
           (assert_return (invoke "f") (i32.const 2))"#,
    );
    let o = run(kiln().arg("wast").arg(&good), &dir);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("2 passed, 0 failed"), "{}", stdout(&o));
    let o = run(kiln().arg("wast").arg(&good).arg(&bad), &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("total: 3 passed, 1 failed"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn emit_obj_writes_a_relocatable_object() {
    let dir = Dir::new();
    let wat = dir.file("m.wat", MODULE);
    let obj = dir.path().join("m.o");
    let o = run(
        kiln()
            .arg("compile")
            .arg(&wat)
            .args(["--emit", "obj", "-o"])
            .arg(&obj),
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&obj).unwrap();
    assert!(bytes.starts_with(b"\x7fELF"));
    assert_eq!(u16::from_le_bytes([bytes[16], bytes[17]]), 1, "ET_REL");
}

#[test]
fn inspect_rejects_other_files() {
    let dir = Dir::new();
    let wat = dir.file("m.wat", MODULE);
    let o = run(kiln().arg("inspect").arg(&wat), &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("failed to inspect"), "{}", stderr(&o));
}

#[test]
fn run_reports_unsatisfiable_imports() {
    let dir = Dir::new();
    let wat = dir.file(
        "imp.wat",
        r#"(module (import "env" "f" (func)) (func (export "g")))"#,
    );
    let o = run(kiln().args(["run", "--invoke", "g"]).arg(&wat), &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("env::f"), "{}", stderr(&o));
}

#[test]
fn run_calls_start_and_reuses_the_cache() {
    let dir = Dir::new();
    let wat = dir.file(
        "start.wat",
        r#"(module (func (export "_start")) (func (export "v") (result v128 funcref)
             (v128.const i32x4 1 2 3 4) (ref.null func)))"#,
    );
    let o = run(kiln().arg("run").arg(&wat), &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    let o = run(kiln().args(["run", "--invoke", "v"]).arg(&wat), &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "0x00000004000000030000000200000001\nnull\n");
    let cached = std::fs::read_dir(dir.path().join("cache/kiln"))
        .unwrap()
        .count();
    assert_eq!(cached, 1, "one cache entry for one module");
}

#[test]
fn wast_features_narrow_validation() {
    let dir = Dir::new();
    let script = dir.file(
        "mm.wast",
        r#"(assert_invalid (module (memory 1) (memory 1)) "multiple memories")"#,
    );
    let o = run(
        kiln().arg("wast").args(["--features", "2.0"]).arg(&script),
        &dir,
    );
    assert!(o.status.success(), "{}", stdout(&o));
    let o = run(kiln().arg("wast").arg(&script), &dir);
    assert_eq!(o.status.code(), Some(1), "multi-memory is on by default");
}

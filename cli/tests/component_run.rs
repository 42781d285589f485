//! `kiln run --invoke` on components: WAVE arguments and results (as `wasmtime run --invoke`
//! prints them), world-level and interface exports, canonical-ABI traps, usage errors.

use kiln_cli::tempdir::TempDir;
use std::path::PathBuf;
use std::process::{Command, Output};

fn component(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/components")
        .join(name)
}

fn kiln(dir: &TempDir, file: &str, invoke: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .arg("run")
        .arg(component(file))
        .arg("--invoke")
        .arg(invoke)
        .output()
        .expect("run kiln")
}

fn ok(dir: &TempDir, file: &str, invoke: &str) -> String {
    let o = kiln(dir, file, invoke);
    assert!(
        o.status.success(),
        "{invoke}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8 output")
}

fn fails(dir: &TempDir, file: &str, invoke: &str) -> String {
    let o = kiln(dir, file, invoke);
    assert_eq!(o.status.code(), Some(1), "{invoke}");
    String::from_utf8(o.stderr).expect("utf-8 output")
}

#[test]
fn invoke_prints_wave_results() {
    let dir = TempDir::new("kiln-component-run").expect("temp dir");
    assert_eq!(
        ok(&dir, "greet.wat", r#"greet("world")"#),
        "\"Hello, world!\"\n"
    );
    assert_eq!(
        ok(&dir, "greet.wat", r#"test:greet/api#greet("wörld")"#),
        "\"Hello, wörld!\"\n"
    );
    // A name found in exactly one exported interface needs no prefix.
    assert_eq!(ok(&dir, "greet.wat", "count([1, 2, 3])"), "3\n");
    assert_eq!(ok(&dir, "greet.wat", "pair(7)"), "(7, \"Hello\")\n");
    let calls = [
        (
            "echo-rec({a: 1, b: \"x\", c: 'y'})",
            "{a: 1, b: \"x\", c: 'y'}\n",
        ),
        ("echo-result(err(5))", "err(5)\n"),
        ("echo-result(ok(\"fine\"))", "ok(\"fine\")\n"),
        ("echo-flags({r, x})", "{r, x}\n"),
        ("echo-enum(y)", "y\n"),
        ("option-arg(some(4))", "1004\n"),
        ("option-arg(none)", "0\n"),
        ("echo-f32(nan)", "nan\n"),
        ("echo-f64(-inf)", "-inf\n"),
        ("echo-char('😀')", "'😀'\n"),
        ("echo-strings([\"a\", \"b\"])", "[\"a\", \"b\"]\n"),
        ("echo-tuple((5, true))", "(5, true)\n"),
        ("echo-s64(-9)", "-9\n"),
        ("echo-string16(\"ünï\")", "\"ünï\"\n"),
    ];
    for (invoke, want) in calls {
        assert_eq!(ok(&dir, "calls.wat", invoke), want, "{invoke}");
    }
    assert_eq!(ok(&dir, "calls.wat", "post-count()"), "0\n");
    // A function without result prints `()`, as wasmtime does.
    assert_eq!(ok(&dir, "greet.wat", "nothing()"), "()\n");
}

#[test]
fn invoke_errors() {
    let dir = TempDir::new("kiln-component-run").expect("temp dir");
    let e = fails(&dir, "calls.wat", "bad-utf8()");
    assert!(e.contains("wasm trap: invalid utf8 encoding"), "{e}");
    let e = fails(&dir, "greet.wat", "greet(1)");
    assert!(e.contains("invalid arguments for `greet`"), "{e}");
    let e = fails(&dir, "greet.wat", "nope()");
    assert!(e.contains("no function named `nope`"), "{e}");
    let e = fails(&dir, "host_imports.wat", "greet(\"x\")");
    assert!(e.contains("cannot provide"), "{e}");
}

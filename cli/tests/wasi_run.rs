//! `kiln run` on WASI 0.2 commands (tests/components/wasi-echo.wat): program arguments after
//! FILE, stdout streamed, the guest's exit status, option errors (`--dir`, `--env`) and the
//! options refused for core modules.

use kiln_cli::tempdir::TempDir;
use std::path::PathBuf;
use std::process::{Command, Output};

fn echo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/components/wasi-echo.wat")
}

fn kiln(dir: &TempDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .arg("run")
        .args(args)
        .output()
        .expect("run kiln")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn command_gets_its_arguments_and_exit_status() {
    let dir = TempDir::new("kiln-wasi-run").unwrap();
    let file = echo();
    let file = file.to_str().unwrap();
    let o = kiln(&dir, &[file, "one", "--two", "three 3"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "one --two three 3\n");
    // Options before FILE are kiln's; the guest ignores env and dirs it does not read.
    let tmp = dir.path().to_str().unwrap();
    let o = kiln(
        &dir,
        &[
            "--env",
            "A=1",
            "--env",
            "HOME",
            "--dir",
            &format!("{tmp}::/t"),
            file,
            "x",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "x\n");
    // `run` returning err is exit status 1, with nothing printed by kiln.
    let o = kiln(&dir, &[file]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stdout), "");
    assert_eq!(text(&o.stderr), "");
}

#[test]
fn option_errors_are_clear() {
    let dir = TempDir::new("kiln-wasi-run-errors").unwrap();
    let file = echo();
    let file = file.to_str().unwrap();
    let o = kiln(&dir, &["--dir", "/nonexistent-kiln-dir::/d", file, "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot open `/nonexistent-kiln-dir`"),
        "{}",
        text(&o.stderr)
    );
    let o = kiln(&dir, &["--env", "=x", file, "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("variable name is empty"),
        "{}",
        text(&o.stderr)
    );
    // WASI options make no sense for a core module.
    let fib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/fib.wat");
    let o = kiln(
        &dir,
        &[
            "--env",
            "A=1",
            "--invoke",
            "fib",
            fib.to_str().unwrap(),
            "10",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("WASI components only"),
        "{}",
        text(&o.stderr)
    );
}

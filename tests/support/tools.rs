//! Where things are, and the workspace's own programs for the tests that run them: the
//! workspace root, this test build's target and profile directories, the `kiln` and
//! `kiln-componentize` executables and the runtime library (`libkiln_runtime.{so,a}`).
//!
//! They are built at most once per test process with one cargo command in this test build's
//! profile and target directory, selecting the whole workspace (`--workspace --bin kiln --bin
//! kiln-componentize`) so that cargo resolves the dependencies' features exactly as `cargo test
//! --workspace` does: after that command (`scripts/test`, `.ci/run`) the build is a no-op, where
//! `-p kiln-cli` alone would unify fewer features and build Cranelift and the rest a second
//! time. Every test file runs the same binaries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// This test build's target directory and profile directory (`<target>/<profile>`), found from
/// the running test executable (`<target>/<profile>/deps/<test>-<hash>`).
pub fn target_dirs() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable in <target>/<profile>/deps")
        .to_path_buf();
    let target = profile_dir.parent().expect("target dir").to_path_buf();
    (target, profile_dir)
}

/// Runs `cargo build ARGS` in the workspace, in this test build's profile and target
/// directory. Panics with cargo's output when it fails.
pub fn cargo_build(args: &[&str]) {
    let (target, profile_dir) = target_dirs();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .args(args)
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", &target);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo build {args:?}: {e}"));
    assert!(
        out.status.success(),
        "cargo build {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The workspace's executables: `kiln` and `kiln-componentize`, built together once with the
/// workspace's libraries (`--lib`: a dependency is built as an rlib only, so the runtime's
/// `cdylib` and `staticlib` for C hosts need their package's library target selected).
fn executables() -> &'static (PathBuf, PathBuf) {
    static EXES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    EXES.get_or_init(|| {
        // `--workspace`: the features `cargo test --workspace` resolves (see the module docs).
        cargo_build(&[
            "--workspace",
            "--lib",
            "--bin",
            "kiln",
            "--bin",
            "kiln-componentize",
        ]);
        let (_, profile_dir) = target_dirs();
        (
            profile_dir.join("kiln"),
            profile_dir.join("kiln-componentize"),
        )
    })
}

/// The `kiln` executable of this build.
pub fn kiln_exe() -> &'static Path {
    &executables().0
}

/// The `kiln-componentize` executable of this build (core module + WIT → component).
pub fn kiln_componentize_exe() -> &'static Path {
    &executables().1
}

/// The directory holding this build's `libkiln_runtime.{so,a}` (built once per test process,
/// by the same cargo command as the executables: a library left from an older build could
/// lack C API functions the tests use).
pub fn runtime_lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        executables();
        let (_, profile_dir) = target_dirs();
        let lib = profile_dir.join("libkiln_runtime.so");
        assert!(lib.exists(), "{} missing after build", lib.display());
        profile_dir
    })
}

/// The directory of `kiln.h`.
pub fn runtime_include_dir() -> PathBuf {
    workspace().join("runtime-support/include")
}

/// Runs `cmd`; panics if it cannot be started.
pub fn output(cmd: &mut Command) -> std::process::Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a program with `args`; returns (success, stdout, stderr).
pub fn run_program<S: AsRef<std::ffi::OsStr>>(exe: &Path, args: &[S]) -> (bool, String, String) {
    let out = output(Command::new(exe).args(args));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Panics with an install hint unless `tool --version` runs (`who`: the tests that need it;
/// `packages`: the Debian packages to install).
pub fn require_tool(tool: &str, who: &str, packages: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{tool}` is needed by {who}; on Debian: apt-get install {packages} (scripts/test \
         installs them)"
    );
}

/// Runs `cmd` and returns its stdout and stderr together; panics with both if it fails.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

//! The componentize-py input of the compile rows: `py/app.py` with the `bench` world of
//! `py/wit/bench.wit`, built by componentize-py 0.25.1 from PyPI (CPython, its runtime and
//! the app in one component of about 18 MB and 14 core modules) into the work directory.
//!
//! componentize-py lives in a virtualenv under `$HOME/.cache/kiln-py` shared with the WASI
//! tests; creating or filling it holds `flock` on `$HOME/.cache/kiln-py/lock`, so concurrent
//! installers wait for each other. `KILN_BENCH_COMPONENTIZE_PY` names another executable.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-py version the input is built with.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// `$HOME/.cache/kiln-py`.
fn cache_dir() -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/kiln-py"))
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ))
    }
}

/// The componentize-py executable: from `KILN_BENCH_COMPONENTIZE_PY`, else the shared
/// virtualenv, installed there (under the lock) when `install` and missing.
fn componentize_py(install: bool) -> Result<PathBuf, String> {
    if let Some(exe) = std::env::var_os("KILN_BENCH_COMPONENTIZE_PY") {
        return Ok(exe.into());
    }
    let cache = cache_dir()?;
    let exe = cache.join("venv/bin/componentize-py");
    if exe.exists() {
        return Ok(exe);
    }
    if !install {
        return Err(format!("{} is not installed", exe.display()));
    }
    std::fs::create_dir_all(&cache).map_err(|e| format!("create {}: {e}", cache.display()))?;
    eprintln!("installing {COMPONENTIZE_PY} into {}/venv", cache.display());
    let script = format!(
        "test -x venv/bin/componentize-py || \
         {{ python3 -m venv venv && venv/bin/pip install -q {COMPONENTIZE_PY}; }}"
    );
    run(
        Command::new("flock")
            .arg(cache.join("lock"))
            .args(["sh", "-c", &script])
            .current_dir(&cache),
        "installing componentize-py from PyPI",
    )?;
    if exe.exists() {
        Ok(exe)
    } else {
        Err(format!("{} missing after pip install", exe.display()))
    }
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The Python component in `work` (`py-component.wasm`), built (and componentize-py
/// installed) when missing or older than its sources; `Err` says why it is not available.
pub fn python_component(work: &Path) -> Result<PathBuf, String> {
    let src = crate::inputs::crate_dir().join("py");
    let sources = [src.join("app.py"), src.join("wit/bench.wit")];
    let out = work.join("py-component.wasm");
    if let Some(t) = modified(&out) {
        if sources.iter().all(|s| modified(s).is_some_and(|s| s <= t)) {
            return Ok(out);
        }
    }
    let exe = componentize_py(true)?;
    eprintln!("building the componentize-py component (~30 s)");
    run(
        Command::new(&exe)
            .arg("-d")
            .arg(src.join("wit"))
            .args(["-w", "bench", "componentize", "-p"])
            .arg(&src)
            .arg("app")
            .arg("-o")
            .arg(&out)
            // No __pycache__ in the source tree.
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        "componentize-py",
    )?;
    Ok(out)
}

//! Builds the HTTP handler guests of the issue-16 contract for the `--http` mode: the Rust
//! handler (`tests/wasi-guests/http-handler`, wasm32-wasip2) and the JS handler
//! (`tests/http-guests/js`, componentize-js 0.23.0 from npm, the install kiln-bench's JS input
//! keeps in `$HOME/.cache/kiln-js`). Built files are kept in the kiln-diff cache. kiln-bench's
//! http row includes this file with `#[path]` (for the Rust handler).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The cache of built guests (`KILN_DIFF_CACHE`, else `$HOME/.cache/kiln-diff-wasi`), shared
/// by kiln-diff and kiln-bench.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KILN_DIFF_CACHE") {
        return PathBuf::from(dir);
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache"))
        .unwrap_or_else(std::env::temp_dir)
        .join("kiln-diff-wasi")
}

/// Runs `cmd`, failing with the tail of its output.
fn run(mut cmd: Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        let tail: Vec<&str> = text.lines().rev().take(12).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{what} failed ({}):\n{}", out.status, tail.join("\n"));
    }
    Ok(())
}

/// Builds the Rust handler; an `Err` says why it cannot be built here.
pub fn rust_handler(cache: &Path) -> Result<PathBuf> {
    if let Some(why) = rust_handler_missing() {
        bail!("{why}");
    }
    let manifest = repo_root().join("tests/wasi-guests/http-handler/Cargo.toml");
    let target = cache.join("http-guests-target");
    let mut cmd = Command::new("cargo");
    cmd.args([
        "build",
        "--quiet",
        "--release",
        "--locked",
        "--target",
        "wasm32-wasip2",
    ])
    .arg("--manifest-path")
    .arg(&manifest)
    .arg("--target-dir")
    .arg(&target)
    .env_remove("RUSTFLAGS")
    .env_remove("CARGO_ENCODED_RUSTFLAGS")
    .env_remove("CARGO_TARGET_DIR");
    run(cmd, "cargo build of tests/wasi-guests/http-handler")?;
    let wasm = target.join("wasm32-wasip2/release/http_handler_guest.wasm");
    if !wasm.is_file() {
        bail!("the build made no {}", wasm.display());
    }
    Ok(wasm)
}

/// Why the Rust handler cannot be built here, if it cannot.
pub fn rust_handler_missing() -> Option<String> {
    let manifest = repo_root().join("tests/wasi-guests/http-handler/Cargo.toml");
    if !manifest.is_file() {
        return Some(format!("{} is missing", manifest.display()));
    }
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    match sysroot {
        Some(s) if s.join("lib/rustlib/wasm32-wasip2").is_dir() => None,
        _ => Some(
            "the wasm32-wasip2 Rust target is not installed (rustup target add wasm32-wasip2)"
                .into(),
        ),
    }
}

/// The componentize-js executable kiln-bench installs (`$HOME/.cache/kiln-js`), or
/// `KILN_BENCH_COMPONENTIZE_JS`.
fn componentize_js() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KILN_BENCH_COMPONENTIZE_JS") {
        return Some(PathBuf::from(p));
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    let exe = home.join(".cache/kiln-js/componentize-js-0.23.0/node_modules/.bin/componentize-js");
    exe.is_file().then_some(exe)
}

/// A hash of the JS handler's sources (so an edited source builds a new component).
fn js_sources_hash(dir: &Path) -> Result<u64> {
    use std::hash::{Hash, Hasher};
    let mut files = vec![dir.join("handler.js")];
    let mut stack = vec![dir.join("wit")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| d.display().to_string())? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.strip_prefix(dir).unwrap_or(&f).hash(&mut h);
        std::fs::read(&f)?.hash(&mut h);
    }
    Ok(h.finish())
}

/// Builds (or reuses) the JS handler; an `Err` says why it cannot be built here.
pub fn js_handler(cache: &Path) -> Result<PathBuf> {
    let dir = repo_root().join("tests/http-guests/js");
    if !dir.join("handler.js").is_file() {
        bail!("{}/handler.js is missing", dir.display());
    }
    let Some(exe) = componentize_js() else {
        bail!(
            "componentize-js is not installed (kiln-bench installs it into \
             $HOME/.cache/kiln-js; or set KILN_BENCH_COMPONENTIZE_JS)"
        );
    };
    let out = cache.join(format!(
        "http-js-handler-{:016x}.wasm",
        js_sources_hash(&dir)?
    ));
    if out.is_file() {
        return Ok(out);
    }
    std::fs::create_dir_all(cache)?;
    let tmp = out.with_extension("tmp.wasm");
    let lock = exe
        .ancestors()
        .nth(4)
        .map(|cache| cache.join("lock"))
        .filter(|l| l.is_file());
    let mut cmd = match &lock {
        // Builds and installs in `$HOME/.cache/kiln-js` hold its lock.
        Some(lock) => {
            let mut c = Command::new("flock");
            c.arg(lock).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    cmd.arg(dir.join("handler.js"))
        .arg("-w")
        .arg(dir.join("wit"))
        .args(["-n", "handler", "-o"])
        .arg(&tmp)
        // componentize-js names the script relative to the working directory.
        .current_dir(&dir);
    eprintln!("building the JS HTTP handler with componentize-js (~45 s)");
    run(cmd, "componentize-js")?;
    std::fs::rename(&tmp, &out)?;
    Ok(out)
}

//! The componentize-js input: `js/app.js` with world `plugin` of `js/wit/plugin.wit`, built by
//! componentize-js 0.23.0 from npm (the StarlingMonkey JS engine, its runtime and the app in
//! one component of about 12 MB).
//!
//! componentize-js is installed with npm under `$HOME/.cache/kiln-js/componentize-js-0.23.0`;
//! the component is kept beside it as `plugin-<hash>.wasm`, the hash covering the version, the
//! flags and the app and WIT sources, so an edited source builds a new file and an unchanged
//! one is reused. Installing and building hold `flock` on `$HOME/.cache/kiln-js/lock`, so
//! concurrent runs wait for each other. `KILN_BENCH_COMPONENTIZE_JS` names another
//! componentize-js executable.
//!
//! `-d http fetch-event`: kiln has no `wasi:http` host, so the component is built without it;
//! it then imports `wasi:cli/{stdin,stdout,stderr,terminal-*}`, `wasi:clocks/{monotonic-clock,
//! wall-clock}`, `wasi:filesystem/{types,preopens}`, `wasi:io/{error,poll,streams}` and
//! `wasi:random/random` (0.2.x).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-js version the input is built with.
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// The world the app implements.
const WORLD: &str = "plugin";

/// The features turned off (kiln has no `wasi:http` host).
const DISABLE: [&str; 2] = ["http", "fetch-event"];

/// `$HOME/.cache/kiln-js`.
fn cache_dir() -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/kiln-js"))
}

/// Runs `cmd`; `Err` has the last line of its stderr (or stdout).
fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        return Ok(());
    }
    let text = [out.stderr, out.stdout]
        .iter()
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    Err(format!(
        "{what} failed ({}): {}",
        out.status,
        text.lines().last().unwrap_or("")
    ))
}

/// The JS sources: the app, then the WIT files in name order.
fn sources() -> Result<Vec<PathBuf>, String> {
    let src = crate::inputs::crate_dir().join("js");
    let mut wit: Vec<PathBuf> = std::fs::read_dir(src.join("wit"))
        .map_err(|e| format!("read {}/wit: {e}", src.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wit"))
        .collect();
    wit.sort();
    let mut all = vec![src.join("app.js")];
    all.extend(wit);
    Ok(all)
}

/// FNV-1a (64-bit) over the version, the flags and every source's name and bytes: the cache
/// key (stable across Rust versions, unlike `DefaultHasher`).
fn inputs_hash(sources: &[PathBuf]) -> Result<u64, String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(COMPONENTIZE_JS_VERSION.as_bytes());
    eat(WORLD.as_bytes());
    eat(DISABLE.join(",").as_bytes());
    for s in sources {
        let name = s.file_name().map(|n| n.to_string_lossy().into_owned());
        eat(name.unwrap_or_default().as_bytes());
        eat(&std::fs::read(s).map_err(|e| format!("read {}: {e}", s.display()))?);
    }
    Ok(h)
}

/// The componentize-js executable: from `KILN_BENCH_COMPONENTIZE_JS`, else the npm install
/// in the cache, made (under the lock) when missing.
fn componentize_js(cache: &Path) -> Result<PathBuf, String> {
    if let Some(exe) = std::env::var_os("KILN_BENCH_COMPONENTIZE_JS") {
        return Ok(exe.into());
    }
    let prefix = cache.join(format!("componentize-js-{COMPONENTIZE_JS_VERSION}"));
    let exe = prefix.join("node_modules/.bin/componentize-js");
    if exe.exists() {
        return Ok(exe);
    }
    eprintln!(
        "installing @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION} into {} (~1 min)",
        prefix.display()
    );
    let script = format!(
        "test -x '{exe}' || {{ mkdir -p '{prefix}' && npm install --prefix '{prefix}' \
         --no-audit --no-fund --loglevel=error \
         @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}; }}",
        exe = exe.display(),
        prefix = prefix.display(),
    );
    run(
        Command::new("flock")
            .arg(cache.join("lock"))
            .args(["sh", "-c", &script]),
        "installing componentize-js from npm",
    )?;
    if exe.exists() {
        Ok(exe)
    } else {
        Err(format!("{} missing after npm install", exe.display()))
    }
}

/// The JS component (in the cache), built (and componentize-js installed) when no build of
/// the current sources exists; `Err` says why it is not available.
pub fn js_component() -> Result<PathBuf, String> {
    let sources = sources()?;
    let cache = cache_dir()?;
    let out = cache.join(format!("plugin-{:016x}.wasm", inputs_hash(&sources)?));
    if out.exists() {
        return Ok(out);
    }
    std::fs::create_dir_all(&cache).map_err(|e| format!("create {}: {e}", cache.display()))?;
    let exe = componentize_js(&cache)?;
    eprintln!("building the componentize-js component (~45 s)");
    let src = crate::inputs::crate_dir().join("js");
    let tmp = out.with_extension(format!("tmp{}.wasm", std::process::id()));
    let built = run(
        Command::new("flock")
            .arg(cache.join("lock"))
            .arg(&exe)
            .arg(src.join("app.js"))
            .arg("-w")
            .arg(src.join("wit"))
            .args(["-n", WORLD, "-d"])
            .args(DISABLE)
            .arg("-o")
            .arg(&tmp),
        "componentize-js",
    )
    .and_then(|()| {
        std::fs::rename(&tmp, &out).map_err(|e| format!("rename {}: {e}", tmp.display()))
    });
    if built.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    built.map(|()| out)
}

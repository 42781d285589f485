//! The real `wasi:http` guests of issue 16, built from source and cached:
//!
//! - [`HttpGuest::RustHandler`]: `tests/wasi-guests/http-handler`, a `wasi:http/proxy` handler
//!   in Rust (the `wasi` 0.14 crate), built with cargo for `wasm32-wasip2`;
//! - [`HttpGuest::JsHandler`]: `tests/http-guests/js/handler.js`, the same routes as a
//!   componentize-js `fetch` event handler (world `handler` of its `wit/`, which includes
//!   `wasi:http/proxy@0.2.10`, the version StarlingMonkey 0.23.0 is built against);
//! - [`HttpGuest::JsGreet`]: `tests/http-guests/js-greet/greet.js`, issue 16's two-function
//!   world built with componentize-js's default features, so it imports `wasi:http/types` and
//!   `wasi:http/outgoing-handler` without exporting a handler.
//!
//! Each build lands in `$HOME/.cache/kiln-http-guests/<guest>-<hash>.wasm`, the hash covering
//! the guest's source files and its toolchain's version, so an unchanged guest is never built
//! again and an edited one gets a new file (entries unused for a week are removed).
//! componentize-js 0.23.0 is the npm install the benchmark uses
//! (`$HOME/.cache/kiln-js/componentize-js-0.23.0`, made here when missing; builds and installs
//! hold `flock` on `$HOME/.cache/kiln-js/lock`); `KILN_COMPONENTIZE_JS` names another
//! executable. This file and `guest_build.rs` use the standard library only: kiln-diff's HTTP
//! mode includes them and serves these very builds. A missing toolchain (the `wasm32-wasip2`
//! target, node/npm, or an npm install that cannot reach the registry) is an `Err` with the
//! reason, which [`or_skip`] prints; a build that fails with the toolchain present panics with
//! the tool's output.

use super::guest_build::{
    build_wasip2_guest, cache_dir, source_files, tests_dir, wasip2_target_missing, Fnv,
};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-js version the JS guests are built with.
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// One of the HTTP guests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpGuest {
    /// The Rust `wasi:http/proxy` handler (every route of the contract).
    RustHandler,
    /// The componentize-js `fetch` event handler (the routes JavaScript allows).
    JsHandler,
    /// The componentize-js `greet` component built with the default (http) features.
    JsGreet,
}

impl HttpGuest {
    /// Every guest.
    pub const ALL: [HttpGuest; 3] = [Self::RustHandler, Self::JsHandler, Self::JsGreet];

    /// The guest's short name (`rust-handler`, `js-handler`, `js-greet`).
    pub fn name(self) -> &'static str {
        match self {
            Self::RustHandler => "rust-handler",
            Self::JsHandler => "js-handler",
            Self::JsGreet => "js-greet",
        }
    }

    /// Whether the guest exports `wasi:http/incoming-handler` (the two handlers).
    pub fn serves_http(self) -> bool {
        self != Self::JsGreet
    }

    /// The guest's source directory.
    pub fn source_dir(self) -> PathBuf {
        let tests = tests_dir();
        match self {
            Self::RustHandler => tests.join("wasi-guests/http-handler"),
            Self::JsHandler => tests.join("http-guests/js"),
            Self::JsGreet => tests.join("http-guests/js-greet"),
        }
    }

    /// The built component (cached; built when its sources changed), or why it cannot be
    /// built here.
    pub fn build(self) -> Result<PathBuf, String> {
        match self {
            Self::RustHandler => rust_handler(),
            Self::JsHandler => js_build(self, "handler.js", "handler"),
            Self::JsGreet => js_build(self, "greet.js", "greeter"),
        }
    }
}

/// The Rust handler component (see [`HttpGuest::RustHandler`]).
pub fn rust_handler() -> Result<PathBuf, String> {
    if let Some(why) = wasip2_target_missing() {
        return Err(why);
    }
    let guest = HttpGuest::RustHandler;
    let src = guest.source_dir();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("-vV")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    let out = cached_path(guest, &src, &[&rustc_version])?;
    if out.is_file() {
        return Ok(out);
    }
    let target = root()?.join("target");
    eprintln!("building the HTTP guest {} with cargo", guest.name());
    let built = build_wasip2_guest(&src, &target, "http_handler_guest");
    install(&built, &out)?;
    Ok(out)
}

/// The JS handler component (see [`HttpGuest::JsHandler`]).
pub fn js_handler() -> Result<PathBuf, String> {
    HttpGuest::JsHandler.build()
}

/// The JS `greet` component with the default features (see [`HttpGuest::JsGreet`]).
pub fn js_greet() -> Result<PathBuf, String> {
    HttpGuest::JsGreet.build()
}

/// `Some(path)` of a built guest, or `None` after printing why `guest` is skipped.
pub fn or_skip(guest: HttpGuest, built: Result<PathBuf, String>) -> Option<PathBuf> {
    match built {
        Ok(path) => Some(path),
        Err(why) => {
            eprintln!("skipping the HTTP guest {}: {why}", guest.name());
            None
        }
    }
}

/// `$HOME/.cache/kiln-http-guests`, created.
fn root() -> Result<PathBuf, String> {
    let root = cache_dir().join("kiln-http-guests");
    std::fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
    Ok(root)
}

/// `<root>/<guest>-<hash>.wasm`, the hash covering every source file under `src` (names
/// relative to it, and contents) and `extra`; older entries of the guest unused for a week
/// are removed.
fn cached_path(guest: HttpGuest, src: &Path, extra: &[&[u8]]) -> Result<PathBuf, String> {
    let mut files = Vec::new();
    source_files(src, &mut files);
    if files.is_empty() {
        return Err(format!("no sources in {}", src.display()));
    }
    let mut h = Fnv::new();
    for f in &files {
        let rel = f.strip_prefix(src).unwrap_or(f);
        h.add(rel.to_string_lossy().as_bytes());
        h.add(&std::fs::read(f).map_err(|e| format!("read {}: {e}", f.display()))?);
    }
    for e in extra {
        h.add(e);
    }
    let root = root()?;
    let name = format!("{}-{:016x}.wasm", guest.name(), h.value());
    prune(&root, guest.name(), &name);
    Ok(root.join(name))
}

/// Copies `built` to `out` through a temporary file, so a reader never sees half a file.
fn install(built: &Path, out: &Path) -> Result<(), String> {
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    std::fs::copy(built, &tmp).map_err(|e| format!("copy {}: {e}", built.display()))?;
    std::fs::rename(&tmp, out).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("rename {}: {e}", tmp.display())
    })
}

/// Removes `<prefix>-*.wasm` entries of `root` other than `keep` not modified for a week.
fn prune(root: &Path, prefix: &str, keep: &str) {
    let week = std::time::Duration::from_secs(7 * 24 * 3600);
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|rest| rest.len() == 21 && rest.ends_with(".wasm"));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > week);
        if ours && old && name != keep {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Runs `cmd`; `Err` has its status and output.
fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// `$HOME/.cache/kiln-js`: componentize-js's npm install and the lock, shared with the
/// benchmark's JS input.
fn js_cache() -> Result<PathBuf, String> {
    let dir = cache_dir().join("kiln-js");
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// The componentize-js executable: `KILN_COMPONENTIZE_JS`, else the npm install in
/// [`js_cache`], made (under the lock) when missing; `Err` when node or npm is missing or
/// the install fails (no registry).
pub fn componentize_js() -> Result<PathBuf, String> {
    if let Some(exe) = std::env::var_os("KILN_COMPONENTIZE_JS") {
        return Ok(exe.into());
    }
    let cache = js_cache()?;
    let prefix = cache.join(format!("componentize-js-{COMPONENTIZE_JS_VERSION}"));
    let exe = prefix.join("node_modules/.bin/componentize-js");
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("node is not installed (componentize-js runs on it)".into());
    }
    if exe.exists() {
        return Ok(exe);
    }
    if Command::new("npm").arg("--version").output().is_err() {
        return Err("npm is not installed (it installs componentize-js)".into());
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

/// Builds `<source dir>/<script>` with world `world` of its `wit/` and componentize-js's
/// default features unless a build of the same sources is cached.
fn js_build(guest: HttpGuest, script: &str, world: &str) -> Result<PathBuf, String> {
    let src = guest.source_dir();
    let flags = format!("componentize-js {COMPONENTIZE_JS_VERSION} -n {world}");
    let exe = componentize_js()?;
    let out = cached_path(guest, &src, &[flags.as_bytes()])?;
    if out.is_file() {
        return Ok(out);
    }
    eprintln!(
        "building the HTTP guest {} with componentize-js (~1 min)",
        guest.name()
    );
    let tmp = out.with_extension(format!("tmp{}.wasm", std::process::id()));
    let mut cmd = Command::new("flock");
    cmd.arg(js_cache()?.join("lock"))
        .arg(&exe)
        .arg(src.join(script))
        .arg("-w")
        .arg(src.join("wit"))
        .args(["-n", world])
        .arg("-o")
        .arg(&tmp)
        // componentize-js names the script relative to the working directory.
        .current_dir(&src);
    if let Err(e) = run(&mut cmd, "componentize-js") {
        let _ = std::fs::remove_file(&tmp);
        panic!("building {}: {e}", guest.name());
    }
    std::fs::rename(&tmp, &out).map_err(|e| format!("rename {}: {e}", tmp.display()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache key follows the sources: unchanged sources keep their entry, an edit or a
    /// new file makes another, and the toolchain's version is part of it.
    #[test]
    fn cache_key_follows_the_sources() {
        let dir = std::env::temp_dir().join(format!("kiln-http-guest-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let src = dir.as_path();
        std::fs::write(src.join("a.js"), "one").unwrap();
        let key = |extra: &[u8]| cached_path(HttpGuest::JsGreet, src, &[extra]).unwrap();
        let first = key(b"v1");
        assert_eq!(first, key(b"v1"));
        assert_ne!(first, key(b"v2"));
        std::fs::write(src.join("a.js"), "two").unwrap();
        let edited = key(b"v1");
        assert_ne!(first, edited);
        std::fs::write(src.join("README.md"), "notes").unwrap();
        assert_eq!(edited, key(b"v1"), "READMEs are not sources");
        std::fs::create_dir(src.join("wit")).unwrap();
        std::fs::write(src.join("wit/w.wit"), "package a:b;").unwrap();
        assert_ne!(edited, key(b"v1"));
        assert!(first.starts_with(cache_dir().join("kiln-http-guests")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

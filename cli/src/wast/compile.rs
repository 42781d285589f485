//! Compiling wast modules through the real path, once per distinct binary.
//!
//! Every module a script defines is compiled to a `.so` in the run's temporary directory, named
//! by the SHA-256 of its bytes, and loaded with `kiln_runtime::Module::load`. The result (or the
//! error) is kept, so a module that appears many times in a testsuite is compiled once per run,
//! even when several threads ask for it at once.
//!
//! With `KILN_WAST_KEEP=DIR` in the environment, the artifacts go to `DIR` instead and stay there,
//! each `.so` beside its input `.wasm` (same name), so a failing module can be compiled and
//! inspected again by hand; failure reasons then name the file.
//!
//! Components (`(component ...)` in a script) go through the same path: `compile_to_file`
//! detects them, and [`ModuleCache::get_component`] loads the `.so` with
//! `kiln_runtime::Component::load`.

use crate::backend::{self, Emit};
use crate::tempdir::TempDir;
use kiln_compiler::{Config, OptLevel, Tunables};
use kiln_environ::BoundsChecks;
use kiln_runtime::{Component, Engine, Module};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use wasmparser::WasmFeatures;

/// How the wast engine compiles modules.
#[derive(Copy, Clone, Debug)]
pub struct CompileOptions {
    /// Optimisation level.
    pub opt_level: OptLevel,
    /// Bounds-check strategy.
    pub bounds_checks: BoundsChecks,
    /// Compile threads per module (`None`: every core).
    pub jobs: Option<usize>,
    /// WebAssembly features modules may use (default: all kiln supports); scripts of an older
    /// spec version expect modules using newer features to be rejected.
    pub features: WasmFeatures,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            opt_level: OptLevel::O2,
            bounds_checks: BoundsChecks::Guard,
            jobs: None,
            features: backend::supported_features(),
        }
    }
}

impl CompileOptions {
    /// The compiler configuration these options stand for.
    pub fn config(&self) -> Config {
        Config {
            opt_level: self.opt_level,
            jobs: self.jobs,
            tunables: Tunables {
                bounds_checks: self.bounds_checks,
                ..Tunables::default()
            },
            features: self.features,
            ..Config::default()
        }
    }
}

type Slot<T> = Arc<OnceLock<Result<T, String>>>;

/// Where a run's artifacts go.
enum OutDir {
    /// A temporary directory, removed at the end of the run.
    Temp(TempDir),
    /// A directory the user asked to keep (`KILN_WAST_KEEP`).
    Kept(PathBuf),
}

impl OutDir {
    fn path(&self) -> &Path {
        match self {
            OutDir::Temp(t) => t.path(),
            OutDir::Kept(p) => p,
        }
    }
}

/// Compiled and loaded modules of one run, keyed by the SHA-256 of their bytes.
pub struct ModuleCache {
    engine: Engine,
    options: CompileOptions,
    dir: OutDir,
    slots: Mutex<HashMap<[u8; 32], Slot<Module>>>,
    component_slots: Mutex<HashMap<[u8; 32], Slot<Component>>>,
    compiled: AtomicUsize,
}

impl ModuleCache {
    /// A cache writing into a fresh temporary directory (or `$KILN_WAST_KEEP`).
    pub fn new(engine: &Engine, options: CompileOptions) -> std::io::Result<ModuleCache> {
        let dir = match std::env::var_os("KILN_WAST_KEEP").filter(|d| !d.is_empty()) {
            Some(d) => {
                std::fs::create_dir_all(&d)?;
                OutDir::Kept(PathBuf::from(d))
            }
            None => OutDir::Temp(TempDir::new("kiln-wast")?),
        };
        Ok(ModuleCache {
            engine: engine.clone(),
            options,
            dir,
            slots: Mutex::new(HashMap::new()),
            component_slots: Mutex::new(HashMap::new()),
            compiled: AtomicUsize::new(0),
        })
    }

    /// How many distinct binaries were compiled so far.
    pub fn compiled_count(&self) -> usize {
        self.compiled.load(Ordering::Relaxed)
    }

    /// The options modules are compiled with.
    pub fn options(&self) -> &CompileOptions {
        &self.options
    }

    /// Compiles (once) and loads `wasm`, accepting only `features`; the error is a readable
    /// message.
    pub fn get(&self, wasm: &[u8], features: WasmFeatures) -> Result<Module, String> {
        let hash = key(wasm, features);
        let slot = slot(&self.slots, hash);
        slot.get_or_init(|| {
            let path = self.compile(wasm, features, &hash)?;
            Module::load(&self.engine, &path.0).map_err(|e| format!("load error{}: {e}", path.1))
        })
        .clone()
    }

    /// Compiles (once) and loads the component `wasm`, accepting only `features` (plus the
    /// component model); the error is a readable message.
    pub fn get_component(&self, wasm: &[u8], features: WasmFeatures) -> Result<Component, String> {
        let hash = key(wasm, features);
        let slot = slot(&self.component_slots, hash);
        slot.get_or_init(|| {
            let path = self.compile(wasm, features, &hash)?;
            Component::load(&self.engine, &path.0).map_err(|e| format!("load error{}: {e}", path.1))
        })
        .clone()
    }

    /// Compiles `wasm` to `<hash>.so`; returns the path and, for kept artifacts, a note naming
    /// the input file (for error messages).
    fn compile(
        &self,
        wasm: &[u8],
        features: WasmFeatures,
        hash: &[u8; 32],
    ) -> Result<(PathBuf, String), String> {
        self.compiled.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.path().join(format!("{}.so", hex(hash)));
        let mut kept = String::new();
        if let OutDir::Kept(_) = self.dir {
            let input = path.with_extension("wasm");
            std::fs::write(&input, wasm)
                .map_err(|e| format!("cannot write {}: {e}", input.display()))?;
            kept = format!(" [{}]", input.display());
        }
        let config = Config {
            features,
            ..self.options.config()
        };
        backend::compile_to_file(wasm, &config, Emit::So, &path)
            .map_err(|e| format!("compile error{kept}: {e}"))?;
        Ok((path, kept))
    }
}

/// The cache key of `wasm` accepted with `features`.
fn key(wasm: &[u8], features: WasmFeatures) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(features.bits().to_le_bytes());
    h.update(wasm);
    h.finalize().into()
}

/// The slot of `hash` in `slots` (created empty if new).
fn slot<T>(slots: &Mutex<HashMap<[u8; 32], Slot<T>>>, hash: [u8; 32]) -> Slot<T> {
    let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
    slots.entry(hash).or_default().clone()
}

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

//! The wast script engine: runs spec-format `.wast` scripts through the real kiln path.
//!
//! Every module of a script is encoded to binary, compiled to a `.so` in a temporary directory
//! ([`compile`]), loaded with `kiln_runtime::Module::load` and instantiated; invocations go through
//! the runtime's host-to-wasm entry points. Components (`(component ...)`) are compiled the
//! same way, loaded with `kiln_runtime::Component::load` and called through their compiled
//! canonical-ABI glue with component values (`str.const`, `record.const`, ...). A run reports, per directive, where it is in the
//! script and whether it passed (with the reason when it did not).

pub mod compile;
mod component;
pub mod component_values;
mod script;
pub mod spectest;
pub mod values;

pub use compile::{CompileOptions, ModuleCache};

use kiln_runtime::Engine;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmparser::WasmFeatures;

/// The outcome of one directive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The directive did what the script expects.
    Pass,
    /// It did not; the reason says how.
    Fail(String),
}

/// One directive's result, with its place in the script (1-based line and column).
#[derive(Clone, Debug)]
pub struct DirectiveResult {
    /// Script name as given to the runner.
    pub file: String,
    /// Line of the directive.
    pub line: usize,
    /// Column of the directive.
    pub col: usize,
    /// Directive kind (`module`, `assert_return`, ...).
    pub kind: &'static str,
    /// Pass or fail.
    pub outcome: Outcome,
}

impl DirectiveResult {
    /// Whether the directive passed.
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Pass
    }
}

impl fmt::Display for DirectiveResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: ",
            self.file, self.line, self.col, self.kind
        )?;
        match &self.outcome {
            Outcome::Pass => f.write_str("pass"),
            Outcome::Fail(reason) => write!(f, "FAIL: {reason}"),
        }
    }
}

/// The results of one script.
#[derive(Clone, Debug, Default)]
pub struct FileReport {
    /// Script name.
    pub file: String,
    /// Every directive's result, in script order.
    pub results: Vec<DirectiveResult>,
}

impl FileReport {
    /// Number of directives that passed.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }

    /// Number of directives that failed.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// The failed directives.
    pub fn failures(&self) -> impl Iterator<Item = &DirectiveResult> {
        self.results.iter().filter(|r| !r.passed())
    }
}

/// Runs wast scripts; shareable between threads (scripts may run in parallel if the runtime
/// allows it), with one compile cache for the whole run.
pub struct WastRunner {
    engine: Engine,
    cache: ModuleCache,
    ticker_stop: Arc<AtomicBool>,
}

/// How often the runner's ticker thread advances the engine epoch; a directive may run for
/// about `script::DIRECTIVE_DEADLINE_TICKS` of these before it is interrupted, so a
/// miscompiled infinite loop fails one directive instead of hanging the run.
const TICK: Duration = Duration::from_secs(1);

impl WastRunner {
    /// A runner with a fresh engine and compile cache.
    pub fn new(options: CompileOptions) -> std::io::Result<WastRunner> {
        let engine = Engine::default();
        let cache = ModuleCache::new(&engine, options)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (stop, ticking) = (ticker_stop.clone(), engine.clone());
        std::thread::Builder::new()
            .name("kiln-wast-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    ticking.increment_epoch();
                }
            })?;
        Ok(WastRunner {
            engine,
            cache,
            ticker_stop,
        })
    }

    /// The engine every script's instances live in.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The run's compile cache.
    pub fn cache(&self) -> &ModuleCache {
        &self.cache
    }

    /// Reads and runs the script at `path`; an unreadable file is one failed result.
    pub fn run_file(&self, path: &Path) -> FileReport {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => self.run_script(&name, &text),
            Err(e) => FileReport {
                file: name.clone(),
                results: vec![DirectiveResult {
                    file: name,
                    line: 0,
                    col: 0,
                    kind: "file",
                    outcome: Outcome::Fail(format!("cannot read: {e}")),
                }],
            },
        }
    }

    /// Runs the script `text`, named `name` in the results, with the runner's features.
    pub fn run_script(&self, name: &str, text: &str) -> FileReport {
        script::run(self, name, text, self.cache.options().features)
    }

    /// Runs the script `text` accepting only `features` (e.g. `WasmFeatures::WASM2` for the
    /// 2.0 testsuite, which expects multi-memory modules to be rejected).
    pub fn run_script_with_features(
        &self,
        name: &str,
        text: &str,
        features: WasmFeatures,
    ) -> FileReport {
        script::run(self, name, text, features)
    }
}

impl Drop for WastRunner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

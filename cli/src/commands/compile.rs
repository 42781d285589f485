//! `kiln compile`: a module in, a shared object (or relocatable object) out.

use super::{read_wasm, BoundsArg, OptArg};
use crate::backend::{self, Emit};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use kiln_compiler::{Config, Tunables};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to write.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum EmitArg {
    /// A linked shared object.
    So,
    /// The relocatable object, unlinked.
    Obj,
}

/// Arguments of `kiln compile`.
#[derive(Args, Debug)]
pub struct CompileCommand {
    /// The module to compile (.wasm or .wat).
    pub input: PathBuf,
    /// Where to write the output (default: the input with `.so` or `.o`).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Target triple (default: the host).
    #[arg(long)]
    pub target: Option<String>,
    /// CPU baseline the code may assume: `native` (this machine's CPU; the default for the
    /// host), `generic`, `x86-64-v2` (the default for an explicit x86-64 target),
    /// `x86-64-v3`, `x86-64-v4`, or a CPU name such as `haswell` or `znver3`. A host whose
    /// CPU lacks a feature refuses the artifact with the features it lacks.
    #[arg(long, value_name = "CPU")]
    pub cpu: Option<String>,
    /// Optimisation level (default: 2, or 0 with `-g`).
    #[arg(short = 'O', value_enum)]
    pub opt_level: Option<OptArg>,
    /// Compile threads, at least 1 (default: every core).
    #[arg(short = 'j', long, value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// What to emit.
    #[arg(long, value_enum, default_value = "so")]
    pub emit: EmitArg,
    /// How memory accesses are bounds-checked.
    #[arg(long, value_enum, default_value = "guard")]
    pub bounds_checks: BoundsArg,
    /// Write DWARF debug info and unwind tables, so gdb and lldb debug the guest's source.
    #[arg(short = 'g', long = "debug-info")]
    pub debug_info: bool,
    /// With `-g`: move the debug info to `<output>.debug`, found through `.gnu_debuglink`.
    #[arg(long, requires = "debug_info")]
    pub split_debug: bool,
}

/// Parses `-j`: a positive number of threads.
fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) | Err(_) => Err(format!("`{s}` is not a positive number of threads")),
        Ok(n) => Ok(n),
    }
}

/// How long a compile runs before a progress bar appears.
const PROGRESS_DELAY: Duration = Duration::from_millis(500);

impl CompileCommand {
    /// Compiles; returns the exit status.
    pub fn execute(self) -> Result<i32> {
        let wasm = read_wasm(&self.input)?;
        let (emit, ext) = match self.emit {
            EmitArg::So => (Emit::So, "so"),
            EmitArg::Obj => (Emit::Obj, "o"),
        };
        let output = self
            .output
            .clone()
            .unwrap_or_else(|| self.input.with_extension(ext));
        let progress = std::io::stderr().is_terminal().then(LazyProgress::new);
        let config = Config {
            target: self.target.clone(),
            cpu: self.cpu.clone(),
            opt_level: self
                .opt_level
                .unwrap_or(if self.debug_info {
                    OptArg::O0
                } else {
                    OptArg::O2
                })
                .into(),
            debug_info: self.debug_info,
            split_debug: self.split_debug,
            jobs: self.jobs,
            tunables: Tunables {
                bounds_checks: self.bounds_checks.into(),
                ..Tunables::default()
            },
            progress: progress.as_ref().map(|p| p.callback()),
            ..Config::default()
        };
        let result = backend::compile_to_file(&wasm, &config, emit, &output);
        if let Some(p) = &progress {
            p.finish();
        }
        result.with_context(|| format!("failed to compile `{}`", self.input.display()))?;
        Ok(0)
    }
}

/// A progress bar that only appears once a compile has taken more than [`PROGRESS_DELAY`].
struct LazyProgress {
    start: Instant,
    bar: Arc<Mutex<Option<ProgressBar>>>,
}

impl LazyProgress {
    fn new() -> LazyProgress {
        LazyProgress {
            start: Instant::now(),
            bar: Arc::new(Mutex::new(None)),
        }
    }

    fn callback(&self) -> Box<kiln_compiler::config::Progress> {
        let (start, bar) = (self.start, self.bar.clone());
        Box::new(move |done, total| {
            let mut bar = bar.lock().unwrap_or_else(|e| e.into_inner());
            if bar.is_none() && start.elapsed() >= PROGRESS_DELAY && done < total {
                let pb = ProgressBar::new(total as u64);
                let style = ProgressStyle::with_template(
                    "compiling {bar:40} {pos}/{len} functions [{elapsed}]",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                pb.set_style(style);
                *bar = Some(pb);
            }
            if let Some(pb) = bar.as_ref() {
                pb.set_position(done as u64);
            }
        })
    }

    fn finish(&self) {
        if let Some(pb) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            pb.finish_and_clear();
        }
    }
}

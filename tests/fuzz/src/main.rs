//! Bounded fuzzing of kiln: no input may make the compiler or the loader panic, crash or hang.
//!
//! Two targets ([`Target`]), each deterministic for a given `--seed`:
//! - `compile` (`compile.rs`): wasm-smith modules and mutated module bytes through the
//!   compiler, a sample of them linked and loaded;
//! - `loader` (`loader.rs`): real kiln `.so` files (modules, a component) and hostile shared
//!   objects, mutated in their headers, program headers, dynamic section, relocations,
//!   symbols, descriptor and metadata (half of them with a recomputed checksum, to get past it),
//!   each loaded in a child process: the host must get an error or a working module, never a
//!   crash, a hang, or code from the file run before it is accepted.
//!
//! A failing input is written to `fuzz-failures/` and the run exits non-zero.
//!
//! `cargo run -p kiln-fuzz -- [--target compile|loader|all] --iterations 1000 [--seed N]`

mod compile;
mod loader;

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

/// Which part of kiln to fuzz.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// The compiler: generated and mutated modules.
    Compile,
    /// The loader: mutated and hostile shared objects, loaded in child processes.
    Loader,
    /// Both, one after the other.
    All,
}

/// Command-line arguments.
#[derive(Parser)]
#[command(about = "Bounded fuzzing of the kiln compiler and loader")]
pub struct Args {
    /// What to fuzz.
    #[arg(long, value_enum, default_value = "compile")]
    pub target: Target,
    /// Number of iterations (compile: generated modules, each also yields one mutated input;
    /// loader: mutated files loaded).
    #[arg(long, default_value_t = 1000)]
    pub iterations: u64,
    /// Seed of the deterministic generator.
    #[arg(long, default_value_t = 0x6b696c6e)]
    pub seed: u64,
    /// Seconds one compile or load may take before it counts as a hang.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Link and load every Nth valid module with the runtime (compile target; 0: never).
    #[arg(long, default_value_t = 10)]
    pub load_every: u64,
    /// Wall-time budget in seconds for the loader target: it stops early when spent.
    #[arg(long, default_value_t = 120)]
    pub budget: u64,
    /// Internal: load this file in this (child) process and report (loader target).
    #[arg(long, hide = true)]
    pub load_child: Option<PathBuf>,
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// Writes a failing input to `fuzz-failures/<kind>-<i>.<ext>`; returns its path.
pub fn save_failure(kind: &str, i: u64, ext: &str, bytes: &[u8]) -> PathBuf {
    let dir = PathBuf::from("fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{kind}-{i}.{ext}"));
    let _ = std::fs::write(&path, bytes);
    path
}

fn main() {
    let args = Args::parse();
    if let Some(path) = &args.load_child {
        std::process::exit(loader::child(path));
    }
    let mut failures = 0;
    if matches!(args.target, Target::Compile | Target::All) {
        failures += compile::run(&args);
    }
    if matches!(args.target, Target::Loader | Target::All) {
        failures += loader::run(&args);
    }
    if failures > 0 {
        std::process::exit(1);
    }
}

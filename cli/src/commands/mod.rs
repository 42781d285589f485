//! The `kiln` subcommands (clap derive) and what they share: reading inputs and parsing
//! compile options.

pub mod bindgen;
pub mod compile;
pub mod guest_args;
pub mod inspect;
pub mod run;
pub mod run_component;
pub mod serve;
pub mod sign;
pub mod wast;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use kiln_compiler::OptLevel;
use kiln_environ::BoundsChecks;
use std::path::Path;

/// kiln: compile WebAssembly ahead of time into native shared objects, and run them.
#[derive(Parser, Debug)]
#[command(name = "kiln", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// A `kiln` subcommand.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compile a WebAssembly module (.wasm or .wat) into a shared object.
    Compile(compile::CompileCommand),
    /// Run a module: a kiln .so, or a .wasm/.wat compiled first (cached).
    Run(run::RunCommand),
    /// Serve a `wasi:http/incoming-handler` component over HTTP (`--addr HOST:PORT`).
    Serve(serve::ServeCommand),
    /// Show what a kiln .so contains: build info, imports, exports, sizes.
    Inspect(inspect::InspectCommand),
    /// Run WebAssembly spec-format .wast scripts.
    Wast(wast::WastCommand),
    /// Generate host bindings for a compiled component (`kiln bindgen c FILE.so`).
    Bindgen(bindgen::BindgenCommand),
    /// Generate an Ed25519 key pair for signing artifacts (`<OUTPUT>` and `<OUTPUT>.pub`).
    Keygen(sign::KeygenCommand),
    /// Sign a kiln .so (a detached signature, `<FILE>.sig` by default).
    Sign(sign::SignCommand),
    /// Check a kiln .so without loading it: structure, checksum, and with --key its signature.
    Verify(sign::VerifyCommand),
}

impl Command {
    /// Runs the subcommand; the result is the process exit status on success.
    pub fn execute(self) -> Result<i32> {
        match self {
            Command::Compile(c) => c.execute(),
            Command::Run(c) => c.execute(),
            Command::Serve(c) => c.execute(),
            Command::Inspect(c) => c.execute(),
            Command::Wast(c) => c.execute(),
            Command::Bindgen(c) => c.execute(),
            Command::Keygen(c) => c.execute(),
            Command::Sign(c) => c.execute(),
            Command::Verify(c) => c.execute(),
        }
    }
}

/// `-O` levels.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptArg {
    /// No optimisation.
    #[value(name = "0")]
    O0,
    /// Optimise for speed.
    #[value(name = "1")]
    O1,
    /// Optimise more.
    #[value(name = "2")]
    O2,
}

impl From<OptArg> for OptLevel {
    fn from(o: OptArg) -> OptLevel {
        match o {
            OptArg::O0 => OptLevel::O0,
            OptArg::O1 => OptLevel::O1,
            OptArg::O2 => OptLevel::O2,
        }
    }
}

/// `--bounds-checks` strategies.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum BoundsArg {
    /// Guard pages: out-of-bounds accesses fault.
    Guard,
    /// An explicit comparison before every access.
    Explicit,
}

impl From<BoundsArg> for BoundsChecks {
    fn from(b: BoundsArg) -> BoundsChecks {
        match b {
            BoundsArg::Guard => BoundsChecks::Guard,
            BoundsArg::Explicit => BoundsChecks::Explicit,
        }
    }
}

/// Reads a module file, text or binary, and returns the binary.
pub fn read_wasm(path: &Path) -> Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))?;
    let wasm = wat::parse_bytes(&bytes).map_err(|mut e| {
        e.set_path(path);
        anyhow::anyhow!("{e}")
    });
    Ok(wasm
        .with_context(|| format!("failed to parse `{}`", path.display()))?
        .into_owned())
}

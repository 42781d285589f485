//! `kiln wast`: run spec-format scripts and report per-file and total counts.

use super::{BoundsArg, OptArg};
use crate::backend;
use crate::wast::{CompileOptions, WastRunner};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use wasmparser::WasmFeatures;

/// Arguments of `kiln wast`.
#[derive(Args, Debug)]
pub struct WastCommand {
    /// Scripts to run.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Optimisation level for the scripts' modules.
    #[arg(short = 'O', value_enum, default_value = "2")]
    pub opt_level: OptArg,
    /// How memory accesses are bounds-checked.
    #[arg(long, value_enum, default_value = "guard")]
    pub bounds_checks: BoundsArg,
    /// WebAssembly features modules may use: `all` (default), or `2.0` plus any of
    /// `multi-memory`, `tail-call`, `extended-const`, `exceptions`, comma-separated (the 2.0
    /// scripts expect modules using later proposals to be rejected: run them with
    /// `--features 2.0`).
    #[arg(long, value_name = "LIST", value_parser = parse_features)]
    pub features: Option<WasmFeatures>,
    /// Print every directive's result, not only failures.
    #[arg(short, long)]
    pub verbose: bool,
}

/// Parses a `--features` list.
pub fn parse_features(list: &str) -> Result<WasmFeatures, String> {
    let mut features = WasmFeatures::WASM2;
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        features |= match name {
            "all" => backend::supported_features(),
            "2.0" => WasmFeatures::WASM2,
            "multi-memory" => WasmFeatures::MULTI_MEMORY,
            "tail-call" => WasmFeatures::TAIL_CALL,
            "extended-const" => WasmFeatures::EXTENDED_CONST,
            // With the parts of the Wasm 3.0 type system exception handling is written against.
            "exceptions" => {
                WasmFeatures::EXCEPTIONS | WasmFeatures::FUNCTION_REFERENCES | WasmFeatures::GC
            }
            other => {
                return Err(format!(
                    "unknown feature `{other}` (expected all, 2.0, multi-memory, tail-call, \
                     extended-const, exceptions)"
                ))
            }
        };
    }
    Ok(features)
}

impl WastCommand {
    /// Runs the scripts; the exit status is 1 if anything failed.
    pub fn execute(self) -> Result<i32> {
        let runner = WastRunner::new(CompileOptions {
            opt_level: self.opt_level.into(),
            bounds_checks: self.bounds_checks.into(),
            features: self.features.unwrap_or_else(backend::supported_features),
            jobs: None,
        })
        .context("failed to set up the wast runner")?;
        let (mut passed, mut failed) = (0, 0);
        for file in &self.files {
            let report = runner.run_file(file);
            for r in &report.results {
                if self.verbose || !r.passed() {
                    println!("{r}");
                }
            }
            println!(
                "{}: {} passed, {} failed",
                report.file,
                report.passed(),
                report.failed()
            );
            passed += report.passed();
            failed += report.failed();
        }
        if self.files.len() > 1 {
            println!("total: {passed} passed, {failed} failed");
        }
        Ok(if failed == 0 { 0 } else { 1 })
    }
}

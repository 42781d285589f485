//! `kiln wast`: run spec-format scripts and report per-file and total counts.

use super::{BoundsArg, OptArg};
use crate::wast::{CompileOptions, WastRunner};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

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
    /// Print every directive's result, not only failures.
    #[arg(short, long)]
    pub verbose: bool,
}

impl WastCommand {
    /// Runs the scripts; the exit status is 1 if anything failed.
    pub fn execute(self) -> Result<i32> {
        let runner = WastRunner::new(CompileOptions {
            opt_level: self.opt_level.into(),
            bounds_checks: self.bounds_checks.into(),
            ..CompileOptions::default()
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

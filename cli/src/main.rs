//! The `kiln` binary: parses the command line and runs a subcommand from `kiln_cli::commands`.
//!
//! Errors print as `error: ...` on stderr with exit status 1 (a guest trap included).

use clap::Parser;
use kiln_cli::commands::Cli;

fn main() {
    let cli = Cli::parse();
    let code = match cli.command.execute() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

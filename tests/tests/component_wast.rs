//! The component `.wast` suite: every script in `tests/components/wast/` through `kiln_cli::wast`
//! (each `(component ...)` compiled to a `.so`, loaded, instantiated, called through its
//! compiled canonical-ABI glue with component values).
//!
//! Prints per-file and total "N passed, N failed" counts. Failures must be listed in
//! `tests/component-known-failures.txt` (`file.wast:LINE reason`, the reason saying which bug
//! or missing feature causes it); the test fails on an unlisted failure and on a listed entry
//! that now passes, so the list stays honest.
//!
//! A second test checks that every canonical-ABI trap of the compiled glue
//! (`kiln_environ::component::glue::GlueTrap`) is expected by some `assert_trap` of the suite,
//! except the few listed with the reason they cannot be provoked from a script.
//!
//! Environment: `KILN_COMPONENT_WAST_FILTER` runs only the scripts whose name contains it.

use kiln_cli::wast::{CompileOptions, WastRunner};
use kiln_environ::component::glue::GlueTrap;
use kiln_tests::known::{failures_of, read_known_failures, reconcile};
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

/// The suite's scripts selected by `KILN_COMPONENT_WAST_FILTER`, sorted by name.
fn scripts() -> Vec<(String, String)> {
    scripts_matching(&std::env::var("KILN_COMPONENT_WAST_FILTER").unwrap_or_default())
}

/// The suite's scripts whose name contains `filter`, sorted by name.
fn scripts_matching(filter: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(suite_dir()).expect("tests/components/wast") {
        let path = entry.expect("directory entry").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".wast") || !name.contains(filter) {
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
    let mut reports = Vec::new();
    for (name, text) in &scripts {
        let report = runner.run_script(name, text);
        println!(
            "  {name}: {} passed, {} failed",
            report.passed(),
            report.failed()
        );
        reports.push(report);
    }
    let passed: usize = reports.iter().map(|r| r.passed()).sum();
    let failed: usize = reports.iter().map(|r| r.failed()).sum();
    println!("total: {passed} passed, {failed} failed");

    let path = known_failures_path();
    let known = read_known_failures(&path);
    let outcome = reconcile(&failures_of(&reports), &known, |file| {
        scripts.iter().any(|(n, _)| n == file)
    });
    outcome.print(&path);
    outcome.assert_clean("");
}

/// Glue traps the suite cannot provoke, with the reason.
const UNTESTABLE_GLUE_TRAPS: &[(GlueTrap, &str)] = &[
    (
        GlueTrap::Interrupted,
        "an epoch deadline passing inside a glue loop: scripts have no deadlines (tested by \
         tests/tests/component_limits.rs through the API)",
    ),
    (
        GlueTrap::HostOutOfMemory,
        "raised when the host cannot allocate a lifted value",
    ),
    (
        GlueTrap::NotInstantiated,
        "an internal error: the component VM context points at its instance before any code runs",
    ),
    (
        GlueTrap::AsyncValue,
        "no longer raised: stream, future and error-context values cross through the runtime \
         (the code stays reserved)",
    ),
    (
        GlueTrap::AsyncBlocked,
        "no longer raised: async tasks run on the runtime's event loop (the code stays reserved)",
    ),
    (
        GlueTrap::NoPendingPostReturn,
        "raised by the raw C API's post-return entry; the script host always pairs calls with post-returns",
    ),
];

/// Every canonical-ABI trap of the compiled glue is expected by some `assert_trap` of the
/// suite (or listed above with the reason it cannot be): an expected text that is part of the
/// trap's message and, where the message adds kiln's detail in parentheses after the reference
/// wording, reaches into that detail (the reference wording alone is shared by several traps).
#[test]
fn every_glue_trap_is_tested() {
    let suite: String = scripts_matching("")
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    // The expected message of every `assert_trap` of the suite.
    let expected: Vec<&str> = suite
        .match_indices("(assert_trap ")
        .filter_map(|(i, _)| {
            // The directive runs to the next one at the start of a line; its message is its
            // last string literal.
            let rest = &suite[i + 1..];
            let directive = &suite[i..i + 1 + rest.find("\n(").unwrap_or(rest.len())];
            let end = directive.rfind('"')?;
            let start = directive[..end].rfind('"')? + 1;
            Some(&directive[start..end])
        })
        .collect();
    let mut missing = Vec::new();
    for t in GlueTrap::ALL {
        if UNTESTABLE_GLUE_TRAPS.iter().any(|(u, _)| *u == t) {
            continue;
        }
        let m = t.message();
        let distinct = |e: &&str| match m.find(" (") {
            Some(at) => m.contains(*e) && m.find(*e).is_some_and(|i| i + e.len() > at + 2),
            // A message the builtins complete with details (`invalid utf8 encoding: ...`).
            None => *e == m || e.starts_with(m),
        };
        if !expected.iter().any(distinct) {
            missing.push(m);
        }
    }
    assert!(
        missing.is_empty(),
        "glue traps no assert_trap expects: {missing:#?}"
    );
}

/// The components the differential test against wasmtime runs its random string and list cases
/// on (`tests/components/canon-strings.wat`, `canon-strings-peer.wat`, `canon-lists.wat`,
/// written by `tests/components/oracle/canon_oracle.py`) pass the scripts whose components they
/// are: each script of the suite that defines them runs again with its definition replaced by
/// the standalone file.
#[test]
fn standalone_components_pass_their_scripts() {
    std::thread::Builder::new()
        .name("standalone-components".into())
        .stack_size(THREAD_STACK)
        .spawn(run_standalone)
        .expect("spawn")
        .join()
        .expect("standalone thread panicked");
}

/// (script, [(definition name, standalone file)]) pairs of `standalone_components_pass_their_scripts`.
const STANDALONE: &[(&str, &[(&str, &str)])] = &[
    (
        "canon-strings-host.wast",
        &[("$Strings", "canon-strings.wat")],
    ),
    (
        "canon-strings-adapters.wast",
        &[("$Strings", "canon-strings.wat")],
    ),
    (
        "canon-strings-imports.wast",
        &[
            ("$Strings", "canon-strings.wat"),
            ("$HostPeer", "canon-strings-peer.wat"),
        ],
    ),
    ("canon-lists.wast", &[("$Lists", "canon-lists.wat")]),
];

fn run_standalone() {
    let runner = WastRunner::new(CompileOptions {
        jobs: Some(1),
        ..CompileOptions::default()
    })
    .expect("wast runner");
    let components = Path::new(env!("CARGO_MANIFEST_DIR")).join("components");
    let mut failures = Vec::new();
    for (script, swaps) in STANDALONE {
        let mut text = std::fs::read_to_string(suite_dir().join(script)).expect("read script");
        for (name, file) in *swaps {
            let wat = std::fs::read_to_string(components.join(file)).expect("read component");
            let head = format!("(component definition {name}\n");
            let start = text
                .find(&head)
                .unwrap_or_else(|| panic!("{script} defines no {name}"));
            let end = start + form_len(&text[start..]);
            text.replace_range(start..end, &as_definition(&wat, name, file));
        }
        let report = runner.run_script(&format!("{script} (standalone)"), &text);
        println!(
            "  {script} with the standalone components: {} passed, {} failed",
            report.passed(),
            report.failed()
        );
        assert!(report.passed() > 0, "{script}: nothing ran");
        if report.failed() > 0 {
            let failed: Vec<_> = report
                .results
                .iter()
                .filter(|r| !r.passed())
                .take(5)
                .collect();
            failures.push(format!("{script}: {failed:#?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The standalone component `wat` (leading `;;` comments, then `(component ...)`) as the
/// definition `name`.
fn as_definition(wat: &str, name: &str, file: &str) -> String {
    let at = wat
        .find("\n(component\n")
        .unwrap_or_else(|| panic!("{file}: no (component at the start of a line"));
    let rest = &wat[at + 1..];
    let form = &rest[..form_len(rest)];
    assert!(
        rest[form.len()..].trim().is_empty(),
        "{file}: more than one component"
    );
    format!(
        "(component definition {name}\n{}",
        &form["(component\n".len()..]
    )
}

/// The length of the S-expression at the start of `text` (strings and `;;` comments skipped).
fn form_len(text: &str) -> usize {
    let b = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0);
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b';' if b.get(i + 1) == Some(&b';') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced parentheses")
}

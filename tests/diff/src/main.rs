//! `kiln-diff`: differential testing of kiln against wasmtime 48.0.8.
//!
//! Each iteration runs two cases from a deterministic seed:
//! - a component case (`component.rs`): a generated component value type, a guest component
//!   round-tripping values of it (`guest.rs`), generated values passed through it in both
//!   runtimes, then values the guest damages on purpose (traps compared);
//! - a core case (`core.rs`): a wasm-smith module, every export called in both runtimes.
//!
//! - a string case (`strings.rs`, every iteration when component cases run): a random string
//!   crossing the canonical ABI host -> guest, guest -> host, between two components through a
//!   fused adapter or through import trampolines and the host, in a random encoding pair, sometimes damaged or with a `realloc` that
//!   misbehaves at one step; results, `realloc` logs and trap classes compared (and, with
//!   `--oracle`, kiln's outcome against the spec's Python, exactly);
//! - a list case (`lists.rs`): a random list of any element alignment lowered by the host or
//!   through an adapter, sometimes with a misbehaving `realloc`; logs, bytes, heaps and trap
//!   classes compared (and, with `--oracle`, against the spec's Python, exactly);
//! - every tenth iteration, an instantiation case (`instantiation.rs`): a start function calling
//!   a sibling (through one or two fused adapters), a host import, its own instance or its
//!   parent during instantiation, with a string changing encoding at each hop.
//!
//! Before the iterations, `fixed.rs` runs hand-made invalid values and string transcoding
//! through kiln's own test component in both runtimes, and the core modules of `cases/`
//! (regressions) run like generated ones.
//!
//! Before them, the WASI mode (`wasi/`) runs real WASI components (the samples of
//! `samples/wasi/`, the Rust probe `guests/probe/` and the C probe `guests/cprobe.c`) under
//! kiln and under wasmtime-wasi 48.0.8 and compares stdout, stderr, the files written and the
//! exit status (or the returned value of a called export), one PASS/FAIL/SKIP line per program
//! (`--only wasi` runs just these, `--wasi-filter TEXT` the programs whose name contains TEXT;
//! built guests and wasmtime artifacts are cached in `$HOME/.cache/kiln-diff-wasi`, or
//! `KILN_DIFF_CACHE`).
//!
//! The HTTP mode (`--http`, `http/`) serves the issue-16 HTTP handler guests (Rust and JS)
//! with `kiln serve` and with an in-process `wasmtime serve` equivalent, sends both the same
//! requests over loopback and compares status, headers, body and trailers, one line per guest
//! and case (`--kiln PATH` names the kiln binary, `--http-filter TEXT` selects cases,
//! `--http-guest rust|js` one guest).
//!
//! A mismatch matching an entry of `known-differences.txt` (a wasmtime-vs-spec difference
//! rather than a kiln bug) is counted separately; any other mismatch is a failure, its input
//! saved to `diff-failures/`, and the run exits non-zero.
//!
//! `cargo run --manifest-path tests/diff/Cargo.toml -- --iterations 100 [--seed S]`
//! (`KILN_DIFF_DUMP=DIR` writes every generated component's text there, and each WASI run's
//! stdout and stderr (`NAME.kiln.stdout`, ...);
//! `KILN_DIFF_SAVE_KNOWN=1` also saves the inputs of known differences).

mod component;
mod core;
mod fixed;
mod guest;
mod http;
mod instantiation;
mod lists;
mod rng;
mod runners;
mod stats;
mod strings;
mod types;
mod wasi;
mod wasi_signatures;

use clap::Parser;
use rng::Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(about = "Differential testing of kiln against wasmtime")]
struct Args {
    /// Number of iterations (each runs one component case and one core case).
    #[arg(long, default_value_t = 100)]
    iterations: u64,
    /// Seed of the deterministic generator.
    #[arg(long, default_value_t = 0x6b696c6e)]
    seed: u64,
    /// Check kiln's WASI signature table against WASI's WIT and exit (the normal run checks
    /// it too, first).
    #[arg(long)]
    check_wasi_signatures: bool,
    /// Rewrite kiln's WASI signature table from WASI's WIT and exit.
    #[arg(long)]
    bless_wasi_signatures: bool,
    /// Print every WASI function of the WIT in the signature table's form and exit.
    #[arg(long)]
    print_wasi_signatures: bool,
    /// Which cases to run: `all`, `component` (component, string and list cases), `strings`
    /// (string and list cases), `core`, `wasi` or `http` (`all` does not include `http`).
    #[arg(long, default_value = "all")]
    only: String,
    /// Also compare every string and list case with the Component Model spec's Python
    /// (`tests/components/oracle/canon_oracle.py --serve`; needs python3 and the spec).
    #[arg(long)]
    oracle: bool,
    /// The spec's `definitions.py` for `--oracle` (default: the Component Model mirror).
    #[arg(long)]
    oracle_spec: Option<PathBuf>,
    /// Run one string case (a line of a `diff-failures/*.case` file, or the file), print each
    /// runtime's outcome (and the spec's with `--oracle`), then exit.
    #[arg(long)]
    replay_string: Option<String>,
    /// Directory failing inputs are written to.
    #[arg(long, default_value = "diff-failures")]
    failures: PathBuf,
    /// Print a saved failing core module (`diff-failures/*.wasm`) as text, then exit.
    #[arg(long)]
    print: Option<PathBuf>,
    /// Run the core case on a saved module (`diff-failures/*.wasm`, or text; arguments from `--seed`),
    /// print the outcome, then exit.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Run only the WASI programs whose name contains this.
    #[arg(long)]
    wasi_filter: Option<String>,
    /// Run only the HTTP mode (the same as `--only http`).
    #[arg(long)]
    http: bool,
    /// The kiln binary `--http` runs as `kiln serve` (default: the newest of
    /// `target/{release,debug}/kiln`).
    #[arg(long)]
    kiln: Option<PathBuf>,
    /// Run only the HTTP cases whose name contains this.
    #[arg(long)]
    http_filter: Option<String>,
    /// Run only this HTTP guest (`rust` or `js`).
    #[arg(long)]
    http_guest: Option<String>,
    /// Print why cases were skipped.
    #[arg(long)]
    verbose: bool,
}

/// The known differences: `id | substring of the mismatch report | explanation`.
const KNOWN: &str = include_str!("../known-differences.txt");

fn known(report: &str) -> Option<&'static str> {
    KNOWN
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut parts = l.splitn(3, '|');
            Some((parts.next()?.trim(), parts.next()?.trim()))
        })
        .find(|(_, pat)| !pat.is_empty() && report.contains(pat))
        .map(|(id, _)| id)
}

/// How a case ended.
enum Verdict {
    Pass,
    Skip,
    Mismatch(String),
}

#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    known: u64,
    skipped: u64,
}

fn save(dir: &Path, name: &str, input: &[u8], ext: &str, report: &str) {
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(dir.join(format!("{name}.{ext}")), input);
    let _ = std::fs::write(dir.join(format!("{name}.txt")), report);
}

fn record(
    tally: &mut Tally,
    verdict: std::thread::Result<Verdict>,
    dir: &Path,
    name: &str,
    input: &[u8],
    ext: &str,
) {
    let verdict = verdict.unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Verdict::Mismatch(format!("panic: {msg}"))
    });
    match verdict {
        Verdict::Pass => tally.passed += 1,
        Verdict::Skip => tally.skipped += 1,
        Verdict::Mismatch(report) => {
            if let Some(id) = known(&report) {
                tally.known += 1;
                println!("{name}: known difference {id}");
                if std::env::var_os("KILN_DIFF_SAVE_KNOWN").is_some() {
                    save(dir, &format!("known-{name}"), input, ext, &report);
                }
            } else {
                tally.failed += 1;
                let first = report.lines().next().unwrap_or_default();
                println!("{name}: MISMATCH: {first}");
                save(dir, name, input, ext, &report);
            }
        }
    }
}

/// Runs the hand-written core modules of `cases/` (regressions kiln-diff found).
fn fixed_core_cases(
    tally: &mut Tally,
    failures: &Path,
    kengine: &kiln_runtime::Engine,
    wengine: &wasmtime::Engine,
    work: &Path,
) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.sort();
    for path in paths {
        let name = format!(
            "case-{}",
            path.file_stem().unwrap_or_default().to_string_lossy()
        );
        let v = catch_unwind(AssertUnwindSafe(|| match wat::parse_file(&path) {
            Err(e) => Verdict::Mismatch(format!("{}: {e}", path.display())),
            Ok(wasm) => match core::run(&wasm, &mut Rng::new(1), kengine, wengine, work) {
                Ok(None) => Verdict::Pass,
                Ok(Some(why)) => Verdict::Mismatch(why),
                Err(e) => Verdict::Mismatch(format!("not run: {e:#}")),
            },
        }));
        record(tally, v, failures, &name, b"", "none");
    }
}

fn main() {
    let args = Args::parse();
    if let Some(path) = &args.print {
        let text = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| wasmprinter::print_bytes(b).map_err(|e| e.to_string()));
        match text {
            Ok(t) => println!("{t}"),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                std::process::exit(2);
            }
        }
        return;
    }
    if args.print_wasi_signatures {
        if let Err(e) = wasi_signatures::print_all() {
            eprintln!("{e:#}");
            std::process::exit(2);
        }
        return;
    }
    // kiln's WASI host declares the types of its functions (the linker checks components'
    // imports against them): they must be WASI's.
    match wasi_signatures::check(args.bless_wasi_signatures) {
        Ok(n) if args.bless_wasi_signatures => {
            println!("rewrote {n} WASI signatures from WASI's WIT");
            return;
        }
        Ok(n) => {
            println!("wasi signatures: {n} functions checked against WASI's WIT");
            if args.check_wasi_signatures {
                return;
            }
        }
        Err(e) => {
            eprintln!("{e:#}");
            std::process::exit(1);
        }
    }
    let kengine = kiln_runtime::Engine::default();
    let wengine = match runners::wasmtime_engine() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot create the wasmtime engine: {e:#}");
            std::process::exit(2);
        }
    };
    let work = std::env::temp_dir().join(format!("kiln-diff-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("cannot create {}: {e}", work.display());
        std::process::exit(2);
    }
    if let Some(path) = &args.replay {
        let wasm = wat::parse_file(path).unwrap_or_else(|e| {
            eprintln!("{}: {e}", path.display());
            std::process::exit(2);
        });
        let mut r = Rng::new(args.seed);
        match core::run(&wasm, &mut r, &kengine, &wengine, &work) {
            Ok(None) => println!("agree"),
            Ok(Some(why)) => {
                println!("MISMATCH: {why}");
                std::process::exit(1);
            }
            Err(e) => println!("not run: {e:#}"),
        }
        return;
    }
    if let Some(line) = &args.replay_string {
        replay_string(line, &args, &kengine, &wengine, &work);
    }
    let mut tally = Tally::default();
    if args.http || args.only == "http" {
        http_cases(&mut tally, &args);
        finish(&tally, &work);
    }
    if args.only == "all" || args.only == "wasi" {
        wasi_programs(&mut tally, &args, &kengine, &wengine, &work);
    }
    if args.only == "wasi" {
        finish(&tally, &work);
    }
    if args.only != "component" && args.only != "strings" {
        fixed_core_cases(&mut tally, &args.failures, &kengine, &wengine, &work);
    }
    if args.only != "core" && args.only != "strings" {
        match catch_unwind(AssertUnwindSafe(|| fixed::run(&kengine, &wengine, &work))) {
            Ok(Ok((n, reports))) => {
                if reports.is_empty() {
                    tally.passed += 1;
                }
                for report in reports {
                    let v = std::thread::Result::Ok(Verdict::Mismatch(report));
                    record(&mut tally, v, &args.failures, "fixed-calls", b"", "none");
                }
                println!("fixed cases (tests/components/calls.wat): {n} compared");
            }
            Ok(Err(e)) => {
                let v = std::thread::Result::Ok(Verdict::Mismatch(format!("fixed cases: {e:#}")));
                record(&mut tally, v, &args.failures, "fixed-calls", b"", "none");
            }
            Err(p) => record(
                &mut tally,
                Err(p),
                &args.failures,
                "fixed-calls",
                b"",
                "none",
            ),
        }
    }
    let string_cases = matches!(args.only.as_str(), "all" | "component" | "strings");
    let string_rt = string_cases.then(|| strings::Runtimes::new(&kengine, &wengine, &work));
    let string_rt = match string_rt {
        Some(Err(e)) => {
            let v = std::thread::Result::Ok(Verdict::Mismatch(format!("string cases: {e:#}")));
            record(&mut tally, v, &args.failures, "strings", b"", "none");
            None
        }
        Some(Ok(rt)) => Some(rt),
        None => None,
    };
    let list_rt = match string_cases.then(|| lists::Runtimes::new(&kengine, &wengine, &work)) {
        Some(Err(e)) => {
            let v = std::thread::Result::Ok(Verdict::Mismatch(format!("list cases: {e:#}")));
            record(&mut tally, v, &args.failures, "lists", b"", "none");
            None
        }
        Some(Ok(rt)) => Some(rt),
        None => None,
    };
    let mut oracle = match (&string_rt, args.oracle) {
        (Some(_), true) => match strings::Oracle::start(args.oracle_spec.as_deref()) {
            Ok(o) => Some(o),
            Err(e) => {
                eprintln!("--oracle: {e:#}");
                std::process::exit(2);
            }
        },
        _ => None,
    };
    for i in 0..args.iterations {
        let case_seed = args.seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        if let Some(rt) = &string_rt {
            let case = strings::generate(&mut Rng::new(case_seed ^ 0x5717_6e67));
            let name = format!("strings-{:x}-{i}", args.seed);
            let v = catch_unwind(AssertUnwindSafe(|| {
                let (v, counted) = strings::run(&case, rt, oracle.as_mut());
                crate::stats::bump(&crate::stats::STRING_CASES);
                if counted.trapped {
                    crate::stats::bump(&crate::stats::STRING_TRAPS);
                }
                if counted.spec {
                    crate::stats::bump(&crate::stats::STRING_SPEC);
                }
                v
            }));
            record(
                &mut tally,
                v,
                &args.failures,
                &name,
                case.line().as_bytes(),
                "case",
            );
        }
        if let Some(rt) = &list_rt {
            let case = lists::generate(&mut Rng::new(case_seed ^ 0x1157));
            let name = format!("lists-{:x}-{i}", args.seed);
            let v = catch_unwind(AssertUnwindSafe(|| lists::run(&case, rt, oracle.as_mut())));
            record(
                &mut tally,
                v,
                &args.failures,
                &name,
                case.line().as_bytes(),
                "case",
            );
        }
        if args.only != "core" && args.only != "strings" && i % 10 == 0 {
            let case = instantiation::generate(&mut Rng::new(case_seed ^ 0x1457));
            if let Some(dir) = std::env::var_os("KILN_DIFF_DUMP") {
                let _ = std::fs::write(Path::new(&dir).join(format!("start-{i}.wat")), &case.text);
            }
            let name = format!("start-{:x}-{i}", args.seed);
            let v = catch_unwind(AssertUnwindSafe(|| {
                instantiation::run(&case, &kengine, &wengine, &work)
            }));
            record(
                &mut tally,
                v,
                &args.failures,
                &name,
                case.text.as_bytes(),
                "wat",
            );
        }
        if args.only != "core" && args.only != "strings" {
            let mut r = Rng::new(case_seed);
            // A quarter of the functions take several parameters (2..=6).
            let spread = r.below(4) == 0;
            let ty = if spread {
                types::Ty::Tuple(
                    (0..2 + r.below(5))
                        .map(|_| types::gen_ty(&mut r, 2))
                        .collect(),
                )
            } else {
                types::gen_ty(&mut r, 3)
            };
            let encoding = ["utf8", "utf16", "latin1+utf16"][r.below(3) as usize];
            let text = guest::component(&ty, encoding, spread);
            if let Some(dir) = std::env::var_os("KILN_DIFF_DUMP") {
                let _ = std::fs::write(Path::new(&dir).join(format!("component-{i}.wat")), &text);
            }
            let name = format!("component-{:x}-{i}", args.seed);
            let v = catch_unwind(AssertUnwindSafe(|| {
                component::run(&ty, &text, spread, &mut r, &kengine, &wengine, &work)
            }));
            record(&mut tally, v, &args.failures, &name, text.as_bytes(), "wat");
        }
        if args.only != "component" && args.only != "strings" {
            let mut r = Rng::new(case_seed ^ 0xc0de);
            let name = format!("core-{:x}-{i}", args.seed);
            match core::generate(&mut r) {
                None => tally.skipped += 1,
                Some(wasm) => {
                    let v = catch_unwind(AssertUnwindSafe(|| {
                        match core::run(&wasm, &mut r, &kengine, &wengine, &work) {
                            Ok(None) => Verdict::Pass,
                            Ok(Some(why)) => Verdict::Mismatch(why),
                            Err(e) => {
                                if args.verbose {
                                    println!("{name}: skipped: {e:#}");
                                }
                                Verdict::Skip
                            }
                        }
                    }));
                    record(&mut tally, v, &args.failures, &name, &wasm, "wasm");
                }
            }
        }
    }
    finish(&tally, &work);
}

/// `--replay-string`: runs one string case and prints every outcome.
fn replay_string(
    line: &str,
    args: &Args,
    kengine: &kiln_runtime::Engine,
    wengine: &wasmtime::Engine,
    work: &Path,
) -> ! {
    let text = std::fs::read_to_string(line).unwrap_or_else(|_| line.to_string());
    let case = strings::Case::parse(text.trim()).unwrap_or_else(|e| {
        eprintln!("{e:#}");
        std::process::exit(2);
    });
    let rt = strings::Runtimes::new(kengine, wengine, work).unwrap_or_else(|e| {
        eprintln!("{e:#}");
        std::process::exit(2);
    });
    match rt.kiln(&case) {
        Ok(g) => println!("kiln:     {g}"),
        Err(e) => println!("kiln:     harness error {e:#}"),
    }
    match rt.wasmtime(&case) {
        Ok(g) => println!("wasmtime: {g}"),
        Err(e) => println!("wasmtime: harness error {e:#}"),
    }
    let mut oracle = None;
    if args.oracle {
        let mut o = strings::Oracle::start(args.oracle_spec.as_deref()).unwrap_or_else(|e| {
            eprintln!("--oracle: {e:#}");
            std::process::exit(2);
        });
        match o.ask(&case) {
            Ok(g) => println!("spec:     {g}"),
            Err(e) => println!("spec:     {e:#}"),
        }
        oracle = Some(o);
    }
    let (v, _) = strings::run(&case, &rt, oracle.as_mut());
    let _ = std::fs::remove_dir_all(work);
    match v {
        Verdict::Mismatch(report) => {
            println!("{report}");
            match known(&report) {
                Some(id) => println!("(known difference {id})"),
                None => std::process::exit(1),
            }
        }
        _ => println!("agree"),
    }
    std::process::exit(0);
}

/// Prints the summary, removes the work directory and exits (non-zero after a failure).
fn finish(tally: &Tally, work: &Path) -> ! {
    let _ = std::fs::remove_dir_all(work);
    println!("{}", stats::summary());
    println!(
        "{} passed, {} failed, {} known differences, {} skipped",
        tally.passed, tally.failed, tally.known, tally.skipped
    );
    std::process::exit(if tally.failed > 0 { 1 } else { 0 });
}

/// Runs the HTTP mode: one line per guest and case (PASS, FAIL with its first difference,
/// FAIL of a known difference, or SKIP with the reason), counted in `tally`.
fn http_cases(tally: &mut Tally, args: &Args) {
    let (mut passed, mut failed, mut known_n, mut skipped) = (0, 0, 0, 0);
    let opts = http::HttpOptions {
        kiln: args.kiln.clone(),
        filter: args.http_filter.clone(),
        guest: args.http_guest.clone(),
    };
    http::run(&opts, |name, verdict| match verdict {
        http::HttpVerdict::Pass(summary) => {
            passed += 1;
            println!("{name}: PASS ({summary})");
        }
        http::HttpVerdict::Skip(why) => {
            skipped += 1;
            println!("{name}: SKIP: {why}");
        }
        http::HttpVerdict::Mismatch(diffs) => {
            let lines: Vec<String> = diffs.iter().map(|d| format!("{name}: {d}")).collect();
            let ids: Vec<Option<&str>> = lines.iter().map(|l| known(l)).collect();
            if ids.iter().all(Option::is_some) {
                known_n += 1;
                let ids: Vec<&str> = ids.into_iter().flatten().collect();
                println!("{name}: PASS (known difference {})", ids.join(", "));
            } else {
                failed += 1;
                println!("{name}: FAIL");
                for (d, id) in diffs.iter().zip(&ids) {
                    match id {
                        Some(id) => println!("    (known {id}) {d}"),
                        None => println!("    {d}"),
                    }
                }
                let file = format!(
                    "http-{}",
                    name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
                );
                save(
                    &args.failures,
                    &file,
                    name.as_bytes(),
                    "case",
                    &lines.join("\n"),
                );
            }
        }
    });
    tally.passed += passed;
    tally.failed += failed;
    tally.known += known_n;
    tally.skipped += skipped;
    println!(
        "http: {passed} passed, {failed} failed, {known_n} known differences, {skipped} skipped"
    );
}

/// Runs the WASI mode: one line per program (PASS, FAIL with its first difference, FAIL
/// of a known difference, or SKIP with the reason), counted in `tally`.
fn wasi_programs(
    tally: &mut Tally,
    args: &Args,
    kengine: &kiln_runtime::Engine,
    wengine: &wasmtime::Engine,
    work: &Path,
) {
    let (mut passed, mut failed, mut known_n, mut skipped) = (0, 0, 0, 0);
    let filter = args.wasi_filter.as_deref();
    wasi::run(kengine, wengine, work, filter, |name, verdict, describe| {
        match verdict {
            wasi::WasiVerdict::Pass(summary) => {
                passed += 1;
                println!("wasi {name}: PASS ({summary})");
            }
            wasi::WasiVerdict::Skip(why) => {
                skipped += 1;
                println!("wasi {name}: SKIP: {why}");
            }
            wasi::WasiVerdict::Mismatch(diffs) => {
                // Each difference is matched separately: one unknown difference fails.
                let lines: Vec<String> =
                    diffs.iter().map(|d| format!("wasi {name}: {d}")).collect();
                let ids: Vec<Option<&str>> = lines.iter().map(|l| known(l)).collect();
                if ids.iter().all(Option::is_some) {
                    known_n += 1;
                    let ids: Vec<&str> = ids.into_iter().flatten().collect();
                    println!(
                        "wasi {name}: FAIL (known difference {}): {}",
                        ids.join(", "),
                        diffs[0]
                    );
                } else {
                    failed += 1;
                    let first = diffs
                        .iter()
                        .zip(&ids)
                        .find(|(_, id)| id.is_none())
                        .map(|(d, _)| d.as_str())
                        .unwrap_or_default();
                    println!("wasi {name}: FAIL: {first}");
                    for (d, id) in diffs.iter().zip(&ids) {
                        if d != first {
                            match id {
                                Some(id) => println!("    (known {id}) {d}"),
                                None => println!("    {d}"),
                            }
                        }
                    }
                    let file = format!("wasi-{}", name.replace(['#', '/'], "-"));
                    save(
                        &args.failures,
                        &file,
                        describe.as_bytes(),
                        "run",
                        &lines.join("\n"),
                    );
                }
            }
        }
    });
    tally.passed += passed;
    tally.failed += failed;
    tally.known += known_n;
    tally.skipped += skipped;
    println!(
        "wasi: {passed} passed, {failed} failed, {known_n} known differences, {skipped} skipped"
    );
}

//! The `--http` mode: the issue-16 HTTP handler guests (Rust and JS) served by `kiln serve`
//! (a child process, given the guest compiled by `kiln compile` of the same executable; the
//! guests and their `.so` come from the test suite's caches, see `guests.rs`) and by an in-process `wasmtime serve` equivalent (`peer.rs`, wasmtime
//! 48.0.8 + wasmtime-wasi-http), the same requests (`cases.rs`: every route of the contract,
//! `/fetch` against an upstream server started here, and bad requests) sent to both over
//! loopback by a raw HTTP/1.1 client (`client.rs`), and the responses compared. One PASS /
//! FAIL / SKIP line per guest and case.
//!
//! `kiln serve` is `--kiln PATH`, else the newest of `target/{release,debug}/kiln` (or under
//! `$KILN_TARGET_DIR`); it runs with `--inherit-network` (for `/fetch`). When it is missing
//! (or has no `serve` command) every case of a guest fails with that reason, after the
//! request set has run against wasmtime alone.

pub mod cases;
pub mod client;
mod guests;
pub mod kiln_serve;
pub mod peer;
pub mod upstream;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How one case ended.
pub enum HttpVerdict {
    /// Both agree (wasmtime's outcome summarised).
    Pass(String),
    /// Not run, and why.
    Skip(String),
    /// The differences (each matched against the known differences separately).
    Mismatch(Vec<String>),
}

/// What the mode is given.
pub struct HttpOptions {
    /// `kiln serve`'s binary.
    pub kiln: Option<PathBuf>,
    /// Run only the cases whose name contains this.
    pub filter: Option<String>,
    /// Run only this guest (`rust` or `js`).
    pub guest: Option<String>,
}

/// How long `kiln serve` may take to start (it loads a compiled `.so`: seconds).
const KILN_START: Duration = Duration::from_secs(300);

/// Runs the mode; `report(name, verdict)` is called once per guest and case.
pub fn run(opts: &HttpOptions, mut report: impl FnMut(&str, HttpVerdict)) {
    let upstream = match upstream::start() {
        Ok(u) => u,
        Err(e) => {
            report(
                "http",
                HttpVerdict::Mismatch(vec![format!("cannot start the upstream server: {e}")]),
            );
            return;
        }
    };
    let kiln = kiln_serve::find_kiln(opts.kiln.as_deref(), &guests::repo_root()).and_then(|k| {
        if kiln_serve::has_serve(&k) {
            Ok(k)
        } else {
            Err(format!(
                "{} has no `serve` command (build kiln with `kiln serve`: issue 16)",
                k.display()
            ))
        }
    });
    let all = cases::all(upstream.addr());
    for guest in ["rust", "js"] {
        if opts.guest.as_deref().is_some_and(|g| g != guest) {
            continue;
        }
        let selected: Vec<&cases::Case> = all
            .iter()
            .filter(|c| opts.filter.as_deref().is_none_or(|f| c.name.contains(f)))
            .filter(|c| !(guest == "js" && c.rust_only))
            .collect();
        if selected.is_empty() {
            continue;
        }
        let wasm = if guest == "rust" {
            guests::rust_handler()
        } else {
            guests::js_handler()
        };
        let wasm = match wasm {
            Ok(w) => w,
            Err(e) => {
                report(
                    &format!("http {guest}"),
                    HttpVerdict::Skip(format!("{e:#}")),
                );
                continue;
            }
        };
        run_guest(
            guest,
            &wasm,
            &selected,
            kiln.as_deref().map_err(Clone::clone),
            &mut report,
        );
    }
}

/// Runs the selected cases of one guest.
fn run_guest(
    guest: &str,
    wasm: &Path,
    selected: &[&cases::Case],
    kiln: Result<&Path, String>,
    report: &mut impl FnMut(&str, HttpVerdict),
) {
    let peer = match peer::start(wasm, SocketAddr::from(([127, 0, 0, 1], 0)), 2) {
        Ok(p) => p,
        Err(e) => {
            report(
                &format!("http {guest}"),
                HttpVerdict::Mismatch(vec![format!("wasmtime cannot serve the guest: {e:#}")]),
            );
            return;
        }
    };
    let kiln_path = match kiln {
        Ok(k) => k,
        Err(why) => return wasmtime_alone(guest, &peer, selected, &why, report),
    };
    // The `.so` of this `kiln` (compiled once, shared with the test suite); wasmtime serves
    // the `.wasm` itself.
    let so = match guests::compiled_so(kiln_path, wasm) {
        Ok(so) => so,
        Err(e) => {
            return report(
                &format!("http {guest}"),
                HttpVerdict::Mismatch(vec![format!("kiln cannot compile the guest: {e:#}")]),
            )
        }
    };
    let start_kiln = || kiln_serve::start(kiln_path, &so, &["--inherit-network"], KILN_START);
    let mut server = match start_kiln() {
        Ok(s) => s,
        Err(why) => return wasmtime_alone(guest, &peer, selected, &why, report),
    };
    for case in selected {
        let name = format!("http {guest} {}", case.name);
        let mut w = Vec::new();
        let mut diffs = Vec::new();
        for run in 1..=case.repeat {
            w = cases::send(case, peer.addr());
            let k = cases::send(case, server.addr());
            diffs = cases::compare(case, &k, &w);
            if !diffs.is_empty() {
                if case.repeat > 1 {
                    diffs[0].push_str(&format!(" (in run {run} of {})", case.repeat));
                }
                break;
            }
        }
        if !server.running() {
            diffs.push(format!(
                "kiln serve exited; its stderr:\n{}",
                server.log_tail(20)
            ));
            server = match start_kiln() {
                Ok(s) => s,
                Err(why) => {
                    report(&name, HttpVerdict::Mismatch(diffs));
                    return report(
                        &format!("http {guest}"),
                        HttpVerdict::Mismatch(vec![format!("kiln serve cannot restart: {why}")]),
                    );
                }
            };
        }
        if diffs.is_empty() {
            report(&name, HttpVerdict::Pass(cases::summary(&w)));
        } else {
            report(&name, HttpVerdict::Mismatch(diffs));
        }
    }
}

/// Without `kiln serve`: the request set still runs against wasmtime (so the harness and the
/// guest are exercised), then the guest fails with the reason.
fn wasmtime_alone(
    guest: &str,
    peer: &peer::PeerServer,
    selected: &[&cases::Case],
    why: &str,
    report: &mut impl FnMut(&str, HttpVerdict),
) {
    for case in selected {
        let w = cases::send(case, peer.addr());
        println!(
            "http {guest} {}: wasmtime alone: {}",
            case.name,
            cases::summary(&w)
        );
    }
    report(
        &format!("http {guest}"),
        HttpVerdict::Mismatch(vec![format!(
            "kiln serve is not available, {} cases not compared: {why}",
            selected.len()
        )]),
    );
}

//! The HTTP server rows: requests per second and p50/p99 latency of `GET /` of the issue-16
//! hello handler (the Rust guest `tests/wasi-guests/http-handler`), served by `kiln serve` (a
//! child process) and by kiln-diff's in-process `wasmtime serve` equivalent (wasmtime 48.0.8 +
//! wasmtime-wasi-http: one instance per request from a `ProxyPre`, hyper 1, tokio with one
//! worker per core), loaded one after the other by the same generator on the same machine.
//!
//! The load generator: `CONNECTIONS` threads, each with one keep-alive HTTP/1.1 connection
//! (kiln-diff's raw client), sending `GET /` and reading the whole response in a loop for a
//! fixed duration after a short warm-up; every request's latency (request written to response
//! read) is recorded, and a response that is not the handler's 200 counts as an error (the
//! connection is then reopened). The generator and the server share the machine's cores.

#[allow(dead_code)]
#[path = "../../diff/src/http/client.rs"]
mod client;
#[allow(dead_code)]
#[path = "../../diff/src/http/guests.rs"]
mod guests;
#[allow(dead_code)]
#[path = "../../diff/src/http/kiln_serve.rs"]
mod kiln_serve;
#[path = "../../diff/src/http/peer.rs"]
mod peer;

use crate::report_types::{Row, Section};
use anyhow::Result;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// Keep-alive connections of the load generator.
const CONNECTIONS: usize = 8;
/// The hello handler's body.
const HELLO: &[u8] = b"hello from kiln-http-guest\n";

/// The durations of one run.
#[derive(Clone, Copy)]
pub struct HttpSizes {
    /// Warm-up before measuring (not counted).
    pub warmup: Duration,
    /// Measured load per server.
    pub duration: Duration,
}

/// What one server did under load.
struct LoadResult {
    /// Requests answered with the handler's 200 in the measured window.
    ok: u64,
    /// Failed requests (no response, another status or body).
    errors: u64,
    /// Requests per second.
    rps: f64,
    /// Median latency, µs.
    p50: f64,
    /// 99th-percentile latency, µs.
    p99: f64,
}

/// One connection's loop until `end`: latencies in ns of good responses, and the errors.
fn connection_loop(addr: SocketAddr, end: Instant) -> (Vec<u64>, u64) {
    let request = client::get("/", "bench.local");
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut errors = 0;
    let mut conn = None;
    while Instant::now() < end {
        let c = match &mut conn {
            Some(c) => c,
            None => match client::Conn::connect(addr, Duration::from_secs(10)) {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    errors += 1;
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        let t = Instant::now();
        let r = c
            .send(&request)
            .map_err(|e| e.to_string())
            .and_then(|()| c.read_response(false));
        let ns = t.elapsed().as_nanos() as u64;
        match r {
            Ok(r) if r.status == 200 && r.body == HELLO && r.complete => {
                latencies.push(ns);
                if r.closes() {
                    conn = None;
                }
            }
            _ => {
                errors += 1;
                conn = None;
            }
        }
    }
    (latencies, errors)
}

/// Loads `addr` with `CONNECTIONS` connections for `sizes.warmup` (discarded), then for
/// `sizes.duration`.
fn load(addr: SocketAddr, sizes: HttpSizes) -> LoadResult {
    let run = |d: Duration| {
        let end = Instant::now() + d;
        let threads: Vec<_> = (0..CONNECTIONS)
            .map(|_| std::thread::spawn(move || connection_loop(addr, end)))
            .collect();
        let mut all = Vec::new();
        let mut errors = 0;
        for t in threads {
            if let Ok((l, e)) = t.join() {
                all.extend(l);
                errors += e;
            }
        }
        (all, errors)
    };
    run(sizes.warmup);
    let start = Instant::now();
    let (mut lat, errors) = run(sizes.duration);
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        if lat.is_empty() {
            f64::NAN
        } else {
            let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
            lat[i] as f64 / 1000.0
        }
    };
    LoadResult {
        ok: lat.len() as u64,
        errors,
        rps: lat.len() as f64 / secs,
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

/// The section's rows, and lines for "Not measured" (a side that could not run).
pub fn http_rows(kiln: Option<&Path>, sizes: HttpSizes) -> Result<(Section, Vec<String>)> {
    let mut notes = Vec::new();
    let wasm = match guests::rust_handler() {
        Ok(w) => w,
        Err(e) => {
            notes.push(format!("http: the Rust hello handler — {e:#}"));
            return Ok((section(Vec::new(), sizes), notes));
        }
    };
    eprintln!("HTTP rows: wasmtime-serve equivalent");
    let wasmtime = match peer::start(&wasm, SocketAddr::from(([127, 0, 0, 1], 0)), 0) {
        Ok(server) => {
            let r = load(server.addr(), sizes);
            drop(server);
            Some(r)
        }
        Err(e) => {
            notes.push(format!("http: wasmtime serve equivalent — {e:#}"));
            None
        }
    };
    eprintln!("HTTP rows: kiln serve");
    let kiln_result = match kiln_serve::find_kiln(kiln, &guests::repo_root()).and_then(|k| {
        if kiln_serve::has_serve(&k) {
            kiln_serve::start(&k, &wasm, &[], Duration::from_secs(300))
        } else {
            Err(format!("{} has no `serve` command", k.display()))
        }
    }) {
        Ok(server) => Some(load(server.addr(), sizes)),
        Err(e) => {
            notes.push(format!("http: kiln serve — {e}"));
            None
        }
    };
    for (who, r) in [("kiln serve", &kiln_result), ("wasmtime serve", &wasmtime)] {
        if let Some(r) = r {
            eprintln!(
                "  {who}: {} requests, {} errors, {:.0} req/s, p50 {:.1} µs, p99 {:.1} µs",
                r.ok, r.errors, r.rps, r.p50, r.p99
            );
            if r.errors > 0 {
                notes.push(format!(
                    "http: {who} failed {} of {} requests under load (the figures count \
                     only the good ones)",
                    r.errors,
                    r.ok + r.errors
                ));
            }
        }
    }
    let k = kiln_result.as_ref();
    let w = wasmtime.as_ref();
    let label = format!("GET / hello (Rust guest), {CONNECTIONS} connections");
    let rows = vec![
        Row::new(format!("{label}: throughput"), "req/s")
            .col("kiln serve", k.map(|r| r.rps))
            .col("wasmtime serve", w.map(|r| r.rps))
            // The ratio compares costs (time per request): wasmtime's rate / kiln's.
            .ratio_of(w.map(|r| r.rps), k.map(|r| r.rps)),
        Row::new(format!("{label}: p50 latency"), "µs")
            .col("kiln serve", k.map(|r| r.p50))
            .col("wasmtime serve", w.map(|r| r.p50))
            .ratio_of(k.map(|r| r.p50), w.map(|r| r.p50)),
        Row::new(format!("{label}: p99 latency"), "µs")
            .col("kiln serve", k.map(|r| r.p99))
            .col("wasmtime serve", w.map(|r| r.p99))
            .ratio_of(k.map(|r| r.p99), w.map(|r| r.p99)),
    ];
    Ok((section(rows, sizes), notes))
}

/// The section around `rows`.
fn section(rows: Vec<Row>, sizes: HttpSizes) -> Section {
    Section {
        title: "HTTP server (kiln serve vs wasmtime serve)".into(),
        about: format!(
            "`GET /` of the issue-16 hello handler (`tests/wasi-guests/http-handler`, Rust, \
             wasm32-wasip2) under load: {CONNECTIONS} keep-alive HTTP/1.1 connections, one \
             thread each, sending the next request as soon as the response is read, for \
             {:.1} s after a {:.1} s warm-up; latency from writing the request to reading \
             the whole response. kiln: `kiln serve --addr 127.0.0.1:0 FILE.wasm` (a child \
             process, default options); wasmtime: an in-process equivalent of `wasmtime serve \
             -Scli` (wasmtime 48.0.8 + wasmtime-wasi-http, a fresh store and instance per \
             request from a `ProxyPre`, hyper 1 HTTP/1.1 with keep-alive, tokio with one \
             worker per core, the pooling allocator). Same generator, same machine, run one \
             after the other; the generator's threads share the 2 cores with the server. \
             Ratio: kiln's cost / wasmtime's (for throughput, wasmtime's req/s / kiln's).",
            sizes.duration.as_secs_f64(),
            sizes.warmup.as_secs_f64()
        ),
        rows,
    }
}

//! `wasi:sockets@0.3.0` in kiln's native WASI host, end to end: the Rust guest in
//! `tests/async-guests/sock3` (a `wasi:cli/command@0.3.0` through wit-bindgen's async
//! support, importing WASI 0.3 only; built for wasm32-wasip2 — skipped with a printed reason
//! when that target is not installed) is compiled by kiln and run with
//! `kiln_runtime::wasi::{add_to_linker, run_command}`: a TCP echo of 1 MiB between a listener
//! and a client task of the same instance (accept stream, send and receive streams, async
//! connect), a send that meets a reset, a UDP round trip, a `localhost` lookup, the option getters and setters, and,
//! without network permission, `access-denied` from every network operation. The expected
//! lines follow from the guest's source (`src/lib.rs`) and the WASI 0.3 WIT.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::wasi::{OutputBuffer, OutputConfig, WasiConfig};
use kiln_runtime::{Component, ComponentLinker, Engine, Error};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The guest compiled by kiln (once per test process), or `None` after printing why it
/// cannot be built.
fn guest() -> Option<&'static Path> {
    static SO: OnceLock<Option<(TempDir, PathBuf)>> = OnceLock::new();
    SO.get_or_init(|| {
        kiln_tests::compiled_wasip2_guest(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("async-guests/sock3"),
            "kiln-sock3-guest",
            "sock3_guest",
            "wasi:sockets@0.3.0",
        )
    })
    .as_ref()
    .map(|(_, so)| so.as_path())
}

/// What one run of the guest produced.
struct Run {
    status: Result<i32, Error>,
    stdout: String,
    stderr: String,
}

/// Runs the guest with `args` (after the program name), with or without network access.
fn run(so: &Path, args: &[&str], network: bool) -> Run {
    let engine = Engine::default();
    let component = Component::load(&engine, so).unwrap_or_else(|e| panic!("load: {e}"));
    let mut linker = ComponentLinker::new(&engine);
    let (out, err) = (OutputBuffer::new(), OutputBuffer::new());
    let mut config = WasiConfig::new();
    let mut all = vec!["sock3"];
    all.extend_from_slice(args);
    config.args(&all);
    config.stdout = OutputConfig::Buffer(out.clone());
    config.stderr = OutputConfig::Buffer(err.clone());
    config.inherit_network(network);
    kiln_runtime::wasi::add_to_linker(&mut linker, config);
    let instance = linker
        .instantiate(&component)
        .unwrap_or_else(|e| panic!("instantiate: {e}"));
    let status = kiln_runtime::wasi::run_command(&instance);
    Run {
        status,
        stdout: String::from_utf8_lossy(&out.contents()).into_owned(),
        stderr: String::from_utf8_lossy(&err.contents()).into_owned(),
    }
}

/// Asserts the run exited with 0 and printed exactly `expected`.
fn assert_output(r: &Run, expected: &str) {
    assert!(
        matches!(r.status, Ok(0)),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        r.status,
        r.stdout,
        r.stderr
    );
    assert_eq!(r.stdout, expected, "stderr:\n{}", r.stderr);
}

#[test]
fn the_guest_imports_wasi_0_3_only() {
    let Some(so) = guest() else { return };
    let engine = Engine::default();
    let component = Component::load(&engine, so).expect("load");
    let names: Vec<&str> = component
        .imports()
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("wasi:sockets/types@0.3")),
        "{names:?}"
    );
    for n in &names {
        assert!(n.contains("@0.3."), "a non-0.3 import {n} in {names:?}");
    }
}

#[test]
fn a_tcp_echo_of_a_mebibyte_between_tasks_of_one_instance() {
    let Some(so) = guest() else { return };
    let started = Instant::now();
    let r = run(so, &["tcp", "1048576"], true);
    assert_output(
        &r,
        "listening: true\nserver echoed 1048576 bytes\nclient ok\n",
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    // Past what the socket buffers and the read-ahead hold: the writes wait for the peer.
    let r = run(so, &["tcp", "16777216"], true);
    assert_output(
        &r,
        "listening: true\nserver echoed 16777216 bytes\nclient ok\n",
    );
    // Nothing sent at all: the echo of an empty stream still ends cleanly.
    let r = run(so, &["tcp", "0"], true);
    assert_output(&r, "listening: true\nserver echoed 0 bytes\nclient ok\n");
}

#[test]
fn sending_to_a_peer_that_closed_unread_fails_the_send_future() {
    let Some(so) = guest() else { return };
    // The listener binds implicitly, accepts, and drops the connection without reading.
    let r = run(so, &["reset"], true);
    assert_output(
        &r,
        "send failed: true\nsecond send: Err(ErrorCode::InvalidState)\n",
    );
}

#[test]
fn a_udp_round_trip_on_loopback() {
    let Some(so) = guest() else { return };
    let r = run(so, &["udp"], true);
    assert_output(
        &r,
        "b got ping\na got pong\ndisconnect again: Err(ErrorCode::InvalidState)\n",
    );
}

#[test]
fn localhost_resolves_to_a_loopback_address() {
    let Some(so) = guest() else { return };
    let r = run(so, &["lookup"], true);
    assert_output(
        &r,
        "localhost has a loopback address: true\nbad name: Err(ErrorCode::InvalidArgument)\n",
    );
}

#[test]
fn socket_options_read_back_what_was_set() {
    let Some(so) = guest() else { return };
    let r = run(so, &["options"], true);
    assert_output(
        &r,
        "family IpAddressFamily::Ipv4\n\
         unbound address Err(ErrorCode::InvalidState)\n\
         keep-alive Ok(())\n\
         keep-alive now Ok(true)\n\
         idle 0 Err(ErrorCode::InvalidArgument)\n\
         idle Ok(())\n\
         idle now Ok(30000000000)\n\
         count Ok(())\n\
         count now Ok(5)\n\
         hop Ok(())\n\
         hop now Ok(42)\n\
         backlog 0 Err(ErrorCode::InvalidArgument)\n\
         receive buffer Ok(()) Ok(true)\n\
         receive before connect Err(ErrorCode::InvalidState)\n\
         udp hop Ok(())\n\
         udp hop now Ok(7)\n\
         udp remote Err(ErrorCode::InvalidState)\n\
         udp receive unbound Err(ErrorCode::InvalidState)\n",
    );
}

#[test]
fn without_network_permission_every_operation_is_access_denied() {
    let Some(so) = guest() else { return };
    let r = run(so, &["denied"], false);
    assert_output(
        &r,
        "tcp bind Err(ErrorCode::AccessDenied)\n\
         tcp listen Err(ErrorCode::AccessDenied)\n\
         tcp connect Err(ErrorCode::AccessDenied)\n\
         udp bind Err(ErrorCode::AccessDenied)\n\
         udp send Err(ErrorCode::AccessDenied)\n\
         lookup Err(ErrorCode::AccessDenied)\n",
    );
    // The same operations with permission succeed (nothing listens on port 9: refused).
    let r = run(so, &["denied"], true);
    assert_output(
        &r,
        "tcp bind Ok(())\n\
         tcp listen Ok(())\n\
         tcp connect Err(ErrorCode::ConnectionRefused)\n\
         udp bind Ok(())\n\
         udp send Ok(())\n\
         lookup Ok(())\n",
    );
    // A TCP echo without permission fails at bind and says so.
    let r = run(so, &["tcp", "10"], false);
    assert!(matches!(r.status, Ok(1)), "{:?}", r.status);
    assert_eq!(r.stdout, "bind failed: ErrorCode::AccessDenied\n");
}

//! `wasi:sockets` in kiln's native WASI 0.2 host, end to end: the Rust std guest in
//! `tests/wasi-guests/sockets` (std::net over wasi-libc over `wasi:sockets`, built for
//! wasm32-wasip2 — skipped with a printed reason when that target is not installed) is
//! compiled by kiln and run with `kiln_runtime::wasi` against host peers on 127.0.0.1: a TCP
//! client talking to a host listener, a TCP server reached by a host client, UDP datagrams
//! both ways, and a `localhost` lookup; without network permission the same scenarios fail
//! with `access-denied` (the guest prints `PermissionDenied`) and the host peers see nothing.
//! The guest reports through stdout (WASI 0.2's `exit` carries only success or failure).

use kiln_cli::tempdir::TempDir;
use kiln_runtime::wasi::{self, OutputBuffer, OutputConfig, WasiConfig};
use kiln_runtime::{Component, ComponentLinker, Engine};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Builds guest crate `tests/wasi-guests/<dir>` (binary `<bin>`) with cargo for
/// wasm32-wasip2 and compiles it with kiln; the `.so` stays in `keep`.
fn build_guest(dir: &str, bin: &str, keep: &TempDir) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("wasi-guests")
        .join(dir);
    let target = kiln_tests::cache_dir().join("kiln-wasi-guests");
    let wasm = kiln_tests::build_wasip2_guest(&src, &target, bin);
    let bytes = std::fs::read(&wasm).expect("read the guest component");
    let so = keep.path().join(format!("{bin}.so"));
    kiln_compiler::compile_to_file(&bytes, &Default::default(), kiln_compiler::Emit::So, &so)
        .unwrap_or_else(|e| panic!("kiln compile of {bin}: {e}"));
    so
}

/// The std::net guest (once per test process); `None` after printing why when the
/// wasm32-wasip2 target is missing.
fn guest() -> Option<&'static Path> {
    static SO: OnceLock<Option<(TempDir, PathBuf)>> = OnceLock::new();
    SO.get_or_init(|| {
        if let Some(why) = kiln_tests::wasip2_target_missing() {
            eprintln!("skipping the wasi:sockets guest tests: {why}");
            return None;
        }
        let dir = TempDir::new("kiln-wasi-sockets").expect("temp dir");
        let so = build_guest("sockets", "sockets-guest", &dir);
        Some((dir, so))
    })
    .as_ref()
    .map(|(_, so)| so.as_path())
}

/// The guest calling `wasi:sockets` directly through wit-bindgen (once per test process).
fn wit_guest() -> Option<&'static Path> {
    static SO: OnceLock<Option<(TempDir, PathBuf)>> = OnceLock::new();
    SO.get_or_init(|| {
        if let Some(why) = kiln_tests::wasip2_target_missing() {
            eprintln!("skipping the wasi:sockets WIT-level tests: {why}");
            return None;
        }
        let dir = TempDir::new("kiln-wasi-sockets-wit").expect("temp dir");
        let so = build_guest("sockets-wit", "sockets-wit-guest", &dir);
        Some((dir, so))
    })
    .as_ref()
    .map(|(_, so)| so.as_path())
}

/// Runs the guest with `args` (after the program name); its exit status and stdout.
fn run(so: &Path, network: bool, args: &[&str]) -> (i32, String) {
    let engine = Engine::default();
    let component = Component::load(&engine, so).expect("load");
    let mut linker = ComponentLinker::new(&engine);
    let out = OutputBuffer::new();
    let mut cfg = WasiConfig::new();
    let mut argv = vec!["sockets-guest"];
    argv.extend_from_slice(args);
    cfg.args(&argv);
    cfg.inherit_network(network);
    cfg.stdout = OutputConfig::Buffer(out.clone());
    cfg.stderr = OutputConfig::Inherit;
    wasi::add_to_linker(&mut linker, cfg);
    let instance = linker.instantiate(&component).expect("instantiate");
    let status = wasi::run_command(&instance).expect("run");
    let stdout = String::from_utf8_lossy(&out.contents()).into_owned();
    (status, stdout)
}

/// A host echo server for one connection: echoes the first 10 bytes, then everything
/// until the client's end of stream; returns how many bytes it echoed.
fn echo_once(listener: TcpListener) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut first = [0u8; 10];
        s.read_exact(&mut first).expect("read the greeting");
        s.write_all(&first).expect("echo the greeting");
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).expect("read the rest");
        s.write_all(&rest).expect("echo the rest");
        first.len() + rest.len()
    })
}

#[test]
fn tcp_client_talks_to_a_host_listener() {
    let Some(so) = guest() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = echo_once(listener);
    let (status, stdout) = run(so, true, &["client", &addr]);
    assert_eq!(status, 0, "guest stdout: {stdout}");
    assert!(stdout.contains("client ok"), "{stdout}");
    assert_eq!(server.join().unwrap(), 10 + 200_000);
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn tcp_server_is_reached_by_a_host_client() {
    let Some(so) = guest() else { return };
    let port = free_port();
    let so2 = so.to_path_buf();
    let guest = std::thread::spawn(move || run(&so2, true, &["server", &port.to_string()]));
    let start = Instant::now();
    let mut conn = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(e) if start.elapsed() < Duration::from_secs(30) && !guest.is_finished() => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot reach the guest server: {e}"),
        }
    };
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(b"hello from the host").unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = String::new();
    conn.read_to_string(&mut back).unwrap();
    assert_eq!(back, "HELLO FROM THE HOST");
    let (status, stdout) = guest.join().unwrap();
    assert_eq!(status, 0, "guest stdout: {stdout}");
    assert!(stdout.contains("server ok"), "{stdout}");
}

#[test]
fn udp_datagrams_both_ways() {
    let Some(so) = guest() else { return };
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    let peer = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let mut seen = Vec::new();
        for _ in 0..2 {
            let (n, from) = sock.recv_from(&mut buf).expect("datagram from the guest");
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            sock.send_to(&buf[..n].to_ascii_uppercase(), from).unwrap();
        }
        seen
    });
    let (status, stdout) = run(so, true, &["udp", &addr]);
    assert_eq!(status, 0, "guest stdout: {stdout}");
    assert!(stdout.contains("udp ok"), "{stdout}");
    assert_eq!(peer.join().unwrap(), ["ping kiln", "again"]);
}

#[test]
fn localhost_resolves() {
    let Some(so) = guest() else { return };
    let (status, stdout) = run(so, true, &["lookup"]);
    assert_eq!(status, 0, "guest stdout: {stdout}");
    assert!(stdout.contains("lookup ok"), "{stdout}");
}

/// Asserts the guest failed at `step` with `PermissionDenied` (`access-denied`).
fn assert_denied(status: i32, stdout: &str, step: &str) {
    assert_eq!(status, 1, "guest stdout: {stdout}");
    assert!(
        stdout.contains(&format!("FAIL {step}:")) && stdout.contains("(PermissionDenied)"),
        "{stdout}"
    );
}

#[test]
fn without_network_permission_everything_is_denied() {
    let Some(so) = guest() else { return };
    // TCP client: the host listener sees no connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (status, stdout) = run(so, false, &["client", &addr]);
    assert_denied(status, &stdout, "connect");
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the host listener saw a connection: {other:?}"),
    }
    // TCP server: bind is denied, nothing listens on the port.
    let port = free_port();
    let (status, stdout) = run(so, false, &["server", &port.to_string()]);
    assert_denied(status, &stdout, "bind");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    // UDP: bind is denied, the host peer receives nothing.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    let (status, stdout) = run(so, false, &["udp", &addr]);
    assert_denied(status, &stdout, "udp bind");
    sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    assert!(sock.recv_from(&mut buf).is_err());
    // Name lookup: fails (wasi-libc turns `access-denied` into a resolver error).
    let (status, stdout) = run(so, false, &["lookup"]);
    assert_eq!(status, 1, "guest stdout: {stdout}");
    assert!(stdout.contains("FAIL lookup:"), "{stdout}");
}

/// Runs the WIT-level guest in `mode` and checks it reported `want` passed checks and no
/// failure.
fn wit_checks(network: bool, mode: &str, want: usize) {
    let Some(so) = wit_guest() else { return };
    let (status, stdout) = run(so, network, &[mode]);
    let fails: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        fails.is_empty(),
        "failed checks:\n{}\n\nall output:\n{stdout}",
        fails.join("\n")
    );
    assert_eq!(status, 0, "guest stdout: {stdout}");
    let oks = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    eprintln!("{mode}: {oks} checks passed");
    assert!(
        oks >= want,
        "only {oks} checks ran (want {want}):\n{stdout}"
    );
    assert!(stdout.contains("\ndone "), "{stdout}");
}

#[test]
fn wit_level_state_machine_options_streams_udp_and_lookup() {
    wit_checks(true, "granted", 100);
}

#[test]
fn wit_level_access_denied_without_permission() {
    wit_checks(false, "denied", 8);
}

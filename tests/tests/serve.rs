//! `kiln serve` end to end: the real `kiln` executable serves real handler components on
//! 127.0.0.1 (a free port, read from its `Serving HTTP on http://IP:PORT/` line), and real
//! clients talk to it: a raw HTTP/1.1 client over `TcpStream` (`serve/client.rs`) and curl.
//!
//! The main handler is the Rust `wasi:http/proxy` guest of `tests/wasi-guests/http-handler`
//! (built by `kiln_tests::http_guests` — the tests that need it are skipped with a printed
//! reason when its toolchain is missing — and compiled to a `.so` by kiln);
//! `tests/components/http/spin.wat` is a handler that never returns (the request timeout).

#[path = "serve/client.rs"]
mod client;

use client::{big_body, get, post, Conn};
use kiln_cli::tempdir::TempDir;
use kiln_tests::guest_build::compiled_so;
use kiln_tests::http_guests::{self, or_skip, HttpGuest};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The Rust handler guest (`kiln_tests::http_guests`) compiled to a `.so`; `None` after
/// printing why when it cannot be built here.
fn handler() -> Option<&'static Path> {
    static SO: OnceLock<Option<PathBuf>> = OnceLock::new();
    SO.get_or_init(|| {
        let wasm = or_skip(HttpGuest::RustHandler, http_guests::rust_handler())?;
        Some(compile(&wasm))
    })
    .as_deref()
}

/// Component `wasm` compiled by this build's `kiln compile`, through the `.so` cache the
/// guest tests and the HTTP differential share (each guest is compiled once for all of them).
fn compile(wasm: &Path) -> PathBuf {
    compiled_so(kiln_tests::tools::kiln_exe(), wasm)
        .unwrap_or_else(|e| panic!("kiln compile of {}: {e}", wasm.display()))
}

/// A file of `tests/components/http/`.
fn wat_component(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("components/http")
        .join(name)
}

/// A running `kiln serve`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    /// Its stderr lines after the `Serving` line.
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `kiln serve --addr 127.0.0.1:0 ARGS FILE` and waits for its `Serving` line.
    fn start(file: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(kiln_tests::tools::kiln_exe())
            .arg("serve")
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kiln serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                match tx.take() {
                    Some(t) => {
                        let _ = t.send(line);
                    }
                    None => sink.lock().unwrap().push(line),
                }
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| panic!("kiln serve printed nothing: {:?}", child.try_wait()));
        let port = first
            .strip_prefix("Serving HTTP on http://127.0.0.1:")
            .and_then(|rest| rest.strip_suffix('/'))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        Server { child, port, log }
    }

    /// The stderr lines so far (after the `Serving` line).
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a stderr line contains `text` (at most `within`).
    fn wait_log(&self, text: &str, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if self.log().iter().any(|l| l.contains(text)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Sends SIGTERM.
    fn sigterm(&self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: plain syscall on our own child's pid (not yet reaped: we hold `child`).
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }

    /// Waits for the exit status (at most `within`).
    fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Rust handler's server, or `None` (skipped).
fn handler_server(args: &[&str]) -> Option<Server> {
    handler().map(|so| Server::start(so, args))
}

#[test]
fn routes_over_one_keep_alive_connection() {
    let Some(server) = handler_server(&[]) else {
        return;
    };
    let mut conn = Conn::open(server.port, Duration::from_secs(30));
    let r = conn.get("/");
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.text(), "hello from kiln-http-guest\n");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    // The same connection again: keep-alive.
    let r = conn.get("/info?x=1");
    assert_eq!(
        r.text(),
        "method=GET\npath=/info?x=1\nscheme=http\nauthority=test.example\n"
    );
    conn.send(b"GET /headers HTTP/1.1\r\nHost: h\r\nX-B: 2\r\nx-a: 1\r\nX-B: 1\r\n\r\n");
    let r = conn.read_reply().unwrap();
    // `host` is a forbidden field: the guest does not see it (as under wasmtime).
    assert_eq!(r.text(), "x-a: 1\nx-b: 1\nx-b: 2\n");
    let r = conn.get("/status/418");
    assert_eq!((r.status, r.body.len()), (418, 0));
    let r = conn.get("/nowhere");
    assert_eq!((r.status, r.text().as_str()), (404, "not found\n"));
    let r = conn.get("/big?bytes=1000000");
    assert!(r.complete);
    assert_eq!(r.body, big_body(1_000_000));
    // Trailers go out over HTTP/1.1 when the client accepts them and the response announces
    // them in a `trailer` header (hyper's rule; the guest does).
    conn.send(b"GET /trailers HTTP/1.1\r\nHost: h\r\nTE: trailers\r\n\r\n");
    let r = conn.read_reply().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "with trailers\n"));
    assert!(r.complete);
    assert_eq!(r.header("trailer"), Some("x-trailer"));
    assert_eq!(r.trailers, [("x-trailer".to_string(), "yes".to_string())]);
    assert!(server.log().is_empty(), "{:?}", server.log());
}

#[test]
fn echoes_a_4mib_body_both_framings() {
    let Some(server) = handler_server(&[]) else {
        return;
    };
    let body: Vec<u8> = (0..4u32 << 20).map(|i| (i * 7 + i / 4096) as u8).collect();
    let r = post(server.port, "/echo", &body);
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(
        r.body == body,
        "echoed {} bytes, sent {}",
        r.body.len(),
        body.len()
    );

    // A chunked request body, sent in uneven chunks.
    let mut conn = Conn::open(server.port, Duration::from_secs(60));
    let mut w = conn.writer();
    let sent = body.clone();
    let sender = std::thread::spawn(move || {
        w.write_all(b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")?;
        for piece in sent.chunks(77_777) {
            w.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
            w.write_all(piece)?;
            w.write_all(b"\r\n")?;
        }
        w.write_all(b"0\r\n\r\n")
    });
    let r = conn.read_reply().unwrap();
    sender.join().unwrap().unwrap();
    assert!(r.complete);
    assert!(
        r.body == body,
        "echoed {} bytes, sent {}",
        r.body.len(),
        body.len()
    );
    // The connection is still usable.
    assert_eq!(conn.get("/").status, 200);
}

#[test]
fn slow_clients_are_served_and_stalled_ones_cut_off() {
    let Some(server) = handler_server(&["--header-timeout", "3s", "--body-timeout", "1s"]) else {
        return;
    };
    // Byte by byte, 1.5 s in all (less than the header timeout).
    let mut slow = Conn::open(server.port, Duration::from_secs(30));
    let request = b"GET /info HTTP/1.1\r\nHost: slow.example\r\nX-Slow: yes\r\n\r\n";
    let pause = Duration::from_millis(1500) / request.len() as u32;
    for b in request {
        slow.send(&[*b]);
        std::thread::sleep(pause);
    }
    let r = slow.read_reply().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("authority=slow.example"), "{}", r.text());

    // A head that never ends: closed after the header timeout, while others are served.
    let started = Instant::now();
    let mut stalled = Conn::open(server.port, Duration::from_secs(10));
    stalled.send(b"GET / HTTP/1.1\r\nHost: stalled\r\n");
    for _ in 0..5 {
        let r = get(server.port, "/");
        assert_eq!(r.status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "others were held up"
    );
    assert!(stalled.closed_by_server(), "a stalled head was not cut off");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(8), "cut off after {waited:?}");

    // A connection that sends nothing at all is dropped after the same delay.
    let started = Instant::now();
    let mut silent = Conn::open(server.port, Duration::from_secs(10));
    assert!(silent.closed_by_server(), "a silent connection was kept");
    assert!(started.elapsed() < Duration::from_secs(8));

    // A body that stops arriving: the guest sees a read timeout; the reply is an error or
    // an aborted body, never a whole echo, and the connection is closed.
    let mut stalled = Conn::open(server.port, Duration::from_secs(10));
    stalled.send(b"POST /echo HTTP/1.1\r\nHost: h\r\ncontent-length: 100\r\n\r\n0123456789");
    let started = Instant::now();
    match stalled.read_reply() {
        Ok(r) => assert!(
            r.status >= 500 || !r.complete,
            "a stalled body gave a whole reply: {r:?}"
        ),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}"),
    }
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(get(server.port, "/").status, 200);
}

#[test]
fn malformed_requests_get_400_and_the_server_lives() {
    let Some(server) = handler_server(&[]) else {
        return;
    };
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: h\r\nBad Header Name: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
    ] {
        let mut conn = Conn::open(server.port, Duration::from_secs(10));
        conn.send(bad);
        let r = conn.read_reply().unwrap();
        assert_eq!(r.status, 400, "for {:?}", String::from_utf8_lossy(bad));
    }
    assert_eq!(get(server.port, "/").status, 200);
}

#[test]
fn trapping_handlers_are_500_or_aborted_and_the_server_lives() {
    let Some(server) = handler_server(&[]) else {
        return;
    };
    let r = get(server.port, "/trap");
    assert_eq!(r.status, 500);
    assert!(server.wait_log("GET /trap", Duration::from_secs(5)));
    let line = server
        .log()
        .into_iter()
        .find(|l| l.contains("/trap"))
        .unwrap();
    assert!(line.contains("unreachable"), "{line}");

    // After the head went out: the chunked body ends without its last chunk, the data
    // written before the trap delivered.
    for _ in 0..10 {
        let r = get(server.port, "/trap-after-head");
        assert_eq!(r.status, 200);
        assert!(!r.complete, "a trapped body looked whole: {r:?}");
        assert_eq!(r.text(), "partial");
    }

    for _ in 0..3 {
        assert_eq!(get(server.port, "/").status, 200);
    }
    assert_eq!(get(server.port, "/trap").status, 500);
}

#[test]
fn a_looping_handler_times_out_and_its_slot_comes_back() {
    let spin = wat_component("spin.wat");
    let server = Server::start(
        &spin,
        &["--request-timeout", "500ms", "--max-concurrency", "1"],
    );
    for _ in 0..2 {
        let started = Instant::now();
        let r = get(server.port, "/");
        assert_eq!(r.status, 500);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(500) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }
    assert!(
        server.wait_log(
            "interrupted (--request-timeout passed)",
            Duration::from_secs(5)
        ),
        "{:?}",
        server.log()
    );
    // Two at once with one slot: the second waits for the first to be interrupted.
    let port = server.port;
    let started = Instant::now();
    let both: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let r = get(port, "/");
                (r.status, started.elapsed())
            })
        })
        .collect();
    let mut took: Vec<_> = both.into_iter().map(|t| t.join().unwrap()).collect();
    took.sort_by_key(|t| t.1);
    assert_eq!((took[0].0, took[1].0), (500, 500));
    assert!(took[1].1 >= Duration::from_millis(1000), "{took:?}");
}

#[test]
fn outgoing_requests_need_inherit_network() {
    let Some(denied) = handler_server(&[]) else {
        return;
    };
    let allowed = handler_server(&["--inherit-network"]).unwrap();
    let r = get(
        denied.port,
        &format!("/fetch?url=http://127.0.0.1:{}/", allowed.port),
    );
    assert_eq!(r.status, 502);
    assert!(r.text().contains("HttpRequestDenied"), "{}", r.text());
    let r = get(
        allowed.port,
        &format!("/fetch?url=http://127.0.0.1:{}/", denied.port),
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "fetched 27 bytes: hello from kiln-http-guest\n")
    );
}

#[test]
fn sixteen_parallel_clients() {
    let Some(server) = handler_server(&["--max-concurrency", "4"]) else {
        return;
    };
    let port = server.port;
    let clients: Vec<_> = (0..16)
        .map(|c| {
            std::thread::spawn(move || {
                let mut conn = Conn::open(port, Duration::from_secs(60));
                for i in 0..8 {
                    let n = 1000 * (c * 8 + i + 1);
                    let r = conn.get(&format!("/big?bytes={n}"));
                    assert!(
                        r.complete && r.body == big_body(n),
                        "client {c} request {i}"
                    );
                    let body: Vec<u8> = (0..n).map(|j| (j + c) as u8).collect();
                    let r = post(port, "/echo", &body);
                    assert!(r.complete && r.body == body, "client {c} echo {i}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}

/// The componentize-js handler serves the routes JavaScript allows (see
/// `tests/http-guests/README.md`); a thrown error is a 500 and the server keeps serving.
#[test]
fn js_handler_serves_its_routes() {
    let Some(wasm) = or_skip(HttpGuest::JsHandler, http_guests::js_handler()) else {
        return;
    };
    let so = compile(&wasm);
    let server = Server::start(&so, &[]);
    let mut conn = Conn::open(server.port, Duration::from_secs(60));
    let r = conn.get("/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "hello from kiln-http-guest\n")
    );
    let r = conn.get("/info?q=1");
    assert_eq!(
        r.text(),
        "method=GET\npath=/info?q=1\nscheme=http\nauthority=test.example\n"
    );
    let r = conn.get("/status/418");
    assert_eq!(r.status, 418);
    let r = conn.get("/big?bytes=200000");
    assert!(r.complete && r.body == big_body(200_000));
    let body: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
    let r = post(server.port, "/echo", &body);
    assert!(
        r.complete && r.body == body,
        "echoed {} bytes",
        r.body.len()
    );
    // StarlingMonkey answers a thrown error with a 500 of its own.
    assert_eq!(get(server.port, "/trap").status, 500);
    assert_eq!(get(server.port, "/").status, 200);
}

#[test]
fn curl_sees_responses_errors_and_aborts() {
    let curl = Path::new("/usr/bin/curl");
    if !curl.exists() {
        eprintln!("skipping the curl test: /usr/bin/curl is missing");
        return;
    }
    let Some(server) = handler_server(&["--http2"]) else {
        return;
    };
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", server.port);
    let run = |args: &[&str]| {
        let out = Command::new(curl)
            .args(["-s", "--max-time", "60"])
            .args(args)
            .output()
            .expect("run curl");
        (out.status.code(), out.stdout)
    };
    let (code, out) = run(&[&url("/")]);
    assert_eq!(
        (code, out.as_slice()),
        (Some(0), &b"hello from kiln-http-guest\n"[..])
    );

    let dir = TempDir::new("kiln-serve-curl").unwrap();
    let file = dir.path().join("body.bin");
    let body: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &body).unwrap();
    let data = format!("@{}", file.display());
    let (code, out) = run(&["--data-binary", &data, &url("/echo")]);
    assert_eq!(code, Some(0));
    assert!(out == body, "curl got {} bytes back", out.len());

    let (code, out) = run(&["-o", "/dev/null", "-w", "%{http_code}", &url("/trap")]);
    assert_eq!((code, out.as_slice()), (Some(0), &b"500"[..]));
    // 18: "partial file" (the chunked body never ended).
    let (code, _) = run(&[&url("/trap-after-head")]);
    assert_eq!(code, Some(18));
    let (code, out) = run(&["-o", "/dev/null", "-w", "%{http_code}", &url("/status/204")]);
    assert_eq!((code, out.as_slice()), (Some(0), &b"204"[..]));

    // HTTP/2 with prior knowledge (`--http2`; when this curl has HTTP/2): trailers go through.
    let (code, out) = run(&["--http2-prior-knowledge", "-D", "-", &url("/trailers")]);
    if code == Some(1) {
        eprintln!("skipping the HTTP/2 check: this curl lacks HTTP/2");
    } else {
        let text = String::from_utf8_lossy(&out);
        assert_eq!(code, Some(0), "{text}");
        assert!(text.starts_with("HTTP/2 200"), "{text}");
        assert!(text.contains("with trailers\n"), "{text}");
        assert!(text.contains("x-trailer: yes"), "{text}");
    }
}

#[test]
fn sigterm_lets_requests_in_flight_finish() {
    let spin = wat_component("spin.wat");
    let mut server = Server::start(&spin, &["--request-timeout", "1s"]);
    let port = server.port;
    let in_flight = std::thread::spawn(move || get(port, "/").status);
    std::thread::sleep(Duration::from_millis(300));
    server.sigterm();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still accepting after SIGTERM"
    );
    assert_eq!(in_flight.join().unwrap(), 500);
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{status:?}");
}

#[test]
fn a_second_sigterm_exits_at_once() {
    let spin = wat_component("spin.wat");
    let mut server = Server::start(&spin, &["--request-timeout", "60s"]);
    let port = server.port;
    // Never answered before the server exits: the connection closes without a reply.
    let in_flight = std::thread::spawn(move || {
        let mut conn = Conn::open(port, Duration::from_secs(30));
        conn.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        conn.read_reply().is_err()
    });
    std::thread::sleep(Duration::from_millis(300));
    server.sigterm();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    let started = Instant::now();
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(in_flight.join().unwrap());
}

#[test]
fn sigterm_stops_gracefully() {
    let Some(mut server) = handler_server(&[]) else {
        return;
    };
    // An idle keep-alive connection does not hold the shutdown up.
    let mut idle = Conn::open(server.port, Duration::from_secs(10));
    assert_eq!(idle.get("/").status, 200);
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{status:?}");
}

#[test]
fn a_component_without_the_handler_is_refused_before_listening() {
    let dir = TempDir::new("kiln-serve-refuse").unwrap();
    let file = dir.path().join("plain.wat");
    std::fs::write(
        &file,
        r#"(component
             (core module $m (func (export "f") (result i32) i32.const 1))
             (core instance $i (instantiate $m))
             (func (export "f") (result u32) (canon lift (core func $i "f"))))"#,
    )
    .unwrap();
    let out = Command::new(kiln_tests::tools::kiln_exe())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg(&file)
        .output()
        .expect("run kiln serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("does not export `wasi:http/incoming-handler`") && !err.contains("Serving"),
        "{err}"
    );
    // A core module too.
    std::fs::write(&file, "(module)").unwrap();
    let out = Command::new(kiln_tests::tools::kiln_exe())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg(&file)
        .output()
        .expect("run kiln serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is a core module"), "{err}");
}

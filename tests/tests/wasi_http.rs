//! `wasi:http` in kiln's native WASI host, through the runtime API a server uses
//! (`kiln_runtime::wasi::http::handle_request`): the Rust `wasi:http/proxy` guest of
//! `tests/wasi-guests/http-handler` (wasm32-wasip2, `wasi` crate, built by
//! `kiln_tests::http_guests`; skipped with a printed reason when the target is missing) is compiled by kiln, instantiated per request and
//! handed requests made by the test; the responses, their streamed bodies, trailers and
//! errors are checked. Outgoing requests go to a host HTTP server on 127.0.0.1 that the test
//! runs, with and without network permission. `kiln serve` is tested in `serve.rs`.

use kiln_runtime::wasi::http::{
    body_channel, empty_body, handle_request, BodyEnd, BodyReader, ErrorCode, FieldList,
    IncomingRequest, Response,
};
use kiln_runtime::wasi::{self, WasiConfig};
use kiln_runtime::{Component, ComponentLinker, Engine};
use kiln_tests::guest_build::compiled_so;
use kiln_tests::http_guests::{or_skip, rust_handler, HttpGuest};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

/// The handler guest compiled by this build's `kiln compile` (through the `.so` cache the
/// guest, serve and differential tests share); `None` after printing why when the
/// wasm32-wasip2 target is missing.
fn guest() -> Option<&'static Path> {
    static SO: OnceLock<Option<PathBuf>> = OnceLock::new();
    SO.get_or_init(|| {
        let wasm = or_skip(HttpGuest::RustHandler, rust_handler())?;
        Some(
            compiled_so(kiln_tests::tools::kiln_exe(), &wasm)
                .unwrap_or_else(|e| panic!("kiln compile of the http handler: {e}")),
        )
    })
    .as_deref()
}

/// What one request produced: the response with its whole body and how that ended (or the
/// error the responder got), and whether `handle` itself returned or trapped.
struct Outcome {
    response: Result<(Response, Vec<u8>, BodyEnd), ErrorCode>,
    handled: Result<(), String>,
}

/// A GET (or other method) request for `path` with `headers` and `body`.
fn request(method: &str, path: &str, headers: FieldList, body: BodyReader) -> IncomingRequest {
    IncomingRequest {
        method: method.into(),
        scheme: Some("http".into()),
        authority: Some("example.test:8080".into()),
        path_with_query: Some(path.into()),
        headers,
        body,
    }
}

/// Instantiates the guest and runs `req` through its handler on a thread of its own (as a
/// server would), returning once the response head is there and the handler returned.
fn serve(so: &Path, network: bool, req: IncomingRequest) -> Outcome {
    let engine = Engine::default();
    let component = Component::load(&engine, so).expect("load");
    let mut linker = ComponentLinker::new(&engine);
    let mut cfg = WasiConfig::new();
    cfg.inherit_network(network);
    wasi::add_to_linker(&mut linker, cfg);
    let (tx, rx) = mpsc::channel();
    let handler = std::thread::spawn(move || {
        let instance = linker.instantiate(&component).expect("instantiate");
        let respond = Box::new(move |r| {
            let _ = tx.send(r);
        });
        handle_request(&instance, req, respond).map_err(|e| e.to_string())
    });
    let response = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the responder is called");
    // Drain the body while the handler may still be writing it (the pipe is bounded).
    let response = response.map(|mut r| {
        let body = std::mem::replace(&mut r.body, empty_body());
        let (bytes, end) = drain(body);
        (r, bytes, end)
    });
    Outcome {
        response,
        handled: handler.join().expect("the handler thread"),
    }
}

/// Reads a whole body: its bytes and how it ended.
fn drain(body: BodyReader) -> (Vec<u8>, BodyEnd) {
    let mut out = Vec::new();
    loop {
        match body.blocking_read(1 << 20, None) {
            Some(d) => out.extend_from_slice(&d),
            None => return (out, body.take_end().expect("the end after the data")),
        }
    }
}

fn header<'a>(list: &'a FieldList, name: &str) -> Option<&'a [u8]> {
    list.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

/// The response, body bytes and body end of a request the handler answered.
fn ok_response(o: Outcome) -> (Response, Vec<u8>, BodyEnd) {
    o.handled.expect("handle returns");
    o.response.expect("a response")
}

#[test]
fn hello_status_and_not_found() {
    let Some(so) = guest() else { return };
    let (r, body, end) = ok_response(serve(so, false, request("GET", "/", vec![], empty_body())));
    assert_eq!(r.status, 200);
    assert_eq!(body, b"hello from kiln-http-guest\n");
    assert_eq!(header(&r.headers, "content-type"), Some(&b"text/plain"[..]));
    assert!(matches!(end, BodyEnd::Finished(None)));

    let (r, body, _) = ok_response(serve(
        so,
        false,
        request("GET", "/status/418", vec![], empty_body()),
    ));
    assert_eq!(r.status, 418);
    assert!(body.is_empty());

    let (r, body, _) = ok_response(serve(
        so,
        false,
        request("DELETE", "/nowhere", vec![], empty_body()),
    ));
    assert_eq!(r.status, 404);
    assert_eq!(body, b"not found\n");
}

#[test]
fn request_parts_reach_the_guest_and_forbidden_headers_do_not() {
    let Some(so) = guest() else { return };
    let headers = vec![
        ("x-b".to_string(), b"2".to_vec()),
        ("x-a".to_string(), b"1".to_vec()),
        ("host".to_string(), b"example.test:8080".to_vec()),
        ("connection".to_string(), b"keep-alive".to_vec()),
    ];
    let (r, body, _) = ok_response(serve(
        so,
        false,
        request("GET", "/headers", headers, empty_body()),
    ));
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8(body).unwrap(), "x-a: 1\nx-b: 2\n");

    let (_, body, _) = ok_response(serve(
        so,
        false,
        request("GET", "/info?q=1", vec![], empty_body()),
    ));
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "method=GET\npath=/info?q=1\nscheme=http\nauthority=example.test:8080\n"
    );
}

#[test]
fn oversized_request_headers_are_refused_before_the_guest_runs() {
    let Some(so) = guest() else { return };
    let big = vec![b'x'; 4096];
    let headers = (0..40)
        .map(|i| (format!("x-h{i}"), big.clone()))
        .collect::<FieldList>();
    let o = serve(so, false, request("GET", "/", headers, empty_body()));
    o.handled.expect("nothing ran, nothing trapped");
    match o.response {
        Err(e @ ErrorCode::HttpRequestHeaderSectionSize(Some(n))) => {
            assert!(n > 128 * 1024, "{n}");
            assert_eq!(e.status(), 431);
        }
        Err(other) => panic!("expected a header-section-size error, got {other}"),
        Ok((r, _, _)) => panic!("the guest answered {}", r.status),
    }
}

#[test]
fn bodies_stream_both_ways() {
    let Some(so) = guest() else { return };
    // A 3 MiB request body written by another thread while the guest echoes it: more than
    // both pipes hold, so neither side can finish without the other making progress.
    let (w, r) = body_channel(64 * 1024);
    let data: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    let sent = data.clone();
    let feeder = std::thread::spawn(move || {
        for c in sent.chunks(10_000) {
            w.blocking_push(c.to_vec(), None).expect("the guest reads");
        }
        w.finish(None);
    });
    let headers = vec![("content-type".to_string(), b"application/x-test".to_vec())];
    let engine_req = request("POST", "/echo", headers, r);
    let outcome = {
        // Read the response body while the guest runs (it blocks once the pipe is full).
        let engine = Engine::default();
        let component = Component::load(&engine, so).expect("load");
        let mut linker = ComponentLinker::new(&engine);
        wasi::add_to_linker(&mut linker, WasiConfig::new());
        let (tx, rx) = mpsc::channel();
        let handler = std::thread::spawn(move || {
            let instance = linker.instantiate(&component).expect("instantiate");
            handle_request(
                &instance,
                engine_req,
                Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            )
            .map_err(|e| e.to_string())
        });
        let resp = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("responded")
            .expect("a response");
        assert_eq!(
            header(&resp.headers, "content-type"),
            Some(&b"application/x-test"[..])
        );
        let (bytes, end) = drain(resp.body);
        handler.join().unwrap().expect("handle returns");
        (bytes, end)
    };
    feeder.join().unwrap();
    assert_eq!(outcome.0.len(), data.len());
    assert!(outcome.0 == data, "the echoed body differs");
    assert!(matches!(outcome.1, BodyEnd::Finished(None)));

    let (r, body, _) = ok_response(serve(
        so,
        false,
        request("GET", "/big?bytes=3000000", vec![], empty_body()),
    ));
    assert_eq!(r.status, 200);
    assert_eq!(body.len(), 3_000_000);
    assert!(body
        .iter()
        .enumerate()
        .all(|(i, &b)| b == b'a' + (i % 26) as u8));
}

#[test]
fn trailers_arrive_after_the_body() {
    let Some(so) = guest() else { return };
    let (_, body, end) = ok_response(serve(
        so,
        false,
        request("GET", "/trailers", vec![], empty_body()),
    ));
    assert_eq!(body, b"with trailers\n");
    match end {
        BodyEnd::Finished(Some(t)) => assert_eq!(t, vec![("x-trailer".into(), b"yes".to_vec())]),
        other => panic!("expected trailers, got {other:?}"),
    }
}

#[test]
fn traps_are_errors_for_the_host_before_and_after_the_head() {
    let Some(so) = guest() else { return };
    let o = serve(so, false, request("GET", "/trap", vec![], empty_body()));
    assert!(o.handled.is_err(), "the trap is reported");
    assert!(o.response.is_err(), "no response was set");

    let o = serve(
        so,
        false,
        request("GET", "/trap-after-head", vec![], empty_body()),
    );
    let err = o.handled.expect_err("the trap is reported");
    assert!(err.contains("unreachable"), "{err}");
    let (r, bytes, end) = o.response.expect("the head was set before the trap");
    assert_eq!(r.status, 200);
    assert_eq!(bytes, b"partial");
    assert!(
        matches!(end, BodyEnd::Failed(_)),
        "a cut body must end with an error, got {end:?}"
    );
}

/// A one-shot HTTP/1.1 upstream on 127.0.0.1: answers every connection with `body`; the
/// request heads it saw go to the returned channel.
fn upstream(body: &'static [u8]) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { return };
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if c.read(&mut b).unwrap_or(0) == 0 {
                    break;
                }
                head.push(b[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = c.write_all(body);
        }
    });
    (addr, rx)
}

#[test]
fn outgoing_requests_need_network_permission() {
    let Some(so) = guest() else { return };
    let (addr, heads) = upstream(b"upstream says hi");
    let url = format!("http://{addr}/data");
    let path = format!("/fetch?url={url}");

    let (r, body, _) = ok_response(serve(so, true, request("GET", &path, vec![], empty_body())));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "fetched 16 bytes: upstream says hi"
    );
    let head = heads.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(head.starts_with("GET /data HTTP/1.1\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("host: {addr}\r\n")),
        "{head}"
    );

    let (r, body, _) = ok_response(serve(
        so,
        false,
        request("GET", &path, vec![], empty_body()),
    ));
    assert_eq!(r.status, 502);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("HttpRequestDenied"), "{text}");
    assert!(
        heads.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing reached the network"
    );

    // A port nobody listens on: connection refused, reported as an error code.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let (r, body, _) = ok_response(serve(
        so,
        true,
        request(
            "GET",
            &format!("/fetch?url=http://{dead}/"),
            vec![],
            empty_body(),
        ),
    ));
    assert_eq!(r.status, 502);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("ConnectionRefused"), "{text}");
}

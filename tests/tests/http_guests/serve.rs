//! The handlers' routes under kiln's `wasi:http` host: each request gets a fresh instance and
//! goes through `kiln_runtime::wasi::http::handle_request`, its body fed from a thread and the
//! response body drained by another (so bodies larger than a pipe's buffer stream through).

use super::HttpGuest;
use kiln_runtime::wasi::http::{
    body, body_channel, handle_request, BodyEnd, BodyReader, ErrorCode, FieldList, IncomingRequest,
    Responder,
};
use kiln_runtime::wasi::{self, WasiConfig};
use kiln_runtime::{Component, ComponentLinker, ComponentPre, Engine};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a body may take.
const PATIENCE: Duration = Duration::from_secs(120);

/// What a request got.
struct Outcome {
    /// The response (or the error the responder saw).
    response: Result<Reply, ErrorCode>,
    /// Whether the guest's `handle` returned (`false`: it trapped).
    returned: bool,
}

/// A response, its body read to the end.
struct Reply {
    /// Status code.
    status: u16,
    /// Header fields.
    headers: FieldList,
    /// The body's bytes.
    body: Vec<u8>,
    /// How the body ended.
    end: Option<BodyEnd>,
}

impl Reply {
    /// The first value of header `name`, as text.
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// The body as text.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads `body` to its end (or [`PATIENCE`]).
fn drain(body: BodyReader) -> (Vec<u8>, Option<BodyEnd>) {
    let deadline = Instant::now() + PATIENCE;
    let mut out = Vec::new();
    while let Some(chunk) = body.blocking_read(1 << 20, Some(deadline)) {
        if chunk.is_empty() {
            assert!(Instant::now() < deadline, "a response body stalled");
        }
        out.extend_from_slice(&chunk);
    }
    (out, body.take_end())
}

/// Sends one request to a fresh instance of `pre`.
fn send(
    pre: &ComponentPre,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Outcome {
    let (writer, reader) = body_channel(body::DEFAULT_CAPACITY);
    let data = body.to_vec();
    let feeder = std::thread::spawn(move || {
        for chunk in data.chunks(50_000) {
            if writer.blocking_push(chunk.to_vec(), None).is_err() {
                return;
            }
        }
        writer.finish(None);
    });
    let (tx, rx) = mpsc::channel();
    let respond: Responder = Box::new(move |r| {
        let sent = match r {
            Ok(resp) => {
                let (status, headers) = (resp.status, resp.headers);
                let drainer = std::thread::spawn(move || drain(resp.body));
                tx.send(Ok((status, headers, drainer)))
            }
            Err(e) => tx.send(Err(e)),
        };
        sent.expect("the test waits for the response");
    });
    let request = IncomingRequest {
        method: method.into(),
        scheme: Some("http".into()),
        authority: Some("example.test".into()),
        path_with_query: Some(path.into()),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect(),
        body: reader,
    };
    let instance = pre.instantiate().expect("instantiate the handler");
    let returned = handle_request(&instance, request, respond).is_ok();
    drop(instance);
    let response = match rx.recv_timeout(PATIENCE).expect("the responder was called") {
        Ok((status, headers, drainer)) => {
            let (body, end) = drainer.join().expect("drain the body");
            Ok(Reply {
                status,
                headers,
                body,
                end,
            })
        }
        Err(e) => Err(e),
    };
    let _ = feeder.join();
    Outcome { response, returned }
}

/// A GET of `path`, which must answer.
fn get(pre: &ComponentPre, path: &str) -> Reply {
    let out = send(pre, "GET", path, &[], b"");
    out.response
        .unwrap_or_else(|e| panic!("GET {path}: no response: {e:?}"))
}

/// An upstream server for one connection answering `hello fetch`.
fn upstream() -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
            head.push(byte[0]);
        }
        s.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nhello fetch",
        )
        .expect("answer");
        String::from_utf8_lossy(&head).into_owned()
    });
    (addr, server)
}

/// Serves the contract's routes with `component` (a handler, loaded into `engine`) and checks
/// every answer.
pub fn contract(guest: HttpGuest, engine: &Engine, component: &Component) {
    let mut linker = ComponentLinker::new(engine);
    let mut cfg = WasiConfig::new();
    cfg.inherit_network(true);
    wasi::add_to_linker(&mut linker, cfg);
    let pre = linker
        .instantiate_pre(component)
        .unwrap_or_else(|e| panic!("{}: link: {e}", guest.name()));
    let rust = guest == HttpGuest::RustHandler;

    let r = get(&pre, "/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "hello from kiln-http-guest\n")
    );
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));

    // Larger than a body pipe's buffer: request and response must stream.
    let big: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let out = send(
        &pre,
        "POST",
        "/echo",
        &[("content-type", "application/x-test")],
        &big,
    );
    let r = out.response.expect("an echo");
    assert_eq!(r.status, 200);
    assert!(
        r.body == big,
        "the echo differs ({} bytes back)",
        r.body.len()
    );
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/x-test")
    );

    let out = send(&pre, "GET", "/headers", &[("x-b", "2"), ("x-a", "1")], b"");
    let r = out.response.expect("the headers");
    assert_eq!(r.text(), "x-a: 1\nx-b: 2\n");

    let r = get(&pre, "/info?x=1");
    assert_eq!(
        r.text(),
        "method=GET\npath=/info?x=1\nscheme=http\nauthority=example.test\n"
    );

    let r = get(&pre, "/big?bytes=300000");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 300_000);
    assert!(r
        .body
        .iter()
        .enumerate()
        .all(|(i, b)| *b == b'a' + (i % 26) as u8));
    assert!(matches!(r.end, Some(BodyEnd::Finished(_))));

    let r = get(&pre, "/status/418");
    assert_eq!((r.status, r.body.len()), (418, 0));
    assert_eq!(get(&pre, "/nope").status, 404);
    assert_eq!(
        send(&pre, "POST", "/", &[], b"")
            .response
            .expect("404")
            .status,
        404
    );

    let (addr, server) = upstream();
    let r = get(
        &pre,
        &format!("/fetch?url=http%3A%2F%2F{addr}%2Fup%3Fq%3D1"),
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "fetched 11 bytes: hello fetch")
    );
    let head = server.join().expect("upstream");
    assert!(head.starts_with("GET /up?q=1 HTTP/1.1\r\n"), "{head}");
    assert_eq!(get(&pre, "/fetch?url=http://127.0.0.1:1/").status, 502);

    // A trap before the response: Rust traps (the responder sees an error); JavaScript's
    // exception becomes StarlingMonkey's own 500.
    let out = send(&pre, "GET", "/trap", &[], b"");
    if rust {
        assert!(out.response.is_err() && !out.returned);
    } else {
        assert_eq!(out.response.expect("a 500").status, 500);
    }
    // After the head: `partial`, then a body that does not end cleanly (Rust: a trap).
    let out = send(&pre, "GET", "/trap-after-head", &[], b"");
    let r = out.response.expect("a head");
    assert_eq!((r.status, r.text().as_str()), (200, "partial"));
    if rust {
        assert!(!out.returned);
        assert!(matches!(r.end, Some(BodyEnd::Failed(_))), "{:?}", r.end);
    }

    let r = get(&pre, "/trailers");
    if rust {
        assert_eq!(r.text(), "with trailers\n");
        let Some(BodyEnd::Finished(Some(trailers))) = &r.end else {
            panic!("no trailers: {:?}", r.end);
        };
        assert_eq!(trailers, &vec![("x-trailer".to_string(), b"yes".to_vec())]);
    } else {
        assert_eq!(r.status, 404);
    }

    // The handler still serves after the traps.
    assert_eq!(get(&pre, "/").status, 200);
    eprintln!(
        "  {}: every route answered under kiln's wasi:http host",
        guest.name()
    );
}

//! The `--http` mode's request set (every route of the issue-16 guest contract, plus bad
//! requests) and how two servers' responses are compared.
//!
//! Compared: the status, the header fields (names lowercased, sorted by name keeping the order
//! of one name's values), the decoded body, the trailers and whether the body ended properly
//! or was aborted. Not compared (see `known-differences.txt`): `date` (the clock), and the
//! framing headers `content-length` and `transfer-encoding` (whether a body of known size is
//! sent with a length or chunked is the server's choice; the decoded bodies are compared).
//! Cases marked status-only (traps, bad requests) compare the status alone (or that neither
//! server answered): their bodies are each server's own error page.

use super::client::{self, Conn, Response};
use std::net::SocketAddr;
use std::time::Duration;

/// The `host` header of every request (the same for both servers, whose ports differ).
pub const HOST: &str = "kiln-diff.test";

/// Header fields not compared.
const IGNORED: [&str; 3] = ["date", "content-length", "transfer-encoding"];

/// How a case's responses are compared.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Status, headers, body, trailers and completeness.
    Full,
    /// The status only (or that neither answered).
    StatusOnly,
}

/// One request: a head, a body sent while the response is read, and whether it is HEAD.
pub struct Exchange {
    /// The request head, sent as is (empty: only read the next response).
    pub head: Vec<u8>,
    /// The request body (or anything sent after the head).
    pub body: Vec<u8>,
    /// Whether the request is a HEAD (its response has no body).
    pub head_request: bool,
}

/// One case: requests sent in order on one connection.
pub struct Case {
    /// Its name in the report.
    pub name: String,
    /// The requests.
    pub exchanges: Vec<Exchange>,
    /// How responses are compared.
    pub compare: Compare,
    /// The routes the JS handler cannot implement (the case is skipped for it).
    pub rust_only: bool,
    /// How many times the case runs (timing-dependent cases run more than once).
    pub repeat: usize,
}

fn get(name: &str, target: &str) -> Case {
    Case {
        name: name.into(),
        exchanges: vec![Exchange {
            head: client::get(target, HOST),
            body: Vec::new(),
            head_request: false,
        }],
        compare: Compare::Full,
        rust_only: false,
        repeat: 1,
    }
}

/// How often the cases whose outcome depends on timing (a handler that fails while its
/// response is on its way) run.
const REPEAT: usize = 5;

fn repeated(mut c: Case) -> Case {
    c.repeat = REPEAT;
    c
}

fn status_only(mut c: Case) -> Case {
    c.compare = Compare::StatusOnly;
    c
}

fn post_echo(name: &str, body: Vec<u8>, content_type: Option<&str>) -> Case {
    let mut head = format!(
        "POST /echo HTTP/1.1\r\nhost: {HOST}\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("content-type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    Case {
        name: name.into(),
        exchanges: vec![Exchange {
            head: head.into_bytes(),
            body,
            head_request: false,
        }],
        compare: Compare::Full,
        rust_only: false,
        repeat: 1,
    }
}

/// Deterministic bytes of every value (a body that is not text).
fn pattern(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Every case; `upstream` is the address of the `/fetch` target server.
pub fn all(upstream: SocketAddr) -> Vec<Case> {
    let mut cases = vec![
        get("GET /", "/"),
        post_echo("POST /echo 0 B", Vec::new(), None),
        post_echo(
            "POST /echo 1 KiB",
            pattern(1024),
            Some("application/octet-stream"),
        ),
        post_echo(
            "POST /echo 4 MiB",
            pattern(4 << 20),
            Some("application/x-kiln"),
        ),
    ];
    // A chunked request body.
    cases.push(Case {
        name: "POST /echo chunked".into(),
        exchanges: vec![Exchange {
            head: format!(
                "POST /echo HTTP/1.1\r\nhost: {HOST}\r\ntransfer-encoding: chunked\r\n\
                 content-type: text/plain\r\n\r\n"
            )
            .into_bytes(),
            body: b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld\n\r\n0\r\n\r\n".to_vec(),
            head_request: false,
        }],
        compare: Compare::Full,
        rust_only: false,
        repeat: 1,
    });
    // Odd but valid header fields.
    let mut head = format!(
        "GET /headers HTTP/1.1\r\nhost: {HOST}\r\nX-Mixed-Case: Value\r\nx-dup: one\r\n\
         x-dup: two\r\nx-empty:\r\nx-padded:    padded value \t \r\nx-tab: in\tner\r\n\
         x-tchars!#$%&'*+.^_`|~: ok\r\nx-quote: \"a, b\"; q=0.5\r\nx-long: {}\r\n",
        "v".repeat(8000)
    )
    .into_bytes();
    head.extend_from_slice(b"x-obs-text: caf\xc3\xa9 \xff\r\n\r\n");
    cases.push(Case {
        name: "GET /headers odd fields".into(),
        exchanges: vec![Exchange {
            head,
            body: Vec::new(),
            head_request: false,
        }],
        compare: Compare::Full,
        rust_only: false,
        repeat: 1,
    });
    cases.extend([
        get("GET /info", "/info?x=1&y=%20z"),
        get("GET /big?bytes=0", "/big?bytes=0"),
        get("GET /big?bytes=1", "/big?bytes=1"),
        get("GET /big?bytes=3000000", "/big?bytes=3000000"),
        get("GET /status/204", "/status/204"),
        get("GET /status/418", "/status/418"),
        repeated(status_only(get("GET /trap", "/trap"))),
        repeated(get("GET /trap-after-head", "/trap-after-head")),
        get(
            "GET /fetch upstream 200",
            &format!("/fetch?url=http://{upstream}/upstream"),
        ),
        get(
            "GET /fetch upstream 503",
            &format!("/fetch?url=http%3A%2F%2F{upstream}%2Fstatus%2F503"),
        ),
        get("GET /fetch refused", "/fetch?url=http://127.0.0.1:1/"),
        get("GET /fetch bad url", "/fetch?url=nonsense"),
        get("GET /nope (404)", "/nope"),
    ]);
    let mut trailers = get("GET /trailers", "/trailers");
    trailers.rust_only = true;
    cases.push(trailers);
    // Methods and keep-alive.
    cases.push(Case {
        name: "DELETE / (404)".into(),
        exchanges: vec![Exchange {
            head: format!("DELETE / HTTP/1.1\r\nhost: {HOST}\r\n\r\n").into_bytes(),
            body: Vec::new(),
            head_request: false,
        }],
        compare: Compare::Full,
        rust_only: false,
        repeat: 1,
    });
    cases.push(Case {
        name: "keep-alive: 3 requests on one connection".into(),
        exchanges: ["/", "/info", "/big?bytes=100"]
            .iter()
            .map(|t| Exchange {
                head: client::get(t, HOST),
                body: Vec::new(),
                head_request: false,
            })
            .collect(),
        compare: Compare::Full,
        rust_only: false,
        repeat: 1,
    });
    cases.push(Case {
        name: "HEAD / (404, no body)".into(),
        exchanges: vec![Exchange {
            head: format!("HEAD / HTTP/1.1\r\nhost: {HOST}\r\n\r\n").into_bytes(),
            body: Vec::new(),
            head_request: true,
        }],
        compare: Compare::Full,
        rust_only: false,
        repeat: 1,
    });
    let mut continued = post_echo("POST /echo with expect: 100-continue", pattern(3000), None);
    let head = &mut continued.exchanges[0].head;
    head.truncate(head.len() - 2);
    head.extend_from_slice(b"expect: 100-continue\r\n\r\n");
    cases.push(continued);
    // Two requests in one write; the second response is read without sending anything.
    cases.push(Case {
        name: "pipelined: 2 requests in one write".into(),
        exchanges: vec![
            Exchange {
                head: [
                    client::get("/info", HOST),
                    client::get("/big?bytes=70000", HOST),
                ]
                .concat(),
                body: Vec::new(),
                head_request: false,
            },
            Exchange {
                head: Vec::new(),
                body: Vec::new(),
                head_request: false,
            },
        ],
        compare: Compare::Full,
        rust_only: false,
        repeat: 1,
    });
    // Bad requests: the servers' HTTP layers answer (status only).
    let raw = |name: &str, head: Vec<u8>, body: Vec<u8>| {
        status_only(Case {
            name: name.into(),
            exchanges: vec![Exchange {
                head,
                body,
                head_request: false,
            }],
            compare: Compare::StatusOnly,
            rust_only: false,
            repeat: 1,
        })
    };
    cases.push(raw(
        "bad: malformed request line",
        b"GARBAGE\r\n\r\n".to_vec(),
        Vec::new(),
    ));
    cases.push(raw(
        "bad: oversized header (1 MiB)",
        format!("GET / HTTP/1.1\r\nhost: {HOST}\r\nx-big: ").into_bytes(),
        [vec![b'a'; 1 << 20], b"\r\n\r\n".to_vec()].concat(),
    ));
    cases.push(raw(
        "bad: HTTP/1.1 without host",
        b"GET /info HTTP/1.1\r\n\r\n".to_vec(),
        Vec::new(),
    ));
    cases.push(raw(
        "bad: content-length and chunked",
        format!(
            "POST /echo HTTP/1.1\r\nhost: {HOST}\r\ncontent-length: 3\r\n\
             transfer-encoding: chunked\r\n\r\n"
        )
        .into_bytes(),
        b"0\r\n\r\n".to_vec(),
    ));
    cases
}

/// One server's outcome of one request: the response, or why there was none.
pub type Outcome = Result<Response, String>;

/// Runs `case` against `addr`: one outcome per exchange (stopping after the first failure
/// or a response that closes the connection).
pub fn send(case: &Case, addr: SocketAddr) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut conn = match Conn::connect(addr, Duration::from_secs(60)) {
        Ok(c) => c,
        Err(e) => return vec![Err(format!("cannot connect: {e}"))],
    };
    for ex in &case.exchanges {
        let r = conn.exchange(&ex.head, ex.body.clone(), ex.head_request);
        let stop = r.as_ref().map_or(true, Response::closes);
        out.push(r);
        if stop {
            break;
        }
    }
    out
}

/// The header fields compared: names lowercased, ignored ones dropped, sorted by name
/// (keeping the order of one name's values).
fn compared_headers(fields: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fields
        .iter()
        .filter(|(n, _)| !IGNORED.contains(&n.as_str()))
        .cloned()
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn show_fields(fields: &[(String, Vec<u8>)]) -> String {
    let items: Vec<String> = fields
        .iter()
        .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v)))
        .collect();
    format!("[{}]", items.join(", "))
}

fn show_body(body: &[u8]) -> String {
    let head = &body[..body.len().min(80)];
    format!(
        "{} bytes {:?}{}",
        body.len(),
        String::from_utf8_lossy(head),
        if body.len() > 80 { "..." } else { "" }
    )
}

/// The differences between kiln's and wasmtime's outcomes of one request (empty: agree).
fn compare_one(compare: Compare, kiln: &Outcome, wasmtime: &Outcome) -> Vec<String> {
    let (k, w) = match (kiln, wasmtime) {
        (Err(_), Err(_)) => return Vec::new(),
        (Ok(k), Err(e)) => {
            return vec![format!(
                "kiln answered {} but wasmtime did not ({e})",
                k.status
            )]
        }
        (Err(e), Ok(w)) => {
            return vec![format!(
                "wasmtime answered {} but kiln did not ({e})",
                w.status
            )]
        }
        (Ok(k), Ok(w)) => (k, w),
    };
    let mut d = Vec::new();
    if k.status != w.status {
        d.push(format!("status: kiln {}, wasmtime {}", k.status, w.status));
    }
    if compare == Compare::StatusOnly {
        return d;
    }
    let (kh, wh) = (compared_headers(&k.headers), compared_headers(&w.headers));
    if kh != wh {
        d.push(format!(
            "headers: kiln {}, wasmtime {}",
            show_fields(&kh),
            show_fields(&wh)
        ));
    }
    if k.body != w.body {
        let at = k.body.iter().zip(&w.body).position(|(a, b)| a != b);
        d.push(format!(
            "body: kiln {}, wasmtime {}{}",
            show_body(&k.body),
            show_body(&w.body),
            at.map(|i| format!(" (first difference at byte {i})"))
                .unwrap_or_default()
        ));
    }
    if k.complete != w.complete {
        let word = |c: bool| if c { "complete" } else { "aborted" };
        d.push(format!(
            "body end: kiln {}, wasmtime {}",
            word(k.complete),
            word(w.complete)
        ));
    }
    if compared_headers(&k.trailers) != compared_headers(&w.trailers) {
        d.push(format!(
            "trailers: kiln {}, wasmtime {}",
            show_fields(&k.trailers),
            show_fields(&w.trailers)
        ));
    }
    d
}

/// The differences between the two servers' outcomes of a case.
pub fn compare(case: &Case, kiln: &[Outcome], wasmtime: &[Outcome]) -> Vec<String> {
    let mut d = Vec::new();
    if kiln.len() != wasmtime.len() {
        d.push(format!(
            "kiln answered {} of the connection's requests, wasmtime {}",
            kiln.len(),
            wasmtime.len()
        ));
    }
    let many = case.exchanges.len() > 1;
    for (i, (k, w)) in kiln.iter().zip(wasmtime).enumerate() {
        for line in compare_one(case.compare, k, w) {
            d.push(if many {
                format!("request {}: {line}", i + 1)
            } else {
                line
            });
        }
    }
    d
}

/// A one-line summary of wasmtime's outcome (for PASS lines).
pub fn summary(outcomes: &[Outcome]) -> String {
    outcomes
        .iter()
        .map(|o| match o {
            Ok(r) => format!(
                "{} {} bytes {:?}{}",
                r.status,
                r.body.len(),
                r.framing,
                if r.complete { "" } else { " aborted" }
            ),
            Err(e) => format!("no response ({e})"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

//! A `wasi:http/proxy` request handler with the routes of kiln's HTTP guest contract (issue 16),
//! served by `kiln serve` and `wasmtime serve` in kiln's tests, differential and benchmark:
//!
//! - `GET /`: `hello from kiln-http-guest\n` (text/plain)
//! - `POST /echo`: the request body streamed back, `content-type` copied from the request
//! - `GET /headers`: every request header as `name: value\n`, sorted by name then value
//! - `GET /info`: the method, path with query, scheme and authority (`-` when missing)
//! - `GET /big?bytes=N`: N bytes (`b'a' + i % 26`), written in chunks of at most 64 KiB
//! - `GET /status/NNN`: status NNN, empty body
//! - `GET /trap`: traps before setting a response
//! - `GET /trap-after-head`: sends a 200 head and `partial`, then traps
//! - `GET /fetch?url=URL`: an outgoing GET of URL; the upstream status and
//!   `fetched N bytes: <first 64 bytes>`, or 502 with the error code's debug text
//! - `GET /trailers`: `with trailers\n` and the trailer `x-trailer: yes` (announced by the
//!   header `trailer: x-trailer`)
//! - anything else: 404, `not found\n`

mod fetch;
mod io;

use io::{read_chunk, write_all};
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse,
    ResponseOutparam, Scheme,
};

wasi::http::proxy::export!(Handler);

/// The exported `wasi:http/incoming-handler`.
struct Handler;

/// The largest chunk `/big` and `/echo` write at once.
const CHUNK: usize = 64 * 1024;

impl wasi::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path_with_query = request.path_with_query().unwrap_or_else(|| "/".into());
        let (path, query) = match path_with_query.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (path_with_query.clone(), String::new()),
        };
        let method = request.method();
        match (&method, path.as_str()) {
            (Method::Get, "/") => text(out, 200, &[], b"hello from kiln-http-guest\n"),
            (Method::Post, "/echo") => echo(&request, out),
            (Method::Get, "/headers") => text(out, 200, &[], &headers_text(&request)),
            (Method::Get, "/info") => {
                let body = format!(
                    "method={}\npath={}\nscheme={}\nauthority={}\n",
                    method_name(&method),
                    path_with_query,
                    request.scheme().map_or("-".into(), |s| scheme_name(&s)),
                    request.authority().unwrap_or_else(|| "-".into()),
                );
                text(out, 200, &[], body.as_bytes());
            }
            (Method::Get, "/big") => {
                match query_param(&query, "bytes").and_then(|n| n.parse().ok()) {
                    Some(n) => big(out, n),
                    None => text(out, 400, &[], b"bad bytes\n"),
                }
            }
            (Method::Get, "/trap") => core::arch::wasm32::unreachable(),
            (Method::Get, "/trap-after-head") => {
                let body = start(out, 200, &[]);
                let stream = body.write().expect("the body's stream");
                write_all(&stream, b"partial");
                core::arch::wasm32::unreachable()
            }
            (Method::Get, "/fetch") => match query_param(&query, "url") {
                Some(url) => fetch::fetch(out, &url),
                None => text(out, 400, &[], b"missing url\n"),
            },
            (Method::Get, "/trailers") => {
                // HTTP/1.1 servers (hyper) send only the trailers the head announces.
                let body = start(
                    out,
                    200,
                    &[("content-type", b"text/plain"), ("trailer", b"x-trailer")],
                );
                let stream = body.write().expect("the body's stream");
                write_all(&stream, b"with trailers\n");
                drop(stream);
                let trailers = Fields::new();
                trailers
                    .append("x-trailer", b"yes")
                    .expect("a valid trailer");
                OutgoingBody::finish(body, Some(trailers)).expect("finish the body");
            }
            (Method::Get, p) if p.starts_with("/status/") => {
                match p["/status/".len()..].parse::<u16>() {
                    Ok(code) => status(out, code),
                    Err(_) => text(out, 400, &[], b"bad status\n"),
                }
            }
            _ => text(out, 404, &[], b"not found\n"),
        }
    }
}

/// Sets a response with `status` and `headers` on `out` and returns its body, unwritten.
fn start(out: ResponseOutparam, status: u16, headers: &[(&str, &[u8])]) -> OutgoingBody {
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_vec()))
        .collect();
    let fields = Fields::from_list(&list).expect("valid response headers");
    let response = OutgoingResponse::new(fields);
    response
        .set_status_code(status)
        .expect("a valid status code");
    let body = response.body().expect("the response's body");
    ResponseOutparam::set(out, Ok(response));
    body
}

/// Responds with `status`, `headers` plus `content-type: text/plain`, and `body`.
fn text(out: ResponseOutparam, status: u16, headers: &[(&str, &[u8])], body: &[u8]) {
    let mut all = vec![("content-type", &b"text/plain"[..])];
    all.extend_from_slice(headers);
    let outgoing = start(out, status, &all);
    let stream = outgoing.write().expect("the body's stream");
    write_all(&stream, body);
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("finish the body");
}

/// Responds with `status` and an empty body; a code outside 100..=999 is a 400.
fn status(out: ResponseOutparam, code: u16) {
    let response = OutgoingResponse::new(Fields::new());
    if response.set_status_code(code).is_err() {
        drop(response);
        return text(out, 400, &[], b"bad status\n");
    }
    let body = response.body().expect("the response's body");
    ResponseOutparam::set(out, Ok(response));
    OutgoingBody::finish(body, None).expect("finish the body");
}

/// `POST /echo`: streams the request body back as it arrives.
fn echo(request: &IncomingRequest, out: ResponseOutparam) {
    let content_type = {
        let headers = request.headers();
        headers.get("content-type").into_iter().next()
    };
    let headers: Vec<(&str, &[u8])> = content_type
        .as_deref()
        .map(|v| ("content-type", v))
        .into_iter()
        .collect();
    let incoming = request.consume().expect("the request body");
    let input = incoming.stream().expect("the request body's stream");
    let outgoing = start(out, 200, &headers);
    let output = outgoing.write().expect("the response body's stream");
    while let Some(chunk) = read_chunk(&input, CHUNK) {
        write_all(&output, &chunk);
    }
    drop(output);
    drop(input);
    drop(IncomingBody::finish(incoming));
    OutgoingBody::finish(outgoing, None).expect("finish the body");
}

/// `GET /big`: `n` bytes of the alphabet, repeated, in chunks of at most [`CHUNK`].
fn big(out: ResponseOutparam, n: u64) {
    let body = start(out, 200, &[("content-type", b"application/octet-stream")]);
    let stream = body.write().expect("the body's stream");
    let mut sent: u64 = 0;
    let mut chunk = Vec::with_capacity(CHUNK);
    while sent < n {
        let len = (n - sent).min(CHUNK as u64);
        chunk.clear();
        chunk.extend((sent..sent + len).map(|i| b'a' + (i % 26) as u8));
        write_all(&stream, &chunk);
        sent += len;
    }
    drop(stream);
    OutgoingBody::finish(body, None).expect("finish the body");
}

/// `GET /headers`: every header of `request` as `name: value\n`, sorted.
fn headers_text(request: &IncomingRequest) -> Vec<u8> {
    let mut entries = request.headers().entries();
    for (name, _) in &mut entries {
        name.make_ascii_lowercase();
    }
    entries.sort();
    let mut body = Vec::new();
    for (name, value) in entries {
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(b": ");
        body.extend_from_slice(&value);
        body.push(b'\n');
    }
    body
}

/// The method's name as sent on the wire.
fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(m) => m.clone(),
    }
}

/// The scheme's name (`http`, `https` or the other one's text).
fn scheme_name(scheme: &Scheme) -> String {
    match scheme {
        Scheme::Http => "http".into(),
        Scheme::Https => "https".into(),
        Scheme::Other(s) => s.clone(),
    }
}

/// The percent-decoded value of `key` in `query` (`a=1&b=2`); `url` takes the rest of the
/// query, so an unencoded URL holding `&` still arrives whole.
fn query_param(query: &str, key: &str) -> Option<String> {
    let mut rest = query;
    loop {
        let (pair, next) = match rest.split_once('&') {
            Some((p, n)) if key != "url" || !p.starts_with("url=") => (p, Some(n)),
            _ => (rest, None),
        };
        if let Some(value) = pair.strip_prefix(key).and_then(|v| v.strip_prefix('=')) {
            return Some(percent_decode(value));
        }
        rest = next?;
    }
}

/// Decodes `%XX` escapes and `+` (a space); a malformed escape is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

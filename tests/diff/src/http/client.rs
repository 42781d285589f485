//! A small blocking HTTP/1.1 client over a raw `TcpStream`, shared by kiln-diff's `--http`
//! mode and kiln-bench's http row (which includes this file with `#[path]`).
//!
//! It writes requests as given (so a test can send odd or malformed ones) and reads one
//! response: the status line, the header fields in wire order, the body decoded from its
//! framing (`content-length`, `chunked` with trailers, or read until the connection closes)
//! and whether the body ended properly or the connection dropped in the middle of it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The largest body or header section the client accepts (a misbehaving server cannot make
/// it allocate without bound).
const MAX_BODY: usize = 64 << 20;
/// The largest response head, in bytes.
const MAX_HEAD: usize = 1 << 20;

/// How a response body was delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body is allowed (1xx, 204, 304, or a response to HEAD).
    None,
    /// `content-length: N`.
    Length,
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Read until the server closed the connection.
    Close,
}

/// One response as read from the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The header fields in wire order, names lowercased.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, decoded from its framing.
    pub body: Vec<u8>,
    /// The trailer fields of a chunked body, names lowercased.
    pub trailers: Vec<(String, Vec<u8>)>,
    /// How the body was delimited.
    pub framing: Framing,
    /// Whether the body ended as its framing says (false: the connection dropped first).
    pub complete: bool,
}

impl Response {
    /// The first value of header `name` (lowercase), as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// Whether the server said it closes the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || self.framing == Framing::Close
            || !self.complete
    }
}

/// One keep-alive client connection.
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    /// Connects to `addr` with a read/write timeout.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::with_capacity(64 * 1024, stream),
        })
    }

    /// Writes raw bytes (a request head, a body, or anything else).
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.reader.get_mut().write_all(bytes)
    }

    /// Sends `head` and then `body` from another thread while the response is read here (so a
    /// server streaming the response back while it still reads the request cannot deadlock
    /// against this client), and reads the response.
    pub fn exchange(
        &mut self,
        head: &[u8],
        body: Vec<u8>,
        head_request: bool,
    ) -> Result<Response, String> {
        if !head.is_empty() {
            self.send(head)
                .map_err(|e| format!("writing the request head: {e}"))?;
        }
        if body.is_empty() {
            return self.read_response(head_request);
        }
        let mut writer = self
            .reader
            .get_ref()
            .try_clone()
            .map_err(|e| format!("cloning the socket: {e}"))?;
        let sender = std::thread::spawn(move || writer.write_all(&body));
        let response = self.read_response(head_request);
        let sent = sender
            .join()
            .map_err(|_| "the body writer panicked".to_string())?;
        match (response, sent) {
            (Ok(r), _) => Ok(r),
            (Err(e), Err(w)) => Err(format!("{e} (writing the body: {w})")),
            (Err(e), Ok(())) => Err(e),
        }
    }

    /// Reads one response (`head_request`: it answers a HEAD request, so it has no body).
    pub fn read_response(&mut self, head_request: bool) -> Result<Response, String> {
        let (status, headers) = loop {
            let status_line = self
                .line()
                .map_err(|e| format!("reading the status line: {e}"))?;
            let status = parse_status(&status_line)?;
            let headers = self.fields()?;
            // Interim responses (100 Continue, ...) precede the final one.
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            break (status, headers);
        };
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
            trailers: Vec::new(),
            framing: Framing::None,
            complete: true,
        };
        if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
            return Ok(response);
        }
        let chunked = response
            .headers
            .iter()
            .filter(|(n, _)| n == "transfer-encoding")
            .any(|(_, v)| {
                String::from_utf8_lossy(v)
                    .to_ascii_lowercase()
                    .contains("chunked")
            });
        if chunked {
            response.framing = Framing::Chunked;
            self.chunked(&mut response);
        } else if let Some(len) = response.header("content-length") {
            response.framing = Framing::Length;
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| format!("bad content-length `{len}`"))?;
            if len > MAX_BODY {
                return Err(format!("content-length {len} is over the client's limit"));
            }
            let mut body = vec![0; len];
            let mut got = 0;
            while got < len {
                match self.reader.read(&mut body[got..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            body.truncate(got);
            response.complete = got == len;
            response.body = body;
        } else {
            response.framing = Framing::Close;
            let mut body = Vec::new();
            let read = (&mut self.reader)
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut body);
            response.complete = read.is_ok() && body.len() <= MAX_BODY;
            response.body = body;
        }
        Ok(response)
    }

    /// Reads a chunked body (and its trailers) into `response`; a connection that drops or a
    /// malformed chunk leaves `complete` false.
    fn chunked(&mut self, response: &mut Response) {
        loop {
            let Ok(size_line) = self.line() else {
                response.complete = false;
                return;
            };
            let size_text = size_line.split(';').next().unwrap_or("").trim();
            let Ok(size) = usize::from_str_radix(size_text, 16) else {
                response.complete = false;
                return;
            };
            if size == 0 {
                match self.fields() {
                    Ok(t) => response.trailers = t,
                    Err(_) => response.complete = false,
                }
                return;
            }
            if response.body.len() + size > MAX_BODY {
                response.complete = false;
                return;
            }
            let start = response.body.len();
            response.body.resize(start + size, 0);
            if self.reader.read_exact(&mut response.body[start..]).is_err() {
                response.body.truncate(start);
                response.complete = false;
                return;
            }
            let mut crlf = [0; 2];
            if self.reader.read_exact(&mut crlf).is_err() || &crlf != b"\r\n" {
                response.complete = false;
                return;
            }
        }
    }

    /// Reads header (or trailer) fields up to the empty line.
    fn fields(&mut self) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut out = Vec::new();
        let mut total = 0;
        loop {
            let line = self
                .raw_line()
                .map_err(|e| format!("reading a header: {e}"))?;
            total += line.len();
            if total > MAX_HEAD {
                return Err("the response head is over the client's limit".into());
            }
            let line = trim_crlf(&line);
            if line.is_empty() {
                return Ok(out);
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(format!(
                    "a header line without `:`: {:?}",
                    String::from_utf8_lossy(line)
                ));
            };
            let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
            let value = trim_ows(&line[colon + 1..]).to_vec();
            out.push((name, value));
        }
    }

    /// One line as text, without its line ending.
    fn line(&mut self) -> Result<String, String> {
        let line = self.raw_line()?;
        Ok(String::from_utf8_lossy(trim_crlf(&line)).into_owned())
    }

    /// One line with its line ending (an error at end of stream).
    fn raw_line(&mut self) -> Result<Vec<u8>, String> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_HEAD as u64)
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        if !line.ends_with(b"\n") {
            return Err("a line without its end".into());
        }
        Ok(line)
    }
}

fn parse_status(line: &str) -> Result<u16, String> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x status line: {line:?}"));
    }
    parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {line:?}"))
}

fn trim_crlf(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// A GET request head for `target` on `host` (keep-alive).
pub fn get(target: &str, host: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nhost: {host}\r\n\r\n").into_bytes()
}

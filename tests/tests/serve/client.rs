//! A minimal HTTP/1.1 client over a raw `TcpStream` for the `kiln serve` tests: requests are
//! written byte for byte as given (so tests can send malformed or slow ones), responses are
//! parsed with their framing (content-length, chunked with trailers, or until close), and a
//! body the server cut short is reported as incomplete rather than hidden.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A parsed response.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Header fields, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body (as much as arrived).
    pub body: Vec<u8>,
    /// Trailer fields (chunked bodies), names lowercase.
    pub trailers: Vec<(String, String)>,
    /// Whether the body ended as its framing says (false: the connection closed early).
    pub complete: bool,
}

impl Reply {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive connection.
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    /// Connects to 127.0.0.1:`port`; reads time out after `timeout`.
    pub fn open(port: u16, timeout: Duration) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to kiln serve");
        stream.set_read_timeout(Some(timeout)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            reader: BufReader::new(stream),
        }
    }

    /// A second handle on the socket, for writing from another thread.
    pub fn writer(&self) -> TcpStream {
        self.reader.get_ref().try_clone().expect("clone the socket")
    }

    /// Writes `bytes` as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        self.reader
            .get_mut()
            .write_all(bytes)
            .expect("write the request");
    }

    /// Sends `GET path` (with a Host header) and reads the reply.
    pub fn get(&mut self, path: &str) -> Reply {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test.example\r\n\r\n").as_bytes());
        self.read_reply().expect("a reply")
    }

    /// Reads one response; `Err` if the connection closed (or failed) before a status line.
    pub fn read_reply(&mut self) -> std::io::Result<Reply> {
        let status_line = self.line()?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
        let headers = self.fields()?;
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let mut reply = Reply {
            status,
            headers: headers.clone(),
            body: Vec::new(),
            trailers: Vec::new(),
            complete: false,
        };
        if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            reply.complete = self.chunked(&mut reply).unwrap_or(false);
        } else if let Some(len) = find("content-length").and_then(|v| v.parse::<u64>().ok()) {
            let got = (&mut self.reader)
                .take(len)
                .read_to_end(&mut reply.body)
                .unwrap_or(0);
            reply.complete = got as u64 == len;
        } else {
            reply.complete = self.reader.read_to_end(&mut reply.body).is_ok();
        }
        Ok(reply)
    }

    /// Reads a chunked body into `reply`; `Ok(true)` when it ended with the last chunk.
    fn chunked(&mut self, reply: &mut Reply) -> std::io::Result<bool> {
        loop {
            let line = self.line()?;
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                reply.trailers = self.fields()?;
                return Ok(true);
            }
            let mut chunk = vec![0; size];
            self.reader.read_exact(&mut chunk)?;
            reply.body.extend_from_slice(&chunk);
            let mut crlf = [0; 2];
            self.reader.read_exact(&mut crlf)?;
        }
    }

    /// Header or trailer lines up to the empty line.
    fn fields(&mut self) -> std::io::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                return Ok(out);
            }
            if let Some((n, v)) = line.split_once(':') {
                out.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }

    /// One line without its CRLF; `UnexpectedEof` at the end of the stream.
    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }

    /// Whether the server closed the connection (a read sees the end, or a reset) within the
    /// read timeout.
    pub fn closed_by_server(&mut self) -> bool {
        let mut buf = [0; 512];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }
}

/// `GET path` on a new connection.
pub fn get(port: u16, path: &str) -> Reply {
    Conn::open(port, Duration::from_secs(60)).get(path)
}

/// `POST path` of `body` (with a content-length, written from another thread while the reply
/// is read, as a streaming echo needs) on a new connection.
pub fn post(port: u16, path: &str, body: &[u8]) -> Reply {
    let mut conn = Conn::open(port, Duration::from_secs(60));
    let mut w = conn.writer();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: test.example\r\ncontent-type: application/octet-stream\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    let body = body.to_vec();
    let sender = std::thread::spawn(move || {
        w.write_all(head.as_bytes())?;
        for piece in body.chunks(100_000) {
            w.write_all(piece)?;
        }
        Ok::<_, std::io::Error>(())
    });
    let reply = conn.read_reply().expect("a reply");
    sender.join().unwrap().expect("send the body");
    reply
}

/// The bytes `GET /big?bytes=N` answers with.
pub fn big_body(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

//! The upstream server the guests' `/fetch` route calls: a tiny HTTP/1.1 server on a loopback
//! port, one thread, one request per connection (`connection: close`), stopped when dropped.
//! `GET /upstream` answers 200 with [`BODY`]; `GET /status/NNN` answers NNN with
//! `status NNN`; anything else 404.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The body of `GET /upstream` (over 64 bytes, so the guest's reply shows a prefix).
pub const BODY: &str =
    "upstream says hello; this body is longer than sixty-four bytes so only a prefix shows\n";

/// A running upstream server.
pub struct Upstream {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the upstream server on a free loopback port.
pub fn start() -> std::io::Result<Upstream> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        for stream in listener.incoming() {
            if flag.load(Ordering::SeqCst) {
                break;
            }
            if let Ok(s) = stream {
                let _ = serve(s);
            }
        }
    });
    Ok(Upstream {
        addr,
        stop,
        thread: Some(thread),
    })
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the header fields (GET requests carry no body).
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let target = request_line.split(' ').nth(1).unwrap_or("");
    let (status, body) = if target == "/upstream" {
        (200, BODY.to_string())
    } else if let Some(code) = target
        .strip_prefix("/status/")
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (200..600).contains(c))
    {
        (code, format!("status {code}\n"))
    } else {
        (404, "no such upstream path\n".to_string())
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

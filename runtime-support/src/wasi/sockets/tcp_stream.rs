//! The `input-stream` and `output-stream` of a connected `tcp-socket` (from `finish-connect`
//! or `accept`), implementing the host's stream traits over the non-blocking socket:
//! reads are `recv`, writes are `send` with `MSG_NOSIGNAL` (a closed peer is the stream's
//! `closed`, never `SIGPIPE`); bytes the socket does not take at once wait in a bounded
//! buffer until `flush`, the next `check-write` or the stream's drop sends them. Readiness is
//! the descriptor's readability or writability. Dropping the input stream shuts the read
//! side, dropping the output stream (after its buffered bytes are sent) the write side, as
//! wasmtime does.

use super::sys;
use crate::wasi::{InputStream, IoError, OutputStream, Readiness, StreamError};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most bytes one `read` returns (the guest's length is capped to this).
pub const MAX_READ: usize = 64 * 1024;
/// Most bytes `check-write` permits at once.
pub const WRITE_PERMIT: u64 = 64 * 1024;
/// Most bytes buffered for sending (a guest writing past its permits gets an error).
const MAX_PENDING: usize = 1 << 20;
/// How long closing the output side waits for buffered bytes to be taken by the socket.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Output state shared between a connection's output stream and its socket (`shutdown`).
#[derive(Default)]
pub struct OutState {
    /// Bytes written by the guest and not yet taken by the socket.
    pending: Vec<u8>,
    /// The stream is closed (peer gone, `shutdown(send)`, or an earlier failure).
    closed: bool,
}

/// A connection: the socket descriptor and the state its streams and socket share.
pub struct Conn {
    /// The connected socket.
    pub fd: Arc<OwnedFd>,
    /// `shutdown(receive)` was called: reads see the end of the stream.
    pub read_shut: AtomicBool,
    /// The output side.
    pub out: Mutex<OutState>,
}

impl Conn {
    /// A connection over `fd`.
    pub fn new(fd: Arc<OwnedFd>) -> Arc<Conn> {
        Arc::new(Conn {
            fd,
            read_shut: AtomicBool::new(false),
            out: Mutex::new(OutState::default()),
        })
    }

    fn out(&self) -> std::sync::MutexGuard<'_, OutState> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends as much of the pending output as the socket takes without blocking.
    fn drain(&self, out: &mut OutState) -> Result<(), StreamError> {
        while !out.pending.is_empty() {
            match sys::send(&self.fd, &out.pending, None) {
                Ok(n) => {
                    out.pending.drain(..n);
                }
                Err(libc::EAGAIN) => return Ok(()),
                Err(e) => {
                    out.closed = true;
                    out.pending.clear();
                    return Err(stream_err(e));
                }
            }
        }
        Ok(())
    }

    /// Blocks until the pending output is sent (or the connection failed).
    pub fn blocking_drain(&self) -> Result<(), StreamError> {
        self.drain_until(None)
    }

    /// Blocks until the pending output is sent, the connection failed, or `deadline`.
    fn drain_until(&self, deadline: Option<Instant>) -> Result<(), StreamError> {
        let mut out = self.out();
        loop {
            self.drain(&mut out)?;
            if out.pending.is_empty() {
                return Ok(());
            }
            let timeout = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(());
                    }
                    left.as_millis().clamp(1, i32::MAX as u128) as i32
                }
            };
            if let Err(e) = sys::poll(&self.fd, libc::POLLOUT, timeout) {
                return Err(stream_err(e));
            }
        }
    }

    /// Closes the output side: sends what is pending (waiting at most [`CLOSE_WAIT`] for a
    /// peer that does not read), then shuts the socket's write side.
    pub fn shutdown_send(&self) {
        let _ = self.drain_until(Some(Instant::now() + CLOSE_WAIT));
        self.out().closed = true;
        let _ = sys::shutdown(&self.fd, libc::SHUT_WR);
    }

    /// Closes the input side.
    pub fn shutdown_receive(&self) {
        self.read_shut.store(true, Ordering::Relaxed);
        let _ = sys::shutdown(&self.fd, libc::SHUT_RD);
    }
}

/// The stream error for OS error `e`: `closed` when the peer is gone, else a failure.
fn stream_err(e: i32) -> StreamError {
    if e == libc::EPIPE {
        StreamError::Closed
    } else {
        StreamError::Failed(IoError::from(std::io::Error::from_raw_os_error(e)))
    }
}

/// The input stream of a connection.
pub struct TcpInput {
    conn: Arc<Conn>,
    closed: bool,
}

impl TcpInput {
    /// The input stream of `conn`.
    pub fn new(conn: Arc<Conn>) -> TcpInput {
        TcpInput {
            conn,
            closed: false,
        }
    }
}

impl InputStream for TcpInput {
    fn read(&mut self, len: usize) -> Result<Vec<u8>, StreamError> {
        if self.closed || self.conn.read_shut.load(Ordering::Relaxed) {
            self.closed = true;
            return Err(StreamError::Closed);
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; len.min(MAX_READ)];
        match sys::recv(&self.conn.fd, &mut buf) {
            Ok((0, _)) => {
                self.closed = true;
                Err(StreamError::Closed)
            }
            Ok((n, _)) => {
                buf.truncate(n);
                Ok(buf)
            }
            Err(libc::EAGAIN) => Ok(Vec::new()),
            Err(e) => {
                self.closed = true;
                Err(StreamError::Failed(IoError::from(
                    std::io::Error::from_raw_os_error(e),
                )))
            }
        }
    }

    fn blocking_read(&mut self, len: usize) -> Result<Vec<u8>, StreamError> {
        loop {
            let got = self.read(len)?;
            if !got.is_empty() || len == 0 {
                return Ok(got);
            }
            if let Err(e) = sys::poll(&self.conn.fd, libc::POLLIN, -1) {
                return Err(stream_err(e));
            }
        }
    }

    fn readiness(&self) -> Readiness {
        if self.closed || self.conn.read_shut.load(Ordering::Relaxed) {
            Readiness::Always
        } else {
            Readiness::Fd {
                fd: self.conn.fd.clone(),
                write: false,
            }
        }
    }
}

impl Drop for TcpInput {
    fn drop(&mut self) {
        let _ = sys::shutdown(&self.conn.fd, libc::SHUT_RD);
    }
}

/// The output stream of a connection.
pub struct TcpOutput {
    conn: Arc<Conn>,
}

impl TcpOutput {
    /// The output stream of `conn`.
    pub fn new(conn: Arc<Conn>) -> TcpOutput {
        TcpOutput { conn }
    }
}

impl OutputStream for TcpOutput {
    fn check_write(&mut self) -> Result<u64, StreamError> {
        let mut out = self.conn.out();
        if out.closed {
            return Err(StreamError::Closed);
        }
        self.conn.drain(&mut out)?;
        if !out.pending.is_empty() {
            return Ok(0);
        }
        match sys::poll(&self.conn.fd, libc::POLLOUT, 0) {
            Ok(0) => Ok(0),
            Ok(_) => Ok(WRITE_PERMIT),
            Err(e) => Err(stream_err(e)),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        let mut out = self.conn.out();
        if out.closed {
            return Err(StreamError::Closed);
        }
        if out.pending.len() + bytes.len() > MAX_PENDING {
            return Err(StreamError::Failed(IoError {
                message: "write exceeds what check-write permitted".into(),
                errno: None,
                http: None,
            }));
        }
        out.pending.extend_from_slice(bytes);
        self.conn.drain(&mut out)
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        let mut out = self.conn.out();
        if out.closed {
            return Err(StreamError::Closed);
        }
        self.conn.drain(&mut out)
    }

    fn blocking_flush(&mut self) -> Result<(), StreamError> {
        if self.conn.out().closed {
            return Err(StreamError::Closed);
        }
        self.conn.blocking_drain()
    }

    fn readiness(&self) -> Readiness {
        if self.conn.out().closed {
            Readiness::Always
        } else {
            Readiness::Fd {
                fd: self.conn.fd.clone(),
                write: true,
            }
        }
    }
}

impl Drop for TcpOutput {
    fn drop(&mut self) {
        if !self.conn.out().closed {
            self.conn.shutdown_send();
        }
    }
}

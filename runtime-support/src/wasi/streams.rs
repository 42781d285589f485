//! What every WASI stream kind implements (stdio, files, TCP, buffers), and what a pollable
//! waits for. `io.rs` turns these into `wasi:io/streams` and `wasi:io/poll`.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Instant;

/// An I/O failure: the `wasi:io/error#error` resource's content.
#[derive(Clone, Debug)]
pub struct IoError {
    /// Human-readable text (`to-debug-string`).
    pub message: String,
    /// The OS error number, if the failure came from the OS (`filesystem-error-code` and
    /// `network-error-code` map it).
    pub errno: Option<i32>,
    /// The HTTP error behind a body stream's failure (`wasi:http/types#http-error-code`).
    pub http: Option<super::http::ErrorCode>,
}

impl IoError {
    /// From the last OS error.
    pub fn last_os_error() -> IoError {
        IoError::from(std::io::Error::last_os_error())
    }
}

impl From<std::io::Error> for IoError {
    fn from(e: std::io::Error) -> IoError {
        IoError {
            message: e.to_string(),
            errno: e.raw_os_error(),
            http: None,
        }
    }
}

/// `wasi:io/streams#stream-error`.
#[derive(Debug)]
pub enum StreamError {
    /// `last-operation-failed(error)`.
    Failed(IoError),
    /// `closed`.
    Closed,
}

impl From<std::io::Error> for StreamError {
    fn from(e: std::io::Error) -> StreamError {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            StreamError::Closed
        } else {
            StreamError::Failed(e.into())
        }
    }
}

/// What a pollable waits for (taken when it is made; the object it came from must outlive
/// it, as WASI's child-resource rule says).
#[derive(Clone, Debug)]
pub enum Readiness {
    /// Ready at once.
    Always,
    /// A file descriptor readable (`write == false`) or writable.
    Fd {
        /// The descriptor (shared with the object it came from).
        fd: Arc<OwnedFd>,
        /// Wait for writability instead of readability.
        write: bool,
    },
    /// A point in time.
    At(Instant),
    /// Never ready (a pollable for something that cannot happen).
    Never,
}

/// An input stream kind.
pub trait InputStream: Send + 'static {
    /// Reads up to `len` bytes without blocking; an empty result means none are ready now.
    fn read(&mut self, len: usize) -> Result<Vec<u8>, StreamError>;
    /// Reads up to `len` bytes, blocking until at least one is ready or the stream ended.
    fn blocking_read(&mut self, len: usize) -> Result<Vec<u8>, StreamError>;
    /// What a pollable subscribed to this stream waits for.
    fn readiness(&self) -> Readiness;
}

/// An output stream kind.
pub trait OutputStream: Send + 'static {
    /// How many bytes may be written now without blocking (0: wait on the pollable).
    fn check_write(&mut self) -> Result<u64, StreamError>;
    /// Writes `bytes` (at most what `check_write` allowed).
    fn write(&mut self, bytes: &[u8]) -> Result<(), StreamError>;
    /// Starts flushing buffered output.
    fn flush(&mut self) -> Result<(), StreamError>;
    /// Blocks until buffered output is written.
    fn blocking_flush(&mut self) -> Result<(), StreamError> {
        self.flush()
    }
    /// What a pollable subscribed to this stream waits for.
    fn readiness(&self) -> Readiness;
}

/// The table object behind an `input-stream` handle.
pub struct InputObj(pub Box<dyn InputStream>);

/// The table object behind an `output-stream` handle.
pub struct OutputObj(pub Box<dyn OutputStream>);

/// The table object behind a `pollable` handle.
pub struct PollableObj(pub Readiness);

/// The table object behind an `error` handle (`wasi:io/error`).
pub struct ErrorObj(pub IoError);

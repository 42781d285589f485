//! HTTP bodies: a bounded byte pipe between the thread that produces a body and the one that
//! consumes it (the guest on one side; a client connection, a server connection or another
//! guest on the other), with the end of the body (trailers, or the error that cut it short)
//! carried through the same pipe.
//!
//! One [`BodyWriter`] and one [`BodyReader`] share a [`Pipe`]. Each side can wait in three
//! ways: blocking on a condition variable (threads such as the client's), registering a
//! [`Waker`] (async servers: `kiln serve`), or through an `eventfd` a guest's `wasi:io/poll`
//! pollable waits on, made on first use. The buffered bytes never exceed the capacity by more
//! than one write (a guest's `check-write` permit is what is free).
//!
//! A writer dropped without [`BodyWriter::finish`] ends the body with an error, so a reader
//! never mistakes a truncated body (a trapped handler, a dropped connection) for a whole one.

use super::error::ErrorCode;
use super::fields::FieldList;
use crate::wasi::streams::{InputStream, IoError, OutputStream, Readiness, StreamError};
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Default capacity of a body pipe: bytes buffered before the writer must wait.
pub const DEFAULT_CAPACITY: usize = 256 * 1024;

/// How a body ended.
#[derive(Clone, Debug)]
pub enum BodyEnd {
    /// Completely, with these trailers (if any).
    Finished(Option<FieldList>),
    /// Cut short.
    Failed(ErrorCode),
}

/// One piece of a body, as a reader receives it.
#[derive(Debug)]
pub enum Frame {
    /// Body bytes.
    Data(Vec<u8>),
    /// The trailers (the last frame of a body that has them).
    Trailers(FieldList),
}

/// A level-triggered readiness flag a `wasi:io/poll` pollable can wait on (an eventfd that is
/// readable while the flag is set).
struct Signal {
    fd: Arc<OwnedFd>,
    set: bool,
}

impl Signal {
    fn new() -> Option<Signal> {
        // SAFETY: plain syscall; the result is checked before it is wrapped.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return None;
        }
        Some(Signal {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            fd: Arc::new(unsafe { OwnedFd::from_raw_fd(fd) }),
            set: false,
        })
    }

    fn update(&mut self, on: bool) {
        if on == self.set {
            return;
        }
        self.set = on;
        if on {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
            unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        } else {
            let mut v: u64 = 0;
            // SAFETY: reads 8 bytes into a live u64 from our own eventfd (non-blocking).
            unsafe { libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
        }
    }
}

struct State {
    chunks: VecDeque<Vec<u8>>,
    buffered: usize,
    capacity: usize,
    /// Set once the writer finished, failed or was dropped.
    end: Option<BodyEnd>,
    /// Whether the end was handed to the reader already.
    end_taken: bool,
    reader_gone: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
    readable: Option<Signal>,
    writable: Option<Signal>,
}

impl State {
    fn can_read(&self) -> bool {
        !self.chunks.is_empty() || self.end.is_some()
    }

    fn can_write(&self) -> bool {
        self.buffered < self.capacity || self.reader_gone
    }

    /// Brings the wakers and signals up to date after a change.
    fn changed(&mut self) {
        let (r, w) = (self.can_read(), self.can_write());
        if r {
            if let Some(wk) = self.read_waker.take() {
                wk.wake();
            }
        }
        if w {
            if let Some(wk) = self.write_waker.take() {
                wk.wake();
            }
        }
        if let Some(s) = &mut self.readable {
            s.update(r);
        }
        if let Some(s) = &mut self.writable {
            s.update(w);
        }
    }
}

/// The shared state of one body.
pub struct Pipe {
    state: Mutex<State>,
    cond: Condvar,
}

impl Pipe {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A new body pipe buffering up to `capacity` bytes: its writing and reading ends.
pub fn body_channel(capacity: usize) -> (BodyWriter, BodyReader) {
    let pipe = Arc::new(Pipe {
        state: Mutex::new(State {
            chunks: VecDeque::new(),
            buffered: 0,
            capacity: capacity.max(1),
            end: None,
            end_taken: false,
            reader_gone: false,
            read_waker: None,
            write_waker: None,
            readable: None,
            writable: None,
        }),
        cond: Condvar::new(),
    });
    (
        BodyWriter {
            pipe: pipe.clone(),
            done: false,
        },
        BodyReader { pipe },
    )
}

/// An empty, finished body (no trailers).
pub fn empty_body() -> BodyReader {
    let (w, r) = body_channel(1);
    w.finish(None);
    r
}

/// The writing end of a body.
pub struct BodyWriter {
    pipe: Arc<Pipe>,
    done: bool,
}

/// Why a write did not happen: the reader is gone (nobody will read more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderGone;

impl BodyWriter {
    /// How many bytes fit now (0: wait); `Err` once the reader is gone.
    pub fn room(&self) -> Result<usize, ReaderGone> {
        let st = self.pipe.lock();
        if st.reader_gone {
            return Err(ReaderGone);
        }
        Ok(st.capacity.saturating_sub(st.buffered))
    }

    /// Appends `data` (whatever the room; callers respect [`BodyWriter::room`]).
    pub fn push(&self, data: Vec<u8>) -> Result<(), ReaderGone> {
        let mut st = self.pipe.lock();
        if st.reader_gone {
            return Err(ReaderGone);
        }
        if !data.is_empty() {
            st.buffered += data.len();
            st.chunks.push_back(data);
            st.changed();
            self.pipe.cond.notify_all();
        }
        Ok(())
    }

    /// Appends `data`, waiting (blocking the thread) while the pipe is full; gives up when
    /// `deadline` passes (`Ok(false)`).
    pub fn blocking_push(
        &self,
        data: Vec<u8>,
        deadline: Option<Instant>,
    ) -> Result<bool, ReaderGone> {
        let mut st = self.pipe.lock();
        loop {
            if st.reader_gone {
                return Err(ReaderGone);
            }
            if st.buffered < st.capacity {
                break;
            }
            st = match deadline {
                None => self.pipe.cond.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    self.pipe
                        .cond
                        .wait_timeout(st, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        drop(st);
        self.push(data)?;
        Ok(true)
    }

    /// Ready when there is room (or the reader is gone); registers `cx`'s waker otherwise.
    pub fn poll_room(&self, cx: &mut Context<'_>) -> Poll<Result<usize, ReaderGone>> {
        let mut st = self.pipe.lock();
        if st.reader_gone {
            return Poll::Ready(Err(ReaderGone));
        }
        if st.buffered < st.capacity {
            return Poll::Ready(Ok(st.capacity - st.buffered));
        }
        st.write_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Ends the body completely, with `trailers`.
    pub fn finish(mut self, trailers: Option<FieldList>) {
        self.end(BodyEnd::Finished(trailers));
    }

    /// Ends the body with an error.
    pub fn fail(mut self, e: ErrorCode) {
        self.end(BodyEnd::Failed(e));
    }

    fn end(&mut self, end: BodyEnd) {
        if self.done {
            return;
        }
        self.done = true;
        let mut st = self.pipe.lock();
        st.end = Some(end);
        st.changed();
        self.pipe.cond.notify_all();
    }

    /// Whether the reader is gone.
    pub fn reader_gone(&self) -> bool {
        self.pipe.lock().reader_gone
    }

    /// The eventfd that is readable while the pipe has room (made on first use).
    fn writable_fd(&self) -> Option<Arc<OwnedFd>> {
        let mut st = self.pipe.lock();
        if st.writable.is_none() {
            st.writable = Signal::new();
            let w = st.can_write();
            if let Some(s) = &mut st.writable {
                s.update(w);
            }
        }
        st.writable.as_ref().map(|s| s.fd.clone())
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        self.end(BodyEnd::Failed(ErrorCode::HttpResponseIncomplete));
    }
}

/// The reading end of a body.
pub struct BodyReader {
    pipe: Arc<Pipe>,
}

impl BodyReader {
    /// Takes up to `max` buffered bytes without waiting: `Some(bytes)` (possibly empty: none
    /// yet), or `None` at the end of the data (see [`BodyReader::take_end`]).
    pub fn try_read(&self, max: usize) -> Option<Vec<u8>> {
        let mut st = self.pipe.lock();
        Self::take(&mut st, max, &self.pipe.cond)
    }

    fn take(st: &mut State, max: usize, cond: &Condvar) -> Option<Vec<u8>> {
        let Some(mut chunk) = st.chunks.pop_front() else {
            return if st.end.is_some() {
                None
            } else {
                Some(Vec::new())
            };
        };
        if chunk.len() > max {
            let rest = chunk.split_off(max);
            st.chunks.push_front(rest);
        }
        st.buffered -= chunk.len();
        st.changed();
        cond.notify_all();
        Some(chunk)
    }

    /// Takes up to `max` bytes, waiting (blocking the thread) until some are there or the
    /// data ended (`None`); gives up with `Some(empty)` when `deadline` passes.
    pub fn blocking_read(&self, max: usize, deadline: Option<Instant>) -> Option<Vec<u8>> {
        let mut st = self.pipe.lock();
        loop {
            if st.can_read() {
                return Self::take(&mut st, max, &self.pipe.cond);
            }
            st = match deadline {
                None => self.pipe.cond.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Some(Vec::new());
                    }
                    self.pipe
                        .cond
                        .wait_timeout(st, left.min(Duration::from_secs(3600)))
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// How the body ended, once all its data was read (`None` before; taken once: later
    /// calls see `Finished(None)`).
    pub fn take_end(&self) -> Option<BodyEnd> {
        let mut st = self.pipe.lock();
        if !st.chunks.is_empty() {
            return None;
        }
        let end = st.end.clone()?;
        if st.end_taken {
            return Some(match end {
                BodyEnd::Finished(_) => BodyEnd::Finished(None),
                failed => failed,
            });
        }
        st.end_taken = true;
        Some(end)
    }

    /// The next frame for an async consumer: data, then the trailers if any, then `None`;
    /// an error if the body was cut short.
    pub fn poll_frame(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame, ErrorCode>>> {
        let mut st = self.pipe.lock();
        if let Some(data) = Self::take(&mut st, usize::MAX, &self.pipe.cond) {
            if data.is_empty() {
                st.read_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            return Poll::Ready(Some(Ok(Frame::Data(data))));
        }
        if st.end_taken {
            return Poll::Ready(None);
        }
        st.end_taken = true;
        match st.end.clone() {
            Some(BodyEnd::Finished(Some(t))) => Poll::Ready(Some(Ok(Frame::Trailers(t)))),
            Some(BodyEnd::Failed(e)) => Poll::Ready(Some(Err(e))),
            _ => Poll::Ready(None),
        }
    }

    /// Whether the whole body is already buffered (its length known): `Some(len)`.
    pub fn complete_len(&self) -> Option<usize> {
        let st = self.pipe.lock();
        matches!(st.end, Some(BodyEnd::Finished(None))).then_some(st.buffered)
    }

    /// The eventfd that is readable while data or the end is there (made on first use).
    fn readable_fd(&self) -> Option<Arc<OwnedFd>> {
        let mut st = self.pipe.lock();
        if st.readable.is_none() {
            st.readable = Signal::new();
            let r = st.can_read();
            if let Some(s) = &mut st.readable {
                s.update(r);
            }
        }
        st.readable.as_ref().map(|s| s.fd.clone())
    }
}

impl Drop for BodyReader {
    fn drop(&mut self) {
        let mut st = self.pipe.lock();
        st.reader_gone = true;
        st.chunks.clear();
        st.buffered = 0;
        st.changed();
        self.pipe.cond.notify_all();
    }
}

/// A blocking `Read` of the body's data (an error if it was cut short); for client threads.
impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.blocking_read(buf.len(), None) {
            Some(data) => {
                buf[..data.len()].copy_from_slice(&data);
                Ok(data.len())
            }
            None => match self.take_end() {
                Some(BodyEnd::Failed(e)) => Err(std::io::Error::other(e.to_string())),
                _ => Ok(0),
            },
        }
    }
}

/// The guest's `input-stream` over a body: it reads the data; the end of the data is
/// `closed` (a body cut short is a failure whose `http-error-code` is the cause). The end
/// itself (trailers) stays in the pipe for `incoming-body.finish`.
pub struct BodyInput {
    /// The body (shared with the `incoming-body` resource, which reads the trailers).
    pub reader: Arc<BodyReader>,
}

impl BodyInput {
    fn ended(&self) -> StreamError {
        let st = self.reader.pipe.lock();
        match &st.end {
            Some(BodyEnd::Failed(e)) => StreamError::Failed(IoError {
                message: e.to_string(),
                errno: None,
                http: Some(e.clone()),
            }),
            _ => StreamError::Closed,
        }
    }
}

impl InputStream for BodyInput {
    fn read(&mut self, len: usize) -> Result<Vec<u8>, StreamError> {
        match self.reader.try_read(len) {
            Some(d) => Ok(d),
            None => Err(self.ended()),
        }
    }

    fn blocking_read(&mut self, len: usize) -> Result<Vec<u8>, StreamError> {
        if len == 0 {
            return self.read(0);
        }
        loop {
            // Wake up now and then so a store deadline can interrupt the wait.
            let slice = Instant::now() + Duration::from_millis(20);
            match self.reader.blocking_read(len, Some(slice)) {
                Some(d) if d.is_empty() => crate::store::check_deadline().map_err(|t| {
                    StreamError::Failed(IoError {
                        message: t.to_string(),
                        errno: None,
                        http: None,
                    })
                })?,
                Some(d) => return Ok(d),
                None => return Err(self.ended()),
            }
        }
    }

    fn readiness(&self) -> Readiness {
        reader_readiness(&self.reader)
    }
}

/// What a pollable on `reader` waits for: data or the end of the body.
pub fn reader_readiness(reader: &BodyReader) -> Readiness {
    match reader.readable_fd() {
        Some(fd) => Readiness::Fd { fd, write: false },
        None => Readiness::Always,
    }
}

/// Largest single write a guest is permitted (its `check-write`), whatever the room.
const MAX_PERMIT: usize = 1 << 20;

/// The guest's `output-stream` over a body it writes. Writes beyond `limit` bytes (a declared
/// `content-length`) fail.
pub struct BodyOutput {
    /// The body (shared with the `outgoing-body` resource, which finishes it).
    pub writer: Arc<Mutex<Option<BodyWriter>>>,
    /// Bytes written so far (shared with `outgoing-body`, which checks the total).
    pub written: Arc<std::sync::atomic::AtomicU64>,
    /// The declared length, if any.
    pub limit: Option<u64>,
    /// Whether this is a response body (a length error is `HTTP-response-body-size`).
    pub response: bool,
}

/// The error for a body of `written` bytes that does not match its declared length.
pub fn size_error(response: bool, written: u64) -> ErrorCode {
    if response {
        ErrorCode::HttpResponseBodySize(Some(written))
    } else {
        ErrorCode::HttpRequestBodySize(Some(written))
    }
}

impl BodyOutput {
    fn with<R>(
        &self,
        f: impl FnOnce(&BodyWriter) -> Result<R, ReaderGone>,
    ) -> Result<R, StreamError> {
        let g = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        match g.as_ref() {
            Some(w) => f(w).map_err(|_| StreamError::Closed),
            None => Err(StreamError::Closed),
        }
    }
}

impl OutputStream for BodyOutput {
    fn check_write(&mut self) -> Result<u64, StreamError> {
        let room = self.with(|w| w.room())?;
        Ok(room.min(MAX_PERMIT) as u64)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        use std::sync::atomic::Ordering;
        let total = self.written.load(Ordering::Relaxed) + bytes.len() as u64;
        if let Some(limit) = self.limit {
            if total > limit {
                let e = size_error(self.response, total);
                return Err(StreamError::Failed(IoError {
                    message: e.to_string(),
                    errno: None,
                    http: Some(e),
                }));
            }
        }
        self.written.store(total, Ordering::Relaxed);
        self.with(|w| w.push(bytes.to_vec()))
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        self.with(|_| Ok(()))
    }

    fn blocking_flush(&mut self) -> Result<(), StreamError> {
        self.flush()
    }

    fn readiness(&self) -> Readiness {
        let g = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        match g.as_ref().and_then(|w| w.writable_fd()) {
            Some(fd) => Readiness::Fd { fd, write: false },
            None => Readiness::Always,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_then_trailers_then_end() {
        let (w, r) = body_channel(8);
        w.push(b"hello".to_vec()).unwrap();
        assert_eq!(w.room().unwrap(), 3);
        w.finish(Some(vec![("x".into(), b"y".to_vec())]));
        assert_eq!(r.try_read(3).unwrap(), b"hel");
        assert_eq!(r.try_read(100).unwrap(), b"lo");
        assert!(r.try_read(100).is_none());
        match r.take_end() {
            Some(BodyEnd::Finished(Some(t))) => assert_eq!(t[0].0, "x"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dropped_writer_is_an_error_and_dropped_reader_stops_the_writer() {
        let (w, r) = body_channel(8);
        drop(w);
        assert!(r.try_read(1).is_none());
        assert!(matches!(r.take_end(), Some(BodyEnd::Failed(_))));
        let (w, r) = body_channel(8);
        drop(r);
        assert_eq!(w.push(vec![1]), Err(ReaderGone));
    }

    #[test]
    fn blocking_sides_meet_across_threads() {
        let (w, mut r) = body_channel(4);
        let t = std::thread::spawn(move || {
            for i in 0..100u8 {
                w.blocking_push(vec![i; 3], None).unwrap();
            }
            w.finish(None);
        });
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut all).unwrap();
        t.join().unwrap();
        assert_eq!(all.len(), 300);
        assert_eq!(all[299], 99);
    }
}

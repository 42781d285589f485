//! The helper threads behind WASI 0.3 TCP's streams (`tcp3.rs`). The sockets are
//! non-blocking; each thread waits with `poll` in short slices so it notices when the guest
//! dropped its end of the stream (or, for a listener, the socket) and then stops.
//!
//! - Accept: a guest read of the `listen` stream asks for a connection (`wait_for_demand`);
//!   the thread accepts one, puts the new socket in the instance's table and writes its
//!   representation, which becomes an own `tcp-socket` handle in the reader's table.
//! - Receive: reads up to [`CHUNK`] bytes at a time while fewer than [`READ_AHEAD`] bytes wait
//!   unread; end of input resolves the future `ok`, an error `err`. A guest that drops the
//!   stream stops the thread, which shuts the socket's read side (`shutdown(SHUT_RD)`).
//! - Send: the guest's writes are queued for a sender thread (the sink runs on the event
//!   loop and must not wait for the network); the thread sends them in order, then shuts
//!   the write side when the stream ends. A guest write finds the queue full (at most
//!   [`MAX_QUEUED`] bytes) only when the peer does not read: it then waits on the event
//!   loop until the socket drains (`host_io` gives a host reader no way to delay a write's
//!   completion without that).

use super::network::code_of_errno;
use super::tcp::{accept_on, connect_error, TcpSocket};
use super::{sys, Fail};
use crate::component::{HostCx, HostWriter, Val};
use crate::error::Trap;
use crate::wasi::val::ok;
use crate::wasi::Table;
use std::os::fd::OwnedFd;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long one `poll` waits before the thread looks whether it is still wanted (ms).
const SLICE_MS: i32 = 100;
/// Bytes one read takes from the socket.
const CHUNK: usize = 64 << 10;
/// Unread bytes the receive thread lets wait for the guest before it stops reading.
const READ_AHEAD: usize = 256 << 10;
/// Bytes queued for the sender thread at most before a guest write waits.
pub const MAX_QUEUED: usize = 64 << 20;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits until `fd` has `events`, checking `stop` between slices: `Ok(false)` when stopped.
fn wait_ready(fd: &OwnedFd, events: libc::c_short, stop: &dyn Fn() -> bool) -> Result<bool, i32> {
    loop {
        if stop() {
            return Ok(false);
        }
        if sys::poll(fd, events, SLICE_MS)? != 0 {
            return Ok(true);
        }
    }
}

/// Waits for a non-blocking connect on `fd` to finish: `None` when connected, else the
/// error code.
pub fn await_connect(fd: &OwnedFd) -> Option<&'static str> {
    match wait_ready(fd, libc::POLLOUT, &|| false) {
        Ok(_) => connect_error(fd),
        Err(e) => Some(code_of_errno(e)),
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), Trap> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .map_err(|e| Trap::host(format!("WASI sockets: cannot start a thread: {e}")))
}

/// `ok` or `err(error-code)` for a stream's future.
fn outcome(r: Result<(), &'static str>) -> Val {
    match r {
        Ok(()) => ok(None),
        Err(c) => super::tcp3::err_val(c),
    }
}

/// Starts the accept loop of listener `fd` (of family `v6`): connections go to `out`.
pub fn spawn_accept(
    table: Arc<Mutex<Table>>,
    fd: Arc<OwnedFd>,
    v6: bool,
    out: HostWriter,
) -> Result<(), Trap> {
    spawn("kiln-wasi-accept", move || {
        // The guest dropped the stream, or the listener (then only this thread holds it).
        let stop = || out.reader_gone() || Arc::strong_count(&fd) == 1;
        while out.wait_for_demand() {
            match wait_ready(&fd, libc::POLLIN, &stop) {
                Ok(true) => {}
                Ok(false) | Err(_) => break,
            }
            let sock = match accept_on(&fd, v6) {
                Ok((sock, _)) => sock,
                // Another accept took it, or the connection died before it was accepted:
                // wait for the next one (the guest's read still waits).
                Err(Fail::Code("would-block" | "connection-aborted")) => {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                Err(_) => break,
            };
            let Ok(rep) = lock(&table).push(sock) else {
                break;
            };
            if !out.write(rep.to_le_bytes().to_vec()) {
                // Never read: nobody will drop it.
                let _ = lock(&table).remove::<TcpSocket>(rep, "tcp-socket");
                break;
            }
        }
        // Dropping `out` ends the stream.
    })
}

/// Starts the reader of connection `fd`: its bytes go to `data`; `done` gets the outcome.
pub fn spawn_receive(fd: Arc<OwnedFd>, data: HostWriter, mut done: HostWriter) -> Result<(), Trap> {
    spawn("kiln-wasi-tcp-receive", move || {
        let gone = || data.reader_gone();
        let r = loop {
            if !data.wait_for_room(READ_AHEAD) {
                break Ok(());
            }
            match wait_ready(&fd, libc::POLLIN, &gone) {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(e) => break Err(code_of_errno(e)),
            }
            let mut buf = vec![0u8; CHUNK];
            match sys::recv(&fd, &mut buf) {
                Ok((0, _)) => break Ok(()),
                Ok((n, _)) => {
                    buf.truncate(n);
                    if !data.write(buf) {
                        break Ok(());
                    }
                }
                Err(libc::EAGAIN) => continue,
                Err(e) => break Err(code_of_errno(e)),
            }
        };
        if data.reader_gone() {
            // The guest lost interest: what the peer still sends is discarded.
            let _ = sys::shutdown(&fd, libc::SHUT_RD);
        }
        drop(data);
        let _ = done.write_val(&outcome(r));
    })
}

/// What the sink (on the event loop) and the sender thread share.
#[derive(Default)]
struct SendQueue {
    /// Bytes queued and not yet sent.
    queued: Mutex<usize>,
    cv: Condvar,
    /// Sending failed: the sink refuses further writes.
    failed: std::sync::atomic::AtomicBool,
}

impl SendQueue {
    fn sent(&self, n: usize) {
        let mut q = lock(&self.queued);
        *q = q.saturating_sub(n);
        self.cv.notify_all();
    }

    fn fail(&self) {
        self.failed
            .store(true, std::sync::atomic::Ordering::Release);
        let _q = lock(&self.queued);
        self.cv.notify_all();
    }

    fn has_failed(&self) -> bool {
        self.failed.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// The `error-code` for a failed send (`EPIPE`: the connection is broken).
fn send_code(errno: i32) -> &'static str {
    match errno {
        libc::EPIPE => "connection-broken",
        e => code_of_errno(e),
    }
}

/// Sends all of `buf` on `fd`, waiting for room as needed.
fn send_all(fd: &OwnedFd, mut buf: &[u8]) -> Result<(), &'static str> {
    while !buf.is_empty() {
        match sys::send(fd, buf, None) {
            Ok(n) => buf = &buf[n..],
            Err(libc::EAGAIN) => {
                wait_ready(fd, libc::POLLOUT, &|| false).map_err(send_code)?;
            }
            Err(e) => return Err(send_code(e)),
        }
    }
    Ok(())
}

/// Makes the host the reader of stream `data` (a `send` argument): its bytes go to
/// connection `fd`; `done` gets the outcome once the stream ended and all was sent.
pub fn start_send(
    cx: &HostCx<'_>,
    fd: Arc<OwnedFd>,
    data: &Val,
    mut done: HostWriter,
) -> Result<(), Trap> {
    let (tx, rx) = channel::<Vec<u8>>();
    let queue = Arc::new(SendQueue::default());
    let q = queue.clone();
    spawn("kiln-wasi-tcp-send", move || {
        let mut r = Ok(());
        for chunk in rx {
            let n = chunk.len();
            if let Err(c) = send_all(&fd, &chunk) {
                r = Err(c);
                q.fail();
                break;
            }
            q.sent(n);
        }
        if r.is_ok() {
            let _ = sys::shutdown(&fd, libc::SHUT_WR);
        }
        let _ = done.write_val(&outcome(r));
    })?;
    // The sink's sender; the stream's end drops it, which ends the thread's loop.
    let tx: Arc<Mutex<Option<Sender<Vec<u8>>>>> = Arc::new(Mutex::new(Some(tx)));
    let end = tx.clone();
    cx.stream_to_host(
        data,
        move |bytes| {
            let mut queued = lock(&queue.queued);
            while *queued >= MAX_QUEUED && !queue.has_failed() {
                queued = queue.cv.wait(queued).unwrap_or_else(|e| e.into_inner());
            }
            if queue.has_failed() {
                return false;
            }
            *queued += bytes.len();
            drop(queued);
            lock(&tx)
                .as_ref()
                .is_some_and(|s| s.send(bytes.to_vec()).is_ok())
        },
        move || drop(lock(&end).take()),
    )
}

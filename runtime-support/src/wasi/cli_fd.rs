//! Raw file-descriptor I/O for the WASI stdio streams (`cli.rs`) and `wasi:io/poll`
//! (`io.rs`): reads and writes that retry on `EINTR`, wait on `EAGAIN`, and a write that
//! cannot kill the host with `SIGPIPE` when the reader of a pipe went away.
//!
//! `SIGPIPE`: Rust programs ignore it, but a C host embedding kiln may not, and a write to a
//! pipe whose read end is closed would then kill the whole process. For pipes and sockets,
//! [`write_all`] blocks `SIGPIPE` in the calling thread around the write and, when the write
//! failed with `EPIPE` (so the kernel queued a `SIGPIPE` for this thread), consumes that
//! signal with a zero-timeout `sigtimedwait` before restoring the mask. A `SIGPIPE` already
//! pending before the write is left alone.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// `true` when `fd` is a FIFO or a socket (the descriptors a write can raise `SIGPIPE` on).
pub(crate) fn is_pipe_like(fd: RawFd) -> bool {
    // SAFETY: `st` is a plain-data out parameter; fstat only writes it.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return false;
        }
        let fmt = st.st_mode & libc::S_IFMT;
        fmt == libc::S_IFIFO || fmt == libc::S_IFSOCK
    }
}

/// `true` when `fd` is open.
pub(crate) fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries the descriptor flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// `true` when `fd` is a terminal.
pub(crate) fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only queries the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Waits until `fd` is ready for `events` (`POLLIN`/`POLLOUT`) or `timeout` passed (`None`:
/// no limit). Returns whether it is ready (errors and hang-ups count as ready: the next
/// operation reports them).
pub(crate) fn wait_fd(fd: RawFd, events: i16, timeout: Option<Duration>) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    loop {
        let tsp = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: one valid pollfd; `tsp` is null or points at a live timespec.
        let r = unsafe { libc::ppoll(&mut p, 1, tsp, std::ptr::null()) };
        if r >= 0 {
            return Ok(r > 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// One `read` of at most `len` bytes: `Ok(None)` when it would block (non-blocking fd),
/// `Ok(Some(empty))` at the end of the stream.
pub(crate) fn read_once(fd: RawFd, len: usize) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; len];
    loop {
        // SAFETY: `buf` has `len` writable bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), len) };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// Writes all of `buf` to `fd`, waiting when the descriptor is non-blocking and full.
/// With `guard_sigpipe`, a closed reader gives `EPIPE` without delivering `SIGPIPE`.
pub(crate) fn write_all(fd: RawFd, buf: &[u8], guard_sigpipe: bool) -> io::Result<()> {
    if guard_sigpipe {
        with_sigpipe_blocked(|| write_all_raw(fd, buf))
    } else {
        write_all_raw(fd, buf)
    }
}

fn write_all_raw(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is a live slice of `buf.len()` readable bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n >= 0 {
            buf = &buf[n as usize..];
            continue;
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => {
                wait_fd(fd, libc::POLLOUT, None)?;
            }
            _ => return Err(e),
        }
    }
    Ok(())
}

/// Runs `f` (a write) with `SIGPIPE` blocked in this thread; if it failed with `EPIPE`, the
/// `SIGPIPE` it raised is consumed before the old mask comes back.
fn with_sigpipe_blocked(f: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    // SAFETY: the sigset_t values are local plain data initialised by sigemptyset; the
    // signal-mask calls only affect this thread, and the old mask is restored below.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut old);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) != 0 {
            return f();
        }
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pending);
        let was_pending =
            libc::sigpending(&mut pending) == 0 && libc::sigismember(&pending, libc::SIGPIPE) == 1;
        let r = f();
        let epipe = matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EPIPE));
        if epipe && !was_pending {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            while libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == -1
                && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
            {}
        }
        if libc::sigismember(&old, libc::SIGPIPE) == 0 {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn epipe_without_sigpipe_even_when_sigpipe_is_fatal() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both descriptors were just made and are owned here.
        let (r, w) = unsafe {
            use std::os::fd::FromRawFd;
            (
                std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                std::os::fd::OwnedFd::from_raw_fd(fds[1]),
            )
        };
        drop(r);
        // SAFETY: restores the default (fatal) action for the duration of this test; the
        // old action is put back below.
        let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let res = write_all(w.as_raw_fd(), b"hello", true);
        // SAFETY: puts back the action saved above.
        unsafe { libc::signal(libc::SIGPIPE, old) };
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EPIPE));
    }
}

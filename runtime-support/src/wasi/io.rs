//! `wasi:io/{error,poll,streams}` over the stream traits of `streams.rs`: every stream kind
//! (stdio, files, sockets) gets the same WIT semantics here.
//!
//! - `check-write`/`write`: a write longer than the permit `check-write` gives traps (the
//!   WIT's precondition); `write-zeroes` likewise.
//! - `blocking-write-and-flush` and `blocking-write-zeroes-and-flush` take at most 4096 bytes
//!   (more traps), wait for permits, write, then flush (a stream that closed during the flush
//!   is not an error, as in wasmtime).
//! - Reads return at most [`MAX_READ`] bytes per call; `skip` is a read whose bytes are
//!   dropped; `splice` reads what the destination permits and writes it.
//! - `poll` traps on an empty list; it blocks (with `ppoll`) until at least one pollable is
//!   ready and returns the ready indices in ascending order. A poll on pollables that can
//!   never become ready traps instead of hanging forever.
//!
//! Blocking calls wait on the stream's readiness with the table unlocked, then perform the
//! operation with the table locked.

use super::streams::{ErrorObj, InputObj, OutputObj, PollableObj, Readiness, StreamError};
use super::{
    arg, arg_u64, define, define_raw, define_resource, err, new_pollable, ok, rep_of, stream_error,
    string, with_obj, WasiState, INPUT_STREAM, IO_ERROR, OUTPUT_STREAM, POLLABLE,
};
use crate::component::{ComponentLinker, HostArgs, HostCx, HostResult, Val};
use crate::error::Trap;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Most bytes one `read`, `skip` or `splice` moves.
pub const MAX_READ: usize = 1 << 20;

/// Most bytes one `blocking-write-and-flush` / `blocking-write-zeroes-and-flush` takes.
pub const MAX_BLOCKING_WRITE: usize = 4096;

/// Longest single sleep of a blocking wait: between sleeps the store's epoch deadline is
/// checked, so a guest blocked in `poll` (or a blocking read or write) is interrupted within
/// about this long after its deadline passes.
const WAIT_SLICE: Duration = Duration::from_millis(20);

/// Waits until at least one of `readies` is ready (`block`), or just checks them; returns the
/// indices of the ready ones in ascending order. Descriptor errors and hang-ups count as
/// ready. A blocking wait traps with an interrupt once the store's epoch deadline passed.
pub(crate) fn wait(readies: &[Readiness], block: bool) -> Result<Vec<u32>, Trap> {
    loop {
        if block {
            crate::store::check_deadline()?;
        }
        let now = Instant::now();
        let mut ready = Vec::new();
        let mut fds = Vec::new();
        let mut fd_index = Vec::new();
        let mut deadline: Option<Instant> = None;
        for (i, r) in readies.iter().enumerate() {
            match r {
                Readiness::Always => ready.push(i as u32),
                Readiness::At(t) if *t <= now => ready.push(i as u32),
                Readiness::At(t) => deadline = Some(deadline.map_or(*t, |d| d.min(*t))),
                Readiness::Fd { fd, write } => {
                    fds.push(libc::pollfd {
                        fd: fd.as_raw_fd(),
                        events: if *write { libc::POLLOUT } else { libc::POLLIN },
                        revents: 0,
                    });
                    fd_index.push(i as u32);
                }
                Readiness::Never => {}
            }
        }
        let timeout = if !ready.is_empty() || !block {
            Some(Duration::ZERO)
        } else {
            deadline.map(|d| d.saturating_duration_since(now))
        };
        if fds.is_empty() && timeout.is_none() {
            return Err(Trap::host(
                "WASI: poll on pollables that can never become ready",
            ));
        }
        // Sleep in slices, checking the deadline in between (see `WAIT_SLICE`).
        let timeout = Some(timeout.map_or(WAIT_SLICE, |t| t.min(WAIT_SLICE)));
        if !fds.is_empty() || timeout.is_some_and(|t| !t.is_zero()) {
            let ts = timeout.map(|t| libc::timespec {
                tv_sec: t.as_secs().min(i32::MAX as u64) as libc::time_t,
                tv_nsec: t.subsec_nanos() as libc::c_long,
            });
            let tsp = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: `fds` is a live array of `fds.len()` pollfds; `tsp` is null or points
            // at a live timespec.
            let n = unsafe {
                libc::ppoll(
                    fds.as_mut_ptr(),
                    fds.len() as libc::nfds_t,
                    tsp,
                    std::ptr::null(),
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Trap::host(format!("WASI: poll failed: {e}")));
            }
            for (p, i) in fds.iter().zip(&fd_index) {
                if p.revents != 0 {
                    ready.push(*i);
                }
            }
            if deadline.is_some() {
                let later = Instant::now();
                for (i, r) in readies.iter().enumerate() {
                    if matches!(r, Readiness::At(t) if *t <= later && *t > now) {
                        ready.push(i as u32);
                    }
                }
            }
        }
        if !ready.is_empty() || !block {
            ready.sort_unstable();
            ready.dedup();
            return Ok(ready);
        }
    }
}

/// The `result<T, stream-error>` value of `r`.
fn sresult(
    cx: &HostCx<'_>,
    st: &WasiState,
    r: Result<Option<Val>, StreamError>,
) -> Result<Option<Val>, Trap> {
    Ok(Some(match r {
        Ok(v) => ok(v),
        Err(e) => err(stream_error(cx, st, e)?),
    }))
}

fn len_arg(args: &[Val], i: usize) -> Result<usize, Trap> {
    Ok(arg_u64(args, i)?.min(MAX_READ as u64) as usize)
}

/// [`len_arg`] over the host C representation.
fn raw_len(args: &HostArgs<'_>, i: usize) -> Result<usize, Trap> {
    Ok(args.get::<u64>(i)?.min(MAX_READ as u64) as usize)
}

/// Writes a read's `result<list<u8>, stream-error>` (the bytes as one block).
fn bytes_result(
    cx: &HostCx<'_>,
    st: &WasiState,
    r: Result<Vec<u8>, StreamError>,
    out: &mut HostResult<'_>,
) -> Result<(), Trap> {
    match r {
        Ok(b) => out.set_ok_bytes(&b, None),
        Err(e) => out.set(Some(err(stream_error(cx, st, e)?))),
    }
}

fn input<R>(
    cx: &HostCx<'_>,
    st: &WasiState,
    h: &Val,
    f: impl FnOnce(&mut InputObj) -> R,
) -> Result<R, Trap> {
    with_obj::<InputObj, R>(cx, st, INPUT_STREAM, h, f)
}

fn output<R>(
    cx: &HostCx<'_>,
    st: &WasiState,
    h: &Val,
    f: impl FnOnce(&mut OutputObj) -> R,
) -> Result<R, Trap> {
    with_obj::<OutputObj, R>(cx, st, OUTPUT_STREAM, h, f)
}

/// `blocking-read`: a non-blocking read first; when nothing is there, waits on the stream's
/// readiness (table unlocked), then reads blocking.
fn blocking_read(
    cx: &HostCx<'_>,
    st: &WasiState,
    h: &Val,
    len: usize,
) -> Result<Result<Vec<u8>, StreamError>, Trap> {
    match input(cx, st, h, |o| o.0.read(len))? {
        Ok(b) if b.is_empty() && len > 0 => {}
        other => return Ok(other),
    }
    let r = input(cx, st, h, |o| o.0.readiness())?;
    wait(&[r], true)?;
    input(cx, st, h, |o| o.0.blocking_read(len))
}

/// Waits until output stream `h` may accept bytes: on its pollable, or (a stream always
/// "ready" that still gives no permit) by flushing it and pausing briefly.
fn wait_writable(cx: &HostCx<'_>, st: &WasiState, h: &Val) -> Result<(), StreamError> {
    let r = match output(cx, st, h, |o| o.0.readiness()) {
        Ok(r) => r,
        Err(t) => return Err(trap_as_failure(t)),
    };
    if matches!(r, Readiness::Always) {
        match output(cx, st, h, |o| o.0.blocking_flush()) {
            Ok(r) => r?,
            Err(t) => return Err(trap_as_failure(t)),
        }
        std::thread::sleep(Duration::from_millis(1));
        return Ok(());
    }
    wait(&[r], true).map_err(trap_as_failure)?;
    Ok(())
}

/// Only used for handle errors already checked by an earlier access in the same call.
fn trap_as_failure(t: Trap) -> StreamError {
    StreamError::Failed(super::IoError {
        message: t.to_string(),
        errno: None,
        http: None,
    })
}

/// Writes all of `data` to `h` as permits allow, then flushes (blocking). `Closed` from the
/// final flush is not an error.
fn blocking_write_all(
    cx: &HostCx<'_>,
    st: &WasiState,
    h: &Val,
    data: &[u8],
) -> Result<Result<(), StreamError>, Trap> {
    let mut rest = data;
    loop {
        let step = output(cx, st, h, |o| -> Result<Option<usize>, StreamError> {
            let n = o.0.check_write()?;
            if n == 0 {
                return Ok(None);
            }
            let k = rest.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            o.0.write(&rest[..k])?;
            Ok(Some(k))
        })?;
        match step {
            Err(e) => return Ok(Err(e)),
            Ok(Some(k)) => rest = &rest[k..],
            Ok(None) => {
                if let Err(e) = wait_writable(cx, st, h) {
                    return Ok(Err(e));
                }
                continue;
            }
        }
        if rest.is_empty() {
            break;
        }
    }
    Ok(match output(cx, st, h, |o| o.0.blocking_flush())? {
        Ok(()) | Err(StreamError::Closed) => Ok(()),
        Err(e) => Err(e),
    })
}

/// `write`: checks the permit (a longer write traps), then writes.
fn checked_write(
    cx: &HostCx<'_>,
    st: &WasiState,
    h: &Val,
    data: &[u8],
) -> Result<Result<(), StreamError>, Trap> {
    output(cx, st, h, |o| -> Result<Result<(), StreamError>, Trap> {
        if !data.is_empty() {
            let n = match o.0.check_write() {
                Ok(n) => n,
                Err(e) => return Ok(Err(e)),
            };
            if data.len() as u64 > n {
                return Err(Trap::host(format!(
                    "WASI: output-stream write of {} bytes exceeds the {n} bytes check-write permits",
                    data.len()
                )));
            }
        }
        Ok(o.0.write(data))
    })?
}

fn define_streams(linker: &mut ComponentLinker) {
    const S: &str = "io/streams";
    define_resource::<InputObj>(linker, S, "input-stream");
    define_resource::<OutputObj>(linker, S, "output-stream");

    define_raw(
        linker,
        S,
        "[method]input-stream.read",
        |cx, st, args, out| {
            let len = raw_len(args, 1)?;
            let r = input(cx, st, &args.val(0)?, |o| o.0.read(len))?;
            bytes_result(cx, st, r, out)
        },
    );
    define_raw(
        linker,
        S,
        "[method]input-stream.blocking-read",
        |cx, st, args, out| {
            let len = raw_len(args, 1)?;
            let r = blocking_read(cx, st, &args.val(0)?, len)?;
            bytes_result(cx, st, r, out)
        },
    );
    define(linker, S, "[method]input-stream.skip", |cx, st, args| {
        let len = len_arg(args, 1)?;
        let r = input(cx, st, arg(args, 0)?, |o| o.0.read(len))?;
        sresult(cx, st, r.map(|b| Some(Val::U64(b.len() as u64))))
    });
    define(
        linker,
        S,
        "[method]input-stream.blocking-skip",
        |cx, st, args| {
            let len = len_arg(args, 1)?;
            let r = blocking_read(cx, st, arg(args, 0)?, len)?;
            sresult(cx, st, r.map(|b| Some(Val::U64(b.len() as u64))))
        },
    );
    define(
        linker,
        S,
        "[method]input-stream.subscribe",
        |cx, st, args| {
            let r = input(cx, st, arg(args, 0)?, |o| o.0.readiness())?;
            new_pollable(cx, st, r).map(Some)
        },
    );

    define(
        linker,
        S,
        "[method]output-stream.check-write",
        |cx, st, args| {
            let r = output(cx, st, arg(args, 0)?, |o| o.0.check_write())?;
            sresult(cx, st, r.map(|n| Some(Val::U64(n))))
        },
    );
    define_raw(
        linker,
        S,
        "[method]output-stream.write",
        |cx, st, args, out| {
            let data = args.bytes(1)?;
            let r = checked_write(cx, st, &args.val(0)?, data)?;
            out.set(sresult(cx, st, r.map(|()| None))?)
        },
    );
    define_raw(
        linker,
        S,
        "[method]output-stream.blocking-write-and-flush",
        |cx, st, args, out| {
            let data = args.bytes(1)?;
            if data.len() > MAX_BLOCKING_WRITE {
                return Err(Trap::host(format!(
                    "WASI: blocking-write-and-flush of {} bytes (at most {MAX_BLOCKING_WRITE})",
                    data.len()
                )));
            }
            let r = blocking_write_all(cx, st, &args.val(0)?, data)?;
            out.set(sresult(cx, st, r.map(|()| None))?)
        },
    );
    define(linker, S, "[method]output-stream.flush", |cx, st, args| {
        let r = output(cx, st, arg(args, 0)?, |o| o.0.flush())?;
        sresult(cx, st, r.map(|()| None))
    });
    define(
        linker,
        S,
        "[method]output-stream.blocking-flush",
        |cx, st, args| {
            let r = output(cx, st, arg(args, 0)?, |o| o.0.blocking_flush())?;
            sresult(cx, st, r.map(|()| None))
        },
    );
    define(
        linker,
        S,
        "[method]output-stream.subscribe",
        |cx, st, args| {
            let r = output(cx, st, arg(args, 0)?, |o| o.0.readiness())?;
            new_pollable(cx, st, r).map(Some)
        },
    );
    define(
        linker,
        S,
        "[method]output-stream.write-zeroes",
        |cx, st, args| {
            let h = arg(args, 0)?;
            let len = arg_u64(args, 1)?;
            let permit = match output(cx, st, h, |o| o.0.check_write())? {
                Ok(n) => n,
                Err(e) => return sresult(cx, st, Err(e)),
            };
            if len > permit {
                return Err(Trap::host(format!(
                "WASI: write-zeroes of {len} bytes exceeds the {permit} bytes check-write permits"
            )));
            }
            // The permit bounds `len`; still write in slices so a huge permit cannot make the
            // host allocate much.
            let chunk = vec![0u8; (len as usize).min(64 * 1024)];
            let mut left = len as usize;
            while left > 0 {
                let k = left.min(chunk.len());
                if let Err(e) = output(cx, st, h, |o| o.0.write(&chunk[..k]))? {
                    return sresult(cx, st, Err(e));
                }
                left -= k;
            }
            sresult(cx, st, Ok(None))
        },
    );
    define(
        linker,
        S,
        "[method]output-stream.blocking-write-zeroes-and-flush",
        |cx, st, args| {
            let len = arg_u64(args, 1)?;
            if len > MAX_BLOCKING_WRITE as u64 {
                return Err(Trap::host(format!(
                    "WASI: blocking-write-zeroes-and-flush of {len} bytes (at most {MAX_BLOCKING_WRITE})"
                )));
            }
            let data = vec![0u8; len as usize];
            let r = blocking_write_all(cx, st, arg(args, 0)?, &data)?;
            sresult(cx, st, r.map(|()| None))
        },
    );
    define(linker, S, "[method]output-stream.splice", |cx, st, args| {
        let dst = arg(args, 0)?;
        let src = arg(args, 1)?;
        let len = len_arg(args, 2)?;
        let permit = match output(cx, st, dst, |o| o.0.check_write())? {
            Ok(n) => n,
            Err(e) => return sresult(cx, st, Err(e)),
        };
        let len = len.min(usize::try_from(permit).unwrap_or(usize::MAX));
        if len == 0 {
            return sresult(cx, st, Ok(Some(Val::U64(0))));
        }
        let data = match input(cx, st, src, |o| o.0.read(len))? {
            Ok(b) => b,
            Err(e) => return sresult(cx, st, Err(e)),
        };
        let r = output(cx, st, dst, |o| o.0.write(&data))?;
        sresult(cx, st, r.map(|()| Some(Val::U64(data.len() as u64))))
    });
    define(
        linker,
        S,
        "[method]output-stream.blocking-splice",
        |cx, st, args| {
            let dst = arg(args, 0)?;
            let src = arg(args, 1)?;
            let len = len_arg(args, 2)?;
            // Wait for a permit first, so the bytes read are never lost.
            let permit = loop {
                match output(cx, st, dst, |o| o.0.check_write())? {
                    Ok(0) => {
                        if let Err(e) = wait_writable(cx, st, dst) {
                            return sresult(cx, st, Err(e));
                        }
                    }
                    Ok(n) => break n,
                    Err(e) => return sresult(cx, st, Err(e)),
                }
            };
            let len = len.min(usize::try_from(permit).unwrap_or(usize::MAX));
            if len == 0 {
                return sresult(cx, st, Ok(Some(Val::U64(0))));
            }
            let data = match blocking_read(cx, st, src, len)? {
                Ok(b) => b,
                Err(e) => return sresult(cx, st, Err(e)),
            };
            let r = blocking_write_all(cx, st, dst, &data)?;
            sresult(cx, st, r.map(|()| Some(Val::U64(data.len() as u64))))
        },
    );
}

/// The readiness behind pollable handle `v`.
fn readiness_of(cx: &HostCx<'_>, st: &WasiState, v: &Val) -> Result<Readiness, Trap> {
    with_obj::<PollableObj, _>(cx, st, POLLABLE, v, |p| p.0.clone())
}

fn define_poll(linker: &mut ComponentLinker) {
    const P: &str = "io/poll";
    define_resource::<PollableObj>(linker, P, "pollable");
    define(linker, P, "[method]pollable.ready", |cx, st, args| {
        let r = readiness_of(cx, st, arg(args, 0)?)?;
        Ok(Some(Val::Bool(!wait(&[r], false)?.is_empty())))
    });
    define(linker, P, "[method]pollable.block", |cx, st, args| {
        let r = readiness_of(cx, st, arg(args, 0)?)?;
        wait(&[r], true)?;
        Ok(None)
    });
    define(linker, P, "poll", |cx, st, args| {
        let Val::List(items) = arg(args, 0)? else {
            return Err(Trap::host("WASI: poll expects a list of pollables"));
        };
        if items.is_empty() {
            return Err(Trap::host("WASI: poll on an empty list"));
        }
        if u32::try_from(items.len()).is_err() {
            return Err(Trap::host("WASI: poll on more than 2^32 pollables"));
        }
        let mut reps = Vec::with_capacity(items.len());
        for v in items {
            reps.push(rep_of(cx, POLLABLE, v)?);
        }
        let readies = {
            let mut t = st.table();
            let mut out = Vec::with_capacity(reps.len());
            for rep in reps {
                out.push(t.get::<PollableObj>(rep, POLLABLE.1)?.0.clone());
            }
            out
        };
        let ready = wait(&readies, true)?;
        Ok(Some(Val::List(ready.into_iter().map(Val::U32).collect())))
    });
}

/// Adds `wasi:io/{error,poll,streams}`.
pub fn add(linker: &mut ComponentLinker) {
    define_resource::<ErrorObj>(linker, IO_ERROR.0, IO_ERROR.1);
    define(
        linker,
        IO_ERROR.0,
        "[method]error.to-debug-string",
        |cx, st, args| {
            let msg =
                with_obj::<ErrorObj, _>(cx, st, IO_ERROR, arg(args, 0)?, |e| e.0.message.clone())?;
            Ok(Some(string(msg)))
        },
    );
    define_poll(linker);
    define_streams(linker);
}

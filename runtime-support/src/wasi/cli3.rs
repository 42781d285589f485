//! WASI 0.3's stdio: `wasi:cli/stdin@0.3` hands the guest a `stream<u8>` the host writes,
//! `wasi:cli/{stdout,stderr}@0.3` take a `stream<u8>` the guest writes; each also gives a
//! `future<result<_, error-code>>` that resolves when the stream ends
//! (`component::concurrent::host_io` carries the bytes).
//!
//! - Output: each guest write goes straight to the instance's stdout or stderr sink (the same
//!   [`Stdio`](super::cli::Stdio) sinks 0.2 writes to) before the write completes, so nothing
//!   is buffered in the host and nothing is lost when the guest exits. A failing sink ends the
//!   stream: the guest's next write sees the reader dropped, and the future gives `err`.
//! - Input: a helper thread reads the instance's stdin only when a guest read waits (so a
//!   guest that never reads stdin never consumes it), up to 64 KiB at a time.

use super::cli::MAX_IO;
use super::streams::{InputStream, OutputStream, StreamError};
use super::{define_raw, versioned};
use crate::component::{ComponentLinker, HostCx, HostResult, HostWriter, Val};
use crate::error::Trap;
use kiln_environ::component::InterfaceType;
use std::sync::{Arc, Mutex};

/// Bytes a `read-via-stream` thread reads at once.
const STDIN_CHUNK: usize = 64 << 10;

/// `wasi:cli/types@0.3#error-code` values.
fn error_code(e: &StreamError) -> Val {
    Val::Enum(
        match e {
            StreamError::Closed => "pipe",
            StreamError::Failed(io) if io.errno == Some(libc::EPIPE) => "pipe",
            StreamError::Failed(_) => "io",
        }
        .into(),
    )
}

/// A `result<_, error-code>` value.
fn outcome(r: Result<(), Val>) -> Val {
    match r {
        Ok(()) => Val::Result(Ok(None)),
        Err(code) => Val::Result(Err(Some(Box::new(code)))),
    }
}

/// The declared result type of the call (a future, or a tuple holding one).
pub(super) fn result_type(res: &HostResult<'_>) -> Result<InterfaceType, Trap> {
    res.ty()
        .cloned()
        .ok_or_else(|| Trap::host("WASI: this function must return a value"))
}

/// Resolves the future behind `w` (once) with `r`.
fn resolve(w: &Mutex<Option<HostWriter>>, r: Result<(), Val>) {
    if let Some(mut w) = w.lock().unwrap_or_else(|e| e.into_inner()).take() {
        // The guest may have dropped the future: nobody to tell then.
        let _ = w.write_val(&outcome(r));
    }
}

/// The 0.3 `write-via-stream` shape: the guest's stream `data` goes to `out` as each write
/// arrives; the call's future result gives `err(error(e))` when `out` fails, `ok` at the end.
pub(super) fn write_via_stream(
    cx: &HostCx<'_>,
    data: &Val,
    res: &mut HostResult<'_>,
    mut out: Box<dyn OutputStream>,
    error: fn(&StreamError) -> Val,
) -> Result<(), Trap> {
    let (fut, w) = cx.stream_from_host(&result_type(res)?)?;
    let w = Arc::new(Mutex::new(Some(w)));
    let on_end = w.clone();
    cx.stream_to_host(
        data,
        move |bytes| {
            for chunk in bytes.chunks(MAX_IO) {
                if let Err(e) = out.write(chunk) {
                    resolve(&w, Err(error(&e)));
                    return false;
                }
            }
            true
        },
        move || resolve(&on_end, Ok(())),
    )?;
    res.set(Some(fut))
}

/// The 0.3 `read-via-stream` shape (`tuple<stream<T>, future<result<_, E>>>`): the two values
/// to return and their writers.
pub(super) fn stream_and_future(
    cx: &HostCx<'_>,
    res: &HostResult<'_>,
) -> Result<(Val, HostWriter, HostWriter), Trap> {
    let InterfaceType::Tuple(tys) = result_type(res)? else {
        return Err(Trap::host("WASI: this function must return a tuple"));
    };
    let [stream_ty, future_ty] = tys.as_slice() else {
        return Err(Trap::host("WASI: this function must return a pair"));
    };
    let (stream, data) = cx.stream_from_host(stream_ty)?;
    let (fut, done) = cx.stream_from_host(future_ty)?;
    Ok((Val::Tuple(vec![stream, fut]), data, done))
}

/// Returns a future (the call's result type) resolved with `err(code)`.
pub(super) fn failed_future(
    cx: &HostCx<'_>,
    res: &mut HostResult<'_>,
    code: Val,
) -> Result<(), Trap> {
    let (fut, mut w) = cx.stream_from_host(&result_type(res)?)?;
    let _ = w.write_val(&outcome(Err(code)))?;
    res.set(Some(fut))
}

/// Returns a stream that ends at once and a future resolved with `err(code)`.
pub(super) fn failed_stream(
    cx: &HostCx<'_>,
    res: &mut HostResult<'_>,
    code: Val,
) -> Result<(), Trap> {
    let (pair, data, mut done) = stream_and_future(cx, res)?;
    drop(data);
    let _ = done.write_val(&outcome(Err(code)))?;
    res.set(Some(pair))
}

/// The 0.3 `read-via-stream` shape over `input`: a helper thread `name` reads it (64 KiB at
/// a time) only when a guest read waits, and the future tells how the stream ended.
pub(super) fn read_via_stream(
    cx: &HostCx<'_>,
    res: &mut HostResult<'_>,
    input: Box<dyn InputStream>,
    error: fn(&StreamError) -> Val,
    name: &str,
) -> Result<(), Trap> {
    let (pair, data, done) = stream_and_future(cx, res)?;
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || pump(input, data, done, error))
        .map_err(|e| Trap::host(format!("WASI: cannot start the {name} thread: {e}")))?;
    res.set(Some(pair))
}

/// Copies `input` into `data` as the guest asks for it, then resolves `done`.
fn pump(
    mut input: Box<dyn InputStream>,
    data: HostWriter,
    done: HostWriter,
    error: fn(&StreamError) -> Val,
) {
    let r = loop {
        if !data.wait_for_demand() {
            break Ok(());
        }
        match input.blocking_read(STDIN_CHUNK) {
            Ok(b) => {
                if !data.write(b) {
                    break Ok(());
                }
            }
            Err(StreamError::Closed) => break Ok(()),
            Err(e) => break Err(error(&e)),
        }
    };
    finish(data, done, r);
}

/// Ends stream `data`, then resolves `done` with `r`.
pub(super) fn finish(data: HostWriter, mut done: HostWriter, r: Result<(), Val>) {
    drop(data);
    let _ = done.write_val(&outcome(r));
}

/// Adds `wasi:cli/{stdin,stdout,stderr}@0.3`.
pub fn add(linker: &mut ComponentLinker) {
    define_raw(
        linker,
        &versioned("cli/stdin", true),
        "read-via-stream",
        |cx, st, _, res| {
            read_via_stream(
                cx,
                res,
                st.stdio.stdin_stream(),
                error_code,
                "kiln-wasi-stdin",
            )
        },
    );
    define_raw(
        linker,
        &versioned("cli/stdout", true),
        "write-via-stream",
        |cx, st, args, res| {
            write_via_stream(cx, &args.val(0)?, res, st.stdio.stdout_stream(), error_code)
        },
    );
    define_raw(
        linker,
        &versioned("cli/stderr", true),
        "write-via-stream",
        |cx, st, args, res| {
            write_via_stream(cx, &args.val(0)?, res, st.stdio.stderr_stream(), error_code)
        },
    );
}

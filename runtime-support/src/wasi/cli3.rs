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
use super::{define_raw, versioned, WasiState};
use crate::component::{ComponentLinker, HostCx, HostResult, HostWriter, Val};
use crate::error::Trap;
use kiln_environ::component::InterfaceType;
use std::sync::{Arc, Mutex};

/// Bytes the stdin thread reads at once.
const STDIN_CHUNK: usize = 64 << 10;

/// `wasi:cli/types@0.3#error-code` values.
fn error_code(e: &StreamError) -> &'static str {
    match e {
        StreamError::Closed => "pipe",
        StreamError::Failed(io) if io.errno == Some(libc::EPIPE) => "pipe",
        StreamError::Failed(_) => "io",
    }
}

fn outcome(r: Result<(), &'static str>) -> Val {
    match r {
        Ok(()) => Val::Result(Ok(None)),
        Err(code) => Val::Result(Err(Some(Box::new(Val::Enum(code.into()))))),
    }
}

/// The declared result type of the call (a future, or a tuple holding one).
fn result_type(res: &HostResult<'_>) -> Result<InterfaceType, Trap> {
    res.ty()
        .cloned()
        .ok_or_else(|| Trap::host("WASI: this function must return a value"))
}

/// Resolves the future behind `w` (once) with `r`.
fn resolve(w: &Mutex<Option<HostWriter>>, r: Result<(), &'static str>) {
    if let Some(mut w) = w.lock().unwrap_or_else(|e| e.into_inner()).take() {
        // The guest may have dropped the future: nobody to tell then.
        let _ = w.write_val(&outcome(r));
    }
}

/// `write-via-stream`: the guest's stream goes to `out`.
fn write_via_stream(
    cx: &HostCx<'_>,
    args: &crate::component::HostArgs<'_>,
    res: &mut HostResult<'_>,
    mut out: Box<dyn OutputStream>,
) -> Result<(), Trap> {
    let data = args.val(0)?;
    let (fut, w) = cx.stream_from_host(&result_type(res)?)?;
    let w = Arc::new(Mutex::new(Some(w)));
    let on_end = w.clone();
    cx.stream_to_host(
        &data,
        move |bytes| {
            for chunk in bytes.chunks(MAX_IO) {
                if let Err(e) = out.write(chunk) {
                    resolve(&w, Err(error_code(&e)));
                    return false;
                }
            }
            true
        },
        move || resolve(&on_end, Ok(())),
    )?;
    res.set(Some(fut))
}

/// `read-via-stream`: a stream of the instance's stdin, and the future of its end.
fn read_via_stream(cx: &HostCx<'_>, st: &WasiState, res: &mut HostResult<'_>) -> Result<(), Trap> {
    let InterfaceType::Tuple(tys) = result_type(res)? else {
        return Err(Trap::host("WASI: read-via-stream must return a tuple"));
    };
    let [stream_ty, future_ty] = tys.as_slice() else {
        return Err(Trap::host("WASI: read-via-stream must return a pair"));
    };
    let (stream, data) = cx.stream_from_host(stream_ty)?;
    let (fut, done) = cx.stream_from_host(future_ty)?;
    let input = st.stdio.stdin_stream();
    std::thread::Builder::new()
        .name("kiln-wasi-stdin".into())
        .spawn(move || pump_stdin(input, data, done))
        .map_err(|e| Trap::host(format!("WASI: cannot start the stdin thread: {e}")))?;
    res.set(Some(Val::Tuple(vec![stream, fut])))
}

/// Copies `input` into `data` as the guest asks for it, then resolves `done`.
fn pump_stdin(mut input: Box<dyn InputStream>, data: HostWriter, mut done: HostWriter) {
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
            Err(e) => break Err(error_code(&e)),
        }
    };
    drop(data);
    let _ = done.write_val(&outcome(r));
}

/// Adds `wasi:cli/{stdin,stdout,stderr}@0.3`.
pub fn add(linker: &mut ComponentLinker) {
    define_raw(
        linker,
        &versioned("cli/stdin", true),
        "read-via-stream",
        |cx, st, _, res| read_via_stream(cx, st, res),
    );
    define_raw(
        linker,
        &versioned("cli/stdout", true),
        "write-via-stream",
        |cx, st, args, res| write_via_stream(cx, args, res, st.stdio.stdout_stream()),
    );
    define_raw(
        linker,
        &versioned("cli/stderr", true),
        "write-via-stream",
        |cx, st, args, res| write_via_stream(cx, args, res, st.stdio.stderr_stream()),
    );
}

//! Small helpers to read WASI arguments out of component values and to build results.

use super::streams::{ErrorObj, InputObj, InputStream, OutputObj, OutputStream, PollableObj};
use super::{path, Readiness, StreamError, WasiState};
use crate::component::{HostCx, Val};
use crate::error::Trap;

/// `wasi:io/streams#input-stream`.
pub const INPUT_STREAM: (&str, &str) = ("io/streams", "input-stream");
/// `wasi:io/streams#output-stream`.
pub const OUTPUT_STREAM: (&str, &str) = ("io/streams", "output-stream");
/// `wasi:io/poll#pollable`.
pub const POLLABLE: (&str, &str) = ("io/poll", "pollable");
/// `wasi:io/error#error`.
pub const IO_ERROR: (&str, &str) = ("io/error", "error");

/// The resource index of WASI resource `(iface, name)` in the calling component.
pub fn resource(cx: &HostCx<'_>, r: (&str, &str)) -> Result<u32, Trap> {
    cx.resource_index(&path(r.0, r.1))
}

/// Puts `obj` in the table and returns an own handle of WASI resource `r` for it.
pub fn new_handle<T: Send + 'static>(
    cx: &HostCx<'_>,
    st: &WasiState,
    r: (&str, &str),
    obj: T,
) -> Result<Val, Trap> {
    let res = resource(cx, r)?;
    let rep = st.table().push(obj)?;
    cx.new_own(res, rep)
}

/// The representation behind the handle argument `v` of WASI resource `r`.
pub fn rep_of(cx: &HostCx<'_>, r: (&str, &str), v: &Val) -> Result<u32, Trap> {
    cx.rep(resource(cx, r)?, v)
}

/// Runs `f` on the object of type `T` behind handle `v` of WASI resource `r`.
pub fn with_obj<T: 'static, R>(
    cx: &HostCx<'_>,
    st: &WasiState,
    r: (&str, &str),
    v: &Val,
    f: impl FnOnce(&mut T) -> R,
) -> Result<R, Trap> {
    let rep = rep_of(cx, r, v)?;
    let mut t = st.table();
    let obj = t.get::<T>(rep, r.1)?;
    Ok(f(obj))
}

/// A new `input-stream` handle.
pub fn new_input_stream(
    cx: &HostCx<'_>,
    st: &WasiState,
    s: Box<dyn InputStream>,
) -> Result<Val, Trap> {
    new_handle(cx, st, INPUT_STREAM, InputObj(s))
}

/// A new `output-stream` handle.
pub fn new_output_stream(
    cx: &HostCx<'_>,
    st: &WasiState,
    s: Box<dyn OutputStream>,
) -> Result<Val, Trap> {
    new_handle(cx, st, OUTPUT_STREAM, OutputObj(s))
}

/// A new `pollable` handle waiting for `r`.
pub fn new_pollable(cx: &HostCx<'_>, st: &WasiState, r: Readiness) -> Result<Val, Trap> {
    new_handle(cx, st, POLLABLE, PollableObj(r))
}

/// The `stream-error` value for `e` (making an `error` handle for a failure).
pub fn stream_error(cx: &HostCx<'_>, st: &WasiState, e: StreamError) -> Result<Val, Trap> {
    Ok(match e {
        StreamError::Closed => Val::Variant("closed".into(), None),
        StreamError::Failed(err) => {
            let h = new_handle(cx, st, IO_ERROR, ErrorObj(err))?;
            Val::Variant("last-operation-failed".into(), Some(Box::new(h)))
        }
    })
}

/// `ok(v)` of a `result`.
pub fn ok(v: Option<Val>) -> Val {
    Val::Result(Ok(v.map(Box::new)))
}

/// `err(v)` of a `result`.
pub fn err(v: Val) -> Val {
    Val::Result(Err(Some(Box::new(v))))
}

/// An enum case (e.g. an `error-code`).
pub fn case(name: &str) -> Val {
    Val::Enum(name.to_string())
}

/// A `list<u8>` value.
pub fn bytes(b: &[u8]) -> Val {
    Val::List(b.iter().map(|&x| Val::U8(x)).collect())
}

/// A `string` value.
pub fn string(s: impl Into<String>) -> Val {
    Val::String(s.into())
}

/// A record value from `(field, value)` pairs.
pub fn record(fields: Vec<(&str, Val)>) -> Val {
    Val::Record(
        fields
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect(),
    )
}

/// An `option` value.
pub fn option(v: Option<Val>) -> Val {
    Val::Option(v.map(Box::new))
}

fn arg_err(what: &str, v: Option<&Val>) -> Trap {
    Trap::host(format!("WASI: expected {what} argument, got {v:?}"))
}

/// Argument `i` as a `u64`.
pub fn arg_u64(args: &[Val], i: usize) -> Result<u64, Trap> {
    match args.get(i) {
        Some(Val::U64(v)) => Ok(*v),
        v => Err(arg_err("a u64", v)),
    }
}

/// Argument `i` as a `u32`.
pub fn arg_u32(args: &[Val], i: usize) -> Result<u32, Trap> {
    match args.get(i) {
        Some(Val::U32(v)) => Ok(*v),
        v => Err(arg_err("a u32", v)),
    }
}

/// Argument `i` as a `bool`.
pub fn arg_bool(args: &[Val], i: usize) -> Result<bool, Trap> {
    match args.get(i) {
        Some(Val::Bool(v)) => Ok(*v),
        v => Err(arg_err("a bool", v)),
    }
}

/// Argument `i` as a `string`.
pub fn arg_str(args: &[Val], i: usize) -> Result<&str, Trap> {
    match args.get(i) {
        Some(Val::String(s)) => Ok(s),
        v => Err(arg_err("a string", v)),
    }
}

/// Argument `i` as a `list<u8>`.
pub fn arg_bytes(args: &[Val], i: usize) -> Result<Vec<u8>, Trap> {
    match args.get(i) {
        Some(Val::List(l)) => l
            .iter()
            .map(|v| match v {
                Val::U8(b) => Ok(*b),
                other => Err(arg_err("a list<u8>", Some(other))),
            })
            .collect(),
        v => Err(arg_err("a list<u8>", v)),
    }
}

/// Argument `i` (any value).
pub fn arg(args: &[Val], i: usize) -> Result<&Val, Trap> {
    args.get(i)
        .ok_or_else(|| Trap::host(format!("WASI: missing argument {i}")))
}

/// The set flag names of a `flags` argument `i`.
pub fn arg_flags(args: &[Val], i: usize) -> Result<&[String], Trap> {
    match args.get(i) {
        Some(Val::Flags(f)) => Ok(f),
        v => Err(arg_err("a flags", v)),
    }
}

/// The case name and payload of an enum or variant argument `i`.
pub fn arg_case(args: &[Val], i: usize) -> Result<(&str, Option<&Val>), Trap> {
    match args.get(i) {
        Some(Val::Enum(c)) => Ok((c, None)),
        Some(Val::Variant(c, p)) => Ok((c, p.as_deref())),
        v => Err(arg_err("an enum or variant", v)),
    }
}

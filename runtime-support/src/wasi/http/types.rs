//! `wasi:http/types`: requests, responses, bodies, the response out-parameter and the
//! trailer future (fields are in `fields.rs`, the response future in `client.rs`).
//!
//! Header resources a request or response hands out (`headers()`) are immutable snapshots,
//! which a guest cannot tell apart from WIT's immutable child resources. Bodies are pipes
//! (`body.rs`); a body's stream is handed out once, and finishing a body ends it (trailers)
//! whatever the guest still holds.

use super::body::{
    body_channel, empty_body, BodyEnd, BodyInput, BodyOutput, BodyReader, BodyWriter,
    DEFAULT_CAPACITY,
};
use super::error::ErrorCode;
use super::fields::{new_fields, take_fields, FieldList};
use super::server::{Responder, Response};
use super::{
    FUTURE_TRAILERS, IFACE, INCOMING_BODY, INCOMING_REQUEST, INCOMING_RESPONSE, OUTGOING_BODY,
    OUTGOING_REQUEST, OUTGOING_RESPONSE, REQUEST_OPTIONS, RESPONSE_OUTPARAM,
};
use crate::component::{ComponentLinker, HostCx, Val};
use crate::error::Trap;
use crate::wasi::val::{arg, err, ok, option, resource, string};
use crate::wasi::{
    define, define_resource, new_handle, new_input_stream, new_output_stream, new_pollable,
    Readiness, WasiState,
};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

/// The `method` value of `m` (an uppercase method name).
pub fn method_val(m: &str) -> Val {
    let c = |n: &str| Val::Variant(n.into(), None);
    match m {
        "GET" => c("get"),
        "HEAD" => c("head"),
        "POST" => c("post"),
        "PUT" => c("put"),
        "DELETE" => c("delete"),
        "CONNECT" => c("connect"),
        "OPTIONS" => c("options"),
        "TRACE" => c("trace"),
        "PATCH" => c("patch"),
        other => Val::Variant("other".into(), Some(Box::new(string(other)))),
    }
}

/// The method name of a guest's `method` value.
fn method_of(v: &Val) -> Result<String, Trap> {
    match v {
        Val::Variant(c, None) => Ok(c.to_ascii_uppercase()),
        Val::Variant(c, Some(p)) if c == "other" => match &**p {
            Val::String(s) => Ok(s.clone()),
            other => Err(Trap::host(format!("WASI: bad method payload {other:?}"))),
        },
        other => Err(Trap::host(format!(
            "WASI: expected a method, got {other:?}"
        ))),
    }
}

/// Whether `m` is a valid method token.
fn method_ok(m: &str) -> bool {
    !m.is_empty()
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The `scheme` value of `s`.
pub fn scheme_val(s: &str) -> Val {
    match s {
        "http" => Val::Variant("HTTP".into(), None),
        "https" => Val::Variant("HTTPS".into(), None),
        other => Val::Variant("other".into(), Some(Box::new(string(other)))),
    }
}

fn scheme_of(v: &Val) -> Result<String, Trap> {
    match v {
        Val::Variant(c, None) if c == "HTTP" => Ok("http".into()),
        Val::Variant(c, None) if c == "HTTPS" => Ok("https".into()),
        Val::Variant(c, Some(p)) if c == "other" => match &**p {
            Val::String(s) => Ok(s.clone()),
            other => Err(Trap::host(format!("WASI: bad scheme payload {other:?}"))),
        },
        other => Err(Trap::host(format!(
            "WASI: expected a scheme, got {other:?}"
        ))),
    }
}

fn opt_string(v: &Val) -> Result<Option<String>, Trap> {
    match v {
        Val::Option(None) => Ok(None),
        Val::Option(Some(b)) => match &**b {
            Val::String(s) => Ok(Some(s.clone())),
            other => Err(Trap::host(format!(
                "WASI: expected a string, got {other:?}"
            ))),
        },
        other => Err(Trap::host(format!(
            "WASI: expected an option, got {other:?}"
        ))),
    }
}

fn opt_str_val(s: &Option<String>) -> Val {
    option(s.clone().map(Val::String))
}

/// The table object behind an `incoming-request` handle.
pub struct IncomingRequestObj {
    /// Method (uppercase).
    pub method: String,
    /// Scheme, if known.
    pub scheme: Option<String>,
    /// Authority, if known.
    pub authority: Option<String>,
    /// Path with query, if any.
    pub path: Option<String>,
    /// Headers (forbidden ones removed).
    pub headers: FieldList,
    /// The body until `consume` takes it.
    pub body: Option<BodyReader>,
}

/// The table object behind an `outgoing-request` handle.
pub struct OutgoingRequestObj {
    /// Method.
    pub method: String,
    /// Scheme (`None`: the default, `http`).
    pub scheme: Option<String>,
    /// Authority.
    pub authority: Option<String>,
    /// Path with query.
    pub path: Option<String>,
    /// Headers.
    pub headers: FieldList,
    /// The reading end of the body, once `body` was called.
    pub body: Option<BodyReader>,
    /// Whether `body` was called.
    pub body_taken: bool,
}

/// The table object behind a `request-options` handle (timeouts in nanoseconds).
#[derive(Clone, Default)]
pub struct RequestOptionsObj {
    /// `connect-timeout`.
    pub connect: Option<u64>,
    /// `first-byte-timeout`.
    pub first_byte: Option<u64>,
    /// `between-bytes-timeout`.
    pub between_bytes: Option<u64>,
}

/// The table object behind an `outgoing-response` handle.
pub struct OutgoingResponseObj {
    status: u16,
    headers: FieldList,
    body: Option<BodyReader>,
    body_taken: bool,
}

/// The table object behind a `response-outparam` handle: the host's responder, called once
/// (with an error if the guest drops the out-parameter without setting it).
pub struct ResponseOutparamObj(pub Option<Responder>);

impl Drop for ResponseOutparamObj {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r(Err(ErrorCode::InternalError(Some(
                "the handler did not set a response".into(),
            ))));
        }
    }
}

/// The table object behind an `incoming-response` handle.
pub struct IncomingResponseObj {
    /// Status code.
    pub status: u16,
    /// Headers (forbidden ones removed).
    pub headers: FieldList,
    /// The body until `consume` takes it.
    pub body: Option<BodyReader>,
}

/// The table object behind an `incoming-body` handle.
pub struct IncomingBodyObj {
    reader: Arc<BodyReader>,
    stream_taken: bool,
}

/// The table object behind an `outgoing-body` handle. Dropping it unfinished ends the body
/// with an error.
pub struct OutgoingBodyObj {
    writer: Arc<Mutex<Option<BodyWriter>>>,
    written: Arc<AtomicU64>,
    limit: Option<u64>,
    response: bool,
    stream_taken: bool,
}

impl Drop for OutgoingBodyObj {
    fn drop(&mut self) {
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(w);
    }
}

/// The table object behind a `future-trailers` handle.
pub struct FutureTrailersObj {
    reader: Arc<BodyReader>,
    taken: bool,
}

/// The declared `content-length` of `headers` (`Err` if present but not a number).
pub fn content_length(headers: &FieldList) -> Result<Option<u64>, ErrorCode> {
    let mut found = None;
    for (n, v) in headers {
        if n == "content-length" {
            let n = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(ErrorCode::InternalError(Some(
                    "invalid content-length header".into(),
                )))?;
            if found.is_some_and(|f| f != n) {
                return Err(ErrorCode::InternalError(Some(
                    "conflicting content-length headers".into(),
                )));
            }
            found = Some(n);
        }
    }
    Ok(found)
}

/// A new `outgoing-body` over a fresh pipe: the handle and the pipe's reading end.
fn new_outgoing_body(
    cx: &HostCx<'_>,
    st: &WasiState,
    headers: &FieldList,
    response: bool,
) -> Result<(Val, BodyReader), Trap> {
    let (w, r) = body_channel(DEFAULT_CAPACITY);
    let obj = OutgoingBodyObj {
        writer: Arc::new(Mutex::new(Some(w))),
        written: Arc::new(AtomicU64::new(0)),
        limit: content_length(headers).ok().flatten(),
        response,
        stream_taken: false,
    };
    Ok((new_handle(cx, st, OUTGOING_BODY, obj)?, r))
}

/// A new `incoming-body` handle over `reader`.
pub fn new_incoming_body(cx: &HostCx<'_>, st: &WasiState, reader: BodyReader) -> Result<Val, Trap> {
    new_handle(
        cx,
        st,
        INCOMING_BODY,
        IncomingBodyObj {
            reader: Arc::new(reader),
            stream_taken: false,
        },
    )
}

fn unit_result(r: Result<(), ()>) -> Option<Val> {
    Some(match r {
        Ok(()) => ok(None),
        Err(()) => Val::Result(Err(None)),
    })
}

/// Defines `[method]R.name` over the object of type `T` behind argument 0.
fn method<T: Send + 'static>(
    linker: &mut ComponentLinker,
    r: (&'static str, &'static str),
    name: &str,
    f: impl Fn(&HostCx<'_>, &WasiState, &mut T, &[Val]) -> Result<Option<Val>, Trap>
        + Send
        + Sync
        + 'static,
) {
    define(
        linker,
        IFACE,
        &format!("[method]{}.{name}", r.1),
        move |cx, st, args| {
            let rep = crate::wasi::rep_of(cx, r, arg(args, 0)?)?;
            // The object leaves the table for the call, so `f` may add handles.
            let mut obj = st.table().check_out::<T>(rep, r.1)?;
            let out = f(cx, st, &mut obj, args);
            st.table().check_in(rep, obj);
            out
        },
    );
}

/// Adds the request, response and body resources of `wasi:http/types`.
pub fn add(linker: &mut ComponentLinker) {
    add_requests(linker);
    add_responses(linker);
    add_bodies(linker);
}

fn add_requests(linker: &mut ComponentLinker) {
    define_resource::<IncomingRequestObj>(linker, IFACE, "incoming-request");
    method::<IncomingRequestObj>(linker, INCOMING_REQUEST, "method", |_, _, o, _| {
        Ok(Some(method_val(&o.method)))
    });
    method::<IncomingRequestObj>(linker, INCOMING_REQUEST, "path-with-query", |_, _, o, _| {
        Ok(Some(opt_str_val(&o.path)))
    });
    method::<IncomingRequestObj>(linker, INCOMING_REQUEST, "scheme", |_, _, o, _| {
        Ok(Some(option(o.scheme.as_deref().map(scheme_val))))
    });
    method::<IncomingRequestObj>(linker, INCOMING_REQUEST, "authority", |_, _, o, _| {
        Ok(Some(opt_str_val(&o.authority)))
    });
    method::<IncomingRequestObj>(linker, INCOMING_REQUEST, "headers", |cx, st, o, _| {
        Ok(Some(new_fields(cx, st, o.headers.clone(), false)?))
    });
    method::<IncomingRequestObj>(linker, INCOMING_REQUEST, "consume", |cx, st, o, _| {
        Ok(Some(match o.body.take() {
            Some(b) => ok(Some(new_incoming_body(cx, st, b)?)),
            None => Val::Result(Err(None)),
        }))
    });

    define_resource::<OutgoingRequestObj>(linker, IFACE, "outgoing-request");
    define(
        linker,
        IFACE,
        "[constructor]outgoing-request",
        |cx, st, args| {
            let headers = take_fields(cx, st, arg(args, 0)?)?;
            let obj = OutgoingRequestObj {
                method: "GET".into(),
                scheme: None,
                authority: None,
                path: None,
                headers,
                body: None,
                body_taken: false,
            };
            Ok(Some(new_handle(cx, st, OUTGOING_REQUEST, obj)?))
        },
    );
    method::<OutgoingRequestObj>(linker, OUTGOING_REQUEST, "body", |cx, st, o, _| {
        if o.body_taken {
            return Ok(Some(Val::Result(Err(None))));
        }
        o.body_taken = true;
        let (h, r) = new_outgoing_body(cx, st, &o.headers, false)?;
        o.body = Some(r);
        Ok(Some(ok(Some(h))))
    });
    method::<OutgoingRequestObj>(linker, OUTGOING_REQUEST, "method", |_, _, o, _| {
        Ok(Some(method_val(&o.method)))
    });
    method::<OutgoingRequestObj>(linker, OUTGOING_REQUEST, "set-method", |_, _, o, args| {
        let m = method_of(arg(args, 1)?)?;
        if !method_ok(&m) {
            return Ok(unit_result(Err(())));
        }
        o.method = m;
        Ok(unit_result(Ok(())))
    });
    method::<OutgoingRequestObj>(linker, OUTGOING_REQUEST, "path-with-query", |_, _, o, _| {
        Ok(Some(opt_str_val(&o.path)))
    });
    method::<OutgoingRequestObj>(
        linker,
        OUTGOING_REQUEST,
        "set-path-with-query",
        |_, _, o, args| {
            let p = opt_string(arg(args, 1)?)?;
            if p.as_deref().is_some_and(|p| !path_ok(p)) {
                return Ok(unit_result(Err(())));
            }
            o.path = p;
            Ok(unit_result(Ok(())))
        },
    );
    method::<OutgoingRequestObj>(linker, OUTGOING_REQUEST, "scheme", |_, _, o, _| {
        Ok(Some(option(o.scheme.as_deref().map(scheme_val))))
    });
    method::<OutgoingRequestObj>(linker, OUTGOING_REQUEST, "set-scheme", |_, _, o, args| {
        let s = match arg(args, 1)? {
            Val::Option(None) => None,
            Val::Option(Some(v)) => Some(scheme_of(v)?),
            other => return Err(Trap::host(format!("WASI: bad scheme {other:?}"))),
        };
        if s.as_deref().is_some_and(|s| !scheme_ok(s)) {
            return Ok(unit_result(Err(())));
        }
        o.scheme = s;
        Ok(unit_result(Ok(())))
    });
    method::<OutgoingRequestObj>(linker, OUTGOING_REQUEST, "authority", |_, _, o, _| {
        Ok(Some(opt_str_val(&o.authority)))
    });
    method::<OutgoingRequestObj>(
        linker,
        OUTGOING_REQUEST,
        "set-authority",
        |_, _, o, args| {
            let a = opt_string(arg(args, 1)?)?;
            if a.as_deref().is_some_and(|a| !authority_ok(a)) {
                return Ok(unit_result(Err(())));
            }
            o.authority = a;
            Ok(unit_result(Ok(())))
        },
    );
    method::<OutgoingRequestObj>(linker, OUTGOING_REQUEST, "headers", |cx, st, o, _| {
        Ok(Some(new_fields(cx, st, o.headers.clone(), false)?))
    });

    define_resource::<RequestOptionsObj>(linker, IFACE, "request-options");
    define(
        linker,
        IFACE,
        "[constructor]request-options",
        |cx, st, _| {
            Ok(Some(new_handle(
                cx,
                st,
                REQUEST_OPTIONS,
                RequestOptionsObj::default(),
            )?))
        },
    );
    type Field = fn(&mut RequestOptionsObj) -> &mut Option<u64>;
    let fields: [(&str, Field); 3] = [
        ("connect-timeout", |o| &mut o.connect),
        ("first-byte-timeout", |o| &mut o.first_byte),
        ("between-bytes-timeout", |o| &mut o.between_bytes),
    ];
    for (name, field) in fields {
        method::<RequestOptionsObj>(linker, REQUEST_OPTIONS, name, move |_, _, o, _| {
            Ok(Some(option((*field(o)).map(Val::U64))))
        });
        method::<RequestOptionsObj>(
            linker,
            REQUEST_OPTIONS,
            &format!("set-{name}"),
            move |_, _, o, args| {
                let d = match arg(args, 1)? {
                    Val::Option(None) => None,
                    Val::Option(Some(v)) => match **v {
                        Val::U64(n) => Some(n),
                        _ => return Err(Trap::host("WASI: expected a duration")),
                    },
                    _ => return Err(Trap::host("WASI: expected an option<duration>")),
                };
                *field(o) = d;
                Ok(unit_result(Ok(())))
            },
        );
    }
}

/// Whether `p` can be a request target path (no spaces or control bytes; starts with `/`
/// or is `*`).
fn path_ok(p: &str) -> bool {
    (p.starts_with('/') || p == "*" || p.is_empty())
        && p.bytes().all(|b| b > 0x20 && b != 0x7f && b != b'#')
}

fn authority_ok(a: &str) -> bool {
    !a.bytes()
        .any(|b| b <= 0x20 || b == 0x7f || b"/?#@\\".contains(&b))
}

fn scheme_ok(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
}

fn add_responses(linker: &mut ComponentLinker) {
    define_resource::<ResponseOutparamObj>(linker, IFACE, "response-outparam");
    method::<ResponseOutparamObj>(
        linker,
        RESPONSE_OUTPARAM,
        "send-informational",
        |_, _, _, _| {
            Ok(Some(err(ErrorCode::InternalError(Some(
                "informational responses are not supported".into(),
            ))
            .to_val())))
        },
    );
    define(
        linker,
        IFACE,
        "[static]response-outparam.set",
        |cx, st, args| {
            let rep = cx.take_own(resource(cx, RESPONSE_OUTPARAM)?, arg(args, 0)?)?;
            let mut param = st
                .table()
                .remove::<ResponseOutparamObj>(rep, "response-outparam")?;
            let response = match arg(args, 1)? {
                Val::Result(Ok(Some(r))) => {
                    let rep = cx.take_own(resource(cx, OUTGOING_RESPONSE)?, r)?;
                    let o = st
                        .table()
                        .remove::<OutgoingResponseObj>(rep, "outgoing-response")?;
                    Ok(Response {
                        status: o.status,
                        headers: o.headers,
                        body: match (o.body, o.body_taken) {
                            (Some(b), _) => b,
                            _ => empty_body(),
                        },
                    })
                }
                Val::Result(Err(Some(e))) => Err(ErrorCode::from_val(e)?),
                other => {
                    return Err(Trap::host(format!(
                        "WASI: expected a response result, got {other:?}"
                    )))
                }
            };
            if let Some(r) = param.0.take() {
                r(response);
            }
            Ok(None)
        },
    );

    define_resource::<OutgoingResponseObj>(linker, IFACE, "outgoing-response");
    define(
        linker,
        IFACE,
        "[constructor]outgoing-response",
        |cx, st, args| {
            let headers = take_fields(cx, st, arg(args, 0)?)?;
            let obj = OutgoingResponseObj {
                status: 200,
                headers,
                body: None,
                body_taken: false,
            };
            Ok(Some(new_handle(cx, st, OUTGOING_RESPONSE, obj)?))
        },
    );
    method::<OutgoingResponseObj>(linker, OUTGOING_RESPONSE, "status-code", |_, _, o, _| {
        Ok(Some(Val::U16(o.status)))
    });
    method::<OutgoingResponseObj>(
        linker,
        OUTGOING_RESPONSE,
        "set-status-code",
        |_, _, o, args| {
            let Val::U16(s) = *arg(args, 1)? else {
                return Err(Trap::host("WASI: expected a status code"));
            };
            if !(100..=999).contains(&s) {
                return Ok(unit_result(Err(())));
            }
            o.status = s;
            Ok(unit_result(Ok(())))
        },
    );
    method::<OutgoingResponseObj>(linker, OUTGOING_RESPONSE, "headers", |cx, st, o, _| {
        Ok(Some(new_fields(cx, st, o.headers.clone(), false)?))
    });
    method::<OutgoingResponseObj>(linker, OUTGOING_RESPONSE, "body", |cx, st, o, _| {
        if o.body_taken {
            return Ok(Some(Val::Result(Err(None))));
        }
        o.body_taken = true;
        let (h, r) = new_outgoing_body(cx, st, &o.headers, true)?;
        o.body = Some(r);
        Ok(Some(ok(Some(h))))
    });

    define_resource::<IncomingResponseObj>(linker, IFACE, "incoming-response");
    method::<IncomingResponseObj>(linker, INCOMING_RESPONSE, "status", |_, _, o, _| {
        Ok(Some(Val::U16(o.status)))
    });
    method::<IncomingResponseObj>(linker, INCOMING_RESPONSE, "headers", |cx, st, o, _| {
        Ok(Some(new_fields(cx, st, o.headers.clone(), false)?))
    });
    method::<IncomingResponseObj>(linker, INCOMING_RESPONSE, "consume", |cx, st, o, _| {
        Ok(Some(match o.body.take() {
            Some(b) => ok(Some(new_incoming_body(cx, st, b)?)),
            None => Val::Result(Err(None)),
        }))
    });
}

fn add_bodies(linker: &mut ComponentLinker) {
    define_resource::<IncomingBodyObj>(linker, IFACE, "incoming-body");
    method::<IncomingBodyObj>(linker, INCOMING_BODY, "stream", |cx, st, o, _| {
        if o.stream_taken {
            return Ok(Some(Val::Result(Err(None))));
        }
        o.stream_taken = true;
        let s = BodyInput {
            reader: o.reader.clone(),
        };
        Ok(Some(ok(Some(new_input_stream(cx, st, Box::new(s))?))))
    });
    define(
        linker,
        IFACE,
        "[static]incoming-body.finish",
        |cx, st, args| {
            let rep = cx.take_own(resource(cx, INCOMING_BODY)?, arg(args, 0)?)?;
            let body = st.table().remove::<IncomingBodyObj>(rep, "incoming-body")?;
            let obj = FutureTrailersObj {
                reader: body.reader.clone(),
                taken: false,
            };
            Ok(Some(new_handle(cx, st, FUTURE_TRAILERS, obj)?))
        },
    );

    define_resource::<FutureTrailersObj>(linker, IFACE, "future-trailers");
    method::<FutureTrailersObj>(linker, FUTURE_TRAILERS, "subscribe", |cx, st, o, _| {
        let r = if o.taken {
            Readiness::Always
        } else {
            super::body::reader_readiness(&o.reader)
        };
        Ok(Some(new_pollable(cx, st, r)?))
    });
    method::<FutureTrailersObj>(linker, FUTURE_TRAILERS, "get", |cx, st, o, _| {
        if o.taken {
            return Ok(Some(option(Some(Val::Result(Err(None))))));
        }
        // The rest of the data is not wanted: drop what is there.
        while let Some(d) = o.reader.try_read(usize::MAX) {
            if d.is_empty() {
                return Ok(Some(option(None)));
            }
        }
        let Some(end) = o.reader.take_end() else {
            return Ok(Some(option(None)));
        };
        o.taken = true;
        let inner = match end {
            BodyEnd::Finished(None) => ok(Some(option(None))),
            BodyEnd::Finished(Some(t)) => ok(Some(option(Some(new_fields(cx, st, t, false)?)))),
            BodyEnd::Failed(e) => err(e.to_val()),
        };
        Ok(Some(option(Some(ok(Some(inner))))))
    });

    define_resource::<OutgoingBodyObj>(linker, IFACE, "outgoing-body");
    method::<OutgoingBodyObj>(linker, OUTGOING_BODY, "write", |cx, st, o, _| {
        if o.stream_taken {
            return Ok(Some(Val::Result(Err(None))));
        }
        o.stream_taken = true;
        let s = BodyOutput {
            writer: o.writer.clone(),
            written: o.written.clone(),
            limit: o.limit,
            response: o.response,
        };
        Ok(Some(ok(Some(new_output_stream(cx, st, Box::new(s))?))))
    });
    define(
        linker,
        IFACE,
        "[static]outgoing-body.finish",
        |cx, st, args| {
            let rep = cx.take_own(resource(cx, OUTGOING_BODY)?, arg(args, 0)?)?;
            let body = st.table().remove::<OutgoingBodyObj>(rep, "outgoing-body")?;
            let trailers = match arg(args, 1)? {
                Val::Option(None) => None,
                Val::Option(Some(t)) => Some(take_fields(cx, st, t)?),
                other => return Err(Trap::host(format!("WASI: bad trailers {other:?}"))),
            };
            let written = body.written.load(std::sync::atomic::Ordering::Relaxed);
            let w = body.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(limit) = body.limit {
                if written != limit {
                    let e = super::body::size_error(body.response, written);
                    if let Some(w) = w {
                        w.fail(e.clone());
                    }
                    return Ok(Some(err(e.to_val())));
                }
            }
            if let Some(w) = w {
                w.finish(trailers);
            }
            Ok(Some(ok(None)))
        },
    );
}

/// Makes the `incoming-request` and `response-outparam` handles of a request the host
/// serves, in the instance `cx` belongs to.
pub(super) fn request_handles(
    cx: &HostCx<'_>,
    st: &WasiState,
    req: super::server::IncomingRequest,
    respond: Responder,
) -> Result<(Val, Val), Trap> {
    let obj = IncomingRequestObj {
        method: req.method,
        scheme: req.scheme,
        authority: req.authority,
        path: req.path_with_query,
        headers: super::fields::strip_forbidden(req.headers),
        body: Some(req.body),
    };
    let req = new_handle(cx, st, INCOMING_REQUEST, obj)?;
    let out = new_handle(
        cx,
        st,
        RESPONSE_OUTPARAM,
        ResponseOutparamObj(Some(respond)),
    )?;
    Ok((req, out))
}

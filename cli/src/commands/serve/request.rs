//! One request: hyper's request becomes the runtime's [`IncomingRequest`] (its body pumped
//! from the connection into a pipe by a task), a fresh instance handles it on a blocking
//! worker thread, and the guest's [`Response`] goes back to hyper with a body that streams
//! the guest's pipe. A body the guest cut short (a trap, a timeout) is an error frame, so
//! hyper aborts the response instead of ending it as if it were whole.

use super::Shared;
use bytes::Bytes;
use http_body::{Body, SizeHint};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use hyper::{HeaderMap, StatusCode};
use kiln_runtime::wasi::http::{
    body_channel, handle_request, BodyReader, BodyWriter, ErrorCode, FieldList, Frame,
    IncomingRequest, Responder, Response,
};
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Bytes of a request body buffered ahead of the guest.
const REQUEST_BODY_BUFFER: usize = 256 * 1024;

/// Serves one request (never fails: errors become 5xx responses).
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<GuestBody> {
    let (parts, body) = req.into_parts();
    let label = format!("{} {}", parts.method, parts.uri);
    let authority = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));
    let headers: FieldList = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
        .collect();
    let (writer, reader) = body_channel(REQUEST_BODY_BUFFER);
    tokio::spawn(pump_request_body(body, writer, shared.body_timeout));
    let incoming = IncomingRequest {
        method: parts.method.as_str().to_string(),
        scheme: Some("http".to_string()),
        authority,
        path_with_query: Some(
            parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
        ),
        headers,
        body: reader,
    };

    // Requests beyond the bound wait here for a slot (held until the guest returns).
    let Ok(slot) = shared.slots.clone().acquire_owned().await else {
        return error_response(StatusCode::SERVICE_UNAVAILABLE);
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let respond: Responder = Box::new(move |r| {
        let _ = tx.send(r);
    });
    let pre = shared.pre.clone();
    let guest_label = label.clone();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        run_guest(&pre, incoming, respond, &guest_label);
    });
    match rx.await {
        Ok(Ok(resp)) => {
            // hyper sends the head with the first body bytes, or when the body waits: a body
            // that fails at once would take the head with it (an empty reply). Waiting a
            // moment for the first frame turns such a response into a 500.
            let first =
                tokio::time::timeout(FIRST_FRAME_WAIT, poll_fn(|cx| resp.body.poll_frame(cx)))
                    .await;
            match first {
                Ok(Some(Err(code))) => {
                    eprintln!(
                        "kiln serve: {label}: the response body failed before its head went \
                         out: {code}"
                    );
                    error_response(StatusCode::INTERNAL_SERVER_ERROR)
                }
                Ok(Some(Ok(frame))) => to_hyper(resp, First::Frame(frame), &label),
                Ok(None) => to_hyper(resp, First::Ended, &label),
                Err(_) => to_hyper(resp, First::NotYet, &label),
            }
        }
        Ok(Err(code)) => {
            let status =
                StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error_response(status)
        }
        // The guest never responded: its trap is logged by `run_guest`.
        Err(_) => error_response(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// Instantiates the component and calls its handler (on a blocking thread); logs a failure
/// on stderr in one line.
fn run_guest(
    pre: &kiln_runtime::ComponentPre,
    req: IncomingRequest,
    respond: Responder,
    label: &str,
) {
    let instance = match pre.instantiate() {
        Ok(i) => i,
        Err(e) => {
            eprintln!(
                "kiln serve: {label}: cannot instantiate the handler: {}",
                one_line(&e)
            );
            respond(Err(ErrorCode::InternalError(Some(
                "cannot instantiate the handler".into(),
            ))));
            return;
        }
    };
    if let Err(e) = handle_request(&instance, req, respond) {
        let hint = match &e {
            kiln_runtime::Error::Trap(t) if t.kind == kiln_runtime::TrapKind::Interrupt => {
                " (--request-timeout passed)"
            }
            _ => "",
        };
        eprintln!("kiln serve: {label}: {}{hint}", one_line(&e));
    }
}

/// A runtime error's first line (a trap without its backtrace).
fn one_line(e: &kiln_runtime::Error) -> String {
    let text = match e {
        kiln_runtime::Error::Trap(t) => crate::commands::run::format_trap(t),
        other => other.to_string(),
    };
    text.lines().next().unwrap_or("").to_string()
}

/// Moves the request body from the connection into the guest's pipe, respecting the pipe's
/// room; fails the body when the client sends nothing for `timeout` or the connection breaks.
async fn pump_request_body(mut body: Incoming, writer: BodyWriter, timeout: std::time::Duration) {
    loop {
        // Wait for room first: a guest that reads slowly slows the client down.
        if poll_fn(|cx| writer.poll_room(cx)).await.is_err() {
            return; // The guest dropped the body: nobody reads the rest.
        }
        match tokio::time::timeout(timeout, next_frame(&mut body)).await {
            Err(_) => return writer.fail(ErrorCode::ConnectionReadTimeout),
            Ok(None) => return writer.finish(None),
            Ok(Some(Err(_))) => return writer.fail(ErrorCode::ConnectionTerminated),
            Ok(Some(Ok(f))) => match f.into_data() {
                Ok(data) => {
                    if !data.is_empty() && writer.push(data.to_vec()).is_err() {
                        return;
                    }
                }
                Err(f) => {
                    if let Ok(trailers) = f.into_trailers() {
                        return writer.finish(Some(fields_of(&trailers)));
                    }
                }
            },
        }
    }
}

/// The next frame of `body`, `None` at its end.
async fn next_frame(body: &mut Incoming) -> Option<hyper::Result<http_body::Frame<Bytes>>> {
    poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
}

/// A header map as a field list (lowercase names).
fn fields_of(map: &HeaderMap) -> FieldList {
    map.iter()
        .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
        .collect()
}

/// A field list as a header map; fields hyper cannot send (invalid, or beyond the map's
/// size limit) are logged and left out.
fn header_map(fields: FieldList, label: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in fields {
        let added = match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(&value),
        ) {
            (Ok(n), Ok(v)) => map.try_append(n, v).is_ok(),
            _ => false,
        };
        if !added {
            eprintln!("kiln serve: {label}: dropped the response field `{name}`");
        }
    }
    map
}

/// How long the head of a response waits for the first frame of its body.
const FIRST_FRAME_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// What was read of a response body before its head went to hyper.
enum First {
    /// Its first frame.
    Frame(Frame),
    /// Its end: an empty body.
    Ended,
    /// Nothing yet.
    NotYet,
}

/// The guest's response as hyper's, `first` read of its body already.
fn to_hyper(resp: Response, first: First, label: &str) -> hyper::Response<GuestBody> {
    let Ok(status) = StatusCode::from_u16(resp.status) else {
        eprintln!(
            "kiln serve: {label}: the handler set the invalid status {}",
            resp.status
        );
        return error_response(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let headers = header_map(resp.headers, label);
    // A body complete already, without declared framing, goes out with a content-length.
    let framed = headers.contains_key(CONTENT_LENGTH) || headers.contains_key(TRANSFER_ENCODING);
    let (first, exact) = match first {
        First::Frame(Frame::Data(d)) => {
            let rest = resp.body.complete_len();
            let exact = rest.map(|n| (n + d.len()) as u64);
            (Some(http_body::Frame::data(Bytes::from(d))), exact)
        }
        First::Frame(Frame::Trailers(t)) => {
            (Some(http_body::Frame::trailers(header_map(t, label))), None)
        }
        First::Ended => (None, Some(0)),
        First::NotYet => (None, resp.body.complete_len().map(|n| n as u64)),
    };
    let mut out = hyper::Response::new(GuestBody::Guest {
        reader: Some(resp.body),
        first,
        failed: None,
        exact: exact.filter(|_| !framed),
    });
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

/// An empty response with `status`.
fn error_response(status: StatusCode) -> hyper::Response<GuestBody> {
    let mut out = hyper::Response::new(GuestBody::Empty);
    *out.status_mut() = status;
    out
}

/// A response body: the guest's pipe, or nothing.
pub(crate) enum GuestBody {
    /// No body.
    Empty,
    /// The guest's body; `exact` is its length when it was complete before the head went out.
    Guest {
        /// The pipe (`None` once it ended).
        reader: Option<BodyReader>,
        /// A frame read from the pipe already, sent first.
        first: Option<http_body::Frame<Bytes>>,
        /// The error that cut the body short, reported at the next poll (after hyper flushed
        /// what it has, so the head and the data before the error reach the client).
        failed: Option<ErrorCode>,
        /// The length, if known.
        exact: Option<u64>,
    },
}

/// Why a response body ended early (hyper aborts the response).
#[derive(Debug)]
pub(crate) struct BodyCut(ErrorCode);

impl std::fmt::Display for BodyCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the handler's response body was cut short: {}", self.0)
    }
}

impl std::error::Error for BodyCut {}

impl Body for GuestBody {
    type Data = Bytes;
    type Error = BodyCut;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BodyCut>>> {
        let GuestBody::Guest {
            reader,
            first,
            failed,
            ..
        } = self.get_mut()
        else {
            return Poll::Ready(None);
        };
        if let Some(frame) = first.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(e) = failed.take() {
            return Poll::Ready(Some(Err(BodyCut(e))));
        }
        let Some(r) = reader.as_ref() else {
            return Poll::Ready(None);
        };
        match r.poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(Frame::Data(d)))) => {
                Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(d)))))
            }
            Poll::Ready(Some(Ok(Frame::Trailers(t)))) => {
                *reader = None;
                let map = header_map(t, "trailers");
                Poll::Ready(Some(Ok(http_body::Frame::trailers(map))))
            }
            Poll::Ready(Some(Err(e))) => {
                // hyper drops what it has not written yet when a body fails: wait one turn of
                // its loop, in which it flushes.
                *reader = None;
                *failed = Some(e);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(None) => {
                *reader = None;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GuestBody::Empty => true,
            GuestBody::Guest {
                reader,
                first,
                failed,
                exact,
            } => first.is_none() && failed.is_none() && (reader.is_none() || *exact == Some(0)),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GuestBody::Empty => SizeHint::with_exact(0),
            GuestBody::Guest { exact: Some(n), .. } => SizeHint::with_exact(*n),
            GuestBody::Guest { .. } => SizeHint::default(),
        }
    }
}

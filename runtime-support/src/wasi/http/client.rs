//! `wasi:http/outgoing-handler` and `future-incoming-response`: outgoing HTTP/1.1 requests
//! over ureq, one thread per request.
//!
//! `handle` checks the request (network permission first: without it every request fails
//! with `HTTP-request-denied`), then a thread sends it. The request body streams from the
//! guest's `outgoing-body` pipe while the guest writes it (chunked unless the guest set a
//! `content-length`); the response head resolves the future, and the response body streams
//! into the `incoming-body` pipe the guest reads. Redirects are not followed and no header is
//! added beyond `host` and the body framing, as wasi:http requires. Connection-level headers
//! of the response are not shown to the guest. At most [`MAX_IN_FLIGHT`] requests run at once
//! in a process; more fail with `connection-limit-reached`.

use super::body::{body_channel, BodyReader, DEFAULT_CAPACITY};
use super::error::ErrorCode;
use super::fields::{strip_forbidden, FieldList};
use super::types::{content_length, IncomingResponseObj, OutgoingRequestObj, RequestOptionsObj};
use super::{FUTURE_INCOMING_RESPONSE, INCOMING_RESPONSE, OUTGOING_REQUEST, REQUEST_OPTIONS};
use crate::component::{ComponentLinker, Val};
use crate::error::Trap;
use crate::wasi::val::{arg, err, ok, option, resource};
use crate::wasi::{define, define_resource, new_handle, new_pollable, Readiness};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The default of each timeout a guest did not set (wasmtime's too).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Most outgoing requests in flight in the process (each holds a thread and a connection): a
/// guest that starts more gets `connection-limit-reached` instead of exhausting the host's
/// threads or descriptors.
pub const MAX_IN_FLIGHT: usize = 256;

/// Outgoing requests in flight now.
static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One place among [`MAX_IN_FLIGHT`], released when the request's thread ends.
struct InFlight;

impl InFlight {
    fn take() -> Option<InFlight> {
        use std::sync::atomic::Ordering::AcqRel;
        IN_FLIGHT
            .fetch_update(AcqRel, std::sync::atomic::Ordering::Acquire, |n| {
                (n < MAX_IN_FLIGHT).then_some(n + 1)
            })
            .ok()
            .map(|_| InFlight)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Bytes read from the connection per body chunk.
const CHUNK: usize = 64 * 1024;

/// A response head and body as the client thread delivers it.
struct Head {
    status: u16,
    headers: FieldList,
    body: BodyReader,
}

/// Where the client thread leaves the response (or the error): a slot and an eventfd that is
/// readable once the slot is filled.
struct Slot {
    value: Mutex<Option<Result<Head, ErrorCode>>>,
    ready: Arc<OwnedFd>,
}

impl Slot {
    fn fill(&self, v: Result<Head, ErrorCode>) {
        *self.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
        unsafe { libc::write(self.ready.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

/// The table object behind a `future-incoming-response` handle.
pub struct FutureResponseObj {
    slot: Arc<Slot>,
    taken: bool,
}

/// The agent every request goes through (connection reuse across requests and instances).
fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(ureq::config::AutoHeaderValue::None)
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            .allow_non_standard_methods(true)
            .save_redirect_history(false)
            .build()
            .new_agent()
    })
}

/// The error code of a failed exchange.
fn error_code(e: &ureq::Error) -> ErrorCode {
    use ureq::Timeout as T;
    match e {
        ureq::Error::Timeout(T::Connect | T::Resolve) => ErrorCode::ConnectionTimeout,
        ureq::Error::Timeout(T::RecvResponse | T::PerRead | T::RecvBody) => {
            ErrorCode::ConnectionReadTimeout
        }
        ureq::Error::Timeout(T::PerWrite | T::SendRequest | T::SendBody) => {
            ErrorCode::ConnectionWriteTimeout
        }
        ureq::Error::Timeout(_) => ErrorCode::HttpResponseTimeout,
        ureq::Error::HostNotFound => {
            ErrorCode::DnsError(Some("address not available".into()), Some(0))
        }
        ureq::Error::ConnectionFailed => ErrorCode::ConnectionRefused,
        ureq::Error::BadUri(_) => ErrorCode::HttpRequestUriInvalid,
        ureq::Error::Protocol(_) => ErrorCode::HttpProtocolError,
        ureq::Error::BodyExceedsLimit(n) => ErrorCode::HttpResponseBodySize(Some(*n)),
        ureq::Error::Io(io) => io_code(io),
        #[cfg(feature = "https")]
        ureq::Error::Rustls(r) => tls_code(r),
        ureq::Error::Tls(_) => ErrorCode::TlsProtocolError,
        other => ErrorCode::InternalError(Some(other.to_string())),
    }
}

/// The error code of a TLS failure.
#[cfg(feature = "https")]
fn tls_code(e: &rustls::Error) -> ErrorCode {
    match e {
        rustls::Error::InvalidCertificate(_) => ErrorCode::TlsCertificateError,
        _ => ErrorCode::TlsProtocolError,
    }
}

fn io_code(io: &std::io::Error) -> ErrorCode {
    use std::io::ErrorKind as K;
    #[cfg(feature = "https")]
    if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return tls_code(tls);
    }
    match io.kind() {
        K::ConnectionRefused => ErrorCode::ConnectionRefused,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            ErrorCode::ConnectionTerminated
        }
        K::TimedOut | K::WouldBlock => ErrorCode::ConnectionReadTimeout,
        _ => ErrorCode::InternalError(Some(io.to_string())),
    }
}

fn dur(ns: Option<u64>) -> Duration {
    ns.map_or(DEFAULT_TIMEOUT, Duration::from_nanos)
}

/// A checked request, ready to send (on the client thread).
struct Checked {
    method: http::Method,
    uri: String,
    headers: FieldList,
    body: Option<BodyReader>,
    opts: RequestOptionsObj,
}

/// Checks `req` as wasmtime does before anything reaches the network.
fn check(req: OutgoingRequestObj, opts: RequestOptionsObj) -> Result<Checked, ErrorCode> {
    let scheme = req.scheme.as_deref().unwrap_or("http");
    if scheme != "http" && !(scheme == "https" && cfg!(feature = "https")) {
        return Err(if scheme == "https" {
            ErrorCode::InternalError(Some(
                "https is not available in this kiln runtime (built without TLS)".into(),
            ))
        } else {
            ErrorCode::HttpProtocolError
        });
    }
    let authority = req
        .authority
        .filter(|a| !a.is_empty())
        .ok_or(ErrorCode::HttpRequestUriInvalid)?;
    let cl = content_length(&req.headers)?;
    if req.body.is_none() && cl.is_some_and(|n| n != 0) {
        return Err(ErrorCode::HttpRequestBodySize(Some(0)));
    }
    let path = req.path.unwrap_or_else(|| "/".into());
    let method = http::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| ErrorCode::HttpRequestMethodInvalid)?;
    let uri = format!("{scheme}://{authority}{path}");
    uri.parse::<http::Uri>()
        .map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
    Ok(Checked {
        method,
        uri,
        headers: req.headers,
        body: req.body,
        opts,
    })
}

/// The ureq request of `c`.
fn build(c: Checked) -> Result<http::Request<ureq::SendBody<'static>>, ErrorCode> {
    let mut b = http::Request::builder().method(c.method).uri(&c.uri);
    for (n, v) in &c.headers {
        b = b.header(n.as_str(), v.as_slice());
    }
    let body = match c.body {
        Some(r) => ureq::SendBody::from_owned_reader(r),
        None => ureq::SendBody::none(),
    };
    let request = b.body(body).map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
    Ok(agent()
        .configure_request(request)
        .timeout_connect(Some(dur(c.opts.connect)))
        .timeout_recv_response(Some(dur(c.opts.first_byte)))
        .timeout_per_read(Some(dur(c.opts.between_bytes)))
        .build())
}

/// Runs one exchange on the calling thread: sends, fills `slot` with the head, then streams
/// the body into the guest's pipe until it ends or the guest stops reading.
fn exchange(checked: Checked, slot: &Slot) {
    let request = match build(checked) {
        Ok(r) => r,
        Err(e) => return slot.fill(Err(e)),
    };
    let response = match agent().run(request) {
        Ok(r) => r,
        Err(e) => return slot.fill(Err(error_code(&e))),
    };
    let (parts, body) = response.into_parts();
    let headers: FieldList = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
        .collect();
    let (writer, reader) = body_channel(DEFAULT_CAPACITY);
    slot.fill(Ok(Head {
        status: parts.status.as_u16(),
        headers: strip_forbidden(headers),
        body: reader,
    }));
    let mut src = body.into_reader();
    loop {
        let mut buf = vec![0u8; CHUNK];
        match src.read(&mut buf) {
            Ok(0) => return writer.finish(None),
            Ok(n) => {
                buf.truncate(n);
                if writer.blocking_push(buf, None).is_err() {
                    return; // the guest dropped the body
                }
            }
            Err(e) => {
                let code = match e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
                    Some(u) => error_code(u),
                    None => io_code(&e),
                };
                return writer.fail(code);
            }
        }
    }
}

/// Adds `wasi:http/outgoing-handler` and `future-incoming-response`.
pub fn add(linker: &mut ComponentLinker) {
    define(linker, "http/outgoing-handler", "handle", |cx, st, args| {
        let rep = cx.take_own(resource(cx, OUTGOING_REQUEST)?, arg(args, 0)?)?;
        let req = st
            .table()
            .remove::<OutgoingRequestObj>(rep, "outgoing-request")?;
        let opts = match arg(args, 1)? {
            Val::Option(Some(h)) => {
                let rep = cx.take_own(resource(cx, REQUEST_OPTIONS)?, h)?;
                st.table()
                    .remove::<RequestOptionsObj>(rep, "request-options")?
            }
            _ => RequestOptionsObj::default(),
        };
        if !st.config.network {
            return Ok(Some(err(ErrorCode::HttpRequestDenied.to_val())));
        }
        let request = match check(req, opts) {
            Ok(r) => r,
            Err(e) => return Ok(Some(err(e.to_val()))),
        };
        let Some(place) = InFlight::take() else {
            return Ok(Some(err(ErrorCode::ConnectionLimitReached.to_val())));
        };
        // SAFETY: plain syscall; the result is checked before it is wrapped.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(Trap::host(
                "WASI: out of file descriptors for an HTTP request",
            ));
        }
        let slot = Arc::new(Slot {
            value: Mutex::new(None),
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            ready: Arc::new(unsafe { OwnedFd::from_raw_fd(fd) }),
        });
        let s = slot.clone();
        let spawned = std::thread::Builder::new()
            .name("kiln-http-client".into())
            .spawn(move || {
                let _place = place;
                exchange(request, &s)
            });
        if let Err(e) = spawned {
            slot.fill(Err(ErrorCode::InternalError(Some(format!(
                "cannot start the request: {e}"
            )))));
        }
        let h = new_handle(
            cx,
            st,
            FUTURE_INCOMING_RESPONSE,
            FutureResponseObj { slot, taken: false },
        )?;
        Ok(Some(ok(Some(h))))
    });

    define_resource::<FutureResponseObj>(linker, super::IFACE, "future-incoming-response");
    define(
        linker,
        super::IFACE,
        "[method]future-incoming-response.subscribe",
        |cx, st, args| {
            let r = crate::wasi::val::with_obj::<FutureResponseObj, _>(
                cx,
                st,
                FUTURE_INCOMING_RESPONSE,
                arg(args, 0)?,
                |o| Readiness::Fd {
                    fd: o.slot.ready.clone(),
                    write: false,
                },
            )?;
            Ok(Some(new_pollable(cx, st, r)?))
        },
    );
    define(
        linker,
        super::IFACE,
        "[method]future-incoming-response.get",
        |cx, st, args| {
            let got = crate::wasi::val::with_obj::<FutureResponseObj, _>(
                cx,
                st,
                FUTURE_INCOMING_RESPONSE,
                arg(args, 0)?,
                |o| {
                    if o.taken {
                        return Some(None);
                    }
                    let v = o
                        .slot
                        .value
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take();
                    if v.is_some() {
                        o.taken = true;
                    }
                    v.map(Some)
                },
            )?;
            Ok(Some(match got {
                None => option(None),
                Some(None) => option(Some(Val::Result(Err(None)))),
                Some(Some(Err(e))) => option(Some(ok(Some(err(e.to_val()))))),
                Some(Some(Ok(head))) => {
                    let obj = IncomingResponseObj {
                        status: head.status,
                        headers: head.headers,
                        body: Some(head.body),
                    };
                    let h = new_handle(cx, st, INCOMING_RESPONSE, obj)?;
                    option(Some(ok(Some(ok(Some(h))))))
                }
            }))
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_flight_are_bounded_and_places_come_back() {
        let held: Vec<InFlight> = std::iter::from_fn(InFlight::take)
            .take(MAX_IN_FLIGHT + 1)
            .collect();
        assert!(held.len() <= MAX_IN_FLIGHT);
        assert!(InFlight::take().is_none(), "no place beyond the bound");
        drop(held);
        assert!(InFlight::take().is_some(), "places are released");
    }
}

#[cfg(all(test, feature = "https"))]
mod https_tests {
    use super::*;
    use std::io::Write;

    /// An `https` request speaks TLS: a server that answers its first bytes (which must be a
    /// TLS handshake record) with plain HTTP makes the request fail with a TLS error, and the
    /// plaintext never reaches the guest as a response.
    #[test]
    fn https_requests_speak_tls() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut first = [0u8; 1];
            c.read_exact(&mut first).unwrap();
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi");
            first[0]
        });
        let req = OutgoingRequestObj {
            method: "GET".into(),
            scheme: Some("https".into()),
            authority: Some(format!("localhost:{}", addr.port())),
            path: Some("/".into()),
            headers: Vec::new(),
            body: None,
            body_taken: false,
        };
        let checked = check(req, RequestOptionsObj::default()).expect("https is accepted");
        // SAFETY: plain syscall; checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        assert!(fd >= 0);
        let slot = Slot {
            value: Mutex::new(None),
            // SAFETY: a fresh descriptor nobody else owns.
            ready: Arc::new(unsafe { OwnedFd::from_raw_fd(fd) }),
        };
        exchange(checked, &slot);
        assert_eq!(server.join().unwrap(), 0x16, "a TLS handshake record");
        let got = slot.value.lock().unwrap().take().expect("filled");
        match got {
            Err(ErrorCode::TlsProtocolError) => {}
            Err(other) => panic!("expected a TLS error, got {other}"),
            Ok(h) => panic!("plaintext accepted over https: status {}", h.status),
        }
    }
}

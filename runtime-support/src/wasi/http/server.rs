//! The host's side of `wasi:http/incoming-handler`: what a server (such as `kiln serve`)
//! hands a handler component, and how it gets the response back.
//!
//! A server makes an [`IncomingRequest`] whose body is a pipe it fills from the connection,
//! instantiates the component (one instance per request), and calls [`handle_request`] on
//! the thread that runs the guest. The guest's `response-outparam.set` calls the server's
//! [`Responder`] at once, from inside the call, so the response head can go out while the
//! guest is still writing the body; the body is a pipe the server drains. A handler that
//! returns (or traps) without setting a response makes the responder see an error; one that
//! traps after it leaves a body that ends with an error, never a silently truncated one.

use super::body::BodyReader;
use super::error::ErrorCode;
use super::fields::FieldList;
use crate::component::ComponentInstance;
use crate::error::Error;
use crate::wasi::WasiState;

/// A request a server hands to a handler.
pub struct IncomingRequest {
    /// The method, as sent (e.g. `GET`).
    pub method: String,
    /// `http` or `https`, if known.
    pub scheme: Option<String>,
    /// The authority (the `host` header or the absolute URI's), if any.
    pub authority: Option<String>,
    /// The path and query, e.g. `/a?b=c`.
    pub path_with_query: Option<String>,
    /// Header fields, lowercase names (connection-level ones are removed before the guest
    /// sees them).
    pub headers: FieldList,
    /// The body.
    pub body: BodyReader,
}

/// A response a handler produced.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields.
    pub headers: FieldList,
    /// The body (ends with an error if the handler did not finish it).
    pub body: BodyReader,
}

/// Receives the handler's response: called at most once, from the guest's thread (a
/// responder dropped uncalled means the handler could not even be started).
pub type Responder = Box<dyn FnOnce(Result<Response, ErrorCode>) + Send>;

/// The name of the `wasi:http/incoming-handler` interface `instance` exports (any `0.2.x`
/// version), if any.
pub fn handler_export(instance: &ComponentInstance) -> Option<String> {
    instance
        .exports()
        .iter()
        .map(|e| e.name.as_str())
        .find(|n| {
            n.starts_with("wasi:http/incoming-handler@0.2.") || *n == "wasi:http/incoming-handler"
        })
        .map(str::to_string)
}

/// Calls the `wasi:http/incoming-handler#handle` export of `instance` (made by a linker with
/// [`crate::wasi::add_to_linker`]) with `req`. Headers larger than
/// [`super::fields::MAX_FIELDS_SIZE`] are refused (`HTTP-request-header-section-size`, a 431)
/// without running the guest. `respond` is called once: when the guest
/// sets the response, or with an error when it never does (a trap included). Returns
/// when the guest's `handle` returns; `Err` if it trapped (the instance must not be used
/// again).
pub fn handle_request(
    instance: &ComponentInstance,
    req: IncomingRequest,
    respond: Responder,
) -> Result<(), Error> {
    let Some(iface) = handler_export(instance) else {
        respond(Err(ErrorCode::ConfigurationError));
        return Err(Error::Link(
            "the component does not export `wasi:http/incoming-handler`".into(),
        ));
    };
    let Some(func) = instance.get_func(&format!("{iface}#handle")) else {
        respond(Err(ErrorCode::ConfigurationError));
        return Err(Error::Link(format!(
            "`{iface}` does not export a function `handle`"
        )));
    };
    let size = super::fields::size(&req.headers);
    if size > super::fields::MAX_FIELDS_SIZE {
        // The guest could not hold these headers in a `fields`: refuse before it runs.
        respond(Err(ErrorCode::HttpRequestHeaderSectionSize(Some(
            u32::try_from(size).unwrap_or(u32::MAX),
        ))));
        return Ok(());
    }
    let handles = instance.with_host_cx(|cx| {
        let st = cx.state::<WasiState>()?;
        super::types::request_handles(cx, st, req, respond)
    });
    let (req, out) = handles.map_err(Error::Trap)?;
    match instance.call_func(&func, &[req, out])? {
        None => Ok(()),
        Some(v) => Err(Error::Other(format!(
            "`{iface}#handle` returned {v:?}, expected nothing"
        ))),
    }
}

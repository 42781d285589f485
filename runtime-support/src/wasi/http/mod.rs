//! `wasi:http` 0.2 for the native WASI host: `types`, `outgoing-handler` (a client) and the
//! host's side of `incoming-handler` (what a server calls: [`handle_request`]).
//!
//! - `fields.rs`: headers and trailers; `types.rs`: requests, responses, bodies, the
//!   response out-parameter, trailers;
//! - `body.rs`: bodies as bounded pipes between the guest and another thread, readable and
//!   writable as `wasi:io` streams, with trailers or an error at their end;
//! - `client.rs`: `outgoing-handler` over ureq (HTTP/1.1), allowed only with network
//!   permission (`WasiConfig::network`), and `future-incoming-response`;
//! - `server.rs`: [`IncomingRequest`], [`Response`], [`handle_request`];
//! - `error.rs`: the `error-code` variant as [`ErrorCode`].
//!
//! Limits: fields hold at most [`fields::MAX_FIELDS_SIZE`] bytes (more traps, as in
//! wasmtime); a body pipe buffers [`body::DEFAULT_CAPACITY`] bytes before its writer waits;
//! one stream read moves at most 1 MiB.

pub mod body;
mod client;
mod error;
pub mod fields;
mod server;
mod types;

pub use body::{body_channel, empty_body, BodyEnd, BodyReader, BodyWriter, Frame, ReaderGone};
pub use error::ErrorCode;
pub use fields::FieldList;
pub use server::{handle_request, handler_export, IncomingRequest, Responder, Response};

use crate::component::ComponentLinker;

/// The interface the resources live in.
pub(crate) const IFACE: &str = "http/types";
pub(crate) const FIELDS: (&str, &str) = (IFACE, "fields");
pub(crate) const INCOMING_REQUEST: (&str, &str) = (IFACE, "incoming-request");
pub(crate) const OUTGOING_REQUEST: (&str, &str) = (IFACE, "outgoing-request");
pub(crate) const REQUEST_OPTIONS: (&str, &str) = (IFACE, "request-options");
pub(crate) const RESPONSE_OUTPARAM: (&str, &str) = (IFACE, "response-outparam");
pub(crate) const INCOMING_RESPONSE: (&str, &str) = (IFACE, "incoming-response");
pub(crate) const OUTGOING_RESPONSE: (&str, &str) = (IFACE, "outgoing-response");
pub(crate) const INCOMING_BODY: (&str, &str) = (IFACE, "incoming-body");
pub(crate) const OUTGOING_BODY: (&str, &str) = (IFACE, "outgoing-body");
pub(crate) const FUTURE_TRAILERS: (&str, &str) = (IFACE, "future-trailers");
pub(crate) const FUTURE_INCOMING_RESPONSE: (&str, &str) = (IFACE, "future-incoming-response");

/// Adds `wasi:http/types` and `wasi:http/outgoing-handler`.
pub fn add(linker: &mut ComponentLinker) {
    fields::add(linker);
    types::add(linker);
    client::add(linker);
    crate::wasi::define(linker, IFACE, "http-error-code", |cx, st, args| {
        let rep = crate::wasi::rep_of(cx, crate::wasi::IO_ERROR, crate::wasi::arg(args, 0)?)?;
        let code = st
            .table()
            .get::<crate::wasi::ErrorObj>(rep, "error")?
            .0
            .http
            .clone();
        Ok(Some(crate::wasi::option(code.map(|c| c.to_val()))))
    });
}

//! `GET /fetch?url=URL`: an outgoing GET over `wasi:http/outgoing-handler`.

use crate::{text, CHUNK};
use wasi::http::outgoing_handler;
use wasi::http::types::{ErrorCode, Fields, Method, OutgoingRequest, ResponseOutparam, Scheme};
use wasi::io::streams::StreamError;

/// Fetches `url` and responds with the upstream status and `fetched N bytes: <first 64
/// bytes>`; 502 with the error code's debug text when the request fails, 400 when `url` is
/// not `scheme://authority[/path]`.
pub fn fetch(out: ResponseOutparam, url: &str) {
    let Some((scheme, authority, path)) = split_url(url) else {
        return text(out, 400, &[], b"bad url\n");
    };
    match get(scheme, authority, path) {
        Ok((status, body)) => {
            let head = &body[..body.len().min(64)];
            let mut reply = format!("fetched {} bytes: ", body.len()).into_bytes();
            reply.extend_from_slice(head);
            text(out, status, &[], &reply);
        }
        Err(e) => text(out, 502, &[], format!("{e:?}").as_bytes()),
    }
}

/// `scheme://authority/path?query` split into its scheme, authority and path with query
/// (`/` when empty).
fn split_url(url: &str) -> Option<(Scheme, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.into()),
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return None;
    }
    Some((scheme, authority, if path.is_empty() { "/" } else { path }))
}

/// Makes the GET and returns the upstream status and whole body.
fn get(scheme: Scheme, authority: &str, path: &str) -> Result<(u16, Vec<u8>), ErrorCode> {
    let request = OutgoingRequest::new(Fields::new());
    let invalid = |what: &str| ErrorCode::InternalError(Some(format!("invalid {what}")));
    request
        .set_method(&Method::Get)
        .map_err(|()| invalid("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| invalid("authority"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| invalid("path"))?;
    let future = outgoing_handler::handle(request, None)?;
    let response = loop {
        match future.get() {
            Some(Ok(result)) => break result?,
            Some(Err(())) => return Err(invalid("second get of the response")),
            None => future.subscribe().block(),
        }
    };
    let status = response.status();
    let incoming = response
        .consume()
        .map_err(|()| invalid("second consume of the body"))?;
    let stream = incoming
        .stream()
        .map_err(|()| invalid("second stream of the body"))?;
    let mut body = Vec::new();
    let failed = loop {
        match stream.blocking_read(CHUNK as u64) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break None,
            Err(StreamError::LastOperationFailed(e)) => {
                break Some(outgoing_handler_error(&e));
            }
        }
    };
    drop(stream);
    drop(wasi::http::types::IncomingBody::finish(incoming));
    drop(response);
    drop(future);
    match failed {
        Some(e) => Err(e),
        None => Ok((status, body)),
    }
}

/// The HTTP error code behind a failed body read (`internal-error` with the error's text
/// when the host gives none).
fn outgoing_handler_error(e: &wasi::io::error::Error) -> ErrorCode {
    wasi::http::types::http_error_code(e)
        .unwrap_or_else(|| ErrorCode::InternalError(Some(e.to_debug_string())))
}

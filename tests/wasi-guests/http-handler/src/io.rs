//! Blocking reads and writes over `wasi:io/streams`, in the chunks the host allows.

use wasi::io::streams::{InputStream, OutputStream, StreamError};

/// The next chunk (at most `max` bytes) of `input`, waiting for one; `None` at its end.
/// Panics (a trap) when the stream failed.
pub fn read_chunk(input: &InputStream, max: usize) -> Option<Vec<u8>> {
    loop {
        match input.blocking_read(max as u64) {
            Ok(chunk) if chunk.is_empty() => continue,
            Ok(chunk) => return Some(chunk),
            Err(StreamError::Closed) => return None,
            Err(StreamError::LastOperationFailed(e)) => {
                panic!("reading a body failed: {}", e.to_debug_string())
            }
        }
    }
}

/// Writes all of `data` to `output` (as much at a time as `check-write` permits, waiting for
/// room), then flushes it and waits for the flush. Panics (a trap) when the stream failed or
/// was closed, as it is when the client went away.
pub fn write_all(output: &OutputStream, data: &[u8]) {
    let mut rest = data;
    while !rest.is_empty() {
        let room = loop {
            match output.check_write() {
                Ok(0) => output.subscribe().block(),
                Ok(n) => break usize::try_from(n).unwrap_or(usize::MAX),
                Err(e) => panic!("writing a body failed: {}", describe(e)),
            }
        };
        let n = room.min(rest.len());
        if let Err(e) = output.write(&rest[..n]) {
            panic!("writing a body failed: {}", describe(e));
        }
        rest = &rest[n..];
    }
    if let Err(e) = output.blocking_flush() {
        panic!("flushing a body failed: {}", describe(e));
    }
}

/// The text of a stream error.
fn describe(e: StreamError) -> String {
    match e {
        StreamError::Closed => "the stream is closed".into(),
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
    }
}

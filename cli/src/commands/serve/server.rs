//! The listener and its connections: hyper's automatic HTTP/1.1-or-HTTP/2 connection builder
//! over tokio, a header-read timeout against slow clients, and graceful shutdown on SIGINT or
//! SIGTERM (stop accepting, let requests in flight finish, close idle connections).

use super::request::handle;
use super::Shared;
use anyhow::{Context, Result};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The connection-level limits.
pub(crate) struct Limits {
    /// See [`super::ServeCommand::header_timeout`].
    pub header_timeout: Duration,
    /// See [`super::ServeCommand::shutdown_timeout`].
    pub shutdown_timeout: Duration,
    /// See [`super::ServeCommand::http2`].
    pub http2: bool,
}

/// Listens on `addr` and serves until a shutdown signal; then waits (at most
/// `limits.shutdown_timeout`) for the connections to finish.
pub(crate) async fn serve(addr: SocketAddr, shared: Arc<Shared>, limits: Limits) -> Result<()> {
    // The signal handlers are installed before the address is announced, so a signal sent
    // as soon as the line is seen is a graceful stop.
    let mut signals = Signals::new()?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener
        .local_addr()
        .context("cannot read the listening address")?;
    eprintln!("Serving HTTP on http://{local}/");

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(None);
    if !limits.http2 {
        builder = builder.http1_only();
    }
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a little
                    // rather than spin, and keep serving.
                    eprintln!("kiln serve: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = signals.recv() => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let service = service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(handle(shared, req).await) }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let first_byte = limits.header_timeout;
        let http2 = limits.http2;
        tokio::spawn(async move {
            // hyper's header timeout starts once it reads a request: a client that connects
            // and sends nothing (or half an HTTP/2 preface) is dropped after the same delay.
            if !first_bytes(&stream, first_byte, http2).await {
                return;
            }
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            // Connection errors (a client gone, a malformed request already answered with
            // 400 by hyper, a header timeout) concern that client only.
            let _ = watcher.watch(conn).await;
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_timeout) => {
            eprintln!(
                "kiln serve: connections still open after {:?}; exiting",
                limits.shutdown_timeout
            );
        }
        () = signals.recv() => eprintln!("kiln serve: second signal; exiting now"),
    }
    Ok(())
}

/// The HTTP/2 connection preface (what the automatic builder reads to choose HTTP/2).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Waits (at most `limit`) until the client sent enough for hyper to take over with its own
/// timeouts: a first byte, and with `http2`, when the bytes so far are a prefix of the HTTP/2
/// preface, all of it. `false`: the client sent too little in time, or closed.
async fn first_bytes(stream: &tokio::net::TcpStream, limit: Duration, http2: bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return false,
        };
        if !http2 || n == H2_PREFACE.len() || buf[..n] != H2_PREFACE[..n] {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        // `peek` returns at once while bytes are waiting: poll for more now and then.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// SIGINT and SIGTERM: the first stops accepting, a second ends the wait for connections.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers (from now on these signals no longer kill the process).
    fn new() -> Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    /// Resolves at the next SIGINT or SIGTERM.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

//! `kiln serve`: serves a `wasi:http/incoming-handler` component over HTTP, as `wasmtime
//! serve` does.
//!
//! The component (a `.wasm`/`.wat` compiled on the fly and cached as `kiln run` does, or a
//! kiln `.so`) is checked and linked once ([`ComponentPre`]); every request gets a fresh
//! instance on a blocking worker thread, at most `--max-concurrency` at a time (later requests
//! wait for a free slot). The HTTP side is hyper 1 on a tokio runtime (HTTP/1.1 with
//! keep-alive; with `--http2`, HTTP/2 with prior knowledge too):
//!
//! - `server.rs`: the listener, connections, timeouts of slow clients, graceful shutdown;
//! - `request.rs`: one request: the hyper request as the runtime's `IncomingRequest` (its
//!   body pumped into a pipe), the guest call, and the guest's response back as hyper's.
//!
//! Deadlines: a ticker thread advances the engine's epoch; each instance's store gets a
//! deadline `--request-timeout` after its instantiation, so a handler that loops or blocks
//! too long is interrupted (a 500, or an aborted body if its response head was sent already)
//! and its worker thread comes back.

mod request;
mod server;

use super::guest_args::GuestArgs;
use super::run::{load_component_file, parse_duration};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use kiln_runtime::wasi::WasiConfig;
use kiln_runtime::{ComponentLinker, Engine, EngineConfig};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `kiln serve`.
#[derive(Args, Debug)]
#[command(
    after_help = "Outgoing HTTP requests (wasi:http/outgoing-handler) and sockets are \
    denied unless --inherit-network is given. The guest's stdout and stderr go to the \
    server's; its stdin is empty. A handler that traps before responding gets a 500 (logged \
    on stderr, one line) and the server keeps serving; one that traps after its response head \
    was sent has its response body aborted."
)]
pub struct ServeCommand {
    /// The address to listen on (port 0: a free port; the address is printed on stderr as
    /// `Serving HTTP on http://IP:PORT/`).
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:8080")]
    pub addr: String,
    /// How many requests run at once (one instance and one worker thread each); later ones
    /// wait for a free slot.
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub max_concurrency: usize,
    /// Interrupt a handler that runs longer than this (from its instantiation to the end of
    /// its `handle` call, writing its response body included): a 500, or an aborted body.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Close a connection whose request head is not complete after this long (slow clients),
    /// and idle keep-alive connections after this long.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Fail a request body (the guest sees `connection-read-timeout`) when the client sends
    /// nothing of it for this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// On SIGINT/SIGTERM, wait this long for requests in flight before exiting.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// Also accept HTTP/2 over cleartext with prior knowledge (h2c) on the same port. An
    /// HTTP/2 connection has no header or idle timeout (only its request bodies and handlers
    /// have theirs).
    #[arg(long)]
    pub http2: bool,
    /// The WASI grants and the signature requirement (shared with `kiln run`).
    #[command(flatten)]
    pub guest: GuestArgs,
    /// The component: a kiln `.so`, or a `.wasm`/`.wat` to compile first (cached).
    pub file: PathBuf,
}

/// What every request needs: the linked component and the limits.
pub(crate) struct Shared {
    /// The component, linked with WASI (deadline included).
    pub pre: kiln_runtime::ComponentPre,
    /// Slots for requests running at once.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// See [`ServeCommand::body_timeout`].
    pub body_timeout: Duration,
}

/// How often the deadline ticker advances the engine's epoch, for a request timeout.
fn tick_for(timeout: Duration) -> Duration {
    (timeout / 20).clamp(Duration::from_millis(1), Duration::from_millis(50))
}

/// Whether an export name is `wasi:http/incoming-handler` (any `0.2.x`).
fn is_handler(name: &str) -> bool {
    name.starts_with("wasi:http/incoming-handler@0.2.") || name == "wasi:http/incoming-handler"
}

impl ServeCommand {
    /// Runs the server until SIGINT/SIGTERM; returns the exit status.
    pub fn execute(self) -> Result<i32> {
        if self.max_concurrency == 0 {
            bail!("--max-concurrency must be at least 1");
        }
        for (name, d) in [
            ("--request-timeout", self.request_timeout),
            ("--header-timeout", self.header_timeout),
            ("--body-timeout", self.body_timeout),
        ] {
            if d.is_zero() {
                bail!("{name} must be longer than zero");
            }
        }
        let addr = resolve(&self.addr)?;
        let config = EngineConfig {
            trusted_keys: self.guest.trusted_keys(&self.file, "kiln serve")?,
            ..EngineConfig::default()
        };
        let engine = Engine::new(config);
        let component = load_component_file(&engine, &self.file)?.ok_or_else(|| {
            anyhow!(
                "`{}` is a core module: `kiln serve` serves a component that exports \
                 `wasi:http/incoming-handler`",
                self.file.display()
            )
        })?;
        if !component.exports().iter().any(|e| is_handler(&e.name)) {
            let names: Vec<_> = component
                .exports()
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            bail!(
                "`{}` does not export `wasi:http/incoming-handler` (it exports: {}); \
                 `kiln serve` serves `wasi:http/proxy` components",
                self.file.display(),
                if names.is_empty() {
                    "nothing".to_string()
                } else {
                    names.join(", ")
                }
            );
        }
        if let Some(import) = component
            .imports()
            .iter()
            .find(|i| !i.name.starts_with("wasi:"))
        {
            bail!(
                "the component imports `{}`, which `kiln serve` cannot provide (it provides \
                 WASI 0.2 and wasi:http)",
                import.name
            );
        }
        let mut wasi = WasiConfig::new();
        wasi.stdout = kiln_runtime::wasi::OutputConfig::Inherit;
        wasi.stderr = kiln_runtime::wasi::OutputConfig::Inherit;
        wasi.args(&[self.file.to_string_lossy()]);
        self.guest.grant(&mut wasi)?;

        let tick = tick_for(self.request_timeout);
        // One tick more than the timeout holds: the first tick may come at once.
        let ticks = self.request_timeout.as_nanos().div_ceil(tick.as_nanos()) + 1;
        let mut linker = ComponentLinker::new(&engine);
        linker.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        kiln_runtime::wasi::add_to_linker(&mut linker, wasi);
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("cannot link `{}`", self.file.display()))?;
        start_ticker(&engine, tick)?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(self.max_concurrency.saturating_add(4))
            .thread_name("kiln-serve")
            .build()
            .context("cannot start the server's runtime")?;
        let shared = Arc::new(Shared {
            pre,
            slots: Arc::new(tokio::sync::Semaphore::new(self.max_concurrency)),
            body_timeout: self.body_timeout,
        });
        let limits = server::Limits {
            header_timeout: self.header_timeout,
            shutdown_timeout: self.shutdown_timeout,
            http2: self.http2,
        };
        let result = runtime.block_on(server::serve(addr, shared, limits));
        // Guests still running (a handler past the grace period) are not waited for.
        runtime.shutdown_timeout(Duration::from_millis(100));
        result.map(|()| 0)
    }
}

/// The socket address of `--addr` (a name resolves to its first address).
fn resolve(addr: &str) -> Result<SocketAddr> {
    if let Ok(a) = addr.parse() {
        return Ok(a);
    }
    addr.to_socket_addrs()
        .with_context(|| format!("--addr `{addr}`: expected HOST:PORT"))?
        .next()
        .ok_or_else(|| anyhow!("--addr `{addr}`: the name has no address"))
}

/// Starts the thread that advances `engine`'s epoch every `tick` (for the request deadlines).
fn start_ticker(engine: &Engine, tick: Duration) -> Result<()> {
    let engine = engine.clone();
    std::thread::Builder::new()
        .name("kiln-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(tick);
            engine.increment_epoch();
        })
        .context("cannot start the deadline ticker thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_names() {
        assert_eq!(tick_for(Duration::from_secs(30)), Duration::from_millis(50));
        assert_eq!(
            tick_for(Duration::from_millis(100)),
            Duration::from_millis(5)
        );
        assert_eq!(tick_for(Duration::from_micros(1)), Duration::from_millis(1));
        assert!(is_handler("wasi:http/incoming-handler@0.2.4"));
        assert!(!is_handler("wasi:http/incoming-handler@0.3.0"));
        assert!(!is_handler("wasi:cli/run@0.2.0"));
        assert_eq!(resolve("127.0.0.1:0").unwrap().port(), 0);
        assert!(resolve("nonsense").is_err());
    }
}

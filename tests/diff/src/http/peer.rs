//! The wasmtime side of the `--http` differential and of kiln-bench's http row: an in-process
//! equivalent of `wasmtime serve` (wasmtime 48.0.8 + wasmtime-wasi-http 48.0.8), shared by
//! both crates (kiln-bench includes this file with `#[path]`).
//!
//! Like `wasmtime serve` for a WASIp2 component: an async engine (the pooling allocator when
//! the machine can reserve its address space, as `wasmtime serve` decides by default), the
//! WASI 0.2 and `wasi:http` in a linker (`wasmtime serve -Scli`: the guests' standard
//! libraries import more than the proxy world), one `ProxyPre` made up front, and for every
//! request a fresh store and instance (`wasmtime serve`'s default for p2 components: one
//! request per instance) whose `wasi:http/incoming-handler#handle` runs in its own tokio task
//! while the response head is awaited, on hyper 1's HTTP/1.1 server with keep-alive and
//! `TCP_NODELAY`. A handler that fails before sending a head gets a `500` (`wasmtime serve`'s
//! HTML error page); one that fails after it aborts the body. Guest stdout/stderr are
//! inherited (without `wasmtime serve`'s per-request prefix).

use anyhow::{anyhow, Result};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// What `wasmtime serve` answers when the handler fails before it sets a response.
const ERROR_PAGE: &str = "<!doctype html>\n<html>\n<head>\n    <title>500 Internal Server \
Error</title>\n</head>\n<body>\n    <center>\n        <h1>500 Internal Server Error</h1>\n        \
<hr>\n        wasmtime\n    </center>\n</body>\n</html>";

/// One request's store data.
struct Host {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

/// A running wasmtime-serve equivalent; dropping it stops the server.
pub struct PeerServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeerServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether this machine can reserve the pooling allocator's address space (the test
/// `wasmtime serve` makes before turning the pooling allocator on by default).
fn pooling_fits() -> bool {
    let mut config = Config::new();
    config.wasm_memory64(true);
    config.memory_reservation(1 << 42);
    let Ok(engine) = Engine::new(&config) else {
        return false;
    };
    let mut store = Store::new(&engine, ());
    let ty = wasmtime::MemoryType::new64(0, Some(1 << 26));
    wasmtime::Memory::new(&mut store, ty).is_ok()
}

/// The engine `wasmtime serve` would use by default.
fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    if pooling_fits() {
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::pooling());
        if let Ok(engine) = Engine::new(&config) {
            return Ok(engine);
        }
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::OnDemand);
    }
    wt(Engine::new(&config), "creating the engine")
}

/// A wasmtime error as an `anyhow` one, with `what` before it.
fn wt<T>(r: wasmtime::Result<T>, what: &str) -> Result<T> {
    r.map_err(|e| anyhow!("{what}: {e:?}"))
}

/// Compiles `wasm` and serves it on `addr` (port 0: a free one) until the returned server is
/// dropped. `workers` is the number of tokio worker threads (0: one per core, as
/// `wasmtime serve`).
pub fn start(wasm: &Path, addr: SocketAddr, workers: usize) -> Result<PeerServer> {
    let engine = engine()?;
    let component = wt(
        Component::from_file(&engine, wasm),
        &format!("compiling {}", wasm.display()),
    )?;
    let mut linker = Linker::<Host>::new(&engine);
    // `wasmtime serve -Scli`: all of WASI 0.2 (the guests' standard libraries import
    // `wasi:cli/environment`, `wasi:filesystem`, ...) and wasi:http.
    wt(
        wasmtime_wasi::p2::add_to_linker_async(&mut linker),
        "linking WASI",
    )?;
    wt(
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker),
        "linking wasi:http",
    )?;
    let pre = wt(linker.instantiate_pre(&component), "linking the component")?;
    let pre = wt(ProxyPre::new(pre), "the component is not a wasi:http/proxy")?;
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_io().enable_time();
    if workers > 0 {
        rt.worker_threads(workers);
    }
    let rt = rt.build()?;
    let listener = rt.block_on(async {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(1024)
    })?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let pre = Arc::new(pre);
    let thread = std::thread::Builder::new()
        .name("wasmtime-serve".into())
        .spawn(move || {
            rt.block_on(async move {
                loop {
                    let (stream, _) = tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => match accepted {
                            Ok(a) => a,
                            Err(_) => continue,
                        },
                    };
                    let _ = stream.set_nodelay(true);
                    let pre = pre.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let pre = pre.clone();
                            async move {
                                Ok::<_, std::convert::Infallible>(match handle(&pre, req).await {
                                    Ok(r) => r,
                                    Err(e) => {
                                        eprintln!(
                                            "wasmtime-serve peer: 500 for a failed handler: {}",
                                            last_line(&format!("{e:#}"))
                                        );
                                        error_response()
                                    }
                                })
                            }
                        });
                        let _ = http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            // In-flight connections end with the runtime.
            rt.shutdown_background();
        })?;
    Ok(PeerServer {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// The last non-empty line of an error report (its root cause, without the backtrace).
fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// The `500` response of a handler that failed before setting one.
fn error_response() -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(bytes::Bytes::from_static(ERROR_PAGE.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut r = hyper::Response::new(body);
    *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}

/// Runs one request in a fresh instance; the response once the guest has set its head.
async fn handle(
    pre: &ProxyPre<Host>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<HyperOutgoingBody>> {
    let mut store = Store::new(
        pre.engine(),
        Host {
            table: ResourceTable::new(),
            wasi: WasiCtx::builder().inherit_stdout().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
        },
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    let req = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)?;
    let out = store.data_mut().http().new_response_outparam(tx)?;
    let pre = pre.clone();
    // The handler runs on in its own task after the head is sent (it streams the body).
    let task = tokio::task::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, req, out)
            .await
    });
    match rx.await {
        Ok(Ok(response)) => {
            // A failure after the head only shows in the body; say so on stderr.
            tokio::spawn(async move {
                if let Ok(Err(e)) = task.await {
                    eprintln!(
                        "wasmtime-serve peer: the handler failed after its response head: {}",
                        last_line(&format!("{e:?}"))
                    );
                }
            });
            Ok(response)
        }
        Ok(Err(code)) => Err(anyhow!("the handler set an error response: {code:?}")),
        Err(_) => match task.await {
            Ok(Ok(())) => Err(anyhow!("the handler returned without setting a response")),
            Ok(Err(e)) => Err(anyhow!("{e:?}").context("the handler failed before a response")),
            Err(e) => Err(anyhow!("the handler task failed: {e}")),
        },
    }
}

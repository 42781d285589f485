//! A native WASI 0.2 host for components: `wasi:cli`, `wasi:io`, `wasi:clocks`,
//! `wasi:random`, `wasi:filesystem`, `wasi:sockets` and `wasi:http` (types, outgoing-handler, and
//! the host side of incoming-handler: [`http::handle_request`]), added to a [`ComponentLinker`] with a
//! per-host [`WasiConfig`] (arguments, environment, preopened directories, network permission,
//! stdio). Each instance gets its own [`WasiState`] (its open files, streams and sockets),
//! dropped with the instance.
//!
//! Every WASI resource the guest holds is a host handle whose representation indexes the
//! instance's [`Table`]; the resource destructors registered here remove the object when the
//! guest drops its handle. Blocking calls block the calling thread (a guest runs on one).
//!
//! - `streams.rs`: the stream and readiness traits every stream kind implements;
//! - `io.rs`: `wasi:io/{error,poll,streams}`; `cli.rs`: `wasi:cli/*` and the stdio streams;
//! - `clocks.rs`, `random.rs`; `filesystem.rs` (`filesystem3.rs`: its 0.3 interface); `sockets/`: `wasi:sockets/*`; `http/`:
//!   `wasi:http/*`.

mod cli;
mod cli3;
mod clocks;
mod filesystem;
mod filesystem3;
pub mod http;
mod io;
mod random;
mod signatures;
mod sockets;
mod streams;
mod table;
mod val;

pub use streams::{
    ErrorObj, InputObj, InputStream, IoError, OutputObj, OutputStream, PollableObj, Readiness,
    StreamError,
};
pub use table::Table;
pub use val::*;

use crate::component::{ComponentInstance, ComponentLinker, HostArgs, HostCx, HostResult, Val};
use crate::error::{Error, Trap};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The WASI version the host defines its functions under (any `0.2.x` import matches).
pub const VERSION: &str = "0.2.12";

/// Where the guest's stdin comes from.
#[derive(Debug, Default)]
pub enum StdinConfig {
    /// The host process's stdin.
    Inherit,
    /// Nothing: reads see the end of the stream at once.
    #[default]
    Null,
    /// These bytes, then the end of the stream.
    Bytes(Vec<u8>),
    /// A file descriptor the host hands over (closed with the instance).
    Fd(OwnedFd),
}

/// Where the guest's stdout or stderr goes.
#[derive(Debug, Default)]
pub enum OutputConfig {
    /// The host process's stdout (for stdout) or stderr (for stderr).
    Inherit,
    /// Discarded (writes succeed).
    #[default]
    Null,
    /// Appended to a shared buffer the host reads afterwards.
    Buffer(OutputBuffer),
    /// A file descriptor the host hands over (closed with the instance).
    Fd(OwnedFd),
}

/// A byte buffer shared between the host and a guest's output stream.
#[derive(Clone, Debug, Default)]
pub struct OutputBuffer(pub Arc<Mutex<Vec<u8>>>);

impl OutputBuffer {
    /// A new empty buffer.
    pub fn new() -> OutputBuffer {
        OutputBuffer::default()
    }

    /// A copy of what was written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A host directory the guest sees under a guest path.
#[derive(Clone, Debug)]
pub struct Preopen {
    /// The directory on the host.
    pub host: PathBuf,
    /// Its name in the guest (`wasi:filesystem/preopens#get-directories`).
    pub guest: String,
    /// Whether the guest may only read (writes fail with `read-only`/`not-permitted`).
    pub read_only: bool,
}

/// What a host grants a WASI guest.
#[derive(Debug, Default)]
pub struct WasiConfig {
    /// Program arguments (`wasi:cli/environment#get-arguments`), the program name first.
    pub args: Vec<String>,
    /// Environment variables (`get-environment`).
    pub env: Vec<(String, String)>,
    /// The initial working directory the guest is told (`initial-cwd`), if any.
    pub cwd: Option<String>,
    /// Preopened directories.
    pub preopens: Vec<Preopen>,
    /// Whether the guest may use the network (`wasi:sockets`); otherwise every network
    /// operation (bind, connect, listen, name lookups) fails with `access-denied`.
    pub network: bool,
    /// Stdin.
    pub stdin: StdinConfig,
    /// Stdout.
    pub stdout: OutputConfig,
    /// Stderr.
    pub stderr: OutputConfig,
}

impl WasiConfig {
    /// A configuration granting nothing: no arguments, environment, directories or network;
    /// stdin empty, stdout and stderr discarded.
    pub fn new() -> WasiConfig {
        WasiConfig::default()
    }

    /// Inherits the host process's stdin, stdout and stderr.
    pub fn inherit_stdio(&mut self) -> &mut Self {
        self.stdin = StdinConfig::Inherit;
        self.stdout = OutputConfig::Inherit;
        self.stderr = OutputConfig::Inherit;
        self
    }

    /// Sets the program arguments (the program name first).
    pub fn args<S: AsRef<str>>(&mut self, args: &[S]) -> &mut Self {
        self.args = args.iter().map(|a| a.as_ref().to_string()).collect();
        self
    }

    /// Adds an environment variable.
    pub fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Preopens host directory `host` as guest path `guest`.
    pub fn preopen_dir(
        &mut self,
        host: impl Into<PathBuf>,
        guest: &str,
        read_only: bool,
    ) -> &mut Self {
        self.preopens.push(Preopen {
            host: host.into(),
            guest: guest.to_string(),
            read_only,
        });
        self
    }

    /// Grants (or withdraws) network access.
    pub fn inherit_network(&mut self, allow: bool) -> &mut Self {
        self.network = allow;
        self
    }
}

/// One instance's WASI state: its configuration and the objects behind its handles.
pub struct WasiState {
    /// The configuration (shared by the instances of one linker).
    pub config: Arc<WasiConfig>,
    /// Objects behind the guest's WASI handles (shared with host helper threads that make
    /// objects, like a 0.3 TCP listener's accept loop).
    pub table: Arc<Mutex<Table>>,
    /// Opened preopens: (directory object representation, guest name), made at instantiation.
    pub preopens: Vec<(u32, String)>,
    /// The stdio streams of this instance, made at instantiation (`cli.rs`).
    pub stdio: cli::Stdio,
    /// Origin of the monotonic clock.
    pub started: Instant,
}

impl WasiState {
    /// Makes an instance's state: opens the preopened directories and stdio.
    pub fn new(config: Arc<WasiConfig>) -> Result<WasiState, Error> {
        let mut table = Table::default();
        let preopens = filesystem::open_preopens(&config, &mut table)?;
        let stdio = cli::Stdio::new(&config)?;
        Ok(WasiState {
            config,
            table: Arc::new(Mutex::new(table)),
            preopens,
            stdio,
            started: Instant::now(),
        })
    }

    /// Locks the table.
    pub fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Adds WASI 0.2 to `linker`: every instance it makes gets a [`WasiState`] for `config`.
/// The stdio of [`OutputConfig::Fd`]/[`StdinConfig::Fd`] and buffers are shared by all
/// instances of the linker.
pub fn add_to_linker(linker: &mut ComponentLinker, config: WasiConfig) -> &mut ComponentLinker {
    add_to_linker_shared(linker, Arc::new(config))
}

/// [`add_to_linker`] with a configuration shared with other linkers.
pub fn add_to_linker_shared(
    linker: &mut ComponentLinker,
    config: Arc<WasiConfig>,
) -> &mut ComponentLinker {
    linker.instance_state(move || WasiState::new(config.clone()));
    io::add(linker);
    cli::add(linker);
    cli3::add(linker);
    clocks::add(linker);
    random::add(linker);
    filesystem::add(linker);
    filesystem3::add(linker);
    sockets::add(linker);
    http::add(linker);
    linker
}

/// The full import path of function (or resource) `name` in WASI interface `iface`
/// (`"io/streams"` → `wasi:io/streams@0.2.12#name`).
pub fn path(iface: &str, name: &str) -> String {
    if iface.contains('@') {
        // A versioned interface (`"cli/stdout@0.3.0"`, see [`VERSION_3`]).
        format!("wasi:{iface}#{name}")
    } else {
        format!("wasi:{iface}@{VERSION}#{name}")
    }
}

/// The WASI 0.3 version the host defines its 0.3 functions under (any `0.3.x` import
/// matches); interfaces named with it (`"cli/stdout@0.3.0"`) are the 0.3 ones.
pub const VERSION_3: &str = "0.3.0";

/// Interface `iface` (`"cli/stdout"`) of WASI 0.2 (`p3 == false`) or 0.3, as [`path`] takes it.
pub(crate) fn versioned(iface: &str, p3: bool) -> String {
    if p3 {
        format!("{iface}@{VERSION_3}")
    } else {
        iface.to_string()
    }
}

/// Defines WASI function `name` of interface `iface` (`"io/streams"`) with a closure over
/// the calling instance's [`WasiState`].
pub(crate) fn define(
    linker: &mut ComponentLinker,
    iface: &str,
    name: &str,
    f: impl Fn(&HostCx<'_>, &WasiState, &[Val]) -> Result<Option<Val>, Trap> + Send + Sync + 'static,
) {
    let path = path(iface, name);
    if let Some(ty) = signatures::signature(&path) {
        linker.func_type(&path, ty.clone());
    }
    linker.func_cx(&path, move |cx, args| {
        let st = cx.state::<WasiState>()?;
        f(cx, st, args)
    });
}

/// Defines WASI function `name` of interface `iface` over the host C representation (the
/// byte-list fast path: `list<u8>` arguments read in place from guest memory, `list<u8>`
/// results written as one block, no [`Val`] per byte).
pub(crate) fn define_raw(
    linker: &mut ComponentLinker,
    iface: &str,
    name: &str,
    f: impl Fn(&HostCx<'_>, &WasiState, &HostArgs<'_>, &mut HostResult<'_>) -> Result<(), Trap>
        + Send
        + Sync
        + 'static,
) {
    let path = path(iface, name);
    if let Some(ty) = signatures::signature(&path) {
        linker.func_type(&path, ty.clone());
    }
    linker.func_raw(&path, move |cx, args, result| {
        let st = cx.state::<WasiState>()?;
        f(cx, st, args, result)
    });
}

/// Registers the destructor of WASI resource `name` of `iface`: it removes the object of
/// type `T` from the table.
pub(crate) fn define_resource<T: Send + 'static>(
    linker: &mut ComponentLinker,
    iface: &str,
    name: &str,
) {
    let what = format!("{iface}#{name}");
    linker.resource_dtor(&path(iface, name), move |cx, rep| {
        let st = cx.state::<WasiState>()?;
        let obj = st.table().remove::<T>(rep, &what)?;
        drop(obj);
        Ok(())
    });
}

/// The `wasi:cli/run` interface name `instance` exports (any `0.2.x` or `0.3.x` version), if
/// any.
pub fn run_export(instance: &ComponentInstance) -> Option<String> {
    instance
        .exports()
        .iter()
        .map(|e| e.name.as_str())
        .find(|n| {
            n.starts_with("wasi:cli/run@0.2.")
                || n.starts_with("wasi:cli/run@0.3.")
                || *n == "wasi:cli/run"
        })
        .map(str::to_string)
}

/// Runs a command: calls `wasi:cli/run#run` of `instance` and returns the exit status the
/// program chose: 0 for `ok`, 1 for `err`, or the status it passed to `wasi:cli/exit`.
/// A trap is an error (the instance must not be used again). A 0.3 command's `run` is an
/// `async` function: the call runs the instance's tasks until `run` returns.
pub fn run_command(instance: &ComponentInstance) -> Result<i32, Error> {
    let iface = run_export(instance).ok_or_else(|| {
        Error::Link("the component does not export `wasi:cli/run` (it is not a command)".into())
    })?;
    let run = instance
        .get_func(&format!("{iface}#run"))
        .ok_or_else(|| Error::Link(format!("`{iface}` does not export a function `run`")))?;
    match instance.call_func(&run, &[]) {
        Ok(Some(Val::Result(Ok(_)))) => Ok(0),
        Ok(Some(Val::Result(Err(_)))) => Ok(1),
        Ok(other) => Err(Error::Other(format!(
            "`{iface}#run` returned {other:?}, expected a result"
        ))),
        Err(Error::Trap(t)) => match t.exit_status {
            Some(status) => Ok(status),
            None => Err(Error::Trap(t)),
        },
        Err(e) => Err(e),
    }
}

//! Running one WASI program under each runtime: wasmtime 48.0.8 with wasmtime-wasi's p2 sync
//! host (its p3 host for WASI 0.3 commands, those exporting `wasi:cli/run@0.3.x`), and kiln
//! (component compiled to a `.so` by `kiln_compiler`, WASI from `kiln_runtime::wasi`). Both
//! get the same arguments, environment, stdin and preopens (into their own copy of the host
//! tree); stdout and stderr go to memory buffers.
//!
//! Each run happens on its own thread with a deadline, so a guest (or host) that hangs is
//! reported instead of stopping the whole differential run.

use super::spec::Program;
use crate::types::V;
use anyhow::{anyhow, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// How a run ended.
#[derive(Clone, Debug)]
pub enum Status {
    /// The command finished with this exit status (0 ok, 1 err, or `wasi:cli/exit`'s code).
    Exit(i32),
    /// An invoked function returned this value (`None`: no result), printed in WAVE.
    Returned(Option<V>, String),
    /// The guest trapped (messages differ between runtimes, only the fact is compared).
    Trap(String),
    /// The host failed to instantiate or run it (never expected: always a difference).
    HostError(String),
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
}

impl Outcome {
    /// The outcome of a run the host could not make.
    pub fn host_error(e: anyhow::Error) -> Outcome {
        Outcome {
            status: Status::HostError(format!("{e:#}")),
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }
}

/// Longest a single run may take before it is reported as hung.
const DEADLINE: Duration = Duration::from_secs(120);
/// Capacity of wasmtime's memory pipes (a guest writing more sees a failed stream).
const PIPE_CAPACITY: usize = 64 << 20;

/// Runs `f` on a thread with a big stack and returns its outcome, or a host error after
/// [`DEADLINE`] (the thread is left behind) or if it panicked.
fn on_thread(what: &str, f: impl FnOnce() -> Outcome + Send + 'static) -> Outcome {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(what.to_string())
        .stack_size(64 << 20)
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        return Outcome::host_error(anyhow!("cannot spawn a thread: {e}"));
    }
    match rx.recv_timeout(DEADLINE) {
        Ok(Ok(o)) => o,
        Ok(Err(p)) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Outcome::host_error(anyhow!("{what} panicked: {msg}"))
        }
        Err(_) => Outcome::host_error(anyhow!("{what} did not finish within {DEADLINE:?}")),
    }
}

// ---------------------------------------------------------------------------------------
// wasmtime

/// The wasmtime store data: the WASI context and its resource table.
struct WasmtimeHost {
    ctx: wasmtime_wasi::WasiCtx,
    table: wasmtime_wasi::ResourceTable,
}

impl wasmtime_wasi::WasiView for WasmtimeHost {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Loads `wasm` for wasmtime, from a serialized artifact in `cache` when one exists for the
/// same bytes and engine configuration (wasmtime is pinned, so its output never changes);
/// the flag says whether the artifact was reused.
pub fn wasmtime_load(
    engine: &wasmtime::Engine,
    wasm: &[u8],
    cache: &Path,
) -> Result<(wasmtime::component::Component, bool)> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    wasm.hash(&mut h);
    engine.precompile_compatibility_hash().hash(&mut h);
    let file = cache.join(format!("{:016x}.cwasm", h.finish()));
    if file.exists() {
        // SAFETY: the file was written by `Component::serialize` of this same pinned wasmtime
        // with the same engine configuration (both in the file name's hash), under the
        // user's cache directory.
        if let Ok(c) = unsafe { wasmtime::component::Component::deserialize_file(engine, &file) } {
            return Ok((c, true));
        }
    }
    let c = wasmtime::component::Component::new(engine, wasm)
        .map_err(|e| anyhow!("wasmtime compile: {e:#}"))?;
    if let Ok(bytes) = c.serialize() {
        let _ = std::fs::create_dir_all(cache);
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, &file);
        }
    }
    Ok((c, false))
}

/// Runs `p` under wasmtime with host root `root`.
pub fn wasmtime_run(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
    p: &Program,
    root: &Path,
) -> Outcome {
    let (engine, component, p, root) = (
        engine.clone(),
        component.clone(),
        p.clone(),
        root.to_path_buf(),
    );
    on_thread("wasmtime", move || {
        let stdout = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(PIPE_CAPACITY);
        let stderr = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(PIPE_CAPACITY);
        let status = wasmtime_status(&engine, &component, &p, &root, &stdout, &stderr)
            .unwrap_or_else(|e| Status::HostError(format!("{e:#}")));
        Outcome {
            status,
            stdout: stdout.contents().to_vec(),
            stderr: stderr.contents().to_vec(),
        }
    })
}

fn wasmtime_status(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
    p: &Program,
    root: &Path,
    stdout: &wasmtime_wasi::p2::pipe::MemoryOutputPipe,
    stderr: &wasmtime_wasi::p2::pipe::MemoryOutputPipe,
) -> Result<Status> {
    let mut b = wasmtime_wasi::WasiCtxBuilder::new();
    b.args(&p.args).envs(&p.env);
    b.stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(
        p.stdin.clone(),
    ));
    if p.stdout_closed {
        b.stdout(wasmtime_wasi::p2::pipe::ClosedOutputStream);
    } else {
        b.stdout(stdout.clone());
    }
    b.stderr(stderr.clone());
    for (dir, guest, ro) in &p.preopens {
        let perms = if *ro {
            wasmtime_wasi::FsPerms::ReadOnly
        } else {
            wasmtime_wasi::FsPerms::ReadWrite
        };
        b.preopened_dir(root.join(dir), guest, perms)
            .map_err(|e| anyhow!("wasmtime preopen {dir}: {e:#}"))?;
    }
    // As `wasmtime run` sets it up: TCP and UDP allowed but every address refused, unless
    // the network is inherited (`-S inherit-network -S allow-ip-name-lookup`).
    b.allow_tcp(true).allow_udp(true);
    if p.network {
        b.inherit_network().allow_ip_name_lookup(true);
    }
    let host = WasmtimeHost {
        ctx: b.build(),
        table: wasmtime_wasi::ResourceTable::new(),
    };
    let mut store = wasmtime::Store::new(engine, host);
    if p.invoke.is_none() && is_wasi03_command(engine, component) {
        return wasmtime_p3_command(store, engine, component);
    }
    let mut linker = wasmtime::component::Linker::<WasmtimeHost>::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| anyhow!("{e:#}"))?;
    match &p.invoke {
        None => {
            let cmd = wasmtime_wasi::p2::bindings::sync::Command::instantiate(
                &mut store, component, &linker,
            )
            .map_err(|e| anyhow!("wasmtime instantiate: {e:#}"))?;
            Ok(match cmd.wasi_cli_run().call_run(&mut store) {
                Ok(Ok(())) => Status::Exit(0),
                Ok(Err(())) => Status::Exit(1),
                Err(e) => trap_or_exit(e),
            })
        }
        Some(call) => {
            let instance = linker
                .instantiate(&mut store, component)
                .map_err(|e| anyhow!("wasmtime instantiate: {e:#}"))?;
            let (func, params) = wasmtime_invoke_args(&mut store, &instance, call)?;
            let mut results =
                vec![wasmtime::component::Val::Bool(false); func.ty(&store).results().len()];
            // Called on an executor, as wasmtime requires for an async-lifted export, and for
            // a synchronous one that may wait on a subtask (an async lowering in a composed
            // component: wasmtime's synchronous `call` panics when it suspends). Synchronous
            // exports of components with imports are called synchronously: wasmtime-wasi's
            // synchronous host blocks on a runtime of its own, which cannot run inside ours.
            let no_imports = component.component_type().imports(engine).next().is_none();
            let called = if func.ty(&store).async_() || no_imports {
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .map_err(|e| anyhow!("tokio runtime: {e}"))?
                    .block_on(func.call_async(&mut store, &params, &mut results))
            } else {
                func.call(&mut store, &params, &mut results)
            };
            Ok(match called {
                Ok(()) => {
                    let wave = results
                        .first()
                        .map(|r| {
                            wasmtime::component::wasm_wave::to_string(r)
                                .unwrap_or_else(|e| format!("<{e}>"))
                        })
                        .unwrap_or_default();
                    let v = results
                        .first()
                        .map(crate::runners::from_wasmtime)
                        .transpose()?;
                    Status::Returned(v, wave)
                }
                Err(e) => trap_or_exit(e),
            })
        }
    }
}

/// How a wasmtime error ends a run: `wasi:cli/exit`'s status, or a trap.
fn trap_or_exit(e: wasmtime::Error) -> Status {
    match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        Some(exit) => Status::Exit(exit.0),
        None => Status::Trap(format!("{e:#}")),
    }
}

/// Whether `component` is a WASI 0.3 command: it exports `wasi:cli/run@0.3.x`.
fn is_wasi03_command(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> bool {
    component
        .component_type()
        .exports(engine)
        .any(|(name, _)| name.starts_with("wasi:cli/run@0.3."))
}

/// Runs a WASI 0.3 command with wasmtime-wasi's p3 host (the same `WasiCtx`, so the same
/// arguments, environment, stdin and output pipes as a 0.2 command). wasmtime requires an
/// executor: the component is instantiated with `instantiate_async` and its async `run`
/// called inside `run_concurrent`, on a current-thread tokio runtime (with its timer, which
/// `monotonic-clock.wait-for` uses). WASI 0.2 imports, if the component has any, are served
/// by the async p2 host.
fn wasmtime_p3_command(
    mut store: wasmtime::Store<WasmtimeHost>,
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> Result<Status> {
    let mut linker = wasmtime::component::Linker::<WasmtimeHost>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow!("{e:#}"))?;
    wasmtime_wasi::p3::add_to_linker(&mut linker).map_err(|e| anyhow!("{e:#}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow!("tokio runtime: {e}"))?;
    let ran = runtime.block_on(async {
        let command =
            wasmtime_wasi::p3::bindings::Command::instantiate_async(&mut store, component, &linker)
                .await
                .map_err(|e| anyhow!("wasmtime instantiate: {e:#}"))?;
        let ran = store
            .run_concurrent(async move |accessor| command.wasi_cli_run().call_run(accessor).await)
            .await;
        Ok::<_, anyhow::Error>(ran)
    })?;
    // `run_concurrent`'s own error (a trap, `exit`) or `run`'s.
    Ok(match ran.and_then(|r| r) {
        Ok(Ok(())) => Status::Exit(0),
        Ok(Err(())) => Status::Exit(1),
        Err(e) => trap_or_exit(e),
    })
}

/// Splits WAVE call `iface#f(args)` into `iface#` and `f(args)` (WAVE's call syntax has no
/// interface names: `kiln:compose/tasks` is not a WAVE label); a call without `#` before its
/// arguments has an empty first part.
fn split_interface(call: &str) -> (&str, &str) {
    let head = call.find('(').map_or(call, |p| &call[..p]);
    match head.rfind('#') {
        Some(i) => call.split_at(i + 1),
        None => ("", call),
    }
}

/// The function and typed parameters of WAVE call `call` (`f(args)` or `iface#f(args)`).
fn wasmtime_invoke_args(
    store: &mut wasmtime::Store<WasmtimeHost>,
    instance: &wasmtime::component::Instance,
    call: &str,
) -> Result<(wasmtime::component::Func, Vec<wasmtime::component::Val>)> {
    use wasmtime::component::wasm_wave::untyped::UntypedFuncCall;
    let (iface, call) = split_interface(call);
    let parsed = UntypedFuncCall::parse(call).map_err(|e| anyhow!("bad call {call:?}: {e}"))?;
    let name = format!("{iface}{}", parsed.name());
    let func = match name.split_once('#') {
        None => instance.get_func(&mut *store, &name),
        Some((iface, f)) => {
            let i = instance
                .get_export_index(&mut *store, None, iface)
                .ok_or_else(|| anyhow!("no export {iface}"))?;
            let fi = instance
                .get_export_index(&mut *store, Some(&i), f)
                .ok_or_else(|| anyhow!("no export {name}"))?;
            instance.get_func(&mut *store, fi)
        }
    }
    .ok_or_else(|| anyhow!("no exported function {name}"))?;
    let types: Vec<_> = func.ty(&*store).params().map(|(_, t)| t).collect();
    let params = parsed
        .to_wasm_params(types.iter())
        .map_err(|e| anyhow!("arguments of {call:?}: {e}"))?;
    Ok((func, params))
}

/// The function name and parameters of `call` as runtime-neutral values (typed by wasmtime's
/// view of the component, which kiln must agree with).
fn neutral_params(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
    call: &str,
) -> Result<(String, Vec<V>)> {
    use wasmtime::component::types::ComponentItem;
    use wasmtime::component::wasm_wave::untyped::UntypedFuncCall;
    let (iface, call) = split_interface(call);
    let parsed = UntypedFuncCall::parse(call).map_err(|e| anyhow!("bad call {call:?}: {e}"))?;
    let name = format!("{iface}{}", parsed.name());
    let ty = component.component_type();
    let mut item = None;
    let mut exports: Vec<(String, ComponentItem)> = ty
        .exports(engine)
        .map(|(n, e)| (n.to_string(), e.ty))
        .collect();
    for part in name.split('#') {
        let found = exports
            .iter()
            .find(|(n, _)| n == part)
            .map(|(_, i)| i.clone());
        let Some(found) = found else {
            return Err(anyhow!("no export {name}"));
        };
        if let ComponentItem::ComponentInstance(inst) = &found {
            exports = inst
                .exports(engine)
                .map(|(n, e)| (n.to_string(), e.ty))
                .collect();
        }
        item = Some(found);
    }
    let Some(ComponentItem::ComponentFunc(f)) = item else {
        return Err(anyhow!("export {name} is not a function"));
    };
    let types: Vec<_> = f.params().map(|(_, t)| t).collect();
    let params: Vec<wasmtime::component::Val> = parsed
        .to_wasm_params(types.iter())
        .map_err(|e| anyhow!("arguments of {call:?}: {e}"))?;
    let params = params
        .iter()
        .map(crate::runners::from_wasmtime)
        .collect::<Result<_>>()?;
    Ok((name, params))
}

// ---------------------------------------------------------------------------------------
// kiln

/// A component compiled by kiln and loaded.
pub struct KilnLoaded {
    engine: kiln_runtime::Engine,
    component: kiln_runtime::Component,
    so: PathBuf,
}

impl Drop for KilnLoaded {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.so);
    }
}

/// Compiles `wasm` with kiln into `so` and loads it.
pub fn kiln_load(engine: &kiln_runtime::Engine, wasm: &[u8], so: &Path) -> Result<KilnLoaded> {
    kiln_compiler::compile_to_file(wasm, &Default::default(), kiln_compiler::Emit::So, so)
        .map_err(|e| anyhow!("kiln compile: {e}"))?;
    let component =
        kiln_runtime::Component::load(engine, so).map_err(|e| anyhow!("kiln load: {e}"))?;
    Ok(KilnLoaded {
        engine: engine.clone(),
        component,
        so: so.to_path_buf(),
    })
}

/// Runs `p` under kiln with host root `root`; `wasmtime` types an `invoke` call's arguments.
pub fn kiln_run(
    k: &KilnLoaded,
    p: &Program,
    root: &Path,
    wasmtime: (&wasmtime::Engine, &wasmtime::component::Component),
) -> Outcome {
    let invoke = match &p.invoke {
        None => None,
        Some(call) => match neutral_params(wasmtime.0, wasmtime.1, call) {
            Ok(x) => Some(x),
            Err(e) => return Outcome::host_error(e),
        },
    };
    let (engine, component, p, root) = (
        k.engine.clone(),
        k.component.clone(),
        p.clone(),
        root.to_path_buf(),
    );
    on_thread("kiln", move || {
        use kiln_runtime::wasi::{OutputBuffer, OutputConfig, StdinConfig, WasiConfig};
        let stdout = OutputBuffer::new();
        let stderr = OutputBuffer::new();
        let mut cfg = WasiConfig::new();
        cfg.args(&p.args);
        for (k, v) in &p.env {
            cfg.env(k, v);
        }
        for (dir, guest, ro) in &p.preopens {
            cfg.preopen_dir(root.join(dir), guest, *ro);
        }
        cfg.inherit_network(p.network);
        cfg.stdin = StdinConfig::Bytes(p.stdin.clone());
        cfg.stdout = if p.stdout_closed {
            match closed_pipe() {
                Ok(fd) => OutputConfig::Fd(fd),
                Err(e) => return Outcome::host_error(e),
            }
        } else {
            OutputConfig::Buffer(stdout.clone())
        };
        cfg.stderr = OutputConfig::Buffer(stderr.clone());
        let status = kiln_status(&engine, &component, cfg, invoke)
            .unwrap_or_else(|e| Status::HostError(format!("{e:#}")));
        Outcome {
            status,
            stdout: stdout.contents(),
            stderr: stderr.contents(),
        }
    })
}

/// The write end of a pipe whose read end is already closed (writes fail with `EPIPE`).
fn closed_pipe() -> Result<std::os::fd::OwnedFd> {
    let (reader, writer) = std::io::pipe().context("pipe")?;
    drop(reader);
    Ok(writer.into())
}

fn kiln_status(
    engine: &kiln_runtime::Engine,
    component: &kiln_runtime::Component,
    cfg: kiln_runtime::wasi::WasiConfig,
    invoke: Option<(String, Vec<V>)>,
) -> Result<Status> {
    let mut linker = kiln_runtime::ComponentLinker::new(engine);
    kiln_runtime::wasi::add_to_linker(&mut linker, cfg);
    let instance = linker
        .instantiate(component)
        .map_err(|e| anyhow!("kiln instantiate: {e}"))?;
    let trap_or_exit = |t: kiln_runtime::Trap| match t.exit_status {
        Some(code) => Status::Exit(code),
        None => Status::Trap(t.message),
    };
    match invoke {
        None => Ok::<_, anyhow::Error>(match kiln_runtime::wasi::run_command(&instance) {
            Ok(code) => Status::Exit(code),
            Err(kiln_runtime::Error::Trap(t)) => trap_or_exit(t),
            Err(e) => Status::HostError(format!("kiln run: {e}")),
        }),
        Some((name, params)) => {
            let args: Vec<_> = params.iter().map(crate::runners::to_kiln).collect();
            Ok(match instance.call(&name, &args) {
                Ok(r) => {
                    let v = r.as_ref().map(crate::runners::from_kiln).transpose()?;
                    let wave = v
                        .as_ref()
                        .map(|v| {
                            wasmtime::component::wasm_wave::to_string(&crate::runners::to_wasmtime(
                                v,
                            ))
                            .unwrap_or_else(|e| format!("<{e}>"))
                        })
                        .unwrap_or_default();
                    Status::Returned(v, wave)
                }
                Err(kiln_runtime::Error::Trap(t)) => trap_or_exit(t),
                Err(e) => Status::HostError(format!("kiln call {name}: {e}")),
            })
        }
    }
    .context("kiln")
}

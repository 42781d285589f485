//! The component inputs a host loads as plugins (the componentize-js, componentize-py and Rust
//! components, which import WASI, and the three-module WAT component, which imports nothing),
//! with the same host setup on both sides: kiln's `ComponentLinker` with its WASI 0.2 host
//! (`kiln_runtime::wasi::add_to_linker`, nothing granted: no arguments, environment,
//! directories or network, stdio empty/discarded), and wasmtime's `component::Linker` with
//! `wasmtime_wasi::p2::add_to_linker_sync` and a default `WasiCtx` per store.

use crate::engines::Kx;
use anyhow::{bail, Context, Result};
use kiln_runtime::{Component, ComponentInstance, ComponentLinker};
use std::path::PathBuf;

/// The first call a host makes into a plugin.
#[derive(Clone, Copy, Debug)]
pub enum FirstCall {
    /// `greet(string) -> string` (the JS and Rust components).
    Greet,
    /// `summarize(u32) -> string` (the Python component).
    Summarize,
    /// `len(string) -> u32` (the WAT component).
    Len,
}

impl FirstCall {
    /// The name used on the child's command line.
    pub fn as_str(self) -> &'static str {
        match self {
            FirstCall::Greet => "greet",
            FirstCall::Summarize => "summarize",
            FirstCall::Len => "len",
        }
    }

    /// Parses [`FirstCall::as_str`].
    pub fn parse(s: &str) -> Result<FirstCall> {
        Ok(match s {
            "greet" => FirstCall::Greet,
            "summarize" => FirstCall::Summarize,
            "len" => FirstCall::Len,
            other => bail!("unknown first call {other}"),
        })
    }

    /// The call as the report shows it.
    pub fn describe(self) -> &'static str {
        match self {
            FirstCall::Greet => "`greet(\"world\")`",
            FirstCall::Summarize => "`summarize(10)`",
            FirstCall::Len => "`len(\"world\")`",
        }
    }

    /// Makes the call through kiln's typed API and checks the result.
    pub fn kiln(self, i: &ComponentInstance) -> Result<()> {
        match self {
            FirstCall::Greet => {
                let f = i.typed_func::<(&str,), String>("greet").kx()?;
                let s = f.call(("world",)).kx()?;
                check(s.contains("world"), &s)
            }
            FirstCall::Summarize => {
                let f = i.typed_func::<(u32,), String>("summarize").kx()?;
                let s = f.call((10,)).kx()?;
                check(s.contains("285"), &s)
            }
            FirstCall::Len => {
                let f = i.typed_func::<(&str,), u32>("len").kx()?;
                let n = f.call(("world",)).kx()?;
                check(n == 5, &n.to_string())
            }
        }
    }

    /// Makes the call through wasmtime's `TypedFunc` and checks the result.
    pub fn wasmtime<T: 'static>(
        self,
        store: &mut wasmtime::Store<T>,
        i: &wasmtime::component::Instance,
    ) -> Result<()> {
        match self {
            FirstCall::Greet => {
                let f = i.get_typed_func::<(&str,), (String,)>(&mut *store, "greet")?;
                let (s,) = f.call(&mut *store, ("world",))?;
                check(s.contains("world"), &s)
            }
            FirstCall::Summarize => {
                let f = i.get_typed_func::<(u32,), (String,)>(&mut *store, "summarize")?;
                let (s,) = f.call(&mut *store, (10,))?;
                check(s.contains("285"), &s)
            }
            FirstCall::Len => {
                let f = i.get_typed_func::<(&str,), (u32,)>(&mut *store, "len")?;
                let (n,) = f.call(&mut *store, ("world",))?;
                check(n == 5, &n.to_string())
            }
        }
    }
}

fn check(ok: bool, got: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        bail!("unexpected result {got:?}")
    }
}

/// A component a host loads as a plugin: its compiled artifacts and how to call it.
#[derive(Clone, Debug)]
pub struct Plugin {
    /// Input name (`js-component`, ...), as in the compile rows.
    pub name: String,
    /// kiln's shared object.
    pub so: PathBuf,
    /// wasmtime's serialised component.
    pub cwasm: PathBuf,
    /// Whether it imports WASI (both hosts then add their WASI implementation).
    pub wasi: bool,
    /// The first call.
    pub call: FirstCall,
}

/// The plugin inputs among the compile rows' artifact names, with the WAT component.
pub fn plugins(work: &std::path::Path, compiled: &[String]) -> Vec<Plugin> {
    let mut out = Vec::new();
    for (name, call) in [
        ("js-component", FirstCall::Greet),
        ("py-component", FirstCall::Summarize),
        ("rust-component", FirstCall::Greet),
    ] {
        if compiled.iter().any(|c| c == name) {
            out.push(Plugin {
                name: name.into(),
                so: work.join(format!("{name}.so")),
                cwasm: work.join(format!("{name}.cwasm")),
                wasi: true,
                call,
            });
        }
    }
    out.push(Plugin {
        name: "component".into(),
        so: work.join("component.so"),
        cwasm: work.join("component.cwasm"),
        wasi: false,
        call: FirstCall::Len,
    });
    out
}

/// kiln's linker for a plugin: with the WASI host when it imports WASI.
pub fn kiln_linker(engine: &kiln_runtime::Engine, wasi: bool) -> ComponentLinker {
    let mut linker = ComponentLinker::new(engine);
    if wasi {
        kiln_runtime::wasi::add_to_linker(&mut linker, kiln_runtime::wasi::WasiConfig::new());
    }
    linker
}

/// The per-plugin cost on kiln: load the `.so`, make the linker, instantiate, first call,
/// drop.
pub fn kiln_once(engine: &kiln_runtime::Engine, p: &Plugin) -> Result<()> {
    let c = Component::load(engine, &p.so).kx()?;
    let linker = kiln_linker(engine, p.wasi);
    let i = linker.instantiate(&c).kx()?;
    p.call.kiln(&i)?;
    drop(i);
    drop(c);
    Ok(())
}

/// wasmtime's store data: a WASI context (default: nothing granted) and its resource table.
pub struct WasiHost {
    ctx: wasmtime_wasi::WasiCtx,
    table: wasmtime_wasi::ResourceTable,
}

impl WasiHost {
    /// A fresh context, as one plugin instance gets.
    pub fn new() -> WasiHost {
        WasiHost {
            ctx: wasmtime_wasi::WasiCtxBuilder::new().build(),
            table: wasmtime_wasi::ResourceTable::new(),
        }
    }
}

impl wasmtime_wasi::WasiView for WasiHost {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// A wasmtime store with a fresh WASI context whose epoch deadline never expires.
pub fn wasmtime_store(engine: &wasmtime::Engine) -> wasmtime::Store<WasiHost> {
    let mut store = wasmtime::Store::new(engine, WasiHost::new());
    store.set_epoch_deadline(u64::MAX / 4);
    store
}

/// wasmtime's linker for a plugin: with `wasmtime_wasi::p2` when it imports WASI.
pub fn wasmtime_linker(
    engine: &wasmtime::Engine,
    wasi: bool,
) -> Result<wasmtime::component::Linker<WasiHost>> {
    let mut linker = wasmtime::component::Linker::<WasiHost>::new(engine);
    if wasi {
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    }
    Ok(linker)
}

/// The per-plugin cost on wasmtime: `deserialize_file` of the `.cwasm`, make the linker,
/// a store, instantiate, first typed call, drop.
pub fn wasmtime_once(engine: &wasmtime::Engine, p: &Plugin) -> Result<()> {
    // SAFETY: the file was written by `precompile_component` of an engine with the same
    // configuration in this run (the compile rows), and nothing modifies it meanwhile.
    let c = unsafe { wasmtime::component::Component::deserialize_file(engine, &p.cwasm) }?;
    let linker = wasmtime_linker(engine, p.wasi)?;
    let mut store = wasmtime_store(engine);
    let i = linker.instantiate(&mut store, &c)?;
    p.call.wasmtime(&mut store, &i)?;
    drop(store);
    drop(c);
    Ok(())
}

/// Child side of the fresh-process plugin rows: makes the engine (not timed), then times one
/// [`kiln_once`] / [`wasmtime_once`] and prints the nanoseconds.
pub fn child(engine: &str, call: &str, wasi: &str, so: &str, cwasm: &str) -> Result<()> {
    let p = Plugin {
        name: "child".into(),
        so: so.into(),
        cwasm: cwasm.into(),
        wasi: wasi == "wasi",
        call: FirstCall::parse(call)?,
    };
    let ns = match engine {
        "kiln" => {
            let e = kiln_runtime::Engine::default();
            let t = std::time::Instant::now();
            kiln_once(&e, &p).context("kiln plugin")?;
            t.elapsed()
        }
        "wasmtime" => {
            let e = crate::engines::wasmtime_engine(false)?;
            let t = std::time::Instant::now();
            wasmtime_once(&e, &p).context("wasmtime plugin")?;
            t.elapsed()
        }
        other => bail!("unknown engine {other}"),
    };
    println!("{}", ns.as_nanos());
    Ok(())
}

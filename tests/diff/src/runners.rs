//! Running one round-trip component in each runtime: kiln (component text → wasm → `.so` with
//! `kiln_compiler`, loaded and called through `kiln_runtime`'s component API) and wasmtime
//! (`wasmtime::component`), with conversion between their dynamic values and [`V`].
//!
//! Every call gets a fresh instance: a trap leaves a component instance unusable in both.

use crate::guest::HOST_INTERFACE;
use crate::types::V;
use anyhow::{anyhow, Result};
use std::path::PathBuf;

/// What one call produced.
#[derive(Debug)]
pub enum Outcome {
    /// A value.
    Value(V),
    /// A trap (message kept for the report; messages differ between runtimes).
    Trap(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Value(v) => write!(f, "{v:?}"),
            Outcome::Trap(m) => write!(f, "trap: {m}"),
        }
    }
}

/// The corruption `set-corrupt` arms before a `roundtrip` call: (mode, offset, xor).
pub type Corrupt = (u32, u32, u32);

macro_rules! converters {
    ($to:ident, $from:ident, $Val:path) => {
        /// Converts a [`V`] into this runtime's value.
        pub fn $to(v: &V) -> $Val {
            use $Val as W;
            match v {
                V::Bool(x) => W::Bool(*x),
                V::S8(x) => W::S8(*x),
                V::U8(x) => W::U8(*x),
                V::S16(x) => W::S16(*x),
                V::U16(x) => W::U16(*x),
                V::S32(x) => W::S32(*x),
                V::U32(x) => W::U32(*x),
                V::S64(x) => W::S64(*x),
                V::U64(x) => W::U64(*x),
                V::F32(x) => W::Float32(*x),
                V::F64(x) => W::Float64(*x),
                V::Char(x) => W::Char(*x),
                V::String(x) => W::String(x.clone()),
                V::List(x) => W::List(x.iter().map($to).collect()),
                V::Record(x) => W::Record(x.iter().map(|(n, v)| (n.clone(), $to(v))).collect()),
                V::Tuple(x) => W::Tuple(x.iter().map($to).collect()),
                V::Variant(n, p) => W::Variant(n.clone(), p.as_ref().map(|p| Box::new($to(p)))),
                V::Enum(n) => W::Enum(n.clone()),
                V::Option(p) => W::Option(p.as_ref().map(|p| Box::new($to(p)))),
                V::Result(r) => W::Result(match r {
                    Ok(p) => Ok(p.as_ref().map(|p| Box::new($to(p)))),
                    Err(p) => Err(p.as_ref().map(|p| Box::new($to(p)))),
                }),
                V::Flags(f) => W::Flags(f.clone()),
            }
        }

        /// Converts this runtime's value into a [`V`].
        pub fn $from(v: &$Val) -> Result<V> {
            use $Val as W;
            let boxed = |p: &Option<Box<W>>| -> Result<Option<Box<V>>> {
                p.as_ref().map(|p| Ok(Box::new($from(p)?))).transpose()
            };
            Ok(match v {
                W::Bool(x) => V::Bool(*x),
                W::S8(x) => V::S8(*x),
                W::U8(x) => V::U8(*x),
                W::S16(x) => V::S16(*x),
                W::U16(x) => V::U16(*x),
                W::S32(x) => V::S32(*x),
                W::U32(x) => V::U32(*x),
                W::S64(x) => V::S64(*x),
                W::U64(x) => V::U64(*x),
                W::Float32(x) => V::F32(*x),
                W::Float64(x) => V::F64(*x),
                W::Char(x) => V::Char(*x),
                W::String(x) => V::String(x.clone()),
                W::List(x) => V::List(x.iter().map($from).collect::<Result<_>>()?),
                W::Record(x) => V::Record(
                    x.iter()
                        .map(|(n, v)| Ok((n.clone(), $from(v)?)))
                        .collect::<Result<_>>()?,
                ),
                W::Tuple(x) => V::Tuple(x.iter().map($from).collect::<Result<_>>()?),
                W::Variant(n, p) => V::Variant(n.clone(), boxed(p)?),
                W::Enum(n) => V::Enum(n.clone()),
                W::Option(p) => V::Option(boxed(p)?),
                W::Result(r) => V::Result(match r {
                    Ok(p) => Ok(boxed(p)?),
                    Err(p) => Err(boxed(p)?),
                }),
                W::Flags(f) => V::Flags(f.clone()),
                other => return Err(anyhow!("unexpected value {other:?}")),
            })
        }
    };
}

converters!(to_kiln, from_kiln, kiln_runtime::component::Val);
converters!(to_wasmtime, from_wasmtime, wasmtime::component::Val);

/// One component compiled for kiln.
pub struct KilnComponent {
    engine: kiln_runtime::Engine,
    component: kiln_runtime::Component,
    so: PathBuf,
}

impl Drop for KilnComponent {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.so);
    }
}

impl KilnComponent {
    /// Compiles `wasm` to a `.so` in `dir` and loads it.
    pub fn new(engine: &kiln_runtime::Engine, wasm: &[u8], dir: &std::path::Path) -> Result<Self> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let so = dir.join(format!("c{}-{n}.so", std::process::id()));
        kiln_compiler::compile_to_file(wasm, &Default::default(), kiln_compiler::Emit::So, &so)
            .map_err(|e| anyhow!("kiln compile: {e}"))?;
        let component =
            kiln_runtime::Component::load(engine, &so).map_err(|e| anyhow!("kiln load: {e}"))?;
        Ok(KilnComponent {
            engine: engine.clone(),
            component,
            so,
        })
    }

    /// The loaded component.
    pub fn component(&self) -> &kiln_runtime::Component {
        &self.component
    }

    /// Calls `name` with `args` in a fresh instance, arming `corrupt` first.
    pub fn call(&self, name: &str, args: &[V], corrupt: Corrupt) -> Result<Outcome> {
        use kiln_runtime::component::Val;
        let mut linker = kiln_runtime::ComponentLinker::new(&self.engine);
        linker.interface_func(HOST_INTERFACE, "echo", |args| {
            Ok(Some(if args.len() == 1 {
                args[0].clone()
            } else {
                kiln_runtime::component::Val::Tuple(args.to_vec())
            }))
        });
        let inst = linker
            .instantiate(&self.component)
            .map_err(|e| anyhow!("kiln instantiate: {e}"))?;
        let (m, o, x) = corrupt;
        inst.call("set-corrupt", &[Val::U32(m), Val::U32(o), Val::U32(x)])
            .map_err(|e| anyhow!("kiln set-corrupt: {e}"))?;
        let args: Vec<_> = args.iter().map(to_kiln).collect();
        match inst.call(name, &args) {
            Ok(Some(v)) => Ok(Outcome::Value(from_kiln(&v)?)),
            Ok(None) => Err(anyhow!("kiln: no result")),
            Err(kiln_runtime::Error::Trap(t)) => Ok(Outcome::Trap(t.message)),
            Err(e) => Err(anyhow!("kiln call: {e}")),
        }
    }
}

/// A wasmtime engine configured like the kiln defaults that matter (component model with
/// async, no NaN canonicalisation, 512 KiB of wasm stack).
pub fn wasmtime_engine() -> Result<wasmtime::Engine> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    // Component-model async (on by default in wasmtime 48 builds with the feature).
    config.wasm_component_model_async(true);
    config.max_wasm_stack(512 << 10);
    config.wasm_tail_call(true);
    config.wasm_multi_memory(true);
    config.wasm_simd(true);
    config.wasm_relaxed_simd(false);
    config.wasm_gc(false);
    config.wasm_function_references(false);
    wasmtime::Engine::new(&config).map_err(|e| anyhow!("{e:#}"))
}

/// One component compiled for wasmtime.
pub struct WasmtimeComponent {
    engine: wasmtime::Engine,
    component: wasmtime::component::Component,
    linker: wasmtime::component::Linker<()>,
}

impl WasmtimeComponent {
    /// Compiles `wasm`.
    pub fn new(engine: &wasmtime::Engine, wasm: &[u8]) -> Result<Self> {
        let component = wasmtime::component::Component::new(engine, wasm)
            .map_err(|e| anyhow!("wasmtime compile: {e:#}"))?;
        let mut linker = wasmtime::component::Linker::new(engine);
        linker
            .instance(HOST_INTERFACE)
            .and_then(|mut i| {
                i.func_new("echo", |_, _, params, results| {
                    results[0] = if params.len() == 1 {
                        params[0].clone()
                    } else {
                        wasmtime::component::Val::Tuple(params.to_vec())
                    };
                    Ok(())
                })
            })
            .map_err(|e| anyhow!("wasmtime linker: {e:#}"))?;
        Ok(WasmtimeComponent {
            engine: engine.clone(),
            component,
            linker,
        })
    }

    /// Calls `name` with `args` in a fresh store and instance, arming `corrupt` first.
    pub fn call(&self, name: &str, args: &[V], corrupt: Corrupt) -> Result<Outcome> {
        use wasmtime::component::Val;
        let mut store = wasmtime::Store::new(&self.engine, ());
        let inst = self
            .linker
            .instantiate(&mut store, &self.component)
            .map_err(|e| anyhow!("wasmtime instantiate: {e:#}"))?;
        let sc = inst
            .get_func(&mut store, "set-corrupt")
            .ok_or_else(|| anyhow!("no set-corrupt"))?;
        let (m, o, x) = corrupt;
        sc.call(
            &mut store,
            &[Val::U32(m), Val::U32(o), Val::U32(x)],
            &mut [],
        )
        .map_err(|e| anyhow!("wasmtime set-corrupt: {e:#}"))?;
        let f = inst
            .get_func(&mut store, name)
            .ok_or_else(|| anyhow!("no export {name}"))?;
        let mut results = [Val::Bool(false)];
        let args: Vec<_> = args.iter().map(to_wasmtime).collect();
        match f.call(&mut store, &args, &mut results) {
            Ok(()) => Ok(Outcome::Value(from_wasmtime(&results[0])?)),
            Err(e) => Ok(Outcome::Trap(format!("{e:#}"))),
        }
    }
}

//! Fixed component cases, run once per run: kiln's own canonical-ABI test component
//! (`tests/components/calls.wat`) in both runtimes. Its exports without parameters return
//! hand-made invalid values (surrogate and out-of-range chars, enum and option discriminants
//! out of range, `bool` 2, string out of bounds, invalid UTF-8/UTF-16, misaligned list and
//! return area, return area out of bounds): both runtimes must trap, or lift the same value.
//! Its string echoes in UTF-8, UTF-16 and latin1+UTF-16 are called with strings that need
//! transcoding.

use crate::runners::{from_kiln, from_wasmtime, to_kiln, to_wasmtime, Outcome};
use crate::types::V;
use anyhow::{anyhow, Result};
use std::path::Path;

const STRING_ECHOES: [&str; 3] = ["echo-string", "echo-string16", "echo-string-latin1"];
const STRINGS: [&str; 6] = ["", "hello", "héllo wörld", "ÿ", "日本語 😀", "a\u{0}b"];

fn kiln_call(
    engine: &kiln_runtime::Engine,
    c: &kiln_runtime::Component,
    name: &str,
    args: &[V],
) -> Result<Outcome> {
    let inst = kiln_runtime::ComponentLinker::new(engine)
        .instantiate(c)
        .map_err(|e| anyhow!("kiln instantiate: {e}"))?;
    let args: Vec<_> = args.iter().map(to_kiln).collect();
    match inst.call(name, &args) {
        Ok(Some(v)) => Ok(Outcome::Value(from_kiln(&v)?)),
        Ok(None) => Err(anyhow!("kiln: {name} returned nothing")),
        Err(kiln_runtime::Error::Trap(t)) => Ok(Outcome::Trap(t.message)),
        Err(e) => Err(anyhow!("kiln call {name}: {e}")),
    }
}

fn wasmtime_call(
    engine: &wasmtime::Engine,
    c: &wasmtime::component::Component,
    name: &str,
    args: &[V],
) -> Result<Outcome> {
    let mut store = wasmtime::Store::new(engine, ());
    let inst = wasmtime::component::Linker::new(engine)
        .instantiate(&mut store, c)
        .map_err(|e| anyhow!("wasmtime instantiate: {e:#}"))?;
    let f = inst
        .get_func(&mut store, name)
        .ok_or_else(|| anyhow!("wasmtime: no export {name}"))?;
    let args: Vec<_> = args.iter().map(to_wasmtime).collect();
    let mut results = [wasmtime::component::Val::Bool(false)];
    match f.call(&mut store, &args, &mut results) {
        Ok(()) => Ok(Outcome::Value(from_wasmtime(&results[0])?)),
        Err(e) => Ok(Outcome::Trap(format!("{e:#}"))),
    }
}

/// Runs the fixed cases; returns (cases compared, mismatch reports).
pub fn run(
    kengine: &kiln_runtime::Engine,
    wengine: &wasmtime::Engine,
    dir: &Path,
) -> Result<(u64, Vec<String>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../components/calls.wat");
    let wasm = wat::parse_file(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let so = dir.join("fixed-calls.so");
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .map_err(|e| anyhow!("kiln compile calls.wat: {e}"))?;
    let kc = kiln_runtime::Component::load(kengine, &so).map_err(|e| anyhow!("kiln load: {e}"))?;
    let wc = wasmtime::component::Component::new(wengine, &wasm)
        .map_err(|e| anyhow!("wasmtime compile calls.wat: {e:#}"))?;
    let mut cases: Vec<(String, Vec<V>)> = Vec::new();
    let inst = kiln_runtime::ComponentLinker::new(kengine)
        .instantiate(&kc)
        .map_err(|e| anyhow!("kiln instantiate: {e}"))?;
    for e in inst.exports() {
        if let Some(f) = inst.get_func(&e.name) {
            if f.ty().params.is_empty() && f.ty().result.is_some() {
                cases.push((e.name.clone(), vec![]));
            }
        }
    }
    for f in STRING_ECHOES {
        for s in STRINGS {
            cases.push((f.to_string(), vec![V::String(s.to_string())]));
        }
    }
    let mut reports = Vec::new();
    for (name, args) in &cases {
        let k = kiln_call(kengine, &kc, name, args)?;
        let w = wasmtime_call(wengine, &wc, name, args)?;
        let same = match (&k, &w) {
            (Outcome::Value(a), Outcome::Value(b)) => a == b,
            (Outcome::Trap(_), Outcome::Trap(_)) => true,
            _ => false,
        };
        if !same {
            reports.push(format!("calls.wat {name}{args:?}: kiln {k}, wasmtime {w}"));
        }
    }
    let _ = std::fs::remove_file(&so);
    Ok((cases.len() as u64, reports))
}

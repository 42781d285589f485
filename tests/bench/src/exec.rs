//! Execution rows: C compute kernels (and SQLite) compiled with clang -O2 to wasm, run as a
//! kiln `.so`, under wasmtime, and natively (`cc -O2` shared library, dlopen); checksums are
//! compared across the three.

use crate::engines::{wasmtime_engine, wasmtime_store, Kx};
use crate::report_types::Row;
use crate::stats::{geomean, summarize, timed, Summary};
use anyhow::{anyhow, bail, Context, Result};
use kiln_runtime::{Linker, Module, Val};
use std::ffi::CString;
use std::path::Path;

/// One workload: artifacts and the exported function to call with `arg`.
pub struct Workload<'a> {
    /// Row label.
    pub label: &'a str,
    /// Exported function name (same in wasm and native).
    pub export: &'a str,
    /// Its argument (a size).
    pub arg: u32,
    /// kiln `.so`.
    pub so: &'a Path,
    /// wasmtime `.cwasm`.
    pub cwasm: &'a Path,
    /// Native shared library.
    pub native: &'a Path,
    /// Whether the module is a WASI reactor (stub imports, `_initialize` first).
    pub wasi: bool,
}

/// A loaded native shared library (never unloaded: kept for the process).
fn native_fn(lib: &Path, name: &str) -> Result<extern "C" fn(u32) -> u32> {
    let path = CString::new(lib.as_os_str().as_encoded_bytes())?;
    // SAFETY: a NUL-terminated path; the library is our own C kernels built with cc, without
    // constructors that matter.
    let h = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if h.is_null() {
        bail!("dlopen {} failed", lib.display());
    }
    let sym = CString::new(name)?;
    // SAFETY: `h` is a live handle and `sym` NUL-terminated.
    let f = unsafe { libc::dlsym(h, sym.as_ptr()) };
    if f.is_null() {
        bail!("no symbol {name} in {}", lib.display());
    }
    // SAFETY: the C functions are `uint32_t f(uint32_t)` / `unsigned f(int)` (same ABI).
    Ok(unsafe { std::mem::transmute::<*mut libc::c_void, extern "C" fn(u32) -> u32>(f) })
}

fn kiln_fn(w: &Workload) -> Result<(kiln_runtime::Instance, kiln_runtime::Func)> {
    let engine = kiln_runtime::Engine::default();
    let module = Module::load(&engine, w.so).kx()?;
    let mut linker = Linker::new(&engine);
    for imp in module.imports() {
        if let kiln_environ::ImportKind::Func(t) = imp.kind {
            let ty = module
                .metadata()
                .types
                .get(t as usize)
                .cloned()
                .ok_or_else(|| anyhow!("bad type index"))?;
            // WASI stubs: every call fails with EBADF (8), which ends wasi-libc's preopen scan.
            linker.func_new(&imp.module, &imp.name, ty, |_, _, results| {
                for r in results.iter_mut() {
                    *r = Val::I32(8);
                }
                Ok(())
            });
        }
    }
    let inst = linker.instantiate(&module).kx()?;
    if w.wasi {
        if let Some(init) = inst.get_func("_initialize") {
            init.call(&[]).kx()?;
        }
    }
    let f = inst.get_func(w.export).context("export")?;
    Ok((inst, f))
}

type WasmtimeRun = (wasmtime::Store<()>, wasmtime::TypedFunc<u32, u32>);

fn wasmtime_fn(engine: &wasmtime::Engine, w: &Workload) -> Result<WasmtimeRun> {
    // SAFETY: written by `precompile_module` of an engine with this configuration in this run.
    let module = unsafe { wasmtime::Module::deserialize_file(engine, w.cwasm) }?;
    let mut linker = wasmtime::Linker::<()>::new(engine);
    for imp in module.imports() {
        if let wasmtime::ExternType::Func(ty) = imp.ty() {
            linker.func_new(imp.module(), imp.name(), ty, |_, _, results| {
                for r in results.iter_mut() {
                    *r = wasmtime::Val::I32(8);
                }
                Ok(())
            })?;
        }
    }
    let mut store = wasmtime_store(engine);
    let inst = linker.instantiate(&mut store, &module)?;
    if w.wasi {
        if let Ok(init) = inst.get_typed_func::<(), ()>(&mut store, "_initialize") {
            init.call(&mut store, ())?;
        }
    }
    let f = inst.get_typed_func::<u32, u32>(&mut store, w.export)?;
    Ok((store, f))
}

/// Runs every workload `reps` times on the three sides; returns the rows and the geomeans.
pub fn exec_rows(workloads: &[Workload], reps: usize) -> Result<Vec<Row>> {
    let wengine = wasmtime_engine(false)?;
    let mut rows = Vec::new();
    let (mut kw, mut kn) = (Vec::new(), Vec::new());
    for w in workloads {
        let (_inst, kf) = kiln_fn(w)?;
        let (mut store, wf) = wasmtime_fn(&wengine, w)?;
        let nf = native_fn(w.native, w.export)?;
        let mut sums = [0u32; 3];
        let arg = w.arg;
        // Interleaved repetitions (after one warm-up call each), so load changes on a shared
        // machine hit the three sides alike.
        let mut times: [Vec<f64>; 3] = Default::default();
        for rep in 0..=reps {
            for (side, samples) in times.iter_mut().enumerate() {
                let d = timed(|| match side {
                    0 => {
                        let r = kf.call(&[Val::I32(arg as i32)]).expect("kiln run");
                        if let Some(Val::I32(v)) = r.first() {
                            sums[0] = *v as u32;
                        }
                    }
                    1 => sums[1] = wf.call(&mut store, arg).expect("wasmtime run"),
                    _ => sums[2] = nf(std::hint::black_box(arg)),
                });
                if rep > 0 {
                    samples.push(d.as_secs_f64());
                }
            }
        }
        let [k, t, n] = times.map(summarize);
        let check = if sums[0] == sums[1] && sums[1] == sums[2] {
            "checksums equal".to_string()
        } else {
            format!("CHECKSUMS DIFFER {sums:x?}")
        };
        eprintln!(
            "  exec {}: kiln {:.4} s, wasmtime {:.4} s, native {:.4} s ({check})",
            w.label, k.median, t.median, n.median
        );
        let ms = |s: Summary| Some(s.median * 1e3);
        kw.push(k.median / t.median);
        kn.push(k.median / n.median);
        rows.push(
            Row::new(format!("{} ({})", w.label, check), "ms")
                .col("kiln", ms(k))
                .col("wasmtime", ms(t))
                .col("native cc -O2", ms(n))
                .col("kiln/native", Some(k.median / n.median))
                .ratio_of(ms(k), ms(t)),
        );
    }
    let (gw, gn) = (geomean(&kw), geomean(&kn));
    eprintln!("  exec geomean: kiln/wasmtime {gw:.3}, kiln/native {gn:.3}");
    rows.push(
        Row::new("geomean", "ratio")
            .col("kiln", None)
            .col("wasmtime", None)
            .col("native cc -O2", None)
            .col("kiln/native", Some(gn))
            .ratio_of(Some(gw), Some(1.0))
            .goal(format!(
                "≤ 1.0× wasmtime ({})",
                if gw <= 1.0 { "met" } else { "not met" }
            )),
    );
    Ok(rows)
}

//! `--profile load-compare OUT_DIR INPUT...`: load cost of kiln against wasmtime for the given
//! `.wasm`/`.wat` inputs (modules or components). Each input is compiled once into `OUT_DIR`
//! (kiln `.so`, wasmtime `.cwasm`; kept and reused when present), then the median of many
//! loads (each dropped before the next) is printed for: kiln `Module::load` /
//! `Component::load`, wasmtime `deserialize_file`, and a bare `dlopen`+`dlclose` of the `.so`.

use crate::engines::{kiln_config, wasmtime_config};
use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Median (µs) of `n` timed runs of `op`.
fn median_us(n: usize, mut op: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let s = Instant::now();
            op();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[n / 2]
}

fn is_component(wasm: &[u8]) -> bool {
    wasm.len() >= 8 && wasm[4..8] != [1, 0, 0, 0]
}

/// Compiles `input` with both engines into `out` (unless already there).
fn compile(input: &Path, out: &Path) -> Result<(PathBuf, PathBuf, bool)> {
    let stem = input.file_stem().context("input name")?.to_string_lossy();
    let parent = input
        .parent()
        .and_then(|p| p.file_name())
        .map_or(String::new(), |p| p.to_string_lossy().into_owned());
    let base = out.join(format!("{parent}-{stem}"));
    let (so, cwasm) = (base.with_extension("so"), base.with_extension("cwasm"));
    let wasm = wat::parse_file(input)?;
    let component = is_component(&wasm);
    if !so.exists() {
        kiln_compiler::compile_to_file(&wasm, &kiln_config(2), kiln_compiler::Emit::So, &so)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if !cwasm.exists() {
        let engine = wasmtime::Engine::new(&wasmtime_config(2, false))?;
        let bytes = if component {
            engine.precompile_component(&wasm)?
        } else {
            engine.precompile_module(&wasm)?
        };
        std::fs::write(&cwasm, bytes)?;
    }
    Ok((so, cwasm, component))
}

/// Runs the comparison.
pub fn run(args: &[String]) -> Result<()> {
    let [out, inputs @ ..] = args else {
        bail!("usage: --profile load-compare OUT_DIR INPUT...");
    };
    let out = Path::new(out);
    std::fs::create_dir_all(out)?;
    let kengine = kiln_runtime::Engine::default();
    let wengine = wasmtime::Engine::new(&wasmtime_config(2, false))?;
    for input in inputs {
        let (so, cwasm, component) = compile(Path::new(input), out)?;
        let n = if std::fs::metadata(&so)?.len() > (8 << 20) {
            41
        } else {
            201
        };
        let kiln = median_us(n, || {
            if component {
                drop(kiln_runtime::Component::load(&kengine, &so).expect("kiln load"));
            } else {
                drop(kiln_runtime::Module::load(&kengine, &so).expect("kiln load"));
            }
        });
        let wasmtime = median_us(n, || {
            // SAFETY: the file was written by `precompile_*` of an engine with the same
            // configuration, and nothing modifies it meanwhile.
            if component {
                drop(
                    unsafe { wasmtime::component::Component::deserialize_file(&wengine, &cwasm) }
                        .expect("wasmtime deserialize"),
                );
            } else {
                drop(
                    unsafe { wasmtime::Module::deserialize_file(&wengine, &cwasm) }
                        .expect("wasmtime deserialize"),
                );
            }
        });
        let c = CString::new(so.as_os_str().as_encoded_bytes())?;
        let dl = median_us(n, || {
            // SAFETY: a kiln `.so` kiln's loader accepted above (no constructors, dependencies
            // or IFUNCs): loading it runs nothing from it.
            let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
            assert!(!h.is_null(), "dlopen");
            // SAFETY: `h` came from dlopen above.
            unsafe { libc::dlclose(h) };
        });
        println!(
            "{input}: .so {} bytes | kiln load {kiln:.0} µs | wasmtime deserialize_file \
             {wasmtime:.0} µs ({:.2}x) | dlopen+dlclose {dl:.0} µs ({:.1}x) | median of {n}",
            std::fs::metadata(&so)?.len(),
            kiln / wasmtime,
            kiln / dl
        );
    }
    Ok(())
}

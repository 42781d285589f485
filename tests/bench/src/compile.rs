//! Compile rows: throughput (MB of wasm per second) and peak RSS at 1 and 2 threads. Each
//! measurement is one child process (this binary with `--child-compile`) that compiles the
//! input once and reports its time and `getrusage` peak RSS, so RSS is per compile.

use crate::engines::{kiln_config, wasmtime_config, Kx};
use crate::stats::{peak_rss_bytes, summarize, Summary};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The result of one compile configuration.
#[derive(Clone, Debug)]
pub struct CompileRow {
    /// Input name.
    pub input: String,
    /// Input size in bytes.
    pub wasm_bytes: u64,
    /// `kiln` or `wasmtime`.
    pub engine: &'static str,
    /// Compile threads.
    pub threads: usize,
    /// Seconds per compile.
    pub secs: Summary,
    /// Peak RSS of the compiling process in bytes (median over repetitions).
    pub rss: Summary,
}

impl CompileRow {
    /// Megabytes of wasm per second (median).
    pub fn mb_per_s(&self) -> f64 {
        self.wasm_bytes as f64 / 1e6 / self.secs.median
    }
}

/// Child side: compiles `wasm` once with `engine` on `threads` threads, writes the artifact to
/// `out`, and prints `seconds rss_self rss_children`.
pub fn child(engine: &str, threads: usize, wasm: &Path, out: &Path) -> Result<()> {
    let bytes = std::fs::read(wasm).with_context(|| format!("read {}", wasm.display()))?;
    let secs = match engine {
        "kiln" => {
            let config = kiln_config(threads);
            let t = Instant::now();
            kiln_compiler::compile_to_file(&bytes, &config, kiln_compiler::Emit::So, out).kx()?;
            t.elapsed().as_secs_f64()
        }
        "wasmtime" => {
            let e = wasmtime::Engine::new(&wasmtime_config(threads, false))?;
            let t = Instant::now();
            // A component's header has layer 1 (bytes 6..8); a core module's is 0.
            let art = if bytes.get(6..8) == Some(&[1, 0]) {
                e.precompile_component(&bytes)?
            } else {
                e.precompile_module(&bytes)?
            };
            std::fs::write(out, art)?;
            t.elapsed().as_secs_f64()
        }
        other => bail!("unknown engine {other}"),
    };
    let (own, children) = peak_rss_bytes();
    println!("{secs} {own} {children}");
    Ok(())
}

/// Parent side: `reps` child compiles of `wasm` for each engine and thread count; leaves the
/// artifacts at `<work>/<name>.so` and `<work>/<name>.cwasm`.
pub fn measure(name: &str, wasm: &Path, work: &Path, reps: usize) -> Result<Vec<CompileRow>> {
    let exe = std::env::current_exe()?;
    let size = std::fs::metadata(wasm)?.len();
    let configs: Vec<(&'static str, usize)> = ["kiln", "wasmtime"]
        .into_iter()
        .flat_map(|e| [(e, 1usize), (e, 2)])
        .collect();
    // Repetitions interleave the four configurations, so load changes on a shared machine
    // hit them alike.
    let mut samples: Vec<(Vec<f64>, Vec<f64>)> = vec![Default::default(); configs.len()];
    for _ in 0..reps {
        for (i, (engine, threads)) in configs.iter().enumerate() {
            let ext = if *engine == "kiln" { "so" } else { "cwasm" };
            let out = work.join(format!("{name}.{ext}"));
            let o = Command::new(&exe)
                .arg("--child-compile")
                .arg(engine)
                .arg(threads.to_string())
                .arg(wasm)
                .arg(&out)
                .env("RAYON_NUM_THREADS", threads.to_string())
                .output()?;
            if !o.status.success() {
                bail!(
                    "{engine} compile of {name} failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            let s = String::from_utf8_lossy(&o.stdout);
            let v: Vec<f64> = s
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            if v.len() != 3 {
                bail!("unexpected child output {s:?}");
            }
            samples[i].0.push(v[0]);
            samples[i].1.push(v[1]);
        }
    }
    let mut rows = Vec::new();
    for ((engine, threads), (t, r)) in configs.into_iter().zip(samples) {
        eprintln!(
            "  compile {name} {engine} {threads}T: {:.3} s",
            summarize(t.clone()).median
        );
        rows.push(CompileRow {
            input: name.to_string(),
            wasm_bytes: size,
            engine,
            threads,
            secs: summarize(t),
            rss: summarize(r),
        });
    }
    Ok(rows)
}

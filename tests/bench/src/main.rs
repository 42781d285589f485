//! kiln-bench: runs kiln and wasmtime 48.0.8 (and native code) on the same inputs in one run
//! and writes `docs/benchmarks.md` and `docs/benchmarks.png`.
//!
//! `cargo run --release --manifest-path tests/bench/Cargo.toml` for the full run;
//! `-- --smoke` for CI (one repetition, small inputs, report in the work directory only);
//! `-- --compile-only` measures only the compile rows (all inputs, full repetitions) and
//! writes their table to the work directory, leaving `docs/` alone.

mod chart;
mod compile;
mod component_bench;
mod core_bench;
mod engines;
mod exec;
mod font;
mod inputs;
mod load_compare;
mod profile;
mod py_input;
mod report;
mod report_types;
mod stats;

use anyhow::{bail, Context, Result};
use core_bench::Sizes;
use report_types::Section;
use std::path::PathBuf;

/// Execution workloads: (label, export, full-size argument).
const KERNELS: [(&str, &str, u32); 4] = [
    ("integer: sieve + int matmul", "int_kernel", 80),
    ("float: n-body + mandelbrot", "float_kernel", 12),
    ("hashing: CRC-32 + FNV-1a", "hash_kernel", 60),
    ("compression: LZ77 round trip", "lz_kernel", 30),
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child-compile") {
        let [_, engine, threads, wasm, out] = args.as_slice() else {
            bail!("usage: --child-compile ENGINE THREADS WASM OUT");
        };
        return compile::child(
            engine,
            threads.parse().context("threads")?,
            wasm.as_ref(),
            out.as_ref(),
        );
    }
    if args.first().map(String::as_str) == Some("--instantiate") {
        // Only the instantiate rows (core and component), for quick before/after numbers.
        let sizes = Sizes {
            reps: 7,
            inst_iters: 2000,
            call_iters: 1000,
        };
        let work = inputs::work_dir()?;
        eprintln!("load average before: {:?}", loadavg());
        core_bench::instantiate_rows(&work, sizes)?;
        component_bench::component_instantiate_row(&work, sizes)?;
        eprintln!("load average after: {:?}", loadavg());
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("--profile") {
        if args.get(1).map(String::as_str) == Some("load-compare") {
            return load_compare::run(&args[2..]);
        }
        return profile::run(args.get(1).map_or("", String::as_str));
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    let compile_only = args.iter().any(|a| a == "--compile-only");
    if let Some(a) = args
        .iter()
        .find(|a| !matches!(a.as_str(), "--smoke" | "--compile-only"))
    {
        bail!("unknown argument {a} (usage: kiln-bench [--smoke] [--compile-only])");
    }
    let sizes = if smoke {
        Sizes {
            reps: 1,
            inst_iters: 50,
            call_iters: 1000,
        }
    } else {
        Sizes {
            reps: 7,
            inst_iters: 2000,
            call_iters: 200_000,
        }
    };
    let load_before = loadavg();
    let inputs = inputs::Inputs::prepare(!smoke)?;
    let work = inputs.work.clone();

    eprintln!("compile rows");
    let mut compile_inputs = Vec::new();
    if let Some((wasm, _)) = &inputs.sqlite {
        compile_inputs.push(("sqlite", wasm.clone(), 3));
    }
    compile_inputs.push((
        "kernels",
        inputs.kernels_wasm.clone(),
        if smoke { 1 } else { 5 },
    ));
    let mut unmeasured = Vec::new();
    if smoke {
        // An 18 MB input compiled four ways would dominate the smoke run.
        eprintln!("smoke mode: the componentize-py and Rust component compile rows are skipped");
    } else {
        match inputs::rust_component(&work) {
            Ok(wasm) => compile_inputs.push(("rust-component", wasm, 5)),
            Err(why) => unmeasured.push(format!("compile: the Rust component — {why}")),
        }
        match py_input::python_component(&work) {
            Ok(wasm) => compile_inputs.push(("py-component", wasm, 3)),
            Err(why) => {
                eprintln!("the componentize-py component is not measured: {why}");
                unmeasured.push(format!("compile: the componentize-py component — {why}"));
            }
        }
    }
    let mut compile_rows = Vec::new();
    let mut artifacts = Vec::new();
    for (name, wasm, reps) in &compile_inputs {
        compile_rows.extend(compile::measure(name, wasm, &work, *reps)?);
        artifacts.push(core_bench::Artifact {
            name: name.to_string(),
            so: work.join(format!("{name}.so")),
            cwasm: work.join(format!("{name}.cwasm")),
            component: name.ends_with("-component"),
        });
    }

    if compile_only {
        return write_compile_only(&work, &compile_rows);
    }

    eprintln!("load rows");
    let load = core_bench::load_rows(&artifacts, sizes)?;
    eprintln!("instantiate rows");
    let mut inst = core_bench::instantiate_rows(&work, sizes)?;
    eprintln!("call rows");
    let calls = core_bench::call_rows(&work, sizes)?;
    eprintln!("component rows");
    let comp = component_bench::component_rows(&work, sizes)?;
    let mut comp_calls = Vec::new();
    for r in comp {
        if r.name.starts_with("instantiate") {
            inst.push(r);
        } else {
            comp_calls.push(r);
        }
    }

    eprintln!("execution rows");
    let kernels_so = work.join("kernels.so");
    let kernels_cwasm = work.join("kernels.cwasm");
    let mut workloads: Vec<exec::Workload> = KERNELS
        .iter()
        .map(|(label, export, n)| exec::Workload {
            label,
            export,
            arg: if smoke { 1 } else { *n },
            so: &kernels_so,
            cwasm: &kernels_cwasm,
            native: &inputs.kernels_native,
            wasi: false,
        })
        .collect();
    let sqlite_so = work.join("sqlite.so");
    let sqlite_cwasm = work.join("sqlite.cwasm");
    if let Some((_, native)) = &inputs.sqlite {
        workloads.push(exec::Workload {
            label: "SQLite: 20k inserts, index, aggregates, update/delete, subquery",
            export: "sqlite_run",
            arg: 20_000,
            so: &sqlite_so,
            cwasm: &sqlite_cwasm,
            native,
            wasi: true,
        });
    }
    let exec_rows = exec::exec_rows(&workloads, if smoke { 1 } else { 5 })?;

    let sections = vec![
        report::section_from(&compile_rows),
        Section {
            title: "Load".into(),
            about: "kiln `Module::load` (dlopen RTLD_NOW + descriptor, ABI, target and CPU \
                    checks, code registration) then drop, vs wasmtime \
                    `Module::deserialize_file` of the `.cwasm` then drop; the artifacts of the \
                    compile rows (components: kiln `Component::load` vs wasmtime \
                    `component::Component::deserialize_file`)."
                .into(),
            rows: load,
        },
        Section {
            title: "Instantiate (module already loaded)".into(),
            about: "One operation = instantiate, optionally call `touch` (a store to pages 0 \
                    and 1), drop. kiln: `InstancePre::instantiate` (memories and tables from \
                    the engine's reservation pool, the default); wasmtime: `Store::new` + \
                    `InstancePre::instantiate`, on-demand and pooling allocators. The ratio \
                    is kiln / wasmtime pooling."
                .into(),
            rows: inst,
        },
        Section {
            title: "Core calls".into(),
            about: "Host→guest: a loop of calls from Rust. Guest→host: one call of a guest \
                    loop, divided by its iterations. kiln's core call API is the dynamic \
                    `Func::call(&[Val]) -> Vec<Val>` (it has no typed API). Ratio: kiln \
                    `Func::call` / wasmtime `TypedFunc`."
                .into(),
            rows: calls,
        },
        Section {
            title: "Component calls".into(),
            about: "Host→guest rows show kiln's dynamic `ComponentInstance::call_func` and its \
                    raw path (`call_raw` with the host C representation + `post_return_raw`, \
                    what the C API's typed wrappers use) beside wasmtime's `TypedFunc` \
                    (`&str` argument); ratio kiln raw / wasmtime. Component→component rows: \
                    one call of the calling component's guest loop (through the fused adapter \
                    into its sibling), divided by its iterations; kiln calls the loop through \
                    its dynamic API (once, so the path does not matter)."
                .into(),
            rows: comp_calls,
        },
        Section {
            title: "Execution".into(),
            about: "C compiled with Debian clang -O2 to wasm (`--target=wasm32 -mbulk-memory \
                    -nostdlib`; SQLite: `--target=wasm32-wasi -mexec-model=reactor`, WASI \
                    imports stubbed to fail), run as a kiln `.so` and under wasmtime, and the \
                    same C built natively with `cc -O2 -shared -fPIC`. One call of the \
                    exported kernel per repetition, the three sides interleaved (after a \
                    warm-up call each); checksums compared."
                .into(),
            rows: exec_rows,
        },
    ];

    unmeasured.extend([
        "compile: the Rust component is the repository's small wit-bindgen sample \
         (`samples/components/rust`, ~26 KB), not a large Rust program"
            .to_string(),
        "instantiate of the componentize-py and Rust components (they import WASI / their \
         world's types; load is measured); component→component calls with `list<u8>` payloads — only strings are measured"
            .to_string(),
        "execution: Lua running a script and bzip2/zlib — replaced by SQLite and the LZ77, \
         CRC-32/FNV kernels (same kinds of work, no extra vendored sources)"
            .to_string(),
    ]);
    if smoke {
        unmeasured.push(
            "smoke mode: SQLite, componentize-py and Rust component rows skipped, one \
             repetition, tiny sizes"
                .into(),
        );
    }
    let docs = inputs::crate_dir().join("../../docs");
    let (md_path, png_path, png_name): (PathBuf, PathBuf, &str) = if smoke {
        (
            work.join("benchmarks-smoke.md"),
            work.join("benchmarks-smoke.png"),
            "benchmarks-smoke.png",
        )
    } else {
        (
            docs.join("benchmarks.md"),
            docs.join("benchmarks.png"),
            "benchmarks.png",
        )
    };
    let bars: Vec<(String, f64)> = sections
        .iter()
        .flat_map(|s| &s.rows)
        .filter_map(|r| r.ratio.map(|x| (r.name.clone(), x)))
        .collect();
    chart::write_chart(&png_path, "kiln vs wasmtime 48.0.8", &bars)?;
    let analysis =
        std::fs::read_to_string(inputs::crate_dir().join("analysis.md")).unwrap_or_default();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let report = report::Report {
        date,
        settings: format!(
            "load average (1 min) before/after the run: {load_before} / {}; mode: {}; {} repetitions (compile: 3 for SQLite and the componentize-py component, 5 for the kernels and the Rust component), {} ops per \
             instantiate repetition, {} per call repetition",
            loadavg(),
            if smoke { "smoke" } else { "full" },
            sizes.reps,
            sizes.inst_iters,
            sizes.call_iters
        ),
        sections: &sections,
        chart: png_name,
        unmeasured: &unmeasured,
        analysis,
    };
    std::fs::write(&md_path, report.render())
        .with_context(|| format!("write {}", md_path.display()))?;
    eprintln!("wrote {} and {}", md_path.display(), png_path.display());
    Ok(())
}

/// `--compile-only`: the compile table (with machine load and date) in
/// `<work>/benchmarks-compile.md`, for adding compile rows without a full run.
fn write_compile_only(work: &std::path::Path, rows: &[compile::CompileRow]) -> Result<()> {
    let section = report::section_from(rows);
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let path = work.join("benchmarks-compile.md");
    let text = format!(
        "# kiln-bench --compile-only, {date}, load average (1 min) at the end: {}\n\n{}",
        loadavg(),
        report::render_section(&section)
    );
    std::fs::write(&path, &text).with_context(|| format!("write {}", path.display()))?;
    print!("{text}");
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The 1-minute load average (other work on the machine skews the figures).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

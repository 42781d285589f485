//! kiln-bench: runs kiln and wasmtime 48.0.8 (and native code) on the same inputs in one run
//! and writes `docs/benchmarks.md` and `docs/benchmarks.png`.
//!
//! `cargo run --release --manifest-path tests/bench/Cargo.toml` for the full run;
//! `-- --smoke` for CI (one repetition, small inputs, report in the work directory only);
//! `-- --compile-only` measures only the compile rows (all inputs, full repetitions) and
//! writes their table to the work directory, leaving `docs/` alone;
//! `-- --only plugins` measures only the componentize-js rows, the WASI instantiate rows and
//! the plugin-host rows and writes them to `<work>/benchmarks-plugins.md`, leaving `docs/`
//! alone (with `--smoke`: one repetition);
//! `-- --only http` measures only the HTTP server rows (kiln serve vs a wasmtime-serve
//! equivalent), writes them to `<work>/benchmarks-http.md` and, without `--smoke`, replaces
//! the HTTP section of `docs/benchmarks.md` with them (the other sections stay as they are).
//! `--kiln PATH` names the kiln binary run as `kiln serve` (default: the newest of
//! `target/{release,debug}/kiln`, or under `$KILN_TARGET_DIR`).

mod async_bench;
mod chart;
mod compile;
mod component_bench;
mod core_bench;
mod engines;
mod exec;
mod font;
mod http_bench;
mod inputs;
mod js_input;
mod load_compare;
mod plugin_bench;
mod plugins;
mod profile;
mod py_input;
mod report;
mod report_types;
mod stats;

use anyhow::{bail, Context, Result};
use core_bench::Sizes;
use plugin_bench::{plugin_rows, plugin_section};
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
    if args.first().map(String::as_str) == Some("--child-plugin") {
        let [_, engine, call, wasi, so, cwasm] = args.as_slice() else {
            bail!("usage: --child-plugin ENGINE CALL wasi|none SO CWASM");
        };
        return plugins::child(engine, call, wasi, so, cwasm);
    }
    if args.first().map(String::as_str) == Some("--profile") {
        if args.get(1).map(String::as_str) == Some("load-compare") {
            return load_compare::run(&args[2..]);
        }
        return profile::run(args.get(1).map_or("", String::as_str));
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    let compile_only = args.iter().any(|a| a == "--compile-only");
    let only_plugins = args
        .windows(2)
        .any(|w| w[0] == "--only" && w[1] == "plugins");
    let only_http = args.windows(2).any(|w| w[0] == "--only" && w[1] == "http");
    let only_async = args.windows(2).any(|w| w[0] == "--only" && w[1] == "async");
    let mut kiln: Option<PathBuf> = None;
    let mut rest = args
        .iter()
        .filter(|a| !matches!(a.as_str(), "--smoke" | "--compile-only"));
    while let Some(a) = rest.next() {
        if a == "--only"
            && matches!(
                rest.next().map(String::as_str),
                Some("plugins" | "http" | "async")
            )
        {
            continue;
        }
        if a == "--kiln" {
            if let Some(p) = rest.next() {
                kiln = Some(PathBuf::from(p));
                continue;
            }
        }
        bail!(
            "unknown argument {a} (usage: kiln-bench [--smoke] [--kiln PATH] [--compile-only | \
             --only plugins | --only http | --only async]; or kiln-bench --instantiate | \
             --profile WHAT)"
        );
    }
    let http_sizes = if smoke {
        http_bench::HttpSizes {
            warmup: std::time::Duration::from_millis(300),
            duration: std::time::Duration::from_millis(1500),
        }
    } else {
        http_bench::HttpSizes {
            warmup: std::time::Duration::from_secs(1),
            duration: std::time::Duration::from_secs(5),
        }
    };
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
    if only_plugins {
        return run_only_plugins(sizes, smoke, &load_before);
    }
    if only_http {
        return run_only_http(kiln.as_deref(), http_sizes, smoke, &load_before);
    }
    if only_async {
        // The component-model async rows alone, printed (they are part of every full run).
        let work = std::env::temp_dir().join("kiln-bench-async");
        std::fs::create_dir_all(&work)?;
        for row in async_bench::async_rows(&work, sizes)? {
            eprintln!("{row:?}");
        }
        return Ok(());
    }
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
        // An 18 MB input compiled four ways would dominate the smoke run, and building the
        // JS component from npm takes about 1.5 minutes on a cold cache.
        eprintln!(
            "smoke mode: the componentize-js, componentize-py and Rust component rows are skipped"
        );
    } else {
        match js_input::js_component() {
            Ok(wasm) => compile_inputs.push(("js-component", wasm, 3)),
            Err(why) => {
                eprintln!("the componentize-js component is not measured: {why}");
                unmeasured.push(format!("the componentize-js component (every row) — {why}"));
            }
        }
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
        match compile::measure(name, wasm, &work, *reps) {
            Ok(rows) => compile_rows.extend(rows),
            // A component input that one engine cannot compile is reported, not fatal.
            Err(e) if name.ends_with("-component") => {
                eprintln!("  compile {name} failed: {e:#}");
                unmeasured.push(format!("{name} (every row) — compile failed: {e:#}"));
                continue;
            }
            Err(e) => return Err(e),
        }
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
    let mut comp = component_bench::component_rows(&work, sizes)?;
    eprintln!("component-model async rows");
    comp.extend(async_bench::async_rows(&work, sizes)?);
    let mut comp_calls = Vec::new();
    for r in comp {
        if r.name.starts_with("instantiate") {
            inst.push(r);
        } else {
            comp_calls.push(r);
        }
    }
    let compiled: Vec<String> = artifacts.iter().map(|a| a.name.clone()).collect();
    let (plugin_inst, js_calls, plugin_rows) =
        plugin_rows(&work, &compiled, sizes, &mut unmeasured)?;
    inst.extend(plugin_inst);
    comp_calls.extend(js_calls);

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
    eprintln!("HTTP rows");
    let (http_section, http_notes) = http_bench::http_rows(kiln.as_deref(), http_sizes)?;
    unmeasured.extend(http_notes);

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
                    is kiln / wasmtime pooling. \"(with WASI)\" rows: the compiled components \
                    that import WASI, with each engine's WASI 0.2 host in the linker (kiln \
                    `wasi::add_to_linker`, wasmtime `wasmtime_wasi::p2::add_to_linker_sync`) \
                    and a fresh WASI state per instance (kiln `WasiState`, wasmtime a \
                    `WasiCtx` in the `Store`)."
                .into(),
            rows: inst,
        },
        Section {
            title: "Core calls".into(),
            about: "Host→guest: a loop of calls from Rust, through each engine's typed API \
                    (`TypedFunc`) and its dynamic one (`Func::call`). Guest→host: one call of a \
                    guest loop, divided by its iterations; the host function is a typed closure \
                    (kiln `Linker::func_wrap`, wasmtime `func_wrap`) in the typed column and a \
                    dynamic one (kiln `func_new` over `Val`s) in the other. Ratio: kiln typed / \
                    wasmtime typed."
                .into(),
            rows: calls,
        },
        Section {
            title: "Component calls".into(),
            about: "Host→guest rows show kiln's dynamic `ComponentInstance::call_func`, its \
                    `TypedFunc` (`typed_func::<(&str,), u32>`) and its raw path (`call_raw` with \
                    the host C representation + `post_return_raw`, what the C API's typed \
                    wrappers use) beside wasmtime's `TypedFunc` \
                    (`&str` argument); ratio kiln raw / wasmtime. Component→component rows: \
                    one call of the calling component's guest loop (through the fused adapter \
                    into its sibling), divided by its iterations; kiln calls the loop through \
                    its dynamic API (once, so the path does not matter). JS component rows: \
                    `greet` and `sum` of the componentize-js component (instantiated with \
                    WASI), the same three paths (wasmtime: `(&str,)` / `(&[u32],)`)."
                .into(),
            rows: comp_calls,
        },
        plugin_section(plugin_rows),
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
        http_section,
    ];

    unmeasured.extend([
        "compile: the Rust component is the repository's small wit-bindgen sample \
         (`samples/components/rust`, ~26 KB), not a large Rust program"
            .to_string(),
        "component→component calls with `list<u8>` payloads — only strings are measured"
            .to_string(),
        "execution: Lua running a script and bzip2/zlib — replaced by SQLite and the LZ77, \
         CRC-32/FNV kernels (same kinds of work, no extra vendored sources)"
            .to_string(),
    ]);
    if smoke {
        unmeasured.push(
            "smoke mode: SQLite, componentize-js, componentize-py and Rust component rows \
             skipped (the plugin-host rows only for the WAT component), one repetition, tiny \
             sizes"
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
            "load average (1 min) before/after the run: {load_before} / {}; mode: {}; {} repetitions (compile: 3 for SQLite and the componentize-js and componentize-py components, 5 for the kernels and the Rust component), {} ops per \
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

/// Builds a component input into the work directory (`Err`: why it is not available).
type BuildFn = fn(&std::path::Path) -> Result<PathBuf, String>;

/// `--only plugins`: the componentize-js compile, load, instantiate and call rows, the WASI
/// instantiate rows and the plugin-host rows, in `<work>/benchmarks-plugins.md`. The
/// componentize-py and Rust components take part when their artifacts are in the work
/// directory (from an earlier run) or can be built (one compile each, rows not reported).
fn run_only_plugins(sizes: Sizes, smoke: bool, load_before: &str) -> Result<()> {
    let work = inputs::work_dir()?;
    let mut unmeasured = Vec::new();
    let mut compiled = Vec::new();
    let mut compile_rows = Vec::new();
    let mut artifacts = Vec::new();
    match js_input::js_component() {
        Ok(wasm) => match compile::measure("js-component", &wasm, &work, if smoke { 1 } else { 3 })
        {
            Err(e) => unmeasured.push(format!("js-component — compile failed: {e:#}")),
            Ok(rows) => {
                compile_rows = rows;
                compiled.push("js-component".to_string());
                artifacts.push(core_bench::Artifact {
                    name: "js-component".into(),
                    so: work.join("js-component.so"),
                    cwasm: work.join("js-component.cwasm"),
                    component: true,
                });
            }
        },
        Err(why) => unmeasured.push(format!("the componentize-js component — {why}")),
    }
    let others: [(&str, BuildFn); 2] = [
        ("py-component", py_input::python_component),
        ("rust-component", inputs::rust_component),
    ];
    for (name, build) in others {
        let (so, cwasm) = (
            work.join(format!("{name}.so")),
            work.join(format!("{name}.cwasm")),
        );
        match build(&work) {
            Ok(wasm) => {
                let fresh = |p: &std::path::Path| {
                    let t =
                        |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
                    matches!((t(p), t(&wasm)), (Some(a), Some(b)) if a >= b)
                };
                if !(fresh(&so) && fresh(&cwasm)) {
                    if let Err(e) = compile::measure(name, &wasm, &work, 1) {
                        unmeasured.push(format!("{name} — compile failed: {e:#}"));
                        continue;
                    }
                }
                compiled.push(name.to_string());
            }
            Err(why) => unmeasured.push(format!("{name} — {why}")),
        }
    }
    let load = core_bench::load_rows(&artifacts, sizes)?;
    let (inst, calls, host) = plugin_rows(&work, &compiled, sizes, &mut unmeasured)?;
    let mut sections = vec![report::section_from(&compile_rows)];
    for (title, rows) in [
        ("Load", load),
        ("Instantiate (with WASI)", inst),
        ("JS component calls", calls),
    ] {
        sections.push(Section {
            title: title.into(),
            about: String::new(),
            rows,
        });
    }
    sections.push(plugin_section(host));
    let mut text = format!(
        "# kiln-bench --only plugins, {}, load average (1 min) before/after: {load_before} / {}; {} repetitions\n\n",
        std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default(),
        loadavg(),
        sizes.reps
    );
    for s in &sections {
        text.push_str(&report::render_section(s));
    }
    for u in &unmeasured {
        text.push_str(&format!("- not measured: {u}\n"));
    }
    let path = work.join("benchmarks-plugins.md");
    std::fs::write(&path, &text).with_context(|| format!("write {}", path.display()))?;
    print!("{text}");
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// `--only http`: the HTTP server rows in `<work>/benchmarks-http.md`; without `--smoke` they
/// also replace the HTTP section of `docs/benchmarks.md` (or are added before "Largest gap").
fn run_only_http(
    kiln: Option<&std::path::Path>,
    sizes: http_bench::HttpSizes,
    smoke: bool,
    load_before: &str,
) -> Result<()> {
    let work = inputs::work_dir()?;
    let (section, notes) = http_bench::http_rows(kiln, sizes)?;
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mut rendered = report::render_section(&section);
    rendered = rendered.replacen(
        "\n\n",
        &format!(
            "\n\nMeasured {date} by `kiln-bench --only http`, load average (1 min) \
             before/after: {load_before} / {}.\n\n",
            loadavg()
        ),
        1,
    );
    for n in &notes {
        rendered.push_str(&format!("- not measured: {n}\n"));
    }
    if !notes.is_empty() {
        rendered.push('\n');
    }
    let path = work.join("benchmarks-http.md");
    std::fs::write(&path, &rendered).with_context(|| format!("write {}", path.display()))?;
    print!("{rendered}");
    eprintln!("wrote {}", path.display());
    if !smoke && !section.rows.is_empty() {
        let docs = inputs::crate_dir().join("../../docs/benchmarks.md");
        let text = std::fs::read_to_string(&docs).with_context(|| docs.display().to_string())?;
        let heading = format!("## {}\n", section.title);
        let text = match text.find(&heading) {
            Some(start) => {
                let end = text[start + heading.len()..]
                    .find("\n## ")
                    .map_or(text.len(), |e| start + heading.len() + e + 1);
                format!("{}{rendered}{}", &text[..start], &text[end..])
            }
            None => match text.find("## Largest gap") {
                Some(at) => format!("{}{rendered}{}", &text[..at], &text[at..]),
                None => format!("{text}\n{rendered}"),
            },
        };
        std::fs::write(&docs, text).with_context(|| docs.display().to_string())?;
        eprintln!("updated {}", docs.display());
    }
    Ok(())
}

/// The 1-minute load average (other work on the machine skews the figures).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

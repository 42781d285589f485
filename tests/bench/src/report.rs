//! Writes `docs/benchmarks.md`: machine and date, one table per section, the chart, the
//! rows not measured, the largest gap, and the hand-written analysis (`analysis.md`).

use crate::compile::CompileRow;
use crate::report_types::{Row, Section};
use std::fmt::Write;
use std::process::Command;

fn cmd_out(prog: &str, args: &[&str]) -> String {
    Command::new(prog)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// `lscpu` model name and CPU count.
pub fn machine() -> String {
    let l = cmd_out("lscpu", &[]);
    let field = |k: &str| {
        l.lines()
            .find(|x| x.starts_with(k))
            .and_then(|x| x.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "{} ({} CPUs, {} threads per core), Linux {}",
        field("Model name"),
        field("CPU(s)"),
        field("Thread(s) per core"),
        cmd_out("uname", &["-r"])
    )
}

/// Rows for the compile section from the raw compile measurements.
pub fn section_from(rows: &[CompileRow]) -> Section {
    let mut out = Vec::new();
    let find = |input: &str, e: &str, t: usize| {
        rows.iter()
            .find(|r| r.input == input && r.engine == e && r.threads == t)
    };
    let mut inputs: Vec<&str> = rows.iter().map(|r| r.input.as_str()).collect();
    inputs.dedup();
    let mib = |v: f64| v / (1024.0 * 1024.0);
    for input in inputs {
        for t in [1, 2] {
            let (Some(k), Some(w)) = (find(input, "kiln", t), find(input, "wasmtime", t)) else {
                continue;
            };
            let size = k.wasm_bytes as f64 / 1e6;
            let (kt, wt) = (k.mb_per_s(), w.mb_per_s());
            let met = kt >= 1.2 * wt;
            out.push(
                Row::new(
                    format!("compile {input} ({size:.2} MB), {t} thread(s)"),
                    "MB/s",
                )
                .col("kiln", Some(kt))
                .col("wasmtime", Some(wt))
                .col("kiln s", Some(k.secs.median))
                .col("wasmtime s", Some(w.secs.median))
                .ratio_of(Some(k.secs.median), Some(w.secs.median))
                .goal(format!(
                    "≥ 1.2× wasmtime's throughput ({})",
                    if met { "met" } else { "not met" }
                )),
            );
            let (kr, wr) = (mib(k.rss.median), mib(w.rss.median));
            out.push(
                Row::new(format!("peak RSS compiling {input}, {t} thread(s)"), "MiB")
                    .col("kiln", Some(kr))
                    .col("wasmtime", Some(wr))
                    .col("kiln s", None)
                    .col("wasmtime s", None)
                    .ratio_of(Some(kr), Some(wr))
                    .goal(format!(
                        "≤ 0.8× ({})",
                        if kr <= 0.8 * wr { "met" } else { "not met" }
                    )),
            );
        }
        if let (Some(k1), Some(k2), Some(w1), Some(w2)) = (
            find(input, "kiln", 1),
            find(input, "kiln", 2),
            find(input, "wasmtime", 1),
            find(input, "wasmtime", 2),
        ) {
            let ks = k1.secs.median / k2.secs.median;
            let ws = w1.secs.median / w2.secs.median;
            out.push(
                Row::new(format!("speed-up 1 → 2 threads, {input}"), "×")
                    .col("kiln", Some(ks))
                    .col("wasmtime", Some(ws))
                    .col("kiln s", None)
                    .col("wasmtime s", None)
                    .goal(format!(
                        "≥ 1.8× ({})",
                        if ks >= 1.8 { "met" } else { "not met" }
                    )),
            );
        }
    }
    Section {
        title: "Compile throughput and peak RSS".into(),
        about: "One child process per compile (this binary re-executed), timing only the \
                compile call: kiln `compile_to_file` (parse, Cranelift, emit, system linker → \
                `.so`) with `Config::jobs = N`; wasmtime `Engine::precompile_module` (components: \
                `precompile_component`, i.e. `Component::new` + serialize) + writing the \
                `.cwasm`, parallel compilation on for 2 threads (`RAYON_NUM_THREADS=N`). \
                Peak RSS is the child's `getrusage(RUSAGE_SELF).ru_maxrss` (the same binary \
                holds both engines, so the baseline is shared; kiln's `ld` child is not counted: its \
                `ru_maxrss` only shows the forked parent's size). The ratio column is kiln time \
                / wasmtime time (for RSS: kiln / wasmtime). Inputs: `sqlite` (the SQLite amalgamation + \
                a driver, clang -O2), `kernels` (the execution kernels), `rust-component` \
                (`samples/components/rust`, wit-bindgen), `py-component` (`tests/bench/py`, \
                componentize-py 0.25.1: CPython inside, 14 core modules), `js-component` \
                (`tests/bench/js`, componentize-js 0.23.0 with `-d http fetch-event`: the \
                StarlingMonkey JS engine inside)."
            .into(),
        rows: out,
    }
}

fn fmt_val(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// One section as markdown: heading, description and table.
pub fn render_section(sec: &Section) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## {}\n\n{}\n", sec.title, sec.about);
    let Some(first) = sec.rows.first() else {
        let _ = writeln!(s, "(no rows)\n");
        return s;
    };
    let _ = write!(s, "| row | unit |");
    for (c, _) in &first.cols {
        let _ = write!(s, " {c} |");
    }
    let _ = writeln!(s, " kiln/wasmtime | goal |");
    let _ = write!(s, "|---|---|");
    for _ in &first.cols {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s, "---:|---|");
    for r in &sec.rows {
        let _ = write!(s, "| {} | {} |", r.name, r.unit);
        for (_, v) in &r.cols {
            let _ = write!(s, " {} |", fmt_val(*v));
        }
        let ratio = r.ratio.map_or("—".into(), |x| format!("{x:.2}×"));
        let _ = writeln!(s, " {ratio} | {} |", r.goal);
    }
    let _ = writeln!(s);
    s
}

/// Renders the whole report.
pub struct Report<'a> {
    /// Date line.
    pub date: String,
    /// Run settings line.
    pub settings: String,
    /// Sections in order.
    pub sections: &'a [Section],
    /// Chart file name (relative to the report).
    pub chart: &'a str,
    /// Rows that could not be measured and why.
    pub unmeasured: &'a [String],
    /// Hand-written analysis appended verbatim.
    pub analysis: String,
}

impl Report<'_> {
    /// The markdown text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# kiln benchmarks\n");
        let _ = writeln!(
            s,
            "Generated by `cargo run --release --manifest-path tests/bench/Cargo.toml` \
             (crate `kiln-bench`, `tests/bench/`); do not edit by hand — the analysis at the \
             end comes from `tests/bench/analysis.md`.\n"
        );
        let _ = writeln!(s, "- date: {}", self.date);
        let _ = writeln!(s, "- machine: {}", machine());
        let _ = writeln!(
            s,
            "- peers: wasmtime 48.0.8 (same Cranelift 0.135.8 as kiln); native = `cc -O2` ({})",
            cmd_out("cc", &["--version"]).lines().next().unwrap_or("?")
        );
        let _ = writeln!(
            s,
            "- guest compiler: {}",
            cmd_out("clang", &["--version"])
                .lines()
                .next()
                .unwrap_or("?")
        );
        let _ = writeln!(s, "- {}", self.settings);
        let _ = writeln!(
            s,
            "- both engines configured alike: Cranelift `speed`, guard-page bounds checks, \
             epoch checks on (kiln always emits them; wasmtime `epoch_interruption(true)`)\n"
        );
        let _ = writeln!(
            s,
            "Every figure is a median over the repetitions. \"kiln/wasmtime\" is kiln's cost \
             divided by wasmtime's (time, or memory): below 1 kiln is better.\n"
        );
        let _ = writeln!(s, "![kiln/wasmtime ratios]({})\n", self.chart);
        for sec in self.sections {
            s.push_str(&render_section(sec));
        }
        let all: Vec<&Row> = self
            .sections
            .iter()
            .flat_map(|x| &x.rows)
            .filter(|r| r.ratio.is_some())
            .collect();
        if let Some(worst) = all
            .iter()
            .max_by(|a, b| a.ratio.unwrap_or(0.0).total_cmp(&b.ratio.unwrap_or(0.0)))
        {
            let _ = writeln!(
                s,
                "## Largest gap\n\n{}: kiln/wasmtime = {:.2}× (see the analysis below).\n",
                worst.name,
                worst.ratio.unwrap_or(f64::NAN)
            );
        }
        let _ = writeln!(s, "## Not measured\n");
        for u in self.unmeasured {
            let _ = writeln!(s, "- {u}");
        }
        let _ = writeln!(s, "\n{}", self.analysis.trim_end());
        s
    }
}

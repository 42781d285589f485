//! The WASI mode of kiln-diff: real WASI 0.2 (and 0.3) components run under kiln and under
//! wasmtime 48.0.8 + wasmtime-wasi 48.0.8 with the same arguments, environment, stdin and a
//! fresh copy of the same host tree each; stdout, stderr, the files left behind and the exit
//! status (or returned value, for components called through an export) must agree.
//!
//! The components:
//! - the samples of `samples/wasi/` (built by `samples/wasi/build.sh OUT_DIR` into
//!   `$HOME/.cache/kiln-diff-wasi/samples`, rebuilt only when a file under `samples/wasi/`
//!   changed), each run as its `run.txt` says (`spec::sample_programs`);
//! - the probe guest `tests/diff/guests/probe` (Rust, wasm32-wasip2), whose scenarios stress
//!   the host where results are deterministic (`spec::probe_programs`);
//! - the C probe `tests/diff/guests/cprobe.c` (wasi-libc through the preview1 adapter, which
//!   uses other WASI 0.2 functions: offset streams, readdir cookies, poll; `spec::cprobe_programs`);
//! - the component-model async guest `tests/async-guests/rust`, its exports called
//!   (`spec::async_guest_programs`);
//! - the composition guests `tests/async-guests/compose` (no WASI imports), composed here
//!   with wasm-compose: `compose` = the async app over the synchronous library (async
//!   exports whose tasks call synchronous functions and a resource), `compose-front` = a
//!   synchronous front over that (synchronous exports calling async functions;
//!   `spec::compose_programs`);
//! - the WASI 0.3 command `tests/async-guests/cli3` (`wasi:cli/command@0.3.0`; wasmtime runs it
//!   with wasmtime-wasi's p3 host), one run per behaviour (`spec::cli3_programs`).
//!
//! `spec.rs` describes runs, `hosts.rs` runs them in each runtime, `compare.rs` compares.

mod compare;
mod hosts;
mod spec;

use anyhow::{anyhow, bail, Context, Result};
use spec::Program;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// How one program's comparison ended.
pub enum WasiVerdict {
    /// Both runtimes agreed (a summary of what they produced).
    Pass(String),
    /// They differed: every difference, first first.
    Mismatch(Vec<String>),
    /// Not run, and why.
    Skip(String),
}

/// Where built guests, samples and wasmtime artifacts are kept between runs
/// (`KILN_DIFF_CACHE`, default `$HOME/.cache/kiln-diff-wasi`).
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KILN_DIFF_CACHE") {
        return PathBuf::from(dir);
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache"))
        .unwrap_or_else(std::env::temp_dir)
        .join("kiln-diff-wasi")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether rustc has the wasm32-wasip2 standard library.
fn has_wasip2() -> bool {
    let out = Command::new("rustc").args(["--print", "sysroot"]).output();
    match out {
        Ok(o) if o.status.success() => {
            let sysroot = String::from_utf8_lossy(&o.stdout).trim().to_string();
            Path::new(&sysroot)
                .join("lib/rustlib/wasm32-wasip2")
                .is_dir()
        }
        _ => false,
    }
}

/// Runs `cmd`, failing with the tail of its stderr.
fn run_tool(mut cmd: Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{what} failed ({}):\n{}", out.status, tail.join("\n"));
    }
    Ok(())
}

/// Builds the Rust guest crate of `manifest` for wasm32-wasip2 into the guests' target
/// directory under `cache` (`--locked` when `locked`) and returns `<artifact>.wasm`; `Ok(None)`
/// when the target is missing.
fn build_rust_guest(
    cache: &Path,
    manifest: &Path,
    artifact: &str,
    locked: bool,
) -> Result<Option<PathBuf>> {
    if !has_wasip2() {
        return Ok(None);
    }
    let target = cache.join("guests-target");
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"]);
    if locked {
        cmd.arg("--locked");
    }
    cmd.arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    run_tool(cmd, &format!("cargo build of {}", manifest.display()))?;
    Ok(Some(
        target.join(format!("wasm32-wasip2/release/{artifact}.wasm")),
    ))
}

/// Builds the probe guest; `Ok(None)` when the target is missing.
fn build_probe(cache: &Path) -> Result<Option<PathBuf>> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/probe/Cargo.toml");
    build_rust_guest(cache, &manifest, "kiln-diff-probe", false)
}

/// Builds the component-model async guest (`tests/async-guests/rust`: wit-bindgen async
/// exports, a spawned task writing a stream); `Ok(None)` when the target is missing.
fn build_async_guest(cache: &Path) -> Result<Option<PathBuf>> {
    let manifest = repo_root().join("tests/async-guests/rust/Cargo.toml");
    build_rust_guest(cache, &manifest, "async_guest", true)
}

/// Builds the composition guests (`tests/async-guests/compose`: one Cargo workspace) and
/// composes them with wasm-compose into `cache/compose/`: `app.wasm` (`async-app` over
/// `sync-lib`) and `front.wasm` (`sync-front` over `app.wasm`), neither with any import left;
/// `Ok(None)` when the target is missing.
fn build_compose_guests(cache: &Path) -> Result<Option<(PathBuf, PathBuf)>> {
    let manifest = repo_root().join("tests/async-guests/compose/Cargo.toml");
    let Some(lib) = build_rust_guest(cache, &manifest, "sync_lib", true)? else {
        return Ok(None);
    };
    let out = cache.join("compose");
    std::fs::create_dir_all(&out)?;
    // wasm-compose names a component's instance after its file: kebab case.
    let artifact = |name: &str| -> Result<PathBuf> {
        let to = out.join(format!("{}.wasm", name.replace('_', "-")));
        let from = lib.with_file_name(format!("{name}.wasm"));
        std::fs::copy(&from, &to).with_context(|| format!("copy {}", from.display()))?;
        Ok(to)
    };
    let app = out.join("app.wasm");
    compose(&artifact("async_app")?, &artifact("sync_lib")?, &app)?;
    let front = out.join("front.wasm");
    compose(&artifact("sync_front")?, &app, &front)?;
    Ok(Some((app, front)))
}

/// Writes to `out` the component `root` with its imports satisfied by `definition`'s exports
/// (wasm-compose; an import left unsatisfied is an error).
fn compose(root: &Path, definition: &Path, out: &Path) -> Result<()> {
    let config = wasm_compose::config::Config {
        dir: root.parent().map(Path::to_path_buf).unwrap_or_default(),
        definitions: vec![definition.to_path_buf()],
        disallow_imports: true,
        ..Default::default()
    };
    let bytes = wasm_compose::composer::ComponentComposer::new(root, &config)
        .compose()
        .with_context(|| format!("composing {} with {}", root.display(), definition.display()))?;
    std::fs::write(out, bytes).with_context(|| format!("write {}", out.display()))
}

/// Builds the WASI 0.3 command guest (`tests/async-guests/cli3`) and checks that it imports
/// WASI 0.3 interfaces only (a WASI 0.2 import would let a host run it through its 0.2 side);
/// `Ok(None)` when the target is missing.
fn build_cli3_guest(cache: &Path) -> Result<Option<PathBuf>> {
    let manifest = repo_root().join("tests/async-guests/cli3/Cargo.toml");
    let Some(wasm) = build_rust_guest(cache, &manifest, "cli3_guest", true)? else {
        return Ok(None);
    };
    let bytes = std::fs::read(&wasm).with_context(|| format!("read {}", wasm.display()))?;
    let other: Vec<String> = component_imports(&bytes)?
        .into_iter()
        .filter(|name| !(name.starts_with("wasi:") && name.contains("@0.3.")))
        .collect();
    if !other.is_empty() {
        bail!(
            "{} imports more than WASI 0.3: {}",
            wasm.display(),
            other.join(", ")
        );
    }
    Ok(Some(wasm))
}

/// The names of a component's imports (`wasi:cli/stdout@0.3.0`, or a plain name).
fn component_imports(wasm: &[u8]) -> Result<Vec<String>> {
    match wit_parser::decoding::decode(wasm).map_err(|e| anyhow!("decode the component: {e:#}"))? {
        wit_parser::decoding::DecodedWasm::Component(resolve, world) => Ok(resolve.worlds[world]
            .imports
            .keys()
            .map(|key| resolve.name_world_key(key))
            .collect()),
        wit_parser::decoding::DecodedWasm::WitPackage(..) => {
            bail!("a WIT package, not a component")
        }
    }
}

/// Builds the C probe (`guests/cprobe.c`, wasi-libc + the preview1 command adapter through
/// `kiln-componentize command`); `Ok(None)` when clang cannot target wasm32-wasi here.
fn build_cprobe(cache: &Path) -> Result<Option<PathBuf>> {
    let out = cache.join("cprobe");
    std::fs::create_dir_all(&out)?;
    let core = out.join("cprobe.core.wasm");
    let mut cc = Command::new("clang");
    cc.args(["--target=wasm32-wasi", "-O2", "-Wall", "-Werror"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/cprobe.c"))
        .arg("-o")
        .arg(&core);
    if !Path::new("/usr/include/wasm32-wasi/stdio.h").exists() || run_tool(cc, "clang").is_err() {
        return Ok(None);
    }
    let target = cache.join("samples-target");
    let mut cargo = Command::new("cargo");
    cargo
        .args([
            "build",
            "--quiet",
            "-p",
            "kiln-componentize",
            "--bin",
            "kiln-componentize",
        ])
        .arg("--manifest-path")
        .arg(repo_root().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    run_tool(cargo, "cargo build of kiln-componentize")?;
    let wasm = out.join("cprobe.wasm");
    let mut tool = Command::new(target.join("debug/kiln-componentize"));
    tool.arg("command").arg(&core).arg("-o").arg(&wasm);
    run_tool(tool, "kiln-componentize command")?;
    Ok(Some(wasm))
}

/// A hash of every file under `dir` (names and contents), to know when samples changed.
fn tree_hash(dir: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (name, entry) in compare::walk(dir) {
        name.hash(&mut h);
        format!("{entry:?}").hash(&mut h);
    }
    h.finish()
}

/// Builds `samples/wasi` into the cache (unless already built from the same sources) and
/// returns (the samples directory, the build directory).
fn build_samples(cache: &Path) -> Result<Option<(PathBuf, PathBuf)>> {
    let samples = repo_root().join("samples/wasi");
    let script = samples.join("build.sh");
    if !script.exists() {
        return Ok(None);
    }
    let out = cache.join("samples");
    let stamp = format!("{:016x}\n", tree_hash(&samples));
    let stamp_file = out.join("kiln-diff.stamp");
    if std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str()) {
        return Ok(Some((samples, out)));
    }
    let _ = std::fs::remove_file(&stamp_file);
    println!(
        "wasi: building samples/wasi into {} (build.sh)",
        out.display()
    );
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .arg(&out)
        .env("CARGO_TARGET_DIR", cache.join("samples-target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    run_tool(cmd, "samples/wasi/build.sh")?;
    std::fs::write(&stamp_file, stamp)?;
    Ok(Some((samples, out)))
}

/// Every program to compare, or the reason a whole group is skipped or failed to build.
fn collect(cache: &Path) -> Vec<(String, Result<Vec<Program>, WasiVerdict>)> {
    let mut groups = Vec::new();
    match build_samples(cache) {
        Ok(None) => groups.push((
            "samples".to_string(),
            Err(WasiVerdict::Skip(
                "samples/wasi/build.sh does not exist".into(),
            )),
        )),
        Err(e) => groups.push((
            "samples".to_string(),
            Err(WasiVerdict::Mismatch(vec![format!("{e:#}")])),
        )),
        Ok(Some((src, out))) => {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&src)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            dirs.sort();
            for dir in dirs.into_iter().filter(|d| d.join("run.txt").exists()) {
                let name = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let wasm = out.join(format!("{name}.wasm"));
                let skipped = out.join(format!("{name}.skipped"));
                let group = if let Ok(why) = std::fs::read_to_string(&skipped) {
                    Err(WasiVerdict::Skip(why.trim().to_string()))
                } else if !wasm.exists() {
                    Err(WasiVerdict::Mismatch(vec![format!(
                        "build.sh made neither {name}.wasm nor {name}.skipped"
                    )]))
                } else {
                    spec::sample_programs(&name, &dir, &wasm)
                        .map_err(|e| WasiVerdict::Mismatch(vec![format!("{e:#}")]))
                };
                groups.push((name, group));
            }
        }
    }
    let probe = match build_probe(cache) {
        Ok(Some(wasm)) => Ok(spec::probe_programs(&wasm)),
        Ok(None) => Err(WasiVerdict::Skip(
            "the wasm32-wasip2 Rust target is not installed (rustup target add wasm32-wasip2)"
                .into(),
        )),
        Err(e) => Err(WasiVerdict::Mismatch(vec![format!("{e:#}")])),
    };
    groups.push(("probe".to_string(), probe));
    let cprobe = match build_cprobe(cache) {
        Ok(Some(wasm)) => Ok(spec::cprobe_programs(&wasm)),
        Ok(None) => Err(WasiVerdict::Skip(
            "clang with wasi-libc is not installed (apt-get install clang lld wasi-libc \
             libclang-rt-dev-wasm32)"
                .into(),
        )),
        Err(e) => Err(WasiVerdict::Mismatch(vec![format!("{e:#}")])),
    };
    groups.push(("cprobe".to_string(), cprobe));
    let async_guest = match build_async_guest(cache) {
        Ok(Some(wasm)) => Ok(spec::async_guest_programs(&wasm)),
        Ok(None) => Err(WasiVerdict::Skip(
            "the wasm32-wasip2 Rust target is not installed (rustup target add wasm32-wasip2)"
                .into(),
        )),
        Err(e) => Err(WasiVerdict::Mismatch(vec![format!("{e:#}")])),
    };
    groups.push(("async-guest".to_string(), async_guest));
    match build_compose_guests(cache) {
        Ok(Some((app, front))) => {
            let (app, front) = spec::compose_programs(&app, &front);
            groups.push(("compose".to_string(), Ok(app)));
            groups.push(("compose-front".to_string(), Ok(front)));
        }
        Ok(None) => groups.push((
            "compose".to_string(),
            Err(WasiVerdict::Skip(
                "the wasm32-wasip2 Rust target is not installed (rustup target add wasm32-wasip2)"
                    .into(),
            )),
        )),
        Err(e) => groups.push((
            "compose".to_string(),
            Err(WasiVerdict::Mismatch(vec![format!("{e:#}")])),
        )),
    }
    let cli3 = match build_cli3_guest(cache) {
        Ok(Some(wasm)) => Ok(spec::cli3_programs(&wasm)),
        Ok(None) => Err(WasiVerdict::Skip(
            "the wasm32-wasip2 Rust target is not installed (rustup target add wasm32-wasip2)"
                .into(),
        )),
        Err(e) => Err(WasiVerdict::Mismatch(vec![format!("{e:#}")])),
    };
    groups.push(("cli3".to_string(), cli3));
    groups
}

/// Compares one program, both runtimes' components loaded (kiln's, or why kiln could not
/// compile or load it: then every run is a kiln host error, compared with wasmtime's run).
fn compare_one(
    p: &Program,
    kiln: Result<&hosts::KilnLoaded, &str>,
    wengine: &wasmtime::Engine,
    wcomp: &wasmtime::component::Component,
    work: &Path,
) -> Result<WasiVerdict> {
    let dir = work.join(p.name.replace(['#', '/'], "-"));
    let _ = std::fs::remove_dir_all(&dir);
    let (kroot, wroot) = (dir.join("kiln"), dir.join("wasmtime"));
    spec::prepare(p, &kroot)?;
    spec::prepare(p, &wroot)?;
    let w = hosts::wasmtime_run(wengine, wcomp, p, &wroot);
    let k = match kiln {
        Ok(kiln) => hosts::kiln_run(kiln, p, &kroot, (wengine, wcomp)),
        Err(e) => hosts::Outcome::host_error(anyhow!("{e}")),
    };
    if let Some(dump) = std::env::var_os("KILN_DIFF_DUMP") {
        let base = Path::new(&dump).join(p.name.replace(['#', '/'], "-"));
        for (runtime, o) in [("kiln", &k), ("wasmtime", &w)] {
            let _ = std::fs::write(base.with_extension(format!("{runtime}.stdout")), &o.stdout);
            let _ = std::fs::write(base.with_extension(format!("{runtime}.stderr")), &o.stderr);
            // In full (the report shows a trap's first line and the start of a value).
            let status = match &o.status {
                hosts::Status::Trap(m) => format!("trap ({m})\n"),
                hosts::Status::Returned(_, wave) => format!("returned {wave}\n"),
                other => compare::show_status(other) + "\n",
            };
            let _ = std::fs::write(base.with_extension(format!("{runtime}.status")), status);
        }
    }
    let mut diffs = compare::outcomes(&k, &w, p.compare_stderr);
    diffs.extend(compare::trees(&kroot, &wroot));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(if diffs.is_empty() {
        WasiVerdict::Pass(compare::summary(&w))
    } else {
        WasiVerdict::Mismatch(diffs)
    })
}

/// Runs the WASI mode: every program (whose name contains `filter`, if given) is compared and
/// passed to `report` with its verdict and description.
pub fn run(
    kengine: &kiln_runtime::Engine,
    wengine: &wasmtime::Engine,
    work: &Path,
    filter: Option<&str>,
    mut report: impl FnMut(&str, WasiVerdict, &str),
) {
    let cache = cache_dir();
    let work = work.join("wasi");
    let _ = std::fs::create_dir_all(&work);
    for (group, programs) in collect(&cache) {
        let programs = match programs {
            Ok(p) => p,
            Err(v) => {
                if filter.is_none_or(|f| group.contains(f)) {
                    report(&group, v, "");
                }
                continue;
            }
        };
        let programs: Vec<Program> = programs
            .into_iter()
            .filter(|p| filter.is_none_or(|f| p.name.contains(f)))
            .collect();
        let Some(first) = programs.first() else {
            continue;
        };
        // One compilation per component and runtime, shared by its programs. A component
        // kiln cannot compile or load still runs under wasmtime: each of its programs is then
        // an ordinary difference (a kiln host error against wasmtime's outcome).
        let loaded = std::fs::read(&first.wasm)
            .map_err(|e| anyhow!("read {}: {e}", first.wasm.display()))
            .and_then(|wasm| {
                let t = Instant::now();
                let (w, reused) = hosts::wasmtime_load(wengine, &wasm, &cache.join("wasmtime"))?;
                let tw = t.elapsed();
                let t = Instant::now();
                let so = work.join(format!("{group}.so"));
                let k = hosts::kiln_load(kengine, &wasm, &so).map_err(|e| format!("{e:#}"));
                println!(
                    "wasi: {group}: {} KiB component; wasmtime {} in {:.1} s, kiln {} in \
                     {:.1} s",
                    wasm.len() >> 10,
                    if reused {
                        "loaded its cached artifact"
                    } else {
                        "compiled it"
                    },
                    tw.as_secs_f64(),
                    if k.is_ok() {
                        "compiled and loaded it"
                    } else {
                        "failed to compile or load it"
                    },
                    t.elapsed().as_secs_f64()
                );
                Ok((w, k))
            });
        let (wcomp, kiln) = match loaded {
            Ok(x) => x,
            Err(e) => {
                for p in &programs {
                    report(
                        &p.name,
                        WasiVerdict::Mismatch(vec![format!("{e:#}")]),
                        &p.describe(),
                    );
                }
                continue;
            }
        };
        for p in &programs {
            let v = compare_one(
                p,
                kiln.as_ref().map_err(String::as_str),
                wengine,
                &wcomp,
                &work,
            )
            .unwrap_or_else(|e| WasiVerdict::Mismatch(vec![format!("setup: {e:#}")]));
            report(&p.name, v, &p.describe());
        }
    }
}

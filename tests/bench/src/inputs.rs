//! Benchmark inputs: C compiled to wasm with Debian clang (and natively with `cc -O2`), and the
//! small WAT modules and the component the runtime rows use. Built once into the work directory
//! and rebuilt when a source is newer than its output.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the harness keeps the C sources, WAT files and generated inputs.
pub struct Inputs {
    /// Work directory for generated files.
    pub work: PathBuf,
    /// The compute kernels as wasm (freestanding, no imports).
    pub kernels_wasm: PathBuf,
    /// The compute kernels as a native shared library.
    pub kernels_native: PathBuf,
    /// SQLite + driver as wasm32-wasi reactor, and natively (`None` in smoke mode).
    pub sqlite: Option<(PathBuf, PathBuf)>,
}

/// The crate's directory (sources of the C and WAT inputs).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The work directory: beside the harness binary in the cargo target directory.
pub fn work_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("current_exe")?;
    let dir = exe
        .parent()
        .map(|d| d.join("kiln-bench-work"))
        .unwrap_or_else(|| std::env::temp_dir().join("kiln-bench-work"));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

fn newer_than(out: &Path, sources: &[PathBuf]) -> bool {
    let Ok(out_time) = std::fs::metadata(out).and_then(|m| m.modified()) else {
        return false;
    };
    sources.iter().all(|s| {
        std::fs::metadata(s)
            .and_then(|m| m.modified())
            .map(|t| t <= out_time)
            .unwrap_or(false)
    })
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}\n{}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The clang flags for the freestanding wasm kernels.
pub const KERNEL_WASM_FLAGS: &str =
    "clang --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry";
/// The SQLite configuration shared by the wasm and native builds.
pub const SQLITE_DEFINES: &[&str] = &[
    "-DSQLITE_OS_OTHER=1",
    "-DSQLITE_THREADSAFE=0",
    "-DSQLITE_OMIT_LOAD_EXTENSION",
    "-DSQLITE_TEMP_STORE=3",
    "-DSQLITE_OMIT_WAL",
    "-DSQLITE_MAX_MMAP_SIZE=0",
    "-DSQLITE_OMIT_SHARED_CACHE",
    "-DSQLITE_DEFAULT_MEMSTATUS=0",
];

impl Inputs {
    /// Builds (or reuses) every input; SQLite only when `with_sqlite`.
    pub fn prepare(with_sqlite: bool) -> Result<Inputs> {
        let work = work_dir()?;
        let src = crate_dir().join("c");
        let kernels_c = src.join("kernels.c");
        let kernels_wasm = work.join("kernels.wasm");
        if !newer_than(&kernels_wasm, std::slice::from_ref(&kernels_c)) {
            eprintln!("building {}", kernels_wasm.display());
            let mut words = KERNEL_WASM_FLAGS.split(' ');
            let mut cmd = Command::new(words.next().unwrap_or("clang"));
            run(cmd.args(words).arg("-o").arg(&kernels_wasm).arg(&kernels_c))?;
        }
        let kernels_native = work.join("kernels-native.so");
        if !newer_than(&kernels_native, std::slice::from_ref(&kernels_c)) {
            eprintln!("building {}", kernels_native.display());
            run(Command::new("cc")
                .args(["-O2", "-shared", "-fPIC", "-o"])
                .arg(&kernels_native)
                .arg(&kernels_c)
                .arg("-lm"))?;
        }
        let sqlite = if with_sqlite {
            Some(build_sqlite(&work, &src)?)
        } else {
            None
        };
        Ok(Inputs {
            work,
            kernels_wasm,
            kernels_native,
            sqlite,
        })
    }
}

/// The vendored SQLite amalgamation directory (from libsqlite3-sys, `bundled`).
pub fn sqlite_dir() -> Result<PathBuf> {
    let dir = PathBuf::from(env!("KILN_BENCH_SQLITE_DIR"));
    if !dir.join("sqlite3.c").exists() {
        bail!("no sqlite3.c in {:?} (libsqlite3-sys bundled sources)", dir);
    }
    Ok(dir)
}

fn build_sqlite(work: &Path, src: &Path) -> Result<(PathBuf, PathBuf)> {
    let dir = sqlite_dir()?;
    let sources = vec![
        src.join("sqlite_driver.c"),
        dir.join("sqlite3.c"),
        dir.join("wasm32-wasi-vfs.c"),
    ];
    let wasm = work.join("sqlite.wasm");
    if !newer_than(&wasm, &sources) {
        eprintln!("building {} (clang, ~30 s)", wasm.display());
        run(Command::new("clang")
            .args(["--target=wasm32-wasi", "-O2", "-mexec-model=reactor"])
            .args(SQLITE_DEFINES)
            .arg("-I")
            .arg(&dir)
            .arg("-o")
            .arg(&wasm)
            .args(&sources))?;
    }
    let native = work.join("sqlite-native.so");
    if !newer_than(&native, &sources) {
        eprintln!("building {} (cc, ~30 s)", native.display());
        run(Command::new("cc")
            .args(["-O2", "-shared", "-fPIC"])
            .args(SQLITE_DEFINES)
            .arg("-I")
            .arg(&dir)
            .arg("-o")
            .arg(&native)
            .args(&sources)
            .arg("-lm"))?;
    }
    Ok((wasm, native))
}

/// The core module of the call rows: exports `nop`, `add` and `call_host(n)` (calls the
/// imported `host.nop` n times).
pub const CALLS_WAT: &str = r#"(module
  (import "host" "nop" (func $hnop))
  (func (export "nop"))
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "call_host") (param $n i32)
    (block $done
      (loop $l
        local.get $n
        i32.eqz
        br_if $done
        call $hnop
        local.get $n
        i32.const 1
        i32.sub
        local.set $n
        br $l))))"#;

/// An empty module.
pub const EMPTY_WAT: &str = "(module)";

/// A module with a 2-page memory and `touch` (writes one word in each of pages 0 and 1).
pub const MEMORY_WAT: &str = r#"(module
  (memory (export "memory") 2)
  (func (export "touch")
    i32.const 0 i32.const 1 i32.store
    i32.const 65536 i32.const 1 i32.store))"#;

/// A module with 1 MiB of (non-zero) active data at offset 0 and the same `touch`.
pub fn data_wat() -> String {
    let mut data = String::with_capacity(3 << 20);
    for i in 0..(1u32 << 20) {
        let b = (i.wrapping_mul(2654435761) >> 13) as u8 | 1;
        data.push_str(&format!("\\{b:02x}"));
    }
    format!(
        r#"(module
  (memory (export "memory") 17)
  (data (i32.const 0) "{data}")
  (func (export "touch")
    i32.const 0 i32.const 1 i32.store
    i32.const 65536 i32.const 1 i32.store))"#
    )
}

/// The benchmark component (three core modules), as WAT.
pub fn component_wat() -> Result<String> {
    let path = crate_dir().join("wat").join("component.wat");
    std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))
}

/// The Rust sample component (`samples/components/rust`, wit-bindgen) built with
/// `cargo build --locked --release --target wasm32-wasip2` into the work directory; `Err` says
/// why it could not be built (e.g. the target is not installed).
pub fn rust_component(work: &Path) -> std::result::Result<PathBuf, String> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    if !Path::new(&sysroot)
        .join("lib/rustlib/wasm32-wasip2")
        .exists()
    {
        return Err("the wasm32-wasip2 Rust target is not installed".into());
    }
    let target = work.join("samples-rust");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let dir = crate_dir().join("../../samples/components/rust");
    eprintln!("building the Rust sample component (cargo, wasm32-wasip2)");
    run(Command::new(cargo)
        .args([
            "build",
            "--locked",
            "--release",
            "--target",
            "wasm32-wasip2",
        ])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS"))
    .map_err(|e| format!("cargo build of samples/components/rust failed: {e}"))?;
    let wasm = target.join("wasm32-wasip2/release/inventory_rs.wasm");
    if wasm.exists() {
        Ok(wasm)
    } else {
        Err(format!("{} was not produced", wasm.display()))
    }
}

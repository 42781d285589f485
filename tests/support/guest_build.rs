//! Building guests and caching what is built, with the standard library only, so that the
//! peer workspace (`tests/diff`, `tests/bench`) includes this file (and `http_guests.rs`)
//! with `#[path]` and shares the test suite's builds instead of making its own:
//!
//! - [`Fnv`] and [`source_files`]: the stable hash and the source list of the cache keys;
//! - [`wasip2_target_missing`] and [`build_wasip2_guest`]: Rust guests for `wasm32-wasip2`;
//! - [`compiled_so`]: a component compiled by `kiln compile` into
//!   `$HOME/.cache/kiln-guest-so/`, keyed by the component's bytes and the `kiln`
//!   executable's identity and built under a lock, so a large guest (the 12 MB
//!   componentize-js components take ~30 s in a debug `kiln`) is compiled once for every
//!   test and the HTTP differential that load it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// FNV-1a (64-bit): a stable hash for cache keys (std's hasher may change between releases).
pub struct Fnv(u64);

impl Fnv {
    /// The hash of nothing.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    /// The hash so far.
    pub fn value(&self) -> u64 {
        self.0
    }

    /// Adds `bytes` (and a separator).
    pub fn add(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 = self.0.rotate_left(7) ^ 0xff;
    }
}

/// Every file under `dir` (recursively, sorted) that can change a build: not the expected
/// outputs, run files, READMEs or build directories.
pub fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            if !name.starts_with("expected") && name != "target" && name != "__pycache__" {
                source_files(&path, out);
            }
        } else if !(name.ends_with(".md") || name.starts_with("run") && name.ends_with(".txt")) {
            out.push(path);
        }
    }
}

/// The user cache directory for test builds (`$HOME/.cache`, else the temp directory).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cache"))
        .unwrap_or_else(std::env::temp_dir)
}

/// The repository's `tests/` directory (found from the including crate's manifest directory:
/// `tests/` itself for kiln-tests, `tests/diff` or `tests/bench` for the peers).
pub fn tests_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|d| d.join("wasi-guests").is_dir() && d.join("http-guests").is_dir())
        .unwrap_or(manifest)
        .to_path_buf()
}

/// Why Rust guests for `wasm32-wasip2` cannot be built here, if they cannot: the target must
/// be installed (`rustup target add wasm32-wasip2`; `.ci/run` tries, but the rustup server is
/// not a registry every machine reaches). Tests that need such a guest print this and return.
pub fn wasip2_target_missing() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc).args(["--print", "sysroot"]).output();
    let sysroot = match out {
        Ok(o) if o.status.success() => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        Ok(o) => return Some(format!("rustc --print sysroot failed: {}", o.status)),
        Err(e) => return Some(format!("cannot run rustc: {e}")),
    };
    let lib = sysroot.join("lib/rustlib/wasm32-wasip2");
    (!lib.is_dir()).then(|| {
        format!(
            "the wasm32-wasip2 target is not installed ({} is missing; \
             `rustup target add wasm32-wasip2` installs it)",
            lib.display()
        )
    })
}

/// Builds the Rust guest crate in `crate_dir` for `wasm32-wasip2` (release; `--locked` when it
/// has a `Cargo.lock`) into target directory `target` and returns the path of its
/// `<artifact>.wasm` (a component). Panics with cargo's output when the build fails.
pub fn build_wasip2_guest(crate_dir: &Path, target: &Path, artifact: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", "wasm32-wasip2"]);
    if crate_dir.join("Cargo.lock").exists() {
        cmd.arg("--locked");
    }
    let out = cmd
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo build of {} failed:\n{}",
        crate_dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    target.join(format!("wasm32-wasip2/release/{artifact}.wasm"))
}

/// `$HOME/.cache/kiln-guest-so`: the compiled guests of [`compiled_so`].
pub fn so_cache_dir() -> PathBuf {
    cache_dir().join("kiln-guest-so")
}

/// The identity of the `kiln` executable `kiln` (path, size and modification time): a
/// rebuilt compiler gets new cache entries.
fn compiler_identity(kiln: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(kiln).map_err(|e| format!("{}: {e}", kiln.display()))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .unwrap_or_default();
    let mut id = kiln.to_string_lossy().into_owned().into_bytes();
    id.extend_from_slice(&meta.len().to_le_bytes());
    id.extend_from_slice(&modified.as_nanos().to_le_bytes());
    Ok(id)
}

/// The component `wasm` compiled to a `.so` by `kiln compile` (with its defaults) of the
/// executable `kiln`, from the cache [`so_cache_dir`] when this component was compiled by
/// this executable before: the entry is named `<wasm's stem>-<hash>.so`, the hash covering
/// the component's bytes and the executable's identity. A compile holds a lock on
/// `<entry>.lock` (another process or thread wanting the same entry waits for it, then uses
/// it) and writes through a temporary file. Entries unused for a week are removed. `Err` has
/// `kiln compile`'s output when it fails.
pub fn compiled_so(kiln: &Path, wasm: &Path) -> Result<PathBuf, String> {
    let bytes = std::fs::read(wasm).map_err(|e| format!("read {}: {e}", wasm.display()))?;
    let mut h = Fnv::new();
    h.add(&bytes);
    h.add(&compiler_identity(kiln)?);
    let stem = wasm
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "guest".into());
    let root = so_cache_dir();
    std::fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
    let name = format!("{stem}-{:016x}.so", h.value());
    let out = root.join(&name);
    let lock = std::fs::File::create(root.join(format!("{name}.lock")))
        .map_err(|e| format!("create the lock of {name}: {e}"))?;
    lock.lock()
        .map_err(|e| format!("lock {}: {e}", out.display()))?;
    if out.is_file() {
        // Used now: keeps it from being pruned.
        if let Ok(f) = std::fs::File::options().append(true).open(&out) {
            let _ = f.set_modified(SystemTime::now());
        }
        return Ok(out);
    }
    prune(&root, &name);
    let tmp = root.join(format!("{name}.tmp{}", std::process::id()));
    let started = std::time::Instant::now();
    let result = Command::new(kiln)
        .arg("compile")
        .arg(wasm)
        .arg("-o")
        .arg(&tmp)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", kiln.display()))
        .and_then(|o| {
            if o.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "kiln compile {} failed ({}):\n{}",
                    wasm.display(),
                    o.status,
                    String::from_utf8_lossy(&o.stderr)
                ))
            }
        })
        .and_then(|()| {
            std::fs::rename(&tmp, &out).map_err(|e| format!("rename {}: {e}", tmp.display()))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    eprintln!(
        "compiled {} with {} in {:.1} s (cached as {})",
        wasm.display(),
        kiln.display(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(out)
}

/// Removes entries of `root` (`.so` files, their locks and temporary files left by a
/// killed compile) other than `keep` not used for a week.
fn prune(root: &Path, keep: &str) {
    let week = Duration::from_secs(7 * 24 * 3600);
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.ends_with(".so") || name.ends_with(".so.lock") || name.contains(".so.tmp");
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > week);
        if ours && old && !name.starts_with(keep) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

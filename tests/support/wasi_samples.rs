//! The real WASI sample components of `samples/wasi/` (a C command, SQLite, a Rust command,
//! the componentize-py Python component), built once per test process by
//! `samples/wasi/build.sh` and cached under `$HOME/.cache/kiln-wasi-samples/<hash of the
//! sources and tools>/` (building SQLite and the Python component takes minutes on two loaded
//! cores). Used by the samples test (`tests/tests/wasi_samples.rs`) and the reproducibility
//! test (`tests/tests/reproducible.rs`). The Rust sample is skipped (with a printed reason)
//! where the `wasm32-wasip2` target is missing, the Python one where componentize-py cannot be
//! installed from PyPI; the C ones fail without clang (`.ci/run` installs it).

use crate::guest_build::{source_files, Fnv};
use crate::tools::{output, target_dirs};
use crate::workspace;
use kiln_cli::tempdir::TempDir;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `samples/wasi/`.
pub fn samples() -> PathBuf {
    workspace().join("samples").join("wasi")
}

/// `kiln` and `kiln-componentize` of this build.
pub fn tools() -> (&'static Path, &'static Path) {
    (
        crate::tools::kiln_exe(),
        crate::tools::kiln_componentize_exe(),
    )
}

/// The version line of `tool`, or an empty string when it does not run.
fn version_of(tool: &str, arg: &str) -> Vec<u8> {
    Command::new(tool)
        .arg(arg)
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default()
}

/// The cache key: the samples' sources, the componentize tool's sources and the toolchain.
fn cache_key(componentize: &Path) -> String {
    let mut h = Fnv::new();
    let mut files = Vec::new();
    source_files(&samples(), &mut files);
    source_files(&workspace().join("tests/componentize/src"), &mut files);
    files.push(workspace().join("tests/componentize/Cargo.toml"));
    for f in &files {
        h.add(f.to_string_lossy().as_bytes());
        h.add(&std::fs::read(f).unwrap_or_default());
    }
    h.add(&version_of("clang", "--version"));
    h.add(&version_of("rustc", "-V"));
    if let Ok(meta) = std::fs::metadata(componentize) {
        h.add(format!("{:?}", meta.modified().ok()).as_bytes());
    }
    format!("{:016x}", h.value())
}

/// The sample components build.sh makes.
pub const COMPONENTS: [&str; 4] = ["c-command", "sqlite", "rust-command", "python"];

/// The directory holding the built components (`<name>.wasm` or `<name>.skipped`), built
/// with `samples/wasi/build.sh` once per test process and cached across runs.
pub fn built() -> &'static Path {
    static DIR: OnceLock<(Option<TempDir>, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let (_, componentize) = tools();
        let key = cache_key(componentize);
        let (keep, root) = match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(home) => (None, PathBuf::from(home).join(".cache/kiln-wasi-samples")),
            None => {
                let t = TempDir::new("kiln-wasi-samples").expect("temp dir");
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let dir = root.join(&key);
        let complete = |d: &Path| {
            COMPONENTS.iter().all(|c| {
                d.join(format!("{c}.wasm")).is_file() || d.join(format!("{c}.skipped")).is_file()
            })
        };
        if complete(&dir) {
            eprintln!(
                "using the WASI sample components cached in {}",
                dir.display()
            );
            return (keep, dir);
        }
        std::fs::create_dir_all(&root).expect("create the cache directory");
        let tmp = root.join(format!("{key}.tmp.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let (target, _) = target_dirs();
        eprintln!("building the WASI sample components into {}", dir.display());
        let started = std::time::Instant::now();
        let out = output(
            Command::new("bash")
                .arg(samples().join("build.sh"))
                .arg(&tmp)
                .env("KILN_COMPONENTIZE", componentize)
                .env("CARGO_TARGET_DIR", &target),
        );
        assert!(
            out.status.success(),
            "samples/wasi/build.sh failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "built the WASI samples in {:.1} s:\n{}",
            started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(complete(&tmp), "build.sh left components missing");
        // Another process may have finished the same key first: either copy will do.
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        assert!(complete(&dir), "no components in {}", dir.display());
        prune(&root, &key);
        (keep, dir)
    })
    .1
}

/// Removes cache entries other than `keep` that were last built more than a week ago (each
/// holds ~20 MB, mostly the Python component).
fn prune(root: &Path, keep: &str) {
    let week = std::time::Duration::from_secs(7 * 24 * 3600);
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > week);
        if old && entry.file_name() != keep {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The built component `name`, or `None` (after printing why) when build.sh skipped it.
pub fn component(name: &str) -> Option<PathBuf> {
    let dir = built();
    let skipped = dir.join(format!("{name}.skipped"));
    if let Ok(why) = std::fs::read_to_string(&skipped) {
        eprintln!("skipping the {name} sample: {}", why.trim());
        return None;
    }
    Some(dir.join(format!("{name}.wasm")))
}

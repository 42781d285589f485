//! `wasi:filesystem` in kiln's native WASI 0.2 host, end to end: the Rust std guest in
//! `tests/wasi-guests/fs` (built for wasm32-wasip2 — skipped with a printed reason when that
//! target is not installed) is compiled by kiln and run with `kiln_runtime::wasi` over a
//! temporary tree: a read-write preopen `/data`, a read-only preopen `/ro`, a secret file
//! beside them, and host-made symbolic links in `/data` leading out. The guest reports each
//! check in `/data/report.txt`; the host then checks the files it left, and that nothing
//! outside the preopens was read, changed or created.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::wasi::{self, OutputBuffer, OutputConfig, WasiConfig};
use kiln_runtime::{Component, ComponentLinker, Engine};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The guest built with cargo and compiled by kiln (once per test process); `None` after
/// printing why when the wasm32-wasip2 target is missing.
fn guest() -> Option<&'static Path> {
    static SO: OnceLock<Option<(TempDir, PathBuf)>> = OnceLock::new();
    SO.get_or_init(|| {
        kiln_tests::compiled_wasip2_guest(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("wasi-guests/fs"),
            "kiln-wasi-guests-fs",
            "fs-guest",
            "wasi:filesystem",
        )
    })
    .as_ref()
    .map(|(_, so)| so.as_path())
}

const SECRET: &str = "TOP SECRET: the guest must never see this";

/// The tree a run works on: `base/{secret, data/, ro/keep.txt}` with links in `data`.
struct Tree {
    _tmp: TempDir,
    base: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let tmp = TempDir::new("kiln-wasi-fs-tree").expect("temp dir");
        let base = tmp.path().to_path_buf();
        std::fs::write(base.join("secret"), SECRET).unwrap();
        std::fs::create_dir(base.join("data")).unwrap();
        std::fs::create_dir(base.join("ro")).unwrap();
        std::fs::write(base.join("ro/keep.txt"), "keep me").unwrap();
        let data = base.join("data");
        std::os::unix::fs::symlink(base.join("secret"), data.join("link_out")).unwrap();
        std::os::unix::fs::symlink("../secret", data.join("rel_out")).unwrap();
        std::os::unix::fs::symlink("..", data.join("dir_out")).unwrap();
        Tree { _tmp: tmp, base }
    }

    fn data(&self) -> PathBuf {
        self.base.join("data")
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// Runs the guest over `tree`; returns (exit status, stdout).
fn run(so: &Path, tree: &Tree) -> (i32, String) {
    let engine = Engine::default();
    let component = Component::load(&engine, so).unwrap_or_else(|e| panic!("load: {e}"));
    let mut linker = ComponentLinker::new(&engine);
    let out = OutputBuffer::new();
    let mut cfg = WasiConfig::new();
    cfg.args(&["fs-guest"]);
    cfg.preopen_dir(tree.data(), "/data", false);
    cfg.preopen_dir(tree.base.join("ro"), "/ro", true);
    cfg.stdout = OutputConfig::Buffer(out.clone());
    wasi::add_to_linker(&mut linker, cfg);
    let instance = linker
        .instantiate(&component)
        .unwrap_or_else(|e| panic!("instantiate: {e}"));
    let status = wasi::run_command(&instance).unwrap_or_else(|e| panic!("run: {e}"));
    (
        status,
        String::from_utf8_lossy(&out.contents()).into_owned(),
    )
}

#[test]
fn guest_filesystem_checks_pass_and_nothing_escapes() {
    let Some(so) = guest() else {
        return;
    };
    let tree = Tree::new();
    let secret_meta = std::fs::metadata(tree.base.join("secret")).unwrap();
    let (status, stdout) = run(so, &tree);

    let report = std::fs::read_to_string(tree.data().join("report.txt")).unwrap_or_default();
    let failures: Vec<&str> = report.lines().filter(|l| !l.starts_with("ok ")).collect();
    assert!(
        status == 0 && failures.is_empty() && !report.is_empty(),
        "guest exit status {status}; failed checks:\n{}\nfull report:\n{report}",
        failures.join("\n")
    );
    let checks = report.lines().count();
    assert!(
        checks >= 70 && report.contains("ok read-only list"),
        "only {checks} checks ran:\n{report}"
    );
    assert_eq!(stdout, report, "stdout carries the report");

    // What the guest left in /data.
    assert_eq!(
        std::fs::read_to_string(tree.data().join("hello.txt")).unwrap(),
        "HELLO world"
    );
    assert_eq!(
        std::fs::read_link(tree.data().join("inlink")).unwrap(),
        Path::new("hello.txt")
    );
    assert!(tree.data().join("keepdir").is_dir());
    assert_eq!(
        Tree::names(&tree.data()),
        [
            "dir_out",
            "hello.txt",
            "inlink",
            "keepdir",
            "link_out",
            "rel_out",
            "report.txt"
        ],
        "refused links and files were not made"
    );

    // Nothing outside the read-write preopen changed or leaked.
    assert_eq!(Tree::names(&tree.base), ["data", "ro", "secret"]);
    assert_eq!(Tree::names(&tree.base.join("ro")), ["keep.txt"]);
    assert_eq!(
        std::fs::read_to_string(tree.base.join("ro/keep.txt")).unwrap(),
        "keep me"
    );
    let after = std::fs::metadata(tree.base.join("secret")).unwrap();
    assert_eq!(
        std::fs::read_to_string(tree.base.join("secret")).unwrap(),
        SECRET
    );
    assert_eq!(after.modified().unwrap(), secret_meta.modified().unwrap());
    assert!(!report.contains("TOP SECRET") && !stdout.contains("TOP SECRET"));
}

#[test]
fn missing_or_non_directory_preopens_are_link_errors() {
    let Some(so) = guest() else {
        return;
    };
    let tree = Tree::new();
    let engine = Engine::default();
    let component = Component::load(&engine, so).unwrap_or_else(|e| panic!("load: {e}"));
    for (host, what) in [
        (tree.base.join("missing"), "missing"),
        (tree.base.join("secret"), "secret"),
    ] {
        let mut linker = ComponentLinker::new(&engine);
        let mut cfg = WasiConfig::new();
        cfg.preopen_dir(&host, "/x", false);
        wasi::add_to_linker(&mut linker, cfg);
        let e = match linker.instantiate(&component) {
            Ok(_) => panic!("a preopen of {} was accepted", host.display()),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(what), "error names the directory: {e}");
    }
}

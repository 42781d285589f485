//! `wasi:filesystem@0.3.0` in kiln's native WASI host, end to end: the Rust async guest in
//! `tests/async-guests/fs3` (wit-bindgen async, a `wasi:cli/command@0.3.0` importing WASI 0.3
//! only; built for wasm32-wasip2 — skipped with a printed reason when that target is not
//! installed) is compiled by kiln and run with `kiln_runtime::wasi::run_command` over a
//! temporary tree: a read-write preopen `/data` holding a symbolic link out, a read-only
//! preopen `/ro`, and a secret file beside them. The guest prints one line per check; the
//! host compares the whole output, then checks the files it left and that nothing outside
//! the read-write preopen changed.

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
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("async-guests/fs3"),
            "kiln-async-guests-fs3",
            "fs3_guest",
            "wasi:filesystem@0.3",
        )
    })
    .as_ref()
    .map(|(_, so)| so.as_path())
}

const SECRET: &str = "TOP SECRET: the guest must never see this";

/// What the guest prints when every check behaves.
const EXPECTED: &str = "\
preopens: /data /ro
stat /data: directory
write big: ok
stat big: regular-file 1048576
read big: ok 1048576 same
read tail: ok 10 true
append: hello World
sync: ok ok
flags: true true
get-type: regular-file
set-size set-times: 5 Some((1000000000, 5))
same object: true true true
symlink in: ok
readlink: small.txt
big file: ok
list: a.txt:regular-file b.txt:regular-file c:directory d.txt:regular-file e.txt:regular-file ünïcödé.txt:regular-file
rename: ok
unlink: ok
rmdir: ok
rmdir non-empty: not-empty
list again: d.txt:regular-file e.txt:regular-file renamed.txt:regular-file ünïcödé.txt:regular-file
stat-at: regular-file 5
read a directory: is-directory
directories: ok
open ../secret: not-permitted
open /etc/passwd: not-permitted
open sub/../../secret: not-permitted
open link_out: not-permitted
stat link_out: not-permitted
symlink out: not-permitted
create in ro: not-permitted
mkdir in ro: not-permitted
unlink in ro: not-permitted
write-via-stream in ro: not-permitted
read in ro: ok keep me
";

/// The tree a run works on: `base/{secret, data/link_out, ro/keep.txt}`.
struct Tree {
    _tmp: TempDir,
    base: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let tmp = TempDir::new("kiln-wasi3-fs-tree").expect("temp dir");
        let base = tmp.path().to_path_buf();
        std::fs::write(base.join("secret"), SECRET).unwrap();
        std::fs::create_dir(base.join("data")).unwrap();
        std::fs::create_dir(base.join("ro")).unwrap();
        std::fs::write(base.join("ro/keep.txt"), "keep me").unwrap();
        std::os::unix::fs::symlink(base.join("secret"), base.join("data/link_out")).unwrap();
        Tree { _tmp: tmp, base }
    }

    fn data(&self) -> PathBuf {
        self.base.join("data")
    }
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

/// Runs the guest over `tree`; returns (exit status, stdout).
fn run(so: &Path, tree: &Tree) -> (i32, String) {
    run_with(so, tree, &["fs3-guest"])
}

/// [`run`] with arguments `args` (the program name first).
fn run_with(so: &Path, tree: &Tree, args: &[&str]) -> (i32, String) {
    let engine = Engine::default();
    let component = Component::load(&engine, so).unwrap_or_else(|e| panic!("load: {e}"));
    let mut linker = ComponentLinker::new(&engine);
    let out = OutputBuffer::new();
    let mut cfg = WasiConfig::new();
    cfg.args(args);
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
fn a_wasi_0_3_guest_uses_files_through_streams_and_stays_confined() {
    let Some(so) = guest() else {
        return;
    };
    let tree = Tree::new();
    let secret_meta = std::fs::metadata(tree.base.join("secret")).unwrap();
    let (status, stdout) = run(so, &tree);
    assert_eq!(stdout, EXPECTED, "the guest's checks");
    assert_eq!(status, 0);

    // What the guest left in /data.
    let big = std::fs::read(tree.data().join("big.bin")).unwrap();
    assert_eq!(big.len(), 1 << 20);
    assert!(big.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    assert_eq!(
        std::fs::read_to_string(tree.data().join("small.txt")).unwrap(),
        "hello"
    );
    let mtime = std::fs::metadata(tree.data().join("small.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        mtime.duration_since(std::time::UNIX_EPOCH).unwrap(),
        std::time::Duration::new(1_000_000_000, 5)
    );
    assert_eq!(
        names(&tree.data()),
        ["big.bin", "link_out", "small.txt", "sub"]
    );
    assert_eq!(
        names(&tree.data().join("sub")),
        ["d.txt", "e.txt", "renamed.txt", "ünïcödé.txt"]
    );
    assert_eq!(
        std::fs::read_to_string(tree.data().join("sub/renamed.txt")).unwrap(),
        "a.txt"
    );

    // Nothing outside the read-write preopen changed.
    assert_eq!(names(&tree.base), ["data", "ro", "secret"]);
    assert_eq!(names(&tree.base.join("ro")), ["keep.txt"]);
    assert_eq!(
        std::fs::read_to_string(tree.base.join("ro/keep.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(
        std::fs::read_to_string(tree.base.join("secret")).unwrap(),
        SECRET
    );
    let after = std::fs::metadata(tree.base.join("secret")).unwrap();
    assert_eq!(after.modified().unwrap(), secret_meta.modified().unwrap());
}

#[test]
fn a_large_directory_streams_every_entry() {
    let Some(so) = guest() else {
        return;
    };
    // More entries than the host reads per batch (64) and the guest per read (3), with long
    // non-ASCII names: every name is lowered into the guest's memory as it reads.
    let tree = Tree::new();
    let many = tree.base.join("ro/many");
    std::fs::create_dir(&many).unwrap();
    let mut expected = Vec::new();
    for i in 0..300 {
        let name = format!("entry-{i:03}-{}", "é".repeat(i % 40));
        std::fs::write(many.join(&name), "").unwrap();
        expected.push(format!("{name}:regular-file\n"));
    }
    std::fs::create_dir(many.join("zz-dir")).unwrap();
    expected.push("zz-dir:directory\n".into());
    expected.sort();
    let (status, stdout) = run_with(so, &tree, &["fs3-guest", "ls", "many"]);
    assert_eq!(status, 0, "{stdout}");
    assert_eq!(stdout, expected.concat());
}

#[test]
fn streams_dropped_early_end_the_host_side() {
    let Some(so) = guest() else {
        return;
    };
    // The guest takes one entry of a 300-entry listing and 4 bytes of a file, then drops both
    // streams: the host's reader threads stop, and each future still resolves (`ok`: the
    // reader went away, nothing failed); the run neither hangs nor traps.
    let tree = Tree::new();
    let many = tree.base.join("ro/many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..300 {
        std::fs::write(many.join(format!("f{i}")), "").unwrap();
    }
    let (status, stdout) = run_with(so, &tree, &["fs3-guest", "drops", "many"]);
    assert_eq!(status, 0, "{stdout}");
    assert_eq!(stdout, "listing: 1 entry, ok\nfile: keep, ok\n");
}

#[test]
fn a_mistyped_wasi_0_3_import_is_refused_at_link_time() {
    // `get-directories` returns `list<tuple<descriptor, string>>`; a component importing it
    // as returning a `u32` is refused before it runs (the host declares every 0.3 function's
    // type: runtime-support/src/wasi/signatures.txt).
    let wat = r#"(component
  (import "wasi:filesystem/preopens@0.3.0" (instance $p
    (export "get-directories" (func (result u32)))))
  (core func $g (canon lower (func $p "get-directories")))
  (core module $M (import "" "g" (func (result i32))))
  (core instance (instantiate $M (with "" (instance (export "g" (func $g))))))
)"#;
    let wasm = wat::parse_str(wat).expect("wat");
    let dir = TempDir::new("kiln-wasi3-mistyped").expect("temp dir");
    let so = dir.path().join("mistyped.so");
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .expect("compile");
    let engine = Engine::default();
    let component = Component::load(&engine, &so).expect("load");
    let mut linker = ComponentLinker::new(&engine);
    wasi::add_to_linker(&mut linker, WasiConfig::new());
    let e = match linker.instantiate(&component) {
        Ok(_) => panic!("a mistyped get-directories import was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("get-directories"),
        "the error names the import: {e}"
    );
}

//! The per-function metadata tables (trap sites, address map, exception table, function names,
//! debug lines) are read in place from the loaded object, not decoded at load: traps,
//! backtraces and throws still find what they need, the tables outlive nothing they read, and
//! damaged tables in a file whose checksum was rewritten are load errors or missing answers,
//! never a crash.

use kiln_cli::tempdir::TempDir;
use kiln_environ::artifact::verify;
use kiln_environ::metadata_codec::{self as codec, SECTIONS};
use kiln_environ::{ModuleMetadata, TrapKind};
use kiln_runtime::{Engine, Error, Module, Val};
use kiln_tests::hostile;
use std::path::{Path, PathBuf};

/// Named functions (a trap two calls deep, a faulting load) and a caught exception.
const WAT: &str = r#"
(module $lazy
  (memory 1)
  (tag $t (param i32))
  (func $inner
    unreachable)
  (func $outer (export "outer")
    call $inner)
  (func $load (export "load") (param i32) (result i32)
    (i32.load (local.get 0)))
  (func $thrower (param i32)
    (throw $t (local.get 0)))
  (func $catcher (export "catch") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $t $h)
        (call $thrower (local.get 0)))
      (i32.const -1))))
"#;

/// Compiles [`WAT`] with `-g` (a line table over the WAT listing) into `dir`.
fn compile(dir: &Path) -> PathBuf {
    let wasm = wat::parse_str(WAT).unwrap();
    let config = kiln_compiler::Config {
        debug_info: true,
        opt_level: kiln_compiler::OptLevel::O0,
        ..kiln_compiler::Config::default()
    };
    let so = dir.join("lazy.so");
    kiln_compiler::compile_to_file(&wasm, &config, kiln_compiler::Emit::So, &so).unwrap();
    so
}

fn trap(r: Result<Vec<Val>, Error>) -> kiln_runtime::Trap {
    match r {
        Err(Error::Trap(t)) => t,
        other => panic!("expected a trap, got {other:?}"),
    }
}

fn call(m: &Module, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
    let instance = kiln_runtime::Instance::new(m, &[])?;
    let f = instance.get_func(name).expect("export");
    f.call(args)
}

#[test]
fn traps_backtraces_and_throws_read_the_tables_in_place() {
    let dir = TempDir::new("kiln-lazy").unwrap();
    let so = compile(dir.path());
    let engine = Engine::default();
    let m = Module::load(&engine, &so).unwrap();
    let listing = std::fs::read_to_string(dir.path().join("lazy.so.wat")).unwrap();
    let line_of = |text: &str| {
        1 + listing
            .lines()
            .position(|l| l.trim() == text)
            .unwrap_or_else(|| panic!("no `{text}` in\n{listing}")) as u32
    };
    let listed = dir.path().join("lazy.so.wat").display().to_string();
    let t = trap(call(&m, "outer", &[]));
    assert_eq!(t.kind, TrapKind::UnreachableCodeReached);
    let frames: Vec<_> = t
        .backtrace
        .iter()
        .map(|f| {
            (
                f.func_name.as_deref(),
                f.source.clone(),
                f.wasm_offset.is_some(),
            )
        })
        .collect();
    assert_eq!(
        frames,
        [
            (
                Some("inner"),
                Some((listed.clone(), line_of("unreachable"))),
                true
            ),
            (
                Some("outer"),
                Some((listed.clone(), line_of("call $inner"))),
                true
            ),
        ],
        "{t:?}"
    );
    let t = trap(call(&m, "load", &[Val::I32(70000)]));
    assert_eq!(t.kind, TrapKind::MemoryOutOfBounds);
    assert_eq!(t.backtrace[0].func_name.as_deref(), Some("load"));
    let caught = call(&m, "catch", &[Val::I32(7)]).unwrap();
    assert!(matches!(caught[..], [Val::I32(7)]), "{caught:?}");

    // A copy of the metadata keeps the loaded object it reads alive.
    let md = m.metadata().clone();
    drop(m);
    assert_eq!(md.function_name(0), Ok(Some("inner")));
    assert!(md.debug_lines.as_ref().is_some_and(|d| !d.is_empty()));
    assert!(!md.trap_sites.is_empty() && !md.address_map.is_empty());
    assert_eq!(md.exception_table.len(), 1);
    // The file can be loaded again while the copy lives (the same library), and after.
    let again = Module::load(&engine, &so).unwrap();
    drop(md);
    assert_eq!(
        trap(call(&again, "outer", &[])).backtrace[0]
            .func_name
            .as_deref(),
        Some("inner")
    );
}

/// The file offset of a metadata section of the module artifact in `bytes`, and its length.
fn section(bytes: &[u8], i: usize) -> (usize, usize) {
    let v = verify(bytes, None).unwrap();
    let d = v.module.as_ref().unwrap();
    let at = v
        .file_offset(d.head.metadata.addr, d.head.metadata.len)
        .unwrap() as usize;
    let meta = &bytes[at..at + d.head.metadata.len as usize];
    let (_, layout) = ModuleMetadata::decode_shape(meta).unwrap();
    let (o, l) = layout.section(i).unwrap();
    (at + o, l)
}

/// Writes `bytes` (resealed) as `name` in `dir`.
fn write_sealed(dir: &Path, name: &str, mut bytes: Vec<u8>) -> PathBuf {
    hostile::reseal(&mut bytes);
    let path = dir.join(name);
    std::fs::write(&path, &bytes).unwrap();
    path
}

fn load_error(path: &Path) -> String {
    match Module::load(&Engine::default(), path) {
        Err(Error::Load(m)) => m,
        other => panic!("expected a load error, got {other:?}"),
    }
}

#[test]
fn damaged_tables_are_errors_or_missing_answers() {
    let dir = TempDir::new("kiln-lazy-damage").unwrap();
    let so = compile(dir.path());
    let good = std::fs::read(&so).unwrap();

    // Without a new checksum every damaged byte is refused before anything else.
    let (names, _) = section(&good, codec::FUNCTION_NAMES);
    let mut b = good.clone();
    b[names + 6] ^= 0x40;
    let path = dir.path().join("unsealed.so");
    std::fs::write(&path, &b).unwrap();
    assert!(load_error(&path).contains("checksum mismatch"));

    // The lazily read tables filled with 0xff bytes (counts, offsets, lengths, kinds, lines
    // all out of range): the module loads, traps are still traps, answers are missing.
    for i in [
        codec::FUNCTION_NAMES,
        codec::TRAPS,
        codec::ADDRESS_MAP,
        codec::DEBUG_FILES,
        codec::DEBUG_ROWS,
    ] {
        let (at, len) = section(&good, i);
        assert!(len > 0, "section {i} is empty");
        let mut b = good.clone();
        b[at..at + len].fill(0xff);
        let path = write_sealed(dir.path(), &format!("filled{i}.so"), b);
        let m = Module::load(&Engine::default(), &path);
        let m = match (i, m) {
            // A name table whose count no longer fits is refused at load.
            (codec::FUNCTION_NAMES | codec::DEBUG_FILES, Err(Error::Load(e))) => {
                assert!(e.contains("corrupt kiln metadata"), "{e}");
                continue;
            }
            (_, m) => m.unwrap_or_else(|e| panic!("section {i}: {e}")),
        };
        let t = trap(call(&m, "outer", &[]));
        assert_eq!(t.kind, TrapKind::UnreachableCodeReached, "section {i}");
        assert_eq!(t.backtrace.len(), 2, "section {i}");
        let t = trap(call(&m, "load", &[Val::I32(70000)]));
        assert_eq!(t.kind, TrapKind::MemoryOutOfBounds, "section {i}");
    }

    // Names whose offsets point outside the table or that are not UTF-8: no name, no crash.
    let (at, len) = section(&good, codec::FUNCTION_NAMES);
    let count = u32::from_le_bytes(good[at..at + 4].try_into().unwrap()) as usize;
    let mut b = good.clone();
    b[at + 4..at + 4 + 8 * count].fill(0x7f);
    let text = at + 4 + 8 * count;
    let mut c = good.clone();
    c[text..at + len].fill(0xc3);
    for (name, bytes) in [("names_out.so", b), ("names_utf8.so", c)] {
        let path = write_sealed(dir.path(), name, bytes);
        let m = Module::load(&Engine::default(), &path).unwrap();
        assert_eq!(m.metadata().function_name(0).map_err(|_| ()), Err(()));
        let t = trap(call(&m, "outer", &[]));
        assert!(t.backtrace.iter().all(|f| f.func_name.is_none()), "{t:?}");
    }

    // A section directory entry pointing outside the metadata, a partial table entry, a
    // function entry with unknown flags: refused at load.
    let meta_start = section(&good, codec::SHAPE).0 - (8 + 8 * SECTIONS);
    for (what, patch) in [
        (
            "directory",
            (meta_start + 8 + 8 * codec::TRAPS + 4, 0x7fff_ffffu32),
        ),
        (
            "partial entry",
            (meta_start + 8 + 8 * codec::ADDRESS_MAP + 4, 3),
        ),
        (
            "function flags",
            (section(&good, codec::FUNCTIONS).0, 0x100),
        ),
        ("section count", (meta_start, 99)),
    ] {
        let mut b = good.clone();
        let (at, v) = patch;
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let path = write_sealed(dir.path(), "patched.so", b);
        let e = load_error(&path);
        assert!(e.contains("corrupt kiln metadata"), "{what}: {e}");
    }
}

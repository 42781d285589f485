//! The `wasi:http` guests of issue 16 (`kiln_tests::http_guests`: the Rust `wasi:http/proxy`
//! handler, the componentize-js `fetch` event handler and the componentize-js `greet`
//! component built with its default features), each built from source (or skipped with a
//! printed reason where its toolchain is missing), validated, checked to have the world the
//! serve, run and differential tests rely on, and compiled by kiln into a component `.so`
//! (once for all of them: `kiln_tests::guest_build::compiled_so`) that the runtime loads; the
//! handlers then answer the contract's requests through
//! `kiln_runtime::wasi::http::handle_request` (`serve.rs`; serving them over sockets is the
//! business of the `kiln serve` tests) and the greet component's exports are called.

#[path = "http_guests/serve.rs"]
mod serve;

use kiln_runtime::component::Val;
use kiln_runtime::{Component, Engine};
use kiln_tests::guest_build::compiled_so;
use kiln_tests::http_guests::{or_skip, HttpGuest};
use std::path::{Path, PathBuf};

/// The top-level imports and exports of a component (names as written, sorted).
struct World {
    /// Imported names (`wasi:http/types@0.2.12`, ...).
    imports: Vec<String>,
    /// Exported names (`wasi:http/incoming-handler@0.2.12`, `greet`, ...).
    exports: Vec<String>,
}

/// Reads the top-level world of component `bytes` (nested components and modules skipped).
fn world(bytes: &[u8]) -> World {
    let mut world = World {
        imports: Vec::new(),
        exports: Vec::new(),
    };
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.expect("parse the component") {
            wasmparser::Payload::Version { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth -= 1,
            wasmparser::Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.expect("an import");
                    world.imports.push(import.name.name.to_string());
                }
            }
            wasmparser::Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export = export.expect("an export");
                    world.exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    world.imports.sort();
    world.exports.sort();
    world
}

/// Whether `names` has one starting with `prefix`.
fn has(names: &[String], prefix: &str) -> bool {
    names.iter().any(|n| n.starts_with(prefix))
}

/// Validates `wasm`, checks its world against what `guest` must be, compiles it with this
/// build's `kiln compile` (the `.so` cache shared with the serve tests and the HTTP
/// differential: `kiln_tests::guest_build::compiled_so`) and loads the `.so`; returns its
/// path, the engine and the component.
fn check(guest: HttpGuest, wasm: &Path) -> (PathBuf, Engine, Component) {
    let bytes = std::fs::read(wasm).expect("read the guest");
    wasmparser::Validator::new()
        .validate_all(&bytes)
        .unwrap_or_else(|e| panic!("{} does not validate: {e}", guest.name()));
    let world = world(&bytes);
    eprintln!(
        "{} ({} bytes, {}):\n  imports: {}\n  exports: {}",
        guest.name(),
        bytes.len(),
        wasm.display(),
        world.imports.join(" "),
        world.exports.join(" ")
    );
    // Both kinds import the HTTP types and the outgoing handler (the handlers for `/fetch`,
    // the greet component because componentize-js's defaults include `fetch()`).
    assert!(has(&world.imports, "wasi:http/types@0.2."), "{guest:?}");
    assert!(
        has(&world.imports, "wasi:http/outgoing-handler@0.2."),
        "{guest:?}"
    );
    if guest.serves_http() {
        assert!(
            has(&world.exports, "wasi:http/incoming-handler@0.2."),
            "{guest:?} exports no incoming handler: {:?}",
            world.exports
        );
    } else {
        for f in ["greet", "count-chars"] {
            assert!(world.exports.iter().any(|e| e == f), "{f} not exported");
        }
    }
    let so = compiled_so(kiln_tests::tools::kiln_exe(), wasm)
        .unwrap_or_else(|e| panic!("kiln cannot compile {}: {e}", guest.name()));
    let engine = Engine::default();
    let component = Component::load(&engine, &so)
        .unwrap_or_else(|e| panic!("the runtime cannot load {}: {e}", guest.name()));
    (so, engine, component)
}

/// Calls the greet component's exports with kiln's WASI host (`wasi:http` included, as
/// `kiln run --invoke 'greet("ada lovelace")'` does).
fn greet(engine: &Engine, component: &Component) {
    let mut linker = kiln_runtime::ComponentLinker::new(engine);
    kiln_runtime::wasi::add_to_linker(&mut linker, kiln_runtime::wasi::WasiConfig::new());
    let instance = linker.instantiate(component).expect("instantiate js-greet");
    let call = |name: &str, arg: &str| {
        let f = instance.get_func(name).expect("the export");
        instance
            .call_func(&f, &[Val::String(arg.into())])
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert_eq!(
        call("greet", "ada lovelace"),
        Some(Val::String("Hello, ada lovelace!".into()))
    );
    assert_eq!(
        call("count-chars", "h\u{e9}llo \u{1f389}"),
        Some(Val::U32(7))
    );
    eprintln!("  js-greet: greet and count-chars answered under kiln's WASI host");
}

/// `kiln run --invoke 'greet("ada lovelace")' FILE` on the compiled greet component: the
/// command line of issue 16's example, which refused the component before wasi:http existed.
fn greet_cli(so: &Path) {
    let out = std::process::Command::new(kiln_tests::tools::kiln_exe())
        .args(["run", "--invoke", "greet(\"ada lovelace\")"])
        .arg(so)
        .output()
        .expect("run kiln");
    assert!(
        out.status.success(),
        "kiln run --invoke failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "\"Hello, ada lovelace!\""
    );
}

/// Builds `guest` (or prints why not), checks it and runs it: the handlers serve the
/// contract's requests under kiln's `wasi:http` host, the greet component is called through
/// the runtime API and through `kiln run --invoke`.
fn build_and_check(guest: HttpGuest) {
    if let Some(wasm) = or_skip(guest, guest.build()) {
        let (so, engine, component) = check(guest, &wasm);
        if guest.serves_http() {
            serve::contract(guest, &engine, &component);
        } else {
            greet(&engine, &component);
            greet_cli(&so);
        }
    }
}

#[test]
fn rust_handler() {
    build_and_check(HttpGuest::RustHandler);
}

#[test]
fn js_handler() {
    build_and_check(HttpGuest::JsHandler);
}

#[test]
fn js_greet() {
    build_and_check(HttpGuest::JsGreet);
}

/// The compiled-guest cache: concurrent callers of a new entry get one `.so` (compiled once,
/// under the entry's lock), a later call reuses it without compiling, and another component
/// gets another entry. The component is unique to this run, so its entry starts cold.
#[test]
fn compiled_so_is_shared_and_keyed_by_the_component() {
    let dir = kiln_cli::tempdir::TempDir::new("kiln-so-cache").expect("temp dir");
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let component = |n: i64| {
        let wat = format!("(component (core module (global (export \"g\") i64 (i64.const {n}))))");
        let path = dir.path().join(format!("unique-{n}.wasm"));
        std::fs::write(&path, wat::parse_str(&wat).expect("component text")).unwrap();
        path
    };
    let (a, b) = (component(unique), component(unique ^ 1));
    let kiln = kiln_tests::tools::kiln_exe();
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    // Each caller notes the file it got as it returns: one compile means one file.
    let first: Vec<(PathBuf, u64)> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let so = compiled_so(kiln, &a).expect("compiled");
                    let ino = inode(&so);
                    (so, ino)
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert!(first.iter().all(|f| *f == first[0]), "{first:?}");
    let (so, before) = (&first[0].0, first[0].1);
    assert!(so.starts_with(kiln_tests::guest_build::so_cache_dir()));
    assert_eq!(&compiled_so(kiln, &a).unwrap(), so);
    assert_eq!(inode(so), before, "a cached entry was compiled again");
    let other = compiled_so(kiln, &b).unwrap();
    assert_ne!(&other, so);
    for p in [so, &other] {
        Component::load(&Engine::default(), p).expect("the cached .so loads");
        let _ = std::fs::remove_file(p);
        let _ = std::fs::remove_file(p.with_extension("so.lock"));
    }
}

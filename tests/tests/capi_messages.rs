//! What a C host developer reads when something goes wrong (`samples/c-host/messages_test.c`):
//! trap frames carry the source file and line of a module compiled with debug info
//! (`kiln_trap_frame_source`), and the messages of common mistakes are precise.

use kiln_cli::tempdir::TempDir;
use kiln_tests::chost::CHost;
use kiln_tests::tools::run_program;
use kiln_tests::workspace;
use std::path::{Path, PathBuf};

/// A module whose `outer` calls `inner`, which traps at `unreachable`.
const DEBUG_WAT: &str = r#"(module
  (func $inner (export "inner")
    nop
    unreachable)
  (func $outer (export "outer")
    call $inner)
  (func (export "takes-f64") (param f64)))
"#;

/// Compiles `wasm` to `dir/name`; with `debug`, as `kiln compile -g` does (DWARF and a trap
/// line table, at `-O0`).
fn compile(dir: &Path, name: &str, wasm: &[u8], debug: bool) -> PathBuf {
    let mut config = kiln_compiler::Config::default();
    if debug {
        config.debug_info = true;
        config.opt_level = kiln_compiler::OptLevel::O0;
    }
    let so = dir.join(name);
    kiln_compiler::compile_to_file(wasm, &config, kiln_compiler::Emit::So, &so)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    so
}

#[test]
fn frames_have_source_lines_and_mistakes_have_clear_messages() {
    let dir = TempDir::new("kiln-capi-messages").unwrap();
    let debug = compile(
        dir.path(),
        "debug.so",
        &wat::parse_str(DEBUG_WAT).unwrap(),
        true,
    );
    let component = compile(
        dir.path(),
        "component.so",
        &wat::parse_file(workspace().join("tests/components/calls.wat")).unwrap(),
        false,
    );
    let module = compile(
        dir.path(),
        "module.so",
        &wat::parse_str("(module (func (export \"f\")))").unwrap(),
        false,
    );
    let missing = dir.path().join("missing.so");
    let exe = CHost::new(&workspace().join("samples/c-host/messages_test.c"))
        .build(dir.path(), "messages_test");
    let args = [&debug, &component, &module, &missing].map(|p| p.to_str().unwrap());
    let (ok, out, err) = run_program(&exe, &args);
    let show = format!("stdout:\n{out}\nstderr:\n{err}");
    assert!(ok, "messages_test failed\n{show}");
    let c = component.display();
    let m = module.display();
    let x = missing.display();
    // `kiln compile -g` of a `.wat` writes the listing the line table refers to.
    let listing = std::fs::read_to_string(dir.path().join("debug.so.wat")).expect("listing");
    let line_of = |text: &str| {
        1 + listing
            .lines()
            .position(|l| l.trim() == text)
            .unwrap_or_else(|| panic!("no `{text}` in the listing:\n{listing}"))
    };
    let (unreachable, call) = (line_of("unreachable"), line_of("call $inner"));
    for line in [
        "frames: 2".to_string(),
        format!("frame 0: inner at debug.so.wat:{unreachable} (1)"),
        format!("frame 1: outer at debug.so.wat:{call} (1)"),
        "out of range: 0, file NULL".into(),
        "mistyped argument: argument 0 has type i32, expected f64".into(),
        format!(
            "component as module: {c}: refused before loading: it is a component, not a core \
             module (it exports `kiln_component_v1`; load it with Component::load, in C \
             kiln_component_load)"
        ),
        format!(
            "module as component: {m}: refused before loading: it is a core module, not a \
             component (it exports `kiln_module_v1`; load it with Module::load, in C \
             kiln_module_load)"
        ),
        format!("missing file: {x}: cannot open: No such file or directory (os error 2)"),
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing line `{line}`\n{show}"
        );
    }
}

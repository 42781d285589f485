//! Unit tests for debug info: what `-g` adds to objects, robustness against bad guest DWARF.

use crate::{compile, Config, OptLevel};
use object::{Object, ObjectSection};

fn debug_config() -> Config {
    Config {
        debug_info: true,
        opt_level: OptLevel::O0,
        ..Config::default()
    }
}

const WAT: &str = r#"(module
  (memory 1)
  (func $add (export "add") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    i32.add)
  (func $load (export "load") (param i32) (result i32)
    local.get 0
    i32.load))"#;

#[test]
fn debug_objects_have_cfi_lines_and_a_trap_line_table() {
    let wasm = wat::parse_str(WAT).unwrap();
    let compiled = compile(&wasm, &debug_config()).unwrap();
    let file = object::File::parse(&*compiled.object).unwrap();
    for name in [".eh_frame", ".debug_info", ".debug_line", ".debug_abbrev"] {
        let s = file.section_by_name(name);
        assert!(s.is_some_and(|s| s.size() > 0), "missing {name}");
    }
    let lines = compiled.metadata.debug_lines.as_ref().expect("debug lines");
    assert_eq!(lines.files().len(), 1);
    assert_eq!(lines.files().get(0), Ok(Some("module.wat")));
    let (start, _) = compiled.metadata.functions[0].body.unwrap();
    let (file, line) = compiled
        .metadata
        .source_line_at(start)
        .expect("line of add");
    assert_eq!(file, "module.wat");
    assert!(line > 0);

    // Without -g: only the CFI (for in-process unwinders and profilers).
    let plain = compile(&wasm, &Config::default()).unwrap();
    let file = object::File::parse(&*plain.object).unwrap();
    assert!(file.section_by_name(".debug_info").is_none());
    assert!(file
        .section_by_name(".eh_frame")
        .is_some_and(|s| s.size() > 0));
    assert!(plain.metadata.debug_lines.is_none());
}

#[test]
fn listing_maps_instructions_to_lines() {
    let wasm = wat::parse_str(WAT).unwrap();
    let listing = super::Listing::new(&wasm, "m.wat".into(), String::new()).unwrap();
    let lines: Vec<&str> = listing.text.lines().collect();
    assert!(listing.rows.windows(2).all(|w| w[0].0 < w[1].0));
    let add = listing
        .rows
        .iter()
        .find(|(_, l)| lines[*l as usize - 1].trim() == "i32.add");
    assert!(add.is_some(), "{}", listing.text);
}

/// Appends a custom section to a module.
fn with_custom(mut wasm: Vec<u8>, name: &str, data: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    leb(&mut payload, name.len() as u64);
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    wasm.push(0);
    leb(&mut wasm, payload.len() as u64);
    wasm.extend_from_slice(&payload);
    wasm
}

fn leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[test]
fn garbage_guest_dwarf_is_an_error_or_ignored_never_a_panic() {
    let wasm = wat::parse_str(WAT).unwrap();
    let mut seed = 0x1234_5678_u64;
    for len in [0usize, 1, 7, 11, 40, 200] {
        let mut junk = Vec::new();
        for _ in 0..len {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            junk.push((seed >> 33) as u8);
        }
        // A plausible unit header with junk after it, and pure junk.
        let mut header = vec![(len + 7) as u8, 0, 0, 0, 4, 0, 0, 0, 0, 0, 4];
        header.extend_from_slice(&junk);
        for info in [&junk, &header] {
            let mut m = with_custom(wasm.clone(), ".debug_info", info);
            m = with_custom(m, ".debug_abbrev", &junk);
            m = with_custom(m, ".debug_line", &junk);
            let _ = compile(&m, &debug_config());
        }
    }
}

#[test]
fn names_are_demangled() {
    assert_eq!(
        super::demangle("_ZN4core3fmt5write17h0123456789abcdefE"),
        "core::fmt::write"
    );
    assert_eq!(super::demangle("_Z3fooi"), "foo(int)");
    assert_eq!(super::demangle("plain_c"), "plain_c");
}

#[test]
fn symbols_of_mangled_functions_are_demangled() {
    use object::ObjectSymbol;
    let wasm =
        wat::parse_str(r#"(module (func $_ZN4core3fmt5write17h0123456789abcdefE (export "w")))"#)
            .unwrap();
    let compiled = compile(&wasm, &Config::default()).unwrap();
    let file = object::File::parse(&*compiled.object).unwrap();
    assert!(
        file.symbols()
            .any(|s| s.name() == Ok("wasm[0]::core::fmt::write")),
        "{:?}",
        file.symbols()
            .map(|s| s.name().unwrap_or("?").to_string())
            .collect::<Vec<_>>()
    );
}

#[test]
fn shadow_stack_prologues_are_recognized() {
    let wasm = wat::parse_str(
        r#"(module
          (global $sp (mut i32) (i32.const 1024))
          ;; clang -O0, a leaf: fb (local 3) = sp - 16, sp never set
          (func $leaf (param i32) (local i32 i32 i32)
            global.get $sp local.set 1 i32.const 16 local.set 2
            local.get 1 local.get 2 i32.sub local.set 3
            local.get 3 local.get 0 i32.store offset=12)
          ;; sp lowered to fb (local 1) by the prologue, restored by the epilogue
          (func $lowering (param i32) (local i32)
            global.get $sp i32.const 32 i32.sub local.tee 1 global.set $sp
            call $leaf_wrapper
            local.get 1 i32.const 32 i32.add global.set $sp)
          (func $leaf_wrapper)
          ;; the frame-base local is written again: not recognized
          (func $rewritten (local i32)
            global.get $sp i32.const 16 i32.sub local.set 0
            i32.const 5 local.set 0))"#,
    )
    .unwrap();
    let facts = super::mapping::scan(&wasm, 0).unwrap();
    let leaf = &facts.frames[&0];
    assert!(
        leaf.iter()
            .any(|f| f.local == 3 && f.global == 0 && f.delta == 16 && f.valid.0 == 0),
        "{leaf:?}"
    );
    let lowering = &facts.frames[&1];
    let f = lowering.iter().find(|f| f.local == 1).expect("local 1");
    assert_eq!((f.global, f.delta, f.calls.len()), (0, 0, 1), "{f:?}");
    assert!(f.valid.0 > 0 && f.valid.1 > f.valid.0, "{f:?}");
    assert!(!facts.frames.contains_key(&3));
}

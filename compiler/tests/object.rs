//! The compiler's output contract, checked on the emitted files with the `object` crate:
//! one exported symbol, no undefined symbols, no text relocations, metadata that round-trips.

use object::{Object, ObjectSection, ObjectSymbol};

fn sample() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/fib.wat");
    wat::parse_file(path).expect("sample parses")
}

#[test]
fn shared_object_exports_only_the_descriptor() {
    let dir = std::env::temp_dir().join(format!("kiln-object-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("fib.so");
    let meta = kiln_compiler::compile_to_file(
        &sample(),
        &Default::default(),
        kiln_compiler::Emit::So,
        &out,
    )
    .expect("compiles");
    assert_eq!(meta.exports.len(), 3);
    let bytes = std::fs::read(&out).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let exported: Vec<_> = file
        .dynamic_symbols()
        .filter(|s| s.is_definition() && s.is_global())
        .map(|s| s.name().unwrap().to_string())
        .collect();
    assert_eq!(exported, vec![kiln_environ::DESCRIPTOR_SYMBOL.to_string()]);
    let undefined: Vec<_> = file
        .dynamic_symbols()
        .chain(file.symbols())
        .filter(|s| s.is_undefined() && !s.name().unwrap_or("").is_empty())
        .map(|s| s.name().unwrap().to_string())
        .collect();
    assert!(undefined.is_empty(), "undefined symbols: {undefined:?}");
    // No DT_TEXTREL / DF_TEXTREL: the linker ran with `-z text`, and we check the file too.
    let dynamic = file.section_by_name(".dynamic").expect("has .dynamic");
    let data = dynamic.data().unwrap();
    for entry in data.chunks_exact(16) {
        let tag = u64::from_le_bytes(entry[..8].try_into().unwrap());
        let val = u64::from_le_bytes(entry[8..].try_into().unwrap());
        assert_ne!(tag, 0x16, "DT_TEXTREL present");
        if tag == 0x1e {
            assert_eq!(val & 0x4, 0, "DF_TEXTREL set");
        }
    }
    // Function symbols are named from the name section (or by index).
    let names: Vec<_> = file
        .symbols()
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect();
    assert!(
        names.iter().any(|n| n == "wasm[0]::fib"),
        "symbols: {names:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_input_is_an_error_with_offset() {
    let err = kiln_compiler::compile(b"\0asm\x01\0\0\0\x01\x05", &Default::default())
        .err()
        .expect("truncated module is rejected");
    assert!(err.offset.is_some(), "{err}");
    let err = kiln_compiler::compile(b"not wasm", &Default::default())
        .err()
        .expect("garbage is rejected");
    assert!(err.to_string().contains("offset"), "{err}");
}

#[test]
fn output_is_deterministic() {
    let config = kiln_compiler::Config::default();
    let a = kiln_compiler::compile(&sample(), &config).unwrap();
    let b = kiln_compiler::compile(&sample(), &config).unwrap();
    assert!(
        a.object == b.object,
        "two compiles of the same input differ"
    );
}

/// A module using exception handling: `try_table` call sites, `throw`, `throw_ref`.
const EXCEPTIONS: &str = r#"
(module
  (tag $e (param i32 i64 f64))
  (func $throw (param i32) (throw $e (local.get 0) (i64.const 1) (f64.const 2)))
  (func (export "run") (param i32) (result i32)
    (block $all
      (block $h (result i32 i64 f64 exnref)
        (try_table (catch_ref $e $h) (catch_all $all) (call $throw (local.get 0)))
        (return (i32.const 0)))
      (throw_ref))
    (i32.const -1)))
"#;

#[test]
fn cross_targets_emit_objects() {
    let exceptions = wat::parse_str(EXCEPTIONS).unwrap();
    for (triple, arch) in [
        ("x86_64-unknown-linux-gnu", object::Architecture::X86_64),
        ("aarch64-unknown-linux-gnu", object::Architecture::Aarch64),
        ("riscv64gc-unknown-linux-gnu", object::Architecture::Riscv64),
    ] {
        let config = kiln_compiler::Config {
            target: Some(triple.to_string()),
            ..Default::default()
        };
        let compiled =
            kiln_compiler::compile(&sample(), &config).unwrap_or_else(|e| panic!("{triple}: {e}"));
        let file = object::File::parse(&*compiled.object).unwrap();
        assert_eq!(file.architecture(), arch, "{triple}");
        assert_eq!(compiled.metadata.build.target, triple);
        // Exception handling compiles for every target (the runtime resumes handlers on
        // x86_64 only): one call site with two handlers.
        let compiled = kiln_compiler::compile(&exceptions, &config)
            .unwrap_or_else(|e| panic!("{triple}: {e}"));
        let table = &compiled.metadata.exception_table;
        assert_eq!(table.len(), 1, "{triple}");
        assert_eq!(
            object::File::parse(&*compiled.object)
                .unwrap()
                .architecture(),
            arch
        );
    }
    let config = kiln_compiler::Config {
        target: Some("aarch64-unknown-linux-gnu".to_string()),
        ..Default::default()
    };
    if cfg!(target_arch = "x86_64") && std::env::var_os("KILN_LINKER").is_none() {
        let compiled = kiln_compiler::compile(&sample(), &config).unwrap();
        let err = kiln_compiler::link_shared_object(
            &compiled.object,
            std::path::Path::new("/nonexistent/x.so"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("--emit obj"), "{err}");
    }
}

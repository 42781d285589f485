//! Hostile files through the real loader (issue 12), with the Rust API: shared objects that
//! run code when `dlopen`ed, posing as modules (`x.wasm`, no extension, `.so`); kiln artifacts
//! cut short, with a descriptor pointer moved into the ELF header, or with a metadata bit
//! flipped; signatures required by the engine; the mapping policy (file or sealed copy); CPU
//! baselines. Each refusal must be a clean `Error::Load` — and no marker file may appear, which
//! would mean code from the refused file ran. The C API runs the same cases in `capi.rs`.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::signature::{self, SecretKey, TrustedKeys};
use kiln_runtime::{ArtifactSharing, Component, Engine, EngineConfig, Error, Module, Val};
use kiln_tests::hostile::{self, Trick};
use kiln_tests::{compile_wat, Compiled};
use std::path::Path;
use std::sync::Arc;

/// A module with a memory, a data segment (a copy-on-write image) and code that reads it.
const MEMORY_MODULE: &str = r#"
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "kiln")
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1))))
"#;

/// A small component.
const COMPONENT: &str = r#"
(component
  (core module $m (func (export "f") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 4))))
  (core instance $i (instantiate $m))
  (func (export "quadruple") (param "x" s32) (result s32) (canon lift (core func $i "f"))))
"#;

fn load_error<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::Load(m)) => m,
        other => panic!("expected a load error, got {other:?}"),
    }
}

fn compile_component() -> Compiled {
    compile_wat(COMPONENT).expect("component compiles")
}

#[test]
fn shared_objects_that_run_code_at_load_are_refused_before_dlopen() {
    let dir = TempDir::new("kiln-hostile").unwrap();
    let engine = Engine::default();
    for trick in Trick::ALL {
        let marker = dir.path().join(format!("{trick:?}.marker"));
        for name in ["x.wasm", "no-extension", "module.so"] {
            let sub = dir.path().join(format!("{trick:?}-{name}"));
            let so = hostile::build(&sub, name, trick, &marker);
            let m = load_error(Module::load(&engine, &so));
            let c = load_error(Component::load(&engine, &so));
            for msg in [&m, &c] {
                assert!(msg.contains("refused before loading"), "{trick:?}: {msg}");
            }
            let expected = match trick {
                Trick::Constructor | Trick::Needed => "unexpected DT_NEEDED",
                Trick::InitArrayPosingAsKiln => "DT_INIT_ARRAY",
                Trick::DtInit => "DT_INIT ",
                Trick::Ifunc => "IRELATIVE",
                Trick::Tls => "PT_TLS",
                Trick::Destructor => "DT_FINI_ARRAY",
            };
            assert!(m.contains(expected), "{trick:?}: {m}");
            assert!(
                !marker.exists(),
                "{trick:?}: code from the refused file ran (marker written)"
            );
        }
    }
    // The same files, loaded by the dynamic loader directly, do run their code: the marker
    // mechanism works (a libc constructor here).
    let marker = dir.path().join("control.marker");
    let so = hostile::build(
        &dir.path().join("control"),
        "c.so",
        Trick::Constructor,
        &marker,
    );
    let cpath = std::ffi::CString::new(so.to_str().unwrap()).unwrap();
    // SAFETY: a test library whose constructor only writes the marker file.
    let h = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    assert!(
        !h.is_null() && marker.exists(),
        "control: the constructor did not run"
    );
    // SAFETY: the handle came from dlopen.
    unsafe { libc::dlclose(h) };
}

#[test]
fn truncated_artifacts_are_refused() {
    let c = compile_wat(MEMORY_MODULE).unwrap();
    let engine = Engine::default();
    let size = std::fs::metadata(&c.path).unwrap().len() as usize;
    for len in [0, 100, 4096, size / 2, size - 1] {
        let cut = hostile::truncated(&c.path, len, &c.dir.path().join(format!("cut{len}.so")));
        let m = load_error(Module::load(&engine, &cut));
        assert!(
            m.contains("refused before loading") || m.contains("not a kiln shared object"),
            "{len}: {m}"
        );
    }
    let cut = hostile::truncated(&c.path, 4096, &c.dir.path().join("cut.so"));
    let m = load_error(Module::load(&engine, &cut));
    assert!(m.contains("extends past the end of the file"), "{m}");
    // The intact file still loads and runs.
    let module = Module::load(&engine, &c.path).unwrap();
    let i = kiln_runtime::Instance::new(&module, &[]).unwrap();
    let r = i.get_func("load").unwrap().call(&[Val::I32(1)]).unwrap();
    assert!(matches!(r[0], Val::I32(105)), "{r:?}");
}

#[test]
fn a_descriptor_pointer_into_the_headers_is_refused() {
    let c = compile_wat(MEMORY_MODULE).unwrap();
    let engine = Engine::default();
    let bytes = std::fs::read(&c.path).unwrap();
    let write = |name: &str, b: &[u8]| {
        let path = c.dir.path().join(name);
        std::fs::write(&path, b).unwrap();
        path
    };
    // The metadata pointer as the plain word 0x10, as the review wrote it (the runtime used to
    // read address 0x10 and crash): refused, with or without a recomputed checksum.
    let mut b = bytes.clone();
    hostile::set_raw_descriptor_pointer(&mut b, 48, 0x10);
    let m = load_error(Module::load(&engine, &write("raw.so", &b)));
    assert!(m.contains("has no relocation"), "{m}");
    assert!(kiln_environ::artifact::seal(&mut b).is_err());
    // Relocated to 0x10 of the image (inside the ELF header): refused by the checksum, and
    // with a recomputed one, the metadata read there is refused as corrupt — no crash.
    let mut b = bytes.clone();
    hostile::set_descriptor_pointer(&mut b, 48, 0x10);
    let m = load_error(Module::load(&engine, &write("rel.so", &b)));
    assert!(m.contains("checksum mismatch"), "{m}");
    hostile::reseal(&mut b);
    let m = load_error(Module::load(&engine, &write("resealed.so", &b)));
    assert!(m.contains("corrupt kiln metadata"), "{m}");
    // Pointers past the end of the image, or onto code for the metadata: refused.
    let mut b = bytes.clone();
    hostile::set_descriptor_pointer(&mut b, 64, 1 << 40);
    let m = load_error(Module::load(&engine, &write("far.so", &b)));
    assert!(m.contains("outside the image"), "{m}");
    let text = kiln_environ::artifact::verify(&bytes, None)
        .unwrap()
        .module
        .unwrap()
        .text;
    let mut b = bytes.clone();
    hostile::set_descriptor_pointer(&mut b, 48, text.addr);
    let m = load_error(Module::load(&engine, &write("code.so", &b)));
    assert!(
        m.contains("metadata") && m.contains("read-only segment"),
        "{m}"
    );
}

#[test]
fn a_flipped_metadata_bit_is_refused() {
    let c = compile_wat(MEMORY_MODULE).unwrap();
    let mut b = std::fs::read(&c.path).unwrap();
    hostile::flip_memory64(&mut b);
    let path = c.dir.path().join("flipped.so");
    std::fs::write(&path, &b).unwrap();
    let m = load_error(Module::load(&Engine::default(), &path));
    assert!(m.contains("checksum mismatch"), "{m}");
    // Someone who rewrites the checksum too makes a file that passes every check a file can
    // pass by itself: that is what signatures are for. A signature made before the change
    // no longer verifies.
    let key = SecretKey::generate().unwrap();
    let sig = signature::sign_file(&key, &c.path).unwrap();
    hostile::reseal(&mut b);
    std::fs::write(&path, &b).unwrap();
    std::fs::write(signature::signature_path(&path), sig.to_text()).unwrap();
    let engine = Engine::new(EngineConfig {
        trusted_keys: Some(Arc::new(TrustedKeys::new(vec![key.public_key()]))),
        ..EngineConfig::default()
    });
    let m = load_error(Module::load(&engine, &path));
    assert!(m.contains("invalid signature"), "{m}");
}

fn sign(key: &SecretKey, path: &Path) {
    let sig = signature::sign_file(key, path).unwrap();
    std::fs::write(signature::signature_path(path), sig.to_text()).unwrap();
}

#[test]
fn engines_with_trusted_keys_load_only_signed_artifacts() {
    let module = compile_wat(MEMORY_MODULE).unwrap();
    let component = compile_component();
    let key = SecretKey::generate().unwrap();
    let other = SecretKey::generate().unwrap();
    let trusted = Arc::new(TrustedKeys::parse(&key.public_key().to_text()).unwrap());
    let engine = Engine::new(EngineConfig {
        trusted_keys: Some(trusted.clone()),
        ..EngineConfig::default()
    });
    // Unsigned: refused, saying a signature is required.
    let m = load_error(Module::load(&engine, &module.path));
    assert!(m.contains("a signature is required"), "{m}");
    let m = load_error(Component::load(&engine, &component.path));
    assert!(m.contains("a signature is required"), "{m}");
    // Signed by an untrusted key: refused.
    sign(&other, &module.path);
    let m = load_error(Module::load(&engine, &module.path));
    assert!(m.contains("not trusted"), "{m}");
    // Signed by the trusted key: loads and runs.
    sign(&key, &module.path);
    sign(&key, &component.path);
    let m = Module::load(&engine, &module.path).unwrap();
    let i = kiln_runtime::Instance::new(&m, &[]).unwrap();
    assert!(matches!(
        i.get_func("load").unwrap().call(&[Val::I32(0)]).unwrap()[0],
        Val::I32(107)
    ));
    Component::load(&engine, &component.path).unwrap();
    signature::verify_file(&trusted, &module.path, None).unwrap();
    // A signature of another artifact: refused.
    std::fs::copy(
        signature::signature_path(&component.path),
        signature::signature_path(&module.path),
    )
    .unwrap();
    drop((m, i));
    let m = load_error(Module::load(&engine, &module.path));
    assert!(m.contains("invalid signature"), "{m}");
}

#[test]
fn artifacts_others_can_write_load_from_a_sealed_copy() {
    use std::os::unix::fs::PermissionsExt;
    let c = compile_wat(MEMORY_MODULE).unwrap();
    let engine = Engine::default();
    let shared = Module::load(&engine, &c.path).unwrap();
    assert!(!shared.is_private_copy());
    // Group-writable: someone else could rewrite it after the check, so it is copied.
    let gw = c.dir.path().join("group-writable.so");
    std::fs::copy(&c.path, &gw).unwrap();
    std::fs::set_permissions(&gw, std::fs::Permissions::from_mode(0o664)).unwrap();
    let copied = Module::load(&engine, &gw).unwrap();
    assert!(copied.is_private_copy());
    // Asked for: always copied.
    let always = Engine::new(EngineConfig {
        artifact_sharing: ArtifactSharing::AlwaysCopy,
        ..EngineConfig::default()
    });
    let forced = Module::load(&always, &c.path).unwrap();
    assert!(forced.is_private_copy());
    // Every way, instances see the data image and keep their own memory.
    for m in [&shared, &copied, &forced] {
        let i = kiln_runtime::Instance::new(m, &[]).unwrap();
        i.get_func("store")
            .unwrap()
            .call(&[Val::I32(0), Val::I32(0x41)])
            .unwrap();
        let r = i.get_func("load").unwrap().call(&[Val::I32(0)]).unwrap();
        assert!(matches!(r[0], Val::I32(0x41)));
        let fresh = kiln_runtime::Instance::new(m, &[]).unwrap();
        let r = fresh
            .get_func("load")
            .unwrap()
            .call(&[Val::I32(0)])
            .unwrap();
        assert!(matches!(r[0], Val::I32(107)), "{r:?}");
    }
    // Loading the same unchanged file again shares the loaded library.
    let again = Module::load(&engine, &c.path).unwrap();
    assert_eq!(again.text_range(), shared.text_range());
}

#[test]
fn cpu_baselines_are_recorded_and_a_missing_feature_is_named() {
    let wasm = wat::parse_str(MEMORY_MODULE).unwrap();
    let dir = TempDir::new("kiln-cpu").unwrap();
    let compile = |cpu: &str| {
        let out = dir.path().join(format!("{cpu}.so"));
        let config = kiln_compiler::Config {
            target: Some("x86_64-unknown-linux-gnu".into()),
            cpu: Some(cpu.into()),
            ..Default::default()
        };
        kiln_compiler::compile_to_file(&wasm, &config, kiln_compiler::Emit::So, &out).unwrap();
        out
    };
    let engine = Engine::default();
    let v2 = compile("x86-64-v2");
    let m = Module::load(&engine, &v2).unwrap();
    assert_eq!(m.metadata().build.cpu, "x86-64-v2");
    assert!(m
        .metadata()
        .build
        .cpu_features
        .contains(&"sse4.2".to_string()));
    if kiln_runtime::has_cpu_feature("avx512f") == Some(false) {
        let v4 = compile("x86-64-v4");
        let m = load_error(Module::load(&engine, &v4));
        assert!(
            m.contains("compiled for x86-64-v4, this CPU lacks avx512"),
            "{m}"
        );
    }
    let bad = kiln_compiler::compile_to_file(
        &wasm,
        &kiln_compiler::Config {
            cpu: Some("pentium-9000".into()),
            target: Some("x86_64-unknown-linux-gnu".into()),
            ..Default::default()
        },
        kiln_compiler::Emit::So,
        &dir.path().join("bad.so"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("unknown CPU `pentium-9000`") && bad.contains("x86-64-v3"),
        "{bad}"
    );
}

#[test]
fn the_cli_refuses_hostile_files_before_running_anything() {
    let dir = TempDir::new("kiln-hostile-cli").unwrap();
    let kiln = kiln_tests::tools::kiln_exe();
    for (trick, name) in [
        (Trick::Constructor, "x.wasm"),
        (Trick::InitArrayPosingAsKiln, "plugin"),
        (Trick::Ifunc, "f.so"),
    ] {
        let marker = dir.path().join(format!("{trick:?}.marker"));
        let so = hostile::build(&dir.path().join(format!("{trick:?}")), name, trick, &marker);
        for args in [
            vec!["run"],
            vec!["run", "--invoke", "f"],
            vec!["inspect"],
            vec!["verify"],
        ] {
            let out = std::process::Command::new(kiln)
                .args(&args)
                .arg(&so)
                .env("XDG_CACHE_HOME", dir.path().join("cache"))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} {name}: {text}");
            assert!(
                out.status.code().is_some(),
                "{args:?} {name}: killed by a signal"
            );
            assert!(
                text.contains("refused before loading")
                    || text.contains("not a kiln shared object"),
                "{args:?} {name}: {text}"
            );
            assert!(!marker.exists(), "{args:?} {name}: the constructor ran");
        }
    }
}

#[test]
fn concurrent_loads_of_the_same_file_share_one_library() {
    let a = compile_wat(MEMORY_MODULE).unwrap();
    let b = compile_component();
    let engine = Engine::default();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (engine, a, b) = (&engine, &a.path, &b.path);
            s.spawn(move || {
                let mut kept = Vec::new();
                for i in 0..40 {
                    let m = Module::load(engine, a).unwrap();
                    if (i + t) % 3 == 0 {
                        kept.push(m);
                    }
                    if i % 5 == 0 {
                        Component::load(engine, b).unwrap();
                    }
                    if i % 7 == 0 {
                        kept.clear();
                    }
                }
            });
        }
    });
    let m = Module::load(&engine, &a.path).unwrap();
    let i = kiln_runtime::Instance::new(&m, &[]).unwrap();
    assert!(matches!(
        i.get_func("load").unwrap().call(&[Val::I32(2)]).unwrap()[0],
        Val::I32(108)
    ));
}

/// The file offset of the `PT_GNU_EH_FRAME` segment of the ELF file `b`.
fn eh_frame_hdr_offset(b: &[u8]) -> usize {
    let word = |at: usize, n: usize| {
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(&b[at..at + n]);
        u64::from_le_bytes(v) as usize
    };
    let (phoff, phentsize, phnum) = (word(0x20, 8), word(0x36, 2), word(0x38, 2));
    (0..phnum)
        .map(|i| phoff + i * phentsize)
        .find(|&ph| word(ph, 4) == 0x6474_e550)
        .map(|ph| word(ph + 8, 8))
        .expect("every kiln .so has PT_GNU_EH_FRAME")
}

#[test]
fn an_eh_frame_hdr_pointing_outside_its_tables_is_refused() {
    let c = compile_wat(MEMORY_MODULE).unwrap();
    let engine = Engine::default();
    let bytes = std::fs::read(&c.path).unwrap();
    let hdr = eh_frame_hdr_offset(&bytes);
    let cases: [(&str, usize, i32, &str); 4] = [
        ("version", 0, 2, "version and encodings"),
        ("count", 8, 1000, "table entries"),
        ("pc", 12, 0, "outside the code"),
        ("fde", 16, 0x10_0000, "not inside .eh_frame"),
    ];
    for (name, field, value, expect) in cases {
        let mut b = bytes.clone();
        if field == 0 {
            b[hdr] = value as u8;
        } else {
            b[hdr + field..hdr + field + 4].copy_from_slice(&value.to_le_bytes());
        }
        // Resealing fails (the verifier runs first); the loader refuses with or without it.
        assert!(kiln_environ::artifact::seal(&mut b).is_err(), "{name}");
        let path = c.dir.path().join(format!("{name}.so"));
        std::fs::write(&path, &b).unwrap();
        let m = load_error(Module::load(&engine, &path));
        assert!(
            m.contains("PT_GNU_EH_FRAME") && m.contains(expect),
            "{name}: {m}"
        );
    }
    assert!(Module::load(&engine, &c.path).is_ok());
}

//! `kiln bindgen c` for a world that imports WASI and an interface of its own: the header
//! leaves the `wasi:*` imports out (`kiln_component_linker_add_wasi` defines them), so
//! `samples/c-host/wasi_bindgen_host.c` links with the header plus `add_wasi` and implements
//! only `test:app/notes`, whose host function receives the environment given to
//! `app_link_imports` and the calling instance.

use kiln_cli::commands::bindgen::{BindgenC, BindgenCommand, BindgenLang};
use kiln_cli::tempdir::TempDir;
use kiln_tests::chost::CHost;
use kiln_tests::tools::run_program;
use kiln_tests::workspace;
use std::path::{Path, PathBuf};

/// Runs `kiln bindgen c SO -o OUT --prefix app` with `--keep-wasi` when `keep_wasi`.
fn bindgen(so: &Path, out: PathBuf, keep_wasi: bool) -> String {
    let cmd = BindgenCommand {
        lang: BindgenLang::C(BindgenC {
            file: so.to_path_buf(),
            output: Some(out.clone()),
            prefix: Some("app".into()),
            exclude: Vec::new(),
            keep_wasi,
        }),
    };
    assert_eq!(cmd.execute().expect("bindgen"), 0);
    std::fs::read_to_string(out).expect("header")
}

#[test]
fn header_leaves_wasi_to_the_linker() {
    let dir = TempDir::new("kiln-bindgen-wasi").unwrap();
    let wasm = wat::parse_file(workspace().join("tests/components/wasi-app.wat")).unwrap();
    let so = dir.path().join("app.so");
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .expect("compile wasi-app.wat");

    // With every import in the header, the host would have to implement WASI itself.
    let kept = dir.path().join("kept");
    std::fs::create_dir(&kept).unwrap();
    let all = bindgen(&so, kept.join("app.h"), true);
    assert!(all.contains("kiln_error_t *app_host_streams_"), "{all}");
    assert!(all.contains("kiln_error_t *app_host_environment_get_arguments("));

    let header = bindgen(&so, dir.path().join("app.h"), false);
    assert!(!header.contains("app_host_streams"), "{header}");
    assert!(
        !header.contains("define_func_raw(linker, \"wasi:"),
        "{header}"
    );
    assert!(header.contains("Imports left out"), "{header}");
    assert!(header.contains(" *   wasi:io/streams@0.2.0\n"), "{header}");
    assert!(header.contains(
        "kiln_error_t *app_host_notes_note(void *env, const kiln_component_instance_t \
         *instance, uint32_t n, uint32_t *ret);"
    ));

    let exe = CHost::new(&workspace().join("samples/c-host/wasi_bindgen_host.c"))
        .include(dir.path())
        .build(dir.path(), "wasi_bindgen_host");
    let (ok, out, err) = run_program(&exe, &[so.to_str().unwrap(), "hello", "bindgen"]);
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        out, "hello bindgen\nrun: ok; note calls 1, last 2, instance given\n",
        "{err}"
    );
}

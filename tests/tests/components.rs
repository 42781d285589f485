//! End-to-end tests of WebAssembly components: text-format components under
//! `tests/components/` compiled to one shared object each, loaded and instantiated by the
//! real runtime; and bad inputs with their error messages.

use std::path::{Path, PathBuf};

fn component_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("components")
        .join(name)
}

fn wasm_of(name: &str) -> Vec<u8> {
    wat::parse_file(component_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn plans() {
    for name in [
        "nested.wat",
        "shared_memory.wat",
        "module_twice.wat",
        "imports.wat",
    ] {
        let wasm = wasm_of(name);
        let plan = kiln_compiler::component::plan(&wasm, &Default::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!("{name}: {plan:#?}");
    }
}

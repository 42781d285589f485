//! `kiln bindgen c` headers (and `kiln.h`) under strict compilers: clean under
//! `clang -Weverything` in C99 and C11 and as C++11, with the documented exceptions
//! (`-Wpadded`: the host C representation has padding by definition; in C++
//! `-Wc++98-compat*`: the headers need C++11), and under `-pedantic -Wall -Wextra` for gcc;
//! and usable from a C++ host (`samples/c-host/cpp_host.cpp`).

use kiln_cli::commands::bindgen::generate_c;
use kiln_cli::commands::inspect::read_component;
use kiln_cli::tempdir::TempDir;
use kiln_tests::chost::CHost;
use kiln_tests::tools::{output, run_program, runtime_include_dir};
use kiln_tests::workspace;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The components whose headers are checked, with their prefixes.
const COMPONENTS: [(&str, &str); 5] = [
    ("calls", "calls"),
    ("host_imports", "hi"),
    ("greet", "greet"),
    ("handles_host", "hh"),
    ("wasi-app", "app"),
];

/// Compiles `tests/components/NAME.wat` into `dir` and writes its header `PREFIX.h` there.
fn component(dir: &Path, name: &str, prefix: &str) -> PathBuf {
    let wasm = wat::parse_file(workspace().join(format!("tests/components/{name}.wat")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let so = dir.join(format!("{name}.so"));
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let meta = read_component(&std::fs::read(&so).unwrap()).unwrap();
    std::fs::write(
        dir.join(format!("{prefix}.h")),
        generate_c(&meta, prefix).unwrap(),
    )
    .unwrap();
    so
}

/// Checks that `compiler ARGS main.c` succeeds without any diagnostic.
fn clean(dir: &Path, compiler: &str, args: &[&str]) {
    let out = output(
        Command::new(compiler)
            .current_dir(dir)
            .args(args)
            .arg("-fsyntax-only")
            .arg("-I")
            .arg(runtime_include_dir())
            .args(["-I", ".", "main.c"]),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{compiler} {args:?}:\n{stderr}"
    );
}

#[test]
fn headers_are_clean_under_strict_warnings() {
    let dir = TempDir::new("kiln-bindgen-headers").unwrap();
    let mut main = String::new();
    for (name, prefix) in COMPONENTS {
        component(dir.path(), name, prefix);
        main.push_str(&format!("#include \"{prefix}.h\"\n"));
    }
    main.push_str("int main(void) { return 0; }\n");
    std::fs::write(dir.path().join("main.c"), main).unwrap();
    // Every generated host function is declared (not defined) by the headers: compile only.
    for std in ["-std=c99", "-std=c11"] {
        clean(dir.path(), "clang", &[std, "-Weverything", "-Wno-padded"]);
        clean(dir.path(), "gcc", &[std, "-pedantic", "-Wall", "-Wextra"]);
    }
    let cxx = [
        "-x",
        "c++",
        "-std=c++11",
        "-Weverything",
        "-Wno-padded",
        "-Wno-c++98-compat",
        "-Wno-c++98-compat-pedantic",
    ];
    clean(dir.path(), "clang++", &cxx);
    clean(
        dir.path(),
        "g++",
        &["-x", "c++", "-std=c++11", "-pedantic", "-Wall", "-Wextra"],
    );
}

#[test]
fn cpp_host_uses_generated_headers() {
    let dir = TempDir::new("kiln-cpp-host").unwrap();
    let calls = component(dir.path(), "calls", "calls");
    let hi = component(dir.path(), "host_imports", "hi");
    let exe = CHost::new(&workspace().join("samples/c-host/cpp_host.cpp"))
        .cxx()
        .include(dir.path())
        .build(dir.path(), "cpp_host");
    let (ok, out, err) = run_program(&exe, &[&calls, &hi]);
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        out,
        "echo-string: grüße\n\
         echo-rec: 7 grüße U+1F600\n\
         NULL string: argument 0 (`x`): string has a NULL pointer and length 3\n\
         poisoned: 0\n\
         greet: Hello, C++! (log: C++, host calls 1)\n",
        "{err}"
    );
}

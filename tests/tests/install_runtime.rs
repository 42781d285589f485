//! `scripts/install-runtime --prefix DIR` installs the runtime for C hosts outside the
//! repository: a host in a temporary directory builds with `pkg-config --cflags --libs kiln`
//! (PKG_CONFIG_PATH at the prefix) and `-Wall -Wextra -Werror`, records the versioned SONAME
//! (`libkiln_runtime.so.KILN_ABI_VERSION`), checks `kiln_abi_version()` against the header
//! and runs a module.

use kiln_cli::tempdir::TempDir;
use kiln_tests::tools::{output, target_dirs};
use kiln_tests::workspace;
use std::path::Path;
use std::process::Command;

const HOST: &str = r#"#include <kiln.h>
#include <stdio.h>

int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  if (kiln_abi_version() != KILN_ABI_VERSION) {
    fprintf(stderr, "C ABI %u, header %d\n", kiln_abi_version(), KILN_ABI_VERSION);
    return 1;
  }
  kiln_engine_t *engine = kiln_engine_new(NULL);
  kiln_module_t *module = NULL;
  kiln_linker_t *linker = NULL;
  kiln_instance_t *instance = NULL;
  kiln_func_t *f = NULL;
  kiln_error_t *err = kiln_module_load(engine, argv[1], &module);
  if (!err)
    err = kiln_linker_new(engine, &linker);
  if (!err)
    err = kiln_linker_instantiate(linker, module, &instance);
  if (!err)
    err = kiln_instance_get_func(instance, "answer", &f);
  kiln_val_t result;
  if (!err)
    err = kiln_func_call(f, NULL, 0, &result, 1);
  if (err) {
    fprintf(stderr, "%s\n", kiln_error_message(err));
    return 1;
  }
  printf("kiln %s, C ABI %u: answer %d\n", kiln_version(), kiln_abi_version(), result.of.i32);
  kiln_func_delete(f);
  kiln_instance_delete(instance);
  kiln_linker_delete(linker);
  kiln_module_delete(module);
  kiln_engine_delete(engine);
  return 0;
}
"#;

/// The `KILN_ABI_VERSION` kiln.h defines.
fn abi_version() -> u32 {
    let header = std::fs::read_to_string(workspace().join("runtime-support/include/kiln.h"))
        .expect("kiln.h");
    header
        .lines()
        .find_map(|l| l.strip_prefix("#define KILN_ABI_VERSION "))
        .and_then(|v| v.trim().parse().ok())
        .expect("KILN_ABI_VERSION in kiln.h")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `readelf -d` of `file`.
fn dynamic_section(file: &Path) -> String {
    stdout(&output(Command::new("readelf").arg("-d").arg(file)))
}

#[test]
fn installed_runtime_builds_a_host_with_pkg_config() {
    let dir = TempDir::new("kiln-install").unwrap();
    let prefix = dir.path().join("prefix");
    // Its own target directory: the SONAME is set for this build only.
    let (target, _) = target_dirs();
    let out = output(
        Command::new(workspace().join("scripts/install-runtime"))
            .arg("--prefix")
            .arg(&prefix)
            .arg("--debug")
            .arg("--target-dir")
            .arg(target.join("install-runtime-test")),
    );
    assert!(
        out.status.success(),
        "install-runtime failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let abi = abi_version();
    let soname = format!("libkiln_runtime.so.{abi}");
    for f in [
        format!("lib/{soname}"),
        "lib/libkiln_runtime.so".into(),
        "lib/libkiln_runtime.a".into(),
        "include/kiln.h".into(),
        "lib/pkgconfig/kiln.pc".into(),
    ] {
        assert!(prefix.join(&f).exists(), "{f} not installed");
    }
    let lib = dynamic_section(&prefix.join("lib").join(&soname));
    assert!(
        lib.contains(&format!("Library soname: [{soname}]")),
        "{lib}"
    );

    // A host outside the repository, built with what pkg-config says.
    let pc = prefix.join("lib/pkgconfig");
    let flags = output(
        Command::new("pkg-config")
            .args(["--cflags", "--libs", "kiln"])
            .env("PKG_CONFIG_PATH", &pc),
    );
    assert!(flags.status.success(), "pkg-config: {flags:?}");
    let flags = stdout(&flags);
    let work = dir.path().join("host");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("host.c"), HOST).unwrap();
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let built = output(
        Command::new(cc)
            .current_dir(&work)
            .args([
                "-std=c11", "-Wall", "-Wextra", "-Werror", "host.c", "-o", "host",
            ])
            .args(flags.split_whitespace()),
    );
    assert!(
        built.status.success(),
        "cc {flags}: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let host = work.join("host");
    let needed = dynamic_section(&host);
    assert!(
        needed.contains(&format!("Shared library: [{soname}]")),
        "{needed}"
    );

    let wasm =
        wat::parse_str(r#"(module (func (export "answer") (result i32) i32.const 42))"#).unwrap();
    let so = work.join("answer.so");
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .expect("compile");
    let ran = output(
        Command::new(&host)
            .arg(&so)
            .env("LD_LIBRARY_PATH", prefix.join("lib")),
    );
    assert!(
        ran.status.success(),
        "host failed: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(
        stdout(&ran),
        format!(
            "kiln {}, C ABI {abi}: answer 42\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

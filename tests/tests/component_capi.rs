//! The component C API (`kiln.h`, "Components") and `kiln bindgen c`, tested from C: component
//! `.wat` files are compiled to `.so` files, typed headers are generated for them with the
//! bindgen command, and C programs from `samples/c-host/` are built with the system `cc`
//! against `kiln.h`, the headers and `libkiln_runtime`, run, and their output checked.

use kiln_cli::commands::bindgen::{generate_c, BindgenC, BindgenCommand, BindgenLang};
use kiln_cli::tempdir::TempDir;
use kiln_tests::chost::CHost;
use kiln_tests::tools::{run_program, runtime_include_dir};
use kiln_tests::workspace;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiles a component `.wat` file to `dir/name`.
fn compile(dir: &Path, wat: &Path, name: &str) -> PathBuf {
    let wasm = wat::parse_file(wat).unwrap_or_else(|e| panic!("{}: {e}", wat.display()));
    let so = dir.join(name);
    kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So, &so)
        .unwrap_or_else(|e| panic!("{}: {e}", wat.display()));
    so
}

/// Runs `kiln bindgen c SO -o dir/PREFIX.h --prefix PREFIX`.
fn bindgen(dir: &Path, so: &Path, prefix: &str) -> PathBuf {
    let out = dir.join(format!("{prefix}.h"));
    let cmd = BindgenCommand {
        lang: BindgenLang::C(BindgenC {
            file: so.to_path_buf(),
            output: Some(out.clone()),
            prefix: Some(prefix.to_string()),
            exclude: Vec::new(),
            keep_wasi: false,
        }),
    };
    assert_eq!(cmd.execute().expect("bindgen"), 0);
    out
}

/// Builds a C source against `kiln.h`, the headers in `dir` and the shared runtime library;
/// warnings fail the build. `extra` are more compiler flags.
fn build_c(dir: &Path, source: &Path, name: &str, extra: &[&str]) -> PathBuf {
    CHost::new(source)
        .include(dir)
        .flags(extra)
        .build(dir, name)
}

/// Runs a program; returns (success, stdout, stderr).
fn run(exe: &Path, args: &[&str]) -> (bool, String, String) {
    run_program(exe, args)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn c_program_drives_the_component_api() {
    let dir = TempDir::new("kiln-component-capi").unwrap();
    let components = workspace().join("tests/components");
    let calls = compile(dir.path(), &components.join("calls.wat"), "calls.so");
    let hi = compile(dir.path(), &components.join("host_imports.wat"), "hi.so");
    bindgen(dir.path(), &calls, "calls");
    let greet = compile(dir.path(), &components.join("greet.wat"), "greet.so");
    bindgen(dir.path(), &hi, "hi");
    bindgen(dir.path(), &greet, "greet");
    let handles = compile(dir.path(), &components.join("handles_host.wat"), "hh.so");
    bindgen(dir.path(), &handles, "hh");
    let src = workspace().join("samples/c-host/component_api_test.c");
    let exe = build_c(dir.path(), &src, "component_api_test", &[]);
    let (ok, out, err) = run(&exe, &[s(&calls), s(&hi), s(&greet), s(&handles)]);
    let show = format!("stdout:\n{out}\nstderr:\n{err}");
    for line in [
        "load non-component: error kind 0",
        "world has echo-rec: 1",
        // typed calls through the generated header (host C representation, no conversion)
        "echo-rec: a 7, b \"héllo\", c U+1F600",
        "echo-string: grüße, 世界",
        "echo-string16: grüße, 世界",
        "len16: 3",
        "echo-list: 1 2 3 4000000000",
        "echo-strings: one two three",
        "variant-arg c: 0x20000123456789a",
        "variant-arg d: 0x300000000000000",
        "option-arg some(5): 1005",
        "echo-result ok: tag 0, \"fine\"",
        "echo-result err: tag 1, 404",
        "echo-enum: 2",
        "echo-flags: 5",
        "echo-tuple: 18446744073709551615 1",
        "sum17: 153",
        "add-post: 42, guest post-returns: 2",
        "post-return without call: error kind 3",
        // a raw call whose post-return did not run yet: the instance cannot be entered
        "re-entered before post-return: error kind 2, trap kind 13, \
         message \"cannot enter component instance (may_enter is false: reentrance \
         or a pending post-return)\"",
        // invalid values from the guest come back as trap objects naming the rule
        "trap bad-enum: error kind 2, trap kind 13, \
         message \"invalid variant discriminant (case index out of range)\"",
        // dynamic values
        "echo-rec type: func(x: record { a: u8, b: string, c: char }) -> record { a: u8, b: string, c: char } (params 1, result 1)",
        "dynamic echo-rec: 200 \"dyn\" Z",
        "dynamic echo-strings: 2: alpha beta",
        "dynamic variant-arg a(9): kind 8, 0x9",
        "dynamic echo-result: kind 19, tag 1, err 500",
        "dynamic echo-flags: 1 word(s), 2",
        "missing export: error kind 3, no exported function `no-such`",
        // imports implemented in C
        "unlinked: error kind 1, component import `greet-host` is not defined",
        "greet: Hello, world! (log: world)",
        "greet16: Hello, wörld!",
        "import error: error kind 2, trap kind 11, message \"greet-host refuses\"",
        "null callback: error kind 3, finalized 1",
        "dynamic greet: Hi C (dynamic) (log: dyn:C, calls 1)",
        "finalized after delete: 3",
        // functions of an exported interface
        "test:greet/api#greet: Hello, interface!",
        "test:greet/api#count: 3",
        "test:greet/api#pair: 9 \"Hello\"",
        "nothing: ok",
        "dynamic test:greet/api#greet: Hello, dyn!",
        // resource handles of a host-implemented type: borrows lent, own moved and back
        "drop-it: 1",
        "call-inspect: 1042",
        "pass: rep 42",
        "bad handle: error kind 2",
        "keep: error kind 2, trap kind 13, \
         message \"borrow handles still remain at the end of the call\"",
        "after drop: error kind 2",
        "failures: 0",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing line `{line}`\n{show}"
        );
    }
    for (prefix, rule) in [
        (
            "trap bad-utf8: error kind 2, trap kind 13",
            "invalid utf8 encoding",
        ),
        (
            "trap oob-ret: error kind 2, trap kind 13",
            "out of bounds memory access",
        ),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(prefix) && l.contains(rule)),
            "missing `{prefix}`\n{show}"
        );
    }
    assert!(ok, "component_api_test failed\n{show}");
}

#[test]
fn sample_component_host_runs() {
    let dir = TempDir::new("kiln-component-host").unwrap();
    let so = compile(
        dir.path(),
        &workspace().join("samples/c-host/greeter.wat"),
        "greeter.so",
    );
    bindgen(dir.path(), &so, "greeter");
    let src = workspace().join("samples/c-host/component_host.c");
    let exe = build_c(dir.path(), &src, "component_host", &[]);
    let (ok, out, err) = run(&exe, &[s(&so), "world", "3", "-1", "7"]);
    assert!(ok, "component_host failed:\n{out}{err}");
    assert_eq!(
        out,
        "guest log: world\nHello, world!\ncount 3, sum 9, min -1, max 7\nerror: not a digit\n"
    );
    let (ok, out, _) = run(&exe, &[s(&so), "7"]);
    assert!(ok);
    assert!(
        out.ends_with("count 0, sum 0, min 2147483647, max -2147483648\ndigit 7\n"),
        "{out}"
    );
    let (ok, _, err) = run(&exe, &[s(&src), "x"]);
    assert!(!ok);
    assert!(err.contains("load:"), "{err}");
}

/// `samples/c-host/wasi_host.c` runs a WASI command (tests/components/wasi-echo.wat) through
/// the C API: arguments reach the guest, its stdout goes to the host's stdout or to a buffer,
/// and its exit status becomes the host's.
#[test]
fn c_host_runs_a_wasi_command() {
    let dir = TempDir::new("kiln-wasi-host").unwrap();
    let so = compile(
        dir.path(),
        &workspace().join("tests/components/wasi-echo.wat"),
        "echo.so",
    );
    let exe = build_c(
        dir.path(),
        &workspace().join("samples/c-host/wasi_host.c"),
        "wasi_host",
        &[],
    );
    let status = |args: &[&str]| {
        let out = Command::new(&exe)
            .args(args)
            .output()
            .expect("run wasi_host");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = status(&[s(&so), "hello", "wasi", "world"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(out, "hello wasi world\n");
    let (code, out, err) = status(&[s(&so), "--capture", "in", "a buffer"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(out, "[captured 12 bytes]in a buffer\n[end]\n");
    // No arguments: `run` returns err, which is exit status 1.
    let (code, out, err) = status(&[s(&so)]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert_eq!(out, "");
    // A preopen that does not exist is an error from the C API, not a crash.
    let (code, _, err) = status(&[s(&so), "--dir", "/nonexistent-kiln-dir::/d", "x"]);
    assert_eq!(code, Some(70), "{err}");
    assert!(
        err.contains("preopen: cannot open `/nonexistent-kiln-dir`"),
        "{err}"
    );
}

/// The generated header compiles as C++ too, and its static assertions catch a layout that
/// differs from the host C representation.
#[test]
fn header_layout_is_checked_at_compile_time() {
    let dir = TempDir::new("kiln-bindgen-layout").unwrap();
    let so = compile(
        dir.path(),
        &workspace().join("tests/components/calls.wat"),
        "calls.so",
    );
    let meta = kiln_cli::commands::inspect::read_component(&std::fs::read(&so).unwrap()).unwrap();
    let header = generate_c(&meta, "calls").unwrap();
    std::fs::write(dir.path().join("calls.h"), &header).unwrap();
    let main = dir.path().join("main.c");
    std::fs::write(
        &main,
        "#include \"calls.h\"\nint main(void) { return 0; }\n",
    )
    .unwrap();
    let cxx = Command::new("c++")
        .args(["-x", "c++", "-std=c++17", "-Wall", "-fsyntax-only", "-I"])
        .arg(runtime_include_dir())
        .arg("-I")
        .arg(dir.path())
        .arg(&main)
        .output();
    match cxx {
        Ok(o) => assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => eprintln!("skipping the C++ check: no c++ compiler ({e})"),
    }
    // Break one field's layout: the static assertion must fail the C build.
    let broken = header.replacen("  uint8_t a;\n", "  uint8_t a[9];\n", 1);
    assert_ne!(broken, header, "the record field to break is in the header");
    std::fs::write(dir.path().join("calls.h"), broken).unwrap();
    let out = Command::new(std::env::var_os("CC").unwrap_or_else(|| "cc".into()))
        .args(["-std=c11", "-fsyntax-only", "-I"])
        .arg(runtime_include_dir())
        .arg("-I")
        .arg(dir.path())
        .arg(&main)
        .output()
        .expect("run cc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a wrong layout compiled");
    assert!(stderr.contains("offset of calls_rec_t.b"), "{stderr}");
}

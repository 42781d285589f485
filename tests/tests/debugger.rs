//! Source-level debugging of guest code in a kiln `.so` with the system's gdb, lldb and
//! addr2line (issue 5): `samples/debug/calc.c` is built with `clang --target=wasm32-wasi -g -O0`,
//! compiled with `kiln compile -g`, and run by `kiln run --invoke` under each debugger. The same
//! sessions run on components: `samples/debug/component/calc_component.c` encoded with the
//! `calc` world of `calc.wit` (kiln-componentize, as tests/tests/real_components.rs does), and
//! the Rust guest `samples/debug/rust` built by cargo for wasm32-wasip2 in the dev profile
//! (skipped with a printed reason when that target is not installed).
//!
//! `.ci/run` installs clang, wasi-libc, gdb and lldb, so these tests fail (rather than skip)
//! when a tool is missing.

use kiln_cli::tempdir::TempDir;
use kiln_tests::workspace;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Panics with an install hint unless `tool` runs.
fn require(tool: &str) {
    kiln_tests::tools::require_tool(
        tool,
        "the debugger tests",
        "clang lld wasi-libc libclang-rt-dev-wasm32 gdb lldb binutils",
    );
}

/// The `kiln` executable of this build.
fn kiln() -> &'static Path {
    kiln_tests::tools::kiln_exe()
}

/// Runs `cmd` and returns its stdout and stderr; panics if it fails.
fn run(cmd: &mut Command) -> String {
    kiln_tests::tools::run_ok(cmd)
}

/// `calc.c` built for wasm and compiled with `kiln compile -g` (plus extra flags) into a
/// fresh directory.
struct Guest {
    dir: TempDir,
    so: PathBuf,
}

fn build_guest(extra: &[&str]) -> Guest {
    require("clang");
    let dir = TempDir::new("kiln-debugger").expect("temp dir");
    let src = workspace().join("samples/debug/calc.c");
    let wasm = dir.path().join("calc.wasm");
    run(Command::new("clang")
        .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-g", "-O0"])
        .arg(&src)
        .arg("-o")
        .arg(&wasm));
    let so = dir.path().join("calc.so");
    run(Command::new(kiln())
        .args(["compile", "-g"])
        .args(extra)
        .arg(&wasm)
        .arg("-o")
        .arg(&so));
    Guest { dir, so }
}

fn guest() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(|| build_guest(&[]))
}

/// Runs `kiln run --invoke compute calc.so 5` under gdb with `commands`.
fn gdb(so: &Path, commands: &str) -> String {
    gdb_invoke(so, &["compute", "5"], commands)
}

/// Runs `kiln run --invoke <invoke...>` on `so` under gdb with `commands`.
fn gdb_invoke(so: &Path, invoke: &[&str], commands: &str) -> String {
    require("gdb");
    let script = so.with_extension("gdb");
    std::fs::write(
        &script,
        format!("set breakpoint pending on\nset debuginfod enabled off\n{commands}"),
    )
    .unwrap();
    let out = Command::new("timeout")
        .arg("300")
        .args(["gdb", "--nx", "--batch", "-x"])
        .arg(&script)
        .arg("--args")
        .arg(kiln())
        .args(["run", "--invoke", invoke[0]])
        .arg(so)
        .args(&invoke[1..])
        .output()
        .expect("run gdb");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The text between `echo <name>` markers.
fn section<'a>(out: &'a str, name: &str) -> &'a str {
    let start = format!("<{name}>");
    let end = format!("</{name}>");
    let Some(a) = out.find(&start) else {
        panic!("no {start} in debugger output:\n{out}")
    };
    let rest = &out[a + start.len()..];
    &rest[..rest.find(&end).unwrap_or(rest.len())]
}

/// The gdb session of the C guests (`calc.c` and the component's `calc_component.c`, whose
/// lines agree): `invoke` calls `compute(5)` in `so`; `file` is the source file's name.
fn gdb_c_session(so: &Path, invoke: &[&str], file: &str) -> String {
    let out = gdb_invoke(
        so,
        invoke,
        &format!(
            "break {file}:5\n\
             run\n\
             echo <bt>\\n\n\
             bt\n\
             echo </bt>\\n<print>\\n\n\
             print x\n\
             next\n\
             print result\n\
             echo </print>\\n<finish>\\n\n\
             finish\n\
             echo </finish>\\n<next>\\n\n\
             next\n\
             print total\n\
             print i\n\
             print calls\n\
             echo </next>\\n<step>\\n\n\
             delete 1\n\
             next\n\
             step\n\
             echo </step>\\n\n\
             kill\n"
        ),
    );
    let bt = section(&out, "bt");
    assert!(
        bt.contains("square (x=1) at ") && bt.contains(&format!("{file}:5")),
        "{out}"
    );
    assert!(
        bt.contains("compute (n=5) at ") && bt.contains(&format!("{file}:14")),
        "{out}"
    );
    // The walk continues from guest frames into the host (the runtime and the CLI).
    assert!(bt.contains("kiln_runtime"), "{out}");
    let print = section(&out, "print");
    assert!(print.contains("$1 = 1"), "print x: {out}");
    assert!(print.contains("6\t    calls++;"), "next: {out}");
    assert!(print.contains("$2 = 1"), "print result: {out}");
    let finish = section(&out, "finish");
    assert!(finish.contains("Value returned is $3 = 1"), "{out}");
    assert!(
        finish.contains("compute (n=5) at ") || finish.contains("in compute"),
        "{out}"
    );
    let next = section(&out, "next");
    assert!(next.contains("13\t    for (int i = 1;"), "{out}");
    assert!(
        next.contains("$4 = 1") && next.contains("$5 = 1"),
        "print total, i: {out}"
    );
    // A C global, in linear memory.
    assert!(next.contains("$6 = 1"), "print calls: {out}");
    let step = section(&out, "step");
    assert!(
        step.contains("square (x=2) at ") && step.contains(&format!("{file}:5")),
        "{out}"
    );
    out
}

#[test]
fn gdb_breaks_steps_and_prints_guest_source() {
    gdb_c_session(&guest().so, &["compute", "5"], "calc.c");
}

/// Runs `kiln run --invoke <invoke...>` on `so` under lldb with the commands of `script`.
fn lldb_invoke(so: &Path, invoke: &[&str], script: &str) -> String {
    require("lldb");
    let path = so.with_extension("lldb");
    std::fs::write(&path, script).unwrap();
    let out = Command::new("timeout")
        .arg("300")
        .args(["lldb", "--no-lldbinit", "--batch", "-s"])
        .arg(&path)
        .arg("--")
        .arg(kiln())
        .args(["run", "--invoke", invoke[0]])
        .arg(so)
        .args(&invoke[1..])
        .output()
        .expect("run lldb");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The lldb session of the C guests (see [`gdb_c_session`]); `so_name` is the file name of
/// `so` as lldb prefixes frames with it.
fn lldb_c_session(so: &Path, invoke: &[&str], file: &str) -> String {
    let so_name = so.file_name().unwrap().to_string_lossy();
    let out = lldb_invoke(
        so,
        invoke,
        &format!(
            "breakpoint set --file {file} --line 5\n\
             run\n\
             bt\n\
             frame variable x\n\
             next\n\
             frame variable result\n\
             finish\n\
             next\n\
             frame variable total i\n\
             breakpoint delete --force 1\n\
             next\n\
             step\n\
             bt 1\n\
             kill\n"
        ),
    );
    assert!(
        out.contains(&format!("{so_name}`square(x=1) at {file}:5")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{so_name}`compute(n=5) at {file}:14")),
        "{out}"
    );
    assert!(out.contains("kiln_runtime"), "{out}");
    assert!(out.contains("(int) x = 1"), "{out}");
    assert!(out.contains("(int) result = 1"), "{out}");
    assert!(out.contains("Return value: (int) $0 = 1"), "{out}");
    assert!(
        out.contains("(int) total = 1") && out.contains("(int) i = 1"),
        "{out}"
    );
    // (lldb 14 does not evaluate location lists of globals, so `calls` is gdb-only.)
    assert!(out.contains(&format!("square(x=2) at {file}:5")), "{out}");
    out
}

#[test]
fn lldb_breaks_steps_and_prints_guest_source() {
    lldb_c_session(&guest().so, &["compute", "5"], "calc.c");
}

/// The address of a local symbol of `so`.
fn symbol(so: &Path, name: &str) -> u64 {
    use object::{Object, ObjectSymbol};
    let bytes = std::fs::read(so).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    file.symbols()
        .find(|s| s.name() == Ok(name))
        .unwrap_or_else(|| panic!("no symbol {name} in {}", so.display()))
        .address()
}

fn addr2line(so: &Path, addr: u64) -> String {
    require("addr2line");
    run(Command::new("addr2line")
        .args(["-f", "-e"])
        .arg(so)
        .arg(format!("{addr:#x}")))
}

#[test]
fn addr2line_maps_guest_code_to_source_lines() {
    let g = guest();
    let square = symbol(&g.so, "wasm[2]::square");
    let out = addr2line(&g.so, square + 0x40);
    assert!(out.starts_with("square\n"), "{out}");
    let line: u32 = out
        .trim()
        .rsplit(':')
        .next()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("no line in {out}"));
    assert!(out.contains("calc.c:") && (4..=8).contains(&line), "{out}");
}

#[test]
fn traps_show_source_lines() {
    let g = guest();
    let out = Command::new(kiln())
        .args(["run", "--invoke", "divide"])
        .arg(&g.so)
        .args(["1", "0"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("divide") && text.contains("calc.c:21"),
        "{text}"
    );
}

/// A guest that reaches `__builtin_trap()` (wasm `unreachable`) after its last use of the
/// vmctx and of its frame base.
const TRAPPING_GUEST: &str = "\
__attribute__((export_name(\"check\")))
int check(int n) {
    int limit = 10;
    if (n > limit)
        __builtin_trap();
    return n;
}
";

/// A crash investigation starts at the faulting instruction: gdb stops there (SIGILL) and
/// shows the trapping frame's arguments and locals at an `unreachable`, whose code comes
/// after the function's last real use of the vmctx and the frame base (under `-g` the
/// translator keeps them alive to every exit and trap). A division trap is
/// `debugger_production.rs`'s `the_trapping_frame_shows_its_variables`.
#[test]
fn gdb_shows_the_trapping_frames_variables() {
    require("clang");
    let dir = TempDir::new("kiln-debugger-trap").expect("temp dir");
    let src = dir.path().join("check.c");
    std::fs::write(&src, TRAPPING_GUEST).unwrap();
    let wasm = dir.path().join("check.wasm");
    run(Command::new("clang")
        .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-g", "-O0"])
        .arg(&src)
        .arg("-o")
        .arg(&wasm));
    let so = dir.path().join("check.so");
    run(Command::new(kiln())
        .args(["compile", "-g"])
        .arg(&wasm)
        .arg("-o")
        .arg(&so));
    let session = "run\necho <trap>\\n\nbt 1\ninfo locals\necho </trap>\\n\nkill\n";
    let out = gdb_invoke(&so, &["check", "50"], session);
    let trap = section(&out, "trap");
    assert!(trap.contains("SIGILL") || out.contains("SIGILL"), "{out}");
    assert!(
        trap.contains("check (n=50) at ") && trap.contains("check.c:5"),
        "{out}"
    );
    assert!(trap.contains("limit = 10"), "{out}");
    assert!(!trap.contains("<optimized out>"), "{out}");
}

#[test]
fn split_debug_info_is_found_through_debuglink() {
    let g = build_guest(&["--split-debug"]);
    let debug = g.dir.path().join("calc.so.debug");
    assert!(debug.exists(), "no {}", debug.display());
    let bytes = std::fs::read(&g.so).unwrap();
    {
        use object::Object;
        let file = object::File::parse(&*bytes).unwrap();
        assert!(file.section_by_name(".debug_info").is_none());
        assert!(file.section_by_name(".gnu_debuglink").is_some());
    }
    let out = gdb(
        &g.so,
        "break calc.c:5\nrun\necho <bt>\\n\nbt 2\necho </bt>\\n\nkill\n",
    );
    let bt = section(&out, "bt");
    assert!(
        bt.contains("square (x=1) at ") && bt.contains("calc.c:5"),
        "{out}"
    );
}

#[test]
fn modules_without_dwarf_step_through_a_wat_listing() {
    let dir = TempDir::new("kiln-debugger-wat").unwrap();
    let wat = dir.path().join("m.wat");
    std::fs::write(
        &wat,
        "(module\n  (func $twice (export \"twice\") (param i32) (result i32)\n    \
         local.get 0\n    local.get 0\n    i32.add))\n",
    )
    .unwrap();
    let so = dir.path().join("m.so");
    run(Command::new(kiln())
        .args(["compile", "-g"])
        .arg(&wat)
        .arg("-o")
        .arg(&so));
    let listing = std::fs::read_to_string(dir.path().join("m.so.wat")).expect("listing");
    let add_line = listing
        .lines()
        .position(|l| l.trim() == "i32.add")
        .expect("i32.add in listing")
        + 1;
    // Some instruction of `twice` maps to the listing's `i32.add` line.
    let twice = symbol(&so, "wasm[0]::twice");
    let found = (0..0x80)
        .step_by(2)
        .any(|off| addr2line(&so, twice + off).contains(&format!("m.so.wat:{add_line}")));
    assert!(
        found,
        "no code of `twice` maps to m.so.wat:{add_line}:\n{listing}"
    );

    // gdb: a breakpoint on the function shows the listing line and the parameter as `local0`.
    let out = gdb_invoke(
        &so,
        &["twice", "21"],
        "break twice\nrun\necho <bt>\\n\nbt 1\ninfo args\necho </bt>\\n\nkill\n",
    );
    let bt = section(&out, "bt");
    assert!(bt.contains("twice (") && bt.contains("m.so.wat:"), "{out}");
    assert!(bt.contains("local0 = 21"), "{out}");
}

// ---- Components ----------------------------------------------------------------------------

/// `samples/debug/component/calc_component.c` built with `clang -g -O0` (a reactor), encoded
/// as a component of the `calc` world in `calc.wit` and compiled with `kiln compile -g` into
/// `calc_component.so`.
fn c_component() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(|| {
        require("clang");
        let dir = TempDir::new("kiln-debugger-component").expect("temp dir");
        let samples = workspace().join("samples/debug/component");
        let core = dir.path().join("calc_component.core.wasm");
        run(Command::new("clang")
            .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-g", "-O0"])
            .arg(samples.join("calc_component.c"))
            .arg("-o")
            .arg(&core));
        let bytes = std::fs::read(&core).expect("read core module");
        let component = kiln_componentize::componentize(
            &bytes,
            &samples.join("calc.wit"),
            Some("calc"),
            kiln_componentize::StringEncoding::UTF8,
        )
        .unwrap_or_else(|e| panic!("componentize calc_component: {e:#}"));
        let wasm = dir.path().join("calc_component.wasm");
        std::fs::write(&wasm, component).expect("write component");
        let so = dir.path().join("calc_component.so");
        run(Command::new(kiln())
            .args(["compile", "-g"])
            .arg(&wasm)
            .arg("-o")
            .arg(&so));
        Guest { dir, so }
    })
}

#[test]
fn gdb_debugs_a_c_component() {
    let out = gdb_c_session(&c_component().so, &["compute(5)"], "calc_component.c");
    // Below the guest frames: the component's export glue in the same `.so`, then the runtime.
    assert!(section(&out, "bt").contains("kiln_component_glue"), "{out}");
}

#[test]
fn lldb_debugs_a_c_component() {
    let out = lldb_c_session(&c_component().so, &["compute(5)"], "calc_component.c");
    assert!(
        out.contains("calc_component.so`kiln_component_glue"),
        "{out}"
    );
}

/// The address of the local symbol of `so` whose name ends with `::name` (the function index
/// in `wasm[N]::` depends on the producer).
fn symbol_ending(so: &Path, name: &str) -> u64 {
    use object::{Object, ObjectSymbol};
    let bytes = std::fs::read(so).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let suffix = format!("::{name}");
    file.symbols()
        .find(|s| s.name().is_ok_and(|n| n.ends_with(&suffix)))
        .unwrap_or_else(|| panic!("no symbol *{suffix} in {}", so.display()))
        .address()
}

#[test]
fn components_map_addresses_and_traps_to_source_lines() {
    let g = c_component();
    let square = symbol_ending(&g.so, "square");
    let out = addr2line(&g.so, square + 0x40);
    assert!(
        out.starts_with("square\n") && out.contains("calc_component.c:"),
        "{out}"
    );
    let out = Command::new(kiln())
        .args(["run", "--invoke", "divide(1, 0)"])
        .arg(&g.so)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("divide") && text.contains("calc_component.c:21"),
        "{text}"
    );
}

// ---- Rust ----------------------------------------------------------------------------------

/// The Rust guest's source file.
fn rust_source() -> PathBuf {
    workspace().join("samples/debug/rust/src/lib.rs")
}

/// The 1-based line of `rust_source()` that contains `text`.
fn rust_line(text: &str) -> usize {
    let src = std::fs::read_to_string(rust_source()).expect("read the Rust guest");
    src.lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no `{text}` in {}", rust_source().display()))
        + 1
}

/// `samples/debug/rust` built by `cargo build --target wasm32-wasip2` (dev profile: debug info,
/// opt-level 0; wasm-component-ld makes the component) into a target directory beside this
/// build's, compiled with `kiln compile -g`; `None` (after printing why) without the target.
fn rust_component() -> Option<&'static Guest> {
    static GUEST: OnceLock<Option<Guest>> = OnceLock::new();
    GUEST
        .get_or_init(|| {
            if let Some(why) = kiln_tests::wasip2_target_missing() {
                eprintln!("skipping the Rust debugger tests: {why}");
                return None;
            }
            let exe = std::env::current_exe().expect("current_exe");
            // One target directory per checkout: the DWARF names the source by its absolute
            // path, and cargo may reuse another checkout's build from a shared directory.
            let checkout = {
                use std::hash::{DefaultHasher, Hash, Hasher};
                let mut h = DefaultHasher::new();
                workspace().hash(&mut h);
                h.finish()
            };
            let target = exe
                .ancestors()
                .nth(3)
                .expect("test executable in <target>/<profile>/deps")
                .join(format!("samples-debug-rust-{checkout:016x}"));
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            run(Command::new(cargo)
                .args(["build", "--locked", "--target", "wasm32-wasip2"])
                .current_dir(workspace().join("samples/debug/rust"))
                .env("CARGO_TARGET_DIR", &target)
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS"));
            let dir = TempDir::new("kiln-debugger-rust").expect("temp dir");
            let so = dir.path().join("calc_rs.so");
            run(Command::new(kiln())
                .args(["compile", "-g"])
                .arg(target.join("wasm32-wasip2/debug/calc_rs.wasm"))
                .arg("-o")
                .arg(&so));
            Some(Guest { dir, so })
        })
        .as_ref()
}

#[test]
fn gdb_debugs_a_rust_component() {
    let Some(g) = rust_component() else { return };
    // The absolute path: `lib.rs` alone also names files of kiln's own dependencies.
    let src = rust_source();
    let call = rust_line("total = total.wrapping_add(square(i));");
    let body = rust_line("let result = x.wrapping_mul(x);");
    let out = gdb_invoke(
        &g.so,
        &["compute(5)"],
        &format!(
            "break {}:{call}\n\
             run\n\
             echo <bt>\\n\n\
             bt\n\
             echo </bt>\\n<print>\\n\n\
             print n\n\
             print total\n\
             print i\n\
             echo </print>\\n<step>\\n\n\
             step\n\
             print x\n\
             echo </step>\\n<finish>\\n\n\
             finish\n\
             echo </finish>\\n<next>\\n\n\
             next\n\
             next\n\
             print total\n\
             print i\n\
             echo </next>\\n\n\
             kill\n",
            src.display()
        ),
    );
    let bt = section(&out, "bt");
    assert!(
        bt.contains("calc_rs::{impl#0}::compute (n=5) at ")
            && bt.contains(&format!("lib.rs:{call}")),
        "{out}"
    );
    assert!(bt.contains("kiln_component_glue"), "{out}");
    assert!(bt.contains("kiln_runtime"), "{out}");
    let print = section(&out, "print");
    assert!(
        print.contains("$1 = 5") && print.contains("$2 = 0") && print.contains("$3 = 1"),
        "print n, total, i: {out}"
    );
    let step = section(&out, "step");
    assert!(
        step.contains("calc_rs::square (x=1) at ") && step.contains(&format!("lib.rs:{body}")),
        "{out}"
    );
    assert!(step.contains("$4 = 1"), "print x: {out}");
    let finish = section(&out, "finish");
    assert!(finish.contains("Value returned is $5 = 1"), "{out}");
    // Back round the loop to the breakpoint: total = 1, i = 2.
    let next = section(&out, "next");
    assert!(
        next.contains("$6 = 1") && next.contains("$7 = 2"),
        "print total, i: {out}"
    );
}

#[test]
fn lldb_debugs_a_rust_component() {
    let Some(g) = rust_component() else { return };
    let call = rust_line("total = total.wrapping_add(square(i));");
    let body = rust_line("let result = x.wrapping_mul(x);");
    let out = lldb_invoke(
        &g.so,
        &["compute(5)"],
        &format!(
            "breakpoint set --file {} --line {call}\n\
             run\n\
             bt\n\
             frame variable n total i\n\
             step\n\
             frame variable x\n\
             finish\n\
             kill\n",
            rust_source().display()
        ),
    );
    // lldb 14 prints the frame's linkage name, demangled by its C++ demangler.
    assert!(out.contains("::compute"), "{out}");
    assert!(out.contains(&format!("(n=5) at lib.rs:{call}")), "{out}");
    assert!(out.contains("kiln_component_glue"), "{out}");
    assert!(out.contains("kiln_runtime"), "{out}");
    assert!(
        out.contains("(int) n = 5")
            && out.contains("(int) total = 0")
            && out.contains("(int) i = 1"),
        "{out}"
    );
    assert!(out.contains("calc_rs::square"), "{out}");
    assert!(out.contains(&format!("(x=1) at lib.rs:{body}")), "{out}");
    assert!(out.contains("(int) x = 1"), "{out}");
    assert!(out.contains("Return value: (int) $0 = 1"), "{out}");
}

/// A debugger that attaches to a host that already loaded a module finds the library (the
/// runtime keeps the name it was `dlopen`ed under, a link named after the file, while it is
/// loaded) and its symbols. Skipped with a notice where ptrace attach is not permitted.
#[test]
fn gdb_attaches_to_a_running_host() {
    require("gdb");
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope").unwrap_or_default();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if scope.trim() != "0" && !root {
        eprintln!("skipping: ptrace attach is restricted (kernel.yama.ptrace_scope = {scope})");
        return;
    }
    let dir = TempDir::new("kiln-attach").expect("temp dir");
    let wat = dir.path().join("spin.wat");
    std::fs::write(
        &wat,
        "(module (func $spinner (export \"spin\") (loop $l (br $l))))",
    )
    .unwrap();
    let so = dir.path().join("spin.so");
    run(Command::new(kiln())
        .arg("compile")
        .arg(&wat)
        .arg("-o")
        .arg(&so));
    let mut host = Command::new(kiln())
        .args(["run", "--invoke", "spin", "--timeout", "60s"])
        .arg(&so)
        .spawn()
        .expect("start kiln run");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = Command::new("gdb")
        .args(["-batch", "-p", &host.id().to_string(), "-ex", "bt 2"])
        .output()
        .expect("run gdb");
    let _ = host.kill();
    let _ = host.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("wasm[0]::spinner") && text.contains("spin.so"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

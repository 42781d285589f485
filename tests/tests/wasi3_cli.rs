//! WASI 0.3 commands: the guest of `tests/async-guests/cli3` (a wit-bindgen async component
//! of the `wasi:cli/command@0.3.0` world that imports WASI 0.3 only), compiled to a real
//! `.so` and run through `kiln_runtime::wasi::run_command`, `kiln run`, and a C host driving
//! the call from its own event loop (`samples/c-host/async_host.c`). The same programs run
//! under wasmtime in `kiln-diff --only wasi` (group `cli3`); here the outputs are checked
//! against what each program must print.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::wasi::{OutputBuffer, OutputConfig, StdinConfig, WasiConfig};
use kiln_runtime::{Component, ComponentLinker, Engine};
use kiln_tests::chost::CHost;
use kiln_tests::workspace;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The guest compiled to a `.so` (built once per test process), or `None` where the
/// `wasm32-wasip2` target is missing (the reason printed).
fn guest_so() -> Option<&'static Path> {
    static SO: OnceLock<Option<(TempDir, PathBuf)>> = OnceLock::new();
    SO.get_or_init(|| {
        kiln_tests::compiled_wasip2_guest(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("async-guests/cli3"),
            "kiln-async-guests",
            "cli3_guest",
            "WASI 0.3 command",
        )
    })
    .as_ref()
    .map(|(_, so)| so.as_path())
}

struct Run {
    status: i32,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs the guest with `args` (after its program name) and `stdin`, output into buffers.
fn run(so: &Path, args: &[&str], env: &[(&str, &str)], stdin: StdinConfig) -> Run {
    let engine = Engine::default();
    let component = Component::load(&engine, so).expect("load");
    let (out, err) = (OutputBuffer::new(), OutputBuffer::new());
    let mut cfg = WasiConfig::new();
    let mut all = vec!["cli3"];
    all.extend_from_slice(args);
    cfg.args(&all);
    for (k, v) in env {
        cfg.env(k, v);
    }
    cfg.stdin = stdin;
    cfg.stdout = OutputConfig::Buffer(out.clone());
    cfg.stderr = OutputConfig::Buffer(err.clone());
    let mut linker = ComponentLinker::new(&engine);
    kiln_runtime::wasi::add_to_linker(&mut linker, cfg);
    let instance = linker.instantiate(&component).expect("instantiate");
    let status = kiln_runtime::wasi::run_command(&instance).expect("run");
    Run {
        status,
        stdout: out.contents(),
        stderr: String::from_utf8_lossy(&err.contents()).into_owned(),
    }
}

fn text(r: &Run) -> &str {
    std::str::from_utf8(&r.stdout).expect("utf-8 stdout")
}

#[test]
fn arguments_environment_exit_statuses_and_stderr() {
    let Some(so) = guest_so() else { return };
    let r = run(so, &["args", "héllo", "", "a b"], &[], StdinConfig::Null);
    assert_eq!((r.status, text(&r)), (0, "cli3\nargs\nhéllo\n\na b\n"));
    let r = run(so, &["env"], &[("B", "2"), ("A", "x=y")], StdinConfig::Null);
    assert_eq!((r.status, text(&r)), (0, "A=x=y\nB=2\n"));
    for code in [0, 3, 255] {
        let r = run(so, &["exit", &code.to_string()], &[], StdinConfig::Null);
        assert_eq!((r.status, text(&r)), (code, "bye\n"), "exit {code}");
    }
    let r = run(so, &["fail"], &[], StdinConfig::Null);
    assert_eq!((r.status, text(&r)), (1, ""));
    let r = run(so, &["stderr"], &[], StdinConfig::Null);
    assert_eq!(
        (r.status, text(&r), r.stderr.as_str()),
        (0, "to stdout\n", "to stderr\n")
    );
    let r = run(so, &[], &[], StdinConfig::Null);
    assert_eq!(r.status, 1);
    assert!(r.stderr.contains("usage"), "{}", r.stderr);
}

#[test]
fn clocks_random_and_concurrent_waits() {
    let Some(so) = guest_so() else { return };
    let r = run(so, &["clocks"], &[], StdinConfig::Null);
    assert_eq!((r.status, text(&r)), (0, "wall ok\nres ok\n"));
    let r = run(so, &["random", "100000"], &[], StdinConfig::Null);
    assert_eq!(
        (r.status, text(&r)),
        (0, "random 100000\ninsecure 100000\nseed ok\n")
    );
    let t = std::time::Instant::now();
    let r = run(so, &["sleep", "40"], &[], StdinConfig::Null);
    assert_eq!((r.status, text(&r)), (0, "slept ok\n"));
    assert!(t.elapsed() >= Duration::from_millis(40));
    let r = run(so, &["concurrent"], &[], StdinConfig::Null);
    assert_eq!(
        (r.status, text(&r)),
        (0, "task done\ntask done\nboth done\n")
    );
}

/// `big N`: the bytes the guest's pattern gives (letters, a newline every 64).
fn big_expected(out: &[u8], n: usize) {
    assert_eq!(out.len(), n);
    assert!(out.iter().all(|b| b.is_ascii_lowercase() || *b == b'\n'));
}

#[test]
fn stdio_streams_carry_mebibytes_both_ways() {
    let Some(so) = guest_so() else { return };
    for n in [0usize, 1, 4097, 1 << 20] {
        let r = run(so, &["big", &n.to_string()], &[], StdinConfig::Null);
        assert_eq!(r.status, 0, "{}", r.stderr);
        big_expected(&r.stdout, n);
    }
    let input: Vec<u8> = (0..(1usize << 20) + 3)
        .map(|i| (i * 7 % 256) as u8)
        .collect();
    let r = run(so, &["cat"], &[], StdinConfig::Bytes(input.clone()));
    assert_eq!(r.status, 0);
    assert!(r.stdout == input, "cat changed the bytes");
    assert_eq!(r.stderr, format!("{} bytes\n", input.len()));
    let r = run(so, &["cat"], &[], StdinConfig::Null);
    assert_eq!(
        (r.status, r.stdout.len(), r.stderr.as_str()),
        (0, 0, "0 bytes\n")
    );

    // A pipe filled late, by another thread: the guest's reads wait for the host's stdin
    // thread, which reads only when asked.
    let (rd, wr) = std::io::pipe().expect("pipe");
    let writer = std::thread::spawn(move || {
        let mut wr = wr;
        std::thread::sleep(Duration::from_millis(50));
        wr.write_all(b"late ").expect("write");
        std::thread::sleep(Duration::from_millis(50));
        wr.write_all(b"lines\n").expect("write");
    });
    let r = run(so, &["cat"], &[], StdinConfig::Fd(rd.into()));
    writer.join().expect("writer");
    assert_eq!((r.status, text(&r)), (0, "late lines\n"));
}

#[test]
fn kiln_run_runs_a_wasi_03_command() {
    let Some(so) = guest_so() else { return };
    let kiln = kiln_tests::tools::kiln_exe();
    let mut child = Command::new(kiln)
        .arg("run")
        .arg(so)
        .args(["--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kiln run");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"through kiln run\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"through kiln run\n");
    let out = Command::new(kiln)
        .arg("run")
        .arg(so)
        .args(["--", "exit", "9"])
        .output()
        .expect("kiln run");
    assert_eq!(out.status.code(), Some(9));
    assert_eq!(out.stdout, b"bye\n");
}

#[test]
fn a_c_host_drives_the_command_from_its_own_event_loop() {
    let Some(so) = guest_so() else { return };
    let dir = TempDir::new("kiln-async-c-host").expect("temp dir");
    let exe = CHost::new(&workspace().join("samples/c-host/async_host.c"))
        .build(dir.path(), "async_host");
    let run = |args: &[&str], stdin: &[u8]| {
        let mut child = Command::new(&exe)
            .arg(so)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("async_host");
        let mut input = child.stdin.take().expect("stdin");
        let data = stdin.to_vec();
        let feeder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().expect("wait");
        feeder.join().expect("feeder");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The timer: the host sleeps in poll(2) until kiln's next deadline, then polls again.
    let (code, out, err) = run(&["sleep", "50"], b"");
    assert_eq!((code, out.as_str()), (Some(0), "slept ok\n"), "{err}");
    assert!(err.contains("waits]"), "{err}");
    assert!(
        !err.contains(" 0 waits"),
        "the call finished without waiting: {err}"
    );
    // Stdin arriving later wakes the host through the wake callback.
    let (code, out, err) = run(&["cat"], b"from a pipe\n");
    assert_eq!((code, out.as_str()), (Some(0), "from a pipe\n"), "{err}");
    let (code, out, err) = run(&["exit", "4"], b"");
    assert_eq!((code, out.as_str()), (Some(4), "bye\n"), "{err}");
    let (code, _, err) = run(&["fail"], b"");
    assert_eq!(code, Some(1), "{err}");
}

//! kiln's native WASI 0.2 host (issue 4): `wasi:cli`, `wasi:io`, `wasi:clocks` and
//! `wasi:random`, exercised by a real command component — `tests/wasi-guests/cli`, a Rust
//! program built with `cargo build --release --target wasm32-wasip2` (skipped with a printed
//! reason when that target is not installed) — compiled by kiln into a `.so` and run through
//! `kiln_runtime::wasi::{add_to_linker, run_command}` with buffers, bytes and pipes as stdio.
//! The expected values follow from the guest's source (`src/main.rs`) and the WASI WIT.

use kiln_cli::tempdir::TempDir;
use kiln_runtime::wasi::{OutputBuffer, OutputConfig, StdinConfig, WasiConfig};
use kiln_runtime::{Component, ComponentLinker, Engine, Error};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn guest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("wasi-guests/cli")
}

/// The guest command compiled by kiln (built once per test process), or `None` after
/// printing why it cannot be built.
fn guest_so() -> Option<&'static Path> {
    static SO: OnceLock<Option<(TempDir, PathBuf)>> = OnceLock::new();
    SO.get_or_init(|| {
        kiln_tests::compiled_wasip2_guest(
            &guest_dir(),
            "kiln-wasi-guests/cli",
            "wasi-cli-guest",
            "WASI cli",
        )
    })
    .as_ref()
    .map(|(_, so)| so.as_path())
}

/// What one run of the guest produced.
struct Run {
    status: Result<i32, Error>,
    stdout: String,
    stderr: String,
}

/// Runs the guest with arguments `args` (after the program name) and stdin `stdin`; `cfg`
/// adjusts the rest of the configuration.
fn run_with(so: &Path, args: &[&str], stdin: &[u8], cfg: impl FnOnce(&mut WasiConfig)) -> Run {
    let engine = Engine::default();
    let component = Component::load(&engine, so).unwrap_or_else(|e| panic!("load: {e}"));
    let mut linker = ComponentLinker::new(&engine);
    let (out, err) = (OutputBuffer::new(), OutputBuffer::new());
    let mut config = WasiConfig::new();
    let mut all = vec!["wasi-cli-guest"];
    all.extend_from_slice(args);
    config.args(&all);
    config.stdin = StdinConfig::Bytes(stdin.to_vec());
    config.stdout = OutputConfig::Buffer(out.clone());
    config.stderr = OutputConfig::Buffer(err.clone());
    cfg(&mut config);
    kiln_runtime::wasi::add_to_linker(&mut linker, config);
    let instance = linker
        .instantiate(&component)
        .unwrap_or_else(|e| panic!("instantiate: {e}"));
    let status = kiln_runtime::wasi::run_command(&instance);
    Run {
        status,
        stdout: String::from_utf8_lossy(&out.contents()).into_owned(),
        stderr: String::from_utf8_lossy(&err.contents()).into_owned(),
    }
}

fn run(so: &Path, args: &[&str]) -> Run {
    run_with(so, args, b"", |_| {})
}

/// The value of `key=` on the line that has it (up to the next space).
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    let pat = format!("{key}=");
    let start = text
        .find(&pat)
        .unwrap_or_else(|| panic!("`{key}=` not in:\n{text}"))
        + pat.len();
    let rest = &text[start..];
    let end = rest.find([' ', '\n']).unwrap_or(rest.len());
    &rest[..end]
}

fn num(text: &str, key: &str) -> u64 {
    field(text, key)
        .parse()
        .unwrap_or_else(|e| panic!("`{key}` is not a number ({e}) in:\n{text}"))
}

#[test]
fn arguments_environment_stdin_stdout_stderr_and_exit_code() {
    let Some(so) = guest_so() else { return };
    let r = run_with(so, &["hello", "3"], b"some input\nbytes", |c| {
        c.env("GREETING", "hi there").env("EMPTY", "");
    });
    // wasi-libc reports a non-zero `exit` status as `wasi:cli/exit#exit(err)` (status 1):
    // `exit-with-code` is unstable in WASI 0.2, so its world does not import it.
    assert_eq!(r.status.unwrap(), 1, "stderr: {}", r.stderr);
    assert!(
        r.stdout.contains("args=wasi-cli-guest|hello|3\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("env EMPTY=\n"), "{}", r.stdout);
    assert!(r.stdout.contains("env GREETING=hi there\n"), "{}", r.stdout);
    assert_eq!(r.stdout.matches("env ").count(), 2, "{}", r.stdout);
    assert!(
        r.stdout.contains("stdin=\"some input\\nbytes\"\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("terminals=false false false\n"),
        "{}",
        r.stdout
    );
    assert_eq!(r.stderr, "to stderr\n");
}

#[test]
fn exit_statuses_and_traps() {
    let Some(so) = guest_so() else { return };
    assert_eq!(run(so, &["hello"]).status.unwrap(), 0);
    assert_eq!(run(so, &["exit", "0"]).status.unwrap(), 0);
    // Non-zero statuses arrive as `exit(err)` (see above).
    assert_eq!(run(so, &["exit", "42"]).status.unwrap(), 1);
    let r = run(so, &["fail"]);
    assert_eq!(r.status.unwrap(), 1);
    assert_eq!(r.stderr, "error: failing on purpose\n");
    assert_eq!(run(so, &["no-such-mode"]).status.unwrap(), 1);
    // A guest panic aborts: a trap, reported as an error; the host carries on.
    let r = run(so, &["panic"]);
    assert!(
        matches!(r.status, Err(Error::Trap(_))),
        "{:?}",
        r.status.err()
    );
    assert!(r.stderr.contains("guest panic"), "{}", r.stderr);
    // poll on an empty list traps (the WIT says so).
    let r = run(so, &["poll-empty"]);
    let e = r.status.expect_err("poll on an empty list must trap");
    assert!(e.to_string().contains("empty list"), "{e}");
    // A write longer than check-write permits traps.
    let r = run(so, &["overwrite"]);
    let e = r.status.expect_err("a write over the permit must trap");
    assert!(e.to_string().contains("exceeds"), "{e}");
    assert!(!r.stdout.contains("not reached"));
}

#[test]
fn random_bytes_and_seeds() {
    let Some(so) = guest_so() else { return };
    let r = run(so, &["random"]);
    assert_eq!(r.status.unwrap(), 0, "stderr: {}", r.stderr);
    let o = &r.stdout;
    for kind in ["random_bytes", "insecure_bytes"] {
        assert_eq!(num(o, &format!("{kind}_0")), 0);
        assert_eq!(num(o, &format!("{kind}_1")), 1);
        assert_eq!(num(o, &format!("{kind}_37")), 37);
        assert_eq!(num(o, &format!("{kind}_4096")), 4096);
    }
    // 4096 random bytes take (almost surely) all 256 values; 37 at least a dozen.
    let distinct: Vec<u64> = o
        .lines()
        .filter(|l| l.contains("_4096=") || l.contains("_37="))
        .map(|l| num(l, "distinct"))
        .collect();
    assert_eq!(distinct.len(), 4, "{o}");
    assert!(distinct.iter().all(|&d| d >= 12), "{o}");
    assert!(o.contains("random_u64_differ=true"), "{o}");
    assert!(o.contains("insecure_u64_differ=true"), "{o}");
    assert!(o.contains("seed_stable=true seed_nonzero=true"), "{o}");
    assert!(o.contains("hashmap_sum=285"), "{o}");
}

#[test]
fn clocks_and_poll() {
    let Some(so) = guest_so() else { return };
    let r = run(so, &["clocks"]);
    assert_eq!(r.status.unwrap(), 0, "stderr: {}", r.stderr);
    let o = &r.stdout;
    assert!(o.contains("mono_resolution_ok=true"), "{o}");
    assert!(
        o.contains("poll_ready_before=0 poll_result=[0] poll_ready_after=1"),
        "{o}"
    );
    let slept = num(o, "slept_ns");
    assert!((20_000_000..2_000_000_000).contains(&slept), "{o}");
    assert!(o.contains("instant_past_ready=1"), "{o}");
    assert!(num(o, "blocked_ns") >= 5_000_000, "{o}");
    assert!(o.contains("poll_two=[1]"), "{o}");
    assert!(num(o, "std_sleep_ns") >= 20_000_000, "{o}");
    let host = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let wall = num(o, "wall_seconds");
    assert!(wall.abs_diff(host) <= 5, "guest {wall}, host {host}");
    assert!(num(o, "wall_nanos") < 1_000_000_000);
    assert!(num(o, "std_wall_seconds").abs_diff(host) <= 5, "{o}");
}

#[test]
fn stream_operations() {
    let Some(so) = guest_so() else { return };
    let r = run_with(so, &["streams"], b"0123456789ABCDEF", |_| {});
    assert_eq!(r.status.unwrap(), 0, "stderr: {}", r.stderr);
    let e = &r.stderr;
    let expect = [
        "check_write=ok(1048576)",
        "write=ok",
        "write_zeroes=ok",
        "blocking_write_zeroes=ok",
        "blocking_write_and_flush=ok",
        "flush=ok",
        "blocking_flush=ok",
        "stdout_ready=1",
        "stdin_ready=1",
        "skip=ok(2)",
        "read=ok(234)",
        "blocking_read=ok(56)",
        "splice=ok(4)",
        "blocking_splice=ok(5)",
        "read_at_end=closed",
        "blocking_read_at_end=closed",
    ];
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines, expect, "stderr:\n{e}");
    assert_eq!(r.stdout, "abc\0\0\0xyz\n789ABCDEF");
}

#[test]
fn large_output_through_a_buffer() {
    let Some(so) = guest_so() else { return };
    let r = run(so, &["big-output", "20000"]);
    assert_eq!(r.status.unwrap(), 0, "stderr: {}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 20000);
    assert_eq!(r.stdout.len(), 20000 * (8 + 1 + 128 + 1));
    assert!(r
        .stdout
        .ends_with(&format!("00019999 {}\n", "0123456789abcdef".repeat(8))));
}

extern "C" {
    fn signal(sig: i32, handler: usize) -> usize;
}
const SIGPIPE: i32 = 13;
const SIG_DFL: usize = 0;

#[test]
fn closed_stdout_gives_the_guest_an_error_and_spares_the_host() {
    let Some(so) = guest_so() else { return };
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    // Make SIGPIPE fatal, as in a C host that never touched it: the runtime must still not
    // let a write to the closed pipe kill this process.
    // SAFETY: `signal` from the C library with a valid signal number and SIG_DFL; the old
    // action is restored below.
    let old = unsafe { signal(SIGPIPE, SIG_DFL) };
    let r = run_with(so, &["closed-stdout"], b"", |c| {
        c.stdout = OutputConfig::Fd(writer.into());
    });
    // SAFETY: restores the action saved above.
    unsafe { signal(SIGPIPE, old) };
    assert_eq!(r.status.unwrap(), 1, "stderr: {}", r.stderr);
    assert!(r.stderr.starts_with("stdout error: "), "{}", r.stderr);
    assert!(
        r.stderr.to_lowercase().contains("pipe"),
        "expected a broken-pipe error: {}",
        r.stderr
    );
}

#[test]
fn stdin_from_a_pipe_filled_late_and_stdout_into_a_pipe() {
    let Some(so) = guest_so() else { return };
    let (stdin_r, mut stdin_w) = std::io::pipe().expect("pipe");
    let (stdout_r, stdout_w) = std::io::pipe().expect("pipe");
    // The host writes stdin only once the guest has found it empty (it prints
    // `early_ready=` first), then waits 30 ms more so the guest really blocks.
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        if seen_rx.recv().is_ok() {
            std::thread::sleep(std::time::Duration::from_millis(30));
            std::io::Write::write_all(&mut stdin_w, b"late data").unwrap();
        }
        // Dropping the write end ends the guest's stdin.
    });
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout_r));
        for line in lines.by_ref() {
            let line = line.unwrap();
            all.push_str(&line);
            all.push('\n');
            if line.starts_with("early_ready=") {
                let _ = seen_tx.send(());
            }
        }
        all
    });
    let r = run_with(so, &["stdin-pipe"], b"", |c| {
        c.stdin = StdinConfig::Fd(stdin_r.into());
        c.stdout = OutputConfig::Fd(stdout_w.into());
    });
    assert_eq!(r.status.unwrap(), 0, "stderr: {}", r.stderr);
    writer.join().unwrap();
    let o = reader.join().unwrap();
    assert!(o.contains("early_read=ok()\nearly_ready=0\n"), "{o}");
    assert!(num(&o, "waited_ns") >= 20_000_000, "{o}");
    assert!(
        o.contains("late_ready=1\nlate_read=ok(late data)\nfinal_read=closed\n"),
        "{o}"
    );

    // 20000 lines (2.7 MB, far more than a pipe holds) into a pipe read concurrently.
    let (mut out_r, out_w) = std::io::pipe().expect("pipe");
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut out_r, &mut s).unwrap();
        s
    });
    let r = run_with(so, &["big-output", "20000"], b"", |c| {
        c.stdout = OutputConfig::Fd(out_w.into());
    });
    assert_eq!(r.status.unwrap(), 0, "stderr: {}", r.stderr);
    let o = reader.join().unwrap();
    assert_eq!(o.len(), 20000 * 138);
}

/// Set in the child process [`inherited_stdio`] starts.
const CHILD_ENV: &str = "KILN_WASI_CLI_INHERIT_CHILD";

/// The child half of [`inherited_stdio`]: runs the guest with the process's own stdin, stdout
/// and stderr (does nothing in a normal test run).
#[test]
fn inherited_stdio_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let Some(so) = guest_so() else { return };
    let engine = Engine::default();
    let component = Component::load(&engine, so).expect("load");
    let mut linker = ComponentLinker::new(&engine);
    let mut config = WasiConfig::new();
    config.args(&["wasi-cli-guest", "hello"]);
    config.env("FROM", "child");
    config.inherit_stdio();
    kiln_runtime::wasi::add_to_linker(&mut linker, config);
    let instance = linker.instantiate(&component).expect("instantiate");
    let status = kiln_runtime::wasi::run_command(&instance).expect("run");
    println!("child-status={status}");
}

#[test]
fn inherited_stdio() {
    if std::env::var_os(CHILD_ENV).is_some() || guest_so().is_none() {
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "inherited_stdio_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the child test");
    let mut stdin = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, b"parent's bytes").unwrap();
    drop(stdin);
    let out = child.wait_with_output().expect("child output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("args=wasi-cli-guest|hello\n"), "{stdout}");
    assert!(stdout.contains("env FROM=child\n"), "{stdout}");
    assert!(stdout.contains("stdin=\"parent's bytes\"\n"), "{stdout}");
    assert!(stdout.contains("terminals=false false false\n"), "{stdout}");
    assert!(stdout.contains("child-status=0"), "{stdout}");
    assert!(stderr.contains("to stderr\n"), "{stderr}");
}

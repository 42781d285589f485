//! The real WASI programs of `samples/wasi/` (issue 4, item 4), built from registry packages
//! by `samples/wasi/build.sh` and run with the real CLI, `kiln run --dir HOST::/data --env
//! NAME=VAL FILE.wasm ARGS...` (or `kiln run --invoke CALL` for the Python component). Each
//! sample's `run.txt` says how it is run; its `expected/` holds what the run must give: stdout,
//! stderr, the exit status, the tree of the preopened directory afterwards and the contents
//! of the files the program wrote. The expected files come from the programs' semantics (by
//! hand, from a native build of the same C with the host compiler, from host CPython running
//! the same Python function), never from kiln's own output.
//!
//! The components are built once per test process and cached by `kiln_tests::wasi_samples`
//! (`$HOME/.cache/kiln-wasi-samples/`); the Rust sample is skipped with a printed reason where
//! the `wasm32-wasip2` target is missing, the Python one where componentize-py cannot be
//! installed from PyPI.

use kiln_cli::tempdir::TempDir;
use kiln_tests::tools::output;
use kiln_tests::wasi_samples::{component, samples, tools, COMPONENTS};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How a sample is run: `samples/wasi/<name>/run.txt`.
#[derive(Default, Debug)]
struct Spec {
    /// Program arguments after the file name.
    args: Vec<String>,
    /// `--env` values (`NAME=VAL`).
    envs: Vec<String>,
    /// Copy the sample's `data/` into the preopened directory first.
    copy_data: bool,
    /// Text of `HOST/outside.txt`, beside the preopened directory (must stay untouched).
    outside: Option<String>,
    /// Symbolic links created in the preopened directory: (name, target).
    symlinks: Vec<(String, String)>,
    /// A file of the sample fed to the guest's stdin.
    stdin: Option<String>,
    /// `--invoke` calls (WAVE), one `kiln run` each, instead of running the command.
    invokes: Vec<String>,
    /// Give the guest no preopened directory at all (no `--dir`).
    no_preopen: bool,
}

/// The run file and expected directory of `scenario` of sample `name`: `run.txt` and
/// `expected/`, or `run-<scenario>.txt` and `expected-<scenario>/`.
fn scenario_paths(name: &str, scenario: Option<&str>) -> (PathBuf, PathBuf) {
    let src = samples().join(name);
    match scenario {
        None => (src.join("run.txt"), src.join("expected")),
        Some(s) => (
            src.join(format!("run-{s}.txt")),
            src.join(format!("expected-{s}")),
        ),
    }
}

fn parse_spec(path: &Path) -> Spec {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut spec = Spec::default();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "arg" => spec.args.push(rest.to_string()),
            "env" => spec.envs.push(rest.to_string()),
            "copy" if rest == "data" => spec.copy_data = true,
            "outside" => spec.outside = Some(format!("{rest}\n")),
            "symlink" => {
                let (link, target) = rest.split_once(' ').expect("symlink NAME TARGET");
                spec.symlinks.push((link.to_string(), target.to_string()));
            }
            "stdin" => spec.stdin = Some(rest.to_string()),
            "invoke" => spec.invokes.push(rest.to_string()),
            "no-preopen" => spec.no_preopen = true,
            _ => panic!("{}: unknown line `{line}`", path.display()),
        }
    }
    spec
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read data dir") {
        let entry = entry.expect("dir entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy data file");
        }
    }
}

/// The tree under `dir`, one line per entry, sorted: `path SIZE`, `path/`, `path -> TARGET`.
fn tree(dir: &Path) -> String {
    fn walk(root: &Path, dir: &Path, lines: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).expect("readlink");
                lines.push(format!("{rel} -> {}", target.display()));
            } else if meta.is_dir() {
                lines.push(format!("{rel}/"));
                walk(root, &path, lines);
            } else {
                lines.push(format!("{rel} {}", meta.len()));
            }
        }
    }
    let mut lines = Vec::new();
    walk(dir, dir, &mut lines);
    lines.sort();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Files under `dir` (relative paths, recursively).
fn files_under(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
}

/// Asserts `actual == expected` for text, showing the first differing line.
fn assert_text(what: &str, actual: &str, expected: &str) {
    if actual == expected {
        return;
    }
    let line = actual
        .lines()
        .zip(expected.lines())
        .position(|(a, e)| a != e)
        .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
    panic!(
        "{what} differs from the expected file (first difference at line {}):\n\
         --- expected:\n{expected}\n--- actual:\n{actual}",
        line + 1
    );
}

/// Runs sample `name` as its `run.txt` says and checks everything in its `expected/`;
/// returns the temporary directory and the preopened directory in it, for further checks.
fn check_sample(name: &str, scenario: Option<&str>, wasm: &Path) -> (TempDir, PathBuf) {
    let (run_file, expected) = scenario_paths(name, scenario);
    let spec = parse_spec(&run_file);
    let src = samples().join(name);
    let tmp = TempDir::new(&format!("kiln-wasi-{name}")).expect("temp dir");
    let host = tmp.path().join("host");
    let data = host.join("data");
    std::fs::create_dir_all(&data).expect("mkdir data");
    if spec.copy_data {
        copy_tree(&src.join("data"), &data);
    }
    if let Some(text) = &spec.outside {
        std::fs::write(host.join("outside.txt"), text).expect("write outside.txt");
    }
    for (link, target) in &spec.symlinks {
        std::os::unix::fs::symlink(target, data.join(link)).expect("symlink");
    }
    let (kiln, _) = tools();

    let started = std::time::Instant::now();
    let (stdout, stderr, statuses) = if spec.invokes.is_empty() {
        let mut dir_arg = data.clone().into_os_string();
        dir_arg.push("::/data");
        let mut cmd = Command::new(kiln);
        cmd.arg("run");
        if !spec.no_preopen {
            cmd.arg("--dir").arg(dir_arg);
        }
        for e in &spec.envs {
            cmd.arg("--env").arg(e);
        }
        cmd.arg(wasm).args(&spec.args);
        match &spec.stdin {
            Some(file) => {
                let f = std::fs::File::open(src.join(file)).expect("open the stdin file");
                cmd.stdin(Stdio::from(f));
            }
            None => {
                cmd.stdin(Stdio::null());
            }
        }
        let out = output(&mut cmd);
        (out.stdout, out.stderr, vec![out.status])
    } else {
        let (mut stdout, mut stderr, mut statuses) = (Vec::new(), Vec::new(), Vec::new());
        for call in &spec.invokes {
            let out = output(
                Command::new(kiln)
                    .arg("run")
                    .arg("--invoke")
                    .arg(call)
                    .arg(wasm)
                    .stdin(Stdio::null()),
            );
            stdout.extend_from_slice(&out.stdout);
            stderr.extend_from_slice(&out.stderr);
            statuses.push(out.status);
        }
        (stdout, stderr, statuses)
    };
    eprintln!(
        "{name}: kiln run took {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let stdout = String::from_utf8_lossy(&stdout);
    let stderr = String::from_utf8_lossy(&stderr);

    let want_status: i32 = std::fs::read_to_string(expected.join("status"))
        .expect("expected/status")
        .trim()
        .parse()
        .expect("a number in expected/status");
    for status in &statuses {
        assert_eq!(
            status.code(),
            Some(want_status),
            "{name}: exit status {status} (expected {want_status})\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    let want_stdout =
        std::fs::read_to_string(expected.join("stdout.txt")).expect("expected/stdout.txt");
    assert_text(&format!("{name}: stdout"), &stdout, &want_stdout);
    if let Ok(want_stderr) = std::fs::read_to_string(expected.join("stderr.txt")) {
        assert_text(&format!("{name}: stderr"), &stderr, &want_stderr);
    }
    if let Ok(want_tree) = std::fs::read_to_string(expected.join("tree.txt")) {
        assert_text(
            &format!("{name}: the preopened directory"),
            &tree(&data),
            &want_tree,
        );
    }
    let files_dir = expected.join("files");
    let mut files = Vec::new();
    files_under(&files_dir, &files_dir, &mut files);
    for rel in files {
        let want = std::fs::read(files_dir.join(&rel)).expect("read expected file");
        let got = std::fs::read(data.join(&rel))
            .unwrap_or_else(|e| panic!("{name}: the guest did not write {}: {e}", rel.display()));
        assert_text(
            &format!("{name}: file {}", rel.display()),
            &String::from_utf8_lossy(&got),
            &String::from_utf8_lossy(&want),
        );
    }
    // Nothing escaped the preopen: the host directory holds what the test put there.
    if let Some(text) = &spec.outside {
        let now = std::fs::read_to_string(host.join("outside.txt")).expect("outside.txt");
        assert_eq!(&now, text, "{name}: outside.txt was modified");
    }
    let mut top: Vec<String> = std::fs::read_dir(&host)
        .expect("read host dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    let mut want_top = vec!["data".to_string()];
    if spec.outside.is_some() {
        want_top.push("outside.txt".to_string());
    }
    assert_eq!(top, want_top, "{name}: files appeared beside the preopen");
    (tmp, data)
}

#[test]
fn c_command_args_env_files_clocks_sandbox_exit() {
    let wasm = component("c-command").expect("the C command is always built");
    check_sample("c-command", None, &wasm);
}

#[test]
fn c_command_without_a_preopen() {
    // No --dir: every path fails inside wasi-libc (no preopen matches) and the program goes on.
    let wasm = component("c-command").expect("the C command is always built");
    check_sample("c-command", Some("no-preopen"), &wasm);
}

#[test]
fn c_command_with_stdout_closed() {
    // The reader of stdout goes away at once: the guest's writes fail (it ignores that, as C
    // programs do), and kiln neither dies of SIGPIPE nor hangs; the exit status is the guest's.
    let wasm = component("c-command").expect("the C command is always built");
    let tmp = TempDir::new("kiln-wasi-closed").expect("temp dir");
    let mut child = Command::new(tools().0)
        .arg("run")
        .arg(&wasm)
        .args(["--exit", "3"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir(tmp.path())
        .spawn()
        .expect("spawn kiln");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for kiln");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{:?}\n{stderr}", out.status);
    assert!(
        stderr.contains("c-command: done, exit status 3"),
        "{stderr}"
    );
}

#[test]
fn sqlite_on_a_preopened_directory() {
    let wasm = component("sqlite").expect("the SQLite command is always built");
    let (_tmp, data) = check_sample("sqlite", None, &wasm);
    // The database file itself (its size is in expected/tree.txt): a SQLite 3 file.
    let db = std::fs::read(data.join("shop.db")).expect("shop.db");
    assert!(db.starts_with(b"SQLite format 3\0"), "shop.db header");
}

#[test]
fn sqlite_usage_error_and_a_database_outside_the_preopen() {
    let wasm = component("sqlite").expect("the SQLite command is always built");
    check_sample("sqlite", Some("usage"), &wasm);
    check_sample("sqlite", Some("outside"), &wasm);
}

#[test]
fn rust_wasip2_command() {
    let Some(wasm) = component("rust-command") else {
        return;
    };
    check_sample("rust-command", None, &wasm);
}

#[test]
fn python_component_through_invoke() {
    let Some(wasm) = component("python") else {
        return;
    };
    check_sample("python", None, &wasm);
}

#[test]
fn components_have_the_expected_shape() {
    // The commands export wasi:cli/run; the Python component exports `process`.
    for name in COMPONENTS {
        let Some(wasm) = component(name) else {
            continue;
        };
        let bytes = std::fs::read(&wasm).expect("read component");
        assert_eq!(&bytes[..8], b"\0asm\x0d\0\x01\0", "{name}: not a component");
        let needle: &[u8] = if name == "python" {
            b"process"
        } else {
            b"wasi:cli/run@0.2"
        };
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(
            has(needle),
            "{name}: no {} export",
            String::from_utf8_lossy(needle)
        );
        // All of them import WASI (CPython needs the filesystem, clocks and random).
        for import in [&b"wasi:io/streams@0.2"[..], b"wasi:filesystem/types@0.2"] {
            assert!(
                has(import),
                "{name}: does not import {}",
                String::from_utf8_lossy(import)
            );
        }
    }
}

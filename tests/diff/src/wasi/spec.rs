//! What one WASI program run is: the component, its arguments, environment, stdin, the host
//! directory tree it starts from and the preopens into it, and whether it is a command
//! (`wasi:cli/run`) or a call of an exported function (WAVE syntax, as `wasmtime run --invoke`).
//!
//! Two sources: `samples/wasi/*/run.txt` (the samples' own run recipes, shared with their
//! expected-output test) and the probe guest's scenarios (`probe_programs`).

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

/// One step preparing the host root directory (paths are relative to the root).
#[derive(Clone, Debug)]
pub enum SetupStep {
    /// Copy a host directory tree here.
    Copy(PathBuf, String),
    /// Create a directory.
    Dir(String),
    /// Write a file (the name as raw bytes, so names need not be UTF-8).
    File(Vec<u8>, Vec<u8>),
    /// Create a symbolic link `name` → `target`; `$ROOT` in the target is the root's path.
    Symlink(String, String),
}

/// One run of a component under both runtimes.
#[derive(Clone, Debug)]
pub struct Program {
    /// Name in the report (`probe-fs`, `c-command`, `python#1`).
    pub name: String,
    /// The component file.
    pub wasm: PathBuf,
    /// Arguments, the program name first.
    pub args: Vec<String>,
    /// Environment variables in order.
    pub env: Vec<(String, String)>,
    /// Stdin contents.
    pub stdin: Vec<u8>,
    /// How the host root is prepared (each runtime gets its own fresh root).
    pub setup: Vec<SetupStep>,
    /// Preopens: (directory relative to the root, guest path, read-only).
    pub preopens: Vec<(String, String, bool)>,
    /// `Some(call)`: instantiate and call this export instead of `wasi:cli/run`.
    pub invoke: Option<String>,
    /// Whether the guest may use the network (wasmtime: `inherit_network` and name lookup).
    pub network: bool,
    /// Whether stdout is closed before the program starts (wasmtime: `ClosedOutputStream`;
    /// kiln: a pipe whose read end is closed).
    pub stdout_closed: bool,
    /// Whether stderr is compared (it is unless a program prints nondeterministic text there).
    pub compare_stderr: bool,
}

impl Program {
    /// A command run of `wasm` with no arguments, environment or directories.
    pub fn command(name: &str, wasm: &Path) -> Program {
        let argv0 = wasm
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string());
        Program {
            name: name.to_string(),
            wasm: wasm.to_path_buf(),
            args: vec![argv0],
            env: Vec::new(),
            stdin: Vec::new(),
            setup: Vec::new(),
            preopens: Vec::new(),
            invoke: None,
            network: false,
            stdout_closed: false,
            compare_stderr: true,
        }
    }

    /// A short description (saved with a failure so it can be reproduced by hand).
    pub fn describe(&self) -> String {
        let mut s = format!(
            "component: {}\nargs: {:?}\n",
            self.wasm.display(),
            self.args
        );
        for (k, v) in &self.env {
            s += &format!("env: {k:?}={v:?}\n");
        }
        for (host, guest, ro) in &self.preopens {
            s += &format!(
                "preopen: ROOT/{host} as {guest}{}\n",
                if *ro { " (read-only)" } else { "" }
            );
        }
        for step in &self.setup {
            s += &format!("setup: {step:?}\n");
        }
        if !self.stdin.is_empty() {
            s += &format!("stdin: {} bytes\n", self.stdin.len());
        }
        if self.network {
            s += "network: granted\n";
        }
        if self.stdout_closed {
            s += "stdout: closed\n";
        }
        if let Some(call) = &self.invoke {
            s += &format!("invoke: {call}\n");
        }
        s
    }
}

/// Creates the host root `root` for `p` (it must not exist yet).
pub fn prepare(p: &Program, root: &Path) -> Result<()> {
    std::fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
    for step in &p.setup {
        match step {
            SetupStep::Copy(from, to) => copy_tree(from, &root.join(to))?,
            SetupStep::Dir(d) => std::fs::create_dir_all(root.join(d))?,
            SetupStep::File(name, bytes) => {
                use std::os::unix::ffi::OsStrExt;
                let path = root.join(std::ffi::OsStr::from_bytes(name));
                std::fs::write(&path, bytes).with_context(|| format!("write {}", path.display()))?
            }
            SetupStep::Symlink(name, target) => {
                let target = target.replace("$ROOT", &root.to_string_lossy());
                std::os::unix::fs::symlink(&target, root.join(name))
                    .with_context(|| format!("symlink {name} -> {target}"))?
            }
        }
    }
    for (dir, _, _) in &p.preopens {
        std::fs::create_dir_all(root.join(dir))?;
    }
    Ok(())
}

/// Copies directory `from` to `to` (files, directories and symbolic links).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    let entries = std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))?;
    for e in entries {
        let e = e?;
        let t = e.file_type()?;
        let dest = to.join(e.file_name());
        if t.is_dir() {
            copy_tree(&e.path(), &dest)?;
        } else if t.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &dest)?;
        } else {
            std::fs::copy(e.path(), &dest)
                .with_context(|| format!("copy {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// The programs of sample `dir` (`samples/wasi/NAME`, component `wasm`) from its `run.txt`:
/// one command run, or one call per `invoke` line.
///
/// Directives: `copy DIR` (the sample's DIR copied to ROOT/data), `outside TEXT`
/// (ROOT/outside.txt, outside every preopen), `symlink NAME TARGET` (ROOT/data/NAME),
/// `stdin FILE`, `env NAME=VALUE`, `arg [TEXT]` (an empty argument without text),
/// `invoke CALL`. ROOT/data is always preopened as `/data`.
pub fn sample_programs(name: &str, dir: &Path, wasm: &Path) -> Result<Vec<Program>> {
    let run = dir.join("run.txt");
    let text = std::fs::read_to_string(&run).with_context(|| format!("read {}", run.display()))?;
    let mut p = Program::command(name, wasm);
    p.setup.push(SetupStep::Dir("data".into()));
    p.preopens.push(("data".into(), "/data".into(), false));
    let mut invokes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "copy" => p.setup.push(SetupStep::Copy(dir.join(rest), "data".into())),
            "outside" => p.setup.push(SetupStep::File(
                b"outside.txt".to_vec(),
                format!("{rest}\n").into_bytes(),
            )),
            "symlink" => {
                let (link, target) = rest
                    .split_once(' ')
                    .ok_or_else(|| anyhow!("{}:{}: symlink NAME TARGET", run.display(), n + 1))?;
                p.setup
                    .push(SetupStep::Symlink(format!("data/{link}"), target.into()));
            }
            "stdin" => {
                p.stdin = std::fs::read(dir.join(rest))
                    .with_context(|| format!("{}:{}: stdin {rest}", run.display(), n + 1))?
            }
            "env" => {
                let (k, v) = rest.split_once('=').unwrap_or((rest, ""));
                p.env.push((k.into(), v.into()));
            }
            "arg" => p.args.push(rest.into()),
            "invoke" => invokes.push(rest.to_string()),
            other => bail!("{}:{}: unknown directive {other:?}", run.display(), n + 1),
        }
    }
    if invokes.is_empty() {
        return Ok(vec![p]);
    }
    let recipe_calls = invokes.len();
    if invokes.iter().any(|c| c.starts_with("process(")) {
        invokes.extend(extra_process_calls());
    }
    Ok(invokes
        .into_iter()
        .enumerate()
        .map(|(i, call)| {
            let mut q = p.clone();
            q.name = if i < recipe_calls {
                format!("{name}#{}", i + 1)
            } else {
                format!("{name}-extra#{}", i + 1 - recipe_calls)
            };
            q.invoke = Some(call);
            q
        })
        .collect())
}

/// `s` as a WAVE string literal.
fn wave_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// More calls of a `process(string) -> string` export (the Python sample's JSON analyser)
/// than its recipe makes: unicode text, a large document, nesting, numbers at the edges.
fn extra_process_calls() -> Vec<String> {
    let mut big = String::from("{\"note\": \"big\", \"orders\": [");
    for i in 0..3000 {
        if i > 0 {
            big.push(',');
        }
        big.push_str(&format!(
            "[\"c{}\", \"item{}\", {}, {}, \"t{}\"]",
            i % 37,
            i % 11,
            i % 7 + 1,
            (i * 7919) % 5000,
            i % 5
        ));
    }
    big.push_str("]}");
    [
        r#"{"note": "  ünïcödé 🦀 naïve café  ", "orders": [["zoë", "crème brûlée", 2, 799, "sweet"], ["Łukasz", "pierogi", 3, 450]]}"#.to_string(),
        big,
        r#"{"orders": []}"#.to_string(),
        r#"{"orders": [["a", "b", 9007199254740993, -1]], "note": "\u0000 nul and \n newline"}"#.to_string(),
        r#"[1, 2, 3]"#.to_string(),
        r#"{"orders": [["a", "b", "3", "4", {"nested": [1, [2, [3]]]}]]}"#.to_string(),
    ]
    .iter()
    .map(|doc| format!("process({})", wave_string(doc)))
    .collect()
}

/// The calls of the component-model async guest (`tests/async-guests/rust`): an async export
/// returning at once, and streams of 0 bytes to 1 MiB written by a spawned task.
pub fn async_guest_programs(wasm: &Path) -> Vec<Program> {
    [
        "double(21)",
        "sum-stream(0)",
        "sum-stream(4097)",
        "sum-stream(1048576)",
    ]
    .iter()
    .enumerate()
    .map(|(i, call)| {
        let mut p = Program::command(&format!("async-guest#{}", i + 1), wasm);
        p.invoke = Some(call.to_string());
        p
    })
    .collect()
}

/// A WAVE list of strings (the words have no characters WAVE must escape).
fn wave_strings(words: &[String]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The word lists the composition guests shout: empty, one word, Unicode whose upper case is
/// longer than the word, and 2000 words of growing length (about 200 KiB).
fn compose_word_lists() -> Vec<Vec<String>> {
    let unicode = ["straße", "ǆemal", "ﬁx", "ß", "", "ok", "日本語", "ŉ"];
    let many = (0..2000usize)
        .map(|i| {
            let c = char::from(b'a' + (i % 26) as u8);
            std::iter::repeat_n(c, i % 200).collect::<String>() + &i.to_string()
        })
        .collect();
    vec![
        Vec::new(),
        vec!["hello".to_string()],
        unicode.iter().map(|s| s.to_string()).collect(),
        many,
    ]
}

/// The runs of the composed guests (`tests/async-guests/compose`): `app`'s async exports
/// (`kiln:compose/tasks`, tasks calling the synchronous library) and `front`'s synchronously
/// lifted exports calling them (see `sync-front`'s `src/lib.rs`: the `sync-*` ones trap).
pub fn compose_programs(app: &Path, front: &Path) -> (Vec<Program>, Vec<Program>) {
    let mut app_calls: Vec<String> = compose_word_lists()
        .iter()
        .map(|w| format!("kiln:compose/tasks#shout-all({})", wave_strings(w)))
        .collect();
    // Through a `stream<string>` within the app: a trap once a word is written.
    for w in &compose_word_lists()[..3] {
        app_calls.push(format!(
            "kiln:compose/tasks#shout-all-strings({})",
            wave_strings(w)
        ));
    }
    for n in [0, 1, 4, 4097, 1_000_000] {
        app_calls.push(format!("kiln:compose/tasks#total({n})"));
    }
    for n in [0, 1, 7, 500] {
        app_calls.push(format!("kiln:compose/tasks#count({n})"));
    }
    for n in [0, 3, 5000] {
        app_calls.push(format!("kiln:compose/tasks#squares({n})"));
    }
    // `blocking-*`: `async func` types lifted synchronously (they may block); `sync-*`: plain
    // `func` types, which trap when they would block (see `sync-front`'s `src/lib.rs`).
    let mut front_calls = Vec::new();
    for prefix in ["blocking", "sync"] {
        for w in compose_word_lists() {
            front_calls.push(format!("{prefix}-shout-all({})", wave_strings(&w)));
        }
        for n in [0, 1, 300] {
            front_calls.push(format!("{prefix}-count({n})"));
        }
        for n in [0, 10, 5000] {
            front_calls.push(format!("{prefix}-total({n})"));
        }
    }
    let programs = |group: &str, wasm: &Path, calls: Vec<String>| {
        calls
            .into_iter()
            .enumerate()
            .map(|(i, call)| {
                let mut p = Program::command(&format!("{group}#{}", i + 1), wasm);
                p.invoke = Some(call);
                p
            })
            .collect()
    };
    (
        programs("compose", app, app_calls),
        programs("compose-front", front, front_calls),
    )
}

/// The runs of the WASI 0.3 command guest (`tests/async-guests/cli3`, `wasi:cli/run@0.3.0`):
/// its first argument picks a behaviour (see its `src/lib.rs`); stdout, stderr and the exit
/// status are compared like any command's.
pub fn cli3_programs(wasm: &Path) -> Vec<Program> {
    let run = |name: &str, args: &[&str]| {
        let mut p = Program::command(&format!("cli3-{name}"), wasm);
        p.args.extend(args.iter().map(|a| a.to_string()));
        p
    };
    let mut env = run("env", &["env"]);
    env.env = [
        ("ZED", "last"),
        ("ALPHA", "first"),
        ("UNI", "ünï 🦀"),
        ("EMPTY", ""),
        ("EQ", "a=b=c"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut cat = run("cat", &["cat"]);
    cat.stdin = b"first line of stdin\n".to_vec();
    cat.stdin
        .extend((0..300_000u32).map(|i| (i.wrapping_mul(31) >> 3) as u8));
    let mut v = vec![
        run("args", &["args", "héllo", "日本語", "", "a b", "--flag"]),
        run("env-none", &["env"]),
        env,
        cat,
        run("cat-empty", &["cat"]),
    ];
    for n in ["0", "1", "4097", "1048576"] {
        v.push(run(&format!("big-{n}"), &["big", n]));
    }
    v.push(run("sleep", &["sleep", "30"]));
    v.push(run("clocks", &["clocks"]));
    for n in ["0", "64", "100000"] {
        v.push(run(&format!("random-{n}"), &["random", n]));
    }
    for code in ["0", "3", "255"] {
        v.push(run(&format!("exit-{code}"), &["exit", code]));
    }
    v.push(run("fail", &["fail"]));
    v.push(run("stderr", &["stderr"]));
    v.push(run("concurrent", &["concurrent"]));
    v.push(run("usage", &[]));
    v
}

/// The probe guest's scenarios (`guests/probe`): file-system edge cases in a tree with
/// symbolic links pointing out of the preopen and a name that is not UTF-8, unicode
/// arguments and environment, exit statuses, a trap, 1 MiB of stdout, stdin, clocks, loopback
/// sockets with and without network access.
pub fn probe_programs(wasm: &Path) -> Vec<Program> {
    let tree = vec![
        SetupStep::Dir("data/sub".into()),
        SetupStep::Dir("data/badnames".into()),
        SetupStep::Dir("ro".into()),
        SetupStep::Dir("outside-dir".into()),
        SetupStep::File(b"data/input.txt".to_vec(), b"line one\nline two\n".to_vec()),
        SetupStep::File(b"data/empty".to_vec(), Vec::new()),
        SetupStep::File(b"data/sub/nested.txt".to_vec(), b"nested\n".to_vec()),
        SetupStep::File(b"data/badnames/ok.txt".to_vec(), b"ok\n".to_vec()),
        SetupStep::File(b"data/badnames/bad\xff\xfe.txt".to_vec(), b"bad\n".to_vec()),
        SetupStep::File(b"ro/input.txt".to_vec(), b"read only\n".to_vec()),
        SetupStep::File(b"outside.txt".to_vec(), b"outside the preopens\n".to_vec()),
        SetupStep::File(
            b"outside-dir/secret.txt".to_vec(),
            b"secret outside the preopens\n".to_vec(),
        ),
        SetupStep::Symlink("data/inner".into(), "input.txt".into()),
        SetupStep::Symlink("data/escape".into(), "$ROOT/outside-dir".into()),
        SetupStep::Symlink("data/up".into(), "..".into()),
    ];
    let probe = |scenario: &str, args: &[&str]| {
        let mut p = Program::command(&format!("probe-{scenario}"), wasm);
        p.args.extend(args.iter().map(|a| a.to_string()));
        p.setup = tree.clone();
        p.preopens = vec![
            ("data".into(), "/data".into(), false),
            ("ro".into(), "/ro".into(), true),
        ];
        p
    };
    let mut v = vec![probe("fs", &["fs"])];
    let mut env = probe(
        "env",
        &["env", "héllo", "日本語", "🦀", "", "a b", "x=y", "--flag"],
    );
    env.env = [
        ("UNI", "ünï"),
        ("EMPTY", ""),
        ("EQ", "a=b=c"),
        ("EMOJI_🦀", "crab 🦀"),
        ("PATH_LIKE", "/a:/b"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    v.push(env);
    // Many and long arguments and variables (the host lowers them as lists of strings).
    let mut large = probe("env", &["env"]);
    large.name = "probe-env-large".into();
    large
        .args
        .extend((0..1000).map(|i| format!("arg{i}-{}", "é".repeat(i % 50))));
    large.env = (0..2000)
        .map(|i| (format!("VAR_{i}"), "v".repeat(i % 300)))
        .collect();
    large.env.push(("LONG".into(), "L".repeat(200_000)));
    v.push(large);
    for code in ["0", "1", "42"] {
        let mut p = probe("exit", &["exit", code]);
        p.name = format!("probe-exit-{code}");
        v.push(p);
    }
    v.push(probe("err", &["err"]));
    v.push(probe("panic", &["panic"]));
    v.push(probe("big", &["big"]));
    let mut stdin = probe("stdin", &["stdin"]);
    stdin.stdin = b"first line of stdin\n".to_vec();
    stdin
        .stdin
        .extend((0..300_000u32).map(|i| (i.wrapping_mul(31) >> 3) as u8));
    v.push(stdin);
    v.push(probe("clock", &["clock"]));
    let mut net = probe("net", &["net"]);
    net.network = true;
    v.push(net);
    let mut denied = probe("net", &["net"]);
    denied.name = "probe-net-denied".into();
    v.push(denied);
    let mut closed = probe("closed-stdout", &["closed-stdout"]);
    closed.stdout_closed = true;
    v.push(closed);
    v.push(probe("unknown", &["no-such-scenario"]));
    v
}

/// The C probe's scenarios (`guests/cprobe.c`): positioned I/O, truncation, timestamps,
/// links, directory cookies, the emulated working directory, clocks, poll, stdio buffering.
pub fn cprobe_programs(wasm: &Path) -> Vec<Program> {
    let mut tree = vec![
        SetupStep::Dir("data/sub".into()),
        SetupStep::Dir("data/many".into()),
        SetupStep::File(
            b"data/input.txt".to_vec(),
            b"0123456789abcdefghij\n".to_vec(),
        ),
        SetupStep::File(b"data/sub/nested.txt".to_vec(), b"nested file\n".to_vec()),
        SetupStep::File(b"outside.txt".to_vec(), b"outside\n".to_vec()),
        SetupStep::Symlink("data/up".into(), "..".into()),
    ];
    for i in 0..200 {
        tree.push(SetupStep::File(
            format!("data/many/entry-{i:03}").into_bytes(),
            vec![b'x'; i],
        ));
    }
    let run = |name: &str, args: &[&str]| {
        let mut p = Program::command(&format!("cprobe-{name}"), wasm);
        p.args.extend(args.iter().map(|a| a.to_string()));
        p.setup = tree.clone();
        p.preopens = vec![("data".into(), "/data".into(), false)];
        p
    };
    let mut timing = run("timing", &["timing"]);
    timing.stdin = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut closed = run("closed-stdout", &["closed-stdout"]);
    closed.stdout_closed = true;
    vec![
        run("files", &["files"]),
        run("cwd", &["cwd"]),
        timing,
        run("output", &["output"]),
        run("exit-0", &["exit", "0"]),
        run("exit-3", &["exit", "3"]),
        run("unknown", &["bogus"]),
        closed,
    ]
}

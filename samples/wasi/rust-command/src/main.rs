//! rust-command: a WASI 0.2 command in Rust (std only, `wasm32-wasip2`): arguments,
//! environment, stdin, files in the preopened directory `/data` (read a CSV, write a report,
//! create a directory, rename and remove files, list a directory), clocks, the sandbox (paths
//! outside the preopen fail) and the exit status.
//!
//! Usage: `rust-command [--exit N] ARG...` with `/data/numbers.csv` (lines `name,value`).
//! Writes `/data/stats.txt` and `/data/out/sorted.csv`. Everything printed is deterministic.

use std::fs;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The name of a wasi-libc errno value (the numbering of WASI preview1), or the error kind.
fn errno_name(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(2) => "EACCES",
        Some(8) => "EBADF",
        Some(20) => "EEXIST",
        Some(28) => "EINVAL",
        Some(31) => "EISDIR",
        Some(32) => "ELOOP",
        Some(44) => "ENOENT",
        Some(54) => "ENOTDIR",
        Some(55) => "ENOTEMPTY",
        Some(63) => "EPERM",
        Some(76) => "ENOTCAPABLE",
        Some(n) => return format!("errno {n}"),
        None => return format!("{:?}", e.kind()),
    };
    name.to_string()
}

/// Reads the CSV, prints and writes statistics and the sorted rows.
fn numbers() -> io::Result<()> {
    let text = fs::read_to_string("/data/numbers.csv")?;
    let mut rows: Vec<(String, i64)> = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let Some((name, value)) = line.split_once(',') else {
            println!("numbers.csv line {}: no comma", i + 1);
            continue;
        };
        match value.trim().parse::<i64>() {
            Ok(v) => rows.push((name.to_string(), v)),
            Err(e) => println!("numbers.csv line {}: {e}", i + 1),
        }
    }
    let n = rows.len() as i64;
    let sum: i64 = rows.iter().map(|r| r.1).sum();
    let min = rows.iter().min_by_key(|r| r.1).map(|r| r.0.as_str()).unwrap_or("-");
    let max = rows.iter().max_by_key(|r| r.1).map(|r| r.0.as_str()).unwrap_or("-");
    let mut values: Vec<i64> = rows.iter().map(|r| r.1).collect();
    values.sort_unstable();
    // The median of an even count is the mean of the middle two, in halves.
    let median2 = match values.len() {
        0 => 0,
        l if l % 2 == 1 => 2 * values[l / 2],
        l => values[l / 2 - 1] + values[l / 2],
    };
    let stats = format!(
        "count {n}\nsum {sum}\nmean {:.3}\nmedian {}{}\nmin {min}\nmax {max}\n",
        if n > 0 { sum as f64 / n as f64 } else { 0.0 },
        median2 / 2,
        if median2 % 2 != 0 { ".5" } else { "" },
    );
    print!("{stats}");
    fs::write("/data/stats.txt", &stats)?;

    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    fs::create_dir("/data/out")?;
    let mut sorted = String::from("name,value\n");
    for (name, v) in &rows {
        sorted.push_str(&format!("{name},{v}\n"));
    }
    // Write to a temporary name, then rename it into place.
    fs::write("/data/out/sorted.tmp", &sorted)?;
    fs::rename("/data/out/sorted.tmp", "/data/out/sorted.csv")?;
    fs::write("/data/out/scratch", b"to be removed")?;
    fs::remove_file("/data/out/scratch")?;
    let len = fs::metadata("/data/out/sorted.csv")?.len();
    println!("wrote /data/out/sorted.csv ({len} bytes)");
    Ok(())
}

/// Lists `dir` sorted, directories with a trailing `/`.
fn listing(dir: &str) -> io::Result<String> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let mut name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    Ok(names.join(" "))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("args: {}", args.len());
    for (i, a) in args.iter().enumerate() {
        println!("  arg {}: {a:?}", i + 1);
    }
    let status = args
        .iter()
        .position(|a| a == "--exit")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<i32>().ok())
        .unwrap_or(0);
    for var in ["KILN_GREETING", "KILN_UNSET"] {
        match std::env::var(var) {
            Ok(v) => println!("env {var} = {v:?}"),
            Err(e) => println!("env {var}: {e}"),
        }
    }

    let mut input = String::new();
    match io::stdin().read_to_string(&mut input) {
        Ok(n) => println!(
            "stdin: {n} bytes, {} lines, last line {:?}",
            input.lines().count(),
            input.lines().last().unwrap_or("")
        ),
        Err(e) => println!("stdin: {}", errno_name(&e)),
    }

    if let Err(e) = numbers() {
        println!("numbers: {}", errno_name(&e));
    }
    match listing("/data") {
        Ok(l) => println!("listing /data: {l}"),
        Err(e) => println!("listing /data: {}", errno_name(&e)),
    }
    match listing("/data/out") {
        Ok(l) => println!("listing /data/out: {l}"),
        Err(e) => println!("listing /data/out: {}", errno_name(&e)),
    }
    match fs::create_dir("/data/out") {
        Ok(()) => println!("create_dir again: ok?"),
        Err(e) => println!("create_dir again: {}", errno_name(&e)),
    }

    for path in ["/etc/passwd", "/data/../outside.txt", "../outside.txt"] {
        match fs::read_to_string(path) {
            Ok(t) => println!("sandbox: read {path}: SUCCEEDED ({} bytes) -- the sandbox leaks", t.len()),
            Err(e) => println!("sandbox: read {path}: {}", errno_name(&e)),
        }
    }
    match fs::write("/outside-new.txt", b"x") {
        Ok(()) => println!("sandbox: create /outside-new.txt: SUCCEEDED -- the sandbox leaks"),
        Err(e) => println!("sandbox: create /outside-new.txt: {}", errno_name(&e)),
    }

    let start = Instant::now();
    let mut x = 1u64;
    while start.elapsed() < Duration::from_millis(2) {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
    }
    let after_2020 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() > 1_577_836_800)
        .unwrap_or(false);
    println!(
        "clocks: waited at least 2 ms: {}, wall clock after 2020: {after_2020}",
        start.elapsed() >= Duration::from_millis(2) && x != 0
    );

    io::stdout().flush().ok();
    eprintln!("rust-command: done, exit status {status}");
    if status != 0 {
        std::process::exit(status);
    }
}

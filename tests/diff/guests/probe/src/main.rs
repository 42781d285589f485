//! `kiln-diff-probe`: a WASI 0.2 command that kiln-diff's WASI mode runs under kiln and under
//! wasmtime with the same arguments, environment, stdin and preopened directories
//! (`/data` read-write, `/ro` read-only, both copies of one input tree); the harness compares
//! stdout, stderr, the files left in the directories and the exit status.
//!
//! The first argument picks a scenario (`fs`, `env`, `exit N`, `err`, `panic`, `big`, `stdin`,
//! `clock`, `net`, `closed-stdout`). Everything printed is deterministic: errors are printed as their `io::ErrorKind`
//! and the errno wasi-libc mapped the WASI error code to, times and random bytes only as
//! properties (ordered, non-zero), never their values.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An error as `Kind(errno)`: what both runtimes must agree on.
fn err(e: &io::Error) -> String {
    format!("Err({:?}, errno {:?})", e.kind(), e.raw_os_error())
}

/// A result printed as `Ok(value)` or the error.
fn show<T: std::fmt::Debug>(r: io::Result<T>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => err(&e),
    }
}

/// FNV-1a, for large contents.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Prints one step of a scenario.
macro_rules! step {
    ($name:expr, $v:expr) => {
        println!("{}: {}", $name, $v)
    };
}

/// The contents of `path` as text (lossy), or the error.
fn read_text(path: &str) -> String {
    show(fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// The sorted entries of directory `path` as `name(kind)`.
fn listing(path: &str) -> String {
    let entries = fs::read_dir(path).and_then(|d| {
        let mut v = Vec::new();
        for e in d {
            let e = e?;
            let t = e.file_type()?;
            let kind = if t.is_dir() {
                "d"
            } else if t.is_symlink() {
                "l"
            } else if t.is_file() {
                "f"
            } else {
                "?"
            };
            v.push(format!("{}({kind})", e.file_name().to_string_lossy()));
        }
        v.sort();
        Ok(v)
    });
    show(entries)
}

/// Metadata that does not depend on time: kind and length.
fn meta(path: &str, follow: bool) -> String {
    let m = if follow {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    };
    show(m.map(|m| {
        let t = m.file_type();
        format!(
            "file={} dir={} symlink={} len={}",
            t.is_file(),
            t.is_dir(),
            t.is_symlink(),
            if t.is_file() { m.len() } else { 0 }
        )
    }))
}

fn scenario_fs() {
    step!("read input", read_text("/data/input.txt"));
    step!("read empty", read_text("/data/empty"));
    step!("read nested", read_text("/data/sub/nested.txt"));
    let past_end = File::open("/data/input.txt").and_then(|mut f| {
        let pos = f.seek(SeekFrom::End(10))?;
        let mut buf = [0u8; 16];
        let n = f.read(&mut buf)?;
        Ok((pos, n))
    });
    step!("seek past end then read", show(past_end));
    let short = File::open("/data/input.txt").and_then(|mut f| {
        let mut buf = [0u8; 4096];
        f.read_exact(&mut buf)
    });
    step!("read_exact beyond length", show(short));
    step!("meta input", meta("/data/input.txt", true));
    step!("meta sub", meta("/data/sub", true));
    step!("meta missing", meta("/data/missing", true));
    step!(
        "open missing",
        show(File::open("/data/missing").map(|_| ()))
    );
    step!(
        "open missing dir/file",
        show(File::open("/data/nodir/file").map(|_| ()))
    );
    step!(
        "create in missing dir",
        show(File::create("/data/nodir/file").map(|_| ()))
    );
    step!(
        "file as directory",
        show(File::open("/data/input.txt/").map(|_| ()))
    );
    step!("empty path", show(File::open("").map(|_| ())));
    step!(
        "name too long",
        show(File::create(format!("/data/{}", "n".repeat(300))).map(|_| ()))
    );

    step!("mkdir out", show(fs::create_dir("/data/out")));
    step!("mkdir out again", show(fs::create_dir("/data/out")));
    step!("mkdir -p", show(fs::create_dir_all("/data/out/deep/er")));

    // Truncation: create over an existing file.
    let trunc = fs::write("/data/out/a.txt", "hello world")
        .and_then(|_| File::create("/data/out/a.txt"))
        .and_then(|mut f| f.write_all(b"hi"))
        .and_then(|_| fs::read("/data/out/a.txt"));
    step!("create truncates", show(trunc));
    let set_len = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/data/out/a.txt")
        .and_then(|f| {
            f.set_len(1)?;
            let a = f.metadata()?.len();
            f.set_len(5)?;
            Ok((a, f.metadata()?.len()))
        });
    step!("set_len shrink, grow", show(set_len));
    step!("after set_len", show(fs::read("/data/out/a.txt")));

    // Appending: writes go to the end whatever the position.
    let append = OpenOptions::new()
        .append(true)
        .open("/data/out/a.txt")
        .and_then(|mut f| {
            f.write_all(b"x")?;
            f.seek(SeekFrom::Start(0))?;
            f.write_all(b"yz")
        })
        .and_then(|_| fs::read("/data/out/a.txt"));
    step!("append", show(append));
    step!(
        "create_new existing",
        show(
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open("/data/out/a.txt")
                .map(|_| ())
        )
    );
    // Writing past the end leaves a zero-filled gap.
    let gap = File::create("/data/out/gap.bin")
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(10))?;
            f.write_all(b"!")
        })
        .and_then(|_| fs::read("/data/out/gap.bin"));
    step!("write past end", show(gap));
    let read_only_handle = File::open("/data/input.txt").and_then(|mut f| f.write_all(b"no"));
    step!("write to a read-only handle", show(read_only_handle));
    let write_only_handle = OpenOptions::new()
        .write(true)
        .open("/data/out/a.txt")
        .and_then(|mut f| {
            let mut b = [0u8; 4];
            f.read(&mut b)
        });
    step!("read from a write-only handle", show(write_only_handle));

    // A large file, written in one call and read back.
    let big: Vec<u8> = (0..(1u32 << 20)).map(|i| (i * 7 + i / 251) as u8).collect();
    let r = fs::write("/data/out/big.bin", &big).and_then(|_| fs::read("/data/out/big.bin"));
    step!(
        "1 MiB file",
        show(r.map(|b| (b.len(), fnv(&b) == fnv(&big))))
    );

    // Timestamps the guest sets are read back exactly.
    let t = UNIX_EPOCH + Duration::new(1_000_000_000, 123_456_789);
    let times = File::options()
        .write(true)
        .open("/data/out/gap.bin")
        .and_then(|f| {
            f.set_modified(t)?;
            f.metadata()?.modified()
        })
        .map(|m| m.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).ok());
    step!("set_modified", show(times));

    // Links.
    #[allow(deprecated)]
    let link = fs::soft_link("../input.txt", "/data/out/link");
    step!("symlink relative", show(link));
    step!("read through symlink", read_text("/data/out/link"));
    step!("readlink", show(fs::read_link("/data/out/link")));
    step!("meta symlink (no follow)", meta("/data/out/link", false));
    #[allow(deprecated)]
    let abs = fs::soft_link("/etc/passwd", "/data/out/abs");
    step!("symlink absolute target", show(abs));
    #[allow(deprecated)]
    let climb = fs::soft_link("../../outside.txt", "/data/out/climb");
    step!("symlink climbing out of the preopen", show(climb));
    // (Following such links is covered by `/data/up`; the link is removed so that a runtime
    // refusing to create it differs in this one line only.)
    let _ = fs::remove_file("/data/out/climb");
    step!(
        "hard link",
        show(fs::hard_link("/data/out/a.txt", "/data/out/hard.txt"))
    );
    step!("read hard link", read_text("/data/out/hard.txt"));

    // Renames and removals.
    step!(
        "rename",
        show(fs::rename("/data/out/hard.txt", "/data/out/b.txt"))
    );
    step!(
        "rename missing",
        show(fs::rename("/data/out/none", "/data/out/c.txt"))
    );
    step!(
        "rename onto a directory",
        show(fs::rename("/data/out/b.txt", "/data/out/deep"))
    );
    step!("rmdir non-empty", show(fs::remove_dir("/data/out/deep")));
    step!(
        "unlink a directory",
        show(fs::remove_file("/data/out/deep"))
    );
    step!("rmdir a file", show(fs::remove_dir("/data/out/b.txt")));
    step!("rmdir empty", show(fs::remove_dir("/data/out/deep/er")));
    step!("unlink missing", show(fs::remove_file("/data/out/none")));
    step!("unicode name", show(fs::write("/data/out/ünï😀.txt", "ü")));
    step!("read_dir of a file", listing("/data/input.txt"));
    let dir_read = File::open("/data/sub").and_then(|mut f| {
        let mut b = Vec::new();
        f.read_to_end(&mut b)
    });
    step!("read a directory as a file", show(dir_read));

    // Escapes: none may reach the host file.
    for p in [
        "/data/../etc/passwd",
        "/data/sub/../../etc/hostname",
        "/data/sub/../input.txt",
        "/data/escape/passwd",
        "/data/up/etc/passwd",
        "/data/inner",
        "/etc/passwd",
        "/ro/../data/input.txt",
    ] {
        step!(format!("open {p}"), read_text(p));
    }
    step!(
        "create through a .. escape",
        show(File::create("/data/../escaped.txt").map(|_| ()))
    );
    step!(
        "mkdir through a symlink escape",
        show(fs::create_dir("/data/escape/kiln-diff-escaped"))
    );

    // The read-only preopen.
    step!("ro read", read_text("/ro/input.txt"));
    step!("ro listing", listing("/ro"));
    step!(
        "ro write existing",
        show(
            OpenOptions::new()
                .write(true)
                .open("/ro/input.txt")
                .map(|_| ())
        )
    );
    step!("ro create", show(fs::write("/ro/new.txt", "x")));
    step!("ro mkdir", show(fs::create_dir("/ro/newdir")));
    step!("ro unlink", show(fs::remove_file("/ro/input.txt")));

    // Many entries: directory reading continues across the host's batches.
    let many = fs::create_dir("/data/out/many").and_then(|_| {
        for i in 0..300 {
            fs::write(
                format!("/data/out/many/f{i:03}-{}", "x".repeat(i % 40)),
                [i as u8],
            )?;
        }
        Ok(())
    });
    step!("300 files", show(many));
    let names = fs::read_dir("/data/out/many").and_then(|d| {
        let mut v = d
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<io::Result<Vec<_>>>()?;
        v.sort();
        Ok((v.len(), v.first().cloned(), v.last().cloned()))
    });
    step!("listing many", show(names));
    step!("listing data", listing("/data"));
    step!("listing out", listing("/data/out"));
    step!("listing sub", listing("/data/sub"));
    step!("listing badnames", listing("/data/badnames"));
    for (name, follow) in [
        ("/data/inner", false),
        ("/data/escape", false),
        ("/data/escape", true),
    ] {
        step!(format!("meta {name} follow={follow}"), meta(name, follow));
    }
}

fn scenario_env() {
    for (i, a) in std::env::args_os().enumerate() {
        step!(format!("arg {i}"), format!("{a:?}"));
    }
    for (k, v) in std::env::vars_os() {
        step!("env", format!("{k:?}={v:?}"));
    }
    step!("var MISSING", format!("{:?}", std::env::var("MISSING")));
    step!("var UNI", format!("{:?}", std::env::var("UNI")));
    step!("cwd", show(std::env::current_dir()));
}

fn scenario_big() -> io::Result<()> {
    let mut out = io::stdout().lock();
    let block: Vec<u8> = (0..(1u32 << 20))
        .map(|i| b"abcdefghijklmnopqrstuvwxyz\n"[(i % 27) as usize])
        .collect();
    out.write_all(&block)?;
    for i in 0..2000 {
        writeln!(out, "line {i}")?;
    }
    out.flush()?;
    let mut err = io::stderr().lock();
    err.write_all(&block[..65536])?;
    err.flush()
}

fn scenario_stdin() {
    let mut buf = Vec::new();
    let r = io::stdin().read_to_end(&mut buf);
    step!("read stdin", show(r));
    step!("fnv", fnv(&buf));
    let first = buf.split(|b| *b == b'\n').next().unwrap_or_default();
    step!("first line", String::from_utf8_lossy(first));
    let mut more = [0u8; 8];
    step!("read after end", show(io::stdin().read(&mut more)));
}

fn scenario_clock() {
    let a = Instant::now();
    std::thread::sleep(Duration::from_millis(20));
    let b = Instant::now();
    step!(
        "slept at least 20 ms",
        b.duration_since(a) >= Duration::from_millis(20)
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    step!("wall clock after 2020", now.as_secs() > 1_577_836_800);
}

/// Sockets: a TCP connection and a UDP datagram over loopback (when the host grants network
/// access) or the errors every step gets (when it does not); name lookup of `localhost`.
fn scenario_net() {
    use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
    let tcp = TcpListener::bind("127.0.0.1:0").and_then(|l| {
        let addr = l.local_addr()?;
        let mut c = TcpStream::connect(addr)?;
        let (mut s, peer) = l.accept()?;
        c.write_all(b"ping over tcp")?;
        c.shutdown(std::net::Shutdown::Write)?;
        let mut got = Vec::new();
        s.read_to_end(&mut got)?;
        s.write_all(&got)?;
        drop(s);
        let mut back = Vec::new();
        c.read_to_end(&mut back)?;
        Ok((
            String::from_utf8_lossy(&back).into_owned(),
            peer.ip().is_loopback(),
            c.local_addr()? == peer,
        ))
    });
    step!("tcp loopback echo", show(tcp));
    let refused = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .and_then(|a| TcpStream::connect(a).map(|_| ()));
    step!("connect to a closed port", show(refused));
    let udp = UdpSocket::bind("127.0.0.1:0").and_then(|a| {
        let b = UdpSocket::bind("127.0.0.1:0")?;
        a.send_to(b"datagram", b.local_addr()?)?;
        let mut buf = [0u8; 64];
        let (n, from) = b.recv_from(&mut buf)?;
        Ok((
            String::from_utf8_lossy(&buf[..n]).into_owned(),
            from == a.local_addr()?,
        ))
    });
    step!("udp loopback", show(udp));
    let lookup = "localhost:80".to_socket_addrs().map(|addrs| {
        let mut v: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
        v.sort();
        v.dedup();
        v.contains(&"127.0.0.1".to_string())
    });
    step!("lookup localhost has 127.0.0.1", show(lookup));
    step!(
        "bind a privileged port",
        show(TcpListener::bind("127.0.0.1:1").map(|_| ()))
    );
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let scenario = args.get(1).map(String::as_str).unwrap_or("");
    match scenario {
        "fs" => scenario_fs(),
        "env" => scenario_env(),
        "exit" => {
            let code: i32 = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(0);
            println!("exiting with {code}");
            eprintln!("stderr before exit {code}");
            std::process::exit(code);
        }
        "err" => {
            println!("returning an error from main");
            return Err("main failed".into());
        }
        "panic" => {
            println!("about to panic");
            panic!("the probe panics on purpose");
        }
        "big" => scenario_big().map_err(|e| err(&e))?,
        "stdin" => scenario_stdin(),
        "clock" => scenario_clock(),
        "net" => scenario_net(),
        "closed-stdout" => {
            // The host closed stdout: each write reports an error, the program goes on.
            let a = writeln!(io::stdout(), "first line");
            let b = io::stdout().write_all(&[b'x'; 100_000]);
            let c = io::stdout().flush();
            eprintln!("write: {}", show(a));
            eprintln!("large write: {}", show(b));
            eprintln!("flush: {}", show(c));
            eprintln!("stderr still works");
        }
        other => {
            eprintln!("unknown scenario {other:?}");
            std::process::exit(2);
        }
    }
    Ok(())
}

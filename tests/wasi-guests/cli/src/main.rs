//! A WASI 0.2 command for kiln's WASI host tests (tests/tests/wasi_cli.rs). The first
//! argument picks a scenario; each prints what it saw on stdout (one `key=value` per line) so
//! the test can check it. Most scenarios use Rust std (which goes through wasi-libc to the
//! WASI 0.2 imports); `random`, `poll` and `streams` call the WASI imports directly through
//! hand-written canonical-ABI declarations, to check exact results.

use std::io::{Read, Write};

#[allow(non_snake_case)]
mod wasi {
    #[link(wasm_import_module = "wasi:random/random@0.2.0")]
    extern "C" {
        #[link_name = "get-random-bytes"]
        pub fn get_random_bytes(len: i64, ret: *mut u8);
        #[link_name = "get-random-u64"]
        pub fn get_random_u64() -> i64;
    }
    #[link(wasm_import_module = "wasi:random/insecure@0.2.0")]
    extern "C" {
        #[link_name = "get-insecure-random-bytes"]
        pub fn get_insecure_random_bytes(len: i64, ret: *mut u8);
        #[link_name = "get-insecure-random-u64"]
        pub fn get_insecure_random_u64() -> i64;
    }
    #[link(wasm_import_module = "wasi:random/insecure-seed@0.2.0")]
    extern "C" {
        #[link_name = "insecure-seed"]
        pub fn insecure_seed(ret: *mut u8);
    }
    #[link(wasm_import_module = "wasi:clocks/monotonic-clock@0.2.0")]
    extern "C" {
        #[link_name = "now"]
        pub fn mono_now() -> i64;
        #[link_name = "resolution"]
        pub fn mono_resolution() -> i64;
        #[link_name = "subscribe-duration"]
        pub fn subscribe_duration(ns: i64) -> i32;
        #[link_name = "subscribe-instant"]
        pub fn subscribe_instant(ns: i64) -> i32;
    }
    #[link(wasm_import_module = "wasi:clocks/wall-clock@0.2.0")]
    extern "C" {
        #[link_name = "now"]
        pub fn wall_now(ret: *mut u8);
    }
    #[link(wasm_import_module = "wasi:io/poll@0.2.0")]
    extern "C" {
        #[link_name = "poll"]
        pub fn poll(ptr: *const i32, len: usize, ret: *mut u8);
        #[link_name = "[method]pollable.ready"]
        pub fn pollable_ready(p: i32) -> i32;
        #[link_name = "[method]pollable.block"]
        pub fn pollable_block(p: i32);
        #[link_name = "[resource-drop]pollable"]
        pub fn pollable_drop(p: i32);
    }
    #[link(wasm_import_module = "wasi:cli/stdout@0.2.0")]
    extern "C" {
        #[link_name = "get-stdout"]
        pub fn get_stdout() -> i32;
    }
    #[link(wasm_import_module = "wasi:cli/stdin@0.2.0")]
    extern "C" {
        #[link_name = "get-stdin"]
        pub fn get_stdin() -> i32;
    }
    #[link(wasm_import_module = "wasi:io/streams@0.2.0")]
    extern "C" {
        #[link_name = "[method]output-stream.check-write"]
        pub fn check_write(s: i32, ret: *mut u8);
        #[link_name = "[method]output-stream.write"]
        pub fn write(s: i32, ptr: *const u8, len: usize, ret: *mut u8);
        #[link_name = "[method]output-stream.blocking-write-and-flush"]
        pub fn blocking_write_and_flush(s: i32, ptr: *const u8, len: usize, ret: *mut u8);
        #[link_name = "[method]output-stream.write-zeroes"]
        pub fn write_zeroes(s: i32, len: i64, ret: *mut u8);
        #[link_name = "[method]output-stream.blocking-write-zeroes-and-flush"]
        pub fn blocking_write_zeroes_and_flush(s: i32, len: i64, ret: *mut u8);
        #[link_name = "[method]output-stream.flush"]
        pub fn flush(s: i32, ret: *mut u8);
        #[link_name = "[method]output-stream.blocking-flush"]
        pub fn blocking_flush(s: i32, ret: *mut u8);
        #[link_name = "[method]output-stream.splice"]
        pub fn splice(s: i32, src: i32, len: i64, ret: *mut u8);
        #[link_name = "[method]output-stream.blocking-splice"]
        pub fn blocking_splice(s: i32, src: i32, len: i64, ret: *mut u8);
        #[link_name = "[method]output-stream.subscribe"]
        pub fn output_subscribe(s: i32) -> i32;
        #[link_name = "[method]input-stream.read"]
        pub fn read(s: i32, len: i64, ret: *mut u8);
        #[link_name = "[method]input-stream.blocking-read"]
        pub fn blocking_read(s: i32, len: i64, ret: *mut u8);
        #[link_name = "[method]input-stream.skip"]
        pub fn skip(s: i32, len: i64, ret: *mut u8);
        #[link_name = "[method]input-stream.subscribe"]
        pub fn input_subscribe(s: i32) -> i32;
        #[link_name = "[resource-drop]output-stream"]
        pub fn output_drop(s: i32);
        #[link_name = "[resource-drop]input-stream"]
        pub fn input_drop(s: i32);
    }
    #[link(wasm_import_module = "wasi:io/error@0.2.0")]
    extern "C" {
        #[link_name = "[method]error.to-debug-string"]
        pub fn error_to_debug_string(e: i32, ret: *mut u8);
    }
}

/// A return area for results passed through memory.
#[repr(C, align(8))]
struct Ret([u8; 32]);

impl Ret {
    fn new() -> Ret {
        Ret([0; 32])
    }
    fn p(&mut self) -> *mut u8 {
        self.0.as_mut_ptr()
    }
    fn u8(&self, off: usize) -> u8 {
        self.0[off]
    }
    fn u32(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.0[off..off + 4].try_into().unwrap())
    }
    fn u64(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.0[off..off + 8].try_into().unwrap())
    }
    /// A `list<u32>` at `off` (pointer, element count).
    fn u32_list(&self, off: usize) -> Vec<u32> {
        let ptr = self.u32(off) as usize as *mut u32;
        let len = self.u32(off + 4) as usize;
        if len == 0 {
            return Vec::new();
        }
        // SAFETY: the canonical ABI allocated `len` u32s (align 4) with the global
        // allocator's realloc and hands them over.
        unsafe { Vec::from_raw_parts(ptr, len, len) }
    }
    /// A `list<u8>` at `off` (pointer, length), allocated by the canonical ABI's realloc.
    fn list(&self, off: usize) -> Vec<u8> {
        let ptr = self.u32(off) as usize as *mut u8;
        let len = self.u32(off + 4) as usize;
        if len == 0 {
            return Vec::new();
        }
        // SAFETY: the canonical ABI allocated `len` bytes with the global allocator's
        // realloc (align 1) and hands them over.
        unsafe { Vec::from_raw_parts(ptr, len, len) }
    }
}

/// Describes a `stream-error` whose discriminant is at `off` (handle after it at `off + 4`).
fn stream_error(r: &Ret, off: usize) -> String {
    if r.u8(off) == 1 {
        return "closed".into();
    }
    let mut s = Ret::new();
    // SAFETY: the handle is an own `error` the call just returned.
    unsafe { wasi::error_to_debug_string(r.u32(off + 4) as i32, s.p()) };
    format!("failed({})", String::from_utf8_lossy(&s.list(0)))
}

/// `result<_, stream-error>` at the start of `r` (payload at 4).
fn unit_result(r: &Ret) -> String {
    if r.u8(0) == 0 {
        "ok".into()
    } else {
        stream_error(r, 4)
    }
}

/// `result<u64, stream-error>` (payload at 8).
fn u64_result(r: &Ret) -> String {
    if r.u8(0) == 0 {
        format!("ok({})", r.u64(8))
    } else {
        stream_error(r, 8)
    }
}

/// `result<list<u8>, stream-error>` (payload at 4).
fn bytes_result(r: &Ret) -> String {
    if r.u8(0) == 0 {
        format!("ok({})", String::from_utf8_lossy(&r.list(4)))
    } else {
        stream_error(r, 4)
    }
}

fn random() {
    let mut r = Ret::new();
    for len in [0usize, 1, 37, 4096] {
        // SAFETY: canonical-ABI call with a return area of 8 bytes.
        unsafe { wasi::get_random_bytes(len as i64, r.p()) };
        let b = r.list(0);
        let distinct = b.iter().collect::<std::collections::BTreeSet<_>>().len();
        println!("random_bytes_{len}={} distinct={distinct}", b.len());
        // SAFETY: as above.
        unsafe { wasi::get_insecure_random_bytes(len as i64, r.p()) };
        let b = r.list(0);
        let distinct = b.iter().collect::<std::collections::BTreeSet<_>>().len();
        println!("insecure_bytes_{len}={} distinct={distinct}", b.len());
    }
    // SAFETY: plain scalar imports.
    let (a, b) = unsafe { (wasi::get_random_u64(), wasi::get_random_u64()) };
    println!("random_u64_differ={}", a != b);
    // SAFETY: as above.
    let (a, b) = unsafe {
        (
            wasi::get_insecure_random_u64(),
            wasi::get_insecure_random_u64(),
        )
    };
    println!("insecure_u64_differ={}", a != b);
    // SAFETY: return area of 16 bytes.
    unsafe { wasi::insecure_seed(r.p()) };
    let s1 = (r.u64(0), r.u64(8));
    // SAFETY: as above.
    unsafe { wasi::insecure_seed(r.p()) };
    let s2 = (r.u64(0), r.u64(8));
    println!("seed_stable={} seed_nonzero={}", s1 == s2, s1 != (0, 0));
    // HashMap seeds come from WASI random too.
    let m: std::collections::HashMap<u32, u32> = (0..10).map(|i| (i, i * i)).collect();
    println!("hashmap_sum={}", m.values().sum::<u32>());
}

fn clocks() {
    // SAFETY: plain scalar imports.
    let (t0, res) = unsafe { (wasi::mono_now(), wasi::mono_resolution()) };
    println!("mono_resolution_ok={}", res > 0 && res <= 1_000_000);
    // A 20 ms sleep through subscribe-duration + poll.
    // SAFETY: the pollable handle is own and dropped below; poll gets a one-element list.
    let (t1, ready) = unsafe {
        let p = wasi::subscribe_duration(20_000_000);
        let before_ready = wasi::pollable_ready(p);
        let list = [p];
        let mut r = Ret::new();
        wasi::poll(list.as_ptr(), 1, r.p());
        let idx = r.u32_list(0);
        let after_ready = wasi::pollable_ready(p);
        wasi::pollable_drop(p);
        (wasi::mono_now(), (before_ready, idx, after_ready))
    };
    println!(
        "poll_ready_before={} poll_result={:?} poll_ready_after={}",
        ready.0, ready.1, ready.2
    );
    println!("slept_ns={}", t1 - t0);
    // subscribe-instant in the past is ready at once; block on one 5 ms ahead.
    // SAFETY: own pollable handles, dropped after use.
    let (past, t2, t3) = unsafe {
        let p = wasi::subscribe_instant(0);
        let past = wasi::pollable_ready(p);
        wasi::pollable_drop(p);
        let t2 = wasi::mono_now();
        let q = wasi::subscribe_instant(t2 + 5_000_000);
        wasi::pollable_block(q);
        wasi::pollable_drop(q);
        (past, t2, wasi::mono_now())
    };
    println!("instant_past_ready={past} blocked_ns={}", t3 - t2);
    // Two pollables: only the short one is ready.
    // SAFETY: own pollable handles, dropped after use.
    unsafe {
        let long = wasi::subscribe_duration(10_000_000_000);
        let short = wasi::subscribe_duration(1_000_000);
        let list = [long, short];
        let mut r = Ret::new();
        wasi::poll(list.as_ptr(), 2, r.p());
        println!("poll_two={:?}", r.u32_list(0));
        wasi::pollable_drop(long);
        wasi::pollable_drop(short);
    }
    // std::thread::sleep goes through wasi-libc's clock_nanosleep (subscribe-duration + poll).
    let i = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(20));
    println!("std_sleep_ns={}", i.elapsed().as_nanos());
    let mut r = Ret::new();
    // SAFETY: return area of 16 bytes (datetime).
    unsafe { wasi::wall_now(r.p()) };
    println!("wall_seconds={} wall_nanos={}", r.u64(0), r.u32(8));
    let std_wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    println!("std_wall_seconds={std_wall}");
}

fn streams() {
    let mut r = Ret::new();
    // SAFETY: canonical-ABI calls with matching signatures and return areas; handles are own
    // handles this function got and drops at the end.
    unsafe {
        let out = wasi::get_stdout();
        wasi::check_write(out, r.p());
        eprintln!("check_write={}", u64_result(&r));
        wasi::write(out, b"abc".as_ptr(), 3, r.p());
        eprintln!("write={}", unit_result(&r));
        wasi::write_zeroes(out, 2, r.p());
        eprintln!("write_zeroes={}", unit_result(&r));
        wasi::blocking_write_zeroes_and_flush(out, 1, r.p());
        eprintln!("blocking_write_zeroes={}", unit_result(&r));
        wasi::blocking_write_and_flush(out, b"xyz\n".as_ptr(), 4, r.p());
        eprintln!("blocking_write_and_flush={}", unit_result(&r));
        wasi::flush(out, r.p());
        eprintln!("flush={}", unit_result(&r));
        wasi::blocking_flush(out, r.p());
        eprintln!("blocking_flush={}", unit_result(&r));
        let p = wasi::output_subscribe(out);
        eprintln!("stdout_ready={}", wasi::pollable_ready(p));
        wasi::pollable_drop(p);

        let inp = wasi::get_stdin();
        let p = wasi::input_subscribe(inp);
        eprintln!("stdin_ready={}", wasi::pollable_ready(p));
        wasi::pollable_drop(p);
        wasi::skip(inp, 2, r.p());
        eprintln!("skip={}", u64_result(&r));
        wasi::read(inp, 3, r.p());
        eprintln!("read={}", bytes_result(&r));
        wasi::blocking_read(inp, 2, r.p());
        eprintln!("blocking_read={}", bytes_result(&r));
        wasi::splice(out, inp, 4, r.p());
        eprintln!("splice={}", u64_result(&r));
        wasi::blocking_splice(out, inp, 100, r.p());
        eprintln!("blocking_splice={}", u64_result(&r));
        wasi::read(inp, 10, r.p());
        eprintln!("read_at_end={}", bytes_result(&r));
        wasi::blocking_read(inp, 10, r.p());
        eprintln!("blocking_read_at_end={}", bytes_result(&r));
        wasi::input_drop(inp);
        wasi::output_drop(out);
    }
}

/// Reads a stdin pipe the host fills late: a non-blocking read finds nothing, the pollable is
/// not ready, blocking on it waits for the data, then the end of the stream.
fn stdin_pipe() {
    let mut r = Ret::new();
    // SAFETY: canonical-ABI calls with matching signatures; own handles dropped at the end.
    unsafe {
        let inp = wasi::get_stdin();
        wasi::read(inp, 100, r.p());
        println!("early_read={}", bytes_result(&r));
        let p = wasi::input_subscribe(inp);
        println!("early_ready={}", wasi::pollable_ready(p));
        let t0 = wasi::mono_now();
        wasi::pollable_block(p);
        println!("waited_ns={}", wasi::mono_now() - t0);
        println!("late_ready={}", wasi::pollable_ready(p));
        wasi::pollable_drop(p);
        wasi::read(inp, 100, r.p());
        println!("late_read={}", bytes_result(&r));
        wasi::blocking_read(inp, 100, r.p());
        println!("final_read={}", bytes_result(&r));
        wasi::input_drop(inp);
    }
}

/// Writes more than `check-write` allows (the WIT says this traps).
fn overwrite() {
    let mut r = Ret::new();
    // SAFETY: canonical-ABI calls; the write is meant to trap in the host.
    unsafe {
        let out = wasi::get_stdout();
        wasi::check_write(out, r.p());
        let n = r.u64(8) as usize;
        let big = vec![b'x'; n + 1];
        wasi::write(out, big.as_ptr(), big.len(), r.p());
    }
    println!("not reached");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    match mode {
        "hello" => {
            println!("args={}", args.join("|"));
            let mut env: Vec<(String, String)> = std::env::vars().collect();
            env.sort();
            for (k, v) in env {
                println!("env {k}={v}");
            }
            use std::io::IsTerminal;
            println!(
                "terminals={} {} {}",
                std::io::stdin().is_terminal(),
                std::io::stdout().is_terminal(),
                std::io::stderr().is_terminal()
            );
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input).unwrap();
            println!("stdin={input:?}");
            eprintln!("to stderr");
            let code: i32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0);
            std::process::exit(code);
        }
        "exit" => std::process::exit(args[2].parse().unwrap()),
        "fail" => {
            // Returning an error from main: the command's `run` gives `err`.
            let r: Result<(), String> = Err("failing on purpose".into());
            if let Err(e) = r {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
        "panic" => panic!("guest panic"),
        "random" => random(),
        "clocks" => clocks(),
        "streams" => streams(),
        "overwrite" => overwrite(),
        "stdin-pipe" => stdin_pipe(),
        "poll-empty" => {
            let mut r = Ret::new();
            // SAFETY: an empty list: the host traps.
            unsafe { wasi::poll(std::ptr::null(), 0, r.p()) };
            println!("not reached");
        }
        "closed-stdout" => {
            let mut out = std::io::stdout();
            let mut res = Ok(());
            for _ in 0..100 {
                res = out.write_all(&[b'z'; 1000]).and_then(|_| out.flush());
                if res.is_err() {
                    break;
                }
            }
            match res {
                Ok(()) => eprintln!("stdout writes succeeded"),
                Err(e) => eprintln!("stdout error: {e}"),
            }
            std::process::exit(7);
        }
        "sleep" => {
            // A long sleep (subscribe-duration + poll): deadlines must end it.
            println!("sleeping");
            std::thread::sleep(std::time::Duration::from_secs(args[2].parse().unwrap()));
            println!("woke up");
        }
        "spin" => {
            println!("spinning");
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "big-output" => {
            let n: usize = args[2].parse().unwrap();
            let line = "0123456789abcdef".repeat(8);
            let mut out = std::io::stdout().lock();
            for i in 0..n {
                writeln!(out, "{i:08} {line}").unwrap();
            }
        }
        other => {
            eprintln!("unknown mode {other:?}");
            std::process::exit(2);
        }
    }
}

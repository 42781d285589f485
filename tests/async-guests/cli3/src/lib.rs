//! A WASI 0.3 command: the `wasi:cli/command@0.3.0` world through wit-bindgen's async support,
//! exporting `wasi:cli/run@0.3.0` and importing WASI 0.3 interfaces only.
//!
//! The first argument after the program name selects what it does; every output is
//! deterministic, so two hosts running it can be compared byte for byte:
//!
//! | arguments    | behaviour                                                                   |
//! |--------------|-----------------------------------------------------------------------------|
//! | `args ...`   | every argument (the program name first), one a line                         |
//! | `env`        | the environment as sorted `K=V` lines                                       |
//! | `cat`        | stdin copied to stdout through streams; the byte count to stderr            |
//! | `big N`      | N bytes of a pattern, written by a spawned task while `run` awaits stdout   |
//! | `sleep MS`   | `monotonic-clock.wait-for`, then `slept ok` if `now()` advanced that much   |
//! | `clocks`     | `wall ok` (system clock after 2023), `res ok` (resolutions above zero)      |
//! | `random N`   | the lengths of N secure and N insecure random bytes, `seed ok`              |
//! | `exit N`     | `bye`, then `exit.exit-with-code(N)`                                        |
//! | `fail`       | `run` returns `err` (exit status 1)                                         |
//! | `stderr`     | a line to stderr and one to stdout                                          |
//! | `concurrent` | two spawned tasks each wait 20 ms and print a line; `both done`             |
//!
//! Anything else prints a usage line to stderr and fails.
//!
//! The crate is `no_std` (with `alloc`): on wasm32-wasip2, std's start-up, panic output and
//! stdio are WASI 0.2 imports. A panic (none is expected) is a trap.

#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

// The heap, the panic handler and `cabi_realloc` a `no_std` guest needs.
#[path = "../../common/no_std_rt.rs"]
mod no_std_rt;

wit_bindgen::generate!({
    path: "../wasi3-wit",
    world: "wasi:cli/command@0.3.0",
    // Bindings for every interface of the world (only the ones called end up imported).
    generate_all,
});

use exports::wasi::cli::run::Guest;
use wasi::cli::types::ErrorCode;
use wasi::cli::{environment, exit, stderr, stdin, stdout};
use wasi::clocks::{monotonic_clock, system_clock};
use wasi::random::{insecure, insecure_seed, random};
use wit_bindgen::{FutureReader, StreamReader, StreamResult};

/// `stdout.write-via-stream` or `stderr.write-via-stream`: hands the host a stream to copy
/// to the output, and returns the future of the copy's result.
type Sink = fn(StreamReader<u8>) -> FutureReader<Result<(), ErrorCode>>;

/// Writes `bytes` to `sink` through a stream of its own and waits until the host has written
/// them all; `Err` when the host stopped reading or reported an error.
async fn write(sink: Sink, bytes: Vec<u8>) -> Result<(), ()> {
    let (mut tx, rx) = wit_stream::new::<u8>();
    let done = sink(rx);
    let rest = tx.write_all(bytes).await;
    // Dropping the writer ends the stream: the host then resolves `done`.
    drop(tx);
    let result = done.await;
    if rest.is_empty() && result.is_ok() {
        Ok(())
    } else {
        Err(())
    }
}

/// Prints `text` to stdout.
async fn out(text: &str) -> Result<(), ()> {
    write(stdout::write_via_stream, text.as_bytes().to_vec()).await
}

/// Prints `text` to stderr.
async fn err(text: &str) -> Result<(), ()> {
    write(stderr::write_via_stream, text.as_bytes().to_vec()).await
}

/// Byte `i` of the `big` output: printable, with a newline every 64 bytes.
fn pattern(i: u64) -> u8 {
    if i % 64 == 63 {
        b'\n'
    } else {
        b'a' + (i % 26) as u8
    }
}

/// The number argument at `args[2]`, or a usage line on stderr.
async fn number(args: &[String]) -> Result<u64, ()> {
    match args.get(2).map(|a| a.parse::<u64>()) {
        Some(Ok(n)) => Ok(n),
        _ => {
            err("expected a number argument\n").await?;
            Err(())
        }
    }
}

/// `cat`: copies stdin to stdout, one stream each, and prints the byte count to stderr.
async fn cat() -> Result<(), ()> {
    let (mut input, input_done) = stdin::read_via_stream();
    let (mut output, output_rx) = wit_stream::new::<u8>();
    let output_done = stdout::write_via_stream(output_rx);
    let mut total = 0u64;
    loop {
        let (status, chunk) = input.read(Vec::with_capacity(16 << 10)).await;
        total += chunk.len() as u64;
        if !output.write_all(chunk).await.is_empty() {
            return Err(());
        }
        if matches!(status, StreamResult::Dropped) {
            break;
        }
    }
    drop(output);
    // stdin's future reports whether the host's read ended cleanly (end of input).
    let (read, written) = (input_done.await, output_done.await);
    if read.is_err() || written.is_err() {
        return Err(());
    }
    err(&format!("{total} bytes\n")).await
}

/// `big N`: a spawned task writes N pattern bytes in 4 KiB chunks into the stream handed
/// to stdout while `run` itself only awaits the end of the copy.
async fn big(n: u64) -> Result<(), ()> {
    let (mut tx, rx) = wit_stream::new::<u8>();
    let done = stdout::write_via_stream(rx);
    wit_bindgen::spawn_local(async move {
        let mut at = 0u64;
        while at < n {
            let end = n.min(at + 4096);
            if !tx
                .write_all((at..end).map(pattern).collect())
                .await
                .is_empty()
            {
                // The host stopped reading: `done` reports it.
                return;
            }
            at = end;
        }
        // `tx` is dropped here, which ends the stream.
    });
    done.await.map_err(|_| ())
}

/// `sleep MS`: waits MS milliseconds and checks the monotonic clock advanced as much.
async fn sleep(ms: u64) -> Result<(), ()> {
    let ns = ms.saturating_mul(1_000_000);
    let before = monotonic_clock::now();
    monotonic_clock::wait_for(ns).await;
    let slept = monotonic_clock::now().saturating_sub(before);
    if slept >= ns {
        out("slept ok\n").await
    } else {
        out(&format!("slept only {slept} ns of {ns}\n")).await
    }
}

/// `clocks`: the wall clock is after 2023 and both clocks have a resolution.
async fn clocks() -> Result<(), ()> {
    let now = system_clock::now();
    if now.seconds > 1_700_000_000 {
        out("wall ok\n").await?;
    } else {
        out(&format!("wall clock at {} s\n", now.seconds)).await?;
    }
    let (mono, wall) = (
        monotonic_clock::get_resolution(),
        system_clock::get_resolution(),
    );
    if mono > 0 && wall > 0 {
        out("res ok\n").await
    } else {
        out(&format!("resolutions {mono} and {wall} ns\n")).await
    }
}

/// `random N`: the lengths of one call of each random-bytes function, and the seed call.
async fn random_bytes(n: u64) -> Result<(), ()> {
    let secure = random::get_random_bytes(n).len();
    let weak = insecure::get_insecure_random_bytes(n).len();
    // Any value is a valid seed: returning at all is what is checked.
    let _ = insecure_seed::get_insecure_seed();
    out(&format!("random {secure}\ninsecure {weak}\nseed ok\n")).await
}

/// `concurrent`: two spawned tasks wait 20 ms at the same time and each print the same line
/// (so their order cannot show); each holds the writer of a stream it drops when done, and
/// `run` joins them by reading both streams to their end.
async fn concurrent() -> Result<(), ()> {
    let mut joins = Vec::new();
    for _ in 0..2 {
        let (done, join) = wit_stream::new::<u8>();
        joins.push(join);
        wit_bindgen::spawn_local(async move {
            monotonic_clock::wait_for(20_000_000).await;
            let _ = out("task done\n").await;
            drop(done);
        });
    }
    for mut join in joins {
        while !matches!(
            join.read(Vec::with_capacity(1)).await.0,
            StreamResult::Dropped
        ) {}
    }
    out("both done\n").await
}

struct Cli3;

impl Guest for Cli3 {
    async fn run() -> Result<(), ()> {
        let args = environment::get_arguments();
        match args.get(1).map(String::as_str) {
            Some("args") => {
                let lines: String = args.iter().map(|a| format!("{a}\n")).collect();
                out(&lines).await
            }
            Some("env") => {
                let mut vars: Vec<String> = environment::get_environment()
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}\n"))
                    .collect();
                vars.sort();
                out(&vars.concat()).await
            }
            Some("cat") => cat().await,
            Some("big") => big(number(&args).await?).await,
            Some("sleep") => sleep(number(&args).await?).await,
            Some("clocks") => clocks().await,
            Some("random") => random_bytes(number(&args).await?).await,
            Some("exit") => {
                let code = number(&args).await?;
                out("bye\n").await?;
                // Exit codes are a u8 in WASI 0.3; larger numbers are cut to their low byte.
                exit::exit_with_code(code as u8);
                // Not reached: the host ends the instance.
                Ok(())
            }
            Some("fail") => Err(()),
            Some("stderr") => {
                err("to stderr\n").await?;
                out("to stdout\n").await
            }
            Some("concurrent") => concurrent().await,
            _ => {
                err("usage: cli3 args|env|cat|big N|sleep MS|clocks|random N|exit N|fail|stderr|concurrent\n")
                    .await?;
                Err(())
            }
        }
    }
}

export!(Cli3);

//! The async app of kiln's composition guests: exports `kiln:compose/tasks` (async functions)
//! and imports the synchronous `kiln:compose/text`, which it calls from several spawned tasks
//! that interleave with `yield_async` and hand results over through streams.

#![no_std]

extern crate alloc;

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
compose_rt::export_cabi_realloc!();
use core::cell::Cell;

wit_bindgen::generate!({
    path: "../wit",
    world: "app",
});

use exports::kiln::compose::tasks::Guest;
use kiln::compose::text;
use wit_bindgen::{spawn_local, yield_async, StreamReader, StreamResult};

/// How many numbers `total` hands `text.sum` at once.
const CHUNK: u32 = 4096;

/// How many tasks `total` splits its range between.
const TOTAL_TASKS: u32 = 4;

/// Yields to the other tasks `n` times.
async fn yields(n: usize) {
    for _ in 0..n {
        yield_async().await;
    }
}

/// Waits (yielding) until `done` reaches `n`.
async fn join(done: &Cell<u32>, n: u32) {
    while done.get() < n {
        yield_async().await;
    }
}

/// A stream of `text.shout` of every word (each a 4-byte little-endian length, then its
/// UTF-8), written by a spawned task that yields between words (a different number of times
/// for each).
fn shout_bytes(words: Vec<String>) -> StreamReader<u8> {
    let (mut tx, rx) = wit_stream::new::<u8>();
    spawn_local(async move {
        for (i, word) in words.into_iter().enumerate() {
            yields(i % 3).await;
            let shouted = text::shout(&word);
            let mut bytes = Vec::with_capacity(4 + shouted.len());
            bytes.extend_from_slice(&(shouted.len() as u32).to_le_bytes());
            bytes.extend_from_slice(shouted.as_bytes());
            if !tx.write_all(bytes).await.is_empty() {
                // The reader went away.
                return;
            }
        }
    });
    rx
}

/// As [`shout_bytes`], one string a stream item.
fn shout_strings(words: Vec<String>) -> StreamReader<String> {
    let (mut tx, rx) = wit_stream::new::<String>();
    spawn_local(async move {
        for (i, word) in words.into_iter().enumerate() {
            yields(i % 3).await;
            if tx.write_one(text::shout(&word)).await.is_some() {
                return;
            }
        }
    });
    rx
}

/// Reads `rx` to its end in small pieces (so the writer and the reader take turns) and
/// splits it into the strings [`shout_bytes`] wrote.
async fn read_shouted(mut rx: StreamReader<u8>) -> Vec<String> {
    let mut bytes = Vec::new();
    loop {
        let (status, piece) = rx.read(Vec::with_capacity(61)).await;
        bytes.extend_from_slice(&piece);
        if matches!(status, StreamResult::Dropped) {
            break;
        }
    }
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let (s, tail) = tail.split_at(u32::from_le_bytes(*len) as usize);
        out.push(String::from_utf8(s.to_vec()).unwrap_or_default());
        rest = tail;
    }
    out
}

struct App;

impl Guest for App {
    async fn shout_all(words: Vec<String>) -> Vec<String> {
        read_shouted(shout_bytes(words)).await
    }

    async fn shout_all_strings(words: Vec<String>) -> Vec<String> {
        let mut rx = shout_strings(words);
        let mut out = Vec::new();
        while let Some(s) = rx.next().await {
            out.push(s);
        }
        out
    }

    async fn total(n: u32) -> u64 {
        let sum = Rc::new(Cell::new(0u64));
        let done = Rc::new(Cell::new(0u32));
        let per = n.div_ceil(TOTAL_TASKS);
        for t in 0..TOTAL_TASKS {
            let (sum, done) = (sum.clone(), done.clone());
            let lo = (t * per).min(n);
            let hi = lo.saturating_add(per).min(n);
            spawn_local(async move {
                let mut at = lo;
                while at < hi {
                    let end = at.saturating_add(CHUNK).min(hi);
                    let xs: Vec<u32> = (at..end).collect();
                    sum.set(sum.get() + text::sum(&xs));
                    at = end;
                    yields(1 + t as usize).await;
                }
                done.set(done.get() + 1);
            });
        }
        join(&done, TOTAL_TASKS).await;
        sum.get()
    }

    async fn count(n: u32) -> u32 {
        let counter = Rc::new(text::Counter::new(100));
        let done = Rc::new(Cell::new(0u32));
        for i in 0..n {
            let (counter, done) = (counter.clone(), done.clone());
            spawn_local(async move {
                yields((i % 4) as usize).await;
                counter.bump();
                done.set(done.get() + 1);
            });
        }
        join(&done, n).await;
        counter.bump()
    }

    async fn squares(n: u32) -> Vec<u32> {
        yield_async().await;
        (0..n).map(|i| i.wrapping_mul(i)).collect()
    }

    async fn shouted(words: Vec<String>) -> StreamReader<u8> {
        shout_bytes(words)
    }

    async fn shouted_strings(words: Vec<String>) -> StreamReader<String> {
        shout_strings(words)
    }
}

export!(App);

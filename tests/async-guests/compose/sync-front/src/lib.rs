//! The synchronous front of kiln's composition guests: synchronously lifted exports calling
//! the async functions of `kiln:compose/tasks` in the two ways a synchronous caller can:
//! `shout-all` and `count` lowered synchronously (wit-bindgen's `async` option: the caller
//! blocks in the call until the callee's task returns), `total` lowered async and waited for
//! with `wit_bindgen::block_on` (`waitable-set.wait`).
//!
//! The `sync-*` exports have plain `func` types: the component model forbids them to block
//! before they return: a synchronous call of an `async` function traps before the callee
//! runs (`sync-shout-all`, `sync-count`), and `sync-total` traps when `block_on` has to wait
//! (not for `total(0)`, whose tasks finish in their first run). The `blocking-*` exports have
//! `async func` types lifted synchronously (wit-bindgen's `async` option again): they may
//! block.

#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

compose_rt::export_cabi_realloc!();

wit_bindgen::generate!({
    path: "../wit",
    world: "front",
    async: [
        "-import:kiln:compose/tasks#shout-all",
        "-import:kiln:compose/tasks#count",
        "-export:blocking-shout-all",
        "-export:blocking-count",
        "-export:blocking-total",
    ],
});

use kiln::compose::tasks;

struct Front;

impl Guest for Front {
    fn sync_shout_all(words: Vec<String>) -> Vec<String> {
        tasks::shout_all(&words)
    }

    fn sync_count(n: u32) -> u32 {
        tasks::count(n)
    }

    fn sync_total(n: u32) -> u64 {
        wit_bindgen::block_on(tasks::total(n))
    }

    fn blocking_shout_all(words: Vec<String>) -> Vec<String> {
        tasks::shout_all(&words)
    }

    fn blocking_count(n: u32) -> u32 {
        tasks::count(n)
    }

    fn blocking_total(n: u32) -> u64 {
        wit_bindgen::block_on(tasks::total(n))
    }
}

export!(Front);

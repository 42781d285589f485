//! The synchronous front of kiln's composition guests: synchronously lifted exports calling
//! the async functions of `kiln:compose/tasks` in the two ways a synchronous caller can:
//! - `shout-all` and `count` are lowered synchronously (wit-bindgen's `async` option): the
//!   caller's task blocks in the call, as the component model lets a synchronous call of an
//!   async-lifted function do;
//! - `total` is lowered async and waited for with `wit_bindgen::block_on`, which calls
//!   `waitable-set.wait` inside the synchronous task before it returned: the component model
//!   forbids that blocking, so `total-sync` traps (in every conforming runtime).

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
    ],
});

use kiln::compose::tasks;

struct Front;

impl Guest for Front {
    fn shout_all_sync(words: Vec<String>) -> Vec<String> {
        tasks::shout_all(&words)
    }

    fn total_sync(n: u32) -> u64 {
        wit_bindgen::block_on(tasks::total(n))
    }

    fn count_sync(n: u32) -> u32 {
        tasks::count(n)
    }
}

export!(Front);

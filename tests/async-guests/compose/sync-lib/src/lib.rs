//! The synchronous library of kiln's composition guests: exports `kiln:compose/text` (plain,
//! synchronously lifted functions and a resource); imports nothing.

#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
compose_rt::export_cabi_realloc!();
use core::cell::Cell;

wit_bindgen::generate!({
    path: "../wit",
    world: "lib",
});

use exports::kiln::compose::text::{Guest, GuestCounter};

struct Lib;

/// `text.counter`: a value bumped through a shared borrow.
struct Counter(Cell<u32>);

impl GuestCounter for Counter {
    fn new(start: u32) -> Self {
        Counter(Cell::new(start))
    }

    fn bump(&self) -> u32 {
        let next = self.0.get().wrapping_add(1);
        self.0.set(next);
        next
    }
}

impl Guest for Lib {
    type Counter = Counter;

    fn shout(s: String) -> String {
        let mut out = s.to_uppercase();
        out.push('!');
        out
    }

    fn sum(xs: Vec<u32>) -> u64 {
        xs.iter().map(|x| u64::from(*x)).sum()
    }
}

export!(Lib);

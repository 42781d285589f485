//! The `inventory` world of `../c/wit/inventory.wit` in Rust with wit-bindgen: the same
//! semantics as `../c/inventory.c`, so the same tests apply (tests/tests/real_components.rs).
//!
//! `no_std` (with `alloc` and dlmalloc): Rust's std on wasm32-wasip2 imports a dozen WASI
//! interfaces (streams, environment, exit, ...) for its I/O and panic machinery, which a pure
//! library component does not need and a host would otherwise have to provide.

#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

// `memcmp`, `memcpy` and friends come from the target's bundled wasi-libc (pure functions, no
// WASI imports); without std nothing else links it.
#[link(name = "c")]
extern "C" {}

#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// The canonical ABI's allocator. On wasm32-wasip2 wit-bindgen leaves it to std (wasi-libc),
/// which this `no_std` component does not link.
///
/// # Safety
/// Called by the host with the canonical ABI's contract: `old` is null or an allocation of
/// `old_len` bytes with alignment `align` made by this function.
#[no_mangle]
pub unsafe extern "C" fn cabi_realloc(
    old: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{alloc, realloc, Layout};
    if new_len == 0 {
        return align as *mut u8;
    }
    let p = match Layout::from_size_align(new_len, align) {
        // SAFETY: the size is non-zero; `old` came from here with this alignment.
        Ok(layout) if old.is_null() || old_len == 0 => unsafe { alloc(layout) },
        Ok(_) => unsafe {
            realloc(
                old,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        },
        Err(_) => core::ptr::null_mut(),
    };
    if p.is_null() {
        core::arch::wasm32::unreachable();
    }
    p
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

wit_bindgen::generate!({
    path: "../c/wit",
    world: "inventory",
});

use exports::kiln::inventory::counters::{Guest as CountersGuest, GuestCounter};

/// Counters alive, and destructor calls so far.
static LIVE: Stats = Stats(Cell::new(0));
static DESTROYED: Stats = Stats(Cell::new(0));

/// A counter cell; the component is single-threaded.
struct Stats(Cell<u32>);
// SAFETY: a component instance runs on one thread at a time and never shares these cells.
unsafe impl Sync for Stats {}

struct Inventory;

/// The `counter` resource.
pub struct Counter(RefCell<i32>);

impl GuestCounter for Counter {
    fn new(start: i32) -> Counter {
        LIVE.0.set(LIVE.0.get() + 1);
        Counter(RefCell::new(start))
    }
    fn add(&self, n: i32) -> i32 {
        let mut v = self.0.borrow_mut();
        *v = v.wrapping_add(n);
        *v
    }
    fn get(&self) -> i32 {
        *self.0.borrow()
    }
    fn live() -> u32 {
        LIVE.0.get()
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        LIVE.0.set(LIVE.0.get() - 1);
        DESTROYED.0.set(DESTROYED.0.get() + 1);
    }
}

impl CountersGuest for Inventory {
    type Counter = Counter;
}

impl Guest for Inventory {
    fn greet(name: String) -> String {
        format!("hello, {name}!")
    }
    fn total_value(items: Vec<Item>) -> f64 {
        items.iter().map(|i| f64::from(i.qty) * i.price).sum()
    }
    fn area(s: Shape) -> f32 {
        match s {
            Shape::Circle(r) => 3.0 * r * r,
            Shape::Rect(d) => d.w * d.h,
            Shape::Empty => 0.0,
        }
    }
    fn find(items: Vec<Item>, name: String) -> Option<u32> {
        items.iter().position(|i| i.name == name).map(|i| i as u32)
    }
    fn parse_qty(s: String) -> Result<u32, ParseError> {
        if s.is_empty() {
            return Err(ParseError::Empty);
        }
        let mut v: u64 = 0;
        for b in s.bytes() {
            if !b.is_ascii_digit() {
                // As in the C sample: ASCII is reported as is, anything else as U+FFFD.
                let c = if b < 0x80 { char::from(b) } else { '\u{FFFD}' };
                return Err(ParseError::BadChar(c));
            }
            v = v * 10 + u64::from(b - b'0');
            if v > u64::from(u32::MAX) {
                return Err(ParseError::Overflow);
            }
        }
        Ok(v as u32)
    }
    fn restock(items: Vec<Item>, extra: u32) -> Vec<Item> {
        items
            .into_iter()
            .map(|mut i| {
                i.qty = i.qty.wrapping_add(extra);
                i.perms |= Perms::WRITE;
                i
            })
            .collect()
    }
    fn perm_names(p: Perms) -> Vec<String> {
        [
            (Perms::READ, "read"),
            (Perms::WRITE, "write"),
            (Perms::EXEC, "exec"),
        ]
        .iter()
        .filter(|(f, _)| p.contains(*f))
        .map(|(_, n)| n.to_string())
        .collect()
    }
    fn classify(qty: u32) -> Level {
        match qty {
            0..=9 => Level::Low,
            10..=99 => Level::Mid,
            _ => Level::High,
        }
    }
    fn counter_demo(start: i32, steps: Vec<i32>) -> (i32, u32) {
        // Through the component's own resource: resource.new, then the handle is dropped,
        // which runs the destructor.
        let c = exports::kiln::inventory::counters::Counter::new(Counter::new(start));
        let value = {
            let rep: &Counter = c.get();
            for s in steps {
                rep.add(s);
            }
            rep.get()
        };
        drop(c);
        (value, DESTROYED.0.get())
    }
}

export!(Inventory);

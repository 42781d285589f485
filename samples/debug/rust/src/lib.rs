//! The debugger tests' Rust guest: the `calc` world of `../component/calc.wit` (the same
//! functions as `../component/calc_component.c`); tests/tests/debugger.rs sets breakpoints on
//! lines of this file, so keep the line numbers of `square` and `compute` stable.

#![no_std]

wit_bindgen::generate!({ path: "../component/calc.wit", world: "calc" });

struct Calc;

#[inline(never)]
fn square(x: i32) -> i32 {
    let result = x.wrapping_mul(x);
    result
}

impl Guest for Calc {
    fn compute(n: i32) -> i32 {
        let mut total = 0i32;
        for i in 1..=n {
            total = total.wrapping_add(square(i));
        }
        total
    }

    fn divide(a: i32, b: i32) -> i32 {
        a.wrapping_div(b)
    }
}

export!(Calc);

/// The scalar-only world never allocates; wit-bindgen's runtime still needs an allocator.
struct NoAlloc;

// SAFETY: returning null is GlobalAlloc's documented way to report an allocation failure.
unsafe impl core::alloc::GlobalAlloc for NoAlloc {
    unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
}

#[global_allocator]
static ALLOC: NoAlloc = NoAlloc;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

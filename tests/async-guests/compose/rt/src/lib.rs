//! The no_std support of kiln's composition guests: the global allocator, the panic handler
//! and `cabi_realloc` over the allocator (each guest exports it with
//! `compose_rt::export_cabi_realloc!()`).

#![no_std]

/// The heap: dlmalloc over `memory.grow`.
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// Panics trap (printing would need WASI).
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// The canonical ABI's allocator over the global allocator: `old_len == 0` allocates,
/// anything else resizes `old`; failure traps. Exported as `cabi_realloc` by each guest
/// through [`export_cabi_realloc!`] (a dependency's symbols are not exported by the linker).
///
/// # Safety
///
/// `old` must be null with `old_len == 0`, or a block this function returned with size
/// `old_len` and alignment `align`, as the canonical ABI guarantees.
pub unsafe fn realloc(old: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
    extern crate alloc;
    use alloc::alloc::{alloc, realloc, Layout};
    if new_len == 0 {
        // A zero-sized block: any aligned non-null address.
        return align as *mut u8;
    }
    let Ok(layout) = Layout::from_size_align(new_len, align) else {
        core::arch::wasm32::unreachable()
    };
    let block = if old_len == 0 {
        // SAFETY: `layout` has a non-zero size.
        unsafe { alloc(layout) }
    } else {
        // SAFETY: per this function's contract `old` was allocated here with size `old_len`
        // and alignment `align` (a valid layout then), and `new_len` is not zero.
        unsafe {
            realloc(
                old,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if block.is_null() {
        core::arch::wasm32::unreachable()
    }
    block
}

/// Defines the guest's exported `cabi_realloc` (over [`realloc`]).
#[macro_export]
macro_rules! export_cabi_realloc {
    () => {
        /// The canonical ABI's allocator (see `compose_rt::realloc`).
        ///
        /// # Safety
        ///
        /// As `compose_rt::realloc`: the canonical ABI's contract.
        #[no_mangle]
        pub unsafe extern "C" fn cabi_realloc(
            old: *mut u8,
            old_len: usize,
            align: usize,
            new_len: usize,
        ) -> *mut u8 {
            // SAFETY: the caller (the host or the component's bindings) keeps the canonical
            // ABI's contract, which is `realloc`'s.
            unsafe { compose_rt::realloc(old, old_len, align, new_len) }
        }
    };
}

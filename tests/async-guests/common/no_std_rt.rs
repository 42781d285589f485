//! What a `no_std` (+ `alloc`) Rust guest for wasm32-wasip2 needs in place of std's runtime,
//! shared by the WASI 0.3 guests here (cli3, fs3, sock3: `#[path]`-included; each guest crate depends on
//! `dlmalloc` with its `global` feature): std on that target brings WASI 0.2 imports (its
//! panic output, environment and stdio set-up), which a WASI 0.3 command must not have.

/// The heap: dlmalloc over `memory.grow` (std's allocator on wasm32-unknown-unknown).
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// Panics trap; nothing is printed (that would need an output stream and a task).
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// The canonical ABI's allocator (std exports it on wasm32-wasip2; without std we do): the
/// host calls it for the memory of the lists and strings it passes in (arguments, directory
/// entries' names). `old_len == 0` allocates, anything else resizes `old`; failure traps.
///
/// # Safety
///
/// `old` must be null with `old_len == 0`, or a block this function returned with size
/// `old_len` and alignment `align`, as the canonical ABI guarantees.
#[no_mangle]
pub unsafe extern "C" fn cabi_realloc(
    old: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
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

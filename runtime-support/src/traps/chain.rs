//! Per-stack trap state: each stack of a thread (its own, and every fiber's, see `fiber.rs`)
//! has its own activation chain, installed with [`swap_chain`] when the stack starts running.

use super::{CallThreadState, ACTIVE, EXIT, FIBER_BOTTOM, STATE};

/// The trap state of one stack's activation chain, saved while another stack of the thread
/// runs (see `fiber.rs`).
#[derive(Clone, Copy)]
pub(crate) struct Chain {
    state: *const CallThreadState,
    exit: (usize, usize),
    /// The usable bottom of the chain's stack (0: the thread's own stack).
    bottom: usize,
}

impl Default for Chain {
    fn default() -> Chain {
        Chain::new_for_stack(0)
    }
}

impl Chain {
    /// The empty chain of a stack whose lowest usable address is `bottom`.
    pub(crate) fn new_for_stack(bottom: usize) -> Chain {
        Chain {
            state: std::ptr::null(),
            exit: (0, 0),
            bottom,
        }
    }
}

/// The outermost activation's entry stack pointer of `chain` (null: none).
///
/// # Safety
/// `chain` must be null or a live activation of this thread.
unsafe fn outermost_entry(mut chain: *const CallThreadState) -> Option<usize> {
    if chain.is_null() {
        return None;
    }
    // SAFETY: caller contract; the chain links live activations.
    unsafe {
        while !(*chain).prev.is_null() {
            chain = (*chain).prev;
        }
        Some((*chain).entry_sp)
    }
}

/// Visits `[low, high)` for every stack of this thread that holds guest frames but is not
/// running: suspended fibers and the resumers of running ones (`low` is the stack pointer
/// saved by the switch, so it covers the registers saved there; `high` the chain's outermost
/// entry). Returns whether those chains and the current one account for every live activation
/// of the thread; when not, a conservative collection must not run.
pub(crate) fn parked_guest_stacks(visit: &mut dyn FnMut(usize, usize)) -> bool {
    let current = STATE.with(|s| s.get());
    // SAFETY: null or this thread's innermost live activation.
    let mut counted = unsafe { current.as_ref() }.map_or(0, |s| s.depth);
    crate::fiber::for_each_parked(&mut |sp, chain| {
        // SAFETY: a parked chain's activations are alive on its (suspended) stack.
        if let Some(high) = unsafe { outermost_entry(chain.state) } {
            // SAFETY: as above.
            counted += unsafe { (*chain.state).depth };
            visit(sp, high);
        }
    });
    counted == ACTIVE.with(|a| a.get())
}

/// Installs `next` as the current thread's activation chain and returns the one it replaces.
/// Every store that `next`'s activations run gets `next`'s stack limit back in its context
/// (the other chain may have entered the same stores with its own limit).
///
/// # Safety
/// `next` must be the saved chain of the stack the caller is about to run on (or has just come
/// back to), whose activations are still alive; the returned chain must be installed again
/// before its stack runs.
pub(crate) unsafe fn swap_chain(next: Chain) -> Chain {
    let prev = Chain {
        state: STATE.with(|s| s.replace(next.state)),
        exit: EXIT.with(|e| e.replace(next.exit)),
        bottom: FIBER_BOTTOM.with(|b| b.replace(next.bottom)),
    };
    let mut cur = next.state;
    while !cur.is_null() {
        // SAFETY: the chain's activations are alive (caller contract), and so are the stores
        // they entered.
        let st = unsafe { &*cur };
        // SAFETY: as above.
        if let Some(ctx) = unsafe { st.store.as_ref() } {
            ctx.stack_limit
                .store(st.stack_limit, std::sync::atomic::Ordering::Relaxed);
        }
        cur = st.prev;
    }
    prev
}

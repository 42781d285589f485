//! The per-call host arena and the host-value budget.
//!
//! Values the compiled glue lifts for the host that cannot point into guest memory (strings
//! transcoded to UTF-8, lists whose elements need conversion) and the results host functions
//! return (until the import trampoline has lowered them into the guest) live in arena blocks.
//! Arena frames are per thread and nest: one per export call (`raw.rs`), freed after its
//! post-return. Inside a frame, each host import call frees the blocks of the import calls
//! before it (their arguments and results were consumed), so a long-running export that calls
//! the host many times holds only the last call's values.
//!
//! Every frame has a budget ([`HostValueBudget`], per instance, set by
//! `ComponentLinker::set_host_value_budget`): arena bytes plus the bytes of guest strings lifted
//! for the host since the last import call. Guest-chosen sizes are charged *before* anything
//! is allocated or scanned, and exceeding the budget (or the host's memory) is a trap, never an
//! abort.

use crate::error::Trap;
use kiln_environ::component::glue::GlueTrap;
use std::cell::RefCell;

/// The default budget of host memory for values lifted in one call (256 MiB).
pub const DEFAULT_HOST_VALUE_BUDGET: u64 = 256 << 20;

/// A budget of host bytes for the values lifted from a guest in one call: dynamic values
/// ([`super::Val`] trees), transcoded strings and converted lists. Exceeding it traps.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct HostValueBudget {
    limit: u64,
    used: u64,
}

impl Default for HostValueBudget {
    fn default() -> Self {
        HostValueBudget::new(DEFAULT_HOST_VALUE_BUDGET)
    }
}

impl HostValueBudget {
    /// A budget of `limit` bytes, nothing used.
    pub const fn new(limit: u64) -> HostValueBudget {
        HostValueBudget { limit, used: 0 }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes charged so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Charges `bytes` (a guest-chosen size times an element size, computed without
    /// overflow by the caller or saturating here); a trap when the budget would be exceeded.
    pub fn charge(&mut self, bytes: u64) -> Result<(), Trap> {
        let used = self.used.saturating_add(bytes);
        if used > self.limit {
            return Err(over_budget(self.limit, used));
        }
        self.used = used;
        Ok(())
    }

    /// Charges `n` items of `size` bytes each.
    pub fn charge_items(&mut self, n: u64, size: usize) -> Result<(), Trap> {
        self.charge(n.saturating_mul(size as u64))
    }

    /// Returns `bytes` to the budget.
    fn release(&mut self, bytes: u64) {
        self.used = self.used.saturating_sub(bytes);
    }

    /// Books `bytes` charged elsewhere (moved in with their blocks).
    fn charge_unchecked(&mut self, bytes: u64) {
        self.used = self.used.saturating_add(bytes);
    }
}

/// The trap for a call whose lifted values would take more than `limit` host bytes.
pub(crate) fn over_budget(limit: u64, wanted: u64) -> Trap {
    Trap::abi(format!(
        "{}: the values lifted for the host would take {wanted} bytes, more than the \
         instance's host value budget of {limit} bytes",
        GlueTrap::HostOutOfMemory.message()
    ))
}

/// The trap for a host allocation that failed.
pub(crate) fn out_of_memory(bytes: u64) -> Trap {
    Trap::abi(format!(
        "{} ({bytes} bytes)",
        GlueTrap::HostOutOfMemory.message()
    ))
}

/// One export call's arena.
pub(crate) struct Frame {
    blocks: Vec<Box<[u64]>>,
    /// Arena bytes and lifted string bytes, against the instance's limit.
    budget: HostValueBudget,
    /// Bytes of lifted strings charged since the last import call ended (not blocks).
    lifted: u64,
    /// Blocks before this index may still be live; after it, they belong to finished import
    /// calls (see [`import_exit`]).
    mark: usize,
    /// Host import calls running in this frame (nested when a host function runs guest code
    /// of the same call directly).
    imports: u32,
}

impl Frame {
    fn new(limit: u64) -> Frame {
        Frame {
            blocks: Vec::new(),
            budget: HostValueBudget::new(limit),
            lifted: 0,
            mark: 0,
            imports: 0,
        }
    }

    fn push(&mut self, block: Box<[u64]>) {
        self.blocks.push(block);
    }

    /// Frees the blocks from `at` on.
    fn truncate(&mut self, at: usize) {
        for b in self.blocks.drain(at.min(self.blocks.len())..) {
            self.budget.release(8 * b.len() as u64);
        }
    }
}

thread_local! {
    /// One frame per active export call on this thread.
    static ARENAS: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on the innermost frame (opening one with the default budget if there is none:
/// glue that runs outside an export call, e.g. during instantiation).
fn with_frame<R>(f: impl FnOnce(&mut Frame) -> R) -> R {
    ARENAS.with(|a| {
        let mut a = a.borrow_mut();
        if a.is_empty() {
            a.push(Frame::new(DEFAULT_HOST_VALUE_BUDGET));
        }
        f(a.last_mut().expect("non-empty"))
    })
}

/// Opens an arena frame for one export call, with a budget of `limit` bytes (closed by
/// [`truncate_arenas`] after post-return or a trap).
pub(crate) fn push_arena(limit: u64) {
    ARENAS.with(|a| a.borrow_mut().push(Frame::new(limit)));
}

/// Takes this thread's arena frames out (a fiber switch: each thread of component-model
/// async keeps its own frames, so interleaved calls on one OS thread never free each other's
/// values).
pub(crate) fn take_arenas() -> Vec<Frame> {
    ARENAS.with(|a| std::mem::take(&mut *a.borrow_mut()))
}

/// Puts frames taken by [`take_arenas`] back (the thread they belong to runs again).
pub(crate) fn put_arenas(frames: Vec<Frame>) {
    ARENAS.with(|a| *a.borrow_mut() = frames);
}

/// The frames a new thread starts with: one, with the budget limit of the running thread's
/// innermost frame.
pub(crate) fn fresh_arenas() -> Vec<Frame> {
    let limit = ARENAS.with(|a| {
        a.borrow()
            .last()
            .map_or(DEFAULT_HOST_VALUE_BUDGET, |f| f.budget.limit())
    });
    vec![Frame::new(limit)]
}

/// Moves the blocks of a finished thread's `frames` into the innermost of `into` (the frames
/// of the thread that called it, which may still read them: an `async` task's result lifted
/// by `task.return`), or of this thread's frames when `into` is `None`.
pub(crate) fn adopt(into: Option<&mut Vec<Frame>>, frames: Vec<Frame>) {
    let blocks: Vec<Box<[u64]>> = frames.into_iter().flat_map(|f| f.blocks).collect();
    if blocks.is_empty() {
        return;
    }
    let add = |f: &mut Frame| {
        for b in blocks {
            // Charged already (to the finished frame); kept on the books of this one.
            f.budget.charge_unchecked(8 * b.len() as u64);
            f.push(b);
        }
    };
    match into {
        Some(v) => {
            if v.is_empty() {
                v.push(Frame::new(DEFAULT_HOST_VALUE_BUDGET));
            }
            add(v.last_mut().expect("non-empty"));
        }
        None => with_frame(add),
    }
}

/// Keeps `blocks` (a task's result, `task.return`'s copies) in this thread's innermost frame,
/// freed with it.
pub(crate) fn keep_blocks(blocks: Vec<Box<[u64]>>) {
    if blocks.is_empty() {
        return;
    }
    with_frame(|f| {
        for b in blocks {
            f.budget.charge_unchecked(8 * b.len() as u64);
            f.push(b);
        }
    });
}

/// A zeroed block of at least `bytes` bytes, or a trap when the host is out of memory.
pub(crate) fn new_block(bytes: u64) -> Result<Box<[u64]>, Trap> {
    let words = usize::try_from(bytes.div_ceil(8))
        .map_err(|_| out_of_memory(bytes))?
        .max(1);
    let mut v: Vec<u64> = Vec::new();
    v.try_reserve_exact(words)
        .map_err(|_| out_of_memory(bytes))?;
    v.resize(words, 0);
    Ok(v.into_boxed_slice())
}

/// The number of open arena frames (to restore after a trap).
pub(crate) fn arena_depth() -> usize {
    ARENAS.with(|a| a.borrow().len())
}

/// Frees the arena frames above `depth` (a trap unwound past their ends).
pub(crate) fn truncate_arenas(depth: usize) {
    ARENAS.with(|a| a.borrow_mut().truncate(depth));
}

/// The budget left in the innermost frame, as a fresh budget for values built from it (the
/// dynamic [`super::Val`] conversion of a call's arguments or result).
pub(crate) fn remaining_budget() -> HostValueBudget {
    with_frame(|f| HostValueBudget::new(f.budget.limit().saturating_sub(f.budget.used())))
}

/// A zeroed arena block of at least `size` bytes (8-aligned), charged to the innermost frame's
/// budget before it is allocated; a trap when over budget or when the host is out of memory.
pub(crate) fn try_alloc(size: usize) -> Result<*mut u8, Trap> {
    let words = size.div_ceil(8).max(1);
    with_frame(|f| {
        f.budget.charge_items(words as u64, 8)?;
        let mut v: Vec<u64> = Vec::new();
        if v.try_reserve_exact(words).is_err() {
            f.budget.release(8 * words as u64);
            return Err(out_of_memory(size as u64));
        }
        v.resize(words, 0);
        let mut block = v.into_boxed_slice();
        let p = block.as_mut_ptr().cast::<u8>();
        f.push(block);
        Ok(p)
    })
}

/// Charges `bytes` of a guest string lifted for the host (pointed at, not copied) to the
/// innermost frame: bounds the work a call's lifting can do (a list of aliased strings).
pub(crate) fn charge_lifted(bytes: u64) -> Result<(), Trap> {
    with_frame(|f| {
        f.budget.charge(bytes)?;
        f.lifted = f.lifted.saturating_add(bytes);
        Ok(())
    })
}

/// Enters a host import call (its arguments were just lifted into the innermost frame);
/// returns the token for [`import_exit`].
pub(crate) fn import_enter() -> u32 {
    with_frame(|f| {
        let t = f.imports;
        f.imports += 1;
        t
    })
}

/// Leaves the host import call entered with `token`, whose result is `result` (kept until
/// the trampoline lowered it). The outermost import call of a frame frees what the calls
/// before it left (their results were lowered, their arguments consumed) and its own
/// arguments; nested ones keep everything (the outer call still reads its arguments).
pub(crate) fn import_exit(token: u32, result: Vec<Vec<u64>>) -> Result<(), Trap> {
    with_frame(|f| {
        f.imports = token;
        if token == 0 {
            let mark = f.mark;
            f.truncate(mark);
            f.budget.release(f.lifted);
            f.lifted = 0;
            f.mark = f.blocks.len();
        }
        for b in result {
            f.budget.charge(8 * b.len() as u64)?;
            f.push(b.into_boxed_slice());
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_traps_before_allocating() {
        push_arena(1024);
        assert!(try_alloc(512).is_ok());
        let t = try_alloc(1 << 40).expect_err("over budget");
        assert!(t.message.contains("host value budget of 1024"), "{t:?}");
        assert!(charge_lifted(600).is_err());
        // An import call frees the blocks of the calls before it.
        let tok = import_enter();
        import_exit(tok, vec![vec![0u64; 64]]).expect("fits");
        let tok = import_enter();
        import_exit(tok, Vec::new()).expect("fits");
        assert!(try_alloc(1000).is_ok());
        truncate_arenas(0);
    }
}

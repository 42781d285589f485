//! Fibers: guest code on stacks of its own, suspended from inside a builtin or host function
//! and resumed later on the same thread (the base of component-model async's stackful tasks).
//!
//! **Why an own switch and not a crate.** The switch is about 20 instructions of `naked_asm!`
//! ([`switch`]): push the six SysV callee-saved registers and the MXCSR/x87 control words,
//! store `rsp`, load the other stack's `rsp`, pop the same. `corosensei` (the well-kept
//! choice, used by wasmtime) would bring its own stack allocation, its own trap handling
//! (`CoroutineTrapHandler`) and unwinding model across stacks, none of which fits kiln's
//! `sigsetjmp` trap path, whose per-stack state (the activation chain, the last guest exit, the
//! stack bottom) has to be switched with the stack anyway (`traps::swap_chain`). The runtime
//! stays small and owns one mechanism.
//!
//! **Design.**
//! - A [`FiberStack`] is an anonymous mapping with a `PROT_NONE` guard below it (excluded
//!   from core dumps), taken from a small per-thread pool of released stacks of the same size.
//! - A [`Fiber`] runs its body on its stack. [`Fiber::resume`] (on the creating thread only)
//!   installs the fiber's activation chain (`traps::swap_chain`: `STATE`, `EXIT`, the stack
//!   bottom, and the stack limit of every store the chain runs), switches to it, and when the
//!   fiber [`suspend`]s or finishes installs the resumer's again. Each stack therefore has its
//!   own `catch_traps` chain: a guest entered on a fiber gets a stack limit from the fiber's
//!   stack, and a trap on it unwinds to the fiber's innermost entry, never across stacks.
//! - The entry frame ([`fiber_start`]) has `rbp = 0` and CFI marking the return address
//!   undefined, so frame-pointer walks, unwinders and debuggers stop there. A panic of the body
//!   is caught on the fiber and resumed in the resumer.
//! - Dropping a suspended fiber resumes it with the cancel flag set: [`suspend`] returns
//!   `Err(Cancelled)` (at once, for every later call too), the caller unwinds its guest frames
//!   (a host function returns a trap) and the body returns, so no frame is left on the freed
//!   stack. A body that ignores cancellation and never returns hangs the drop.
//! - A fiber moved to and dropped on another thread is leaked (its stack, body and any store
//!   entry it holds): running or dropping its thread-bound frames there would be unsound. So is
//!   a suspended fiber dropped by a thread-local destructor after the trap state's.
//! - A new fiber starts with the default MXCSR and x87 control word (not the creator's).

use crate::error::{Error, Trap};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr::NonNull;
use std::thread::ThreadId;

/// Bytes of `PROT_NONE` guard below every fiber stack (several pages: C frames without stack
/// probes cannot step over it).
const GUARD_SIZE: usize = 16 * 1024;

/// Most released stacks a thread keeps for reuse.
const POOL_MAX: usize = 16;

/// Stack a fiber needs for guest code limited to `max_wasm_stack` bytes: that budget plus room
/// for the body, the runtime's entry frames and host functions below the guest frames.
pub fn stack_size_for(max_wasm_stack: usize) -> usize {
    max_wasm_stack.saturating_add(256 * 1024)
}

/// An mmap'd region: `[base, base + GUARD_SIZE)` guard, then the usable stack up to `base + len`.
struct Mapping {
    base: usize,
    len: usize,
}

thread_local! {
    /// Released stacks of this thread, reused by [`FiberStack::new`].
    static POOL: RefCell<Vec<Mapping>> = const { RefCell::new(Vec::new()) };
    /// The innermost fiber running on this thread (null on the thread's own stack).
    static CURRENT: Cell<*const Inner> = const { Cell::new(std::ptr::null()) };
    /// Every fiber created on this thread and not dropped (an intrusive list through
    /// `Inner::prev`/`next`): the exception collector scans their stacks.
    static ALL: Cell<*const Inner> = const { Cell::new(std::ptr::null()) };
    /// This thread's id, cached (resume checks it on every call).
    static THREAD: ThreadId = std::thread::current().id();
}

fn thread_id() -> ThreadId {
    THREAD.with(|t| *t)
}

/// A stack for fibers: mmap'd with a `PROT_NONE` guard below it, reused through a per-thread
/// pool when dropped.
pub struct FiberStack {
    map: Mapping,
}

impl FiberStack {
    /// A stack of `size` usable bytes (rounded up to pages), from the pool when it has one of
    /// that size.
    pub fn new(size: usize) -> Result<FiberStack, Error> {
        let page = crate::traps::page_size();
        let (size, len) = size
            .max(page)
            .checked_next_multiple_of(page)
            .and_then(|size| Some((size, size.checked_add(GUARD_SIZE)?)))
            .ok_or_else(|| Error::Other("fiber stack size too large".into()))?;
        let reused = POOL.with(|p| {
            let mut p = p.borrow_mut();
            let i = p.iter().rposition(|m| m.len == len)?;
            Some(p.swap_remove(i))
        });
        if let Some(map) = reused {
            return Ok(FiberStack { map });
        }
        // SAFETY: a fresh anonymous mapping; only its guard part is reprotected and advised.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return Err(Error::Other(format!(
                    "cannot map a fiber stack of {size} bytes: {}",
                    std::io::Error::last_os_error()
                )));
            }
            let map = Mapping {
                base: base as usize,
                len,
            };
            if libc::mprotect(base, GUARD_SIZE, libc::PROT_NONE) != 0 {
                let e = std::io::Error::last_os_error();
                // `map` unmaps on drop.
                return Err(Error::Other(format!(
                    "cannot protect a fiber stack guard: {e}"
                )));
            }
            // Best effort: a guard in a core dump is only noise.
            libc::madvise(base, GUARD_SIZE, libc::MADV_DONTDUMP);
            Ok(FiberStack { map })
        }
    }

    /// The lowest usable address (just above the guard).
    pub(crate) fn bottom(&self) -> usize {
        self.map.base + GUARD_SIZE
    }

    /// One past the highest usable address (16-byte aligned).
    pub(crate) fn top(&self) -> usize {
        self.map.base + self.map.len
    }
}

impl Drop for FiberStack {
    fn drop(&mut self) {
        let map = std::mem::replace(&mut self.map, Mapping { base: 0, len: 0 });
        // Kept for reuse while the pool has room (a full pool, or a thread exiting, unmaps).
        let _ = POOL.try_with(move |p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_MAX {
                p.push(map);
            }
        });
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: our own mapping, no longer used by any fiber.
            unsafe { libc::munmap(self.base as *mut c_void, self.len) };
        }
    }
}

/// `suspend` was called on a fiber being dropped (or off any fiber): unwind and return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the task was cancelled")
    }
}

impl std::error::Error for Cancelled {}

impl From<Cancelled> for Trap {
    fn from(_: Cancelled) -> Trap {
        Trap::host("the task was cancelled")
    }
}

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum State {
    NotStarted,
    Running,
    Suspended,
    Finished,
}

/// A fiber's state, at a fixed heap address (the fiber's entry frame refers to it).
struct Inner {
    stack: FiberStack,
    body: Cell<Option<Box<dyn FnOnce() + 'static>>>,
    state: Cell<State>,
    cancel: Cell<bool>,
    /// The fiber's saved stack pointer while it does not run.
    fiber_sp: Cell<usize>,
    /// The resumer's saved stack pointer while the fiber runs.
    resumer_sp: Cell<usize>,
    /// The fiber's trap state while it does not run.
    chain: Cell<crate::traps::Chain>,
    /// The resumer's trap state while the fiber runs.
    resumer_chain: Cell<crate::traps::Chain>,
    /// Links of the creating thread's list of fibers ([`ALL`]).
    prev: Cell<*const Inner>,
    next: Cell<*const Inner>,
    /// The fiber running when this one was resumed (null: the thread's stack).
    parent: Cell<*const Inner>,
    /// A panic of the body, resumed in the resumer.
    panic: Cell<Option<Box<dyn Any + Send>>>,
    thread: ThreadId,
}

/// A body running on its own stack, suspended with [`suspend`] and resumed with
/// [`Fiber::resume`] on the thread that created it.
pub struct Fiber {
    inner: NonNull<Inner>,
}

// SAFETY: a `Fiber` may be moved to another thread, but nothing there touches its thread-bound
// parts: `resume` refuses to run it and `drop` leaks it (see `Drop`); `is_finished` reads a
// `Cell` of a fiber that cannot be running (running needs the owner's `&mut` on its thread).
unsafe impl Send for Fiber {}

impl Fiber {
    /// A fiber that will run `body` on `stack` at its first [`Fiber::resume`].
    pub fn new(stack: FiberStack, body: Box<dyn FnOnce() + 'static>) -> Fiber {
        let inner = Box::new(Inner {
            fiber_sp: Cell::new(0),
            body: Cell::new(Some(body)),
            state: Cell::new(State::NotStarted),
            cancel: Cell::new(false),
            resumer_sp: Cell::new(0),
            chain: Cell::new(crate::traps::Chain::new_for_stack(stack.bottom())),
            resumer_chain: Cell::new(crate::traps::Chain::default()),
            prev: Cell::new(std::ptr::null()),
            next: Cell::new(std::ptr::null()),
            parent: Cell::new(std::ptr::null()),
            panic: Cell::new(None),
            thread: thread_id(),
            stack,
        });
        let inner = NonNull::from(Box::leak(inner));
        // SAFETY: the stack is ours and unused; the initial frame lies inside it.
        let sp = unsafe { initial_frame(inner.as_ref().stack.top(), inner.as_ptr()) };
        // SAFETY: just allocated above.
        let r = unsafe { inner.as_ref() };
        r.fiber_sp.set(sp);
        ALL.with(|head| {
            let old = head.replace(inner.as_ptr());
            r.next.set(old);
            // SAFETY: list members are alive until their drop unlinks them.
            if let Some(old) = unsafe { old.as_ref() } {
                old.prev.set(inner.as_ptr());
            }
        });
        Fiber { inner }
    }

    fn inner(&self) -> &Inner {
        // SAFETY: owned by this `Fiber` until its drop; only shared access through `Cell`s.
        unsafe { self.inner.as_ref() }
    }

    /// Runs the fiber until it suspends (`Ok(false)`) or its body returns (`Ok(true)`); only
    /// on the thread that created it, and not while it runs (an error otherwise). A panic of
    /// the body continues in the caller.
    pub fn resume(&mut self) -> Result<bool, Error> {
        let inner = self.inner();
        if inner.thread != thread_id() {
            return Err(Error::Other(
                "a fiber can only be resumed on the thread that created it".into(),
            ));
        }
        match inner.state.get() {
            State::Finished => return Err(Error::Other("the fiber has finished".into())),
            State::Running => return Err(Error::Other("the fiber is already running".into())),
            State::NotStarted | State::Suspended => {}
        }
        // SAFETY: on the creating thread, the fiber neither running nor finished.
        let panic = unsafe { self.switch_in() };
        if let Some(p) = panic {
            std::panic::resume_unwind(p);
        }
        Ok(self.inner().state.get() == State::Finished)
    }

    /// Switches to the fiber until it suspends or finishes; returns its panic, if any.
    ///
    /// # Safety
    /// On the creating thread, with the fiber not started or suspended.
    unsafe fn switch_in(&mut self) -> Option<Box<dyn Any + Send>> {
        let inner = self.inner();
        crate::traps::init_traps();
        crate::traps::ensure_alt_stack();
        // SAFETY: the fiber's saved chain (its activations live on its suspended stack, or it
        // has none yet); the resumer's is installed again below, before this stack runs on.
        let resumer = unsafe { crate::traps::swap_chain(inner.chain.take()) };
        inner.resumer_chain.set(resumer);
        inner
            .parent
            .set(CURRENT.with(|c| c.replace(self.inner.as_ptr())));
        inner.state.set(State::Running);
        // SAFETY: `fiber_sp` is the fiber's saved context (initial frame or a `suspend`);
        // `resumer_sp` receives ours. The fiber switches back here when it suspends or ends.
        unsafe { switch(inner.resumer_sp.as_ptr(), inner.fiber_sp.get()) };
        CURRENT.with(|c| c.set(inner.parent.get()));
        // SAFETY: back on the resumer's stack, whose chain was saved above; the fiber's, saved
        // here, is installed again by the next resume.
        let resumer = inner.resumer_chain.take();
        inner
            .chain
            .set(unsafe { crate::traps::swap_chain(resumer) });
        inner.panic.take()
    }

    /// Whether the body has returned.
    pub fn is_finished(&self) -> bool {
        self.inner().state.get() == State::Finished
    }
}

impl Drop for Fiber {
    fn drop(&mut self) {
        let inner = self.inner();
        if inner.thread != thread_id() {
            // Its frames and body belong to another thread: leak them (see the module docs).
            return;
        }
        match inner.state.get() {
            State::Running => {
                // Only code running on the fiber (or one it resumed) can hold it now: its
                // stack cannot be freed under it, and nothing else is safe.
                eprintln!("kiln: a running fiber was dropped; aborting");
                std::process::abort();
            }
            State::Suspended if crate::traps::thread_exiting() => {
                // Dropped by a thread-local destructor after the trap state's: the cancelled
                // frames could not unwind safely any more, so they are leaked with the stack.
                return;
            }
            State::Suspended => {
                inner.cancel.set(true);
                // `suspend` returns at once once cancelled, so the body runs to its end.
                while self.inner().state.get() == State::Suspended {
                    // SAFETY: on the creating thread, the fiber suspended; a panic of the
                    // cancelled body is dropped (a drop must not unwind).
                    drop(unsafe { self.switch_in() });
                }
            }
            State::NotStarted | State::Finished => {}
        }
        let inner = self.inner();
        let (prev, next) = (inner.prev.get(), inner.next.get());
        // SAFETY: list members are alive until their drop unlinks them (this thread's only).
        unsafe {
            match prev.as_ref() {
                Some(p) => p.next.set(next),
                None => ALL.with(|h| h.set(next)),
            }
            if let Some(n) = next.as_ref() {
                n.prev.set(prev);
            }
        }
        // SAFETY: allocated with `Box` in `new`, unlinked above; nothing refers to it any more
        // (the fiber never started or has returned from its body, so no frame on its stack is
        // live).
        drop(unsafe { Box::from_raw(self.inner.as_ptr()) });
    }
}

/// Called by code running on a fiber: switches back to whoever resumed it, returning when it
/// is resumed. `Err(Cancelled)` when the fiber is being dropped (and off any fiber): the
/// caller must then unwind (a host function returns a trap) so the body returns.
pub fn suspend() -> Result<(), Cancelled> {
    let cur = CURRENT.with(|c| c.get());
    if cur.is_null() {
        return Err(Cancelled);
    }
    // SAFETY: the running fiber's state, alive while it runs (its `Fiber` is borrowed by the
    // `resume` or drop that switched to it).
    let inner = unsafe { &*cur };
    if inner.cancel.get() {
        return Err(Cancelled);
    }
    inner.state.set(State::Suspended);
    // SAFETY: `resumer_sp` is the context saved by the `resume` running this fiber; ours goes
    // to `fiber_sp` for the next resume.
    unsafe { switch(inner.fiber_sp.as_ptr(), inner.resumer_sp.get()) };
    if inner.cancel.get() {
        Err(Cancelled)
    } else {
        Ok(())
    }
}

/// Calls `visit(saved sp, chain)` for every stack of this thread's fibers that is parked: a
/// suspended fiber's own, and the resumer's of a running one (each stack of the thread that
/// is not the current one appears once).
pub(crate) fn for_each_parked(visit: &mut dyn FnMut(usize, crate::traps::Chain)) {
    let mut cur = ALL.with(|h| h.get());
    // SAFETY: list members are alive until their drop unlinks them.
    while let Some(f) = unsafe { cur.as_ref() } {
        match f.state.get() {
            State::Suspended => visit(f.fiber_sp.get(), f.chain.get()),
            State::Running => visit(f.resumer_sp.get(), f.resumer_chain.get()),
            State::NotStarted | State::Finished => {}
        }
        cur = f.next.get();
    }
}

/// Whether the current code runs on a fiber (false on a thread's own stack).
pub fn on_fiber() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

/// Saves the callee-saved state on the current stack, stores `rsp` in `*save`, loads `rsp =
/// to` and restores the state saved there (by an earlier `switch` or [`initial_frame`]).
///
/// Frame, from the saved `rsp` up: MXCSR (4 bytes) and x87 control word (2), padding, r15,
/// r14, r13, r12, rbx, rbp, return address.
///
/// # Safety
/// `to` must be a context saved by `switch` or built by [`initial_frame`], on a live stack.
#[unsafe(naked)]
unsafe extern "C" fn switch(save: *mut usize, to: usize) {
    core::arch::naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 8",
        "stmxcsr [rsp]",
        "fnstcw [rsp + 4]",
        "mov [rdi], rsp",
        "mov rsp, rsi",
        "ldmxcsr [rsp]",
        "fldcw [rsp + 4]",
        "add rsp, 8",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// Default MXCSR (all exceptions masked, round to nearest) and x87 control word (extended
/// precision, all exceptions masked), packed as [`switch`] stores them.
const INITIAL_FP_CONTROL: usize = 0x1F80 | (0x037F << 32);

/// Writes the frame the first [`switch`] to a fiber pops: zeroed registers except `rbx =
/// inner`, returning into [`fiber_start`] with a 16-byte aligned `rsp`. Returns the fiber's
/// initial stack pointer.
///
/// # Safety
/// `top` is the 16-byte aligned top of an unused stack of at least 128 bytes.
unsafe fn initial_frame(top: usize, inner: *const Inner) -> usize {
    // 16 zero bytes at the top (no caller), then the 8 words `switch` pops.
    let sp = top - 16 - 64;
    let words: [usize; 10] = [
        INITIAL_FP_CONTROL,
        0,                                 // r15
        0,                                 // r14
        0,                                 // r13
        0,                                 // r12
        inner as usize,                    // rbx
        0,                                 // rbp
        fiber_start as *const () as usize, // return address
        0,
        0,
    ];
    // SAFETY: `[sp, top)` lies in the caller's unused stack.
    unsafe { std::ptr::copy_nonoverlapping(words.as_ptr(), sp as *mut usize, words.len()) };
    sp
}

/// The outermost frame of every fiber: `rbp = 0` and an undefined return address (CFI) end
/// frame-pointer walks and unwinding here; calls [`fiber_main`] with the `Inner` in `rbx`.
#[unsafe(naked)]
unsafe extern "C" fn fiber_start() -> ! {
    core::arch::naked_asm!(
        ".cfi_startproc",
        ".cfi_undefined rip",
        "xor ebp, ebp",
        "mov rdi, rbx",
        "call {main}",
        "ud2",
        ".cfi_endproc",
        main = sym fiber_main,
    )
}

/// Runs the body (catching a panic for the resumer), marks the fiber finished and switches
/// back for good.
unsafe extern "C" fn fiber_main(inner: *const Inner) -> ! {
    {
        // SAFETY: the fiber's state outlives its stack's use (freed only once finished).
        let inner = unsafe { &*inner };
        if let Some(body) = inner.body.take() {
            if !inner.cancel.get() {
                if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                    inner.panic.set(Some(p));
                }
            }
        }
        inner.state.set(State::Finished);
    }
    // SAFETY: as above; every Rust value of this frame was dropped, and this stack is never
    // switched to again (the `fiber_sp` written here is not used).
    unsafe {
        let inner = &*inner;
        switch(inner.fiber_sp.as_ptr(), inner.resumer_sp.get());
    }
    // Unreachable: a finished fiber is never resumed.
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn fiber(body: impl FnOnce() + 'static) -> Fiber {
        Fiber::new(FiberStack::new(64 * 1024).unwrap(), Box::new(body))
    }

    #[test]
    fn runs_suspends_and_finishes() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        let mut f = fiber(move || {
            assert!(on_fiber());
            l.borrow_mut().push(1);
            suspend().unwrap();
            l.borrow_mut().push(3);
        });
        assert!(!on_fiber());
        assert!(!f.resume().unwrap());
        log.borrow_mut().push(2);
        assert!(f.resume().unwrap());
        assert!(f.is_finished());
        assert_eq!(*log.borrow(), [1, 2, 3]);
        assert!(f.resume().is_err());
        assert_eq!(suspend(), Err(Cancelled), "off a fiber");
    }

    #[test]
    fn nested_fibers_and_float_state() {
        let mut outer = fiber(|| {
            let mut inner = fiber(|| {
                suspend().unwrap();
            });
            assert!(!inner.resume().unwrap());
            suspend().unwrap();
            assert!(inner.resume().unwrap());
        });
        assert!(!outer.resume().unwrap());
        assert!(outer.resume().unwrap());
        // Callee-saved floats survive a switch.
        let x = std::hint::black_box(1.5f64);
        let mut f = fiber(|| {
            let y = std::hint::black_box(2.25f64);
            suspend().unwrap();
            assert_eq!(y * 2.0, 4.5);
        });
        f.resume().unwrap();
        f.resume().unwrap();
        assert_eq!(x * 2.0, 3.0);
    }

    #[test]
    fn drop_cancels_and_panics_propagate() {
        let dropped = Rc::new(Cell::new(0));
        let d = dropped.clone();
        let mut f = fiber(move || {
            struct Guard(Rc<Cell<i32>>);
            impl Drop for Guard {
                fn drop(&mut self) {
                    self.0.set(self.0.get() + 1);
                }
            }
            let _g = Guard(d);
            assert_eq!(suspend(), Err(Cancelled));
            assert_eq!(suspend(), Err(Cancelled));
        });
        f.resume().unwrap();
        drop(f);
        assert_eq!(dropped.get(), 1);
        // Never started: the body is dropped without running.
        let d = dropped.clone();
        drop(fiber(move || d.set(100)));
        assert_eq!(dropped.get(), 1);
        let mut p = fiber(|| panic!("boom"));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.resume()));
        assert!(r.is_err());
        assert!(p.is_finished());
    }

    #[test]
    fn stacks_are_pooled_and_guarded() {
        let a = FiberStack::new(100_000).unwrap();
        let (bottom, top) = (a.bottom(), a.top());
        assert_eq!(top % 16, 0);
        assert!(top - bottom >= 100_000);
        drop(a);
        let b = FiberStack::new(100_000).unwrap();
        assert_eq!(b.bottom(), bottom, "reused from the pool");
        // The guard below is mapped without access.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let guard = maps
            .lines()
            .find_map(|l| {
                let (range, rest) = l.split_once(' ')?;
                let (lo, hi) = range.split_once('-')?;
                let (lo, hi) = (
                    usize::from_str_radix(lo, 16).ok()?,
                    usize::from_str_radix(hi, 16).ok()?,
                );
                (lo < bottom && bottom - 1 < hi).then(|| (hi, rest[..4].to_string()))
            })
            .unwrap();
        assert_eq!(guard, (bottom, "---p".to_string()));
        assert!(FiberStack::new(usize::MAX - 100).is_err());
        assert!(FiberStack::new(1 << 62).is_err());
    }

    #[test]
    fn each_stack_keeps_its_trap_state() {
        use crate::traps::{last_exit, record_exit};
        record_exit(1, 2);
        let mut f = fiber(|| {
            assert_eq!(last_exit(), (0, 0), "a fresh chain");
            record_exit(3, 4);
            suspend().unwrap();
            assert_eq!(last_exit(), (3, 4));
        });
        f.resume().unwrap();
        assert_eq!(last_exit(), (1, 2));
        record_exit(5, 6);
        f.resume().unwrap();
        assert_eq!(last_exit(), (5, 6));
    }

    #[test]
    fn backtraces_end_at_the_fiber_entry() {
        let mut f = fiber(|| {
            let bt = std::backtrace::Backtrace::force_capture().to_string();
            assert!(bt.contains("fiber_main"), "{bt}");
            // The walk stops at the entry frame: nothing of the resumer's stack (this test
            // function) appears.
            assert!(!bt.contains("backtraces_end_at_the_fiber_entry::h"), "{bt}");
            // SAFETY: the running fiber's state.
            let (bottom, top) = CURRENT.with(|c| unsafe {
                let s = &(*c.get()).stack;
                (s.bottom(), s.top())
            });
            let mut fp: usize;
            // SAFETY: reads the frame pointer register.
            unsafe { std::arch::asm!("mov {}, rbp", out(reg) fp) };
            // The frame-pointer chain (kept in debug builds) ends at the entry frame's 0.
            while fp >= bottom && fp + 16 <= top && fp.is_multiple_of(8) {
                // SAFETY: a word of this fiber's live stack (checked just above).
                fp = unsafe { *(fp as *const usize) };
            }
            if cfg!(debug_assertions) {
                assert_eq!(fp, 0);
            }
        });
        assert!(f.resume().unwrap());
    }

    /// Prints (does not assert) the cost of a suspend + resume round trip and of creating,
    /// running and dropping a fiber with a pooled stack.
    #[test]
    fn costs() {
        let n = 200_000u32;
        let mut f = fiber(|| while suspend().is_ok() {});
        f.resume().unwrap();
        let t = std::time::Instant::now();
        for _ in 0..n {
            f.resume().unwrap();
        }
        let round_trip = t.elapsed().as_nanos() / u128::from(n);
        let m = 50_000u32;
        let t = std::time::Instant::now();
        for _ in 0..m {
            let mut f = fiber(|| {});
            f.resume().unwrap();
        }
        let create = t.elapsed().as_nanos() / u128::from(m);
        println!("fiber: suspend+resume {round_trip} ns, create+run+drop (pooled) {create} ns");
    }

    #[test]
    fn suspended_fibers_in_thread_locals_at_thread_exit() {
        thread_local! {
            static KEPT: RefCell<Vec<Fiber>> = const { RefCell::new(Vec::new()) };
        }
        std::thread::spawn(|| {
            for _ in 0..3 {
                let mut f = fiber(|| while suspend().is_ok() {});
                f.resume().unwrap();
                KEPT.with(|k| k.borrow_mut().push(f));
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn resume_elsewhere_is_refused() {
        let mut f = fiber(|| suspend().unwrap());
        f.resume().unwrap();
        let f = std::thread::spawn(move || {
            assert!(f.resume().is_err());
            f
        })
        .join()
        .unwrap();
        let mut f = f;
        assert!(f.resume().unwrap());
    }
}

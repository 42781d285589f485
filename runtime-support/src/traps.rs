//! Trap handling: signal handlers, trap-catching entry points, unwinding and backtraces.
//!
//! Every call from the host into guest code goes through [`catch_traps`], which publishes a
//! [`CallThreadState`] in a thread-local and calls the guest from `kiln_call_catching` (in
//! `traps.c`, which owns the `sigsetjmp`). A trap reaches that entry point in one of three ways:
//!
//! - a signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE) whose PC lies in registered guest code: the
//!   handler (running on the per-thread alternate stack) records the PC, the faulting address and
//!   the frame-pointer chain, then `siglongjmp`s out;
//! - a builtin that fails (bounds errors, `raise_trap`, `out_of_epoch`): it drops its Rust values,
//!   then calls [`raise_trap`];
//! - a host function returning `Err(Trap)`: the host-call wrapper drops everything, then calls
//!   [`raise_user_trap`].
//!
//! Builtins and host calls are entered through small naked wrappers (`builtins.rs`, `func.rs`)
//! that record the guest's frame pointer and return address with [`record_exit`], so those traps
//! get a backtrace too. Symbolization (function names, wasm offsets) happens after unwinding, in
//! normal context, from the code registry kept here.
//!
//! Each stack has its own activation chain: a fiber (`fiber.rs`) runs with its own `STATE`,
//! `EXIT` and stack bottom, installed by [`swap_chain`] when it is resumed and swapped back
//! when it suspends, so a trap always unwinds to an entry on the stack it happened on.

use crate::error::{FrameInfo, Trap};
use crate::module::ModuleInner;
use kiln_environ::TrapKind;
use std::cell::{Cell, UnsafeCell};
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::sync::{Arc, Once, RwLock, Weak};

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("kiln-runtime supports x86_64 Linux only");

extern "C" {
    fn kiln_call_catching(
        body: unsafe extern "C" fn(*mut c_void),
        data: *mut c_void,
        slot: *mut *mut c_void,
    ) -> i32;
    fn kiln_unwind(buf: *mut c_void) -> !;
}

mod chain;
pub(crate) use chain::{parked_guest_stacks, swap_chain, Chain};

/// Maximum number of frames recorded for a backtrace.
const MAX_FRAMES: usize = 256;

/// Size of the alternate signal stack the runtime allocates when a thread has none (or a small one).
const ALT_STACK_SIZE: usize = 64 * 1024;

/// A registered range of guest code (one per distinct text address: loading the same `.so`
/// twice gives the same mapping, so several modules may share a range).
struct CodeRange {
    end: usize,
    modules: Vec<Weak<ModuleInner>>,
}

/// Every loaded module's text range, keyed by start address.
static CODE: RwLock<BTreeMap<usize, CodeRange>> = RwLock::new(BTreeMap::new());

/// Registers `[start, start + len)` as guest code of `module`.
pub(crate) fn register_code(start: usize, len: usize, module: Weak<ModuleInner>) {
    let mut map = CODE.write().unwrap_or_else(|e| e.into_inner());
    let r = map.entry(start).or_insert_with(|| CodeRange {
        end: start + len,
        modules: Vec::new(),
    });
    r.end = r.end.max(start + len);
    r.modules.push(module);
}

/// Removes `module`'s registration of the range at `start`.
pub(crate) fn unregister_code(start: usize, module: *const ModuleInner) {
    let mut map = CODE.write().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = map.get_mut(&start) {
        r.modules.retain(|w| w.as_ptr() != module);
        if r.modules.is_empty() {
            map.remove(&start);
        }
    }
}

fn in_code(map: &BTreeMap<usize, CodeRange>, pc: usize) -> bool {
    map.range(..=pc)
        .next_back()
        .is_some_and(|(_, r)| pc < r.end)
}

/// The module whose code contains `pc`.
pub(crate) fn module_at(pc: usize) -> Option<Arc<ModuleInner>> {
    let map = CODE.read().unwrap_or_else(|e| e.into_inner());
    let (_, r) = map.range(..=pc).next_back()?;
    if pc < r.end {
        r.modules.iter().find_map(|w| w.upgrade())
    } else {
        None
    }
}

/// Whether `pc` lies in registered guest code.
pub fn is_guest_pc(pc: usize) -> bool {
    let map = CODE.read().unwrap_or_else(|e| e.into_inner());
    in_code(&map, pc)
}

/// How the current activation is being unwound.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Reason {
    None,
    Signal,
    Builtin(TrapKind),
    User,
}

/// Per-activation state of one host-to-guest entry, linked to the enclosing one.
pub(crate) struct CallThreadState {
    jmp_buf: Cell<*mut c_void>,
    prev: *const CallThreadState,
    entry_sp: usize,
    stack_limit: usize,
    /// Number of activations in this chain up to and including this one.
    depth: usize,
    /// The store context of the store this activation runs (null: none).
    store: *const crate::vm::VMStoreContext,
    reason: Cell<Reason>,
    signum: Cell<i32>,
    fault_addr: Cell<usize>,
    fault_sp: Cell<usize>,
    /// The thread's backtrace buffer ([`frame_buffer`]); only the first `num_frames` entries
    /// are written, by a trap of this activation (the innermost one: a trap unwinds to it and
    /// its `into_trap` reads them before anything else can run guest code on the thread).
    frames: *mut [MaybeUninit<usize>; MAX_FRAMES],
    num_frames: Cell<usize>,
    user_trap: UnsafeCell<Option<Trap>>,
}

thread_local! {
    static STATE: Cell<*const CallThreadState> = const { Cell::new(std::ptr::null()) };
    static EXIT: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// The usable bottom of the running fiber's stack (0 on the thread's own stack).
    static FIBER_BOTTOM: Cell<usize> = const { Cell::new(0) };
    /// Live activations of this thread in all chains (the running one and suspended fibers').
    static ACTIVE: Cell<usize> = const { Cell::new(0) };
    static ALT_READY: Cell<bool> = const { Cell::new(false) };
    static ALT_STACK: UnsafeCell<Option<AltStack>> = const { UnsafeCell::new(None) };
    static FRAMES: FrameBuffer = const { FrameBuffer(Cell::new(std::ptr::null_mut())) };
}

/// A thread's backtrace buffer (see [`frame_buffer`]), freed when the thread exits.
struct FrameBuffer(Cell<*mut [MaybeUninit<usize>; MAX_FRAMES]>);

impl Drop for FrameBuffer {
    fn drop(&mut self) {
        let p = self.0.get();
        if !p.is_null() {
            // SAFETY: allocated by `frame_buffer` with `Box::new`; the thread is exiting, so no
            // activation of it can refer to the buffer any more.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

/// Whether the thread is being torn down past the point where its trap state can be used
/// (its backtrace buffer was freed): no guest code may run on it any more.
pub(crate) fn thread_exiting() -> bool {
    FRAMES.try_with(|_| ()).is_err()
}

/// The current thread's backtrace buffer, allocated at its first entry into guest code (never
/// in the signal handler) and kept for the thread's life: entries stay small (no 2 KiB array
/// in every activation's frame) and pay nothing for it.
fn frame_buffer() -> *mut [MaybeUninit<usize>; MAX_FRAMES] {
    FRAMES.with(|f| {
        let p = f.0.get();
        if !p.is_null() {
            return p;
        }
        let p = Box::into_raw(Box::new([const { MaybeUninit::uninit() }; MAX_FRAMES]));
        f.0.set(p);
        p
    })
}

/// The body of a naked guest-to-runtime exit wrapper: records the guest's frame pointer and
/// return address with [`record_exit`] (for trap backtraces), preserving the six argument
/// registers, then tail-jumps to `$target`, which sees the original arguments.
macro_rules! exit_to_runtime {
    ($target:path) => {
        core::arch::naked_asm!(
            "push rbp",
            "mov rbp, rsp",
            "push rdi",
            "push rsi",
            "push rdx",
            "push rcx",
            "push r8",
            "push r9",
            "mov rdi, [rbp]",
            "mov rsi, [rbp + 8]",
            "call {record}",
            "pop r9",
            "pop r8",
            "pop rcx",
            "pop rdx",
            "pop rsi",
            "pop rdi",
            "pop rbp",
            "jmp {target}",
            record = sym $crate::traps::record_exit,
            target = sym $target,
        )
    };
}
pub(crate) use exit_to_runtime;

/// Records the guest frame pointer and return address at a guest-to-runtime exit (called by
/// the naked builtin and host-call wrappers).
pub(crate) extern "C" fn record_exit(fp: usize, pc: usize) {
    EXIT.with(|e| e.set((fp, pc)));
}

/// The last recorded guest exit (frame pointer, return address).
pub(crate) fn last_exit() -> (usize, usize) {
    EXIT.with(|e| e.get())
}

/// The stack range of the innermost activation below the caller: `[current sp, entry sp)`.
pub(crate) fn activation_stack() -> Option<(usize, usize)> {
    let state = STATE.with(|s| s.get());
    if state.is_null() {
        return None;
    }
    // SAFETY: `state` is this thread's innermost live activation.
    Some((current_sp(), unsafe { (*state).entry_sp }))
}

/// The outermost entry's stack pointer: every guest frame of the current stack (of all nested
/// calls, with the host frames between them) lies below it. The thread's other stacks holding
/// guest frames are listed by [`parked_guest_stacks`].
pub(crate) fn thread_guest_stack_top() -> Option<usize> {
    let mut state = STATE.with(|s| s.get());
    if state.is_null() {
        return None;
    }
    // SAFETY: the chain links this thread's live activations, innermost first.
    unsafe {
        while !(*state).prev.is_null() {
            state = (*state).prev;
        }
        Some((*state).entry_sp)
    }
}

/// Restores a guest exit saved with [`last_exit`] (after nested calls overwrote it).
pub(crate) fn set_exit(exit: (usize, usize)) {
    EXIT.with(|e| e.set(exit));
}

fn current_sp() -> usize {
    let sp: usize;
    // SAFETY: reads the stack pointer register; no memory access.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    sp
}

unsafe extern "C" fn call_body(data: *mut c_void) {
    // SAFETY: `data` is the `&mut &mut dyn FnMut()` passed by `catch_traps`, alive for the call.
    let body = unsafe { &mut *data.cast::<&mut dyn FnMut()>() };
    body();
}

/// Room left below the stack limit for host code (builtins, host functions, the trap
/// handler's callers) when the limit is clamped to the thread's stack.
const HOST_STACK_RESERVE: usize = 128 * 1024;

/// The lowest usable address of the current stack (above its guard page), or 0 when
/// unknown: the running fiber's, or the thread's (computed once per thread).
fn stack_bottom() -> usize {
    thread_local! {
        static BOTTOM: Cell<Option<usize>> = const { Cell::new(None) };
    }
    let fiber = FIBER_BOTTOM.with(|b| b.get());
    if fiber != 0 {
        return fiber;
    }
    BOTTOM.with(|b| {
        if let Some(v) = b.get() {
            return v;
        }
        let mut v = 0usize;
        // SAFETY: `attr` is initialized by `pthread_getattr_np` before it is read and
        // destroyed after; the out-pointers are valid locals.
        unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
                let mut addr: *mut c_void = std::ptr::null_mut();
                let mut size = 0usize;
                if libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0 {
                    let mut guard = 0usize;
                    libc::pthread_attr_getguardsize(&attr, &mut guard);
                    v = addr as usize + guard;
                }
                libc::pthread_attr_destroy(&mut attr);
            }
        }
        b.set(Some(v));
        v
    })
}

/// The stack limit of the current stack's activations: set at its outermost entry into guest
/// code to `sp - max_wasm_stack`, raised if needed so that [`HOST_STACK_RESERVE`] bytes remain
/// above the stack's bottom (the thread's, or the running fiber's: each stack has its own
/// chain); nested entries (host functions calling back into guests, of any store) keep it.
fn thread_stack_limit(prev: *const CallThreadState, sp: usize, max_wasm_stack: usize) -> usize {
    if !prev.is_null() {
        // SAFETY: `prev` is the enclosing activation, alive further up this thread's stack.
        return unsafe { (*prev).stack_limit };
    }
    let limit = sp.saturating_sub(max_wasm_stack);
    let bottom = stack_bottom();
    if bottom == 0 {
        return limit;
    }
    limit.max(bottom.saturating_add(HOST_STACK_RESERVE))
}

/// The store context of the innermost activation on this thread that runs a store (null when
/// there is none): what host-side loops of a call check the deadline of.
pub(crate) fn current_store() -> *const crate::vm::VMStoreContext {
    let mut cur = STATE.with(|s| s.get());
    while !cur.is_null() {
        // SAFETY: activations on this thread's stack are alive while they are linked.
        let st = unsafe { &*cur };
        if !st.store.is_null() {
            return st.store;
        }
        cur = st.prev;
    }
    std::ptr::null()
}

/// Whether the current thread is inside a guest activation whose stack limit leaves less than
/// `need` bytes of stack: host functions and builtins check this before running, so stack
/// exhaustion in them is a trap, not a crash.
pub(crate) fn host_stack_exhausted(need: usize) -> bool {
    let cur = STATE.with(|s| s.get());
    if cur.is_null() {
        return false;
    }
    // SAFETY: the current activation, alive further up this thread's stack.
    let limit = unsafe { (*cur).stack_limit };
    let bottom = stack_bottom();
    let floor = if bottom == 0 {
        limit.saturating_sub(HOST_STACK_RESERVE)
    } else {
        bottom
    };
    current_sp() < floor.saturating_add(need)
}

/// Runs `body` (which calls guest code) so that guest traps become `Err(Trap)`.
///
/// The thread's stack limit (see [`thread_stack_limit`]) is written into `store`, the context
/// of the store `body` runs guest code of, which the calling thread has entered
/// (`store::enter`); compiled code of every instance of that store reads it from there.
///
/// # Safety
/// `body` must not hold values with destructors across the guest call (a trap skips its frame),
/// and `store` must be null or a live store context entered by this thread.
pub(crate) unsafe fn catch_traps(
    max_wasm_stack: usize,
    store: *const crate::vm::VMStoreContext,
    mut body: &mut dyn FnMut(),
) -> Result<(), Trap> {
    init_traps();
    ensure_alt_stack();
    let prev = STATE.with(|s| s.get());
    let sp = current_sp();
    let stack_limit = thread_stack_limit(prev, sp, max_wasm_stack);
    // SAFETY: caller contract: null or a live context this thread owns.
    if let Some(ctx) = unsafe { store.as_ref() } {
        ctx.stack_limit
            .store(stack_limit, std::sync::atomic::Ordering::Relaxed);
    }
    let state = CallThreadState {
        jmp_buf: Cell::new(std::ptr::null_mut()),
        prev,
        entry_sp: sp,
        stack_limit,
        // SAFETY: `prev` is null or the enclosing live activation.
        depth: unsafe { prev.as_ref() }.map_or(1, |p| p.depth + 1),
        store,
        reason: Cell::new(Reason::None),
        signum: Cell::new(0),
        fault_addr: Cell::new(0),
        fault_sp: Cell::new(0),
        frames: frame_buffer(),
        num_frames: Cell::new(0),
        user_trap: UnsafeCell::new(None),
    };
    let saved_exit = last_exit();
    ACTIVE.with(|a| a.set(a.get() + 1));
    STATE.with(|s| s.set(&state));
    // SAFETY: `call_body` gets a pointer to `body` (alive across the call); `jmp_buf` is the slot
    // `kiln_call_catching` publishes its jump buffer through, read only while it is on the stack.
    let ret = unsafe {
        kiln_call_catching(
            call_body,
            (&mut body as *mut &mut dyn FnMut()).cast(),
            state.jmp_buf.as_ptr(),
        )
    };
    STATE.with(|s| s.set(state.prev));
    set_exit(saved_exit);
    let active = ACTIVE.with(|a| {
        a.set(a.get() - 1);
        a.get()
    });
    if active == 0 {
        // The thread's last activation (of every stack) returned: no guest frame can hold an
        // exception reference now. (A fiber's outermost entry returning while its resumer or
        // another suspended fiber still has activations does not reset.)
        crate::exn_heap::reset();
    }
    if ret == 0 {
        return Ok(());
    }
    Err(state.into_trap())
}

impl CallThreadState {
    #[cold]
    #[inline(never)]
    fn into_trap(self) -> Trap {
        // SAFETY: the thread's buffer (alive for the thread); this activation is the innermost
        // and the trap path that wrote it has finished.
        let buffer = unsafe { &*self.frames };
        let frames: Vec<usize> = buffer[..self.num_frames.get()]
            .iter()
            // SAFETY: `record_frames` wrote every entry below `num_frames`.
            .map(|f| unsafe { f.assume_init() })
            .collect();
        let frames = frames.as_slice();
        match self.reason.get() {
            Reason::Signal => {
                let pc = frames.first().copied().unwrap_or(0);
                let recorded = module_at(pc).and_then(|m| {
                    let off = pc.checked_sub(m.text as usize)?;
                    m.metadata.trap_at(u32::try_from(off).ok()?)
                });
                let addr = self.fault_addr.get();
                let near_stack =
                    addr < self.entry_sp && addr >= self.fault_sp.get().saturating_sub(64 * 1024);
                let kind = match self.signum.get() {
                    libc::SIGSEGV | libc::SIGBUS if near_stack => TrapKind::StackOverflow,
                    libc::SIGSEGV | libc::SIGBUS => recorded.unwrap_or(TrapKind::MemoryOutOfBounds),
                    libc::SIGILL => recorded.unwrap_or(TrapKind::UnreachableCodeReached),
                    _ => recorded.unwrap_or(TrapKind::IntegerDivisionByZero),
                };
                let mut t = Trap::new(kind);
                t.backtrace = symbolize(frames, true);
                t
            }
            Reason::Builtin(kind) => {
                let mut t = Trap::new(kind);
                t.backtrace = symbolize(frames, false);
                t
            }
            Reason::User => {
                let mut t = self
                    .user_trap
                    .into_inner()
                    .unwrap_or_else(|| Trap::host("host error"));
                if t.backtrace.is_empty() {
                    t.backtrace = symbolize(frames, false);
                }
                t
            }
            Reason::None => Trap::host("guest unwound without a recorded reason"),
        }
    }

    /// Records the frame chain starting at guest return address `pc` with frame pointer `fp`,
    /// reading only stack words in `[low, self.entry_sp)`.
    ///
    /// # Safety
    /// `[low, entry_sp)` must be this thread's live stack.
    unsafe fn record_frames(
        &self,
        map: &BTreeMap<usize, CodeRange>,
        pc: usize,
        fp: usize,
        low: usize,
    ) {
        // SAFETY: only this thread touches its frame buffer, and only the innermost
        // activation's trap path writes it.
        let frames = unsafe { &mut *self.frames };
        let mut n = 0;
        if pc != 0 {
            frames[0] = MaybeUninit::new(pc);
            n = 1;
        }
        let mut fp = fp;
        while n < MAX_FRAMES && fp >= low && fp.is_multiple_of(8) && fp + 16 <= self.entry_sp {
            // SAFETY: `fp` and `fp + 8` lie in the live stack range checked above.
            let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
            if !in_code(map, ret) {
                break;
            }
            frames[n] = MaybeUninit::new(ret);
            n += 1;
            if next <= fp {
                break;
            }
            fp = next;
        }
        self.num_frames.set(n);
    }
}

/// Maps recorded code addresses to frames. The first address is the faulting PC when `fault`;
/// every other address is a return address (looked up at `pc - 1`).
fn symbolize(pcs: &[usize], fault: bool) -> Vec<FrameInfo> {
    let mut out = Vec::new();
    for (i, &pc) in pcs.iter().enumerate() {
        let lookup = if i == 0 && fault {
            pc
        } else {
            pc.saturating_sub(1)
        };
        let Some(m) = module_at(lookup) else { continue };
        let Some(off) = lookup
            .checked_sub(m.text as usize)
            .and_then(|o| u32::try_from(o).ok())
        else {
            continue;
        };
        let Some(func) = m.metadata.function_at(off) else {
            continue;
        };
        out.push(FrameInfo {
            func_index: func,
            // A malformed stored name (bounds, UTF-8) shows as no name.
            func_name: m
                .metadata
                .function_name(func)
                .ok()
                .flatten()
                .map(str::to_string),
            module_name: m.metadata.name.clone(),
            wasm_offset: m.metadata.wasm_offset_at(off),
            source: m
                .metadata
                .source_line_at(off)
                .map(|(f, l)| (f.to_string(), l)),
        });
    }
    out
}

/// Unwinds the innermost activation with a trap of `kind`, raised by a builtin. The builtin
/// must have dropped all its Rust values already.
///
/// # Safety
/// Must be called on a thread inside [`catch_traps`], from a frame whose skipped callers
/// (up to the entry) own nothing that needs dropping.
pub(crate) unsafe fn raise_trap(kind: TrapKind) -> ! {
    // SAFETY: forwarded caller contract.
    unsafe { unwind(Reason::Builtin(kind), None) }
}

/// Unwinds the innermost activation with a trap produced by a host function.
///
/// # Safety
/// Same as [`raise_trap`].
pub(crate) unsafe fn raise_user_trap(trap: Trap) -> ! {
    // SAFETY: forwarded caller contract.
    unsafe { unwind(Reason::User, Some(trap)) }
}

unsafe fn unwind(reason: Reason, trap: Option<Trap>) -> ! {
    let state = STATE.with(|s| s.get());
    if state.is_null() {
        // Guest code running without an entry point: an invariant of the runtime is broken and
        // nothing can be unwound safely.
        eprintln!("kiln: trap raised outside of any guest activation; aborting");
        std::process::abort();
    }
    // SAFETY: `state` is the innermost live activation of this thread.
    let state = unsafe { &*state };
    let (fp, pc) = last_exit();
    {
        let map = CODE.read().unwrap_or_else(|e| e.into_inner());
        let pc = if in_code(&map, pc) { pc } else { 0 };
        // SAFETY: [current sp, entry_sp) is this thread's live stack.
        unsafe { state.record_frames(&map, pc, fp, current_sp()) };
    }
    state.reason.set(reason);
    // SAFETY: only this thread accesses its activation's trap slot.
    unsafe { *state.user_trap.get() = trap };
    let buf = state.jmp_buf.get();
    // SAFETY: `buf` is the jump buffer of the innermost `kiln_call_catching`, still on the stack.
    unsafe { kiln_unwind(buf) }
}

// ---------------------------------------------------------------------------------------------
// Signal handling.

const SIGNALS: [i32; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

struct PrevHandlers(UnsafeCell<[std::mem::MaybeUninit<libc::sigaction>; 4]>);
// SAFETY: written once inside `INIT` before any of our handlers can run, read-only afterwards.
unsafe impl Sync for PrevHandlers {}
static PREV: PrevHandlers = PrevHandlers(UnsafeCell::new([std::mem::MaybeUninit::uninit(); 4]));
static INIT: Once = Once::new();

/// Installs the trap signal handlers (once per process), keeping the previous ones to chain to.
pub(crate) fn init_traps() {
    INIT.call_once(|| {
        for (i, sig) in SIGNALS.iter().enumerate() {
            // SAFETY: a zeroed sigaction is a valid value to fill in; `PREV` is only written here,
            // before the handler that reads it is installed for this signal.
            unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = handler as *const () as usize;
                act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut act.sa_mask);
                let prev = (*PREV.0.get())[i].as_mut_ptr();
                if libc::sigaction(*sig, std::ptr::null(), prev) != 0 {
                    panic!("kiln: sigaction({sig}) query failed");
                }
                if libc::sigaction(*sig, &act, std::ptr::null_mut()) != 0 {
                    panic!("kiln: sigaction({sig}) failed");
                }
            }
        }
    });
}

/// Whether the signal described by `info` was sent by a process (`kill`, `sigqueue`, `tgkill`,
/// timers...: `si_code <= 0`) rather than raised by the kernel for a faulting instruction. Only
/// the latter can be a guest trap, whatever the PC.
///
/// # Safety
/// `info` is the kernel's `siginfo_t` for this handler invocation.
unsafe fn sent_by_a_process(info: *const libc::siginfo_t) -> bool {
    // SAFETY: valid for SA_SIGINFO handlers (the caller's contract).
    unsafe { (*info).si_code <= 0 }
}

unsafe extern "C" fn handler(signum: i32, info: *mut libc::siginfo_t, uc: *mut c_void) {
    let state = STATE.with(|s| s.get());
    // SAFETY: `info` is the kernel's argument to this SA_SIGINFO handler.
    if !state.is_null() && !unsafe { sent_by_a_process(info) } {
        // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers.
        let gregs = unsafe { &(*uc.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
        let pc = gregs[libc::REG_RIP as usize] as usize;
        let fp = gregs[libc::REG_RBP as usize] as usize;
        let sp = gregs[libc::REG_RSP as usize] as usize;
        if let Some(map) = read_code_in_handler() {
            if in_code(&map, pc) {
                // SAFETY: `state` is this thread's innermost activation; the fault happened in
                // guest code it called, so it is alive.
                let state = unsafe { &*state };
                state.reason.set(Reason::Signal);
                state.signum.set(signum);
                // SAFETY: `info` is valid for SA_SIGINFO handlers.
                state.fault_addr.set(unsafe { (*info).si_addr() } as usize);
                state.fault_sp.set(sp);
                // SAFETY: [sp, entry_sp) is the interrupted thread's live stack.
                unsafe { state.record_frames(&map, pc, fp, sp) };
                drop(map);
                // SAFETY: plain signal-mask manipulation on this thread; `sigsetjmp(buf, 0)` did
                // not save the mask, so the handled signal is unblocked before jumping out.
                unsafe {
                    let mut set: libc::sigset_t = std::mem::zeroed();
                    libc::sigemptyset(&mut set);
                    libc::sigaddset(&mut set, signum);
                    libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                    kiln_unwind(state.jmp_buf.get());
                }
            }
        }
    }
    // SAFETY: forwarding the kernel's own arguments to the previous handler.
    unsafe { chain(signum, info, uc) }
}

/// Read access to the code registry from the signal handler, without blocking in the kernel.
///
/// The faulting thread never holds the registry lock while guest code runs (the lock is only
/// taken for short lookups and for registering or unregistering a module), so a failed
/// `try_read` means another thread is about to release it: yield and retry. The retries are
/// bounded so a fault *inside* the registry code itself (this thread holding the write lock)
/// still reaches the previous handler.
fn read_code_in_handler() -> Option<std::sync::RwLockReadGuard<'static, BTreeMap<usize, CodeRange>>>
{
    for _ in 0..1_000_000 {
        match CODE.try_read() {
            Ok(g) => return Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => return Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => {
                // SAFETY: sched_yield is async-signal-safe and has no preconditions.
                unsafe { libc::sched_yield() };
            }
        }
    }
    None
}

unsafe fn chain(signum: i32, info: *mut libc::siginfo_t, uc: *mut c_void) {
    let Some(i) = SIGNALS.iter().position(|s| *s == signum) else {
        return;
    };
    // SAFETY: `PREV[i]` was written by `init_traps` before our handler was installed.
    let prev = unsafe { (*PREV.0.get())[i].assume_init_ref() };
    // SAFETY: `info` is the kernel's argument, passed through by `handler`.
    let sent = unsafe { sent_by_a_process(info) };
    if prev.sa_sigaction == libc::SIG_IGN && sent {
        // Ignored before kiln came: a sent signal stays ignored.
    } else if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
        // Restore the default action. A fault: return, the faulting instruction runs again and
        // the default action (a core dump) happens with the original state. A sent signal:
        // send it again, to this thread, where it stays blocked until this handler returns and
        // then takes the default action.
        // SAFETY: a zeroed sigaction with SIG_DFL is valid; `raise` is async-signal-safe.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signum, &dfl, std::ptr::null_mut());
            if sent {
                libc::raise(signum);
            }
        }
    } else {
        if prev.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this
            // signature.
            let f: extern "C" fn(i32, *mut libc::siginfo_t, *mut c_void) =
                unsafe { std::mem::transmute(prev.sa_sigaction) };
            f(signum, info, uc);
        } else {
            // SAFETY: a plain handler takes only the signal number.
            let f: extern "C" fn(i32) = unsafe { std::mem::transmute(prev.sa_sigaction) };
            f(signum);
        }
        // A handler that restores the default action and returns (Rust's stack-overflow
        // handler does, for any SIGSEGV not on a guard page) expects the fault to happen
        // again; a sent signal does not, so send it again for the default action to happen.
        if sent {
            // SAFETY: querying a disposition and `raise` are async-signal-safe.
            unsafe {
                let mut now: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signum, std::ptr::null(), &mut now);
                if now.sa_sigaction == libc::SIG_DFL {
                    libc::raise(signum);
                }
            }
        }
    }
}

/// An alternate signal stack allocated by the runtime for the current thread.
struct AltStack {
    base: *mut c_void,
    len: usize,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        // SAFETY: disables the alternate stack only if it is still ours, then unmaps it.
        unsafe {
            let mut cur: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(std::ptr::null(), &mut cur) == 0
                && cur.ss_sp == self.base.cast::<u8>().add(page_size()).cast()
            {
                let disable = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: ALT_STACK_SIZE,
                };
                libc::sigaltstack(&disable, std::ptr::null_mut());
            }
            libc::munmap(self.base, self.len);
        }
    }
}

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Makes sure this thread has an alternate signal stack of at least [`ALT_STACK_SIZE`] bytes.
pub(crate) fn ensure_alt_stack() {
    if ALT_READY.with(|r| r.get()) {
        return;
    }
    // SAFETY: sigaltstack/mmap/mprotect calls on fresh memory owned by this thread.
    unsafe {
        let mut cur: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut cur) == 0
            && cur.ss_flags & libc::SS_DISABLE == 0
            && cur.ss_size >= ALT_STACK_SIZE
        {
            ALT_READY.with(|r| r.set(true));
            return;
        }
        let page = page_size();
        let len = ALT_STACK_SIZE + page;
        let base = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if base == libc::MAP_FAILED {
            return;
        }
        // Guard page below the stack.
        libc::mprotect(base, page, libc::PROT_NONE);
        let st = libc::stack_t {
            ss_sp: base.cast::<u8>().add(page).cast(),
            ss_flags: 0,
            ss_size: ALT_STACK_SIZE,
        };
        if libc::sigaltstack(&st, std::ptr::null_mut()) != 0 {
            libc::munmap(base, len);
            return;
        }
        ALT_STACK.with(|a| *a.get() = Some(AltStack { base, len }));
        ALT_READY.with(|r| r.set(true));
    }
}

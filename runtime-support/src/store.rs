//! Stores: the unit of execution of guest code, entered by one thread at a time.
//!
//! Every instance belongs to a store; instances that can reach each other's code or state
//! (imports, shared tables and function-reference globals, function references handed across,
//! a component's core instances) are in the same store, so a store is closed under everything
//! guest code can call. A store carries what compiled code reads per activation (the
//! [`VMStoreContext`]: the stack limit of the thread running it and the epoch deadline) and is
//! *entered* by every host-to-guest call: a thread owns it while guest code runs in it, calls
//! from host functions on that thread re-enter it, and another thread's entry is refused with
//! [`Error::Busy`] (wasmtime's rule, "one thread at a time per store", checked at run time
//! instead of by the borrow checker).
//!
//! Stores are created implicitly (an instance whose imports come from no store gets a new one)
//! and *joined* when objects of two stores meet: the smaller store's instances are moved into
//! the other's, by repointing their VM contexts' store slot. Joining needs both stores idle, or
//! the absorbing one running on the joining thread, since a running store's code holds its
//! context pointer; a join that cannot happen is `Error::Busy`. A joined store forwards to the
//! one that absorbed it and is never entered again.

use crate::engine::Engine;
use crate::error::Error;
use crate::limits::ResourceLimiter;
use crate::vm::VMStoreContext;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::MutexGuard;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// `owner` of an idle store.
const FREE: usize = 0;
/// `owner` of a store that was absorbed by another (see `forward`).
const ABSORBED: usize = usize::MAX;
/// `owner` of a store being joined with another (entries wait for the join to finish).
const JOINING: usize = usize::MAX - 1;

/// Something whose VM context points at a store context: repointed when its store is absorbed.
pub(crate) trait StoreMember: Send + Sync {
    /// The slot holding the store context pointer.
    fn store_slot(&self) -> &AtomicPtr<VMStoreContext>;
}

/// One store (see the module documentation).
#[repr(C)]
pub(crate) struct StoreInner {
    /// Read by compiled code through every member's VM context: first, so a context pointer is
    /// also a store pointer.
    ctx: VMStoreContext,
    /// The engine everything in the store belongs to.
    engine: Engine,
    /// [`FREE`], [`ABSORBED`], [`JOINING`] or the owning thread's token.
    owner: AtomicUsize,
    /// Nested entries of the owning thread (only that thread touches it).
    depth: AtomicUsize,
    /// The store that absorbed this one.
    forward: OnceLock<Arc<StoreInner>>,
    /// Everything whose VM context points here.
    members: Mutex<Vec<Weak<dyn StoreMember>>>,
    /// The host's limits for this store.
    limiter: Mutex<Option<Arc<dyn ResourceLimiter>>>,
    /// Instances created in the store (core and component), for the limiter's instance count.
    instances: AtomicU64,
}

/// Serializes joins (rare: they happen at link time and when the host hands a function
/// reference to another store), so two joins never lock the same stores in opposite orders.
static JOIN_LOCK: Mutex<()> = Mutex::new(());

/// A token unique to the current thread among live threads (never 0 or a sentinel).
fn thread_token() -> usize {
    thread_local! {
        static TOKEN: u8 = const { 0 };
    }
    TOKEN.with(|t| t as *const u8 as usize)
}

impl StoreInner {
    /// A new, empty store.
    pub(crate) fn new(engine: &Engine) -> Arc<StoreInner> {
        Arc::new(StoreInner {
            ctx: VMStoreContext::new(engine.epoch_ptr()),
            engine: engine.clone(),
            owner: AtomicUsize::new(FREE),
            depth: AtomicUsize::new(0),
            forward: OnceLock::new(),
            members: Mutex::new(Vec::new()),
            limiter: Mutex::new(None),
            instances: AtomicU64::new(0),
        })
    }

    /// The context compiled code reads (what members' VM contexts point at).
    pub(crate) fn context(&self) -> *mut VMStoreContext {
        (&self.ctx as *const VMStoreContext).cast_mut()
    }

    /// The store this one forwards to, transitively (itself when it was never absorbed).
    pub(crate) fn root(self: &Arc<StoreInner>) -> Arc<StoreInner> {
        let mut s = self.clone();
        while let Some(next) = s.forward.get() {
            s = next.clone();
        }
        s
    }

    /// Makes `member` part of this store (of the store it was joined into): points its slot
    /// at the store's context and registers it, so later joins move it along.
    pub(crate) fn adopt(self: &Arc<StoreInner>, member: &Arc<dyn StoreMember>) -> Arc<StoreInner> {
        // Under the join lock: a join running meanwhile could otherwise miss the new member.
        let _guard = JOIN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let root = self.root();
        member.store_slot().store(root.context(), Ordering::Release);
        root.add_member(Arc::downgrade(member));
        root
    }

    /// [`StoreInner::adopt`] for a store nothing else can reach yet (just made by
    /// `StoreInner::new` for an instance that imports nothing guest code can reach): no join
    /// can run on it concurrently, so the join lock is not needed.
    pub(crate) fn adopt_fresh(self: &Arc<StoreInner>, member: &Arc<dyn StoreMember>) {
        debug_assert!(self.forward.get().is_none());
        member.store_slot().store(self.context(), Ordering::Release);
        self.add_member(Arc::downgrade(member));
    }

    fn add_member(&self, member: Weak<dyn StoreMember>) {
        let mut m = self.members.lock().unwrap_or_else(|e| e.into_inner());
        // Forget members that are gone, so the list tracks the live ones.
        if m.len() >= 16 && m.len().is_power_of_two() {
            m.retain(|w| w.strong_count() > 0);
        }
        m.push(member);
    }

    /// Sets the epoch deadline (an absolute epoch) compiled code compares the engine's epoch
    /// with.
    pub(crate) fn set_epoch_deadline(&self, deadline: u64) {
        self.ctx.set_epoch_deadline(deadline);
    }

    /// The current epoch deadline.
    pub(crate) fn epoch_deadline(&self) -> u64 {
        self.ctx.epoch_deadline()
    }

    /// Installs the host's limits.
    pub(crate) fn set_limiter(&self, limiter: Option<Arc<dyn ResourceLimiter>>) {
        *self.limiter.lock().unwrap_or_else(|e| e.into_inner()) = limiter;
    }

    /// The host's limits, if any.
    pub(crate) fn limiter(&self) -> Option<Arc<dyn ResourceLimiter>> {
        self.limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Counts a new instance against the limiter's instance limit.
    pub(crate) fn add_instance(&self) -> Result<(), Error> {
        let n = self.instances.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(l) = self.limiter() {
            if n > l.instances() as u64 {
                self.instances.fetch_sub(1, Ordering::Relaxed);
                return Err(Error::Other(format!(
                    "instance limit of {} exceeded in this store",
                    l.instances()
                )));
            }
        }
        Ok(())
    }
}

/// Reads the store context pointer in `slot` as the store it belongs to.
///
/// # Safety
/// The slot must belong to a live store member, whose store (kept alive through its original
/// store's forwarding chain) is then alive too.
unsafe fn store_at<'a>(slot: &AtomicPtr<VMStoreContext>) -> &'a StoreInner {
    // SAFETY: caller contract; `ctx` is the first field of the `#[repr(C)]` store.
    unsafe { &*slot.load(Ordering::Acquire).cast::<StoreInner>() }
}

/// An entry into a store by the current thread (possibly nested), left on drop.
pub(crate) struct Entered<'a> {
    store: &'a StoreInner,
}

impl Entered<'_> {
    /// The entered store's context.
    pub(crate) fn context(&self) -> *mut VMStoreContext {
        self.store.context()
    }

    /// Keeps the entry after the guard is gone: the thread owns the store until [`leave`]
    /// (a raw component call, whose post-return must run before anyone else enters).
    pub(crate) fn keep(self) {
        std::mem::forget(self);
    }
}

/// Leaves an entry kept with [`Entered::keep`] by the current thread (nothing when the thread
/// does not own the store).
///
/// # Safety
/// As for [`store_at`].
pub(crate) unsafe fn leave(slot: &AtomicPtr<VMStoreContext>) {
    // SAFETY: caller contract.
    let store = unsafe { store_at(slot) };
    if store.owner.load(Ordering::Acquire) == thread_token()
        && store.depth.load(Ordering::Relaxed) > 0
    {
        drop(Entered { store });
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let depth = self.store.depth.fetch_sub(1, Ordering::Relaxed) - 1;
        if depth == 0 {
            self.store.owner.store(FREE, Ordering::Release);
        }
    }
}

/// Enters the store whose context `slot` points at (a member's VM context slot), for the
/// current thread: nested entries of the owning thread are allowed, another thread's are
/// `Error::Busy`.
///
/// # Safety
/// As for [`store_at`], for as long as the returned guard lives.
pub(crate) unsafe fn enter<'a>(slot: &AtomicPtr<VMStoreContext>) -> Result<Entered<'a>, Error> {
    let me = thread_token();
    loop {
        // SAFETY: caller contract.
        let store: &'a StoreInner = unsafe { store_at(slot) };
        match store.owner.load(Ordering::Acquire) {
            o if o == me => {
                store.depth.fetch_add(1, Ordering::Relaxed);
                return Ok(Entered { store });
            }
            FREE => {
                if store
                    .owner
                    .compare_exchange(FREE, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    store.depth.store(1, Ordering::Relaxed);
                    return Ok(Entered { store });
                }
            }
            // The slot is being (or was just) repointed: read it again.
            ABSORBED | JOINING => std::thread::yield_now(),
            _ => return Err(busy()),
        }
    }
}

fn busy() -> Error {
    Error::Busy(
        "the instance is running on another thread (a store, the instances linked together, \
         runs one thread at a time)"
            .into(),
    )
}

/// Joins the stores of `a` and `b` (see the module documentation); returns the joined store.
pub(crate) fn join(a: &Arc<StoreInner>, b: &Arc<StoreInner>) -> Result<Arc<StoreInner>, Error> {
    if !Engine::same(&a.engine, &b.engine) {
        return Err(Error::Other(
            "objects of two different engines cannot be used together".into(),
        ));
    }
    let _guard = JOIN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (ra, rb) = (a.root(), b.root());
    if Arc::ptr_eq(&ra, &rb) {
        return Ok(ra);
    }
    let me = thread_token();
    // Claim each store: idle ones are marked JOINING (entries wait), ones running on this
    // thread stay as they are; a store running elsewhere cannot be joined now.
    let claim = |s: &StoreInner| -> Result<bool, Error> {
        match s
            .owner
            .compare_exchange(FREE, JOINING, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Ok(true),
            Err(o) if o == me => Ok(false),
            Err(_) => Err(busy()),
        }
    };
    let ca = claim(&ra)?;
    let cb = match claim(&rb) {
        Ok(c) => c,
        Err(e) => {
            if ca {
                ra.owner.store(FREE, Ordering::Release);
            }
            return Err(e);
        }
    };
    let release = |s: &StoreInner, claimed: bool| {
        if claimed {
            s.owner.store(FREE, Ordering::Release);
        }
    };
    // The absorbed store must be idle: its members' code cannot be running.
    let (keep, keep_claimed, gone) = match (ca, cb) {
        (false, false) => {
            return Err(Error::Busy(
                "cannot join two stores that are both running on this thread".into(),
            ))
        }
        (false, true) => (ra, ca, rb),
        (true, false) => (rb, cb, ra),
        (true, true) => {
            let la = ra.members.lock().unwrap_or_else(|e| e.into_inner()).len();
            let lb = rb.members.lock().unwrap_or_else(|e| e.into_inner()).len();
            if la >= lb {
                (ra, ca, rb)
            } else {
                (rb, cb, ra)
            }
        }
    };
    let moved: Vec<Weak<dyn StoreMember>> =
        std::mem::take(&mut *gone.members.lock().unwrap_or_else(|e| e.into_inner()));
    let ctx = keep.context();
    for m in &moved {
        if let Some(m) = m.upgrade() {
            m.store_slot().store(ctx, Ordering::Release);
        }
    }
    keep.members
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(moved.into_iter().filter(|w| w.strong_count() > 0));
    // The stricter deadline and the limits of either store carry over.
    keep.set_epoch_deadline(keep.epoch_deadline().min(gone.epoch_deadline()));
    if keep.limiter().is_none() {
        keep.set_limiter(gone.limiter());
    }
    keep.instances
        .fetch_add(gone.instances.load(Ordering::Relaxed), Ordering::Relaxed);
    let _ = gone.forward.set(keep.clone());
    gone.owner.store(ABSORBED, Ordering::Release);
    release(&keep, keep_claimed);
    Ok(keep)
}

/// Enters the store whose context `slot` points at and runs `body` (which calls its guest code)
/// catching traps: the thread's stack limit is published to the store for the call.
///
/// # Safety
/// As for [`enter`] and `traps::catch_traps`.
pub(crate) unsafe fn run_in_store(
    slot: &AtomicPtr<VMStoreContext>,
    max_wasm_stack: usize,
    body: &mut dyn FnMut(),
) -> Result<(), Error> {
    // SAFETY: caller contract.
    let entered = unsafe { enter(slot)? };
    // SAFETY: the context is live and entered by this thread while `entered` lives.
    unsafe { crate::traps::catch_traps(max_wasm_stack, entered.context(), body) }
        .map_err(Error::Trap)
}

/// The store of an object guest code can reach without being an instance (a table or a global
/// holding function references), once it has one.
#[derive(Default)]
pub(crate) struct StoreCell(Mutex<Option<Arc<StoreInner>>>);

impl StoreCell {
    fn lock(&self) -> MutexGuard<'_, Option<Arc<StoreInner>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The object's store (its current root), if it has one.
    pub(crate) fn get(&self) -> Option<Arc<StoreInner>> {
        self.lock().as_ref().map(|s| s.root())
    }

    /// Puts the object into `store`, joining it with the object's own store if another.
    pub(crate) fn join(&self, store: &Arc<StoreInner>) -> Result<Arc<StoreInner>, Error> {
        let mut cur = self.lock();
        let joined = match cur.as_ref() {
            Some(s) => join(s, store)?,
            None => store.root(),
        };
        *cur = Some(joined.clone());
        Ok(joined)
    }
}

/// Joins two optional stores (`None`: no store yet).
pub(crate) fn join_opt(
    a: Option<Arc<StoreInner>>,
    b: Option<Arc<StoreInner>>,
) -> Result<Option<Arc<StoreInner>>, Error> {
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(join(&a, &b)?),
        (a, b) => a.or(b),
    })
}

/// The error for objects of two engines meeting.
pub(crate) fn engine_mismatch(what: &str) -> Error {
    Error::Other(format!(
        "{what} belongs to another engine (objects of two engines cannot be used together)"
    ))
}

/// Whether the epoch deadline of the store the current thread runs has passed (false outside
/// any store): host-side work of a call (lifting long values, blocking WASI calls) checks it and
/// traps with `TrapKind::Interrupt`, as guest code does.
pub(crate) fn deadline_passed() -> bool {
    let ctx = crate::traps::current_store();
    // SAFETY: a live store context entered by this thread (`current_store`).
    let Some(ctx) = (unsafe { ctx.as_ref() }) else {
        return false;
    };
    let epoch_ptr = ctx.epoch_ptr.load(Ordering::Relaxed);
    // SAFETY: the engine's epoch counter, alive as long as the store's engine.
    let epoch = unsafe { AtomicU64::from_ptr(epoch_ptr).load(Ordering::Relaxed) };
    epoch >= ctx.epoch_deadline()
}

/// `Err(interrupt trap)` once the current store's deadline passed (see [`deadline_passed`]).
pub(crate) fn check_deadline() -> Result<(), crate::Trap> {
    if deadline_passed() {
        Err(crate::Trap::new(kiln_environ::TrapKind::Interrupt))
    } else {
        Ok(())
    }
}

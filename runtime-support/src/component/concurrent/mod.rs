//! Component-model async: tasks, threads, waitables and the event loop (CanonicalABI.md
//! "Concurrency"), for one component instantiation.
//!
//! **Threads.** Every task of an `async` function type (an `async` lift, stackful or with a
//! `callback`, or a synchronous lift of an `async` function type) runs on its own thread, a
//! [`Fiber`](crate::fiber::Fiber) with its own stack, started as soon as the call is made, as
//! the spec's `canon_lift` does. The host's own stack is thread 0, the *root*. Calls of
//! synchronous function types keep the synchronous fast path (the caller's stack, no task
//! record): CanonicalABI.md lets them block only after returning, which a synchronous lift
//! never does, so blocking in one traps ("cannot block a synchronous task before returning").
//!
//! **Blocking.** A thread blocks with [`Concurrent::block_until`] on a predicate over the
//! [`State`]. A fiber suspends back to whoever resumed it; the root cannot suspend, so it runs
//! the event loop itself: it resumes the first waiting thread (in FIFO order) whose predicate
//! holds, until its own predicate holds; when no thread can run, that is the deadlock trap.
//!
//! **Per-thread VM context.** The compiled glue keeps per-task state in the component VM
//! context (each instance's flags, `context.get` slots, the `task.return` destination and
//! signature). Every switch between threads saves the running thread's copy of those words
//! and installs the other's ([`Saved`]); the backpressure counters are per instance and are
//! not switched. The thread-local borrow-scope stack is switched with them.
//!
//! **Handles.** Waitable sets, subtasks, stream and future ends and error contexts live in
//! [`State::objects`]; the instance's handle table (shared with resources, as the spec's
//! single `handles` table) holds them as entries of type [`ASYNC_OBJECT`] whose `rep` is the
//! object's index.

pub(crate) mod copy;
pub(crate) mod error_context;
pub(crate) mod host_call;
pub(crate) mod host_io;
mod host_lower;
pub(crate) mod tasks;
pub(crate) mod threads;
pub(crate) mod waitables;

use super::instance::{lock, Shared};
use super::resources::HandleEntry;
use crate::error::Trap;
use crate::fiber::Fiber;
use kiln_environ::component::{ComponentInstanceIndex, ResourceIndex, VMComponentOffsets};
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

pub(crate) use copy::{CopyEnd, SharedCopy};
pub(crate) use waitables::{Subtask, WaitableSet};

/// The resource type of handle-table entries that hold an async object (see the module doc).
pub(crate) const ASYNC_OBJECT: ResourceIndex = u32::MAX;

/// Index of a thread in [`State::threads`]; [`ROOT`] is the host's stack.
pub(crate) type ThreadIdx = usize;
/// The host's own stack.
pub(crate) const ROOT: ThreadIdx = 0;
/// Index of a task in [`State::tasks`].
pub(crate) type TaskId = usize;
/// Index of an async object in [`State::objects`].
pub(crate) type ObjId = u32;

/// Event codes (CanonicalABI.md `EventCode`).
pub(crate) mod event {
    /// No event (a poll found nothing, a yield).
    pub const NONE: u32 = 0;
    /// A subtask made progress.
    pub const SUBTASK: u32 = 1;
    /// A stream read finished.
    pub const STREAM_READ: u32 = 2;
    /// A stream write finished.
    pub const STREAM_WRITE: u32 = 3;
    /// A future read finished.
    pub const FUTURE_READ: u32 = 4;
    /// A future write finished.
    pub const FUTURE_WRITE: u32 = 5;
    /// The task was cancelled.
    pub const TASK_CANCELLED: u32 = 6;
}

/// What a built-in returns instead of waiting (CanonicalABI.md `BLOCKED`).
pub(crate) const BLOCKED: u32 = 0xffff_ffff;

/// A predicate a blocked thread waits for.
pub(crate) type Pred = Box<dyn Fn(&State) -> bool + Send>;

/// A simple arena: `Vec<Option<T>>` with a free list.
pub(crate) struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
}

/// Most threads (task fibers, subtask fibers, explicit threads) one instantiation may have
/// alive at once: each holds a stack, and guests choose how many they start.
pub(crate) const MAX_THREADS: usize = 10_000;

impl<T> Slab<T> {
    /// Adds `v`; returns its index.
    pub(crate) fn insert(&mut self, v: T) -> usize {
        if let Some(i) = self.free.pop() {
            self.items[i] = Some(v);
            i
        } else {
            self.items.push(Some(v));
            self.items.len() - 1
        }
    }

    /// The item at `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i).and_then(Option::as_ref)
    }

    /// The item at `i`, mutable.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.items.get_mut(i).and_then(Option::as_mut)
    }

    /// Removes the item at `i`.
    pub(crate) fn remove(&mut self, i: usize) -> Option<T> {
        let v = self.items.get_mut(i)?.take();
        if v.is_some() {
            self.free.push(i);
        }
        v
    }

    /// Number of live items.
    pub(crate) fn len(&self) -> usize {
        self.items.len() - self.free.len()
    }

    /// Every live item, with its index.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (i, v)))
    }
}

/// An async object a handle can name.
pub(crate) enum Object {
    /// A waitable set.
    Set(WaitableSet),
    /// A subtask (an `async`-lowered call that did not finish at once).
    Subtask(Subtask),
    /// One end of a stream or future.
    End(CopyEnd),
    /// An `error-context`: its debug message.
    ErrorContext(std::sync::Arc<str>),
}

/// The waitable part of an object (CanonicalABI.md `Waitable`).
#[derive(Default)]
pub(crate) struct Waitable {
    /// An event is pending (its tuple is computed on delivery).
    pub(crate) pending: bool,
    /// The set this waitable joined.
    pub(crate) wset: Option<ObjId>,
    /// A thread waits on this waitable alone (a synchronous operation).
    pub(crate) sync_waiter: bool,
    /// The handle the owner knows it by (the event's index).
    pub(crate) handle: u32,
}

impl Object {
    /// The waitable part, for the kinds that are waitables.
    pub(crate) fn waitable(&self) -> Option<&Waitable> {
        match self {
            Object::Subtask(s) => Some(&s.w),
            Object::End(e) => Some(&e.w),
            _ => None,
        }
    }

    /// The waitable part, mutable.
    pub(crate) fn waitable_mut(&mut self) -> Option<&mut Waitable> {
        match self {
            Object::Subtask(s) => Some(&mut s.w),
            Object::End(e) => Some(&mut e.w),
            _ => None,
        }
    }
}

/// A fiber stored in the state. Fibers are resumed only on the thread that created them
/// (`Fiber::resume` refuses any other), and the state is only touched by the thread that
/// entered the instance's store.
pub(crate) struct FiberBox(pub(crate) Fiber);

// SAFETY: see the type's documentation: a fiber is only ever resumed on its own OS thread, which
// `Fiber::resume` checks; moving the handle between threads moves no stack.
unsafe impl Send for FiberBox {}

/// A thread (CanonicalABI.md `Thread`): the root or a fiber.
#[derive(Default)]
pub(crate) struct ThreadRec {
    /// Its fiber (none for the root, and while it runs).
    pub(crate) fiber: Option<FiberBox>,
    /// What it waits for, while it waits.
    pub(crate) ready: Option<Pred>,
    /// Its copy of the per-thread VM context words, while it does not run.
    pub(crate) saved: Option<Saved>,
    /// The tasks it runs, innermost last.
    pub(crate) tasks: Vec<TaskId>,
    /// The subtask this thread carries out (an `async`-lowered call's adapter).
    pub(crate) subtask: Option<ObjId>,
    /// How its body ended (a trap to pass on).
    pub(crate) outcome: Option<Result<(), Trap>>,
    /// Its current wait may be ended by a cancellation of its task.
    pub(crate) cancellable: bool,
    /// Its wait was ended by a cancellation (read and cleared by the waiter).
    pub(crate) cancelled: bool,
    /// Explicitly suspended (`thread.suspend`, `*-then-resume`): only another thread resumes it.
    pub(crate) suspended: bool,
    /// The thread that resumed it, while it runs.
    pub(crate) resumer: Option<ThreadIdx>,
    /// Its indices in instances' thread tables.
    pub(crate) indices: Vec<(ComponentInstanceIndex, u32)>,
    /// An explicit thread of a task that may block.
    pub(crate) may_block: bool,
    /// The thread that called this thread's task (its result may live in this thread's
    /// arena frames, given to the caller when this thread finishes).
    pub(crate) parent: Option<ThreadIdx>,
}

/// Cancellation of a task (CanonicalABI.md `Task.State` `PENDING_CANCEL`, `CANCEL_DELIVERED`).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub(crate) enum Cancel {
    /// Not requested.
    #[default]
    None,
    /// Requested, to be delivered at the task's next cancellable wait.
    Pending,
    /// Delivered: the task may now call `task.cancel`.
    Delivered,
}

/// A task (CanonicalABI.md `Task`) of an `async` function type.
pub(crate) struct TaskRec {
    /// The component instance it runs in.
    pub(crate) instance: ComponentInstanceIndex,
    /// Its function type is `async` (it may block).
    pub(crate) async_fn: bool,
    /// It is an `async` lift (its result comes through `task.return`).
    pub(crate) async_lift: bool,
    /// It holds its instance exclusively while it runs (a `callback` lift, or a synchronous
    /// lift of an `async` type).
    pub(crate) exclusive: bool,
    /// The thread running it.
    pub(crate) thread: ThreadIdx,
    /// It has started (entered its instance).
    pub(crate) started: bool,
    /// It has delivered its result (or its core function returned, for a synchronous lift).
    pub(crate) resolved: bool,
    /// It has finished (its thread left it).
    pub(crate) done: bool,
    /// The raw core result of a synchronous lift.
    pub(crate) raw_ret: i64,
    /// The subtask of the caller this task answers (an `async` lowering's).
    pub(crate) subtask: Option<ObjId>,
    /// The caller took the result (the record goes when the thread is done too).
    pub(crate) collected: bool,
    /// Cancellation state.
    pub(crate) cancel: Cancel,
    /// It resolved by `task.cancel` (or before it started), without a result.
    pub(crate) cancelled: bool,
    /// The out-of-line data of its result (`task.return`'s strings and lists), given to the
    /// caller's arena frame when the caller takes the result.
    pub(crate) result_blocks: Vec<Box<[u64]>>,
}

/// The concurrency state of one instantiation.
pub(crate) struct State {
    /// Async objects by [`ObjId`].
    pub(crate) objects: Slab<Object>,
    /// Shared state of streams and futures (between their two ends).
    pub(crate) shared: Slab<SharedCopy>,
    /// Threads; slot [`ROOT`] is the host's stack.
    pub(crate) threads: Slab<ThreadRec>,
    /// Tasks.
    pub(crate) tasks: Slab<TaskRec>,
    /// The running thread.
    pub(crate) current: ThreadIdx,
    /// Threads that wait, in the order they started waiting.
    pub(crate) waiting: VecDeque<ThreadIdx>,
    /// Per component instance: the thread holding it exclusively.
    pub(crate) exclusive: Vec<Option<ThreadIdx>>,
    /// Per component instance: tasks waiting for backpressure or exclusivity to enter.
    pub(crate) waiting_to_enter: Vec<u32>,
    /// Per component instance: its thread table (`thread.index`).
    pub(crate) thread_tables: Vec<Slab<ThreadIdx>>,
    /// Deadlines host functions sleep until (`HostCx::sleep_until`): the event loop waits
    /// for the earliest.
    pub(crate) timers: Vec<std::time::Instant>,
    /// Guest reads of host-written elements with strings, to finish outside the lock
    /// (`Shared::run_lowerings`).
    pub(crate) lowerings: Vec<host_lower::Lowering>,
}

impl State {
    /// The object `id`.
    pub(crate) fn obj(&self, id: ObjId) -> Option<&Object> {
        self.objects.get(id as usize)
    }

    /// The object `id`, mutable.
    pub(crate) fn obj_mut(&mut self, id: ObjId) -> Option<&mut Object> {
        self.objects.get_mut(id as usize)
    }

    /// The running thread's record.
    pub(crate) fn thread(&mut self) -> &mut ThreadRec {
        let cur = self.current;
        self.threads
            .get_mut(cur)
            .expect("the running thread has a record")
    }

    /// The innermost task of instance `instance` on the running thread.
    pub(crate) fn current_task(&self, instance: ComponentInstanceIndex) -> Option<TaskId> {
        let t = self.threads.get(self.current)?;
        t.tasks
            .iter()
            .rev()
            .copied()
            .find(|&id| self.tasks.get(id).is_some_and(|t| t.instance == instance))
    }
}

/// The concurrency state of one instantiation, behind its lock.
pub(crate) struct Concurrent {
    state: Mutex<State>,
    /// Work other OS threads post for the event loop (`host_io.rs`).
    pub(crate) mailbox: std::sync::Arc<host_io::Mailbox>,
}

impl Concurrent {
    /// A new state for `instances` component instances.
    pub(crate) fn new(instances: u32) -> Concurrent {
        let mut threads = Slab::default();
        threads.insert(ThreadRec::default());
        Concurrent {
            state: Mutex::new(State {
                objects: Slab::default(),
                shared: Slab::default(),
                threads,
                tasks: Slab::default(),
                current: ROOT,
                waiting: VecDeque::new(),
                exclusive: vec![None; instances as usize],
                waiting_to_enter: vec![0; instances as usize],
                thread_tables: (0..instances).map(|_| Slab::default()).collect(),
                timers: Vec::new(),
                lowerings: Vec::new(),
            }),
            mailbox: Default::default(),
        }
    }

    /// Locks the state. Never held across guest code or a thread switch.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Drops every fiber (cancelling suspended ones, which unwinds their guest frames): called
    /// before the instantiation's state goes away.
    pub(crate) fn shutdown(&self) {
        loop {
            let fiber = {
                let mut st = self.lock();
                st.waiting.clear();
                // Host threads writing to this instantiation's streams stop.
                for (_, s) in st.shared.iter() {
                    if let Some(host_io::HostSide::Writer { pipe, .. }) = &s.host {
                        pipe.gone();
                    }
                }
                let ids: Vec<usize> = st.threads.iter().map(|(i, _)| i).collect();
                ids.into_iter()
                    .find_map(|i| st.threads.get_mut(i).and_then(|t| t.fiber.take()))
            };
            match fiber {
                // Dropped outside the lock: cancelling runs the fiber's unwinding code.
                Some(f) => drop(f),
                None => break,
            }
        }
    }
}

/// Per-instance words of the VM context that belong to the running thread.
pub(crate) struct Saved {
    /// Each instance's flags word.
    flags: Vec<u32>,
    /// Each instance's task slots (context 0, context 1, `task.return` destination and
    /// signature).
    slots: Vec<[u64; 4]>,
    /// The thread's borrow scopes.
    scopes: super::glue_builtins::handles_glue::Scopes,
    /// The thread's host-value arena frames (`arena.rs`).
    arenas: Vec<super::arena::Frame>,
}

impl Saved {
    /// The `task.return` destination slot of instance `i` in this copy (0: delivered).
    pub(crate) fn task_return(&self, i: ComponentInstanceIndex) -> u64 {
        self.slots.get(i as usize).map_or(0, |s| s[2])
    }
}

fn slot_offsets(o: &VMComponentOffsets, i: ComponentInstanceIndex) -> [u32; 4] {
    [
        o.task_context(i, 0),
        o.task_context(i, 1),
        o.task_return(i),
        o.task_return_signature(i),
    ]
}

/// Copies the running thread's words out of the VM context (and takes its borrow scopes).
pub(crate) fn capture(shared: &Shared) -> Saved {
    let (flags, slots) = words(shared);
    Saved {
        flags,
        slots,
        scopes: super::glue_builtins::handles_glue::take_scopes(),
        arenas: super::arena::take_arenas(),
    }
}

/// The words a new thread starts with: a copy of the running thread's, with no borrow scopes.
pub(crate) fn capture_new(shared: &Shared) -> Saved {
    let (flags, slots) = words(shared);
    Saved {
        flags,
        slots,
        scopes: Default::default(),
        arenas: super::arena::fresh_arenas(),
    }
}

/// The running thread's flags and task slots, per instance.
fn words(shared: &Shared) -> (Vec<u32>, Vec<[u64; 4]>) {
    let cx = &shared.vmctx;
    let o = cx.offsets;
    let n = o.num_component_instances;
    (
        (0..n).map(|i| cx.read_u32(o.instance_flags(i))).collect(),
        (0..n)
            .map(|i| slot_offsets(&o, i).map(|off| cx.read_u64(off)))
            .collect(),
    )
}

/// Gives thread `t` (just inserted, not yet run) a fiber running `body` on a new stack, with
/// `saved` as its first words; `what` names it in the error when no stack can be had.
pub(crate) fn start_fiber(
    shared: &Shared,
    t: ThreadIdx,
    saved: Saved,
    what: &str,
    body: Box<dyn FnOnce() + 'static>,
) -> Result<(), Trap> {
    if shared.concurrent.lock().threads.len() > MAX_THREADS {
        shared.concurrent.lock().threads.remove(t);
        return Err(Trap::abi(format!(
            "too many tasks and threads alive in one component instantiation (at most \
             {MAX_THREADS})"
        )));
    }
    let size = crate::fiber::stack_size_for(shared.engine.config().max_wasm_stack);
    let stack = crate::fiber::FiberStack::new(size)
        .map_err(|e| Trap::host(format!("cannot allocate a {what}'s stack: {e}")))?;
    let fiber = Fiber::new(stack, body);
    let mut st = shared.concurrent.lock();
    let rec = st
        .threads
        .get_mut(t)
        .ok_or_else(|| Trap::host("a new thread has no record"))?;
    rec.saved = Some(saved);
    rec.fiber = Some(FiberBox(fiber));
    Ok(())
}

/// Installs a thread's words into the VM context (and its borrow scopes).
pub(crate) fn install(shared: &Shared, saved: Saved) {
    let cx = &shared.vmctx;
    let o = cx.offsets;
    for (i, f) in saved.flags.iter().enumerate() {
        cx.write_u32(o.instance_flags(i as u32), *f);
    }
    for (i, s) in saved.slots.iter().enumerate() {
        for (off, v) in slot_offsets(&o, i as u32).iter().zip(s) {
            cx.write_u64(*off, *v);
        }
    }
    super::glue_builtins::handles_glue::put_scopes(saved.scopes);
    super::arena::put_arenas(saved.arenas);
}

/// The trap of a deadlock: nothing can run and the root waits.
pub(crate) fn deadlock() -> Trap {
    Trap::abi("deadlock detected: event loop cannot make further progress")
}

/// The trap of a synchronous task that would block.
pub(crate) fn cannot_block() -> Trap {
    Trap::abi("cannot block a synchronous task before returning")
}

/// A handle-table entry naming object `id`.
pub(crate) fn entry(id: ObjId) -> HandleEntry {
    HandleEntry {
        resource: ASYNC_OBJECT,
        rep: id,
        own: true,
        lend_count: 0,
    }
}

impl Shared {
    /// Adds object `obj` to instance `instance`'s handle table; returns the handle.
    pub(crate) fn add_object(
        &self,
        st: &mut State,
        instance: ComponentInstanceIndex,
        obj: Object,
    ) -> Result<u32, Trap> {
        let id = st.objects.insert(obj) as ObjId;
        match self.in_table(instance, |t| t.insert(entry(id))) {
            Ok(h) => {
                if let Some(w) = st.obj_mut(id).and_then(Object::waitable_mut) {
                    w.handle = h;
                }
                Ok(h)
            }
            Err(e) => {
                st.objects.remove(id as usize);
                Err(e)
            }
        }
    }

    /// The object handle `h` of instance `instance` names.
    pub(crate) fn object_of(
        &self,
        instance: ComponentInstanceIndex,
        h: u32,
    ) -> Result<ObjId, Trap> {
        self.object_entry(instance, h, false)
    }

    /// Removes handle `h` (an async object) from instance `instance`'s table.
    pub(crate) fn remove_object(
        &self,
        instance: ComponentInstanceIndex,
        h: u32,
    ) -> Result<ObjId, Trap> {
        self.object_entry(instance, h, true)
    }

    /// The object of async-object handle `h` of `instance`, the handle removed if `remove`.
    fn object_entry(
        &self,
        instance: ComponentInstanceIndex,
        h: u32,
        remove: bool,
    ) -> Result<ObjId, Trap> {
        self.in_table(instance, |t| {
            if remove {
                t.remove(h, ASYNC_OBJECT).map(|e| e.rep)
            } else {
                t.get(h, ASYNC_OBJECT).map(|e| e.rep)
            }
        })
        .map_err(|_| self.handle_kind_trap(instance, h))
    }

    /// The trap for handle `h` that is not an async object of the expected kind.
    pub(crate) fn handle_kind_trap(&self, instance: ComponentInstanceIndex, h: u32) -> Trap {
        let live = self
            .handles
            .with(instance, |t| t.is_live(h))
            .unwrap_or(false);
        if live {
            Trap::abi(format!("handle index {h} used with the wrong type"))
        } else {
            Trap::abi(format!("unknown handle index {h}"))
        }
    }

    /// Runs thread `t` (a fiber) until it blocks or finishes, from the running thread; passes
    /// on a trap it ended with.
    pub(crate) fn run_thread(&self, t: ThreadIdx) -> Result<(), Trap> {
        let (mut fiber, saved, prev) = {
            let mut st = self.concurrent.lock();
            let prev = st.current;
            let rec = st
                .threads
                .get_mut(t)
                .ok_or_else(|| Trap::host("resumed a thread that is gone"))?;
            let fiber = rec
                .fiber
                .take()
                .ok_or_else(|| Trap::host("resumed a running thread"))?;
            let saved = rec.saved.take();
            rec.resumer = Some(prev);
            rec.suspended = false;
            st.current = t;
            (fiber, saved, prev)
        };
        let mine = capture(self);
        if let Some(s) = saved {
            install(self, s);
        }
        let r = fiber.0.resume();
        let theirs = capture(self);
        install(self, mine);
        let mut st = self.concurrent.lock();
        st.current = prev;
        let finished = matches!(r, Ok(true));
        let outcome = {
            let rec = st
                .threads
                .get_mut(t)
                .expect("a resumed thread keeps its record");
            rec.saved = Some(theirs);
            if finished {
                rec.outcome.take()
            } else {
                rec.fiber = Some(fiber);
                None
            }
        };
        if let Some(rec) = st.threads.get_mut(t) {
            rec.resumer = None;
        }
        if finished {
            if let Some(mut rec) = st.threads.remove(t) {
                threads::unregister(&mut st, &rec.indices);
                if let Some(saved) = rec.saved.take() {
                    // What the finished thread lifted for its caller stays alive with it.
                    match rec.parent {
                        Some(p) if p == prev => super::arena::adopt(None, saved.arenas),
                        Some(p) => {
                            let into = st
                                .threads
                                .get_mut(p)
                                .and_then(|r| r.saved.as_mut())
                                .map(|s| &mut s.arenas);
                            // A caller that is not parked (it runs further down this
                            // stack) gets them through the thread that resumed this one.
                            super::arena::adopt(into, saved.arenas);
                        }
                        None => {}
                    }
                }
            }
        }
        drop(st);
        match r {
            Err(e) => Err(Trap::host(format!("cannot resume a task: {e}"))),
            Ok(_) => outcome.unwrap_or(Ok(())),
        }
    }

    /// Blocks the running thread until `pred` holds (CanonicalABI.md `Thread.wait_until`).
    /// `st` is the locked state; it is released while other threads run.
    pub(crate) fn block_until(&self, st: MutexGuard<'_, State>, pred: Pred) -> Result<(), Trap> {
        let mut st = st;
        if pred(&st) {
            return Ok(());
        }
        let me = st.current;
        if me != ROOT {
            let rec = st.thread();
            rec.ready = Some(pred);
            st.waiting.push_back(me);
            drop(st);
            return match crate::fiber::suspend() {
                Ok(()) => Ok(()),
                Err(_) => Err(Trap::host("task cancelled: its component instance is gone")),
            };
        }
        loop {
            if pred(&st) {
                return Ok(());
            }
            if let Some(t) = take_ready(&mut st) {
                drop(st);
                self.run_thread(t)?;
                st = self.concurrent.lock();
                continue;
            }
            // Nothing can run: the host may still deliver (`host_io.rs`).
            let (relocked, any) = self.pump_and_lower(st)?;
            st = relocked;
            if any {
                continue;
            }
            let next = st.timers.iter().min().copied();
            if next.is_none() && !self.concurrent.mailbox.expecting() {
                return Err(deadlock());
            }
            drop(st);
            self.concurrent.mailbox.wait(next);
            st = self.concurrent.lock();
        }
    }

    /// Blocks the running thread as [`Shared::block_until`] does, in a wait a cancellation
    /// of task `task` may end (CanonicalABI.md `cancellable = True`): a pending cancellation
    /// is delivered at once. Returns whether the wait ended by cancellation.
    pub(crate) fn block_cancellable(
        &self,
        st: MutexGuard<'_, State>,
        task: Option<TaskId>,
        pred: Pred,
    ) -> Result<bool, Trap> {
        let mut st = st;
        if let Some(t) = task.and_then(|t| st.tasks.get_mut(t)) {
            if t.cancel == Cancel::Pending {
                t.cancel = Cancel::Delivered;
                return Ok(true);
            }
        }
        if pred(&st) || st.current == ROOT || task.is_none() {
            self.block_until(st, pred)?;
            return Ok(false);
        }
        st.thread().cancellable = true;
        let r = self.block_until(st, pred);
        let mut st = self.concurrent.lock();
        let rec = st.thread();
        rec.cancellable = false;
        let cancelled = std::mem::take(&mut rec.cancelled);
        r?;
        Ok(cancelled)
    }

    /// [`Shared::yield_now`] in a wait a cancellation of task `task` may end (`thread.yield
    /// cancellable`); returns whether the task was cancelled.
    pub(crate) fn yield_cancellable(
        &self,
        st: MutexGuard<'_, State>,
        task: Option<TaskId>,
    ) -> Result<bool, Trap> {
        let mut st = st;
        if let Some(t) = task.and_then(|t| st.tasks.get_mut(t)) {
            if t.cancel == Cancel::Pending {
                t.cancel = Cancel::Delivered;
                return Ok(true);
            }
        }
        if st.current == ROOT || task.is_none() {
            self.yield_now(st)?;
            return Ok(false);
        }
        st.thread().cancellable = true;
        let r = self.yield_now(st);
        let mut st = self.concurrent.lock();
        let rec = st.thread();
        rec.cancellable = false;
        let cancelled = std::mem::take(&mut rec.cancelled);
        r?;
        Ok(cancelled)
    }

    /// Lets every other ready thread run once before the running one continues
    /// (CanonicalABI.md `Thread.yield_`).
    pub(crate) fn yield_now(&self, st: MutexGuard<'_, State>) -> Result<(), Trap> {
        let mut st = st;
        let me = st.current;
        if me != ROOT {
            st.thread().ready = Some(Box::new(|_| true));
            st.waiting.push_back(me);
            drop(st);
            return crate::fiber::suspend()
                .map_err(|_| Trap::host("task cancelled: its component instance is gone"));
        }
        st = self.pump_and_lower(st)?.0;
        let n = st.waiting.len();
        for _ in 0..n {
            let Some(t) = take_ready(&mut st) else { break };
            drop(st);
            self.run_thread(t)?;
            st = self.concurrent.lock();
        }
        Ok(())
    }
}

/// Whether thread `t` waits for a predicate that now holds.
fn is_ready(st: &State, t: ThreadIdx) -> bool {
    st.threads
        .get(t)
        .and_then(|r| r.ready.as_ref())
        .is_some_and(|p| p(st))
}

/// Whether some waiting thread could run now.
pub(crate) fn any_ready(st: &State) -> bool {
    st.waiting.iter().any(|&t| is_ready(st, t))
}

/// Removes and returns the first waiting thread whose predicate holds.
pub(crate) fn take_ready(st: &mut State) -> Option<ThreadIdx> {
    let pos = st.waiting.iter().position(|&t| is_ready(st, t))?;
    let t = st.waiting.remove(pos)?;
    if let Some(r) = st.threads.get_mut(t) {
        r.ready = None;
    }
    Some(t)
}

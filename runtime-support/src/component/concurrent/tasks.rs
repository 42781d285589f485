//! Tasks and subtasks: the lifted calls of `async` function types, run on their own threads
//! (CanonicalABI.md `canon_lift`), and `async` lowerings of them (`canon_lower` with `async`).
//!
//! A lifted call of an `async` function type reaches [`Shared::async_call`] from the compiled
//! glue, after the glue lowered the arguments and pointed `task.return` at the caller's result
//! buffer. The call starts a fiber for the task at once and runs it until it blocks or
//! finishes; the caller then waits until the task *resolved* (delivered its result, or its core
//! function returned for a synchronous lift). The task's thread goes on independently after
//! that (a stackful task's code after `task.return`, a callback loop).
//!
//! An `async` lowering of such a function runs the compiled fused adapter on a fiber of its
//! own (the subtask's), so the caller gets a status at once: RETURNED when the adapter finished
//! without blocking, else STARTING or STARTED with a subtask handle; the adapter's completion
//! (results lowered into the caller's memory) is the RETURNED event.

use super::waitables::{subtask_progress, subtask_state, Subtask};
use super::{capture_new, ObjId, Object, State, TaskRec, ThreadIdx, ThreadRec, Waitable, ROOT};
use crate::component::instance::{lock, vmctx_view, Shared};
use crate::error::{Error, Trap};
use crate::func::Func;
use crate::store::StoreMember;
use crate::values::Val;
use crate::vm::ValRaw;
use kiln_environ::component::glue::GlueTrap;
use kiln_environ::component::ComponentInstanceIndex;
use kiln_environ::ValType;
use std::sync::MutexGuard;

/// The host as a caller (no calling instance).
pub(crate) const HOST_CALLER: u32 = u32::MAX;

/// Callback codes (CanonicalABI.md `CallbackCode`).
mod callback {
    pub const EXIT: u32 = 0;
    pub const YIELD: u32 = 1;
    pub const WAIT: u32 = 2;
}

fn trap_of(e: Error) -> Trap {
    match e {
        Error::Trap(t) => t,
        other => Trap::host(other.to_string()),
    }
}

impl Shared {
    /// Whether the running thread may wait for a callee called by `caller` (an instance, or
    /// [`HOST_CALLER`]).
    fn caller_may_block(&self, st: &State, caller: u32) -> Result<(), Trap> {
        if caller == HOST_CALLER {
            return Ok(());
        }
        let t = st.threads.get(st.current);
        if t.is_some_and(|t| t.subtask.is_some() && t.tasks.is_empty()) {
            // An `async` lowering's own thread: its caller does not wait.
            return Ok(());
        }
        self.check_may_block(st, caller)
    }

    /// Whether task `task` resolved.
    fn task_resolved(st: &State, task: usize) -> bool {
        let Some(t) = st.tasks.get(task) else {
            return true;
        };
        if t.resolved {
            return true;
        }
        // An `async` lift's `task.return` clears its destination slot in the task's thread's
        // copy of the VM context (saved while that thread does not run).
        t.async_lift
            && t.started
            && st
                .threads
                .get(t.thread)
                .and_then(|r| r.saved.as_ref())
                .is_some_and(|s| s.task_return(t.instance) == 0)
    }

    /// Runs lifted function `lift` (of an `async` type or with the `async` option) as a task on
    /// a thread of its own, with the flat arguments `args`; returns once the task resolved,
    /// with the raw core result of a synchronous lift (the glue lifts it).
    pub(crate) fn async_call(&self, caller: u32, lift: u32, args: &[u64]) -> Result<i64, Trap> {
        let lifted = lock(&self.lifted)
            .get(lift as usize)
            .cloned()
            .ok_or_else(|| Trap::host("lifted function missing"))?;
        let inst = lifted.options.instance;
        let params = lifted.callee.ty().params;
        let vals: Vec<Val> = params
            .iter()
            .zip(args)
            .map(|(t, v)| match t {
                ValType::I32 => Val::I32(*v as u32 as i32),
                ValType::I64 => Val::I64(*v as i64),
                ValType::F32 => Val::F32(*v as u32),
                _ => Val::F64(*v),
            })
            .collect();
        let mut st = self.concurrent.lock();
        if lifted.ty.is_async {
            // Calling an `async` function synchronously may block: only a task that may block
            // can (wasmtime checks this before the callee runs).
            self.caller_may_block(&st, caller)?;
        }
        let subtask = {
            let t = st.thread();
            if t.tasks.is_empty() {
                t.subtask
            } else {
                None
            }
        };
        let task = st.tasks.insert(TaskRec {
            instance: inst,
            async_fn: lifted.ty.is_async,
            async_lift: lifted.options.async_,
            exclusive: !lifted.options.async_ || lifted.options.callback,
            thread: ROOT,
            started: false,
            resolved: false,
            done: false,
            raw_ret: 0,
            subtask,
            collected: false,
            cancel: super::Cancel::None,
            cancelled: false,
            result_blocks: Vec::new(),
        });
        let parent = Some(st.current);
        let t = st.threads.insert(ThreadRec {
            tasks: vec![task],
            parent,
            ..ThreadRec::default()
        });
        if let Some(r) = st.tasks.get_mut(task) {
            r.thread = t;
        }
        drop(st);
        let saved = capture_new(self);
        let cvmctx = self.vmctx.ptr() as usize;
        let callback = lifted.callback.clone();
        let body = move || {
            // SAFETY: the VM context belongs to the instantiation whose state owns this fiber;
            // `Concurrent::shutdown` cancels every fiber before that state goes away.
            let Some(view) = (unsafe { vmctx_view(cvmctx as *const u8) }) else {
                return;
            };
            let shared = view.shared;
            let r = shared.run_task(task, &lifted.callee, callback.as_ref(), &lifted.ty, &vals);
            let mut st = shared.concurrent.lock();
            shared.finish_task(&mut st, task);
            st.thread().outcome = Some(r);
        };
        super::start_fiber(self, t, saved, "task", Box::new(body))?;
        self.run_thread(t)?;
        let st = self.concurrent.lock();
        if !Self::task_resolved(&st, task) {
            self.caller_may_block(&st, caller)?;
            self.block_until(st, Box::new(move |st| Self::task_resolved(st, task)))?;
        } else {
            drop(st);
        }
        let mut st = self.concurrent.lock();
        if st.tasks.get(task).is_some_and(|t| t.cancelled) {
            if let Some(t) = st.tasks.get_mut(task) {
                t.collected = true;
                if t.done {
                    st.tasks.remove(task);
                }
            }
            // The callee resolved without a result: the adapter stops here (its subtask
            // reports the cancellation).
            return Err(cancelled_marker());
        }
        let raw = st.tasks.get(task).map_or(0, |t| t.raw_ret);
        let mut blocks = Vec::new();
        if let Some(t) = st.tasks.get_mut(task) {
            t.resolved = true;
            t.collected = true;
            blocks = std::mem::take(&mut t.result_blocks);
            if t.done {
                st.tasks.remove(task);
            }
        }
        drop(st);
        // The result's copies now live as long as the caller's frame (it reads them next).
        crate::component::arena::keep_blocks(blocks);
        if lifted.options.async_ {
            // The result arrived: the caller's copy of the slot says so too.
            self.vmctx
                .write_u64(self.vmctx.offsets.task_return(inst), 0);
        }
        Ok(raw)
    }

    /// Marks task `task` finished on its thread (its instance's exclusivity released).
    fn finish_task(&self, st: &mut State, task: usize) {
        let me = st.current;
        if let Some(inst) = st.tasks.get(task).map(|t| t.instance) {
            if st.exclusive.get(inst as usize).copied().flatten() == Some(me) {
                st.exclusive[inst as usize] = None;
            }
        }
        st.thread().tasks.retain(|&t| t != task);
        let collected = st.tasks.get(task).is_some_and(|t| t.collected);
        if collected {
            st.tasks.remove(task);
        } else if let Some(t) = st.tasks.get_mut(task) {
            t.done = true;
        }
    }

    /// The body of a task's thread: enter the instance (backpressure, exclusivity), call the
    /// core function, run the callback loop.
    fn run_task(
        &self,
        task: usize,
        callee: &Func,
        callback: Option<&Func>,
        ty: &kiln_environ::component::ComponentFuncType,
        args: &[Val],
    ) -> Result<(), Trap> {
        let (inst, exclusive, async_lift, subtask) = {
            let st = self.concurrent.lock();
            let t = st
                .tasks
                .get(task)
                .ok_or_else(|| Trap::host("task missing"))?;
            (t.instance, t.exclusive, t.async_lift, t.subtask)
        };
        if ty.is_async && !self.enter_instance(task, inst, exclusive)? {
            // Cancelled before it started (CanonicalABI.md `Task.cancel` from `INITIAL`).
            let mut st = self.concurrent.lock();
            if let Some(t) = st.tasks.get_mut(task) {
                t.resolved = true;
                t.cancelled = true;
            }
            if let Some(s) = subtask {
                subtask_progress(&mut st, s, subtask_state::CANCELLED_BEFORE_STARTED);
            }
            return Ok(());
        }
        {
            let mut st = self.concurrent.lock();
            if let Some(t) = st.tasks.get_mut(task) {
                t.started = true;
            }
            if let Some(s) = subtask {
                subtask_progress(&mut st, s, subtask_state::STARTED);
            }
        }
        let mut results = callee.call(args).map_err(trap_of)?;
        if !async_lift {
            let mut st = self.concurrent.lock();
            if let Some(t) = st.tasks.get_mut(task) {
                t.raw_ret = results.first().map_or(0, raw_of);
                t.resolved = true;
            }
            return Ok(());
        }
        let o = self.vmctx.offsets;
        let returned = |s: &Shared| s.vmctx.read_u64(o.task_return(inst)) == 0;
        let Some(callback) = callback else {
            if !returned(self) {
                return Err(Trap::abi(GlueTrap::NoAsyncResult.message()));
            }
            self.mark_resolved(task);
            return Ok(());
        };
        loop {
            let packed = results.first().map_or(0, raw_of) as u32;
            if returned(self) {
                self.mark_resolved(task);
            }
            let (code, si) = (packed & 0xf, packed >> 4);
            let ev = match code {
                callback::EXIT => break,
                callback::YIELD => {
                    let mut st = self.concurrent.lock();
                    release(&mut st, inst);
                    let pending = st
                        .tasks
                        .get_mut(task)
                        .filter(|t| t.cancel == super::Cancel::Pending);
                    let cancelled = if let Some(t) = pending {
                        t.cancel = super::Cancel::Delivered;
                        true
                    } else {
                        self.yield_now(st)?;
                        false
                    };
                    self.reacquire(inst)?;
                    if cancelled {
                        (super::event::TASK_CANCELLED, 0, 0)
                    } else {
                        (super::event::NONE, 0, 0)
                    }
                }
                callback::WAIT => {
                    let set = self.waitable_set_object(inst, si)?;
                    {
                        let mut st = self.concurrent.lock();
                        release(&mut st, inst);
                    }
                    let ev = self.wait_event_raw(set, Some(task))?;
                    self.reacquire(inst)?;
                    ev
                }
                _ => return Err(Trap::abi("unsupported callback code")),
            };
            let args = [
                Val::I32(ev.0 as i32),
                Val::I32(ev.1 as i32),
                Val::I32(ev.2 as i32),
            ];
            results = callback.call(&args).map_err(trap_of)?;
        }
        if !returned(self) {
            return Err(Trap::abi(GlueTrap::NoAsyncResult.message()));
        }
        Ok(())
    }

    /// Records that task `task` delivered its result.
    fn mark_resolved(&self, task: usize) {
        if let Some(t) = self.concurrent.lock().tasks.get_mut(task) {
            t.resolved = true;
        }
    }

    /// Waits until instance `inst` can be entered (no backpressure, and exclusively when
    /// `exclusive`), then takes it (CanonicalABI.md `Task.enter_implicit_thread`).
    fn enter_instance(
        &self,
        task: usize,
        inst: ComponentInstanceIndex,
        exclusive: bool,
    ) -> Result<bool, Trap> {
        let bp = self.vmctx.ptr() as usize + self.vmctx.offsets.backpressure(inst) as usize;
        let blocked = move |st: &State| {
            // SAFETY: the backpressure word of this instantiation's VM context, which lives as
            // long as the state evaluating this predicate.
            let n = unsafe { (bp as *const u32).read() };
            n > 0 || (exclusive && st.exclusive[inst as usize].is_some())
        };
        let mut st = self.concurrent.lock();
        // The instance is busy with a thread that can go on (a task that blocked inside and
        // whose wait is over): let ready threads run first, so the call starts now rather
        // than being reported as not started (as wasmtime does).
        // One pass over the threads ready now (a thread that yields is ready again at once).
        let mut budget = st.waiting.len();
        while blocked(&st) && st.current != super::ROOT && budget > 0 {
            budget -= 1;
            let Some(t) = super::take_ready(&mut st) else {
                break;
            };
            drop(st);
            self.run_thread(t)?;
            st = self.concurrent.lock();
        }
        if blocked(&st) || st.waiting_to_enter[inst as usize] > 0 {
            st.waiting_to_enter[inst as usize] += 1;
            let r = self.block_cancellable(st, Some(task), Box::new(move |st| !blocked(st)));
            st = self.concurrent.lock();
            st.waiting_to_enter[inst as usize] -= 1;
            if r? {
                return Ok(false);
            }
        }
        if exclusive {
            let me = st.current;
            st.exclusive[inst as usize] = Some(me);
        }
        Ok(true)
    }

    /// Takes instance `inst` exclusively again after a callback's wait.
    fn reacquire(&self, inst: ComponentInstanceIndex) -> Result<(), Trap> {
        let st = self.concurrent.lock();
        self.block_until(
            st,
            Box::new(move |st| st.exclusive[inst as usize].is_none()),
        )?;
        let mut st = self.concurrent.lock();
        let me = st.current;
        st.exclusive[inst as usize] = Some(me);
        Ok(())
    }

    /// Runs an `async` lowering of a lifted function: `adapter` (the compiled fused adapter)
    /// on a subtask's thread. `values` holds the flat arguments; the status goes in slot 0.
    /// `host`: `adapter` is a host import's trampoline, which takes its arguments at once (the
    /// subtask starts STARTED).
    pub(crate) fn subtask_call(
        &self,
        adapter: &Func,
        caller: ComponentInstanceIndex,
        host: bool,
        values: &mut [ValRaw],
    ) -> Result<(), Trap> {
        let mut st = self.concurrent.lock();
        let sub = st.objects.insert(Object::Subtask(Subtask {
            w: Waitable::default(),
            state: if host {
                subtask_state::STARTED
            } else {
                subtask_state::STARTING
            },
            delivered: false,
            cancel_requested: false,
            thread: None,
            has_handle: false,
        })) as ObjId;
        let t = st.threads.insert(ThreadRec {
            subtask: Some(sub),
            ..ThreadRec::default()
        });
        if let Some(Object::Subtask(s)) = st.obj_mut(sub) {
            s.thread = Some(t);
        }
        drop(st);
        let saved = capture_new(self);
        let cvmctx = self.vmctx.ptr() as usize;
        let adapter = adapter.clone();
        let mut vals = values.to_vec();
        let max_stack = self.engine.config().max_wasm_stack;
        let body = move || {
            // SAFETY: as in `async_call`.
            let Some(view) = (unsafe { vmctx_view(cvmctx as *const u8) }) else {
                return;
            };
            let shared = view.shared;
            let mut call = || {
                // SAFETY: `vals` holds the lowering's flat arguments and room for its status;
                // the adapter is compiled glue of this instantiation.
                unsafe { adapter.call_array_entry(&mut vals) }
            };
            // SAFETY: the closure holds only `vals` and the adapter handle (kept alive by
            // this body); the slot is the instantiation's store slot.
            let r =
                unsafe { crate::store::run_in_store(shared.store_slot(), max_stack, &mut call) }
                    .map_err(trap_of);
            let r = match r {
                Err(t) if is_cancelled_marker(&t) => Ok(()),
                other => other,
            };
            let mut st = shared.concurrent.lock();
            let me = st.current;
            // The subtask may be resolved (cancelled) and even dropped, its id reused: only
            // this thread's own, unresolved subtask returns.
            let mine = matches!(st.obj(sub), Some(Object::Subtask(s))
                if s.thread == Some(me) && !s.resolved());
            if r.is_ok() && mine {
                subtask_progress(&mut st, sub, subtask_state::RETURNED);
            }
            st.thread().outcome = Some(r);
        };
        super::start_fiber(self, t, saved, "subtask", Box::new(body))?;
        self.run_thread(t)?;
        let mut st = self.concurrent.lock();
        let (resolved, state) = match st.obj(sub) {
            Some(Object::Subtask(s)) => (s.resolved(), s.state),
            _ => (true, subtask_state::RETURNED),
        };
        let status = if resolved {
            st.objects.remove(sub as usize);
            subtask_state::RETURNED
        } else {
            let h = self.attach_handle(&mut st, caller, sub)?;
            if let Some(Object::Subtask(s)) = st.obj_mut(sub) {
                s.has_handle = true;
                // Progress before the handle existed is not an event.
                s.w.pending = false;
            }
            state | (h << 4)
        };
        values[0] = ValRaw::from_u64(u64::from(status));
        Ok(())
    }

    /// Gives existing object `id` a handle in instance `inst`'s table.
    fn attach_handle(
        &self,
        st: &mut State,
        inst: ComponentInstanceIndex,
        id: ObjId,
    ) -> Result<u32, Trap> {
        let h = self.in_table(inst, |t| t.insert(super::entry(id)))?;
        if let Some(w) = st.obj_mut(id).and_then(Object::waitable_mut) {
            w.handle = h;
        }
        Ok(h)
    }
}

/// Releases instance `inst` if the running thread holds it.
fn release(st: &mut MutexGuard<'_, State>, inst: ComponentInstanceIndex) {
    let me: ThreadIdx = st.current;
    if st.exclusive[inst as usize] == Some(me) {
        st.exclusive[inst as usize] = None;
    }
}

fn raw_of(v: &Val) -> i64 {
    match v {
        Val::I32(x) => i64::from(*x as u32),
        Val::I64(x) => *x,
        Val::F32(x) => i64::from(*x),
        Val::F64(x) => *x as i64,
        _ => 0,
    }
}

/// The message of the error that stops an `async` lowering's adapter when its callee resolved
/// by cancellation (no result to lower); never seen outside the subtask's thread.
const CANCELLED_MARKER: &str = "\u{0}kiln: subtask cancelled";

pub(crate) fn cancelled_marker() -> Trap {
    Trap::host(CANCELLED_MARKER)
}

fn is_cancelled_marker(t: &Trap) -> bool {
    t.message == CANCELLED_MARKER
}

impl Shared {
    /// A block of `bytes` bytes (copied from native address `src` unless 0) owned by the
    /// result of the running thread's task: `task.return`'s copies of strings and lists, which
    /// the guest may free as soon as `task.return` returns, kept until the caller took them.
    pub(crate) fn result_block(&self, src: u64, bytes: u64) -> Result<u64, Trap> {
        crate::component::arena::charge_lifted(bytes)?;
        let mut block = crate::component::arena::new_block(bytes)?;
        if src != 0 && bytes > 0 {
            // SAFETY: the glue passes a native address with `bytes` readable bytes (a range of
            // guest memory it checked, or a host buffer it filled); the block has room.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    src as usize as *const u8,
                    block.as_mut_ptr().cast::<u8>(),
                    bytes as usize,
                )
            };
        }
        let p = block.as_ptr() as u64;
        let mut st = self.concurrent.lock();
        let task = st.thread().tasks.last().copied();
        match task.and_then(|t| st.tasks.get_mut(t)) {
            Some(t) => t.result_blocks.push(block),
            // Not inside a task (cannot happen for `task.return`): the thread's frame.
            None => {
                drop(st);
                crate::component::arena::keep_blocks(vec![block]);
            }
        }
        Ok(p)
    }

    /// `task.cancel`: the running task of `inst`, whose cancellation was delivered, resolves
    /// without a result.
    pub(crate) fn task_cancel(&self, inst: ComponentInstanceIndex) -> Result<(), Trap> {
        let mut st = self.concurrent.lock();
        let task = st
            .current_task(inst)
            .filter(|&t| st.tasks.get(t).is_some_and(|t| t.async_lift))
            .ok_or_else(|| {
                Trap::abi("`task.cancel` called by a task that is not `async` lifted")
            })?;
        let t = st.tasks.get_mut(task).expect("current task");
        if t.resolved {
            return Err(Trap::abi(
                "`task.return` or `task.cancel` called more than once for current task",
            ));
        }
        if t.cancel != super::Cancel::Delivered {
            return Err(Trap::abi(
                "`task.cancel` called by task which has not been cancelled",
            ));
        }
        t.resolved = true;
        t.cancelled = true;
        let subtask = t.subtask;
        if let Some(s) = subtask {
            subtask_progress(&mut st, s, subtask_state::CANCELLED_BEFORE_RETURNED);
        }
        drop(st);
        // No `task.return` after this.
        self.vmctx
            .write_u64(self.vmctx.offsets.task_return(inst), 0);
        Ok(())
    }

    /// Requests cancellation of the task answering subtask `sub` (CanonicalABI.md
    /// `Task.request_cancellation`): a task that has not started, or waits cancellably, is
    /// resumed at once with the cancellation; another gets it at its next cancellable wait.
    pub(crate) fn request_cancellation(&self, sub: ObjId) -> Result<(), Trap> {
        let mut st = self.concurrent.lock();
        let Some(task) = st
            .tasks
            .iter()
            .find(|(_, t)| t.subtask == Some(sub) && !t.resolved)
            .map(|(i, _)| i)
        else {
            return self.cancel_host_subtask(st, sub);
        };
        let (thread, started) = {
            let t = st.tasks.get(task).expect("found");
            (t.thread, t.started)
        };
        let waiting = st
            .threads
            .get(thread)
            .is_some_and(|r| r.ready.is_some() && (r.cancellable || !started));
        if !waiting {
            if let Some(t) = st.tasks.get_mut(task) {
                t.cancel = super::Cancel::Pending;
            }
            return Ok(());
        }
        if let Some(t) = st.tasks.get_mut(task) {
            t.cancel = super::Cancel::Delivered;
        }
        st.waiting.retain(|&w| w != thread);
        if let Some(r) = st.threads.get_mut(thread) {
            r.ready = None;
            r.cancelled = true;
        }
        drop(st);
        self.run_thread(thread)
    }

    /// Cancels subtask `sub` if it is a host function's call waiting in a cancellable host
    /// wait (`HostCx::sleep_until`, `block_on`): it resolves cancelled, and the host function
    /// returns at once. Other host calls finish in their own time.
    fn cancel_host_subtask(&self, st: MutexGuard<'_, State>, sub: ObjId) -> Result<(), Trap> {
        let mut st = st;
        let Some(Object::Subtask(s)) = st.obj(sub) else {
            return Ok(());
        };
        let Some(thread) = s.thread else {
            return Ok(());
        };
        let waiting = st
            .threads
            .get(thread)
            .is_some_and(|r| r.ready.is_some() && r.cancellable && r.tasks.is_empty());
        if !waiting {
            return Ok(());
        }
        st.waiting.retain(|&w| w != thread);
        if let Some(r) = st.threads.get_mut(thread) {
            r.ready = None;
            r.cancelled = true;
        }
        subtask_progress(&mut st, sub, subtask_state::CANCELLED_BEFORE_RETURNED);
        drop(st);
        self.run_thread(thread)
    }
}

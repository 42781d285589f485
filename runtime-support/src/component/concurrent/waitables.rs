//! Waitable sets, subtasks and event delivery (CanonicalABI.md `Waitable`, `WaitableSet`,
//! `Subtask`, and the `waitable-set.*`, `waitable.join` and `subtask.*` built-ins).

use super::{event, ObjId, Object, State, ThreadIdx, Waitable, BLOCKED};
use crate::component::instance::Shared;
use crate::error::Trap;
use kiln_environ::component::{ComponentInstanceIndex, RuntimeMemoryIndex};

/// A waitable set.
#[derive(Default)]
pub(crate) struct WaitableSet {
    /// Its members, in the order they joined.
    pub(crate) elems: Vec<ObjId>,
    /// Threads waiting on it.
    pub(crate) num_waiting: u32,
}

/// Subtask states (CanonicalABI.md `Subtask.State`).
pub(crate) mod subtask_state {
    /// Waiting to enter the callee (backpressure).
    pub const STARTING: u32 = 0;
    /// Running.
    pub const STARTED: u32 = 1;
    /// The result was delivered.
    pub const RETURNED: u32 = 2;
    /// Cancelled before it started.
    pub const CANCELLED_BEFORE_STARTED: u32 = 3;
    /// Cancelled after it started, before it returned.
    pub const CANCELLED_BEFORE_RETURNED: u32 = 4;
}
use subtask_state::*;

/// A subtask: an `async`-lowered call that did not finish at once.
pub(crate) struct Subtask {
    /// Its waitable part.
    pub(crate) w: Waitable,
    /// Its state (`subtask_state`).
    pub(crate) state: u32,
    /// The caller has received the resolution (`resolve_delivered`).
    pub(crate) delivered: bool,
    /// The caller asked for cancellation.
    pub(crate) cancel_requested: bool,
    /// The thread carrying out the call (its adapter).
    pub(crate) thread: Option<ThreadIdx>,
    /// The handle was given to the caller (progress then raises events).
    pub(crate) has_handle: bool,
}

impl Subtask {
    /// Whether the call resolved (returned or was cancelled).
    pub(crate) fn resolved(&self) -> bool {
        self.state >= RETURNED
    }
}

/// Records progress of subtask `id` to state `state`: once the caller holds its handle, the
/// change is an event.
pub(crate) fn subtask_progress(st: &mut State, id: ObjId, state: u32) {
    if let Some(Object::Subtask(s)) = st.obj_mut(id) {
        if s.state < state {
            s.state = state;
        }
        if s.has_handle {
            s.w.pending = true;
        }
    }
}

/// Whether object `id` has a pending event.
pub(crate) fn has_event(st: &State, id: ObjId) -> bool {
    st.obj(id)
        .and_then(Object::waitable)
        .is_some_and(|w| w.pending)
}

/// Delivers object `id`'s pending event: `(code, index, payload)`.
pub(crate) fn take_event(st: &mut State, id: ObjId) -> (u32, u32, u32) {
    match st.obj_mut(id) {
        Some(Object::Subtask(s)) => {
            s.w.pending = false;
            if s.resolved() {
                s.delivered = true;
            }
            (event::SUBTASK, s.w.handle, s.state)
        }
        Some(Object::End(_)) => super::copy::take_end_event(st, id),
        _ => (event::NONE, 0, 0),
    }
}

/// Whether set `set` has a member with a pending event.
pub(crate) fn set_has_event(st: &State, set: ObjId) -> bool {
    match st.obj(set) {
        Some(Object::Set(s)) => s.elems.iter().any(|&w| has_event(st, w)),
        _ => false,
    }
}

/// Delivers the pending event of the first member of `set` that has one.
fn set_take_event(st: &mut State, set: ObjId) -> (u32, u32, u32) {
    let elems = match st.obj(set) {
        Some(Object::Set(s)) => s.elems.clone(),
        _ => Vec::new(),
    };
    match elems.into_iter().find(|&w| has_event(st, w)) {
        Some(w) => take_event(st, w),
        None => (event::NONE, 0, 0),
    }
}

/// Joins waitable `w` to set `set` (or to none), leaving its previous set.
pub(crate) fn join(st: &mut State, w: ObjId, set: Option<ObjId>) {
    let old = st.obj(w).and_then(Object::waitable).and_then(|x| x.wset);
    if let Some(Object::Set(s)) = old.and_then(|o| st.obj_mut(o)) {
        s.elems.retain(|&e| e != w);
    }
    if let Some(x) = st.obj_mut(w).and_then(Object::waitable_mut) {
        x.wset = set;
    }
    if let Some(Object::Set(s)) = set.and_then(|o| st.obj_mut(o)) {
        s.elems.push(w);
    }
}

impl Shared {
    /// The object of waitable-set handle `h`.
    fn set_of(&self, st: &State, inst: ComponentInstanceIndex, h: u32) -> Result<ObjId, Trap> {
        let id = self.object_of(inst, h)?;
        match st.obj(id) {
            Some(Object::Set(_)) => Ok(id),
            _ => Err(self.handle_kind_trap(inst, h)),
        }
    }

    /// `waitable-set.new`.
    pub(crate) fn waitable_set_new(&self, inst: ComponentInstanceIndex) -> Result<u32, Trap> {
        let mut st = self.concurrent.lock();
        self.add_object(&mut st, inst, Object::Set(WaitableSet::default()))
    }

    /// Whether the running thread may block now (CanonicalABI.md: an `async` function's
    /// task, or one that returned already); a synchronous task traps instead.
    pub(crate) fn check_may_block(
        &self,
        st: &State,
        inst: ComponentInstanceIndex,
    ) -> Result<(), Trap> {
        match st.current_task(inst).and_then(|t| st.tasks.get(t)) {
            Some(t) if t.async_fn || t.resolved => Ok(()),
            None if st.threads.get(st.current).is_some_and(|r| r.may_block) => Ok(()),
            _ => Err(super::cannot_block()),
        }
    }

    /// `waitable-set.wait`: blocks until a member of set `si` has an event, then writes
    /// `(index, payload)` at `ptr` and returns the code. Also used by the callback loop.
    pub(crate) fn waitable_set_wait(
        &self,
        inst: ComponentInstanceIndex,
        si: u32,
        cancellable: bool,
        memory: Option<RuntimeMemoryIndex>,
        ptr: u32,
    ) -> Result<u32, Trap> {
        let st = self.concurrent.lock();
        self.check_may_block(&st, inst)?;
        let set = self.set_of(&st, inst, si)?;
        let task = if cancellable {
            st.current_task(inst)
        } else {
            None
        };
        drop(st);
        let ev = self.wait_event_raw(set, task)?;
        if let Some(m) = memory {
            self.write_event(m, ptr, ev)?;
        }
        Ok(ev.0)
    }

    /// Waits for an event of set `set` as the callback loop does (the instance's exclusivity
    /// released while it waits); returns the event.
    pub(crate) fn wait_event_raw(
        &self,
        set: ObjId,
        task: Option<super::TaskId>,
    ) -> Result<(u32, u32, u32), Trap> {
        let mut st = self.concurrent.lock();
        if let Some(Object::Set(s)) = st.obj_mut(set) {
            s.num_waiting += 1;
        }
        let r = self.block_cancellable(st, task, Box::new(move |st| set_has_event(st, set)));
        let mut st = self.concurrent.lock();
        if let Some(Object::Set(s)) = st.obj_mut(set) {
            s.num_waiting -= 1;
        }
        if r? {
            return Ok((event::TASK_CANCELLED, 0, 0));
        }
        Ok(set_take_event(&mut st, set))
    }

    /// The object of waitable-set handle `si` of `inst` (for the callback loop).
    pub(crate) fn waitable_set_object(
        &self,
        inst: ComponentInstanceIndex,
        si: u32,
    ) -> Result<ObjId, Trap> {
        let st = self.concurrent.lock();
        self.set_of(&st, inst, si)
    }

    /// `waitable-set.poll`.
    pub(crate) fn waitable_set_poll(
        &self,
        inst: ComponentInstanceIndex,
        si: u32,
        cancellable: bool,
        memory: RuntimeMemoryIndex,
        ptr: u32,
    ) -> Result<u32, Trap> {
        let mut st = self.concurrent.lock();
        let set = self.set_of(&st, inst, si)?;
        let task = st.current_task(inst);
        let pending = cancellable
            && task
                .and_then(|t| st.tasks.get(t))
                .is_some_and(|t| t.cancel == super::Cancel::Pending);
        let ev = if pending {
            if let Some(t) = task.and_then(|t| st.tasks.get_mut(t)) {
                t.cancel = super::Cancel::Delivered;
            }
            (event::TASK_CANCELLED, 0, 0)
        } else if set_has_event(&st, set) {
            set_take_event(&mut st, set)
        } else {
            (event::NONE, 0, 0)
        };
        drop(st);
        self.write_event(memory, ptr, ev)?;
        Ok(ev.0)
    }

    /// Writes an event's `(index, payload)` at `ptr` of option memory `m`.
    fn write_event(
        &self,
        m: RuntimeMemoryIndex,
        ptr: u32,
        ev: (u32, u32, u32),
    ) -> Result<(), Trap> {
        let mem = self
            .memory(m)
            .ok_or_else(|| Trap::host("waitable-set built-in without its memory"))?;
        if !ptr.is_multiple_of(4) {
            return Err(Trap::abi("unaligned pointer (event payload)"));
        }
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&ev.1.to_le_bytes());
        bytes[4..].copy_from_slice(&ev.2.to_le_bytes());
        mem.write(u64::from(ptr), &bytes)
            .map_err(|_| Trap::new(kiln_environ::TrapKind::MemoryOutOfBounds))
    }

    /// `waitable-set.drop`.
    pub(crate) fn waitable_set_drop(
        &self,
        inst: ComponentInstanceIndex,
        si: u32,
    ) -> Result<(), Trap> {
        let mut st = self.concurrent.lock();
        let set = self.set_of(&st, inst, si)?;
        if let Some(Object::Set(s)) = st.obj(set) {
            if !s.elems.is_empty() {
                return Err(Trap::abi("cannot drop waitable set with members"));
            }
            if s.num_waiting > 0 {
                return Err(Trap::abi("cannot drop waitable set with waiters"));
            }
        }
        self.remove_object(inst, si)?;
        st.objects.remove(set as usize);
        Ok(())
    }

    /// `waitable.join`.
    pub(crate) fn waitable_join(
        &self,
        inst: ComponentInstanceIndex,
        wi: u32,
        si: u32,
    ) -> Result<(), Trap> {
        let mut st = self.concurrent.lock();
        let w = self.object_of(inst, wi)?;
        match st.obj(w).and_then(Object::waitable) {
            None => return Err(self.handle_kind_trap(inst, wi)),
            Some(x) if x.sync_waiter => {
                return Err(Trap::abi(
                    "waitable cannot be used synchronously while added to a waitable set \
                     (it has a synchronous waiter)",
                ))
            }
            Some(_) => {}
        }
        let set = if si == 0 {
            None
        } else {
            Some(self.set_of(&st, inst, si)?)
        };
        join(&mut st, w, set);
        Ok(())
    }

    /// The object of subtask handle `i`.
    fn subtask_of(&self, st: &State, inst: ComponentInstanceIndex, i: u32) -> Result<ObjId, Trap> {
        let id = self.object_of(inst, i)?;
        match st.obj(id) {
            Some(Object::Subtask(_)) => Ok(id),
            _ => Err(self.handle_kind_trap(inst, i)),
        }
    }

    /// `subtask.drop`.
    pub(crate) fn subtask_drop(&self, inst: ComponentInstanceIndex, i: u32) -> Result<(), Trap> {
        let mut st = self.concurrent.lock();
        let id = self.subtask_of(&st, inst, i)?;
        if let Some(Object::Subtask(s)) = st.obj(id) {
            if !s.delivered {
                return Err(Trap::abi(
                    "cannot drop a subtask which has not yet resolved",
                ));
            }
        }
        self.remove_object(inst, i)?;
        join(&mut st, id, None);
        st.objects.remove(id as usize);
        Ok(())
    }

    /// `subtask.cancel`: a resolved subtask delivers its resolution; cancelling a running
    /// callee is requested and, synchronously, waited for.
    pub(crate) fn subtask_cancel(
        &self,
        inst: ComponentInstanceIndex,
        async_: bool,
        i: u32,
    ) -> Result<u32, Trap> {
        let mut st = self.concurrent.lock();
        if !async_ {
            self.check_may_block(&st, inst)?;
        }
        let id = self.subtask_of(&st, inst, i)?;
        let Some(Object::Subtask(s)) = st.obj_mut(id) else {
            return Err(self.handle_kind_trap(inst, i));
        };
        if s.delivered {
            return Err(Trap::abi(
                "`subtask.cancel` called after terminal status delivered",
            ));
        }
        if s.cancel_requested {
            return Err(Trap::abi(
                "`subtask.cancel` called twice for the same subtask",
            ));
        }
        if s.w.wset.is_some() && !async_ {
            return Err(Trap::abi(
                "waitable cannot be used synchronously while added to a waitable set",
            ));
        }
        s.cancel_requested = true;
        if !s.resolved() {
            drop(st);
            self.request_cancellation(id)?;
            st = self.concurrent.lock();
            let resolved = matches!(st.obj(id), Some(Object::Subtask(s)) if s.resolved());
            let Some(Object::Subtask(s)) = st.obj_mut(id) else {
                return Err(self.handle_kind_trap(inst, i));
            };
            if resolved {
                s.w.pending = true;
            } else if async_ {
                return Ok(BLOCKED);
            } else {
                s.w.sync_waiter = true;
                if let Err(t) = self.check_may_block(&st, inst) {
                    if let Some(Object::Subtask(s)) = st.obj_mut(id) {
                        s.w.sync_waiter = false;
                    }
                    return Err(t);
                }
                self.block_until(
                    st,
                    Box::new(
                        move |st| matches!(st.obj(id), Some(Object::Subtask(s)) if s.resolved()),
                    ),
                )?;
                st = self.concurrent.lock();
                if let Some(Object::Subtask(s)) = st.obj_mut(id) {
                    s.w.sync_waiter = false;
                    s.w.pending = true;
                }
            }
        }
        let (_, _, state) = take_event(&mut st, id);
        Ok(state)
    }
}

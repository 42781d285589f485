//! Streams and futures (CanonicalABI.md "Stream State", "Future State" and the `stream.*` /
//! `future.*` built-ins): a shared state between a readable and a writable end, each end a
//! waitable in its instance's table, and copies between guest buffers.
//!
//! Elements move between the two guests' memories as bytes. That is exactly the canonical
//! ABI's lift-then-lower for element types without pointers, handles or validated bit
//! patterns (the integers and floats, and no element at all); other element types trap as not
//! yet supported, and within one instance they trap as CanonicalABI.md says (`# temporary`).

use super::host_io::HostSide;
use super::waitables::join;
use super::{event, ObjId, Object, State, Waitable, BLOCKED};
use crate::component::instance::Shared;
use crate::error::Trap;
use kiln_environ::component::abi::layout;
use kiln_environ::component::{
    AsyncValueType, CanonicalOptions, ComponentInstanceIndex, InterfaceType, ReallocIndex,
    RuntimeMemoryIndex, StringEncoding,
};

/// Copy results (CanonicalABI.md `CopyResult`).
pub(crate) mod result {
    pub const COMPLETED: u32 = 0;
    pub const DROPPED: u32 = 1;
    pub const CANCELLED: u32 = 2;
}
pub(crate) use result::*;

/// Largest buffer length (CanonicalABI.md `Buffer.MAX_LENGTH`).
const MAX_LENGTH: u32 = (1 << 28) - 1;

/// The state of one end (CanonicalABI.md `CopyState`).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum CopyState {
    /// No copy in progress.
    Idle,
    /// A copy is in progress.
    Copying,
    /// A copy is being cancelled.
    CancellingCopy,
    /// The other end dropped (streams) or the value moved (futures).
    Done,
}

/// A guest buffer a copy reads from or writes to.
#[derive(Clone)]
pub(crate) struct Buffer {
    pub(crate) instance: ComponentInstanceIndex,
    pub(crate) memory: Option<RuntimeMemoryIndex>,
    pub(crate) ptr: u32,
    pub(crate) length: u32,
    pub(crate) progress: u32,
    pub(crate) elem_size: u32,
    /// The copy's `realloc` and string encoding: where and how the host lowers the strings
    /// of the elements it writes into a guest read (`host_io.rs`).
    pub(crate) realloc: Option<ReallocIndex>,
    pub(crate) encoding: StringEncoding,
}

impl Buffer {
    fn remain(&self) -> u32 {
        self.length - self.progress
    }
}

/// One end of a stream or future.
pub(crate) struct CopyEnd {
    /// Its waitable part.
    pub(crate) w: Waitable,
    /// The shared state.
    pub(crate) shared: usize,
    /// The writable end (true) or the readable one.
    pub(crate) writable: bool,
    /// Its copy state.
    pub(crate) state: CopyState,
    /// The buffer of its copy in progress.
    buf: Option<Buffer>,
    /// The result its pending event reports, and whether delivering it releases the buffer
    /// the other end is still copying through (`reclaim_buffer`).
    result: Option<(u32, bool)>,
}

/// The state two ends share.
pub(crate) struct SharedCopy {
    /// The type.
    pub(crate) ty: AsyncValueType,
    /// One end was dropped.
    pub(crate) dropped: bool,
    /// The end whose copy waits for the other side.
    pub(crate) pending: Option<ObjId>,
    /// Live ends (the state goes when both are dropped).
    pub(crate) ends: u32,
    /// The host's end, when the host holds one (`host_io.rs`).
    pub(crate) host: Option<HostSide>,
    /// The id of the host's end (0: none ever).
    pub(crate) host_uid: u64,
}

/// Whether elements of `t` move as plain bytes (CanonicalABI.md `none_or_number_type`).
fn plain(t: &Option<InterfaceType>) -> bool {
    use InterfaceType as T;
    matches!(
        t,
        None | Some(
            T::U8 | T::U16 | T::U32 | T::U64 | T::S8 | T::S16 | T::S32 | T::S64 | T::F32 | T::F64
        )
    )
}

fn kind(ty: &AsyncValueType) -> &'static str {
    if ty.future {
        "future"
    } else {
        "stream"
    }
}

impl Shared {
    /// `stream.new` / `future.new`: the two ends' handles, packed `readable | writable << 32`.
    pub(crate) fn copy_new(
        &self,
        inst: ComponentInstanceIndex,
        ty: &AsyncValueType,
    ) -> Result<u64, Trap> {
        let mut st = self.concurrent.lock();
        let shared = st.shared.insert(SharedCopy {
            ty: ty.clone(),
            dropped: false,
            pending: None,
            ends: 2,
            host: None,
            host_uid: 0,
        });
        let end = |writable| {
            Object::End(CopyEnd {
                w: Waitable::default(),
                shared,
                writable,
                state: CopyState::Idle,
                buf: None,
                result: None,
            })
        };
        let r = self.add_object(&mut st, inst, end(false))?;
        let w = self.add_object(&mut st, inst, end(true))?;
        Ok(u64::from(r) | (u64::from(w) << 32))
    }

    /// The end object of handle `h`, checked to be of the right direction and type.
    fn end_of(
        &self,
        st: &State,
        inst: ComponentInstanceIndex,
        h: u32,
        ty: &AsyncValueType,
        writable: bool,
    ) -> Result<ObjId, Trap> {
        let id = self.object_of(inst, h)?;
        match st.obj(id) {
            Some(Object::End(e))
                if e.writable == writable
                    && st.shared.get(e.shared).is_some_and(|s| s.ty == *ty) =>
            {
                Ok(id)
            }
            _ => Err(self.handle_kind_trap(inst, h)),
        }
    }

    /// `stream.read`/`stream.write` (`n` elements) and `future.read`/`future.write` (`n` = 1).
    pub(crate) fn copy(
        &self,
        ty: &AsyncValueType,
        write: bool,
        opts: &CanonicalOptions,
        h: u32,
        ptr: u32,
        n: u32,
    ) -> Result<u32, Trap> {
        let inst = opts.instance;
        let mut st = self.concurrent.lock();
        if !opts.async_ {
            // A synchronous copy may block: checked first (as wasmtime does).
            self.check_may_block(&st, inst)?;
        }
        let id = self.end_of(&st, inst, h, ty, write)?;
        let Some(Object::End(e)) = st.obj(id) else {
            unreachable!("checked by end_of")
        };
        match e.state {
            CopyState::Idle => {}
            CopyState::Done => return Err(Trap::abi(match (ty.future, write) {
                (false, false) => {
                    "cannot read from stream after being notified that the writable end dropped"
                }
                (false, true) => {
                    "cannot write to stream after being notified that the readable end dropped"
                }
                (true, false) => "cannot read from future after previous read succeeded",
                (true, true) => {
                    "cannot write to future after previous write succeeded or readable end dropped"
                }
            })),
            _ => {
                return Err(Trap::abi(
                    "cannot have concurrent operations active on a future/stream",
                ))
            }
        }
        if e.w.wset.is_some() && !opts.async_ {
            return Err(Trap::abi(
                "waitable cannot be used synchronously while added to a waitable set",
            ));
        }
        if !opts.async_ {
            self.check_may_block(&st, inst)?;
        }
        if n > MAX_LENGTH {
            return Err(Trap::abi("stream read/write count too large"));
        }
        let elem_size = match &ty.elem {
            Some(t) => {
                let l = layout(t);
                if n > 0 {
                    if !ptr.is_multiple_of(l.align) {
                        return Err(Trap::abi(if write {
                            "unaligned pointer (write pointer not aligned)"
                        } else {
                            "unaligned pointer (read pointer not aligned)"
                        }));
                    }
                    let mem = opts
                        .memory
                        .and_then(|m| self.memory(m))
                        .ok_or_else(|| Trap::host("stream or future built-in without a memory"))?;
                    let end = u64::from(ptr) + u64::from(n) * u64::from(l.size);
                    if end > mem.data_size() {
                        return Err(Trap::new(kiln_environ::TrapKind::MemoryOutOfBounds));
                    }
                }
                l.size
            }
            None => 0,
        };
        let buf = Buffer {
            instance: inst,
            memory: opts.memory,
            ptr,
            length: n,
            progress: 0,
            elem_size,
            realloc: opts.realloc,
            encoding: opts.string_encoding,
        };
        let shared = e.shared;
        if let Some(Object::End(e)) = st.obj_mut(id) {
            e.state = CopyState::Copying;
            e.buf = Some(buf);
        }
        self.exchange(&mut st, shared, id, write)?;
        if !st.lowerings.is_empty() {
            // Elements with strings the host wrote: lowered through the guest's `realloc`,
            // which must not run under the lock.
            drop(st);
            self.run_lowerings()?;
            st = self.concurrent.lock();
        }
        if !super::waitables::has_event(&st, id) {
            if opts.async_ {
                return Ok(BLOCKED);
            }
            if let Some(x) = st.obj_mut(id).and_then(Object::waitable_mut) {
                x.sync_waiter = true;
            }
            let r = self.block_until(st, Box::new(move |st| super::waitables::has_event(st, id)));
            st = self.concurrent.lock();
            if let Some(x) = st.obj_mut(id).and_then(Object::waitable_mut) {
                x.sync_waiter = false;
            }
            r?;
        }
        let (_, _, payload) = take_end_event(&mut st, id);
        Ok(payload)
    }

    /// Meets end `me`'s new copy with the other side (CanonicalABI.md `SharedStreamImpl.read`
    /// / `write` and `SharedFutureImpl.read` / `write`).
    fn exchange(&self, st: &mut State, shared: usize, me: ObjId, write: bool) -> Result<(), Trap> {
        let (dropped, pending, ty) = {
            let s = st.shared.get(shared).expect("an end's shared state lives");
            (s.dropped, s.pending, s.ty.clone())
        };
        if dropped {
            notify(st, me, DROPPED, false);
            return Ok(());
        }
        if st.shared.get(shared).is_some_and(|s| s.host.is_some()) {
            return self.host_exchange(st, shared, me, write);
        }
        let Some(other) = pending else {
            set_pending(st, shared, Some(me));
            return Ok(());
        };
        let mine = end_buf(st, me);
        let theirs = end_buf(st, other);
        if mine.instance == theirs.instance && !plain(&ty.elem) {
            return Err(Trap::abi(format!(
                "cannot read from and write to intra-component {} with non-numeric payload",
                kind(&ty)
            )));
        }
        if ty.future {
            let (src, dst) = if write { (me, other) } else { (other, me) };
            self.move_elems(st, src, dst, 1, &ty)?;
            set_pending(st, shared, None);
            notify(st, other, COMPLETED, false);
            notify(st, me, COMPLETED, false);
            return Ok(());
        }
        if theirs.remain() > 0 {
            if mine.remain() > 0 {
                let n = mine.remain().min(theirs.remain());
                let (src, dst) = if write { (me, other) } else { (other, me) };
                self.move_elems(st, src, dst, n, &ty)?;
                notify(st, other, COMPLETED, true);
            }
            notify(st, me, COMPLETED, false);
        } else if write && mine.length == 0 && theirs.length == 0 {
            notify(st, me, COMPLETED, false);
        } else {
            set_pending(st, shared, None);
            notify(st, other, COMPLETED, false);
            set_pending(st, shared, Some(me));
        }
        Ok(())
    }

    /// Moves `n` elements from end `src`'s buffer to end `dst`'s.
    fn move_elems(
        &self,
        st: &mut State,
        src: ObjId,
        dst: ObjId,
        n: u32,
        ty: &AsyncValueType,
    ) -> Result<(), Trap> {
        let s = end_buf(st, src);
        let d = end_buf(st, dst);
        let own = match &ty.elem {
            Some(InterfaceType::Own(r)) => Some(*r),
            e if plain(e) => None,
            _ => {
                return Err(Trap::abi(format!(
                    "unsupported: {} elements of this type cannot be copied between component \
                     instances yet (integers, floats and owned handles can)",
                    kind(ty)
                )))
            }
        };
        let bytes = u64::from(n) * u64::from(s.elem_size);
        if bytes > 0 {
            let (Some(sm), Some(dm)) = (
                s.memory.and_then(|m| self.memory(m)),
                d.memory.and_then(|m| self.memory(m)),
            ) else {
                return Err(Trap::host("stream or future copy without a memory"));
            };
            let from = u64::from(s.ptr) + u64::from(s.progress) * u64::from(s.elem_size);
            let to = u64::from(d.ptr) + u64::from(d.progress) * u64::from(d.elem_size);
            let oob = || Trap::new(kiln_environ::TrapKind::MemoryOutOfBounds);
            if from + bytes > sm.data_size() || to + bytes > dm.data_size() {
                return Err(oob());
            }
            match own {
                None => {
                    // SAFETY: both ranges were just checked against their memories' current
                    // sizes, and no guest code runs (nothing can grow or move a memory) until
                    // the copy is done; `copy` allows the ranges to overlap (one memory).
                    unsafe {
                        std::ptr::copy(
                            sm.data_ptr().add(from as usize),
                            dm.data_ptr().add(to as usize),
                            bytes as usize,
                        )
                    }
                }
                Some(r) => {
                    let mut tmp = vec![0u8; bytes as usize];
                    sm.read(from, &mut tmp).map_err(|_| oob())?;
                    // Each handle moves from the writer's table to the reader's
                    // (CanonicalABI.md `lift_own` then `lower_own`).
                    for chunk in tmp.chunks_exact_mut(4) {
                        let h = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
                        let e = self.in_table(s.instance, |t| t.remove(h, r))?;
                        let moved = self.in_table(d.instance, |t| t.insert(e))?;
                        chunk.copy_from_slice(&moved.to_le_bytes());
                    }
                    dm.write(to, &tmp).map_err(|_| oob())?;
                }
            }
        }
        for id in [src, dst] {
            advance(st, id, n);
        }
        Ok(())
    }

    /// Lifts readable end `h` of instance `inst` (a stream or future of type key `key`) out
    /// of its table (CanonicalABI.md `lift_async_value`); returns the object, which is the
    /// value's host representation until it is lowered.
    pub(crate) fn lift_async_value(
        &self,
        inst: ComponentInstanceIndex,
        key: u32,
        h: u32,
    ) -> Result<u32, Trap> {
        if key == kiln_environ::component::ERROR_CONTEXT_KEY {
            return self.lift_error_context(inst, h);
        }
        let st = self.concurrent.lock();
        let id = self.object_of(inst, h)?;
        let desc = if key >> 31 == 1 { "future" } else { "stream" };
        let Some(Object::End(e)) = st.obj(id) else {
            return Err(self.handle_kind_trap(inst, h));
        };
        let ty_ok = !e.writable && st.shared.get(e.shared).is_some_and(|s| s.ty.key() == key);
        if !ty_ok {
            return Err(self.handle_kind_trap(inst, h));
        }
        match e.state {
            CopyState::Idle => {}
            CopyState::Done if desc == "stream" => {
                return Err(Trap::abi(format!(
                    "cannot lift {desc} after being notified that the writable end dropped"
                )))
            }
            CopyState::Done => {
                return Err(Trap::abi(format!(
                    "cannot lift {desc} after previous read succeeded"
                )))
            }
            _ => {
                return Err(Trap::abi(format!(
                    "cannot lift {desc} while a read is in progress"
                )))
            }
        }
        if e.w.wset.is_some() {
            return Err(Trap::abi(format!(
                "cannot lift {desc} while it's in a waitable set"
            )));
        }
        drop(st);
        self.remove_object(inst, h)?;
        if let Some(Object::End(e)) = self.concurrent.lock().obj_mut(id) {
            e.w.handle = 0;
        }
        Ok(id)
    }

    /// Lowers lifted readable end `id` (type key `key`) into instance `inst`'s table; returns
    /// the handle (CanonicalABI.md `lower_stream` / `lower_future`).
    pub(crate) fn lower_async_value(
        &self,
        inst: ComponentInstanceIndex,
        key: u32,
        id: u32,
    ) -> Result<u32, Trap> {
        if key == kiln_environ::component::ERROR_CONTEXT_KEY {
            return self.lower_error_context(inst, id);
        }
        let mut st = self.concurrent.lock();
        let ok = match st.obj(id) {
            Some(Object::End(e)) => {
                !e.writable
                    && e.w.handle == 0
                    && st.shared.get(e.shared).is_some_and(|s| s.ty.key() == key)
            }
            _ => false,
        };
        if !ok {
            return Err(Trap::abi(format!(
                "invalid stream or future value {id} (not a lifted readable end of this type)"
            )));
        }
        let h = self.in_table(inst, |t| t.insert(super::entry(id)))?;
        if let Some(Object::End(e)) = st.obj_mut(id) {
            e.w.handle = h;
        }
        Ok(h)
    }

    /// `{stream,future}.cancel-{read,write}`.
    pub(crate) fn cancel_copy(
        &self,
        inst: ComponentInstanceIndex,
        ty: &AsyncValueType,
        write: bool,
        async_: bool,
        h: u32,
    ) -> Result<u32, Trap> {
        let mut st = self.concurrent.lock();
        if !async_ {
            self.check_may_block(&st, inst)?;
        }
        let id = self.end_of(&st, inst, h, ty, write)?;
        let Some(Object::End(e)) = st.obj_mut(id) else {
            unreachable!("checked by end_of")
        };
        if e.state != CopyState::Copying || e.w.sync_waiter {
            return Err(Trap::abi(if write {
                "stream or future write cancelled when no write is pending"
            } else {
                "stream or future read cancelled when no read is pending"
            }));
        }
        if e.w.wset.is_some() && !async_ {
            return Err(Trap::abi(
                "waitable cannot be used synchronously while added to a waitable set",
            ));
        }
        e.state = CopyState::CancellingCopy;
        let shared = e.shared;
        if e.w.pending && e.result == Some((COMPLETED, true)) {
            // Some elements moved and the copy is still open: cancelling ends it, reporting
            // what moved as cancelled (as wasmtime does).
            e.result = Some((CANCELLED, false));
            if st.shared.get(shared).and_then(|s| s.pending) == Some(id) {
                set_pending(&mut st, shared, None);
            }
        }
        let Some(Object::End(e)) = st.obj(id) else {
            unreachable!("checked by end_of")
        };
        if !e.w.pending {
            // Cancel the copy that waits in the shared state (it is this end's).
            if st.shared.get(shared).and_then(|s| s.pending) == Some(id) {
                set_pending(&mut st, shared, None);
                notify(&mut st, id, CANCELLED, false);
            }
            if !super::waitables::has_event(&st, id) {
                if async_ {
                    return Ok(BLOCKED);
                }
                self.check_may_block(&st, inst)?;
                self.block_until(st, Box::new(move |st| super::waitables::has_event(st, id)))?;
                st = self.concurrent.lock();
            }
        }
        let (_, _, payload) = take_end_event(&mut st, id);
        Ok(payload)
    }

    /// `{stream,future}.drop-{readable,writable}`.
    pub(crate) fn drop_end(
        &self,
        inst: ComponentInstanceIndex,
        ty: &AsyncValueType,
        writable: bool,
        h: u32,
    ) -> Result<(), Trap> {
        let mut st = self.concurrent.lock();
        let id = self.end_of(&st, inst, h, ty, writable)?;
        let Some(Object::End(e)) = st.obj(id) else {
            unreachable!("checked by end_of")
        };
        if matches!(e.state, CopyState::Copying | CopyState::CancellingCopy) {
            return Err(Trap::abi(if writable {
                "cannot drop busy stream or future (a write is in progress)"
            } else {
                "cannot remove busy stream or future (a read is in progress)"
            }));
        }
        if ty.future && writable && e.state != CopyState::Done {
            let other_dropped = st.shared.get(e.shared).is_some_and(|s| s.dropped);
            if !other_dropped {
                return Err(Trap::abi(
                    "cannot drop future write end without first writing a value",
                ));
            }
        }
        let shared = e.shared;
        self.remove_object(inst, h)?;
        join(&mut st, id, None);
        st.objects.remove(id as usize);
        if st.shared.get(shared).is_some_and(|s| s.host.is_some()) {
            self.host_end_dropped(&mut st, shared);
            return Ok(());
        }
        let gone = {
            let s = st
                .shared
                .get_mut(shared)
                .expect("an end's shared state lives");
            s.ends -= 1;
            let first = !s.dropped;
            s.dropped = true;
            (first, s.pending.take(), s.ends == 0)
        };
        if let (true, Some(p), _) = gone {
            notify(&mut st, p, DROPPED, false);
        }
        if gone.2 {
            st.shared.remove(shared);
        }
        Ok(())
    }
}

pub(crate) fn end_buf(st: &State, id: ObjId) -> Buffer {
    match st.obj(id) {
        Some(Object::End(CopyEnd { buf: Some(b), .. })) => b.clone(),
        _ => Buffer {
            instance: u32::MAX,
            memory: None,
            ptr: 0,
            length: 0,
            progress: 0,
            elem_size: 0,
            realloc: None,
            encoding: StringEncoding::Utf8,
        },
    }
}

pub(crate) fn set_pending(st: &mut State, shared: usize, end: Option<ObjId>) {
    if let Some(s) = st.shared.get_mut(shared) {
        s.pending = end;
    }
}

/// Sets end `id`'s pending event to `result` (`reclaim`: delivering it releases the buffer).
pub(crate) fn notify(st: &mut State, id: ObjId, result: u32, reclaim: bool) {
    if let Some(Object::End(e)) = st.obj_mut(id) {
        e.result = Some((result, reclaim));
        e.w.pending = true;
    }
}

/// Delivers end `id`'s pending event: `(code, handle, payload)`.
pub(crate) fn take_end_event(st: &mut State, id: ObjId) -> (u32, u32, u32) {
    let Some(Object::End(e)) = st.obj_mut(id) else {
        return (event::NONE, 0, 0);
    };
    e.w.pending = false;
    let (result, reclaim) = e.result.take().unwrap_or((COMPLETED, false));
    let progress = e.buf.take().map_or(0, |b| b.progress);
    let shared = e.shared;
    let handle = e.w.handle;
    let writable = e.writable;
    let future = st.shared.get(shared).is_some_and(|s| s.ty.future);
    let Some(Object::End(e)) = st.obj_mut(id) else {
        unreachable!()
    };
    e.state = if result == DROPPED || (future && result == COMPLETED) {
        CopyState::Done
    } else {
        CopyState::Idle
    };
    if reclaim && st.shared.get(shared).and_then(|s| s.pending) == Some(id) {
        set_pending(st, shared, None);
    }
    let code = match (future, writable) {
        (false, false) => event::STREAM_READ,
        (false, true) => event::STREAM_WRITE,
        (true, false) => event::FUTURE_READ,
        (true, true) => event::FUTURE_WRITE,
    };
    let payload = if future {
        result
    } else {
        result | (progress << 4)
    };
    (code, handle, payload)
}

/// Records `n` more elements copied by end `id`'s copy.
pub(crate) fn advance(st: &mut State, id: ObjId, n: u32) {
    if let Some(Object::End(e)) = st.obj_mut(id) {
        if let Some(b) = &mut e.buf {
            b.progress += n;
        }
    }
}

/// A new stream or future of type `ty` whose writable end is the host's (`host`, with id
/// `uid`): its shared state and its readable end (in transit, in no table yet).
pub(crate) fn new_with_host(
    st: &mut State,
    ty: AsyncValueType,
    uid: u64,
    host: HostSide,
) -> (usize, ObjId) {
    let shared = st.shared.insert(SharedCopy {
        ty,
        dropped: false,
        pending: None,
        ends: 2,
        host: Some(host),
        host_uid: uid,
    });
    let id = st.objects.insert(Object::End(CopyEnd {
        w: Waitable::default(),
        shared,
        writable: false,
        state: CopyState::Idle,
        buf: None,
        result: None,
    })) as ObjId;
    (shared, id)
}

/// The end of `shared` that is not a guest's went away unused (the host dropped a stream it
/// was given): the other end's copies see it dropped.
pub(crate) fn other_end_dropped(st: &mut State, shared: usize) {
    let Some(s) = st.shared.get_mut(shared) else {
        return;
    };
    s.ends -= 1;
    s.dropped = true;
    let pending = s.pending.take();
    let gone = s.ends == 0;
    if let Some(p) = pending {
        notify(st, p, DROPPED, false);
    }
    if gone {
        st.shared.remove(shared);
    }
}

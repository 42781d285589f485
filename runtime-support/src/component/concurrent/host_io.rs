//! The host's side of component-model async: streams and futures with one end in the host,
//! host functions that wait (timers, work on helper threads), and the mailbox through which
//! other OS threads hand work to an instantiation's event loop.
//!
//! Guest code and guest memory are only ever touched by the thread that entered the store, so
//! a host thread never writes into a guest buffer itself: it posts a [`Mail`] closure, and the
//! event loop (`Shared::block_until` on the root) runs it under the state lock. A host end is
//! not an object in any handle table; it lives in the stream's shared state ([`HostSide`]):
//!
//! - a **reader** ([`HostCx::stream_to_host`]) receives each guest write as canonical-ABI bytes
//!   the moment it is made (the write completes at once, no copy into a host buffer first);
//! - a **writer** ([`HostWriter`], from [`HostCx::stream_from_host`]) queues bytes that guest
//!   reads take, in the order written; a guest read waiting on an empty queue is filled when
//!   the next bytes arrive.

pub use super::host_lower::encode_plain;
use super::host_lower::{encode_with, plain_for_host, writable_by_host, Lowering};
use super::{ObjId, Object, State};
use crate::component::host::HostCx;
use crate::component::instance::Shared;
use crate::component::values::Val;
use crate::error::Trap;
use kiln_environ::component::abi::layout;
use kiln_environ::component::{AsyncValueType, InterfaceType as T};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// Work for the event loop, posted from any thread; runs with the state locked.
pub(crate) type Mail = Box<dyn FnOnce(&Shared, &mut State) + Send>;

/// Work posted to one instantiation's event loop, and how many host operations will post more.
#[derive(Default)]
pub(crate) struct Mailbox {
    queue: Mutex<Vec<Mail>>,
    cv: Condvar,
    /// Host operations in flight that will post mail (live host writers, helper threads):
    /// while there are any, an event loop with nothing to run waits instead of reporting a
    /// deadlock.
    ops: AtomicUsize,
    /// Called after each post: wakes a host that polls ([`AsyncCall`](super::host_call)).
    wake: Mutex<Option<Wake>>,
    /// Wakers of pending `AsyncCall` futures, each woken once by the next post.
    wakers: Mutex<Vec<std::task::Waker>>,
    /// The time a timer thread will post at, if one is armed.
    timer: Mutex<Option<Instant>>,
}

/// A host's wake-up callback.
pub(crate) type Wake = Arc<dyn Fn() + Send + Sync>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Mailbox {
    /// Posts `m` and wakes the event loop.
    pub(crate) fn post(&self, m: Mail) {
        lock(&self.queue).push(m);
        self.cv.notify_all();
        self.wake_pollers();
        let wake = lock(&self.wake).clone();
        if let Some(w) = wake {
            w();
        }
    }

    /// Sets the callback run after each post (replacing the previous one; `None` removes it).
    pub(crate) fn set_wake(&self, w: Option<Wake>) {
        *lock(&self.wake) = w;
    }

    /// Adds the waker of a pending future, woken once by the next post or progress.
    pub(crate) fn add_waker(&self, w: &std::task::Waker) {
        let mut ws = lock(&self.wakers);
        if !ws.iter().any(|x| x.will_wake(w)) {
            ws.push(w.clone());
        }
    }

    /// Wakes (and forgets) the wakers of pending futures: something happened that may let
    /// them finish.
    pub(crate) fn wake_pollers(&self) {
        let ws = std::mem::take(&mut *lock(&self.wakers));
        for w in ws {
            w.wake();
        }
    }

    /// Makes sure something is posted at `t` (so a polling host wakes for a timer): one timer
    /// thread per mailbox at a time, re-armed for an earlier time.
    pub(crate) fn wake_at(self: &Arc<Self>, t: Instant) {
        let mut armed = lock(&self.timer);
        if armed.is_some_and(|a| a <= t) {
            return;
        }
        *armed = Some(t);
        drop(armed);
        let me = Arc::downgrade(self);
        let _ = std::thread::Builder::new()
            .name("kiln-timer".into())
            .spawn(move || {
                if let Some(d) = t.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
                if let Some(mb) = me.upgrade() {
                    let mut armed = lock(&mb.timer);
                    if *armed == Some(t) {
                        *armed = None;
                    }
                    drop(armed);
                    mb.post(Box::new(|_, _| {}));
                }
            });
    }

    fn take(&self) -> Vec<Mail> {
        std::mem::take(&mut *lock(&self.queue))
    }

    /// Whether mail waits to be run.
    pub(crate) fn has_mail(&self) -> bool {
        !lock(&self.queue).is_empty()
    }

    /// Whether the loop may still get work from the host.
    pub(crate) fn expecting(&self) -> bool {
        self.ops.load(Ordering::Acquire) > 0 || !lock(&self.queue).is_empty()
    }

    /// Waits until mail arrives or `until` passes.
    pub(crate) fn wait(&self, until: Option<Instant>) {
        let mut q = lock(&self.queue);
        while q.is_empty() {
            match until {
                Some(t) => {
                    let now = Instant::now();
                    if now >= t {
                        return;
                    }
                    q = self
                        .cv
                        .wait_timeout(q, t - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                None => q = self.cv.wait(q).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }
}

/// The sink of a host reader: gets each write's bytes; returns false to stop reading.
type Sink = Box<dyn FnMut(&[u8]) -> bool + Send>;

/// The host's end of a stream or future.
pub(crate) enum HostSide {
    /// The host reads what the guest writes.
    Reader {
        sink: Sink,
        /// Called once when the guest drops its writable end.
        on_end: Option<Box<dyn FnOnce() + Send>>,
    },
    /// The host writes: element bytes waiting for guest reads.
    Writer {
        queue: VecDeque<u8>,
        /// Elements with strings, lowered when a guest read takes them (`host_lower.rs`);
        /// used instead of `queue` when the element type has strings.
        vals: VecDeque<Val>,
        /// The host will write no more.
        closed: bool,
        pipe: Arc<Pipe>,
    },
}

/// What a host writer shares with its end in the state: the bytes queued and whether the
/// guest dropped its readable end.
#[derive(Default)]
pub(crate) struct Pipe {
    queued: Mutex<usize>,
    cv: Condvar,
    reader_gone: AtomicBool,
    /// A guest read waits on an empty queue.
    demand: AtomicBool,
}

impl Pipe {
    fn consumed(&self, n: usize) {
        let mut q = lock(&self.queued);
        *q = q.saturating_sub(n);
        self.cv.notify_all();
    }

    fn want(&self) {
        self.demand.store(true, Ordering::Release);
        let _q = lock(&self.queued);
        self.cv.notify_all();
    }

    pub(crate) fn gone(&self) {
        self.reader_gone.store(true, Ordering::Release);
        let _q = lock(&self.queued);
        self.cv.notify_all();
    }
}

/// Unique ids of host ends (a stream's shared slot may be reused after it goes).
static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// The host's writable end of a stream or future it gave the guest
/// ([`HostCx::stream_from_host`]). It may be moved to and used from any thread; dropping it
/// ends the stream (guest reads see the end once the queued bytes are read) or, for a future
/// never written, drops the future.
pub struct HostWriter {
    mailbox: Arc<Mailbox>,
    shared: usize,
    uid: u64,
    pipe: Arc<Pipe>,
    ty: AsyncValueType,
    done: bool,
    /// Elements go to the guest as bytes (no strings in the type).
    plain: bool,
}

impl HostWriter {
    /// Queues `bytes` (whole elements in canonical ABI layout) for the guest; false when the
    /// guest dropped its readable end (nothing more will be read). For a stream of `own<R>`,
    /// each element is the representation (`u32`, little-endian) of a host resource: it
    /// becomes an own handle in the reading instance's table when read.
    pub fn write(&self, bytes: Vec<u8>) -> bool {
        if self.pipe.reader_gone.load(Ordering::Acquire) || self.done {
            return false;
        }
        *lock(&self.pipe.queued) += bytes.len();
        let (idx, uid) = (self.shared, self.uid);
        self.mailbox.post(Box::new(move |sh, st| {
            if let Some(HostSide::Writer { queue, .. }) = host_side(st, idx, uid) {
                queue.extend(bytes);
                sh.feed_guest_reader(st, idx);
            }
        }));
        true
    }

    /// Writes one value of the element type (encoded by [`encode_plain`]); a future's value
    /// also ends it.
    pub fn write_val(&mut self, v: &Val) -> Result<bool, Trap> {
        let elem = self
            .ty
            .elem
            .clone()
            .ok_or_else(|| Trap::host("this stream or future carries no values"))?;
        let size = layout(&elem).size as usize;
        let ok = if self.plain {
            let mut bytes = vec![0u8; size];
            encode_plain(&elem, v, &mut bytes)?;
            self.write(bytes)
        } else {
            // Checked now, lowered when read: a value of the wrong shape is the host's error.
            encode_with(&elem, v, &mut vec![0u8; size], &mut |_| Ok((0, 0)))?;
            self.write_lowered(v.clone(), size)
        };
        if self.ty.future {
            self.close();
        }
        Ok(ok)
    }

    /// Queues element `v` (of a type with strings, `size` bytes in memory) for a guest read
    /// to lower; false when the guest dropped its readable end.
    fn write_lowered(&self, v: Val, size: usize) -> bool {
        if self.pipe.reader_gone.load(Ordering::Acquire) || self.done {
            return false;
        }
        *lock(&self.pipe.queued) += size;
        let (idx, uid) = (self.shared, self.uid);
        self.mailbox.post(Box::new(move |sh, st| {
            if let Some(HostSide::Writer { vals, .. }) = host_side(st, idx, uid) {
                vals.push_back(v);
                sh.feed_guest_reader(st, idx);
            }
        }));
        true
    }

    /// Blocks this (host) thread while `limit` bytes or more wait unread; false when the
    /// guest dropped its readable end.
    pub fn wait_for_room(&self, limit: usize) -> bool {
        let mut q = lock(&self.pipe.queued);
        while *q >= limit && !self.pipe.reader_gone.load(Ordering::Acquire) {
            q = self.pipe.cv.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        !self.pipe.reader_gone.load(Ordering::Acquire)
    }

    /// Blocks this (host) thread until a guest read waits for data (for sources that should
    /// only read when asked, like a terminal); false when the guest dropped its readable end.
    pub fn wait_for_demand(&self) -> bool {
        let mut q = lock(&self.pipe.queued);
        while !self.pipe.demand.load(Ordering::Acquire)
            && !self.pipe.reader_gone.load(Ordering::Acquire)
        {
            q = self.pipe.cv.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        self.pipe.demand.store(false, Ordering::Release);
        !self.pipe.reader_gone.load(Ordering::Acquire)
    }

    /// Whether the guest dropped its readable end.
    pub fn reader_gone(&self) -> bool {
        self.pipe.reader_gone.load(Ordering::Acquire)
    }

    /// Ends the stream (or drops an unwritten future).
    pub fn close(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let (idx, uid) = (self.shared, self.uid);
        self.mailbox.post(Box::new(move |sh, st| {
            if let Some(HostSide::Writer { closed, .. }) = host_side(st, idx, uid) {
                *closed = true;
                sh.feed_guest_reader(st, idx);
            }
        }));
        // After the post: a loop that sees no operations also sees the mail.
        self.mailbox.ops.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for HostWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// The host side of shared state `idx` if it is still the one with id `uid`.
fn host_side(st: &mut State, idx: usize, uid: u64) -> Option<&mut HostSide> {
    st.shared
        .get_mut(idx)
        .filter(|s| s.host_uid == uid)
        .and_then(|s| s.host.as_mut())
}

impl Shared {
    /// Runs the posted mail; whether there was any.
    pub(crate) fn pump(&self, st: &mut State) -> bool {
        let mail = self.concurrent.mailbox.take();
        let any = !mail.is_empty();
        for m in mail {
            m(self, st);
        }
        any
    }

    /// A guest end `me` of shared state `shared`, whose other end is the host's, starts a
    /// copy (the host side of `exchange`).
    pub(crate) fn host_exchange(
        &self,
        st: &mut State,
        shared: usize,
        me: ObjId,
        write: bool,
    ) -> Result<(), Trap> {
        let (future, reader) = {
            let s = st.shared.get(shared).expect("an end's shared state lives");
            (s.ty.future, matches!(s.host, Some(HostSide::Reader { .. })))
        };
        match (reader, write) {
            (true, true) => {
                let n = st_buf_remain(st, me);
                let keep = if let Some(r) = own_elem(st, shared) {
                    // Each handle leaves the writer's table; the host gets its representation.
                    let mut bytes = self.guest_bytes(st, me)?;
                    let inst = super::copy::end_buf(st, me).instance;
                    for chunk in bytes.chunks_exact_mut(4) {
                        let h = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
                        let e = self.in_table(inst, |t| t.remove(h, r))?;
                        chunk.copy_from_slice(&e.rep.to_le_bytes());
                    }
                    sink_of(st, shared, &bytes)
                } else {
                    // The sink reads the guest's buffer in place.
                    let (ptr, len) = self.guest_range(st, me)?;
                    // SAFETY: `guest_range` checked the range against the memory's current
                    // size; the memory is not shared, and no guest code of this store runs
                    // (nothing can grow it or write to it) until the sink returns: the state
                    // lock is held on the thread that owns the store.
                    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
                    sink_of(st, shared, bytes)
                };
                super::copy::advance(st, me, n);
                super::copy::notify(st, me, super::copy::COMPLETED, false);
                if !keep || future {
                    // The host reads no more: later writes see the reader dropped.
                    let s = st.shared.get_mut(shared).expect("checked");
                    s.host = None;
                    s.dropped = true;
                    s.ends -= 1;
                }
                Ok(())
            }
            (false, false) => {
                super::copy::set_pending(st, shared, Some(me));
                self.feed_guest_reader(st, shared);
                Ok(())
            }
            _ => Err(Trap::host(
                "internal error: a stream end and its host end copy in the same direction",
            )),
        }
    }

    /// Where the rest of the copy of guest end `id` lies in its memory: a pointer and a length
    /// checked against the memory's current size.
    fn guest_range(&self, st: &State, id: ObjId) -> Result<(*const u8, usize), Trap> {
        let b = super::copy::end_buf(st, id);
        let len = u64::from(b.length - b.progress) * u64::from(b.elem_size);
        if len == 0 {
            return Ok((std::ptr::NonNull::<u8>::dangling().as_ptr(), 0));
        }
        let mem = b
            .memory
            .and_then(|m| self.memory(m))
            .ok_or_else(|| Trap::host("stream or future copy without a memory"))?;
        let from = u64::from(b.ptr) + u64::from(b.progress) * u64::from(b.elem_size);
        if from + len > mem.data_size() {
            return Err(Trap::new(kiln_environ::TrapKind::MemoryOutOfBounds));
        }
        // SAFETY: `from` is within the memory (checked above).
        Ok((unsafe { mem.data_ptr().add(from as usize) }, len as usize))
    }

    /// The bytes of the copy of guest end `id` that remain, from its buffer.
    fn guest_bytes(&self, st: &State, id: ObjId) -> Result<Vec<u8>, Trap> {
        let b = super::copy::end_buf(st, id);
        let len = u64::from(b.length - b.progress) * u64::from(b.elem_size);
        if len == 0 {
            return Ok(Vec::new());
        }
        let mem = b
            .memory
            .and_then(|m| self.memory(m))
            .ok_or_else(|| Trap::host("stream or future copy without a memory"))?;
        let from = u64::from(b.ptr) + u64::from(b.progress) * u64::from(b.elem_size);
        let mut out = vec![0u8; len as usize];
        mem.read(from, &mut out)
            .map_err(|_| Trap::new(kiln_environ::TrapKind::MemoryOutOfBounds))?;
        Ok(out)
    }

    /// Gives the guest read waiting on host-written stream `shared` what the queue holds, or
    /// the end of the stream once the host closed it and the queue is empty.
    pub(crate) fn feed_guest_reader(&self, st: &mut State, shared: usize) {
        let Some(s) = st.shared.get(shared) else {
            return;
        };
        let Some(me) = s.pending else { return };
        let future = s.ty.future;
        let b = super::copy::end_buf(st, me);
        let Some(s) = st.shared.get_mut(shared) else {
            return;
        };
        let Some(HostSide::Writer {
            queue,
            vals,
            closed,
            pipe,
        }) = &mut s.host
        else {
            return;
        };
        // Host-written elements always have a size (`stream_from_host`).
        let size = (b.elem_size as usize).max(1);
        let avail = (queue.len() / size).min(u32::MAX as usize) as u32;
        let avail = avail.max(vals.len().min(u32::MAX as usize) as u32);
        let remain = b.length - b.progress;
        if !vals.is_empty() && remain > 0 {
            // Elements with strings: lowered outside the lock (`host_lower.rs`).
            let n = avail.min(remain) as usize;
            let elems: Vec<Val> = vals.drain(..n).collect();
            pipe.consumed(n * size);
            let ty = s.ty.elem.clone().unwrap_or(T::U8);
            super::copy::set_pending(st, shared, None);
            st.lowerings.push(Lowering {
                me,
                buf: b,
                ty,
                elems,
            });
        } else if avail > 0 || (remain == 0 && !future) {
            let n = avail.min(remain);
            let mut bytes: Vec<u8> = queue.drain(..n as usize * size).collect();
            let pipe = pipe.clone();
            let r = self.handles_for(st, shared, b.instance, &mut bytes);
            let r = r.and_then(|()| self.write_guest(&b, &bytes));
            pipe.consumed(bytes.len());
            super::copy::set_pending(st, shared, None);
            match r {
                Ok(()) => {
                    super::copy::advance(st, me, n);
                    super::copy::notify(st, me, super::copy::COMPLETED, false);
                }
                // The guest's buffer no longer fits its memory (it cannot shrink, so this is
                // a broken buffer): the read sees the stream dropped.
                Err(_) => super::copy::notify(st, me, super::copy::DROPPED, false),
            }
        } else if *closed {
            s.dropped = true;
            super::copy::set_pending(st, shared, None);
            super::copy::notify(st, me, super::copy::DROPPED, false);
        } else {
            pipe.want();
        }
    }

    /// For a stream of `own<R>`: turns the host's representations in `bytes` into own handles
    /// in instance `inst`'s table.
    fn handles_for(
        &self,
        st: &State,
        shared: usize,
        inst: kiln_environ::component::ComponentInstanceIndex,
        bytes: &mut [u8],
    ) -> Result<(), Trap> {
        let Some(r) = own_elem(st, shared) else {
            return Ok(());
        };
        for chunk in bytes.chunks_exact_mut(4) {
            let rep = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
            let h = self.in_table(inst, |t| {
                t.insert(crate::component::resources::HandleEntry {
                    resource: r,
                    rep,
                    own: true,
                    lend_count: 0,
                })
            })?;
            chunk.copy_from_slice(&h.to_le_bytes());
        }
        Ok(())
    }

    pub(super) fn write_guest(&self, b: &super::copy::Buffer, bytes: &[u8]) -> Result<(), Trap> {
        if bytes.is_empty() {
            return Ok(());
        }
        let mem = b
            .memory
            .and_then(|m| self.memory(m))
            .ok_or_else(|| Trap::host("stream or future copy without a memory"))?;
        let to = u64::from(b.ptr) + u64::from(b.progress) * u64::from(b.elem_size);
        mem.write(to, bytes)
            .map_err(|_| Trap::new(kiln_environ::TrapKind::MemoryOutOfBounds))
    }

    /// The guest dropped its end of `shared`, whose other end is the host's.
    pub(crate) fn host_end_dropped(&self, st: &mut State, shared: usize) {
        let Some(s) = st.shared.get_mut(shared) else {
            return;
        };
        match s.host.take() {
            Some(HostSide::Reader {
                on_end: Some(f), ..
            }) => f(),
            Some(HostSide::Writer { pipe, .. }) => pipe.gone(),
            Some(HostSide::Reader { on_end: None, .. }) | None => {}
        }
        st.shared.remove(shared);
    }

    /// Takes the lifted readable end `v` (a stream or future a guest passed to the host)
    /// out of transit: its shared state, or an error when `v` is not one.
    fn claim(&self, st: &mut State, v: &Val) -> Result<usize, Trap> {
        let (id, future) = match v {
            Val::Stream(id) => (*id, false),
            Val::Future(id) => (*id, true),
            other => {
                return Err(Trap::host(format!(
                    "expected a stream or future, got {other:?}"
                )))
            }
        };
        let shared = match st.obj(id) {
            Some(Object::End(e))
                if !e.writable
                    && e.w.handle == 0
                    && st
                        .shared
                        .get(e.shared)
                        .is_some_and(|s| s.ty.future == future) =>
            {
                e.shared
            }
            _ => {
                return Err(Trap::host(format!(
                    "{v:?} is not a stream or future the guest passed to this host call"
                )))
            }
        };
        st.objects.remove(id as usize);
        Ok(shared)
    }
}

/// Hands `bytes` to the host reader of `shared`; whether it reads on.
fn sink_of(st: &mut State, shared: usize, bytes: &[u8]) -> bool {
    match st.shared.get_mut(shared).and_then(|s| s.host.as_mut()) {
        Some(HostSide::Reader { sink, .. }) => sink(bytes),
        _ => true,
    }
}

/// The resource of a stream of `own<R>` elements.
fn own_elem(st: &State, shared: usize) -> Option<kiln_environ::component::ResourceIndex> {
    match st.shared.get(shared).map(|s| &s.ty.elem) {
        Some(Some(T::Own(r))) => Some(*r),
        _ => None,
    }
}

fn st_buf_remain(st: &State, id: ObjId) -> u32 {
    let b = super::copy::end_buf(st, id);
    b.length - b.progress
}

impl HostCx<'_> {
    /// Makes the host the reader of stream or future `v` (a parameter of this host call):
    /// `sink` gets the canonical-ABI bytes of each guest write as it is made (for `own<R>`
    /// elements, the handles' representations, taken out of the writer's table; return false to
    /// stop reading: the guest's next write sees the reader dropped), and `on_end` runs when
    /// the guest drops its writable end. Both run on the event loop with the instance's async
    /// state locked: they must not call into the instance (post work with a [`HostWriter`]).
    pub fn stream_to_host(
        &self,
        v: &Val,
        sink: impl FnMut(&[u8]) -> bool + Send + 'static,
        on_end: impl FnOnce() + Send + 'static,
    ) -> Result<(), Trap> {
        let shared = self.shared();
        let mut st = shared.concurrent.lock();
        let idx = shared.claim(&mut st, v)?;
        let s = st.shared.get_mut(idx).expect("claimed");
        if !plain_for_host(&s.ty.elem) {
            return Err(Trap::host(format!(
                "the host cannot read a {} of {:?} (only element types without strings, \
                 lists or handles)",
                if s.ty.future { "future" } else { "stream" },
                s.ty.elem
            )));
        }
        if s.dropped {
            // The guest dropped its writable end before handing the stream over: it ended.
            st.shared.remove(idx);
            drop(st);
            on_end();
            return Ok(());
        }
        s.host_uid = NEXT_UID.fetch_add(1, Ordering::Relaxed);
        s.host = Some(HostSide::Reader {
            sink: Box::new(sink),
            on_end: Some(Box::new(on_end)),
        });
        // A write already waiting meets the new reader.
        if let Some(w) = s.pending.take() {
            shared.host_exchange(&mut st, idx, w, true)?;
        }
        Ok(())
    }

    /// Drops stream or future `v` (a parameter of this host call) unread.
    pub fn drop_async_value(&self, v: &Val) -> Result<(), Trap> {
        let shared = self.shared();
        let mut st = shared.concurrent.lock();
        let idx = shared.claim(&mut st, v)?;
        super::copy::other_end_dropped(&mut st, idx);
        Ok(())
    }

    /// A new stream or future of type `ty` (`stream<T>` or `future<T>`, as in the function's
    /// signature) written by the host: the value to hand the guest, and its writer.
    pub fn stream_from_host(&self, ty: &T) -> Result<(Val, HostWriter), Trap> {
        let (future, elem) = match ty {
            T::Stream(e) => (false, e),
            T::Future(e) => (true, e),
            other => {
                return Err(Trap::host(format!(
                    "{other} is not a stream or future type"
                )))
            }
        };
        let ty = AsyncValueType {
            future,
            elem: elem.as_deref().cloned(),
        };
        if ty.elem.is_none() || !writable_by_host(&ty.elem) {
            return Err(Trap::host(format!(
                "the host cannot write a {} of {:?} (only element types without lists or \
                 handles)",
                if future { "future" } else { "stream" },
                ty.elem
            )));
        }
        let shared = self.shared();
        let mut st = shared.concurrent.lock();
        let pipe = Arc::new(Pipe::default());
        let uid = NEXT_UID.fetch_add(1, Ordering::Relaxed);
        let (idx, id) = super::copy::new_with_host(
            &mut st,
            ty.clone(),
            uid,
            HostSide::Writer {
                queue: VecDeque::new(),
                vals: VecDeque::new(),
                closed: false,
                pipe: pipe.clone(),
            },
        );
        let mailbox = shared.concurrent.mailbox.clone();
        mailbox.ops.fetch_add(1, Ordering::AcqRel);
        let v = if future {
            Val::Future(id)
        } else {
            Val::Stream(id)
        };
        Ok((
            v,
            HostWriter {
                mailbox,
                shared: idx,
                uid,
                pipe,
                plain: plain_for_host(&ty.elem),
                ty,
                done: false,
            },
        ))
    }

    /// Blocks the calling guest thread until `deadline`; other tasks run meanwhile (an
    /// `async`-lowered call of an `async` host function returns to its caller at once).
    pub fn sleep_until(&self, deadline: Instant) -> Result<(), Trap> {
        let shared = self.shared();
        let mut st = shared.concurrent.lock();
        st.timers.push(deadline);
        drop(st);
        let r = host_wait(shared, Box::new(move |_| Instant::now() >= deadline));
        let mut st = shared.concurrent.lock();
        if let Some(i) = st.timers.iter().position(|t| *t == deadline) {
            st.timers.swap_remove(i);
        }
        r
    }

    /// Runs `f` on a helper thread and blocks the calling guest thread until it returns;
    /// other tasks run meanwhile. For host work that blocks (file and network I/O).
    pub fn block_on<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Trap> {
        let shared = self.shared();
        let slot: Arc<Mutex<Option<R>>> = Arc::default();
        let done = Arc::new(AtomicBool::new(false));
        let mailbox = shared.concurrent.mailbox.clone();
        mailbox.ops.fetch_add(1, Ordering::AcqRel);
        let (slot2, done2, mb) = (slot.clone(), done.clone(), mailbox.clone());
        let spawned = std::thread::Builder::new()
            .name("kiln-host-io".into())
            .spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
                if let Ok(r) = r {
                    *lock(&slot2) = Some(r);
                }
                done2.store(true, Ordering::Release);
                mb.post(Box::new(|_, _| {}));
                mb.ops.fetch_sub(1, Ordering::AcqRel);
            });
        if let Err(e) = spawned {
            mailbox.ops.fetch_sub(1, Ordering::AcqRel);
            return Err(Trap::host(format!("cannot start a host I/O thread: {e}")));
        }
        let d = done.clone();
        host_wait(shared, Box::new(move |_| d.load(Ordering::Acquire)))?;
        let r = lock(&slot).take();
        r.ok_or_else(|| Trap::host("host function panicked"))
    }
}

/// Blocks the running thread until `pred` holds, for a host function. On the thread of an
/// `async`-lowered host call, the wait is cancellable: `subtask.cancel` ends it, and the
/// host function returns the cancellation (which ends its call, cancelled).
fn host_wait(shared: &Shared, pred: super::Pred) -> Result<(), Trap> {
    let mut st = shared.concurrent.lock();
    let host_call = st.current != super::ROOT && {
        let r = st.thread();
        r.subtask.is_some() && r.tasks.is_empty()
    };
    if host_call {
        st.thread().cancellable = true;
    }
    let r = shared.block_until(st, pred);
    if !host_call {
        return r;
    }
    let mut st = shared.concurrent.lock();
    let rec = st.thread();
    rec.cancellable = false;
    let cancelled = std::mem::take(&mut rec.cancelled);
    r?;
    if cancelled {
        return Err(super::tasks::cancelled_marker());
    }
    Ok(())
}

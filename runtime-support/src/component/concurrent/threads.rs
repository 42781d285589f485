//! Explicit threads (CanonicalABI.md 🧵: `thread.index`, `thread.new-indirect`,
//! `thread.resume-later`, `thread.suspend`, `thread.{yield,suspend}-then-{resume,promote}`).
//!
//! A thread is a fiber; switching to another thread that is not the one that resumed the
//! running thread resumes it nested, and the running thread, once control comes back,
//! suspends itself if nobody resumed it meanwhile (the root, which cannot suspend, runs the
//! event loop until it is resumed).

use super::{State, ThreadIdx, ThreadRec, ROOT};
use crate::component::instance::{vmctx_view, Shared};
use crate::error::Trap;
use crate::table::Table;
use crate::values::Val;
use kiln_environ::component::ComponentInstanceIndex;
use kiln_environ::{FuncType, ValType};

/// A thread's index in instance `inst`'s thread table (CanonicalABI.md `Thread.index`),
/// registered on first use.
fn index_of(st: &mut State, t: ThreadIdx, inst: ComponentInstanceIndex) -> u32 {
    if let Some(&(_, i)) = st
        .threads
        .get(t)
        .and_then(|r| r.indices.iter().find(|(n, _)| *n == inst))
    {
        return i;
    }
    let table = &mut st.thread_tables[inst as usize];
    if table.get(0).is_none() && table.iter().next().is_none() {
        // Index 0 is never a thread.
        table.insert(usize::MAX);
    }
    let i = table.insert(t) as u32;
    if let Some(r) = st.threads.get_mut(t) {
        r.indices.push((inst, i));
    }
    i
}

/// The thread of index `i` in instance `inst`'s table.
fn thread_at(st: &State, inst: ComponentInstanceIndex, i: u32) -> Result<ThreadIdx, Trap> {
    st.thread_tables[inst as usize]
        .get(i as usize)
        .copied()
        .filter(|&t| t != usize::MAX && st.threads.get(t).is_some())
        .ok_or_else(|| Trap::abi(format!("unknown thread index {i}")))
}

/// Removes finished thread `t`'s indices (its record is gone or going).
pub(crate) fn unregister(st: &mut State, indices: &[(ComponentInstanceIndex, u32)]) {
    for &(inst, i) in indices {
        if let Some(table) = st.thread_tables.get_mut(inst as usize) {
            table.remove(i as usize);
        }
    }
}

fn suspended(st: &State, t: ThreadIdx) -> bool {
    // The root has no fiber: it waits on the host stack below the running thread.
    st.threads
        .get(t)
        .is_some_and(|r| r.suspended && (r.fiber.is_some() || t == ROOT))
}

impl Shared {
    /// `thread.index`.
    pub(crate) fn thread_index(&self, inst: ComponentInstanceIndex) -> u32 {
        let mut st = self.concurrent.lock();
        let me = st.current;
        index_of(&mut st, me, inst)
    }

    /// `thread.new-indirect`: a new suspended thread that will call `table[fi](c)`.
    pub(crate) fn thread_new_indirect(
        &self,
        inst: ComponentInstanceIndex,
        table: &Table,
        fi: u32,
        c: i32,
    ) -> Result<u32, Trap> {
        let func = match table.get(u64::from(fi)) {
            Some(Val::FuncRef(Some(f))) => f,
            Some(Val::FuncRef(None)) => {
                return Err(Trap::abi(
                    "the start function index points to an uninitialized function",
                ))
            }
            _ => {
                return Err(Trap::abi(format!(
                    "thread start function index {fi} out of bounds"
                )))
            }
        };
        let want = FuncType {
            params: vec![ValType::I32],
            results: vec![],
        };
        if func.ty() != want {
            return Err(Trap::abi(
                "start function does not match expected type (currently only `(i32) -> ()` is \
                 supported)",
            ));
        }
        let mut st = self.concurrent.lock();
        let may_block = self.check_may_block(&st, inst).is_ok();
        let t = st.threads.insert(ThreadRec {
            suspended: true,
            may_block,
            ..ThreadRec::default()
        });
        let i = index_of(&mut st, t, inst);
        drop(st);
        let saved = super::capture_new(self);
        let cvmctx = self.vmctx.ptr() as usize;
        let body = move || {
            // SAFETY: as for task threads (`tasks.rs`).
            let Some(view) = (unsafe { vmctx_view(cvmctx as *const u8) }) else {
                return;
            };
            let r = func.call(&[Val::I32(c)]).map(drop).map_err(|e| match e {
                crate::error::Error::Trap(t) => t,
                other => Trap::host(other.to_string()),
            });
            view.shared.concurrent.lock().thread().outcome = Some(r);
        };
        super::start_fiber(self, t, saved, "thread", Box::new(body))?;
        Ok(i)
    }

    /// `thread.resume-later`.
    pub(crate) fn thread_resume_later(
        &self,
        inst: ComponentInstanceIndex,
        i: u32,
    ) -> Result<(), Trap> {
        let mut st = self.concurrent.lock();
        let t = thread_at(&st, inst, i)?;
        if !suspended(&st, t) {
            return Err(Trap::abi("cannot resume thread which is not suspended"));
        }
        let rec = st.threads.get_mut(t).expect("checked");
        rec.suspended = false;
        rec.ready = Some(Box::new(|_| true));
        st.waiting.push_back(t);
        Ok(())
    }

    /// `thread.suspend`: the running thread waits until another thread resumes it.
    pub(crate) fn thread_suspend(&self, inst: ComponentInstanceIndex) -> Result<u32, Trap> {
        let mut st = self.concurrent.lock();
        self.check_may_block(&st, inst)?;
        st.thread().suspended = true;
        drop(st);
        self.wait_resumed(inst)?;
        Ok(0)
    }

    /// `thread.{yield,suspend}-then-{resume,promote}`.
    pub(crate) fn thread_switch(
        &self,
        inst: ComponentInstanceIndex,
        yield_: bool,
        promote: bool,
        i: u32,
    ) -> Result<u32, Trap> {
        let mut st = self.concurrent.lock();
        let other = thread_at(&st, inst, i)?;
        let other_ready = st.waiting.contains(&other)
            && st
                .threads
                .get(other)
                .and_then(|r| r.ready.as_ref())
                .is_some_and(|p| p(&st));
        if promote {
            if !other_ready {
                // Nothing to promote: a plain yield or suspend.
                if yield_ {
                    self.yield_now(st)?;
                } else {
                    self.check_may_block(&st, inst)?;
                    st.thread().suspended = true;
                    drop(st);
                    self.wait_resumed(inst)?;
                }
                return Ok(0);
            }
            st.waiting.retain(|&w| w != other);
            if let Some(r) = st.threads.get_mut(other) {
                r.ready = None;
            }
        } else if !suspended(&st, other) {
            return Err(Trap::abi("cannot resume thread which is not suspended"));
        }
        let me = st.current;
        if let Some(r) = st.threads.get_mut(other) {
            r.suspended = false;
        }
        if yield_ {
            st.thread().ready = Some(Box::new(|_| true));
            st.waiting.push_back(me);
        } else {
            st.thread().suspended = true;
        }
        let resumer = st.threads.get(me).and_then(|r| r.resumer);
        drop(st);
        if resumer == Some(other) {
            // The other thread resumed this one: going back to it is suspending.
            if me != ROOT {
                crate::fiber::suspend()
                    .map_err(|_| Trap::host("thread cancelled: its component instance is gone"))?;
            }
        } else {
            self.run_thread(other)?;
            self.wait_resumed(inst)?;
        }
        Ok(0)
    }

    /// After the running thread (of instance `inst`) made itself suspended or ready: returns
    /// once it is resumed (a fiber suspends until then; the root runs the event loop). Having
    /// to wait is blocking: a synchronous task traps instead.
    fn wait_resumed(&self, inst: ComponentInstanceIndex) -> Result<(), Trap> {
        loop {
            let mut st = self.concurrent.lock();
            let me = st.current;
            let (susp, waiting) = (
                st.threads.get(me).is_some_and(|r| r.suspended),
                st.waiting.contains(&me),
            );
            if !susp && !waiting {
                return Ok(());
            }
            if waiting && !susp && me == ROOT {
                // A yield of the root: it is ready, so it goes on.
                st.waiting.retain(|&w| w != me);
                st.thread().ready = None;
                return Ok(());
            }
            if susp {
                if let Err(t) = self.check_may_block(&st, inst) {
                    st.thread().suspended = false;
                    return Err(t);
                }
            }
            if me != ROOT {
                drop(st);
                crate::fiber::suspend()
                    .map_err(|_| Trap::host("thread cancelled: its component instance is gone"))?;
                continue;
            }
            let Some(t) = super::take_ready(&mut st) else {
                return Err(super::deadlock());
            };
            drop(st);
            self.run_thread(t)?;
        }
    }
}

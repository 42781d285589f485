//! Host calls that do not block the host ([`AsyncCall`]): the call runs on a fiber of its own,
//! so when it waits (an `async` export waiting on a subtask, a stream, a timer), control comes
//! back to the host, which drives the instantiation's event loop by polling: as a Rust
//! [`Future`], or with [`AsyncCall::poll_ready`] from any event loop (the C API's
//! `kiln_component_call_async_poll`).
//!
//! Fibers belong to the OS thread that made them, so an `AsyncCall` is polled on the thread
//! that started it (it is not `Send`); while it is unfinished, that thread owns the instance's
//! store and other threads' calls get `Error::Busy`.

use super::{capture_new, start_fiber, ThreadIdx, ThreadRec};
use crate::component::instance::{ComponentFunc, ComponentInstance};
use crate::component::values::Val;
use crate::error::Error;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

type Outcome = Arc<Mutex<Option<Result<Option<Val>, Error>>>>;

/// A call of a component export in progress (from [`ComponentInstance::call_async`]).
/// Dropping it unfinished abandons the call: its frames unwind and the instance is poisoned,
/// as after a trap.
pub struct AsyncCall {
    instance: ComponentInstance,
    thread: ThreadIdx,
    done: Arc<AtomicBool>,
    outcome: Outcome,
    /// Polled only on the thread that started it.
    _not_send: PhantomData<*const ()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ComponentInstance {
    /// Starts calling lifted function `f` with `args` without blocking: the call runs until it
    /// first waits (or finishes), then returns. Drive it with [`AsyncCall::poll_ready`],
    /// `.await` it, or [`AsyncCall::wait`] for it.
    pub fn call_async(&self, f: &ComponentFunc, args: &[Val]) -> Result<AsyncCall, Error> {
        let shared = &*self.inner.shared;
        let t = shared
            .concurrent
            .lock()
            .threads
            .insert(ThreadRec::default());
        let done = Arc::new(AtomicBool::new(false));
        let outcome: Outcome = Arc::default();
        let (inst, func, args) = (self.clone(), f.clone(), args.to_vec());
        let (d, o) = (done.clone(), outcome.clone());
        let body = move || {
            let r = inst.call_func(&func, &args);
            *lock(&o) = Some(r);
            d.store(true, Ordering::Release);
        };
        start_fiber(shared, t, capture_new(shared), "host call", Box::new(body))
            .map_err(Error::Trap)?;
        shared.run_thread(t).map_err(Error::Trap)?;
        Ok(AsyncCall {
            instance: self.clone(),
            thread: t,
            done,
            outcome,
            _not_send: PhantomData,
        })
    }
}

impl ComponentInstance {
    /// Runs the instantiation's event loop (guest tasks left running by earlier calls, and
    /// host completions) until `done` holds: e.g. until a stream the host reads ended. An
    /// error when nothing can run any more and `done` still does not hold (a deadlock).
    pub fn run_until(&self, done: impl Fn() -> bool + Send + 'static) -> Result<(), Error> {
        let shared = &*self.inner.shared;
        let st = shared.concurrent.lock();
        shared
            .block_until(st, Box::new(move |_| done()))
            .map_err(Error::Trap)
    }
}

impl AsyncCall {
    /// Runs whatever guest work is ready (and host completions that arrived) without
    /// blocking; returns the call's result once it finished. An error means the call failed
    /// (a trap: the instance is poisoned) or cannot progress (a deadlock: nothing can run and
    /// the host will deliver nothing).
    pub fn poll_ready(&mut self) -> Result<Option<Option<Val>>, Error> {
        if !self.done.load(Ordering::Acquire) {
            self.step()?;
        }
        if !self.done.load(Ordering::Acquire) {
            return Ok(None);
        }
        let r = lock(&self.outcome).take();
        r.unwrap_or_else(|| Err(Error::Other("the call's result was already taken".into())))
            .map(Some)
    }

    /// Whether the call finished (its result is ready for [`AsyncCall::poll_ready`]).
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// The earliest time a host timer (e.g. `wasi:clocks` `wait-for`) wakes guest work; an
    /// event loop that has nothing else to do polls again then.
    pub fn next_deadline(&self) -> Option<Instant> {
        let shared = &*self.instance.inner.shared;
        shared.concurrent.lock().timers.iter().min().copied()
    }

    /// Registers `wake` to be called (from any thread) when host work for this call arrives
    /// (stream data, a finished host operation); timers are reported by
    /// [`AsyncCall::next_deadline`] instead.
    pub fn on_wake(&self, wake: impl Fn() + Send + Sync + 'static) {
        let shared = &*self.instance.inner.shared;
        shared.concurrent.mailbox.set_wake(Some(Arc::new(wake)));
    }

    /// Removes the callback [`AsyncCall::on_wake`] registered (for any call of this
    /// instantiation: there is one per instantiation).
    pub fn clear_wake(&self) {
        let shared = &*self.instance.inner.shared;
        shared.concurrent.mailbox.set_wake(None);
    }

    /// Blocks until the call finishes, running the event loop (as a blocking call does).
    pub fn wait(mut self) -> Result<Option<Val>, Error> {
        if !self.done.load(Ordering::Acquire) {
            let shared = &*self.instance.inner.shared;
            let st = shared.concurrent.lock();
            let d = self.done.clone();
            shared
                .block_until(st, Box::new(move |_| d.load(Ordering::Acquire)))
                .map_err(Error::Trap)?;
        }
        match self.poll_ready()? {
            Some(v) => Ok(v),
            None => Err(Error::Trap(super::deadlock())),
        }
    }

    /// One round of the event loop without blocking.
    fn step(&mut self) -> Result<(), Error> {
        let shared = &*self.instance.inner.shared;
        let mut st = shared
            .pump_and_lower(shared.concurrent.lock())
            .map_err(Error::Trap)?
            .0;
        // Each thread that is ready runs once (new ones made ready meanwhile wait for the
        // next poll, so a guest that keeps yielding cannot hold the host).
        let n = st.waiting.len();
        for _ in 0..n {
            let Some(t) = super::take_ready(&mut st) else {
                break;
            };
            drop(st);
            shared.run_thread(t).map_err(Error::Trap)?;
            st = shared
                .pump_and_lower(shared.concurrent.lock())
                .map_err(Error::Trap)?
                .0;
        }
        if n > 0 {
            // Other calls' futures may have finished with this progress.
            shared.concurrent.mailbox.wake_pollers();
        }
        if self.done.load(Ordering::Acquire) {
            return Ok(());
        }
        if !super::any_ready(&st) && st.timers.is_empty() && !shared.concurrent.mailbox.expecting()
        {
            return Err(Error::Trap(super::deadlock()));
        }
        Ok(())
    }
}

impl Future for AsyncCall {
    type Output = Result<Option<Val>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.poll_ready() {
            Err(e) => Poll::Ready(Err(e)),
            Ok(Some(v)) => Poll::Ready(Ok(v)),
            Ok(None) => {
                let shared = &*this.instance.inner.shared;
                let mailbox = &shared.concurrent.mailbox;
                mailbox.add_waker(cx.waker());
                let ready_now = super::any_ready(&shared.concurrent.lock());
                // More guest work is ready, or mail came before the waker was added: come
                // back after other futures had a turn.
                if ready_now || mailbox.has_mail() {
                    mailbox.wake_pollers();
                } else if let Some(t) = this.next_deadline() {
                    mailbox.wake_at(t);
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for AsyncCall {
    fn drop(&mut self) {
        if self.done.load(Ordering::Acquire) {
            return;
        }
        // Abandoned: unwind the call's frames (dropping a suspended fiber cancels it) and
        // poison the instance, whose task state the call left half done.
        let shared = &*self.instance.inner.shared;
        let rec = {
            let mut st = shared.concurrent.lock();
            let t = self.thread;
            // A running fiber (the drop happens inside the call itself) is left alone.
            if st.threads.get(t).is_none_or(|r| r.fiber.is_none()) {
                return;
            }
            st.waiting.retain(|&w| w != t);
            st.threads.remove(t)
        };
        self.instance.inner.poisoned.store(true, Ordering::Release);
        // Dropped outside the lock: cancelling runs the fiber's unwinding code.
        drop(rec);
    }
}

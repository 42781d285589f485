//! The C API of calls that do not block the host (component-model async): a call is started,
//! then driven by the host's own event loop with `kiln_component_async_call_poll()` (woken by
//! the callback of `kiln_component_async_call_set_wake()` and at
//! `kiln_component_async_call_next_deadline_ns()`), or waited for. See `kiln.h` and
//! `ComponentInstance::call_async`.

use super::component::{call_args, kiln_component_func_t, put_result};
use super::component_val::kiln_cval_t;
use super::*;
use crate::component::AsyncCall;
use std::ffi::c_void;
use std::thread::ThreadId;

/// `kiln_component_async_call_t`: a call in progress, bound to the thread that started it.
pub struct kiln_component_async_call_t {
    call: Option<AsyncCall>,
    func: *const kiln_component_func_t,
    thread: ThreadId,
}

impl kiln_component_async_call_t {
    fn on_my_thread(&self) -> Result<(), Error> {
        if std::thread::current().id() != self.thread {
            return Err(Error::Other(
                "an async call is driven only on the thread that started it".into(),
            ));
        }
        Ok(())
    }
}

/// A `void (*)(void *)` wake-up callback with its data, callable from any thread.
struct WakeFn(extern "C" fn(*mut c_void), usize);

// SAFETY: the C contract of kiln_component_async_call_set_wake(): the callback may be called
// from any thread with its data.
unsafe impl Send for WakeFn {}
// SAFETY: as for `Send`; calling it needs no exclusive access.
unsafe impl Sync for WakeFn {}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_func_call_async(
    func: *const kiln_component_func_t,
    args: *const kiln_cval_t,
    nargs: usize,
    out: *mut *mut kiln_component_async_call_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let out = unsafe { out.as_mut() }.ok_or_else(|| null("out"))?;
        *out = std::ptr::null_mut();
        // SAFETY: caller contract.
        let f = unsafe { handle(func, "func") }?;
        // SAFETY: caller contract (no result pointer here).
        let vals = unsafe { call_args(f, args, nargs, std::ptr::null_mut()) }?;
        let call = f.instance.call_async(&f.func, &vals)?;
        *out = Box::into_raw(Box::new(kiln_component_async_call_t {
            call: Some(call),
            func,
            thread: std::thread::current().id(),
        }));
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_async_call_poll(
    call: *mut kiln_component_async_call_t,
    done: *mut bool,
    result: *mut kiln_cval_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let done = unsafe { done.as_mut() }.ok_or_else(|| null("done"))?;
        *done = false;
        // SAFETY: caller contract.
        let c = unsafe { handle_mut(call, "call") }?;
        c.on_my_thread()?;
        // SAFETY: the function handle outlives its calls (kiln.h).
        let f = unsafe { handle(c.func, "func") }?;
        let a = c
            .call
            .as_mut()
            .ok_or_else(|| Error::Other("the call already finished".into()))?;
        let r = a.poll_ready();
        if !matches!(r, Ok(None)) {
            *done = true;
            a.clear_wake();
            c.call = None;
        }
        match r? {
            // SAFETY: caller contract.
            Some(v) => unsafe { put_result(f, v, result) },
            None => Ok(()),
        }
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_async_call_wait(
    call: *mut kiln_component_async_call_t,
    result: *mut kiln_cval_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let c = unsafe { handle_mut(call, "call") }?;
        c.on_my_thread()?;
        // SAFETY: the function handle outlives its calls (kiln.h).
        let f = unsafe { handle(c.func, "func") }?;
        let a = c
            .call
            .take()
            .ok_or_else(|| Error::Other("the call already finished".into()))?;
        let v = a.wait()?;
        // SAFETY: caller contract.
        unsafe { put_result(f, v, result) }
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_async_call_next_deadline_ns(
    call: *const kiln_component_async_call_t,
) -> i64 {
    get_or(-1, || {
        // SAFETY: caller contract.
        let Some(c) = (unsafe { call.as_ref() }) else {
            return -1;
        };
        match c.call.as_ref().and_then(AsyncCall::next_deadline) {
            Some(t) => {
                let d = t.saturating_duration_since(std::time::Instant::now());
                i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
            }
            None => -1,
        }
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_async_call_set_wake(
    call: *mut kiln_component_async_call_t,
    wake: Option<extern "C" fn(*mut c_void)>,
    data: *mut c_void,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let c = unsafe { handle_mut(call, "call") }?;
        let wake = wake.ok_or_else(|| null("wake"))?;
        let w = WakeFn(wake, data as usize);
        if let Some(a) = &c.call {
            a.on_wake(move || (w.0)(w.1 as *mut c_void));
        }
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_async_call_delete(call: *mut kiln_component_async_call_t) {
    if call.is_null() {
        return;
    }
    // SAFETY: caller contract: a call handle from this API, given up here.
    let c = unsafe { Box::from_raw(call) };
    if let Some(a) = &c.call {
        // The callback's data may go with the handle.
        a.clear_wake();
    }
    if c.on_my_thread().is_err() {
        // Its fiber belongs to the starting thread: leaked rather than touched from here.
        std::mem::forget(c);
        return;
    }
    get_or((), || drop(c));
}

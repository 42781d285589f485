//! C API: component imports implemented in C. A `kiln_component_linker_t` records, by WIT
//! name, either a dynamic callback (arguments and result as `kiln_cval_t` trees) or a raw
//! callback (arguments and result in the host C representation, what `kiln bindgen c` headers
//! register); at instantiation each definition the component imports becomes a host function
//! of a `ComponentLinker`: a raw callback gets the arguments struct the import trampoline lifted
//! and writes the result in place (`ComponentLinker::func_raw`), a dynamic one converts.
//!
//! Raw callbacks write results whose strings and lists point at C memory; that memory must
//! stay valid until the callback returns and the runtime has copied the result, which is what
//! `kiln_component_host_alloc` gives (freed after the copy).

use super::component::kiln_component_instance_t;
use super::component_val::{cval_free, cval_to_val, cval_zero, kiln_cval_t, val_to_cval};
use super::host::kiln_finalizer_t;
use super::*;
use crate::component::{ComponentFuncType, HostArgs, HostCx, HostResult, Val};
use crate::error::Trap;
use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::Arc;

/// `kiln_component_callback_t`: a component import implemented in C with dynamic values.
pub type kiln_component_callback_t = Option<
    unsafe extern "C" fn(
        env: *mut c_void,
        instance: *const kiln_component_instance_t,
        args: *const kiln_cval_t,
        nargs: usize,
        result: *mut kiln_cval_t,
    ) -> *mut kiln_error_t,
>;

/// `kiln_component_raw_callback_t`: a component import implemented in C over the host C
/// representation.
pub type kiln_component_raw_callback_t = Option<
    unsafe extern "C" fn(
        env: *mut c_void,
        instance: *const kiln_component_instance_t,
        args: *const c_void,
        result: *mut c_void,
    ) -> *mut kiln_error_t,
>;

/// Which kind of callback.
#[derive(Copy, Clone)]
pub(super) enum Callback {
    /// Dynamic values.
    Dynamic(kiln_component_callback_t),
    /// Host C representation.
    Raw(kiln_component_raw_callback_t),
}

/// A C callback with its environment; the finalizer runs on drop.
pub(super) struct ComponentHostEnv {
    callback: Callback,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
}

// SAFETY: the C API documents that callbacks and environments may be used from any thread.
unsafe impl Send for ComponentHostEnv {}
// SAFETY: as above.
unsafe impl Sync for ComponentHostEnv {}

impl Drop for ComponentHostEnv {
    fn drop(&mut self) {
        if let Some(f) = self.finalizer {
            // SAFETY: the finalizer given for this environment, called once.
            unsafe { f(self.env) }
        }
    }
}

impl ComponentHostEnv {
    /// Wraps a callback; a NULL callback is an error (the finalizer still runs).
    pub(super) fn new(
        callback: Callback,
        env: *mut c_void,
        finalizer: kiln_finalizer_t,
    ) -> Result<Arc<ComponentHostEnv>, Error> {
        let h = Arc::new(ComponentHostEnv {
            callback,
            env,
            finalizer,
        });
        let null = match callback {
            Callback::Dynamic(f) => f.is_none(),
            Callback::Raw(f) => f.is_none(),
        };
        if null {
            return Err(Error::Other("callback is NULL".into()));
        }
        Ok(h)
    }

    /// Runs a dynamic callback for one call of an import of type `ty` (raw callbacks run in
    /// place: [`ComponentHostEnv::call_in_place`]).
    pub(super) fn call(
        &self,
        cx: &HostCx<'_>,
        ty: &ComponentFuncType,
        args: &[Val],
    ) -> Result<Option<Val>, Trap> {
        match self.callback {
            Callback::Dynamic(Some(f)) => self.call_dynamic(f, cx, ty, args),
            _ => Err(Trap::host("callback is NULL")),
        }
    }

    fn call_dynamic(
        &self,
        f: unsafe extern "C" fn(
            *mut c_void,
            *const kiln_component_instance_t,
            *const kiln_cval_t,
            usize,
            *mut kiln_cval_t,
        ) -> *mut kiln_error_t,
        cx: &HostCx<'_>,
        ty: &ComponentFuncType,
        args: &[Val],
    ) -> Result<Option<Val>, Trap> {
        let mut c_args = Vec::with_capacity(args.len());
        let mut failed = None;
        for ((_, t), v) in ty.params.iter().zip(args) {
            match val_to_cval(t, v) {
                Ok(c) => c_args.push(c),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let free_args = |c_args: &mut Vec<kiln_cval_t>| {
            for c in c_args.iter_mut() {
                // SAFETY: owned values built above (the callback only borrows them).
                unsafe { cval_free(c) };
            }
        };
        if let Some(e) = failed {
            free_args(&mut c_args);
            return Err(Trap::host(e.to_string()));
        }
        let mut result = cval_zero();
        let rp = if ty.result.is_some() {
            &mut result as *mut kiln_cval_t
        } else {
            std::ptr::null_mut()
        };
        let instance = calling_instance(cx);
        let ip = instance
            .as_ref()
            .map_or(std::ptr::null(), |i| i as *const _);
        // SAFETY: the callback contract of `kiln.h` (the instance handle is borrowed for the
        // call).
        let err = unsafe { f(self.env, ip, c_args.as_ptr(), c_args.len(), rp) };
        free_args(&mut c_args);
        let out = if !err.is_null() {
            // SAFETY: an error the callback made with this API.
            Err(error_to_trap(unsafe { error::take(err) }))
        } else {
            match &ty.result {
                // SAFETY: the callback wrote a value per the contract.
                Some(t) => unsafe { cval_to_val(t, &result) }
                    .map(Some)
                    .map_err(|e| Trap::host(format!("host function result: {e}"))),
                None => Ok(None),
            }
        };
        // SAFETY: the result is owned by the runtime once the callback returned.
        unsafe { cval_free(&mut result) };
        out
    }

    /// Runs a raw callback over the host C representation the import trampoline lifted: the
    /// arguments struct as it is, the result written in place (the blocks the callback took
    /// from `kiln_component_host_alloc` live until the guest has the result).
    pub(super) fn call_in_place(
        &self,
        cx: &HostCx<'_>,
        args: &HostArgs<'_>,
        out: &mut HostResult<'_>,
    ) -> Result<(), Trap> {
        let Callback::Raw(Some(f)) = self.callback else {
            return Err(Trap::host("not a raw callback"));
        };
        let result = out.as_mut_ptr();
        HOST_ARENAS.with(|a| a.borrow_mut().push(Vec::new()));
        let instance = calling_instance(cx);
        let ip = instance
            .as_ref()
            .map_or(std::ptr::null(), |i| i as *const _);
        // SAFETY: the callback contract of `kiln.h`: host C structs laid out for the type, the
        // instance handle borrowed for the call.
        let err = unsafe { f(self.env, ip, args.as_ptr().cast(), result.cast()) };
        let blocks = HOST_ARENAS
            .with(|a| a.borrow_mut().pop())
            .unwrap_or_default();
        for b in blocks {
            out.keep(b.into_vec());
        }
        if err.is_null() {
            Ok(())
        } else {
            // SAFETY: an error the callback made with this API.
            Err(error_to_trap(unsafe { error::take(err) }))
        }
    }

    /// Whether this is a raw callback.
    pub(super) fn is_raw(&self) -> bool {
        matches!(self.callback, Callback::Raw(_))
    }
}

/// A borrowed handle of the calling instance for a callback (`None` during instantiation).
fn calling_instance(cx: &HostCx<'_>) -> Option<kiln_component_instance_t> {
    cx.instance().map(kiln_component_instance_t::new)
}

/// A callback's error as the trap the guest sees (traps propagate unchanged).
fn error_to_trap(e: Error) -> Trap {
    match e {
        Error::Trap(t) => t,
        other => Trap::host(error::bare_message(&other).to_string()),
    }
}

thread_local! {
    /// One frame per raw host callback running on this thread.
    static HOST_ARENAS: RefCell<Vec<Vec<Box<[u64]>>>> = const { RefCell::new(Vec::new()) };
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub extern "C" fn kiln_component_host_alloc(size: usize) -> *mut c_void {
    get_or(std::ptr::null_mut(), || {
        if size > isize::MAX as usize / 2 {
            return std::ptr::null_mut();
        }
        let mut block = vec![0u64; size.div_ceil(8).max(1)].into_boxed_slice();
        let p = block.as_mut_ptr().cast::<c_void>();
        HOST_ARENAS.with(|a| match a.borrow_mut().last_mut() {
            Some(frame) => {
                frame.push(block);
                p
            }
            None => std::ptr::null_mut(),
        })
    })
}

//! C API: host functions implemented in C (`kiln_func_new`, `kiln_linker_define_func` and their
//! `_with_caller` variants) and the caller handle (`kiln_caller_t`) those variants receive.
//!
//! A C callback, its `env` and finalizer live in a [`HostEnv`] captured by the Rust closure of
//! a [`Func`]; dropping the function runs the finalizer. Calls convert values both ways and turn
//! a returned `kiln_error_t*` into a guest trap.

use super::engine::kiln_engine_t;
use super::func::{kiln_func_t, kiln_linker_t};
use super::items::{kiln_extern_t, kiln_memory_t};
use super::val::{self, kiln_val_t};
use super::*;
use crate::engine::Engine;
use crate::error::Trap;
use crate::func::{Caller, Func};
use crate::instance::Instance;
use crate::values::Val;
use crate::Extern;
use kiln_environ::FuncType;
use std::ffi::c_void;

/// `kiln_host_callback_t`: a host function implemented in C.
pub type kiln_host_callback_t = Option<
    unsafe extern "C" fn(
        env: *mut c_void,
        args: *const kiln_val_t,
        nargs: usize,
        results: *mut kiln_val_t,
        nresults: usize,
    ) -> *mut kiln_error_t,
>;

/// `kiln_host_callback_with_caller_t`: a host function implemented in C that gets its caller.
pub type kiln_host_callback_with_caller_t = Option<
    unsafe extern "C" fn(
        env: *mut c_void,
        caller: *mut kiln_caller_t,
        args: *const kiln_val_t,
        nargs: usize,
        results: *mut kiln_val_t,
        nresults: usize,
    ) -> *mut kiln_error_t,
>;

/// `kiln_finalizer_t`: frees a host function's environment.
pub type kiln_finalizer_t = Option<unsafe extern "C" fn(env: *mut c_void)>;

/// `kiln_caller_t`: the instance calling a host function (valid during the callback only).
pub struct kiln_caller_t {
    instance: Option<Instance>,
}

/// Either callback flavour.
#[derive(Copy, Clone)]
enum Callback {
    Plain(kiln_host_callback_t),
    WithCaller(kiln_host_callback_with_caller_t),
}

impl Callback {
    fn is_null(self) -> bool {
        match self {
            Callback::Plain(f) => f.is_none(),
            Callback::WithCaller(f) => f.is_none(),
        }
    }
}

/// A C callback, its environment and finalizer (run on drop).
struct HostEnv {
    callback: Callback,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
}

// SAFETY: the C API documents that host callbacks and their environments may be used from any
// thread that calls into wasm; the C side is responsible for their thread safety.
unsafe impl Send for HostEnv {}
// SAFETY: as above.
unsafe impl Sync for HostEnv {}

impl Drop for HostEnv {
    fn drop(&mut self) {
        if let Some(f) = self.finalizer {
            // SAFETY: the finalizer the C caller gave for this environment, called once.
            unsafe { f(self.env) }
        }
    }
}

impl HostEnv {
    /// Calls the C callback with converted arguments and converts its results back.
    fn call(
        &self,
        ty: &FuncType,
        caller: &mut Caller<'_>,
        args: &[Val],
        results: &mut [Val],
    ) -> Result<(), Trap> {
        let mut c_args: Vec<kiln_val_t> = args.iter().cloned().map(val::to_c).collect();
        let mut c_results: Vec<kiln_val_t> = ty.results.iter().map(|t| val::zero(*t)).collect();
        let (a, na) = (c_args.as_ptr(), c_args.len());
        let (r, nr) = (c_results.as_mut_ptr(), c_results.len());
        let err = match self.callback {
            // SAFETY: the callback contract of `kiln.h`: arrays of the stated lengths, `env` as
            // given at creation.
            Callback::Plain(Some(f)) => unsafe { f(self.env, a, na, r, nr) },
            Callback::WithCaller(Some(f)) => {
                let mut c = kiln_caller_t {
                    instance: caller.instance().cloned(),
                };
                // SAFETY: as above; `c` outlives the call.
                unsafe { f(self.env, &mut c, a, na, r, nr) }
            }
            // Creation rejects NULL callbacks.
            _ => std::ptr::null_mut(),
        };
        for a in &mut c_args {
            // SAFETY: argument funcrefs are handles we created above.
            unsafe { val::release(a) };
        }
        let mut converted = Ok(());
        for (slot, r) in results.iter_mut().zip(c_results.iter_mut()) {
            // SAFETY: the callback kept result slots initialized for their kind; funcref
            // handles written there are owned by us now.
            match unsafe { val::from_c(r) } {
                Ok(v) => *slot = v,
                Err(e) => converted = Err(e),
            }
            // SAFETY: as above.
            unsafe { val::release(r) };
        }
        if !err.is_null() {
            // SAFETY: a non-null error returned by the callback came from this API.
            return Err(match unsafe { error::take(err) } {
                Error::Trap(t) => t,
                e => Trap::host(error::bare_message(&e)),
            });
        }
        converted.map_err(|e| Trap::host(format!("host function: {e}")))
    }
}

/// Builds a host function from C pieces (the finalizer runs on every failure path).
///
/// # Safety
/// Arrays have the stated lengths; callback and finalizer follow `kiln.h`.
unsafe fn host_func(
    engine: Option<&Engine>,
    params: (*const kiln_valkind_t, usize),
    results: (*const kiln_valkind_t, usize),
    callback: Callback,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
) -> Result<Func, Error> {
    // Own the environment first, so every early return finalizes it.
    let guard = HostEnv {
        callback,
        env,
        finalizer,
    };
    let engine = engine.ok_or_else(|| null("engine (or linker)"))?;
    if callback.is_null() {
        return Err(null("callback"));
    }
    // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
    let params = unsafe { slice_arg(params.0, params.1, "params") }?;
    // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
    let results = unsafe { slice_arg(results.0, results.1, "results") }?;
    let types = |ks: &[kiln_valkind_t]| -> Result<Vec<_>, Error> {
        ks.iter().map(|k| val::type_of(*k)).collect()
    };
    let ty = FuncType {
        params: types(params)?,
        results: types(results)?,
    };
    let ty2 = ty.clone();
    Ok(Func::new(engine, ty, move |caller, args, res| {
        guard.call(&ty2, caller, args, res)
    }))
}

/// Shared body of `kiln_func_new` and `kiln_func_new_with_caller`.
///
/// # Safety
/// Pointers per `kiln.h`.
unsafe fn func_new(
    engine: *const kiln_engine_t,
    params: (*const kiln_valkind_t, usize),
    results: (*const kiln_valkind_t, usize),
    callback: Callback,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
    out: *mut *mut kiln_func_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: NULL or a live engine handle.
        let engine = unsafe { engine.as_ref() }.map(|e| &e.engine);
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let func = unsafe { host_func(engine, params, results, callback, env, finalizer) };
        // SAFETY: NULL or valid for writes.
        let out = unsafe { out_arg(out, "out") }?;
        *out = boxed(kiln_func_t { func: func? });
        Ok(())
    })
}

/// Shared body of `kiln_linker_define_func` and `kiln_linker_define_func_with_caller`.
///
/// # Safety
/// Pointers per `kiln.h`.
#[allow(clippy::too_many_arguments)] // mirrors the C signature
unsafe fn define_func(
    linker: *mut kiln_linker_t,
    module: *const c_char,
    name: *const c_char,
    params: (*const kiln_valkind_t, usize),
    results: (*const kiln_valkind_t, usize),
    callback: Callback,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: NULL or a live linker handle.
        let engine = unsafe { linker.as_ref() }.map(|l| &l.engine);
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let func = unsafe { host_func(engine, params, results, callback, env, finalizer) }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let l = unsafe { handle_mut(linker, "linker") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let module = unsafe { str_arg(module, "module") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let name = unsafe { str_arg(name, "name") }?;
        l.linker.define(module, name, Extern::Func(func));
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_func_new(
    engine: *const kiln_engine_t,
    params: *const kiln_valkind_t,
    nparams: usize,
    results: *const kiln_valkind_t,
    nresults: usize,
    callback: kiln_host_callback_t,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
    out: *mut *mut kiln_func_t,
) -> *mut kiln_error_t {
    let cb = Callback::Plain(callback);
    // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
    unsafe {
        func_new(
            engine,
            (params, nparams),
            (results, nresults),
            cb,
            env,
            finalizer,
            out,
        )
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_func_new_with_caller(
    engine: *const kiln_engine_t,
    params: *const kiln_valkind_t,
    nparams: usize,
    results: *const kiln_valkind_t,
    nresults: usize,
    callback: kiln_host_callback_with_caller_t,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
    out: *mut *mut kiln_func_t,
) -> *mut kiln_error_t {
    let cb = Callback::WithCaller(callback);
    // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
    unsafe {
        func_new(
            engine,
            (params, nparams),
            (results, nresults),
            cb,
            env,
            finalizer,
            out,
        )
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_linker_define_func(
    linker: *mut kiln_linker_t,
    module: *const c_char,
    name: *const c_char,
    params: *const kiln_valkind_t,
    nparams: usize,
    results: *const kiln_valkind_t,
    nresults: usize,
    callback: kiln_host_callback_t,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
) -> *mut kiln_error_t {
    let cb = Callback::Plain(callback);
    // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
    unsafe {
        define_func(
            linker,
            module,
            name,
            (params, nparams),
            (results, nresults),
            cb,
            env,
            finalizer,
        )
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_linker_define_func_with_caller(
    linker: *mut kiln_linker_t,
    module: *const c_char,
    name: *const c_char,
    params: *const kiln_valkind_t,
    nparams: usize,
    results: *const kiln_valkind_t,
    nresults: usize,
    callback: kiln_host_callback_with_caller_t,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
) -> *mut kiln_error_t {
    let cb = Callback::WithCaller(callback);
    // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
    unsafe {
        define_func(
            linker,
            module,
            name,
            (params, nparams),
            (results, nresults),
            cb,
            env,
            finalizer,
        )
    }
}

/// The calling instance of a caller handle, or an error.
///
/// # Safety
/// `caller` is NULL or the live handle passed to the running callback.
unsafe fn caller_instance<'a>(caller: *const kiln_caller_t) -> Result<&'a Instance, Error> {
    // SAFETY: caller contract.
    let c = unsafe { handle(caller, "caller") }?;
    c.instance
        .as_ref()
        .ok_or_else(|| Error::Other("the host function was not called from wasm".into()))
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_caller_get_memory(
    caller: *const kiln_caller_t,
    index: u32,
    out: *mut *mut kiln_memory_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: NULL or valid for writes.
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: NULL or the live caller handle.
        let inst = unsafe { caller_instance(caller) }?;
        let memory = inst
            .memory(index)
            .ok_or_else(|| Error::Other(format!("the caller has no memory {index}")))?;
        *out = boxed(kiln_memory_t { memory });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_caller_get_export(
    caller: *const kiln_caller_t,
    name: *const c_char,
    out: *mut *mut kiln_extern_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: NULL or valid for writes.
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: NULL or the live caller handle.
        let inst = unsafe { caller_instance(caller) }?;
        // SAFETY: NULL or a NUL-terminated string.
        let name = unsafe { str_arg(name, "name") }?;
        let item = inst
            .get_export(name)
            .ok_or_else(|| Error::Other(format!("unknown export `{name}`")))?;
        *out = boxed(kiln_extern_t { item });
        Ok(())
    })
}

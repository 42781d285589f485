//! C API: functions (`kiln_func_t`) including host functions backed by C callbacks, linkers
//! (`kiln_linker_t`) and instances (`kiln_instance_t`).

use super::engine::{kiln_engine_t, kiln_module_t};
use super::items::{kiln_extern_t, kiln_global_t, kiln_memory_t, kiln_table_t};
use super::val::{self, kiln_val_t};
use super::*;
use crate::engine::Engine;
use crate::error::Trap;
use crate::func::{Caller, Func};
use crate::instance::Instance;
use crate::linker::Linker;
use crate::values::Val;
use crate::Extern;
use kiln_environ::FuncType;
use std::ffi::c_void;

/// `kiln_func_t`: a function handle.
pub struct kiln_func_t {
    pub(super) func: Func,
}

/// `kiln_linker_t`: a linker handle.
pub struct kiln_linker_t {
    linker: Linker,
    engine: Engine,
}

/// `kiln_instance_t`: an instance handle.
pub struct kiln_instance_t {
    instance: Instance,
}

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

/// `kiln_finalizer_t`: frees a host function's environment.
pub type kiln_finalizer_t = Option<unsafe extern "C" fn(env: *mut c_void)>;

/// A C callback, its environment and finalizer (run on drop).
struct HostEnv {
    callback: unsafe extern "C" fn(
        *mut c_void,
        *const kiln_val_t,
        usize,
        *mut kiln_val_t,
        usize,
    ) -> *mut kiln_error_t,
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
    fn call(&self, ty: &FuncType, args: &[Val], results: &mut [Val]) -> Result<(), Trap> {
        let mut c_args: Vec<kiln_val_t> = args.iter().cloned().map(val::to_c).collect();
        let mut c_results: Vec<kiln_val_t> = ty.results.iter().map(|t| val::zero(*t)).collect();
        // SAFETY: the callback contract of `kiln.h`: arrays of the stated lengths, `env` as given.
        let err = unsafe {
            (self.callback)(
                self.env,
                c_args.as_ptr(),
                c_args.len(),
                c_results.as_mut_ptr(),
                c_results.len(),
            )
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
#[allow(clippy::too_many_arguments)]
unsafe fn host_func(
    engine: Option<&Engine>,
    params: *const kiln_valkind_t,
    nparams: usize,
    results: *const kiln_valkind_t,
    nresults: usize,
    callback: kiln_host_callback_t,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
) -> Result<Func, Error> {
    // Own the environment first, so every early return finalizes it.
    let guard = HostEnv {
        callback: callback.unwrap_or(null_callback),
        env,
        finalizer,
    };
    let engine = engine.ok_or_else(|| null("engine (or linker)"))?;
    if callback.is_none() {
        return Err(null("callback"));
    }
    // SAFETY (both): arrays of the stated lengths per the contract.
    let params = unsafe { slice_arg(params, nparams, "params") }?;
    let results = unsafe { slice_arg(results, nresults, "results") }?;
    let ty = FuncType {
        params: params
            .iter()
            .map(|k| val::type_of(*k))
            .collect::<Result<_, _>>()?,
        results: results
            .iter()
            .map(|k| val::type_of(*k))
            .collect::<Result<_, _>>()?,
    };
    let ty2 = ty.clone();
    Ok(Func::new(
        engine,
        ty,
        move |_: &mut Caller<'_>, args: &[Val], res: &mut [Val]| guard.call(&ty2, args, res),
    ))
}

/// Placeholder callback for a NULL one (never called: creation fails first).
unsafe extern "C" fn null_callback(
    _: *mut c_void,
    _: *const kiln_val_t,
    _: usize,
    _: *mut kiln_val_t,
    _: usize,
) -> *mut kiln_error_t {
    std::ptr::null_mut()
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
    wrap(|| {
        // SAFETY: NULL or a live engine handle.
        let engine = unsafe { engine.as_ref() }.map(|e| &e.engine);
        // SAFETY: pointers per the contract.
        let r = unsafe {
            host_func(
                engine, params, nparams, results, nresults, callback, env, finalizer,
            )
        };
        // SAFETY: NULL or valid for writes.
        let out = unsafe { out_arg(out, "out") }?;
        *out = boxed(kiln_func_t { func: r? });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_func_clone(func: *const kiln_func_t) -> *mut kiln_func_t {
    // SAFETY: NULL or a live handle.
    unsafe { func.as_ref() }.map_or(std::ptr::null_mut(), |f| {
        boxed(kiln_func_t {
            func: f.func.clone(),
        })
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_func_delete(func: *mut kiln_func_t) {
    // SAFETY: NULL or a handle from this API.
    unsafe { free(func) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_func_param_count(func: *const kiln_func_t) -> usize {
    // SAFETY: NULL or a live handle.
    unsafe { func.as_ref() }.map_or(0, |f| f.func.ty().params.len())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_func_result_count(func: *const kiln_func_t) -> usize {
    // SAFETY: NULL or a live handle.
    unsafe { func.as_ref() }.map_or(0, |f| f.func.ty().results.len())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_func_param_type(
    func: *const kiln_func_t,
    index: usize,
) -> kiln_valkind_t {
    // SAFETY: NULL or a live handle.
    unsafe { func.as_ref() }
        .and_then(|f| f.func.ty().params.get(index).copied())
        .map_or(KILN_VALKIND_INVALID, val::kind_of)
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_func_result_type(
    func: *const kiln_func_t,
    index: usize,
) -> kiln_valkind_t {
    // SAFETY: NULL or a live handle.
    unsafe { func.as_ref() }
        .and_then(|f| f.func.ty().results.get(index).copied())
        .map_or(KILN_VALKIND_INVALID, val::kind_of)
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_func_call(
    func: *const kiln_func_t,
    args: *const kiln_val_t,
    nargs: usize,
    results: *mut kiln_val_t,
    nresults: usize,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY (all): pointers and lengths per the contract.
        let f = unsafe { handle(func, "func") }?;
        let c_args = unsafe { slice_arg(args, nargs, "args") }?;
        let nres = f.func.ty().results.len();
        if nresults != nres {
            return Err(Error::Other(format!(
                "expected {nres} result slots, got {nresults}"
            )));
        }
        if nres > 0 && results.is_null() {
            return Err(null("results"));
        }
        let vals = c_args
            .iter()
            // SAFETY: argument values are initialized per their kind; funcrefs are live.
            .map(|a| unsafe { val::from_c(a) })
            .collect::<Result<Vec<_>, _>>()?;
        let out = f.func.call(&vals)?;
        for (i, v) in out.into_iter().enumerate().take(nresults) {
            // SAFETY: `results` has `nresults` writable slots.
            unsafe { results.add(i).write(val::to_c(v)) };
        }
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_linker_new(
    engine: *const kiln_engine_t,
    out: *mut *mut kiln_linker_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY (both): pointers per the contract.
        let out = unsafe { out_arg(out, "out") }?;
        let engine = unsafe { handle(engine, "engine") }?;
        *out = boxed(kiln_linker_t {
            linker: Linker::new(&engine.engine),
            engine: engine.engine.clone(),
        });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_linker_delete(linker: *mut kiln_linker_t) {
    // SAFETY: NULL or a handle from this API.
    unsafe { free(linker) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_linker_define(
    linker: *mut kiln_linker_t,
    module: *const c_char,
    name: *const c_char,
    item: *const kiln_extern_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY (all): pointers per the contract.
        let l = unsafe { handle_mut(linker, "linker") }?;
        let module = unsafe { str_arg(module, "module") }?;
        let name = unsafe { str_arg(name, "name") }?;
        let item = unsafe { handle(item, "item") }?;
        l.linker.define(module, name, item.item.clone());
        Ok(())
    })
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
    wrap(|| {
        // SAFETY: NULL or a live linker handle.
        let engine = unsafe { linker.as_ref() }.map(|l| &l.engine);
        // SAFETY: pointers per the contract.
        let func = unsafe {
            host_func(
                engine, params, nparams, results, nresults, callback, env, finalizer,
            )
        }?;
        // SAFETY (all): pointers per the contract.
        let l = unsafe { handle_mut(linker, "linker") }?;
        let module = unsafe { str_arg(module, "module") }?;
        let name = unsafe { str_arg(name, "name") }?;
        l.linker.define(module, name, Extern::Func(func));
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_linker_define_instance(
    linker: *mut kiln_linker_t,
    module: *const c_char,
    instance: *const kiln_instance_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY (all): pointers per the contract.
        let l = unsafe { handle_mut(linker, "linker") }?;
        let module = unsafe { str_arg(module, "module") }?;
        let inst = unsafe { handle(instance, "instance") }?;
        l.linker.instance(module, &inst.instance);
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_linker_instantiate(
    linker: *const kiln_linker_t,
    module: *const kiln_module_t,
    out: *mut *mut kiln_instance_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY (all): pointers per the contract.
        let out = unsafe { out_arg(out, "out") }?;
        let l = unsafe { handle(linker, "linker") }?;
        let m = unsafe { handle(module, "module") }?;
        let instance = l.linker.instantiate(&m.module)?;
        *out = boxed(kiln_instance_t { instance });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_instance_new(
    module: *const kiln_module_t,
    imports: *const *const kiln_extern_t,
    nimports: usize,
    out: *mut *mut kiln_instance_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY (all): pointers and lengths per the contract.
        let out = unsafe { out_arg(out, "out") }?;
        let m = unsafe { handle(module, "module") }?;
        let ptrs = unsafe { slice_arg(imports, nimports, "imports") }?;
        let items = ptrs
            .iter()
            // SAFETY: each entry is NULL or a live extern.
            .map(|p| unsafe { handle(*p, "import") }.map(|e| e.item.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let instance = Instance::new(&m.module, &items)?;
        *out = boxed(kiln_instance_t { instance });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_instance_delete(instance: *mut kiln_instance_t) {
    // SAFETY: NULL or a handle from this API.
    unsafe { free(instance) }
}

/// Looks up an export of an instance handle.
///
/// # Safety
/// Pointers per the contract.
unsafe fn export(instance: *const kiln_instance_t, name: *const c_char) -> Result<Extern, Error> {
    // SAFETY (both): pointers per the contract.
    let inst = unsafe { handle(instance, "instance") }?;
    let name = unsafe { str_arg(name, "name") }?;
    inst.instance
        .get_export(name)
        .ok_or_else(|| Error::Other(format!("unknown export `{name}`")))
}

/// Implements the typed `kiln_instance_get_*` functions.
///
/// # Safety
/// Pointers per the contract.
unsafe fn get_typed<T>(
    instance: *const kiln_instance_t,
    name: *const c_char,
    out: *mut *mut T,
    what: &str,
    pick: impl FnOnce(Extern) -> Option<T>,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY (both): pointers per the contract.
        let out = unsafe { out_arg(out, "out") }?;
        let e = unsafe { export(instance, name) }?;
        let v = pick(e).ok_or_else(|| Error::Other(format!("export is not a {what}")))?;
        *out = boxed(v);
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_instance_get_export(
    instance: *const kiln_instance_t,
    name: *const c_char,
    out: *mut *mut kiln_extern_t,
) -> *mut kiln_error_t {
    // SAFETY: pointers per the contract.
    unsafe {
        get_typed(instance, name, out, "item", |item| {
            Some(kiln_extern_t { item })
        })
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_instance_get_func(
    instance: *const kiln_instance_t,
    name: *const c_char,
    out: *mut *mut kiln_func_t,
) -> *mut kiln_error_t {
    // SAFETY: pointers per the contract.
    unsafe {
        get_typed(instance, name, out, "function", |e| match e {
            Extern::Func(func) => Some(kiln_func_t { func }),
            _ => None,
        })
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_instance_get_memory(
    instance: *const kiln_instance_t,
    name: *const c_char,
    out: *mut *mut kiln_memory_t,
) -> *mut kiln_error_t {
    // SAFETY: pointers per the contract.
    unsafe {
        get_typed(instance, name, out, "memory", |e| match e {
            Extern::Memory(memory) => Some(kiln_memory_t { memory }),
            _ => None,
        })
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_instance_get_global(
    instance: *const kiln_instance_t,
    name: *const c_char,
    out: *mut *mut kiln_global_t,
) -> *mut kiln_error_t {
    // SAFETY: pointers per the contract.
    unsafe {
        get_typed(instance, name, out, "global", |e| match e {
            Extern::Global(global) => Some(kiln_global_t { global }),
            _ => None,
        })
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_instance_get_table(
    instance: *const kiln_instance_t,
    name: *const c_char,
    out: *mut *mut kiln_table_t,
) -> *mut kiln_error_t {
    // SAFETY: pointers per the contract.
    unsafe {
        get_typed(instance, name, out, "table", |e| match e {
            Extern::Table(table) => Some(kiln_table_t { table }),
            _ => None,
        })
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_instance_set_epoch_deadline(
    instance: *const kiln_instance_t,
    ticks: u64,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: NULL or a live handle.
        let inst = unsafe { handle(instance, "instance") }?;
        inst.instance.set_epoch_deadline(ticks);
        Ok(())
    })
}

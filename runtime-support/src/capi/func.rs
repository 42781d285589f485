//! C API: functions (`kiln_func_t`) and calls, linkers (`kiln_linker_t`) and instances
//! (`kiln_instance_t`). Host functions backed by C callbacks are in `host.rs`.

use super::engine::{kiln_engine_t, kiln_module_t};
use super::items::{kiln_extern_t, kiln_global_t, kiln_memory_t, kiln_table_t};
use super::val::{self, kiln_val_t};
use super::*;
use crate::engine::Engine;
use crate::func::Func;
use crate::instance::Instance;
use crate::linker::Linker;
use crate::Extern;

/// `kiln_func_t`: a function handle.
pub struct kiln_func_t {
    pub(super) func: Func,
}

/// `kiln_linker_t`: a linker handle.
pub struct kiln_linker_t {
    pub(super) linker: Linker,
    pub(super) engine: Engine,
}

/// `kiln_instance_t`: an instance handle.
pub struct kiln_instance_t {
    pub(super) instance: Instance,
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
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let f = unsafe { handle(func, "func") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
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
pub unsafe extern "C" fn kiln_func_call_raw(
    func: *const kiln_func_t,
    values: *mut crate::vm::ValRaw,
    nvalues: usize,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let f = unsafe { handle(func, "func") }?;
        if nvalues == 0 {
            return f.func.call_raw(&mut []);
        }
        if values.is_null() {
            return Err(null("values"));
        }
        // SAFETY: `values` has `nvalues` writable slots (caller contract), non-NULL.
        let slots = unsafe { std::slice::from_raw_parts_mut(values, nvalues) };
        f.func.call_raw(slots)
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_linker_new(
    engine: *const kiln_engine_t,
    out: *mut *mut kiln_linker_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
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
pub unsafe extern "C" fn kiln_linker_set_epoch_deadline(
    linker: *mut kiln_linker_t,
    ticks: u64,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let l = unsafe { handle_mut(linker, "linker") }?;
        l.linker.set_epoch_deadline(ticks);
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_linker_set_limits(
    linker: *mut kiln_linker_t,
    memory_bytes: u64,
    table_elements: u64,
    instances: u64,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let l = unsafe { handle_mut(linker, "linker") }?;
        let some = |v: u64| (v != 0).then_some(v);
        l.linker
            .set_limiter(std::sync::Arc::new(crate::StoreLimits {
                memory_size: some(memory_bytes),
                table_elements: some(table_elements),
                instances: some(instances).map_or(usize::MAX, |n| n as usize),
                ..Default::default()
            }));
        Ok(())
    })
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
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let l = unsafe { handle_mut(linker, "linker") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let module = unsafe { str_arg(module, "module") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let item = unsafe { handle(item, "item") }?;
        l.linker.define(module, name, item.item.clone());
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
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let l = unsafe { handle_mut(linker, "linker") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let module = unsafe { str_arg(module, "module") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
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
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let l = unsafe { handle(linker, "linker") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
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
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let m = unsafe { handle(module, "module") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
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
    // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
    let inst = unsafe { handle(instance, "instance") }?;
    // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
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
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
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

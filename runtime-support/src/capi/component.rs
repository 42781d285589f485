//! C API: components (`kiln_component_t`), the component linker, instances and exported
//! component functions, called with dynamic values (`kiln_cval_t`) or raw, with the host C
//! representation passed straight to the compiled glue (`kiln_component_func_call_raw`).
//!
//! Wraps `crate::component` (`Component`, `ComponentLinker`, `ComponentInstance`); host
//! callbacks are in `component_host.rs`, values in `component_val.rs`.

use super::component_host::{
    kiln_component_callback_t, kiln_component_raw_callback_t, Callback, ComponentHostEnv,
};
use super::component_val::{cval_to_val, kiln_cval_t, val_to_cval};
use super::engine::kiln_engine_t;
use super::host::kiln_finalizer_t;
use super::*;
use crate::component::{
    Component, ComponentFunc, ComponentInstance, ComponentLinker, ItemType, RawReturn, Val,
};
use crate::engine::Engine;
use kiln_environ::component::wit::func_to_wit;
use kiln_environ::component::ComponentFuncType;
use std::ffi::c_void;
use std::sync::{Arc, Mutex};

/// `kiln_component_t`: a loaded component and its WIT world text.
pub struct kiln_component_t {
    pub(super) component: Component,
    world: CString,
    /// Exported function names (`f`, `iface#f`), made on first use.
    exports: std::sync::OnceLock<Vec<CString>>,
}

impl kiln_component_t {
    /// The exported function names, in export order.
    pub(super) fn export_names(&self) -> &[CString] {
        self.exports.get_or_init(|| {
            let mut v = Vec::new();
            super::component_types::export_func_names(self.component.exports(), "", &mut v);
            v
        })
    }
}

/// `kiln_component_linker_t`: host definitions by WIT name.
pub struct kiln_component_linker_t {
    engine: Engine,
    defs: Vec<(String, Arc<ComponentHostEnv>)>,
    wasi: Option<Arc<crate::wasi::WasiConfig>>,
    /// `kiln_component_linker_set_epoch_deadline`.
    epoch_deadline: Option<u64>,
    /// `kiln_component_linker_set_limits`.
    limits: Option<Arc<crate::StoreLimits>>,
}

impl kiln_component_linker_t {
    /// Adds WASI 0.2 with `config` to the instances this linker makes (`wasi.rs`).
    pub(super) fn set_wasi(&mut self, config: Arc<crate::wasi::WasiConfig>) {
        self.wasi = Some(config);
    }
}

/// `kiln_component_instance_t`: an instantiated component.
pub struct kiln_component_instance_t {
    instance: ComponentInstance,
}

impl kiln_component_instance_t {
    /// A handle of `instance`.
    pub(super) fn new(instance: ComponentInstance) -> Self {
        kiln_component_instance_t { instance }
    }

    /// The instance.
    pub(super) fn instance(&self) -> &ComponentInstance {
        &self.instance
    }
}

/// `kiln_component_func_t`: an exported component function, its WIT type text and the pending
/// post-returns of its raw calls.
pub struct kiln_component_func_t {
    pub(super) instance: ComponentInstance,
    pub(super) func: ComponentFunc,
    wit: CString,
    pending: Mutex<Vec<RawReturn>>,
    /// Parameter and result type trees (`component_types.rs`).
    types: super::component_types::FuncTypes,
}

impl kiln_component_func_t {
    /// The function's parameter and result type trees.
    pub(super) fn types(&self) -> &super::component_types::FuncTypes {
        &self.types
    }
}

impl Drop for kiln_component_func_t {
    fn drop(&mut self) {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for r in pending.into_iter().rev() {
            let _ = self.instance.post_return_raw(&self.func, r);
        }
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_load(
    engine: *const kiln_engine_t,
    path: *const c_char,
    out: *mut *mut kiln_component_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract (all three).
        let out = unsafe { out_arg(out, "out") }?;
        let engine = unsafe { handle(engine, "engine") }?;
        let path = unsafe { str_arg(path, "path") }?;
        let component = Component::load(&engine.engine, std::path::Path::new(path))?;
        let world = c_string(&component.metadata().wit_world());
        *out = boxed(kiln_component_t {
            component,
            world,
            exports: Default::default(),
        });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_delete(component: *mut kiln_component_t) {
    // SAFETY: caller contract.
    unsafe { free(component) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_world(component: *const kiln_component_t) -> *const c_char {
    // SAFETY: caller contract.
    match unsafe { component.as_ref() } {
        Some(c) => c.world.as_ptr(),
        None => std::ptr::null(),
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_linker_new(
    engine: *const kiln_engine_t,
    out: *mut *mut kiln_component_linker_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: caller contract.
        let engine = unsafe { handle(engine, "engine") }?;
        *out = boxed(kiln_component_linker_t {
            engine: engine.engine.clone(),
            defs: Vec::new(),
            wasi: None,
            epoch_deadline: None,
            limits: None,
        });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_linker_delete(linker: *mut kiln_component_linker_t) {
    // SAFETY: caller contract.
    unsafe { free(linker) }
}

/// Records a definition (replacing an earlier one of the same name).
///
/// # Safety
/// Pointers per the `kiln.h` contract.
unsafe fn define(
    linker: *mut kiln_component_linker_t,
    name: String,
    callback: Callback,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
) -> Result<(), Error> {
    // The environment is owned (and finalized on failure) from here on.
    let host = ComponentHostEnv::new(callback, env, finalizer)?;
    // SAFETY: caller contract.
    let linker = unsafe { handle_mut(linker, "linker") }?;
    linker.defs.retain(|(n, _)| *n != name);
    linker.defs.push((name, host));
    Ok(())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_linker_define_func(
    linker: *mut kiln_component_linker_t,
    name: *const c_char,
    callback: kiln_component_callback_t,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let name = match unsafe { str_arg(name, "name") } {
            Ok(n) => n.to_string(),
            Err(e) => {
                drop(ComponentHostEnv::new(
                    Callback::Dynamic(None),
                    env,
                    finalizer,
                ));
                return Err(e);
            }
        };
        // SAFETY: caller contract.
        unsafe { define(linker, name, Callback::Dynamic(callback), env, finalizer) }
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_linker_define_interface_func(
    linker: *mut kiln_component_linker_t,
    interface: *const c_char,
    name: *const c_char,
    callback: kiln_component_callback_t,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let path = match unsafe { (str_arg(interface, "interface"), str_arg(name, "name")) } {
            (Ok(i), Ok(n)) => format!("{i}#{n}"),
            (Err(e), _) | (_, Err(e)) => {
                drop(ComponentHostEnv::new(
                    Callback::Dynamic(None),
                    env,
                    finalizer,
                ));
                return Err(e);
            }
        };
        // SAFETY: caller contract.
        unsafe { define(linker, path, Callback::Dynamic(callback), env, finalizer) }
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_linker_define_func_raw(
    linker: *mut kiln_component_linker_t,
    name: *const c_char,
    callback: kiln_component_raw_callback_t,
    env: *mut c_void,
    finalizer: kiln_finalizer_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let name = match unsafe { str_arg(name, "name") } {
            Ok(n) => n.to_string(),
            Err(e) => {
                drop(ComponentHostEnv::new(Callback::Raw(None), env, finalizer));
                return Err(e);
            }
        };
        // SAFETY: caller contract.
        unsafe { define(linker, name, Callback::Raw(callback), env, finalizer) }
    })
}

impl kiln_component_linker_t {
    /// The Rust linker with this handle's definitions, for `component` (the raw and dynamic
    /// callbacks wrapped with the function types the component imports them with).
    pub(super) fn rust_linker(&self, component: &Component) -> ComponentLinker {
        let mut l = ComponentLinker::new(&self.engine);
        if let Some(ticks) = self.epoch_deadline {
            l.set_epoch_deadline(ticks);
        }
        if let Some(limits) = &self.limits {
            l.set_limiter(limits.clone());
        }
        if let Some(w) = &self.wasi {
            crate::wasi::add_to_linker_shared(&mut l, w.clone());
        }
        for (path, host) in &self.defs {
            let Some(ty) = import_func_type(component, path) else {
                continue;
            };
            let host = host.clone();
            if host.is_raw() {
                l.func_raw(path, move |cx, args, out| host.call_in_place(cx, args, out));
            } else {
                l.func_cx(path, move |cx, args| host.call(cx, &ty, args));
            }
        }
        l
    }
}

/// The function type of import `path` (`name` or `iface#name`) of `component`, if it has one.
fn import_func_type(component: &Component, path: &str) -> Option<ComponentFuncType> {
    let mut parts = path.split('#');
    let first = parts.next()?;
    let mut ty = &component.imports().iter().find(|i| i.name == first)?.ty;
    for p in parts {
        ty = match ty {
            ItemType::Instance(items) => &items.iter().find(|(n, _)| n == p)?.1,
            _ => return None,
        };
    }
    match ty {
        ItemType::Func(f) => Some(f.clone()),
        _ => None,
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_linker_instantiate(
    linker: *const kiln_component_linker_t,
    component: *const kiln_component_t,
    out: *mut *mut kiln_component_instance_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract (all three).
        let out = unsafe { out_arg(out, "out") }?;
        let linker = unsafe { handle(linker, "linker") }?;
        let component = &unsafe { handle(component, "component") }?.component;
        let instance = linker.rust_linker(component).instantiate(component)?;
        *out = boxed(kiln_component_instance_t { instance });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_linker_set_epoch_deadline(
    linker: *mut kiln_component_linker_t,
    ticks: u64,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let l = unsafe { handle_mut(linker, "linker") }?;
        l.epoch_deadline = Some(ticks);
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_linker_set_limits(
    linker: *mut kiln_component_linker_t,
    memory_bytes: u64,
    table_elements: u64,
    instances: u64,
    host_value_bytes: u64,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let l = unsafe { handle_mut(linker, "linker") }?;
        let some = |v: u64| (v != 0).then_some(v);
        l.limits = Some(Arc::new(crate::StoreLimits {
            memory_size: some(memory_bytes),
            table_elements: some(table_elements),
            instances: some(instances).map_or(usize::MAX, |n| n as usize),
            host_value_bytes: some(host_value_bytes)
                .map_or(crate::DEFAULT_HOST_VALUE_BYTES, |n| n as usize),
        }));
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_instance_set_epoch_deadline(
    instance: *const kiln_component_instance_t,
    ticks: u64,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let i = unsafe { handle(instance, "instance") }?;
        i.instance.set_epoch_deadline(ticks);
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_instance_delete(instance: *mut kiln_component_instance_t) {
    // SAFETY: caller contract.
    unsafe { free(instance) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_instance_is_poisoned(
    instance: *const kiln_component_instance_t,
) -> bool {
    // SAFETY: caller contract: NULL or a live instance handle.
    unsafe { instance.as_ref() }.is_some_and(|i| i.instance.is_poisoned())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_instance_get_func(
    instance: *const kiln_component_instance_t,
    name: *const c_char,
    out: *mut *mut kiln_component_func_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract (all three).
        let out = unsafe { out_arg(out, "out") }?;
        let instance = &unsafe { handle(instance, "instance") }?.instance;
        let name = unsafe { str_arg(name, "name") }?;
        let func = instance
            .get_func(name)
            .ok_or_else(|| Error::Other(format!("no exported function `{name}`")))?;
        let wit = c_string(&func_to_wit(func.ty(), instance.component().metadata()));
        let types = super::component_types::FuncTypes::of(func.ty());
        *out = boxed(kiln_component_func_t {
            instance: instance.clone(),
            func,
            wit,
            pending: Mutex::new(Vec::new()),
            types,
        });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_func_delete(func: *mut kiln_component_func_t) {
    // SAFETY: caller contract.
    unsafe { free(func) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_func_type(
    func: *const kiln_component_func_t,
) -> *const c_char {
    // SAFETY: caller contract.
    match unsafe { func.as_ref() } {
        Some(f) => f.wit.as_ptr(),
        None => std::ptr::null(),
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_func_param_count(
    func: *const kiln_component_func_t,
) -> usize {
    // SAFETY: caller contract.
    unsafe { func.as_ref() }.map_or(0, |f| f.func.ty().params.len())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_func_has_result(
    func: *const kiln_component_func_t,
) -> bool {
    // SAFETY: caller contract.
    unsafe { func.as_ref() }.is_some_and(|f| f.func.ty().result.is_some())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_func_call(
    func: *const kiln_component_func_t,
    args: *const kiln_cval_t,
    nargs: usize,
    result: *mut kiln_cval_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let f = unsafe { handle(func, "func") }?;
        // SAFETY: caller contract.
        let vals = unsafe { call_args(f, args, nargs, result) }?;
        let out = f.instance.call_func(&f.func, &vals)?;
        // SAFETY: caller contract.
        unsafe { put_result(f, out, result) }
    })
}

/// Checks and converts the arguments of a dynamic call of `f` (and zeroes `*result`).
///
/// # Safety
/// `args` points at `nargs` valid values (or is NULL with `nargs == 0`); `result` is NULL or
/// writable.
pub(super) unsafe fn call_args(
    f: &kiln_component_func_t,
    args: *const kiln_cval_t,
    nargs: usize,
    result: *mut kiln_cval_t,
) -> Result<Vec<Val>, Error> {
    // SAFETY: caller contract.
    if let Some(r) = unsafe { result.as_mut() } {
        *r = super::component_val::cval_zero();
    }
    let ty = f.func.ty();
    if nargs != ty.params.len() {
        return Err(Error::Other(format!(
            "expected {} arguments, got {nargs}",
            ty.params.len()
        )));
    }
    // SAFETY: caller contract: `nargs` values.
    let args = unsafe { slice_arg(args, nargs, "args") }?;
    let mut vals = Vec::with_capacity(nargs);
    for (i, ((name, t), a)) in ty.params.iter().zip(args).enumerate() {
        // SAFETY: borrowed values valid per the contract.
        let v = unsafe { cval_to_val(t, a) }
            .map_err(|e| Error::Other(format!("argument {i} (`{name}`): {e}")))?;
        vals.push(v);
    }
    Ok(vals)
}

/// Writes the result `out` of a call of `f` to `*result` (NULL: discarded).
///
/// # Safety
/// `result` is NULL or writable.
pub(super) unsafe fn put_result(
    f: &kiln_component_func_t,
    out: Option<Val>,
    result: *mut kiln_cval_t,
) -> Result<(), Error> {
    let ty = f.func.ty();
    // SAFETY: caller contract: NULL or writable.
    if let (Some(r), Some(t), Some(v)) = (unsafe { result.as_mut() }, &ty.result, out) {
        *r = val_to_cval(t, &v)?;
    }
    Ok(())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_func_call_raw(
    func: *const kiln_component_func_t,
    args: *const c_void,
    results: *mut c_void,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let f = unsafe { handle(func, "func") }?;
        // SAFETY: caller contract.
        let ret = unsafe { start_raw_call(f, args, results) }?;
        f.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ret);
        Ok(())
    })
}

/// The checks and the call of a raw call (`kiln_component_func_call_raw*`).
///
/// # Safety
/// `args` and `results` as `kiln.h` says for `kiln_component_func_call_raw`.
unsafe fn start_raw_call(
    f: &kiln_component_func_t,
    args: *const c_void,
    results: *mut c_void,
) -> Result<RawReturn, Error> {
    let ty = f.func.ty();
    if args.is_null() && !ty.params.is_empty() {
        return Err(null("args"));
    }
    if results.is_null() && ty.result.is_some() {
        return Err(null("results"));
    }
    // SAFETY: caller contract: host C structs laid out for the function's type. Mistakes in
    // the arguments are errors before the guest is entered (the instance stays usable).
    unsafe { f.func.check_host_args(args.cast()) }?;
    // SAFETY: as above, and the arguments passed the checks.
    unsafe { f.instance.call_raw(&f.func, args.cast(), results.cast()) }
}

/// `kiln_component_call_t`: one raw call whose post-return is pending.
pub struct kiln_component_call_t {
    instance: ComponentInstance,
    func: ComponentFunc,
    ret: Option<RawReturn>,
}

impl Drop for kiln_component_call_t {
    fn drop(&mut self) {
        if let Some(r) = self.ret.take() {
            if r.on_this_thread() {
                let _ = self.instance.post_return_raw(&self.func, r);
            }
        }
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_func_call_raw_begin(
    func: *const kiln_component_func_t,
    args: *const c_void,
    results: *mut c_void,
    call: *mut *mut kiln_component_call_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let out = unsafe { out_arg(call, "call") }?;
        // SAFETY: caller contract.
        let f = unsafe { handle(func, "func") }?;
        // SAFETY: caller contract.
        let ret = unsafe { start_raw_call(f, args, results) }?;
        *out = boxed(kiln_component_call_t {
            instance: f.instance.clone(),
            func: f.func.clone(),
            ret: Some(ret),
        });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_call_post_return(
    call: *mut kiln_component_call_t,
) -> *mut kiln_error_t {
    wrap(|| {
        if call.is_null() {
            return Err(null("call"));
        }
        // SAFETY: caller contract: a call handle from this API, given up here.
        let mut c = unsafe { Box::from_raw(call) };
        let ret = c
            .ret
            .take()
            .expect("a call handle holds its pending post-return");
        if !ret.on_this_thread() {
            // Left as it was: the post-return belongs to the calling thread.
            c.ret = Some(ret);
            let _ = Box::into_raw(c);
            return Err(Error::Other(
                "the post-return of a raw call must run on the thread that made the call".into(),
            ));
        }
        c.instance.post_return_raw(&c.func, ret)
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_func_post_return(
    func: *const kiln_component_func_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let f = unsafe { handle(func, "func") }?;
        let mut pending = f.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.last().is_some_and(|r| !r.on_this_thread()) {
            return Err(Error::Other(
                "the post-return of a raw call must run on the thread that made the call".into(),
            ));
        }
        let ret = pending.pop().ok_or_else(|| {
            Error::Other("no raw call of this function awaits its post-return".into())
        })?;
        drop(pending);
        f.instance.post_return_raw(&f.func, ret)
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_instance_resource_type(
    instance: *const kiln_component_instance_t,
    name: *const c_char,
    out: *mut u32,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract (all three).
        let instance = &unsafe { handle(instance, "instance") }?.instance;
        let name = unsafe { str_arg(name, "name") }?;
        let out = unsafe { out.as_mut() }.ok_or_else(|| null("out"))?;
        *out = instance
            .resource_type(name)
            .ok_or_else(|| Error::Other(format!("no resource type `{name}`")))?;
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_instance_resource_new(
    instance: *const kiln_component_instance_t,
    resource: u32,
    rep: u32,
    out: *mut u32,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let instance = &unsafe { handle(instance, "instance") }?.instance;
        // SAFETY: caller contract.
        let out = unsafe { out.as_mut() }.ok_or_else(|| null("out"))?;
        *out = instance.resource_new(resource, rep)?;
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_instance_resource_rep(
    instance: *const kiln_component_instance_t,
    resource: u32,
    handle_index: u32,
    out: *mut u32,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let instance = &unsafe { handle(instance, "instance") }?.instance;
        // SAFETY: caller contract.
        let out = unsafe { out.as_mut() }.ok_or_else(|| null("out"))?;
        *out = instance.resource_rep(resource, handle_index)?;
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_instance_resource_drop(
    instance: *const kiln_component_instance_t,
    resource: u32,
    handle_index: u32,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let instance = &unsafe { handle(instance, "instance") }?.instance;
        instance.resource_drop(resource, handle_index)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr::{null, null_mut};

    unsafe extern "C" fn count(env: *mut c_void) {
        // SAFETY: `env` is the counter the test passes.
        unsafe { *env.cast::<u32>() += 1 };
    }

    fn is_err(e: *mut kiln_error_t) -> bool {
        let failed = !e.is_null();
        // SAFETY: NULL or an error from the API.
        unsafe { error::kiln_error_delete(e) };
        failed
    }

    #[test]
    fn null_arguments_are_errors() {
        let mut finalized = 0u32;
        let env = (&mut finalized as *mut u32).cast::<c_void>();
        // SAFETY: NULL pointers are part of the contract; out-parameters point at locals.
        unsafe {
            let mut c = null_mut();
            assert!(is_err(kiln_component_load(
                null(),
                c"x.so".as_ptr(),
                &mut c
            )));
            assert!(c.is_null());
            assert!(is_err(kiln_component_load(null(), null(), null_mut())));
            assert!(kiln_component_world(null()).is_null());
            let mut l = null_mut();
            assert!(is_err(kiln_component_linker_new(null(), &mut l)));
            assert!(is_err(kiln_component_linker_instantiate(
                null(),
                null(),
                null_mut()
            )));
            assert!(is_err(kiln_component_instance_get_func(
                null(),
                null(),
                null_mut()
            )));
            assert!(is_err(kiln_component_func_call(
                null(),
                null(),
                0,
                null_mut()
            )));
            assert!(is_err(kiln_component_func_call_raw(
                null(),
                null(),
                null_mut()
            )));
            assert!(is_err(kiln_component_func_post_return(null())));
            assert!(kiln_component_func_type(null()).is_null());
            assert_eq!(kiln_component_func_param_count(null()), 0);
            assert!(!kiln_component_func_has_result(null()));
            let mut r = 0u32;
            assert!(is_err(kiln_component_instance_resource_type(
                null(),
                c"t".as_ptr(),
                &mut r
            )));
            assert!(is_err(kiln_component_instance_resource_new(
                null(),
                0,
                1,
                &mut r
            )));
            assert!(is_err(kiln_component_instance_resource_rep(
                null(),
                0,
                1,
                &mut r
            )));
            assert!(is_err(kiln_component_instance_resource_drop(null(), 0, 1)));
            // A failed definition still finalizes its environment.
            let cb: kiln_component_callback_t = None;
            let e =
                kiln_component_linker_define_func(null_mut(), c"f".as_ptr(), cb, env, Some(count));
            assert!(is_err(e));
            assert_eq!(finalized, 1);
            let engine = super::super::engine::kiln_engine_new(null());
            assert!(!is_err(kiln_component_linker_new(engine, &mut l)));
            let e = kiln_component_linker_define_func_raw(l, null(), None, env, Some(count));
            assert!(is_err(e));
            assert_eq!(finalized, 2);
            let e = kiln_component_linker_define_interface_func(
                l,
                c"a:b/c".as_ptr(),
                null(),
                None,
                env,
                Some(count),
            );
            assert!(is_err(e));
            assert_eq!(finalized, 3);
            kiln_component_linker_delete(l);
            kiln_component_delete(null_mut());
            kiln_component_instance_delete(null_mut());
            kiln_component_func_delete(null_mut());
            super::super::engine::kiln_engine_delete(engine);
            // Host memory exists only inside a raw host callback.
            assert!(super::super::component_host::kiln_component_host_alloc(8).is_null());
        }
    }
}

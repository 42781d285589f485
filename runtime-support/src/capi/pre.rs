//! Pre-instantiation in the C API: `kiln_instance_pre_t` (a module with its imports resolved by
//! a linker) and `kiln_component_pre_t` (a component checked against a component linker), each
//! instantiated any number of times without looking the imports up again.

use super::component::{kiln_component_instance_t, kiln_component_linker_t, kiln_component_t};
use super::engine::kiln_module_t;
use super::func::{kiln_instance_t, kiln_linker_t};
use super::*;
use crate::{ComponentPre, InstancePre};

/// `kiln_instance_pre_t`: a module ready to instantiate.
pub struct kiln_instance_pre_t {
    pre: InstancePre,
}

/// `kiln_component_pre_t`: a component ready to instantiate.
pub struct kiln_component_pre_t {
    pre: ComponentPre,
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_linker_instantiate_pre(
    linker: *const kiln_linker_t,
    module: *const kiln_module_t,
    out: *mut *mut kiln_instance_pre_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let l = unsafe { handle(linker, "linker") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let m = unsafe { handle(module, "module") }?;
        let pre = l.linker.instantiate_pre(&m.module)?;
        *out = boxed(kiln_instance_pre_t { pre });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_instance_pre_instantiate(
    pre: *const kiln_instance_pre_t,
    out: *mut *mut kiln_instance_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let pre = unsafe { handle(pre, "pre") }?;
        let instance = pre.pre.instantiate()?;
        *out = boxed(kiln_instance_t { instance });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_instance_pre_delete(pre: *mut kiln_instance_pre_t) {
    // SAFETY: NULL or a handle from this API.
    unsafe { free(pre) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_linker_instantiate_pre(
    linker: *const kiln_component_linker_t,
    component: *const kiln_component_t,
    out: *mut *mut kiln_component_pre_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let linker = unsafe { handle(linker, "linker") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let component = &unsafe { handle(component, "component") }?.component;
        let pre = linker.rust_linker(component).instantiate_pre(component)?;
        *out = boxed(kiln_component_pre_t { pre });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_pre_instantiate(
    pre: *const kiln_component_pre_t,
    out: *mut *mut kiln_component_instance_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let pre = unsafe { handle(pre, "pre") }?;
        let instance = pre.pre.instantiate()?;
        *out = boxed(kiln_component_instance_t::new(instance));
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_pre_delete(pre: *mut kiln_component_pre_t) {
    // SAFETY: NULL or a handle from this API.
    unsafe { free(pre) }
}

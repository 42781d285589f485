//! The C API (`include/kiln.h`): `extern "C"` wrappers over the Rust API, one to one.
//!
//! This is the host-facing edge of the runtime for C programs: the cdylib/staticlib export
//! these functions. Every handle is a `Box` of a Rust handle (which is itself reference
//! counted); every fallible function returns a `*mut kiln_error_t` (NULL on success). No
//! function unwinds into C: bodies run inside [`catch`], which turns panics into errors, and
//! NULL pointers from C are reported as errors by the checked accessors below.
//!
//! Submodules: `error` (errors and traps), `val` (`kiln_val_t`), `engine` (engines, modules),
//! `func` (functions, linkers, instances), `host` (host functions backed by C callbacks, the
//! caller handle), `items` (externs, memories, globals, tables); for components: `component`
//! (components, component linker, instances, calls), `component_host` (imports implemented
//! in C), `component_val` (`kiln_cval_t`), `wasi` (WASI 0.2 configuration and commands);
//! `trust` (trusted keys, signing and verifying artifacts).
//!
//! Safety contract for callers (stated once here rather than on each function): every pointer
//! argument is NULL or valid for its documented use in `kiln.h`; handles are ones this API
//! returned and that were not deleted; arrays have the stated lengths.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)] // the contract is documented above and in kiln.h

use crate::error::Error;
use std::ffi::{c_char, CStr, CString};
use std::panic::AssertUnwindSafe;

mod component;
mod component_async;
mod component_host;
mod component_types;
mod component_val;
mod engine;
mod error;
mod func;
mod host;
mod items;
mod pre;
mod trust;
mod val;
mod wasi;

pub use component::{
    kiln_component_func_t, kiln_component_instance_t, kiln_component_linker_t, kiln_component_t,
};
pub use component_host::{kiln_component_callback_t, kiln_component_raw_callback_t};
pub use component_types::kiln_ctype_t;
pub use component_val::{kiln_cval_kind_t, kiln_cval_t, kiln_cval_union};
pub use engine::{
    kiln_engine_config_t, kiln_engine_t, kiln_export_t, kiln_import_t, kiln_module_t,
};
pub use error::{kiln_error_t, kiln_frame_t, kiln_trap_t};
pub use func::{kiln_func_t, kiln_instance_t, kiln_linker_t};
pub use host::{
    kiln_caller_t, kiln_finalizer_t, kiln_host_callback_t, kiln_host_callback_with_caller_t,
};
pub use items::{
    kiln_extern_t, kiln_global_t, kiln_memory_t, kiln_memorytype_t, kiln_table_t, kiln_tabletype_t,
};
pub use pre::{kiln_component_pre_t, kiln_instance_pre_t};
pub use trust::kiln_trusted_keys_t;
pub use val::{kiln_val_t, kiln_val_union};
pub use wasi::{kiln_wasi_buffer_t, kiln_wasi_config_t};

/// The version of the C interface (`KILN_ABI_VERSION` in `kiln.h`, the SONAME's number):
/// bumped on every incompatible change to a declaration in `kiln.h`.
pub const KILN_ABI_VERSION: u32 = 0;

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub extern "C" fn kiln_abi_version() -> u32 {
    KILN_ABI_VERSION
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub extern "C" fn kiln_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("the package version has no NUL"),
        };
    VERSION.as_ptr()
}

/// `kiln_valkind_t`: a value type tag.
pub type kiln_valkind_t = u8;
/// `kiln_externkind_t`: the kind of an import, export or extern.
pub type kiln_externkind_t = u8;
/// `kiln_error_kind_t`: the kind of an error.
pub type kiln_error_kind_t = u8;
/// `kiln_trap_kind_t`: a `TrapKind` discriminant.
pub type kiln_trap_kind_t = u8;

/// `KILN_I32`
pub const KILN_I32: kiln_valkind_t = 0;
/// `KILN_I64`
pub const KILN_I64: kiln_valkind_t = 1;
/// `KILN_F32`
pub const KILN_F32: kiln_valkind_t = 2;
/// `KILN_F64`
pub const KILN_F64: kiln_valkind_t = 3;
/// `KILN_V128`
pub const KILN_V128: kiln_valkind_t = 4;
/// `KILN_FUNCREF`
pub const KILN_FUNCREF: kiln_valkind_t = 5;
/// `KILN_EXTERNREF`
pub const KILN_EXTERNREF: kiln_valkind_t = 6;
/// `exnref` (always null on the host side).
pub const KILN_EXNREF: kiln_valkind_t = 7;
/// `KILN_VALKIND_INVALID`
pub const KILN_VALKIND_INVALID: kiln_valkind_t = 0xFF;

/// `KILN_ERROR_LOAD`
pub const KILN_ERROR_LOAD: kiln_error_kind_t = 0;
/// `KILN_ERROR_LINK`
pub const KILN_ERROR_LINK: kiln_error_kind_t = 1;
/// `KILN_ERROR_TRAP`
pub const KILN_ERROR_TRAP: kiln_error_kind_t = 2;
/// `KILN_ERROR_OTHER`
pub const KILN_ERROR_OTHER: kiln_error_kind_t = 3;
/// `KILN_ERROR_BUSY`
pub const KILN_ERROR_BUSY: kiln_error_kind_t = 4;

/// Runs `f`, turning a panic into an error.
fn catch<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::Other(format!("internal error in kiln: {msg}")))
        }
    }
}

/// Runs a fallible body for a function returning `kiln_error_t*`.
fn wrap(f: impl FnOnce() -> Result<(), Error>) -> *mut kiln_error_t {
    match catch(f) {
        Ok(()) => std::ptr::null_mut(),
        Err(e) => error::boxed(e),
    }
}

/// Runs an accessor body, giving `default` on panic.
fn get_or<T>(default: T, f: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

/// The error for a NULL argument.
fn null(what: &str) -> Error {
    Error::Other(format!("{what} is NULL"))
}

/// Borrows a handle, or an error if it is NULL.
///
/// # Safety
/// `p` is NULL or points at a live `T`.
unsafe fn handle<'a, T>(p: *const T, what: &str) -> Result<&'a T, Error> {
    // SAFETY: caller contract.
    unsafe { p.as_ref() }.ok_or_else(|| null(what))
}

/// Borrows a handle mutably, or an error if it is NULL.
///
/// # Safety
/// `p` is NULL or points at a live `T` nothing else uses during the call.
unsafe fn handle_mut<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, Error> {
    // SAFETY: caller contract.
    unsafe { p.as_mut() }.ok_or_else(|| null(what))
}

/// Reads a C string argument as UTF-8.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: caller contract: non-null and NUL-terminated.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| Error::Other(format!("{what} is not valid UTF-8")))
}

/// Borrows a C array (`n == 0` allows NULL).
///
/// # Safety
/// `p` is NULL or points at `n` initialized `T`s.
unsafe fn slice_arg<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T], Error> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: caller contract.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// Checks an out-parameter and sets it to NULL.
///
/// # Safety
/// `p` is NULL or valid for writes.
unsafe fn out_arg<'a, T>(p: *mut *mut T, what: &str) -> Result<&'a mut *mut T, Error> {
    // SAFETY: caller contract.
    let out = unsafe { p.as_mut() }.ok_or_else(|| null(what))?;
    *out = std::ptr::null_mut();
    Ok(out)
}

/// Moves a value into a new handle.
fn boxed<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

/// Frees a handle made by [`boxed`] (NULL is a no-op).
///
/// # Safety
/// `p` is NULL or came from [`boxed`] and was not freed.
unsafe fn free<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: caller contract: `p` came from `Box::into_raw`.
        let b = unsafe { Box::from_raw(p) };
        // Dropping may run C finalizers, which must not unwind anyway; Rust drops do not panic.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(move || drop(b)));
    }
}

/// A C string from Rust text (NUL bytes become U+FFFD).
fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::engine::*;
    use super::error::*;
    use super::func::*;
    use super::host::*;
    use super::items::*;
    use super::val::*;
    use super::*;
    use crate::values::Val;
    use kiln_environ::TrapKind;
    use std::ptr::{null, null_mut};

    #[test]
    fn versions_match_the_header() {
        let header = include_str!("../include/kiln.h");
        let define = format!("#define KILN_ABI_VERSION {KILN_ABI_VERSION}\n");
        assert!(header.contains(&define), "kiln.h lacks `{define}`");
        assert_eq!(kiln_abi_version(), KILN_ABI_VERSION);
        // SAFETY: a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(kiln_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    /// The message of an error (then freed), or None for success.
    fn take(e: *mut kiln_error_t) -> Option<(kiln_error_kind_t, String)> {
        if e.is_null() {
            return None;
        }
        // SAFETY: a live error from the API; the message lives until the delete below.
        unsafe {
            let msg = CStr::from_ptr(kiln_error_message(e))
                .to_string_lossy()
                .into_owned();
            let kind = kiln_error_kind(e);
            kiln_error_delete(e);
            Some((kind, msg))
        }
    }

    #[test]
    fn null_arguments_are_errors() {
        // SAFETY: NULL pointers are part of the contract; out-parameters point at locals.
        unsafe {
            let mut m = null_mut();
            let e = take(kiln_module_load(null(), c"x.so".as_ptr(), &mut m));
            assert_eq!(e, Some((KILN_ERROR_OTHER, "engine is NULL".into())));
            assert!(m.is_null());
            assert!(take(kiln_module_load(null(), null(), null_mut())).is_some());
            assert!(take(kiln_func_call(null(), null(), 0, null_mut(), 0)).is_some());
            let mut l = null_mut();
            assert!(take(kiln_linker_new(null(), &mut l)).is_some());
            assert!(take(kiln_linker_instantiate(null(), null(), null_mut())).is_some());
            assert!(take(kiln_instance_get_func(null(), null(), null_mut())).is_some());
            assert!(take(kiln_instance_set_epoch_deadline(null(), 1)).is_some());
            assert!(take(kiln_memory_grow(null(), 1, null_mut())).is_some());
            assert!(take(kiln_global_get(null(), null_mut())).is_some());
            assert!(take(kiln_table_get(null(), 0, null_mut())).is_some());
            assert!(take(kiln_caller_get_memory(null(), 0, null_mut())).is_some());
            assert_eq!(kiln_func_param_count(null()), 0);
            assert_eq!(kiln_func_param_type(null(), 0), KILN_VALKIND_INVALID);
            assert!(kiln_memory_data(null()).is_null());
            assert!(kiln_error_trap(null()).is_null());
            assert_eq!(kiln_engine_epoch(null()), 0);
            assert!(!kiln_module_export(null(), 0, null_mut()));
            kiln_engine_increment_epoch(null());
            kiln_engine_delete(null_mut());
            kiln_val_delete(null_mut());
        }
    }

    #[test]
    fn errors_and_traps() {
        // SAFETY: pointers come from the API and are used before being freed.
        unsafe {
            let e = kiln_error_new(KILN_ERROR_TRAP, c"boom".as_ptr());
            assert_eq!(kiln_error_kind(e), KILN_ERROR_TRAP);
            let t = kiln_error_trap(e);
            assert_eq!(kiln_trap_kind(t), TrapKind::HostError as u8);
            assert_eq!(CStr::from_ptr(kiln_trap_message(t)), c"boom");
            assert_eq!(kiln_trap_frame_count(t), 0);
            let copy = kiln_trap_clone(t);
            kiln_error_delete(e);
            assert_eq!(CStr::from_ptr(kiln_trap_message(copy)), c"boom");
            kiln_trap_delete(copy);
            let e = kiln_error_new(KILN_ERROR_LOAD, null());
            assert_eq!(kiln_error_kind(e), KILN_ERROR_LOAD);
            assert!(kiln_error_trap(e).is_null());
            assert_eq!(
                CStr::from_ptr(kiln_error_display(e)),
                c"cannot load module: "
            );
            kiln_error_delete(e);
            for k in TrapKind::ALL {
                let m = CStr::from_ptr(kiln_trap_kind_message(k as u8));
                assert_eq!(m.to_str().unwrap(), k.message());
            }
            assert!(kiln_trap_kind_message(200).is_null());
        }
    }

    #[test]
    fn values_round_trip() {
        let engine = crate::Engine::default();
        let f = crate::Func::new(&engine, Default::default(), |_, _, _| Ok(()));
        for v in [
            Val::I32(-7),
            Val::I64(i64::MIN),
            Val::F32(0x7fc0_0001),
            Val::F64(0x7ff8_0000_0000_0001),
            Val::V128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10),
            Val::ExternRef(None),
            Val::ExternRef(Some(0)),
            Val::FuncRef(None),
            Val::FuncRef(Some(f)),
        ] {
            let mut c = to_c(v.clone());
            // SAFETY: `c` was produced by `to_c`; its funcref (if any) is owned and live.
            let back = unsafe { from_c(&c) }.unwrap();
            assert!(back.same(&v), "{v:?} -> {back:?}");
            // SAFETY: as above; frees the owned funcref.
            unsafe { kiln_val_delete(&mut c) };
        }
        let bad = kiln_val_t {
            kind: 42,
            of: kiln_val_union { i64: 0 },
        };
        // SAFETY: an initialized value with an invalid tag.
        assert!(unsafe { from_c(&bad) }.is_err());
    }

    unsafe extern "C" fn bump(env: *mut std::ffi::c_void) {
        // SAFETY: `env` is the counter the tests pass.
        unsafe { *env.cast::<u32>() += 1 };
    }

    unsafe extern "C" fn double(
        _env: *mut std::ffi::c_void,
        args: *const kiln_val_t,
        _nargs: usize,
        results: *mut kiln_val_t,
        _nresults: usize,
    ) -> *mut kiln_error_t {
        // SAFETY: one i32 argument and one i32 result slot, per the declared type.
        unsafe {
            let x = (*args).of.i32;
            if x < 0 {
                return kiln_error_new(KILN_ERROR_OTHER, c"negative".as_ptr());
            }
            (*results).of.i32 = x * 2;
        }
        null_mut()
    }

    #[test]
    fn host_functions_from_c() {
        let mut finalized = 0u32;
        let env = (&mut finalized as *mut u32).cast();
        let i = [KILN_I32];
        // SAFETY: pointers to locals and the API's own handles.
        unsafe {
            let engine = kiln_engine_new(null());
            let mut f = null_mut();
            let e = kiln_func_new(
                engine,
                i.as_ptr(),
                1,
                i.as_ptr(),
                1,
                Some(double),
                env,
                Some(bump),
                &mut f,
            );
            assert!(take(e).is_none());
            let args = [to_c(Val::I32(21))];
            let mut res = [to_c(Val::I32(0))];
            assert!(take(kiln_func_call(f, args.as_ptr(), 1, res.as_mut_ptr(), 1)).is_none());
            assert_eq!(res[0].of.i32, 42);
            let args = [to_c(Val::I32(-1))];
            let e = kiln_func_call(f, args.as_ptr(), 1, res.as_mut_ptr(), 1);
            let t = kiln_error_trap(e);
            assert_eq!(kiln_trap_kind(t), TrapKind::HostError as u8);
            assert_eq!(CStr::from_ptr(kiln_trap_message(t)), c"negative");
            kiln_error_delete(e);
            let wrong = [to_c(Val::I64(1))];
            let e = take(kiln_func_call(f, wrong.as_ptr(), 1, res.as_mut_ptr(), 1));
            assert_eq!(e.map(|e| e.0), Some(KILN_ERROR_OTHER));
            let e = take(kiln_func_call(f, args.as_ptr(), 1, res.as_mut_ptr(), 2));
            assert_eq!(e.map(|e| e.0), Some(KILN_ERROR_OTHER));
            kiln_func_delete(f);
            assert_eq!(finalized, 1);
            // A NULL callback is an error, and the environment is still finalized.
            let mut f = null_mut();
            let e = kiln_func_new(
                engine,
                i.as_ptr(),
                1,
                null(),
                0,
                None,
                env,
                Some(bump),
                &mut f,
            );
            assert!(take(e).is_some() && f.is_null());
            assert_eq!(finalized, 2);
            let bad = [9u8];
            let e = kiln_func_new(
                engine,
                bad.as_ptr(),
                1,
                null(),
                0,
                Some(double),
                env,
                Some(bump),
                &mut f,
            );
            assert!(take(e).is_some());
            assert_eq!(finalized, 3);
            kiln_engine_delete(engine);
        }
    }

    #[test]
    fn host_items() {
        // SAFETY: pointers to locals and the API's own handles.
        unsafe {
            let engine = kiln_engine_new(null());
            let ty = kiln_memorytype_t {
                min: 1,
                max: 1,
                has_max: true,
                memory64: false,
                shared: false,
                page_size_log2: 0,
            };
            let mut m = null_mut();
            assert!(take(kiln_memory_new(engine, &ty, &mut m)).is_none());
            assert_eq!(kiln_memory_data_size(m), 65536);
            assert!(take(kiln_memory_write(m, 65535, c"ab".as_ptr().cast(), 2)).is_some());
            assert!(take(kiln_memory_grow(m, 1, null_mut())).is_some());
            let ext = kiln_memory_as_extern(m);
            assert_eq!(kiln_extern_kind(ext), 2);
            assert!(kiln_extern_to_func(ext).is_null());
            let m2 = kiln_extern_to_memory(ext);
            assert_eq!(kiln_memory_data(m2), kiln_memory_data(m));
            kiln_memory_delete(m2);
            kiln_extern_delete(ext);
            kiln_memory_delete(m);
            let init = to_c(Val::I64(5));
            let mut g = null_mut();
            assert!(take(kiln_global_new(engine, KILN_I32, true, &init, &mut g)).is_some());
            assert!(take(kiln_global_new(engine, KILN_I64, true, &init, &mut g)).is_none());
            let six = to_c(Val::I64(6));
            assert!(take(kiln_global_set(g, &six)).is_none());
            let mut out = to_c(Val::I32(0));
            assert!(take(kiln_global_get(g, &mut out)).is_none());
            assert_eq!((out.kind, out.of.i64), (KILN_I64, 6));
            kiln_global_delete(g);
            let tt = kiln_tabletype_t {
                element: KILN_EXTERNREF,
                min: 1,
                max: 0,
                has_max: false,
            };
            let null_ext = to_c(Val::ExternRef(None));
            let mut t = null_mut();
            assert!(take(kiln_table_new(engine, &tt, &null_ext, &mut t)).is_none());
            let h = to_c(Val::ExternRef(Some(41)));
            let mut old = 0;
            assert!(take(kiln_table_grow(t, 2, &h, &mut old)).is_none());
            assert_eq!((old, kiln_table_size(t)), (1, 3));
            assert!(take(kiln_table_get(t, 2, &mut out)).is_none());
            assert_eq!((out.kind, out.of.externref), (KILN_EXTERNREF, 42));
            assert!(take(kiln_table_get(t, 3, &mut out)).is_some());
            kiln_table_delete(t);
            kiln_engine_delete(engine);
        }
    }
}

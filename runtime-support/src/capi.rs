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
//! caller handle), `items` (externs, memories, globals, tables).
//!
//! Safety contract for callers (stated once here rather than on each function): every pointer
//! argument is NULL or valid for its documented use in `kiln.h`; handles are ones this API
//! returned and that were not deleted; arrays have the stated lengths.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)] // the contract is documented above and in kiln.h

use crate::error::Error;
use std::ffi::{c_char, CStr, CString};
use std::panic::AssertUnwindSafe;

mod engine;
mod error;
mod func;
mod host;
mod items;
mod val;

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
pub use val::{kiln_val_t, kiln_val_union};

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

//! C API: errors (`kiln_error_t`) and traps (`kiln_trap_t`) with their accessors.
//!
//! Both carry pre-built C strings so accessors can hand out borrowed `const char*`s.

use super::*;
use crate::error::{Error, Trap};
use kiln_environ::TrapKind;
use std::sync::OnceLock;

/// `kiln_trap_t`: a trap and its C strings.
pub struct kiln_trap_t {
    trap: Trap,
    message: CString,
    /// (function name, module name) per frame.
    names: Vec<(Option<CString>, Option<CString>)>,
    /// Source file per frame (modules compiled with debug info).
    files: Vec<Option<CString>>,
}

/// `kiln_error_t`: an error and its C strings.
pub struct kiln_error_t {
    pub(super) error: Error,
    message: CString,
    display: CString,
    trap: Option<kiln_trap_t>,
}

/// `kiln_frame_t`: one backtrace frame (strings borrowed from the trap).
#[repr(C)]
pub struct kiln_frame_t {
    /// Function index.
    pub func_index: u32,
    /// Function name or NULL.
    pub func_name: *const c_char,
    /// Module name or NULL.
    pub module_name: *const c_char,
    /// Whether `wasm_offset` is known.
    pub has_wasm_offset: bool,
    /// Wasm byte offset.
    pub wasm_offset: u32,
}

impl kiln_trap_t {
    fn new(trap: Trap) -> kiln_trap_t {
        let names = trap
            .backtrace
            .iter()
            .map(|f| {
                (
                    f.func_name.as_deref().map(c_string),
                    f.module_name.as_deref().map(c_string),
                )
            })
            .collect();
        let files = trap
            .backtrace
            .iter()
            .map(|f| f.source.as_ref().map(|(file, _)| c_string(file)))
            .collect();
        kiln_trap_t {
            message: c_string(&trap.message),
            names,
            files,
            trap,
        }
    }
}

/// The bare message of an error.
pub(super) fn bare_message(e: &Error) -> &str {
    match e {
        Error::Load(m) | Error::Link(m) | Error::Busy(m) | Error::Other(m) => m,
        Error::Trap(t) => &t.message,
    }
}

/// Boxes an error for C.
pub(super) fn boxed(error: Error) -> *mut kiln_error_t {
    let message = c_string(bare_message(&error));
    let display = c_string(&error.to_string());
    let trap = match &error {
        Error::Trap(t) => Some(kiln_trap_t::new(t.clone())),
        _ => None,
    };
    super::boxed(kiln_error_t {
        error,
        message,
        display,
        trap,
    })
}

/// Takes back an error a host callback returned.
///
/// # Safety
/// `p` is non-null and came from this API.
pub(super) unsafe fn take(p: *mut kiln_error_t) -> Error {
    // SAFETY: caller contract.
    unsafe { Box::from_raw(p) }.error
}

const EMPTY: &CStr = c"";

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_error_new(
    kind: kiln_error_kind_t,
    message: *const c_char,
) -> *mut kiln_error_t {
    let msg = if message.is_null() {
        String::new()
    } else {
        // SAFETY: non-null, NUL-terminated per the contract.
        unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned()
    };
    let e = match kind {
        KILN_ERROR_LOAD => Error::Load(msg),
        KILN_ERROR_LINK => Error::Link(msg),
        KILN_ERROR_TRAP => Error::Trap(Trap::host(msg)),
        _ => Error::Other(msg),
    };
    boxed(e)
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_error_delete(error: *mut kiln_error_t) {
    // SAFETY: NULL or an error from this API.
    unsafe { free(error) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_error_kind(error: *const kiln_error_t) -> kiln_error_kind_t {
    // SAFETY: NULL or a live error.
    match unsafe { error.as_ref() }.map(|e| &e.error) {
        Some(Error::Load(_)) => KILN_ERROR_LOAD,
        Some(Error::Link(_)) => KILN_ERROR_LINK,
        Some(Error::Trap(_)) => KILN_ERROR_TRAP,
        Some(Error::Busy(_)) => KILN_ERROR_BUSY,
        _ => KILN_ERROR_OTHER,
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_error_exit_status(
    error: *const kiln_error_t,
    status: *mut i32,
) -> bool {
    // SAFETY: NULL or a live error.
    match unsafe { error.as_ref() }.map(|e| &e.error) {
        Some(Error::Trap(t)) => match t.exit_status {
            Some(s) => {
                // SAFETY: caller contract: NULL or writable.
                if let Some(out) = unsafe { status.as_mut() } {
                    *out = s;
                }
                true
            }
            None => false,
        },
        _ => false,
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_error_message(error: *const kiln_error_t) -> *const c_char {
    // SAFETY: NULL or a live error.
    unsafe { error.as_ref() }.map_or(EMPTY.as_ptr(), |e| e.message.as_ptr())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_error_display(error: *const kiln_error_t) -> *const c_char {
    // SAFETY: NULL or a live error.
    unsafe { error.as_ref() }.map_or(EMPTY.as_ptr(), |e| e.display.as_ptr())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_error_trap(error: *const kiln_error_t) -> *const kiln_trap_t {
    // SAFETY: NULL or a live error.
    unsafe { error.as_ref() }
        .and_then(|e| e.trap.as_ref())
        .map_or(std::ptr::null(), |t| t as *const kiln_trap_t)
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_trap_clone(trap: *const kiln_trap_t) -> *mut kiln_trap_t {
    // SAFETY: NULL or a live trap.
    match unsafe { trap.as_ref() } {
        Some(t) => get_or(std::ptr::null_mut(), || {
            super::boxed(kiln_trap_t::new(t.trap.clone()))
        }),
        None => std::ptr::null_mut(),
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_trap_delete(trap: *mut kiln_trap_t) {
    // SAFETY: NULL or a trap from `kiln_trap_clone`.
    unsafe { free(trap) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_trap_kind(trap: *const kiln_trap_t) -> kiln_trap_kind_t {
    // SAFETY: NULL or a live trap.
    unsafe { trap.as_ref() }.map_or(TrapKind::HostError as u8, |t| t.trap.kind as u8)
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_trap_message(trap: *const kiln_trap_t) -> *const c_char {
    // SAFETY: NULL or a live trap.
    unsafe { trap.as_ref() }.map_or(EMPTY.as_ptr(), |t| t.message.as_ptr())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_trap_frame_count(trap: *const kiln_trap_t) -> usize {
    // SAFETY: NULL or a live trap.
    unsafe { trap.as_ref() }.map_or(0, |t| t.trap.backtrace.len())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_trap_frame(
    trap: *const kiln_trap_t,
    index: usize,
    out: *mut kiln_frame_t,
) -> bool {
    // SAFETY: NULL or a live trap.
    let Some(t) = (unsafe { trap.as_ref() }) else {
        return false;
    };
    let (Some(f), Some((name, module))) = (t.trap.backtrace.get(index), t.names.get(index)) else {
        return false;
    };
    if out.is_null() {
        return false;
    }
    let frame = kiln_frame_t {
        func_index: f.func_index,
        func_name: name.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        module_name: module.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        has_wasm_offset: f.wasm_offset.is_some(),
        wasm_offset: f.wasm_offset.unwrap_or(0),
    };
    // SAFETY: `out` is non-null and valid for writes per the contract.
    unsafe { out.write(frame) };
    true
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_trap_frame_source(
    trap: *const kiln_trap_t,
    index: usize,
    file: *mut *const c_char,
    line: *mut u32,
) -> bool {
    // SAFETY: caller contract: NULL or writable.
    if let Some(f) = unsafe { file.as_mut() } {
        *f = std::ptr::null();
    }
    // SAFETY: caller contract: NULL or writable.
    if let Some(l) = unsafe { line.as_mut() } {
        *l = 0;
    }
    // SAFETY: NULL or a live trap.
    let Some(t) = (unsafe { trap.as_ref() }) else {
        return false;
    };
    let (Some(frame), Some(Some(name))) = (t.trap.backtrace.get(index), t.files.get(index)) else {
        return false;
    };
    let Some((_, l)) = &frame.source else {
        return false;
    };
    // SAFETY: caller contract: NULL or writable.
    if let Some(f) = unsafe { file.as_mut() } {
        *f = name.as_ptr();
    }
    // SAFETY: caller contract: NULL or writable.
    if let Some(out) = unsafe { line.as_mut() } {
        *out = *l;
    }
    true
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub extern "C" fn kiln_trap_kind_message(kind: kiln_trap_kind_t) -> *const c_char {
    static MESSAGES: OnceLock<Vec<CString>> = OnceLock::new();
    get_or(std::ptr::null(), || {
        let all = MESSAGES.get_or_init(|| {
            TrapKind::ALL
                .iter()
                .map(|k| c_string(k.message()))
                .collect()
        });
        all.get(kind as usize)
            .map_or(std::ptr::null(), |s| s.as_ptr())
    })
}

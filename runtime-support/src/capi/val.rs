//! C API: `kiln_val_t`, the tagged value, and its conversions to and from [`Val`].

use super::func::kiln_func_t;
use super::*;
use crate::values::Val;
use kiln_environ::ValType;

/// The payload of `kiln_val_t` (f32/f64 are handled as bits).
#[repr(C)]
#[derive(Copy, Clone)]
pub union kiln_val_union {
    /// `i32`
    pub i32: i32,
    /// `i64`
    pub i64: i64,
    /// `f32` bits (C: `float`)
    pub f32: u32,
    /// `f64` bits (C: `double`)
    pub f64: u64,
    /// `v128`, little-endian
    pub v128: [u8; 16],
    /// `funcref` (NULL is null)
    pub funcref: *mut kiln_func_t,
    /// `externref` (0 is null, n is `Some(n - 1)`)
    pub externref: u64,
}

/// `kiln_val_t`: a tagged WebAssembly value.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct kiln_val_t {
    /// A `KILN_*` value kind.
    pub kind: kiln_valkind_t,
    /// The payload.
    pub of: kiln_val_union,
}

const _: () = assert!(std::mem::size_of::<kiln_val_t>() == 24);

/// The C tag of a value type.
pub(super) fn kind_of(t: ValType) -> kiln_valkind_t {
    match t {
        ValType::I32 => KILN_I32,
        ValType::I64 => KILN_I64,
        ValType::F32 => KILN_F32,
        ValType::F64 => KILN_F64,
        ValType::V128 => KILN_V128,
        ValType::FuncRef => KILN_FUNCREF,
        ValType::ExternRef => KILN_EXTERNREF,
        ValType::ExnRef => KILN_EXNREF,
    }
}

/// The value type of a C tag.
pub(super) fn type_of(k: kiln_valkind_t) -> Result<ValType, Error> {
    Ok(match k {
        KILN_I32 => ValType::I32,
        KILN_I64 => ValType::I64,
        KILN_F32 => ValType::F32,
        KILN_F64 => ValType::F64,
        KILN_V128 => ValType::V128,
        KILN_FUNCREF => ValType::FuncRef,
        KILN_EXTERNREF => ValType::ExternRef,
        KILN_EXNREF => ValType::ExnRef,
        _ => return Err(Error::Other(format!("invalid value kind {k}"))),
    })
}

/// Converts a C value (borrowing its funcref handle).
///
/// # Safety
/// The payload member selected by `kind` is initialized; a non-null funcref is a live handle.
pub(super) unsafe fn from_c(v: &kiln_val_t) -> Result<Val, Error> {
    Ok(match v.kind {
        // SAFETY: `kind` selects an initialized plain-data member (caller contract).
        KILN_I32 => Val::I32(unsafe { v.of.i32 }),
        // SAFETY: `kind` selects an initialized plain-data member (caller contract).
        KILN_I64 => Val::I64(unsafe { v.of.i64 }),
        // SAFETY: `kind` selects an initialized plain-data member (caller contract).
        KILN_F32 => Val::F32(unsafe { v.of.f32 }),
        // SAFETY: `kind` selects an initialized plain-data member (caller contract).
        KILN_F64 => Val::F64(unsafe { v.of.f64 }),
        // SAFETY: `kind` selects an initialized plain-data member (caller contract).
        KILN_V128 => Val::V128(u128::from_le_bytes(unsafe { v.of.v128 })),
        KILN_FUNCREF => {
            // SAFETY: as above; a non-null handle is live per the caller contract.
            let f = unsafe { v.of.funcref.as_ref() };
            Val::FuncRef(f.map(|f| f.func.clone()))
        }
        KILN_EXTERNREF => {
            // SAFETY: as above.
            let n = unsafe { v.of.externref };
            Val::ExternRef(n.checked_sub(1))
        }
        KILN_EXNREF => {
            // SAFETY: as above (an exnref travels in the `externref` member, always 0).
            if unsafe { v.of.externref } != 0 {
                return Err(Error::Other(
                    "the host cannot hold non-null exception references".into(),
                ));
            }
            Val::ExnRef(None)
        }
        k => return Err(Error::Other(format!("invalid value kind {k}"))),
    })
}

/// Converts a Rust value (a funcref becomes a new owned handle).
pub(super) fn to_c(v: Val) -> kiln_val_t {
    let (kind, of) = match v {
        Val::I32(x) => (KILN_I32, kiln_val_union { i32: x }),
        Val::I64(x) => (KILN_I64, kiln_val_union { i64: x }),
        Val::F32(x) => (KILN_F32, kiln_val_union { f32: x }),
        Val::F64(x) => (KILN_F64, kiln_val_union { f64: x }),
        Val::V128(x) => (
            KILN_V128,
            kiln_val_union {
                v128: x.to_le_bytes(),
            },
        ),
        Val::FuncRef(f) => (
            KILN_FUNCREF,
            kiln_val_union {
                funcref: f.map_or(std::ptr::null_mut(), |func| boxed(kiln_func_t { func })),
            },
        ),
        Val::ExternRef(n) => (
            KILN_EXTERNREF,
            kiln_val_union {
                externref: n.map_or(0, |n| n.wrapping_add(1)),
            },
        ),
        Val::ExnRef(None) => (KILN_EXNREF, kiln_val_union { externref: 0 }),
        Val::ExnRef(Some(e)) => match e {},
    };
    kiln_val_t { kind, of }
}

/// The zero/null C value of a type.
pub(super) fn zero(t: ValType) -> kiln_val_t {
    to_c(Val::default_for(t))
}

/// Frees the funcref handle a C value owns and nulls it.
///
/// # Safety
/// If `kind` is `KILN_FUNCREF`, the funcref member is NULL or an owned handle.
pub(super) unsafe fn release(v: &mut kiln_val_t) {
    if v.kind == KILN_FUNCREF {
        // SAFETY: caller contract: the member is initialized and owned.
        unsafe {
            free(v.of.funcref);
            v.of.funcref = std::ptr::null_mut();
        }
    }
}

/// Writes a Rust value to a C out-parameter.
///
/// # Safety
/// `out` is NULL or valid for writes.
pub(super) unsafe fn write_out(out: *mut kiln_val_t, v: Val) -> Result<(), Error> {
    if out.is_null() {
        return Err(null("value out-parameter"));
    }
    // SAFETY: non-null and valid for writes per the contract.
    unsafe { out.write(to_c(v)) };
    Ok(())
}

/// Reads a C value argument.
///
/// # Safety
/// `p` is NULL or points at a value satisfying [`from_c`]'s contract.
pub(super) unsafe fn read_arg(p: *const kiln_val_t, what: &str) -> Result<Val, Error> {
    // SAFETY: caller contract.
    let v = unsafe { handle(p, what) }?;
    // SAFETY: caller contract.
    unsafe { from_c(v) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_val_delete(val: *mut kiln_val_t) {
    // SAFETY: NULL or a value whose funcref (if any) is owned, per the contract.
    if let Some(v) = unsafe { val.as_mut() } {
        // SAFETY: as above.
        unsafe { release(v) }
    }
}

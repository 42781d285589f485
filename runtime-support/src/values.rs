//! Runtime values ([`Val`]) and their conversions to and from the raw 16-byte `ValRaw` slots
//! of host-call value arrays, globals and table elements.
//!
//! Encoding (the artifact contract): integers and float bits little-endian at offset 0; `v128`
//! in all 16 bytes; `funcref` is a `*const VMFuncRef` (0 is null); `externref` is a 64-bit host
//! handle (0 is null): `Val::ExternRef(Some(n))` travels as `n + 1`; `exnref` is a pointer to
//! an exception object (0 is null), which the host only ever sees null (see [`ExnRef`]).

use crate::engine::Engine;
use crate::error::Error;
use crate::func::Func;
use kiln_environ::ValType;

/// A runtime value.
#[derive(Clone, Debug)]
pub enum Val {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32`, as bits.
    F32(u32),
    /// `f64`, as bits.
    F64(u64),
    /// `v128`
    V128(u128),
    /// `funcref` (None is null)
    FuncRef(Option<Func>),
    /// `externref`: a host handle (None is null).
    ExternRef(Option<u64>),
    /// `exnref`: always null on the host side (see [`ExnRef`]).
    ExnRef(Option<ExnRef>),
}

/// A non-null exception reference held by the host. Exception objects never leave the guest
/// (an uncaught exception reaches the host as a copy, `Trap::exception`), so this type has no
/// values: `Val::ExnRef` is always `None`, and a guest handing a non-null `exnref` to the host
/// (as a result or a host function's argument) is an error.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ExnRef {}

impl Val {
    /// The value's type.
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
            Val::ExnRef(_) => ValType::ExnRef,
        }
    }

    /// The default (zero or null) value of a type.
    pub fn default_for(ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::FuncRef => Val::FuncRef(None),
            ValType::ExternRef => Val::ExternRef(None),
            ValType::ExnRef => Val::ExnRef(None),
        }
    }

    /// Whether two values are equal (functions by identity of their references).
    pub fn same(&self, other: &Val) -> bool {
        match (self, other) {
            (Val::FuncRef(a), Val::FuncRef(b)) => match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => Func::same(a, b),
                _ => false,
            },
            (Val::I32(a), Val::I32(b)) => a == b,
            (Val::I64(a), Val::I64(b)) => a == b,
            (Val::F32(a), Val::F32(b)) => a == b,
            (Val::F64(a), Val::F64(b)) => a == b,
            (Val::V128(a), Val::V128(b)) => a == b,
            (Val::ExternRef(a), Val::ExternRef(b)) => a == b,
            (Val::ExnRef(a), Val::ExnRef(b)) => a == b,
            _ => false,
        }
    }

    /// The raw encoding. Function references must outlive every use of the raw value: the
    /// caller passes `keep` to hold on to them.
    pub(crate) fn to_raw(&self, keep: &mut dyn FnMut(&Func)) -> u128 {
        match self {
            Val::I32(v) => u128::from(*v as u32),
            Val::I64(v) => u128::from(*v as u64),
            Val::F32(v) => u128::from(*v),
            Val::F64(v) => u128::from(*v),
            Val::V128(v) => *v,
            Val::FuncRef(None) => 0,
            Val::FuncRef(Some(f)) => {
                keep(f);
                f.guest_funcref() as usize as u128
            }
            Val::ExternRef(None) => 0,
            Val::ExternRef(Some(n)) => u128::from(n.wrapping_add(1)),
            Val::ExnRef(None) => 0,
            Val::ExnRef(Some(e)) => match *e {},
        }
    }

    /// Decodes a raw value of type `ty`. A non-null `exnref` decodes as null: callers that may
    /// receive one check with [`non_null_exnref`] first.
    ///
    /// # Safety
    /// For `funcref`, a nonzero `raw` must point at a live `VMFuncRef`.
    pub(crate) unsafe fn from_raw(engine: &Engine, ty: ValType, raw: u128) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw as u32 as i32),
            ValType::I64 => Val::I64(raw as u64 as i64),
            ValType::F32 => Val::F32(raw as u32),
            ValType::F64 => Val::F64(raw as u64),
            ValType::V128 => Val::V128(raw),
            ValType::FuncRef => {
                let p = raw as u64 as usize as *const crate::vm::VMFuncRef;
                Val::FuncRef(if p.is_null() {
                    None
                } else {
                    // SAFETY: forwarded caller contract.
                    unsafe { Func::from_raw(engine, p) }
                })
            }
            ValType::ExternRef => {
                let n = raw as u64;
                Val::ExternRef(if n == 0 { None } else { Some(n - 1) })
            }
            ValType::ExnRef => Val::ExnRef(None),
        }
    }
}

impl From<i32> for Val {
    fn from(v: i32) -> Val {
        Val::I32(v)
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I64(v)
    }
}

impl From<f32> for Val {
    fn from(v: f32) -> Val {
        Val::F32(v.to_bits())
    }
}

impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::F64(v.to_bits())
    }
}

/// Whether raw values of types `tys` include a non-null `exnref` (which cannot reach the host).
pub(crate) fn non_null_exnref(tys: &[ValType], raws: impl IntoIterator<Item = u128>) -> bool {
    tys.iter()
        .zip(raws)
        .any(|(t, r)| *t == ValType::ExnRef && r as u64 != 0)
}

/// Checks that `vals` have the types `tys` (for arguments and results).
pub(crate) fn check_types(what: &str, vals: &[Val], tys: &[ValType]) -> Result<(), Error> {
    if vals.len() != tys.len() {
        return Err(Error::Other(format!(
            "expected {} {what}, got {}",
            tys.len(),
            vals.len()
        )));
    }
    // "argument 1 has type ...": one of the `what` (counted from 0).
    let one = what.strip_suffix('s').unwrap_or(what);
    for (i, (v, t)) in vals.iter().zip(tys).enumerate() {
        if v.ty() != *t {
            return Err(Error::Other(format!(
                "{one} {i} has type {}, expected {t}",
                v.ty()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_roundtrip() {
        let e = Engine::default();
        let mut keep = |_: &Func| {};
        for v in [
            Val::I32(-5),
            Val::I64(i64::MIN),
            Val::F32(0x7fc0_0001),
            Val::F64(0x7ff8_0000_0000_0001),
            Val::V128(u128::MAX - 3),
            Val::ExternRef(Some(0)),
            Val::ExternRef(Some(41)),
            Val::ExternRef(None),
            Val::FuncRef(None),
        ] {
            let raw = v.to_raw(&mut keep);
            // SAFETY: no non-null funcref among the values.
            let back = unsafe { Val::from_raw(&e, v.ty(), raw) };
            assert!(back.same(&v), "{v:?} -> {raw:#x} -> {back:?}");
        }
        assert_eq!(Val::ExternRef(Some(0)).to_raw(&mut keep), 1);
        assert_eq!(Val::I32(-1).to_raw(&mut keep), 0xffff_ffff);
    }

    #[test]
    fn type_check_messages() {
        assert!(check_types("arguments", &[Val::I32(1)], &[ValType::I32]).is_ok());
        let e = check_types("arguments", &[Val::I64(1)], &[ValType::I32]).unwrap_err();
        assert_eq!(e.to_string(), "argument 0 has type i64, expected i32");
        assert!(check_types("arguments", &[], &[ValType::I32]).is_err());
    }
}

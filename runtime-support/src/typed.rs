//! Typed calls of guest functions: [`TypedFunc`], checked against the function's type once
//! (by [`Func::typed`]) and then called with Rust values and no allocation — the arguments and
//! results travel in a `ValRaw` array on the caller's stack.

use crate::error::Error;
use crate::func::Func;
use crate::vm::ValRaw;
use kiln_environ::FuncType;
use kiln_environ::ValType;
use std::marker::PhantomData;

/// Most parameters or results a typed call carries (its value array lives on the stack).
const MAX_VALUES: usize = 8;

/// A Rust type that is one wasm value type.
pub trait WasmTy: Copy {
    /// The wasm type.
    const TY: ValType;
    /// The value in the raw slot representation.
    fn to_raw(self) -> ValRaw;
    /// The value from a raw slot of type [`WasmTy::TY`].
    fn from_raw(raw: ValRaw) -> Self;
}

impl WasmTy for i32 {
    const TY: ValType = ValType::I32;
    fn to_raw(self) -> ValRaw {
        ValRaw::from_u64(u64::from(self as u32))
    }
    fn from_raw(raw: ValRaw) -> Self {
        raw.get_u32() as i32
    }
}

impl WasmTy for i64 {
    const TY: ValType = ValType::I64;
    fn to_raw(self) -> ValRaw {
        ValRaw::from_u64(self as u64)
    }
    fn from_raw(raw: ValRaw) -> Self {
        raw.get_u64() as i64
    }
}

impl WasmTy for f32 {
    const TY: ValType = ValType::F32;
    fn to_raw(self) -> ValRaw {
        ValRaw::from_u64(u64::from(self.to_bits()))
    }
    fn from_raw(raw: ValRaw) -> Self {
        f32::from_bits(raw.get_u32())
    }
}

impl WasmTy for f64 {
    const TY: ValType = ValType::F64;
    fn to_raw(self) -> ValRaw {
        ValRaw::from_u64(self.to_bits())
    }
    fn from_raw(raw: ValRaw) -> Self {
        f64::from_bits(raw.get_u64())
    }
}

/// A list of wasm values as a Rust tuple: `()`, `T`, `(T,)` ... `(T1, T2, T3, T4)`.
pub trait WasmList: Sized {
    /// The wasm types, in order.
    fn types() -> Vec<ValType>;
    /// Writes the values into the first slots of `raw`.
    fn store(self, raw: &mut [ValRaw]);
    /// Reads the values from the first slots of `raw`.
    fn load(raw: &[ValRaw]) -> Self;
}

impl WasmList for () {
    fn types() -> Vec<ValType> {
        Vec::new()
    }
    fn store(self, _: &mut [ValRaw]) {}
    fn load(_: &[ValRaw]) -> Self {}
}

impl<T: WasmTy> WasmList for T {
    fn types() -> Vec<ValType> {
        vec![T::TY]
    }
    fn store(self, raw: &mut [ValRaw]) {
        raw[0] = self.to_raw();
    }
    fn load(raw: &[ValRaw]) -> Self {
        T::from_raw(raw[0])
    }
}

macro_rules! tuple_list {
    ($($t:ident $i:tt),+) => {
        impl<$($t: WasmTy),+> WasmList for ($($t,)+) {
            fn types() -> Vec<ValType> {
                vec![$($t::TY),+]
            }
            fn store(self, raw: &mut [ValRaw]) {
                $(raw[$i] = self.$i.to_raw();)+
            }
            fn load(raw: &[ValRaw]) -> Self {
                ($($t::from_raw(raw[$i]),)+)
            }
        }
    };
}
tuple_list!(A 0);
tuple_list!(A 0, B 1);
tuple_list!(A 0, B 1, C 2);
tuple_list!(A 0, B 1, C 2, D 3);

/// A guest function whose type was checked against `P -> R` (see [`Func::typed`]).
pub struct TypedFunc<P, R> {
    func: Func,
    _ty: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for TypedFunc<P, R> {
    fn clone(&self) -> Self {
        TypedFunc {
            func: self.func.clone(),
            _ty: PhantomData,
        }
    }
}

impl Func {
    /// This function as a [`TypedFunc`] taking `P` and returning `R` (`()`, one value, or a
    /// tuple of up to four); an error when the types differ or for a host function.
    pub fn typed<P: WasmList, R: WasmList>(&self) -> Result<TypedFunc<P, R>, Error> {
        let ty = self.ty();
        let (params, results) = (P::types(), R::types());
        if ty.params != params || ty.results != results {
            return Err(Error::Other(format!(
                "function of type {ty} used with parameters {params:?} and results {results:?}"
            )));
        }
        if self.is_host() || self.raw().array_call == 0 {
            return Err(Error::Other(
                "only guest functions with an array-call trampoline have typed calls".into(),
            ));
        }
        Ok(TypedFunc {
            func: self.clone(),
            _ty: PhantomData,
        })
    }
}

impl<P: WasmList, R: WasmList> TypedFunc<P, R> {
    /// Calls the function: the same entry, traps and `Error::Busy` as [`Func::call`], with no
    /// allocation.
    pub fn call(&self, params: P) -> Result<R, Error> {
        let mut values = [ValRaw::default(); MAX_VALUES];
        params.store(&mut values);
        // SAFETY: `typed` checked that the function's parameters and results are exactly `P`
        // and `R` (at most four values each, so `values` has room for both).
        unsafe { self.func.call_raw_values(&mut values)? };
        Ok(R::load(&values))
    }

    /// The function.
    pub fn func(&self) -> &Func {
        &self.func
    }
}

/// Whether every parameter and result of `ty` is a number or a vector (raw slots hold no
/// references the runtime would have to check or keep alive).
fn numeric_only(ty: &FuncType) -> bool {
    ty.params.iter().chain(&ty.results).all(|t| {
        matches!(
            t,
            ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64 | ValType::V128
        )
    })
}

impl Func {
    /// Calls this guest function on raw value slots: the parameters in the first slots of
    /// `values` (each little-endian at the slot's start), overwritten by the results. For hosts
    /// that check the type once ([`Func::ty`]) and then call without conversions or
    /// allocation (the C API's `kiln_func_call_raw`). Only functions whose parameters and
    /// results are all numbers or vectors are accepted; `values` needs
    /// `max(params, results)` slots.
    pub fn call_raw(&self, values: &mut [ValRaw]) -> Result<(), Error> {
        let ty = self.ty_ref();
        if !numeric_only(ty) {
            return Err(Error::Other(format!(
                "raw calls take numeric and vector values only; the function's type is {ty}"
            )));
        }
        let need = ty.params.len().max(ty.results.len());
        if values.len() < need {
            return Err(Error::Other(format!(
                "the function needs {need} value slots, got {}",
                values.len()
            )));
        }
        if self.is_host() || self.raw().array_call == 0 {
            return Err(Error::Other(
                "only guest functions with an array-call trampoline have raw calls".into(),
            ));
        }
        // SAFETY: the slots hold bit patterns of numeric types only (any bits are a valid
        // number or vector), at least `max(params, results)` of them; `array_call` is nonzero.
        unsafe { self.call_raw_values(values) }
    }
}

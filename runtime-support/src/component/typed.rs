//! Typed Rust signatures for component exports: [`ComponentInstance::typed_func`] checks a
//! Rust parameter tuple and result type against an export's [`ComponentFuncType`] once, and
//! [`TypedFunc::call`] then writes the arguments' host C representation
//! (`kiln_environ::component::host`) straight into a buffer, runs the raw entry
//! ([`ComponentInstance::call_raw`]), reads the result into owned Rust values (copying strings
//! and lists out of guest memory) and runs the post-return — no [`Val`](super::Val) trees.
//!
//! [`ComponentType`] is implemented for `bool`, the integers, `f32`, `f64`, `char`, `String`
//! (and `&str`, `&[T]` for parameters only), `Vec<T>`, `Option<T>`, `Result<T, E>` (`()` is
//! an absent payload: `Result<(), E>`, `Result<T, ()>`), and tuples of 1 to 8 elements.
//! Records are generated with [`component_record!`], enums with [`component_enum!`]. Flags and
//! variants are implemented by hand (`unsafe impl`, as the glue trusts the bytes): `typecheck` matches the [`InterfaceType`] (case names in order), `SIZE`/`ALIGN`
//! follow the host table (an enum is a `u32` case index, flags `u32` words, a variant a `u32`
//! tag then the payload union), `store` writes the bytes at the start of `dst` and `load` reads
//! them back, returning an error for an out-of-range value (see `tests/tests/component_typed.rs`
//! for an enum).

use super::instance::{ComponentFunc, ComponentInstance};
use crate::error::Error;
use kiln_environ::component::host::host_layout;
use kiln_environ::component::{ComponentFuncType, InterfaceType};
use std::marker::PhantomData;

/// Rounds `n` up to a multiple of `align` (a power of two), in `const` context.
pub const fn align_up(n: usize, align: usize) -> usize {
    n.div_ceil(align) * align
}

/// The larger of two sizes, in `const` context.
pub const fn max_usize(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// Error for a Rust type that does not match a component type.
pub fn mismatch<T: ?Sized>(ty: Option<&InterfaceType>) -> Error {
    let ty = ty.map_or_else(|| "no value".to_string(), |t| t.to_string());
    Error::Other(format!(
        "type mismatch: component type {ty} does not match Rust type {}",
        std::any::type_name::<T>()
    ))
}

/// Out-of-line storage kept alive for the duration of a typed call (lowered string and list
/// contents the argument struct points at).
#[derive(Default)]
pub struct LowerCx {
    keep: Vec<Vec<u64>>,
}

/// A Rust type with a component type: how it is type-checked and laid out in the host C
/// representation.
///
/// # Safety
/// `typecheck` accepts only types whose host layout is `SIZE`/`ALIGN` and whose values
/// [`Lower::store`] writes validly (the compiled glue trusts the bytes: string and list
/// pointers must be valid for their lengths, strings UTF-8).
pub unsafe trait ComponentType {
    /// Size in bytes of the host C representation (a multiple of `ALIGN`).
    const SIZE: usize;
    /// Alignment of the host C representation.
    const ALIGN: usize;
    /// Checks that this Rust type represents `ty`.
    fn typecheck(ty: &InterfaceType) -> Result<(), Error>;
    /// Checks this type as an optional payload (a function result or a `result` case): `()`
    /// matches an absent payload, every other type a present one.
    fn typecheck_payload(ty: Option<&InterfaceType>) -> Result<(), Error> {
        match ty {
            Some(t) => Self::typecheck(t),
            None => Err(mismatch::<Self>(None)),
        }
    }
}

/// A [`ComponentType`] that can be written into the host C representation (a parameter).
///
/// # Safety
/// `store` writes the valid host representation of the type `typecheck` accepted; any
/// pointer it writes stays valid while `self` and the [`LowerCx`] live.
pub unsafe trait Lower: ComponentType {
    /// Writes the host representation into `dst[..SIZE]` (zeroed); out-of-line data (string
    /// bytes, list elements) goes to `cx` or points into `self`, which outlives the call.
    fn store(&self, cx: &mut LowerCx, dst: &mut [u8]);
}

/// A [`ComponentType`] that can be read from the host C representation (a result).
pub trait Lift: ComponentType + Sized {
    /// Reads the host representation at `src`, copying out-of-line data into owned values.
    ///
    /// # Safety
    /// `src` points at `SIZE` readable bytes holding the host representation of a value of the
    /// type checked by `typecheck`, whose pointers are valid for their lengths.
    unsafe fn load(src: *const u8) -> Result<Self, Error>;
}

macro_rules! primitive {
    ($($t:ty => $it:ident, $size:expr;)*) => {$(
        // SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
        unsafe impl ComponentType for $t {
            const SIZE: usize = $size;
            const ALIGN: usize = $size;
            fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
                match ty {
                    InterfaceType::$it => Ok(()),
                    _ => Err(mismatch::<Self>(Some(ty))),
                }
            }
        }
        // SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
        unsafe impl Lower for $t {
            fn store(&self, _cx: &mut LowerCx, dst: &mut [u8]) {
                dst[..$size].copy_from_slice(&self.to_ne_bytes());
            }
        }
        impl Lift for $t {
            unsafe fn load(src: *const u8) -> Result<Self, Error> {
                // SAFETY: forwarded contract (`SIZE` readable bytes).
                Ok(unsafe { src.cast::<$t>().read_unaligned() })
            }
        }
    )*};
}

primitive! {
    u8 => U8, 1; i8 => S8, 1; u16 => U16, 2; i16 => S16, 2; u32 => U32, 4; i32 => S32, 4;
    u64 => U64, 8; i64 => S64, 8; f32 => F32, 4; f64 => F64, 8;
}

// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl ComponentType for bool {
    const SIZE: usize = 1;
    const ALIGN: usize = 1;
    fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
        match ty {
            InterfaceType::Bool => Ok(()),
            _ => Err(mismatch::<Self>(Some(ty))),
        }
    }
}
// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl Lower for bool {
    fn store(&self, _cx: &mut LowerCx, dst: &mut [u8]) {
        dst[0] = *self as u8;
    }
}
impl Lift for bool {
    unsafe fn load(src: *const u8) -> Result<Self, Error> {
        // SAFETY: forwarded contract.
        Ok(unsafe { src.read() } != 0)
    }
}

// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl ComponentType for char {
    const SIZE: usize = 4;
    const ALIGN: usize = 4;
    fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
        match ty {
            InterfaceType::Char => Ok(()),
            _ => Err(mismatch::<Self>(Some(ty))),
        }
    }
}
// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl Lower for char {
    fn store(&self, _cx: &mut LowerCx, dst: &mut [u8]) {
        dst[..4].copy_from_slice(&(*self as u32).to_ne_bytes());
    }
}
impl Lift for char {
    unsafe fn load(src: *const u8) -> Result<Self, Error> {
        // SAFETY: forwarded contract.
        let c = unsafe { src.cast::<u32>().read_unaligned() };
        char::from_u32(c).ok_or_else(|| Error::Other(format!("invalid char {c:#x} in result")))
    }
}

/// The `()` payload: an absent `result` case or no function result.
// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl ComponentType for () {
    const SIZE: usize = 0;
    const ALIGN: usize = 1;
    fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
        Err(mismatch::<Self>(Some(ty)))
    }
    fn typecheck_payload(ty: Option<&InterfaceType>) -> Result<(), Error> {
        match ty {
            None => Ok(()),
            Some(t) => Err(mismatch::<Self>(Some(t))),
        }
    }
}
// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl Lower for () {
    fn store(&self, _cx: &mut LowerCx, _dst: &mut [u8]) {}
}
impl Lift for () {
    unsafe fn load(_src: *const u8) -> Result<Self, Error> {
        Ok(())
    }
}

/// Writes a host `{ ptr, len }` slice struct.
fn store_slice(dst: &mut [u8], ptr: *const u8, len: usize) {
    dst[..8].copy_from_slice(&(ptr as u64).to_ne_bytes());
    dst[8..16].copy_from_slice(&(len as u64).to_ne_bytes());
}

/// Reads a host `{ ptr, len }` slice struct.
///
/// # Safety
/// `src` points at 16 readable bytes.
unsafe fn load_slice(src: *const u8) -> (*const u8, usize) {
    // SAFETY: forwarded contract.
    unsafe {
        (
            src.cast::<u64>().read_unaligned() as usize as *const u8,
            src.add(8).cast::<u64>().read_unaligned() as usize,
        )
    }
}

// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl ComponentType for str {
    const SIZE: usize = 16;
    const ALIGN: usize = 8;
    fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
        match ty {
            InterfaceType::String => Ok(()),
            _ => Err(mismatch::<Self>(Some(ty))),
        }
    }
}
// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl Lower for str {
    fn store(&self, _cx: &mut LowerCx, dst: &mut [u8]) {
        store_slice(dst, self.as_ptr(), self.len());
    }
}

// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl ComponentType for String {
    const SIZE: usize = 16;
    const ALIGN: usize = 8;
    fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
        str::typecheck(ty)
    }
}
// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl Lower for String {
    fn store(&self, cx: &mut LowerCx, dst: &mut [u8]) {
        self.as_str().store(cx, dst)
    }
}
impl Lift for String {
    unsafe fn load(src: *const u8) -> Result<Self, Error> {
        // SAFETY: forwarded contract; the glue validated the string's bounds.
        let bytes = unsafe {
            let (p, n) = load_slice(src);
            if n == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(p, n)
            }
        };
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::Other("result string is not valid UTF-8".into()))
    }
}

// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl<T: ComponentType + ?Sized> ComponentType for &T {
    const SIZE: usize = T::SIZE;
    const ALIGN: usize = T::ALIGN;
    fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
        T::typecheck(ty)
    }
}
// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl<T: Lower + ?Sized> Lower for &T {
    fn store(&self, cx: &mut LowerCx, dst: &mut [u8]) {
        (**self).store(cx, dst)
    }
}

// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl<T: ComponentType> ComponentType for [T] {
    const SIZE: usize = 16;
    const ALIGN: usize = 8;
    fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
        match ty {
            InterfaceType::List(e) => T::typecheck(e),
            _ => Err(mismatch::<Self>(Some(ty))),
        }
    }
}
// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl<T: Lower> Lower for [T] {
    fn store(&self, cx: &mut LowerCx, dst: &mut [u8]) {
        let size = T::SIZE * self.len();
        let mut words = vec![0u64; size.div_ceil(8)];
        // SAFETY: a `u64` buffer viewed as its first `size` bytes.
        let data = unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), size) };
        for (i, x) in self.iter().enumerate() {
            x.store(cx, &mut data[i * T::SIZE..]);
        }
        store_slice(dst, words.as_ptr().cast(), self.len());
        // Moving the `Vec` keeps its heap buffer (and the pointer just stored) in place.
        cx.keep.push(words);
    }
}

// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl<T: ComponentType> ComponentType for Vec<T> {
    const SIZE: usize = 16;
    const ALIGN: usize = 8;
    fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
        <[T]>::typecheck(ty)
    }
}
// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl<T: Lower> Lower for Vec<T> {
    fn store(&self, cx: &mut LowerCx, dst: &mut [u8]) {
        self.as_slice().store(cx, dst)
    }
}
impl<T: Lift> Lift for Vec<T> {
    unsafe fn load(src: *const u8) -> Result<Self, Error> {
        // SAFETY: forwarded contract; the glue validated the list's bounds.
        let (p, n) = unsafe { load_slice(src) };
        let mut out = Vec::with_capacity(n.min(1 << 16));
        for i in 0..n {
            // SAFETY: element `i` of a valid list of `n` host elements of `T::SIZE` bytes.
            out.push(unsafe { T::load(p.add(i * T::SIZE)) }?);
        }
        Ok(out)
    }
}

// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl<T: ComponentType> ComponentType for Option<T> {
    const ALIGN: usize = max_usize(1, T::ALIGN);
    const SIZE: usize = align_up(align_up(1, T::ALIGN) + T::SIZE, Self::ALIGN);
    fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
        match ty {
            InterfaceType::Option(t) => T::typecheck(t),
            _ => Err(mismatch::<Self>(Some(ty))),
        }
    }
}
// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl<T: Lower> Lower for Option<T> {
    fn store(&self, cx: &mut LowerCx, dst: &mut [u8]) {
        if let Some(x) = self {
            dst[0] = 1;
            x.store(cx, &mut dst[align_up(1, T::ALIGN)..]);
        }
    }
}
impl<T: Lift> Lift for Option<T> {
    unsafe fn load(src: *const u8) -> Result<Self, Error> {
        // SAFETY: forwarded contract; the payload is inside the struct.
        unsafe {
            match src.read() {
                0 => Ok(None),
                1 => Ok(Some(T::load(src.add(align_up(1, T::ALIGN)))?)),
                t => Err(Error::Other(format!("invalid option tag {t} in result"))),
            }
        }
    }
}

/// Layout of a host `result<T, E>` struct: (payload offset, alignment, size).
const fn result_layout(ts: usize, ta: usize, es: usize, ea: usize) -> (usize, usize, usize) {
    let ua = max_usize(ta, ea);
    let us = align_up(max_usize(ts, es), ua);
    let off = align_up(4, ua);
    let align = max_usize(4, ua);
    (off, align, align_up(off + us, align))
}

// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl<T: ComponentType, E: ComponentType> ComponentType for Result<T, E> {
    const ALIGN: usize = result_layout(T::SIZE, T::ALIGN, E::SIZE, E::ALIGN).1;
    const SIZE: usize = result_layout(T::SIZE, T::ALIGN, E::SIZE, E::ALIGN).2;
    fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
        match ty {
            InterfaceType::Result { ok, err } => {
                T::typecheck_payload(ok.as_deref())?;
                E::typecheck_payload(err.as_deref())
            }
            _ => Err(mismatch::<Self>(Some(ty))),
        }
    }
}
// SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
unsafe impl<T: Lower, E: Lower> Lower for Result<T, E> {
    fn store(&self, cx: &mut LowerCx, dst: &mut [u8]) {
        let off = result_layout(T::SIZE, T::ALIGN, E::SIZE, E::ALIGN).0;
        match self {
            Ok(x) => x.store(cx, &mut dst[off..]),
            Err(e) => {
                dst[..4].copy_from_slice(&1u32.to_ne_bytes());
                e.store(cx, &mut dst[off..]);
            }
        }
    }
}
impl<T: Lift, E: Lift> Lift for Result<T, E> {
    unsafe fn load(src: *const u8) -> Result<Self, Error> {
        let off = result_layout(T::SIZE, T::ALIGN, E::SIZE, E::ALIGN).0;
        // SAFETY: forwarded contract; the payload is inside the struct.
        unsafe {
            match src.cast::<u32>().read_unaligned() {
                0 => Ok(Ok(T::load(src.add(off))?)),
                1 => Ok(Err(E::load(src.add(off))?)),
                t => Err(Error::Other(format!("invalid result tag {t} in result"))),
            }
        }
    }
}

/// Offsets of the fields of a host C struct with the given (size, align) fields.
pub fn struct_offsets<const N: usize>(fields: [(usize, usize); N]) -> [usize; N] {
    let mut out = [0; N];
    let mut at = 0;
    for (o, (size, align)) in out.iter_mut().zip(fields) {
        at = align_up(at, align);
        *o = at;
        at += size;
    }
    out
}

/// Size and alignment of a host C struct with the given (size, align) fields, in `const`
/// context: `(size, align)`.
pub const fn struct_layout(fields: &[(usize, usize)]) -> (usize, usize) {
    let mut at = 0;
    let mut align = 1;
    let mut i = 0;
    while i < fields.len() {
        at = align_up(at, fields[i].1);
        at += fields[i].0;
        align = max_usize(align, fields[i].1);
        i += 1;
    }
    (align_up(at, align), align)
}

/// Parameter lists of typed functions: `()` and tuples of [`Lower`] types up to 8 elements,
/// laid out as the host C struct of the parameters in order.
///
/// # Safety
/// As for [`Lower`]: `store_params` writes the valid host struct of the parameters
/// `typecheck_params` accepted, `SIZE` bytes.
pub unsafe trait ComponentParams {
    /// Size in bytes of the host parameter struct.
    const SIZE: usize;
    /// Checks the parameter types of a function against this tuple.
    fn typecheck_params(params: &[(String, InterfaceType)]) -> Result<(), Error>;
    /// Writes the host parameter struct into `dst` (zeroed, `SIZE` bytes).
    fn store_params(&self, cx: &mut LowerCx, dst: &mut [u8]);
}

// SAFETY: no parameters, nothing written.
unsafe impl ComponentParams for () {
    const SIZE: usize = 0;
    fn typecheck_params(params: &[(String, InterfaceType)]) -> Result<(), Error> {
        if params.is_empty() {
            Ok(())
        } else {
            Err(Error::Other(format!(
                "type mismatch: function takes {} parameters, Rust signature none",
                params.len()
            )))
        }
    }
    fn store_params(&self, _cx: &mut LowerCx, _dst: &mut [u8]) {}
}

macro_rules! tuples {
    ($(($n:literal; $($t:ident $i:tt),*))*) => {$(
        // SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
        unsafe impl<$($t: ComponentType),*> ComponentType for ($($t,)*) {
            const SIZE: usize = struct_layout(&[$(($t::SIZE, $t::ALIGN)),*]).0;
            const ALIGN: usize = struct_layout(&[$(($t::SIZE, $t::ALIGN)),*]).1;
            fn typecheck(ty: &InterfaceType) -> Result<(), Error> {
                match ty {
                    InterfaceType::Tuple(tys) if tys.len() == $n => {
                        $($t::typecheck(&tys[$i])?;)*
                        Ok(())
                    }
                    _ => Err(mismatch::<Self>(Some(ty))),
                }
            }
        }
        // SAFETY: the host layout of `kiln_environ::component::host` for the type `typecheck` accepts.
        unsafe impl<$($t: Lower),*> Lower for ($($t,)*) {
            fn store(&self, cx: &mut LowerCx, dst: &mut [u8]) {
                let offs = struct_offsets([$(($t::SIZE, $t::ALIGN)),*]);
                $(self.$i.store(cx, &mut dst[offs[$i]..]);)*
            }
        }
        impl<$($t: Lift),*> Lift for ($($t,)*) {
            unsafe fn load(src: *const u8) -> Result<Self, Error> {
                let offs = struct_offsets([$(($t::SIZE, $t::ALIGN)),*]);
                // SAFETY: forwarded contract; every field is inside the struct.
                Ok(($(unsafe { $t::load(src.add(offs[$i])) }?,)*))
            }
        }
        // SAFETY: the parameter struct is the tuple's host struct, stored by its `Lower`.
        unsafe impl<$($t: Lower),*> ComponentParams for ($($t,)*) {
            const SIZE: usize = <Self as ComponentType>::SIZE;
            fn typecheck_params(params: &[(String, InterfaceType)]) -> Result<(), Error> {
                if params.len() != $n {
                    return Err(Error::Other(format!(
                        "type mismatch: function takes {} parameters, Rust signature {}",
                        params.len(),
                        $n
                    )));
                }
                $($t::typecheck(&params[$i].1)?;)*
                Ok(())
            }
            fn store_params(&self, cx: &mut LowerCx, dst: &mut [u8]) {
                self.store(cx, dst)
            }
        }
    )*};
}

tuples! {
    (1; A 0)
    (2; A 0, B 1)
    (3; A 0, B 1, C 2)
    (4; A 0, B 1, C 2, D 3)
    (5; A 0, B 1, C 2, D 3, E 4)
    (6; A 0, B 1, C 2, D 3, E 4, F 5)
    (7; A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
}

/// Defines a Rust struct for a component `record` with [`ComponentType`], [`Lower`] and
/// [`Lift`] impls; Rust field names match the WIT field names with `_` for `-`.
///
/// ```ignore
/// component_record!(pub struct Point { x: u32, y: u32 });
/// ```
#[macro_export]
macro_rules! component_record {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($fvis:vis $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq)]
        $vis struct $name { $($fvis $f: $t),* }
        // SAFETY: a host C struct of the fields, each checked and stored by its own impl.
        unsafe impl $crate::component::ComponentType for $name {
            const SIZE: usize = $crate::component::struct_layout(&[
                $((<$t as $crate::component::ComponentType>::SIZE,
                   <$t as $crate::component::ComponentType>::ALIGN)),*
            ]).0;
            const ALIGN: usize = $crate::component::struct_layout(&[
                $((<$t as $crate::component::ComponentType>::SIZE,
                   <$t as $crate::component::ComponentType>::ALIGN)),*
            ]).1;
            fn typecheck(
                ty: &$crate::component::InterfaceType,
            ) -> ::std::result::Result<(), $crate::Error> {
                let names: &[&str] = &[$(stringify!($f)),*];
                match ty {
                    $crate::component::InterfaceType::Record(fields)
                        if fields.len() == names.len() =>
                    {
                        let mut it = fields.iter();
                        $(
                            let fd = it.next().expect("length checked");
                            if fd.name.replace('-', "_") != stringify!($f) {
                                return Err($crate::component::mismatch::<Self>(Some(ty)));
                            }
                            <$t as $crate::component::ComponentType>::typecheck(&fd.ty)?;
                        )*
                        Ok(())
                    }
                    _ => Err($crate::component::mismatch::<Self>(Some(ty))),
                }
            }
        }
        // SAFETY: as above.
        unsafe impl $crate::component::Lower for $name {
            fn store(&self, cx: &mut $crate::component::LowerCx, dst: &mut [u8]) {
                let offs = $crate::component::struct_offsets([
                    $((<$t as $crate::component::ComponentType>::SIZE,
                       <$t as $crate::component::ComponentType>::ALIGN)),*
                ]);
                let mut it = offs.iter();
                $(
                    $crate::component::Lower::store(
                        &self.$f, cx, &mut dst[*it.next().expect("one offset per field")..]);
                )*
            }
        }
        impl $crate::component::Lift for $name {
            unsafe fn load(src: *const u8) -> ::std::result::Result<Self, $crate::Error> {
                let offs = $crate::component::struct_offsets([
                    $((<$t as $crate::component::ComponentType>::SIZE,
                       <$t as $crate::component::ComponentType>::ALIGN)),*
                ]);
                let mut it = offs.iter();
                Ok($name { $(
                    // SAFETY: forwarded contract; every field is inside the struct.
                    $f: unsafe {
                        <$t as $crate::component::Lift>::load(
                            src.add(*it.next().expect("one offset per field")))
                    }?,
                )* })
            }
        }
    };
}

/// Defines a Rust enum for a component `enum` (a `u32` case index in the host
/// representation) with [`ComponentType`], [`Lower`] and [`Lift`] impls; each Rust variant
/// names its WIT label, in the WIT order.
///
/// ```ignore
/// component_enum!(pub enum Color { Red = "red", LightBlue = "light-blue" });
/// ```
#[macro_export]
macro_rules! component_enum {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($case:ident = $label:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name { $($case),+ }
        impl $name {
            const CASES: &'static [$name] = &[$($name::$case),+];
            const LABELS: &'static [&'static str] = &[$($label),+];
        }
        // SAFETY: a `u32` case index, checked against the labels; `store` writes a valid one.
        unsafe impl $crate::component::ComponentType for $name {
            const SIZE: usize = 4;
            const ALIGN: usize = 4;
            fn typecheck(
                ty: &$crate::component::InterfaceType,
            ) -> ::std::result::Result<(), $crate::Error> {
                match ty {
                    $crate::component::InterfaceType::Enum(labels)
                        if labels.iter().map(|l| l.as_str()).eq(Self::LABELS.iter().copied()) =>
                    {
                        Ok(())
                    }
                    _ => Err($crate::component::mismatch::<Self>(Some(ty))),
                }
            }
        }
        // SAFETY: as above.
        unsafe impl $crate::component::Lower for $name {
            fn store(&self, _cx: &mut $crate::component::LowerCx, dst: &mut [u8]) {
                let i = Self::CASES.iter().position(|c| c == self).unwrap_or(0) as u32;
                dst[..4].copy_from_slice(&i.to_ne_bytes());
            }
        }
        impl $crate::component::Lift for $name {
            unsafe fn load(src: *const u8) -> ::std::result::Result<Self, $crate::Error> {
                // SAFETY: forwarded contract (4 readable bytes).
                let i = unsafe { src.cast::<u32>().read_unaligned() };
                Self::CASES.get(i as usize).copied().ok_or_else(|| {
                    $crate::Error::Other(format!("invalid enum case {i} in result"))
                })
            }
        }
    };
}

/// A component export with a checked Rust signature: `P` is a tuple of the parameters, `R`
/// the result (`()` for none).
pub struct TypedFunc<P, R> {
    instance: ComponentInstance,
    func: ComponentFunc,
    _sig: PhantomData<fn(P) -> R>,
}

/// A zeroed, 8-aligned buffer of at least `bytes` bytes: on the stack when small (the host
/// structs of most signatures), so a typed call allocates nothing for them.
enum Words {
    Inline([u64; 8]),
    Heap(Vec<u64>),
}

impl Words {
    fn new(bytes: usize) -> Words {
        let n = bytes.div_ceil(8).max(1);
        if n <= 8 {
            Words::Inline([0; 8])
        } else {
            Words::Heap(vec![0; n])
        }
    }

    fn as_mut_slice(&mut self) -> &mut [u64] {
        match self {
            Words::Inline(a) => a,
            Words::Heap(v) => v,
        }
    }
}

impl<P: ComponentParams, R: Lift> TypedFunc<P, R> {
    /// Calls the function: writes the arguments' host representation, runs the compiled
    /// entry, reads the result into owned values, then runs the post-return.
    pub fn call(&self, params: P) -> Result<R, Error> {
        let mut cx = LowerCx::default();
        let mut args = Words::new(P::SIZE);
        let args = args.as_mut_slice();
        {
            // SAFETY: a `u64` slice (at least `P::SIZE` bytes) viewed as its bytes.
            let bytes =
                unsafe { std::slice::from_raw_parts_mut(args.as_mut_ptr().cast::<u8>(), P::SIZE) };
            params.store_params(&mut cx, bytes);
        }
        let mut results = Words::new(R::SIZE);
        let results = results.as_mut_slice();
        // SAFETY: the signature was checked against the function's type, so `args` holds the
        // host struct of its parameters (pointers into `params` and `cx`, alive until the end
        // of this function) and `results` has room for its result.
        let ret = unsafe {
            self.instance.call_raw(
                &self.func,
                args.as_ptr().cast(),
                results.as_mut_ptr().cast(),
            )?
        };
        // SAFETY: the glue wrote the checked result type; its pointers stay valid until the
        // post-return below.
        let value = unsafe { R::load(results.as_ptr().cast()) };
        self.instance.post_return_raw(&self.func, ret)?;
        drop(cx);
        drop(params);
        value
    }

    /// The function's component type.
    pub fn ty(&self) -> &ComponentFuncType {
        self.func.ty()
    }
}

impl ComponentInstance {
    /// Looks up the exported function `name` and checks it against the Rust signature
    /// `P -> R` (`P` a tuple of parameters, `R` the result or `()`).
    pub fn typed_func<P: ComponentParams, R: Lift>(
        &self,
        name: &str,
    ) -> Result<TypedFunc<P, R>, Error> {
        let func = self
            .get_func(name)
            .ok_or_else(|| Error::Other(format!("no exported function `{name}`")))?;
        let ty = func.ty();
        P::typecheck_params(&ty.params)
            .and_then(|()| R::typecheck_payload(ty.result.as_ref()))
            .map_err(|e| Error::Other(format!("`{name}` of type {ty}: {e}")))?;
        // Cheap once-per-lookup guard against hand-written impls with a wrong layout.
        let params = kiln_environ::component::InterfaceType::Tuple(
            ty.params.iter().map(|(_, t)| t.clone()).collect(),
        );
        let psize = if ty.params.is_empty() {
            0
        } else {
            host_layout(&params).size as usize
        };
        let rl = ty.result.as_ref().map(host_layout);
        let r_ok = rl.is_none_or(|l| l.size as usize == R::SIZE && l.align as usize == R::ALIGN);
        if psize != P::SIZE || !r_ok {
            return Err(Error::Other(format!(
                "`{name}` of type {ty}: the Rust signature's host layout differs from the \
                 function's (a hand-written ComponentType impl is wrong)"
            )));
        }
        Ok(TypedFunc {
            instance: self.clone(),
            func,
            _sig: PhantomData,
        })
    }
}

//! C API: the dynamic component value `kiln_cval_t` (a tagged tree) and its conversion to and
//! from `kiln_runtime::component::Val`, driven by the component type.
//!
//! Ownership: a value the runtime hands out (call results, host-callback arguments) and a value
//! a host callback returns is *owned*: every pointer inside came from `malloc` and
//! `kiln_cval_delete` frees it with `free`. Values passed *into* `kiln_component_func_call` are
//! only borrowed and may live anywhere.

use super::*;
use crate::component::Val;
use kiln_environ::component::InterfaceType as T;
use std::ffi::c_void;

/// `kiln_cval_kind_t`: the tag of a `kiln_cval_t`.
pub type kiln_cval_kind_t = u8;

macro_rules! kinds {
    ($($name:ident = $v:expr,)*) => {
        $(#[doc = concat!("`", stringify!($name), "`")] pub const $name: kiln_cval_kind_t = $v;)*
    };
}

kinds! {
    KILN_CVAL_BOOL = 0, KILN_CVAL_S8 = 1, KILN_CVAL_U8 = 2, KILN_CVAL_S16 = 3, KILN_CVAL_U16 = 4,
    KILN_CVAL_S32 = 5, KILN_CVAL_U32 = 6, KILN_CVAL_S64 = 7, KILN_CVAL_U64 = 8,
    KILN_CVAL_F32 = 9, KILN_CVAL_F64 = 10, KILN_CVAL_CHAR = 11, KILN_CVAL_STRING = 12,
    KILN_CVAL_LIST = 13, KILN_CVAL_RECORD = 14, KILN_CVAL_TUPLE = 15, KILN_CVAL_VARIANT = 16,
    KILN_CVAL_ENUM = 17, KILN_CVAL_OPTION = 18, KILN_CVAL_RESULT = 19, KILN_CVAL_FLAGS = 20,
    KILN_CVAL_OWN = 21, KILN_CVAL_BORROW = 22,
}

/// `kiln_cval_string_t`: UTF-8 bytes (owned strings are also NUL-terminated).
#[repr(C)]
#[derive(Copy, Clone)]
pub struct kiln_cval_string_t {
    /// The bytes.
    pub ptr: *mut c_char,
    /// Length in bytes (without the NUL).
    pub len: usize,
}

/// `kiln_cval_list_t`: elements of a list, fields of a record, members of a tuple.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct kiln_cval_list_t {
    /// The values.
    pub ptr: *mut kiln_cval_t,
    /// How many.
    pub len: usize,
}

/// `kiln_cval_variant_t`: a variant case, option (0 none, 1 some) or result (0 ok, 1 err).
#[repr(C)]
#[derive(Copy, Clone)]
pub struct kiln_cval_variant_t {
    /// The case index.
    pub tag: u32,
    /// The payload (NULL when the case has none).
    pub payload: *mut kiln_cval_t,
}

/// `kiln_cval_flags_t`: `len` 32-bit words, bit `i % 32` of word `i / 32` is label `i`.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct kiln_cval_flags_t {
    /// The words.
    pub words: *mut u32,
    /// Number of words.
    pub len: usize,
}

/// The payload of a `kiln_cval_t`.
#[repr(C)]
#[derive(Copy, Clone)]
pub union kiln_cval_union {
    /// `bool`
    pub boolean: bool,
    /// `s8`
    pub s8: i8,
    /// `u8`
    pub u8: u8,
    /// `s16`
    pub s16: i16,
    /// `u16`
    pub u16: u16,
    /// `s32`
    pub s32: i32,
    /// `u32`
    pub u32: u32,
    /// `s64`
    pub s64: i64,
    /// `u64`
    pub u64: u64,
    /// `f32`
    pub f32: f32,
    /// `f64`
    pub f64: f64,
    /// `char` (a Unicode scalar value)
    pub character: u32,
    /// `string`
    pub string: kiln_cval_string_t,
    /// `list`, `record`, `tuple`
    pub list: kiln_cval_list_t,
    /// `variant`, `option`, `result`
    pub variant: kiln_cval_variant_t,
    /// `enum`: the case index.
    pub enumeration: u32,
    /// `flags`
    pub flags: kiln_cval_flags_t,
    /// `own` / `borrow`: a handle.
    pub handle: u32,
}

/// `kiln_cval_t`: a dynamic component value.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct kiln_cval_t {
    /// Which type.
    pub kind: kiln_cval_kind_t,
    /// The payload.
    pub of: kiln_cval_union,
}

/// The zero value (`bool` false).
pub(super) fn cval_zero() -> kiln_cval_t {
    kiln_cval_t {
        kind: KILN_CVAL_BOOL,
        of: kiln_cval_union { u64: 0 },
    }
}

fn kind_name(k: kiln_cval_kind_t) -> &'static str {
    const NAMES: [&str; 23] = [
        "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char",
        "string", "list", "record", "tuple", "variant", "enum", "option", "result", "flags", "own",
        "borrow",
    ];
    NAMES.get(k as usize).copied().unwrap_or("invalid kind")
}

/// The `kiln_cval_t` kind of values of `ty` (`u8::MAX` for types without a C value).
pub(super) fn kind_of(ty: &T) -> kiln_cval_kind_t {
    match ty {
        T::Bool => KILN_CVAL_BOOL,
        T::S8 => KILN_CVAL_S8,
        T::U8 => KILN_CVAL_U8,
        T::S16 => KILN_CVAL_S16,
        T::U16 => KILN_CVAL_U16,
        T::S32 => KILN_CVAL_S32,
        T::U32 => KILN_CVAL_U32,
        T::S64 => KILN_CVAL_S64,
        T::U64 => KILN_CVAL_U64,
        T::F32 => KILN_CVAL_F32,
        T::F64 => KILN_CVAL_F64,
        T::Char => KILN_CVAL_CHAR,
        T::String => KILN_CVAL_STRING,
        T::List(_) => KILN_CVAL_LIST,
        T::Record(_) => KILN_CVAL_RECORD,
        T::Tuple(_) => KILN_CVAL_TUPLE,
        T::Variant(_) => KILN_CVAL_VARIANT,
        T::Enum(_) => KILN_CVAL_ENUM,
        T::Option(_) => KILN_CVAL_OPTION,
        T::Result { .. } => KILN_CVAL_RESULT,
        T::Flags(_) => KILN_CVAL_FLAGS,
        T::Own(_) => KILN_CVAL_OWN,
        T::Borrow(_) => KILN_CVAL_BORROW,
        // A map is a list of 2-member tuples, a fixed-length list a list of exactly N values.
        T::Map(..) | T::FixedList(..) => KILN_CVAL_LIST,
        // No C representation yet (component-model async): no kind matches.
        T::Stream(_) | T::Future(_) | T::ErrorContext => u8::MAX,
    }
}

/// Reads a borrowed C value of type `ty`.
///
/// # Safety
/// `v` and everything it points at is valid per the `kiln.h` contract for its kind.
pub(super) unsafe fn cval_to_val(ty: &T, v: &kiln_cval_t) -> Result<Val, Error> {
    if v.kind != kind_of(ty) {
        return Err(Error::Other(format!(
            "type mismatch: expected a value of type {ty}, got a kiln_cval_t of kind {}",
            kind_name(v.kind)
        )));
    }
    // SAFETY (for every union read below): the kind was checked against the field read.
    let of = &v.of;
    unsafe {
        Ok(match ty {
            T::Bool => Val::Bool(match of.u8 {
                0 => false,
                1 => true,
                b => return Err(Error::Other(format!("bool byte {b} is neither 0 nor 1"))),
            }),
            T::S8 => Val::S8(of.s8),
            T::U8 => Val::U8(of.u8),
            T::S16 => Val::S16(of.s16),
            T::U16 => Val::U16(of.u16),
            T::S32 => Val::S32(of.s32),
            T::U32 => Val::U32(of.u32),
            T::S64 => Val::S64(of.s64),
            T::U64 => Val::U64(of.u64),
            T::F32 => Val::Float32(of.f32),
            T::F64 => Val::Float64(of.f64),
            T::Char => Val::Char(char::from_u32(of.character).ok_or_else(|| {
                Error::Other(format!("{:#x} is not a Unicode scalar value", of.character))
            })?),
            T::String => {
                let s = of.string;
                let bytes = slice_arg(s.ptr.cast::<u8>(), s.len, "string pointer")?;
                Val::String(
                    std::str::from_utf8(bytes)
                        .map_err(|e| {
                            Error::Other(format!(
                                "string is not valid UTF-8 (invalid byte at offset {})",
                                e.valid_up_to()
                            ))
                        })?
                        .to_string(),
                )
            }
            T::List(elem) => {
                let items = slice_arg(of.list.ptr, of.list.len, "list pointer")?;
                Val::List(
                    items
                        .iter()
                        .map(|x| cval_to_val(elem, x))
                        .collect::<Result<_, _>>()?,
                )
            }
            T::FixedList(elem, n) => {
                let items = members(of.list, *n as usize, "fixed-length list")?;
                Val::List(
                    items
                        .iter()
                        .map(|x| cval_to_val(elem, x))
                        .collect::<Result<_, _>>()?,
                )
            }
            T::Map(k, v) => {
                let entry = T::Tuple(vec![(**k).clone(), (**v).clone()]);
                let items = slice_arg(of.list.ptr, of.list.len, "map pointer")?;
                let mut entries = Vec::with_capacity(items.len());
                for x in items {
                    match cval_to_val(&entry, x)? {
                        Val::Tuple(mut kv) if kv.len() == 2 => {
                            let value = kv.pop().expect("two members");
                            let key = kv.pop().expect("two members");
                            entries.push((key, value));
                        }
                        _ => unreachable!("a tuple of two members converts to one"),
                    }
                }
                Val::Map(entries)
            }
            T::Stream(_) | T::Future(_) | T::ErrorContext => {
                unreachable!("no kiln_cval_t kind matches these types (checked above)")
            }
            T::Record(fields) => {
                let items = members(of.list, fields.len(), "record")?;
                let mut out = Vec::with_capacity(fields.len());
                for (f, x) in fields.iter().zip(items) {
                    out.push((f.name.clone(), cval_to_val(&f.ty, x)?));
                }
                Val::Record(out)
            }
            T::Tuple(tys) => {
                let items = members(of.list, tys.len(), "tuple")?;
                Val::Tuple(
                    tys.iter()
                        .zip(items)
                        .map(|(t, x)| cval_to_val(t, x))
                        .collect::<Result<_, _>>()?,
                )
            }
            T::Enum(labels) => Val::Enum(labels.get(of.enumeration as usize).cloned().ok_or_else(
                || {
                    Error::Other(format!(
                        "enum case {} out of range (the enum has {} cases)",
                        of.enumeration,
                        labels.len()
                    ))
                },
            )?),
            T::Flags(labels) => {
                let words = slice_arg(of.flags.words, of.flags.len, "flags words")?;
                let n = labels.len();
                for (w, word) in words.iter().enumerate() {
                    let defined = n.saturating_sub(32 * w).min(32);
                    if defined < 32 && word >> defined != 0 {
                        return Err(Error::Other(format!(
                            "flags word {w} ({word:#x}) sets bits past the {n} flags of the type"
                        )));
                    }
                }
                let mut set = Vec::new();
                for (i, l) in labels.iter().enumerate() {
                    if words.get(i / 32).is_some_and(|w| w & (1 << (i % 32)) != 0) {
                        set.push(l.clone());
                    }
                }
                Val::Flags(set)
            }
            T::Own(_) => Val::Own(of.handle),
            T::Borrow(_) => Val::Borrow(of.handle),
            T::Variant(_) | T::Option(_) | T::Result { .. } => {
                let var = of.variant;
                let cases = ty.variant_cases().unwrap_or_default();
                let case = cases.get(var.tag as usize).ok_or_else(|| {
                    Error::Other(format!("case {} out of range for {ty}", var.tag))
                })?;
                let payload = match (case, var.payload.as_ref()) {
                    (Some(t), Some(p)) => Some(Box::new(cval_to_val(t, p)?)),
                    (Some(_), None) => {
                        return Err(Error::Other(format!(
                            "case {} of {ty} needs a payload (payload is NULL)",
                            var.tag
                        )))
                    }
                    (None, _) => None,
                };
                match ty {
                    T::Option(_) => Val::Option(payload),
                    T::Result { .. } if var.tag == 0 => Val::Result(Ok(payload)),
                    T::Result { .. } => Val::Result(Err(payload)),
                    T::Variant(cs) => Val::Variant(cs[var.tag as usize].name.clone(), payload),
                    _ => unreachable!("matched above"),
                }
            }
        })
    }
}

/// The `n` members of a record or tuple.
///
/// # Safety
/// `l` is valid per the contract.
unsafe fn members<'a>(
    l: kiln_cval_list_t,
    n: usize,
    what: &str,
) -> Result<&'a [kiln_cval_t], Error> {
    if l.len != n {
        return Err(Error::Other(format!(
            "{what} needs {n} members, got {}",
            l.len
        )));
    }
    // SAFETY: forwarded contract.
    unsafe { slice_arg(l.ptr, l.len, what) }
}

/// `malloc`s an array of `n` values (NULL for 0).
fn alloc_array<X: Copy>(items: &[X]) -> Result<*mut X, Error> {
    if items.is_empty() {
        return Ok(std::ptr::null_mut());
    }
    let bytes = std::mem::size_of_val(items);
    // SAFETY: plain allocation.
    let p = unsafe { libc::malloc(bytes) }.cast::<X>();
    if p.is_null() {
        return Err(Error::Other("out of memory".into()));
    }
    // SAFETY: `p` has room for the items; malloc aligns for any fundamental type.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), p, items.len()) };
    Ok(p)
}

/// A `malloc`ed, NUL-terminated copy of `s`.
pub(super) fn alloc_string(s: &[u8]) -> Result<kiln_cval_string_t, Error> {
    // SAFETY: plain allocation.
    let p = unsafe { libc::malloc(s.len() + 1) }.cast::<u8>();
    if p.is_null() {
        return Err(Error::Other("out of memory".into()));
    }
    // SAFETY: `p` has room for the bytes and the NUL.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
        *p.add(s.len()) = 0;
    }
    Ok(kiln_cval_string_t {
        ptr: p.cast(),
        len: s.len(),
    })
}

/// Converts many values, freeing what was built if one fails.
fn convert_all<'a>(
    pairs: impl Iterator<Item = (&'a T, &'a Val)>,
) -> Result<*mut kiln_cval_t, Error> {
    let mut out: Vec<kiln_cval_t> = Vec::new();
    for (t, v) in pairs {
        match val_to_cval(t, v) {
            Ok(c) => out.push(c),
            Err(e) => {
                for c in &mut out {
                    // SAFETY: owned values built just now.
                    unsafe { cval_free(c) };
                }
                return Err(e);
            }
        }
    }
    alloc_array(&out)
}

/// An owned C value (type `ty`) for `v`.
pub(super) fn val_to_cval(ty: &T, v: &Val) -> Result<kiln_cval_t, Error> {
    let mismatch = || Error::Other(format!("type mismatch: {v:?} is not a value of type {ty}"));
    let of = match (ty, v) {
        (T::Bool, Val::Bool(b)) => kiln_cval_union { boolean: *b },
        (T::S8, Val::S8(x)) => kiln_cval_union { s8: *x },
        (T::U8, Val::U8(x)) => kiln_cval_union { u8: *x },
        (T::S16, Val::S16(x)) => kiln_cval_union { s16: *x },
        (T::U16, Val::U16(x)) => kiln_cval_union { u16: *x },
        (T::S32, Val::S32(x)) => kiln_cval_union { s32: *x },
        (T::U32, Val::U32(x)) => kiln_cval_union { u32: *x },
        (T::S64, Val::S64(x)) => kiln_cval_union { s64: *x },
        (T::U64, Val::U64(x)) => kiln_cval_union { u64: *x },
        (T::F32, Val::Float32(x)) => kiln_cval_union { f32: *x },
        (T::F64, Val::Float64(x)) => kiln_cval_union { f64: *x },
        (T::Char, Val::Char(c)) => kiln_cval_union {
            character: *c as u32,
        },
        (T::String, Val::String(s)) => kiln_cval_union {
            string: alloc_string(s.as_bytes())?,
        },
        (T::List(elem) | T::FixedList(elem, _), Val::List(items)) => kiln_cval_union {
            list: kiln_cval_list_t {
                ptr: convert_all(items.iter().map(|x| (&**elem, x)))?,
                len: items.len(),
            },
        },
        (T::Map(k, v_ty), Val::Map(entries)) => {
            let entry = T::Tuple(vec![(**k).clone(), (**v_ty).clone()]);
            let tuples: Vec<Val> = entries
                .iter()
                .map(|(a, b)| Val::Tuple(vec![a.clone(), b.clone()]))
                .collect();
            kiln_cval_union {
                list: kiln_cval_list_t {
                    ptr: convert_all(tuples.iter().map(|x| (&entry, x)))?,
                    len: tuples.len(),
                },
            }
        }
        (T::Record(fields), Val::Record(vals)) if fields.len() == vals.len() => kiln_cval_union {
            list: kiln_cval_list_t {
                ptr: convert_all(
                    fields
                        .iter()
                        .map(|f| &f.ty)
                        .zip(vals.iter().map(|(_, x)| x)),
                )?,
                len: vals.len(),
            },
        },
        (T::Tuple(tys), Val::Tuple(vals)) if tys.len() == vals.len() => kiln_cval_union {
            list: kiln_cval_list_t {
                ptr: convert_all(tys.iter().zip(vals))?,
                len: vals.len(),
            },
        },
        (T::Enum(labels), Val::Enum(name)) => kiln_cval_union {
            enumeration: labels.iter().position(|l| l == name).ok_or_else(mismatch)? as u32,
        },
        (T::Flags(labels), Val::Flags(set)) => {
            let mut words = vec![0u32; labels.len().div_ceil(32)];
            for name in set {
                let i = labels.iter().position(|l| l == name).ok_or_else(mismatch)?;
                words[i / 32] |= 1 << (i % 32);
            }
            kiln_cval_union {
                flags: kiln_cval_flags_t {
                    words: alloc_array(&words)?,
                    len: words.len(),
                },
            }
        }
        (T::Own(_), Val::Own(h)) | (T::Borrow(_), Val::Borrow(h)) => kiln_cval_union { handle: *h },
        (T::Option(_) | T::Result { .. } | T::Variant(_), _) => {
            let (tag, payload) = match (ty, v) {
                (T::Option(_), Val::Option(p)) => (p.is_some() as u32, p),
                (T::Result { .. }, Val::Result(Ok(p))) => (0, p),
                (T::Result { .. }, Val::Result(Err(p))) => (1, p),
                (T::Variant(cases), Val::Variant(name, p)) => (
                    cases
                        .iter()
                        .position(|c| c.name == *name)
                        .ok_or_else(mismatch)? as u32,
                    p,
                ),
                _ => return Err(mismatch()),
            };
            let cases = ty.variant_cases().unwrap_or_default();
            let payload = match (cases.get(tag as usize).copied().flatten(), payload) {
                (Some(t), Some(p)) => convert_all(std::iter::once((t, &**p)))?,
                (None, None) => std::ptr::null_mut(),
                _ => return Err(mismatch()),
            };
            kiln_cval_union {
                variant: kiln_cval_variant_t { tag, payload },
            }
        }
        _ => return Err(mismatch()),
    };
    Ok(kiln_cval_t {
        kind: kind_of(ty),
        of,
    })
}

/// Frees an owned value's contents and resets it to `bool` false.
///
/// # Safety
/// `v` is an owned value (every pointer from `malloc`, not freed).
pub(super) unsafe fn cval_free(v: &mut kiln_cval_t) {
    // SAFETY: the kind says which union field is live; pointers are owned per the contract.
    unsafe {
        match v.kind {
            KILN_CVAL_STRING => libc::free(v.of.string.ptr.cast::<c_void>()),
            KILN_CVAL_LIST | KILN_CVAL_RECORD | KILN_CVAL_TUPLE => {
                let l = v.of.list;
                if !l.ptr.is_null() {
                    for i in 0..l.len {
                        cval_free(&mut *l.ptr.add(i));
                    }
                    libc::free(l.ptr.cast::<c_void>());
                }
            }
            KILN_CVAL_VARIANT | KILN_CVAL_OPTION | KILN_CVAL_RESULT => {
                let p = v.of.variant.payload;
                if !p.is_null() {
                    cval_free(&mut *p);
                    libc::free(p.cast::<c_void>());
                }
            }
            KILN_CVAL_FLAGS => libc::free(v.of.flags.words.cast::<c_void>()),
            _ => {}
        }
    }
    *v = cval_zero();
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_cval_delete(v: *mut kiln_cval_t) {
    get_or((), || {
        // SAFETY: caller contract: NULL or an owned value.
        if let Some(v) = unsafe { v.as_mut() } {
            // SAFETY: as above.
            unsafe { cval_free(v) }
        }
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_cval_set_string(
    v: *mut kiln_cval_t,
    s: *const c_char,
    len: usize,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: caller contract.
        let v = unsafe { handle_mut(v, "value") }?;
        // SAFETY: caller contract: `s` has `len` bytes.
        let bytes = unsafe { slice_arg(s.cast::<u8>(), len, "string") }?;
        let string = alloc_string(bytes)?;
        *v = kiln_cval_t {
            kind: KILN_CVAL_STRING,
            of: kiln_cval_union { string },
        };
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_cval_alloc(n: usize) -> *mut kiln_cval_t {
    get_or(std::ptr::null_mut(), || {
        if n == 0 || n > isize::MAX as usize / std::mem::size_of::<kiln_cval_t>() {
            return std::ptr::null_mut();
        }
        alloc_array(&vec![cval_zero(); n]).unwrap_or(std::ptr::null_mut())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_environ::component::{Case, Field};

    fn record_type() -> T {
        T::Record(vec![
            Field {
                name: "name".into(),
                ty: T::String,
            },
            Field {
                name: "tags".into(),
                ty: T::List(Box::new(T::String)),
            },
            Field {
                name: "v".into(),
                ty: T::Variant(vec![
                    Case {
                        name: "a".into(),
                        ty: Some(T::U32),
                    },
                    Case {
                        name: "b".into(),
                        ty: None,
                    },
                ]),
            },
            Field {
                name: "o".into(),
                ty: T::Option(Box::new(T::Result {
                    ok: Some(Box::new(T::U8)),
                    err: Some(Box::new(T::String)),
                })),
            },
            Field {
                name: "f".into(),
                ty: T::Flags((0..40).map(|i| format!("f{i}")).collect()),
            },
            Field {
                name: "e".into(),
                ty: T::Enum(vec!["x".into(), "y".into()]),
            },
            Field {
                name: "t".into(),
                ty: T::Tuple(vec![T::Char, T::F64, T::S64]),
            },
        ])
    }

    #[test]
    fn values_round_trip_through_c() {
        let ty = record_type();
        let v = Val::Record(vec![
            ("name".into(), Val::String("kiln ✓".into())),
            (
                "tags".into(),
                Val::List(vec![Val::String("a".into()), Val::String("".into())]),
            ),
            (
                "v".into(),
                Val::Variant("a".into(), Some(Box::new(Val::U32(7)))),
            ),
            (
                "o".into(),
                Val::Option(Some(Box::new(Val::Result(Err(Some(Box::new(
                    Val::String("bad".into()),
                ))))))),
            ),
            ("f".into(), Val::Flags(vec!["f1".into(), "f39".into()])),
            ("e".into(), Val::Enum("y".into())),
            (
                "t".into(),
                Val::Tuple(vec![
                    Val::Char('🦀'),
                    Val::Float64(-0.5),
                    Val::S64(i64::MIN),
                ]),
            ),
        ]);
        let mut c = val_to_cval(&ty, &v).unwrap();
        assert_eq!(c.kind, KILN_CVAL_RECORD);
        // SAFETY: `c` is an owned value built just now.
        unsafe {
            let fields = std::slice::from_raw_parts(c.of.list.ptr, c.of.list.len);
            assert_eq!(fields[0].of.string.len, "kiln ✓".len());
            assert_eq!(*fields[0].of.string.ptr.add(fields[0].of.string.len), 0);
            assert_eq!(fields[4].of.flags.len, 2);
            assert_eq!(*fields[4].of.flags.words.add(1), 1 << 7);
            assert_eq!(cval_to_val(&ty, &c).unwrap(), v);
            cval_free(&mut c);
        }
        assert_eq!(c.kind, KILN_CVAL_BOOL);
        let v = Val::Variant("b".into(), None);
        let vt = match &ty {
            T::Record(f) => f[2].ty.clone(),
            _ => unreachable!(),
        };
        let mut c = val_to_cval(&vt, &v).unwrap();
        // SAFETY: as above.
        unsafe {
            assert!(c.of.variant.payload.is_null());
            assert_eq!(cval_to_val(&vt, &c).unwrap(), v);
            cval_free(&mut c);
        }
    }

    #[test]
    fn bad_c_values_are_errors() {
        let bad = |ty: &T, c: kiln_cval_t| {
            // SAFETY: every pointer in the values below is valid or NULL with length 0.
            unsafe { cval_to_val(ty, &c) }.unwrap_err().to_string()
        };
        let mut c = cval_zero();
        assert!(bad(&T::U32, c).contains("kind bool"));
        c.kind = KILN_CVAL_CHAR;
        c.of.character = 0xd800;
        assert!(bad(&T::Char, c).contains("not a Unicode scalar value"));
        c.kind = KILN_CVAL_ENUM;
        c.of.enumeration = 2;
        assert!(bad(&T::Enum(vec!["a".into(), "b".into()]), c).contains("out of range"));
        let opt = T::Option(Box::new(T::U8));
        c.kind = KILN_CVAL_OPTION;
        c.of.variant = kiln_cval_variant_t {
            tag: 1,
            payload: std::ptr::null_mut(),
        };
        assert!(bad(&opt, c).contains("needs a payload"));
        c.of.variant.tag = 2;
        assert!(bad(&opt, c).contains("out of range"));
        c.kind = KILN_CVAL_TUPLE;
        c.of.list = kiln_cval_list_t {
            ptr: std::ptr::null_mut(),
            len: 0,
        };
        assert!(bad(&T::Tuple(vec![T::U8]), c).contains("needs 1 members"));
        c.kind = KILN_CVAL_STRING;
        c.of.string = kiln_cval_string_t {
            ptr: std::ptr::null_mut(),
            len: 3,
        };
        assert!(bad(&T::String, c).contains("NULL"));
        let bytes = [0xffu8, 0xfe];
        c.of.string = kiln_cval_string_t {
            ptr: bytes.as_ptr() as *mut c_char,
            len: 2,
        };
        assert!(bad(&T::String, c).contains("UTF-8"));
        assert!(val_to_cval(&T::U8, &Val::U32(1)).is_err());
        assert!(val_to_cval(&T::Enum(vec!["a".into()]), &Val::Enum("z".into())).is_err());
    }

    #[test]
    fn c_helpers() {
        // SAFETY: the helpers' own contract; NULL is allowed where documented.
        unsafe {
            assert!(kiln_cval_alloc(0).is_null());
            assert!(kiln_cval_alloc(usize::MAX).is_null());
            let mut v = cval_zero();
            v.kind = KILN_CVAL_LIST;
            v.of.list = kiln_cval_list_t {
                ptr: kiln_cval_alloc(2),
                len: 2,
            };
            let e = kiln_cval_set_string(v.of.list.ptr, c"hi".as_ptr(), 2);
            assert!(e.is_null());
            assert_eq!((*v.of.list.ptr.add(1)).kind, KILN_CVAL_BOOL);
            kiln_cval_delete(&mut v);
            kiln_cval_delete(std::ptr::null_mut());
            let e = kiln_cval_set_string(std::ptr::null_mut(), c"x".as_ptr(), 1);
            assert!(!e.is_null());
            super::super::error::kiln_error_delete(e);
        }
    }
}

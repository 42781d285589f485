//! Dynamic component values ([`Val`]) and their conversion to and from the host C
//! representation (`kiln_environ::component::host`) that the compiled glue reads and writes.
//!
//! Conversion here is generic (driven by the [`InterfaceType`]); it only touches host memory.
//! Everything that touches guest memory (validation, transcoding, bounds) is the compiled
//! glue's job.

use super::arena::{out_of_memory, HostValueBudget};
use crate::error::Error;
use kiln_environ::component::abi::align_to;
use kiln_environ::component::host::{host_field_offsets, host_layout, host_payload_offset};
use kiln_environ::component::InterfaceType as T;

/// A component-level value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// `bool`
    Bool(bool),
    /// `s8`
    S8(i8),
    /// `u8`
    U8(u8),
    /// `s16`
    S16(i16),
    /// `u16`
    U16(u16),
    /// `s32`
    S32(i32),
    /// `u32`
    U32(u32),
    /// `s64`
    S64(i64),
    /// `u64`
    U64(u64),
    /// `f32`
    Float32(f32),
    /// `f64`
    Float64(f64),
    /// `char`
    Char(char),
    /// `string`
    String(String),
    /// `list<T>`, and `list<T, N>` (exactly `N` elements)
    List(Vec<Val>),
    /// `map<K, V>`: entries in order (duplicate keys are kept, as the canonical ABI keeps
    /// them)
    Map(Vec<(Val, Val)>),
    /// `record`: fields in declaration order, with their names.
    Record(Vec<(String, Val)>),
    /// `tuple`
    Tuple(Vec<Val>),
    /// `variant`: the case name and its payload.
    Variant(String, Option<Box<Val>>),
    /// `enum`: the case name.
    Enum(String),
    /// `option<T>`
    Option(Option<Box<Val>>),
    /// `result<T, E>`
    Result(Result<Option<Box<Val>>, Option<Box<Val>>>),
    /// `flags`: the names of the set flags.
    Flags(Vec<String>),
    /// `own<R>`: a handle index (not supported by calls yet).
    Own(u32),
    /// `borrow<R>`: a handle index (not supported by calls yet).
    Borrow(u32),
    /// `stream<T>` passed between a host function and the guest: the readable end, held by
    /// the runtime until it is claimed (`HostCx::stream_to_host`) or handed to the guest.
    Stream(u32),
    /// `future<T>` passed between a host function and the guest, like [`Val::Stream`].
    Future(u32),
}

fn mismatch(ty: &T, v: &Val) -> Error {
    Error::Other(format!(
        "type mismatch: expected a value of type {ty}, got {v:?}"
    ))
}

/// A host buffer with 8-byte alignment that keeps the out-of-line data (string bytes, list
/// elements) of what was encoded into it alive.
#[derive(Default)]
pub struct HostBuffer {
    /// The inline bytes.
    pub words: Vec<u64>,
    keep: Vec<Vec<u64>>,
}

impl HostBuffer {
    /// A zeroed buffer of at least `size` bytes.
    pub fn zeroed(size: u32) -> HostBuffer {
        HostBuffer {
            words: vec![0; (size as usize).div_ceil(8).max(1)],
            keep: Vec::new(),
        }
    }

    /// The inline bytes.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.words.len() * 8;
        // SAFETY: a `[u64]` is valid as `len` bytes; the borrow is unique.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), len) }
    }

    /// Encodes the tuple of `vals` typed `tys` (a C struct of the values in order).
    pub fn encode_all(tys: &[&T], vals: &[Val]) -> Result<HostBuffer, Error> {
        let tuple = T::Tuple(tys.iter().map(|t| (*t).clone()).collect());
        let mut buf = HostBuffer::zeroed(host_layout(&tuple).size);
        let mut keep = Vec::new();
        let offs = host_field_offsets(&tuple);
        for ((t, v), o) in tys.iter().zip(vals).zip(offs) {
            encode(t, v, &mut buf.bytes_mut()[o as usize..], &mut keep)?;
        }
        buf.keep = keep;
        Ok(buf)
    }
}

/// The little-endian bytes (and their count) of scalar `v` of type `ty` (`bool`, an integer,
/// a float, `char`), laid out alike in guest memory and the host C representation; `None` for
/// other types, or a value of another type.
pub(crate) fn scalar_le(ty: &T, v: &Val) -> Option<([u8; 8], usize)> {
    fn le<const N: usize>(b: [u8; N]) -> Option<([u8; 8], usize)> {
        let mut out = [0u8; 8];
        out[..N].copy_from_slice(&b);
        Some((out, N))
    }
    match (ty, v) {
        (T::Bool, Val::Bool(b)) => le([u8::from(*b)]),
        (T::S8, Val::S8(x)) => le(x.to_le_bytes()),
        (T::U8, Val::U8(x)) => le(x.to_le_bytes()),
        (T::S16, Val::S16(x)) => le(x.to_le_bytes()),
        (T::U16, Val::U16(x)) => le(x.to_le_bytes()),
        (T::S32, Val::S32(x)) => le(x.to_le_bytes()),
        (T::U32, Val::U32(x)) => le(x.to_le_bytes()),
        (T::S64, Val::S64(x)) => le(x.to_le_bytes()),
        (T::U64, Val::U64(x)) => le(x.to_le_bytes()),
        (T::F32, Val::Float32(x)) => le(x.to_le_bytes()),
        (T::F64, Val::Float64(x)) => le(x.to_le_bytes()),
        (T::Char, Val::Char(c)) => le((*c as u32).to_le_bytes()),
        _ => None,
    }
}

fn put(out: &mut [u8], bytes: &[u8]) -> Result<(), Error> {
    out.get_mut(..bytes.len())
        .ok_or_else(|| Error::Other("internal error: host buffer too small".into()))?
        .copy_from_slice(bytes);
    Ok(())
}

fn sub(out: &mut [u8], at: u32) -> Result<&mut [u8], Error> {
    out.get_mut(at as usize..)
        .ok_or_else(|| Error::Other("internal error: host buffer too small".into()))
}

/// Writes the host representation of `v` (type `ty`) at the start of `out`; out-of-line data
/// goes into new allocations pushed on `keep`.
pub fn encode(ty: &T, v: &Val, out: &mut [u8], keep: &mut Vec<Vec<u64>>) -> Result<(), Error> {
    if let Some((bytes, n)) = scalar_le(ty, v) {
        return put(out, &bytes[..n]);
    }
    match (ty, v) {
        (T::Own(_), Val::Own(h)) | (T::Borrow(_), Val::Borrow(h)) => put(out, &h.to_le_bytes()),
        (T::Stream(_), Val::Stream(id)) | (T::Future(_), Val::Future(id)) => {
            put(out, &id.to_le_bytes())
        }
        (T::String, Val::String(s)) => {
            let mut data = vec![0u64; s.len().div_ceil(8).max(1)];
            // SAFETY: `data` has at least `s.len()` bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(s.as_ptr(), data.as_mut_ptr().cast::<u8>(), s.len())
            };
            let p = data.as_ptr() as u64;
            keep.push(data);
            put(out, &p.to_le_bytes())?;
            put(sub(out, 8)?, &(s.len() as u64).to_le_bytes())
        }
        (T::List(elem), Val::List(items)) => {
            let l = host_layout(elem);
            let size = l.size as usize * items.len();
            let mut data = HostBuffer::zeroed(size as u32);
            for (i, it) in items.iter().enumerate() {
                encode(elem, it, sub(data.bytes_mut(), l.size * i as u32)?, keep)?;
            }
            let p = data.words.as_ptr() as u64;
            keep.push(data.words);
            put(out, &p.to_le_bytes())?;
            put(sub(out, 8)?, &(items.len() as u64).to_le_bytes())
        }
        (T::Map(k, v_ty), Val::Map(entries)) => {
            let entry = T::Tuple(vec![(**k).clone(), (**v_ty).clone()]);
            let l = host_layout(&entry);
            let offs = host_field_offsets(&entry);
            let mut data = HostBuffer::zeroed(l.size.saturating_mul(entries.len() as u32));
            for (i, (key, val)) in entries.iter().enumerate() {
                let at = sub(data.bytes_mut(), l.size * i as u32)?;
                encode(k, key, sub(at, offs[0])?, keep)?;
                encode(v_ty, val, sub(at, offs[1])?, keep)?;
            }
            let p = data.words.as_ptr() as u64;
            keep.push(data.words);
            put(out, &p.to_le_bytes())?;
            put(sub(out, 8)?, &(entries.len() as u64).to_le_bytes())
        }
        // A map given as the list of its (key, value) tuples.
        (T::Map(k, v_ty), Val::List(items)) => {
            let entries = items
                .iter()
                .map(|it| match it {
                    Val::Tuple(kv) if kv.len() == 2 => Ok((kv[0].clone(), kv[1].clone())),
                    _ => Err(mismatch(ty, v)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let map = T::Map(k.clone(), v_ty.clone());
            encode(&map, &Val::Map(entries), out, keep)
        }
        (T::FixedList(elem, n), Val::List(items)) => {
            if items.len() != *n as usize {
                return Err(Error::Other(format!(
                    "a list<{elem}, {n}> needs {n} elements, got {}",
                    items.len()
                )));
            }
            let size = host_layout(elem).size;
            for (i, it) in items.iter().enumerate() {
                encode(elem, it, sub(out, size * i as u32)?, keep)?;
            }
            Ok(())
        }
        (T::Record(fields), Val::Record(vals)) => {
            if fields.len() != vals.len() {
                return Err(mismatch(ty, v));
            }
            for ((f, (name, val)), o) in fields.iter().zip(vals).zip(host_field_offsets(ty)) {
                if f.name != *name {
                    return Err(Error::Other(format!(
                        "record field `{name}` given where `{}` was expected",
                        f.name
                    )));
                }
                encode(&f.ty, val, sub(out, o)?, keep)?;
            }
            Ok(())
        }
        (T::Tuple(tys), Val::Tuple(vals)) if tys.len() == vals.len() => {
            for ((t, val), o) in tys.iter().zip(vals).zip(host_field_offsets(ty)) {
                encode(t, val, sub(out, o)?, keep)?;
            }
            Ok(())
        }
        (T::Enum(labels), Val::Enum(name)) => {
            let i = labels
                .iter()
                .position(|l| l == name)
                .ok_or_else(|| mismatch(ty, v))?;
            put(out, &(i as u32).to_le_bytes())
        }
        (T::Flags(labels), Val::Flags(set)) => {
            // The words are built by or-ing bits in: clear them first, `out` may be an
            // uninitialised buffer (an import trampoline's result area on its stack).
            for w in 0..labels.len().div_ceil(32) {
                put(sub(out, 4 * w as u32)?, &[0; 4])?;
            }
            for name in set {
                let i = labels
                    .iter()
                    .position(|l| l == name)
                    .ok_or_else(|| Error::Other(format!("unknown flag `{name}`")))?;
                let w = sub(out, 4 * (i as u32 / 32))?;
                let mut word = [0u8; 4];
                word.copy_from_slice(&w[..4]);
                let word = u32::from_le_bytes(word) | 1 << (i % 32);
                put(w, &word.to_le_bytes())?;
            }
            Ok(())
        }
        (T::Option(t), Val::Option(o)) => {
            put(out, &[o.is_some() as u8])?;
            match o {
                Some(x) => encode(t, x, sub(out, host_payload_offset(ty).unwrap_or(0))?, keep),
                None => Ok(()),
            }
        }
        (T::Result { ok, err }, Val::Result(r)) => {
            let (tag, t, x) = match r {
                Ok(x) => (0u32, ok, x),
                Err(x) => (1u32, err, x),
            };
            put(out, &tag.to_le_bytes())?;
            match (t, x) {
                (Some(t), Some(x)) => {
                    encode(t, x, sub(out, host_payload_offset(ty).unwrap_or(0))?, keep)
                }
                (None, None) => Ok(()),
                _ => Err(mismatch(ty, v)),
            }
        }
        (T::Variant(cases), Val::Variant(name, payload)) => {
            let i = cases
                .iter()
                .position(|c| c.name == *name)
                .ok_or_else(|| mismatch(ty, v))?;
            put(out, &(i as u32).to_le_bytes())?;
            match (&cases[i].ty, payload) {
                (Some(t), Some(x)) => {
                    encode(t, x, sub(out, host_payload_offset(ty).unwrap_or(0))?, keep)
                }
                (None, None) => Ok(()),
                _ => Err(mismatch(ty, v)),
            }
        }
        _ => Err(mismatch(ty, v)),
    }
}

fn get<const N: usize>(b: &[u8], at: u32) -> Result<[u8; N], Error> {
    b.get(at as usize..at as usize + N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| Error::Other("internal error: host result buffer too small".into()))
}

/// Reads a host `{ ptr, len }` slice of `elem_size`-byte elements.
///
/// # Safety
/// The pointer must be valid for `len * elem_size` bytes (the glue guarantees it until
/// post-return).
unsafe fn slice_at(b: &[u8], at: u32, elem_size: usize) -> Result<&[u8], Error> {
    let p = u64::from_le_bytes(get::<8>(b, at)?) as usize;
    let n = u64::from_le_bytes(get::<8>(b, at + 8)?) as usize;
    let bytes = n
        .checked_mul(elem_size)
        .ok_or_else(|| Error::Other("host slice too long".into()))?;
    if bytes == 0 {
        return Ok(&[]);
    }
    // SAFETY: caller contract.
    Ok(unsafe { std::slice::from_raw_parts(p as *const u8, bytes) })
}

/// Reads the host representation of a value of `ty` at the start of `b`, within the default
/// [`HostValueBudget`].
///
/// # Safety
/// Slices inside must point at live memory (the glue's results, before post-return).
pub unsafe fn decode(ty: &T, b: &[u8]) -> Result<Val, Error> {
    // SAFETY: forwarded contract.
    unsafe { decode_within(ty, b, &mut HostValueBudget::default()) }
}

/// Every 4096 items of a long list, the store's epoch deadline (when this runs inside a call:
/// the arguments of a host function): lifting a long list is interrupted like guest code.
fn deadline_check(i: usize) -> Result<(), Error> {
    if i % 4096 == 4095 {
        crate::store::check_deadline().map_err(Error::Trap)?;
    }
    Ok(())
}

/// A vector with room for `n` items, charged to `budget` first: a guest-chosen count never
/// reaches the allocator unchecked, and an allocation failure is a trap.
fn reserve<X>(n: usize, budget: &mut HostValueBudget) -> Result<Vec<X>, Error> {
    budget.charge_items(n as u64, std::mem::size_of::<X>())?;
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| out_of_memory((n as u64).saturating_mul(std::mem::size_of::<X>() as u64)))?;
    Ok(v)
}

/// A copy of `name` (a case or field name of the type), charged to `budget`.
fn name(n: &str, budget: &mut HostValueBudget) -> Result<String, Error> {
    budget.charge(n.len() as u64 + std::mem::size_of::<String>() as u64)?;
    Ok(n.to_string())
}

/// [`decode`] charging every host byte of the value to `budget` before allocating it (a trap
/// when it would be exceeded).
///
/// # Safety
/// As [`decode`].
pub unsafe fn decode_within(ty: &T, b: &[u8], budget: &mut HostValueBudget) -> Result<Val, Error> {
    Ok(match ty {
        T::Bool => Val::Bool(get::<1>(b, 0)?[0] != 0),
        T::S8 => Val::S8(i8::from_le_bytes(get(b, 0)?)),
        T::U8 => Val::U8(u8::from_le_bytes(get(b, 0)?)),
        T::S16 => Val::S16(i16::from_le_bytes(get(b, 0)?)),
        T::U16 => Val::U16(u16::from_le_bytes(get(b, 0)?)),
        T::S32 => Val::S32(i32::from_le_bytes(get(b, 0)?)),
        T::U32 => Val::U32(u32::from_le_bytes(get(b, 0)?)),
        T::S64 => Val::S64(i64::from_le_bytes(get(b, 0)?)),
        T::U64 => Val::U64(u64::from_le_bytes(get(b, 0)?)),
        T::F32 => Val::Float32(f32::from_le_bytes(get(b, 0)?)),
        T::F64 => Val::Float64(f64::from_le_bytes(get(b, 0)?)),
        T::Char => {
            let c = u32::from_le_bytes(get(b, 0)?);
            Val::Char(char::from_u32(c).ok_or_else(|| Error::Other("invalid char".into()))?)
        }
        T::Own(_) => Val::Own(u32::from_le_bytes(get(b, 0)?)),
        T::Borrow(_) => Val::Borrow(u32::from_le_bytes(get(b, 0)?)),
        T::Stream(_) => Val::Stream(u32::from_le_bytes(get(b, 0)?)),
        T::Future(_) => Val::Future(u32::from_le_bytes(get(b, 0)?)),
        T::String => {
            // SAFETY: forwarded contract.
            let s = unsafe { slice_at(b, 0, 1)? };
            let s = std::str::from_utf8(s)
                .map_err(|_| Error::Other("glue produced invalid utf-8".into()))?;
            let mut out = reserve::<u8>(s.len(), budget)?;
            out.extend_from_slice(s.as_bytes());
            Val::String(String::from_utf8(out).unwrap_or_default())
        }
        T::List(elem) => {
            let size = host_layout(elem).size as usize;
            let n = u64::from_le_bytes(get::<8>(b, 8)?) as usize;
            // SAFETY: forwarded contract.
            let data = unsafe { slice_at(b, 0, size)? };
            let mut items = reserve::<Val>(n, budget)?;
            for i in 0..n {
                deadline_check(i)?;
                let at = i * size;
                // SAFETY: forwarded contract.
                items.push(unsafe { decode_within(elem, data.get(at..).unwrap_or(&[]), budget)? });
            }
            Val::List(items)
        }
        T::Map(k, v) => {
            let entry = T::Tuple(vec![(**k).clone(), (**v).clone()]);
            let size = host_layout(&entry).size as usize;
            let offs = host_field_offsets(&entry);
            let n = u64::from_le_bytes(get::<8>(b, 8)?) as usize;
            // SAFETY: forwarded contract.
            let data = unsafe { slice_at(b, 0, size)? };
            let mut entries = reserve::<(Val, Val)>(n, budget)?;
            for i in 0..n {
                deadline_check(i)?;
                let at = data.get(i * size..).unwrap_or(&[]);
                // SAFETY: forwarded contract.
                let key =
                    unsafe { decode_within(k, at.get(offs[0] as usize..).unwrap_or(&[]), budget)? };
                // SAFETY: forwarded contract.
                let val =
                    unsafe { decode_within(v, at.get(offs[1] as usize..).unwrap_or(&[]), budget)? };
                entries.push((key, val));
            }
            Val::Map(entries)
        }
        T::FixedList(elem, n) => {
            let size = host_layout(elem).size as usize;
            let mut items = reserve::<Val>(*n as usize, budget)?;
            for i in 0..*n as usize {
                // SAFETY: forwarded contract.
                items.push(unsafe {
                    decode_within(elem, b.get(i * size..).unwrap_or(&[]), budget)?
                });
            }
            Val::List(items)
        }
        T::ErrorContext => {
            return Err(Error::Other(format!(
                "{ty} values cannot be passed to or from the host yet"
            )))
        }
        T::Record(fields) => {
            let mut out = reserve::<(String, Val)>(fields.len(), budget)?;
            for (f, o) in fields.iter().zip(host_field_offsets(ty)) {
                // SAFETY: forwarded contract.
                let v =
                    unsafe { decode_within(&f.ty, b.get(o as usize..).unwrap_or(&[]), budget)? };
                out.push((name(&f.name, budget)?, v));
            }
            Val::Record(out)
        }
        T::Tuple(tys) => {
            let mut out = reserve::<Val>(tys.len(), budget)?;
            for (t, o) in tys.iter().zip(host_field_offsets(ty)) {
                // SAFETY: forwarded contract.
                out.push(unsafe { decode_within(t, b.get(o as usize..).unwrap_or(&[]), budget)? });
            }
            Val::Tuple(out)
        }
        T::Enum(labels) => {
            let i = u32::from_le_bytes(get(b, 0)?) as usize;
            let label = labels
                .get(i)
                .ok_or_else(|| Error::Other("enum case out of range".into()))?;
            Val::Enum(name(label, budget)?)
        }
        T::Flags(labels) => {
            let mut set = Vec::new();
            for (i, l) in labels.iter().enumerate() {
                let w = u32::from_le_bytes(get(b, 4 * (i as u32 / 32))?);
                if w & (1 << (i % 32)) != 0 {
                    set.push(name(l, budget)?);
                }
            }
            Val::Flags(set)
        }
        T::Option(_) | T::Result { .. } | T::Variant(_) => {
            let tag = if matches!(ty, T::Option(_)) {
                u32::from(get::<1>(b, 0)?[0])
            } else {
                u32::from_le_bytes(get(b, 0)?)
            };
            let cases = ty.variant_cases().unwrap_or_default();
            let case = cases
                .get(tag as usize)
                .ok_or_else(|| Error::Other("variant case out of range".into()))?;
            let pay = host_payload_offset(ty).unwrap_or(0) as usize;
            let payload = match case {
                // SAFETY: forwarded contract.
                Some(ct) => {
                    budget.charge(std::mem::size_of::<Val>() as u64)?;
                    Some(Box::new(unsafe {
                        decode_within(ct, b.get(pay..).unwrap_or(&[]), budget)?
                    }))
                }
                None => None,
            };
            match ty {
                T::Option(_) if tag == 0 => Val::Option(None),
                T::Option(_) => Val::Option(payload),
                T::Result { .. } if tag == 0 => Val::Result(Ok(payload)),
                T::Result { .. } => Val::Result(Err(payload)),
                T::Variant(cs) => Val::Variant(name(&cs[tag as usize].name, budget)?, payload),
                _ => unreachable!("matched above"),
            }
        }
    })
}

/// Size in bytes of a host buffer able to hold a value of `ty` (at least 8).
pub fn host_size(ty: &T) -> u32 {
    align_to(host_layout(ty).size.max(8), 8)
}

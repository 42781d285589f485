//! The two sides of a host function call over the host C representation
//! (`kiln_environ::component::host`): [`HostArgs`] reads the arguments struct the import
//! trampoline lifted (strings and byte lists pointing into guest memory, validated, not
//! copied), [`HostResult`] writes the result struct the trampoline lowers into the guest.
//!
//! The typed accessors ([`HostArgs::bytes`], [`HostArgs::str`], [`HostArgs::get`],
//! [`HostResult::set_bytes`], [`HostResult::set_ok_bytes`]) touch only what they return; the
//! dynamic ones ([`HostArgs::vals`], [`HostResult::set`]) build or read [`Val`] trees, charged
//! to the call's host value budget (`arena.rs`) before anything is allocated.

use super::arena::{out_of_memory, remaining_budget};
use super::host_check::check_host_result;
use super::typed::Lift;
use super::values::{decode_within, encode, Val};
use crate::error::{Error, Trap};
use kiln_environ::component::host::{host_field_offsets, host_layout, host_payload_offset};
use kiln_environ::component::{ComponentFuncType, InterfaceType as T};

fn to_trap(e: Error) -> Trap {
    match e {
        Error::Trap(t) => t,
        other => Trap::host(other.to_string()),
    }
}

/// The arguments of one host import call, in the host C representation.
pub struct HostArgs<'a> {
    ty: &'a ComponentFuncType,
    offsets: &'a [u32],
    base: *const u8,
}

impl<'a> HostArgs<'a> {
    /// The arguments struct at `base` of a function of type `ty` (parameter offsets
    /// `offsets`).
    ///
    /// # Safety
    /// `base` holds the host struct of `ty`'s parameters (unused when there are none), every
    /// slice in it valid for its length while `'a` lasts.
    pub(super) unsafe fn new(
        ty: &'a ComponentFuncType,
        offsets: &'a [u32],
        base: *const u8,
    ) -> Self {
        HostArgs { ty, offsets, base }
    }

    /// The component function type of the import.
    pub fn ty(&self) -> &ComponentFuncType {
        self.ty
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.ty.params.len()
    }

    /// Whether the function has no parameters.
    pub fn is_empty(&self) -> bool {
        self.ty.params.is_empty()
    }

    /// The address of the arguments struct (for hosts that read it themselves, like the C
    /// API's raw callbacks).
    pub fn as_ptr(&self) -> *const u8 {
        self.base
    }

    /// Parameter `i`: its type and the address of its host representation.
    fn param(&self, i: usize) -> Result<(&'a T, *const u8), Trap> {
        let (_, t) = self.ty.params.get(i).ok_or_else(|| {
            Trap::host(format!(
                "argument {i} of a function with {} parameters",
                self.ty.params.len()
            ))
        })?;
        let off = self.offsets.get(i).copied().unwrap_or(0) as usize;
        // SAFETY: the offset of parameter `i` inside the arguments struct (`new`'s contract).
        Ok((t, unsafe { self.base.add(off) }))
    }

    /// Reads a host `{ ptr, len }` slice of `elem`-byte elements at `at`.
    ///
    /// # Safety
    /// `at` is the address of a host string or list of the arguments struct.
    unsafe fn slice(at: *const u8, elem: usize) -> &'a [u8] {
        // SAFETY: caller contract: 16 readable bytes, a pointer valid for `len` elements.
        unsafe {
            let p = at.cast::<u64>().read_unaligned() as usize as *const u8;
            let n = at.add(8).cast::<u64>().read_unaligned() as usize;
            if n == 0 {
                return &[];
            }
            std::slice::from_raw_parts(p, n * elem)
        }
    }

    /// Argument `i`, a `list<u8>`, as the bytes in guest memory (no copy). Valid until the
    /// host function returns; guest code the host function runs may change them.
    pub fn bytes(&self, i: usize) -> Result<&'a [u8], Trap> {
        let (t, at) = self.param(i)?;
        match t {
            // SAFETY: a host `list<u8>` is a `{ ptr, len }` slice into validated guest memory.
            T::List(e) if matches!(**e, T::U8) => Ok(unsafe { Self::slice(at, 1) }),
            other => Err(Trap::host(format!(
                "argument {i} is a {other}, not a list<u8>"
            ))),
        }
    }

    /// Argument `i`, a `string`, in place (UTF-8, validated by the glue; transcoded strings
    /// live in the call's arena).
    pub fn str(&self, i: usize) -> Result<&'a str, Trap> {
        let (t, at) = self.param(i)?;
        if !matches!(t, T::String) {
            return Err(Trap::host(format!("argument {i} is a {t}, not a string")));
        }
        // SAFETY: a host string is a `{ ptr, len }` slice of UTF-8 the glue validated.
        let b = unsafe { Self::slice(at, 1) };
        std::str::from_utf8(b).map_err(|_| Trap::host("glue produced invalid UTF-8"))
    }

    /// Argument `i` as the typed Rust value `V` (type-checked against the parameter).
    pub fn get<V: Lift>(&self, i: usize) -> Result<V, Trap> {
        let (t, at) = self.param(i)?;
        V::typecheck(t).map_err(to_trap)?;
        // SAFETY: the host representation of a value of the type `V` accepted.
        unsafe { V::load(at) }.map_err(to_trap)
    }

    /// Argument `i` as a dynamic value (charged to the call's host value budget).
    pub fn val(&self, i: usize) -> Result<Val, Trap> {
        let (t, at) = self.param(i)?;
        let mut budget = remaining_budget();
        let size = host_layout(t).size as usize;
        // SAFETY: the parameter's host representation, `size` bytes (`new`'s contract).
        let bytes = unsafe { std::slice::from_raw_parts(at, size) };
        // SAFETY: its slices are valid (`new`'s contract).
        unsafe { decode_within(t, bytes, &mut budget) }.map_err(to_trap)
    }

    /// Every argument as a dynamic value, charged together to the call's host value budget
    /// (a trap, with nothing allocated past the budget, when they would exceed it).
    pub fn vals(&self) -> Result<Vec<Val>, Trap> {
        let mut budget = remaining_budget();
        let mut out = Vec::with_capacity(self.len());
        for i in 0..self.len() {
            let (t, at) = self.param(i)?;
            let size = host_layout(t).size as usize;
            // SAFETY: as in `val`.
            let bytes = unsafe { std::slice::from_raw_parts(at, size) };
            // SAFETY: as in `val`.
            out.push(unsafe { decode_within(t, bytes, &mut budget) }.map_err(to_trap)?);
        }
        Ok(out)
    }
}

/// The result of one host import call, written in the host C representation; out-of-line data
/// lives until the trampoline has lowered it into the guest.
pub struct HostResult<'a> {
    ty: Option<&'a T>,
    base: *mut u8,
    keep: Vec<Vec<u64>>,
    set: bool,
    /// Written through [`HostResult::as_mut_ptr`]: checked before the guest gets it.
    raw: bool,
}

impl<'a> HostResult<'a> {
    /// The result struct at `base` of a function with result type `ty`.
    ///
    /// # Safety
    /// `base` has room for the host representation of `ty` (unused when `None`).
    pub(super) unsafe fn new(ty: Option<&'a T>, base: *mut u8) -> Self {
        HostResult {
            ty,
            base,
            keep: Vec::new(),
            set: false,
            raw: false,
        }
    }

    /// The result type (`None` for a function without result).
    pub fn ty(&self) -> Option<&T> {
        self.ty
    }

    /// The result struct, zeroed, for hosts that write it themselves (marks the result
    /// written: its slices must stay valid until the guest has it, e.g. in blocks given to
    /// [`HostResult::keep`]).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        if let Some(t) = self.ty {
            self.buf(t).fill(0);
        }
        self.set = true;
        self.raw = true;
        self.base
    }

    /// Keeps `block` (which the result points into) alive until the guest has the result.
    pub fn keep(&mut self, block: Vec<u64>) {
        self.keep.push(block);
    }

    /// The result struct as bytes.
    fn buf(&mut self, ty: &T) -> &mut [u8] {
        let size = host_layout(ty).size as usize;
        // SAFETY: `new`'s contract: room for the host representation of `ty`.
        unsafe { std::slice::from_raw_parts_mut(self.base, size) }
    }

    /// Sets the result to the dynamic value `v` (`None` for a function without result).
    pub fn set(&mut self, v: Option<Val>) -> Result<(), Trap> {
        match (self.ty, v) {
            (None, None) => {}
            (Some(rt), Some(v)) => {
                let mut keep = Vec::new();
                encode(rt, &v, self.buf(rt), &mut keep)
                    .map_err(|e| Trap::host(format!("host function result: {e}")))?;
                self.keep.append(&mut keep);
            }
            (Some(rt), None) => {
                return Err(Trap::host(format!(
                    "host function returned nothing, expected a value of type {rt}"
                )))
            }
            (None, Some(_)) => {
                return Err(Trap::host(
                    "host function returned a value for a function without result",
                ))
            }
        }
        self.set = true;
        Ok(())
    }

    /// Copies `bytes` into a block kept until the guest has the result; returns its address.
    fn keep_bytes(&mut self, bytes: &[u8]) -> Result<u64, Trap> {
        let words = bytes.len().div_ceil(8);
        let mut block: Vec<u64> = Vec::new();
        block
            .try_reserve_exact(words)
            .map_err(|_| out_of_memory(bytes.len() as u64))?;
        block.resize(words, 0);
        // SAFETY: the block has room for `bytes.len()` bytes and does not overlap `bytes`.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), block.as_mut_ptr().cast(), bytes.len())
        };
        let p = block.as_ptr() as u64;
        // Moving the `Vec` keeps its heap buffer (and `p`) in place.
        self.keep.push(block);
        Ok(p)
    }

    /// Writes a host `list<u8>` of `bytes` at offset `at` of the result struct.
    fn put_bytes(&mut self, ty: &T, at: usize, bytes: &[u8]) -> Result<(), Trap> {
        let p = self.keep_bytes(bytes)?;
        let buf = self.buf(ty);
        buf[at..at + 8].copy_from_slice(&p.to_ne_bytes());
        buf[at + 8..at + 16].copy_from_slice(&(bytes.len() as u64).to_ne_bytes());
        Ok(())
    }

    /// Sets a `list<u8>` result to `bytes` (copied once, no [`Val`] per byte).
    pub fn set_bytes(&mut self, bytes: &[u8]) -> Result<(), Trap> {
        let ty = self
            .ty
            .ok_or_else(|| Trap::host("the function has no result"))?;
        if !is_bytes(ty) {
            return Err(Trap::host(format!("the result is a {ty}, not a list<u8>")));
        }
        self.put_bytes(ty, 0, bytes)?;
        self.set = true;
        Ok(())
    }

    /// Sets a `result<list<u8>, E>` result to `ok(bytes)`, or a
    /// `result<tuple<list<u8>, bool>, E>` one to `ok((bytes, flag))` (`flag` given).
    pub fn set_ok_bytes(&mut self, bytes: &[u8], flag: Option<bool>) -> Result<(), Trap> {
        let ty = self
            .ty
            .ok_or_else(|| Trap::host("the function has no result"))?;
        let (T::Result { ok: Some(ok), .. }, Some(pay)) = (ty, host_payload_offset(ty)) else {
            return Err(Trap::host(format!("the result is a {ty}, not a result")));
        };
        let pay = pay as usize;
        let list_at = match (&**ok, flag) {
            (t, None) if is_bytes(t) => pay,
            (T::Tuple(ts), Some(f)) if ts.len() == 2 && is_bytes(&ts[0]) && ts[1] == T::Bool => {
                let offs = host_field_offsets(ok);
                self.buf(ty)[pay + offs[1] as usize] = u8::from(f);
                pay + offs[0] as usize
            }
            _ => {
                return Err(Trap::host(format!(
                    "the result is a {ty}, not a result of a list<u8>"
                )))
            }
        };
        self.buf(ty)[..4].copy_from_slice(&0u32.to_ne_bytes());
        self.put_bytes(ty, list_at, bytes)?;
        self.set = true;
        Ok(())
    }

    /// Checks that the result was written and hands over the blocks it points at.
    pub(super) fn finish(self) -> Result<Vec<Vec<u64>>, Trap> {
        if let (Some(rt), false) = (self.ty, self.set) {
            return Err(Trap::host(format!(
                "host function returned nothing, expected a value of type {rt}"
            )));
        }
        if let (Some(rt), true) = (self.ty, self.raw) {
            // SAFETY: `new`'s contract: the result struct of `rt` at `base`, which the host
            // function wrote (its slices valid for their lengths, or NULL).
            unsafe { check_host_result(rt, self.base) }
                .map_err(|m| Trap::host(format!("host function result: {m}")))?;
        }
        Ok(self.keep)
    }
}

/// Whether `ty` is `list<u8>`.
fn is_bytes(ty: &T) -> bool {
    matches!(ty, T::List(e) if **e == T::U8)
}

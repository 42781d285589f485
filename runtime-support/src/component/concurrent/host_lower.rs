//! Host values as guest bytes: the canonical ABI memory layout of the elements a host writer
//! ([`super::host_io::HostWriter`]) hands a guest read, and the lowering of elements holding
//! strings.
//!
//! Pointer-free elements are encoded when the host writes them ([`encode_plain`]) and copied
//! into the guest's buffer by the event loop. An element with strings (`directory-entry` of
//! `wasi:filesystem@0.3`, an `error-code` whose type has an `other(option<string>)` case) is
//! kept as a [`Val`] until a guest read takes it: its strings must go into the *reading*
//! guest's memory, in blocks from that read's `realloc`, in its string encoding. `realloc` is
//! guest code, so it never runs under the state lock: the read is recorded as a
//! [`Lowering`] in the state (the end stays in its copy), and [`Shared::run_lowerings`] —
//! called on the store's thread right after the lock is released by `stream.read` /
//! `future.read` or by the event loop after it ran the host's mail — stores the strings,
//! writes the elements and completes the read.

use super::{ObjId, Object, State};
use crate::component::instance::Shared;
use crate::component::values::Val;
use crate::error::Trap;
use kiln_environ::component::abi::{
    discriminant_size, field_offsets, flags_size, layout, payload_offset,
};
use kiln_environ::component::InterfaceType as T;
use std::sync::MutexGuard;

/// Stores one string in the reading guest's memory: (pointer, code units).
type Strings<'a> = dyn FnMut(&str) -> Result<(u32, u32), Trap> + 'a;

/// Writes `v` of pointer-free type `ty` into `out` in canonical ABI memory layout (what a
/// guest reads from a stream or future). Strings, lists and handles are refused: their
/// values would need the reader's allocator or handle table.
pub fn encode_plain(ty: &T, v: &Val, out: &mut [u8]) -> Result<(), Trap> {
    encode_with(ty, v, out, &mut |_| {
        Err(Trap::host(format!(
            "the host cannot write values of type {ty} to a stream or future here (strings \
             are lowered when a guest reads them)"
        )))
    })
}

/// [`encode_plain`], with each string stored by `strings` (its pointer and length written in
/// the element).
pub(crate) fn encode_with(
    ty: &T,
    v: &Val,
    out: &mut [u8],
    strings: &mut Strings<'_>,
) -> Result<(), Trap> {
    let bad = || Trap::host(format!("cannot write {v:?} as a value of type {ty}"));
    let put = |out: &mut [u8], b: &[u8]| -> Result<(), Trap> {
        out.get_mut(..b.len()).ok_or_else(bad)?.copy_from_slice(b);
        Ok(())
    };
    if let Some((bytes, n)) = crate::component::values::scalar_le(ty, v) {
        return put(out, &bytes[..n]);
    }
    match (ty, v) {
        (T::String, Val::String(s)) => {
            let (ptr, units) = strings(s)?;
            put(out, &ptr.to_le_bytes())?;
            put(out.get_mut(4..).ok_or_else(bad)?, &units.to_le_bytes())
        }
        (T::Record(fields), Val::Record(vals)) if fields.len() == vals.len() => {
            for ((f, (_, v)), o) in fields.iter().zip(vals).zip(field_offsets(ty)) {
                encode_with(
                    &f.ty,
                    v,
                    out.get_mut(o as usize..).ok_or_else(bad)?,
                    strings,
                )?;
            }
            Ok(())
        }
        (T::Tuple(tys), Val::Tuple(vals)) if tys.len() == vals.len() => {
            for ((t, v), o) in tys.iter().zip(vals).zip(field_offsets(ty)) {
                encode_with(t, v, out.get_mut(o as usize..).ok_or_else(bad)?, strings)?;
            }
            Ok(())
        }
        (T::Enum(labels), Val::Enum(name)) => {
            let i = labels.iter().position(|l| l == name).ok_or_else(bad)?;
            put_disc(out, labels.len(), i).ok_or_else(bad)
        }
        (T::Flags(labels), Val::Flags(set)) => {
            let mut bits = vec![0u8; flags_size(labels.len()) as usize];
            for name in set {
                let i = labels.iter().position(|l| l == name).ok_or_else(bad)?;
                bits[i / 8] |= 1 << (i % 8);
            }
            put(out, &bits)
        }
        (T::Option(_) | T::Result { .. } | T::Variant(_), _) => {
            let cases = ty.variant_cases().unwrap_or_default();
            let (i, payload) = match (ty, v) {
                (T::Option(_), Val::Option(p)) => (usize::from(p.is_some()), p.as_deref()),
                (T::Result { .. }, Val::Result(Ok(p))) => (0, p.as_deref()),
                (T::Result { .. }, Val::Result(Err(p))) => (1, p.as_deref()),
                (T::Variant(cs), Val::Variant(name, p)) => (
                    cs.iter().position(|c| &c.name == name).ok_or_else(bad)?,
                    p.as_deref(),
                ),
                _ => return Err(bad()),
            };
            put_disc(out, cases.len(), i).ok_or_else(bad)?;
            match (cases.get(i).copied().flatten(), payload) {
                (Some(pt), Some(pv)) => {
                    let at = payload_offset(ty).unwrap_or(0) as usize;
                    encode_with(pt, pv, out.get_mut(at..).ok_or_else(bad)?, strings)
                }
                (None, None) => Ok(()),
                _ => Err(bad()),
            }
        }
        _ => Err(Trap::host(format!(
            "the host cannot write values of type {ty} to a stream or future (only types \
             without lists or handles)"
        ))),
    }
}

fn put_disc(out: &mut [u8], cases: usize, i: usize) -> Option<()> {
    let n = discriminant_size(cases) as usize;
    out.get_mut(..n)?
        .copy_from_slice(&(i as u32).to_le_bytes()[..n]);
    Some(())
}

/// Whether elements of `t` hold no pointers or handles (`strings`: strings allowed).
fn plain(t: &T, strings: bool) -> bool {
    let p = |t: &T| plain(t, strings);
    match t {
        T::String => strings,
        T::List(_)
        | T::Map(..)
        | T::Own(_)
        | T::Borrow(_)
        | T::Stream(_)
        | T::Future(_)
        | T::ErrorContext => false,
        T::Record(fs) => fs.iter().all(|f| p(&f.ty)),
        T::Tuple(ts) => ts.iter().all(p),
        T::FixedList(e, _) | T::Option(e) => p(e),
        T::Result { ok, err } => ok.iter().chain(err).all(|t| p(t)),
        T::Variant(cs) => cs.iter().all(|c| c.ty.as_ref().is_none_or(p)),
        _ => true,
    }
}

/// Whether the host can take elements of `t` as bytes: no pointers or handles in them, or an
/// element that is one `own<R>` handle (the host's side holds its representation).
pub(crate) fn plain_for_host(t: &Option<T>) -> bool {
    matches!(t, Some(T::Own(_))) || t.as_ref().is_none_or(|t| plain(t, false))
}

/// Whether the host can write elements of `t`: those of [`plain_for_host`], and types with
/// strings but no lists or handles (the strings are lowered when a guest reads them).
pub(crate) fn writable_by_host(t: &Option<T>) -> bool {
    plain_for_host(t) || t.as_ref().is_none_or(|t| plain(t, true))
}

/// A guest read that took host-written elements holding strings, to finish outside the lock.
pub(crate) struct Lowering {
    /// The reading end (still in its copy).
    pub(crate) me: ObjId,
    /// Its buffer when the elements were taken.
    pub(crate) buf: super::copy::Buffer,
    /// The element type.
    pub(crate) ty: T,
    /// The elements, in order.
    pub(crate) elems: Vec<Val>,
}

impl Shared {
    /// Runs the posted mail ([`Shared::pump`]), then the lowerings it recorded, with the lock
    /// released around them; returns the state locked again and whether there was mail.
    pub(crate) fn pump_and_lower<'a>(
        &'a self,
        st: MutexGuard<'a, State>,
    ) -> Result<(MutexGuard<'a, State>, bool), Trap> {
        let mut st = st;
        let any = self.pump(&mut st);
        if st.lowerings.is_empty() {
            return Ok((st, any));
        }
        drop(st);
        self.run_lowerings()?;
        Ok((self.concurrent.lock(), any))
    }

    /// Finishes the recorded [`Lowering`]s: stores each element (its strings through the
    /// reader's `realloc`) with the state unlocked, then completes the read. Runs on the
    /// store's thread with the lock not held; a trap (in `realloc`, or a buffer that no
    /// longer fits) is the caller's trap.
    pub(crate) fn run_lowerings(&self) -> Result<(), Trap> {
        loop {
            let jobs = std::mem::take(&mut self.concurrent.lock().lowerings);
            if jobs.is_empty() {
                return Ok(());
            }
            for job in jobs {
                self.lower_elems(&job)?;
                let mut st = self.concurrent.lock();
                // `realloc` is guest code: if it cancelled the read or dropped the end, the
                // elements are lost with it (as a cancelled read's would be).
                let copying = matches!(
                    st.obj(job.me),
                    Some(Object::End(e)) if e.state == super::copy::CopyState::Copying
                );
                if copying {
                    complete(&mut st, job.me, job.elems.len() as u32);
                }
            }
        }
    }

    /// Writes `job`'s elements into its buffer.
    fn lower_elems(&self, job: &Lowering) -> Result<(), Trap> {
        let b = &job.buf;
        let size = layout(&job.ty).size as usize;
        let mut bytes = vec![0u8; size * job.elems.len()];
        for (v, out) in job.elems.iter().zip(bytes.chunks_exact_mut(size.max(1))) {
            encode_with(&job.ty, v, out, &mut |s| {
                self.store_string(b.memory, b.realloc, b.encoding, s, "stream element")
            })?;
        }
        self.write_guest(b, &bytes)
    }
}

/// Completes the read of end `me`: `n` more elements in its buffer.
fn complete(st: &mut State, me: ObjId, n: u32) {
    super::copy::advance(st, me, n);
    super::copy::notify(st, me, super::copy::COMPLETED, false);
}

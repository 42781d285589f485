//! Host-side checks of export-call arguments in the host C representation
//! (`kiln_environ::component::host`), before the compiled glue sees them.
//!
//! The glue validates what it lowers into the guest, but a value it rejects is a *trap*, and a
//! trap inside an export call leaves the instance poisoned (`may_enter` stays clear, as the
//! canonical ABI says). Arguments a C host got wrong are the host's mistake, not the guest's:
//! [`ComponentFunc::check_host_args`] walks the type tree over the host C struct first —
//! strings are UTF-8 with a non-NULL pointer when non-empty, lists have a non-NULL pointer
//! when non-empty, `bool` is 0 or 1, `char` is a Unicode scalar value, enum/variant/result
//! discriminants and option tags are in range, flags set no bit past their labels,
//! resource handles exist in the host handle table with the right type (an own handle passed
//! on is an own handle with no outstanding borrows) — and reports the first mistake as an
//! ordinary error naming the argument, with the instance left usable. A handle an earlier
//! argument of the same call moves cannot appear again, nor move after it was lent (the glue
//! would trap on the second use).

use super::instance::{ComponentFunc, Shared};
use super::resources::HandleError;
use crate::error::Error;
use kiln_environ::component::abi::align_to;
use kiln_environ::component::host::{host_field_offsets, host_layout, host_payload_offset};
use kiln_environ::component::{InterfaceType as T, ResourceIndex};
use std::cell::RefCell;

/// A mistake found at a path inside an argument (segments innermost first).
struct Bad {
    path: Vec<String>,
    msg: String,
}

impl Bad {
    /// A mistake in the value being checked.
    fn new(msg: impl Into<String>) -> Self {
        Bad {
            path: Vec::new(),
            msg: msg.into(),
        }
    }

    /// The mistake, found inside `segment` of the enclosing value.
    fn inside(mut self, segment: impl Into<String>) -> Self {
        self.path.push(segment.into());
        self
    }
}

/// The host handle table the handles in the arguments index (`None`: handles are left to the
/// glue, for results the host wrote).
struct Handles<'a> {
    shared: Option<&'a Shared>,
    /// Own handles moved by the arguments checked so far.
    moved: RefCell<Vec<u32>>,
    /// Handles lent (as borrows) by the arguments checked so far.
    lent: RefCell<Vec<u32>>,
    /// Strings are known to be UTF-8 (encoded from Rust `str`s): not validated again.
    utf8_known: bool,
}

impl Handles<'_> {
    /// Handles checked against `shared`'s host handle table (`None`: not checked).
    fn new(shared: Option<&Shared>) -> Handles<'_> {
        Handles {
            shared,
            moved: RefCell::default(),
            lent: RefCell::default(),
            utf8_known: false,
        }
    }

    /// Checks that host handle `handle` is of type `resource` and, for an own handle passed
    /// on (`own`), that it is an own handle without outstanding borrows (the glue moves it);
    /// and that no earlier argument of the call moves it, nor lends it when it moves here.
    fn check(&self, handle: u32, resource: ResourceIndex, own: bool) -> Result<(), Bad> {
        let Some(s) = self.shared else {
            return Ok(());
        };
        if self.moved.borrow().contains(&handle) {
            return Err(Bad::new(format!(
                "handle index {handle} already moves with an earlier argument of this call"
            )));
        }
        if own && self.lent.borrow().contains(&handle) {
            return Err(Bad::new(format!(
                "handle index {handle} is lent by an earlier argument of this call, so it cannot \
                 move"
            )));
        }
        match own {
            true => self.moved.borrow_mut().push(handle),
            false => self.lent.borrow_mut().push(handle),
        }
        let r = s.handles.with(s.host_table, |t| {
            let e = t
                .get(handle, resource)
                .map_err(|e| e.describe(&s.resources))?;
            if own && !e.own {
                return Err(format!(
                    "handle index {handle} is a borrow, an own handle is needed"
                ));
            }
            if own && e.lend_count > 0 {
                return Err(HandleError::Borrowed(handle).describe(&s.resources));
            }
            Ok(())
        });
        match r {
            Some(Ok(())) => Ok(()),
            Some(Err(m)) => Err(Bad::new(m)),
            None => Err(Bad::new("the instance has no host handle table")),
        }
    }
}

/// Whether values of `ty` can hold anything to check (numbers cannot).
fn needs_check(ty: &T) -> bool {
    match ty {
        T::S8 | T::U8 | T::S16 | T::U16 | T::S32 | T::U32 | T::S64 | T::U64 => false,
        T::F32 | T::F64 => false,
        T::Stream(_) | T::Future(_) | T::ErrorContext => false,
        T::Record(fields) => fields.iter().any(|f| needs_check(&f.ty)),
        T::Tuple(ts) => ts.iter().any(needs_check),
        T::FixedList(e, _) => needs_check(e),
        _ => true,
    }
}

/// Reads a host `{ ptr, len }` slice at `at`.
///
/// # Safety
/// `at` is readable for 16 bytes.
unsafe fn read_slice(at: *const u8) -> (*const u8, usize) {
    // SAFETY: caller contract.
    unsafe {
        (
            at.cast::<u64>().read_unaligned() as usize as *const u8,
            at.add(8).cast::<u64>().read_unaligned() as usize,
        )
    }
}

/// Reads a `u32` at `at`.
///
/// # Safety
/// `at` is readable for 4 bytes.
unsafe fn read_u32(at: *const u8) -> u32 {
    // SAFETY: caller contract.
    unsafe { at.cast::<u32>().read_unaligned() }
}

/// The data of a non-empty host slice of `n` elements of `size` bytes, or the mistake.
fn slice_data(p: *const u8, n: usize, size: usize, what: &str) -> Result<(), Bad> {
    if p.is_null() {
        return Err(Bad::new(format!(
            "{what} has a NULL pointer and length {n}"
        )));
    }
    match n.checked_mul(size) {
        Some(b) if b <= isize::MAX as usize => Ok(()),
        _ => Err(Bad::new(format!("{what} length {n} is too large"))),
    }
}

/// Checks the host representation of a value of `ty` at `at`.
///
/// # Safety
/// `at` is readable for `host_layout(ty).size` bytes; every non-NULL slice pointer in it is
/// valid for its length (the C API's contract for the host C representation).
unsafe fn check(cx: &Handles<'_>, ty: &T, at: *const u8) -> Result<(), Bad> {
    match ty {
        T::Bool => {
            // SAFETY: caller contract (1 byte).
            let b = unsafe { at.read() };
            if b > 1 {
                return Err(Bad::new(format!("bool byte {b} is neither 0 nor 1")));
            }
        }
        T::Char => {
            // SAFETY: caller contract (4 bytes).
            let c = unsafe { read_u32(at) };
            if char::from_u32(c).is_none() {
                return Err(Bad::new(format!(
                    "char {c:#x} is not a Unicode scalar value"
                )));
            }
        }
        T::String => {
            // SAFETY: caller contract (16 bytes).
            let (p, n) = unsafe { read_slice(at) };
            if n > 0 {
                slice_data(p, n, 1, "string")?;
                // SAFETY: a non-NULL pointer valid for `n` bytes (caller contract).
                let bytes = unsafe { std::slice::from_raw_parts(p, n) };
                if cx.utf8_known {
                    return Ok(());
                }
                if let Err(e) = std::str::from_utf8(bytes) {
                    return Err(Bad::new(format!(
                        "string is not valid UTF-8 (invalid byte at offset {})",
                        e.valid_up_to()
                    )));
                }
            }
        }
        T::List(e) => {
            // SAFETY: caller contract (16 bytes).
            let (p, n) = unsafe { read_slice(at) };
            // SAFETY: forwarded contract.
            unsafe { check_elements(cx, e, p, n, "list") }?;
        }
        T::Map(k, v) => {
            // SAFETY: caller contract (16 bytes).
            let (p, n) = unsafe { read_slice(at) };
            let entry = T::Tuple(vec![(**k).clone(), (**v).clone()]);
            // SAFETY: forwarded contract.
            unsafe { check_elements(cx, &entry, p, n, "map") }?;
        }
        T::FixedList(e, n) => {
            if needs_check(e) {
                let size = host_layout(e).size as usize;
                for i in 0..*n as usize {
                    // SAFETY: element `i` of the inline array (caller contract).
                    unsafe { check(cx, e, at.add(i * size)) }
                        .map_err(|b| b.inside(format!("[{i}]")))?;
                }
            }
        }
        T::Record(fields) => {
            for (f, off) in fields.iter().zip(host_field_offsets(ty)) {
                // SAFETY: the field at its offset (caller contract).
                unsafe { check(cx, &f.ty, at.add(off as usize)) }
                    .map_err(|b| b.inside(format!(".{}", f.name)))?;
            }
        }
        T::Tuple(ts) => {
            for (i, (t, off)) in ts.iter().zip(host_field_offsets(ty)).enumerate() {
                // SAFETY: the member at its offset (caller contract).
                unsafe { check(cx, t, at.add(off as usize)) }
                    .map_err(|b| b.inside(format!(".{i}")))?;
            }
        }
        T::Enum(labels) => {
            // SAFETY: caller contract (4 bytes).
            let i = unsafe { read_u32(at) };
            if i as usize >= labels.len() {
                return Err(Bad::new(format!(
                    "enum case {i} out of range (the enum has {} cases)",
                    labels.len()
                )));
            }
        }
        T::Flags(labels) => {
            let n = labels.len();
            if n % 32 != 0 {
                let word = n / 32;
                // SAFETY: the last of the `ceil(n / 32)` words (caller contract).
                let w = unsafe { read_u32(at.add(4 * word)) };
                if w >> (n % 32) != 0 {
                    return Err(Bad::new(format!(
                        "flags word {word} ({w:#x}) sets bits past the {n} flags of the type"
                    )));
                }
            }
        }
        T::Option(t) => {
            // SAFETY: caller contract (the `is_some` byte).
            let tag = unsafe { at.read() };
            match tag {
                0 => {}
                1 => {
                    let pay = host_payload_offset(ty).unwrap_or(0) as usize;
                    // SAFETY: the value at its offset (caller contract).
                    unsafe { check(cx, t, at.add(pay)) }.map_err(|b| b.inside(".value"))?;
                }
                _ => {
                    return Err(Bad::new(format!(
                        "option is_some byte {tag} is neither 0 nor 1"
                    )))
                }
            }
        }
        T::Variant(_) | T::Result { .. } => {
            // SAFETY: caller contract (the `tag` word).
            let tag = unsafe { read_u32(at) };
            let cases = ty.variant_cases().unwrap_or_default();
            let Some(case) = cases.get(tag as usize) else {
                return Err(Bad::new(format!(
                    "{} tag {tag} out of range (the type has {} cases)",
                    if matches!(ty, T::Result { .. }) {
                        "result"
                    } else {
                        "variant"
                    },
                    cases.len()
                )));
            };
            if let Some(ct) = case {
                let pay = host_payload_offset(ty).unwrap_or(0) as usize;
                let name = match ty {
                    T::Variant(cs) => cs[tag as usize].name.clone(),
                    _ if tag == 0 => "ok".into(),
                    _ => "err".into(),
                };
                // SAFETY: the payload at its offset (caller contract).
                unsafe { check(cx, ct, at.add(pay)) }.map_err(|b| b.inside(format!(".{name}")))?;
            }
        }
        T::S8 | T::U8 | T::S16 | T::U16 | T::S32 | T::U32 | T::S64 | T::U64 => {}
        T::F32 | T::F64 => {}
        T::Own(r) | T::Borrow(r) => {
            // SAFETY: caller contract (4 bytes).
            let h = unsafe { read_u32(at) };
            cx.check(h, *r, matches!(ty, T::Own(_)))?;
        }
        T::Stream(_) | T::Future(_) | T::ErrorContext => {}
    }
    Ok(())
}

/// Checks the `n` elements of `elem` at `p` of a host list (or map) slice.
///
/// # Safety
/// As [`check`], for the slice.
unsafe fn check_elements(
    cx: &Handles<'_>,
    elem: &T,
    p: *const u8,
    n: usize,
    what: &str,
) -> Result<(), Bad> {
    if n == 0 {
        return Ok(());
    }
    let size = host_layout(elem).size as usize;
    slice_data(p, n, size, what)?;
    if needs_check(elem) {
        for i in 0..n {
            // SAFETY: element `i` of a slice valid for `n` elements (caller contract).
            unsafe { check(cx, elem, p.add(i * size)) }.map_err(|b| b.inside(format!("[{i}]")))?;
        }
    }
    Ok(())
}

impl ComponentFunc {
    /// Checks the host C representation of this function's arguments at `args` (the C struct
    /// of the parameters, unused when there are none) before a raw call: the first mistake
    /// is an `Error::Other` naming the argument and the path inside it, e.g.
    /// ``argument 1 (`x.b[2]`): string is not valid UTF-8 ...``, found without entering the
    /// guest, so the instance stays usable.
    ///
    /// # Safety
    /// `args` is readable for the parameters' host struct; every non-NULL string or list
    /// pointer in it is valid for its length.
    pub unsafe fn check_host_args(&self, args: *const u8) -> Result<(), Error> {
        // SAFETY: forwarded contract.
        unsafe { self.check_args(args, false) }
    }

    /// [`ComponentFunc::check_host_args`] for arguments encoded from [`Val`]s: their strings
    /// come from Rust `str`s and are not validated again (handles and the rest are checked).
    ///
    /// # Safety
    /// As for `check_host_args`; every string in the arguments is valid UTF-8.
    ///
    /// [`Val`]: super::values::Val
    pub(crate) unsafe fn check_encoded_args(&self, args: *const u8) -> Result<(), Error> {
        // SAFETY: forwarded contract.
        unsafe { self.check_args(args, true) }
    }

    /// # Safety
    /// As for `check_host_args` (and `check_encoded_args` when `utf8_known`).
    unsafe fn check_args(&self, args: *const u8, utf8_known: bool) -> Result<(), Error> {
        let params = &self.ty().params;
        let mut cx = Handles::new(Some(&self.instance.inner.shared));
        cx.utf8_known = utf8_known;
        let cx = &cx;
        let mut off = 0u32;
        for (i, (name, t)) in params.iter().enumerate() {
            let l = host_layout(t);
            off = align_to(off, l.align);
            if needs_check(t) {
                // SAFETY: parameter `i` at its offset in the struct (caller contract).
                if let Err(b) = unsafe { check(cx, t, args.add(off as usize)) } {
                    let path: String = b.path.iter().rev().map(String::as_str).collect();
                    return Err(Error::Other(format!(
                        "argument {i} (`{name}{path}`): {}",
                        b.msg
                    )));
                }
            }
            off += l.size;
        }
        Ok(())
    }
}

/// Checks the result a raw host function wrote in place (`HostResult::as_mut_ptr`) before the
/// glue lowers it into the guest: the rules of [`ComponentFunc::check_host_args`] except the
/// handle checks (the glue checks the handles it moves). A NULL pointer with a length would
/// otherwise reach the glue's copy loops; here it is a message for the trap the guest gets.
///
/// # Safety
/// `at` holds the host representation of a value of `ty`, every non-NULL string or list
/// pointer in it valid for its length.
pub(super) unsafe fn check_host_result(ty: &T, at: *const u8) -> Result<(), String> {
    let cx = Handles::new(None);
    if !needs_check(ty) {
        return Ok(());
    }
    // SAFETY: forwarded contract.
    unsafe { check(&cx, ty, at) }.map_err(|b| {
        let path: String = b.path.iter().rev().map(String::as_str).collect();
        if path.is_empty() {
            b.msg
        } else {
            format!("`result{path}`: {}", b.msg)
        }
    })
}

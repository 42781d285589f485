//! Strings crossing the compiled canonical-ABI glue: the `string_*` component builtins.
//!
//! Lifting ([`check`]) applies CanonicalABI.md `load_string_from_range` in its order: the byte
//! length against `MAX_STRING_BYTE_LENGTH`, the alignment of the code units, the bounds, then
//! the encoding. A lift for the host decodes to UTF-8 (UTF-8 guest strings are pointed at, not
//! copied); a fused adapter's lift (`string_lift_raw`) only checks and leaves the string in the
//! source guest's memory.
//!
//! Lowering follows the spec's `store_string_*` algorithms step by step: the glue (Cranelift
//! IR, `kiln_compiler::component::glue::strings`) makes every `realloc` call with the sizes and
//! alignments the spec prescribes (first allocation, growth to the worst case, final shrink)
//! and checks each result; these builtins move the code units in between and report how far
//! they got. Every source is validated where it is read (a host string's UTF-8 included).
//!
//! Source encodings (`src_enc`): 0 UTF-8, 1 UTF-16, 2 latin1. Destination encodings
//! (`dst_enc`, a guest's option): 0 UTF-8, 1 UTF-16, 2 latin1+UTF-16.

use super::{guest_memory, raise_trap};
use crate::component::arena::{charge_lifted, try_alloc};
use crate::error::Trap;
use kiln_environ::component::abi::{MAX_STRING_BYTE_LENGTH, UTF16_TAG};
use kiln_environ::component::glue::GlueTrap;

const UTF8: i32 = 0;
const UTF16: i32 = 1;
const LATIN1: i32 = 2;
/// UTF-8 from the host: validated where it entered the runtime (a Rust `str`, or the C
/// argument and host-result checks in `host_check.rs`), so not validated again here.
const HOST_UTF8: i32 = 3;

/// A guest string checked by [`check`]: where its bytes are and how they are encoded.
struct Checked<'a> {
    bytes: &'a [u8],
    /// 0 UTF-8, 1 UTF-16, 2 latin1.
    simple: i32,
}

/// CanonicalABI.md `load_string_from_range` for a 32-bit memory: the checks in spec order
/// that take constant time (the encoding is validated by the caller, after it charged the
/// work: see `string_lift`).
fn check(mem: &[u8], enc: i32, ptr: u32, tagged: u32) -> Result<Checked<'_>, Trap> {
    let (align, bytes, simple) = match enc {
        0 => (1u64, u64::from(tagged), UTF8),
        1 => (2, 2 * u64::from(tagged), UTF16),
        _ if tagged & UTF16_TAG != 0 => (2, 2 * u64::from(tagged ^ UTF16_TAG), UTF16),
        _ => (2, u64::from(tagged), LATIN1),
    };
    if bytes > u64::from(MAX_STRING_BYTE_LENGTH) {
        return Err(glue(GlueTrap::StringTooLong));
    }
    if u64::from(ptr) % align != 0 {
        return Err(glue(GlueTrap::StringMisaligned));
    }
    let end = u64::from(ptr) + bytes;
    if end > mem.len() as u64 {
        return Err(glue(GlueTrap::StringOutOfBounds));
    }
    let bytes = &mem[ptr as usize..end as usize];
    Ok(Checked { bytes, simple })
}

fn glue(t: GlueTrap) -> Trap {
    Trap::abi(t.message())
}

fn utf8_error(e: std::str::Utf8Error) -> Trap {
    Trap::abi(format!("{}: {e}", GlueTrap::InvalidUtf8.message()))
}

fn utf16_error(e: std::char::DecodeUtf16Error) -> Trap {
    Trap::abi(format!("{}: {e}", GlueTrap::InvalidUtf16.message()))
}

fn units(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
}

/// Checks that `bytes` are valid in simple encoding `simple`.
fn validate(bytes: &[u8], simple: i32) -> Result<(), Trap> {
    match simple {
        UTF8 => std::str::from_utf8(bytes).map(drop).map_err(utf8_error),
        UTF16 => {
            for c in char::decode_utf16(units(bytes)) {
                c.map_err(utf16_error)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The code points of `bytes` in a simple encoding that [`validate`] accepted.
fn code_points(bytes: &[u8], simple: i32) -> Box<dyn Iterator<Item = char> + '_> {
    match simple {
        UTF8 => Box::new(std::str::from_utf8(bytes).unwrap_or_default().chars()),
        UTF16 => Box::new(
            char::decode_utf16(units(bytes)).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)),
        ),
        _ => Box::new(bytes.iter().map(|b| char::from(*b))),
    }
}

/// The source of a transcoding builtin: `n` code units at native address `src`, validated
/// unless they are the host's UTF-8 ([`HOST_UTF8`]); returns them with their simple encoding.
///
/// # Safety
/// `src` points at `n` readable code units of `simple` (the glue passes a string it checked
/// when it lifted it, or a host string whose length the host vouched for).
unsafe fn source<'a>(simple: i32, src: i64, n: i64) -> Result<(&'a [u8], i32), Trap> {
    let (simple, checked) = match simple {
        HOST_UTF8 => (UTF8, true),
        other => (other, false),
    };
    let bytes = if simple == UTF16 { 2 * n } else { n } as usize;
    if bytes == 0 {
        return Ok((&[], simple));
    }
    // SAFETY: caller contract.
    let s = unsafe { std::slice::from_raw_parts(src as usize as *const u8, bytes) };
    if !checked {
        validate(s, simple)?;
    }
    Ok((s, simple))
}

/// The guest range `[dst, dst + bytes)` of the memory at `def` (the glue checked it after the
/// `realloc` that produced `dst`; checked again here).
///
/// # Safety
/// `def` is the definition of a live memory, the slice must not outlive the builtin call.
unsafe fn dest<'a>(def: i64, dst: i32, bytes: u64) -> Result<&'a mut [u8], Trap> {
    // SAFETY: caller contract.
    let mem = unsafe { guest_memory(def) };
    let start = u64::from(dst as u32);
    if start + bytes > mem.len() as u64 {
        return Err(glue(GlueTrap::StringReallocOutOfBounds));
    }
    Ok(&mut mem[start as usize..(start + bytes) as usize])
}

fn ok_or_raise<T>(r: Result<T, Trap>) -> T {
    match r {
        Ok(v) => v,
        Err(t) => raise_trap(t),
    }
}

/// A guest string lifted for the host: checked (constant time), charged to the call's host
/// value budget, validated, and transcoded to UTF-8 in the arena unless it is UTF-8 already
/// (then pointed at). Returns the host `(ptr, len)`.
fn lift_for_host(
    mem: &[u8],
    encoding: i32,
    ptr: i32,
    len: i32,
) -> Result<(*const u8, usize), Trap> {
    let c = check(mem, encoding, ptr as u32, len as u32)?;
    charge_lifted(c.bytes.len() as u64)?;
    validate(c.bytes, c.simple)?;
    if c.simple == UTF8 {
        return Ok((c.bytes.as_ptr(), c.bytes.len()));
    }
    let n: usize = code_points(c.bytes, c.simple).map(char::len_utf8).sum();
    let p = try_alloc(n)?;
    // SAFETY: the arena block has room for `n` bytes.
    let d = unsafe { std::slice::from_raw_parts_mut(p, n) };
    let mut at = 0;
    for ch in code_points(c.bytes, c.simple) {
        at += ch.encode_utf8(&mut d[at..]).len();
    }
    Ok((p.cast_const(), n))
}

/// The builtin implementations (the table is built in `glue_builtins.rs`).
pub(super) mod imp {
    use super::*;
    use kiln_environ::component::glue::RESULT_COPY;

    /// `p`/`n` as they are, or (with [`RESULT_COPY`] in `encoding`: a `task.return`) copied
    /// into the running task's result.
    ///
    /// # Safety
    /// `vmctx` is the glue's component VM context; `p` has `n` readable bytes.
    unsafe fn result_copy(vmctx: *mut u8, encoding: i32, p: *const u8, n: usize) -> *const u8 {
        if encoding & RESULT_COPY == 0 {
            return p;
        }
        // SAFETY: caller contract.
        let at = unsafe {
            crate::component::glue_builtins::imp::on_shared(vmctx, |s| {
                s.result_block(p as u64, n as u64)
            })
        };
        at as usize as *const u8
    }

    pub unsafe extern "C" fn string_lift(
        vmctx: *mut u8,
        memory: i64,
        encoding: i32,
        ptr: i32,
        len: i32,
        out: i64,
    ) {
        // SAFETY: the glue passes the definition of its options memory.
        let mem = unsafe { guest_memory(memory) };
        let (host_ptr, host_len) =
            ok_or_raise(lift_for_host(mem, encoding & !RESULT_COPY, ptr, len));
        // SAFETY: the glue passes its component VM context; the string's bytes are readable.
        let host_ptr = unsafe { result_copy(vmctx, encoding, host_ptr, host_len) };
        let out = out as usize as *mut u64;
        // SAFETY: `out` is the glue's host slice slot (16 bytes, 8-aligned).
        unsafe {
            out.write(host_ptr as u64);
            out.add(1).write(host_len as u64);
        }
    }

    pub unsafe extern "C" fn string_lift_raw(
        vmctx: *mut u8,
        memory: i64,
        encoding: i32,
        ptr: i32,
        len: i32,
        out: i64,
    ) {
        // SAFETY: the glue passes the definition of its options memory.
        let mem = unsafe { guest_memory(memory) };
        // Bounds only: the lowering into the other guest validates the code units as it reads
        // them, after that guest's `realloc` accepted the size (`source`), so a claimed length
        // costs nothing before the allocation checks.
        let c = ok_or_raise(check(mem, encoding & !RESULT_COPY, ptr as u32, len as u32));
        // SAFETY: the glue passes its component VM context; the bytes are in guest memory.
        let at = unsafe { result_copy(vmctx, encoding, c.bytes.as_ptr(), c.bytes.len()) };
        let out = out as usize as *mut u64;
        // SAFETY: `out` is the glue's host slice slot (16 bytes, 8-aligned).
        unsafe {
            out.write(at as u64);
            out.add(1).write(u64::from(len as u32));
        }
    }

    pub unsafe extern "C" fn string_copy(
        _vmctx: *mut u8,
        memory: i64,
        src_enc: i32,
        dst_enc: i32,
        src: i64,
        n: i64,
        dst: i32,
    ) {
        // SAFETY: the glue passes a checked source and its options memory.
        let r = unsafe { copy(memory, src_enc, dst_enc, src, n, dst) };
        ok_or_raise(r)
    }

    pub unsafe extern "C" fn string_to_utf8_prefix(
        _vmctx: *mut u8,
        memory: i64,
        src_enc: i32,
        src: i64,
        n: i64,
        dst: i32,
    ) -> i64 {
        // SAFETY: as above.
        let r = unsafe { to_utf8_prefix(memory, src_enc, src, n, dst) };
        ok_or_raise(r)
    }

    pub unsafe extern "C" fn string_to_utf8_rest(
        _vmctx: *mut u8,
        memory: i64,
        src_enc: i32,
        src: i64,
        n: i64,
        done: i64,
        dst: i32,
    ) -> i64 {
        // SAFETY: as above.
        let r = unsafe { to_utf8_rest(memory, src_enc, src, n, done, dst) };
        ok_or_raise(r)
    }

    pub unsafe extern "C" fn string_utf8_to_utf16(
        _vmctx: *mut u8,
        memory: i64,
        src: i64,
        n: i64,
        dst: i32,
    ) -> i64 {
        // SAFETY: as above.
        let r = unsafe { utf8_to_utf16(memory, src, n, dst) };
        ok_or_raise(r)
    }

    pub unsafe extern "C" fn string_to_latin1_prefix(
        _vmctx: *mut u8,
        memory: i64,
        src_enc: i32,
        src: i64,
        n: i64,
        dst: i32,
    ) -> i64 {
        // SAFETY: as above.
        let r = unsafe { to_latin1_prefix(memory, src_enc, src, n, dst) };
        ok_or_raise(r)
    }

    pub unsafe extern "C" fn string_latin1_inflate(
        _vmctx: *mut u8,
        memory: i64,
        src_enc: i32,
        src: i64,
        n: i64,
        done: i64,
        dst: i32,
    ) -> i64 {
        // SAFETY: as above.
        let r = unsafe { latin1_inflate(memory, src_enc, src, n, done, dst) };
        ok_or_raise(r)
    }

    pub unsafe extern "C" fn string_utf16_compact(
        _vmctx: *mut u8,
        memory: i64,
        src: i64,
        n: i64,
        dst: i32,
    ) -> i32 {
        // SAFETY: as above.
        let r = unsafe { utf16_compact(memory, src, n, dst) };
        ok_or_raise(r)
    }
}

/// `store_string_copy`: the copies that keep the code units (utf8→utf8, utf16→utf16,
/// latin1→latin1) or widen latin1 to UTF-16.
///
/// # Safety
/// See [`source`] and [`dest`].
unsafe fn copy(
    def: i64,
    src_enc: i32,
    dst_enc: i32,
    src: i64,
    n: i64,
    dst: i32,
) -> Result<(), Trap> {
    // SAFETY: caller contract.
    let (s, src_enc) = unsafe { source(src_enc, src, n)? };
    match (src_enc, dst_enc) {
        (LATIN1, UTF16) => {
            // SAFETY: caller contract.
            let d = unsafe { dest(def, dst, 2 * n as u64)? };
            for (o, b) in d.chunks_exact_mut(2).zip(s) {
                o[0] = *b;
                o[1] = 0;
            }
        }
        _ => {
            // SAFETY: caller contract.
            let d = unsafe { dest(def, dst, s.len() as u64)? };
            // SAFETY: both ranges are valid for `s.len()` bytes; they may be in one memory.
            unsafe { std::ptr::copy(s.as_ptr(), d.as_mut_ptr(), s.len()) };
        }
    }
    Ok(())
}

/// # Safety
/// See [`source`] and [`dest`].
unsafe fn to_utf8_prefix(def: i64, src_enc: i32, src: i64, n: i64, dst: i32) -> Result<i64, Trap> {
    // SAFETY: caller contract.
    let (s, src_enc) = unsafe { source(src_enc, src, n)? };
    // SAFETY: the glue allocated `n` bytes at `dst`.
    let d = unsafe { dest(def, dst, n as u64)? };
    let mut i = 0usize;
    for c in code_points(s, src_enc) {
        if !c.is_ascii() {
            break;
        }
        d[i] = c as u8;
        i += 1;
    }
    Ok(i as i64)
}

/// # Safety
/// See [`source`] and [`dest`].
unsafe fn to_utf8_rest(
    def: i64,
    src_enc: i32,
    src: i64,
    n: i64,
    done: i64,
    dst: i32,
) -> Result<i64, Trap> {
    // SAFETY: caller contract.
    let (s, src_enc) = unsafe { source(src_enc, src, n)? };
    let len: usize = code_points(s, src_enc).map(char::len_utf8).sum();
    // SAFETY: the glue grew the allocation to the worst case, at least the encoded length.
    let d = unsafe { dest(def, dst, len as u64)? };
    // The first `done` code points were ASCII, one byte each, already in place.
    let done = (done as usize).min(len);
    let mut at = done;
    for c in code_points(s, src_enc).skip(done) {
        at += c.encode_utf8(&mut d[at..]).len();
    }
    Ok(len as i64)
}

/// # Safety
/// See [`source`] and [`dest`].
unsafe fn utf8_to_utf16(def: i64, src: i64, n: i64, dst: i32) -> Result<i64, Trap> {
    // SAFETY: caller contract.
    let (s, _) = unsafe { source(UTF8, src, n)? };
    let s = std::str::from_utf8(s).map_err(utf8_error)?;
    let bytes = 2 * s.encode_utf16().count();
    // SAFETY: the glue allocated `2 * n` bytes, at least `bytes`.
    let d = unsafe { dest(def, dst, bytes as u64)? };
    for (o, u) in d.chunks_exact_mut(2).zip(s.encode_utf16()) {
        o.copy_from_slice(&u.to_le_bytes());
    }
    Ok(bytes as i64)
}

/// # Safety
/// See [`source`] and [`dest`].
unsafe fn to_latin1_prefix(
    def: i64,
    src_enc: i32,
    src: i64,
    n: i64,
    dst: i32,
) -> Result<i64, Trap> {
    // SAFETY: caller contract.
    let (s, src_enc) = unsafe { source(src_enc, src, n)? };
    // SAFETY: the glue allocated `n` bytes at `dst` (at least one per code point).
    let d = unsafe { dest(def, dst, n as u64)? };
    let mut k = 0usize;
    for c in code_points(s, src_enc) {
        if u32::from(c) >= 256 {
            return Ok(((k as i64) << 1) | 1);
        }
        d[k] = c as u32 as u8;
        k += 1;
    }
    Ok((k as i64) << 1)
}

/// # Safety
/// See [`source`] and [`dest`].
unsafe fn latin1_inflate(
    def: i64,
    src_enc: i32,
    src: i64,
    n: i64,
    done: i64,
    dst: i32,
) -> Result<i64, Trap> {
    // SAFETY: caller contract.
    let (s, src_enc) = unsafe { source(src_enc, src, n)? };
    let units: usize = code_points(s, src_enc).map(char::len_utf16).sum();
    let bytes = 2 * units;
    // SAFETY: the glue grew the allocation to `2 * n` bytes, at least `bytes`.
    let d = unsafe { dest(def, dst, bytes as u64)? };
    let done = (done as usize).min(units);
    // Widen the latin1 bytes already in guest memory, last first (in place).
    for j in (0..done).rev() {
        d[2 * j] = d[j];
        d[2 * j + 1] = 0;
    }
    // The first `done` code points were latin1, one unit each.
    let mut at = 2 * done;
    let mut buf = [0u16; 2];
    for c in code_points(s, src_enc).skip(done) {
        for u in c.encode_utf16(&mut buf) {
            d[at..at + 2].copy_from_slice(&u.to_le_bytes());
            at += 2;
        }
    }
    Ok(bytes as i64)
}

/// # Safety
/// See [`source`] and [`dest`].
unsafe fn utf16_compact(def: i64, src: i64, n: i64, dst: i32) -> Result<i32, Trap> {
    // SAFETY: caller contract.
    let (s, _) = unsafe { source(UTF16, src, n)? };
    let wide = code_points(s, UTF16).any(|c| u32::from(c) >= 256);
    // SAFETY: the glue allocated `2 * n` bytes at `dst`.
    let d = unsafe { dest(def, dst, s.len() as u64)? };
    // SAFETY: both ranges are valid for `s.len()` bytes; they may be in one memory.
    unsafe { std::ptr::copy(s.as_ptr(), d.as_mut_ptr(), s.len()) };
    if wide {
        return Ok(1);
    }
    for i in 0..n as usize {
        d[i] = d[2 * i];
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn lift_checks_follow_the_spec_order() {
        let mut mem = vec![0u8; 64];
        mem[8..16].copy_from_slice(&utf16("abcd"));
        // utf16: the tag bit is part of the length (no masking): too long, before anything else.
        let e = check(&mem, 1, 8, UTF16_TAG | 4).err().unwrap();
        assert!(
            e.message.starts_with("string content out-of-bounds"),
            "{}",
            e.message
        );
        // latin1+utf16: the tag bit selects UTF-16.
        assert_eq!(check(&mem, 2, 8, UTF16_TAG | 4).unwrap().simple, UTF16);
        assert_eq!(check(&mem, 2, 8, 4).unwrap().simple, LATIN1);
        // Alignment before bounds.
        let e = check(&mem, 1, 9, 1000).err().unwrap();
        assert!(e.message.starts_with("unaligned pointer"), "{}", e.message);
        let e = check(&mem, 0, 60, 5).err().unwrap();
        assert!(e
            .message
            .contains("string pointer/length out of bounds of memory"));
        // Over the maximum byte length, even though in bounds would be impossible anyway.
        let e = check(&mem, 0, 0, MAX_STRING_BYTE_LENGTH + 1).err().unwrap();
        assert!(e.message.contains("maximum"), "{}", e.message);
    }

    #[test]
    fn invalid_encodings_name_the_error() {
        let mut mem = vec![0u8; 16];
        mem[0..2].copy_from_slice(&[0x61, 0xc3]);
        let e = lift_for_host(&mem, 0, 0, 2).err().unwrap();
        assert_eq!(
            e.message,
            "invalid utf8 encoding: incomplete utf-8 byte sequence from index 1"
        );
        mem[0..2].copy_from_slice(&[0x00, 0xd8]);
        let e = lift_for_host(&mem, 1, 0, 1).err().unwrap();
        assert_eq!(
            e.message,
            "invalid utf16 encoding: unpaired surrogate found: d800"
        );
    }
}

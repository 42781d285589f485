//! The component builtin table the compiled canonical-ABI glue calls through the component VM
//! context's `BUILTINS` slot (list and signatures: `kiln_environ::foreach_component_builtin!`),
//! and the per-call host arena the glue allocates lifted results in.
//!
//! Every builtin that reads or writes guest memory checks bounds itself (it gets the memory's
//! `VMMemoryDefinition`), and every string is validated and transcoded here: UTF-8 ⇄ UTF-16 ⇄
//! latin1+UTF-16. Implementations compute a `Result<_, GlueTrap>` with all Rust values dropped
//! before a trap is raised (the raise unwinds past this frame).

use crate::error::Trap;
use crate::traps;
use crate::vm::VMMemoryDefinition;
use kiln_environ::component::abi::{MAX_STRING_BYTE_LENGTH, UTF16_TAG};
use kiln_environ::component::glue::GlueTrap;
use std::cell::RefCell;

#[path = "handles_glue.rs"]
pub(super) mod handles_glue;

thread_local! {
    /// One frame per active export call on this thread; each frame owns its allocations.
    static ARENAS: RefCell<Vec<Vec<Box<[u64]>>>> = const { RefCell::new(Vec::new()) };
}

/// Opens an arena frame for one export call (closed by [`pop_arena`] after post-return).
pub(crate) fn push_arena() {
    ARENAS.with(|a| a.borrow_mut().push(Vec::new()));
}

/// Frees the innermost arena frame.
pub(crate) fn pop_arena() {
    ARENAS.with(|a| drop(a.borrow_mut().pop()));
}

/// A zeroed arena block of at least `size` bytes (8-aligned), or `None` when the host is out of
/// memory (the caller traps instead of aborting the process).
fn try_alloc(size: usize) -> Option<*mut u8> {
    let words = size.div_ceil(8).max(1);
    let mut v: Vec<u64> = Vec::new();
    v.try_reserve_exact(words).ok()?;
    v.resize(words, 0);
    let mut block = v.into_boxed_slice();
    let p = block.as_mut_ptr().cast::<u8>();
    ARENAS.with(|a| {
        let mut a = a.borrow_mut();
        if a.is_empty() {
            a.push(Vec::new());
        }
        a.last_mut().expect("non-empty").push(block);
    });
    Some(p)
}

fn alloc(size: usize) -> *mut u8 {
    let mut block = vec![0u64; size.div_ceil(8).max(1)].into_boxed_slice();
    let p = block.as_mut_ptr().cast::<u8>();
    ARENAS.with(|a| {
        let mut a = a.borrow_mut();
        if a.is_empty() {
            a.push(Vec::new());
        }
        a.last_mut().expect("non-empty").push(block);
    });
    p
}

/// Keeps `block` alive until the innermost arena frame closes.
pub(crate) fn keep_in_arena(block: Vec<u64>) {
    ARENAS.with(|a| {
        let mut a = a.borrow_mut();
        if a.is_empty() {
            a.push(Vec::new());
        }
        a.last_mut()
            .expect("non-empty")
            .push(block.into_boxed_slice());
    });
}

/// Copies `bytes` into a new arena block and returns its address.
fn alloc_copy(bytes: &[u8]) -> *mut u8 {
    let p = alloc(bytes.len());
    // SAFETY: `p` has room for `bytes.len()` bytes and does not overlap `bytes`.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
    p
}

fn raise(t: GlueTrap) -> ! {
    // SAFETY: called from builtins invoked by glue inside `catch_traps`, after their Rust
    // values were dropped.
    unsafe { traps::raise_user_trap(Trap::host(t.message())) }
}

/// The guest memory of a `VMMemoryDefinition` address as a byte slice.
///
/// # Safety
/// `def` is the definition of a live memory; the slice must not outlive the builtin call.
unsafe fn memory<'a>(def: i64) -> &'a mut [u8] {
    // SAFETY: caller contract.
    let d = unsafe { &*(def as usize as *const VMMemoryDefinition) };
    if d.base.is_null() || d.current_length == 0 {
        return &mut [];
    }
    // SAFETY: a memory definition describes `current_length` accessible bytes at `base`.
    unsafe { std::slice::from_raw_parts_mut(d.base, d.current_length as usize) }
}

fn range(mem: &[u8], ptr: u32, bytes: u64) -> Result<std::ops::Range<usize>, GlueTrap> {
    let end = u64::from(ptr) + bytes;
    if end > mem.len() as u64 {
        return Err(GlueTrap::PointerOutOfBounds);
    }
    Ok(ptr as usize..end as usize)
}

fn decode_utf16(units: &[u8]) -> Result<String, GlueTrap> {
    let it = units
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(it)
        .collect::<Result<String, _>>()
        .map_err(|_| GlueTrap::InvalidUtf16)
}

fn string_lift_inner(def: i64, enc: i32, ptr: i32, len: i32, out: i64) -> Result<(), GlueTrap> {
    // SAFETY: the glue passes the definition of its options memory.
    let mem = unsafe { memory(def) };
    let (ptr, len) = (ptr as u32, len as u32);
    let (host_ptr, host_len) = match enc {
        0 => {
            let r = range(mem, ptr, u64::from(len))?;
            std::str::from_utf8(&mem[r.clone()]).map_err(|_| GlueTrap::InvalidUtf8)?;
            (mem[r].as_ptr(), len as usize)
        }
        _ => {
            if ptr % 2 != 0 {
                return Err(GlueTrap::PointerMisaligned);
            }
            let s = if enc == 1 || len & UTF16_TAG != 0 {
                let n = len & !UTF16_TAG;
                let r = range(mem, ptr, 2 * u64::from(n))?;
                decode_utf16(&mem[r])?
            } else {
                let r = range(mem, ptr, u64::from(len))?;
                mem[r].iter().map(|b| char::from(*b)).collect()
            };
            (alloc_copy(s.as_bytes()).cast_const(), s.len())
        }
    };
    let out = out as usize as *mut u64;
    // SAFETY: `out` is the glue's host slice slot (16 bytes, 8-aligned).
    unsafe {
        out.write(host_ptr as u64);
        out.add(1).write(host_len as u64);
    }
    Ok(())
}

/// Host UTF-8 string at `ptr`/`len`.
///
/// # Safety
/// The host promised `len` readable bytes at `ptr`.
unsafe fn host_str<'a>(ptr: i64, len: i64) -> Result<&'a str, GlueTrap> {
    if len == 0 {
        return Ok("");
    }
    // SAFETY: caller contract.
    let b = unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len as usize) };
    std::str::from_utf8(b).map_err(|_| GlueTrap::InvalidUtf8)
}

/// `(bytes, tagged length)` of `s` in guest encoding `enc`.
fn encoded_len(s: &str, enc: i32) -> Result<(u64, u32), GlueTrap> {
    let (bytes, tagged) = match enc {
        0 => (s.len() as u64, s.len() as u64),
        1 => {
            let n = s.encode_utf16().count() as u64;
            (2 * n, n)
        }
        _ => {
            if s.chars().all(|c| (c as u32) < 256) {
                let n = s.chars().count() as u64;
                (n, n)
            } else {
                let n = s.encode_utf16().count() as u64;
                (2 * n, n | u64::from(UTF16_TAG))
            }
        }
    };
    if bytes > u64::from(MAX_STRING_BYTE_LENGTH) {
        return Err(GlueTrap::StringTooLong);
    }
    Ok((bytes, tagged as u32))
}

fn string_lower_copy_inner(
    def: i64,
    enc: i32,
    src: i64,
    len: i64,
    dst: i32,
    tagged: i32,
) -> Result<(), GlueTrap> {
    if enc == 0 {
        // UTF-8 to UTF-8: one bounds-checked memcpy (`string_lower_len` validated the bytes
        // just before; the length word is the byte length).
        if len as u64 != u64::from(tagged as u32) {
            return Err(GlueTrap::StringTooLong);
        }
        // SAFETY: the glue passes the definition of its options memory.
        let mem = unsafe { memory(def) };
        let r = range(mem, dst as u32, len as u64)?;
        if len > 0 {
            // SAFETY: the host promised `len` readable bytes at `src`; `r` is in bounds.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    src as usize as *const u8,
                    mem[r].as_mut_ptr(),
                    len as usize,
                )
            };
        }
        return Ok(());
    }
    // SAFETY: the glue passes the host string it was given.
    let s = unsafe { host_str(src, len)? };
    let (bytes, want) = encoded_len(s, enc)?;
    if want != tagged as u32 {
        return Err(GlueTrap::StringTooLong);
    }
    // SAFETY: the glue passes the definition of its options memory.
    let mem = unsafe { memory(def) };
    let r = range(mem, dst as u32, bytes)?;
    let out = &mut mem[r];
    match enc {
        0 => out.copy_from_slice(s.as_bytes()),
        _ if enc == 2 && want & UTF16_TAG == 0 => {
            for (o, c) in out.iter_mut().zip(s.chars()) {
                *o = c as u8;
            }
        }
        _ => {
            for (o, u) in out.chunks_exact_mut(2).zip(s.encode_utf16()) {
                o.copy_from_slice(&u.to_le_bytes());
            }
        }
    }
    Ok(())
}

/// The builtin implementations.
mod imp {
    pub use super::handles_glue::imp::*;
    use super::*;

    pub unsafe extern "C" fn trap(_vmctx: *mut u8, code: i32) {
        raise(GlueTrap::from_code(code as u32).unwrap_or(GlueTrap::PointerOutOfBounds))
    }

    pub unsafe extern "C" fn host_alloc(_vmctx: *mut u8, size: i64, _align: i64) -> i64 {
        // Arena blocks are 8-aligned, enough for every host representation.
        match try_alloc(size.max(0) as usize) {
            Some(p) => p as i64,
            None => raise(GlueTrap::HostOutOfMemory),
        }
    }

    pub unsafe extern "C" fn string_lift(
        _vmctx: *mut u8,
        memory: i64,
        encoding: i32,
        ptr: i32,
        len: i32,
        out: i64,
    ) {
        if let Err(t) = string_lift_inner(memory, encoding, ptr, len, out) {
            raise(t)
        }
    }

    pub unsafe extern "C" fn string_lower_len(
        _vmctx: *mut u8,
        encoding: i32,
        ptr: i64,
        len: i64,
    ) -> i64 {
        // SAFETY: the glue passes the host string it was given.
        let r = unsafe { host_str(ptr, len) }.and_then(|s| encoded_len(s, encoding));
        match r {
            Ok((bytes, tagged)) => ((bytes << 32) | u64::from(tagged)) as i64,
            Err(t) => raise(t),
        }
    }

    pub unsafe extern "C" fn string_lower_copy(
        _vmctx: *mut u8,
        memory: i64,
        encoding: i32,
        src: i64,
        len: i64,
        dst: i32,
        tagged: i32,
    ) {
        if let Err(t) = string_lower_copy_inner(memory, encoding, src, len, dst, tagged) {
            raise(t)
        }
    }

    pub unsafe extern "C" fn copy_to_guest(
        _vmctx: *mut u8,
        memory: i64,
        dst: i32,
        src: i64,
        bytes: i64,
    ) {
        // SAFETY: the glue passes the definition of its options memory.
        let mem = unsafe { super::memory(memory) };
        match range(mem, dst as u32, bytes as u64) {
            Ok(r) if bytes > 0 => {
                // SAFETY: the host promised `bytes` readable bytes at `src`; `r` is in bounds.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        src as usize as *const u8,
                        mem[r].as_mut_ptr(),
                        bytes as usize,
                    )
                }
            }
            Ok(_) => {}
            Err(t) => raise(t),
        }
    }
}

macro_rules! component_builtin_ty {
    (vmctx) => { *mut u8 };
    (i32) => { i32 };
    (i64) => { i64 };
}

macro_rules! define_table {
    ($( $(#[$attr:meta])* $name:ident($($p:ident: $pt:ident),*) $(-> $rt:ident)?;)*) => {
        // Every implementation has exactly the signature the contract lists.
        $(
            const _: unsafe extern "C" fn($(component_builtin_ty!($pt)),*)
                $(-> component_builtin_ty!($rt))? = imp::$name;
        )*

        /// The table, in contract order.
        fn build_table() -> Vec<usize> {
            vec![$(imp::$name as *const () as usize,)*]
        }
    };
}

kiln_environ::foreach_component_builtin!(define_table);

/// Address of the component builtin table (what the `BUILTINS` slot holds).
pub(crate) fn table() -> usize {
    static TABLE: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    TABLE.get_or_init(build_table).as_ptr() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_lengths() {
        assert_eq!(encoded_len("abc", 0).unwrap(), (3, 3));
        assert_eq!(encoded_len("a😀", 1).unwrap(), (6, 3));
        // latin1 when every char fits in a byte, else tagged UTF-16.
        assert_eq!(encoded_len("héllo", 2).unwrap(), (5, 5));
        assert_eq!(encoded_len("h€", 2).unwrap(), (4, 2 | UTF16_TAG));
        assert_eq!(encoded_len("", 2).unwrap(), (0, 0));
    }

    #[test]
    fn utf16_decoding_rejects_unpaired_surrogates() {
        assert_eq!(
            decode_utf16(&[0x61, 0, 0x3d, 0xd8, 0x00, 0xde]).unwrap(),
            "a😀"
        );
        assert_eq!(decode_utf16(&[0x00, 0xd8]), Err(GlueTrap::InvalidUtf16));
        assert_eq!(
            decode_utf16(&[0x00, 0xdc, 0x61, 0x00]),
            Err(GlueTrap::InvalidUtf16)
        );
    }

    #[test]
    fn ranges_are_checked() {
        let mem = [0u8; 16];
        assert_eq!(range(&mem, 8, 8).unwrap(), 8..16);
        assert_eq!(range(&mem, 8, 9), Err(GlueTrap::PointerOutOfBounds));
        assert_eq!(range(&mem, u32::MAX, 2), Err(GlueTrap::PointerOutOfBounds));
    }
}

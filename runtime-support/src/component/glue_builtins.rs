//! The component builtin table the compiled canonical-ABI glue calls through the component VM
//! context's `BUILTINS` slot (list and signatures: `kiln_environ::foreach_component_builtin!`),
//! and the per-call host arena the glue allocates lifted results in.
//!
//! Every builtin that reads or writes guest memory checks bounds itself (it gets the memory's
//! `VMMemoryDefinition`). Strings (validation, UTF-8 ⇄ UTF-16 ⇄ latin1+UTF-16) are in
//! `strings.rs`, resource handles in `handles_glue.rs`. Implementations compute a `Result`
//! with all Rust values dropped before a trap is raised (the raise unwinds past this frame).

use crate::error::Trap;
use crate::traps;
use crate::vm::VMMemoryDefinition;
use kiln_environ::component::glue::GlueTrap;

#[path = "handles_glue.rs"]
pub(super) mod handles_glue;
#[path = "strings.rs"]
mod strings;

/// Raises glue trap `t` (from a builtin called by glue, its Rust values dropped).
pub(super) fn raise(t: GlueTrap) -> ! {
    match t {
        GlueTrap::Interrupted => raise_trap(Trap::new(kiln_environ::TrapKind::Interrupt)),
        _ => raise_trap(Trap::abi(t.message())),
    }
}

/// Raises `t` (from a builtin called by glue, its Rust values dropped).
pub(super) fn raise_trap(t: Trap) -> ! {
    // SAFETY: called from builtins invoked by glue inside `catch_traps`, after their Rust
    // values were dropped.
    unsafe { traps::raise_user_trap(t) }
}

/// The guest memory of a `VMMemoryDefinition` address as a byte slice.
///
/// # Safety
/// `def` is the definition of a live memory; the slice must not outlive the builtin call.
pub(super) unsafe fn guest_memory<'a>(def: i64) -> &'a mut [u8] {
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
        return Err(GlueTrap::ListReallocOutOfBounds);
    }
    Ok(ptr as usize..end as usize)
}

/// The builtin implementations.
mod imp {
    pub use super::handles_glue::imp::*;
    pub use super::strings::imp::*;
    use super::*;

    pub unsafe extern "C" fn trap(_vmctx: *mut u8, code: i32) {
        raise(GlueTrap::from_code(code as u32).unwrap_or(GlueTrap::ListOutOfBounds))
    }

    /// Runs `f` on the instantiation behind `vmctx`; its error is raised as a trap (after
    /// `f`'s values are dropped).
    ///
    /// # Safety
    /// `vmctx` is the component VM context the glue passes (its instance slot is live).
    pub(crate) unsafe fn on_shared<T>(
        vmctx: *mut u8,
        f: impl FnOnce(&crate::component::instance::Shared) -> Result<T, crate::error::Trap>,
    ) -> T {
        // SAFETY: caller contract.
        let r = match unsafe { crate::component::instance::vmctx_view(vmctx) } {
            Some(view) => f(view.shared),
            None => Err(crate::error::Trap::host("component instance is gone")),
        };
        match r {
            Ok(v) => v,
            Err(t) => raise_trap(t),
        }
    }

    pub unsafe extern "C" fn async_value_lift(
        vmctx: *mut u8,
        instance: i32,
        ty: i32,
        handle: i32,
    ) -> i32 {
        // SAFETY: the glue passes its component VM context.
        let v = unsafe {
            on_shared(vmctx, |s| {
                s.lift_async_value(instance as u32, ty as u32, handle as u32)
            })
        };
        v as i32
    }

    pub unsafe extern "C" fn async_value_lower(
        vmctx: *mut u8,
        instance: i32,
        ty: i32,
        value: i32,
    ) -> i32 {
        // SAFETY: the glue passes its component VM context.
        let v = unsafe {
            on_shared(vmctx, |s| {
                s.lower_async_value(instance as u32, ty as u32, value as u32)
            })
        };
        v as i32
    }

    pub unsafe extern "C" fn async_call(
        vmctx: *mut u8,
        caller: i32,
        lift: i32,
        args: i64,
        nargs: i32,
    ) -> i64 {
        // SAFETY: the glue passes a stack buffer of `nargs` 8-byte words.
        let args =
            unsafe { std::slice::from_raw_parts(args as usize as *const u64, nargs as usize) };
        // SAFETY: the glue passes its component VM context.
        unsafe { on_shared(vmctx, |s| s.async_call(caller as u32, lift as u32, args)) }
    }

    pub unsafe extern "C" fn result_alloc(vmctx: *mut u8, src: i64, bytes: i64) -> i64 {
        // SAFETY: the glue passes its component VM context.
        unsafe { on_shared(vmctx, |s| s.result_block(src as u64, bytes as u64)) as i64 }
    }

    pub unsafe extern "C" fn host_alloc(_vmctx: *mut u8, size: i64, _align: i64) -> i64 {
        // Arena blocks are 8-aligned, enough for every host representation.
        match super::super::arena::try_alloc(size.max(0) as usize) {
            Ok(p) => p as i64,
            Err(t) => raise_trap(t),
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
        let mem = unsafe { super::guest_memory(memory) };
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
    fn ranges_are_checked() {
        let mem = [0u8; 16];
        assert_eq!(range(&mem, 8, 8).unwrap(), 8..16);
        assert_eq!(range(&mem, 8, 9), Err(GlueTrap::ListReallocOutOfBounds));
        assert_eq!(
            range(&mem, u32::MAX, 2),
            Err(GlueTrap::ListReallocOutOfBounds)
        );
    }
}

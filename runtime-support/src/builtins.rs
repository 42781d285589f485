//! The builtin table: the runtime services compiled code calls through `vmctx.builtins`.
//!
//! Generated from `kiln_environ::foreach_builtin_function!`, so the table order and the
//! signatures cannot drift from what the compiler emits calls for. Each table entry is a naked
//! wrapper that records the guest's frame pointer and return address (for trap backtraces, see
//! `traps.rs`) and tail-jumps to the implementation in [`imp`], whose signature is checked
//! against the macro at compile time. Implementations do their work in an inner function that
//! returns `Result<_, TrapKind>` (so every Rust value is dropped) and only then raise the trap.

use crate::instance::InstanceInner;
use crate::memory::MemoryInner;
use crate::traps;
use kiln_environ::{TrapKind, VMOffsets};

macro_rules! builtin_ty {
    (vmctx) => { *mut u8 };
    (i32) => { i32 };
    (i64) => { i64 };
}

macro_rules! define_builtins {
    ($( $(#[$attr:meta])* $name:ident($($p:ident: $pt:ident),*) $(-> $rt:ident)?;)*) => {
        /// The naked entry points of the builtin table (one per builtin, in table order).
        pub mod entry {
            $(
                $(#[$attr])*
                #[unsafe(naked)]
                pub unsafe extern "C" fn $name($(_: builtin_ty!($pt)),*) $(-> builtin_ty!($rt))? {
                    crate::traps::exit_to_runtime!(super::imp::$name)
                }
            )*
        }

        // Every implementation has exactly the signature the contract lists.
        $(
            const _: unsafe extern "C" fn($(builtin_ty!($pt)),*) $(-> builtin_ty!($rt))? = imp::$name;
        )*

        /// The builtin table, in `foreach_builtin_function!` order.
        static BUILTINS: BuiltinTable = BuiltinTable([$(entry::$name as *const (),)*]);
    };
}

/// The table of builtin entry points (addresses are immutable, so sharing is fine).
#[repr(transparent)]
struct BuiltinTable([*const (); kiln_environ::BuiltinFunctionIndex::ALL.len()]);
// SAFETY: a read-only array of code addresses.
unsafe impl Sync for BuiltinTable {}

kiln_environ::foreach_builtin_function!(define_builtins);

/// Address of the builtin table (stored in every VM context).
pub(crate) fn table_ptr() -> *const *const () {
    BUILTINS.0.as_ptr()
}

/// The instance of a VM context passed to a builtin.
///
/// # Safety
/// `vmctx` must be a live instance VM context.
unsafe fn instance<'a>(vmctx: *mut u8) -> &'a InstanceInner {
    // SAFETY: the header holds the address of the live instance owning this VM context.
    unsafe {
        &*vmctx
            .add(VMOffsets::vmctx_instance() as usize)
            .cast::<*const InstanceInner>()
            .read()
    }
}

/// Index operands of 32-bit memories are zero-extended to 64 bits whatever the caller did.
fn mem_index(m: &MemoryInner, v: i64) -> u64 {
    if m.is_64() {
        v as u64
    } else {
        u64::from(v as u32)
    }
}

fn memory(inst: &InstanceInner, index: i32) -> Result<&MemoryInner, TrapKind> {
    inst.memories
        .get(index as u32 as usize)
        .map(|m| &*m.inner)
        .ok_or(TrapKind::MemoryOutOfBounds)
}

fn table(inst: &InstanceInner, index: i32) -> Result<&crate::table::TableInner, TrapKind> {
    inst.tables
        .get(index as u32 as usize)
        .map(|t| &*t.inner)
        .ok_or(TrapKind::TableOutOfBounds)
}

/// Raises `r`'s trap if it is one, after everything of the failed operation was dropped.
///
/// # Safety
/// Must be called from a builtin entered from guest code (inside an activation).
unsafe fn check<T>(r: Result<T, TrapKind>) -> T {
    match r {
        Ok(v) => v,
        // SAFETY: caller contract; `r` holds nothing that needs dropping.
        Err(k) => unsafe { traps::raise_trap(k) },
    }
}

/// Implementations, with exactly the signatures of `foreach_builtin_function!`.
pub mod imp {
    use super::*;

    /// `memory.grow`.
    ///
    /// # Safety
    /// Called by compiled code with its own VM context.
    pub unsafe extern "C" fn memory_grow(vmctx: *mut u8, mem: i32, delta: i64) -> i64 {
        // SAFETY: compiled code passes its live VM context.
        let inst = unsafe { instance(vmctx) };
        let Ok(m) = memory(inst, mem) else { return -1 };
        let delta = mem_index(m, delta);
        let limiter = inst.store().limiter();
        m.grow_limited(delta, limiter.as_deref())
            .map_or(-1, |old| old as i64)
    }

    /// `memory.fill`.
    ///
    /// # Safety
    /// As [`memory_grow`].
    pub unsafe extern "C" fn memory_fill(vmctx: *mut u8, mem: i32, dst: i64, val: i32, len: i64) {
        let r = (|| {
            // SAFETY: compiled code passes its live VM context.
            let m = memory(unsafe { instance(vmctx) }, mem)?;
            let p = m
                .range(mem_index(m, dst), mem_index(m, len))
                .ok_or(TrapKind::MemoryOutOfBounds)?;
            // SAFETY: the range is accessible memory.
            unsafe { std::ptr::write_bytes(p, val as u8, mem_index(m, len) as usize) };
            Ok(())
        })();
        // SAFETY: called from guest code.
        unsafe { check(r) }
    }

    /// `memory.copy`.
    ///
    /// # Safety
    /// As [`memory_grow`].
    pub unsafe extern "C" fn memory_copy(
        vmctx: *mut u8,
        dst_mem: i32,
        dst: i64,
        src_mem: i32,
        src: i64,
        len: i64,
    ) {
        let r = (|| {
            // SAFETY: compiled code passes its live VM context.
            let inst = unsafe { instance(vmctx) };
            let (dm, sm) = (memory(inst, dst_mem)?, memory(inst, src_mem)?);
            // The length's width follows the smaller index type of the two memories.
            let len = if dm.is_64() && sm.is_64() {
                len as u64
            } else {
                u64::from(len as u32)
            };
            let d = dm
                .range(mem_index(dm, dst), len)
                .ok_or(TrapKind::MemoryOutOfBounds)?;
            let s = sm
                .range(mem_index(sm, src), len)
                .ok_or(TrapKind::MemoryOutOfBounds)?;
            // SAFETY: both ranges are accessible; `copy` handles overlap.
            unsafe { std::ptr::copy(s, d, len as usize) };
            Ok(())
        })();
        // SAFETY: called from guest code.
        unsafe { check(r) }
    }

    /// `memory.init`.
    ///
    /// # Safety
    /// As [`memory_grow`].
    pub unsafe extern "C" fn memory_init(
        vmctx: *mut u8,
        mem: i32,
        data: i32,
        dst: i64,
        src: i32,
        len: i32,
    ) {
        let r = (|| {
            // SAFETY: compiled code passes its live VM context.
            let inst = unsafe { instance(vmctx) };
            let m = memory(inst, mem)?;
            let bytes = inst
                .data_segment(data as u32)
                .ok_or(TrapKind::MemoryOutOfBounds)?;
            let (src, len) = (src as u32 as usize, len as u32 as usize);
            let end = src.checked_add(len).ok_or(TrapKind::MemoryOutOfBounds)?;
            let from = bytes.get(src..end).ok_or(TrapKind::MemoryOutOfBounds)?;
            let d = m
                .range(mem_index(m, dst), len as u64)
                .ok_or(TrapKind::MemoryOutOfBounds)?;
            // SAFETY: `d` is accessible for `len` bytes; the source is the module's data blob.
            unsafe { std::ptr::copy(from.as_ptr(), d, len) };
            Ok(())
        })();
        // SAFETY: called from guest code.
        unsafe { check(r) }
    }

    /// `data.drop`.
    ///
    /// # Safety
    /// As [`memory_grow`].
    pub unsafe extern "C" fn data_drop(vmctx: *mut u8, data: i32) {
        // SAFETY: compiled code passes its live VM context.
        let inst = unsafe { instance(vmctx) };
        if let Some(d) = inst.data_dropped.get(data as u32 as usize) {
            d.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// `table.grow`.
    ///
    /// # Safety
    /// As [`memory_grow`].
    pub unsafe extern "C" fn table_grow(vmctx: *mut u8, tab: i32, delta: i32, init: i64) -> i32 {
        // SAFETY: compiled code passes its live VM context.
        let inst = unsafe { instance(vmctx) };
        let Ok(t) = table(inst, tab) else { return -1 };
        t.grow_raw(u64::from(delta as u32), init as u64)
            .map_or(-1, |old| old as i32)
    }

    /// `table.fill`.
    ///
    /// # Safety
    /// As [`memory_grow`].
    pub unsafe extern "C" fn table_fill(vmctx: *mut u8, tab: i32, dst: i32, val: i64, len: i32) {
        let r = (|| {
            // SAFETY: compiled code passes its live VM context.
            let t = table(unsafe { instance(vmctx) }, tab)?;
            t.fill_raw(u64::from(dst as u32), val as u64, u64::from(len as u32))
        })();
        // SAFETY: called from guest code.
        unsafe { check(r) }
    }

    /// `table.copy`.
    ///
    /// # Safety
    /// As [`memory_grow`].
    pub unsafe extern "C" fn table_copy(
        vmctx: *mut u8,
        dst_tab: i32,
        src_tab: i32,
        dst: i32,
        src: i32,
        len: i32,
    ) {
        let r = (|| {
            // SAFETY: compiled code passes its live VM context.
            let inst = unsafe { instance(vmctx) };
            let (d, s) = (table(inst, dst_tab)?, table(inst, src_tab)?);
            d.copy_from(
                s,
                u64::from(dst as u32),
                u64::from(src as u32),
                u64::from(len as u32),
            )
        })();
        // SAFETY: called from guest code.
        unsafe { check(r) }
    }

    /// `table.init`.
    ///
    /// # Safety
    /// As [`memory_grow`].
    pub unsafe extern "C" fn table_init(
        vmctx: *mut u8,
        tab: i32,
        elem: i32,
        dst: i32,
        src: i32,
        len: i32,
    ) {
        let r = (|| {
            // SAFETY: compiled code passes its live VM context.
            let inst = unsafe { instance(vmctx) };
            let t = table(inst, tab)?;
            let items = inst
                .elems
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(elem as u32 as usize)
                .ok_or(TrapKind::TableOutOfBounds)?
                .clone();
            let items: &[u64] = items.as_deref().unwrap_or(&[]);
            let (src, len) = (src as u32 as usize, len as u32 as usize);
            let end = src.checked_add(len).ok_or(TrapKind::TableOutOfBounds)?;
            let from = items.get(src..end).ok_or(TrapKind::TableOutOfBounds)?;
            t.write_raw(u64::from(dst as u32), from)
        })();
        // SAFETY: called from guest code.
        unsafe { check(r) }
    }

    /// `elem.drop`.
    ///
    /// # Safety
    /// As [`memory_grow`].
    pub unsafe extern "C" fn elem_drop(vmctx: *mut u8, elem: i32) {
        // SAFETY: compiled code passes its live VM context.
        let inst = unsafe { instance(vmctx) };
        let mut e = inst.elems.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = e.get_mut(elem as u32 as usize) {
            *slot = None;
        }
    }

    /// Epoch deadline reached: traps with `interrupted`.
    ///
    /// # Safety
    /// As [`memory_grow`].
    pub unsafe extern "C" fn out_of_epoch(_vmctx: *mut u8) {
        // SAFETY: called from guest code; nothing to drop.
        unsafe { traps::raise_trap(TrapKind::Interrupt) }
    }

    /// Allocates an exception object of tag `tag` (collecting first when due, see `exn_heap`).
    ///
    /// # Safety
    /// As [`memory_grow`].
    pub unsafe extern "C" fn exn_new(vmctx: *mut u8, tag: i32) -> i64 {
        let r = (|| {
            // SAFETY: compiled code passes its live VM context.
            let inst = unsafe { instance(vmctx) };
            let tag = inst
                .tags
                .get(tag as u32 as usize)
                .ok_or(TrapKind::NullReference)?;
            crate::exn_heap::alloc(tag, traps::thread_guest_stack_top())
        })();
        // SAFETY: called from guest code.
        unsafe { check(r) as i64 }
    }

    /// Throws exception object `exn`: resumes at its handler or unwinds to the entry point.
    ///
    /// # Safety
    /// As [`memory_grow`]; called with the `tail` convention (same argument registers).
    pub unsafe extern "C" fn throw_ref(_vmctx: *mut u8, exn: i64) {
        let exn = exn as usize;
        match crate::throw::throw_action(exn) {
            // SAFETY: the action holds no resources; every Rust value of the search is dropped.
            Ok(r) => unsafe { crate::throw::resume(r, exn) },
            // SAFETY: called from guest code; the trap moves.
            Err(trap) => unsafe { traps::raise_user_trap(trap) },
        }
    }

    /// Raises a trap of the given kind.
    ///
    /// # Safety
    /// As [`memory_grow`].
    pub unsafe extern "C" fn raise_trap(_vmctx: *mut u8, kind: i32) {
        let kind = u8::try_from(kind)
            .ok()
            .and_then(TrapKind::from_u8)
            .unwrap_or(TrapKind::UnreachableCodeReached);
        // SAFETY: called from guest code; nothing to drop.
        unsafe { traps::raise_trap(kind) }
    }
}

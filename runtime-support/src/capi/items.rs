//! C API: externs (`kiln_extern_t`), memories, globals and tables.

use super::engine::kiln_engine_t;
use super::func::kiln_func_t;
use super::val::{self, kiln_val_t};
use super::*;
use crate::global::Global;
use crate::memory::Memory;
use crate::table::Table;
use crate::Extern;
use kiln_environ::{GlobalType, MemoryType, TableType};
use std::ffi::c_void;

/// `kiln_extern_t`: any importable/exportable item.
pub struct kiln_extern_t {
    pub(super) item: Extern,
}

/// `kiln_memory_t`: a memory handle.
pub struct kiln_memory_t {
    pub(super) memory: Memory,
}

/// `kiln_global_t`: a global handle.
pub struct kiln_global_t {
    pub(super) global: Global,
}

/// `kiln_table_t`: a table handle.
pub struct kiln_table_t {
    pub(super) table: Table,
}

/// `kiln_memorytype_t`: a memory type.
#[repr(C)]
pub struct kiln_memorytype_t {
    /// Minimum pages.
    pub min: u64,
    /// Maximum pages, if `has_max`.
    pub max: u64,
    /// Whether there is a maximum.
    pub has_max: bool,
    /// 64-bit indexed.
    pub memory64: bool,
    /// Shared.
    pub shared: bool,
    /// log2 of the page size (0 means 16).
    pub page_size_log2: u8,
}

/// `kiln_tabletype_t`: a table type.
#[repr(C)]
pub struct kiln_tabletype_t {
    /// Element type tag.
    pub element: kiln_valkind_t,
    /// Minimum elements.
    pub min: u64,
    /// Maximum elements, if `has_max`.
    pub max: u64,
    /// Whether there is a maximum.
    pub has_max: bool,
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_extern_kind(item: *const kiln_extern_t) -> kiln_externkind_t {
    // SAFETY: NULL or a live handle.
    match unsafe { item.as_ref() }.map(|e| &e.item) {
        Some(Extern::Func(_)) => 0,
        Some(Extern::Table(_)) => 1,
        Some(Extern::Memory(_)) => 2,
        Some(Extern::Global(_)) => 3,
        Some(Extern::Tag(_)) => 4,
        None => 0xFF,
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_extern_delete(item: *mut kiln_extern_t) {
    // SAFETY: NULL or a handle from this API.
    unsafe { free(item) }
}

/// Converts an extern handle to a typed handle, or NULL.
///
/// # Safety
/// `item` is NULL or live.
unsafe fn extern_to<T>(
    item: *const kiln_extern_t,
    pick: impl FnOnce(&Extern) -> Option<T>,
) -> *mut T {
    // SAFETY: caller contract.
    match unsafe { item.as_ref() }.and_then(|e| pick(&e.item)) {
        Some(v) => boxed(v),
        None => std::ptr::null_mut(),
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_extern_to_func(item: *const kiln_extern_t) -> *mut kiln_func_t {
    // SAFETY: NULL or a live handle.
    unsafe {
        extern_to(item, |e| match e {
            Extern::Func(f) => Some(kiln_func_t { func: f.clone() }),
            _ => None,
        })
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_extern_to_memory(item: *const kiln_extern_t) -> *mut kiln_memory_t {
    // SAFETY: NULL or a live handle.
    unsafe {
        extern_to(item, |e| match e {
            Extern::Memory(m) => Some(kiln_memory_t { memory: m.clone() }),
            _ => None,
        })
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_extern_to_global(item: *const kiln_extern_t) -> *mut kiln_global_t {
    // SAFETY: NULL or a live handle.
    unsafe {
        extern_to(item, |e| match e {
            Extern::Global(g) => Some(kiln_global_t { global: g.clone() }),
            _ => None,
        })
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_extern_to_table(item: *const kiln_extern_t) -> *mut kiln_table_t {
    // SAFETY: NULL or a live handle.
    unsafe {
        extern_to(item, |e| match e {
            Extern::Table(t) => Some(kiln_table_t { table: t.clone() }),
            _ => None,
        })
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_func_as_extern(func: *const kiln_func_t) -> *mut kiln_extern_t {
    // SAFETY: NULL or a live handle.
    unsafe { func.as_ref() }.map_or(std::ptr::null_mut(), |f| {
        boxed(kiln_extern_t {
            item: Extern::Func(f.func.clone()),
        })
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_memory_as_extern(memory: *const kiln_memory_t) -> *mut kiln_extern_t {
    // SAFETY: NULL or a live handle.
    unsafe { memory.as_ref() }.map_or(std::ptr::null_mut(), |m| {
        boxed(kiln_extern_t {
            item: Extern::Memory(m.memory.clone()),
        })
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_global_as_extern(global: *const kiln_global_t) -> *mut kiln_extern_t {
    // SAFETY: NULL or a live handle.
    unsafe { global.as_ref() }.map_or(std::ptr::null_mut(), |g| {
        boxed(kiln_extern_t {
            item: Extern::Global(g.global.clone()),
        })
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_table_as_extern(table: *const kiln_table_t) -> *mut kiln_extern_t {
    // SAFETY: NULL or a live handle.
    unsafe { table.as_ref() }.map_or(std::ptr::null_mut(), |t| {
        boxed(kiln_extern_t {
            item: Extern::Table(t.table.clone()),
        })
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_memory_new(
    engine: *const kiln_engine_t,
    ty: *const kiln_memorytype_t,
    out: *mut *mut kiln_memory_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let engine = unsafe { handle(engine, "engine") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let ty = unsafe { handle(ty, "type") }?;
        let ty = MemoryType {
            min: ty.min,
            max: ty.has_max.then_some(ty.max),
            memory64: ty.memory64,
            shared: ty.shared,
            page_size_log2: if ty.page_size_log2 == 0 {
                16
            } else {
                ty.page_size_log2
            },
        };
        let memory = Memory::new(&engine.engine, ty)?;
        *out = boxed(kiln_memory_t { memory });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_memory_delete(memory: *mut kiln_memory_t) {
    // SAFETY: NULL or a handle from this API.
    unsafe { free(memory) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_memory_data(memory: *const kiln_memory_t) -> *mut u8 {
    // SAFETY: NULL or a live handle.
    unsafe { memory.as_ref() }.map_or(std::ptr::null_mut(), |m| m.memory.data_ptr())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_memory_data_size(memory: *const kiln_memory_t) -> usize {
    // SAFETY: NULL or a live handle.
    unsafe { memory.as_ref() }.map_or(0, |m| m.memory.data_size() as usize)
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_memory_size_pages(memory: *const kiln_memory_t) -> u64 {
    // SAFETY: NULL or a live handle.
    unsafe { memory.as_ref() }.map_or(0, |m| m.memory.size_pages())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_memory_grow(
    memory: *const kiln_memory_t,
    delta: u64,
    old_pages: *mut u64,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: NULL or a live handle.
        let m = unsafe { handle(memory, "memory") }?;
        let old = m.memory.grow(delta)?;
        // SAFETY: NULL or valid for writes.
        if let Some(o) = unsafe { old_pages.as_mut() } {
            *o = old;
        }
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_memory_read(
    memory: *const kiln_memory_t,
    offset: u64,
    buf: *mut c_void,
    len: usize,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: NULL or a live handle.
        let m = unsafe { handle(memory, "memory") }?;
        if len == 0 {
            return m.memory.read(offset, &mut []);
        }
        if buf.is_null() {
            return Err(null("buf"));
        }
        // SAFETY: `buf` has `len` writable bytes per the contract.
        let buf = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
        m.memory.read(offset, buf)
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_memory_write(
    memory: *const kiln_memory_t,
    offset: u64,
    data: *const c_void,
    len: usize,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let m = unsafe { handle(memory, "memory") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let data = unsafe { slice_arg(data.cast::<u8>(), len, "data") }?;
        m.memory.write(offset, data)
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_global_new(
    engine: *const kiln_engine_t,
    kind: kiln_valkind_t,
    mutable_: bool,
    init: *const kiln_val_t,
    out: *mut *mut kiln_global_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let engine = unsafe { handle(engine, "engine") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let init = unsafe { val::read_arg(init, "init") }?;
        let ty = GlobalType {
            ty: val::type_of(kind)?,
            mutable: mutable_,
        };
        let global = Global::new(&engine.engine, ty, init)?;
        *out = boxed(kiln_global_t { global });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_global_delete(global: *mut kiln_global_t) {
    // SAFETY: NULL or a handle from this API.
    unsafe { free(global) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_global_kind(global: *const kiln_global_t) -> kiln_valkind_t {
    // SAFETY: NULL or a live handle.
    unsafe { global.as_ref() }.map_or(KILN_VALKIND_INVALID, |g| val::kind_of(g.global.ty().ty))
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_global_is_mutable(global: *const kiln_global_t) -> bool {
    // SAFETY: NULL or a live handle.
    unsafe { global.as_ref() }.is_some_and(|g| g.global.ty().mutable)
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_global_get(
    global: *const kiln_global_t,
    out: *mut kiln_val_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let g = unsafe { handle(global, "global") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        unsafe { val::write_out(out, g.global.get()) }
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_global_set(
    global: *const kiln_global_t,
    v: *const kiln_val_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let g = unsafe { handle(global, "global") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let v = unsafe { val::read_arg(v, "val") }?;
        g.global.set(v)
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_table_new(
    engine: *const kiln_engine_t,
    ty: *const kiln_tabletype_t,
    init: *const kiln_val_t,
    out: *mut *mut kiln_table_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let engine = unsafe { handle(engine, "engine") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let ty = unsafe { handle(ty, "type") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let init = unsafe { val::read_arg(init, "init") }?;
        let ty = TableType {
            element: val::type_of(ty.element)?,
            min: ty.min,
            max: ty.has_max.then_some(ty.max),
        };
        let table = Table::new(&engine.engine, ty, init)?;
        *out = boxed(kiln_table_t { table });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_table_delete(table: *mut kiln_table_t) {
    // SAFETY: NULL or a handle from this API.
    unsafe { free(table) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_table_element(table: *const kiln_table_t) -> kiln_valkind_t {
    // SAFETY: NULL or a live handle.
    unsafe { table.as_ref() }.map_or(KILN_VALKIND_INVALID, |t| val::kind_of(t.table.ty().element))
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_table_size(table: *const kiln_table_t) -> u64 {
    // SAFETY: NULL or a live handle.
    unsafe { table.as_ref() }.map_or(0, |t| t.table.size())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_table_get(
    table: *const kiln_table_t,
    index: u64,
    out: *mut kiln_val_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: NULL or a live handle.
        let t = unsafe { handle(table, "table") }?;
        let v = t
            .table
            .get(index)
            .ok_or_else(|| Error::Other("out of bounds table access".into()))?;
        // SAFETY: NULL or valid for writes.
        unsafe { val::write_out(out, v) }
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_table_set(
    table: *const kiln_table_t,
    index: u64,
    v: *const kiln_val_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let t = unsafe { handle(table, "table") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let v = unsafe { val::read_arg(v, "val") }?;
        t.table.set(index, v)
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_table_grow(
    table: *const kiln_table_t,
    delta: u64,
    init: *const kiln_val_t,
    old_size: *mut u64,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let t = unsafe { handle(table, "table") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let init = unsafe { val::read_arg(init, "init") }?;
        let old = t.table.grow(delta, init)?;
        // SAFETY: NULL or valid for writes.
        if let Some(o) = unsafe { old_size.as_mut() } {
            *o = old;
        }
        Ok(())
    })
}

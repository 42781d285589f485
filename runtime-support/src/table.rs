//! Tables: element storage, growth, and the host-facing [`Table`] handle.
//!
//! Elements are 8-byte words (a `*const VMFuncRef` or a raw externref, 0 is null) in storage
//! that never moves: the table's maximum is reserved as inaccessible address space up front
//! and growth makes more of it accessible (as for linear memories), so compiled code, host
//! calls on other threads and the runtime's bulk operations never see the base change. The
//! `VMTableDefinition` compiled code reads lives in the defining instance's VM context (or in a
//! box for host tables); growth publishes the new `current_elements` after the storage behind
//! it is accessible, and sizes only increase, so a reader racing a grower stays in bounds.
//! Element words are read and written atomically.

use crate::engine::Engine;
use crate::error::Error;
use crate::func::{Func, KeepAlive};
use crate::instance::InstanceInner;
use crate::pool::Reservation;
use crate::store::StoreCell;
use crate::values::Val;
use crate::vm::VMTableDefinition;
use kiln_environ::{TableType, TrapKind, ValType};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The most elements a table may have, whatever its declared maximum.
pub const MAX_TABLE_ELEMENTS: u64 = 10_000_000;

pub(crate) struct TableInner {
    /// The reservation of `max` elements (rounded up to pages); `[0, size)` is accessible.
    storage: Reservation,
    /// Bytes of `storage` made accessible so far.
    committed: Mutex<usize>,
    ty: TableType,
    max: u64,
    def: *mut VMTableDefinition,
    own_def: Option<Box<VMTableDefinition>>,
    /// Functions stored by the host (their references must outlive the table).
    keep_funcs: KeepAlive,
    /// Instances that imported the table (guest code may store their references into it).
    keep_instances: Mutex<Vec<Arc<InstanceInner>>>,
    pub(crate) engine: Engine,
    /// The store whose guest code may reach the table (set when an instance defines or imports
    /// it, or the host stores a guest function into it); function references of other stores
    /// join theirs with it.
    pub(crate) store: StoreCell,
}

// SAFETY: element words are accessed atomically; the storage never moves and growth is
// serialized by `committed`; the raw definition pointer is kept alive by the handle's owner.
unsafe impl Send for TableInner {}
// SAFETY: as above.
unsafe impl Sync for TableInner {}

impl TableInner {
    /// Creates a table whose definition lives at `def` (when given) or in a box.
    ///
    /// # Safety
    /// `def`, when given, must stay valid while the returned value is used.
    pub(crate) unsafe fn new(
        engine: &Engine,
        ty: &TableType,
        init: u64,
        def: Option<*mut VMTableDefinition>,
    ) -> Result<TableInner, Error> {
        if !matches!(ty.element, ValType::FuncRef | ValType::ExternRef) {
            return Err(Error::Other(format!(
                "invalid table element type {}",
                ty.element
            )));
        }
        let max = ty.max.unwrap_or(u64::MAX).min(MAX_TABLE_ELEMENTS);
        if ty.min > max {
            return Err(Error::Other(format!(
                "table minimum of {} elements exceeds the limit of {max}",
                ty.min
            )));
        }
        let page = crate::memory::host_page_size();
        let bytes = (max as usize)
            .checked_mul(8)
            .and_then(|b| b.checked_next_multiple_of(page))
            .ok_or_else(|| Error::Other("table too large".into()))?;
        // The minimum's storage is made accessible with the reservation (a pooled one may
        // already have it); `grow_by` below then only writes the initial elements.
        let min_bytes = (ty.min as usize)
            .checked_mul(8)
            .and_then(|b| b.checked_next_multiple_of(page))
            .ok_or_else(|| Error::Other("table too large".into()))?
            .min(bytes);
        let storage = Reservation::new(engine.pool(), bytes, min_bytes, None)?;
        let (def, own_def) = match def {
            Some(p) => (p, None),
            None => {
                let mut b = Box::new(VMTableDefinition {
                    base: std::ptr::null_mut(),
                    current_elements: 0,
                });
                (&mut *b as *mut VMTableDefinition, Some(b))
            }
        };
        // SAFETY: `def` is valid (caller contract or our box).
        unsafe {
            (*def).base = storage.base().cast();
            (*def).current_elements = 0;
        }
        let t = TableInner {
            storage,
            committed: Mutex::new(min_bytes),
            ty: ty.clone(),
            max,
            def,
            own_def,
            keep_funcs: KeepAlive::default(),
            keep_instances: Mutex::new(Vec::new()),
            engine: engine.clone(),
            store: StoreCell::default(),
        };
        if t.grow_by(ty.min, init, &|_, _| true).is_none() {
            return Err(Error::Other(format!(
                "cannot allocate a table of {} elements",
                ty.min
            )));
        }
        Ok(t)
    }

    /// Grows by `delta` elements set to `init` if the result is within `max` and `allow(old,
    /// new)`; returns the old size.
    fn grow_by(&self, delta: u64, init: u64, allow: &dyn Fn(u64, u64) -> bool) -> Option<u64> {
        let mut committed = self.committed.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.size();
        let new = old.checked_add(delta)?;
        if new > self.max || !allow(old, new) {
            return None;
        }
        let need = (new as usize)
            .checked_mul(8)?
            .checked_next_multiple_of(crate::memory::host_page_size())?
            .min(self.storage.len());
        if need > *committed {
            self.storage
                .make_accessible(*committed, need - *committed)
                .ok()?;
            *committed = need;
        }
        for i in old..new {
            self.slot(i).store(init, Ordering::Relaxed);
        }
        // SAFETY: `def` is valid; the elements up to `new` are accessible and initialized
        // before the size that admits them is published.
        unsafe { AtomicU64::from_ptr(&raw mut (*self.def).current_elements) }
            .store(new, Ordering::Release);
        Some(old)
    }

    /// The element word `i` (`i` below the committed size).
    fn slot(&self, i: u64) -> &AtomicU64 {
        // SAFETY: callers pass an index inside the accessible storage, which never moves and
        // lives as long as `self`; element words are only accessed atomically.
        unsafe { AtomicU64::from_ptr(self.base().add(i as usize)) }
    }

    /// The definition compiled code reads.
    pub(crate) fn definition(&self) -> *mut VMTableDefinition {
        let _ = &self.own_def;
        self.def
    }

    /// The element type.
    pub(crate) fn element(&self) -> ValType {
        self.ty.element
    }

    /// Current number of elements.
    pub(crate) fn size(&self) -> u64 {
        // SAFETY: `def` is valid while `self` is; the size is only written atomically.
        unsafe { AtomicU64::from_ptr(&raw mut (*self.def).current_elements) }
            .load(Ordering::Acquire)
    }

    fn base(&self) -> *mut u64 {
        // SAFETY: as above.
        unsafe { (*self.def).base }
    }

    /// Raw element `i`.
    pub(crate) fn get_raw(&self, i: u64) -> Option<u64> {
        if i >= self.size() {
            return None;
        }
        Some(self.slot(i).load(Ordering::Relaxed))
    }

    /// Fills `[dst, dst + len)` with `val`; traps when out of bounds.
    pub(crate) fn fill_raw(&self, dst: u64, val: u64, len: u64) -> Result<(), TrapKind> {
        let end = dst.checked_add(len).ok_or(TrapKind::TableOutOfBounds)?;
        if end > self.size() {
            return Err(TrapKind::TableOutOfBounds);
        }
        for i in dst..end {
            self.slot(i).store(val, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Writes `vals` at `dst`; traps when out of bounds.
    pub(crate) fn write_raw(&self, dst: u64, vals: &[u64]) -> Result<(), TrapKind> {
        let end = dst
            .checked_add(vals.len() as u64)
            .ok_or(TrapKind::TableOutOfBounds)?;
        if end > self.size() {
            return Err(TrapKind::TableOutOfBounds);
        }
        for (i, v) in (dst..end).zip(vals) {
            self.slot(i).store(*v, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Copies `len` elements from `src` (possibly the same table) at `s` to `self` at `d`.
    pub(crate) fn copy_from(
        &self,
        src: &TableInner,
        d: u64,
        s: u64,
        len: u64,
    ) -> Result<(), TrapKind> {
        let dend = d.checked_add(len).ok_or(TrapKind::TableOutOfBounds)?;
        let send = s.checked_add(len).ok_or(TrapKind::TableOutOfBounds)?;
        if dend > self.size() || send > src.size() {
            return Err(TrapKind::TableOutOfBounds);
        }
        // Element by element, in the direction that handles overlap within one table.
        if d <= s {
            for k in 0..len {
                self.slot(d + k)
                    .store(src.slot(s + k).load(Ordering::Relaxed), Ordering::Relaxed);
            }
        } else {
            for k in (0..len).rev() {
                self.slot(d + k)
                    .store(src.slot(s + k).load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Grows by `delta` elements set to `init`; returns the old size, or None (beyond the
    /// maximum, refused by the store's limiter, or out of memory).
    pub(crate) fn grow_raw(&self, delta: u64, init: u64) -> Option<u64> {
        let limiter = self.store.get().and_then(|s| s.limiter());
        let max = self.ty.max;
        self.grow_by(delta, init, &|old, new| {
            limiter
                .as_ref()
                .is_none_or(|l| l.table_growing(old, new, max))
        })
    }

    /// Keeps `f` alive as long as the table (it was stored into it by the host).
    pub(crate) fn keep_func(&self, f: &Func) {
        self.keep_funcs.keep(f);
    }

    /// Keeps an importing instance alive as long as the table (its function references may be
    /// stored into the table by guest code). This forms a cycle when the table's owner is
    /// reachable from the importer (always, within a component): a component instance breaks
    /// it when dropped ([`TableInner::release_instances`]), and an instance freed anyway nulls
    /// its references in the tables it imported ([`TableInner::forget_refs_into`]).
    pub(crate) fn keep_instance(&self, i: Arc<InstanceInner>) {
        self.keep_instances
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(i);
    }

    /// Stops keeping alive the importing instances `release` selects; returns them, for the
    /// caller to drop after this table's lock is released.
    pub(crate) fn release_instances(
        &self,
        release: &dyn Fn(&Arc<InstanceInner>) -> bool,
    ) -> Vec<Arc<InstanceInner>> {
        crate::instance::release_kept(&self.keep_instances, release)
    }

    /// Nulls every function reference into `[start, end)`: the VM context of an instance
    /// being freed, so the table never points at freed (or reused) memory.
    pub(crate) fn forget_refs_into(&self, start: usize, end: usize) {
        for i in 0..self.size() {
            let slot = self.slot(i);
            let v = slot.load(Ordering::Relaxed) as usize;
            if v >= start && v < end {
                slot.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Encodes a value for this table, keeping functions alive.
    pub(crate) fn encode(&self, v: &Val) -> Result<u64, Error> {
        if v.ty() != self.ty.element {
            return Err(Error::Other(format!(
                "value of type {} does not fit a table of {}",
                v.ty(),
                self.ty.element
            )));
        }
        if let Val::FuncRef(Some(f)) = v {
            if !Engine::same(f.engine(), &self.engine) {
                return Err(crate::store::engine_mismatch("the function"));
            }
            if let Some(s) = f.store() {
                self.store.join(&s)?;
            }
        }
        Ok(v.to_raw(&mut |f| self.keep_func(f)) as u64)
    }
}

/// A table: exported by an instance or created by the host. Cloning gives another handle.
#[derive(Clone)]
pub struct Table {
    pub(crate) inner: Arc<TableInner>,
    pub(crate) _instance: Option<Arc<InstanceInner>>,
}

impl Table {
    /// Creates a host table of type `ty` with every element set to `init`.
    pub fn new(engine: &Engine, ty: TableType, init: Val) -> Result<Table, Error> {
        // SAFETY: no external definition.
        let inner = unsafe { TableInner::new(engine, &ty, 0, None)? };
        let raw = inner.encode(&init)?;
        inner.fill_raw(0, raw, inner.size()).map_err(Error::from)?;
        Ok(Table {
            inner: Arc::new(inner),
            _instance: None,
        })
    }

    /// The type, with the current size as minimum.
    pub fn ty(&self) -> TableType {
        TableType {
            min: self.size(),
            ..self.inner.ty.clone()
        }
    }

    /// Current number of elements.
    pub fn size(&self) -> u64 {
        self.inner.size()
    }

    /// Element `i`, or None when out of bounds.
    pub fn get(&self, i: u64) -> Option<Val> {
        let raw = self.inner.get_raw(i)?;
        // SAFETY: table elements are null or live references of the table's element type.
        Some(unsafe { Val::from_raw(&self.inner.engine, self.inner.element(), u128::from(raw)) })
    }

    /// Sets element `i`.
    pub fn set(&self, i: u64, v: Val) -> Result<(), Error> {
        let raw = self.inner.encode(&v)?;
        self.inner.write_raw(i, &[raw]).map_err(Error::from)
    }

    /// Grows by `delta` elements set to `init`; returns the old size.
    pub fn grow(&self, delta: u64, init: Val) -> Result<u64, Error> {
        let raw = self.inner.encode(&init)?;
        self.inner
            .grow_raw(delta, raw)
            .ok_or_else(|| Error::Other(format!("failed to grow table by {delta}")))
    }

    /// Whether two handles refer to the same table.
    pub fn same(a: &Table, b: &Table) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("ty", &self.ty()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_environ::FuncType;

    fn ty(element: ValType, min: u64, max: Option<u64>) -> TableType {
        TableType { element, min, max }
    }

    #[test]
    fn externref_table_ops() {
        let e = Engine::default();
        let t = Table::new(
            &e,
            ty(ValType::ExternRef, 2, Some(4)),
            Val::ExternRef(Some(5)),
        )
        .unwrap();
        assert_eq!(t.size(), 2);
        assert!(matches!(t.get(1), Some(Val::ExternRef(Some(5)))));
        t.set(0, Val::ExternRef(None)).unwrap();
        assert!(matches!(t.get(0), Some(Val::ExternRef(None))));
        assert!(t.set(2, Val::ExternRef(None)).is_err());
        assert!(t.set(0, Val::FuncRef(None)).is_err());
        assert_eq!(t.grow(2, Val::ExternRef(Some(0))).unwrap(), 2);
        assert!(matches!(t.get(3), Some(Val::ExternRef(Some(0)))));
        assert!(t.grow(1, Val::ExternRef(None)).is_err());
        assert_eq!(t.grow(0, Val::ExternRef(None)).unwrap(), 4);
        assert_eq!(t.ty().min, 4);
    }

    #[test]
    fn raw_bulk_operations() {
        let e = Engine::default();
        let t = Table::new(&e, ty(ValType::ExternRef, 5, None), Val::ExternRef(None)).unwrap();
        let i = &t.inner;
        i.write_raw(1, &[10, 11, 12]).unwrap();
        assert_eq!(i.write_raw(4, &[1, 2]), Err(TrapKind::TableOutOfBounds));
        i.write_raw(5, &[]).unwrap();
        // Overlapping copy within one table.
        i.copy_from(i, 2, 1, 3).unwrap();
        assert_eq!(
            (0..5).map(|k| i.get_raw(k).unwrap()).collect::<Vec<_>>(),
            [0, 10, 10, 11, 12]
        );
        assert_eq!(i.copy_from(i, 3, 0, 3), Err(TrapKind::TableOutOfBounds));
        i.copy_from(i, 5, 5, 0).unwrap();
        i.fill_raw(0, 7, 2).unwrap();
        assert_eq!(i.fill_raw(4, 7, 2), Err(TrapKind::TableOutOfBounds));
        assert_eq!(i.fill_raw(u64::MAX, 7, 2), Err(TrapKind::TableOutOfBounds));
        // Growth moves the storage and updates the definition compiled code reads.
        let old = i.size();
        assert_eq!(i.grow_raw(1000, 3), Some(old));
        // SAFETY: the definition is owned by the table.
        let def = unsafe { &*i.definition() };
        assert_eq!(def.current_elements, 1005);
        // SAFETY: in bounds of the element array.
        assert_eq!(unsafe { *def.base.add(1004) }, 3);
        assert_eq!(i.get_raw(0), Some(7));
    }

    #[test]
    fn funcref_tables_hold_host_functions() {
        let e = Engine::default();
        let f = Func::new(&e, FuncType::default(), |_, _, _| Ok(()));
        let t = Table::new(
            &e,
            ty(ValType::FuncRef, 1, None),
            Val::FuncRef(Some(f.clone())),
        )
        .unwrap();
        drop(f);
        let Some(Val::FuncRef(Some(g))) = t.get(0) else {
            panic!("element 0")
        };
        assert!(g.is_host());
        assert!(g.call(&[]).unwrap().is_empty());
        assert!(Table::new(&e, ty(ValType::I32, 1, None), Val::I32(0)).is_err());
        assert!(Table::new(&e, ty(ValType::FuncRef, 3, Some(2)), Val::FuncRef(None)).is_err());
    }
}

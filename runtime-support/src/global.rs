//! Globals: 16-byte storage compiled code reads and writes, and the host-facing [`Global`].
//!
//! A defined global's storage lives in its instance's VM context; host globals own a boxed
//! `VMGlobalDefinition`. Importing instances get a pointer to the storage.

use crate::engine::Engine;
use crate::error::Error;
use crate::func::KeepAlive;
use crate::instance::InstanceInner;
use crate::store::StoreCell;
use crate::values::Val;
use crate::vm::VMGlobalDefinition;
use kiln_environ::{GlobalType, ValType};
use std::sync::{Arc, Mutex};

pub(crate) struct GlobalInner {
    ty: GlobalType,
    def: *mut VMGlobalDefinition,
    own_def: Option<Box<VMGlobalDefinition>>,
    keep_funcs: KeepAlive,
    keep_instances: Mutex<Vec<Arc<InstanceInner>>>,
    pub(crate) engine: Engine,
    /// The store whose guest code may reach the global (for function-reference globals).
    pub(crate) store: StoreCell,
}

// SAFETY: the storage is kept alive by the handle's owner; concurrent guest accesses are racy
// like any wasm global.
unsafe impl Send for GlobalInner {}
// SAFETY: as above.
unsafe impl Sync for GlobalInner {}

impl GlobalInner {
    /// Creates a global with raw initial value `raw`, stored at `def` (when given) or in a box.
    ///
    /// # Safety
    /// `def`, when given, must stay valid while the returned value is used.
    pub(crate) unsafe fn new(
        engine: &Engine,
        ty: &GlobalType,
        raw: u128,
        def: Option<*mut VMGlobalDefinition>,
    ) -> GlobalInner {
        let (def, own_def) = match def {
            Some(p) => (p, None),
            None => {
                let mut b = Box::new(VMGlobalDefinition::default());
                (&mut *b as *mut VMGlobalDefinition, Some(b))
            }
        };
        let g = GlobalInner {
            ty: ty.clone(),
            def,
            own_def,
            keep_funcs: KeepAlive::default(),
            keep_instances: Mutex::new(Vec::new()),
            engine: engine.clone(),
            store: StoreCell::default(),
        };
        g.set_raw(raw);
        g
    }

    /// The storage compiled code reads.
    pub(crate) fn definition(&self) -> *mut VMGlobalDefinition {
        let _ = &self.own_def;
        self.def
    }

    /// The raw value.
    pub(crate) fn get_raw(&self) -> u128 {
        // SAFETY: `def` is valid while `self` is.
        u128::from_le_bytes(unsafe { (*self.def).bytes })
    }

    fn set_raw(&self, raw: u128) {
        // SAFETY: as above.
        unsafe { (*self.def).bytes = raw.to_le_bytes() };
    }

    /// The type.
    pub(crate) fn ty(&self) -> &GlobalType {
        &self.ty
    }

    /// Checks a value the host stores into the global: a function must come from the global's
    /// engine, and its store joins the global's.
    fn admit(&self, v: &Val) -> Result<(), Error> {
        if let Val::FuncRef(Some(f)) = v {
            if !Engine::same(f.engine(), &self.engine) {
                return Err(crate::store::engine_mismatch("the function"));
            }
            if let Some(s) = f.store() {
                self.store.join(&s)?;
            }
        }
        Ok(())
    }

    /// Keeps an importing instance alive as long as the global (see `TableInner::keep_instance`).
    pub(crate) fn keep_instance(&self, i: Arc<InstanceInner>) {
        self.keep_instances
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(i);
    }

    /// See `TableInner::release_instances`.
    pub(crate) fn release_instances(
        &self,
        release: &dyn Fn(&Arc<InstanceInner>) -> bool,
    ) -> Vec<Arc<InstanceInner>> {
        crate::instance::release_kept(&self.keep_instances, release)
    }

    /// Nulls the global's function reference if it points into `[start, end)` (see
    /// `TableInner::forget_refs_into`).
    pub(crate) fn forget_ref_into(&self, start: usize, end: usize) {
        let v = self.get_raw() as usize;
        if self.ty().ty == ValType::FuncRef && v >= start && v < end {
            self.set_raw(0);
        }
    }
}

/// A global: exported by an instance or created by the host. Cloning gives another handle.
#[derive(Clone)]
pub struct Global {
    pub(crate) inner: Arc<GlobalInner>,
    pub(crate) _instance: Option<Arc<InstanceInner>>,
}

impl Global {
    /// Creates a host global of type `ty` holding `v`.
    pub fn new(engine: &Engine, ty: GlobalType, v: Val) -> Result<Global, Error> {
        if v.ty() != ty.ty {
            return Err(Error::Other(format!(
                "global of type {} cannot hold a value of type {}",
                ty.ty,
                v.ty()
            )));
        }
        // SAFETY: no external storage.
        let inner = unsafe { GlobalInner::new(engine, &ty, 0, None) };
        inner.admit(&v)?;
        let raw = v.to_raw(&mut |f| inner.keep_funcs.keep(f));
        inner.set_raw(raw);
        Ok(Global {
            inner: Arc::new(inner),
            _instance: None,
        })
    }

    /// The type.
    pub fn ty(&self) -> GlobalType {
        self.inner.ty.clone()
    }

    /// The current value.
    pub fn get(&self) -> Val {
        // SAFETY: the storage holds a value of the global's type.
        unsafe { Val::from_raw(&self.inner.engine, self.inner.ty.ty, self.inner.get_raw()) }
    }

    /// Sets the value (mutable globals only; the type must match).
    pub fn set(&self, v: Val) -> Result<(), Error> {
        if !self.inner.ty.mutable {
            return Err(Error::Other("cannot set an immutable global".into()));
        }
        if v.ty() != self.inner.ty.ty {
            return Err(Error::Other(format!(
                "global of type {} cannot hold a value of type {}",
                self.inner.ty.ty,
                v.ty()
            )));
        }
        self.inner.admit(&v)?;
        let raw = v.to_raw(&mut |f| self.inner.keep_funcs.keep(f));
        self.inner.set_raw(raw);
        Ok(())
    }

    /// Whether two handles refer to the same global.
    pub fn same(a: &Global, b: &Global) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }
}

impl std::fmt::Debug for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Global")
            .field("ty", &self.inner.ty)
            .field("value", &self.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::func::Func;
    use kiln_environ::{FuncType, ValType};

    #[test]
    fn get_set_and_types() {
        let e = Engine::default();
        let g = Global::new(
            &e,
            GlobalType {
                ty: ValType::I64,
                mutable: true,
            },
            Val::I64(-3),
        )
        .unwrap();
        assert!(matches!(g.get(), Val::I64(-3)));
        g.set(Val::I64(9)).unwrap();
        assert!(matches!(g.get(), Val::I64(9)));
        assert!(g.set(Val::I32(1)).is_err());
        // SAFETY: the storage is owned by the global.
        assert_eq!(unsafe { (*g.inner.definition()).bytes[0] }, 9);
        let c = Global::new(
            &e,
            GlobalType {
                ty: ValType::F32,
                mutable: false,
            },
            Val::F32(0x3f80_0000),
        )
        .unwrap();
        assert!(c.set(Val::F32(0)).is_err());
        assert!(matches!(c.get(), Val::F32(0x3f80_0000)));
        assert!(Global::new(
            &e,
            GlobalType {
                ty: ValType::I32,
                mutable: false
            },
            Val::I64(0)
        )
        .is_err());
        let v = Global::new(
            &e,
            GlobalType {
                ty: ValType::V128,
                mutable: false,
            },
            Val::V128(u128::MAX),
        )
        .unwrap();
        assert!(matches!(v.get(), Val::V128(u128::MAX)));
    }

    #[test]
    fn funcref_globals_keep_functions_alive() {
        let e = Engine::default();
        let f = Func::new(
            &e,
            FuncType {
                params: vec![],
                results: vec![ValType::I32],
            },
            |_, _, r| {
                r[0] = Val::I32(11);
                Ok(())
            },
        );
        let g = Global::new(
            &e,
            GlobalType {
                ty: ValType::FuncRef,
                mutable: true,
            },
            Val::FuncRef(Some(f)),
        )
        .unwrap();
        let Val::FuncRef(Some(h)) = g.get() else {
            panic!("funcref")
        };
        assert!(matches!(h.call(&[]).unwrap()[..], [Val::I32(11)]));
        g.set(Val::FuncRef(None)).unwrap();
        assert!(matches!(g.get(), Val::FuncRef(None)));
    }
}

//! The engine: process-wide runtime state shared by every module and instance created from it.
//!
//! Holds the epoch counter whose address every VM context carries (`vmctx.epoch_ptr`), the
//! type interner that gives each distinct function type (signature and canonical identity, see
//! `ModuleMetadata::type_identities`) an engine-wide id (compared by `call_indirect` and import
//! checks), and the configuration. Creating an engine installs the trap signal handlers
//! (once per process).

use kiln_environ::FuncType;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::loader::ArtifactSharing;
use crate::module::ModuleInner;
use crate::pool::ReservationPool;
use crate::signature::TrustedKeys;

/// Engine configuration.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Bytes of native stack guest code may use below the outermost entry (default 512 KiB).
    pub max_wasm_stack: usize,
    /// Most wasm exception objects alive at once on one thread (default 1 Mi); allocating
    /// beyond it (after collecting the unreachable ones) traps with `ExceptionLimit`.
    pub max_live_exceptions: usize,
    /// When set, every module and component loaded into the engine must carry a detached
    /// signature (`<file>.sig`, made by `kiln sign`) by one of these keys; it is checked
    /// before anything from the file is mapped (see `docs/trust-model.md`).
    pub trusted_keys: Option<Arc<TrustedKeys>>,
    /// How verified artifacts are mapped: the file itself when only this user or root can
    /// write it (pages shared between processes), else a sealed private copy.
    pub artifact_sharing: ArtifactSharing,
    /// Released linear-memory and table reservations the engine keeps for reuse by later
    /// instances (reset to zeros / the module's data image; see `pool.rs`); 0 turns pooling
    /// off (every memory and table maps and unmaps its own reservation). Default 64.
    pub pooled_reservations: usize,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            max_wasm_stack: 512 * 1024,
            max_live_exceptions: 1 << 20,
            trusted_keys: None,
            artifact_sharing: ArtifactSharing::Auto,
            pooled_reservations: 64,
        }
    }
}

/// A function type as the interner keys it: signature and canonical identity (`None` when the
/// signature alone identifies the type).
type TypeKey = (FuncType, Option<String>);

#[derive(Default)]
struct Interner {
    ids: HashMap<TypeKey, u32>,
    types: Vec<TypeKey>,
}

/// A wasm-to-host trampoline address and the module whose code holds it.
type TrampolineEntry = (usize, Weak<ModuleInner>);

pub(crate) struct EngineInner {
    /// The epoch counter; its address is stored in every VM context.
    pub(crate) epoch: AtomicU64,
    pub(crate) config: EngineConfig,
    interner: Mutex<Interner>,
    /// Wasm-to-host trampolines of loaded modules, by signature id: how guest code calls a host
    /// function that reached it without being imported (through a table or a funcref value).
    host_trampolines: Mutex<HashMap<u32, Vec<TrampolineEntry>>>,
    /// Released memory and table reservations kept for reuse.
    pool: Arc<ReservationPool>,
}

/// Process-wide state: epoch counter, signature interning, signal handlers (installed once).
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

impl Engine {
    /// Creates an engine (and installs the trap handlers if this is the first engine).
    pub fn new(config: EngineConfig) -> Engine {
        crate::traps::init_traps();
        Engine {
            inner: Arc::new(EngineInner {
                epoch: AtomicU64::new(0),
                interner: Mutex::new(Interner::default()),
                host_trampolines: Mutex::new(HashMap::new()),
                pool: ReservationPool::new(config.pooled_reservations),
                config,
            }),
        }
    }

    /// Advances the epoch counter by one (any thread).
    pub fn increment_epoch(&self) {
        self.inner.epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Relaxed)
    }

    /// The reservation pool (`None` when pooling is off).
    pub(crate) fn pool(&self) -> Option<&Arc<ReservationPool>> {
        Some(&self.inner.pool).filter(|_| self.inner.config.pooled_reservations > 0)
    }

    /// Released memory and table reservations the engine currently keeps for reuse.
    pub fn pooled_reservations(&self) -> usize {
        self.inner.pool.free_count()
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The engine-wide id of a function type (interned on first use).
    pub fn intern(&self, ty: &FuncType) -> u32 {
        self.intern_with_identity(ty, None)
    }

    /// The engine-wide id of a function type with a canonical identity (a type of a recursion
    /// group, or one with typed references: see `ModuleMetadata::type_identities`).
    pub(crate) fn intern_with_identity(&self, ty: &FuncType, identity: Option<&str>) -> u32 {
        let mut i = self
            .inner
            .interner
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let key = (ty.clone(), identity.map(str::to_string));
        if let Some(id) = i.ids.get(&key) {
            return *id;
        }
        let id = i.types.len() as u32;
        i.types.push(key.clone());
        i.ids.insert(key, id);
        id
    }

    /// The function type of an interned id.
    pub fn func_type(&self, id: u32) -> Option<FuncType> {
        let i = self
            .inner
            .interner
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        i.types.get(id as usize).map(|(t, _)| t.clone())
    }

    /// Records a module's wasm-to-host trampoline for signature `type_id`.
    pub(crate) fn register_host_trampoline(
        &self,
        type_id: u32,
        addr: usize,
        module: Weak<ModuleInner>,
    ) {
        let mut t = self
            .inner
            .host_trampolines
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let v = t.entry(type_id).or_default();
        v.retain(|(_, m)| m.strong_count() > 0);
        v.push((addr, module));
    }

    /// A live wasm-to-host trampoline for signature `type_id`, with the module holding it.
    pub(crate) fn host_trampoline(&self, type_id: u32) -> Option<(usize, Arc<ModuleInner>)> {
        let t = self
            .inner
            .host_trampolines
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        t.get(&type_id)?
            .iter()
            .rev()
            .find_map(|(a, m)| Some((*a, m.upgrade()?)))
    }

    /// The address of the epoch counter (stored in every VM context).
    pub(crate) fn epoch_ptr(&self) -> *const u64 {
        self.inner.epoch.as_ptr().cast_const()
    }

    /// Whether two handles refer to the same engine.
    pub fn same(a: &Engine, b: &Engine) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new(EngineConfig::default())
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("epoch", &self.epoch())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_environ::ValType;

    #[test]
    fn interner_gives_equal_types_equal_ids() {
        let e = Engine::default();
        let a = FuncType {
            params: vec![ValType::I32],
            results: vec![],
        };
        let b = FuncType {
            params: vec![ValType::I64],
            results: vec![],
        };
        let ia = e.intern(&a);
        let ib = e.intern(&b);
        assert_ne!(ia, ib);
        assert_eq!(e.intern(&a.clone()), ia);
        assert_eq!(e.func_type(ib), Some(b));
        assert_eq!(e.func_type(999), None);
    }

    #[test]
    fn epoch_counts() {
        let e = Engine::default();
        assert_eq!(e.epoch(), 0);
        e.increment_epoch();
        e.increment_epoch();
        assert_eq!(e.epoch(), 2);
        // SAFETY: the pointer is the live counter of `e`.
        assert_eq!(unsafe { *e.epoch_ptr() }, 2);
    }
}

//! A component instance: [`ComponentInstance`] (what instantiation built: core instances,
//! lowered functions, the shared state the glue reaches through the component VM context) and
//! its accessors, and [`ComponentFunc`], one lifted function of it. Calls are in `raw.rs`
//! (host C representation) and `call.rs` (dynamic values over the raw path).

use super::host::{HostDtorFn, StateMap};
use super::linking::ResourceType as ResourceId;
use super::load::Component;
use super::resources::{HandleError, HandleTable, HandleTables};
use super::vmctx::VMComponentContext;
use crate::error::{Error, Trap};
use crate::func::Func;
use crate::instance::Instance;
use crate::memory::Memory;
use crate::values::Val;
use kiln_environ::component::glue::GlueTrap;
use kiln_environ::component::vmctx::{VMComponentOffsets, FLAG_MAY_ENTER};
use kiln_environ::component::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// State the runtime-made core functions (lowerings, intrinsics) and the glue builtins reach
/// through the component VM context or a weak reference, so they do not keep the instance
/// alive in a cycle.
pub(super) struct Shared {
    pub(super) handles: HandleTables,
    pub(super) memories: Mutex<Vec<Memory>>,
    pub(super) reallocs: Mutex<Vec<Func>>,
    pub(super) post_returns: Mutex<Vec<Func>>,
    pub(super) lifted: Mutex<Vec<Lifted>>,
    pub(super) dtors: Mutex<Vec<Option<Func>>>,
    pub(super) resources: Vec<ResourceType>,
    /// Per-instance host state (`ComponentLinker::instance_state`), by type.
    pub(super) states: StateMap,
    /// Host destructors of imported (host-implemented) resource types, by resource index.
    pub(super) host_dtors: Vec<Option<Arc<HostDtorFn>>>,
    /// Imported resource types by version-normalised import path (`HostCx::resource`).
    pub(super) resource_names: HashMap<String, ResourceIndex>,
    /// Index of the host's handle table (after one table per component instance).
    pub(super) host_table: u32,
    /// The run-time identity of each resource type (`linking.rs`).
    pub(super) resource_ids: HashMap<ResourceIndex, ResourceId>,
    /// The component VM context. It lives here, not in the instance, because the resource
    /// intrinsics (reachable from core instances that may outlive the component instance
    /// handle) read its `may_leave` flags.
    pub(super) vmctx: VMComponentContext,
    /// The host value budget of each call (`arena.rs`).
    pub(super) host_value_budget: u64,
    /// The instance, once instantiation finished (weak: the instance owns `Shared`).
    pub(super) this: std::sync::OnceLock<std::sync::Weak<ComponentInstanceInner>>,
    /// Component-model async: tasks, threads, waitables (`concurrent`).
    pub(super) concurrent: super::concurrent::Concurrent,
    /// The engine (configuration of task stacks).
    pub(super) engine: crate::Engine,
}

impl Shared {
    /// Runs `f` on the handle table of `instance`; a refusal becomes the trap the reference
    /// implementation words it as.
    pub(super) fn in_table<R>(
        &self,
        instance: ComponentInstanceIndex,
        f: impl FnOnce(&mut HandleTable) -> Result<R, HandleError>,
    ) -> Result<R, Trap> {
        self.handles
            .with(instance, f)
            .unwrap_or(Err(HandleError::Unknown(0)))
            .map_err(|e| e.into_trap(&self.resources))
    }

    /// Option memory `index`.
    pub(super) fn memory(&self, index: RuntimeMemoryIndex) -> Option<Memory> {
        lock(&self.memories).get(index as usize).cloned()
    }

    /// Option realloc `index`.
    pub(super) fn realloc(&self, index: ReallocIndex) -> Option<Func> {
        lock(&self.reallocs).get(index as usize).cloned()
    }

    /// Option post-return `index`.
    pub(super) fn post_return(&self, index: PostReturnIndex) -> Option<Func> {
        lock(&self.post_returns).get(index as usize).cloned()
    }
}

impl crate::store::StoreMember for Shared {
    fn store_slot(&self) -> &std::sync::atomic::AtomicPtr<crate::vm::VMStoreContext> {
        // SAFETY: the store-context slot of the component VM context: 8-aligned, inside the
        // context (its header), alive as long as `self`, and only accessed atomically.
        unsafe {
            std::sync::atomic::AtomicPtr::from_ptr(
                self.vmctx
                    .ptr()
                    .add(VMComponentOffsets::STORE_CONTEXT as usize)
                    .cast(),
            )
        }
    }
}

/// A lifted function as the plan defined it.
#[derive(Clone)]
pub(super) struct Lifted {
    pub(super) callee: Func,
    pub(super) ty: ComponentFuncType,
    pub(super) options: CanonicalOptions,
    /// The `callback` of a stackless `async` lift.
    pub(super) callback: Option<Func>,
}

/// Locks `m`, ignoring poisoning (the data stays consistent: every critical section is a
/// single push or read).
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What instantiation built.
pub(super) struct ComponentInstanceInner {
    pub(super) component: Component,
    pub(super) shared: Arc<Shared>,
    pub(super) core_instances: Vec<Instance>,
    pub(super) lowered: Vec<Func>,
    /// The modules the linker provided for core module imports.
    pub(super) imported_modules: HashMap<ImportIndex, crate::Module>,
    /// Set when a trap unwound out of an export call or post-return that had entered the
    /// instance (`ComponentInstance::is_poisoned`).
    pub(super) poisoned: std::sync::atomic::AtomicBool,
}

impl Drop for ComponentInstanceInner {
    /// Breaks the keep-alive cycles among the component's core instances: a core instance that
    /// imports a funcref table or global of another (wit-component's shim and fixup modules
    /// always do) is kept alive by it, and the owner is reachable from the importer. Without
    /// the component instance nothing reaches them as a group; a core instance a host still
    /// holds keeps working, with the references of freed siblings in its tables nulled.
    fn drop(&mut self) {
        // Suspended tasks unwind first, while everything they reach is still alive.
        self.shared.concurrent.shutdown();
        let mine: Vec<*const crate::instance::InstanceInner> = self
            .core_instances
            .iter()
            .map(|i| Arc::as_ptr(&i.inner))
            .collect();
        let release = |i: &Arc<crate::instance::InstanceInner>| mine.contains(&Arc::as_ptr(i));
        let mut released = Vec::new();
        for i in &self.core_instances {
            for t in &i.inner.tables {
                released.extend(t.inner.release_instances(&release));
            }
            for g in &i.inner.globals {
                released.extend(g.inner.release_instances(&release));
            }
        }
        // Dropped here, outside every table's lock (the core instances are still held by
        // `core_instances` until the fields drop).
        drop(released);
    }
}

/// An instantiated component.
#[derive(Clone)]
pub struct ComponentInstance {
    pub(super) inner: Arc<ComponentInstanceInner>,
}

/// A lifted component function of an instance.
#[derive(Clone)]
pub struct ComponentFunc {
    pub(super) instance: ComponentInstance,
    pub(super) index: LiftedIndex,
    pub(super) lifted: Lifted,
}

/// What the glue builtins reach through a component VM context.
pub(super) struct VmctxView<'a> {
    /// The handle tables: one per component instance, then the host's (index
    /// [`VmctxView::host_table`]).
    pub(super) handles: &'a HandleTables,
    /// The resource types.
    pub(super) resources: &'a [ResourceType],
    /// The resource destructors.
    pub(super) dtors: &'a Mutex<Vec<Option<Func>>>,
    /// Index of the host's handle table.
    pub(super) host_table: u32,
    /// The instance's shared state (host state, host destructors).
    pub(super) shared: &'a Shared,
}

/// The view of the instance whose component VM context is `cvmctx` (valid from the moment the
/// plan starts running), or `None` when the context has no instance yet.
///
/// # Safety
/// `cvmctx` is the context of a live instance (the view must not outlive it).
pub(super) unsafe fn vmctx_view<'a>(cvmctx: *const u8) -> Option<VmctxView<'a>> {
    // SAFETY: caller contract: the INSTANCE slot is 0 or `Arc::as_ptr` of the instance's live
    // `Shared` (which owns the context itself).
    let s = unsafe {
        let p = cvmctx
            .add(VMComponentOffsets::INSTANCE as usize)
            .cast::<*const Shared>()
            .read();
        p.as_ref()?
    };
    Some(VmctxView {
        handles: &s.handles,
        resources: &s.resources,
        dtors: &s.dtors,
        host_table: s.host_table,
        shared: s,
    })
}

impl ComponentInstance {
    /// Sets the epoch deadline of the instance's store (its core instances, and everything
    /// linked with them) to `engine.epoch() + ticks`: guest code, glue loops, host-side
    /// lifting and blocking WASI calls trap with an interrupt once it passes.
    pub fn set_epoch_deadline(&self, ticks: u64) {
        let deadline = self.component().engine().epoch().saturating_add(ticks);
        if let Some(i) = self.inner.core_instances.first() {
            i.inner.store().set_epoch_deadline(deadline);
        }
    }

    /// Installs `limiter` as the resource limiter of the instance's store.
    pub fn set_limiter(&self, limiter: Option<Arc<dyn crate::ResourceLimiter>>) {
        if let Some(i) = self.inner.core_instances.first() {
            i.inner.store().set_limiter(limiter);
        }
    }

    /// Whether a trap ended an export call (or its post-return) after it had entered the
    /// instance: the canonical ABI leaves such an instance unenterable (`may_enter` stays
    /// clear), so every later export call traps. Argument errors found before the guest is
    /// entered ([`ComponentFunc::check_host_args`], mistyped dynamic values) do not poison.
    pub fn is_poisoned(&self) -> bool {
        self.inner
            .poisoned
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records that a trap left the instance unenterable.
    pub(super) fn poison(&self) {
        self.inner
            .poisoned
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the instance flags of lifted function `f` allow entering it now.
    pub(super) fn may_enter(&self, f: &ComponentFunc) -> bool {
        let shared = &self.inner.shared;
        let flags = shared
            .vmctx
            .offsets
            .instance_flags(f.lifted.options.instance);
        shared.vmctx.read_u32(flags) & FLAG_MAY_ENTER != 0
    }

    /// The component this is an instance of.
    pub fn component(&self) -> &Component {
        &self.inner.component
    }

    /// The root component's exports, with their types.
    pub fn exports(&self) -> &[ComponentExport] {
        self.inner.component.exports()
    }

    /// The export at `path` (`["f"]`, or `["ns:pkg/iface", "f"]` inside exported instances).
    pub fn get_export(&self, path: &[&str]) -> Option<&ExportItem> {
        let mut items = self.exports();
        let mut found = None;
        for name in path {
            let e = items.iter().find(|e| e.name == *name)?;
            found = Some(&e.item);
            items = match &e.item {
                ExportItem::Instance(inner) => inner,
                _ => &[],
            };
        }
        found
    }

    /// The lifted function exported at `name` (`f`, or `iface#f` inside an exported instance).
    pub fn get_func(&self, name: &str) -> Option<ComponentFunc> {
        let path: Vec<&str> = name.split('#').collect();
        match self.get_export(&path)? {
            ExportItem::Func {
                func: FuncSource::Lifted(i),
                ..
            } => self.lifted(*i),
            _ => None,
        }
    }

    /// Lifted function `index` of the plan.
    pub fn lifted(&self, index: LiftedIndex) -> Option<ComponentFunc> {
        let lifted = lock(&self.inner.shared.lifted).get(index as usize)?.clone();
        Some(ComponentFunc {
            instance: self.clone(),
            index,
            lifted,
        })
    }

    /// The run-time identity of the resource type the component exports at `path` (for a
    /// linker to give components that import it: [`super::ComponentLinker::resource`]).
    pub fn exported_resource_type(&self, path: &[&str]) -> Option<ResourceId> {
        match self.get_export(path)? {
            ExportItem::Resource(r) => self.inner.shared.resource_ids.get(r).copied(),
            _ => None,
        }
    }

    /// The module the linker provided for core module import `import`.
    pub(super) fn imported_module(&self, import: ImportIndex) -> Option<crate::Module> {
        self.inner.imported_modules.get(&import).cloned()
    }

    /// Lowered core function `index` of the plan.
    pub fn lowered(&self, index: LoweredIndex) -> Option<Func> {
        self.inner.lowered.get(index as usize).cloned()
    }

    /// The core instances, in plan order.
    pub fn core_instances(&self) -> &[Instance] {
        &self.inner.core_instances
    }

    /// Option memory `index`.
    pub fn memory(&self, index: RuntimeMemoryIndex) -> Option<Memory> {
        self.inner.shared.memory(index)
    }

    /// Option realloc `index`.
    pub fn realloc(&self, index: ReallocIndex) -> Option<Func> {
        self.inner.shared.realloc(index)
    }

    /// Option post-return `index`.
    pub fn post_return(&self, index: PostReturnIndex) -> Option<Func> {
        self.inner.shared.post_return(index)
    }

    /// Runs `f` on the handle table of component instance `instance` (0 is the root).
    pub fn with_handles<R>(
        &self,
        instance: ComponentInstanceIndex,
        f: impl FnOnce(&mut HandleTable) -> R,
    ) -> Option<R> {
        self.inner.shared.handles.with(instance, f)
    }

    /// The component VM context (layout: `kiln_environ::component::VMComponentOffsets`).
    pub fn vmctx_ptr(&self) -> *mut u8 {
        self.inner.shared.vmctx.ptr()
    }
}

/// Calls a lifted function's core callee with flat values and runs its post-return.
pub(super) fn call_lifted(
    shared: &Shared,
    lifted: &Lifted,
    args: &[Val],
) -> Result<Vec<Val>, Error> {
    let results = lifted.callee.call(args)?;
    if let Some(post) = lifted
        .options
        .post_return
        .and_then(|p| shared.post_return(p))
    {
        post.call(&results)?;
    }
    Ok(results)
}

impl ComponentFunc {
    /// The component function type.
    pub fn ty(&self) -> &ComponentFuncType {
        &self.lifted.ty
    }

    /// The lift's canonical options.
    pub fn options(&self) -> &CanonicalOptions {
        &self.lifted.options
    }

    /// The plan's lifted index.
    pub fn index(&self) -> LiftedIndex {
        self.index
    }

    /// The instance this function belongs to.
    pub fn instance(&self) -> &ComponentInstance {
        &self.instance
    }

    /// The core function the lift wraps.
    pub fn core_callee(&self) -> &Func {
        &self.lifted.callee
    }

    /// Calls the core callee with flat core values (the canonical ABI's flattened parameters)
    /// and runs the post-return, enforcing `may_enter`. Values crossing through memory
    /// (strings, lists, more than the flat limits) need the compiled glue
    /// ([`ComponentFunc::call`]).
    pub fn call_flat(&self, args: &[Val]) -> Result<Vec<Val>, Error> {
        let inner = &self.instance.inner;
        let flags = inner
            .shared
            .vmctx
            .offsets
            .instance_flags(self.lifted.options.instance);
        let old = inner.shared.vmctx.read_u32(flags);
        if old & FLAG_MAY_ENTER == 0 {
            return Err(Error::Trap(Trap::abi(GlueTrap::CannotEnter.message())));
        }
        inner.shared.vmctx.write_u32(flags, old & !FLAG_MAY_ENTER);
        let result = call_lifted(&inner.shared, &self.lifted, args);
        inner.shared.vmctx.write_u32(flags, old);
        result
    }
}

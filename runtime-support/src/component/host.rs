//! Host functions for component imports, reached from the guest through the compiled import
//! trampolines, and what they can reach of the calling instance ([`HostCx`]).
//!
//! A lowered import becomes a core function whose array-call entry is the trampoline compiled
//! for that `canon lower` (`kiln_compiler::component::glue::import`); its host context carries
//! the component VM context, `host_callback` and the `LoweredHost` it needs. The trampoline
//! lifts (and validates) the guest's arguments into the host C representation; the callback
//! hands them to the [`RawHostFn`] as [`HostArgs`] and gives it a [`HostResult`] to write the
//! result into, which the trampoline lowers into the guest. Every host function level of
//! `ComponentLinker` is a `RawHostFn` (the dynamic-value ones convert in between), so there is
//! one call path; the arena frees each call's values when the next one ends (`arena.rs`).
//!
//! Host functions that implement resources (WASI's streams, files, sockets) get the calling
//! instance's host state (`ComponentLinker::instance_state`) and its host handle table from
//! the [`HostCx`]; `ComponentLinker::resource_dtor` is called when a guest drops an own handle
//! of a host-implemented resource.

use super::arena::{import_enter, import_exit};
use super::host_args::{HostArgs, HostResult};
use super::instance::{vmctx_view, ComponentInstance, Shared};
use super::linker::{import_path, normalize, ComponentLinker};
use super::load::Component;
use super::resources::HandleEntry;
use super::values::Val;
use crate::error::{Error, Trap};
use crate::func::{Caller, Func};
use crate::memory::Memory;
use crate::traps;
use crate::values::Val as CoreVal;
use kiln_environ::component::glue::GlueTrap;
use kiln_environ::component::host::host_field_offsets;
use kiln_environ::component::{
    CanonicalOptions, ComponentFuncType, ComponentMetadata, InterfaceType, ResourceIndex,
    ResourceKind,
};
use kiln_environ::FuncType;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// A host function over the host C representation: the arguments the trampoline lifted, and
/// the result to write (every `ComponentLinker::func*` but `func_flat` is one of these).
pub type RawHostFn =
    dyn Fn(&HostCx<'_>, &HostArgs<'_>, &mut HostResult<'_>) -> Result<(), Trap> + Send + Sync;

/// A host function over the canonical ABI's flat core values (`ComponentLinker::func_flat`).
pub type FlatHostFn =
    dyn Fn(&mut FlatCall<'_>, &[CoreVal], &mut [CoreVal]) -> Result<(), Trap> + Send + Sync;

/// What a [`FlatHostFn`] is called with besides the values.
pub struct FlatCall<'a> {
    /// The component function type of the import.
    pub ty: &'a ComponentFuncType,
    /// The lowering's canonical options.
    pub options: &'a CanonicalOptions,
    /// The lowering's memory (`(memory ...)` option), if any.
    pub memory: Option<Memory>,
    /// The lowering's `realloc`, if any.
    pub realloc: Option<Func>,
}

/// The closure type of component host functions: arguments in, optional result out.
pub type ValHostFn = dyn Fn(&[Val]) -> Result<Option<Val>, Trap> + Send + Sync;

/// The closure type of host functions that need their calling instance ([`HostCx`]).
pub type CxHostFn = dyn Fn(&HostCx<'_>, &[Val]) -> Result<Option<Val>, Trap> + Send + Sync;

/// The destructor of a host-implemented resource type: called with the representation of an
/// own handle the guest (or host) dropped.
pub type HostDtorFn = dyn Fn(&HostCx<'_>, u32) -> Result<(), Trap> + Send + Sync;

/// Makes one instance's host state.
pub(super) type StateMaker = dyn Fn() -> Result<Box<dyn Any + Send + Sync>, Error> + Send + Sync;

/// Per-instance host states, by type.
pub(super) type StateMap = HashMap<TypeId, Box<dyn Any + Send + Sync>>;

/// What a context host function ([`CxHostFn`]) can reach of the instance calling it.
pub struct HostCx<'a> {
    shared: &'a Shared,
    host_table: u32,
}

impl<'a> HostCx<'a> {
    /// The instantiation's shared state (for `concurrent::host_io`).
    pub(super) fn shared(&self) -> &'a Shared {
        self.shared
    }

    /// The calling component instance; `None` while it is being instantiated (host functions
    /// called from start functions) or after it was dropped.
    pub fn instance(&self) -> Option<ComponentInstance> {
        let inner = self.shared.this.get()?.upgrade()?;
        Some(ComponentInstance { inner })
    }

    /// The instance's host state of type `T` (made by [`ComponentLinker::instance_state`]).
    pub fn state<T: Any + Send + Sync>(&self) -> Result<&'a T, Trap> {
        self.shared
            .states
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref::<T>())
            .ok_or_else(|| {
                Trap::host(format!(
                    "no host state of type {} in this instance",
                    std::any::type_name::<T>()
                ))
            })
    }

    /// The index of the imported resource type `path` (`ns:pkg/iface@x.y.z#name`; any
    /// compatible version), if the component imports it.
    pub fn resource(&self, path: &str) -> Option<ResourceIndex> {
        self.shared.resource_names.get(&normalize(path)).copied()
    }

    /// Like [`HostCx::resource`], an error naming the resource when it is not imported.
    pub fn resource_index(&self, path: &str) -> Result<ResourceIndex, Trap> {
        self.resource(path).ok_or_else(|| {
            Trap::host(format!(
                "the component does not import the resource type `{path}`"
            ))
        })
    }

    /// A new own handle of resource type `resource` with representation `rep`, to return to
    /// the guest.
    pub fn new_own(&self, resource: ResourceIndex, rep: u32) -> Result<Val, Trap> {
        let h = self.shared.in_table(self.host_table, |t| {
            t.insert(HandleEntry {
                resource,
                rep,
                own: true,
                lend_count: 0,
            })
        })?;
        Ok(Val::Own(h))
    }

    /// The representation of the handle `v` (`own` or `borrow`) of type `resource` the guest
    /// passed; the handle stays where it is.
    pub fn rep(&self, resource: ResourceIndex, v: &Val) -> Result<u32, Trap> {
        let h = match v {
            Val::Own(h) | Val::Borrow(h) => *h,
            other => {
                return Err(Trap::host(format!(
                    "expected a resource handle, got {other:?}"
                )))
            }
        };
        self.shared
            .in_table(self.host_table, |t| t.get(h, resource).map(|e| e.rep))
    }

    /// Takes the own handle `v` of type `resource` the guest passed (it leaves the host's
    /// table: the host now owns the representation, returned).
    pub fn take_own(&self, resource: ResourceIndex, v: &Val) -> Result<u32, Trap> {
        let Val::Own(h) = v else {
            return Err(Trap::host(format!("expected an own handle, got {v:?}")));
        };
        self.shared
            .in_table(self.host_table, |t| t.remove(*h, resource).map(|e| e.rep))
    }
}

impl ComponentInstance {
    /// Runs `f` with a host context of this instance, as a host function would get: to make
    /// handles of host-implemented resources (and reach the host state) before calling an
    /// export with them, e.g. the request a server hands to a `wasi:http` handler.
    pub fn with_host_cx<R>(&self, f: impl FnOnce(&HostCx<'_>) -> R) -> R {
        let shared = &*self.inner.shared;
        let cx = HostCx {
            shared,
            host_table: host_table_of(shared),
        };
        f(&cx)
    }
}

/// The imported resource types by normalised path, and their host destructors.
pub(super) fn host_resources(
    linker: &ComponentLinker,
    meta: &ComponentMetadata,
) -> (HashMap<String, ResourceIndex>, Vec<Option<Arc<HostDtorFn>>>) {
    let mut names = HashMap::new();
    let mut dtors = vec![None; meta.resources.len()];
    for (i, r) in meta.resources.iter().enumerate() {
        if let ResourceKind::Imported { import, path } = &r.kind {
            let full = import_path(meta, *import, path);
            names.entry(normalize(&full)).or_insert(i as ResourceIndex);
            dtors[i] = linker.host_dtors.get(&full).cloned();
        }
    }
    (names, dtors)
}

/// Makes the host states of a new instance.
pub(super) fn make_states(linker: &ComponentLinker) -> Result<StateMap, Error> {
    let mut map = StateMap::new();
    for (t, m) in &linker.state_makers {
        map.insert(*t, m()?);
    }
    Ok(map)
}

/// Runs the host destructor of imported resource `resource` for `rep` (an own handle was
/// dropped); resource types without one need nothing.
pub(super) fn run_host_dtor(
    shared: &Shared,
    resource: ResourceIndex,
    rep: u32,
) -> Result<(), Trap> {
    let Some(Some(d)) = shared.host_dtors.get(resource as usize) else {
        return Ok(());
    };
    let cx = HostCx {
        shared,
        host_table: host_table_of(shared),
    };
    std::panic::catch_unwind(AssertUnwindSafe(|| d(&cx, rep)))
        .map_err(|_| Trap::host("host resource destructor panicked"))?
}

fn host_table_of(shared: &Shared) -> u32 {
    // The host's table is the last one (`instance.rs`).
    shared.handles.len().saturating_sub(1)
}

/// What the host callback of one lowered import needs.
struct LoweredHost {
    ty: ComponentFuncType,
    /// The host offsets of the parameters in the arguments struct.
    offsets: Vec<u32>,
    f: Arc<RawHostFn>,
    cvmctx: usize,
}

/// The address of the compiled glue of lowered function `index` (its import trampoline or
/// fused adapter), if the compiler emitted one inside the glue text.
pub(super) fn glue_entry(component: &Component, index: u32) -> Option<usize> {
    let offset = component
        .metadata()
        .glue
        .imports
        .get(index as usize)
        .copied()
        .flatten()?;
    let (text, len) = component.glue_text();
    if text == 0 || offset as usize >= len {
        return None;
    }
    Some(text + offset as usize)
}

/// The core function for lowered import `index`, calling `f` through the compiled trampoline.
pub(super) fn lowered_func(
    component: &Component,
    index: u32,
    cvmctx: usize,
    core_ty: FuncType,
    ty: &ComponentFuncType,
    f: Arc<RawHostFn>,
) -> Result<Func, Error> {
    let entry = glue_entry(component, index).ok_or_else(|| {
        Error::Link(format!(
            "import of type {ty} has no compiled glue (or it lies outside the glue code)"
        ))
    })?;
    let params = InterfaceType::Tuple(ty.params.iter().map(|(_, t)| t.clone()).collect());
    let host = Arc::new(LoweredHost {
        ty: ty.clone(),
        offsets: host_field_offsets(&params),
        f,
        cvmctx,
    });
    let data = Arc::as_ptr(&host) as usize;
    let keep = host.clone();
    Ok(Func::new_with_array_call(
        component.engine(),
        core_ty,
        entry,
        [cvmctx, host_callback as *const () as usize, data],
        move |_: &mut Caller<'_>, _, _| {
            let _ = &keep;
            Err(Trap::host(
                "a lowered component import cannot be called directly from the host",
            ))
        },
    ))
}

/// The host callback the import trampolines call (contract in
/// `kiln_environ::component::glue::IMPORT_CTX_HOST_CALL`).
unsafe extern "C" fn host_callback(data: *const u8, args: *const u8, results: *mut u8) {
    let token = import_enter();
    // SAFETY: `data` is the `LoweredHost` of this function (kept alive by its `Func`); the
    // trampoline passes its args/results buffers laid out for the function type.
    let r = unsafe { callback(data, args, results) };
    let r = r.and_then(|keep| import_exit(token, keep));
    if let Err(t) = r {
        // SAFETY: every Rust value of the call was dropped (the trap unwinds to the export
        // call, which frees its arena frame).
        unsafe { traps::raise_user_trap(t) }
    }
}

/// Runs the host function of one import call; returns the blocks its result points at.
///
/// # Safety
/// As [`host_callback`].
unsafe fn callback(
    data: *const u8,
    args: *const u8,
    results: *mut u8,
) -> Result<Vec<Vec<u64>>, Trap> {
    // SAFETY: caller contract.
    let host = unsafe { &*(data as *const LoweredHost) };
    // SAFETY: the instance whose glue called us is alive for the call.
    let view = unsafe { vmctx_view(host.cvmctx as *const u8) }
        .ok_or_else(|| Trap::abi(GlueTrap::NotInstantiated.message()))?;
    let cx = HostCx {
        shared: view.shared,
        host_table: view.host_table,
    };
    // SAFETY: the trampoline's buffers hold the host structs of the parameters and the result,
    // whose slices the glue validated (they stay valid for the call).
    let (args, mut result) = unsafe {
        (
            HostArgs::new(&host.ty, &host.offsets, args),
            HostResult::new(host.ty.result.as_ref(), results),
        )
    };
    std::panic::catch_unwind(AssertUnwindSafe(|| (host.f)(&cx, &args, &mut result)))
        .map_err(|_| Trap::host("host function panicked"))??;
    result.finish()
}

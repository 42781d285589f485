//! Host functions for component imports, defined by WIT name and taking and returning
//! component values ([`Val`]), reached from the guest through the compiled import trampolines.
//!
//! A lowered import becomes a host function whose array-call entry is the trampoline compiled
//! for that `canon lower` (`kiln_compiler::component::glue::import`); its host context carries
//! the component VM context, [`host_callback`] and the [`LoweredHost`] it needs. The trampoline
//! lifts the guest's arguments into the host C representation; the callback decodes them into
//! [`Val`]s, runs the closure, and encodes the result back (its out-of-line data lives in the
//! current call's arena until the trampoline has copied it into the guest).
//!
//! Host functions that implement resources (WASI's streams, files, sockets) use the context
//! form ([`ComponentLinker::func_cx`]): a [`HostCx`] gives them the calling instance's host
//! state ([`ComponentLinker::instance_state`]) and its host handle table, and
//! [`ComponentLinker::resource_dtor`] is called when a guest drops an own handle of a
//! host-implemented resource. Names match across compatible versions: a definition of
//! `wasi:io/streams@0.2.6#...` satisfies an import of `wasi:io/streams@0.2.0#...` (same major,
//! and the same minor while the major is 0), as wasmtime's linker does.

use super::glue_builtins::keep_in_arena;
use super::instance::{vmctx_view, ComponentLinker, Shared};
use super::load::Component;
use super::resources::HandleEntry;
use super::values::{decode, encode, Val};
use crate::error::{Error, Trap};
use crate::func::{Caller, Func};
use crate::traps;
use kiln_environ::component::glue::GlueTrap;
use kiln_environ::component::host::{host_field_offsets, host_layout};
use kiln_environ::component::{
    ComponentFuncType, ComponentMetadata, InterfaceType, ResourceIndex, ResourceKind,
};
use kiln_environ::FuncType;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

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

/// The semver-compatibility key of an import path: the version after `@` in each segment is
/// cut to its major (or `0.minor` while the major is 0) and prerelease/build parts dropped.
pub(super) fn normalize(path: &str) -> String {
    path.split('#')
        .map(|seg| match seg.split_once('@') {
            None => seg.to_string(),
            Some((name, ver)) => {
                let core = ver.split(['-', '+']).next().unwrap_or(ver);
                let mut parts = core.split('.');
                let major = parts.next().unwrap_or("");
                let minor = parts.next().unwrap_or("");
                if major == "0" {
                    format!("{name}@0.{minor}")
                } else {
                    format!("{name}@{major}")
                }
            }
        })
        .collect::<Vec<_>>()
        .join("#")
}

/// The numbers of every version in an import path (`wasi:io/streams@0.2.12#f` → `[0, 2, 12]`),
/// to order compatible definitions.
fn version_numbers(path: &str) -> Vec<u64> {
    path.split('#')
        .filter_map(|seg| seg.split_once('@'))
        .flat_map(|(_, ver)| {
            ver.split(['-', '+'])
                .next()
                .unwrap_or("")
                .split('.')
                .map(|n| n.parse().unwrap_or(0))
        })
        .collect()
}

/// Host definitions by import path, with an index by semver-compatibility key kept up to
/// date as they are added, so instantiation finds each import with two map lookups.
pub(crate) struct Defs<V> {
    exact: HashMap<String, V>,
    /// Compatibility key → the newest compatible path defined.
    compat: HashMap<String, String>,
}

impl<V> Default for Defs<V> {
    fn default() -> Self {
        Defs {
            exact: HashMap::new(),
            compat: HashMap::new(),
        }
    }
}

impl<V> Defs<V> {
    /// Defines `path` (replacing an earlier definition of it).
    pub(super) fn insert(&mut self, path: String, v: V) {
        if path.contains('@') {
            let key = normalize(&path);
            let newer = self
                .compat
                .get(&key)
                .is_none_or(|best| version_numbers(&path) >= version_numbers(best));
            if newer {
                self.compat.insert(key, path.clone());
            }
        }
        self.exact.insert(path, v);
    }

    /// Every path defined (exactly as given).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn paths(&self) -> impl Iterator<Item = &String> {
        self.exact.keys()
    }

    /// The definition of `path`: exactly, else the newest of a compatible version.
    pub(super) fn get(&self, path: &str) -> Option<&V> {
        if let Some(v) = self.exact.get(path) {
            return Some(v);
        }
        if !path.contains('@') {
            return None;
        }
        self.compat
            .get(&normalize(path))
            .and_then(|p| self.exact.get(p))
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
            let full = super::instance::import_path(meta, *import, path);
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

impl ComponentLinker {
    /// Defines the function import `path` (`name` for a world-level function,
    /// `ns:pkg/iface#name` inside an imported interface) with a closure over component values.
    pub fn func(
        &mut self,
        path: &str,
        f: impl Fn(&[Val]) -> Result<Option<Val>, Trap> + Send + Sync + 'static,
    ) -> &mut Self {
        self.typed.insert(
            path.to_string(),
            Arc::new(move |_: &HostCx<'_>, a: &[Val]| f(a)),
        );
        self
    }

    /// Defines the function import `path` with a closure that also gets the calling instance
    /// ([`HostCx`]: host state, host-implemented resources).
    pub fn func_cx(
        &mut self,
        path: &str,
        f: impl Fn(&HostCx<'_>, &[Val]) -> Result<Option<Val>, Trap> + Send + Sync + 'static,
    ) -> &mut Self {
        self.typed.insert(path.to_string(), Arc::new(f));
        self
    }

    /// Sets the destructor of the host-implemented resource type imported as `path`
    /// (`ns:pkg/iface@x.y.z#name`), run when an own handle of it is dropped.
    pub fn resource_dtor(
        &mut self,
        path: &str,
        f: impl Fn(&HostCx<'_>, u32) -> Result<(), Trap> + Send + Sync + 'static,
    ) -> &mut Self {
        self.host_dtors.insert(path.to_string(), Arc::new(f));
        self
    }

    /// Gives every instance made by this linker its own host state of type `T`, made by
    /// `make` at instantiation (one per type: a later call replaces an earlier one).
    pub fn instance_state<T: Any + Send + Sync>(
        &mut self,
        make: impl Fn() -> Result<T, Error> + Send + Sync + 'static,
    ) -> &mut Self {
        self.state_makers.retain(|(t, _)| *t != TypeId::of::<T>());
        self.state_makers.push((
            TypeId::of::<T>(),
            Arc::new(move || make().map(|t| Box::new(t) as Box<dyn Any + Send + Sync>)),
        ));
        self
    }

    /// Defines function `name` of the imported interface (instance) `interface`.
    pub fn interface_func(
        &mut self,
        interface: &str,
        name: &str,
        f: impl Fn(&[Val]) -> Result<Option<Val>, Trap> + Send + Sync + 'static,
    ) -> &mut Self {
        self.func(&format!("{interface}#{name}"), f)
    }
}

/// What the host callback of one lowered import needs.
struct LoweredHost {
    ty: ComponentFuncType,
    f: Arc<CxHostFn>,
    cvmctx: usize,
}

/// The core function for lowered import `index`, calling `f` through the compiled trampoline.
pub(super) fn lowered_func(
    component: &Component,
    index: u32,
    cvmctx: usize,
    core_ty: FuncType,
    ty: &ComponentFuncType,
    f: Arc<CxHostFn>,
) -> Result<Func, Error> {
    let offset = component
        .metadata()
        .glue
        .imports
        .get(index as usize)
        .copied()
        .flatten()
        .ok_or_else(|| {
            Error::Link(format!(
                "import of type {ty} has no compiled glue (resource handles are not supported \
                 by the glue yet)"
            ))
        })?;
    let (text, len) = component.glue_text();
    if text == 0 || offset as usize >= len {
        return Err(Error::Link(
            "import trampoline outside the glue code (corrupt component)".into(),
        ));
    }
    let host = Arc::new(LoweredHost {
        ty: ty.clone(),
        f,
        cvmctx,
    });
    let data = Arc::as_ptr(&host) as usize;
    let keep = host.clone();
    Ok(Func::new_with_array_call(
        component.engine(),
        core_ty,
        text + offset as usize,
        [cvmctx, host_callback as *const () as usize, data],
        move |_: &mut Caller<'_>, _, _| {
            let _ = &keep;
            Err(Trap::host(
                "a lowered component import cannot be called directly from the host",
            ))
        },
    ))
}

/// The core function for lowered function `index` when it is a compiled fused adapter to a
/// function lifted by another component of the plan (`None` when the compiler emitted none).
pub(super) fn adapter_func(
    component: &Component,
    index: u32,
    cvmctx: usize,
    core_ty: FuncType,
) -> Option<Func> {
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
    Some(Func::new_with_array_call(
        component.engine(),
        core_ty,
        text + offset as usize,
        [cvmctx, 0, 0],
        |_: &mut Caller<'_>, _, _| {
            Err(Trap::host(
                "a lowered component function cannot be called directly from the host",
            ))
        },
    ))
}

/// The host callback the import trampolines call (contract in
/// `kiln_environ::component::glue::IMPORT_CTX_HOST_CALL`).
unsafe extern "C" fn host_callback(data: *const u8, args: *const u8, results: *mut u8) {
    // SAFETY: `data` is the `LoweredHost` of this function (kept alive by its `Func`); the
    // trampoline passes its args/results buffers laid out for the function type.
    let r = unsafe { callback(data, args, results) };
    if let Err(t) = r {
        // SAFETY: every Rust value of the call was dropped by `callback`.
        unsafe { traps::raise_user_trap(t) }
    }
}

unsafe fn callback(data: *const u8, args: *const u8, results: *mut u8) -> Result<(), Trap> {
    // SAFETY: caller contract.
    let host = unsafe { &*(data as *const LoweredHost) };
    let ty = &host.ty;
    let tuple = InterfaceType::Tuple(ty.params.iter().map(|(_, t)| t.clone()).collect());
    let size = host_layout(&tuple).size as usize;
    let bytes: &[u8] = if size == 0 {
        &[]
    } else {
        // SAFETY: the trampoline's args buffer holds the host struct of the parameters.
        unsafe { std::slice::from_raw_parts(args, size) }
    };
    let mut vals = Vec::with_capacity(ty.params.len());
    for ((_, t), o) in ty.params.iter().zip(host_field_offsets(&tuple)) {
        // SAFETY: the glue lifted (and validated) these values just now.
        let v = unsafe { decode(t, bytes.get(o as usize..).unwrap_or(&[])) }
            .map_err(|e| Trap::host(e.to_string()))?;
        vals.push(v);
    }
    // SAFETY: the instance whose glue called us is alive for the call.
    let view = unsafe { vmctx_view(host.cvmctx as *const u8) }
        .ok_or_else(|| Trap::abi(GlueTrap::NotInstantiated.message()))?;
    let cx = HostCx {
        shared: view.shared,
        host_table: view.host_table,
    };
    let out = std::panic::catch_unwind(AssertUnwindSafe(|| (host.f)(&cx, &vals)))
        .map_err(|_| Trap::host("host function panicked"))??;
    match (&ty.result, out) {
        (None, None) => Ok(()),
        (Some(rt), Some(v)) => {
            let size = host_layout(rt).size as usize;
            let mut keep = Vec::new();
            // SAFETY: the trampoline's results buffer holds `size` bytes.
            let buf = unsafe { std::slice::from_raw_parts_mut(results, size) };
            encode(rt, &v, buf, &mut keep)
                .map_err(|e| Trap::host(format!("host function result: {e}")))?;
            for k in keep {
                keep_in_arena(k);
            }
            Ok(())
        }
        (Some(rt), None) => Err(Trap::host(format!(
            "host function returned nothing, expected a value of type {rt}"
        ))),
        (None, Some(_)) => Err(Trap::host(
            "host function returned a value for a function without result",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatible_versions_match_the_newest_definition() {
        let mut d = Defs::default();
        d.insert("wasi:io/streams@0.2.3#read".to_string(), 3);
        d.insert("wasi:io/streams@0.2.12#read".to_string(), 12);
        d.insert("wasi:io/streams@0.2.5#read".to_string(), 5);
        d.insert("log".to_string(), 0);
        // Exact first, then the numerically newest compatible one (0.2.12, not "0.2.5").
        assert_eq!(d.get("wasi:io/streams@0.2.5#read"), Some(&5));
        assert_eq!(d.get("wasi:io/streams@0.2.0#read"), Some(&12));
        assert_eq!(d.get("wasi:io/streams@0.3.0#read"), None);
        assert_eq!(d.get("wasi:io/streams@0.2.0#write"), None);
        assert_eq!(d.get("log"), Some(&0));
        assert_eq!(d.get("other"), None);
        assert_eq!(normalize("a:b/c@1.4.2-rc1#f"), "a:b/c@1#f");
    }
}

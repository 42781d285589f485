//! The component linker: what a host defines for a component's imports (host functions at
//! three levels, resource types and destructors, core modules, per-instance host state)
//! and [`ComponentLinker::instantiate`], which checks the imports against those definitions and
//! runs the plan (`instantiation.rs`).
//!
//! Host functions come in three levels, one mechanism underneath:
//! - [`ComponentLinker::func_raw`]: the host C representation the compiled import trampoline
//!   lifts the arguments into and lowers the result from (`host.rs`); the C API's raw
//!   callbacks and WASI's byte-moving functions use it;
//! - [`ComponentLinker::func`] / [`ComponentLinker::func_cx`]: closures over dynamic [`Val`]s,
//!   a raw host function that converts the arguments to [`Val`]s and the result back;
//! - [`ComponentLinker::func_flat`]: the canonical ABI's flat core values, no trampoline (for
//!   tests and hosts that do their own lifting).
//!
//! Names match across compatible versions: a definition of `wasi:io/streams@0.2.6#...`
//! satisfies an import of `wasi:io/streams@0.2.0#...` (same major, and the same minor while the
//! major is 0), as wasmtime's linker does.

use super::arena::DEFAULT_HOST_VALUE_BUDGET;
use super::host::{CxHostFn, FlatCall, FlatHostFn, HostCx, HostDtorFn, RawHostFn, StateMaker};
use super::host_args::{HostArgs, HostResult};
use super::instance::ComponentInstance;
use super::linking::{HostFuncType, ResourceType};
use super::load::Component;
use super::values::Val;
use crate::error::{Error, Trap};
use crate::values::Val as CoreVal;
use crate::Engine;
use kiln_environ::component::{ComponentMetadata, ImportIndex, ItemType, ResourceIndex};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

/// Defines a component's imports and instantiates components.
#[derive(Clone)]
pub struct ComponentLinker {
    pub(super) engine: Engine,
    /// Host functions over flat core values, by exact import path.
    pub(super) flat: HashMap<String, Arc<FlatHostFn>>,
    /// Host functions over the host C representation (every `func*` but `func_flat`).
    pub(crate) funcs: Defs<Arc<RawHostFn>>,
    /// Core modules for core module imports, by import name.
    pub(super) modules: HashMap<String, crate::Module>,
    /// The resource type each imported resource path stands for (`linking.rs`).
    pub(super) resources: Defs<ResourceType>,
    /// Declared component types of host functions, by import path (`linking.rs`).
    pub(super) func_types: Defs<HostFuncType>,
    /// Destructors of host-implemented resource types, by import path.
    pub(super) host_dtors: Defs<Arc<HostDtorFn>>,
    /// Makers of per-instance host state.
    pub(super) state_makers: Vec<(TypeId, Arc<StateMaker>)>,
    /// Host bytes the values lifted from a guest in one call may take (`arena.rs`).
    pub(super) host_value_budget: u64,
    /// The limiter and deadline given to the store of each instance made.
    pub(super) options: crate::instance::InstanceOptions,
}

impl ComponentLinker {
    /// A linker with no definitions.
    pub fn new(engine: &Engine) -> ComponentLinker {
        ComponentLinker {
            engine: engine.clone(),
            flat: HashMap::new(),
            funcs: Defs::default(),
            modules: HashMap::new(),
            resources: Defs::default(),
            func_types: Defs::default(),
            host_dtors: Defs::default(),
            state_makers: Vec::new(),
            host_value_budget: DEFAULT_HOST_VALUE_BUDGET,
            options: Default::default(),
        }
    }

    /// Gives the store of each component instance made from now on an epoch deadline `ticks`
    /// after the engine's epoch at instantiation, set before any of its code runs (core start
    /// functions, the component's start function and calls during instantiation); guest code,
    /// glue loops, host-side lifting and blocking WASI calls all honour it.
    pub fn set_epoch_deadline(&mut self, ticks: u64) -> &mut Self {
        self.options.epoch_deadline = Some(ticks);
        self
    }

    /// Limits the stores of the instances made from now on (memory and table growth, the
    /// number of core and component instances), and sets the host value budget to the
    /// limiter's `host_value_bytes`.
    pub fn set_limiter(&mut self, limiter: Arc<dyn crate::ResourceLimiter>) -> &mut Self {
        self.host_value_budget = limiter.host_value_bytes() as u64;
        self.options.limiter = Some(limiter);
        self
    }

    /// Sets how many host bytes the values lifted from a guest in one call may take in
    /// instances made from now on (dynamic [`Val`]s, strings transcoded or read for the host,
    /// converted lists, host function results; default 256 MiB): a guest that claims more
    /// traps before the host allocates it.
    pub fn set_host_value_budget(&mut self, bytes: u64) -> &mut Self {
        self.host_value_budget = bytes;
        self
    }

    /// The host value budget of instances made from now on.
    pub fn host_value_budget(&self) -> u64 {
        self.host_value_budget
    }

    /// Defines the function import `path` (`name` for a world-level function,
    /// `ns:pkg/iface#name` inside an imported interface) with a closure over component values.
    pub fn func(
        &mut self,
        path: &str,
        f: impl Fn(&[Val]) -> Result<Option<Val>, Trap> + Send + Sync + 'static,
    ) -> &mut Self {
        self.func_cx(path, move |_: &HostCx<'_>, a: &[Val]| f(a))
    }

    /// Defines the function import `path` with a closure that also gets the calling instance
    /// ([`HostCx`]: host state, host-implemented resources).
    pub fn func_cx(
        &mut self,
        path: &str,
        f: impl Fn(&HostCx<'_>, &[Val]) -> Result<Option<Val>, Trap> + Send + Sync + 'static,
    ) -> &mut Self {
        let f: Arc<CxHostFn> = Arc::new(f);
        self.func_raw(path, move |cx, args, result| {
            let vals = args.vals()?;
            let out = f(cx, &vals)?;
            drop(vals);
            result.set(out)
        })
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

    /// Defines the function import `path` over the host C representation
    /// (`kiln_environ::component::host`): [`HostArgs`] reads the struct of the arguments the
    /// import trampoline lifted (strings and byte lists in place, no copy), [`HostResult`]
    /// writes the result the trampoline lowers into the guest.
    pub fn func_raw(
        &mut self,
        path: &str,
        f: impl Fn(&HostCx<'_>, &HostArgs<'_>, &mut HostResult<'_>) -> Result<(), Trap>
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        self.funcs.insert(path.to_string(), Arc::new(f));
        self
    }

    /// Defines the function import `path` over the canonical ABI's *flat core values* (as the
    /// lowering's core signature has them), with a [`FlatCall`] giving the lowering's options,
    /// memory and realloc: no compiled trampoline, no validation. A definition by
    /// [`ComponentLinker::func_raw`] or [`ComponentLinker::func`] of the same path wins.
    pub fn func_flat(
        &mut self,
        path: &str,
        f: impl Fn(&mut FlatCall<'_>, &[CoreVal], &mut [CoreVal]) -> Result<(), Trap>
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        self.flat.insert(path.to_string(), Arc::new(f));
        self
    }

    /// Defines the core module import `name` (a component that imports a core module
    /// instantiates it with the imports its type declares); checked against the declared type
    /// when a component is instantiated.
    pub fn module(&mut self, name: &str, module: &crate::Module) -> &mut Self {
        self.modules.insert(name.to_string(), module.clone());
        self
    }

    /// Defines the resource type an imported resource (`path`: `name`, or `iface#name` inside
    /// an imported instance) stands for. Imports a component declares equal must be defined as
    /// the same type; an import left undefined is a host resource type of its own.
    pub fn resource(&mut self, path: &str, ty: ResourceType) -> &mut Self {
        self.resources.insert(path.to_string(), ty);
        self
    }

    /// The resource type defined for `path`, if any (any compatible version).
    pub(super) fn resource_definition(&self, path: &str) -> Option<ResourceType> {
        self.resources.get(path).copied()
    }

    /// Declares the component type of the host function defined (or to be defined) at `path`:
    /// a component whose import of `path` has another type does not link.
    pub fn func_type(&mut self, path: &str, ty: HostFuncType) -> &mut Self {
        self.func_types.insert(path.to_string(), ty);
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

    /// Instantiates `component`: checks its imports against the definitions, then executes
    /// its plan.
    pub fn instantiate(&self, component: &Component) -> Result<ComponentInstance, Error> {
        let ids = self.check(component)?;
        super::instantiation::instantiate(self, component, &ids)
    }

    /// Checks `component`'s imports against the definitions once: the returned
    /// [`ComponentPre`] instantiates it with a snapshot of this linker (later definitions do
    /// not affect it) without checking or looking up the imports again.
    pub fn instantiate_pre(&self, component: &Component) -> Result<ComponentPre, Error> {
        let ids = self.check(component)?;
        Ok(ComponentPre {
            linker: Arc::new(self.clone()),
            component: component.clone(),
            ids,
        })
    }

    /// The import checks; the identities of the resource types the linker defines.
    fn check(&self, component: &Component) -> Result<HashMap<ResourceIndex, ResourceType>, Error> {
        if !Engine::same(&self.engine, component.engine()) {
            return Err(Error::Link("component loaded into another engine".into()));
        }
        let meta = component.metadata();
        let paths = super::linking::resource_paths(meta);
        self.check_imports_defined(meta, &paths)?;
        super::linking::resource_identities(self, &paths)
    }

    /// Whether a function is defined at `path` (at any level).
    fn defines_func(&self, path: &str) -> bool {
        self.flat.contains_key(path) || self.funcs.get(path).is_some()
    }

    /// Every function the component imports must be defined, whether or not core code lowers
    /// it (an unused import is still part of the component's type).
    fn check_imports_defined(
        &self,
        meta: &ComponentMetadata,
        paths: &HashMap<String, ResourceIndex>,
    ) -> Result<(), Error> {
        for (i, import) in meta.imports.iter().enumerate() {
            self.check_item(meta, paths, i as ImportIndex, &mut Vec::new(), &import.ty)?;
        }
        Ok(())
    }

    fn check_item(
        &self,
        meta: &ComponentMetadata,
        paths: &HashMap<String, ResourceIndex>,
        import: ImportIndex,
        path: &mut Vec<String>,
        ty: &ItemType,
    ) -> Result<(), Error> {
        let name = || import_path(meta, import, path);
        match ty {
            ItemType::Func(want) => {
                let name = name();
                if !self.defines_func(&name) {
                    let what = if self.resource_definition(&name).is_some() {
                        "expected func found resource"
                    } else {
                        "is not defined"
                    };
                    return Err(Error::Link(format!("component import `{name}` {what}")));
                }
                match self.func_types.get(&name) {
                    Some(have) => super::linking::check_func(&name, want, have, paths),
                    None => Ok(()),
                }
            }
            ItemType::Resource(_) => {
                let name = name();
                if self.defines_func(&name) {
                    return Err(Error::Link(format!(
                        "component import `{name}`: expected resource found func"
                    )));
                }
                Ok(())
            }
            ItemType::Instance(items) => {
                for (item_name, item) in items {
                    path.push(item_name.clone());
                    self.check_item(meta, paths, import, path, item)?;
                    path.pop();
                }
                Ok(())
            }
            ItemType::Module(ty) => {
                let name = name();
                let m = self.modules.get(&name).ok_or_else(|| {
                    Error::Link(format!(
                        "component import `{name}` (a core module) is not defined"
                    ))
                })?;
                if !Engine::same(&self.engine, m.engine()) {
                    return Err(Error::Link(format!(
                        "core module for import `{name}` belongs to another engine"
                    )));
                }
                super::modules::check_module_type(&name, m, ty)
            }
            ItemType::Type(_) => Ok(()),
        }
    }
}

/// A component with its imports checked against a linker ([`ComponentLinker::instantiate_pre`]):
/// each [`ComponentPre::instantiate`] only runs the plan. Cloning is cheap; usable from any
/// thread.
#[derive(Clone)]
pub struct ComponentPre {
    linker: Arc<ComponentLinker>,
    component: Component,
    /// Identities of the resource types the linker defines (the component's own resource
    /// types get new identities per instance).
    ids: HashMap<ResourceIndex, ResourceType>,
}

impl ComponentPre {
    /// A new component instance (core instances made, start functions run).
    pub fn instantiate(&self) -> Result<ComponentInstance, Error> {
        super::instantiation::instantiate(&self.linker, &self.component, &self.ids)
    }

    /// The component this instantiates.
    pub fn component(&self) -> &Component {
        &self.component
    }
}

/// The name a function import is defined under: the import name, then `#` and each name
/// inside imported instances (`log`, `wasi:clocks/monotonic@0.2.0#now`).
pub fn import_path(meta: &ComponentMetadata, import: ImportIndex, path: &[String]) -> String {
    let mut s = meta
        .imports
        .get(import as usize)
        .map(|i| i.name.clone())
        .unwrap_or_default();
    for p in path {
        s.push('#');
        s.push_str(p);
    }
    s
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

impl<V: Clone> Clone for Defs<V> {
    fn clone(&self) -> Self {
        Defs {
            exact: self.exact.clone(),
            compat: self.compat.clone(),
        }
    }
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

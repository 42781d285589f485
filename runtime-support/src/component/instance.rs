//! Instantiating a component: the linker that provides its imports, and the instance that
//! executes the plan's initializers in order (core instances wired as the plan says, lowered
//! functions, lifted functions, option memories/reallocs/post-returns, resource types).

use super::load::Component;
use super::resources::{HandleEntry, HandleError, HandleTable, HandleTables};
use super::vmctx::VMComponentContext;
use crate::error::{Error, Trap};
use crate::func::{Caller, Func};
use crate::instance::Instance;
use crate::memory::Memory;
use crate::values::Val;
use crate::{Engine, Extern};
use kiln_environ::component::abi::{shape_with, AbiContext};
use kiln_environ::component::glue::GlueTrap;
use kiln_environ::component::vmctx::{VMComponentOffsets, FLAG_MAY_ENTER, FLAG_MAY_LEAVE};
use kiln_environ::component::*;
use kiln_environ::{FuncType, ValType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// A host function for a component import, at the raw level: it receives and returns the
/// *flat core values* of the canonical ABI (as the lowering's core signature has them) and a
/// [`RawCall`] giving the lowering's options, memory and realloc. The compiled glue replaces
/// this level with typed C representations.
pub type RawHostFn = dyn Fn(&mut RawCall<'_>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync;

/// What a [`RawHostFn`] is called with besides the values.
pub struct RawCall<'a> {
    /// The component function type of the import.
    pub ty: &'a ComponentFuncType,
    /// The lowering's canonical options.
    pub options: &'a CanonicalOptions,
    /// The lowering's memory (`(memory ...)` option), if any.
    pub memory: Option<Memory>,
    /// The lowering's `realloc`, if any.
    pub realloc: Option<Func>,
}

/// Defines a component's imports and instantiates components.
pub struct ComponentLinker {
    engine: Engine,
    funcs: HashMap<String, Arc<RawHostFn>>,
    /// Core modules for core module imports, by import name.
    modules: HashMap<String, crate::Module>,
    /// The resource type each imported resource path stands for (`linking.rs`).
    pub(super) resources: super::imports::Defs<super::linking::ResourceType>,
    /// Declared component types of host functions, by import path (`linking.rs`).
    pub(super) func_types: super::imports::Defs<super::linking::HostFuncType>,
    /// Host functions taking and returning component values (`imports.rs`).
    pub(crate) typed: super::imports::Defs<Arc<super::imports::CxHostFn>>,
    /// Destructors of host-implemented resource types, by import path (`imports.rs`).
    pub(super) host_dtors: super::imports::Defs<Arc<super::imports::HostDtorFn>>,
    /// Makers of per-instance host state (`imports.rs`).
    pub(super) state_makers: Vec<(std::any::TypeId, Arc<super::imports::StateMaker>)>,
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

impl ComponentLinker {
    /// A linker with no definitions.
    pub fn new(engine: &Engine) -> ComponentLinker {
        ComponentLinker {
            engine: engine.clone(),
            funcs: HashMap::new(),
            modules: HashMap::new(),
            resources: Default::default(),
            func_types: Default::default(),
            typed: Default::default(),
            host_dtors: Default::default(),
            state_makers: Vec::new(),
        }
    }

    /// Defines the function import `path` (see [`import_path`]) at the raw level.
    pub fn func_raw(
        &mut self,
        path: &str,
        f: impl Fn(&mut RawCall<'_>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static,
    ) -> &mut Self {
        self.funcs.insert(path.to_string(), Arc::new(f));
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
    pub fn resource(&mut self, path: &str, ty: super::linking::ResourceType) -> &mut Self {
        self.resources.insert(path.to_string(), ty);
        self
    }

    /// The resource type defined for `path`, if any (any compatible version).
    pub(super) fn resource_definition(&self, path: &str) -> Option<super::linking::ResourceType> {
        self.resources.get(path).copied()
    }

    /// Declares the component type of the host function defined (or to be defined) at `path`:
    /// a component whose import of `path` has another type does not link.
    pub fn func_type(&mut self, path: &str, ty: super::linking::HostFuncType) -> &mut Self {
        self.func_types.insert(path.to_string(), ty);
        self
    }

    /// Instantiates `component`: executes its plan.
    pub fn instantiate(&self, component: &Component) -> Result<ComponentInstance, Error> {
        if !Engine::same(&self.engine, component.engine()) {
            return Err(Error::Link("component loaded into another engine".into()));
        }
        let meta = component.metadata();
        let paths = super::linking::resource_paths(meta);
        self.check_imports_defined(meta, &paths)?;
        let ids = super::linking::resource_identities(self, meta, &paths)?;
        Builder::new(self, component, ids)?.run()
    }

    /// Every function the component imports must be defined, whether or not core code lowers
    /// it (an unused import is still part of the component's type).
    fn check_imports_defined(
        &self,
        meta: &ComponentMetadata,
        paths: &HashMap<String, ResourceIndex>,
    ) -> Result<(), Error> {
        fn walk(
            linker: &ComponentLinker,
            meta: &ComponentMetadata,
            paths: &HashMap<String, ResourceIndex>,
            import: ImportIndex,
            path: &mut Vec<String>,
            ty: &ItemType,
        ) -> Result<(), Error> {
            match ty {
                ItemType::Func(want) => {
                    let name = import_path(meta, import, path);
                    let defined =
                        linker.funcs.contains_key(&name) || linker.typed.get(&name).is_some();
                    if !defined {
                        let what = if linker.resource_definition(&name).is_some() {
                            "expected func found resource"
                        } else {
                            "is not defined"
                        };
                        return Err(Error::Link(format!("component import `{name}` {what}")));
                    }
                    match linker.func_types.get(&name) {
                        Some(have) => super::linking::check_func(&name, want, have, paths),
                        None => Ok(()),
                    }
                }
                ItemType::Resource(_) => {
                    let name = import_path(meta, import, path);
                    if linker.funcs.contains_key(&name) || linker.typed.get(&name).is_some() {
                        return Err(Error::Link(format!(
                            "component import `{name}`: expected resource found func"
                        )));
                    }
                    Ok(())
                }
                ItemType::Instance(items) => {
                    for (name, item) in items {
                        path.push(name.clone());
                        walk(linker, meta, paths, import, path, item)?;
                        path.pop();
                    }
                    Ok(())
                }
                ItemType::Module(ty) => {
                    let name = import_path(meta, import, path);
                    let m = linker.modules.get(&name).ok_or_else(|| {
                        Error::Link(format!(
                            "component import `{name}` (a core module) is not defined"
                        ))
                    })?;
                    if !Engine::same(&linker.engine, m.engine()) {
                        return Err(Error::Link(format!(
                            "core module for import `{name}` belongs to another engine"
                        )));
                    }
                    super::modules::check_module_type(&name, m, ty)
                }
                ItemType::Type(_) => Ok(()),
            }
        }
        for (i, import) in meta.imports.iter().enumerate() {
            walk(
                self,
                meta,
                paths,
                i as ImportIndex,
                &mut Vec::new(),
                &import.ty,
            )?;
        }
        Ok(())
    }
}

/// State the runtime-made core functions (lowerings, intrinsics) reach through a weak
/// reference, so they do not keep the instance alive in a cycle.
pub(super) struct Shared {
    pub(super) handles: HandleTables,
    memories: Mutex<Vec<Memory>>,
    reallocs: Mutex<Vec<Func>>,
    post_returns: Mutex<Vec<Func>>,
    lifted: Mutex<Vec<Lifted>>,
    dtors: Mutex<Vec<Option<Func>>>,
    resources: Vec<ResourceType>,
    /// Per-instance host state (`ComponentLinker::instance_state`), by type.
    pub(super) states: super::imports::StateMap,
    /// Host destructors of imported (host-implemented) resource types, by resource index.
    pub(super) host_dtors: Vec<Option<Arc<super::imports::HostDtorFn>>>,
    /// Imported resource types by version-normalised import path (`HostCx::resource`).
    pub(super) resource_names: HashMap<String, ResourceIndex>,
    /// Index of the host's handle table (after one table per component instance).
    pub(super) host_table: u32,
    /// The run-time identity of each resource type (`linking.rs`).
    pub(super) resource_ids: HashMap<ResourceIndex, super::linking::ResourceType>,
    /// The component VM context. It lives here, not in the instance, because the resource
    /// intrinsics (reachable from core instances that may outlive the component instance
    /// handle) read its `may_leave` flags.
    pub(super) vmctx: VMComponentContext,
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
}

#[derive(Clone)]
struct Lifted {
    callee: Func,
    ty: ComponentFuncType,
    options: CanonicalOptions,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct ComponentInstanceInner {
    component: Component,
    shared: Arc<Shared>,
    core_instances: Vec<Instance>,
    lowered: Vec<Func>,
    /// The modules the linker provided for core module imports.
    imported_modules: HashMap<ImportIndex, crate::Module>,
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
/// context exists: instantiation fills the rest of the context as the plan defines each item,
/// so guest code running during instantiation, a start function calling an import or a
/// sibling instance's export, already reaches everything it was given).
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

/// An instantiated component.
#[derive(Clone)]
pub struct ComponentInstance {
    inner: Arc<ComponentInstanceInner>,
}

/// A lifted component function of an instance.
#[derive(Clone)]
pub struct ComponentFunc {
    instance: ComponentInstance,
    index: LiftedIndex,
    lifted: Lifted,
}

struct Builder<'l> {
    linker: &'l ComponentLinker,
    component: Component,
    shared: Arc<Shared>,
    core_instances: Vec<Instance>,
    lowered: Vec<Func>,
    intrinsics: HashMap<(IntrinsicKind, ResourceIndex, ComponentInstanceIndex), Func>,
    /// Address of the component VM context (created before the plan runs).
    cvmctx: usize,
    /// The modules instantiated for core module imports.
    imported_modules: HashMap<ImportIndex, crate::Module>,
}

fn link(msg: impl Into<String>) -> Error {
    Error::Link(msg.into())
}

impl<'l> Builder<'l> {
    fn new(
        linker: &'l ComponentLinker,
        component: &Component,
        resource_ids: HashMap<ResourceIndex, super::linking::ResourceType>,
    ) -> Result<Builder<'l>, Error> {
        let m = component.metadata();
        let (resource_names, host_dtors) = super::imports::host_resources(linker, m);
        let states = super::imports::make_states(linker)?;
        let shared = Arc::new(Shared {
            // One table per component instance, then the host's (`glue_builtins.rs`).
            handles: HandleTables::new(m.num_component_instances + 1),
            memories: Mutex::new(Vec::new()),
            reallocs: Mutex::new(Vec::new()),
            post_returns: Mutex::new(Vec::new()),
            lifted: Mutex::new(Vec::new()),
            dtors: Mutex::new(vec![None; m.resources.len()]),
            resources: m.resources.clone(),
            states,
            host_dtors,
            resource_names,
            host_table: m.num_component_instances,
            resource_ids,
            vmctx: VMComponentContext::new(VMComponentOffsets::new(m)),
        });
        // Everything the glue and the builtins reach is findable from the context before any
        // guest code runs.
        shared
            .vmctx
            .write_ptr(VMComponentOffsets::INSTANCE, Arc::as_ptr(&shared) as usize);
        shared
            .vmctx
            .write_ptr(VMComponentOffsets::BUILTINS, super::glue_builtins::table());
        let cvmctx = shared.vmctx.ptr() as usize;
        Ok(Builder {
            linker,
            component: component.clone(),
            shared,
            core_instances: Vec::new(),
            lowered: Vec::new(),
            intrinsics: HashMap::new(),
            cvmctx,
            imported_modules: HashMap::new(),
        })
    }

    fn resolve(&mut self, def: &CoreDef) -> Result<Extern, Error> {
        match def {
            CoreDef::Export(e) => self
                .core_instances
                .get(e.instance as usize)
                .and_then(|i| i.get_export(&e.name))
                .ok_or_else(|| {
                    link(format!(
                        "core instance {} has no export `{}`",
                        e.instance, e.name
                    ))
                }),
            CoreDef::Lowered(i) => self
                .lowered
                .get(*i as usize)
                .cloned()
                .map(Extern::Func)
                .ok_or_else(|| link(format!("lowered function {i} is not defined yet"))),
            CoreDef::Builtin {
                builtin,
                instance,
                ty,
            } => Ok(Extern::Func(super::builtins::builtin_func(
                self.component.engine(),
                Arc::downgrade(&self.shared),
                builtin.clone(),
                *instance,
                ty.clone(),
            ))),
            CoreDef::Intrinsic {
                kind,
                resource,
                instance,
            } => {
                let key = (*kind, *resource, *instance);
                if let Some(f) = self.intrinsics.get(&key) {
                    return Ok(Extern::Func(f.clone()));
                }
                let f = intrinsic(
                    self.component.engine(),
                    Arc::downgrade(&self.shared),
                    *kind,
                    *resource,
                    *instance,
                );
                self.intrinsics.insert(key, f.clone());
                Ok(Extern::Func(f))
            }
        }
    }

    fn resolve_func(&mut self, def: &CoreDef, what: &str) -> Result<Func, Error> {
        match self.resolve(def)? {
            Extern::Func(f) => Ok(f),
            _ => Err(link(format!("{what} is not a function"))),
        }
    }

    fn run(mut self) -> Result<ComponentInstance, Error> {
        let meta = self.component.metadata().clone();
        for init in &meta.initializers {
            self.step(&meta, init)?;
        }
        let inner = Arc::new(ComponentInstanceInner {
            component: self.component,
            shared: self.shared,
            core_instances: self.core_instances,
            lowered: self.lowered,
            imported_modules: self.imported_modules,
        });
        Ok(ComponentInstance { inner })
    }

    /// Writes `f`'s `VMFuncRef` into the context slot at `offset`.
    fn write_funcref(&self, offset: u32, f: &Func) {
        self.shared
            .vmctx
            .write_ptr(offset, f.guest_funcref() as usize);
    }

    fn step(&mut self, meta: &ComponentMetadata, init: &Initializer) -> Result<(), Error> {
        match init {
            Initializer::InstantiateModule { module, imports } => {
                let module = self
                    .component
                    .core_modules()
                    .get(*module as usize)
                    .cloned()
                    .ok_or_else(|| link(format!("no core module {module}")))?;
                let mut externs = Vec::with_capacity(imports.len());
                for d in imports {
                    externs.push(self.resolve(d)?);
                }
                let instance = Instance::new(&module, &externs)?;
                self.core_instances.push(instance);
            }
            Initializer::InstantiateImportedModule { import, imports } => {
                let name = import_path(meta, *import, &[]);
                let module = self
                    .linker
                    .modules
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| link(format!("component import `{name}` is not defined")))?;
                // The module's own imports, in its order, from what the type declares.
                let mut externs = Vec::with_capacity(module.imports().len());
                for i in module.imports() {
                    let def = imports
                        .iter()
                        .find(|(m, n, _)| *m == i.module && *n == i.name)
                        .map(|(_, _, d)| d)
                        .ok_or_else(|| {
                            link(format!(
                                "core module import `{name}`: module import `{}::{}` not defined",
                                i.module, i.name
                            ))
                        })?;
                    externs.push(self.resolve(def)?);
                }
                let instance = Instance::new(&module, &externs)?;
                self.core_instances.push(instance);
                self.imported_modules.insert(*import, module);
            }
            Initializer::ExtractMemory { export, .. } => {
                match self.resolve(&CoreDef::Export(export.clone()))? {
                    Extern::Memory(m) => {
                        let mut memories = lock(&self.shared.memories);
                        let at = self.shared.vmctx.offsets.memory(memories.len() as u32);
                        self.shared
                            .vmctx
                            .write_ptr(at, m.inner.definition() as usize);
                        memories.push(m);
                    }
                    _ => {
                        return Err(link(format!(
                            "option memory `{}` is not a memory",
                            export.name
                        )))
                    }
                }
            }
            Initializer::ExtractRealloc { def, .. } => {
                let f = self.resolve_func(def, "realloc")?;
                let want = FuncType {
                    params: vec![ValType::I32; 4],
                    results: vec![ValType::I32],
                };
                if f.ty() != want {
                    return Err(link(format!(
                        "realloc has type {}, expected {want}",
                        f.ty()
                    )));
                }
                let mut reallocs = lock(&self.shared.reallocs);
                self.write_funcref(self.shared.vmctx.offsets.realloc(reallocs.len() as u32), &f);
                reallocs.push(f);
            }
            Initializer::ExtractPostReturn { def, .. } => {
                let f = self.resolve_func(def, "post-return")?;
                let mut posts = lock(&self.shared.post_returns);
                self.write_funcref(
                    self.shared.vmctx.offsets.post_return(posts.len() as u32),
                    &f,
                );
                posts.push(f);
            }
            Initializer::Lift {
                callee,
                ty,
                options,
                ..
            } => {
                let f = self.resolve_func(callee, "lifted callee")?;
                let want = shape_with(ty, AbiContext::Lift, options).core;
                if f.ty() != want {
                    return Err(link(format!(
                        "core function of type {} lifted as {ty} (needs {want})",
                        f.ty()
                    )));
                }
                let mut lifted = lock(&self.shared.lifted);
                self.write_funcref(
                    self.shared.vmctx.offsets.lifted_callee(lifted.len() as u32),
                    &f,
                );
                lifted.push(Lifted {
                    callee: f,
                    ty: ty.clone(),
                    options: options.clone(),
                });
            }
            Initializer::Lower {
                callee,
                ty,
                options,
                ..
            } => {
                let f = self.lower(meta, callee, ty, options)?;
                let at = self.shared.vmctx.offsets.lowered(self.lowered.len() as u32);
                self.write_funcref(at, &f);
                self.lowered.push(f);
            }
            Initializer::DefineResource { resource, dtor } => {
                let f = match dtor {
                    Some(d) => Some(self.resolve_func(d, "resource destructor")?),
                    None => None,
                };
                if let Some(f) = &f {
                    self.write_funcref(self.shared.vmctx.offsets.resource_dtor(*resource), f);
                }
                if let Some(slot) = lock(&self.shared.dtors).get_mut(*resource as usize) {
                    *slot = f;
                }
            }
        }
        Ok(())
    }

    fn lower(
        &mut self,
        meta: &ComponentMetadata,
        callee: &FuncSource,
        ty: &ComponentFuncType,
        options: &CanonicalOptions,
    ) -> Result<Func, Error> {
        let core_ty = shape_with(ty, AbiContext::Lower, options).core;
        let engine = self.component.engine().clone();
        let weak = Arc::downgrade(&self.shared);
        let (ty, options) = (ty.clone(), options.clone());
        match callee {
            FuncSource::Import { import, path } => {
                let name = import_path(meta, *import, path);
                if let Some(h) = self.linker.typed.get(&name).cloned() {
                    let index = self.lowered.len() as u32;
                    return super::imports::lowered_func(
                        &self.component,
                        index,
                        self.cvmctx,
                        core_ty,
                        &ty,
                        h,
                    );
                }
                let host = self
                    .linker
                    .funcs
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| link(format!("component import `{name}` is not defined")))?;
                Ok(Func::new(
                    &engine,
                    core_ty,
                    move |_: &mut Caller<'_>, args, results| {
                        let shared = weak
                            .upgrade()
                            .ok_or_else(|| Trap::host("component instance is gone"))?;
                        let mut call = RawCall {
                            ty: &ty,
                            options: &options,
                            memory: options
                                .memory
                                .and_then(|i| lock(&shared.memories).get(i as usize).cloned()),
                            realloc: options
                                .realloc
                                .and_then(|i| lock(&shared.reallocs).get(i as usize).cloned()),
                        };
                        host(&mut call, args, results)
                    },
                ))
            }
            FuncSource::TaskReturn => {
                let lowered = self.lowered.len() as u32;
                super::imports::adapter_func(&self.component, lowered, self.cvmctx, core_ty)
                    .ok_or_else(|| link("`task.return` has no compiled glue (corrupt component)"))
            }
            FuncSource::Lifted(index) => {
                let lowered = self.lowered.len() as u32;
                if let Some(f) = super::imports::adapter_func(
                    &self.component,
                    lowered,
                    self.cvmctx,
                    core_ty.clone(),
                ) {
                    return Ok(f);
                }
                let index = *index;
                let direct = !ty.contains_pointers_or_handles_any();
                Ok(Func::new(
                    &engine,
                    core_ty,
                    move |_: &mut Caller<'_>, args, results| {
                        if !direct {
                            return Err(Trap::host(
                                "component-to-component call with strings, lists or handles needs \
                             the fused adapter, which this build does not have yet",
                            ));
                        }
                        let shared = weak
                            .upgrade()
                            .ok_or_else(|| Trap::host("component instance is gone"))?;
                        let lifted = lock(&shared.lifted)
                            .get(index as usize)
                            .cloned()
                            .ok_or_else(|| Trap::host("lifted function missing"))?;
                        let out = call_lifted(&shared, &lifted, args).map_err(|e| match e {
                            Error::Trap(t) => t,
                            other => Trap::host(other.to_string()),
                        })?;
                        for (r, v) in results.iter_mut().zip(out) {
                            *r = v;
                        }
                        Ok(())
                    },
                ))
            }
        }
    }
}

/// Calls a lifted function's core callee with flat values and runs its post-return.
fn call_lifted(shared: &Shared, lifted: &Lifted, args: &[Val]) -> Result<Vec<Val>, Error> {
    let results = lifted.callee.call(args)?;
    if let Some(p) = lifted.options.post_return {
        let post = lock(&shared.post_returns).get(p as usize).cloned();
        if let Some(post) = post {
            post.call(&results)?;
        }
    }
    Ok(results)
}

trait PointerFree {
    fn contains_pointers_or_handles_any(&self) -> bool;
}

impl PointerFree for ComponentFuncType {
    fn contains_pointers_or_handles_any(&self) -> bool {
        self.params
            .iter()
            .any(|(_, t)| t.contains_pointers_or_handles())
            || self
                .result
                .as_ref()
                .is_some_and(|t| t.contains_pointers_or_handles())
            || kiln_environ::component::abi::params_in_memory(self)
            || kiln_environ::component::abi::result_in_memory(self)
    }
}

/// A `resource.new/rep/drop` intrinsic as a core function.
fn intrinsic(
    engine: &Engine,
    shared: Weak<Shared>,
    kind: IntrinsicKind,
    resource: ResourceIndex,
    instance: ComponentInstanceIndex,
) -> Func {
    let ty = match kind {
        IntrinsicKind::ResourceNew | IntrinsicKind::ResourceRep => FuncType {
            params: vec![ValType::I32],
            results: vec![ValType::I32],
        },
        IntrinsicKind::ResourceDrop => FuncType {
            params: vec![ValType::I32],
            results: vec![],
        },
    };
    Func::new(engine, ty, move |_: &mut Caller<'_>, args, results| {
        let shared = shared
            .upgrade()
            .ok_or_else(|| Trap::host("component instance is gone"))?;
        // CanonicalABI.md: `resource.new` and `resource.drop` start with
        // `trap_if(not may_leave)`; `resource.rep` only reads the table (a post-return may
        // call it).
        let flags = shared
            .vmctx
            .read_u32(shared.vmctx.offsets.instance_flags(instance));
        if flags & FLAG_MAY_LEAVE == 0 && kind != IntrinsicKind::ResourceRep {
            return Err(Trap::abi(GlueTrap::CannotLeave.message()));
        }
        let arg = match args.first() {
            Some(Val::I32(v)) => *v as u32,
            _ => return Err(Trap::host("resource intrinsic called with a bad argument")),
        };
        match kind {
            IntrinsicKind::ResourceNew => {
                let h = shared.in_table(instance, |t| {
                    t.insert(HandleEntry {
                        resource,
                        rep: arg,
                        own: true,
                        lend_count: 0,
                    })
                })?;
                results[0] = Val::I32(h as i32);
            }
            IntrinsicKind::ResourceRep => {
                let rep = shared.in_table(instance, |t| t.get(arg, resource).map(|e| e.rep))?;
                results[0] = Val::I32(rep as i32);
            }
            IntrinsicKind::ResourceDrop => {
                let entry = shared.in_table(instance, |t| t.remove(arg, resource))?;
                let definer = match shared.resources.get(resource as usize).map(|r| &r.kind) {
                    Some(ResourceKind::Defined { instance }) => Some(*instance),
                    _ => None,
                };
                let defined = definer.is_some();
                // CanonicalABI.md `canon_resource_drop`: running the destructor of another
                // instance's resource enters that instance, which must allow it.
                if let Some(definer) = definer.filter(|d| entry.own && *d != instance) {
                    let flags = shared
                        .vmctx
                        .read_u32(shared.vmctx.offsets.instance_flags(definer));
                    if flags & FLAG_MAY_ENTER == 0 {
                        return Err(Trap::abi(
                            "cannot enter component instance (the resource's defining instance, \
                             to run its destructor: may_enter is false)",
                        ));
                    }
                }
                if entry.own && !defined {
                    super::imports::run_host_dtor(&shared, resource, entry.rep)?;
                }
                if entry.own && defined {
                    let dtor = lock(&shared.dtors)
                        .get(resource as usize)
                        .cloned()
                        .flatten();
                    if let Some(dtor) = dtor {
                        dtor.call(&[Val::I32(entry.rep as i32)])
                            .map_err(|e| match e {
                                Error::Trap(t) => t,
                                other => Trap::host(other.to_string()),
                            })?;
                    }
                }
            }
        }
        Ok(())
    })
}

impl ComponentInstance {
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
    /// linker to give components that import it: [`ComponentLinker::resource`]).
    pub fn exported_resource_type(&self, path: &[&str]) -> Option<super::linking::ResourceType> {
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
        lock(&self.inner.shared.memories)
            .get(index as usize)
            .cloned()
    }

    /// Option realloc `index`.
    pub fn realloc(&self, index: ReallocIndex) -> Option<Func> {
        lock(&self.inner.shared.reallocs)
            .get(index as usize)
            .cloned()
    }

    /// Option post-return `index`.
    pub fn post_return(&self, index: PostReturnIndex) -> Option<Func> {
        lock(&self.inner.shared.post_returns)
            .get(index as usize)
            .cloned()
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

    /// The core function the lift wraps.
    pub fn core_callee(&self) -> &Func {
        &self.lifted.callee
    }

    /// Calls the core callee with flat core values (the canonical ABI's flattened parameters)
    /// and runs the post-return, enforcing `may_enter`. Values crossing through memory
    /// (strings, lists, more than the flat limits) need the compiled glue.
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

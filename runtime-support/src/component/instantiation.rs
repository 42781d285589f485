//! Instantiating a component: executing the plan's initializers in order. Core instances are
//! created from the resolved `CoreDef`s (exports of earlier instances, lowered functions,
//! intrinsics, built-ins); lifts are type-checked against their core shape; lowered host
//! imports become functions whose array-call entry is their compiled import trampoline
//! (`host.rs`), lowered *lifted* functions their compiled fused adapter; option memories,
//! reallocs, post-returns and resource destructors are recorded. Every slot of the component
//! VM context is written as the initializer that defines it runs, and the context points at
//! the instance's shared state from the start, so guest code that runs during instantiation
//! (a start function calling an import) already reaches everything it was given.

use super::arena::{arena_depth, truncate_arenas};
use super::glue_builtins::handles_glue::{scope_depth, truncate_scopes};
use super::host::{host_resources, lowered_func, make_states, FlatCall};
use super::instance::Shared;
use super::instance::{call_lifted, lock, ComponentInstance, ComponentInstanceInner, Lifted};
use super::linker::{import_path, ComponentLinker};
use super::linking::ResourceType as ResourceId;
use super::load::Component;
use super::resources::{intrinsic, HandleTables};
use super::vmctx::VMComponentContext;
use crate::error::{Error, Trap};
use crate::func::{Caller, Func};
use crate::instance::Instance;
use crate::Extern;
use kiln_environ::component::abi::{shape_with, AbiContext};
use kiln_environ::component::vmctx::VMComponentOffsets;
use kiln_environ::component::*;
use kiln_environ::{FuncType, ValType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Runs `component`'s plan with `linker`'s definitions (the imports were checked) and the
/// resource identities `ids`.
pub(super) fn instantiate(
    linker: &ComponentLinker,
    component: &Component,
    defined: &HashMap<ResourceIndex, ResourceId>,
) -> Result<ComponentInstance, Error> {
    let ids = super::linking::instance_resource_identities(component.metadata(), defined);
    // Guest code runs during instantiation (start functions); a trap there unwinds past the
    // ends of the borrow scopes and arena frames it opened.
    let (scopes, arenas) = (scope_depth(), arena_depth());
    let r = Builder::new(linker, component, ids).and_then(Builder::run);
    truncate_scopes(scopes);
    truncate_arenas(arenas);
    r
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
        resource_ids: HashMap<ResourceIndex, ResourceId>,
    ) -> Result<Builder<'l>, Error> {
        let m = component.metadata();
        let (resource_names, host_dtors) = host_resources(linker, m);
        let states = make_states(linker)?;
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
            host_value_budget: linker.host_value_budget,
            this: Default::default(),
            concurrent: super::concurrent::Concurrent::new(m.num_component_instances),
            engine: component.engine().clone(),
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

    /// Joins a new core instance's store with the others': one store holds the whole
    /// component, so one thread at a time runs it.
    /// The component VM context joins the store too (its store-context slot is what glue
    /// loops read the deadline through).
    fn join_store(&self, instance: &Instance) -> Result<(), Error> {
        match self.core_instances.first() {
            Some(first) => {
                crate::store::join(&first.inner.store(), &instance.inner.store())?;
            }
            None => {
                let member: Arc<dyn crate::store::StoreMember> = self.shared.clone();
                instance.inner.store().adopt(&member);
            }
        }
        Ok(())
    }

    /// The function `def` (named `what` in errors), which must take `params` `i32`s and
    /// return one (a `realloc`, a `callback`).
    fn resolve_i32_func(
        &mut self,
        def: &CoreDef,
        what: &str,
        params: usize,
    ) -> Result<Func, Error> {
        let f = self.resolve_func(def, what)?;
        let want = FuncType {
            params: vec![ValType::I32; params],
            results: vec![ValType::I32],
        };
        if f.ty() != want {
            return Err(link(format!("{what} has type {}, expected {want}", f.ty())));
        }
        Ok(f)
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
            } => {
                let table = match builtin {
                    CanonBuiltin::ThreadNewIndirect { table } => match self.resolve(table)? {
                        Extern::Table(t) => Some(t),
                        _ => return Err(link("thread.new-indirect table is not a table")),
                    },
                    _ => None,
                };
                Ok(Extern::Func(super::builtins::builtin_func(
                    self.component.engine(),
                    Arc::downgrade(&self.shared),
                    builtin.clone(),
                    *instance,
                    ty.clone(),
                    table,
                )))
            }
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
        // A handle (not a copy of the metadata) keeps the plan borrowable while steps run.
        let component = self.component.clone();
        let meta = component.metadata();
        for init in &meta.initializers {
            self.step(meta, init)?;
        }
        let inner = Arc::new(ComponentInstanceInner {
            component: self.component,
            shared: self.shared,
            core_instances: self.core_instances,
            lowered: self.lowered,
            imported_modules: self.imported_modules,
            poisoned: Default::default(),
        });
        // Host functions reach their calling instance through it (`HostCx::instance`).
        let _ = inner.shared.this.set(Arc::downgrade(&inner));
        Ok(ComponentInstance { inner })
    }

    /// Writes `f`'s `VMFuncRef` into the context slot at `offset`.
    fn write_funcref(&self, offset: u32, f: &Func) {
        self.shared
            .vmctx
            .write_ptr(offset, f.guest_funcref() as usize);
    }

    fn step(&mut self, meta: &ComponentMetadata, init: &Initializer) -> Result<(), Error> {
        let offsets = self.shared.vmctx.offsets;
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
                let instance = Instance::new_with(&module, &externs, &self.linker.options)?;
                self.join_store(&instance)?;
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
                let instance = Instance::new_with(&module, &externs, &self.linker.options)?;
                self.join_store(&instance)?;
                self.core_instances.push(instance);
                self.imported_modules.insert(*import, module);
            }
            Initializer::ExtractMemory { export, .. } => {
                let Extern::Memory(m) = self.resolve(&CoreDef::Export(export.clone()))? else {
                    return Err(link(format!(
                        "option memory `{}` is not a memory",
                        export.name
                    )));
                };
                let mut memories = lock(&self.shared.memories);
                let at = offsets.memory(memories.len() as u32);
                self.shared
                    .vmctx
                    .write_ptr(at, m.inner.definition() as usize);
                memories.push(m);
            }
            Initializer::ExtractRealloc { def, .. } => {
                let f = self.resolve_i32_func(def, "realloc", 4)?;
                let mut reallocs = lock(&self.shared.reallocs);
                self.write_funcref(offsets.realloc(reallocs.len() as u32), &f);
                reallocs.push(f);
            }
            Initializer::ExtractPostReturn { def, .. } => {
                let f = self.resolve_func(def, "post-return")?;
                let mut posts = lock(&self.shared.post_returns);
                self.write_funcref(offsets.post_return(posts.len() as u32), &f);
                posts.push(f);
            }
            Initializer::Lift {
                callee,
                ty,
                options,
                callback,
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
                let callback = match callback {
                    Some(c) => Some(self.resolve_i32_func(c, "callback", 3)?),
                    None => None,
                };
                let mut lifted = lock(&self.shared.lifted);
                self.write_funcref(offsets.lifted_callee(lifted.len() as u32), &f);
                lifted.push(Lifted {
                    callee: f,
                    ty: ty.clone(),
                    options: options.clone(),
                    callback,
                });
            }
            Initializer::Lower {
                callee,
                ty,
                options,
                ..
            } => {
                let f = self.lower(meta, callee, ty, options)?;
                let at = offsets.lowered(self.lowered.len() as u32);
                self.write_funcref(at, &f);
                self.lowered.push(f);
            }
            Initializer::DefineResource { resource, dtor } => {
                let f = match dtor {
                    Some(d) => Some(self.resolve_func(d, "resource destructor")?),
                    None => None,
                };
                if let Some(f) = &f {
                    self.write_funcref(offsets.resource_dtor(*resource), f);
                }
                if let Some(slot) = lock(&self.shared.dtors).get_mut(*resource as usize) {
                    *slot = f;
                }
            }
        }
        Ok(())
    }

    /// The core function of a `canon lower`.
    fn lower(
        &mut self,
        meta: &ComponentMetadata,
        callee: &FuncSource,
        ty: &ComponentFuncType,
        options: &CanonicalOptions,
    ) -> Result<Func, Error> {
        let core_ty = shape_with(ty, AbiContext::Lower, options).core;
        let index = self.lowered.len() as u32;
        match callee {
            FuncSource::Import { import, path } => {
                let name = import_path(meta, *import, path);
                if let Some(h) = self.linker.funcs.get(&name).cloned() {
                    let f =
                        lowered_func(&self.component, index, self.cvmctx, core_ty.clone(), ty, h)?;
                    // An `async` lowering of an `async` host function runs the call on a
                    // subtask's thread: a host function that waits (`HostCx::sleep_until`,
                    // `block_on`) suspends only that thread, and the caller gets STARTED.
                    if options.async_ && ty.is_async {
                        return Ok(self.async_lowered(f, core_ty, options.instance, true));
                    }
                    return Ok(f);
                }
                self.lower_flat(&name, core_ty, ty, options)
            }
            FuncSource::TaskReturn => adapter_func(&self.component, index, self.cvmctx, core_ty)
                .ok_or_else(|| link("`task.return` has no compiled glue (corrupt component)")),
            FuncSource::Lifted(lifted) => {
                match adapter_func(&self.component, index, self.cvmctx, core_ty.clone()) {
                    // An `async` lowering of an `async` function: the adapter runs as a subtask
                    // on a thread of its own (a synchronous callee cannot block, so its adapter
                    // finishes at once and needs none).
                    Some(f) if options.async_ && ty.is_async => {
                        Ok(self.async_lowered(f, core_ty, options.instance, false))
                    }
                    Some(f) => Ok(f),
                    None => Ok(self.lower_lifted_flat(*lifted, core_ty, ty)),
                }
            }
        }
    }

    /// The core function of an `async` lowering whose compiled adapter is `adapter`: each call
    /// runs the adapter as a subtask (`concurrent::tasks`) and returns its status. `host`:
    /// the callee is a host function (its arguments are taken as soon as it runs).
    fn async_lowered(&self, adapter: Func, core_ty: FuncType, caller: u32, host: bool) -> Func {
        let weak = Arc::downgrade(&self.shared);
        let n = core_ty.params.len().max(core_ty.results.len()).max(1);
        Func::new(
            self.component.engine(),
            core_ty,
            move |_: &mut Caller<'_>, args, results| {
                let shared = weak
                    .upgrade()
                    .ok_or_else(|| Trap::host("component instance is gone"))?;
                let mut values = vec![crate::vm::ValRaw::default(); n];
                for (slot, a) in values.iter_mut().zip(args) {
                    *slot = crate::vm::ValRaw::from_u128(a.to_raw(&mut |_| {}));
                }
                shared.subtask_call(&adapter, caller, host, &mut values)?;
                if let Some(r) = results.first_mut() {
                    *r = crate::values::Val::I32(values[0].get_u64() as u32 as i32);
                }
                Ok(())
            },
        )
    }

    /// A host import defined over flat core values (`ComponentLinker::func_flat`).
    fn lower_flat(
        &self,
        name: &str,
        core_ty: FuncType,
        ty: &ComponentFuncType,
        options: &CanonicalOptions,
    ) -> Result<Func, Error> {
        let host = self
            .linker
            .flat
            .get(name)
            .cloned()
            .ok_or_else(|| link(format!("component import `{name}` is not defined")))?;
        let weak = Arc::downgrade(&self.shared);
        let (ty, options) = (ty.clone(), options.clone());
        Ok(Func::new(
            self.component.engine(),
            core_ty,
            move |_: &mut Caller<'_>, args, results| {
                let shared = weak
                    .upgrade()
                    .ok_or_else(|| Trap::host("component instance is gone"))?;
                let mut call = FlatCall {
                    ty: &ty,
                    options: &options,
                    memory: options.memory.and_then(|i| shared.memory(i)),
                    realloc: options.realloc.and_then(|i| shared.realloc(i)),
                };
                host(&mut call, args, results)
            },
        ))
    }

    /// A lifted function lowered without a compiled adapter (the compiler emits one for every
    /// lower of a lift with the same type; this is the flat fallback for the others).
    fn lower_lifted_flat(
        &self,
        index: LiftedIndex,
        core_ty: FuncType,
        ty: &ComponentFuncType,
    ) -> Func {
        let weak = Arc::downgrade(&self.shared);
        let direct = !contains_pointers_or_handles(ty);
        Func::new(
            self.component.engine(),
            core_ty,
            move |_: &mut Caller<'_>, args, results| {
                if !direct {
                    return Err(Trap::host(
                        "component-to-component call with strings, lists or handles needs the \
                         fused adapter, which this build does not have yet",
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
        )
    }
}

/// Whether values of `ty` cross through memory or carry handles (a flat call cannot pass them).
fn contains_pointers_or_handles(ty: &ComponentFuncType) -> bool {
    ty.params
        .iter()
        .any(|(_, t)| t.contains_pointers_or_handles())
        || ty
            .result
            .as_ref()
            .is_some_and(|t| t.contains_pointers_or_handles())
        || kiln_environ::component::abi::params_in_memory(ty)
        || kiln_environ::component::abi::result_in_memory(ty)
}

/// The core function for lowered function `index` when it is compiled glue that calls no
/// host (a fused adapter to a function lifted by another component of the plan, or
/// `task.return`); `None` when the compiler emitted none.
fn adapter_func(
    component: &Component,
    index: u32,
    cvmctx: usize,
    core_ty: FuncType,
) -> Option<Func> {
    let entry = super::host::glue_entry(component, index)?;
    Some(Func::new_with_array_call(
        component.engine(),
        core_ty,
        entry,
        [cvmctx, 0, 0],
        |_: &mut Caller<'_>, _, _| {
            Err(Trap::host(
                "a lowered component function cannot be called directly from the host",
            ))
        },
    ))
}

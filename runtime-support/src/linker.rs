//! The linker: resolves a module's imports by `(module, name)` and instantiates it.

use crate::engine::Engine;
use crate::error::{Error, Trap};
use crate::func::{Caller, Func};
use crate::instance::{Instance, InstanceOptions};
use crate::limits::ResourceLimiter;
use crate::module::Module;
use crate::values::Val;
use crate::Extern;
use kiln_environ::FuncType;
use std::collections::HashMap;
use std::sync::Arc;

/// Resolves imports by (module, name).
#[derive(Clone)]
pub struct Linker {
    engine: Engine,
    items: HashMap<(String, String), Extern>,
    options: InstanceOptions,
}

impl Linker {
    /// An empty linker.
    pub fn new(engine: &Engine) -> Linker {
        Linker {
            engine: engine.clone(),
            items: HashMap::new(),
            options: InstanceOptions::default(),
        }
    }

    /// Limits the stores of the instances this linker creates (their memories' and tables'
    /// growth, instance count); applied before segments and start functions run.
    pub fn set_limiter(&mut self, limiter: Arc<dyn ResourceLimiter>) -> &mut Self {
        self.options.limiter = Some(limiter);
        self
    }

    /// Gives the stores of the instances this linker creates an epoch deadline `ticks` after
    /// the engine's epoch at instantiation, before their start functions run (see
    /// [`Instance::set_epoch_deadline`]; modules must be compiled with epoch interruption).
    pub fn set_epoch_deadline(&mut self, ticks: u64) -> &mut Self {
        self.options.epoch_deadline = Some(ticks);
        self
    }

    /// Defines `module::name` (replacing any previous definition).
    pub fn define(&mut self, module: &str, name: &str, item: Extern) -> &mut Self {
        self.items
            .insert((module.to_string(), name.to_string()), item);
        self
    }

    /// Defines every export of `instance` under `module`.
    pub fn instance(&mut self, module: &str, instance: &Instance) -> &mut Self {
        for (name, item) in instance.exports() {
            self.define(module, &name, item);
        }
        self
    }

    /// Defines a typed host function (see [`Func::wrap`]).
    pub fn func_wrap<P: crate::typed::WasmList, R: crate::typed::WasmList>(
        &mut self,
        module: &str,
        name: &str,
        f: impl Fn(&mut Caller<'_>, P) -> Result<R, Trap> + Send + Sync + 'static,
    ) -> &mut Self {
        let func = Func::wrap(&self.engine, f);
        self.define(module, name, Extern::Func(func))
    }

    /// Defines a host function.
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static,
    ) -> &mut Self {
        let func = Func::new(&self.engine, ty, f);
        self.define(module, name, Extern::Func(func))
    }

    /// The definition of `module::name`, if any.
    pub fn get(&self, module: &str, name: &str) -> Option<&Extern> {
        self.items.get(&(module.to_string(), name.to_string()))
    }

    /// Instantiates `module` with imports resolved from this linker.
    pub fn instantiate(&self, module: &Module) -> Result<Instance, Error> {
        self.instantiate_pre(module)?.instantiate()
    }

    /// Resolves and type-checks `module`'s imports once: the returned [`InstancePre`] makes
    /// instances with them (and this linker's limiter and epoch deadline) without looking
    /// anything up again. Later definitions in the linker do not affect it.
    pub fn instantiate_pre(&self, module: &Module) -> Result<InstancePre, Error> {
        if !Engine::same(&self.engine, module.inner.engine()) {
            return Err(Error::Link(
                "the module belongs to another engine than the linker".into(),
            ));
        }
        let mut imports = Vec::with_capacity(module.imports().len());
        for imp in module.imports() {
            let item = self.get(&imp.module, &imp.name).ok_or_else(|| {
                Error::Link(format!("unknown import `{}::{}`", imp.module, imp.name))
            })?;
            imports.push(item.clone());
        }
        Instance::check_imports(module, &imports)?;
        Ok(InstancePre {
            module: module.clone(),
            imports: imports.into(),
            options: self.options.clone(),
        })
    }
}

/// A module with its imports resolved and checked ([`Linker::instantiate_pre`]): each
/// [`InstancePre::instantiate`] only allocates and initializes a new instance. Cloning is cheap;
/// usable from any thread.
#[derive(Clone)]
pub struct InstancePre {
    module: Module,
    imports: Arc<[Extern]>,
    options: InstanceOptions,
}

impl InstancePre {
    /// A new instance (segments applied, start function run), in a new store unless an import
    /// ties it to an existing one.
    pub fn instantiate(&self) -> Result<Instance, Error> {
        Instance::new_checked(&self.module, &self.imports, &self.options, false)
    }

    /// The module this instantiates.
    pub fn module(&self) -> &Module {
        &self.module
    }
}

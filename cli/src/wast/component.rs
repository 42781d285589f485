//! Components in wast scripts: the per-script component state, instantiation with imports
//! resolved from registered component instances, and validation for `assert_invalid`.
//!
//! A script's `(component ...)` is encoded to binary, compiled to a `.so` by the run's cache
//! ([`super::ModuleCache::get_component`]), loaded and instantiated with a
//! `kiln_runtime::ComponentLinker`; `invoke` calls an export through its compiled canonical-ABI
//! glue with component values ([`super::component_values`]).
//!
//! Imports: an instance import `NAME` whose items are functions is defined by forwarding every
//! function `f` to the export `f` of the component instance registered as `NAME`
//! (`(register "NAME" $inst)`). The registered instance is looked up when the function is
//! called, not when the importer is instantiated, so an instance may import itself once it is
//! registered: that is how scripts test reentrance (a call from the host back into an instance
//! that is still running traps). A call to an import that nothing was registered for traps.
//!
//! As in wasmtime's script engine, a *named* component instance (`(component instance $I $C)`)
//! or a registered one provides, to components instantiated later that import `I`, the
//! identities of the resource types it exports and the core modules it exports: a component
//! that declares two imported resource types equal does not link when they are different types.

use kiln_compiler::Config;
use kiln_environ::component::ItemType;
use kiln_runtime::component::Val;
use kiln_runtime::{Component, ComponentInstance, ComponentLinker, Engine, Error, Trap};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Component instances registered by name, shared with the forwarding import functions.
pub(super) type Registry = Arc<Mutex<HashMap<String, ComponentInstance>>>;

/// What one script built of components.
#[derive(Default)]
pub(super) struct ComponentState {
    /// Named component instances.
    pub instances: HashMap<String, ComponentInstance>,
    /// Named component definitions (`(component definition $C ...)`).
    pub definitions: HashMap<String, Component>,
    /// The last component definition.
    pub last_definition: Option<Component>,
    /// Instances registered for the imports of later components.
    pub registry: Registry,
}

/// The instance providing import `name`'s resources and modules: the one registered as
/// `name`, else the named instance `$name`.
fn provider(state: &ComponentState, name: &str) -> Option<ComponentInstance> {
    state
        .registry
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .cloned()
        .or_else(|| state.instances.get(name).cloned())
}

impl ComponentState {
    /// Registers `inst` as `name`.
    pub fn register(&self, name: &str, inst: ComponentInstance) {
        self.registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), inst);
    }
}

impl Drop for ComponentState {
    /// Registered instances hold (through their forwarding imports) the registry itself:
    /// emptying it at the end of the script breaks that cycle so they are freed.
    fn drop(&mut self) {
        self.registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// Instantiates `component`, defining its instance imports by forwarding to the registry.
pub(super) fn instantiate(
    engine: &Engine,
    component: &Component,
    state: &ComponentState,
) -> Result<ComponentInstance, Error> {
    let registry = &state.registry;
    let mut linker = ComponentLinker::new(engine);
    for import in component.imports() {
        let ItemType::Instance(items) = &import.ty else {
            continue;
        };
        let from = provider(state, &import.name);
        for (name, ty) in items {
            let path = format!("{}#{name}", import.name);
            match (ty, &from) {
                (ItemType::Resource(_), Some(inst)) => {
                    if let Some(t) = inst.exported_resource_type(&[name]) {
                        linker.resource(&path, t);
                    }
                }
                (ItemType::Module(_), Some(inst)) => {
                    if let Some(m) = inst.get_module(&[name]) {
                        linker.module(&path, &m);
                    }
                }
                _ => {}
            }
            if !matches!(ty, ItemType::Func(_)) {
                continue;
            }
            let registry = registry.clone();
            let (instance_name, func) = (import.name.clone(), name.clone());
            linker.interface_func(&import.name, name, move |args: &[Val]| {
                forward(&registry, &instance_name, &func, args)
            });
        }
    }
    linker.instantiate(component)
}

/// Calls export `func` of the instance registered as `instance`.
fn forward(
    registry: &Registry,
    instance: &str,
    func: &str,
    args: &[Val],
) -> Result<Option<Val>, Trap> {
    let target = registry
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(instance)
        .cloned()
        .ok_or_else(|| {
            Trap::host(format!(
                "wast: no component instance registered as `{instance}` (import `{instance}#{func}`)"
            ))
        })?;
    target.call(func, args).map_err(|e| match e {
        Error::Trap(t) => t,
        other => Trap::host(format!("wast: calling `{instance}#{func}`: {other}")),
    })
}

/// Parses, validates and flattens the component `wasm` the way compiling it would (for
/// `assert_invalid`); the error is the compiler's message.
pub(super) fn validate(wasm: &[u8], config: &Config) -> Result<(), String> {
    kiln_compiler::component::plan(wasm, config)
        .map(drop)
        .map_err(|e| e.to_string())
}

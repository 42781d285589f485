//! Component front end, phase 2: execute the static components symbolically and flatten them
//! into one instantiation plan ([`ComponentMetadata`]).
//!
//! A component is instantiated exactly once, so everything about its instantiation except the
//! host's import values is known at compile time: which core modules are instantiated with
//! which imports, which functions are lifted and lowered with which options, which resource
//! types exist. This pass walks the root component's definitions with a *frame* of index
//! spaces, recursing into a fresh frame for every nested `instantiate` (so a component
//! instantiated twice contributes its initializers twice), and emits the ordered
//! [`Initializer`]s. Outer aliases resolve through the lexical environment captured when a
//! nested component is defined.

use super::parse::{LocalInit, ParsedComponent, ParsedComponents};
use super::types::{ResourceMap, TypeConverter};

mod builtins;
mod imports;
use crate::error::{CompileError, Result};
use kiln_environ::component::*;
use std::collections::HashMap;
use std::rc::Rc;
use wasmparser::component_types::{ComponentAnyTypeId, ComponentEntityType, ResourceId};
use wasmparser::{CanonicalOption, ComponentAlias, ComponentExternalKind as K, ExternalKind};

/// Most initializers a flattened component may have (nested instantiation can multiply them).
const MAX_INITIALIZERS: usize = 1_000_000;
/// Most component instances a flattened component may have.
const MAX_COMPONENT_INSTANCES: u32 = 10_000;

#[derive(Clone)]
enum CoreInstanceDef {
    Runtime(RuntimeInstanceIndex),
    Exports(Vec<(String, CoreDef)>),
}

#[derive(Clone)]
struct FuncDef {
    source: FuncSource,
    ty: ComponentFuncType,
}

#[derive(Clone)]
enum InstanceDef {
    Import {
        import: ImportIndex,
        path: Vec<String>,
    },
    Items(Vec<(String, ItemDef)>),
}

#[derive(Clone)]
enum TypeDef {
    Resource(ResourceIndex),
    Value(Option<InterfaceType>),
}

#[derive(Clone)]
struct ComponentClosure {
    index: usize,
    env: Rc<Env>,
}

/// A core module in an index space: defined in the binary (its parsed index) or imported by
/// the root component.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum ModuleDef {
    Static(usize),
    Imported(ImportIndex),
}

#[derive(Clone)]
enum ItemDef {
    Func(FuncDef),
    Instance(InstanceDef),
    Module(ModuleDef),
    Component(ComponentClosure),
    Type(TypeDef),
}

/// The lexical environment of a component definition, for outer aliases.
struct Env {
    modules: Vec<ModuleDef>,
    components: Vec<ComponentClosure>,
    types: Vec<TypeDef>,
    resources: HashMap<ResourceId, ResourceIndex>,
    parent: Option<Rc<Env>>,
}

struct Frame<'p, 'a> {
    comp: &'p ParsedComponent<'a>,
    parsed_index: usize,
    instance: ComponentInstanceIndex,
    args: HashMap<String, ItemDef>,
    env: Option<Rc<Env>>,
    core_funcs: Vec<CoreDef>,
    core_tables: Vec<CoreDef>,
    core_memories: Vec<CoreDef>,
    core_globals: Vec<CoreDef>,
    core_tags: Vec<CoreDef>,
    core_instances: Vec<CoreInstanceDef>,
    modules: Vec<ModuleDef>,
    components: Vec<ComponentClosure>,
    funcs: Vec<FuncDef>,
    instances: Vec<InstanceDef>,
    types: Vec<TypeDef>,
    resources: HashMap<ResourceId, ResourceIndex>,
    exports: Vec<(String, ItemDef)>,
}

/// The plan being built.
pub struct Inliner<'p, 'a> {
    parsed: &'p ParsedComponents<'a>,
    /// Parsed module index of each plan module.
    pub modules: Vec<usize>,
    module_index: HashMap<usize, StaticModuleIndex>,
    initializers: Vec<Initializer>,
    num_runtime_instances: u32,
    num_component_instances: u32,
    instance_parents: Vec<Option<ComponentInstanceIndex>>,
    num_lowered: u32,
    num_lifted: u32,
    memories: HashMap<CoreExport, RuntimeMemoryIndex>,
    reallocs: HashMap<CoreDef, ReallocIndex>,
    post_returns: HashMap<CoreDef, PostReturnIndex>,
    resources: Vec<ResourceType>,
    named_resources: Vec<bool>,
    imports: Vec<ComponentImport>,
    imported_resources: HashMap<(ImportIndex, Vec<String>), ResourceIndex>,
}

fn err(offset: usize, msg: impl Into<String>) -> CompileError {
    CompileError::at(offset, msg)
}

fn get<T: Clone>(space: &[T], index: u32, what: &str, offset: usize) -> Result<T> {
    space
        .get(index as usize)
        .cloned()
        .ok_or_else(|| err(offset, format!("{what} index {index} out of bounds")))
}

fn lookup<'x, T>(items: &'x [(String, T)], name: &str) -> Option<&'x T> {
    items.iter().find(|(n, _)| n == name).map(|(_, t)| t)
}

impl<'p, 'a> Inliner<'p, 'a> {
    /// Flattens the root component (the last parsed one).
    pub fn run(
        parsed: &'p ParsedComponents<'a>,
    ) -> Result<(Inliner<'p, 'a>, Vec<ComponentExport>)> {
        let mut inl = Inliner {
            parsed,
            modules: Vec::new(),
            module_index: HashMap::new(),
            initializers: Vec::new(),
            num_runtime_instances: 0,
            num_component_instances: 1,
            instance_parents: vec![None],
            num_lowered: 0,
            num_lifted: 0,
            memories: HashMap::new(),
            reallocs: HashMap::new(),
            post_returns: HashMap::new(),
            resources: Vec::new(),
            named_resources: Vec::new(),
            imports: Vec::new(),
            imported_resources: HashMap::new(),
        };
        let root = parsed.components.len() - 1;
        let exports = inl.instantiate(root, 0, HashMap::new(), None)?;
        let offset = parsed.components[root].offset;
        let mut out = Vec::new();
        for (name, item) in exports {
            out.push(ComponentExport {
                item: inl.export_item(&item, offset, &name)?,
                name,
            });
        }
        Ok((inl, out))
    }

    /// Finishes the metadata (build facts are filled in by the caller).
    pub fn finish(
        self,
        exports: Vec<ComponentExport>,
        build: kiln_environ::BuildInfo,
    ) -> ComponentMetadata {
        let modules = self
            .modules
            .iter()
            .map(|&m| StaticModule {
                name: None,
                offset: self.parsed.modules[m].range.start as u32,
                imports: self.parsed.modules[m].imports.clone(),
            })
            .collect();
        ComponentMetadata {
            build,
            modules,
            num_component_instances: self.num_component_instances,
            instance_parents: self.instance_parents,
            num_runtime_instances: self.num_runtime_instances,
            num_lowered: self.num_lowered,
            num_lifted: self.num_lifted,
            num_memories: self.memories.len() as u32,
            num_reallocs: self.reallocs.len() as u32,
            num_post_returns: self.post_returns.len() as u32,
            resources: self.resources,
            imports: self.imports,
            initializers: self.initializers,
            exports,
            glue: Default::default(),
        }
    }

    fn push(&mut self, init: Initializer, offset: usize) -> Result<()> {
        if self.initializers.len() >= MAX_INITIALIZERS {
            return Err(err(
                offset,
                "component too large once nested instantiations are flattened",
            ));
        }
        self.initializers.push(init);
        Ok(())
    }

    fn new_resource(&mut self, name: String, kind: ResourceKind) -> ResourceIndex {
        let named = !name.is_empty();
        let index = self.resources.len() as ResourceIndex;
        let name = if named {
            name
        } else {
            format!("resource{index}")
        };
        self.resources.push(ResourceType { name, kind });
        self.named_resources.push(named);
        index
    }

    fn name_resource(&mut self, r: ResourceIndex, name: &str) {
        if let Some(false) = self.named_resources.get(r as usize) {
            self.resources[r as usize].name = name.to_string();
            self.named_resources[r as usize] = true;
        }
    }

    fn instantiate(
        &mut self,
        parsed_index: usize,
        instance: ComponentInstanceIndex,
        args: HashMap<String, ItemDef>,
        env: Option<Rc<Env>>,
    ) -> Result<Vec<(String, ItemDef)>> {
        let parsed = self.parsed;
        let comp = &parsed.components[parsed_index];
        let mut frame = Frame {
            comp,
            parsed_index,
            instance,
            args,
            env,
            core_funcs: Vec::new(),
            core_tables: Vec::new(),
            core_memories: Vec::new(),
            core_globals: Vec::new(),
            core_tags: Vec::new(),
            core_instances: Vec::new(),
            modules: Vec::new(),
            components: Vec::new(),
            funcs: Vec::new(),
            instances: Vec::new(),
            types: Vec::new(),
            resources: HashMap::new(),
            exports: Vec::new(),
        };
        for init in &comp.inits {
            self.step(&mut frame, init)?;
        }
        Ok(frame.exports)
    }

    fn converter<'f>(frame: &'f Frame<'_, '_>, offset: usize) -> TypeConverter<'f> {
        let mut outer = Vec::new();
        let mut env = frame.env.as_deref();
        while let Some(e) = env {
            outer.push(&e.resources);
            env = e.parent.as_deref();
        }
        TypeConverter {
            types: &frame.comp.types,
            resources: ResourceMap {
                own: &frame.resources,
                outer,
            },
            offset,
        }
    }

    fn func_type_at(frame: &Frame<'_, '_>, index: u32, offset: usize) -> Result<ComponentFuncType> {
        let t = frame.comp.types.as_ref();
        if index >= t.component_function_count() {
            return Err(err(
                offset,
                format!("internal error: no type for function {index}"),
            ));
        }
        Self::converter(frame, offset).func(t.component_function_at(index))
    }

    fn any_type_at(frame: &Frame<'_, '_>, index: u32) -> Option<ComponentAnyTypeId> {
        let t = frame.comp.types.as_ref();
        (index < t.component_type_count()).then(|| t.component_any_type_at(index))
    }

    /// Records the type just pushed at `index`: maps its resource id to `def`'s resource.
    fn bind_type(frame: &mut Frame<'_, '_>, index: u32, def: &TypeDef) {
        if let (Some(ComponentAnyTypeId::Resource(id)), TypeDef::Resource(r)) =
            (Self::any_type_at(frame, index), def)
        {
            frame.resources.insert(id.resource(), *r);
        }
    }

    fn value_type_at(frame: &Frame<'_, '_>, index: u32, offset: usize) -> TypeDef {
        match Self::any_type_at(frame, index) {
            Some(ComponentAnyTypeId::Defined(id)) => {
                TypeDef::Value(Self::converter(frame, offset).defined_id(id).ok())
            }
            _ => TypeDef::Value(None),
        }
    }

    fn options(
        &mut self,
        frame: &Frame<'_, '_>,
        options: &[CanonicalOption],
        offset: usize,
    ) -> Result<CanonicalOptions> {
        let mut o = CanonicalOptions {
            instance: frame.instance,
            ..Default::default()
        };
        for opt in options {
            match opt {
                CanonicalOption::UTF8 => o.string_encoding = StringEncoding::Utf8,
                CanonicalOption::UTF16 => o.string_encoding = StringEncoding::Utf16,
                CanonicalOption::CompactUTF16 => o.string_encoding = StringEncoding::Latin1Utf16,
                CanonicalOption::Memory(i) => {
                    let CoreDef::Export(e) = get(&frame.core_memories, *i, "core memory", offset)?
                    else {
                        return Err(err(offset, "canonical option memory is not a core export"));
                    };
                    let next = self.memories.len() as u32;
                    let index = *self.memories.entry(e.clone()).or_insert(next);
                    if index == next {
                        self.push(Initializer::ExtractMemory { index, export: e }, offset)?;
                    }
                    o.memory = Some(index);
                }
                CanonicalOption::Realloc(i) => {
                    let def = get(&frame.core_funcs, *i, "core function", offset)?;
                    let next = self.reallocs.len() as u32;
                    let index = *self.reallocs.entry(def.clone()).or_insert(next);
                    if index == next {
                        self.push(Initializer::ExtractRealloc { index, def }, offset)?;
                    }
                    o.realloc = Some(index);
                }
                CanonicalOption::PostReturn(i) => {
                    let def = get(&frame.core_funcs, *i, "core function", offset)?;
                    let next = self.post_returns.len() as u32;
                    let index = *self.post_returns.entry(def.clone()).or_insert(next);
                    if index == next {
                        self.push(Initializer::ExtractPostReturn { index, def }, offset)?;
                    }
                    o.post_return = Some(index);
                }
                CanonicalOption::Async => o.async_ = true,
                // The callback function itself is recorded by the lift (`lift_callback`).
                CanonicalOption::Callback(_) => o.callback = true,
                other => {
                    return Err(err(
                        offset,
                        format!("unsupported canonical option {other:?}"),
                    ))
                }
            }
        }
        Ok(o)
    }

    /// The plan's index of parsed module `m`, which is compiled into the `.so`.
    fn static_module(&mut self, m: usize) -> StaticModuleIndex {
        let next = self.modules.len() as u32;
        let index = *self.module_index.entry(m).or_insert(next);
        if index == next {
            self.modules.push(m);
        }
        index
    }

    fn core_export(inst: &CoreInstanceDef, name: &str, offset: usize) -> Result<CoreDef> {
        match inst {
            CoreInstanceDef::Runtime(i) => Ok(CoreDef::Export(CoreExport {
                instance: *i,
                name: name.to_string(),
            })),
            CoreInstanceDef::Exports(items) => lookup(items, name)
                .cloned()
                .ok_or_else(|| err(offset, format!("core instance has no export `{name}`"))),
        }
    }

    fn core_space<'f>(frame: &'f mut Frame<'_, '_>, kind: ExternalKind) -> &'f mut Vec<CoreDef> {
        match kind {
            ExternalKind::Func | ExternalKind::FuncExact => &mut frame.core_funcs,
            ExternalKind::Table => &mut frame.core_tables,
            ExternalKind::Memory => &mut frame.core_memories,
            ExternalKind::Global => &mut frame.core_globals,
            ExternalKind::Tag => &mut frame.core_tags,
        }
    }

    fn item(frame: &Frame<'_, '_>, kind: K, index: u32, offset: usize) -> Result<ItemDef> {
        Ok(match kind {
            K::Func => ItemDef::Func(get(&frame.funcs, index, "function", offset)?),
            K::Instance => ItemDef::Instance(get(&frame.instances, index, "instance", offset)?),
            K::Module => ItemDef::Module(get(&frame.modules, index, "module", offset)?),
            K::Component => ItemDef::Component(get(&frame.components, index, "component", offset)?),
            K::Type => ItemDef::Type(get(&frame.types, index, "type", offset)?),
            K::Value => return Err(err(offset, "unsupported: component values")),
        })
    }

    /// Adds `item` to the index space of its kind.
    fn push_item(frame: &mut Frame<'_, '_>, item: ItemDef) {
        match item {
            ItemDef::Func(f) => frame.funcs.push(f),
            ItemDef::Instance(i) => frame.instances.push(i),
            ItemDef::Module(m) => frame.modules.push(m),
            ItemDef::Component(c) => frame.components.push(c),
            ItemDef::Type(t) => {
                let index = frame.types.len() as u32;
                frame.types.push(t.clone());
                Self::bind_type(frame, index, &t);
            }
        }
    }

    fn step(&mut self, frame: &mut Frame<'_, '_>, init: &LocalInit<'_>) -> Result<()> {
        match init {
            LocalInit::Import { name, ty, offset } => self.import(frame, name, *ty, *offset)?,
            LocalInit::Lift {
                core_func,
                func_index,
                options,
                offset,
            } => {
                let callee = get(&frame.core_funcs, *core_func, "core function", *offset)?;
                let ty = Self::func_type_at(frame, *func_index, *offset)?;
                let callback = options
                    .iter()
                    .find_map(|o| match o {
                        CanonicalOption::Callback(i) => Some(*i),
                        _ => None,
                    })
                    .map(|i| get(&frame.core_funcs, i, "core function", *offset).map(Box::new))
                    .transpose()?;
                let options = self.options(frame, options, *offset)?;
                let index = self.num_lifted;
                self.num_lifted += 1;
                self.push(
                    Initializer::Lift {
                        index,
                        callee,
                        ty: ty.clone(),
                        options,
                        callback,
                    },
                    *offset,
                )?;
                frame.funcs.push(FuncDef {
                    source: FuncSource::Lifted(index),
                    ty,
                });
            }
            LocalInit::Lower {
                func,
                options,
                offset,
            } => {
                let f = get(&frame.funcs, *func, "function", *offset)?;
                let options = self.options(frame, options, *offset)?;
                let index = self.num_lowered;
                self.num_lowered += 1;
                self.push(
                    Initializer::Lower {
                        index,
                        callee: f.source,
                        ty: f.ty,
                        options,
                    },
                    *offset,
                )?;
                frame.core_funcs.push(CoreDef::Lowered(index));
            }
            LocalInit::TaskReturn {
                result,
                options,
                offset,
            } => {
                let result = match result {
                    None => None,
                    Some(wasmparser::ComponentValType::Primitive(p)) => Some(
                        Self::converter(frame, *offset)
                            .val(wasmparser::component_types::ComponentValType::Primitive(*p))?,
                    ),
                    Some(wasmparser::ComponentValType::Type(i)) => {
                        match Self::any_type_at(frame, *i) {
                            Some(ComponentAnyTypeId::Defined(id)) => {
                                Some(Self::converter(frame, *offset).defined_id(id)?)
                            }
                            _ => return Err(err(*offset, "task.return of a non-value type")),
                        }
                    }
                };
                let options = self.options(frame, options, *offset)?;
                let ty = ComponentFuncType {
                    is_async: false,
                    params: result
                        .map(|t| ("result".to_string(), t))
                        .into_iter()
                        .collect(),
                    result: None,
                };
                let index = self.num_lowered;
                self.num_lowered += 1;
                self.push(
                    Initializer::Lower {
                        index,
                        callee: FuncSource::TaskReturn,
                        ty,
                        options,
                    },
                    *offset,
                )?;
                frame.core_funcs.push(CoreDef::Lowered(index));
            }
            LocalInit::Builtin { canon, offset } => {
                let builtin = self.builtin(frame, canon, *offset)?;
                let index = frame.core_funcs.len() as u32;
                let types = frame.comp.types.as_ref();
                if index >= types.function_count() {
                    return Err(err(
                        *offset,
                        format!("internal error: no type for core function {index}"),
                    ));
                }
                let sub = &types[types.core_function_at(index)];
                let wasmparser::CompositeInnerType::Func(f) = &sub.composite_type.inner else {
                    return Err(err(*offset, "canonical built-in without a function type"));
                };
                let conv = |ts: &[wasmparser::ValType]| {
                    ts.iter()
                        .map(|t| crate::types::val_type(*offset, *t))
                        .collect::<Result<Vec<_>>>()
                };
                let ty = kiln_environ::FuncType {
                    params: conv(f.params())?,
                    results: conv(f.results())?,
                };
                frame.core_funcs.push(CoreDef::Builtin {
                    builtin,
                    instance: frame.instance,
                    ty,
                });
            }
            LocalInit::ResourceIntrinsic {
                kind,
                resource,
                offset,
            } => {
                let TypeDef::Resource(r) = get(&frame.types, *resource, "type", *offset)? else {
                    return Err(err(
                        *offset,
                        format!("type {resource} is not a resource type"),
                    ));
                };
                frame.core_funcs.push(CoreDef::Intrinsic {
                    kind: *kind,
                    resource: r,
                    instance: frame.instance,
                });
            }
            LocalInit::Module(i) => {
                let m = self.parsed.module_map[frame.parsed_index]
                    .get(*i as usize)
                    .copied()
                    .ok_or_else(|| err(frame.comp.offset, "internal error: module map"))?;
                frame.modules.push(ModuleDef::Static(m));
            }
            LocalInit::Component(index) => {
                let env = Rc::new(Env {
                    modules: frame.modules.clone(),
                    components: frame.components.clone(),
                    types: frame.types.clone(),
                    resources: frame.resources.clone(),
                    parent: frame.env.clone(),
                });
                frame
                    .components
                    .push(ComponentClosure { index: *index, env });
            }
            LocalInit::CoreInstantiate {
                module,
                args,
                offset,
            } => {
                let m = get(&frame.modules, *module, "core module", *offset)?;
                let find = |module_name: &str| {
                    let Some((_, inst)) = args.iter().find(|(n, _)| *n == module_name) else {
                        return Err(err(
                            *offset,
                            format!("missing instantiation argument `{module_name}`"),
                        ));
                    };
                    get(&frame.core_instances, *inst, "core instance", *offset)
                };
                match m {
                    ModuleDef::Static(m) => {
                        let mut imports = Vec::new();
                        for (module_name, name) in &self.parsed.modules[m].imports {
                            let inst = find(module_name)?;
                            imports.push(Self::core_export(&inst, name, *offset)?);
                        }
                        let module = self.static_module(m);
                        self.push(Initializer::InstantiateModule { module, imports }, *offset)?;
                    }
                    ModuleDef::Imported(import) => {
                        let Some(ItemType::Module(ty)) =
                            self.imports.get(import as usize).map(|i| &i.ty)
                        else {
                            return Err(err(*offset, "internal error: module import type"));
                        };
                        let mut imports = Vec::new();
                        for (module_name, name, _) in ty.imports.clone() {
                            let inst = find(&module_name)?;
                            let def = Self::core_export(&inst, &name, *offset)?;
                            imports.push((module_name, name, def));
                        }
                        self.push(
                            Initializer::InstantiateImportedModule { import, imports },
                            *offset,
                        )?;
                    }
                }
                frame
                    .core_instances
                    .push(CoreInstanceDef::Runtime(self.num_runtime_instances));
                self.num_runtime_instances += 1;
            }
            LocalInit::CoreInstanceFromExports(items) => {
                let mut exports = Vec::new();
                for (name, kind, index) in items {
                    let offset = frame.comp.offset;
                    let space = Self::core_space(frame, *kind);
                    let def = get(space, *index, "core item", offset)?;
                    exports.push((name.to_string(), def));
                }
                frame.core_instances.push(CoreInstanceDef::Exports(exports));
            }
            LocalInit::Instantiate {
                component,
                args,
                offset,
            } => {
                let closure = get(&frame.components, *component, "component", *offset)?;
                let mut map = HashMap::new();
                for (name, kind, index) in args {
                    map.insert(name.to_string(), Self::item(frame, *kind, *index, *offset)?);
                }
                if self.num_component_instances >= MAX_COMPONENT_INSTANCES {
                    return Err(err(*offset, "too many nested component instances"));
                }
                let instance = self.num_component_instances;
                self.num_component_instances += 1;
                self.instance_parents.push(Some(frame.instance));
                let exports =
                    self.instantiate(closure.index, instance, map, Some(closure.env.clone()))?;
                frame.instances.push(InstanceDef::Items(exports));
            }
            LocalInit::InstanceFromExports(items) => {
                let mut exports = Vec::new();
                for (name, kind, index) in items {
                    exports.push((
                        name.to_string(),
                        Self::item(frame, *kind, *index, frame.comp.offset)?,
                    ));
                }
                frame.instances.push(InstanceDef::Items(exports));
            }
            LocalInit::Alias(alias, offset) => self.alias(frame, alias, *offset)?,
            LocalInit::Type {
                index,
                resource_dtor,
            } => {
                let def = match resource_dtor {
                    Some(dtor) => {
                        let dtor = dtor
                            .map(|d| get(&frame.core_funcs, d, "core function", frame.comp.offset))
                            .transpose()?;
                        let r = self.new_resource(
                            String::new(),
                            ResourceKind::Defined {
                                instance: frame.instance,
                            },
                        );
                        self.push(
                            Initializer::DefineResource { resource: r, dtor },
                            frame.comp.offset,
                        )?;
                        TypeDef::Resource(r)
                    }
                    None => Self::value_type_at(frame, *index, frame.comp.offset),
                };
                frame.types.push(def.clone());
                Self::bind_type(frame, *index, &def);
            }
            LocalInit::Export {
                name,
                kind,
                index,
                offset,
            } => {
                let item = Self::item(frame, *kind, *index, *offset)?;
                if let ItemDef::Type(TypeDef::Resource(r)) = &item {
                    self.name_resource(*r, name);
                }
                frame.exports.push((name.to_string(), item.clone()));
                Self::push_item(frame, item);
            }
        }
        Ok(())
    }

    fn alias(
        &mut self,
        frame: &mut Frame<'_, '_>,
        alias: &ComponentAlias<'_>,
        offset: usize,
    ) -> Result<()> {
        match alias {
            ComponentAlias::CoreInstanceExport {
                kind,
                instance_index: instance,
                name,
            } => {
                let inst = get(&frame.core_instances, *instance, "core instance", offset)?;
                let def = Self::core_export(&inst, name, offset)?;
                Self::core_space(frame, *kind).push(def);
            }
            ComponentAlias::InstanceExport {
                kind,
                instance_index: instance,
                name,
            } => {
                let inst = get(&frame.instances, *instance, "instance", offset)?;
                let item = match inst {
                    InstanceDef::Items(items) => lookup(&items, name)
                        .cloned()
                        .ok_or_else(|| err(offset, format!("instance has no export `{name}`")))?,
                    InstanceDef::Import { import, mut path } => {
                        path.push(name.to_string());
                        match kind {
                            K::Func => ItemDef::Func(FuncDef {
                                ty: Self::func_type_at(frame, frame.funcs.len() as u32, offset)?,
                                source: FuncSource::Import { import, path },
                            }),
                            K::Instance => ItemDef::Instance(InstanceDef::Import { import, path }),
                            K::Type => match self.imported_resources.get(&(import, path)) {
                                Some(r) => ItemDef::Type(TypeDef::Resource(*r)),
                                None => ItemDef::Type(Self::value_type_at(
                                    frame,
                                    frame.types.len() as u32,
                                    offset,
                                )),
                            },
                            _ => {
                                return Err(err(
                                    offset,
                                    format!(
                                    "unsupported: aliasing a {kind:?} out of an imported instance"
                                ),
                                ))
                            }
                        }
                    }
                };
                Self::push_item(frame, item);
            }
            ComponentAlias::Outer { kind, count, index } => {
                use wasmparser::ComponentOuterAliasKind as O;
                // Count 0 is this component's own index spaces; count N the Nth enclosing
                // component's, as they stood where this component was defined.
                let env = if *count == 0 {
                    None
                } else {
                    let mut env = frame.env.clone();
                    for _ in 1..*count {
                        env = env.and_then(|e| e.parent.clone());
                    }
                    Some(env.ok_or_else(|| err(offset, "outer alias reaches past the root"))?)
                };
                match kind {
                    O::CoreModule => {
                        let space = env.as_ref().map_or(&frame.modules, |e| &e.modules);
                        let m = get(space, *index, "module", offset)?;
                        frame.modules.push(m);
                    }
                    O::Component => {
                        let space = env.as_ref().map_or(&frame.components, |e| &e.components);
                        let c = get(space, *index, "component", offset)?;
                        frame.components.push(c);
                    }
                    O::Type => {
                        let space = env.as_ref().map_or(&frame.types, |e| &e.types);
                        let t = get(space, *index, "type", offset)?;
                        Self::push_item(frame, ItemDef::Type(t));
                    }
                    O::CoreType => {}
                }
            }
        }
        Ok(())
    }
}

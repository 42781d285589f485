//! Component front end, phase 1: parse and validate a component binary into static
//! components (one per `(component ...)`, nested ones included) and static core modules.
//!
//! Each static component keeps its validated types (wasmparser's `Types`) and the list of its
//! definitions in section order ([`LocalInit`]); phase 2 (`inline.rs`) executes those lists
//! symbolically to produce the flat instantiation plan. Core modules are only recorded here (byte
//! range, imports, function bodies to validate): the bodies of a module are validated when it
//! is compiled, or by [`validate_bodies`] when it is not.

use crate::error::{CompileError, Result};
use wasmparser::types::Types;
use wasmparser::{
    CanonicalFunction, CanonicalOption, ComponentAlias, ComponentExternalKind, ComponentTypeRef,
    ExternalKind, FuncToValidate, FuncValidatorAllocations, FunctionBody, Parser, Payload,
    ValidPayload, Validator, ValidatorResources, WasmFeatures,
};

/// A core module of the component, as found in the binary.
pub struct ParsedModule {
    /// Byte range of the module in the component binary.
    pub range: std::ops::Range<usize>,
    /// Its imports `(module, name)`, in order.
    pub imports: Vec<(String, String)>,
}

/// One definition of a component, in section order. Every variant adds one entry to the index
/// space named in its comment (or none).
pub enum LocalInit<'a> {
    /// An import (adds to the space of its kind).
    Import {
        /// Import name.
        name: &'a str,
        /// Its type.
        ty: ComponentTypeRef,
        /// Byte offset.
        offset: usize,
    },
    /// `canon lift` (adds a component function).
    Lift {
        /// Core function index.
        core_func: u32,
        /// Component function index this defines.
        func_index: u32,
        /// Options.
        options: Box<[CanonicalOption]>,
        /// Byte offset.
        offset: usize,
    },
    /// `canon lower` (adds a core function).
    Lower {
        /// Component function index.
        func: u32,
        /// Options.
        options: Box<[CanonicalOption]>,
        /// Byte offset.
        offset: usize,
    },
    /// `canon task.return` (adds a core function): a lowering of the current task's return.
    TaskReturn {
        /// The result type, if any.
        result: Option<wasmparser::ComponentValType>,
        /// Options.
        options: Box<[CanonicalOption]>,
        /// Byte offset.
        offset: usize,
    },
    /// Another canonical built-in of component-model async or threads (adds a core function).
    Builtin {
        /// Which (resolved against the frame's types and core index spaces by `inline`).
        canon: CanonicalFunction,
        /// Byte offset.
        offset: usize,
    },
    /// `canon resource.new/rep/drop` (adds a core function).
    ResourceIntrinsic {
        /// Which.
        kind: kiln_environ::component::IntrinsicKind,
        /// Component type index of the resource.
        resource: u32,
        /// Byte offset.
        offset: usize,
    },
    /// A core module defined here (adds a core module).
    Module(u32),
    /// A component defined here (adds a component): index into [`ParsedComponents::components`].
    Component(usize),
    /// `core instance (instantiate ...)` (adds a core instance).
    CoreInstantiate {
        /// Core module index.
        module: u32,
        /// `(with name (instance i))` arguments.
        args: Vec<(&'a str, u32)>,
        /// Byte offset.
        offset: usize,
    },
    /// `core instance (export ...)*` (adds a core instance).
    CoreInstanceFromExports(Vec<(&'a str, ExternalKind, u32)>),
    /// `instance (instantiate ...)` (adds a component instance).
    Instantiate {
        /// Component index.
        component: u32,
        /// Arguments.
        args: Vec<(&'a str, ComponentExternalKind, u32)>,
        /// Byte offset.
        offset: usize,
    },
    /// `instance (export ...)*` (adds a component instance).
    InstanceFromExports(Vec<(&'a str, ComponentExternalKind, u32)>),
    /// An alias (adds to the space of its kind).
    Alias(ComponentAlias<'a>, usize),
    /// A component type definition (adds a type); `Some(dtor)` for a resource type.
    Type {
        /// Type index this defines.
        index: u32,
        /// For a resource type: its destructor (core function index), if any.
        resource_dtor: Option<Option<u32>>,
    },
    /// An export (adds to the space of its kind).
    Export {
        /// Export name.
        name: &'a str,
        /// Kind.
        kind: ComponentExternalKind,
        /// Index of the exported item.
        index: u32,
        /// Byte offset.
        offset: usize,
    },
}

/// A static component: its validated types and its definitions.
pub struct ParsedComponent<'a> {
    /// Types, as the validator resolved them at the end of the component.
    pub types: Types,
    /// Definitions in order.
    pub inits: Vec<LocalInit<'a>>,
    /// Byte offset of the component's start.
    pub offset: usize,
}

/// Everything phase 1 finds.
pub struct ParsedComponents<'a> {
    /// Every static component; the root is the last one.
    pub components: Vec<ParsedComponent<'a>>,
    /// Every core module, by static module index (in binary order, nested ones included).
    pub modules: Vec<ParsedModule>,
    /// For each core module index of each component: `modules` index (filled during parsing).
    pub module_map: Vec<Vec<usize>>,
    /// The function bodies of each core module (by `modules` index), for validating the
    /// modules that are not compiled (compiling validates the others).
    pub bodies: ModuleBodies<'a>,
}

/// The function bodies of each core module (see [`ParsedComponents::bodies`]).
pub type ModuleBodies<'a> = Vec<Vec<(FuncToValidate<ValidatorResources>, FunctionBody<'a>)>>;

/// Validates the code of every core module of `bodies` whose index `skip` does not accept (a
/// module that is never instantiated is still core-validated, as the Component Model
/// requires).
pub fn validate_bodies(bodies: ModuleBodies<'_>, skip: impl Fn(usize) -> bool) -> Result<()> {
    for (m, bodies) in bodies.into_iter().enumerate() {
        if skip(m) {
            continue;
        }
        let mut allocs = FuncValidatorAllocations::default();
        for (fv, body) in bodies {
            let mut v = fv.into_validator(std::mem::take(&mut allocs));
            v.validate(&body).map_err(|e| {
                CompileError::at(e.offset(), format!("core module {m}: {}", e.message()))
            })?;
            allocs = v.into_allocations();
        }
    }
    Ok(())
}

/// The features the component front end accepts: kiln's core features plus the component
/// model with every extension the Component Model's reference tests exercise: async types,
/// built-ins and functions (validated, and compiled: built-ins that need an event loop or
/// stack switching trap when called), threads built-ins, `error-context`, fixed-length lists,
/// `map`, `[implements=<...>]` names, and GC core types in core type declarations (a core
/// module that uses GC instructions is still refused when compiled).
pub fn component_features(core: WasmFeatures) -> WasmFeatures {
    core | WasmFeatures::COMPONENT_MODEL
        | WasmFeatures::CM_ASYNC
        | WasmFeatures::CM_ASYNC_STACKFUL
        | WasmFeatures::CM_MORE_ASYNC_BUILTINS
        | WasmFeatures::CM_THREADING
        | WasmFeatures::CM_ERROR_CONTEXT
        | WasmFeatures::CM_FIXED_LENGTH_LISTS
        | WasmFeatures::CM_MAP
        | WasmFeatures::CM_IMPLEMENTS
        | WasmFeatures::GC
        | WasmFeatures::FUNCTION_REFERENCES
        | WasmFeatures::REFERENCE_TYPES
}

enum Frame<'a> {
    Module {
        index: usize,
    },
    Component {
        inits: Vec<LocalInit<'a>>,
        /// Core modules so far (static module index each).
        modules: Vec<usize>,
        offset: usize,
        funcs: u32,
        types: u32,
    },
}

fn unsupported(offset: usize, what: &str) -> CompileError {
    CompileError::at(offset, format!("unsupported component feature: {what}"))
}

/// Parses and validates `wasm` (a component binary).
pub fn parse(wasm: &[u8], features: WasmFeatures) -> Result<ParsedComponents<'_>> {
    let mut validator = Validator::new_with_features(component_features(features));
    let mut parser = Parser::new(0);
    parser.set_features(component_features(features));
    let mut out = ParsedComponents {
        components: Vec::new(),
        modules: Vec::new(),
        module_map: Vec::new(),
        bodies: Vec::new(),
    };
    let mut stack: Vec<Frame<'_>> = Vec::new();
    for payload in parser.parse_all(wasm) {
        let payload = payload?;
        let valid = validator.payload(&payload)?;
        if let ValidPayload::Func(fv, body) = valid {
            // Validated when the module is compiled, or by `validate_bodies` if it is not.
            if let Some(Frame::Module { index }) = stack.last() {
                out.bodies[*index].push((fv, body));
            }
            continue;
        }
        if let Some(Frame::Module { index }) = stack.last() {
            let index = *index;
            match &payload {
                Payload::ImportSection(reader) => {
                    for import in reader.clone().into_imports() {
                        let import = import?;
                        out.modules[index]
                            .imports
                            .push((import.module.to_string(), import.name.to_string()));
                    }
                }
                Payload::End(_) => {
                    stack.pop();
                }
                _ => {}
            }
            continue;
        }
        match payload {
            Payload::Version {
                encoding, range, ..
            } => {
                if stack.is_empty() && encoding != wasmparser::Encoding::Component {
                    return Err(CompileError::at(range.start, "not a component"));
                }
                if encoding == wasmparser::Encoding::Component {
                    stack.push(Frame::Component {
                        inits: Vec::new(),
                        modules: Vec::new(),
                        offset: range.start,
                        funcs: 0,
                        types: 0,
                    });
                }
            }
            Payload::ModuleSection {
                unchecked_range, ..
            } => {
                let index = out.modules.len();
                out.modules.push(ParsedModule {
                    range: unchecked_range,
                    imports: Vec::new(),
                });
                out.bodies.push(Vec::new());
                let Some(Frame::Component { inits, modules, .. }) = stack.last_mut() else {
                    return Err(CompileError::msg(
                        "internal error: module outside a component",
                    ));
                };
                inits.push(LocalInit::Module(modules.len() as u32));
                modules.push(index);
                stack.push(Frame::Module { index });
            }
            Payload::ComponentSection { .. } => {}
            Payload::End(offset) => {
                let ValidPayload::End(types) = valid else {
                    return Err(CompileError::at(
                        offset,
                        "internal error: end without types",
                    ));
                };
                let Some(Frame::Component {
                    inits,
                    modules,
                    offset: start,
                    ..
                }) = stack.pop()
                else {
                    return Err(CompileError::at(offset, "internal error: unbalanced end"));
                };
                let index = out.components.len();
                out.components.push(ParsedComponent {
                    types,
                    inits,
                    offset: start,
                });
                out.module_map.push(modules);
                if let Some(Frame::Component { inits, .. }) = stack.last_mut() {
                    inits.push(LocalInit::Component(index));
                }
            }
            other => {
                let Some(Frame::Component {
                    inits,
                    funcs,
                    types,
                    ..
                }) = stack.last_mut()
                else {
                    return Err(CompileError::msg(
                        "internal error: section outside a component",
                    ));
                };
                section(other, inits, funcs, types)?;
            }
        }
    }
    if out.components.is_empty() {
        return Err(CompileError::msg("not a component: no component found"));
    }
    Ok(out)
}

fn section<'a>(
    payload: Payload<'a>,
    inits: &mut Vec<LocalInit<'a>>,
    funcs: &mut u32,
    types: &mut u32,
) -> Result<()> {
    use ComponentExternalKind as K;
    let adds = |kind: K, funcs: &mut u32, types: &mut u32| match kind {
        K::Func => *funcs += 1,
        K::Type => *types += 1,
        _ => {}
    };
    match payload {
        Payload::ComponentImportSection(reader) => {
            for item in reader.into_iter_with_offsets() {
                let (offset, import) = item?;
                match import.ty {
                    ComponentTypeRef::Func(_) => *funcs += 1,
                    ComponentTypeRef::Type(_) => *types += 1,
                    ComponentTypeRef::Value(_) => return Err(unsupported(offset, "value imports")),
                    _ => {}
                }
                inits.push(LocalInit::Import {
                    name: import.name.name,
                    ty: import.ty,
                    offset,
                });
            }
        }
        Payload::ComponentExportSection(reader) => {
            for item in reader.into_iter_with_offsets() {
                let (offset, export) = item?;
                if export.kind == K::Value {
                    return Err(unsupported(offset, "value exports"));
                }
                adds(export.kind, funcs, types);
                inits.push(LocalInit::Export {
                    name: export.name.name,
                    kind: export.kind,
                    index: export.index,
                    offset,
                });
            }
        }
        Payload::ComponentCanonicalSection(reader) => {
            for item in reader.into_iter_with_offsets() {
                let (offset, canon) = item?;
                use kiln_environ::component::IntrinsicKind as I;
                let init = match canon {
                    CanonicalFunction::Lift {
                        core_func_index,
                        options,
                        ..
                    } => {
                        let func_index = *funcs;
                        *funcs += 1;
                        LocalInit::Lift {
                            core_func: core_func_index,
                            func_index,
                            options,
                            offset,
                        }
                    }
                    CanonicalFunction::Lower {
                        func_index,
                        options,
                    } => LocalInit::Lower {
                        func: func_index,
                        options,
                        offset,
                    },
                    CanonicalFunction::ResourceNew { resource } => LocalInit::ResourceIntrinsic {
                        kind: I::ResourceNew,
                        resource,
                        offset,
                    },
                    CanonicalFunction::ResourceRep { resource } => LocalInit::ResourceIntrinsic {
                        kind: I::ResourceRep,
                        resource,
                        offset,
                    },
                    CanonicalFunction::ResourceDrop { resource } => LocalInit::ResourceIntrinsic {
                        kind: I::ResourceDrop,
                        resource,
                        offset,
                    },
                    CanonicalFunction::TaskReturn { result, options } => LocalInit::TaskReturn {
                        result,
                        options,
                        offset,
                    },
                    other => LocalInit::Builtin {
                        canon: other,
                        offset,
                    },
                };
                if let LocalInit::Lift { options, .. } | LocalInit::Lower { options, .. } = &init {
                    for o in options.iter() {
                        if matches!(o, CanonicalOption::Gc | CanonicalOption::CoreType(_)) {
                            return Err(unsupported(offset, &format!("canonical option {o:?}")));
                        }
                    }
                }
                inits.push(init);
            }
        }
        Payload::InstanceSection(reader) => {
            for item in reader.into_iter_with_offsets() {
                let (offset, instance) = item?;
                inits.push(match instance {
                    wasmparser::Instance::Instantiate { module_index, args } => {
                        LocalInit::CoreInstantiate {
                            module: module_index,
                            args: args.iter().map(|a| (a.name, a.index)).collect(),
                            offset,
                        }
                    }
                    wasmparser::Instance::FromExports(exports) => {
                        LocalInit::CoreInstanceFromExports(
                            exports.iter().map(|e| (e.name, e.kind, e.index)).collect(),
                        )
                    }
                });
            }
        }
        Payload::ComponentInstanceSection(reader) => {
            for item in reader.into_iter_with_offsets() {
                let (offset, instance) = item?;
                inits.push(match instance {
                    wasmparser::ComponentInstance::Instantiate {
                        component_index,
                        args,
                    } => LocalInit::Instantiate {
                        component: component_index,
                        args: args.iter().map(|a| (a.name, a.kind, a.index)).collect(),
                        offset,
                    },
                    wasmparser::ComponentInstance::FromExports(exports) => {
                        for e in exports.iter() {
                            if e.kind == K::Value {
                                return Err(unsupported(offset, "value exports"));
                            }
                        }
                        LocalInit::InstanceFromExports(
                            exports
                                .iter()
                                .map(|e| (e.name.name, e.kind, e.index))
                                .collect(),
                        )
                    }
                });
            }
        }
        Payload::ComponentAliasSection(reader) => {
            for item in reader.into_iter_with_offsets() {
                let (offset, alias) = item?;
                match &alias {
                    ComponentAlias::InstanceExport { kind, .. } => {
                        if *kind == K::Value {
                            return Err(unsupported(offset, "value aliases"));
                        }
                        adds(*kind, funcs, types)
                    }
                    ComponentAlias::Outer { kind, .. } => {
                        if *kind == wasmparser::ComponentOuterAliasKind::Type {
                            *types += 1;
                        }
                    }
                    ComponentAlias::CoreInstanceExport { .. } => {}
                }
                inits.push(LocalInit::Alias(alias, offset));
            }
        }
        Payload::ComponentTypeSection(reader) => {
            for item in reader.into_iter_with_offsets() {
                let (_, ty) = item?;
                let resource_dtor = match ty {
                    wasmparser::ComponentType::Resource { dtor, .. } => Some(dtor),
                    _ => None,
                };
                inits.push(LocalInit::Type {
                    index: *types,
                    resource_dtor,
                });
                *types += 1;
            }
        }
        Payload::ComponentStartSection { range, .. } => {
            return Err(unsupported(range.start, "start functions"));
        }
        Payload::CoreTypeSection(_) | Payload::CustomSection(_) => {}
        other => {
            if let Some((_, range)) = other.as_section() {
                return Err(unsupported(range.start, "unknown section"));
            }
        }
    }
    Ok(())
}

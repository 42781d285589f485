//! Consistency checks of a [`ComponentMetadata`] plan, run by the runtime before it
//! instantiates anything (the plan comes from a file, so it is checked like any input).

use super::plan::*;
use super::types::InterfaceType;

struct Counts {
    instances: u32,
    lowered: u32,
    lifted: u32,
    memories: u32,
    reallocs: u32,
    post_returns: u32,
}

fn in_range(what: &str, i: u32, n: u32) -> Result<(), String> {
    if i < n {
        Ok(())
    } else {
        Err(format!(
            "component plan refers to {what} {i}, but only {n} are defined at that point"
        ))
    }
}

fn check_type(m: &ComponentMetadata, ty: &InterfaceType) -> Result<(), String> {
    use InterfaceType as T;
    match ty {
        T::Own(r) | T::Borrow(r) => in_range("resource", *r, m.resources.len() as u32),
        T::List(t) | T::Option(t) | T::FixedList(t, _) => check_type(m, t),
        T::Map(k, v) => check_type(m, k).and_then(|()| check_type(m, v)),
        T::Stream(Some(t)) | T::Future(Some(t)) => check_type(m, t),
        T::Record(f) => f.iter().try_for_each(|f| check_type(m, &f.ty)),
        T::Tuple(t) => t.iter().try_for_each(|t| check_type(m, t)),
        T::Variant(c) => c
            .iter()
            .flat_map(|c| c.ty.as_ref())
            .try_for_each(|t| check_type(m, t)),
        T::Result { ok, err } => ok
            .iter()
            .chain(err.iter())
            .try_for_each(|t| check_type(m, t)),
        _ => Ok(()),
    }
}

fn check_func_type(m: &ComponentMetadata, ty: &super::ComponentFuncType) -> Result<(), String> {
    ty.params.iter().try_for_each(|(_, t)| check_type(m, t))?;
    ty.result.iter().try_for_each(|t| check_type(m, t))
}

fn check_def(m: &ComponentMetadata, c: &Counts, def: &CoreDef) -> Result<(), String> {
    match def {
        CoreDef::Export(e) => in_range("core instance", e.instance, c.instances),
        CoreDef::Lowered(i) => in_range("lowered function", *i, c.lowered),
        CoreDef::Intrinsic {
            resource, instance, ..
        } => {
            in_range("resource", *resource, m.resources.len() as u32)?;
            in_range("component instance", *instance, m.num_component_instances)
        }
        CoreDef::Builtin {
            instance, builtin, ..
        } => {
            in_range("component instance", *instance, m.num_component_instances)?;
            check_builtin(m, c, builtin)
        }
    }
}

/// The memories and options a canonical built-in names are defined.
fn check_builtin(m: &ComponentMetadata, c: &Counts, b: &CanonBuiltin) -> Result<(), String> {
    match b {
        CanonBuiltin::WaitableSetWait { memory, .. }
        | CanonBuiltin::WaitableSetPoll { memory, .. } => in_range("memory", *memory, c.memories),
        CanonBuiltin::Copy { options, .. }
        | CanonBuiltin::ErrorContextNew(options)
        | CanonBuiltin::ErrorContextDebugMessage(options) => check_options(m, c, options),
        CanonBuiltin::ThreadNewIndirect { table } => check_def(m, c, table),
        _ => Ok(()),
    }
}

fn check_options(m: &ComponentMetadata, c: &Counts, o: &CanonicalOptions) -> Result<(), String> {
    in_range("component instance", o.instance, m.num_component_instances)?;
    if let Some(i) = o.memory {
        in_range("memory", i, c.memories)?;
    }
    if let Some(i) = o.realloc {
        in_range("realloc", i, c.reallocs)?;
    }
    if let Some(i) = o.post_return {
        in_range("post-return", i, c.post_returns)?;
    }
    Ok(())
}

fn check_source(m: &ComponentMetadata, lifted: u32, f: &FuncSource) -> Result<(), String> {
    match f {
        FuncSource::Import { import, .. } => in_range("import", *import, m.imports.len() as u32),
        FuncSource::Lifted(i) => in_range("lifted function", *i, lifted),
        FuncSource::TaskReturn => Ok(()),
    }
}

fn check_exports(m: &ComponentMetadata, exports: &[ComponentExport]) -> Result<(), String> {
    for e in exports {
        match &e.item {
            ExportItem::Func { func, ty } => {
                check_source(m, m.num_lifted, func)?;
                check_func_type(m, ty)?;
            }
            ExportItem::Instance(items) => check_exports(m, items)?,
            ExportItem::Resource(r) => in_range("resource", *r, m.resources.len() as u32)?,
            ExportItem::Type(t) => check_type(m, t)?,
            ExportItem::Module(ModuleRef::Static(i)) => {
                in_range("core module", *i, m.modules.len() as u32)?
            }
            ExportItem::Module(ModuleRef::Import(i)) => module_import(m, *i).map(drop)?,
        }
    }
    Ok(())
}

/// See [`ComponentMetadata::check`].
pub(crate) fn check_plan(m: &ComponentMetadata) -> Result<(), String> {
    let mut c = Counts {
        instances: 0,
        lowered: 0,
        lifted: 0,
        memories: 0,
        reallocs: 0,
        post_returns: 0,
    };
    let next = |what: &str, index: u32, counter: &mut u32, max: u32| -> Result<(), String> {
        if index != *counter || index >= max {
            return Err(format!(
                "component plan defines {what} {index} out of order (expected {}, at most {max})",
                *counter
            ));
        }
        *counter += 1;
        Ok(())
    };
    if m.instance_parents.len() != m.num_component_instances as usize {
        return Err(format!(
            "component plan has {} instance parents for {} component instances",
            m.instance_parents.len(),
            m.num_component_instances
        ));
    }
    for (i, p) in m.instance_parents.iter().enumerate() {
        let ok = match p {
            None => i == 0,
            Some(p) => i > 0 && (*p as usize) < i,
        };
        if !ok {
            return Err(format!(
                "component plan gives instance {i} the parent {p:?} (the root has none; every \
                 other instance's parent comes before it)"
            ));
        }
    }
    for r in &m.resources {
        match &r.kind {
            ResourceKind::Imported { import, .. } => {
                in_range("import", *import, m.imports.len() as u32)?
            }
            ResourceKind::Defined { instance } => {
                in_range("component instance", *instance, m.num_component_instances)?
            }
        }
    }
    for init in &m.initializers {
        match init {
            Initializer::InstantiateModule { module, imports } => {
                in_range("core module", *module, m.modules.len() as u32)?;
                let expected = m.modules[*module as usize].imports.len();
                if imports.len() != expected {
                    return Err(format!(
                        "component plan instantiates core module {module} with {} imports, \
                         it has {expected}",
                        imports.len()
                    ));
                }
                for d in imports {
                    check_def(m, &c, d)?;
                }
                if c.instances >= m.num_runtime_instances {
                    return Err("component plan creates more core instances than declared".into());
                }
                c.instances += 1;
            }
            Initializer::InstantiateImportedModule { import, imports } => {
                let ty = module_import(m, *import)?;
                let declared = ty.imports.iter().map(|(a, b, _)| (a, b));
                if !imports.iter().map(|(a, b, _)| (a, b)).eq(declared) {
                    return Err(format!(
                        "component plan instantiates imported core module {import} with other \
                         imports than its type declares"
                    ));
                }
                for (_, _, d) in imports {
                    check_def(m, &c, d)?;
                }
                if c.instances >= m.num_runtime_instances {
                    return Err("component plan creates more core instances than declared".into());
                }
                c.instances += 1;
            }
            Initializer::Lower {
                index,
                callee,
                ty,
                options,
            } => {
                check_source(m, c.lifted, callee)?;
                check_func_type(m, ty)?;
                check_options(m, &c, options)?;
                next("lowered function", *index, &mut c.lowered, m.num_lowered)?;
            }
            Initializer::Lift {
                index,
                callee,
                ty,
                options,
                callback,
            } => {
                check_def(m, &c, callee)?;
                if let Some(cb) = callback {
                    check_def(m, &c, cb)?;
                }
                check_func_type(m, ty)?;
                check_options(m, &c, options)?;
                next("lifted function", *index, &mut c.lifted, m.num_lifted)?;
            }
            Initializer::ExtractMemory { index, export } => {
                in_range("core instance", export.instance, c.instances)?;
                next("memory", *index, &mut c.memories, m.num_memories)?;
            }
            Initializer::ExtractRealloc { index, def } => {
                check_def(m, &c, def)?;
                next("realloc", *index, &mut c.reallocs, m.num_reallocs)?;
            }
            Initializer::ExtractPostReturn { index, def } => {
                check_def(m, &c, def)?;
                next(
                    "post-return",
                    *index,
                    &mut c.post_returns,
                    m.num_post_returns,
                )?;
            }
            Initializer::DefineResource { resource, dtor } => {
                in_range("resource", *resource, m.resources.len() as u32)?;
                if !matches!(
                    m.resources[*resource as usize].kind,
                    ResourceKind::Defined { .. }
                ) {
                    return Err(format!(
                        "component plan defines imported resource {resource}"
                    ));
                }
                if let Some(d) = dtor {
                    check_def(m, &c, d)?;
                }
            }
        }
    }
    let counts = [
        ("core instances", c.instances, m.num_runtime_instances),
        ("lowered functions", c.lowered, m.num_lowered),
        ("lifted functions", c.lifted, m.num_lifted),
        ("memories", c.memories, m.num_memories),
        ("reallocs", c.reallocs, m.num_reallocs),
        ("post-returns", c.post_returns, m.num_post_returns),
    ];
    for (what, defined, declared) in counts {
        if defined != declared {
            return Err(format!(
                "component plan declares {declared} {what} but defines {defined}"
            ));
        }
    }
    for i in &m.imports {
        check_item_type(m, &i.ty)?;
    }
    check_exports(m, &m.exports)
}

fn check_item_type(m: &ComponentMetadata, ty: &ItemType) -> Result<(), String> {
    match ty {
        ItemType::Func(f) => check_func_type(m, f),
        ItemType::Instance(items) => items.iter().try_for_each(|(_, t)| check_item_type(m, t)),
        ItemType::Resource(r) => in_range("resource", *r, m.resources.len() as u32),
        ItemType::Type(t) => check_type(m, t),
        ItemType::Module(_) => Ok(()),
    }
}

/// The type of root import `import`, which must be a core module.
fn module_import(m: &ComponentMetadata, import: ImportIndex) -> Result<&CoreModuleType, String> {
    match m.imports.get(import as usize).map(|i| &i.ty) {
        Some(ItemType::Module(t)) => Ok(t),
        _ => Err(format!(
            "component plan uses import {import} as a core module, which it is not"
        )),
    }
}

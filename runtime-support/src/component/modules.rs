//! Core modules as component imports and exports: checking that a module the host provides for
//! a core module import has the type the component declares (Component Model subtyping: every
//! export the type lists, with a type that matches; no import the type does not list, since
//! the component provides exactly those), and exporting the modules a component compiled in.

use super::instance::ComponentInstance;
use crate::error::Error;
use crate::module::Module;
use kiln_environ::component::{CoreItemType, CoreModuleType, ExportItem, ModuleRef};
use kiln_environ::{ExportKind, ImportKind, ModuleMetadata};

/// The type of `module`'s import `i`.
fn import_type(md: &ModuleMetadata, kind: &ImportKind) -> Option<CoreItemType> {
    Some(match kind {
        ImportKind::Func(t) => CoreItemType::Func(md.types.get(*t as usize)?.clone()),
        ImportKind::Table(t) => CoreItemType::Table(t.clone()),
        ImportKind::Memory(m) => CoreItemType::Memory(m.clone()),
        ImportKind::Global(g) => CoreItemType::Global(g.clone()),
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// The type of the item `module` exports as `kind` `index`.
fn export_type(md: &ModuleMetadata, kind: ExportKind, index: u32) -> Option<CoreItemType> {
    let i = index as usize;
    Some(match kind {
        ExportKind::Func => {
            let f = md.functions.get(i)?;
            CoreItemType::Func(md.types.get(f.type_index as usize)?.clone())
        }
        ExportKind::Table => CoreItemType::Table(md.tables.get(i)?.clone()),
        ExportKind::Memory => CoreItemType::Memory(md.memories.get(i)?.clone()),
        ExportKind::Global => CoreItemType::Global(md.globals.get(i)?.clone()),
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// Whether an item of type `have` can stand where `want` is expected (core subtyping: equal
/// function and global types; limits within the expected ones).
fn subtype(have: &CoreItemType, want: &CoreItemType) -> bool {
    let limits = |min: u64, max: Option<u64>, wmin: u64, wmax: Option<u64>| {
        min >= wmin
            && match (max, wmax) {
                (_, None) => true,
                (Some(m), Some(w)) => m <= w,
                (None, Some(_)) => false,
            }
    };
    match (have, want) {
        (CoreItemType::Func(a), CoreItemType::Func(b)) => a == b,
        (CoreItemType::Tag(a), CoreItemType::Tag(b)) => a == b,
        (CoreItemType::Global(a), CoreItemType::Global(b)) => a == b,
        (CoreItemType::Table(a), CoreItemType::Table(b)) => {
            a.element == b.element && limits(a.min, a.max, b.min, b.max)
        }
        (CoreItemType::Memory(a), CoreItemType::Memory(b)) => {
            a.memory64 == b.memory64
                && a.shared == b.shared
                && a.page_size_log2 == b.page_size_log2
                && limits(a.min, a.max, b.min, b.max)
        }
        _ => false,
    }
}

/// Checks that `module` (provided for import `name`) has type `ty`.
pub(super) fn check_module_type(
    name: &str,
    module: &Module,
    ty: &CoreModuleType,
) -> Result<(), Error> {
    let md = &module.inner.metadata;
    let link = |m: String| Err(Error::Link(format!("core module import `{name}`: {m}")));
    for (export, want) in &ty.exports {
        let Some(e) = md.exports.iter().find(|e| e.name == *export) else {
            return link(format!("module export `{export}` not defined"));
        };
        match export_type(md, e.kind, e.index) {
            Some(have) if subtype(&have, want) => {}
            _ => return link(format!("module export `{export}` has the wrong type")),
        }
    }
    for import in &md.imports {
        let declared = ty
            .imports
            .iter()
            .find(|(m, n, _)| *m == import.module && *n == import.name);
        let Some((_, _, given)) = declared else {
            return link(format!(
                "module import `{}::{}` not defined",
                import.module, import.name
            ));
        };
        // What the component provides (`given`) must satisfy what the module needs.
        match import_type(md, &import.kind) {
            Some(need) if subtype(given, &need) => {}
            _ => {
                return link(format!(
                    "module import `{}::{}` has the wrong type",
                    import.module, import.name
                ))
            }
        }
    }
    Ok(())
}

impl ComponentInstance {
    /// The core module exported at `path` (`["m"]`, or inside exported instances): compiled
    /// into the component's `.so`, or the module the host provided for an import.
    pub fn get_module(&self, path: &[&str]) -> Option<Module> {
        match self.get_export(path)? {
            ExportItem::Module(ModuleRef::Static(i)) => {
                self.component().core_modules().get(*i as usize).cloned()
            }
            ExportItem::Module(ModuleRef::Import(i)) => self.imported_module(*i),
            _ => None,
        }
    }
}

//! Link-time checks of a component's imports against what the linker defines: every import a
//! definition satisfies must have the definition's type (CanonicalABI.md's type matching: for
//! component value types that is structural equality, field and case names included, and the
//! same resource types), and resource types that the component says are equal (`(eq ...)`)
//! must be defined as the same.
//!
//! Resource types are generative: each `(type (resource ...))` a component instance defines is
//! a new type, and a host makes new ones with [`ResourceType::host`]. A linker names the
//! resource type each import stands for ([`ComponentLinker::resource`]); an import the linker
//! leaves undefined is a host resource of its own.
//!
//! A host function declares its type with [`HostFuncType`]: a component function type whose
//! resources are named by the import path that defines them (`wasi:io/streams@0.2.0#input-stream`),
//! compared with the component's by the path under which the component imports them (any
//! compatible version).

use super::linker::{import_path, normalize, ComponentLinker};
use crate::error::Error;
use kiln_environ::component::{
    ComponentFuncType, ComponentMetadata, ImportIndex, InterfaceType, ItemType, ResourceIndex,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The identity of a resource type at run time.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceType(u64);

static NEXT_RESOURCE_TYPE: AtomicU64 = AtomicU64::new(1);

impl ResourceType {
    /// A new resource type, distinct from every other (for a resource the host implements).
    pub fn host() -> ResourceType {
        ResourceType(NEXT_RESOURCE_TYPE.fetch_add(1, Ordering::Relaxed))
    }
}

/// The component type of a host function: `ty`'s `own`/`borrow` resource indices index
/// `resources`, the import paths of the resource types (`ns:pkg/iface@x.y.z#name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFuncType {
    /// The function type.
    pub ty: ComponentFuncType,
    /// The import path of each resource type `ty` refers to, by index.
    pub resources: Vec<String>,
}

/// Every path (import name, then names inside imported instances) under which the component
/// imports each resource type, normalised for version compatibility.
pub(super) fn resource_paths(meta: &ComponentMetadata) -> HashMap<String, ResourceIndex> {
    fn walk(
        meta: &ComponentMetadata,
        import: ImportIndex,
        path: &mut Vec<String>,
        ty: &ItemType,
        out: &mut HashMap<String, ResourceIndex>,
    ) {
        match ty {
            ItemType::Resource(r) => {
                out.entry(normalize(&import_path(meta, import, path)))
                    .or_insert(*r);
            }
            ItemType::Instance(items) => {
                for (name, item) in items {
                    path.push(name.clone());
                    walk(meta, import, path, item, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = HashMap::new();
    for (i, import) in meta.imports.iter().enumerate() {
        walk(
            meta,
            i as ImportIndex,
            &mut Vec::new(),
            &import.ty,
            &mut out,
        );
    }
    out
}

/// Whether value type `c` (the component's) is `h` (a host definition's, resources by path).
fn same_type(
    c: &InterfaceType,
    h: &InterfaceType,
    paths: &HashMap<String, ResourceIndex>,
    host_res: &[String],
) -> bool {
    use InterfaceType as T;
    let same = |a: &T, b: &T| same_type(a, b, paths, host_res);
    let same_opt = |a: &Option<Box<T>>, b: &Option<Box<T>>| match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same(a, b),
        _ => false,
    };
    let resource = |r: &ResourceIndex, hr: &ResourceIndex| {
        host_res
            .get(*hr as usize)
            .and_then(|p| paths.get(&normalize(p)))
            == Some(r)
    };
    match (c, h) {
        (T::List(a), T::List(b)) | (T::Option(a), T::Option(b)) => same(a, b),
        (T::FixedList(a, n), T::FixedList(b, m)) => n == m && same(a, b),
        (T::Map(ak, av), T::Map(bk, bv)) => same(ak, bk) && same(av, bv),
        (T::Tuple(a), T::Tuple(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (T::Record(a), T::Record(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(a, b)| a.name == b.name && same(&a.ty, &b.ty))
        }
        (T::Variant(a), T::Variant(b)) => {
            a.len() == b.len()
                && a.iter().zip(b).all(|(a, b)| {
                    a.name == b.name
                        && match (&a.ty, &b.ty) {
                            (None, None) => true,
                            (Some(x), Some(y)) => same(x, y),
                            _ => false,
                        }
                })
        }
        (T::Result { ok: a, err: e }, T::Result { ok: b, err: f }) => {
            same_opt(a, b) && same_opt(e, f)
        }
        (T::Stream(a), T::Stream(b)) | (T::Future(a), T::Future(b)) => same_opt(a, b),
        (T::Own(r), T::Own(hr)) | (T::Borrow(r), T::Borrow(hr)) => resource(r, hr),
        (a, b) => a == b,
    }
}

/// Checks the component's function import `name` of type `want` against the host's declared
/// type `have`.
pub(super) fn check_func(
    name: &str,
    want: &ComponentFuncType,
    have: &HostFuncType,
    paths: &HashMap<String, ResourceIndex>,
) -> Result<(), Error> {
    let h = &have.ty;
    let ok = want.is_async == h.is_async
        && want.params.len() == h.params.len()
        && want
            .params
            .iter()
            .zip(&h.params)
            .all(|((_, a), (_, b))| same_type(a, b, paths, &have.resources))
        && match (&want.result, &h.result) {
            (None, None) => true,
            (Some(a), Some(b)) => same_type(a, b, paths, &have.resources),
            _ => false,
        };
    if ok {
        return Ok(());
    }
    Err(Error::Link(format!(
        "component import `{name}` has the wrong type: the component expects `{want}`, the host \
         defines `{}`",
        show_host(have)
    )))
}

/// A host type for messages, resources by path.
fn show_host(h: &HostFuncType) -> String {
    let mut s = h.ty.to_string();
    for (i, p) in h.resources.iter().enumerate() {
        s = s.replace(&format!("resource-{i}>"), &format!("{p}>"));
    }
    s
}

/// The resource type each imported resource of the component stands for: what the linker
/// defines for it (the same for every path the component declares equal), or a new host
/// resource type. `Err` names the first conflict. Only the resource types `linker` defines
/// are in the map (see [`instance_resource_identities`]).
pub(super) fn resource_identities(
    linker: &ComponentLinker,
    paths: &HashMap<String, ResourceIndex>,
) -> Result<HashMap<ResourceIndex, ResourceType>, Error> {
    let mut ids: HashMap<ResourceIndex, (ResourceType, String)> = HashMap::new();
    let mut sorted: Vec<_> = paths.iter().collect();
    sorted.sort();
    for (path, r) in sorted {
        let Some(t) = linker.resource_definition(path) else {
            continue;
        };
        match ids.get(r) {
            Some((other, at)) if *other != t => {
                return Err(Error::Link(format!(
                    "mismatched resource types: the component declares `{path}` and `{at}` the \
                     same resource type, the linker defines them as different ones"
                )))
            }
            Some(_) => {}
            None => {
                ids.insert(*r, (t, path.clone()));
            }
        }
    }
    Ok(ids.into_iter().map(|(i, (t, _))| (i, t)).collect())
}

/// Every resource type's identity for a new instance: the linker's (`defined`, from
/// [`resource_identities`]) or a new one.
pub(super) fn instance_resource_identities(
    meta: &ComponentMetadata,
    defined: &HashMap<ResourceIndex, ResourceType>,
) -> HashMap<ResourceIndex, ResourceType> {
    (0..meta.resources.len() as ResourceIndex)
        .map(|i| {
            (
                i,
                defined.get(&i).copied().unwrap_or_else(ResourceType::host),
            )
        })
        .collect()
}

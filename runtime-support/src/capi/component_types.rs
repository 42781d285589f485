//! Component type introspection for C hosts: a component's exported functions by name, and
//! each function's parameter and result types as a tree of `kiln_ctype_t` nodes (the same
//! kinds as `kiln_cval_t` values), so a host can build arguments without parsing WIT.

use super::component::{kiln_component_func_t, kiln_component_t};
use super::component_val::{kiln_cval_kind_t, kind_of};
use super::*;
use kiln_environ::component::{ComponentExport, ExportItem, InterfaceType as T};

/// `kiln_ctype_t`: one node of a component value type.
pub struct kiln_ctype_t {
    kind: kiln_cval_kind_t,
    /// Field, case, enum or flag names (empty for other kinds).
    names: Vec<CString>,
    /// Field types, case payloads, tuple members, the element (list, option), ok/err (result).
    children: Vec<Option<Box<kiln_ctype_t>>>,
    /// The resource index of `own`/`borrow`, or the fixed length of a fixed-length list.
    index: u32,
}

impl kiln_ctype_t {
    /// The tree of `ty`.
    pub(super) fn of(ty: &T) -> kiln_ctype_t {
        let node = |t: &T| Some(Box::new(kiln_ctype_t::of(t)));
        let mut n = kiln_ctype_t {
            kind: kind_of(ty),
            names: Vec::new(),
            children: Vec::new(),
            index: 0,
        };
        match ty {
            T::List(e) | T::Option(e) => n.children.push(node(e)),
            T::FixedList(e, len) => {
                n.children.push(node(e));
                n.index = *len;
            }
            T::Map(k, v) => n
                .children
                .push(node(&T::Tuple(vec![(**k).clone(), (**v).clone()]))),
            T::Record(fields) => {
                for f in fields {
                    n.names.push(c_string(&f.name));
                    n.children.push(node(&f.ty));
                }
            }
            T::Tuple(members) => n.children.extend(members.iter().map(node)),
            T::Variant(cases) => {
                for c in cases {
                    n.names.push(c_string(&c.name));
                    n.children.push(c.ty.as_ref().and_then(node));
                }
            }
            T::Enum(labels) | T::Flags(labels) => {
                n.names.extend(labels.iter().map(|l| c_string(l)));
            }
            T::Result { ok, err } => {
                n.children.push(ok.as_deref().and_then(node));
                n.children.push(err.as_deref().and_then(node));
            }
            T::Own(r) | T::Borrow(r) => n.index = *r,
            _ => {}
        }
        n
    }
}

/// The type information of a function handle: parameter names and types, result type.
pub(super) struct FuncTypes {
    params: Vec<(CString, kiln_ctype_t)>,
    result: Option<kiln_ctype_t>,
}

impl FuncTypes {
    /// The trees of `ty`.
    pub(super) fn of(ty: &kiln_environ::component::ComponentFuncType) -> FuncTypes {
        FuncTypes {
            params: ty
                .params
                .iter()
                .map(|(n, t)| (c_string(n), kiln_ctype_t::of(t)))
                .collect(),
            result: ty.result.as_ref().map(kiln_ctype_t::of),
        }
    }
}

/// The exported functions of `exports` as `get_func` names (`f`, `iface#f`), in order.
pub(super) fn export_func_names(exports: &[ComponentExport], prefix: &str, out: &mut Vec<CString>) {
    for e in exports {
        match &e.item {
            ExportItem::Func { .. } => out.push(c_string(&format!("{prefix}{}", e.name))),
            ExportItem::Instance(inner) => {
                export_func_names(inner, &format!("{prefix}{}#", e.name), out)
            }
            _ => {}
        }
    }
}

/// `t` as a reference, or `None` for NULL.
///
/// # Safety
/// `t` is NULL or a node from this API, alive.
unsafe fn node<'a>(t: *const kiln_ctype_t) -> Option<&'a kiln_ctype_t> {
    // SAFETY: caller contract.
    unsafe { t.as_ref() }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_ctype_kind(t: *const kiln_ctype_t) -> kiln_cval_kind_t {
    // SAFETY: caller contract.
    unsafe { node(t) }.map_or(u8::MAX, |t| t.kind)
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_ctype_count(t: *const kiln_ctype_t) -> usize {
    // SAFETY: caller contract.
    unsafe { node(t) }.map_or(0, |t| t.children.len().max(t.names.len()))
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_ctype_name(t: *const kiln_ctype_t, i: usize) -> *const c_char {
    // SAFETY: caller contract.
    unsafe { node(t) }
        .and_then(|t| t.names.get(i))
        .map_or(std::ptr::null(), |n| n.as_ptr())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_ctype_child(t: *const kiln_ctype_t, i: usize) -> *const kiln_ctype_t {
    // SAFETY: caller contract.
    unsafe { node(t) }
        .and_then(|t| t.children.get(i))
        .and_then(|c| c.as_deref())
        .map_or(std::ptr::null(), |c| c as *const kiln_ctype_t)
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_ctype_index(t: *const kiln_ctype_t) -> u32 {
    // SAFETY: caller contract.
    unsafe { node(t) }.map_or(0, |t| t.index)
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_func_param_name(
    func: *const kiln_component_func_t,
    i: usize,
) -> *const c_char {
    // SAFETY: caller contract.
    unsafe { func.as_ref() }
        .and_then(|f| f.types().params.get(i))
        .map_or(std::ptr::null(), |(n, _)| n.as_ptr())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_func_param_type(
    func: *const kiln_component_func_t,
    i: usize,
) -> *const kiln_ctype_t {
    // SAFETY: caller contract.
    unsafe { func.as_ref() }
        .and_then(|f| f.types().params.get(i))
        .map_or(std::ptr::null(), |(_, t)| t as *const kiln_ctype_t)
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_func_result_type(
    func: *const kiln_component_func_t,
) -> *const kiln_ctype_t {
    // SAFETY: caller contract.
    unsafe { func.as_ref() }
        .and_then(|f| f.types().result.as_ref())
        .map_or(std::ptr::null(), |t| t as *const kiln_ctype_t)
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_export_count(component: *const kiln_component_t) -> usize {
    // SAFETY: caller contract.
    unsafe { component.as_ref() }.map_or(0, |c| c.export_names().len())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_component_export_name(
    component: *const kiln_component_t,
    i: usize,
) -> *const c_char {
    // SAFETY: caller contract.
    unsafe { component.as_ref() }
        .and_then(|c| c.export_names().get(i))
        .map_or(std::ptr::null(), |n| n.as_ptr())
}

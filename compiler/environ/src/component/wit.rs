//! Printing a component's imports and exports as a WIT-like world (what `kiln inspect` shows
//! for a component), with resource types by name.

use super::plan::{ComponentExport, ComponentMetadata, ExportItem, ItemType};
use super::types::{ComponentFuncType, InterfaceType};
use std::fmt::Write as _;

/// `ty` in WIT syntax, resources by name.
pub fn type_to_wit(ty: &InterfaceType, meta: &ComponentMetadata) -> String {
    use InterfaceType as T;
    let join = |items: Vec<String>| items.join(", ");
    match ty {
        T::List(t) => format!("list<{}>", type_to_wit(t, meta)),
        T::FixedList(t, n) => format!("list<{}, {n}>", type_to_wit(t, meta)),
        T::Map(k, v) => format!("map<{}, {}>", type_to_wit(k, meta), type_to_wit(v, meta)),
        T::Stream(Some(t)) => format!("stream<{}>", type_to_wit(t, meta)),
        T::Future(Some(t)) => format!("future<{}>", type_to_wit(t, meta)),
        T::Option(t) => format!("option<{}>", type_to_wit(t, meta)),
        T::Tuple(ts) => format!(
            "tuple<{}>",
            join(ts.iter().map(|t| type_to_wit(t, meta)).collect())
        ),
        T::Record(fields) => format!(
            "record {{ {} }}",
            join(
                fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name, type_to_wit(&f.ty, meta)))
                    .collect()
            )
        ),
        T::Variant(cases) => format!(
            "variant {{ {} }}",
            join(
                cases
                    .iter()
                    .map(|c| match &c.ty {
                        Some(t) => format!("{}({})", c.name, type_to_wit(t, meta)),
                        None => c.name.clone(),
                    })
                    .collect()
            )
        ),
        T::Result { ok, err } => {
            let s = |t: &Option<Box<InterfaceType>>| t.as_ref().map(|t| type_to_wit(t, meta));
            match (s(ok), s(err)) {
                (None, None) => "result".into(),
                (Some(o), None) => format!("result<{o}>"),
                (None, Some(e)) => format!("result<_, {e}>"),
                (Some(o), Some(e)) => format!("result<{o}, {e}>"),
            }
        }
        T::Own(r) => format!("own<{}>", meta.resource_name(*r)),
        T::Borrow(r) => format!("borrow<{}>", meta.resource_name(*r)),
        other => other.to_string(),
    }
}

/// `func(a: T) -> R` in WIT syntax, resources by name.
pub fn func_to_wit(ty: &ComponentFuncType, meta: &ComponentMetadata) -> String {
    let params: Vec<String> = ty
        .params
        .iter()
        .map(|(n, t)| format!("{n}: {}", type_to_wit(t, meta)))
        .collect();
    let asyncness = if ty.is_async { "async " } else { "" };
    let mut s = format!("{asyncness}func({})", params.join(", "));
    if let Some(r) = &ty.result {
        let _ = write!(s, " -> {}", type_to_wit(r, meta));
    }
    s
}

fn item_type(out: &mut String, indent: usize, name: &str, ty: &ItemType, m: &ComponentMetadata) {
    let pad = "  ".repeat(indent);
    match ty {
        ItemType::Func(f) => {
            let _ = writeln!(out, "{name}: {};", func_to_wit(f, m));
        }
        ItemType::Resource(_) => {
            let _ = writeln!(out, "resource {name};");
        }
        ItemType::Type(t) => {
            let _ = writeln!(out, "type {name} = {};", type_to_wit(t, m));
        }
        ItemType::Module(t) => {
            let _ = writeln!(
                out,
                "{name}: core module; // {} imports, {} exports",
                t.imports.len(),
                t.exports.len()
            );
        }
        ItemType::Instance(items) => {
            let _ = writeln!(out, "{name}: interface {{");
            for (n, t) in items {
                let _ = write!(out, "{pad}  ");
                item_type(out, indent + 1, n, t, m);
            }
            let _ = writeln!(out, "{pad}}}");
        }
    }
}

fn export_item(out: &mut String, indent: usize, e: &ComponentExport, m: &ComponentMetadata) {
    let pad = "  ".repeat(indent);
    let name = &e.name;
    match &e.item {
        ExportItem::Func { ty, .. } => {
            let _ = writeln!(out, "{name}: {};", func_to_wit(ty, m));
        }
        ExportItem::Resource(_) => {
            let _ = writeln!(out, "resource {name};");
        }
        ExportItem::Type(t) => {
            let _ = writeln!(out, "type {name} = {};", type_to_wit(t, m));
        }
        ExportItem::Module(_) => {
            let _ = writeln!(out, "{name}: core module;");
        }
        ExportItem::Instance(items) => {
            let _ = writeln!(out, "{name}: interface {{");
            for i in items {
                let _ = write!(out, "{pad}  ");
                export_item(out, indent + 1, i, m);
            }
            let _ = writeln!(out, "{pad}}}");
        }
    }
}

/// The component's imports and exports as a WIT-like `world`.
pub fn world_to_wit(m: &ComponentMetadata) -> String {
    let mut out = String::from("world component {\n");
    for i in &m.imports {
        out.push_str("  import ");
        item_type(&mut out, 1, &i.name, &i.ty, m);
    }
    for e in &m.exports {
        out.push_str("  export ");
        export_item(&mut out, 1, e, m);
    }
    out.push_str("}\n");
    out
}

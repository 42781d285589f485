//! `kiln bindgen c`: C types for component value types, laid out exactly as the host C
//! representation (`kiln_environ::component::host`), each followed by static assertions of its
//! size, alignment and field offsets so that a mismatch fails at C compile time.
//!
//! Types are structural in the plan (WIT names are resolved away), so every distinct type gets
//! one C type: named after the WIT type when the component exports or imports it by name, by
//! structure for `list`/`option`/`result`/`tuple` (`list_string`), and after its first use
//! otherwise (`greet_person` for a record parameter `person` of `greet`).

use anyhow::{bail, Result};
use kiln_environ::component::host::{
    host_field_offsets, host_layout, host_payload_offset, HOST_SLICE_LEN,
};
use kiln_environ::component::{ComponentMetadata, InterfaceType as T};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// Deepest type nesting accepted (a corrupt plan must not overflow the stack).
const MAX_DEPTH: usize = 100;

const C_KEYWORDS: &[&str] = &[
    "auto",
    "break",
    "case",
    "char",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extern",
    "float",
    "for",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "register",
    "restrict",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "typedef",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
    "bool",
    "true",
    "false",
    "class",
    "new",
    "delete",
    "template",
    "this",
    "operator",
    "private",
    "public",
    "protected",
    "namespace",
    "errno",
];

/// A C identifier for a WIT name (`my-field` → `my_field`, keywords get a trailing `_`).
pub fn ident(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let s = s.trim_matches('_').to_string();
    let s = if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("x{s}")
    } else {
        s
    };
    if C_KEYWORDS.contains(&s.as_str()) {
        format!("{s}_")
    } else {
        s
    }
}

/// The C type generator: definitions in dependency order, and their static assertions.
pub struct CTypes<'m> {
    meta: &'m ComponentMetadata,
    /// Lower-case prefix of every generated name.
    pub prefix: String,
    wit_names: HashMap<T, String>,
    bases: HashMap<T, String>,
    used: HashSet<String>,
    /// The type definitions.
    pub defs: String,
}

impl<'m> CTypes<'m> {
    /// A generator for `meta`'s types, names starting with `prefix`.
    pub fn new(meta: &'m ComponentMetadata, prefix: &str) -> CTypes<'m> {
        let mut wit_names = HashMap::new();
        collect_names(meta, &mut wit_names);
        CTypes {
            meta,
            prefix: prefix.to_string(),
            wit_names,
            bases: HashMap::new(),
            used: HashSet::new(),
            defs: String::new(),
        }
    }

    /// The upper-case prefix (for constants and macros).
    pub fn upper(&self) -> String {
        self.prefix.to_ascii_uppercase()
    }

    /// A fresh base name (unique among generated names).
    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = ident(base);
        let mut n = 2;
        while !self.used.insert(name.clone()) {
            name = format!("{}_{n}", ident(base));
            n += 1;
        }
        name
    }

    /// The C type of `ty`, defining it (and what it uses) first if needed; `hint` names it
    /// after its use when it has no better name.
    pub fn c_type(&mut self, ty: &T, hint: &str) -> Result<String> {
        self.c_type_at(ty, hint, 0)
    }

    fn c_type_at(&mut self, ty: &T, hint: &str, depth: usize) -> Result<String> {
        Ok(match primitive(ty) {
            Some(p) => p.to_string(),
            None => {
                let base = self.base(ty, hint, depth)?;
                format!("{}_{base}_t", self.prefix)
            }
        })
    }

    /// The short name of `ty` inside structural names (`u32`, `string`, a generated base).
    fn short(&mut self, ty: &T, hint: &str, depth: usize) -> Result<String> {
        Ok(match ty {
            T::String => "string".into(),
            _ if primitive(ty).is_some() => ty.to_string(),
            _ => self.base(ty, hint, depth)?,
        })
    }

    /// The base name of a generated type, defining it on first use.
    fn base(&mut self, ty: &T, hint: &str, depth: usize) -> Result<String> {
        if depth > MAX_DEPTH {
            bail!("component type nested more than {MAX_DEPTH} levels deep");
        }
        if let Some(b) = self.bases.get(ty) {
            return Ok(b.clone());
        }
        let d = depth + 1;
        let wanted = match (self.wit_names.get(ty), ty) {
            (Some(n), _) => n.clone(),
            (None, T::List(e)) => format!("list_{}", self.short(e, &format!("{hint}_elem"), d)?),
            (None, T::FixedList(e, n)) => {
                format!("array{n}_{}", self.short(e, &format!("{hint}_elem"), d)?)
            }
            (None, T::Map(k, v)) => format!(
                "map_{}_{}",
                self.short(k, &format!("{hint}_key"), d)?,
                self.short(v, &format!("{hint}_value"), d)?
            ),
            (None, T::Stream(_)) => "stream".to_string(),
            (None, T::Future(_)) => "future".to_string(),
            (None, T::ErrorContext) => "error_context".to_string(),
            (None, T::Option(e)) => format!("option_{}", self.short(e, hint, d)?),
            (None, T::Result { ok, err }) => {
                let mut side = |t: &Option<Box<T>>, h: &str| -> Result<String> {
                    match t {
                        Some(t) => self.short(t, h, d),
                        None => Ok("void".into()),
                    }
                };
                let o = side(ok, &format!("{hint}_ok"))?;
                let e = side(err, &format!("{hint}_err"))?;
                format!("result_{o}_{e}")
            }
            (None, T::Tuple(ts)) => {
                let mut parts = vec![format!("tuple{}", ts.len())];
                for (i, t) in ts.iter().enumerate() {
                    parts.push(self.short(t, &format!("{hint}_{i}"), d)?);
                }
                parts.join("_")
            }
            (None, T::Own(r)) => format!("own_{}", self.meta.resource_name(*r)),
            (None, T::Borrow(r)) => format!("borrow_{}", self.meta.resource_name(*r)),
            (None, _) => hint.to_string(),
        };
        // Children may have defined this very type meanwhile (structural names recurse).
        if let Some(b) = self.bases.get(ty) {
            return Ok(b.clone());
        }
        let base = self.fresh(&wanted);
        self.bases.insert(ty.clone(), base.clone());
        self.define(ty, &base, d)?;
        Ok(base)
    }

    /// Emits the definition of `ty` named `base` and its assertions.
    fn define(&mut self, ty: &T, base: &str, d: usize) -> Result<()> {
        let name = format!("{}_{base}_t", self.prefix);
        let up = format!("{}_{}", self.upper(), base.to_ascii_uppercase());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "/** `{}` */",
            kiln_environ::component::wit::type_to_wit(ty, self.meta).replace("*/", "* /")
        );
        let mut fields: Vec<String> = Vec::new();
        match ty {
            T::Record(fs) => {
                let mut members = Vec::new();
                for f in fs {
                    let t = self.c_type_at(&f.ty, &format!("{base}_{}", f.name), d)?;
                    members.push(format!("  {t} {};", ident(&f.name)));
                    fields.push(ident(&f.name));
                }
                let _ = writeln!(out, "typedef struct {{\n{}\n}} {name};", members.join("\n"));
            }
            T::Tuple(ts) => {
                let mut members = Vec::new();
                for (i, t) in ts.iter().enumerate() {
                    let t = self.c_type_at(t, &format!("{base}_{i}"), d)?;
                    members.push(format!("  {t} f{i};"));
                    fields.push(format!("f{i}"));
                }
                let _ = writeln!(out, "typedef struct {{\n{}\n}} {name};", members.join("\n"));
            }
            T::List(e) => {
                let t = self.c_type_at(e, &format!("{base}_elem"), d)?;
                let _ = writeln!(
                    out,
                    "typedef struct {{\n  const {t} *ptr; /**< the elements */\n  size_t len; /**< number of elements */\n}} {name};"
                );
            }
            T::Map(k, v) => {
                let entry = T::Tuple(vec![(**k).clone(), (**v).clone()]);
                let t = self.c_type_at(&entry, &format!("{base}_entry"), d)?;
                let _ = writeln!(
                    out,
                    "typedef struct {{\n  const {t} *ptr; /**< the entries (key f0, value f1), in order */\n  size_t len; /**< number of entries */\n}} {name};"
                );
            }
            T::FixedList(e, n) => {
                let t = self.c_type_at(e, &format!("{base}_elem"), d)?;
                let _ = writeln!(out, "typedef struct {{\n  {t} elems[{n}];\n}} {name};");
            }
            T::Stream(_) | T::Future(_) | T::ErrorContext => {
                let _ = writeln!(
                    out,
                    "typedef uint32_t {name}; /**< a handle (component-model async: not supported by kiln yet) */"
                );
            }
            T::Option(e) => {
                let t = self.c_type_at(e, &format!("{base}_value"), d)?;
                let _ = writeln!(
                    out,
                    "typedef struct {{\n  bool is_some;\n  {t} value; /**< valid when is_some */\n}} {name};"
                );
                fields.push("value".into());
            }
            T::Variant(_) | T::Result { .. } => {
                let cases: Vec<(String, Option<T>)> = match ty {
                    T::Variant(cs) => cs.iter().map(|c| (c.name.clone(), c.ty.clone())).collect(),
                    T::Result { ok, err } => vec![
                        ("ok".into(), ok.as_deref().cloned()),
                        ("err".into(), err.as_deref().cloned()),
                    ],
                    _ => unreachable!("matched above"),
                };
                let mut members = Vec::new();
                let mut consts = Vec::new();
                for (i, (cname, cty)) in cases.iter().enumerate() {
                    consts.push(format!(
                        "  {up}_{} = {i},",
                        ident(cname).to_ascii_uppercase()
                    ));
                    if let Some(cty) = cty {
                        let t = self.c_type_at(cty, &format!("{base}_{cname}"), d)?;
                        members.push(format!("    {t} {};", ident(cname)));
                    }
                }
                let _ = writeln!(out, "enum {{\n{}\n}};", consts.join("\n"));
                if members.is_empty() {
                    let _ = writeln!(out, "typedef struct {{\n  uint32_t tag;\n}} {name};");
                } else {
                    let _ = writeln!(
                        out,
                        "typedef struct {{\n  uint32_t tag;\n  union {{\n{}\n  }} payload;\n}} {name};",
                        members.join("\n")
                    );
                    fields.push("payload".into());
                }
            }
            T::Enum(labels) => {
                let consts: Vec<String> = labels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("  {up}_{} = {i},", ident(l).to_ascii_uppercase()))
                    .collect();
                let _ = writeln!(
                    out,
                    "typedef uint32_t {name};\nenum {{\n{}\n}};",
                    consts.join("\n")
                );
            }
            T::Flags(labels) => {
                let words = labels.len().div_ceil(32);
                if words <= 1 {
                    let _ = writeln!(out, "typedef uint32_t {name};");
                } else {
                    let _ = writeln!(
                        out,
                        "typedef struct {{\n  uint32_t words[{words}];\n}} {name};"
                    );
                }
                for (i, l) in labels.iter().enumerate() {
                    let l = ident(l).to_ascii_uppercase();
                    if words <= 1 {
                        let _ = writeln!(out, "#define {up}_{l} ((uint32_t)1 << {i})");
                    } else {
                        let _ = writeln!(
                            out,
                            "#define {up}_{l}_WORD {}\n#define {up}_{l} ((uint32_t)1 << {})",
                            i / 32,
                            i % 32
                        );
                    }
                }
            }
            T::Own(_) | T::Borrow(_) => {
                let _ = writeln!(out, "typedef uint32_t {name}; /**< a handle (kiln_component_instance_resource_*) */");
            }
            _ => bail!("internal error: no C definition for {ty}"),
        }
        out.push_str(&self.asserts(ty, &name, &fields));
        out.push('\n');
        self.defs.push_str(&out);
        Ok(())
    }

    /// Static assertions of `ty`'s host layout on C type `name` with its named fields.
    pub fn asserts(&self, ty: &T, name: &str, fields: &[String]) -> String {
        let up = self.upper();
        let l = host_layout(ty);
        let mut out = format!(
            "{up}_STATIC_ASSERT(sizeof({name}) == {}, \"size of {name}\");\n\
             {up}_STATIC_ASSERT({up}_ALIGNOF({name}) == {}, \"alignment of {name}\");\n",
            l.size, l.align
        );
        let offsets: Vec<u32> = match ty {
            T::Record(_) | T::Tuple(_) => host_field_offsets(ty),
            T::Option(_) | T::Variant(_) | T::Result { .. } => {
                host_payload_offset(ty).into_iter().collect()
            }
            _ => Vec::new(),
        };
        for (f, o) in fields.iter().zip(offsets) {
            let _ = writeln!(
                out,
                "{up}_STATIC_ASSERT(offsetof({name}, {f}) == {o}, \"offset of {name}.{f}\");"
            );
        }
        if matches!(ty, T::List(_) | T::Map(..)) {
            let _ = writeln!(
                out,
                "{up}_STATIC_ASSERT(offsetof({name}, len) == {HOST_SLICE_LEN}, \"offset of {name}.len\");"
            );
        }
        out
    }
}

/// The C type of a primitive (non-generated) type.
fn primitive(ty: &T) -> Option<&'static str> {
    Some(match ty {
        T::Bool => "bool",
        T::S8 => "int8_t",
        T::U8 => "uint8_t",
        T::S16 => "int16_t",
        T::U16 => "uint16_t",
        T::S32 => "int32_t",
        T::U32 => "uint32_t",
        T::S64 => "int64_t",
        T::U64 => "uint64_t",
        T::F32 => "float",
        T::F64 => "double",
        T::Char => "uint32_t",
        T::String => "kiln_string_t",
        _ => return None,
    })
}

/// WIT names of the types the component imports or exports by name (first name wins).
fn collect_names(meta: &ComponentMetadata, out: &mut HashMap<T, String>) {
    use kiln_environ::component::{ComponentExport, ExportItem, ItemType};
    fn items(list: &[(String, ItemType)], out: &mut HashMap<T, String>) {
        for (n, t) in list {
            item(n, t, out);
        }
    }
    fn item(n: &str, t: &ItemType, out: &mut HashMap<T, String>) {
        match t {
            ItemType::Type(ty) if primitive(ty).is_none() => {
                out.entry(ty.clone()).or_insert_with(|| n.to_string());
            }
            ItemType::Instance(list) => items(list, out),
            _ => {}
        }
    }
    fn exports(list: &[ComponentExport], out: &mut HashMap<T, String>) {
        for e in list {
            match &e.item {
                ExportItem::Type(ty) if primitive(ty).is_none() => {
                    out.entry(ty.clone()).or_insert_with(|| e.name.clone());
                }
                ExportItem::Instance(inner) => exports(inner, out),
                _ => {}
            }
        }
    }
    exports(&meta.exports, out);
    for i in &meta.imports {
        item(&i.name, &i.ty, out);
    }
}

#[cfg(test)]
mod tests {
    use super::ident;

    #[test]
    fn identifiers() {
        assert_eq!(ident("my-field"), "my_field");
        assert_eq!(ident("HTTP-Request"), "http_request");
        assert_eq!(ident("default"), "default_");
        assert_eq!(ident("9lives"), "x9lives");
        assert_eq!(ident("wasi:io/streams@0.2.0"), "wasi_io_streams_0_2_0");
        assert_eq!(ident("--"), "x");
    }
}

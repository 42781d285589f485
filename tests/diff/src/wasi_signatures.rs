//! Checks kiln's WASI 0.2 (and 0.3) host signature table (`runtime-support/src/wasi/signatures.txt`,
//! the component type of every WASI function kiln's host defines, which the linker compares
//! with each component's imports) against WASI's own WIT, as shipped by wasmtime-wasi 48.0.8
//! and wasmtime-wasi-http 48.0.8 (this crate's dependencies): every WASI function kiln defines
//! must have exactly the type the WIT gives it. `--bless-wasi-signatures` rewrites the table
//! from the WIT for the functions the table lists, and adds every host function of
//! `wasi:http/types` and `wasi:http/outgoing-handler` (the whole wasi:http host API, listed in
//! full whether or not the runtime defines each yet: the table only declares types, and the
//! runtime looks up only the functions it defines). The check also requires those.
//!
//! The WIT is read from the crates' sources in cargo's registry (`$CARGO_HOME`, else
//! `$HOME/.cargo`), which building this crate fetched.

use anyhow::{anyhow, bail, Context, Result};
use kiln_environ::component::text::{func_to_text, parse_func};
use kiln_environ::component::{Case, ComponentFuncType, Field, InterfaceType as T};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wit_parser::{Handle, Resolve, Type, TypeDefKind, TypeId};

/// The table's path in the workspace.
fn table_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runtime-support/src/wasi/signatures.txt")
}

/// The interfaces whose every function the table lists (the wasi:http host API; the
/// `incoming-handler` interface is exported by guests, not defined by the host).
const LISTED_IN_FULL: &[&str] = &[
    "wasi:http/types@0.2.12#",
    "wasi:http/outgoing-handler@0.2.12#",
];

/// Directory `sub` of crate `krate` (`name-version`) in cargo's registry sources.
fn registry_dir(krate: &str, sub: &str) -> Result<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .ok_or_else(|| anyhow!("neither CARGO_HOME nor HOME is set"))?;
    let registry = home.join("registry/src");
    for index in std::fs::read_dir(&registry).with_context(|| registry.display().to_string())? {
        let dir = index?.path().join(krate).join(sub);
        if dir.is_dir() {
            return Ok(dir);
        }
    }
    bail!("{krate}'s WIT is not in {}", registry.display())
}

/// Every function of WASI's WIT, by import path, in kiln's text form: wasmtime-wasi's p2
/// and p3 (WASI 0.3.0) WIT, plus the wasi:http interfaces of wasmtime-wasi-http's.
fn wit_signatures() -> Result<BTreeMap<String, String>> {
    let mut out = wit_dir_signatures(&registry_dir("wasmtime-wasi-48.0.8", "src/p2/wit")?)?;
    out.extend(wit_dir_signatures(&registry_dir(
        "wasmtime-wasi-48.0.8",
        "src/p3/wit",
    )?)?);
    let http = wit_dir_signatures(&registry_dir("wasmtime-wasi-http-48.0.8", "wit")?)?;
    for (name, sig) in http {
        if !name.starts_with("wasi:http/") {
            continue;
        }
        out.insert(name, sig);
    }
    Ok(out)
}

/// Every function of every interface of the WIT in `dir`, by import path, in kiln's text form.
fn wit_dir_signatures(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut resolve = Resolve {
        // Gated functions kiln implements (`network-error-code`) are part of the table too.
        all_features: true,
        ..Resolve::default()
    };
    resolve.push_dir(dir)?;
    let mut out = BTreeMap::new();
    for (_, iface) in resolve.interfaces.iter() {
        let (Some(name), Some(pkg)) = (&iface.name, iface.package) else {
            continue;
        };
        let pkg = &resolve.packages[pkg].name;
        let iface_path = format!("{}:{}/{name}@{}", pkg.namespace, pkg.name, version(pkg));
        for (fname, f) in &iface.functions {
            let mut resources = Vec::new();
            let mut conv = Converter {
                resolve: &resolve,
                resources: &mut resources,
            };
            let ty = ComponentFuncType {
                is_async: f.kind.is_async(),
                params: f
                    .params
                    .iter()
                    .map(|p| Ok((p.name.clone(), conv.ty(&p.ty)?)))
                    .collect::<Result<_>>()?,
                result: f.result.as_ref().map(|t| conv.ty(t)).transpose()?,
            };
            let text = func_to_text(&ty, &|r| resources[r as usize].clone());
            out.insert(format!("{iface_path}#{fname}"), text);
        }
    }
    Ok(out)
}

fn version(pkg: &wit_parser::PackageName) -> String {
    pkg.version
        .as_ref()
        .map(|v| v.to_string())
        .unwrap_or_default()
}

struct Converter<'a> {
    resolve: &'a Resolve,
    resources: &'a mut Vec<String>,
}

impl Converter<'_> {
    fn ty(&mut self, t: &Type) -> Result<T> {
        Ok(match t {
            Type::Bool => T::Bool,
            Type::U8 => T::U8,
            Type::U16 => T::U16,
            Type::U32 => T::U32,
            Type::U64 => T::U64,
            Type::S8 => T::S8,
            Type::S16 => T::S16,
            Type::S32 => T::S32,
            Type::S64 => T::S64,
            Type::F32 => T::F32,
            Type::F64 => T::F64,
            Type::Char => T::Char,
            Type::String => T::String,
            Type::ErrorContext => T::ErrorContext,
            Type::Id(id) => self.def(*id)?,
        })
    }

    /// The import path of resource type `id` (where it is defined).
    fn resource(&mut self, id: TypeId) -> Result<u32> {
        let mut id = id;
        while let TypeDefKind::Type(Type::Id(next)) = self.resolve.types[id].kind {
            id = next;
        }
        let def = &self.resolve.types[id];
        let wit_parser::TypeOwner::Interface(i) = def.owner else {
            bail!("resource outside an interface");
        };
        let iface = &self.resolve.interfaces[i];
        let pkg = &self.resolve.packages[iface.package.context("interface package")?].name;
        let path = format!(
            "{}:{}/{}@{}#{}",
            pkg.namespace,
            pkg.name,
            iface.name.as_deref().unwrap_or(""),
            version(pkg),
            def.name.as_deref().unwrap_or("")
        );
        self.resources.push(path);
        Ok((self.resources.len() - 1) as u32)
    }

    fn def(&mut self, id: TypeId) -> Result<T> {
        let def = &self.resolve.types[id];
        Ok(match &def.kind {
            TypeDefKind::Type(t) => self.ty(t)?,
            TypeDefKind::Record(r) => T::Record(
                r.fields
                    .iter()
                    .map(|f| {
                        Ok(Field {
                            name: f.name.clone(),
                            ty: self.ty(&f.ty)?,
                        })
                    })
                    .collect::<Result<_>>()?,
            ),
            TypeDefKind::Variant(v) => T::Variant(
                v.cases
                    .iter()
                    .map(|c| {
                        Ok(Case {
                            name: c.name.clone(),
                            ty: c.ty.as_ref().map(|t| self.ty(t)).transpose()?,
                        })
                    })
                    .collect::<Result<_>>()?,
            ),
            TypeDefKind::Enum(e) => T::Enum(e.cases.iter().map(|c| c.name.clone()).collect()),
            TypeDefKind::Flags(f) => T::Flags(f.flags.iter().map(|c| c.name.clone()).collect()),
            TypeDefKind::Tuple(t) => {
                T::Tuple(t.types.iter().map(|t| self.ty(t)).collect::<Result<_>>()?)
            }
            TypeDefKind::Option(t) => T::Option(Box::new(self.ty(t)?)),
            TypeDefKind::Result(r) => T::Result {
                ok: r
                    .ok
                    .as_ref()
                    .map(|t| self.ty(t).map(Box::new))
                    .transpose()?,
                err: r
                    .err
                    .as_ref()
                    .map(|t| self.ty(t).map(Box::new))
                    .transpose()?,
            },
            TypeDefKind::List(t) => T::List(Box::new(self.ty(t)?)),
            TypeDefKind::FixedLengthList(t, n) => T::FixedList(Box::new(self.ty(t)?), *n),
            TypeDefKind::Map(k, v) => T::Map(Box::new(self.ty(k)?), Box::new(self.ty(v)?)),
            TypeDefKind::Handle(Handle::Own(r)) => T::Own(self.resource(*r)?),
            TypeDefKind::Handle(Handle::Borrow(r)) => T::Borrow(self.resource(*r)?),
            TypeDefKind::Future(t) => {
                T::Future(t.as_ref().map(|t| self.ty(t).map(Box::new)).transpose()?)
            }
            TypeDefKind::Stream(t) => {
                T::Stream(t.as_ref().map(|t| self.ty(t).map(Box::new)).transpose()?)
            }
            TypeDefKind::Resource | TypeDefKind::Unknown => {
                bail!("a resource type used as a value type")
            }
        })
    }
}

/// Compares the table with the WIT (or rewrites it with `bless`); returns how many functions
/// were checked.
pub fn check(bless: bool) -> Result<usize> {
    let wit = wit_signatures()?;
    let path = table_path();
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let mut header = String::new();
    let mut lines = BTreeMap::new();
    let mut mismatches = Vec::new();
    for line in text.lines() {
        let Some((name, sig)) = line.split_once('\t') else {
            if lines.is_empty() {
                header.push_str(line);
                header.push('\n');
            }
            continue;
        };
        match wit.get(name) {
            Some(want) if want == sig => {}
            Some(want) => mismatches.push(format!("{name}: kiln `{sig}`, WIT `{want}`")),
            None => mismatches.push(format!("{name}: not in WASI's WIT")),
        }
        let sig = wit.get(name).map_or(sig, String::as_str);
        lines.insert(name.to_string(), sig.to_string());
    }
    for (name, sig) in &wit {
        if LISTED_IN_FULL.iter().any(|p| name.starts_with(p)) && !lines.contains_key(name) {
            mismatches.push(format!("{name}: missing from the table"));
            lines.insert(name.clone(), sig.clone());
        }
    }
    // Every line must parse the way the runtime parses it (it panics on a bad one).
    for (name, sig) in &lines {
        if let Err(e) = parse_func(sig, &mut |_| 0) {
            bail!("{name}: the runtime's parser refuses `{sig}`: {e}");
        }
    }
    if bless {
        let mut out = header;
        for (name, sig) in &lines {
            out.push_str(&format!("{name}\t{sig}\n"));
        }
        std::fs::write(&path, out)?;
        return Ok(lines.len());
    }
    if !mismatches.is_empty() {
        bail!(
            "{} WASI signatures differ from WASI's WIT (`--bless-wasi-signatures` rewrites \
             them):\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
    }
    Ok(lines.len())
}

/// Prints every function of the WIT in the table's form (to start a table from).
pub fn print_all() -> Result<()> {
    for (name, sig) in wit_signatures()? {
        println!("{name}\t{sig}");
    }
    Ok(())
}

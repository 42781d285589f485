//! `kiln inspect`: what a kiln `.so` is, read statically with the `object` crate.
//!
//! The descriptor symbol is found in the dynamic symbol table; its pointer fields are resolved
//! through the file's relative dynamic relocations (or read in place), which leads to the
//! serialized metadata. Nothing is loaded or run, so artifacts for other targets can be
//! inspected too. Component shared objects get their own report (`inspect/component.rs`).

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use kiln_environ::{
    BoundsChecks, Descriptor, ExportKind, ImportKind, ModuleMetadata, DESCRIPTOR_MAGIC,
    DESCRIPTOR_SYMBOL,
};
use object::{Object, ObjectSection, ObjectSymbol};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

mod component;
pub use component::{inspect_component, is_component, read_component};

/// Arguments of `kiln inspect`.
#[derive(Args, Debug)]
pub struct InspectCommand {
    /// The kiln shared object.
    pub file: PathBuf,
}

impl InspectCommand {
    /// Prints the report; returns the exit status.
    pub fn execute(self) -> Result<i32> {
        let data = std::fs::read(&self.file)
            .with_context(|| format!("failed to read `{}`", self.file.display()))?;
        let report = inspect(&data)
            .with_context(|| format!("failed to inspect `{}`", self.file.display()))?;
        print!("{report}");
        Ok(0)
    }
}

/// What [`read_artifact`] finds in a kiln shared object.
pub struct Artifact {
    /// The module metadata.
    pub metadata: ModuleMetadata,
    /// Every section with its size, in file order.
    pub sections: Vec<(String, u64)>,
    /// Names of the exported (dynamic, defined, global) symbols.
    pub exported_symbols: Vec<String>,
}

/// Reads the descriptor and metadata of a kiln `.so` without loading it.
pub fn read_artifact(data: &[u8]) -> Result<Artifact> {
    let file = object::File::parse(data).map_err(|e| anyhow!("not an object file: {e}"))?;
    let exported_symbols: Vec<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_definition() && s.is_global())
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect();
    let desc = file
        .dynamic_symbols()
        .chain(file.symbols())
        .find(|s| s.name() == Ok(DESCRIPTOR_SYMBOL) && s.is_definition())
        .ok_or_else(|| anyhow!("no `{DESCRIPTOR_SYMBOL}` symbol: not a kiln shared object"))?
        .address();
    let relocs: HashMap<u64, i64> = file
        .dynamic_relocations()
        .map(|it| {
            it.filter(|(_, r)| !r.has_implicit_addend())
                .map(|(off, r)| (off, r.addend()))
                .collect()
        })
        .unwrap_or_default();
    let read = |addr: u64, len: u64| -> Result<&[u8]> {
        for s in file.sections() {
            let (start, size) = (s.address(), s.size());
            if addr >= start && addr.saturating_add(len) <= start.saturating_add(size) {
                let bytes = s.data().map_err(|e| anyhow!("{e}"))?;
                let from = (addr - start) as usize;
                return bytes
                    .get(from..from + len as usize)
                    .ok_or_else(|| anyhow!("address {addr:#x} has no file data"));
            }
        }
        bail!("address {addr:#x} (+{len}) is outside every section")
    };
    let word = |addr: u64| -> Result<u64> {
        let b = read(addr, 8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    let pointer = |addr: u64| -> Result<u64> {
        match relocs.get(&addr) {
            Some(addend) => Ok(*addend as u64),
            None => word(addr),
        }
    };
    if read(desc, 8)? != DESCRIPTOR_MAGIC {
        bail!("the descriptor has the wrong magic bytes");
    }
    let meta_ptr = pointer(desc + u64::from(Descriptor::OFFSET_METADATA))?;
    let meta_len = word(desc + u64::from(Descriptor::OFFSET_METADATA_LEN))?;
    let metadata = ModuleMetadata::from_bytes(read(meta_ptr, meta_len)?).map_err(|e| anyhow!(e))?;
    let sections = file
        .sections()
        .map(|s| (s.name().unwrap_or("?").to_string(), s.size()))
        .collect();
    Ok(Artifact {
        metadata,
        sections,
        exported_symbols,
    })
}

/// The human-readable report `kiln inspect` prints.
pub fn inspect(data: &[u8]) -> Result<String> {
    if is_component(data) {
        return inspect_component(data);
    }
    let a = read_artifact(data)?;
    let m = &a.metadata;
    let b = &m.build;
    let mut out = String::new();
    let w = &mut out;
    let hash: String = b.input_sha256.iter().map(|x| format!("{x:02x}")).collect();
    let _ = writeln!(w, "kiln version:   {}", b.kiln_version);
    let _ = writeln!(w, "ABI version:    {}", b.abi_version);
    let _ = writeln!(w, "target:         {}", b.target);
    let _ = writeln!(
        w,
        "CPU features:   {}",
        if b.cpu_features.is_empty() {
            "(none)".into()
        } else {
            b.cpu_features.join(", ")
        }
    );
    let _ = writeln!(w, "input sha256:   {hash}");
    let _ = writeln!(w, "opt level:      {}", b.opt_level);
    let bounds = match b.bounds_checks {
        BoundsChecks::Guard => "guard pages",
        BoundsChecks::Explicit => "explicit",
    };
    let _ = writeln!(w, "bounds checks:  {bounds}");
    if let Some(name) = &m.name {
        let _ = writeln!(w, "module name:    {name}");
    }
    let c = m.import_counts();
    let _ = writeln!(w, "\ncounts:");
    let _ = writeln!(w, "  types         {}", m.types.len());
    let _ = writeln!(
        w,
        "  functions     {} ({} imported)",
        m.functions.len(),
        c.funcs
    );
    let _ = writeln!(
        w,
        "  tables        {} ({} imported)",
        m.tables.len(),
        c.tables
    );
    let _ = writeln!(
        w,
        "  memories      {} ({} imported)",
        m.memories.len(),
        c.memories
    );
    let _ = writeln!(
        w,
        "  globals       {} ({} imported)",
        m.globals.len(),
        c.globals
    );
    let _ = writeln!(w, "  tags          {} ({} imported)", m.tags.len(), c.tags);
    let _ = writeln!(w, "  elem segments {}", m.elems.len());
    let _ = writeln!(w, "  data segments {}", m.data.len());
    let _ = writeln!(w, "  memory images {}", m.memory_images.len());
    let _ = writeln!(w, "  trap sites    {}", m.trap_sites.len());
    let _ = writeln!(w, "  catch sites   {}", m.exception_table.len());
    let _ = writeln!(
        w,
        "  start         {}",
        m.start.map_or("none".to_string(), |s| s.to_string())
    );
    let _ = writeln!(w, "\nimports ({}):", m.imports.len());
    for i in &m.imports {
        let _ = writeln!(
            w,
            "  {}::{}: {}",
            i.module,
            i.name,
            describe_import(m, &i.kind)
        );
    }
    let _ = writeln!(w, "\nexports ({}):", m.exports.len());
    for e in &m.exports {
        let _ = writeln!(w, "  {}: {}", e.name, describe_export(m, e.kind, e.index));
    }
    let _ = writeln!(w, "\nexported symbols: {}", a.exported_symbols.join(", "));
    let _ = writeln!(w, "\nsections:");
    for (name, size) in &a.sections {
        let interesting = [
            ".text",
            ".rodata",
            ".data",
            ".data.rel.ro",
            ".bss",
            ".eh_frame",
        ]
        .contains(&name.as_str())
            || name.contains("kiln");
        if interesting {
            let _ = writeln!(w, "  {name:<16} {size:>10} bytes");
        }
    }
    let _ = writeln!(w, "  {:<16} {:>10} bytes", "(file)", data.len());
    Ok(out)
}

fn describe_import(m: &ModuleMetadata, kind: &ImportKind) -> String {
    match kind {
        ImportKind::Func(t) => format!(
            "func {}",
            m.types
                .get(*t as usize)
                .map_or("<bad type>".into(), |t| t.to_string())
        ),
        ImportKind::Table(t) => format!("table {} {}", t.element, limits(t.min, t.max)),
        ImportKind::Memory(t) => format!("memory {}", limits(t.min, t.max)),
        ImportKind::Global(g) => format!("global {}{}", if g.mutable { "mut " } else { "" }, g.ty),
        ImportKind::Tag(t) => format!(
            "tag {}",
            m.types
                .get(*t as usize)
                .map_or("<bad type>".into(), |t| t.to_string())
        ),
    }
}

fn describe_export(m: &ModuleMetadata, kind: ExportKind, index: u32) -> String {
    let i = index as usize;
    match kind {
        ExportKind::Func => {
            let ty = m
                .functions
                .get(i)
                .and_then(|f| m.types.get(f.type_index as usize))
                .map_or("<bad index>".into(), |t| t.to_string());
            format!("func[{index}] {ty}")
        }
        ExportKind::Table => match m.tables.get(i) {
            Some(t) => format!("table[{index}] {} {}", t.element, limits(t.min, t.max)),
            None => format!("table[{index}]"),
        },
        ExportKind::Memory => match m.memories.get(i) {
            Some(t) => format!("memory[{index}] {}", limits(t.min, t.max)),
            None => format!("memory[{index}]"),
        },
        ExportKind::Global => match m.globals.get(i) {
            Some(g) => format!(
                "global[{index}] {}{}",
                if g.mutable { "mut " } else { "" },
                g.ty
            ),
            None => format!("global[{index}]"),
        },
        ExportKind::Tag => {
            let ty = m
                .tags
                .get(i)
                .and_then(|t| m.types.get(*t as usize))
                .map_or("<bad index>".into(), |t| t.to_string());
            format!("tag[{index}] {ty}")
        }
    }
}

fn limits(min: u64, max: Option<u64>) -> String {
    match max {
        Some(max) => format!("{min}..{max}"),
        None => format!("{min}.."),
    }
}

//! `kiln inspect`: what a kiln `.so` is, read statically.
//!
//! The file goes through the same static verifier the runtime runs before `dlopen`
//! (`kiln_environ::artifact::verify`, which decodes the descriptors with their one reader), so
//! a file the runtime would refuse is refused here with the same reason; its checksum is
//! recomputed and compared. Nothing is loaded or run, so artifacts for other targets can be
//! inspected too. Component shared objects get their own report (`inspect/component.rs`).

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use kiln_environ::artifact::check_checksum;
use kiln_environ::artifact::checksum::hex;
use kiln_environ::artifact::{verify, ArtifactKind, Verified};
use kiln_environ::{BoundsChecks, ExportKind, Fingerprint, ImportKind, ModuleMetadata};
use object::{Object, ObjectSection, ObjectSymbol};
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
    /// Prints the report; returns the exit status (1 when the checksum does not match).
    pub fn execute(self) -> Result<i32> {
        let data = std::fs::read(&self.file)
            .with_context(|| format!("failed to read `{}`", self.file.display()))?;
        let report = inspect(&data)
            .with_context(|| format!("failed to inspect `{}`", self.file.display()))?;
        print!("{report}");
        Ok(if report.contains(CHECKSUM_MISMATCH) {
            1
        } else {
            0
        })
    }
}

/// How the checksum line of a report starts when the file's checksum does not match.
const CHECKSUM_MISMATCH: &str = "checksum:       MISMATCH";

/// Verifies `data` statically as the runtime does before loading it (any kiln target).
pub fn verify_artifact(data: &[u8]) -> Result<Verified> {
    verify(data, None).map_err(|e| anyhow!("not a kiln shared object the runtime would load: {e}"))
}

/// What [`read_artifact`] finds in a kiln shared object.
pub struct Artifact {
    /// The module metadata.
    pub metadata: ModuleMetadata,
    /// The fingerprint the descriptor points at.
    pub fingerprint: Fingerprint,
    /// The recorded checksum, and whether it matches the file (else why not).
    pub checksum: ([u8; 16], Result<(), String>),
    /// The file's SHA-256 digest, what `kiln sign` signs.
    pub digest: [u8; 32],
    /// Every section with its size, in file order.
    pub sections: Vec<(String, u64)>,
    /// Names of the exported (dynamic, defined, global) symbols.
    pub exported_symbols: Vec<String>,
}

/// Reads the descriptor and metadata of a kiln module `.so` without loading it.
pub fn read_artifact(data: &[u8]) -> Result<Artifact> {
    let v = verify_artifact(data)?;
    let Some(desc) = v.module.as_ref().filter(|_| v.kind == ArtifactKind::Module) else {
        bail!("a component, not a core module");
    };
    let metadata =
        ModuleMetadata::from_bytes(v.bytes(data, desc.head.metadata)).map_err(|e| anyhow!(e))?;
    let file = object::File::parse(data).map_err(|e| anyhow!("not an object file: {e}"))?;
    let exported_symbols: Vec<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_definition() && s.is_global())
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect();
    let sections = file
        .sections()
        .map(|s| (s.name().unwrap_or("?").to_string(), s.size()))
        .collect();
    Ok(Artifact {
        metadata,
        fingerprint: v.fingerprint.clone(),
        checksum: (
            v.recorded_checksum,
            check_checksum(data, &v).map_err(|e| e.to_string()),
        ),
        digest: kiln_runtime::signature::digest::file_digest(data),
        sections,
        exported_symbols,
    })
}

/// The build, fingerprint, checksum and digest lines every report starts with.
pub(crate) fn build_lines(
    w: &mut String,
    fp: &Fingerprint,
    input_sha256: &[u8; 32],
    checksum: &([u8; 16], Result<(), String>),
    digest: &[u8; 32],
) {
    let _ = writeln!(w, "kiln version:   {}", fp.kiln_version);
    let _ = writeln!(w, "ABI version:    {}", fp.abi_version);
    let _ = writeln!(w, "target:         {}", fp.target);
    let _ = writeln!(w, "CPU baseline:   {}", fp.cpu);
    let _ = writeln!(
        w,
        "CPU features:   {}",
        if fp.cpu_features.is_empty() {
            "(none)".into()
        } else {
            fp.cpu_features.join(", ")
        }
    );
    let _ = writeln!(w, "opt level:      {}", fp.opt_level);
    let bounds = match fp.bounds_checks {
        BoundsChecks::Guard => "guard pages",
        BoundsChecks::Explicit => "explicit",
    };
    let _ = writeln!(w, "bounds checks:  {bounds}");
    let on = |b: bool| if b { "on" } else { "off" };
    let _ = writeln!(w, "epoch checks:   {}", on(fp.epoch_interruption));
    let _ = writeln!(w, "debug info:     {}", on(fp.debug_info));
    let _ = writeln!(w, "fingerprint:    {}", fp.encode());
    let _ = writeln!(w, "input sha256:   {}", hex(input_sha256));
    match &checksum.1 {
        Ok(()) => {
            let _ = writeln!(w, "checksum:       {} (matches the file)", hex(&checksum.0));
        }
        Err(e) => {
            let _ = writeln!(w, "{CHECKSUM_MISMATCH}: {e}");
        }
    }
    let _ = writeln!(
        w,
        "sha256 digest:  {} (what `kiln sign` signs)",
        hex(digest)
    );
}

/// The human-readable report `kiln inspect` prints.
pub fn inspect(data: &[u8]) -> Result<String> {
    if is_component(data) {
        return inspect_component(data);
    }
    let a = read_artifact(data)?;
    let m = &a.metadata;
    let mut out = String::new();
    let w = &mut out;
    build_lines(
        w,
        &a.fingerprint,
        &m.build.input_sha256,
        &a.checksum,
        &a.digest,
    );
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

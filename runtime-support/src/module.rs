//! Loaded kiln modules: metadata checks and code registration on top of the loader.
//!
//! [`Module::load`] has the loader (`loader/`) open and check the file before anything is
//! mapped — static verification, fingerprint, digest, signature — then decodes and checks the
//! metadata from the verified bytes ([`check_build`], [`check_shape`]), and only then has the
//! loader `dlopen` those bytes. [`Library`] owns the `dlopen` handle, so several modules can
//! share one shared object (the core modules of a component, each with its own descriptor).
//! The module's text range is registered with the trap handler for as long as the module (and
//! therefore every instance of it) is alive.

use crate::engine::Engine;
use crate::error::Error;
use crate::loader::{Artifact, Library};
use crate::traps;
use kiln_environ::artifact::ArtifactKind;
use kiln_environ::{Fingerprint, MetadataLayout, ModuleDescriptor, ModuleMetadata, SharedBytes};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

pub use crate::loader::has_cpu_feature;

/// A loaded kiln module: the shared object, its metadata and its interned signature ids.
pub(crate) struct ModuleInner {
    engine: Engine,
    /// The shared object (several modules may share one: the core modules of a component).
    library: Arc<Library>,
    pub(crate) metadata: ModuleMetadata,
    pub(crate) text: *const u8,
    pub(crate) text_len: usize,
    pub(crate) data: *const u8,
    pub(crate) data_len: usize,
    /// Engine-wide signature id of each type index.
    pub(crate) type_ids: Vec<u32>,
    /// The file and the file offset of the data blob, for mapping memory images.
    pub(crate) image_source: Option<(File, u64)>,
    /// Per element segment: its items as function indices (`u32::MAX` for null) when every
    /// item is a `ref.func` of a function of this module or `ref.null` (nearly always), so
    /// instantiation writes references without evaluating an expression per item.
    pub(crate) elem_funcs: Vec<Option<Box<[u32]>>>,
}

// SAFETY: the shared object's code and data are immutable once loaded.
unsafe impl Send for ModuleInner {}
// SAFETY: as above.
unsafe impl Sync for ModuleInner {}

impl ModuleInner {
    /// The engine the module was loaded into.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for ModuleInner {
    fn drop(&mut self) {
        // The library (and its code) outlives this registration: it is dropped after this.
        traps::unregister_code(self.text as usize, self);
    }
}

/// A loaded kiln `.so` (dlopen RTLD_NOW|RTLD_LOCAL, descriptor + metadata checked).
#[derive(Clone)]
pub struct Module {
    pub(crate) inner: Arc<ModuleInner>,
}

impl Module {
    /// Loads a kiln shared object: checks the file (static verification, fingerprint, digest,
    /// signature when the engine requires one) and its metadata before anything from it is
    /// mapped, then `dlopen`s the verified bytes.
    pub fn load(engine: &Engine, path: &Path) -> Result<Module, Error> {
        let artifact = Artifact::open(engine, path, ArtifactKind::Module)?;
        let v = artifact.verified();
        let desc = v
            .module
            .clone()
            .expect("a verified module has its descriptor");
        let fingerprint = v.fingerprint.clone();
        let shown = artifact.shown().to_string();
        let metadata = decode_metadata(
            &shown,
            artifact.bytes(desc.head.metadata),
            &fingerprint,
            &desc,
        )?;
        let image_offset = v.file_offset(desc.data.addr, desc.data.len);
        let library = artifact.load()?;
        Module::from_verified(&shown, engine, library, &desc, metadata, image_offset)
    }

    /// A module of a loaded (verified) `library`: `desc` is its verified descriptor (link-time
    /// addresses), `metadata` its checked metadata (the shape, and the layout of the tables it
    /// reads in place from the library's copy of the metadata), `image_offset` the file offset
    /// of its data blob.
    pub(crate) fn from_verified(
        shown: &str,
        engine: &Engine,
        library: Arc<Library>,
        desc: &ModuleDescriptor,
        metadata: (ModuleMetadata, MetadataLayout),
        image_offset: Option<u64>,
    ) -> Result<Module, Error> {
        let (mut metadata, layout) = metadata;
        let (meta, meta_len) = library.span(desc.head.metadata);
        let mapped = MappedMetadata {
            _library: library.clone(),
            ptr: meta as *const u8,
            len: meta_len,
        };
        metadata
            .attach(&layout, SharedBytes::new(Arc::new(mapped)))
            .map_err(|e| Error::Load(format!("{shown}: {e}")))?;
        let (text, text_len) = library.span(desc.text);
        let (data, data_len) = library.span(desc.data);
        let type_ids = metadata
            .types
            .iter()
            .enumerate()
            .map(|(i, t)| engine.intern_with_identity(t, metadata.type_identity(i as u32)))
            .collect();
        let page = traps::page_size() as u64;
        let image_source = match image_offset {
            Some(off) if !metadata.memory_images.is_empty() && off.is_multiple_of(page) => {
                library.image_file().map(|f| (f, off))
            }
            _ => None,
        };
        let elem_funcs = elem_function_indices(&metadata);
        let inner = Arc::new(ModuleInner {
            engine: engine.clone(),
            library,
            metadata,
            text: text as *const u8,
            text_len,
            data: data as *const u8,
            data_len,
            type_ids,
            image_source,
            elem_funcs,
        });
        traps::register_code(text, text_len, Arc::downgrade(&inner));
        let c = inner.metadata.import_counts();
        for f in &inner.metadata.functions[..c.funcs as usize] {
            if let Some(off) = f.host_trampoline {
                let id = inner.type_ids[f.type_index as usize];
                engine.register_host_trampoline(id, text + off as usize, Arc::downgrade(&inner));
            }
        }
        Ok(Module { inner })
    }

    /// The decoded metadata.
    pub fn metadata(&self) -> &ModuleMetadata {
        &self.inner.metadata
    }

    /// The imports, in order.
    pub fn imports(&self) -> &[kiln_environ::Import] {
        &self.inner.metadata.imports
    }

    /// The exports, in order.
    pub fn exports(&self) -> &[kiln_environ::Export] {
        &self.inner.metadata.exports
    }

    /// The engine the module was loaded into.
    pub fn engine(&self) -> &Engine {
        self.inner.engine()
    }

    /// The module's code range `[start, start + len)`.
    pub fn text_range(&self) -> (usize, usize) {
        (self.inner.text as usize, self.inner.text_len)
    }

    /// The module's data blob range `[start, start + len)`.
    pub fn data_range(&self) -> (usize, usize) {
        (self.inner.data as usize, self.inner.data_len)
    }

    /// Whether the module was loaded from a sealed private copy of its file rather than the
    /// file itself (see [`crate::ArtifactSharing`]).
    pub fn is_private_copy(&self) -> bool {
        self.inner.library.is_private_copy()
    }

    /// The path the module was loaded from.
    pub fn path(&self) -> &Path {
        self.inner.library.path()
    }
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("path", &self.path())
            .finish()
    }
}

/// The metadata bytes inside a loaded library (where the verifier found them, in a read-only
/// segment), kept loaded for as long as a table reads them.
struct MappedMetadata {
    _library: Arc<Library>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the bytes are immutable while the library is loaded, which this value ensures.
unsafe impl Send for MappedMetadata {}
// SAFETY: as above.
unsafe impl Sync for MappedMetadata {}

impl AsRef<[u8]> for MappedMetadata {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `[ptr, ptr + len)` is the run-time range of the metadata span, which the
        // verifier found inside a file-backed read-only PT_LOAD segment and the loader checked
        // the dynamic loader mapped from the verified file; `self._library` keeps it mapped and
        // nothing writes it.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Decodes a module's metadata shape from verified bytes and checks it against its descriptor
/// and fingerprint; the per-function tables are checked for size only and read in place later
/// (see [`Module::from_verified`]).
pub(crate) fn decode_metadata(
    shown: &str,
    bytes: &[u8],
    fingerprint: &Fingerprint,
    desc: &ModuleDescriptor,
) -> Result<(ModuleMetadata, MetadataLayout), Error> {
    let (metadata, layout) =
        ModuleMetadata::decode_shape(bytes).map_err(|e| Error::Load(format!("{shown}: {e}")))?;
    check_build(shown, &metadata, fingerprint)?;
    check_shape(shown, &metadata, desc.text.len, desc.data.len)?;
    Ok((metadata, layout))
}

/// Checks that the metadata's build facts are the fingerprint the loader checked.
pub(crate) fn check_build(
    shown: &str,
    m: &ModuleMetadata,
    fingerprint: &Fingerprint,
) -> Result<(), Error> {
    if Fingerprint::of(&m.build) != *fingerprint {
        return Err(Error::Load(format!(
            "{shown}: corrupt kiln metadata: its build facts differ from the descriptor's \
             fingerprint"
        )));
    }
    Ok(())
}

/// Sanity checks of metadata against the descriptor (mistakes must be errors, not crashes).
fn check_shape(shown: &str, m: &ModuleMetadata, text_len: u64, data_len: u64) -> Result<(), Error> {
    let bad = |what: String| {
        Err(Error::Load(format!(
            "{shown}: corrupt kiln metadata: {what}"
        )))
    };
    let c = m.import_counts();
    if c.funcs as usize > m.functions.len()
        || c.tables as usize > m.tables.len()
        || c.memories as usize > m.memories.len()
        || c.globals as usize > m.globals.len()
        || c.tags as usize > m.tags.len()
    {
        return bad("more imports than entities".into());
    }
    // The VM context layout is computed in u32: keep it far from overflowing.
    let vmctx_size = 64
        + 4 * m.types.len() as u64
        + 48 * m.functions.len() as u64
        + 24 * (m.tables.len() + m.memories.len() + m.globals.len()) as u64;
    if vmctx_size > u64::from(u32::MAX / 2) {
        return bad("too many types, functions, tables, memories or globals".into());
    }
    if m.global_inits.len() != m.globals.len() - c.globals as usize {
        return bad("global initializer count".into());
    }
    let in_text = |off: u32| u64::from(off) < text_len;
    for (i, f) in m.functions.iter().enumerate() {
        if f.type_index as usize >= m.types.len() {
            return bad(format!("function {i} has type index {}", f.type_index));
        }
        if let Some((s, l)) = f.body {
            if u64::from(s) + u64::from(l) > text_len {
                return bad(format!("function {i} body outside the text"));
            }
        }
        if f.array_trampoline.is_some_and(|o| !in_text(o))
            || f.host_trampoline.is_some_and(|o| !in_text(o))
        {
            return bad(format!("function {i} trampoline outside the text"));
        }
        if (i as u32) < c.funcs && f.body.is_some() || (i as u32) >= c.funcs && f.body.is_none() {
            return bad(format!("function {i} body presence"));
        }
    }
    for imp in &m.imports {
        if let kiln_environ::ImportKind::Func(t) | kiln_environ::ImportKind::Tag(t) = imp.kind {
            if t as usize >= m.types.len() {
                return bad(format!("import `{}::{}` type index", imp.module, imp.name));
            }
        }
    }
    for (i, t) in m.tags.iter().enumerate() {
        if m.types
            .get(*t as usize)
            .is_none_or(|ty| !ty.results.is_empty())
        {
            return bad(format!("tag {i} type"));
        }
    }
    if m.type_identities.len() > m.types.len() {
        return bad("type identity count".into());
    }
    m.exception_table.check().or_else(|e| bad(e.to_string()))?;
    for s in &m.data {
        if s.data_offset
            .checked_add(s.len)
            .is_none_or(|e| e > data_len)
        {
            return bad("data segment outside the data blob".into());
        }
    }
    for img in &m.memory_images {
        if img
            .data_offset
            .checked_add(img.len)
            .is_none_or(|e| e > data_len)
            || img.memory < c.memories
            || img.memory as usize >= m.memories.len()
        {
            return bad("memory image outside the data blob or not a defined memory".into());
        }
    }
    if let Some(s) = m.start {
        if s as usize >= m.functions.len() {
            return bad("start function index".into());
        }
    }
    for e in &m.exports {
        let n = match e.kind {
            kiln_environ::ExportKind::Func => m.functions.len(),
            kiln_environ::ExportKind::Table => m.tables.len(),
            kiln_environ::ExportKind::Memory => m.memories.len(),
            kiln_environ::ExportKind::Global => m.globals.len(),
            kiln_environ::ExportKind::Tag => m.tags.len(),
        };
        if e.index as usize >= n {
            return bad(format!("export `{}` index", e.name));
        }
    }
    Ok(())
}

/// The element segments whose items are all `ref.func` (of an in-range function) or
/// `ref.null`, as function indices (`u32::MAX` for null); `None` for the others.
fn elem_function_indices(md: &ModuleMetadata) -> Vec<Option<Box<[u32]>>> {
    // The bound `Env::func_ref` checks when it evaluates the same item.
    let funcs = u64::from(md.vmoffsets().num_funcs);
    md.elems
        .iter()
        .map(|seg| {
            seg.items
                .iter()
                .map(|e| match e.ops.as_slice() {
                    [kiln_environ::ConstOp::RefFunc(i)] if u64::from(*i) < funcs => Some(*i),
                    [kiln_environ::ConstOp::RefNull] => Some(u32::MAX),
                    _ => None,
                })
                .collect::<Option<Box<[u32]>>>()
        })
        .collect()
}

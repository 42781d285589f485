//! Loading kiln shared objects: `dlopen`, descriptor and metadata checks, code registration.
//!
//! [`Module::load`] opens the `.so` with `RTLD_NOW | RTLD_LOCAL`, finds the one exported
//! descriptor (`kiln_environ::DESCRIPTOR_SYMBOL`), checks magic, ABI version and size, decodes
//! the metadata, and checks the build facts (ABI version, target, CPU features) before anything
//! runs. [`Library`] owns the `dlopen` handle, so several modules can share one shared object
//! (the core modules of a component, each with its own descriptor). The module's text range is
//! registered with the trap handler for as long as the module
//! (and therefore every instance of it) is alive.

use crate::engine::Engine;
use crate::error::Error;
use crate::traps;
use kiln_environ::{Descriptor, ModuleMetadata, ABI_VERSION, DESCRIPTOR_MAGIC, DESCRIPTOR_SYMBOL};
use std::ffi::{c_void, CStr, CString};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// A `dlopen`ed shared object, closed when the last module using it is dropped.
pub(crate) struct Library {
    handle: *mut c_void,
    path: PathBuf,
}

// SAFETY: the handle is only used for `dlsym` (thread-safe) and `dlclose` on drop.
unsafe impl Send for Library {}
// SAFETY: as above.
unsafe impl Sync for Library {}

impl Library {
    /// Opens `path` with `RTLD_NOW | RTLD_LOCAL`.
    pub(crate) fn open(path: &Path) -> Result<Arc<Library>, Error> {
        let shown = path.display().to_string();
        let path: PathBuf = if path.components().count() == 1 {
            Path::new(".").join(path)
        } else {
            path.to_path_buf()
        };
        let cpath = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::Load(format!("{shown}: path contains a NUL byte")))?;
        // SAFETY: `cpath` is a valid C string. A kiln `.so` has no constructors.
        let handle = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(Error::Load(format!("{shown}: {}", dlerror())));
        }
        Ok(Arc::new(Library { handle, path }))
    }

    /// The address of symbol `name`, if the object defines it.
    pub(crate) fn symbol(&self, name: &str) -> Option<*const u8> {
        let sym = CString::new(name).ok()?;
        // SAFETY: a valid handle and symbol name.
        let p = unsafe { libc::dlsym(self.handle, sym.as_ptr()) };
        (!p.is_null()).then_some(p as *const u8)
    }

    /// The path the object was opened from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        // SAFETY: the handle came from `dlopen`; no module of this object is alive any more.
        unsafe { libc::dlclose(self.handle) };
    }
}

/// A loaded kiln `.so` (dlopen RTLD_NOW|RTLD_LOCAL, descriptor + metadata checked).
#[derive(Clone)]
pub struct Module {
    pub(crate) inner: Arc<ModuleInner>,
}

fn dlerror() -> String {
    // SAFETY: dlerror returns null or a valid C string.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown dynamic loader error".into()
    } else {
        // SAFETY: non-null dlerror result is a NUL-terminated string.
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

impl Module {
    /// Loads and checks a kiln shared object.
    pub fn load(engine: &Engine, path: &Path) -> Result<Module, Error> {
        let library = Library::open(path)?;
        let shown = path.display().to_string();
        let desc = library.symbol(DESCRIPTOR_SYMBOL).ok_or_else(|| {
            Error::Load(format!(
                "not a kiln shared object: {shown} has no `{DESCRIPTOR_SYMBOL}` symbol"
            ))
        })?;
        // SAFETY: a symbol of a kiln shared object named like the descriptor.
        unsafe { Module::from_descriptor(engine, library, desc.cast(), &shown) }
    }

    /// Checks and loads the module described by `desc` inside `library` (a standalone module's
    /// exported descriptor, or one core module of a component).
    ///
    /// # Safety
    /// `desc` must point into `library` at least 16 readable bytes; when they start with the
    /// descriptor magic, at the `size` bytes the descriptor announces and at the ranges it
    /// describes.
    pub(crate) unsafe fn from_descriptor(
        engine: &Engine,
        library: Arc<Library>,
        desc: *const Descriptor,
        shown: &str,
    ) -> Result<Module, Error> {
        // SAFETY: the first 16 bytes (magic, version, size) are readable (caller contract); the
        // rest is read only after `size` is checked.
        let (magic, abi, size) = unsafe {
            (
                desc.cast::<[u8; 8]>().read_unaligned(),
                desc.cast::<u8>().add(8).cast::<u32>().read_unaligned(),
                desc.cast::<u8>().add(12).cast::<u32>().read_unaligned(),
            )
        };
        if magic != DESCRIPTOR_MAGIC {
            return Err(Error::Load(format!(
                "not a kiln shared object: {shown} (bad descriptor magic)"
            )));
        }
        if abi != ABI_VERSION {
            return Err(Error::Load(format!(
                "{shown}: compiled for ABI version {abi}, this runtime supports {ABI_VERSION}"
            )));
        }
        if size < Descriptor::SIZE {
            return Err(Error::Load(format!(
                "not a kiln shared object: {shown} (descriptor of {size} bytes, expected {})",
                Descriptor::SIZE
            )));
        }
        // SAFETY: the descriptor is at least `Descriptor::SIZE` bytes (checked above).
        let d = unsafe { desc.read_unaligned() };
        if d.metadata.is_null() || d.text.is_null() {
            return Err(Error::Load(format!(
                "not a kiln shared object: {shown} (null descriptor fields)"
            )));
        }
        // SAFETY: the descriptor promises `metadata_len` readable bytes at `metadata`.
        let bytes = unsafe { std::slice::from_raw_parts(d.metadata, d.metadata_len) };
        let metadata =
            ModuleMetadata::from_bytes(bytes).map_err(|e| Error::Load(format!("{shown}: {e}")))?;
        check_build(shown, &metadata)?;
        check_shape(shown, &metadata, d.text_len, d.data_len)?;
        let type_ids = metadata
            .types
            .iter()
            .enumerate()
            .map(|(i, t)| engine.intern_with_identity(t, metadata.type_identity(i as u32)))
            .collect();
        let image_source = if metadata.memory_images.is_empty() {
            None
        } else {
            image_source(library.path(), d.data as usize, d.data_len)
        };
        let inner = Arc::new(ModuleInner {
            engine: engine.clone(),
            library,
            metadata,
            text: d.text,
            text_len: d.text_len,
            data: d.data,
            data_len: d.data_len,
            type_ids,
            image_source,
        });
        traps::register_code(d.text as usize, d.text_len, Arc::downgrade(&inner));
        let c = inner.metadata.import_counts();
        for f in &inner.metadata.functions[..c.funcs as usize] {
            if let Some(off) = f.host_trampoline {
                let id = inner.type_ids[f.type_index as usize];
                engine.register_host_trampoline(
                    id,
                    d.text as usize + off as usize,
                    Arc::downgrade(&inner),
                );
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

/// Checks the build facts: ABI version, target and CPU features.
pub(crate) fn check_build(shown: &str, m: &ModuleMetadata) -> Result<(), Error> {
    let b = &m.build;
    if b.abi_version != ABI_VERSION {
        return Err(Error::Load(format!(
            "{shown}: compiled for ABI version {}, this runtime supports {ABI_VERSION}",
            b.abi_version
        )));
    }
    let mut parts = b.target.split('-');
    let arch = parts.next().unwrap_or("");
    let os_ok = b
        .target
        .split('-')
        .skip(1)
        .any(|p| p == std::env::consts::OS);
    if arch != std::env::consts::ARCH || !os_ok {
        return Err(Error::Load(format!(
            "{shown}: compiled for target {}, this host is {}-{}",
            b.target,
            std::env::consts::ARCH,
            std::env::consts::OS
        )));
    }
    for f in &b.cpu_features {
        match has_cpu_feature(f) {
            Some(true) => {}
            Some(false) => {
                return Err(Error::Load(format!(
                    "{shown}: requires CPU feature {f} which this CPU lacks"
                )))
            }
            None => {
                return Err(Error::Load(format!(
                    "{shown}: requires unknown CPU feature {f}"
                )))
            }
        }
    }
    Ok(())
}

/// Sanity checks of metadata against the descriptor (mistakes must be errors, not crashes).
fn check_shape(
    shown: &str,
    m: &ModuleMetadata,
    text_len: usize,
    data_len: usize,
) -> Result<(), Error> {
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
    let in_text = |off: u32| (off as usize) < text_len;
    for (i, f) in m.functions.iter().enumerate() {
        if f.type_index as usize >= m.types.len() {
            return bad(format!("function {i} has type index {}", f.type_index));
        }
        if let Some((s, l)) = f.body {
            if (s as usize).saturating_add(l as usize) > text_len {
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
            .is_none_or(|e| e > data_len as u64)
        {
            return bad("data segment outside the data blob".into());
        }
    }
    for img in &m.memory_images {
        if img
            .data_offset
            .checked_add(img.len)
            .is_none_or(|e| e > data_len as u64)
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

/// Whether this CPU has a feature named as in `is_x86_feature_detected!` (None: unknown name).
pub fn has_cpu_feature(name: &str) -> Option<bool> {
    let name = name.strip_prefix('+').unwrap_or(name);
    Some(match name {
        "sse" => is_x86_feature_detected!("sse"),
        "sse2" => is_x86_feature_detected!("sse2"),
        "sse3" => is_x86_feature_detected!("sse3"),
        "ssse3" => is_x86_feature_detected!("ssse3"),
        "sse4.1" => is_x86_feature_detected!("sse4.1"),
        "sse4.2" => is_x86_feature_detected!("sse4.2"),
        "popcnt" => is_x86_feature_detected!("popcnt"),
        "avx" => is_x86_feature_detected!("avx"),
        "avx2" => is_x86_feature_detected!("avx2"),
        "bmi1" => is_x86_feature_detected!("bmi1"),
        "bmi2" => is_x86_feature_detected!("bmi2"),
        "lzcnt" => is_x86_feature_detected!("lzcnt"),
        "fma" => is_x86_feature_detected!("fma"),
        "f16c" => is_x86_feature_detected!("f16c"),
        "cmpxchg16b" => is_x86_feature_detected!("cmpxchg16b"),
        "aes" => is_x86_feature_detected!("aes"),
        "pclmulqdq" => is_x86_feature_detected!("pclmulqdq"),
        "avx512f" => is_x86_feature_detected!("avx512f"),
        "avx512vl" => is_x86_feature_detected!("avx512vl"),
        "avx512dq" => is_x86_feature_detected!("avx512dq"),
        "avx512bw" => is_x86_feature_detected!("avx512bw"),
        "avx512cd" => is_x86_feature_detected!("avx512cd"),
        "avx512vbmi" => is_x86_feature_detected!("avx512vbmi"),
        "avx512bitalg" => is_x86_feature_detected!("avx512bitalg"),
        "avx512vpopcntdq" => is_x86_feature_detected!("avx512vpopcntdq"),
        "avx512vnni" => is_x86_feature_detected!("avx512vnni"),
        // Cranelift's `has_avx_vnni` flag, and the `is_x86_feature_detected!` spelling.
        "avx_vnni" | "avxvnni" => is_x86_feature_detected!("avxvnni"),
        // Cranelift's spellings of the SSE4 flags (`has_sse41`, `has_sse42`).
        "sse41" => is_x86_feature_detected!("sse4.1"),
        "sse42" => is_x86_feature_detected!("sse4.2"),
        _ => return None,
    })
}

struct PhdrSearch {
    addr: usize,
    len: usize,
    file_offset: Option<u64>,
}

unsafe extern "C" fn phdr_callback(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> i32 {
    // SAFETY: `data` is the `PhdrSearch` passed to `dl_iterate_phdr`; `info` is valid for the call.
    let (s, info) = unsafe { (&mut *data.cast::<PhdrSearch>(), &*info) };
    for i in 0..info.dlpi_phnum as usize {
        // SAFETY: `dlpi_phdr` has `dlpi_phnum` entries.
        let ph = unsafe { &*info.dlpi_phdr.add(i) };
        if ph.p_type != libc::PT_LOAD {
            continue;
        }
        let start = (info.dlpi_addr as usize).wrapping_add(ph.p_vaddr as usize);
        if s.addr >= start && s.addr + s.len <= start + ph.p_filesz as usize {
            s.file_offset = Some((s.addr - start) as u64 + ph.p_offset);
            return 1;
        }
    }
    0
}

/// Opens the `.so` file and finds the file offset of the data blob (for copy-on-write images).
fn image_source(path: &Path, data: usize, data_len: usize) -> Option<(File, u64)> {
    let mut s = PhdrSearch {
        addr: data,
        len: data_len,
        file_offset: None,
    };
    // SAFETY: the callback only reads the loader's program headers and writes `s`.
    unsafe { libc::dl_iterate_phdr(Some(phdr_callback), (&mut s as *mut PhdrSearch).cast()) };
    let off = s.file_offset?;
    if !off.is_multiple_of(traps::page_size() as u64) {
        return None;
    }
    Some((File::open(path).ok()?, off))
}

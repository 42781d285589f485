//! `dlopen` of verified bytes, and the checks that the dynamic loader mapped what was verified.
//!
//! [`Library::open`] `dlopen`s `/proc/<pid>/fd/<n>` of the open file (or sealed copy) the
//! verifier read, with `RTLD_NOW | RTLD_LOCAL`. Then it checks, against the verified layout:
//! the object's load base and the descriptor symbol's address; that the loaded segments are
//! exactly the verified `PT_LOAD`s (from `dl_iterate_phdr`) and that every descriptor range
//! lies inside one of them with the right permissions; and that the descriptors in memory are
//! byte for byte the verified ones, relocated (the exported one carries the file digest).
//!
//! glibc finds an already-loaded object by name before it opens anything, and adds every name
//! an object was opened under to it: a name `/proc/<pid>/fd/<n>` that a still-loaded object
//! was once opened under would return that object. So each file (device and inode) is
//! `dlopen`ed once: later loads of the same unchanged file share its [`Library`], and the
//! descriptor whose name it was opened under stays open until after its `dlclose` (opening,
//! sharing and closing are serialized by one lock). Should another part of the process have
//! `dlopen`ed the file too, the memory checks catch the mix-up and the open is retried under a
//! fresh descriptor number.

use super::name::LoadName;
use super::source::{Identity, Source};
use crate::error::Error;
use kiln_environ::artifact::elf::{ProgramHeader, PF_W, PF_X, PT_LOAD};
use kiln_environ::artifact::{ArtifactKind, Verified};
use kiln_environ::descriptor::Span;
use std::collections::HashMap;
use std::ffi::{c_void, CStr, CString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// Libraries loaded from files mapped directly, by device and inode.
type Loaded = HashMap<(u64, u64), Weak<Library>>;

/// The libraries loaded from files mapped directly; the lock also serializes every `dlopen`
/// and `dlclose` of the loader.
fn loaded() -> &'static Mutex<Loaded> {
    static LOADED: OnceLock<Mutex<Loaded>> = OnceLock::new();
    LOADED.get_or_init(|| Mutex::new(HashMap::new()))
}

/// A `dlopen`ed, verified kiln shared object, closed when the last module using it is dropped.
pub(crate) struct Library {
    handle: *mut c_void,
    /// The file's identity when it is mapped directly (the key in [`loaded`]).
    identity: Option<Identity>,
    /// Where the object is mapped: run-time address = `base` + link-time address.
    base: usize,
    /// The verified open file (or sealed copy), kept open while the object is loaded: memory
    /// images are mapped from it, and its `/proc` name must not be reused meanwhile.
    fd: OwnedFd,
    /// The name the object was opened under (debuggers that attach later open it); removed
    /// after `dlclose`, after the descriptor closes.
    _name: LoadName,
    path: PathBuf,
    private_copy: bool,
}

// SAFETY: the handle is only used for `dlclose` on drop; the rest is plain data.
unsafe impl Send for Library {}
// SAFETY: as above.
unsafe impl Sync for Library {}

/// A `dlerror()` message without the name given to `dlopen` it starts with (a `/proc` fd
/// path the caller never saw; the load error already starts with the caller's path).
fn without_name<'a>(err: &'a str, given: &str) -> &'a str {
    err.strip_prefix(given)
        .and_then(|r| r.strip_prefix(": "))
        .unwrap_or(err)
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

/// glibc's public `struct link_map` head (`<link.h>`): `l_addr` is read, `l_name` replaced
/// (`super::name::publish_file_path`).
#[repr(C)]
pub(super) struct LinkMap {
    /// The load base.
    pub(super) l_addr: usize,
    /// The name debuggers show and open.
    pub(super) l_name: *mut libc::c_char,
}

/// How many times a name collision with another loaded object is retried.
const RETRIES: usize = 3;

impl Library {
    /// `dlopen`s the verified `source` (or shares the library already loaded from the same
    /// unchanged file) and checks the mapping against `v`.
    pub(crate) fn open(source: Source, v: &Verified, shown: &Path) -> Result<Arc<Library>, Error> {
        let shown_s = shown.display().to_string();
        let mut registry = loaded().lock().unwrap_or_else(|e| e.into_inner());
        let identity = source.identity();
        if let Some(id) = identity {
            if let Some(lib) = registry.get(&(id.dev, id.ino)).and_then(Weak::upgrade) {
                let checked = if lib.identity != Some(id) {
                    Err(Error::Load(format!(
                        "{shown_s}: the file was rewritten in place while an earlier version of \
                         it is loaded (write a new file and rename it over the old one)"
                    )))
                } else {
                    check_mapping(lib.handle, v)
                        .map(|_| ())
                        .map_err(|e| Error::Load(format!("{shown_s}: {}", e.msg)))
                };
                // Unlock before `lib` can be dropped: the last drop of a library takes the lock.
                drop(registry);
                return checked.map(|()| lib);
            }
        }
        let private_copy = source.is_private_copy();
        let mut attempt = 0;
        let mut fd = None;
        loop {
            let name = LoadName::new(
                fd.as_ref().unwrap_or_else(|| source.fd()),
                shown.file_name(),
            );
            // SAFETY: `name` is a valid C string naming the verified file: a kiln `.so` the
            // verifier accepted has no constructors, dependencies, IFUNCs or TLS, so loading it
            // runs nothing from it.
            let handle =
                unsafe { libc::dlopen(name.path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
            if handle.is_null() {
                let e = dlerror();
                let e = without_name(&e, &name.path.to_string_lossy());
                return Err(Error::Load(format!(
                    "{shown_s}: dlopen failed: {e} (is /proc mounted?)"
                )));
            }
            match check_mapping(handle, v) {
                Ok(base) => {
                    source.check_unchanged(&shown_s).inspect_err(|_| {
                        // SAFETY: the handle came from dlopen above and is not used again.
                        unsafe { libc::dlclose(handle) };
                    })?;
                    let fd = match fd {
                        Some(fd) => fd,
                        None => source.into_fd(),
                    };
                    if !private_copy {
                        super::name::publish_file_path(handle, &fd);
                    }
                    let lib = Arc::new(Library {
                        handle,
                        identity,
                        base,
                        fd,
                        _name: name,
                        path: shown.to_path_buf(),
                        private_copy,
                    });
                    if let Some(id) = identity {
                        registry.insert((id.dev, id.ino), Arc::downgrade(&lib));
                    }
                    return Ok(lib);
                }
                Err(e) => {
                    // SAFETY: as above.
                    unsafe { libc::dlclose(handle) };
                    attempt += 1;
                    if attempt > RETRIES || !e.renamable {
                        return Err(Error::Load(format!("{shown_s}: {}", e.msg)));
                    }
                    // Another object answers to this name: open ours under a fresh number.
                    let current = fd.as_ref().unwrap_or_else(|| source.fd());
                    // SAFETY: duplicates a valid descriptor (close-on-exec) at the lowest free
                    // number above it.
                    let raw = unsafe {
                        libc::fcntl(
                            current.as_raw_fd(),
                            libc::F_DUPFD_CLOEXEC,
                            current.as_raw_fd() + 1,
                        )
                    };
                    if raw < 0 {
                        return Err(Error::Load(format!("{shown_s}: {}", e.msg)));
                    }
                    // SAFETY: a fresh descriptor we own.
                    fd = Some(unsafe { OwnedFd::from_raw_fd(raw) });
                }
            }
        }
    }

    /// The run-time range of a link-time span.
    pub(crate) fn span(&self, span: Span) -> (usize, usize) {
        let s = span.relocated(self.base as u64);
        (s.addr as usize, s.len as usize)
    }

    /// A new handle on the verified file (or copy), for mapping memory images from it.
    pub(crate) fn image_file(&self) -> Option<File> {
        self.fd.try_clone().ok().map(File::from)
    }

    /// The path the object was loaded from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the object was loaded from a sealed private copy.
    pub(crate) fn is_private_copy(&self) -> bool {
        self.private_copy
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        let mut registry = loaded().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = self.identity {
            let key = (id.dev, id.ino);
            if registry.get(&key).is_some_and(|w| w.strong_count() == 0) {
                registry.remove(&key);
            }
        }
        // SAFETY: the handle came from `dlopen`; no module of this object is alive any more.
        // The descriptor (a field) closes after this, once the object is unloaded.
        unsafe { libc::dlclose(self.handle) };
    }
}

/// Why the mapped object is not the verified one.
struct MappingError {
    msg: String,
    /// The loader may have returned another object loaded under the same name.
    renamable: bool,
}

fn mapping_error(msg: impl Into<String>, renamable: bool) -> MappingError {
    MappingError {
        msg: msg.into(),
        renamable,
    }
}

struct PhdrSearch {
    base: usize,
    loads: Vec<(usize, usize, u32)>,
    found: bool,
}

unsafe extern "C" fn collect_loads(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> i32 {
    // SAFETY: `data` is the `PhdrSearch` passed to `dl_iterate_phdr`; `info` is valid for the
    // call.
    let (s, info) = unsafe { (&mut *data.cast::<PhdrSearch>(), &*info) };
    if info.dlpi_addr as usize != s.base || info.dlpi_phdr.is_null() {
        return 0;
    }
    for i in 0..info.dlpi_phnum as usize {
        // SAFETY: `dlpi_phdr` has `dlpi_phnum` entries.
        let ph = unsafe { &*info.dlpi_phdr.add(i) };
        if ph.p_type == libc::PT_LOAD {
            s.loads
                .push((ph.p_vaddr as usize, ph.p_memsz as usize, ph.p_flags));
        }
    }
    s.found = true;
    1
}

/// Checks the object behind `handle` against the verified layout; returns its load base.
fn check_mapping(handle: *mut c_void, v: &Verified) -> Result<usize, MappingError> {
    let mut lm: *const LinkMap = std::ptr::null();
    // SAFETY: a valid handle; RTLD_DI_LINKMAP writes a `struct link_map *`.
    let r = unsafe {
        libc::dlinfo(
            handle,
            libc::RTLD_DI_LINKMAP,
            (&mut lm as *mut *const LinkMap).cast(),
        )
    };
    if r != 0 || lm.is_null() {
        return Err(mapping_error(
            format!("dlinfo failed: {}", dlerror()),
            false,
        ));
    }
    // SAFETY: glibc's link map of a loaded object starts with `l_addr`.
    let base = unsafe { (*lm).l_addr };
    // The loaded segments must be exactly the verified ones.
    let mut s = PhdrSearch {
        base,
        loads: Vec::new(),
        found: false,
    };
    // SAFETY: the callback only reads the loader's program headers and writes `s`.
    unsafe { libc::dl_iterate_phdr(Some(collect_loads), (&mut s as *mut PhdrSearch).cast()) };
    let expected: Vec<(usize, usize, u32)> = v
        .loads
        .iter()
        .map(|p| (p.vaddr as usize, p.memsz as usize, p.flags))
        .collect();
    if !s.found || s.loads != expected {
        return Err(mapping_error(
            "the dynamic loader mapped an object other than the verified one",
            true,
        ));
    }
    // The descriptor symbol the loader resolves is the verified one.
    let symbol = CString::new(v.kind.symbol()).expect("no NUL");
    // SAFETY: a valid handle and symbol name.
    let desc = unsafe { libc::dlsym(handle, symbol.as_ptr()) } as usize;
    if desc != base.wrapping_add(v.descriptor_addr as usize) {
        return Err(mapping_error(
            "the descriptor symbol resolves elsewhere than verified",
            true,
        ));
    }
    // Every range the runtime will use lies in a mapped segment of the right kind, and the
    // descriptors in memory are the verified ones.
    let in_segment = |span: Span, code: bool, writable: bool| {
        span.len == 0
            || v.loads.iter().any(|p: &ProgramHeader| {
                p.p_type == PT_LOAD
                    && span.addr >= p.vaddr
                    && span.end().is_some_and(|e| e <= p.vaddr + p.memsz)
                    && (p.flags & PF_X != 0) == code
                    && (p.flags & PF_W != 0) == writable
            })
    };
    let mut descriptors = Vec::new();
    match v.kind {
        ArtifactKind::Module => {
            let d = v
                .module
                .as_ref()
                .expect("a verified module has its descriptor");
            descriptors.push((v.descriptor_addr, d.relocated(base as u64).encode()));
        }
        ArtifactKind::Component => {
            let d = v
                .component
                .as_ref()
                .expect("a verified component has its descriptor");
            descriptors.push((v.descriptor_addr, d.relocated(base as u64).encode()));
            let mut array = Vec::new();
            for (addr, _) in &v.component_modules {
                array.extend_from_slice(&(addr + base as u64).to_le_bytes());
            }
            if !array.is_empty() {
                descriptors.push((d.modules.addr, array));
            }
            if !in_segment(d.head.fingerprint, false, false)
                || !in_segment(d.head.metadata, false, false)
                || !in_segment(d.glue_text, true, false)
            {
                return Err(mapping_error(
                    "a descriptor range is not mapped as verified",
                    false,
                ));
            }
        }
    }
    for (addr, m) in &v.component_modules {
        descriptors.push((*addr, m.relocated(base as u64).encode()));
    }
    let modules = v
        .module
        .iter()
        .chain(v.component_modules.iter().map(|(_, m)| m));
    for m in modules {
        if !in_segment(m.head.fingerprint, false, false)
            || !in_segment(m.head.metadata, false, false)
            || !in_segment(m.data, false, false)
            || !in_segment(m.text, true, false)
        {
            return Err(mapping_error(
                "a descriptor range is not mapped as verified",
                false,
            ));
        }
    }
    for (addr, expected) in &descriptors {
        let span = Span::new(*addr, expected.len() as u64);
        if !(span.addr >= v.relro.addr
            && span.end().is_some_and(|e| e <= v.relro.addr + v.relro.len))
        {
            return Err(mapping_error(
                "a descriptor is not mapped as verified",
                false,
            ));
        }
        // SAFETY: the range lies in the verified RELRO range, inside a PT_LOAD segment that
        // the loader mapped (checked above against `dl_iterate_phdr`).
        let actual = unsafe {
            std::slice::from_raw_parts((base + *addr as usize) as *const u8, expected.len())
        };
        if actual != expected.as_slice() {
            return Err(mapping_error(
                "the object in memory differs from the verified file",
                true,
            ));
        }
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::without_name;

    #[test]
    fn dlopen_errors_do_not_repeat_the_name() {
        let e = "/proc/self/fd/7: cannot open shared object file: No such file or directory";
        assert_eq!(
            without_name(e, "/proc/self/fd/7"),
            "cannot open shared object file: No such file or directory"
        );
        assert_eq!(
            without_name("no such symbol", "/proc/self/fd/7"),
            "no such symbol"
        );
    }
}

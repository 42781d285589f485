//! The name `dlopen` opens a verified file under.
//!
//! The dynamic loader must open exactly the file that was verified, so it is given
//! `/proc/<pid>/fd/<n>` of the open descriptor, never the original path. Debuggers, though,
//! name a library after the last component of the name it was opened under (lldb prints
//! `5`square` for `/proc/<pid>/fd/5`). So when it can be done safely, the name is a symbolic
//! link `<dir>/<file name>` → `/proc/<pid>/fd/<n>` in a fresh private directory (`mkdtemp`,
//! mode 0700, in `$XDG_RUNTIME_DIR`, `/dev/shm` or the temporary directory: the first of them
//! that others cannot rename entries of; the first two are memory file systems, where this
//! costs tens of microseconds rather than hundreds). Debuggers show `calc.so`, and resolving
//! the link leads them (and their `.gnu_debuglink` search) to the real file — also a debugger
//! that attaches later, since the link and the descriptor it points through live as long as
//! the library is loaded; both are removed after its `dlclose`. A directory left behind by a
//! process that died is removed by the next process that makes a load name (the directory
//! names carry the process id). Each name is used once, so glibc's search of loaded objects by
//! name never matches a name an older object was opened under.
//!
//! Once the object is loaded, [`publish_file_path`] renames it in the loader's list of loaded
//! objects (`link_map::l_name`, what debuggers read through `r_debug`) to the real file's path:
//! the link and the descriptor die with the process, so a core file would otherwise name a
//! library nobody can open, while the real path lets gdb and lldb find it (and its
//! `.gnu_debuglink` file) with no search path set.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::OnceLock;

/// A name for `dlopen`, and the link to remove when it is no longer needed.
pub(crate) struct LoadName {
    /// The name to pass to `dlopen`.
    pub(crate) path: CString,
    link: Option<(PathBuf, PathBuf)>,
}

/// `/proc/<pid>/fd/<n>` of `fd`.
fn proc_path(fd: &OwnedFd) -> String {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    format!("/proc/{pid}/fd/{}", fd.as_raw_fd())
}

/// Whether nobody but this user or root can rename entries of `dir` (not writable by group or
/// others, or sticky).
fn private_parent(dir: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return false;
    };
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    meta.is_dir()
        && (meta.mode() & libc::S_ISVTX != 0
            || (meta.mode() & 0o022 == 0 && (meta.uid() == euid || meta.uid() == 0)))
}

/// Prefix of load-name directories: `kiln-load-<pid>-XXXXXX`.
const PREFIX: &str = "kiln-load-";

/// Where load names are made (chosen once, after removing what dead processes left there;
/// `None`: nowhere safe, use `/proc` names).
fn names_parent() -> Option<&'static PathBuf> {
    static PARENT: OnceLock<Option<PathBuf>> = OnceLock::new();
    PARENT
        .get_or_init(|| {
            let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
            let parent = runtime
                .into_iter()
                .chain([PathBuf::from("/dev/shm"), std::env::temp_dir()])
                .find(|d| d.is_absolute() && private_parent(d))?;
            remove_stale(&parent);
            Some(parent)
        })
        .as_ref()
}

/// Removes the load-name directories of this user's processes that no longer exist.
fn remove_stale(parent: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only checks whether the process exists.
        let dead = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        let ours = entry
            .metadata()
            .is_ok_and(|m| m.uid() == euid && m.is_dir());
        if dead && ours {
            let dir = entry.path();
            if let Ok(links) = std::fs::read_dir(&dir) {
                for link in links.flatten() {
                    let _ = std::fs::remove_file(link.path());
                }
            }
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// A fresh private directory (mode 0700) for one load name.
fn fresh_dir() -> Option<PathBuf> {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let mut bytes = names_parent()?
        .join(format!("{PREFIX}{pid}-XXXXXX"))
        .into_os_string()
        .into_vec();
    bytes.push(0);
    // SAFETY: a writable, NUL-terminated template ending in XXXXXX.
    let made = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
    if made.is_null() {
        return None;
    }
    bytes.pop();
    Some(PathBuf::from(OsStr::from_bytes(&bytes)))
}

impl LoadName {
    /// A fresh name for `fd`, ending in `file_name` when possible.
    pub(crate) fn new(fd: &OwnedFd, file_name: Option<&OsStr>) -> LoadName {
        let target = proc_path(fd);
        let fallback = || LoadName {
            path: CString::new(target.clone()).expect("a formatted path has no NUL byte"),
            link: None,
        };
        let Some(name) = file_name else {
            return fallback();
        };
        let Some(dir) = fresh_dir() else {
            return fallback();
        };
        let link = dir.join(name);
        let path = CString::new(link.as_os_str().as_bytes());
        match (std::os::unix::fs::symlink(&target, &link), path) {
            (Ok(()), Ok(path)) => LoadName {
                path,
                link: Some((link, dir)),
            },
            _ => {
                let _ = std::fs::remove_file(&link);
                let _ = std::fs::remove_dir(&dir);
                fallback()
            }
        }
    }
}

impl Drop for LoadName {
    fn drop(&mut self) {
        if let Some((link, dir)) = self.link.take() {
            let _ = std::fs::remove_file(link);
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
/// The current path of the file open as `fd` if that path still names it (an absolute path,
/// not deleted, same device and inode).
fn file_path(fd: &OwnedFd) -> Option<CString> {
    use std::os::unix::fs::MetadataExt;
    let path = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let named = std::fs::metadata(&path).ok()?;
    // SAFETY: fstat of a valid descriptor into a zeroed stat buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return None;
    }
    let same = named.dev() == st.st_dev && named.ino() == st.st_ino;
    (path.is_absolute() && same)
        .then(|| CString::new(path.into_os_string().into_vec()).ok())
        .flatten()
}

/// Makes the loader's entry for `handle` (loaded from `fd` under a one-use name) name the real
/// file, so that debuggers reading a core file — after the one-use name is gone — find the
/// library by themselves. Nothing happens where the file has no path that still names it (a
/// private copy, a deleted file). The old name is left allocated: other threads may be reading
/// it (`dl_iterate_phdr`); glibc frees the new one (allocated with `malloc`) at `dlclose`.
pub(crate) fn publish_file_path(handle: *mut libc::c_void, fd: &OwnedFd) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let Some(path) = file_path(fd) else { return };
        let mut map: *mut super::library::LinkMap = std::ptr::null_mut();
        // SAFETY: `handle` is a live dlopen handle; RTLD_DI_LINKMAP stores a `link_map *`.
        let got = unsafe {
            libc::dlinfo(
                handle,
                libc::RTLD_DI_LINKMAP,
                (&mut map as *mut *mut super::library::LinkMap).cast(),
            )
        };
        if got != 0 || map.is_null() {
            return;
        }
        // SAFETY: strdup of a NUL-terminated string; the copy is glibc's to free.
        let name = unsafe { libc::strdup(path.as_ptr()) };
        if name.is_null() {
            return;
        }
        // SAFETY: `map` is the object's live `link_map`, whose `l_name` field (after `l_addr`,
        // as `<link.h>` declares it) is an aligned pointer: one atomic store publishes the new
        // name; readers see the old or the new string, both valid.
        unsafe {
            let slot = std::ptr::addr_of_mut!((*map).l_name)
                .cast::<std::sync::atomic::AtomicPtr<libc::c_char>>();
            (*slot).store(name, std::sync::atomic::Ordering::Release);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = (handle, fd);
}

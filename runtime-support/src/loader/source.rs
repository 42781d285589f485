//! The bytes an artifact is verified and loaded from: the file itself, opened once, or a
//! sealed private copy of it.
//!
//! The loader verifies these bytes and then `dlopen`s `/proc/<pid>/fd/<n>` of the same open
//! file, so the dynamic loader maps the very inode that was read, whatever happens to the path.
//! What stays to decide is whether anyone could *rewrite* that inode between the check and the
//! mapping (or later: private mappings of a file see later writes to pages they have not copied):
//!
//! - **shared** (the default when it is safe): the file is mapped directly, so its code pages
//!   are shared by every process that loads it. Chosen only when nobody but this process's
//!   effective user or root can write the file (owner is one of them, no group or other write
//!   permission); those principals can already change this process in other ways. The file's
//!   identity (device, inode, size, modification and change times) is checked again after
//!   `dlopen`.
//! - **private copy**: otherwise (or when [`ArtifactSharing::AlwaysCopy`] asks for it), the
//!   file is copied into a `memfd` that is then sealed against every write, grow and shrink;
//!   verification and `dlopen` both use the sealed copy, so nothing can change it. Costs one
//!   copy of the file in memory per load, not shared between processes.

use crate::error::Error;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// How the runtime maps verified artifacts (see the module documentation of `loader/source.rs`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum ArtifactSharing {
    /// Map the file itself (its code pages shared between processes) when only this user or
    /// root can write it; otherwise load a sealed private copy.
    #[default]
    Auto,
    /// Always load a sealed private copy (`memfd`): nothing can change the bytes after they are
    /// verified, even on file systems whose permissions do not tell who can write.
    AlwaysCopy,
}

/// Largest artifact the loader reads.
pub const MAX_ARTIFACT: u64 = 1 << 32;

/// The identity of a file, compared after `dlopen`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Identity {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    size: i64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn identity(fd: &impl AsRawFd) -> std::io::Result<(Identity, u32, u32)> {
    // SAFETY: `stat` is plain data; fstat fills it for a valid descriptor.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a valid out-pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((
        Identity {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        },
        st.st_mode,
        st.st_uid,
    ))
}

/// An open artifact: the descriptor to load from and a read-only mapping of its bytes.
pub(crate) struct Source {
    fd: OwnedFd,
    map: *const u8,
    len: usize,
    /// The file's identity when mapped directly (`None` for a sealed copy).
    identity: Option<Identity>,
}

// SAFETY: the mapping is read-only and owned by this value.
unsafe impl Send for Source {}

fn io_error(shown: &str, what: &str, e: std::io::Error) -> Error {
    Error::Load(format!("{shown}: {what}: {e}"))
}

impl Source {
    /// Opens `path` once and maps its bytes (or those of a sealed copy) read-only.
    pub(crate) fn open(path: &Path, sharing: ArtifactSharing) -> Result<Source, Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let shown = path.display().to_string();
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(|e| io_error(&shown, "cannot open", e))?;
        let (id, mode, uid) = identity(&file).map_err(|e| io_error(&shown, "cannot stat", e))?;
        if mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Error::Load(format!(
                "{shown}: not a regular file, so not a kiln shared object"
            )));
        }
        if id.size <= 0 || id.size as u64 > MAX_ARTIFACT {
            return Err(Error::Load(format!(
                "{shown}: not a kiln shared object ({} bytes)",
                id.size
            )));
        }
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        let only_trusted_writers = (uid == euid || uid == 0) && mode & 0o022 == 0;
        let (fd, identity) = if sharing == ArtifactSharing::Auto && only_trusted_writers {
            (OwnedFd::from(file), Some(id))
        } else {
            (sealed_copy(&shown, file, id.size as u64)?, None)
        };
        let len = id.size as usize;
        // SAFETY: maps `len` bytes of a regular file (or sealed memfd) read-only and private.
        // (Faulting the pages in as the checksum reads them measured a little faster than
        // MAP_POPULATE.)
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                fd.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io_error(
                &shown,
                "cannot map",
                std::io::Error::last_os_error(),
            ));
        }
        Ok(Source {
            fd,
            map: map as *const u8,
            len,
            identity,
        })
    }

    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `map` is a live read-only mapping of `len` bytes owned by `self`. The file
        // behind it is a sealed copy or writable only by trusted principals (module docs).
        unsafe { std::slice::from_raw_parts(self.map, self.len) }
    }

    /// The open file (or sealed copy).
    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Whether this is a sealed private copy.
    pub(crate) fn is_private_copy(&self) -> bool {
        self.identity.is_none()
    }

    /// The file's identity when mapped directly (`None` for a sealed copy).
    pub(crate) fn identity(&self) -> Option<Identity> {
        self.identity
    }

    /// Checks that the file was not changed since it was opened (a sealed copy cannot be).
    pub(crate) fn check_unchanged(&self, shown: &str) -> Result<(), Error> {
        let Some(before) = self.identity else {
            return Ok(());
        };
        let (now, _, _) = identity(&self.fd).map_err(|e| io_error(shown, "cannot stat", e))?;
        if now != before {
            return Err(Error::Load(format!(
                "{shown}: the file changed while it was being loaded"
            )));
        }
        Ok(())
    }

    /// Gives up the mapping and returns the open file.
    pub(crate) fn into_fd(self) -> OwnedFd {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the mapping is ours; `this` is never used again (ManuallyDrop).
        unsafe { libc::munmap(this.map as *mut _, this.len) };
        // SAFETY: moves the descriptor out of a value that is not dropped.
        unsafe { std::ptr::read(&this.fd) }
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and no slice of it outlives `self`.
        unsafe { libc::munmap(self.map as *mut _, self.len) };
    }
}

/// Copies `size` bytes of `file` into a new memfd and seals it against any change.
fn sealed_copy(shown: &str, mut file: File, size: u64) -> Result<OwnedFd, Error> {
    let name = CString::new("kiln-artifact").expect("no NUL");
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3+): the copy will be mapped executable; older kernels reject the flag.
    const MFD_EXEC: libc::c_uint = 0x0010;
    // SAFETY: a valid name and flags.
    let mut raw = unsafe { libc::memfd_create(name.as_ptr(), flags | MFD_EXEC) };
    if raw < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // SAFETY: as above.
        raw = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    }
    if raw < 0 {
        return Err(io_error(
            shown,
            "cannot create a private copy (memfd_create)",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: a fresh descriptor we own.
    let mut copy = unsafe { File::from_raw_fd(raw) };
    let copied = std::io::copy(&mut std::io::Read::take(&mut file, size), &mut copy)
        .map_err(|e| io_error(shown, "cannot copy", e))?;
    if copied != size {
        return Err(Error::Load(format!(
            "{shown}: the file changed while it was being copied"
        )));
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: a valid memfd created with MFD_ALLOW_SEALING.
    if unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(io_error(
            shown,
            "cannot seal the private copy",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(OwnedFd::from(copy))
}

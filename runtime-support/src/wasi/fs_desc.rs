//! The object behind a `wasi:filesystem/types#descriptor` handle ([`Desc`]: an open file or
//! directory of a preopened tree) and every descriptor operation, as plain Rust over
//! `fs_sys` and the sandboxed resolution of `fs_path`. Errors are `error-code` case names;
//! `filesystem.rs` turns arguments and results into component values.
//!
//! Permissions follow wasmtime: a read-only preopen (and everything opened under it) refuses
//! every change with `not-permitted` before the host filesystem is touched.

use super::fs_path::{self, resolve, Resolved, ESCAPE};
use super::fs_sys::{self, code, cstr, Code, SetTime};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
#[cfg(target_os = "linux")]
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Most bytes one `read` call (or stream read) returns.
pub(crate) const MAX_READ: usize = 1 << 20;

/// `descriptor-flags` bits.
pub(crate) mod dflag {
    /// `read`
    pub const READ: u8 = 1;
    /// `write`
    pub const WRITE: u8 = 2;
    /// `file-integrity-sync`
    pub const FILE_SYNC: u8 = 4;
    /// `data-integrity-sync`
    pub const DATA_SYNC: u8 = 8;
    /// `requested-write-sync`
    pub const READ_SYNC: u8 = 16;
    /// `mutate-directory`
    pub const MUTATE: u8 = 32;
    /// The flag names, by bit.
    pub const NAMES: [(&str, u8); 6] = [
        ("read", READ),
        ("write", WRITE),
        ("file-integrity-sync", FILE_SYNC),
        ("data-integrity-sync", DATA_SYNC),
        ("requested-write-sync", READ_SYNC),
        ("mutate-directory", MUTATE),
    ];
}

/// `open-flags` bits.
pub(crate) mod oflag {
    /// `create`
    pub const CREATE: u8 = 1;
    /// `directory`
    pub const DIRECTORY: u8 = 2;
    /// `exclusive`
    pub const EXCLUSIVE: u8 = 4;
    /// `truncate`
    pub const TRUNCATE: u8 = 8;
    /// The flag names, by bit.
    pub const NAMES: [(&str, u8); 4] = [
        ("create", CREATE),
        ("directory", DIRECTORY),
        ("exclusive", EXCLUSIVE),
        ("truncate", TRUNCATE),
    ];
}

/// An open file or directory the guest holds.
#[derive(Clone)]
pub(crate) struct Desc {
    /// The host descriptor (`O_RDONLY | O_DIRECTORY` for directories).
    pub fd: Arc<OwnedFd>,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Whether the tree it belongs to may be changed (its preopen is not read-only).
    pub writable: bool,
    /// The `descriptor-flags` it was opened with ([`dflag`] bits).
    pub flags: u8,
}

/// What a `stat` reports, in WASI terms.
pub(crate) struct Stat {
    /// The `descriptor-type` case.
    pub ty: &'static str,
    /// Hard links.
    pub nlink: u64,
    /// Size in bytes.
    pub size: u64,
    /// Access, modification and status-change times (seconds, nanoseconds), if representable.
    pub times: [Option<(u64, u32)>; 3],
}

/// The `descriptor-type` case of a `st_mode`.
pub(crate) fn mode_type(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => "directory",
        libc::S_IFREG => "regular-file",
        libc::S_IFLNK => "symbolic-link",
        libc::S_IFBLK => "block-device",
        libc::S_IFCHR => "character-device",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        _ => "unknown",
    }
}

/// The `descriptor-type` case of a directory entry's `d_type`.
pub(crate) fn dtype_type(t: u8) -> Option<&'static str> {
    Some(match t {
        libc::DT_DIR => "directory",
        libc::DT_REG => "regular-file",
        libc::DT_LNK => "symbolic-link",
        libc::DT_BLK => "block-device",
        libc::DT_CHR => "character-device",
        libc::DT_FIFO => "fifo",
        libc::DT_SOCK => "socket",
        _ => return None,
    })
}

fn time(sec: i64, nsec: i64) -> Option<(u64, u32)> {
    Some((u64::try_from(sec).ok()?, u32::try_from(nsec).ok()?))
}

impl From<&libc::stat> for Stat {
    // `st_nlink`'s width differs between targets.
    #[allow(clippy::unnecessary_cast)]
    fn from(st: &libc::stat) -> Stat {
        Stat {
            ty: mode_type(st.st_mode),
            nlink: st.st_nlink as u64,
            size: st.st_size as u64,
            times: [
                time(st.st_atime, st.st_atime_nsec),
                time(st.st_mtime, st.st_mtime_nsec),
                time(st.st_ctime, st.st_ctime_nsec),
            ],
        }
    }
}

/// A 128-bit `metadata-hash-value` (lower, upper) of a file's identity (device, inode):
/// equal for the same object, stable across calls and processes.
// `st_dev` and `st_ino` differ in width between targets.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn identity_hash(st: &libc::stat) -> (u64, u64) {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let (dev, ino) = (st.st_dev as u64, st.st_ino as u64);
    let lower = mix(mix(dev ^ 0x9e37_79b9_7f4a_7c15).wrapping_add(ino));
    let upper = mix(lower ^ mix(ino.rotate_left(32) ^ dev));
    (lower, upper)
}

/// Strips trailing `/` from a path that names what an operation creates or removes (the
/// link itself, never its target); reports whether there were any (it must then be a
/// directory).
fn strip_slashes(path: &str) -> (&str, bool) {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() || trimmed.len() == path.len() {
        (path, false)
    } else {
        (trimmed, true)
    }
}

/// Whether `openat2` failed permanently (old kernel, seccomp filter): use the walk only.
#[cfg(target_os = "linux")]
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

impl Desc {
    /// A descriptor for the directory `fd` (a preopen).
    pub(crate) fn preopen(fd: OwnedFd, writable: bool) -> Desc {
        let flags = dflag::READ | if writable { dflag::MUTATE } else { 0 };
        Desc {
            fd: Arc::new(fd),
            is_dir: true,
            writable,
            flags,
        }
    }

    fn raw(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The descriptor of a file (`bad-descriptor` for a directory, as wasmtime).
    pub(crate) fn file(&self) -> Result<BorrowedFd<'_>, Code> {
        if self.is_dir {
            Err("bad-descriptor")
        } else {
            Ok(self.raw())
        }
    }

    /// The descriptor of a directory (`not-directory` for a file).
    pub(crate) fn dir(&self) -> Result<BorrowedFd<'_>, Code> {
        if self.is_dir {
            Ok(self.raw())
        } else {
            Err("not-directory")
        }
    }

    /// Fails with `not-permitted` when the tree is read-only.
    pub(crate) fn check_writable(&self) -> Result<(), Code> {
        if self.writable {
            Ok(())
        } else {
            Err("not-permitted")
        }
    }

    /// `advise`.
    pub(crate) fn advise(&self, offset: u64, len: u64, advice: &str) -> Result<(), Code> {
        let fd = self.file()?;
        let a = match advice {
            "normal" => libc::POSIX_FADV_NORMAL,
            "sequential" => libc::POSIX_FADV_SEQUENTIAL,
            "random" => libc::POSIX_FADV_RANDOM,
            "will-need" => libc::POSIX_FADV_WILLNEED,
            "dont-need" => libc::POSIX_FADV_DONTNEED,
            "no-reuse" => libc::POSIX_FADV_NOREUSE,
            _ => return Err("invalid"),
        };
        fs_sys::fadvise(fd, offset, len, a).map_err(code)
    }

    /// `sync` (`data_only`: `sync-data`).
    pub(crate) fn sync(&self, data_only: bool) -> Result<(), Code> {
        fs_sys::sync(self.raw(), data_only).map_err(code)
    }

    /// `get-flags` ([`dflag`] bits).
    pub(crate) fn get_flags(&self) -> Result<u8, Code> {
        fs_sys::getfl(self.raw()).map_err(code)?;
        Ok(self.flags)
    }

    /// `get-type`.
    pub(crate) fn get_type(&self) -> Result<&'static str, Code> {
        if self.is_dir {
            return Ok("directory");
        }
        Ok(mode_type(fs_sys::fstat(self.raw()).map_err(code)?.st_mode))
    }

    /// `set-size`.
    pub(crate) fn set_size(&self, size: u64) -> Result<(), Code> {
        let fd = self.file()?;
        self.check_writable()?;
        fs_sys::ftruncate(fd, size).map_err(code)
    }

    /// `set-times`.
    pub(crate) fn set_times(&self, atime: SetTime, mtime: SetTime) -> Result<(), Code> {
        self.check_writable()?;
        fs_sys::futimens(self.raw(), atime, mtime).map_err(code)
    }

    /// `read`: at most [`MAX_READ`] bytes at `offset`, and whether the end was reached.
    pub(crate) fn read(&self, len: u64, offset: u64) -> Result<(Vec<u8>, bool), Code> {
        let fd = self.file()?;
        let len = usize::try_from(len).unwrap_or(usize::MAX).min(MAX_READ);
        let data = fs_sys::pread(fd, len, offset).map_err(code)?;
        let end = data.is_empty() && len > 0;
        Ok((data, end))
    }

    /// `write`: how many bytes of `data` were written at `offset`.
    pub(crate) fn write(&self, data: &[u8], offset: u64) -> Result<u64, Code> {
        let fd = self.file()?;
        self.check_writable()?;
        fs_sys::pwrite(fd, data, offset)
            .map(|n| n as u64)
            .map_err(code)
    }

    /// `stat`.
    pub(crate) fn stat(&self) -> Result<libc::stat, Code> {
        fs_sys::fstat(self.raw()).map_err(code)
    }

    /// Resolves `path` beneath this directory.
    fn at(&self, path: &str, follow: bool) -> Result<Resolved<'_>, Code> {
        resolve(self.dir()?, path, follow)
    }

    /// `stat-at` (and `metadata-hash-at`).
    pub(crate) fn stat_at(&self, follow: bool, path: &str) -> Result<libc::stat, Code> {
        let r = self.at(path, follow)?;
        let st = fs_sys::fstatat(r.dir(), &r.name, false).map_err(code)?;
        if r.must_dir && st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err("not-directory");
        }
        Ok(st)
    }

    /// `set-times-at`.
    pub(crate) fn set_times_at(
        &self,
        follow: bool,
        path: &str,
        atime: SetTime,
        mtime: SetTime,
    ) -> Result<(), Code> {
        self.dir()?;
        self.check_writable()?;
        let r = self.at(path, follow)?;
        fs_sys::utimensat(r.dir(), &r.name, atime, mtime).map_err(code)
    }

    /// Resolves a path naming something to create, remove or rename (never followed).
    fn entry_at(&self, path: &str) -> Result<(Resolved<'_>, bool), Code> {
        let (path, must_dir) = strip_slashes(path);
        Ok((self.at(path, false)?, must_dir))
    }

    /// Fails with `not-directory` when a path written with a trailing `/` names something
    /// other than a directory.
    fn check_dir_entry(r: &Resolved<'_>, must_dir: bool) -> Result<(), Code> {
        if must_dir {
            let st = fs_sys::fstatat(r.dir(), &r.name, false).map_err(code)?;
            if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                return Err("not-directory");
            }
        }
        Ok(())
    }

    /// `create-directory-at`.
    pub(crate) fn create_directory_at(&self, path: &str) -> Result<(), Code> {
        self.dir()?;
        self.check_writable()?;
        let (r, _) = self.entry_at(path)?;
        fs_sys::mkdirat(r.dir(), &r.name).map_err(code)
    }

    /// `link-at`: a new hard link `new_path` under `new` to `old_path`.
    pub(crate) fn link_at(
        &self,
        follow: bool,
        old_path: &str,
        new: &Desc,
        new_path: &str,
    ) -> Result<(), Code> {
        self.dir()?;
        new.dir()?;
        self.check_writable()?;
        new.check_writable()?;
        if follow {
            return Err("invalid");
        }
        let (old, old_dir) = self.entry_at(old_path)?;
        Self::check_dir_entry(&old, old_dir)?;
        let (newr, _) = new.entry_at(new_path)?;
        fs_sys::linkat(old.dir(), &old.name, newr.dir(), &newr.name).map_err(code)
    }

    /// `open-at`.
    pub(crate) fn open_at(
        &self,
        follow: bool,
        path: &str,
        oflags: u8,
        flags: u8,
    ) -> Result<Desc, Code> {
        let dir = self.dir()?;
        let create = oflags & oflag::CREATE != 0;
        let truncate = oflags & oflag::TRUNCATE != 0;
        let directory = oflags & oflag::DIRECTORY != 0;
        if directory && (create || truncate || oflags & oflag::EXCLUSIVE != 0) {
            return Err("invalid");
        }
        // Creating or truncating needs write access (as wasmtime opens such files).
        let write = flags & dflag::WRITE != 0 || create || truncate;
        let read = flags & dflag::READ != 0 || !write;
        if write && !self.writable {
            return Err("not-permitted");
        }
        let mut os = match (read, write) {
            (true, true) => libc::O_RDWR,
            (false, true) => libc::O_WRONLY,
            _ => libc::O_RDONLY,
        };
        os |= libc::O_NOCTTY;
        if create {
            os |= libc::O_CREAT;
            if oflags & oflag::EXCLUSIVE != 0 {
                os |= libc::O_EXCL;
            }
        }
        if truncate {
            os |= libc::O_TRUNC;
        }
        if directory {
            os |= libc::O_DIRECTORY;
        }
        if flags & dflag::FILE_SYNC != 0 {
            os |= libc::O_SYNC;
        }
        if flags & dflag::DATA_SYNC != 0 {
            os |= libc::O_DSYNC;
        }
        let fd = open_beneath(dir, path, follow, os)?;
        let st = fs_sys::fstat(fd.as_fd()).map_err(code)?;
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        if directory && !is_dir {
            return Err("not-directory");
        }
        let mut got = flags & (dflag::FILE_SYNC | dflag::DATA_SYNC | dflag::READ_SYNC);
        if is_dir {
            got |= dflag::READ;
            if self.writable && flags & (dflag::MUTATE | dflag::WRITE) != 0 {
                got |= dflag::MUTATE;
            }
        } else {
            if read {
                got |= dflag::READ;
            }
            if write {
                got |= dflag::WRITE;
            }
        }
        Ok(Desc {
            fd: Arc::new(fd),
            is_dir,
            writable: self.writable,
            flags: got,
        })
    }

    /// `readlink-at` (an absolute target is not revealed: `not-permitted`, as wasmtime).
    pub(crate) fn readlink_at(&self, path: &str) -> Result<String, Code> {
        let (r, _) = self.entry_at(path)?;
        let target = fs_sys::readlinkat(r.dir(), &r.name).map_err(code)?;
        if target.starts_with(b"/") {
            return Err(ESCAPE);
        }
        String::from_utf8(target).map_err(|_| "illegal-byte-sequence")
    }

    /// `remove-directory-at`.
    pub(crate) fn remove_directory_at(&self, path: &str) -> Result<(), Code> {
        self.dir()?;
        self.check_writable()?;
        let (r, _) = self.entry_at(path)?;
        fs_sys::unlinkat(r.dir(), &r.name, true).map_err(code)
    }

    /// `rename-at`.
    pub(crate) fn rename_at(&self, old_path: &str, new: &Desc, new_path: &str) -> Result<(), Code> {
        self.dir()?;
        new.dir()?;
        self.check_writable()?;
        new.check_writable()?;
        let (old, old_dir) = self.entry_at(old_path)?;
        Self::check_dir_entry(&old, old_dir)?;
        let (newr, _) = new.entry_at(new_path)?;
        fs_sys::renameat(old.dir(), &old.name, newr.dir(), &newr.name).map_err(code)
    }

    /// `symlink-at`: a link `new_path` to `target`, which must stay inside this directory's
    /// tree as seen from where the link is made (else `not-permitted`).
    pub(crate) fn symlink_at(&self, target: &str, new_path: &str) -> Result<(), Code> {
        self.dir()?;
        self.check_writable()?;
        if target.len() > fs_path::MAX_PATH {
            return Err("name-too-long");
        }
        let (r, _) = self.entry_at(new_path)?;
        if fs_path::target_escapes(target, r.depth()) {
            return Err(ESCAPE);
        }
        let t = cstr(target.as_bytes()).map_err(code)?;
        fs_sys::symlinkat(&t, r.dir(), &r.name).map_err(code)
    }

    /// `unlink-file-at`.
    pub(crate) fn unlink_file_at(&self, path: &str) -> Result<(), Code> {
        self.dir()?;
        self.check_writable()?;
        let (r, must_dir) = self.entry_at(path)?;
        if must_dir {
            // `file/` names a directory: never a file to unlink.
            Self::check_dir_entry(&r, true)?;
            return Err("is-directory");
        }
        fs_sys::unlinkat(r.dir(), &r.name, false).map_err(code)
    }

    /// `is-same-object`.
    pub(crate) fn is_same_object(&self, other: &Desc) -> bool {
        match (fs_sys::fstat(self.raw()), fs_sys::fstat(other.raw())) {
            (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
            _ => false,
        }
    }
}

/// Opens `path` beneath `dir` with `open` flags `os` (its last component followed when
/// `follow`): Linux `openat2(RESOLVE_BENEATH)` when the kernel has it, else the component
/// walk of `fs_path` and an `O_NOFOLLOW` open of the last component.
pub(crate) fn open_beneath(
    dir: BorrowedFd<'_>,
    path: &str,
    follow: bool,
    os: i32,
) -> Result<OwnedFd, Code> {
    #[cfg(target_os = "linux")]
    if !NO_OPENAT2.load(Ordering::Relaxed)
        && !path.is_empty()
        && !path.starts_with('/')
        && path.len() <= fs_path::MAX_PATH
    {
        if let Ok(p) = cstr(path.as_bytes()) {
            let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
            for _ in 0..4 {
                match fs_sys::openat2_beneath(dir, &p, os | nofollow, 0o666) {
                    Ok(fd) => return Ok(fd),
                    // A rename elsewhere raced the lookup: try again, then walk.
                    Err(libc::EAGAIN) => continue,
                    Err(libc::EXDEV) => return Err(ESCAPE),
                    Err(libc::ENOSYS) => {
                        NO_OPENAT2.store(true, Ordering::Relaxed);
                        break;
                    }
                    // Some sandboxes refuse the call with EPERM: the walk finds the truth.
                    Err(libc::EPERM) => break,
                    Err(e) => return Err(code(e)),
                }
            }
        }
    }
    open_walk(dir, path, follow, os)
}

/// The component walk of [`open_beneath`]: `fs_path` resolution, then an `O_NOFOLLOW` open
/// of the last component.
pub(crate) fn open_walk(
    dir: BorrowedFd<'_>,
    path: &str,
    follow: bool,
    os: i32,
) -> Result<OwnedFd, Code> {
    let r = resolve(dir, path, follow)?;
    let mut os = os | libc::O_NOFOLLOW;
    if r.must_dir {
        os |= libc::O_DIRECTORY;
    }
    fs_sys::openat(r.dir(), &r.name, os, 0o666).map_err(code)
}

//! Thin wrappers over the `*at` system calls the sandboxed filesystem (`filesystem.rs`) is
//! built on: each returns `Err(errno)` instead of setting `errno`, takes names as C strings
//! and never follows a symbolic link unless told to. Also maps an errno to its
//! `wasi:filesystem/types#error-code` case name.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A `wasi:filesystem/types#error-code` case name (`"no-entry"`, ...).
pub(crate) type Code = &'static str;

/// An OS error number.
pub(crate) type Errno = i32;

/// The calling thread's last OS error number.
pub(crate) fn errno() -> Errno {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The `error-code` case for OS error `e` (`None` for numbers WASI has no case for).
pub(crate) fn errno_case(e: Errno) -> Option<Code> {
    Some(match e {
        libc::EACCES => "access",
        libc::EAGAIN => "would-block",
        libc::EALREADY => "already",
        libc::EBADF => "bad-descriptor",
        libc::EBUSY => "busy",
        libc::EDEADLK => "deadlock",
        libc::EDQUOT => "quota",
        libc::EEXIST => "exist",
        libc::EFBIG => "file-too-large",
        libc::EILSEQ => "illegal-byte-sequence",
        libc::EINPROGRESS => "in-progress",
        libc::EINTR => "interrupted",
        libc::EINVAL => "invalid",
        libc::EIO => "io",
        libc::EISDIR => "is-directory",
        libc::ELOOP => "loop",
        libc::EMLINK => "too-many-links",
        libc::EMSGSIZE => "message-size",
        libc::ENAMETOOLONG => "name-too-long",
        libc::ENODEV => "no-device",
        libc::ENOENT => "no-entry",
        libc::ENOLCK => "no-lock",
        libc::ENOMEM => "insufficient-memory",
        libc::ENOSPC => "insufficient-space",
        libc::ENOTDIR => "not-directory",
        libc::ENOTEMPTY => "not-empty",
        libc::ENOTRECOVERABLE => "not-recoverable",
        libc::ENOTSUP | libc::ENOSYS => "unsupported",
        libc::ENOTTY => "no-tty",
        libc::ENXIO => "no-such-device",
        libc::EOVERFLOW => "overflow",
        libc::EPERM => "not-permitted",
        libc::EPIPE => "pipe",
        libc::EROFS => "read-only",
        libc::ESPIPE => "invalid-seek",
        libc::ETXTBSY => "text-file-busy",
        libc::EXDEV => "cross-device",
        _ => return None,
    })
}

/// The `error-code` case for OS error `e` (`io` when WASI has no closer case).
pub(crate) fn code(e: Errno) -> Code {
    errno_case(e).unwrap_or("io")
}

/// `r` as a result: `-1` is the last OS error.
fn check(r: libc::c_int) -> Result<libc::c_int, Errno> {
    if r == -1 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// Retries `f` while it fails with `EINTR`.
fn retry<T>(mut f: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    loop {
        match f() {
            Err(libc::EINTR) => continue,
            r => return r,
        }
    }
}

/// A path component or name as a C string (`EINVAL` if it holds a NUL byte).
pub(crate) fn cstr(name: &[u8]) -> Result<CString, Errno> {
    CString::new(name).map_err(|_| libc::EINVAL)
}

/// `openat(dir, name, flags | O_CLOEXEC, mode)`.
pub(crate) fn openat(
    dir: BorrowedFd<'_>,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> Result<OwnedFd, Errno> {
    let fd = retry(|| {
        // SAFETY: `name` is a valid NUL-terminated string and `dir` a live descriptor.
        check(unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                flags | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        })
    })?;
    // SAFETY: `openat` returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Linux `openat2(dir, path, flags | O_CLOEXEC, mode, RESOLVE_BENEATH |
/// RESOLVE_NO_MAGICLINKS)`: the kernel resolves `path` without leaving `dir` (`EXDEV` if it
/// would). `ENOSYS` when the kernel lacks the call.
#[cfg(target_os = "linux")]
pub(crate) fn openat2_beneath(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> Result<OwnedFd, Errno> {
    // SAFETY: `open_how` is a plain C struct; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = if flags & libc::O_CREAT != 0 {
        mode as u64
    } else {
        0
    };
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    let fd = retry(|| {
        // SAFETY: `path` is NUL-terminated, `how` a valid `open_how` of the size passed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if r < 0 {
            Err(errno())
        } else {
            Ok(r as RawFd)
        }
    })?;
    // SAFETY: the call returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fstatat(dir, name, flags)` (`AT_SYMLINK_NOFOLLOW` unless `follow`).
pub(crate) fn fstatat(dir: BorrowedFd<'_>, name: &CStr, follow: bool) -> Result<libc::stat, Errno> {
    // SAFETY: `stat` is a plain C struct; all-zero is valid and fully overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    // SAFETY: valid descriptor, NUL-terminated name, writable `stat` buffer.
    check(unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, flags) })?;
    Ok(st)
}

/// `fstat(fd)`.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> Result<libc::stat, Errno> {
    // SAFETY: `stat` is a plain C struct; all-zero is valid and fully overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, writable `stat` buffer.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// Longest symbolic link target read (`name-too-long` beyond).
pub(crate) const MAX_LINK: usize = 4096;

/// `readlinkat(dir, name)`: the link's target bytes (`EINVAL` when `name` is not a link).
pub(crate) fn readlinkat(dir: BorrowedFd<'_>, name: &CStr) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; MAX_LINK + 1];
    // SAFETY: valid descriptor and name; `buf` is writable for its length.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(errno());
    }
    let n = n as usize;
    if n > MAX_LINK {
        return Err(libc::ENAMETOOLONG);
    }
    buf.truncate(n);
    Ok(buf)
}

/// `mkdirat(dir, name, 0o777)`.
pub(crate) fn mkdirat(dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    // SAFETY: valid descriptor and NUL-terminated name.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o777) }).map(drop)
}

/// `unlinkat(dir, name, AT_REMOVEDIR if dir_)`.
pub(crate) fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, remove_dir: bool) -> Result<(), Errno> {
    let flags = if remove_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: valid descriptor and NUL-terminated name.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// `renameat(old_dir, old, new_dir, new)`.
pub(crate) fn renameat(
    old_dir: BorrowedFd<'_>,
    old: &CStr,
    new_dir: BorrowedFd<'_>,
    new: &CStr,
) -> Result<(), Errno> {
    // SAFETY: valid descriptors and NUL-terminated names.
    check(unsafe {
        libc::renameat(
            old_dir.as_raw_fd(),
            old.as_ptr(),
            new_dir.as_raw_fd(),
            new.as_ptr(),
        )
    })
    .map(drop)
}

/// `linkat(old_dir, old, new_dir, new, 0)` (a link to `old` itself, never its target).
pub(crate) fn linkat(
    old_dir: BorrowedFd<'_>,
    old: &CStr,
    new_dir: BorrowedFd<'_>,
    new: &CStr,
) -> Result<(), Errno> {
    // SAFETY: valid descriptors and NUL-terminated names.
    check(unsafe {
        libc::linkat(
            old_dir.as_raw_fd(),
            old.as_ptr(),
            new_dir.as_raw_fd(),
            new.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// `symlinkat(target, dir, name)`.
pub(crate) fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    // SAFETY: valid descriptor and NUL-terminated strings.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// A time to set: `None` leaves it unchanged (`UTIME_OMIT`), `Some(None)` is now.
/// Seconds may be negative (before 1970: WASI 0.3's `instant`).
pub(crate) type SetTime = Option<Option<(i128, u32)>>;

fn timespec(t: SetTime) -> Result<libc::timespec, Errno> {
    Ok(match t {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(None) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(Some((s, ns))) => {
            let extra = i128::from(ns / 1_000_000_000);
            let secs = s.checked_add(extra).ok_or(libc::EOVERFLOW)?;
            libc::timespec {
                tv_sec: libc::time_t::try_from(secs).map_err(|_| libc::EOVERFLOW)?,
                tv_nsec: libc::c_long::from(ns % 1_000_000_000),
            }
        }
    })
}

/// `utimensat(dir, name, [atime, mtime], AT_SYMLINK_NOFOLLOW)`.
pub(crate) fn utimensat(
    dir: BorrowedFd<'_>,
    name: &CStr,
    atime: SetTime,
    mtime: SetTime,
) -> Result<(), Errno> {
    let ts = [timespec(atime)?, timespec(mtime)?];
    // SAFETY: valid descriptor, NUL-terminated name, two timespecs.
    check(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            name.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// `futimens(fd, [atime, mtime])`.
pub(crate) fn futimens(fd: BorrowedFd<'_>, atime: SetTime, mtime: SetTime) -> Result<(), Errno> {
    let ts = [timespec(atime)?, timespec(mtime)?];
    // SAFETY: valid descriptor and two timespecs.
    check(unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) }).map(drop)
}

/// `ftruncate(fd, size)`.
pub(crate) fn ftruncate(fd: BorrowedFd<'_>, size: u64) -> Result<(), Errno> {
    let size = libc::off_t::try_from(size).map_err(|_| libc::EFBIG)?;
    // SAFETY: valid descriptor.
    retry(|| check(unsafe { libc::ftruncate(fd.as_raw_fd(), size) })).map(drop)
}

/// `pread(fd, len, offset)`: the bytes read (empty at the end of the file).
pub(crate) fn pread(fd: BorrowedFd<'_>, len: usize, offset: u64) -> Result<Vec<u8>, Errno> {
    let off = libc::off_t::try_from(offset).map_err(|_| libc::EINVAL)?;
    let mut buf = vec![0u8; len];
    let n = retry(|| {
        // SAFETY: `buf` is writable for `len` bytes; valid descriptor.
        let n = unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), len, off) };
        if n < 0 {
            Err(errno())
        } else {
            Ok(n as usize)
        }
    })?;
    buf.truncate(n);
    Ok(buf)
}

/// `pwrite(fd, data, offset)`: how many bytes were written.
pub(crate) fn pwrite(fd: BorrowedFd<'_>, data: &[u8], offset: u64) -> Result<usize, Errno> {
    let off = libc::off_t::try_from(offset).map_err(|_| libc::EFBIG)?;
    retry(|| {
        // SAFETY: `data` is readable for its length; valid descriptor.
        let n = unsafe { libc::pwrite(fd.as_raw_fd(), data.as_ptr().cast(), data.len(), off) };
        if n < 0 {
            Err(errno())
        } else {
            Ok(n as usize)
        }
    })
}

/// Appends `data` at the end of the file atomically (`pwritev2(RWF_APPEND)`), or, on kernels
/// without it, at the size `fstat` reports.
pub(crate) fn append(fd: BorrowedFd<'_>, data: &[u8]) -> Result<usize, Errno> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let iov = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        let r = retry(|| {
            // SAFETY: one iovec over `data`, readable for its length; valid descriptor.
            let n = unsafe { libc::pwritev2(fd.as_raw_fd(), &iov, 1, -1, libc::RWF_APPEND) };
            if n < 0 {
                Err(errno())
            } else {
                Ok(n as usize)
            }
        });
        match r {
            Err(libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL) => {}
            r => return r,
        }
    }
    let size = fstat(fd)?.st_size as u64;
    pwrite(fd, data, size)
}

/// `fsync(fd)` (`data_only`: `fdatasync`).
pub(crate) fn sync(fd: BorrowedFd<'_>, data_only: bool) -> Result<(), Errno> {
    // SAFETY: valid descriptor.
    check(unsafe {
        if data_only {
            libc::fdatasync(fd.as_raw_fd())
        } else {
            libc::fsync(fd.as_raw_fd())
        }
    })
    .map(drop)
}

/// `posix_fadvise(fd, offset, len, advice)`.
pub(crate) fn fadvise(
    fd: BorrowedFd<'_>,
    offset: u64,
    len: u64,
    advice: libc::c_int,
) -> Result<(), Errno> {
    let off = libc::off_t::try_from(offset).map_err(|_| libc::EINVAL)?;
    let len = libc::off_t::try_from(len).map_err(|_| libc::EINVAL)?;
    // SAFETY: valid descriptor; the call only reads its arguments.
    match unsafe { libc::posix_fadvise(fd.as_raw_fd(), off, len, advice) } {
        0 => Ok(()),
        e => Err(e),
    }
}

/// `fcntl(fd, F_GETFL)`.
pub(crate) fn getfl(fd: BorrowedFd<'_>) -> Result<libc::c_int, Errno> {
    // SAFETY: valid descriptor; F_GETFL takes no argument.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })
}

/// An open directory stream (`fdopendir`) over its own descriptor.
pub(crate) struct DirStream(*mut libc::DIR);

// SAFETY: the `DIR` is owned by this value alone and only used through `&mut self`, so moving
// it to another thread is sound (glibc's `DIR` has no thread affinity).
unsafe impl Send for DirStream {}

impl DirStream {
    /// Opens a stream over `dir` (re-opened as `.`, so its position is its own).
    pub(crate) fn open(dir: BorrowedFd<'_>) -> Result<DirStream, Errno> {
        let fd = openat(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        let raw = fd.as_raw_fd();
        // SAFETY: `raw` is a valid directory descriptor.
        let d = unsafe { libc::fdopendir(raw) };
        if d.is_null() {
            return Err(errno());
        }
        // The `DIR` owns the descriptor now.
        std::mem::forget(fd);
        Ok(DirStream(d))
    }

    /// The next entry: its name and `d_type` (`None` at the end).
    pub(crate) fn next(&mut self) -> Result<Option<(Vec<u8>, u8)>, Errno> {
        loop {
            // SAFETY: reset errno so that the end of the stream is told apart from an error.
            unsafe { *libc::__errno_location() = 0 };
            // SAFETY: `self.0` is a live `DIR` owned by `self`.
            let ent = unsafe { libc::readdir(self.0) };
            if ent.is_null() {
                let e = errno();
                return if e == 0 { Ok(None) } else { Err(e) };
            }
            // SAFETY: `readdir` returned a valid entry whose `d_name` is NUL-terminated; it
            // stays valid until the next `readdir` on this stream, and is copied here.
            let (name, ty) = unsafe {
                let name = CStr::from_ptr((*ent).d_name.as_ptr()).to_bytes().to_vec();
                (name, (*ent).d_type)
            };
            if name == b"." || name == b".." {
                continue;
            }
            return Ok(Some((name, ty)));
        }
    }

    /// The descriptor of the directory being read.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: `dirfd` of a live `DIR` is a descriptor valid as long as the stream is.
        unsafe { BorrowedFd::borrow_raw(libc::dirfd(self.0)) }
    }
}

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a live `DIR` owned by `self`, closed once here.
        unsafe { libc::closedir(self.0) };
    }
}

//! Capability-safe path resolution for `wasi:filesystem`: a guest path is resolved beneath a
//! directory descriptor one component at a time with `openat(O_PATH | O_DIRECTORY |
//! O_NOFOLLOW)` from the descriptor itself, keeping a stack of the directories walked so
//! that `..` pops (and fails with `not-permitted` at the bottom). Symbolic links are never
//! followed by the kernel: their targets are read and resolved by the same rules (an
//! absolute target or one climbing out is `not-permitted`), so a link swapped by another
//! process between two steps can never lead outside. The last component is left to the
//! operation (which uses its `*at` call with `AT_SYMLINK_NOFOLLOW`/`O_NOFOLLOW`), after
//! following it here when the WASI path flags say `symlink-follow`.

use super::fs_sys::{self, cstr, Code};
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Longest guest path accepted (`name-too-long` beyond).
pub(crate) const MAX_PATH: usize = 4096;
/// Deepest directory nesting a path may walk through.
const MAX_DEPTH: usize = 256;
/// Most symbolic links followed while resolving one path (`loop` beyond), as Linux.
const MAX_LINKS: usize = 40;

/// The error of a path leading outside its directory (`..` at the top, an absolute path or
/// symbolic link target), as wasmtime reports it.
pub(crate) const ESCAPE: Code = "not-permitted";

/// Where a path leads: the directory holding its last component, and that component.
pub(crate) struct Resolved<'a> {
    root: BorrowedFd<'a>,
    stack: Vec<OwnedFd>,
    /// The last component (`.` when the path names the directory it ends in).
    pub name: CString,
    /// Whether the path ended in `/`: what it names must be a directory.
    pub must_dir: bool,
}

impl Resolved<'_> {
    /// The directory holding the last component.
    pub(crate) fn dir(&self) -> BorrowedFd<'_> {
        match self.stack.last() {
            Some(fd) => fd.as_fd(),
            None => self.root,
        }
    }

    /// How many directories below the root the last component's directory is.
    pub(crate) fn depth(&self) -> usize {
        self.stack.len()
    }
}

/// Pushes the components of `path` onto `comps` so that popping yields them in order.
fn push_components(comps: &mut Vec<Vec<u8>>, path: &[u8]) {
    for c in path.split(|&b| b == b'/').rev() {
        if !c.is_empty() {
            comps.push(c.to_vec());
        }
    }
}

/// Checks a guest path before resolution: not empty, not absolute, no NUL, not too long.
fn check_path(path: &[u8]) -> Result<(), Code> {
    if path.len() > MAX_PATH {
        return Err("name-too-long");
    }
    if path.is_empty() {
        return Err("no-entry");
    }
    if path[0] == b'/' {
        return Err(ESCAPE);
    }
    if path.contains(&0) {
        return Err("invalid");
    }
    Ok(())
}

/// Resolves `path` beneath `root`. Every directory on the way is entered without following
/// a symbolic link by the kernel; links met on the way are expanded here. The last component
/// is expanded too when `follow` (or when the path ends in `/`).
pub(crate) fn resolve<'a>(
    root: BorrowedFd<'a>,
    path: &str,
    follow: bool,
) -> Result<Resolved<'a>, Code> {
    let path = path.as_bytes();
    check_path(path)?;
    let mut comps = Vec::new();
    push_components(&mut comps, path);
    let mut r = Resolved {
        root,
        stack: Vec::new(),
        name: c".".into(),
        must_dir: path.ends_with(b"/"),
    };
    let mut links = 0;
    while let Some(c) = comps.pop() {
        let last = comps.is_empty();
        match c.as_slice() {
            b"." => {}
            b".." => {
                if r.stack.pop().is_none() {
                    return Err(ESCAPE);
                }
            }
            name => {
                let cname = cstr(name).map_err(fs_sys::code)?;
                if last && !(follow || r.must_dir) {
                    r.name = cname;
                    return Ok(r);
                }
                if last {
                    // Follow the last component if it is a link; anything else (not a
                    // link, missing, unreadable) is for the operation to find.
                    match fs_sys::readlinkat(r.dir(), &cname) {
                        Ok(target) => {
                            expand(&mut comps, &mut links, &target, &mut r.must_dir)?;
                            continue;
                        }
                        Err(_) => {
                            r.name = cname;
                            return Ok(r);
                        }
                    }
                }
                let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
                match fs_sys::openat(r.dir(), &cname, flags, 0) {
                    Ok(fd) => {
                        if r.stack.len() >= MAX_DEPTH {
                            return Err("name-too-long");
                        }
                        r.stack.push(fd);
                    }
                    Err(e @ (libc::ENOTDIR | libc::ELOOP)) => {
                        match fs_sys::readlinkat(r.dir(), &cname) {
                            Ok(target) => {
                                let mut dir = false;
                                expand(&mut comps, &mut links, &target, &mut dir)?;
                            }
                            Err(_) => return Err(fs_sys::code(e)),
                        }
                    }
                    Err(e) => return Err(fs_sys::code(e)),
                }
            }
        }
    }
    // The path ended in `.` or `..` (or a link to them): it names the directory reached.
    r.name = c".".into();
    Ok(r)
}

/// Replaces a symbolic link met during resolution by its `target`'s components.
fn expand(
    comps: &mut Vec<Vec<u8>>,
    links: &mut usize,
    target: &[u8],
    must_dir: &mut bool,
) -> Result<(), Code> {
    *links += 1;
    if *links > MAX_LINKS {
        return Err("loop");
    }
    if target.is_empty() {
        return Err("no-entry");
    }
    if target[0] == b'/' {
        return Err(ESCAPE);
    }
    if target.ends_with(b"/") {
        *must_dir = true;
    }
    push_components(comps, target);
    Ok(())
}

/// Whether symbolic link `target`, placed in a directory `depth` levels below the root,
/// would climb out of the root (or is absolute): such links are refused at creation.
pub(crate) fn target_escapes(target: &str, depth: usize) -> bool {
    if target.starts_with('/') {
        return true;
    }
    let mut d = depth as isize;
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                d -= 1;
                if d < 0 {
                    return true;
                }
            }
            _ => d += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_targets() {
        assert!(target_escapes("/etc/passwd", 3));
        assert!(target_escapes("..", 0));
        assert!(target_escapes("a/../../x", 0));
        assert!(!target_escapes("a/../b", 0));
        assert!(!target_escapes("../x", 1));
        assert!(target_escapes("../../x", 1));
        assert!(!target_escapes("", 0));
    }
}

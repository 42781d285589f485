//! Unit tests of the sandboxed filesystem below the component layer: path resolution (both
//! the `openat2` fast path and the component walk), escapes through `..`, absolute paths and
//! symbolic links (pre-existing, made through WASI, and swapped concurrently), permissions of
//! read-only trees, and the descriptor operations' error codes.

use super::fs_desc::{dflag, oflag, open_beneath, open_walk, Desc};
use super::fs_path::resolve;
use super::fs_sys;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// A temporary tree: `base/{secret, outside/secret, root/...}`; `root` is the sandbox.
struct Tree {
    base: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        static N: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir().join(format!(
            "kiln-fs-unit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("root/sub/deeper")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(base.join("secret"), "outside!").unwrap();
        std::fs::write(base.join("outside/secret"), "outside!").unwrap();
        std::fs::write(base.join("root/file.txt"), "inside").unwrap();
        std::fs::write(base.join("root/sub/deeper/f"), "deep").unwrap();
        Tree { base }
    }

    fn root(&self) -> PathBuf {
        self.base.join("root")
    }

    fn desc(&self, writable: bool) -> Desc {
        let fd: OwnedFd = std::fs::File::open(self.root()).unwrap().into();
        Desc::preopen(fd, writable)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn read_fd(fd: OwnedFd) -> String {
    let data = fs_sys::pread(fd.as_fd(), 100, 0).unwrap();
    String::from_utf8(data).unwrap()
}

/// Opens `path` for reading both ways; both must agree.
fn open_both(d: &Desc, path: &str, follow: bool) -> Result<String, &'static str> {
    let fast = open_beneath(d.fd.as_fd(), path, follow, libc::O_RDONLY).map(read_fd);
    let walk = open_walk(d.fd.as_fd(), path, follow, libc::O_RDONLY).map(read_fd);
    assert_eq!(fast, walk, "openat2 and the walk disagree on {path:?}");
    walk
}

#[test]
fn plain_paths_resolve() {
    let t = Tree::new();
    let d = t.desc(true);
    assert_eq!(open_both(&d, "file.txt", false), Ok("inside".into()));
    assert_eq!(
        open_both(&d, "./sub/../file.txt", false),
        Ok("inside".into())
    );
    assert_eq!(open_both(&d, "sub/deeper/f", false), Ok("deep".into()));
    assert_eq!(open_both(&d, "sub//deeper/./f", true), Ok("deep".into()));
    assert_eq!(open_both(&d, "missing", true), Err("no-entry"));
    assert_eq!(open_both(&d, "file.txt/x", true), Err("not-directory"));
    assert_eq!(open_both(&d, "", true), Err("no-entry"));
    assert_eq!(open_both(&d, "a\0b", true), Err("invalid"));
    let long = "a/".repeat(3000);
    assert_eq!(open_both(&d, &long, true), Err("name-too-long"));
}

#[test]
fn dot_dot_and_absolute_paths_cannot_escape() {
    let t = Tree::new();
    let d = t.desc(true);
    for p in [
        "..",
        "../secret",
        "../outside/secret",
        "sub/../../secret",
        "sub/deeper/../../../secret",
        "./..",
        "/etc/passwd",
        "/",
    ] {
        assert_eq!(open_both(&d, p, true), Err("not-permitted"), "{p}");
        assert_eq!(open_both(&d, p, false), Err("not-permitted"), "{p}");
        assert_eq!(d.stat_at(true, p).err(), Some("not-permitted"), "{p}");
    }
    // A directory opened beneath the preopen is its own root.
    let sub = d
        .open_at(false, "sub", oflag::DIRECTORY, dflag::READ)
        .unwrap();
    assert_eq!(open_both(&sub, "../file.txt", true), Err("not-permitted"));
    assert_eq!(open_both(&sub, "deeper/f", true), Ok("deep".into()));
}

#[test]
fn symlinks_leading_out_are_never_followed() {
    let t = Tree::new();
    let root = t.root();
    symlink(t.base.join("secret"), root.join("abs")).unwrap();
    symlink("../secret", root.join("rel")).unwrap();
    symlink("..", root.join("up")).unwrap();
    symlink("sub/../../outside", root.join("sneaky")).unwrap();
    symlink("/proc/self/root/etc/passwd", root.join("magic")).unwrap();
    symlink("file.txt", root.join("inside")).unwrap();
    symlink("sub/deeper", root.join("deeplink")).unwrap();
    symlink("../file.txt", root.join("sub/back")).unwrap();
    symlink("loop2", root.join("loop1")).unwrap();
    symlink("loop1", root.join("loop2")).unwrap();
    let d = t.desc(true);
    for p in [
        "abs",
        "rel",
        "up/secret",
        "sneaky/secret",
        "magic",
        "up/root/file.txt",
    ] {
        assert_eq!(open_both(&d, p, true), Err("not-permitted"), "{p}");
        assert_eq!(d.stat_at(true, p).err(), Some("not-permitted"), "{p}");
    }
    // Without symlink-follow the last component is the link itself.
    assert_eq!(open_both(&d, "abs", false), Err("loop"));
    let st = d.stat_at(false, "abs").unwrap();
    assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
    // An intermediate link is always followed, and must stay inside.
    assert_eq!(open_both(&d, "up/secret", false), Err("not-permitted"));
    // Links that stay inside work.
    assert_eq!(open_both(&d, "inside", true), Ok("inside".into()));
    assert_eq!(open_both(&d, "deeplink/f", false), Ok("deep".into()));
    assert_eq!(open_both(&d, "sub/back", true), Ok("inside".into()));
    assert_eq!(open_both(&d, "loop1", true), Err("loop"));
    // readlink reveals relative targets, not absolute ones.
    assert_eq!(d.readlink_at("rel"), Ok("../secret".into()));
    assert_eq!(d.readlink_at("abs"), Err("not-permitted"));
    assert_eq!(d.readlink_at("file.txt"), Err("invalid"));
    // set-times through an outside link does not touch the target.
    let before = std::fs::metadata(t.base.join("secret"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        d.set_times_at(true, "abs", Some(Some((1, 0))), Some(Some((1, 0)))),
        Err("not-permitted")
    );
    let after = std::fs::metadata(t.base.join("secret"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn guest_made_symlinks_must_stay_inside() {
    let t = Tree::new();
    let d = t.desc(true);
    assert_eq!(d.symlink_at("../..", "up"), Err("not-permitted"));
    assert_eq!(d.symlink_at("..", "up"), Err("not-permitted"));
    assert_eq!(d.symlink_at("/etc/passwd", "abs"), Err("not-permitted"));
    assert_eq!(d.symlink_at("x/../../y", "esc"), Err("not-permitted"));
    assert_eq!(d.symlink_at("../x", "sub/../../l"), Err("not-permitted"));
    assert!(!t.root().join("up").exists() && !t.base.join("l").exists());
    // Climbing is fine as long as it stays inside.
    assert_eq!(d.symlink_at("../file.txt", "sub/l"), Ok(()));
    assert_eq!(open_both(&d, "sub/l", true), Ok("inside".into()));
    assert_eq!(d.symlink_at("file.txt", "sub/l"), Err("exist"));
}

#[test]
fn concurrent_symlink_swaps_never_lead_outside() {
    let t = Tree::new();
    let root = t.root();
    // `swap` flips between a directory inside and a link to the directory outside.
    std::fs::create_dir(root.join("real")).unwrap();
    std::fs::write(root.join("real/secret"), "inside").unwrap();
    symlink(t.base.join("outside"), root.join("evil_abs")).unwrap();
    symlink("../outside", root.join("evil_rel")).unwrap();
    std::fs::rename(root.join("real"), root.join("swap")).unwrap();
    let d = t.desc(true);
    assert_eq!(open_both(&d, "swap/secret", true), Ok("inside".into()));
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (root, stop) = (root.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let evil = if i.is_multiple_of(2) {
                    "evil_abs"
                } else {
                    "evil_rel"
                };
                // swap (dir) -> real; evil -> swap; ...; swap -> evil; real -> swap.
                let _ = std::fs::rename(root.join("swap"), root.join("real"));
                let _ = std::fs::rename(root.join(evil), root.join("swap"));
                std::thread::yield_now();
                let _ = std::fs::rename(root.join("swap"), root.join(evil));
                let _ = std::fs::rename(root.join("real"), root.join("swap"));
                std::thread::yield_now();
                i += 1;
            }
        })
    };
    let outside_ino = std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(t.base.join("outside/secret")).unwrap(),
    );
    let mut seen_inside = 0;
    for i in 0..3000u32 {
        let follow = i.is_multiple_of(2);
        for r in [
            open_beneath(d.fd.as_fd(), "swap/secret", follow, libc::O_RDONLY).map(read_fd),
            open_walk(d.fd.as_fd(), "swap/secret", follow, libc::O_RDONLY).map(read_fd),
        ] {
            match r {
                Ok(s) => {
                    assert_eq!(s, "inside", "read outside through a swapped link");
                    seen_inside += 1;
                }
                Err(e) => assert!(
                    matches!(e, "not-permitted" | "no-entry" | "not-directory" | "loop"),
                    "{e}"
                ),
            }
        }
        if let Ok(st) = d.stat_at(true, "swap/secret") {
            assert_ne!(st.st_ino, outside_ino, "stat reached outside");
        }
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().unwrap();
    // (Whether a read landed while `swap` was the directory is up to the scheduler.)
    let _ = seen_inside;
    assert_eq!(open_both(&d, "swap/secret", true), Ok("inside".into()));
    assert_eq!(
        std::fs::read_to_string(t.base.join("outside/secret")).unwrap(),
        "outside!"
    );
}

#[test]
fn read_only_trees_refuse_changes_before_touching_anything() {
    let t = Tree::new();
    let d = t.desc(false);
    let np = Err("not-permitted");
    assert_eq!(
        d.open_at(false, "new", oflag::CREATE, dflag::READ).err(),
        Some("not-permitted")
    );
    assert_eq!(
        d.open_at(false, "file.txt", 0, dflag::WRITE).err(),
        Some("not-permitted")
    );
    assert_eq!(
        d.open_at(false, "file.txt", oflag::TRUNCATE, dflag::READ)
            .err(),
        Some("not-permitted")
    );
    assert_eq!(d.create_directory_at("newdir"), np);
    assert_eq!(d.remove_directory_at("sub/deeper"), np);
    assert_eq!(d.unlink_file_at("file.txt"), np);
    assert_eq!(d.rename_at("file.txt", &d, "moved"), np);
    assert_eq!(d.symlink_at("file.txt", "l"), np);
    assert_eq!(d.link_at(false, "file.txt", &d, "l"), np);
    assert_eq!(d.set_times_at(false, "file.txt", None, Some(None)), np);
    let f = d.open_at(false, "file.txt", 0, dflag::READ).unwrap();
    assert_eq!(f.write(b"x", 0), Err("not-permitted"));
    assert_eq!(f.set_size(0), np);
    assert_eq!(f.set_times(Some(None), None), np);
    assert_eq!(f.read(100, 0), Ok((b"inside".to_vec(), false)));
    assert_eq!(f.read(100, 6), Ok((Vec::new(), true)));
    assert_eq!(f.get_flags(), Ok(dflag::READ));
    assert_eq!(d.get_flags(), Ok(dflag::READ));
    assert_eq!(
        std::fs::read_to_string(t.root().join("file.txt")).unwrap(),
        "inside"
    );
    // A writable tree, for contrast.
    let w = t.desc(true);
    assert_eq!(w.get_flags(), Ok(dflag::READ | dflag::MUTATE));
    let f = w
        .open_at(false, "new", oflag::CREATE | oflag::EXCLUSIVE, dflag::WRITE)
        .unwrap();
    assert_eq!(f.get_flags(), Ok(dflag::WRITE));
    assert_eq!(f.write(b"abc", 2), Ok(3));
    assert_eq!(std::fs::read(t.root().join("new")).unwrap(), b"\0\0abc");
    assert_eq!(
        w.open_at(false, "new", oflag::CREATE | oflag::EXCLUSIVE, dflag::WRITE)
            .err(),
        Some("exist")
    );
}

#[test]
fn descriptor_operations_report_wasi_error_codes() {
    let t = Tree::new();
    let d = t.desc(true);
    assert_eq!(d.create_directory_at("sub"), Err("exist"));
    assert_eq!(d.create_directory_at("new/"), Ok(()));
    assert_eq!(d.remove_directory_at("sub"), Err("not-empty"));
    assert_eq!(d.remove_directory_at("new/"), Ok(()));
    assert_eq!(d.remove_directory_at("file.txt"), Err("not-directory"));
    assert_eq!(d.unlink_file_at("sub"), Err("is-directory"));
    assert_eq!(d.unlink_file_at("file.txt/"), Err("not-directory"));
    assert_eq!(d.unlink_file_at("missing"), Err("no-entry"));
    assert_eq!(
        d.open_at(false, "file.txt", oflag::DIRECTORY, dflag::READ)
            .err(),
        Some("not-directory")
    );
    assert_eq!(
        d.open_at(false, "sub", oflag::DIRECTORY | oflag::CREATE, dflag::READ)
            .err(),
        Some("invalid")
    );
    assert_eq!(
        d.open_at(false, "sub", 0, dflag::READ | dflag::WRITE).err(),
        Some("is-directory")
    );
    let f = d.open_at(false, "file.txt", 0, dflag::READ).unwrap();
    assert_eq!(f.get_type(), Ok("regular-file"));
    assert_eq!(f.create_directory_at("x"), Err("not-directory"));
    assert_eq!(f.write(b"x", 0), Err("bad-descriptor"));
    assert_eq!(d.read(1, 0), Err("bad-descriptor"));
    assert_eq!(d.get_type(), Ok("directory"));
    // Hard links, renames, identity.
    assert_eq!(d.link_at(false, "file.txt", &d, "hard"), Ok(()));
    assert_eq!(d.link_at(true, "file.txt", &d, "hard2"), Err("invalid"));
    let h = d.open_at(false, "hard", 0, dflag::READ).unwrap();
    assert!(f.is_same_object(&h));
    assert!(!f.is_same_object(&d));
    assert_eq!(d.stat_at(false, "hard").unwrap().st_nlink, 2);
    let sub = d
        .open_at(false, "sub", oflag::DIRECTORY, dflag::READ)
        .unwrap();
    assert_eq!(d.rename_at("hard", &sub, "moved"), Ok(()));
    assert_eq!(
        std::fs::read_to_string(t.root().join("sub/moved")).unwrap(),
        "inside"
    );
    assert_eq!(d.rename_at("missing", &sub, "x"), Err("no-entry"));
    assert_eq!(
        d.rename_at("file.txt", &sub, "../../x"),
        Err("not-permitted")
    );
    // Times.
    assert_eq!(
        d.set_times_at(
            false,
            "file.txt",
            Some(Some((1000, 5))),
            Some(Some((2000, 7)))
        ),
        Ok(())
    );
    let st = d.stat_at(false, "file.txt").unwrap();
    assert_eq!((st.st_atime, st.st_atime_nsec), (1000, 5));
    assert_eq!((st.st_mtime, st.st_mtime_nsec), (2000, 7));
    assert_eq!(
        d.set_times_at(
            false,
            "file.txt",
            None,
            Some(Some((i128::from(u64::MAX), 0)))
        ),
        Err("overflow")
    );
}

#[test]
fn errno_mapping() {
    let cases = [
        (libc::ENOENT, "no-entry"),
        (libc::EACCES, "access"),
        (libc::EPERM, "not-permitted"),
        (libc::EEXIST, "exist"),
        (libc::ENOTDIR, "not-directory"),
        (libc::EISDIR, "is-directory"),
        (libc::ENOTEMPTY, "not-empty"),
        (libc::ELOOP, "loop"),
        (libc::ENAMETOOLONG, "name-too-long"),
        (libc::EXDEV, "cross-device"),
        (libc::EINVAL, "invalid"),
        (libc::EROFS, "read-only"),
        (libc::ENOSPC, "insufficient-space"),
        (libc::EBADF, "bad-descriptor"),
    ];
    for (e, c) in cases {
        assert_eq!(fs_sys::errno_case(e), Some(c), "errno {e}");
    }
    assert_eq!(fs_sys::errno_case(libc::ECHILD), None);
    assert_eq!(fs_sys::code(libc::ECHILD), "io");
}

#[test]
fn resolution_reports_the_parent_and_last_component() {
    let t = Tree::new();
    let d = t.desc(true);
    let r = resolve(d.fd.as_fd(), "sub/deeper/f", false).unwrap();
    assert_eq!((r.depth(), r.name.to_bytes()), (2, &b"f"[..]));
    let r = resolve(d.fd.as_fd(), "sub/deeper/..", false).unwrap();
    assert_eq!((r.depth(), r.name.to_bytes()), (1, &b"."[..]));
    let r = resolve(d.fd.as_fd(), "sub/", false).unwrap();
    assert!(r.must_dir);
    assert!(Path::new(&t.root()).join("sub").is_dir());
}

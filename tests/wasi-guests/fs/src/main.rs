//! The filesystem test guest of `tests/tests/wasi_fs.rs` (a WASI 0.2 command). It expects
//! preopens `/data` (read-write) and `/ro` (read-only, holding `keep.txt` = "keep me"), and in
//! `/data` the host-made links `link_out` (absolute, to a secret file outside), `rel_out`
//! (`../secret`) and `dir_out` (`..`). It exercises files and directories through `std::fs`
//! and escape attempts both through `std` and through raw `wasi:filesystem` imports (which
//! reach the host with exactly the path given), then writes one line per check to
//! `/data/report.txt` ("ok NAME" or "FAIL NAME: why") and exits with status 0 only if every
//! check passed.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};

struct Report {
    lines: Vec<String>,
    failed: usize,
}

impl Report {
    fn check(&mut self, name: &str, ok: bool, why: impl std::fmt::Debug) {
        if ok {
            self.lines.push(format!("ok {name}"));
        } else {
            self.failed += 1;
            self.lines.push(format!("FAIL {name}: {why:?}"));
        }
    }
}

/// Raw `wasi:filesystem` imports (canonical ABI, lowered by hand).
mod raw {
    #[link(wasm_import_module = "wasi:filesystem/preopens@0.2.0")]
    extern "C" {
        #[link_name = "get-directories"]
        fn get_directories(ret: *mut u32);
    }

    #[link(wasm_import_module = "wasi:filesystem/types@0.2.0")]
    extern "C" {
        #[link_name = "[method]descriptor.open-at"]
        fn open_at(
            this: i32,
            path_flags: i32,
            path: *const u8,
            path_len: usize,
            open_flags: i32,
            flags: i32,
            ret: *mut u32,
        );
        #[link_name = "[method]descriptor.symlink-at"]
        fn symlink_at(
            this: i32,
            old: *const u8,
            old_len: usize,
            new: *const u8,
            new_len: usize,
            ret: *mut u32,
        );
        #[link_name = "[method]descriptor.readlink-at"]
        fn readlink_at(this: i32, path: *const u8, path_len: usize, ret: *mut u32);
        #[link_name = "[resource-drop]descriptor"]
        fn drop_descriptor(this: i32);
    }

    /// `error-code::not-permitted`.
    pub const NOT_PERMITTED: u32 = 31;
    /// `error-code::loop`.
    pub const LOOP: u32 = 15;
    /// `error-code::no-entry`.
    pub const NO_ENTRY: u32 = 20;

    /// The preopens: (handle, guest path).
    pub fn preopens() -> Vec<(i32, String)> {
        let mut ret = [0u32; 2];
        // SAFETY: the import writes a list (pointer, length) into `ret`; each element is a
        // 12-byte (handle, string pointer, string length) tuple allocated by cabi_realloc.
        unsafe {
            get_directories(ret.as_mut_ptr());
            let (ptr, len) = (ret[0] as *const u32, ret[1] as usize);
            (0..len)
                .map(|i| {
                    let e = ptr.add(i * 3);
                    let s = std::slice::from_raw_parts(*e.add(1) as *const u8, *e.add(2) as usize);
                    (*e as i32, String::from_utf8_lossy(s).into_owned())
                })
                .collect()
        }
    }

    /// `open-at`: the new handle (dropped at once) or the error code.
    pub fn open(dir: i32, follow: bool, path: &str, oflags: i32, flags: i32) -> Result<(), u32> {
        let mut ret = [0u32; 2];
        // SAFETY: `path` is valid for its length; the result is written into `ret`.
        unsafe {
            open_at(
                dir,
                follow as i32,
                path.as_ptr(),
                path.len(),
                oflags,
                flags,
                ret.as_mut_ptr(),
            );
            if ret[0] & 0xff == 0 {
                drop_descriptor(ret[1] as i32);
                Ok(())
            } else {
                Err(ret[1] & 0xff)
            }
        }
    }

    /// `symlink-at`.
    pub fn symlink(dir: i32, target: &str, path: &str) -> Result<(), u32> {
        let mut ret = [0u32; 2];
        // SAFETY: both strings are valid for their lengths; the result goes into `ret`.
        unsafe {
            symlink_at(
                dir,
                target.as_ptr(),
                target.len(),
                path.as_ptr(),
                path.len(),
                ret.as_mut_ptr(),
            );
        }
        // `result<_, error-code>`: a byte tag, then the error code byte.
        if ret[0] & 0xff == 0 {
            Ok(())
        } else {
            Err((ret[0] >> 8) & 0xff)
        }
    }

    /// `readlink-at`.
    pub fn readlink(dir: i32, path: &str) -> Result<String, u32> {
        let mut ret = [0u32; 3];
        // SAFETY: `path` is valid; the result (tag, then string or error code) goes into `ret`.
        unsafe {
            readlink_at(dir, path.as_ptr(), path.len(), ret.as_mut_ptr());
            if ret[0] & 0xff == 0 {
                let s = std::slice::from_raw_parts(ret[1] as *const u8, ret[2] as usize);
                Ok(String::from_utf8_lossy(s).into_owned())
            } else {
                Err(ret[1] & 0xff)
            }
        }
    }
}

/// `symlink(2)` of wasi-libc (std's own wrapper is unstable).
fn symlink(target: &str, path: &str) -> std::io::Result<()> {
    extern "C" {
        fn symlink(target: *const std::ffi::c_char, path: *const std::ffi::c_char) -> i32;
    }
    let t = std::ffi::CString::new(target)?;
    let p = std::ffi::CString::new(path)?;
    // SAFETY: both are valid NUL-terminated strings.
    if unsafe { symlink(t.as_ptr(), p.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

const READ: i32 = 1;
const WRITE: i32 = 2;
const CREATE: i32 = 1;

fn std_checks(r: &mut Report) {
    // Write, read back, append.
    let w = fs::write("/data/hello.txt", "hello world");
    r.check("write", w.is_ok(), &w);
    let s = fs::read_to_string("/data/hello.txt");
    r.check("read back", s.as_deref().ok() == Some("hello world"), &s);
    let a = fs::OpenOptions::new()
        .append(true)
        .open("/data/hello.txt")
        .and_then(|mut f| f.write_all(b" more"));
    r.check("append", a.is_ok(), &a);
    let s = fs::read_to_string("/data/hello.txt");
    r.check(
        "read appended",
        s.as_deref().ok() == Some("hello world more"),
        &s,
    );

    // Stat.
    let m = fs::metadata("/data/hello.txt");
    r.check(
        "stat file",
        m.as_ref().is_ok_and(|m| m.is_file() && m.len() == 16),
        &m,
    );
    let m = fs::metadata("/data");
    r.check("stat dir", m.as_ref().is_ok_and(|m| m.is_dir()), &m);
    let m = fs::metadata("/data/hello.txt").and_then(|m| m.modified());
    r.check("mtime", m.is_ok(), &m);

    // Seek-style reads.
    let seek = fs::File::open("/data/hello.txt").and_then(|mut f| {
        let mut buf = [0u8; 5];
        f.seek(SeekFrom::Start(6))?;
        f.read_exact(&mut buf)?;
        let first = buf;
        f.seek(SeekFrom::End(-4))?;
        let mut rest = String::new();
        f.read_to_string(&mut rest)?;
        Ok((first, rest))
    });
    r.check(
        "seek reads",
        seek.as_ref()
            .is_ok_and(|(a, b)| a == b"world" && b == "more"),
        &seek,
    );

    // Overwrite in the middle through a read-write handle.
    let rw = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/data/hello.txt")
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(0))?;
            f.write_all(b"HELLO")?;
            f.set_len(11)
        });
    r.check("overwrite and truncate", rw.is_ok(), &rw);
    let s = fs::read_to_string("/data/hello.txt");
    r.check("overwritten", s.as_deref().ok() == Some("HELLO world"), &s);

    // Directories.
    let c = fs::create_dir_all("/data/d1/d2");
    r.check("create dirs", c.is_ok(), &c);
    let w = fs::write("/data/d1/f.txt", "x");
    r.check("write in dir", w.is_ok(), &w);
    let names = fs::read_dir("/data/d1").and_then(|it| {
        let mut v = it
            .map(|e| {
                e.map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.file_type().map(|t| t.is_dir()).unwrap_or(false),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        v.sort();
        Ok(v)
    });
    r.check(
        "list dir",
        names.as_deref().ok()
            == Some(&[("d2".to_string(), true), ("f.txt".to_string(), false)][..]),
        &names,
    );
    let e = fs::create_dir("/data/d1");
    r.check(
        "create existing dir fails",
        e.as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::AlreadyExists),
        &e,
    );
    let e = fs::remove_dir("/data/d1");
    r.check("remove non-empty dir fails", e.is_err(), &e);
    let e = fs::remove_dir("/data/d1/d2");
    r.check("remove dir", e.is_ok(), &e);
    let e = fs::metadata("/data/d1/d2");
    r.check(
        "removed dir gone",
        e.as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound),
        &e,
    );

    let e = fs::create_dir("/data/keepdir");
    r.check("create keepdir", e.is_ok(), &e);

    // Rename and unlink.
    let e = fs::rename("/data/d1/f.txt", "/data/moved.txt");
    r.check("rename", e.is_ok(), &e);
    r.check(
        "rename source gone",
        fs::metadata("/data/d1/f.txt").is_err(),
        "",
    );
    let s = fs::read_to_string("/data/moved.txt");
    r.check("rename target", s.as_deref().ok() == Some("x"), &s);
    let e = fs::remove_file("/data/moved.txt");
    r.check("unlink", e.is_ok(), &e);
    r.check(
        "unlinked gone",
        fs::metadata("/data/moved.txt").is_err(),
        "",
    );
    let e = fs::remove_dir("/data/d1");
    r.check("remove emptied dir", e.is_ok(), &e);
    let e = fs::read("/data/nope.txt");
    r.check(
        "missing file",
        e.as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound),
        &e,
    );

    // Hard links, copies, times, sync, large files.
    let e = fs::hard_link("/data/hello.txt", "/data/hard.txt");
    r.check("hard link", e.is_ok(), &e);
    let n = fs::read_to_string("/data/hard.txt");
    r.check(
        "read hard link",
        n.as_deref().ok() == Some("HELLO world"),
        &n,
    );
    let e = fs::remove_file("/data/hard.txt");
    r.check("unlink hard link", e.is_ok(), &e);
    let e = fs::copy("/data/hello.txt", "/data/copy.txt");
    r.check("copy", e.as_ref().ok() == Some(&11), &e);
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_000_000_000, 123_456_789);
    let e = fs::File::options()
        .write(true)
        .open("/data/copy.txt")
        .and_then(|f| {
            f.set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))?;
            f.sync_all()?;
            f.sync_data()
        });
    r.check("set times and sync", e.is_ok(), &e);
    let m = fs::metadata("/data/copy.txt").and_then(|m| m.modified());
    r.check("times read back", m.as_ref().ok() == Some(&t), &m);
    let e = fs::remove_file("/data/copy.txt");
    r.check("unlink copy", e.is_ok(), &e);
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let e = fs::write("/data/big.bin", &big);
    r.check("write 3 MB", e.is_ok(), &e);
    let back = fs::read("/data/big.bin");
    r.check(
        "read 3 MB back",
        back.as_ref().is_ok_and(|b| *b == big),
        back.as_ref().map(|b| b.len()),
    );
    let e = fs::OpenOptions::new()
        .write(true)
        .open("/data/big.bin")
        .and_then(|f| f.set_len(10));
    r.check("shrink", e.is_ok(), &e);
    let m = fs::metadata("/data/big.bin").map(|m| m.len());
    r.check("shrunk size", m.as_ref().ok() == Some(&10), &m);
    let e = fs::remove_file("/data/big.bin");
    r.check("unlink big", e.is_ok(), &e);

    // A link inside the sandbox works both ways.
    let e = symlink("hello.txt", "/data/inlink");
    r.check("symlink inside", e.is_ok(), &e);
    let s = fs::read_to_string("/data/inlink");
    r.check(
        "read through inside link",
        s.as_deref().ok() == Some("HELLO world"),
        &s,
    );
    let l = fs::read_link("/data/inlink");
    r.check(
        "readlink",
        l.as_ref().is_ok_and(|p| p.to_str() == Some("hello.txt")),
        &l,
    );
    let m = fs::symlink_metadata("/data/inlink");
    r.check("lstat link", m.as_ref().is_ok_and(|m| m.is_symlink()), &m);
}

fn escape_checks(r: &mut Report) {
    // `..` and absolute paths through std.
    for p in [
        "/data/../secret",
        "/data/d/../../secret",
        "/secret",
        "/etc/passwd",
    ] {
        let e = fs::read(p);
        r.check(&format!("std read {p} fails"), e.is_err(), &e);
    }
    let e = std::env::set_current_dir("/data").and_then(|_| fs::read("../secret"));
    r.check("std read ../secret from /data fails", e.is_err(), &e);
    let _ = std::env::set_current_dir("/");
    let e = fs::write("/data/../escaped.txt", "x");
    r.check("std write outside fails", e.is_err(), &e);

    // Host-made links leading out.
    for p in ["/data/link_out", "/data/rel_out", "/data/dir_out/secret"] {
        let e = fs::read(p);
        r.check(&format!("std read {p} fails"), e.is_err(), &e);
        let e = fs::write(p, "overwritten");
        r.check(&format!("std write {p} fails"), e.is_err(), &e);
    }
    let e = fs::metadata("/data/link_out");
    r.check("stat through outside link fails", e.is_err(), &e);
    let e = fs::read_dir("/data/dir_out");
    r.check("list through outside dir link fails", e.is_err(), &e);

    // A guest-made link climbing out is refused (and would be unusable).
    let e = symlink("../..", "/data/up");
    r.check("symlink ../.. refused", e.is_err(), &e);
    let e = fs::read("/data/up/secret");
    r.check("read through ../.. link fails", e.is_err(), &e);
    let e = symlink("/etc/passwd", "/data/abs");
    r.check("absolute symlink refused", e.is_err(), &e);

    // Raw imports: the host sees exactly these paths.
    let pre = raw::preopens();
    let data = pre.iter().find(|(_, n)| n == "/data").map(|(h, _)| *h);
    let ro = pre.iter().find(|(_, n)| n == "/ro").map(|(h, _)| *h);
    r.check("preopens listed", data.is_some() && ro.is_some(), &pre);
    let (Some(data), Some(ro)) = (data, ro) else {
        return;
    };
    let np = Err(raw::NOT_PERMITTED);
    for p in [
        "../secret",
        "/etc/passwd",
        "keepdir/../../secret",
        "./../secret",
        "rel_out",
        "link_out",
        "dir_out/secret",
    ] {
        let e = raw::open(data, true, p, 0, READ);
        r.check(&format!("raw open {p} not-permitted"), e == np, e);
    }
    let e = raw::open(data, false, "link_out", 0, READ);
    r.check("raw open link_out nofollow is loop", e == Err(raw::LOOP), e);
    let e = raw::open(data, true, "hello.txt", 0, READ);
    r.check("raw open inside", e.is_ok(), e);
    let e = raw::open(data, true, "inlink", 0, READ);
    r.check("raw open inside link followed", e.is_ok(), e);
    let e = raw::open(data, false, "nothing/here", 0, READ);
    r.check("raw open missing", e == Err(raw::NO_ENTRY), e);
    let e = raw::symlink(data, "../..", "up2");
    r.check("raw symlink ../.. not-permitted", e == np, e);
    let e = raw::symlink(data, "/etc", "abs2");
    r.check("raw symlink absolute not-permitted", e == np, e);
    let e = raw::symlink(data, "../x", "keepdir/../../up3");
    r.check("raw symlink placed outside not-permitted", e == np, e);
    let e = raw::readlink(data, "link_out");
    r.check(
        "raw readlink absolute hidden",
        e == Err(raw::NOT_PERMITTED),
        &e,
    );
    let e = raw::readlink(data, "rel_out");
    r.check("raw readlink relative", e.as_deref() == Ok("../secret"), &e);
    let e = raw::open(ro, false, "new.txt", CREATE, WRITE);
    r.check("raw create in read-only not-permitted", e == np, e);
    let e = raw::open(ro, false, "keep.txt", 0, WRITE);
    r.check("raw open for write in read-only not-permitted", e == np, e);
    let e = raw::open(ro, false, "keep.txt", 0, READ);
    r.check("raw open for read in read-only", e.is_ok(), e);
}

fn read_only_checks(r: &mut Report) {
    let s = fs::read_to_string("/ro/keep.txt");
    r.check("read-only read", s.as_deref().ok() == Some("keep me"), &s);
    let e = fs::write("/ro/new.txt", "x");
    r.check("read-only create refused", e.is_err(), &e);
    let e = fs::write("/ro/keep.txt", "x");
    r.check("read-only overwrite refused", e.is_err(), &e);
    let e = fs::OpenOptions::new().append(true).open("/ro/keep.txt");
    r.check("read-only append refused", e.is_err(), &e);
    let e = fs::remove_file("/ro/keep.txt");
    r.check("read-only unlink refused", e.is_err(), &e);
    let e = fs::create_dir("/ro/sub");
    r.check("read-only mkdir refused", e.is_err(), &e);
    let e = fs::rename("/ro/keep.txt", "/ro/moved.txt");
    r.check("read-only rename refused", e.is_err(), &e);
    let e = fs::rename("/ro/keep.txt", "/data/stolen.txt");
    r.check("rename out of read-only refused", e.is_err(), &e);
    let e = symlink("keep.txt", "/ro/l");
    r.check("read-only symlink refused", e.is_err(), &e);
    let names = fs::read_dir("/ro").map(|it| it.filter_map(|e| e.ok()).count());
    r.check("read-only list", names.as_ref().ok() == Some(&1), &names);
}

fn main() {
    let mut r = Report {
        lines: Vec::new(),
        failed: 0,
    };
    std_checks(&mut r);
    escape_checks(&mut r);
    read_only_checks(&mut r);
    let mut text = r.lines.join("\n");
    text.push('\n');
    print!("{text}");
    let w = fs::write("/data/report.txt", &text);
    if w.is_err() || r.failed > 0 {
        std::process::exit(1);
    }
}

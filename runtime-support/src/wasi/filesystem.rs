//! `wasi:filesystem/{types,preopens}`: the guest's view of the preopened host directories.
//! Each preopen is opened once per instance ([`open_preopens`]); everything the guest reaches
//! is resolved beneath the directory descriptor it names, never through the host's path
//! namespace, so `..`, absolute paths and symbolic links cannot lead outside (see
//! `fs_path.rs`). This file turns component values into calls on `fs_desc::Desc` and back.
//!
//! - `fs_sys.rs`: system-call wrappers and the errno → `error-code` map;
//! - `fs_path.rs`: sandboxed path resolution;
//! - `fs_desc.rs`: the descriptor object and its operations;
//! - `fs_stream.rs`: file streams and the directory-entry stream.
//!
//! Where this host knowingly differs from wasmtime 48: `symlink-at` also refuses relative
//! targets that climb out of the tree (wasmtime makes them and refuses to follow them);
//! `status-change-timestamp` is the inode change time (wasmtime reports the birth time);
//! FIFOs and sockets have their own `descriptor-type` cases (wasmtime: `unknown`); the
//! sync `descriptor-flags` are honoured (`O_SYNC`/`O_DSYNC`) where wasmtime refuses them as
//! `unsupported`. Like wasmtime, `mutate-directory` is not enforced below a writable
//! preopen (only read-only preopens refuse changes).

#[path = "fs_desc.rs"]
pub(super) mod fs_desc;
#[path = "fs_path.rs"]
mod fs_path;
#[path = "fs_stream.rs"]
pub(super) mod fs_stream;
#[path = "fs_sys.rs"]
pub(super) mod fs_sys;
#[cfg(test)]
#[path = "fs_tests.rs"]
mod fs_tests;

use super::val::*;
use super::{define, define_raw, define_resource, ErrorObj, Table, WasiConfig, WasiState};
use crate::component::{ComponentLinker, HostCx, Val};
use crate::error::{Error, Trap};
use fs_desc::{dflag, identity_hash, oflag, Desc, Stat};
use fs_stream::{DirEntries, FileReader, FileWriter};
use fs_sys::{Code, SetTime};
use std::os::unix::fs::OpenOptionsExt;

const TYPES: &str = "filesystem/types";

/// Which `wasi:filesystem/types` a definition is for: 0.2's, or 0.3's (`p3`), whose
/// `error-code` and `descriptor-type` are variants (with an `other` case) and whose
/// timestamps are `wasi:clocks` 0.3 `instant`s (signed seconds).
#[derive(Clone, Copy)]
pub(super) struct Ver {
    /// The interface (`"filesystem/types"` or `"filesystem/types@0.3.0"`).
    pub types: &'static str,
    /// WASI 0.3.
    pub p3: bool,
}

/// WASI 0.2's `wasi:filesystem/types`.
const P2: Ver = Ver {
    types: TYPES,
    p3: false,
};

impl Ver {
    /// The descriptor resource.
    pub(super) fn descriptor(self) -> (&'static str, &'static str) {
        (self.types, "descriptor")
    }

    /// The `error-code` or `descriptor-type` value of case `name` (0.2's names; in 0.3 a name
    /// without its own case is `other(some(name))`).
    pub(super) fn case(self, name: &str) -> Val {
        if !self.p3 {
            return case(name);
        }
        match name {
            "would-block" | "unknown" => {
                Val::Variant("other".into(), Some(Box::new(option(Some(string(name))))))
            }
            _ => Val::Variant(name.into(), None),
        }
    }

    /// `result<T, error-code>` from `r`.
    pub(super) fn res(self, r: Result<Option<Val>, Code>) -> Result<Option<Val>, Trap> {
        Ok(Some(match r {
            Ok(v) => ok(v),
            Err(c) => err(self.case(c)),
        }))
    }

    /// A `datetime` (0.2) or `instant` (0.3) option.
    fn datetime(self, t: Option<(u64, u32)>) -> Val {
        option(t.map(|(s, ns)| {
            let secs = if self.p3 {
                Val::S64(i64::try_from(s).unwrap_or(i64::MAX))
            } else {
                Val::U64(s)
            };
            record(vec![("seconds", secs), ("nanoseconds", Val::U32(ns))])
        }))
    }

    /// A `descriptor-stat` record.
    fn stat_val(self, st: &libc::stat) -> Val {
        let s = Stat::from(st);
        record(vec![
            ("type", self.case(s.ty)),
            ("link-count", Val::U64(s.nlink)),
            ("size", Val::U64(s.size)),
            ("data-access-timestamp", self.datetime(s.times[0])),
            ("data-modification-timestamp", self.datetime(s.times[1])),
            ("status-change-timestamp", self.datetime(s.times[2])),
        ])
    }
}
/// `wasi:filesystem/types#directory-entry-stream`.
const DIR_STREAM: (&str, &str) = (TYPES, "directory-entry-stream");

/// Opens the preopened directories: (representation, guest path) of each.
pub fn open_preopens(config: &WasiConfig, table: &mut Table) -> Result<Vec<(u32, String)>, Error> {
    let mut out = Vec::with_capacity(config.preopens.len());
    for p in &config.preopens {
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&p.host)
            .map_err(|e| {
                Error::Link(format!(
                    "WASI: cannot preopen host directory `{}` (guest `{}`): {e}",
                    p.host.display(),
                    p.guest
                ))
            })?;
        let rep = table.push(Desc::preopen(dir.into(), !p.read_only))?;
        out.push((rep, p.guest.clone()));
    }
    Ok(out)
}

/// The descriptor object behind handle `v` of `ver`'s descriptor resource (a copy sharing the
/// host descriptor, so that no table lock is held during the system calls).
pub(super) fn desc_of(cx: &HostCx<'_>, st: &WasiState, ver: Ver, v: &Val) -> Result<Desc, Trap> {
    with_obj(cx, st, ver.descriptor(), v, |d: &mut Desc| d.clone())
}

fn desc(cx: &HostCx<'_>, st: &WasiState, v: &Val) -> Result<Desc, Trap> {
    desc_of(cx, st, P2, v)
}

/// `result<T, error-code>` from `r` (0.2).
fn res(r: Result<Option<Val>, Code>) -> Result<Option<Val>, Trap> {
    P2.res(r)
}

/// The bits of a `flags` argument, by the names of `names`.
fn flag_bits(args: &[Val], i: usize, names: &[(&str, u8)]) -> Result<u8, Trap> {
    let mut bits = 0;
    for f in arg_flags(args, i)? {
        match names.iter().find(|(n, _)| n == f) {
            Some((_, b)) => bits |= b,
            None => return Err(Trap::host(format!("WASI: unknown flag `{f}`"))),
        }
    }
    Ok(bits)
}

/// Whether the `path-flags` argument `i` has `symlink-follow`.
fn follow(args: &[Val], i: usize) -> Result<bool, Trap> {
    Ok(arg_flags(args, i)?.iter().any(|f| f == "symlink-follow"))
}

/// A `metadata-hash-value` record.
fn hash_val(st: &libc::stat) -> Val {
    let (lower, upper) = identity_hash(st);
    record(vec![("lower", Val::U64(lower)), ("upper", Val::U64(upper))])
}

/// A `new-timestamp` argument (seconds unsigned in 0.2, signed in 0.3).
fn new_timestamp(args: &[Val], i: usize) -> Result<SetTime, Trap> {
    let (c, payload) = arg_case(args, i)?;
    Ok(match (c, payload) {
        ("no-change", _) => None,
        ("now", _) => Some(None),
        ("timestamp", Some(Val::Record(fields))) => {
            let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
            match (field("seconds"), field("nanoseconds")) {
                (Some(Val::U64(s)), Some(Val::U32(ns))) => Some(Some((i128::from(*s), *ns))),
                (Some(Val::S64(s)), Some(Val::U32(ns))) => Some(Some((i128::from(*s), *ns))),
                _ => return Err(Trap::host("WASI: malformed datetime")),
            }
        }
        _ => return Err(Trap::host(format!("WASI: bad new-timestamp `{c}`"))),
    })
}

/// The import name of descriptor method `name`.
pub(super) fn method(name: &str) -> String {
    format!("[method]descriptor.{name}")
}

/// Defines descriptor method `name` of `ver` as `f(cx, state, descriptor, args)`.
fn def_method_of(
    linker: &mut ComponentLinker,
    ver: Ver,
    name: &str,
    f: impl Fn(&HostCx<'_>, &WasiState, &Desc, &[Val]) -> Result<Option<Val>, Trap>
        + Send
        + Sync
        + 'static,
) {
    define(linker, ver.types, &method(name), move |cx, st, args| {
        let d = desc_of(cx, st, ver, arg(args, 0)?)?;
        f(cx, st, &d, args)
    });
}

/// [`def_method_of`] for 0.2.
fn def_method(
    linker: &mut ComponentLinker,
    name: &str,
    f: impl Fn(&HostCx<'_>, &WasiState, &Desc, &[Val]) -> Result<Option<Val>, Trap>
        + Send
        + Sync
        + 'static,
) {
    def_method_of(linker, P2, name, f)
}

/// Adds `wasi:filesystem/types` and `wasi:filesystem/preopens`.
pub fn add(linker: &mut ComponentLinker) {
    define_resource::<Desc>(linker, TYPES, "descriptor");
    define_resource::<DirEntries>(linker, TYPES, "directory-entry-stream");
    add_streams(linker);
    add_file_ops(linker, P2);
    add_path_ops(linker, P2);
    // 0.2's byte-list `read` and `write` (0.3 has streams only).
    add_read_write(linker);

    define(
        linker,
        TYPES,
        "[method]directory-entry-stream.read-directory-entry",
        |cx, st, args| {
            let r = with_obj(cx, st, DIR_STREAM, arg(args, 0)?, |e: &mut DirEntries| {
                e.next()
            })?;
            res(r.map(|e| {
                Some(option(e.map(|(ty, name)| {
                    record(vec![("type", case(ty)), ("name", string(name))])
                })))
            }))
        },
    );

    define(linker, TYPES, "filesystem-error-code", |cx, st, args| {
        let errno = with_obj(cx, st, IO_ERROR, arg(args, 0)?, |e: &mut ErrorObj| {
            e.0.errno
        })?;
        Ok(Some(option(errno.map(|e| case(fs_sys::code(e))))))
    });

    add_preopens(linker, "filesystem/preopens", P2);
}

/// Adds `get-directories` of preopens interface `iface`, handing out `ver`'s descriptors.
pub(super) fn add_preopens(linker: &mut ComponentLinker, iface: &str, ver: Ver) {
    define(linker, iface, "get-directories", move |cx, st, _| {
        let res = resource(cx, ver.descriptor())?;
        let mut list = Vec::with_capacity(st.preopens.len());
        for (rep, name) in &st.preopens {
            let d = st.table().get::<Desc>(*rep, "preopen")?.clone();
            let new = st.table().push(d)?;
            list.push(Val::Tuple(vec![
                cx.new_own(res, new)?,
                string(name.clone()),
            ]));
        }
        Ok(Some(Val::List(list)))
    });
}

/// The stream-making methods.
fn add_streams(linker: &mut ComponentLinker) {
    def_method(linker, "read-via-stream", |cx, st, d, args| {
        let offset = arg_u64(args, 1)?;
        if d.is_dir {
            return res(Err("is-directory"));
        }
        match FileReader::new(&d.fd, offset) {
            Ok(r) => res(Ok(Some(new_input_stream(cx, st, Box::new(r))?))),
            Err(c) => res(Err(c)),
        }
    });
    def_method(linker, "write-via-stream", |cx, st, d, args| {
        let offset = arg_u64(args, 1)?;
        let w = d
            .file()
            .and_then(|_| d.check_writable())
            .and_then(|_| FileWriter::new(&d.fd, Some(offset)));
        match w {
            Ok(w) => res(Ok(Some(new_output_stream(cx, st, Box::new(w))?))),
            Err(c) => res(Err(c)),
        }
    });
    def_method(linker, "append-via-stream", |cx, st, d, _| {
        let w = d
            .file()
            .and_then(|_| d.check_writable())
            .and_then(|_| FileWriter::new(&d.fd, None));
        match w {
            Ok(w) => res(Ok(Some(new_output_stream(cx, st, Box::new(w))?))),
            Err(c) => res(Err(c)),
        }
    });
    def_method(linker, "read-directory", |cx, st, d, _| {
        match d.dir().and_then(|_| DirEntries::new(&d.fd)) {
            Ok(e) => res(Ok(Some(new_handle(cx, st, DIR_STREAM, e)?))),
            Err(c) => res(Err(c)),
        }
    });
}

/// Methods on the descriptor itself, for `ver` (`sync` and `sync-data` run on a helper
/// thread in 0.3, where they are `async`: other tasks go on while the disk flushes).
pub(super) fn add_file_ops(linker: &mut ComponentLinker, v: Ver) {
    def_method_of(linker, v, "advise", move |_, _, d, args| {
        let (offset, len) = (arg_u64(args, 1)?, arg_u64(args, 2)?);
        let (advice, _) = arg_case(args, 3)?;
        v.res(d.advise(offset, len, advice).map(|_| None))
    });
    for (name, data_only) in [("sync-data", true), ("sync", false)] {
        def_method_of(linker, v, name, move |cx, _, d, _| {
            let r = if v.p3 {
                let d = d.clone();
                cx.block_on(move || d.sync(data_only))?
            } else {
                d.sync(data_only)
            };
            v.res(r.map(|_| None))
        });
    }
    def_method_of(linker, v, "get-flags", move |_, _, d, _| {
        v.res(d.get_flags().map(|bits| {
            let names = dflag::NAMES
                .iter()
                .filter(|(_, b)| bits & b != 0)
                .map(|(n, _)| n.to_string())
                .collect();
            Some(Val::Flags(names))
        }))
    });
    def_method_of(linker, v, "get-type", move |_, _, d, _| {
        v.res(d.get_type().map(|t| Some(v.case(t))))
    });
    def_method_of(linker, v, "set-size", move |_, _, d, args| {
        v.res(d.set_size(arg_u64(args, 1)?).map(|_| None))
    });
    def_method_of(linker, v, "set-times", move |_, _, d, args| {
        let (a, m) = (new_timestamp(args, 1)?, new_timestamp(args, 2)?);
        v.res(d.set_times(a, m).map(|_| None))
    });
    def_method_of(linker, v, "stat", move |_, _, d, _| {
        v.res(d.stat().map(|s| Some(v.stat_val(&s))))
    });
    def_method_of(linker, v, "is-same-object", move |cx, st, d, args| {
        let other = desc_of(cx, st, v, arg(args, 1)?)?;
        Ok(Some(Val::Bool(d.is_same_object(&other))))
    });
    def_method_of(linker, v, "metadata-hash", move |_, _, d, _| {
        v.res(d.stat().map(|s| Some(hash_val(&s))))
    });
}

/// 0.2's `read` and `write`: byte lists over the host C representation (read into one
/// block, written from guest memory in place).
fn add_read_write(linker: &mut ComponentLinker) {
    define_raw(linker, TYPES, &method("read"), |cx, st, args, out| {
        let d = desc(cx, st, &args.val(0)?)?;
        match d.read(args.get::<u64>(1)?, args.get::<u64>(2)?) {
            Ok((data, end)) => out.set_ok_bytes(&data, Some(end)),
            Err(c) => out.set(res(Err(c))?),
        }
    });
    define_raw(linker, TYPES, &method("write"), |cx, st, args, out| {
        let d = desc(cx, st, &args.val(0)?)?;
        let r = d.write(args.bytes(1)?, args.get::<u64>(2)?);
        out.set(res(r.map(|n| Some(Val::U64(n))))?)
    });
}

/// Methods taking a path beneath a directory descriptor, for `ver`.
pub(super) fn add_path_ops(linker: &mut ComponentLinker, v: Ver) {
    def_method_of(linker, v, "create-directory-at", move |_, _, d, args| {
        v.res(d.create_directory_at(arg_str(args, 1)?).map(|_| None))
    });
    def_method_of(linker, v, "stat-at", move |_, _, d, args| {
        let r = d.stat_at(follow(args, 1)?, arg_str(args, 2)?);
        v.res(r.map(|s| Some(v.stat_val(&s))))
    });
    def_method_of(linker, v, "set-times-at", move |_, _, d, args| {
        let (a, m) = (new_timestamp(args, 3)?, new_timestamp(args, 4)?);
        let r = d.set_times_at(follow(args, 1)?, arg_str(args, 2)?, a, m);
        v.res(r.map(|_| None))
    });
    def_method_of(linker, v, "link-at", move |cx, st, d, args| {
        let new = desc_of(cx, st, v, arg(args, 3)?)?;
        let r = d.link_at(follow(args, 1)?, arg_str(args, 2)?, &new, arg_str(args, 4)?);
        v.res(r.map(|_| None))
    });
    def_method_of(linker, v, "open-at", move |cx, st, d, args| {
        let (fl, path) = (follow(args, 1)?, arg_str(args, 2)?);
        let oflags = flag_bits(args, 3, &oflag::NAMES)?;
        let flags = flag_bits(args, 4, &dflag::NAMES)?;
        match d.open_at(fl, path, oflags, flags) {
            Ok(new) => v.res(Ok(Some(new_handle(cx, st, v.descriptor(), new)?))),
            Err(c) => v.res(Err(c)),
        }
    });
    def_method_of(linker, v, "readlink-at", move |_, _, d, args| {
        v.res(d.readlink_at(arg_str(args, 1)?).map(|s| Some(string(s))))
    });
    def_method_of(linker, v, "remove-directory-at", move |_, _, d, args| {
        v.res(d.remove_directory_at(arg_str(args, 1)?).map(|_| None))
    });
    def_method_of(linker, v, "rename-at", move |cx, st, d, args| {
        let new = desc_of(cx, st, v, arg(args, 2)?)?;
        let r = d.rename_at(arg_str(args, 1)?, &new, arg_str(args, 3)?);
        v.res(r.map(|_| None))
    });
    def_method_of(linker, v, "symlink-at", move |_, _, d, args| {
        v.res(
            d.symlink_at(arg_str(args, 1)?, arg_str(args, 2)?)
                .map(|_| None),
        )
    });
    def_method_of(linker, v, "unlink-file-at", move |_, _, d, args| {
        v.res(d.unlink_file_at(arg_str(args, 1)?).map(|_| None))
    });
    def_method_of(linker, v, "metadata-hash-at", move |_, _, d, args| {
        let r = d.stat_at(follow(args, 1)?, arg_str(args, 2)?);
        v.res(r.map(|s| Some(hash_val(&s))))
    });
}

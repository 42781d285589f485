//! `wasi:filesystem/{types,preopens}@0.3.0`: WASI 0.3's view of the preopened directories,
//! over the same descriptor objects ([`Desc`]) and the same confinement and permission rules as
//! 0.2 (`filesystem.rs`): every path is resolved beneath its preopen, symbolic links cannot
//! lead out, and a read-only preopen refuses every change with `not-permitted`. The 0.3
//! descriptor is its own resource type (`wasi:filesystem/types@0.3.0#descriptor`); its
//! objects live in the same instance table.
//!
//! - The methods shared with 0.2 (`stat`, `open-at`, `rename-at`, ...) are 0.2's definitions
//!   ([`add_file_ops`], [`add_path_ops`]) with 0.3's value shapes (`error-code` and
//!   `descriptor-type` variants, signed `instant` seconds). Most are `async func`s in 0.3:
//!   their system calls on local files return promptly, so they run directly on the calling
//!   (sub)task; `sync` and `sync-data`, which wait for the disk, run on a helper thread
//!   (`HostCx::block_on`) while other tasks go on.
//! - `read-via-stream(offset)`: a helper thread reads the file from `offset` (64 KiB at a
//!   time) only when a guest read waits for bytes; the future gives the end (or the error).
//! - `write-via-stream(data, offset)` / `append-via-stream(data)`: each guest write is
//!   written to the file (at the running offset, or appended) before the write completes;
//!   the future resolves when the guest ends the stream, or with the first error.
//! - `read-directory`: a helper thread reads the entries (64 at a time, `.` and `..`
//!   skipped) when a guest read waits; each `directory-entry`'s name is lowered into the
//!   reading guest's memory through its `realloc` (`component::concurrent::host_lower`).
//!
//! Errors found before a stream starts (`read-via-stream` on a directory, writes under a
//! read-only preopen) come in the future, with a stream that ends at once; a guest stream
//! handed to a refused write is dropped unread.

use super::cli3::{failed_future, failed_stream, finish, read_via_stream, stream_and_future};
use super::filesystem::fs_desc::Desc;
use super::filesystem::fs_stream::{DirEntries, FileReader, FileWriter};
use super::filesystem::fs_sys::{self, Code};
use super::filesystem::{add_file_ops, add_path_ops, add_preopens, desc_of, method, Ver};
use super::val::{record, string};
use super::{define_raw, define_resource, versioned, StreamError};
use crate::component::{ComponentLinker, HostCx, HostResult, HostWriter, Val};
use crate::error::Trap;

/// WASI 0.3's `wasi:filesystem/types`.
const V3: Ver = Ver {
    types: "filesystem/types@0.3.0",
    p3: true,
};

/// Directory entries a `read-directory` thread reads per guest read.
const DIR_BATCH: usize = 64;

/// The `error-code` of a failed file stream.
fn stream_error(e: &StreamError) -> Val {
    V3.case(match e {
        StreamError::Closed => "pipe",
        StreamError::Failed(io) => io.errno.map_or("io", fs_sys::code),
    })
}

/// Defines 0.3 stream method `name` as `f(cx, descriptor, args, result)` over the host C
/// representation (for the declared stream and future types of its result).
fn def_stream_method(
    linker: &mut ComponentLinker,
    name: &str,
    f: impl Fn(
            &HostCx<'_>,
            Desc,
            &crate::component::HostArgs<'_>,
            &mut HostResult<'_>,
        ) -> Result<(), Trap>
        + Send
        + Sync
        + 'static,
) {
    define_raw(linker, V3.types, &method(name), move |cx, st, args, res| {
        let d = desc_of(cx, st, V3, &args.val(0)?)?;
        f(cx, d, args, res)
    });
}

/// `write-via-stream` (`offset: Some`) and `append-via-stream`: the guest's stream `data`
/// goes into the file.
fn write_stream(
    cx: &HostCx<'_>,
    d: &Desc,
    data: &Val,
    offset: Option<u64>,
    res: &mut HostResult<'_>,
) -> Result<(), Trap> {
    let w = d
        .file()
        .and_then(|_| d.check_writable())
        .and_then(|_| FileWriter::new(&d.fd, offset));
    match w {
        Ok(w) => super::cli3::write_via_stream(cx, data, res, Box::new(w), stream_error),
        Err(c) => {
            cx.drop_async_value(data)?;
            failed_future(cx, res, V3.case(c))
        }
    }
}

/// Pumps `entries` into `data` as guest reads ask, then resolves `done`.
fn pump_entries(mut entries: DirEntries, mut data: HostWriter, done: HostWriter) {
    let r = 'outer: loop {
        if !data.wait_for_demand() {
            break Ok(());
        }
        for _ in 0..DIR_BATCH {
            match entries.next() {
                Ok(Some((ty, name))) => {
                    let e = record(vec![("type", V3.case(ty)), ("name", string(name))]);
                    match data.write_val(&e) {
                        Ok(true) => {}
                        // The guest dropped the stream, or (a host bug) the entry does not
                        // fit the declared type: stop either way.
                        Ok(false) | Err(_) => break 'outer Ok(()),
                    }
                }
                Ok(None) => break 'outer Ok(()),
                Err(c) => break 'outer Err(V3.case(c)),
            }
        }
    };
    finish(data, done, r);
}

/// `read-directory`: the stream of `d`'s entries and the future of its end.
fn read_directory(cx: &HostCx<'_>, d: &Desc, res: &mut HostResult<'_>) -> Result<(), Trap> {
    let entries: Result<DirEntries, Code> = d.dir().and_then(|_| DirEntries::new(&d.fd));
    let entries = match entries {
        Ok(e) => e,
        Err(c) => return failed_stream(cx, res, V3.case(c)),
    };
    let (pair, data, done) = stream_and_future(cx, res)?;
    std::thread::Builder::new()
        .name("kiln-wasi-readdir".into())
        .spawn(move || pump_entries(entries, data, done))
        .map_err(|e| Trap::host(format!("WASI: cannot start the read-directory thread: {e}")))?;
    res.set(Some(pair))
}

/// Adds `wasi:filesystem/types@0.3.0` and `wasi:filesystem/preopens@0.3.0`.
pub fn add(linker: &mut ComponentLinker) {
    define_resource::<Desc>(linker, V3.types, "descriptor");
    add_file_ops(linker, V3);
    add_path_ops(linker, V3);
    add_preopens(linker, &versioned("filesystem/preopens", true), V3);

    def_stream_method(linker, "read-via-stream", |cx, d, args, res| {
        let offset = args.get::<u64>(1)?;
        if d.is_dir {
            return failed_stream(cx, res, V3.case("is-directory"));
        }
        match FileReader::new(&d.fd, offset) {
            Ok(r) => read_via_stream(cx, res, Box::new(r), stream_error, "kiln-wasi-file"),
            Err(c) => failed_stream(cx, res, V3.case(c)),
        }
    });
    def_stream_method(linker, "write-via-stream", |cx, d, args, res| {
        let offset = args.get::<u64>(2)?;
        write_stream(cx, &d, &args.val(1)?, Some(offset), res)
    });
    def_stream_method(linker, "append-via-stream", |cx, d, args, res| {
        write_stream(cx, &d, &args.val(1)?, None, res)
    });
    def_stream_method(linker, "read-directory", |cx, d, _, res| {
        read_directory(cx, &d, res)
    });
}

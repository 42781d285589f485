//! A WASI 0.3 command exercising `wasi:filesystem@0.3.0` through wit-bindgen's async support
//! (`wasi:cli/command@0.3.0`, importing WASI 0.3 interfaces only). It expects two preopens,
//! `/data` (writable, holding a host-made symbolic link `link_out` that leads outside) and
//! `/ro` (read-only, holding `keep.txt`), and prints one line per check to stdout:
//! `<check>: <result>`, where every result is deterministic, so a host compares the whole
//! output. What it leaves in `/data` is checked by the host too:
//!
//! - a 1 MiB file written through `write-via-stream` and read back through `read-via-stream`
//!   (whole, and from an offset near its end), its `stat`;
//! - `append-via-stream`;
//! - `create-directory-at`, `read-directory` (names sorted, with their types; a non-ASCII
//!   name), `rename-at`, `unlink-file-at`, `remove-directory-at`;
//! - escapes (`../x`, an absolute path, the symbolic link out) and writes under `/ro`, which
//!   must be refused;
//! - `read-via-stream` on a directory, which fails in its future.
//!
//! With arguments `ls NAME` it only lists `/ro/NAME` instead, one `name:type` a line, sorted;
//! with `drops NAME` it drops a directory listing and a file stream after their first read.
//!
//! The crate is `no_std` (with `alloc`) like `tests/async-guests/cli3`: on wasm32-wasip2,
//! std brings WASI 0.2 imports. A panic is a trap.

#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

// The heap, the panic handler and `cabi_realloc` a `no_std` guest needs.
#[path = "../../common/no_std_rt.rs"]
mod no_std_rt;

wit_bindgen::generate!({
    path: "../wasi3-wit",
    world: "wasi:cli/command@0.3.0",
    generate_all,
});

use exports::wasi::cli::run::Guest;
use wasi::cli::{environment, stdout};
use wasi::clocks::system_clock::Instant;
use wasi::filesystem::preopens;
use wasi::filesystem::types::{
    Descriptor, DescriptorFlags, DescriptorType, ErrorCode, MetadataHashValue, NewTimestamp,
    OpenFlags, PathFlags,
};
use wit_bindgen::StreamResult;

/// Size of the big file.
const BIG: usize = 1 << 20;

/// Byte `i` of the big file.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// The WIT name of an error code.
fn code(e: &ErrorCode) -> String {
    match e {
        ErrorCode::Access => "access".into(),
        ErrorCode::NotPermitted => "not-permitted".into(),
        ErrorCode::NoEntry => "no-entry".into(),
        ErrorCode::Exist => "exist".into(),
        ErrorCode::ReadOnly => "read-only".into(),
        ErrorCode::IsDirectory => "is-directory".into(),
        ErrorCode::NotDirectory => "not-directory".into(),
        ErrorCode::NotEmpty => "not-empty".into(),
        ErrorCode::BadDescriptor => "bad-descriptor".into(),
        ErrorCode::Invalid => "invalid".into(),
        ErrorCode::Loop => "loop".into(),
        ErrorCode::Other(s) => format!("other({s:?})"),
        other => format!("{other:?}"),
    }
}

/// The WIT name of a descriptor type.
fn type_name(t: &DescriptorType) -> String {
    match t {
        DescriptorType::Directory => "directory".into(),
        DescriptorType::RegularFile => "regular-file".into(),
        DescriptorType::SymbolicLink => "symbolic-link".into(),
        other => format!("{other:?}"),
    }
}

/// `ok`, or the error code's name.
fn outcome<T>(r: &Result<T, ErrorCode>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => code(e),
    }
}

/// The lines printed so far.
struct Out(String);

impl Out {
    fn line(&mut self, check: &str, result: &str) {
        self.0.push_str(check);
        self.0.push_str(": ");
        self.0.push_str(result);
        self.0.push('\n');
    }
}

/// Writes `bytes` to `d` at `offset` (`None`: appends) through one stream; the future's
/// result.
async fn write_file(d: &Descriptor, bytes: Vec<u8>, offset: Option<u64>) -> Result<(), ErrorCode> {
    let (mut tx, rx) = wit_stream::new::<u8>();
    let done = match offset {
        Some(o) => d.write_via_stream(rx, o),
        None => d.append_via_stream(rx),
    };
    // 64 KiB per write: the host writes each to the file as it arrives.
    for chunk in bytes.chunks(64 << 10) {
        if !tx.write_all(chunk.to_vec()).await.is_empty() {
            break;
        }
    }
    drop(tx);
    done.await
}

/// Reads `d` from `offset` to its end through `read-via-stream`.
async fn read_file(d: &Descriptor, offset: u64) -> (Vec<u8>, Result<(), ErrorCode>) {
    let (mut rx, done) = d.read_via_stream(offset);
    let mut all = Vec::new();
    loop {
        let (status, chunk) = rx.read(Vec::with_capacity(16 << 10)).await;
        all.extend_from_slice(&chunk);
        if matches!(status, StreamResult::Dropped) {
            break;
        }
    }
    drop(rx);
    (all, done.await)
}

/// The entries of directory `d` as sorted `name:type` strings, read in batches of 3.
async fn list(d: &Descriptor) -> Result<Vec<String>, ErrorCode> {
    let (mut rx, done) = d.read_directory();
    let mut names = Vec::new();
    loop {
        let (status, batch) = rx.read(Vec::with_capacity(3)).await;
        for e in batch {
            names.push(format!("{}:{}", e.name, type_name(&e.type_)));
        }
        if matches!(status, StreamResult::Dropped) {
            break;
        }
    }
    drop(rx);
    done.await?;
    names.sort();
    Ok(names)
}

/// Opens `path` under `dir`.
async fn open(
    dir: &Descriptor,
    path: &str,
    oflags: OpenFlags,
    flags: DescriptorFlags,
) -> Result<Descriptor, ErrorCode> {
    dir.open_at(PathFlags::empty(), path.to_string(), oflags, flags)
        .await
}

/// The big file: written, stat'ed, read back whole and from near its end.
async fn big_file(data: &Descriptor, out: &mut Out) -> Result<(), ErrorCode> {
    let rw = DescriptorFlags::READ | DescriptorFlags::WRITE;
    let f = open(data, "big.bin", OpenFlags::CREATE | OpenFlags::TRUNCATE, rw).await?;
    let bytes: Vec<u8> = (0..BIG).map(pattern).collect();
    out.line(
        "write big",
        &outcome(&write_file(&f, bytes.clone(), Some(0)).await),
    );
    let st = f.stat().await?;
    out.line("stat big", &format!("{} {}", type_name(&st.type_), st.size));
    let (back, r) = read_file(&f, 0).await;
    let same = back == bytes;
    out.line(
        "read big",
        &format!(
            "{} {} {}",
            outcome(&r),
            back.len(),
            if same { "same" } else { "DIFFERENT" }
        ),
    );
    let (tail, r) = read_file(&f, (BIG - 10) as u64).await;
    let same = tail[..] == bytes[BIG - 10..];
    out.line(
        "read tail",
        &format!("{} {} {}", outcome(&r), tail.len(), same),
    );
    // Appending, and writing in the middle.
    let g = open(data, "small.txt", OpenFlags::CREATE, rw).await?;
    write_file(&g, b"hello ".to_vec(), Some(0)).await?;
    write_file(&g, b"world".to_vec(), None).await?;
    write_file(&g, b"W".to_vec(), Some(6)).await?;
    let (text, _) = read_file(&g, 0).await;
    out.line("append", &String::from_utf8_lossy(&text));
    // The other descriptor methods on a file.
    out.line(
        "sync",
        &format!(
            "{} {}",
            outcome(&g.sync_data().await),
            outcome(&g.sync().await)
        ),
    );
    let flags = g.get_flags().await?;
    out.line(
        "flags",
        &format!(
            "{} {}",
            flags & DescriptorFlags::READ == DescriptorFlags::READ,
            flags & DescriptorFlags::WRITE == DescriptorFlags::WRITE
        ),
    );
    out.line("get-type", &type_name(&g.get_type().await?));
    g.set_size(5).await?;
    let mtime = Instant {
        seconds: 1_000_000_000,
        nanoseconds: 5,
    };
    g.set_times(NewTimestamp::NoChange, NewTimestamp::Timestamp(mtime))
        .await?;
    let st = g.stat().await?;
    let m = st
        .data_modification_timestamp
        .map(|t| (t.seconds, t.nanoseconds));
    out.line("set-size set-times", &format!("{} {m:?}", st.size));
    let again = open(data, "small.txt", OpenFlags::empty(), DescriptorFlags::READ).await?;
    let same = g.is_same_object(&again).await;
    let hash = |h: MetadataHashValue| (h.lower, h.upper);
    let hashes = (
        hash(g.metadata_hash().await?),
        hash(again.metadata_hash().await?),
    );
    let hash_at = hash(
        data.metadata_hash_at(PathFlags::empty(), "small.txt".into())
            .await?,
    );
    out.line(
        "same object",
        &format!("{same} {} {}", hashes.0 == hashes.1, hash_at == hashes.0),
    );
    out.line(
        "symlink in",
        &outcome(&data.symlink_at("small.txt".into(), "in_link".into()).await),
    );
    out.line(
        "readlink",
        &match data.readlink_at("in_link".into()).await {
            Ok(t) => t,
            Err(e) => code(&e),
        },
    );
    data.unlink_file_at("in_link".into()).await?;
    Ok(())
}

/// Directories: made, listed, changed and listed again.
async fn directories(data: &Descriptor, out: &mut Out) -> Result<(), ErrorCode> {
    data.create_directory_at("sub".into()).await?;
    let sub = open(data, "sub", OpenFlags::DIRECTORY, DescriptorFlags::READ).await?;
    let rw = DescriptorFlags::READ | DescriptorFlags::WRITE;
    for name in ["b.txt", "a.txt", "ünïcödé.txt", "e.txt", "d.txt"] {
        let f = open(&sub, name, OpenFlags::CREATE, rw).await?;
        write_file(&f, name.as_bytes().to_vec(), Some(0)).await?;
    }
    sub.create_directory_at("c".into()).await?;
    out.line("list", &list(&sub).await?.join(" "));
    out.line(
        "rename",
        &outcome(
            &sub.rename_at("a.txt".into(), &sub, "renamed.txt".into())
                .await,
        ),
    );
    out.line(
        "unlink",
        &outcome(&sub.unlink_file_at("b.txt".into()).await),
    );
    out.line(
        "rmdir",
        &outcome(&sub.remove_directory_at("c".into()).await),
    );
    out.line(
        "rmdir non-empty",
        &outcome(&data.remove_directory_at("sub".into()).await),
    );
    out.line("list again", &list(&sub).await?.join(" "));
    let st = data
        .stat_at(PathFlags::empty(), "sub/renamed.txt".into())
        .await?;
    out.line("stat-at", &format!("{} {}", type_name(&st.type_), st.size));
    let (_, r) = read_file(&sub, 0).await;
    out.line("read a directory", &outcome(&r));
    Ok(())
}

/// Paths leading out of `/data`, and changes under `/ro`: all refused.
async fn refusals(data: &Descriptor, ro: &Descriptor, out: &mut Out) {
    let rd = DescriptorFlags::READ;
    for path in ["../secret", "/etc/passwd", "sub/../../secret"] {
        let r = open(data, path, OpenFlags::empty(), rd).await;
        out.line(&format!("open {path}"), &outcome(&r));
    }
    let r = data
        .open_at(
            PathFlags::SYMLINK_FOLLOW,
            "link_out".into(),
            OpenFlags::empty(),
            rd,
        )
        .await;
    out.line("open link_out", &outcome(&r));
    let r = data
        .stat_at(PathFlags::SYMLINK_FOLLOW, "link_out".into())
        .await;
    out.line("stat link_out", &outcome(&r));
    let r = data.symlink_at("../secret".into(), "made_out".into()).await;
    out.line("symlink out", &outcome(&r));
    let r = open(ro, "new.txt", OpenFlags::CREATE, DescriptorFlags::WRITE).await;
    out.line("create in ro", &outcome(&r));
    let r = ro.create_directory_at("newdir".into()).await;
    out.line("mkdir in ro", &outcome(&r));
    let r = ro.unlink_file_at("keep.txt".into()).await;
    out.line("unlink in ro", &outcome(&r));
    match open(ro, "keep.txt", OpenFlags::empty(), rd).await {
        Ok(keep) => {
            let r = write_file(&keep, b"overwritten".to_vec(), Some(0)).await;
            out.line("write-via-stream in ro", &outcome(&r));
            let (text, r) = read_file(&keep, 0).await;
            out.line(
                "read in ro",
                &format!("{} {}", outcome(&r), String::from_utf8_lossy(&text)),
            );
        }
        Err(e) => out.line("open in ro", &code(&e)),
    }
}

/// `ls NAME`: every entry of `/ro/NAME`, one `name:type` a line, sorted.
async fn ls(ro: &Descriptor, name: &str) -> Result<(), ErrorCode> {
    let d = open(ro, name, OpenFlags::DIRECTORY, DescriptorFlags::READ).await?;
    let mut text = String::new();
    for e in list(&d).await? {
        text.push_str(&e);
        text.push('\n');
    }
    print(text).await;
    Ok(())
}

/// `drops NAME`: takes one entry of `/ro/NAME`'s listing and a few bytes of `/ro/keep.txt`,
/// then drops both streams; prints how each future resolved (the host stops reading).
async fn drops(ro: &Descriptor, name: &str) -> Result<(), ErrorCode> {
    let d = open(ro, name, OpenFlags::DIRECTORY, DescriptorFlags::READ).await?;
    let (mut rx, done) = d.read_directory();
    let (_, first) = rx.read(Vec::with_capacity(1)).await;
    drop(rx);
    let listed = done.await;
    let f = open(ro, "keep.txt", OpenFlags::empty(), DescriptorFlags::READ).await?;
    let (mut rx, done) = f.read_via_stream(0);
    let (_, bytes) = rx.read(Vec::with_capacity(4)).await;
    drop(rx);
    let read = done.await;
    print(format!(
        "listing: {} entry, {}\nfile: {}, {}\n",
        first.len(),
        outcome(&listed),
        String::from_utf8_lossy(&bytes),
        outcome(&read)
    ))
    .await;
    Ok(())
}

async fn run() -> Result<(), ErrorCode> {
    let mut out = Out(String::new());
    let dirs = preopens::get_directories();
    let args = environment::get_arguments();
    let ro = dirs.iter().find(|(_, n)| n == "/ro").map(|(d, _)| d);
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("ls"), Some(name)) => return ls(ro.ok_or(ErrorCode::NoEntry)?, name).await,
        (Some("drops"), Some(name)) => return drops(ro.ok_or(ErrorCode::NoEntry)?, name).await,
        _ => {}
    }
    let names: Vec<&str> = dirs.iter().map(|(_, n)| n.as_str()).collect();
    out.line("preopens", &names.join(" "));
    let find = |name: &str| dirs.iter().find(|(_, n)| n == name).map(|(d, _)| d);
    let (Some(data), Some(ro)) = (find("/data"), find("/ro")) else {
        print(out.0).await;
        return Err(ErrorCode::NoEntry);
    };
    let st = data.stat().await?;
    out.line("stat /data", &type_name(&st.type_));
    let r = big_file(data, &mut out).await;
    out.line("big file", &outcome(&r));
    let r = directories(data, &mut out).await;
    out.line("directories", &outcome(&r));
    refusals(data, ro, &mut out).await;
    print(out.0).await;
    Ok(())
}

/// Prints `text` to stdout through a stream.
async fn print(text: String) {
    let (mut tx, rx) = wit_stream::new::<u8>();
    let done = stdout::write_via_stream(rx);
    let _ = tx.write_all(text.into_bytes()).await;
    drop(tx);
    let _ = done.await;
}

struct Fs3;

impl Guest for Fs3 {
    async fn run() -> Result<(), ()> {
        run().await.map_err(|_| ())
    }
}

export!(Fs3);

//! Comparing two WASI runs: exit status (or returned value, or the fact of a trap), stdout,
//! stderr, and the host trees they left (every directory, file with its bytes, and symbolic
//! link with its target, walked from each run's own root). The report names the first
//! difference of each kind, with a little context.

use super::hosts::{Outcome, Status};
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One entry of a walked tree.
#[derive(Debug, PartialEq)]
pub enum Entry {
    /// A directory.
    Dir,
    /// A regular file and its contents.
    File(Vec<u8>),
    /// A symbolic link and its target (the root's own path replaced by `$ROOT`).
    Symlink(Vec<u8>),
    /// Anything else (sockets, fifos).
    Other,
    /// An entry that could not be read.
    Unreadable(String),
}

/// Walks `root`: relative path (raw bytes) → entry, sorted.
pub fn walk(root: &Path) -> BTreeMap<Vec<u8>, Entry> {
    let mut out = BTreeMap::new();
    walk_into(root, root, &mut out);
    out
}

fn walk_into(root: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, Entry>) {
    let rel = |p: &Path| {
        p.strip_prefix(root)
            .unwrap_or(p)
            .as_os_str()
            .as_bytes()
            .to_vec()
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            out.insert(rel(dir), Entry::Unreadable(e.to_string()));
            return;
        }
    };
    for e in entries.flatten() {
        let path = e.path();
        let entry = match e.file_type() {
            Err(err) => Entry::Unreadable(err.to_string()),
            Ok(t) if t.is_symlink() => match std::fs::read_link(&path) {
                Ok(target) => {
                    let root_bytes = root.as_os_str().as_bytes();
                    let t = target.as_os_str().as_bytes();
                    let t = match t.strip_prefix(root_bytes) {
                        Some(rest) => [b"$ROOT".as_slice(), rest].concat(),
                        None => t.to_vec(),
                    };
                    Entry::Symlink(t)
                }
                Err(err) => Entry::Unreadable(err.to_string()),
            },
            Ok(t) if t.is_dir() => {
                walk_into(root, &path, out);
                Entry::Dir
            }
            Ok(t) if t.is_file() => match std::fs::read(&path) {
                Ok(b) => Entry::File(b),
                Err(err) => Entry::Unreadable(err.to_string()),
            },
            Ok(_) => Entry::Other,
        };
        out.insert(rel(&path), entry);
    }
}

fn show_entry(e: Option<&Entry>) -> String {
    match e {
        None => "absent".into(),
        Some(Entry::Dir) => "a directory".into(),
        Some(Entry::File(b)) => format!("a file of {} bytes", b.len()),
        Some(Entry::Symlink(t)) => format!("a symlink to {}", String::from_utf8_lossy(t)),
        Some(Entry::Other) => "a special file".into(),
        Some(Entry::Unreadable(e)) => format!("unreadable ({e})"),
    }
}

/// The first difference between the trees, if any.
pub fn trees(kiln: &Path, wasmtime: &Path) -> Option<String> {
    let (k, w) = (walk(kiln), walk(wasmtime));
    let mut names: Vec<&Vec<u8>> = k.keys().chain(w.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (a, b) = (k.get(name), w.get(name));
        if a == b {
            continue;
        }
        let shown = String::from_utf8_lossy(name);
        if let (Some(Entry::File(x)), Some(Entry::File(y))) = (a, b) {
            return Some(format!("files: ROOT/{shown} differs: {}", bytes_diff(x, y)));
        }
        return Some(format!(
            "files: ROOT/{shown} is {} under kiln, {} under wasmtime",
            show_entry(a),
            show_entry(b)
        ));
    }
    None
}

/// Where two byte strings first differ, with the line around it.
pub fn bytes_diff(k: &[u8], w: &[u8]) -> String {
    let at = k.iter().zip(w).take_while(|(a, b)| a == b).count();
    let line_no = k[..at].iter().filter(|b| **b == b'\n').count() + 1;
    let start = k[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let line = |s: &[u8]| {
        let rest = &s[start.min(s.len())..];
        let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let mut text = String::from_utf8_lossy(&rest[..end.min(160)]).into_owned();
        if end > 160 {
            text.push('…');
        }
        text
    };
    format!(
        "{} vs {} bytes, first difference at byte {at} (line {line_no}): kiln {:?}, wasmtime {:?}",
        k.len(),
        w.len(),
        line(k),
        line(w)
    )
}

/// A status as the report shows it (`exit 1`, `trap (...)`, `host error: ...`).
pub fn show_status(s: &Status) -> String {
    match s {
        Status::Exit(c) => format!("exit {c}"),
        Status::Returned(_, wave) if wave.chars().count() > 160 => {
            let head: String = wave.chars().take(160).collect();
            format!("returned {head}… ({} bytes)", wave.len())
        }
        Status::Returned(_, wave) => format!("returned {wave}"),
        Status::Trap(m) => format!("trap ({})", m.lines().next().unwrap_or_default()),
        Status::HostError(e) => format!("host error: {e}"),
    }
}

/// The differences between the outcomes (status, stdout, stderr if `stderr`), first first.
pub fn outcomes(k: &Outcome, w: &Outcome, stderr: bool) -> Vec<String> {
    let mut v = Vec::new();
    let same = match (&k.status, &w.status) {
        (Status::Exit(a), Status::Exit(b)) => a == b,
        (Status::Returned(a, _), Status::Returned(b, _)) => a == b,
        (Status::Trap(_), Status::Trap(_)) => true,
        _ => false,
    };
    if !same {
        v.push(format!(
            "status: kiln {}, wasmtime {}",
            show_status(&k.status),
            show_status(&w.status)
        ));
    }
    v.extend(line_diffs("stdout", &k.stdout, &w.stdout));
    if stderr {
        v.extend(line_diffs("stderr", &k.stderr, &w.stderr));
    }
    v
}

/// Most differing lines reported for one stream.
const MAX_LINE_DIFFS: usize = 8;

/// The differing lines of two outputs, each its own difference (so a known one cannot hide
/// another): `stdout line N: kiln "..", wasmtime ".."`, then the extra lines of the longer
/// one; outputs with no line structure in common are reported as bytes.
fn line_diffs(stream: &str, k: &[u8], w: &[u8]) -> Vec<String> {
    if k == w {
        return Vec::new();
    }
    let (kl, wl): (Vec<&[u8]>, Vec<&[u8]>) = (
        k.split(|b| *b == b'\n').collect(),
        w.split(|b| *b == b'\n').collect(),
    );
    let clip = |l: &[u8]| {
        let mut t = String::from_utf8_lossy(&l[..l.len().min(200)]).into_owned();
        if l.len() > 200 {
            t.push('…');
        }
        t
    };
    let mut v: Vec<String> = kl
        .iter()
        .zip(&wl)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| {
            format!(
                "{stream} line {}: kiln {:?}, wasmtime {:?}",
                i + 1,
                clip(a),
                clip(b)
            )
        })
        .collect();
    let total = v.len();
    v.truncate(MAX_LINE_DIFFS);
    if total > MAX_LINE_DIFFS {
        v.push(format!(
            "{stream}: {} more differing lines ({})",
            total - MAX_LINE_DIFFS,
            bytes_diff(k, w)
        ));
    }
    if kl.len() != wl.len() {
        let (who, extra) = if kl.len() > wl.len() {
            ("kiln", &kl[wl.len()..])
        } else {
            ("wasmtime", &wl[kl.len()..])
        };
        v.push(format!(
            "{stream}: {} more lines under {who} ({} vs {} bytes), the first {:?}",
            extra.len(),
            k.len(),
            w.len(),
            clip(extra[0])
        ));
    }
    v
}

/// A one-line summary of what a run produced (for PASS lines).
pub fn summary(o: &Outcome) -> String {
    format!(
        "{}, {} bytes stdout, {} bytes stderr",
        show_status(&o.status),
        o.stdout.len(),
        o.stderr.len()
    )
}

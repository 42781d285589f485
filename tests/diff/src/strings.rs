//! String cases (issue 11): random strings crossing the canonical ABI in every direction and
//! every encoding pair, in kiln and in wasmtime, with the destination's `realloc` calls compared
//! one by one; optionally also against the Component Model specification's own Python.
//!
//! The component is `tests/components/canon-strings.wat`, written by
//! `tests/components/oracle/canon_oracle.py` with the component scripts it comes from: a guest
//! whose lifts take (`take-E`) and give (`give-E`) strings in each encoding E, and its sibling, a
//! peer that reaches them through fused adapters in each encoding (`send-SRC-DST` passes a string
//! as a parameter, `fetch-SRC-DST` gets one as a result). Their `realloc` logs its arguments,
//! can be told to return, at one call, an odd pointer (kind 1), a block past the end of memory
//! (2) or the last block that fits (3), and a report gives the pointer, the length word, the
//! bytes received, the log and the heap.
//!
//! The peer also comes alone (`tests/components/canon-strings-peer.wat`): the host provides its
//! import "guest" by forwarding to an instance of the first component, so its `send` and `fetch`
//! go through compiled import trampolines (`itake`, `ifetch`).
//!
//! A case ([`Case`]) is one direction (`take`: host -> guest; `give`: guest -> host; `send` and
//! `fetch`: guest -> guest; `itake` and `ifetch`: guest -> host -> guest), a string drawn from the character classes the spec's algorithms
//! branch on (ASCII, latin1, BMP, astral, with the first wide character at the start, in the
//! middle or at the end), held by the source in one of its forms (UTF-8, UTF-16, latin1 or
//! tagged UTF-16 in a latin1+UTF-16 guest), sometimes damaged (the tag bit flipped, lengths
//! around 2^28-1, odd addresses, invalid code units, one unit past the end of memory), and
//! sometimes with a faulty `realloc` step. Both runtimes run it on fresh instances; traps are
//! compared by class (the runtimes word them differently), values exactly.
//!
//! With `--oracle`, the spec's answer comes from `canon_oracle.py --serve` (which needs the
//! spec's `definitions.py`: the Component Model mirror or `--oracle-spec FILE`), and kiln must
//! match it exactly: the same rule trapping, or the same pointer, length word, bytes, `realloc`
//! log and heap. Known differences never excuse a difference from the spec.
//!
//! A case's line (`Case::line`, saved in `diff-failures/NAME.case`) is also the oracle's input
//! and `--replay-string` reruns one.

use crate::rng::Rng;
use crate::runners::{from_kiln, from_wasmtime, to_kiln, to_wasmtime};
use crate::types::V;
use crate::Verdict;
use anyhow::{anyhow, bail, Context, Result};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The latin1+utf16 tag of a length word.
const TAG: u32 = 1 << 31;
/// Where the guests copy the bytes a case gives them.
const STAGE: u32 = 2048;
/// The guests' memory size.
const PAGE: u32 = 65536;
/// The guests' heap start.
const HEAP: u32 = 4096;

const ENCODINGS: [&str; 3] = ["utf8", "utf16", "latin1+utf16"];

fn short(enc: &str) -> &str {
    match enc {
        "latin1+utf16" => "latin1",
        e => e,
    }
}

/// Which way the string goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Host -> guest (`take-DST`).
    Take,
    /// Guest -> host (`give-SRC`).
    Give,
    /// Guest -> guest, a parameter through a fused adapter (`send-SRC-DST`).
    Send,
    /// Guest -> guest, a result through a fused adapter (`fetch-SRC-DST`).
    Fetch,
    /// Guest -> host -> guest: the peer alone sends through its import trampoline (which lifts
    /// the string for the host); the host passes it to the guest's `take-DST`.
    ImportTake,
    /// Guest -> host -> guest: the peer alone fetches through its import trampoline (which
    /// lowers the host's string, got from the guest's `give-SRC`, into the peer).
    ImportFetch,
}

impl Dir {
    fn name(self) -> &'static str {
        match self {
            Dir::Take => "take",
            Dir::Give => "give",
            Dir::Send => "send",
            Dir::Fetch => "fetch",
            Dir::ImportTake => "itake",
            Dir::ImportFetch => "ifetch",
        }
    }
}

/// One string case.
#[derive(Clone, Debug)]
pub struct Case {
    pub dir: Dir,
    /// Source encoding (`host` for [`Dir::Take`]).
    pub src: String,
    /// Destination encoding (`-` for [`Dir::Give`]).
    pub dst: String,
    /// Where the source guest holds the string.
    pub at: u32,
    /// Its length word.
    pub lenword: u32,
    /// `(step, kind)`: the destination's `realloc` call `step` misbehaves.
    pub fault: Option<(u32, u32)>,
    /// The source's bytes (for [`Dir::Take`], the host's UTF-8 string).
    pub bytes: Vec<u8>,
    /// What was done to an otherwise valid string, if anything.
    pub damage: Option<String>,
}

impl Case {
    /// `DIR SRC DST AT LENWORD FAULT-STEP FAULT-KIND HEXBYTES` (the oracle's format).
    pub fn line(&self) -> String {
        let (s, k) = self.fault.map(|(s, k)| (s as i64, k)).unwrap_or((-1, 0));
        let hex: String = self.bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{} {} {} {} {} {s} {k} {}",
            self.dir.name(),
            self.src,
            self.dst,
            self.at,
            self.lenword,
            if hex.is_empty() { "-" } else { &hex }
        )
    }

    /// Parses [`Case::line`].
    pub fn parse(line: &str) -> Result<Case> {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [d, src, dst, at, len, step, kind, hex] = f[..] else {
            bail!("a case line has 8 fields: {line}");
        };
        let dir = match d {
            "take" => Dir::Take,
            "give" => Dir::Give,
            "send" => Dir::Send,
            "fetch" => Dir::Fetch,
            "itake" => Dir::ImportTake,
            "ifetch" => Dir::ImportFetch,
            _ => bail!("unknown direction {d}"),
        };
        let step: i64 = step.parse()?;
        let bytes = if hex == "-" {
            Vec::new()
        } else {
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
                .collect::<Result<_, _>>()?
        };
        Ok(Case {
            dir,
            src: src.into(),
            dst: dst.into(),
            at: at.parse()?,
            lenword: len.parse()?,
            fault: (step >= 0).then(|| (step as u32, kind.parse().unwrap_or(0))),
            bytes,
            damage: None,
        })
    }

    /// The string the source holds, when its bytes and length word make a valid one.
    fn source_text(&self) -> Option<String> {
        if self.dir == Dir::Take {
            return String::from_utf8(self.bytes.clone()).ok();
        }
        // The source guest's memory holds the bytes at `at` and zeros around them (a fresh
        // instance), so a length word longer than the bytes reads zeros.
        let (align, n) = match self.src.as_str() {
            "utf8" => (1, u64::from(self.lenword)),
            "utf16" => (2, 2 * u64::from(self.lenword)),
            _ if self.lenword & TAG != 0 => (2, 2 * u64::from(self.lenword & !TAG)),
            _ => (2, u64::from(self.lenword)),
        };
        if n > (1 << 28) - 1
            || !self.at.is_multiple_of(align)
            || u64::from(self.at) + n > u64::from(PAGE)
        {
            return None;
        }
        let mut b = self.bytes.clone();
        b.resize(b.len().max(n as usize), 0);
        decode(&self.src, self.lenword, &b)
    }

    /// How the source holds the string.
    fn form(&self) -> &'static str {
        match self.src.as_str() {
            "host" | "utf8" => "utf8",
            "utf16" => "utf16",
            _ if self.lenword & TAG != 0 => "tagged utf16",
            _ => "latin1",
        }
    }

    /// `send utf16(utf16) -> latin1+utf16 [bmp]`: the path, for reports and known differences.
    fn path(&self) -> String {
        let class = match self.source_text() {
            None => "undecodable",
            Some(t) => class_of(&t),
        };
        format!(
            "{} {}({}) -> {} [{class}]",
            self.dir.name(),
            self.src,
            self.form(),
            self.dst
        )
    }

    fn describe(&self) -> String {
        let mut s = format!("{}\n  case line: {}", self.path(), self.line());
        if let Some(t) = self.source_text() {
            let _ = write!(s, "\n  source string: {t:?}");
        }
        if let Some(d) = &self.damage {
            let _ = write!(s, "\n  damage: {d}");
        }
        if let Some((st, k)) = self.fault {
            let what = [
                "",
                "an odd pointer",
                "a block past the end of memory",
                "the last block that fits",
            ];
            let _ = write!(
                s,
                "\n  fault: realloc call {st} returns {}",
                what.get(k as usize).unwrap_or(&"?")
            );
        }
        s
    }
}

/// The highest character class of `t`: `empty`, `ascii`, `latin1`, `bmp` or `astral`.
fn class_of(t: &str) -> &'static str {
    match t.chars().map(u32::from).max() {
        None => "empty",
        Some(c) if c < 0x80 => "ascii",
        Some(c) if c < 0x100 => "latin1",
        Some(c) if c < 0x10000 => "bmp",
        Some(_) => "astral",
    }
}

/// The string `bytes` hold in `enc` under `lenword` (from the start), if valid and complete.
fn decode(enc: &str, lenword: u32, bytes: &[u8]) -> Option<String> {
    let (simple, n) = match enc {
        "utf8" | "host" => ("utf8", lenword as usize),
        "utf16" => ("utf16", 2 * lenword as usize),
        _ if lenword & TAG != 0 => ("utf16", 2 * (lenword & !TAG) as usize),
        _ => ("latin1", lenword as usize),
    };
    let b = bytes.get(..n)?;
    match simple {
        "utf8" => String::from_utf8(b.to_vec()).ok(),
        "utf16" => char::decode_utf16(b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])))
            .collect::<Result<String, _>>()
            .ok(),
        _ => Some(b.iter().map(|&c| char::from(c)).collect()),
    }
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A character of class `c`: 0 ASCII, 1 latin1 beyond ASCII, 2 BMP beyond latin1, 3 astral
/// (with the boundaries the algorithms test drawn more often).
fn gen_char(r: &mut Rng, c: u64) -> char {
    let (edges, lo, hi): (&[u32], u32, u32) = match c {
        0 => (&[0, 0x7f], 0x20, 0x7e),
        1 => (&[0x80, 0xff, 0xe9], 0x80, 0xff),
        2 => (
            &[0x100, 0x7ff, 0x800, 0x20ac, 0xd7ff, 0xe000, 0xfffd, 0xffff],
            0x100,
            0xfffd,
        ),
        _ => (&[0x10000, 0x1f600, 0x10ffff], 0x10000, 0x10ffff),
    };
    loop {
        let v = if r.below(4) == 0 {
            edges[r.below(edges.len() as u64) as usize]
        } else {
            lo + r.below(u64::from(hi - lo + 1)) as u32
        };
        if let Some(ch) = char::from_u32(v) {
            return ch;
        }
    }
}

/// A string of up to 10 characters: either classes up to a random maximum, or a first
/// character of a wider class placed at the start, in the middle or at the end.
pub fn gen_string(r: &mut Rng) -> String {
    let n = r.below(11) as usize;
    let mut out = String::new();
    match r.below(4) {
        0 => {
            let max = r.below(4);
            for _ in 0..n {
                let c = r.below(max + 1);
                out.push(gen_char(r, c));
            }
        }
        place => {
            if n == 0 {
                return out;
            }
            let wide = 1 + r.below(3);
            let at = match place {
                1 => 0,
                2 => n / 2,
                _ => n - 1,
            };
            for i in 0..n {
                let c = match i.cmp(&at) {
                    std::cmp::Ordering::Less => r.below(wide),
                    std::cmp::Ordering::Equal => wide,
                    std::cmp::Ordering::Greater => r.below(4),
                };
                out.push(gen_char(r, c));
            }
        }
    }
    out
}

/// Generates a case.
pub fn generate(r: &mut Rng) -> Case {
    let dir = [
        Dir::Take,
        Dir::Give,
        Dir::Send,
        Dir::Fetch,
        Dir::Send,
        Dir::Fetch,
        Dir::ImportTake,
        Dir::ImportFetch,
    ][r.below(8) as usize];
    let text = gen_string(r);
    let pick = |r: &mut Rng| ENCODINGS[r.below(3) as usize].to_string();
    let src = if dir == Dir::Take {
        "host".to_string()
    } else {
        pick(r)
    };
    let dst = if dir == Dir::Give {
        "-".to_string()
    } else {
        pick(r)
    };
    let (mut bytes, mut lenword) = match src.as_str() {
        "host" | "utf8" => (text.as_bytes().to_vec(), text.len() as u32),
        "utf16" => {
            let b = utf16(&text);
            let n = b.len() as u32 / 2;
            (b, n)
        }
        _ => {
            let latin1: Option<Vec<u8>> = text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect();
            match latin1 {
                Some(l) if r.below(3) != 0 => {
                    let n = l.len() as u32;
                    (l, n)
                }
                _ => {
                    let b = utf16(&text);
                    let n = b.len() as u32 / 2;
                    (b, n | TAG)
                }
            }
        }
    };
    let mut at = STAGE;
    let mut damage = None;
    if dir != Dir::Take && r.below(5) == 0 {
        let unit = if src == "utf8" || (src == "latin1+utf16" && lenword & TAG == 0) {
            1
        } else {
            2
        };
        let d = match r.below(6) {
            0 => {
                lenword ^= TAG;
                "the tag bit flipped".to_string()
            }
            1 => {
                let ls = [
                    (1 << 28) - 1,
                    1 << 28,
                    (1 << 27) - 1,
                    1 << 27,
                    TAG | (1 << 27),
                    TAG | ((1 << 27) - 1),
                    u32::MAX,
                    0x7fff_ffff,
                    TAG,
                    lenword.wrapping_add(1),
                ];
                lenword = ls[r.below(ls.len() as u64) as usize];
                format!("length word {lenword:#x}")
            }
            2 => {
                at = STAGE + 1;
                "odd address".to_string()
            }
            3 if unit == 1 && src == "utf8" => {
                let bad: &[&[u8]] = &[b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\x80", b"\x80"];
                let b = bad[r.below(bad.len() as u64) as usize];
                let i = r.below(bytes.len() as u64 + 1) as usize;
                bytes.splice(i..i, b.iter().copied());
                lenword = bytes.len() as u32;
                format!("{b:02x?} inserted at byte {i}")
            }
            3 if unit == 2 => {
                let s = [0xd800u16, 0xdbff, 0xdc00, 0xdfff][r.below(4) as usize];
                let i = r.below(bytes.len() as u64 / 2 + 1) as usize;
                bytes.splice(2 * i..2 * i, s.to_le_bytes());
                lenword = (lenword & TAG) | ((lenword & !TAG) + 1);
                format!("lone surrogate {s:#x} inserted at unit {i}")
            }
            4 => {
                at = PAGE - bytes.len() as u32;
                if r.below(2) == 0 {
                    lenword = (lenword & TAG) | ((lenword & !TAG) + 1);
                    "at the end of memory, one unit too long".to_string()
                } else {
                    "at the very end of memory".to_string()
                }
            }
            _ => {
                lenword = (lenword & TAG) | (lenword & !TAG).saturating_sub(1);
                "one unit short".to_string()
            }
        };
        damage = Some(d);
    }
    let fault =
        (dir != Dir::Give && r.below(4) == 0).then(|| (r.below(3) as u32, 1 + r.below(3) as u32));
    Case {
        dir,
        src,
        dst,
        at,
        lenword,
        fault,
        bytes,
        damage,
    }
}

/// What a case produced in one runtime (or the spec).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    /// A trap (its message).
    Trap(String),
    /// The host's string (`give`).
    Str(String),
    /// What the receiving guest holds.
    Value {
        ptr: u32,
        lenword: u32,
        bytes: Vec<u8>,
        log: Vec<u32>,
        heap: Vec<u8>,
    },
}

impl std::fmt::Display for Got {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Got::Trap(m) => write!(f, "trap ({}): {m}", trap_class(m)),
            Got::Str(s) => write!(f, "{s:?}"),
            Got::Value {
                ptr,
                lenword,
                bytes,
                log,
                heap,
            } => write!(
                f,
                "ptr {ptr} length word {lenword:#x} bytes {bytes:02x?} realloc log {log:?} heap {heap:02x?}"
            ),
        }
    }
}

/// The class of a trap message: kiln and wasmtime word traps differently, so they are
/// compared by the rule they name.
pub fn trap_class(m: &str) -> &'static str {
    let m = m.to_ascii_lowercase();
    if m.contains("cannot enter") {
        "cannot enter"
    } else if m.contains("unaligned") || m.contains("not aligned") {
        "unaligned"
    } else if m.contains("out-of-bounds")
        || m.contains("out of bounds")
        || m.contains("beyond end of memory")
    {
        "out of bounds"
    } else if m.contains("utf8")
        || m.contains("utf-8")
        || m.contains("utf16")
        || m.contains("utf-16")
        || m.contains("surrogate")
    {
        "invalid encoding"
    } else if m.contains("unreachable") {
        "unreachable"
    } else {
        "other"
    }
}

/// Which instance an export belongs to: `canon-strings.wat`, or the peer alone
/// (`canon-strings-peer.wat`, whose imports the host forwards to the first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Strings,
    Peer,
}

/// An export to call.
type Target = (Which, String);

/// What a case calls: the call and its arguments, then where the fault is set, the heap and
/// the report are read.
struct Plan {
    call: Target,
    args: Vec<V>,
    setter: Target,
    heap: Target,
    report: Target,
}

fn plan(case: &Case) -> Plan {
    let give_args = vec![
        V::List(case.bytes.iter().map(|b| V::U8(*b)).collect()),
        V::U32(case.at),
        V::U32(case.lenword),
    ];
    let (s, d) = (short(&case.src), short(&case.dst));
    let at = |w: Which, n: &str| (w, n.to_string());
    let guest = |call: Target, args: Vec<V>| Plan {
        call,
        args,
        setter: at(Which::Strings, "guest-set-fault"),
        heap: at(Which::Strings, "guest-heap"),
        report: at(Which::Strings, "guest-report-bytes"),
    };
    match case.dir {
        Dir::Take => guest(
            at(Which::Strings, &format!("take-{d}")),
            vec![V::String(String::from_utf8_lossy(&case.bytes).into_owned())],
        ),
        Dir::Give => guest(at(Which::Strings, &format!("give-{s}")), give_args),
        Dir::Send => guest(at(Which::Strings, &format!("send-{s}-{d}")), give_args),
        Dir::ImportTake => guest(at(Which::Peer, &format!("send-{s}-{d}")), give_args),
        Dir::Fetch => Plan {
            call: at(Which::Strings, &format!("fetch-{s}-{d}")),
            args: give_args,
            setter: at(Which::Strings, "peer-set-fault"),
            heap: at(Which::Strings, "peer-heap"),
            report: at(Which::Strings, "peer-report-bytes"),
        },
        Dir::ImportFetch => Plan {
            call: at(Which::Peer, &format!("fetch-{s}-{d}")),
            args: give_args,
            setter: at(Which::Peer, "set-fault"),
            heap: at(Which::Peer, "heap"),
            report: at(Which::Peer, "report-bytes"),
        },
    }
}

/// The results of an export: `set-fault`, `take-*`, `send-*` and `fetch-*` have none.
fn result_count(name: &str) -> usize {
    let none = name.contains("set-fault")
        || name.starts_with("take-")
        || name.starts_with("send-")
        || name.starts_with("fetch-");
    usize::from(!none)
}

/// The functions the peer imports from the guest (instance "guest").
const GUEST_FUNCS: [&str; 6] = [
    "take-utf8",
    "take-utf16",
    "take-latin1",
    "give-utf8",
    "give-utf16",
    "give-latin1",
];

fn u8s(v: &V) -> Result<Vec<u8>> {
    match v {
        V::List(l) => l
            .iter()
            .map(|x| match x {
                V::U8(b) => Ok(*b),
                o => Err(anyhow!("expected u8, got {o:?}")),
            })
            .collect(),
        o => Err(anyhow!("expected list<u8>, got {o:?}")),
    }
}

fn u32_of(v: &V) -> Result<u32> {
    match v {
        V::U32(x) => Ok(*x),
        o => Err(anyhow!("expected u32, got {o:?}")),
    }
}

/// Runs `case` with `call` (one runtime's `(export, args) -> result or trap message` on one
/// fresh instance).
fn script(
    case: &Case,
    mut call: impl FnMut(&Target, &[V]) -> Result<std::result::Result<Option<V>, String>>,
) -> Result<Got> {
    let p = plan(case);
    if let Some((step, kind)) = case.fault {
        call(&p.setter, &[V::U32(step), V::U32(kind)])?
            .map_err(|t| anyhow!("set-fault trapped: {t}"))?;
    }
    let v = match call(&p.call, &p.args)? {
        Err(t) => return Ok(Got::Trap(t)),
        Ok(v) => v,
    };
    if case.dir == Dir::Give {
        return match v {
            Some(V::String(s)) => Ok(Got::Str(s)),
            o => Err(anyhow!("{:?} returned {o:?}", p.call)),
        };
    }
    let heap = call(&p.heap, &[])?.map_err(|t| anyhow!("heap trapped: {t}"))?;
    let heap = u8s(&heap.ok_or_else(|| anyhow!("heap: no result"))?)?;
    let rep = call(&p.report, &[])?.map_err(|t| anyhow!("report trapped: {t}"))?;
    let Some(V::Tuple(t)) = rep else {
        bail!("report returned {rep:?}");
    };
    let [ptr, lenword, bytes, log, _hash] = &t[..] else {
        bail!("report returned {t:?}");
    };
    let log = match log {
        V::List(l) => l.iter().map(u32_of).collect::<Result<_>>()?,
        o => bail!("report log {o:?}"),
    };
    Ok(Got::Value {
        ptr: u32_of(ptr)?,
        lenword: u32_of(lenword)?,
        bytes: u8s(bytes)?,
        log,
        heap,
    })
}

/// The string components, compiled by both runtimes.
pub struct Runtimes {
    kengine: kiln_runtime::Engine,
    kc: kiln_runtime::Component,
    kpeer: kiln_runtime::Component,
    wengine: wasmtime::Engine,
    wc: wasmtime::component::Component,
    wpeer: wasmtime::component::Component,
    so: Vec<PathBuf>,
}

impl Drop for Runtimes {
    fn drop(&mut self) {
        for so in &self.so {
            let _ = std::fs::remove_file(so);
        }
    }
}

/// The components' paths: the guest with its peer, and the peer alone.
pub fn component_paths() -> [PathBuf; 2] {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../components");
    [
        dir.join("canon-strings.wat"),
        dir.join("canon-strings-peer.wat"),
    ]
}

impl Runtimes {
    /// Compiles the string components in both runtimes (`.so` files in `dir`).
    pub fn new(
        kengine: &kiln_runtime::Engine,
        wengine: &wasmtime::Engine,
        dir: &Path,
    ) -> Result<Runtimes> {
        let mut so = Vec::new();
        let mut k = Vec::new();
        let mut w = Vec::new();
        for path in component_paths() {
            let wasm = wat::parse_file(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            let out = dir.join(path.with_extension("so").file_name().expect("file name"));
            kiln_compiler::compile_to_file(
                &wasm,
                &Default::default(),
                kiln_compiler::Emit::So,
                &out,
            )
            .map_err(|e| anyhow!("kiln compile {}: {e}", path.display()))?;
            k.push(
                kiln_runtime::Component::load(kengine, &out)
                    .map_err(|e| anyhow!("kiln load: {e}"))?,
            );
            so.push(out);
            w.push(
                wasmtime::component::Component::new(wengine, &wasm)
                    .map_err(|e| anyhow!("wasmtime compile {}: {e:#}", path.display()))?,
            );
        }
        let (kpeer, wpeer) = (k.pop().expect("two"), w.pop().expect("two"));
        Ok(Runtimes {
            kengine: kengine.clone(),
            kc: k.pop().expect("two"),
            kpeer,
            wengine: wengine.clone(),
            wc: w.pop().expect("two"),
            wpeer,
            so,
        })
    }

    /// Runs `case` in kiln.
    pub fn kiln(&self, case: &Case) -> Result<Got> {
        let inst = kiln_runtime::ComponentLinker::new(&self.kengine)
            .instantiate(&self.kc)
            .map_err(|e| anyhow!("kiln instantiate: {e}"))?;
        let mut peer = None;
        if matches!(case.dir, Dir::ImportTake | Dir::ImportFetch) {
            // The peer's import "guest" forwards to `inst`, as the component scripts' host does.
            let mut linker = kiln_runtime::ComponentLinker::new(&self.kengine);
            for f in GUEST_FUNCS {
                let target = inst.clone();
                linker.interface_func("guest", f, move |args| {
                    target.call(f, args).map_err(|e| match e {
                        kiln_runtime::Error::Trap(t) => t,
                        other => kiln_runtime::Trap::host(format!("forwarding {f}: {other}")),
                    })
                });
            }
            peer = Some(
                linker
                    .instantiate(&self.kpeer)
                    .map_err(|e| anyhow!("kiln instantiate the peer: {e}"))?,
            );
        }
        script(case, |(which, name), args| {
            let args: Vec<_> = args.iter().map(to_kiln).collect();
            let target = match which {
                Which::Strings => &inst,
                Which::Peer => peer.as_ref().expect("instantiated for import cases"),
            };
            match target.call(name, &args) {
                Ok(v) => Ok(Ok(v.map(|v| from_kiln(&v)).transpose()?)),
                Err(kiln_runtime::Error::Trap(t)) => Ok(Err(t.message)),
                Err(e) => Err(anyhow!("kiln call {name}: {e}")),
            }
        })
    }

    /// Runs `case` in wasmtime.
    pub fn wasmtime(&self, case: &Case) -> Result<Got> {
        use wasmtime::component::{Instance, Linker, Val};
        let mut store: wasmtime::Store<Option<Instance>> =
            wasmtime::Store::new(&self.wengine, None);
        let inst = Linker::new(&self.wengine)
            .instantiate(&mut store, &self.wc)
            .map_err(|e| anyhow!("wasmtime instantiate: {e:#}"))?;
        *store.data_mut() = Some(inst);
        let mut peer = None;
        if matches!(case.dir, Dir::ImportTake | Dir::ImportFetch) {
            // The peer's import "guest" forwards to `inst` (kept in the store's data).
            let mut linker: Linker<Option<Instance>> = Linker::new(&self.wengine);
            let mut guest = linker
                .instance("guest")
                .map_err(|e| anyhow!("wasmtime linker: {e:#}"))?;
            for f in GUEST_FUNCS {
                guest
                    .func_new(f, move |mut store, _, params, results| {
                        let target = store.data().expect("the guest is instantiated first");
                        let func = target
                            .get_func(&mut store, f)
                            .ok_or_else(|| wasmtime::format_err!("no export {f}"))?;
                        func.call(&mut store, params, results)
                    })
                    .map_err(|e| anyhow!("wasmtime linker: {e:#}"))?;
            }
            peer = Some(
                linker
                    .instantiate(&mut store, &self.wpeer)
                    .map_err(|e| anyhow!("wasmtime instantiate the peer: {e:#}"))?,
            );
        }
        script(case, |(which, name), args| {
            let target = match which {
                Which::Strings => inst,
                Which::Peer => peer.expect("instantiated for import cases"),
            };
            let f = target
                .get_func(&mut store, name)
                .ok_or_else(|| anyhow!("wasmtime: no export {name}"))?;
            let mut results = vec![Val::Bool(false); result_count(name)];
            let args: Vec<_> = args.iter().map(to_wasmtime).collect();
            match f.call(&mut store, &args, &mut results) {
                Ok(()) => Ok(Ok(results.first().map(from_wasmtime).transpose()?)),
                Err(e) => Ok(Err(format!("{e:#}"))),
            }
        })
    }
}

/// `canon_oracle.py --serve`: the spec's answers.
pub struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Oracle {
    /// Starts the oracle (`spec`: a copy of definitions.py, else the mirror's).
    pub fn start(spec: Option<&Path>) -> Result<Oracle> {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../components/oracle/canon_oracle.py");
        let mut cmd = Command::new("python3");
        cmd.arg(&script).arg("--serve");
        if let Some(s) = spec {
            cmd.arg("--spec").arg(s);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", script.display()))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut o = Oracle {
            child,
            stdin,
            stdout,
        };
        // A first question shows that it started (the spec loaded).
        o.ask_line("give utf8 - 2048 1 -1 0 61")
            .context("the oracle does not answer")?;
        Ok(o)
    }

    /// Sends one case line, returns the answer line.
    pub fn ask_line(&mut self, line: &str) -> Result<String> {
        writeln!(self.stdin, "{line}")?;
        self.stdin.flush()?;
        let mut answer = String::new();
        if self.stdout.read_line(&mut answer)? == 0 {
            bail!("the oracle exited");
        }
        Ok(answer.trim_end().to_string())
    }

    /// The spec's outcome of `case`.
    pub fn ask(&mut self, case: &Case) -> Result<Got> {
        let a = self.ask_line(&case.line())?;
        let hex = |s: &str| -> Result<Vec<u8>> {
            if s == "-" {
                return Ok(Vec::new());
            }
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(Into::into))
                .collect()
        };
        let (kind, rest) = a.split_once(' ').unwrap_or((&a, ""));
        match kind {
            "trap" => Ok(Got::Trap(rest.to_string())),
            "string" => Ok(Got::Str(String::from_utf8(hex(rest)?)?)),
            "value" => {
                let f: Vec<&str> = rest.split(' ').collect();
                let [ptr, len, bytes, log, heap] = f[..] else {
                    bail!("oracle: {a}");
                };
                let log = if log == "-" {
                    Vec::new()
                } else {
                    log.split(',').map(str::parse).collect::<Result<_, _>>()?
                };
                Ok(Got::Value {
                    ptr: ptr.parse()?,
                    lenword: len.parse()?,
                    bytes: hex(bytes)?,
                    log,
                    heap: hex(heap)?,
                })
            }
            _ => bail!("oracle: {a}"),
        }
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether kiln's outcome is the spec's: the same rule trapping (kiln's message starts with the
/// spec rule's wording), or exactly the same value.
fn matches_spec(k: &Got, s: &Got) -> bool {
    match (k, s) {
        (Got::Trap(k), Got::Trap(s)) => k.starts_with(s.as_str()),
        (k, s) => k == s,
    }
}

/// kiln and wasmtime agree: traps of one class, equal values.
fn agree(k: &Got, w: &Got) -> bool {
    match (k, w) {
        (Got::Trap(a), Got::Trap(b)) => trap_class(a) == trap_class(b),
        (a, b) => a == b,
    }
}

/// Says precisely how kiln and wasmtime differ where a known difference may explain it.
fn characterize(case: &Case, k: &Got, w: &Got) -> String {
    let text = case.source_text();
    let below_256 = text
        .as_deref()
        .is_some_and(|t| t.chars().all(|c| u32::from(c) < 256));
    let compact_shrink = case.form() == "tagged utf16"
        && below_256
        && case.dst == "latin1+utf16"
        && matches!(case.dir, Dir::Send | Dir::Fetch);
    match (k, w) {
        (
            Got::Value {
                ptr: kp,
                lenword: kl,
                bytes: kb,
                log: klog,
                heap: kh,
            },
            Got::Value {
                ptr: wp,
                lenword: wl,
                bytes: wb,
                log: wlog,
                heap: wh,
            },
        ) => {
            if klog != wlog {
                let n = klog.len();
                let only_last_align =
                    n == wlog.len() && n >= 4 && (0..n).all(|i| i == n - 2 || klog[i] == wlog[i]);
                if only_last_align {
                    let what = format!(
                        "realloc logs differ only in the last call's alignment (kiln {}, wasmtime {})",
                        klog[n - 2],
                        wlog[n - 2]
                    );
                    return if compact_shrink {
                        format!("shrink to latin1 of a tagged utf16 string whose chars are all below 256, into latin1+utf16: {what}")
                    } else {
                        what
                    };
                }
                return "realloc logs differ".into();
            }
            if (kp, kl, kb) == (wp, wl, wb) && kh != wh {
                // Where the heaps differ, relative to the first block the destination got.
                let first = klog.get(3).copied().unwrap_or(0);
                let start = klog.get(4).copied().unwrap_or(0); // the growth's old pointer
                let diff: Vec<usize> = (0..kh.len().max(wh.len()))
                    .filter(|&i| kh.get(i) != wh.get(i))
                    .collect();
                let (lo, hi) = (
                    HEAP + *diff.first().unwrap_or(&0) as u32,
                    HEAP + *diff.last().unwrap_or(&0) as u32,
                );
                let inside_first =
                    klog.len() >= 8 && lo >= start && hi < start + first && *kp != start;
                if inside_first && case.dst == "utf8" && case.form() != "utf8" {
                    return format!(
                        "transcoding from {} to utf8: heaps differ only inside the first realloc block, which the string left",
                        case.form()
                    );
                }
                return format!("heaps differ at {lo}..={hi}");
            }
            "values differ".into()
        }
        (Got::Value { log, .. }, Got::Trap(m)) => {
            if let Some((step, 1)) = case.fault {
                let align = log.get(4 * step as usize + 2).copied();
                if trap_class(m) == "unaligned" && align == Some(1) {
                    let what = format!(
                        "wasmtime traps on the odd pointer realloc call {step} returned, which kiln asked for with alignment 1"
                    );
                    return if compact_shrink {
                        format!("shrink to latin1 of a tagged utf16 string whose chars are all below 256, into latin1+utf16: {what}")
                    } else {
                        what
                    };
                }
            }
            "kiln returns, wasmtime traps".into()
        }
        (Got::Trap(_), Got::Value { .. } | Got::Str(_)) => "kiln traps, wasmtime returns".into(),
        (Got::Trap(a), Got::Trap(b)) => {
            let (ka, wb) = (trap_class(a), trap_class(b));
            let fault_class = match case.fault {
                Some((_, 1)) => Some("unaligned"),
                Some((_, 2)) => Some("out of bounds"),
                _ => None,
            };
            if matches!(case.dir, Dir::Send | Dir::Fetch)
                && ka == "invalid encoding"
                && Some(wb) == fault_class
            {
                return format!(
                    "invalid source string and a faulty realloc in a fused adapter: kiln traps on the \
                     encoding before calling realloc, wasmtime on realloc call {}'s result",
                    case.fault.map(|f| f.0).unwrap_or(0)
                );
            }
            format!("trap classes differ ({ka}, {wb})")
        }
        _ => "results differ".into(),
    }
}

/// Outcome counters of one case.
pub struct Counted {
    /// Both trapped (same class).
    pub trapped: bool,
    /// Compared with the spec.
    pub spec: bool,
}

/// Runs one case in both runtimes (and the oracle) and judges it.
pub fn run(case: &Case, rt: &Runtimes, oracle: Option<&mut Oracle>) -> (Verdict, Counted) {
    let mut counted = Counted {
        trapped: false,
        spec: false,
    };
    let (k, w) = match (rt.kiln(case), rt.wasmtime(case)) {
        (Ok(k), Ok(w)) => (k, w),
        (k, w) => {
            return (
                Verdict::Mismatch(format!(
                    "string case {}\n  harness error: kiln {k:?}, wasmtime {w:?}",
                    case.describe()
                )),
                counted,
            )
        }
    };
    if let Some(o) = oracle {
        match o.ask(case) {
            Ok(s) => {
                counted.spec = true;
                if !matches_spec(&k, &s) {
                    // Never a known difference: kiln must do what the spec says.
                    return (
                        Verdict::Mismatch(format!(
                            "string case {}\n  kiln differs from the spec's definitions.py\n  kiln     {k}\n  spec     {s}\n  wasmtime {w}",
                            case.describe()
                        )),
                        counted,
                    );
                }
            }
            Err(e) => {
                return (
                    Verdict::Mismatch(format!("string case {}\n  oracle: {e:#}", case.describe())),
                    counted,
                )
            }
        }
    } else if case.damage.is_none() && case.fault.is_none() {
        // Without the spec, at least the string must arrive intact.
        let want = case.source_text();
        let got = match &k {
            Got::Str(s) => Some(s.clone()),
            Got::Value { lenword, bytes, .. } => decode(&case.dst, *lenword, bytes),
            Got::Trap(_) => None,
        };
        if want.is_some() && got != want {
            return (
                Verdict::Mismatch(format!(
                    "string case {}\n  kiln delivers {got:?}, not the string sent\n  kiln     {k}\n  wasmtime {w}",
                    case.describe()
                )),
                counted,
            );
        }
    }
    if !agree(&k, &w) {
        return (
            Verdict::Mismatch(format!(
                "string case {}\n  {}: {}\n  kiln     {k}\n  wasmtime {w}",
                case.describe(),
                case.path(),
                characterize(case, &k, &w)
            )),
            counted,
        );
    }
    counted.trapped = matches!(k, Got::Trap(_));
    (Verdict::Pass, counted)
}

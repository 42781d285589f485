//! Facts about the wasm input that debug info needs (custom DWARF sections, code section and
//! body offsets), and the mapping from wasm byte offsets to native code ranges.
//!
//! Wasm DWARF addresses are offsets from the start of the code section's contents; kiln's
//! source maps hold absolute file offsets. [`AddrMap`] converts between the two and, from each
//! function's source map, finds the native code produced for a range of wasm bytes.

use super::Placed;
use crate::codegen::FunctionKind;
use crate::error::Result;
use std::collections::HashMap;
use wasmparser::{Parser, Payload};

/// One function body of the input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Body {
    /// Function index.
    pub func_index: u32,
    /// Absolute offset where the body's size prefix starts.
    pub prefix_start: u64,
    /// Absolute end offset of the body.
    pub end: u64,
}

/// How a function keeps its frame base in clang's shadow stack (`-O0` prologues), so the frame
/// base can be recomputed from the stack-pointer global where its local has no home.
#[derive(Clone, Debug)]
pub(crate) struct ShadowFrame {
    /// The frame-base local (set by the prologue, never again).
    pub local: u32,
    /// The stack-pointer global.
    pub global: u32,
    /// `frame base = global - delta` wherever the recomputation is valid.
    pub delta: i64,
    /// Absolute wasm offsets `[lo, hi)` where it is valid (the whole body for a function that
    /// never sets the global; between the prologue's `global.set` and the next one otherwise,
    /// with `delta` 0).
    pub valid: (u64, u64),
    /// Absolute wasm offsets of the body's calls: in a caller frame the global holds the
    /// callee's value, so the recomputation is not used at calls.
    pub calls: std::sync::Arc<[u64]>,
}

/// A value of a shadow-stack prologue: a constant, or a global's entry value minus a constant.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sym {
    Const(i64),
    GlobalMinus(u32, i64),
}

/// Recognizes clang's shadow-stack prologue in `body` — straight-line code of `global.get G`,
/// `i32.const`, `i32.sub`/`i32.add`, `local.get/set/tee` and at most one `global.set G`, such as
/// `global.get G; local.set 2; i32.const 16; local.set 3; local.get 2; local.get 3; i32.sub;
/// local.set 4` at `-O0` — and returns the locals that hold `G - K` for the rest of the body
/// (never written again), with where that relation to the global's current value holds.
fn shadow_frames(body: &wasmparser::FunctionBody<'_>) -> Vec<ShadowFrame> {
    use wasmparser::Operator as Op;
    let Ok(mut ops) = body.get_operators_reader() else {
        return Vec::new();
    };
    let mut next = || ops.read_with_offset().ok();
    let mut stack: Vec<Sym> = Vec::new();
    let mut locals: HashMap<u32, Sym> = HashMap::new();
    // `Some((g, k))` once the prologue stored `G - k` into G.
    let mut lowered: Option<(u32, i64)> = None;
    let mut rest = None;
    for _ in 0..64 {
        let Some((op, at)) = next() else { break };
        let ok = match op {
            Op::GlobalGet { global_index } if lowered.is_none() => {
                stack.push(Sym::GlobalMinus(global_index, 0));
                true
            }
            Op::I32Const { value } => {
                stack.push(Sym::Const(i64::from(value)));
                true
            }
            Op::I32Sub | Op::I32Add => match (stack.pop(), stack.pop()) {
                (Some(b), Some(a)) => {
                    let sign = if matches!(op, Op::I32Sub) { 1 } else { -1 };
                    let v = match (a, b) {
                        (Sym::Const(x), Sym::Const(y)) => Some(Sym::Const(x - sign * y)),
                        (Sym::GlobalMinus(g, k), Sym::Const(c)) => {
                            Some(Sym::GlobalMinus(g, k + sign * c))
                        }
                        (Sym::Const(c), Sym::GlobalMinus(g, k)) if sign < 0 => {
                            Some(Sym::GlobalMinus(g, k - c))
                        }
                        _ => None,
                    };
                    v.map(|v| stack.push(v)).is_some()
                }
                _ => false,
            },
            Op::LocalGet { local_index } => {
                locals.get(&local_index).map(|v| stack.push(*v)).is_some()
            }
            Op::LocalSet { local_index } => {
                stack.pop().map(|v| locals.insert(local_index, v)).is_some()
            }
            Op::LocalTee { local_index } => stack
                .last()
                .map(|v| locals.insert(local_index, *v))
                .is_some(),
            Op::GlobalSet { global_index } if lowered.is_none() => match stack.pop() {
                Some(Sym::GlobalMinus(g, k)) if g == global_index => {
                    lowered = Some((g, k));
                    true
                }
                _ => false,
            },
            _ => false,
        };
        if !ok {
            rest = Some((op, at));
            break;
        }
    }
    let Some((first, first_at)) = rest else {
        return Vec::new();
    };
    // The rest of the body: locals written again, and each global's next write.
    let mut written = std::collections::HashSet::new();
    let mut global_sets: HashMap<u32, u64> = HashMap::new();
    let mut calls = Vec::new();
    let mut note = |op: &Op<'_>, at: usize| match *op {
        Op::LocalSet { local_index } | Op::LocalTee { local_index } => {
            written.insert(local_index);
        }
        Op::GlobalSet { global_index } => {
            global_sets.entry(global_index).or_insert(at as u64);
        }
        Op::Call { .. }
        | Op::CallIndirect { .. }
        | Op::CallRef { .. }
        | Op::ReturnCall { .. }
        | Op::ReturnCallIndirect { .. }
        | Op::ReturnCallRef { .. } => calls.push(at as u64),
        _ => {}
    };
    note(&first, first_at);
    while let Some((op, at)) = next() {
        note(&op, at);
    }
    let end = body.range().end as u64;
    let calls: std::sync::Arc<[u64]> = calls.into();
    let mut frames: Vec<ShadowFrame> = locals
        .into_iter()
        .filter(|(n, _)| !written.contains(n))
        .filter_map(|(local, v)| {
            let Sym::GlobalMinus(global, k) = v else {
                return None;
            };
            match lowered {
                // A leaf: the global keeps its entry value.
                None if !global_sets.contains_key(&global) => Some(ShadowFrame {
                    local,
                    global,
                    delta: k,
                    valid: (0, end),
                    calls: calls.clone(),
                }),
                // Lowered to `entry - ks` until the epilogue's `global.set`.
                Some((g, ks)) if g == global => Some(ShadowFrame {
                    local,
                    global,
                    delta: k - ks,
                    valid: (first_at as u64, global_sets.get(&g).copied().unwrap_or(end)),
                    calls: calls.clone(),
                }),
                _ => None,
            }
        })
        .collect();
    frames.sort_by_key(|f| f.local);
    frames
}

/// Most declared locals per function that debug info describes.
pub(crate) const MAX_DESCRIBED_LOCALS: usize = 1000;

/// What the debug info needs from the wasm bytes.
pub(crate) struct WasmFacts<'a> {
    /// Absolute offset of the code section's contents (the base of DWARF addresses).
    pub code_start: u64,
    /// Custom sections named `.debug_*`, by name.
    pub dwarf: HashMap<&'a str, &'a [u8]>,
    /// Function bodies, in order.
    pub bodies: Vec<Body>,
    /// Declared local types of each body (at most [`MAX_DESCRIBED_LOCALS`]), in order.
    pub locals: Vec<Vec<wasmparser::ValType>>,
    /// Shadow-stack frame-base candidates, by function index.
    pub frames: HashMap<u32, Vec<ShadowFrame>>,
}

fn leb_len(mut v: u64) -> u64 {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Scans `wasm` (already validated) for the facts above.
pub(crate) fn scan(wasm: &[u8], num_imported_funcs: u32) -> Result<WasmFacts<'_>> {
    let mut facts = WasmFacts {
        code_start: 0,
        dwarf: HashMap::new(),
        bodies: Vec::new(),
        locals: Vec::new(),
        frames: HashMap::new(),
    };
    let mut next = num_imported_funcs;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::CustomSection(reader) if reader.name().starts_with(".debug_") => {
                facts.dwarf.insert(reader.name(), reader.data());
            }
            Payload::CodeSectionStart { range, .. } => facts.code_start = range.start as u64,
            Payload::CodeSectionEntry(body) => {
                let r = body.range();
                let prefix_start =
                    (r.start as u64).saturating_sub(leb_len((r.end - r.start) as u64));
                let mut locals = Vec::new();
                let mut reader = body.get_locals_reader()?;
                for _ in 0..reader.get_count() {
                    let (count, ty) = reader.read()?;
                    let room = MAX_DESCRIBED_LOCALS - locals.len();
                    locals.extend(std::iter::repeat_n(ty, (count as usize).min(room)));
                }
                facts.locals.push(locals);
                let frames = shadow_frames(&body);
                if !frames.is_empty() {
                    facts.frames.insert(next, frames);
                }
                facts.bodies.push(Body {
                    func_index: next,
                    prefix_start,
                    end: r.end as u64,
                });
                next += 1;
            }
            _ => {}
        }
    }
    Ok(facts)
}

/// Maps wasm offsets to native code.
pub(crate) struct AddrMap<'a> {
    /// Every placed function (bodies and trampolines).
    pub funcs: &'a [Placed<'a>],
    /// The input's facts.
    pub facts: &'a WasmFacts<'a>,
    by_func_index: HashMap<u32, usize>,
}

impl<'a> AddrMap<'a> {
    /// Builds the map.
    pub(crate) fn new(funcs: &'a [Placed<'a>], facts: &'a WasmFacts<'a>) -> AddrMap<'a> {
        let by_func_index = funcs
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match f.func.kind {
                FunctionKind::Wasm(n) => Some((n, i)),
                _ => None,
            })
            .collect();
        AddrMap {
            funcs,
            facts,
            by_func_index,
        }
    }

    /// The absolute offset of a DWARF address.
    pub(crate) fn abs(&self, dwarf_addr: u64) -> u64 {
        dwarf_addr.wrapping_add(self.facts.code_start)
    }

    /// The body containing absolute offset `abs`.
    pub(crate) fn body_at(&self, abs: u64) -> Option<Body> {
        let i = self.facts.bodies.partition_point(|b| b.end <= abs);
        let b = *self.facts.bodies.get(i)?;
        (abs >= b.prefix_start).then_some(b)
    }

    /// The placed function compiled from the body containing absolute offset `abs`.
    pub(crate) fn function_at(&self, abs: u64) -> Option<usize> {
        let b = self.body_at(abs)?;
        self.by_func_index.get(&b.func_index).copied()
    }

    /// Native `(start, len)` ranges (function-relative) of placed function `fi` whose source
    /// lies in absolute wasm offsets `[lo, hi)`, merged and sorted.
    pub(crate) fn native_ranges(&self, fi: usize, lo: u64, hi: u64) -> Vec<(u32, u32)> {
        let f = self.funcs[fi].func;
        let len = f.code.len() as u32;
        if let Some(b) = self.body_at(lo) {
            if lo <= b.prefix_start + 1 && hi >= b.end {
                return vec![(0, len)];
            }
        }
        let mut out: Vec<(u32, u32)> = Vec::new();
        for (i, &(off, w)) in f.srclocs.iter().enumerate() {
            let w = u64::from(w);
            if w < lo || w >= hi {
                continue;
            }
            let end = f.srclocs.get(i + 1).map(|s| s.0).unwrap_or(len);
            if end <= off {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.0 + last.1 == off => last.1 = end - last.0,
                _ => out.push((off, end - off)),
            }
        }
        out
    }

    /// The native offset (in `.text`) of the first instruction compiled from absolute wasm
    /// offset `abs` or later in the same function.
    pub(crate) fn text_offset(&self, abs: u64) -> Option<u32> {
        let fi = self.function_at(abs)?;
        let p = &self.funcs[fi];
        let b = self.body_at(abs)?;
        if abs <= b.prefix_start + 1 {
            return Some(p.start);
        }
        let best = p
            .func
            .srclocs
            .iter()
            .filter(|s| u64::from(s.1) >= abs)
            .min_by_key(|s| (s.1, s.0));
        Some(p.start + best.map(|s| s.0).unwrap_or(p.func.code.len() as u32))
    }
}

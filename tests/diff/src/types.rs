//! Component value types and values for the differential test: a deterministic generator of
//! random types (bounded depth and width) and of random values of them, their canonical-ABI
//! facts (flattening, size, alignment) and their component-text spelling.
//!
//! The guest generator (`guest.rs`) turns a [`Ty`] into a component; the runtime adapters
//! (`kiln_side.rs`, `wasmtime_side.rs`) convert [`V`] to and from each runtime's values.

use crate::rng::Rng;
use std::fmt::Write;

/// A component value type.
#[derive(Clone, Debug)]
pub enum Ty {
    /// `bool`
    Bool,
    /// `s8`
    S8,
    /// `u8`
    U8,
    /// `s16`
    S16,
    /// `u16`
    U16,
    /// `s32`
    S32,
    /// `u32`
    U32,
    /// `s64`
    S64,
    /// `u64`
    U64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `char`
    Char,
    /// `string`
    String,
    /// `list<T>`
    List(Box<Ty>),
    /// `record` (field names are `f0`, `f1`, ...)
    Record(Vec<Ty>),
    /// `tuple<...>`
    Tuple(Vec<Ty>),
    /// `variant` (case names are `c0`, `c1`, ...)
    Variant(Vec<Option<Ty>>),
    /// `enum` with this many cases (`e0`, `e1`, ...)
    Enum(u32),
    /// `option<T>`
    Option(Box<Ty>),
    /// `result<ok, err>`
    Result(Option<Box<Ty>>, Option<Box<Ty>>),
    /// `flags` with this many flags (`g0`, `g1`, ..., at most 32)
    Flags(u32),
}

/// A component value (shape-compatible with both runtimes' dynamic values).
#[derive(Clone, Debug)]
pub enum V {
    /// `bool`
    Bool(bool),
    /// `s8`
    S8(i8),
    /// `u8`
    U8(u8),
    /// `s16`
    S16(i16),
    /// `u16`
    U16(u16),
    /// `s32`
    S32(i32),
    /// `u32`
    U32(u32),
    /// `s64`
    S64(i64),
    /// `u64`
    U64(u64),
    /// `f32`
    F32(f32),
    /// `f64`
    F64(f64),
    /// `char`
    Char(char),
    /// `string`
    String(String),
    /// `list`
    List(Vec<V>),
    /// `record`: field names and values
    Record(Vec<(String, V)>),
    /// `tuple`
    Tuple(Vec<V>),
    /// `variant`: case name and payload
    Variant(String, Option<Box<V>>),
    /// `enum`: case name
    Enum(String),
    /// `option`
    Option(Option<Box<V>>),
    /// `result`
    Result(Result<Option<Box<V>>, Option<Box<V>>>),
    /// `flags`: names of the set flags, in declaration order
    Flags(Vec<String>),
}

impl PartialEq for V {
    /// Structural equality where every NaN equals every NaN (kiln canonicalises NaN payloads
    /// when lifting, wasmtime keeps them; the canonical ABI allows both).
    fn eq(&self, other: &V) -> bool {
        use V::*;
        match (self, other) {
            (F32(a), F32(b)) => (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits(),
            (F64(a), F64(b)) => (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits(),
            (Bool(a), Bool(b)) => a == b,
            (S8(a), S8(b)) => a == b,
            (U8(a), U8(b)) => a == b,
            (S16(a), S16(b)) => a == b,
            (U16(a), U16(b)) => a == b,
            (S32(a), S32(b)) => a == b,
            (U32(a), U32(b)) => a == b,
            (S64(a), S64(b)) => a == b,
            (U64(a), U64(b)) => a == b,
            (Char(a), Char(b)) => a == b,
            (String(a), String(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => a == b,
            (Record(a), Record(b)) => a == b,
            (Variant(a, x), Variant(b, y)) => a == b && x == y,
            (Enum(a), Enum(b)) => a == b,
            (Option(a), Option(b)) => a == b,
            (Result(a), Result(b)) => a == b,
            (Flags(a), Flags(b)) => a == b,
            _ => false,
        }
    }
}

/// A core wasm value type of the flattened form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ct {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
}

impl Ct {
    /// The core text name.
    pub fn name(self) -> &'static str {
        match self {
            Ct::I32 => "i32",
            Ct::I64 => "i64",
            Ct::F32 => "f32",
            Ct::F64 => "f64",
        }
    }
}

fn join(a: Ct, b: Ct) -> Ct {
    match (a, b) {
        _ if a == b => a,
        (Ct::I32, Ct::F32) | (Ct::F32, Ct::I32) => Ct::I32,
        _ => Ct::I64,
    }
}

/// The number of bytes of a discriminant for `n` cases.
pub fn disc_size(n: usize) -> u32 {
    if n <= 256 {
        1
    } else if n <= 65536 {
        2
    } else {
        4
    }
}

/// Rounds `x` up to a multiple of `a`.
pub fn align_to(x: u32, a: u32) -> u32 {
    x.div_ceil(a) * a
}

impl Ty {
    /// The cases of a variant-like type (variant, option, result, enum) as optional payloads.
    pub fn cases(&self) -> Option<Vec<Option<&Ty>>> {
        Some(match self {
            Ty::Variant(c) => c.iter().map(|c| c.as_ref()).collect(),
            Ty::Option(t) => vec![None, Some(&**t)],
            Ty::Result(o, e) => vec![o.as_deref(), e.as_deref()],
            _ => return None,
        })
    }

    /// The flattened core types (CanonicalABI.md `flatten_type`).
    pub fn flat(&self) -> Vec<Ct> {
        match self {
            Ty::Bool | Ty::S8 | Ty::U8 | Ty::S16 | Ty::U16 | Ty::S32 | Ty::U32 | Ty::Char => {
                vec![Ct::I32]
            }
            Ty::Enum(_) | Ty::Flags(_) => vec![Ct::I32],
            Ty::S64 | Ty::U64 => vec![Ct::I64],
            Ty::F32 => vec![Ct::F32],
            Ty::F64 => vec![Ct::F64],
            Ty::String | Ty::List(_) => vec![Ct::I32, Ct::I32],
            Ty::Record(fs) | Ty::Tuple(fs) => fs.iter().flat_map(|f| f.flat()).collect(),
            _ => {
                let mut payload: Vec<Ct> = Vec::new();
                for c in self.cases().unwrap_or_default().into_iter().flatten() {
                    for (i, t) in c.flat().into_iter().enumerate() {
                        if i < payload.len() {
                            payload[i] = join(payload[i], t);
                        } else {
                            payload.push(t);
                        }
                    }
                }
                let mut v = vec![Ct::I32];
                v.extend(payload);
                v
            }
        }
    }

    /// Alignment in linear memory.
    pub fn align(&self) -> u32 {
        match self {
            Ty::Bool | Ty::S8 | Ty::U8 => 1,
            Ty::S16 | Ty::U16 => 2,
            Ty::S32 | Ty::U32 | Ty::F32 | Ty::Char | Ty::String | Ty::List(_) => 4,
            Ty::S64 | Ty::U64 | Ty::F64 => 8,
            Ty::Record(fs) | Ty::Tuple(fs) => fs.iter().map(|f| f.align()).max().unwrap_or(1),
            Ty::Enum(n) => disc_size(*n as usize),
            Ty::Flags(n) => flags_size(*n),
            _ => {
                let cases = self.cases().unwrap_or_default();
                cases
                    .iter()
                    .flatten()
                    .map(|t| t.align())
                    .fold(disc_size(cases.len()), u32::max)
            }
        }
    }

    /// Size in linear memory.
    pub fn size(&self) -> u32 {
        match self {
            Ty::Bool | Ty::S8 | Ty::U8 => 1,
            Ty::S16 | Ty::U16 => 2,
            Ty::S32 | Ty::U32 | Ty::F32 | Ty::Char => 4,
            Ty::S64 | Ty::U64 | Ty::F64 | Ty::String | Ty::List(_) => 8,
            Ty::Record(fs) | Ty::Tuple(fs) => {
                let mut s = 0;
                for f in fs {
                    s = align_to(s, f.align()) + f.size();
                }
                align_to(s, self.align())
            }
            Ty::Enum(n) => disc_size(*n as usize),
            Ty::Flags(n) => flags_size(*n),
            _ => {
                let off = self.payload_offset();
                let max = self
                    .cases()
                    .unwrap_or_default()
                    .iter()
                    .flatten()
                    .map(|t| t.size())
                    .max()
                    .unwrap_or(0);
                align_to(off + max, self.align())
            }
        }
    }

    /// Offset of the payload of a variant-like type.
    pub fn payload_offset(&self) -> u32 {
        let cases = self.cases().unwrap_or_default();
        let max_align = cases.iter().flatten().map(|t| t.align()).max().unwrap_or(1);
        align_to(disc_size(cases.len()), max_align)
    }

    /// Field offsets of a record or tuple.
    pub fn field_offsets(fs: &[Ty]) -> Vec<u32> {
        let mut s = 0;
        fs.iter()
            .map(|f| {
                s = align_to(s, f.align());
                let o = s;
                s += f.size();
                o
            })
            .collect()
    }
}

fn flags_size(n: u32) -> u32 {
    if n <= 8 {
        1
    } else if n <= 16 {
        2
    } else {
        4
    }
}

/// Spells types in component text; named types (record, variant, enum, flags) become type
/// definitions (written to `defs` in dependency order by the caller-supplied `define`).
pub struct TypeWriter<'a> {
    /// Definitions written so far.
    pub defs: String,
    next: u32,
    prefix: &'a str,
    /// `true` inside an instance type (exports are `(export "n" (type $x (eq $d)))`).
    in_instance: bool,
}

impl<'a> TypeWriter<'a> {
    /// A writer whose type identifiers start with `prefix`.
    pub fn new(prefix: &'a str, in_instance: bool) -> TypeWriter<'a> {
        TypeWriter {
            defs: String::new(),
            next: 0,
            prefix,
            in_instance,
        }
    }

    /// The text of a reference to `ty`, defining named types on the way.
    pub fn reference(&mut self, ty: &Ty) -> String {
        let def = match ty {
            Ty::Bool => return "bool".into(),
            Ty::S8 => return "s8".into(),
            Ty::U8 => return "u8".into(),
            Ty::S16 => return "s16".into(),
            Ty::U16 => return "u16".into(),
            Ty::S32 => return "s32".into(),
            Ty::U32 => return "u32".into(),
            Ty::S64 => return "s64".into(),
            Ty::U64 => return "u64".into(),
            Ty::F32 => return "f32".into(),
            Ty::F64 => return "f64".into(),
            Ty::Char => return "char".into(),
            Ty::String => return "string".into(),
            Ty::List(t) => return format!("(list {})", self.reference(t)),
            Ty::Option(t) => return format!("(option {})", self.reference(t)),
            Ty::Tuple(ts) => {
                let inner: Vec<String> = ts.iter().map(|t| self.reference(t)).collect();
                return format!("(tuple {})", inner.join(" "));
            }
            Ty::Result(o, e) => {
                let mut s = "(result".to_string();
                if let Some(o) = o {
                    let _ = write!(s, " {}", self.reference(o));
                }
                if let Some(e) = e {
                    let _ = write!(s, " (error {})", self.reference(e));
                }
                s.push(')');
                return s;
            }
            Ty::Record(fs) => {
                let mut s = "(record".to_string();
                for (i, f) in fs.iter().enumerate() {
                    let r = self.reference(f);
                    let _ = write!(s, " (field \"f{i}\" {r})");
                }
                s + ")"
            }
            Ty::Variant(cs) => {
                let mut s = "(variant".to_string();
                for (i, c) in cs.iter().enumerate() {
                    match c {
                        Some(t) => {
                            let r = self.reference(t);
                            let _ = write!(s, " (case \"c{i}\" {r})");
                        }
                        None => {
                            let _ = write!(s, " (case \"c{i}\")");
                        }
                    }
                }
                s + ")"
            }
            Ty::Enum(n) => {
                let names: Vec<String> = (0..*n).map(|i| format!("\"e{i}\"")).collect();
                format!("(enum {})", names.join(" "))
            }
            Ty::Flags(n) => {
                let names: Vec<String> = (0..*n).map(|i| format!("\"g{i}\"")).collect();
                format!("(flags {})", names.join(" "))
            }
        };
        let k = self.next;
        self.next += 1;
        let (p, d) = (self.prefix, format!("{}d{k}", self.prefix));
        if self.in_instance {
            let _ = writeln!(
                self.defs,
                "    (type ${d} {def})\n    (export \"{p}t{k}\" (type ${p}t{k} (eq ${d})))"
            );
        } else {
            let _ = writeln!(
                self.defs,
                "  (type ${d} {def})\n  (export ${p}t{k} \"{p}t{k}\" (type ${d}))"
            );
        }
        format!("${p}t{k}")
    }
}

/// A random type.
pub fn gen_ty(r: &mut Rng, depth: u32) -> Ty {
    let leaf = depth == 0 || r.below(3) == 0;
    if leaf {
        return match r.below(14) {
            0 => Ty::Bool,
            1 => Ty::S8,
            2 => Ty::U8,
            3 => Ty::S16,
            4 => Ty::U16,
            5 => Ty::S32,
            6 => Ty::U32,
            7 => Ty::S64,
            8 => Ty::U64,
            9 => Ty::F32,
            10 => Ty::F64,
            11 => Ty::Char,
            12 => Ty::String,
            _ => {
                if r.below(2) == 0 {
                    Ty::Enum(if r.below(8) == 0 {
                        257 + r.below(20) as u32
                    } else {
                        1 + r.below(6) as u32
                    })
                } else {
                    Ty::Flags(1 + r.below(32) as u32)
                }
            }
        };
    }
    let d = depth - 1;
    match r.below(7) {
        0 => Ty::List(Box::new(gen_ty(r, d))),
        1 => Ty::Record((0..1 + r.below(5)).map(|_| gen_ty(r, d)).collect()),
        2 => Ty::Tuple((0..1 + r.below(4)).map(|_| gen_ty(r, d)).collect()),
        3 => Ty::Variant(
            (0..1 + r.below(5))
                .map(|_| (r.below(4) != 0).then(|| gen_ty(r, d)))
                .collect(),
        ),
        4 => Ty::Option(Box::new(gen_ty(r, d))),
        5 => {
            let o = (r.below(4) != 0).then(|| Box::new(gen_ty(r, d)));
            let e = (r.below(4) != 0).then(|| Box::new(gen_ty(r, d)));
            Ty::Result(o, e)
        }
        _ => Ty::Record((0..8 + r.below(12)).map(|_| gen_ty(r, 0)).collect()),
    }
}

const CHARS: &[char] = &[
    'a',
    'Z',
    '0',
    ' ',
    'é',
    'ÿ',
    'Ā',
    '€',
    '日',
    '😀',
    '\u{10ffff}',
    '\0',
];

fn gen_string(r: &mut Rng) -> String {
    let n = r.below(12);
    (0..n)
        .map(|_| CHARS[r.below(CHARS.len() as u64) as usize])
        .collect()
}

fn gen_f64(r: &mut Rng) -> f64 {
    match r.below(8) {
        0 => f64::NAN,
        1 => f64::from_bits(0x7ff0_0000_0000_0001 | r.next() >> 13),
        2 => -0.0,
        3 => f64::INFINITY,
        4 => f64::MIN_POSITIVE / 3.0,
        _ => f64::from_bits(r.next()),
    }
}

/// A random value of `ty`; `budget` bounds the total number of list elements.
pub fn gen_val(r: &mut Rng, ty: &Ty, budget: &mut u32) -> V {
    match ty {
        Ty::Bool => V::Bool(r.below(2) == 1),
        Ty::S8 => V::S8(r.next() as i8),
        Ty::U8 => V::U8(r.next() as u8),
        Ty::S16 => V::S16(r.next() as i16),
        Ty::U16 => V::U16(r.next() as u16),
        Ty::S32 => V::S32(r.next() as i32),
        Ty::U32 => V::U32(r.next() as u32),
        Ty::S64 => V::S64(r.next() as i64),
        Ty::U64 => V::U64(r.next()),
        Ty::F32 => V::F32(gen_f64(r) as f32),
        Ty::F64 => V::F64(gen_f64(r)),
        Ty::Char => V::Char(CHARS[r.below(CHARS.len() as u64) as usize]),
        Ty::String => V::String(gen_string(r)),
        Ty::List(t) => {
            let n = (r.below(6) as u32).min(*budget);
            *budget -= n;
            V::List((0..n).map(|_| gen_val(r, t, budget)).collect())
        }
        Ty::Record(fs) => V::Record(
            fs.iter()
                .enumerate()
                .map(|(i, f)| (format!("f{i}"), gen_val(r, f, budget)))
                .collect(),
        ),
        Ty::Tuple(fs) => V::Tuple(fs.iter().map(|f| gen_val(r, f, budget)).collect()),
        Ty::Variant(cs) => {
            let i = r.below(cs.len() as u64) as usize;
            V::Variant(
                format!("c{i}"),
                cs[i].as_ref().map(|t| Box::new(gen_val(r, t, budget))),
            )
        }
        Ty::Enum(n) => V::Enum(format!("e{}", r.below(*n as u64))),
        Ty::Option(t) => V::Option((r.below(3) != 0).then(|| Box::new(gen_val(r, t, budget)))),
        Ty::Result(o, e) => {
            if r.below(2) == 0 {
                V::Result(Ok(o.as_ref().map(|t| Box::new(gen_val(r, t, budget)))))
            } else {
                V::Result(Err(e.as_ref().map(|t| Box::new(gen_val(r, t, budget)))))
            }
        }
        Ty::Flags(n) => V::Flags(
            (0..*n)
                .filter(|_| r.below(2) == 0)
                .map(|i| format!("g{i}"))
                .collect(),
        ),
    }
}

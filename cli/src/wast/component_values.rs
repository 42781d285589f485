//! Component values in wast scripts: `str.const`, `record.const`, ... arguments to runtime
//! component values, expected results to checks, and values printed back in the same syntax
//! for failure messages.
//!
//! A float result matches a NaN expectation when it is any NaN (lifting canonicalises NaNs),
//! any other float when the bits are equal. Resource handles have no script syntax: a result
//! holding one never matches.

use kiln_runtime::component::Val;
use wast::component::WastVal;
use wast::core::{NanPattern, WastArgCore, WastRetCore};
use wast::{WastArg, WastRet};

/// Converts a script argument to a component value.
pub fn arg_to_component_val(arg: &WastArg<'_>) -> Result<Val, String> {
    match arg {
        WastArg::Component(v) => Ok(to_val(v)),
        // `f32.const`/`f64.const` parse as core values first.
        WastArg::Core(WastArgCore::F32(x)) => Ok(Val::Float32(f32::from_bits(x.bits))),
        WastArg::Core(WastArgCore::F64(x)) => Ok(Val::Float64(f64::from_bits(x.bits))),
        WastArg::Core(c) => Err(format!(
            "core value {c:?} given to a component function (use component values such as \
             `u32.const`)"
        )),
        _ => Err("unsupported script argument".into()),
    }
}

/// The component value a script constant stands for.
pub fn to_val(v: &WastVal<'_>) -> Val {
    let boxed = |v: &Option<Box<WastVal<'_>>>| v.as_deref().map(|v| Box::new(to_val(v)));
    match v {
        WastVal::Bool(b) => Val::Bool(*b),
        WastVal::U8(x) => Val::U8(*x),
        WastVal::S8(x) => Val::S8(*x),
        WastVal::U16(x) => Val::U16(*x),
        WastVal::S16(x) => Val::S16(*x),
        WastVal::U32(x) => Val::U32(*x),
        WastVal::S32(x) => Val::S32(*x),
        WastVal::U64(x) => Val::U64(*x),
        WastVal::S64(x) => Val::S64(*x),
        WastVal::F32(x) => Val::Float32(f32::from_bits(x.bits)),
        WastVal::F64(x) => Val::Float64(f64::from_bits(x.bits)),
        WastVal::Char(c) => Val::Char(*c),
        WastVal::String(s) => Val::String((*s).to_string()),
        WastVal::List(l) => Val::List(l.iter().map(to_val).collect()),
        WastVal::Record(fields) => Val::Record(
            fields
                .iter()
                .map(|(n, v)| ((*n).to_string(), to_val(v)))
                .collect(),
        ),
        WastVal::Tuple(l) => Val::Tuple(l.iter().map(to_val).collect()),
        WastVal::Variant(case, payload) => Val::Variant((*case).to_string(), boxed(payload)),
        WastVal::Enum(case) => Val::Enum((*case).to_string()),
        WastVal::Option(o) => Val::Option(boxed(o)),
        WastVal::Result(Ok(v)) => Val::Result(Ok(boxed(v))),
        WastVal::Result(Err(v)) => Val::Result(Err(boxed(v))),
        WastVal::Flags(f) => Val::Flags(f.iter().map(|s| (*s).to_string()).collect()),
    }
}

/// Checks a component call's result against the expected values (none or one).
pub fn check_component_results(got: Option<&Val>, expected: &[WastRet<'_>]) -> Result<(), String> {
    let want = expected
        .iter()
        .map(|r| match r {
            WastRet::Component(v) => Ok(to_val(v)),
            // `f32.const`/`f64.const` parse as core values first; a NaN pattern is any NaN.
            WastRet::Core(WastRetCore::F32(p)) => Ok(Val::Float32(match p {
                NanPattern::Value(x) => f32::from_bits(x.bits),
                _ => f32::NAN,
            })),
            WastRet::Core(WastRetCore::F64(p)) => Ok(Val::Float64(match p {
                NanPattern::Value(x) => f64::from_bits(x.bits),
                _ => f64::NAN,
            })),
            WastRet::Core(c) => Err(format!(
                "core result {c:?} expected from a component function"
            )),
            _ => Err("unsupported expected result".into()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    match (got, want.as_slice()) {
        (None, []) => Ok(()),
        (Some(g), [w]) if matches(g, w) => Ok(()),
        (Some(g), [w]) => Err(format!(
            "expected {}, got {}",
            format_cval(w),
            format_cval(g)
        )),
        (None, _) => Err(format!("expected {} results, got none", want.len())),
        (Some(g), _) => Err(format!(
            "expected {} results, got one: {}",
            want.len(),
            format_cval(g)
        )),
    }
}

/// Whether `got` matches `want` (NaN matches any NaN).
fn matches(got: &Val, want: &Val) -> bool {
    let all =
        |a: &[Val], b: &[Val]| a.len() == b.len() && a.iter().zip(b).all(|(g, w)| matches(g, w));
    let opt = |a: &Option<Box<Val>>, b: &Option<Box<Val>>| match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => matches(a, b),
        _ => false,
    };
    match (got, want) {
        (Val::Float32(g), Val::Float32(w)) => {
            (g.is_nan() && w.is_nan()) || g.to_bits() == w.to_bits()
        }
        (Val::Float64(g), Val::Float64(w)) => {
            (g.is_nan() && w.is_nan()) || g.to_bits() == w.to_bits()
        }
        (Val::List(g), Val::List(w)) | (Val::Tuple(g), Val::Tuple(w)) => all(g, w),
        (Val::Map(g), Val::Map(w)) => {
            g.len() == w.len()
                && g.iter()
                    .zip(w)
                    .all(|((gk, gv), (wk, wv))| matches(gk, wk) && matches(gv, wv))
        }
        // Scripts have no map syntax: a map matches the list of (key, value) tuples.
        (Val::Map(g), Val::List(w)) => {
            g.len() == w.len()
                && g.iter().zip(w).all(|((gk, gv), w)| match w {
                    Val::Tuple(kv) if kv.len() == 2 => matches(gk, &kv[0]) && matches(gv, &kv[1]),
                    _ => false,
                })
        }
        (Val::Record(g), Val::Record(w)) => {
            g.len() == w.len()
                && g.iter()
                    .zip(w)
                    .all(|((gn, gv), (wn, wv))| gn == wn && matches(gv, wv))
        }
        (Val::Variant(gc, gp), Val::Variant(wc, wp)) => gc == wc && opt(gp, wp),
        (Val::Option(g), Val::Option(w)) => opt(g, w),
        (Val::Result(Ok(g)), Val::Result(Ok(w))) | (Val::Result(Err(g)), Val::Result(Err(w))) => {
            opt(g, w)
        }
        (Val::Flags(g), Val::Flags(w)) => {
            let (mut g, mut w) = (g.clone(), w.clone());
            g.sort();
            w.sort();
            g == w
        }
        (Val::Own(_) | Val::Borrow(_) | Val::Stream(_) | Val::Future(_), _) => false,
        (g, w) => g == w,
    }
}

/// A component value in script syntax, for failure messages.
pub fn format_cval(v: &Val) -> String {
    let opt = |p: &Option<Box<Val>>| match p {
        Some(v) => format!(" {}", format_cval(v)),
        None => String::new(),
    };
    let seq = |l: &[Val]| {
        l.iter()
            .map(|v| format!(" {}", format_cval(v)))
            .collect::<String>()
    };
    match v {
        Val::Bool(b) => format!("(bool.const {b})"),
        Val::S8(x) => format!("(s8.const {x})"),
        Val::U8(x) => format!("(u8.const {x})"),
        Val::S16(x) => format!("(s16.const {x})"),
        Val::U16(x) => format!("(u16.const {x})"),
        Val::S32(x) => format!("(s32.const {x})"),
        Val::U32(x) => format!("(u32.const {x})"),
        Val::S64(x) => format!("(s64.const {x})"),
        Val::U64(x) => format!("(u64.const {x})"),
        Val::Float32(x) => format!("(f32.const {x} (bits {:#010x}))", x.to_bits()),
        Val::Float64(x) => format!("(f64.const {x} (bits {:#018x}))", x.to_bits()),
        Val::Char(c) => format!("(char.const {:?})", c.to_string()),
        Val::String(s) => format!("(str.const {s:?})"),
        Val::List(l) => format!("(list.const{})", seq(l)),
        Val::Map(entries) => format!(
            "(list.const{})",
            entries
                .iter()
                .map(|(k, v)| format!(" (tuple.const {} {})", format_cval(k), format_cval(v)))
                .collect::<String>()
        ),
        Val::Tuple(l) => format!("(tuple.const{})", seq(l)),
        Val::Record(fields) => format!(
            "(record.const{})",
            fields
                .iter()
                .map(|(n, v)| format!(" (field {n:?} {})", format_cval(v)))
                .collect::<String>()
        ),
        Val::Variant(c, p) => format!("(variant.const {c:?}{})", opt(p)),
        Val::Enum(c) => format!("(enum.const {c:?})"),
        Val::Option(None) => "(option.none)".into(),
        Val::Option(Some(v)) => format!("(option.some {})", format_cval(v)),
        Val::Result(Ok(p)) => format!("(result.ok{})", opt(p)),
        Val::Result(Err(p)) => format!("(result.err{})", opt(p)),
        Val::Flags(f) => format!(
            "(flags.const{})",
            f.iter().map(|n| format!(" {n:?}")).collect::<String>()
        ),
        Val::Own(h) => format!("(own handle {h})"),
        Val::Borrow(h) => format!("(borrow handle {h})"),
        Val::Stream(id) => format!("(stream {id})"),
        Val::Future(id) => format!("(future {id})"),
    }
}

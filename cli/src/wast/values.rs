//! Values in wast scripts: arguments to runtime values, and expected results to checks.
//!
//! `(ref.extern N)` is the runtime value `Val::ExternRef(Some(N))`.

use kiln_runtime::Val;
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::token::{F32, F64};
use wast::{WastArg, WastRet};

/// Converts a script argument to a runtime value.
pub fn arg_to_val(arg: &WastArg<'_>) -> Result<Val, String> {
    let core = match arg {
        WastArg::Core(c) => c,
        #[allow(unreachable_patterns)]
        _ => return Err("component-model arguments are not supported".into()),
    };
    Ok(match core {
        WastArgCore::I32(v) => Val::I32(*v),
        WastArgCore::I64(v) => Val::I64(*v),
        WastArgCore::F32(v) => Val::F32(v.bits),
        WastArgCore::F64(v) => Val::F64(v.bits),
        WastArgCore::V128(v) => Val::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(ht) => match heap_kind(ht) {
            Some(RefKind::Func) => Val::FuncRef(None),
            Some(RefKind::Extern) => Val::ExternRef(None),
            Some(RefKind::Exn) => Val::ExnRef(None),
            None => return Err(format!("unsupported null reference type {ht:?}")),
        },
        WastArgCore::RefExtern(n) => Val::ExternRef(Some(u64::from(*n))),
        WastArgCore::RefHost(_) => return Err("ref.host is not supported".into()),
    })
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum RefKind {
    Func,
    Extern,
    Exn,
}

fn heap_kind(ht: &HeapType<'_>) -> Option<RefKind> {
    match ht {
        HeapType::Abstract {
            ty: AbstractHeapType::Func | AbstractHeapType::NoFunc,
            ..
        } => Some(RefKind::Func),
        HeapType::Abstract {
            ty: AbstractHeapType::Extern | AbstractHeapType::NoExtern,
            ..
        } => Some(RefKind::Extern),
        HeapType::Abstract {
            ty: AbstractHeapType::Exn | AbstractHeapType::NoExn,
            ..
        } => Some(RefKind::Exn),
        // A typed function reference `(ref null $t)`.
        HeapType::Concrete(_) => Some(RefKind::Func),
        _ => None,
    }
}

/// Checks `results` against the expected values; the error says what differs.
pub fn check_results(results: &[Val], expected: &[WastRet<'_>]) -> Result<(), String> {
    if results.len() != expected.len() {
        return Err(format!(
            "expected {} results, got {}: [{}]",
            expected.len(),
            results.len(),
            list(results)
        ));
    }
    for (i, (got, want)) in results.iter().zip(expected).enumerate() {
        let want = match want {
            WastRet::Core(c) => c,
            #[allow(unreachable_patterns)]
            _ => return Err("component-model results are not supported".into()),
        };
        if !matches(got, want) {
            return Err(format!(
                "result {i}: expected {}, got {}",
                describe_expected(want),
                format_val(got)
            ));
        }
    }
    Ok(())
}

fn matches(got: &Val, want: &WastRetCore<'_>) -> bool {
    match (want, got) {
        (WastRetCore::I32(w), Val::I32(g)) => w == g,
        (WastRetCore::I64(w), Val::I64(g)) => w == g,
        (WastRetCore::F32(w), Val::F32(g)) => f32_matches(*g, w),
        (WastRetCore::F64(w), Val::F64(g)) => f64_matches(*g, w),
        (WastRetCore::V128(w), Val::V128(g)) => v128_matches(*g, w),
        (WastRetCore::RefNull(ht), Val::FuncRef(None)) => ht
            .as_ref()
            .is_none_or(|h| heap_kind(h) == Some(RefKind::Func)),
        (WastRetCore::RefNull(ht), Val::ExternRef(None)) => ht
            .as_ref()
            .is_none_or(|h| heap_kind(h) == Some(RefKind::Extern)),
        (WastRetCore::RefNull(ht), Val::ExnRef(None)) => ht
            .as_ref()
            .is_none_or(|h| heap_kind(h) == Some(RefKind::Exn)),
        (WastRetCore::RefExtern(None), Val::ExternRef(Some(_))) => true,
        (WastRetCore::RefExtern(Some(n)), Val::ExternRef(Some(h))) => u64::from(*n) == *h,
        (WastRetCore::RefFunc(_), Val::FuncRef(Some(_))) => true,
        (WastRetCore::Either(cases), _) => cases.iter().any(|c| matches(got, c)),
        _ => false,
    }
}

fn f32_matches(bits: u32, want: &NanPattern<F32>) -> bool {
    match want {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
        NanPattern::ArithmeticNan => bits & 0x7fc0_0000 == 0x7fc0_0000,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn f64_matches(bits: u64, want: &NanPattern<F64>) -> bool {
    const QUIET: u64 = 0x7ff8_0000_0000_0000;
    match want {
        NanPattern::CanonicalNan => bits & !(1 << 63) == QUIET,
        NanPattern::ArithmeticNan => bits & QUIET == QUIET,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn v128_matches(got: u128, want: &V128Pattern) -> bool {
    let b = got.to_le_bytes();
    match want {
        V128Pattern::I8x16(l) => l.iter().zip(b).all(|(w, g)| *w as u8 == g),
        V128Pattern::I16x8(l) => l
            .iter()
            .enumerate()
            .all(|(i, w)| u16::from_le_bytes([b[2 * i], b[2 * i + 1]]) == *w as u16),
        V128Pattern::I32x4(l) => l
            .iter()
            .enumerate()
            .all(|(i, w)| lane32(&b, i) == *w as u32),
        V128Pattern::I64x2(l) => l
            .iter()
            .enumerate()
            .all(|(i, w)| lane64(&b, i) == *w as u64),
        V128Pattern::F32x4(l) => l
            .iter()
            .enumerate()
            .all(|(i, w)| f32_matches(lane32(&b, i), w)),
        V128Pattern::F64x2(l) => l
            .iter()
            .enumerate()
            .all(|(i, w)| f64_matches(lane64(&b, i), w)),
    }
}

fn lane32(b: &[u8; 16], i: usize) -> u32 {
    u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
}

fn lane64(b: &[u8; 16], i: usize) -> u64 {
    let mut l = [0u8; 8];
    l.copy_from_slice(&b[8 * i..8 * i + 8]);
    u64::from_le_bytes(l)
}

/// A value as a wast constant, for failure messages.
pub fn format_val(v: &Val) -> String {
    match v {
        Val::I32(x) => format!("(i32.const {x})"),
        Val::I64(x) => format!("(i64.const {x})"),
        Val::F32(x) => format!("(f32.const {} (bits {x:#010x}))", f32::from_bits(*x)),
        Val::F64(x) => format!("(f64.const {} (bits {x:#018x}))", f64::from_bits(*x)),
        Val::V128(x) => format!(
            "(v128.const i64x2 {:#x} {:#x})",
            *x as u64,
            (*x >> 64) as u64
        ),
        Val::FuncRef(None) => "(ref.null func)".into(),
        Val::FuncRef(Some(_)) => "(ref.func)".into(),
        Val::ExternRef(None) => "(ref.null extern)".into(),
        Val::ExternRef(Some(h)) => format!("(ref.extern {h})"),
        Val::ExnRef(None) => "(ref.null exn)".into(),
        Val::ExnRef(Some(e)) => match *e {},
    }
}

/// A list of values, for failure messages.
pub fn list(vals: &[Val]) -> String {
    vals.iter().map(format_val).collect::<Vec<_>>().join(" ")
}

fn describe_expected(want: &WastRetCore<'_>) -> String {
    fn nan<T: std::fmt::Debug>(p: &NanPattern<T>) -> String {
        match p {
            NanPattern::CanonicalNan => "nan:canonical".into(),
            NanPattern::ArithmeticNan => "nan:arithmetic".into(),
            NanPattern::Value(v) => format!("{v:?}"),
        }
    }
    match want {
        WastRetCore::I32(x) => format!("(i32.const {x})"),
        WastRetCore::I64(x) => format!("(i64.const {x})"),
        WastRetCore::F32(NanPattern::Value(v)) => format!(
            "(f32.const {} (bits {:#010x}))",
            f32::from_bits(v.bits),
            v.bits
        ),
        WastRetCore::F64(NanPattern::Value(v)) => format!(
            "(f64.const {} (bits {:#018x}))",
            f64::from_bits(v.bits),
            v.bits
        ),
        WastRetCore::F32(p) => format!("(f32.const {})", nan(p)),
        WastRetCore::F64(p) => format!("(f64.const {})", nan(p)),
        WastRetCore::V128(p) => format!("(v128.const {p:?})"),
        WastRetCore::RefNull(_) => "(ref.null)".into(),
        WastRetCore::RefExtern(Some(n)) => format!("(ref.extern {n})"),
        WastRetCore::RefExtern(None) => "(ref.extern)".into(),
        WastRetCore::RefFunc(_) => "(ref.func)".into(),
        WastRetCore::Either(c) => format!(
            "(either {})",
            c.iter()
                .map(describe_expected)
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => format!("{other:?}"),
    }
}

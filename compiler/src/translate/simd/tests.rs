//! Unit tests of the SIMD translator: every WebAssembly 2.0 SIMD operator is translated inside
//! a small module by the real translator (`translate_function`), the IR is checked by the
//! Cranelift verifier and compiled for x86-64 at both optimisation levels, with no external
//! references (libcalls) left in the machine code.

use crate::config::Tunables;
use crate::module;
use crate::translate::translate_function;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::isa::{self, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use kiln_environ::BoundsChecks;
use std::str::FromStr;

/// Unary `v128 -> v128` operators.
const UNARY: &[&str] = &[
    "v128.not",
    "i8x16.abs",
    "i8x16.neg",
    "i8x16.popcnt",
    "i16x8.abs",
    "i16x8.neg",
    "i32x4.abs",
    "i32x4.neg",
    "i64x2.abs",
    "i64x2.neg",
    "i16x8.extadd_pairwise_i8x16_s",
    "i16x8.extadd_pairwise_i8x16_u",
    "i32x4.extadd_pairwise_i16x8_s",
    "i32x4.extadd_pairwise_i16x8_u",
    "i16x8.extend_low_i8x16_s",
    "i16x8.extend_high_i8x16_s",
    "i16x8.extend_low_i8x16_u",
    "i16x8.extend_high_i8x16_u",
    "i32x4.extend_low_i16x8_s",
    "i32x4.extend_high_i16x8_s",
    "i32x4.extend_low_i16x8_u",
    "i32x4.extend_high_i16x8_u",
    "i64x2.extend_low_i32x4_s",
    "i64x2.extend_high_i32x4_s",
    "i64x2.extend_low_i32x4_u",
    "i64x2.extend_high_i32x4_u",
    "f32x4.ceil",
    "f32x4.floor",
    "f32x4.trunc",
    "f32x4.nearest",
    "f32x4.abs",
    "f32x4.neg",
    "f32x4.sqrt",
    "f64x2.ceil",
    "f64x2.floor",
    "f64x2.trunc",
    "f64x2.nearest",
    "f64x2.abs",
    "f64x2.neg",
    "f64x2.sqrt",
    "i32x4.trunc_sat_f32x4_s",
    "i32x4.trunc_sat_f32x4_u",
    "f32x4.convert_i32x4_s",
    "f32x4.convert_i32x4_u",
    "i32x4.trunc_sat_f64x2_s_zero",
    "i32x4.trunc_sat_f64x2_u_zero",
    "f64x2.convert_low_i32x4_s",
    "f64x2.convert_low_i32x4_u",
    "f32x4.demote_f64x2_zero",
    "f64x2.promote_low_f32x4",
];

/// Binary `v128 v128 -> v128` operators, without the comparisons (see [`comparisons`]).
const BINARY: &[&str] = &[
    "i8x16.swizzle",
    "v128.and",
    "v128.andnot",
    "v128.or",
    "v128.xor",
    "i8x16.narrow_i16x8_s",
    "i8x16.narrow_i16x8_u",
    "i16x8.narrow_i32x4_s",
    "i16x8.narrow_i32x4_u",
    "i8x16.add",
    "i8x16.add_sat_s",
    "i8x16.add_sat_u",
    "i8x16.sub",
    "i8x16.sub_sat_s",
    "i8x16.sub_sat_u",
    "i8x16.min_s",
    "i8x16.min_u",
    "i8x16.max_s",
    "i8x16.max_u",
    "i8x16.avgr_u",
    "i16x8.add",
    "i16x8.add_sat_s",
    "i16x8.add_sat_u",
    "i16x8.sub",
    "i16x8.sub_sat_s",
    "i16x8.sub_sat_u",
    "i16x8.mul",
    "i16x8.min_s",
    "i16x8.min_u",
    "i16x8.max_s",
    "i16x8.max_u",
    "i16x8.avgr_u",
    "i16x8.q15mulr_sat_s",
    "i16x8.extmul_low_i8x16_s",
    "i16x8.extmul_high_i8x16_s",
    "i16x8.extmul_low_i8x16_u",
    "i16x8.extmul_high_i8x16_u",
    "i32x4.add",
    "i32x4.sub",
    "i32x4.mul",
    "i32x4.min_s",
    "i32x4.min_u",
    "i32x4.max_s",
    "i32x4.max_u",
    "i32x4.dot_i16x8_s",
    "i32x4.extmul_low_i16x8_s",
    "i32x4.extmul_high_i16x8_s",
    "i32x4.extmul_low_i16x8_u",
    "i32x4.extmul_high_i16x8_u",
    "i64x2.add",
    "i64x2.sub",
    "i64x2.mul",
    "i64x2.extmul_low_i32x4_s",
    "i64x2.extmul_high_i32x4_s",
    "i64x2.extmul_low_i32x4_u",
    "i64x2.extmul_high_i32x4_u",
    "f32x4.add",
    "f32x4.sub",
    "f32x4.mul",
    "f32x4.div",
    "f32x4.min",
    "f32x4.max",
    "f32x4.pmin",
    "f32x4.pmax",
    "f64x2.add",
    "f64x2.sub",
    "f64x2.mul",
    "f64x2.div",
    "f64x2.min",
    "f64x2.max",
    "f64x2.pmin",
    "f64x2.pmax",
];

/// `v128 -> i32` reductions.
const REDUCE: &[&str] = &[
    "v128.any_true",
    "i8x16.all_true",
    "i16x8.all_true",
    "i32x4.all_true",
    "i64x2.all_true",
    "i8x16.bitmask",
    "i16x8.bitmask",
    "i32x4.bitmask",
    "i64x2.bitmask",
];

/// Loads `i32 -> v128`.
const LOADS: &[&str] = &[
    "v128.load",
    "v128.load8x8_s",
    "v128.load8x8_u",
    "v128.load16x4_s",
    "v128.load16x4_u",
    "v128.load32x2_s",
    "v128.load32x2_u",
    "v128.load8_splat",
    "v128.load16_splat",
    "v128.load32_splat",
    "v128.load64_splat",
    "v128.load32_zero",
    "v128.load64_zero",
];

/// Lane shapes: (shape, scalar type, lane count, has signed/unsigned extract).
const SHAPES: &[(&str, &str, u32, bool)] = &[
    ("i8x16", "i32", 16, true),
    ("i16x8", "i32", 8, true),
    ("i32x4", "i32", 4, false),
    ("i64x2", "i64", 2, false),
    ("f32x4", "f32", 4, false),
    ("f64x2", "f64", 2, false),
];

/// The comparison operators.
fn comparisons() -> Vec<String> {
    let mut out = Vec::new();
    for shape in ["i8x16", "i16x8", "i32x4"] {
        for op in [
            "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u",
        ] {
            out.push(format!("{shape}.{op}"));
        }
    }
    for op in ["eq", "ne", "lt_s", "gt_s", "le_s", "ge_s"] {
        out.push(format!("i64x2.{op}"));
    }
    for shape in ["f32x4", "f64x2"] {
        for op in ["eq", "ne", "lt", "gt", "le", "ge"] {
            out.push(format!("{shape}.{op}"));
        }
    }
    out
}

/// A module with one function per SIMD operator (several for lane operators, one per lane
/// extreme), and the number of distinct operators it covers.
fn all_operators_module() -> (String, usize) {
    let mut funcs = Vec::new();
    let mut ops = std::collections::BTreeSet::new();
    let mut add = |op: &str, func: String| {
        ops.insert(op.to_string());
        funcs.push(func);
    };
    for op in UNARY {
        add(
            op,
            format!("(func (param v128) (result v128) local.get 0 {op})"),
        );
    }
    for op in BINARY.iter().map(|s| s.to_string()).chain(comparisons()) {
        add(
            &op,
            format!("(func (param v128 v128) (result v128) local.get 0 local.get 1 {op})"),
        );
    }
    for op in REDUCE {
        add(
            op,
            format!("(func (param v128) (result i32) local.get 0 {op})"),
        );
    }
    for shape in ["i8x16", "i16x8", "i32x4", "i64x2"] {
        for sh in ["shl", "shr_s", "shr_u"] {
            let op = format!("{shape}.{sh}");
            // Both a variable and a constant (out-of-range) shift amount.
            add(
                &op,
                format!("(func (param v128 i32) (result v128) local.get 0 local.get 1 {op})"),
            );
            add(
                &op,
                format!("(func (param v128) (result v128) local.get 0 i32.const 67 {op})"),
            );
        }
    }
    add(
        "v128.bitselect",
        "(func (param v128 v128 v128) (result v128) \
         local.get 0 local.get 1 local.get 2 v128.bitselect)"
            .into(),
    );
    add(
        "v128.const",
        "(func (result v128) v128.const i32x4 1 -2 0x7fffffff 0x80000000)".into(),
    );
    add(
        "i8x16.shuffle",
        "(func (param v128 v128) (result v128) local.get 0 local.get 1 \
         i8x16.shuffle 0 17 2 19 4 21 6 23 8 25 10 27 12 29 14 31)"
            .into(),
    );
    for &(shape, scalar, lanes, signed) in SHAPES {
        let splat = format!("{shape}.splat");
        add(
            &splat,
            format!("(func (param {scalar}) (result v128) local.get 0 {splat})"),
        );
        for lane in [0, lanes - 1] {
            let exts: &[&str] = if signed { &["_s", "_u"] } else { &[""] };
            for ext in exts {
                let op = format!("{shape}.extract_lane{ext}");
                add(
                    &op,
                    format!("(func (param v128) (result {scalar}) local.get 0 {op} {lane})"),
                );
            }
            let op = format!("{shape}.replace_lane");
            add(
                &op,
                format!(
                    "(func (param v128 {scalar}) (result v128) local.get 0 local.get 1 {op} {lane})"
                ),
            );
        }
    }
    for op in LOADS {
        add(
            op,
            format!("(func (param i32) (result v128) local.get 0 {op} offset=65535)"),
        );
    }
    add(
        "v128.store",
        "(func (param i32 v128) local.get 0 local.get 1 v128.store offset=3 align=1)".into(),
    );
    for (bits, lanes) in [(8, 16), (16, 8), (32, 4), (64, 2)] {
        for lane in [0, lanes - 1] {
            let load = format!("v128.load{bits}_lane");
            add(
                &load,
                format!(
                    "(func (param i32 v128) (result v128) local.get 0 local.get 1 {load} offset=1 {lane})"
                ),
            );
            let store = format!("v128.store{bits}_lane");
            add(
                &store,
                format!("(func (param i32 v128) local.get 0 local.get 1 {store} offset=1 {lane})"),
            );
        }
    }
    // v128 values through locals, blocks, `select` and control flow.
    funcs.push(
        "(func (param v128 v128 i32) (result v128) (local v128) \
         local.get 0 local.set 3 \
         (block (result v128) local.get 1 local.get 2 br_if 0 drop local.get 3) \
         local.get 0 local.get 2 select \
         f32.const nan f32x4.splat f32x4.add)"
            .to_string(),
    );
    let n = ops.len();
    let text = format!("(module (memory 1) {})", funcs.join("\n"));
    (text, n)
}

/// An x86-64 target ISA at Cranelift optimisation level `opt` with the verifier on.
fn x64_isa(opt: &str) -> OwnedTargetIsa {
    let mut flags = settings::builder();
    flags.set("opt_level", opt).unwrap();
    flags.set("enable_verifier", "true").unwrap();
    flags.set("is_pic", "true").unwrap();
    let triple = target_lexicon::Triple::from_str("x86_64-unknown-linux-gnu").unwrap();
    let mut b = isa::lookup(triple).unwrap();
    for f in [
        "has_sse3",
        "has_ssse3",
        "has_sse41",
        "has_sse42",
        "has_popcnt",
    ] {
        b.enable(f).unwrap();
    }
    b.finish(settings::Flags::new(flags)).unwrap()
}

/// Translates, verifies and compiles every function of `wat`; returns how many there were.
fn compile_all(wat: &str, opt: &str, bounds_checks: BoundsChecks) -> usize {
    let wasm = wat::parse_str(wat).expect("test module is valid text");
    let mut m = module::parse(&wasm).expect("test module validates");
    let isa = x64_isa(opt);
    let tunables = Tunables {
        bounds_checks,
        ..Tunables::default()
    };
    let bodies = std::mem::take(&mut m.bodies);
    let n = bodies.len();
    for (i, body) in bodies.into_iter().enumerate() {
        let func = translate_function(&m, &*isa, &tunables, i as u32, body)
            .unwrap_or_else(|e| panic!("function {i}: translation failed: {e}"));
        if let Err(errors) = cranelift_codegen::verify_function(&func, &*isa) {
            panic!(
                "function {i}: verifier errors:\n{errors}\n{}",
                func.display()
            );
        }
        let mut ctx = Context::for_function(func);
        let code = match ctx.compile(&*isa, &mut ControlPlane::default()) {
            Ok(code) => code,
            Err(e) => panic!("function {i}: compile failed: {:?}", e.inner),
        };
        assert!(
            code.buffer.relocs().is_empty(),
            "function {i} needs relocations (libcalls?): {:?}",
            code.buffer.relocs()
        );
    }
    n
}

/// Number of operators of the `simd` proposal as wasmparser lists them (relaxed-simd apart).
fn wasmparser_simd_operator_count() -> usize {
    macro_rules! count {
        ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
            [$(stringify!($proposal)),*].iter().filter(|p| **p == "simd").count()
        };
    }
    wasmparser::for_each_visit_simd_operator!(count)
}

#[test]
fn covers_every_simd_operator() {
    let (_, n) = all_operators_module();
    assert_eq!(n, wasmparser_simd_operator_count());
}

#[test]
fn every_operator_verifies_and_compiles_unoptimised() {
    let (wat, _) = all_operators_module();
    assert!(compile_all(&wat, "none", BoundsChecks::Guard) > 0);
}

#[test]
fn every_operator_verifies_and_compiles_optimised() {
    let (wat, _) = all_operators_module();
    assert!(compile_all(&wat, "speed", BoundsChecks::Guard) > 0);
}

#[test]
fn explicit_bounds_checks_and_multi_memory() {
    let wat = r#"(module (memory 1) (memory $m 2)
        (func (param i32 v128) (result v128)
            local.get 0 local.get 1 v128.store $m offset=4294967295
            local.get 0 v128.load $m offset=16
            local.get 0 v128.load32_zero offset=4294967290 i8x16.add))"#;
    assert_eq!(compile_all(wat, "speed", BoundsChecks::Explicit), 1);
}

#[test]
fn unreachable_simd_code_is_skipped() {
    let wat = r#"(module (func (result v128)
        unreachable i8x16.add v128.any_true drop v128.const i64x2 0 0))"#;
    assert_eq!(compile_all(wat, "none", BoundsChecks::Guard), 1);
}

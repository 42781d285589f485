//! Unit tests of the translator: translate small modules, run the Cranelift verifier on the
//! result and lower it with the host (x86_64) ISA.

use super::*;
use crate::module::parse;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use kiln_environ::BoundsChecks;

fn isa() -> OwnedTargetIsa {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").unwrap();
    flags.set("is_pic", "true").unwrap();
    flags.set("preserve_frame_pointers", "true").unwrap();
    flags.set("enable_verifier", "true").unwrap();
    cranelift_native::builder()
        .unwrap()
        .finish(settings::Flags::new(flags))
        .unwrap()
}

/// Translates every function of `wat`, verifies and compiles it; returns the IR.
fn translate_with(wat: &str, tunables: Tunables) -> Result<Vec<ir::Function>> {
    let bytes = wat::parse_str(wat).expect("valid wat");
    let mut module = parse(&bytes)?;
    let bodies = std::mem::take(&mut module.bodies);
    let isa = isa();
    let mut out = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let func = translate_function(&module, isa.as_ref(), &tunables, i as u32, body)?;
        if let Err(e) = cranelift_codegen::verify_function(&func, isa.as_ref()) {
            panic!("verifier errors in function {i}:\n{e}\n{}", func.display());
        }
        let mut ctx = Context::for_function(func.clone());
        if let Err(e) = ctx.compile(isa.as_ref(), &mut ControlPlane::default()) {
            panic!(
                "compile error in function {i}: {:?}\n{}",
                e.inner,
                func.display()
            );
        }
        out.push(func);
    }
    Ok(out)
}

fn translate(wat: &str) -> Vec<ir::Function> {
    for (bc, epoch) in [(BoundsChecks::Explicit, false), (BoundsChecks::Guard, true)] {
        let t = Tunables {
            bounds_checks: bc,
            epoch_interruption: epoch,
        };
        translate_with(wat, t).unwrap_or_else(|e| panic!("translation failed: {e}"));
    }
    translate_with(wat, Tunables::default()).unwrap()
}

#[test]
fn trap_codes_round_trip() {
    for k in TrapKind::ALL {
        assert_eq!(trap_kind(trap_code(k)), Some(k), "{k:?}");
    }
    assert_eq!(trap_kind(TrapCode::unwrap_user(200)), None);
}

#[test]
fn signature_shape() {
    let isa = isa();
    let ty = FuncType {
        params: vec![ValType::I32, ValType::V128, ValType::FuncRef],
        results: vec![ValType::F64, ValType::ExternRef],
    };
    let sig = wasm_signature(isa.as_ref(), &ty);
    assert_eq!(sig.call_conv, CallConv::Tail);
    let p: Vec<_> = sig.params.iter().map(|p| p.value_type).collect();
    assert_eq!(
        p,
        [types::I64, types::I64, types::I32, types::I8X16, types::I64]
    );
    let r: Vec<_> = sig.returns.iter().map(|p| p.value_type).collect();
    assert_eq!(r, [types::F64, types::I64]);
}

#[test]
fn name_srclocs_and_stack_limit() {
    let funcs = translate(
        r#"(module (func $a) (func $b (param i32) (result i32) local.get 0 i32.const 1 i32.add))"#,
    );
    assert_eq!(funcs[1].name, UserFuncName::user(0, 1));
    assert!(funcs[1].stack_limit.is_some());
    for f in &funcs {
        for block in f.layout.blocks() {
            for inst in f.layout.block_insts(block) {
                assert!(!f.srcloc(inst).is_default(), "{}", f.display());
            }
        }
    }
}

#[test]
fn integer_ops() {
    let mut body = String::new();
    for ty in ["i32", "i64"] {
        for op in ["clz", "ctz", "popcnt", "eqz"] {
            body += &format!("({ty}.const 7) ({ty}.{op}) drop\n");
        }
        for op in [
            "add", "sub", "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor", "shl",
            "shr_s", "shr_u", "rotl", "rotr", "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s",
            "le_u", "ge_s", "ge_u",
        ] {
            body += &format!("(local.get ${ty}) ({ty}.const 3) ({ty}.{op}) drop\n");
        }
    }
    for op in ["i32.extend8_s", "i32.extend16_s"] {
        body += &format!("(local.get $i32) ({op}) drop\n");
    }
    for op in [
        "i64.extend8_s",
        "i64.extend16_s",
        "i64.extend32_s",
        "i32.wrap_i64",
    ] {
        body += &format!("(local.get $i64) ({op}) drop\n");
    }
    body += "(local.get $i32) (i64.extend_i32_s) (local.get $i32) (i64.extend_i32_u) drop drop\n";
    let wat = format!("(module (func (local $i32 i32) (local $i64 i64)\n{body}))");
    translate(&wat);
}

#[test]
fn float_ops_and_conversions() {
    let mut body = String::new();
    for ty in ["f32", "f64"] {
        for op in ["abs", "neg", "ceil", "floor", "trunc", "nearest", "sqrt"] {
            body += &format!("(local.get ${ty}) ({ty}.{op}) drop\n");
        }
        for op in [
            "add", "sub", "mul", "div", "min", "max", "copysign", "eq", "ne", "lt", "gt", "le",
            "ge",
        ] {
            body += &format!("(local.get ${ty}) ({ty}.const -0.5) ({ty}.{op}) drop\n");
        }
        for it in ["i32", "i64"] {
            for s in ["s", "u"] {
                body += &format!("(local.get ${ty}) ({it}.trunc_{ty}_{s}) drop\n");
                body += &format!("(local.get ${ty}) ({it}.trunc_sat_{ty}_{s}) drop\n");
                body += &format!("(local.get ${it}) ({ty}.convert_{it}_{s}) drop\n");
            }
        }
    }
    body += "(local.get $f32) (f64.promote_f32) (f32.demote_f64) drop\n";
    body += "(local.get $f32) (i32.reinterpret_f32) (f32.reinterpret_i32) drop\n";
    body += "(local.get $f64) (i64.reinterpret_f64) (f64.reinterpret_i64) drop\n";
    let wat = format!(
        "(module (func (local $i32 i32) (local $i64 i64) (local $f32 f32) (local $f64 f64)\n{body}))"
    );
    translate(&wat);
}

#[test]
fn control_flow() {
    translate(
        r#"(module
        (func (export "f") (param i32) (result i32)
          (block $out (result i32)
            (loop $l (result i32)
              (br_if $l (i32.eqz (local.get 0)))
              (block $a (block $b (block $c
                (br_table $a $b $c (local.get 0))) ) )
              (if (result i32) (local.get 0)
                (then (i32.const 1))
                (else (br $out (i32.const 2))))
            )
          )
        )
        ;; multi-value blocks, loops and ifs with parameters
        (func (param i32 i64) (result i64 i32)
          (local.get 1) (local.get 0)
          (block (param i64 i32) (result i64 i32))
          (loop (param i64 i32) (result i64 i32)
            (if (param i64 i32) (result i64 i32) (i32.const 1)
              (then)
              (else (drop) (i32.const 5)))
          )
          (if (param i64 i32) (result i64 i32) (i32.const 0) (then))
        )
        ;; br_table carrying values, some targets loops
        (func (param i32) (result i32)
          (block $a (result i32)
            (block $b (result i32)
              (br_table $a $b $a (i32.const 9) (local.get 0))))
        )
        (func (param i32)
          (loop $l
            (block $x (br_table $l $x $l (local.get 0)))))
        ;; return from nested code, implicit return of values
        (func (param i32) (result i32)
          (if (local.get 0) (then (return (i32.const 3))))
          (block (br_if 0 (local.get 0)) (return (i32.const 4)))
          (i32.const 5))
        (func (result i32) (i32.const 1) (return))
        (func (result f32) (f32.const 1) (br 0))
        (func (param i32) (result i32) (local.get 0) (br_if 0 (i32.const 1)))
      )"#,
    );
}

#[test]
fn unreachable_code() {
    translate(
        r#"(module
        (func (result i32) (unreachable))
        (func (result i32) (unreachable) (i32.add))
        (func (result i32) (return (i32.const 1)) (i32.const 2))
        (func (param i32) (result i32)
          (block (result i32)
            (br 0 (i32.const 1))
            (block (result i32) (loop (if (i32.const 0) (then (i32.const 2) (drop)) (else (nop)))) (i32.const 1))
            (i32.add)))
        (func (param i32) (result i32)
          (if (result i32) (local.get 0)
            (then (unreachable))
            (else (i32.const 1))))
        (func (param i32) (result i32)
          (if (result i32) (local.get 0)
            (then (i32.const 1))
            (else (unreachable))))
        (func (param i32) (result i32)
          (if (result i32) (local.get 0)
            (then (return (i32.const 1)))
            (else (br 1 (i32.const 2)))))
        (func (param i32)
          (if (local.get 0) (then (unreachable))))
        (func (param i32) (result i32)
          (block $b (result i32)
            (loop $l (br $l))
            (i32.const 1)))
        (func (param i32) (result i32)
          (block (result i32)
            (br_table 0 0 (i32.const 1) (local.get 0))
            (if (then (unreachable)) (else (unreachable)))
            (i32.const 2)))
        (func (result i32) (loop (result i32) (unreachable)))
        (func (param i32) (result i32)
          (block (result i32) (i32.const 1) (br_if 0 (local.get 0)) (unreachable)))
        (func (unreachable) (block) (loop) (if (then) (else)) (call $end_of_unreachable_nesting))
        (func $end_of_unreachable_nesting)
      )"#,
    );
}

#[test]
fn memories_and_globals() {
    let mut body = String::new();
    for (ty, loads) in [
        (
            "i32",
            &["load", "load8_s", "load8_u", "load16_s", "load16_u"][..],
        ),
        (
            "i64",
            &[
                "load", "load8_s", "load8_u", "load16_s", "load16_u", "load32_s", "load32_u",
            ][..],
        ),
        ("f32", &["load"][..]),
        ("f64", &["load"][..]),
    ] {
        for l in loads {
            body += &format!("(drop ({ty}.{l} offset=4294967295 (local.get 0)))\n");
            body += &format!("(drop ({ty}.{l} 1 offset=3 (local.get 0)))\n");
        }
    }
    for (ty, stores) in [
        ("i32", &["store", "store8", "store16"][..]),
        ("i64", &["store", "store8", "store16", "store32"][..]),
        ("f32", &["store"][..]),
        ("f64", &["store"][..]),
    ] {
        for s in stores {
            body += &format!("({ty}.{s} 1 offset=8 (local.get 0) ({ty}.const 1))\n");
        }
    }
    let wat = format!(
        r#"(module
        (import "env" "m" (memory 1))
        (import "env" "g" (global $ig (mut i64)))
        (import "env" "c" (global $ic f32))
        (memory $m1 1 2)
        (global $g (mut i32) (i32.const 0))
        (global $v (mut v128) (v128.const i64x2 0 0))
        (data $d "hello")
        (func (param i32) (local v128)
          {body}
          (global.set $g (i32.add (global.get $g) (i32.const 1)))
          (global.set $ig (i64.const 1))
          (drop (global.get $ic))
          (global.set $v (local.get 1))
          (drop (memory.size))
          (drop (memory.size $m1))
          (drop (memory.grow (i32.const 1)))
          (drop (memory.grow $m1 (i32.const 1)))
          (memory.fill (local.get 0) (i32.const 0) (i32.const 4))
          (memory.copy 1 0 (local.get 0) (i32.const 0) (i32.const 4))
          (memory.init 1 $d (local.get 0) (i32.const 0) (i32.const 4))
          (data.drop $d)
        ))"#
    );
    translate(&wat);
}

#[test]
fn tables_refs_and_calls() {
    translate(
        r#"(module
        (type $t (func (param i32) (result i32)))
        (import "env" "f" (func $imp (param i32) (result i32)))
        (import "env" "t" (table $it 1 funcref))
        (table $tab 2 funcref)
        (table $ext 2 externref)
        (elem $e func $f $imp)
        (elem declare func $g)
        (func $f (param i32) (result i32)
          (drop (call $imp (local.get 0)))
          (drop (call $g (local.get 0)))
          (drop (call_indirect $tab (type $t) (local.get 0) (i32.const 1)))
          (drop (call_indirect $it (type $t) (local.get 0) (i32.const 0)))
          (table.set $tab (i32.const 0) (ref.func $g))
          (drop (ref.is_null (table.get $tab (i32.const 0))))
          (table.set $ext (i32.const 0) (ref.null extern))
          (drop (table.size $ext))
          (drop (table.grow $tab (ref.null func) (i32.const 3)))
          (table.fill $ext (i32.const 0) (ref.null extern) (i32.const 1))
          (table.copy $tab $it (i32.const 0) (i32.const 0) (i32.const 1))
          (table.init $tab $e (i32.const 0) (i32.const 0) (i32.const 1))
          (elem.drop $e)
          (select (local.get 0) (i32.const 1) (local.get 0))
          (drop (select (result externref) (ref.null extern) (ref.null extern) (local.get 0)))
        )
        (func $g (param i32) (result i32)
          (return_call $f (local.get 0)))
        (func $h (param i32) (result i32)
          (return_call $imp (local.get 0)))
        (func $i (param i32) (result i32)
          (return_call_indirect $tab (type $t) (local.get 0) (local.get 0)))
      )"#,
    );
}

#[test]
fn invalid_bodies_are_errors() {
    let cases = [
        "(module (func (result i32) (i64.const 1)))",
        "(module (func (i32.add (i32.const 1))))",
        "(module (func (br 1)))",
        "(module (func (local.get 3)))",
        "(module (func (block (result i32) (i32.const 1) (i32.const 2))))",
    ];
    for wat in cases {
        let bytes = match wat::parse_str(wat) {
            Ok(b) => b,
            Err(_) => continue,
        };
        let Ok(mut module) = parse(&bytes) else {
            continue;
        };
        let bodies = std::mem::take(&mut module.bodies);
        let isa = isa();
        let body = bodies.into_iter().next().unwrap();
        let err = translate_function(&module, isa.as_ref(), &Tunables::default(), 0, body)
            .expect_err(wat);
        assert!(err.offset.is_some(), "{wat}: {err}");
    }
}

/// Every instruction of `f` with opcode `name`.
fn count_opcode(f: &ir::Function, name: &str) -> usize {
    f.layout
        .blocks()
        .flat_map(|b| f.layout.block_insts(b))
        .filter(|i| f.dfg.insts[*i].opcode().to_string() == name)
        .count()
}

/// Every trap code `f` can raise through `trap`/`trapz`/`trapnz`.
fn trap_codes(f: &ir::Function) -> Vec<TrapCode> {
    f.layout
        .blocks()
        .flat_map(|b| f.layout.block_insts(b))
        .filter_map(|i| f.dfg.insts[i].trap_code())
        .collect()
}

#[test]
fn epoch_checks_at_entry_and_loop_headers() {
    let wat = "(module (func (loop (br 0))))";
    let on = Tunables {
        bounds_checks: BoundsChecks::Guard,
        epoch_interruption: true,
    };
    let off = Tunables {
        epoch_interruption: false,
        ..on
    };
    let f = &translate_with(wat, on).unwrap()[0];
    assert_eq!(count_opcode(f, "atomic_load"), 2, "{}", f.display());
    assert_eq!(count_opcode(f, "call_indirect"), 2, "{}", f.display());
    let f = &translate_with(wat, off).unwrap()[0];
    assert_eq!(count_opcode(f, "atomic_load"), 0, "{}", f.display());
}

#[test]
fn bounds_check_modes() {
    let wat =
        "(module (memory 1) (func (param i32) (result i32) (i32.load offset=8 (local.get 0))))";
    let guard = Tunables {
        bounds_checks: BoundsChecks::Guard,
        epoch_interruption: false,
    };
    let explicit = Tunables {
        bounds_checks: BoundsChecks::Explicit,
        ..guard
    };
    let f = &translate_with(wat, guard).unwrap()[0];
    assert!(!trap_codes(f).contains(&TrapCode::HEAP_OUT_OF_BOUNDS));
    let f = &translate_with(wat, explicit).unwrap()[0];
    assert!(
        trap_codes(f).contains(&TrapCode::HEAP_OUT_OF_BOUNDS),
        "{}",
        f.display()
    );
}

#[test]
fn trapping_operators_use_the_right_codes() {
    let f = &translate(
        r#"(module
        (type $t (func))
        (table 1 funcref)
        (func (param i32 i64)
          (drop (i32.div_s (local.get 0) (local.get 0)))
          (drop (i64.rem_u (local.get 1) (local.get 1)))
          (call_indirect (type $t) (local.get 0))
          (drop (table.get 0 (local.get 0)))
          (unreachable)))"#,
    )[0];
    let codes = trap_codes(f);
    for kind in [
        TrapKind::IntegerDivisionByZero,
        TrapKind::IntegerOverflow,
        TrapKind::TableIndexOutOfBounds,
        TrapKind::IndirectCallToNull,
        TrapKind::BadSignature,
        TrapKind::TableOutOfBounds,
        TrapKind::UnreachableCodeReached,
    ] {
        assert!(
            codes.contains(&trap_code(kind)),
            "{kind:?}\n{}",
            f.display()
        );
    }
}

/// Calls inside a `try_table` (and the `throw_ref` builtin call) become `try_call`s naming the
/// catch clauses' landing blocks; calls outside it and tail calls inside it do not.
#[test]
fn try_table_calls_are_try_calls() {
    let funcs = translate(
        r#"(module
             (tag $e (param i32))
             (func $f (param i32) (result i32) (local.get 0))
             (func (param i32) (result i32)
               (drop (call $f (i32.const 0)))
               (block $all
                 (block $h (result i32)
                   (try_table (result i32) (catch $e $h) (catch_all $all)
                     (drop (call $f (i32.const 1)))
                     (if (local.get 0) (then (throw $e (i32.const 2))))
                     (call $f (i32.const 3))))
                 (return))
               (i32.const 0))
             (func (param i32) (result i32)
               (block $h (result i32)
                 (try_table (catch $e $h) (return_call $f (local.get 0)))
                 (unreachable))))"#,
    );
    let text = funcs[1].display().to_string();
    assert_eq!(text.matches("try_call ").count(), 2, "{text}");
    assert_eq!(text.matches("try_call_indirect ").count(), 1, "{text}");
    assert!(text.contains("tag0: block"), "{text}");
    assert!(text.contains("default: block"), "{text}");
    let text = funcs[2].display().to_string();
    assert!(!text.contains("try_call"), "{text}");
    assert!(text.contains("return_call "), "{text}");
}

/// Calls inside deeply nested `try_table`s with many clauses each name every clause: the total
/// is bounded, beyond it the function is a compile error (not unbounded memory).
#[test]
fn catch_handlers_in_scope_are_bounded() {
    let mut wat = String::from("(module (tag $e) (func $f) (func\n");
    let catches = " (catch_all 0)".repeat(100);
    for _ in 0..100 {
        wat.push_str(&format!("(block (try_table{catches}\n"));
    }
    wat.push_str(&"(call $f)\n".repeat(110));
    wat.push_str(&"))".repeat(100));
    wat.push_str("))");
    let err = translate_with(&wat, Tunables::default()).unwrap_err();
    assert!(err.to_string().contains("too many catch handlers"), "{err}");
}

/// Under `-g`, every exit (return, tail call, `unreachable`) stores the vmctx and every local
/// (a `stack_store`, which the builder writes as `stack_addr` + `store`)
/// into the keep-alive slot, and no reachable `unreachable` ends a block in `trap` (Cranelift
/// treats such blocks as cold and gives them no value locations); without `-g`, neither.
#[test]
fn debug_info_keeps_the_vmctx_and_locals_alive_to_every_exit() {
    let wat = r#"(module
        (func $f (param i32 i64) (result i32)
          (local f64 v128)
          (if (local.get 0) (then (unreachable)))
          (if (local.get 0) (then (return (i32.const 1))))
          (return_call $f (local.get 0) (local.get 1)))
        (func (result i32) (i32.const 2)))"#;
    let bytes = wat::parse_str(wat).expect("valid wat");
    let isa = isa();
    for debug in [false, true] {
        let mut module = parse(&bytes).unwrap();
        let bodies = std::mem::take(&mut module.bodies);
        for (i, body) in bodies.into_iter().enumerate() {
            let func = translate_function_with_debug(
                &module,
                isa.as_ref(),
                &Tunables::default(),
                i as u32,
                body,
                debug,
            )
            .unwrap();
            if let Err(e) = cranelift_codegen::verify_function(&func, isa.as_ref()) {
                panic!("verifier errors in function {i}:\n{e}\n{}", func.display());
            }
            let text = func.display().to_string();
            let mut ctx = Context::for_function(func);
            ctx.compile(isa.as_ref(), &mut ControlPlane::default())
                .unwrap_or_else(|e| panic!("compile error: {:?}\n{text}", e.inner));
            let stores = text.matches("stack_addr").count();
            if !debug {
                assert_eq!(stores, 0, "{text}");
                continue;
            }
            // The vmctx and 4 locals at the `unreachable`, the `return` and the tail call (the
            // final `end` is unreachable); the vmctx alone at function 1's `end`.
            let expected = if i == 0 { 3 * 5 } else { 1 };
            assert_eq!(stores, expected, "{text}");
            let traps = text.lines().filter(|l| l.trim_start().starts_with("trap "));
            assert_eq!(traps.count(), 0, "{text}");
        }
    }
}

/// Once a function's keep-alive budget is spent, exits keep only the vmctx alive: with
/// 40 000 locals (wasmparser allows 50 000), the `return` stores all of them, the final `end`
/// only the vmctx.
#[test]
fn debug_info_keep_alive_is_bounded() {
    let n = 40_000;
    assert!(n < super::KEEP_ALIVE_BUDGET && 2 * n > super::KEEP_ALIVE_BUDGET);
    let locals = " i32".repeat(n);
    let wat = format!("(module (func (local{locals}) (if (i32.const 0) (then (return)))))");
    let bytes = wat::parse_str(&wat).expect("valid wat");
    let isa = isa();
    let mut module = parse(&bytes).unwrap();
    let body = std::mem::take(&mut module.bodies).remove(0);
    let func =
        translate_function_with_debug(&module, isa.as_ref(), &Tunables::default(), 0, body, true)
            .unwrap();
    let text = func.display().to_string();
    assert_eq!(text.matches("stack_addr").count(), n + 2);
}

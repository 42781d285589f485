//! The wast engine itself: every directive kind passes when it should and fails when it should.

use kiln_cli::wast::{CompileOptions, FileReport, WastRunner};

fn run(script: &str) -> FileReport {
    let runner = WastRunner::new(CompileOptions::default()).unwrap();
    // Deep recursion in assert_exhaustion runs on this thread's stack.
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(16 << 20)
            .spawn_scoped(s, || runner.run_script("test.wast", script))
            .unwrap()
            .join()
            .unwrap()
    })
}

fn assert_all_pass(script: &str) {
    let r = run(script);
    let failures: Vec<String> = r.failures().map(|f| f.to_string()).collect();
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

#[test]
fn every_directive_kind() {
    assert_all_pass(
        r#"
(module $M
  (global (export "g") i32 (i32.const 42))
  (memory (export "mem") 1)
  (table (export "tab") 2 funcref)
  (func $id (export "id") (param i32) (result i32) (local.get 0))
  (func (export "f32") (param f32) (result f32) (local.get 0))
  (func (export "nan") (result f32) (f32.div (f32.const 0) (f32.const 0)))
  (func (export "v") (param v128) (result v128) (local.get 0))
  (func (export "ext") (param externref) (result externref) (local.get 0))
  (func (export "fr") (result funcref) (ref.func $id))
  (func (export "null") (result funcref) (ref.null func))
  (func (export "trap") unreachable)
  (func $r (export "rec") (call $r))
  (func (export "multi") (result i32 i64) (i32.const 1) (i64.const -1)))
(register "M" $M)
(assert_return (invoke "id" (i32.const -7)) (i32.const -7))
(assert_return (invoke $M "id" (i32.const 3)) (i32.const 3))
(assert_return (get "g") (i32.const 42))
(assert_return (get $M "g") (i32.const 42))
(assert_return (invoke "f32" (f32.const nan:0x200000)) (f32.const nan:0x200000))
(assert_return (invoke "nan") (f32.const nan:canonical))
(assert_return (invoke "nan") (f32.const nan:arithmetic))
(assert_return (invoke "v" (v128.const i32x4 1 2 3 -1)) (v128.const i32x4 1 2 3 -1))
(assert_return (invoke "v" (v128.const f32x4 nan 1 2 3)) (v128.const f32x4 nan:canonical 1 2 3))
(assert_return (invoke "v" (v128.const i8x16 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 -1))
               (v128.const i16x8 0x100 0x302 0x504 0x706 0x908 0xb0a 0xd0c 0xff0e))
(assert_return (invoke "ext" (ref.extern 0)) (ref.extern 0))
(assert_return (invoke "ext" (ref.extern 5)) (ref.extern))
(assert_return (invoke "ext" (ref.null extern)) (ref.null extern))
(assert_return (invoke "fr") (ref.func))
(assert_return (invoke "null") (ref.null func))
(assert_return (invoke "multi") (i32.const 1) (i64.const -1))
(assert_return (invoke "multi") (either (i32.const 2) (i32.const 1)) (i64.const -1))
(invoke "id" (i32.const 0))
(assert_trap (invoke "trap") "unreachable")
(assert_exhaustion (invoke "rec") "call stack exhausted")
(module
  (import "M" "id" (func $id (param i32) (result i32)))
  (import "M" "mem" (memory 1))
  (import "spectest" "print_i32" (func $p (param i32)))
  (import "spectest" "global_i32" (global $g i32))
  (import "spectest" "table" (table 10 funcref))
  (import "spectest" "memory" (memory 1 2))
  (func (export "call") (result i32) (call $p (i32.const 1)) (call $id (global.get $g))))
(assert_return (invoke "call") (i32.const 666))
(assert_trap (module (memory 1) (func $s unreachable) (start $s)) "unreachable")
(assert_invalid (module (func (result i32))) "type mismatch")
(assert_malformed (module quote "(func") "unexpected end")
(assert_malformed (module binary "\00asm\02\00\00\00") "unknown binary version")
(assert_unlinkable (module (import "M" "nope" (func))) "unknown import")
(assert_unlinkable (module (import "M" "id" (func (param i64)))) "incompatible import type")
(module binary "\00asm\01\00\00\00")
(module definition $D (func (export "one") (result i32) (i32.const 1)))
(module instance $I $D)
(assert_return (invoke $I "one") (i32.const 1))
"#,
    );
}

#[test]
fn wrong_expectations_fail() {
    let r = run(r#"
(module (func (export "one") (result i32) (i32.const 1)) (func (export "t") unreachable))
(assert_return (invoke "one") (i32.const 2))
(assert_return (invoke "one"))
(assert_trap (invoke "one") "unreachable")
(assert_trap (invoke "t") "integer divide by zero")
(assert_invalid (module (func (result i32) (i32.const 0))) "type mismatch")
(assert_malformed (module binary "\00asm\01\00\00\00") "whatever")
(assert_unlinkable (module) "unknown import")
(assert_return (invoke "missing"))
(assert_return (invoke $Nope "one") (i32.const 1))
"#);
    assert_eq!(r.passed(), 1, "{:#?}", r.results);
    assert_eq!(r.failed(), 9);
    let lines: Vec<usize> = r.failures().map(|f| f.line).collect();
    assert_eq!(lines, (3..=11).collect::<Vec<_>>());
}

#[test]
fn unparsable_script_is_one_failure() {
    let r = run("(module (func)) (assert_return");
    assert_eq!(r.failed(), 1);
    assert_eq!(r.results[0].kind, "parse");
}

#[test]
fn modules_are_compiled_once() {
    let runner = WastRunner::new(CompileOptions::default()).unwrap();
    let script = r#"(module (func (export "f"))) (module (func (export "f"))) (invoke "f")"#;
    let a = runner.run_script("a.wast", script);
    let b = runner.run_script("b.wast", script);
    assert_eq!(
        a.failed() + b.failed(),
        0,
        "{:#?} {:#?}",
        a.results,
        b.results
    );
    assert_eq!(runner.cache().compiled_count(), 1);
}

;; The Wasm 3.0 type system as far as kiln compiles it (it comes with exception handling):
;; types of one recursion group are distinct types, for imports, call_indirect and tags alike,
;; and typed references travel as their top types.

(module $R
  (rec (type $a (func)) (type $b (func)))
  (func (export "fa") (type $a))
  (func (export "fb") (type $b))
  (tag (export "ta") (type $a))
  (tag (export "tb") (type $b)))
(register "R" $R)

(module
  (rec (type $a (func)) (type $b (func)))
  (import "R" "fa" (func (type $a)))
  (import "R" "fb" (func (type $b)))
  (import "R" "ta" (tag (type $a)))
  (import "R" "tb" (tag (type $b))))

(assert_unlinkable
  (module (rec (type $a (func)) (type $b (func))) (import "R" "fa" (func (type $b))))
  "incompatible import type")
(assert_unlinkable
  (module (import "R" "fa" (func)))
  "incompatible import type")
(assert_unlinkable
  (module (rec (type $a (func)) (type $b (func))) (import "R" "tb" (tag (type $a))))
  "incompatible import type")

;; call_indirect compares canonical types.
(module
  (rec (type $a (func)) (type $b (func)))
  (type $c (func))
  (table 3 funcref)
  (func $fa (type $a)) (func $fb (type $b)) (func $fc (type $c))
  (elem (i32.const 0) func $fa $fb $fc)
  (func (export "call-a") (param i32) (call_indirect (type $a) (local.get 0)))
  (func (export "call-c") (param i32) (call_indirect (type $c) (local.get 0))))
(assert_return (invoke "call-a" (i32.const 0)))
(assert_trap (invoke "call-a" (i32.const 1)) "indirect call type mismatch")
(assert_trap (invoke "call-a" (i32.const 2)) "indirect call type mismatch")
(assert_return (invoke "call-c" (i32.const 2)))
(assert_trap (invoke "call-c" (i32.const 0)) "indirect call type mismatch")

;; Typed references: parameters, results, locals, blocks, tags.
(module
  (type $t (func (result i32)))
  (tag $e (param (ref $t)))
  (table $tab 1 funcref)
  (func $seven (type $t) (i32.const 7))
  (elem declare func $seven)
  (func $id (param (ref null $t)) (result (ref null $t)) (local.get 0))
  (func (export "run") (result i32)
    (local $f (ref null $t))
    (local.set $f (call $id (ref.func $seven)))
    (block $h (result (ref $t))
      (try_table (catch $e $h) (throw $e (ref.func $seven)))
      (unreachable))
    (local.set $f)
    (table.set $tab (i32.const 0) (local.get $f))
    (call_indirect $tab (type $t) (i32.const 0))))
(assert_return (invoke "run") (i32.const 7))
(assert_invalid
  (module (type $t (func)) (func (result (ref $t)) (ref.null $t)))
  "type mismatch")

;; Exceptions inside a component and at its boundary: core instances share tags (an exported
;; tag passed to another core instance, or re-exported by a synthesized instance, is the same
;; tag), exceptions cross core instances of one component, and an exception that reaches a
;; component boundary is a trap there (it never crosses into another component).

(component
  (core module $Tags (tag (export "t") (param i32)))
  (core module $Thrower
    (import "env" "t" (tag $t (param i32)))
    (func (export "throw") (param i32) (throw $t (local.get 0))))
  (core module $Catcher
    (import "env" "t" (tag $t (param i32)))
    (import "thrower" "throw" (func $throw (param i32)))
    (func (export "run") (param i32) (result i32)
      (block $h (result i32)
        (try_table (catch $t $h) (call $throw (local.get 0)))
        (i32.const -1))
      (i32.const 1) (i32.add)))
  (core instance $tags (instantiate $Tags))
  (alias core export $tags "t" (core tag $t))
  (core instance $env (export "t" (tag $t)))
  (core instance $thrower (instantiate $Thrower (with "env" (instance $env))))
  (core instance $catcher (instantiate $Catcher
    (with "env" (instance $tags))
    (with "thrower" (instance $thrower))))
  (func (export "run") (param "x" u32) (result u32)
    (canon lift (core func $catcher "run")))
  (func (export "escape") (param "x" u32)
    (canon lift (core func $thrower "throw"))))

(assert_return (invoke "run" (u32.const 41)) (u32.const 42))
(assert_trap (invoke "escape" (u32.const 1)) "uncaught exception")

;; A component calling another component's function that throws: the callee's exception is a
;; trap at the callee's boundary, which the caller's catch_all does not catch. (Siblings: a call
;; between an instance and its parent or child is reentrance, which traps first.)
(component
  (component $A
    (core module $M
      (tag $t (param i32))
      (func (export "boom") (param i32) (result i32) (throw $t (local.get 0))))
    (core instance $m (instantiate $M))
    (func (export "boom") (param "x" u32) (result u32) (canon lift (core func $m "boom"))))
  (component $B
    (import "boom" (func $boom-f (param "x" u32) (result u32)))
    (core func $boom (canon lower (func $boom-f)))
    (core module $B
      (import "a" "boom" (func $boom (param i32) (result i32)))
      (func (export "run") (param i32) (result i32)
        (block $h
          (try_table (catch_all $h) (return (call $boom (local.get 0)))))
        (i32.const 99)))
    (core instance $b (instantiate $B (with "a" (instance (export "boom" (func $boom))))))
    (func (export "run") (param "x" u32) (result u32) (canon lift (core func $b "run"))))
  (instance $a (instantiate $A))
  (instance $b (instantiate $B (with "boom" (func $a "boom"))))
  (export "run" (func $b "run")))

(assert_trap (invoke "run" (u32.const 1)) "uncaught exception")

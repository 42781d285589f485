;; Tags across modules: imported tags are the exporter's, every instantiation of a module
;; defining a tag makes a new tag, and import types are checked.

(module $tags
  (tag $a (export "a") (param i32))
  (tag $b (export "b") (param i32))
  (func (export "throw-a") (param i32) (throw $a (local.get 0)))
  (func (export "throw-b") (param i32) (throw $b (local.get 0))))
(register "tags" $tags)

;; A second instance of the same module: its tags are different tags.
(module $tags2
  (tag $a (export "a") (param i32))
  (func (export "throw-a") (param i32) (throw $a (local.get 0))))
(register "tags2" $tags2)

(module $catcher
  (import "tags" "a" (tag $a (param i32)))
  (import "tags" "b" (tag $b (param i32)))
  (import "tags" "throw-a" (func $throw-a (param i32)))
  (import "tags" "throw-b" (func $throw-b (param i32)))
  (import "tags2" "throw-a" (func $other-throw-a (param i32)))
  (tag $local (param i32))

  ;; 1: caught as $a, 2: caught as $b, 3: a tag of another instance (catch_all).
  (func (export "which") (param i32) (result i32)
    (block $other
      (block $cb (result i32)
        (block $ca (result i32)
          (try_table (catch $a $ca) (catch $b $cb) (catch_all $other)
            (if (i32.eq (local.get 0) (i32.const 1)) (then (call $throw-a (i32.const 10))))
            (if (i32.eq (local.get 0) (i32.const 2)) (then (call $throw-b (i32.const 20))))
            (if (i32.eq (local.get 0) (i32.const 3)) (then (call $other-throw-a (i32.const 30))))
            (if (i32.eq (local.get 0) (i32.const 4)) (then (throw $local (i32.const 40)))))
          (return (i32.const 0)))
        (return (i32.add (i32.const 100))))
      (return (i32.add (i32.const 200))))
    (i32.const 300))

  ;; Throwing an imported tag locally is caught by the exporter's tag too.
  (func (export "local-throw-imported") (result i32)
    (block $h (result i32)
      (try_table (catch $a $h) (throw $a (i32.const 7)))
      (i32.const -1)))

  ;; An exception no clause matches leaves the function.
  (func (export "uncaught-other") (result i32)
    (block $h (result i32)
      (try_table (catch $a $h) (call $other-throw-a (i32.const 1)))
      (i32.const -1))))

(assert_return (invoke $catcher "which" (i32.const 0)) (i32.const 0))
(assert_return (invoke $catcher "which" (i32.const 1)) (i32.const 110))
(assert_return (invoke $catcher "which" (i32.const 2)) (i32.const 220))
(assert_return (invoke $catcher "which" (i32.const 3)) (i32.const 300))
(assert_return (invoke $catcher "which" (i32.const 4)) (i32.const 300))
(assert_return (invoke $catcher "local-throw-imported") (i32.const 7))
(assert_exception (invoke $catcher "uncaught-other"))
(assert_exception (invoke $tags "throw-b" (i32.const 1)))

;; Re-exporting an imported tag keeps its identity.
(module $relay
  (import "tags" "a" (tag $a (param i32)))
  (export "a" (tag $a)))
(register "relay" $relay)
(module
  (import "relay" "a" (tag $a (param i32)))
  (import "tags" "throw-a" (func $throw-a (param i32)))
  (func (export "via-relay") (result i32)
    (block $h (result i32)
      (try_table (catch $a $h) (call $throw-a (i32.const 5)))
      (i32.const -1))))
(assert_return (invoke "via-relay") (i32.const 5))

;; Import types: parameters must match exactly.
(assert_unlinkable
  (module (import "tags" "a" (tag (param i64))))
  "incompatible import type")
(assert_unlinkable
  (module (import "tags" "a" (tag)))
  "incompatible import type")
(assert_unlinkable
  (module (import "tags" "throw-a" (tag (param i32))))
  "incompatible import type")
(assert_unlinkable
  (module (import "tags" "a" (func (param i32))))
  "incompatible import type")

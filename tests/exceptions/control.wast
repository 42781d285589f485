;; Control flow around exceptions: nesting, rethrowing, deep stacks, loops, traps, indirect and
;; tail calls.

(module
  (tag $e (param i32))
  (tag $f)
  (table $t 2 funcref)
  (elem (table $t) (i32.const 0) func $throw-e $ret)
  (type $i (func (param i32) (result i32)))

  (func $throw-e (type $i) (throw $e (local.get 0)))
  (func $ret (type $i) (local.get 0))

  ;; Inner clauses that do not match pass the exception to the outer try_table.
  (func (export "nested") (param i32) (result i32)
    (block $oe (result i32)
      (try_table (catch $e $oe)
        (block $if
          (try_table (catch $f $if)
            (if (local.get 0) (then (throw $e (i32.const 1))) (else (throw $f)))))
        (return (i32.const 2)))
      (unreachable))
    (i32.const 10) (i32.add))

  ;; A handler rethrows to the enclosing try_table with throw_ref, the payload unchanged.
  (func (export "rethrow") (result i32)
    (block $outer (result i32)
      (try_table (catch $e $outer)
        (block $inner (result i32 exnref)
          (try_table (catch_ref $e $inner) (throw $e (i32.const 33)))
          (unreachable))
        (throw_ref))
      (unreachable)))

  ;; A catch clause whose label is a loop: retry until the callee stops throwing.
  (func (export "retry") (param i32) (result i32)
    (local $tries i32)
    (loop $again
      (local.set $tries (i32.add (local.get $tries) (i32.const 1)))
      (try_table (catch $f $again)
        (if (i32.lt_u (local.get $tries) (local.get 0)) (then (throw $f)))))
    (local.get $tries))

  ;; Catching after deep recursion: every frame in between is abandoned.
  (func $deep (param i32) (result i32)
    (if (i32.eqz (local.get 0)) (then (throw $e (i32.const 77))))
    (i32.add (call $deep (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "deep") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (drop (call $deep (local.get 0))))
      (i32.const -1)))

  ;; Many throws in a loop, each caught.
  (func (export "loop") (param i32) (result i32)
    (local $i i32) (local $sum i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get 0)))
        (block $h (result i32)
          (try_table (catch $e $h) (drop (call $throw-e (local.get $i))))
          (unreachable))
        (local.set $sum (i32.add (local.get $sum)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $sum))

  ;; Traps are not exceptions: catch_all does not catch them.
  (func (export "trap") (param i32) (result i32)
    (block $h
      (try_table (catch_all $h)
        (drop (i32.div_u (i32.const 1) (local.get 0))))
      (return (i32.const 1)))
    (i32.const 2))

  ;; Through call_indirect (caught: the payload; returned: the result + 100).
  (func (export "indirect") (param i32) (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $e $h)
        (call_indirect $t (type $i) (i32.const 5) (local.get 0)))
      (i32.const 100) (i32.add)))

  ;; return_call leaves the frame: its try_table no longer applies.
  (func $tail (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (return_call $throw-e (local.get 0)))
      (unreachable)))
  (func (export "tail") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (drop (call $tail (local.get 0))))
      (i32.const -1))
    (i32.const 1000) (i32.add))

  ;; A throw after leaving a try_table with br is not caught by it.
  (func (export "after-br") (result i32)
    (block $h (result i32)
      (block $out
        (try_table (catch $e $h) (br $out)))
      (throw $e (i32.const 3)))
    (drop)
    (i32.const -1))

  ;; The exception from a callee that itself caught and threw another one.
  (func $translate (param i32)
    (block $h (result i32)
      (try_table (catch $e $h) (throw $e (local.get 0)))
      (unreachable))
    (drop) (throw $f))
  (func (export "translated") (result i32)
    (block $h
      (try_table (catch $f $h) (call $translate (i32.const 1)))
      (return (i32.const -1)))
    (i32.const 9)))

(assert_return (invoke "nested" (i32.const 1)) (i32.const 11))
(assert_return (invoke "nested" (i32.const 0)) (i32.const 2))
(assert_return (invoke "rethrow") (i32.const 33))
(assert_return (invoke "retry" (i32.const 5)) (i32.const 5))
(assert_return (invoke "retry" (i32.const 0)) (i32.const 1))
(assert_return (invoke "deep" (i32.const 10000)) (i32.const 77))
(assert_exhaustion (invoke "deep" (i32.const 100000000)) "call stack exhausted")
(assert_return (invoke "deep" (i32.const 10000)) (i32.const 77))
(assert_return (invoke "loop" (i32.const 100000)) (i32.const 704982704))
(assert_trap (invoke "trap" (i32.const 0)) "integer divide by zero")
(assert_return (invoke "trap" (i32.const 1)) (i32.const 1))
(assert_return (invoke "indirect" (i32.const 0)) (i32.const 5))
(assert_return (invoke "indirect" (i32.const 1)) (i32.const 105))
(assert_trap (invoke "indirect" (i32.const 2)) "undefined element")
(assert_return (invoke "tail" (i32.const 4)) (i32.const 1004))
(assert_exception (invoke "after-br"))
(assert_return (invoke "translated") (i32.const 9))

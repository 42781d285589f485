;; A bundled sample: recursive and iterative Fibonacci, plus a trap.
;;   kiln run samples/fib.wat --invoke fib 20      → 6765
;;   kiln run samples/fib.wat --invoke fib_iter 90 → 2880067194370816120
;;   kiln run samples/fib.wat --invoke divide 1 0  → error: integer divide by zero
(module
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else
        (i32.add
          (call $fib (i32.sub (local.get $n) (i32.const 1)))
          (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "fib_iter") (param $n i32) (result i64)
    (local $a i64) (local $b i64)
    (local.set $b (i64.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $b (i64.add (local.get $a) (local.tee $a (local.get $b))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $a))
  (func (export "divide") (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1))))

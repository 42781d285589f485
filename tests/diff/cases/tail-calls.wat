;; Deep tail recursion (a million frames would overflow the stack without real tail calls),
;; with a multi-value result.
(module
  (global $d (export "d") (mut i32) (i32.const 0))
  (func $f (export "f") (result f64 i64)
    global.get $d i32.const 1 i32.add global.set $d
    global.get $d i32.const 1000000 i32.eq
    if (result f64 i64) f64.const 1 i64.const 2 else return_call $f end)
  (func $g (export "g") (result i32)
    global.get $d i32.const 1 i32.add global.set $d
    global.get $d i32.const 3000000 i32.eq
    if (result i32) i32.const 7 else return_call $g end))

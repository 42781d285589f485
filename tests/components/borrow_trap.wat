;; A call that traps while it holds a borrow (tests/tests/component_limits.rs): `boom` traps
;; with the host's borrow lent to it; `call-inspect` passes its borrow on to the host's
;; `inspect` (a call whose borrow scope the host function runs inside), then drops it.
(component
  (import "thing" (type $thing (sub resource)))
  (import "inspect" (func $inspect (param "t" (borrow $thing)) (result u32)))
  (core func $drop (canon resource.drop $thing))
  (core func $inspect (canon lower (func $inspect)))
  (core module $m
    (import "res" "drop" (func $drop (param i32)))
    (import "host" "inspect" (func $inspect (param i32) (result i32)))
    (func (export "boom") (param i32) (result i32) unreachable)
    (func (export "drop-it") (param $h i32) (result i32)
      local.get $h
      call $drop
      i32.const 1)
    (func (export "call-inspect") (param $h i32) (result i32)
      local.get $h
      call $inspect
      local.get $h
      call $drop))
  (core instance $m (instantiate $m
    (with "res" (instance (export "drop" (func $drop))))
    (with "host" (instance (export "inspect" (func $inspect))))))
  (func (export "boom") (param "t" (borrow $thing)) (result u32) (canon lift (core func $m "boom")))
  (func (export "drop-it") (param "t" (borrow $thing)) (result u32)
    (canon lift (core func $m "drop-it")))
  (func (export "call-inspect") (param "t" (borrow $thing)) (result u32)
    (canon lift (core func $m "call-inspect"))))

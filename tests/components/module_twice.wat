;; One core module instantiated twice: compiled once, two instances with separate state.
(component
  (core module $counter
    (global $n (mut i32) (i32.const 0))
    (func (export "next") (result i32)
      global.get $n
      i32.const 1
      i32.add
      global.set $n
      global.get $n))
  (core instance $c1 (instantiate $counter))
  (core instance $c2 (instantiate $counter))
  (func (export "first") (result u32) (canon lift (core func $c1 "next")))
  (func (export "second") (result u32) (canon lift (core func $c2 "next"))))

;; Nested components, instances and aliases: an inner component lifts `add` out of its own core
;; module; the outer one instantiates it twice, aliases its export, passes it to a second
;; nested component that re-exports it under an interface instance, and exports everything.
(component $outer
  (component $adder
    (core module $m
      (func (export "add") (param i32 i32) (result i32)
        local.get 0
        local.get 1
        i32.add))
    (core instance $i (instantiate $m))
    (func (export "add") (param "a" u32) (param "b" u32) (result u32)
      (canon lift (core func $i "add"))))
  (component $wrapper
    (import "f" (func $f (param "a" u32) (param "b" u32) (result u32)))
    (instance $api (export "plus" (func $f)))
    (export "api" (instance $api)))
  (instance $a1 (instantiate $adder))
  (instance $a2 (instantiate $adder))
  (alias export $a1 "add" (func $add1))
  (instance $w (instantiate $wrapper (with "f" (func $add1))))
  (export "add" (func $add1))
  (export "add-again" (func $a2 "add"))
  (export "ns:math/api@1.0.0" (instance $w "api")))

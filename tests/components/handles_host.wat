;; A resource type the host implements (`thing`): the host lends handles to the guest as
;; borrows (which the guest must drop before returning), moves own handles through it, and
;; receives a borrow from the guest in an import (`inspect`); `both` takes an own handle and a
;; borrow in one call (drops the borrow, gives the own handle back).
(component
  (import "thing" (type $thing (sub resource)))
  (import "inspect" (func $inspect (param "t" (borrow $thing)) (result u32)))
  (core func $drop (canon resource.drop $thing))
  (core func $inspect (canon lower (func $inspect)))
  (core module $m
    (import "res" "drop" (func $drop (param i32)))
    (import "host" "inspect" (func $inspect (param i32) (result i32)))
    (func (export "keep") (param i32) (result i32) local.get 0)
    (func (export "drop-it") (param $h i32) (result i32)
      local.get $h
      call $drop
      i32.const 1)
    (func (export "call-inspect") (param $h i32) (result i32)
      local.get $h
      call $inspect
      local.get $h
      call $drop)
    (func (export "id") (param i32) (result i32) local.get 0)
    (func (export "both") (param $a i32) (param $b i32) (result i32)
      local.get $b
      call $drop
      local.get $a))
  (core instance $m (instantiate $m
    (with "res" (instance (export "drop" (func $drop))))
    (with "host" (instance (export "inspect" (func $inspect))))))
  (func (export "keep") (param "t" (borrow $thing)) (result u32) (canon lift (core func $m "keep")))
  (func (export "drop-it") (param "t" (borrow $thing)) (result u32) (canon lift (core func $m "drop-it")))
  (func (export "call-inspect") (param "t" (borrow $thing)) (result u32)
    (canon lift (core func $m "call-inspect")))
  (func (export "pass") (param "t" (own $thing)) (result (own $thing)) (canon lift (core func $m "id")))
  (func (export "both") (param "a" (own $thing)) (param "b" (borrow $thing)) (result (own $thing))
    (canon lift (core func $m "both"))))

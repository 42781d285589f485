;; Resource handles through the compiled glue: the component defines `counter` (rep i32, a
;; destructor counting drops); the host receives own handles, lends them back as borrows, gives
;; them back as owns, and drops them (running the destructor). `keep-borrow` stores a borrow
;; it was given without dropping it, which must trap at the end of the call.
(component
  (core module $d
    (global $drops (mut i32) (i32.const 0))
    (func (export "dtor") (param i32)
      global.get $drops
      i32.const 1
      i32.add
      global.set $drops)
    (func (export "drops") (result i32) global.get $drops))
  (core instance $d (instantiate $d))
  (alias core export $d "dtor" (core func $dtor))
  (type $counter (resource (rep i32) (dtor (core func $dtor))))
  (core func $new (canon resource.new $counter))
  (core func $rep (canon resource.rep $counter))
  (core func $drop (canon resource.drop $counter))
  (core module $m
    (import "res" "new" (func $new (param i32) (result i32)))
    (import "res" "rep" (func $rep (param i32) (result i32)))
    (import "res" "drop" (func $drop (param i32)))
    (func (export "make") (param i32) (result i32)
      local.get 0
      call $new)
    ;; a borrow of a resource this component defines arrives as its representation
    (func (export "get") (param i32) (result i32) local.get 0)
    (func (export "consume") (param $h i32) (result i32)
      (local $r i32)
      local.get $h
      call $rep
      local.set $r
      local.get $h
      call $drop
      local.get $r)
    (func (export "id") (param i32) (result i32) local.get 0))
  (core instance $m (instantiate $m
    (with "res" (instance
      (export "new" (func $new))
      (export "rep" (func $rep))
      (export "drop" (func $drop))))))
  (export $c "counter" (type $counter))
  (func (export "make") (param "n" u32) (result (own $c)) (canon lift (core func $m "make")))
  (func (export "get") (param "c" (borrow $c)) (result u32) (canon lift (core func $m "get")))
  (func (export "consume") (param "c" (own $c)) (result u32) (canon lift (core func $m "consume")))
  (func (export "pass") (param "c" (own $c)) (result (own $c)) (canon lift (core func $m "id")))
  (func (export "drops") (result u32) (canon lift (core func $d "drops"))))

;; Resources: a type defined by a nested component with a destructor, exported through the
;; outer component; `resource.new/rep/drop` used by core code; a second nested component that
;; imports the resource type and a constructor and re-exports a function over it.
(component
  (component $impl
    (core module $state
      (global $dropped (mut i32) (i32.const 0))
      (func (export "dtor") (param i32)
        global.get $dropped
        local.get 0
        i32.add
        global.set $dropped)
      (func (export "dropped") (result i32) global.get $dropped))
    (core instance $state (instantiate $state))
    (type $counter (resource (rep i32) (dtor (core func $state "dtor"))))
    (core func $new (canon resource.new $counter))
    (core func $rep (canon resource.rep $counter))
    (core func $drop (canon resource.drop $counter))
    (core module $api
      (import "r" "new" (func $new (param i32) (result i32)))
      (import "r" "rep" (func $rep (param i32) (result i32)))
      (import "r" "drop" (func $drop (param i32)))
      (func (export "make") (param i32) (result i32) local.get 0 call $new)
      (func (export "rep") (param i32) (result i32) local.get 0 call $rep)
      (func (export "drop") (param i32) local.get 0 call $drop))
    (core instance $api (instantiate $api
      (with "r" (instance
        (export "new" (func $new))
        (export "rep" (func $rep))
        (export "drop" (func $drop))))))
    (export $c "counter" (type $counter))
    (func (export "make") (param "n" u32) (result (own $c))
      (canon lift (core func $api "make")))
    (func (export "rep-of-handle") (param "h" u32) (result u32)
      (canon lift (core func $api "rep")))
    (func (export "drop-handle") (param "h" u32)
      (canon lift (core func $api "drop")))
    (func (export "dropped") (result u32)
      (canon lift (core func $state "dropped"))))
  (component $user
    (import "counter" (type $c (sub resource)))
    (import "make" (func $make (param "n" u32) (result (own $c))))
    (export $c2 "counter" (type $c))
    (export "make-counter" (func $make) (func (param "n" u32) (result (own $c2)))))
  (instance $impl (instantiate $impl))
  (instance $user (instantiate $user
    (with "counter" (type $impl "counter"))
    (with "make" (func $impl "make"))))
  (export $rc "counter" (type $impl "counter"))
  (export "make" (func $impl "make") (func (param "n" u32) (result (own $rc))))
  (export "make-counter" (func $user "make-counter") (func (param "n" u32) (result (own $rc))))
  (export "rep-of-handle" (func $impl "rep-of-handle"))
  (export "drop-handle" (func $impl "drop-handle"))
  (export "dropped" (func $impl "dropped")))

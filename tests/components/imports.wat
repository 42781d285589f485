;; Host imports: a world-level function and an interface instance with a resource type, lowered
;; into a core module with canonical options; a resource type defined by the component with a
;; destructor and its intrinsics.
(component
  (import "log" (func $log (param "msg" string)))
  (import "wasi:clocks/monotonic@0.2.0" (instance $clock
    (export "now" (func (result u64)))
    (export "pollable" (type (sub resource)))))
  (alias export $clock "pollable" (type $pollable))
  (core module $libc
    (memory (export "memory") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 8))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "memory" (core memory $memory))
  (alias core export $libc "realloc" (core func $realloc))
  (core func $log (canon lower (func $log) (memory $memory) (realloc $realloc)))
  (core func $now (canon lower (func $clock "now")))
  (type $thing (resource (rep i32)))
  (core func $new (canon resource.new $thing))
  (core func $rep (canon resource.rep $thing))
  (core module $main
    (import "host" "log" (func (param i32 i32)))
    (import "host" "now" (func (result i64)))
    (import "host" "new" (func (param i32) (result i32)))
    (import "host" "rep" (func (param i32) (result i32)))
    (func (export "make") (param i32) (result i32)
      local.get 0
      call 2)
    (func (export "rep") (param i32) (result i32)
      local.get 0
      call 3)
    (func (export "ticks") (result i64) call 1))
  (core instance $main (instantiate $main
    (with "host" (instance
      (export "log" (func $log))
      (export "now" (func $now))
      (export "new" (func $new))
      (export "rep" (func $rep))))))
  (export $thing-export "thing" (type $thing))
  (func (export "make") (param "rep" u32) (result (own $thing-export))
    (canon lift (core func $main "make")))
  (func (export "ticks") (result u64) (canon lift (core func $main "ticks"))))

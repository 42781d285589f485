;; A component using a resource type the host implements (imported through a versioned
;; interface): the guest makes a counter with the host's constructor, advances it through a
;; borrow, hands one counter back to the host (own), and drops another itself, which runs the
;; host's destructor. Used by tests/tests/component_host_resources.rs.
(component
  (import "test:host/counters@0.1.0" (instance $h
    (export "counter" (type $c (sub resource)))
    (export "[constructor]counter" (func (param "start" u32) (result (own $c))))
    (export "[method]counter.next" (func (param "self" (borrow $c)) (result u32)))
    (export "consume" (func (param "c" (own $c)) (result u32)))
  ))
  (alias export $h "counter" (type $counter))
  (core func $new (canon lower (func $h "[constructor]counter")))
  (core func $next (canon lower (func $h "[method]counter.next")))
  (core func $consume (canon lower (func $h "consume")))
  (core func $drop (canon resource.drop $counter))
  (core module $m
    (import "h" "new" (func $new (param i32) (result i32)))
    (import "h" "next" (func $next (param i32) (result i32)))
    (import "h" "consume" (func $consume (param i32) (result i32)))
    (import "h" "drop" (func $drop (param i32)))
    ;; next() three times on a new counter, then drop it: returns start + 2.
    (func (export "count") (param i32) (result i32)
      (local $c i32) (local $r i32)
      (local.set $c (call $new (local.get 0)))
      (drop (call $next (local.get $c)))
      (drop (call $next (local.get $c)))
      (local.set $r (call $next (local.get $c)))
      (call $drop (local.get $c))
      (local.get $r))
    ;; A new counter advanced once and given to the host: returns what `consume` says.
    (func (export "give") (param i32) (result i32)
      (local $c i32)
      (local.set $c (call $new (local.get 0)))
      (drop (call $next (local.get $c)))
      (call $consume (local.get $c)))
    ;; Uses a handle number the guest never got: traps.
    (func (export "forge") (result i32)
      (call $next (i32.const 77)))
  )
  (core instance $i (instantiate $m
    (with "h" (instance
      (export "new" (func $new))
      (export "next" (func $next))
      (export "consume" (func $consume))
      (export "drop" (func $drop))))))
  (func (export "count") (param "start" u32) (result u32) (canon lift (core func $i "count")))
  (func (export "give") (param "start" u32) (result u32) (canon lift (core func $i "give")))
  (func (export "forge") (result u32) (canon lift (core func $i "forge")))
)

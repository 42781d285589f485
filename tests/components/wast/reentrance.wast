;; Reentrance (CanonicalABI.md `may_enter`): a component instance that is running an export
;; cannot be entered again until that call (and its post-return) is done. The cycle goes
;; through the host: $r imports the instance "cb", which the script resolves to the
;; instance registered as "cb" ($h), whose import "r" is $r itself.
(component $r
  (import "cb" (instance $cb (export "call" (func (result u32)))))
  (core func $call (canon lower (func $cb "call")))
  (core module $m
    (import "" "call" (func $call (result i32)))
    (func (export "enter") (result i32) (call $call))
    (func (export "inner") (result i32) (i32.const 7)))
  (core instance $m (instantiate $m (with "" (instance (export "call" (func $call))))))
  (func (export "enter") (result u32) (canon lift (core func $m "enter")))
  (func (export "inner") (result u32) (canon lift (core func $m "inner"))))
(register "r" $r)

(component $h
  (import "r" (instance $r (export "inner" (func (result u32)))))
  (core func $inner (canon lower (func $r "inner")))
  (core module $m
    (import "" "inner" (func $inner (result i32)))
    (func (export "call") (result i32) (i32.add (call $inner) (i32.const 100))))
  (core instance $m (instantiate $m (with "" (instance (export "inner" (func $inner))))))
  (func (export "call") (result u32) (canon lift (core func $m "call"))))
(register "cb" $h)

;; no cycle: $h calls into $r, which is idle
(assert_return (invoke $h "call") (u32.const 107))
(assert_return (invoke $r "inner") (u32.const 7))
(assert_return (invoke $h "call") (u32.const 107))
;; $r -> host -> $h -> host -> $r while $r is running: trap
(assert_trap (invoke $r "enter") "cannot enter component instance (may_enter is false")
;; the trap leaves $r unable to be entered
(assert_trap (invoke $r "inner") "cannot enter component instance (may_enter is false")

;; Inside one composed component, an instance may call another but the calls cannot go back
;; into a caller: an adapter call into an instance that is itself the caller is reentrance.
;; Here the outer component lifts a function from a core instance and lowers it into another
;; core instance of the same component instance: the call re-enters that component instance.
(component
  (core module $a (func (export "seven") (result i32) (i32.const 7)))
  (core instance $a (instantiate $a))
  (func $seven (result u32) (canon lift (core func $a "seven")))
  (core func $seven' (canon lower (func $seven)))
  (core module $b
    (import "" "seven" (func $seven (result i32)))
    (func (export "call") (result i32) (call $seven)))
  (core instance $b (instantiate $b (with "" (instance (export "seven" (func $seven'))))))
  (func (export "call") (result u32) (canon lift (core func $b "call"))))
(assert_trap (invoke "call") "cannot enter component instance (may_enter is false")

;; A core start function calling, through a lowered import, a function its own component
;; instance lifts: a call from an instance into itself is reentrance, which traps whatever the
;; flags say (here the instance is still being instantiated), so instantiation fails.
(assert_trap
  (component
    (core module $a (func (export "seven") (result i32) (i32.const 7)))
    (core instance $a (instantiate $a))
    (func $seven (result u32) (canon lift (core func $a "seven")))
    (core func $seven' (canon lower (func $seven)))
    (core module $b
      (import "" "seven" (func $seven (result i32)))
      (func $start (drop (call $seven)))
      (start $start))
    (core instance $b (instantiate $b (with "" (instance (export "seven" (func $seven')))))))
  "cannot enter component instance")

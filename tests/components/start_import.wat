;; A core start function that calls a host import during instantiation, and an export that
;; calls it later: `HostCx::instance` is None for the first call, the instance for the second
;; (tests/tests/component_calls.rs).
(component
  (import "ping" (func $ping))
  (core func $ping-lowered (canon lower (func $ping)))
  (core module $m
    (import "host" "ping" (func $p))
    (func $start call $p)
    (start $start)
    (func (export "run") call $p))
  (core instance $i (instantiate $m (with "host" (instance (export "ping" (func $ping-lowered))))))
  (func (export "run") (canon lift (core func $i "run"))))

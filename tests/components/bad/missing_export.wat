;; error: core instance 0 has no export named `nope` (at offset 0x
(component
  (core module $m (func (export "f")))
  (core instance $i (instantiate $m))
  (func (export "g") (canon lift (core func $i "nope"))))

;; Two core modules sharing one memory: `$owner` defines and exports it, `$user` imports it
;; through a core instance made of exports; lifted functions of both modules name it.
(component
  (core module $owner
    (memory (export "mem") 1)
    (func (export "store") (param i32 i32)
      local.get 0
      local.get 1
      i32.store))
  (core module $user
    (import "env" "mem" (memory 1))
    (func (export "load") (param i32) (result i32)
      local.get 0
      i32.load))
  (core instance $o (instantiate $owner))
  (alias core export $o "mem" (core memory $mem))
  (core instance $env (export "mem" (memory $mem)))
  (core instance $u (instantiate $user (with "env" (instance $env))))
  (func (export "store") (param "addr" u32) (param "value" u32)
    (canon lift (core func $o "store") (memory $mem)))
  (func (export "load") (param "addr" u32) (result u32)
    (canon lift (core func $u "load") (memory $mem))))

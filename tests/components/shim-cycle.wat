;; wit-component's shim/fixup pattern in miniature: `$main` calls through a stub of `$shim`
;; whose funcref table `$fixup` fills (with a function of `$impl`) after `$main` exists. The
;; table's owner and its importer keep each other alive (the importer's references may be
;; stored in the table), so the component instance must break that cycle when it is dropped.
(component
  (core module $shim
    (memory (export "scratch") 1)
    (table (export "$imports") 1 1 funcref)
    (type $t (func (param i32) (result i32)))
    (func (export "f") (param i32) (result i32)
      (call_indirect (type $t) (local.get 0) (i32.const 0))))
  (core module $main
    (import "shim" "f" (func $f (param i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "run") (param i32) (result i32) (call $f (local.get 0))))
  (core module $impl
    (memory 1)
    (func (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))
  (core module $fixup
    (import "shim" "$imports" (table 1 1 funcref))
    (import "impl" "double" (func $d (param i32) (result i32)))
    (elem (i32.const 0) func $d))
  (core instance $s (instantiate $shim))
  (core instance $m (instantiate $main (with "shim" (instance $s))))
  (core instance $i (instantiate $impl))
  (core instance $fx (instantiate $fixup (with "shim" (instance $s)) (with "impl" (instance $i))))
  (func (export "run") (param "x" u32) (result u32) (canon lift (core func $m "run"))))

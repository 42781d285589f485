;; Core modules crossing a component's edge: `lib` is a core module the component exports
;; (compiled into its `.so` although it never instantiates it), `plugin` one it imports and
;; instantiates with the imports its type declares (`env.base`, a function the component
;; defines), exporting what the plugin computes.
(component
  (core module $lib
    (func (export "triple") (param i32) (result i32)
      (i32.mul (local.get 0) (i32.const 3))))
  (export "lib" (core module $lib))
  (core type $plugin-t (module
    (import "env" "base" (func (result i32)))
    (export "compute" (func (param i32) (result i32)))))
  (import "plugin" (core module $plugin (type $plugin-t)))
  (core module $env (func (export "base") (result i32) (i32.const 100)))
  (core instance $env (instantiate $env))
  (core instance $p (instantiate $plugin (with "env" (instance $env))))
  (func (export "compute") (param "x" u32) (result u32)
    (canon lift (core func $p "compute"))))

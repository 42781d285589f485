;; Components the front end must reject (assert_invalid, assert_malformed) or cannot link
;; (assert_unlinkable): kiln validates with wasmparser's component validator and then checks
;; its own flattening rules.

;; a lifted function whose core signature does not match the flattened component type
(assert_invalid
  (component
    (core module $m (func (export "f") (param i64) (result i32) (i32.const 0)))
    (core instance $i (instantiate $m))
    (func (export "f") (param "x" u32) (result u32) (canon lift (core func $i "f"))))
  "type mismatch")

;; a string needs a memory (and a realloc to be lowered into)
(assert_invalid
  (component
    (core module $m (func (export "f") (param i32 i32)))
    (core instance $i (instantiate $m))
    (func (export "f") (param "s" string) (canon lift (core func $i "f"))))
  "canonical option `memory` is required")

;; an exported function may only use exported (or imported) named types
(assert_invalid
  (component
    (core module $m (func (export "f") (result i32) (i32.const 0)))
    (core instance $i (instantiate $m))
    (type $e (enum "a" "b"))
    (func (export "f") (result $e) (canon lift (core func $i "f"))))
  "func not valid to be used as export")

;; two exports with the same name
(assert_invalid
  (component
    (core module $m (func (export "f")))
    (core instance $i (instantiate $m))
    (func $f (canon lift (core func $i "f")))
    (export "a" (func $f))
    (export "a" (func $f)))
  "conflicts with previous name")

;; export names must be kebab-case
(assert_invalid
  (component
    (core module $m (func (export "f")))
    (core instance $i (instantiate $m))
    (func (export "Not_Kebab") (canon lift (core func $i "f"))))
  "not a valid")

;; a realloc with the wrong signature
(assert_invalid
  (component
    (core module $m
      (memory (export "mem") 1)
      (func (export "realloc") (param i32) (result i32) (i32.const 0))
      (func (export "f") (param i32 i32)))
    (core instance $i (instantiate $m))
    (func (export "f") (param "s" string)
      (canon lift (core func $i "f") (memory (core memory $i "mem")) (realloc (core func $i "realloc")))))
  "canonical option `realloc`")

;; a post-return whose parameters are not the core results
(assert_invalid
  (component
    (core module $m
      (func (export "f") (result i32) (i32.const 0))
      (func (export "post") (param i64)))
    (core instance $i (instantiate $m))
    (func (export "f") (result u32)
      (canon lift (core func $i "f") (post-return (core func $i "post")))))
  "post-return")

;; resource.rep of a resource type the component does not define
(assert_invalid
  (component
    (import "r" (type $r (sub resource)))
    (core func (canon resource.rep $r)))
  "not a local resource")

;; a core instantiation missing an import
(assert_invalid
  (component
    (core module $m (import "env" "f" (func)))
    (core instance $i (instantiate $m)))
  "missing module instantiation argument")

;; a flags type with more than 32 flags
(assert_invalid
  (component
    (type (flags "a0" "a1" "a2" "a3" "a4" "a5" "a6" "a7" "a8" "a9" "a10" "a11" "a12" "a13" "a14"
      "a15" "a16" "a17" "a18" "a19" "a20" "a21" "a22" "a23" "a24" "a25" "a26" "a27" "a28" "a29"
      "a30" "a31" "a32")))
  "cannot have more than 32 flags")

;; an enum without cases
(assert_invalid (component (type (enum))) "enum type must have at least one case")

;; not a component at all
(assert_malformed (component quote "(core module $m (func (export \"f\") i32.add_oops))") "unknown operator")
(assert_malformed (component binary "\00asm\0d\00\01\00\ff") "malformed")

;; a world-level function import nothing defines (the script only defines instance imports,
;; from registered component instances)
(assert_unlinkable
  (component
    (import "nowhere" (func $f (result u32)))
    (core func $f (canon lower (func $f)))
    (core module $m (import "" "f" (func (result i32))))
    (core instance (instantiate $m (with "" (instance (export "f" (func $f)))))))
  "nowhere")
;; the same import, not used by any core code: still an import the host must satisfy
(assert_unlinkable
  (component
    (import "nowhere" (func (result u32))))
  "nowhere")

;; valid components still compile, instantiate and run
(component
  (core module $m (func (export "f") (result i32) (i32.const 3)))
  (core instance $i (instantiate $m))
  (func (export "f") (result u32) (canon lift (core func $i "f"))))
(assert_return (invoke "f") (u32.const 3))

;; A `realloc` returning a misaligned pointer, and one returning a range past the end of
;; memory: lowering arguments into the guest must trap naming the rule.
(component
  (core module $m
    (memory (export "mem") 1)
    (func (export "realloc-odd") (param i32 i32 i32 i32) (result i32) i32.const 1)
    (func (export "realloc-oob") (param i32 i32 i32 i32) (result i32) i32.const 65530)
    (func (export "len") (param i32 i32) (result i32) local.get 1))
  (core instance $i (instantiate $m))
  (alias core export $i "mem" (core memory $mem))
  (func (export "misaligned") (param "x" (list u32)) (result u32)
    (canon lift (core func $i "len") (memory $mem) (realloc (core func $i "realloc-odd"))))
  (func (export "out-of-bounds") (param "x" string) (result u32)
    (canon lift (core func $i "len") (memory $mem) (realloc (core func $i "realloc-oob")))))

;; Deadlines on component instances (tests/tests/component_deadlines.rs):
;; - `spin`: a guest loop that never ends;
;; - `chars(list<char>) -> u32`: the glue validates every char of the argument in a loop after
;;   the callee's `realloc` (compiled without epoch checks in guest code, the test shows the
;;   glue's own loop honouring the deadline).
(component
  (core module $m
    (memory (export "mem") 1 65536)
    (global $bump (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32) (param $align i32) (param $size i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.const 7)) (i32.const -8)))
      ;; Grow the memory as needed (64 KiB pages).
      (block $ok
        (br_if $ok (i32.le_u (i32.add (local.get $p) (local.get $size))
                             (i32.mul (memory.size) (i32.const 65536))))
        (drop (memory.grow
          (i32.add (i32.shr_u (i32.add (local.get $p) (local.get $size)) (i32.const 16))
                   (i32.const 1)))))
      (global.set $bump (i32.add (local.get $p) (local.get $size)))
      (local.get $p))
    (func (export "spin") (loop $l (br $l)))
    (func (export "chars") (param i32 i32) (result i32) (local.get 1)))
  (core instance $i (instantiate $m))
  (alias core export $i "mem" (core memory $mem))
  (func (export "spin") (canon lift (core func $i "spin")))
  (func (export "chars") (param "xs" (list char)) (result u32)
    (canon lift (core func $i "chars") (memory $mem) (realloc (core func $i "realloc")))))

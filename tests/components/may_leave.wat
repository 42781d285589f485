;; A realloc that calls an import: while the glue lowers values into an instance (its realloc
;; runs), the instance may not leave, so the import call traps (`may_leave`).
(component
  (import "ping" (func $ping (result u32)))
  (core module $libc
    (memory (export "mem") 1)
    (table (export "t") 1 funcref)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      i32.const 0
      call_indirect (result i32)
      drop
      i32.const 64))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "mem" (core memory $mem))
  (alias core export $libc "t" (core table $t))
  (core func $ping (canon lower (func $ping)))
  (core module $main
    (import "libc" "t" (table 1 funcref))
    (import "host" "ping" (func $ping (result i32)))
    (elem (i32.const 0) func $ping)
    (func (export "len") (param i32 i32) (result i32) local.get 1)
    (func (export "call-ping") (result i32) call $ping))
  (core instance $main (instantiate $main
    (with "libc" (instance $libc))
    (with "host" (instance (export "ping" (func $ping))))))
  (func (export "len") (param "s" string) (result u32)
    (canon lift (core func $main "len") (memory $mem) (realloc (core func $libc "realloc"))))
  (func (export "call-ping") (result u32) (canon lift (core func $main "call-ping"))))

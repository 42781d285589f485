;; Host imports whose arguments and results cross through memory: a list argument, 17
;; arguments (a tuple in memory), and a record result written through the caller's return
;; pointer (its string copied into guest memory with realloc).
(component
  (type $rec' (record (field "a" u8) (field "b" string)))
  (import "rec" (type $rec (eq $rec')))
  (import "sum-list" (func $sum-list (param "xs" (list u32)) (result u32)))
  (import "many" (func $many
    (param "a0" u32) (param "a1" u32) (param "a2" u32) (param "a3" u32) (param "a4" u32)
    (param "a5" u32) (param "a6" u32) (param "a7" u32) (param "a8" u32) (param "a9" u32)
    (param "a10" u32) (param "a11" u32) (param "a12" u32) (param "a13" u32) (param "a14" u32)
    (param "a15" u32) (param "a16" u32) (result u32)))
  (import "make-rec" (func $make-rec (result $rec)))
  (core module $libc
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 8192))
    (func (export "realloc") (param $old i32) (param $oldsz i32) (param $align i32) (param $size i32) (result i32)
      (local $p i32)
      global.get $bump
      local.get $align
      i32.add
      i32.const 1
      i32.sub
      i32.const 0
      local.get $align
      i32.sub
      i32.and
      local.tee $p
      local.get $size
      i32.add
      global.set $bump
      ;; a realloc keeps the old contents (the canonical ABI grows and shrinks strings)
      (if (local.get $old) (then (memory.copy (local.get $p) (local.get $old)
        (select (local.get $oldsz) (local.get $size) (i32.lt_u (local.get $oldsz) (local.get $size))))))
      local.get $p)
    ;; the list [10, 20, 30] at 256, the 17 parameters 1..17 at 512
    (data (i32.const 256) "\0a\00\00\00\14\00\00\00\1e\00\00\00")
    (data (i32.const 512) "\01\00\00\00\02\00\00\00\03\00\00\00\04\00\00\00\05\00\00\00\06\00\00\00\07\00\00\00\08\00\00\00\09\00\00\00\0a\00\00\00\0b\00\00\00\0c\00\00\00\0d\00\00\00\0e\00\00\00\0f\00\00\00\10\00\00\00\11\00\00\00"))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "mem" (core memory $mem))
  (core func $sum-list (canon lower (func $sum-list) (memory $mem)))
  (core func $many (canon lower (func $many) (memory $mem)))
  (core func $make-rec (canon lower (func $make-rec) (memory $mem) (realloc (core func $libc "realloc"))))
  (core module $main
    (import "libc" "mem" (memory 1))
    (import "host" "sum-list" (func $sum (param i32 i32) (result i32)))
    (import "host" "many" (func $many (param i32) (result i32)))
    (import "host" "make-rec" (func $make (param i32)))
    (func (export "call-sum") (result i32)
      i32.const 256
      i32.const 3
      call $sum)
    (func (export "call-many") (result i32)
      i32.const 512
      call $many)
    ;; the record lands at 1024 (a at 1024, b at 1028); return b's (ptr, len) as the string
    (func (export "call-make") (result i32)
      i32.const 1024
      call $make
      i32.const 1028))
  (core instance $main (instantiate $main
    (with "libc" (instance $libc))
    (with "host" (instance
      (export "sum-list" (func $sum-list))
      (export "many" (func $many))
      (export "make-rec" (func $make-rec))))))
  (func (export "call-sum") (result u32) (canon lift (core func $main "call-sum")))
  (func (export "call-many") (result u32) (canon lift (core func $main "call-many")))
  (func (export "call-make") (result string) (canon lift (core func $main "call-make") (memory $mem))))

;; `greet(name) -> "Hello, <name>!"` at the world level and in the interface `test:greet/api`
;; (with `count(list<u32>) -> u32` and `pair(u8) -> tuple<u8, string>`): the `kiln run --invoke`
;; examples.
(component
  (core module $m
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 4096))
    (data (i32.const 16) "Hello, ")
    (func $alloc (param $align i32) (param $size i32) (result i32)
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
      local.get $p)
    (func (export "realloc") (param i32 i32) (param $align i32) (param $size i32) (result i32)
      local.get $align
      local.get $size
      call $alloc)
    (func (export "greet") (param $p i32) (param $n i32) (result i32)
      (local $out i32)
      i32.const 1
      local.get $n
      i32.const 8
      i32.add
      call $alloc
      local.set $out
      local.get $out
      i32.const 16
      i32.const 7
      memory.copy
      local.get $out
      i32.const 7
      i32.add
      local.get $p
      local.get $n
      memory.copy
      local.get $out
      local.get $n
      i32.add
      i32.const 7
      i32.add
      i32.const 33
      i32.store8
      i32.const 1024
      local.get $out
      i32.store
      i32.const 1028
      local.get $n
      i32.const 8
      i32.add
      i32.store
      i32.const 1024)
    (func (export "second") (param i32 i32) (result i32) local.get 1)
    (func (export "nothing"))
    (func (export "pair") (param $x i32) (result i32)
      i32.const 1040
      local.get $x
      i32.store8
      i32.const 1044
      i32.const 16
      i32.store
      i32.const 1048
      i32.const 5
      i32.store
      i32.const 1040))
  (core instance $i (instantiate $m))
  (alias core export $i "mem" (core memory $mem))
  (func $greet (param "name" string) (result string)
    (canon lift (core func $i "greet") (memory $mem) (realloc (core func $i "realloc"))))
  (func $count (param "xs" (list u32)) (result u32)
    (canon lift (core func $i "second") (memory $mem) (realloc (core func $i "realloc"))))
  (func $pair (param "x" u8) (result (tuple u8 string))
    (canon lift (core func $i "pair") (memory $mem)))
  (export "greet" (func $greet))
  (func (export "nothing") (canon lift (core func $i "nothing")))
  (instance $api
    (export "greet" (func $greet))
    (export "count" (func $count))
    (export "pair" (func $pair)))
  (export "test:greet/api" (instance $api)))

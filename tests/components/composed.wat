;; Component-to-component calls through a compiled fused adapter: component $outer (strings in
;; UTF-16) lowers `exclaim`, lifted by its sibling $inner (strings in UTF-8), so the adapter
;; transcodes both ways, allocates in each memory with its own realloc, and runs the inner
;; component's post-return; `run-latin1` goes from UTF-16 to latin1+utf16 and back. (Siblings:
;; a call between an instance and its own parent or child is reentrance, which traps.)
(component
  (component $inner
    (core module $m
      (memory (export "mem") 1)
      (global $bump (mut i32) (i32.const 4096))
      (global $posts (mut i32) (i32.const 0))
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
      (func (export "realloc") (param $old i32) (param $oldsz i32) (param $align i32) (param $size i32) (result i32)
        (local $p i32)
        (local.set $p (call $alloc (local.get $align) (local.get $size)))
        ;; a realloc keeps the old contents (the canonical ABI grows and shrinks strings)
        (if (local.get $old) (then (memory.copy (local.get $p) (local.get $old)
          (select (local.get $oldsz) (local.get $size) (i32.lt_u (local.get $oldsz) (local.get $size))))))
        (local.get $p))
      (func (export "exclaim") (param $p i32) (param $n i32) (result i32)
        (local $out i32)
        ;; 2-aligned: latin1+utf16 strings must be (CanonicalABI.md)
        i32.const 2
        local.get $n
        i32.const 1
        i32.add
        call $alloc
        local.tee $out
        local.get $p
        local.get $n
        memory.copy
        local.get $out
        local.get $n
        i32.add
        i32.const 33
        i32.store8
        i32.const 1024
        local.get $out
        i32.store
        i32.const 1028
        local.get $n
        i32.const 1
        i32.add
        i32.store
        i32.const 1024)
      (func (export "post") (param i32)
        global.get $posts
        i32.const 1
        i32.add
        global.set $posts)
      (func (export "posts") (result i32) global.get $posts))
    (core instance $i (instantiate $m))
    (alias core export $i "mem" (core memory $mem))
    (func (export "exclaim") (param "s" string) (result string)
      (canon lift (core func $i "exclaim") (memory $mem) (realloc (core func $i "realloc"))
        (post-return (core func $i "post"))))
    (func (export "exclaim-latin1") (param "s" string) (result string)
      (canon lift (core func $i "exclaim") (memory $mem) (realloc (core func $i "realloc"))
        string-encoding=latin1+utf16))
    (func (export "posts") (result u32) (canon lift (core func $i "posts"))))
  (component $outer
  (import "exclaim" (func $exclaim (param "s" string) (result string)))
  (import "exclaim-latin1" (func $exclaim-latin1 (param "s" string) (result string)))
  (core module $libc
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 4096))
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
      local.get $p))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "mem" (core memory $mem))
  (core func $exclaim16 (canon lower (func $exclaim) (memory $mem) (realloc (core func $libc "realloc")) string-encoding=utf16))
  (core func $exclaim-l1 (canon lower (func $exclaim-latin1) (memory $mem) (realloc (core func $libc "realloc")) string-encoding=utf16))
  (core module $main
    (import "libc" "mem" (memory 1))
    (import "b" "exclaim" (func $ex (param i32 i32 i32)))
    (import "b" "exclaim-latin1" (func $ex-l1 (param i32 i32 i32)))
    (func (export "run-latin1") (param i32 i32) (result i32)
      local.get 0
      local.get 1
      i32.const 1040
      call $ex-l1
      i32.const 1040)
    (func (export "run") (param i32 i32) (result i32)
      local.get 0
      local.get 1
      i32.const 1024
      call $ex
      i32.const 1024))
  (core instance $main (instantiate $main
    (with "libc" (instance $libc))
    (with "b" (instance
      (export "exclaim" (func $exclaim16))
      (export "exclaim-latin1" (func $exclaim-l1))))))
  (func (export "run") (param "s" string) (result string)
    (canon lift (core func $main "run") (memory $mem) (realloc (core func $libc "realloc")) string-encoding=utf16))
  (func (export "run-latin1") (param "s" string) (result string)
    (canon lift (core func $main "run-latin1") (memory $mem) (realloc (core func $libc "realloc")) string-encoding=utf16)))
  (instance $b (instantiate $inner))
  (instance $o (instantiate $outer
    (with "exclaim" (func $b "exclaim"))
    (with "exclaim-latin1" (func $b "exclaim-latin1"))))
  (export "run" (func $o "run"))
  (export "run-latin1" (func $o "run-latin1"))
  (export "posts" (func $b "posts")))

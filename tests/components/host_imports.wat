;; Host imports called from the guest through the compiled import trampolines: a world-level
;; function taking and returning a string (lowered once with UTF-8 and once with UTF-16, so the
;; trampoline transcodes both ways), and a function of an imported interface.
(component
  (import "greet-host" (func $greet-host (param "name" string) (result string)))
  (import "test:host/log" (instance $logi (export "log" (func (param "msg" string)))))
  (alias export $logi "log" (func $log))
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
  (core func $greet8 (canon lower (func $greet-host) (memory $mem) (realloc (core func $libc "realloc"))))
  (core func $greet16 (canon lower (func $greet-host) (memory $mem) (realloc (core func $libc "realloc")) string-encoding=utf16))
  (core func $log8 (canon lower (func $log) (memory $mem)))
  (core module $main
    (import "libc" "mem" (memory 1))
    (import "host" "greet8" (func $g8 (param i32 i32 i32)))
    (import "host" "greet16" (func $g16 (param i32 i32 i32)))
    (import "host" "log" (func $log (param i32 i32)))
    (func (export "greet") (param i32 i32) (result i32)
      local.get 0
      local.get 1
      call $log
      local.get 0
      local.get 1
      i32.const 1024
      call $g8
      i32.const 1024)
    (func (export "greet16") (param i32 i32) (result i32)
      local.get 0
      local.get 1
      i32.const 1032
      call $g16
      i32.const 1032)
    (func (export "bad-retptr") (param i32 i32) (result i32)
      local.get 0
      local.get 1
      i32.const 1026
      call $g8
      i32.const 1024))
  (core instance $main (instantiate $main
    (with "libc" (instance $libc))
    (with "host" (instance
      (export "greet8" (func $greet8))
      (export "greet16" (func $greet16))
      (export "log" (func $log8))))))
  (func (export "greet") (param "name" string) (result string)
    (canon lift (core func $main "greet") (memory $mem) (realloc (core func $libc "realloc"))))
  (func (export "greet16") (param "name" string) (result string)
    (canon lift (core func $main "greet16") (memory $mem) (realloc (core func $libc "realloc")) string-encoding=utf16))
  (func (export "bad-retptr") (param "name" string) (result string)
    (canon lift (core func $main "bad-retptr") (memory $mem) (realloc (core func $libc "realloc")))))

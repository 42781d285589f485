;; kiln-bench's component: three core modules in two sibling components. `$callee` exports
;; `nop` and `len(string) -> u32` (host→guest rows); `$caller` imports them and calls them in a
;; loop through fused adapters (component→component rows). Siblings, because a call from a
;; component into its own child counts as possibly recursive and traps in wasmtime 48.
(component
  (component $callee
    (core module $m
      (memory (export "mem") 3)
      ;; Every string lands at 64 KiB: the benchmark's strings are at most 64 KiB.
      (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 65536)
      (func (export "nop"))
      (func (export "len") (param i32 i32) (result i32) local.get 1))
    (core instance $i (instantiate $m))
    (alias core export $i "mem" (core memory $mem))
    (func (export "nop") (canon lift (core func $i "nop")))
    (func (export "len") (param "s" string) (result u32)
      (canon lift (core func $i "len") (memory $mem) (realloc (core func $i "realloc")))))
  (component $caller
    (import "nop" (func $nop))
    (import "len" (func $len (param "s" string) (result u32)))
    (core module $libc
      (memory (export "mem") 2)
      (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 0))
    (core instance $libc (instantiate $libc))
    (alias core export $libc "mem" (core memory $mem))
    (core func $nop-lowered (canon lower (func $nop)))
    (core func $len-lowered (canon lower (func $len) (memory $mem) (realloc (core func $libc "realloc"))))
    (core module $main
      (import "libc" "mem" (memory 2))
      (import "b" "nop" (func $nop))
      (import "b" "len" (func $len (param i32 i32) (result i32)))
      (func (export "call-nop") (param $n i32) (result i32)
        (block $done
          (loop $l
            local.get $n
            i32.eqz
            br_if $done
            call $nop
            local.get $n
            i32.const 1
            i32.sub
            local.set $n
            br $l))
        i32.const 0)
      ;; Passes the `size` bytes at offset 0 of its memory (zero bytes: valid UTF-8) `n` times.
      (func (export "call-len") (param $n i32) (param $size i32) (result i32)
        (local $acc i32)
        (block $done
          (loop $l
            local.get $n
            i32.eqz
            br_if $done
            i32.const 0
            local.get $size
            call $len
            local.get $acc
            i32.add
            local.set $acc
            local.get $n
            i32.const 1
            i32.sub
            local.set $n
            br $l))
        local.get $acc))
    (core instance $main (instantiate $main
      (with "libc" (instance $libc))
      (with "b" (instance
        (export "nop" (func $nop-lowered))
        (export "len" (func $len-lowered))))))
    (func (export "call-nop") (param "n" u32) (result u32)
      (canon lift (core func $main "call-nop")))
    (func (export "call-len") (param "n" u32) (param "size" u32) (result u32)
      (canon lift (core func $main "call-len"))))
  (instance $b (instantiate $callee))
  (instance $c (instantiate $caller
    (with "nop" (func $b "nop"))
    (with "len" (func $b "len"))))
  (export "nop" (func $b "nop"))
  (export "len" (func $b "len"))
  (export "call-nop" (func $c "call-nop"))
  (export "call-len" (func $c "call-len")))

;; WASI's byte lists against guest-chosen sizes (tests/tests/component_limits.rs): `write`
;; passes `len` bytes at 64 KiB (where "hello" is) to stdout's blocking-write-and-flush, which
;; takes at most 4096; the memory holds 64 MiB + 64 KiB it never writes past "hello".
(component
  (import "wasi:io/error@0.2.0" (instance $io-error
    (export "error" (type (sub resource)))))
  (alias export $io-error "error" (type $error))
  (import "wasi:io/streams@0.2.0" (instance $streams
    (alias outer 1 $error (type $error))
    (export "output-stream" (type $os (sub resource)))
    (type $se (variant (case "last-operation-failed" (own $error)) (case "closed")))
    (export "stream-error" (type $stream-error (eq $se)))
    (export "[method]output-stream.blocking-write-and-flush"
      (func (param "self" (borrow $os)) (param "contents" (list u8))
            (result (result (error $stream-error)))))))
  (alias export $streams "output-stream" (type $output-stream))
  (import "wasi:cli/stdout@0.2.0" (instance $stdout
    (alias outer 1 $output-stream (type $os-outer))
    (export "output-stream" (type $os (eq $os-outer)))
    (export "get-stdout" (func (result (own $os))))))
  (core module $mem
    (memory (export "memory") 1025)
    (data (i32.const 65536) "hello"))
  (core instance $mem (instantiate $mem))
  (alias core export $mem "memory" (core memory $memory))
  (core func $get-stdout (canon lower (func $stdout "get-stdout")))
  (core func $write (canon lower (func $streams "[method]output-stream.blocking-write-and-flush")
    (memory $memory)))
  (core func $drop-stream (canon resource.drop $output-stream))
  (core module $main
    (import "mem" "memory" (memory 1))
    (import "wasi" "get-stdout" (func $get-stdout (result i32)))
    (import "wasi" "write" (func $write (param i32 i32 i32 i32)))
    (import "wasi" "drop-stream" (func $drop-stream (param i32)))
    (func (export "write") (param $len i32) (result i32)
      (local $s i32)
      (local.set $s (call $get-stdout))
      (call $write (local.get $s) (i32.const 65536) (local.get $len) (i32.const 32))
      (call $drop-stream (local.get $s))
      (i32.load8_u (i32.const 32))))
  (core instance $main (instantiate $main
    (with "mem" (instance $mem))
    (with "wasi" (instance
      (export "get-stdout" (func $get-stdout))
      (export "write" (func $write))
      (export "drop-stream" (func $drop-stream))))))
  (func (export "write") (param "len" u32) (result u8) (canon lift (core func $main "write"))))

;; A WASI 0.2 command that also imports an interface of its own (`test:app/notes`), for
;; `kiln bindgen c` with WASI left out of the header (tests/tests/bindgen_wasi.rs): as
;; wasi-echo.wat, `wasi:cli/run#run` prints its arguments to stdout, and first calls
;; `test:app/notes#note` with the number of arguments (trapping unless it answers n + 100).
(component
  (import "test:app/notes" (instance $notes
    (export "note" (func (param "n" u32) (result u32)))))
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
  (import "wasi:cli/environment@0.2.0" (instance $env
    (export "get-arguments" (func (result (list string))))))
  ;; As wit-component writes a WIT `use`: the stream type is re-exported with `eq`, and stays
  ;; the one resource type of wasi:io/streams (a regression test: it used to become a new one).
  (import "wasi:cli/stdout@0.2.0" (instance $stdout
    (alias outer 1 $output-stream (type $os-outer))
    (export "output-stream" (type $os (eq $os-outer)))
    (export "get-stdout" (func (result (own $os))))))

  (core module $mem
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 4096))
    ;; A bump allocator: enough for argument lists.
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and
        (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get 2))))
      (global.set $next (i32.add (local.get $p) (local.get 3)))
      ;; a realloc keeps the old contents (the canonical ABI grows and shrinks strings)
      (if (local.get 0) (then (memory.copy (local.get $p) (local.get 0)
        (select (local.get 1) (local.get 3) (i32.lt_u (local.get 1) (local.get 3))))))
      (if (i32.gt_u (global.get $next) (i32.const 65536)) (then unreachable))
      (local.get $p)))
  (core instance $mem (instantiate $mem))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "realloc" (core func $realloc))

  (core func $get-arguments (canon lower (func $env "get-arguments")
    (memory $memory) (realloc $realloc)))
  (core func $get-stdout (canon lower (func $stdout "get-stdout")))
  (core func $write (canon lower (func $streams "[method]output-stream.blocking-write-and-flush")
    (memory $memory)))
  (core func $drop-stream (canon resource.drop $output-stream))
  (core func $note (canon lower (func $notes "note")))

  (core module $main
    (import "mem" "memory" (memory 1))
    (import "wasi" "get-arguments" (func $get-arguments (param i32)))
    (import "wasi" "get-stdout" (func $get-stdout (result i32)))
    (import "wasi" "write" (func $write (param i32 i32 i32 i32)))
    (import "wasi" "drop-stream" (func $drop-stream (param i32)))
    (import "app" "note" (func $note (param i32) (result i32)))
    (data (i32.const 16) " \n")
    ;; Writes [ptr, ptr+len) to stream $s; traps if the host reports an error.
    (func $out (param $s i32) (param $ptr i32) (param $len i32)
      (call $write (local.get $s) (local.get $ptr) (local.get $len) (i32.const 32))
      (if (i32.load8_u (i32.const 32)) (then unreachable)))
    (func (export "run") (result i32)
      (local $s i32) (local $list i32) (local $n i32) (local $i i32)
      (call $get-arguments (i32.const 8))
      (local.set $list (i32.load (i32.const 8)))
      (local.set $n (i32.load (i32.const 12)))
      (if (i32.le_u (local.get $n) (i32.const 1)) (then (return (i32.const 1))))
      (if (i32.ne (call $note (i32.sub (local.get $n) (i32.const 1)))
                  (i32.add (local.get $n) (i32.const 99)))
        (then unreachable))
      (local.set $s (call $get-stdout))
      (local.set $i (i32.const 1))
      (loop $each
        (if (i32.gt_u (local.get $i) (i32.const 1))
          (then (call $out (local.get $s) (i32.const 16) (i32.const 1))))
        (call $out (local.get $s)
          (i32.load (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 3))))
          (i32.load offset=4 (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $each (i32.lt_u (local.get $i) (local.get $n))))
      (call $out (local.get $s) (i32.const 17) (i32.const 1))
      (call $drop-stream (local.get $s))
      (i32.const 0)))
  (core instance $main (instantiate $main
    (with "mem" (instance $mem))
    (with "wasi" (instance
      (export "get-arguments" (func $get-arguments))
      (export "get-stdout" (func $get-stdout))
      (export "write" (func $write))
      (export "drop-stream" (func $drop-stream))))
    (with "app" (instance (export "note" (func $note))))))
  (func $run (result (result)) (canon lift (core func $main "run")))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run-instance))
)

;; The component the C sample host (component_host.c) runs. World:
;;
;;   import log: func(msg: string);
;;   export greet: func(name: string) -> string;        (calls log(name) first)
;;   export type summary = record { count: u32, sum: s64, min: s32, max: s32 };
;;   export stats: func(xs: list<s32>) -> summary;
;;   export parse-digit: func(c: char) -> result<u8, string>;
;;
;; Hand-written core wasm: a bump allocator as `realloc`, results in a return area.
(component
  (import "log" (func $log (param "msg" string)))
  ;; Memory and allocator, instantiated first so the import can be lowered with them.
  (core module $libc
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 4096))
    (func (export "realloc") (param $old i32) (param $oldsz i32) (param $align i32) (param $size i32) (result i32)
      (local $p i32)
      (local.set $p
        (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                 (i32.sub (i32.const 0) (local.get $align))))
      (global.set $bump (i32.add (local.get $p) (local.get $size)))
      ;; a realloc keeps the old contents (the canonical ABI grows and shrinks strings)
      (if (local.get $old) (then (memory.copy (local.get $p) (local.get $old)
        (select (local.get $oldsz) (local.get $size) (i32.lt_u (local.get $oldsz) (local.get $size))))))
      (local.get $p)))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "mem" (core memory $mem))
  (alias core export $libc "realloc" (core func $realloc))
  (core func $log-lowered (canon lower (func $log) (memory $mem)))
  (core module $m
    (import "libc" "mem" (memory 1))
    (import "libc" "realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))
    (import "host" "log" (func $log (param i32 i32)))
    (data (i32.const 16) "Hello, ")
    (data (i32.const 32) "not a digit")
    ;; greet(ptr, len) -> return area at 1024: (ptr, len) of "Hello, <name>!"
    (func (export "greet") (param $name i32) (param $len i32) (result i32)
      (local $out i32)
      (call $log (local.get $name) (local.get $len))
      (local.set $out (call $realloc (i32.const 0) (i32.const 0) (i32.const 1)
                                     (i32.add (local.get $len) (i32.const 8))))
      (memory.copy (local.get $out) (i32.const 16) (i32.const 7))
      (memory.copy (i32.add (local.get $out) (i32.const 7)) (local.get $name) (local.get $len))
      (i32.store8 (i32.add (i32.add (local.get $out) (i32.const 7)) (local.get $len)) (i32.const 33))
      (i32.store (i32.const 1024) (local.get $out))
      (i32.store (i32.const 1028) (i32.add (local.get $len) (i32.const 8)))
      (i32.const 1024))
    ;; stats(ptr, n) -> return area at 1040: count u32 @0, sum s64 @8, min s32 @16, max s32 @20
    (func (export "stats") (param $p i32) (param $n i32) (result i32)
      (local $i i32) (local $x i32) (local $sum i64) (local $min i32) (local $max i32)
      (local.set $min (i32.const 0x7fffffff))
      (local.set $max (i32.const 0x80000000))
      (block $done
        (loop $l
          (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
          (local.set $x (i32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))))
          (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_s (local.get $x))))
          (if (i32.lt_s (local.get $x) (local.get $min)) (then (local.set $min (local.get $x))))
          (if (i32.gt_s (local.get $x) (local.get $max)) (then (local.set $max (local.get $x))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
      (i32.store (i32.const 1040) (local.get $n))
      (i64.store (i32.const 1048) (local.get $sum))
      (i32.store (i32.const 1056) (local.get $min))
      (i32.store (i32.const 1060) (local.get $max))
      (i32.const 1040))
    ;; parse-digit(c) -> return area at 1072: disc u8 @0, payload @4 (u8, or string ptr/len)
    (func (export "parse-digit") (param $c i32) (result i32)
      (if (i32.and (i32.ge_u (local.get $c) (i32.const 48)) (i32.le_u (local.get $c) (i32.const 57)))
        (then
          (i32.store8 (i32.const 1072) (i32.const 0))
          (i32.store8 (i32.const 1076) (i32.sub (local.get $c) (i32.const 48))))
        (else
          (i32.store8 (i32.const 1072) (i32.const 1))
          (i32.store (i32.const 1076) (i32.const 32))
          (i32.store (i32.const 1080) (i32.const 11))))
      (i32.const 1072)))
  (core instance $i (instantiate $m
    (with "libc" (instance $libc))
    (with "host" (instance (export "log" (func $log-lowered))))))
  (type $stats (record (field "count" u32) (field "sum" s64) (field "min" s32) (field "max" s32)))
  (export $stats' "summary" (type $stats))
  (func (export "greet") (param "name" string) (result string)
    (canon lift (core func $i "greet") (memory $mem) (realloc $realloc)))
  (func (export "stats") (param "xs" (list s32)) (result $stats')
    (canon lift (core func $i "stats") (memory $mem) (realloc $realloc)))
  (func (export "parse-digit") (param "c" char) (result (result u8 (error string)))
    (canon lift (core func $i "parse-digit") (memory $mem) (realloc $realloc)))
)

;; Canonical-ABI calls through the compiled glue: one hand-written core module with a bump
;; `realloc`, a counting post-return, identity functions lifted at many types, return areas,
;; 17 parameters through memory, strings in all three encodings, and constants that are
;; invalid canonical-ABI values (each must trap with a message naming the rule).
(component
  (core module $m
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 8192))
    (global $posts (mut i32) (i32.const 0))
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
    (func (export "post") (param i32)
      global.get $posts
      i32.const 1
      i32.add
      global.set $posts)
    (func (export "post-count") (result i32) global.get $posts)
    (func (export "id32") (param i32) (result i32) local.get 0)
    (func (export "id64") (param i64) (result i64) local.get 0)
    (func (export "idf32") (param f32) (result f32) local.get 0)
    (func (export "idf64") (param f64) (result f64) local.get 0)
    (func (export "second") (param i32 i32) (result i32) local.get 1)
    ;; (ptr, len) -> return area holding (ptr, len)
    (func (export "echo-pair") (param i32 i32) (result i32)
      i32.const 1024
      local.get 0
      i32.store
      i32.const 1028
      local.get 1
      i32.store
      i32.const 1024)
    ;; record { a: u8, b: string, c: char } flat (a, ptr, len, c) -> memory layout
    (func (export "echo-rec") (param i32 i32 i32 i32) (result i32)
      i32.const 1040
      local.get 0
      i32.store8
      i32.const 1044
      local.get 1
      i32.store
      i32.const 1048
      local.get 2
      i32.store
      i32.const 1052
      local.get 3
      i32.store
      i32.const 1040)
    ;; tuple<u64, bool>
    (func (export "echo-tup") (param i64 i32) (result i32)
      i32.const 1056
      local.get 0
      i64.store
      i32.const 1064
      local.get 1
      i32.store8
      i32.const 1056)
    ;; result<string, u32> flat (disc, p1, p2)
    (func (export "echo-res") (param i32 i32 i32) (result i32)
      i32.const 1072
      local.get 0
      i32.store8
      i32.const 1076
      local.get 1
      i32.store
      i32.const 1080
      local.get 2
      i32.store
      i32.const 1072)
    ;; option<u32> flat (disc, payload) -> disc * 1000 + payload
    (func (export "combine") (param i32 i32) (result i32)
      local.get 0
      i32.const 1000
      i32.mul
      local.get 1
      i32.add)
    ;; variant { a(u32), b(f32), c(u64), d } flat (disc: i32, payload: i64) -> disc << 56 | payload
    (func (export "combine64") (param i32 i64) (result i64)
      local.get 0
      i64.extend_i32_u
      i64.const 56
      i64.shl
      local.get 1
      i64.or)
    ;; 17 u32 parameters through memory
    (func (export "sum17") (param $p i32) (result i32)
      (local $i i32) (local $s i32)
      (block $done
        (loop $l
          local.get $i
          i32.const 17
          i32.eq
          br_if $done
          local.get $s
          local.get $p
          local.get $i
          i32.const 4
          i32.mul
          i32.add
          i32.load
          i32.add
          local.set $s
          local.get $i
          i32.const 1
          i32.add
          local.set $i
          br $l))
      local.get $s)
    (func (export "c-surrogate") (result i32) i32.const 0xd800)
    (func (export "c-big-char") (result i32) i32.const 0x110000)
    (func (export "c7") (result i32) i32.const 7)
    (func (export "c2") (result i32) i32.const 2)
    (func (export "c-oob-string") (result i32) i32.const 2000)
    (func (export "c-bad-utf8") (result i32) i32.const 2016)
    (func (export "c-misaligned-list") (result i32) i32.const 2032)
    (func (export "c-bad-utf16") (result i32) i32.const 2040)
    (func (export "c-misaligned-ret") (result i32) i32.const 2002)
    (func (export "c-oob-ret") (result i32) i32.const 65532)
    (func (export "c-bad-variant") (result i32) i32.const 2048)
    (data (i32.const 2000) "\00\00\ff\ff\10\00\00\00")
    (data (i32.const 2016) "\34\08\00\00\02\00\00\00")
    (data (i32.const 2032) "\35\08\00\00\01\00\00\00")
    (data (i32.const 2040) "\98\08\00\00\01\00\00\00")
    (data (i32.const 2048) "\09\00\00\00\00\00\00\00")
    (data (i32.const 2100) "\ff\fe")
    (data (i32.const 2200) "\00\d8"))
  (core instance $i (instantiate $m))
  (alias core export $i "mem" (core memory $mem))

  (type $rec' (record (field "a" u8) (field "b" string) (field "c" char)))
  (export $rec "rec" (type $rec'))
  (type $en' (enum "x" "y" "z"))
  (export $en "en" (type $en'))
  (type $fl' (flags "r" "w" "x"))
  (export $fl "fl" (type $fl'))
  (type $var' (variant (case "a" u32) (case "b" f32) (case "c" u64) (case "d")))
  (export $var "var" (type $var'))

  (func (export "add-post") (param "x" u32) (result u32)
    (canon lift (core func $i "id32") (post-return (core func $i "post"))))
  (func (export "post-count") (result u32) (canon lift (core func $i "post-count")))
  (func (export "echo-bool") (param "x" bool) (result bool) (canon lift (core func $i "id32")))
  (func (export "echo-s8") (param "x" s8) (result s8) (canon lift (core func $i "id32")))
  (func (export "echo-u8") (param "x" u8) (result u8) (canon lift (core func $i "id32")))
  (func (export "echo-s16") (param "x" s16) (result s16) (canon lift (core func $i "id32")))
  (func (export "echo-u16") (param "x" u16) (result u16) (canon lift (core func $i "id32")))
  (func (export "echo-s32") (param "x" s32) (result s32) (canon lift (core func $i "id32")))
  (func (export "echo-u32") (param "x" u32) (result u32) (canon lift (core func $i "id32")))
  (func (export "echo-s64") (param "x" s64) (result s64) (canon lift (core func $i "id64")))
  (func (export "echo-u64") (param "x" u64) (result u64) (canon lift (core func $i "id64")))
  (func (export "echo-f32") (param "x" f32) (result f32) (canon lift (core func $i "idf32")))
  (func (export "echo-f64") (param "x" f64) (result f64) (canon lift (core func $i "idf64")))
  (func (export "echo-char") (param "x" char) (result char) (canon lift (core func $i "id32")))
  (func (export "echo-enum") (param "x" $en) (result $en) (canon lift (core func $i "id32")))
  (func (export "echo-flags") (param "x" $fl) (result $fl) (canon lift (core func $i "id32")))
  (func (export "echo-string") (param "x" string) (result string)
    (canon lift (core func $i "echo-pair") (memory $mem) (realloc (core func $i "realloc"))))
  (func (export "echo-string16") (param "x" string) (result string)
    (canon lift (core func $i "echo-pair") (memory $mem) (realloc (core func $i "realloc")) string-encoding=utf16))
  (func (export "echo-string-latin1") (param "x" string) (result string)
    (canon lift (core func $i "echo-pair") (memory $mem) (realloc (core func $i "realloc")) string-encoding=latin1+utf16))
  (func (export "len16") (param "x" string) (result u32)
    (canon lift (core func $i "second") (memory $mem) (realloc (core func $i "realloc")) string-encoding=utf16))
  (func (export "len-latin1") (param "x" string) (result u32)
    (canon lift (core func $i "second") (memory $mem) (realloc (core func $i "realloc")) string-encoding=latin1+utf16))
  (func (export "echo-list") (param "x" (list u32)) (result (list u32))
    (canon lift (core func $i "echo-pair") (memory $mem) (realloc (core func $i "realloc"))))
  (func (export "echo-strings") (param "x" (list string)) (result (list string))
    (canon lift (core func $i "echo-pair") (memory $mem) (realloc (core func $i "realloc"))))
  (func (export "echo-chars") (param "x" (list char)) (result (list char))
    (canon lift (core func $i "echo-pair") (memory $mem) (realloc (core func $i "realloc"))))
  (func (export "echo-rec") (param "x" $rec) (result $rec)
    (canon lift (core func $i "echo-rec") (memory $mem) (realloc (core func $i "realloc"))))
  (func (export "echo-tuple") (param "x" (tuple u64 bool)) (result (tuple u64 bool))
    (canon lift (core func $i "echo-tup") (memory $mem)))
  (func (export "echo-result") (param "x" (result string (error u32))) (result (result string (error u32)))
    (canon lift (core func $i "echo-res") (memory $mem) (realloc (core func $i "realloc"))))
  (func (export "option-arg") (param "x" (option u32)) (result u32) (canon lift (core func $i "combine")))
  (func (export "variant-arg") (param "x" $var) (result u64) (canon lift (core func $i "combine64")))
  (func (export "sum17")
    (param "a0" u32) (param "a1" u32) (param "a2" u32) (param "a3" u32) (param "a4" u32)
    (param "a5" u32) (param "a6" u32) (param "a7" u32) (param "a8" u32) (param "a9" u32)
    (param "a10" u32) (param "a11" u32) (param "a12" u32) (param "a13" u32) (param "a14" u32)
    (param "a15" u32) (param "a16" u32) (result u32)
    (canon lift (core func $i "sum17") (memory $mem) (realloc (core func $i "realloc"))))

  (func (export "bad-surrogate") (result char) (canon lift (core func $i "c-surrogate")))
  (func (export "bad-big-char") (result char) (canon lift (core func $i "c-big-char")))
  (func (export "bad-enum") (result $en) (canon lift (core func $i "c7")))
  (func (export "bool-two") (result bool) (canon lift (core func $i "c2")))
  (func (export "bad-option") (result (option u8)) (canon lift (core func $i "c-bad-variant") (memory $mem)))
  (func (export "bad-string-bounds") (result string) (canon lift (core func $i "c-oob-string") (memory $mem)))
  (func (export "bad-utf8") (result string) (canon lift (core func $i "c-bad-utf8") (memory $mem)))
  (func (export "bad-utf16") (result string)
    (canon lift (core func $i "c-bad-utf16") (memory $mem) string-encoding=utf16))
  (func (export "misaligned-list") (result (list u32)) (canon lift (core func $i "c-misaligned-list") (memory $mem)))
  (func (export "misaligned-ret") (result string) (canon lift (core func $i "c-misaligned-ret") (memory $mem)))
  (func (export "oob-ret") (result string) (canon lift (core func $i "c-oob-ret") (memory $mem)))
)

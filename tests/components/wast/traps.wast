;; The traps of CanonicalABI.md for values crossing between the host and a guest: each guest
;; function below returns (or each realloc produces) something the canonical ABI forbids, and
;; the call must trap with kiln's message naming the rule. Resource, reentrance and
;; post-return traps are in resources.wast, reentrance.wast and post-return.wast.
;;
;; A trap leaves a component instance unable to be entered again (last test), so every trap
;; runs in a fresh instance of the definition $Traps.
(component definition $Traps
  (core module $m
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p
        (i32.and
          (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get 2))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (local.get $p))
    ;; realloc results the glue must reject
    (func (export "realloc-misaligned") (param i32 i32 i32 i32) (result i32) (i32.const 4097))
    (func (export "realloc-oob") (param i32 i32 i32 i32) (result i32) (i32.const 65534))
    (func (export "realloc-huge") (param i32 i32 i32 i32) (result i32) (i32.const -8))
    (func (export "len") (param i32 i32) (result i32) local.get 1)
    (func (export "k") (param i32) (result i32) local.get 0)
    ;; returns the constant its name says
    (func (export "c-d800") (result i32) (i32.const 0xd800))
    (func (export "c-dfff") (result i32) (i32.const 0xdfff))
    (func (export "c-110000") (result i32) (i32.const 0x110000))
    (func (export "c-neg") (result i32) (i32.const -1))
    (func (export "c3") (result i32) (i32.const 3))
    (func (export "c2") (result i32) (i32.const 2))
    (func (export "c256") (result i32) (i32.const 256))
    (func (export "c257") (result i32) (i32.const 257))
    ;; (ptr, len) pairs in a return area at 1024 + 8 * n
    (func $pair (param $at i32) (param $p i32) (param $n i32) (result i32)
      (i32.store (local.get $at) (local.get $p))
      (i32.store offset=4 (local.get $at) (local.get $n))
      (local.get $at))
    (func (export "str-oob") (result i32) (call $pair (i32.const 1024) (i32.const 65530) (i32.const 7)))
    (func (export "str-wrap") (result i32) (call $pair (i32.const 1032) (i32.const -4) (i32.const 8)))
    (func (export "str-bad-utf8") (result i32) (call $pair (i32.const 1040) (i32.const 2048) (i32.const 2)))
    (func (export "str-truncated-utf8") (result i32) (call $pair (i32.const 1048) (i32.const 2052) (i32.const 1)))
    (func (export "str-too-long") (result i32) (call $pair (i32.const 1056) (i32.const 0) (i32.const 0x80000000)))
    (func (export "str16-misaligned") (result i32) (call $pair (i32.const 1064) (i32.const 2057) (i32.const 1)))
    (func (export "str16-lone-high") (result i32) (call $pair (i32.const 1072) (i32.const 2064) (i32.const 1)))
    (func (export "str16-lone-low") (result i32) (call $pair (i32.const 1080) (i32.const 2068) (i32.const 1)))
    (func (export "str16-oob") (result i32) (call $pair (i32.const 1088) (i32.const 65534) (i32.const 2)))
    (func (export "latin1-tagged-misaligned") (result i32)
      (call $pair (i32.const 1096) (i32.const 2057) (i32.const 0x80000001)))
    (func (export "latin1-tagged-bad") (result i32)
      (call $pair (i32.const 1104) (i32.const 2064) (i32.const 0x80000001)))
    (func (export "list-misaligned") (result i32) (call $pair (i32.const 1112) (i32.const 2050) (i32.const 1)))
    (func (export "list-oob") (result i32) (call $pair (i32.const 1120) (i32.const 65528) (i32.const 3)))
    (func (export "list-overflow") (result i32) (call $pair (i32.const 1128) (i32.const 8) (i32.const 0x20000001)))
    (func (export "list-bad-char") (result i32) (call $pair (i32.const 1136) (i32.const 2072) (i32.const 2)))
    ;; edges: empty ranges are still checked against memory and alignment
    (func (export "str-empty-oob") (result i32) (call $pair (i32.const 1144) (i32.const 0x10001) (i32.const 0)))
    (func (export "str-empty-at-end") (result i32) (call $pair (i32.const 1152) (i32.const 0x10000) (i32.const 0)))
    (func (export "str-at-end") (result i32) (call $pair (i32.const 1160) (i32.const 65534) (i32.const 2)))
    (func (export "str-past-end") (result i32) (call $pair (i32.const 1168) (i32.const 65535) (i32.const 2)))
    (func (export "list-empty-misaligned") (result i32) (call $pair (i32.const 1176) (i32.const 2) (i32.const 0)))
    (func (export "ret-misaligned") (result i32) (i32.const 1026))
    (func (export "ret-oob") (result i32) (i32.const 65532))
    (func (export "ret-wrap") (result i32) (i32.const -4))
    ;; option<char> through the return area: case 1 with a surrogate payload
    (func (export "opt-bad-char") (result i32) (i32.const 2080))
    ;; result<u8, u8> through the return area: case 2
    (func (export "result-bad-case") (result i32) (i32.const 2088))
    ;; option<u8> through the return area: case 2
    (func (export "opt-disc-2") (result i32) (i32.const 2096))
    ;; utf-8 0xc3 0x28 (bad continuation), 0xe2 (truncated)
    (data (i32.const 2048) "\c3\28\00\00\e2")
    ;; utf-16 0xd800 (lone high surrogate) at 2064, 0xdc00 (lone low) at 2068
    (data (i32.const 2064) "\00\d8\00\00\00\dc")
    ;; chars 'a' and 0xdfff
    (data (i32.const 2072) "\61\00\00\00\ff\df\00\00")
    ;; option<char>: disc 1, payload at +4 = 0xd800
    (data (i32.const 2080) "\01\00\00\00\00\d8\00\00")
    ;; result<u8, u8>: disc 2
    (data (i32.const 2088) "\02\00")
    (data (i32.const 2096) "\02\00")
    (data (i32.const 65534) "ok"))
  (core instance $i (instantiate $m))
  (alias core export $i "mem" (core memory $mem))
  (core func $realloc (alias core export $i "realloc"))
  (type $en' (enum "a" "b" "c"))
  (export $en "en" (type $en'))
  (type $v' (variant (case "x") (case "y")))
  (export $v "v" (type $v'))
  (type $big' (enum "e0" "e1" "e2" "e3" "e4" "e5" "e6" "e7" "e8" "e9" "e10" "e11" "e12" "e13" "e14"
    "e15" "e16" "e17" "e18" "e19" "e20" "e21" "e22" "e23" "e24" "e25" "e26" "e27" "e28" "e29" "e30"
    "e31" "e32" "e33" "e34" "e35" "e36" "e37" "e38" "e39" "e40" "e41" "e42" "e43" "e44" "e45" "e46"
    "e47" "e48" "e49" "e50" "e51" "e52" "e53" "e54" "e55" "e56" "e57" "e58" "e59" "e60" "e61" "e62"
    "e63" "e64" "e65" "e66" "e67" "e68" "e69" "e70" "e71" "e72" "e73" "e74" "e75" "e76" "e77" "e78"
    "e79" "e80" "e81" "e82" "e83" "e84" "e85" "e86" "e87" "e88" "e89" "e90" "e91" "e92" "e93" "e94"
    "e95" "e96" "e97" "e98" "e99" "e100" "e101" "e102" "e103" "e104" "e105" "e106" "e107" "e108"
    "e109" "e110" "e111" "e112" "e113" "e114" "e115" "e116" "e117" "e118" "e119" "e120" "e121"
    "e122" "e123" "e124" "e125" "e126" "e127" "e128" "e129" "e130" "e131" "e132" "e133" "e134"
    "e135" "e136" "e137" "e138" "e139" "e140" "e141" "e142" "e143" "e144" "e145" "e146" "e147"
    "e148" "e149" "e150" "e151" "e152" "e153" "e154" "e155" "e156" "e157" "e158" "e159" "e160"
    "e161" "e162" "e163" "e164" "e165" "e166" "e167" "e168" "e169" "e170" "e171" "e172" "e173"
    "e174" "e175" "e176" "e177" "e178" "e179" "e180" "e181" "e182" "e183" "e184" "e185" "e186"
    "e187" "e188" "e189" "e190" "e191" "e192" "e193" "e194" "e195" "e196" "e197" "e198" "e199"
    "e200" "e201" "e202" "e203" "e204" "e205" "e206" "e207" "e208" "e209" "e210" "e211" "e212"
    "e213" "e214" "e215" "e216" "e217" "e218" "e219" "e220" "e221" "e222" "e223" "e224" "e225"
    "e226" "e227" "e228" "e229" "e230" "e231" "e232" "e233" "e234" "e235" "e236" "e237" "e238"
    "e239" "e240" "e241" "e242" "e243" "e244" "e245" "e246" "e247" "e248" "e249" "e250" "e251"
    "e252" "e253" "e254" "e255" "e256"))
  (export $big "big" (type $big'))

  ;; char: not a Unicode scalar value
  (func (export "char-d800") (result char) (canon lift (core func $i "c-d800")))
  (func (export "char-dfff") (result char) (canon lift (core func $i "c-dfff")))
  (func (export "char-110000") (result char) (canon lift (core func $i "c-110000")))
  (func (export "char-neg") (result char) (canon lift (core func $i "c-neg")))
  ;; discriminants out of range
  (func (export "enum-3") (result $en) (canon lift (core func $i "c3")))
  (func (export "enum-neg") (result $en) (canon lift (core func $i "c-neg")))
  (func (export "variant-2") (result $v) (canon lift (core func $i "c2")))
  (func (export "option-2") (result (option u8)) (canon lift (core func $i "opt-disc-2") (memory $mem)))
  (func (export "big-enum-256") (result $big) (canon lift (core func $i "c256")))
  (func (export "big-enum-257") (result $big) (canon lift (core func $i "c257")))
  (func (export "opt-bad-char") (result (option char)) (canon lift (core func $i "opt-bad-char") (memory $mem)))
  (func (export "result-bad-case") (result (result u8 (error u8))) (canon lift (core func $i "result-bad-case") (memory $mem)))
  ;; strings
  (func (export "str-oob") (result string) (canon lift (core func $i "str-oob") (memory $mem)))
  (func (export "str-wrap") (result string) (canon lift (core func $i "str-wrap") (memory $mem)))
  (func (export "str-bad-utf8") (result string) (canon lift (core func $i "str-bad-utf8") (memory $mem)))
  (func (export "str-truncated-utf8") (result string) (canon lift (core func $i "str-truncated-utf8") (memory $mem)))
  (func (export "str-too-long") (result string) (canon lift (core func $i "str-too-long") (memory $mem)))
  (func (export "str16-misaligned") (result string)
    (canon lift (core func $i "str16-misaligned") (memory $mem) string-encoding=utf16))
  (func (export "str16-lone-high") (result string)
    (canon lift (core func $i "str16-lone-high") (memory $mem) string-encoding=utf16))
  (func (export "str16-lone-low") (result string)
    (canon lift (core func $i "str16-lone-low") (memory $mem) string-encoding=utf16))
  (func (export "str16-oob") (result string)
    (canon lift (core func $i "str16-oob") (memory $mem) string-encoding=utf16))
  (func (export "latin1-tagged-misaligned") (result string)
    (canon lift (core func $i "latin1-tagged-misaligned") (memory $mem) string-encoding=latin1+utf16))
  (func (export "latin1-tagged-bad") (result string)
    (canon lift (core func $i "latin1-tagged-bad") (memory $mem) string-encoding=latin1+utf16))
  (func (export "str-empty-oob") (result string) (canon lift (core func $i "str-empty-oob") (memory $mem)))
  (func (export "str-empty-at-end") (result string) (canon lift (core func $i "str-empty-at-end") (memory $mem)))
  (func (export "str-at-end") (result string) (canon lift (core func $i "str-at-end") (memory $mem)))
  (func (export "str-past-end") (result string) (canon lift (core func $i "str-past-end") (memory $mem)))
  (func (export "list-empty-misaligned") (result (list u32)) (canon lift (core func $i "list-empty-misaligned") (memory $mem)))
  ;; lists
  (func (export "list-misaligned") (result (list u32)) (canon lift (core func $i "list-misaligned") (memory $mem)))
  (func (export "list-oob") (result (list u64)) (canon lift (core func $i "list-oob") (memory $mem)))
  (func (export "list-overflow") (result (list u64)) (canon lift (core func $i "list-overflow") (memory $mem)))
  (func (export "list-bad-char") (result (list char)) (canon lift (core func $i "list-bad-char") (memory $mem)))
  ;; return areas
  (func (export "ret-misaligned") (result string) (canon lift (core func $i "ret-misaligned") (memory $mem)))
  (func (export "ret-oob") (result string) (canon lift (core func $i "ret-oob") (memory $mem)))
  (func (export "ret-wrap") (result (tuple u32 u32)) (canon lift (core func $i "ret-wrap") (memory $mem)))
  ;; realloc results when the host lowers a string or list into the guest
  (func (export "realloc-misaligned") (param "x" (list u32)) (result u32)
    (canon lift (core func $i "len") (memory $mem) (realloc (core func $i "realloc-misaligned"))))
  (func (export "realloc-oob") (param "x" string) (result u32)
    (canon lift (core func $i "len") (memory $mem) (realloc (core func $i "realloc-oob"))))
  (func (export "realloc-huge") (param "x" string) (result u32)
    (canon lift (core func $i "len") (memory $mem) (realloc (core func $i "realloc-huge"))))
  ;; what CanonicalABI.md accepts: any non-zero bool is true, unused flag bits are ignored
  (type $fl' (flags "a" "b"))
  (export $fl "fl" (type $fl'))
  (func (export "bool-256") (result bool) (canon lift (core func $i "c256")))
  (func (export "flags-extra-bits") (result $fl) (canon lift (core func $i "c-neg")))
  (func (export "u8-wide") (result u8) (canon lift (core func $i "c256")))
  (func (export "s8-wide") (result s8) (canon lift (core func $i "c-neg")))
)

(component instance $t $Traps)
(assert_trap (invoke "char-d800") "canonical ABI: invalid char")
(component instance $t $Traps)
(assert_trap (invoke "char-dfff") "canonical ABI: invalid char")
(component instance $t $Traps)
(assert_trap (invoke "char-110000") "canonical ABI: invalid char")
(component instance $t $Traps)
(assert_trap (invoke "char-neg") "canonical ABI: invalid char")
(component instance $t $Traps)
(assert_trap (invoke "enum-3") "canonical ABI: invalid variant discriminant")
(component instance $t $Traps)
(assert_trap (invoke "enum-neg") "canonical ABI: invalid variant discriminant")
(component instance $t $Traps)
(assert_trap (invoke "variant-2") "canonical ABI: invalid variant discriminant")
(component instance $t $Traps)
(assert_trap (invoke "option-2") "canonical ABI: invalid variant discriminant")
(component instance $t $Traps)
(assert_trap (invoke "big-enum-257") "canonical ABI: invalid variant discriminant")
(component instance $t $Traps)
(assert_return (invoke "big-enum-256") (enum.const "e256"))
(component instance $t $Traps)
(assert_trap (invoke "opt-bad-char") "canonical ABI: invalid char")
(component instance $t $Traps)
(assert_trap (invoke "result-bad-case") "canonical ABI: invalid variant discriminant")
(component instance $t $Traps)
(assert_trap (invoke "str-oob") "canonical ABI: string/list content out of bounds")
(component instance $t $Traps)
(assert_trap (invoke "str-wrap") "canonical ABI: string/list content out of bounds")
(component instance $t $Traps)
(assert_trap (invoke "str-bad-utf8") "canonical ABI: invalid utf-8")
(component instance $t $Traps)
(assert_trap (invoke "str-truncated-utf8") "canonical ABI: invalid utf-8")
(component instance $t $Traps)
;; CanonicalABI.md checks a lifted string's range against memory (the 2^31 - 1 limit applies
;; when storing a string), so a 2 GiB length is out of bounds.
(assert_trap (invoke "str-too-long") "canonical ABI: string/list content out of bounds")
(component instance $t $Traps)
(assert_trap (invoke "str16-misaligned") "canonical ABI: string/list pointer not aligned")
(component instance $t $Traps)
(assert_trap (invoke "str16-lone-high") "canonical ABI: invalid utf-16")
(component instance $t $Traps)
(assert_trap (invoke "str16-lone-low") "canonical ABI: invalid utf-16")
(component instance $t $Traps)
(assert_trap (invoke "str16-oob") "canonical ABI: string/list content out of bounds")
(component instance $t $Traps)
(assert_trap (invoke "latin1-tagged-misaligned") "canonical ABI: string/list pointer not aligned")
(component instance $t $Traps)
(assert_trap (invoke "latin1-tagged-bad") "canonical ABI: invalid utf-16")
(component instance $t $Traps)
(assert_trap (invoke "str-empty-oob") "canonical ABI: string/list content out of bounds")
(component instance $t $Traps)
(assert_return (invoke "str-empty-at-end") (str.const ""))
(assert_return (invoke "str-at-end") (str.const "ok"))
(component instance $t $Traps)
(assert_trap (invoke "str-past-end") "canonical ABI: string/list content out of bounds")
(component instance $t $Traps)
(assert_trap (invoke "list-empty-misaligned") "canonical ABI: string/list pointer not aligned")
(component instance $t $Traps)
(assert_trap (invoke "list-misaligned") "canonical ABI: string/list pointer not aligned")
(component instance $t $Traps)
(assert_trap (invoke "list-oob") "canonical ABI: string/list content out of bounds")
(component instance $t $Traps)
;; length * element size past 2^32: out of bounds (CanonicalABI.md computes it unbounded)
(assert_trap (invoke "list-overflow") "canonical ABI: string/list content out of bounds")
(component instance $t $Traps)
(assert_trap (invoke "list-bad-char") "canonical ABI: invalid char")
(component instance $t $Traps)
(assert_trap (invoke "ret-misaligned") "canonical ABI: return area pointer not aligned")
(component instance $t $Traps)
(assert_trap (invoke "ret-oob") "canonical ABI: return area out of bounds")
(component instance $t $Traps)
(assert_trap (invoke "ret-wrap") "canonical ABI: return area out of bounds")
(component instance $t $Traps)
(assert_trap (invoke "realloc-misaligned" (list.const (u32.const 1))) "canonical ABI: realloc return: pointer not aligned")
(component instance $t $Traps)
(assert_trap (invoke "realloc-oob" (str.const "abcdef")) "canonical ABI: realloc return: beyond end of memory")
(component instance $t $Traps)
(assert_trap (invoke "realloc-huge" (str.const "abcdefghijkl")) "canonical ABI: realloc return: beyond end of memory")
(component instance $t $Traps)
(assert_return (invoke "bool-256") (bool.const true))
(component instance $t $Traps)
(assert_return (invoke "flags-extra-bits") (flags.const "a" "b"))
(component instance $t $Traps)
(assert_return (invoke "u8-wide") (u8.const 0))
(component instance $t $Traps)
(assert_return (invoke "s8-wide") (s8.const -1))

;; A trap leaves the instance unable to be entered again.
(component
  (core module $m (func (export "boom") unreachable) (func (export "ok") (result i32) (i32.const 1)))
  (core instance $i (instantiate $m))
  (func (export "boom") (canon lift (core func $i "boom")))
  (func (export "ok") (result u32) (canon lift (core func $i "ok"))))
(assert_return (invoke "ok") (u32.const 1))
(assert_trap (invoke "boom") "unreachable")
(assert_trap (invoke "ok") "canonical ABI: cannot enter component instance")

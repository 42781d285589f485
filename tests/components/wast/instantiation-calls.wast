;; Calls made while a component is being instantiated: a core module's start function runs
;; during instantiation and may call what it imports.
;;
;; (a) a host import: the script host resolves the import to a registered component instance
;;     (`cli/src/wast/component.rs`), so the call leaves through the compiled import trampoline
;;     (strings lifted from the instantiating guest, results lowered into it with its realloc)
;;     while the instantiation is still running;
;; (b) a function lifted by a sibling component instance instantiated earlier: a fused adapter
;;     call, which must work (strings transcoded both ways, realloc of either side);
;; (c) a function lifted by the instance itself, by its parent or by its grandparent: a call
;;     into an instance that is on the way in traps with "cannot enter component instance"
;;     (as CanonicalABI.md's reference tests and wasmtime do), so instantiation fails;
;; (d) a sibling's export reached through a chain of two adapters (C -> B -> A), with a string
;;     changing encoding at each hop.
;; Traps raised by the callee during instantiation fail the instantiation with that trap.

;; --- (a) host imports -------------------------------------------------------------------

;; $rec records the strings it is given and answers with a greeting.
(component $rec
  (core module $m
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 4096))
    (global $n (mut i32) (i32.const 0))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p
        (i32.and
          (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get 2))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (if (local.get 0) (then (memory.copy (local.get $p) (local.get 0)
        (select (local.get 1) (local.get 3) (i32.lt_u (local.get 1) (local.get 3))))))
      (local.get $p))
    ;; note: keeps (ptr, len) of the last string at 16 and counts the calls
    (func (export "note") (param i32 i32)
      (i32.store (i32.const 16) (local.get 0))
      (i32.store (i32.const 20) (local.get 1))
      (global.set $n (i32.add (global.get $n) (i32.const 1))))
    (func (export "count") (result i32) (global.get $n))
    (func (export "last") (result i32) (i32.const 16))
    ;; greet: "hi " followed by the name, built at 512
    (func (export "greet") (param i32 i32) (result i32)
      (i32.store (i32.const 512) (i32.const 0x206968))
      (memory.copy (i32.const 515) (local.get 0) (local.get 1))
      (i32.store (i32.const 24) (i32.const 512))
      (i32.store (i32.const 28) (i32.add (local.get 1) (i32.const 3)))
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (i32.const 24))
    (func (export "fail") unreachable))
  (core instance $i (instantiate $m))
  (alias core export $i "mem" (core memory $mem))
  (core func $realloc (alias core export $i "realloc"))
  (func (export "note") (param "s" string)
    (canon lift (core func $i "note") (memory $mem) (realloc $realloc)))
  (func (export "greet") (param "name" string) (result string)
    (canon lift (core func $i "greet") (memory $mem) (realloc $realloc)))
  (func (export "fail") (canon lift (core func $i "fail")))
  (func (export "count") (result u32) (canon lift (core func $i "count")))
  (func (export "last") (result string) (canon lift (core func $i "last") (memory $mem))))
(register "rec" $rec)

;; The start function passes a UTF-16 string to the host import.
(component $a1
  (import "rec" (instance $rec (export "note" (func (param "s" string)))))
  (core module $libc
    (memory (export "mem") 1)
    ;; "étoile" in UTF-16
    (data (i32.const 64) "\e9\00t\00o\00i\00l\00e\00"))
  (core instance $libc (instantiate $libc))
  (alias core export $libc "mem" (core memory $mem))
  (core func $note (canon lower (func $rec "note") (memory $mem) string-encoding=utf16))
  (core module $m
    (import "" "note" (func $note (param i32 i32)))
    (func $start (call $note (i32.const 64) (i32.const 6)))
    (start $start))
  (core instance (instantiate $m (with "" (instance (export "note" (func $note)))))))
(assert_return (invoke $rec "count") (u32.const 1))
(assert_return (invoke $rec "last") (str.const "étoile"))

;; The start function gets a string back from the host: the import trampoline lowers it into
;; the guest with the guest's realloc (here latin1+utf16) during instantiation; an export
;; reads what the start function stored.
(component $a2
  (import "rec" (instance $rec (export "greet" (func (param "name" string) (result string)))))
  (core module $libc
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 4096))
    (global $calls (mut i32) (i32.const 0))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
      (local.set $p
        (i32.and
          (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get 2))))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (if (local.get 0) (then (memory.copy (local.get $p) (local.get 0)
        (select (local.get 1) (local.get 3) (i32.lt_u (local.get 1) (local.get 3))))))
      (local.get $p))
    (func (export "calls") (result i32) (global.get $calls))
    )
  (core instance $libc (instantiate $libc))
  (alias core export $libc "mem" (core memory $mem))
  (core func $realloc (alias core export $libc "realloc"))
  (core func $greet (canon lower (func $rec "greet") (memory $mem) (realloc $realloc) string-encoding=latin1+utf16))
  (core module $m
    (import "libc" "mem" (memory 1))
    (import "" "greet" (func $greet (param i32 i32 i32)))
    ;; the name is latin1+utf16 too: "ÿ" as one latin1 byte at 80
    (func $start
      (i32.store8 (i32.const 80) (i32.const 0xff))
      (call $greet (i32.const 80) (i32.const 1) (i32.const 32)))
    (start $start)
    (func (export "got") (result i32) (i32.const 32)))
  (core instance $main (instantiate $m (with "libc" (instance $libc)) (with "" (instance (export "greet" (func $greet))))))
  (func (export "got") (result string)
    (canon lift (core func $main "got") (memory $mem) string-encoding=latin1+utf16))
  (func (export "calls") (result u32) (canon lift (core func $libc "calls"))))
(assert_return (invoke $a2 "got") (str.const "hi ÿ"))
;; store_string_to_latin1_or_utf16 from the host's 5 UTF-8 bytes: an allocation of 5, and
;; as "hi ÿ" fits latin1 in 4 bytes, a shrink to 4
(assert_return (invoke $a2 "calls") (u32.const 2))
(assert_return (invoke $rec "count") (u32.const 2))

;; A host import that traps during instantiation fails the instantiation with its trap.
(assert_trap
  (component
    (import "rec" (instance $rec (export "fail" (func))))
    (core func $fail (canon lower (func $rec "fail")))
    (core module $m
      (import "" "fail" (func $fail))
      (func $start (call $fail))
      (start $start))
    (core instance (instantiate $m (with "" (instance (export "fail" (func $fail)))))))
  "unreachable")
;; ... and $rec, which trapped, cannot be entered again.
(assert_trap (invoke $rec "count") "cannot enter component instance")

;; --- (b) a sibling instantiated earlier --------------------------------------------------

(component $b
  (component $A
    (core module $m
      (memory (export "mem") 1)
      (global $bump (mut i32) (i32.const 4096))
      (global $total (mut i32) (i32.const 0))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32)
        (local.set $p
          (i32.and
            (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
            (i32.sub (i32.const 0) (local.get 2))))
        (global.set $bump (i32.add (local.get $p) (local.get 3)))
        (if (local.get 0) (then (memory.copy (local.get $p) (local.get 0)
          (select (local.get 1) (local.get 3) (i32.lt_u (local.get 1) (local.get 3))))))
        (local.get $p))
      (func (export "bump") (param i32) (result i32)
        (global.set $total (i32.add (global.get $total) (local.get 0)))
        (global.get $total))
      (func (export "total") (result i32) (global.get $total))
      ;; echo: returns its string (utf8) unchanged
      (func (export "echo") (param i32 i32) (result i32)
        (i32.store (i32.const 16) (local.get 0))
        (i32.store (i32.const 20) (local.get 1))
        (i32.const 16)))
    (core instance $i (instantiate $m))
    (alias core export $i "mem" (core memory $mem))
    (core func $realloc (alias core export $i "realloc"))
    (func (export "bump") (param "by" u32) (result u32) (canon lift (core func $i "bump")))
    (func (export "total") (result u32) (canon lift (core func $i "total")))
    (func (export "echo") (param "s" string) (result string)
      (canon lift (core func $i "echo") (memory $mem) (realloc $realloc))))
  (component $B
    (import "bump" (func $bump (param "by" u32) (result u32)))
    (import "echo" (func $echo (param "s" string) (result string)))
    (core module $libc
      (memory (export "mem") 1)
      (global $bump (mut i32) (i32.const 4096))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32)
        (local.set $p
          (i32.and
            (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
            (i32.sub (i32.const 0) (local.get 2))))
        (global.set $bump (i32.add (local.get $p) (local.get 3)))
        (if (local.get 0) (then (memory.copy (local.get $p) (local.get 0)
          (select (local.get 1) (local.get 3) (i32.lt_u (local.get 1) (local.get 3))))))
        (local.get $p))
      ;; "a€😀" in UTF-16
      (data (i32.const 64) "a\00\ac\20\3d\d8\00\de"))
    (core instance $libc (instantiate $libc))
    (alias core export $libc "mem" (core memory $mem))
    (core func $realloc (alias core export $libc "realloc"))
    (core func $bump (canon lower (func $bump)))
    (core func $echo (canon lower (func $echo) (memory $mem) (realloc $realloc) string-encoding=utf16))
    (core module $m
      (import "" "bump" (func $bump (param i32) (result i32)))
      (import "" "echo" (func $echo (param i32 i32 i32)))
      (global $got (mut i32) (i32.const 0))
      (func $start
        (drop (call $bump (i32.const 2)))
        (global.set $got (call $bump (i32.const 5)))
        (call $echo (i32.const 64) (i32.const 4) (i32.const 32)))
      (start $start)
      (func (export "got") (result i32) (global.get $got))
      (func (export "echoed") (result i32) (i32.const 32)))
    (core instance $i (instantiate $m (with "" (instance (export "bump" (func $bump)) (export "echo" (func $echo))))))
    (func (export "got") (result u32) (canon lift (core func $i "got")))
    (func (export "echoed") (result string)
      (canon lift (core func $i "echoed") (memory $mem) string-encoding=utf16)))
  (instance $a (instantiate $A))
  (instance $b (instantiate $B (with "bump" (func $a "bump")) (with "echo" (func $a "echo"))))
  (export "got" (func $b "got"))
  (export "echoed" (func $b "echoed"))
  (export "total" (func $a "total"))
  (export "bump" (func $a "bump")))
(assert_return (invoke "got") (u32.const 7))
(assert_return (invoke "echoed") (str.const "a€😀"))
;; $a took the calls and can still be entered
(assert_return (invoke "total") (u32.const 7))
(assert_return (invoke "bump" (u32.const 1)) (u32.const 8))

;; A sibling that traps during another's instantiation fails the whole instantiation.
(assert_trap
  (component
    (component $A
      (core module $m (func (export "f") unreachable))
      (core instance $i (instantiate $m))
      (func (export "f") (canon lift (core func $i "f"))))
    (component $B
      (import "f" (func $f))
      (core func $f (canon lower (func $f)))
      (core module $m (import "" "f" (func $f)) (func $start (call $f)) (start $start))
      (core instance (instantiate $m (with "" (instance (export "f" (func $f)))))))
    (instance $a (instantiate $A))
    (instance (instantiate $B (with "f" (func $a "f")))))
  "unreachable")

;; --- (c) itself, its parent, its grandparent ----------------------------------------------

;; The instance itself, the start function in a second core instance.
(assert_trap
  (component
    (core module $a (func (export "seven") (result i32) (i32.const 7)))
    (core instance $a (instantiate $a))
    (func $seven (result u32) (canon lift (core func $a "seven")))
    (core func $seven' (canon lower (func $seven)))
    (core module $b
      (import "" "seven" (func $seven (result i32)))
      (global $g (mut i32) (i32.const 0))
      (func $start (global.set $g (call $seven)))
      (start $start))
    (core instance $b (instantiate $b (with "" (instance (export "seven" (func $seven')))))))
  "cannot enter component instance")

;; The parent: a nested component imports a function its parent lifts and calls it from its
;; start function.
(assert_trap
  (component
    (core module $a (func (export "seven") (result i32) (i32.const 7)))
    (core instance $a (instantiate $a))
    (func $seven (result u32) (canon lift (core func $a "seven")))
    (component $Child
      (import "seven" (func $seven (result u32)))
      (core func $seven' (canon lower (func $seven)))
      (core module $b
        (import "" "seven" (func $seven (result i32)))
        (func $start (drop (call $seven)))
        (start $start))
      (core instance (instantiate $b (with "" (instance (export "seven" (func $seven')))))))
    (instance (instantiate $Child (with "seven" (func $seven)))))
  "cannot enter component instance")

;; The grandparent, passed down through the parent.
(assert_trap
  (component
    (core module $a (func (export "seven") (result i32) (i32.const 7)))
    (core instance $a (instantiate $a))
    (func $seven (result u32) (canon lift (core func $a "seven")))
    (component $Parent
      (import "seven" (func $seven (result u32)))
      (component $Child
        (import "seven" (func $seven (result u32)))
        (core func $seven' (canon lower (func $seven)))
        (core module $b
          (import "" "seven" (func $seven (result i32)))
          (func $start (drop (call $seven)))
          (start $start))
        (core instance (instantiate $b (with "" (instance (export "seven" (func $seven')))))))
      (instance (instantiate $Child (with "seven" (func $seven)))))
    (instance (instantiate $Parent (with "seven" (func $seven)))))
  "cannot enter component instance")

;; Without the start function's call, the same parent/child component instantiates: only the
;; call traps.
(component $pc
  (core module $a (func (export "seven") (result i32) (i32.const 7)))
  (core instance $a (instantiate $a))
  (func $seven (result u32) (canon lift (core func $a "seven")))
  (component $Child
    (import "seven" (func $seven (result u32)))
    (core func $seven' (canon lower (func $seven)))
    (core module $b
      (import "" "seven" (func $seven (result i32)))
      (func (export "call") (result i32) (call $seven)))
    (core instance $b (instantiate $b (with "" (instance (export "seven" (func $seven'))))))
    (func (export "call") (result u32) (canon lift (core func $b "call"))))
  (instance $c (instantiate $Child (with "seven" (func $seven))))
  (export "call" (func $c "call"))
  (export "seven" (func $seven)))
(assert_return (invoke "seven") (u32.const 7))
(assert_trap (invoke "call") "cannot enter component instance")

;; --- (d) a sibling through two adapters ---------------------------------------------------

;; $C's start function calls $B's `relay`, which calls $A's `shout`: C (utf16) -> B
;; (latin1+utf16) -> A (utf8) and back, during $C's instantiation.
(component $d
  (component $A
    (core module $m
      (memory (export "mem") 1)
      (global $bump (mut i32) (i32.const 4096))
      (global $calls (mut i32) (i32.const 0))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32)
        (local.set $p
          (i32.and
            (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
            (i32.sub (i32.const 0) (local.get 2))))
        (global.set $bump (i32.add (local.get $p) (local.get 3)))
        (if (local.get 0) (then (memory.copy (local.get $p) (local.get 0)
          (select (local.get 1) (local.get 3) (i32.lt_u (local.get 1) (local.get 3))))))
        (local.get $p))
      ;; shout: the string followed by "!"
      (func (export "shout") (param i32 i32) (result i32)
        (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
        (memory.copy (i32.const 512) (local.get 0) (local.get 1))
        (i32.store8 (i32.add (i32.const 512) (local.get 1)) (i32.const 0x21))
        (i32.store (i32.const 16) (i32.const 512))
        (i32.store (i32.const 20) (i32.add (local.get 1) (i32.const 1)))
        (i32.const 16))
      (func (export "calls") (result i32) (global.get $calls)))
    (core instance $i (instantiate $m))
    (alias core export $i "mem" (core memory $mem))
    (core func $realloc (alias core export $i "realloc"))
    (func (export "shout") (param "s" string) (result string)
      (canon lift (core func $i "shout") (memory $mem) (realloc $realloc)))
    (func (export "calls") (result u32) (canon lift (core func $i "calls"))))
  (component $B
    (import "shout" (func $shout (param "s" string) (result string)))
    (core module $libc
      (memory (export "mem") 1)
      (global $bump (mut i32) (i32.const 4096))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32)
        (local.set $p
          (i32.and
            (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
            (i32.sub (i32.const 0) (local.get 2))))
        (global.set $bump (i32.add (local.get $p) (local.get 3)))
        (if (local.get 0) (then (memory.copy (local.get $p) (local.get 0)
          (select (local.get 1) (local.get 3) (i32.lt_u (local.get 1) (local.get 3))))))
        (local.get $p)))
    (core instance $libc (instantiate $libc))
    (alias core export $libc "mem" (core memory $mem))
    (core func $realloc (alias core export $libc "realloc"))
    (core func $shout (canon lower (func $shout) (memory $mem) (realloc $realloc) string-encoding=latin1+utf16))
    (core module $m
      (import "" "shout" (func $shout (param i32 i32 i32)))
      ;; relay: passes its string on and returns the answer
      (func (export "relay") (param i32 i32) (result i32)
        (call $shout (local.get 0) (local.get 1) (i32.const 32))
        (i32.const 32)))
    (core instance $i (instantiate $m (with "" (instance (export "shout" (func $shout))))))
    (func (export "relay") (param "s" string) (result string)
      (canon lift (core func $i "relay") (memory $mem) (realloc $realloc) string-encoding=latin1+utf16)))
  (component $C
    (import "relay" (func $relay (param "s" string) (result string)))
    (core module $libc
      (memory (export "mem") 1)
      (global $bump (mut i32) (i32.const 4096))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32)
        (local.set $p
          (i32.and
            (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
            (i32.sub (i32.const 0) (local.get 2))))
        (global.set $bump (i32.add (local.get $p) (local.get 3)))
        (if (local.get 0) (then (memory.copy (local.get $p) (local.get 0)
          (select (local.get 1) (local.get 3) (i32.lt_u (local.get 1) (local.get 3))))))
        (local.get $p))
      ;; "héllo €" in UTF-16
      (data (i32.const 64) "h\00\e9\00l\00l\00o\00 \00\ac\20"))
    (core instance $libc (instantiate $libc))
    (alias core export $libc "mem" (core memory $mem))
    (core func $realloc (alias core export $libc "realloc"))
    (core func $relay (canon lower (func $relay) (memory $mem) (realloc $realloc) string-encoding=utf16))
    (core module $m
      (import "" "relay" (func $relay (param i32 i32 i32)))
      (func $start (call $relay (i32.const 64) (i32.const 7) (i32.const 32)))
      (start $start)
      (func (export "got") (result i32) (i32.const 32)))
    (core instance $i (instantiate $m (with "" (instance (export "relay" (func $relay))))))
    (func (export "got") (result string)
      (canon lift (core func $i "got") (memory $mem) string-encoding=utf16)))
  (instance $a (instantiate $A))
  (instance $b (instantiate $B (with "shout" (func $a "shout"))))
  (instance $c (instantiate $C (with "relay" (func $b "relay"))))
  (export "got" (func $c "got"))
  (export "calls" (func $a "calls"))
  (export "relay" (func $b "relay")))
(assert_return (invoke "got") (str.const "héllo €!"))
(assert_return (invoke "calls") (u32.const 1))
;; the chain still works after instantiation, from the host
(assert_return (invoke "relay" (str.const "ÿ")) (str.const "ÿ!"))
(assert_return (invoke "calls") (u32.const 2))

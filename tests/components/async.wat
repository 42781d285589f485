;; Component-model async exports for tests/tests/component_async.rs: a callback-lifted export
;; that returns at once, a stackful one that waits for a subtask of a nested component, one
;; that returns and then keeps waiting forever, one that deadlocks, a synchronous one that
;; tries to block, one that traps inside its task, and a 1 MiB stream<u8> moved through the
;; instance.
(component
  (component $Inner
    (core module $m
      (import "" "task.return" (func $tr (param i32)))
      (import "" "thread.yield" (func $yield (result i32)))
      ;; yields once (so the caller sees the subtask as started), then returns 2 * x
      (func (export "double") (param $x i32) (result i32)
        (drop (call $yield))
        (call $tr (i32.mul (local.get $x) (i32.const 2)))
        (i32.const 0))
      (func (export "double-cb") (param i32 i32 i32) (result i32) unreachable))
    (core func $tr (canon task.return (result u32)))
    (core func $yield (canon thread.yield))
    (core instance $i (instantiate $m (with "" (instance
      (export "task.return" (func $tr)) (export "thread.yield" (func $yield))))))
    (func (export "double") async (param "x" u32) (result u32)
      (canon lift (core func $i "double") async (callback (core func $i "double-cb")))))
  (instance $inner (instantiate $Inner))

  (component $Outer
  (import "double" (func $double-import async (param "x" u32) (result u32)))
  (core module $Mem (memory (export "mem") 17))
  (core instance $mem (instantiate $Mem))
  (core module $m
    (import "" "mem" (memory 17))
    (import "" "task.return" (func $tr (param i32)))
    (import "" "waitable-set.new" (func $ws.new (result i32)))
    (import "" "waitable-set.wait" (func $ws.wait (param i32 i32) (result i32)))
    (import "" "waitable.join" (func $join (param i32 i32)))
    (import "" "subtask.drop" (func $subtask.drop (param i32)))
    (import "" "double" (func $double (param i32 i32) (result i32)))
    (import "" "stream.new" (func $new (result i64)))
    (import "" "stream.read" (func $read (param i32 i32 i32) (result i32)))
    (import "" "stream.write" (func $write (param i32 i32 i32) (result i32)))
    (import "" "stream.cancel-write" (func $cancel-write (param i32) (result i32)))
    (import "" "stream.drop-readable" (func $drop-r (param i32)))
    (import "" "stream.drop-writable" (func $drop-w (param i32)))

    (func (export "answer") (result i32)
      (call $tr (i32.const 42))
      (i32.const 0 (; EXIT ;)))
    (func (export "answer-cb") (param i32 i32 i32) (result i32) unreachable)

    ;; stackful: calls Inner.double asynchronously, waits for the subtask, returns its result
    (func (export "quadruple") (param $x i32)
      (local $ret i32) (local $ws i32) (local $sub i32)
      (local.set $ret (call $double (local.get $x) (i32.const 16)))
      (if (i32.eq (i32.and (local.get $ret) (i32.const 0xf)) (i32.const 1 (; STARTED ;)))
        (then
          (local.set $sub (i32.shr_u (local.get $ret) (i32.const 4)))
          (local.set $ws (call $ws.new))
          (call $join (local.get $sub) (local.get $ws))
          (if (i32.ne (call $ws.wait (local.get $ws) (i32.const 0)) (i32.const 1 (; SUBTASK ;)))
            (then unreachable))
          (if (i32.ne (i32.load (i32.const 4)) (i32.const 2 (; RETURNED ;)))
            (then unreachable))
          (call $subtask.drop (local.get $sub))))
      (call $tr (i32.mul (i32.load (i32.const 16)) (i32.const 2))))

    ;; returns 7, then waits on an empty set forever
    (func (export "linger") (result i32)
      (call $tr (i32.const 7))
      (i32.or (i32.const 2 (; WAIT ;)) (i32.shl (call $ws.new) (i32.const 4))))
    (func (export "linger-cb") (param i32 i32 i32) (result i32) unreachable)

    ;; stackful: returns 7, then waits on an empty set forever inside guest code
    (func (export "linger-stackful")
      (call $tr (i32.const 7))
      (drop (call $ws.wait (call $ws.new) (i32.const 0))))

    ;; waits on an empty set before returning
    (func (export "deadlock") (result i32)
      (i32.or (i32.const 2 (; WAIT ;)) (i32.shl (call $ws.new) (i32.const 4))))

    ;; a synchronous function that tries to wait
    (func (export "sync-wait") (result i32)
      (call $ws.wait (call $ws.new) (i32.const 0)))

    ;; traps inside its task
    (func (export "boom") (result i32) unreachable)

    ;; one 1 MiB write, 64 KiB reads, returns the byte count
    (func (export "stream") (result i32)
      (local $s i64) (local $r i32) (local $w i32) (local $got i32) (local $ret i32)
      (local.set $s (call $new))
      (local.set $r (i32.wrap_i64 (local.get $s)))
      (local.set $w (i32.wrap_i64 (i64.shr_u (local.get $s) (i64.const 32))))
      (i32.store8 (i32.const 65536) (i32.const 0xab))
      (i32.store8 (i32.const 1114111) (i32.const 0xcd))
      (if (i32.ne (call $write (local.get $w) (i32.const 65536) (i32.const 1048576)) (i32.const -1))
        (then unreachable))
      (loop $l
        (local.set $ret (call $read (local.get $r) (i32.const 0) (i32.const 65536)))
        (if (i32.ne (i32.and (local.get $ret) (i32.const 0xf)) (i32.const 0)) (then unreachable))
        (local.set $got (i32.add (local.get $got) (i32.shr_u (local.get $ret) (i32.const 4))))
        (br_if $l (i32.lt_u (local.get $got) (i32.const 1048576))))
      ;; the last 64 KiB read ends with the writer's last byte
      (if (i32.ne (i32.load8_u (i32.const 65535)) (i32.const 0xcd)) (then unreachable))
      (drop (call $cancel-write (local.get $w)))
      (call $drop-w (local.get $w))
      (call $drop-r (local.get $r))
      (call $tr (local.get $got))
      (i32.const 0))
  )
  (type $ST (stream u8))
  (core func $tr (canon task.return (result u32)))
  (core func $ws.new (canon waitable-set.new))
  (core func $ws.wait (canon waitable-set.wait (memory (core memory $mem "mem"))))
  (core func $join (canon waitable.join))
  (core func $subtask.drop (canon subtask.drop))
  (core func $double (canon lower (func $double-import) async (memory (core memory $mem "mem"))))
  (core func $new (canon stream.new $ST))
  (core func $read (canon stream.read $ST async (memory (core memory $mem "mem"))))
  (core func $write (canon stream.write $ST async (memory (core memory $mem "mem"))))
  (core func $cancel-write (canon stream.cancel-write $ST))
  (core func $drop-r (canon stream.drop-readable $ST))
  (core func $drop-w (canon stream.drop-writable $ST))
  (core instance $i (instantiate $m (with "" (instance
    (export "mem" (memory $mem "mem"))
    (export "task.return" (func $tr))
    (export "waitable-set.new" (func $ws.new))
    (export "waitable-set.wait" (func $ws.wait))
    (export "waitable.join" (func $join))
    (export "subtask.drop" (func $subtask.drop))
    (export "double" (func $double))
    (export "stream.new" (func $new))
    (export "stream.read" (func $read))
    (export "stream.write" (func $write))
    (export "stream.cancel-write" (func $cancel-write))
    (export "stream.drop-readable" (func $drop-r))
    (export "stream.drop-writable" (func $drop-w))))))
  (func (export "answer") async (result u32)
    (canon lift (core func $i "answer") async (callback (core func $i "answer-cb"))))
  (func (export "quadruple") async (param "x" u32) (result u32)
    (canon lift (core func $i "quadruple") async))
  (func (export "linger") async (result u32)
    (canon lift (core func $i "linger") async (callback (core func $i "linger-cb"))))
  (func (export "linger-stackful") async (result u32)
    (canon lift (core func $i "linger-stackful") async))
  (func (export "deadlock") async (result u32)
    (canon lift (core func $i "deadlock") async (callback (core func $i "linger-cb"))))
  (func (export "sync-wait") (result u32) (canon lift (core func $i "sync-wait")))
  (func (export "boom") async (result u32)
    (canon lift (core func $i "boom") async (callback (core func $i "linger-cb"))))
  (func (export "stream") async (result u32)
    (canon lift (core func $i "stream") async (callback (core func $i "linger-cb"))))
)
  (instance $outer (instantiate $Outer (with "double" (func $inner "double"))))
  (func (export "answer") (alias export $outer "answer"))
  (func (export "quadruple") (alias export $outer "quadruple"))
  (func (export "linger") (alias export $outer "linger"))
  (func (export "linger-stackful") (alias export $outer "linger-stackful"))
  (func (export "deadlock") (alias export $outer "deadlock"))
  (func (export "sync-wait") (alias export $outer "sync-wait"))
  (func (export "boom") (alias export $outer "boom"))
  (func (export "stream") (alias export $outer "stream"))
)

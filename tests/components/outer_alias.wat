;; Outer aliases: nested components reach a core module, a component and a type of their
;; enclosing components; instances nest inside instances and are aliased back out.
(component $root
  (core module $shared
    (global $g (mut i32) (i32.const 100))
    (func (export "bump") (result i32)
      global.get $g
      i32.const 1
      i32.add
      global.set $g
      global.get $g))
  (type $ret u32)
  (component $leaf
    (alias outer $root $shared (core module $m))
    (alias outer $root $ret (type $r))
    (core instance $i (instantiate $m))
    (func (export "bump") (result $r) (canon lift (core func $i "bump"))))
  (component $middle
    (alias outer $root $leaf (component $l))
    (instance $a (instantiate $l))
    (instance $b (instantiate $l))
    (instance $both (export "a" (instance $a)) (export "b" (instance $b)))
    (export "both" (instance $both)))
  (instance $m (instantiate $middle))
  (alias export $m "both" (instance $both))
  (alias export $both "b" (instance $b))
  (export "a-bump" (func $both "a" "bump"))
  (export "b-bump" (func $b "bump")))

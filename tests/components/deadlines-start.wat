;; A component whose core module's start function never returns: a deadline set on the
;; linker interrupts its instantiation (tests/tests/component_deadlines.rs).
(component
  (core module $m
    (func $spin (loop $l (br $l)))
    (start $spin))
  (core instance $i (instantiate $m)))

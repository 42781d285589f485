;; Resource types are generative: every instance of a component that defines a resource type
;; has its own. A component that declares two imported resource types equal (`(eq ...)`)
;; links only when they are the same type. Named instances (and registered ones) provide the
;; identity of the resource types they export to components instantiated later.

(component definition $C1
  (type $r1 (resource (rep i32)))
  (export "r" (type $r1))
)
(component definition $C2
  (type $r1 (resource (rep i32)))
  (export "r" (type $r1))
)

(component instance $I1 $C1)
(component instance $I2 $C1)
(component instance $I3 $C2)
(register "I1-again" $I1)

;; the same instance's type under two names: equal
(component
  (import "I1" (instance $i1 (export "r" (type (sub resource)))))
  (alias export $i1 "r" (type $r))
  (import "I1-again" (instance $i2 (export "r" (type (eq $r)))))
)

;; two instances of one component: different types
(assert_unlinkable
  (component
    (import "I1" (instance $i1 (export "r" (type (sub resource)))))
    (alias export $i1 "r" (type $r))
    (import "I2" (instance $i2 (export "r" (type (eq $r)))))
  )
  "mismatched resource types")

;; instances of two components: different types
(assert_unlinkable
  (component
    (import "I2" (instance $i1 (export "r" (type (sub resource)))))
    (alias export $i1 "r" (type $r))
    (import "I3" (instance $i2 (export "r" (type (eq $r)))))
  )
  "mismatched resource types")

;; without an equality constraint, different types link
(component
  (import "I1" (instance $i1 (export "r" (type (sub resource)))))
  (import "I3" (instance $i2 (export "r" (type (sub resource)))))
)

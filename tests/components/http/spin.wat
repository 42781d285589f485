;; A `wasi:http/incoming-handler` whose `handle` never returns and never responds: it spins
;; in a loop. `kiln serve --request-timeout` must interrupt it (a 500) and keep serving.
(component
  (import "wasi:http/types@0.2.0" (instance $types
    (export "incoming-request" (type (sub resource)))
    (export "response-outparam" (type (sub resource)))
  ))
  (alias export $types "incoming-request" (type $request))
  (alias export $types "response-outparam" (type $outparam))
  (core module $m
    (func (export "handle") (param i32 i32)
      (loop $spin (br $spin)))
  )
  (core instance $i (instantiate $m))
  (func $handle (param "request" (own $request)) (param "response-out" (own $outparam))
    (canon lift (core func $i "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $handler))
)

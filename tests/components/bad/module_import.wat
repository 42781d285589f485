;; error: unsupported: core module import `m`
(component
  (import "m" (core module)))

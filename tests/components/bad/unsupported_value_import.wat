;; error: `value`s is not enabled
(component
  (import "v" (value u32)))

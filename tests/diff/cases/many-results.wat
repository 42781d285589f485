;; Functions with more results than return registers (kiln once failed to compile them:
;; Cranelift needs enable_multi_ret_implicit_sret), called directly, indirectly, by tail call
;; and from the host.
(module
  (type $t (func (param i64) (result i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)))
  (table 2 funcref)
  (elem (i32.const 0) $many $many)
  (func $many (export "many") (param i64) (result i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64) local.get 0 i64.const 0 i64.add local.get 0 i64.const 1 i64.add local.get 0 i64.const 2 i64.add local.get 0 i64.const 3 i64.add local.get 0 i64.const 4 i64.add local.get 0 i64.const 5 i64.add local.get 0 i64.const 6 i64.add local.get 0 i64.const 7 i64.add local.get 0 i64.const 8 i64.add local.get 0 i64.const 9 i64.add local.get 0 i64.const 10 i64.add local.get 0 i64.const 11 i64.add local.get 0 i64.const 12 i64.add local.get 0 i64.const 13 i64.add local.get 0 i64.const 14 i64.add local.get 0 i64.const 15 i64.add local.get 0 i64.const 16 i64.add local.get 0 i64.const 17 i64.add local.get 0 i64.const 18 i64.add local.get 0 i64.const 19 i64.add)
  (func $fl (export "fl") (result f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 i32 v128) f64.const 0.5 f64.const 1.5 f64.const 2.5 f64.const 3.5 f64.const 4.5 f64.const 5.5 f64.const 6.5 f64.const 7.5 f64.const 8.5 f64.const 9.5 f64.const 10.5 f64.const 11.5 f64.const 12.5 f64.const 13.5 f64.const 14.5 f64.const 15.5 f64.const 16.5 f64.const 17.5 f64.const 18.5 f64.const 19.5 i32.const 9 v128.const i64x2 1 2)
  (func (export "direct") (param i64) (result i64) local.get 0 call $many i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor)
  (func (export "indirect") (param i64) (result i64) local.get 0 i32.const 1 call_indirect (type $t) i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor)
  (func $tail (export "tail") (param i64) (result i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64) local.get 0 i64.const 1 i64.add return_call $many)
  (func (export "via-tail") (param i64) (result i64) local.get 0 call $tail i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor i64.xor)
  (func (export "tail-indirect") (param i64) (result i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64) local.get 0 i32.const 0 return_call_indirect (type $t))
)
//! Evaluation of constant expressions (global initializers, segment offsets, element items),
//! including the extended-const arithmetic, at instantiation time.

use crate::error::Error;
use kiln_environ::{ConstExpr, ConstOp};

/// What a constant expression may read.
pub(crate) trait ConstEnv {
    /// The raw value of global `index` (imports first).
    fn global(&self, index: u32) -> Option<u128>;
    /// The raw `funcref` of function `index`.
    fn func_ref(&self, index: u32) -> Option<u64>;
}

/// Evaluates `expr` to its raw value (the encoding of `ValRaw`).
pub(crate) fn eval(expr: &ConstExpr, env: &dyn ConstEnv) -> Result<u128, Error> {
    let bad = |what: &str| Error::Other(format!("invalid constant expression: {what}"));
    // One operation (nearly every initializer): no stack to allocate.
    if let [op] = expr.ops.as_slice() {
        if let Some(v) = leaf(op, env) {
            return v;
        }
    }
    let mut stack: Vec<u128> = Vec::with_capacity(4);
    for op in &expr.ops {
        if let Some(v) = leaf(op, env) {
            stack.push(v?);
            continue;
        }
        let v = match *op {
            ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                let b = stack.pop().ok_or_else(|| bad("stack underflow"))? as u32;
                let a = stack.pop().ok_or_else(|| bad("stack underflow"))? as u32;
                u128::from(match op {
                    ConstOp::I32Add => a.wrapping_add(b),
                    ConstOp::I32Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
            ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                let b = stack.pop().ok_or_else(|| bad("stack underflow"))? as u64;
                let a = stack.pop().ok_or_else(|| bad("stack underflow"))? as u64;
                u128::from(match op {
                    ConstOp::I64Add => a.wrapping_add(b),
                    ConstOp::I64Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
            // Every other operation is a leaf (handled above).
            _ => return Err(bad("unexpected operation")),
        };
        stack.push(v);
    }
    match (stack.pop(), stack.is_empty()) {
        (Some(v), true) => Ok(v),
        _ => Err(bad("must leave exactly one value")),
    }
}

/// The value of an operation that takes no operands (`None` for arithmetic).
fn leaf(op: &ConstOp, env: &dyn ConstEnv) -> Option<Result<u128, Error>> {
    let bad = |what: &str| Error::Other(format!("invalid constant expression: {what}"));
    Some(match *op {
        ConstOp::I32Const(v) => Ok(u128::from(v as u32)),
        ConstOp::I64Const(v) => Ok(u128::from(v as u64)),
        ConstOp::F32Const(v) => Ok(u128::from(v)),
        ConstOp::F64Const(v) => Ok(u128::from(v)),
        ConstOp::V128Const(v) => Ok(v),
        ConstOp::RefNull => Ok(0),
        ConstOp::RefFunc(i) => env
            .func_ref(i)
            .map(u128::from)
            .ok_or_else(|| bad("function index")),
        ConstOp::GlobalGet(i) => env.global(i).ok_or_else(|| bad("global index")),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Env;
    impl ConstEnv for Env {
        fn global(&self, index: u32) -> Option<u128> {
            (index < 2).then_some(u128::from(index) * 100 + 7)
        }
        fn func_ref(&self, index: u32) -> Option<u64> {
            (index == 3).then_some(0x1000)
        }
    }

    fn ev(ops: Vec<ConstOp>) -> Result<u128, Error> {
        eval(&ConstExpr { ops }, &Env)
    }

    #[test]
    fn constants_and_extended_arithmetic() {
        assert_eq!(ev(vec![ConstOp::I32Const(-1)]).unwrap(), 0xffff_ffff);
        assert_eq!(
            ev(vec![ConstOp::I64Const(-2)]).unwrap(),
            u128::from(u64::MAX - 1)
        );
        assert_eq!(ev(vec![ConstOp::V128Const(u128::MAX)]).unwrap(), u128::MAX);
        assert_eq!(
            ev(vec![
                ConstOp::I32Const(i32::MAX),
                ConstOp::I32Const(1),
                ConstOp::I32Add
            ])
            .unwrap(),
            0x8000_0000
        );
        assert_eq!(
            ev(vec![
                ConstOp::I32Const(2),
                ConstOp::I32Const(5),
                ConstOp::I32Sub
            ])
            .unwrap(),
            u128::from((-3i32) as u32)
        );
        assert_eq!(
            ev(vec![
                ConstOp::GlobalGet(1),
                ConstOp::I64Const(3),
                ConstOp::I64Mul
            ])
            .unwrap(),
            321
        );
        assert_eq!(ev(vec![ConstOp::RefFunc(3)]).unwrap(), 0x1000);
        assert_eq!(ev(vec![ConstOp::RefNull]).unwrap(), 0);
    }

    #[test]
    fn malformed_expressions_are_errors() {
        assert!(ev(vec![]).is_err());
        assert!(ev(vec![ConstOp::I32Add]).is_err());
        assert!(ev(vec![ConstOp::I32Const(1), ConstOp::I32Const(2)]).is_err());
        assert!(ev(vec![ConstOp::GlobalGet(9)]).is_err());
        assert!(ev(vec![ConstOp::RefFunc(0)]).is_err());
    }
}

//! SIMD operator translation (fixed-width 128-bit SIMD of WebAssembly 2.0), part of the
//! translate stage (`translate/`): the operator dispatch in `translate/mod.rs` hands every
//! SIMD operator met in reachable code to [`translate_simd_operator`], which pops its operands
//! from the wasm operand stack, emits Cranelift IR and pushes the results.
//!
//! Every `v128` on the operand stack is a Cranelift `I8X16` value; operators reinterpret it
//! (`bitcast` with little-endian lane order) as the lane type they work on and cast results back
//! to `I8X16` before pushing them. Linear-memory accesses go through
//! `FuncEnvironment::memory_address` (see `memory.rs` in this module), so bounds checks and trap
//! codes are the same as for scalar accesses.

mod memory;
#[cfg(test)]
mod tests;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32X4, F64X2, I16, I16X8, I32, I32X4, I64, I64X2, I8, I8X16};
use cranelift_codegen::ir::{ConstantData, Endianness, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;
use wasmparser::Operator;

use super::func_env::FuncEnvironment;
use crate::error::CompileError;

type Result<T, E = CompileError> = std::result::Result<T, E>;

/// Flags of every vector-to-vector `bitcast`: wasm numbers lanes in little-endian order.
const LANE_ORDER: MemFlagsData = MemFlagsData::new().with_endianness(Endianness::Little);

/// Reinterprets the 128 bits of `v` as a vector of type `ty` (no instruction if it already is).
fn cast(b: &mut FunctionBuilder<'_>, v: Value, ty: Type) -> Value {
    if b.func.dfg.value_type(v) == ty {
        v
    } else {
        b.ins().bitcast(ty, LANE_ORDER, v)
    }
}

/// Pops one operand of any type.
fn pop(s: &mut Vec<Value>) -> Result<Value> {
    s.pop()
        .ok_or_else(|| CompileError::msg("SIMD operator: operand stack underflow"))
}

/// Pops a `v128` operand and views it as a vector of type `ty`.
fn pop_vec(b: &mut FunctionBuilder<'_>, s: &mut Vec<Value>, ty: Type) -> Result<Value> {
    let v = pop(s)?;
    Ok(cast(b, v, ty))
}

/// Pushes a vector result as the canonical `v128` representation, `I8X16`.
fn push_vec(b: &mut FunctionBuilder<'_>, s: &mut Vec<Value>, v: Value) {
    let v = cast(b, v, I8X16);
    s.push(v);
}

/// `v128 -> v128` operator computed on lanes of type `ty`.
fn unary<'f>(
    b: &mut FunctionBuilder<'f>,
    s: &mut Vec<Value>,
    ty: Type,
    f: impl FnOnce(&mut FunctionBuilder<'f>, Value) -> Value,
) -> Result<()> {
    let a = pop_vec(b, s, ty)?;
    let r = f(b, a);
    push_vec(b, s, r);
    Ok(())
}

/// `v128 v128 -> v128` operator computed on lanes of type `ty`.
fn binary<'f>(
    b: &mut FunctionBuilder<'f>,
    s: &mut Vec<Value>,
    ty: Type,
    f: impl FnOnce(&mut FunctionBuilder<'f>, Value, Value) -> Value,
) -> Result<()> {
    let y = pop_vec(b, s, ty)?;
    let x = pop_vec(b, s, ty)?;
    let r = f(b, x, y);
    push_vec(b, s, r);
    Ok(())
}

/// Lane-wise integer comparison; true lanes are all ones.
fn icmp(b: &mut FunctionBuilder<'_>, s: &mut Vec<Value>, ty: Type, cc: IntCC) -> Result<()> {
    binary(b, s, ty, |b, x, y| b.ins().icmp(cc, x, y))
}

/// Lane-wise float comparison; true lanes are all ones.
fn fcmp(b: &mut FunctionBuilder<'_>, s: &mut Vec<Value>, ty: Type, cc: FloatCC) -> Result<()> {
    binary(b, s, ty, |b, x, y| b.ins().fcmp(cc, x, y))
}

/// Shift of every lane of a `ty` vector by an `i32` amount taken modulo the lane width
/// (Cranelift's vector shifts mask the amount exactly like wasm).
fn shift(
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    ty: Type,
    f: impl FnOnce(&mut FunctionBuilder<'_>, Value, Value) -> Value,
) -> Result<()> {
    let amount = pop(s)?;
    let v = pop_vec(b, s, ty)?;
    let r = f(b, v, amount);
    push_vec(b, s, r);
    Ok(())
}

/// Reduces a vector to an `i32` boolean (`any_true`, `all_true`).
fn reduce(
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    ty: Type,
    f: impl FnOnce(&mut FunctionBuilder<'_>, Value) -> Value,
) -> Result<()> {
    let v = pop_vec(b, s, ty)?;
    let r = f(b, v);
    let r = b.ins().uextend(I32, r);
    s.push(r);
    Ok(())
}

/// `bitmask`: the top bit of every lane of a `ty` vector, as an `i32`.
fn bitmask(b: &mut FunctionBuilder<'_>, s: &mut Vec<Value>, ty: Type) -> Result<()> {
    let v = pop_vec(b, s, ty)?;
    let r = b.ins().vhigh_bits(I32, v);
    s.push(r);
    Ok(())
}

/// `splat`: a vector of type `ty` whose lanes are all the scalar operand (an `i32` is truncated
/// to the lane width first for 8- and 16-bit lanes).
fn splat(b: &mut FunctionBuilder<'_>, s: &mut Vec<Value>, ty: Type) -> Result<()> {
    let mut x = pop(s)?;
    let lane = ty.lane_type();
    if b.func.dfg.value_type(x) != lane {
        x = b.ins().ireduce(lane, x);
    }
    let v = b.ins().splat(ty, x);
    push_vec(b, s, v);
    Ok(())
}

/// How an extracted lane becomes a wasm scalar.
#[derive(Clone, Copy)]
enum LaneExt {
    /// The lane already is a wasm scalar type.
    None,
    /// Sign-extend a narrow integer lane to `i32`.
    Signed,
    /// Zero-extend a narrow integer lane to `i32`.
    Unsigned,
}

/// `extract_lane`: lane `lane` of a `ty` vector, extended to `i32` for narrow lanes.
fn extract_lane(
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    ty: Type,
    lane: u8,
    ext: LaneExt,
) -> Result<()> {
    let v = pop_vec(b, s, ty)?;
    let x = b.ins().extractlane(v, lane);
    let x = match ext {
        LaneExt::None => x,
        LaneExt::Signed => b.ins().sextend(I32, x),
        LaneExt::Unsigned => b.ins().uextend(I32, x),
    };
    s.push(x);
    Ok(())
}

/// `replace_lane`: a `ty` vector with lane `lane` replaced by the scalar operand (an `i32`
/// truncated to the lane width for 8- and 16-bit lanes).
fn replace_lane(b: &mut FunctionBuilder<'_>, s: &mut Vec<Value>, ty: Type, lane: u8) -> Result<()> {
    let mut x = pop(s)?;
    let v = pop_vec(b, s, ty)?;
    let lane_ty = ty.lane_type();
    if b.func.dfg.value_type(x) != lane_ty {
        x = b.ins().ireduce(lane_ty, x);
    }
    let r = b.ins().insertlane(v, x, lane);
    push_vec(b, s, r);
    Ok(())
}

/// An all-zeros vector of type `ty`.
fn zeros(b: &mut FunctionBuilder<'_>, ty: Type) -> Value {
    let c = b
        .func
        .dfg
        .constants
        .insert(ConstantData::from(vec![0u8; 16]));
    b.ins().vconst(ty, c)
}

/// Which half of the input lanes a widening operator reads.
#[derive(Clone, Copy)]
enum Half {
    /// Lanes `0 .. n/2`.
    Low,
    /// Lanes `n/2 .. n`.
    High,
}

/// Widens half of the lanes of `v` to twice their width, sign- or zero-extending.
fn widen(b: &mut FunctionBuilder<'_>, v: Value, half: Half, signed: bool) -> Value {
    match (half, signed) {
        (Half::Low, true) => b.ins().swiden_low(v),
        (Half::High, true) => b.ins().swiden_high(v),
        (Half::Low, false) => b.ins().uwiden_low(v),
        (Half::High, false) => b.ins().uwiden_high(v),
    }
}

/// `extend_{low,high}`: half of the lanes of a `from` vector, widened.
fn extend(
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    from: Type,
    half: Half,
    signed: bool,
) -> Result<()> {
    unary(b, s, from, |b, v| widen(b, v, half, signed))
}

/// `extmul_{low,high}`: the products of half of the lanes of two `from` vectors, computed at
/// twice the lane width (the pattern Cranelift's backends match to a widening multiply).
fn extmul(
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    from: Type,
    half: Half,
    signed: bool,
) -> Result<()> {
    binary(b, s, from, |b, x, y| {
        let x = widen(b, x, half, signed);
        let y = widen(b, y, half, signed);
        b.ins().imul(x, y)
    })
}

/// `extadd_pairwise`: sums of adjacent lane pairs of a `from` vector, at twice the lane width.
fn extadd_pairwise(
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    from: Type,
    signed: bool,
) -> Result<()> {
    unary(b, s, from, |b, v| {
        let lo = widen(b, v, Half::Low, signed);
        let hi = widen(b, v, Half::High, signed);
        b.ins().iadd_pairwise(lo, hi)
    })
}

/// `pmin` (`b < a ? b : a`) and `pmax` (`a < b ? b : a`) on a float vector type `ty`, in the
/// `bitselect(fcmp lt)` form the backends turn into `minp*`/`maxp*`.
fn pseudo_min_max(
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    ty: Type,
    max: bool,
) -> Result<()> {
    binary(b, s, ty, |b, x, y| {
        let lt = if max {
            b.ins().fcmp(FloatCC::LessThan, x, y)
        } else {
            b.ins().fcmp(FloatCC::LessThan, y, x)
        };
        let mask = cast(b, lt, ty);
        b.ins().bitselect(mask, y, x)
    })
}

/// Translates one SIMD operator. `stack` is the wasm operand stack (top last); the function
/// body has been validated, so operand types are right. Non-SIMD and relaxed-SIMD operators are
/// errors.
pub(crate) fn translate_simd_operator(
    op: &Operator<'_>,
    builder: &mut FunctionBuilder<'_>,
    stack: &mut Vec<Value>,
    env: &mut FuncEnvironment<'_>,
) -> Result<()> {
    use FloatCC as F;
    use Half::{High, Low};
    use IntCC as C;
    use LaneExt::{Signed as S, Unsigned as U};
    use Operator as O;
    let (b, s) = (builder, stack);

    if memory::translate_memory_operator(op, b, s, env)? {
        return Ok(());
    }

    match *op {
        O::V128Const { ref value } => {
            let data = ConstantData::from(&value.bytes()[..]);
            let c = b.func.dfg.constants.insert(data);
            let v = b.ins().vconst(I8X16, c);
            s.push(v);
        }
        O::I8x16Shuffle { ref lanes } => {
            let y = pop_vec(b, s, I8X16)?;
            let x = pop_vec(b, s, I8X16)?;
            let mask = b.func.dfg.immediates.push(ConstantData::from(&lanes[..]));
            let r = b.ins().shuffle(x, y, mask);
            s.push(r);
        }
        O::I8x16Swizzle => binary(b, s, I8X16, |b, x, y| b.ins().swizzle(x, y))?,

        // Splats and lane access.
        O::I8x16Splat => splat(b, s, I8X16)?,
        O::I16x8Splat => splat(b, s, I16X8)?,
        O::I32x4Splat => splat(b, s, I32X4)?,
        O::I64x2Splat => splat(b, s, I64X2)?,
        O::F32x4Splat => splat(b, s, F32X4)?,
        O::F64x2Splat => splat(b, s, F64X2)?,
        O::I8x16ExtractLaneS { lane } => extract_lane(b, s, I8X16, lane, S)?,
        O::I8x16ExtractLaneU { lane } => extract_lane(b, s, I8X16, lane, U)?,
        O::I16x8ExtractLaneS { lane } => extract_lane(b, s, I16X8, lane, S)?,
        O::I16x8ExtractLaneU { lane } => extract_lane(b, s, I16X8, lane, U)?,
        O::I32x4ExtractLane { lane } => extract_lane(b, s, I32X4, lane, LaneExt::None)?,
        O::I64x2ExtractLane { lane } => extract_lane(b, s, I64X2, lane, LaneExt::None)?,
        O::F32x4ExtractLane { lane } => extract_lane(b, s, F32X4, lane, LaneExt::None)?,
        O::F64x2ExtractLane { lane } => extract_lane(b, s, F64X2, lane, LaneExt::None)?,
        O::I8x16ReplaceLane { lane } => replace_lane(b, s, I8X16, lane)?,
        O::I16x8ReplaceLane { lane } => replace_lane(b, s, I16X8, lane)?,
        O::I32x4ReplaceLane { lane } => replace_lane(b, s, I32X4, lane)?,
        O::I64x2ReplaceLane { lane } => replace_lane(b, s, I64X2, lane)?,
        O::F32x4ReplaceLane { lane } => replace_lane(b, s, F32X4, lane)?,
        O::F64x2ReplaceLane { lane } => replace_lane(b, s, F64X2, lane)?,

        // Integer comparisons.
        O::I8x16Eq => icmp(b, s, I8X16, C::Equal)?,
        O::I8x16Ne => icmp(b, s, I8X16, C::NotEqual)?,
        O::I8x16LtS => icmp(b, s, I8X16, C::SignedLessThan)?,
        O::I8x16LtU => icmp(b, s, I8X16, C::UnsignedLessThan)?,
        O::I8x16GtS => icmp(b, s, I8X16, C::SignedGreaterThan)?,
        O::I8x16GtU => icmp(b, s, I8X16, C::UnsignedGreaterThan)?,
        O::I8x16LeS => icmp(b, s, I8X16, C::SignedLessThanOrEqual)?,
        O::I8x16LeU => icmp(b, s, I8X16, C::UnsignedLessThanOrEqual)?,
        O::I8x16GeS => icmp(b, s, I8X16, C::SignedGreaterThanOrEqual)?,
        O::I8x16GeU => icmp(b, s, I8X16, C::UnsignedGreaterThanOrEqual)?,
        O::I16x8Eq => icmp(b, s, I16X8, C::Equal)?,
        O::I16x8Ne => icmp(b, s, I16X8, C::NotEqual)?,
        O::I16x8LtS => icmp(b, s, I16X8, C::SignedLessThan)?,
        O::I16x8LtU => icmp(b, s, I16X8, C::UnsignedLessThan)?,
        O::I16x8GtS => icmp(b, s, I16X8, C::SignedGreaterThan)?,
        O::I16x8GtU => icmp(b, s, I16X8, C::UnsignedGreaterThan)?,
        O::I16x8LeS => icmp(b, s, I16X8, C::SignedLessThanOrEqual)?,
        O::I16x8LeU => icmp(b, s, I16X8, C::UnsignedLessThanOrEqual)?,
        O::I16x8GeS => icmp(b, s, I16X8, C::SignedGreaterThanOrEqual)?,
        O::I16x8GeU => icmp(b, s, I16X8, C::UnsignedGreaterThanOrEqual)?,
        O::I32x4Eq => icmp(b, s, I32X4, C::Equal)?,
        O::I32x4Ne => icmp(b, s, I32X4, C::NotEqual)?,
        O::I32x4LtS => icmp(b, s, I32X4, C::SignedLessThan)?,
        O::I32x4LtU => icmp(b, s, I32X4, C::UnsignedLessThan)?,
        O::I32x4GtS => icmp(b, s, I32X4, C::SignedGreaterThan)?,
        O::I32x4GtU => icmp(b, s, I32X4, C::UnsignedGreaterThan)?,
        O::I32x4LeS => icmp(b, s, I32X4, C::SignedLessThanOrEqual)?,
        O::I32x4LeU => icmp(b, s, I32X4, C::UnsignedLessThanOrEqual)?,
        O::I32x4GeS => icmp(b, s, I32X4, C::SignedGreaterThanOrEqual)?,
        O::I32x4GeU => icmp(b, s, I32X4, C::UnsignedGreaterThanOrEqual)?,
        O::I64x2Eq => icmp(b, s, I64X2, C::Equal)?,
        O::I64x2Ne => icmp(b, s, I64X2, C::NotEqual)?,
        O::I64x2LtS => icmp(b, s, I64X2, C::SignedLessThan)?,
        O::I64x2GtS => icmp(b, s, I64X2, C::SignedGreaterThan)?,
        O::I64x2LeS => icmp(b, s, I64X2, C::SignedLessThanOrEqual)?,
        O::I64x2GeS => icmp(b, s, I64X2, C::SignedGreaterThanOrEqual)?,

        // Float comparisons: `ne` is true when either lane is NaN, the others are ordered.
        O::F32x4Eq => fcmp(b, s, F32X4, F::Equal)?,
        O::F32x4Ne => fcmp(b, s, F32X4, F::NotEqual)?,
        O::F32x4Lt => fcmp(b, s, F32X4, F::LessThan)?,
        O::F32x4Gt => fcmp(b, s, F32X4, F::GreaterThan)?,
        O::F32x4Le => fcmp(b, s, F32X4, F::LessThanOrEqual)?,
        O::F32x4Ge => fcmp(b, s, F32X4, F::GreaterThanOrEqual)?,
        O::F64x2Eq => fcmp(b, s, F64X2, F::Equal)?,
        O::F64x2Ne => fcmp(b, s, F64X2, F::NotEqual)?,
        O::F64x2Lt => fcmp(b, s, F64X2, F::LessThan)?,
        O::F64x2Gt => fcmp(b, s, F64X2, F::GreaterThan)?,
        O::F64x2Le => fcmp(b, s, F64X2, F::LessThanOrEqual)?,
        O::F64x2Ge => fcmp(b, s, F64X2, F::GreaterThanOrEqual)?,

        // Bitwise operators.
        O::V128Not => unary(b, s, I8X16, |b, x| b.ins().bnot(x))?,
        O::V128And => binary(b, s, I8X16, |b, x, y| b.ins().band(x, y))?,
        O::V128AndNot => binary(b, s, I8X16, |b, x, y| b.ins().band_not(x, y))?,
        O::V128Or => binary(b, s, I8X16, |b, x, y| b.ins().bor(x, y))?,
        O::V128Xor => binary(b, s, I8X16, |b, x, y| b.ins().bxor(x, y))?,
        O::V128Bitselect => {
            let c = pop_vec(b, s, I8X16)?;
            let y = pop_vec(b, s, I8X16)?;
            let x = pop_vec(b, s, I8X16)?;
            let r = b.ins().bitselect(c, x, y);
            s.push(r);
        }
        O::V128AnyTrue => reduce(b, s, I8X16, |b, v| b.ins().vany_true(v))?,
        O::I8x16AllTrue => reduce(b, s, I8X16, |b, v| b.ins().vall_true(v))?,
        O::I16x8AllTrue => reduce(b, s, I16X8, |b, v| b.ins().vall_true(v))?,
        O::I32x4AllTrue => reduce(b, s, I32X4, |b, v| b.ins().vall_true(v))?,
        O::I64x2AllTrue => reduce(b, s, I64X2, |b, v| b.ins().vall_true(v))?,
        O::I8x16Bitmask => bitmask(b, s, I8X16)?,
        O::I16x8Bitmask => bitmask(b, s, I16X8)?,
        O::I32x4Bitmask => bitmask(b, s, I32X4)?,
        O::I64x2Bitmask => bitmask(b, s, I64X2)?,

        // Shifts.
        O::I8x16Shl => shift(b, s, I8X16, |b, v, n| b.ins().ishl(v, n))?,
        O::I8x16ShrS => shift(b, s, I8X16, |b, v, n| b.ins().sshr(v, n))?,
        O::I8x16ShrU => shift(b, s, I8X16, |b, v, n| b.ins().ushr(v, n))?,
        O::I16x8Shl => shift(b, s, I16X8, |b, v, n| b.ins().ishl(v, n))?,
        O::I16x8ShrS => shift(b, s, I16X8, |b, v, n| b.ins().sshr(v, n))?,
        O::I16x8ShrU => shift(b, s, I16X8, |b, v, n| b.ins().ushr(v, n))?,
        O::I32x4Shl => shift(b, s, I32X4, |b, v, n| b.ins().ishl(v, n))?,
        O::I32x4ShrS => shift(b, s, I32X4, |b, v, n| b.ins().sshr(v, n))?,
        O::I32x4ShrU => shift(b, s, I32X4, |b, v, n| b.ins().ushr(v, n))?,
        O::I64x2Shl => shift(b, s, I64X2, |b, v, n| b.ins().ishl(v, n))?,
        O::I64x2ShrS => shift(b, s, I64X2, |b, v, n| b.ins().sshr(v, n))?,
        O::I64x2ShrU => shift(b, s, I64X2, |b, v, n| b.ins().ushr(v, n))?,

        // Integer arithmetic.
        O::I8x16Abs => unary(b, s, I8X16, |b, x| b.ins().iabs(x))?,
        O::I16x8Abs => unary(b, s, I16X8, |b, x| b.ins().iabs(x))?,
        O::I32x4Abs => unary(b, s, I32X4, |b, x| b.ins().iabs(x))?,
        O::I64x2Abs => unary(b, s, I64X2, |b, x| b.ins().iabs(x))?,
        O::I8x16Neg => unary(b, s, I8X16, |b, x| b.ins().ineg(x))?,
        O::I16x8Neg => unary(b, s, I16X8, |b, x| b.ins().ineg(x))?,
        O::I32x4Neg => unary(b, s, I32X4, |b, x| b.ins().ineg(x))?,
        O::I64x2Neg => unary(b, s, I64X2, |b, x| b.ins().ineg(x))?,
        O::I8x16Popcnt => unary(b, s, I8X16, |b, x| b.ins().popcnt(x))?,
        O::I8x16Add => binary(b, s, I8X16, |b, x, y| b.ins().iadd(x, y))?,
        O::I16x8Add => binary(b, s, I16X8, |b, x, y| b.ins().iadd(x, y))?,
        O::I32x4Add => binary(b, s, I32X4, |b, x, y| b.ins().iadd(x, y))?,
        O::I64x2Add => binary(b, s, I64X2, |b, x, y| b.ins().iadd(x, y))?,
        O::I8x16Sub => binary(b, s, I8X16, |b, x, y| b.ins().isub(x, y))?,
        O::I16x8Sub => binary(b, s, I16X8, |b, x, y| b.ins().isub(x, y))?,
        O::I32x4Sub => binary(b, s, I32X4, |b, x, y| b.ins().isub(x, y))?,
        O::I64x2Sub => binary(b, s, I64X2, |b, x, y| b.ins().isub(x, y))?,
        O::I16x8Mul => binary(b, s, I16X8, |b, x, y| b.ins().imul(x, y))?,
        O::I32x4Mul => binary(b, s, I32X4, |b, x, y| b.ins().imul(x, y))?,
        O::I64x2Mul => binary(b, s, I64X2, |b, x, y| b.ins().imul(x, y))?,
        O::I8x16AddSatS => binary(b, s, I8X16, |b, x, y| b.ins().sadd_sat(x, y))?,
        O::I8x16AddSatU => binary(b, s, I8X16, |b, x, y| b.ins().uadd_sat(x, y))?,
        O::I8x16SubSatS => binary(b, s, I8X16, |b, x, y| b.ins().ssub_sat(x, y))?,
        O::I8x16SubSatU => binary(b, s, I8X16, |b, x, y| b.ins().usub_sat(x, y))?,
        O::I16x8AddSatS => binary(b, s, I16X8, |b, x, y| b.ins().sadd_sat(x, y))?,
        O::I16x8AddSatU => binary(b, s, I16X8, |b, x, y| b.ins().uadd_sat(x, y))?,
        O::I16x8SubSatS => binary(b, s, I16X8, |b, x, y| b.ins().ssub_sat(x, y))?,
        O::I16x8SubSatU => binary(b, s, I16X8, |b, x, y| b.ins().usub_sat(x, y))?,
        O::I8x16MinS => binary(b, s, I8X16, |b, x, y| b.ins().smin(x, y))?,
        O::I8x16MinU => binary(b, s, I8X16, |b, x, y| b.ins().umin(x, y))?,
        O::I8x16MaxS => binary(b, s, I8X16, |b, x, y| b.ins().smax(x, y))?,
        O::I8x16MaxU => binary(b, s, I8X16, |b, x, y| b.ins().umax(x, y))?,
        O::I16x8MinS => binary(b, s, I16X8, |b, x, y| b.ins().smin(x, y))?,
        O::I16x8MinU => binary(b, s, I16X8, |b, x, y| b.ins().umin(x, y))?,
        O::I16x8MaxS => binary(b, s, I16X8, |b, x, y| b.ins().smax(x, y))?,
        O::I16x8MaxU => binary(b, s, I16X8, |b, x, y| b.ins().umax(x, y))?,
        O::I32x4MinS => binary(b, s, I32X4, |b, x, y| b.ins().smin(x, y))?,
        O::I32x4MinU => binary(b, s, I32X4, |b, x, y| b.ins().umin(x, y))?,
        O::I32x4MaxS => binary(b, s, I32X4, |b, x, y| b.ins().smax(x, y))?,
        O::I32x4MaxU => binary(b, s, I32X4, |b, x, y| b.ins().umax(x, y))?,
        O::I8x16AvgrU => binary(b, s, I8X16, |b, x, y| b.ins().avg_round(x, y))?,
        O::I16x8AvgrU => binary(b, s, I16X8, |b, x, y| b.ins().avg_round(x, y))?,
        O::I16x8Q15MulrSatS => binary(b, s, I16X8, |b, x, y| b.ins().sqmul_round_sat(x, y))?,
        O::I32x4DotI16x8S => binary(b, s, I16X8, |b, x, y| {
            // The widening-multiply-then-pairwise-add form the backends match to `pmaddwd`.
            let (xl, yl) = (b.ins().swiden_low(x), b.ins().swiden_low(y));
            let (xh, yh) = (b.ins().swiden_high(x), b.ins().swiden_high(y));
            let lo = b.ins().imul(xl, yl);
            let hi = b.ins().imul(xh, yh);
            b.ins().iadd_pairwise(lo, hi)
        })?,
        O::I16x8ExtMulLowI8x16S => extmul(b, s, I8X16, Low, true)?,
        O::I16x8ExtMulHighI8x16S => extmul(b, s, I8X16, High, true)?,
        O::I16x8ExtMulLowI8x16U => extmul(b, s, I8X16, Low, false)?,
        O::I16x8ExtMulHighI8x16U => extmul(b, s, I8X16, High, false)?,
        O::I32x4ExtMulLowI16x8S => extmul(b, s, I16X8, Low, true)?,
        O::I32x4ExtMulHighI16x8S => extmul(b, s, I16X8, High, true)?,
        O::I32x4ExtMulLowI16x8U => extmul(b, s, I16X8, Low, false)?,
        O::I32x4ExtMulHighI16x8U => extmul(b, s, I16X8, High, false)?,
        O::I64x2ExtMulLowI32x4S => extmul(b, s, I32X4, Low, true)?,
        O::I64x2ExtMulHighI32x4S => extmul(b, s, I32X4, High, true)?,
        O::I64x2ExtMulLowI32x4U => extmul(b, s, I32X4, Low, false)?,
        O::I64x2ExtMulHighI32x4U => extmul(b, s, I32X4, High, false)?,
        O::I16x8ExtAddPairwiseI8x16S => extadd_pairwise(b, s, I8X16, true)?,
        O::I16x8ExtAddPairwiseI8x16U => extadd_pairwise(b, s, I8X16, false)?,
        O::I32x4ExtAddPairwiseI16x8S => extadd_pairwise(b, s, I16X8, true)?,
        O::I32x4ExtAddPairwiseI16x8U => extadd_pairwise(b, s, I16X8, false)?,

        // Narrowing (inputs are signed; saturate to the signed or unsigned narrow range) and
        // widening.
        O::I8x16NarrowI16x8S => binary(b, s, I16X8, |b, x, y| b.ins().snarrow(x, y))?,
        O::I8x16NarrowI16x8U => binary(b, s, I16X8, |b, x, y| b.ins().unarrow(x, y))?,
        O::I16x8NarrowI32x4S => binary(b, s, I32X4, |b, x, y| b.ins().snarrow(x, y))?,
        O::I16x8NarrowI32x4U => binary(b, s, I32X4, |b, x, y| b.ins().unarrow(x, y))?,
        O::I16x8ExtendLowI8x16S => extend(b, s, I8X16, Low, true)?,
        O::I16x8ExtendHighI8x16S => extend(b, s, I8X16, High, true)?,
        O::I16x8ExtendLowI8x16U => extend(b, s, I8X16, Low, false)?,
        O::I16x8ExtendHighI8x16U => extend(b, s, I8X16, High, false)?,
        O::I32x4ExtendLowI16x8S => extend(b, s, I16X8, Low, true)?,
        O::I32x4ExtendHighI16x8S => extend(b, s, I16X8, High, true)?,
        O::I32x4ExtendLowI16x8U => extend(b, s, I16X8, Low, false)?,
        O::I32x4ExtendHighI16x8U => extend(b, s, I16X8, High, false)?,
        O::I64x2ExtendLowI32x4S => extend(b, s, I32X4, Low, true)?,
        O::I64x2ExtendHighI32x4S => extend(b, s, I32X4, High, true)?,
        O::I64x2ExtendLowI32x4U => extend(b, s, I32X4, Low, false)?,
        O::I64x2ExtendHighI32x4U => extend(b, s, I32X4, High, false)?,

        // Float arithmetic. Cranelift's `fmin`/`fmax` follow the wasm NaN and signed-zero rules.
        O::F32x4Ceil => unary(b, s, F32X4, |b, x| b.ins().ceil(x))?,
        O::F32x4Floor => unary(b, s, F32X4, |b, x| b.ins().floor(x))?,
        O::F32x4Trunc => unary(b, s, F32X4, |b, x| b.ins().trunc(x))?,
        O::F32x4Nearest => unary(b, s, F32X4, |b, x| b.ins().nearest(x))?,
        O::F32x4Abs => unary(b, s, F32X4, |b, x| b.ins().fabs(x))?,
        O::F32x4Neg => unary(b, s, F32X4, |b, x| b.ins().fneg(x))?,
        O::F32x4Sqrt => unary(b, s, F32X4, |b, x| b.ins().sqrt(x))?,
        O::F32x4Add => binary(b, s, F32X4, |b, x, y| b.ins().fadd(x, y))?,
        O::F32x4Sub => binary(b, s, F32X4, |b, x, y| b.ins().fsub(x, y))?,
        O::F32x4Mul => binary(b, s, F32X4, |b, x, y| b.ins().fmul(x, y))?,
        O::F32x4Div => binary(b, s, F32X4, |b, x, y| b.ins().fdiv(x, y))?,
        O::F32x4Min => binary(b, s, F32X4, |b, x, y| b.ins().fmin(x, y))?,
        O::F32x4Max => binary(b, s, F32X4, |b, x, y| b.ins().fmax(x, y))?,
        O::F32x4PMin => pseudo_min_max(b, s, F32X4, false)?,
        O::F32x4PMax => pseudo_min_max(b, s, F32X4, true)?,
        O::F64x2Ceil => unary(b, s, F64X2, |b, x| b.ins().ceil(x))?,
        O::F64x2Floor => unary(b, s, F64X2, |b, x| b.ins().floor(x))?,
        O::F64x2Trunc => unary(b, s, F64X2, |b, x| b.ins().trunc(x))?,
        O::F64x2Nearest => unary(b, s, F64X2, |b, x| b.ins().nearest(x))?,
        O::F64x2Abs => unary(b, s, F64X2, |b, x| b.ins().fabs(x))?,
        O::F64x2Neg => unary(b, s, F64X2, |b, x| b.ins().fneg(x))?,
        O::F64x2Sqrt => unary(b, s, F64X2, |b, x| b.ins().sqrt(x))?,
        O::F64x2Add => binary(b, s, F64X2, |b, x, y| b.ins().fadd(x, y))?,
        O::F64x2Sub => binary(b, s, F64X2, |b, x, y| b.ins().fsub(x, y))?,
        O::F64x2Mul => binary(b, s, F64X2, |b, x, y| b.ins().fmul(x, y))?,
        O::F64x2Div => binary(b, s, F64X2, |b, x, y| b.ins().fdiv(x, y))?,
        O::F64x2Min => binary(b, s, F64X2, |b, x, y| b.ins().fmin(x, y))?,
        O::F64x2Max => binary(b, s, F64X2, |b, x, y| b.ins().fmax(x, y))?,
        O::F64x2PMin => pseudo_min_max(b, s, F64X2, false)?,
        O::F64x2PMax => pseudo_min_max(b, s, F64X2, true)?,

        // Conversions. The `_zero` forms are written as the `narrow(convert, zeros)` patterns
        // Cranelift's x64 backend lowers (it has no general 64x2 narrowing).
        O::I32x4TruncSatF32x4S => unary(b, s, F32X4, |b, x| b.ins().fcvt_to_sint_sat(I32X4, x))?,
        O::I32x4TruncSatF32x4U => unary(b, s, F32X4, |b, x| b.ins().fcvt_to_uint_sat(I32X4, x))?,
        O::I32x4TruncSatF64x2SZero => unary(b, s, F64X2, |b, x| {
            let wide = b.ins().fcvt_to_sint_sat(I64X2, x);
            let z = zeros(b, I64X2);
            b.ins().snarrow(wide, z)
        })?,
        O::I32x4TruncSatF64x2UZero => unary(b, s, F64X2, |b, x| {
            let wide = b.ins().fcvt_to_uint_sat(I64X2, x);
            let z = zeros(b, I64X2);
            b.ins().uunarrow(wide, z)
        })?,
        O::F32x4ConvertI32x4S => unary(b, s, I32X4, |b, x| b.ins().fcvt_from_sint(F32X4, x))?,
        O::F32x4ConvertI32x4U => unary(b, s, I32X4, |b, x| b.ins().fcvt_from_uint(F32X4, x))?,
        O::F64x2ConvertLowI32x4S => unary(b, s, I32X4, |b, x| {
            let wide = b.ins().swiden_low(x);
            b.ins().fcvt_from_sint(F64X2, wide)
        })?,
        O::F64x2ConvertLowI32x4U => unary(b, s, I32X4, |b, x| {
            let wide = b.ins().uwiden_low(x);
            b.ins().fcvt_from_uint(F64X2, wide)
        })?,
        O::F32x4DemoteF64x2Zero => unary(b, s, F64X2, |b, x| b.ins().fvdemote(x))?,
        O::F64x2PromoteLowF32x4 => unary(b, s, F32X4, |b, x| b.ins().fvpromote_low(x))?,

        ref other => {
            return Err(CompileError::msg(format!(
                "unsupported operator in the SIMD translator: {other:?}"
            )))
        }
    }
    Ok(())
}

/// Scalar type and vector type of the lanes of an access of `bytes` bytes (1, 2, 4 or 8).
fn lane_types(bytes: u32) -> (Type, Type) {
    match bytes {
        1 => (I8, I8X16),
        2 => (I16, I16X8),
        4 => (I32, I32X4),
        _ => (I64, I64X2),
    }
}

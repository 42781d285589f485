//! SIMD linear-memory operators (`v128.load*`, `v128.store*`, lane loads and stores), part of
//! the SIMD translation in `translate/simd.rs`. Every access computes its native address with
//! `FuncEnvironment::memory_address`, so bounds checks and trap codes match scalar accesses.

use cranelift_codegen::ir::types::{I32, I32X4, I64, I64X2, I8X16};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;
use wasmparser::{MemArg, Operator};

use super::{lane_types, pop, pop_vec, push_vec, Result};
use crate::translate::func_env::FuncEnvironment;

/// Pops the address operand (`i32`, or `i64` for a 64-bit memory) and returns the native address and flags of an access of
/// `size` bytes at it.
fn address(
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    env: &mut FuncEnvironment<'_>,
    memarg: &MemArg,
    size: u32,
) -> Result<(Value, MemFlagsData)> {
    let index = pop(s)?;
    Ok(env.memory_address(b, memarg, index, size))
}

/// A whole-vector load of `ty` (`v128.load`, or one of the 64-bit extending loads given by
/// `load`, which produce `ty`).
fn load_vector(
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    env: &mut FuncEnvironment<'_>,
    memarg: &MemArg,
    size: u32,
    load: impl FnOnce(&mut FunctionBuilder<'_>, MemFlagsData, Value) -> Value,
) -> Result<()> {
    let (addr, flags) = address(b, s, env, memarg, size)?;
    let v = load(b, flags, addr);
    push_vec(b, s, v);
    Ok(())
}

/// `v128.loadN_splat`: a scalar of `bytes` bytes repeated in every lane.
fn load_splat(
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    env: &mut FuncEnvironment<'_>,
    memarg: &MemArg,
    bytes: u32,
) -> Result<()> {
    let (lane, vec) = lane_types(bytes);
    let (addr, flags) = address(b, s, env, memarg, bytes)?;
    let x = b.ins().load(lane, flags, addr, 0);
    let v = b.ins().splat(vec, x);
    push_vec(b, s, v);
    Ok(())
}

/// `v128.loadN_zero`: a scalar of type `lane` in lane 0, all other lanes zero.
fn load_zero(
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    env: &mut FuncEnvironment<'_>,
    memarg: &MemArg,
    lane: Type,
    vec: Type,
) -> Result<()> {
    let (addr, flags) = address(b, s, env, memarg, lane.bytes())?;
    let x = b.ins().load(lane, flags, addr, 0);
    let v = b.ins().scalar_to_vector(vec, x);
    push_vec(b, s, v);
    Ok(())
}

/// `v128.loadN_lane`: the vector operand with lane `lane` (of `bytes` bytes) loaded from memory.
fn load_lane(
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    env: &mut FuncEnvironment<'_>,
    memarg: &MemArg,
    bytes: u32,
    lane: u8,
) -> Result<()> {
    let (lane_ty, vec) = lane_types(bytes);
    let v = pop_vec(b, s, vec)?;
    let (addr, flags) = address(b, s, env, memarg, bytes)?;
    let x = b.ins().load(lane_ty, flags, addr, 0);
    let r = b.ins().insertlane(v, x, lane);
    push_vec(b, s, r);
    Ok(())
}

/// `v128.storeN_lane`: stores lane `lane` (of `bytes` bytes) of the vector operand.
fn store_lane(
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    env: &mut FuncEnvironment<'_>,
    memarg: &MemArg,
    bytes: u32,
    lane: u8,
) -> Result<()> {
    let (_, vec) = lane_types(bytes);
    let v = pop_vec(b, s, vec)?;
    let (addr, flags) = address(b, s, env, memarg, bytes)?;
    let x = b.ins().extractlane(v, lane);
    b.ins().store(flags, x, addr, 0);
    Ok(())
}

/// Translates `op` if it is a SIMD memory operator; returns whether it was one.
pub(super) fn translate_memory_operator(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    s: &mut Vec<Value>,
    env: &mut FuncEnvironment<'_>,
) -> Result<bool> {
    use Operator as O;
    match *op {
        O::V128Load { ref memarg } => load_vector(b, s, env, memarg, 16, |b, f, a| {
            b.ins().load(I8X16, f, a, 0)
        })?,
        O::V128Load8x8S { ref memarg } => {
            load_vector(b, s, env, memarg, 8, |b, f, a| b.ins().sload8x8(f, a, 0))?
        }
        O::V128Load8x8U { ref memarg } => {
            load_vector(b, s, env, memarg, 8, |b, f, a| b.ins().uload8x8(f, a, 0))?
        }
        O::V128Load16x4S { ref memarg } => {
            load_vector(b, s, env, memarg, 8, |b, f, a| b.ins().sload16x4(f, a, 0))?
        }
        O::V128Load16x4U { ref memarg } => {
            load_vector(b, s, env, memarg, 8, |b, f, a| b.ins().uload16x4(f, a, 0))?
        }
        O::V128Load32x2S { ref memarg } => {
            load_vector(b, s, env, memarg, 8, |b, f, a| b.ins().sload32x2(f, a, 0))?
        }
        O::V128Load32x2U { ref memarg } => {
            load_vector(b, s, env, memarg, 8, |b, f, a| b.ins().uload32x2(f, a, 0))?
        }
        O::V128Load8Splat { ref memarg } => load_splat(b, s, env, memarg, 1)?,
        O::V128Load16Splat { ref memarg } => load_splat(b, s, env, memarg, 2)?,
        O::V128Load32Splat { ref memarg } => load_splat(b, s, env, memarg, 4)?,
        O::V128Load64Splat { ref memarg } => load_splat(b, s, env, memarg, 8)?,
        O::V128Load32Zero { ref memarg } => load_zero(b, s, env, memarg, I32, I32X4)?,
        O::V128Load64Zero { ref memarg } => load_zero(b, s, env, memarg, I64, I64X2)?,
        O::V128Store { ref memarg } => {
            let v = pop_vec(b, s, I8X16)?;
            let (addr, flags) = address(b, s, env, memarg, 16)?;
            b.ins().store(flags, v, addr, 0);
        }
        O::V128Load8Lane { ref memarg, lane } => load_lane(b, s, env, memarg, 1, lane)?,
        O::V128Load16Lane { ref memarg, lane } => load_lane(b, s, env, memarg, 2, lane)?,
        O::V128Load32Lane { ref memarg, lane } => load_lane(b, s, env, memarg, 4, lane)?,
        O::V128Load64Lane { ref memarg, lane } => load_lane(b, s, env, memarg, 8, lane)?,
        O::V128Store8Lane { ref memarg, lane } => store_lane(b, s, env, memarg, 1, lane)?,
        O::V128Store16Lane { ref memarg, lane } => store_lane(b, s, env, memarg, 2, lane)?,
        O::V128Store32Lane { ref memarg, lane } => store_lane(b, s, env, memarg, 4, lane)?,
        O::V128Store64Lane { ref memarg, lane } => store_lane(b, s, env, memarg, 8, lane)?,
        _ => return Ok(false),
    }
    Ok(true)
}

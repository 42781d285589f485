//! Scalar operators: constants, integer and float arithmetic, comparisons, conversions and
//! scalar loads/stores, with WebAssembly semantics.
//!
//! Part of stage 2 (translate): the dispatch in `translate/mod.rs` hands every operator it
//! does not handle itself to [`translate`]. Memory accesses get their address from
//! `FuncEnvironment::memory_address`.

use super::control::TranslationState;
use super::func_env::FuncEnvironment;
use crate::error::Result;
use cranelift_codegen::ir::{
    self,
    condcodes::{FloatCC, IntCC},
    immediates::{Ieee32, Ieee64},
    types::{F32, F64, I16, I32, I64, I8, I8X16},
    InstBuilder, MemFlagsData, TrapCode, Value,
};
use cranelift_frontend::FunctionBuilder;
use wasmparser::{MemArg, Operator};

/// The zero value of a local of type `ty`.
pub(crate) fn zero(b: &mut FunctionBuilder, ty: ir::Type) -> Value {
    match ty {
        F32 => b.ins().f32const(Ieee32::with_bits(0)),
        F64 => b.ins().f64const(Ieee64::with_bits(0)),
        I8X16 => {
            let c = b.func.dfg.constants.insert(vec![0u8; 16].into());
            b.ins().vconst(I8X16, c)
        }
        _ => b.ins().iconst(ty, 0),
    }
}

/// Integer comparison producing an `i32` 0/1.
fn icmp(b: &mut FunctionBuilder, cc: IntCC, x: Value, y: Value) -> Value {
    let c = b.ins().icmp(cc, x, y);
    b.ins().uextend(I32, c)
}

/// Float comparison producing an `i32` 0/1.
fn fcmp(b: &mut FunctionBuilder, cc: FloatCC, x: Value, y: Value) -> Value {
    let c = b.ins().fcmp(cc, x, y);
    b.ins().uextend(I32, c)
}

/// The kinds of integer division.
#[derive(Copy, Clone)]
enum Div {
    DivS,
    DivU,
    RemS,
    RemU,
}

/// Integer division with wasm traps: division by zero, `INT_MIN / -1` overflow, and
/// `INT_MIN % -1 == 0` (no trap).
fn int_div(b: &mut FunctionBuilder, kind: Div, x: Value, y: Value) -> Value {
    let ty = b.func.dfg.value_type(x);
    b.ins().trapz(y, TrapCode::INTEGER_DIVISION_BY_ZERO);
    match kind {
        Div::DivS => {
            let min = if ty == I32 {
                i64::from(i32::MIN as u32)
            } else {
                i64::MIN
            };
            let x_min = b.ins().icmp_imm_u(IntCC::Equal, x, min);
            let y_neg1 = b.ins().icmp_imm_s(IntCC::Equal, y, -1);
            let ovf = b.ins().band(x_min, y_neg1);
            b.ins().trapnz(ovf, TrapCode::INTEGER_OVERFLOW);
            b.ins().sdiv(x, y)
        }
        Div::DivU => b.ins().udiv(x, y),
        Div::RemS => {
            // x % -1 == 0 for every x: divide by 1 instead, so INT_MIN % -1 cannot trap.
            let y_neg1 = b.ins().icmp_imm_s(IntCC::Equal, y, -1);
            let one = b.ins().iconst(ty, 1);
            let y = b.ins().select(y_neg1, one, y);
            b.ins().srem(x, y)
        }
        Div::RemU => b.ins().urem(x, y),
    }
}

/// The kinds of scalar load.
#[derive(Copy, Clone)]
enum Load {
    Plain(ir::Type),
    S8(ir::Type),
    U8(ir::Type),
    S16(ir::Type),
    U16(ir::Type),
    S32,
    U32,
}

fn load(
    b: &mut FunctionBuilder,
    st: &mut TranslationState,
    env: &mut FuncEnvironment,
    memarg: &MemArg,
    kind: Load,
) -> Result<()> {
    let size = match kind {
        Load::Plain(t) => t.bytes(),
        Load::S8(_) | Load::U8(_) => 1,
        Load::S16(_) | Load::U16(_) => 2,
        Load::S32 | Load::U32 => 4,
    };
    let index = st.pop()?;
    let (addr, flags) = env.memory_address(b, memarg, index, size);
    let v = match kind {
        Load::Plain(t) => b.ins().load(t, flags, addr, 0),
        Load::S8(t) => b.ins().sload8(t, flags, addr, 0),
        Load::U8(t) => b.ins().uload8(t, flags, addr, 0),
        Load::S16(t) => b.ins().sload16(t, flags, addr, 0),
        Load::U16(t) => b.ins().uload16(t, flags, addr, 0),
        Load::S32 => b.ins().sload32(flags, addr, 0),
        Load::U32 => b.ins().uload32(flags, addr, 0),
    };
    st.push(v);
    Ok(())
}

/// Stores the low `size` bytes of the value on top of the stack.
fn store(
    b: &mut FunctionBuilder,
    st: &mut TranslationState,
    env: &mut FuncEnvironment,
    memarg: &MemArg,
    size: u32,
) -> Result<()> {
    let (index, val) = st.pop2()?;
    let (addr, flags): (Value, MemFlagsData) = env.memory_address(b, memarg, index, size);
    let full = b.func.dfg.value_type(val).bytes();
    if size == full {
        b.ins().store(flags, val, addr, 0);
    } else {
        match size {
            1 => b.ins().istore8(flags, val, addr, 0),
            2 => b.ins().istore16(flags, val, addr, 0),
            _ => b.ins().istore32(flags, val, addr, 0),
        };
    }
    Ok(())
}

/// Translates a scalar operator; returns `false` if `op` is not one.
pub(crate) fn translate(
    op: &Operator<'_>,
    b: &mut FunctionBuilder,
    st: &mut TranslationState,
    env: &mut FuncEnvironment,
) -> Result<bool> {
    macro_rules! unop {
        (|$b:ident, $x:ident| $e:expr) => {{
            let $x = st.pop()?;
            let $b = &mut *b;
            let v = $e;
            st.push(v);
        }};
    }
    macro_rules! binop {
        (|$b:ident, $x:ident, $y:ident| $e:expr) => {{
            let ($x, $y) = st.pop2()?;
            let $b = &mut *b;
            let v = $e;
            st.push(v);
        }};
    }
    use Operator as O;
    match op {
        // ------------------------------------------------------------ constants
        O::I32Const { value } => {
            let v = b.ins().iconst(I32, i64::from(*value as u32));
            st.push(v);
        }
        O::I64Const { value } => {
            let v = b.ins().iconst(I64, *value);
            st.push(v);
        }
        O::F32Const { value } => {
            let v = b.ins().f32const(Ieee32::with_bits(value.bits()));
            st.push(v);
        }
        O::F64Const { value } => {
            let v = b.ins().f64const(Ieee64::with_bits(value.bits()));
            st.push(v);
        }

        // ------------------------------------------------------------ loads and stores
        O::I32Load { memarg } => load(b, st, env, memarg, Load::Plain(I32))?,
        O::I64Load { memarg } => load(b, st, env, memarg, Load::Plain(I64))?,
        O::F32Load { memarg } => load(b, st, env, memarg, Load::Plain(F32))?,
        O::F64Load { memarg } => load(b, st, env, memarg, Load::Plain(F64))?,
        O::I32Load8S { memarg } => load(b, st, env, memarg, Load::S8(I32))?,
        O::I32Load8U { memarg } => load(b, st, env, memarg, Load::U8(I32))?,
        O::I32Load16S { memarg } => load(b, st, env, memarg, Load::S16(I32))?,
        O::I32Load16U { memarg } => load(b, st, env, memarg, Load::U16(I32))?,
        O::I64Load8S { memarg } => load(b, st, env, memarg, Load::S8(I64))?,
        O::I64Load8U { memarg } => load(b, st, env, memarg, Load::U8(I64))?,
        O::I64Load16S { memarg } => load(b, st, env, memarg, Load::S16(I64))?,
        O::I64Load16U { memarg } => load(b, st, env, memarg, Load::U16(I64))?,
        O::I64Load32S { memarg } => load(b, st, env, memarg, Load::S32)?,
        O::I64Load32U { memarg } => load(b, st, env, memarg, Load::U32)?,
        O::I32Store { memarg } | O::F32Store { memarg } => store(b, st, env, memarg, 4)?,
        O::I64Store { memarg } | O::F64Store { memarg } => store(b, st, env, memarg, 8)?,
        O::I32Store8 { memarg } | O::I64Store8 { memarg } => store(b, st, env, memarg, 1)?,
        O::I32Store16 { memarg } | O::I64Store16 { memarg } => store(b, st, env, memarg, 2)?,
        O::I64Store32 { memarg } => store(b, st, env, memarg, 4)?,

        // ------------------------------------------------------------ integer tests
        O::I32Eqz | O::I64Eqz => unop!(|b, x| {
            let c = b.ins().icmp_imm_u(IntCC::Equal, x, 0);
            b.ins().uextend(I32, c)
        }),
        O::I32Eq | O::I64Eq => binop!(|b, x, y| icmp(b, IntCC::Equal, x, y)),
        O::I32Ne | O::I64Ne => binop!(|b, x, y| icmp(b, IntCC::NotEqual, x, y)),
        O::I32LtS | O::I64LtS => binop!(|b, x, y| icmp(b, IntCC::SignedLessThan, x, y)),
        O::I32LtU | O::I64LtU => binop!(|b, x, y| icmp(b, IntCC::UnsignedLessThan, x, y)),
        O::I32GtS | O::I64GtS => binop!(|b, x, y| icmp(b, IntCC::SignedGreaterThan, x, y)),
        O::I32GtU | O::I64GtU => binop!(|b, x, y| icmp(b, IntCC::UnsignedGreaterThan, x, y)),
        O::I32LeS | O::I64LeS => {
            binop!(|b, x, y| icmp(b, IntCC::SignedLessThanOrEqual, x, y))
        }
        O::I32LeU | O::I64LeU => {
            binop!(|b, x, y| icmp(b, IntCC::UnsignedLessThanOrEqual, x, y))
        }
        O::I32GeS | O::I64GeS => {
            binop!(|b, x, y| icmp(b, IntCC::SignedGreaterThanOrEqual, x, y))
        }
        O::I32GeU | O::I64GeU => {
            binop!(|b, x, y| icmp(b, IntCC::UnsignedGreaterThanOrEqual, x, y))
        }

        // ------------------------------------------------------------ float comparisons
        O::F32Eq | O::F64Eq => binop!(|b, x, y| fcmp(b, FloatCC::Equal, x, y)),
        O::F32Ne | O::F64Ne => binop!(|b, x, y| fcmp(b, FloatCC::NotEqual, x, y)),
        O::F32Lt | O::F64Lt => binop!(|b, x, y| fcmp(b, FloatCC::LessThan, x, y)),
        O::F32Gt | O::F64Gt => binop!(|b, x, y| fcmp(b, FloatCC::GreaterThan, x, y)),
        O::F32Le | O::F64Le => binop!(|b, x, y| fcmp(b, FloatCC::LessThanOrEqual, x, y)),
        O::F32Ge | O::F64Ge => binop!(|b, x, y| fcmp(b, FloatCC::GreaterThanOrEqual, x, y)),

        // ------------------------------------------------------------ integer arithmetic
        O::I32Clz | O::I64Clz => unop!(|b, x| b.ins().clz(x)),
        O::I32Ctz | O::I64Ctz => unop!(|b, x| b.ins().ctz(x)),
        O::I32Popcnt | O::I64Popcnt => unop!(|b, x| b.ins().popcnt(x)),
        O::I32Add | O::I64Add => binop!(|b, x, y| b.ins().iadd(x, y)),
        O::I32Sub | O::I64Sub => binop!(|b, x, y| b.ins().isub(x, y)),
        O::I32Mul | O::I64Mul => binop!(|b, x, y| b.ins().imul(x, y)),
        O::I32DivS | O::I64DivS => binop!(|b, x, y| int_div(b, Div::DivS, x, y)),
        O::I32DivU | O::I64DivU => binop!(|b, x, y| int_div(b, Div::DivU, x, y)),
        O::I32RemS | O::I64RemS => binop!(|b, x, y| int_div(b, Div::RemS, x, y)),
        O::I32RemU | O::I64RemU => binop!(|b, x, y| int_div(b, Div::RemU, x, y)),
        O::I32And | O::I64And => binop!(|b, x, y| b.ins().band(x, y)),
        O::I32Or | O::I64Or => binop!(|b, x, y| b.ins().bor(x, y)),
        O::I32Xor | O::I64Xor => binop!(|b, x, y| b.ins().bxor(x, y)),
        // Cranelift masks shift and rotate amounts to the type's width, as wasm does.
        O::I32Shl | O::I64Shl => binop!(|b, x, y| b.ins().ishl(x, y)),
        O::I32ShrS | O::I64ShrS => binop!(|b, x, y| b.ins().sshr(x, y)),
        O::I32ShrU | O::I64ShrU => binop!(|b, x, y| b.ins().ushr(x, y)),
        O::I32Rotl | O::I64Rotl => binop!(|b, x, y| b.ins().rotl(x, y)),
        O::I32Rotr | O::I64Rotr => binop!(|b, x, y| b.ins().rotr(x, y)),

        // ------------------------------------------------------------ float arithmetic
        O::F32Abs | O::F64Abs => unop!(|b, x| b.ins().fabs(x)),
        O::F32Neg | O::F64Neg => unop!(|b, x| b.ins().fneg(x)),
        O::F32Ceil | O::F64Ceil => unop!(|b, x| b.ins().ceil(x)),
        O::F32Floor | O::F64Floor => unop!(|b, x| b.ins().floor(x)),
        O::F32Trunc | O::F64Trunc => unop!(|b, x| b.ins().trunc(x)),
        O::F32Nearest | O::F64Nearest => unop!(|b, x| b.ins().nearest(x)),
        O::F32Sqrt | O::F64Sqrt => unop!(|b, x| b.ins().sqrt(x)),
        O::F32Add | O::F64Add => binop!(|b, x, y| b.ins().fadd(x, y)),
        O::F32Sub | O::F64Sub => binop!(|b, x, y| b.ins().fsub(x, y)),
        O::F32Mul | O::F64Mul => binop!(|b, x, y| b.ins().fmul(x, y)),
        O::F32Div | O::F64Div => binop!(|b, x, y| b.ins().fdiv(x, y)),
        // Cranelift's fmin/fmax propagate NaN and order -0 below +0, as wasm requires.
        O::F32Min | O::F64Min => binop!(|b, x, y| b.ins().fmin(x, y)),
        O::F32Max | O::F64Max => binop!(|b, x, y| b.ins().fmax(x, y)),
        O::F32Copysign | O::F64Copysign => binop!(|b, x, y| b.ins().fcopysign(x, y)),

        // ------------------------------------------------------------ conversions
        O::I32WrapI64 => unop!(|b, x| b.ins().ireduce(I32, x)),
        O::I64ExtendI32S => unop!(|b, x| b.ins().sextend(I64, x)),
        O::I64ExtendI32U => unop!(|b, x| b.ins().uextend(I64, x)),
        O::I32TruncF32S | O::I32TruncF64S => unop!(|b, x| b.ins().fcvt_to_sint(I32, x)),
        O::I32TruncF32U | O::I32TruncF64U => unop!(|b, x| b.ins().fcvt_to_uint(I32, x)),
        O::I64TruncF32S | O::I64TruncF64S => unop!(|b, x| b.ins().fcvt_to_sint(I64, x)),
        O::I64TruncF32U | O::I64TruncF64U => unop!(|b, x| b.ins().fcvt_to_uint(I64, x)),
        O::I32TruncSatF32S | O::I32TruncSatF64S => {
            unop!(|b, x| b.ins().fcvt_to_sint_sat(I32, x))
        }
        O::I32TruncSatF32U | O::I32TruncSatF64U => {
            unop!(|b, x| b.ins().fcvt_to_uint_sat(I32, x))
        }
        O::I64TruncSatF32S | O::I64TruncSatF64S => {
            unop!(|b, x| b.ins().fcvt_to_sint_sat(I64, x))
        }
        O::I64TruncSatF32U | O::I64TruncSatF64U => {
            unop!(|b, x| b.ins().fcvt_to_uint_sat(I64, x))
        }
        O::F32ConvertI32S | O::F32ConvertI64S => unop!(|b, x| b.ins().fcvt_from_sint(F32, x)),
        O::F32ConvertI32U | O::F32ConvertI64U => unop!(|b, x| b.ins().fcvt_from_uint(F32, x)),
        O::F64ConvertI32S | O::F64ConvertI64S => unop!(|b, x| b.ins().fcvt_from_sint(F64, x)),
        O::F64ConvertI32U | O::F64ConvertI64U => unop!(|b, x| b.ins().fcvt_from_uint(F64, x)),
        O::F32DemoteF64 => unop!(|b, x| b.ins().fdemote(F32, x)),
        O::F64PromoteF32 => unop!(|b, x| b.ins().fpromote(F64, x)),
        O::I32ReinterpretF32 => unop!(|b, x| b.ins().bitcast(I32, MemFlagsData::new(), x)),
        O::I64ReinterpretF64 => unop!(|b, x| b.ins().bitcast(I64, MemFlagsData::new(), x)),
        O::F32ReinterpretI32 => unop!(|b, x| b.ins().bitcast(F32, MemFlagsData::new(), x)),
        O::F64ReinterpretI64 => unop!(|b, x| b.ins().bitcast(F64, MemFlagsData::new(), x)),
        O::I32Extend8S => unop!(|b, x| {
            let n = b.ins().ireduce(I8, x);
            b.ins().sextend(I32, n)
        }),
        O::I32Extend16S => unop!(|b, x| {
            let n = b.ins().ireduce(I16, x);
            b.ins().sextend(I32, n)
        }),
        O::I64Extend8S => unop!(|b, x| {
            let n = b.ins().ireduce(I8, x);
            b.ins().sextend(I64, n)
        }),
        O::I64Extend16S => unop!(|b, x| {
            let n = b.ins().ireduce(I16, x);
            b.ins().sextend(I64, n)
        }),
        O::I64Extend32S => unop!(|b, x| {
            let n = b.ins().ireduce(I32, x);
            b.ins().sextend(I64, n)
        }),
        _ => return Ok(false),
    }
    Ok(true)
}

//! Stage 2 — translate: one validated WebAssembly function body → Cranelift IR.
//!
//! kiln's own translator. [`translate_function`] validates each operator with wasmparser's
//! function validator, then translates it with a `cranelift_frontend::FunctionBuilder`:
//! locals are SSA `Variable`s, the operand stack is a `Vec<ir::Value>` and structured control
//! flow lives in [`control`]. Numeric and memory operators are in [`ops`], SIMD operators in
//! `simd.rs`, and everything that touches the VM context (memories, tables, globals, calls,
//! builtins, epoch checks) in [`func_env`], exception handling (`throw`, `throw_ref`, calls
//! inside `try_table`) in `exceptions.rs`. The output goes to `codegen.rs`.

mod control;
mod exceptions;
mod func_env;
mod ops;
mod simd;
#[cfg(test)]
mod tests;

use func_env::CallMode;
pub(crate) use func_env::FuncEnvironment;

use crate::config::Tunables;
use crate::error::{CompileError, Result};
use crate::module::{FunctionBodyData, ModuleTranslation};
use control::{Catch, Frame, TranslationState};
use cranelift_codegen::ir::{
    self, types, AbiParam, ArgumentPurpose, GlobalValueData, InstBuilder, MemFlagsData, Signature,
    SourceLoc, TrapCode, UserFuncName,
};
use cranelift_codegen::isa::{CallConv, TargetIsa};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use kiln_environ::builtins::BuiltinFunctionIndex;
use kiln_environ::vmoffsets::STORE_CONTEXT_STACK_LIMIT;
use kiln_environ::{FuncType, TrapKind, VMOffsets, ValType};
use wasmparser::{BlockType, Operator};

/// Cranelift signature of a wasm function: CallConv::Tail, params (callee_vmctx: pointer,
/// caller_vmctx: pointer, wasm params...), returns = wasm results. v128 as I8X16, funcref,
/// externref and exnref as I64 (pointer type).
pub fn wasm_signature(isa: &dyn TargetIsa, ty: &FuncType) -> Signature {
    let ptr = isa.pointer_type();
    let mut sig = Signature::new(CallConv::Tail);
    sig.params
        .push(AbiParam::special(ptr, ArgumentPurpose::VMContext));
    sig.params.push(AbiParam::new(ptr));
    sig.params
        .extend(ty.params.iter().map(|t| AbiParam::new(ir_type(*t))));
    sig.returns
        .extend(ty.results.iter().map(|t| AbiParam::new(ir_type(*t))));
    sig
}

/// Cranelift type of a wasm value type.
pub fn ir_type(ty: ValType) -> ir::Type {
    match ty {
        ValType::I32 => types::I32,
        ValType::I64 => types::I64,
        ValType::F32 => types::F32,
        ValType::F64 => types::F64,
        ValType::V128 => types::I8X16,
        ValType::FuncRef | ValType::ExternRef | ValType::ExnRef => types::I64,
    }
}

/// Cranelift type of a wasmparser value type (any reference is a 64-bit word).
fn parser_ir_type(ty: wasmparser::ValType) -> ir::Type {
    match ty {
        wasmparser::ValType::I32 => types::I32,
        wasmparser::ValType::I64 => types::I64,
        wasmparser::ValType::F32 => types::F32,
        wasmparser::ValType::F64 => types::F64,
        wasmparser::ValType::V128 => types::I8X16,
        wasmparser::ValType::Ref(_) => types::I64,
    }
}

/// First user trap code; `TrapKind` k is `TrapCode::user(USER_TRAP_BASE + k)`.
const USER_TRAP_BASE: u8 = 1;

/// The Cranelift trap code this translator emits for a kiln trap kind.
pub(crate) fn trap_code(kind: TrapKind) -> TrapCode {
    match kind {
        TrapKind::StackOverflow => TrapCode::STACK_OVERFLOW,
        TrapKind::MemoryOutOfBounds => TrapCode::HEAP_OUT_OF_BOUNDS,
        TrapKind::IntegerOverflow => TrapCode::INTEGER_OVERFLOW,
        TrapKind::IntegerDivisionByZero => TrapCode::INTEGER_DIVISION_BY_ZERO,
        TrapKind::BadConversionToInteger => TrapCode::BAD_CONVERSION_TO_INTEGER,
        other => TrapCode::unwrap_user(USER_TRAP_BASE + other as u8),
    }
}

/// Maps a Cranelift trap code from the code this translator emits to the kiln trap kind.
pub fn trap_kind(code: ir::TrapCode) -> Option<TrapKind> {
    Some(match code {
        TrapCode::STACK_OVERFLOW => TrapKind::StackOverflow,
        TrapCode::HEAP_OUT_OF_BOUNDS => TrapKind::MemoryOutOfBounds,
        TrapCode::INTEGER_OVERFLOW => TrapKind::IntegerOverflow,
        TrapCode::INTEGER_DIVISION_BY_ZERO => TrapKind::IntegerDivisionByZero,
        TrapCode::BAD_CONVERSION_TO_INTEGER => TrapKind::BadConversionToInteger,
        other => {
            let raw = other.as_raw().get();
            TrapKind::from_u8(raw.checked_sub(USER_TRAP_BASE)?)?
        }
    })
}

/// The parameter and result types of a block type.
fn block_signature(
    module: &ModuleTranslation<'_>,
    ty: BlockType,
) -> Result<(Vec<ir::Type>, Vec<ir::Type>)> {
    Ok(match ty {
        BlockType::Empty => (Vec::new(), Vec::new()),
        BlockType::Type(t) => (Vec::new(), vec![parser_ir_type(t)]),
        BlockType::FuncType(i) => {
            let ft = module
                .types
                .get(i as usize)
                .ok_or_else(|| CompileError::msg(format!("unknown type {i}")))?;
            (
                ft.params.iter().map(|t| ir_type(*t)).collect(),
                ft.results.iter().map(|t| ir_type(*t)).collect(),
            )
        }
    })
}

/// Whether `op` belongs to the SIMD proposal (handled by `simd.rs`).
fn is_simd_operator(op: &Operator<'_>) -> bool {
    macro_rules! simd_match {
        ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
            match op {
                $( Operator::$op { .. } => true, )*
                _ => false,
            }
        };
    }
    wasmparser::for_each_visit_simd_operator!(simd_match)
}

/// Translates (and validates) defined function `def_index` (index among defined functions).
/// Functions are named `ir::UserFuncName::user(0, func_index)` (func_index = whole index
/// space). Direct calls to another wasm function reference `ExternalName::User` with
/// namespace 0 and index = callee function index (colocated). Calls to imported functions go
/// through vmctx (VMFunctionImport). Builtins are called indirectly through the builtin table
/// with the target's default call conv. Every instruction carries a source location (the wasm
/// byte offset of its operator).
pub fn translate_function(
    module: &ModuleTranslation<'_>,
    isa: &dyn TargetIsa,
    tunables: &Tunables,
    def_index: u32,
    body: FunctionBodyData<'_>,
) -> Result<ir::Function, CompileError> {
    translate_function_with_debug(module, isa, tunables, def_index, body, false)
}

/// Like [`translate_function`]; with `debug_info`, every value a wasm local takes (and the
/// vmctx) carries a Cranelift value label ([`crate::debug::local_label`],
/// [`crate::debug::vmctx_label`]) so code generation reports where it lives.
pub fn translate_function_with_debug(
    module: &ModuleTranslation<'_>,
    isa: &dyn TargetIsa,
    tunables: &Tunables,
    def_index: u32,
    body: FunctionBodyData<'_>,
    debug_info: bool,
) -> Result<ir::Function, CompileError> {
    let func_index = module
        .num_imported_funcs
        .checked_add(def_index)
        .ok_or_else(|| CompileError::msg("function index overflow"))?;
    let type_index = *module
        .functions
        .get(func_index as usize)
        .ok_or_else(|| CompileError::msg(format!("unknown function {func_index}")))?;
    let func_ty = module
        .types
        .get(type_index as usize)
        .ok_or_else(|| CompileError::msg(format!("unknown type {type_index}")))?;

    let FunctionBodyData { body, validator } = body;
    let mut validator = validator.into_validator(Default::default());
    let mut func = ir::Function::with_name_signature(
        UserFuncName::user(0, func_index),
        wasm_signature(isa, func_ty),
    );
    if debug_info {
        func.collect_debug_info();
    }
    let mut fctx = FunctionBuilderContext::new();
    let mut builder = FunctionBuilder::new(&mut func, &mut fctx);
    let start = body.range().start;
    builder.set_srcloc(SourceLoc::new(start as u32));

    let entry = builder.create_block();
    builder.append_block_params_for_function_params(entry);
    builder.switch_to_block(entry);
    builder.seal_block(entry);
    let params = builder.block_params(entry).to_vec();
    let vmctx = params[0];
    builder.set_val_label(vmctx, crate::debug::vmctx_label());

    // Prologue stack check: Cranelift compares the stack pointer with this limit.
    let vmctx_gv = builder.create_global_value(GlobalValueData::VMContext);
    let flags = builder
        .func
        .dfg
        .mem_flags
        .insert(MemFlagsData::trusted().with_readonly())
        .map_err(|_| CompileError::msg("too many memory flags"))?;
    let store_ctx = builder.create_global_value(GlobalValueData::Load {
        base: vmctx_gv,
        offset: (VMOffsets::vmctx_store_context() as i32).into(),
        global_type: isa.pointer_type(),
        flags,
    });
    let limit = builder.create_global_value(GlobalValueData::Load {
        base: store_ctx,
        offset: (STORE_CONTEXT_STACK_LIMIT as i32).into(),
        global_type: isa.pointer_type(),
        flags,
    });
    builder.func.stack_limit = Some(limit);

    // Locals: parameters, then declared locals (zero-initialised).
    let mut locals: Vec<Variable> = Vec::new();
    for (p, t) in params[2..].iter().zip(&func_ty.params) {
        let var = builder.declare_var(ir_type(*t));
        builder.def_var(var, *p);
        builder.set_val_label(*p, crate::debug::local_label(locals.len() as u32));
        locals.push(var);
    }
    let mut locals_reader = body.get_locals_reader()?;
    for _ in 0..locals_reader.get_count() {
        let offset = locals_reader.original_position();
        let (count, ty) = locals_reader.read()?;
        validator.define_locals(offset, count, ty)?;
        let ty = parser_ir_type(ty);
        for _ in 0..count {
            let var = builder.declare_var(ty);
            let zero = ops::zero(&mut builder, ty);
            builder.def_var(var, zero);
            builder.set_val_label(zero, crate::debug::local_label(locals.len() as u32));
            locals.push(var);
        }
    }

    let mut env = FuncEnvironment::new(module, isa, tunables, vmctx);
    env.epoch_function_entry(&mut builder);
    let mut keep_alive_budget = KEEP_ALIVE_BUDGET;
    let keep_alive = debug_info.then(|| {
        builder.create_sized_stack_slot(ir::StackSlotData::new(
            ir::StackSlotKind::ExplicitSlot,
            KEEP_ALIVE_SLOT_SIZE,
            4,
        ))
    });

    let results: Vec<ir::Type> = func_ty.results.iter().map(|t| ir_type(*t)).collect();
    let mut state = TranslationState {
        stack: Vec::new(),
        control: Vec::new(),
        reachable: true,
        handler_entries: 0,
    };
    state.block(&mut builder, &[], &results)?;

    let mut reader = body.get_operators_reader()?;
    let mut labelled = Vec::new();
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset()?;
        validator.op(offset, &op)?;
        builder.set_srcloc(SourceLoc::new(offset as u32));
        let mut t = Translator {
            builder: &mut builder,
            state: &mut state,
            env: &mut env,
            locals: &locals,
            results: results.len(),
            keep_alive,
            keep_alive_budget: &mut keep_alive_budget,
        };
        t.operator(&op).map_err(|e| match e.offset {
            Some(_) => e,
            None => CompileError::at(offset, e.message),
        })?;
        if debug_info && state.reachable {
            crate::debug::label_operand_stack(&mut builder, &state.stack, &mut labelled);
        }
    }
    let end = reader.original_position();
    // Checks that every frame was closed and nothing follows the final `end` (the validator
    // itself rejects operators after it).
    reader.finish()?;
    if !state.control.is_empty() {
        return Err(CompileError::at(
            end,
            "control frames remain at end of function",
        ));
    }
    builder.seal_all_blocks();
    if debug_info {
        crate::debug::move_labels_off_aliases(&mut builder.func.dfg);
    }
    builder.finalize(isa.frontend_config());
    Ok(func)
}

/// Per-operator translation context.
struct Translator<'s, 'b, 'e> {
    builder: &'s mut FunctionBuilder<'b>,
    state: &'s mut TranslationState,
    env: &'s mut FuncEnvironment<'e>,
    locals: &'s [Variable],
    results: usize,
    /// Under `-g`: the stack slot of [`Translator::keep_alive`].
    keep_alive: Option<ir::StackSlot>,
    /// How many more local keep-alive stores the function may get.
    keep_alive_budget: &'s mut usize,
}

/// Local keep-alive stores per function: each exit stores every local, so a function with
/// many locals and many exits is held to this many (then only the vmctx is kept alive), and
/// `-g` code stays linear in the input's size.
const KEEP_ALIVE_BUDGET: usize = 1 << 16;

/// Size of the `-g` keep-alive slot: the widest local (`v128`).
const KEEP_ALIVE_SLOT_SIZE: u32 = 16;

impl Translator<'_, '_, '_> {
    /// `unreachable`: a `trap`. Under `-g`, Cranelift treats a block ending in `trap` as cold
    /// and gives cold code no value locations, so the trap is instead a `trapnz` of the vmctx
    /// (never null: it always traps) followed by a jump to a block, never reached, that stores
    /// the vmctx and every local into the keep-alive slot and loops. Those stores keep the
    /// values in their homes through the trapping branch, which the debug info extends to the
    /// out-of-line trap instruction ([`crate::debug`]'s trap-site coverage).
    fn unreachable(&mut self) {
        let code = trap_code(TrapKind::UnreachableCodeReached);
        if self.keep_alive.is_none() {
            self.builder.ins().trap(code);
            return;
        }
        let vmctx = self.env.vmctx;
        self.builder.ins().trapnz(vmctx, code);
        let values = self.kept_values();
        let never = self.builder.create_block();
        self.builder.ins().jump(never, &[]);
        self.builder.switch_to_block(never);
        self.store_to_keep_alive_slot(&values);
        self.builder.ins().jump(never, &[]);
        self.builder.seal_block(never);
    }

    /// Under `-g`, before each exit (return, tail call, throw): stores the vmctx and every
    /// local's current value into a scratch stack slot. Cranelift keeps a value in its
    /// register or spill slot only until its last use, and every variable location needs
    /// the vmctx (memory base) and often a local (clang's frame base); these uses keep them,
    /// and so their value-label ranges, alive to the end of the function, so trap sites and
    /// the code after the last real use are covered. Without `-g` nothing is emitted.
    fn keep_alive(&mut self) {
        if self.keep_alive.is_none() {
            return;
        }
        let values = self.kept_values();
        self.store_to_keep_alive_slot(&values);
    }

    /// The vmctx and, while the budget lasts, every local's current value.
    fn kept_values(&mut self) -> Vec<ir::Value> {
        let mut values = vec![self.env.vmctx];
        if let Some(left) = self.keep_alive_budget.checked_sub(self.locals.len()) {
            *self.keep_alive_budget = left;
            values.extend(self.locals.iter().map(|&var| self.builder.use_var(var)));
        }
        values
    }

    /// Stores each of `values` into the `-g` keep-alive slot (if any).
    fn store_to_keep_alive_slot(&mut self, values: &[ir::Value]) {
        let Some(slot) = self.keep_alive else {
            return;
        };
        let ptr = self.env.pointer_type;
        for &value in values {
            self.builder.ins().stack_store(ptr, value, slot, 0);
        }
    }

    fn local(&self, index: u32) -> Result<Variable> {
        self.locals
            .get(index as usize)
            .copied()
            .ok_or_else(|| CompileError::msg(format!("unknown local {index}")))
    }

    fn func_type(&self, index: u32) -> Result<&FuncType> {
        let m = self.env.module;
        m.functions
            .get(index as usize)
            .and_then(|t| m.types.get(*t as usize))
            .ok_or_else(|| CompileError::msg(format!("unknown function {index}")))
    }

    fn type_at(&self, index: u32) -> Result<&FuncType> {
        self.env
            .module
            .types
            .get(index as usize)
            .ok_or_else(|| CompileError::msg(format!("unknown type {index}")))
    }

    fn iconst32(&mut self, v: u32) -> ir::Value {
        self.builder.ins().iconst(types::I32, i64::from(v))
    }

    fn builtin(&mut self, which: BuiltinFunctionIndex, args: &[ir::Value]) -> Option<ir::Value> {
        self.env.call_builtin(self.builder, which, args)
    }

    /// Translates one (already validated) operator.
    fn operator(&mut self, op: &Operator<'_>) -> Result<()> {
        if !self.state.reachable {
            return self.unreachable_operator(op);
        }
        let b = &mut *self.builder;
        let st = &mut *self.state;
        match op {
            Operator::Unreachable => {
                self.unreachable();
                self.state.reachable = false;
            }
            Operator::Nop => {}
            Operator::Block { blockty } => {
                let (p, r) = block_signature(self.env.module, *blockty)?;
                st.block(b, &p, &r)?;
            }
            Operator::Loop { blockty } => {
                let (p, r) = block_signature(self.env.module, *blockty)?;
                st.loop_(b, &p, &r)?;
                self.env.epoch_check(b);
            }
            Operator::If { blockty } => {
                let (p, r) = block_signature(self.env.module, *blockty)?;
                let cond = st.pop()?;
                st.if_(b, cond, &p, &r)?;
            }
            Operator::TryTable { try_table } => {
                let (p, r) = block_signature(self.env.module, try_table.ty)?;
                let catches = self.catches(&try_table.catches)?;
                self.state.try_table(self.builder, &p, &r, catches)?;
            }
            Operator::Throw { tag_index } => {
                let n = self
                    .env
                    .module
                    .tag_params(*tag_index)
                    .ok_or_else(|| CompileError::msg(format!("unknown tag {tag_index}")))?
                    .len();
                let args = self.state.popn(n)?;
                let handlers = self.state.handlers()?;
                self.keep_alive();
                self.env.throw(self.builder, *tag_index, &args, &handlers)?;
                self.state.reachable = false;
            }
            Operator::ThrowRef => {
                let exn = self.state.pop()?;
                let handlers = self.state.handlers()?;
                self.keep_alive();
                self.env.throw_ref(self.builder, exn, &handlers);
                self.state.reachable = false;
            }
            Operator::Else => st.else_(b)?,
            Operator::End => self.end()?,
            Operator::Br { relative_depth } => st.br(b, *relative_depth)?,
            Operator::BrIf { relative_depth } => st.br_if(b, *relative_depth)?,
            Operator::BrTable { targets } => st.br_table(b, targets)?,
            Operator::Return => {
                let vals = st.peekn(self.results)?.to_vec();
                self.keep_alive();
                self.builder.ins().return_(&vals);
                self.state.reachable = false;
            }
            Operator::Call { function_index } => {
                let n = self.func_type(*function_index)?.params.len();
                let args = self.state.popn(n)?;
                let handlers = self.state.handlers()?;
                let res = self.env.call(
                    self.builder,
                    *function_index,
                    &args,
                    CallMode::Normal(&handlers),
                )?;
                self.state.stack.extend(res);
            }
            Operator::ReturnCall { function_index } => {
                let n = self.func_type(*function_index)?.params.len();
                let args = self.state.popn(n)?;
                self.keep_alive();
                self.env
                    .call(self.builder, *function_index, &args, CallMode::Tail)?;
                self.state.reachable = false;
            }
            Operator::CallIndirect {
                type_index,
                table_index,
            } => {
                let n = self.type_at(*type_index)?.params.len();
                let elem = self.state.pop()?;
                let args = self.state.popn(n)?;
                let handlers = self.state.handlers()?;
                let res = self.env.call_indirect(
                    self.builder,
                    *type_index,
                    *table_index,
                    elem,
                    &args,
                    CallMode::Normal(&handlers),
                )?;
                self.state.stack.extend(res);
            }
            Operator::ReturnCallIndirect {
                type_index,
                table_index,
            } => {
                let n = self.type_at(*type_index)?.params.len();
                let elem = self.state.pop()?;
                let args = self.state.popn(n)?;
                self.keep_alive();
                self.env.call_indirect(
                    self.builder,
                    *type_index,
                    *table_index,
                    elem,
                    &args,
                    CallMode::Tail,
                )?;
                self.state.reachable = false;
            }
            Operator::Drop => {
                st.pop()?;
            }
            Operator::Select | Operator::TypedSelect { .. } => {
                let (x, y, c) = st.pop3()?;
                let v = b.ins().select(c, x, y);
                st.push(v);
            }
            Operator::LocalGet { local_index } => {
                let var = self.local(*local_index)?;
                let v = self.builder.use_var(var);
                self.builder
                    .set_val_label(v, crate::debug::local_label(*local_index));
                self.state.push(v);
            }
            Operator::LocalSet { local_index } => {
                let var = self.local(*local_index)?;
                let v = self.state.pop()?;
                self.builder.def_var(var, v);
                self.builder
                    .set_val_label(v, crate::debug::local_label(*local_index));
            }
            Operator::LocalTee { local_index } => {
                let var = self.local(*local_index)?;
                let v = *self
                    .state
                    .peekn(1)?
                    .first()
                    .ok_or_else(|| CompileError::msg("operand stack underflow"))?;
                self.builder.def_var(var, v);
                self.builder
                    .set_val_label(v, crate::debug::local_label(*local_index));
            }
            Operator::GlobalGet { global_index } => {
                let v = self.env.global_get(self.builder, *global_index)?;
                self.state.push(v);
            }
            Operator::GlobalSet { global_index } => {
                let v = self.state.pop()?;
                self.env.global_set(self.builder, *global_index, v);
            }
            Operator::RefNull { .. } => {
                let v = b.ins().iconst(types::I64, 0);
                st.push(v);
            }
            Operator::RefIsNull => {
                let r = st.pop()?;
                let c = b.ins().icmp_imm_u(ir::condcodes::IntCC::Equal, r, 0);
                let v = b.ins().uextend(types::I32, c);
                st.push(v);
            }
            Operator::RefFunc { function_index } => {
                let v = self.env.ref_func(self.builder, *function_index)?;
                self.state.push(v);
            }
            Operator::TableGet { table } => {
                let i = self.state.pop()?;
                let v = self.env.table_get(self.builder, *table, i);
                self.state.push(v);
            }
            Operator::TableSet { table } => {
                let (i, v) = self.state.pop2()?;
                self.env.table_set(self.builder, *table, i, v);
            }
            Operator::TableSize { table } => {
                let n = self.env.table_size64(self.builder, *table);
                let v = self.builder.ins().ireduce(types::I32, n);
                self.state.push(v);
            }
            Operator::TableGrow { table } => {
                let (init, delta) = self.state.pop2()?;
                let t = self.iconst32(*table);
                let v = self.builtin(BuiltinFunctionIndex::table_grow, &[t, delta, init]);
                let v = v.ok_or_else(|| CompileError::msg("table_grow has no result"))?;
                self.state.push(v);
            }
            Operator::TableFill { table } => {
                let (dst, val, len) = self.state.pop3()?;
                let t = self.iconst32(*table);
                self.builtin(BuiltinFunctionIndex::table_fill, &[t, dst, val, len]);
            }
            Operator::TableCopy {
                dst_table,
                src_table,
            } => {
                let (dst, src, len) = self.state.pop3()?;
                let d = self.iconst32(*dst_table);
                let s = self.iconst32(*src_table);
                self.builtin(BuiltinFunctionIndex::table_copy, &[d, s, dst, src, len]);
            }
            Operator::TableInit { elem_index, table } => {
                let (dst, src, len) = self.state.pop3()?;
                let t = self.iconst32(*table);
                let e = self.iconst32(*elem_index);
                self.builtin(BuiltinFunctionIndex::table_init, &[t, e, dst, src, len]);
            }
            Operator::ElemDrop { elem_index } => {
                let e = self.iconst32(*elem_index);
                self.builtin(BuiltinFunctionIndex::elem_drop, &[e]);
            }
            Operator::MemorySize { mem } => {
                let len = self.env.memory_length(self.builder, *mem);
                let shift = i64::from(self.env.memory_page_size_log2(*mem));
                let mut v = self.builder.ins().ushr_imm_u(len, shift);
                if !self.env.memory_is_64(*mem) {
                    v = self.builder.ins().ireduce(types::I32, v);
                }
                self.state.push(v);
            }
            Operator::MemoryGrow { mem } => {
                let delta = self.state.pop()?;
                let delta = self.env.index_to_i64(self.builder, delta);
                let m = self.iconst32(*mem);
                let v = self
                    .builtin(BuiltinFunctionIndex::memory_grow, &[m, delta])
                    .ok_or_else(|| CompileError::msg("memory_grow has no result"))?;
                let v = if self.env.memory_is_64(*mem) {
                    v
                } else {
                    self.builder.ins().ireduce(types::I32, v)
                };
                self.state.push(v);
            }
            Operator::MemoryFill { mem } => {
                let (dst, val, len) = self.state.pop3()?;
                let dst = self.env.index_to_i64(self.builder, dst);
                let len = self.env.index_to_i64(self.builder, len);
                let m = self.iconst32(*mem);
                self.builtin(BuiltinFunctionIndex::memory_fill, &[m, dst, val, len]);
            }
            Operator::MemoryCopy { dst_mem, src_mem } => {
                let (dst, src, len) = self.state.pop3()?;
                let dst = self.env.index_to_i64(self.builder, dst);
                let src = self.env.index_to_i64(self.builder, src);
                let len = self.env.index_to_i64(self.builder, len);
                let d = self.iconst32(*dst_mem);
                let s = self.iconst32(*src_mem);
                self.builtin(BuiltinFunctionIndex::memory_copy, &[d, dst, s, src, len]);
            }
            Operator::MemoryInit { data_index, mem } => {
                let (dst, src, len) = self.state.pop3()?;
                let dst = self.env.index_to_i64(self.builder, dst);
                let m = self.iconst32(*mem);
                let d = self.iconst32(*data_index);
                self.builtin(BuiltinFunctionIndex::memory_init, &[m, d, dst, src, len]);
            }
            Operator::DataDrop { data_index } => {
                let d = self.iconst32(*data_index);
                self.builtin(BuiltinFunctionIndex::data_drop, &[d]);
            }
            op if is_simd_operator(op) => {
                simd::translate_simd_operator(op, self.builder, &mut self.state.stack, self.env)?;
            }
            op => {
                if !ops::translate(op, self.builder, self.state, self.env)? {
                    return Err(CompileError::msg(format!("unsupported operator {op:?}")));
                }
            }
        }
        Ok(())
    }

    /// The catch clauses of a `try_table`, each with a fresh landing block.
    fn catches(&mut self, clauses: &[wasmparser::Catch]) -> Result<Vec<Catch>> {
        use wasmparser::Catch as C;
        let mut out = Vec::with_capacity(clauses.len());
        for c in clauses {
            let (tag, label, with_ref) = match *c {
                C::One { tag, label } => (Some(tag), label, false),
                C::OneRef { tag, label } => (Some(tag), label, true),
                C::All { label } => (None, label, false),
                C::AllRef { label } => (None, label, true),
            };
            let payload = match tag {
                Some(t) => self
                    .env
                    .module
                    .tag_params(t)
                    .ok_or_else(|| CompileError::msg(format!("unknown tag {t}")))?
                    .iter()
                    .map(|v| ir_type(*v))
                    .collect(),
                None => Vec::new(),
            };
            let landing = self.builder.create_block();
            self.builder
                .append_block_param(landing, self.env.pointer_type);
            self.builder.set_cold_block(landing);
            out.push(Catch {
                tag,
                label,
                payload,
                with_ref,
                landing,
                used: false,
            });
        }
        Ok(out)
    }

    /// `end`: closes a frame; at the end of the function body, returns.
    fn end(&mut self) -> Result<()> {
        let mut unpack = exceptions::unpack_payload;
        if self.state.end(self.builder, &mut unpack)? && self.state.reachable {
            let vals = self.state.peekn(self.results)?.to_vec();
            self.keep_alive();
            self.builder.ins().return_(&vals);
            self.state.reachable = false;
        }
        Ok(())
    }

    /// An operator in unreachable code: only nesting and `else`/`end` matter.
    fn unreachable_operator(&mut self, op: &Operator<'_>) -> Result<()> {
        match op {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::TryTable { .. } => {
                self.state.control.push(Frame::Dead);
            }
            Operator::Else => self.state.else_(self.builder)?,
            Operator::End => self.end()?,
            _ => {}
        }
        Ok(())
    }
}

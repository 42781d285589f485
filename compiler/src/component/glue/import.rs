//! Import trampolines: the compiled glue between a guest calling a lowered host import and
//! the host function (contract in `kiln_environ::component::glue`).
//!
//! The trampoline has the array-call convention and sits behind the lowered function's host
//! context: the guest's flat arguments arrive in `ValRaw` slots, are lifted (validated) into a
//! host C `args` struct on the trampoline's stack, the host callback runs, and its host C result
//! is lowered back into the guest, flat into slot 0 or through the caller's return pointer.

use super::builder::{mflags, Glue};
use super::{host_params_layout, host_params_type};
use crate::translate::ir_type;
use cranelift_codegen::ir::{
    self, condcodes::IntCC, types, AbiParam, InstBuilder, StackSlotData, StackSlotKind,
    UserFuncName,
};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use kiln_environ::component::abi::{
    field_offsets, flatten_type, layout, params_layout, shape_with, task_return_signature,
    AbiContext,
};
use kiln_environ::component::glue::{
    ComponentBuiltin, GlueTrap, IMPORT_CTX_CVMCTX, IMPORT_CTX_DATA, IMPORT_CTX_HOST_CALL,
};
use kiln_environ::component::host::{host_field_offsets, host_layout};
use kiln_environ::component::vmctx::FLAG_MAY_LEAVE;
use kiln_environ::component::{CanonicalOptions, ComponentFuncType, VMComponentOffsets};
use kiln_environ::vmoffsets::VAL_RAW_SIZE;

/// The status an `async` lowering returns for a call that finished (CanonicalABI.md
/// `Subtask.State.RETURNED`).
const SUBTASK_RETURNED: i64 = 2;

fn stack_buffer(b: &mut FunctionBuilder<'_>, size: u32) -> ir::Value {
    let slot = b.create_sized_stack_slot(StackSlotData::new(
        StackSlotKind::ExplicitSlot,
        size.max(8),
        4,
    ));
    b.ins().stack_addr(types::I64, slot, 0)
}

/// The callee of a fused adapter.
pub struct Adapter<'a> {
    /// The lift it calls.
    pub lift: u32,
    /// The lift's function type.
    pub ty: &'a ComponentFuncType,
    /// The lift's canonical options.
    pub opts: &'a CanonicalOptions,
    /// Caller and callee are the same component instance or one contains the other: every
    /// call traps with "cannot enter component instance".
    pub reentrant: bool,
}

/// Builds the trampoline of lowered function `index`: an import trampoline calling the host
/// callback, or, with `adapter`, a fused adapter calling lift `adapter.0` of the same plan (the
/// callee's lowering, call, lifting and post-return inlined, the values crossing through the
/// host C representation on the adapter's stack).
pub fn import_trampoline(
    isa: &dyn TargetIsa,
    offsets: VMComponentOffsets,
    index: u32,
    ty: &ComponentFuncType,
    opts: &CanonicalOptions,
    adapter: Option<Adapter<'_>>,
) -> ir::Function {
    let mut sig = ir::Signature::new(isa.default_call_conv());
    for _ in 0..4 {
        sig.params.push(AbiParam::new(types::I64));
    }
    let mut func = ir::Function::with_name_signature(UserFuncName::user(3, index), sig);
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let p = b.block_params(entry).to_vec();
    let (host_ctx, values) = (p[0], p[2]);
    let cvmctx = b
        .ins()
        .load(types::I64, mflags(), host_ctx, IMPORT_CTX_CVMCTX as i32);
    let mut g = Glue::new(&mut b, isa, cvmctx, offsets, opts.clone());

    // The calling instance must be allowed to call out (CanonicalABI.md `canon_lower`). Every
    // slot this reaches was filled when the plan defined it, before any code could call here.
    let flags = g.load_flags();
    let leave = g.b.ins().band_imm_s(flags, i64::from(FLAG_MAY_LEAVE));
    let cannot = g.b.ins().icmp_imm_s(IntCC::Equal, leave, 0);
    g.trap_if(cannot, GlueTrap::CannotLeave);
    if adapter.as_ref().is_some_and(|a| a.reentrant) {
        g.trap(GlueTrap::CannotEnter);
        let dead = g.b.create_block();
        g.b.switch_to_block(dead);
    }

    let scoped = super::lends_borrows(ty);
    if scoped {
        g.builtin(ComponentBuiltin::borrow_scope_begin, &[]);
    }

    // Flat core parameters from the value array.
    let shape = shape_with(ty, AbiContext::Lower, opts);
    let core_ty = shape.core.clone();
    let flat: Vec<ir::Value> = core_ty
        .params
        .iter()
        .enumerate()
        .map(|(i, t)| {
            g.b.ins().load(
                ir_type(*t),
                mflags(),
                values,
                (i as u32 * VAL_RAW_SIZE) as i32,
            )
        })
        .collect();

    // Lift the arguments into the host `args` struct. In a fused adapter, strings stay in the
    // caller's memory until the callee's lowering transcodes them into the callee's.
    g.lift_raw = adapter.is_some();
    let args = stack_buffer(g.b, host_params_layout(ty).size);
    let hoffs = host_field_offsets(&host_params_type(ty));
    if shape.params_in_memory {
        let ptr = flat[0];
        let l = params_layout(ty);
        g.check_align(ptr, l.align, GlueTrap::ParamsMisaligned);
        let p64 = g.b.ins().uextend(types::I64, ptr);
        let size = g.i64(i64::from(l.size));
        g.check_range(p64, size, GlueTrap::ParamsOutOfBounds);
        let src = g.guest_addr(ptr);
        let goffs = field_offsets(&host_params_type(ty));
        for (((_, t), ho), go) in ty.params.iter().zip(&hoffs).zip(goffs) {
            g.lift_mem(t, src, go as i32, args, *ho as i32);
        }
    } else {
        let mut at = 0;
        for ((_, t), ho) in ty.params.iter().zip(&hoffs) {
            let n = flatten_type(t).len();
            g.lift_flat(t, &flat[at..at + n], args, *ho as i32);
            at += n;
        }
    }

    let results = stack_buffer(g.b, ty.result.as_ref().map_or(8, |r| host_layout(r).size));
    let core_ret = stack_buffer(g.b, 8);
    if let Some(a) = &adapter {
        // Call the lifted function of the callee component.
        let caller_opts = std::mem::replace(&mut g.opts, a.opts.clone());
        g.string_source = Some(caller_opts.string_encoding);
        g.caller = Some(caller_opts.instance);
        super::emit_lifted_call(&mut g, a.lift, a.ty, args, results, core_ret);
        g.opts = caller_opts;
        // An async callee's result came through `task.return`, lifted for the host (UTF-8).
        g.string_source = (!a.opts.async_).then_some(a.opts.string_encoding);
    } else {
        host_call(&mut g, host_ctx, args, results);
    }
    if scoped {
        g.builtin(ComponentBuiltin::borrow_scope_end, &[]);
    }

    // Lower the result into the guest (the caller's realloc may not leave meanwhile).
    g.set_flag(FLAG_MAY_LEAVE, false);
    if let Some(rt) = &ty.result {
        if shape.result_in_memory {
            let retptr = *flat.last().expect("return pointer parameter");
            let l = layout(rt);
            g.check_align(retptr, l.align, GlueTrap::ReturnMisaligned);
            let p64 = g.b.ins().uextend(types::I64, retptr);
            let size = g.i64(i64::from(l.size));
            g.check_range(p64, size, GlueTrap::ReturnOutOfBounds);
            g.lower_mem(rt, results, 0, retptr, 0);
        } else {
            let vals = g.lower_flat(rt, results, 0);
            for (i, v) in vals.into_iter().enumerate() {
                g.b.ins()
                    .store(mflags(), v, values, (i as u32 * VAL_RAW_SIZE) as i32);
            }
        }
    }
    if shape.async_ {
        // The callee ran to completion: the subtask status is RETURNED.
        let returned = g.i32(SUBTASK_RETURNED);
        g.b.ins().store(mflags(), returned, values, 0);
    }
    g.set_flag(FLAG_MAY_LEAVE, true);
    if let Some(a) = &adapter {
        g.opts = a.opts.clone();
        super::emit_post_return(&mut g, a.ty, core_ret);
    }
    g.b.ins().return_(&[]);
    g.finish();
    b.seal_all_blocks();
    b.finalize(isa.frontend_config());
    func
}

/// Builds the trampoline of `canon task.return` (lowered function `index`, whose parameters
/// are the result, `ty`): checks `may_leave`, that the instance's current task waits for a
/// result of this signature, then lifts the arguments into the task's result buffer and marks
/// the result delivered.
pub fn task_return_trampoline(
    isa: &dyn TargetIsa,
    offsets: VMComponentOffsets,
    index: u32,
    ty: &ComponentFuncType,
    opts: &CanonicalOptions,
) -> ir::Function {
    let mut sig = ir::Signature::new(isa.default_call_conv());
    for _ in 0..4 {
        sig.params.push(AbiParam::new(types::I64));
    }
    let mut func = ir::Function::with_name_signature(UserFuncName::user(3, index), sig);
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let p = b.block_params(entry).to_vec();
    let (host_ctx, values) = (p[0], p[2]);
    let cvmctx = b
        .ins()
        .load(types::I64, mflags(), host_ctx, IMPORT_CTX_CVMCTX as i32);
    let mut g = Glue::new(&mut b, isa, cvmctx, offsets, opts.clone());
    // The guest may free what the result points at as soon as `task.return` returns.
    g.result_copy = true;
    let inst = opts.instance;

    let flags = g.load_flags();
    let leave = g.b.ins().band_imm_s(flags, i64::from(FLAG_MAY_LEAVE));
    let cannot = g.b.ins().icmp_imm_s(IntCC::Equal, leave, 0);
    g.trap_if(cannot, GlueTrap::CannotLeave);
    let buf = g.b.ins().load(
        types::I64,
        mflags(),
        cvmctx,
        offsets.task_return(inst) as i32,
    );
    let none = g.b.ins().icmp_imm_s(IntCC::Equal, buf, 0);
    g.trap_if(none, GlueTrap::TaskReturnUnexpected);
    let want = g.b.ins().load(
        types::I64,
        mflags(),
        cvmctx,
        offsets.task_return_signature(inst) as i32,
    );
    let result = ty.params.first().map(|(_, t)| t);
    let mine = task_return_signature(result, opts);
    // Without a memory option of its own, `task.return` accepts any lift memory.
    let want = if opts.memory.is_none() {
        g.b.ins().band_imm_s(want, 0xffff_ffff)
    } else {
        want
    };
    let differs = g.b.ins().icmp_imm_s(IntCC::NotEqual, want, mine as i64);
    g.trap_if(differs, GlueTrap::TaskReturnInvalid);
    let zero = g.i64(0);
    g.b.ins()
        .store(mflags(), zero, cvmctx, offsets.task_return(inst) as i32);

    if let Some(rt) = result {
        let shape = shape_with(ty, AbiContext::Lower, opts);
        let flat: Vec<ir::Value> = shape
            .core
            .params
            .iter()
            .enumerate()
            .map(|(i, t)| {
                g.b.ins().load(
                    ir_type(*t),
                    mflags(),
                    values,
                    (i as u32 * VAL_RAW_SIZE) as i32,
                )
            })
            .collect();
        if shape.params_in_memory {
            let ptr = flat[0];
            let l = layout(rt);
            g.check_align(ptr, l.align, GlueTrap::ParamsMisaligned);
            let p64 = g.b.ins().uextend(types::I64, ptr);
            let size = g.i64(i64::from(l.size));
            g.check_range(p64, size, GlueTrap::ParamsOutOfBounds);
            let src = g.guest_addr(ptr);
            g.lift_mem(rt, src, 0, buf, 0);
        } else {
            g.lift_flat(rt, &flat, buf, 0);
        }
    }
    g.b.ins().return_(&[]);
    g.finish();
    b.seal_all_blocks();
    b.finalize(isa.frontend_config());
    func
}

/// Calls the host callback of the lowered function's host context.
fn host_call(g: &mut Glue<'_, '_>, host_ctx: ir::Value, args: ir::Value, results: ir::Value) {
    let host_call =
        g.b.ins()
            .load(types::I64, mflags(), host_ctx, IMPORT_CTX_HOST_CALL as i32);
    let data =
        g.b.ins()
            .load(types::I64, mflags(), host_ctx, IMPORT_CTX_DATA as i32);
    let mut hsig = ir::Signature::new(g.isa.default_call_conv());
    for _ in 0..3 {
        hsig.params.push(AbiParam::new(types::I64));
    }
    let hsig = g.b.import_signature(hsig);
    g.b.ins()
        .call_indirect(hsig, host_call, &[data, args, results]);
}

//! The host-facing canonical-ABI glue, compiled to native code (Cranelift IR, no
//! interpretation of types at run time).
//!
//! For every `canon lift` of the plan ([`Initializer::Lift`]) this stage builds two functions
//! with the contract of `kiln_environ::component::glue`:
//!
//! - `call(cvmctx, args, results, core_ret)`: checks and clears `may_enter`, lowers the host C
//!   arguments into the callee's flat parameters (or, past `MAX_FLAT_PARAMS`, into guest memory
//!   obtained through `realloc`, validated), calls the core callee through its `VMFuncRef`,
//!   and lifts the result into the host C representation with every validation the canonical
//!   ABI requires ([`lift`]); marks a post-return pending;
//! - `post_return(cvmctx, core_ret)`: runs the guest's post-return function (with `may_leave`
//!   cleared), then re-enables `may_enter`.
//!
//! All glue functions are concatenated into one code blob (they have no relocations: builtins
//! and guest functions are reached through the component VM context), which [`super::emit`]
//! places in the component object; [`GlueOffsets`] records each entry's offset.
//!
//! For every `canon lower` it builds a trampoline ([`import`]): of a host import, calling the
//! host; of a function lifted by another component of the plan, a fused adapter that inlines
//! the callee's lifted call (caller's lifting, callee's lowering, call, callee's lifting,
//! caller's lowering, callee's post-return), the values crossing through the host C
//! representation on the adapter's stack.
//!
//! Resource handles cross through the host's handle table (`resource_lift_*` /
//! `resource_lower_*` builtins); a call whose parameters contain borrows runs inside a borrow
//! scope whose end checks the callee dropped them.

pub mod builder;
pub mod import;
pub mod lift;
pub mod lower;
pub mod strings;

use crate::error::{CompileError, Result};
use crate::translate::ir_type;
use builder::{mflags, Glue};
use cranelift_codegen::ir::{self, types, AbiParam, InstBuilder, UserFuncName};
use cranelift_codegen::isa::TargetIsa;
use cranelift_codegen::{control::ControlPlane, Context};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use kiln_environ::component::abi::{
    layout, params_layout, record_layout, shape_with, task_return_signature, AbiContext,
};
use kiln_environ::component::glue::{ComponentBuiltin, ExportGlue, GlueOffsets, GlueTrap};
use kiln_environ::component::host::{host_field_offsets, host_layout};
use kiln_environ::component::vmctx::{FLAG_MAY_ENTER, FLAG_MAY_LEAVE, FLAG_NEEDS_POST_RETURN};
use kiln_environ::component::{
    CanonicalOptions, ComponentFuncType, ComponentMetadata, FuncSource, Initializer, InterfaceType,
    VMComponentOffsets,
};

/// The compiled glue of a component: one code blob and the entry offsets.
#[derive(Default)]
pub struct CompiledGlue {
    /// Machine code of every glue function, concatenated (16-byte aligned entries).
    pub code: Vec<u8>,
    /// Entry offsets, for the plan.
    pub offsets: GlueOffsets,
    /// Each glue function's offset in `code` and call-frame information (for `.eh_frame`).
    pub unwind: Vec<(u32, cranelift_codegen::isa::unwind::UnwindInfo)>,
}

/// The host `args` struct of a function type: its parameters as a C struct.
pub fn host_params_type(ty: &ComponentFuncType) -> InterfaceType {
    InterfaceType::Tuple(ty.params.iter().map(|(_, t)| t.clone()).collect())
}

/// Size and alignment of the host `args` struct.
pub fn host_params_layout(ty: &ComponentFuncType) -> kiln_environ::component::Layout {
    record_layout(ty.params.iter().map(|(_, t)| host_layout(t)))
}

fn entry_signature(isa: &dyn TargetIsa, n: usize) -> ir::Signature {
    let mut sig = ir::Signature::new(isa.default_call_conv());
    for _ in 0..n {
        sig.params.push(AbiParam::new(types::I64));
    }
    sig
}

/// Whether two function types have the same parameter and result types (names aside).
fn same_types(a: &ComponentFuncType, b: &ComponentFuncType) -> bool {
    a.result == b.result
        && a.params.len() == b.params.len()
        && a.params.iter().zip(&b.params).all(|(x, y)| x.1 == y.1)
}

/// Whether a call of `ty` lends borrow handles (and so needs a borrow scope).
pub fn lends_borrows(ty: &ComponentFuncType) -> bool {
    ty.params.iter().any(|(_, t)| lower::has_borrows(t))
}

/// Builds the `call` entry of a lift.
fn export_call(
    isa: &dyn TargetIsa,
    offsets: VMComponentOffsets,
    index: u32,
    ty: &ComponentFuncType,
    opts: &CanonicalOptions,
) -> ir::Function {
    let mut func = ir::Function::with_name_signature(
        UserFuncName::user(2, index * 2),
        entry_signature(isa, 4),
    );
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let p = b.block_params(entry).to_vec();
    let (cvmctx, args, results, core_ret) = (p[0], p[1], p[2], p[3]);
    let mut g = Glue::new(&mut b, isa, cvmctx, offsets, opts.clone());
    emit_lifted_call(&mut g, index, ty, args, results, core_ret);
    g.b.ins().return_(&[]);
    g.finish();
    b.seal_all_blocks();
    b.finalize(isa.frontend_config());
    func
}

/// Builds the `post_return` entry of a lift.
fn export_post_return(
    isa: &dyn TargetIsa,
    offsets: VMComponentOffsets,
    index: u32,
    ty: &ComponentFuncType,
    opts: &CanonicalOptions,
) -> ir::Function {
    let mut func = ir::Function::with_name_signature(
        UserFuncName::user(2, index * 2 + 1),
        entry_signature(isa, 2),
    );
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let p = b.block_params(entry).to_vec();
    let (cvmctx, core_ret) = (p[0], p[1]);
    let mut g = Glue::new(&mut b, isa, cvmctx, offsets, opts.clone());
    emit_post_return(&mut g, ty, core_ret);
    g.b.ins().return_(&[]);
    g.finish();
    b.seal_all_blocks();
    b.finalize(isa.frontend_config());
    func
}

/// Emits the body of a lifted call (with `g.opts` the lift's options): `may_enter` checked and
/// cleared, the task's `context.get` slots zeroed, the host C arguments at `args` lowered into
/// the callee, the core callee of lift `index` called (its raw result stored at `core_ret`),
/// the result lifted into the host C representation at `results`, and a post-return marked
/// pending.
///
/// An `async` lift delivers its result through `task.return` instead: the task's slots point
/// `task.return` at `results` (with the signature it must have), and after the callee returns
/// the result must have arrived. A stackful task that blocks, or a stackless one (`callback`)
/// that does not exit in its first call, needs an event loop kiln does not have yet: it traps.
pub fn emit_lifted_call(
    g: &mut Glue<'_, '_>,
    index: u32,
    ty: &ComponentFuncType,
    args: ir::Value,
    results: ir::Value,
    core_ret: ir::Value,
) {
    let offsets = g.offsets;
    let shape = shape_with(ty, AbiContext::Lift, &g.opts);
    let inst = g.opts.instance;
    // may_enter: trap when clear (reentrance or a pending post-return), then clear it.
    let flags = g.load_flags();
    let can = g.b.ins().band_imm_s(flags, i64::from(FLAG_MAY_ENTER));
    let cannot = g.b.ins().icmp_imm_s(ir::condcodes::IntCC::Equal, can, 0);
    g.trap_if(cannot, GlueTrap::CannotEnter);
    // While the arguments are lowered (the callee's realloc runs), the callee may not leave.
    let cleared =
        g.b.ins()
            .band_imm_s(flags, !i64::from(FLAG_MAY_ENTER | FLAG_MAY_LEAVE));
    g.store_flags(cleared);
    // A new task: its context-local storage starts zeroed.
    let zero = g.i64(0);
    for slot in 0..2 {
        g.b.ins().store(
            mflags(),
            zero,
            g.cvmctx,
            offsets.task_context(inst, slot) as i32,
        );
    }

    let scoped = lends_borrows(ty);
    if scoped {
        g.builtin(ComponentBuiltin::borrow_scope_begin, &[]);
    }

    // Arguments.
    let hoffs = host_field_offsets(&host_params_type(ty));
    let core_args = if shape.params_in_memory {
        let l = params_layout(ty);
        let size = g.i64(i64::from(l.size));
        let ptr = g.realloc(l.align, size, GlueTrap::ParamsReallocOutOfBounds);
        let tuple = host_params_type(ty);
        let goffs = kiln_environ::component::abi::field_offsets(&tuple);
        for (((_, t), ho), go) in ty.params.iter().zip(&hoffs).zip(goffs) {
            g.lower_mem(t, args, *ho as i32, ptr, go);
        }
        vec![ptr]
    } else {
        let mut v = Vec::new();
        for ((_, t), ho) in ty.params.iter().zip(&hoffs) {
            v.extend(g.lower_flat(t, args, *ho as i32));
        }
        v
    };

    g.set_flag(FLAG_MAY_LEAVE, true);

    if shape.async_ {
        // `task.return` writes the host result here, if its signature is the task's.
        g.b.ins().store(
            mflags(),
            results,
            g.cvmctx,
            offsets.task_return(inst) as i32,
        );
        let sig = task_return_signature(ty.result.as_ref(), &g.opts);
        let sig = g.i64(sig as i64);
        g.b.ins().store(
            mflags(),
            sig,
            g.cvmctx,
            offsets.task_return_signature(inst) as i32,
        );
    }

    // The call: a task of an `async` function type, or an `async` lift, runs on a thread of
    // its own (the runtime's `async_call`); others are a direct call.
    let rets = if ty.is_async || g.opts.async_ {
        emit_async_call(g, index, &shape.core, &core_args)
    } else {
        let slot = offsets.lifted_callee(index);
        g.call_funcref(slot, &shape.core, &core_args)
    };
    if scoped {
        g.builtin(ComponentBuiltin::borrow_scope_end, &[]);
    }
    let zero = g.i64(0);
    g.b.ins().store(mflags(), zero, core_ret, 0);
    if let Some(r) = rets.first() {
        g.b.ins().store(mflags(), *r, core_ret, 0);
    }

    // The result.
    if shape.async_ {
        let pending = g.b.ins().load(
            types::I64,
            mflags(),
            g.cvmctx,
            offsets.task_return(inst) as i32,
        );
        g.trap_if(pending, GlueTrap::NoAsyncResult);
    } else if let Some(rt) = &ty.result {
        if shape.result_in_memory {
            let ptr = rets[0];
            let l = layout(rt);
            g.check_align(ptr, l.align, GlueTrap::ReturnMisaligned);
            let p64 = g.b.ins().uextend(types::I64, ptr);
            let size = g.i64(i64::from(l.size));
            g.check_range(p64, size, GlueTrap::ReturnOutOfBounds);
            let src = g.guest_addr(ptr);
            g.lift_mem(rt, src, 0, results, 0);
        } else {
            g.lift_flat(rt, &rets, results, 0);
        }
    }

    let flags = g.load_flags();
    let pending =
        g.b.ins()
            .bor_imm_s(flags, i64::from(FLAG_NEEDS_POST_RETURN));
    g.store_flags(pending);
}

/// Emits the call of lift `index`'s core callee through the runtime's `async_call` (the task
/// runs on its own thread; the call returns once it resolved): the flat arguments go through
/// a stack buffer, the raw result comes back as an `i64`.
fn emit_async_call(
    g: &mut Glue<'_, '_>,
    index: u32,
    core: &kiln_environ::FuncType,
    args: &[ir::Value],
) -> Vec<ir::Value> {
    let slot = g.b.create_sized_stack_slot(ir::StackSlotData::new(
        ir::StackSlotKind::ExplicitSlot,
        (8 * args.len()).max(8) as u32,
        3,
    ));
    let buf = g.b.ins().stack_addr(types::I64, slot, 0);
    for (i, a) in args.iter().enumerate() {
        let t = g.b.func.dfg.value_type(*a);
        let v = match t {
            types::F32 => {
                let bits = g.b.ins().bitcast(types::I32, ir::MemFlagsData::new(), *a);
                g.b.ins().uextend(types::I64, bits)
            }
            types::F64 => g.b.ins().bitcast(types::I64, ir::MemFlagsData::new(), *a),
            types::I32 => g.b.ins().uextend(types::I64, *a),
            _ => *a,
        };
        g.b.ins().store(mflags(), v, buf, (8 * i) as i32);
    }
    let caller = g.i32(g.caller.map_or(-1, i64::from));
    let lift = g.i32(i64::from(index));
    let n = g.i32(args.len() as i64);
    let raw = g
        .builtin(ComponentBuiltin::async_call, &[caller, lift, buf, n])
        .expect("async_call returns a value");
    if g.opts.async_ {
        // The result came through `task.return`.
        return Vec::new();
    }
    core.results
        .iter()
        .map(|t| match t {
            kiln_environ::ValType::I32 => g.b.ins().ireduce(types::I32, raw),
            kiln_environ::ValType::F32 => {
                let v = g.b.ins().ireduce(types::I32, raw);
                g.b.ins().bitcast(types::F32, ir::MemFlagsData::new(), v)
            }
            kiln_environ::ValType::F64 => {
                g.b.ins().bitcast(types::F64, ir::MemFlagsData::new(), raw)
            }
            _ => raw,
        })
        .collect()
}

/// Emits a lift's post-return (with `g.opts` the lift's options): checks one is pending, runs
/// the guest's post-return function on the raw result at `core_ret` with `may_leave` cleared,
/// then re-enables `may_enter` and `may_leave`.
pub fn emit_post_return(g: &mut Glue<'_, '_>, ty: &ComponentFuncType, core_ret: ir::Value) {
    let offsets = g.offsets;
    let opts = g.opts.clone();
    let flags = g.load_flags();
    let pending =
        g.b.ins()
            .band_imm_s(flags, i64::from(FLAG_NEEDS_POST_RETURN));
    let none =
        g.b.ins()
            .icmp_imm_s(ir::condcodes::IntCC::Equal, pending, 0);
    g.trap_if(none, GlueTrap::NoPendingPostReturn);
    if let Some(pr) = opts.post_return {
        let core_ty = shape_with(ty, AbiContext::Lift, &opts).core;
        let args: Vec<_> = core_ty
            .results
            .iter()
            .map(|t| g.b.ins().load(ir_type(*t), mflags(), core_ret, 0))
            .collect();
        let no_leave = g.b.ins().band_imm_s(flags, !i64::from(FLAG_MAY_LEAVE));
        g.store_flags(no_leave);
        let post_ty = kiln_environ::FuncType {
            params: core_ty.results.clone(),
            results: Vec::new(),
        };
        g.call_funcref(offsets.post_return(pr), &post_ty, &args);
    }
    let flags = g.load_flags();
    let done =
        g.b.ins()
            .band_imm_s(flags, !i64::from(FLAG_NEEDS_POST_RETURN));
    let done =
        g.b.ins()
            .bor_imm_s(done, i64::from(FLAG_MAY_ENTER | FLAG_MAY_LEAVE));
    g.store_flags(done);
}

/// A compiled glue function: its code and call-frame information.
type GlueCode = (Vec<u8>, Option<cranelift_codegen::isa::unwind::UnwindInfo>);

fn compile(isa: &dyn TargetIsa, func: ir::Function, what: &str) -> Result<GlueCode> {
    let mut ctx = Context::for_function(func);
    let code = ctx
        .compile(isa, &mut ControlPlane::default())
        .map_err(|e| {
            CompileError::msg(format!(
                "glue `{what}`: code generation failed: {:?}",
                e.inner
            ))
        })?;
    if !code.buffer.relocs().is_empty() {
        return Err(CompileError::msg(format!(
            "internal error: glue `{what}` needs relocations"
        )));
    }
    let unwind = code.create_unwind_info(isa).map_err(|e| {
        CompileError::msg(format!("glue `{what}`: unwind information failed: {e:?}"))
    })?;
    Ok((code.code_buffer().to_vec(), unwind))
}

/// Compiles the glue of every lift of `metadata`.
pub fn compile_glue(isa: &dyn TargetIsa, metadata: &ComponentMetadata) -> Result<CompiledGlue> {
    let offsets = VMComponentOffsets::new(metadata);
    let mut out = CompiledGlue::default();
    out.offsets.exports = vec![None; metadata.num_lifted as usize];
    let append = |out: &mut CompiledGlue, (bytes, unwind): GlueCode| -> u32 {
        while !out.code.len().is_multiple_of(16) {
            out.code.push(0xcc);
        }
        let at = out.code.len() as u32;
        out.code.extend(bytes);
        out.unwind.extend(unwind.map(|u| (at, u)));
        at
    };
    out.offsets.imports = vec![None; metadata.num_lowered as usize];
    let lifts: std::collections::HashMap<u32, (&ComponentFuncType, &CanonicalOptions)> = metadata
        .initializers
        .iter()
        .filter_map(|i| match i {
            Initializer::Lift {
                index, ty, options, ..
            } => Some((*index, (ty, options))),
            _ => None,
        })
        .collect();
    for init in &metadata.initializers {
        if let Initializer::Lower {
            index,
            callee,
            ty,
            options,
        } = init
        {
            if *callee == FuncSource::TaskReturn {
                if (*index as usize) < out.offsets.imports.len() {
                    let code = compile(
                        isa,
                        import::task_return_trampoline(isa, offsets, *index, ty, options),
                        &format!("task.return[{index}]"),
                    )?;
                    out.offsets.imports[*index as usize] = Some(append(&mut out, code));
                }
                continue;
            }
            let adapter = match callee {
                FuncSource::Import { .. } => None,
                FuncSource::TaskReturn => unreachable!("handled above"),
                FuncSource::Lifted(l) => match lifts.get(l) {
                    Some((lty, lopts)) if same_types(ty, lty) => Some(import::Adapter {
                        lift: *l,
                        ty: lty,
                        opts: lopts,
                        // A call between an instance and itself or one of its ancestors is
                        // reentrance: it traps (as in the reference tests and wasmtime), however
                        // the flags stand at run time.
                        reentrant: metadata.instances_nested(options.instance, lopts.instance),
                    }),
                    _ => continue,
                },
            };
            if (*index as usize) < out.offsets.imports.len() {
                let code = compile(
                    isa,
                    import::import_trampoline(isa, offsets, *index, ty, options, adapter),
                    &format!("lower[{index}]"),
                )?;
                out.offsets.imports[*index as usize] = Some(append(&mut out, code));
            }
            continue;
        }
        let Initializer::Lift {
            index, ty, options, ..
        } = init
        else {
            continue;
        };
        if (*index as usize) >= out.offsets.exports.len() {
            continue;
        }
        let call = compile(
            isa,
            export_call(isa, offsets, *index, ty, options),
            &format!("lift[{index}].call"),
        )?;
        let post = compile(
            isa,
            export_post_return(isa, offsets, *index, ty, options),
            &format!("lift[{index}].post_return"),
        )?;
        let call = append(&mut out, call);
        let post_return = append(&mut out, post);
        out.offsets.exports[*index as usize] = Some(ExportGlue { call, post_return });
    }
    Ok(out)
}

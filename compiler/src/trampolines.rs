//! Stage 4 — trampolines: the entry points between host code and wasm code.
//!
//! - An *array-call* trampoline for every function the host can call: platform C convention,
//!   `fn(callee_vmctx, caller_vmctx, values: *mut ValRaw, len)`. It loads the parameters from
//!   `values`, calls the wasm function, and stores the results back.
//! - A *host* trampoline for every imported function: wasm convention, so compiled code can call
//!   it like any import. When the import is satisfied by a host function, its "vmctx" is a host
//!   function context; the trampoline spills the arguments into a `ValRaw` array and calls the
//!   context's array-call pointer.

use crate::codegen::{compile_ir, CompiledFunction, FunctionKind};
use crate::error::Result;
use crate::module::ModuleTranslation;
use crate::translate::{ir_type, wasm_signature};
use cranelift_codegen::ir::{
    self, AbiParam, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, UserFuncName,
};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use kiln_environ::vmoffsets::{HOST_CTX_ARRAY_CALL, VAL_RAW_SIZE};
use kiln_environ::FuncType;

/// Namespace of trampoline function names (wasm functions use namespace 0).
const TRAMPOLINE_NAMESPACE: u32 = 1;

fn array_signature(isa: &dyn TargetIsa) -> ir::Signature {
    let ptr = isa.pointer_type();
    let mut sig = ir::Signature::new(isa.default_call_conv());
    for _ in 0..4 {
        sig.params.push(AbiParam::new(ptr));
    }
    sig
}

fn flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Builds the array-call trampoline for wasm function `func_index`.
pub fn array_trampoline(isa: &dyn TargetIsa, func_index: u32, ty: &FuncType) -> ir::Function {
    let mut func = ir::Function::with_name_signature(
        UserFuncName::user(TRAMPOLINE_NAMESPACE, func_index * 2),
        array_signature(isa),
    );
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let block = b.create_block();
    b.append_block_params_for_function_params(block);
    b.switch_to_block(block);
    b.seal_block(block);
    let params = b.block_params(block).to_vec();
    let (callee_vmctx, caller_vmctx, values) = (params[0], params[1], params[2]);
    let mut args = vec![callee_vmctx, caller_vmctx];
    for (i, t) in ty.params.iter().enumerate() {
        let v = b.ins().load(
            ir_type(*t),
            flags(),
            values,
            (i as u32 * VAL_RAW_SIZE) as i32,
        );
        args.push(v);
    }
    let sig = b.import_signature(wasm_signature(isa, ty));
    let name = b
        .func
        .declare_imported_user_function(ir::UserExternalName::new(0, func_index));
    let callee = b.import_function(ir::ExtFuncData {
        name: ir::ExternalName::user(name),
        signature: sig,
        colocated: true,
        patchable: false,
    });
    let call = b.ins().call(callee, &args);
    let results = b.inst_results(call).to_vec();
    for (i, r) in results.into_iter().enumerate() {
        b.ins()
            .store(flags(), r, values, (i as u32 * VAL_RAW_SIZE) as i32);
    }
    b.ins().return_(&[]);
    b.finalize(isa.frontend_config());
    func
}

/// Builds the wasm-to-host trampoline for imported function `func_index`.
pub fn host_trampoline(isa: &dyn TargetIsa, func_index: u32, ty: &FuncType) -> ir::Function {
    let ptr = isa.pointer_type();
    let mut func = ir::Function::with_name_signature(
        UserFuncName::user(TRAMPOLINE_NAMESPACE, func_index * 2 + 1),
        wasm_signature(isa, ty),
    );
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let block = b.create_block();
    b.append_block_params_for_function_params(block);
    b.switch_to_block(block);
    b.seal_block(block);
    let params = b.block_params(block).to_vec();
    let (host_ctx, caller_vmctx) = (params[0], params[1]);
    let slots = ty.params.len().max(ty.results.len()).max(1) as u32;
    let slot = b.create_sized_stack_slot(StackSlotData::new(
        StackSlotKind::ExplicitSlot,
        slots * VAL_RAW_SIZE,
        4,
    ));
    let values = b.ins().stack_addr(ptr, slot, 0);
    for (i, v) in params[2..].iter().enumerate() {
        b.ins()
            .store(flags(), *v, values, (i as u32 * VAL_RAW_SIZE) as i32);
    }
    let callee = b
        .ins()
        .load(ptr, flags(), host_ctx, HOST_CTX_ARRAY_CALL as i32);
    let len = b.ins().iconst(ptr, i64::from(slots));
    let sig = b.import_signature(array_signature(isa));
    b.ins()
        .call_indirect(sig, callee, &[host_ctx, caller_vmctx, values, len]);
    let mut results = Vec::new();
    for (i, t) in ty.results.iter().enumerate() {
        results.push(b.ins().load(
            ir_type(*t),
            flags(),
            values,
            (i as u32 * VAL_RAW_SIZE) as i32,
        ));
    }
    b.ins().return_(&results);
    b.finalize(isa.frontend_config());
    func
}

/// Compiles every trampoline `module` needs.
pub fn compile_trampolines(
    module: &ModuleTranslation<'_>,
    isa: &dyn TargetIsa,
) -> Result<Vec<CompiledFunction>> {
    use rayon::prelude::*;
    let mut work = Vec::new();
    for i in 0..module.functions.len() as u32 {
        if module.is_imported_func(i) {
            work.push(FunctionKind::HostTrampoline(i));
        } else if module.escaping[i as usize] {
            work.push(FunctionKind::ArrayTrampoline(i));
        }
    }
    work.into_par_iter()
        .map(|kind| {
            let (func, name) = match kind {
                FunctionKind::ArrayTrampoline(i) => (
                    array_trampoline(isa, i, module.func_type(i)),
                    format!("array_call[{i}]"),
                ),
                FunctionKind::HostTrampoline(i) => (
                    host_trampoline(isa, i, module.func_type(i)),
                    format!("host_call[{i}]"),
                ),
                FunctionKind::Wasm(_) => unreachable!("only trampolines are queued here"),
            };
            compile_ir(isa, kind, name, func)
        })
        .collect()
}

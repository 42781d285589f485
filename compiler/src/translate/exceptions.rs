//! Exception handling in the function environment: `throw`, `throw_ref`, calls covered by
//! catch handlers, and unpacking a caught exception.
//!
//! Part of stage 2 (translate). The mechanism (see ARCHITECTURE.md, "Exceptions"):
//!
//! - `throw $t` asks the `exn_new` builtin for an exception object of tag `$t`, stores the
//!   payload into it ([`kiln_environ::exception`] layout) and passes it to `throw_ref`;
//! - the `throw_ref` builtin never returns: the runtime's unwinder walks the guest frames and
//!   resumes at a catch handler, or unwinds to the entry point;
//! - every call made while a `try_table` is open, the `throw_ref` builtin call included, is a
//!   Cranelift `try_call` whose exception table names the frame's VM context (a dynamic
//!   context: a tag index means a tag of *this* instance) and, per catch clause, the tag index
//!   (or a catch-all) and the clause's landing block. Cranelift records these per call site;
//!   `codegen.rs` turns them into the module's exception table.
//!
//! Calls to `tail`-convention callees treat every register as clobbered on the exceptional
//! edge, so the runtime resumes a handler with only the stack and frame pointers and the
//! exception object (first payload register) set. The `throw_ref` builtin is therefore called
//! with a `tail`-convention signature too (its two integer arguments travel in the same
//! registers as under the C convention).

use super::func_env::{Callee, FuncEnvironment, Handlers};
use crate::error::{CompileError, Result};
use cranelift_codegen::ir::{
    self, types, BlockArg, ExceptionTableData, ExceptionTableItem, ExceptionTag, InstBuilder,
    MemFlagsData, Value,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use kiln_environ::builtins::BuiltinFunctionIndex;
use kiln_environ::exception::{EXN_PAYLOAD_OFFSET, EXN_SLOT_SIZE};
use kiln_environ::TrapKind;

/// Offset of payload slot `i` of an exception object.
fn slot(i: usize) -> i32 {
    (EXN_PAYLOAD_OFFSET + EXN_SLOT_SIZE * i as u32) as i32
}

/// Loads the payload values (of types `tys`) of exception object `exn`.
pub(crate) fn unpack_payload(
    builder: &mut FunctionBuilder,
    exn: Value,
    tys: &[ir::Type],
) -> Vec<Value> {
    tys.iter()
        .enumerate()
        .map(|(i, ty)| {
            builder
                .ins()
                .load(*ty, MemFlagsData::trusted(), exn, slot(i))
        })
        .collect()
}

impl FuncEnvironment<'_> {
    /// Emits `callee(all...)` as a `try_call` covered by `handlers`; returns the results (the
    /// builder continues in the normal-return block).
    pub(super) fn try_call(
        &mut self,
        builder: &mut FunctionBuilder,
        sig: ir::SigRef,
        callee: Callee,
        all: &[Value],
        handlers: &Handlers,
    ) -> Vec<Value> {
        let cont = builder.create_block();
        let returns: Vec<ir::Type> = builder.func.dfg.signatures[sig]
            .returns
            .iter()
            .map(|r| r.value_type)
            .collect();
        let mut ret_args = Vec::with_capacity(returns.len());
        for (i, ty) in returns.iter().enumerate() {
            builder.append_block_param(cont, *ty);
            ret_args.push(BlockArg::TryCallRet(i as u32));
        }
        let normal = builder.func.dfg.block_call(cont, &ret_args);
        let table = self.exception_table(builder, sig, normal, handlers);
        match callee {
            Callee::Direct(f) => builder.ins().try_call(f, all, table),
            Callee::Indirect { code, .. } => builder.ins().try_call_indirect(code, all, table),
        };
        builder.switch_to_block(cont);
        builder.seal_block(cont);
        let results = builder.block_params(cont).to_vec();
        self.epoch_reload_deadline(builder);
        results
    }

    /// The exception table of a call with signature `sig`: the frame's VM context as dynamic
    /// context, then one entry per handler.
    fn exception_table(
        &mut self,
        builder: &mut FunctionBuilder,
        sig: ir::SigRef,
        normal: ir::BlockCall,
        handlers: &Handlers,
    ) -> ir::ExceptionTable {
        let mut items = vec![ExceptionTableItem::Context(self.vmctx)];
        for (tag, landing) in handlers {
            let call = builder
                .func
                .dfg
                .block_call(*landing, &[BlockArg::TryCallExn(0)]);
            items.push(match tag {
                Some(t) => ExceptionTableItem::Tag(ExceptionTag::from_u32(*t), call),
                None => ExceptionTableItem::Default(call),
            });
        }
        builder
            .func
            .dfg
            .exception_tables
            .push(ExceptionTableData::new(sig, normal, items))
    }

    /// `throw $tag` with payload `args`. Leaves the builder in a terminated block.
    pub(crate) fn throw(
        &mut self,
        builder: &mut FunctionBuilder,
        tag: u32,
        args: &[Value],
        handlers: &Handlers,
    ) -> Result<()> {
        let params = self
            .module
            .tag_params(tag)
            .ok_or_else(|| CompileError::msg(format!("unknown tag {tag}")))?;
        if params.len() != args.len() {
            return Err(CompileError::msg("internal error: throw payload arity"));
        }
        let t = builder.ins().iconst(types::I32, i64::from(tag));
        let exn = self
            .call_builtin(builder, BuiltinFunctionIndex::exn_new, &[t])
            .ok_or_else(|| CompileError::msg("internal error: exn_new has no result"))?;
        for (i, v) in args.iter().enumerate() {
            builder
                .ins()
                .store(MemFlagsData::trusted(), *v, exn, slot(i));
        }
        self.throw_object(builder, exn, handlers);
        Ok(())
    }

    /// `throw_ref` of `exn` (traps on null). Leaves the builder in a terminated block.
    pub(crate) fn throw_ref(
        &mut self,
        builder: &mut FunctionBuilder,
        exn: Value,
        handlers: &Handlers,
    ) {
        builder
            .ins()
            .trapz(exn, super::trap_code(TrapKind::NullReference));
        self.throw_object(builder, exn, handlers);
    }

    /// Calls the `throw_ref` builtin with (non-null) `exn`; it never returns.
    fn throw_object(&mut self, builder: &mut FunctionBuilder, exn: Value, handlers: &Handlers) {
        let which = BuiltinFunctionIndex::throw_ref;
        let sig = self.builtin_sig(builder, which, CallConv::Tail);
        let code = self.builtin_pointer(builder, which);
        let all = [self.vmctx, exn];
        if handlers.is_empty() {
            builder.ins().call_indirect(sig, code, &all);
        } else {
            let callee = Callee::Indirect {
                code,
                vmctx: self.vmctx,
            };
            self.try_call(builder, sig, callee, &all, handlers);
        }
        builder
            .ins()
            .trap(super::trap_code(TrapKind::UnreachableCodeReached));
    }
}

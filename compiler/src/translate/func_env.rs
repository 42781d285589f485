//! The function environment: how translated code reaches the VM context.
//!
//! Part of stage 2 (translate). Operator translation (`translate/mod.rs`, `ops.rs`,
//! `simd.rs`) asks this module for everything that depends on the artifact contract
//! (`kiln-environ`): linear-memory addresses and bounds checks, globals, tables, function
//! references, calls (direct, imported, indirect, tail), builtins and the epoch check. Nothing
//! outside this file knows a VM context offset. Exceptions (throwing, calls inside a
//! `try_table`, unpacking a caught exception) are in `exceptions.rs`.

use super::{trap_code, wasm_signature};
use crate::config::Tunables;
use crate::error::{CompileError, Result};
use crate::module::ModuleTranslation;
use cranelift_codegen::ir::{
    self, condcodes::IntCC, types, AbiParam, Endianness, ExtFuncData, ExternalName, InstBuilder,
    MemFlagsData, Signature, TrapCode, UserExternalName, Value,
};
use cranelift_codegen::isa::{CallConv, TargetIsa};
use cranelift_frontend::{FunctionBuilder, Variable};
use kiln_environ::builtins::{BuiltinFunctionIndex, BuiltinType};
use kiln_environ::vmoffsets::{
    FUNCTION_IMPORT_VMCTX, FUNCTION_IMPORT_WASM_CALL, FUNC_REF_TYPE_ID, FUNC_REF_VMCTX,
    FUNC_REF_WASM_CALL, MEMORY_BASE, MEMORY_CURRENT_LENGTH, STORE_CONTEXT_EPOCH_DEADLINE,
    TABLE_BASE, TABLE_CURRENT_ELEMENTS, TABLE_ELEMENT_SIZE,
};
use kiln_environ::{BoundsChecks, TrapKind, VMOffsets};
use std::collections::HashMap;

/// Flags for loads of VM context fields that never change while the instance lives.
fn readonly() -> MemFlagsData {
    MemFlagsData::trusted().with_readonly().with_can_move()
}

/// The catch handlers covering a call: `(tag, landing block)`, `None` for a catch-all (see
/// `TranslationState::handlers`).
pub(crate) type Handlers = [(Option<u32>, ir::Block)];

/// How a call returns: normally, covered by catch handlers (maybe none), or as a tail call
/// (which leaves the frame, and its handlers with it).
#[derive(Copy, Clone)]
pub(crate) enum CallMode<'h> {
    /// A call that returns here; a `try_call` if `handlers` is not empty.
    Normal(&'h Handlers),
    /// `return_call`, `return_call_indirect`.
    Tail,
}

/// How a call reaches its callee.
pub(super) enum Callee {
    /// A direct call to a defined function.
    Direct(ir::FuncRef),
    /// An indirect call through a code pointer with its callee VM context.
    Indirect { code: Value, vmctx: Value },
}

/// The translation-time view of the VM context for one function.
pub(crate) struct FuncEnvironment<'a> {
    /// The module being compiled.
    pub(crate) module: &'a ModuleTranslation<'a>,
    /// The target.
    pub(crate) isa: &'a dyn TargetIsa,
    /// Sandbox settings.
    pub(crate) tunables: &'a Tunables,
    /// The VM context layout.
    pub(crate) offsets: &'a VMOffsets,
    /// The target's pointer type.
    pub(crate) pointer_type: ir::Type,
    /// The function's own VM context (its first parameter).
    pub(crate) vmctx: Value,
    pub(super) builtin_sigs: HashMap<BuiltinFunctionIndex, ir::SigRef>,
    wasm_sigs: HashMap<u32, ir::SigRef>,
    direct_funcs: HashMap<u32, ir::FuncRef>,
    /// With epoch interruption: the epoch counter's address and this function's cached copy
    /// of the store's deadline (see [`FuncEnvironment::epoch_function_entry`]).
    epoch_vars: Option<(Variable, Variable)>,
}

impl<'a> FuncEnvironment<'a> {
    /// A new environment; `vmctx` is the function's first block parameter.
    pub(crate) fn new(
        module: &'a ModuleTranslation<'a>,
        isa: &'a dyn TargetIsa,
        tunables: &'a Tunables,
        vmctx: Value,
    ) -> Self {
        FuncEnvironment {
            module,
            isa,
            tunables,
            offsets: &module.offsets,
            pointer_type: isa.pointer_type(),
            vmctx,
            builtin_sigs: HashMap::new(),
            wasm_sigs: HashMap::new(),
            direct_funcs: HashMap::new(),
            epoch_vars: None,
        }
    }

    /// Offset as an `i32` load/store immediate (VM context layouts are far below 2 GiB).
    pub(super) fn off(offset: u32) -> i32 {
        offset as i32
    }

    // ---------------------------------------------------------------- memories

    /// Whether memory `index` is 64-bit indexed.
    pub(crate) fn memory_is_64(&self, index: u32) -> bool {
        self.module
            .memories
            .get(index as usize)
            .is_some_and(|m| m.memory64)
    }

    /// log2 of memory `index`'s page size.
    pub(crate) fn memory_page_size_log2(&self, index: u32) -> u8 {
        self.module
            .memories
            .get(index as usize)
            .map_or(16, |m| m.page_size_log2)
    }

    /// Pointer to memory `index`'s `VMMemoryDefinition` and the offset of the definition
    /// from it.
    fn memory_definition(&mut self, builder: &mut FunctionBuilder, index: u32) -> (Value, i32) {
        if self.module.is_imported_memory(index) {
            let off = self.offsets.vmctx_imported_memory(index);
            let ptr = builder
                .ins()
                .load(self.pointer_type, readonly(), self.vmctx, Self::off(off));
            (ptr, 0)
        } else {
            let def = index - self.module.num_imported_memories;
            (
                self.vmctx,
                Self::off(self.offsets.vmctx_defined_memory(def)),
            )
        }
    }

    /// Loads memory `index`'s base address.
    pub(crate) fn memory_base(&mut self, builder: &mut FunctionBuilder, index: u32) -> Value {
        let (def, off) = self.memory_definition(builder, index);
        // With guard pages the runtime reserves the whole region up front: the base never
        // moves, so the load can be hoisted and shared.
        let guard = self.tunables.bounds_checks == BoundsChecks::Guard && !self.memory_is_64(index);
        let flags = if guard {
            readonly()
        } else {
            MemFlagsData::trusted()
        };
        builder
            .ins()
            .load(self.pointer_type, flags, def, off + Self::off(MEMORY_BASE))
    }

    /// Loads memory `index`'s current length in bytes (`i64`).
    pub(crate) fn memory_length(&mut self, builder: &mut FunctionBuilder, index: u32) -> Value {
        let (def, off) = self.memory_definition(builder, index);
        builder.ins().load(
            types::I64,
            MemFlagsData::trusted(),
            def,
            off + Self::off(MEMORY_CURRENT_LENGTH),
        )
    }

    /// Zero-extends a memory index operand to 64 bits (no-op for 64-bit memories).
    pub(crate) fn index_to_i64(&self, builder: &mut FunctionBuilder, index: Value) -> Value {
        if builder.func.dfg.value_type(index) == types::I64 {
            index
        } else {
            builder.ins().uextend(types::I64, index)
        }
    }

    /// Computes the native address for a wasm memory access of `access_size` bytes at
    /// `index` (i32 for 32-bit memories) + memarg.offset in memory memarg.memory; emits explicit
    /// bounds checks when tunables say so. Returns the address and the flags (little-endian,
    /// trap code HEAP_OUT_OF_BOUNDS) to use for the access.
    ///
    /// Note: Cranelift 0.135 instructions take `MemFlagsData` (the interned `ir::MemFlags` is
    /// only an index into the function's flag set), so that is what is returned.
    pub(crate) fn memory_address(
        &mut self,
        builder: &mut FunctionBuilder,
        memarg: &wasmparser::MemArg,
        index: ir::Value,
        access_size: u32,
    ) -> (ir::Value, MemFlagsData) {
        let flags = MemFlagsData::new()
            .with_endianness(Endianness::Little)
            .with_trap_code(Some(TrapCode::HEAP_OUT_OF_BOUNDS));
        let mem = memarg.memory;
        let is64 = self.memory_is_64(mem);
        let base = self.memory_base(builder, mem);
        let index = self.index_to_i64(builder, index);
        let explicit = self.tunables.bounds_checks == BoundsChecks::Explicit || is64;
        if explicit {
            // end = index + offset + size, checked against the current length.
            let len = self.memory_length(builder, mem);
            let extent = memarg.offset.checked_add(u64::from(access_size));
            match extent {
                Some(extent) if !is64 || extent <= i64::MAX as u64 => {
                    let end = if is64 {
                        let e = builder.ins().iconst(types::I64, extent as i64);
                        builder
                            .ins()
                            .uadd_overflow_trap(index, e, TrapCode::HEAP_OUT_OF_BOUNDS)
                    } else {
                        // index < 2^32 and extent <= 2^32 + 16: no overflow.
                        builder.ins().iadd_imm_u(index, extent as i64)
                    };
                    let oob = builder.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
                    builder.ins().trapnz(oob, TrapCode::HEAP_OUT_OF_BOUNDS);
                }
                _ => {
                    // The offset alone is beyond any possible memory: always trap, but keep
                    // the block open so the (dead) access can still be emitted.
                    let one = builder.ins().iconst(types::I8, 1);
                    builder.ins().trapnz(one, TrapCode::HEAP_OUT_OF_BOUNDS);
                }
            }
        }
        let mut addr = builder.ins().iadd(base, index);
        if memarg.offset != 0 {
            addr = builder.ins().iadd_imm_u(addr, memarg.offset as i64);
        }
        (addr, flags)
    }

    // ---------------------------------------------------------------- globals

    /// Address of global `index`'s storage.
    fn global_address(&mut self, builder: &mut FunctionBuilder, index: u32) -> (Value, i32) {
        if self.module.is_imported_global(index) {
            let off = self.offsets.vmctx_imported_global(index);
            let ptr = builder
                .ins()
                .load(self.pointer_type, readonly(), self.vmctx, Self::off(off));
            (ptr, 0)
        } else {
            let def = index - self.module.num_imported_globals;
            (
                self.vmctx,
                Self::off(self.offsets.vmctx_defined_global(def)),
            )
        }
    }

    /// `global.get`.
    pub(crate) fn global_get(
        &mut self,
        builder: &mut FunctionBuilder,
        index: u32,
    ) -> Result<Value> {
        let g = self
            .module
            .globals
            .get(index as usize)
            .ok_or_else(|| CompileError::msg(format!("unknown global {index}")))?;
        let ty = super::ir_type(g.ty);
        let flags = if g.mutable {
            MemFlagsData::trusted()
        } else {
            readonly()
        };
        let (base, off) = self.global_address(builder, index);
        Ok(builder.ins().load(ty, flags, base, off))
    }

    /// `global.set`.
    pub(crate) fn global_set(&mut self, builder: &mut FunctionBuilder, index: u32, val: Value) {
        let (base, off) = self.global_address(builder, index);
        builder.ins().store(MemFlagsData::trusted(), val, base, off);
    }

    // ---------------------------------------------------------------- tables

    /// Pointer to table `index`'s `VMTableDefinition` and the offset of the definition.
    fn table_definition(&mut self, builder: &mut FunctionBuilder, index: u32) -> (Value, i32) {
        if self.module.is_imported_table(index) {
            let off = self.offsets.vmctx_imported_table(index);
            let ptr = builder
                .ins()
                .load(self.pointer_type, readonly(), self.vmctx, Self::off(off));
            (ptr, 0)
        } else {
            let def = index - self.module.num_imported_tables;
            (self.vmctx, Self::off(self.offsets.vmctx_defined_table(def)))
        }
    }

    /// Loads table `index`'s current element count (`i64`).
    pub(crate) fn table_size64(&mut self, builder: &mut FunctionBuilder, index: u32) -> Value {
        let (def, off) = self.table_definition(builder, index);
        builder.ins().load(
            types::I64,
            MemFlagsData::trusted(),
            def,
            off + Self::off(TABLE_CURRENT_ELEMENTS),
        )
    }

    /// Address of element `elem` (an `i32`) of table `index`, after a bounds check that traps
    /// with `trap`.
    pub(crate) fn table_element_address(
        &mut self,
        builder: &mut FunctionBuilder,
        index: u32,
        elem: Value,
        trap: TrapCode,
    ) -> Value {
        let len = self.table_size64(builder, index);
        let elem = self.index_to_i64(builder, elem);
        let oob = builder
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, elem, len);
        builder.ins().trapnz(oob, trap);
        let (def, off) = self.table_definition(builder, index);
        let base = builder.ins().load(
            self.pointer_type,
            MemFlagsData::trusted(),
            def,
            off + Self::off(TABLE_BASE),
        );
        let scaled = builder
            .ins()
            .imul_imm_u(elem, i64::from(TABLE_ELEMENT_SIZE));
        builder.ins().iadd(base, scaled)
    }

    /// `table.get`.
    pub(crate) fn table_get(
        &mut self,
        builder: &mut FunctionBuilder,
        table: u32,
        elem: Value,
    ) -> Value {
        let addr =
            self.table_element_address(builder, table, elem, trap_code(TrapKind::TableOutOfBounds));
        builder
            .ins()
            .load(types::I64, MemFlagsData::trusted(), addr, 0)
    }

    /// `table.set`.
    pub(crate) fn table_set(
        &mut self,
        builder: &mut FunctionBuilder,
        table: u32,
        elem: Value,
        val: Value,
    ) {
        let addr =
            self.table_element_address(builder, table, elem, trap_code(TrapKind::TableOutOfBounds));
        builder.ins().store(MemFlagsData::trusted(), val, addr, 0);
    }

    /// `ref.func`: the address of the function's `VMFuncRef` in the VM context.
    pub(crate) fn ref_func(&mut self, builder: &mut FunctionBuilder, index: u32) -> Result<Value> {
        if index >= self.offsets.num_funcs {
            return Err(CompileError::msg(format!("unknown function {index}")));
        }
        let off = self.offsets.vmctx_func_ref(index);
        Ok(builder.ins().iadd_imm_u(self.vmctx, i64::from(off)))
    }

    // ---------------------------------------------------------------- builtins

    /// Calls builtin `which` with `args` (the VM context is prepended).
    pub(crate) fn call_builtin(
        &mut self,
        builder: &mut FunctionBuilder,
        which: BuiltinFunctionIndex,
        args: &[Value],
    ) -> Option<Value> {
        let sig = self.builtin_sig(builder, which, self.isa.default_call_conv());
        let fnptr = self.builtin_pointer(builder, which);
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(self.vmctx);
        all.extend_from_slice(args);
        let call = builder.ins().call_indirect(sig, fnptr, &all);
        builder.inst_results(call).first().copied()
    }

    /// The signature of builtin `which` with calling convention `conv` (cached per builtin:
    /// each builtin is only ever called with one convention).
    pub(super) fn builtin_sig(
        &mut self,
        builder: &mut FunctionBuilder,
        which: BuiltinFunctionIndex,
        conv: CallConv,
    ) -> ir::SigRef {
        let ptr = self.pointer_type;
        match self.builtin_sigs.get(&which) {
            Some(s) => *s,
            None => {
                let bsig = which.signature();
                let mut sig = Signature::new(conv);
                let conv = |t: BuiltinType| match t {
                    BuiltinType::VMCtx => ptr,
                    BuiltinType::I32 => types::I32,
                    BuiltinType::I64 => types::I64,
                };
                sig.params
                    .extend(bsig.params.iter().map(|t| AbiParam::new(conv(*t))));
                sig.returns
                    .extend(bsig.result.iter().map(|t| AbiParam::new(conv(*t))));
                let s = builder.import_signature(sig);
                self.builtin_sigs.insert(which, s);
                s
            }
        }
    }

    /// Loads the address of builtin `which` from the builtin table.
    pub(super) fn builtin_pointer(
        &mut self,
        builder: &mut FunctionBuilder,
        which: BuiltinFunctionIndex,
    ) -> Value {
        let ptr = self.pointer_type;
        // Readonly but not `can_move`: builtins are mostly called on cold paths (epoch
        // deadline), and hoisting these loads out of loops would only tie up registers.
        let flags = MemFlagsData::trusted().with_readonly();
        let table = builder.ins().load(
            ptr,
            flags,
            self.vmctx,
            Self::off(VMOffsets::vmctx_builtins()),
        );
        let slot = which.index() * ptr.bytes();
        builder.ins().load(ptr, flags, table, Self::off(slot))
    }

    /// At function entry: loads the epoch counter's address and the store's deadline into
    /// variables, then checks the deadline.
    ///
    /// The deadline stays in a variable (a register in loops) instead of being reloaded from
    /// the store context at every loop header: a loop's check is one load of the counter and a
    /// compare. The cached copy is refreshed where it can have changed: after every call (a
    /// host function may move the deadline) and on the cold path, which reloads it before
    /// deciding that the deadline has passed. Function entry checks too: a tree of calls
    /// without loops must not escape the deadline.
    pub(crate) fn epoch_function_entry(&mut self, builder: &mut FunctionBuilder) {
        if !self.tunables.epoch_interruption {
            return;
        }
        let ptr_var = builder.declare_var(self.pointer_type);
        let deadline_var = builder.declare_var(types::I64);
        let counter_ptr = builder.ins().load(
            self.pointer_type,
            readonly(),
            self.vmctx,
            Self::off(VMOffsets::vmctx_epoch_ptr()),
        );
        builder.def_var(ptr_var, counter_ptr);
        self.epoch_vars = Some((ptr_var, deadline_var));
        self.epoch_reload_deadline(builder);
        self.epoch_check(builder);
    }

    /// Reloads the cached deadline from the store context (after calls, on the cold path).
    pub(crate) fn epoch_reload_deadline(&mut self, builder: &mut FunctionBuilder) {
        let Some((_, deadline_var)) = self.epoch_vars else {
            return;
        };
        // The store context pointer is constant while the function runs; the deadline in it
        // is not (the host may move it during any call). Not `can_move`: hoisted out of a loop,
        // the pointer would hold a callee-saved register for the whole loop only to serve its
        // cold path.
        let store_ctx = builder.ins().load(
            self.pointer_type,
            MemFlagsData::trusted().with_readonly(),
            self.vmctx,
            Self::off(VMOffsets::vmctx_store_context()),
        );
        let deadline = builder.ins().load(
            types::I64,
            MemFlagsData::trusted(),
            store_ctx,
            Self::off(STORE_CONTEXT_EPOCH_DEADLINE),
        );
        builder.def_var(deadline_var, deadline);
    }

    /// At loop headers (and function entry): calls `out_of_epoch` when the engine's epoch
    /// counter reached this store's deadline. The fast path compares the counter with the
    /// cached deadline; the cold path reloads the deadline and compares again before calling.
    pub(crate) fn epoch_check(&mut self, builder: &mut FunctionBuilder) {
        let Some((ptr_var, deadline_var)) = self.epoch_vars else {
            return;
        };
        let counter_ptr = builder.use_var(ptr_var);
        // An atomic load: the counter changes behind the code's back, and a plain load could
        // be merged with an earlier one (and a loop would never see the deadline).
        let counter = builder
            .ins()
            .atomic_load(types::I64, MemFlagsData::trusted(), counter_ptr);
        let cached = builder.use_var(deadline_var);
        let maybe = builder
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, counter, cached);
        let reload = builder.create_block();
        let slow = builder.create_block();
        let cont = builder.create_block();
        builder.set_cold_block(reload);
        builder.set_cold_block(slow);
        builder.ins().brif(maybe, reload, &[], cont, &[]);
        builder.seal_block(reload);
        builder.switch_to_block(reload);
        // The cached copy may be older than the store's deadline (moved by the host since).
        self.epoch_reload_deadline(builder);
        let deadline = builder.use_var(deadline_var);
        let expired = builder
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, counter, deadline);
        builder.ins().brif(expired, slow, &[], cont, &[]);
        builder.seal_block(slow);
        builder.switch_to_block(slow);
        self.call_builtin(builder, BuiltinFunctionIndex::out_of_epoch, &[]);
        // `out_of_epoch` returns only after moving the deadline (or it traps).
        self.epoch_reload_deadline(builder);
        builder.ins().jump(cont, &[]);
        builder.seal_block(cont);
        builder.switch_to_block(cont);
    }

    // ---------------------------------------------------------------- calls

    /// Signature reference for wasm type `type_index`.
    fn wasm_sig(&mut self, builder: &mut FunctionBuilder, type_index: u32) -> Result<ir::SigRef> {
        if let Some(s) = self.wasm_sigs.get(&type_index) {
            return Ok(*s);
        }
        let ty = self
            .module
            .types
            .get(type_index as usize)
            .ok_or_else(|| CompileError::msg(format!("unknown type {type_index}")))?;
        let s = builder.import_signature(wasm_signature(self.isa, ty));
        self.wasm_sigs.insert(type_index, s);
        Ok(s)
    }

    /// Type index of function `index`.
    fn func_type_index(&self, index: u32) -> Result<u32> {
        self.module
            .functions
            .get(index as usize)
            .copied()
            .ok_or_else(|| CompileError::msg(format!("unknown function {index}")))
    }

    /// Resolves how to call function `index`.
    fn callee(
        &mut self,
        builder: &mut FunctionBuilder,
        index: u32,
    ) -> Result<(ir::SigRef, Callee)> {
        let ty = self.func_type_index(index)?;
        let sig = self.wasm_sig(builder, ty)?;
        if self.module.is_imported_func(index) {
            let off = self.offsets.vmctx_imported_function(index);
            let code = builder.ins().load(
                self.pointer_type,
                readonly(),
                self.vmctx,
                Self::off(off + FUNCTION_IMPORT_WASM_CALL),
            );
            let vmctx = builder.ins().load(
                self.pointer_type,
                readonly(),
                self.vmctx,
                Self::off(off + FUNCTION_IMPORT_VMCTX),
            );
            return Ok((sig, Callee::Indirect { code, vmctx }));
        }
        let fref = match self.direct_funcs.get(&index) {
            Some(f) => *f,
            None => {
                let name = builder
                    .func
                    .declare_imported_user_function(UserExternalName::new(0, index));
                let f = builder.import_function(ExtFuncData {
                    name: ExternalName::user(name),
                    signature: sig,
                    colocated: true,
                    patchable: false,
                });
                self.direct_funcs.insert(index, f);
                f
            }
        };
        Ok((sig, Callee::Direct(fref)))
    }

    /// Emits a call (or tail call) and returns the results (empty for tail calls).
    fn emit_call(
        &mut self,
        builder: &mut FunctionBuilder,
        sig: ir::SigRef,
        callee: Callee,
        args: &[Value],
        mode: CallMode<'_>,
    ) -> Vec<Value> {
        let mut all = Vec::with_capacity(args.len() + 2);
        let callee_vmctx = match &callee {
            Callee::Direct(_) => self.vmctx,
            Callee::Indirect { vmctx, .. } => *vmctx,
        };
        all.push(callee_vmctx);
        all.push(self.vmctx);
        all.extend_from_slice(args);
        let tail = match mode {
            CallMode::Normal(handlers) if !handlers.is_empty() => {
                return self.try_call(builder, sig, callee, &all, handlers);
            }
            CallMode::Normal(_) => false,
            CallMode::Tail => true,
        };
        match callee {
            Callee::Direct(f) => {
                if tail {
                    builder.ins().return_call(f, &all);
                    Vec::new()
                } else {
                    let call = builder.ins().call(f, &all);
                    let results = builder.inst_results(call).to_vec();
                    self.epoch_reload_deadline(builder);
                    results
                }
            }
            Callee::Indirect { code, .. } => {
                if tail {
                    builder.ins().return_call_indirect(sig, code, &all);
                    Vec::new()
                } else {
                    let call = builder.ins().call_indirect(sig, code, &all);
                    let results = builder.inst_results(call).to_vec();
                    self.epoch_reload_deadline(builder);
                    results
                }
            }
        }
    }

    /// `call` / `return_call` of function `index`.
    pub(crate) fn call(
        &mut self,
        builder: &mut FunctionBuilder,
        index: u32,
        args: &[Value],
        mode: CallMode<'_>,
    ) -> Result<Vec<Value>> {
        let (sig, callee) = self.callee(builder, index)?;
        Ok(self.emit_call(builder, sig, callee, args, mode))
    }

    /// `call_indirect` / `return_call_indirect` through table `table` at `elem`.
    pub(crate) fn call_indirect(
        &mut self,
        builder: &mut FunctionBuilder,
        type_index: u32,
        table: u32,
        elem: Value,
        args: &[Value],
        mode: CallMode<'_>,
    ) -> Result<Vec<Value>> {
        let sig = self.wasm_sig(builder, type_index)?;
        if type_index >= self.offsets.num_types {
            return Err(CompileError::msg(format!("unknown type {type_index}")));
        }
        let addr = self.table_element_address(
            builder,
            table,
            elem,
            trap_code(TrapKind::TableIndexOutOfBounds),
        );
        let funcref = builder
            .ins()
            .load(types::I64, MemFlagsData::trusted(), addr, 0);
        builder
            .ins()
            .trapz(funcref, trap_code(TrapKind::IndirectCallToNull));
        let actual = builder.ins().load(
            types::I32,
            MemFlagsData::trusted().with_readonly(),
            funcref,
            Self::off(FUNC_REF_TYPE_ID),
        );
        let expected = builder.ins().load(
            types::I32,
            readonly(),
            self.vmctx,
            Self::off(self.offsets.vmctx_type_id(type_index)),
        );
        let mismatch = builder.ins().icmp(IntCC::NotEqual, actual, expected);
        builder
            .ins()
            .trapnz(mismatch, trap_code(TrapKind::BadSignature));
        let code = builder.ins().load(
            self.pointer_type,
            MemFlagsData::trusted().with_readonly(),
            funcref,
            Self::off(FUNC_REF_WASM_CALL),
        );
        let vmctx = builder.ins().load(
            self.pointer_type,
            MemFlagsData::trusted().with_readonly(),
            funcref,
            Self::off(FUNC_REF_VMCTX),
        );
        Ok(self.emit_call(builder, sig, Callee::Indirect { code, vmctx }, args, mode))
    }
}

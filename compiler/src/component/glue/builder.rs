//! The IR toolbox of the canonical-ABI glue: a [`Glue`] wraps a Cranelift `FunctionBuilder`
//! with the component VM context and the canonical options of one lift or lower, and gives
//! the operations every conversion needs: traps naming their rule, component builtin calls,
//! option-memory access, `realloc` calls with validated results, and counted loops.

use crate::translate::{ir_type, wasm_signature};
use cranelift_codegen::ir::{
    self, condcodes::IntCC, types, AbiParam, Block, InstBuilder, MemFlagsData, TrapCode, Value,
};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::FunctionBuilder;
use kiln_environ::builtins::BuiltinType;
use kiln_environ::component::glue::{ComponentBuiltin, GlueTrap};
use kiln_environ::component::{CanonicalOptions, StringEncoding, VMComponentOffsets};
use kiln_environ::vmoffsets::{
    FUNC_REF_VMCTX, FUNC_REF_WASM_CALL, MEMORY_BASE, MEMORY_CURRENT_LENGTH,
    STORE_CONTEXT_EPOCH_DEADLINE, STORE_CONTEXT_EPOCH_PTR,
};
use kiln_environ::{FuncType, ValType};
use std::collections::HashMap;

/// Memory flags for accesses the glue has proven in bounds (host buffers, checked guest
/// ranges, VM context slots).
pub fn mflags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Unaligned-tolerant flags for guest memory (alignment was checked where the ABI requires it).
pub fn gflags() -> MemFlagsData {
    let mut f = MemFlagsData::new();
    f.set_notrap();
    f
}

/// One glue function under construction.
pub struct Glue<'a, 'b> {
    /// The function builder.
    pub b: &'b mut FunctionBuilder<'a>,
    /// The target.
    pub isa: &'b dyn TargetIsa,
    /// The component VM context parameter.
    pub cvmctx: Value,
    /// Component VM context layout.
    pub offsets: VMComponentOffsets,
    /// The canonical options of the lift/lower.
    pub opts: CanonicalOptions,
    /// Strings lifted now stay in the guest's memory (`string_lift_raw`): a fused adapter's
    /// strings in transit, lowered straight into the other guest.
    pub lift_raw: bool,
    /// Strings and lists lifted now are copied into the running task's result
    /// (`result_alloc`) instead of pointing into guest memory: `task.return`, whose guest may
    /// free its result as soon as it returns, before the caller reads it.
    pub result_copy: bool,
    /// The encoding of the strings being lowered, when they are another guest's strings in
    /// transit (a fused adapter); `None` for the host's UTF-8 strings.
    pub string_source: Option<StringEncoding>,
    /// The calling component instance of a fused adapter's lifted call (`None`: the host).
    pub caller: Option<u32>,
    trap_blocks: HashMap<GlueTrap, Block>,
}

impl<'a, 'b> Glue<'a, 'b> {
    /// Wraps a builder positioned in its entry block.
    pub fn new(
        b: &'b mut FunctionBuilder<'a>,
        isa: &'b dyn TargetIsa,
        cvmctx: Value,
        offsets: VMComponentOffsets,
        opts: CanonicalOptions,
    ) -> Self {
        Glue {
            b,
            isa,
            cvmctx,
            offsets,
            opts,
            lift_raw: false,
            result_copy: false,
            string_source: None,
            caller: None,
            trap_blocks: HashMap::new(),
        }
    }

    /// An `i32` constant.
    pub fn i32(&mut self, v: i64) -> Value {
        self.b.ins().iconst(types::I32, v)
    }

    /// An `i64` constant.
    pub fn i64(&mut self, v: i64) -> Value {
        self.b.ins().iconst(types::I64, v)
    }

    /// Calls component builtin `which` with `args` (the VM context is prepended).
    pub fn builtin(&mut self, which: ComponentBuiltin, args: &[Value]) -> Option<Value> {
        let bsig = which.signature();
        let mut sig = ir::Signature::new(self.isa.default_call_conv());
        let ty = |t: BuiltinType| match t {
            BuiltinType::VMCtx | BuiltinType::I64 => types::I64,
            BuiltinType::I32 => types::I32,
        };
        for p in bsig.params {
            sig.params.push(AbiParam::new(ty(*p)));
        }
        if let Some(r) = bsig.result {
            sig.returns.push(AbiParam::new(ty(r)));
        }
        let sig = self.b.import_signature(sig);
        let table = self.b.ins().load(
            types::I64,
            mflags(),
            self.cvmctx,
            VMComponentOffsets::BUILTINS as i32,
        );
        let f = self
            .b
            .ins()
            .load(types::I64, mflags(), table, (which as u32 * 8) as i32);
        let mut all = vec![self.cvmctx];
        all.extend_from_slice(args);
        let call = self.b.ins().call_indirect(sig, f, &all);
        self.b.inst_results(call).first().copied()
    }

    /// Branches to the (shared, cold) trap block of `trap` when `cond` is non-zero.
    pub fn trap_if(&mut self, cond: Value, trap: GlueTrap) {
        let target = match self.trap_blocks.get(&trap) {
            Some(b) => *b,
            None => {
                let blk = self.b.create_block();
                self.b.set_cold_block(blk);
                self.trap_blocks.insert(trap, blk);
                blk
            }
        };
        let cont = self.b.create_block();
        self.b.ins().brif(cond, target, &[], cont, &[]);
        self.b.switch_to_block(cont);
    }

    /// Fills the trap blocks (call once, after the body's last block is terminated).
    pub fn finish(&mut self) {
        let mut blocks: Vec<_> = self.trap_blocks.iter().map(|(t, b)| (*t, *b)).collect();
        blocks.sort_by_key(|(t, _)| *t as u32);
        for (trap, blk) in blocks {
            self.b.switch_to_block(blk);
            let code = self.i32(trap as i64);
            self.builtin(ComponentBuiltin::trap, &[code]);
            self.b
                .ins()
                .trap(TrapCode::user(1).expect("non-zero user trap code"));
        }
    }

    /// Traps unconditionally with `trap` (the current block ends).
    pub fn trap(&mut self, trap: GlueTrap) {
        let one = self.i32(1);
        self.trap_if(one, trap);
        self.b
            .ins()
            .trap(TrapCode::user(1).expect("non-zero user trap code"));
    }

    /// Index of the options' memory (0 when absent: the front end requires it wherever used).
    pub fn memory_index(&self) -> u32 {
        self.opts.memory.unwrap_or(0)
    }

    /// The address of the options memory's `VMMemoryDefinition`.
    pub fn mem_def(&mut self) -> Value {
        let at = self.offsets.memory(self.memory_index()) as i32;
        self.b.ins().load(types::I64, mflags(), self.cvmctx, at)
    }

    /// Loads the options memory's current base address and byte length.
    pub fn mem_base_len(&mut self) -> (Value, Value) {
        let at = self.offsets.memory(self.memory_index()) as i32;
        let def = self.b.ins().load(types::I64, mflags(), self.cvmctx, at);
        let base = self
            .b
            .ins()
            .load(types::I64, mflags(), def, MEMORY_BASE as i32);
        let len = self
            .b
            .ins()
            .load(types::I64, mflags(), def, MEMORY_CURRENT_LENGTH as i32);
        (base, len)
    }

    /// The native address of guest offset `off` (`i32`, treated as unsigned).
    pub fn guest_addr(&mut self, off: Value) -> Value {
        let (base, _) = self.mem_base_len();
        let off = self.b.ins().uextend(types::I64, off);
        self.b.ins().iadd(base, off)
    }

    /// Traps with `oob` unless `[off, off + bytes)` (i64 values) lies in the options memory.
    pub fn check_range(&mut self, off: Value, bytes: Value, oob: GlueTrap) {
        let (_, len) = self.mem_base_len();
        let end = self.b.ins().iadd(off, bytes);
        let bad = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
        self.trap_if(bad, oob);
    }

    /// Traps with `trap` unless `off` (any int type) is a multiple of `align`.
    pub fn check_align(&mut self, off: Value, align: u32, trap: GlueTrap) {
        if align <= 1 {
            return;
        }
        let low = self.b.ins().band_imm_s(off, i64::from(align - 1));
        self.trap_if(low, trap);
    }

    /// Calls the function whose `VMFuncRef` pointer is at `slot` of the component VM context
    /// with core type `ty`.
    pub fn call_funcref(&mut self, slot: u32, ty: &FuncType, args: &[Value]) -> Vec<Value> {
        let funcref = self
            .b
            .ins()
            .load(types::I64, mflags(), self.cvmctx, slot as i32);
        let code = self
            .b
            .ins()
            .load(types::I64, mflags(), funcref, FUNC_REF_WASM_CALL as i32);
        let vmctx = self
            .b
            .ins()
            .load(types::I64, mflags(), funcref, FUNC_REF_VMCTX as i32);
        let sig = self.b.import_signature(wasm_signature(self.isa, ty));
        let mut all = vec![vmctx, vmctx];
        all.extend_from_slice(args);
        let call = self.b.ins().call_indirect(sig, code, &all);
        self.b.inst_results(call).to_vec()
    }

    /// Calls the options' `realloc(old_ptr, old_size, align, new_size)` (`old` is `None` for a
    /// fresh allocation, `realloc(0, 0, ...)`; sizes are `i64`s known to fit in `u32`) and
    /// returns its result unchecked (`i32`).
    pub fn realloc_call(
        &mut self,
        old: Option<(Value, Value)>,
        align: u32,
        new_size: Value,
    ) -> Value {
        let Some(r) = self.opts.realloc else {
            // The front end requires realloc wherever values are lowered into memory; without
            // one, every such call traps rather than writing anywhere.
            self.trap(GlueTrap::ListReallocOutOfBounds);
            let blk = self.b.create_block();
            self.b.switch_to_block(blk);
            return self.i32(0);
        };
        let ty = FuncType {
            params: vec![ValType::I32; 4],
            results: vec![ValType::I32],
        };
        let (old_ptr, old_size) = match old {
            Some((p, s)) => (p, self.b.ins().ireduce(types::I32, s)),
            None => (self.i32(0), self.i32(0)),
        };
        let al = self.i32(i64::from(align));
        let sz = self.b.ins().ireduce(types::I32, new_size);
        let slot = self.offsets.realloc(r);
        self.call_funcref(slot, &ty, &[old_ptr, old_size, al, sz])[0]
    }

    /// Calls the options' `realloc(0, 0, align, size)` (`size` an `i64` known to fit in
    /// `u32`) and validates the result: aligned to `align` (else [`GlueTrap::ReallocMisaligned`])
    /// and `[ptr, ptr + size)` inside memory (else `oob`). Returns the guest pointer (`i32`).
    pub fn realloc(&mut self, align: u32, size: Value, oob: GlueTrap) -> Value {
        let ptr = self.realloc_call(None, align, size);
        self.check_align(ptr, align, GlueTrap::ReallocMisaligned);
        let p64 = self.b.ins().uextend(types::I64, ptr);
        self.check_range(p64, size, oob);
        ptr
    }

    /// Emits a counted loop `for i in 0..n` (`n` an `i64`), calling `body(glue, i)`.
    pub fn for_each(&mut self, n: Value, mut body: impl FnMut(&mut Self, Value)) {
        let header = self.b.create_block();
        let body_blk = self.b.create_block();
        let exit = self.b.create_block();
        self.b.append_block_param(header, types::I64);
        let zero = self.i64(0);
        self.b.ins().jump(header, &[zero.into()]);
        self.b.switch_to_block(header);
        let i = self.b.block_params(header)[0];
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, i, n);
        self.b.ins().brif(more, body_blk, &[], exit, &[]);
        self.b.switch_to_block(body_blk);
        self.epoch_check_every(i, 1024);
        body(self, i);
        let next = self.b.ins().iadd_imm_s(i, 1);
        self.b.ins().jump(header, &[next.into()]);
        self.b.switch_to_block(exit);
    }

    /// Every `period` iterations (a power of two; `i` the `i64` counter), compares the engine's
    /// epoch with the store's deadline (through the store context the component VM context
    /// points at, when it has one) and traps with [`GlueTrap::Interrupted`] once it passed, so
    /// a long list copy honours the deadline like guest loops do.
    pub fn epoch_check_every(&mut self, i: Value, period: i64) {
        let check = self.b.create_block();
        let cont = self.b.create_block();
        self.b.set_cold_block(check);
        let low = self.b.ins().band_imm_s(i, period - 1);
        self.b.ins().brif(low, cont, &[], check, &[]);
        self.b.switch_to_block(check);
        let ctx = self.b.ins().load(
            types::I64,
            mflags(),
            self.cvmctx,
            VMComponentOffsets::STORE_CONTEXT as i32,
        );
        let has = self.b.create_block();
        self.b.ins().brif(ctx, has, &[], cont, &[]);
        self.b.switch_to_block(has);
        let epoch_ptr =
            self.b
                .ins()
                .load(types::I64, mflags(), ctx, STORE_CONTEXT_EPOCH_PTR as i32);
        let epoch = self.b.ins().load(types::I64, mflags(), epoch_ptr, 0);
        let deadline = self.b.ins().load(
            types::I64,
            mflags(),
            ctx,
            STORE_CONTEXT_EPOCH_DEADLINE as i32,
        );
        let passed = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, epoch, deadline);
        self.trap_if(passed, GlueTrap::Interrupted);
        self.b.ins().jump(cont, &[]);
        self.b.switch_to_block(cont);
    }

    /// Reads the flags word of the options' component instance.
    pub fn load_flags(&mut self) -> Value {
        let at = self.offsets.instance_flags(self.opts.instance);
        self.b
            .ins()
            .load(types::I32, mflags(), self.cvmctx, at as i32)
    }

    /// Writes the flags word of the options' component instance.
    pub fn store_flags(&mut self, v: Value) {
        let at = self.offsets.instance_flags(self.opts.instance);
        self.b.ins().store(mflags(), v, self.cvmctx, at as i32);
    }

    /// Sets (`on`) or clears flag bit `bit` of the options' component instance.
    pub fn set_flag(&mut self, bit: u32, on: bool) {
        let flags = self.load_flags();
        let v = if on {
            self.b.ins().bor_imm_s(flags, i64::from(bit))
        } else {
            self.b.ins().band_imm_s(flags, !i64::from(bit))
        };
        self.store_flags(v);
    }

    /// The string encoding code the string builtins take.
    pub fn encoding_code(&self) -> i64 {
        match self.opts.string_encoding {
            StringEncoding::Utf8 => 0,
            StringEncoding::Utf16 => 1,
            StringEncoding::Latin1Utf16 => 2,
        }
    }
}

/// Converts a flat value of core type `from` into the joined slot type `to` (lowering a
/// variant case payload).
pub fn widen(b: &mut FunctionBuilder<'_>, v: Value, from: ValType, to: ValType) -> Value {
    match (from, to) {
        _ if from == to => v,
        (ValType::F32, ValType::I32) => b.ins().bitcast(types::I32, MemFlagsData::new(), v),
        (ValType::I32, ValType::I64) => b.ins().uextend(types::I64, v),
        (ValType::F32, ValType::I64) => {
            let i = b.ins().bitcast(types::I32, MemFlagsData::new(), v);
            b.ins().uextend(types::I64, i)
        }
        (ValType::F64, ValType::I64) => b.ins().bitcast(types::I64, MemFlagsData::new(), v),
        _ => v,
    }
}

/// Converts a joined slot value of core type `from` back to a case's flat type `to` (lifting
/// a variant case payload).
pub fn narrow(b: &mut FunctionBuilder<'_>, v: Value, from: ValType, to: ValType) -> Value {
    match (from, to) {
        _ if from == to => v,
        (ValType::I32, ValType::F32) => b.ins().bitcast(types::F32, MemFlagsData::new(), v),
        (ValType::I64, ValType::I32) => b.ins().ireduce(types::I32, v),
        (ValType::I64, ValType::F32) => {
            let i = b.ins().ireduce(types::I32, v);
            b.ins().bitcast(types::F32, MemFlagsData::new(), i)
        }
        (ValType::I64, ValType::F64) => b.ins().bitcast(types::F64, MemFlagsData::new(), v),
        _ => v,
    }
}

/// A zero of core type `t`.
pub fn zero(b: &mut FunctionBuilder<'_>, t: ValType) -> Value {
    match t {
        ValType::F32 => b.ins().f32const(0.0),
        ValType::F64 => b.ins().f64const(0.0),
        other => b.ins().iconst(ir_type(other), 0),
    }
}

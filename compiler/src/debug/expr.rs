//! Location expressions: wasm DWARF locations (wasm locals, frame-base offsets into linear
//! memory) rewritten into native ones the debugger evaluates.
//!
//! Cranelift reports, per labelled value, where it lives over which code range (a register or
//! a stack slot at a CFA offset). A wasm local `i` is label `i`; the VM context is
//! [`super::vmctx_label`]. A variable in linear memory at `frame_base + N` becomes
//! `membase + u32(local + N)`, with `membase` loaded through the vmctx. The result is a location
//! list over the code ranges where every value the expression needs has a known home.

use super::Placed;
use cranelift_codegen::ir::ValueLabel;
use cranelift_codegen::isa::TargetIsa;
use cranelift_codegen::LabelValueLoc;
use gimli::read::{EndianSlice, Expression as ReadExpr, Operation};
use gimli::write::Expression;
use gimli::{Encoding, LittleEndian, Register};
use kiln_environ::vmoffsets::MEMORY_BASE;
use std::collections::HashMap;
use std::rc::Rc;

/// A read expression over the wasm's DWARF sections.
pub(crate) type WasmExpr<'a> = ReadExpr<EndianSlice<'a, LittleEndian>>;

/// How compiled code reaches memory 0 and the globals, from the vmctx.
#[derive(Clone, Debug, Default)]
pub(crate) struct VmLayout {
    /// Memory 0's definition: `(vmctx offset, imported)`; for an imported memory the offset
    /// holds a pointer to the definition.
    pub memory0: Option<(u32, bool)>,
    /// Each global's storage: `(vmctx offset, imported)`.
    pub globals: Vec<(u32, bool)>,
    /// Per function index: the DWARF register each wasm parameter arrives in (`None`: on the
    /// stack, or not known for this target); the vmctx arrives in [`VmLayout::vmctx_reg`].
    pub param_regs: Vec<Vec<Option<u16>>>,
    /// The DWARF register the vmctx arrives in, if known for this target.
    pub vmctx_reg: Option<u16>,
}

impl VmLayout {
    /// The entry registers of Cranelift's `tail` convention on x86-64 (System V's argument
    /// registers: `rdi, rsi, rdx, rcx, r8, r9` for integers, `xmm0..7` for floats and vectors,
    /// each class counted separately) for a function with wasm parameters whose classes are
    /// `floats` (`true`: float or vector); the vmctx and the caller's vmctx take the first two
    /// integer registers.
    pub(crate) fn x64_param_regs(floats: &[bool]) -> Vec<Option<u16>> {
        // DWARF numbers: rdi 5, rsi 4, rdx 1, rcx 2, r8 8, r9 9; xmm0..7 are 17..24.
        const INT: [u16; 6] = [5, 4, 1, 2, 8, 9];
        let (mut int, mut float) = (2usize, 0usize);
        floats
            .iter()
            .map(|&is_float| {
                if is_float {
                    float += 1;
                    (float <= 8).then(|| 16 + float as u16)
                } else {
                    int += 1;
                    INT.get(int - 1).copied()
                }
            })
            .collect()
    }
}

/// What a value-producing base is.
#[derive(Clone, Copy, Debug)]
enum Base {
    /// A labelled value: a wasm local or an operand-stack slot (its label index).
    Local(u32),
    Global(u32),
}

/// The shapes of wasm locations kiln translates.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// The variable lives in wasm local `i`.
    InLocal(u32),
    /// The variable's value is labelled value `i`'s (a wasm local or an operand-stack slot:
    /// label indices, see [`label_of`]).
    LocalValue(u32),
    /// The variable's value is wasm global `g`'s (32 bits).
    GlobalValue(u32),
    /// The variable lives in linear memory at `base + offset`.
    Memory(Base, i64),
    /// The variable lives in linear memory at a fixed address (a C global).
    Static(u64),
    /// The variable's value is computed by pure stack arithmetic (constants, `+`, `-`...),
    /// from labelled value `i`'s if given: the producer's operations are carried over.
    Computed(Option<u32>),
}

/// The label index of a wasm local or operand-stack slot operation.
fn label_of(op: &Operation<EndianSlice<'_, LittleEndian>>) -> Option<u32> {
    match *op {
        Operation::WasmLocal { index } => Some(super::local_label(index).as_u32()),
        Operation::WasmStack { index } if (index as usize) < super::MAX_LABELLED_OPERAND => {
            Some(super::operand_label(index).as_u32())
        }
        _ => None,
    }
}

/// Whether `op` is stack arithmetic that means the same in the wasm and the native DWARF.
fn is_pure(op: &Operation<EndianSlice<'_, LittleEndian>>) -> bool {
    matches!(
        op,
        Operation::UnsignedConstant { .. }
            | Operation::SignedConstant { .. }
            | Operation::PlusConstant { .. }
            | Operation::Plus
            | Operation::Minus
            | Operation::Mul
            | Operation::Div
            | Operation::Mod
            | Operation::And
            | Operation::Or
            | Operation::Xor
            | Operation::Neg
            | Operation::Not
            | Operation::Shl
            | Operation::Shr
            | Operation::Shra
    )
}

/// Writes the pure operations `ops` (see [`is_pure`]), without a final `DW_OP_stack_value`.
fn write_pure(e: &mut Expression, ops: &[Operation<EndianSlice<'_, LittleEndian>>]) {
    for op in ops {
        match *op {
            Operation::UnsignedConstant { value } => e.op_constu(value),
            Operation::SignedConstant { value } => e.op_consts(value),
            Operation::PlusConstant { value } => e.op_plus_uconst(value),
            Operation::Plus => e.op(gimli::DW_OP_plus),
            Operation::Minus => e.op(gimli::DW_OP_minus),
            Operation::Mul => e.op(gimli::DW_OP_mul),
            Operation::Div => e.op(gimli::DW_OP_div),
            Operation::Mod => e.op(gimli::DW_OP_mod),
            Operation::And => e.op(gimli::DW_OP_and),
            Operation::Or => e.op(gimli::DW_OP_or),
            Operation::Xor => e.op(gimli::DW_OP_xor),
            Operation::Neg => e.op(gimli::DW_OP_neg),
            Operation::Not => e.op(gimli::DW_OP_not),
            Operation::Shl => e.op(gimli::DW_OP_shl),
            Operation::Shr => e.op(gimli::DW_OP_shr),
            Operation::Shra => e.op(gimli::DW_OP_shra),
            _ => {}
        }
    }
}

/// For a [`Shape::Computed`] expression: the operations after the local (if any), without the
/// final `DW_OP_stack_value`; or the constant bytes of a lone `DW_OP_implicit_value`.
enum Tail<'a> {
    Ops(Vec<Operation<EndianSlice<'a, LittleEndian>>>),
    Implicit(&'a [u8]),
}

fn tail(expr: WasmExpr<'_>, encoding: Encoding) -> Option<Tail<'_>> {
    let ops = ops(expr, encoding)?;
    if let [Operation::ImplicitValue { data }] = ops.as_slice() {
        return Some(Tail::Implicit(data.slice()));
    }
    let (Operation::StackValue, body) = ops.split_last()? else {
        return None;
    };
    let body = match body {
        [first, rest @ ..] if label_of(first).is_some() => rest,
        all => all,
    };
    body.iter().all(is_pure).then(|| Tail::Ops(body.to_vec()))
}

fn ops(
    expr: WasmExpr<'_>,
    encoding: Encoding,
) -> Option<Vec<Operation<EndianSlice<'_, LittleEndian>>>> {
    let mut out = Vec::new();
    let mut iter = expr.operations(encoding);
    while let Ok(Some(op)) = iter.next() {
        out.push(op);
        if out.len() > 64 {
            return None;
        }
    }
    Some(out)
}

fn base_of(frame_base: Option<WasmExpr<'_>>, encoding: Encoding) -> Option<Base> {
    match ops(frame_base?, encoding)?.as_slice() {
        [Operation::WasmLocal { index }]
        | [Operation::WasmLocal { index }, Operation::StackValue] => Some(Base::Local(*index)),
        [Operation::WasmGlobal { index }]
        | [Operation::WasmGlobal { index }, Operation::StackValue] => Some(Base::Global(*index)),
        _ => None,
    }
}

fn classify(
    expr: WasmExpr<'_>,
    frame_base: Option<WasmExpr<'_>>,
    encoding: Encoding,
) -> Option<Shape> {
    match ops(expr, encoding)?.as_slice() {
        [Operation::WasmLocal { index }] => Some(Shape::InLocal(*index)),
        [op, Operation::StackValue] if label_of(op).is_some() => {
            Some(Shape::LocalValue(label_of(op)?))
        }
        [Operation::WasmGlobal { index }, Operation::StackValue] => {
            Some(Shape::GlobalValue(*index))
        }
        [Operation::Address { address }] => Some(Shape::Static(*address)),
        [Operation::FrameOffset { offset }] => {
            Some(Shape::Memory(base_of(frame_base, encoding)?, *offset))
        }
        // A value plus a constant, without `DW_OP_stack_value`: an object in linear memory
        // at that address.
        [op, Operation::PlusConstant { value }] if label_of(op).is_some() => Some(Shape::Memory(
            Base::Local(label_of(op)?),
            i64::try_from(*value).ok()?,
        )),
        [op, ..] if label_of(op).is_some() => {
            tail(expr, encoding).map(|_| Shape::Computed(label_of(op)))
        }
        [Operation::WasmStack { .. } | Operation::WasmGlobal { .. }, ..] => None,
        _ => tail(expr, encoding).map(|_| Shape::Computed(None)),
    }
}

/// The wasm local a frame-base expression names, if it is one.
pub(crate) fn frame_local(frame_base: WasmExpr<'_>, encoding: Encoding) -> Option<u32> {
    match base_of(Some(frame_base), encoding)? {
        Base::Local(i) => Some(i),
        Base::Global(_) => None,
    }
}

/// The offset of a `DW_OP_fbreg N` location, if `expr` is one.
pub(crate) fn frame_offset(expr: WasmExpr<'_>, encoding: Encoding) -> Option<i64> {
    match ops(expr, encoding)?.as_slice() {
        [Operation::FrameOffset { offset }] => Some(*offset),
        _ => None,
    }
}

/// Whether `expr` places a variable at a fixed linear-memory address (a C global).
pub(crate) fn is_static(expr: WasmExpr<'_>, encoding: Encoding) -> bool {
    matches!(classify(expr, None, encoding), Some(Shape::Static(_)))
}

/// Translates location expressions for one function.
pub(crate) struct Translator<'a> {
    /// The target (register numbering).
    pub isa: &'a dyn TargetIsa,
    /// How memory and globals are reached.
    pub layout: &'a VmLayout,
    /// [`Translator::homes`] by `(function start in .text, label)`: every variable of a
    /// function asks for the same few labels (the vmctx, the frame-base local).
    pub homes_cache: std::cell::RefCell<HashMap<(u32, u32), Rc<Homes>>>,
}

/// A label's homes: `(start, end, location)`, sorted and non-overlapping.
type Homes = Vec<(u32, u32, LabelValueLoc)>;

/// A native location valid over `[start, start + len)` (function-relative).
pub(crate) struct Piece {
    /// Start offset in the function.
    pub start: u32,
    /// Length in bytes.
    pub len: u32,
    /// The native expression.
    pub expr: Expression,
}

/// A label's homes, made non-overlapping (a later definition wins).
fn homes(f: &Placed<'_>, label: ValueLabel) -> Vec<(u32, u32, LabelValueLoc)> {
    let mut v: Vec<(u32, u32, LabelValueLoc)> = f
        .func
        .value_labels
        .get(&label)
        .map(|r| r.iter().map(|r| (r.start, r.end, r.loc)).collect())
        .unwrap_or_default();
    v.sort_by_key(|r| r.0);
    for i in 1..v.len() {
        let next_start = v[i].0;
        if v[i - 1].1 > next_start {
            v[i - 1].1 = next_start;
        }
    }
    v.retain(|r| r.1 > r.0);
    cover_trap_sites(f, &mut v);
    v
}

/// Extends a label's homes to trap sites they miss. A trap instruction out of line (the `ud2`
/// a conditional branch jumps to) runs with the registers and frame of the branch, which is
/// part of the native code of the same wasm instruction (same source location). When the
/// value has one home through *all* of that code, it is still there at the trap: the
/// debugger shows the trapping frame's variables at the faulting PC.
fn cover_trap_sites(f: &Placed<'_>, v: &mut Vec<(u32, u32, LabelValueLoc)>) {
    let src = &f.func.srclocs;
    let home_at = |v: &[(u32, u32, LabelValueLoc)], at: u32| {
        v.iter().find(|r| r.0 <= at && at < r.1).copied()
    };
    let mut added = Vec::new();
    for &(t, _) in &f.func.traps {
        if home_at(v, t).is_some() {
            continue;
        }
        let Some(at) = src.partition_point(|s| s.0 <= t).checked_sub(1) else {
            continue;
        };
        // Only a trap instruction with its own source location (out-of-line traps have one;
        // the stack-overflow trap has none, and its branch runs before any value has a home).
        if src[at].0 != t {
            continue;
        }
        let wasm = src[at].1;
        // Every earlier run of native code for the trapping wasm instruction.
        let mut home = None;
        let mut ok = false;
        for i in (0..at).filter(|&i| src[i].1 == wasm) {
            let (lo, hi) = (src[i].0, src[i + 1].0);
            match home_at(v, lo) {
                Some(h) if h.1 >= hi && home.is_none_or(|l| l == h.2) => {
                    home = Some(h.2);
                    ok = true;
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if let (true, Some(loc)) = (ok, home) {
            added.push((t, t + 1, loc));
        }
    }
    if !added.is_empty() {
        v.extend(added);
        v.sort_by_key(|r| r.0);
    }
}

/// Splits `ranges` by the homes of each label: `(start, end, home of each label)`. Both sides
/// are sorted and non-overlapping, so each label is one linear merge.
fn intersect(ranges: &[(u32, u32)], labels: &[Rc<Homes>]) -> Vec<(u32, u32, Vec<LabelValueLoc>)> {
    let mut cur: Vec<(u32, u32, Vec<LabelValueLoc>)> = ranges
        .iter()
        .map(|&(s, l)| (s, s + l, Vec::new()))
        .collect();
    for homes in labels {
        let mut next = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < cur.len() && j < homes.len() {
            let (s, e, ref locs) = cur[i];
            let (hs, he, loc) = homes[j];
            let (a, b) = (s.max(hs), e.min(he));
            if a < b {
                let mut l = locs.clone();
                l.push(loc);
                next.push((a, b, l));
            }
            if e <= he {
                i += 1;
            } else {
                j += 1;
            }
        }
        cur = next;
    }
    cur
}

impl Translator<'_> {
    fn frame_register(&self) -> Option<Register> {
        match self.isa.triple().architecture {
            target_lexicon::Architecture::X86_64 => Some(Register(6)),
            target_lexicon::Architecture::Aarch64(_) => Some(Register(29)),
            _ => None,
        }
    }

    /// Pushes the address of a CFA-relative stack slot.
    fn slot_address(&self, e: &mut Expression, cfa_offset: i64) {
        match self.frame_register() {
            // Cranelift's frames keep the frame pointer at CFA - 16 once the prologue ran.
            Some(fp) => e.op_breg(fp, cfa_offset + 16),
            None => {
                e.op(gimli::DW_OP_call_frame_cfa);
                e.op_consts(cfa_offset);
                e.op(gimli::DW_OP_plus);
            }
        }
    }

    fn dwarf_reg(&self, loc: LabelValueLoc) -> Option<Register> {
        match loc {
            LabelValueLoc::Reg(r) => self.isa.map_regalloc_reg_to_dwarf(r).ok().map(Register),
            LabelValueLoc::CFAOffset(_) => None,
        }
    }

    /// Pushes the value held at `loc`.
    fn push_value(&self, e: &mut Expression, loc: LabelValueLoc) -> Option<()> {
        match loc {
            LabelValueLoc::Reg(_) => e.op_breg(self.dwarf_reg(loc)?, 0),
            LabelValueLoc::CFAOffset(o) => {
                self.slot_address(e, o);
                e.op_deref();
            }
        }
        Some(())
    }

    /// A label's homes ([`homes`]), extended over the function's prologue where that is
    /// sure: a wasm parameter (or the vmctx) whose first home is the register it arrives in,
    /// starting where the first instruction of the body does, is in that register from the
    /// function's entry (the prologue writes only the frame, scratch registers and the
    /// callee-saved registers' save slots; the register allocator's entry moves into other
    /// places do not overwrite a value its first home still shows in its entry register).
    fn homes(&self, f: &Placed<'_>, label: ValueLabel) -> Rc<Homes> {
        let key = (f.start, label.as_u32());
        if let Some(h) = self.homes_cache.borrow().get(&key) {
            return h.clone();
        }
        let h = Rc::new(self.compute_homes(f, label));
        self.homes_cache.borrow_mut().insert(key, h.clone());
        h
    }

    fn compute_homes(&self, f: &Placed<'_>, label: ValueLabel) -> Homes {
        let mut v = homes(f, label);
        let crate::codegen::FunctionKind::Wasm(index) = f.func.kind else {
            return v;
        };
        let entry = if label == super::vmctx_label() {
            self.layout.vmctx_reg
        } else {
            self.layout
                .param_regs
                .get(index as usize)
                .and_then(|p| p.get(label.as_u32() as usize))
                .copied()
                .flatten()
        };
        let (Some(entry), Some(&(body, _))) = (entry, f.func.srclocs.first()) else {
            return v;
        };
        if let Some(&(start, end, loc)) = v.first() {
            if start == body && body > 0 && self.dwarf_reg(loc).map(|r| r.0) == Some(entry) {
                v[0] = (0, end, loc);
            }
        }
        v
    }

    /// Pushes memory 0's base address, given the vmctx's home.
    fn push_membase(&self, e: &mut Expression, vmctx: LabelValueLoc) -> Option<()> {
        let (off, imported) = self.layout.memory0?;
        self.push_value(e, vmctx)?;
        e.op_plus_uconst(u64::from(off));
        e.op_deref();
        if imported {
            e.op_plus_uconst(u64::from(MEMORY_BASE));
            e.op_deref();
        }
        Some(())
    }

    /// Pushes global `g`'s 32-bit value, given the vmctx's home.
    fn push_global(&self, e: &mut Expression, g: u32, vmctx: LabelValueLoc) -> Option<()> {
        let (off, imported) = *self.layout.globals.get(g as usize)?;
        self.push_value(e, vmctx)?;
        e.op_plus_uconst(u64::from(off));
        if imported {
            e.op_deref();
        }
        e.op_deref_size(4);
        Some(())
    }

    /// Pushes the linear-memory address `base + offset` as a host address (`membase + u32(..)`).
    fn push_memory_address(
        &self,
        e: &mut Expression,
        base: Base,
        offset: i64,
        locs: &[LabelValueLoc],
    ) -> Option<()> {
        let vmctx = *locs.last()?;
        match base {
            Base::Local(_) => self.push_value(e, locs[0])?,
            Base::Global(g) => self.push_global(e, g, vmctx)?,
        }
        if offset >= 0 {
            e.op_plus_uconst(offset as u64);
        } else {
            e.op_consts(offset);
            e.op(gimli::DW_OP_plus);
        }
        e.op_constu(0xffff_ffff);
        e.op(gimli::DW_OP_and);
        self.push_membase(e, vmctx)?;
        e.op(gimli::DW_OP_plus);
        Some(())
    }

    /// Writes the value of a guest pointer variable of shape `shape` as a *host* pointer:
    /// the 32-bit guest value `v` (read from wherever the variable lives), then
    /// `v == 0 ? 0 : membase + v` and `DW_OP_stack_value` (see [`super::pointers`]). `locs`
    /// are the homes of the shape's labels, the vmctx last.
    fn host_pointer(
        &self,
        e: &mut Expression,
        expr: WasmExpr<'_>,
        encoding: Encoding,
        shape: Shape,
        locs: &[LabelValueLoc],
    ) -> Option<()> {
        let vmctx = *locs.last()?;
        match shape {
            Shape::InLocal(_) | Shape::LocalValue(_) => self.push_value(e, locs[0])?,
            Shape::GlobalValue(g) => self.push_global(e, g, vmctx)?,
            Shape::Computed(local) => {
                if local.is_some() {
                    self.push_value(e, locs[0])?;
                }
                match tail(expr, encoding)? {
                    Tail::Ops(ops) => write_pure(e, &ops),
                    Tail::Implicit(data) if data.len() <= 8 => {
                        let mut bytes = [0u8; 8];
                        bytes[..data.len()].copy_from_slice(data);
                        e.op_constu(u64::from_le_bytes(bytes));
                    }
                    Tail::Implicit(_) => return None,
                }
            }
            Shape::Static(address) => {
                e.op_constu(address & 0xffff_ffff);
                self.push_membase(e, vmctx)?;
                e.op(gimli::DW_OP_plus);
                e.op_deref_size(4);
            }
            Shape::Memory(base, offset) => {
                self.push_memory_address(e, base, offset, locs)?;
                e.op_deref_size(4);
            }
        }
        e.op_constu(0xffff_ffff);
        e.op(gimli::DW_OP_and);
        // A null guest pointer stays null.
        e.op(gimli::DW_OP_dup);
        let nonzero = e.op_bra();
        let zero = e.op_skip();
        let add = e.next_index();
        self.push_membase(e, vmctx)?;
        e.op(gimli::DW_OP_plus);
        let done = e.next_index();
        e.op(gimli::DW_OP_stack_value);
        e.set_target(nonzero, add);
        e.set_target(zero, done);
        Some(())
    }

    /// Expressions pushing memory 0's base in placed function `f`, wherever its vmctx has a
    /// home (for [`super::pointers`]).
    pub(crate) fn membase(&self, f: &Placed<'_>) -> Vec<Piece> {
        let mut out = Vec::new();
        for &(start, end, vmctx) in self.homes(f, super::vmctx_label()).iter() {
            let mut e = Expression::new();
            if self.push_membase(&mut e, vmctx).is_some() {
                out.push(Piece {
                    start,
                    len: end - start,
                    expr: e,
                });
            }
        }
        out
    }

    /// Translates `expr` (with the enclosing subprogram's `frame_base`) for placed function
    /// `f` over its function-relative `ranges`. Empty when kiln cannot express it. With
    /// `host_pointer` the variable is a guest pointer, described by its value as a host
    /// pointer (see [`super::pointers`]).
    pub(crate) fn translate(
        &self,
        f: &Placed<'_>,
        expr: WasmExpr<'_>,
        frame_base: Option<WasmExpr<'_>>,
        encoding: Encoding,
        ranges: &[(u32, u32)],
        host_pointer: bool,
    ) -> Vec<Piece> {
        let Some(shape) = classify(expr, frame_base, encoding) else {
            return Vec::new();
        };
        let mut labels: Vec<ValueLabel> = match shape {
            Shape::InLocal(i) | Shape::LocalValue(i) | Shape::Computed(Some(i)) => {
                vec![ValueLabel::from_u32(i)]
            }
            Shape::GlobalValue(_) => vec![super::vmctx_label()],
            Shape::Computed(None) => Vec::new(),
            Shape::Memory(Base::Local(i), _) => {
                vec![ValueLabel::from_u32(i), super::vmctx_label()]
            }
            Shape::Memory(Base::Global(_), _) | Shape::Static(_) => vec![super::vmctx_label()],
        };
        // A host pointer adds the memory base to the guest pointer: it needs the vmctx (last).
        if host_pointer && labels.last() != Some(&super::vmctx_label()) {
            labels.push(super::vmctx_label());
        }
        let homes: Vec<_> = labels.iter().map(|l| self.homes(f, *l)).collect();
        let mut out = Vec::new();
        for (start, end, locs) in intersect(ranges, &homes) {
            let mut e = Expression::new();
            if host_pointer {
                if self
                    .host_pointer(&mut e, expr, encoding, shape, &locs)
                    .is_some()
                {
                    out.push(Piece {
                        start,
                        len: end - start,
                        expr: e,
                    });
                }
                continue;
            }
            let ok = match shape {
                Shape::InLocal(_) => match locs[0] {
                    LabelValueLoc::Reg(_) => self.dwarf_reg(locs[0]).map(|r| e.op_reg(r)),
                    LabelValueLoc::CFAOffset(o) => {
                        self.slot_address(&mut e, o);
                        Some(())
                    }
                },
                Shape::LocalValue(_) => self.push_value(&mut e, locs[0]).map(|()| {
                    e.op(gimli::DW_OP_stack_value);
                }),
                Shape::GlobalValue(g) => self.push_global(&mut e, g, locs[0]).map(|()| {
                    e.op(gimli::DW_OP_stack_value);
                }),
                Shape::Computed(local) => (|| {
                    if local.is_some() {
                        self.push_value(&mut e, locs[0])?;
                    }
                    match tail(expr, encoding)? {
                        Tail::Ops(ops) => {
                            write_pure(&mut e, &ops);
                            e.op(gimli::DW_OP_stack_value);
                        }
                        Tail::Implicit(data) => e.op_implicit_value(data.into()),
                    }
                    Some(())
                })(),
                Shape::Static(address) => (|| {
                    e.op_constu(address & 0xffff_ffff);
                    self.push_membase(&mut e, locs[0])?;
                    e.op(gimli::DW_OP_plus);
                    Some(())
                })(),
                Shape::Memory(base, offset) => {
                    self.push_memory_address(&mut e, base, offset, &locs)
                }
            };
            if ok.is_some() {
                out.push(Piece {
                    start,
                    len: end - start,
                    expr: e,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(bytes: &[u8]) -> Option<Shape> {
        let encoding = Encoding {
            address_size: 4,
            format: gimli::Format::Dwarf32,
            version: 4,
        };
        classify(
            ReadExpr(EndianSlice::new(bytes, LittleEndian)),
            None,
            encoding,
        )
    }

    #[test]
    fn x64_entry_registers_follow_the_tail_convention() {
        // (vmctx, caller vmctx,) i32, f64, i64, v128, i32, i32, i32: rdx, xmm0, rcx, xmm1,
        // r8, r9, then the stack.
        let regs = VmLayout::x64_param_regs(&[false, true, false, true, false, false, false]);
        assert_eq!(
            regs,
            vec![Some(1), Some(17), Some(2), Some(18), Some(8), Some(9), None]
        );
    }

    #[test]
    fn computed_and_constant_locations_are_kept() {
        // DW_OP_WASM_location 0 2, DW_OP_lit1, DW_OP_minus, DW_OP_stack_value
        let s = shape(&[0xed, 0x00, 0x02, 0x31, 0x1c, 0x9f]);
        assert!(matches!(s, Some(Shape::Computed(Some(2)))), "{s:?}");
        // DW_OP_consts 5, DW_OP_stack_value
        let s = shape(&[0x11, 0x05, 0x9f]);
        assert!(matches!(s, Some(Shape::Computed(None))), "{s:?}");
        // DW_OP_implicit_value 4 bytes
        let s = shape(&[0x9e, 0x04, 1, 2, 3, 4]);
        assert!(matches!(s, Some(Shape::Computed(None))), "{s:?}");
        // A local's plain value stays `LocalValue`.
        let s = shape(&[0xed, 0x00, 0x03, 0x9f]);
        assert!(matches!(s, Some(Shape::LocalValue(3))), "{s:?}");
        // An operand-stack slot's value is its label's; a global's value is read through
        // the vmctx; a local plus a constant is an address in linear memory.
        let s = shape(&[0xed, 0x02, 0x01, 0x9f]);
        let slot1 = crate::debug::operand_label(1).as_u32();
        assert!(
            matches!(s, Some(Shape::LocalValue(l)) if l == slot1),
            "{s:?}"
        );
        let s = shape(&[0xed, 0x03, 0, 0, 0, 0, 0x9f]);
        assert!(matches!(s, Some(Shape::GlobalValue(0))), "{s:?}");
        let s = shape(&[0xed, 0x00, 0x02, 0x23, 0x10]);
        assert!(
            matches!(s, Some(Shape::Memory(Base::Local(2), 16))),
            "{s:?}"
        );
        // Memory reads are not translated.
        assert!(shape(&[0xed, 0x00, 0x01, 0x06, 0x9f]).is_none());
        // Arithmetic without a final DW_OP_stack_value is a memory location: not translated.
        assert!(shape(&[0x11, 0x05]).is_none());
    }
}

//! The control stack: structured control flow (block, loop, if/else, try_table, end, br,
//! br_if, br_table, return) mapped onto Cranelift blocks, and the bookkeeping for unreachable
//! code.
//!
//! A `try_table` is a block with catch clauses. Each clause gets a *landing block* (one
//! parameter: the exception object) that every call inside the `try_table` names in its
//! exception table ([`TranslationState::handlers`]); at the `try_table`'s `end` the landing
//! blocks that were used are filled: they unpack the payload and branch to the clause's label.
//!
//! Part of stage 2 (translate), used by the operator dispatch in `translate/mod.rs`.
//!
//! Invariant: when `TranslationState::reachable` is true the builder's current block is open;
//! when it is false the current block is already terminated, and operators are skipped (only
//! their nesting is tracked, with `Frame::Dead`) until an `else` or `end` makes code reachable
//! again. A frame's `next` block (the code after `end`) is entered only if something
//! branches to it, so no unreachable block with parameters is ever filled.

use crate::error::{CompileError, Result};
use cranelift_codegen::ir::{self, BlockArg, InstBuilder, JumpTableData, Value};
use cranelift_frontend::FunctionBuilder;

/// What kind of construct a live frame is.
pub(crate) enum FrameKind {
    /// `block` (and the function body itself).
    Block,
    /// `loop`: branches go back to `header`, with the loop's parameters.
    Loop {
        /// The loop header.
        header: ir::Block,
    },
    /// `if`: `else_block` is where the false branch starts.
    If {
        /// Start of the else branch (no parameters: it reads `else_params`).
        else_block: ir::Block,
        /// The block's parameters at entry, for the else branch.
        else_params: Vec<Value>,
        /// Whether the `else` operator was seen.
        seen_else: bool,
    },
    /// `try_table`: a block whose calls are covered by `catches`.
    TryTable {
        /// The catch clauses, in wasm order.
        catches: Vec<Catch>,
    },
}

/// Loads an exception object's payload (of the given types) for a landing block.
pub(crate) type Unpack<'a> = dyn FnMut(&mut FunctionBuilder, Value, &[ir::Type]) -> Vec<Value> + 'a;

/// One catch clause of a `try_table`.
pub(crate) struct Catch {
    /// The module-local tag index; `None` for `catch_all`/`catch_all_ref`.
    pub(crate) tag: Option<u32>,
    /// The label, relative to the frames enclosing the `try_table`.
    pub(crate) label: u32,
    /// Types of the payload values passed to the label (empty for catch-all clauses).
    pub(crate) payload: Vec<ir::Type>,
    /// Whether the exception reference itself is passed too (`catch_ref`, `catch_all_ref`).
    pub(crate) with_ref: bool,
    /// The landing block: one `i64` parameter, the exception object.
    pub(crate) landing: ir::Block,
    /// Whether some call named the landing block (it is only filled then).
    pub(crate) used: bool,
}

/// A live control frame: one entered while code was reachable.
pub(crate) struct LiveFrame {
    /// Kind and kind-specific blocks.
    pub(crate) kind: FrameKind,
    /// The block after `end`; its parameters are the frame's results.
    pub(crate) next: ir::Block,
    /// Number of parameters.
    pub(crate) num_params: usize,
    /// Number of results.
    pub(crate) num_results: usize,
    /// Value-stack height below the frame's parameters.
    pub(crate) stack_height: usize,
    /// Whether `next` has a predecessor (a branch or a fallthrough).
    pub(crate) next_reached: bool,
}

/// A control frame.
pub(crate) enum Frame {
    /// Entered while reachable.
    Live(LiveFrame),
    /// Entered in unreachable code: only nesting matters.
    Dead,
}

/// The operand stack, the control stack and reachability.
pub(crate) struct TranslationState {
    /// The operand stack (v128 values are `I8X16`).
    pub(crate) stack: Vec<Value>,
    /// The control stack; the function body is the outermost frame.
    pub(crate) control: Vec<Frame>,
    /// Whether the current position is reachable.
    pub(crate) reachable: bool,
    /// Catch handlers named by the function's calls so far (bounded: every call inside nested
    /// `try_table`s lists all their clauses).
    pub(crate) handler_entries: usize,
}

/// Most catch handlers the calls of one function may name in total.
const MAX_HANDLER_ENTRIES: usize = 1 << 20;

fn internal(what: &str) -> CompileError {
    CompileError::msg(format!("internal translator error: {what}"))
}

/// Values as block-call arguments.
pub(crate) fn args(vals: &[Value]) -> Vec<BlockArg> {
    vals.iter().map(|v| BlockArg::Value(*v)).collect()
}

impl TranslationState {
    /// Pops one operand.
    pub(crate) fn pop(&mut self) -> Result<Value> {
        self.stack
            .pop()
            .ok_or_else(|| internal("operand stack underflow"))
    }

    /// Pops two operands (`(a, b)` with `b` the top).
    pub(crate) fn pop2(&mut self) -> Result<(Value, Value)> {
        let b = self.pop()?;
        let a = self.pop()?;
        Ok((a, b))
    }

    /// Pops three operands (`c` the top).
    pub(crate) fn pop3(&mut self) -> Result<(Value, Value, Value)> {
        let c = self.pop()?;
        let (a, b) = self.pop2()?;
        Ok((a, b, c))
    }

    /// Pops `n` operands, in stack order.
    pub(crate) fn popn(&mut self, n: usize) -> Result<Vec<Value>> {
        let len = self.stack.len();
        if n > len {
            return Err(internal("operand stack underflow"));
        }
        Ok(self.stack.split_off(len - n))
    }

    /// The top `n` operands, in stack order.
    pub(crate) fn peekn(&self, n: usize) -> Result<&[Value]> {
        let len = self.stack.len();
        if n > len {
            return Err(internal("operand stack underflow"));
        }
        Ok(&self.stack[len - n..])
    }

    /// Pushes one operand.
    pub(crate) fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    /// The live frame `depth` levels out (0 = innermost).
    fn frame_at(&mut self, depth: u32) -> Result<&mut LiveFrame> {
        let len = self.control.len();
        let i = len
            .checked_sub(1 + depth as usize)
            .ok_or_else(|| internal("branch depth out of range"))?;
        match &mut self.control[i] {
            Frame::Live(f) => Ok(f),
            Frame::Dead => Err(internal("branch to a dead frame")),
        }
    }

    /// Target block and argument count of a branch to `depth`; marks the target reached.
    fn branch_target(&mut self, depth: u32) -> Result<(ir::Block, usize)> {
        let f = self.frame_at(depth)?;
        Ok(match f.kind {
            FrameKind::Loop { header } => (header, f.num_params),
            _ => {
                f.next_reached = true;
                (f.next, f.num_results)
            }
        })
    }

    /// `block`.
    pub(crate) fn block(
        &mut self,
        builder: &mut FunctionBuilder,
        params: &[ir::Type],
        results: &[ir::Type],
    ) -> Result<()> {
        let next = builder.create_block();
        for t in results {
            builder.append_block_param(next, *t);
        }
        let stack_height = self
            .stack
            .len()
            .checked_sub(params.len())
            .ok_or_else(|| internal("operand stack underflow"))?;
        self.control.push(Frame::Live(LiveFrame {
            kind: FrameKind::Block,
            next,
            num_params: params.len(),
            num_results: results.len(),
            stack_height,
            next_reached: false,
        }));
        Ok(())
    }

    /// `try_table` with its catch clauses (landing blocks created by the caller).
    pub(crate) fn try_table(
        &mut self,
        builder: &mut FunctionBuilder,
        params: &[ir::Type],
        results: &[ir::Type],
        catches: Vec<Catch>,
    ) -> Result<()> {
        self.block(builder, params, results)?;
        if let Some(Frame::Live(f)) = self.control.last_mut() {
            f.kind = FrameKind::TryTable { catches };
        }
        Ok(())
    }

    /// The catch handlers covering a call at the current position, innermost `try_table`
    /// first and each `try_table`'s clauses in order: `(tag, landing block)`, `None` for a
    /// catch-all. Marks them used.
    pub(crate) fn handlers(&mut self) -> Result<Vec<(Option<u32>, ir::Block)>> {
        let mut out = Vec::new();
        for frame in self.control.iter_mut().rev() {
            if let Frame::Live(LiveFrame {
                kind: FrameKind::TryTable { catches },
                ..
            }) = frame
            {
                for c in catches.iter_mut() {
                    c.used = true;
                    out.push((c.tag, c.landing));
                }
            }
        }
        self.handler_entries += out.len();
        if self.handler_entries > MAX_HANDLER_ENTRIES {
            return Err(CompileError::msg(
                "too many catch handlers in scope of the function's calls",
            ));
        }
        Ok(out)
    }

    /// Fills the landing blocks of a closed `try_table`'s used clauses: `unpack` loads the
    /// payload of the exception object, then the block branches to the clause's label.
    fn fill_landings(
        &mut self,
        builder: &mut FunctionBuilder,
        catches: Vec<Catch>,
        unpack: &mut Unpack<'_>,
    ) -> Result<()> {
        for c in catches.into_iter().filter(|c| c.used) {
            builder.switch_to_block(c.landing);
            // Every call inside the `try_table` (the only predecessors) has been emitted.
            builder.seal_block(c.landing);
            let exn = *builder
                .block_params(c.landing)
                .first()
                .ok_or_else(|| internal("landing block without parameter"))?;
            let mut vals = unpack(builder, exn, &c.payload);
            if c.with_ref {
                vals.push(exn);
            }
            let (target, n) = self.branch_target(c.label)?;
            if n != vals.len() {
                return Err(internal("catch clause arity mismatch"));
            }
            builder.ins().jump(target, &args(&vals));
        }
        Ok(())
    }

    /// `loop`: leaves the builder in the (unsealed) header, parameters on the stack.
    pub(crate) fn loop_(
        &mut self,
        builder: &mut FunctionBuilder,
        params: &[ir::Type],
        results: &[ir::Type],
    ) -> Result<()> {
        let header = builder.create_block();
        for t in params {
            builder.append_block_param(header, *t);
        }
        let next = builder.create_block();
        for t in results {
            builder.append_block_param(next, *t);
        }
        let entry = self.popn(params.len())?;
        builder.ins().jump(header, &args(&entry));
        builder.switch_to_block(header);
        let stack_height = self.stack.len();
        self.stack.extend_from_slice(builder.block_params(header));
        self.control.push(Frame::Live(LiveFrame {
            kind: FrameKind::Loop { header },
            next,
            num_params: params.len(),
            num_results: results.len(),
            stack_height,
            next_reached: false,
        }));
        Ok(())
    }

    /// `if` with condition `cond` (already popped).
    pub(crate) fn if_(
        &mut self,
        builder: &mut FunctionBuilder,
        cond: Value,
        params: &[ir::Type],
        results: &[ir::Type],
    ) -> Result<()> {
        let next = builder.create_block();
        for t in results {
            builder.append_block_param(next, *t);
        }
        let then_block = builder.create_block();
        let else_block = builder.create_block();
        builder.ins().brif(cond, then_block, &[], else_block, &[]);
        builder.seal_block(then_block);
        builder.seal_block(else_block);
        builder.switch_to_block(then_block);
        let else_params = self.peekn(params.len())?.to_vec();
        self.control.push(Frame::Live(LiveFrame {
            kind: FrameKind::If {
                else_block,
                else_params,
                seen_else: false,
            },
            next,
            num_params: params.len(),
            num_results: results.len(),
            stack_height: self.stack.len() - params.len(),
            next_reached: false,
        }));
        Ok(())
    }

    /// `else` (reachable or not).
    pub(crate) fn else_(&mut self, builder: &mut FunctionBuilder) -> Result<()> {
        let reachable = self.reachable;
        let frame = match self.control.last_mut() {
            Some(Frame::Live(f)) => f,
            Some(Frame::Dead) => return Ok(()), // stays unreachable
            None => return Err(internal("else without if")),
        };
        let FrameKind::If {
            else_block,
            else_params,
            seen_else,
        } = &mut frame.kind
        else {
            return Err(internal("else without if"));
        };
        if *seen_else {
            return Err(internal("duplicate else"));
        }
        *seen_else = true;
        let len = self.stack.len();
        if reachable {
            let n = frame.num_results;
            if n > len {
                return Err(internal("operand stack underflow"));
            }
            builder
                .ins()
                .jump(frame.next, &args(&self.stack[len - n..]));
            frame.next_reached = true;
        }
        self.stack.truncate(frame.stack_height);
        self.stack.extend_from_slice(else_params);
        builder.switch_to_block(*else_block);
        // The else branch is reachable whenever the `if` itself was (live frames only).
        self.reachable = true;
        Ok(())
    }

    /// `end` (reachable or not). Returns `true` when this closed the function body: the
    /// caller then emits the return (if `reachable`) with the values on the stack. `unpack`
    /// loads an exception object's payload (for a `try_table`'s landing blocks).
    pub(crate) fn end(
        &mut self,
        builder: &mut FunctionBuilder,
        unpack: &mut Unpack<'_>,
    ) -> Result<bool> {
        let frame = match self.control.pop() {
            Some(Frame::Live(f)) => f,
            Some(Frame::Dead) => return Ok(false),
            None => return Err(internal("end without block")),
        };
        let mut reached = frame.next_reached;
        if self.reachable {
            let n = frame.num_results;
            let len = self.stack.len();
            if n > len {
                return Err(internal("operand stack underflow"));
            }
            builder
                .ins()
                .jump(frame.next, &args(&self.stack[len - n..]));
            reached = true;
        }
        match &frame.kind {
            FrameKind::Loop { header } => builder.seal_block(*header),
            FrameKind::If {
                else_block,
                else_params,
                seen_else: false,
            } => {
                // No else: the false branch passes the parameters through as results.
                builder.switch_to_block(*else_block);
                builder.ins().jump(frame.next, &args(else_params));
                reached = true;
            }
            _ => {}
        }
        if let FrameKind::TryTable { catches } = frame.kind {
            self.fill_landings(builder, catches, unpack)?;
        }
        self.stack.truncate(frame.stack_height);
        if reached {
            builder.switch_to_block(frame.next);
            builder.seal_block(frame.next);
            self.stack
                .extend_from_slice(builder.block_params(frame.next));
            self.reachable = true;
        } else {
            self.reachable = false;
        }
        Ok(self.control.is_empty())
    }

    /// `br`.
    pub(crate) fn br(&mut self, builder: &mut FunctionBuilder, depth: u32) -> Result<()> {
        let (target, n) = self.branch_target(depth)?;
        let vals = args(self.peekn(n)?);
        builder.ins().jump(target, &vals);
        self.reachable = false;
        Ok(())
    }

    /// `br_if` (condition on the stack).
    pub(crate) fn br_if(&mut self, builder: &mut FunctionBuilder, depth: u32) -> Result<()> {
        let cond = self.pop()?;
        let (target, n) = self.branch_target(depth)?;
        let vals = args(self.peekn(n)?);
        let fallthrough = builder.create_block();
        builder.ins().brif(cond, target, &vals, fallthrough, &[]);
        builder.seal_block(fallthrough);
        builder.switch_to_block(fallthrough);
        Ok(())
    }

    /// `br_table` (index on the stack).
    pub(crate) fn br_table(
        &mut self,
        builder: &mut FunctionBuilder,
        targets: &wasmparser::BrTable<'_>,
    ) -> Result<()> {
        let index = self.pop()?;
        let mut calls = Vec::with_capacity(targets.len() as usize);
        let mut n_args = None;
        for depth in targets.targets() {
            let depth = depth?;
            calls.push(self.branch_target(depth)?);
        }
        let default = self.branch_target(targets.default())?;
        for (_, n) in calls.iter().chain(std::iter::once(&default)) {
            match n_args {
                None => n_args = Some(*n),
                Some(m) if m != *n => return Err(internal("br_table arity mismatch")),
                _ => {}
            }
        }
        let vals = args(self.peekn(default.1)?);
        let pool = &mut builder.func.dfg.value_lists;
        let mk = |(b, _): (ir::Block, usize), pool: &mut ir::ValueListPool| {
            ir::BlockCall::new(b, vals.iter().copied(), pool)
        };
        let def_call = mk(default, pool);
        let table: Vec<ir::BlockCall> = calls.into_iter().map(|c| mk(c, pool)).collect();
        let jt = builder.create_jump_table(JumpTableData::new(def_call, &table));
        builder.ins().br_table(index, jt);
        self.reachable = false;
        Ok(())
    }
}

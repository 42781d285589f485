//! The canonical built-ins of component-model async and threads (`context.get`,
//! `backpressure.inc`, `thread.yield`, `waitable-set.new`, `stream.read`, ...) as core
//! functions of the runtime's making, one per `canon` definition of the plan.
//!
//! kiln runs synchronous tasks only: every lifted call runs to completion on the caller's
//! stack. The built-ins whose meaning needs nothing more work as CanonicalABI.md defines them:
//! `context.get`/`context.set` (the task's two storage slots, zeroed by the glue when a task
//! starts), `backpressure.inc`/`.dec` (the instance's counter, with its overflow traps) and
//! `thread.yield` (a synchronous task cannot be suspended: it returns "not cancelled"). The
//! others (waitable sets, subtasks, streams, futures, error contexts, threads) need the event
//! loop and stack switching kiln does not have yet: after the checks every built-in starts
//! with (`may_leave`), they trap, naming the built-in. `task.return` is compiled glue (it
//! lifts values), see `kiln_compiler::component::glue::import`.

use super::instance::Shared;
use crate::error::Trap;
use crate::func::{Caller, Func};
use crate::values::Val;
use crate::Engine;
use kiln_environ::component::glue::GlueTrap;
use kiln_environ::component::vmctx::FLAG_MAY_LEAVE;
use kiln_environ::component::{CanonBuiltin, ComponentInstanceIndex};
use kiln_environ::{FuncType, ValType};
use std::sync::Weak;

/// Largest `backpressure` count (CanonicalABI.md: the counter is a `u16`).
const MAX_BACKPRESSURE: u32 = (1 << 16) - 1;

/// The core function of `builtin` for component instance `instance`, of core type `ty`.
pub(super) fn builtin_func(
    engine: &Engine,
    shared: Weak<Shared>,
    builtin: CanonBuiltin,
    instance: ComponentInstanceIndex,
    ty: FuncType,
) -> Func {
    let result_ty = ty.results.first().copied();
    Func::new(engine, ty, move |_: &mut Caller<'_>, args, results| {
        let shared = shared
            .upgrade()
            .ok_or_else(|| Trap::host("component instance is gone"))?;
        let cx = &shared.vmctx;
        let o = cx.offsets;
        if builtin.checks_may_leave()
            && cx.read_u32(o.instance_flags(instance)) & FLAG_MAY_LEAVE == 0
        {
            return Err(Trap::abi(GlueTrap::CannotLeave.message()));
        }
        match &builtin {
            CanonBuiltin::ContextGet(slot) | CanonBuiltin::ContextSet(slot) if *slot > 1 => {
                Err(Trap::abi(format!(
                    "context-local storage slot {slot} out of range (there are 2)"
                )))
            }
            CanonBuiltin::ContextGet(slot) => {
                let v = cx.read_u64(o.task_context(instance, *slot));
                results[0] = match result_ty {
                    Some(ValType::I64) => Val::I64(v as i64),
                    _ => Val::I32(v as u32 as i32),
                };
                Ok(())
            }
            CanonBuiltin::ContextSet(slot) => {
                let v = match args.first() {
                    Some(Val::I32(x)) => u64::from(*x as u32),
                    Some(Val::I64(x)) => *x as u64,
                    _ => return Err(Trap::host("context.set called with a bad argument")),
                };
                cx.write_u64(o.task_context(instance, *slot), v);
                Ok(())
            }
            CanonBuiltin::BackpressureInc => {
                let n = cx.read_u32(o.backpressure(instance));
                if n >= MAX_BACKPRESSURE {
                    return Err(Trap::abi("backpressure counter overflow"));
                }
                cx.write_u32(o.backpressure(instance), n + 1);
                Ok(())
            }
            CanonBuiltin::BackpressureDec => {
                let n = cx.read_u32(o.backpressure(instance));
                if n == 0 {
                    return Err(Trap::abi(
                        "backpressure counter overflow (backpressure.dec below zero)",
                    ));
                }
                cx.write_u32(o.backpressure(instance), n - 1);
                Ok(())
            }
            // A synchronous task is never suspended, so never cancelled meanwhile.
            CanonBuiltin::ThreadYield(_) => {
                if let Some(r) = results.first_mut() {
                    *r = Val::I32(0);
                }
                Ok(())
            }
            CanonBuiltin::Other(name) => Err(Trap::abi(format!(
                "unsupported: canonical built-in `{name}` needs component-model async (tasks, \
                 waitables, streams, futures, threads), which kiln does not run yet"
            ))),
        }
    })
}

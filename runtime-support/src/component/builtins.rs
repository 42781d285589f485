//! The canonical built-ins of component-model async and threads (`context.get`,
//! `backpressure.inc`, `thread.yield`, `waitable-set.new`, `stream.read`, ...) as core
//! functions of the runtime's making, one per `canon` definition of the plan.
//!
//! `context.get`/`context.set` read and write the running thread's two storage slots (words of
//! the component VM context switched with the thread, zeroed by the glue when a task starts),
//! `backpressure.inc`/`.dec` the instance's counter; `thread.yield` lets the other ready threads
//! run. Waitable sets, subtasks, streams, futures, error contexts and explicit threads are
//! `concurrent`'s; every built-in first checks `may_leave` where the spec does. `task.return` is compiled glue (it lifts values),
//! see `kiln_compiler::component::glue::import`.

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
    table: Option<crate::table::Table>,
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
            CanonBuiltin::ThreadYield(cancellable) => {
                let st = shared.concurrent.lock();
                let mut cancelled = false;
                if shared.check_may_block(&st, instance).is_ok() {
                    let task = if *cancellable {
                        st.current_task(instance)
                    } else {
                        None
                    };
                    cancelled = shared.yield_cancellable(st, task)?;
                }
                if let Some(r) = results.first_mut() {
                    *r = Val::I32(i32::from(cancelled));
                }
                Ok(())
            }
            CanonBuiltin::ThreadNewIndirect { .. } => {
                let table = table
                    .as_ref()
                    .ok_or_else(|| Trap::host("thread.new-indirect without its table"))?;
                let i = shared.thread_new_indirect(
                    instance,
                    table,
                    arg(args, 0),
                    arg(args, 1) as i32,
                )?;
                results[0] = Val::I32(i as i32);
                Ok(())
            }
            CanonBuiltin::ThreadIndex => {
                results[0] = Val::I32(shared.thread_index(instance) as i32);
                Ok(())
            }
            CanonBuiltin::ThreadResumeLater => shared.thread_resume_later(instance, arg(args, 0)),
            CanonBuiltin::ThreadSuspend(_) => {
                let c = shared.thread_suspend(instance)?;
                if let Some(r) = results.first_mut() {
                    *r = Val::I32(c as i32);
                }
                Ok(())
            }
            CanonBuiltin::ThreadSwitch {
                yield_, promote, ..
            } => {
                let c = shared.thread_switch(instance, *yield_, *promote, arg(args, 0))?;
                if let Some(r) = results.first_mut() {
                    *r = Val::I32(c as i32);
                }
                Ok(())
            }
            CanonBuiltin::Other(name) => Err(Trap::abi(format!(
                "unsupported: canonical built-in `{name}` (component-model threads) is not \
                 implemented yet"
            ))),
            other => {
                let r = async_builtin(&shared, other, instance, args)?;
                if let (Some(slot), Some(v)) = (results.first_mut(), r) {
                    *slot = match result_ty {
                        Some(ValType::I64) => Val::I64(v as i64),
                        _ => Val::I32(v as u32 as i32),
                    };
                }
                Ok(())
            }
        }
    })
}

/// The `i`th argument as a `u32`.
fn arg(args: &[Val], i: usize) -> u32 {
    match args.get(i) {
        Some(Val::I32(x)) => *x as u32,
        Some(Val::I64(x)) => *x as u32,
        _ => 0,
    }
}

/// The built-ins of waitables, subtasks, streams, futures and error contexts
/// (`concurrent`); returns the result, if any.
fn async_builtin(
    shared: &Shared,
    builtin: &CanonBuiltin,
    instance: ComponentInstanceIndex,
    args: &[Val],
) -> Result<Option<u64>, Trap> {
    use CanonBuiltin as B;
    let r = |v: u32| Ok(Some(u64::from(v)));
    match builtin {
        B::WaitableSetNew => r(shared.waitable_set_new(instance)?),
        B::WaitableSetWait {
            memory,
            cancellable,
        } => r(shared.waitable_set_wait(
            instance,
            arg(args, 0),
            *cancellable,
            Some(*memory),
            arg(args, 1),
        )?),
        B::WaitableSetPoll {
            memory,
            cancellable,
        } => r(shared.waitable_set_poll(
            instance,
            arg(args, 0),
            *cancellable,
            *memory,
            arg(args, 1),
        )?),
        B::WaitableSetDrop => {
            shared.waitable_set_drop(instance, arg(args, 0))?;
            Ok(None)
        }
        B::WaitableJoin => {
            shared.waitable_join(instance, arg(args, 0), arg(args, 1))?;
            Ok(None)
        }
        B::SubtaskDrop => {
            shared.subtask_drop(instance, arg(args, 0))?;
            Ok(None)
        }
        B::SubtaskCancel { async_ } => r(shared.subtask_cancel(instance, *async_, arg(args, 0))?),
        B::New(ty) => Ok(Some(shared.copy_new(instance, ty)?)),
        B::Copy { ty, write, options } => {
            let n = if ty.future { 1 } else { arg(args, 2) };
            r(shared.copy(ty, *write, options, arg(args, 0), arg(args, 1), n)?)
        }
        B::CancelCopy { ty, write, async_ } => {
            r(shared.cancel_copy(instance, ty, *write, *async_, arg(args, 0))?)
        }
        B::DropEnd { ty, writable } => {
            shared.drop_end(instance, ty, *writable, arg(args, 0))?;
            Ok(None)
        }
        B::TaskCancel => {
            shared.task_cancel(instance)?;
            Ok(None)
        }
        B::ErrorContextNew(opts) => {
            r(shared.error_context_new(opts, arg(args, 0), arg(args, 1))?)
        }
        B::ErrorContextDebugMessage(opts) => {
            shared.error_context_debug_message(opts, arg(args, 0), arg(args, 1))?;
            Ok(None)
        }
        B::ErrorContextDrop => {
            shared.error_context_drop(instance, arg(args, 0))?;
            Ok(None)
        }
        B::ContextGet(_)
        | B::ContextSet(_)
        | B::BackpressureInc
        | B::BackpressureDec
        | B::ThreadYield(_)
        | B::ThreadIndex
        | B::ThreadNewIndirect { .. }
        | B::ThreadResumeLater
        | B::ThreadSuspend(_)
        | B::ThreadSwitch { .. }
        | B::Other(_) => unreachable!("handled by builtin_func"),
    }
}

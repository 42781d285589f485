//! Component front end, phase 2 (continued): the canonical built-ins of component-model async
//! and threads, resolved against the frame (stream and future types, option memories).

use super::*;
use wasmparser::CanonicalFunction as F;

impl Inliner<'_, '_> {
    /// The [`CanonBuiltin`] of a canonical function that is not a lift, lower, resource
    /// intrinsic or `task.return`.
    pub(super) fn builtin(
        &mut self,
        frame: &Frame<'_, '_>,
        canon: &wasmparser::CanonicalFunction,
        offset: usize,
    ) -> Result<CanonBuiltin> {
        use CanonBuiltin as B;
        let name = match canon {
            F::ContextGet { slot, .. } => return Ok(B::ContextGet(*slot)),
            F::ContextSet { slot, .. } => return Ok(B::ContextSet(*slot)),
            F::BackpressureInc => return Ok(B::BackpressureInc),
            F::BackpressureDec => return Ok(B::BackpressureDec),
            F::ThreadYield { cancellable } => return Ok(B::ThreadYield(*cancellable)),
            F::TaskCancel => return Ok(B::TaskCancel),
            F::SubtaskDrop => return Ok(B::SubtaskDrop),
            F::SubtaskCancel { async_ } => return Ok(B::SubtaskCancel { async_: *async_ }),
            F::WaitableSetNew => return Ok(B::WaitableSetNew),
            F::WaitableSetWait {
                cancellable,
                memory,
            } => {
                let memory = self.memory_option(frame, *memory, offset)?;
                return Ok(B::WaitableSetWait {
                    cancellable: *cancellable,
                    memory,
                });
            }
            F::WaitableSetPoll {
                cancellable,
                memory,
            } => {
                let memory = self.memory_option(frame, *memory, offset)?;
                return Ok(B::WaitableSetPoll {
                    cancellable: *cancellable,
                    memory,
                });
            }
            F::WaitableSetDrop => return Ok(B::WaitableSetDrop),
            F::WaitableJoin => return Ok(B::WaitableJoin),
            F::StreamNew { ty } => return Ok(B::New(self.async_type(frame, *ty, false, offset)?)),
            F::FutureNew { ty } => return Ok(B::New(self.async_type(frame, *ty, true, offset)?)),
            F::StreamRead { ty, options } | F::StreamWrite { ty, options } => {
                return Ok(B::Copy {
                    ty: self.async_type(frame, *ty, false, offset)?,
                    write: matches!(canon, F::StreamWrite { .. }),
                    options: self.options(frame, options, offset)?,
                })
            }
            F::FutureRead { ty, options } | F::FutureWrite { ty, options } => {
                return Ok(B::Copy {
                    ty: self.async_type(frame, *ty, true, offset)?,
                    write: matches!(canon, F::FutureWrite { .. }),
                    options: self.options(frame, options, offset)?,
                })
            }
            F::StreamCancelRead { ty, async_ } | F::StreamCancelWrite { ty, async_ } => {
                return Ok(B::CancelCopy {
                    ty: self.async_type(frame, *ty, false, offset)?,
                    write: matches!(canon, F::StreamCancelWrite { .. }),
                    async_: *async_,
                })
            }
            F::FutureCancelRead { ty, async_ } | F::FutureCancelWrite { ty, async_ } => {
                return Ok(B::CancelCopy {
                    ty: self.async_type(frame, *ty, true, offset)?,
                    write: matches!(canon, F::FutureCancelWrite { .. }),
                    async_: *async_,
                })
            }
            F::StreamDropReadable { ty } | F::StreamDropWritable { ty } => {
                return Ok(B::DropEnd {
                    ty: self.async_type(frame, *ty, false, offset)?,
                    writable: matches!(canon, F::StreamDropWritable { .. }),
                })
            }
            F::FutureDropReadable { ty } | F::FutureDropWritable { ty } => {
                return Ok(B::DropEnd {
                    ty: self.async_type(frame, *ty, true, offset)?,
                    writable: matches!(canon, F::FutureDropWritable { .. }),
                })
            }
            F::ErrorContextNew { options } => {
                return Ok(B::ErrorContextNew(self.options(frame, options, offset)?))
            }
            F::ErrorContextDebugMessage { options } => {
                return Ok(B::ErrorContextDebugMessage(
                    self.options(frame, options, offset)?,
                ))
            }
            F::ErrorContextDrop => return Ok(B::ErrorContextDrop),
            F::ThreadIndex => return Ok(B::ThreadIndex),
            F::ThreadNewIndirect { table_index, .. } => {
                let table = get(&frame.core_tables, *table_index, "core table", offset)?;
                return Ok(B::ThreadNewIndirect {
                    table: Box::new(table),
                });
            }
            F::ThreadResumeLater => return Ok(B::ThreadResumeLater),
            F::ThreadSuspend { cancellable } => return Ok(B::ThreadSuspend(*cancellable)),
            F::ThreadSuspendThenResume { cancellable }
            | F::ThreadYieldThenResume { cancellable }
            | F::ThreadSuspendThenPromote { cancellable }
            | F::ThreadYieldThenPromote { cancellable } => {
                return Ok(B::ThreadSwitch {
                    yield_: matches!(
                        canon,
                        F::ThreadYieldThenResume { .. } | F::ThreadYieldThenPromote { .. }
                    ),
                    promote: matches!(
                        canon,
                        F::ThreadSuspendThenPromote { .. } | F::ThreadYieldThenPromote { .. }
                    ),
                    cancellable: *cancellable,
                })
            }
            F::ThreadSpawnRef { .. } => "thread.spawn-ref",
            F::ThreadSpawnIndirect { .. } => "thread.spawn-indirect",
            F::ThreadAvailableParallelism => "thread.available-parallelism",
            other => {
                // The remaining built-ins (thread switching) by their wasmparser name.
                let debug = format!("{other:?}");
                return Ok(B::Other(
                    debug
                        .split([' ', '{', '('])
                        .next()
                        .unwrap_or("")
                        .to_string(),
                ));
            }
        };
        Ok(B::Other(name.to_string()))
    }

    /// The option memory of core memory `index` (as a `(memory ...)` option names it).
    fn memory_option(
        &mut self,
        frame: &Frame<'_, '_>,
        index: u32,
        offset: usize,
    ) -> Result<RuntimeMemoryIndex> {
        self.options(frame, &[CanonicalOption::Memory(index)], offset)?
            .memory
            .ok_or_else(|| err(offset, "canonical built-in without a memory"))
    }

    /// The stream or future type at component type index `ty`.
    fn async_type(
        &mut self,
        frame: &Frame<'_, '_>,
        ty: u32,
        future: bool,
        offset: usize,
    ) -> Result<AsyncValueType> {
        let elem = match Self::value_type_at(frame, ty, offset) {
            TypeDef::Value(Some(InterfaceType::Stream(e))) if !future => e,
            TypeDef::Value(Some(InterfaceType::Future(e))) if future => e,
            _ => {
                let want = if future { "future" } else { "stream" };
                return Err(err(offset, format!("type {ty} is not a {want} type")));
            }
        };
        Ok(AsyncValueType {
            future,
            elem: elem.map(|e| *e),
        })
    }
}

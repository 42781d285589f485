//! The layout of the component VM context: the per-instantiation block the runtime fills while
//! it executes the plan and the compiled canonical-ABI glue reads.
//!
//! One component VM context exists per component instantiation (the root and every nested
//! component share it, since the plan is flat). All slots are 8 bytes:
//!
//! ```text
//! header (32 bytes)   magic (u32 "vmcc"), pad, runtime instance*, builtins*, store_context*
//! instance_flags      [u32; num_component_instances], padded to 8: bit 0 may_leave,
//!                     bit 1 may_enter, bit 2 needs_post_return (CanonicalABI.md)
//! memories            [*mut VMMemoryDefinition; num_memories]   option memories
//! reallocs            [*const VMFuncRef; num_reallocs]
//! post_returns        [*const VMFuncRef; num_post_returns]
//! lifted_callees      [*const VMFuncRef; num_lifted]            core callee of each lift
//! lowered             [*const VMFuncRef; num_lowered]           core function of each lower
//! resource_dtors      [*const VMFuncRef; num_resources]         null: no destructor
//! tasks               [TaskSlots; num_component_instances]      the current task of each instance
//! ```
//!
//! `TaskSlots` (40 bytes) is the state of the task (the lifted call) running in an instance:
//! its two `context.get`/`context.set` slots (zeroed by the glue when the task starts), the
//! host buffer an `async` lift's `task.return` writes its result to (null when the task is not
//! waiting for one) with the signature the task expects of `task.return`
//! ([`super::abi::task_return_signature`]), and the instance's `backpressure` counter.
//!
//! Function slots point at the `VMFuncRef` of a core instance (see `vmoffsets`), so glue calls
//! them exactly like `call_ref`: `wasm_call(vmctx, caller_vmctx, args...)`.

use super::ComponentMetadata;

/// Value of the magic word at offset 0.
pub const VMCOMPONENT_MAGIC: u32 = u32::from_le_bytes(*b"vmcc");
/// Bit of an instance flags word: the instance may call out (`may_leave`).
pub const FLAG_MAY_LEAVE: u32 = 1 << 0;
/// Bit of an instance flags word: the instance may be entered (`may_enter`).
pub const FLAG_MAY_ENTER: u32 = 1 << 1;
/// Bit of an instance flags word: a post-return call is pending.
pub const FLAG_NEEDS_POST_RETURN: u32 = 1 << 2;

/// Offsets inside a component VM context.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct VMComponentOffsets {
    /// Number of component instances.
    pub num_component_instances: u32,
    /// Number of option memories.
    pub num_memories: u32,
    /// Number of reallocs.
    pub num_reallocs: u32,
    /// Number of post-returns.
    pub num_post_returns: u32,
    /// Number of lifted functions.
    pub num_lifted: u32,
    /// Number of lowered functions.
    pub num_lowered: u32,
    /// Number of resource types.
    pub num_resources: u32,
}

impl VMComponentOffsets {
    /// Offset of the magic word.
    pub const MAGIC: u32 = 0;
    /// Offset of the runtime's component instance pointer (opaque to compiled code).
    pub const INSTANCE: u32 = 8;
    /// Offset of the component builtins table pointer.
    pub const BUILTINS: u32 = 16;
    /// Offset of the pointer to the store context of the store the component's core instances
    /// belong to (`vmoffsets::STORE_CONTEXT_*`), for the glue's epoch checks.
    pub const STORE_CONTEXT: u32 = 24;
    /// Size of the header.
    pub const HEADER_SIZE: u32 = 32;

    /// The layout for a plan.
    pub fn new(m: &ComponentMetadata) -> VMComponentOffsets {
        VMComponentOffsets {
            num_component_instances: m.num_component_instances,
            num_memories: m.num_memories,
            num_reallocs: m.num_reallocs,
            num_post_returns: m.num_post_returns,
            num_lifted: m.num_lifted,
            num_lowered: m.num_lowered,
            num_resources: m.resources.len() as u32,
        }
    }

    /// Offset of the flags word of component instance `i`.
    pub fn instance_flags(&self, i: u32) -> u32 {
        Self::HEADER_SIZE + 4 * i
    }

    /// Start of the memories array.
    pub fn memories_start(&self) -> u32 {
        Self::HEADER_SIZE + (4 * self.num_component_instances).div_ceil(8) * 8
    }

    /// Offset of memory slot `i`.
    pub fn memory(&self, i: u32) -> u32 {
        self.memories_start() + 8 * i
    }

    /// Offset of realloc slot `i`.
    pub fn realloc(&self, i: u32) -> u32 {
        self.memory(self.num_memories) + 8 * i
    }

    /// Offset of post-return slot `i`.
    pub fn post_return(&self, i: u32) -> u32 {
        self.realloc(self.num_reallocs) + 8 * i
    }

    /// Offset of lifted-callee slot `i`.
    pub fn lifted_callee(&self, i: u32) -> u32 {
        self.post_return(self.num_post_returns) + 8 * i
    }

    /// Offset of lowered-function slot `i`.
    pub fn lowered(&self, i: u32) -> u32 {
        self.lifted_callee(self.num_lifted) + 8 * i
    }

    /// Offset of resource-destructor slot `i`.
    pub fn resource_dtor(&self, i: u32) -> u32 {
        self.lowered(self.num_lowered) + 8 * i
    }

    /// Size of one instance's task slots.
    pub const TASK_SLOTS_SIZE: u32 = 40;

    /// Offset of the task slots of component instance `i`.
    pub fn task_slots(&self, i: u32) -> u32 {
        self.resource_dtor(self.num_resources) + Self::TASK_SLOTS_SIZE * i
    }

    /// Offset of `context.get`/`context.set` slot `slot` (0 or 1, a `u64`) of instance `i`.
    pub fn task_context(&self, i: u32, slot: u32) -> u32 {
        self.task_slots(i) + 8 * slot
    }

    /// Offset of the pointer to the host buffer `task.return` writes instance `i`'s current
    /// async task's result to (null when no task is waiting for one).
    pub fn task_return(&self, i: u32) -> u32 {
        self.task_slots(i) + 16
    }

    /// Offset of the `task.return` signature (a `u64`) instance `i`'s current async task
    /// expects.
    pub fn task_return_signature(&self, i: u32) -> u32 {
        self.task_slots(i) + 24
    }

    /// Offset of instance `i`'s `backpressure` counter (a `u32`).
    pub fn backpressure(&self, i: u32) -> u32 {
        self.task_slots(i) + 32
    }

    /// Total size of the context.
    pub fn size(&self) -> u32 {
        self.task_slots(self.num_component_instances)
    }
}

//! The component VM context: one block per component instantiation, laid out by
//! `kiln_environ::component::VMComponentOffsets`, filled while the plan executes and read by the
//! compiled canonical-ABI glue (option memories, reallocs, post-returns, core callees of lifts,
//! lowered functions, resource destructors, instance flags).

use kiln_environ::component::vmctx::{
    VMComponentOffsets, FLAG_MAY_ENTER, FLAG_MAY_LEAVE, VMCOMPONENT_MAGIC,
};

/// An allocated, zeroed component VM context (8-byte words).
pub(crate) struct VMComponentContext {
    base: *mut u64,
    words: usize,
    pub(crate) offsets: VMComponentOffsets,
}

// SAFETY: the block is plain memory; the runtime writes it only while instantiating (before any
// guest code can read it) and the flag words are only touched by code holding the instance.
unsafe impl Send for VMComponentContext {}
// SAFETY: as above.
unsafe impl Sync for VMComponentContext {}

impl VMComponentContext {
    /// Allocates the context for `offsets`, with the magic and every instance's flags set to
    /// `may_enter | may_leave`.
    pub(crate) fn new(offsets: VMComponentOffsets) -> VMComponentContext {
        let words = (offsets.size() as usize).div_ceil(8).max(1);
        let base = Box::into_raw(vec![0u64; words].into_boxed_slice()).cast::<u64>();
        let ctx = VMComponentContext {
            base,
            words,
            offsets,
        };
        ctx.write_u32(VMComponentOffsets::MAGIC, VMCOMPONENT_MAGIC);
        for i in 0..offsets.num_component_instances {
            ctx.write_u32(offsets.instance_flags(i), FLAG_MAY_ENTER | FLAG_MAY_LEAVE);
        }
        ctx
    }

    /// The context's address (what glue receives).
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.base.cast()
    }

    fn check(&self, offset: u32, size: usize) {
        assert!(
            offset as usize + size <= self.words * 8,
            "component VM context offset {offset} out of bounds"
        );
    }

    /// Writes a pointer-sized word at `offset`.
    pub(crate) fn write_ptr(&self, offset: u32, value: usize) {
        self.check(offset, 8);
        // SAFETY: in bounds (checked) and 8-aligned (every pointer slot is).
        unsafe { self.ptr().add(offset as usize).cast::<usize>().write(value) }
    }

    /// Writes a `u32` at `offset`.
    pub(crate) fn write_u32(&self, offset: u32, value: u32) {
        self.check(offset, 4);
        // SAFETY: in bounds (checked) and 4-aligned.
        unsafe { self.ptr().add(offset as usize).cast::<u32>().write(value) }
    }

    /// Writes a `u64` at `offset` (8-aligned).
    pub(crate) fn write_u64(&self, offset: u32, value: u64) {
        self.check(offset, 8);
        // SAFETY: in bounds (checked) and 8-aligned (every 8-byte slot is).
        unsafe { self.ptr().add(offset as usize).cast::<u64>().write(value) }
    }

    /// Reads a `u64` at `offset` (8-aligned).
    pub(crate) fn read_u64(&self, offset: u32) -> u64 {
        self.check(offset, 8);
        // SAFETY: in bounds (checked) and 8-aligned.
        unsafe { self.ptr().add(offset as usize).cast::<u64>().read() }
    }

    /// Reads a `u32` at `offset`.
    pub(crate) fn read_u32(&self, offset: u32) -> u32 {
        self.check(offset, 4);
        // SAFETY: in bounds (checked) and 4-aligned.
        unsafe { self.ptr().add(offset as usize).cast::<u32>().read() }
    }
}

impl Drop for VMComponentContext {
    fn drop(&mut self) {
        // SAFETY: `base` came from `Box::into_raw` of a boxed slice of `words` words.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.base, self.words)) });
    }
}

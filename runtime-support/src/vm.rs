//! Raw VM structures shared with compiled code, mirrored from `kiln_environ::vmoffsets`.
//!
//! Compiled code reads and writes these through the VM context at the offsets the contract
//! fixes; the runtime uses the `#[repr(C)]` types below, whose layout is checked against the
//! contract's constants at compile time.

use kiln_environ::vmoffsets as off;
use kiln_environ::VMOffsets;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// What compiled code reads per store (`vmoffsets::STORE_CONTEXT_*`): the stack limit of the
/// thread running the store and the epoch deadline. Every instance VM context of the store
/// points here (`VMOffsets::vmctx_store_context`).
#[repr(C)]
#[derive(Debug)]
pub struct VMStoreContext {
    /// Guest prologues trap when the stack pointer would go below it (0: no check).
    pub stack_limit: AtomicUsize,
    /// When the engine's epoch reaches it, guest code calls the `out_of_epoch` builtin.
    pub epoch_deadline: AtomicU64,
    /// The engine's epoch counter (for component glue, which has no instance VM context).
    pub epoch_ptr: AtomicPtr<u64>,
}

impl VMStoreContext {
    /// A context with no stack limit and no deadline, reading `epoch_ptr`.
    pub fn new(epoch_ptr: *const u64) -> VMStoreContext {
        VMStoreContext {
            stack_limit: AtomicUsize::new(0),
            epoch_deadline: AtomicU64::new(u64::MAX),
            epoch_ptr: AtomicPtr::new(epoch_ptr.cast_mut()),
        }
    }

    /// Sets the epoch deadline (an absolute epoch).
    pub fn set_epoch_deadline(&self, deadline: u64) {
        self.epoch_deadline.store(deadline, Ordering::Relaxed);
    }

    /// The epoch deadline.
    pub fn epoch_deadline(&self) -> u64 {
        self.epoch_deadline.load(Ordering::Relaxed)
    }
}

/// A function reference as compiled code sees it (`*const VMFuncRef` is a `funcref`).
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct VMFuncRef {
    /// Wasm-convention entry point.
    pub wasm_call: usize,
    /// Array-convention (host-to-wasm) entry point, 0 when the host cannot call it.
    pub array_call: usize,
    /// Callee VM context (or host function context).
    pub vmctx: *mut u8,
    /// Engine-wide signature id.
    pub type_id: u32,
}

/// An imported function slot of the VM context.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct VMFunctionImport {
    /// Wasm-convention entry point.
    pub wasm_call: usize,
    /// Callee VM context.
    pub vmctx: *mut u8,
}

/// A linear memory definition (base and current byte length).
#[repr(C)]
#[derive(Debug)]
pub struct VMMemoryDefinition {
    /// Base address.
    pub base: *mut u8,
    /// Accessible length in bytes.
    pub current_length: u64,
}

/// A table definition (element array and element count).
#[repr(C)]
#[derive(Debug)]
pub struct VMTableDefinition {
    /// Element array (8-byte elements).
    pub base: *mut u64,
    /// Number of elements.
    pub current_elements: u64,
}

/// Storage of one global: 16 bytes, value little-endian at offset 0.
#[repr(C, align(16))]
#[derive(Copy, Clone, Debug, Default)]
pub struct VMGlobalDefinition {
    /// The raw bytes.
    pub bytes: [u8; 16],
}

/// One slot of a host-call value array (16 bytes, value little-endian at offset 0).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ValRaw {
    /// The raw bytes.
    pub bytes: [u8; 16],
}

impl ValRaw {
    /// A slot holding `v` in its low bytes.
    pub fn from_u128(v: u128) -> ValRaw {
        ValRaw {
            bytes: v.to_le_bytes(),
        }
    }
    /// A slot holding `v` in its low 8 bytes.
    pub fn from_u64(v: u64) -> ValRaw {
        ValRaw::from_u128(u128::from(v))
    }
    /// The whole slot as a `u128`.
    pub fn get_u128(&self) -> u128 {
        u128::from_le_bytes(self.bytes)
    }
    /// The low 8 bytes.
    pub fn get_u64(&self) -> u64 {
        self.get_u128() as u64
    }
    /// The low 4 bytes.
    pub fn get_u32(&self) -> u32 {
        self.get_u128() as u32
    }
}

const _: () = {
    assert!(std::mem::offset_of!(VMFuncRef, wasm_call) == off::FUNC_REF_WASM_CALL as usize);
    assert!(std::mem::offset_of!(VMFuncRef, array_call) == off::FUNC_REF_ARRAY_CALL as usize);
    assert!(std::mem::offset_of!(VMFuncRef, vmctx) == off::FUNC_REF_VMCTX as usize);
    assert!(std::mem::offset_of!(VMFuncRef, type_id) == off::FUNC_REF_TYPE_ID as usize);
    assert!(std::mem::size_of::<VMFuncRef>() == off::FUNC_REF_SIZE as usize);
    assert!(
        std::mem::offset_of!(VMFunctionImport, wasm_call)
            == off::FUNCTION_IMPORT_WASM_CALL as usize
    );
    assert!(std::mem::offset_of!(VMFunctionImport, vmctx) == off::FUNCTION_IMPORT_VMCTX as usize);
    assert!(std::mem::size_of::<VMFunctionImport>() == off::FUNCTION_IMPORT_SIZE as usize);
    assert!(std::mem::offset_of!(VMMemoryDefinition, base) == off::MEMORY_BASE as usize);
    assert!(
        std::mem::offset_of!(VMMemoryDefinition, current_length)
            == off::MEMORY_CURRENT_LENGTH as usize
    );
    assert!(std::mem::size_of::<VMMemoryDefinition>() == off::MEMORY_DEFINITION_SIZE as usize);
    assert!(std::mem::offset_of!(VMTableDefinition, base) == off::TABLE_BASE as usize);
    assert!(
        std::mem::offset_of!(VMTableDefinition, current_elements)
            == off::TABLE_CURRENT_ELEMENTS as usize
    );
    assert!(std::mem::size_of::<VMTableDefinition>() == off::TABLE_DEFINITION_SIZE as usize);
    assert!(std::mem::size_of::<VMGlobalDefinition>() == off::GLOBAL_DEFINITION_SIZE as usize);
    assert!(std::mem::size_of::<ValRaw>() == off::VAL_RAW_SIZE as usize);
    assert!(
        std::mem::offset_of!(VMStoreContext, stack_limit)
            == off::STORE_CONTEXT_STACK_LIMIT as usize
    );
    assert!(
        std::mem::offset_of!(VMStoreContext, epoch_deadline)
            == off::STORE_CONTEXT_EPOCH_DEADLINE as usize
    );
    assert!(
        std::mem::offset_of!(VMStoreContext, epoch_ptr) == off::STORE_CONTEXT_EPOCH_PTR as usize
    );
    assert!(std::mem::size_of::<VMStoreContext>() == off::STORE_CONTEXT_SIZE as usize);
};

/// Whether `vmctx` points at an instance VM context (as opposed to a host function context).
///
/// # Safety
/// `vmctx` must point at a VM context or at a host function context (both are ≥ 48 bytes).
pub unsafe fn is_instance_vmctx(vmctx: *const u8) -> bool {
    // SAFETY: both kinds of context are at least 48 bytes long (caller contract).
    unsafe {
        vmctx
            .add(VMOffsets::vmctx_magic() as usize)
            .cast::<u32>()
            .read()
            == off::VMCTX_MAGIC
    }
}

/// Whether `ctx` points at a host function context.
///
/// # Safety
/// Same as [`is_instance_vmctx`].
pub unsafe fn is_host_ctx(ctx: *const u8) -> bool {
    // SAFETY: as above.
    unsafe { !is_instance_vmctx(ctx) && ctx.cast::<u32>().read() == off::HOST_CTX_MAGIC }
}

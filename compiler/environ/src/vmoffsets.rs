//! The layout of the VM context (`vmctx`) and of the small structures compiled code reads.
//!
//! Every compiled wasm function receives two pointers before its wasm parameters: the callee's
//! VM context and the caller's. The runtime allocates one VM context per instance and fills it
//! at instantiation; the compiler emits loads at the offsets computed here. Only 64-bit targets
//! are supported (pointers are 8 bytes).
//!
//! ```text
//! header (64 bytes)       builtins*, store_context*, epoch_ptr, reserved, instance*, magic
//! type_ids                [u32; types]               engine-wide signature ids
//! imported_functions      [VMFunctionImport; n]      { wasm_call, vmctx }
//! imported_tables         [*mut VMTableDefinition; n]
//! imported_memories       [*mut VMMemoryDefinition; n]
//! imported_globals        [*mut VMGlobalDefinition; n]
//! defined_tables          [VMTableDefinition; n]     { base, current_elements }
//! defined_memories        [VMMemoryDefinition; n]    { base, current_length }
//! defined_globals         [VMGlobalDefinition; n]    16 bytes each, 16-aligned
//! func_refs               [VMFuncRef; functions]     { wasm_call, array_call, vmctx, type_id }
//! ```
//!
//! The store context (`VMStoreContext`, one per store: the instances linked together, which
//! one thread runs at a time) holds what changes per activation rather than per instance:
//!
//! ```text
//! stack_limit      usize   guest prologues trap when the stack pointer would go below it
//! epoch_deadline   u64     when the engine's epoch counter reaches it, guest code calls the
//!                          `out_of_epoch` builtin
//! epoch_ptr        *const u64   the engine's epoch counter (for glue, which has no vmctx)
//! ```

use crate::metadata::ImportCounts;

/// Size of a pointer on every supported target.
pub const POINTER_SIZE: u32 = 8;

/// Bytes of address space the runtime reserves for each 32-bit linear memory when code is
/// compiled with guard pages: any `u32` index plus any `u32` offset plus a 16-byte access lands
/// inside the reservation, so no explicit bounds check is needed.
pub const GUARD_RESERVATION: u64 = (1 << 33) + (1 << 16);

/// Size of one `ValRaw` slot in the host-call value arrays (large enough for a `v128`).
pub const VAL_RAW_SIZE: u32 = 16;

/// Value written at [`VMOffsets::vmctx_magic`] so the runtime can sanity-check pointers.
pub const VMCTX_MAGIC: u32 = u32::from_le_bytes(*b"vmcx");

/// Value at offset 0 of a host function context.
pub const HOST_CTX_MAGIC: u32 = u32::from_le_bytes(*b"host");

/// Offset, in a host function context, of its array-call function pointer:
/// `extern "C" fn(host_ctx, caller_vmctx, values: *mut ValRaw, len: usize)`.
pub const HOST_CTX_ARRAY_CALL: u32 = 8;

/// `VMStoreContext`: offset of the stack limit (`usize`).
pub const STORE_CONTEXT_STACK_LIMIT: u32 = 0;
/// `VMStoreContext`: offset of the epoch deadline (`u64`).
pub const STORE_CONTEXT_EPOCH_DEADLINE: u32 = 8;
/// `VMStoreContext`: offset of the pointer to the engine's epoch counter (`*const u64`).
pub const STORE_CONTEXT_EPOCH_PTR: u32 = 16;
/// Size of `VMStoreContext`.
pub const STORE_CONTEXT_SIZE: u32 = 24;

/// `VMFunctionImport`: offset of the wasm-convention code pointer.
pub const FUNCTION_IMPORT_WASM_CALL: u32 = 0;
/// `VMFunctionImport`: offset of the callee VM context.
pub const FUNCTION_IMPORT_VMCTX: u32 = 8;
/// Size of `VMFunctionImport`.
pub const FUNCTION_IMPORT_SIZE: u32 = 16;

/// `VMFuncRef`: offset of the wasm-convention code pointer.
pub const FUNC_REF_WASM_CALL: u32 = 0;
/// `VMFuncRef`: offset of the array-convention (host-to-wasm) code pointer.
pub const FUNC_REF_ARRAY_CALL: u32 = 8;
/// `VMFuncRef`: offset of the callee VM context.
pub const FUNC_REF_VMCTX: u32 = 16;
/// `VMFuncRef`: offset of the engine-wide signature id (`u32`).
pub const FUNC_REF_TYPE_ID: u32 = 24;
/// Size of `VMFuncRef`.
pub const FUNC_REF_SIZE: u32 = 32;

/// `VMTableDefinition`: offset of the element array pointer (8-byte elements: a
/// `*const VMFuncRef` for funcref tables, a raw host handle for externref tables; 0 is null).
pub const TABLE_BASE: u32 = 0;
/// `VMTableDefinition`: offset of the current element count (`u64`).
pub const TABLE_CURRENT_ELEMENTS: u32 = 8;
/// Size of `VMTableDefinition`.
pub const TABLE_DEFINITION_SIZE: u32 = 16;
/// Size of one table element.
pub const TABLE_ELEMENT_SIZE: u32 = 8;

/// `VMMemoryDefinition`: offset of the base pointer.
pub const MEMORY_BASE: u32 = 0;
/// `VMMemoryDefinition`: offset of the current length in bytes (`u64`).
pub const MEMORY_CURRENT_LENGTH: u32 = 8;
/// Size of `VMMemoryDefinition`.
pub const MEMORY_DEFINITION_SIZE: u32 = 16;

/// Size (and alignment) of `VMGlobalDefinition`; values are stored little-endian at offset 0
/// (references as 8-byte words).
pub const GLOBAL_DEFINITION_SIZE: u32 = 16;

/// Offsets of everything in one module's VM context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VMOffsets {
    /// Import counts.
    pub imports: ImportCounts,
    /// Number of function types.
    pub num_types: u32,
    /// Number of functions (imported + defined).
    pub num_funcs: u32,
    /// Number of tables (imported + defined).
    pub num_tables: u32,
    /// Number of memories (imported + defined).
    pub num_memories: u32,
    /// Number of globals (imported + defined).
    pub num_globals: u32,
    type_ids: u32,
    imported_functions: u32,
    imported_tables: u32,
    imported_memories: u32,
    imported_globals: u32,
    defined_tables: u32,
    defined_memories: u32,
    defined_globals: u32,
    func_refs: u32,
    size: u32,
}

fn align(x: u32, a: u32) -> u32 {
    x.div_ceil(a) * a
}

impl VMOffsets {
    /// Computes the layout for a module with the given counts.
    pub fn new(
        imports: ImportCounts,
        num_types: u32,
        num_funcs: u32,
        num_tables: u32,
        num_memories: u32,
        num_globals: u32,
    ) -> VMOffsets {
        let type_ids = 64;
        let imported_functions = align(type_ids + 4 * num_types, 16);
        let imported_tables = imported_functions + FUNCTION_IMPORT_SIZE * imports.funcs;
        let imported_memories = imported_tables + POINTER_SIZE * imports.tables;
        let imported_globals = imported_memories + POINTER_SIZE * imports.memories;
        let defined_tables = align(imported_globals + POINTER_SIZE * imports.globals, 16);
        let defined_memories =
            defined_tables + TABLE_DEFINITION_SIZE * (num_tables - imports.tables);
        let defined_globals =
            defined_memories + MEMORY_DEFINITION_SIZE * (num_memories - imports.memories);
        let func_refs = defined_globals + GLOBAL_DEFINITION_SIZE * (num_globals - imports.globals);
        let size = func_refs + FUNC_REF_SIZE * num_funcs;
        VMOffsets {
            imports,
            num_types,
            num_funcs,
            num_tables,
            num_memories,
            num_globals,
            type_ids,
            imported_functions,
            imported_tables,
            imported_memories,
            imported_globals,
            defined_tables,
            defined_memories,
            defined_globals,
            func_refs,
            size,
        }
    }

    /// Offset of the pointer to the builtin function table.
    pub const fn vmctx_builtins() -> u32 {
        0
    }
    /// Offset of the pointer to the store context (`*const VMStoreContext`): the stack limit
    /// and epoch deadline of the store the instance belongs to. Constant while any guest code
    /// of the store runs (the runtime repoints it only when the store is idle).
    pub const fn vmctx_store_context() -> u32 {
        8
    }
    /// Offset of the pointer to the engine's epoch counter (`*const u64`).
    pub const fn vmctx_epoch_ptr() -> u32 {
        16
    }
    /// Offset of the runtime's instance pointer (opaque to compiled code).
    pub const fn vmctx_instance() -> u32 {
        32
    }
    /// Offset of [`VMCTX_MAGIC`].
    pub const fn vmctx_magic() -> u32 {
        40
    }

    /// Offset of the engine-wide signature id of type `index`.
    pub fn vmctx_type_id(&self, index: u32) -> u32 {
        debug_assert!(index < self.num_types);
        self.type_ids + 4 * index
    }
    /// Offset of imported function `index`'s `VMFunctionImport`.
    pub fn vmctx_imported_function(&self, index: u32) -> u32 {
        debug_assert!(index < self.imports.funcs);
        self.imported_functions + FUNCTION_IMPORT_SIZE * index
    }
    /// Offset of the pointer to imported table `index`'s definition.
    pub fn vmctx_imported_table(&self, index: u32) -> u32 {
        debug_assert!(index < self.imports.tables);
        self.imported_tables + POINTER_SIZE * index
    }
    /// Offset of the pointer to imported memory `index`'s definition.
    pub fn vmctx_imported_memory(&self, index: u32) -> u32 {
        debug_assert!(index < self.imports.memories);
        self.imported_memories + POINTER_SIZE * index
    }
    /// Offset of the pointer to imported global `index`'s definition.
    pub fn vmctx_imported_global(&self, index: u32) -> u32 {
        debug_assert!(index < self.imports.globals);
        self.imported_globals + POINTER_SIZE * index
    }
    /// Offset of defined table `index`'s definition (index among defined tables).
    pub fn vmctx_defined_table(&self, index: u32) -> u32 {
        self.defined_tables + TABLE_DEFINITION_SIZE * index
    }
    /// Offset of defined memory `index`'s definition (index among defined memories).
    pub fn vmctx_defined_memory(&self, index: u32) -> u32 {
        self.defined_memories + MEMORY_DEFINITION_SIZE * index
    }
    /// Offset of defined global `index`'s storage (index among defined globals).
    pub fn vmctx_defined_global(&self, index: u32) -> u32 {
        self.defined_globals + GLOBAL_DEFINITION_SIZE * index
    }
    /// Offset of function `index`'s `VMFuncRef` (all functions, imports first).
    pub fn vmctx_func_ref(&self, index: u32) -> u32 {
        debug_assert!(index < self.num_funcs);
        self.func_refs + FUNC_REF_SIZE * index
    }
    /// Total size of the VM context in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }
}

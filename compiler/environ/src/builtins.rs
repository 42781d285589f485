//! The builtin (libcall) table: every runtime service compiled code may call.
//!
//! Compiled code reaches builtins only through a table of function pointers whose address is
//! stored in the VM context (`VMOffsets::vmctx_builtins`), so a kiln `.so` has no undefined
//! symbols and no text relocations. The list is written once, in [`foreach_builtin_function`]:
//! the compiler derives call signatures from it and the runtime derives its table from it, so
//! the two cannot drift apart.
//!
//! Every builtin uses the platform C calling convention and takes the caller's VM context first.
//! Builtins that trap do not return (the runtime unwinds to the entry point).
//!
//! `throw_ref` never returns either: the runtime resumes at a catch handler of some guest frame
//! or unwinds to the entry point. Compiled code calls it with a `tail`-convention signature
//! (the same registers as the C convention for its two integer arguments), so that Cranelift
//! treats every register as clobbered on the exceptional edge and the runtime resumes a handler
//! by restoring only the stack pointer, the frame pointer and the payload register.

/// Invokes `$mac!` with the list of builtins: `name(param: type, ...) [-> type];` where types
/// are `vmctx`, `i32` or `i64`.
#[macro_export]
macro_rules! foreach_builtin_function {
    ($mac:ident) => {
        $mac! {
            /// `memory.grow`: grows memory `memory` by `delta` pages; returns the old size in
            /// pages, or -1 when the memory cannot grow.
            memory_grow(vmctx: vmctx, memory: i32, delta: i64) -> i64;
            /// `memory.fill`: traps when out of bounds.
            memory_fill(vmctx: vmctx, memory: i32, dst: i64, val: i32, len: i64);
            /// `memory.copy` between two memories (possibly the same); traps when out of bounds.
            memory_copy(vmctx: vmctx, dst_memory: i32, dst: i64, src_memory: i32, src: i64, len: i64);
            /// `memory.init` from a passive data segment; traps when out of bounds.
            memory_init(vmctx: vmctx, memory: i32, data: i32, dst: i64, src: i32, len: i32);
            /// `data.drop`.
            data_drop(vmctx: vmctx, data: i32);
            /// `table.grow`: returns the old size, or -1.
            table_grow(vmctx: vmctx, table: i32, delta: i32, init: i64) -> i32;
            /// `table.fill`: traps when out of bounds.
            table_fill(vmctx: vmctx, table: i32, dst: i32, val: i64, len: i32);
            /// `table.copy`: traps when out of bounds.
            table_copy(vmctx: vmctx, dst_table: i32, src_table: i32, dst: i32, src: i32, len: i32);
            /// `table.init` from an element segment: traps when out of bounds.
            table_init(vmctx: vmctx, table: i32, elem: i32, dst: i32, src: i32, len: i32);
            /// `elem.drop`.
            elem_drop(vmctx: vmctx, elem: i32);
            /// Called when the epoch counter reached the deadline; traps with `interrupted`.
            out_of_epoch(vmctx: vmctx);
            /// Raises a trap of the given [`crate::TrapKind`]; does not return.
            raise_trap(vmctx: vmctx, kind: i32);
            /// Allocates an exception object of tag `tag` (module-local index) with an
            /// uninitialised payload (see [`crate::exception`]); compiled code stores the
            /// payload, then throws it. Traps when too many exception objects are alive.
            exn_new(vmctx: vmctx, tag: i32) -> i64;
            /// Throws exception object `exn` (an `exnref`, not null): resumes at the first
            /// matching catch handler of the guest frames of this call, or unwinds to the entry
            /// point with an uncaught-exception trap. Does not return.
            throw_ref(vmctx: vmctx, exn: i64);
        }
    };
}

/// A parameter or result type of a builtin.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BuiltinType {
    /// The caller's VM context pointer.
    VMCtx,
    /// A 32-bit integer.
    I32,
    /// A 64-bit integer.
    I64,
}

/// The signature of a builtin.
#[derive(Clone, Debug)]
pub struct BuiltinSignature {
    /// Parameter types, VM context first.
    pub params: &'static [BuiltinType],
    /// Result type, if any.
    pub result: Option<BuiltinType>,
}

macro_rules! builtin_type {
    (vmctx) => {
        BuiltinType::VMCtx
    };
    (i32) => {
        BuiltinType::I32
    };
    (i64) => {
        BuiltinType::I64
    };
}

macro_rules! declare_indices {
    ($( $(#[$attr:meta])* $name:ident($($p:ident: $pt:ident),*) $(-> $rt:ident)?;)*) => {
        /// Index of a builtin in the builtin table (its slot is `index * pointer size`).
        #[allow(non_camel_case_types)]
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum BuiltinFunctionIndex {
            $( $(#[$attr])* $name, )*
        }

        impl BuiltinFunctionIndex {
            /// Every builtin, in table order.
            pub const ALL: &'static [BuiltinFunctionIndex] = &[$(BuiltinFunctionIndex::$name,)*];

            /// The builtin's name.
            pub fn name(self) -> &'static str {
                match self { $(BuiltinFunctionIndex::$name => stringify!($name),)* }
            }

            /// The builtin's signature.
            pub fn signature(self) -> BuiltinSignature {
                match self {
                    $(BuiltinFunctionIndex::$name => BuiltinSignature {
                        params: &[$(builtin_type!($pt)),*],
                        result: None $(.or(Some(builtin_type!($rt))))?,
                    },)*
                }
            }
        }
    };
}

foreach_builtin_function!(declare_indices);

impl BuiltinFunctionIndex {
    /// Position of the builtin in the table.
    pub fn index(self) -> u32 {
        self as u32
    }

    /// Number of builtins.
    pub fn count() -> u32 {
        Self::ALL.len() as u32
    }
}

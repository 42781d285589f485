//! The contract of the compiled canonical-ABI glue: entry-point signatures, where their code
//! offsets live in the plan, the component builtin table the glue calls, and the traps it
//! raises (each naming the Component Model rule it enforces).
//!
//! # Export entry points (one per `canon lift`)
//!
//! Platform C convention:
//!
//! ```text
//! call(cvmctx: *mut u8, args: *const u8, results: *mut u8, core_ret: *mut u64)
//! post_return(cvmctx: *mut u8, core_ret: *const u64)
//! ```
//!
//! `args` is a C struct whose fields are the parameters in order, each in its host C
//! representation ([`super::host`]); `results` receives the host C representation of the
//! result (nothing for a function without result). `core_ret` receives the raw core result
//! (the flat value or the return-area pointer), which `post_return` hands to the guest's
//! post-return function. Between `call` and `post_return`, strings and lists of the result may
//! point straight into guest memory (UTF-8 strings and lists of integers and floats are not
//! copied) or into host buffers the glue got from [`ComponentBuiltin`] `host_alloc`; they stay
//! valid until `post_return`, which the host must call after reading the result (it also
//! re-enables `may_enter`). Both run inside the runtime's trap-catching entry.
//!
//! # Import trampolines (one per `canon lower` of a host import)
//!
//! Array-call convention (`fn(host_ctx, caller_vmctx, values: *mut ValRaw, len)`), installed
//! as the array-call pointer of the lowered function's host context, so the importing module's
//! ordinary host trampoline reaches it. It checks `may_leave`, lifts the guest's flat
//! arguments (or the argument tuple in memory) into a host C `args` struct on its stack,
//! calls the host callback at [`IMPORT_CTX_HOST_CALL`], and lowers the host C result into the
//! guest: flat into `values[0]`, or through the caller's return pointer (strings and lists
//! copied into guest memory through `realloc`, transcoded to the guest's encoding).

use serde::{Deserialize, Serialize};

/// Code offsets (relative to the descriptor's `glue_text`) of one lifted function's entries.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExportGlue {
    /// Offset of `call`.
    pub call: u32,
    /// Offset of `post_return`.
    pub post_return: u32,
}

/// Where the compiled glue of a component is (additive part of the plan).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GlueOffsets {
    /// Per lifted function (indexed by `LiftedIndex`): its export entries, `None` when the
    /// compiler emitted none (the runtime then refuses typed calls).
    pub exports: Vec<Option<ExportGlue>>,
    /// Per lowered function (indexed by `LoweredIndex`): offset of its import trampoline,
    /// `None` for lowerings of lifted functions or types the glue does not support.
    pub imports: Vec<Option<u32>>,
}

/// Byte offset, in the host function context of a lowered import (`kiln-runtime`'s host
/// context layout: magic, array-call pointer, then these words), of the component VM context.
pub const IMPORT_CTX_CVMCTX: u32 = 16;
/// Byte offset of the host callback: `extern "C" fn(data, args: *const u8, results: *mut u8)`,
/// which reads the host C arguments, runs the host function and writes the host C result
/// (keeping its out-of-line data alive until the trampoline returns); it raises host traps
/// itself.
pub const IMPORT_CTX_HOST_CALL: u32 = 24;
/// Byte offset of the callback's `data` word.
pub const IMPORT_CTX_DATA: u32 = 32;

/// Invokes `$mac!` with the list of component builtins, in table order:
/// `name(param: type, ...) [-> type];` with types `vmctx` (the component VM context), `i32`
/// and `i64`. The table's address is in the component VM context's `BUILTINS` slot; every
/// builtin uses the platform C convention. Builtins that trap do not return.
#[macro_export]
macro_rules! foreach_component_builtin {
    ($mac:ident) => {
        $mac! {
            /// Raises the glue trap `code` (a [`GlueTrap`](crate::component::glue::GlueTrap)).
            trap(vmctx: vmctx, code: i32);
            /// Allocates `size` bytes aligned to `align` in the instance's host arena (freed by
            /// the next post-return); returns the address.
            host_alloc(vmctx: vmctx, size: i64, align: i64) -> i64;
            /// Lifts the string at `ptr`/`len` (the guest's tagged length word) of the memory
            /// whose `VMMemoryDefinition` is at `memory`, in `encoding` (0 utf8, 1 utf16, 2 latin1+utf16): checks alignment,
            /// bounds and encoding, and writes the host `{ ptr, len }` (UTF-8) at `out`.
            string_lift(vmctx: vmctx, memory: i64, encoding: i32, ptr: i32, len: i32, out: i64);
            /// Checks the host UTF-8 string at `ptr`/`len` and returns the length word the guest
            /// encoding needs (code units; for latin1+utf16 with the UTF-16 tag when needed) in
            /// the low 32 bits, and the byte size to allocate in the high 32 bits.
            string_lower_len(vmctx: vmctx, encoding: i32, ptr: i64, len: i64) -> i64;
            /// Writes the host UTF-8 string at `src`/`len`, transcoded to `encoding`, at guest
            /// address `dst` of the memory defined at `memory` (`tagged` is what `string_lower_len`
            /// returned); checks bounds.
            string_lower_copy(vmctx: vmctx, memory: i64, encoding: i32, src: i64, len: i64, dst: i32, tagged: i32);
            /// Copies `bytes` host bytes at `src` to guest address `dst` of the memory defined
            /// at `memory`; checks bounds.
            copy_to_guest(vmctx: vmctx, memory: i64, dst: i32, src: i64, bytes: i64);
            /// Lifts an `own` handle: moves guest handle `handle` (of type `resource`) out of
            /// component instance `instance`'s table into the host table; returns the host
            /// handle.
            resource_lift_own(vmctx: vmctx, instance: i32, resource: i32, handle: i32) -> i32;
            /// Lifts a `borrow` handle: lends guest handle `handle` to the host until the
            /// innermost borrow scope ends; returns a temporary host handle.
            resource_lift_borrow(vmctx: vmctx, instance: i32, resource: i32, handle: i32) -> i32;
            /// Lowers an `own` handle: moves host handle `handle` into component instance
            /// `instance`'s table; returns the guest handle.
            resource_lower_own(vmctx: vmctx, instance: i32, resource: i32, handle: i32) -> i32;
            /// Lowers a `borrow` handle: lends host handle `handle` to component instance
            /// `instance` until the innermost borrow scope ends; returns the representation when
            /// `instance` defines the resource type, else a new borrow handle.
            resource_lower_borrow(vmctx: vmctx, instance: i32, resource: i32, handle: i32) -> i32;
            /// Opens a borrow scope (one per call whose parameters contain borrows).
            borrow_scope_begin(vmctx: vmctx);
            /// Closes the innermost borrow scope: returns what was lent to the host and traps
            /// when a borrow handle lent to a guest was not dropped.
            borrow_scope_end(vmctx: vmctx);
        }
    };
}

macro_rules! declare_component_builtins {
    ($( $(#[$attr:meta])* $name:ident($($p:ident: $pt:ident),*) $(-> $rt:ident)?;)*) => {
        /// A component builtin; its table slot is `index * 8`.
        #[allow(non_camel_case_types)]
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum ComponentBuiltin {
            $( $(#[$attr])* $name, )*
        }

        impl ComponentBuiltin {
            /// Every component builtin, in table order.
            pub const ALL: &'static [ComponentBuiltin] = &[$(ComponentBuiltin::$name,)*];

            /// The builtin's signature.
            pub fn signature(self) -> crate::builtins::BuiltinSignature {
                use crate::builtins::BuiltinType;
                #[allow(unused_macros)]
                macro_rules! ty {
                    (vmctx) => { BuiltinType::VMCtx };
                    (i32) => { BuiltinType::I32 };
                    (i64) => { BuiltinType::I64 };
                }
                match self {
                    $(ComponentBuiltin::$name => crate::builtins::BuiltinSignature {
                        params: &[$(ty!($pt)),*],
                        result: None $(.or(Some(ty!($rt))))?,
                    },)*
                }
            }
        }
    };
}

foreach_component_builtin!(declare_component_builtins);

/// A trap raised by the glue or its builtins, named after the rule it enforces.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum GlueTrap {
    /// `may_enter` is false.
    CannotEnter = 0,
    /// A realloc result is not aligned.
    ReallocMisaligned = 1,
    /// A realloc result range is outside memory.
    ReallocOutOfBounds = 2,
    /// A `char` is not a Unicode scalar value.
    InvalidChar = 3,
    /// A variant discriminant is out of range.
    DiscriminantOutOfRange = 4,
    /// A string or list pointer is not aligned.
    PointerMisaligned = 5,
    /// A string or list range is outside memory.
    PointerOutOfBounds = 6,
    /// Invalid UTF-8.
    InvalidUtf8 = 7,
    /// Invalid UTF-16 (an unpaired surrogate).
    InvalidUtf16 = 8,
    /// A string too long for the guest encoding.
    StringTooLong = 9,
    /// The return area pointer is not aligned.
    ReturnMisaligned = 10,
    /// The return area is outside memory.
    ReturnOutOfBounds = 11,
    /// `post_return` without a pending call.
    NoPendingPostReturn = 12,
    /// `may_leave` is false.
    CannotLeave = 13,
    /// A list length overflows the address space.
    ListTooLong = 14,
    /// The component instance is not fully instantiated yet.
    NotInstantiated = 15,
    /// The host could not allocate memory for a lifted value.
    HostOutOfMemory = 16,
    /// An `own` handle was expected, a `borrow` handle given.
    NotAnOwnHandle = 17,
    /// A borrow handle lent for a call was not dropped by the time the call returned.
    BorrowNotDropped = 18,
    /// A handle given for a resource type is unknown or of another resource type.
    BadHandle = 19,
}

impl GlueTrap {
    /// Every glue trap, in code order.
    pub const ALL: [GlueTrap; 20] = [
        GlueTrap::CannotEnter,
        GlueTrap::ReallocMisaligned,
        GlueTrap::ReallocOutOfBounds,
        GlueTrap::InvalidChar,
        GlueTrap::DiscriminantOutOfRange,
        GlueTrap::PointerMisaligned,
        GlueTrap::PointerOutOfBounds,
        GlueTrap::InvalidUtf8,
        GlueTrap::InvalidUtf16,
        GlueTrap::StringTooLong,
        GlueTrap::ReturnMisaligned,
        GlueTrap::ReturnOutOfBounds,
        GlueTrap::NoPendingPostReturn,
        GlueTrap::CannotLeave,
        GlueTrap::ListTooLong,
        GlueTrap::NotInstantiated,
        GlueTrap::HostOutOfMemory,
        GlueTrap::NotAnOwnHandle,
        GlueTrap::BorrowNotDropped,
        GlueTrap::BadHandle,
    ];

    /// The trap of code `code`, if valid.
    pub fn from_code(code: u32) -> Option<GlueTrap> {
        Self::ALL.get(code as usize).copied()
    }

    /// The trap message, naming the canonical-ABI rule.
    pub fn message(self) -> &'static str {
        match self {
            GlueTrap::CannotEnter => {
                "canonical ABI: cannot enter component instance (may_enter is false: reentrance \
                 or a pending post-return)"
            }
            GlueTrap::ReallocMisaligned => {
                "canonical ABI: realloc return: pointer not aligned to the requested alignment"
            }
            GlueTrap::ReallocOutOfBounds => "canonical ABI: realloc return: beyond end of memory",
            GlueTrap::InvalidChar => {
                "canonical ABI: invalid char: not a Unicode scalar value (surrogate or >= 0x110000)"
            }
            GlueTrap::DiscriminantOutOfRange => {
                "canonical ABI: invalid variant discriminant: case index out of range"
            }
            GlueTrap::PointerMisaligned => {
                "canonical ABI: string/list pointer not aligned to its element alignment"
            }
            GlueTrap::PointerOutOfBounds => {
                "canonical ABI: string/list content out of bounds of linear memory"
            }
            GlueTrap::InvalidUtf8 => "canonical ABI: invalid utf-8 in string",
            GlueTrap::InvalidUtf16 => {
                "canonical ABI: invalid utf-16 in string (unpaired surrogate)"
            }
            GlueTrap::StringTooLong => {
                "canonical ABI: string byte length exceeds the maximum (2^31 - 1)"
            }
            GlueTrap::ReturnMisaligned => {
                "canonical ABI: return area pointer not aligned to the result's alignment"
            }
            GlueTrap::ReturnOutOfBounds => {
                "canonical ABI: return area out of bounds of linear memory"
            }
            GlueTrap::NoPendingPostReturn => "canonical ABI: post-return without a pending call",
            GlueTrap::CannotLeave => {
                "canonical ABI: cannot leave component instance (may_leave is false)"
            }
            GlueTrap::ListTooLong => "canonical ABI: list byte length overflows 32-bit memory",
            GlueTrap::NotAnOwnHandle => {
                "canonical ABI: expected an own handle, got a borrow handle"
            }
            GlueTrap::BorrowNotDropped => {
                "canonical ABI: borrow handles still remain at the end of the call"
            }
            GlueTrap::BadHandle => {
                "canonical ABI: unknown resource handle or handle of another resource type"
            }
            GlueTrap::HostOutOfMemory => {
                "canonical ABI: out of host memory while lifting a value for the host"
            }
            GlueTrap::NotInstantiated => {
                "canonical ABI: component function called before its instance finished \
                 instantiating"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_codes_round_trip() {
        for (i, t) in GlueTrap::ALL.iter().enumerate() {
            assert_eq!(*t as usize, i);
            assert_eq!(GlueTrap::from_code(i as u32), Some(*t));
            assert!(t.message().starts_with("canonical ABI"));
        }
        assert_eq!(ComponentBuiltin::host_alloc.signature().params.len(), 3);
    }
}

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

/// A flag in the `encoding` argument of `string_lift` / `string_lift_raw`: copy the string
/// into the running task's result instead of pointing into guest memory (`task.return`).
pub const RESULT_COPY: i32 = 0x100;

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
            /// whose `VMMemoryDefinition` is at `memory`, in `encoding` (0 utf8, 1 utf16, 2 latin1+utf16): checks
            /// length, alignment, bounds and encoding (CanonicalABI.md `load_string_from_range`),
            /// and writes the host `{ ptr, len }` (UTF-8) at `out`. With [`RESULT_COPY`] in
            /// `encoding`, the string is copied into the running task's result
            /// ([`ComponentBuiltin::result_alloc`]) instead of pointing into guest memory.
            string_lift(vmctx: vmctx, memory: i64, encoding: i32, ptr: i32, len: i32, out: i64);
            /// Checks the string at `ptr`/`len` as [`string_lift`] does but leaves it where it
            /// is: writes `{ native address, tagged length }` at `out` (a fused adapter's string
            /// in transit, transcoded straight into the other guest by the `string_*` builtins
            /// below).
            string_lift_raw(vmctx: vmctx, memory: i64, encoding: i32, ptr: i32, len: i32, out: i64);
            /// Copies `n` code units of the string at native address `src` (source encoding
            /// `src_enc`: 0 utf8, 1 utf16, 2 latin1) into guest address `dst` of `memory` in
            /// destination encoding `dst_enc` (0 utf8, 1 utf16, 2 latin1+utf16): the copies of
            /// `store_string_copy` (utf8→utf8, utf16→utf16, latin1→utf16, latin1→latin1).
            /// Validates the source.
            string_copy(vmctx: vmctx, memory: i64, src_enc: i32, dst_enc: i32, src: i64, n: i64, dst: i32);
            /// First pass of `store_string_to_utf8` (source utf16 or latin1): validates the
            /// source, writes the leading ASCII code points at `dst`; returns how many (`n` when
            /// the whole string is ASCII).
            string_to_utf8_prefix(vmctx: vmctx, memory: i64, src_enc: i32, src: i64, n: i64, dst: i32) -> i64;
            /// Second pass of `store_string_to_utf8`: writes the UTF-8 encoding from byte
            /// `done` on at `dst + done`; returns the encoded length.
            string_to_utf8_rest(vmctx: vmctx, memory: i64, src_enc: i32, src: i64, n: i64, done: i64, dst: i32) -> i64;
            /// `store_utf8_to_utf16`: validates the UTF-8 source and writes it as UTF-16 at
            /// `dst`; returns the byte length written.
            string_utf8_to_utf16(vmctx: vmctx, memory: i64, src: i64, n: i64, dst: i32) -> i64;
            /// First pass of `store_string_to_latin1_or_utf16` (source utf8 or utf16):
            /// validates the source and writes the leading code points below 256 as latin1 at
            /// `dst`; returns `count << 1 | stopped` (`stopped` when a code point above 255
            /// follows them).
            string_to_latin1_prefix(vmctx: vmctx, memory: i64, src_enc: i32, src: i64, n: i64, dst: i32) -> i64;
            /// Second pass of `store_string_to_latin1_or_utf16`: widens the `done` latin1 bytes
            /// at `dst` to UTF-16 in place and writes the rest of the string as UTF-16 after
            /// them; returns the byte length.
            string_latin1_inflate(vmctx: vmctx, memory: i64, src_enc: i32, src: i64, n: i64, done: i64, dst: i32) -> i64;
            /// `store_probably_utf16_to_latin1_or_utf16`: validates the UTF-16 source, writes
            /// it at `dst`; returns 1 when a code point above 255 keeps it UTF-16, else 0 after
            /// compacting it to latin1 in place.
            string_utf16_compact(vmctx: vmctx, memory: i64, src: i64, n: i64, dst: i32) -> i32;
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
            /// Lifts the readable end of a stream or future (type key `ty`, see
            /// `AsyncValueType::key`): moves handle `handle` out of component instance
            /// `instance`'s table; returns the value's host representation.
            async_value_lift(vmctx: vmctx, instance: i32, ty: i32, handle: i32) -> i32;
            /// Lowers a stream or future readable end (type key `ty`) into component instance
            /// `instance`'s table; returns the new handle.
            async_value_lower(vmctx: vmctx, instance: i32, ty: i32, value: i32) -> i32;
            /// Runs lifted function `lift` (of an `async` type, or an `async` lift) as a task
            /// on a thread of its own with the `nargs` flat arguments at `args` (8 bytes each),
            /// for component instance `caller` (-1: the host); returns once the task resolved,
            /// with the raw core result of a synchronous lift (0 for an `async` lift, whose
            /// result `task.return` delivered).
            async_call(vmctx: vmctx, caller: i32, lift: i32, args: i64, nargs: i32) -> i64;
            /// Allocates `bytes` host bytes owned by the result of the running task (a
            /// `task.return`'s out-of-line data: kept until the task's caller took the result,
            /// since the guest may free its own copy as soon as `task.return` returns), copied
            /// from native address `src` unless it is 0; returns the address.
            result_alloc(vmctx: vmctx, src: i64, bytes: i64) -> i64;
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
///
/// Each message starts with the wording of the Component Model's reference tests and
/// wasmtime (which hosts and registries match on), followed in parentheses by kiln's detail:
/// where the reference implementation words the same rule differently for guest-to-guest
/// adapters and for host calls, both are in the message.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum GlueTrap {
    /// `may_enter` is false.
    CannotEnter = 0,
    /// A `realloc` result is not aligned.
    ReallocMisaligned = 1,
    /// A `realloc` result for a list lies outside memory.
    ListReallocOutOfBounds = 2,
    /// A `char` is not a Unicode scalar value.
    InvalidChar = 3,
    /// A variant discriminant is out of range.
    DiscriminantOutOfRange = 4,
    /// A string pointer is not aligned to its code unit.
    StringMisaligned = 5,
    /// A string range is outside memory.
    StringOutOfBounds = 6,
    /// Invalid UTF-8.
    InvalidUtf8 = 7,
    /// Invalid UTF-16 (an unpaired surrogate).
    InvalidUtf16 = 8,
    /// A string longer than `MAX_STRING_BYTE_LENGTH`.
    StringTooLong = 9,
    /// The return area pointer is not aligned.
    ReturnMisaligned = 10,
    /// The return area is outside memory.
    ReturnOutOfBounds = 11,
    /// `post_return` without a pending call.
    NoPendingPostReturn = 12,
    /// `may_leave` is false.
    CannotLeave = 13,
    /// A list longer than `MAX_LIST_BYTE_LENGTH` (or than 32-bit memory, from the host).
    ListTooLong = 14,
    /// The runtime found no instance behind a component VM context (its slot is filled when
    /// the context is made, before any code can run: an internal error).
    NotInstantiated = 15,
    /// The host could not allocate memory for a lifted value.
    HostOutOfMemory = 16,
    /// An `own` handle was expected, a `borrow` handle given.
    NotAnOwnHandle = 17,
    /// A borrow handle lent for a call was not dropped by the time the call returned.
    BorrowNotDropped = 18,
    /// A handle given for a resource type is unknown or of another resource type.
    BadHandle = 19,
    /// A `realloc` result for a string lies outside memory.
    StringReallocOutOfBounds = 20,
    /// A list pointer is not aligned to its element alignment.
    ListMisaligned = 21,
    /// A list range is outside memory.
    ListOutOfBounds = 22,
    /// The pointer to parameters passed in memory is not aligned.
    ParamsMisaligned = 23,
    /// The parameters passed in memory lie outside memory.
    ParamsOutOfBounds = 24,
    /// A `realloc` result for parameters passed in memory lies outside memory.
    ParamsReallocOutOfBounds = 25,
    /// No longer raised (`error-context` values cross through the runtime); kept so the codes
    /// of the other traps stay stable.
    AsyncValue = 26,
    /// An `async` lift returned without calling `task.return`.
    NoAsyncResult = 27,
    /// No longer raised (async tasks run on the runtime's event loop); kept so the codes of the
    /// other traps stay stable.
    AsyncBlocked = 28,
    /// `task.return` called when the current task expects none (twice, or in a synchronous
    /// task).
    TaskReturnUnexpected = 29,
    /// `task.return` of another result type or with other options than the task's.
    TaskReturnInvalid = 30,
    /// The store's epoch deadline passed during a glue loop (the runtime raises it as an
    /// interrupt, `TrapKind::Interrupt`).
    Interrupted = 31,
}

impl GlueTrap {
    /// Every glue trap, in code order.
    pub const ALL: [GlueTrap; 32] = [
        GlueTrap::CannotEnter,
        GlueTrap::ReallocMisaligned,
        GlueTrap::ListReallocOutOfBounds,
        GlueTrap::InvalidChar,
        GlueTrap::DiscriminantOutOfRange,
        GlueTrap::StringMisaligned,
        GlueTrap::StringOutOfBounds,
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
        GlueTrap::StringReallocOutOfBounds,
        GlueTrap::ListMisaligned,
        GlueTrap::ListOutOfBounds,
        GlueTrap::ParamsMisaligned,
        GlueTrap::ParamsOutOfBounds,
        GlueTrap::ParamsReallocOutOfBounds,
        GlueTrap::AsyncValue,
        GlueTrap::NoAsyncResult,
        GlueTrap::AsyncBlocked,
        GlueTrap::TaskReturnUnexpected,
        GlueTrap::TaskReturnInvalid,
        GlueTrap::Interrupted,
    ];

    /// The trap of code `code`, if valid.
    pub fn from_code(code: u32) -> Option<GlueTrap> {
        Self::ALL.get(code as usize).copied()
    }

    /// The trap message: the reference wording, then kiln's detail in parentheses.
    pub fn message(self) -> &'static str {
        match self {
            GlueTrap::CannotEnter => {
                "cannot enter component instance (may_enter is false: reentrance or a pending \
                 post-return)"
            }
            GlueTrap::ReallocMisaligned => {
                "unaligned pointer (realloc return: result not aligned to the requested alignment)"
            }
            GlueTrap::ListReallocOutOfBounds => {
                "list content out-of-bounds (realloc return: beyond end of memory)"
            }
            GlueTrap::StringReallocOutOfBounds => {
                "string content out-of-bounds (realloc return: beyond end of memory)"
            }
            GlueTrap::ParamsReallocOutOfBounds => {
                "out of bounds memory access (realloc return: beyond end of memory, for the \
                 parameters passed in memory)"
            }
            GlueTrap::InvalidChar => "invalid `char` bit pattern (not a Unicode scalar value)",
            GlueTrap::DiscriminantOutOfRange => {
                "invalid variant discriminant (case index out of range)"
            }
            GlueTrap::StringMisaligned => "unaligned pointer (string pointer not aligned to 2)",
            GlueTrap::StringOutOfBounds => {
                "string content out-of-bounds (string pointer/length out of bounds of memory)"
            }
            GlueTrap::ListMisaligned => "unaligned pointer (list pointer is not aligned)",
            GlueTrap::ListOutOfBounds => {
                "list content out-of-bounds (list pointer/length out of bounds of memory)"
            }
            GlueTrap::ParamsMisaligned => {
                "unaligned pointer (pointer to the parameters passed in memory not aligned)"
            }
            GlueTrap::ParamsOutOfBounds => {
                "out of bounds memory access (parameters passed in memory: pointer out of bounds)"
            }
            GlueTrap::InvalidUtf8 => "invalid utf8 encoding",
            GlueTrap::InvalidUtf16 => "invalid utf16 encoding",
            GlueTrap::StringTooLong => {
                "string content out-of-bounds (string byte length above the canonical ABI's \
                 maximum, 2^28 - 1)"
            }
            GlueTrap::ListTooLong => {
                "list content out-of-bounds (list byte length above the canonical ABI's maximum)"
            }
            GlueTrap::ReturnMisaligned => "unaligned pointer (return pointer not aligned)",
            GlueTrap::ReturnOutOfBounds => {
                "out of bounds memory access (return pointer out of bounds of memory)"
            }
            GlueTrap::NoPendingPostReturn => "post-return called without a pending call",
            GlueTrap::CannotLeave => "cannot leave component instance (may_leave is false)",
            GlueTrap::NotAnOwnHandle => "cannot lift own resource from a borrow",
            GlueTrap::BorrowNotDropped => "borrow handles still remain at the end of the call",
            GlueTrap::BadHandle => "unknown handle index",
            GlueTrap::HostOutOfMemory => "out of host memory while lifting a value for the host",
            GlueTrap::AsyncValue => "internal error: an async value crossed in the glue",
            GlueTrap::NoAsyncResult => "async-lifted export failed to produce a result",
            GlueTrap::AsyncBlocked => "internal error: an async task blocked in the glue",
            GlueTrap::TaskReturnUnexpected => {
                "`task.return` or `task.cancel` called more than once for current task (or in a \
                 task that returns no result this way)"
            }
            GlueTrap::TaskReturnInvalid => {
                "invalid `task.return` signature and/or options for current task"
            }
            GlueTrap::NotInstantiated => {
                "internal error: no component instance behind the component VM context"
            }
            GlueTrap::Interrupted => "interrupted",
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
            assert!(!t.message().is_empty());
        }
        assert_eq!(ComponentBuiltin::host_alloc.signature().params.len(), 3);
    }
}

//! Trap kinds: why guest code stopped, with the message hosts and the spec testsuite expect.

use serde::{Deserialize, Serialize};

/// Why a guest stopped. Stored as one byte in the trap table and passed to the
/// `raise_trap` builtin.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum TrapKind {
    /// Guest stack exceeded its limit.
    StackOverflow = 0,
    /// Linear memory access out of bounds (also bulk memory and segment ranges).
    MemoryOutOfBounds = 1,
    /// `call_indirect` index beyond the table.
    TableIndexOutOfBounds = 2,
    /// Table access (`table.get/set/fill/copy/init`) out of bounds.
    TableOutOfBounds = 3,
    /// `call_indirect` through a null entry.
    IndirectCallToNull = 4,
    /// `call_indirect` signature mismatch.
    BadSignature = 5,
    /// Signed integer overflow in division or float-to-int conversion.
    IntegerOverflow = 6,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero = 7,
    /// Float-to-int conversion of NaN.
    BadConversionToInteger = 8,
    /// `unreachable` executed.
    UnreachableCodeReached = 9,
    /// The epoch deadline passed.
    Interrupt = 10,
    /// A host function returned an error.
    HostError = 11,
    /// A null reference was dereferenced (also `throw_ref` of a null `exnref`).
    NullReference = 12,
    /// A canonical-ABI rule was broken (a component's glue or intrinsics: bad pointers,
    /// encodings, handles, reentrance); the message names the rule.
    CanonicalAbi = 13,
    /// A wasm exception was thrown and no handler in the guest frames of this call caught it.
    UncaughtException = 14,
    /// Too many exception objects are alive at once (a bound on the runtime's exception heap).
    ExceptionLimit = 15,
}

impl TrapKind {
    /// Every trap kind, in discriminant order.
    pub const ALL: [TrapKind; 16] = [
        TrapKind::StackOverflow,
        TrapKind::MemoryOutOfBounds,
        TrapKind::TableIndexOutOfBounds,
        TrapKind::TableOutOfBounds,
        TrapKind::IndirectCallToNull,
        TrapKind::BadSignature,
        TrapKind::IntegerOverflow,
        TrapKind::IntegerDivisionByZero,
        TrapKind::BadConversionToInteger,
        TrapKind::UnreachableCodeReached,
        TrapKind::Interrupt,
        TrapKind::HostError,
        TrapKind::NullReference,
        TrapKind::CanonicalAbi,
        TrapKind::UncaughtException,
        TrapKind::ExceptionLimit,
    ];

    /// Decodes a trap kind from its byte.
    pub fn from_u8(b: u8) -> Option<TrapKind> {
        TrapKind::ALL.get(b as usize).copied()
    }

    /// The message for this trap: the WebAssembly spec testsuite's wording (as a substring of
    /// the reference implementation's, where the two differ).
    pub fn message(self) -> &'static str {
        match self {
            TrapKind::StackOverflow => "call stack exhausted",
            TrapKind::MemoryOutOfBounds => "out of bounds memory access",
            TrapKind::TableIndexOutOfBounds => "undefined element",
            TrapKind::TableOutOfBounds => "out of bounds table access",
            TrapKind::IndirectCallToNull => "uninitialized element",
            TrapKind::BadSignature => "indirect call type mismatch",
            TrapKind::IntegerOverflow => "integer overflow",
            TrapKind::IntegerDivisionByZero => "integer divide by zero",
            TrapKind::BadConversionToInteger => "invalid conversion to integer",
            TrapKind::UnreachableCodeReached => "wasm `unreachable` instruction executed",
            TrapKind::Interrupt => "interrupted",
            TrapKind::HostError => "host function error",
            TrapKind::NullReference => "null reference",
            TrapKind::CanonicalAbi => "canonical ABI violation",
            TrapKind::UncaughtException => "uncaught exception",
            TrapKind::ExceptionLimit => "too many live exception objects",
        }
    }
}

impl std::fmt::Display for TrapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

//! Errors and traps reported by the runtime to hosts.
//!
//! [`Error`] is what every fallible API returns; [`Trap`] is a guest trap (with kind, message
//! and backtrace), built by the trap machinery in `traps.rs` or returned by host functions.

use kiln_environ::TrapKind;
use std::fmt;

/// One frame of a guest backtrace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// Function index in its module's function index space.
    pub func_index: u32,
    /// Function name from the name section, if any.
    pub func_name: Option<String>,
    /// Module name from the name section, if any.
    pub module_name: Option<String>,
    /// Wasm byte offset of the instruction, if known.
    pub wasm_offset: Option<u32>,
    /// Source file and line, from the module's debug line table (modules compiled with `-g`).
    pub source: Option<(String, u32)>,
}

/// A guest trap: its kind, a message, and the guest backtrace (innermost first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trap {
    /// Why the guest stopped.
    pub kind: TrapKind,
    /// Human-readable message (`TrapKind::message()` unless a host function said otherwise).
    pub message: String,
    /// Guest frames, innermost first.
    pub backtrace: Vec<FrameInfo>,
    /// Set when the guest asked to exit (`wasi:cli/exit`): the status it exits with. Hosts
    /// treat such a "trap" as the end of the program, not as a failure of the runtime.
    pub exit_status: Option<i32>,
    /// For `TrapKind::UncaughtException`: a copy of the exception (`None` when its payload
    /// holds exception references). Returned by a host function to its wasm caller, a trap
    /// with an exception throws it there (see [`Trap::throw`]).
    pub exception: Option<crate::Exception>,
}

impl Trap {
    /// A trap of `kind` with its standard message and no backtrace.
    pub fn new(kind: TrapKind) -> Trap {
        Trap {
            kind,
            message: kind.message().to_string(),
            backtrace: Vec::new(),
            exit_status: None,
            exception: None,
        }
    }

    /// A host-function error with a custom message.
    pub fn host(message: impl Into<String>) -> Trap {
        Trap {
            kind: TrapKind::HostError,
            message: message.into(),
            backtrace: Vec::new(),
            exit_status: None,
            exception: None,
        }
    }

    /// A broken canonical-ABI rule (kind [`TrapKind::CanonicalAbi`]) with `message`.
    pub fn abi(message: impl Into<String>) -> Trap {
        Trap {
            kind: TrapKind::CanonicalAbi,
            message: message.into(),
            backtrace: Vec::new(),
            exit_status: None,
            exception: None,
        }
    }

    /// The message as hosts see it: `wasm trap: ` and the message for a trap the guest (or the
    /// canonical ABI) caused, as wasmtime renders traps, the bare message for an error a host
    /// function returned.
    pub fn rendered(&self) -> String {
        match self.kind {
            TrapKind::HostError => self.message.clone(),
            _ => format!("wasm trap: {}", self.message),
        }
    }

    /// The guest's request to exit with `status` (unwinds the guest like a trap).
    pub fn exit(status: i32) -> Trap {
        Trap {
            kind: TrapKind::HostError,
            message: format!("guest exited with status {status}"),
            backtrace: Vec::new(),
            exit_status: Some(status),
            exception: None,
        }
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered())?;
        if !self.backtrace.is_empty() {
            f.write_str("\nwasm backtrace:")?;
            for (i, frame) in self.backtrace.iter().enumerate() {
                write!(f, "\n    {i}: ")?;
                if let Some(m) = &frame.module_name {
                    write!(f, "{m}!")?;
                }
                match &frame.func_name {
                    Some(n) => f.write_str(n)?,
                    None => write!(f, "<wasm function {}>", frame.func_index)?,
                }
                if let Some(o) = frame.wasm_offset {
                    write!(f, " (offset {o:#x})")?;
                }
                if let Some((file, line)) = &frame.source {
                    write!(f, "\n           at {file}:{line}")?;
                }
            }
        }
        Ok(())
    }
}

impl std::error::Error for Trap {}

/// Every error the runtime reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not a kiln `.so`, wrong version/target/CPU features, `dlopen` failure.
    Load(String),
    /// Unknown import or incompatible import type (the spec's "unlinkable").
    Link(String),
    /// A guest trap.
    Trap(Trap),
    /// The instance's store is running guest code on another thread (a store runs one thread
    /// at a time), or two running stores would have to be joined.
    Busy(String),
    /// Anything else: argument type mismatch, resource exhaustion...
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Load(m) => write!(f, "cannot load module: {m}"),
            Error::Link(m) => write!(f, "cannot link module: {m}"),
            Error::Trap(t) => write!(f, "{t}"),
            Error::Busy(m) | Error::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<Trap> for Error {
    fn from(t: Trap) -> Error {
        Error::Trap(t)
    }
}

impl From<TrapKind> for Error {
    fn from(k: TrapKind) -> Error {
        Error::Trap(Trap::new(k))
    }
}

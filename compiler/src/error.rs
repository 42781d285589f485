//! Compile errors: a message, and the byte offset in the input where one applies.

use std::fmt;

/// An error from any compile stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// What went wrong.
    pub message: String,
    /// Byte offset in the input, when the error is about a place in it.
    pub offset: Option<usize>,
}

impl CompileError {
    /// An error about a place in the input.
    pub fn at(offset: usize, message: impl Into<String>) -> CompileError {
        CompileError {
            message: message.into(),
            offset: Some(offset),
        }
    }

    /// An error not tied to a place in the input.
    pub fn msg(message: impl Into<String>) -> CompileError {
        CompileError {
            message: message.into(),
            offset: None,
        }
    }

    /// Prefixes the message with context.
    pub fn context(mut self, ctx: impl fmt::Display) -> CompileError {
        self.message = format!("{ctx}: {}", self.message);
        self
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{} (at offset {o:#x})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CompileError {}

impl From<wasmparser::BinaryReaderError> for CompileError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        CompileError::at(e.offset(), e.message().to_string())
    }
}

/// Result alias for the compiler.
pub type Result<T, E = CompileError> = std::result::Result<T, E>;

//! A kiln shared object read as bytes, before anything maps or runs it.
//!
//! - [`elf`]: a small bounds-checked reader of the ELF structures the dynamic loader reads;
//! - [`verify`] (with `structure.rs`, its ELF-level half): the static verifier — accepts
//!   exactly what kiln emits and decodes the descriptors through [`crate::descriptor`]'s one
//!   reader;
//! - [`checksum`]: the file checksum recorded in the exported descriptor at compile time (the
//!   compiler calls [`checksum::seal`]) and checked at every load.
//!
//! The compiler uses this to seal what it links, `kiln inspect` to report on a file, and the
//! runtime to refuse a file before `dlopen` could run anything from it.

pub mod checksum;
mod eh_frame;
pub mod elf;
mod structure;
pub mod verify;

pub use checksum::{check_checksum, checksum, seal};
pub use elf::Machine;
pub use verify::{verify, ArtifactKind, Verified};

use std::fmt;

/// Why a file is not an acceptable kiln shared object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactError(String);

impl ArtifactError {
    /// An error with `msg`.
    pub fn new(msg: impl Into<String>) -> ArtifactError {
        ArtifactError(msg.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArtifactError {}

impl From<crate::descriptor::DescriptorError> for ArtifactError {
    fn from(e: crate::descriptor::DescriptorError) -> ArtifactError {
        ArtifactError(e.0)
    }
}

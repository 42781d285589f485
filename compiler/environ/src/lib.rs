//! The kiln artifact contract, shared by the compiler and the runtime.
//!
//! Everything both sides of a kiln shared object must agree on lives here and only here:
//!
//! - [`descriptor`]: the one exported symbol of a `.so` and the static descriptor it points at
//!   (one encoder and one reader for both kinds);
//! - [`fingerprint`]: what an artifact was compiled by and for, in a stable text form;
//! - [`artifact`]: a `.so` read as bytes: the static verifier, the file digest;
//! - [`metadata`]: the versioned metadata blob (module shape, segments, trap and address tables);
//! - [`vmoffsets`]: the layout of the VM context that compiled code receives as its first argument;
//! - [`builtins`]: the table of runtime services compiled code calls through the VM context;
//! - [`metadata_codec`]: the metadata's byte layout (a section directory, the shape, tables
//!   read in place);
//! - [`shared`]: bytes the metadata tables read in place, and string tables;
//! - [`table`]: the fixed-width trap and address tables inside the metadata;
//! - [`trap`]: trap kinds and their messages;
//! - [`exception`]: exception objects' layout and the exception (catch handler) table;
//! - [`component`]: the component artifact: types, canonical-ABI layout, instantiation plan.
//!
//! This crate knows nothing of Cranelift and nothing of the runtime's implementation: the compiler
//! writes what is described here and the runtime reads it.
#![deny(missing_docs)]

pub mod artifact;
pub mod builtins;
pub mod component;
pub mod descriptor;
pub mod exception;
pub mod fingerprint;
pub mod metadata;
pub mod metadata_codec;
pub mod shared;
pub mod table;
pub mod trap;
pub mod vmoffsets;

pub use builtins::BuiltinFunctionIndex;
pub use descriptor::{
    ComponentDescriptor, ModuleDescriptor, Span, ABI_VERSION, COMPONENT_DESCRIPTOR_MAGIC,
    COMPONENT_DESCRIPTOR_SYMBOL, DESCRIPTOR_MAGIC, DESCRIPTOR_SYMBOL,
};
pub use exception::ExceptionTable;
pub use fingerprint::Fingerprint;
pub use metadata::*;
pub use metadata_codec::MetadataLayout;
pub use shared::{BytesOwner, NameTable, SharedBytes};
pub use table::{OffsetTable, TrapTable};
pub use trap::TrapKind;
pub use vmoffsets::VMOffsets;

/// The version of kiln that wrote (or reads) an artifact.
pub const KILN_VERSION: &str = env!("CARGO_PKG_VERSION");

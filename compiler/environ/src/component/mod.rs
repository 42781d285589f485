//! The component half of the artifact contract: what a kiln `.so` compiled from a WebAssembly
//! *component* contains, and the types the compiler, the canonical-ABI glue and the runtime
//! share.
//!
//! - [`types`]: component value and function types ([`InterfaceType`], [`ComponentFuncType`]);
//! - [`abi`]: canonical-ABI layout in linear memory and flattening to core types;
//! - [`host`]: the host C representation of component values;
//! - [`plan`]: the flattened instantiation plan ([`ComponentMetadata`]);
//! - [`vmctx`]: the component VM context the runtime fills and the glue reads;
//! - [`wit`]: printing the component's world in WIT syntax.
//!
//! A component `.so` exports exactly one symbol, [`COMPONENT_DESCRIPTOR_SYMBOL`], pointing at a
//! [`ComponentDescriptor`]; it does *not* export `kiln_module_v1`. Each distinct core module is
//! linked in with its own ordinary [`crate::Descriptor`] under a hidden symbol
//! ([`module_descriptor_symbol`]), reached through the component descriptor's module array.

pub mod abi;
mod check;
pub mod glue;
pub mod host;
pub mod plan;
pub mod text;
pub mod types;
pub mod vmctx;
pub mod wit;

pub use abi::{AbiContext, Layout, MAX_FLAT_PARAMS, MAX_FLAT_RESULTS};
pub use plan::*;
pub use types::{Case, ComponentFuncType, Field, InterfaceType, ResourceIndex};
pub use vmctx::VMComponentOffsets;

/// Name of the one global symbol a component `.so` exports.
pub const COMPONENT_DESCRIPTOR_SYMBOL: &str = "kiln_component_v1";

/// Magic bytes at the start of the component descriptor.
pub const COMPONENT_DESCRIPTOR_MAGIC: [u8; 8] = *b"KILN\0CMP";

/// The (hidden) symbol of core module `i`'s descriptor inside a component `.so`.
pub fn module_descriptor_symbol(i: u32) -> String {
    format!("kiln_component_module_{i}")
}

/// The static descriptor a component `.so` exports (layout fixed, `#[repr(C)]`).
#[repr(C)]
#[derive(Debug)]
pub struct ComponentDescriptor {
    /// [`COMPONENT_DESCRIPTOR_MAGIC`].
    pub magic: [u8; 8],
    /// [`crate::ABI_VERSION`] of the writer.
    pub abi_version: u32,
    /// Size in bytes of this structure as written.
    pub size: u32,
    /// Start of the serialized [`ComponentMetadata`].
    pub metadata: *const u8,
    /// Length of the serialized metadata.
    pub metadata_len: usize,
    /// Array of `num_modules` pointers to the core modules' descriptors, in
    /// [`ComponentMetadata::modules`] order.
    pub modules: *const *const crate::Descriptor,
    /// Number of core modules.
    pub num_modules: usize,
    /// Start of the compiled glue code (null when there is none): code offsets of glue entry
    /// points are relative to this.
    pub glue_text: *const u8,
    /// Length of the glue code.
    pub glue_text_len: usize,
}

impl ComponentDescriptor {
    /// Byte offset of `metadata`.
    pub const OFFSET_METADATA: u32 = 16;
    /// Byte offset of `metadata_len`.
    pub const OFFSET_METADATA_LEN: u32 = 24;
    /// Byte offset of `modules`.
    pub const OFFSET_MODULES: u32 = 32;
    /// Byte offset of `num_modules`.
    pub const OFFSET_NUM_MODULES: u32 = 40;
    /// Byte offset of `glue_text`.
    pub const OFFSET_GLUE_TEXT: u32 = 48;
    /// Byte offset of `glue_text_len`.
    pub const OFFSET_GLUE_TEXT_LEN: u32 = 56;
    /// Total size on a 64-bit target.
    pub const SIZE: u32 = 64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_offsets_match_layout() {
        use std::mem::offset_of;
        type D = ComponentDescriptor;
        assert_eq!(offset_of!(D, metadata), D::OFFSET_METADATA as usize);
        assert_eq!(offset_of!(D, metadata_len), D::OFFSET_METADATA_LEN as usize);
        assert_eq!(offset_of!(D, modules), D::OFFSET_MODULES as usize);
        assert_eq!(offset_of!(D, num_modules), D::OFFSET_NUM_MODULES as usize);
        assert_eq!(offset_of!(D, glue_text), D::OFFSET_GLUE_TEXT as usize);
        assert_eq!(
            offset_of!(D, glue_text_len),
            D::OFFSET_GLUE_TEXT_LEN as usize
        );
        assert_eq!(std::mem::size_of::<D>(), D::SIZE as usize);
    }
}

//! The descriptor: the single exported symbol of a kiln shared object.
//!
//! Written by the compiler's emit stage as a static in the object's data section (its pointer
//! fields are filled by relocations, which become dynamic relative relocations in the `.so`);
//! read by the runtime right after `dlopen` + `dlsym(DESCRIPTOR_SYMBOL)`.

/// Name of the one global symbol a kiln `.so` exports.
pub const DESCRIPTOR_SYMBOL: &str = "kiln_module_v1";

/// Magic bytes at the start of the descriptor.
pub const DESCRIPTOR_MAGIC: [u8; 8] = *b"KILN\0MOD";

/// Version of the compiler/runtime contract (VM context layout, builtins, metadata format).
/// Bump on any incompatible change; the runtime rejects artifacts whose version differs.
pub const ABI_VERSION: u32 = 3;

/// The static descriptor a kiln `.so` exports (layout fixed, `#[repr(C)]`).
///
/// Field offsets are part of the ABI: see the `OFFSET_*` constants.
#[repr(C)]
#[derive(Debug)]
pub struct Descriptor {
    /// [`DESCRIPTOR_MAGIC`].
    pub magic: [u8; 8],
    /// [`ABI_VERSION`] of the writer.
    pub abi_version: u32,
    /// Size in bytes of this structure as written (for forward compatibility).
    pub size: u32,
    /// Start of the serialized [`crate::ModuleMetadata`].
    pub metadata: *const u8,
    /// Length of the serialized metadata.
    pub metadata_len: usize,
    /// Start of the compiled code: every code offset in the metadata is relative to this.
    pub text: *const u8,
    /// Length of the compiled code.
    pub text_len: usize,
    /// Start of the data blob (page-aligned): segment bytes and memory images.
    pub data: *const u8,
    /// Length of the data blob.
    pub data_len: usize,
}

impl Descriptor {
    /// Byte offset of `metadata`.
    pub const OFFSET_METADATA: u32 = 16;
    /// Byte offset of `metadata_len`.
    pub const OFFSET_METADATA_LEN: u32 = 24;
    /// Byte offset of `text`.
    pub const OFFSET_TEXT: u32 = 32;
    /// Byte offset of `text_len`.
    pub const OFFSET_TEXT_LEN: u32 = 40;
    /// Byte offset of `data`.
    pub const OFFSET_DATA: u32 = 48;
    /// Byte offset of `data_len`.
    pub const OFFSET_DATA_LEN: u32 = 56;
    /// Total size of the descriptor on a 64-bit target.
    pub const SIZE: u32 = 64;
}

/// Alignment of the data blob and of memory images inside it (the largest page size of any
/// supported target, so images can be mapped copy-on-write).
pub const DATA_ALIGN: u64 = 65536;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_match_layout() {
        assert_eq!(
            std::mem::offset_of!(Descriptor, metadata),
            Descriptor::OFFSET_METADATA as usize
        );
        assert_eq!(
            std::mem::offset_of!(Descriptor, metadata_len),
            Descriptor::OFFSET_METADATA_LEN as usize
        );
        assert_eq!(
            std::mem::offset_of!(Descriptor, text),
            Descriptor::OFFSET_TEXT as usize
        );
        assert_eq!(
            std::mem::offset_of!(Descriptor, text_len),
            Descriptor::OFFSET_TEXT_LEN as usize
        );
        assert_eq!(
            std::mem::offset_of!(Descriptor, data),
            Descriptor::OFFSET_DATA as usize
        );
        assert_eq!(
            std::mem::offset_of!(Descriptor, data_len),
            Descriptor::OFFSET_DATA_LEN as usize
        );
        assert_eq!(std::mem::size_of::<Descriptor>(), Descriptor::SIZE as usize);
    }
}

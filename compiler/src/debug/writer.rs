//! Writing DWARF and CFI sections into the relocatable object.
//!
//! Every address in kiln's debug info is `.text + offset` (gimli `Address::Symbol` with symbol
//! 0 standing for the `.text` section), so each one becomes a relocation against the `.text`
//! section symbol: absolute 64-bit in `.debug_*`, PC-relative 32-bit in `.eh_frame`. Offsets
//! between debug sections need no relocation: the object is the only input of its link, so the
//! linker keeps every debug section as it is.

use crate::error::{CompileError, Result};
use gimli::write::{EndianVec, RelocateWriter, Relocation, RelocationTarget, Writer};
use gimli::{LittleEndian, SectionId};
use object::write::{Object, Relocation as ObjReloc, SectionId as ObjSectionId};
use object::{RelocationEncoding, RelocationFlags, RelocationKind, SectionKind};

/// A section being written, with the `.text` relocations it needs.
#[derive(Clone, Debug)]
pub(crate) struct RelocSection {
    data: EndianVec<LittleEndian>,
    /// `(offset in section, size in bytes, .text offset, pc-relative)`.
    relocs: Vec<(u64, u8, i64, bool)>,
    /// Offsets into other debug sections, patched in when the section is added:
    /// `(offset in section, size in bytes, value)`.
    offsets: Vec<(usize, u8, u64)>,
}

impl RelocSection {
    /// An empty section.
    pub(crate) fn new() -> RelocSection {
        RelocSection {
            data: EndianVec::new(LittleEndian),
            relocs: Vec::new(),
            offsets: Vec::new(),
        }
    }

    /// The finished bytes, with section offsets patched in.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut data = self.data.clone();
        for &(offset, size, value) in &self.offsets {
            // Offsets were recorded where gimli wrote a placeholder of this size.
            let _ = data.write_udata_at(offset, value, size);
        }
        data.into_vec()
    }
}

impl RelocateWriter for RelocSection {
    type Writer = EndianVec<LittleEndian>;

    fn writer(&self) -> &Self::Writer {
        &self.data
    }

    fn writer_mut(&mut self) -> &mut Self::Writer {
        &mut self.data
    }

    fn relocate(&mut self, r: Relocation) {
        match r.target {
            // Section offsets are final as written (one input object per link).
            RelocationTarget::Section(_) => {
                self.offsets.push((r.offset, r.size, r.addend as u64));
            }
            RelocationTarget::Symbol(_) => {
                let pcrel = r
                    .eh_pe
                    .map(|pe| pe.application() == gimli::DW_EH_PE_pcrel)
                    .unwrap_or(false);
                self.relocs.push((r.offset as u64, r.size, r.addend, pcrel));
            }
        }
    }
}

fn section_name(id: SectionId) -> &'static str {
    id.name()
}

/// Adds a written section to `object`, with its relocations against `text`.
pub(crate) fn add_section(
    object: &mut Object<'_>,
    text: ObjSectionId,
    id: SectionId,
    section: &RelocSection,
) -> Result<()> {
    let bytes = section.bytes();
    if bytes.is_empty() {
        return Ok(());
    }
    let kind = if id == SectionId::EhFrame {
        SectionKind::ReadOnlyData
    } else {
        SectionKind::Debug
    };
    let sid = object.add_section(Vec::new(), section_name(id).as_bytes().to_vec(), kind);
    let align = if id == SectionId::EhFrame { 8 } else { 1 };
    object.append_section_data(sid, &bytes, align);
    let symbol = object.section_symbol(text);
    for &(offset, size, addend, pcrel) in &section.relocs {
        let kind = if pcrel {
            RelocationKind::Relative
        } else {
            RelocationKind::Absolute
        };
        object
            .add_relocation(
                sid,
                ObjReloc {
                    offset,
                    symbol,
                    addend,
                    flags: RelocationFlags::Generic {
                        kind,
                        encoding: RelocationEncoding::Generic,
                        size: size * 8,
                    },
                },
            )
            .map_err(|e| CompileError::msg(format!("debug info relocation: {e}")))?;
    }
    Ok(())
}

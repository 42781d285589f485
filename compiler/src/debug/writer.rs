//! Writing DWARF and CFI sections into the relocatable object.
//!
//! Every address in kiln's debug info is `.text + offset` (gimli `Address::Symbol` with symbol
//! 0 standing for the `.text` section), so each one becomes a relocation against the `.text`
//! section symbol: absolute 64-bit in `.debug_*`, PC-relative 32-bit in `.eh_frame`. Offsets
//! into other debug sections are relocations against those sections' symbols, so objects stay
//! correct when several are linked into one shared object (the core modules of a component).

use crate::error::{CompileError, Result};
use gimli::write::{EndianVec, RelocateWriter, Relocation, RelocationTarget};
use gimli::{LittleEndian, SectionId};
use object::write::{Object, Relocation as ObjReloc, SectionId as ObjSectionId};
use object::{RelocationEncoding, RelocationFlags, RelocationKind, SectionKind};

/// A section being written, with the `.text` relocations it needs.
#[derive(Clone, Debug)]
pub(crate) struct RelocSection {
    data: EndianVec<LittleEndian>,
    /// `(offset in section, size in bytes, .text offset, pc-relative)`.
    relocs: Vec<(u64, u8, i64, bool)>,
    /// Offsets into other debug sections: `(offset in section, size in bytes, section,
    /// offset in that section)`.
    offsets: Vec<(u64, u8, SectionId, i64)>,
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

    /// The bytes written so far (relocated fields hold zero).
    pub(crate) fn bytes(&self) -> &[u8] {
        self.data.slice()
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
            RelocationTarget::Section(id) => {
                self.offsets.push((r.offset as u64, r.size, id, r.addend));
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

/// The object sections the debug sections become, created before any relocation refers to
/// them.
pub(crate) struct DebugSections {
    ids: Vec<(SectionId, ObjSectionId)>,
}

impl DebugSections {
    /// Creates an (empty) object section for each non-empty section of `sections`.
    pub(crate) fn create(
        object: &mut Object<'_>,
        sections: &[(SectionId, &RelocSection)],
    ) -> DebugSections {
        let mut ids = Vec::new();
        for (id, section) in sections {
            if section.bytes().is_empty() {
                continue;
            }
            let kind = if *id == SectionId::EhFrame {
                SectionKind::ReadOnlyData
            } else {
                SectionKind::Debug
            };
            let sid = object.add_section(Vec::new(), id.name().as_bytes().to_vec(), kind);
            ids.push((*id, sid));
        }
        DebugSections { ids }
    }

    fn get(&self, id: SectionId) -> Option<ObjSectionId> {
        self.ids.iter().find(|(i, _)| *i == id).map(|(_, s)| *s)
    }

    /// Fills the object section of `id` with `section` and its relocations.
    pub(crate) fn fill(
        &self,
        object: &mut Object<'_>,
        text: ObjSectionId,
        id: SectionId,
        section: &RelocSection,
    ) -> Result<()> {
        let Some(sid) = self.get(id) else {
            return Ok(());
        };
        let align = if id == SectionId::EhFrame { 8 } else { 1 };
        object.append_section_data(sid, section.bytes(), align);
        let text_symbol = object.section_symbol(text);
        let mut relocs: Vec<(u64, u8, object::write::SymbolId, i64, bool)> = section
            .relocs
            .iter()
            .map(|&(offset, size, addend, pcrel)| (offset, size, text_symbol, addend, pcrel))
            .collect();
        for &(offset, size, target, addend) in &section.offsets {
            let target = self.get(target).ok_or_else(|| {
                CompileError::msg(format!(
                    "internal error: {} refers to the missing section {}",
                    id.name(),
                    target.name()
                ))
            })?;
            relocs.push((offset, size, object.section_symbol(target), addend, false));
        }
        for (offset, size, symbol, addend, pcrel) in relocs {
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
}

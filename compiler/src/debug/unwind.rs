//! Call-frame information: one `.eh_frame` FDE per compiled function and trampoline, from
//! Cranelift's unwind info, so unwinders walk from guest frames into host frames.

use super::writer::RelocSection;
use super::Placed;
use crate::error::{CompileError, Result};
use cranelift_codegen::isa::unwind::UnwindInfo;
use cranelift_codegen::isa::TargetIsa;
use gimli::write::{Address, EhFrame, FrameTable};

/// Writes `.eh_frame` for `functions`; `None` when the target has no System V CFI.
pub(crate) fn write_eh_frame(
    isa: &dyn TargetIsa,
    functions: &[Placed<'_>],
) -> Result<Option<RelocSection>> {
    let placed: Vec<(u64, &UnwindInfo)> = functions
        .iter()
        .filter_map(|f| Some((u64::from(f.start), f.func.unwind.as_ref()?)))
        .collect();
    write_eh_frame_for(isa, &placed)
}

/// Writes `.eh_frame` for code at `.text` offsets with the given unwind info; `None` when
/// the target has no System V CFI or nothing has any.
pub(crate) fn write_eh_frame_for(
    isa: &dyn TargetIsa,
    functions: &[(u64, &UnwindInfo)],
) -> Result<Option<RelocSection>> {
    let Some(mut cie) = isa.create_systemv_cie() else {
        return Ok(None);
    };
    // PC-relative FDE addresses keep `.eh_frame` free of dynamic relocations.
    cie.fde_address_encoding = gimli::DW_EH_PE_pcrel | gimli::DW_EH_PE_sdata4;
    let mut table = FrameTable::default();
    let cie_id = table.add_cie(cie);
    let mut any = false;
    for &(start, unwind) in functions {
        if let UnwindInfo::SystemV(info) = unwind {
            let fde = info.to_fde(Address::Symbol {
                symbol: 0,
                addend: start as i64,
            });
            table.add_fde(cie_id, fde);
            any = true;
        }
    }
    if !any {
        return Ok(None);
    }
    let mut eh = EhFrame(RelocSection::new());
    table
        .write_eh_frame(&mut eh)
        .map_err(|e| CompileError::msg(format!("cannot write .eh_frame: {e}")))?;
    Ok(Some(eh.0))
}

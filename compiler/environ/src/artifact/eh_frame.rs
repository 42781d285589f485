//! The verifier's check of `PT_GNU_EH_FRAME`: the `.eh_frame_hdr` search table that the linker
//! writes for kiln's call-frame information (`ld --eh-frame-hdr`).
//!
//! Nothing reads it at `dlopen`; unwinders do (libgcc's `_Unwind_Find_FDE` through
//! `dl_iterate_phdr`, so glibc `backtrace()`, C++ exceptions and `perf` walk guest frames), and
//! they trust it: a table entry pointing outside the file's read-only data would send them
//! reading anywhere. So the header is accepted only in the exact form GNU ld writes, with every
//! entry inside the image: the table sorted by code address, each code address in an executable
//! segment, each FDE (with its length word) in the never-writable segment that holds
//! `.eh_frame`. The FDEs' instructions are not interpreted here: like the code, they are what
//! the checksum and a signature vouch for.

use super::elf::{ElfFile, ProgramHeader, PF_R, PF_W, PF_X};
use super::ArtifactError;

/// `.eh_frame_hdr` version.
const VERSION: u8 = 1;
/// `eh_frame_ptr` encoding: `DW_EH_PE_pcrel | DW_EH_PE_sdata4`.
const PTR_ENC: u8 = 0x1b;
/// `fde_count` encoding: `DW_EH_PE_udata4`.
const COUNT_ENC: u8 = 0x03;
/// Table encoding: `DW_EH_PE_datarel | DW_EH_PE_sdata4` (relative to the header's start).
const TABLE_ENC: u8 = 0x3b;
/// Header bytes before the table.
const HEADER_LEN: u64 = 12;
/// Most table entries a kiln `.so` may have (one per compiled function and trampoline).
const MAX_ENTRIES: u64 = 1 << 24;

fn fail<T>(msg: impl Into<String>) -> Result<T, ArtifactError> {
    Err(ArtifactError::new(format!(
        "PT_GNU_EH_FRAME: {}: not what kiln emits",
        msg.into()
    )))
}

/// Checks the `.eh_frame_hdr` segment `hdr` against the (already checked) `loads`.
pub(super) fn check_eh_frame_hdr(
    elf: &ElfFile<'_>,
    hdr: &ProgramHeader,
    loads: &[ProgramHeader],
) -> Result<(), ArtifactError> {
    if hdr.flags != PF_R {
        return fail(format!(
            "segment flags {:#x} (expected read-only)",
            hdr.flags
        ));
    }
    if hdr.memsz != hdr.filesz || hdr.memsz < HEADER_LEN {
        return fail("the header is truncated");
    }
    let read_only = |addr: u64, len: u64| {
        loads
            .iter()
            .find(|p| p.contains(addr, len) && p.flags & PF_W == 0)
    };
    if read_only(hdr.vaddr, hdr.memsz).is_none()
        || elf.file_offset(hdr.vaddr, hdr.memsz) != Some(hdr.offset)
    {
        return fail("the header is not inside a read-only loaded segment");
    }
    let bytes = elf.read(hdr.vaddr, hdr.memsz)?;
    if bytes[..4] != [VERSION, PTR_ENC, COUNT_ENC, TABLE_ENC] {
        return fail(format!(
            "version and encodings {:02x?} (expected {:02x?})",
            &bytes[..4],
            [VERSION, PTR_ENC, COUNT_ENC, TABLE_ENC]
        ));
    }
    let word = |at: u64| {
        let b = &bytes[at as usize..at as usize + 4];
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    };
    // `eh_frame_ptr` is relative to its own field, table entries to the header's start.
    let rel = |base: u64, off: i32| base.checked_add_signed(i64::from(off));
    let Some(eh_frame) = rel(hdr.vaddr + 4, word(4)) else {
        return fail("eh_frame_ptr overflows");
    };
    let Some(segment) = read_only(eh_frame, 4) else {
        return fail(format!(
            ".eh_frame ({eh_frame:#x}) is not inside a read-only loaded segment"
        ));
    };
    let segment_end = segment.vaddr + segment.memsz;
    let count = u64::from(word(8) as u32);
    if count > MAX_ENTRIES || HEADER_LEN + 8 * count != hdr.memsz {
        return fail(format!(
            "{count} table entries in a {}-byte header",
            hdr.memsz
        ));
    }
    let mut last = None;
    for i in 0..count {
        let at = HEADER_LEN + 8 * i;
        let (Some(pc), Some(fde)) = (rel(hdr.vaddr, word(at)), rel(hdr.vaddr, word(at + 4))) else {
            return fail("a table entry overflows");
        };
        if last.is_some_and(|l| pc <= l) {
            return fail("the table is not sorted by code address");
        }
        last = Some(pc);
        if !loads
            .iter()
            .any(|p| p.contains(pc, 1) && p.flags == PF_R | PF_X)
        {
            return fail(format!("entry {i} names code at {pc:#x}, outside the code"));
        }
        // The FDE and its length word lie in `.eh_frame`'s segment, at or after its start.
        let fde_len = elf
            .read(fde, 4)
            .ok()
            .filter(|_| fde >= eh_frame && fde + 4 <= segment_end)
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        match fde_len {
            Some(len) if len != 0xffff_ffff && fde + 4 + len <= segment_end => {}
            _ => {
                return fail(format!(
                    "entry {i}'s FDE at {fde:#x} is not inside .eh_frame's segment"
                ))
            }
        }
    }
    Ok(())
}

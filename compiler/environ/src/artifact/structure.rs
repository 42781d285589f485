//! The ELF-level half of the static verifier: the file header, the program headers, the
//! dynamic section, the relocations and the dynamic symbols, each checked against exactly what
//! kiln's linker step emits (the rules are listed in `verify.rs`). The descriptor-level half —
//! decoding the descriptors and placing every range — is in `verify.rs`.

use super::eh_frame::check_eh_frame_hdr;
use super::elf::{
    ElfFile, GnuHash, Machine, ProgramHeader, Rela, PF_R, PF_W, PF_X, PT_DYNAMIC, PT_GNU_EH_FRAME,
    PT_GNU_RELRO, PT_GNU_STACK, PT_LOAD, PT_NOTE, RELA_SIZE, SYM_SIZE,
};
use super::verify::{ArtifactKind, MAX_IMAGE_SPAN};
use super::ArtifactError;
use crate::descriptor::{Span, COMPONENT_DESCRIPTOR_SYMBOL, DESCRIPTOR_SIZE, DESCRIPTOR_SYMBOL};
use std::collections::BTreeMap;

/// Most dynamic relocations a kiln `.so` may have.
const MAX_RELOCATIONS: u64 = 1 << 20;

/// Smallest page size of any supported host: loads must not share a page of this size.
const MIN_PAGE: u64 = 4096;

fn fail<T>(msg: impl Into<String>) -> Result<T, ArtifactError> {
    Err(ArtifactError::new(msg))
}

/// Dynamic tags.
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const DT_RELA: u64 = 7;
const DT_RELASZ: u64 = 8;
const DT_RELAENT: u64 = 9;
const DT_STRSZ: u64 = 10;
const DT_SYMENT: u64 = 11;
const DT_BIND_NOW: u64 = 24;
const DT_FLAGS: u64 = 30;
const DT_GNU_HASH: u64 = 0x6fff_fef5;
const DT_RELACOUNT: u64 = 0x6fff_fff9;
const DT_FLAGS_1: u64 = 0x6fff_fffb;
const DF_BIND_NOW: u64 = 0x8;
const DF_1_NOW: u64 = 0x1;

/// The name of a dynamic tag kiln refuses, for the error message.
fn dynamic_tag_name(tag: u64) -> String {
    let name = match tag {
        1 => "DT_NEEDED (a library dependency, loaded and initialised by dlopen)",
        2 => "DT_PLTRELSZ",
        3 => "DT_PLTGOT",
        4 => "DT_HASH",
        12 => "DT_INIT (a constructor)",
        13 => "DT_FINI (a destructor)",
        14 => "DT_SONAME",
        15 => "DT_RPATH",
        16 => "DT_SYMBOLIC",
        17 => "DT_REL",
        20 => "DT_PLTREL",
        21 => "DT_DEBUG",
        22 => "DT_TEXTREL (relocations in code pages)",
        23 => "DT_JMPREL (PLT relocations)",
        25 => "DT_INIT_ARRAY (constructors)",
        26 => "DT_FINI_ARRAY (destructors)",
        27 => "DT_INIT_ARRAYSZ",
        28 => "DT_FINI_ARRAYSZ",
        29 => "DT_RUNPATH",
        32 => "DT_PREINIT_ARRAY",
        33 => "DT_PREINIT_ARRAYSZ",
        0x6fff_fefb => "DT_DEPAUDIT",
        0x6fff_fefc => "DT_AUDIT",
        0x6fff_fff0 => "DT_VERSYM",
        0x6fff_fffc => "DT_VERDEF",
        0x6fff_fffe => "DT_VERNEED",
        0x6fff_fffd => "DT_VERDEFNUM",
        0x6fff_ffff => "DT_VERNEEDNUM",
        0x6fff_fffa => "DT_RELCOUNT",
        18 => "DT_RELSZ",
        19 => "DT_RELENT",
        0x6fff_fef6 => "DT_TLSDESC_PLT",
        0x6fff_fef7 => "DT_TLSDESC_GOT",
        0x7fff_fffd => "DT_AUXILIARY",
        0x7fff_ffff => "DT_FILTER",
        _ => return format!("dynamic tag {tag:#x}"),
    };
    name.to_string()
}

/// The dynamic tags of `elf` that kiln refuses, by name — what would run code or load other
/// files at `dlopen` — read before anything else so the error names them (empty when the
/// dynamic section cannot be read; the other checks then say why).
pub(super) fn refused_dynamic_tags(elf: &ElfFile<'_>) -> Vec<String> {
    let Some(dynamic) = elf.phdrs.iter().find(|p| p.p_type == PT_DYNAMIC) else {
        return Vec::new();
    };
    let Ok(entries) = elf.dynamic(dynamic) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for d in entries {
        if !ALLOWED_TAGS.contains(&d.tag) {
            let name = dynamic_tag_name(d.tag);
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// The dynamic tags a kiln `.so` may have.
const ALLOWED_TAGS: [u64; 12] = [
    DT_STRTAB,
    DT_SYMTAB,
    DT_RELA,
    DT_RELASZ,
    DT_RELAENT,
    DT_STRSZ,
    DT_SYMENT,
    DT_BIND_NOW,
    DT_FLAGS,
    DT_GNU_HASH,
    DT_RELACOUNT,
    DT_FLAGS_1,
];

/// Checks the file header.
pub(super) fn check_header(
    elf: &ElfFile<'_>,
    machine: Option<Machine>,
) -> Result<Machine, ArtifactError> {
    let h = &elf.header;
    if h.osabi != 0 && h.osabi != 3 {
        return fail(format!("unexpected OS ABI {} in the ELF header", h.osabi));
    }
    if h.abiversion != 0 || h.version != 1 {
        return fail("unexpected ELF ABI version or file version");
    }
    if h.e_type != 3 {
        return fail(format!(
            "not a shared object (ELF type {}, expected ET_DYN)",
            h.e_type
        ));
    }
    let found = Machine::from_e_machine(h.machine)
        .ok_or_else(|| ArtifactError::new(format!("unsupported machine {}", h.machine)))?;
    if let Some(m) = machine {
        if m != found {
            return fail(format!(
                "compiled for {}, this host is {}",
                found.name(),
                m.name()
            ));
        }
    }
    Ok(found)
}

/// Checks the program headers; returns the loads (sorted), the dynamic segment and the
/// RELRO span.
pub(super) fn check_segments(
    elf: &ElfFile<'_>,
) -> Result<(Vec<ProgramHeader>, ProgramHeader, Span), ArtifactError> {
    let file_len = elf.data.0.len() as u64;
    let (mut dynamic, mut relro, mut stack, mut eh_frame_hdr) = (None, None, false, None);
    let mut loads = Vec::new();
    let mut unexpected = Vec::new();
    for p in &elf.phdrs {
        if p.offset.checked_add(p.filesz).is_none_or(|e| e > file_len) {
            return fail(format!(
                "a segment (type {:#x}, file bytes {:#x}..+{:#x}) extends past the end of the \
                 file ({file_len} bytes): truncated or corrupt",
                p.p_type, p.offset, p.filesz
            ));
        }
        if p.vaddr.checked_add(p.memsz).is_none() {
            return fail("a segment's address range overflows");
        }
        match p.p_type {
            PT_LOAD => loads.push(*p),
            PT_DYNAMIC if dynamic.is_none() => dynamic = Some(*p),
            PT_GNU_RELRO if relro.is_none() => relro = Some(Span::new(p.vaddr, p.memsz)),
            PT_GNU_STACK if !stack => {
                if p.flags & PF_X != 0 {
                    return fail("PT_GNU_STACK asks for an executable stack");
                }
                stack = true;
            }
            PT_NOTE => {}
            PT_GNU_EH_FRAME if eh_frame_hdr.is_none() => eh_frame_hdr = Some(*p),
            t => unexpected.push(match t {
                3 => "PT_INTERP".to_string(),
                6 => "PT_PHDR".to_string(),
                7 => "PT_TLS (thread-local storage)".to_string(),
                0x6474_e553 => "PT_GNU_PROPERTY".to_string(),
                PT_DYNAMIC | PT_GNU_RELRO | PT_GNU_STACK | PT_GNU_EH_FRAME => {
                    format!("a second {t:#x}")
                }
                _ => format!("type {t:#x}"),
            }),
        }
    }
    if !unexpected.is_empty() {
        return fail(format!(
            "unexpected program headers {}: not what kiln emits",
            unexpected.join(", ")
        ));
    }
    if !stack {
        return fail("no PT_GNU_STACK: the loader would make the stack executable");
    }
    let Some(dynamic) = dynamic else {
        return fail("no dynamic section (PT_DYNAMIC)");
    };
    let Some(relro) = relro else {
        return fail("no PT_GNU_RELRO");
    };
    if loads.is_empty() || loads.len() > 8 {
        return fail(format!(
            "{} loadable segments (kiln emits 1 to 8)",
            loads.len()
        ));
    }
    if loads.windows(2).any(|w| w[0].vaddr >= w[1].vaddr) {
        return fail("loadable segments are not in address order");
    }
    for (i, p) in loads.iter().enumerate() {
        if !p.align.is_power_of_two() || p.align < MIN_PAGE || p.align > 1 << 16 {
            return fail(format!("segment alignment {:#x}", p.align));
        }
        if p.vaddr % MIN_PAGE != p.offset % MIN_PAGE {
            return fail("a segment's address and file offset are not page-congruent");
        }
        if p.memsz != p.filesz {
            return fail("a loadable segment has a zero-filled tail (memory size ≠ file size)");
        }
        if p.flags & !(PF_R | PF_W | PF_X) != 0 || p.flags & PF_R == 0 {
            return fail(format!("unexpected segment flags {:#x}", p.flags));
        }
        if p.flags & PF_W != 0 && p.flags & PF_X != 0 {
            return fail("a segment is both writable and executable");
        }
        if let Some(next) = loads.get(i + 1) {
            let end_page = (p.vaddr + p.memsz).div_ceil(MIN_PAGE) * MIN_PAGE;
            if end_page > next.vaddr / MIN_PAGE * MIN_PAGE {
                return fail("loadable segments overlap or share a page");
            }
        }
    }
    let (lo, hi) = (
        loads[0].vaddr,
        loads[loads.len() - 1].vaddr + loads[loads.len() - 1].memsz,
    );
    if hi - lo > MAX_IMAGE_SPAN {
        return fail(format!(
            "the image spans {:#x} bytes (at most {MAX_IMAGE_SPAN:#x})",
            hi - lo
        ));
    }
    let in_load = |addr: u64, len: u64, writable: bool| {
        loads
            .iter()
            .any(|p| p.contains(addr, len) && (p.flags & PF_W != 0) == writable)
    };
    if !in_load(dynamic.vaddr, dynamic.filesz, true)
        || elf.file_offset(dynamic.vaddr, dynamic.filesz) != Some(dynamic.offset)
    {
        return fail("the dynamic section is not inside its writable loaded segment");
    }
    if !in_load(relro.addr, relro.len, true) {
        return fail("PT_GNU_RELRO is not inside a writable loaded segment");
    }
    if let Some(hdr) = eh_frame_hdr {
        check_eh_frame_hdr(elf, &hdr, &loads)?;
    }
    Ok((loads, dynamic, relro))
}

/// The dynamic section's values kiln uses.
pub(super) struct Dynamic {
    pub(super) strtab: u64,
    pub(super) strsz: u64,
    pub(super) symtab: u64,
    pub(super) gnu_hash: u64,
    pub(super) rela: u64,
    pub(super) relasz: u64,
}

pub(super) fn check_dynamic(
    elf: &ElfFile<'_>,
    dynamic: &ProgramHeader,
) -> Result<Dynamic, ArtifactError> {
    let entries = elf.dynamic(dynamic)?;
    let mut seen = BTreeMap::new();
    for d in &entries {
        if !ALLOWED_TAGS.contains(&d.tag) {
            return fail(format!(
                "unexpected {} in the dynamic section: not what kiln emits",
                dynamic_tag_name(d.tag)
            ));
        }
        if seen.insert(d.tag, d.val).is_some() {
            return fail(format!(
                "{} appears twice in the dynamic section",
                dynamic_tag_name(d.tag)
            ));
        }
    }
    let get = |tag: u64, name: &str| {
        seen.get(&tag)
            .copied()
            .ok_or_else(|| ArtifactError::new(format!("the dynamic section lacks {name}")))
    };
    if let Some(f) = seen.get(&DT_FLAGS) {
        if f & !DF_BIND_NOW != 0 {
            return fail(format!(
                "unexpected DT_FLAGS {f:#x} (kiln sets only BIND_NOW)"
            ));
        }
    }
    if let Some(f) = seen.get(&DT_FLAGS_1) {
        if f & !DF_1_NOW != 0 {
            return fail(format!("unexpected DT_FLAGS_1 {f:#x} (kiln sets only NOW)"));
        }
    }
    if get(DT_SYMENT, "DT_SYMENT")? != SYM_SIZE as u64 {
        return fail("unexpected symbol entry size");
    }
    let relasz = seen.get(&DT_RELASZ).copied().unwrap_or(0);
    if relasz > 0 && get(DT_RELAENT, "DT_RELAENT")? != RELA_SIZE as u64 {
        return fail("unexpected relocation entry size");
    }
    if relasz % RELA_SIZE as u64 != 0 || relasz / RELA_SIZE as u64 > MAX_RELOCATIONS {
        return fail(format!("relocation table of {relasz} bytes"));
    }
    let rela = if relasz > 0 {
        get(DT_RELA, "DT_RELA")?
    } else {
        0
    };
    if let Some(n) = seen.get(&DT_RELACOUNT) {
        if *n > relasz / RELA_SIZE as u64 {
            return fail("DT_RELACOUNT exceeds the relocation count");
        }
    }
    Ok(Dynamic {
        strtab: get(DT_STRTAB, "DT_STRTAB")?,
        strsz: get(DT_STRSZ, "DT_STRSZ")?,
        symtab: get(DT_SYMTAB, "DT_SYMTAB")?,
        gnu_hash: get(DT_GNU_HASH, "DT_GNU_HASH")?,
        rela,
        relasz,
    })
}

/// Checks every relocation; returns the pointer each writes, by address.
pub(super) fn check_relocations(
    elf: &ElfFile<'_>,
    machine: Machine,
    dynamic: &Dynamic,
    relro: Span,
    image_end: u64,
) -> Result<BTreeMap<u64, u64>, ArtifactError> {
    let relas: Vec<Rela> = elf.relas(dynamic.rela, dynamic.relasz / RELA_SIZE as u64)?;
    let mut out = BTreeMap::new();
    for r in relas {
        if r.r_type() != machine.relative_reloc() || r.r_sym() != 0 {
            let what = match (machine, r.r_type()) {
                (Machine::X86_64, 37) | (Machine::Aarch64, 1032) => {
                    "an IRELATIVE relocation (runs an IFUNC resolver at load)".to_string()
                }
                (Machine::X86_64, 16..=19 | 21..=23) | (Machine::Aarch64, 1028..=1031) => {
                    "a TLS relocation".to_string()
                }
                (_, t) => format!("a relocation of type {t} (symbol {})", r.r_sym()),
            };
            return fail(format!(
                "{what}: a kiln shared object has only relative relocations"
            ));
        }
        let inside_relro = r.offset % 8 == 0
            && r.offset >= relro.addr
            && r.offset
                .checked_add(8)
                .is_some_and(|e| e <= relro.addr + relro.len);
        if !inside_relro {
            return fail(format!(
                "a relocation writes at {:#x}, outside the read-only-after-relocation data",
                r.offset
            ));
        }
        if r.addend < 0 || r.addend as u64 > image_end {
            return fail(format!(
                "a relocation points at {:#x}, outside the image",
                r.addend
            ));
        }
        if out.insert(r.offset, r.addend as u64).is_some() {
            return fail(format!("two relocations write at {:#x}", r.offset));
        }
    }
    Ok(out)
}

/// Checks the dynamic symbols; returns the descriptor's kind and symbol value.
pub(super) fn check_symbols(
    elf: &ElfFile<'_>,
    dynamic: &Dynamic,
) -> Result<(ArtifactKind, u64, u64), ArtifactError> {
    let hash = GnuHash::read(elf, dynamic.gnu_hash)?;
    let strtab = elf.read(dynamic.strtab, dynamic.strsz)?;
    let name_of = |off: u32| -> Result<&[u8], ArtifactError> {
        let rest = strtab
            .get(off as usize..)
            .ok_or_else(|| ArtifactError::new("a symbol name is outside the string table"))?;
        let end = rest
            .iter()
            .position(|c| *c == 0)
            .ok_or_else(|| ArtifactError::new("unterminated symbol name"))?;
        Ok(&rest[..end])
    };
    if !elf.sym(dynamic.symtab, 0)?.is_null() {
        return fail("the first dynamic symbol is not the null symbol");
    }
    if hash.nsyms != 2 || hash.symoffset() != 1 {
        return fail(format!(
            "{} dynamic symbols: a kiln shared object exports exactly one, its descriptor",
            hash.nsyms.saturating_sub(1)
        ));
    }
    let sym = elf.sym(dynamic.symtab, 1)?;
    let name = name_of(sym.name)?;
    let kind = if name == DESCRIPTOR_SYMBOL.as_bytes() {
        ArtifactKind::Module
    } else if name == COMPONENT_DESCRIPTOR_SYMBOL.as_bytes() {
        ArtifactKind::Component
    } else {
        return fail(format!(
            "not a kiln shared object: it exports `{}`, not `{DESCRIPTOR_SYMBOL}` or \
             `{COMPONENT_DESCRIPTOR_SYMBOL}`",
            String::from_utf8_lossy(name)
        ));
    };
    // A defined, global, default-visibility data object (STB_GLOBAL, STT_OBJECT).
    if sym.binding() != 1 || sym.kind() != 1 || sym.other & 3 != 0 || sym.shndx == 0 {
        return fail(format!(
            "`{}` is not a defined global data object",
            kind.symbol()
        ));
    }
    if sym.shndx >= 0xff00 {
        return fail("the descriptor symbol has a special section index");
    }
    if sym.size != u64::from(DESCRIPTOR_SIZE) {
        return fail(format!(
            "`{}` has {} bytes, expected {DESCRIPTOR_SIZE}",
            kind.symbol(),
            sym.size
        ));
    }
    let found = hash.lookup(name, |i| {
        Ok(name_of(elf.sym(dynamic.symtab, u64::from(i))?.name)? == name)
    })?;
    if found != Some(1) {
        return fail(format!(
            "the GNU hash table does not lead to `{}`",
            kind.symbol()
        ));
    }
    Ok((kind, sym.value, sym.size))
}

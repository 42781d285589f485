//! A small reader of exactly the ELF structures a kiln shared object is made of: the file
//! header, program headers, the dynamic section, `RELA` relocations, the dynamic symbol table
//! and its GNU hash table. 64-bit little-endian only; every read is bounds-checked against the
//! bytes, so malformed input is an [`ArtifactError`], never a panic.
//!
//! It reads what the dynamic loader reads (segments, not sections): the static verifier
//! ([`super::verify`]) decides from these exactly what `dlopen` would do with the file.

use super::ArtifactError;

/// `PT_LOAD`.
pub const PT_LOAD: u32 = 1;
/// `PT_DYNAMIC`.
pub const PT_DYNAMIC: u32 = 2;
/// `PT_INTERP`.
pub const PT_INTERP: u32 = 3;
/// `PT_NOTE`.
pub const PT_NOTE: u32 = 4;
/// `PT_TLS`.
pub const PT_TLS: u32 = 7;
/// `PT_GNU_EH_FRAME`.
pub const PT_GNU_EH_FRAME: u32 = 0x6474_e550;
/// `PT_GNU_STACK`.
pub const PT_GNU_STACK: u32 = 0x6474_e551;
/// `PT_GNU_RELRO`.
pub const PT_GNU_RELRO: u32 = 0x6474_e552;
/// `PF_X`.
pub const PF_X: u32 = 1;
/// `PF_W`.
pub const PF_W: u32 = 2;
/// `PF_R`.
pub const PF_R: u32 = 4;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
/// Size of one `Elf64_Dyn`.
pub const DYN_SIZE: usize = 16;
/// Size of one `Elf64_Rela`.
pub const RELA_SIZE: usize = 24;
/// Size of one `Elf64_Sym`.
pub const SYM_SIZE: usize = 24;

/// The machines kiln targets.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Machine {
    /// `EM_X86_64`.
    X86_64,
    /// `EM_AARCH64`.
    Aarch64,
}

impl Machine {
    /// The `e_machine` value.
    pub fn e_machine(self) -> u16 {
        match self {
            Machine::X86_64 => 62,
            Machine::Aarch64 => 183,
        }
    }

    /// The machine's `R_*_RELATIVE` relocation type: the only one a kiln `.so` has.
    pub fn relative_reloc(self) -> u32 {
        match self {
            Machine::X86_64 => 8,
            Machine::Aarch64 => 1027,
        }
    }

    /// The architecture as Rust's `std::env::consts::ARCH` names it.
    pub fn name(self) -> &'static str {
        match self {
            Machine::X86_64 => "x86_64",
            Machine::Aarch64 => "aarch64",
        }
    }

    /// The machine of an `e_machine` value kiln targets.
    pub fn from_e_machine(e: u16) -> Option<Machine> {
        [Machine::X86_64, Machine::Aarch64]
            .into_iter()
            .find(|m| m.e_machine() == e)
    }

    /// The machine this code runs on, if kiln targets it.
    pub fn host() -> Option<Machine> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Machine::X86_64),
            "aarch64" => Some(Machine::Aarch64),
            _ => None,
        }
    }
}

/// The parts of the ELF file header kiln's verifier looks at.
#[derive(Clone, Debug)]
pub struct FileHeader {
    /// `EI_OSABI`.
    pub osabi: u8,
    /// `EI_ABIVERSION`.
    pub abiversion: u8,
    /// `e_type`.
    pub e_type: u16,
    /// `e_machine`.
    pub machine: u16,
    /// `e_version`.
    pub version: u32,
    /// `e_phoff`.
    pub phoff: u64,
    /// `e_ehsize`.
    pub ehsize: u16,
    /// `e_phentsize`.
    pub phentsize: u16,
    /// `e_phnum`.
    pub phnum: u16,
}

/// One program header (`Elf64_Phdr`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ProgramHeader {
    /// `p_type`.
    pub p_type: u32,
    /// `p_flags` (`PF_R | PF_W | PF_X`).
    pub flags: u32,
    /// `p_offset`.
    pub offset: u64,
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_filesz`.
    pub filesz: u64,
    /// `p_memsz`.
    pub memsz: u64,
    /// `p_align`.
    pub align: u64,
}

impl ProgramHeader {
    /// Whether `[addr, addr + len)` lies in the file-backed part of this segment.
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        match (addr.checked_add(len), self.vaddr.checked_add(self.filesz)) {
            (Some(end), Some(seg_end)) => addr >= self.vaddr && end <= seg_end,
            _ => false,
        }
    }
}

/// One dynamic-section entry (`Elf64_Dyn`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Dyn {
    /// `d_tag`.
    pub tag: u64,
    /// `d_val` / `d_ptr`.
    pub val: u64,
}

/// One relocation with addend (`Elf64_Rela`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Rela {
    /// `r_offset`: where the loader writes.
    pub offset: u64,
    /// `r_info`: symbol index (high 32 bits) and type (low 32 bits).
    pub info: u64,
    /// `r_addend`.
    pub addend: i64,
}

impl Rela {
    /// The relocation type.
    pub fn r_type(&self) -> u32 {
        self.info as u32
    }

    /// The symbol index.
    pub fn r_sym(&self) -> u32 {
        (self.info >> 32) as u32
    }
}

/// One symbol (`Elf64_Sym`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Sym {
    /// `st_name`: offset in the string table.
    pub name: u32,
    /// `st_info`: binding (high nibble) and type (low nibble).
    pub info: u8,
    /// `st_other`: visibility (low two bits).
    pub other: u8,
    /// `st_shndx`.
    pub shndx: u16,
    /// `st_value`.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
}

impl Sym {
    /// `STB_*`.
    pub fn binding(&self) -> u8 {
        self.info >> 4
    }

    /// `STT_*`.
    pub fn kind(&self) -> u8 {
        self.info & 0xf
    }

    /// Whether every field is zero (the null symbol at index 0).
    pub fn is_null(&self) -> bool {
        *self
            == Sym {
                name: 0,
                info: 0,
                other: 0,
                shndx: 0,
                value: 0,
                size: 0,
            }
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, ArtifactError> {
    Err(ArtifactError::new(msg))
}

/// Reads little-endian integers at byte offsets, bounds-checked.
#[derive(Copy, Clone)]
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    /// `len` bytes at `at`.
    pub fn get(self, at: u64, len: u64) -> Result<&'a [u8], ArtifactError> {
        let range = usize::try_from(at)
            .ok()
            .and_then(|a| Some(a..a.checked_add(usize::try_from(len).ok()?)?));
        match range.and_then(|r| self.0.get(r)) {
            Some(b) => Ok(b),
            None => fail(format!(
                "bytes {at:#x}..+{len:#x} are outside the file ({} bytes)",
                self.0.len()
            )),
        }
    }

    /// A `u16` at `at`.
    pub fn u16(self, at: u64) -> Result<u16, ArtifactError> {
        let b = self.get(at, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    /// A `u32` at `at`.
    pub fn u32(self, at: u64) -> Result<u32, ArtifactError> {
        let b = self.get(at, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A `u64` at `at`.
    pub fn u64(self, at: u64) -> Result<u64, ArtifactError> {
        let b = self.get(at, 8)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        Ok(u64::from_le_bytes(w))
    }
}

/// A parsed ELF file: its header and program headers over the file's bytes.
pub struct ElfFile<'a> {
    /// The whole file.
    pub data: Bytes<'a>,
    /// The file header.
    pub header: FileHeader,
    /// The program headers, in file order.
    pub phdrs: Vec<ProgramHeader>,
}

/// Most program headers a kiln `.so` may have (it has 8 or 9).
pub const MAX_PHDRS: u16 = 16;

impl<'a> ElfFile<'a> {
    /// Parses the file header and program header table of a 64-bit little-endian ELF file.
    pub fn parse(data: &'a [u8]) -> Result<ElfFile<'a>, ArtifactError> {
        let b = Bytes(data);
        if data.len() < EHDR_SIZE || data[0..4] != *b"\x7fELF" {
            return fail("not an ELF file");
        }
        if data[4] != 2 {
            return fail("not a 64-bit ELF file (ELFCLASS64)");
        }
        if data[5] != 1 {
            return fail("not a little-endian ELF file");
        }
        if data[6] != 1 {
            return fail(format!("unknown ELF identification version {}", data[6]));
        }
        let header = FileHeader {
            osabi: data[7],
            abiversion: data[8],
            e_type: b.u16(16)?,
            machine: b.u16(18)?,
            version: b.u32(20)?,
            phoff: b.u64(32)?,
            ehsize: b.u16(52)?,
            phentsize: b.u16(54)?,
            phnum: b.u16(56)?,
        };
        if header.ehsize as usize != EHDR_SIZE || header.phentsize as usize != PHDR_SIZE {
            return fail(format!(
                "unexpected ELF header or program header size ({}, {})",
                header.ehsize, header.phentsize
            ));
        }
        if header.phnum == 0 || header.phnum > MAX_PHDRS {
            return fail(format!(
                "{} program headers (a kiln shared object has 1 to {MAX_PHDRS})",
                header.phnum
            ));
        }
        if !header.phoff.is_multiple_of(8) {
            return fail("misaligned program header table");
        }
        let mut phdrs = Vec::with_capacity(header.phnum as usize);
        for i in 0..u64::from(header.phnum) {
            let at = header
                .phoff
                .checked_add(i * PHDR_SIZE as u64)
                .ok_or_else(|| ArtifactError::new("program header table overflows"))?;
            b.get(at, PHDR_SIZE as u64)
                .map_err(|_| ArtifactError::new("the program header table is outside the file"))?;
            phdrs.push(ProgramHeader {
                p_type: b.u32(at)?,
                flags: b.u32(at + 4)?,
                offset: b.u64(at + 8)?,
                vaddr: b.u64(at + 16)?,
                filesz: b.u64(at + 32)?,
                memsz: b.u64(at + 40)?,
                align: b.u64(at + 48)?,
            });
        }
        Ok(ElfFile {
            data: b,
            header,
            phdrs,
        })
    }

    /// The `PT_LOAD` segments, in file order.
    pub fn loads(&self) -> impl Iterator<Item = &ProgramHeader> {
        self.phdrs.iter().filter(|p| p.p_type == PT_LOAD)
    }

    /// The `PT_LOAD` segment whose file-backed part holds `[addr, addr + len)`.
    pub fn load_containing(&self, addr: u64, len: u64) -> Option<&ProgramHeader> {
        self.loads().find(|p| p.contains(addr, len))
    }

    /// The file offset of virtual address `addr`, when `[addr, addr + len)` is file-backed.
    pub fn file_offset(&self, addr: u64, len: u64) -> Option<u64> {
        self.load_containing(addr, len)
            .map(|p| addr - p.vaddr + p.offset)
    }

    /// The bytes at virtual address `addr` (file-backed, inside one `PT_LOAD`).
    pub fn read(&self, addr: u64, len: u64) -> Result<&'a [u8], ArtifactError> {
        match self.file_offset(addr, len) {
            Some(off) => self.data.get(off, len),
            None => fail(format!(
                "address {addr:#x} (+{len:#x}) is not inside a loaded segment of the file"
            )),
        }
    }

    /// The `PT_DYNAMIC` entries up to and without `DT_NULL`.
    pub fn dynamic(&self, dynamic: &ProgramHeader) -> Result<Vec<Dyn>, ArtifactError> {
        let bytes = self.data.get(dynamic.offset, dynamic.filesz)?;
        let b = Bytes(bytes);
        let mut out = Vec::new();
        for i in 0..bytes.len() / DYN_SIZE {
            let at = (i * DYN_SIZE) as u64;
            let d = Dyn {
                tag: b.u64(at)?,
                val: b.u64(at + 8)?,
            };
            if d.tag == 0 {
                return Ok(out);
            }
            out.push(d);
        }
        fail("the dynamic section has no DT_NULL terminator")
    }

    /// `count` relocations at virtual address `addr`.
    pub fn relas(&self, addr: u64, count: u64) -> Result<Vec<Rela>, ArtifactError> {
        let bytes = Bytes(self.read(addr, count * RELA_SIZE as u64)?);
        (0..count)
            .map(|i| {
                let at = i * RELA_SIZE as u64;
                Ok(Rela {
                    offset: bytes.u64(at)?,
                    info: bytes.u64(at + 8)?,
                    addend: bytes.u64(at + 16)? as i64,
                })
            })
            .collect()
    }

    /// Symbol `index` of the table at virtual address `symtab`.
    pub fn sym(&self, symtab: u64, index: u64) -> Result<Sym, ArtifactError> {
        let addr = symtab
            .checked_add(index * SYM_SIZE as u64)
            .ok_or_else(|| ArtifactError::new("symbol table overflows"))?;
        let b = Bytes(self.read(addr, SYM_SIZE as u64)?);
        Ok(Sym {
            name: b.u32(0)?,
            info: b.get(4, 1)?[0],
            other: b.get(5, 1)?[0],
            shndx: b.u16(6)?,
            value: b.u64(8)?,
            size: b.u64(16)?,
        })
    }
}

/// A GNU hash table (`DT_GNU_HASH`), read as the dynamic loader reads it.
pub struct GnuHash<'a> {
    bloom: Bytes<'a>,
    buckets: Bytes<'a>,
    chains: Bytes<'a>,
    nbuckets: u32,
    symoffset: u32,
    bloom_size: u32,
    bloom_shift: u32,
    /// Number of symbols the table reaches (`symoffset` and up are hashed).
    pub nsyms: u32,
}

/// Most buckets or bloom words a kiln `.so`'s hash table may have.
const MAX_HASH_WORDS: u32 = 1 << 16;

/// The GNU hash of a symbol name (`dl_new_hash`).
pub fn gnu_hash(name: &[u8]) -> u32 {
    name.iter().fold(5381u32, |h, c| {
        h.wrapping_mul(33).wrapping_add(u32::from(*c))
    })
}

impl<'a> GnuHash<'a> {
    /// Reads the table at virtual address `addr` of `elf`.
    pub fn read(elf: &ElfFile<'a>, addr: u64) -> Result<GnuHash<'a>, ArtifactError> {
        let head = Bytes(elf.read(addr, 16)?);
        let (nbuckets, symoffset, bloom_size, bloom_shift) =
            (head.u32(0)?, head.u32(4)?, head.u32(8)?, head.u32(12)?);
        if nbuckets == 0
            || nbuckets > MAX_HASH_WORDS
            || bloom_size == 0
            || bloom_size > MAX_HASH_WORDS
            || !bloom_size.is_power_of_two()
            || bloom_shift >= 32
            || symoffset == 0
        {
            return fail("malformed GNU hash table");
        }
        let bloom_at = addr + 16;
        let bloom = Bytes(elf.read(bloom_at, 8 * u64::from(bloom_size))?);
        let buckets_at = bloom_at + 8 * u64::from(bloom_size);
        let buckets = Bytes(elf.read(buckets_at, 4 * u64::from(nbuckets))?);
        let chains_at = buckets_at + 4 * u64::from(nbuckets);
        // Symbols from `symoffset` up are hashed; the table ends with the chain that holds the
        // highest symbol a bucket starts at.
        let mut max_start = 0u32;
        for i in 0..u64::from(nbuckets) {
            let s = buckets.u32(4 * i)?;
            if s != 0 && s < symoffset {
                return fail("GNU hash bucket points below its first hashed symbol");
            }
            max_start = max_start.max(s);
        }
        let mut nsyms = symoffset;
        if max_start != 0 {
            let mut i = max_start;
            loop {
                let h = Bytes(elf.read(chains_at + 4 * u64::from(i - symoffset), 4)?).u32(0)?;
                if h & 1 == 1 {
                    break;
                }
                i = i
                    .checked_add(1)
                    .filter(|i| i - symoffset < MAX_HASH_WORDS)
                    .ok_or_else(|| ArtifactError::new("GNU hash chain does not end"))?;
            }
            nsyms = i + 1;
        }
        let chains = Bytes(elf.read(chains_at, 4 * u64::from(nsyms - symoffset))?);
        Ok(GnuHash {
            bloom,
            buckets,
            chains,
            nbuckets,
            symoffset,
            bloom_size,
            bloom_shift,
            nsyms,
        })
    }

    /// The index of the first hashed symbol.
    pub fn symoffset(&self) -> u32 {
        self.symoffset
    }

    /// The index of the symbol the dynamic loader finds for `name` (`None`: not found), given
    /// a function that tells whether symbol `i` is named `name`.
    pub fn lookup(
        &self,
        name: &[u8],
        mut named: impl FnMut(u32) -> Result<bool, ArtifactError>,
    ) -> Result<Option<u32>, ArtifactError> {
        let h = gnu_hash(name);
        let word = self.bloom.u64(8 * u64::from((h / 64) % self.bloom_size))?;
        let mask = (1u64 << (h % 64)) | (1u64 << ((h >> self.bloom_shift) % 64));
        if word & mask != mask {
            return Ok(None);
        }
        let mut i = self.buckets.u32(4 * u64::from(h % self.nbuckets))?;
        if i == 0 {
            return Ok(None);
        }
        while i < self.nsyms {
            let h2 = self.chains.u32(4 * u64::from(i - self.symoffset))?;
            if (h | 1) == (h2 | 1) && named(i)? {
                return Ok(Some(i));
            }
            if h2 & 1 == 1 {
                break;
            }
            i += 1;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnu_hash_matches_the_reference_values() {
        // Values from the GNU hash specification's examples.
        assert_eq!(gnu_hash(b""), 0x0000_1505);
        assert_eq!(gnu_hash(b"printf"), 0x156b_2bb8);
        assert_eq!(gnu_hash(b"exit"), 0x7c96_7e3f);
        assert_eq!(gnu_hash(b"syscall"), 0xbac2_12a0);
    }

    #[test]
    fn short_and_foreign_files_are_errors() {
        assert!(ElfFile::parse(b"").is_err());
        assert!(ElfFile::parse(b"\x7fELF").is_err());
        let mut h = vec![0u8; 64];
        h[0..4].copy_from_slice(b"\x7fELF");
        h[4] = 1; // 32-bit
        assert!(ElfFile::parse(&h)
            .err()
            .unwrap()
            .to_string()
            .contains("64-bit"));
        h[4] = 2;
        h[5] = 1;
        h[6] = 1;
        h[52] = 64;
        h[54] = 56;
        h[56] = 1;
        h[32] = 64; // phoff = 64, but the file ends there
        assert!(ElfFile::parse(&h)
            .err()
            .unwrap()
            .to_string()
            .contains("outside the file"));
    }
}

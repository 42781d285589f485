//! Hostile files for the loader: shared objects that run code when `dlopen`ed (built here with
//! `cc`, each writing a marker file from its constructor, IFUNC resolver or dependency), and
//! kiln artifacts damaged the ways the issue-12 review damaged them (truncated, a descriptor
//! pointer moved, a metadata bit flipped, with or without a recomputed checksum).
//!
//! Used by the Rust and C loader tests (`tests/tests/hostile.rs`, `tests/tests/capi.rs`) and
//! the loader fuzz target (`tests/fuzz`). A marker file that exists after a load attempt means
//! code from a refused file ran.

use kiln_environ::artifact::elf::{ElfFile, PT_DYNAMIC};
use kiln_environ::artifact::{seal, verify};
use kiln_environ::ModuleMetadata;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How a hostile shared object gets code to run at `dlopen`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Trick {
    /// An ordinary C library with a constructor (libc dependency, `DT_INIT_ARRAY`).
    Constructor,
    /// No libc: a constructor in `.init_array`, and a `kiln_module_v1` data symbol.
    InitArrayPosingAsKiln,
    /// No libc: `DT_INIT` (`-Wl,-init`), and a `kiln_module_v1` data symbol.
    DtInit,
    /// No libc: an IFUNC whose resolver runs when its `IRELATIVE` relocation is applied.
    Ifunc,
    /// A library whose `DT_NEEDED` dependency (found through `$ORIGIN`) has the constructor.
    Needed,
    /// No libc: thread-local storage (`PT_TLS`) and a `kiln_module_v1` data symbol.
    Tls,
    /// No libc: a destructor only (`DT_FINI_ARRAY`), and a `kiln_module_v1` data symbol.
    Destructor,
}

impl Trick {
    /// Every trick.
    pub const ALL: [Trick; 7] = [
        Trick::Constructor,
        Trick::InitArrayPosingAsKiln,
        Trick::DtInit,
        Trick::Ifunc,
        Trick::Needed,
        Trick::Tls,
        Trick::Destructor,
    ];
}

/// Raw `open(MARKER, O_WRONLY|O_CREAT, 0644)` without libc (x86-64 Linux).
const NOLIBC_MARK: &str = r#"
static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
static void mark(void) { sys3(2, (long)MARKER, 0101, 0644); }
__attribute__((visibility("default"))) const char kiln_module_v1[96] = "KILN\0MOD";
"#;

/// Compiles C `source` into `dir/name` with `cc -shared -fPIC` and `flags`; panics on failure.
fn cc(dir: &Path, name: &str, source: &str, marker: &Path, flags: &[&str]) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).expect("write C source");
    let out = dir.join(name);
    let result = Command::new(std::env::var_os("CC").unwrap_or_else(|| "cc".into()))
        // No unwind tables or PT_GNU_EH_FRAME: the verifier's later checks get their turn.
        .args([
            "-shared",
            "-fPIC",
            "-O1",
            "-fno-asynchronous-unwind-tables",
            "-Wl,--no-eh-frame-hdr",
        ])
        .arg(format!("-DMARKER=\"{}\"", marker.display()))
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .args(flags)
        .output()
        .expect("run cc");
    assert!(
        result.status.success(),
        "cc failed for {name}:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    out
}

/// Builds a shared object in `dir` that uses `trick` to write `marker` when loaded; returns
/// its path, named `name` (give it a `.wasm` or no extension to pose as something else).
pub fn build(dir: &Path, name: &str, trick: Trick, marker: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let libc_ctor = r#"
#include <stdio.h>
__attribute__((constructor)) static void evil(void) {
  FILE *f = fopen(MARKER, "w");
  if (f) { fputs("constructor ran\n", f); fclose(f); }
}
int kiln_module_v1 = 1;
"#;
    match trick {
        Trick::Constructor => cc(dir, name, libc_ctor, marker, &[]),
        Trick::InitArrayPosingAsKiln => {
            let src = format!("{NOLIBC_MARK}\n__attribute__((constructor)) static void evil(void) {{ mark(); }}\n");
            cc(dir, name, &src, marker, &["-nostdlib"])
        }
        Trick::DtInit => {
            let src = format!("{NOLIBC_MARK}\nvoid evil_init(void) {{ mark(); }}\n");
            cc(
                dir,
                name,
                &src,
                marker,
                &["-nostdlib", "-Wl,-init,evil_init"],
            )
        }
        Trick::Ifunc => {
            let src = format!(
                "{NOLIBC_MARK}\nstatic void real(void) {{}}\n\
                 static void *resolve(void) {{ mark(); return (void *)real; }}\n\
                 __attribute__((visibility(\"hidden\"))) void f(void) \
                 __attribute__((ifunc(\"resolve\")));\n\
                 void (*volatile fp)(void) = f;\n"
            );
            cc(dir, name, &src, marker, &["-nostdlib", "-Wl,-z,now"])
        }
        Trick::Needed => {
            cc(dir, "libkilndep.so", libc_ctor, marker, &[]);
            let src = "extern int kiln_module_v1; int *p = &kiln_module_v1;\n";
            cc(
                dir,
                name,
                src,
                marker,
                &[
                    "-nostdlib",
                    "-L",
                    &dir.display().to_string(),
                    "-lkilndep",
                    "-Wl,-rpath,$ORIGIN",
                ],
            )
        }
        Trick::Tls => {
            let src = format!(
                "{NOLIBC_MARK}\n__attribute__((tls_model(\"initial-exec\"))) __thread int counter \
                 = 7;\nint bump(void) {{ return ++counter; }}\n"
            );
            cc(dir, name, &src, marker, &["-nostdlib"])
        }
        Trick::Destructor => {
            let src = format!(
                "{NOLIBC_MARK}\n__attribute__((destructor)) static void evil(void) {{ mark(); }}\n"
            );
            cc(dir, name, &src, marker, &["-nostdlib"])
        }
    }
}

/// The first `len` bytes of the file at `so`, written to `out`.
pub fn truncated(so: &Path, len: usize, out: &Path) -> PathBuf {
    let bytes = std::fs::read(so).expect("read artifact");
    std::fs::write(out, &bytes[..len.min(bytes.len())]).expect("write");
    out.to_path_buf()
}

/// The file offset of the `RELA` entry that writes the exported descriptor's pointer field at
/// byte `field` (the relocation whose addend is the pointer).
pub fn descriptor_relocation(bytes: &[u8], field: u32) -> usize {
    let v = verify(bytes, None).expect("a valid kiln artifact");
    let elf = ElfFile::parse(bytes).expect("ELF");
    let dynamic = elf
        .phdrs
        .iter()
        .find(|p| p.p_type == PT_DYNAMIC)
        .expect("PT_DYNAMIC");
    let entries = elf.dynamic(dynamic).expect("dynamic section");
    let tag = |t: u64| entries.iter().find(|d| d.tag == t).map(|d| d.val);
    let (rela, size) = (tag(7).expect("DT_RELA"), tag(8).expect("DT_RELASZ"));
    let at = elf
        .file_offset(rela, size)
        .expect("relocations in the file") as usize;
    let target = v.descriptor_addr + u64::from(field);
    (0..size as usize / 24)
        .map(|i| at + 24 * i)
        .find(|o| bytes[*o..*o + 8] == target.to_le_bytes())
        .expect("a relocation for the field")
}

/// Sets the pointer at descriptor byte `field` (48: the metadata) to `value`, by rewriting
/// its relocation's addend.
pub fn set_descriptor_pointer(bytes: &mut [u8], field: u32, value: u64) {
    let at = descriptor_relocation(bytes, field) + 16;
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// Makes the pointer at descriptor byte `field` a plain word `value` with no relocation (as if
/// the linker had written an absolute address): its relocation is moved to the descriptor's
/// checksum field.
pub fn set_raw_descriptor_pointer(bytes: &mut [u8], field: u32, value: u64) {
    let v = verify(bytes, None).expect("a valid kiln artifact");
    let rel = descriptor_relocation(bytes, field);
    let checksum_field = v.descriptor_addr + 16;
    bytes[rel..rel + 8].copy_from_slice(&checksum_field.to_le_bytes());
    let at = (v.descriptor_offset + u64::from(field)) as usize;
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// Flips memory 0's `memory64` flag in a module artifact's metadata, in place (the encoding
/// keeps its length). Panics if the module has no memory.
pub fn flip_memory64(bytes: &mut [u8]) {
    let v = verify(bytes, None).expect("a valid kiln artifact");
    let d = v.module.as_ref().expect("a module");
    let at = v
        .file_offset(d.head.metadata.addr, d.head.metadata.len)
        .expect("metadata in the file") as usize;
    let len = d.head.metadata.len as usize;
    let mut md = ModuleMetadata::from_bytes(&bytes[at..at + len]).expect("metadata");
    let mem = md.memories.first_mut().expect("a memory");
    mem.memory64 = !mem.memory64;
    let encoded = md.to_bytes();
    assert_eq!(encoded.len(), len, "flipping a bool keeps the length");
    bytes[at..at + len].copy_from_slice(&encoded);
}

/// Recomputes the checksum, as someone who rewrites a file on purpose would.
pub fn reseal(bytes: &mut [u8]) {
    seal(bytes).expect("the damaged file still passes the verifier");
}

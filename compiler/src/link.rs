//! Stage 6 — link: relocatable object → shared object, with the system linker; then seal.
//!
//! kiln objects reference nothing outside themselves, so linking is only layout and the
//! conversion of absolute data relocations into dynamic relative ones. The system linker does
//! that today; a built-in linker (for cross-linking without a C toolchain) is planned.
//!
//! Sealing ([`seal_file`]) runs the runtime's static verifier on the linked file — so a linker
//! that emits anything kiln's runtime would refuse fails the compile, not the load — and writes
//! the file checksum into the exported descriptor (`kiln_environ::artifact::checksum`). The output
//! is a function of the objects and the linker alone: no paths, times or build ids from
//! elsewhere end up in it (`--build-id=sha1` hashes the contents).

use crate::error::{CompileError, Result};
use std::path::Path;
use std::process::Command;

/// Links `object` into the shared object `out`.
pub fn link_shared_object(object: &[u8], out: &Path) -> Result<()> {
    link_objects(&[object], out)
}

/// Links several relocatable objects (e.g. the core modules of a component and its glue) into
/// one shared object `out`. Symbols with hidden visibility resolve between them and stay local.
pub fn link_objects(objects: &[&[u8]], out: &Path) -> Result<()> {
    for object in objects {
        check_linkable(object)?;
    }
    let dir = tempdir()?;
    let mut paths = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        let obj_path = dir.join(format!("object{i}.o"));
        std::fs::write(&obj_path, object)
            .map_err(|e| CompileError::msg(format!("cannot write {}: {e}", obj_path.display())))?;
        paths.push(obj_path);
    }
    let linker = std::env::var("KILN_LINKER").unwrap_or_else(|_| "ld".to_string());
    let result = Command::new(&linker)
        .arg("-shared")
        .arg("--hash-style=gnu")
        .arg("--build-id=sha1")
        // `.eh_frame_hdr` and `PT_GNU_EH_FRAME`: in-process unwinders (libgcc, so glibc
        // `backtrace()`, and perf) find guest frames' CFI through it.
        .arg("--eh-frame-hdr")
        .arg("-z")
        .arg("noexecstack")
        .arg("-z")
        .arg("relro")
        .arg("-z")
        .arg("now")
        .arg("-z")
        .arg("text")
        // Code alone in its executable segment (the default on x86-64, not everywhere): the
        // runtime's verifier refuses metadata and data in an executable segment.
        .arg("-z")
        .arg("separate-code")
        .arg("--no-undefined")
        .arg("-o")
        .arg(out)
        .args(&paths)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let output = result.map_err(|e| {
        CompileError::msg(format!(
            "cannot run the linker `{linker}` ({e}); install binutils or set KILN_LINKER"
        ))
    })?;
    if !output.status.success() {
        return Err(CompileError::msg(format!(
            "linker `{linker}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    seal_file(out)?;
    Ok(())
}

/// Verifies the linked shared object `path` as the runtime will and writes its checksum into
/// its descriptor (again after anything that rewrites the file, such as `--split-debug`).
pub fn seal_file(path: &Path) -> Result<[u8; 16]> {
    use std::os::unix::fs::FileExt;
    let io = |e: std::io::Error| CompileError::msg(format!("cannot seal {}: {e}", path.display()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(io)?;
    let (at, sum) = kiln_environ::artifact::seal(&mut bytes).map_err(|e| {
        CompileError::msg(format!(
            "the linked shared object {} is not what kiln's runtime accepts: {e}",
            path.display()
        ))
    })?;
    file.write_all_at(&sum, at).map_err(io)?;
    Ok(sum)
}

/// The system linker links objects for this machine only: say so clearly for anything else.
fn check_linkable(object: &[u8]) -> Result<()> {
    use object::Object;
    let file = object::File::parse(object).map_err(|e| {
        CompileError::msg(format!("internal error: emitted object unreadable: {e}"))
    })?;
    let host = if cfg!(target_arch = "x86_64") {
        object::Architecture::X86_64
    } else if cfg!(target_arch = "aarch64") {
        object::Architecture::Aarch64
    } else {
        object::Architecture::Unknown
    };
    let host_format = if cfg!(target_os = "linux") {
        object::BinaryFormat::Elf
    } else if cfg!(target_os = "macos") {
        object::BinaryFormat::MachO
    } else {
        object::BinaryFormat::Coff
    };
    if (file.architecture() != host || file.format() != host_format)
        && std::env::var_os("KILN_LINKER").is_none()
    {
        return Err(CompileError::msg(format!(
            "cannot link a {:?} {:?} object on this machine: the system linker targets {:?} {:?}; \
             use `--emit obj` and link it where it will run, or set KILN_LINKER to a linker for \
             that target",
            file.format(),
            file.architecture(),
            host_format,
            host
        )));
    }
    Ok(())
}

fn tempdir() -> Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kiln-link-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| CompileError::msg(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

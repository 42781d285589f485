//! Stage 6 — link: relocatable object → shared object, with the system linker.
//!
//! kiln objects reference nothing outside themselves, so linking is only layout and the
//! conversion of absolute data relocations into dynamic relative ones. The system linker does
//! that today; a built-in linker (for cross-linking without a C toolchain) is planned.

use crate::error::{CompileError, Result};
use std::path::Path;
use std::process::Command;

/// Links `object` into the shared object `out`.
pub fn link_shared_object(object: &[u8], out: &Path) -> Result<()> {
    let dir = tempdir()?;
    let obj_path = dir.join("module.o");
    std::fs::write(&obj_path, object)
        .map_err(|e| CompileError::msg(format!("cannot write {}: {e}", obj_path.display())))?;
    let linker = std::env::var("KILN_LINKER").unwrap_or_else(|_| "ld".to_string());
    let result = Command::new(&linker)
        .arg("-shared")
        .arg("--hash-style=gnu")
        .arg("--build-id=sha1")
        .arg("-z")
        .arg("noexecstack")
        .arg("-z")
        .arg("relro")
        .arg("-z")
        .arg("now")
        .arg("-z")
        .arg("text")
        .arg("--no-undefined")
        .arg("-o")
        .arg(out)
        .arg(&obj_path)
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

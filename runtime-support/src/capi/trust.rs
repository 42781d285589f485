//! C API: trusted keys (`kiln_trusted_keys_t`), signing and verifying artifacts
//! (`kiln_artifact_sign`, `kiln_artifact_verify`); engines require signatures through
//! `kiln_engine_config_t::trusted_keys` (`capi/engine.rs`).

use super::*;
use crate::signature::{self, SecretKey, TrustedKeys};
use std::path::Path;

/// `kiln_trusted_keys_t`: public keys trusted to sign artifacts.
pub struct kiln_trusted_keys_t {
    pub(super) keys: TrustedKeys,
}

/// Reads a path argument (any bytes but NUL).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
pub(super) unsafe fn path_arg<'a>(p: *const c_char, what: &str) -> Result<&'a Path, Error> {
    use std::os::unix::ffi::OsStrExt;
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: caller contract: non-null and NUL-terminated.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    Ok(Path::new(std::ffi::OsStr::from_bytes(bytes)))
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_trusted_keys_load(
    path: *const c_char,
    out: *mut *mut kiln_trusted_keys_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: as above.
        let path = unsafe { path_arg(path, "path") }?;
        let keys = TrustedKeys::from_file(path)?;
        *out = boxed(kiln_trusted_keys_t { keys });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_trusted_keys_delete(keys: *mut kiln_trusted_keys_t) {
    // SAFETY: NULL or keys from this API.
    unsafe { free(keys) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_artifact_sign(
    secret_key_path: *const c_char,
    artifact_path: *const c_char,
    signature_path: *const c_char,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let key_path = unsafe { path_arg(secret_key_path, "secret_key_path") }?;
        // SAFETY: as above.
        let artifact = unsafe { path_arg(artifact_path, "artifact_path") }?;
        let out = if signature_path.is_null() {
            signature::signature_path(artifact)
        } else {
            // SAFETY: as above.
            unsafe { path_arg(signature_path, "signature_path") }?.to_path_buf()
        };
        let key = SecretKey::from_file(key_path)?;
        let sig = signature::sign_file(&key, artifact)?;
        std::fs::write(&out, sig.to_text())
            .map_err(|e| Error::Other(format!("cannot write {}: {e}", out.display())))
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_artifact_verify(
    keys: *const kiln_trusted_keys_t,
    artifact_path: *const c_char,
    signature_path: *const c_char,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let artifact = unsafe { path_arg(artifact_path, "artifact_path") }?;
        let sig = if signature_path.is_null() {
            None
        } else {
            // SAFETY: as above.
            Some(unsafe { path_arg(signature_path, "signature_path") }?)
        };
        // SAFETY: NULL or live keys.
        match unsafe { keys.as_ref() } {
            Some(k) => signature::verify_file(&k.keys, artifact, sig),
            None if sig.is_some() => Err(Error::Other(
                "a signature path without trusted keys to check it against".into(),
            )),
            None => signature::check_file(artifact),
        }
    })
}

//! The file checksum: XXH3-128 over every byte of a kiln `.so`, recorded in the exported
//! descriptor (its own 16 bytes counted as zeros).
//!
//! The compiler writes it with [`seal`] after linking; the runtime recomputes it at every load
//! and refuses a mismatch, so code, data, metadata, fingerprint, headers and relocations stay
//! the ones the compiler wrote together: one flipped bit anywhere (say, a memory's `memory64`
//! flag in the metadata, which decides the sandbox) is a refusal, not a widened sandbox.
//!
//! It is an *integrity* check, not authentication: whoever can write the file can write a
//! matching checksum. What authenticates is a signature (`kiln sign`; the runtime's
//! `signature` module), which signs a SHA-256 digest of the whole file. XXH3 is chosen because
//! it runs at memory speed (~10 GB/s on one core): the check costs a few milliseconds on the
//! largest artifacts (see `docs/trust-model.md`).

use super::{verify, ArtifactError, Machine, Verified};
use crate::descriptor::CHECKSUM_LEN;
use xxhash_rust::xxh3::Xxh3;

/// XXH3-128 of `data` with the bytes `[hole, hole + CHECKSUM_LEN)` read as zeros, little-endian.
pub fn checksum(data: &[u8], hole: usize) -> [u8; CHECKSUM_LEN] {
    let h0 = hole.min(data.len());
    let h1 = hole.saturating_add(CHECKSUM_LEN).min(data.len());
    let mut h = Xxh3::new();
    h.update(&data[..h0]);
    h.update(&[0u8; CHECKSUM_LEN][..h1 - h0]);
    h.update(&data[h1..]);
    h.digest128().to_le_bytes()
}

/// Recomputes the checksum of a verified file and compares it with the recorded one.
pub fn check_checksum(data: &[u8], v: &Verified) -> Result<(), ArtifactError> {
    if v.recorded_checksum == [0; CHECKSUM_LEN] {
        return Err(ArtifactError::new(
            "the file has no checksum (not sealed by kiln after linking)",
        ));
    }
    let computed = checksum(data, v.checksum_offset() as usize);
    if computed != v.recorded_checksum {
        return Err(ArtifactError::new(format!(
            "checksum mismatch: the file was changed after kiln wrote it (recorded {}, \
             computed {})",
            hex(&v.recorded_checksum),
            hex(&computed)
        )));
    }
    Ok(())
}

/// Verifies `data` (for `machine`, any kiln machine when `None`) and checks its checksum.
pub fn verify_with_checksum(
    data: &[u8],
    machine: Option<Machine>,
) -> Result<Verified, ArtifactError> {
    let v = verify(data, machine)?;
    check_checksum(data, &v)?;
    Ok(v)
}

/// Verifies the linked shared object `data` (for any kiln machine) and writes its checksum
/// into the exported descriptor; returns the file offset and value written.
pub fn seal(data: &mut [u8]) -> Result<(u64, [u8; CHECKSUM_LEN]), ArtifactError> {
    let v = verify(data, None)?;
    let at = v.checksum_offset() as usize;
    let sum = checksum(data, at);
    data[at..at + CHECKSUM_LEN].copy_from_slice(&sum);
    Ok((at as u64, sum))
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_ignores_its_hole_and_nothing_else() {
        let mut data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let hole = 4093;
        let sum = checksum(&data, hole);
        data[hole..hole + CHECKSUM_LEN].copy_from_slice(&sum);
        assert_eq!(checksum(&data, hole), sum);
        for at in [0, hole - 1, hole + CHECKSUM_LEN, data.len() - 1] {
            let mut d = data.clone();
            d[at] ^= 1;
            assert_ne!(checksum(&d, hole), sum, "flip at {at}");
        }
        // A hole at the very end, and one past it.
        let n = data.len();
        assert_eq!(
            checksum(&data[..n - 3], n - 10),
            checksum(&[&data[..n - 10], &[0; 7][..]].concat(), n - 10)
        );
        assert_eq!(checksum(&data, n + 5), checksum(&data, n));
    }
}

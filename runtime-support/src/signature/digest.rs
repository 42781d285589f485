//! The digest a signature signs: SHA-256 over every byte of an artifact, in 1 MiB chunks
//! hashed in parallel for large files.
//!
//! Each chunk is hashed; the digest is SHA-256 of a domain tag, the file length and the chunk
//! hashes in order, so the result does not depend on how many threads hashed the chunks. It
//! covers the whole file, checksum included, so a signature authenticates every byte.

use sha2::{Digest, Sha256};

/// Bytes per chunk.
pub const CHUNK: usize = 1 << 20;

/// Domain tag of the digest.
const DIGEST_TAG: &[u8] = b"kiln-artifact-digest-v1\0";

/// Domain tag of what an artifact signature signs.
const SIGNATURE_TAG: &[u8] = b"kiln-artifact-signature-v1\0";

/// Files smaller than this are hashed on the calling thread.
const PARALLEL_THRESHOLD: usize = 8 * CHUNK;

/// Most threads one digest uses.
const MAX_THREADS: usize = 8;

/// The SHA-256 digest of an artifact's bytes.
pub fn file_digest(data: &[u8]) -> [u8; 32] {
    let n = data.len().div_ceil(CHUNK);
    let mut leaves = vec![[0u8; 32]; n];
    let threads = if data.len() < PARALLEL_THRESHOLD {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, |p| p.get())
            .min(MAX_THREADS)
    };
    let hash = |i: usize| -> [u8; 32] {
        Sha256::digest(&data[i * CHUNK..((i + 1) * CHUNK).min(data.len())]).into()
    };
    if threads <= 1 {
        for (i, leaf) in leaves.iter_mut().enumerate() {
            *leaf = hash(i);
        }
    } else {
        let per = n.div_ceil(threads);
        std::thread::scope(|s| {
            for (t, part) in leaves.chunks_mut(per).enumerate() {
                s.spawn(move || {
                    for (j, leaf) in part.iter_mut().enumerate() {
                        *leaf = hash(t * per + j);
                    }
                });
            }
        });
    }
    let mut root = Sha256::new();
    root.update(DIGEST_TAG);
    root.update((data.len() as u64).to_le_bytes());
    for leaf in &leaves {
        root.update(leaf);
    }
    root.finalize().into()
}

/// What an artifact signature signs: a domain tag followed by the file digest.
pub fn signature_message(digest: &[u8; 32]) -> Vec<u8> {
    [SIGNATURE_TAG, digest.as_slice()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_and_sequential_digests_agree() {
        let mut data: Vec<u8> = (0..(PARALLEL_THRESHOLD + 3 * CHUNK + 17))
            .map(|i| (i * 7 + i / 251) as u8)
            .collect();
        let d = file_digest(&data);
        let mut root = Sha256::new();
        root.update(DIGEST_TAG);
        root.update((data.len() as u64).to_le_bytes());
        for chunk in data.chunks(CHUNK) {
            root.update(Sha256::digest(chunk));
        }
        assert_eq!(<[u8; 32]>::from(root.finalize()), d);
        data[5 * CHUNK + 3] ^= 1;
        assert_ne!(file_digest(&data), d);
        assert_ne!(file_digest(&[1, 2]), file_digest(&[1, 2, 0]));
    }
}

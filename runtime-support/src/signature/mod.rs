//! Artifact signatures: Ed25519 keys as files, detached signatures over the file digest.
//!
//! A signature signs `"kiln-artifact-signature-v1\0" ‖ digest`, where the digest is SHA-256
//! over every byte of the artifact ([`digest`]), so verifying it authenticates the whole file.
//! An engine configured
//! with [`TrustedKeys`] (`EngineConfig::trusted_keys`) requires `<file>.sig` by one of them
//! before it maps anything from the file; `kiln sign` / `kiln verify` and the C API
//! (`kiln_artifact_sign`, `kiln_artifact_verify`) use the same functions.
//!
//! File formats (one line of text each; a trusted-keys file may hold several public keys, with
//! `#` comments and blank lines):
//!
//! ```text
//! kiln-ed25519-secret-key <64 hex digits: the 32-byte seed>
//! kiln-ed25519-public-key <64 hex digits>
//! kiln-ed25519-signature <64 hex digits: the signer's public key> <128 hex digits>
//! ```

pub mod digest;

use crate::error::Error;
use crate::loader;
use digest::signature_message;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use kiln_environ::artifact::checksum::hex;
use std::path::{Path, PathBuf};

const SECRET_TAG: &str = "kiln-ed25519-secret-key";
const PUBLIC_TAG: &str = "kiln-ed25519-public-key";
const SIGNATURE_TAG: &str = "kiln-ed25519-signature";

/// Largest key or signature file read.
const MAX_FILE: u64 = 64 * 1024;

fn bad(msg: impl Into<String>) -> Error {
    Error::Load(msg.into())
}

fn unhex<const N: usize>(s: &str, what: &str) -> Result<[u8; N], Error> {
    let s = s.trim();
    if s.len() != 2 * N || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad(format!("{what}: expected {} hex digits", 2 * N)));
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
            .map_err(|_| bad(format!("{what}: invalid hex")))?;
    }
    Ok(out)
}

/// Reads a small text file (keys, signatures), refusing large or non-UTF-8 ones.
fn read_small(path: &Path, what: &str) -> Result<String, Error> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| bad(format!("cannot open {what} {}: {e}", path.display())))?;
    let mut text = String::new();
    file.take(MAX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| bad(format!("cannot read {what} {}: {e}", path.display())))?;
    if text.len() as u64 > MAX_FILE {
        return Err(bad(format!("{what} {} is too large", path.display())));
    }
    Ok(text)
}

/// The meaningful lines of a key file: no blank lines, no `#` comments.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// An Ed25519 public key that verifies artifact signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses one `kiln-ed25519-public-key HEX` line.
    pub fn parse(line: &str) -> Result<PublicKey, Error> {
        let hex = line.trim().strip_prefix(PUBLIC_TAG).ok_or_else(|| {
            bad(format!(
                "not a kiln public key (expected `{PUBLIC_TAG} ...`)"
            ))
        })?;
        PublicKey::from_bytes(&unhex::<32>(hex, "public key")?)
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, Error> {
        VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| bad("invalid Ed25519 public key"))
    }

    /// The key's 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public-key file line.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_TAG} {}\n", hex(&self.to_bytes()))
    }
}

/// An Ed25519 signing key (the secret half).
pub struct SecretKey(SigningKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SecretKey")
            .field(&self.public_key())
            .finish()
    }
}

impl SecretKey {
    /// A new key from the operating system's random generator (`getrandom`).
    pub fn generate() -> Result<SecretKey, Error> {
        let mut seed = [0u8; 32];
        let mut filled = 0;
        while filled < seed.len() {
            // SAFETY: the buffer is valid for `len - filled` bytes from `filled`.
            let n = unsafe {
                libc::getrandom(seed[filled..].as_mut_ptr().cast(), seed.len() - filled, 0)
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::Other(format!("getrandom failed: {e}")));
            }
            filled += n as usize;
        }
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// Parses a secret-key file's text.
    pub fn parse(text: &str) -> Result<SecretKey, Error> {
        let line = lines(text).next().unwrap_or("");
        let hex = line.strip_prefix(SECRET_TAG).ok_or_else(|| {
            bad(format!(
                "not a kiln secret key (expected `{SECRET_TAG} ...`)"
            ))
        })?;
        Ok(SecretKey(SigningKey::from_bytes(&unhex::<32>(
            hex,
            "secret key",
        )?)))
    }

    /// Reads a secret-key file.
    pub fn from_file(path: &Path) -> Result<SecretKey, Error> {
        SecretKey::parse(&read_small(path, "secret key")?)
            .map_err(|e| bad(format!("{}: {}", path.display(), message(&e))))
    }

    /// The secret-key file's text (keep it private: it signs as you).
    pub fn to_text(&self) -> String {
        format!("{SECRET_TAG} {}\n", hex(self.0.as_bytes()))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

/// A detached signature of an artifact, with the signer's public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Who signed.
    pub signer: PublicKey,
    signature: ed25519_dalek::Signature,
}

impl Signature {
    /// Parses a signature file's text.
    pub fn parse(text: &str) -> Result<Signature, Error> {
        let line = lines(text).next().unwrap_or("");
        let rest = line.strip_prefix(SIGNATURE_TAG).ok_or_else(|| {
            bad(format!(
                "not a kiln signature (expected `{SIGNATURE_TAG} ...`)"
            ))
        })?;
        let mut parts = rest.split_whitespace();
        let (Some(key), Some(sig), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(
                "a kiln signature is `kiln-ed25519-signature KEY SIGNATURE`",
            ));
        };
        Ok(Signature {
            signer: PublicKey::from_bytes(&unhex::<32>(key, "signer key")?)?,
            signature: ed25519_dalek::Signature::from_bytes(&unhex::<64>(sig, "signature")?),
        })
    }

    /// The signature file's text.
    pub fn to_text(&self) -> String {
        format!(
            "{SIGNATURE_TAG} {} {}\n",
            hex(&self.signer.to_bytes()),
            hex(&self.signature.to_bytes())
        )
    }
}

/// The public keys a host trusts to sign artifacts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedKeys(Vec<PublicKey>);

impl TrustedKeys {
    /// A set of keys.
    pub fn new(keys: Vec<PublicKey>) -> TrustedKeys {
        TrustedKeys(keys)
    }

    /// Parses a trusted-keys file's text: public-key lines, `#` comments, blank lines.
    pub fn parse(text: &str) -> Result<TrustedKeys, Error> {
        let keys = lines(text)
            .map(PublicKey::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(bad("no public key in the trusted keys"));
        }
        Ok(TrustedKeys(keys))
    }

    /// Reads a trusted-keys file (a public-key file is one).
    pub fn from_file(path: &Path) -> Result<TrustedKeys, Error> {
        TrustedKeys::parse(&read_small(path, "trusted keys")?)
            .map_err(|e| bad(format!("{}: {}", path.display(), message(&e))))
    }

    /// The keys.
    pub fn keys(&self) -> &[PublicKey] {
        &self.0
    }

    /// Checks `signature` over `digest`: by a trusted key, and valid.
    pub fn verify_digest(&self, digest: &[u8; 32], signature: &Signature) -> Result<(), Error> {
        if !self.0.contains(&signature.signer) {
            return Err(bad(format!(
                "signed by key {}, which is not trusted",
                hex(&signature.signer.to_bytes())
            )));
        }
        signature
            .signer
            .0
            .verify(&signature_message(digest), &signature.signature)
            .map_err(|_| bad("invalid signature: the file is not what the key signed".to_string()))
    }
}

/// The message of a load error (its text without the kind).
fn message(e: &Error) -> String {
    match e {
        Error::Load(m) | Error::Other(m) | Error::Link(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Where the detached signature of `artifact` lives: `<artifact>.sig`.
pub fn signature_path(artifact: &Path) -> PathBuf {
    let mut p = artifact.as_os_str().to_owned();
    p.push(".sig");
    PathBuf::from(p)
}

/// Signs `digest` with `key`.
pub fn sign_digest(key: &SecretKey, digest: &[u8; 32]) -> Signature {
    Signature {
        signer: key.public_key(),
        signature: key.0.sign(&signature_message(digest)),
    }
}

/// Verifies the artifact at `path` statically (the loader's checks before `dlopen`: structure
/// and checksum, any kiln target, nothing mapped executable) and signs its digest.
pub fn sign_file(key: &SecretKey, path: &Path) -> Result<Signature, Error> {
    let digest = loader::with_verified_file(path, digest::file_digest)?;
    Ok(sign_digest(key, &digest))
}

/// Checks the artifact at `path` as the loader does before `dlopen` (structure and checksum,
/// any kiln target; nothing is mapped executable), without a signature.
pub fn check_file(path: &Path) -> Result<(), Error> {
    loader::with_verified_file(path, |_| ())
}

/// Verifies the artifact at `path` statically (structure and checksum) and its detached
/// signature `signature` (default `<path>.sig`) against `trusted`.
pub fn verify_file(
    trusted: &TrustedKeys,
    path: &Path,
    signature: Option<&Path>,
) -> Result<(), Error> {
    let digest = loader::with_verified_file(path, digest::file_digest)?;
    let sig_path = signature.map_or_else(|| signature_path(path), Path::to_path_buf);
    let sig = read_signature(&sig_path)?;
    trusted
        .verify_digest(&digest, &sig)
        .map_err(|e| bad(format!("{}: {}", path.display(), message(&e))))
}

/// Reads and parses a signature file.
pub(crate) fn read_signature(path: &Path) -> Result<Signature, Error> {
    let text = read_small(path, "signature").map_err(|e| {
        bad(format!(
            "{} (a signature is required: sign the artifact with `kiln sign`)",
            message(&e)
        ))
    })?;
    Signature::parse(&text).map_err(|e| bad(format!("{}: {}", path.display(), message(&e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_signatures_round_trip_through_text() {
        let key = SecretKey::generate().unwrap();
        let again = SecretKey::parse(&key.to_text()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let public = PublicKey::parse(&key.public_key().to_text()).unwrap();
        let trusted = TrustedKeys::parse(&format!("# ci key\n\n{}", public.to_text())).unwrap();
        let digest = [3u8; 32];
        let sig = sign_digest(&key, &digest);
        let parsed = Signature::parse(&sig.to_text()).unwrap();
        assert_eq!(parsed, sig);
        trusted.verify_digest(&digest, &parsed).unwrap();
        let e = message(&trusted.verify_digest(&[4u8; 32], &parsed).unwrap_err());
        assert!(e.contains("invalid signature"), "{e}");
        let other = SecretKey::generate().unwrap();
        let e = message(
            &trusted
                .verify_digest(&digest, &sign_digest(&other, &digest))
                .unwrap_err(),
        );
        assert!(e.contains("not trusted"), "{e}");
    }

    #[test]
    fn malformed_files_are_errors() {
        assert!(PublicKey::parse("kiln-ed25519-public-key 12").is_err());
        assert!(SecretKey::parse("ssh-ed25519 AAAA").is_err());
        assert!(Signature::parse("kiln-ed25519-signature").is_err());
        assert!(TrustedKeys::parse("# nothing\n").is_err());
        let key = SecretKey::generate().unwrap();
        let text = sign_digest(&key, &[0; 32]).to_text();
        assert!(Signature::parse(&text.replace(' ', "  ")).is_ok());
        assert!(Signature::parse(&format!("{} extra", text.trim())).is_err());
    }
}

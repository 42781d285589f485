//! `kiln keygen`, `kiln sign`, `kiln verify`: Ed25519 keys as files and detached signatures
//! of kiln artifacts (`kiln_runtime::signature`; the formats and what a signature covers are
//! in `docs/trust-model.md`).
//!
//! `kiln verify` runs the runtime's checks before `dlopen` — static verification, checksum,
//! and with `--key` the signature — without loading anything, so a registry can check an
//! artifact for any target.

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use kiln_runtime::signature::{self, SecretKey, TrustedKeys};
use std::io::Write as _;
use std::path::PathBuf;

/// Arguments of `kiln keygen`.
#[derive(Args, Debug)]
pub struct KeygenCommand {
    /// Where to write the secret key (mode 0600); the public key goes to `<OUTPUT>.pub`.
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: PathBuf,
}

impl KeygenCommand {
    /// Writes a new key pair; returns the exit status.
    pub fn execute(self) -> Result<i32> {
        use std::os::unix::fs::OpenOptionsExt;
        let key = SecretKey::generate().map_err(|e| anyhow!("{e}"))?;
        let mut public = self.output.as_os_str().to_owned();
        public.push(".pub");
        let public = PathBuf::from(public);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.output)
            .with_context(|| format!("failed to create `{}`", self.output.display()))?;
        file.write_all(key.to_text().as_bytes())
            .with_context(|| format!("failed to write `{}`", self.output.display()))?;
        std::fs::write(&public, key.public_key().to_text())
            .with_context(|| format!("failed to write `{}`", public.display()))?;
        println!(
            "secret key: {}\npublic key: {}",
            self.output.display(),
            public.display()
        );
        Ok(0)
    }
}

/// Arguments of `kiln sign`.
#[derive(Args, Debug)]
pub struct SignCommand {
    /// The secret key file (`kiln keygen`).
    #[arg(short, long, value_name = "SECRET_KEY")]
    pub key: PathBuf,
    /// Where to write the signature (default: `<FILE>.sig`, where the runtime looks).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The kiln shared object to sign.
    pub file: PathBuf,
}

impl SignCommand {
    /// Verifies the artifact, signs it and writes the signature; returns the exit status.
    pub fn execute(self) -> Result<i32> {
        let key = SecretKey::from_file(&self.key).map_err(|e| anyhow!("{e}"))?;
        let sig = signature::sign_file(&key, &self.file)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("failed to sign `{}`", self.file.display()))?;
        let out = self
            .output
            .unwrap_or_else(|| signature::signature_path(&self.file));
        std::fs::write(&out, sig.to_text())
            .with_context(|| format!("failed to write `{}`", out.display()))?;
        println!("{}: signed ({})", self.file.display(), out.display());
        Ok(0)
    }
}

/// Arguments of `kiln verify`.
#[derive(Args, Debug)]
pub struct VerifyCommand {
    /// A trusted public key, or a file of them (`kiln keygen`'s `.pub`); repeatable. With
    /// keys, the signature must be by one of them.
    #[arg(short, long, value_name = "PUBLIC_KEYS")]
    pub key: Vec<PathBuf>,
    /// The signature file (default: `<FILE>.sig`).
    #[arg(short, long)]
    pub signature: Option<PathBuf>,
    /// The kiln shared object to verify.
    pub file: PathBuf,
}

impl VerifyCommand {
    /// Verifies; returns the exit status (an error when the artifact does not verify).
    pub fn execute(self) -> Result<i32> {
        let fail = |e: kiln_runtime::Error| anyhow!("{e}");
        if self.key.is_empty() {
            if self.signature.is_some() {
                bail!("--signature needs the trusted keys (--key)");
            }
            let bytes = std::fs::read(&self.file)
                .with_context(|| format!("failed to read `{}`", self.file.display()))?;
            let v = super::inspect::verify_artifact(&bytes)?;
            kiln_environ::artifact::check_checksum(&bytes, &v)
                .map_err(|e| anyhow!("{}: {e}", self.file.display()))?;
            println!(
                "{}: OK (structure and checksum; {}; no signature checked)",
                self.file.display(),
                v.fingerprint
            );
            return Ok(0);
        }
        let mut keys = Vec::new();
        for k in &self.key {
            keys.extend_from_slice(TrustedKeys::from_file(k).map_err(fail)?.keys());
        }
        let trusted = TrustedKeys::new(keys);
        signature::verify_file(&trusted, &self.file, self.signature.as_deref()).map_err(fail)?;
        println!(
            "{}: OK (structure, checksum and signature by a trusted key)",
            self.file.display()
        );
        Ok(0)
    }
}

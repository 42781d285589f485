//! The arguments `kiln run` and `kiln serve` share (`#[command(flatten)]`): what a WASI
//! component is granted (`--dir`, `--env`, `--inherit-network`) and the signature a `.so`
//! must carry (`--trusted-keys`).

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use kiln_runtime::signature::TrustedKeys;
use kiln_runtime::wasi::WasiConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The WASI grants and the signature requirement of `kiln run` and `kiln serve`.
#[derive(Args, Debug)]
pub struct GuestArgs {
    /// Give a WASI component the host directory HOST as guest directory GUEST (`HOST` alone:
    /// the same path in the guest). Repeatable.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    pub dirs: Vec<String>,
    /// Set an environment variable for a WASI component (`NAME` alone passes the host's
    /// value). Repeatable.
    #[arg(long = "env", value_name = "NAME[=VAL]")]
    pub envs: Vec<String>,
    /// Let a WASI component use the host's network (`wasi:sockets`, outgoing `wasi:http`
    /// requests); without it every network operation (bind, connect, listen, name lookups)
    /// fails with `access-denied`, and every HTTP request with `HTTP-request-denied`.
    #[arg(long)]
    pub inherit_network: bool,
    /// Require a signature (`<FILE>.sig`, made by `kiln sign`) by one of the public keys in
    /// this file before loading a `.so` (checked before anything from it is mapped).
    #[arg(long, value_name = "PUBLIC_KEYS")]
    pub trusted_keys: Option<PathBuf>,
}

impl GuestArgs {
    /// Whether any WASI grant (`--dir`, `--env`, `--inherit-network`) was given.
    pub fn grants_any(&self) -> bool {
        !self.dirs.is_empty() || !self.envs.is_empty() || self.inherit_network
    }

    /// Adds the grants to `cfg`: `--env NAME[=VAL]`, `--dir HOST[::GUEST]` (an error when
    /// HOST is not a directory) and `--inherit-network`.
    pub fn grant(&self, cfg: &mut WasiConfig) -> Result<()> {
        for e in &self.envs {
            match e.split_once('=') {
                Some((name, value)) => {
                    if name.is_empty() {
                        bail!("--env `{e}`: the variable name is empty");
                    }
                    cfg.env(name, value);
                }
                None => {
                    if let Ok(value) = std::env::var(e) {
                        cfg.env(e, &value);
                    }
                }
            }
        }
        for d in &self.dirs {
            let (host, guest) = d.split_once("::").unwrap_or((d.as_str(), d.as_str()));
            if host.is_empty() || guest.is_empty() {
                bail!("--dir `{d}`: expected HOST or HOST::GUEST");
            }
            let meta = std::fs::metadata(host)
                .with_context(|| format!("--dir `{d}`: cannot open `{host}`"))?;
            if !meta.is_dir() {
                bail!("--dir `{d}`: `{host}` is not a directory");
            }
            cfg.preopen_dir(host, guest, false);
        }
        cfg.inherit_network(self.inherit_network);
        Ok(())
    }

    /// The keys of `--trusted-keys`, read; an error when they are given for an input that is
    /// not a `.so` (`command`, `kiln run` or `kiln serve`, compiles a `.wasm` itself) or
    /// cannot be read.
    pub fn trusted_keys(&self, file: &Path, command: &str) -> Result<Option<Arc<TrustedKeys>>> {
        let Some(keys) = &self.trusted_keys else {
            return Ok(None);
        };
        if !super::run::is_so(file) {
            bail!("--trusted-keys applies to a kiln .so; `{command}` compiles a .wasm itself");
        }
        let keys = TrustedKeys::from_file(keys).map_err(|e| anyhow!("{e}"))?;
        Ok(Some(Arc::new(keys)))
    }
}

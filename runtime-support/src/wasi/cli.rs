//! `wasi:cli/*` (placeholder: being written).
use super::WasiConfig;
use crate::component::ComponentLinker;
use crate::error::Error;

/// The stdio streams of one instance.
pub struct Stdio;

impl Stdio {
    /// Opens the configured stdio.
    pub fn new(_config: &WasiConfig) -> Result<Stdio, Error> {
        Ok(Stdio)
    }
}

/// Adds `wasi:cli/*`.
pub fn add(_linker: &mut ComponentLinker) {}

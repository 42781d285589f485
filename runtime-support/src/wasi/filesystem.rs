//! `wasi:filesystem/*` (placeholder: being written).
use super::{Table, WasiConfig};
use crate::component::ComponentLinker;
use crate::error::Error;

/// Opens the preopened directories: (representation, guest path) of each.
pub fn open_preopens(
    _config: &WasiConfig,
    _table: &mut Table,
) -> Result<Vec<(u32, String)>, Error> {
    Ok(Vec::new())
}

/// Adds `wasi:filesystem/*`.
pub fn add(_linker: &mut ComponentLinker) {}

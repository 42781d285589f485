//! placeholder: being written.
use crate::component::ComponentLinker;

/// Adds the interface.
pub fn add(_linker: &mut ComponentLinker) {}

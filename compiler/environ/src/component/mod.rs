//! The component half of the artifact contract: what a kiln `.so` compiled from a WebAssembly
//! *component* contains, and the types the compiler, the canonical-ABI glue and the runtime
//! share.
//!
//! - [`types`]: component value and function types ([`InterfaceType`], [`ComponentFuncType`]);
//! - [`abi`]: canonical-ABI layout in linear memory and flattening to core types;
//! - [`host`]: the host C representation of component values;
//! - [`plan`]: the flattened instantiation plan ([`ComponentMetadata`]);
//! - [`vmctx`]: the component VM context the runtime fills and the glue reads;
//! - [`wit`]: printing the component's world in WIT syntax.
//!
//! A component `.so` exports exactly one symbol, [`COMPONENT_DESCRIPTOR_SYMBOL`], pointing at a
//! [`ComponentDescriptor`]; it does *not* export `kiln_module_v1`. Each distinct core module is
//! linked in with its own ordinary [`crate::ModuleDescriptor`] under a hidden symbol
//! ([`module_descriptor_symbol`]), reached through the component descriptor's module array.

pub mod abi;
mod check;
pub mod glue;
pub mod host;
pub mod plan;
pub mod text;
pub mod types;
pub mod vmctx;
pub mod wit;

pub use abi::{AbiContext, Layout, MAX_FLAT_PARAMS, MAX_FLAT_RESULTS};
pub use plan::*;
pub use types::{Case, ComponentFuncType, Field, InterfaceType, ResourceIndex};
pub use vmctx::VMComponentOffsets;

pub use crate::descriptor::{
    ComponentDescriptor, COMPONENT_DESCRIPTOR_MAGIC, COMPONENT_DESCRIPTOR_SYMBOL,
};

/// The (hidden) symbol of core module `i`'s descriptor inside a component `.so`.
pub fn module_descriptor_symbol(i: u32) -> String {
    format!("kiln_component_module_{i}")
}

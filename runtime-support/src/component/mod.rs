//! Components in the runtime: loading a component `.so`, instantiating it by executing its
//! flattened plan, per-instance resource handle tables, and the component VM context the
//! compiled canonical-ABI glue reads.
//!
//! - `load.rs`: [`Component::load`] opens the `.so`, checks the component descriptor and plan
//!   (`kiln_environ::component`), and loads every core module through its own descriptor;
//! - `instance.rs`: [`ComponentLinker`] (host functions for the component's imports) and
//!   [`ComponentInstance`] (executes the [`Initializer`](kiln_environ::component::Initializer)s);
//! - `resources.rs`: handle tables and the `resource.new/rep/drop` intrinsics;
//! - `vmctx.rs`: the component VM context (layout in `kiln_environ::component::vmctx`).
//!
//! - `call.rs` and `values.rs`: [`ComponentInstance::call`] calls an export with dynamic
//!   [`Val`]s through its compiled canonical-ABI glue; `glue_builtins.rs` is the component
//!   builtin table the glue calls (string validation and transcoding, host arena).
//!
//! - `raw.rs`: [`ComponentInstance::call_raw`] passes the host C representation straight to
//!   the compiled entry (the C API's typed fast path).
//!
//! - `typed.rs`: [`ComponentInstance::typed_func`] and [`TypedFunc`]: typed Rust signatures
//!   over the raw entry ([`ComponentType`] and [`component_record!`](crate::component_record)).
//!
//! - `imports.rs`: [`ComponentLinker::func`] defines imports by WIT name with closures over
//!   [`Val`]s, called through the compiled import trampolines.
//!
//! [`ComponentFunc::call_flat`] calls the core callee with flat core values; lowered imports
//! reach host functions defined with [`ComponentLinker::func_raw`] (flat core values).

mod builtins;
mod call;
mod glue_builtins;
mod imports;
mod instance;
mod linking;
mod load;
mod modules;
mod raw;
mod resources;
mod typed;
mod values;
mod vmctx;

pub use imports::{CxHostFn, HostCx, HostDtorFn, ValHostFn};
pub use instance::{ComponentFunc, ComponentInstance, ComponentLinker, RawCall, RawHostFn};
pub use kiln_environ::component::{
    ComponentExport, ComponentFuncType, ComponentImport, ComponentMetadata, ExportItem,
    InterfaceType, ItemType,
};
pub use linking::{HostFuncType, ResourceType};
pub use load::Component;
pub use raw::RawReturn;
pub use resources::{HandleEntry, HandleTable};
pub use typed::{
    align_up, max_usize, mismatch, struct_layout, struct_offsets, ComponentParams, ComponentType,
    Lift, Lower, LowerCx, TypedFunc,
};
pub use values::{decode, encode, HostBuffer, Val};

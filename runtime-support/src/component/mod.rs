//! Components in the runtime: loading a component `.so`, instantiating it by executing its
//! flattened plan, per-instance resource handle tables, and the component VM context the
//! compiled canonical-ABI glue reads.
//!
//! - `load.rs`: [`Component::load`] opens the `.so`, checks the component descriptor and plan
//!   (`kiln_environ::component`), and loads every core module through its own descriptor;
//! - `linker.rs`: [`ComponentLinker`], the host's definitions for a component's imports (host
//!   functions at three levels, resource types and destructors, core modules, per-instance host
//!   state, the host value budget); `linking.rs` checks them against the imports;
//! - `instantiation.rs`: executing the plan's [`Initializer`](kiln_environ::component::Initializer)s;
//! - `instance.rs`: [`ComponentInstance`] and [`ComponentFunc`] and their accessors;
//! - `host.rs`: host functions reached through the compiled import trampolines, [`HostCx`];
//!   `host_args.rs`: their arguments and result over the host C representation ([`HostArgs`],
//!   [`HostResult`]: byte lists and strings in place, or dynamic [`Val`]s);
//! - `host_check.rs`: [`ComponentFunc::check_host_args`], host-side checks of raw-call
//!   arguments (what a C host got wrong is an error, not a trap that poisons the instance);
//! - `raw.rs`: [`ComponentInstance::call_raw`], the one entry into an export (host C
//!   representation; trap clean-up of borrow scopes and arena frames); `call.rs`: the dynamic
//!   [`ComponentInstance::call`] over it; `typed.rs`: [`TypedFunc`] over it;
//! - `values.rs`: [`Val`] and its conversion to and from the host C representation, charged to
//!   a [`HostValueBudget`]; `arena.rs`: the per-call host arena and that budget;
//! - `glue_builtins.rs` (with `strings.rs`, `handles_glue.rs`): the builtin table the compiled
//!   glue calls; `builtins.rs`: plan built-ins as core functions; `resources.rs`: handle tables
//!   and the `resource.new/rep/drop` intrinsics; `modules.rs`: core module imports;
//! - `vmctx.rs`: the component VM context (layout in `kiln_environ::component::vmctx`).
//!
//! Guest-chosen sizes never drive host memory or time before the checks that trap: the glue
//! checks bounds before it lifts, the runtime charges a call's host value budget before it
//! allocates, and allocation failures are traps.
//!
//! [`ComponentFunc::call_flat`] calls the core callee with flat core values; lowered imports
//! reach host functions defined with [`ComponentLinker::func_flat`] (flat core values).

mod arena;
mod builtins;
mod call;
mod concurrent;
mod glue_builtins;
mod host;
mod host_args;
mod host_check;
mod instance;
mod instantiation;
mod linker;
mod linking;
mod load;
mod modules;
mod raw;
mod resources;
mod typed;
mod values;
mod vmctx;

pub use arena::{HostValueBudget, DEFAULT_HOST_VALUE_BUDGET};
pub use concurrent::host_call::AsyncCall;
pub use concurrent::host_io::{encode_plain, HostWriter};
pub use host::{CxHostFn, FlatCall, FlatHostFn, HostCx, HostDtorFn, RawHostFn, ValHostFn};
pub use host_args::{HostArgs, HostResult};
pub use instance::{ComponentFunc, ComponentInstance};
pub use kiln_environ::component::{
    ComponentExport, ComponentFuncType, ComponentImport, ComponentMetadata, ExportItem,
    InterfaceType, ItemType,
};
pub use linker::{ComponentLinker, ComponentPre};
pub use linking::{HostFuncType, ResourceType};
pub use load::Component;
pub use raw::RawReturn;
pub use resources::{HandleEntry, HandleTable};
pub use typed::{
    align_up, max_usize, mismatch, struct_layout, struct_offsets, ComponentParams, ComponentType,
    Lift, Lower, LowerCx, TypedFunc,
};
pub use values::{decode, decode_within, encode, HostBuffer, Val};

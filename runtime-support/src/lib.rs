//! The kiln runtime: loads kiln-compiled shared objects with `dlopen` and runs them sandboxed.
//!
//! This crate is the last stage of the pipeline described in `ARCHITECTURE.md`: the compiler
//! writes a `.so` following the artifact contract in `kiln-environ`, and the runtime
//!
//! 1. checks the file before anything from it is mapped — static verification, fingerprint,
//!    digest, signature (`loader/`, [`signature`]) — then `dlopen`s the verified bytes and
//!    checks the metadata ([`Module::load`], `module.rs`);
//! 2. allocates and fills a VM context per instance, links imports, applies segments and runs
//!    the start function ([`Instance::new`], `instance.rs`; memories, tables and globals in
//!    `memory.rs`, `table.rs`, `global.rs`; constant expressions in `constexpr.rs`);
//! 3. calls guest functions through their array-call trampolines and host functions through
//!    host contexts ([`Func`], `func.rs`; values in `values.rs`);
//! 4. serves compiled code's runtime calls through the builtin table (`builtins.rs`);
//! 5. turns faults, failed builtins and host errors into [`Trap`]s with backtraces (`traps.rs`
//!    with `traps.c`: signal handlers on an alternate stack and `sigsetjmp`/`siglongjmp`);
//! 6. runs wasm exceptions: tags (`tag.rs`), exception objects (`exn_heap.rs`), the handler
//!    search and resume (`throw.rs`), and their host view ([`Exception`], `exception.rs`).
//!
//! ```no_run
//! use kiln_runtime::{Engine, Linker, Module, Val};
//! let engine = Engine::default();
//! let module = Module::load(&engine, std::path::Path::new("add.so"))?;
//! let instance = Linker::new(&engine).instantiate(&module)?;
//! let add = instance.get_func("add").expect("export `add`");
//! let results = add.call(&[Val::I32(1), Val::I32(2)])?;
//! # Ok::<(), kiln_runtime::Error>(())
//! ```
//!
//! Only x86_64 Linux is supported.
#![deny(missing_docs)]

mod builtins;
/// The C API (`include/kiln.h`).
pub mod capi;
/// Components: loading, instantiating the plan, handle tables, the component VM context.
pub mod component;
mod constexpr;
mod engine;
mod error;
mod exception;
mod exn_heap;
mod fiber;
mod func;
mod global;
mod instance;
mod limits;
mod linker;
mod loader;
mod memory;
mod module;
mod pool;
pub mod signature;
mod store;
mod table;
mod tag;
mod throw;
mod traps;
mod typed;
mod values;
pub mod vm;
pub mod wasi;

pub use component::{Component, ComponentFunc, ComponentInstance, ComponentLinker, ComponentPre};
pub use engine::{Engine, EngineConfig};
pub use error::{Error, FrameInfo, Trap};
pub use exception::Exception;
/// Diagnostics: the number of exception objects alive on the calling thread (all are freed
/// when its outermost call into wasm returns).
pub use exn_heap::live_objects as live_exception_objects;
pub use func::{Caller, Func, HostFn};
pub use global::Global;
pub use instance::Instance;
pub use kiln_environ::{FuncType, GlobalType, MemoryType, TableType, TrapKind, ValType};
pub use limits::{ResourceLimiter, StoreLimits, DEFAULT_HOST_VALUE_BYTES};
pub use linker::{InstancePre, Linker};
pub use loader::ArtifactSharing;
pub use memory::{Memory, WASM_PAGE_SIZE};
pub use module::{has_cpu_feature, Module};
pub use table::Table;
pub use tag::Tag;
pub use traps::is_guest_pc;
pub use typed::{TypedFunc, WasmList, WasmTy};
pub use values::{ExnRef, Val};
pub use vm::ValRaw;

/// Internal hooks for kiln's own tests; not a stable API.
#[doc(hidden)]
pub mod __private {
    /// Fibers (`fiber.rs`), exposed for the end-to-end tests in `tests/tests/fibers.rs`.
    pub mod fiber {
        pub use crate::fiber::{on_fiber, stack_size_for, suspend, Cancelled, Fiber, FiberStack};
    }
}

/// An importable or exportable item.
#[derive(Clone, Debug)]
pub enum Extern {
    /// A function.
    Func(Func),
    /// A table.
    Table(Table),
    /// A memory.
    Memory(Memory),
    /// A global.
    Global(Global),
    /// A tag (exception handling).
    Tag(Tag),
}

impl From<Func> for Extern {
    fn from(f: Func) -> Extern {
        Extern::Func(f)
    }
}

impl From<Table> for Extern {
    fn from(t: Table) -> Extern {
        Extern::Table(t)
    }
}

impl From<Memory> for Extern {
    fn from(m: Memory) -> Extern {
        Extern::Memory(m)
    }
}

impl From<Global> for Extern {
    fn from(g: Global) -> Extern {
        Extern::Global(g)
    }
}

impl From<Tag> for Extern {
    fn from(t: Tag) -> Extern {
        Extern::Tag(t)
    }
}

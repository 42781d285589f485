//! kiln-compiler: WebAssembly → native shared object, ahead of time.
//!
//! The pipeline, one stage per module, data flowing one way:
//!
//! 1. [`module`]: parse & validate the bytes into a [`module::ModuleTranslation`];
//! 2. [`translate`]: each function body → Cranelift IR (our own translator);
//! 3. [`codegen`]: Cranelift compiles functions in parallel (rayon) → `CompiledFunction`s;
//! 4. [`trampolines`]: host-to-wasm and wasm-to-host entry points;
//! 5. [`emit`]: one relocatable object with code, data images, metadata and the descriptor;
//! 6. [`link`]: the system linker makes the shared object.
#![deny(missing_docs)]

pub mod config;
pub mod error;
pub mod module;
pub mod translate;

pub use config::{Config, OptLevel, Tunables};
pub use error::CompileError;

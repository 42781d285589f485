//! kiln-compiler: WebAssembly → native shared object, ahead of time.
//!
//! The pipeline, one stage per module, data flowing one way:
//!
//! 1. [`module`]: parse & validate the bytes into a [`module::ModuleTranslation`];
//! 2. [`translate`]: each function body → Cranelift IR (our own translator);
//! 3. [`codegen`]: Cranelift compiles functions in parallel (rayon) →
//!    [`codegen::CompiledFunction`]s;
//! 4. [`trampolines`]: host-to-wasm and wasm-to-host entry points;
//! 5. [`emit`]: one relocatable object ([`emit::ObjectFile`]) with code, data images,
//!    metadata and the descriptor;
//! 6. [`link`]: the system linker makes the shared object.
//!
//! ```no_run
//! let wasm = wat::parse_str("(module (func (export \"f\") (result i32) i32.const 42))")?;
//! kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So,
//!     std::path::Path::new("f.so"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

// Enabled once translate/ provides its interface (in progress):
// pub mod codegen;
pub mod config;
// pub mod emit;
pub mod error;
pub mod link;
pub mod module;
// pub mod trampolines;
pub mod translate;

pub use config::{Config, OptLevel, Tunables};
pub use error::CompileError;
pub use link::link_shared_object;

use kiln_environ::ModuleMetadata;
use std::path::Path;

/// What `compile_to_file` writes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Emit {
    /// A shared object, ready for the runtime.
    So,
    /// The relocatable object, for static linking or linking elsewhere.
    Obj,
}

/// A compiled module: the relocatable object and its metadata.
pub struct CompiledModule {
    /// Relocatable object bytes.
    pub object: Vec<u8>,
    /// The metadata inside it.
    pub metadata: ModuleMetadata,
}

/// Parses and validates `wasm` completely, function bodies included, without compiling.
pub fn validate(wasm: &[u8]) -> Result<(), CompileError> {
    let module = module::parse(wasm)?;
    for body in module.bodies {
        let mut v = body.validator.into_validator(Default::default());
        v.validate(&body.body)?;
    }
    Ok(())
}

/// Compiles `wasm` (binary) into a relocatable object.
pub fn compile(_wasm: &[u8], _config: &Config) -> Result<CompiledModule, CompileError> {
    Err(CompileError::msg("backend being wired up"))
}

/// Compiles `wasm` and writes a shared object or relocatable object to `out`.
pub fn compile_to_file(
    wasm: &[u8],
    config: &Config,
    emit: Emit,
    out: &Path,
) -> Result<ModuleMetadata, CompileError> {
    let compiled = compile(wasm, config)?;
    match emit {
        Emit::So => link_shared_object(&compiled.object, out)?,
        Emit::Obj => std::fs::write(out, &compiled.object)
            .map_err(|e| CompileError::msg(format!("cannot write {}: {e}", out.display())))?,
    }
    Ok(compiled.metadata)
}

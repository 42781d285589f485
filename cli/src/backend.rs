//! The compiler entry points the CLI and the wast engine call.
//!
//! Everything that compiles or validates goes through this file, so the rest of the crate has
//! one place that knows how `kiln-compiler` spells its API.

use kiln_compiler::{CompileError, Config};
use kiln_environ::ModuleMetadata;
use std::path::Path;
use wasmparser::WasmFeatures;

pub use kiln_compiler::Emit;

/// Compiles `wasm` (binary) and writes the artifact to `out`.
pub fn compile_to_file(
    wasm: &[u8],
    config: &Config,
    emit: Emit,
    out: &Path,
) -> Result<ModuleMetadata, CompileError> {
    kiln_compiler::compile_to_file(wasm, config, emit, out)
}

/// Parses and validates `wasm` completely (function bodies included), accepting `features`.
pub fn validate(wasm: &[u8], features: WasmFeatures) -> Result<(), CompileError> {
    kiln_compiler::validate_with_features(wasm, features)
}

/// Every WebAssembly feature kiln supports (the compiler's default).
pub fn supported_features() -> WasmFeatures {
    kiln_compiler::module::supported_features()
}

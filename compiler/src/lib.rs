//! kiln-compiler: WebAssembly → native shared object, ahead of time.
//!
//! The pipeline, one stage per module, data flowing one way:
//!
//! 1. [`module`]: parse & validate the bytes into a [`module::ModuleTranslation`] (types in
//!    [`types`]);
//! 2. [`translate`]: each function body → Cranelift IR (our own translator);
//! 3. [`codegen`]: Cranelift compiles functions in parallel (rayon) →
//!    [`codegen::CompiledFunction`]s;
//! 4. [`trampolines`]: host-to-wasm and wasm-to-host entry points;
//! 5. [`emit`]: one relocatable object ([`emit::ObjectFile`]) with code, data images,
//!    metadata and the descriptor;
//! 6. [`link`]: the system linker makes the shared object.
//!
//! Components go through [`component`]: their own front end flattens them into an instantiation
//! plan, and each distinct core module goes through the stages above.
//!
//! ```no_run
//! let wasm = wat::parse_str("(module (func (export \"f\") (result i32) i32.const 42))")?;
//! kiln_compiler::compile_to_file(&wasm, &Default::default(), kiln_compiler::Emit::So,
//!     std::path::Path::new("f.so"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod codegen;
pub mod component;
pub mod config;
pub mod debug;
pub mod emit;
pub mod error;
pub mod link;
pub mod module;
pub mod trampolines;
pub mod translate;
pub mod types;

pub use component::{compile_component, CompiledComponent};
pub use config::{Config, OptLevel, Tunables};
pub use error::CompileError;
pub use link::link_shared_object;
pub use wasmparser::WasmFeatures;

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
    validate_with_features(wasm, module::supported_features())
}

/// Like [`validate`], accepting only `features`.
pub fn validate_with_features(
    wasm: &[u8],
    features: wasmparser::WasmFeatures,
) -> Result<(), CompileError> {
    let module = module::parse_with_features(wasm, features)?;
    for body in module.bodies {
        let mut v = body.validator.into_validator(Default::default());
        v.validate(&body.body)?;
    }
    Ok(())
}

/// Compiles `wasm` (binary) into a relocatable object.
///
/// With [`Config::debug_info`] and an input without DWARF, the line tables point into a WAT
/// listing (`module.wat` here; [`compile_to_file`] writes `<out>.wat` beside its output).
pub fn compile(wasm: &[u8], config: &Config) -> Result<CompiledModule, CompileError> {
    let listing = debug_listing(wasm, config, None)?;
    compile_with_listing(wasm, config, listing.as_ref())
}

/// The WAT listing `-g` needs for an input without DWARF (`None` otherwise), to be written at
/// `path` (or named `module.wat` without a path).
fn debug_listing(
    wasm: &[u8],
    config: &Config,
    path: Option<&Path>,
) -> Result<Option<debug::Listing>, CompileError> {
    if !config.debug_info || debug::has_guest_dwarf(wasm) {
        return Ok(None);
    }
    let (name, dir) = match path {
        Some(p) => {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "module.wat".to_string());
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
            let dir = match dir {
                Some(d) => std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()),
                None => std::env::current_dir().unwrap_or_default(),
            };
            (name, dir.to_string_lossy().into_owned())
        }
        None => ("module.wat".to_string(), String::new()),
    };
    debug::Listing::new(wasm, name, dir).map(Some)
}

fn compile_with_listing(
    wasm: &[u8],
    config: &Config,
    listing: Option<&debug::Listing>,
) -> Result<CompiledModule, CompileError> {
    let mut module = module::parse_with_features(wasm, config.features)?;
    let isa = codegen::build_isa(config)?;
    let build = codegen::build_info(wasm, config, &*isa);
    let mut functions = codegen::compile_functions(&mut module, &*isa, config)?;
    functions.extend(trampolines::compile_trampolines(&module, &*isa)?);
    let debug_input = config
        .debug_info
        .then_some(debug::DebugInput { wasm, listing });
    let object = emit::emit_object(
        &module,
        isa,
        functions,
        build,
        &emit::DescriptorSymbol::default(),
        debug_input.as_ref(),
    )?;
    Ok(CompiledModule {
        object: object.bytes,
        metadata: object.metadata,
    })
}

/// Compiles `wasm` and writes a shared object or relocatable object to `out`.
///
/// A component (recognised by its header) is compiled with
/// [`component::compile_component_to_file`]; the metadata returned then carries only the
/// build facts (the plan is in the file, and returned by that function).
pub fn compile_to_file(
    wasm: &[u8],
    config: &Config,
    emit: Emit,
    out: &Path,
) -> Result<ModuleMetadata, CompileError> {
    if component::is_component(wasm) {
        let plan = component::compile_component_to_file(wasm, config, emit, out)?;
        return Ok(component::summary(&plan));
    }
    // `<out>.wat` (e.g. `f.so.wat`): never the input's own `.wat`.
    let mut listing_path = out.as_os_str().to_owned();
    listing_path.push(".wat");
    let listing_path = std::path::PathBuf::from(listing_path);
    let listing = debug_listing(wasm, config, Some(&listing_path))?;
    let compiled = compile_with_listing(wasm, config, listing.as_ref())?;
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes)
            .map_err(|e| CompileError::msg(format!("cannot write {}: {e}", path.display())))
    };
    match emit {
        Emit::So => link_shared_object(&compiled.object, out)?,
        Emit::Obj => write(out, &compiled.object)?,
    }
    if let Some(listing) = &listing {
        write(&listing_path, listing.text.as_bytes())?;
    }
    if config.debug_info && config.split_debug && emit == Emit::So {
        debug::split_debug_info(out)?;
        link::seal_file(out)?;
    }
    Ok(compiled.metadata)
}

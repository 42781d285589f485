//! Compiling WebAssembly components: the component front end and the component object.
//!
//! 1. [`parse`]: parse and validate the component (wasmparser, component model on) into static
//!    components and core modules;
//! 2. [`inline`]: flatten nested components, instances, aliases, imports and exports into one
//!    instantiation plan ([`ComponentMetadata`]), resolving types with [`types`];
//! 3. every distinct core module that the plan instantiates is compiled in parallel (rayon) by
//!    the ordinary module pipeline, each into its own object whose descriptor is a hidden
//!    symbol ([`kiln_environ::component::module_descriptor_symbol`]);
//! 4. [`emit`]: the component object holds the serialized plan and the exported component
//!    descriptor pointing at the modules' descriptors;
//! 5. the system linker links all objects into one shared object.

pub mod emit;
pub mod glue;
pub mod inline;
pub mod parse;
pub mod types;

use crate::emit::DescriptorSymbol;
use crate::error::{CompileError, Result};
use crate::{codegen, module, trampolines, Config, Emit};
use kiln_environ::component::{module_descriptor_symbol, ComponentMetadata};
use kiln_environ::BuildInfo;
use rayon::prelude::*;
use std::path::Path;

/// A compiled component: one relocatable object per distinct core module, the component
/// object, and the plan.
pub struct CompiledComponent {
    /// The core modules' objects, in [`ComponentMetadata::modules`] order.
    pub modules: Vec<Vec<u8>>,
    /// The component object (plan and component descriptor).
    pub component: Vec<u8>,
    /// The plan.
    pub metadata: ComponentMetadata,
}

impl CompiledComponent {
    /// All objects, component object first.
    pub fn objects(&self) -> Vec<&[u8]> {
        std::iter::once(self.component.as_slice())
            .chain(self.modules.iter().map(Vec::as_slice))
            .collect()
    }
}

/// Whether `wasm` starts with the component binary header (`\0asm` + component version and
/// layer), as opposed to a core module's.
pub fn is_component(wasm: &[u8]) -> bool {
    wasm.len() >= 8 && wasm[0..4] == *b"\0asm" && wasm[6..8] == [1, 0]
}

/// Parses, validates and flattens a component without compiling it.
pub fn plan(wasm: &[u8], config: &Config) -> Result<ComponentMetadata> {
    let mut parsed = parse::parse(wasm, config.features)?;
    let bodies = std::mem::take(&mut parsed.bodies);
    let (inliner, exports) = inline::Inliner::run(&parsed)?;
    // Nothing is compiled here: every core module's code is validated.
    parse::validate_bodies(bodies, |_| false)?;
    let build = build_info(wasm, config)?;
    let metadata = inliner.finish(exports, build);
    metadata
        .check()
        .map_err(|e| CompileError::msg(format!("internal error: {e}")))?;
    Ok(metadata)
}

fn build_info(wasm: &[u8], config: &Config) -> Result<BuildInfo> {
    let isa = codegen::build_isa(config)?;
    Ok(codegen::build_info(wasm, config, &*isa))
}

/// Compiles one core module of a component into an object with a hidden descriptor.
fn compile_core_module(
    bytes: &[u8],
    index: u32,
    base_offset: usize,
    config: &Config,
) -> Result<(Vec<u8>, Option<String>)> {
    let locate = |e: CompileError| {
        let e = CompileError {
            offset: e.offset.map(|o| o + base_offset),
            ..e
        };
        e.context(format!("core module {index} (at offset {base_offset:#x})"))
    };
    let mut module = module::parse_with_features(bytes, config.features).map_err(locate)?;
    let isa = codegen::build_isa(config)?;
    let build = build_info(bytes, config)?;
    let mut functions = codegen::compile_functions(&mut module, &*isa, config).map_err(locate)?;
    functions.extend(trampolines::compile_trampolines(&module, &*isa).map_err(locate)?);
    let name = module.module_name.clone();
    let descriptor = DescriptorSymbol {
        name: module_descriptor_symbol(index),
        exported: false,
    };
    // With -g, a core module carrying DWARF (clang/rustc -g) gets it translated like a
    // standalone module; one without DWARF gets symbols and CFI only (no WAT listing yet).
    let debug = crate::debug::DebugInput {
        wasm: bytes,
        listing: None,
    };
    let object = crate::emit::emit_object(
        &module,
        isa,
        functions,
        build,
        &descriptor,
        config.debug_info.then_some(&debug),
    )
    .map_err(locate)?;
    Ok((object.bytes, name))
}

/// Compiles a component (binary) into relocatable objects and its plan.
pub fn compile_component(wasm: &[u8], config: &Config) -> Result<CompiledComponent> {
    let mut parsed = parse::parse(wasm, config.features)?;
    let bodies = std::mem::take(&mut parsed.bodies);
    let (inliner, exports) = inline::Inliner::run(&parsed)?;
    // Modules the plan compiles are validated by their compilation; the others here.
    parse::validate_bodies(bodies, |m| inliner.modules.contains(&m))?;
    let module_config = Config {
        target: config.target.clone(),
        cpu: config.cpu.clone(),
        opt_level: config.opt_level,
        jobs: None,
        tunables: config.tunables,
        features: config.features,
        debug_info: config.debug_info,
        ..Config::default()
    };
    let ranges: Vec<_> = inliner
        .modules
        .iter()
        .map(|&m| parsed.modules[m].range.clone())
        .collect();
    let work = || {
        ranges
            .par_iter()
            .enumerate()
            .map(|(i, r)| {
                let bytes = wasm.get(r.clone()).ok_or_else(|| {
                    CompileError::at(r.start, "core module extends past the end of the input")
                })?;
                compile_core_module(bytes, i as u32, r.start, &module_config)
            })
            .collect::<Result<Vec<_>>>()
    };
    let compiled = match config.jobs {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()
            .map_err(|e| CompileError::msg(format!("cannot start {n} compile threads: {e}")))?
            .install(work)?,
        None => work()?,
    };
    let build = build_info(wasm, config)?;
    let mut metadata = inliner.finish(exports, build);
    let mut modules = Vec::new();
    for (i, (object, name)) in compiled.into_iter().enumerate() {
        metadata.modules[i].name = name;
        modules.push(object);
    }
    metadata
        .check()
        .map_err(|e| CompileError::msg(format!("internal error: {e}")))?;
    let isa = codegen::build_isa(config)?;
    let glue = glue::compile_glue(&*isa, &metadata)?;
    metadata.glue = glue.offsets;
    let component = emit::emit_component(isa, &metadata, &glue.code, &glue.unwind)?;
    Ok(CompiledComponent {
        modules,
        component,
        metadata,
    })
}

/// Compiles a component and writes a shared object (or, for [`Emit::Obj`], one relocatable
/// object made with `ld -r`) to `out`.
pub fn compile_component_to_file(
    wasm: &[u8],
    config: &Config,
    emit: Emit,
    out: &Path,
) -> Result<ComponentMetadata> {
    let compiled = compile_component(wasm, config)?;
    match emit {
        Emit::So => crate::link::link_objects(&compiled.objects(), out)?,
        Emit::Obj => emit::link_relocatable(&compiled.objects(), out)?,
    }
    Ok(compiled.metadata)
}

/// A [`kiln_environ::ModuleMetadata`] with only the build facts of a component's plan (what
/// [`crate::compile_to_file`] returns for a component).
pub fn summary(plan: &ComponentMetadata) -> kiln_environ::ModuleMetadata {
    kiln_environ::ModuleMetadata {
        build: plan.build.clone(),
        types: Vec::new(),
        imports: Vec::new(),
        functions: Vec::new(),
        tables: Vec::new(),
        memories: Vec::new(),
        globals: Vec::new(),
        tags: Vec::new(),
        type_identities: Vec::new(),
        global_inits: Vec::new(),
        exports: Vec::new(),
        start: None,
        elems: Vec::new(),
        data: Vec::new(),
        memory_images: Vec::new(),
        trap_sites: kiln_environ::TrapTable::default(),
        address_map: kiln_environ::OffsetTable::default(),
        exception_table: Default::default(),
        name: None,
        function_names: Default::default(),
        debug_lines: None,
    }
}

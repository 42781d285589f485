//! Loading a component `.so`: the exported component descriptor, the plan, the core modules.

use crate::engine::Engine;
use crate::error::Error;
use crate::module::{Library, Module};
use kiln_environ::component::{
    ComponentDescriptor, ComponentMetadata, COMPONENT_DESCRIPTOR_MAGIC, COMPONENT_DESCRIPTOR_SYMBOL,
};
use kiln_environ::{Descriptor, ABI_VERSION, DESCRIPTOR_SYMBOL};
use std::path::Path;
use std::sync::Arc;

pub(crate) struct ComponentInner {
    pub(crate) engine: Engine,
    pub(crate) metadata: ComponentMetadata,
    pub(crate) modules: Vec<Module>,
    path: std::path::PathBuf,
    /// Start and length of the compiled glue code (0, 0 when there is none).
    pub(crate) glue_text: (usize, usize),
    _library: Arc<Library>,
}

/// A loaded component `.so`: its plan and its core modules, checked.
#[derive(Clone)]
pub struct Component {
    pub(crate) inner: Arc<ComponentInner>,
}

impl std::fmt::Debug for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Component")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Component {
    /// Loads and checks a component shared object (descriptor, plan, every core module).
    pub fn load(engine: &Engine, path: &Path) -> Result<Component, Error> {
        let library = Library::open(path)?;
        let shown = path.display().to_string();
        let Some(desc) = library.symbol(COMPONENT_DESCRIPTOR_SYMBOL) else {
            let what = if library.symbol(DESCRIPTOR_SYMBOL).is_some() {
                "is a core module, not a component"
            } else {
                "is not a kiln component"
            };
            return Err(Error::Load(format!(
                "{shown} {what} (no `{COMPONENT_DESCRIPTOR_SYMBOL}` symbol)"
            )));
        };
        let desc = desc.cast::<ComponentDescriptor>();
        // SAFETY: the symbol is at least the 16-byte head (magic, version, size) of a
        // descriptor; the rest is read only after `size` is checked.
        let (magic, abi, size) = unsafe {
            (
                desc.cast::<[u8; 8]>().read_unaligned(),
                desc.cast::<u8>().add(8).cast::<u32>().read_unaligned(),
                desc.cast::<u8>().add(12).cast::<u32>().read_unaligned(),
            )
        };
        if magic != COMPONENT_DESCRIPTOR_MAGIC {
            return Err(Error::Load(format!(
                "not a kiln component: {shown} (bad descriptor magic)"
            )));
        }
        if abi != ABI_VERSION {
            return Err(Error::Load(format!(
                "{shown}: compiled for ABI version {abi}, this runtime supports {ABI_VERSION}"
            )));
        }
        if size < ComponentDescriptor::SIZE {
            return Err(Error::Load(format!(
                "not a kiln component: {shown} (descriptor of {size} bytes)"
            )));
        }
        // SAFETY: the descriptor has at least `SIZE` bytes (checked above).
        let d = unsafe { desc.read_unaligned() };
        if d.metadata.is_null() || (d.modules.is_null() && d.num_modules != 0) {
            return Err(Error::Load(format!(
                "not a kiln component: {shown} (null descriptor fields)"
            )));
        }
        // SAFETY: the descriptor promises `metadata_len` readable bytes at `metadata`.
        let bytes = unsafe { std::slice::from_raw_parts(d.metadata, d.metadata_len) };
        let metadata = ComponentMetadata::from_bytes(bytes)
            .map_err(|e| Error::Load(format!("{shown}: {e}")))?;
        if metadata.build.abi_version != ABI_VERSION {
            return Err(Error::Load(format!(
                "{shown}: plan written for ABI version {}",
                metadata.build.abi_version
            )));
        }
        metadata
            .check()
            .map_err(|e| Error::Load(format!("{shown}: {e}")))?;
        if d.num_modules != metadata.modules.len() {
            return Err(Error::Load(format!(
                "{shown}: descriptor lists {} core modules, the plan {}",
                d.num_modules,
                metadata.modules.len()
            )));
        }
        let mut modules = Vec::with_capacity(d.num_modules);
        for (i, info) in metadata.modules.iter().enumerate() {
            // SAFETY: the descriptor promises `num_modules` pointers at `modules`.
            let p = unsafe { d.modules.add(i).read_unaligned() };
            if p.is_null() {
                return Err(Error::Load(format!("{shown}: core module {i} is missing")));
            }
            let name = format!("{shown} (core module {i})");
            // SAFETY: a module descriptor linked into this library by the compiler.
            let module = unsafe {
                Module::from_descriptor(engine, library.clone(), p.cast::<Descriptor>(), &name)?
            };
            let imports: Vec<(String, String)> = module
                .imports()
                .iter()
                .map(|i| (i.module.clone(), i.name.clone()))
                .collect();
            if imports != info.imports {
                return Err(Error::Load(format!(
                    "{name}: its imports differ from the plan's"
                )));
            }
            modules.push(module);
        }
        Ok(Component {
            inner: Arc::new(ComponentInner {
                engine: engine.clone(),
                metadata,
                modules,
                path: path.to_path_buf(),
                glue_text: (d.glue_text as usize, d.glue_text_len),
                _library: library,
            }),
        })
    }

    /// The plan.
    pub fn metadata(&self) -> &ComponentMetadata {
        &self.inner.metadata
    }

    /// The component's imports, with their types.
    pub fn imports(&self) -> &[kiln_environ::component::ComponentImport] {
        &self.inner.metadata.imports
    }

    /// The component's exports, with their types.
    pub fn exports(&self) -> &[kiln_environ::component::ComponentExport] {
        &self.inner.metadata.exports
    }

    /// The distinct core modules, in plan order.
    pub fn core_modules(&self) -> &[Module] {
        &self.inner.modules
    }

    /// Start and length of the compiled canonical-ABI glue code.
    pub(crate) fn glue_text(&self) -> (usize, usize) {
        self.inner.glue_text
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}

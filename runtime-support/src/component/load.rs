//! Loading a component `.so`: the loader's checks (`loader/`), then the plan and every core
//! module's metadata from the verified bytes, then `dlopen` of those bytes.

use crate::engine::Engine;
use crate::error::Error;
use crate::loader::{Artifact, Library};
use crate::module::{decode_metadata, Module};
use kiln_environ::artifact::ArtifactKind;
use kiln_environ::component::ComponentMetadata;
use kiln_environ::{Fingerprint, ABI_VERSION};
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
    /// Loads a component shared object: checks the file (static verification, fingerprint,
    /// digest, signature when the engine requires one), the plan and every core module's
    /// metadata before anything from it is mapped, then `dlopen`s the verified bytes.
    pub fn load(engine: &Engine, path: &Path) -> Result<Component, Error> {
        let artifact = Artifact::open(engine, path, ArtifactKind::Component)?;
        let shown = artifact.shown().to_string();
        let v = artifact.verified();
        let d = v
            .component
            .clone()
            .expect("a verified component has its descriptor");
        let fingerprint: Fingerprint = v.fingerprint.clone();
        let metadata = ComponentMetadata::from_bytes(artifact.bytes(d.head.metadata))
            .map_err(|e| Error::Load(format!("{shown}: {e}")))?;
        if metadata.build.abi_version != ABI_VERSION
            || Fingerprint::of(&metadata.build) != fingerprint
        {
            return Err(Error::Load(format!(
                "{shown}: corrupt kiln plan: its build facts differ from the descriptor's \
                 fingerprint"
            )));
        }
        metadata
            .check()
            .map_err(|e| Error::Load(format!("{shown}: {e}")))?;
        if v.component_modules.len() != metadata.modules.len() {
            return Err(Error::Load(format!(
                "{shown}: descriptor lists {} core modules, the plan {}",
                v.component_modules.len(),
                metadata.modules.len()
            )));
        }
        let mut parts = Vec::with_capacity(metadata.modules.len());
        for (i, ((_, desc), info)) in v
            .component_modules
            .iter()
            .zip(&metadata.modules)
            .enumerate()
        {
            let name = format!("{shown} (core module {i})");
            let m = decode_metadata(
                &name,
                artifact.bytes(desc.head.metadata),
                &fingerprint,
                desc,
            )?;
            let same = m.0.imports.len() == info.imports.len()
                && m.0
                    .imports
                    .iter()
                    .zip(&info.imports)
                    .all(|(i, (module, name))| i.module == *module && i.name == *name);
            if !same {
                return Err(Error::Load(format!(
                    "{name}: its imports differ from the plan's"
                )));
            }
            let image_offset = v.file_offset(desc.data.addr, desc.data.len);
            parts.push((name, desc.clone(), m, image_offset));
        }
        let library = artifact.load()?;
        let modules = parts
            .into_iter()
            .map(|(name, desc, m, image_offset)| {
                Module::from_verified(&name, engine, library.clone(), &desc, m, image_offset)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let glue_text = if d.glue_text.len == 0 {
            (0, 0)
        } else {
            library.span(d.glue_text)
        };
        Ok(Component {
            inner: Arc::new(ComponentInner {
                engine: engine.clone(),
                metadata,
                modules,
                path: path.to_path_buf(),
                glue_text,
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

//! The artifact loader: everything between a path and a `dlopen`ed kiln shared object.
//!
//! `dlopen` runs code from a file (constructors, IFUNC resolvers, dependencies) before any of
//! its symbols can be looked up, and trusts its headers. So a file is checked as bytes first,
//! and only bytes that passed are loaded:
//!
//! 1. [`source`]: open the file once; map it (or a sealed private copy) read-only;
//! 2. `kiln_environ::artifact::verify`: the static verifier — exactly what kiln emits, nothing
//!    that runs at load, every range inside the file;
//! 3. [`compat`]: the fingerprint against this runtime and CPU (ABI, target, CPU features);
//! 4. the file checksum recorded at compile time against the bytes (binds code, data, metadata
//!    and everything else in the file together);
//! 5. with `EngineConfig::trusted_keys`, the detached signature `<file>.sig` over the file's
//!    SHA-256 digest (`signature`);
//! 6. the caller decodes and checks the metadata from the verified bytes;
//! 7. [`library`]: `dlopen` of the same open file, then checks that what the dynamic loader
//!    mapped is what was verified.
//!
//! Each refusal is an `Error::Load` naming the file and the reason; a file refused before
//! step 7 was never mapped executable.

mod compat;
mod library;
mod name;
mod source;

pub use compat::has_cpu_feature;
pub(crate) use library::Library;
pub use source::ArtifactSharing;

use crate::engine::Engine;
use crate::error::Error;
use crate::signature;
use kiln_environ::artifact::check_checksum;
use kiln_environ::artifact::{verify, ArtifactError, ArtifactKind, Machine, Verified};
use kiln_environ::descriptor::Span;
use source::Source;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A kiln shared object whose bytes passed every check before `dlopen` (steps 1–5).
pub(crate) struct Artifact {
    source: Source,
    verified: Verified,
    path: PathBuf,
    shown: String,
}

fn refused_file(shown: &str, e: ArtifactError) -> Error {
    Error::Load(format!("{shown}: refused before loading: {e}"))
}

impl Artifact {
    /// Opens and checks the artifact at `path`, which must be of `kind`. Every refusal says
    /// "refused before loading": nothing from the file was mapped executable or run.
    pub(crate) fn open(
        engine: &Engine,
        path: &Path,
        kind: ArtifactKind,
    ) -> Result<Artifact, Error> {
        let shown = path.display().to_string();
        let config = engine.config();
        let source = Source::open(path, config.artifact_sharing)?;
        let refused = |why: String| Error::Load(format!("{shown}: refused before loading: {why}"));
        let bytes = source.bytes();
        let machine = Machine::host()
            .ok_or_else(|| refused(format!("kiln does not run on {}", std::env::consts::ARCH)))?;
        let verified = verify(bytes, Some(machine)).map_err(|e| refused(e.to_string()))?;
        if verified.kind != kind {
            let (is, not, how) = match verified.kind {
                ArtifactKind::Module => (
                    "a core module",
                    "a component",
                    "Module::load, in C kiln_module_load",
                ),
                ArtifactKind::Component => (
                    "a component",
                    "a core module",
                    "Component::load, in C kiln_component_load",
                ),
            };
            return Err(refused(format!(
                "it is {is}, not {not} (it exports `{}`; load it with {how})",
                verified.kind.symbol()
            )));
        }
        compat::check(&verified.fingerprint).map_err(refused)?;
        check_checksum(bytes, &verified).map_err(|e| refused(e.to_string()))?;
        if let Some(keys) = &config.trusted_keys {
            let sig = signature::read_signature(&signature::signature_path(path))
                .map_err(|e| refused(load_message(e)))?;
            let digest = signature::digest::file_digest(bytes);
            keys.verify_digest(&digest, &sig)
                .map_err(|e| refused(load_message(e)))?;
        }
        Ok(Artifact {
            source,
            verified,
            path: path.to_path_buf(),
            shown,
        })
    }

    /// What the verifier found.
    pub(crate) fn verified(&self) -> &Verified {
        &self.verified
    }

    /// The file bytes of a verified span (metadata, fingerprint...).
    pub(crate) fn bytes(&self, span: Span) -> &[u8] {
        self.verified.bytes(self.source.bytes(), span)
    }

    /// The path as shown in messages.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// `dlopen`s the verified bytes and checks the mapping (step 7).
    pub(crate) fn load(self) -> Result<Arc<Library>, Error> {
        Library::open(self.source, &self.verified, &self.path)
    }
}

fn load_message(e: Error) -> String {
    match e {
        Error::Load(m) | Error::Other(m) | Error::Link(m) | Error::Busy(m) => m,
        other => other.to_string(),
    }
}

/// Checks the artifact at `path` as the loader does before `dlopen` — structure and checksum,
/// for any kiln target, nothing mapped executable — then gives its bytes to `then`.
pub(crate) fn with_verified_file<T>(
    path: &Path,
    then: impl FnOnce(&[u8]) -> T,
) -> Result<T, Error> {
    let shown = path.display().to_string();
    let source = Source::open(path, ArtifactSharing::Auto)?;
    let bytes = source.bytes();
    let verified = verify(bytes, None).map_err(|e| refused_file(&shown, e))?;
    check_checksum(bytes, &verified).map_err(|e| refused_file(&shown, e))?;
    Ok(then(bytes))
}

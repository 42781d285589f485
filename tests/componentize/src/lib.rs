//! `kiln-componentize`: the test-side tool that turns guest core modules built from
//! `samples/components/` into components (before kiln compiles them to `.so`).
//!
//! [`componentize`] embeds a WIT world into a core module (`wit-component`'s
//! `embed_component_metadata`) and encodes the component with `ComponentEncoder`, adding the
//! WASI preview1 adapter (`wasi-preview1-component-adapter-provider`) only when the module
//! imports `wasi_snapshot_preview1`. [`componentize_command`] turns a wasi-libc command (a
//! core module exporting `_start`) into a `wasi:cli/run` command component with the preview1
//! command adapter and no WIT world of its own. [`compose`] plugs components into the imports
//! of a root component with `wasm-compose`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
pub use wit_component::StringEncoding;

/// Parses the WIT package at `wit` (a `.wit` file or a directory) and selects `world`
/// (the package's only world when `None`).
fn load_world(
    wit: &Path,
    world: Option<&str>,
) -> Result<(wit_parser::Resolve, wit_parser::WorldId)> {
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve
        .push_path(wit)
        .with_context(|| format!("parsing WIT at {}", wit.display()))?;
    let world = resolve
        .select_world(&[pkg], world)
        .with_context(|| format!("selecting the world in {}", wit.display()))?;
    Ok((resolve, world))
}

/// What a core module imports from WASI preview1 and whether it is a command (`_start`).
fn wasi_usage(core: &[u8]) -> Result<(bool, bool)> {
    let mut imports_wasi = false;
    let mut command = false;
    for payload in wasmparser::Parser::new(0).parse_all(core) {
        match payload.context("parsing the core module")? {
            wasmparser::Payload::ImportSection(s) => {
                for imp in s.into_imports() {
                    if imp?.module == WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME {
                        imports_wasi = true;
                    }
                }
            }
            wasmparser::Payload::ExportSection(s) => {
                for e in s {
                    if e?.name == "_start" {
                        command = true;
                    }
                }
            }
            wasmparser::Payload::Version {
                encoding: wasmparser::Encoding::Component,
                ..
            } => bail!("the input is already a component, not a core module"),
            _ => {}
        }
    }
    Ok((imports_wasi, command))
}

/// Embeds WIT world `world` of the package at `wit` into core module `core` (strings in
/// `encoding`) and returns the encoded component.
pub fn componentize(
    core: &[u8],
    wit: &Path,
    world: Option<&str>,
    encoding: StringEncoding,
) -> Result<Vec<u8>> {
    let (resolve, world) = load_world(wit, world)?;
    let (imports_wasi, command) = wasi_usage(core)?;
    let mut module = core.to_vec();
    wit_component::embed_component_metadata(&mut module, &resolve, world, encoding)
        .context("embedding the WIT world")?;
    let mut encoder = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .context("reading the core module")?;
    if imports_wasi {
        let adapter = if command {
            WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER
        } else {
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
        };
        encoder = encoder
            .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter)
            .context("adding the WASI preview1 adapter")?;
    }
    encoder.encode().context("encoding the component")
}

/// Encodes a wasi-libc command core module (it exports `_start` and imports
/// `wasi_snapshot_preview1`) as a command component: the preview1 command adapter exports
/// `wasi:cli/run` and calls `_start`; the module needs no embedded WIT world.
pub fn componentize_command(core: &[u8]) -> Result<Vec<u8>> {
    let (imports_wasi, command) = wasi_usage(core)?;
    if !command {
        bail!("the core module exports no `_start`: not a command (build it with main and libc's start files)");
    }
    if !imports_wasi {
        bail!("the core module imports nothing from `{WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME}`: not a wasi-libc command");
    }
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(core)
        .context("reading the core module")?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .context("adding the WASI preview1 command adapter")?
        .encode()
        .context("encoding the command component")
}

/// Composes `root` with `definitions` (components whose exports satisfy `root`'s imports,
/// matched by name) into one component; imports nothing can satisfy are an error.
pub fn compose(root: &Path, definitions: &[PathBuf]) -> Result<Vec<u8>> {
    let config = wasm_compose::config::Config {
        dir: root.parent().map(Path::to_path_buf).unwrap_or_default(),
        definitions: definitions.to_vec(),
        disallow_imports: true,
        ..Default::default()
    };
    wasm_compose::composer::ComponentComposer::new(root, &config)
        .compose()
        .with_context(|| format!("composing {}", root.display()))
}

/// Parses a string-encoding name as used by the command line (`utf8`, `utf16`, `latin1+utf16`).
pub fn parse_encoding(name: &str) -> Result<StringEncoding> {
    Ok(match name {
        "utf8" => StringEncoding::UTF8,
        "utf16" => StringEncoding::UTF16,
        "latin1+utf16" | "compact-utf16" => StringEncoding::CompactUTF16,
        other => bail!("unknown string encoding `{other}` (utf8, utf16 or latin1+utf16)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wit() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/components/c/wit")
    }

    #[test]
    fn encodings_by_name() {
        assert_eq!(parse_encoding("utf8").unwrap(), StringEncoding::UTF8);
        assert_eq!(parse_encoding("utf16").unwrap(), StringEncoding::UTF16);
        assert_eq!(
            parse_encoding("latin1+utf16").unwrap(),
            StringEncoding::CompactUTF16
        );
        assert!(parse_encoding("ascii").is_err());
    }

    #[test]
    fn bad_inputs_are_errors() {
        // Not wasm at all.
        let e = componentize(b"nope", &wit(), Some("consumer"), StringEncoding::UTF8);
        assert!(e.is_err());
        // A component instead of a core module.
        let component = [0, b'a', b's', b'm', 0x0d, 0, 1, 0];
        let e =
            componentize(&component, &wit(), Some("consumer"), StringEncoding::UTF8).unwrap_err();
        assert!(format!("{e:#}").contains("already a component"), "{e:#}");
        // A world that does not exist.
        let empty = [0, b'a', b's', b'm', 1, 0, 0, 0];
        assert!(componentize(&empty, &wit(), Some("nope"), StringEncoding::UTF8).is_err());
        // A module missing the world's exports.
        let e = componentize(&empty, &wit(), Some("consumer"), StringEncoding::UTF8).unwrap_err();
        assert!(format!("{e:#}").contains("tally"), "{e:#}");
    }

    #[test]
    fn command_needs_start_and_wasi() {
        assert!(componentize_command(b"nope").is_err());
        let empty = [0, b'a', b's', b'm', 1, 0, 0, 0];
        let e = componentize_command(&empty).unwrap_err();
        assert!(format!("{e:#}").contains("_start"), "{e:#}");
    }
}

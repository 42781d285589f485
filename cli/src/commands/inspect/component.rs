//! `kiln inspect` for component shared objects: reads the component descriptor and plan
//! statically (like the module report, nothing is loaded) and prints the build facts, the core
//! modules, the plan's size and the component's WIT-like world.

use anyhow::{anyhow, bail, Result};
use kiln_environ::artifact::check_checksum;
use kiln_environ::artifact::{verify, ArtifactKind};
use kiln_environ::component::ComponentMetadata;
use std::fmt::Write as _;

/// Whether `data` is a kiln shared object exporting the component descriptor (by the static
/// verifier's reading, as the runtime decides).
pub fn is_component(data: &[u8]) -> bool {
    verify(data, None).is_ok_and(|v| v.kind == ArtifactKind::Component)
}

/// Reads the plan of a component `.so` without loading it.
pub fn read_component(data: &[u8]) -> Result<ComponentMetadata> {
    read(data).map(|(m, _, _)| m)
}

/// What a component report shows: the plan, fingerprint and checksum status.
type Read = (
    ComponentMetadata,
    kiln_environ::Fingerprint,
    ([u8; 16], Result<(), String>),
);

/// The plan, fingerprint and checksum status of a component `.so`.
fn read(data: &[u8]) -> Result<Read> {
    let v = super::verify_artifact(data)?;
    let Some(d) = v
        .component
        .as_ref()
        .filter(|_| v.kind == ArtifactKind::Component)
    else {
        bail!("a core module, not a component");
    };
    let plan =
        ComponentMetadata::from_bytes(v.bytes(data, d.head.metadata)).map_err(|e| anyhow!(e))?;
    let checksum = (
        v.recorded_checksum,
        check_checksum(data, &v).map_err(|e| e.to_string()),
    );
    Ok((plan, v.fingerprint.clone(), checksum))
}

/// The report for a component `.so`.
pub fn inspect_component(data: &[u8]) -> Result<String> {
    let (m, fingerprint, checksum) = read(data)?;
    let digest = kiln_runtime::signature::digest::file_digest(data);
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "kind:           component");
    super::build_lines(w, &fingerprint, &m.build.input_sha256, &checksum, &digest);
    let _ = writeln!(w, "\ncore modules ({}):", m.modules.len());
    for (i, module) in m.modules.iter().enumerate() {
        let name = module.name.as_deref().unwrap_or("<unnamed>");
        let _ = writeln!(
            w,
            "  [{i}] {name} (offset {:#x}, {} imports)",
            module.offset,
            module.imports.len()
        );
    }
    let _ = writeln!(w, "\nplan:");
    let _ = writeln!(w, "  initializers        {}", m.initializers.len());
    let _ = writeln!(w, "  component instances {}", m.num_component_instances);
    let _ = writeln!(w, "  core instances      {}", m.num_runtime_instances);
    let _ = writeln!(w, "  lifted functions    {}", m.num_lifted);
    let _ = writeln!(w, "  lowered functions   {}", m.num_lowered);
    let _ = writeln!(w, "  resource types      {}", m.resources.len());
    let _ = writeln!(w, "\n{}", m.wit_world());
    Ok(out)
}

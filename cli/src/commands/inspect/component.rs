//! `kiln inspect` for component shared objects: reads the component descriptor and plan
//! statically (like the module report, nothing is loaded) and prints the build facts, the core
//! modules, the plan's size and the component's WIT-like world.

use anyhow::{anyhow, bail, Result};
use kiln_environ::component::{
    ComponentDescriptor, ComponentMetadata, COMPONENT_DESCRIPTOR_MAGIC, COMPONENT_DESCRIPTOR_SYMBOL,
};
use object::{Object, ObjectSection, ObjectSymbol};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Whether `data` is an object file exporting the component descriptor.
pub fn is_component(data: &[u8]) -> bool {
    object::File::parse(data).is_ok_and(|f| {
        f.dynamic_symbols()
            .chain(f.symbols())
            .any(|s| s.name() == Ok(COMPONENT_DESCRIPTOR_SYMBOL) && s.is_definition())
    })
}

/// Reads the plan of a component `.so` without loading it.
pub fn read_component(data: &[u8]) -> Result<ComponentMetadata> {
    let file = object::File::parse(data).map_err(|e| anyhow!("not an object file: {e}"))?;
    let desc = file
        .dynamic_symbols()
        .chain(file.symbols())
        .find(|s| s.name() == Ok(COMPONENT_DESCRIPTOR_SYMBOL) && s.is_definition())
        .ok_or_else(|| anyhow!("no `{COMPONENT_DESCRIPTOR_SYMBOL}` symbol"))?
        .address();
    let relocs: HashMap<u64, i64> = file
        .dynamic_relocations()
        .map(|it| {
            it.filter(|(_, r)| !r.has_implicit_addend())
                .map(|(off, r)| (off, r.addend()))
                .collect()
        })
        .unwrap_or_default();
    let read = |addr: u64, len: u64| -> Result<&[u8]> {
        for s in file.sections() {
            let (start, size) = (s.address(), s.size());
            if addr >= start && addr.saturating_add(len) <= start.saturating_add(size) {
                let bytes = s.data().map_err(|e| anyhow!("{e}"))?;
                let from = (addr - start) as usize;
                return bytes
                    .get(from..from.saturating_add(len as usize))
                    .ok_or_else(|| anyhow!("address {addr:#x} has no file data"));
            }
        }
        bail!("address {addr:#x} (+{len}) is outside every section")
    };
    let word = |addr: u64| -> Result<u64> {
        let b = read(addr, 8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    if read(desc, 8)? != COMPONENT_DESCRIPTOR_MAGIC {
        bail!("the component descriptor has the wrong magic bytes");
    }
    let meta_addr = desc + u64::from(ComponentDescriptor::OFFSET_METADATA);
    let meta_ptr = match relocs.get(&meta_addr) {
        Some(addend) => *addend as u64,
        None => word(meta_addr)?,
    };
    let meta_len = word(desc + u64::from(ComponentDescriptor::OFFSET_METADATA_LEN))?;
    ComponentMetadata::from_bytes(read(meta_ptr, meta_len)?).map_err(|e| anyhow!(e))
}

/// The report for a component `.so`.
pub fn inspect_component(data: &[u8]) -> Result<String> {
    let m = read_component(data)?;
    let b = &m.build;
    let mut out = String::new();
    let w = &mut out;
    let hash: String = b.input_sha256.iter().map(|x| format!("{x:02x}")).collect();
    let _ = writeln!(w, "kind:           component");
    let _ = writeln!(w, "kiln version:   {}", b.kiln_version);
    let _ = writeln!(w, "ABI version:    {}", b.abi_version);
    let _ = writeln!(w, "target:         {}", b.target);
    let _ = writeln!(w, "input sha256:   {hash}");
    let _ = writeln!(w, "opt level:      {}", b.opt_level);
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

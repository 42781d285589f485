//! The component object: the serialized plan and the exported component descriptor.
//!
//! Holds `.kiln.cmeta` (the encoded fingerprint, then the postcard-serialized
//! [`ComponentMetadata`]), an array of pointers
//! to the core modules' (hidden) descriptors, relocated against undefined symbols that the
//! modules' own objects define, and the descriptor [`COMPONENT_DESCRIPTOR_SYMBOL`], the only
//! symbol the linked shared object exports.

use crate::error::{CompileError, Result};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_object::{ObjectBuilder, ObjectModule};
use kiln_environ::component::{
    module_descriptor_symbol, ComponentDescriptor, ComponentMetadata, COMPONENT_DESCRIPTOR_SYMBOL,
};
use kiln_environ::descriptor::{DescriptorHead, Pointee, DESCRIPTOR_SIZE};
use kiln_environ::{Fingerprint, Span};
use object::write::{Relocation, StandardSection, Symbol, SymbolId, SymbolSection};
use object::{
    RelocationEncoding, RelocationFlags, RelocationKind, SectionKind, SymbolFlags, SymbolKind,
    SymbolScope,
};
use std::path::Path;
use std::process::Command;

fn emit_err(e: impl std::fmt::Display) -> CompileError {
    CompileError::msg(format!("component object emission failed: {e}"))
}

fn abs64(symbol: SymbolId, offset: u64, addend: i64) -> Relocation {
    Relocation {
        offset,
        symbol,
        addend,
        flags: RelocationFlags::Generic {
            kind: RelocationKind::Absolute,
            encoding: RelocationEncoding::Generic,
            size: 64,
        },
    }
}

/// Writes the component object for `metadata`, with the compiled canonical-ABI glue code
/// `glue` (see [`super::glue`]; may be empty) and its call-frame information `unwind` (glue
/// offset, unwind info), written as `.eh_frame` so unwinders walk through glue frames.
pub fn emit_component(
    isa: OwnedTargetIsa,
    metadata: &ComponentMetadata,
    glue: &[u8],
    unwind: &[(u32, cranelift_codegen::isa::unwind::UnwindInfo)],
) -> Result<Vec<u8>> {
    let builder = ObjectBuilder::new(
        isa.clone(),
        "kiln-component",
        cranelift_module::default_libcall_names(),
    )
    .map_err(emit_err)?;
    let product = ObjectModule::new(builder).finish();
    let mut object = product.object;

    let meta_bytes = metadata.to_bytes();
    let fingerprint = Fingerprint::of(&metadata.build).encode();
    // `.kiln.cmeta`: the fingerprint, then the plan.
    let meta_section = object.add_section(
        Vec::new(),
        b".kiln.cmeta".to_vec(),
        SectionKind::ReadOnlyData,
    );
    let fp_offset = object.append_section_data(meta_section, fingerprint.as_bytes(), 8);
    let meta_offset = object.append_section_data(meta_section, &meta_bytes, 8);
    let meta_symbol = object.section_symbol(meta_section);

    let rel = object.section_id(StandardSection::ReadOnlyDataWithRel);
    let rel_symbol = object.section_symbol(rel);
    let n = metadata.modules.len();
    let array_offset = if n > 0 {
        let at = object.append_section_data(rel, &vec![0u8; 8 * n], 8);
        for i in 0..n {
            let symbol = object.add_symbol(Symbol {
                name: module_descriptor_symbol(i as u32).into_bytes(),
                value: 0,
                size: 0,
                kind: SymbolKind::Data,
                scope: SymbolScope::Linkage,
                weak: false,
                section: SymbolSection::Undefined,
                flags: SymbolFlags::None,
            });
            object
                .add_relocation(rel, abs64(symbol, at + 8 * i as u64, 0))
                .map_err(emit_err)?;
        }
        Some(at)
    } else {
        None
    };
    let glue_at = if glue.is_empty() {
        None
    } else {
        let text = object.section_id(StandardSection::Text);
        let at = object.append_section_data(text, glue, 16);
        object.add_symbol(Symbol {
            name: b"kiln_component_glue".to_vec(),
            value: at,
            size: glue.len() as u64,
            kind: SymbolKind::Text,
            scope: SymbolScope::Compilation,
            weak: false,
            section: SymbolSection::Section(text),
            flags: SymbolFlags::None,
        });
        let placed: Vec<(u64, &_)> = unwind
            .iter()
            .map(|(o, u)| (at + u64::from(*o), u))
            .collect();
        crate::debug::emit_glue_unwind_info(&mut object, text, &*isa, &placed)?;
        Some((object.section_symbol(text), at))
    };

    // The descriptor: lengths in place, pointers as relocations (the file checksum is written
    // after linking).
    let desc = ComponentDescriptor {
        head: DescriptorHead {
            checksum: [0; 16],
            fingerprint: Span::new(0, fingerprint.len() as u64),
            metadata: Span::new(0, meta_bytes.len() as u64),
        },
        modules: Span::new(0, n as u64),
        glue_text: Span::new(0, glue.len() as u64),
    };
    let desc_offset = object.append_section_data(rel, &desc.encode(), 16);
    for (field, pointee) in ComponentDescriptor::POINTERS {
        let (symbol, addend) = match pointee {
            Pointee::Fingerprint => (meta_symbol, fp_offset),
            Pointee::Metadata => (meta_symbol, meta_offset),
            Pointee::Modules => match array_offset {
                Some(at) => (rel_symbol, at),
                None => continue,
            },
            Pointee::GlueText => match glue_at {
                Some(target) => target,
                None => continue,
            },
            Pointee::Text | Pointee::Data => {
                unreachable!("a component descriptor has no {pointee:?} field")
            }
        };
        object
            .add_relocation(
                rel,
                abs64(symbol, desc_offset + u64::from(field), addend as i64),
            )
            .map_err(emit_err)?;
    }
    object.add_symbol(Symbol {
        name: COMPONENT_DESCRIPTOR_SYMBOL.as_bytes().to_vec(),
        value: desc_offset,
        size: u64::from(DESCRIPTOR_SIZE),
        kind: SymbolKind::Data,
        scope: SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Section(rel),
        flags: SymbolFlags::None,
    });
    object.write().map_err(emit_err)
}

/// Combines relocatable objects into one relocatable object (`ld -r`), for `--emit obj`.
pub fn link_relocatable(objects: &[&[u8]], out: &Path) -> Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "kiln-component-{}-{:x}",
        std::process::id(),
        out.as_os_str().len() ^ (objects.len() << 8)
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| CompileError::msg(format!("cannot create {}: {e}", dir.display())))?;
    let mut paths = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        let p = dir.join(format!("part{i}.o"));
        std::fs::write(&p, o)
            .map_err(|e| CompileError::msg(format!("cannot write {}: {e}", p.display())))?;
        paths.push(p);
    }
    let linker = std::env::var("KILN_LINKER").unwrap_or_else(|_| "ld".to_string());
    let result = Command::new(&linker)
        .arg("-r")
        .arg("-o")
        .arg(out)
        .args(&paths)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let output =
        result.map_err(|e| CompileError::msg(format!("cannot run the linker `{linker}` ({e})")))?;
    if !output.status.success() {
        return Err(CompileError::msg(format!(
            "linker `{linker}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

//! The component type of every WASI 0.2 and 0.3 function kiln's host defines
//! (`signatures.txt`: one `import path<TAB>type` line each, in `kiln_environ::component::text`
//! form, generated from WASI's WIT and checked against it by
//! `kiln-diff --check-wasi-signatures`). `define`
//! declares each function's type to the linker, which then refuses a component whose import
//! of it has another type, instead of letting the call fail (or run) with mismatched values.

use crate::component::HostFuncType;
use kiln_environ::component::text::parse_func;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The table, parsed once.
fn table() -> &'static HashMap<String, HostFuncType> {
    static TABLE: OnceLock<HashMap<String, HostFuncType>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut out = HashMap::new();
        for line in include_str!("signatures.txt").lines() {
            let Some((path, text)) = line.split_once('\t') else {
                continue;
            };
            let mut resources = Vec::new();
            let ty = parse_func(text, &mut |p| {
                resources.push(p.to_string());
                (resources.len() - 1) as u32
            })
            .unwrap_or_else(|e| panic!("invalid WASI signature table entry `{path}`: {e}"));
            out.insert(path.to_string(), HostFuncType { ty, resources });
        }
        out
    })
}

/// The declared type of WASI function `path`, if the table has it.
pub(crate) fn signature(path: &str) -> Option<&'static HostFuncType> {
    table().get(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wasi_function_has_its_type() {
        let engine = crate::Engine::default();
        let mut linker = crate::ComponentLinker::new(&engine);
        crate::wasi::add_to_linker(&mut linker, crate::wasi::WasiConfig::default());
        let missing: Vec<&String> = linker
            .funcs
            .paths()
            .filter(|p| signature(p).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "WASI functions without a signature: {missing:#?}"
        );
    }

    #[test]
    fn the_table_parses() {
        assert!(table().len() > 100, "{} signatures", table().len());
        let t = signature("wasi:random/random@0.2.12#get-random-u64").expect("in the table");
        assert_eq!(t.ty.to_string(), "func() -> u64");
    }
}

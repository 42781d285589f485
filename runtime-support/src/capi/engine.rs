//! C API: engines (`kiln_engine_t`) and loaded modules (`kiln_module_t`) with their import and
//! export lists.

use super::*;
use crate::engine::{Engine, EngineConfig};
use crate::module::Module;
use kiln_environ::{ExportKind, ImportKind};

/// `kiln_engine_t`: an engine handle.
pub struct kiln_engine_t {
    pub(super) engine: Engine,
}

/// `kiln_engine_config_t`: engine configuration.
#[repr(C)]
pub struct kiln_engine_config_t {
    /// Guest stack budget in bytes (0: default).
    pub max_wasm_stack: usize,
    /// Keys every loaded artifact must be signed by (NULL: no signature required).
    pub trusted_keys: *const super::trust::kiln_trusted_keys_t,
    /// Always load a sealed private copy of each artifact.
    pub always_copy: bool,
}

/// `kiln_module_t`: a module handle and the C strings of its imports and exports.
pub struct kiln_module_t {
    pub(super) module: Module,
    imports: Vec<(CString, CString, kiln_externkind_t)>,
    exports: Vec<(CString, kiln_externkind_t, u32)>,
}

/// `kiln_import_t`: an import (strings borrowed from the module).
#[repr(C)]
pub struct kiln_import_t {
    /// Module name.
    pub module: *const c_char,
    /// Field name.
    pub name: *const c_char,
    /// `KILN_EXTERN_*`
    pub kind: kiln_externkind_t,
}

/// `kiln_export_t`: an export (name borrowed from the module).
#[repr(C)]
pub struct kiln_export_t {
    /// Export name.
    pub name: *const c_char,
    /// `KILN_EXTERN_*`
    pub kind: kiln_externkind_t,
    /// Index in the module's index space of that kind.
    pub index: u32,
}

/// The C tag of an export kind.
pub(super) fn extern_kind(k: ExportKind) -> kiln_externkind_t {
    match k {
        ExportKind::Func => 0,
        ExportKind::Table => 1,
        ExportKind::Memory => 2,
        ExportKind::Global => 3,
        ExportKind::Tag => 4,
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_engine_config_default(config: *mut kiln_engine_config_t) {
    if !config.is_null() {
        let d = EngineConfig::default();
        // SAFETY: non-null and valid for writes per the contract.
        unsafe {
            config.write(kiln_engine_config_t {
                max_wasm_stack: d.max_wasm_stack,
                trusted_keys: std::ptr::null(),
                always_copy: false,
            })
        };
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_engine_new(
    config: *const kiln_engine_config_t,
) -> *mut kiln_engine_t {
    let mut c = EngineConfig::default();
    // SAFETY: NULL or a valid config per the contract.
    if let Some(cfg) = unsafe { config.as_ref() } {
        if cfg.max_wasm_stack != 0 {
            c.max_wasm_stack = cfg.max_wasm_stack;
        }
        // SAFETY: NULL or live keys per the contract; the engine keeps its own copy.
        if let Some(keys) = unsafe { cfg.trusted_keys.as_ref() } {
            c.trusted_keys = Some(std::sync::Arc::new(keys.keys.clone()));
        }
        if cfg.always_copy {
            c.artifact_sharing = crate::ArtifactSharing::AlwaysCopy;
        }
    }
    catch(|| {
        Ok(boxed(kiln_engine_t {
            engine: Engine::new(c),
        }))
    })
    .unwrap_or(std::ptr::null_mut())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_engine_delete(engine: *mut kiln_engine_t) {
    // SAFETY: NULL or an engine from this API.
    unsafe { free(engine) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_engine_increment_epoch(engine: *const kiln_engine_t) {
    // SAFETY: NULL or a live engine.
    if let Some(e) = unsafe { engine.as_ref() } {
        e.engine.increment_epoch();
    }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_engine_epoch(engine: *const kiln_engine_t) -> u64 {
    // SAFETY: NULL or a live engine.
    unsafe { engine.as_ref() }.map_or(0, |e| e.engine.epoch())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_module_load(
    engine: *const kiln_engine_t,
    path: *const c_char,
    out: *mut *mut kiln_module_t,
) -> *mut kiln_error_t {
    wrap(|| {
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: pointers are NULL or valid per kiln.h (caller contract).
        let engine = unsafe { handle(engine, "engine") }?;
        if path.is_null() {
            return Err(null("path"));
        }
        // SAFETY: non-null and NUL-terminated; paths need not be UTF-8.
        let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
        use std::os::unix::ffi::OsStrExt;
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(bytes));
        let module = Module::load(&engine.engine, path)?;
        let imports = module
            .imports()
            .iter()
            .map(|i| {
                let kind = match i.kind {
                    ImportKind::Func(_) => 0,
                    ImportKind::Table(_) => 1,
                    ImportKind::Memory(_) => 2,
                    ImportKind::Global(_) => 3,
                    ImportKind::Tag(_) => 4,
                };
                (c_string(&i.module), c_string(&i.name), kind)
            })
            .collect();
        let exports = module
            .exports()
            .iter()
            .map(|e| (c_string(&e.name), extern_kind(e.kind), e.index))
            .collect();
        *out = boxed(kiln_module_t {
            module,
            imports,
            exports,
        });
        Ok(())
    })
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_module_delete(module: *mut kiln_module_t) {
    // SAFETY: NULL or a module from this API.
    unsafe { free(module) }
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_module_import_count(module: *const kiln_module_t) -> usize {
    // SAFETY: NULL or a live module.
    unsafe { module.as_ref() }.map_or(0, |m| m.imports.len())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_module_import(
    module: *const kiln_module_t,
    index: usize,
    out: *mut kiln_import_t,
) -> bool {
    // SAFETY: NULL or a live module.
    let Some((m, n, kind)) = (unsafe { module.as_ref() }).and_then(|m| m.imports.get(index)) else {
        return false;
    };
    if out.is_null() {
        return false;
    }
    // SAFETY: non-null and valid for writes per the contract.
    unsafe {
        out.write(kiln_import_t {
            module: m.as_ptr(),
            name: n.as_ptr(),
            kind: *kind,
        })
    };
    true
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_module_export_count(module: *const kiln_module_t) -> usize {
    // SAFETY: NULL or a live module.
    unsafe { module.as_ref() }.map_or(0, |m| m.exports.len())
}

#[unsafe(no_mangle)]
/// See `kiln.h`.
pub unsafe extern "C" fn kiln_module_export(
    module: *const kiln_module_t,
    index: usize,
    out: *mut kiln_export_t,
) -> bool {
    // SAFETY: NULL or a live module.
    let Some((n, kind, i)) = (unsafe { module.as_ref() }).and_then(|m| m.exports.get(index)) else {
        return false;
    };
    if out.is_null() {
        return false;
    }
    // SAFETY: non-null and valid for writes per the contract.
    unsafe {
        out.write(kiln_export_t {
            name: n.as_ptr(),
            kind: *kind,
            index: *i,
        })
    };
    true
}

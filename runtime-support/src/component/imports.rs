//! Host functions for component imports, defined by WIT name and taking and returning
//! component values ([`Val`]), reached from the guest through the compiled import trampolines.
//!
//! A lowered import becomes a host function whose array-call entry is the trampoline compiled
//! for that `canon lower` (`kiln_compiler::component::glue::import`); its host context carries
//! the component VM context, [`host_callback`] and the [`LoweredHost`] it needs. The trampoline
//! lifts the guest's arguments into the host C representation; the callback decodes them into
//! [`Val`]s, runs the closure, and encodes the result back (its out-of-line data lives in the
//! current call's arena until the trampoline has copied it into the guest).

use super::glue_builtins::keep_in_arena;
use super::instance::ComponentLinker;
use super::load::Component;
use super::values::{decode, encode, Val};
use crate::error::{Error, Trap};
use crate::func::{Caller, Func};
use crate::traps;
use kiln_environ::component::host::{host_field_offsets, host_layout};
use kiln_environ::component::{ComponentFuncType, InterfaceType};
use kiln_environ::FuncType;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// The closure type of component host functions: arguments in, optional result out.
pub type ValHostFn = dyn Fn(&[Val]) -> Result<Option<Val>, Trap> + Send + Sync;

impl ComponentLinker {
    /// Defines the function import `path` (`name` for a world-level function,
    /// `ns:pkg/iface#name` inside an imported interface) with a closure over component values.
    pub fn func(
        &mut self,
        path: &str,
        f: impl Fn(&[Val]) -> Result<Option<Val>, Trap> + Send + Sync + 'static,
    ) -> &mut Self {
        self.typed.insert(path.to_string(), Arc::new(f));
        self
    }

    /// Defines function `name` of the imported interface (instance) `interface`.
    pub fn interface_func(
        &mut self,
        interface: &str,
        name: &str,
        f: impl Fn(&[Val]) -> Result<Option<Val>, Trap> + Send + Sync + 'static,
    ) -> &mut Self {
        self.func(&format!("{interface}#{name}"), f)
    }
}

/// What the host callback of one lowered import needs.
struct LoweredHost {
    ty: ComponentFuncType,
    f: Arc<ValHostFn>,
}

/// The core function for lowered import `index`, calling `f` through the compiled trampoline.
pub(super) fn lowered_func(
    component: &Component,
    index: u32,
    cvmctx: usize,
    core_ty: FuncType,
    ty: &ComponentFuncType,
    f: Arc<ValHostFn>,
) -> Result<Func, Error> {
    let offset = component
        .metadata()
        .glue
        .imports
        .get(index as usize)
        .copied()
        .flatten()
        .ok_or_else(|| {
            Error::Link(format!(
                "import of type {ty} has no compiled glue (resource handles are not supported \
                 by the glue yet)"
            ))
        })?;
    let (text, len) = component.glue_text();
    if text == 0 || offset as usize >= len {
        return Err(Error::Link(
            "import trampoline outside the glue code (corrupt component)".into(),
        ));
    }
    let host = Arc::new(LoweredHost { ty: ty.clone(), f });
    let data = Arc::as_ptr(&host) as usize;
    let keep = host.clone();
    Ok(Func::new_with_array_call(
        component.engine(),
        core_ty,
        text + offset as usize,
        [cvmctx, host_callback as *const () as usize, data],
        move |_: &mut Caller<'_>, _, _| {
            let _ = &keep;
            Err(Trap::host(
                "a lowered component import cannot be called directly from the host",
            ))
        },
    ))
}

/// The core function for lowered function `index` when it is a compiled fused adapter to a
/// function lifted by another component of the plan (`None` when the compiler emitted none).
pub(super) fn adapter_func(
    component: &Component,
    index: u32,
    cvmctx: usize,
    core_ty: FuncType,
) -> Option<Func> {
    let offset = component
        .metadata()
        .glue
        .imports
        .get(index as usize)
        .copied()
        .flatten()?;
    let (text, len) = component.glue_text();
    if text == 0 || offset as usize >= len {
        return None;
    }
    Some(Func::new_with_array_call(
        component.engine(),
        core_ty,
        text + offset as usize,
        [cvmctx, 0, 0],
        |_: &mut Caller<'_>, _, _| {
            Err(Trap::host(
                "a lowered component function cannot be called directly from the host",
            ))
        },
    ))
}

/// The host callback the import trampolines call (contract in
/// `kiln_environ::component::glue::IMPORT_CTX_HOST_CALL`).
unsafe extern "C" fn host_callback(data: *const u8, args: *const u8, results: *mut u8) {
    // SAFETY: `data` is the `LoweredHost` of this function (kept alive by its `Func`); the
    // trampoline passes its args/results buffers laid out for the function type.
    let r = unsafe { callback(data, args, results) };
    if let Err(t) = r {
        // SAFETY: every Rust value of the call was dropped by `callback`.
        unsafe { traps::raise_user_trap(t) }
    }
}

unsafe fn callback(data: *const u8, args: *const u8, results: *mut u8) -> Result<(), Trap> {
    // SAFETY: caller contract.
    let host = unsafe { &*(data as *const LoweredHost) };
    let ty = &host.ty;
    let tuple = InterfaceType::Tuple(ty.params.iter().map(|(_, t)| t.clone()).collect());
    let size = host_layout(&tuple).size as usize;
    let bytes: &[u8] = if size == 0 {
        &[]
    } else {
        // SAFETY: the trampoline's args buffer holds the host struct of the parameters.
        unsafe { std::slice::from_raw_parts(args, size) }
    };
    let mut vals = Vec::with_capacity(ty.params.len());
    for ((_, t), o) in ty.params.iter().zip(host_field_offsets(&tuple)) {
        // SAFETY: the glue lifted (and validated) these values just now.
        let v = unsafe { decode(t, bytes.get(o as usize..).unwrap_or(&[])) }
            .map_err(|e| Trap::host(e.to_string()))?;
        vals.push(v);
    }
    let out = std::panic::catch_unwind(AssertUnwindSafe(|| (host.f)(&vals)))
        .map_err(|_| Trap::host("host function panicked"))??;
    match (&ty.result, out) {
        (None, None) => Ok(()),
        (Some(rt), Some(v)) => {
            let size = host_layout(rt).size as usize;
            let mut keep = Vec::new();
            // SAFETY: the trampoline's results buffer holds `size` bytes.
            let buf = unsafe { std::slice::from_raw_parts_mut(results, size) };
            encode(rt, &v, buf, &mut keep)
                .map_err(|e| Trap::host(format!("host function result: {e}")))?;
            for k in keep {
                keep_in_arena(k);
            }
            Ok(())
        }
        (Some(rt), None) => Err(Trap::host(format!(
            "host function returned nothing, expected a value of type {rt}"
        ))),
        (None, Some(_)) => Err(Trap::host(
            "host function returned a value for a function without result",
        )),
    }
}

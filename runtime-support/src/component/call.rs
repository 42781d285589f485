//! Calling component exports with dynamic values through the compiled canonical-ABI glue.
//!
//! [`ComponentInstance::call`] encodes the arguments ([`Val`]s) into the host C representation,
//! runs the export's compiled `call` entry (which lowers them into the guest, calls the core
//! function and lifts the result back, validating everything) inside the runtime's trap
//! catcher, decodes the result while it still points into guest memory, then runs the compiled
//! `post_return` entry and frees the call's host arena.

use super::glue_builtins::handles_glue::{scope_depth, truncate_scopes};
use super::glue_builtins::{pop_arena, push_arena};
use super::instance::{ComponentFunc, ComponentInstance};
use super::values::{decode, host_size, HostBuffer, Val};
use crate::error::Error;
use kiln_environ::component::glue::ExportGlue;
use kiln_environ::component::InterfaceType;

type CallFn = unsafe extern "C" fn(*mut u8, *const u8, *mut u8, *mut u64);
type PostFn = unsafe extern "C" fn(*mut u8, *const u64);

impl ComponentInstance {
    /// Calls the exported function `name` (`f`, or `iface#f` inside an exported instance)
    /// with `args`; returns its result (`None` for a function without one).
    pub fn call(&self, name: &str, args: &[Val]) -> Result<Option<Val>, Error> {
        let f = self
            .get_func(name)
            .ok_or_else(|| Error::Other(format!("no exported function `{name}`")))?;
        self.call_func(&f, args)
    }

    /// Calls lifted function `f` of this instance with `args`.
    pub fn call_func(&self, f: &ComponentFunc, args: &[Val]) -> Result<Option<Val>, Error> {
        let component = self.component();
        let glue = component
            .metadata()
            .glue
            .exports
            .get(f.index() as usize)
            .copied()
            .flatten()
            .ok_or_else(|| {
                Error::Other(format!(
                    "function of type {} has no compiled glue (resource handles are not \
                     supported by the glue yet)",
                    f.ty()
                ))
            })?;
        let (call, post) = entry_points(component.glue_text(), glue)?;
        let ty = f.ty();
        if args.len() != ty.params.len() {
            return Err(Error::Other(format!(
                "expected {} arguments, got {}",
                ty.params.len(),
                args.len()
            )));
        }
        let tys: Vec<&InterfaceType> = ty.params.iter().map(|(_, t)| t).collect();
        let args = HostBuffer::encode_all(&tys, args)?;
        let mut results = HostBuffer::zeroed(ty.result.as_ref().map_or(8, host_size));
        let mut core_ret = 0u64;
        let cvmctx = self.vmctx_ptr();
        let (argp, resp, retp) = (
            args.words.as_ptr().cast::<u8>(),
            results.words.as_mut_ptr().cast::<u8>(),
            &mut core_ret as *mut u64,
        );
        push_arena();
        let depth = scope_depth();
        let mut body = || {
            // SAFETY: the entry is the glue compiled for this lift, `cvmctx` this instance's
            // context, the buffers are laid out as the glue expects and outlive the call.
            unsafe { call(cvmctx, argp, resp, retp) }
        };
        // SAFETY: the body holds only raw pointers to live buffers and contexts.
        let r = unsafe { self.catching(&mut body) };
        if let Err(e) = r {
            truncate_scopes(depth);
            pop_arena();
            return Err(e);
        }
        // SAFETY: the glue wrote the result; its slices stay valid until post-return.
        let value = ty
            .result
            .as_ref()
            .map(|rt| unsafe { decode(rt, results.bytes_mut()) });
        let mut post_body = || {
            // SAFETY: as above; `core_ret` is what `call` stored.
            unsafe { post(cvmctx, retp) }
        };
        // SAFETY: as above.
        let r = unsafe { self.catching(&mut post_body) };
        pop_arena();
        r?;
        match value {
            Some(v) => Ok(Some(v?)),
            None => Ok(None),
        }
    }
}

fn entry_points(text: (usize, usize), glue: ExportGlue) -> Result<(CallFn, PostFn), Error> {
    let (base, len) = text;
    if base == 0 || glue.call as usize >= len || glue.post_return as usize >= len {
        return Err(Error::Other(
            "component glue entry outside the glue code (corrupt component)".into(),
        ));
    }
    // SAFETY: offsets inside the glue text of a loaded component, compiled with these
    // signatures (`kiln_environ::component::glue`).
    unsafe {
        Ok((
            std::mem::transmute::<usize, CallFn>(base + glue.call as usize),
            std::mem::transmute::<usize, PostFn>(base + glue.post_return as usize),
        ))
    }
}

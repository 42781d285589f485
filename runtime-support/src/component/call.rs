//! Calling component exports with dynamic values: the raw path (`raw.rs`) plus conversions.
//!
//! [`ComponentInstance::call`] encodes the arguments ([`Val`]s) into the host C representation,
//! makes the raw call ([`ComponentInstance::call_raw`]: flags, borrow scopes, the glue's
//! validation, trap clean-up all happen there), decodes the result while it still points into
//! guest memory or the call's arena — charged to the instance's host value budget, so a guest
//! that claims a huge result traps instead of driving the host's memory — then runs the
//! post-return ([`ComponentInstance::post_return_raw`]).

use super::arena::remaining_budget;
use super::instance::{ComponentFunc, ComponentInstance};
use super::values::{decode_within, host_size, HostBuffer, Val};
use crate::error::Error;
use kiln_environ::component::InterfaceType;

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
        let ty = f.ty();
        if args.len() != ty.params.len() {
            return Err(Error::Other(format!(
                "expected {} arguments, got {}",
                ty.params.len(),
                args.len()
            )));
        }
        let tys: Vec<&InterfaceType> = ty.params.iter().map(|(_, t)| t).collect();
        let mut args = HostBuffer::encode_all(&tys, args)?;
        let mut results = HostBuffer::zeroed(ty.result.as_ref().map_or(8, host_size));
        // Values are well-formed by construction; resource handles are checked against the
        // host handle table here, so a stale one is an error, not a trap that poisons.
        // SAFETY: `encode_all` wrote the host struct of `f`'s parameters, its strings from
        // the `Val`s' Rust strings.
        unsafe { f.check_encoded_args(args.bytes_mut().as_ptr()) }?;
        // SAFETY: `encode_all` wrote the host struct of `f`'s parameters (its out-of-line data
        // kept alive by `args`); `results` has room for the result's host representation.
        let ret = unsafe {
            self.call_raw(
                f,
                args.bytes_mut().as_ptr(),
                results.bytes_mut().as_mut_ptr(),
            )
        }?;
        // The budget left after what the glue lifted into the call's arena.
        let mut budget = remaining_budget();
        let value = ty.result.as_ref().map(|rt| {
            // SAFETY: the glue wrote the result; its slices stay valid until post-return.
            unsafe { decode_within(rt, results.bytes_mut(), &mut budget) }
        });
        self.post_return_raw(f, ret)?;
        value.transpose()
    }
}

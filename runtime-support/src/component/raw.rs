//! Raw calls of component exports: the caller passes the host C representation of the
//! arguments (`kiln_environ::component::host`) straight to the export's compiled `call` entry
//! and reads the host C representation of the result, with no generic conversion (the typed
//! fast path of the C API and of `kiln bindgen c` headers).
//!
//! A raw call leaves the result readable (strings and lists may point into guest memory or
//! into the call's host arena) until [`ComponentInstance::post_return_raw`], which runs the
//! compiled `post_return` entry (the guest's post-return, re-enabling `may_enter`) and frees the
//! arena. Arena frames are per thread and nest: post-returns must run on the calling thread,
//! innermost call first. The calling thread keeps the instance's store from the call to its
//! post-return, so another thread's call in between is `Error::Busy` (not the guest's
//! pending-post-return trap).
//!
//! This is the one entry into a component export: the dynamic [`ComponentInstance::call`]
//! (`call.rs`) and the typed [`super::TypedFunc`] convert their values to and from the host C
//! representation around it. The compiled entry checks the instance flags and opens the borrow
//! scope; a trap anywhere inside ends every borrow scope and arena frame the call opened.

use super::arena::{arena_depth, push_arena, truncate_arenas};
use super::glue_builtins::handles_glue::{scope_depth, truncate_scopes};
use super::instance::{ComponentFunc, ComponentInstance};
use crate::error::Error;
use crate::traps;
use kiln_environ::component::glue::{ExportGlue, GlueTrap};
use kiln_environ::component::vmctx::{FLAG_MAY_ENTER, FLAG_MAY_LEAVE, FLAG_NEEDS_POST_RETURN};

type CallFn = unsafe extern "C" fn(*mut u8, *const u8, *mut u8, *mut u64);
type PostFn = unsafe extern "C" fn(*mut u8, *const u64);

/// The pending post-return of a successful raw call (pass it to
/// [`ComponentInstance::post_return_raw`]).
#[derive(Debug)]
#[must_use = "a raw call's post-return must run (it re-enables entering the instance)"]
pub struct RawReturn {
    core_ret: u64,
    func: u32,
    thread: std::thread::ThreadId,
    /// The arena depth before the call (its frame is the next one).
    arenas: usize,
    /// Whether the call kept its store entry (released by the post-return).
    kept: bool,
}

/// The current thread's id, kept per thread: ids are never reused, and asking
/// `std::thread::current()` on every raw call and post-return costs a handle clone.
fn this_thread() -> std::thread::ThreadId {
    thread_local! {
        static ID: std::thread::ThreadId = std::thread::current().id();
    }
    ID.with(|id| *id)
}

impl RawReturn {
    /// Whether the current thread made the call (post-returns must run on it).
    pub fn on_this_thread(&self) -> bool {
        self.thread == this_thread()
    }
}

impl ComponentInstance {
    /// Calls lifted function `f` of this instance with the host C representation of its
    /// arguments at `args` (a C struct of the parameters in order), writing the host C
    /// representation of the result to `results`. On success the result stays valid until
    /// [`ComponentInstance::post_return_raw`]; on a trap the call's arena is already freed.
    ///
    /// A trap after the instance was entered poisons it ([`ComponentInstance::is_poisoned`]);
    /// run [`ComponentFunc::check_host_args`] first on a struct this program did not build
    /// from typed values, so the host's own mistakes are errors instead.
    ///
    /// # Safety
    /// `args` points at a valid host C struct of `f`'s parameters (strings valid UTF-8 and
    /// every pointer valid for its length), or is unused when there are none; `results` has
    /// room for the host C representation of `f`'s result (unused when it has none).
    pub unsafe fn call_raw(
        &self,
        f: &ComponentFunc,
        args: *const u8,
        results: *mut u8,
    ) -> Result<RawReturn, Error> {
        let (call, _) = self.raw_entries(f)?;
        // The thread keeps the store from the call to its post-return: another thread entering
        // in between gets `Error::Busy`, not the guest's pending-post-return trap.
        let entered = match self.core_instances().first() {
            // SAFETY: the store slot of a core instance this instance keeps alive.
            Some(i) => Some(unsafe { crate::store::enter(i.inner.store_slot()) }?),
            None => None,
        };
        // A call refused at the entry check (reentrance, a pending post-return, an instance
        // already poisoned) changes nothing; a trap after entering poisons.
        let enterable = self.may_enter(f);
        let cvmctx = self.vmctx_ptr();
        let mut core_ret = 0u64;
        let retp = &mut core_ret as *mut u64;
        let (scopes, arenas) = (scope_depth(), arena_depth());
        push_arena(self.inner.shared.host_value_budget);
        let mut body = || {
            // SAFETY: the glue compiled for this lift with this instance's context; the
            // buffers are as the caller promised and outlive the call.
            unsafe { call(cvmctx, args, results, retp) }
        };
        // SAFETY: the body holds only raw pointers; the targets are live instance contexts.
        let r = unsafe { self.catching(&mut body) };
        if let Err(e) = r {
            // The trap unwound past the ends of the borrow scopes and arena frames the call
            // opened (its own, and those of calls nested inside it).
            truncate_scopes(scopes);
            truncate_arenas(arenas);
            if enterable && matches!(e, Error::Trap(_)) {
                self.poison();
            }
            return Err(e);
        }
        let kept = entered.map(crate::store::Entered::keep).is_some();
        Ok(RawReturn {
            core_ret,
            func: f.index(),
            thread: this_thread(),
            arenas,
            kept,
        })
    }

    /// Runs the post-return of a raw call of `f` (after its result was read): the guest's
    /// post-return function, then frees the call's host arena.
    pub fn post_return_raw(&self, f: &ComponentFunc, ret: RawReturn) -> Result<(), Error> {
        if !ret.on_this_thread() {
            return Err(Error::Other(
                "the post-return of a raw call must run on the thread that made the call".into(),
            ));
        }
        if ret.func != f.index() {
            // The instance stays entered (its post-return is still pending).
            return Err(Error::Other(
                "post-return of a raw call given to another function".into(),
            ));
        }
        let scopes = scope_depth();
        let r = if f.lifted.options.post_return.is_none() {
            // Without a guest post-return function the compiled entry only checks and updates
            // the instance flags: done here, without entering the store a second time.
            self.post_return_flags(f)
        } else {
            self.post_return_entry(f, &ret)
        };
        if let Err(e) = &r {
            truncate_scopes(scopes);
            if matches!(e, Error::Trap(_)) {
                self.poison();
            }
        }
        truncate_arenas(ret.arenas);
        if ret.kept {
            if let Some(i) = self.core_instances().first() {
                // SAFETY: the store slot of a core instance this instance keeps alive; this
                // thread kept the entry in `call_raw`.
                unsafe { crate::store::leave(i.inner.store_slot()) };
            }
        }
        r
    }

    /// The compiled post-return's flag update (CanonicalABI.md: a post-return must be
    /// pending; afterwards the instance may be entered and left again), for lifts without a
    /// guest post-return function.
    fn post_return_flags(&self, f: &ComponentFunc) -> Result<(), Error> {
        let vmctx = &self.inner.shared.vmctx;
        let at = vmctx.offsets.instance_flags(f.lifted.options.instance);
        let flags = vmctx.read_u32(at);
        if flags & FLAG_NEEDS_POST_RETURN == 0 {
            return Err(Error::Trap(crate::Trap::abi(
                GlueTrap::NoPendingPostReturn.message(),
            )));
        }
        let done = (flags & !FLAG_NEEDS_POST_RETURN) | FLAG_MAY_ENTER | FLAG_MAY_LEAVE;
        vmctx.write_u32(at, done);
        Ok(())
    }

    /// Runs the compiled `post_return` entry of `f` (which calls the guest's post-return).
    fn post_return_entry(&self, f: &ComponentFunc, ret: &RawReturn) -> Result<(), Error> {
        self.raw_entries(f).and_then(|(_, post)| {
            let cvmctx = self.vmctx_ptr();
            let retp = &ret.core_ret as *const u64;
            let mut body = || {
                // SAFETY: as in `call_raw`; `core_ret` is what `call` stored.
                unsafe { post(cvmctx, retp) }
            };
            // SAFETY: as in `call_raw`.
            unsafe { self.catching(&mut body) }
        })
    }

    /// Runs `body` inside the runtime's trap catcher, in the store of the component's core
    /// instances (entered by this thread: another thread's call is `Error::Busy`).
    ///
    /// # Safety
    /// `body` calls compiled code of this instance only with valid arguments.
    pub(super) unsafe fn catching(&self, body: &mut dyn FnMut()) -> Result<(), Error> {
        let max_stack = self.component().engine().config().max_wasm_stack;
        // Every core instance of the component is in one store (joined at instantiation).
        match self.core_instances().first() {
            // SAFETY: forwarded contract; the slot is the live store slot of a core instance
            // this component instance keeps alive.
            Some(i) => unsafe { crate::store::run_in_store(i.inner.store_slot(), max_stack, body) },
            // No core instance: the glue runs no guest code.
            // SAFETY: forwarded contract.
            None => unsafe { traps::catch_traps(max_stack, std::ptr::null(), body) }
                .map_err(Error::Trap),
        }
    }

    /// The compiled `call` and `post_return` entries of `f`.
    fn raw_entries(&self, f: &ComponentFunc) -> Result<(CallFn, PostFn), Error> {
        let component = self.component();
        let glue: ExportGlue = component
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
        let (base, len) = component.glue_text();
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
}

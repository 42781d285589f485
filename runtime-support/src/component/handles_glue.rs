//! Resource handles crossing the compiled canonical-ABI glue: the `resource_*` and
//! `borrow_scope_*` component builtins, and the host's side of handles.
//!
//! The host holds handles in its own table (the last of the instance's handle tables): a
//! `Val::Own(h)` / `Val::Borrow(h)` and the host C representation's `uint32_t` are indices in
//! it. Lifting an `own` moves the guest's handle into the host table; lowering one moves it
//! into the guest instance's table. A `borrow` is lent for the duration of a call: each call
//! whose parameters contain borrows runs in a borrow scope (a per-thread stack) whose end
//! returns everything lent and traps, as CanonicalABI.md requires, when a borrow handle given
//! to the callee was not dropped. Lending an own handle counts in its `lend_count`, so it
//! cannot be dropped or moved while lent. A borrow lowered into the instance that defines the
//! resource type is passed as its representation, with no handle.
//!
//! (A submodule of `glue_builtins.rs`, whose table lists these builtins.)

use crate::component::instance::{vmctx_view, ComponentInstance, VmctxView};
use crate::component::resources::{HandleEntry, HandleError, HandleTable};
use crate::error::{Error, Trap};
use crate::traps;
use crate::values::Val as CoreVal;
use kiln_environ::component::glue::GlueTrap;
use kiln_environ::component::{ResourceIndex, ResourceKind};
use std::cell::RefCell;

/// Something lent for the duration of a borrow scope.
enum Lent {
    /// A guest handle lent to the host as the temporary host handle `host`.
    ToHost {
        cvmctx: usize,
        instance: u32,
        /// The guest's own handle whose `lend_count` was raised (none when it was a borrow).
        guest_own: Option<u32>,
        host: u32,
        resource: u32,
        rep: u32,
    },
    /// A host handle lent to guest `instance` as borrow handle `guest` (none when passed as
    /// its representation).
    ToGuest {
        cvmctx: usize,
        instance: u32,
        guest: Option<u32>,
        /// The host's own handle whose `lend_count` was raised.
        host_own: Option<u32>,
        resource: u32,
        rep: u32,
    },
}

thread_local! {
    static SCOPES: RefCell<Vec<Vec<Lent>>> = const { RefCell::new(Vec::new()) };
}

/// A thread's borrow scopes, taken out of the thread-local stack while the component-model
/// thread that opened them is switched out (`concurrent::capture` / `install`).
#[derive(Default)]
pub(crate) struct Scopes(Vec<Vec<Lent>>);

/// Takes the current borrow-scope stack (leaving it empty).
pub(crate) fn take_scopes() -> Scopes {
    Scopes(SCOPES.with(|s| std::mem::take(&mut *s.borrow_mut())))
}

/// Installs a borrow-scope stack taken with [`take_scopes`].
pub(crate) fn put_scopes(scopes: Scopes) {
    SCOPES.with(|s| *s.borrow_mut() = scopes.0);
}

/// The current depth of the borrow-scope stack (to restore after a trap).
pub(crate) fn scope_depth() -> usize {
    SCOPES.with(|s| s.borrow().len())
}

/// Ends the borrow scopes above `depth`, innermost first, after a trap unwound past their
/// ends: everything they lent is returned (lend counts lowered, temporary handles removed) so
/// the handles stay usable, and no scope is left for a later end to pop by mistake.
pub(crate) fn truncate_scopes(depth: usize) {
    loop {
        let scope = SCOPES.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() > depth {
                s.pop()
            } else {
                None
            }
        });
        match scope {
            Some(scope) => {
                let _ = close_scope(scope);
            }
            None => break,
        }
    }
}

fn glue(t: GlueTrap) -> Trap {
    Trap::abi(t.message())
}

fn view<'a>(cvmctx: *mut u8) -> Result<VmctxView<'a>, Trap> {
    // SAFETY: the glue passes the context of the instance it runs for, alive during the call.
    unsafe { vmctx_view(cvmctx) }.ok_or_else(|| glue(GlueTrap::NotInstantiated))
}

fn table<R>(
    v: &VmctxView<'_>,
    instance: u32,
    f: impl FnOnce(&mut HandleTable) -> Result<R, HandleError>,
) -> Result<R, Trap> {
    v.handles
        .with(instance, f)
        .unwrap_or_else(|| Err(HandleError::Unknown(0)))
        .map_err(|e| e.into_trap(v.resources))
}

/// Like [`table`] for closures that fail with traps of their own.
fn table_trap<R>(
    v: &VmctxView<'_>,
    instance: u32,
    f: impl FnOnce(&mut HandleTable) -> Result<R, Trap>,
) -> Result<R, Trap> {
    v.handles
        .with(instance, f)
        .unwrap_or_else(|| Err(HandleError::Unknown(0).into_trap(v.resources)))
}

fn entry(resource: u32, rep: u32, own: bool) -> HandleEntry {
    HandleEntry {
        resource,
        rep,
        own,
        lend_count: 0,
    }
}

/// Moves own handle `handle` of `table_from` into `table_to`; returns the new handle.
fn move_own(
    v: &VmctxView<'_>,
    from: u32,
    to: u32,
    resource: u32,
    handle: u32,
) -> Result<u32, Trap> {
    let resources = v.resources;
    let rep = table_trap(v, from, |t| {
        let e = t
            .get(handle, resource)
            .map_err(|e| e.into_trap(resources))?;
        if !e.own {
            return Err(glue(GlueTrap::NotAnOwnHandle));
        }
        t.remove(handle, resource)
            .map(|e| e.rep)
            .map_err(|e| e.into_trap(resources))
    })?;
    table(v, to, |t| t.insert(entry(resource, rep, true)))
}

fn lift_borrow(cvmctx: *mut u8, instance: u32, resource: u32, handle: u32) -> Result<u32, Trap> {
    let v = view(cvmctx)?;
    let (rep, own) = table(&v, instance, |t| {
        let e = t.get_mut(handle, resource)?;
        if e.own {
            e.lend_count += 1;
        }
        Ok((e.rep, e.own))
    })?;
    let host = table(&v, v.host_table, |t| t.insert(entry(resource, rep, false)))?;
    push(Lent::ToHost {
        cvmctx: cvmctx as usize,
        instance,
        guest_own: own.then_some(handle),
        host,
        resource,
        rep,
    })?;
    Ok(host)
}

fn lower_borrow(cvmctx: *mut u8, instance: u32, resource: u32, handle: u32) -> Result<u32, Trap> {
    let v = view(cvmctx)?;
    let (rep, own) = table(&v, v.host_table, |t| {
        let e = t.get_mut(handle, resource)?;
        if e.own {
            e.lend_count += 1;
        }
        Ok((e.rep, e.own))
    })?;
    let defined_here = matches!(
        v.resources.get(resource as usize).map(|r| &r.kind),
        Some(ResourceKind::Defined { instance: i }) if *i == instance
    );
    let guest = if defined_here {
        None
    } else {
        Some(table(&v, instance, |t| {
            t.insert(entry(resource, rep, false))
        })?)
    };
    push(Lent::ToGuest {
        cvmctx: cvmctx as usize,
        instance,
        guest,
        host_own: own.then_some(handle),
        resource,
        rep,
    })?;
    Ok(guest.unwrap_or(rep))
}

fn push(l: Lent) -> Result<(), Trap> {
    SCOPES.with(|s| match s.borrow_mut().last_mut() {
        Some(scope) => {
            scope.push(l);
            Ok(())
        }
        None => Err(Trap::abi(
            "internal error: borrow lent outside of a borrow scope",
        )),
    })
}

/// Lowers a lend count raised by a borrow (the handle may be gone if the trap path ran).
fn unlend(v: &VmctxView<'_>, instance: u32, handle: u32, resource: u32) {
    let _ = table(v, instance, |t| {
        if let Ok(e) = t.get_mut(handle, resource) {
            e.lend_count = e.lend_count.saturating_sub(1);
        }
        Ok(())
    });
}

fn end_scope() -> Result<(), Trap> {
    let Some(scope) = SCOPES.with(|s| s.borrow_mut().pop()) else {
        return Err(Trap::abi("internal error: unbalanced borrow scope"));
    };
    close_scope(scope)
}

/// Returns everything `scope` lent; an error when the callee kept a borrow it was given.
fn close_scope(scope: Vec<Lent>) -> Result<(), Trap> {
    let mut result = Ok(());
    for l in scope {
        match l {
            Lent::ToHost {
                cvmctx,
                instance,
                guest_own,
                host,
                resource,
                rep,
            } => {
                let v = view(cvmctx as *mut u8)?;
                let _ = table(&v, v.host_table, |t| {
                    let same = t.get(host, resource).is_ok_and(|e| !e.own && e.rep == rep);
                    if same {
                        t.remove(host, resource)?;
                    }
                    Ok(())
                });
                if let Some(g) = guest_own {
                    unlend(&v, instance, g, resource);
                }
            }
            Lent::ToGuest {
                cvmctx,
                instance,
                guest,
                host_own,
                resource,
                rep,
            } => {
                let v = view(cvmctx as *mut u8)?;
                if let Some(g) = guest {
                    let live = table(&v, instance, |t| {
                        let live = t.get(g, resource).is_ok_and(|e| !e.own && e.rep == rep);
                        if live {
                            t.remove(g, resource)?;
                        }
                        Ok(live)
                    })?;
                    if live {
                        result = Err(glue(GlueTrap::BorrowNotDropped));
                    }
                }
                if let Some(h) = host_own {
                    unlend(&v, v.host_table, h, resource);
                }
            }
        }
    }
    result
}

fn raise(r: Result<i32, Trap>) -> i32 {
    match r {
        Ok(v) => v,
        // SAFETY: called by glue inside `catch_traps`; every Rust value was dropped.
        Err(t) => unsafe { traps::raise_user_trap(t) },
    }
}

/// The builtin implementations (the table is built in `glue_builtins.rs`).
pub(super) mod imp {
    use super::*;

    pub unsafe extern "C" fn resource_lift_own(
        vmctx: *mut u8,
        instance: i32,
        resource: i32,
        handle: i32,
    ) -> i32 {
        raise(view(vmctx).and_then(|v| {
            let host = v.host_table;
            move_own(&v, instance as u32, host, resource as u32, handle as u32).map(|h| h as i32)
        }))
    }

    pub unsafe extern "C" fn resource_lift_borrow(
        vmctx: *mut u8,
        instance: i32,
        resource: i32,
        handle: i32,
    ) -> i32 {
        raise(lift_borrow(vmctx, instance as u32, resource as u32, handle as u32).map(|h| h as i32))
    }

    pub unsafe extern "C" fn resource_lower_own(
        vmctx: *mut u8,
        instance: i32,
        resource: i32,
        handle: i32,
    ) -> i32 {
        raise(view(vmctx).and_then(|v| {
            let host = v.host_table;
            move_own(&v, host, instance as u32, resource as u32, handle as u32).map(|h| h as i32)
        }))
    }

    pub unsafe extern "C" fn resource_lower_borrow(
        vmctx: *mut u8,
        instance: i32,
        resource: i32,
        handle: i32,
    ) -> i32 {
        raise(
            lower_borrow(vmctx, instance as u32, resource as u32, handle as u32).map(|h| h as i32),
        )
    }

    pub unsafe extern "C" fn borrow_scope_begin(_vmctx: *mut u8) {
        SCOPES.with(|s| s.borrow_mut().push(Vec::new()));
    }

    pub unsafe extern "C" fn borrow_scope_end(_vmctx: *mut u8) {
        raise(end_scope().map(|()| 0));
    }
}

impl ComponentInstance {
    fn host_view(&self) -> Result<VmctxView<'_>, Error> {
        // SAFETY: `self` keeps its context alive for the borrow of `self`.
        unsafe { vmctx_view(self.vmctx_ptr()) }
            .ok_or_else(|| Error::Other("component instance not instantiated".into()))
    }

    /// The index of the resource type named `name` (as the plan names it: its import or export
    /// name).
    pub fn resource_type(&self, name: &str) -> Option<ResourceIndex> {
        self.component()
            .metadata()
            .resources
            .iter()
            .position(|r| r.name == name)
            .map(|i| i as ResourceIndex)
    }

    /// Creates a host-owned handle of resource type `resource` with representation `rep` (for
    /// resource types the host implements); pass it to the guest as
    /// [`crate::component::Val::Own`].
    pub fn resource_new(&self, resource: ResourceIndex, rep: u32) -> Result<u32, Error> {
        let v = self.host_view()?;
        table(&v, v.host_table, |t| t.insert(entry(resource, rep, true))).map_err(Error::Trap)
    }

    /// The representation of host handle `handle` of type `resource`.
    pub fn resource_rep(&self, resource: ResourceIndex, handle: u32) -> Result<u32, Error> {
        let v = self.host_view()?;
        table(&v, v.host_table, |t| t.get(handle, resource).map(|e| e.rep)).map_err(Error::Trap)
    }

    /// Drops host handle `handle` of type `resource`; dropping an own handle of a resource
    /// type a component defines runs its destructor.
    pub fn resource_drop(&self, resource: ResourceIndex, handle: u32) -> Result<(), Error> {
        let v = self.host_view()?;
        let e = table(&v, v.host_table, |t| t.remove(handle, resource)).map_err(Error::Trap)?;
        let defined = matches!(
            v.resources.get(resource as usize).map(|r| &r.kind),
            Some(ResourceKind::Defined { .. })
        );
        if e.own && !defined {
            crate::component::host::run_host_dtor(v.shared, resource, e.rep)
                .map_err(Error::Trap)?;
        }
        if e.own && defined {
            let dtor = v
                .dtors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(resource as usize)
                .cloned()
                .flatten();
            if let Some(dtor) = dtor {
                dtor.call(&[CoreVal::I32(e.rep as i32)])?;
            }
        }
        Ok(())
    }
}

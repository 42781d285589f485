//! Resource handle tables (one per component instance) and the `canon resource.new`,
//! `resource.rep` and `resource.drop` intrinsics, following CanonicalABI.md: handle 0 is never
//! valid, freed slots are reused, every misuse traps with a message naming the rule.

use super::instance::{lock, Shared};
use crate::error::{Error, Trap};
use crate::func::{Caller, Func};
use crate::values::Val;
use crate::Engine;
use kiln_environ::component::glue::GlueTrap;
use kiln_environ::component::vmctx::{FLAG_MAY_ENTER, FLAG_MAY_LEAVE};
use kiln_environ::component::{
    ComponentInstanceIndex, IntrinsicKind, ResourceIndex, ResourceKind, ResourceType,
};
use kiln_environ::{FuncType, ValType};
use std::fmt;
use std::sync::Weak;

/// One handle of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandleEntry {
    /// The resource type.
    pub resource: ResourceIndex,
    /// The representation (`rep`) of the resource.
    pub rep: u32,
    /// `own` (true) or `borrow` (false).
    pub own: bool,
    /// Outstanding borrows lent out of this own handle.
    pub lend_count: u32,
}

/// A component instance's handle table.
#[derive(Debug)]
pub struct HandleTable {
    entries: Vec<Option<HandleEntry>>,
    free: Vec<u32>,
}

impl Default for HandleTable {
    fn default() -> Self {
        HandleTable {
            entries: vec![None],
            free: Vec::new(),
        }
    }
}

/// Largest number of live handles in one table (CanonicalABI.md: `Table.MAX_LENGTH = 2**28 - 1`).
pub const MAX_HANDLES: usize = (1 << 28) - 1;

/// Why a handle table refused an operation. [`HandleError::into_trap`] words it as the
/// reference implementation does (hosts and the Component Model's tests match on it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandleError {
    /// No live handle at this index (0, past the end, or freed).
    Unknown(u32),
    /// The handle is of another resource type.
    WrongType {
        /// The handle.
        handle: u32,
        /// The resource type the operation expected.
        expected: ResourceIndex,
        /// The handle's resource type.
        found: ResourceIndex,
    },
    /// An own handle with outstanding borrows cannot be removed.
    Borrowed(u32),
    /// The table already holds [`MAX_HANDLES`] handles.
    Full,
}

impl HandleError {
    /// The trap for this error; `resources` are the instance's resource types, to say whether
    /// each side of a type mismatch is a host or a guest-defined resource.
    pub fn into_trap(self, resources: &[ResourceType]) -> Trap {
        Trap::abi(self.describe(resources))
    }

    /// The message for this error (see [`HandleError::into_trap`]).
    pub fn describe(&self, resources: &[ResourceType]) -> String {
        let guest = |r: &ResourceIndex| {
            matches!(
                resources.get(*r as usize).map(|t| &t.kind),
                Some(ResourceKind::Defined { .. })
            )
        };
        match self {
            HandleError::Unknown(h) => format!("unknown handle index {h}"),
            HandleError::WrongType {
                handle,
                expected,
                found,
            } => {
                let want = if guest(expected) {
                    "guest-defined resource"
                } else {
                    "host resource"
                };
                let got = match (guest(expected), guest(found)) {
                    (true, true) => "a different guest-defined resource",
                    (false, false) => "a different host resource",
                    (_, true) => "guest-defined resource",
                    (_, false) => "host resource",
                };
                format!("handle index {handle} used with the wrong type, expected {want} but found {got}")
            }
            HandleError::Borrowed(h) => {
                format!("cannot remove owned resource while borrowed (handle index {h})")
            }
            HandleError::Full => {
                "cannot allocate another handle: index overflow (2^28 - 1 handles)".to_string()
            }
        }
    }
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(&[]))
    }
}

impl HandleTable {
    /// Adds `entry`; returns its handle.
    pub fn insert(&mut self, entry: HandleEntry) -> Result<u32, HandleError> {
        if let Some(i) = self.free.pop() {
            self.entries[i as usize] = Some(entry);
            return Ok(i);
        }
        if self.entries.len() > MAX_HANDLES {
            return Err(HandleError::Full);
        }
        self.entries.push(Some(entry));
        Ok((self.entries.len() - 1) as u32)
    }

    /// The entry of `handle`, checked to be of type `resource`.
    pub fn get(&self, handle: u32, resource: ResourceIndex) -> Result<&HandleEntry, HandleError> {
        match self.entries.get(handle as usize).and_then(Option::as_ref) {
            None => Err(HandleError::Unknown(handle)),
            Some(e) if e.resource != resource => Err(HandleError::WrongType {
                handle,
                expected: resource,
                found: e.resource,
            }),
            Some(e) => Ok(e),
        }
    }

    /// The entry of `handle`, mutable, checked to be of type `resource`.
    pub fn get_mut(
        &mut self,
        handle: u32,
        resource: ResourceIndex,
    ) -> Result<&mut HandleEntry, HandleError> {
        self.get(handle, resource)?;
        Ok(self.entries[handle as usize]
            .as_mut()
            .expect("checked by get"))
    }

    /// Removes `handle` (of type `resource`) and returns its entry; an own handle with
    /// outstanding borrows cannot be removed (CanonicalABI.md `canon_resource_drop`: the
    /// type is checked first, then the lends).
    pub fn remove(
        &mut self,
        handle: u32,
        resource: ResourceIndex,
    ) -> Result<HandleEntry, HandleError> {
        let e = self.get(handle, resource)?;
        if e.own && e.lend_count > 0 {
            return Err(HandleError::Borrowed(handle));
        }
        let e = self.entries[handle as usize]
            .take()
            .expect("checked by get");
        self.free.push(handle);
        Ok(e)
    }

    /// Whether `handle` names a live entry (of any type).
    pub fn is_live(&self, handle: u32) -> bool {
        matches!(self.entries.get(handle as usize), Some(Some(_)))
    }

    /// Number of live handles.
    pub fn len(&self) -> usize {
        self.entries.iter().filter(|e| e.is_some()).count()
    }

    /// Whether no handle is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The handle tables of all component instances of one instantiation.
pub(crate) struct HandleTables {
    tables: Vec<std::sync::Mutex<HandleTable>>,
}

impl HandleTables {
    pub(crate) fn new(n: u32) -> HandleTables {
        HandleTables {
            tables: (0..n).map(|_| Default::default()).collect(),
        }
    }

    /// Number of tables (component instances, then the host's).
    pub(crate) fn len(&self) -> u32 {
        self.tables.len() as u32
    }

    /// Runs `f` on the table of `instance`.
    pub(crate) fn with<R>(
        &self,
        instance: ComponentInstanceIndex,
        f: impl FnOnce(&mut HandleTable) -> R,
    ) -> Option<R> {
        let t = self.tables.get(instance as usize)?;
        let mut t = t.lock().unwrap_or_else(|e| e.into_inner());
        Some(f(&mut t))
    }
}

/// A `resource.new/rep/drop` intrinsic as a core function.
pub(super) fn intrinsic(
    engine: &Engine,
    shared: Weak<Shared>,
    kind: IntrinsicKind,
    resource: ResourceIndex,
    instance: ComponentInstanceIndex,
) -> Func {
    let ty = match kind {
        IntrinsicKind::ResourceNew | IntrinsicKind::ResourceRep => FuncType {
            params: vec![ValType::I32],
            results: vec![ValType::I32],
        },
        IntrinsicKind::ResourceDrop => FuncType {
            params: vec![ValType::I32],
            results: vec![],
        },
    };
    Func::new(engine, ty, move |_: &mut Caller<'_>, args, results| {
        let shared = shared
            .upgrade()
            .ok_or_else(|| Trap::host("component instance is gone"))?;
        // CanonicalABI.md: `resource.new` and `resource.drop` start with
        // `trap_if(not may_leave)`; `resource.rep` only reads the table (a post-return may
        // call it).
        let flags = shared
            .vmctx
            .read_u32(shared.vmctx.offsets.instance_flags(instance));
        if flags & FLAG_MAY_LEAVE == 0 && kind != IntrinsicKind::ResourceRep {
            return Err(Trap::abi(GlueTrap::CannotLeave.message()));
        }
        let arg = match args.first() {
            Some(Val::I32(v)) => *v as u32,
            _ => return Err(Trap::host("resource intrinsic called with a bad argument")),
        };
        match kind {
            IntrinsicKind::ResourceNew => {
                let h = shared.in_table(instance, |t| {
                    t.insert(HandleEntry {
                        resource,
                        rep: arg,
                        own: true,
                        lend_count: 0,
                    })
                })?;
                results[0] = Val::I32(h as i32);
            }
            IntrinsicKind::ResourceRep => {
                let rep = shared.in_table(instance, |t| t.get(arg, resource).map(|e| e.rep))?;
                results[0] = Val::I32(rep as i32);
            }
            IntrinsicKind::ResourceDrop => {
                let entry = shared.in_table(instance, |t| t.remove(arg, resource))?;
                let definer = match shared.resources.get(resource as usize).map(|r| &r.kind) {
                    Some(ResourceKind::Defined { instance }) => Some(*instance),
                    _ => None,
                };
                let defined = definer.is_some();
                // CanonicalABI.md `canon_resource_drop`: running the destructor of another
                // instance's resource enters that instance, which must allow it.
                if let Some(definer) = definer.filter(|d| entry.own && *d != instance) {
                    let flags = shared
                        .vmctx
                        .read_u32(shared.vmctx.offsets.instance_flags(definer));
                    if flags & FLAG_MAY_ENTER == 0 {
                        return Err(Trap::abi(
                            "cannot enter component instance (the resource's defining instance, \
                             to run its destructor: may_enter is false)",
                        ));
                    }
                }
                if entry.own && !defined {
                    super::host::run_host_dtor(&shared, resource, entry.rep)?;
                }
                if entry.own && defined {
                    let dtor = lock(&shared.dtors)
                        .get(resource as usize)
                        .cloned()
                        .flatten();
                    if let Some(dtor) = dtor {
                        dtor.call(&[Val::I32(entry.rep as i32)])
                            .map_err(|e| match e {
                                Error::Trap(t) => t,
                                other => Trap::host(other.to_string()),
                            })?;
                    }
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_reused_and_checked() {
        let mut t = HandleTable::default();
        let e = |rep| HandleEntry {
            resource: 0,
            rep,
            own: true,
            lend_count: 0,
        };
        let a = t.insert(e(7)).unwrap();
        assert_eq!(a, 1);
        assert_eq!(t.get(a, 0).unwrap().rep, 7);
        assert!(t.get(a, 1).is_err());
        assert!(t.get(0, 0).is_err());
        t.get_mut(a, 0).unwrap().lend_count = 1;
        assert!(t.remove(a, 0).is_err());
        t.get_mut(a, 0).unwrap().lend_count = 0;
        assert_eq!(t.remove(a, 0).unwrap().rep, 7);
        assert!(t.get(a, 0).is_err());
        assert_eq!(t.insert(e(8)).unwrap(), a);
        assert_eq!(t.len(), 1);
    }
}

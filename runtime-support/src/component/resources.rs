//! Resource handle tables (one per component instance) and the `canon resource.new`,
//! `resource.rep` and `resource.drop` intrinsics, following CanonicalABI.md: handle 0 is never
//! valid, freed slots are reused, every misuse traps with a message naming the rule.

use crate::error::Trap;
use kiln_environ::component::{ComponentInstanceIndex, ResourceIndex};

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

/// Largest number of live handles in one table (CanonicalABI.md: `MAX_LENGTH = 2**28`).
pub const MAX_HANDLES: usize = 1 << 28;

impl HandleTable {
    /// Adds `entry`; returns its handle.
    pub fn insert(&mut self, entry: HandleEntry) -> Result<u32, Trap> {
        if let Some(i) = self.free.pop() {
            self.entries[i as usize] = Some(entry);
            return Ok(i);
        }
        if self.entries.len() >= MAX_HANDLES {
            return Err(Trap::host(
                "resource handle table is full (more than 2^28 handles)",
            ));
        }
        self.entries.push(Some(entry));
        Ok((self.entries.len() - 1) as u32)
    }

    /// The entry of `handle`, checked to be of type `resource`.
    pub fn get(&self, handle: u32, resource: ResourceIndex) -> Result<&HandleEntry, Trap> {
        match self.entries.get(handle as usize).and_then(Option::as_ref) {
            None => Err(Trap::host(format!("unknown resource handle {handle}"))),
            Some(e) if e.resource != resource => Err(Trap::host(format!(
                "resource handle {handle} has the wrong resource type"
            ))),
            Some(e) => Ok(e),
        }
    }

    /// The entry of `handle`, mutable, checked to be of type `resource`.
    pub fn get_mut(
        &mut self,
        handle: u32,
        resource: ResourceIndex,
    ) -> Result<&mut HandleEntry, Trap> {
        self.get(handle, resource)?;
        Ok(self.entries[handle as usize]
            .as_mut()
            .expect("checked by get"))
    }

    /// Removes `handle` (of type `resource`) and returns its entry; an own handle with
    /// outstanding borrows cannot be removed.
    pub fn remove(&mut self, handle: u32, resource: ResourceIndex) -> Result<HandleEntry, Trap> {
        let e = self.get(handle, resource)?;
        if e.own && e.lend_count > 0 {
            return Err(Trap::host(format!(
                "resource handle {handle} is dropped while it has outstanding borrows"
            )));
        }
        let e = self.entries[handle as usize]
            .take()
            .expect("checked by get");
        self.free.push(handle);
        Ok(e)
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

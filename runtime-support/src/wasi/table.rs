//! The objects behind one instance's WASI handles: a slab of typed boxes whose indices are
//! the handles' representations (`resource.rep`). Every access checks the object's type, so
//! a guest handle can never reach an object of another kind.

use crate::error::Trap;
use std::any::Any;

/// Largest number of live WASI objects per instance.
pub const MAX_OBJECTS: usize = 1 << 20;

/// A slab of host objects.
#[derive(Default)]
pub struct Table {
    slots: Vec<Option<Box<dyn Any + Send>>>,
    free: Vec<u32>,
}

fn bad(rep: u32, what: &str) -> Trap {
    Trap::host(format!(
        "WASI: handle representation {rep} is not a live {what}"
    ))
}

impl Table {
    /// Adds `obj`; returns its representation.
    pub fn push<T: Send + 'static>(&mut self, obj: T) -> Result<u32, Trap> {
        if let Some(i) = self.free.pop() {
            self.slots[i as usize] = Some(Box::new(obj));
            return Ok(i);
        }
        if self.slots.len() >= MAX_OBJECTS {
            return Err(Trap::host("WASI: too many open objects in this instance"));
        }
        self.slots.push(Some(Box::new(obj)));
        Ok((self.slots.len() - 1) as u32)
    }

    /// The object `rep`, which must be a `T` (`what` names it in the error).
    pub fn get<T: 'static>(&mut self, rep: u32, what: &str) -> Result<&mut T, Trap> {
        self.slots
            .get_mut(rep as usize)
            .and_then(|s| s.as_mut())
            .and_then(|b| b.downcast_mut::<T>())
            .ok_or_else(|| bad(rep, what))
    }

    /// Whether `rep` is a live `T`.
    pub fn is<T: 'static>(&self, rep: u32) -> bool {
        self.slots
            .get(rep as usize)
            .and_then(|s| s.as_ref())
            .is_some_and(|b| b.is::<T>())
    }

    /// Removes the object `rep`, which must be a `T`.
    pub fn remove<T: 'static>(&mut self, rep: u32, what: &str) -> Result<T, Trap> {
        if !self.is::<T>(rep) {
            return Err(bad(rep, what));
        }
        let b = self.slots[rep as usize].take().expect("checked");
        self.free.push(rep);
        Ok(*b.downcast::<T>().expect("checked"))
    }

    /// Takes the object `rep` (a `T`) out of its slot for a call that must not hold the
    /// table's lock; the slot stays reserved (not reused, and not live) until
    /// [`Table::check_in`] puts the object back.
    pub fn check_out<T: Send + 'static>(&mut self, rep: u32, what: &str) -> Result<Box<T>, Trap> {
        if !self.is::<T>(rep) {
            return Err(bad(rep, what));
        }
        let b = self.slots[rep as usize].take().expect("checked");
        Ok(b.downcast::<T>().expect("checked"))
    }

    /// Puts back an object [`Table::check_out`] took.
    pub fn check_in<T: Send + 'static>(&mut self, rep: u32, obj: Box<T>) {
        if let Some(slot) = self.slots.get_mut(rep as usize) {
            *slot = Some(obj);
        }
    }
}

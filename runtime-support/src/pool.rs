//! The engine's pool of address-space reservations for linear memories and tables.
//!
//! Reserving (and unmapping) the 8 GiB guard reservation of a 32-bit memory is most of the
//! cost of instantiating a module with a memory. A [`Reservation`] taken from the pool reuses
//! a released one of the same length instead. On release it is reset with
//! `madvise(MADV_DONTNEED)` over its accessible prefix: anonymous pages read as zero again and
//! the private copy-on-write mapping of a module's data image (`apply_image` in `instance.rs`)
//! goes back to the image's bytes in the file. On reuse the accessible prefix is set to exactly
//! what the new owner asks for (`mprotect` of the difference), so everything past it faults as
//! in a fresh reservation; guard space is never made accessible. A slot that still maps another
//! module's image gets fresh anonymous pages over that image first; a slot that maps the image
//! of the same memory of the same module keeps it (no `mmap` at all on that path).
//!
//! The pool keeps at most `EngineConfig::pooled_reservations` released slots (beyond that a
//! released reservation is unmapped), is shared by every thread using the engine (a mutex
//! around the free list; resets run outside it) and unmaps its free slots when the engine is
//! dropped (reservations in use hold only a weak reference and unmap themselves if the engine
//! is gone when they are released).

use crate::error::Error;
use crate::memory::Mmap;
use crate::module::ModuleInner;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Which module memory's data image a slot maps, and where.
struct SlotImage {
    /// The module (a weak reference keeps its address from being reused by another module).
    module: Weak<ModuleInner>,
    /// The memory's index in the module.
    memory: u32,
    /// Page-aligned ranges `(offset, len)` mapped copy-on-write from the module's file.
    mapped: Vec<(usize, usize)>,
}

/// A released reservation waiting for reuse: reset, with `accessible` bytes read-write.
struct Slot {
    mmap: Mmap,
    accessible: usize,
    image: Option<SlotImage>,
}

/// The per-engine pool of released reservations.
pub(crate) struct ReservationPool {
    max_free: usize,
    free: Mutex<Vec<Slot>>,
}

impl ReservationPool {
    /// A pool keeping at most `max_free` released reservations (0: none, pooling off).
    pub(crate) fn new(max_free: usize) -> Arc<ReservationPool> {
        Arc::new(ReservationPool {
            max_free,
            free: Mutex::new(Vec::new()),
        })
    }

    /// Released reservations currently kept.
    pub(crate) fn free_count(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A free slot of `len` bytes: one mapping `image`'s image if any, else one mapping no
    /// image, else any.
    fn take(&self, len: usize, image: Option<(&Arc<ModuleInner>, u32)>) -> Option<Slot> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let mut fallback = None;
        for (i, s) in free.iter().enumerate().rev() {
            if s.mmap.len() != len {
                continue;
            }
            match (&s.image, image) {
                (Some(si), Some((m, k))) if same_image(si, m, k) => {
                    return Some(free.swap_remove(i));
                }
                (None, None) => return Some(free.swap_remove(i)),
                (None, Some(_)) => fallback = Some(i),
                (Some(_), _) => {
                    fallback = fallback.or(Some(i));
                }
            }
        }
        fallback.map(|i| free.swap_remove(i))
    }

    /// Keeps a reset slot for reuse, or unmaps it when the pool is full.
    fn give(&self, slot: Slot) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < self.max_free {
            free.push(slot);
        }
        // Otherwise `slot` is unmapped when it goes out of scope, after the lock is released.
        drop(free);
    }
}

fn same_image(si: &SlotImage, m: &Arc<ModuleInner>, k: u32) -> bool {
    si.memory == k && std::ptr::eq(si.module.as_ptr(), Arc::as_ptr(m))
}

/// Address space for a linear memory or a table: pooled (returned to the engine's pool on
/// drop) or a plain mapping.
pub(crate) struct Reservation {
    slot: Option<Slot>,
    /// Bytes currently read-write from the start (only ever grows while in use).
    accessible: AtomicUsize,
    pool: Option<Weak<ReservationPool>>,
    /// Image ranges already present (a reused slot of the same module memory).
    reused_image: bool,
}

impl Reservation {
    /// Reserves `len` bytes with the first `accessible` read-write (and zero), from `pool` when
    /// given and it has a slot of that length. `image` names the module memory whose data
    /// image the caller is about to map: a slot already mapping it is preferred, and then
    /// [`Reservation::image_mapped`] says so.
    pub(crate) fn new(
        pool: Option<&Arc<ReservationPool>>,
        len: usize,
        accessible: usize,
        image: Option<(&Arc<ModuleInner>, u32)>,
    ) -> Result<Reservation, Error> {
        if accessible > len {
            return Err(Error::Other(
                "accessible prefix beyond the reservation".into(),
            ));
        }
        let pool = pool.filter(|p| p.max_free > 0 && len > 0);
        if let Some(p) = pool {
            // A slot that cannot be prepared is unmapped; a fresh reservation replaces it.
            if let Some(Ok(mut r)) = p
                .take(len, image)
                .map(|slot| Reservation::reuse(slot, accessible, image))
            {
                r.pool = Some(Arc::downgrade(p));
                return Ok(r);
            }
        }
        let mmap = Mmap::reserve(len)?;
        mmap.make_accessible(0, accessible)?;
        Ok(Reservation {
            slot: Some(Slot {
                mmap,
                accessible: 0,
                image: None,
            }),
            accessible: AtomicUsize::new(accessible),
            pool: pool.map(Arc::downgrade),
            reused_image: false,
        })
    }

    /// Prepares a released slot: drops a foreign image, sets the accessible prefix.
    fn reuse(
        mut slot: Slot,
        accessible: usize,
        image: Option<(&Arc<ModuleInner>, u32)>,
    ) -> Result<Reservation, Error> {
        let keep = match (&slot.image, image) {
            (Some(si), Some((m, k))) => same_image(si, m, k),
            _ => false,
        };
        if !keep {
            if let Some(si) = slot.image.take() {
                for (off, len) in si.mapped {
                    // The image lies inside the accessible prefix (it was mapped there and the
                    // prefix never shrinks while in use): fresh zero pages, read-write.
                    slot.mmap.replace_anonymous(off, len)?;
                }
            }
        }
        if accessible > slot.accessible {
            slot.mmap
                .make_accessible(slot.accessible, accessible - slot.accessible)?;
        } else if accessible < slot.accessible {
            slot.mmap
                .make_inaccessible(accessible, slot.accessible - accessible)?;
        }
        Ok(Reservation {
            slot: Some(slot),
            accessible: AtomicUsize::new(accessible),
            pool: None,
            reused_image: keep,
        })
    }

    fn mmap(&self) -> &Mmap {
        &self.slot.as_ref().expect("reservation in use").mmap
    }

    /// Start of the reservation.
    pub(crate) fn base(&self) -> *mut u8 {
        self.mmap().base()
    }

    /// Length of the reservation.
    pub(crate) fn len(&self) -> usize {
        self.mmap().len()
    }

    /// Whether `[off, off + len)` already maps the image named at creation (the slot was reused
    /// from the same module memory and reset to the image's bytes).
    pub(crate) fn image_mapped(&self, off: usize, len: usize) -> bool {
        self.reused_image
            && self
                .slot
                .as_ref()
                .and_then(|s| s.image.as_ref())
                .is_some_and(|si| si.mapped.contains(&(off, len)))
    }

    /// Records that `[off, off + len)` now maps the image of memory `memory` of `module`
    /// copy-on-write from its file (so a reset restores it and a reuse for the same memory
    /// keeps it).
    pub(crate) fn record_image(
        &mut self,
        module: &Arc<ModuleInner>,
        memory: u32,
        off: usize,
        len: usize,
    ) {
        let slot = self.slot.as_mut().expect("reservation in use");
        match &mut slot.image {
            Some(si) if same_image(si, module, memory) => si.mapped.push((off, len)),
            _ => {
                slot.image = Some(SlotImage {
                    module: Arc::downgrade(module),
                    memory,
                    mapped: vec![(off, len)],
                })
            }
        }
    }

    /// Makes `[start, start + len)` read-write (callers serialize growth).
    pub(crate) fn make_accessible(&self, start: usize, len: usize) -> Result<(), Error> {
        self.mmap().make_accessible(start, len)?;
        self.accessible
            .fetch_max(start.saturating_add(len), Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let Some(mut slot) = self.slot.take() else {
            return;
        };
        let Some(pool) = self.pool.as_ref().and_then(Weak::upgrade) else {
            return; // Unpooled, or the engine is gone: `slot` unmaps.
        };
        slot.accessible = *self.accessible.get_mut();
        // Reset: zero pages for anonymous memory, the file's bytes for a mapped image.
        if slot.mmap.discard(0, slot.accessible).is_ok() {
            pool.give(slot);
        }
    }
}

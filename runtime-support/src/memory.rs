//! Linear memories: reservations, growth, and the host-facing [`Memory`] handle.
//!
//! A 32-bit memory reserves `GUARD_RESERVATION` bytes of address space (`PROT_NONE`) and makes the
//! accessible prefix read-write, so guard-page compiled code needs no bounds checks and any
//! out-of-bounds access faults (the fault becomes a trap in `traps.rs`). The definition that
//! compiled code reads (`VMMemoryDefinition`) lives in the defining instance's VM context, or in
//! a heap box for host-created memories; `grow` updates it in place. The inaccessible part of a
//! reservation is `MADV_DONTDUMP`: core dumps hold the guest's memory, not its guard space.

use crate::engine::Engine;
use crate::error::Error;
use crate::instance::InstanceInner;
use crate::module::ModuleInner;
use crate::pool::Reservation;
use crate::vm::VMMemoryDefinition;
use kiln_environ::vmoffsets::GUARD_RESERVATION;
use kiln_environ::MemoryType;
use std::sync::{Arc, Mutex};

/// Bytes in a wasm page (64 KiB pages only).
pub const WASM_PAGE_SIZE: u64 = 65536;
/// Maximum pages of a 32-bit memory.
pub const MAX_PAGES_32: u64 = 65536;
/// Largest reservation for a 64-bit memory (it cannot move, so it cannot grow beyond this).
const MAX_RESERVATION_64: u64 = 1 << 33;

/// The host's page size.
pub(crate) fn host_page_size() -> usize {
    // SAFETY: `sysconf` has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// An anonymous mapping, unmapped on drop: a reservation of address space made accessible
/// piece by piece (linear memories, tables).
pub(crate) struct Mmap {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory; access is coordinated by its owners.
unsafe impl Send for Mmap {}
// SAFETY: as above.
unsafe impl Sync for Mmap {}

impl Mmap {
    /// Reserves `len` bytes of inaccessible address space.
    pub(crate) fn reserve(len: usize) -> Result<Mmap, Error> {
        if len == 0 {
            return Ok(Mmap {
                base: std::ptr::NonNull::dangling().as_ptr(),
                len: 0,
            });
        }
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::Other(format!(
                "cannot reserve {len} bytes of address space for a linear memory: {}",
                std::io::Error::last_os_error()
            )));
        }
        // Core dumps (the kernel's and gdb's `gcore`) leave out the inaccessible part: without
        // this, a core of a host with one guest page holds the whole reservation (8 GiB).
        // `make_accessible` opts each accessible range back in. Advice only: a kernel without
        // MADV_DONTDUMP still runs guests, with larger cores.
        // SAFETY: advice on our own fresh mapping.
        unsafe { libc::madvise(p, len, libc::MADV_DONTDUMP) };
        Ok(Mmap {
            base: p.cast(),
            len,
        })
    }

    /// Makes `[start, start + len)` readable and writable.
    pub(crate) fn make_accessible(&self, start: usize, len: usize) -> Result<(), Error> {
        if len == 0 {
            return Ok(());
        }
        assert!(
            start + len <= self.len,
            "make_accessible beyond the reservation"
        );
        // SAFETY: the range lies inside our own mapping (asserted above).
        let r = unsafe {
            libc::mprotect(
                self.base.add(start).cast(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if r != 0 {
            return Err(Error::Other(format!(
                "cannot commit linear memory: {}",
                std::io::Error::last_os_error()
            )));
        }
        // The guest's memory belongs in core dumps (see `reserve`).
        // SAFETY: advice on a range of our own mapping.
        unsafe { libc::madvise(self.base.add(start).cast(), len, libc::MADV_DODUMP) };
        Ok(())
    }

    /// Makes `[start, start + len)` inaccessible again (its pages must already be discarded).
    pub(crate) fn make_inaccessible(&self, start: usize, len: usize) -> Result<(), Error> {
        if len == 0 {
            return Ok(());
        }
        assert!(
            start + len <= self.len,
            "make_inaccessible beyond the reservation"
        );
        // SAFETY: the range lies inside our own mapping (asserted above); nothing in it is in
        // use (a released pool slot being prepared for a new owner).
        let r = unsafe { libc::mprotect(self.base.add(start).cast(), len, libc::PROT_NONE) };
        if r != 0 {
            return Err(os_error("cannot protect a reused reservation"));
        }
        // SAFETY: advice on a range of our own mapping (see `reserve`).
        unsafe { libc::madvise(self.base.add(start).cast(), len, libc::MADV_DONTDUMP) };
        Ok(())
    }

    /// Throws away the contents of `[start, start + len)`: anonymous pages read as zero again,
    /// private file mappings as the file's bytes.
    pub(crate) fn discard(&self, start: usize, len: usize) -> Result<(), Error> {
        if len == 0 {
            return Ok(());
        }
        assert!(start + len <= self.len, "discard beyond the reservation");
        // SAFETY: the range lies inside our own mapping, which nobody uses any more (a
        // reservation being released).
        let r = unsafe { libc::madvise(self.base.add(start).cast(), len, libc::MADV_DONTNEED) };
        if r != 0 {
            return Err(os_error("cannot reset a released reservation"));
        }
        Ok(())
    }

    /// Replaces `[start, start + len)` (page-aligned) with fresh read-write anonymous pages
    /// (dropping a file image mapped there).
    pub(crate) fn replace_anonymous(&self, start: usize, len: usize) -> Result<(), Error> {
        if len == 0 {
            return Ok(());
        }
        assert!(start + len <= self.len, "replace beyond the reservation");
        // SAFETY: a fixed anonymous mapping over a range of our own reservation that nobody
        // uses (a released pool slot being prepared for a new owner).
        let p = unsafe {
            libc::mmap(
                self.base.add(start).cast(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_error("cannot reset a reused reservation"));
        }
        Ok(())
    }

    /// Start of the mapping.
    pub(crate) fn base(&self) -> *mut u8 {
        self.base
    }

    /// Length of the mapping.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: unmapping our own mapping, which nothing uses any more.
            unsafe { libc::munmap(self.base.cast(), self.len) };
        }
    }
}

/// The storage behind a [`Memory`]: reservation, type and the definition compiled code reads.
pub(crate) struct MemoryInner {
    mmap: Reservation,
    ty: MemoryType,
    /// Largest size in pages this memory may reach.
    max_pages: u64,
    /// The definition: in a VM context (instance memories) or in `own_def` (host memories).
    def: *mut VMMemoryDefinition,
    own_def: Option<Box<VMMemoryDefinition>>,
    grow_lock: Mutex<()>,
}

// SAFETY: the raw pointers refer to memory kept alive by the owners of the handle; growth is
// serialized by `grow_lock`; guest accesses are the guest's own business (racy like wasm threads).
unsafe impl Send for MemoryInner {}
// SAFETY: as above.
unsafe impl Sync for MemoryInner {}

impl MemoryInner {
    /// Creates a memory of type `ty` whose definition lives at `def` (when given) or in a box,
    /// in a reservation from `engine`'s pool; `image` is the module memory whose data images
    /// are mapped into it (memory `k` of the module).
    ///
    /// # Safety
    /// `def`, when given, must stay valid for as long as the returned value is used.
    pub(crate) unsafe fn new(
        engine: &Engine,
        ty: &MemoryType,
        def: Option<*mut VMMemoryDefinition>,
        image: Option<(&Arc<ModuleInner>, u32)>,
    ) -> Result<MemoryInner, Error> {
        if ty.page_size_log2 != 16 {
            return Err(Error::Other("only 64 KiB pages are supported".into()));
        }
        let limit = if ty.memory64 {
            u64::MAX / WASM_PAGE_SIZE
        } else {
            MAX_PAGES_32
        };
        let max_pages = ty.max.unwrap_or(limit).min(limit);
        if ty.min > max_pages {
            return Err(Error::Other(format!(
                "memory minimum of {} pages exceeds the maximum of {max_pages}",
                ty.min
            )));
        }
        let reservation = if ty.memory64 {
            let want = max_pages
                .saturating_mul(WASM_PAGE_SIZE)
                .min(MAX_RESERVATION_64);
            want.max(ty.min.saturating_mul(WASM_PAGE_SIZE))
                .saturating_add(WASM_PAGE_SIZE)
        } else {
            GUARD_RESERVATION
        };
        let reservation = usize::try_from(reservation)
            .map_err(|_| Error::Other("memory too large for this host".into()))?;
        let min_bytes = (ty.min * WASM_PAGE_SIZE) as usize;
        if min_bytes > reservation {
            return Err(Error::Other(
                "memory minimum exceeds the reservation".into(),
            ));
        }
        let mut mmap = Reservation::new(engine.pool(), reservation, min_bytes, image)?;
        if let Some((m, k)) = image {
            for img in m.metadata.memory_images.iter().filter(|i| i.memory == k) {
                apply_image(m, k, &mut mmap, min_bytes, img)?;
            }
        }
        let (def, own_def) = match def {
            Some(p) => (p, None),
            None => {
                let mut b = Box::new(VMMemoryDefinition {
                    base: std::ptr::null_mut(),
                    current_length: 0,
                });
                (&mut *b as *mut VMMemoryDefinition, Some(b))
            }
        };
        // SAFETY: `def` is valid (caller contract or our own box).
        unsafe {
            (*def).base = mmap.base();
            (*def).current_length = min_bytes as u64;
        }
        Ok(MemoryInner {
            mmap,
            ty: ty.clone(),
            max_pages,
            def,
            own_def,
            grow_lock: Mutex::new(()),
        })
    }

    /// The definition compiled code reads.
    pub(crate) fn definition(&self) -> *mut VMMemoryDefinition {
        let _ = &self.own_def;
        self.def
    }

    /// Current accessible length in bytes.
    pub(crate) fn byte_len(&self) -> u64 {
        // SAFETY: `def` is valid while `self` is (constructor contract).
        unsafe { (*self.def).current_length }
    }

    /// Whether the memory is 64-bit indexed.
    pub(crate) fn is_64(&self) -> bool {
        self.ty.memory64
    }

    /// Base address.
    pub(crate) fn base(&self) -> *mut u8 {
        self.mmap.base()
    }

    /// Grows by `delta` pages if `limiter` (the store's) allows it; returns the old size in
    /// pages, or `None` when it cannot grow.
    pub(crate) fn grow_limited(
        &self,
        delta: u64,
        limiter: Option<&dyn crate::ResourceLimiter>,
    ) -> Option<u64> {
        let _g = self.grow_lock.lock().unwrap_or_else(|e| e.into_inner());
        let old_bytes = self.byte_len();
        let old = old_bytes / WASM_PAGE_SIZE;
        let new = old.checked_add(delta)?;
        if new > self.max_pages {
            return None;
        }
        let new_bytes = new.checked_mul(WASM_PAGE_SIZE)?;
        let max_bytes = self.ty.max.map(|m| m.saturating_mul(WASM_PAGE_SIZE));
        if let Some(l) = limiter {
            if delta != 0 && !l.memory_growing(old_bytes, new_bytes, max_bytes) {
                return None;
            }
        }
        // Keep at least one guard page inside the reservation for 64-bit memories.
        if new_bytes
            > (self.mmap.len() as u64).saturating_sub(if self.ty.memory64 {
                WASM_PAGE_SIZE
            } else {
                0
            })
        {
            return None;
        }
        self.mmap
            .make_accessible(old_bytes as usize, (new_bytes - old_bytes) as usize)
            .ok()?;
        // SAFETY: `def` is valid while `self` is; growth is serialized by `grow_lock`.
        unsafe { (*self.def).current_length = new_bytes };
        Some(old)
    }

    /// The memory's type with the current size as minimum.
    pub(crate) fn ty(&self) -> MemoryType {
        MemoryType {
            min: self.byte_len() / WASM_PAGE_SIZE,
            ..self.ty.clone()
        }
    }

    /// Checks that `[offset, offset + len)` is accessible; returns the start address.
    pub(crate) fn range(&self, offset: u64, len: u64) -> Option<*mut u8> {
        let end = offset.checked_add(len)?;
        if end > self.byte_len() {
            return None;
        }
        // SAFETY: the range was just checked to lie inside the accessible memory.
        Some(unsafe { self.base().add(offset as usize) })
    }
}

/// A linear memory: exported by an instance or created by the host. Cloning gives another handle
/// to the same memory.
#[derive(Clone)]
pub struct Memory {
    pub(crate) inner: Arc<MemoryInner>,
    /// Keeps alive the VM context holding the definition, for instance memories.
    pub(crate) _instance: Option<Arc<InstanceInner>>,
}

impl Memory {
    /// Creates a host memory of type `ty` (64 KiB pages, max ≤ 65536 pages for 32-bit memories).
    pub fn new(engine: &Engine, ty: MemoryType) -> Result<Memory, Error> {
        // SAFETY: no external definition: the memory owns its own.
        let inner = unsafe { MemoryInner::new(engine, &ty, None, None)? };
        Ok(Memory {
            inner: Arc::new(inner),
            _instance: None,
        })
    }

    /// The type, with the current size as minimum.
    pub fn ty(&self) -> MemoryType {
        self.inner.ty()
    }

    /// Current size in pages.
    pub fn size_pages(&self) -> u64 {
        self.inner.byte_len() / WASM_PAGE_SIZE
    }

    /// Current size in bytes.
    pub fn data_size(&self) -> u64 {
        self.inner.byte_len()
    }

    /// Grows by `delta` pages; returns the old size in pages.
    pub fn grow(&self, delta: u64) -> Result<u64, Error> {
        // An instance's memory grows within its store's limits.
        let limiter = self._instance.as_ref().and_then(|i| i.store().limiter());
        self.inner
            .grow_limited(delta, limiter.as_deref())
            .ok_or_else(|| Error::Other(format!("failed to grow memory by {delta} pages")))
    }

    /// Copies bytes out of the memory.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        let p = self.inner.range(offset, buf.len() as u64).ok_or_else(oob)?;
        // SAFETY: `p..p+len` is accessible memory (checked by `range`); guest memory may be
        // written concurrently by guest code, as with any wasm memory.
        unsafe { std::ptr::copy(p, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies bytes into the memory.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), Error> {
        let p = self
            .inner
            .range(offset, data.len() as u64)
            .ok_or_else(oob)?;
        // SAFETY: as in `read`.
        unsafe { std::ptr::copy(data.as_ptr(), p, data.len()) };
        Ok(())
    }

    /// Base address of the memory (valid until the memory is dropped; it never moves).
    pub fn data_ptr(&self) -> *mut u8 {
        self.inner.base()
    }

    /// Whether two handles refer to the same memory.
    pub fn same(a: &Memory, b: &Memory) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }
}

/// Maps (or copies) data image `img` of memory `k` of `m` into a fresh reservation whose first
/// `accessible` bytes are read-write and zero (or already hold this image: a reused pool slot).
fn apply_image(
    m: &Arc<ModuleInner>,
    k: u32,
    mem: &mut Reservation,
    accessible: usize,
    img: &kiln_environ::MemoryImage,
) -> Result<(), Error> {
    let beyond = || Error::Other("memory image beyond the memory's initial size".into());
    let end = img.memory_offset.checked_add(img.len).ok_or_else(beyond)?;
    if end > accessible as u64 {
        return Err(beyond());
    }
    if img.len == 0 {
        return Ok(());
    }
    let (off, len) = (img.memory_offset as usize, img.len as usize);
    if mem.image_mapped(off, len) {
        // A pool slot reset to this very image.
        return Ok(());
    }
    // SAFETY: `off + len <= accessible <= mem.len()` (checked above).
    let dst = unsafe { mem.base().add(off) };
    if let Some((file, foff)) = &m.image_source {
        use std::os::fd::AsRawFd;
        let page = crate::traps::page_size() as u64;
        let foff = foff + img.data_offset;
        if foff.is_multiple_of(page)
            && (dst as u64).is_multiple_of(page)
            && img.len.is_multiple_of(page)
        {
            // SAFETY: maps the file's image bytes copy-on-write over a page-aligned range of our
            // own reservation (replacing the read-write anonymous pages there).
            let p = unsafe {
                libc::mmap(
                    dst.cast(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_FIXED,
                    file.as_raw_fd(),
                    foff as libc::off_t,
                )
            };
            if p != libc::MAP_FAILED {
                mem.record_image(m, k, off, len);
                return Ok(());
            }
        }
    }
    // SAFETY: the image lies in the data blob (checked at load), the destination in accessible
    // memory (checked above).
    unsafe { std::ptr::copy_nonoverlapping(m.data.add(img.data_offset as usize), dst, len) };
    Ok(())
}

fn os_error(what: &str) -> Error {
    Error::Other(format!("{what}: {}", std::io::Error::last_os_error()))
}

fn oob() -> Error {
    Error::Other("out of bounds memory access".into())
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("pages", &self.size_pages())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Trap;
    use kiln_environ::TrapKind;

    fn ty(min: u64, max: Option<u64>) -> MemoryType {
        MemoryType {
            min,
            max,
            memory64: false,
            shared: false,
            page_size_log2: 16,
        }
    }

    #[test]
    fn grow_read_write() {
        let e = Engine::default();
        let m = Memory::new(&e, ty(1, Some(3))).unwrap();
        assert_eq!(m.size_pages(), 1);
        assert_eq!(m.data_size(), 65536);
        m.write(65532, &[1, 2, 3, 4]).unwrap();
        let mut b = [0; 4];
        m.read(65532, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
        assert!(m.write(65533, &[0; 4]).is_err());
        assert!(m.read(u64::MAX, &mut b).is_err());
        m.read(65536, &mut []).unwrap();
        assert_eq!(m.grow(2).unwrap(), 1);
        assert!(m.grow(1).is_err());
        assert_eq!(m.grow(0).unwrap(), 3);
        m.write(3 * 65536 - 1, &[9]).unwrap();
        assert_eq!(m.ty().min, 3);
        // Fresh pages are zero.
        m.read(65536, &mut b).unwrap();
        assert_eq!(b, [0; 4]);
    }

    #[test]
    fn limits() {
        let e = Engine::default();
        assert!(Memory::new(&e, ty(2, Some(1))).is_err());
        assert!(Memory::new(&e, ty(65537, None)).is_err());
        assert!(Memory::new(
            &e,
            MemoryType {
                page_size_log2: 0,
                ..ty(1, None)
            }
        )
        .is_err());
        let m = Memory::new(&e, ty(0, None)).unwrap();
        assert_eq!(m.data_size(), 0);
        assert_eq!(m.grow(1).unwrap(), 0);
        assert!(m.grow(65536).is_err());
        let m64 = Memory::new(
            &e,
            MemoryType {
                memory64: true,
                ..ty(1, Some(4))
            },
        )
        .unwrap();
        assert_eq!(m64.grow(3).unwrap(), 1);
        assert!(m64.grow(1).is_err());
    }

    /// A stand-in for compiled code: loads a byte from `rdi`.
    #[unsafe(naked)]
    unsafe extern "C" fn guest_load(_p: *const u8) -> u8 {
        core::arch::naked_asm!(
            "push rbp",
            "mov rbp, rsp",
            "mov al, [rdi]",
            "pop rbp",
            "ret"
        )
    }

    #[test]
    fn guard_region_faults_become_traps() {
        let e = Engine::default();
        let m = Memory::new(&e, ty(1, None)).unwrap();
        let start = guest_load as *const () as usize;
        crate::traps::register_code(start, 16, std::sync::Weak::new());
        let run = |offset: usize| -> Result<u8, Trap> {
            let p = m.data_ptr().wrapping_add(offset);
            let mut out = 0u8;
            let out_p: *mut u8 = &mut out;
            let mut body = || {
                // SAFETY: `guest_load` is registered guest code; a fault in it unwinds.
                unsafe { *out_p = guest_load(p) }
            };
            // SAFETY: the body holds only raw pointers.
            unsafe { crate::traps::catch_traps(1 << 20, std::ptr::null(), &mut body)? };
            Ok(out)
        };
        m.write(10, &[77]).unwrap();
        assert_eq!(run(10).unwrap(), 77);
        for off in [65536, 1 << 20, (1 << 32) + 5] {
            let t = run(off).unwrap_err();
            assert_eq!(t.kind, TrapKind::MemoryOutOfBounds);
        }
        // After a grow the same address is fine.
        m.grow(1).unwrap();
        assert_eq!(run(65536).unwrap(), 0);
        crate::traps::unregister_code(
            start,
            std::sync::Weak::<crate::module::ModuleInner>::new().as_ptr(),
        );
    }
}

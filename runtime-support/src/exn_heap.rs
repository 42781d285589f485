//! The exception heap: where exception objects (what an `exnref` points at) live.
//!
//! kiln has no garbage collector, so exception objects get a lifetime the runtime can bound
//! without one:
//!
//! - **Scope.** Objects belong to the calling thread and live at most until its outermost
//!   host-to-guest entry returns (`traps::catch_traps` calls [`reset`]). Nothing can hold an
//!   `exnref` beyond that: the compiler rejects tables and mutable globals of `exnref`, and the
//!   host never receives a non-null `exnref` (an uncaught exception reaches it as a copy, see
//!   `crate::Exception`). While guest code runs, an object is reachable only from the guest's
//!   stack frames and registers, from the payload of another reachable object, or from the
//!   exception being thrown.
//! - **Collection.** When the number of objects reaches a threshold, the `exn_new` builtin
//!   first collects: every word of the thread's stack between the current stack pointer and the
//!   outermost entry, and the callee-saved registers, is a root (so is every word of the
//!   thread's other stacks holding guest frames: fibers, `traps::parked_guest_stacks`) if it points into an object
//!   (its start or any byte inside, in case compiled code keeps an address derived from an
//!   `exnref`; conservative: an integer that happens to look like one keeps the object alive);
//!   the payload slots of type `exnref` of reachable objects are traced precisely. Unreachable
//!   objects are freed and the threshold becomes twice what survived, so a guest that throws
//!   and catches in a loop runs in bounded memory.
//! - **Limit.** If more than `EngineConfig::max_live_exceptions` objects (of the engine of the
//!   tag being allocated) or [`MAX_BYTES`] bytes survive (a guest deliberately keeping
//!   exceptions alive, e.g. chained through payloads), allocation traps with
//!   `TrapKind::ExceptionLimit`.
//!
//! Allocations made on the host's behalf (exceptions a host function throws) never collect:
//! their objects may only be referenced from Rust values until the guest sees them.

use crate::tag::Tag;
use kiln_environ::exception::{EXN_ALIGN, EXN_PAYLOAD_OFFSET, EXN_SLOT_SIZE, EXN_TAG_OFFSET};
use kiln_environ::{TrapKind, ValType};
use std::alloc::Layout;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};

/// Most bytes of exception objects alive at once on one thread.
pub(crate) const MAX_BYTES: usize = 256 << 20;
/// The object count below which no collection is attempted.
const MIN_THRESHOLD: usize = 1024;

/// One live object.
struct Entry {
    /// Keeps the tag (whose address the object carries) alive.
    tag: Tag,
    layout: Layout,
}

/// The thread's exception objects.
struct Heap {
    /// By address (ordered, so a word pointing inside an object finds it).
    objects: BTreeMap<usize, Entry>,
    bytes: usize,
    threshold: usize,
}

impl Heap {
    fn new() -> Heap {
        Heap {
            objects: BTreeMap::new(),
            bytes: 0,
            threshold: MIN_THRESHOLD,
        }
    }

    /// The start of the object `w` points into, if any.
    fn object_containing(&self, w: usize) -> Option<usize> {
        let (start, e) = self.objects.range(..=w).next_back()?;
        (w < start + e.layout.size()).then_some(*start)
    }

    fn free_all(&mut self) {
        for (addr, e) in std::mem::take(&mut self.objects) {
            // SAFETY: allocated by `alloc` with this layout; no guest code can reach it any more.
            unsafe { std::alloc::dealloc(addr as *mut u8, e.layout) };
        }
        self.bytes = 0;
        self.threshold = MIN_THRESHOLD;
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        self.free_all();
    }
}

thread_local! {
    static HEAP: RefCell<Heap> = RefCell::new(Heap::new());
}

/// The layout of an object with `n` payload slots.
fn layout(n: usize) -> Option<Layout> {
    let size = (EXN_SLOT_SIZE as usize)
        .checked_mul(n)?
        .checked_add(EXN_PAYLOAD_OFFSET as usize)?;
    Layout::from_size_align(size, EXN_ALIGN as usize).ok()
}

/// Allocates an object of `tag` with a zeroed payload; collects first (when due) if `collect`
/// gives the top of the stack to scan for roots: the outermost entry's stack pointer (see the
/// module documentation).
pub(crate) fn alloc(tag: &Tag, collect: Option<usize>) -> Result<usize, TrapKind> {
    HEAP.with(|h| {
        let mut h = h.borrow_mut();
        if let Some(high) = collect {
            if h.objects.len() >= h.threshold {
                // SAFETY: the caller passes the top of this thread's live guest stack.
                unsafe { collect_garbage(&mut h, high) };
            }
        }
        let layout = layout(tag.params().len()).ok_or(TrapKind::ExceptionLimit)?;
        let max_objects = tag.inner.engine.config().max_live_exceptions;
        if h.objects.len() >= max_objects || h.bytes.saturating_add(layout.size()) > MAX_BYTES {
            return Err(TrapKind::ExceptionLimit);
        }
        // SAFETY: the layout has a nonzero size (the header alone is 16 bytes).
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        if p.is_null() {
            return Err(TrapKind::ExceptionLimit);
        }
        // SAFETY: the header word lies inside the fresh allocation.
        unsafe {
            p.add(EXN_TAG_OFFSET as usize)
                .cast::<usize>()
                .write(tag.identity())
        };
        h.bytes += layout.size();
        h.objects.insert(
            p as usize,
            Entry {
                tag: tag.clone(),
                layout,
            },
        );
        Ok(p as usize)
    })
}

/// The tag of live object `exn`, or `None` if `exn` is not a live object of this thread.
pub(crate) fn tag_of(exn: usize) -> Option<Tag> {
    HEAP.with(|h| h.borrow().objects.get(&exn).map(|e| e.tag.clone()))
}

/// The raw payload slots of live object `exn` (`None` if it is not one).
pub(crate) fn payload(exn: usize) -> Option<Vec<u128>> {
    HEAP.with(|h| {
        let h = h.borrow();
        let e = h.objects.get(&exn)?;
        Some(
            (0..e.tag.params().len())
                // SAFETY: every slot lies inside the live object.
                .map(|i| unsafe { read_slot(exn, i) })
                .collect(),
        )
    })
}

/// Writes payload slot `i` of live object `exn` (`false` if it is not one or `i` is beyond).
pub(crate) fn set_payload(exn: usize, i: usize, raw: u128) -> bool {
    HEAP.with(|h| {
        let h = h.borrow();
        match h.objects.get(&exn) {
            Some(e) if i < e.tag.params().len() => {
                // SAFETY: slot `i` lies inside the live object; slots are 16-aligned.
                unsafe {
                    ((exn + slot_offset(i)) as *mut u8)
                        .cast::<[u8; 16]>()
                        .write(raw.to_le_bytes())
                };
                true
            }
            _ => false,
        }
    })
}

/// Number of live objects on this thread.
pub fn live_objects() -> usize {
    HEAP.with(|h| h.borrow().objects.len())
}

/// Frees every object of this thread (the outermost entry returned: nothing refers to them).
pub(crate) fn reset() {
    HEAP.with(|h| {
        if let Ok(mut h) = h.try_borrow_mut() {
            if !h.objects.is_empty() {
                h.free_all();
            }
        }
    });
}

fn slot_offset(i: usize) -> usize {
    EXN_PAYLOAD_OFFSET as usize + EXN_SLOT_SIZE as usize * i
}

/// Reads payload slot `i` of object `exn`.
///
/// # Safety
/// `exn` must be a live object with more than `i` slots.
unsafe fn read_slot(exn: usize, i: usize) -> u128 {
    // SAFETY: caller contract.
    u128::from_le_bytes(unsafe { ((exn + slot_offset(i)) as *const [u8; 16]).read() })
}

/// The stack pointer and the callee-saved registers, read at one point: a guest value that is
/// not in one of these registers any more was saved above that stack pointer by whichever frame
/// reused the register.
#[inline(always)]
fn stack_pointer_and_callee_saved() -> (usize, [usize; 6]) {
    let (sp, a, b, c, d, e, f): (usize, usize, usize, usize, usize, usize, usize);
    // SAFETY: copies registers into outputs; no memory access.
    unsafe {
        std::arch::asm!(
            "mov {sp}, rsp",
            "mov {a}, rbx", "mov {b}, rbp", "mov {c}, r12",
            "mov {d}, r13", "mov {e}, r14", "mov {f}, r15",
            sp = out(reg) sp,
            a = out(reg) a, b = out(reg) b, c = out(reg) c,
            d = out(reg) d, e = out(reg) e, f = out(reg) f,
            options(nomem, nostack, preserves_flags)
        );
    }
    (sp, [a, b, c, d, e, f])
}

/// Frees the objects that no root reaches: no word of the stack between this function's frame
/// and `high`, no callee-saved register, and no word of the thread's parked stacks with guest
/// frames (fibers, see `traps::parked_guest_stacks`).
///
/// # Safety
/// `high` must be the top of this thread's live stack region that holds guest frames (the
/// outermost entry's stack pointer), above this call.
#[inline(never)]
unsafe fn collect_garbage(h: &mut Heap, high: usize) {
    let (low, registers) = stack_pointer_and_callee_saved();
    let mut marked: HashSet<usize> = HashSet::new();
    let mut work = Vec::new();
    let root = |w: usize, marked: &mut HashSet<usize>, work: &mut Vec<usize>| {
        if let Some(o) = h.object_containing(w) {
            if marked.insert(o) {
                work.push(o);
            }
        }
    };
    for w in registers {
        root(w, &mut marked, &mut work);
    }
    let scan = |low: usize, high: usize, marked: &mut HashSet<usize>, work: &mut Vec<usize>| {
        let mut p = low.next_multiple_of(8);
        while p.saturating_add(8) <= high {
            // SAFETY: `p` lies in a live stack range (caller contract, or a parked stack listed
            // by `parked_guest_stacks`); a volatile read because the words belong to other
            // frames, not to any Rust object.
            let w = unsafe { std::ptr::read_volatile(p as *const usize) };
            root(w, marked, work);
            p += 8;
        }
    };
    scan(low, high, &mut marked, &mut work);
    // The thread's other stacks with guest frames (fibers: suspended ones, and the stacks that
    // resumed the running ones) are roots too.
    let complete =
        crate::traps::parked_guest_stacks(&mut |lo, hi| scan(lo, hi, &mut marked, &mut work));
    if !complete {
        // Some activation's stack is unknown: nothing can be proven unreachable.
        h.threshold = (2 * h.objects.len()).max(MIN_THRESHOLD);
        return;
    }
    while let Some(o) = work.pop() {
        let Some(e) = h.objects.get(&o) else { continue };
        for (i, t) in e.tag.params().iter().enumerate() {
            if *t == ValType::ExnRef {
                // SAFETY: `o` is a live object with this slot.
                let w = unsafe { read_slot(o, i) } as usize;
                if h.objects.contains_key(&w) && marked.insert(w) {
                    work.push(w);
                }
            }
        }
    }
    let (live, dead): (BTreeMap<_, _>, BTreeMap<_, _>) = std::mem::take(&mut h.objects)
        .into_iter()
        .partition(|(a, _)| marked.contains(a));
    h.objects = live;
    for (addr, e) in dead {
        h.bytes -= e.layout.size();
        // SAFETY: allocated with this layout; unreachable from the guest (not a root and not
        // in the payload of a reachable object).
        unsafe { std::alloc::dealloc(addr as *mut u8, e.layout) };
    }
    h.threshold = (2 * h.objects.len()).max(MIN_THRESHOLD);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Engine;
    use kiln_environ::FuncType;

    #[test]
    fn alloc_payload_collect_reset() {
        let e = Engine::default();
        let tag = Tag::new(
            &e,
            FuncType {
                params: vec![ValType::I32, ValType::ExnRef],
                results: vec![],
            },
        )
        .unwrap();
        reset();
        let a = alloc(&tag, None).unwrap();
        let b = alloc(&tag, None).unwrap();
        assert!(set_payload(a, 0, 7));
        assert!(set_payload(b, 1, a as u128));
        assert!(!set_payload(b, 2, 0));
        assert_eq!(payload(a).unwrap(), [7, 0]);
        assert!(Tag::same(&tag_of(b).unwrap(), &tag));
        // SAFETY: the header word of a live object.
        assert_eq!(unsafe { *(a as *const usize) }, tag.identity());
        // A pointer inside `b` is a root (on this test's stack); `a` survives through `b`'s
        // payload.
        let roots = std::hint::black_box([b + 20, 0usize]);
        let high = roots.as_ptr() as usize + 16;
        HEAP.with(|h| {
            let mut h = h.borrow_mut();
            // SAFETY: `roots` is live on this stack, above the collector's frame.
            unsafe { collect_garbage(&mut h, high) };
        });
        std::hint::black_box(&roots);
        assert!(tag_of(a).is_some() && tag_of(b).is_some());
        reset();
        assert_eq!(live_objects(), 0);
        assert!(tag_of(a).is_none() && payload(a).is_none());
    }
}

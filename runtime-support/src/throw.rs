//! Throwing: finding the catch handler of a thrown exception and resuming there.
//!
//! The `throw_ref` builtin (and a host function returning an exception, see `exception.rs`)
//! starts from the last guest exit (`traps::last_exit`: the frame pointer and return address of
//! the guest frame that called the runtime) and walks the frame-pointer chain of the innermost
//! activation, as backtraces do. For each frame it looks the return address up in its module's
//! exception table (`kiln_environ::exception`): a call site inside a `try_table` lists its
//! handlers in match order. A catch-all handler matches anything; a tag handler names a tag
//! index of the frame's instance, found through the VM context Cranelift keeps in a stack slot
//! at the call (`sp + context offset`, with `sp = fp - frame offset`), and matches when that
//! tag is the exception's tag (same tag object).
//!
//! The walk stops at the first return address outside guest code: the activation's entry (the
//! host called into wasm there), so exceptions never unwind through host frames. Without a
//! handler the exception becomes an uncaught-exception trap of this activation.
//!
//! Resuming ([`resume`], x86_64) restores the handler frame's stack and frame pointers, puts
//! the exception object in `rax` (Cranelift's first exception-payload register for the `tail`
//! convention; `rdx` is cleared) and jumps to the handler. Cranelift treats every other
//! register as clobbered on that edge, so nothing else is restored. Everything between the
//! handler frame and the runtime (guest frames, frame-less wrappers, the builtin's Rust frames
//! whose values were dropped first) is simply abandoned, as a trap abandons it.

use crate::error::Trap;
use crate::exception::Exception;
use crate::exn_heap;
use crate::instance::InstanceInner;
use crate::traps;
use crate::vm;
use kiln_environ::exception::CATCH_ALL;
use kiln_environ::{TrapKind, VMOffsets};

/// Where to resume: a handler, with its frame's stack and frame pointers.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Resume {
    pc: usize,
    sp: usize,
    fp: usize,
}

/// Most frames the handler search visits (deeper stacks are treated as having no handler).
const MAX_FRAMES: usize = 1 << 20;

/// Searches the guest frames of the innermost activation, from the last guest exit, for a
/// handler of an exception whose tag identity is `tag`. The returned value holds no resources,
/// so the caller can drop everything before resuming.
pub(crate) fn find_handler(tag: usize) -> Option<Resume> {
    let (low, high) = traps::activation_stack()?;
    let (mut fp, mut pc) = traps::last_exit();
    for _ in 0..MAX_FRAMES {
        // `pc` is a return address: the call it returns from is just before it.
        let module = traps::module_at(pc.checked_sub(1)?)?;
        let text = module.text as usize;
        let off = u32::try_from(pc.checked_sub(text)?).ok()?;
        if let Some((frame_offset, handlers)) = module.metadata.exception_table.lookup(off) {
            let sp = fp.checked_sub(frame_offset as usize)?;
            if sp < low || sp > fp {
                return None;
            }
            for h in handlers {
                let matches = h.tag == CATCH_ALL
                    // SAFETY: `sp` is in this activation's stack (checked above); `frame_tag`
                    // checks the context slot's bounds itself.
                    || unsafe { frame_tag(sp, h.context_sp_offset, h.tag, low, high) } == Some(tag);
                if matches {
                    let handler = h.handler as usize;
                    if handler >= module.text_len {
                        return None;
                    }
                    return Some(Resume {
                        pc: text + handler,
                        sp,
                        fp,
                    });
                }
            }
        }
        if fp < low || !fp.is_multiple_of(8) || fp.checked_add(16)? > high {
            return None;
        }
        // SAFETY: `fp` and `fp + 8` lie in the live stack range checked above.
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if next <= fp {
            return None;
        }
        fp = next;
        pc = ret;
    }
    None
}

/// The identity of tag `index` of the instance whose VM context is stored at `sp + offset`.
///
/// # Safety
/// `[low, high)` must be this thread's live stack.
unsafe fn frame_tag(sp: usize, offset: u32, index: u32, low: usize, high: usize) -> Option<usize> {
    let slot = sp.checked_add(offset as usize)?;
    if slot < low || slot.checked_add(8)? > high || !slot.is_multiple_of(8) {
        return None;
    }
    // SAFETY: the slot lies in the live stack (checked above).
    let vmctx = unsafe { *(slot as *const *mut u8) };
    // SAFETY: the exception table says the slot holds the frame's VM context; the magic check
    // guards against a corrupt table.
    if vmctx.is_null() || !unsafe { vm::is_instance_vmctx(vmctx) } {
        return None;
    }
    // SAFETY: an instance VM context holds `Arc::as_ptr` of its live `InstanceInner` (the frame
    // running its code keeps it alive).
    let inst = unsafe {
        &*vmctx
            .add(VMOffsets::vmctx_instance() as usize)
            .cast::<*const InstanceInner>()
            .read()
    };
    Some(inst.tags.get(index as usize)?.identity())
}

/// What throwing exception object `exn` does: resume at a handler, or end the activation with
/// an uncaught-exception trap (or another trap, if `exn` is not a live exception object).
pub(crate) fn throw_action(exn: usize) -> Result<Resume, Trap> {
    let Some(tag) = exn_heap::tag_of(exn) else {
        return Err(Trap::new(TrapKind::NullReference));
    };
    let identity = tag.identity();
    drop(tag);
    find_handler(identity).ok_or_else(|| Trap::uncaught(Exception::from_object(exn)))
}

/// Resumes at handler `r` with exception object `exn`.
///
/// # Safety
/// `r` must come from [`find_handler`] in this activation, with no Rust value alive between
/// the handler frame and this call that needs dropping.
pub(crate) unsafe fn resume(r: Resume, exn: usize) -> ! {
    // SAFETY: forwarded caller contract.
    unsafe { kiln_resume(r.pc, r.sp, r.fp, exn) }
}

/// Jumps to `pc` with `rsp = sp`, `rbp = fp`, `rax = exn`, `rdx = 0`.
#[unsafe(naked)]
unsafe extern "C" fn kiln_resume(pc: usize, sp: usize, fp: usize, exn: usize) -> ! {
    core::arch::naked_asm!(
        "mov rax, rcx",
        "mov rsp, rsi",
        "mov rbp, rdx",
        "xor edx, edx",
        "jmp rdi",
    )
}

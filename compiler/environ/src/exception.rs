//! Exception handling: the exception-object layout compiled code reads and writes, and the
//! exception table (call sites with catch handlers) the runtime's unwinder searches.
//!
//! Compiled code never sees a tag object: `throw` asks the `exn_new` builtin for an exception
//! object of a module-local tag index, stores the payload into it at [`EXN_PAYLOAD_OFFSET`],
//! and passes it to the `throw_ref` builtin. Every call inside a `try_table` is a Cranelift
//! `try_call` whose handlers the compiler records here: for the call's return address, the
//! distance from the frame pointer down to the stack pointer at the call, and per catch clause
//! (in wasm order, innermost `try_table` first) the module-local tag index (or catch-all), the
//! stack slot holding the frame's VM context (to resolve the tag index to the instance's tag
//! object) and the handler's code offset. The handler expects the exception object in the
//! first exception-payload register of the platform (`rax` on x86_64).
//!
//! Like the trap table, the table is stored as fixed-width little-endian byte strings that the
//! runtime binary-searches in place (in the loaded object, never copied); loading checks only
//! the byte lengths, and lookups in a malformed table give wrong or no answers, never a panic.

use crate::shared::SharedBytes;

/// Offset, in an exception object, of the runtime's tag identity (a pointer, opaque to code).
pub const EXN_TAG_OFFSET: u32 = 0;
/// Offset, in an exception object, of the first payload slot.
pub const EXN_PAYLOAD_OFFSET: u32 = 16;
/// Size of one payload slot (a value little-endian at the slot's start, like `ValRaw`).
pub const EXN_SLOT_SIZE: u32 = 16;
/// Alignment of exception objects.
pub const EXN_ALIGN: u32 = 16;

/// The tag value of a catch-all handler (`catch_all`, `catch_all_ref`).
pub const CATCH_ALL: u32 = u32::MAX;
/// The context value of a handler without a VM-context slot (only catch-all handlers).
pub const NO_CONTEXT: u32 = u32::MAX;

/// Size of one call-site entry: return offset, frame offset, end of its handlers.
const SITE_SIZE: usize = 12;
/// Size of one handler entry: tag, context stack offset, handler code offset.
const HANDLER_SIZE: usize = 12;

/// One catch handler of a call site.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Handler {
    /// Module-local tag index, or [`CATCH_ALL`].
    pub tag: u32,
    /// Offset from the stack pointer at the call of the slot holding the frame's VM context,
    /// or [`NO_CONTEXT`].
    pub context_sp_offset: u32,
    /// Code offset (relative to `.text`) of the handler.
    pub handler: u32,
}

/// The exception table of a module: call sites with catch handlers, sorted by return offset.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExceptionTable {
    /// 12-byte entries `(return offset, frame offset, handlers end)`, sorted by return offset.
    sites: SharedBytes,
    /// 12-byte entries `(tag, context offset, handler offset)`; a site's handlers run from the
    /// previous site's end (0 for the first) to its own end.
    handlers: SharedBytes,
}

/// Builds an [`ExceptionTable`] from call sites given in code order.
#[derive(Default)]
pub struct ExceptionTableBuilder {
    sites: Vec<u8>,
    handlers: Vec<u8>,
    last: Option<u32>,
}

impl ExceptionTableBuilder {
    /// Adds a call site: `ret` is the return address's code offset, `frame_offset` the distance
    /// from the frame pointer down to the stack pointer at the call. Sites must come in
    /// strictly increasing `ret` order; sites without handlers are skipped.
    pub fn add_site(
        &mut self,
        ret: u32,
        frame_offset: u32,
        handlers: &[Handler],
    ) -> Result<(), String> {
        if handlers.is_empty() {
            return Ok(());
        }
        if self.last.is_some_and(|l| l >= ret) {
            return Err(format!("exception call site at {ret:#x} out of order"));
        }
        self.last = Some(ret);
        for h in handlers {
            for v in [h.tag, h.context_sp_offset, h.handler] {
                self.handlers.extend_from_slice(&v.to_le_bytes());
            }
        }
        let end = u32::try_from(self.handlers.len() / HANDLER_SIZE)
            .map_err(|_| "too many exception handlers".to_string())?;
        for v in [ret, frame_offset, end] {
            self.sites.extend_from_slice(&v.to_le_bytes());
        }
        Ok(())
    }

    /// The finished table.
    pub fn finish(self) -> ExceptionTable {
        ExceptionTable {
            sites: SharedBytes::from_vec(self.sites),
            handlers: SharedBytes::from_vec(self.handlers),
        }
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

impl ExceptionTable {
    /// Wraps the two tables' bytes, read in place (lookups never read outside them; see
    /// [`ExceptionTable::check`]).
    pub fn from_shared(sites: SharedBytes, handlers: SharedBytes) -> ExceptionTable {
        ExceptionTable { sites, handlers }
    }

    /// The call-site table's bytes.
    pub fn site_bytes(&self) -> &[u8] {
        self.sites.as_slice()
    }

    /// The handler table's bytes.
    pub fn handler_bytes(&self) -> &[u8] {
        self.handlers.as_slice()
    }

    /// Checks the byte lengths (a whole number of entries).
    pub fn check(&self) -> Result<(), String> {
        if !self.sites.len().is_multiple_of(SITE_SIZE)
            || !self.handlers.len().is_multiple_of(HANDLER_SIZE)
        {
            return Err("exception table has a partial entry".into());
        }
        Ok(())
    }

    /// Number of call sites with handlers.
    pub fn len(&self) -> usize {
        self.sites.len() / SITE_SIZE
    }

    /// Whether no call site has handlers.
    pub fn is_empty(&self) -> bool {
        self.sites.len() < SITE_SIZE
    }

    fn site(&self, i: usize) -> Option<(u32, u32, u32)> {
        let at = i.checked_mul(SITE_SIZE)?;
        Some((
            read_u32(self.sites.as_slice(), at)?,
            read_u32(self.sites.as_slice(), at + 4)?,
            read_u32(self.sites.as_slice(), at + 8)?,
        ))
    }

    /// The frame offset and handlers (in match order) of the call site whose return address
    /// is at `ret`, if it has any.
    pub fn lookup(&self, ret: u32) -> Option<(u32, impl Iterator<Item = Handler> + '_)> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.site(mid)?.0 < ret {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let (at, frame_offset, end) = self.site(lo)?;
        if at != ret {
            return None;
        }
        let start = match lo {
            0 => 0,
            _ => self.site(lo - 1)?.2,
        };
        let handlers = (start..end).map_while(move |i| {
            let at = (i as usize).checked_mul(HANDLER_SIZE)?;
            Some(Handler {
                tag: read_u32(self.handlers.as_slice(), at)?,
                context_sp_offset: read_u32(self.handlers.as_slice(), at + 4)?,
                handler: read_u32(self.handlers.as_slice(), at + 8)?,
            })
        });
        Some((frame_offset, handlers))
    }
}

impl std::fmt::Debug for ExceptionTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExceptionTable")
            .field("sites", &self.len())
            .field("handlers", &(self.handlers.len() / HANDLER_SIZE))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(tag: u32, handler: u32) -> Handler {
        Handler {
            tag,
            context_sp_offset: 8,
            handler,
        }
    }

    #[test]
    fn build_lookup_round_trip() {
        let mut b = ExceptionTableBuilder::default();
        b.add_site(0x10, 32, &[h(1, 0x40), h(CATCH_ALL, 0x44)])
            .unwrap();
        b.add_site(0x20, 0, &[]).unwrap();
        b.add_site(0x30, 48, &[h(0, 0x50)]).unwrap();
        assert!(b.add_site(0x30, 48, &[h(0, 0x50)]).is_err());
        let t = b.finish();
        let t = ExceptionTable::from_shared(
            SharedBytes::from_vec(t.site_bytes().to_vec()),
            SharedBytes::from_vec(t.handler_bytes().to_vec()),
        );
        t.check().unwrap();
        assert_eq!(t.len(), 2);
        let (fo, hs) = t.lookup(0x10).unwrap();
        assert_eq!(fo, 32);
        assert_eq!(hs.collect::<Vec<_>>(), [h(1, 0x40), h(CATCH_ALL, 0x44)]);
        let (fo, hs) = t.lookup(0x30).unwrap();
        assert_eq!(fo, 48);
        assert_eq!(hs.collect::<Vec<_>>(), [h(0, 0x50)]);
        for miss in [0, 0x11, 0x20, 0x2f, 0x31, u32::MAX] {
            assert!(t.lookup(miss).is_none(), "{miss:#x}");
        }
    }

    #[test]
    fn malformed_tables_never_panic() {
        let t = ExceptionTable::from_shared(
            SharedBytes::from_vec(vec![0xff; 13]),
            SharedBytes::from_vec(vec![1; 5]),
        );
        assert!(t.check().is_err());
        for pc in [0, 1, 0xffff_ffff] {
            if let Some((_, hs)) = t.lookup(pc) {
                let _ = hs.count();
            }
        }
        // A site whose handler range points past the handler bytes.
        let mut sites = Vec::new();
        for v in [4u32, 0, 1000] {
            sites.extend_from_slice(&v.to_le_bytes());
        }
        let t = ExceptionTable::from_shared(SharedBytes::from_vec(sites), SharedBytes::default());
        t.check().unwrap();
        assert_eq!(t.lookup(4).unwrap().1.count(), 0);
    }
}

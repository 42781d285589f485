//! `error-context` (CanonicalABI.md 📝): immutable debug messages behind handles, created with
//! `error-context.new`, read back with `error-context.debug-message`, passed between components
//! by copy (each lowering adds a handle to the same message) and freed with
//! `error-context.drop`. kiln keeps the guest's message as it was given (the spec lets a host
//! replace it, e.g. by an empty string).

use super::{ObjId, Object, State};
use crate::component::instance::Shared;
use crate::error::Trap;
use crate::values::Val;
use kiln_environ::component::{
    CanonicalOptions, ComponentInstanceIndex, ReallocIndex, RuntimeMemoryIndex, StringEncoding,
};
use std::sync::Arc;

/// Largest string a guest may hand over (CanonicalABI.md `MAX_STRING_BYTE_LENGTH`).
const MAX_STRING_BYTE_LENGTH: u64 = (1 << 31) - 1;

/// The UTF-16 tag of a latin1+UTF-16 string's length.
const UTF16_TAG: u32 = 1 << 31;

fn oob() -> Trap {
    Trap::abi("string content out-of-bounds (error-context message)")
}

impl Shared {
    /// `error-context.new`: the message at `ptr`/`units` (code units, tagged for
    /// latin1+UTF-16) in `opts`' memory and encoding; returns the handle.
    pub(crate) fn error_context_new(
        &self,
        opts: &CanonicalOptions,
        ptr: u32,
        units: u32,
    ) -> Result<u32, Trap> {
        let mem = opts
            .memory
            .and_then(|m| self.memory(m))
            .ok_or_else(|| Trap::host("error-context.new without a memory"))?;
        let (utf16, n) = match opts.string_encoding {
            StringEncoding::Utf8 => (false, units),
            StringEncoding::Utf16 => (true, units),
            StringEncoding::Latin1Utf16 => (units & UTF16_TAG != 0, units & !UTF16_TAG),
        };
        let bytes = u64::from(n) * if utf16 { 2 } else { 1 };
        if bytes > MAX_STRING_BYTE_LENGTH {
            return Err(oob());
        }
        if utf16 && !ptr.is_multiple_of(2) {
            return Err(Trap::abi("unaligned pointer (error-context message)"));
        }
        if u64::from(ptr) + bytes > mem.data_size() {
            return Err(oob());
        }
        let mut raw = vec![0u8; bytes as usize];
        mem.read(u64::from(ptr), &mut raw).map_err(|_| oob())?;
        let text = match (opts.string_encoding, utf16) {
            (StringEncoding::Utf8, _) => String::from_utf8(raw)
                .map_err(|e| Trap::abi(format!("invalid utf8 encoding (error-context): {e}")))?,
            (_, true) => {
                let units = raw
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]));
                char::decode_utf16(units)
                    .collect::<Result<String, _>>()
                    .map_err(|e| {
                        Trap::abi(format!("invalid utf16 encoding (error-context): {e}"))
                    })?
            }
            (_, false) => raw.iter().map(|b| char::from(*b)).collect(),
        };
        let mut st = self.concurrent.lock();
        self.add_object(
            &mut st,
            opts.instance,
            Object::ErrorContext(Arc::from(text)),
        )
    }

    /// The message of error-context handle `h` of instance `inst`.
    fn error_context_of(
        &self,
        st: &State,
        inst: ComponentInstanceIndex,
        h: u32,
    ) -> Result<Arc<str>, Trap> {
        let id = self.object_of(inst, h)?;
        match st.obj(id) {
            Some(Object::ErrorContext(m)) => Ok(m.clone()),
            _ => Err(self.handle_kind_trap(inst, h)),
        }
    }

    /// `error-context.debug-message`: stores the message of handle `h` as a string of `opts`
    /// (through its `realloc`) and writes `(ptr, units)` at `out`.
    pub(crate) fn error_context_debug_message(
        &self,
        opts: &CanonicalOptions,
        h: u32,
        out: u32,
    ) -> Result<(), Trap> {
        let msg = {
            let st = self.concurrent.lock();
            self.error_context_of(&st, opts.instance, h)?
        };
        let (ptr, units) = self.store_string(
            opts.memory,
            opts.realloc,
            opts.string_encoding,
            &msg,
            "error-context message",
        )?;
        let mem = opts
            .memory
            .and_then(|m| self.memory(m))
            .ok_or_else(|| Trap::host("error-context.debug-message without a memory"))?;
        if !out.is_multiple_of(4) {
            return Err(Trap::abi(
                "unaligned pointer (error-context.debug-message result)",
            ));
        }
        let mut pair = [0u8; 8];
        pair[..4].copy_from_slice(&ptr.to_le_bytes());
        pair[4..].copy_from_slice(&units.to_le_bytes());
        mem.write(u64::from(out), &pair)
            .map_err(|_| Trap::new(kiln_environ::TrapKind::MemoryOutOfBounds))
    }

    /// Stores `text` as a string in encoding `enc` in `memory`, in a block from `realloc`
    /// (guest code: the caller must not hold the state lock); returns the pointer and the
    /// length in code units (tagged for latin1+UTF-16). `what` names the string in traps.
    pub(crate) fn store_string(
        &self,
        memory: Option<RuntimeMemoryIndex>,
        realloc: Option<ReallocIndex>,
        enc: StringEncoding,
        text: &str,
        what: &str,
    ) -> Result<(u32, u32), Trap> {
        let (bytes, align, units) = match enc {
            StringEncoding::Utf8 => (text.as_bytes().to_vec(), 1, text.len() as u32),
            StringEncoding::Latin1Utf16 if text.chars().all(|c| (c as u32) < 256) => {
                let b: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
                let n = b.len() as u32;
                (b, 2, n)
            }
            enc => {
                let u: Vec<u16> = text.encode_utf16().collect();
                let n = u.len() as u32;
                let tag = if enc == StringEncoding::Latin1Utf16 {
                    UTF16_TAG
                } else {
                    0
                };
                (u.iter().flat_map(|x| x.to_le_bytes()).collect(), 2, n | tag)
            }
        };
        let oob = || Trap::abi(format!("string content out-of-bounds ({what})"));
        if bytes.len() as u64 > MAX_STRING_BYTE_LENGTH {
            return Err(oob());
        }
        let mem = memory
            .and_then(|m| self.memory(m))
            .ok_or_else(|| Trap::host(format!("no memory to store a string ({what})")))?;
        let realloc = realloc
            .and_then(|r| self.realloc(r))
            .ok_or_else(|| Trap::host(format!("no realloc to store a string ({what})")))?;
        let ptr = match realloc
            .call(&[
                Val::I32(0),
                Val::I32(0),
                Val::I32(align),
                Val::I32(bytes.len() as i32),
            ])
            .map_err(|e| match e {
                crate::error::Error::Trap(t) => t,
                other => Trap::host(other.to_string()),
            })?
            .first()
        {
            Some(Val::I32(p)) => *p as u32,
            _ => return Err(Trap::host("realloc returned no pointer")),
        };
        if ptr % align as u32 != 0 {
            return Err(Trap::abi(format!(
                "unaligned pointer (realloc return: {what})"
            )));
        }
        if u64::from(ptr) + bytes.len() as u64 > mem.data_size() {
            return Err(oob());
        }
        mem.write(u64::from(ptr), &bytes).map_err(|_| oob())?;
        Ok((ptr, units))
    }

    /// `error-context.drop`.
    pub(crate) fn error_context_drop(
        &self,
        inst: ComponentInstanceIndex,
        h: u32,
    ) -> Result<(), Trap> {
        let mut st = self.concurrent.lock();
        self.error_context_of(&st, inst, h)?;
        let id = self.remove_object(inst, h)?;
        st.objects.remove(id as usize);
        Ok(())
    }

    /// Lifts error-context handle `h` of `inst` (CanonicalABI.md `lift_error_context`: the
    /// handle stays); returns a new object holding the same message, the value's host
    /// representation until it is lowered.
    pub(crate) fn lift_error_context(
        &self,
        inst: ComponentInstanceIndex,
        h: u32,
    ) -> Result<u32, Trap> {
        let mut st = self.concurrent.lock();
        let msg = self.error_context_of(&st, inst, h)?;
        Ok(st.objects.insert(Object::ErrorContext(msg)) as ObjId)
    }

    /// Lowers lifted error context `id` into `inst`'s table; returns the handle.
    pub(crate) fn lower_error_context(
        &self,
        inst: ComponentInstanceIndex,
        id: u32,
    ) -> Result<u32, Trap> {
        let st = self.concurrent.lock();
        if !matches!(st.obj(id), Some(Object::ErrorContext(_))) {
            return Err(Trap::abi(format!("invalid error-context value {id}")));
        }
        drop(st);
        self.in_table(inst, |t| t.insert(super::entry(id)))
    }
}

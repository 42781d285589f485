//! Exceptions as the host sees them: a tag and payload values, copied out of (or into) an
//! exception object.
//!
//! Exception objects never leave the guest (see `exn_heap.rs`), so the host handles copies:
//!
//! - a wasm exception no guest frame catches ends the call with a [`Trap`] of kind
//!   `UncaughtException` whose [`Trap::exception`] is a copy of it;
//! - a host function that returns `Err(trap)` with an exception (such a trap from a nested
//!   call, or one made with [`Trap::throw`]) *throws* it in its wasm caller: kiln allocates a
//!   new exception object with the same tag and payload, and the caller's handlers may catch
//!   it. (An exception's identity is not observable in wasm, so the copy is as good as the
//!   original.) An exception never unwinds through host frames.
//!
//! Payloads holding exception references cannot be copied: such an exception reaches the host
//! without a copy (`exception: None`), and the host cannot throw one.

use crate::error::{Error, Trap};
use crate::exn_heap;
use crate::func::Func;
use crate::tag::Tag;
use crate::values::{check_types, Val};
use kiln_environ::{TrapKind, ValType};

/// A wasm exception as the host sees it: its tag and its payload values.
#[derive(Clone, Debug)]
pub struct Exception {
    tag: Tag,
    payload: Vec<Val>,
}

impl Exception {
    /// An exception of `tag` with `payload` (checked against the tag's parameter types; tags
    /// with `exnref` parameters are refused).
    pub fn new(tag: &Tag, payload: Vec<Val>) -> Result<Exception, Error> {
        if tag.params().contains(&ValType::ExnRef) {
            return Err(Error::Other(
                "the host cannot make exceptions whose payload holds exception references".into(),
            ));
        }
        check_types("payload values", &payload, tag.params())?;
        Ok(Exception {
            tag: tag.clone(),
            payload,
        })
    }

    /// The tag the exception was thrown with.
    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// The payload values.
    pub fn payload(&self) -> &[Val] {
        &self.payload
    }

    /// A copy of live exception object `exn` (`None` if it is not one, or its payload holds
    /// exception references).
    pub(crate) fn from_object(exn: usize) -> Option<Exception> {
        let tag = exn_heap::tag_of(exn)?;
        if tag.params().contains(&ValType::ExnRef) {
            return None;
        }
        let raw = exn_heap::payload(exn)?;
        let engine = tag.inner.engine.clone();
        let payload = tag
            .params()
            .iter()
            .zip(raw)
            // SAFETY: the guest stored values of the tag's types; function references in them
            // belong to instances alive during this call.
            .map(|(t, r)| unsafe { Val::from_raw(&engine, *t, r) })
            .collect();
        Some(Exception { tag, payload })
    }

    /// Allocates an exception object holding this exception (without collecting: the object
    /// is referenced only from Rust until the guest receives it). `keep` holds on to the
    /// function references of the payload.
    pub(crate) fn to_object(&self, keep: &mut dyn FnMut(&Func)) -> Result<usize, TrapKind> {
        let exn = exn_heap::alloc(&self.tag, None)?;
        for (i, v) in self.payload.iter().enumerate() {
            exn_heap::set_payload(exn, i, v.to_raw(keep));
        }
        Ok(exn)
    }
}

impl PartialEq for Exception {
    fn eq(&self, other: &Exception) -> bool {
        self.tag == other.tag
            && self.payload.len() == other.payload.len()
            && self
                .payload
                .iter()
                .zip(&other.payload)
                .all(|(a, b)| a.same(b))
    }
}

impl Eq for Exception {}

/// A payload value for a message.
fn describe(v: &Val) -> String {
    match v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(b) => f32::from_bits(*b).to_string(),
        Val::F64(b) => f64::from_bits(*b).to_string(),
        Val::V128(x) => format!("{x:#034x}"),
        Val::FuncRef(None) | Val::ExternRef(None) | Val::ExnRef(None) => "null".into(),
        Val::FuncRef(Some(_)) => "funcref".into(),
        Val::ExternRef(Some(n)) => format!("externref {n}"),
        Val::ExnRef(Some(e)) => match *e {},
    }
}

impl Trap {
    /// The trap of a wasm exception no guest frame caught (`exception` is its copy, if it can
    /// be copied).
    pub(crate) fn uncaught(exception: Option<Exception>) -> Trap {
        let mut t = Trap::new(TrapKind::UncaughtException);
        if let Some(e) = &exception {
            let payload: Vec<String> = e.payload.iter().map(describe).collect();
            t.message = format!(
                "uncaught exception (tag type {}, payload [{}])",
                e.tag.inner.ty,
                payload.join(", ")
            );
        }
        t.exception = exception;
        t
    }

    /// A trap that throws `exception` when a host function returns it to its wasm caller (see
    /// the module documentation); returned to the host, it is an uncaught exception.
    pub fn throw(exception: Exception) -> Trap {
        Trap::uncaught(Some(exception))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Engine;
    use kiln_environ::FuncType;

    #[test]
    fn host_exceptions_are_type_checked() {
        let e = Engine::default();
        let ty = |params| FuncType {
            params,
            results: vec![],
        };
        let t = Tag::new(&e, ty(vec![ValType::I32, ValType::F64])).unwrap();
        let x = Exception::new(&t, vec![Val::I32(1), Val::F64(2.5f64.to_bits())]).unwrap();
        assert_eq!(x.payload().len(), 2);
        assert!(Exception::new(&t, vec![Val::I32(1)]).is_err());
        assert!(Exception::new(&t, vec![Val::I64(1), Val::F64(0)]).is_err());
        let r = Tag::new(&e, ty(vec![ValType::ExnRef])).unwrap();
        assert!(Exception::new(&r, vec![Val::ExnRef(None)]).is_err());

        exn_heap::reset();
        let obj = x.to_object(&mut |_| {}).unwrap();
        let back = Exception::from_object(obj).unwrap();
        assert_eq!(back, x);
        let trap = Trap::throw(back);
        assert_eq!(trap.kind, TrapKind::UncaughtException);
        assert!(
            trap.message.contains("uncaught exception"),
            "{}",
            trap.message
        );
        exn_heap::reset();
        assert!(Exception::from_object(obj).is_none());
    }
}

//! Host-written futures and streams whose element type holds strings or lists the host
//! never writes (WASI 0.3 sockets' `future<result<_, error-code>>`, where `error-code` has an
//! `other(option<string>)` case the host only ever writes as `other(none)`).
//!
//! [`HostCx::stream_from_host`] refuses such element types, as a value holding a string would
//! need the reader's allocator. A value without one is plain bytes, so
//! [`HostCx::stream_from_host_pointer_free`] makes the writer over a twin of the element type
//! in which every string and list is a `tuple<u32, u32>` (the same canonical ABI layout) and
//! then gives the stream the real type, which the guest's handle type is checked against.
//! A value that does hold a string does not fit the twin, so writing it fails.

use super::Object;
use crate::component::{HostCx, HostWriter, Val};
use crate::error::Trap;
use kiln_environ::component::{Case, Field, InterfaceType as T};

/// `t` with every string, list and map replaced by `tuple<u32, u32>` (its pointer and length).
fn pointer_free_twin(t: &T) -> T {
    let twin = |t: &T| Box::new(pointer_free_twin(t));
    match t {
        T::String | T::List(_) | T::Map(..) => T::Tuple(vec![T::U32, T::U32]),
        T::Record(fs) => T::Record(
            fs.iter()
                .map(|f| Field {
                    name: f.name.clone(),
                    ty: pointer_free_twin(&f.ty),
                })
                .collect(),
        ),
        T::Tuple(ts) => T::Tuple(ts.iter().map(pointer_free_twin).collect()),
        T::Variant(cs) => T::Variant(
            cs.iter()
                .map(|c| Case {
                    name: c.name.clone(),
                    ty: c.ty.as_ref().map(pointer_free_twin),
                })
                .collect(),
        ),
        T::Option(e) => T::Option(twin(e)),
        T::Result { ok, err } => T::Result {
            ok: ok.as_deref().map(twin),
            err: err.as_deref().map(twin),
        },
        T::FixedList(e, n) => T::FixedList(twin(e), *n),
        T::Stream(e) => T::Stream(e.as_deref().map(twin)),
        T::Future(e) => T::Future(e.as_deref().map(twin)),
        other => other.clone(),
    }
}

impl HostCx<'_> {
    /// [`HostCx::stream_from_host`] for a stream or future type `ty` whose element type may
    /// hold strings or lists, when the host writes only values that hold none (a `none`
    /// option, a variant case without them): writing a value that holds one fails.
    pub fn stream_from_host_pointer_free(&self, ty: &T) -> Result<(Val, HostWriter), Trap> {
        let elem = match ty {
            T::Stream(e) | T::Future(e) => e.as_deref().cloned(),
            other => {
                return Err(Trap::host(format!(
                    "{other} is not a stream or future type"
                )))
            }
        };
        let (v, w) = self.stream_from_host(&pointer_free_twin(ty))?;
        let id = match v {
            Val::Stream(id) | Val::Future(id) => id,
            _ => return Err(Trap::host("stream_from_host made no stream or future")),
        };
        let mut st = self.shared().concurrent.lock();
        let shared = match st.obj(id) {
            Some(Object::End(e)) => e.shared,
            _ => return Err(Trap::host("a new host stream has no readable end")),
        };
        if let Some(s) = st.shared.get_mut(shared) {
            s.ty.elem = elem;
        }
        Ok((v, w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_twin_has_no_pointers_and_keeps_names() {
        let code = T::Variant(vec![
            Case {
                name: "timeout".into(),
                ty: None,
            },
            Case {
                name: "other".into(),
                ty: Some(T::Option(Box::new(T::String))),
            },
        ]);
        let ty = T::Future(Some(Box::new(T::Result {
            ok: None,
            err: Some(Box::new(code)),
        })));
        let twin = pointer_free_twin(&ty);
        let T::Future(Some(e)) = &twin else {
            panic!("{twin:?}")
        };
        assert!(!e.contains_pointers_or_handles());
        assert!(format!("{twin:?}").contains("\"other\""));
        assert_eq!(pointer_free_twin(&T::U8), T::U8);
    }
}

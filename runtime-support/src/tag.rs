//! Tags (exception handling): the identity an exception is thrown with and caught by.
//!
//! A tag is a runtime object: every instantiation of a module defining a tag makes a new one,
//! an imported tag is the exporter's own, and the host can make tags too ([`Tag::new`]). Its
//! identity is its address: exception objects carry it (at `EXN_TAG_OFFSET`), and the unwinder
//! compares it with the tag a catch clause names, which it finds through the catching frame's
//! VM context (instance → `tags[index]`). A tag's type is a function type without results
//! whose parameters are the payload; imports compare it by identity (signature and canonical
//! type identity), as for functions.

use crate::engine::Engine;
use crate::error::Error;
use kiln_environ::FuncType;
use std::sync::Arc;

/// The state of a tag: its type.
pub(crate) struct TagInner {
    pub(crate) ty: FuncType,
    /// Engine-wide id of the type (signature and identity).
    pub(crate) type_id: u32,
    pub(crate) engine: Engine,
    /// Made by the host ([`Tag::new`]): its type is a plain signature.
    pub(crate) host: bool,
}

/// A tag: an exception's identity and payload type. Cloning gives another handle to the same
/// tag.
#[derive(Clone)]
pub struct Tag {
    pub(crate) inner: Arc<TagInner>,
}

impl Tag {
    /// A new tag of the host's making (distinct from every other tag) with payload types
    /// `ty.params`; `ty.results` must be empty.
    pub fn new(engine: &Engine, ty: FuncType) -> Result<Tag, Error> {
        if !ty.results.is_empty() {
            return Err(Error::Other("a tag's type has no results".into()));
        }
        let type_id = engine.intern(&ty);
        Ok(Tag::make(engine, ty, type_id, true))
    }

    /// A new tag of an interned type (an instance's defined tag).
    pub(crate) fn with_type_id(engine: &Engine, ty: FuncType, type_id: u32) -> Tag {
        Tag::make(engine, ty, type_id, false)
    }

    fn make(engine: &Engine, ty: FuncType, type_id: u32, host: bool) -> Tag {
        Tag {
            inner: Arc::new(TagInner {
                ty,
                type_id,
                engine: engine.clone(),
                host,
            }),
        }
    }

    /// The tag's type (its parameters are the payload types).
    pub fn ty(&self) -> FuncType {
        self.inner.ty.clone()
    }

    /// The payload types.
    pub(crate) fn params(&self) -> &[kiln_environ::ValType] {
        &self.inner.ty.params
    }

    /// Whether two handles refer to the same tag.
    pub fn same(a: &Tag, b: &Tag) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// The identity exception objects carry (the tag's address).
    pub(crate) fn identity(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }
}

impl PartialEq for Tag {
    fn eq(&self, other: &Tag) -> bool {
        Tag::same(self, other)
    }
}

impl Eq for Tag {}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tag({:#x}: {})", self.identity(), self.inner.ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_environ::ValType;

    #[test]
    fn tags_are_distinct_and_typed() {
        let e = Engine::default();
        let ty = FuncType {
            params: vec![ValType::I32],
            results: vec![],
        };
        let a = Tag::new(&e, ty.clone()).unwrap();
        let b = Tag::new(&e, ty.clone()).unwrap();
        assert!(!Tag::same(&a, &b));
        assert!(Tag::same(&a, &a.clone()));
        assert_eq!(a.ty(), ty);
        assert_eq!(a.inner.type_id, b.inner.type_id);
        let bad = FuncType {
            params: vec![],
            results: vec![ValType::I32],
        };
        assert!(Tag::new(&e, bad).is_err());
    }
}

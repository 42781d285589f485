//! Component value types and function types, as the compiler's front end resolves them.
//!
//! The front end (`kiln-compiler`'s `component/` module) turns wasmparser's component types into
//! these self-contained, serializable types; the plan ([`super::ComponentMetadata`]) stores them
//! for every import, export, lift and lower, and the canonical-ABI glue, the runtime and
//! `kiln inspect` read them. Type aliases and named type definitions are resolved away: an
//! [`InterfaceType`] is a plain recursive tree (wasmparser bounds its total size at validation).
//! Resources are named by index into [`super::ComponentMetadata::resources`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of a resource type in [`super::ComponentMetadata::resources`].
pub type ResourceIndex = u32;

/// A component-level value type (the Component Model's `valtype`, despecialised only where the
/// host needs no distinction: `tuple`, `enum`, `option` and `result` are kept, because the host C
/// representation and the WIT printer distinguish them).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InterfaceType {
    /// `bool`
    Bool,
    /// `s8`
    S8,
    /// `u8`
    U8,
    /// `s16`
    S16,
    /// `u16`
    U16,
    /// `s32`
    S32,
    /// `u32`
    U32,
    /// `s64`
    S64,
    /// `u64`
    U64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `char` (a Unicode scalar value)
    Char,
    /// `string`
    String,
    /// `list<T>`
    List(Box<InterfaceType>),
    /// `record { fields }` (at least one field)
    Record(Vec<Field>),
    /// `tuple<T...>`
    Tuple(Vec<InterfaceType>),
    /// `variant { cases }` (at least one case)
    Variant(Vec<Case>),
    /// `enum { labels }` (at least one label)
    Enum(Vec<String>),
    /// `option<T>`
    Option(Box<InterfaceType>),
    /// `result<ok, err>` (either payload may be absent)
    Result {
        /// The `ok` payload.
        ok: Option<Box<InterfaceType>>,
        /// The `error` payload.
        err: Option<Box<InterfaceType>>,
    },
    /// `flags { labels }`
    Flags(Vec<String>),
    /// `own<R>`: an owned handle.
    Own(ResourceIndex),
    /// `borrow<R>`: a borrowed handle.
    Borrow(ResourceIndex),
    /// `map<K, V>`: in the canonical ABI and the host C representation exactly a
    /// `list<tuple<K, V>>` (entries in order, duplicates kept).
    Map(Box<InterfaceType>, Box<InterfaceType>),
    /// `list<T, N>`: a fixed-length list, laid out and flattened like a tuple of `N` `T`s.
    FixedList(Box<InterfaceType>, u32),
    /// `stream<T>` (component-model async): a handle to the readable end.
    Stream(Option<Box<InterfaceType>>),
    /// `future<T>` (component-model async): a handle to the readable end.
    Future(Option<Box<InterfaceType>>),
    /// `error-context` (component-model async): a handle.
    ErrorContext,
}

/// A named field of a record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Field {
    /// Field name (kebab-case).
    pub name: String,
    /// Field type.
    pub ty: InterfaceType,
}

/// A case of a variant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Case {
    /// Case name (kebab-case).
    pub name: String,
    /// Payload type, if any.
    pub ty: Option<InterfaceType>,
}

/// A component function type: named parameters and an optional result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ComponentFuncType {
    /// An `async` function type (component-model async): callers may not block on it from a
    /// synchronous task.
    pub is_async: bool,
    /// Parameters in order, with their names.
    pub params: Vec<(String, InterfaceType)>,
    /// The result, if any.
    pub result: Option<InterfaceType>,
}

impl InterfaceType {
    /// The cases of this type seen as a variant (`variant`, `enum`, `option`, `result`), each
    /// with its optional payload, in discriminant order; `None` for non-variant types.
    pub fn variant_cases(&self) -> Option<Vec<Option<&InterfaceType>>> {
        Some(match self {
            InterfaceType::Variant(cases) => cases.iter().map(|c| c.ty.as_ref()).collect(),
            InterfaceType::Enum(labels) => labels.iter().map(|_| None).collect(),
            InterfaceType::Option(t) => vec![None, Some(&**t)],
            InterfaceType::Result { ok, err } => vec![ok.as_deref(), err.as_deref()],
            _ => return None,
        })
    }

    /// The field types of this type seen as a record (`record`, `tuple`, and a fixed-length
    /// list, whose `N` elements are laid out as `N` fields); `None` otherwise.
    pub fn record_fields(&self) -> Option<Vec<&InterfaceType>> {
        Some(match self {
            InterfaceType::Record(fields) => fields.iter().map(|f| &f.ty).collect(),
            InterfaceType::Tuple(types) => types.iter().collect(),
            InterfaceType::FixedList(t, n) => vec![&**t; *n as usize],
            _ => return None,
        })
    }

    /// The element type of this type seen as a list (`list<T>`: `T`; `map<K, V>`:
    /// `tuple<K, V>`); `None` otherwise.
    pub fn list_element(&self) -> Option<std::borrow::Cow<'_, InterfaceType>> {
        use std::borrow::Cow;
        match self {
            InterfaceType::List(t) => Some(Cow::Borrowed(&**t)),
            InterfaceType::Map(k, v) => Some(Cow::Owned(InterfaceType::Tuple(vec![
                (**k).clone(),
                (**v).clone(),
            ]))),
            _ => None,
        }
    }

    /// Whether this is a handle of a component-model async type (`stream`, `future`,
    /// `error-context`), which the synchronous runtime cannot lift or lower yet.
    pub fn is_async_handle(&self) -> bool {
        matches!(
            self,
            InterfaceType::Stream(_) | InterfaceType::Future(_) | InterfaceType::ErrorContext
        )
    }

    /// Whether values of this type may own resources or point into linear memory (strings,
    /// lists, handles), i.e. whether lifting it needs `memory`/`realloc` or handle tables.
    pub fn contains_pointers_or_handles(&self) -> bool {
        match self {
            InterfaceType::String | InterfaceType::List(_) | InterfaceType::Map(..) => true,
            InterfaceType::Own(_) | InterfaceType::Borrow(_) => true,
            InterfaceType::Stream(_) | InterfaceType::Future(_) | InterfaceType::ErrorContext => {
                true
            }
            InterfaceType::FixedList(t, _) => t.contains_pointers_or_handles(),
            InterfaceType::Record(f) => f.iter().any(|f| f.ty.contains_pointers_or_handles()),
            InterfaceType::Tuple(t) => t.iter().any(|t| t.contains_pointers_or_handles()),
            InterfaceType::Variant(c) => c.iter().any(|c| {
                c.ty.as_ref()
                    .is_some_and(|t| t.contains_pointers_or_handles())
            }),
            InterfaceType::Option(t) => t.contains_pointers_or_handles(),
            InterfaceType::Result { ok, err } => {
                ok.as_ref()
                    .is_some_and(|t| t.contains_pointers_or_handles())
                    || err
                        .as_ref()
                        .is_some_and(|t| t.contains_pointers_or_handles())
            }
            _ => false,
        }
    }
}

/// Prints the type in WIT syntax (resources as `own<resource-N>` / `borrow<resource-N>`; use
/// [`super::ComponentMetadata::resource_name`] for names).
impl fmt::Display for InterfaceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
            for (i, t) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{t}")?;
            }
            Ok(())
        }
        match self {
            InterfaceType::Bool => f.write_str("bool"),
            InterfaceType::S8 => f.write_str("s8"),
            InterfaceType::U8 => f.write_str("u8"),
            InterfaceType::S16 => f.write_str("s16"),
            InterfaceType::U16 => f.write_str("u16"),
            InterfaceType::S32 => f.write_str("s32"),
            InterfaceType::U32 => f.write_str("u32"),
            InterfaceType::S64 => f.write_str("s64"),
            InterfaceType::U64 => f.write_str("u64"),
            InterfaceType::F32 => f.write_str("f32"),
            InterfaceType::F64 => f.write_str("f64"),
            InterfaceType::Char => f.write_str("char"),
            InterfaceType::String => f.write_str("string"),
            InterfaceType::List(t) => write!(f, "list<{t}>"),
            InterfaceType::Record(fields) => {
                f.write_str("record { ")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {}", field.name, field.ty)?;
                }
                f.write_str(" }")
            }
            InterfaceType::Tuple(t) => {
                f.write_str("tuple<")?;
                list(f, t)?;
                f.write_str(">")
            }
            InterfaceType::Variant(cases) => {
                f.write_str("variant { ")?;
                for (i, c) in cases.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match &c.ty {
                        Some(t) => write!(f, "{}({t})", c.name)?,
                        None => f.write_str(&c.name)?,
                    }
                }
                f.write_str(" }")
            }
            InterfaceType::Enum(labels) => write!(f, "enum {{ {} }}", labels.join(", ")),
            InterfaceType::Flags(labels) => write!(f, "flags {{ {} }}", labels.join(", ")),
            InterfaceType::Option(t) => write!(f, "option<{t}>"),
            InterfaceType::Result { ok, err } => match (ok, err) {
                (None, None) => f.write_str("result"),
                (Some(o), None) => write!(f, "result<{o}>"),
                (None, Some(e)) => write!(f, "result<_, {e}>"),
                (Some(o), Some(e)) => write!(f, "result<{o}, {e}>"),
            },
            InterfaceType::Own(r) => write!(f, "own<resource-{r}>"),
            InterfaceType::Borrow(r) => write!(f, "borrow<resource-{r}>"),
            InterfaceType::Map(k, v) => write!(f, "map<{k}, {v}>"),
            InterfaceType::FixedList(t, n) => write!(f, "list<{t}, {n}>"),
            InterfaceType::Stream(None) => f.write_str("stream"),
            InterfaceType::Stream(Some(t)) => write!(f, "stream<{t}>"),
            InterfaceType::Future(None) => f.write_str("future"),
            InterfaceType::Future(Some(t)) => write!(f, "future<{t}>"),
            InterfaceType::ErrorContext => f.write_str("error-context"),
        }
    }
}

/// Prints `func(a: T, b: U) -> R` in WIT syntax.
impl fmt::Display for ComponentFuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_async {
            f.write_str("async ")?;
        }
        f.write_str("func(")?;
        for (i, (name, ty)) in self.params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}: {ty}")?;
        }
        f.write_str(")")?;
        if let Some(r) = &self.result {
            write!(f, " -> {r}")?;
        }
        Ok(())
    }
}

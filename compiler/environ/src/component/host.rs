//! The host C representation of component values: what a host's C code (and the compiled
//! host-facing glue) reads and writes when it calls a component export or implements an import.
//!
//! Natural C layout on a 64-bit target (pointers and `size_t` are 8 bytes):
//!
//! | component type | C representation | size / align |
//! |---|---|---|
//! | `bool` | `uint8_t` (0 or 1) | 1 / 1 |
//! | `s8`..`u64` | `int8_t`..`uint64_t` | native |
//! | `f32`, `f64` | `float`, `double` | 4 / 4, 8 / 8 |
//! | `char` | `uint32_t` (a Unicode scalar value) | 4 / 4 |
//! | `string` | `struct { const char *ptr; size_t len; }`, UTF-8, `len` in bytes | 16 / 8 |
//! | `list<T>` | `struct { const T *ptr; size_t len; }`, `len` in elements | 16 / 8 |
//! | `map<K, V>` | as `list<tuple<K, V>>`: entries `{ K key; V value; }` in order | 16 / 8 |
//! | `list<T, N>` | `T[N]`, inline | N × T / T |
//! | `record`, `tuple` | a C struct with the fields in order | C rules |
//! | `variant`, `result` | `struct { uint32_t tag; union { ... } payload; }` | C rules |
//! | `enum` | `uint32_t` (the case index) | 4 / 4 |
//! | `option<T>` | `struct { uint8_t is_some; T value; }` | C rules |
//! | `flags` | `uint32_t[ceil(n / 32)]`, bit `i % 32` of word `i / 32` is label `i` | 4k / 4 |
//! | `own<R>`, `borrow<R>` | `uint32_t` handle (index in the instance's handle table) | 4 / 4 |
//! | `stream<T>`, `future<T>`, `error-context` | `uint32_t` handle | 4 / 4 |
//!
//! A `result` with neither payload, a variant whose cases have no payload, a record or tuple
//! with no fields, and `flags` with no labels have an empty payload (size 0, alignment 1); the
//! `union` is then absent. The functions here compute the layout, so the glue and
//! `kiln bindgen c` agree by construction.

use super::abi::{align_to, record_layout, Layout};
use super::types::InterfaceType;

/// Size of a pointer and of `size_t` in the host representation.
pub const HOST_POINTER_SIZE: u32 = 8;

/// Byte offset of `ptr` in the host `string` / `list` struct.
pub const HOST_SLICE_PTR: u32 = 0;
/// Byte offset of `len` in the host `string` / `list` struct.
pub const HOST_SLICE_LEN: u32 = 8;
/// Byte offset of `tag` in the host `variant` / `result` struct.
pub const HOST_VARIANT_TAG: u32 = 0;
/// Byte offset of `is_some` in the host `option` struct.
pub const HOST_OPTION_IS_SOME: u32 = 0;

/// Size and alignment of the host C representation of `ty`.
pub fn host_layout(ty: &InterfaceType) -> Layout {
    use InterfaceType as T;
    let prim = |n| Layout { size: n, align: n };
    match ty {
        T::Bool | T::S8 | T::U8 => prim(1),
        T::S16 | T::U16 => prim(2),
        T::S32 | T::U32 | T::F32 | T::Char | T::Own(_) | T::Borrow(_) | T::Enum(_) => prim(4),
        T::Stream(_) | T::Future(_) | T::ErrorContext => prim(4),
        T::S64 | T::U64 | T::F64 => prim(8),
        T::String | T::List(_) | T::Map(..) => Layout {
            size: 2 * HOST_POINTER_SIZE,
            align: HOST_POINTER_SIZE,
        },
        T::Flags(labels) => {
            let words = (labels.len() as u32).div_ceil(32);
            if words == 0 {
                Layout { size: 0, align: 1 }
            } else {
                Layout {
                    size: 4 * words,
                    align: 4,
                }
            }
        }
        T::Record(_) | T::Tuple(_) => record_layout(
            ty.record_fields()
                .unwrap_or_default()
                .into_iter()
                .map(host_layout),
        ),
        // A C array `T[N]`.
        T::FixedList(t, n) => {
            let e = host_layout(t);
            Layout {
                size: e.size.saturating_mul(*n),
                align: e.align,
            }
        }
        T::Option(t) => record_layout([prim(1), host_layout(t)]),
        T::Variant(_) | T::Result { .. } => {
            let payload = host_union_layout(ty);
            record_layout([prim(4), payload])
        }
    }
}

/// Layout of the `payload` union of a host `variant` / `result` (size 0, alignment 1 when no
/// case has a payload).
fn host_union_layout(ty: &InterfaceType) -> Layout {
    let mut size = 0;
    let mut align = 1;
    for l in ty
        .variant_cases()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(host_layout)
    {
        size = size.max(l.size);
        align = align.max(l.align);
    }
    Layout {
        size: align_to(size, align),
        align,
    }
}

/// Byte offset of each field of a host record or tuple struct, in order (empty otherwise).
pub fn host_field_offsets(ty: &InterfaceType) -> Vec<u32> {
    let mut offsets = Vec::new();
    let mut at = 0;
    for t in ty.record_fields().unwrap_or_default() {
        let l = host_layout(t);
        at = align_to(at, l.align);
        offsets.push(at);
        at += l.size;
    }
    offsets
}

/// Byte offset of the payload in the host struct of a `variant`, `result` or `option` (`value`
/// for options); `None` for other types (an `enum` is a bare `uint32_t`).
pub fn host_payload_offset(ty: &InterfaceType) -> Option<u32> {
    match ty {
        InterfaceType::Option(t) => Some(align_to(1, host_layout(t).align)),
        InterfaceType::Variant(_) | InterfaceType::Result { .. } => {
            Some(align_to(4, host_union_layout(ty).align))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::types::Field;
    use InterfaceType as T;

    #[test]
    fn host_layouts() {
        assert_eq!(host_layout(&T::String), Layout { size: 16, align: 8 });
        assert_eq!(
            host_layout(&T::Option(Box::new(T::U64))),
            Layout { size: 16, align: 8 }
        );
        assert_eq!(host_payload_offset(&T::Option(Box::new(T::U16))), Some(2));
        let r = T::Result {
            ok: Some(Box::new(T::String)),
            err: Some(Box::new(T::U8)),
        };
        assert_eq!(host_layout(&r), Layout { size: 24, align: 8 });
        assert_eq!(host_payload_offset(&r), Some(8));
        let empty = T::Result {
            ok: None,
            err: None,
        };
        assert_eq!(host_layout(&empty), Layout { size: 4, align: 4 });
        let rec = T::Record(vec![
            Field {
                name: "a".into(),
                ty: T::Bool,
            },
            Field {
                name: "b".into(),
                ty: T::List(Box::new(T::U8)),
            },
            Field {
                name: "c".into(),
                ty: T::Char,
            },
        ]);
        assert_eq!(host_field_offsets(&rec), vec![0, 8, 24]);
        assert_eq!(host_layout(&rec), Layout { size: 32, align: 8 });
        let flags = T::Flags((0..40).map(|i| format!("f{i}")).collect());
        assert_eq!(host_layout(&flags), Layout { size: 8, align: 4 });
    }
}

//! The canonical ABI's static layout rules: size and alignment of component values in linear
//! memory, record field offsets, variant discriminants and payload offsets, and flattening to
//! core value types.
//!
//! These are the "supporting definitions" of the Component Model's `CanonicalABI.md`
//! (`alignment`, `elem_size`, `discriminant_type`, `max_case_alignment`, `flatten_type`,
//! `flatten_functype`, `MAX_FLAT_PARAMS`/`MAX_FLAT_RESULTS`), written for [`InterfaceType`]. The
//! compiled glue uses them to read and write guest memory; the compiler uses
//! [`flatten_func`] to know the core signature of every `canon lift` and `canon lower`.
//! Only the 32-bit memory variant of the ABI is described (memory64 options are rejected by
//! the front end).

use super::types::{ComponentFuncType, InterfaceType};
use crate::ValType;

/// Most core parameters a function passes flat; beyond, parameters go through memory.
pub const MAX_FLAT_PARAMS: usize = 16;
/// Most core results a function returns flat; beyond, results go through memory.
pub const MAX_FLAT_RESULTS: usize = 1;
/// Largest byte length of a string in guest memory (CanonicalABI.md
/// `MAX_STRING_BYTE_LENGTH`): lifting a longer one traps, so every string that crosses fits a
/// 32-bit `realloc` even when transcoding doubles or triples it.
pub const MAX_STRING_BYTE_LENGTH: u32 = (1 << 28) - 1;
/// Largest byte length of a list in guest memory (CanonicalABI.md `MAX_LIST_BYTE_LENGTH`).
pub const MAX_LIST_BYTE_LENGTH: u32 = (1 << 28) - 1;
/// The tag bit of a `latin1+utf16` string length meaning "UTF-16 code units follow".
pub const UTF16_TAG: u32 = 1 << 31;

/// Size and alignment of a value in linear memory (or of its host C representation).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Size in bytes (a multiple of `align`).
    pub size: u32,
    /// Alignment in bytes (a power of two).
    pub align: u32,
}

/// Rounds `offset` up to a multiple of `align` (a power of two).
pub fn align_to(offset: u32, align: u32) -> u32 {
    debug_assert!(align.is_power_of_two());
    offset.div_ceil(align) * align
}

/// Size in bytes of the discriminant of a variant with `cases` cases (1, 2 or 4), as the
/// canonical ABI's `discriminant_type`: `u8` up to 256 cases, `u16` up to 65536, else `u32`.
pub fn discriminant_size(cases: usize) -> u32 {
    if cases <= 1 << 8 {
        1
    } else if cases <= 1 << 16 {
        2
    } else {
        4
    }
}

/// Size in bytes of a `flags` value with `n` labels in linear memory: 1 up to 8 labels, 2 up
/// to 16, else 4 per 32 labels (0 for no labels).
pub fn flags_size(n: usize) -> u32 {
    if n == 0 {
        0
    } else if n <= 8 {
        1
    } else if n <= 16 {
        2
    } else {
        4 * (n as u32).div_ceil(32)
    }
}

/// Number of `i32` words a `flags` value with `n` labels flattens to.
pub fn flags_words(n: usize) -> u32 {
    (n as u32).div_ceil(32)
}

/// Canonical-ABI size and alignment of `ty` in linear memory (`elem_size` and `alignment`).
pub fn layout(ty: &InterfaceType) -> Layout {
    use InterfaceType as T;
    let prim = |n| Layout { size: n, align: n };
    match ty {
        T::Bool | T::S8 | T::U8 => prim(1),
        T::S16 | T::U16 => prim(2),
        T::S32 | T::U32 | T::F32 | T::Char | T::Own(_) | T::Borrow(_) => prim(4),
        T::Stream(_) | T::Future(_) | T::ErrorContext => prim(4),
        T::S64 | T::U64 | T::F64 => prim(8),
        T::String | T::List(_) | T::Map(..) => Layout { size: 8, align: 4 },
        T::Flags(labels) => {
            let size = flags_size(labels.len());
            Layout {
                size,
                align: size.clamp(1, 4),
            }
        }
        T::Record(_) | T::Tuple(_) => {
            let fields = ty.record_fields().unwrap_or_default();
            record_layout(fields.iter().map(|t| layout(t)))
        }
        // N elements in a row: the element's alignment, N times its size.
        T::FixedList(t, n) => {
            let e = layout(t);
            Layout {
                size: e.size.saturating_mul(*n),
                align: e.align,
            }
        }
        T::Variant(_) | T::Enum(_) | T::Option(_) | T::Result { .. } => {
            variant_layout(&ty.variant_cases().unwrap_or_default()).0
        }
    }
}

/// Layout of a record whose fields have the given layouts, in order.
pub fn record_layout(fields: impl IntoIterator<Item = Layout>) -> Layout {
    let mut size = 0;
    let mut align = 1;
    for f in fields {
        size = align_to(size, f.align) + f.size;
        align = align.max(f.align);
    }
    Layout {
        size: align_to(size, align),
        align,
    }
}

/// Byte offset of each field of a record or tuple type, in order (empty for other types).
pub fn field_offsets(ty: &InterfaceType) -> Vec<u32> {
    let mut offsets = Vec::new();
    let mut at = 0;
    for t in ty.record_fields().unwrap_or_default() {
        let l = layout(t);
        at = align_to(at, l.align);
        offsets.push(at);
        at += l.size;
    }
    offsets
}

/// Layout of a variant with the given case payloads, and the byte offset of the payload
/// (the discriminant is at offset 0 and [`discriminant_size`] bytes long).
pub fn variant_layout(cases: &[Option<&InterfaceType>]) -> (Layout, u32) {
    let disc = discriminant_size(cases.len());
    let mut case_align = 1;
    let mut case_size = 0;
    for l in cases.iter().flatten().map(|t| layout(t)) {
        case_align = case_align.max(l.align);
        case_size = case_size.max(l.size);
    }
    let payload = align_to(disc, case_align);
    let align = disc.max(case_align);
    (
        Layout {
            size: align_to(payload + case_size, align),
            align,
        },
        payload,
    )
}

/// Byte offset of the payload of a variant-like type (`variant`, `enum`, `option`, `result`);
/// `None` for other types.
pub fn payload_offset(ty: &InterfaceType) -> Option<u32> {
    Some(variant_layout(&ty.variant_cases()?).1)
}

/// The core type that holds both `a` and `b` when two variant cases share a flat slot.
pub fn join(a: ValType, b: ValType) -> ValType {
    match (a, b) {
        _ if a == b => a,
        (ValType::I32, ValType::F32) | (ValType::F32, ValType::I32) => ValType::I32,
        _ => ValType::I64,
    }
}

/// Appends the flattened core types of `ty` to `out` (`flatten_type`).
pub fn flatten(ty: &InterfaceType, out: &mut Vec<ValType>) {
    use InterfaceType as T;
    match ty {
        T::Bool
        | T::S8
        | T::U8
        | T::S16
        | T::U16
        | T::S32
        | T::U32
        | T::Char
        | T::Own(_)
        | T::Borrow(_)
        | T::Stream(_)
        | T::Future(_)
        | T::ErrorContext => out.push(ValType::I32),
        T::S64 | T::U64 => out.push(ValType::I64),
        T::F32 => out.push(ValType::F32),
        T::F64 => out.push(ValType::F64),
        T::String | T::List(_) | T::Map(..) => out.extend([ValType::I32, ValType::I32]),
        T::Flags(labels) => out.extend(std::iter::repeat_n(
            ValType::I32,
            flags_words(labels.len()) as usize,
        )),
        T::Record(_) | T::Tuple(_) => {
            for t in ty.record_fields().unwrap_or_default() {
                flatten(t, out);
            }
        }
        T::FixedList(t, n) => {
            let mut one = Vec::new();
            flatten(t, &mut one);
            for _ in 0..*n {
                out.extend_from_slice(&one);
            }
        }
        T::Variant(_) | T::Enum(_) | T::Option(_) | T::Result { .. } => {
            let cases = ty.variant_cases().unwrap_or_default();
            let mut joined: Vec<ValType> = Vec::new();
            for t in cases.iter().flatten() {
                let mut flat = Vec::new();
                flatten(t, &mut flat);
                for (i, ft) in flat.into_iter().enumerate() {
                    match joined.get_mut(i) {
                        Some(slot) => *slot = join(*slot, ft),
                        None => joined.push(ft),
                    }
                }
            }
            out.push(ValType::I32); // the discriminant (u8/u16/u32 all flatten to i32)
            out.extend(joined);
        }
    }
}

/// The flattened core types of `ty`.
pub fn flatten_type(ty: &InterfaceType) -> Vec<ValType> {
    let mut out = Vec::new();
    flatten(ty, &mut out);
    out
}

/// Which side of the boundary a core signature is for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum AbiContext {
    /// `canon lift`: the core function is the callee, defined by the guest.
    Lift,
    /// `canon lower`: the core function is what the guest imports and calls.
    Lower,
}

/// Most core parameters an `async` lowering passes flat (CanonicalABI.md
/// `MAX_FLAT_ASYNC_PARAMS`).
pub const MAX_FLAT_ASYNC_PARAMS: usize = 4;

/// How a component function crosses a `canon lift` or `canon lower` with given options
/// (CanonicalABI.md `flatten_functype`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncShape {
    /// The core signature.
    pub core: crate::FuncType,
    /// The parameters are a tuple in memory, passed by one `i32` pointer.
    pub params_in_memory: bool,
    /// The result is in memory: a lift returns a pointer to it; a lowering passes a pointer to
    /// a caller-allocated buffer as its last parameter (always, when `async`).
    pub result_in_memory: bool,
    /// `async`: a lift delivers its result with `task.return` (and returns nothing, or a
    /// status code with a `callback`); a lowering returns a subtask status.
    pub async_: bool,
}

/// The shape of `ty` lifted or lowered (`context`) with the `async` and `callback` options.
pub fn func_shape(
    ty: &ComponentFuncType,
    context: AbiContext,
    async_: bool,
    callback: bool,
) -> FuncShape {
    let mut params = Vec::new();
    for (_, t) in &ty.params {
        flatten(t, &mut params);
    }
    let mut results = Vec::new();
    if let Some(r) = &ty.result {
        flatten(r, &mut results);
    }
    let max_params = if async_ && context == AbiContext::Lower {
        MAX_FLAT_ASYNC_PARAMS
    } else {
        MAX_FLAT_PARAMS
    };
    let params_in_memory = params.len() > max_params;
    if params_in_memory {
        params = vec![ValType::I32];
    }
    let mut result_in_memory = false;
    match (async_, context) {
        (false, _) if results.len() > MAX_FLAT_RESULTS => {
            result_in_memory = true;
            match context {
                AbiContext::Lift => results = vec![ValType::I32],
                AbiContext::Lower => {
                    params.push(ValType::I32);
                    results = Vec::new();
                }
            }
        }
        (false, _) => {}
        (true, AbiContext::Lift) => {
            results = if callback {
                vec![ValType::I32]
            } else {
                Vec::new()
            };
        }
        (true, AbiContext::Lower) => {
            if !results.is_empty() {
                result_in_memory = true;
                params.push(ValType::I32);
            }
            results = vec![ValType::I32];
        }
    }
    FuncShape {
        core: crate::FuncType { params, results },
        params_in_memory,
        result_in_memory,
        async_,
    }
}

/// The shape of `ty` lifted or lowered with canonical options `opts`.
pub fn shape_with(
    ty: &ComponentFuncType,
    context: AbiContext,
    opts: &super::CanonicalOptions,
) -> FuncShape {
    func_shape(ty, context, opts.async_, opts.callback)
}

/// The core signature of a component function (`flatten_functype`, synchronous).
///
/// Parameters beyond [`MAX_FLAT_PARAMS`] become one `i32` pointer to a tuple in memory. Results
/// beyond [`MAX_FLAT_RESULTS`] become, for [`AbiContext::Lift`], one `i32` result pointing at
/// the results in memory, and for [`AbiContext::Lower`], an extra `i32` parameter pointing at a
/// caller-allocated buffer, with no results.
pub fn flatten_func(ty: &ComponentFuncType, context: AbiContext) -> crate::FuncType {
    func_shape(ty, context, false, false).core
}

/// Whether the parameters of `ty` are passed through memory (more than [`MAX_FLAT_PARAMS`]).
pub fn params_in_memory(ty: &ComponentFuncType) -> bool {
    func_shape(ty, AbiContext::Lift, false, false).params_in_memory
}

/// Whether the result of `ty` is passed through memory (more than [`MAX_FLAT_RESULTS`]).
pub fn result_in_memory(ty: &ComponentFuncType) -> bool {
    func_shape(ty, AbiContext::Lift, false, false).result_in_memory
}

/// The word the glue stores for an `async` task's `task.return` to check: the low 32 bits
/// identify the result type and string encoding (never 0), the high 32 bits are the lift's
/// memory index plus one (0: none). A `task.return` matches when the low halves are equal and,
/// if it has a memory option itself, the memories too (a `task.return` without one accepts any
/// lift memory, as wasmtime does).
pub fn task_return_signature(
    result: Option<&InterfaceType>,
    opts: &super::CanonicalOptions,
) -> u64 {
    let mut text = match result {
        Some(t) => format!("{t:?}"),
        None => String::from("-"),
    };
    text.push_str(&format!("|{:?}", opts.string_encoding));
    // FNV-1a, 32-bit.
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let memory = opts.memory.map_or(0, |m| u64::from(m) + 1);
    u64::from(h | 1) | (memory << 32)
}

/// The layout of the parameters as a tuple in memory (used when [`params_in_memory`]).
pub fn params_layout(ty: &ComponentFuncType) -> Layout {
    record_layout(ty.params.iter().map(|(_, t)| layout(t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::types::{Case, Field};
    use InterfaceType as T;

    #[test]
    fn primitive_layouts() {
        assert_eq!(layout(&T::Bool), Layout { size: 1, align: 1 });
        assert_eq!(layout(&T::U64), Layout { size: 8, align: 8 });
        assert_eq!(layout(&T::String), Layout { size: 8, align: 4 });
        assert_eq!(layout(&T::Char), Layout { size: 4, align: 4 });
    }

    #[test]
    fn record_and_variant_layouts() {
        let r = T::Record(vec![
            Field {
                name: "a".into(),
                ty: T::U8,
            },
            Field {
                name: "b".into(),
                ty: T::U64,
            },
            Field {
                name: "c".into(),
                ty: T::U16,
            },
        ]);
        assert_eq!(layout(&r), Layout { size: 24, align: 8 });
        assert_eq!(field_offsets(&r), vec![0, 8, 16]);
        let o = T::Option(Box::new(T::U32));
        assert_eq!(layout(&o), Layout { size: 8, align: 4 });
        assert_eq!(payload_offset(&o), Some(4));
        let res = T::Result {
            ok: None,
            err: None,
        };
        assert_eq!(layout(&res), Layout { size: 1, align: 1 });
        let v = T::Variant(vec![
            Case {
                name: "a".into(),
                ty: Some(T::F32),
            },
            Case {
                name: "b".into(),
                ty: Some(T::U64),
            },
            Case {
                name: "c".into(),
                ty: None,
            },
        ]);
        assert_eq!(layout(&v), Layout { size: 16, align: 8 });
        assert_eq!(flatten_type(&v), vec![ValType::I32, ValType::I64]);
        let e = T::Enum((0..300).map(|i| format!("e{i}")).collect());
        assert_eq!(layout(&e), Layout { size: 2, align: 2 });
    }

    #[test]
    fn flags() {
        let f = |n| T::Flags((0..n).map(|i| format!("f{i}")).collect());
        assert_eq!(layout(&f(3)), Layout { size: 1, align: 1 });
        assert_eq!(layout(&f(9)), Layout { size: 2, align: 2 });
        assert_eq!(layout(&f(17)), Layout { size: 4, align: 4 });
        assert_eq!(layout(&f(33)), Layout { size: 8, align: 4 });
        assert_eq!(flatten_type(&f(33)), vec![ValType::I32, ValType::I32]);
    }

    #[test]
    fn function_flattening() {
        let ty = ComponentFuncType {
            is_async: false,
            params: vec![("s".into(), T::String)],
            result: Some(T::String),
        };
        let lift = flatten_func(&ty, AbiContext::Lift);
        assert_eq!(lift.params, vec![ValType::I32, ValType::I32]);
        assert_eq!(lift.results, vec![ValType::I32]);
        let lower = flatten_func(&ty, AbiContext::Lower);
        assert_eq!(lower.params, vec![ValType::I32; 3]);
        assert!(lower.results.is_empty());
        let many = ComponentFuncType {
            is_async: false,
            params: (0..17).map(|i| (format!("p{i}"), T::U32)).collect(),
            result: None,
        };
        assert_eq!(
            flatten_func(&many, AbiContext::Lift).params,
            vec![ValType::I32]
        );
        assert!(params_in_memory(&many));
        assert_eq!(params_layout(&many), Layout { size: 68, align: 4 });
    }
}

//! Part of stage 1 (parse & validate): the type section and value types.
//!
//! kiln compiles the Wasm 3.0 type system as far as function types go: explicit recursion
//! groups of final function types, and typed references to functions, externs and exceptions
//! (`(ref $t)`, `(ref null func)`, `(ref exn)`...). At run time every function reference is a
//! `funcref`, every extern reference an `externref` and every exception reference an `exnref`
//! (see [`val_type`]); what the signature loses is kept in a type's canonical *identity*
//! ([`TypeSection::identities`]), which the runtime compares wherever two types must be the
//! same type (imports, `call_indirect`, tags). GC heap types (structs, arrays, `any`, `eq`,
//! `i31`...) and declared subtyping are compile errors.

use crate::error::{CompileError, Result};
use kiln_environ::{FuncType, ValType};
use wasmparser::{AbstractHeapType, CompositeInnerType, HeapType, RecGroup, RefType};

/// Most bytes of canonical identities one module may produce (they embed the identities of the
/// types they refer to, so adversarial nesting could otherwise grow them exponentially).
const MAX_IDENTITY_BYTES: usize = 16 << 20;

/// The kiln value type of a wasmparser value type.
pub fn val_type(offset: usize, ty: wasmparser::ValType) -> Result<ValType> {
    Ok(match ty {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        wasmparser::ValType::V128 => ValType::V128,
        wasmparser::ValType::Ref(r) => ref_type(offset, r)?,
    })
}

/// The kiln value type of a reference type: the run-time representation of its heap type.
pub fn ref_type(offset: usize, r: RefType) -> Result<ValType> {
    use AbstractHeapType as A;
    match r.heap_type() {
        HeapType::Abstract {
            shared: false,
            ty: A::Func | A::NoFunc,
        }
        | HeapType::Concrete(_) => Ok(ValType::FuncRef),
        HeapType::Abstract {
            shared: false,
            ty: A::Extern | A::NoExtern,
        } => Ok(ValType::ExternRef),
        HeapType::Abstract {
            shared: false,
            ty: A::Exn | A::NoExn,
        } => Ok(ValType::ExnRef),
        _ => Err(unsupported_ref(offset, r)),
    }
}

fn unsupported_ref(offset: usize, r: RefType) -> CompileError {
    CompileError::at(offset, format!("unsupported reference type {r}"))
}

/// Whether `ty` is exactly one of the value types a kiln [`ValType`] stands for (so a
/// signature made only of these needs no identity).
fn is_plain(ty: wasmparser::ValType) -> bool {
    match ty {
        wasmparser::ValType::Ref(r) => {
            r.is_nullable()
                && matches!(
                    r.heap_type(),
                    HeapType::Abstract {
                        shared: false,
                        ty: AbstractHeapType::Func
                            | AbstractHeapType::Extern
                            | AbstractHeapType::Exn
                    }
                )
        }
        _ => true,
    }
}

/// Appends the canonical spelling of a kiln value type.
fn spell_plain(ty: ValType, out: &mut String) {
    out.push_str(match ty {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        ValType::V128 => "v128",
        ValType::FuncRef => "(ref null func)",
        ValType::ExternRef => "(ref null extern)",
        ValType::ExnRef => "(ref null exn)",
    });
}

/// The identity a signature made of plain value types has as the only member of its group.
fn plain_identity(ty: &FuncType) -> String {
    let mut s = String::from("rec 1 0 (");
    spell_func(
        ty.params.iter().copied(),
        ty.results.iter().copied(),
        &mut s,
        spell_plain,
    );
    s.push(')');
    s
}

fn spell_func<T>(
    params: impl Iterator<Item = T>,
    results: impl Iterator<Item = T>,
    out: &mut String,
    mut spell: impl FnMut(T, &mut String),
) {
    out.push_str("func (param");
    for p in params {
        out.push(' ');
        spell(p, out);
    }
    out.push_str(") (result");
    for r in results {
        out.push(' ');
        spell(r, out);
    }
    out.push(')');
}

/// The module's types: signatures (with kiln value types) and identities.
#[derive(Default)]
pub struct TypeSection {
    /// Every type's signature, by type index.
    pub types: Vec<FuncType>,
    /// Every type's canonical identity when it is more than its signature (see
    /// `ModuleMetadata::type_identities`).
    pub identities: Vec<Option<String>>,
    identity_bytes: usize,
}

impl TypeSection {
    /// The identity of type `index` as another type refers to it.
    fn identity_of(&self, index: u32) -> Option<String> {
        let i = index as usize;
        match self.identities.get(i)? {
            Some(id) => Some(id.clone()),
            None => Some(plain_identity(self.types.get(i)?)),
        }
    }

    /// Adds one recursion group (validated by wasmparser already).
    pub fn add_group(&mut self, offset: usize, group: RecGroup) -> Result<()> {
        let explicit = group.is_explicit_rec_group();
        let start = self.types.len() as u32;
        let mut funcs = Vec::new();
        for sub in group.into_types() {
            if !sub.is_final || sub.supertype_idx.is_some() {
                return Err(CompileError::at(
                    offset,
                    "unsupported: declared subtypes and non-final types (GC)",
                ));
            }
            if sub.composite_type.shared
                || sub.composite_type.descriptor_idx.is_some()
                || sub.composite_type.describes_idx.is_some()
            {
                return Err(CompileError::at(offset, "unsupported type kind"));
            }
            let CompositeInnerType::Func(f) = sub.composite_type.inner else {
                return Err(CompileError::at(
                    offset,
                    "unsupported: struct and array types (GC)",
                ));
            };
            funcs.push(f);
        }
        let len = funcs.len() as u32;
        let end = start + len;
        let needs_identity = (explicit && len > 1)
            || funcs
                .iter()
                .any(|f| f.params().iter().chain(f.results()).any(|t| !is_plain(*t)));
        let mut group_spelling = String::new();
        if needs_identity {
            for f in &funcs {
                group_spelling.push_str(" (");
                let mut err = None;
                let mut spell = |t: &wasmparser::ValType, out: &mut String| {
                    if let Err(e) = self.spell(offset, *t, start, end, out) {
                        err.get_or_insert(e);
                    }
                };
                spell_func(
                    f.params().iter(),
                    f.results().iter(),
                    &mut group_spelling,
                    &mut spell,
                );
                if let Some(e) = err {
                    return Err(e);
                }
                group_spelling.push(')');
            }
        }
        for (i, f) in funcs.iter().enumerate() {
            let sig = FuncType {
                params: f
                    .params()
                    .iter()
                    .map(|t| val_type(offset, *t))
                    .collect::<Result<_>>()?,
                results: f
                    .results()
                    .iter()
                    .map(|t| val_type(offset, *t))
                    .collect::<Result<_>>()?,
            };
            let identity = needs_identity.then(|| format!("rec {len} {i}{group_spelling}"));
            if let Some(id) = &identity {
                self.identity_bytes += id.len();
                if self.identity_bytes > MAX_IDENTITY_BYTES {
                    return Err(CompileError::at(offset, "type definitions too complex"));
                }
            }
            self.types.push(sig);
            self.identities.push(identity);
        }
        Ok(())
    }

    /// Appends the canonical spelling of `ty` inside the group `[start, end)`.
    fn spell(
        &self,
        offset: usize,
        ty: wasmparser::ValType,
        start: u32,
        end: u32,
        out: &mut String,
    ) -> Result<()> {
        let r = match ty {
            wasmparser::ValType::Ref(r) => r,
            other => {
                spell_plain(val_type(offset, other)?, out);
                return Ok(());
            }
        };
        out.push_str(if r.is_nullable() {
            "(ref null "
        } else {
            "(ref "
        });
        match r.heap_type() {
            HeapType::Concrete(index) => {
                let index = index.as_module_index().ok_or_else(|| {
                    CompileError::at(offset, "internal error: unexpected type index form")
                })?;
                if (start..end).contains(&index) {
                    out.push_str(&format!("rec.{}", index - start));
                } else {
                    let id = self
                        .identity_of(index)
                        .ok_or_else(|| CompileError::at(offset, format!("unknown type {index}")))?;
                    if out.len() + id.len() > MAX_IDENTITY_BYTES {
                        return Err(CompileError::at(offset, "type definitions too complex"));
                    }
                    out.push('<');
                    out.push_str(&id);
                    out.push('>');
                }
            }
            HeapType::Abstract { shared: false, ty } => {
                use AbstractHeapType as A;
                out.push_str(match ty {
                    A::Func => "func",
                    A::NoFunc => "nofunc",
                    A::Extern => "extern",
                    A::NoExtern => "noextern",
                    A::Exn => "exn",
                    A::NoExn => "noexn",
                    _ => return Err(unsupported_ref(offset, r)),
                });
            }
            _ => return Err(unsupported_ref(offset, r)),
        }
        out.push(')');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(wat: &str) -> Result<TypeSection> {
        let wasm = wat::parse_str(wat).unwrap();
        let mut ts = TypeSection::default();
        for p in wasmparser::Parser::new(0).parse_all(&wasm) {
            if let wasmparser::Payload::TypeSection(r) = p.unwrap() {
                for g in r.into_iter_with_offsets() {
                    let (o, g) = g.unwrap();
                    ts.add_group(o, g)?;
                }
            }
        }
        Ok(ts)
    }

    #[test]
    fn plain_types_have_no_identity() {
        let ts = section("(module (type (func (param i32 funcref exnref) (result externref))) (rec (type (func))))").unwrap();
        assert_eq!(ts.identities, [None, None]);
        assert_eq!(ts.types[0].params[2], ValType::ExnRef);
    }

    #[test]
    fn recursion_groups_and_typed_references_have_identities() {
        let ts = section(
            "(module
               (rec (type $a (func)) (type $b (func)))
               (type $c (func))
               (type $d (func (param (ref $c))))
               (type $e (func (param (ref null $a))))
               (type $f (func (param (ref func)))))",
        )
        .unwrap();
        let ids: Vec<_> = ts.identities.iter().map(|i| i.as_deref()).collect();
        assert_ne!(ids[0], ids[1], "members of one group differ by position");
        assert!(ids[0].is_some() && ids[2].is_none());
        assert!(ids[3]
            .unwrap()
            .contains("<rec 1 0 (func (param) (result))>"));
        assert!(ids[4].unwrap().contains(ids[0].unwrap()));
        assert!(ids[5].unwrap().contains("(ref func)"));
        assert_eq!(ts.types[3].params, [ValType::FuncRef]);
    }

    #[test]
    fn gc_types_are_rejected() {
        for wat in [
            "(module (type (struct)))",
            "(module (type (array i8)))",
            "(module (type (sub (func))))",
            "(module (type $a (sub (func))) (type (sub $a (func))))",
            "(module (type (func (param anyref))))",
        ] {
            let wasm = wat::parse_str(wat).unwrap();
            let mut ts = TypeSection::default();
            let mut failed = false;
            for p in wasmparser::Parser::new(0).parse_all(&wasm) {
                if let wasmparser::Payload::TypeSection(r) = p.unwrap() {
                    for g in r.into_iter_with_offsets() {
                        let (o, g) = g.unwrap();
                        failed |= ts.add_group(o, g).is_err();
                    }
                }
            }
            assert!(failed, "{wat}");
        }
    }
}

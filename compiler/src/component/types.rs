//! Converting wasmparser's validated component types into kiln's self-contained
//! [`InterfaceType`]s and [`ComponentFuncType`]s (the contract types of `kiln-environ`).
//!
//! Resource types are mapped through the current instantiation frame, because one static
//! resource type becomes one runtime resource type per instantiation of its component.

use crate::error::{CompileError, Result};
use kiln_environ::component::{Case, ComponentFuncType, Field, InterfaceType, ResourceIndex};
use std::collections::HashMap;
use wasmparser::component_types::{
    ComponentDefinedType, ComponentFuncTypeId, ComponentValType, ResourceId,
};
use wasmparser::types::Types;
use wasmparser::PrimitiveValType;

/// The resource mapping of one instantiation frame (falling back to enclosing frames).
pub struct ResourceMap<'m> {
    /// This frame's mapping.
    pub own: &'m HashMap<ResourceId, ResourceIndex>,
    /// Enclosing frames' mappings, innermost first.
    pub outer: Vec<&'m HashMap<ResourceId, ResourceIndex>>,
}

impl ResourceMap<'_> {
    /// The runtime resource a static resource id stands for in this frame.
    pub fn get(&self, id: ResourceId) -> Option<ResourceIndex> {
        self.own
            .get(&id)
            .or_else(|| self.outer.iter().find_map(|m| m.get(&id)))
            .copied()
    }
}

/// Converts types of one static component.
pub struct TypeConverter<'a> {
    /// The component's types.
    pub types: &'a Types,
    /// Resource mapping of the frame.
    pub resources: ResourceMap<'a>,
    /// Byte offset for errors.
    pub offset: usize,
}

impl TypeConverter<'_> {
    fn err(&self, msg: impl Into<String>) -> CompileError {
        CompileError::at(self.offset, msg)
    }

    /// Converts a value type.
    pub fn val(&self, ty: ComponentValType) -> Result<InterfaceType> {
        self.val_depth(ty, 0)
    }

    fn val_depth(&self, ty: ComponentValType, depth: u32) -> Result<InterfaceType> {
        if depth > 100 {
            return Err(self.err("component type nested too deeply"));
        }
        match ty {
            ComponentValType::Primitive(p) => self.primitive(p),
            ComponentValType::Type(id) => self.defined(&self.types[id], depth + 1),
        }
    }

    fn primitive(&self, p: PrimitiveValType) -> Result<InterfaceType> {
        use InterfaceType as T;
        Ok(match p {
            PrimitiveValType::Bool => T::Bool,
            PrimitiveValType::S8 => T::S8,
            PrimitiveValType::U8 => T::U8,
            PrimitiveValType::S16 => T::S16,
            PrimitiveValType::U16 => T::U16,
            PrimitiveValType::S32 => T::S32,
            PrimitiveValType::U32 => T::U32,
            PrimitiveValType::S64 => T::S64,
            PrimitiveValType::U64 => T::U64,
            PrimitiveValType::F32 => T::F32,
            PrimitiveValType::F64 => T::F64,
            PrimitiveValType::Char => T::Char,
            PrimitiveValType::String => T::String,
            PrimitiveValType::ErrorContext => T::ErrorContext,
        })
    }

    fn resource(&self, id: ResourceId) -> Result<ResourceIndex> {
        self.resources.get(id).ok_or_else(|| {
            self.err(
                "unsupported resource type flow: a resource type reaches this function through \
                 a path kiln does not track",
            )
        })
    }

    fn defined(&self, ty: &ComponentDefinedType, depth: u32) -> Result<InterfaceType> {
        use InterfaceType as T;
        let val = |t: ComponentValType| self.val_depth(t, depth);
        Ok(match ty {
            ComponentDefinedType::Primitive(p) => self.primitive(*p)?,
            ComponentDefinedType::Record(r) => T::Record(
                r.fields
                    .iter()
                    .map(|(name, t)| {
                        Ok(Field {
                            name: name.to_string(),
                            ty: val(*t)?,
                        })
                    })
                    .collect::<Result<_>>()?,
            ),
            ComponentDefinedType::Variant(v) => T::Variant(
                v.cases
                    .iter()
                    .map(|(name, c)| {
                        Ok(Case {
                            name: name.to_string(),
                            ty: c.ty.map(val).transpose()?,
                        })
                    })
                    .collect::<Result<_>>()?,
            ),
            ComponentDefinedType::List { element, .. } => T::List(Box::new(val(*element)?)),
            ComponentDefinedType::Tuple(t) => {
                T::Tuple(t.types.iter().map(|t| val(*t)).collect::<Result<_>>()?)
            }
            ComponentDefinedType::Flags(labels) => {
                T::Flags(labels.iter().map(|l| l.to_string()).collect())
            }
            ComponentDefinedType::Enum(labels) => {
                T::Enum(labels.iter().map(|l| l.to_string()).collect())
            }
            ComponentDefinedType::Option { ty, .. } => T::Option(Box::new(val(*ty)?)),
            ComponentDefinedType::Result { ok, err, .. } => T::Result {
                ok: ok.map(|t| val(t).map(Box::new)).transpose()?,
                err: err.map(|t| val(t).map(Box::new)).transpose()?,
            },
            ComponentDefinedType::Own(r) => T::Own(self.resource(r.resource())?),
            ComponentDefinedType::Borrow(r) => T::Borrow(self.resource(r.resource())?),
            ComponentDefinedType::Map { key, value, .. } => {
                T::Map(Box::new(val(*key)?), Box::new(val(*value)?))
            }
            ComponentDefinedType::FixedLengthList {
                element, length, ..
            } => T::FixedList(Box::new(val(*element)?), *length),
            ComponentDefinedType::Future { ty, .. } => {
                T::Future(ty.map(|t| val(t).map(Box::new)).transpose()?)
            }
            ComponentDefinedType::Stream { ty, .. } => {
                T::Stream(ty.map(|t| val(t).map(Box::new)).transpose()?)
            }
        })
    }

    /// Converts a defined type by id.
    pub fn defined_id(
        &self,
        id: wasmparser::component_types::ComponentDefinedTypeId,
    ) -> Result<InterfaceType> {
        self.defined(&self.types[id], 1)
    }

    /// Converts a function type.
    pub fn func(&self, id: ComponentFuncTypeId) -> Result<ComponentFuncType> {
        let f = &self.types[id];
        Ok(ComponentFuncType {
            is_async: f.async_,
            params: f
                .params
                .iter()
                .map(|(name, t)| Ok((name.to_string(), self.val(*t)?)))
                .collect::<Result<_>>()?,
            result: f.result.map(|t| self.val(t)).transpose()?,
        })
    }
}

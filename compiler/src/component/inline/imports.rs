//! Component front end, phase 2 (continued): the root component's imports (their types and
//! resource types), instantiation arguments of nested components, and the root's exports.

use super::*;

impl Inliner<'_, '_> {
    pub(super) fn import(
        &mut self,
        frame: &mut Frame<'_, '_>,
        name: &str,
        ty: wasmparser::ComponentTypeRef,
        offset: usize,
    ) -> Result<()> {
        use wasmparser::ComponentTypeRef as R;
        if frame.instance != 0 || frame.env.is_some() {
            // A nested component: its imports are the instantiation arguments.
            let arg =
                frame.args.get(name).cloned().ok_or_else(|| {
                    err(offset, format!("missing instantiation argument `{name}`"))
                })?;
            match (&ty, &arg) {
                (R::Type(_), ItemDef::Type(_)) => {}
                (R::Instance(_), ItemDef::Instance(inst)) => {
                    let index = frame.instances.len() as u32;
                    let t = frame.comp.types.as_ref();
                    if index < t.component_instance_count() {
                        let id = t.component_instance_at(index);
                        self.bind_instance_resources(frame, id, inst, offset)?;
                    }
                }
                _ => {}
            }
            Self::push_item(frame, arg);
            return Ok(());
        }
        let import = self.imports.len() as ImportIndex;
        match ty {
            R::Func(_) => {
                let fty = Self::func_type_at(frame, frame.funcs.len() as u32, offset)?;
                self.imports.push(ComponentImport {
                    name: name.to_string(),
                    ty: ItemType::Func(fty.clone()),
                });
                frame.funcs.push(FuncDef {
                    source: FuncSource::Import {
                        import,
                        path: Vec::new(),
                    },
                    ty: fty,
                });
            }
            R::Instance(_) => {
                let index = frame.instances.len() as u32;
                let t = frame.comp.types.as_ref();
                if index >= t.component_instance_count() {
                    return Err(err(offset, "internal error: no type for imported instance"));
                }
                let id = t.component_instance_at(index);
                let ty = self.instance_type(frame, id, import, Vec::new(), offset)?;
                self.imports.push(ComponentImport {
                    name: name.to_string(),
                    ty,
                });
                frame.instances.push(InstanceDef::Import {
                    import,
                    path: Vec::new(),
                });
            }
            R::Type(_) => {
                let index = frame.types.len() as u32;
                let def = match Self::any_type_at(frame, index) {
                    Some(ComponentAnyTypeId::Resource(_)) => {
                        let r = self.new_resource(
                            name.to_string(),
                            ResourceKind::Imported {
                                import,
                                path: Vec::new(),
                            },
                        );
                        self.imported_resources.insert((import, Vec::new()), r);
                        TypeDef::Resource(r)
                    }
                    _ => Self::value_type_at(frame, index, offset),
                };
                let ty = match &def {
                    TypeDef::Resource(r) => ItemType::Resource(*r),
                    TypeDef::Value(Some(t)) => ItemType::Type(t.clone()),
                    TypeDef::Value(None) => {
                        return Err(err(offset, format!("unsupported type import `{name}`")))
                    }
                };
                self.imports.push(ComponentImport {
                    name: name.to_string(),
                    ty,
                });
                frame.types.push(def.clone());
                Self::bind_type(frame, index, &def);
            }
            R::Module(_) => {
                let index = frame.modules.len() as u32;
                let t = frame.comp.types.as_ref();
                if index >= t.module_count() {
                    return Err(err(offset, "internal error: no type for imported module"));
                }
                let ty = module_type(&t[t.module_at(index)], t, offset)?;
                self.imports.push(ComponentImport {
                    name: name.to_string(),
                    ty: ItemType::Module(ty),
                });
                frame.modules.push(ModuleDef::Imported(import));
            }
            R::Component(_) => {
                return Err(err(
                    offset,
                    format!("unsupported: component import `{name}`"),
                ))
            }
            R::Value(_) => return Err(err(offset, format!("unsupported: value import `{name}`"))),
        }
        Ok(())
    }

    /// The type of an imported instance; registers its resource types (first, so the
    /// functions using them convert).
    pub(super) fn instance_type(
        &mut self,
        frame: &mut Frame<'_, '_>,
        id: wasmparser::component_types::ComponentInstanceTypeId,
        import: ImportIndex,
        path: Vec<String>,
        offset: usize,
    ) -> Result<ItemType> {
        let types = &frame.comp.types;
        let exports: Vec<(String, ComponentEntityType)> = types[id]
            .exports
            .iter()
            .map(|(n, item)| (n.to_string(), item.ty))
            .collect();
        let mut items = Vec::new();
        for (name, ty) in &exports {
            if let ComponentEntityType::Type {
                created: ComponentAnyTypeId::Resource(rid),
                ..
            } = ty
            {
                let mut p = path.clone();
                p.push(name.clone());
                // An export that re-exports a resource type already imported (WIT `use
                // wasi:io/streams.{output-stream}` in `wasi:cli/stdout`: `(type (eq ..))`) is
                // that same type, not a new one.
                let r = match frame.resources.get(&rid.resource()) {
                    Some(&r) => r,
                    None => {
                        let r = self.new_resource(
                            name.clone(),
                            ResourceKind::Imported {
                                import,
                                path: p.clone(),
                            },
                        );
                        frame.resources.insert(rid.resource(), r);
                        r
                    }
                };
                self.imported_resources.insert((import, p), r);
            }
        }
        for (name, ty) in exports {
            let mut p = path.clone();
            p.push(name.clone());
            let item = match ty {
                ComponentEntityType::Func(f) => {
                    ItemType::Func(Self::converter(frame, offset).func(f)?)
                }
                ComponentEntityType::Instance(i) => {
                    self.instance_type(frame, i, import, p, offset)?
                }
                ComponentEntityType::Type { created, .. } => match created {
                    ComponentAnyTypeId::Resource(_) => {
                        ItemType::Resource(self.imported_resources[&(import, p)])
                    }
                    ComponentAnyTypeId::Defined(d) => {
                        ItemType::Type(Self::converter(frame, offset).defined_id(d)?)
                    }
                    _ => continue,
                },
                _ => {
                    return Err(err(
                        offset,
                        format!("unsupported item `{name}` in an imported instance"),
                    ))
                }
            };
            items.push((name, item));
        }
        Ok(ItemType::Instance(items))
    }

    /// Maps the resource types a nested component's instance import declares to the resources
    /// of the instance passed as the argument.
    pub(super) fn bind_instance_resources(
        &mut self,
        frame: &mut Frame<'_, '_>,
        id: wasmparser::component_types::ComponentInstanceTypeId,
        arg: &InstanceDef,
        offset: usize,
    ) -> Result<()> {
        let types = &frame.comp.types;
        let exports: Vec<(String, ComponentEntityType)> = types[id]
            .exports
            .iter()
            .map(|(n, item)| (n.to_string(), item.ty))
            .collect();
        for (name, ty) in exports {
            match ty {
                ComponentEntityType::Type {
                    created: ComponentAnyTypeId::Resource(rid),
                    ..
                } => {
                    let r = match arg {
                        InstanceDef::Items(items) => match lookup(items, &name) {
                            Some(ItemDef::Type(TypeDef::Resource(r))) => Some(*r),
                            _ => None,
                        },
                        InstanceDef::Import { import, path } => {
                            let mut p = path.clone();
                            p.push(name.clone());
                            self.imported_resources.get(&(*import, p)).copied()
                        }
                    };
                    let r = r.ok_or_else(|| {
                        err(
                            offset,
                            format!("instantiation argument has no resource `{name}`"),
                        )
                    })?;
                    frame.resources.insert(rid.resource(), r);
                }
                ComponentEntityType::Instance(inner) => {
                    let inner_arg = match arg {
                        InstanceDef::Items(items) => match lookup(items, &name) {
                            Some(ItemDef::Instance(i)) => i.clone(),
                            _ => continue,
                        },
                        InstanceDef::Import { import, path } => {
                            let mut p = path.clone();
                            p.push(name.clone());
                            InstanceDef::Import {
                                import: *import,
                                path: p,
                            }
                        }
                    };
                    self.bind_instance_resources(frame, inner, &inner_arg, offset)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub(super) fn import_item_type(
        &self,
        import: ImportIndex,
        path: &[String],
    ) -> Option<&ItemType> {
        let mut ty = &self.imports.get(import as usize)?.ty;
        for name in path {
            let ItemType::Instance(items) = ty else {
                return None;
            };
            ty = lookup(items, name)?;
        }
        Some(ty)
    }

    pub(super) fn export_item(
        &mut self,
        item: &ItemDef,
        offset: usize,
        name: &str,
    ) -> Result<ExportItem> {
        Ok(match item {
            ItemDef::Func(f) => ExportItem::Func {
                func: f.source.clone(),
                ty: f.ty.clone(),
            },
            ItemDef::Instance(InstanceDef::Items(items)) => {
                let mut out = Vec::new();
                for (n, i) in items {
                    out.push(ComponentExport {
                        name: n.clone(),
                        item: self.export_item(i, offset, n)?,
                    });
                }
                ExportItem::Instance(out)
            }
            ItemDef::Instance(InstanceDef::Import { import, path }) => {
                let ty = self
                    .import_item_type(*import, path)
                    .cloned()
                    .ok_or_else(|| err(offset, "internal error: re-exported import"))?;
                self.reexport(&ty, *import, path.clone())
            }
            ItemDef::Type(TypeDef::Resource(r)) => ExportItem::Resource(*r),
            ItemDef::Type(TypeDef::Value(Some(t))) => ExportItem::Type(t.clone()),
            ItemDef::Type(TypeDef::Value(None)) => {
                return Err(err(offset, format!("unsupported type export `{name}`")))
            }
            ItemDef::Module(ModuleDef::Static(m)) => {
                ExportItem::Module(ModuleRef::Static(self.static_module(*m)))
            }
            ItemDef::Module(ModuleDef::Imported(i)) => ExportItem::Module(ModuleRef::Import(*i)),
            ItemDef::Component(_) => {
                return Err(err(
                    offset,
                    format!(
                        "unsupported: exporting a component (`{name}`): a host has no way to \
                         instantiate it"
                    ),
                ))
            }
        })
    }

    pub(super) fn reexport(
        &self,
        ty: &ItemType,
        import: ImportIndex,
        path: Vec<String>,
    ) -> ExportItem {
        match ty {
            ItemType::Func(f) => ExportItem::Func {
                func: FuncSource::Import { import, path },
                ty: f.clone(),
            },
            ItemType::Instance(items) => ExportItem::Instance(
                items
                    .iter()
                    .map(|(n, t)| {
                        let mut p = path.clone();
                        p.push(n.clone());
                        ComponentExport {
                            name: n.clone(),
                            item: self.reexport(t, import, p),
                        }
                    })
                    .collect(),
            ),
            ItemType::Resource(r) => ExportItem::Resource(*r),
            ItemType::Type(t) => ExportItem::Type(t.clone()),
            ItemType::Module(_) => ExportItem::Module(ModuleRef::Import(import)),
        }
    }
}

/// A validated core module type in kiln's terms.
fn module_type(
    ty: &wasmparser::component_types::ModuleType,
    types: wasmparser::types::TypesRef<'_>,
    offset: usize,
) -> Result<CoreModuleType> {
    let item = |e: &wasmparser::types::EntityType| -> Result<CoreItemType> {
        use wasmparser::types::EntityType as E;
        let func = |id: wasmparser::types::CoreTypeId| -> Result<kiln_environ::FuncType> {
            let wasmparser::CompositeInnerType::Func(f) = &types[id].composite_type.inner else {
                return Err(err(
                    offset,
                    "a core function type that is not a function type",
                ));
            };
            let conv = |ts: &[wasmparser::ValType]| {
                ts.iter()
                    .map(|t| crate::types::val_type(offset, *t))
                    .collect::<Result<Vec<_>>>()
            };
            Ok(kiln_environ::FuncType {
                params: conv(f.params())?,
                results: conv(f.results())?,
            })
        };
        Ok(match e {
            E::Func(id) | E::FuncExact(id) => CoreItemType::Func(func(*id)?),
            E::Tag(id) => CoreItemType::Tag(func(*id)?),
            E::Table(t) => CoreItemType::Table(crate::module::table_type(offset, t)?),
            E::Memory(m) => CoreItemType::Memory(crate::module::memory_type(offset, m)?),
            E::Global(g) => CoreItemType::Global(crate::module::global_type(offset, g)?),
        })
    };
    Ok(CoreModuleType {
        imports: ty
            .imports
            .iter()
            .map(|((m, n), e)| Ok((m.clone(), n.clone(), item(e)?)))
            .collect::<Result<_>>()?,
        exports: ty
            .exports
            .iter()
            .map(|(n, e)| Ok((n.clone(), item(e)?)))
            .collect::<Result<_>>()?,
    })
}

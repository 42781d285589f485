//! Guest pointers that debuggers follow.
//!
//! A guest pointer is a 32-bit offset into linear memory 0, not a host address: reading `*p`
//! at address `p` fails. Two descriptions, each where it works (docs/debugging.md):
//!
//! - **Pointer variables are host pointers** ([`add_host_pointer_types`]). A parameter or
//!   variable of guest data pointer type gets, from [`super::expr`], a location that computes
//!   `guest == 0 ? 0 : membase + guest` as a `DW_OP_stack_value`, and here a host-sized
//!   pointer (or reference) type to the pointer's *original* target. gdb and lldb (which
//!   ignores `DW_AT_data_location`) then dereference it as a native pointer, whatever the
//!   pointee: `*p`, `p->f`, `p[i]`, `*ip`, C strings, `x/8xw p`.
//! - **Pointers stored in memory keep their guest value** ([`add_guest_views`]): a member, an
//!   array element, the pointee of a `T **`. Every guest pointer type (`T *`, `T &`) is
//!   retargeted to a *guest-memory view* of `T`, a copy of `T`'s DIE (with its members)
//!   carrying
//!
//!   ```text
//!   DW_AT_data_location: DW_OP_push_object_address; DW_OP_call4 <membase>; DW_OP_plus
//!   ```
//!
//!   (only on copies of structures, classes, unions and arrays; other pointee types get a
//!   plain copy), where `<membase>` is one `DW_TAG_dwarf_procedure` per unit whose location
//!   list pushes memory 0's base address, loaded through the vmctx, over every function of
//!   the unit. Dereferencing such a pointer creates an object of the view type at address
//!   `p`; its data location moves it to `membase + p`. gdb follows these (`p->next->id`,
//!   `(*pp)->id`), in live processes and core files; lldb 14 does not. Typedef and
//!   cv-qualifier chains are copied too, so `const T *` and `T_t *` reach a view.
//!
//! Objects that are not reached through a pointer (locals, globals, array elements) keep the
//! original types, whose locations are already host addresses: `&x` is a host pointer of the
//! debugger's own (8-byte) pointer type, since the 4-byte guest pointer types now point to
//! the copies (gdb sizes its one pointer type per target by the last DWARF pointer type to
//! that target).
//!
//! Limits: views only on aggregates — gdb 13 fails an internal assertion printing a scalar or
//! a pointer whose type has a data location (pointer *variables* to scalars work, being host
//! pointers); the descriptions need a guest frame selected (the vmctx is only known there);
//! only memory 0 (wasm32 C/C++/Rust have one memory).

use gimli::write::{AttributeValue, Expression, LocationListId, Unit, UnitEntryId};
use gimli::{constants, DwTag};
use std::collections::{HashMap, HashSet};

/// Tags that only qualify or rename their target type: their view is a copy whose target is
/// the target's view.
pub(crate) const WRAPPERS: [DwTag; 5] = [
    constants::DW_TAG_typedef,
    constants::DW_TAG_const_type,
    constants::DW_TAG_volatile_type,
    constants::DW_TAG_restrict_type,
    constants::DW_TAG_atomic_type,
];

/// Retargets every guest pointer type of `unit` (`pointers`: the DIEs kiln marked as 4-byte
/// pointers or references) to a guest-memory view of its target. `membase` is the location list
/// that pushes memory 0's base in each function of the unit; with none (no memory, or no
/// function of the unit keeps the vmctx) nothing changes.
pub(crate) fn add_guest_views(
    unit: &mut Unit,
    pointers: &[UnitEntryId],
    membase: Option<LocationListId>,
) {
    let Some(membase) = membase else { return };
    if pointers.is_empty() {
        return;
    }
    let root = unit.root();
    let procedure = unit.add(root, constants::DW_TAG_dwarf_procedure);
    unit.get_mut(procedure).set(
        constants::DW_AT_location,
        AttributeValue::LocationListRef(membase),
    );
    let mut views = Views {
        procedure,
        done: HashMap::new(),
    };
    for &p in pointers {
        let Some(AttributeValue::UnitRef(target)) = unit.get(p).get(constants::DW_AT_type).cloned()
        else {
            continue;
        };
        if let Some(view) = views.view(unit, target, 0) {
            unit.get_mut(p)
                .set(constants::DW_AT_type, AttributeValue::UnitRef(view));
        }
    }
    // The copy of a pointer type (the pointee of `T **`) may have been made before that
    // pointer was retargeted: give it the pointer's final target. (Each copy is its own DIE,
    // so the order of this loop does not reach the output.)
    let is_pointer: HashSet<UnitEntryId> = pointers.iter().copied().collect();
    for (&original, &copy) in &views.done {
        if is_pointer.contains(&original) {
            if let Some(target) = unit.get(original).get(constants::DW_AT_type).cloned() {
                unit.get_mut(copy).set(constants::DW_AT_type, target);
            }
        }
    }
}

/// Gives each variable of `vars` (guest data pointers, whose locations kiln wrote as host
/// pointer values) a host pointer type: a pointer (or reference) DIE of the host's size to the
/// guest pointer type's *original* target, one per guest pointer type. Must run before
/// [`add_guest_views`] retargets the guest pointer types. Variables whose type comes from an
/// abstract origin are left alone (the origin is in `vars`).
pub(crate) fn add_host_pointer_types(unit: &mut Unit, vars: &[UnitEntryId]) {
    let mut hosts: HashMap<UnitEntryId, UnitEntryId> = HashMap::new();
    let root = unit.root();
    for &var in vars {
        let Some(AttributeValue::UnitRef(mut ty)) =
            unit.get(var).get(constants::DW_AT_type).cloned()
        else {
            continue;
        };
        // Through typedefs and qualifiers to the pointer type.
        let mut found = false;
        for _ in 0..16 {
            let die = unit.get(ty);
            if WRAPPERS.contains(&die.tag()) {
                match die.get(constants::DW_AT_type) {
                    Some(AttributeValue::UnitRef(inner)) => ty = *inner,
                    _ => break,
                }
            } else {
                found = matches!(
                    die.tag(),
                    constants::DW_TAG_pointer_type
                        | constants::DW_TAG_reference_type
                        | constants::DW_TAG_rvalue_reference_type
                );
                break;
            }
        }
        if !found {
            continue;
        }
        let host = match hosts.get(&ty) {
            Some(&h) => h,
            None => {
                let tag = unit.get(ty).tag();
                let target = unit.get(ty).get(constants::DW_AT_type).cloned();
                let size = u64::from(unit.address_size());
                let h = unit.add(root, tag);
                unit.get_mut(h)
                    .set(constants::DW_AT_byte_size, AttributeValue::Udata(size));
                if let Some(target) = target {
                    unit.get_mut(h).set(constants::DW_AT_type, target);
                }
                hosts.insert(ty, h);
                h
            }
        };
        unit.get_mut(var)
            .set(constants::DW_AT_type, AttributeValue::UnitRef(host));
    }
}

struct Views {
    procedure: UnitEntryId,
    /// Type → its view.
    done: HashMap<UnitEntryId, UnitEntryId>,
}

impl Views {
    /// The view of type `ty`, made on first use; `None` for `void` chains and DIEs kiln does not
    /// copy.
    fn view(&mut self, unit: &mut Unit, ty: UnitEntryId, depth: u32) -> Option<UnitEntryId> {
        if let Some(&v) = self.done.get(&ty) {
            return Some(v);
        }
        if depth > 16 {
            return None;
        }
        let tag = unit.get(ty).tag();
        if WRAPPERS.contains(&tag) {
            let Some(AttributeValue::UnitRef(inner)) =
                unit.get(ty).get(constants::DW_AT_type).cloned()
            else {
                return None; // `const void` and the like
            };
            let inner_view = self.view(unit, inner, depth + 1)?;
            let copy = shallow_copy(unit, ty, unit.root());
            unit.get_mut(copy)
                .set(constants::DW_AT_type, AttributeValue::UnitRef(inner_view));
            self.done.insert(ty, copy);
            return Some(copy);
        }
        if matches!(
            tag,
            constants::DW_TAG_subroutine_type | constants::DW_TAG_unspecified_type
        ) {
            return None; // function pointers are table indices, not memory addresses
        }
        let copy = deep_copy(unit, ty, unit.root(), 0);
        self.done.insert(ty, copy);
        // Only aggregates get a data location: gdb resolves one by copying the type, which it
        // does for structures, unions and arrays; a scalar or pointer with a data location
        // fails an internal assertion (`value_address`) when printed (gdb 13). Other types
        // get a plain copy: the 4-byte guest pointer types then hang off the copy, and the
        // debugger's own pointer to the original type (`&x`) keeps the host's size.
        if !matches!(
            tag,
            constants::DW_TAG_structure_type
                | constants::DW_TAG_class_type
                | constants::DW_TAG_union_type
                | constants::DW_TAG_array_type
        ) {
            return Some(copy);
        }
        let mut loc = Expression::new();
        loc.op(constants::DW_OP_push_object_address);
        loc.op_call(self.procedure);
        loc.op(constants::DW_OP_plus);
        unit.get_mut(copy)
            .set(constants::DW_AT_data_location, AttributeValue::Exprloc(loc));
        Some(copy)
    }
}

/// A new child of `parent` with `id`'s tag and attributes.
fn shallow_copy(unit: &mut Unit, id: UnitEntryId, parent: UnitEntryId) -> UnitEntryId {
    let tag = unit.get(id).tag();
    let attrs: Vec<_> = unit
        .get(id)
        .attrs()
        .filter(|a| a.name() != constants::DW_AT_sibling)
        .map(|a| (a.name(), a.get().clone()))
        .collect();
    let copy = unit.add(parent, tag);
    let die = unit.get_mut(copy);
    for (name, value) in attrs {
        die.set(name, value);
    }
    copy
}

/// `shallow_copy` of `id` and, below the copy, of its children (members, enumerators...).
fn deep_copy(unit: &mut Unit, id: UnitEntryId, parent: UnitEntryId, depth: u32) -> UnitEntryId {
    let copy = shallow_copy(unit, id, parent);
    if depth < 8 {
        let children: Vec<UnitEntryId> = unit.get(id).children().copied().collect();
        for child in children {
            deep_copy(unit, child, copy, depth + 1);
        }
    }
    copy
}

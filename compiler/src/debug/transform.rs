//! Guest DWARF → native DWARF.
//!
//! Each compile unit of the input is converted with gimli's converter, with kiln deciding every
//! attribute that depends on code addresses:
//! - the line program is rebuilt in native address order from the source maps (see
//!   [`super::lines`]);
//! - subprograms get the native range of their compiled function; lexical blocks, inlined
//!   subroutines and the unit itself get the native ranges of their wasm ranges;
//! - `DW_AT_location` becomes a location list of native expressions ([`super::expr`]); the
//!   frame base is folded into those expressions, so `DW_AT_frame_base` is dropped.
//!
//! Everything else (types, names, declarations) is copied as the producer wrote it.

use super::expr::{is_static, Translator, WasmExpr};
use super::lines::{function_lines, RowTable, SrcPos};
use super::mapping::AddrMap;
use super::TrapRow;
use crate::error::{CompileError, Result};
use gimli::read::{AttributeValue as ReadValue, EndianSlice};
use gimli::write::{
    Address, AttributeValue, ConvertLineSequenceEnd, ConvertUnitEntry, Dwarf, FileId, Location,
    LocationList, Range, RangeList, UnitEntryId,
};
use gimli::{constants, Encoding, LittleEndian};
use std::collections::{BTreeSet, HashMap};

type R<'a> = EndianSlice<'a, LittleEndian>;

/// Largest number of functions in a unit for which its globals get location lists.
const MAX_GLOBAL_SCOPE_FUNCS: usize = 512;

/// The function and frame base a DIE's code belongs to.
#[derive(Clone, Copy)]
struct Scope<'a> {
    fi: usize,
    frame_base: Option<WasmExpr<'a>>,
}

fn err(e: impl std::fmt::Display) -> CompileError {
    CompileError::msg(format!("cannot translate the input's DWARF: {e}"))
}

fn text(map: &AddrMap<'_>, fi: usize, off: u32) -> Address {
    Address::Symbol {
        symbol: 0,
        addend: i64::from(map.funcs[fi].start + off),
    }
}

/// Translates the input's DWARF; `None` if it has none.
pub(crate) fn transform(
    map: &AddrMap<'_>,
    translator: &Translator<'_>,
) -> Result<Option<(Dwarf, Vec<TrapRow>)>> {
    let sections = &map.facts.dwarf;
    if !sections.contains_key(".debug_info") {
        return Ok(None);
    }
    let read = gimli::read::Dwarf::load(|id| -> gimli::Result<R<'_>> {
        Ok(EndianSlice::new(
            sections.get(id.name()).copied().unwrap_or(&[]),
            LittleEndian,
        ))
    })
    .map_err(err)?;
    let mut out = Dwarf::new();
    let mut trap_rows = Vec::new();
    let mut convert = out.convert(&read).map_err(err)?;
    while let Some((mut unit, root)) = convert.read_unit().map_err(err)? {
        let encoding = Encoding {
            address_size: 8,
            ..unit.unit.encoding()
        };
        let read_encoding = unit.read_unit.encoding();
        unit.unit.set_encoding(encoding);

        // The line program, rebuilt in native order.
        let mut unit_funcs: BTreeSet<usize> = BTreeSet::new();
        if let Some(mut lp) = unit
            .read_line_program(Some(encoding), Some(gimli::LineEncoding::default()))
            .map_err(err)?
        {
            let mut rows = Vec::new();
            while let Some(seq) = lp.read_sequence().map_err(err)? {
                let Some(start) = seq.start else { continue };
                for r in &seq.rows {
                    rows.push((
                        map.abs(start.wrapping_add(r.address_offset)),
                        Some(SrcPos {
                            file: r.file,
                            line: r.line,
                            column: r.column,
                            is_stmt: r.is_statement,
                            prologue_end: r.prologue_end,
                        }),
                    ));
                }
                let end = match seq.end {
                    ConvertLineSequenceEnd::Length(l) => start.wrapping_add(l),
                    ConvertLineSequenceEnd::Address(a) => a,
                };
                rows.push((map.abs(end), None));
            }
            let table = RowTable::new(rows);
            for abs in table.offsets() {
                if let Some(fi) = map.function_at(abs) {
                    unit_funcs.insert(fi);
                }
            }
            let mut unit_rows: Vec<(u32, Option<FileId>, u64)> = Vec::new();
            for &fi in &unit_funcs {
                let lines = function_lines(map, fi, &table);
                if lines.rows.is_empty() {
                    continue;
                }
                let start = map.funcs[fi].start;
                lp.begin_sequence(Some(text(map, fi, 0)));
                for row in lines.rows {
                    unit_rows.push((start + row.address_offset as u32, Some(row.file), row.line));
                    lp.generate_row(row);
                }
                let len = map.funcs[fi].func.code.len() as u32;
                unit_rows.push((start + len, None, 0));
                lp.end_sequence(u64::from(len));
            }
            let (program, files) = lp.program();
            let mut names: HashMap<FileId, String> = HashMap::new();
            for (id, name, dir) in program.files() {
                let name = name.get(unit.strings, unit.line_strings);
                let dir = program
                    .get_directory(dir)
                    .get(unit.strings, unit.line_strings);
                let name = String::from_utf8_lossy(name).into_owned();
                let full = if name.starts_with('/') || dir.is_empty() {
                    name
                } else {
                    format!("{}/{name}", String::from_utf8_lossy(dir))
                };
                names.insert(id, full);
            }
            for (off, file, line) in unit_rows {
                let name = file
                    .and_then(|f| names.get(&f).cloned())
                    .unwrap_or_default();
                trap_rows.push((off, name, u32::try_from(line).unwrap_or(0)));
            }
            unit.set_line_program(program, files);
        }

        // The unit's own ranges: every function it covers.
        let root_id = unit.unit.root();
        convert_attrs(&mut unit, root_id, &root, map)?;
        let mut cu_ranges = Vec::new();
        for &fi in &unit_funcs {
            cu_ranges.push(Range::StartLength {
                begin: text(map, fi, 0),
                length: map.funcs[fi].func.code.len() as u64,
            });
        }
        let cu_ranges = unit.unit.ranges.add(RangeList(cu_ranges));
        let die = unit.unit.get_mut(root_id);
        die.set(
            constants::DW_AT_low_pc,
            AttributeValue::Address(Address::Constant(0)),
        );
        die.set(
            constants::DW_AT_ranges,
            AttributeValue::RangeListRef(cu_ranges),
        );

        let mut scopes: HashMap<UnitEntryId, Scope<'_>> = HashMap::new();
        let mut pointers = Vec::new();
        let mut pointer_vars = Vec::new();
        let mut entry = root;
        while let Some(id) = unit.read_entry(&mut entry).map_err(err)? {
            let Some(id) = id else { continue };
            let id = unit.add_entry(Some(id), &entry);
            convert_attrs(&mut unit, id, &entry, map)?;
            // Guest pointers are wasm32 addresses: keep their size although the unit's address
            // size is now the host's; their targets become guest-memory views (below).
            if matches!(
                entry.tag,
                constants::DW_TAG_pointer_type
                    | constants::DW_TAG_reference_type
                    | constants::DW_TAG_rvalue_reference_type
            ) {
                pointers.push(id);
                if entry.attr_value(constants::DW_AT_byte_size).is_none() {
                    unit.unit.get_mut(id).set(
                        constants::DW_AT_byte_size,
                        AttributeValue::Udata(u64::from(read_encoding.address_size)),
                    );
                }
            }
            let mut scope = entry.parent.and_then(|p| scopes.get(&p).copied());

            // Code ranges.
            let mut wasm_ranges = Vec::new();
            if let Ok(mut iter) = entry.read_unit.die_ranges(&entry.read_entry) {
                while let Ok(Some(r)) = iter.next() {
                    if r.begin < r.end {
                        wasm_ranges.push((map.abs(r.begin), map.abs(r.end)));
                    }
                }
            }
            if let Some(&(lo, _)) = wasm_ranges.first() {
                if entry.tag == constants::DW_TAG_subprogram {
                    if let Some(fi) = map.function_at(lo) {
                        let len = map.funcs[fi].func.code.len() as u64;
                        let die = unit.unit.get_mut(id);
                        die.set(
                            constants::DW_AT_low_pc,
                            AttributeValue::Address(text(map, fi, 0)),
                        );
                        die.set(constants::DW_AT_high_pc, AttributeValue::Udata(len));
                        let frame_base = match entry.attr_value(constants::DW_AT_frame_base) {
                            Some(ReadValue::Exprloc(e)) => Some(e),
                            _ => None,
                        };
                        scope = Some(Scope { fi, frame_base });
                    }
                } else if let Some(s) = scope {
                    let mut list = Vec::new();
                    for &(lo, hi) in &wasm_ranges {
                        for (start, len) in map.native_ranges(s.fi, lo, hi) {
                            list.push((start, len));
                        }
                    }
                    let die = unit.unit.get_mut(id);
                    match list.as_slice() {
                        [] => {}
                        [(start, len)] => {
                            die.set(
                                constants::DW_AT_low_pc,
                                AttributeValue::Address(text(map, s.fi, *start)),
                            );
                            die.set(
                                constants::DW_AT_high_pc,
                                AttributeValue::Udata(u64::from(*len)),
                            );
                        }
                        _ => {
                            let ranges = list
                                .iter()
                                .map(|&(start, len)| Range::StartLength {
                                    begin: text(map, s.fi, start),
                                    length: u64::from(len),
                                })
                                .collect();
                            let r = unit.unit.ranges.add(RangeList(ranges));
                            unit.unit
                                .get_mut(id)
                                .set(constants::DW_AT_ranges, AttributeValue::RangeListRef(r));
                        }
                    }
                }
            }

            // Locations. A variable of guest pointer type is described by its value as a host
            // pointer (`super::pointers`), with a host pointer type.
            let host_pointer = matches!(
                entry.tag,
                constants::DW_TAG_variable | constants::DW_TAG_formal_parameter
            ) && is_guest_pointer(&entry);
            if host_pointer {
                pointer_vars.push(id);
            }
            if entry.tag == constants::DW_TAG_member
                && entry.attr_value(constants::DW_AT_bit_size).is_none()
                && is_guest_pointer(&entry)
            {
                unit.unit.get_mut(id).set(
                    constants::DW_AT_bit_size,
                    AttributeValue::Udata(u64::from(read_encoding.address_size) * 8),
                );
            }
            if let (Some(s), Some(value)) = (scope, entry.attr_value(constants::DW_AT_location)) {
                let f = &map.funcs[s.fi];
                let whole = [(0u32, f.func.code.len() as u32)];
                let mut locs = Vec::new();
                let mut add = |expr: WasmExpr<'_>, ranges: &[(u32, u32)]| {
                    let mut pieces = translator.translate(
                        f,
                        expr,
                        s.frame_base,
                        read_encoding,
                        ranges,
                        host_pointer,
                    );
                    let shadow = shadow_pieces(
                        map,
                        translator,
                        s.fi,
                        (expr, s.frame_base, read_encoding, host_pointer),
                        ranges,
                        &pieces,
                    );
                    pieces.extend(shadow);
                    pieces.sort_by_key(|p| p.start);
                    for p in pieces {
                        locs.push(Location::StartLength {
                            begin: text(map, s.fi, p.start),
                            length: u64::from(p.len),
                            data: p.expr,
                        });
                    }
                };
                match value {
                    ReadValue::Exprloc(e) => add(e, &whole),
                    other => {
                        if let Ok(Some(mut iter)) = entry.read_unit.attr_locations(other) {
                            while let Ok(Some(l)) = iter.next() {
                                let ranges = map.native_ranges(
                                    s.fi,
                                    map.abs(l.range.begin),
                                    map.abs(l.range.end),
                                );
                                add(l.data, &ranges);
                            }
                        }
                    }
                }
                if !locs.is_empty() {
                    let l = unit.unit.locations.add(LocationList(locs));
                    unit.unit.get_mut(id).set(
                        constants::DW_AT_location,
                        AttributeValue::LocationListRef(l),
                    );
                }
            }
            // Variables at unit level (C globals in linear memory): valid in every function of
            // the unit, where the vmctx is known.
            // (Bounded: each global costs one list entry per function of its unit.)
            if entry.depth == 1
                && entry.tag == constants::DW_TAG_variable
                && unit_funcs.len() <= MAX_GLOBAL_SCOPE_FUNCS
            {
                if let Some(ReadValue::Exprloc(e)) = entry
                    .attr_value(constants::DW_AT_location)
                    .filter(|v| matches!(v, ReadValue::Exprloc(e) if is_static(*e, read_encoding)))
                {
                    let mut locs = Vec::new();
                    for &fi in &unit_funcs {
                        let f = &map.funcs[fi];
                        let whole = [(0u32, f.func.code.len() as u32)];
                        for p in
                            translator.translate(f, e, None, read_encoding, &whole, host_pointer)
                        {
                            locs.push(Location::StartLength {
                                begin: text(map, fi, p.start),
                                length: u64::from(p.len),
                                data: p.expr,
                            });
                        }
                    }
                    if !locs.is_empty() {
                        let l = unit.unit.locations.add(LocationList(locs));
                        unit.unit.get_mut(id).set(
                            constants::DW_AT_location,
                            AttributeValue::LocationListRef(l),
                        );
                    }
                }
            }
            if let Some(s) = scope {
                scopes.insert(id, s);
            }
        }
        let mut membase = Vec::new();
        for &fi in &unit_funcs {
            for p in translator.membase(&map.funcs[fi]) {
                membase.push(Location::StartLength {
                    begin: text(map, fi, p.start),
                    length: u64::from(p.len),
                    data: p.expr,
                });
            }
        }
        let membase = (!membase.is_empty()).then(|| unit.unit.locations.add(LocationList(membase)));
        super::pointers::add_host_pointer_types(unit.unit, &pointer_vars);
        super::pointers::add_guest_views(unit.unit, &pointers, membase);
    }
    Ok(Some((out, trap_rows)))
}

/// Converts the attributes kiln does not rewrite.
fn convert_attrs<'a, 'b>(
    unit: &mut gimli::write::ConvertUnit<'a, R<'b>>,
    id: UnitEntryId,
    entry: &ConvertUnitEntry<'a, R<'b>>,
    map: &AddrMap<'_>,
) -> Result<()> {
    let convert_address = |a: u64| -> Option<Address> {
        Some(match map.text_offset(map.abs(a)) {
            Some(off) => Address::Symbol {
                symbol: 0,
                addend: i64::from(off),
            },
            None => Address::Constant(0),
        })
    };
    for attr in &entry.attrs {
        match attr.name() {
            constants::DW_AT_low_pc
            | constants::DW_AT_high_pc
            | constants::DW_AT_ranges
            | constants::DW_AT_location
            | constants::DW_AT_frame_base
            | constants::DW_AT_GNU_locviews
            | constants::DW_AT_stmt_list => continue,
            _ => {}
        }
        // An attribute kiln cannot convert is left out rather than failing the compile.
        if let Ok(v) = unit.convert_attribute_value(entry.read_unit, attr, &convert_address) {
            unit.unit.get_mut(id).set(attr.name(), v);
        }
    }
    Ok(())
}

/// Native `[start, end)` ranges of `a` not in `b` (both sorted, non-overlapping).
fn subtract(a: &[(u32, u32)], b: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for &(mut lo, hi) in a {
        for &(blo, bhi) in b {
            if bhi <= lo || blo >= hi {
                continue;
            }
            if blo > lo {
                out.push((lo, blo));
            }
            lo = lo.max(bhi);
        }
        if lo < hi {
            out.push((lo, hi));
        }
    }
    out
}

/// Location pieces for a shadow-stack variable (`DW_OP_fbreg N` off a frame-base local) over
/// the parts of `ranges` (function-relative `(start, len)`) that `covered` misses — the
/// prologue, the epilogue, trap sites after the frame-base local's register was reused — with
/// the frame base recomputed from clang's stack-pointer global where that is valid (see
/// [`super::mapping::ShadowFrame`]).
fn shadow_pieces(
    map: &AddrMap<'_>,
    translator: &Translator<'_>,
    fi: usize,
    (expr, frame_base, encoding, host_pointer): (
        WasmExpr<'_>,
        Option<WasmExpr<'_>>,
        Encoding,
        bool,
    ),
    ranges: &[(u32, u32)],
    covered: &[super::expr::Piece],
) -> Vec<super::expr::Piece> {
    let f = &map.funcs[fi];
    let crate::codegen::FunctionKind::Wasm(index) = f.func.kind else {
        return Vec::new();
    };
    let (Some(frames), Some(local), Some(offset)) = (
        map.facts.frames.get(&index),
        frame_base.and_then(|fb| super::expr::frame_local(fb, encoding)),
        super::expr::frame_offset(expr, encoding),
    ) else {
        return Vec::new();
    };
    let Some(frame) = frames.iter().find(|f| f.local == local) else {
        return Vec::new();
    };
    let len = f.func.code.len() as u32;
    let valid: Vec<(u32, u32)> = if frame.valid.0 == 0 {
        vec![(0, len)]
    } else {
        map.native_ranges(fi, frame.valid.0, frame.valid.1)
            .into_iter()
            .map(|(s, l)| (s, s + l))
            .collect()
    };
    let wanted: Vec<(u32, u32)> = ranges.iter().map(|&(s, l)| (s, s + l)).collect();
    let have: Vec<(u32, u32)> = covered.iter().map(|p| (p.start, p.start + p.len)).collect();
    let mut invalid = subtract(&[(0, len)], &valid);
    for &call in frame.calls.iter() {
        invalid.extend(
            map.native_ranges(fi, call, call + 1)
                .into_iter()
                .map(|(s, l)| (s, s + l)),
        );
    }
    invalid.sort_unstable();
    let gaps: Vec<(u32, u32)> = subtract(&subtract(&wanted, &have), &invalid)
        .into_iter()
        .map(|(s, e)| (s, e - s))
        .collect();
    if gaps.is_empty() {
        return Vec::new();
    }
    // `DW_OP_WASM_location 3 G` (G as a fixed 4-byte index), `DW_OP_stack_value`, and
    // `DW_OP_fbreg (N - delta)`.
    let mut fb = vec![0xed, 0x03];
    fb.extend(frame.global.to_le_bytes());
    fb.push(0x9f);
    let mut var = vec![0x91];
    gimli::leb128::write::signed(&mut var, offset - frame.delta).ok();
    let fb = gimli::read::Expression(EndianSlice::new(&fb, LittleEndian));
    let var = gimli::read::Expression(EndianSlice::new(&var, LittleEndian));
    translator.translate(f, var, Some(fb), encoding, &gaps, host_pointer)
}

/// Whether `entry`'s type is a guest data pointer or reference (through typedefs and
/// qualifiers); pointers to functions are table indices and do not count.
fn is_guest_pointer(entry: &ConvertUnitEntry<'_, R<'_>>) -> bool {
    // A concrete instance (inlined or out-of-line) takes its type from its abstract origin.
    let mut ty = entry.attr_value(constants::DW_AT_type);
    let mut origin = entry.attr_value(constants::DW_AT_abstract_origin);
    for _ in 0..4 {
        if ty.is_some() {
            break;
        }
        let Some(ReadValue::UnitRef(offset)) = origin else {
            return false;
        };
        let Ok(die) = entry.read_unit.entry(offset) else {
            return false;
        };
        ty = die.attr_value(constants::DW_AT_type);
        origin = die.attr_value(constants::DW_AT_abstract_origin);
    }
    for _ in 0..16 {
        let Some(ReadValue::UnitRef(offset)) = ty else {
            return false;
        };
        let Ok(die) = entry.read_unit.entry(offset) else {
            return false;
        };
        match die.tag() {
            constants::DW_TAG_pointer_type
            | constants::DW_TAG_reference_type
            | constants::DW_TAG_rvalue_reference_type => {
                let target = match die.attr_value(constants::DW_AT_type) {
                    Some(ReadValue::UnitRef(t)) => entry.read_unit.entry(t).ok(),
                    _ => None,
                };
                return !matches!(
                    target.map(|t| t.tag()),
                    Some(constants::DW_TAG_subroutine_type)
                );
            }
            t if super::pointers::WRAPPERS.contains(&t) => {
                ty = die.attr_value(constants::DW_AT_type);
            }
            _ => return false,
        }
    }
    false
}

//! Debug info for input without DWARF: one compile unit whose "source" is the WAT listing
//! written beside the shared object, with a subprogram per function and line rows pointing at
//! each instruction's line of the listing.

use super::lines::{function_lines, RowTable, SrcPos};
use super::mapping::AddrMap;
use super::{Listing, TrapRow};
use crate::codegen::FunctionKind;
use gimli::write::{
    Address, AttributeValue, Dwarf, LineProgram, LineString, Range, RangeList, Unit,
};
use gimli::{constants, Encoding, Format, LineEncoding};

/// Builds the DWARF for `listing`.
pub(crate) fn synthesize(map: &AddrMap<'_>, listing: &Listing) -> (Dwarf, Vec<TrapRow>) {
    let encoding = Encoding {
        format: Format::Dwarf32,
        version: 4,
        address_size: 8,
    };
    let mut program = LineProgram::new(
        encoding,
        LineEncoding::default(),
        LineString::String(listing.comp_dir.clone().into_bytes()),
        None,
        LineString::String(listing.name.clone().into_bytes()),
        None,
    );
    let dir = program.default_directory();
    let file = program.add_file(
        LineString::String(listing.name.clone().into_bytes()),
        dir,
        None,
    );
    let table = RowTable::new(
        listing
            .rows
            .iter()
            .map(|&(abs, line)| {
                (
                    abs,
                    Some(SrcPos {
                        file,
                        line,
                        column: 0,
                        is_stmt: true,
                        prologue_end: false,
                    }),
                )
            })
            .collect(),
    );
    let full_name = if listing.comp_dir.is_empty() {
        listing.name.clone()
    } else {
        format!("{}/{}", listing.comp_dir, listing.name)
    };
    let mut trap_rows = Vec::new();
    let mut cu_ranges = Vec::new();
    let mut subprograms = Vec::new();
    for (fi, p) in map.funcs.iter().enumerate() {
        let FunctionKind::Wasm(index) = p.func.kind else {
            continue;
        };
        let lines = function_lines(map, fi, &table);
        let at = |off: u32| Address::Symbol {
            symbol: 0,
            addend: i64::from(p.start + off),
        };
        let len = p.func.code.len() as u64;
        if !lines.rows.is_empty() {
            program.begin_sequence(Some(at(0)));
            for row in &lines.rows {
                trap_rows.push((
                    p.start + row.address_offset as u32,
                    full_name.clone(),
                    row.line as u32,
                ));
                *program.row() = *row;
                program.generate_row();
            }
            program.end_sequence(len);
            trap_rows.push((p.start + len as u32, String::new(), 0));
        }
        let decl_line = lines.rows.first().map(|r| r.line).unwrap_or(0);
        cu_ranges.push(Range::StartLength {
            begin: at(0),
            length: len,
        });
        subprograms.push((index, p.func.name.clone(), at(0), len, decl_line));
    }
    let mut unit = Unit::new(encoding, program);
    let ranges = unit.ranges.add(RangeList(cu_ranges));
    let root = unit.root();
    {
        let die = unit.get_mut(root);
        die.set(
            constants::DW_AT_producer,
            AttributeValue::String(format!("kiln {}", kiln_environ::KILN_VERSION).into_bytes()),
        );
        die.set(
            constants::DW_AT_name,
            AttributeValue::String(listing.name.clone().into_bytes()),
        );
        die.set(
            constants::DW_AT_comp_dir,
            AttributeValue::String(listing.comp_dir.clone().into_bytes()),
        );
        die.set(
            constants::DW_AT_low_pc,
            AttributeValue::Address(Address::Constant(0)),
        );
        die.set(
            constants::DW_AT_ranges,
            AttributeValue::RangeListRef(ranges),
        );
    }
    for (_index, name, low, len, decl_line) in subprograms {
        let id = unit.add(root, constants::DW_TAG_subprogram);
        let die = unit.get_mut(id);
        let short = name
            .split_once("::")
            .map(|x| x.1)
            .unwrap_or(&name)
            .to_string();
        die.set(
            constants::DW_AT_name,
            AttributeValue::String(short.into_bytes()),
        );
        die.set(constants::DW_AT_low_pc, AttributeValue::Address(low));
        die.set(constants::DW_AT_high_pc, AttributeValue::Udata(len));
        die.set(
            constants::DW_AT_decl_file,
            AttributeValue::FileIndex(Some(file)),
        );
        die.set(constants::DW_AT_decl_line, AttributeValue::Udata(decl_line));
        die.set(constants::DW_AT_external, AttributeValue::Flag(true));
    }
    let mut dwarf = Dwarf::new();
    dwarf.units.add(unit);
    (dwarf, trap_rows)
}

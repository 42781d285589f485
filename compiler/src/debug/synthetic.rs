//! Debug info for input without DWARF: one compile unit whose "source" is the WAT listing
//! written beside the shared object, with a subprogram per function and line rows pointing at
//! each instruction's line of the listing. Parameters and locals are described as variables
//! `local0`, `local1`... (their wasm index), located through Cranelift's value labels.

use super::expr::Translator;
use super::lines::{function_lines, RowTable, SrcPos};
use super::mapping::AddrMap;
use super::{Listing, TrapRow};
use crate::codegen::FunctionKind;
use crate::module::ModuleTranslation;
use gimli::write::{
    Address, AttributeValue, Dwarf, LineProgram, LineString, Location, LocationList, Range,
    RangeList, Unit, UnitEntryId,
};
use gimli::{constants, Encoding, Format, LineEncoding};
use kiln_environ::ValType;

/// `(name, DW_ATE encoding, size)` of a wasm value type debuggers can show as a number.
fn base_type(ty: ValType) -> Option<(&'static str, constants::DwAte, u64)> {
    Some(match ty {
        ValType::I32 => ("i32", constants::DW_ATE_signed, 4),
        ValType::I64 => ("i64", constants::DW_ATE_signed, 8),
        ValType::F32 => ("f32", constants::DW_ATE_float, 4),
        ValType::F64 => ("f64", constants::DW_ATE_float, 8),
        _ => return None,
    })
}

fn from_parser(ty: wasmparser::ValType) -> Option<ValType> {
    Some(match ty {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        _ => return None,
    })
}

/// Builds the DWARF for `listing`.
pub(crate) fn synthesize(
    map: &AddrMap<'_>,
    listing: &Listing,
    module: &ModuleTranslation<'_>,
    translator: &Translator<'_>,
) -> (Dwarf, Vec<TrapRow>) {
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
        subprograms.push((fi, index, p.func.name.clone(), at(0), len, decl_line));
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
    let mut types: Vec<(ValType, UnitEntryId)> = Vec::new();
    for (fi, index, name, low, len, decl_line) in subprograms {
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

        // Parameters, then declared locals.
        let params = module
            .functions
            .get(index as usize)
            .and_then(|t| module.types.get(*t as usize))
            .map(|t| t.params.clone())
            .unwrap_or_default();
        let nparams = params.len();
        let declared = index
            .checked_sub(module.num_imported_funcs)
            .and_then(|d| map.facts.locals.get(d as usize))
            .map(|l| l.iter().map(|t| from_parser(*t)).collect::<Vec<_>>())
            .unwrap_or_default();
        let all = params.into_iter().map(Some).chain(declared);
        let f = &map.funcs[fi];
        let whole = [(0u32, f.func.code.len() as u32)];
        for (i, ty) in all.enumerate() {
            let Some((tname, ate, size)) = ty.and_then(base_type) else {
                continue;
            };
            let ty = ty.unwrap_or(ValType::I32);
            let type_id = match types.iter().find(|(t, _)| *t == ty) {
                Some((_, id)) => *id,
                None => {
                    let t = unit.add(root, constants::DW_TAG_base_type);
                    let die = unit.get_mut(t);
                    die.set(constants::DW_AT_name, AttributeValue::String(tname.into()));
                    die.set(constants::DW_AT_encoding, AttributeValue::Encoding(ate));
                    die.set(constants::DW_AT_byte_size, AttributeValue::Udata(size));
                    types.push((ty, t));
                    t
                }
            };
            // DW_OP_WASM_location 0 <i>: the value is wasm local i.
            let mut bytes = vec![0xed, 0x00];
            let mut v = i as u64;
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                bytes.push(if v == 0 { b } else { b | 0x80 });
                if v == 0 {
                    break;
                }
            }
            let expr =
                gimli::read::Expression(gimli::EndianSlice::new(&bytes, gimli::LittleEndian));
            let wasm_encoding = Encoding {
                address_size: 4,
                ..encoding
            };
            let locs: Vec<Location> = translator
                .translate(f, expr, None, wasm_encoding, &whole, false)
                .into_iter()
                .map(|p| Location::StartLength {
                    begin: Address::Symbol {
                        symbol: 0,
                        addend: i64::from(f.start + p.start),
                    },
                    length: u64::from(p.len),
                    data: p.expr,
                })
                .collect();
            let tag = if i < nparams {
                constants::DW_TAG_formal_parameter
            } else {
                constants::DW_TAG_variable
            };
            let var = unit.add(id, tag);
            let l = (!locs.is_empty()).then(|| unit.locations.add(LocationList(locs)));
            let die = unit.get_mut(var);
            die.set(
                constants::DW_AT_name,
                AttributeValue::String(format!("local{i}").into_bytes()),
            );
            die.set(constants::DW_AT_type, AttributeValue::UnitRef(type_id));
            if let Some(l) = l {
                die.set(
                    constants::DW_AT_location,
                    AttributeValue::LocationListRef(l),
                );
            }
        }
    }
    let mut dwarf = Dwarf::new();
    dwarf.units.add(unit);
    (dwarf, trap_rows)
}

//! The `spectest` host module every spec script may import from.
//!
//! Print functions do nothing (the scripts only need them to link), globals hold 666 / 666.6,
//! the table is 10..20 funcrefs and the memory 1..2 pages, as in the reference interpreter.

use kiln_environ::{FuncType, GlobalType, MemoryType, TableType, ValType};
use kiln_runtime::{Engine, Extern, Func, Global, Memory, Table, Val};
use std::collections::HashMap;

/// Builds a fresh `spectest` instance: its exports by name.
pub fn spectest(engine: &Engine) -> Result<HashMap<&'static str, Extern>, String> {
    use ValType::*;
    let mut items = HashMap::new();
    let funcs: [(&str, &[ValType]); 7] = [
        ("print", &[]),
        ("print_i32", &[I32]),
        ("print_i64", &[I64]),
        ("print_f32", &[F32]),
        ("print_f64", &[F64]),
        ("print_i32_f32", &[I32, F32]),
        ("print_f64_f64", &[F64, F64]),
    ];
    for (name, params) in funcs {
        let ty = FuncType {
            params: params.to_vec(),
            results: vec![],
        };
        let func = Func::new(engine, ty, |_caller, _args, _results| Ok(()));
        items.insert(name, Extern::Func(func));
    }
    let globals = [
        ("global_i32", I32, Val::I32(666)),
        ("global_i64", I64, Val::I64(666)),
        ("global_f32", F32, Val::F32(666.6f32.to_bits())),
        ("global_f64", F64, Val::F64(666.6f64.to_bits())),
    ];
    for (name, ty, val) in globals {
        let gty = GlobalType { ty, mutable: false };
        let global = Global::new(engine, gty, val).map_err(|e| format!("spectest {name}: {e}"))?;
        items.insert(name, Extern::Global(global));
    }
    let table_ty = TableType {
        element: FuncRef,
        min: 10,
        max: Some(20),
    };
    let table = Table::new(engine, table_ty, Val::FuncRef(None))
        .map_err(|e| format!("spectest table: {e}"))?;
    items.insert("table", Extern::Table(table));
    let memory_ty = MemoryType {
        min: 1,
        max: Some(2),
        memory64: false,
        shared: false,
        page_size_log2: 16,
    };
    let memory = Memory::new(engine, memory_ty).map_err(|e| format!("spectest memory: {e}"))?;
    items.insert("memory", Extern::Memory(memory));
    Ok(items)
}

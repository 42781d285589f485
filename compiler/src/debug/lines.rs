//! Native line tables: for each compiled function, the source position of every native
//! instruction, from its wasm offset (the source map) and a table of wasm-offset → source rows
//! (the guest's own line program, or the lines of the WAT listing).

use super::mapping::AddrMap;
use gimli::write::{FileId, LineRow};

/// A source position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SrcPos {
    /// File in the line program being written.
    pub file: FileId,
    /// Line (1-based).
    pub line: u64,
    /// Column (0 = unknown).
    pub column: u64,
    /// Whether the producer marked the row as a statement start.
    pub is_stmt: bool,
    /// Whether the producer marked the row as the end of the prologue.
    pub prologue_end: bool,
}

/// Source rows by absolute wasm offset; `None` ends a sequence.
pub(crate) struct RowTable {
    rows: Vec<(u64, Option<SrcPos>)>,
}

impl RowTable {
    /// Sorts `rows` (ends before starts at the same offset).
    pub(crate) fn new(mut rows: Vec<(u64, Option<SrcPos>)>) -> RowTable {
        rows.sort_by_key(|r| (r.0, r.1.is_some()));
        RowTable { rows }
    }

    /// Every row's offset.
    pub(crate) fn offsets(&self) -> impl Iterator<Item = u64> + '_ {
        self.rows.iter().filter(|r| r.1.is_some()).map(|r| r.0)
    }

    /// The row in effect at absolute offset `abs`, not earlier than `floor`.
    fn lookup(&self, abs: u64, floor: u64) -> Option<SrcPos> {
        let i = self.rows.partition_point(|r| r.0 <= abs);
        let (at, pos) = *self.rows.get(i.checked_sub(1)?)?;
        if at < floor {
            return None;
        }
        pos
    }
}

/// The native rows of one function: `(offset in function, row)`.
pub(crate) struct FunctionLines {
    /// Rows with `address_offset` relative to the function start.
    pub rows: Vec<LineRow>,
}

/// Computes the line rows of placed function `fi` from `table`.
pub(crate) fn function_lines(map: &AddrMap<'_>, fi: usize, table: &RowTable) -> FunctionLines {
    let f = map.funcs[fi].func;
    let mut rows: Vec<LineRow> = Vec::new();
    let mut last: Option<(FileId, u64)> = None;
    let floor = f
        .srclocs
        .first()
        .and_then(|s| map.body_at(u64::from(s.1)))
        .map(|b| b.prefix_start)
        .unwrap_or(0);
    // Code placed out of line but attributed to the function entry (stack and epoch checks'
    // slow paths) is not a statement: breakpoints on the first line stay at the entry.
    let entry = f.srclocs.first().map(|s| s.1);
    let mut seen_prologue_end = false;
    for (k, &(off, w)) in f.srclocs.iter().enumerate() {
        let off = if k == 0 { 0 } else { off };
        let mut pos = table.lookup(u64::from(w), floor);
        if k > 0 && Some(w) == entry {
            if let Some(p) = pos.as_mut() {
                p.is_stmt = false;
                p.prologue_end = false;
            }
        }
        let key = pos.map(|p| (p.file, p.line));
        // A new row per line change, and for the end of the prologue even on the same line
        // (debuggers put function breakpoints there).
        let prologue_end = pos.is_some_and(|p| p.prologue_end) && !seen_prologue_end;
        if key == last && !rows.is_empty() && !prologue_end {
            continue;
        }
        seen_prologue_end |= prologue_end;
        let row = match pos {
            Some(p) => LineRow {
                address_offset: u64::from(off),
                op_index: 0,
                file: p.file,
                line: p.line,
                column: p.column,
                discriminator: 0,
                is_statement: p.is_stmt,
                basic_block: false,
                prologue_end: p.prologue_end,
                epilogue_begin: false,
                isa: 0,
            },
            None => match rows.last() {
                // Code with no source line: line 0 in the same file.
                Some(prev) => LineRow {
                    address_offset: u64::from(off),
                    line: 0,
                    column: 0,
                    is_statement: false,
                    prologue_end: false,
                    ..*prev
                },
                None => continue,
            },
        };
        if let Some(prev) = rows.last_mut() {
            if prev.address_offset == row.address_offset {
                *prev = row;
                last = key;
                continue;
            }
        }
        rows.push(row);
        last = key;
    }
    FunctionLines { rows }
}

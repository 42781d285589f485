//! Fixed-width offset tables of the metadata: trap sites and the address map.
//!
//! The compiler writes one entry per trap site or source location, so these tables are the
//! longest vectors of a module's metadata. They are stored as one byte string of 8-byte
//! little-endian entries `(u32 code offset, u32 value)`, sorted by code offset, so the runtime
//! neither decodes nor copies them: it looks entries up by binary search directly in the
//! metadata bytes of the loaded object ([`crate::SharedBytes`]).
//!
//! Loading checks only the byte length (a whole number of entries): a table that is not sorted
//! or holds unknown trap kinds gives wrong or missing lookups, never a panic, and is not scanned
//! at load time (that scan would cost as much as the copy).

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::shared::SharedBytes;
use crate::TrapKind;

/// Size in bytes of one table entry.
pub const ENTRY_SIZE: usize = 8;

/// A sorted table of `(u32 code offset, u32 value)` entries stored as little-endian bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OffsetTable {
    bytes: SharedBytes,
}

impl OffsetTable {
    /// Builds a table from pairs already sorted by code offset.
    pub fn from_sorted_pairs(pairs: impl IntoIterator<Item = (u32, u32)>) -> OffsetTable {
        let pairs = pairs.into_iter();
        let mut bytes = Vec::with_capacity(pairs.size_hint().0 * ENTRY_SIZE);
        for (offset, value) in pairs {
            bytes.extend_from_slice(&offset.to_le_bytes());
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        let table = OffsetTable {
            bytes: SharedBytes::from_vec(bytes),
        };
        debug_assert!(table.is_sorted(), "pairs not sorted");
        table
    }

    /// Wraps raw table bytes, checking their length is a whole number of entries (sortedness
    /// is not checked: see [`OffsetTable::is_sorted`]).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<OffsetTable, String> {
        OffsetTable::from_shared(SharedBytes::from_vec(bytes))
    }

    /// Wraps shared table bytes read in place (length checked as for
    /// [`OffsetTable::from_bytes`]).
    pub fn from_shared(bytes: SharedBytes) -> Result<OffsetTable, String> {
        if !bytes.len().is_multiple_of(ENTRY_SIZE) {
            return Err(format!(
                "offset table of {} bytes is not a multiple of {ENTRY_SIZE}",
                bytes.len()
            ));
        }
        Ok(OffsetTable { bytes })
    }

    /// Whether the entries are sorted by code offset (lookups in an unsorted table give wrong
    /// answers, but never panic).
    pub fn is_sorted(&self) -> bool {
        self.iter().is_sorted_by_key(|(o, _)| o)
    }

    /// The raw little-endian bytes of the table.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.bytes.len() / ENTRY_SIZE
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Entry `i`, if in range.
    pub fn get(&self, i: usize) -> Option<(u32, u32)> {
        let at = i.checked_mul(ENTRY_SIZE)?;
        let entry = self.bytes.as_slice().get(at..at.checked_add(ENTRY_SIZE)?)?;
        Some((read_u32(entry, 0), read_u32(entry, 4)))
    }

    /// Every entry, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (u32, u32)> + '_ {
        self.bytes
            .as_slice()
            .chunks_exact(ENTRY_SIZE)
            .map(|e| (read_u32(e, 0), read_u32(e, 4)))
    }

    /// The number of entries whose code offset is `<= code_offset` (binary search in place).
    fn partition(&self, code_offset: u32) -> usize {
        let bytes = self.bytes.as_slice();
        let (mut lo, mut hi) = (0, bytes.len() / ENTRY_SIZE);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if read_u32(bytes, mid * ENTRY_SIZE) <= code_offset {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The value of an entry at exactly `code_offset` (the last one, if several).
    pub fn exact(&self, code_offset: u32) -> Option<u32> {
        let (offset, value) = self.get(self.partition(code_offset).checked_sub(1)?)?;
        (offset == code_offset).then_some(value)
    }

    /// The value of the closest entry at or before `code_offset` (the last one, if several).
    pub fn at_or_before(&self, code_offset: u32) -> Option<u32> {
        Some(self.get(self.partition(code_offset).checked_sub(1)?)?.1)
    }
}

/// Reads the little-endian `u32` at `at` (callers keep `at + 4 <= bytes.len()`).
fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

impl std::fmt::Debug for OffsetTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for OffsetTable {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.bytes.as_slice())
    }
}

/// Reads a byte string in one piece (one copy, no per-entry work).
pub(crate) struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a byte string of 8-byte table entries")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }
}

impl<'de> Deserialize<'de> for OffsetTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OffsetTable, D::Error> {
        let bytes = d.deserialize_byte_buf(BytesVisitor)?;
        OffsetTable::from_bytes(bytes).map_err(de::Error::custom)
    }
}

/// The trap table: code offsets of trapping instructions and their [`TrapKind`], sorted by
/// offset. Stored as an [`OffsetTable`] whose values are trap-kind bytes; an entry whose value
/// is not a trap kind is ignored by lookups (it is not checked on load).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrapTable {
    table: OffsetTable,
}

impl TrapTable {
    /// Builds a trap table from sites already sorted by code offset.
    pub fn from_sorted_sites(sites: impl IntoIterator<Item = (u32, TrapKind)>) -> TrapTable {
        TrapTable {
            table: OffsetTable::from_sorted_pairs(sites.into_iter().map(|(o, k)| (o, k as u32))),
        }
    }

    /// Wraps an offset table whose values are trap-kind bytes.
    pub fn from_table(table: OffsetTable) -> TrapTable {
        TrapTable { table }
    }

    /// The underlying offset table.
    pub fn table(&self) -> &OffsetTable {
        &self.table
    }

    /// The number of trap sites.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether there are no trap sites.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Every trap site, in order (entries with an unknown trap kind are skipped).
    pub fn iter(&self) -> impl Iterator<Item = (u32, TrapKind)> + '_ {
        self.table
            .iter()
            .filter_map(|(o, k)| Some((o, decode_kind(k)?)))
    }

    /// The trap kind recorded at exactly `code_offset`.
    pub fn lookup(&self, code_offset: u32) -> Option<TrapKind> {
        decode_kind(self.table.exact(code_offset)?)
    }
}

/// Decodes a stored trap-kind value.
fn decode_kind(v: u32) -> Option<TrapKind> {
    TrapKind::from_u8(u8::try_from(v).ok()?)
}

impl Serialize for TrapTable {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.table.serialize(s)
    }
}

impl<'de> Deserialize<'de> for TrapTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TrapTable, D::Error> {
        Ok(TrapTable::from_table(OffsetTable::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> OffsetTable {
        OffsetTable::from_sorted_pairs([(0x10, 1), (0x20, 2), (0x20, 3), (0x40, 4)])
    }

    #[test]
    fn round_trip_through_postcard() {
        let t = sample();
        let bytes = postcard::to_allocvec(&t).unwrap();
        // One length byte, then the raw entries.
        assert_eq!(bytes.len(), 1 + 4 * ENTRY_SIZE);
        let back: OffsetTable = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.len(), 4);
        assert_eq!(back.iter().collect::<Vec<_>>()[1], (0x20, 2));

        let traps = TrapTable::from_sorted_sites([
            (4, TrapKind::StackOverflow),
            (9, TrapKind::NullReference),
        ]);
        let bytes = postcard::to_allocvec(&traps).unwrap();
        let back: TrapTable = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, traps);
        assert_eq!(
            back.iter().collect::<Vec<_>>(),
            [(4, TrapKind::StackOverflow), (9, TrapKind::NullReference)]
        );

        let empty: OffsetTable =
            postcard::from_bytes(&postcard::to_allocvec(&OffsetTable::default()).unwrap()).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.exact(0), None);
        assert_eq!(empty.at_or_before(u32::MAX), None);
    }

    #[test]
    fn lookups() {
        let t = sample();
        // Exact.
        assert_eq!(t.exact(0x10), Some(1));
        assert_eq!(t.exact(0x20), Some(3));
        assert_eq!(t.exact(0x40), Some(4));
        assert_eq!(t.at_or_before(0x10), Some(1));
        assert_eq!(t.at_or_before(0x40), Some(4));
        // Between entries.
        assert_eq!(t.exact(0x18), None);
        assert_eq!(t.at_or_before(0x18), Some(1));
        assert_eq!(t.at_or_before(0x3f), Some(3));
        // Before the first.
        assert_eq!(t.exact(0), None);
        assert_eq!(t.at_or_before(0xf), None);
        // After the last.
        assert_eq!(t.exact(0x41), None);
        assert_eq!(t.at_or_before(u32::MAX), Some(4));
        assert_eq!(t.get(4), None);

        let traps = TrapTable::from_sorted_sites([
            (4, TrapKind::MemoryOutOfBounds),
            (9, TrapKind::IntegerDivisionByZero),
        ]);
        assert_eq!(traps.lookup(4), Some(TrapKind::MemoryOutOfBounds));
        assert_eq!(traps.lookup(9), Some(TrapKind::IntegerDivisionByZero));
        assert_eq!(traps.lookup(5), None);
        assert_eq!(traps.lookup(0), None);
        assert_eq!(traps.lookup(10), None);
    }

    #[test]
    fn malformed_tables_are_errors() {
        // A byte string whose length is not a multiple of 8.
        for n in [1usize, 7, 9, 15] {
            let bytes = postcard::to_allocvec(&serde_bytes_of(n)).unwrap();
            assert!(postcard::from_bytes::<OffsetTable>(&bytes).is_err());
            assert!(postcard::from_bytes::<TrapTable>(&bytes).is_err());
        }
        let err = OffsetTable::from_bytes(vec![0; 12]).unwrap_err();
        assert!(err.contains("not a multiple"), "{err}");
        // Unsorted offsets load (not scanned) and give answers without panicking.
        let mut raw = Vec::new();
        for (o, v) in [(8u32, 1u32), (4, 2), (6, 3)] {
            raw.extend_from_slice(&o.to_le_bytes());
            raw.extend_from_slice(&v.to_le_bytes());
        }
        let unsorted = OffsetTable::from_bytes(raw).unwrap();
        assert!(!unsorted.is_sorted());
        for o in 0..12 {
            let _ = (unsorted.exact(o), unsorted.at_or_before(o));
        }
        // An unknown trap kind loads but is never reported.
        let mut raw = Vec::new();
        for (o, v) in [(0u32, 0u32), (4, 200), (8, 256)] {
            raw.extend_from_slice(&o.to_le_bytes());
            raw.extend_from_slice(&v.to_le_bytes());
        }
        let bytes = postcard::to_allocvec(&OffsetTable::from_bytes(raw).unwrap()).unwrap();
        let traps = postcard::from_bytes::<TrapTable>(&bytes).unwrap();
        assert_eq!(traps.lookup(0), Some(TrapKind::StackOverflow));
        assert_eq!(traps.lookup(4), None);
        assert_eq!(traps.lookup(8), None);
        assert_eq!(traps.iter().count(), 1);
        // Truncated input.
        let bytes = postcard::to_allocvec(&sample()).unwrap();
        assert!(postcard::from_bytes::<OffsetTable>(&bytes[..bytes.len() - 1]).is_err());
    }

    /// A value that serializes as a byte string of `n` bytes.
    fn serde_bytes_of(n: usize) -> impl Serialize {
        struct B(Vec<u8>);
        impl Serialize for B {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
        B(vec![0xab; n])
    }
}

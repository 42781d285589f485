//! Immutable bytes shared by the metadata tables that are read in place.
//!
//! The large per-function parts of a module's metadata (trap and address tables, exception
//! table, function names, debug lines) are not decoded when a module loads: each table keeps
//! a window of the metadata bytes and reads its entries where they lie, on demand. Those bytes
//! belong to an *owner*: an owned buffer (the compiler's output, `ModuleMetadata::from_bytes`)
//! or the runtime's view of the metadata inside the `dlopen`ed object, which keeps the object
//! loaded for as long as any window of it is alive.

use std::sync::Arc;

/// The owner of shared bytes.
pub type BytesOwner = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A window `[start, end)` of bytes held by an owner (or nothing).
#[derive(Clone, Default)]
pub struct SharedBytes {
    owner: Option<BytesOwner>,
    start: usize,
    end: usize,
}

impl SharedBytes {
    /// All the bytes of `owner`.
    pub fn new(owner: BytesOwner) -> SharedBytes {
        let end = (*owner).as_ref().len();
        SharedBytes {
            owner: Some(owner),
            start: 0,
            end,
        }
    }

    /// Takes ownership of a buffer.
    pub fn from_vec(bytes: Vec<u8>) -> SharedBytes {
        if bytes.is_empty() {
            return SharedBytes::default();
        }
        SharedBytes::new(Arc::new(bytes))
    }

    /// The window `[start, start + len)` of these bytes, if it lies inside them.
    pub fn slice(&self, start: usize, len: usize) -> Option<SharedBytes> {
        let end = start.checked_add(len)?;
        if end > self.len() {
            return None;
        }
        Some(SharedBytes {
            owner: self.owner.clone(),
            start: self.start + start,
            end: self.start + end,
        })
    }

    /// The bytes (empty if the owner no longer holds the window, which owners never do).
    pub fn as_slice(&self) -> &[u8] {
        match &self.owner {
            Some(o) => (**o).as_ref().get(self.start..self.end).unwrap_or(&[]),
            None => &[],
        }
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

impl PartialEq for SharedBytes {
    fn eq(&self, other: &SharedBytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SharedBytes {}

impl std::fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedBytes({} bytes)", self.len())
    }
}

/// Reads the little-endian `u32` at `at`, if in range.
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Checks a name table's header (its strings are checked on lookup), giving its count.
pub(crate) fn check_names(bytes: &[u8], what: &str) -> Result<usize, String> {
    if bytes.is_empty() {
        return Ok(0);
    }
    let count = read_u32(bytes, 0).ok_or_else(|| format!("{what} without a count"))? as usize;
    if count
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .is_none_or(|n| n > bytes.len())
    {
        return Err(format!(
            "{what} of {count} names does not fit its {} bytes",
            bytes.len()
        ));
    }
    Ok(count)
}

/// A table of optional UTF-8 strings read in place: `u32 count`, `count` entries
/// `(u32 start, u32 len)` (`len == u32::MAX`: no string) relative to the string bytes that
/// follow. Strings are checked (bounds, UTF-8) when looked up, not when loaded.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NameTable {
    bytes: SharedBytes,
    count: usize,
}

/// The `len` of an absent string in a [`NameTable`].
const NO_NAME: u32 = u32::MAX;

impl NameTable {
    /// Builds a table from optional strings.
    pub fn from_names<'a>(names: impl IntoIterator<Item = Option<&'a str>>) -> NameTable {
        let names: Vec<Option<&str>> = names.into_iter().collect();
        let mut index = Vec::with_capacity(4 + 8 * names.len());
        let mut text = Vec::new();
        index.extend_from_slice(&(names.len() as u32).to_le_bytes());
        for n in &names {
            let (start, len) = match n {
                Some(s) => (text.len() as u32, s.len() as u32),
                None => (0, NO_NAME),
            };
            index.extend_from_slice(&start.to_le_bytes());
            index.extend_from_slice(&len.to_le_bytes());
            text.extend_from_slice(n.unwrap_or("").as_bytes());
        }
        index.extend_from_slice(&text);
        NameTable::from_shared(SharedBytes::from_vec(index)).expect("a well-formed name table")
    }

    /// Wraps table bytes, checking only that the index fits (strings are checked on lookup).
    /// Empty bytes are an empty table.
    pub fn from_shared(bytes: SharedBytes) -> Result<NameTable, String> {
        let count = check_names(bytes.as_slice(), "name table")?;
        Ok(NameTable { bytes, count })
    }

    /// The raw bytes of the table.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// String `i`: `Ok(None)` when the entry has none (or `i` is out of range), an error when
    /// the entry is malformed (outside the table or not UTF-8).
    pub fn get(&self, i: usize) -> Result<Option<&str>, String> {
        if i >= self.count {
            return Ok(None);
        }
        let b = self.bytes.as_slice();
        let at = 4 + 8 * i;
        let (start, len) = (read_u32(b, at), read_u32(b, at + 4));
        let (Some(start), Some(len)) = (start, len) else {
            return Err(format!("name {i} outside the name table"));
        };
        if len == NO_NAME {
            return Ok(None);
        }
        let text = 4 + 8 * self.count;
        let s = (start as usize)
            .checked_add(text)
            .and_then(|s| Some((s, s.checked_add(len as usize)?)))
            .and_then(|(s, e)| b.get(s..e))
            .ok_or_else(|| format!("name {i} outside the name table"))?;
        std::str::from_utf8(s)
            .map(Some)
            .map_err(|_| format!("name {i} is not UTF-8"))
    }
}

impl std::fmt::Debug for NameTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries((0..self.count).map(|i| self.get(i)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_damage_is_an_error() {
        let t = NameTable::from_names([Some("a"), None, Some(""), Some("héllo")]);
        assert_eq!(t.len(), 4);
        assert_eq!(t.get(0), Ok(Some("a")));
        assert_eq!(t.get(1), Ok(None));
        assert_eq!(t.get(2), Ok(Some("")));
        assert_eq!(t.get(3), Ok(Some("héllo")));
        assert_eq!(t.get(4), Ok(None));
        let mut raw = t.as_bytes().to_vec();
        // Name 3's length made huge; name 0's first byte made invalid UTF-8.
        raw[4 + 8 * 3 + 4] = 0xf0;
        let text = 4 + 8 * 4;
        raw[text] = 0xff;
        let bad = NameTable::from_shared(SharedBytes::from_vec(raw)).unwrap();
        assert!(bad.get(3).is_err());
        assert!(bad.get(0).is_err());
        assert_eq!(bad.get(1), Ok(None));
        assert!(NameTable::from_shared(SharedBytes::from_vec(vec![9, 0, 0, 0])).is_err());
        let window = SharedBytes::from_vec(vec![1, 2, 3, 4]);
        assert_eq!(window.slice(1, 2).unwrap().as_slice(), &[2, 3]);
        assert!(window.slice(3, 2).is_none());
    }
}

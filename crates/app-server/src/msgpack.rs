//! Just enough MessagePack to walk a macaroon in place (`expiry.rs`), with
//! no allocation.
//!
//! It accepts and refuses exactly what `rmpv::decode::read_value_with_max_depth`
//! does, depth limit included (rmpv spends one unit of depth on a value,
//! one more on an array's or map's items, two on a string's bytes and one
//! on a binary's), so a part the old decoder refused is refused here too.
//! `expiry.rs`'s tests hold rmpv as the oracle.

/// What a value starts with; a string, binary, extension or number is
/// read whole, an array's or map's items are left to read.
pub(crate) enum Head<'a> {
    /// An integer, as `rmpv::Value::as_i64` sees it (`None` above `i64::MAX`).
    Int(Option<i64>),
    /// A string's bytes (not checked to be UTF-8).
    Str(&'a [u8]),
    /// An array of this many items.
    Array(u32),
    /// A map of this many key-value pairs.
    Map(u32),
    /// Anything else (nil, boolean, float, binary, extension).
    Other,
}

/// A cursor over MessagePack bytes. A value read at `level` is nested in
/// `level` arrays or maps.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    max_depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader with rmpv's `max_depth`.
    pub(crate) fn new(bytes: &'a [u8], max_depth: usize) -> Self {
        Self { bytes, max_depth }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn uint(&mut self, n: usize) -> Option<u64> {
        Some(self.take(n)?.iter().fold(0, |acc, b| acc << 8 | u64::from(*b)))
    }

    fn len(&mut self, n: usize) -> Option<usize> {
        usize::try_from(self.uint(n)?).ok()
    }

    /// Reads the head of the value at `level`; `None` when the bytes end
    /// first or the depth limit is reached.
    pub(crate) fn head(&mut self, level: usize) -> Option<Head<'a>> {
        // The depth left for this value, as rmpv counts it.
        let depth = self.max_depth.checked_sub(2 * level)?;
        let needs = |units: usize| (depth >= units).then_some(());
        needs(1)?;
        let marker = self.take(1)?[0];
        let int = |v: i64| Some(Head::Int(Some(v)));
        match marker {
            0x00..=0x7f => int(i64::from(marker)),
            0xe0..=0xff => int(i64::from(marker as i8)),
            0xc0..=0xc3 => Some(Head::Other),
            0xcc => int(self.uint(1)? as i64),
            0xcd => int(self.uint(2)? as i64),
            0xce => int(self.uint(4)? as i64),
            0xcf => Some(Head::Int(i64::try_from(self.uint(8)?).ok())),
            0xd0 => int(i64::from(self.take(1)?[0] as i8)),
            0xd1 => int(i64::from(self.uint(2)? as u16 as i16)),
            0xd2 => int(i64::from(self.uint(4)? as u32 as i32)),
            0xd3 => int(self.uint(8)? as i64),
            0xca => self.take(4).map(|_| Head::Other),
            0xcb => self.take(8).map(|_| Head::Other),
            0xa0..=0xbf | 0xd9 | 0xda | 0xdb => {
                let len = match marker {
                    0xd9 => self.len(1)?,
                    0xda => self.len(2)?,
                    0xdb => self.len(4)?,
                    _ => usize::from(marker & 0x1f),
                };
                needs(3)?;
                self.take(len).map(Head::Str)
            }
            0xc4..=0xc6 => {
                let len = self.len(1 << (marker - 0xc4))?;
                needs(2)?;
                self.take(len).map(|_| Head::Other)
            }
            0xd4..=0xd8 | 0xc7 | 0xc8 | 0xc9 => {
                let len = match marker {
                    0xc7 => self.len(1)?,
                    0xc8 => self.len(2)?,
                    0xc9 => self.len(4)?,
                    _ => 1 << (marker - 0xd4),
                };
                needs(3)?;
                // The extension's type, then its data.
                self.take(1)?;
                self.take(len).map(|_| Head::Other)
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                let len = match marker {
                    0xdc => self.uint(2)?,
                    0xdd => self.uint(4)?,
                    _ => u64::from(marker & 0x0f),
                };
                needs(2)?;
                Some(Head::Array(u32::try_from(len).ok()?))
            }
            0x80..=0x8f | 0xde | 0xdf => {
                let len = match marker {
                    0xde => self.uint(2)?,
                    0xdf => self.uint(4)?,
                    _ => u64::from(marker & 0x0f),
                };
                needs(2)?;
                Some(Head::Map(u32::try_from(len).ok()?))
            }
        }
    }

    /// Reads the whole value at `level`.
    pub(crate) fn skip(&mut self, level: usize) -> Option<()> {
        let head = self.head(level)?;
        self.skip_rest(level + 1, head)
    }

    /// Reads the items of a `head` already read (at `items_level` - 1).
    pub(crate) fn skip_rest(&mut self, items_level: usize, head: Head<'a>) -> Option<()> {
        match head {
            Head::Array(n) => self.skip_items(items_level, u64::from(n)),
            Head::Map(n) => self.skip_items(items_level, 2 * u64::from(n)),
            Head::Int(_) | Head::Str(_) | Head::Other => Some(()),
        }
    }

    /// Reads `n` whole values at `level`.
    pub(crate) fn skip_items(&mut self, level: usize, n: u64) -> Option<()> {
        (0..n).try_for_each(|_| self.skip(level))
    }
}

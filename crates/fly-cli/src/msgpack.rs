//! Just enough of a msgpack reader to find the validity window of a Fly
//! macaroon. It reads from a byte slice, never allocates for what it skips,
//! and fails (`None`) on anything truncated or too deeply nested.

/// Nesting deeper than this is refused rather than recursed into.
const MAX_DEPTH: usize = 32;

/// A cursor over msgpack bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// The head of one msgpack value, with its payload still unread.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Head<'a> {
    Nil,
    Bool(bool),
    Int(i128),
    Float,
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Ext,
    /// The count of elements that follow.
    Array(usize),
    /// The count of key/value pairs that follow.
    Map(usize),
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        Some(self.take(n)?.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn len(&mut self, n: usize) -> Option<usize> {
        usize::try_from(self.be(n)?).ok()
    }

    /// Reads the head of the next value (and the payload of strings, binaries
    /// and extensions, which are skipped or borrowed).
    pub(crate) fn head(&mut self) -> Option<Head<'a>> {
        let m = self.u8()?;
        Some(match m {
            0x00..=0x7f => Head::Int(i128::from(m)),
            0x80..=0x8f => Head::Map(usize::from(m & 0x0f)),
            0x90..=0x9f => Head::Array(usize::from(m & 0x0f)),
            0xa0..=0xbf => Head::Str(self.take(usize::from(m & 0x1f))?),
            0xc0 => Head::Nil,
            0xc2 => Head::Bool(false),
            0xc3 => Head::Bool(true),
            0xc4..=0xc6 => {
                let n = self.len(1 << (m - 0xc4))?;
                Head::Bin(self.take(n)?)
            }
            0xc7..=0xc9 => {
                let n = self.len(1 << (m - 0xc7))?;
                self.take(n.checked_add(1)?)?;
                Head::Ext
            }
            0xca => {
                self.take(4)?;
                Head::Float
            }
            0xcb => {
                self.take(8)?;
                Head::Float
            }
            0xcc..=0xcf => Head::Int(i128::from(self.be(1 << (m - 0xcc))?)),
            0xd0 => Head::Int(i128::from(self.be(1)? as u8 as i8)),
            0xd1 => Head::Int(i128::from(self.be(2)? as u16 as i16)),
            0xd2 => Head::Int(i128::from(self.be(4)? as u32 as i32)),
            0xd3 => Head::Int(i128::from(self.be(8)? as i64)),
            0xd4..=0xd8 => {
                self.take(1 + (1 << (m - 0xd4)))?;
                Head::Ext
            }
            0xd9..=0xdb => {
                let n = self.len(1 << (m - 0xd9))?;
                Head::Str(self.take(n)?)
            }
            0xdc | 0xdd => Head::Array(self.len(2 << (m - 0xdc))?),
            0xde | 0xdf => Head::Map(self.len(2 << (m - 0xde))?),
            0xe0..=0xff => Head::Int(i128::from(m as i8)),
            // 0xc1 is "never used".
            _ => return None,
        })
    }

    /// Skips one whole value.
    pub(crate) fn skip(&mut self) -> Option<()> {
        self.skip_depth(0)
    }

    fn skip_depth(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.head()? {
            Head::Array(n) => (0..n).try_for_each(|_| self.skip_depth(depth + 1)),
            Head::Map(n) => (0..n).try_for_each(|_| {
                self.skip_depth(depth + 1)?;
                self.skip_depth(depth + 1)
            }),
            _ => Some(()),
        }
    }

    /// Reads an integer that fits in an `i64`.
    pub(crate) fn int(&mut self) -> Option<i64> {
        match self.head()? {
            Head::Int(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }
}

/// A tiny msgpack writer, for building test macaroons.
#[cfg(test)]
pub(crate) mod write {
    pub(crate) fn array(out: &mut Vec<u8>, n: usize) {
        if n < 16 {
            out.push(0x90 | n as u8);
        } else {
            out.push(0xdc);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    pub(crate) fn map(out: &mut Vec<u8>, n: usize) {
        out.push(0x80 | n as u8);
    }
    pub(crate) fn int(out: &mut Vec<u8>, v: i64) {
        out.push(0xd3);
        out.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn uint(out: &mut Vec<u8>, v: u64) {
        if v < 128 {
            out.push(v as u8);
        } else {
            out.push(0xcf);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    pub(crate) fn str(out: &mut Vec<u8>, s: &str) {
        out.push(0xd9);
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    }
    pub(crate) fn bin(out: &mut Vec<u8>, b: &[u8]) {
        out.push(0xc4);
        out.push(b.len() as u8);
        out.extend_from_slice(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_head() {
        let bytes = [
            0x05, 0xff, 0xcc, 0xfe, 0xd1, 0xff, 0x00, 0xc0, 0xc3, 0xa2, b'h', b'i', 0xc4, 0x01, 0x09, 0xd4, 0x01, 0x02,
            0xca, 0, 0, 0, 0, 0x92, 0x01, 0x02, 0x81, 0x01, 0x02,
        ];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.head(), Some(Head::Int(5)));
        assert_eq!(r.head(), Some(Head::Int(-1)));
        assert_eq!(r.head(), Some(Head::Int(254)));
        assert_eq!(r.head(), Some(Head::Int(-256)));
        assert_eq!(r.head(), Some(Head::Nil));
        assert_eq!(r.head(), Some(Head::Bool(true)));
        assert_eq!(r.head(), Some(Head::Str(b"hi")));
        assert_eq!(r.head(), Some(Head::Bin(&[9])));
        assert_eq!(r.head(), Some(Head::Ext));
        assert_eq!(r.head(), Some(Head::Float));
        assert_eq!(r.skip(), Some(()));
        assert_eq!(r.skip(), Some(()));
        assert_eq!(r.head(), None, "end of input");
    }

    #[test]
    fn truncated_and_hostile_input_is_refused() {
        assert_eq!(Reader::new(&[0xd9, 0x05, b'a']).head(), None);
        assert_eq!(Reader::new(&[0xdd, 0xff, 0xff, 0xff, 0xff]).skip(), None);
        assert_eq!(Reader::new(&[0xc1]).head(), None);
        let deep = vec![0x91; 100];
        assert_eq!(Reader::new(&deep).skip(), None);
    }
}

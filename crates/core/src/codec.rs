//! The one codec every wire type implements (rustls style): `encode` appends
//! to a `Vec<u8>`, `read` consumes from a [`Reader`] and fails with a named
//! [`Malformed`]. Every length is checked against what is left in the input
//! (and against a hard maximum) before anything is allocated, and `decode`
//! refuses trailing bytes.

/// Why bytes from the wire do not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The input ended before a field did.
    #[error("truncated: {field} needs {needed} more bytes")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes missing.
        needed: usize,
    },
    /// Bytes were left after the value.
    #[error("{count} trailing bytes after the message")]
    TrailingBytes {
        /// Bytes left.
        count: usize,
    },
    /// A count or length is above its hard limit.
    #[error("{field} is {value}, above the limit {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// The value read.
        value: usize,
        /// The limit.
        max: usize,
    },
    /// A tag or enum byte has no meaning.
    #[error("unknown {field} tag {tag}")]
    UnknownTag {
        /// The field.
        field: &'static str,
        /// The tag read.
        tag: u8,
    },
    /// A field's value is invalid (off-curve key, bad signature encoding, …).
    #[error("invalid {field}")]
    Invalid {
        /// The field.
        field: &'static str,
    },
}

/// A cursor over untrusted input.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Malformed> {
        if self.buf.len() < n {
            return Err(Malformed::Truncated {
                field,
                needed: n - self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Malformed> {
        let bytes = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, Malformed> {
        Ok(self.array::<1>(field)?[0])
    }

    /// Big-endian u16.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, Malformed> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// Big-endian u32.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, Malformed> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// Big-endian u64.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, Malformed> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A count of items, each at least `min_item_len` bytes: checked against
    /// `max` and against what is left, so a lying count cannot make the
    /// caller allocate.
    pub fn count(
        &mut self,
        value: usize,
        max: usize,
        min_item_len: usize,
        field: &'static str,
    ) -> Result<usize, Malformed> {
        if value > max {
            return Err(Malformed::TooLong { field, value, max });
        }
        let needed = value.saturating_mul(min_item_len);
        if needed > self.remaining() {
            return Err(Malformed::Truncated {
                field,
                needed: needed - self.remaining(),
            });
        }
        Ok(value)
    }

    /// Fails unless every byte was consumed.
    pub fn finish(self) -> Result<(), Malformed> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Malformed::TrailingBytes {
                count: self.buf.len(),
            })
        }
    }
}

/// A type with one canonical byte encoding.
pub trait Codec: Sized {
    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Reads one value, leaving the rest of the input.
    fn read(reader: &mut Reader<'_>) -> Result<Self, Malformed>;

    /// The encoding as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Reads exactly one value from `bytes`; trailing bytes are an error.
    fn decode(bytes: &[u8]) -> Result<Self, Malformed> {
        let mut reader = Reader::new(bytes);
        let value = Self::read(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_truncation_and_trailing() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16("x").unwrap(), 0x0102);
        assert_eq!(
            r.u16("y"),
            Err(Malformed::Truncated {
                field: "y",
                needed: 1
            })
        );
        assert_eq!(r.finish(), Err(Malformed::TrailingBytes { count: 1 }));
    }

    #[test]
    fn count_is_bounded_before_allocation() {
        let mut r = Reader::new(&[0u8; 10]);
        assert!(matches!(
            r.count(5, 4, 1, "n"),
            Err(Malformed::TooLong { .. })
        ));
        assert!(matches!(
            r.count(3, 100, 4, "n"),
            Err(Malformed::Truncated { .. })
        ));
        assert_eq!(r.count(2, 100, 5, "n"), Ok(2));
        assert!(matches!(
            r.count(usize::MAX, usize::MAX, 2, "n"),
            Err(Malformed::Truncated { .. })
        ));
    }
}

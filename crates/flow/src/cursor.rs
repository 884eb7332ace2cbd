//! A bounds-checked reader over untrusted bytes (packets, sFlow datagrams, pcap files).
//!
//! Every read checks the remaining length first and returns `None` when it is short, so the
//! decoders built on it cannot panic or read out of bounds, whatever the input. Nothing here
//! allocates. Callers turn `None` into their own precise error (which header, which field),
//! as rustls's `Reader` and hickory's `BinDecoder` do.

/// Big-endian reads over a shrinking slice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) const fn new(buf: &'a [u8]) -> Self {
        Cursor { buf }
    }

    /// Bytes not yet read.
    pub(crate) const fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The unread bytes, without consuming them.
    pub(crate) const fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Consumes `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.buf.split_at_checked(n)?;
        self.buf = tail;
        Some(head)
    }

    /// Consumes exactly `N` bytes as an array reference (no copy).
    pub(crate) fn array<const N: usize>(&mut self) -> Option<&'a [u8; N]> {
        let (head, tail) = self.buf.split_first_chunk::<N>()?;
        self.buf = tail;
        Some(head)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array::<2>().map(|b| u16::from_be_bytes(*b))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array::<4>().map(|b| u32::from_be_bytes(*b))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array::<8>().map(|b| u64::from_be_bytes(*b))
    }

    /// Splits off a sub-cursor of `n` bytes: reads inside it can never run past its end.
    pub(crate) fn sub(&mut self, n: usize) -> Option<Cursor<'a>> {
        self.take(n).map(Cursor::new)
    }

    /// Keeps only the first `n` bytes (no-op when fewer remain): used to ignore link-layer
    /// padding after an IP packet whose header states its own length.
    pub(crate) fn truncate(&mut self, n: usize) {
        if n < self.buf.len() {
            self.buf = &self.buf[..n];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_checked() {
        let mut c = Cursor::new(&[1, 2, 3, 4, 5]);
        assert_eq!(c.u16(), Some(0x0102));
        assert_eq!(c.u32(), None, "a short read fails and consumes nothing");
        assert_eq!(c.remaining(), 3);
        assert_eq!(c.array::<3>(), Some(&[3, 4, 5]));
        assert_eq!(c.u16(), None);
        assert_eq!(c.take(0), Some(&[][..]));
    }

    #[test]
    fn sub_cursor_is_bounded() {
        let mut c = Cursor::new(&[0, 0, 0, 1, 9, 9]);
        let mut s = c.sub(4).unwrap();
        assert_eq!(s.u32(), Some(1));
        assert_eq!(s.u16(), None);
        assert_eq!(c.rest(), &[9, 9]);
        assert!(c.sub(3).is_none());
    }
}

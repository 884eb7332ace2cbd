//! Classic libpcap files over byte slices: [`PcapReader`] (both byte orders, µs and ns
//! timestamps) and [`PcapWriter`] (little-endian, µs). No file I/O: the caller reads the
//! file (or a `pcapsocket` stream) into memory and hands over the bytes.
//!
//! ```text
//! file   = global header (24 bytes) , { record }
//! global = magic u32 (a1b2c3d4 µs | a1b23c4d ns, in the file's byte order)
//!          version_major u16 , version_minor u16 , thiszone i32 , sigfigs u32 ,
//!          snaplen u32 , linktype u32
//! record = ts_sec u32 , ts_frac u32 , incl_len u32 , orig_len u32 , incl_len bytes
//! ```

use crate::cursor::Cursor;
use crate::layers::LinkType;
use crate::metric::Timestamp;

/// Why a pcap file could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PcapError {
    #[error("not a pcap file: bad magic {0:#010x} (pcapng is not supported)")]
    BadMagic(u32),
    #[error("truncated pcap {0}")]
    Truncated(&'static str),
    #[error("pcap record of {0} bytes exceeds the 256 KiB limit")]
    RecordTooLarge(u32),
}

/// Largest record accepted: larger ones mean a corrupt file, not a jumbo frame.
pub const MAX_RECORD: u32 = 256 * 1024;

/// One packet of a pcap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapRecord<'a> {
    pub ts: Timestamp,
    /// Length on the wire (may exceed `data.len()` when the snap length cut it).
    pub orig_len: u32,
    pub data: &'a [u8],
}

/// Iterates the records of an in-memory pcap file.
#[derive(Debug, Clone)]
pub struct PcapReader<'a> {
    cur: Cursor<'a>,
    big_endian: bool,
    nanos: bool,
    linktype: u32,
    snaplen: u32,
    failed: bool,
}

impl<'a> PcapReader<'a> {
    pub fn new(file: &'a [u8]) -> Result<Self, PcapError> {
        let mut cur = Cursor::new(file);
        let header = cur
            .array::<24>()
            .ok_or(PcapError::Truncated("global header"))?;
        let magic_be = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let (big_endian, nanos) = match magic_be {
            0xa1b2_c3d4 => (true, false),
            0xd4c3_b2a1 => (false, false),
            0xa1b2_3c4d => (true, true),
            0x4d3c_b2a1 => (false, true),
            other => return Err(PcapError::BadMagic(other)),
        };
        let word = |i: usize| {
            let b = [header[i], header[i + 1], header[i + 2], header[i + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        Ok(PcapReader {
            cur,
            big_endian,
            nanos,
            snaplen: word(16),
            linktype: word(20),
            failed: false,
        })
    }

    /// The raw link-type number.
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// The link type, if this crate decodes it.
    pub fn link_type(&self) -> Option<LinkType> {
        LinkType::from_pcap(self.linktype)
    }

    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// A reader over more records of the same file, for files read (or streamed, as by a
    /// `pcapsocket`) block by block: same byte order, time unit and link type, no global
    /// header. Pair it with [`PcapReader::next_complete`] and [`PcapReader::remaining`].
    pub fn resume<'b>(&self, records: &'b [u8]) -> PcapReader<'b> {
        PcapReader {
            cur: Cursor::new(records),
            big_endian: self.big_endian,
            nanos: self.nanos,
            linktype: self.linktype,
            snaplen: self.snaplen,
            failed: false,
        }
    }

    /// The next record if the bytes hold all of it; `None`, consuming nothing, when they
    /// end inside it (the rest of the block is then [`PcapReader::remaining`]).
    pub fn next_complete(&mut self) -> Option<Result<PcapRecord<'a>, PcapError>> {
        if self.failed {
            return None;
        }
        let rest = self.cur.rest();
        let incl = rest.get(8..12).map(|b| {
            let b = [b[0], b[1], b[2], b[3]];
            if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        })?;
        if incl <= MAX_RECORD && rest.len() < 16 + incl as usize {
            return None;
        }
        let rec = self.record();
        self.failed = rec.is_err();
        Some(rec)
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.cur.rest()
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.cur.array::<4>()?;
        Some(if self.big_endian {
            u32::from_be_bytes(*b)
        } else {
            u32::from_le_bytes(*b)
        })
    }

    fn record(&mut self) -> Result<PcapRecord<'a>, PcapError> {
        let truncated = PcapError::Truncated("record header");
        let secs = self.u32().ok_or(truncated)?;
        let frac = self.u32().ok_or(truncated)?;
        let incl = self.u32().ok_or(truncated)?;
        let orig = self.u32().ok_or(truncated)?;
        if incl > MAX_RECORD {
            return Err(PcapError::RecordTooLarge(incl));
        }
        let data = self
            .cur
            .take(incl as usize)
            .ok_or(PcapError::Truncated("record data"))?;
        Ok(PcapRecord {
            ts: Timestamp::from_secs_frac(secs, frac, self.nanos),
            orig_len: orig,
            data,
        })
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<PcapRecord<'a>, PcapError>;

    /// Records in file order; after an error, `None` (a cut file ends with one error).
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.cur.remaining() == 0 {
            return None;
        }
        let rec = self.record();
        self.failed = rec.is_err();
        Some(rec)
    }
}

/// Writes a little-endian, microsecond pcap file into memory.
#[derive(Debug, Clone)]
pub struct PcapWriter {
    buf: Vec<u8>,
}

impl PcapWriter {
    pub fn new(link: LinkType, snaplen: u32) -> Self {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        buf.extend_from_slice(&2u16.to_le_bytes());
        buf.extend_from_slice(&4u16.to_le_bytes());
        buf.extend_from_slice(&0i32.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        buf.extend_from_slice(&snaplen.to_le_bytes());
        buf.extend_from_slice(&link.to_pcap().to_le_bytes());
        PcapWriter { buf }
    }

    /// Appends a record; `orig_len` is the wire length (`data.len()` or more).
    pub fn record(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> &mut Self {
        let nanos = ts.as_nanos();
        let secs = u32::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(0);
        let micros = u32::try_from(nanos.rem_euclid(1_000_000_000) / 1_000).unwrap_or(0);
        let incl = u32::try_from(data.len()).unwrap_or(u32::MAX);
        for word in [secs, micros, incl, orig_len.max(incl)] {
            self.buf.extend_from_slice(&word.to_le_bytes());
        }
        self.buf.extend_from_slice(data);
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut w = PcapWriter::new(LinkType::Ethernet, 128);
        w.record(
            Timestamp::from_nanos(1_500_000_000_123_456_000),
            &[1, 2, 3],
            60,
        )
        .record(Timestamp::from_nanos(1_500_000_001_000_000_000), &[4], 1);
        let bytes = w.into_bytes();
        let r = PcapReader::new(&bytes).unwrap();
        assert_eq!(r.link_type(), Some(LinkType::Ethernet));
        assert_eq!(r.snaplen(), 128);
        let recs: Vec<_> = r.collect::<Result<_, _>>().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].data, &[1, 2, 3]);
        assert_eq!(recs[0].orig_len, 60);
        assert_eq!(recs[0].ts.as_nanos(), 1_500_000_000_123_456_000);
        assert_eq!(recs[1].orig_len, 1);
    }

    #[test]
    fn files_read_block_by_block() {
        let mut w = PcapWriter::new(LinkType::Ethernet, 128);
        for i in 0..20u8 {
            w.record(
                Timestamp::from_millis(i64::from(i)),
                &vec![i; usize::from(i) + 1],
                100,
            );
        }
        let file = w.into_bytes();
        let first = PcapReader::new(&file).unwrap();
        let mut seen = Vec::new();
        let mut carry: Vec<u8> = Vec::new();
        for block in file[24..].chunks(7) {
            carry.extend_from_slice(block);
            let mut r = first.resume(&carry);
            while let Some(rec) = r.next_complete() {
                seen.push(rec.unwrap().data.to_vec());
            }
            carry = r.remaining().to_vec();
        }
        assert!(carry.is_empty());
        assert_eq!(seen.len(), 20);
        assert_eq!(seen[19], vec![19; 20]);
    }

    #[test]
    fn big_endian_nanosecond_files_are_read() {
        let mut f = Vec::new();
        f.extend_from_slice(&0xa1b2_3c4du32.to_be_bytes());
        f.extend_from_slice(&[0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&65535u32.to_be_bytes());
        f.extend_from_slice(&1u32.to_be_bytes());
        for w in [7u32, 5, 2, 2] {
            f.extend_from_slice(&w.to_be_bytes());
        }
        f.extend_from_slice(&[9, 9]);
        let mut r = PcapReader::new(&f).unwrap();
        let rec = r.next().unwrap().unwrap();
        assert_eq!(rec.ts.as_nanos(), 7_000_000_005);
        assert!(r.next().is_none());
    }

    #[test]
    fn corrupt_files_end_with_one_error() {
        assert_eq!(
            PcapReader::new(&[0; 10]).unwrap_err(),
            PcapError::Truncated("global header")
        );
        assert!(matches!(
            PcapReader::new(&[0; 24]),
            Err(PcapError::BadMagic(0))
        ));
        let mut w = PcapWriter::new(LinkType::Ethernet, 128);
        w.record(Timestamp::default(), &[1, 2, 3, 4], 4);
        let mut bytes = w.into_bytes();
        bytes.truncate(bytes.len() - 1);
        let mut r = PcapReader::new(&bytes).unwrap();
        assert_eq!(r.next(), Some(Err(PcapError::Truncated("record data"))));
        assert_eq!(r.next(), None);
    }
}

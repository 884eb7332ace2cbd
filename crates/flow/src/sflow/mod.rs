//! sFlow version 5 datagrams (<https://sflow.org/sflow_version_5.txt>): a zero-copy decoder,
//! an encoder, and [`SflowIngest`], which feeds raw packet headers to a [`FlowTable`].
//!
//! # Format
//! Everything is XDR: big-endian 32-bit words, variable-length data prefixed by its length
//! and padded to a multiple of 4 bytes. A datagram is a header and a list of samples; each
//! sample and each record in a sample starts with a *data format* word (enterprise in the
//! high 20 bits, format in the low 12) and its length, so unknown kinds are skipped whole.
//!
//! ```text
//! Datagram (UDP payload)
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         version (5)                           |
//! +---------------------------------------------------------------+
//! |              agent address type (1 = IPv4, 2 = IPv6)          |
//! +---------------------------------------------------------------+
//! |               agent address (4 or 16 bytes)                   |
//! +---------------------------------------------------------------+
//! |                        sub-agent id                           |
//! +---------------------------------------------------------------+
//! |                       sequence number                         |
//! +---------------------------------------------------------------+
//! |                       uptime (ms)                             |
//! +---------------------------------------------------------------+
//! |                       number of samples                       |
//! +---------------------------------------------------------------+
//! |  enterprise (20 bits)               |  format (12 bits)       | \
//! +---------------------------------------------------------------+  | one sample,
//! |                       sample length (bytes)                   |  | repeated
//! +---------------------------------------------------------------+  |
//! |                       sample data ...                         | /
//! +---------------------------------------------------------------+
//! ```
//!
//! Samples of enterprise 0 decoded here (others are [`Sample::Other`]):
//!
//! ```text
//! flow sample (format 1)           expanded flow sample (format 3)
//! +---------------------------+    +---------------------------+
//! | sequence number           |    | sequence number           |
//! | source id: type(8)|idx(24)|    | source id type            |
//! | sampling rate             |    | source id index           |
//! | sample pool               |    | sampling rate             |
//! | drops                     |    | sample pool               |
//! | input: format(2)|val(30)  |    | drops                     |
//! | output: format(2)|val(30) |    | input format | input value|
//! | number of records         |    | output format | out. value|
//! | records ...               |    | number of records         |
//! +---------------------------+    | records ...               |
//!                                  +---------------------------+
//! counter sample (format 2)        expanded counter sample (format 4)
//! +---------------------------+    +---------------------------+
//! | sequence number           |    | sequence number           |
//! | source id: type(8)|idx(24)|    | source id type            |
//! | number of records         |    | source id index           |
//! | records ...               |    | number of records         |
//! +---------------------------+    | records ...               |
//!                                  +---------------------------+
//! record = data format (enterprise|format) , length , data
//! ```
//!
//! Records decoded here: the raw packet header flow record (format 1) and the generic
//! interface (format 1) and Ethernet (format 2) counter records. Others are returned as
//! `Other` with their bytes, so callers can count or decode them.
//!
//! ```text
//! raw packet header (flow record 1)
//! +---------------------------+
//! | header protocol (1 = Ethernet, 11 = IPv4, 12 = IPv6, ...)
//! | frame length (original, on the wire)
//! | stripped (bytes removed before the header was taken, e.g. FCS)
//! | header length | header bytes ... (padded to 4)
//! +---------------------------+
//! ```
//!
//! # Decoding
//! [`Datagram::parse`] reads the header and returns a view; [`Datagram::samples`] then
//! iterates samples, each of which iterates its records. Nothing is copied or allocated:
//! header bytes are slices of the datagram. Every length is checked against the bytes that
//! remain before use, every count against the bytes that could hold it (each sample or
//! record needs at least 8), so a hostile datagram costs at most one pass over its bytes and
//! ends with one [`SflowError`]; iterators return nothing after an error.
//!
//! # Counting samples, not packets
//! A flow sample stands for `sampling_rate` packets. [`SflowIngest`] accounts each raw
//! header once, as Skydive does: a flow's `Metric` counts *samples* and their bytes, and the
//! flow carries the `SamplingRate` of its samples so a reader can scale them.

mod counters;
mod encode;
mod ingest;

pub use counters::{EthernetCounters, GenericInterfaceCounters};
pub use encode::DatagramEncoder;
pub use ingest::{SflowIngest, SflowStats};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::cursor::Cursor;
#[cfg(doc)]
use crate::table::FlowTable;

/// Why an sFlow datagram (or the rest of it) could not be decoded. Small and `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SflowError {
    /// The bytes end inside this structure.
    #[error("truncated sFlow {0}")]
    Truncated(&'static str),
    #[error("unsupported sFlow version {0} (only version 5 is decoded)")]
    Version(u32),
    #[error("unknown sFlow agent address type {0} (expected 1 for IPv4 or 2 for IPv6)")]
    AddressType(u32),
    /// A record shorter than the structure its format defines.
    #[error("sFlow {what} record of {len} bytes is shorter than its {min}-byte structure")]
    ShortRecord {
        what: &'static str,
        len: u32,
        min: u32,
    },
    /// A count that the remaining bytes cannot hold.
    #[error("sFlow {what} count {count} exceeds what {bytes} remaining bytes can hold")]
    Count {
        what: &'static str,
        count: u32,
        bytes: usize,
    },
}

impl SflowError {
    /// Index of the variant, for counting by reason.
    pub(crate) fn index(&self) -> usize {
        match self {
            SflowError::Truncated(_) => 0,
            SflowError::Version(_) => 1,
            SflowError::AddressType(_) => 2,
            SflowError::ShortRecord { .. } => 3,
            SflowError::Count { .. } => 4,
        }
    }

    /// Stable reason names, one per variant, in declaration order (`SflowStats::errors`).
    pub const REASONS: [&'static str; 5] = [
        "truncated",
        "unsupported_version",
        "bad_agent_address",
        "short_record",
        "bad_count",
    ];
}

/// The datagram header, and its samples still undecoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'d> {
    pub agent: IpAddr,
    pub sub_agent_id: u32,
    pub sequence: u32,
    pub uptime_ms: u32,
    pub sample_count: u32,
    samples: &'d [u8],
}

/// Where a sample was taken: `kind` 0 = ifIndex, 1 = smonVlanDataSource, 2 =
/// entPhysicalEntry; `index` its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceId {
    pub kind: u32,
    pub index: u32,
}

/// An input or output interface: `format` 0 = ifIndex in `value` (0 = unknown), 1 = packet
/// discarded (`value` = reason), 2 = several interfaces (`value` = how many).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interface {
    pub format: u32,
    pub value: u32,
}

/// Header of a flow sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowSampleInfo {
    /// Expanded form (format 3) rather than compact (format 1).
    pub expanded: bool,
    pub sequence: u32,
    pub source: SourceId,
    /// One packet sampled in `sampling_rate`.
    pub sampling_rate: u32,
    /// Packets that could have been sampled.
    pub sample_pool: u32,
    /// Samples lost for lack of resources at the exporter.
    pub drops: u32,
    pub input: Interface,
    pub output: Interface,
}

/// A flow sample: its header and its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSample<'d> {
    pub info: FlowSampleInfo,
    pub record_count: u32,
    records: &'d [u8],
}

/// Header of a counter sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterSampleInfo {
    /// Expanded form (format 4) rather than compact (format 2).
    pub expanded: bool,
    pub sequence: u32,
    pub source: SourceId,
}

/// A counter sample: its header and its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterSample<'d> {
    pub info: CounterSampleInfo,
    pub record_count: u32,
    records: &'d [u8],
}

/// One sample of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample<'d> {
    Flow(FlowSample<'d>),
    Counters(CounterSample<'d>),
    /// Any other enterprise/format, with its bytes.
    Other {
        enterprise: u32,
        format: u32,
        data: &'d [u8],
    },
}

/// A sampled packet's first bytes (flow record 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPacketHeader<'d> {
    /// 1 = Ethernet, 11 = IPv4, 12 = IPv6 (others: see the specification).
    pub protocol: u32,
    /// Length of the packet on the wire.
    pub frame_length: u32,
    /// Bytes removed from the packet before the header was taken (e.g. a 4-byte FCS).
    pub stripped: u32,
    pub header: &'d [u8],
}

impl RawPacketHeader<'_> {
    /// The packet's length as captured frames count it: `frame_length - stripped`.
    pub fn wire_length(&self) -> u32 {
        self.frame_length.saturating_sub(self.stripped)
    }
}

/// One flow record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowRecord<'d> {
    RawHeader(RawPacketHeader<'d>),
    Other {
        enterprise: u32,
        format: u32,
        data: &'d [u8],
    },
}

/// One counter record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterRecord<'d> {
    GenericInterface(GenericInterfaceCounters),
    Ethernet(EthernetCounters),
    Other {
        enterprise: u32,
        format: u32,
        data: &'d [u8],
    },
}

/// Smallest sample or record: a data format word and a length.
const MIN_ITEM: usize = 8;

impl<'d> Datagram<'d> {
    /// Reads the datagram header.
    ///
    /// ```
    /// use skydive_flow::sflow::{Datagram, DatagramEncoder};
    ///
    /// let bytes = DatagramEncoder::new([127, 0, 0, 1].into(), 0, 42, 1000).finish();
    /// let d = Datagram::parse(&bytes).unwrap();
    /// assert_eq!((d.sequence, d.sample_count), (42, 0));
    /// assert_eq!(d.samples().count(), 0);
    /// ```
    pub fn parse(buf: &'d [u8]) -> Result<Self, SflowError> {
        let truncated = SflowError::Truncated("datagram header");
        let mut cur = Cursor::new(buf);
        let version = cur.u32().ok_or(truncated)?;
        if version != 5 {
            return Err(SflowError::Version(version));
        }
        let agent = match cur.u32().ok_or(truncated)? {
            1 => IpAddr::V4(Ipv4Addr::from(*cur.array::<4>().ok_or(truncated)?)),
            2 => IpAddr::V6(Ipv6Addr::from(*cur.array::<16>().ok_or(truncated)?)),
            other => return Err(SflowError::AddressType(other)),
        };
        let sub_agent_id = cur.u32().ok_or(truncated)?;
        let sequence = cur.u32().ok_or(truncated)?;
        let uptime_ms = cur.u32().ok_or(truncated)?;
        let sample_count = cur.u32().ok_or(truncated)?;
        check_count("sample", sample_count, cur.remaining())?;
        Ok(Datagram {
            agent,
            sub_agent_id,
            sequence,
            uptime_ms,
            sample_count,
            samples: cur.rest(),
        })
    }

    pub fn samples(&self) -> Items<'d, Sample<'d>> {
        Items::new(self.samples, self.sample_count, parse_sample)
    }
}

impl<'d> FlowSample<'d> {
    pub fn records(&self) -> Items<'d, FlowRecord<'d>> {
        Items::new(self.records, self.record_count, parse_flow_record)
    }
}

impl<'d> CounterSample<'d> {
    pub fn records(&self) -> Items<'d, CounterRecord<'d>> {
        Items::new(self.records, self.record_count, parse_counter_record)
    }
}

fn check_count(what: &'static str, count: u32, bytes: usize) -> Result<(), SflowError> {
    if count as usize > bytes / MIN_ITEM {
        return Err(SflowError::Count { what, count, bytes });
    }
    Ok(())
}

/// Iterates `count` length-prefixed items (samples or records); after an error, nothing.
#[derive(Debug, Clone)]
pub struct Items<'d, T> {
    cur: Cursor<'d>,
    left: u32,
    parse: fn(&mut Cursor<'d>) -> Result<T, SflowError>,
}

impl<'d, T> Items<'d, T> {
    fn new(
        bytes: &'d [u8],
        count: u32,
        parse: fn(&mut Cursor<'d>) -> Result<T, SflowError>,
    ) -> Self {
        Items {
            cur: Cursor::new(bytes),
            left: count,
            parse,
        }
    }
}

impl<T> Iterator for Items<'_, T> {
    type Item = Result<T, SflowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = (self.parse)(&mut self.cur);
        if item.is_err() {
            self.left = 0;
        }
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

/// Reads a data format word and a length, and returns `(enterprise, format, body)`.
fn item<'d>(
    cur: &mut Cursor<'d>,
    what: &'static str,
) -> Result<(u32, u32, Cursor<'d>), SflowError> {
    let truncated = SflowError::Truncated(what);
    let data_format = cur.u32().ok_or(truncated)?;
    let len = cur.u32().ok_or(truncated)?;
    let body = cur.sub(len as usize).ok_or(truncated)?;
    Ok((data_format >> 12, data_format & 0x0fff, body))
}

fn parse_sample<'d>(cur: &mut Cursor<'d>) -> Result<Sample<'d>, SflowError> {
    let (enterprise, format, mut body) = item(cur, "sample")?;
    Ok(match (enterprise, format) {
        (0, 1) => Sample::Flow(flow_sample(&mut body, false)?),
        (0, 3) => Sample::Flow(flow_sample(&mut body, true)?),
        (0, 2) => Sample::Counters(counter_sample(&mut body, false)?),
        (0, 4) => Sample::Counters(counter_sample(&mut body, true)?),
        _ => Sample::Other {
            enterprise,
            format,
            data: body.rest(),
        },
    })
}

/// A source id: compact `type(8) | index(24)` or expanded `type, index`.
fn source_id(
    cur: &mut Cursor<'_>,
    expanded: bool,
    truncated: SflowError,
) -> Result<SourceId, SflowError> {
    if expanded {
        let kind = cur.u32().ok_or(truncated)?;
        let index = cur.u32().ok_or(truncated)?;
        return Ok(SourceId { kind, index });
    }
    let word = cur.u32().ok_or(truncated)?;
    Ok(SourceId {
        kind: word >> 24,
        index: word & 0x00ff_ffff,
    })
}

/// An interface: compact `format(2) | value(30)` or expanded `format, value`.
fn interface(
    cur: &mut Cursor<'_>,
    expanded: bool,
    truncated: SflowError,
) -> Result<Interface, SflowError> {
    if expanded {
        let format = cur.u32().ok_or(truncated)?;
        let value = cur.u32().ok_or(truncated)?;
        return Ok(Interface { format, value });
    }
    let word = cur.u32().ok_or(truncated)?;
    Ok(Interface {
        format: word >> 30,
        value: word & 0x3fff_ffff,
    })
}

fn flow_sample<'d>(cur: &mut Cursor<'d>, expanded: bool) -> Result<FlowSample<'d>, SflowError> {
    let truncated = SflowError::Truncated("flow sample");
    let sequence = cur.u32().ok_or(truncated)?;
    let source = source_id(cur, expanded, truncated)?;
    let sampling_rate = cur.u32().ok_or(truncated)?;
    let sample_pool = cur.u32().ok_or(truncated)?;
    let drops = cur.u32().ok_or(truncated)?;
    let input = interface(cur, expanded, truncated)?;
    let output = interface(cur, expanded, truncated)?;
    let record_count = cur.u32().ok_or(truncated)?;
    check_count("flow record", record_count, cur.remaining())?;
    Ok(FlowSample {
        info: FlowSampleInfo {
            expanded,
            sequence,
            source,
            sampling_rate,
            sample_pool,
            drops,
            input,
            output,
        },
        record_count,
        records: cur.rest(),
    })
}

fn counter_sample<'d>(
    cur: &mut Cursor<'d>,
    expanded: bool,
) -> Result<CounterSample<'d>, SflowError> {
    let truncated = SflowError::Truncated("counter sample");
    let sequence = cur.u32().ok_or(truncated)?;
    let source = source_id(cur, expanded, truncated)?;
    let record_count = cur.u32().ok_or(truncated)?;
    check_count("counter record", record_count, cur.remaining())?;
    Ok(CounterSample {
        info: CounterSampleInfo {
            expanded,
            sequence,
            source,
        },
        record_count,
        records: cur.rest(),
    })
}

fn parse_flow_record<'d>(cur: &mut Cursor<'d>) -> Result<FlowRecord<'d>, SflowError> {
    let (enterprise, format, mut body) = item(cur, "flow record")?;
    if (enterprise, format) != (0, 1) {
        return Ok(FlowRecord::Other {
            enterprise,
            format,
            data: body.rest(),
        });
    }
    let truncated = SflowError::Truncated("raw packet header record");
    let protocol = body.u32().ok_or(truncated)?;
    let frame_length = body.u32().ok_or(truncated)?;
    let stripped = body.u32().ok_or(truncated)?;
    let header_len = body.u32().ok_or(truncated)?;
    let header = body.take(header_len as usize).ok_or(truncated)?;
    Ok(FlowRecord::RawHeader(RawPacketHeader {
        protocol,
        frame_length,
        stripped,
        header,
    }))
}

fn parse_counter_record<'d>(cur: &mut Cursor<'d>) -> Result<CounterRecord<'d>, SflowError> {
    let (enterprise, format, mut body) = item(cur, "counter record")?;
    Ok(match (enterprise, format) {
        (0, 1) => CounterRecord::GenericInterface(GenericInterfaceCounters::parse(&mut body)?),
        (0, 2) => CounterRecord::Ethernet(EthernetCounters::parse(&mut body)?),
        _ => CounterRecord::Other {
            enterprise,
            format,
            data: body.rest(),
        },
    })
}

#[cfg(test)]
mod tests;

//! [`SflowIngest`]: one datagram in, its raw packet headers accounted in a [`FlowTable`]
//! (as frames sampled 1 in the sample's rate) and its counter records handed to the caller,
//! everything counted in [`SflowStats`]. No allocation per datagram or sample.
//!
//! [`SflowIngest::datagrams`] does the same for a batch of datagrams received together, in
//! two passes: every datagram is walked first (headers noted, counter records handed over),
//! then the table's memory for all the noted headers is fetched at once
//! ([`FlowTable::warm`]) and they are accounted. Results and counters are those of
//! [`SflowIngest::datagram`] called on each datagram in order; the batch is faster when the
//! table outgrows the CPU caches (two cache misses per sample otherwise).

use super::{
    CounterRecord, CounterSampleInfo, Datagram, FlowRecord, FlowSample, RawPacketHeader, Sample,
    SflowError,
};
use crate::layers::LinkType;
use crate::metric::Timestamp;
use crate::table::FlowTable;

/// Counters of the datagrams an [`SflowIngest`] decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SflowStats {
    pub datagrams: u64,
    /// Datagrams rejected (or cut short) by reason, in [`SflowError::REASONS`] order.
    pub errors: [u64; 5],
    pub flow_samples: u64,
    pub counter_samples: u64,
    /// Samples of other enterprises or formats, skipped whole.
    pub other_samples: u64,
    /// Raw packet headers given to the table.
    pub raw_headers: u64,
    /// Raw packet headers of a protocol the decoder does not read (not Ethernet/IPv4/IPv6).
    pub unsupported_headers: u64,
    /// Other flow records (extended switch, router, …), skipped whole.
    pub other_flow_records: u64,
    /// Generic interface and Ethernet counter records decoded.
    pub counter_records: u64,
    /// Other counter records (OVS datapath, port name, …), skipped whole.
    pub other_counter_records: u64,
}

impl SflowStats {
    /// Errors of all reasons.
    pub fn error_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Non-zero errors by reason name.
    pub fn errors_by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        SflowError::REASONS
            .iter()
            .zip(self.errors.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| (*r, *n))
    }
}

/// Feeds sFlow datagrams to a flow table. One per collector socket.
#[derive(Debug, Default)]
pub struct SflowIngest {
    stats: SflowStats,
    /// Headers noted by the first pass of [`SflowIngest::datagrams`] (reused).
    noted: Vec<Noted>,
}

/// A raw packet header of a batch, by position: datagram, offset and length in it.
#[derive(Debug, Clone, Copy)]
struct Noted {
    datagram: u32,
    offset: u32,
    len: u32,
    wire_len: u32,
    link: LinkType,
    sampling_rate: u32,
}

impl SflowIngest {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> &SflowStats {
        &self.stats
    }

    /// Decodes `bytes`, accounts every raw packet header at `now` (sFlow has no per-sample
    /// time) and calls `on_counters` with every decoded counter record.
    ///
    /// An error is counted and returned; the samples before it have been processed.
    pub fn datagram(
        &mut self,
        table: &mut FlowTable,
        bytes: &[u8],
        now: Timestamp,
        mut on_counters: impl FnMut(&Datagram<'_>, &CounterSampleInfo, &CounterRecord<'_>),
    ) -> Result<(), SflowError> {
        self.stats.datagrams += 1;
        let res = walk(
            &mut self.stats,
            bytes,
            &mut on_counters,
            &mut |h, link, rate| {
                // Decode errors are counted by the table, by reason.
                let _ = table.process_sampled_frame(h.header, h.wire_length(), link, now, rate);
            },
        );
        if let Err(e) = &res {
            self.stats.errors[e.index()] += 1;
        }
        res
    }

    /// [`SflowIngest::datagram`] for datagrams received together (see the module docs): the
    /// same flows and counters, with the table's memory fetched for the whole batch at once.
    /// Errors are counted (by reason) as for each datagram alone; the number of datagrams
    /// that had one is returned.
    ///
    /// ```
    /// use skydive_flow::sflow::{DatagramEncoder, SflowIngest};
    /// use skydive_flow::{CaptureIds, FlowTable, TableConfig, Timestamp};
    /// let mut table = FlowTable::new(TableConfig::default(), CaptureIds::default());
    /// let good = DatagramEncoder::new([127, 0, 0, 1].into(), 0, 1, 1).finish();
    /// let mut ingest = SflowIngest::new();
    /// let bad = ingest.datagrams(&mut table, &[&good[..], &[0, 0, 0, 4][..]], Timestamp::now(), |_, _, _| {});
    /// assert_eq!((bad, ingest.stats().datagrams, ingest.stats().error_total()), (1, 2, 1));
    /// ```
    pub fn datagrams(
        &mut self,
        table: &mut FlowTable,
        batch: &[&[u8]],
        now: Timestamp,
        mut on_counters: impl FnMut(&Datagram<'_>, &CounterSampleInfo, &CounterRecord<'_>),
    ) -> usize {
        let stats = &mut self.stats;
        let mut noted = std::mem::take(&mut self.noted);
        noted.clear();
        let mut failed = 0;
        for (i, bytes) in batch.iter().enumerate() {
            stats.datagrams += 1;
            let base = bytes.as_ptr() as usize;
            let res = walk(stats, bytes, &mut on_counters, &mut |h, link, rate| {
                noted.push(Noted {
                    datagram: i as u32,
                    offset: (h.header.as_ptr() as usize - base) as u32,
                    len: h.header.len() as u32,
                    wire_len: h.wire_length(),
                    link,
                    sampling_rate: rate,
                });
            });
            if let Err(e) = res {
                stats.errors[e.index()] += 1;
                failed += 1;
            }
        }
        let header = |n: &Noted| -> &[u8] {
            let d = batch[n.datagram as usize];
            &d[n.offset as usize..(n.offset + n.len) as usize]
        };
        table.warm(noted.iter().map(|n| (header(n), n.wire_len, n.link)));
        for n in &noted {
            let _ =
                table.process_sampled_frame(header(n), n.wire_len, n.link, now, n.sampling_rate);
        }
        self.noted = noted;
        failed
    }
}

/// Walks one datagram: counts, hands counter records to `on_counters` and raw packet headers
/// of a decodable protocol to `on_header` (with their link type and sampling rate).
fn walk(
    stats: &mut SflowStats,
    bytes: &[u8],
    on_counters: &mut impl FnMut(&Datagram<'_>, &CounterSampleInfo, &CounterRecord<'_>),
    on_header: &mut impl FnMut(&RawPacketHeader<'_>, LinkType, u32),
) -> Result<(), SflowError> {
    let datagram = Datagram::parse(bytes)?;
    for sample in datagram.samples() {
        match sample? {
            Sample::Flow(s) => {
                stats.flow_samples += 1;
                flow_sample(stats, &s, on_header)?;
            }
            Sample::Counters(s) => {
                stats.counter_samples += 1;
                for record in s.records() {
                    let record = record?;
                    match record {
                        CounterRecord::Other { .. } => stats.other_counter_records += 1,
                        _ => stats.counter_records += 1,
                    }
                    on_counters(&datagram, &s.info, &record);
                }
            }
            Sample::Other { .. } => stats.other_samples += 1,
        }
    }
    Ok(())
}

fn flow_sample(
    stats: &mut SflowStats,
    sample: &FlowSample<'_>,
    on_header: &mut impl FnMut(&RawPacketHeader<'_>, LinkType, u32),
) -> Result<(), SflowError> {
    for record in sample.records() {
        let FlowRecord::RawHeader(h) = record? else {
            stats.other_flow_records += 1;
            continue;
        };
        let link = match h.protocol {
            1 => LinkType::Ethernet,
            11 => LinkType::Ipv4,
            12 => LinkType::Ipv6,
            _ => {
                stats.unsupported_headers += 1;
                continue;
            }
        };
        stats.raw_headers += 1;
        on_header(&h, link, sample.info.sampling_rate.max(1));
    }
    Ok(())
}

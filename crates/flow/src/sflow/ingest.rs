//! [`SflowIngest`]: one datagram in, its raw packet headers accounted in a [`FlowTable`]
//! (as frames sampled 1 in the sample's rate) and its counter records handed to the caller,
//! everything counted in [`SflowStats`]. No allocation per datagram or sample.

use super::{
    CounterRecord, CounterSampleInfo, Datagram, FlowRecord, FlowSample, Sample, SflowError,
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
        let res = self.walk(table, bytes, now, &mut on_counters);
        if let Err(e) = &res {
            self.stats.errors[e.index()] += 1;
        }
        res
    }

    fn walk(
        &mut self,
        table: &mut FlowTable,
        bytes: &[u8],
        now: Timestamp,
        on_counters: &mut impl FnMut(&Datagram<'_>, &CounterSampleInfo, &CounterRecord<'_>),
    ) -> Result<(), SflowError> {
        let datagram = Datagram::parse(bytes)?;
        for sample in datagram.samples() {
            match sample? {
                Sample::Flow(s) => {
                    self.stats.flow_samples += 1;
                    self.flow_sample(table, &s, now)?;
                }
                Sample::Counters(s) => {
                    self.stats.counter_samples += 1;
                    for record in s.records() {
                        let record = record?;
                        match record {
                            CounterRecord::Other { .. } => self.stats.other_counter_records += 1,
                            _ => self.stats.counter_records += 1,
                        }
                        on_counters(&datagram, &s.info, &record);
                    }
                }
                Sample::Other { .. } => self.stats.other_samples += 1,
            }
        }
        Ok(())
    }

    fn flow_sample(
        &mut self,
        table: &mut FlowTable,
        sample: &FlowSample<'_>,
        now: Timestamp,
    ) -> Result<(), SflowError> {
        for record in sample.records() {
            let FlowRecord::RawHeader(h) = record? else {
                self.stats.other_flow_records += 1;
                continue;
            };
            let link = match h.protocol {
                1 => LinkType::Ethernet,
                11 => LinkType::Ipv4,
                12 => LinkType::Ipv6,
                _ => {
                    self.stats.unsupported_headers += 1;
                    continue;
                }
            };
            self.stats.raw_headers += 1;
            // Decode errors are counted by the table, by reason.
            let _ = table.process_sampled_frame(
                h.header,
                h.wire_length(),
                link,
                now,
                sample.info.sampling_rate.max(1),
            );
        }
        Ok(())
    }
}

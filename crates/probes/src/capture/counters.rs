//! sFlow counter samples → the captured node's `SFlow` metadata, in Skydive's shape
//! (`sflow/sflow.go`, `sflow/agent.go`):
//!
//! ```text
//! SFlow: {
//!   IfMetrics: {"<ifIndex>": {IfInOctets, IfInUcastPkts, …, IfOutErrors}},   per interface
//!   Metric: {If* (sum over IfMetrics), Eth* (sum over interfaces), OvsDp*, OvsApp*, Vlan*,
//!            Start, Last},
//!   LastUpdateMetric: {every field of Metric minus its previous value, Start, Last}
//! }
//! ```
//!
//! Fields are integers and, as in Skydive, left out when zero. Inputs: generic interface
//! counters (record 1) per `ifIndex`; Ethernet counters (2) per sample source; VLAN (5), and
//! OVS's application resources (2203) and datapath (2207) records, the latest value of each.
//! A counter sFlow reports as unknown (all bits set) keeps its previous value.
//!
//! The packet thread folds each batch's counter records in under one short lock
//! ([`SflowCounters::apply`]); the status task writes the result at most every
//! `agent.capture.stats_update` ([`SflowCounters::take_metadata`]), where Skydive rewrote the
//! node after every datagram.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use skydive_flow::sflow::{CounterRecord, EthernetCounters, GenericInterfaceCounters};

/// Names of [`Metric`]'s fields, in order: interface, OVS, VLAN, Ethernet counters.
const NAMES: [&str; METRIC_FIELDS] = [
    "IfInOctets",
    "IfInUcastPkts",
    "IfInMulticastPkts",
    "IfInBroadcastPkts",
    "IfInDiscards",
    "IfInErrors",
    "IfInUnknownProtos",
    "IfOutOctets",
    "IfOutUcastPkts",
    "IfOutMulticastPkts",
    "IfOutBroadcastPkts",
    "IfOutDiscards",
    "IfOutErrors",
    "OvsDpNHit",
    "OvsDpNMissed",
    "OvsDpNLost",
    "OvsDpNMaskHit",
    "OvsDpNFlows",
    "OvsDpNMasks",
    "OvsAppFdOpen",
    "OvsAppFdMax",
    "OvsAppConnOpen",
    "OvsAppConnMax",
    "OvsAppMemUsed",
    "OvsAppMemMax",
    "VlanOctets",
    "VlanUcastPkts",
    "VlanMulticastPkts",
    "VlanBroadcastPkts",
    "VlanDiscards",
    "EthAlignmentErrors",
    "EthFCSErrors",
    "EthSingleCollisionFrames",
    "EthMultipleCollisionFrames",
    "EthSQETestErrors",
    "EthDeferredTransmissions",
    "EthLateCollisions",
    "EthExcessiveCollisions",
    "EthInternalMacReceiveErrors",
    "EthInternalMacTransmitErrors",
    "EthCarrierSenseErrors",
    "EthFrameTooLongs",
    "EthSymbolErrors",
];
const METRIC_FIELDS: usize = 43;
const IF_FIELDS: usize = 13;
const OVS_AT: usize = 13;
const VLAN_AT: usize = 25;
const ETH_AT: usize = 30;
const ETH_FIELDS: usize = 13;

/// sFlow's "unknown" values.
const UNKNOWN_32: u32 = u32::MAX;
const UNKNOWN_64: u64 = u64::MAX;

/// OVS's sFlow counter records (enterprise 0): application resources and datapath.
const APP_RESOURCES: u32 = 2203;
const OVS_DATAPATH: u32 = 2207;
const VLAN_COUNTERS: u32 = 5;

/// One counter record of a sample, owned (the packet thread collects them per batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterUpdate {
    Interface(GenericInterfaceCounters),
    /// Ethernet counters of the sample's source (its ifIndex).
    Ethernet {
        source: u32,
        c: EthernetCounters,
    },
    /// `OvsDp*` values, in [`NAMES`] order.
    OvsDatapath([u32; 6]),
    /// `OvsApp*` values, in [`NAMES`] order (FdOpen, FdMax, ConnOpen, ConnMax, MemUsed, MemMax).
    AppResources([u64; 6]),
    /// `Vlan*` values, in [`NAMES`] order.
    Vlan([u64; 5]),
}

impl CounterUpdate {
    /// The update a decoded record carries, if it is one of the kinds kept.
    pub fn from_record(source: u32, r: &CounterRecord<'_>) -> Option<CounterUpdate> {
        match *r {
            CounterRecord::GenericInterface(c) => Some(CounterUpdate::Interface(c)),
            CounterRecord::Ethernet(c) => Some(CounterUpdate::Ethernet { source, c }),
            CounterRecord::Other {
                enterprise: 0,
                format,
                data,
            } => {
                let mut w = Words(data);
                match format {
                    OVS_DATAPATH => {
                        let mut v = [0u32; 6];
                        for x in &mut v {
                            *x = w.u32()?;
                        }
                        Some(CounterUpdate::OvsDatapath(v))
                    }
                    APP_RESOURCES => {
                        let (_user, _system) = (w.u32()?, w.u32()?);
                        let (mem_used, mem_max) = (w.u64()?, w.u64()?);
                        let (fd_open, fd_max) = (w.u32()?, w.u32()?);
                        let (conn_open, conn_max) = (w.u32()?, w.u32()?);
                        let w32 = |x: u32| {
                            if x == UNKNOWN_32 {
                                UNKNOWN_64
                            } else {
                                u64::from(x)
                            }
                        };
                        Some(CounterUpdate::AppResources([
                            w32(fd_open),
                            w32(fd_max),
                            w32(conn_open),
                            w32(conn_max),
                            mem_used,
                            mem_max,
                        ]))
                    }
                    VLAN_COUNTERS => {
                        let _vlan_id = w.u32()?;
                        let octets = w.u64()?;
                        let mut v = [octets, 0, 0, 0, 0];
                        for x in &mut v[1..] {
                            let n = w.u32()?;
                            *x = if n == UNKNOWN_32 {
                                UNKNOWN_64
                            } else {
                                u64::from(n)
                            };
                        }
                        Some(CounterUpdate::Vlan(v))
                    }
                    _ => None,
                }
            }
            CounterRecord::Other { .. } => None,
        }
    }
}

/// Big-endian words of a record, bounds-checked.
struct Words<'a>(&'a [u8]);

impl Words<'_> {
    fn u32(&mut self) -> Option<u32> {
        let (w, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*w))
    }

    fn u64(&mut self) -> Option<u64> {
        let (w, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_be_bytes(*w))
    }
}

/// Skydive's `SFMetric` as an array of its fields (see [`NAMES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Metric([i64; METRIC_FIELDS]);

impl Default for Metric {
    fn default() -> Self {
        Metric([0; METRIC_FIELDS])
    }
}

impl Metric {
    fn is_zero(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }

    fn sub(&self, o: &Metric) -> Metric {
        let mut r = *self;
        for (a, b) in r.0.iter_mut().zip(o.0.iter()) {
            *a = a.wrapping_sub(*b);
        }
        r
    }

    /// The JSON object: non-zero fields, then `Start` and `Last` when set.
    fn json(&self, range: std::ops::Range<usize>, start: i64, last: i64) -> Value {
        let mut m = Map::new();
        for i in range {
            if self.0[i] != 0 {
                m.insert(NAMES[i].to_owned(), Value::from(self.0[i]));
            }
        }
        if start != 0 {
            m.insert("Start".into(), Value::from(start));
        }
        if last != 0 {
            m.insert("Last".into(), Value::from(last));
        }
        Value::Object(m)
    }
}

/// Keeps `old` for sFlow's unknown value; counters above `i64::MAX` saturate.
fn keep_known_64(new: u64, old: i64) -> i64 {
    if new == UNKNOWN_64 {
        old
    } else {
        i64::try_from(new).unwrap_or(i64::MAX)
    }
}

fn keep_known_32(new: u32, old: i64) -> i64 {
    if new == UNKNOWN_32 {
        old
    } else {
        i64::from(new)
    }
}

/// The counters of one capture, as last reported.
#[derive(Debug, Default)]
pub struct SflowCounters {
    /// Interface counters by ifIndex (the first 13 fields of a [`Metric`]).
    interfaces: BTreeMap<u32, [i64; IF_FIELDS]>,
    /// Ethernet counters by sample source.
    ethernet: BTreeMap<u32, [i64; ETH_FIELDS]>,
    /// OVS and VLAN values (latest).
    global: Metric,
    /// Records applied since the last [`SflowCounters::take_metadata`].
    dirty: bool,
    /// The `Metric` last written, and when.
    written: Option<(Metric, i64)>,
    /// When the first counter record arrived (ms).
    start_ms: i64,
}

impl SflowCounters {
    /// Folds a batch of records in (received at `now_ms`).
    pub fn apply(&mut self, updates: &[CounterUpdate], now_ms: i64) {
        if updates.is_empty() {
            return;
        }
        if self.start_ms == 0 {
            self.start_ms = now_ms;
        }
        self.dirty = true;
        for u in updates {
            match u {
                CounterUpdate::Interface(c) => {
                    let m = self.interfaces.entry(c.if_index).or_insert([0; IF_FIELDS]);
                    let v32 = [
                        c.if_in_ucast_pkts,
                        c.if_in_multicast_pkts,
                        c.if_in_broadcast_pkts,
                        c.if_in_discards,
                        c.if_in_errors,
                        c.if_in_unknown_protos,
                    ];
                    m[0] = keep_known_64(c.if_in_octets, m[0]);
                    for (i, v) in v32.into_iter().enumerate() {
                        m[1 + i] = keep_known_32(v, m[1 + i]);
                    }
                    let o32 = [
                        c.if_out_ucast_pkts,
                        c.if_out_multicast_pkts,
                        c.if_out_broadcast_pkts,
                        c.if_out_discards,
                        c.if_out_errors,
                    ];
                    m[7] = keep_known_64(c.if_out_octets, m[7]);
                    for (i, v) in o32.into_iter().enumerate() {
                        m[8 + i] = keep_known_32(v, m[8 + i]);
                    }
                }
                CounterUpdate::Ethernet { source, c } => {
                    let m = self.ethernet.entry(*source).or_insert([0; ETH_FIELDS]);
                    let v = [
                        c.alignment_errors,
                        c.fcs_errors,
                        c.single_collision_frames,
                        c.multiple_collision_frames,
                        c.sqe_test_errors,
                        c.deferred_transmissions,
                        c.late_collisions,
                        c.excessive_collisions,
                        c.internal_mac_receive_errors,
                        c.internal_mac_transmit_errors,
                        c.carrier_sense_errors,
                        c.frame_too_longs,
                        c.symbol_errors,
                    ];
                    for (i, x) in v.into_iter().enumerate() {
                        m[i] = keep_known_32(x, m[i]);
                    }
                }
                CounterUpdate::OvsDatapath(v) => {
                    for (i, x) in v.iter().enumerate() {
                        let f = &mut self.global.0[OVS_AT + i];
                        *f = keep_known_32(*x, *f);
                    }
                }
                CounterUpdate::AppResources(v) => {
                    for (i, x) in v.iter().enumerate() {
                        let f = &mut self.global.0[OVS_AT + 6 + i];
                        *f = keep_known_64(*x, *f);
                    }
                }
                CounterUpdate::Vlan(v) => {
                    for (i, x) in v.iter().enumerate() {
                        let f = &mut self.global.0[VLAN_AT + i];
                        *f = keep_known_64(*x, *f);
                    }
                }
            }
        }
    }

    /// The current totals.
    fn metric(&self) -> Metric {
        let mut m = self.global;
        for itf in self.interfaces.values() {
            for (i, v) in itf.iter().enumerate() {
                m.0[i] = m.0[i].saturating_add(*v);
            }
        }
        for eth in self.ethernet.values() {
            for (i, v) in eth.iter().enumerate() {
                m.0[ETH_AT + i] = m.0[ETH_AT + i].saturating_add(*v);
            }
        }
        m
    }

    /// The `SFlow` value to write when records arrived since the previous call (`None`
    /// otherwise, or while every counter is zero).
    pub fn take_metadata(&mut self, now_ms: i64) -> Option<Value> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        let metric = self.metric();
        if metric.is_zero() && self.interfaces.is_empty() {
            return None;
        }
        let mut sflow = Map::new();
        let ifs: Map<String, Value> = self
            .interfaces
            .iter()
            .map(|(idx, m)| {
                let mut full = Metric::default();
                full.0[..IF_FIELDS].copy_from_slice(m);
                (idx.to_string(), full.json(0..IF_FIELDS, 0, 0))
            })
            .collect();
        sflow.insert("IfMetrics".into(), Value::Object(ifs));
        sflow.insert(
            "Metric".into(),
            metric.json(0..METRIC_FIELDS, self.start_ms, now_ms),
        );
        let (prev, prev_ms) = self.written.unwrap_or((Metric::default(), self.start_ms));
        let delta = metric.sub(&prev);
        if !delta.is_zero() {
            sflow.insert(
                "LastUpdateMetric".into(),
                delta.json(0..METRIC_FIELDS, prev_ms, now_ms),
            );
        }
        self.written = Some((metric, now_ms));
        Some(Value::Object(sflow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn itf(idx: u32, in_octets: u64, in_ucast: u32) -> CounterUpdate {
        CounterUpdate::Interface(GenericInterfaceCounters {
            if_index: idx,
            if_in_octets: in_octets,
            if_in_ucast_pkts: in_ucast,
            if_out_errors: UNKNOWN_32,
            ..Default::default()
        })
    }

    #[test]
    fn skydive_shape_sums_and_differences() {
        let mut c = SflowCounters::default();
        assert_eq!(c.take_metadata(1000), None);
        c.apply(&[itf(3, 1000, 10), itf(4, 500, 5)], 1000);
        let v = c.take_metadata(2000).unwrap();
        assert_eq!(
            v,
            json!({
                "IfMetrics": {"3": {"IfInOctets": 1000, "IfInUcastPkts": 10},
                              "4": {"IfInOctets": 500, "IfInUcastPkts": 5}},
                "Metric": {"IfInOctets": 1500, "IfInUcastPkts": 15, "Start": 1000, "Last": 2000},
                "LastUpdateMetric": {"IfInOctets": 1500, "IfInUcastPkts": 15, "Start": 1000, "Last": 2000},
            })
        );
        assert_eq!(c.take_metadata(2500), None, "nothing new");
        c.apply(&[itf(3, 1600, 16)], 2600);
        let v = c.take_metadata(3000).unwrap();
        assert_eq!(v["Metric"]["IfInOctets"], 2100);
        assert_eq!(
            v["LastUpdateMetric"],
            json!({"IfInOctets": 600, "IfInUcastPkts": 6, "Start": 2000, "Last": 3000})
        );
    }

    #[test]
    fn ovs_records_are_decoded_from_their_bytes() {
        let mut dp = Vec::new();
        for x in [7u32, 2, 0, 5, 3, 1] {
            dp.extend_from_slice(&x.to_be_bytes());
        }
        let rec = CounterRecord::Other {
            enterprise: 0,
            format: OVS_DATAPATH,
            data: &dp,
        };
        let u = CounterUpdate::from_record(0, &rec).unwrap();
        assert_eq!(u, CounterUpdate::OvsDatapath([7, 2, 0, 5, 3, 1]));
        let short = CounterRecord::Other {
            enterprise: 0,
            format: OVS_DATAPATH,
            data: &dp[..20],
        };
        assert_eq!(CounterUpdate::from_record(0, &short), None);
        let mut app = Vec::new();
        for x in [1u32, 2] {
            app.extend_from_slice(&x.to_be_bytes());
        }
        for x in [4096u64, 8192] {
            app.extend_from_slice(&x.to_be_bytes());
        }
        for x in [9u32, 1024, 1, 10] {
            app.extend_from_slice(&x.to_be_bytes());
        }
        let rec = CounterRecord::Other {
            enterprise: 0,
            format: APP_RESOURCES,
            data: &app,
        };
        let u = CounterUpdate::from_record(0, &rec).unwrap();
        let mut c = SflowCounters::default();
        c.apply(&[CounterUpdate::OvsDatapath([7, 2, 0, 5, 3, 1]), u], 10);
        let v = c.take_metadata(20).unwrap();
        assert_eq!(v["Metric"]["OvsDpNHit"], 7);
        assert_eq!(v["Metric"]["OvsDpNFlows"], 3);
        assert_eq!(v["Metric"]["OvsAppFdOpen"], 9);
        assert_eq!(v["Metric"]["OvsAppMemMax"], 8192);
        assert_eq!(v["IfMetrics"], json!({}));
    }

    #[test]
    fn unknown_values_keep_the_previous_one() {
        let mut c = SflowCounters::default();
        c.apply(&[itf(1, 100, 1)], 1);
        c.apply(&[itf(1, UNKNOWN_64, UNKNOWN_32)], 2);
        let v = c.take_metadata(3).unwrap();
        assert_eq!(
            v["IfMetrics"]["1"],
            json!({"IfInOctets": 100, "IfInUcastPkts": 1})
        );
    }
}

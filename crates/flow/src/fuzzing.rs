//! Fuzz harness bodies: each `fuzz/fuzz_targets/<name>.rs` is one call to a function here,
//! so the harnesses build with the crate and its tests can replay crashes (rustls's
//! `pub mod fuzzing` pattern). Every function must return normally for every input; a
//! panic is a bug.

use std::time::Duration;

use crate::layers::{LinkType, MAX_SEGMENTS};
use crate::metric::Timestamp;
use crate::sflow::{CounterRecord, Datagram, DatagramEncoder, FlowRecord, Sample, SflowIngest};
use crate::table::{CaptureIds, FlowTable, TableConfig};
use crate::{Layers, decode};

const LINK_TYPES: [LinkType; 5] = [
    LinkType::Ethernet,
    LinkType::RawIp,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::LinuxSll,
];

fn small_table() -> FlowTable {
    let cfg = TableConfig {
        max_entries: 64,
        update: Duration::from_secs(1),
        ..TableConfig::default()
    };
    FlowTable::with_hash_seed(cfg, CaptureIds::default(), 1)
}

/// Target `packet`: the first byte picks the link type, the rest is a frame. Decodes it,
/// checks the view's invariants, then runs it through a flow table twice (miss and hit)
/// and flushes.
pub fn packet(data: &[u8]) {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let link = LINK_TYPES[usize::from(selector) % LINK_TYPES.len()];
    let mut layers = Layers::new();
    let res = decode(frame, frame.len() as u32, link, &mut layers);
    assert!(layers.len() <= MAX_SEGMENTS);
    let mut previous_len = u32::MAX;
    for seg in layers.segments() {
        assert!(seg.length <= previous_len, "inner segments never grow");
        previous_len = seg.length;
        let _ = seg.path.to_string();
    }
    if let Err(e) = res {
        let _ = e.to_string();
    }
    let mut table = small_table();
    let t0 = Timestamp::from_millis(1_000);
    let _ = table.process_frame(frame, frame.len() as u32, link, t0);
    let _ = table.process_frame(
        frame,
        frame.len() as u32,
        link,
        t0.saturating_add(Duration::from_secs(2)),
    );
    table.flush(t0.saturating_add(Duration::from_secs(3)));
    let mut out = Vec::new();
    table.drain_flows(&mut out);
    for f in &out {
        let json = serde_json::to_string(f).expect("a flow always serialises");
        let back: crate::Flow = serde_json::from_str(&json).expect("and reads back");
        assert_eq!(&back, f);
    }
}

/// Target `sflow_datagram`: decodes a datagram and walks every sample and record; when that
/// succeeds, re-encodes it and checks that decoding the result gives the same values
/// (decode → encode → decode). Then feeds it to a flow table.
pub fn sflow_datagram(data: &[u8]) {
    if let Ok(d) = Datagram::parse(data)
        && let Some(samples) = collect(&d)
    {
        round_trip(&d, &samples);
    }
    let mut table = small_table();
    let mut ingest = SflowIngest::new();
    let _ = ingest.datagram(&mut table, data, Timestamp::from_millis(1), |_, _, _| {});
    table.flush(Timestamp::from_millis(10_000));
}

/// A decoded sample with its records.
#[derive(Debug, PartialEq)]
enum Decoded<'d> {
    Flow(crate::sflow::FlowSampleInfo, Vec<FlowRecord<'d>>),
    Counters(crate::sflow::CounterSampleInfo, Vec<CounterRecord<'d>>),
    Other(u32, u32, &'d [u8]),
}

fn collect<'d>(d: &Datagram<'d>) -> Option<Vec<Decoded<'d>>> {
    let mut out = Vec::new();
    for sample in d.samples() {
        out.push(match sample.ok()? {
            Sample::Flow(s) => Decoded::Flow(s.info, s.records().collect::<Result<_, _>>().ok()?),
            Sample::Counters(s) => {
                Decoded::Counters(s.info, s.records().collect::<Result<_, _>>().ok()?)
            }
            Sample::Other {
                enterprise,
                format,
                data,
            } => Decoded::Other(enterprise, format, data),
        });
    }
    Some(out)
}

fn round_trip(d: &Datagram<'_>, samples: &[Decoded<'_>]) {
    let mut enc = DatagramEncoder::new(d.agent, d.sub_agent_id, d.sequence, d.uptime_ms);
    for s in samples {
        match s {
            Decoded::Flow(info, records) => enc.flow_sample(info, records),
            Decoded::Counters(info, records) => enc.counter_sample(info, records),
            Decoded::Other(enterprise, format, data) => {
                enc.other_sample(*enterprise, *format, data)
            }
        };
    }
    let bytes = enc.finish();
    let again = Datagram::parse(&bytes).expect("an encoded datagram decodes");
    assert_eq!(
        (
            again.agent,
            again.sub_agent_id,
            again.sequence,
            again.uptime_ms
        ),
        (d.agent, d.sub_agent_id, d.sequence, d.uptime_ms)
    );
    let decoded = collect(&again).expect("every encoded sample decodes");
    assert_eq!(decoded.as_slice(), samples);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harnesses_accept_empty_and_tiny_inputs() {
        for data in [&[][..], &[0], &[1, 0x45], &[0, 0, 0, 0, 5]] {
            packet(data);
            sflow_datagram(data);
        }
    }
}

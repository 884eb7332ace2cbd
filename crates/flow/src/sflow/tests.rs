use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::table::{CaptureIds, FlowTable, TableConfig};
use crate::{FrameBuilder, Timestamp};

fn icmp_frame() -> Vec<u8> {
    FrameBuilder::new()
        .ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 99, 2, 1], [10, 99, 2, 2])
        .icmpv4_echo_request(3, 1)
        .payload(&[0; 56])
        .build()
}

/// Appends big-endian words.
fn words(out: &mut Vec<u8>, ws: &[u32]) {
    for w in ws {
        out.extend_from_slice(&w.to_be_bytes());
    }
}

/// A datagram written word by word from the specification, independently of the encoder:
/// one compact flow sample (raw header + an extended switch record) and one compact counter
/// sample (generic interface, ethernet, and OVS's datapath record 2207), as OVS sends.
fn hand_written() -> Vec<u8> {
    let frame = icmp_frame(); // 98 bytes: padded to 100 in the record
    assert_eq!(frame.len(), 98);
    let mut d = Vec::new();
    words(&mut d, &[5, 1, 0x7f00_0001, 0, 1, 0, 2]);

    // flow sample: format 1, length 4*8 + raw header record (8 + 16 + 100) + switch (8 + 16)
    let raw_len = 16 + 100;
    let sample_len = 4 * 8 + (8 + raw_len) + (8 + 16);
    words(&mut d, &[1, sample_len]);
    words(
        &mut d,
        &[7, 0x0000_0003, 1000, 5000, 2, 3, 0x8000_0000 | 4, 2],
    );
    words(&mut d, &[1, raw_len, 1, 102, 4, 98]);
    d.extend_from_slice(&frame);
    d.extend_from_slice(&[0, 0]);
    words(&mut d, &[1001, 16, 10, 0, 20, 0]); // extended switch: skipped

    // counter sample: format 2, generic (88) + ethernet (52) + ovs dp (8 + 16)
    let sample_len = 3 * 4 + (8 + 88) + (8 + 52) + (8 + 16);
    words(&mut d, &[2, sample_len, 9, 0x0000_0003, 3]);
    words(&mut d, &[1, 88, 3, 6]);
    words(&mut d, &[0, 1_000_000_000, 1, 3]); // ifSpeed u64, direction, status
    words(&mut d, &[0, 123_456, 10, 11, 12, 13, 14, 15]); // in octets u64 + 6 counters
    words(&mut d, &[1, 0, 20, 21, 22, 23, 24, 0]); // out octets u64 + 5 counters + promisc
    words(&mut d, &[2, 52, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    words(&mut d, &[2207, 16, 1, 2, 3, 4]);
    d
}

#[test]
fn decodes_a_hand_written_datagram_field_by_field() {
    let bytes = hand_written();
    let d = Datagram::parse(&bytes).unwrap();
    assert_eq!(d.agent, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(
        (d.sub_agent_id, d.sequence, d.uptime_ms, d.sample_count),
        (0, 1, 0, 2)
    );
    let samples: Vec<_> = d.samples().collect::<Result<_, _>>().unwrap();
    assert_eq!(samples.len(), 2);

    let Sample::Flow(fs) = samples[0] else {
        panic!("flow sample expected, got {:?}", samples[0]);
    };
    assert_eq!(
        fs.info,
        FlowSampleInfo {
            expanded: false,
            sequence: 7,
            source: SourceId { kind: 0, index: 3 },
            sampling_rate: 1000,
            sample_pool: 5000,
            drops: 2,
            input: Interface {
                format: 0,
                value: 3
            },
            output: Interface {
                format: 2,
                value: 4
            },
        }
    );
    let records: Vec<_> = fs.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(records.len(), 2);
    let FlowRecord::RawHeader(h) = records[0] else {
        panic!("raw header expected");
    };
    assert_eq!((h.protocol, h.frame_length, h.stripped), (1, 102, 4));
    assert_eq!(h.wire_length(), 98);
    assert_eq!(h.header, icmp_frame().as_slice());
    assert!(matches!(
        records[1],
        FlowRecord::Other {
            enterprise: 0,
            format: 1001,
            data
        } if data.len() == 16
    ));

    let Sample::Counters(cs) = samples[1] else {
        panic!("counter sample expected");
    };
    assert_eq!(
        cs.info,
        CounterSampleInfo {
            expanded: false,
            sequence: 9,
            source: SourceId { kind: 0, index: 3 },
        }
    );
    let records: Vec<_> = cs.records().collect::<Result<_, _>>().unwrap();
    let CounterRecord::GenericInterface(g) = records[0] else {
        panic!("generic counters expected");
    };
    assert_eq!((g.if_index, g.if_type, g.if_speed), (3, 6, 1_000_000_000));
    assert_eq!((g.if_direction, g.if_status), (1, 3));
    assert_eq!(
        (g.if_in_octets, g.if_in_ucast_pkts, g.if_in_unknown_protos),
        (123_456, 10, 15)
    );
    assert_eq!(
        (g.if_out_octets, g.if_out_ucast_pkts, g.if_out_errors),
        (1 << 32, 20, 24)
    );
    assert_eq!(g.if_promiscuous_mode, 0);
    let CounterRecord::Ethernet(e) = records[1] else {
        panic!("ethernet counters expected");
    };
    assert_eq!(
        (e.alignment_errors, e.fcs_errors, e.symbol_errors),
        (1, 2, 13)
    );
    assert!(matches!(
        records[2],
        CounterRecord::Other { format: 2207, .. }
    ));
}

#[test]
fn expanded_samples_and_ipv6_agents() {
    let agent = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    let mut enc = DatagramEncoder::new(agent, 7, 100, 3_600_000);
    let info = FlowSampleInfo {
        expanded: true,
        sequence: 1,
        source: SourceId {
            kind: 0,
            index: 0x0100_0000, // does not fit the compact form
        },
        sampling_rate: 512,
        sample_pool: 1 << 31,
        drops: 0,
        input: Interface {
            format: 0,
            value: 0x4000_0000,
        },
        output: Interface {
            format: 1,
            value: 258,
        },
    };
    let frame = icmp_frame();
    let header = RawPacketHeader {
        protocol: 1,
        frame_length: 98,
        stripped: 0,
        header: &frame,
    };
    enc.flow_sample(&info, &[FlowRecord::RawHeader(header)]);
    let cinfo = CounterSampleInfo {
        expanded: true,
        sequence: 2,
        source: SourceId { kind: 2, index: 77 },
    };
    enc.counter_sample(
        &cinfo,
        &[CounterRecord::Ethernet(EthernetCounters::default())],
    );
    let bytes = enc.finish();

    let d = Datagram::parse(&bytes).unwrap();
    assert_eq!(d.agent, agent);
    assert_eq!(
        (d.sub_agent_id, d.sequence, d.uptime_ms),
        (7, 100, 3_600_000)
    );
    let samples: Vec<_> = d.samples().collect::<Result<_, _>>().unwrap();
    let Sample::Flow(fs) = samples[0] else {
        panic!("flow sample expected")
    };
    assert_eq!(fs.info, info);
    assert_eq!(
        fs.records().next().unwrap().unwrap(),
        FlowRecord::RawHeader(header)
    );
    let Sample::Counters(cs) = samples[1] else {
        panic!("counter sample expected")
    };
    assert_eq!(cs.info, cinfo);
}

#[test]
fn errors_say_what_is_wrong() {
    let mut v4 = hand_written();
    v4[3] = 4;
    assert_eq!(Datagram::parse(&v4).unwrap_err(), SflowError::Version(4));
    assert_eq!(
        SflowError::Version(4).to_string(),
        "unsupported sFlow version 4 (only version 5 is decoded)"
    );

    let mut bad_agent = hand_written();
    bad_agent[7] = 3;
    assert_eq!(
        Datagram::parse(&bad_agent).unwrap_err(),
        SflowError::AddressType(3)
    );

    let short = &hand_written()[..20];
    assert_eq!(
        Datagram::parse(short).unwrap_err(),
        SflowError::Truncated("datagram header")
    );

    let mut huge = hand_written();
    huge[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Datagram::parse(&huge).unwrap_err(),
        SflowError::Count { what: "sample", .. }
    ));

    // Cut inside the second sample: the first still decodes, then one error, then nothing.
    let full = hand_written();
    let cut = &full[..full.len() - 30];
    let d = Datagram::parse(cut).unwrap();
    let mut it = d.samples();
    assert!(it.next().unwrap().is_ok());
    assert_eq!(
        it.next().unwrap().unwrap_err(),
        SflowError::Truncated("sample")
    );
    assert!(it.next().is_none());
}

#[test]
fn a_short_counter_record_is_an_error() {
    let mut d = Vec::new();
    words(&mut d, &[5, 1, 0x7f00_0001, 0, 1, 0, 1]);
    words(&mut d, &[2, 4 * 3 + 8 + 8, 1, 3, 1]);
    words(&mut d, &[1, 8, 1, 2]);
    let dg = Datagram::parse(&d).unwrap();
    let Sample::Counters(cs) = dg.samples().next().unwrap().unwrap() else {
        panic!("counter sample expected");
    };
    assert_eq!(
        cs.records().next().unwrap().unwrap_err(),
        SflowError::ShortRecord {
            what: "generic interface counters",
            len: 8,
            min: 88
        }
    );
}

#[test]
fn round_trip_through_the_encoder() {
    crate::fuzzing::sflow_datagram(&hand_written());
    let bytes = hand_written();
    let d = Datagram::parse(&bytes).unwrap();
    let mut enc = DatagramEncoder::new(d.agent, d.sub_agent_id, d.sequence, d.uptime_ms);
    for s in d.samples() {
        match s.unwrap() {
            Sample::Flow(fs) => {
                let r: Vec<_> = fs.records().map(Result::unwrap).collect();
                enc.flow_sample(&fs.info, &r);
            }
            Sample::Counters(cs) => {
                let r: Vec<_> = cs.records().map(Result::unwrap).collect();
                enc.counter_sample(&cs.info, &r);
            }
            Sample::Other { .. } => unreachable!(),
        }
    }
    assert_eq!(
        enc.finish(),
        bytes,
        "the encoder writes what the specification says"
    );
}

#[test]
fn ingest_feeds_the_table_and_hands_over_counters() {
    let mut table = FlowTable::with_hash_seed(TableConfig::default(), CaptureIds::default(), 1);
    let mut ingest = SflowIngest::new();
    let mut counters = Vec::new();
    let now = Timestamp::from_millis(1_700_000_000_000);
    ingest
        .datagram(&mut table, &hand_written(), now, |d, info, r| {
            let generic = match r {
                CounterRecord::GenericInterface(g) => Some(*g),
                _ => None,
            };
            counters.push((d.agent, info.source.index, generic))
        })
        .unwrap();
    assert_eq!(counters.len(), 3);
    assert_eq!(counters[0].0, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(counters[0].1, 3);
    assert_eq!(counters[0].2.unwrap().if_index, 3);

    let flow = table.snapshot_flows().next().unwrap();
    assert_eq!(flow.layers_path, "Ethernet/IPv4/ICMPv4");
    assert_eq!(flow.sampling_rate, 1000);
    assert_eq!((flow.metric.ab_packets, flow.metric.ab_bytes), (1, 98));
    assert_eq!(flow.start, now.as_millis());

    let s = ingest.stats();
    assert_eq!((s.datagrams, s.flow_samples, s.counter_samples), (1, 1, 1));
    assert_eq!((s.raw_headers, s.other_flow_records), (1, 1));
    assert_eq!((s.counter_records, s.other_counter_records), (2, 1));
    assert_eq!(s.error_total(), 0);

    let err = ingest
        .datagram(&mut table, &[0, 0, 0, 4], now, |_, _, _| {})
        .unwrap_err();
    assert_eq!(err, SflowError::Version(4));
    assert_eq!(
        ingest.stats().errors_by_reason().collect::<Vec<_>>(),
        [("unsupported_version", 1)]
    );
}

#[test]
fn unsupported_header_protocols_are_counted() {
    let mut enc = DatagramEncoder::new([127, 0, 0, 1].into(), 0, 1, 0);
    let header = RawPacketHeader {
        protocol: 2, // ISO 802.4 token bus
        frame_length: 64,
        stripped: 0,
        header: &[0; 64],
    };
    enc.flow_sample(&FlowSampleInfo::default(), &[FlowRecord::RawHeader(header)]);
    let mut table = FlowTable::new(TableConfig::default(), CaptureIds::default());
    let mut ingest = SflowIngest::new();
    ingest
        .datagram(
            &mut table,
            &enc.finish(),
            Timestamp::default(),
            |_, _, _| {},
        )
        .unwrap();
    assert_eq!(ingest.stats().unsupported_headers, 1);
    assert!(table.is_empty());
}

/// Datagrams of many flows (UDP ports vary), some cut short, some not sFlow.
fn mixed_batch() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for d in 0..12u32 {
        let mut enc = DatagramEncoder::new([127, 0, 0, 1].into(), 0, d, 0);
        for s in 0..7u32 {
            let port = (d * 7 + s) % 20;
            let frame = FrameBuilder::new()
                .ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
                .udp(1000 + port as u16, 53)
                .payload(&[0; 20])
                .build();
            let info = FlowSampleInfo {
                sampling_rate: 100,
                ..FlowSampleInfo::default()
            };
            let rec = FlowRecord::RawHeader(RawPacketHeader {
                protocol: 1,
                frame_length: frame.len() as u32,
                stripped: 0,
                header: &frame,
            });
            enc.flow_sample(&info, &[rec]);
        }
        let mut bytes = enc.finish();
        if d == 5 {
            bytes.truncate(bytes.len() - 30); // the last sample is cut
        }
        out.push(bytes);
    }
    out.push(vec![0, 0, 0, 4]);
    out.push(hand_written());
    out
}

#[test]
fn a_batch_gives_what_datagrams_one_by_one_give() {
    let batch = mixed_batch();
    let now = Timestamp::from_millis(1_700_000_000_000);
    let mut one = FlowTable::with_hash_seed(TableConfig::default(), CaptureIds::default(), 7);
    let mut one_ingest = SflowIngest::new();
    let mut one_counters = 0;
    for d in &batch {
        let _ = one_ingest.datagram(&mut one, d, now, |_, _, _| one_counters += 1);
    }
    let mut all = FlowTable::with_hash_seed(TableConfig::default(), CaptureIds::default(), 7);
    let mut all_ingest = SflowIngest::new();
    let mut all_counters = 0;
    let slices: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
    // Twice: the second batch finds its flows in the table (what warming is for).
    for _ in 0..2 {
        let failed = all_ingest.datagrams(&mut all, &slices, now, |_, _, _| all_counters += 1);
        assert_eq!(failed, 2, "the cut datagram and the version-4 one");
    }
    for d in &batch {
        let _ = one_ingest.datagram(&mut one, d, now, |_, _, _| one_counters += 1);
    }
    assert_eq!(one_ingest.stats(), all_ingest.stats());
    assert_eq!(one_counters, all_counters);
    assert_eq!(one.stats(), all.stats());
    let flows = |t: &FlowTable| {
        let mut v: Vec<_> = t.snapshot().collect();
        v.sort_by_key(|u| u.uuid);
        v
    };
    assert_eq!(flows(&one), flows(&all));
    assert_eq!(one.len(), 21, "20 UDP flows and the ICMP one");
}

#[test]
fn warming_changes_nothing() {
    let mut table = FlowTable::with_hash_seed(TableConfig::default(), CaptureIds::default(), 3);
    let now = Timestamp::from_millis(1_700_000_000_000);
    let frame = icmp_frame();
    table
        .process_frame(&frame, frame.len() as u32, crate::LinkType::Ethernet, now)
        .unwrap();
    let before: Vec<_> = table.snapshot().collect();
    let stats = table.stats().clone();
    table.warm([
        (&frame[..], frame.len() as u32, crate::LinkType::Ethernet),
        (&[0u8; 3][..], 3, crate::LinkType::Ethernet),
    ]);
    assert_eq!(table.snapshot().collect::<Vec<_>>(), before);
    assert_eq!(table.stats(), &stats);
    assert_eq!(table.pending(), 0);
}

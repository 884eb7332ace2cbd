//! Each pcap fixture through a flow table, with the flows it must produce.

use std::collections::BTreeMap;

use skydive_flow::pcap::PcapReader;
use skydive_flow::{
    CaptureIds, DecodeReason, DecodeReasonKind, FinishType, Flow, FlowProtocol, FlowTable,
    IcmpType, LayerKind, LinkType, TableConfig, TableStats, Timestamp,
};

use crate::fixtures::{self, T0_MS};

/// What a capture of one fixture produced.
struct Run {
    /// Every record the table emitted, in order.
    records: Vec<Flow>,
    /// The last record of each flow, by LayersPath then UUID.
    flows: Vec<Flow>,
    stats: TableStats,
}

fn run(name: &str) -> Run {
    run_with(name, TableConfig::default())
}

fn run_with(name: &str, cfg: TableConfig) -> Run {
    let bytes = std::fs::read(fixtures::dir().join(name)).unwrap();
    let reader = PcapReader::new(&bytes).unwrap();
    let link = reader.link_type().unwrap();
    let ids = CaptureIds {
        node_tid: "5b8b0a46-host1-eth0".into(),
        capture_id: "capture-1".into(),
    };
    let mut table = FlowTable::with_hash_seed(cfg, ids, 7);
    let mut last = Timestamp::default();
    for rec in reader {
        let rec = rec.unwrap();
        let _ = table.process_frame(rec.data, rec.orig_len, link, rec.ts);
        last = rec.ts;
    }
    table.flush(last);
    let mut records = Vec::new();
    table.drain_flows(&mut records);
    let mut last_by_uuid = BTreeMap::new();
    for r in &records {
        last_by_uuid.insert((r.layers_path.clone(), r.uuid.clone()), r.clone());
    }
    Run {
        records,
        flows: last_by_uuid.into_values().collect(),
        stats: table.stats().clone(),
    }
}

fn ms(offset: i64) -> i64 {
    T0_MS + offset
}

#[test]
fn icmpv4_echo_with_rtt() {
    let r = run("icmpv4-echo.pcap");
    assert_eq!(r.flows.len(), 1);
    let f = &r.flows[0];
    assert_eq!(
        (f.layers_path.as_str(), f.application.as_str()),
        ("Ethernet/IPv4/ICMPv4", "ICMPv4")
    );
    let link = f.link.as_ref().unwrap();
    assert_eq!(
        (link.a.as_str(), link.b.as_str(), link.id),
        ("02:42:ac:11:00:02", "02:42:ac:11:00:03", 0)
    );
    let net = f.network.as_ref().unwrap();
    assert_eq!(
        (net.protocol, net.a.as_str(), net.b.as_str()),
        (FlowProtocol::Ipv4, "172.17.0.2", "172.17.0.3")
    );
    assert!(f.transport.is_none());
    let icmp = f.icmp.as_ref().unwrap();
    assert_eq!(
        (icmp.icmp_type, icmp.code, icmp.id),
        (IcmpType::Echo, 0, 0x1c2d)
    );
    let m = f.metric;
    assert_eq!(
        (m.ab_packets, m.ab_bytes, m.ba_packets, m.ba_bytes),
        (3, 3 * 98, 3, 3 * 98)
    );
    assert_eq!(m.rtt, 1_305_000, "the RTT of the last exchange, in ns");
    assert_eq!(
        (f.start, f.last, m.start, m.last),
        (ms(0), ms(2001), ms(0), ms(2001))
    );
    assert_eq!(f.finish_type, FinishType::Timeout);

    // The update at 2 s carried the first two exchanges; the flush the last one.
    assert_eq!(r.records.len(), 2);
    let first = r.records[0].last_update_metric.unwrap();
    assert_eq!(
        (first.ab_packets, first.ba_packets, first.start, first.last),
        (2, 2, ms(0), ms(2000))
    );
    assert_eq!(r.records[0].finish_type, FinishType::NotFinished);
    let last = f.last_update_metric.unwrap();
    assert_eq!(
        (last.ab_packets, last.ba_packets, last.start, last.last),
        (1, 1, ms(2000), ms(2001))
    );
}

#[test]
fn tcp_handshake_rtt_and_fin() {
    let r = run("tcp-handshake-fin.pcap");
    assert_eq!(r.flows.len(), 1);
    let f = &r.flows[0];
    assert_eq!(f.layers_path, "Ethernet/IPv4/TCP");
    let t = f.transport.as_ref().unwrap();
    assert_eq!(
        (t.protocol, t.a, t.b, t.id),
        (FlowProtocol::Tcp, 51234, 80, 0)
    );
    let m = f.metric;
    assert_eq!((m.ab_packets, m.ab_bytes), (6, 6 * 54 + 100));
    assert_eq!((m.ba_packets, m.ba_bytes), (3, 3 * 54 + 1000));
    assert_eq!(m.rtt, 1_500_000);
    assert_eq!(f.finish_type, FinishType::TcpFin);
    assert_eq!((f.start, f.last), (ms(0), ms(3000)));
    assert_eq!(r.records.len(), 2);
    let first = r.records[0].last_update_metric.unwrap();
    assert_eq!(
        (first.ab_packets, first.ab_bytes, first.ba_packets),
        (3, 262, 1)
    );
    assert_eq!(r.records[0].metric.rtt, 1_500_000);
}

#[test]
fn ipv6_udp() {
    let r = run("ipv6-udp.pcap");
    assert_eq!(
        r.flows.len(),
        1,
        "the extension header does not change the flow"
    );
    let f = &r.flows[0];
    assert_eq!(f.layers_path, "Ethernet/IPv6/UDP");
    let net = f.network.as_ref().unwrap();
    assert_eq!(
        (net.protocol, net.a.as_str(), net.b.as_str()),
        (FlowProtocol::Ipv6, "2001:db8::a", "2001:db8::b")
    );
    let t = f.transport.as_ref().unwrap();
    assert_eq!((t.protocol, t.a, t.b), (FlowProtocol::Udp, 53000, 53));
    let m = f.metric;
    assert_eq!(
        (m.ab_packets, m.ab_bytes, m.ba_packets, m.ba_bytes),
        (2, 102 + 110, 1, 102)
    );
}

#[test]
fn vlan_ids_in_link_id() {
    let r = run("vlan-qinq.pcap");
    assert_eq!(r.flows.len(), 2);
    let by_path = |p: &str| r.flows.iter().find(|f| f.layers_path == p).unwrap();
    let single = by_path("Ethernet/Dot1Q/IPv4/ICMPv4");
    let qinq = by_path("Ethernet/Dot1Q/Dot1Q/IPv4/ICMPv4");
    assert_eq!(single.link.as_ref().unwrap().id, 8);
    assert_eq!((single.metric.ab_bytes, single.metric.ba_bytes), (102, 102));
    assert_eq!(qinq.link.as_ref().unwrap().id, 40968);
    assert_eq!((qinq.metric.ab_packets, qinq.metric.ba_packets), (1, 1));
    assert_ne!(single.uuid, qinq.uuid);
    assert_eq!(
        single.tracking_id, qinq.tracking_id,
        "VLAN tags are not part of the TrackingID"
    );
}

#[test]
fn vxlan_outer_and_inner_flows() {
    let r = run("vxlan-tcp.pcap");
    assert_eq!(r.flows.len(), 2);
    let (inner, outer) = (&r.flows[0], &r.flows[1]);
    assert_eq!(outer.layers_path, "Ethernet/IPv4/UDP/VXLAN");
    assert_eq!(outer.application, "VXLAN");
    assert_eq!(outer.network.as_ref().unwrap().id, 42);
    let t = outer.transport.as_ref().unwrap();
    assert_eq!((t.a, t.b), (50001, 4789));
    assert_eq!(
        (outer.metric.ab_packets, outer.metric.ba_packets),
        (2, 1),
        "one flow for both VTEPs' source ports"
    );
    assert_eq!(
        (outer.metric.ab_bytes, outer.metric.ba_bytes),
        (104 + 124, 104)
    );
    assert_eq!(outer.parent_uuid, "");

    assert_eq!(inner.layers_path, "Ethernet/IPv4/TCP");
    assert_eq!(inner.parent_uuid, outer.uuid);
    assert_eq!(inner.network.as_ref().unwrap().id, 0);
    assert_eq!(inner.network.as_ref().unwrap().a, "10.1.0.1");
    assert_eq!(inner.link.as_ref().unwrap().a, "fa:16:3e:00:00:01");
    assert_eq!(
        (inner.metric.ab_bytes, inner.metric.ba_bytes),
        (54 + 74, 54)
    );
    assert_eq!(inner.metric.rtt, 700_000);

    // The same conversation captured on the VM's interface, outside the tunnel.
    let mut table = FlowTable::new(TableConfig::default(), CaptureIds::default());
    let plain = skydive_flow::FrameBuilder::new()
        .ethernet(fixtures::MAC_D, fixtures::MAC_C)
        .ipv4([10, 1, 0, 2], [10, 1, 0, 1])
        .tcp(
            443,
            43210,
            skydive_flow::tcp_flags::SYN | skydive_flow::tcp_flags::ACK,
        )
        .build();
    table
        .process_frame(
            &plain,
            plain.len() as u32,
            LinkType::Ethernet,
            Timestamp::from_millis(ms(5)),
        )
        .unwrap();
    let seen = table.snapshot_flows().next().unwrap();
    assert_eq!(seen.tracking_id, inner.tracking_id);
    assert_eq!(seen.l3_tracking_id, inner.l3_tracking_id);
}

#[test]
fn truncated_frames_are_counted_by_reason() {
    let r = run("truncated.pcap");
    assert_eq!(r.stats.packets, 6);
    let errors = &r.stats.decode_errors;
    let count = |kind, layer| errors.get(DecodeReason { kind, layer });
    assert_eq!(count(DecodeReasonKind::Truncated, LayerKind::Ethernet), 1);
    assert_eq!(count(DecodeReasonKind::Truncated, LayerKind::Ipv4), 1);
    assert_eq!(count(DecodeReasonKind::Truncated, LayerKind::Tcp), 2);
    assert_eq!(count(DecodeReasonKind::Invalid, LayerKind::Ipv4), 1);
    assert_eq!(errors.total(), 5);
    let paths: Vec<_> = r.flows.iter().map(|f| f.layers_path.as_str()).collect();
    assert_eq!(paths, ["Ethernet/IPv4/ICMPv4", "Ethernet/IPv4/UDP/VXLAN"]);
    assert_eq!(
        r.flows[1].metric.ab_bytes, 104,
        "the wire length, not the captured one"
    );
}

#[test]
fn ipv4_fragments() {
    let r = run("ipv4-fragments.pcap");
    let paths: Vec<_> = r.flows.iter().map(|f| f.layers_path.as_str()).collect();
    assert_eq!(paths, ["Ethernet/IPv4/Fragment", "Ethernet/IPv4/UDP"]);
    assert!(r.flows[0].transport.is_none());
    assert_eq!(r.flows[0].application, "Fragment");
    let t = r.flows[1].transport.as_ref().unwrap();
    assert_eq!((t.a, t.b), (5000, 6000));
}

#[test]
fn gre_mpls_inner_flow() {
    let r = run("gre-mpls-icmpv4.pcap");
    assert_eq!(r.flows.len(), 2);
    let (outer, inner) = (&r.flows[0], &r.flows[1]);
    assert_eq!(outer.layers_path, "Ethernet/IPv4/GRE/MPLS");
    assert_eq!(outer.network.as_ref().unwrap().id, 7);
    assert_eq!(inner.layers_path, "IPv4/ICMPv4");
    assert!(inner.link.is_none());
    assert_eq!(inner.parent_uuid, outer.uuid);
    assert_eq!(inner.metric.rtt, 250_000);
}

#[test]
fn l3_key_mode_counts_ip_bytes() {
    let cfg = TableConfig {
        layer_key_mode: skydive_flow::LayerKeyMode::L3,
        ..TableConfig::default()
    };
    let r = run_with("icmpv4-echo.pcap", cfg);
    let f = &r.flows[0];
    assert_eq!(f.metric.ab_bytes, 3 * 84);
    assert_eq!(f.tracking_id, f.l3_tracking_id);
    let l2 = run("icmpv4-echo.pcap");
    assert_eq!(f.l3_tracking_id, l2.flows[0].l3_tracking_id);
    assert_ne!(f.tracking_id, l2.flows[0].tracking_id);
}

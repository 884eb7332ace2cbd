use super::*;
use crate::decode::{DecodeReason, DecodeReasonKind};
use crate::layers::LayerKind;
use crate::{FrameBuilder, IcmpType};

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];
const IP_A: [u8; 4] = [10, 0, 0, 1];
const IP_B: [u8; 4] = [10, 0, 0, 2];
const T0_MS: i64 = 1_700_000_000_000;

fn at_ms(ms: i64) -> Timestamp {
    Timestamp::from_millis(T0_MS + ms)
}

fn table(cfg: TableConfig) -> FlowTable {
    let ids = CaptureIds {
        node_tid: "node-1".into(),
        capture_id: "cap-1".into(),
    };
    FlowTable::with_hash_seed(cfg, ids, 42)
}

fn tcp(forward: bool, flags: u8, payload: usize) -> Vec<u8> {
    let (sm, dm, si, di, sp, dp) = if forward {
        (MAC_A, MAC_B, IP_A, IP_B, 40000, 80)
    } else {
        (MAC_B, MAC_A, IP_B, IP_A, 80, 40000)
    };
    FrameBuilder::new()
        .ethernet(sm, dm)
        .ipv4(si, di)
        .tcp(sp, dp, flags)
        .payload(&vec![0; payload])
        .build()
}

fn feed(t: &mut FlowTable, frame: &[u8], ms: i64) {
    t.process_frame(frame, frame.len() as u32, LinkType::Ethernet, at_ms(ms))
        .unwrap();
}

fn drain(t: &mut FlowTable) -> Vec<Flow> {
    let mut out = Vec::new();
    t.drain_flows(&mut out);
    out
}

#[test]
fn a_is_the_sender_of_the_first_packet() {
    let mut t = table(TableConfig::default());
    feed(&mut t, &tcp(false, tcp_flags::ACK, 10), 0);
    feed(&mut t, &tcp(true, tcp_flags::ACK, 0), 1);
    feed(&mut t, &tcp(false, tcp_flags::ACK, 10), 2);
    let flows: Vec<_> = t.snapshot_flows().collect();
    assert_eq!(flows.len(), 1);
    let f = &flows[0];
    assert_eq!(f.network.as_ref().unwrap().a, "10.0.0.2");
    assert_eq!(f.transport.as_ref().unwrap().a, 80);
    assert_eq!(f.link.as_ref().unwrap().a, "02:00:00:00:00:0b");
    assert_eq!((f.metric.ab_packets, f.metric.ab_bytes), (2, 2 * 64));
    assert_eq!((f.metric.ba_packets, f.metric.ba_bytes), (1, 54));
    assert_eq!((f.start, f.last), (T0_MS, T0_MS + 2));
}

#[test]
fn l3_mode_counts_ip_length() {
    let cfg = TableConfig {
        layer_key_mode: LayerKeyMode::L3,
        ..TableConfig::default()
    };
    let mut t = table(cfg);
    feed(&mut t, &tcp(true, tcp_flags::ACK, 10), 0);
    let f = t.snapshot_flows().next().unwrap();
    assert_eq!(f.metric.ab_bytes, 20 + 20 + 10);
    assert_eq!(f.tracking_id, f.l3_tracking_id);
}

#[test]
fn tcp_handshake_gives_rtt_and_fin_finishes() {
    let mut t = table(TableConfig::default());
    feed(&mut t, &tcp(true, tcp_flags::SYN, 0), 0);
    feed(&mut t, &tcp(false, tcp_flags::SYN | tcp_flags::ACK, 0), 3);
    feed(&mut t, &tcp(true, tcp_flags::ACK, 0), 4);
    let f = t.snapshot_flows().next().unwrap();
    assert_eq!(f.metric.rtt, 3_000_000);
    assert_eq!(f.finish_type, FinishType::NotFinished);
    feed(&mut t, &tcp(true, tcp_flags::FIN | tcp_flags::ACK, 0), 10);
    feed(&mut t, &tcp(false, tcp_flags::FIN | tcp_flags::ACK, 0), 11);
    feed(&mut t, &tcp(true, tcp_flags::ACK, 0), 12);
    let f = t.snapshot_flows().next().unwrap();
    assert_eq!(f.finish_type, FinishType::TcpFin);
    // The next update sends it with TCP_FIN; the hold time then removes it silently.
    t.tick(at_ms(2_100));
    t.tick(at_ms(4_200));
    let out = drain(&mut t);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].finish_type, FinishType::TcpFin);
    t.tick(at_ms(12 + 15_000));
    assert_eq!(t.len(), 0);
    assert!(drain(&mut t).is_empty());
    assert_eq!(t.stats().flows_finished, 1);
}

#[test]
fn rst_overrides_fin_and_ends_rtt() {
    let mut t = table(TableConfig::default());
    feed(&mut t, &tcp(true, tcp_flags::SYN, 0), 0);
    feed(&mut t, &tcp(false, tcp_flags::RST | tcp_flags::ACK, 0), 1);
    let f = t.snapshot_flows().next().unwrap();
    assert_eq!(f.finish_type, FinishType::TcpRst);
    assert_eq!(f.metric.rtt, 1_000_000);
}

#[test]
fn retransmitted_syn_does_not_restart_rtt_and_same_side_ack_does_not_end_it() {
    let mut t = table(TableConfig::default());
    feed(&mut t, &tcp(true, tcp_flags::SYN, 0), 0);
    feed(&mut t, &tcp(true, tcp_flags::SYN, 0), 1000);
    feed(&mut t, &tcp(true, tcp_flags::SYN | tcp_flags::ACK, 0), 1001);
    assert_eq!(t.snapshot_flows().next().unwrap().metric.rtt, 0);
    feed(
        &mut t,
        &tcp(false, tcp_flags::SYN | tcp_flags::ACK, 0),
        1002,
    );
    assert_eq!(t.snapshot_flows().next().unwrap().metric.rtt, 1_002_000_000);
}

#[test]
fn updates_carry_the_delta_since_the_previous_update() {
    let mut t = table(TableConfig::default());
    feed(&mut t, &tcp(true, tcp_flags::ACK, 0), 0); // starts the clock: next update at 2 s
    feed(&mut t, &tcp(true, tcp_flags::ACK, 0), 500);
    t.tick(at_ms(1_999));
    assert!(drain(&mut t).is_empty(), "no update before the period");
    t.tick(at_ms(2_000));
    let out = drain(&mut t);
    assert_eq!(
        out.len(),
        1,
        "a flow reaches the analyzer within the update period"
    );
    let lum = out[0].last_update_metric.unwrap();
    assert_eq!(
        (lum.ab_packets, lum.start, lum.last),
        (2, T0_MS, T0_MS + 2_000)
    );
    assert_eq!(out[0].metric.ab_packets, 2);

    feed(&mut t, &tcp(false, tcp_flags::ACK, 0), 3_000);
    t.tick(at_ms(4_000));
    let out = drain(&mut t);
    let lum = out[0].last_update_metric.unwrap();
    assert_eq!((lum.ab_packets, lum.ba_packets), (0, 1));
    assert_eq!((lum.start, lum.last), (T0_MS + 2_000, T0_MS + 4_000));
    assert_eq!((out[0].metric.ab_packets, out[0].metric.ba_packets), (2, 1));

    t.tick(at_ms(6_000));
    assert!(drain(&mut t).is_empty(), "untouched flows are not re-sent");
}

#[test]
fn idle_flows_expire_with_timeout() {
    let cfg = TableConfig {
        expire: Duration::from_secs(10),
        ..TableConfig::default()
    };
    let mut t = table(cfg);
    feed(&mut t, &tcp(true, tcp_flags::ACK, 0), 0);
    t.tick(at_ms(2_000));
    assert_eq!(drain(&mut t).len(), 1);
    t.tick(at_ms(9_000));
    assert!(drain(&mut t).is_empty());
    t.tick(at_ms(11_000));
    let out = drain(&mut t);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].finish_type, FinishType::Timeout);
    let lum = out[0].last_update_metric.unwrap();
    assert_eq!((lum.ab_packets, lum.last), (0, T0_MS + 11_000));
    assert!(t.is_empty());
    assert_eq!(t.stats().flows_expired, 1);
}

#[test]
fn flush_emits_every_flow_once() {
    let mut t = table(TableConfig::default());
    feed(&mut t, &tcp(true, tcp_flags::ACK, 0), 0);
    feed(&mut t, &tcp(true, tcp_flags::FIN, 0), 0);
    let other = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4(IP_A, IP_B)
        .udp(1, 2)
        .build();
    feed(&mut t, &other, 1);
    t.flush(at_ms(100));
    let mut out = drain(&mut t);
    out.sort_by(|a, b| a.layers_path.cmp(&b.layers_path));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].finish_type, FinishType::TcpFin);
    assert_eq!(out[1].finish_type, FinishType::Timeout);
    assert!(t.is_empty());
}

#[test]
fn a_full_table_refuses_new_flows_and_counts_them() {
    let cfg = TableConfig {
        max_entries: 2,
        ..TableConfig::default()
    };
    let mut t = table(cfg);
    for port in 0..5u16 {
        let f = FrameBuilder::new()
            .ethernet(MAC_A, MAC_B)
            .ipv4(IP_A, IP_B)
            .udp(1000 + port, 53)
            .build();
        feed(&mut t, &f, 0);
    }
    assert_eq!(t.len(), 2);
    assert_eq!(t.stats().flows_created, 2);
    assert_eq!(t.stats().flows_dropped, 3);
    assert_eq!(t.stats().packets, 5);
}

#[test]
fn icmp_echo_rtt_is_the_last_exchange() {
    let mut t = table(TableConfig::default());
    let ping = |fwd: bool, seq: u16| {
        let b = FrameBuilder::new();
        let b = if fwd {
            b.ethernet(MAC_A, MAC_B)
                .ipv4(IP_A, IP_B)
                .icmpv4_echo_request(9, seq)
        } else {
            b.ethernet(MAC_B, MAC_A)
                .ipv4(IP_B, IP_A)
                .icmpv4_echo_reply(9, seq)
        };
        b.payload(&[0; 56]).build()
    };
    feed(&mut t, &ping(true, 1), 0);
    feed(&mut t, &ping(false, 1), 2);
    feed(&mut t, &ping(true, 2), 1_000);
    feed(&mut t, &ping(false, 2), 1_005);
    let f = t.snapshot_flows().next().unwrap();
    assert_eq!(f.metric.rtt, 5_000_000);
    let icmp = f.icmp.unwrap();
    assert_eq!((icmp.icmp_type, icmp.id), (IcmpType::Echo, 9));
    assert_eq!((f.metric.ab_packets, f.metric.ba_packets), (2, 2));
    assert_eq!(f.application, "ICMPv4");
}

#[test]
fn vxlan_inner_flow_names_its_parent() {
    let mut t = table(TableConfig::default());
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([172, 16, 0, 1], [172, 16, 0, 2])
        .udp(55091, 4789)
        .vxlan(10)
        .ethernet([2, 0, 0, 0, 1, 1], [2, 0, 0, 0, 1, 2])
        .ipv4([192, 168, 0, 1], [192, 168, 0, 2])
        .icmpv4_echo_request(1, 1)
        .build();
    feed(&mut t, &frame, 0);
    let mut flows: Vec<_> = t.snapshot_flows().collect();
    flows.sort_by_key(|f| f.parent_uuid.len());
    assert_eq!(flows.len(), 2);
    let (outer, inner) = (&flows[0], &flows[1]);
    assert_eq!(outer.layers_path, "Ethernet/IPv4/UDP/VXLAN");
    assert_eq!(outer.network.as_ref().unwrap().id, 10);
    assert_eq!(outer.parent_uuid, "");
    assert_eq!(inner.parent_uuid, outer.uuid);
    assert_eq!(inner.network.as_ref().unwrap().id, 0);
    assert_eq!(inner.metric.ab_bytes, outer.metric.ab_bytes - 50);
}

#[test]
fn vxlan_reply_with_another_source_port_is_the_same_outer_flow() {
    let mut t = table(TableConfig::default());
    let frame = |fwd: bool, sport: u16| {
        let (sm, dm, si, di) = if fwd {
            (MAC_A, MAC_B, [172, 16, 0, 1], [172, 16, 0, 2])
        } else {
            (MAC_B, MAC_A, [172, 16, 0, 2], [172, 16, 0, 1])
        };
        FrameBuilder::new()
            .ethernet(sm, dm)
            .ipv4(si, di)
            .udp(sport, 4789)
            .vxlan(10)
            .ethernet([2, 0, 0, 0, 1, 1], [2, 0, 0, 0, 1, 2])
            .ipv4([192, 168, 0, 1], [192, 168, 0, 2])
            .udp(7, 7)
            .build()
    };
    feed(&mut t, &frame(true, 50000), 0);
    feed(&mut t, &frame(false, 61000), 1);
    let outer: Vec<_> = t
        .snapshot_flows()
        .filter(|f| f.parent_uuid.is_empty())
        .collect();
    assert_eq!(outer.len(), 1);
    assert_eq!(
        (outer[0].metric.ab_packets, outer[0].metric.ba_packets),
        (1, 1)
    );
}

#[test]
fn decode_errors_are_counted_and_the_outer_flow_kept() {
    let mut t = table(TableConfig::default());
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([172, 16, 0, 1], [172, 16, 0, 2])
        .udp(55091, 4789)
        .vxlan(10)
        .ethernet([2, 0, 0, 0, 1, 1], [2, 0, 0, 0, 1, 2])
        .ipv4([192, 168, 0, 1], [192, 168, 0, 2])
        .tcp(1, 2, 0)
        .build();
    let cut = &frame[..frame.len() - 4];
    let err = t
        .process_frame(cut, frame.len() as u32, LinkType::Ethernet, at_ms(0))
        .unwrap_err();
    assert_eq!(err, DecodeError::Truncated(LayerKind::Tcp));
    let _ = t.process_frame(&[0; 5], 5, LinkType::Ethernet, at_ms(0));
    assert_eq!(t.len(), 1);
    let errors = &t.stats().decode_errors;
    assert_eq!(errors.total(), 2);
    assert_eq!(
        errors.get(DecodeReason {
            kind: DecodeReasonKind::Truncated,
            layer: LayerKind::Ethernet
        }),
        1
    );
    assert_eq!(t.stats().packets, 2);
}

#[test]
fn uuids_and_ids_are_hex_and_stable() {
    let mut t1 = table(TableConfig::default());
    let mut t2 = FlowTable::new(
        TableConfig::default(),
        CaptureIds {
            node_tid: "node-2".into(),
            capture_id: "cap-2".into(),
        },
    );
    feed(&mut t1, &tcp(true, tcp_flags::SYN, 0), 0);
    let f = tcp(false, tcp_flags::SYN | tcp_flags::ACK, 0);
    t2.process_frame(&f, f.len() as u32, LinkType::Ethernet, at_ms(5))
        .unwrap();
    let a = t1.snapshot_flows().next().unwrap();
    let b = t2.snapshot_flows().next().unwrap();
    assert_eq!(
        a.tracking_id, b.tracking_id,
        "same conversation, another host"
    );
    assert_eq!(a.l3_tracking_id, b.l3_tracking_id);
    assert_ne!(a.uuid, b.uuid);
    for id in [&a.uuid, &a.tracking_id, &a.l3_tracking_id] {
        assert!(
            id.len() <= 16
                && id
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }
    assert_eq!(
        (a.node_tid.as_str(), a.capture_id.as_str()),
        ("node-1", "cap-1")
    );
}

#[test]
fn outbox_is_bounded() {
    let cfg = TableConfig {
        max_entries: 2000,
        ..TableConfig::default()
    };
    let mut t = table(cfg);
    for round in 0..3 {
        for port in 0..2000u16 {
            let f = FrameBuilder::new()
                .ethernet(MAC_A, MAC_B)
                .ipv4(IP_A, IP_B)
                .udp(port, 53)
                .build();
            feed(&mut t, &f, round * 2_000);
        }
    }
    t.tick(at_ms(6_000));
    // 2000 + 2000 + 2000 emitted over three scans without draining: capped at 4000.
    assert_eq!(t.pending(), 4000);
    assert_eq!(t.stats().updates_dropped, 2000);
}

#[test]
fn sampling_rate_is_kept() {
    let mut t = table(TableConfig::default());
    let f = tcp(true, tcp_flags::ACK, 0);
    t.process_sampled_frame(&f, 1500, LinkType::Ethernet, at_ms(0), 1000)
        .unwrap();
    let flow = t.snapshot_flows().next().unwrap();
    assert_eq!(flow.sampling_rate, 1000);
    assert_eq!((flow.metric.ab_packets, flow.metric.ab_bytes), (1, 1500));
}

#[test]
fn flow_config_keys_and_validation() {
    let cfg: FlowConfig = serde_json::from_str(
        r#"{"update": 5, "expire": 300, "max_entries": 1000, "default_layer_key_mode": "L3"}"#,
    )
    .unwrap();
    let tc = cfg.table_config().unwrap();
    assert_eq!(tc.update, Duration::from_secs(5));
    assert_eq!(tc.expire, Duration::from_secs(300));
    assert_eq!(tc.max_entries, 1000);
    assert_eq!(tc.layer_key_mode, LayerKeyMode::L3);
    let defaults: FlowConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(defaults.table_config().unwrap(), TableConfig::default());
    let bad = FlowConfig {
        expire: 1,
        update: 2,
        ..FlowConfig::default()
    };
    assert_eq!(
        bad.table_config().unwrap_err().to_string(),
        "flow.expire (1 s) must be at least flow.update (2 s)"
    );
    assert!(serde_json::from_str::<FlowConfig>(r#"{"default_layer_key_mode": "L4"}"#).is_err());
}

#[test]
fn removed_slots_are_reused() {
    let cfg = TableConfig {
        expire: Duration::from_secs(4),
        max_entries: 3,
        ..TableConfig::default()
    };
    let mut t = table(cfg);
    let udp = |port: u16| {
        FrameBuilder::new()
            .ethernet(MAC_A, MAC_B)
            .ipv4(IP_A, IP_B)
            .udp(port, 53)
            .build()
    };
    feed(&mut t, &udp(1), 0);
    feed(&mut t, &udp(2), 0);
    feed(&mut t, &udp(3), 3_000);
    t.tick(at_ms(5_000)); // 1 and 2 expire
    assert_eq!(t.len(), 1);
    feed(&mut t, &udp(4), 5_100);
    feed(&mut t, &udp(5), 5_200);
    feed(&mut t, &udp(3), 5_300);
    assert_eq!(t.len(), 3);
    assert_eq!(t.stats().flows_dropped, 0);
    let ports: std::collections::BTreeMap<_, _> = t
        .snapshot()
        .map(|u| (u.transport.unwrap().a, u.metric.ab_packets))
        .collect();
    assert_eq!(ports, [(3, 2), (4, 1), (5, 1)].into_iter().collect());
}

#[test]
fn process_layers_matches_process_frame() {
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([172, 16, 0, 1], [172, 16, 0, 2])
        .udp(50000, 4789)
        .vxlan(3)
        .ethernet(MAC_B, MAC_A)
        .ipv4(IP_B, IP_A)
        .tcp(1, 2, tcp_flags::SYN)
        .build();
    let mut by_frame = table(TableConfig::default());
    feed(&mut by_frame, &frame, 0);
    let mut by_layers = table(TableConfig::default());
    let mut layers = Layers::new();
    crate::decode(&frame, frame.len() as u32, LinkType::Ethernet, &mut layers).unwrap();
    by_layers.process_layers(&layers, at_ms(0), 0);
    let sorted = |t: &FlowTable| {
        let mut v: Vec<_> = t.snapshot().collect();
        v.sort_by_key(|u| u.uuid);
        v
    };
    assert_eq!(sorted(&by_frame), sorted(&by_layers));
    assert_eq!(by_frame.stats(), by_layers.stats());
}

#[test]
fn entries_stay_small() {
    // The module docs quote these sizes; a packet touches only the first.
    assert_eq!(std::mem::size_of::<Entry>(), 128);
    assert_eq!(std::mem::size_of::<Cold>(), 208);
    assert_eq!(std::mem::size_of::<FlowKey>(), 80);
}

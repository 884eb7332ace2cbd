//! Properties: decoding never panics, whatever the bytes; A→B and B→A are one flow.

use proptest::prelude::*;
use skydive_flow::sflow::{DatagramEncoder, FlowRecord, FlowSampleInfo, RawPacketHeader};
use skydive_flow::{
    CaptureIds, FlowKey, FlowTable, FrameBuilder, LayerKeyMode, Layers, LinkType, TableConfig,
    Timestamp, decode, fuzzing,
};

/// One side of a conversation.
#[derive(Debug, Clone)]
struct End {
    mac: [u8; 6],
    v4: [u8; 4],
    v6: [u8; 16],
    port: u16,
}

fn end() -> impl Strategy<Value = End> {
    (
        any::<[u8; 6]>(),
        any::<[u8; 4]>(),
        any::<[u8; 16]>(),
        any::<u16>(),
    )
        .prop_map(|(mac, v4, v6, port)| End { mac, v4, v6, port })
}

/// What the conversation carries.
#[derive(Debug, Clone, Copy)]
enum Proto {
    Tcp(u8),
    Udp,
    Sctp,
    Echo(u16),
}

fn proto() -> impl Strategy<Value = Proto> {
    prop_oneof![
        any::<u8>().prop_map(Proto::Tcp),
        Just(Proto::Udp),
        Just(Proto::Sctp),
        any::<u16>().prop_map(Proto::Echo),
    ]
}

#[derive(Debug, Clone)]
struct Conversation {
    a: End,
    b: End,
    v6: bool,
    proto: Proto,
    vlans: Vec<u16>,
    /// Wrapped in VXLAN between these two tunnel ends, with this VNI.
    tunnel: Option<(End, End, u32)>,
}

fn conversation() -> impl Strategy<Value = Conversation> {
    (
        end(),
        end(),
        any::<bool>(),
        proto(),
        prop::collection::vec(0u16..4096, 0..3),
        prop::option::of((end(), end(), 0u32..(1 << 24))),
    )
        .prop_map(|(a, b, v6, proto, vlans, tunnel)| Conversation {
            a,
            b,
            v6,
            proto,
            vlans,
            tunnel,
        })
}

/// The frame `from` sends to `to` (a reply when `reply`).
fn frame(c: &Conversation, from: &End, to: &End, reply: bool) -> Vec<u8> {
    let mut b = FrameBuilder::new();
    if let Some((ta, tb, vni)) = &c.tunnel {
        let (s, d) = if reply { (tb, ta) } else { (ta, tb) };
        // The outer source port differs per direction, as VTEPs pick their own.
        b = b
            .ethernet(s.mac, d.mac)
            .ipv4(s.v4, d.v4)
            .udp(if reply { 61000 } else { 50000 }, 4789)
            .vxlan(*vni);
    }
    b = b.ethernet(from.mac, to.mac);
    for v in &c.vlans {
        b = b.vlan(*v);
    }
    b = if c.v6 {
        b.ipv6(from.v6, to.v6)
    } else {
        b.ipv4(from.v4, to.v4)
    };
    b = match (c.proto, c.v6) {
        (Proto::Tcp(flags), _) => b.tcp(from.port, to.port, flags),
        (Proto::Udp, _) => b.udp(from.port, to.port),
        (Proto::Sctp, _) => b.sctp(from.port, to.port),
        (Proto::Echo(id), false) if reply => b.icmpv4_echo_reply(id, 1),
        (Proto::Echo(id), false) => b.icmpv4_echo_request(id, 1),
        (Proto::Echo(id), true) if reply => b.icmpv6_echo_reply(id, 1),
        (Proto::Echo(id), true) => b.icmpv6_echo_request(id, 1),
    };
    b.build()
}

/// A UDP destination port that would make the decoder look for a tunnel inside.
fn is_tunnel_port(p: u16) -> bool {
    matches!(p, 4789 | 6081 | 6635)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256), link in 0u8..5) {
        let mut input = vec![link];
        input.extend_from_slice(&bytes);
        fuzzing::packet(&input);
    }

    #[test]
    fn sflow_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::sflow_datagram(&bytes);
    }

    #[test]
    fn sflow_survives_corrupted_datagrams(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), c in conversation()) {
        let f = frame(&c, &c.a, &c.b, false);
        let mut enc = DatagramEncoder::new([10, 0, 0, 1].into(), 0, 1, 0);
        let header = RawPacketHeader { protocol: 1, frame_length: f.len() as u32, stripped: 0, header: &f };
        enc.flow_sample(&FlowSampleInfo { sampling_rate: 100, ..Default::default() }, &[FlowRecord::RawHeader(header)]);
        let mut bytes = enc.finish();
        fuzzing::sflow_datagram(&bytes);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        fuzzing::sflow_datagram(&bytes);
    }

    #[test]
    fn keys_are_symmetric(c in conversation(), l3 in any::<bool>()) {
        prop_assume!(!matches!(c.proto, Proto::Udp) || !(is_tunnel_port(c.a.port) || is_tunnel_port(c.b.port)));
        let mode = if l3 { LayerKeyMode::L3 } else { LayerKeyMode::L2 };
        let ab = frame(&c, &c.a, &c.b, false);
        let ba = frame(&c, &c.b, &c.a, true);
        let (mut la, mut lb) = (Layers::new(), Layers::new());
        decode(&ab, ab.len() as u32, LinkType::Ethernet, &mut la).unwrap();
        decode(&ba, ba.len() as u32, LinkType::Ethernet, &mut lb).unwrap();
        prop_assert_eq!(la.len(), lb.len());
        for (sa, sb) in la.segments().iter().zip(lb.segments()) {
            let (ka, _) = FlowKey::new(sa, 0, mode);
            let (kb, _) = FlowKey::new(sb, 0, mode);
            prop_assert_eq!(ka, kb);
            prop_assert_eq!(ka.ids(), kb.ids());
            prop_assert_eq!(ka.table_hash(99), kb.table_hash(99));
        }

        // Through a table: one flow per segment, one packet each way.
        let cfg = TableConfig { layer_key_mode: mode, ..TableConfig::default() };
        let mut t = FlowTable::new(cfg, CaptureIds::default());
        t.process_frame(&ab, ab.len() as u32, LinkType::Ethernet, Timestamp::from_millis(1)).unwrap();
        t.process_frame(&ba, ba.len() as u32, LinkType::Ethernet, Timestamp::from_millis(2)).unwrap();
        prop_assert_eq!(t.len(), la.len());
        for f in t.snapshot_flows() {
            let same_side = f.metric.ab_packets == 2;
            let one_each = (f.metric.ab_packets, f.metric.ba_packets) == (1, 1);
            // Both ends identical: every packet looks A→B.
            prop_assert!(one_each || same_side, "{:?}", f.metric);
        }
    }
}

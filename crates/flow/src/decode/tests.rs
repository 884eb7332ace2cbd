use super::*;
use crate::FrameBuilder;
use crate::layers::tcp_flags;

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];
const V6_A: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_B: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn decoded(frame: &[u8]) -> (Layers<'_>, Result<(), DecodeError>) {
    let mut layers = Layers::new();
    let res = decode(frame, frame.len() as u32, LinkType::Ethernet, &mut layers);
    (layers, res)
}

fn paths(layers: &Layers<'_>) -> Vec<String> {
    layers
        .segments()
        .iter()
        .map(|s| s.path.to_string())
        .collect()
}

#[test]
fn tcp_over_ipv4() {
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
        .tcp(40000, 80, tcp_flags::SYN)
        .payload(&[1, 2, 3])
        .build();
    let (layers, res) = decoded(&frame);
    res.unwrap();
    assert_eq!(paths(&layers), ["Ethernet/IPv4/TCP"]);
    let seg = layers.segments()[0];
    let link = seg.link.unwrap();
    assert_eq!((link.src, link.dst), (&MAC_A, &MAC_B));
    assert_eq!(seg.network.unwrap().src().to_string(), "10.0.0.1");
    let t = seg.transport.unwrap();
    assert_eq!(
        (t.kind, t.src_port, t.dst_port, t.tcp_flags),
        (TransportKind::Tcp, 40000, 80, tcp_flags::SYN)
    );
    assert_eq!((seg.length, seg.ip_length), (14 + 20 + 20 + 3, 43));
}

#[test]
fn ethernet_padding_is_not_read_as_payload() {
    let mut frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
        .udp(1, 2)
        .build();
    frame.resize(60, 0);
    let (layers, res) = decoded(&frame);
    res.unwrap();
    let seg = layers.segments()[0];
    assert_eq!((seg.length, seg.ip_length), (60, 28));
}

#[test]
fn stacked_vlans_fold_into_link_id() {
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .vlan(8)
        .vlan(10)
        .ipv4([172, 16, 10, 2], [172, 16, 10, 1])
        .icmpv4_echo_request(1, 1)
        .build();
    let (layers, res) = decoded(&frame);
    res.unwrap();
    assert_eq!(paths(&layers), ["Ethernet/Dot1Q/Dot1Q/IPv4/ICMPv4"]);
    // Skydive's own fixture: tags 8 then 10 give Link.ID 40968.
    assert_eq!(layers.segments()[0].link.unwrap().vlan_id, 40968);
}

#[test]
fn too_many_vlans_is_an_error() {
    let mut b = FrameBuilder::new().ethernet(MAC_A, MAC_B);
    for id in 1..=6 {
        b = b.vlan(id);
    }
    let frame = b.ipv4([1, 1, 1, 1], [2, 2, 2, 2]).build();
    let (layers, res) = decoded(&frame);
    assert_eq!(res, Err(DecodeError::TooDeep(LayerKind::Dot1Q, 5)));
    assert!(layers.is_empty());
}

#[test]
fn ipv6_walks_extension_headers() {
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv6(V6_A, V6_B)
        .ipv6_extension(0)
        .ipv6_extension(60)
        .udp(5000, 53)
        .payload(&[0; 10])
        .build();
    let (layers, res) = decoded(&frame);
    res.unwrap();
    assert_eq!(
        paths(&layers),
        ["Ethernet/IPv6/IPv6HopByHop/IPv6Destination/UDP"]
    );
    let seg = layers.segments()[0];
    assert_eq!(seg.network.unwrap().dst().to_string(), "2001:db8::2");
    assert_eq!(seg.network.unwrap().protocol(), 17);
    assert_eq!(seg.transport.unwrap().dst_port, 53);
    assert_eq!(seg.ip_length, 40 + 8 + 8 + 8 + 10);
}

#[test]
fn ipv4_fragments_first_has_ports_later_do_not() {
    let first = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4_fragment([10, 0, 0, 1], [10, 0, 0, 2], 77, 0, true)
        .udp(4000, 5000)
        .payload(&[0; 16])
        .build();
    let (layers, res) = decoded(&first);
    res.unwrap();
    let seg = layers.segments()[0];
    assert_eq!(seg.path.to_string(), "Ethernet/IPv4/UDP");
    assert_eq!(seg.fragment, Fragment::First);
    assert_eq!(seg.transport.unwrap().src_port, 4000);

    let later = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4_fragment([10, 0, 0, 1], [10, 0, 0, 2], 77, 24, false)
        .payload(&[0; 16])
        .build();
    let (layers, res) = decoded(&later);
    res.unwrap();
    let seg = layers.segments()[0];
    assert_eq!(seg.path.to_string(), "Ethernet/IPv4/Fragment");
    assert_eq!(seg.fragment, Fragment::Later);
    assert!(seg.transport.is_none());
}

#[test]
fn ipv6_later_fragment_has_no_ports() {
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv6(V6_A, V6_B)
        .ipv6_fragment(1232, false)
        .payload(&[0; 8])
        .build();
    let (layers, res) = decoded(&frame);
    res.unwrap();
    let seg = layers.segments()[0];
    assert_eq!(seg.path.to_string(), "Ethernet/IPv6/IPv6Fragment");
    assert_eq!(seg.fragment, Fragment::Later);
    assert!(seg.transport.is_none());
}

#[test]
fn icmpv6_echo_has_its_own_layer_and_id() {
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv6(V6_A, V6_B)
        .icmpv6_echo_request(456, 1)
        .build();
    let (layers, res) = decoded(&frame);
    res.unwrap();
    let seg = layers.segments()[0];
    assert_eq!(seg.path.to_string(), "Ethernet/IPv6/ICMPv6/ICMPv6Echo");
    let icmp = seg.icmp.unwrap();
    assert!(icmp.is_echo_request());
    assert_eq!(icmp.id, 456);
}

#[test]
fn sctp_and_arp() {
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
        .sctp(3868, 3868)
        .build();
    let (layers, res) = decoded(&frame);
    res.unwrap();
    assert_eq!(
        layers.segments()[0].transport.unwrap().kind,
        TransportKind::Sctp
    );

    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&MAC_A);
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    let (layers, res) = decoded(&arp);
    res.unwrap();
    assert_eq!(paths(&layers), ["Ethernet/ARP"]);
    assert!(layers.segments()[0].network.is_none());
}

#[test]
fn vxlan_splits_into_outer_and_inner() {
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([172, 16, 0, 1], [172, 16, 0, 2])
        .udp(55091, 4789)
        .vxlan(10)
        .ethernet([2, 0, 0, 0, 1, 1], [2, 0, 0, 0, 1, 2])
        .ipv4([192, 168, 0, 1], [192, 168, 0, 2])
        .icmpv4_echo_request(10222, 1)
        .payload(&[0; 56])
        .build();
    let mut layers = Layers::new();
    decode(&frame, 1116, LinkType::Ethernet, &mut layers).unwrap();
    assert_eq!(
        paths(&layers),
        ["Ethernet/IPv4/UDP/VXLAN", "Ethernet/IPv4/ICMPv4"]
    );
    let (outer, inner) = (layers.segments()[0], layers.segments()[1]);
    assert_eq!(outer.tunnel, Some((TunnelKind::Vxlan, 10)));
    assert_eq!(inner.tunnel, None);
    // Skydive's vxlan-icmpv4-truncated fixture: 1116 bytes outside, 1066 inside.
    assert_eq!((outer.length, inner.length), (1116, 1066));
}

#[test]
fn geneve_with_options() {
    let mut frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([172, 16, 0, 1], [172, 16, 0, 2])
        .udp(1234, 6081)
        .geneve(0x123456)
        .ethernet([2, 0, 0, 0, 1, 1], [2, 0, 0, 0, 1, 2])
        .ipv4([192, 168, 0, 1], [192, 168, 0, 2])
        .tcp(1, 2, tcp_flags::ACK)
        .build();
    // Add one 4-byte option: option length 1, and insert the option after the header.
    let geneve_at = 14 + 20 + 8;
    frame[geneve_at] = 1;
    frame.splice(geneve_at + 8..geneve_at + 8, [0, 0, 0, 0]);
    let total = u16::from_be_bytes([frame[16], frame[17]]) + 4;
    frame[16..18].copy_from_slice(&total.to_be_bytes());
    let (layers, res) = decoded(&frame);
    res.unwrap();
    assert_eq!(
        paths(&layers),
        ["Ethernet/IPv4/UDP/Geneve", "Ethernet/IPv4/TCP"]
    );
    assert_eq!(layers.segments()[0].tunnel_id(), 0x123456);
}

#[test]
fn gre_with_key_carrying_ethernet() {
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
        .gre(Some(99))
        .ethernet([2, 0, 0, 0, 1, 1], [2, 0, 0, 0, 1, 2])
        .ipv6(V6_A, V6_B)
        .udp(1, 2)
        .build();
    let (layers, res) = decoded(&frame);
    res.unwrap();
    assert_eq!(paths(&layers), ["Ethernet/IPv4/GRE", "Ethernet/IPv6/UDP"]);
    assert_eq!(layers.segments()[0].tunnel, Some((TunnelKind::Gre, 99)));
}

#[test]
fn gre_mpls_splits_after_the_labels() {
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
        .gre(None)
        .mpls(100)
        .mpls(200)
        .ipv4([192, 168, 0, 1], [192, 168, 0, 2])
        .icmpv4_echo_request(1, 1)
        .build();
    let (layers, res) = decoded(&frame);
    res.unwrap();
    assert_eq!(
        paths(&layers),
        ["Ethernet/IPv4/GRE/MPLS/MPLS", "IPv4/ICMPv4"]
    );
    assert!(layers.segments()[1].link.is_none());
}

#[test]
fn mpls_over_udp_and_over_ethernet() {
    let udp = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
        .udp(49152, 6635)
        .mpls(16)
        .ethernet([2, 0, 0, 0, 1, 1], [2, 0, 0, 0, 1, 2])
        .ipv4([192, 168, 0, 1], [192, 168, 0, 2])
        .udp(1, 2)
        .build();
    let (layers, res) = decoded(&udp);
    res.unwrap();
    assert_eq!(
        paths(&layers),
        ["Ethernet/IPv4/UDP/MPLS", "Ethernet/IPv4/UDP"]
    );
    assert_eq!(layers.segments()[0].tunnel, Some((TunnelKind::MplsUdp, 0)));

    let eth = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .mpls(16)
        .ipv6(V6_A, V6_B)
        .tcp(1, 2, 0)
        .build();
    let (layers, res) = decoded(&eth);
    res.unwrap();
    assert_eq!(paths(&layers), ["Ethernet/MPLS", "IPv6/TCP"]);
}

#[test]
fn ip_in_ip_splits() {
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
        .ipv6(V6_A, V6_B)
        .udp(1, 2)
        .build();
    let (layers, res) = decoded(&frame);
    res.unwrap();
    assert_eq!(paths(&layers), ["Ethernet/IPv4", "IPv6/UDP"]);
}

#[test]
fn nested_tunnels_are_bounded() {
    let mut b = FrameBuilder::new().ethernet(MAC_A, MAC_B);
    for _ in 0..MAX_SEGMENTS {
        b = b.ipv4([10, 0, 0, 1], [10, 0, 0, 2]).gre(None);
    }
    let frame = b.ipv4([1, 1, 1, 1], [2, 2, 2, 2]).build();
    let (layers, res) = decoded(&frame);
    assert_eq!(
        res,
        Err(DecodeError::TooDeep(LayerKind::Gre, MAX_SEGMENTS as u8))
    );
    assert_eq!(layers.len(), MAX_SEGMENTS, "the outer tunnels are kept");
}

#[test]
fn truncated_inner_frame_keeps_the_outer_segment() {
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([172, 16, 0, 1], [172, 16, 0, 2])
        .udp(55091, 4789)
        .vxlan(10)
        .ethernet([2, 0, 0, 0, 1, 1], [2, 0, 0, 0, 1, 2])
        .ipv4([192, 168, 0, 1], [192, 168, 0, 2])
        .tcp(1, 2, 0)
        .build();
    let cut = &frame[..frame.len() - 10]; // inside the inner TCP header
    let mut layers = Layers::new();
    let res = decode(cut, frame.len() as u32, LinkType::Ethernet, &mut layers);
    assert_eq!(res, Err(DecodeError::Truncated(LayerKind::Tcp)));
    assert_eq!(paths(&layers), ["Ethernet/IPv4/UDP/VXLAN"]);
}

#[test]
fn truncations_name_the_layer() {
    let frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .vlan(3)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
        .tcp(1, 2, 0)
        .build();
    let expect = [
        (0, LayerKind::Ethernet),
        (13, LayerKind::Ethernet),
        (16, LayerKind::Dot1Q),
        (18, LayerKind::Ipv4),
        (37, LayerKind::Ipv4),
        (38, LayerKind::Tcp),
        (57, LayerKind::Tcp),
    ];
    for (len, layer) in expect {
        let mut layers = Layers::new();
        let res = decode(&frame[..len], 100, LinkType::Ethernet, &mut layers);
        assert_eq!(res, Err(DecodeError::Truncated(layer)), "cut at {len}");
        assert!(layers.is_empty());
    }
    let mut layers = Layers::new();
    decode(&frame, 100, LinkType::Ethernet, &mut layers).unwrap();
}

#[test]
fn garbage_headers_are_invalid() {
    let mut frame = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
        .tcp(1, 2, 0)
        .build();
    frame[14] = 0x55; // version 5
    assert_eq!(
        decoded(&frame).1,
        Err(DecodeError::Invalid(LayerKind::Ipv4, "version is not 4"))
    );
    frame[14] = 0x44; // IHL 4
    assert!(matches!(
        decoded(&frame).1,
        Err(DecodeError::Invalid(LayerKind::Ipv4, _))
    ));
    frame[14] = 0x45;
    frame[16..18].copy_from_slice(&10u16.to_be_bytes()); // total length 10
    assert!(matches!(
        decoded(&frame).1,
        Err(DecodeError::Invalid(LayerKind::Ipv4, _))
    ));
    frame[16..18].copy_from_slice(&40u16.to_be_bytes());
    frame[14 + 20 + 12] = 0x40; // TCP data offset 4
    assert_eq!(
        decoded(&frame).1,
        Err(DecodeError::Invalid(LayerKind::Tcp, "data offset below 5"))
    );
}

#[test]
fn raw_ip_and_cooked_link_types() {
    let ip = FrameBuilder::new().ipv6(V6_A, V6_B).udp(1, 2).build();
    let mut layers = Layers::new();
    decode(&ip, ip.len() as u32, LinkType::RawIp, &mut layers).unwrap();
    assert_eq!(paths(&layers), ["IPv6/UDP"]);
    assert!(decode(&[0x10], 1, LinkType::RawIp, &mut layers).is_err());

    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0xa, 0, 0, 0x86, 0xdd];
    sll.extend_from_slice(&ip);
    decode(&sll, sll.len() as u32, LinkType::LinuxSll, &mut layers).unwrap();
    assert_eq!(paths(&layers), ["IPv6/UDP"]);
    assert!(layers.segments()[0].link.is_none());
}

#[test]
fn error_counts_by_reason() {
    let mut counts = DecodeErrorCounts::default();
    counts.add(&DecodeError::Truncated(LayerKind::Tcp));
    counts.add(&DecodeError::Truncated(LayerKind::Tcp));
    counts.add(&DecodeError::Invalid(LayerKind::Ipv4, "x"));
    assert_eq!(counts.total(), 3);
    let got: Vec<_> = counts.iter().map(|(r, n)| (r.to_string(), n)).collect();
    assert_eq!(
        got,
        [
            ("truncated_TCP".to_owned(), 2),
            ("invalid_IPv4".to_owned(), 1)
        ]
    );
    assert_eq!(
        DecodeError::Invalid(LayerKind::Gre, "routing present (obsolete RFC 1701 form)")
            .to_string(),
        "invalid GRE header: routing present (obsolete RFC 1701 form)"
    );
    assert_eq!(
        DecodeError::Truncated(LayerKind::Ipv6).to_string(),
        "truncated IPv6 header"
    );
}

#[test]
fn errors_are_small_and_copy() {
    fn is_copy<T: Copy>() {}
    is_copy::<DecodeError>();
    assert!(std::mem::size_of::<DecodeError>() <= 24);
}

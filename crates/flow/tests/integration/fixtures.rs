//! The pcap fixtures under `tests/pcaps/`, built deterministically from `FrameBuilder`.
//!
//! The committed files are what the other tests read; `committed_pcaps_match_their_recipe`
//! checks they are byte for byte what the recipes here produce. After changing a recipe:
//! `SKYDIVE_REGENERATE_PCAPS=1 cargo test -p skydive-flow --test integration fixtures`.

use std::path::PathBuf;

use skydive_flow::pcap::PcapWriter;
use skydive_flow::{FrameBuilder, LinkType, Timestamp, tcp_flags};

/// 2024-01-01T00:00:00Z, in ms.
pub const T0_MS: i64 = 1_704_067_200_000;

pub const MAC_A: [u8; 6] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02];
pub const MAC_B: [u8; 6] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x03];
pub const MAC_C: [u8; 6] = [0xfa, 0x16, 0x3e, 0x00, 0x00, 0x01];
pub const MAC_D: [u8; 6] = [0xfa, 0x16, 0x3e, 0x00, 0x00, 0x02];
pub const IP_A: [u8; 4] = [172, 17, 0, 2];
pub const IP_B: [u8; 4] = [172, 17, 0, 3];
pub const V6_A: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a,
];
pub const V6_B: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b,
];

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pcaps")
}

/// A pcap being written: records at `T0_MS + µs offsets`.
struct Recipe(PcapWriter);

impl Recipe {
    fn new() -> Self {
        Recipe(PcapWriter::new(LinkType::Ethernet, 262_144))
    }

    fn at(&mut self, micros: i64, frame: &[u8]) -> &mut Self {
        self.cut(micros, frame, frame.len())
    }

    /// A record keeping only `keep` bytes of the frame (a snap length).
    fn cut(&mut self, micros: i64, frame: &[u8], keep: usize) -> &mut Self {
        let ts = Timestamp::from_nanos((T0_MS * 1_000 + micros) * 1_000);
        self.0
            .record(ts, &frame[..keep.min(frame.len())], frame.len() as u32);
        self
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_bytes()
    }
}

fn ping(forward: bool, id: u16, seq: u16) -> Vec<u8> {
    let b = FrameBuilder::new();
    let b = if forward {
        b.ethernet(MAC_A, MAC_B)
            .ipv4(IP_A, IP_B)
            .icmpv4_echo_request(id, seq)
    } else {
        b.ethernet(MAC_B, MAC_A)
            .ipv4(IP_B, IP_A)
            .icmpv4_echo_reply(id, seq)
    };
    b.payload(&[0x42; 56]).build()
}

/// Three pings, 1 s apart; replies after 412, 380 and 1305 µs.
fn icmpv4_echo() -> Vec<u8> {
    let mut r = Recipe::new();
    for (i, rtt) in [412, 380, 1305].into_iter().enumerate() {
        let t = i as i64 * 1_000_000;
        r.at(t, &ping(true, 0x1c2d, i as u16 + 1));
        r.at(t + rtt, &ping(false, 0x1c2d, i as u16 + 1));
    }
    r.bytes()
}

pub fn tcp(forward: bool, flags: u8, payload: usize) -> Vec<u8> {
    let (sm, dm, si, di, sp, dp) = if forward {
        (MAC_A, MAC_B, IP_A, IP_B, 51234, 80)
    } else {
        (MAC_B, MAC_A, IP_B, IP_A, 80, 51234)
    };
    FrameBuilder::new()
        .ethernet(sm, dm)
        .ipv4(si, di)
        .tcp(sp, dp, flags)
        .payload(&vec![0x61; payload])
        .build()
}

/// Handshake (SYN-ACK after 1.5 ms), a request and a response, then FIN both ways, over
/// 3 s so that one update is emitted in the middle.
fn tcp_handshake_fin() -> Vec<u8> {
    use tcp_flags::{ACK, FIN, PSH, SYN};
    let mut r = Recipe::new();
    r.at(0, &tcp(true, SYN, 0))
        .at(1_500, &tcp(false, SYN | ACK, 0))
        .at(1_600, &tcp(true, ACK, 0))
        .at(2_000, &tcp(true, PSH | ACK, 100))
        .at(2_500_000, &tcp(false, PSH | ACK, 1000))
        .at(2_500_100, &tcp(true, ACK, 0))
        .at(3_000_000, &tcp(true, FIN | ACK, 0))
        .at(3_000_200, &tcp(false, FIN | ACK, 0))
        .at(3_000_300, &tcp(true, ACK, 0));
    r.bytes()
}

pub fn dns6(forward: bool, with_ext: bool) -> Vec<u8> {
    let (sm, dm, si, di, sp, dp) = if forward {
        (MAC_A, MAC_B, V6_A, V6_B, 53000, 53)
    } else {
        (MAC_B, MAC_A, V6_B, V6_A, 53, 53000)
    };
    let b = FrameBuilder::new().ethernet(sm, dm).ipv6(si, di);
    let b = if with_ext { b.ipv6_extension(60) } else { b };
    b.udp(sp, dp).payload(&[0x77; 40]).build()
}

/// An IPv6 UDP query and answer, and a second query carrying a destination options header.
fn ipv6_udp() -> Vec<u8> {
    let mut r = Recipe::new();
    r.at(0, &dns6(true, false))
        .at(800, &dns6(false, false))
        .at(1_000, &dns6(true, true));
    r.bytes()
}

fn vlan_ping(tags: &[u16], forward: bool) -> Vec<u8> {
    let (sm, dm, si, di) = if forward {
        (MAC_A, MAC_B, [10, 0, 8, 1], [10, 0, 8, 2])
    } else {
        (MAC_B, MAC_A, [10, 0, 8, 2], [10, 0, 8, 1])
    };
    let mut b = FrameBuilder::new().ethernet(sm, dm);
    for t in tags {
        b = b.vlan(*t);
    }
    let b = b.ipv4(si, di);
    let b = if forward {
        b.icmpv4_echo_request(5, 1)
    } else {
        b.icmpv4_echo_reply(5, 1)
    };
    b.payload(&[0; 56]).build()
}

/// The same ping on VLAN 8, then on QinQ 8/10: two flows, Link.ID 8 and 40968.
fn vlan_qinq() -> Vec<u8> {
    let mut r = Recipe::new();
    r.at(0, &vlan_ping(&[8], true))
        .at(100, &vlan_ping(&[8], false))
        .at(200, &vlan_ping(&[8, 10], true))
        .at(300, &vlan_ping(&[8, 10], false));
    r.bytes()
}

pub fn vxlan_tcp(forward: bool, outer_sport: u16, flags: u8, payload: usize) -> Vec<u8> {
    let (om_s, om_d, oi_s, oi_d) = if forward {
        (MAC_A, MAC_B, [192, 168, 50, 1], [192, 168, 50, 2])
    } else {
        (MAC_B, MAC_A, [192, 168, 50, 2], [192, 168, 50, 1])
    };
    let (im_s, im_d, ii_s, ii_d, sp, dp) = if forward {
        (MAC_C, MAC_D, [10, 1, 0, 1], [10, 1, 0, 2], 43210, 443)
    } else {
        (MAC_D, MAC_C, [10, 1, 0, 2], [10, 1, 0, 1], 443, 43210)
    };
    FrameBuilder::new()
        .ethernet(om_s, om_d)
        .ipv4(oi_s, oi_d)
        .udp(outer_sport, 4789)
        .vxlan(42)
        .ethernet(im_s, im_d)
        .ipv4(ii_s, ii_d)
        .tcp(sp, dp, flags)
        .payload(&vec![0x11; payload])
        .build()
}

/// A TCP handshake between two VMs through a VXLAN tunnel (VNI 42); each VTEP picks its own
/// outer source port.
fn vxlan() -> Vec<u8> {
    use tcp_flags::{ACK, SYN};
    let mut r = Recipe::new();
    r.at(0, &vxlan_tcp(true, 50001, SYN, 0))
        .at(700, &vxlan_tcp(false, 61002, SYN | ACK, 0))
        .at(800, &vxlan_tcp(true, 50001, ACK, 20));
    r.bytes()
}

/// Frames cut or corrupted in every place that matters, and one good ping.
fn truncated() -> Vec<u8> {
    let good = ping(true, 1, 1);
    let tcp_frame = tcp(true, tcp_flags::ACK, 0);
    let mut bad_version = tcp_frame.clone();
    bad_version[14] = 0x65;
    let tunnel = vxlan_tcp(true, 50001, tcp_flags::ACK, 0);
    let mut r = Recipe::new();
    r.cut(0, &good, 10) // inside the Ethernet header
        .cut(100, &good, 30) // inside the IPv4 header
        .cut(200, &tcp_frame, 14 + 20 + 10) // inside the TCP header
        .at(300, &bad_version) // IPv4 version 6
        .cut(400, &tunnel, tunnel.len() - 8) // inner TCP cut: the tunnel flow stays
        .at(500, &good);
    r.bytes()
}

/// Two fragments of one UDP datagram: the first carries the ports, the second does not.
fn ipv4_fragments() -> Vec<u8> {
    let first = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4_fragment(IP_A, IP_B, 0x4242, 0, true)
        .udp(5000, 6000)
        .payload(&[0; 1472])
        .build();
    let second = FrameBuilder::new()
        .ethernet(MAC_A, MAC_B)
        .ipv4_fragment(IP_A, IP_B, 0x4242, 1480, false)
        .payload(&[0; 520])
        .build();
    let mut r = Recipe::new();
    r.at(0, &first).at(10, &second);
    r.bytes()
}

/// ICMP in MPLS in GRE (key 7), as Skydive's gre-mpls-icmpv4 trace.
fn gre_mpls() -> Vec<u8> {
    let frame = |forward: bool| {
        let (sm, dm, si, di) = if forward {
            (MAC_A, MAC_B, IP_A, IP_B)
        } else {
            (MAC_B, MAC_A, IP_B, IP_A)
        };
        let b = FrameBuilder::new()
            .ethernet(sm, dm)
            .ipv4(si, di)
            .gre(Some(7))
            .mpls(300);
        let b = if forward {
            b.ipv4([10, 9, 0, 1], [10, 9, 0, 2])
                .icmpv4_echo_request(3, 1)
        } else {
            b.ipv4([10, 9, 0, 2], [10, 9, 0, 1]).icmpv4_echo_reply(3, 1)
        };
        b.payload(&[0; 32]).build()
    };
    let mut r = Recipe::new();
    r.at(0, &frame(true)).at(250, &frame(false));
    r.bytes()
}

/// Every fixture: file name and recipe.
pub fn all() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("icmpv4-echo.pcap", icmpv4_echo()),
        ("tcp-handshake-fin.pcap", tcp_handshake_fin()),
        ("ipv6-udp.pcap", ipv6_udp()),
        ("vlan-qinq.pcap", vlan_qinq()),
        ("vxlan-tcp.pcap", vxlan()),
        ("truncated.pcap", truncated()),
        ("ipv4-fragments.pcap", ipv4_fragments()),
        ("gre-mpls-icmpv4.pcap", gre_mpls()),
    ]
}

#[test]
fn committed_pcaps_match_their_recipe() {
    let regenerate = std::env::var_os("SKYDIVE_REGENERATE_PCAPS").is_some();
    for (name, bytes) in all() {
        let path = dir().join(name);
        if regenerate {
            std::fs::write(&path, &bytes).unwrap();
            continue;
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (regenerate with SKYDIVE_REGENERATE_PCAPS=1)",
                path.display()
            )
        });
        assert!(
            committed == bytes,
            "{name} differs from its recipe: regenerate it"
        );
    }
}

//! The borrowed view one decoded frame leaves behind: [`Layers`], a fixed-size stack of
//! [`Segment`]s (one per encapsulation level), each holding the link, network, transport and
//! ICMP headers that identify a flow.
//!
//! Everything here is `Copy` and fixed-size: addresses are references into the frame, layer
//! names are a `u8` enum, stacked VLAN tags are folded into one integer. Building a `Layers`
//! never allocates, which is what lets the decoder run once per packet at line rate.
//!
//! Segments follow Skydive's `PacketSeqFromGoPacket`: a frame is split after every VXLAN,
//! Geneve, GRE (or the MPLS labels that follow it), MPLS and IP-in-IP header; segment 0 is the
//! outer packet, the last one the innermost. VLAN tags do not split.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Encapsulation levels kept per frame (outer packet + 3 nested tunnels).
pub const MAX_SEGMENTS: usize = 4;
/// Layers kept per segment, for `LayersPath`.
pub const MAX_PATH: usize = 14;
/// 802.1Q tags kept per segment: `Link.ID` packs 12 bits per tag into an `i64`.
pub const MAX_VLANS: usize = 5;

/// What the first byte of a frame is, as pcap's `LINKTYPE_*` values say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// `LINKTYPE_ETHERNET` (1).
    Ethernet,
    /// `LINKTYPE_RAW` (101, also 12 and 14 on some systems): IPv4 or IPv6 by version nibble.
    RawIp,
    /// `LINKTYPE_IPV4` (228).
    Ipv4,
    /// `LINKTYPE_IPV6` (229).
    Ipv6,
    /// `LINKTYPE_LINUX_SLL` (113): the 16-byte "cooked" header of `tcpdump -i any`.
    LinuxSll,
}

impl LinkType {
    /// Maps a pcap link-type number; `None` for link types this crate does not decode.
    pub const fn from_pcap(linktype: u32) -> Option<LinkType> {
        match linktype {
            1 => Some(LinkType::Ethernet),
            12 | 14 | 101 => Some(LinkType::RawIp),
            113 => Some(LinkType::LinuxSll),
            228 => Some(LinkType::Ipv4),
            229 => Some(LinkType::Ipv6),
            _ => None,
        }
    }

    /// The pcap link-type number written for this link type.
    pub const fn to_pcap(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
        }
    }
}

macro_rules! layer_kinds {
    ($($variant:ident => $name:literal,)*) => {
        /// A protocol layer, named as Skydive (gopacket) names it in `LayersPath`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum LayerKind { $($variant,)* }

        impl LayerKind {
            /// Every kind, in declaration order (`kind as usize` indexes it).
            pub const ALL: &'static [LayerKind] = &[$(LayerKind::$variant,)*];
            /// Number of kinds.
            pub const COUNT: usize = Self::ALL.len();

            /// The name used in `LayersPath` and `Application`.
            pub const fn name(self) -> &'static str {
                match self { $(LayerKind::$variant => $name,)* }
            }
        }
    };
}

layer_kinds! {
    Ethernet => "Ethernet",
    LinuxSll => "LinuxSLL",
    Dot1Q => "Dot1Q",
    Llc => "LLC",
    Arp => "ARP",
    Ipv4 => "IPv4",
    Fragment => "Fragment",
    Ipv6 => "IPv6",
    Ipv6HopByHop => "IPv6HopByHop",
    Ipv6Routing => "IPv6Routing",
    Ipv6Destination => "IPv6Destination",
    Ipv6Fragment => "IPv6Fragment",
    IpSecAh => "IPSecAH",
    IpSecEsp => "IPSecESP",
    Tcp => "TCP",
    Udp => "UDP",
    Sctp => "SCTP",
    Icmpv4 => "ICMPv4",
    Icmpv6 => "ICMPv6",
    Icmpv6Echo => "ICMPv6Echo",
    Vxlan => "VXLAN",
    Geneve => "Geneve",
    Gre => "GRE",
    Mpls => "MPLS",
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The layers of one segment, outermost first (`Ethernet/Dot1Q/IPv4/UDP/VXLAN`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LayerPath {
    kinds: [LayerKind; MAX_PATH],
    len: u8,
}

impl LayerPath {
    pub(crate) const EMPTY: LayerPath = LayerPath {
        kinds: [LayerKind::Ethernet; MAX_PATH],
        len: 0,
    };

    /// Appends a layer; `false` when the path is full.
    pub(crate) fn push(&mut self, kind: LayerKind) -> bool {
        let Some(slot) = self.kinds.get_mut(self.len as usize) else {
            return false;
        };
        *slot = kind;
        self.len += 1;
        true
    }

    /// The layers in order.
    pub fn as_slice(&self) -> &[LayerKind] {
        &self.kinds[..self.len as usize]
    }

    /// The last layer: Skydive's `Application`.
    pub fn last(&self) -> Option<LayerKind> {
        self.as_slice().last().copied()
    }

    /// Whether the path contains `kind`.
    pub fn contains(&self, kind: LayerKind) -> bool {
        self.as_slice().contains(&kind)
    }
}

impl fmt::Display for LayerPath {
    /// Skydive's `LayersPath`: names joined by `/`; the Linux cooked header is left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for kind in self
            .as_slice()
            .iter()
            .filter(|k| **k != LayerKind::LinuxSll)
        {
            if !first {
                f.write_str("/")?;
            }
            f.write_str(kind.name())?;
            first = false;
        }
        Ok(())
    }
}

impl fmt::Debug for LayerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// The Ethernet header of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ethernet<'p> {
    pub src: &'p [u8; 6],
    pub dst: &'p [u8; 6],
    /// Stacked 802.1Q/802.1ad VLAN ids, outermost in the low 12 bits (Skydive's `Link.ID`).
    pub vlan_id: u64,
    /// Number of VLAN tags folded into `vlan_id`.
    pub vlan_count: u8,
}

/// The network header of a segment; addresses borrow from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network<'p> {
    V4 {
        src: &'p [u8; 4],
        dst: &'p [u8; 4],
        /// The IP protocol of the payload.
        protocol: u8,
        ttl: u8,
    },
    V6 {
        src: &'p [u8; 16],
        dst: &'p [u8; 16],
        /// The protocol after the extension headers.
        protocol: u8,
        hop_limit: u8,
    },
}

impl Network<'_> {
    pub fn src(&self) -> IpAddr {
        match *self {
            Network::V4 { src, .. } => IpAddr::V4(Ipv4Addr::from(*src)),
            Network::V6 { src, .. } => IpAddr::V6(Ipv6Addr::from(*src)),
        }
    }

    pub fn dst(&self) -> IpAddr {
        match *self {
            Network::V4 { dst, .. } => IpAddr::V4(Ipv4Addr::from(*dst)),
            Network::V6 { dst, .. } => IpAddr::V6(Ipv6Addr::from(*dst)),
        }
    }

    /// The IP protocol number of the payload (after IPv6 extension headers).
    pub fn protocol(&self) -> u8 {
        match *self {
            Network::V4 { protocol, .. } | Network::V6 { protocol, .. } => protocol,
        }
    }
}

/// A transport protocol carrying ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Tcp,
    Udp,
    Sctp,
}

impl TransportKind {
    /// The IP protocol number.
    pub const fn ip_protocol(self) -> u8 {
        match self {
            TransportKind::Tcp => 6,
            TransportKind::Udp => 17,
            TransportKind::Sctp => 132,
        }
    }
}

/// TCP flag bits as they appear in byte 13 of the header.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// The transport header of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport {
    pub kind: TransportKind,
    pub src_port: u16,
    pub dst_port: u16,
    /// TCP flags (see [`tcp_flags`]); 0 for UDP and SCTP.
    pub tcp_flags: u8,
}

/// ICMP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpVersion {
    V4,
    V6,
}

/// The ICMP header of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmp {
    pub version: IcmpVersion,
    /// The raw ICMP type (8 = echo request in ICMPv4, 128 in ICMPv6).
    pub icmp_type: u8,
    pub code: u8,
    /// Identifier of query messages (echo, timestamp, information, address mask); else 0.
    pub id: u16,
}

impl Icmp {
    /// Echo request (ping).
    pub fn is_echo_request(&self) -> bool {
        matches!(
            (self.version, self.icmp_type),
            (IcmpVersion::V4, 8) | (IcmpVersion::V6, 128)
        )
    }

    /// Echo reply (pong).
    pub fn is_echo_reply(&self) -> bool {
        matches!(
            (self.version, self.icmp_type),
            (IcmpVersion::V4, 0) | (IcmpVersion::V6, 129)
        )
    }
}

/// The encapsulation header that ends a segment (the next segment is what it carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    Vxlan,
    Geneve,
    Gre,
    Mpls,
    /// MPLS in UDP (port 6635, RFC 7510).
    MplsUdp,
    /// IPv4 or IPv6 directly in IP (protocols 4 and 41).
    IpInIp,
}

impl TunnelKind {
    /// UDP tunnels pick their source port from a hash of the inner flow, so both directions
    /// and every inner flow use different source ports: their outer flow is keyed on the
    /// destination port and the tunnel id instead (as Skydive does for VXLAN and Geneve).
    pub const fn is_udp(self) -> bool {
        matches!(
            self,
            TunnelKind::Vxlan | TunnelKind::Geneve | TunnelKind::MplsUdp
        )
    }
}

/// Fragmentation state of a segment's IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fragment {
    /// Not fragmented.
    #[default]
    None,
    /// First fragment: offset 0, more fragments follow; it carries the L4 header.
    First,
    /// A later fragment: no L4 header, so no ports.
    Later,
}

/// One encapsulation level of a frame: the headers that key one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'p> {
    pub path: LayerPath,
    pub link: Option<Ethernet<'p>>,
    pub network: Option<Network<'p>>,
    pub transport: Option<Transport>,
    pub icmp: Option<Icmp>,
    /// The encapsulation ending this segment, with its id (VXLAN/Geneve VNI, GRE key;
    /// 0 otherwise): Skydive's `Network.ID`.
    pub tunnel: Option<(TunnelKind, u32)>,
    pub fragment: Fragment,
    /// Bytes of this segment on the wire: the frame's original length for segment 0, what
    /// the enclosing headers leave for inner ones. The L2 length counted in L2 key mode.
    pub length: u32,
    /// The IP packet's own length (IPv4 total length, IPv6 payload length + 40); 0 without
    /// IP. The L3 length counted in L3 key mode.
    pub ip_length: u32,
}

impl Segment<'_> {
    pub(crate) const EMPTY: Segment<'static> = Segment {
        path: LayerPath::EMPTY,
        link: None,
        network: None,
        transport: None,
        icmp: None,
        tunnel: None,
        fragment: Fragment::None,
        length: 0,
        ip_length: 0,
    };

    /// Skydive's `Network.ID`: the VNI or GRE key of the tunnel this segment ends with.
    pub fn tunnel_id(&self) -> u32 {
        self.tunnel.map_or(0, |(_, id)| id)
    }
}

/// The decoded segments of one frame, outermost first. Fixed-size: lives on the stack.
#[derive(Debug, Clone, Copy)]
pub struct Layers<'p> {
    segments: [Segment<'p>; MAX_SEGMENTS],
    len: u8,
}

impl Default for Layers<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'p> Layers<'p> {
    pub const fn new() -> Self {
        Layers {
            segments: [Segment::EMPTY; MAX_SEGMENTS],
            len: 0,
        }
    }

    /// The complete segments, outermost first.
    pub fn segments(&self) -> &[Segment<'p>] {
        &self.segments[..self.len as usize]
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Stores a finished segment; `false` when all slots are used.
    pub(crate) fn push(&mut self, seg: Segment<'p>) -> bool {
        let Some(slot) = self.segments.get_mut(self.len as usize) else {
            return false;
        };
        *slot = seg;
        self.len += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_display_skips_cooked_header() {
        let mut p = LayerPath::EMPTY;
        for k in [LayerKind::LinuxSll, LayerKind::Ipv4, LayerKind::Icmpv4] {
            assert!(p.push(k));
        }
        assert_eq!(p.to_string(), "IPv4/ICMPv4");
        assert_eq!(p.last(), Some(LayerKind::Icmpv4));
    }

    #[test]
    fn path_is_bounded() {
        let mut p = LayerPath::EMPTY;
        for _ in 0..MAX_PATH {
            assert!(p.push(LayerKind::Dot1Q));
        }
        assert!(!p.push(LayerKind::Ipv4));
        assert_eq!(p.as_slice().len(), MAX_PATH);
    }

    #[test]
    fn layer_kind_index_matches_all() {
        for (i, k) in LayerKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
    }

    #[test]
    fn pcap_link_types_round_trip() {
        for lt in [
            LinkType::Ethernet,
            LinkType::RawIp,
            LinkType::Ipv4,
            LinkType::Ipv6,
            LinkType::LinuxSll,
        ] {
            assert_eq!(LinkType::from_pcap(lt.to_pcap()), Some(lt));
        }
        assert_eq!(LinkType::from_pcap(105), None);
    }
}

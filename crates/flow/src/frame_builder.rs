//! [`FrameBuilder`]: writes well-formed frames, header by header, outermost first.
//!
//! Used by the tests and pcap fixtures of this crate, the fuzz seed corpora and the
//! benchmarks, and fit for a packet injector: next-protocol fields (EtherType, IP protocol,
//! GRE/Geneve protocol), lengths and checksums (IPv4 header, TCP/UDP/ICMP, with IPv4 and
//! IPv6 pseudo-headers) are derived from the layers that follow. It allocates freely: it is
//! not on any packet path.

#[derive(Debug, Clone)]
enum Spec {
    Ethernet {
        src: [u8; 6],
        dst: [u8; 6],
    },
    Vlan(u16),
    Ipv4 {
        src: [u8; 4],
        dst: [u8; 4],
        id: u16,
        frag: u16,
        ttl: u8,
    },
    Ipv6 {
        src: [u8; 16],
        dst: [u8; 16],
        hop_limit: u8,
    },
    Ipv6Ext(u8),
    Ipv6Fragment {
        offset: u16,
        more: bool,
    },
    Tcp {
        src: u16,
        dst: u16,
        flags: u8,
        seq: u32,
        ack: u32,
    },
    Udp {
        src: u16,
        dst: u16,
    },
    Sctp {
        src: u16,
        dst: u16,
    },
    Icmpv4 {
        icmp_type: u8,
        code: u8,
        id: u16,
        seq: u16,
    },
    Icmpv6 {
        icmp_type: u8,
        code: u8,
        id: u16,
        seq: u16,
    },
    Vxlan(u32),
    Geneve(u32),
    Gre(Option<u32>),
    Mpls(u32),
    Payload(Vec<u8>),
}

/// Builds a frame from its layers, outermost first.
///
/// ```
/// use skydive_flow::FrameBuilder;
///
/// let ping = FrameBuilder::new()
///     .ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
///     .vlan(10)
///     .ipv4([192, 168, 0, 1], [192, 168, 0, 2])
///     .icmpv4_echo_request(7, 1)
///     .payload(&[0xab; 56])
///     .build();
/// assert_eq!(ping.len(), 14 + 4 + 20 + 8 + 56);
/// ```
#[derive(Debug, Clone, Default)]
pub struct FrameBuilder {
    specs: Vec<Spec>,
}

impl FrameBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    fn with(mut self, spec: Spec) -> Self {
        self.specs.push(spec);
        self
    }

    pub fn ethernet(self, src: [u8; 6], dst: [u8; 6]) -> Self {
        self.with(Spec::Ethernet { src, dst })
    }

    /// An 802.1Q tag (priority 0).
    pub fn vlan(self, id: u16) -> Self {
        self.with(Spec::Vlan(id & 0x0fff))
    }

    pub fn ipv4(self, src: [u8; 4], dst: [u8; 4]) -> Self {
        self.with(Spec::Ipv4 {
            src,
            dst,
            id: 0,
            frag: 0,
            ttl: 64,
        })
    }

    /// An IPv4 fragment: `offset` in bytes (a multiple of 8), `more` = MF flag.
    pub fn ipv4_fragment(
        self,
        src: [u8; 4],
        dst: [u8; 4],
        id: u16,
        offset: u16,
        more: bool,
    ) -> Self {
        let frag = (offset / 8) | if more { 0x2000 } else { 0 };
        self.with(Spec::Ipv4 {
            src,
            dst,
            id,
            frag,
            ttl: 64,
        })
    }

    pub fn ipv6(self, src: [u8; 16], dst: [u8; 16]) -> Self {
        self.with(Spec::Ipv6 {
            src,
            dst,
            hop_limit: 64,
        })
    }

    /// An empty IPv6 extension header: 0 hop-by-hop, 43 routing, 60 destination options.
    pub fn ipv6_extension(self, next_header_kind: u8) -> Self {
        self.with(Spec::Ipv6Ext(next_header_kind))
    }

    /// An IPv6 fragment header: `offset` in bytes (a multiple of 8).
    pub fn ipv6_fragment(self, offset: u16, more: bool) -> Self {
        self.with(Spec::Ipv6Fragment { offset, more })
    }

    /// A TCP header with `flags` (see [`crate::tcp_flags`]).
    pub fn tcp(self, src: u16, dst: u16, flags: u8) -> Self {
        self.tcp_seq(src, dst, flags, 1, 0)
    }

    pub fn tcp_seq(self, src: u16, dst: u16, flags: u8, seq: u32, ack: u32) -> Self {
        self.with(Spec::Tcp {
            src,
            dst,
            flags,
            seq,
            ack,
        })
    }

    pub fn udp(self, src: u16, dst: u16) -> Self {
        self.with(Spec::Udp { src, dst })
    }

    pub fn sctp(self, src: u16, dst: u16) -> Self {
        self.with(Spec::Sctp { src, dst })
    }

    pub fn icmpv4(self, icmp_type: u8, code: u8, id: u16, seq: u16) -> Self {
        self.with(Spec::Icmpv4 {
            icmp_type,
            code,
            id,
            seq,
        })
    }

    pub fn icmpv4_echo_request(self, id: u16, seq: u16) -> Self {
        self.icmpv4(8, 0, id, seq)
    }

    pub fn icmpv4_echo_reply(self, id: u16, seq: u16) -> Self {
        self.icmpv4(0, 0, id, seq)
    }

    pub fn icmpv6(self, icmp_type: u8, code: u8, id: u16, seq: u16) -> Self {
        self.with(Spec::Icmpv6 {
            icmp_type,
            code,
            id,
            seq,
        })
    }

    pub fn icmpv6_echo_request(self, id: u16, seq: u16) -> Self {
        self.icmpv6(128, 0, id, seq)
    }

    pub fn icmpv6_echo_reply(self, id: u16, seq: u16) -> Self {
        self.icmpv6(129, 0, id, seq)
    }

    /// A VXLAN header (put a `.udp(_, 4789)` before it).
    pub fn vxlan(self, vni: u32) -> Self {
        self.with(Spec::Vxlan(vni & 0x00ff_ffff))
    }

    /// A Geneve header without options (put a `.udp(_, 6081)` before it).
    pub fn geneve(self, vni: u32) -> Self {
        self.with(Spec::Geneve(vni & 0x00ff_ffff))
    }

    /// A GRE header, with the key field when `key` is set.
    pub fn gre(self, key: Option<u32>) -> Self {
        self.with(Spec::Gre(key))
    }

    /// One MPLS label; the last of consecutive labels gets the bottom-of-stack bit.
    pub fn mpls(self, label: u32) -> Self {
        self.with(Spec::Mpls(label & 0x000f_ffff))
    }

    pub fn payload(self, bytes: &[u8]) -> Self {
        self.with(Spec::Payload(bytes.to_vec()))
    }

    /// Serialises the frame, innermost layer first so that lengths and checksums are known.
    pub fn build(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for (i, spec) in self.specs.iter().enumerate().rev() {
            let next = self.specs.get(i + 1);
            let mut header = header(spec, next, &mut body);
            header.extend_from_slice(&body);
            body = header;
        }
        body
    }
}

fn ether_type_of(next: Option<&Spec>) -> u16 {
    match next {
        Some(Spec::Vlan(_)) => 0x8100,
        Some(Spec::Ipv4 { .. }) => 0x0800,
        Some(Spec::Ipv6 { .. }) => 0x86dd,
        Some(Spec::Mpls(_)) => 0x8847,
        Some(Spec::Ethernet { .. }) => 0x6558,
        _ => 0x88b5, // IEEE local experimental
    }
}

fn ip_protocol_of(next: Option<&Spec>) -> u8 {
    match next {
        Some(Spec::Tcp { .. }) => 6,
        Some(Spec::Udp { .. }) => 17,
        Some(Spec::Sctp { .. }) => 132,
        Some(Spec::Icmpv4 { .. }) => 1,
        Some(Spec::Icmpv6 { .. }) => 58,
        Some(Spec::Gre(_)) => 47,
        Some(Spec::Ipv4 { .. }) => 4,
        Some(Spec::Ipv6 { .. }) => 41,
        Some(Spec::Ipv6Ext(kind)) => *kind,
        Some(Spec::Ipv6Fragment { .. }) => 44,
        _ => 253, // RFC 3692 experimental
    }
}

/// The header of `spec`; IP layers also patch the L4 checksum inside `body`.
fn header(spec: &Spec, next: Option<&Spec>, body: &mut [u8]) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    match *spec {
        Spec::Ethernet { src, dst } => {
            h.extend_from_slice(&dst);
            h.extend_from_slice(&src);
            h.extend_from_slice(&ether_type_of(next).to_be_bytes());
        }
        Spec::Vlan(id) => {
            h.extend_from_slice(&id.to_be_bytes());
            h.extend_from_slice(&ether_type_of(next).to_be_bytes());
        }
        Spec::Ipv4 {
            src,
            dst,
            id,
            frag,
            ttl,
        } => ipv4_header(&mut h, src, dst, id, frag, ttl, next, body),
        Spec::Ipv6 {
            src,
            dst,
            hop_limit,
        } => ipv6_header(&mut h, src, dst, hop_limit, next, body),
        Spec::Ipv6Ext(_) => h.extend_from_slice(&[ip_protocol_of(next), 0, 1, 4, 0, 0, 0, 0]),
        Spec::Ipv6Fragment { offset, more } => {
            let of = (offset / 8) << 3 | u16::from(more);
            h.extend_from_slice(&[ip_protocol_of(next), 0]);
            h.extend_from_slice(&of.to_be_bytes());
            h.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        }
        Spec::Tcp {
            src,
            dst,
            flags,
            seq,
            ack,
        } => {
            h.extend_from_slice(&src.to_be_bytes());
            h.extend_from_slice(&dst.to_be_bytes());
            h.extend_from_slice(&seq.to_be_bytes());
            h.extend_from_slice(&ack.to_be_bytes());
            h.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
        }
        Spec::Udp { src, dst } => {
            h.extend_from_slice(&src.to_be_bytes());
            h.extend_from_slice(&dst.to_be_bytes());
            let len = u16::try_from(8 + body.len()).unwrap_or(u16::MAX);
            h.extend_from_slice(&len.to_be_bytes());
            h.extend_from_slice(&[0, 0]);
        }
        Spec::Sctp { src, dst } => {
            h.extend_from_slice(&src.to_be_bytes());
            h.extend_from_slice(&dst.to_be_bytes());
            h.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
        }
        Spec::Icmpv4 {
            icmp_type,
            code,
            id,
            seq,
        } => {
            h.extend_from_slice(&[icmp_type, code, 0, 0]);
            h.extend_from_slice(&id.to_be_bytes());
            h.extend_from_slice(&seq.to_be_bytes());
            let sum = checksum(&[&h, &*body]);
            h[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        Spec::Icmpv6 {
            icmp_type,
            code,
            id,
            seq,
        } => {
            // The checksum needs the IPv6 pseudo-header: the IPv6 layer fills it in.
            h.extend_from_slice(&[icmp_type, code, 0, 0]);
            h.extend_from_slice(&id.to_be_bytes());
            h.extend_from_slice(&seq.to_be_bytes());
        }
        Spec::Vxlan(vni) => {
            h.extend_from_slice(&[0x08, 0, 0, 0]);
            h.extend_from_slice(&(vni << 8).to_be_bytes());
        }
        Spec::Geneve(vni) => {
            h.extend_from_slice(&[0, 0]);
            h.extend_from_slice(&ether_type_of(next).to_be_bytes());
            h.extend_from_slice(&(vni << 8).to_be_bytes());
        }
        Spec::Gre(key) => {
            let flags: u16 = if key.is_some() { 0x2000 } else { 0 };
            h.extend_from_slice(&flags.to_be_bytes());
            h.extend_from_slice(&ether_type_of(next).to_be_bytes());
            if let Some(key) = key {
                h.extend_from_slice(&key.to_be_bytes());
            }
        }
        Spec::Mpls(label) => {
            let bottom = !matches!(next, Some(Spec::Mpls(_)));
            let word = label << 12 | u32::from(bottom) << 8 | 64;
            h.extend_from_slice(&word.to_be_bytes());
        }
        Spec::Payload(ref bytes) => h.extend_from_slice(bytes),
    }
    h
}

#[allow(clippy::too_many_arguments)]
fn ipv4_header(
    h: &mut Vec<u8>,
    src: [u8; 4],
    dst: [u8; 4],
    id: u16,
    frag: u16,
    ttl: u8,
    next: Option<&Spec>,
    body: &mut [u8],
) {
    let total = u16::try_from(20 + body.len()).unwrap_or(u16::MAX);
    let protocol = ip_protocol_of(next);
    h.extend_from_slice(&[0x45, 0]);
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[ttl, protocol, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let sum = checksum(&[h]);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    if frag == 0 {
        let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
        let mut pseudo = Vec::with_capacity(12);
        pseudo.extend_from_slice(&src);
        pseudo.extend_from_slice(&dst);
        pseudo.extend_from_slice(&[0, protocol]);
        pseudo.extend_from_slice(&len.to_be_bytes());
        set_l4_checksum(&pseudo, next, body);
    }
}

fn ipv6_header(
    h: &mut Vec<u8>,
    src: [u8; 16],
    dst: [u8; 16],
    hop_limit: u8,
    next: Option<&Spec>,
    body: &mut [u8],
) {
    let payload_len = u16::try_from(body.len()).unwrap_or(u16::MAX);
    let protocol = ip_protocol_of(next);
    h.extend_from_slice(&[0x60, 0, 0, 0]);
    h.extend_from_slice(&payload_len.to_be_bytes());
    h.extend_from_slice(&[protocol, hop_limit]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let mut pseudo = Vec::with_capacity(40);
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&u32::from(payload_len).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, protocol]);
    set_l4_checksum(&pseudo, next, body);
}

/// Sets the checksum of the L4 header at the start of `body`, when it has one to set.
fn set_l4_checksum(pseudo: &[u8], next: Option<&Spec>, body: &mut [u8]) {
    let offset = match next {
        Some(Spec::Tcp { .. }) => 16,
        Some(Spec::Udp { .. }) => 6,
        Some(Spec::Icmpv6 { .. }) => 2,
        _ => return,
    };
    if body.len() >= offset + 2 {
        let sum = checksum(&[pseudo, body]);
        body[offset..offset + 2].copy_from_slice(&sum.to_be_bytes());
    }
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in part.iter() {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

//! The packet decoder: frame bytes in, a [`Layers`] view out, nothing allocated.
//!
//! Decodes Ethernet (with up to [`MAX_VLANS`] 802.1Q/802.1ad tags), Linux cooked headers, ARP
//! and LLC (named only), IPv4 (options skipped, fragments: the first one carries the L4
//! header, later ones do not), IPv6 (hop-by-hop, routing, destination, fragment and AH
//! extension headers walked), TCP (ports and flags), UDP, SCTP, ICMPv4, ICMPv6 (echo id), and
//! the encapsulations that split a frame into segments: VXLAN (UDP 4789), Geneve (UDP 6081,
//! options skipped), GRE (checksum/key/sequence; Ethernet, IPv4, IPv6 or MPLS inside), MPLS
//! (label stacks, over Ethernet, GRE or UDP 6635) and IP-in-IP.
//!
//! Every header is read through a bounds-checked [`Cursor`]; a short or malformed header stops
//! decoding with a small `Copy` [`DecodeError`] naming the layer. Segments completed before
//! the error stay in [`Layers`] (the outer flow of a VXLAN packet whose inner frame was cut
//! by the snap length is still a flow); the segment being decoded is discarded, so a header
//! cut in half never creates a flow keyed on half its fields. Payloads are never read.

use crate::cursor::Cursor;
use crate::layers::{
    Ethernet, Fragment, Icmp, IcmpVersion, LayerKind, Layers, LinkType, MAX_PATH, MAX_SEGMENTS,
    MAX_VLANS, Network, Segment, Transport, TransportKind, TunnelKind,
};

/// Why a frame (or its innermost part) could not be decoded. Small and `Copy`: returning one
/// never allocates, however many malformed frames arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The captured bytes end inside this header.
    #[error("truncated {0} header")]
    Truncated(LayerKind),
    /// The header is there but says something impossible.
    #[error("invalid {0} header: {1}")]
    Invalid(LayerKind, &'static str),
    /// More nested headers than the fixed-size view keeps (VLAN tags, MPLS labels, IPv6
    /// extension headers, tunnels or layers in one segment).
    #[error("too many nested {0} headers (at most {1})")]
    TooDeep(LayerKind, u8),
}

/// The counting key of a [`DecodeError`]: its variant and layer, without the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DecodeReason {
    pub kind: DecodeReasonKind,
    pub layer: LayerKind,
}

/// The variant of a [`DecodeError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeReasonKind {
    Truncated,
    Invalid,
    TooDeep,
}

impl DecodeReasonKind {
    const ALL: [DecodeReasonKind; 3] = [Self::Truncated, Self::Invalid, Self::TooDeep];

    pub const fn name(self) -> &'static str {
        match self {
            DecodeReasonKind::Truncated => "truncated",
            DecodeReasonKind::Invalid => "invalid",
            DecodeReasonKind::TooDeep => "too_deep",
        }
    }
}

impl std::fmt::Display for DecodeReason {
    /// `truncated_IPv4`, `invalid_TCP`: stable names for metrics labels.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.kind.name(), self.layer.name())
    }
}

impl DecodeError {
    pub fn reason(&self) -> DecodeReason {
        let (kind, layer) = match *self {
            DecodeError::Truncated(l) => (DecodeReasonKind::Truncated, l),
            DecodeError::Invalid(l, _) => (DecodeReasonKind::Invalid, l),
            DecodeError::TooDeep(l, _) => (DecodeReasonKind::TooDeep, l),
        };
        DecodeReason { kind, layer }
    }
}

/// Decode errors counted by reason, in a fixed array (counting never allocates).
#[derive(Clone, PartialEq, Eq)]
pub struct DecodeErrorCounts {
    counts: [u64; 3 * LayerKind::COUNT],
}

impl Default for DecodeErrorCounts {
    fn default() -> Self {
        DecodeErrorCounts {
            counts: [0; 3 * LayerKind::COUNT],
        }
    }
}

impl DecodeErrorCounts {
    fn index(reason: DecodeReason) -> usize {
        reason.kind as usize * LayerKind::COUNT + reason.layer as usize
    }

    pub fn add(&mut self, err: &DecodeError) {
        self.counts[Self::index(err.reason())] += 1;
    }

    pub fn get(&self, reason: DecodeReason) -> u64 {
        self.counts[Self::index(reason)]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Non-zero counts, by reason.
    pub fn iter(&self) -> impl Iterator<Item = (DecodeReason, u64)> + '_ {
        DecodeReasonKind::ALL.iter().flat_map(move |&kind| {
            LayerKind::ALL.iter().filter_map(move |&layer| {
                let reason = DecodeReason { kind, layer };
                let n = self.get(reason);
                (n > 0).then_some((reason, n))
            })
        })
    }

    /// Adds another set of counts (publishing per-batch counters into totals).
    pub fn merge(&mut self, other: &DecodeErrorCounts) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
    }
}

impl std::fmt::Debug for DecodeErrorCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(r, n)| (r.to_string(), n)))
            .finish()
    }
}

const ETH_IPV4: u16 = 0x0800;
const ETH_ARP: u16 = 0x0806;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_IPV6: u16 = 0x86dd;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MULTICAST: u16 = 0x8848;
const ETH_TEB: u16 = 0x6558;

const UDP_VXLAN: u16 = 4789;
const UDP_GENEVE: u16 = 6081;
const UDP_MPLS: u16 = 6635;

const MAX_MPLS_LABELS: u8 = 8;
const MAX_IPV6_EXTENSIONS: u8 = 8;

/// Decodes `frame` into `out`.
///
/// `wire_len` is the frame's length on the wire (pcap `orig_len`, sFlow `frame_length -
/// stripped`); the captured bytes may be fewer. On error, `out` still holds the segments
/// completed before it (see the module docs), and the caller decides whether to use them.
///
/// ```
/// use skydive_flow::{decode, FrameBuilder, Layers, LinkType};
///
/// let frame = FrameBuilder::new()
///     .ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
///     .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
///     .udp(5353, 53)
///     .payload(&[0; 12])
///     .build();
/// let mut layers = Layers::new();
/// decode(&frame, frame.len() as u32, LinkType::Ethernet, &mut layers).unwrap();
/// let seg = &layers.segments()[0];
/// assert_eq!(seg.path.to_string(), "Ethernet/IPv4/UDP");
/// assert_eq!(seg.transport.unwrap().dst_port, 53);
/// ```
pub fn decode<'p>(
    frame: &'p [u8],
    wire_len: u32,
    link: LinkType,
    out: &mut Layers<'p>,
) -> Result<(), DecodeError> {
    out.clear();
    decode_with(frame, wire_len, link, |seg| out.push(*seg))
}

/// Decodes `frame` segment by segment, handing each complete one to `visit`, outermost
/// first; `visit` returns `false` to stop there. Only one segment exists at a time (on the
/// stack), which is what the flow table uses: no [`Layers`] to initialise per packet.
/// On error, the segments before it have been visited.
pub fn decode_with<'p>(
    frame: &'p [u8],
    wire_len: u32,
    link: LinkType,
    visit: impl FnMut(&Segment<'p>) -> bool,
) -> Result<(), DecodeError> {
    let mut d = Decoder {
        cur: Cursor::new(frame),
        end: frame.len(),
        seg: Segment::EMPTY,
        seg_start: 0,
        count: 0,
        stopped: false,
        visit,
    };
    d.seg.length = wire_len.max(u32::try_from(frame.len()).unwrap_or(u32::MAX));
    let first = match link {
        LinkType::Ethernet => Next::Ethernet,
        LinkType::Ipv4 => Next::Ipv4,
        LinkType::Ipv6 => Next::Ipv6,
        LinkType::RawIp => d.guess_ip()?,
        LinkType::LinuxSll => Next::LinuxSll,
    };
    d.run(first)
}

/// What to decode next.
#[derive(Clone, Copy)]
enum Next {
    Ethernet,
    LinuxSll,
    EtherType(u16),
    Ipv4,
    Ipv6,
    Ip(u8),
    Vxlan,
    Geneve,
    Gre,
    Mpls(TunnelKind),
    Done,
}

struct Decoder<'p, V> {
    cur: Cursor<'p>,
    /// Offset of the cursor's end in the frame (moves when IP lengths trim padding).
    end: usize,
    seg: Segment<'p>,
    /// Offset where the current segment starts.
    seg_start: usize,
    /// Segments visited so far.
    count: usize,
    /// The visitor asked to stop.
    stopped: bool,
    visit: V,
}

impl<'p, V: FnMut(&Segment<'p>) -> bool> Decoder<'p, V> {
    fn run(&mut self, mut next: Next) -> Result<(), DecodeError> {
        loop {
            if self.stopped {
                return Ok(());
            }
            next = match next {
                Next::Ethernet => self.ethernet()?,
                Next::LinuxSll => self.linux_sll()?,
                Next::EtherType(t) => self.ether_type(t)?,
                Next::Ipv4 => self.ipv4()?,
                Next::Ipv6 => self.ipv6()?,
                Next::Ip(proto) => self.ip_payload(proto)?,
                Next::Vxlan => self.vxlan()?,
                Next::Geneve => self.geneve()?,
                Next::Gre => self.gre()?,
                Next::Mpls(kind) => self.mpls(kind)?,
                Next::Done => return self.finish(),
            };
        }
    }

    fn offset(&self) -> usize {
        self.end - self.cur.remaining()
    }

    fn push(&mut self, kind: LayerKind) -> Result<(), DecodeError> {
        if self.seg.path.push(kind) {
            Ok(())
        } else {
            Err(DecodeError::TooDeep(kind, MAX_PATH as u8))
        }
    }

    /// Trims the cursor to `len` bytes: what follows is link padding, not this packet.
    fn limit(&mut self, len: usize) {
        let start = self.offset();
        self.cur.truncate(len);
        self.end = start + self.cur.remaining();
    }

    /// Hands the current segment to the visitor.
    fn finish(&mut self) -> Result<(), DecodeError> {
        if self.count >= MAX_SEGMENTS {
            return Err(DecodeError::TooDeep(
                self.seg.path.last().unwrap_or(LayerKind::Ethernet),
                MAX_SEGMENTS as u8,
            ));
        }
        self.count += 1;
        self.stopped = !(self.visit)(&self.seg);
        Ok(())
    }

    /// Ends the current segment at an encapsulation header and starts the inner one.
    fn split(&mut self, tunnel: LayerKind) -> Result<(), DecodeError> {
        self.finish()?;
        if self.count >= MAX_SEGMENTS {
            return Err(DecodeError::TooDeep(tunnel, MAX_SEGMENTS as u8));
        }
        let here = self.offset();
        let consumed = u32::try_from(here - self.seg_start).unwrap_or(u32::MAX);
        let length = self.seg.length.saturating_sub(consumed);
        self.seg = Segment::EMPTY;
        self.seg.length = length;
        self.seg_start = here;
        Ok(())
    }

    fn guess_ip(&self) -> Result<Next, DecodeError> {
        match self.cur.rest().first().map(|b| b >> 4) {
            Some(4) => Ok(Next::Ipv4),
            Some(6) => Ok(Next::Ipv6),
            Some(_) => Err(DecodeError::Invalid(
                LayerKind::Ipv4,
                "raw IP frame is neither IPv4 nor IPv6",
            )),
            None => Err(DecodeError::Truncated(LayerKind::Ipv4)),
        }
    }

    fn ethernet(&mut self) -> Result<Next, DecodeError> {
        let truncated = DecodeError::Truncated(LayerKind::Ethernet);
        let dst = self.cur.array::<6>().ok_or(truncated)?;
        let src = self.cur.array::<6>().ok_or(truncated)?;
        let ether_type = self.cur.u16().ok_or(truncated)?;
        self.push(LayerKind::Ethernet)?;
        self.seg.link = Some(Ethernet {
            src,
            dst,
            vlan_id: 0,
            vlan_count: 0,
        });
        if ether_type < 0x0600 {
            // An 802.3 length, not a type: LLC follows. Named, not decoded.
            self.push(LayerKind::Llc)?;
            return Ok(Next::Done);
        }
        Ok(Next::EtherType(ether_type))
    }

    fn linux_sll(&mut self) -> Result<Next, DecodeError> {
        let hdr = self
            .cur
            .array::<16>()
            .ok_or(DecodeError::Truncated(LayerKind::LinuxSll))?;
        let proto = u16::from_be_bytes([hdr[14], hdr[15]]);
        self.push(LayerKind::LinuxSll)?;
        Ok(Next::EtherType(proto))
    }

    fn ether_type(&mut self, ether_type: u16) -> Result<Next, DecodeError> {
        Ok(match ether_type {
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => self.vlan()?,
            ETH_IPV4 => Next::Ipv4,
            ETH_IPV6 => Next::Ipv6,
            ETH_ARP => {
                self.push(LayerKind::Arp)?;
                Next::Done
            }
            ETH_MPLS | ETH_MPLS_MULTICAST => Next::Mpls(TunnelKind::Mpls),
            _ => Next::Done,
        })
    }

    fn vlan(&mut self) -> Result<Next, DecodeError> {
        let truncated = DecodeError::Truncated(LayerKind::Dot1Q);
        let tci = self.cur.u16().ok_or(truncated)?;
        let next = self.cur.u16().ok_or(truncated)?;
        let Some(link) = self.seg.link.as_mut() else {
            return Err(DecodeError::Invalid(
                LayerKind::Dot1Q,
                "VLAN tag without an Ethernet header",
            ));
        };
        if link.vlan_count as usize >= MAX_VLANS {
            return Err(DecodeError::TooDeep(LayerKind::Dot1Q, MAX_VLANS as u8));
        }
        // Outermost tag in the low bits, as Skydive's Link.ID.
        link.vlan_id |= u64::from(tci & 0x0fff) << (12 * u32::from(link.vlan_count));
        link.vlan_count += 1;
        self.push(LayerKind::Dot1Q)?;
        Ok(Next::EtherType(next))
    }

    fn ipv4(&mut self) -> Result<Next, DecodeError> {
        let truncated = DecodeError::Truncated(LayerKind::Ipv4);
        let hdr = self.cur.array::<12>().ok_or(truncated)?;
        let src = self.cur.array::<4>().ok_or(truncated)?;
        let dst = self.cur.array::<4>().ok_or(truncated)?;
        if hdr[0] >> 4 != 4 {
            return Err(DecodeError::Invalid(LayerKind::Ipv4, "version is not 4"));
        }
        let header_len = usize::from(hdr[0] & 0x0f) * 4;
        if header_len < 20 {
            return Err(DecodeError::Invalid(
                LayerKind::Ipv4,
                "header length below 20 bytes",
            ));
        }
        let total_len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        if total_len < header_len {
            return Err(DecodeError::Invalid(
                LayerKind::Ipv4,
                "total length below header length",
            ));
        }
        self.cur.skip(header_len - 20).ok_or(truncated)?;
        self.limit(total_len - header_len);
        let protocol = hdr[9];
        self.seg.ip_length = total_len as u32;
        self.seg.network = Some(Network::V4 {
            src,
            dst,
            protocol,
            ttl: hdr[8],
        });
        self.push(LayerKind::Ipv4)?;
        let flags_offset = u16::from_be_bytes([hdr[6], hdr[7]]);
        let more_fragments = flags_offset & 0x2000 != 0;
        if flags_offset & 0x1fff != 0 {
            self.seg.fragment = Fragment::Later;
            self.push(LayerKind::Fragment)?;
            return Ok(Next::Done);
        }
        if more_fragments {
            self.seg.fragment = Fragment::First;
        }
        Ok(Next::Ip(protocol))
    }

    fn ipv6(&mut self) -> Result<Next, DecodeError> {
        let truncated = DecodeError::Truncated(LayerKind::Ipv6);
        let hdr = self.cur.array::<8>().ok_or(truncated)?;
        let src = self.cur.array::<16>().ok_or(truncated)?;
        let dst = self.cur.array::<16>().ok_or(truncated)?;
        if hdr[0] >> 4 != 6 {
            return Err(DecodeError::Invalid(LayerKind::Ipv6, "version is not 6"));
        }
        let payload_len = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
        if payload_len > 0 {
            self.limit(payload_len);
            self.seg.ip_length = 40 + payload_len as u32;
        } else {
            // Jumbogram (or a sender that left it 0): count what is there.
            self.seg.ip_length = 40 + u32::try_from(self.cur.remaining()).unwrap_or(0);
        }
        self.push(LayerKind::Ipv6)?;
        let (protocol, later_fragment) = self.ipv6_extensions(hdr[6])?;
        self.seg.network = Some(Network::V6 {
            src,
            dst,
            protocol,
            hop_limit: hdr[7],
        });
        if later_fragment {
            return Ok(Next::Done);
        }
        Ok(Next::Ip(protocol))
    }

    /// Walks IPv6 extension headers; returns the upper protocol and whether this is a
    /// non-first fragment (which carries no upper header).
    fn ipv6_extensions(&mut self, mut next: u8) -> Result<(u8, bool), DecodeError> {
        for _ in 0..MAX_IPV6_EXTENSIONS {
            let kind = match next {
                0 => LayerKind::Ipv6HopByHop,
                43 => LayerKind::Ipv6Routing,
                60 => LayerKind::Ipv6Destination,
                44 => LayerKind::Ipv6Fragment,
                51 => LayerKind::IpSecAh,
                _ => return Ok((next, false)),
            };
            let truncated = DecodeError::Truncated(kind);
            let head = self.cur.array::<2>().ok_or(truncated)?;
            next = head[0];
            if kind == LayerKind::Ipv6Fragment {
                let body = self.cur.array::<6>().ok_or(truncated)?;
                self.push(kind)?;
                let offset_flags = u16::from_be_bytes([body[0], body[1]]);
                if offset_flags >> 3 != 0 {
                    self.seg.fragment = Fragment::Later;
                    return Ok((next, true));
                }
                if offset_flags & 1 != 0 {
                    self.seg.fragment = Fragment::First;
                }
                continue;
            }
            let len = if kind == LayerKind::IpSecAh {
                (usize::from(head[1]) + 2) * 4
            } else {
                (usize::from(head[1]) + 1) * 8
            };
            self.cur.skip(len - 2).ok_or(truncated)?;
            self.push(kind)?;
        }
        Err(DecodeError::TooDeep(LayerKind::Ipv6, MAX_IPV6_EXTENSIONS))
    }

    fn ip_payload(&mut self, protocol: u8) -> Result<Next, DecodeError> {
        match protocol {
            6 => self.tcp(),
            17 => self.udp(),
            132 => self.sctp(),
            1 => self.icmpv4(),
            58 => self.icmpv6(),
            47 => Ok(Next::Gre),
            4 | 41 => {
                self.seg.tunnel = Some((TunnelKind::IpInIp, 0));
                let kind = self.seg.path.last().unwrap_or(LayerKind::Ipv4);
                self.split(kind)?;
                Ok(if protocol == 4 {
                    Next::Ipv4
                } else {
                    Next::Ipv6
                })
            }
            50 => {
                self.push(LayerKind::IpSecEsp)?;
                Ok(Next::Done)
            }
            _ => Ok(Next::Done),
        }
    }

    fn tcp(&mut self) -> Result<Next, DecodeError> {
        let hdr = self
            .cur
            .array::<20>()
            .ok_or(DecodeError::Truncated(LayerKind::Tcp))?;
        if hdr[12] >> 4 < 5 {
            return Err(DecodeError::Invalid(LayerKind::Tcp, "data offset below 5"));
        }
        self.push(LayerKind::Tcp)?;
        self.seg.transport = Some(Transport {
            kind: TransportKind::Tcp,
            src_port: u16::from_be_bytes([hdr[0], hdr[1]]),
            dst_port: u16::from_be_bytes([hdr[2], hdr[3]]),
            tcp_flags: hdr[13],
        });
        Ok(Next::Done)
    }

    fn udp(&mut self) -> Result<Next, DecodeError> {
        let hdr = self
            .cur
            .array::<8>()
            .ok_or(DecodeError::Truncated(LayerKind::Udp))?;
        let dst_port = u16::from_be_bytes([hdr[2], hdr[3]]);
        self.push(LayerKind::Udp)?;
        self.seg.transport = Some(Transport {
            kind: TransportKind::Udp,
            src_port: u16::from_be_bytes([hdr[0], hdr[1]]),
            dst_port,
            tcp_flags: 0,
        });
        // A later fragment never gets here; a first fragment's tunnel payload is cut, so it
        // is not decoded as a tunnel.
        if self.seg.fragment != Fragment::None {
            return Ok(Next::Done);
        }
        Ok(match dst_port {
            UDP_VXLAN => Next::Vxlan,
            UDP_GENEVE => Next::Geneve,
            UDP_MPLS => Next::Mpls(TunnelKind::MplsUdp),
            _ => Next::Done,
        })
    }

    fn sctp(&mut self) -> Result<Next, DecodeError> {
        let hdr = self
            .cur
            .array::<12>()
            .ok_or(DecodeError::Truncated(LayerKind::Sctp))?;
        self.push(LayerKind::Sctp)?;
        self.seg.transport = Some(Transport {
            kind: TransportKind::Sctp,
            src_port: u16::from_be_bytes([hdr[0], hdr[1]]),
            dst_port: u16::from_be_bytes([hdr[2], hdr[3]]),
            tcp_flags: 0,
        });
        Ok(Next::Done)
    }

    fn icmpv4(&mut self) -> Result<Next, DecodeError> {
        let hdr = self
            .cur
            .array::<8>()
            .ok_or(DecodeError::Truncated(LayerKind::Icmpv4))?;
        let icmp_type = hdr[0];
        // Only query messages carry an identifier in bytes 4..6.
        let id = match icmp_type {
            0 | 8 | 13 | 14 | 15 | 16 | 17 | 18 => u16::from_be_bytes([hdr[4], hdr[5]]),
            _ => 0,
        };
        self.push(LayerKind::Icmpv4)?;
        self.seg.icmp = Some(Icmp {
            version: IcmpVersion::V4,
            icmp_type,
            code: hdr[1],
            id,
        });
        Ok(Next::Done)
    }

    fn icmpv6(&mut self) -> Result<Next, DecodeError> {
        let hdr = self
            .cur
            .array::<4>()
            .ok_or(DecodeError::Truncated(LayerKind::Icmpv6))?;
        self.push(LayerKind::Icmpv6)?;
        let icmp_type = hdr[0];
        let mut id = 0;
        if matches!(icmp_type, 128 | 129) {
            let echo = self
                .cur
                .array::<4>()
                .ok_or(DecodeError::Truncated(LayerKind::Icmpv6Echo))?;
            id = u16::from_be_bytes([echo[0], echo[1]]);
            self.push(LayerKind::Icmpv6Echo)?;
        }
        self.seg.icmp = Some(Icmp {
            version: IcmpVersion::V6,
            icmp_type,
            code: hdr[1],
            id,
        });
        Ok(Next::Done)
    }

    fn vxlan(&mut self) -> Result<Next, DecodeError> {
        let hdr = self
            .cur
            .array::<8>()
            .ok_or(DecodeError::Truncated(LayerKind::Vxlan))?;
        let vni = u32::from_be_bytes([0, hdr[4], hdr[5], hdr[6]]);
        self.push(LayerKind::Vxlan)?;
        self.seg.tunnel = Some((TunnelKind::Vxlan, vni));
        self.split(LayerKind::Vxlan)?;
        Ok(Next::Ethernet)
    }

    fn geneve(&mut self) -> Result<Next, DecodeError> {
        let truncated = DecodeError::Truncated(LayerKind::Geneve);
        let hdr = self.cur.array::<8>().ok_or(truncated)?;
        if hdr[0] >> 6 != 0 {
            return Err(DecodeError::Invalid(LayerKind::Geneve, "version is not 0"));
        }
        self.cur
            .skip(usize::from(hdr[0] & 0x3f) * 4)
            .ok_or(truncated)?;
        let protocol = u16::from_be_bytes([hdr[2], hdr[3]]);
        let vni = u32::from_be_bytes([0, hdr[4], hdr[5], hdr[6]]);
        self.push(LayerKind::Geneve)?;
        self.seg.tunnel = Some((TunnelKind::Geneve, vni));
        self.inner_by_ether_type(LayerKind::Geneve, protocol)
    }

    fn gre(&mut self) -> Result<Next, DecodeError> {
        let truncated = DecodeError::Truncated(LayerKind::Gre);
        let flags = self.cur.u16().ok_or(truncated)?;
        let protocol = self.cur.u16().ok_or(truncated)?;
        self.push(LayerKind::Gre)?;
        if flags & 0x0007 != 0 {
            // Version 1 is PPTP's enhanced GRE: not a tunnel we split.
            self.seg.tunnel = Some((TunnelKind::Gre, 0));
            return Ok(Next::Done);
        }
        if flags & 0x4000 != 0 {
            return Err(DecodeError::Invalid(
                LayerKind::Gre,
                "routing present (obsolete RFC 1701 form)",
            ));
        }
        if flags & 0x8000 != 0 {
            self.cur.skip(4).ok_or(truncated)?; // checksum + reserved
        }
        let key = if flags & 0x2000 != 0 {
            self.cur.u32().ok_or(truncated)?
        } else {
            0
        };
        if flags & 0x1000 != 0 {
            self.cur.skip(4).ok_or(truncated)?; // sequence number
        }
        self.seg.tunnel = Some((TunnelKind::Gre, key));
        if matches!(protocol, ETH_MPLS | ETH_MPLS_MULTICAST) {
            // Skydive splits GRE+MPLS after the labels, not between them.
            return Ok(Next::Mpls(TunnelKind::Gre));
        }
        self.inner_by_ether_type(LayerKind::Gre, protocol)
    }

    /// Splits after a tunnel header whose payload is named by an EtherType.
    fn inner_by_ether_type(
        &mut self,
        tunnel: LayerKind,
        protocol: u16,
    ) -> Result<Next, DecodeError> {
        let next = match protocol {
            ETH_TEB => Next::Ethernet,
            ETH_IPV4 => Next::Ipv4,
            ETH_IPV6 => Next::Ipv6,
            // Unknown payload: the outer flow ends with the tunnel header.
            _ => return Ok(Next::Done),
        };
        self.split(tunnel)?;
        Ok(next)
    }

    fn mpls(&mut self, kind: TunnelKind) -> Result<Next, DecodeError> {
        let mut bottom = false;
        for _ in 0..MAX_MPLS_LABELS {
            let label = self
                .cur
                .u32()
                .ok_or(DecodeError::Truncated(LayerKind::Mpls))?;
            self.push(LayerKind::Mpls)?;
            if label & 0x100 != 0 {
                bottom = true;
                break;
            }
        }
        if !bottom {
            return Err(DecodeError::TooDeep(LayerKind::Mpls, MAX_MPLS_LABELS));
        }
        if self.seg.tunnel.is_none() {
            self.seg.tunnel = Some((kind, 0));
        }
        // MPLS does not say what it carries: IP by its version nibble, else Ethernet.
        let next = match self.cur.rest().first().map(|b| b >> 4) {
            None => return Ok(Next::Done),
            Some(4) => Next::Ipv4,
            Some(6) => Next::Ipv6,
            Some(_) => Next::Ethernet,
        };
        self.split(LayerKind::Mpls)?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests;

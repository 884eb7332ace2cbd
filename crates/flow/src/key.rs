//! Flow keys: [`FlowKey`], the fixed-size, direction-independent identity of a flow in a
//! table, and the stable ids derived from it (`TrackingID`, `L3TrackingID`, `UUID`).
//!
//! # Canonical order
//! A packet's two endpoints, each `(IP address, port, MAC)`, are compared and stored low
//! side first, so A→B and B→A packets build the same key; the returned `swapped` flag says
//! which way this packet went. In L3 key mode the MACs are left out (when there is an IP
//! layer), so one flow survives MAC rewrites. UDP tunnels (VXLAN, Geneve, MPLS-in-UDP) are
//! keyed on their destination port and tunnel id instead of the source port, which their
//! senders pick per inner flow.
//!
//! # Two hashes, for two jobs
//! - [`FlowKey::table_hash`] is the hot path: computed once per packet from the key's ten
//!   64-bit words with a seeded folded-multiply mix (32 bits out), then handed to the table,
//!   which keeps it beside the entry's index and never hashes again, not even to grow. Hand-written because a generic `Hasher` walks the struct field by field
//!   through `write_u8`/`write_u16` calls, and SipHash (std's default) costs several times
//!   more for the same 80 bytes; the seed is random per table so crafted traffic cannot aim
//!   for collisions.
//! - [`FlowKey::ids`] is computed once per new flow: XXH3-64 (seed 0) over the key's bytes
//!   in a fixed order, so the ids are a pure function of packet headers, equal on every
//!   host.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::flow::IcmpType;
use crate::flow_update::NetworkInfo;
use crate::layers::{Fragment, Network, Segment};

/// Which layers identify a flow (`flow.default_layer_key_mode`, a capture's `LayerKeyMode`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum LayerKeyMode {
    /// MAC addresses, then IP and L4 (Skydive's default).
    #[default]
    L2,
    /// IP and L4 only (MACs only when there is no IP layer).
    L3,
}

impl LayerKeyMode {
    pub const fn name(self) -> &'static str {
        match self {
            LayerKeyMode::L2 => "L2",
            LayerKeyMode::L3 => "L3",
        }
    }
}

/// Network layer kind in a key.
const NET_NONE: u8 = 0;
const NET_V4: u8 = 4;
const NET_V6: u8 = 6;

/// Key flag: a non-first IP fragment (no ports).
const FLAG_LATER_FRAGMENT: u8 = 1;

/// The identity of a flow in a table. Fixed-size (80 bytes), `Copy`. Addresses, MACs and
/// ports are kept as integers: they are compared, ordered and hashed as such, without
/// byte shuffling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    /// IP addresses, big-endian value (an IPv4 address in the top 32 bits).
    lo_addr: u128,
    hi_addr: u128,
    /// MAC (48 bits) << 16 | port.
    lo_mac_port: u64,
    hi_mac_port: u64,
    /// Stacked VLAN ids (`Link.ID`): in the table key, not in the tracking ids.
    link_id: u64,
    /// UUID of the enclosing flow, 0 for an outermost one.
    parent: u64,
    /// Tunnel id this segment ends with (`Network.ID`).
    net_id: u32,
    /// ICMP kind << 24 | code << 16 | identifier.
    icmp: u32,
    net: u8,
    /// IP protocol (0 without IP).
    proto: u8,
    flags: u8,
}

impl FlowKey {
    /// The key's first 8 bytes (a read of its first cache line, for [`FlowTable::warm`]).
    ///
    /// [`FlowTable::warm`]: crate::FlowTable::warm
    #[inline]
    pub(crate) fn first_word(&self) -> u64 {
        self.lo_addr as u64
    }

    /// Builds the key of `seg`; `swapped` is true when the packet went from the high
    /// endpoint to the low one.
    pub fn new(seg: &Segment<'_>, parent: u64, mode: LayerKeyMode) -> (FlowKey, bool) {
        let (net, proto, src_addr, dst_addr) = match seg.network {
            Some(Network::V4 {
                src, dst, protocol, ..
            }) => (
                NET_V4,
                protocol,
                u128::from(u32::from_be_bytes(*src)) << 96,
                u128::from(u32::from_be_bytes(*dst)) << 96,
            ),
            Some(Network::V6 {
                src, dst, protocol, ..
            }) => (
                NET_V6,
                protocol,
                u128::from_be_bytes(*src),
                u128::from_be_bytes(*dst),
            ),
            None => (NET_NONE, 0, 0, 0),
        };
        let (src_port, dst_port) = match seg.transport {
            Some(t) if seg.tunnel.is_some_and(|(kind, _)| kind.is_udp()) => {
                (t.dst_port, t.dst_port)
            }
            Some(t) => (t.src_port, t.dst_port),
            None => (0, 0),
        };
        let use_macs = mode == LayerKeyMode::L2 || net == NET_NONE;
        let (src_mac, dst_mac) = match seg.link {
            Some(link) if use_macs => (mac_value(link.src), mac_value(link.dst)),
            _ => (0, 0),
        };
        let src = (src_addr, src_mac << 16 | u64::from(src_port));
        let dst = (dst_addr, dst_mac << 16 | u64::from(dst_port));
        // Address, then port, then MAC: any fixed order makes both directions one key.
        let rank = |e: &(u128, u64)| (e.0, e.1 & 0xffff, e.1 >> 16);
        let swapped = rank(&src) > rank(&dst);
        let (lo, hi) = if swapped { (dst, src) } else { (src, dst) };
        let key = FlowKey {
            lo_addr: lo.0,
            hi_addr: hi.0,
            lo_mac_port: lo.1,
            hi_mac_port: hi.1,
            link_id: seg.link.map_or(0, |l| l.vlan_id),
            parent,
            net_id: seg.tunnel_id(),
            icmp: seg.icmp.map_or(0, |i| {
                let kind = IcmpType::from_raw(i.version, i.icmp_type) as u32;
                kind << 24 | u32::from(i.code) << 16 | u32::from(i.id)
            }),
            net,
            proto,
            flags: if seg.fragment == Fragment::Later {
                FLAG_LATER_FRAGMENT
            } else {
                0
            },
        };
        (key, swapped)
    }

    /// The key as ten 64-bit words: what both hashes read.
    #[inline]
    fn words(&self) -> [u64; 10] {
        [
            (self.lo_addr >> 64) as u64,
            self.lo_addr as u64,
            (self.hi_addr >> 64) as u64,
            self.hi_addr as u64,
            self.lo_mac_port,
            self.hi_mac_port,
            self.link_id,
            self.parent,
            u64::from(self.net_id) << 32 | u64::from(self.icmp),
            u64::from(self.net) << 16 | u64::from(self.proto) << 8 | u64::from(self.flags),
        ]
    }

    /// The table's hash: five folded multiplies over the key's words, keyed by `seed`,
    /// folded to 32 bits (what a table slot keeps).
    #[inline]
    pub fn table_hash(&self, seed: u64) -> u32 {
        const K: [u64; 5] = [
            0x243f_6a88_85a3_08d3,
            0x1319_8a2e_0370_7344,
            0xa409_3822_299f_31d0,
            0x082e_fa98_ec4e_6c89,
            0x4528_21e6_38d0_1377,
        ];
        let w = self.words();
        let mut h = seed;
        for i in 0..5 {
            h = h.rotate_left(23) ^ fold_mul(w[2 * i] ^ K[i] ^ seed, w[2 * i + 1] ^ K[4 - i]);
        }
        let h = fold_mul(h, 0x9e37_79b9_7f4a_7c15);
        (h ^ (h >> 32)) as u32
    }

    /// The parent flow's UUID this key was built with.
    pub fn parent(&self) -> u64 {
        self.parent
    }

    /// The network layer, oriented: A is the high endpoint when `a_is_hi` (the first
    /// packet's `swapped` flag).
    pub(crate) fn network(&self, a_is_hi: bool) -> Option<NetworkInfo> {
        let addr = |v: u128| match self.net {
            NET_V4 => Some(IpAddr::V4(Ipv4Addr::from((v >> 96) as u32))),
            NET_V6 => Some(IpAddr::V6(Ipv6Addr::from(v))),
            _ => None,
        };
        let (lo, hi) = (addr(self.lo_addr)?, addr(self.hi_addr)?);
        let (a, b) = if a_is_hi { (hi, lo) } else { (lo, hi) };
        Some(NetworkInfo {
            a,
            b,
            id: self.net_id,
        })
    }

    /// `(TrackingID, L3TrackingID, table key)` hashes: stable, seed 0.
    ///
    /// L3TrackingID covers the IP addresses, IP protocol, ports, tunnel id and ICMP kind;
    /// TrackingID adds the MACs in L2 mode (it equals L3TrackingID in L3 mode); for a flow
    /// without IP both are the MAC hash. Neither includes VLAN ids or the parent, so the same
    /// conversation has the same ids inside and outside a tunnel, tagged or not.
    pub fn ids(&self) -> StableIds {
        // The key's words in a fixed order: the L3 part (addresses, tunnel id and ICMP,
        // protocol, ports), then the MACs, then VLANs and parent. Each id hashes a prefix
        // (XXH3-64, seed 0: fast on short inputs).
        let w = self.words();
        let ports = (self.lo_mac_port & 0xffff) << 16 | (self.hi_mac_port & 0xffff);
        let macs = [self.lo_mac_port >> 16, self.hi_mac_port >> 16];
        let mut buf = [0u8; 88];
        let order = [
            w[0], w[1], w[2], w[3], w[8], w[9], ports, macs[0], macs[1], w[6], w[7],
        ];
        for (i, word) in order.iter().enumerate() {
            buf[i * 8..i * 8 + 8].copy_from_slice(&word.to_le_bytes());
        }
        let has_macs = macs != [0, 0];
        let l3 = xxh3_64(&buf[..56]);
        let l2 = if has_macs || self.net == NET_NONE {
            xxh3_64(&buf[..72])
        } else {
            l3
        };
        StableIds {
            tracking: l2,
            l3_tracking: if self.net == NET_NONE { l2 } else { l3 },
            key: xxh3_64(&buf),
        }
    }
}

/// Hashes that name a flow outside the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StableIds {
    pub tracking: u64,
    pub l3_tracking: u64,
    /// The full key (parent and VLANs included): the seed of the UUID.
    pub key: u64,
}

impl StableIds {
    /// Skydive's UUID: a hash of the key hash, the start time (epoch ms) and the capture
    /// node.
    pub fn uuid(&self, start_ms: i64, node_tid: &str) -> u64 {
        let node = xxh3_64(node_tid.as_bytes());
        xxh3_64_with_seed(&start_ms.to_be_bytes(), self.key ^ node)
    }
}

/// A MAC address as a 48-bit number.
#[inline]
fn mac_value(mac: &[u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]])
}

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FrameBuilder, Layers, LinkType, decode};

    const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
    const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];

    fn key_of(frame: &[u8], mode: LayerKeyMode) -> (FlowKey, bool) {
        let mut layers = Layers::new();
        decode(frame, frame.len() as u32, LinkType::Ethernet, &mut layers).unwrap();
        FlowKey::new(&layers.segments()[0], 0, mode)
    }

    fn tcp(
        mac_src: [u8; 6],
        mac_dst: [u8; 6],
        src: [u8; 4],
        dst: [u8; 4],
        sp: u16,
        dp: u16,
    ) -> Vec<u8> {
        FrameBuilder::new()
            .ethernet(mac_src, mac_dst)
            .ipv4(src, dst)
            .tcp(sp, dp, 0x10)
            .build()
    }

    #[test]
    fn both_directions_give_one_key() {
        let ab = tcp(MAC_A, MAC_B, [10, 0, 0, 1], [10, 0, 0, 2], 40000, 80);
        let ba = tcp(MAC_B, MAC_A, [10, 0, 0, 2], [10, 0, 0, 1], 80, 40000);
        for mode in [LayerKeyMode::L2, LayerKeyMode::L3] {
            let (k1, s1) = key_of(&ab, mode);
            let (k2, s2) = key_of(&ba, mode);
            assert_eq!(k1, k2);
            assert_ne!(s1, s2);
            assert_eq!(k1.table_hash(7), k2.table_hash(7));
            assert_eq!(k1.ids(), k2.ids());
        }
    }

    #[test]
    fn l3_mode_ignores_macs_and_l3_id_survives_routing() {
        let before = tcp(MAC_A, MAC_B, [10, 0, 0, 1], [10, 0, 1, 2], 40000, 80);
        let after = tcp(
            [2, 0, 0, 0, 0, 0xc],
            [2, 0, 0, 0, 0, 0xd],
            [10, 0, 0, 1],
            [10, 0, 1, 2],
            40000,
            80,
        );
        let (l2a, _) = key_of(&before, LayerKeyMode::L2);
        let (l2b, _) = key_of(&after, LayerKeyMode::L2);
        assert_ne!(l2a, l2b);
        assert_ne!(l2a.ids().tracking, l2b.ids().tracking);
        assert_eq!(l2a.ids().l3_tracking, l2b.ids().l3_tracking);
        let (l3a, _) = key_of(&before, LayerKeyMode::L3);
        let (l3b, _) = key_of(&after, LayerKeyMode::L3);
        assert_eq!(l3a, l3b);
        assert_eq!(l3a.ids().tracking, l3a.ids().l3_tracking);
        assert_eq!(l3a.ids().l3_tracking, l2a.ids().l3_tracking);
    }

    #[test]
    fn ports_and_parents_separate_flows() {
        let a = tcp(MAC_A, MAC_B, [10, 0, 0, 1], [10, 0, 0, 2], 40000, 80);
        let b = tcp(MAC_A, MAC_B, [10, 0, 0, 1], [10, 0, 0, 2], 40001, 80);
        let (ka, _) = key_of(&a, LayerKeyMode::L2);
        let (kb, _) = key_of(&b, LayerKeyMode::L2);
        assert_ne!(ka, kb);
        assert_ne!(ka.table_hash(1), kb.table_hash(1));
        let mut layers = Layers::new();
        decode(&a, a.len() as u32, LinkType::Ethernet, &mut layers).unwrap();
        let (inner, _) = FlowKey::new(&layers.segments()[0], 42, LayerKeyMode::L2);
        assert_ne!(inner, ka);
        assert_eq!(
            inner.ids().tracking,
            ka.ids().tracking,
            "the parent is not in the tracking id"
        );
        assert_ne!(inner.ids().key, ka.ids().key);
    }

    #[test]
    fn uuid_depends_on_start_and_node() {
        let a = tcp(MAC_A, MAC_B, [10, 0, 0, 1], [10, 0, 0, 2], 40000, 80);
        let ids = key_of(&a, LayerKeyMode::L2).0.ids();
        assert_ne!(ids.uuid(1, "n1"), ids.uuid(2, "n1"));
        assert_ne!(ids.uuid(1, "n1"), ids.uuid(1, "n2"));
        assert_eq!(ids.uuid(1, "n1"), ids.uuid(1, "n1"));
    }

    #[test]
    fn table_hash_depends_on_seed() {
        let a = tcp(MAC_A, MAC_B, [10, 0, 0, 1], [10, 0, 0, 2], 40000, 80);
        let (k, _) = key_of(&a, LayerKeyMode::L2);
        assert_ne!(k.table_hash(1), k.table_hash(2));
    }
}

//! Neighbour entries (`RTM_NEWNEIGH`): ARP/NDP entries become an interface's `Neighbors`,
//! bridge forwarding entries (`AF_BRIDGE`) its `FDB`, both in Skydive's `Neighbor` shape
//! (`topology/neighbors.go`): `{IP?, MAC?, State?: [NUD_*], Flags?: [NTF_*], IfIndex, Vlan?,
//! VNI?}`. As in Skydive, an entry belongs to the interface its `ndm_ifindex` names: FDB
//! entries learned on a bridge port show on that port, the bridge's own entries on the bridge.

use std::net::IpAddr;

use netlink_packet_route::AddressFamily;
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use serde_json::{Value, json};

use super::link::mac_string;

/// A neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    /// `AF_BRIDGE` entries go to `FDB`, the others to `Neighbors`.
    pub bridge: bool,
    pub ifindex: u32,
    pub ip: Option<IpAddr>,
    pub lladdr: Option<Vec<u8>>,
    pub state: u16,
    pub flags: u8,
    pub vlan: Option<u16>,
    pub vni: Option<u32>,
}

/// Identity of an entry: family, interface, IP, and for FDB entries the MAC, VLAN and whether
/// it is the device's own (`self`) or the bridge's (`master`) entry.
pub type NeighborKey = (bool, u32, Option<IpAddr>, Option<Vec<u8>>, Option<u16>, u8);

const NTF_SELF: u8 = 0x02;
const NTF_MASTER: u8 = 0x04;

impl Neighbor {
    pub fn from_message(m: &NeighbourMessage) -> Option<Neighbor> {
        let bridge = match m.header.family {
            AddressFamily::Inet | AddressFamily::Inet6 => false,
            AddressFamily::Bridge => true,
            _ => return None,
        };
        let mut n = Neighbor {
            bridge,
            ifindex: m.header.ifindex,
            ip: None,
            lladdr: None,
            state: u16::from(m.header.state),
            flags: m.header.flags.bits(),
            vlan: None,
            vni: None,
        };
        for a in &m.attributes {
            match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => {
                    n.ip = Some(IpAddr::V4(*ip))
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => {
                    n.ip = Some(IpAddr::V6(*ip))
                }
                NeighbourAttribute::LinkLayerAddress(mac) if !mac.is_empty() => {
                    n.lladdr = Some(mac.clone())
                }
                NeighbourAttribute::Vlan(v) => n.vlan = Some(*v),
                NeighbourAttribute::Vni(v) => n.vni = Some(*v),
                _ => {}
            }
        }
        Some(n)
    }

    pub fn key(&self) -> NeighborKey {
        if self.bridge {
            (
                true,
                self.ifindex,
                self.ip,
                self.lladdr.clone(),
                self.vlan,
                self.flags & (NTF_SELF | NTF_MASTER),
            )
        } else {
            (false, self.ifindex, self.ip, None, None, 0)
        }
    }

    /// The entry in Skydive's JSON shape.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"IfIndex": self.ifindex});
        if let Some(ip) = self.ip {
            v["IP"] = json!(ip.to_string());
        }
        if let Some(mac) = self.lladdr.as_deref().and_then(mac_string) {
            v["MAC"] = json!(mac);
        }
        let states = state_names(self.state);
        if !states.is_empty() {
            v["State"] = json!(states);
        }
        let flags = flag_names(self.flags);
        if !flags.is_empty() {
            v["Flags"] = json!(flags);
        }
        if let Some(vlan) = self.vlan.filter(|v| *v != 0) {
            v["Vlan"] = json!(vlan);
        }
        if let Some(vni) = self.vni.filter(|v| *v != 0) {
            v["VNI"] = json!(vni);
        }
        v
    }
}

/// `NUD_*` names of the set state bits.
pub fn state_names(state: u16) -> Vec<&'static str> {
    const NAMES: &[&str] = &[
        "NUD_INCOMPLETE",
        "NUD_REACHABLE",
        "NUD_STALE",
        "NUD_DELAY",
        "NUD_PROBE",
        "NUD_FAILED",
        "NUD_NOARP",
        "NUD_PERMANENT",
    ];
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| state & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// `NTF_*` names of the set flag bits (kernel values: `NTF_STICKY` is 0x40, `NTF_ROUTER` 0x80).
pub fn flag_names(flags: u8) -> Vec<&'static str> {
    const NAMES: &[&str] = &[
        "NTF_USE",
        "NTF_SELF",
        "NTF_MASTER",
        "NTF_PROXY",
        "NTF_EXT_LEARNED",
        "NTF_OFFLOADED",
        "NTF_STICKY",
        "NTF_ROUTER",
    ];
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| flags & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::neighbour::{NeighbourFlags, NeighbourHeader, NeighbourState};
    use std::net::Ipv4Addr;

    #[test]
    fn arp_entry_json() {
        let mut m = NeighbourMessage::default();
        m.header = NeighbourHeader {
            family: AddressFamily::Inet,
            ifindex: 4,
            state: NeighbourState::Reachable,
            flags: NeighbourFlags::empty(),
            ..NeighbourHeader::default()
        };
        m.attributes = vec![
            NeighbourAttribute::Destination(NeighbourAddress::Inet(Ipv4Addr::new(10, 99, 1, 2))),
            NeighbourAttribute::LinkLayerAddress(vec![2, 0, 0, 0, 0, 1]),
        ];
        let n = Neighbor::from_message(&m).unwrap();
        assert!(!n.bridge);
        assert_eq!(
            n.to_json(),
            json!({"IfIndex": 4, "IP": "10.99.1.2", "MAC": "02:00:00:00:00:01", "State": ["NUD_REACHABLE"]})
        );
    }

    #[test]
    fn fdb_entry_json_and_key() {
        let mut m = NeighbourMessage::default();
        m.header = NeighbourHeader {
            family: AddressFamily::Bridge,
            ifindex: 5,
            state: NeighbourState::Permanent,
            flags: NeighbourFlags::Own,
            ..NeighbourHeader::default()
        };
        m.attributes = vec![
            NeighbourAttribute::LinkLayerAddress(vec![0x33, 0x33, 0, 0, 0, 1]),
            NeighbourAttribute::Vlan(1),
        ];
        let n = Neighbor::from_message(&m).unwrap();
        assert_eq!(
            n.to_json(),
            json!({"IfIndex": 5, "MAC": "33:33:00:00:00:01", "State": ["NUD_PERMANENT"], "Flags": ["NTF_SELF"], "Vlan": 1})
        );
        let mut master = n.clone();
        master.flags = NTF_MASTER;
        assert_ne!(n.key(), master.key());
        assert_eq!(state_names(0x82), vec!["NUD_REACHABLE", "NUD_PERMANENT"]);
        assert_eq!(flag_names(0xc0), vec!["NTF_STICKY", "NTF_ROUTER"]);
    }
}

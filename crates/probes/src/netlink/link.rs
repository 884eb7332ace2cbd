//! One network interface as the kernel describes it (`RTM_NEWLINK`), reduced to what the
//! graph shows, and the conversions to Skydive's metadata values (`Type`, `State`,
//! `LinkFlags`, `MAC`, `EncapType`). Pure functions: no socket, no graph.

use netlink_packet_route::AddressFamily;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVlan, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage, State, Stats64,
};

/// The attributes of a link the probe uses.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFLA_INFO_KIND`, absent for physical devices and loopback.
    pub kind: Option<String>,
    /// `ifi_type` (ARPHRD_*).
    pub link_layer: u16,
    /// `ifi_flags` (IFF_*).
    pub flags: u32,
    pub mtu: Option<u32>,
    pub address: Option<Vec<u8>>,
    pub oper_state: Option<u8>,
    /// `IFLA_MASTER`: the bridge (or bond, VRF…) this link is enslaved to.
    pub master: Option<u32>,
    /// `IFLA_LINK`: the peer of a veth, the lower device of a VLAN or macvlan.
    pub link: Option<u32>,
    /// `IFLA_LINK_NETNSID`: where `link` lives when it is in another namespace.
    pub link_netnsid: Option<i32>,
    /// `IFLA_VXLAN_LINK`: a VXLAN's underlay device.
    pub vxlan_link: Option<u32>,
    pub vlan_id: Option<u16>,
    /// Counters; not part of equality-relevant metadata (see [`Link::same_shape`]).
    pub stats: Option<Stats64>,
}

impl Link {
    /// Reads a link message; `None` for messages without a name or for `AF_BRIDGE` port
    /// messages (those only say that bridge-port state changed).
    pub fn from_message(msg: &LinkMessage) -> Option<Link> {
        if msg.header.interface_family == AddressFamily::Bridge {
            return None;
        }
        let mut l = Link {
            index: msg.header.index,
            link_layer: u16::from(msg.header.link_layer_type),
            flags: msg.header.flags.bits(),
            ..Link::default()
        };
        for a in &msg.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n.clone(),
                LinkAttribute::Mtu(m) => l.mtu = Some(*m),
                LinkAttribute::Address(a) => l.address = Some(a.clone()),
                LinkAttribute::OperState(s) => l.oper_state = Some(oper_state_code(*s)),
                LinkAttribute::Controller(m) if *m != 0 => l.master = Some(*m),
                LinkAttribute::Link(i) if *i != 0 => l.link = Some(*i),
                LinkAttribute::LinkNetNsId(id) if *id >= 0 => l.link_netnsid = Some(*id),
                LinkAttribute::Stats64(s) => l.stats = Some(*s),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        match info {
                            LinkInfo::Kind(k) => l.kind = Some(kind_name(k)),
                            LinkInfo::Data(InfoData::Vxlan(v)) => {
                                l.vxlan_link = v.iter().find_map(|x| match x {
                                    InfoVxlan::Link(i) if *i != 0 => Some(*i),
                                    _ => None,
                                });
                            }
                            LinkInfo::Data(InfoData::Vlan(v)) => {
                                l.vlan_id = v.iter().find_map(|x| match x {
                                    InfoVlan::Id(i) => Some(*i),
                                    _ => None,
                                });
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if l.name.is_empty() { None } else { Some(l) }
    }

    /// Whether two snapshots differ only by counters (no metadata besides `Metric` changes).
    pub fn same_shape(&self, other: &Link) -> bool {
        let strip = |l: &Link| Link {
            stats: None,
            ..l.clone()
        };
        strip(self) == strip(other)
    }

    /// Skydive's `Type` before the driver override: the kernel link kind, `device` when none.
    pub fn kind_or_device(&self) -> &str {
        self.kind.as_deref().unwrap_or("device")
    }

    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }
}

fn kind_name(k: &InfoKind) -> String {
    // The crate's Display is the kernel's IFLA_INFO_KIND string (`veth`, `tun`, `openvswitch`…).
    k.to_string()
}

fn oper_state_code(s: State) -> u8 {
    u8::from(s)
}

/// Skydive's `State`: the RFC 2863 operational state, upper-cased as Skydive prints it
/// (`UP`, `DOWN`, `UNKNOWN` for loopback and carrier-less virtual devices, …).
pub fn state_name(oper_state: Option<u8>) -> &'static str {
    match oper_state {
        Some(1) => "NOTPRESENT",
        Some(2) => "DOWN",
        Some(3) => "LOWERLAYERDOWN",
        Some(4) => "TESTING",
        Some(5) => "DORMANT",
        Some(6) => "UP",
        _ => "UNKNOWN",
    }
}

const IFF_UP: u32 = 1;

/// `LinkFlags`: names of the set IFF_* flags, in bit order. Skydive's five names (UP,
/// BROADCAST, LOOPBACK, POINTTOPOINT, MULTICAST) plus a few more `ip link` shows.
pub fn flag_names(flags: u32) -> Vec<&'static str> {
    const NAMES: &[(u32, &str)] = &[
        (1 << 0, "UP"),
        (1 << 1, "BROADCAST"),
        (1 << 3, "LOOPBACK"),
        (1 << 4, "POINTTOPOINT"),
        (1 << 6, "RUNNING"),
        (1 << 7, "NOARP"),
        (1 << 8, "PROMISC"),
        (1 << 9, "ALLMULTI"),
        (1 << 10, "MASTER"),
        (1 << 11, "SLAVE"),
        (1 << 12, "MULTICAST"),
        (1 << 16, "LOWER_UP"),
        (1 << 17, "DORMANT"),
    ];
    NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// A hardware address as Go's `net.HardwareAddr.String()` prints it (`aa:bb:…`); `None` when
/// the link has none.
pub fn mac_string(address: &[u8]) -> Option<String> {
    if address.is_empty() {
        return None;
    }
    let mut s = String::with_capacity(address.len() * 3);
    for (i, b) in address.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02x}"));
    }
    Some(s)
}

/// `EncapType`: the link-layer type as Skydive (vishvananda/netlink) names it.
pub fn encap_type(link_layer: u16) -> String {
    match link_layer {
        0 => "generic".into(),
        1 => "ether".into(),
        19 => "atm".into(),
        32 => "infiniband".into(),
        512 => "ppp".into(),
        768 => "ipip".into(),
        769 => "tunnel6".into(),
        772 => "loopback".into(),
        776 => "sit".into(),
        778 => "gre".into(),
        801 => "ieee802.11".into(),
        823 => "ip6gre".into(),
        824 => "netlink".into(),
        0xfffe => "none".into(),
        0xffff => "void".into(),
        other => format!("unknown{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::link::{LinkFlags, LinkHeader, LinkLayerType};

    fn veth_message() -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header = LinkHeader {
            index: 7,
            link_layer_type: LinkLayerType::Ether,
            flags: LinkFlags::Up | LinkFlags::Broadcast | LinkFlags::Multicast | LinkFlags::LowerUp,
            ..LinkHeader::default()
        };
        m.attributes = vec![
            LinkAttribute::IfName("veth0".into()),
            LinkAttribute::Mtu(1500),
            LinkAttribute::Address(vec![0x02, 0, 0, 0, 0, 0xab]),
            LinkAttribute::OperState(State::Up),
            LinkAttribute::Link(8),
            LinkAttribute::LinkNetNsId(2),
            LinkAttribute::Controller(3),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Veth)]),
        ];
        m
    }

    #[test]
    fn veth_message_to_link() {
        let l = Link::from_message(&veth_message()).unwrap();
        assert_eq!(l.index, 7);
        assert_eq!(l.name, "veth0");
        assert_eq!(l.kind_or_device(), "veth");
        assert_eq!(
            (l.link, l.link_netnsid, l.master, l.mtu),
            (Some(8), Some(2), Some(3), Some(1500))
        );
        assert_eq!(state_name(l.oper_state), "UP");
        assert_eq!(
            flag_names(l.flags),
            vec!["UP", "BROADCAST", "MULTICAST", "LOWER_UP"]
        );
        assert_eq!(
            mac_string(l.address.as_deref().unwrap()).as_deref(),
            Some("02:00:00:00:00:ab")
        );
        assert_eq!(encap_type(l.link_layer), "ether");
        assert!(l.is_up());
    }

    #[test]
    fn bridge_family_and_nameless_messages_are_skipped() {
        let mut m = veth_message();
        m.header.interface_family = AddressFamily::Bridge;
        assert!(Link::from_message(&m).is_none());
        assert!(Link::from_message(&LinkMessage::default()).is_none());
    }

    #[test]
    fn loopback_is_a_device_in_unknown_state() {
        let mut m = LinkMessage::default();
        m.header.index = 1;
        m.header.link_layer_type = LinkLayerType::Loopback;
        m.header.flags =
            LinkFlags::Up | LinkFlags::Loopback | LinkFlags::Running | LinkFlags::LowerUp;
        m.attributes = vec![
            LinkAttribute::IfName("lo".into()),
            LinkAttribute::OperState(State::Unknown),
        ];
        let l = Link::from_message(&m).unwrap();
        assert_eq!(l.kind_or_device(), "device");
        assert_eq!(state_name(l.oper_state), "UNKNOWN");
        assert_eq!(
            flag_names(l.flags),
            vec!["UP", "LOOPBACK", "RUNNING", "LOWER_UP"]
        );
        assert_eq!(encap_type(l.link_layer), "loopback");
        assert_eq!(mac_string(&[]), None);
    }

    #[test]
    fn counters_do_not_change_shape() {
        let a = Link::from_message(&veth_message()).unwrap();
        let mut b = a.clone();
        let mut s = Stats64::default();
        s.rx_packets = 3;
        b.stats = Some(s);
        assert!(a.same_shape(&b));
        b.mtu = Some(9000);
        assert!(!a.same_shape(&b));
    }
}

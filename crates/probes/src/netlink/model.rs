//! A mirror of one namespace's kernel state — links, addresses, routes, neighbours — fed by
//! dumps and notifications, and the interface metadata computed from it.
//!
//! The mirror is what makes updates exact: each notification changes the mirror, the
//! interfaces it touched are marked dirty, and their metadata is recomputed as a whole and
//! handed to the graph, which emits an event only for keys whose value changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use netlink_packet_core::NLM_F_REPLACE;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::route::RouteMessage;
use serde_json::{Value, json};

use super::ethtool::EthtoolInfo;
use super::link::{Link, encap_type, flag_names, mac_string, state_name};
use super::neighbor::{Neighbor, NeighborKey};
use super::route::{Route, RouteKey, routing_tables};

/// Metadata keys the netlink probe owns on an interface node: set when known, removed when not.
/// (`Metric`/`LastUpdateMetric` are owned too but written by the metrics poller only.)
pub const MANAGED_KEYS: &[&str] = &[
    "Name",
    "Type",
    "EncapType",
    "IfIndex",
    "Driver",
    "MTU",
    "MAC",
    "State",
    "LinkFlags",
    "IPV4",
    "IPV6",
    "MasterIndex",
    "ParentIndex",
    "PeerIfIndex",
    "LinkNetNsID",
    "LinkNetNsName",
    "Speed",
    "BusInfo",
    "Vlan",
    "RoutingTables",
    "Neighbors",
    "FDB",
    "TID",
];

/// A link and what ethtool said about it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkEntry {
    pub link: Link,
    pub ethtool: EthtoolInfo,
}

impl LinkEntry {
    /// Skydive's `Driver`: ethtool's driver name, `bridge` for bridges that do not say.
    pub fn driver(&self) -> Option<&str> {
        match (&self.ethtool.driver, self.link.kind.as_deref()) {
            (Some(d), _) => Some(d),
            (None, Some("bridge")) => Some("bridge"),
            _ => None,
        }
    }

    /// Skydive's `Type`: the link kind, forced to `veth` when the driver is veth.
    pub fn link_type(&self) -> &str {
        if self.driver() == Some("veth") {
            "veth"
        } else {
            self.link.kind_or_device()
        }
    }

    pub fn is_veth(&self) -> bool {
        self.link_type() == "veth"
    }
}

/// The kernel state of one namespace.
#[derive(Debug, Default)]
pub struct NsModel {
    pub links: BTreeMap<u32, LinkEntry>,
    /// Per interface: (is IPv6, CIDR), in the order the kernel reported them.
    pub addrs: BTreeMap<u32, Vec<(bool, String)>>,
    pub routes: BTreeMap<RouteKey, Route>,
    routes_by_if: HashMap<u32, BTreeSet<RouteKey>>,
    pub neighbors: BTreeMap<NeighborKey, Neighbor>,
}

/// An address message as (interface, is IPv6, CIDR).
pub fn parse_address(m: &AddressMessage) -> Option<(u32, bool, String)> {
    let v6 = match m.header.family {
        AddressFamily::Inet => false,
        AddressFamily::Inet6 => true,
        _ => return None,
    };
    let mut local = None;
    let mut address = None;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            _ => {}
        }
    }
    let ip: IpAddr = local.or(address)?;
    Some((m.header.index, v6, format!("{ip}/{}", m.header.prefix_len)))
}

impl NsModel {
    /// Records a link; returns whether anything besides its counters changed.
    pub fn set_link(&mut self, link: Link) -> bool {
        match self.links.get_mut(&link.index) {
            Some(e) => {
                let changed = !e.link.same_shape(&link);
                e.link = link;
                changed
            }
            None => {
                self.links.insert(
                    link.index,
                    LinkEntry {
                        link,
                        ethtool: EthtoolInfo::default(),
                    },
                );
                true
            }
        }
    }

    /// Forgets a link and everything attached to it; returns it if it was known.
    pub fn remove_link(&mut self, index: u32) -> Option<LinkEntry> {
        self.addrs.remove(&index);
        if let Some(keys) = self.routes_by_if.remove(&index) {
            for k in keys {
                if let Some(r) = self.routes.remove(&k) {
                    for i in r.interfaces().filter(|i| *i != index) {
                        if let Some(set) = self.routes_by_if.get_mut(&i) {
                            set.remove(&k);
                        }
                    }
                }
            }
        }
        for bridge in [false, true] {
            let keys: Vec<NeighborKey> = self
                .neighbors
                .range((bridge, index, None, None, None, 0)..)
                .take_while(|(k, _)| k.0 == bridge && k.1 == index)
                .map(|(k, _)| k.clone())
                .collect();
            for k in keys {
                self.neighbors.remove(&k);
            }
        }
        self.links.remove(&index)
    }

    /// Applies `RTM_NEWADDR`/`RTM_DELADDR`; returns the interface whose addresses changed.
    pub fn apply_address(&mut self, new: bool, m: &AddressMessage) -> Option<u32> {
        let (index, v6, cidr) = parse_address(m)?;
        let list = self.addrs.entry(index).or_default();
        let pos = list.iter().position(|(f, c)| *f == v6 && *c == cidr);
        match (new, pos) {
            (true, None) => list.push((v6, cidr)),
            (false, Some(i)) => {
                list.remove(i);
                if list.is_empty() {
                    self.addrs.remove(&index);
                }
            }
            _ => return None,
        }
        Some(index)
    }

    fn insert_route(&mut self, r: Route) {
        let key = r.key();
        for i in r.interfaces() {
            self.routes_by_if.entry(i).or_default().insert(key);
        }
        self.routes.insert(key, r);
    }

    fn delete_route(&mut self, key: &RouteKey) -> Option<Route> {
        let r = self.routes.remove(key)?;
        for i in r.interfaces() {
            if let Some(set) = self.routes_by_if.get_mut(&i) {
                set.remove(key);
                if set.is_empty() {
                    self.routes_by_if.remove(&i);
                }
            }
        }
        Some(r)
    }

    /// Applies `RTM_NEWROUTE`/`RTM_DELROUTE`; returns the interfaces whose tables changed.
    pub fn apply_route(&mut self, new: bool, nl_flags: u16, m: &RouteMessage) -> Vec<u32> {
        let Some(r) = Route::from_message(m) else {
            return Vec::new();
        };
        let mut touched: Vec<u32> = r.interfaces().collect();
        let base = r.base_key();
        let same_base: Vec<RouteKey> = self
            .routes
            .range((base, None, None)..)
            .take_while(|(k, _)| k.0 == base)
            .map(|(k, _)| *k)
            .collect();
        if new {
            if nl_flags & NLM_F_REPLACE != 0 {
                for k in &same_base {
                    if let Some(old) = self.delete_route(k) {
                        touched.extend(old.interfaces());
                    }
                }
            }
            if let Some(old) = self.routes.get(&r.key()) {
                touched.extend(old.interfaces());
            }
            self.delete_route(&r.key());
            self.insert_route(r);
        } else if self.delete_route(&r.key()).is_none() {
            // A deletion that does not name the next hop: drop every route of that identity.
            for k in &same_base {
                if let Some(old) = self.delete_route(k) {
                    touched.extend(old.interfaces());
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        touched
    }

    /// Replaces every route (after a route dump); returns every interface involved before or after.
    pub fn replace_routes(&mut self, routes: Vec<Route>) -> BTreeSet<u32> {
        let mut touched: BTreeSet<u32> = self.routes_by_if.keys().copied().collect();
        self.routes.clear();
        self.routes_by_if.clear();
        for r in routes {
            touched.extend(r.interfaces());
            self.insert_route(r);
        }
        touched
    }

    /// Applies `RTM_NEWNEIGH`/`RTM_DELNEIGH`; returns the interface whose entries changed.
    pub fn apply_neighbor(&mut self, new: bool, m: &NeighbourMessage) -> Option<u32> {
        let n = Neighbor::from_message(m)?;
        let index = n.ifindex;
        let key = n.key();
        if new {
            if self.neighbors.get(&key) == Some(&n) {
                return None;
            }
            self.neighbors.insert(key, n);
        } else if self.neighbors.remove(&key).is_none() {
            return None;
        }
        Some(index)
    }

    fn neighbor_json(&self, bridge: bool, index: u32) -> Option<Value> {
        let list: Vec<Value> = self
            .neighbors
            .range((bridge, index, None, None, None, 0)..)
            .take_while(|(k, _)| k.0 == bridge && k.1 == index)
            .map(|(_, n)| n.to_json())
            .collect();
        if list.is_empty() {
            None
        } else {
            Some(Value::Array(list))
        }
    }

    /// The netlink-owned metadata of interface `index` (see [`MANAGED_KEYS`]), without `TID`
    /// and `LinkNetNsName`, which depend on the graph and on other namespaces.
    pub fn interface_metadata(&self, index: u32) -> Option<Vec<(&'static str, Value)>> {
        let e = self.links.get(&index)?;
        let l = &e.link;
        let mut m: Vec<(&'static str, Value)> = vec![
            ("Name", json!(l.name)),
            ("Type", json!(e.link_type())),
            ("EncapType", json!(encap_type(l.link_layer))),
            ("IfIndex", json!(l.index)),
            ("State", json!(state_name(l.oper_state))),
            ("LinkFlags", json!(flag_names(l.flags))),
        ];
        if let Some(d) = e.driver() {
            m.push(("Driver", json!(d)));
        }
        if let Some(mtu) = l.mtu.filter(|m| *m != 0) {
            m.push(("MTU", json!(mtu)));
        }
        if let Some(mac) = l.address.as_deref().and_then(mac_string) {
            m.push(("MAC", json!(mac)));
        }
        if let Some(addrs) = self.addrs.get(&index) {
            for (v6, key) in [(false, "IPV4"), (true, "IPV6")] {
                let list: Vec<&str> = addrs
                    .iter()
                    .filter(|(f, _)| *f == v6)
                    .map(|(_, c)| c.as_str())
                    .collect();
                if !list.is_empty() {
                    m.push((key, json!(list)));
                }
            }
        }
        if let Some(master) = l.master {
            m.push(("MasterIndex", json!(master)));
        }
        if let Some(parent) = l.link {
            m.push(("ParentIndex", json!(parent)));
            if e.is_veth() {
                m.push(("PeerIfIndex", json!(parent)));
            }
        }
        if let Some(nsid) = l.link_netnsid {
            m.push(("LinkNetNsID", json!(nsid)));
        }
        if let Some(speed) = e.ethtool.speed {
            m.push(("Speed", json!(speed)));
        }
        if let Some(bus) = &e.ethtool.bus_info {
            m.push(("BusInfo", json!(bus)));
        }
        if let Some(vlan) = l.vlan_id {
            m.push(("Vlan", json!(vlan)));
        }
        if let Some(keys) = self.routes_by_if.get(&index)
            && let Some(rts) = routing_tables(keys.iter().filter_map(|k| self.routes.get(k)), index)
        {
            m.push(("RoutingTables", rts));
        }
        if let Some(n) = self.neighbor_json(false, index) {
            m.push(("Neighbors", n));
        }
        if let Some(f) = self.neighbor_json(true, index) {
            m.push(("FDB", f));
        }
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
    use std::net::Ipv4Addr;

    fn link(index: u32, name: &str, kind: Option<&str>) -> Link {
        Link {
            index,
            name: name.into(),
            kind: kind.map(Into::into),
            link_layer: 1,
            flags: 1,
            ..Link::default()
        }
    }

    fn addr(index: u32, ip: [u8; 4], len: u8) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.index = index;
        m.header.prefix_len = len;
        m.attributes
            .push(AddressAttribute::Local(IpAddr::V4(Ipv4Addr::from(ip))));
        m
    }

    #[test]
    fn addresses_and_forced_veth_type() {
        let mut model = NsModel::default();
        assert!(model.set_link(link(3, "eth0", None)));
        assert!(!model.set_link(link(3, "eth0", None)));
        assert_eq!(
            model.apply_address(true, &addr(3, [10, 0, 0, 1], 24)),
            Some(3)
        );
        assert_eq!(
            model.apply_address(true, &addr(3, [10, 0, 0, 1], 24)),
            None,
            "duplicate"
        );
        model.links.get_mut(&3).unwrap().ethtool.driver = Some("veth".into());
        let m: BTreeMap<_, _> = model.interface_metadata(3).unwrap().into_iter().collect();
        assert_eq!(m["Type"], json!("veth"));
        assert_eq!(m["IPV4"], json!(["10.0.0.1/24"]));
        assert_eq!(m["Driver"], json!("veth"));
        assert!(!m.contains_key("IPV6"));
        assert_eq!(
            model.apply_address(false, &addr(3, [10, 0, 0, 1], 24)),
            Some(3)
        );
        let m: BTreeMap<_, _> = model.interface_metadata(3).unwrap().into_iter().collect();
        assert!(!m.contains_key("IPV4"));
        for k in m.keys() {
            assert!(MANAGED_KEYS.contains(k), "{k} must be a managed key");
        }
    }

    #[test]
    fn removing_a_link_drops_its_neighbors_and_bridges_say_bridge() {
        let mut model = NsModel::default();
        model.set_link(link(4, "br0", Some("bridge")));
        let mut n = NeighbourMessage::default();
        n.header.family = AddressFamily::Inet;
        n.header.ifindex = 4;
        n.header.state = NeighbourState::Reachable;
        n.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                Ipv4Addr::new(10, 0, 0, 2),
            )));
        assert_eq!(model.apply_neighbor(true, &n), Some(4));
        assert_eq!(model.apply_neighbor(true, &n), None);
        let m: BTreeMap<_, _> = model.interface_metadata(4).unwrap().into_iter().collect();
        assert_eq!(m["Driver"], json!("bridge"));
        assert_eq!(m["Neighbors"][0]["IP"], json!("10.0.0.2"));
        assert!(model.remove_link(4).is_some());
        assert!(model.neighbors.is_empty());
        assert!(model.interface_metadata(4).is_none());
    }
}

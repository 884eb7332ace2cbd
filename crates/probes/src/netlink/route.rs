//! Routes (`RTM_NEWROUTE`) and Skydive's `RoutingTables` metadata (`topology/routes.go`):
//! `[{ID, Src, Routes: [{Protocol, Prefix, NextHops: [{Priority, IP?, IfIndex}]}]}]`, one entry
//! per table holding a route through the interface, every table (main, local, custom).
//!
//! Routes are kept by identity ([`RouteKey`]): address family, table, destination, TOS,
//! priority, and for single-path routes the output interface and gateway (so IPv6 routes
//! appended with the same destination stay apart). Cached (`RTM_F_CLONED`) routes are skipped.

use std::collections::BTreeMap;
use std::net::IpAddr;

use netlink_packet_route::AddressFamily;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteVia,
};
use serde_json::{Value, json};

/// A route, reduced to what `RoutingTables` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub v6: bool,
    pub table: u32,
    pub protocol: u8,
    pub dst: Option<IpAddr>,
    pub dst_len: u8,
    pub tos: u8,
    pub priority: u32,
    pub prefsrc: Option<IpAddr>,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    /// Next hops of a multipath route: (gateway, interface).
    pub multipath: Vec<(Option<IpAddr>, u32)>,
}

/// Identity of a route without its next hop: what `NLM_F_REPLACE` replaces.
pub type BaseKey = (bool, u32, Option<IpAddr>, u8, u8, u32);
/// Identity of a route.
pub type RouteKey = (BaseKey, Option<u32>, Option<IpAddr>);

fn addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

fn via(v: &RouteVia) -> Option<IpAddr> {
    match v {
        RouteVia::Inet(a) => Some(IpAddr::V4(*a)),
        RouteVia::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

impl Route {
    /// Reads a route message; `None` for non-IP families and cached routes.
    pub fn from_message(m: &RouteMessage) -> Option<Route> {
        let v6 = match m.header.address_family {
            AddressFamily::Inet => false,
            AddressFamily::Inet6 => true,
            _ => return None,
        };
        if m.header.flags.contains(RouteFlags::Cloned) {
            return None;
        }
        let mut r = Route {
            v6,
            table: u32::from(m.header.table),
            protocol: u8::from(m.header.protocol),
            dst: None,
            dst_len: m.header.destination_prefix_length,
            tos: m.header.tos,
            priority: 0,
            prefsrc: None,
            gateway: None,
            oif: None,
            multipath: Vec::new(),
        };
        for a in &m.attributes {
            match a {
                RouteAttribute::Table(t) => r.table = *t,
                RouteAttribute::Destination(d) => r.dst = addr(d),
                RouteAttribute::PrefSource(s) => r.prefsrc = addr(s),
                RouteAttribute::Gateway(g) => r.gateway = addr(g),
                RouteAttribute::Via(v) => r.gateway = via(v),
                RouteAttribute::Oif(i) => r.oif = Some(*i),
                RouteAttribute::Priority(p) => r.priority = *p,
                RouteAttribute::MultiPath(hops) => {
                    for h in hops {
                        let gw = h.attributes.iter().find_map(|a| match a {
                            RouteAttribute::Gateway(g) => addr(g),
                            RouteAttribute::Via(v) => via(v),
                            _ => None,
                        });
                        r.multipath.push((gw, h.interface_index));
                    }
                }
                _ => {}
            }
        }
        Some(r)
    }

    pub fn base_key(&self) -> BaseKey {
        (
            self.v6,
            self.table,
            self.dst,
            self.dst_len,
            self.tos,
            self.priority,
        )
    }

    pub fn key(&self) -> RouteKey {
        if self.multipath.is_empty() {
            (self.base_key(), self.oif, self.gateway)
        } else {
            (self.base_key(), None, None)
        }
    }

    /// Whether the route sends traffic through interface `ifindex`.
    pub fn uses(&self, ifindex: u32) -> bool {
        self.oif == Some(ifindex) || self.multipath.iter().any(|(_, i)| *i == ifindex)
    }

    /// Interfaces the route goes through.
    pub fn interfaces(&self) -> impl Iterator<Item = u32> + '_ {
        self.oif
            .into_iter()
            .chain(self.multipath.iter().map(|(_, i)| *i))
    }

    /// `Prefix` as Skydive prints it: the destination in CIDR form, `0.0.0.0/0` or `::/0`
    /// for a default route.
    pub fn prefix(&self) -> String {
        match self.dst {
            Some(d) => format!("{d}/{}", self.dst_len),
            None if self.v6 => format!("::/{}", self.dst_len),
            None => format!("0.0.0.0/{}", self.dst_len),
        }
    }
}

/// `RoutingTables` of interface `ifindex`, or `None` when no route goes through it.
pub fn routing_tables<'a>(routes: impl Iterator<Item = &'a Route>, ifindex: u32) -> Option<Value> {
    struct Table {
        src: Option<IpAddr>,
        routes: Vec<(u8, String, Vec<Value>)>,
    }
    let mut tables: BTreeMap<u32, Table> = BTreeMap::new();
    for r in routes.filter(|r| r.uses(ifindex)) {
        let t = tables.entry(r.table).or_insert(Table {
            src: None,
            routes: Vec::new(),
        });
        if t.src.is_none() {
            t.src = r.prefsrc;
        }
        let prefix = r.prefix();
        let idx = match t
            .routes
            .iter()
            .position(|(p, pre, _)| *p == r.protocol && *pre == prefix)
        {
            Some(i) => i,
            None => {
                t.routes.push((r.protocol, prefix, Vec::new()));
                t.routes.len() - 1
            }
        };
        let hops: Vec<(Option<IpAddr>, u32)> = if r.multipath.is_empty() {
            vec![(r.gateway, r.oif.unwrap_or(0))]
        } else {
            r.multipath.clone()
        };
        let nexthops = &mut t.routes[idx].2;
        for (gw, oif) in hops {
            let mut nh = json!({"Priority": r.priority, "IfIndex": oif});
            if let Some(gw) = gw {
                nh["IP"] = json!(gw.to_string());
            }
            if !nexthops
                .iter()
                .any(|n| n["IP"] == nh["IP"] && n["IfIndex"] == nh["IfIndex"])
            {
                nexthops.push(nh);
            }
        }
    }
    if tables.is_empty() {
        return None;
    }
    let out: Vec<Value> = tables
        .into_iter()
        .map(|(id, t)| {
            json!({
                "ID": id,
                "Src": t.src.map(|s| s.to_string()).unwrap_or_default(),
                "Routes": t.routes.into_iter().map(|(p, prefix, hops)| json!({"Protocol": p, "Prefix": prefix, "NextHops": hops})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Some(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::{
        RouteHeader, RouteNextHop, RouteProtocol, RouteScope, RouteType,
    };
    use std::net::Ipv4Addr;

    fn v4(dst: Option<[u8; 4]>, len: u8, gw: Option<[u8; 4]>, oif: u32, table: u8) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header = RouteHeader {
            address_family: AddressFamily::Inet,
            destination_prefix_length: len,
            table,
            protocol: RouteProtocol::Kernel,
            scope: RouteScope::Link,
            kind: RouteType::Unicast,
            ..RouteHeader::default()
        };
        if let Some(d) = dst {
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::Inet(
                    Ipv4Addr::from(d),
                )));
        }
        if let Some(g) = gw {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::from(
                    g,
                ))));
        }
        m.attributes.push(RouteAttribute::Oif(oif));
        m.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::Inet(
                Ipv4Addr::new(10, 0, 0, 1),
            )));
        m
    }

    #[test]
    fn tables_group_routes_of_the_interface() {
        let a = Route::from_message(&v4(Some([10, 0, 0, 0]), 24, None, 3, 254)).unwrap();
        let b = Route::from_message(&v4(None, 0, Some([10, 0, 0, 254]), 3, 254)).unwrap();
        let c = Route::from_message(&v4(Some([10, 1, 0, 0]), 16, None, 4, 254)).unwrap();
        let rts = routing_tables([&a, &b, &c].into_iter(), 3).unwrap();
        assert_eq!(
            rts,
            json!([{"ID": 254, "Src": "10.0.0.1", "Routes": [
                {"Protocol": 2, "Prefix": "10.0.0.0/24", "NextHops": [{"Priority": 0, "IfIndex": 3}]},
                {"Protocol": 2, "Prefix": "0.0.0.0/0", "NextHops": [{"Priority": 0, "IfIndex": 3, "IP": "10.0.0.254"}]}
            ]}])
        );
        assert!(routing_tables([&a].into_iter(), 9).is_none());
        assert_ne!(a.key(), b.key());
        assert_eq!(a.base_key().1, 254);
    }

    #[test]
    fn multipath_routes_belong_to_each_hop_and_cached_routes_are_skipped() {
        let mut m = v4(Some([10, 2, 0, 0]), 16, None, 0, 254);
        m.attributes
            .retain(|a| !matches!(a, RouteAttribute::Oif(_)));
        let mut h1 = RouteNextHop::default();
        h1.interface_index = 5;
        let mut h2 = RouteNextHop::default();
        h2.interface_index = 6;
        m.attributes.push(RouteAttribute::MultiPath(vec![h1, h2]));
        let r = Route::from_message(&m).unwrap();
        assert!(r.uses(5) && r.uses(6) && !r.uses(0));
        assert_eq!(r.interfaces().collect::<Vec<_>>(), vec![5, 6]);
        let rts = routing_tables([&r].into_iter(), 6).unwrap();
        assert_eq!(rts[0]["Routes"][0]["NextHops"].as_array().unwrap().len(), 2);
        let mut cached = v4(Some([10, 3, 0, 1]), 32, None, 3, 254);
        cached.header.flags = RouteFlags::Cloned;
        assert!(Route::from_message(&cached).is_none());
    }
}

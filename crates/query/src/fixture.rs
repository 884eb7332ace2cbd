//! The small realistic topology tests, documentation examples and the fuzz harness run on:
//!
//! ```text
//! host1 (host) ─ownership─> ns1 (netns) ─ownership─> eth0 (veth), lo (device)
//!              ─ownership─> veth-host (veth), br0 (bridge), eth1 (device)
//! eth0 ─layer2─> veth-host (the veth pair)      br0 ─layer2─> veth-host, eth1 (bridge ports)
//! ```
//!
//! Node IDs are `gen_id(&[name])`, edge IDs `gen_id(&[parent, child])`. The interfaces carry
//! `TID`s (`tid-<name>`) and MACs, which the fixture flows ([`flows`]) name.

use std::sync::Arc;

use serde_json::json;
use skydive_flow::{
    CaptureIds, Flow, FlowTable, FrameBuilder, LinkType, LiveFlows, TableConfig, Timestamp,
    tcp_flags,
};
use skydive_graph::{Graph, GraphOptions, Id, Metadata, gen_id};

use crate::flow_source::{FlowMetrics, FlowRequest, FlowSource, MetricsRequest};

/// The ID of the fixture node named `name`.
pub(crate) fn id(name: &str) -> Id {
    gen_id(&[name])
}

/// The fixture graph (see the module docs).
pub(crate) fn topology() -> Graph {
    let mut g = Graph::new(GraphOptions::new("host1", "agent.host1"));
    let nodes = [
        json!({"Name": "host1", "Type": "host"}),
        json!({"Name": "ns1", "Type": "netns", "Path": "/var/run/netns/ns1"}),
        json!({"Name": "eth0", "Type": "veth", "MTU": 1500, "IPV4": ["10.0.0.1/24"], "MAC": "aa:00:00:00:00:01",
               "TID": "tid-eth0", "Ovs": {"Options": {"remote_ip": "10.1.1.1"}}, "Empty": []}),
        json!({"Name": "lo", "Type": "device", "MTU": 65536, "IPV4": ["127.0.0.1/8"]}),
        json!({"Name": "veth-host", "Type": "veth", "MTU": 1500, "PeerIntfMAC": "aa:00:00:00:00:01", "Speed": 1.0e4,
               "MAC": "aa:00:00:00:00:03", "TID": "tid-veth-host"}),
        json!({"Name": "br0", "Type": "bridge", "MTU": 1500, "TID": "tid-br0"}),
        json!({"Name": "eth1", "Type": "device", "MTU": 9000, "IPV4": ["192.168.1.10/24", "192.168.2.10/24"], "Speed": 1000,
               "MAC": "aa:00:00:00:00:02", "TID": "tid-eth1"}),
    ];
    for md in nodes {
        let name = md["Name"]
            .as_str()
            .expect("every fixture node has a name")
            .to_owned();
        let md = serde_json::from_value(md).expect("fixture metadata is an object");
        g.create_node(id(&name), md)
            .expect("fixture names are unique");
    }
    let edges = [
        ("host1", "ns1", "ownership"),
        ("ns1", "eth0", "ownership"),
        ("ns1", "lo", "ownership"),
        ("host1", "veth-host", "ownership"),
        ("host1", "br0", "ownership"),
        ("host1", "eth1", "ownership"),
        ("eth0", "veth-host", "layer2"),
        ("br0", "veth-host", "layer2"),
        ("br0", "eth1", "layer2"),
    ];
    for (p, c, rel) in edges {
        let md = Metadata::from_pairs([("RelationType", json!(rel))]);
        g.create_edge(gen_id(&[p, c]), id(p), id(c), md)
            .expect("fixture edges join fixture nodes");
    }
    g
}

/// The time the fixture flows are queried at ("now"); their packets are 200 s earlier.
pub(crate) const NOW_MS: i64 = 1_700_000_000_000;
/// The first packet.
pub(crate) const T0_MS: i64 = NOW_MS - 200_000;
/// `flow.expire` of the fixture source.
pub(crate) const EXPIRE_MS: i64 = 600_000;

/// Flows captured on the fixture's interfaces, through real flow tables, as an analyzer
/// would hold them: the live ones (finished flows gone) and every update stored.
///
/// ```text
/// on eth0 (tid-eth0):           ping 10.0.0.1 -> 10.0.0.2 (2 echo exchanges, MACs aa:..:01 -> aa:..:02)
///                               TCP 10.0.0.1:43210 -> 10.0.0.2:80 (handshake, then data at +3 s)
///                               UDP 10.0.0.1:53000 -> 10.0.0.53:53 (query and answer)
/// on veth-host (tid-veth-host): the same ping (same TrackingID, another UUID)
/// on eth1 (tid-eth1):           TCP 192.168.1.10:51000 -> 192.168.1.1:443, closed by FIN at +3.5 s
/// ```
/// Tables are ticked at +2.5 s, +5 s and +7.5 s: 7 updates stored, 4 flows live.
pub(crate) struct FixtureFlows {
    pub live: LiveFlows,
    pub stored: Vec<Flow>,
}

const MAC_ETH0: [u8; 6] = [0xaa, 0, 0, 0, 0, 0x01];
const MAC_ETH1: [u8; 6] = [0xaa, 0, 0, 0, 0, 0x02];
const MAC_GW: [u8; 6] = [0xaa, 0, 0, 0, 0, 0xfe];

/// The fixture flows (see [`FixtureFlows`]).
pub(crate) fn flows() -> FixtureFlows {
    let table = |tid: &str| {
        let ids = CaptureIds {
            node_tid: tid.to_owned(),
            capture_id: "capture-1".to_owned(),
        };
        FlowTable::new(TableConfig::default(), ids)
    };
    let mut tables = [table("tid-eth0"), table("tid-veth-host"), table("tid-eth1")];
    let (eth0, veth, eth1) = (0, 1, 2);
    // (µs after T0, table, frame); ticks have no frame.
    let mut events: Vec<(i64, usize, Vec<u8>)> = Vec::new();
    let mut at = |micros: i64, t: usize, frame: Vec<u8>| events.push((micros, t, frame));
    let lan = |a: [u8; 6], b: [u8; 6], ia: [u8; 4], ib: [u8; 4]| {
        FrameBuilder::new().ethernet(a, b).ipv4(ia, ib)
    };
    let (ip1, ip2, dns) = ([10, 0, 0, 1], [10, 0, 0, 2], [10, 0, 0, 53]);
    for (seq, t) in [(1u16, 0i64), (2, 1_000_000)] {
        let req = lan(MAC_ETH0, MAC_ETH1, ip1, ip2)
            .icmpv4_echo_request(7, seq)
            .build();
        let rep = lan(MAC_ETH1, MAC_ETH0, ip2, ip1)
            .icmpv4_echo_reply(7, seq)
            .build();
        at(t, eth0, req.clone());
        at(t + 400, eth0, rep.clone());
        at(t + 50, veth, req);
        at(t + 450, veth, rep);
    }
    let out = |flags| lan(MAC_ETH0, MAC_ETH1, ip1, ip2).tcp(43210, 80, flags);
    let back = |flags| lan(MAC_ETH1, MAC_ETH0, ip2, ip1).tcp(80, 43210, flags);
    at(10_000, eth0, out(tcp_flags::SYN).build());
    at(10_200, eth0, back(tcp_flags::SYN | tcp_flags::ACK).build());
    at(10_400, eth0, out(tcp_flags::ACK).build());
    at(
        3_000_000,
        eth0,
        out(tcp_flags::PSH | tcp_flags::ACK)
            .payload(&[0; 500])
            .build(),
    );
    at(3_001_000, eth0, back(tcp_flags::ACK).build());
    at(
        20_000,
        eth0,
        lan(MAC_ETH0, MAC_ETH1, ip1, dns)
            .udp(53000, 53)
            .payload(&[0; 40])
            .build(),
    );
    at(
        21_000,
        eth0,
        lan(MAC_ETH1, MAC_ETH0, dns, ip1)
            .udp(53, 53000)
            .payload(&[0; 90])
            .build(),
    );
    let (wan, gw) = ([192, 168, 1, 10], [192, 168, 1, 1]);
    let up = |flags| lan(MAC_ETH1, MAC_GW, wan, gw).tcp(51000, 443, flags);
    let down = |flags| lan(MAC_GW, MAC_ETH1, gw, wan).tcp(443, 51000, flags);
    at(30_000, eth1, up(tcp_flags::SYN).build());
    at(30_500, eth1, down(tcp_flags::SYN | tcp_flags::ACK).build());
    at(31_000, eth1, up(tcp_flags::ACK).build());
    at(3_500_000, eth1, up(tcp_flags::FIN | tcp_flags::ACK).build());
    at(
        3_501_000,
        eth1,
        down(tcp_flags::FIN | tcp_flags::ACK).build(),
    );
    const TICK: usize = usize::MAX;
    for tick in [2_500_000, 5_000_000, 7_500_000] {
        at(tick, TICK, Vec::new());
    }
    events.sort_by_key(|(micros, _, _)| *micros);

    let live = LiveFlows::default();
    let mut stored = Vec::new();
    for (micros, t, frame) in events {
        let ts = Timestamp::from_nanos((T0_MS * 1000 + micros) * 1000);
        if t != TICK {
            tables[t]
                .process_frame(&frame, frame.len() as u32, LinkType::Ethernet, ts)
                .expect("fixture frames decode");
            continue;
        }
        for table in &mut tables {
            table.tick(ts);
            let mut updates = Vec::new();
            table.drain_flows(&mut updates);
            stored.extend(updates.iter().cloned());
            live.apply(updates, ts.as_millis());
        }
    }
    FixtureFlows { live, stored }
}

impl FlowSource for FixtureFlows {
    fn flows(&self, req: &FlowRequest<'_>) -> Result<Vec<Arc<Flow>>, String> {
        let Some(slice) = req.slice else {
            return Ok(self
                .live
                .select(req.node_tids, |f| req.matches(f), req.scan_limit()));
        };
        // What a flow store answers: each flow's latest update with `Last` in
        // [start − expire, last], newest first.
        let (lo, hi) = (slice.start.0 - EXPIRE_MS, slice.last.0);
        let mut latest: Vec<&Flow> = Vec::new();
        for f in self.stored.iter().filter(|f| (lo..=hi).contains(&f.last)) {
            match latest.iter_mut().find(|l| l.uuid == f.uuid) {
                Some(l) if l.last <= f.last => *l = f,
                Some(_) => {}
                None => latest.push(f),
            }
        }
        let mut out: Vec<Arc<Flow>> = latest
            .into_iter()
            .filter(|f| req.matches(f))
            .map(|f| Arc::new(f.clone()))
            .collect();
        out.sort_by(|a, b| (b.last, &b.uuid).cmp(&(a.last, &a.uuid)));
        out.truncate(req.scan_limit().unwrap_or(usize::MAX));
        Ok(out)
    }

    fn metrics(&self, req: &MetricsRequest<'_>) -> Result<FlowMetrics, String> {
        let mut out = FlowMetrics::new();
        for uuid in req.uuids {
            for f in self.stored.iter().filter(|f| f.uuid == *uuid) {
                let m = f.last_update_metric.unwrap_or(f.metric);
                if m.start >= req.window.start.0 && m.last <= req.window.last.0 {
                    out.entry(uuid.clone()).or_default().push(m);
                }
            }
        }
        Ok(out)
    }
}

//! The small realistic topology tests, documentation examples and the fuzz harness run on:
//!
//! ```text
//! host1 (host) ─ownership─> ns1 (netns) ─ownership─> eth0 (veth), lo (device)
//!              ─ownership─> veth-host (veth), br0 (bridge), eth1 (device)
//! eth0 ─layer2─> veth-host (the veth pair)      br0 ─layer2─> veth-host, eth1 (bridge ports)
//! ```
//!
//! Node IDs are `gen_id(&[name])`, edge IDs `gen_id(&[parent, child])`.

use serde_json::json;
use skydive_graph::{Graph, GraphOptions, Id, Metadata, gen_id};

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
               "Ovs": {"Options": {"remote_ip": "10.1.1.1"}}, "Empty": []}),
        json!({"Name": "lo", "Type": "device", "MTU": 65536, "IPV4": ["127.0.0.1/8"]}),
        json!({"Name": "veth-host", "Type": "veth", "MTU": 1500, "PeerIntfMAC": "aa:00:00:00:00:01", "Speed": 1.0e4}),
        json!({"Name": "br0", "Type": "bridge", "MTU": 1500}),
        json!({"Name": "eth1", "Type": "device", "MTU": 9000, "IPV4": ["192.168.1.10/24", "192.168.2.10/24"], "Speed": 1000}),
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

//! Synthetic topologies shaped like what agents report: hosts ⊃ namespaces ⊃ interfaces.
//!
//! Each host has a bridge and a vxlan tunnel interface (tunnels of consecutive hosts are
//! linked, so paths cross hosts); each namespace unit adds a netns node, an `eth0` veth inside
//! it, a macvlan `eth1` on top of `eth0`, and the host-side veth peer enslaved to the bridge:
//! 4 nodes and 7 edges per unit, about 1.8 edges per node. Metadata carries the keys a netlink
//! probe writes (Name, Type, TID, MAC, MTU, IfIndex, State, Driver, IPV4, LinkFlags, …).
//! Everything is derived from the indices, so two runs build identical graphs.

use serde_json::json;
use skydive_graph::{Graph, Id, Metadata, gen_id};

/// Nodes added per namespace unit.
pub const NODES_PER_UNIT: usize = 4;

/// How big a synthetic topology is.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub hosts: usize,
    pub units_per_host: usize,
}

impl Shape {
    /// A shape of about `nodes` nodes over `hosts` hosts.
    pub fn with_nodes(nodes: usize, hosts: usize) -> Self {
        let per_host = nodes / hosts;
        Shape {
            hosts,
            units_per_host: (per_host.saturating_sub(3)) / NODES_PER_UNIT,
        }
    }

    pub fn node_count(&self) -> usize {
        self.hosts * (3 + self.units_per_host * NODES_PER_UNIT)
    }
}

fn mac(host: usize, unit: usize, kind: u8) -> String {
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        kind,
        (host >> 8) & 0xff,
        host & 0xff,
        (unit >> 8) & 0xff,
        unit & 0xff
    )
}

fn ip(host: usize, unit: usize) -> String {
    format!(
        "10.{}.{}.{}/16",
        host % 250,
        (unit / 250) % 250,
        unit % 250 + 1
    )
}

fn intf(
    name: &str,
    kind: &str,
    ifindex: usize,
    mac: String,
    ip: Option<String>,
    tid: &Id,
) -> Metadata {
    let mut m = Metadata::from_pairs([
        ("Name", json!(name)),
        ("Type", json!(kind)),
        ("TID", json!(tid)),
        ("IfIndex", json!(ifindex)),
        ("MTU", json!(1500)),
        ("MAC", json!(mac)),
        ("State", json!("UP")),
        ("Driver", json!(if kind == "veth" { "veth" } else { kind })),
        ("EncapType", json!("ether")),
        ("LinkFlags", json!(["UP", "BROADCAST", "MULTICAST"])),
    ]);
    if let Some(ip) = ip {
        m.set("IPV4", json!([ip]));
    }
    m
}

/// The name of the host-side veth of `unit` on `host` (unique graph-wide).
pub fn host_veth_name(host: usize, unit: usize) -> String {
    format!("veth-{host}-{unit}")
}

/// Builds the topology into `g`.
pub fn build(g: &mut Graph, shape: Shape) {
    let mut prev_tunnel: Option<Id> = None;
    for h in 0..shape.hosts {
        let tunnel = build_host(g, h, shape.units_per_host);
        if let Some(prev) = prev_tunnel.replace(tunnel.clone()) {
            link(g, &prev, &tunnel, "layer2", None);
        }
    }
}

/// Builds host `h` alone (what one agent reports): the host node, its bridge and tunnel, and
/// `units` namespace units. Returns the tunnel's id, which `build` links to the next host's.
pub fn build_host(g: &mut Graph, h: usize, units: usize) -> Id {
    let host_name = format!("host-{h}");
    let host = gen_id(&[&host_name]);
    g.create_node(
        host.clone(),
        Metadata::from_pairs([
            ("Name", json!(host_name)),
            ("Type", json!("host")),
            ("TID", json!(host)),
            ("OS", json!("linux")),
        ]),
    )
    .expect("fresh id");
    let bridge = gen_id(&[&host.as_str(), "br0"]);
    g.create_node(
        bridge.clone(),
        intf("br0", "bridge", 2, mac(h, 0, 0xb0), None, &bridge),
    )
    .expect("fresh id");
    own(g, &host, &bridge);
    let tunnel = gen_id(&[&host.as_str(), "vxlan0"]);
    g.create_node(
        tunnel.clone(),
        intf(
            "vxlan0",
            "vxlan",
            3,
            mac(h, 0, 0xc0),
            Some(ip(h, 0)),
            &tunnel,
        ),
    )
    .expect("fresh id");
    own(g, &host, &tunnel);
    for u in 0..units {
        unit(g, h, u, &host, &bridge);
    }
    tunnel
}

fn unit(g: &mut Graph, h: usize, u: usize, host: &Id, bridge: &Id) {
    let ns_name = format!("ns-{u}");
    let ns = gen_id(&[&host.as_str(), &ns_name, "netns"]);
    let ns_md = Metadata::from_pairs([
        ("Name", json!(ns_name)),
        ("Type", json!("netns")),
        ("TID", json!(ns)),
        ("Path", json!(format!("/var/run/netns/{ns_name}"))),
        ("Inode", json!(4_026_531_000u64 + u as u64)),
    ]);
    g.create_node(ns.clone(), ns_md).expect("fresh id");
    own(g, host, &ns);
    let eth0 = gen_id(&[&ns.as_str(), "eth0"]);
    g.create_node(
        eth0.clone(),
        intf("eth0", "veth", 2, mac(h, u, 0x10), Some(ip(h, u)), &eth0),
    )
    .expect("fresh id");
    own(g, &ns, &eth0);
    let eth1 = gen_id(&[&ns.as_str(), "eth1"]);
    g.create_node(
        eth1.clone(),
        intf("eth1", "macvlan", 3, mac(h, u, 0x20), None, &eth1),
    )
    .expect("fresh id");
    own(g, &ns, &eth1);
    link(g, &eth0, &eth1, "layer2", None);
    let veth = gen_id(&[&host.as_str(), &host_veth_name(h, u)]);
    g.create_node(
        veth.clone(),
        intf(
            &host_veth_name(h, u),
            "veth",
            10 + u,
            mac(h, u, 0x30),
            None,
            &veth,
        ),
    )
    .expect("fresh id");
    own(g, host, &veth);
    link(g, &veth, &eth0, "layer2", Some("veth"));
    link(g, bridge, &veth, "layer2", None);
}

fn own(g: &mut Graph, parent: &Id, child: &Id) {
    link(g, parent, child, "ownership", None);
}

fn link(g: &mut Graph, parent: &Id, child: &Id, relation: &str, kind: Option<&str>) {
    let id = gen_id(&[&parent.as_str(), &child.as_str(), relation]);
    let mut m = Metadata::from_pairs([("RelationType", json!(relation))]);
    if let Some(k) = kind {
        m.set("Type", json!(k));
    }
    g.create_edge(id, parent.clone(), child.clone(), m)
        .expect("ends exist");
}

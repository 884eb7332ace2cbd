//! Rows → graph on an in-memory graph: shapes, merge with netlink nodes, updates, resync,
//! adoption. The same against a real OVS is in the integration tests (`ovsdb_lab.rs`).

use serde_json::{Value, json};
use skydive_graph::{Graph, GraphOptions, Id, Metadata};

use super::*;
use crate::relation::EdgeSpec;
use crate::tid::{host_node_id, host_tid};

const BR: &str = "b0000000-0000-0000-0000-000000000001";
const P_VETH: &str = "p0000000-0000-0000-0000-000000000001";
const P_INT: &str = "p0000000-0000-0000-0000-000000000002";
const P_PA: &str = "p0000000-0000-0000-0000-000000000003";
const P_PB: &str = "p0000000-0000-0000-0000-000000000004";
const P_GRE: &str = "p0000000-0000-0000-0000-000000000005";
const I_VETH: &str = "i0000000-0000-0000-0000-000000000001";
const I_INT: &str = "i0000000-0000-0000-0000-000000000002";
const I_PA: &str = "i0000000-0000-0000-0000-000000000003";
const I_PB: &str = "i0000000-0000-0000-0000-000000000004";
const I_GRE: &str = "i0000000-0000-0000-0000-000000000005";

struct World {
    g: Graph,
    host: Id,
    host_tid: String,
    ns: Vec<NamespaceRoot>,
    claims: InterfaceClaims,
    w: Writer,
}

fn world() -> World {
    let mut g = Graph::new(GraphOptions::new("h1", "agent.h1"));
    let host = host_node_id("h1");
    let host_tid = host_tid("h1");
    g.create_node(
        host.clone(),
        Metadata::from_pairs([("Name", json!("h1")), ("Type", json!("host"))]),
    )
    .unwrap();
    let ns = vec![NamespaceRoot {
        key: NsKey { dev: 1, ino: 1 },
        root: host.clone(),
        root_tid: host_tid.clone(),
        host: true,
    }];
    let w = Writer::new(host.clone(), host_tid.clone());
    World {
        g,
        host,
        host_tid,
        ns,
        claims: InterfaceClaims::default(),
        w,
    }
}

impl World {
    /// A netlink-like interface node in the host namespace.
    fn kernel_iface(&mut self, idx: u32, name: &str, kind: &str, mac: &str) -> Id {
        let id = interface_node_id(&self.host, idx);
        self.g
            .create_node(
                id.clone(),
                Metadata::from_pairs([
                    ("Name", json!(name)),
                    ("Type", json!(kind)),
                    ("IfIndex", json!(idx)),
                    ("MAC", json!(mac)),
                    ("Driver", json!(kind)),
                ]),
            )
            .unwrap();
        ensure_edge(
            &mut self.g,
            &EdgeSpec::new(self.host.clone(), id.clone(), OWNERSHIP),
        );
        id
    }

    fn sync(&mut self, mirror: &Mirror, now: i64) -> Vec<(NsKey, u32)> {
        self.w
            .sync(&mut self.g, mirror, &self.ns, &self.claims, now)
    }

    fn node(&self, table: &str, uuid: &str) -> Option<&std::sync::Arc<skydive_graph::Node>> {
        self.g.node(&ovs_node_id(&self.host, table, uuid))
    }

    fn edge(&self, parent: &Id, child: &Id, rel: &'static str) -> Option<&Metadata> {
        self.g
            .edge(&crate::tid::edge_id(parent, child, rel))
            .map(|e| &e.metadata)
    }
}

fn rows() -> Value {
    json!({
        "Open_vSwitch": {"o1": {"new": {
            "ovs_version": "3.1.0", "db_version": ["set", []],
            "other_config": ["map", []], "external_ids": ["map", [["system-id", "s1"]]]}}},
        "Bridge": {BR: {"new": {
            "name": "br0",
            "ports": ["set", [["uuid", P_VETH], ["uuid", P_INT], ["uuid", P_PA], ["uuid", P_PB], ["uuid", P_GRE], ["uuid", "missing"]]],
            "other_config": ["map", [["foo", "bar"]]], "external_ids": ["map", [["a.b", "c"]]],
            "protocols": ["set", ["OpenFlow10", "OpenFlow13"]]}}},
        "Port": {
            P_VETH: {"new": {"name": "veth1", "interfaces": ["uuid", I_VETH], "tag": 10, "trunks": ["set", []],
                     "bond_mode": ["set", []], "lacp": ["set", []], "external_ids": ["map", []], "other_config": ["map", []]}},
            P_INT: {"new": {"name": "int0", "interfaces": ["uuid", I_INT], "tag": ["set", []], "trunks": ["set", [1, 2]],
                    "bond_mode": "active-backup", "lacp": "off", "external_ids": ["map", [["k", "v"]]], "other_config": ["map", [["x", "y"]]]}},
            P_PA: {"new": {"name": "pa", "interfaces": ["uuid", I_PA]}},
            P_PB: {"new": {"name": "pb", "interfaces": ["uuid", I_PB]}},
            P_GRE: {"new": {"name": "gre0", "interfaces": ["uuid", I_GRE]}},
        },
        "Interface": {
            I_VETH: {"new": {"name": "veth1", "type": "", "ifindex": 7, "ofport": 1, "mac_in_use": "aa:00:00:00:00:07",
                     "status": ["map", [["driver_name", "veth"]]], "external_ids": ["map", [["iface-id", "x"]]],
                     "options": ["map", []], "other_config": ["map", []], "error": ["set", []],
                     "statistics": ["map", [["rx_packets", 1], ["tx_bytes", 10]]]}},
            I_INT: {"new": {"name": "int0", "type": "internal", "ifindex": 8, "ofport": 2, "mac_in_use": "aa:00:00:00:00:08",
                    "status": ["map", [["driver_name", "tun"]]], "options": ["map", []], "error": ["set", []]}},
            I_PA: {"new": {"name": "pa", "type": "patch", "ifindex": 0, "ofport": 3, "mac_in_use": "aa:00:00:00:00:0a",
                   "options": ["map", [["peer", "pb"]]], "status": ["map", []]}},
            I_PB: {"new": {"name": "pb", "type": "patch", "ifindex": 0, "ofport": 4, "mac_in_use": "aa:00:00:00:00:0b",
                   "options": ["map", [["peer", "pa"]]], "status": ["map", []]}},
            I_GRE: {"new": {"name": "gre0", "type": "gre", "ifindex": 0, "ofport": 5,
                    "options": ["map", [["remote_ip", "10.0.0.2"], ["local_ip", "10.0.0.1"]]],
                    "status": ["map", [["tunnel_egress_iface", "eth0"]]], "error": "bad"}},
        },
    })
}

#[test]
fn rows_become_skydive_nodes_and_edges() {
    let mut wd = world();
    let veth = wd.kernel_iface(7, "veth1", "veth", "AA:00:00:00:00:07");
    let int0 = wd.kernel_iface(8, "int0", "tun", "aa:00:00:00:00:08");
    let (mirror, _) = Mirror::from_initial(&rows()).unwrap();
    assert!(wd.sync(&mirror, 1000).is_empty());

    // Bridge.
    let br = wd.node("bridge", BR).expect("bridge node").clone();
    assert_eq!(
        serde_json::to_value(&br.metadata).unwrap(),
        json!({"Type": "ovsbridge", "Name": "br0", "UUID": BR,
               "TID": ovs_tid(&wd.host_tid, BR, "ovsbridge"),
               "Ovs": {"OtherConfig": {"foo": "bar"}, "Protocols": ["OpenFlow10", "OpenFlow13"]},
               "ExtID": {"a.b": "c"}})
    );
    assert!(wd.edge(&wd.host, &br.id, OWNERSHIP).is_some());

    // Ports.
    let pv = wd.node("port", P_VETH).unwrap().clone();
    assert_eq!(pv.metadata.get("Vlans"), Some(&json!(10)));
    assert_eq!(
        pv.metadata.get_str("TID").map(str::to_owned),
        Some(ovs_tid(&wd.host_tid, P_VETH, "ovsport"))
    );
    let pi = wd.node("port", P_INT).unwrap().clone();
    assert_eq!(
        serde_json::to_value(&pi.metadata).unwrap(),
        json!({"Type": "ovsport", "Name": "int0", "UUID": P_INT, "TID": ovs_tid(&wd.host_tid, P_INT, "ovsport"),
               "Vlans": [1, 2], "BondMode": "active-backup", "LACP": "off", "ExtID": {"k": "v"},
               "Ovs": {"OtherConfig": {"x": "y"}}})
    );
    assert!(wd.edge(&br.id, &pv.id, OWNERSHIP).is_some());
    assert!(wd.edge(&br.id, &pv.id, LAYER2).is_some());

    // The veth is merged into its netlink node: one node, both sets of keys.
    let v = wd.g.node(&veth).unwrap();
    assert_eq!(v.metadata.get_str("UUID"), Some(I_VETH));
    assert_eq!(v.metadata.get_i64("OfPort"), Some(1));
    assert_eq!(
        v.metadata.get_str("Type"),
        Some("veth"),
        "system type keeps the kernel's"
    );
    assert_eq!(v.metadata.get_str("Driver"), Some("veth"));
    assert_eq!(v.metadata.get_str("ExtID.iface-id"), Some("x"));
    assert_eq!(
        v.metadata.get("Ovs.Metric"),
        Some(&json!({"RxPackets": 1, "TxBytes": 10, "Last": 1000}))
    );
    assert!(wd.edge(&pv.id, &veth, LAYER2).is_some());
    assert!(
        wd.edge(&br.id, &veth, OWNERSHIP).is_none(),
        "stays owned by its namespace"
    );
    assert!(wd.edge(&wd.host, &veth, OWNERSHIP).is_some());
    assert!(wd.node("interface", I_VETH).is_none());
    // The internal port too, with OVS's type, recorded for netlink.
    let i = wd.g.node(&int0).unwrap();
    assert_eq!(i.metadata.get_str("Type"), Some("internal"));
    assert_eq!(i.metadata.get("MAC"), Some(&json!("aa:00:00:00:00:08")));
    assert_eq!(wd.claims.type_override(&int0).as_deref(), Some("internal"));
    assert_eq!(
        i.metadata.get_str("TID").map(str::to_owned),
        Some(child_tid(&wd.host_tid, "int0", "internal"))
    );
    assert_eq!(wd.claims.len(), 2);

    // Patch ports: own nodes owned by the bridge, linked to each other.
    let pa = wd.node("interface", I_PA).unwrap().clone();
    let pb = wd.node("interface", I_PB).unwrap().clone();
    assert_eq!(
        serde_json::to_value(&pa.metadata).unwrap(),
        json!({"Name": "pa", "UUID": I_PA, "Type": "patch", "Driver": "openvswitch", "OfPort": 3,
               "MAC": "aa:00:00:00:00:0a", "TID": child_tid(br.metadata.get_str("TID").unwrap(), "pa", "patch"),
               "Ovs": {"Options": {"peer": "pb"}}})
    );
    assert_eq!(
        wd.edge(&pa.id, &pb.id, LAYER2)
            .and_then(|m| m.get_str("Type")),
        Some("patch")
    );
    assert!(wd.edge(&br.id, &pa.id, OWNERSHIP).is_some());

    // Tunnel.
    let gre = wd.node("interface", I_GRE).unwrap().clone();
    assert_eq!(gre.metadata.get_str("LocalIP"), Some("10.0.0.1"));
    assert_eq!(gre.metadata.get_str("RemoteIP"), Some("10.0.0.2"));
    assert_eq!(gre.metadata.get_str("TunEgressIface"), Some("eth0"));
    assert_eq!(gre.metadata.get_str("Ovs.Error"), Some("bad"));
    assert!(gre.metadata.get("MAC").is_none());
    assert!(gre.metadata.get("IfIndex").is_none());

    // Open_vSwitch row on the host (no ovs-system here).
    let h = wd.g.node(&wd.host).unwrap();
    assert_eq!(h.metadata.get("Ovs"), Some(&json!({"Version": "3.1.0"})));
    assert_eq!(h.metadata.get_str("ExtID.system-id"), Some("s1"));

    assert_eq!(
        wd.w.counts(),
        Counts {
            bridges: 1,
            ports: 5,
            interfaces: 5,
            merged: 2,
            unresolved: 0
        }
    );

    // A second sync of the same rows changes nothing.
    let revs: Vec<_> = wd.g.nodes().map(|n| (n.id.clone(), n.revision)).collect();
    wd.sync(&mirror, 2000);
    for (id, rev) in revs {
        assert_eq!(wd.g.node(&id).unwrap().revision, rev, "{id} rewritten");
    }
}

#[test]
fn updates_unmerge_delete_and_resync() {
    let mut wd = world();
    let veth = wd.kernel_iface(7, "veth1", "veth", "aa:00:00:00:00:07");
    let int0 = wd.kernel_iface(8, "int0", "tun", "aa:00:00:00:00:08");
    let (mut mirror, _) = Mirror::from_initial(&rows()).unwrap();
    wd.sync(&mirror, 1000);

    // Statistics move: Metric and LastUpdateMetric.
    mirror
        .apply(&json!({"Interface": {I_VETH: {"new": {"statistics": ["map", [["rx_packets", 4], ["tx_bytes", 10]]]}}}}))
        .unwrap();
    wd.sync(&mirror, 6000);
    let v = wd.g.node(&veth).unwrap();
    assert_eq!(
        v.metadata.get("Ovs.LastUpdateMetric"),
        Some(&json!({"RxPackets": 3, "Start": 1000, "Last": 6000}))
    );
    assert_eq!(v.metadata.get_i64("Ovs.Metric.RxPackets"), Some(4));

    // del-port veth1: its port goes, the netlink node stays without the OVS keys.
    mirror
        .apply(&json!({
            "Bridge": {BR: {"new": {"ports": ["set", [["uuid", P_INT], ["uuid", P_PA], ["uuid", P_PB], ["uuid", P_GRE]]]}}},
            "Port": {P_VETH: {"old": {}}},
            "Interface": {I_VETH: {"old": {}}},
        }))
        .unwrap();
    wd.sync(&mirror, 7000);
    assert!(wd.node("port", P_VETH).is_none());
    let v = wd.g.node(&veth).expect("netlink node kept");
    assert!(v.metadata.get("UUID").is_none() && v.metadata.get("Ovs").is_none());
    assert_eq!(v.metadata.get_str("Type"), Some("veth"));
    assert!(wd.claims.get(&veth).is_none());

    // The internal port's tap vanished (netlink gave it up, as its engine does: kernel keys
    // removed): a recheck is due, and the next sync takes the interface back as its own.
    assert!(!wd.w.needs_recheck(&wd.g, &wd.ns, &wd.claims));
    assert!(wd.claims.netlink_left(&int0));
    wd.g.update_node(&int0, |m| {
        m.remove("IfIndex");
        m.remove("MAC");
    })
    .unwrap();
    assert!(wd.w.needs_recheck(&wd.g, &wd.ns, &wd.claims));
    wd.sync(&mirror, 7500);
    assert!(wd.g.node(&int0).is_none(), "left by both: deleted");
    let own = wd
        .node("interface", I_INT)
        .expect("own node for the tapless port");
    assert!(own.metadata.get("IfIndex").is_some(), "OVS's ifindex kept");
    assert!(!wd.w.needs_recheck(&wd.g, &wd.ns, &wd.claims));
    // Then OVS drops the port too: its own node goes, nothing to restore.
    mirror
        .apply(&json!({
            "Bridge": {BR: {"new": {"ports": ["set", [["uuid", P_PA], ["uuid", P_PB], ["uuid", P_GRE]]]}}},
            "Port": {P_INT: {"old": {}}},
            "Interface": {I_INT: {"old": {}}},
        }))
        .unwrap();
    assert!(wd.sync(&mirror, 8000).is_empty());
    assert!(wd.node("interface", I_INT).is_none());

    // Options change: RemoteIP follows; patch peer renamed: the patch edge goes.
    mirror
        .apply(&json!({"Interface": {
            I_GRE: {"new": {"options": ["map", [["remote_ip", "10.0.0.9"]]]}},
            I_PB: {"new": {"options": ["map", [["peer", "nobody"]]]}},
        }}))
        .unwrap();
    wd.sync(&mirror, 9000);
    let gre = wd.node("interface", I_GRE).unwrap();
    assert_eq!(gre.metadata.get_str("RemoteIP"), Some("10.0.0.9"));
    assert!(
        gre.metadata.get("LocalIP").is_none(),
        "option removed, key removed"
    );
    let (pa, pb) = (
        ovs_node_id(&wd.host, "interface", I_PA),
        ovs_node_id(&wd.host, "interface", I_PB),
    );
    assert!(wd.edge(&pa, &pb, LAYER2).is_none());

    // Resync from a database where the bridge is gone: everything OVS made goes.
    let (empty, _) = Mirror::from_initial(&json!({"Open_vSwitch": {}})).unwrap();
    wd.sync(&empty, 10_000);
    assert!(wd.node("bridge", BR).is_none());
    assert!(wd.node("interface", I_GRE).is_none());
    assert!(wd.g.node(&wd.host).unwrap().metadata.get("Ovs").is_none());
    assert!(wd.g.node(&veth).is_some());
    assert_eq!(wd.g.node_count(), 2, "host and the veth remain");
}

#[test]
fn internal_type_is_given_back_and_late_kernel_nodes_are_merged() {
    let mut wd = world();
    let (mut mirror, _) = Mirror::from_initial(&rows()).unwrap();
    // No netlink node yet for int0: an own node, counted unresolved.
    wd.sync(&mirror, 1000);
    assert!(wd.node("interface", I_INT).is_some());
    assert_eq!(wd.w.counts().unresolved, 2);
    // Netlink creates it: the next sync merges and removes the own node.
    let int0 = wd.kernel_iface(8, "int0", "tun", "aa:00:00:00:00:08");
    wd.sync(&mirror, 1100);
    assert!(wd.node("interface", I_INT).is_none());
    assert_eq!(
        wd.g.node(&int0).unwrap().metadata.get_str("Type"),
        Some("internal")
    );
    let p = ovs_node_id(&wd.host, "port", P_INT);
    assert!(wd.edge(&p, &int0, LAYER2).is_some());
    // OVS lets it go (type changed to system): netlink is asked to re-read the interface.
    mirror
        .apply(&json!({"Interface": {I_INT: {"new": {"type": ""}}}}))
        .unwrap();
    assert_eq!(wd.sync(&mirror, 1200), vec![(NsKey { dev: 1, ino: 1 }, 8)]);
    assert_eq!(wd.claims.type_override(&int0), None);
    // A MAC that does not match is not merged (another interface with that name and index).
    mirror
        .apply(&json!({"Interface": {I_INT: {"new": {"mac_in_use": "aa:00:00:00:00:99"}}}}))
        .unwrap();
    wd.sync(&mirror, 1300);
    assert!(wd.node("interface", I_INT).is_some());
    assert!(wd.g.node(&int0).unwrap().metadata.get("UUID").is_none());
}

#[test]
fn a_new_writer_adopts_what_the_previous_one_left() {
    let mut wd = world();
    let veth = wd.kernel_iface(7, "veth1", "veth", "aa:00:00:00:00:07");
    let (mirror, _) = Mirror::from_initial(&rows()).unwrap();
    wd.sync(&mirror, 1000);
    let nodes = wd.g.node_count();

    // Same rows: nothing changes.
    let mut w2 = Writer::new(wd.host.clone(), wd.host_tid.clone());
    w2.sync(&mut wd.g, &mirror, &wd.ns, &wd.claims, 2000);
    assert_eq!(wd.g.node_count(), nodes);

    // Without the bridge: its nodes go, the merged veth is stripped.
    let mut w3 = Writer::new(wd.host.clone(), wd.host_tid.clone());
    let (empty, _) = Mirror::from_initial(&json!({})).unwrap();
    w3.sync(&mut wd.g, &empty, &wd.ns, &wd.claims, 3000);
    assert!(wd.node("bridge", BR).is_none());
    assert!(wd.node("port", P_INT).is_none());
    let v = wd.g.node(&veth).unwrap();
    assert!(v.metadata.get("UUID").is_none());
    assert_eq!(wd.g.edge_count(), 1, "host ownership of the kernel node");
    assert!(wd.g.node(&wd.host).unwrap().metadata.get("Ovs").is_none());
}

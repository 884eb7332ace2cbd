//! The `ovsdb` probe against a real Open vSwitch (userspace datapath, in a namespace of its
//! own, see `ovs.rs`): Skydive's simple.sh lab plus a second bridge with patch and tunnel
//! ports. The graph must show bridges, ports and interfaces with Skydive's metadata and
//! edges, ONE node per kernel interface (netlink's, carrying the OVS keys too), then follow
//! changes: options, port and bridge deletions.

use std::sync::Arc;

use serde_json::json;
use skydive_graph::{Graph, Node};
use skydive_probes::tid::{child_tid, ovs_tid};
use skydive_probes::{AgentTopology, ProbeState, ProbeStatus, TopologyConfig};

use crate::graph_query::*;
use skydive_testlab::Lab;
use skydive_testlab::Ovs;

/// The node of `Type` `kind` named `name`.
pub fn typed<'a>(g: &'a Graph, kind: &str, name: &str) -> Option<&'a Arc<Node>> {
    g.nodes().find(|n| {
        n.metadata.get_str("Type") == Some(kind) && n.metadata.get_str("Name") == Some(name)
    })
}

/// Every node named `name`.
pub fn all_named<'a>(g: &'a Graph, name: &str) -> Vec<&'a Arc<Node>> {
    g.nodes()
        .filter(|n| n.metadata.get_str("Name") == Some(name))
        .collect()
}

/// Interface nodes named `name` (not OVS bridges or ports).
pub fn ifaces_named<'a>(g: &'a Graph, name: &str) -> Vec<&'a Arc<Node>> {
    all_named(g, name)
        .into_iter()
        .filter(|n| {
            !matches!(
                n.metadata.get_str("Type"),
                Some("ovsbridge") | Some("ovsport")
            )
        })
        .collect()
}

/// The interface node named `name` that carries OVS's `UUID`.
pub fn ovs_iface<'a>(g: &'a Graph, name: &str) -> Option<&'a Arc<Node>> {
    all_named(g, name).into_iter().find(|n| {
        n.metadata.get("UUID").is_some()
            && !matches!(
                n.metadata.get_str("Type"),
                Some("ovsbridge") | Some("ovsport")
            )
    })
}

pub fn ovsdb_status(topo: &AgentTopology) -> ProbeStatus {
    topo.status()
        .into_iter()
        .find(|s| s.name == "ovsdb")
        .expect("ovsdb probe status")
}

pub fn ovs_config(address: String) -> TopologyConfig {
    let mut cfg = TopologyConfig {
        probes: vec!["ovsdb".into()],
        ..Default::default()
    };
    cfg.ovs.ovsdb = address;
    cfg.ovs.enable_stats = true;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ovs_topology_is_merged_with_netlink_and_follows_changes() {
    let Some(mut lab) = Lab::new("ovs-topo") else {
        return;
    };
    let sw = lab.netns("sw");
    let vm1 = lab.netns("vm1");
    let Some(ovs) = Ovs::switch("ovs-topo", &sw, false) else {
        return;
    };
    let (br0, br1) = (lab.ifname("b0"), lab.ifname("b1"));
    let (int0, pa, pb, gre, vx) = (
        lab.ifname("i0"),
        lab.ifname("pa"),
        lab.ifname("pb"),
        lab.ifname("gre"),
        lab.ifname("vx"),
    );
    // Before the agent starts (the initial monitor reply): br0, a veth to vm1, an internal port.
    ovs.vsctl(&[
        "add-br",
        &br0,
        "--",
        "set",
        "bridge",
        &br0,
        "datapath_type=netdev",
        "protocols=OpenFlow10,OpenFlow13",
        "other_config:skt-key=skt-value",
        "external_ids:owner=skt",
    ]);
    let (v1, _v1n) = lab.veth_between("v1", &sw, "v1n", &vm1);
    ovs.vsctl(&[
        "add-port",
        &br0,
        &v1,
        "tag=10",
        "--",
        "set",
        "interface",
        &v1,
        "external_ids:iface-id=skt-iface",
    ]);
    ovs.vsctl(&[
        "add-port",
        &br0,
        &int0,
        "--",
        "set",
        "interface",
        &int0,
        "type=internal",
    ]);
    let (v2, _v2n) = lab.veth_between("v2", &sw, "v2n", &vm1);
    ovs.vsctl(&["add-port", &br0, &v2]);

    let (graph, topo) = start_agent(ovs_config(ovs.unix_address())).await;
    let host = topo.host_node_id().clone();
    let host_tid = topo.host().tid.clone();

    // After: br1 with a patch to br0 and two tunnels (notifications).
    ovs.vsctl(&[
        "add-br",
        &br1,
        "--",
        "set",
        "bridge",
        &br1,
        "datapath_type=netdev",
    ]);
    ovs.vsctl(&[
        "add-port",
        &br0,
        &pa,
        "--",
        "set",
        "interface",
        &pa,
        "type=patch",
        &format!("options:peer={pb}"),
        "--",
        "add-port",
        &br1,
        &pb,
        "--",
        "set",
        "interface",
        &pb,
        "type=patch",
        &format!("options:peer={pa}"),
    ]);
    ovs.vsctl(&[
        "add-port",
        &br1,
        &gre,
        "--",
        "set",
        "interface",
        &gre,
        "type=gre",
        "options:remote_ip=10.99.9.2",
        "options:local_ip=10.99.9.1",
    ]);
    ovs.vsctl(&[
        "add-port",
        &br1,
        &vx,
        "trunks=100,200",
        "--",
        "set",
        "interface",
        &vx,
        "type=vxlan",
        "options:remote_ip=10.99.9.3",
        "options:key=42",
    ]);

    // Bridge br0: Skydive's keys, owned by the host, TID v5(hostTID + UUID + ovsbridge).
    let br0_uuid = ovs.uuid("bridge", &br0);
    let b0 = wait_for(&graph, "ovsbridge br0", |g| {
        typed(g, "ovsbridge", &br0).cloned()
    })
    .await;
    let m = &b0.metadata;
    assert_eq!(m.get_str("UUID"), Some(br0_uuid.as_str()));
    assert_eq!(
        m.get("Ovs.Protocols"),
        Some(&json!(["OpenFlow10", "OpenFlow13"]))
    );
    assert_eq!(m.get_str("Ovs.OtherConfig.skt-key"), Some("skt-value"));
    assert_eq!(m.get_str("ExtID.owner"), Some("skt"));
    assert_eq!(
        m.get_str("TID").map(str::to_owned),
        Some(ovs_tid(&host_tid, &br0_uuid, "ovsbridge"))
    );
    assert!(edge_from(&graph.read(), &host, &b0.id, "ownership").is_some());

    // The veth attached to br0 is ONE node: netlink's (in the switch's namespace) with the
    // OVS keys added; its port owns nothing but links to it.
    let sw_node = wait_for(&graph, "switch namespace", |g| netns_node(g, &sw).cloned()).await;
    let v1_ifindex = lab.ifindex(Some(&sw), &v1);
    let v1_mac = lab.mac(Some(&sw), &v1);
    let veth = wait_for(&graph, "veth merged with OVS keys", |g| {
        let n = iface_in_ns(g, &sw, &v1)?;
        (n.metadata.get("UUID").is_some() && n.metadata.get("OfPort").is_some()).then(|| n.clone())
    })
    .await;
    {
        let g = graph.read();
        assert_eq!(ifaces_named(&g, &v1).len(), 1, "one node for the veth");
        let m = &veth.metadata;
        assert_eq!(
            m.get_str("Type"),
            Some("veth"),
            "OVS type is system: kernel's kept"
        );
        assert_eq!(m.get_str("Driver"), Some("veth"));
        assert_eq!(m.get_i64("IfIndex"), Some(v1_ifindex));
        assert_eq!(m.get_str("MAC"), Some(v1_mac.as_str()));
        assert!(m.get_str("State").is_some(), "netlink keys: {m:?}");
        assert_eq!(
            m.get_str("UUID").map(str::to_owned),
            Some(ovs.uuid("interface", &v1))
        );
        assert!(m.get_i64("OfPort").is_some_and(|p| p > 0));
        assert_eq!(m.get_str("ExtID.iface-id"), Some("skt-iface"));
        assert!(m.get("Ovs.Metric").is_some(), "statistics enabled: {m:?}");
        assert!(edge_from(&g, &sw_node.id, &veth.id, "ownership").is_some());
        let port = typed(&g, "ovsport", &v1).expect("port of the veth");
        assert_eq!(port.metadata.get_i64("Vlans"), Some(10));
        assert_eq!(
            port.metadata.get_str("TID").map(str::to_owned),
            Some(ovs_tid(&host_tid, &ovs.uuid("port", &v1), "ovsport"))
        );
        assert!(edge_from(&g, &b0.id, &port.id, "ownership").is_some());
        assert!(edge_from(&g, &b0.id, &port.id, "layer2").is_some());
        assert!(edge_from(&g, &port.id, &veth.id, "layer2").is_some());
    }

    // The internal port: the tap netlink sees in the switch's namespace, typed `internal`.
    let int_node = wait_for(&graph, "internal port merged", |g| {
        let n = iface_in_ns(g, &sw, &int0)?;
        (n.metadata.get_str("Type") == Some("internal") && n.metadata.get("UUID").is_some())
            .then(|| n.clone())
    })
    .await;
    {
        let g = graph.read();
        assert_eq!(ifaces_named(&g, &int0).len(), 1, "one node for the tap");
        assert_eq!(
            int_node.metadata.get_str("TID").map(str::to_owned),
            Some(child_tid(
                sw_node.metadata.get_str("TID").unwrap(),
                &int0,
                "internal"
            ))
        );
        assert!(int_node.metadata.get_i64("IfIndex").is_some());
    }

    // Patch ports: created by the probe, owned by their bridges, linked as peers.
    let (pa_node, pb_node) = wait_for(&graph, "patch peers linked", |g| {
        let a = ovs_iface(g, &pa)?;
        let b = ovs_iface(g, &pb)?;
        let e = edge_between(g, &a.id, &b.id, "layer2")?;
        (e.metadata.get_str("Type") == Some("patch")).then(|| (a.clone(), b.clone()))
    })
    .await;
    {
        let g = graph.read();
        let b1 = typed(&g, "ovsbridge", &br1).expect("br1");
        assert_eq!(pa_node.metadata.get_str("Type"), Some("patch"));
        assert_eq!(pa_node.metadata.get_str("Driver"), Some("openvswitch"));
        assert_eq!(
            pa_node.metadata.get_str("Ovs.Options.peer"),
            Some(pb.as_str())
        );
        assert!(edge_from(&g, &b0.id, &pa_node.id, "ownership").is_some());
        assert!(edge_from(&g, &b1.id, &pb_node.id, "ownership").is_some());
        assert_eq!(
            pa_node.metadata.get_str("TID").map(str::to_owned),
            Some(child_tid(b0.metadata.get_str("TID").unwrap(), &pa, "patch"))
        );
    }

    // Tunnels: LocalIP/RemoteIP from the options.
    let gre_node = wait_for(&graph, "gre tunnel", |g| {
        ovs_iface(g, &gre)
            .filter(|n| n.metadata.get_str("RemoteIP") == Some("10.99.9.2"))
            .cloned()
    })
    .await;
    assert_eq!(gre_node.metadata.get_str("Type"), Some("gre"));
    assert_eq!(gre_node.metadata.get_str("LocalIP"), Some("10.99.9.1"));
    wait_until(&graph, "vxlan tunnel and trunk port", |g| {
        ovs_iface(g, &vx).is_some_and(|n| {
            n.metadata.get_str("Type") == Some("vxlan")
                && n.metadata.get_str("RemoteIP") == Some("10.99.9.3")
                && n.metadata.get_str("Ovs.Options.key") == Some("42")
        }) && typed(g, "ovsport", &vx)
            .is_some_and(|p| p.metadata.get("Vlans") == Some(&json!([100, 200])))
    })
    .await;

    // The Open_vSwitch row is on the host node (no kernel datapath, no ovs-system here).
    wait_until(&graph, "Open_vSwitch row on the host", |g| {
        g.node(&host)
            .is_some_and(|h| h.metadata.get("Ovs").is_some())
    })
    .await;

    // Changes: a tunnel option.
    ovs.vsctl(&["set", "interface", &gre, "options:remote_ip=10.99.9.9"]);
    wait_until(&graph, "RemoteIP follows options", |g| {
        ovs_iface(g, &gre).is_some_and(|n| n.metadata.get_str("RemoteIP") == Some("10.99.9.9"))
    })
    .await;

    // del-port of the veth: its port goes, the netlink node stays, without the OVS keys.
    ovs.vsctl(&["del-port", &br0, &v1]);
    wait_until(
        &graph,
        "veth port removed, node kept without OVS keys",
        |g| {
            typed(g, "ovsport", &v1).is_none()
                && iface_in_ns(g, &sw, &v1).is_some_and(|n| {
                    n.metadata.get("UUID").is_none()
                        && n.metadata.get("Ovs").is_none()
                        && n.metadata.get_str("Type") == Some("veth")
                })
        },
    )
    .await;

    // The kernel deletes a veth OVS still has: netlink leaves the node to OVS, which keeps
    // one node for the interface (the port's), now without the kernel's keys.
    wait_until(&graph, "second veth merged", |g| {
        iface_in_ns(g, &sw, &v2).is_some_and(|n| n.metadata.get("UUID").is_some())
    })
    .await;
    lab.ip_in(&sw, &["link", "del", &v2]);
    wait_until(&graph, "deleted veth: one OVS node of its own", |g| {
        let nodes = ifaces_named(g, &v2);
        let Some(port) = typed(g, "ovsport", &v2) else {
            return false;
        };
        nodes.len() == 1
            && nodes[0].metadata.get("UUID").is_some()
            && nodes[0].metadata.get("State").is_none()
            && edge_from(g, &port.id, &nodes[0].id, "layer2").is_some()
            && edge_from(g, &b0.id, &nodes[0].id, "ownership").is_some()
    })
    .await;
    ovs.vsctl(&["del-port", &br0, &v2]);
    wait_until(&graph, "deleted veth's port removed", |g| {
        all_named(g, &v2).is_empty()
    })
    .await;

    // del-port of the internal port: the tap goes, so does its node.
    ovs.vsctl(&["del-port", &br0, &int0]);
    wait_until(&graph, "internal port and its node removed", |g| {
        all_named(g, &int0).is_empty()
    })
    .await;

    // del-br br1: its ports and interfaces go; br0's patch end stays, unlinked.
    ovs.vsctl(&["del-br", &br1]);
    wait_until(&graph, "br1 and everything on it removed", |g| {
        typed(g, "ovsbridge", &br1).is_none()
            && all_named(g, &pb).is_empty()
            && all_named(g, &gre).is_empty()
            && all_named(g, &vx).is_empty()
            && ovs_iface(g, &pa).is_some_and(|a| {
                g.node_edges(&a.id)
                    .all(|e| e.metadata.get_str("Type") != Some("patch"))
            })
    })
    .await;

    // Telemetry.
    let st = ovsdb_status(&topo);
    assert_eq!(st.state, ProbeState::Running);
    assert_eq!(st.counters["Connects"], 1);
    assert_eq!(st.counters["Malformed"], 0);
    assert_eq!(st.counters["Failures"], 0);
    assert!(st.counters["Updates"] > 0);
    assert_eq!(st.counters["Bridges"], 1);
    topo.stop().await;
}

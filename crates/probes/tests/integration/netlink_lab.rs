//! Skydive's `simple.sh` lab with a Linux bridge: two namespaces, each with a veth whose other
//! end is a port of a host bridge. The graph must show the namespaces, their interfaces with
//! the right addresses and MACs, veth edges across namespaces, bridge membership and ownership;
//! then follow address, state, master, namespace and deletion changes.

use std::path::Path;

use serde_json::Value;
use skydive_probes::tid::{child_tid, netns_tid};
use skydive_probes::{ProbeState, TopologyConfig};

use crate::graph_query::*;
use skydive_testlab::Lab;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_lab_topology() {
    let Some(mut lab) = Lab::new("nl-bridge") else {
        return;
    };
    // Half the lab exists before the agent (initial dumps), half is made after (notifications).
    let ns_a = lab.netns("a");
    let ns_b = lab.netns("b");
    let br = lab.bridge("br");
    let (va, va_ns) = lab.veth_into("va", "vaN", &ns_a);

    let (graph, topo) = start_agent(TopologyConfig::default()).await;
    let host = topo.host_node_id().clone();
    let host_tid = topo.host().tid.clone();

    let (vb, vb_ns) = lab.veth_into("vb", "vbN", &ns_b);
    lab.ip(&["link", "set", &va, "master", &br]);
    lab.ip(&["link", "set", &vb, "master", &br]);
    lab.ip_in(&ns_a, &["addr", "add", "10.99.1.1/24", "dev", &va_ns]);
    lab.ip_in(&ns_b, &["addr", "add", "10.99.1.2/24", "dev", &vb_ns]);

    // Namespaces: netns nodes owned by the host, with Skydive's keys and TID.
    for ns in [&ns_a, &ns_b] {
        let n = wait_for(&graph, "netns node", |g| netns_node(g, ns).cloned()).await;
        let path = format!("/var/run/netns/{ns}");
        let meta = std::fs::metadata(Path::new(&path)).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(n.metadata.get_str("Path"), Some(path.as_str()));
        assert_eq!(n.metadata.get_i64("Inode"), Some(meta.ino() as i64));
        assert_eq!(n.metadata.get_i64("Device"), Some(meta.dev() as i64));
        assert_eq!(
            n.metadata.get_str("TID").map(str::to_owned),
            Some(netns_tid(&host_tid, &path))
        );
        let g = graph.read();
        assert!(
            edge_from(&g, &host, &n.id, "ownership").is_some(),
            "host owns {ns}"
        );
    }

    // Interfaces inside the namespaces: addresses, MACs, state, ownership, TID.
    for (ns, ifname, ip) in [
        (&ns_a, &va_ns, "10.99.1.1/24"),
        (&ns_b, &vb_ns, "10.99.1.2/24"),
    ] {
        let mac = lab.mac(Some(ns), ifname);
        let idx = lab.ifindex(Some(ns), ifname);
        let n = wait_for(&graph, "namespace veth with its address", |g| {
            iface_in_ns(g, ns, ifname)
                .filter(|n| {
                    strings(n, "IPV4").iter().any(|a| a == ip)
                        && strings(n, "IPV6").iter().any(|a| a.starts_with("fe80::"))
                        && n.metadata.get_str("State") == Some("UP")
                })
                .cloned()
        })
        .await;
        let m = &n.metadata;
        assert_eq!(m.get_str("Type"), Some("veth"));
        assert_eq!(m.get_str("Driver"), Some("veth"));
        assert_eq!(m.get_str("MAC"), Some(mac.as_str()));
        assert_eq!(m.get_i64("IfIndex"), Some(idx));
        assert_eq!(m.get_i64("MTU"), Some(1500));
        assert_eq!(
            m.get_i64("Speed"),
            Some(10000),
            "veth speed, read by ethtool inside the namespace"
        );
        assert!(m.get("BusInfo").is_none(), "no bus for a veth");
        assert!(strings(&n, "LinkFlags").contains(&"UP".to_owned()));
        assert!(
            m.get("LinkNetNsID").is_some(),
            "peer is in another namespace"
        );
        assert!(
            m.get("LinkNetNsName").is_none(),
            "the peer's namespace is the host's"
        );
        let g = graph.read();
        let ns_node = netns_node(&g, ns).unwrap();
        assert_eq!(
            m.get_str("TID").map(str::to_owned),
            Some(child_tid(
                ns_node.metadata.get_str("TID").unwrap(),
                ifname,
                "veth"
            ))
        );
        let rts = m.get("RoutingTables").expect("RoutingTables");
        assert!(
            rts.as_array().unwrap().iter().any(|t| t["ID"] == 254
                && t["Routes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["Prefix"] == "10.99.1.0/24")),
            "connected route in the main table: {rts}"
        );
        let lo = owned_named(&g, &ns_node.id, "lo").expect("lo in namespace");
        assert_eq!(lo.metadata.get_str("Type"), Some("device"));
    }

    // Host side: bridge, its ports, veth edges across namespaces, LinkNetNsName.
    let br_idx = lab.ifindex(None, &br);
    wait_for(&graph, "bridge ports and veth edges", |g| {
        let br_node = owned_named(g, &host, &br)?;
        for (port, ns, peer) in [(&va, &ns_a, &va_ns), (&vb, &ns_b, &vb_ns)] {
            let p = owned_named(g, &host, port)?;
            edge_from(g, &br_node.id, &p.id, "layer2")?;
            let peer_node = iface_in_ns(g, ns, peer)?;
            let veth = edge_between(g, &p.id, &peer_node.id, "layer2")?;
            (veth.metadata.get_str("Type") == Some("veth")).then_some(())?;
            (p.metadata.get_str("LinkNetNsName") == Some(ns.as_str())).then_some(())?;
            (p.metadata.get_i64("MasterIndex") == Some(br_idx)).then_some(())?;
        }
        Some(())
    })
    .await;
    {
        let g = graph.read();
        let br_node = owned_named(&g, &host, &br).unwrap();
        assert_eq!(br_node.metadata.get_str("Type"), Some("bridge"));
        assert_eq!(br_node.metadata.get_str("Driver"), Some("bridge"));
        let va_node = owned_named(&g, &host, &va).unwrap();
        let va_ns_idx = lab.ifindex(Some(&ns_a), &va_ns);
        assert_eq!(va_node.metadata.get_i64("PeerIfIndex"), Some(va_ns_idx));
        assert_eq!(va_node.metadata.get_str("Type"), Some("veth"));
        let e = edge_from(&g, &br_node.id, &va_node.id, "layer2").unwrap();
        assert!(
            e.metadata.get("Type").is_none(),
            "membership edges carry no Type"
        );
    }

    // Traffic inside the lab fills the neighbour table and the bridge FDB.
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns_a,
            "ping",
            "-c",
            "2",
            "-W",
            "2",
            "10.99.1.2",
        ])
        .output()
        .expect("ping runs");
    if out.status.success() {
        let vb_mac = lab.mac(Some(&ns_b), &vb_ns);
        let va_mac = lab.mac(Some(&ns_a), &va_ns);
        wait_until(
            &graph,
            "ARP entry for 10.99.1.2 on the namespace veth",
            |g| {
                iface_in_ns(g, &ns_a, &va_ns)
                    .and_then(|n| n.metadata.get("Neighbors").cloned())
                    .is_some_and(|nb: Value| {
                        nb.as_array()
                            .unwrap()
                            .iter()
                            .any(|e| e["IP"] == "10.99.1.2" && e["MAC"] == vb_mac.as_str())
                    })
            },
        )
        .await;
        wait_until(&graph, "learned FDB entry on the bridge port", |g| {
            owned_named(g, &host, &va)
                .and_then(|n| n.metadata.get("FDB").cloned())
                .is_some_and(|f: Value| {
                    f.as_array()
                        .unwrap()
                        .iter()
                        .any(|e| e["MAC"] == va_mac.as_str())
                })
        })
        .await;
    } else {
        eprintln!(
            "ping unavailable or failed ({}): neighbour checks skipped",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }

    // Telemetry: both namespaces have running listeners that saw events.
    for ns in [&ns_a, &ns_b] {
        let st = ns_status(&topo, ns).expect("namespace listener status");
        assert_eq!(st.state, ProbeState::Running);
        assert!(st.interfaces >= 2, "{st:?}");
    }
    assert!(ns_status(&topo, "host").unwrap().events > 0);
    topo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graph_follows_kernel_changes() {
    let Some(mut lab) = Lab::new("nl-changes") else {
        return;
    };
    let ns_a = lab.netns("a");
    let ns_b = lab.netns("b");
    let br = lab.bridge("br");
    let (va, va_ns) = lab.veth_into("va", "vaN", &ns_a);
    lab.ip(&["link", "set", &va, "master", &br]);
    let (graph, topo) = start_agent(TopologyConfig::default()).await;
    let host = topo.host_node_id().clone();

    wait_for(&graph, "namespace veth", |g| {
        iface_in_ns(g, &ns_a, &va_ns).cloned()
    })
    .await;

    // Add an address.
    lab.ip_in(&ns_a, &["addr", "add", "10.99.2.1/24", "dev", &va_ns]);
    wait_until(&graph, "new address", |g| {
        iface_in_ns(g, &ns_a, &va_ns).is_some_and(|n| strings(n, "IPV4") == ["10.99.2.1/24"])
    })
    .await;

    // MTU and link down.
    lab.ip_in(&ns_a, &["link", "set", &va_ns, "mtu", "1400"]);
    lab.ip_in(&ns_a, &["link", "set", &va_ns, "down"]);
    wait_until(&graph, "link down with new MTU", |g| {
        iface_in_ns(g, &ns_a, &va_ns).is_some_and(|n| {
            n.metadata.get_str("State") == Some("DOWN")
                && n.metadata.get_i64("MTU") == Some(1400)
                && !strings(n, "LinkFlags").contains(&"UP".to_owned())
        })
    })
    .await;
    // The connected route went with the link (the kernel does not say so for IPv4).
    wait_until(&graph, "routes of a down link removed", |g| {
        iface_in_ns(g, &ns_a, &va_ns).is_some_and(|n| {
            n.metadata
                .get("RoutingTables")
                .is_none_or(|t| !t.to_string().contains("10.99.2.0/24"))
        })
    })
    .await;

    // Leave the bridge.
    lab.ip(&["link", "set", &va, "nomaster"]);
    wait_until(&graph, "bridge membership removed", |g| {
        let (Some(b), Some(p)) = (owned_named(g, &host, &br), owned_named(g, &host, &va)) else {
            return false;
        };
        edge_from(g, &b.id, &p.id, "layer2").is_none() && p.metadata.get("MasterIndex").is_none()
    })
    .await;

    // Move the namespace end to the other namespace.
    lab.ip_in(&ns_a, &["link", "set", &va_ns, "netns", &ns_b]);
    wait_until(
        &graph,
        "veth moved to the other namespace, peer edge and LinkNetNsName follow",
        |g| {
            let Some(moved) = iface_in_ns(g, &ns_b, &va_ns) else {
                return false;
            };
            let Some(hostend) = owned_named(g, &host, &va) else {
                return false;
            };
            iface_in_ns(g, &ns_a, &va_ns).is_none()
                && edge_between(g, &moved.id, &hostend.id, "layer2")
                    .is_some_and(|e| e.metadata.get_str("Type") == Some("veth"))
                && hostend.metadata.get_str("LinkNetNsName") == Some(ns_b.as_str())
        },
    )
    .await;

    // Delete the namespace: its node, its interfaces and the pair's host end go.
    let ns_b_id = graph
        .read()
        .nodes()
        .find(|n| n.metadata.get_str("Name") == Some(ns_b.as_str()))
        .map(|n| n.id.clone())
        .unwrap();
    lab.delete_netns(&ns_b);
    wait_until(
        &graph,
        "deleted namespace removed with its interfaces",
        |g| {
            netns_node(g, &ns_b).is_none()
                && g.node(&ns_b_id).is_none()
                && !g
                    .nodes()
                    .any(|n| n.metadata.get_str("Name") == Some(va_ns.as_str()))
        },
    )
    .await;
    wait_until(&graph, "host end of the destroyed pair removed", |g| {
        owned_named(g, &host, &va).is_none()
    })
    .await;
    assert!(
        ns_status(&topo, &ns_b).is_none(),
        "listener of the deleted namespace is gone"
    );
    assert_eq!(ns_status(&topo, &ns_a).unwrap().state, ProbeState::Running);
    topo.stop().await;
}

//! The seed's multi-node lab on one machine: two "nodes", each a namespace with its own
//! ovsdb-server, ovs-vswitchd (userspace datapath) and `skydive agent`, joined by one veth
//! (the underlay), both agents forwarding to one analyzer. `scripts/multinode.sh start
//! <overlay address> <the other node's underlay address>` builds each node's half
//! (test-environment §2.7: br-ul holding the underlay veth and address, br-int with a GRE port
//! to the peer, a namespace vm1 on br-int). One ping across the tunnel is seen as a flow on
//! both nodes' br-int: two capture points (NodeTIDs), one conversation (TrackingID).
//!
//! Each agent runs in the host namespace, sees its node's namespaces through its private
//! `agent.topology.netns.run_path`, and opens its sFlow collector in its node's namespace
//! (`agent.flow.sflow.netns`), where that node's ovs-vswitchd sends samples.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use skydive_functional_tests::{Lab, Ovs, Skydive, eventually, eventually_for, http};

use crate::simple_lab::*;

/// One node: its agent and OVS (dropped before the lab).
struct Node {
    agent: Skydive,
    _ovs: Ovs,
    host_id: String,
}

fn underlay_ip(i: usize) -> String {
    format!("10.99.70.{i}")
}

#[test]
fn multinode_gre_ping_seen_on_both_bridges() {
    let Some(mut lab) = Lab::new("multinode") else {
        return;
    };
    if !tools_present("multinode") {
        return;
    }
    let n = [lab.netns("n1"), lab.netns("n2")];
    let (u1, u2) = lab.veth_between("u1", &n[0], "u2", &n[1]);
    let underlay_if = [u1, u2];
    let vms = [lab.name("vm1"), lab.name("vm2")];
    let overlay = [VM1_IP, VM2_IP];
    let dir = lab.dir("tmp");
    let conf = dir.join("skydive.yml");
    std::fs::write(&conf, SEED_CONFIG).expect("write skydive.yml");

    let analyzer_addr = free_addr();
    let mut analyzer = Skydive::start(
        "analyzer",
        "analyzer",
        &conf,
        &env(&[
            ("SKYDIVE_HOST_ID", lab.name("analyzer")),
            ("SKYDIVE_ANALYZER_LISTEN", analyzer_addr.to_string()),
            (
                "SKYDIVE_STORAGE_DATA_DIR",
                dir.join("data").to_string_lossy().into_owned(),
            ),
        ]),
        analyzer_addr,
        &dir,
    );

    let mut nodes = Vec::new();
    for i in 0..2 {
        let Some(ovs) = Ovs::switch("multinode", &n[i], false) else {
            return;
        };
        lab.adopt_netns(&vms[i]);
        let port = lab.ifname(&format!("p{}", i + 1));
        let db = format!("unix:{}", ovs.path("db.sock"));
        let ul_ip = format!("{}/24", underlay_ip(i + 1));
        run_script(
            "multinode.sh",
            &["start", &format!("{}/24", overlay[i]), &underlay_ip(2 - i)],
            &[
                ("OVS_DB", &db),
                ("VM", &vms[i]),
                ("PORT", &port),
                ("SWITCH_NETNS", &n[i]),
                ("UNDERLAY_IF", &underlay_if[i]),
                ("UNDERLAY_IP", &ul_ip),
            ],
        );
        let run_dir = lab.dir(&format!("netns{}", i + 1));
        expose_netns(&mut lab, &run_dir, &[&n[i], &vms[i]]);
        let host_id = lab.name(&format!("node{}", i + 1));
        let addr = free_addr();
        let agent = Skydive::start(
            &format!("agent{}", i + 1),
            "agent",
            &conf,
            &env(&[
                ("SKYDIVE_HOST_ID", host_id.clone()),
                ("SKYDIVE_AGENT_LISTEN", addr.to_string()),
                ("SKYDIVE_AGENT_ANALYZERS", analyzer_addr.to_string()),
                ("SKYDIVE_OVS_OVSDB", ovs.unix_address()),
                (
                    "SKYDIVE_AGENT_TOPOLOGY_NETNS_RUN_PATH",
                    run_dir.to_string_lossy().into_owned(),
                ),
                (
                    "SKYDIVE_AGENT_FLOW_SFLOW_NETNS",
                    format!("/var/run/netns/{}", n[i]),
                ),
            ]),
            addr,
            &dir,
        );
        nodes.push(Node {
            agent,
            _ovs: ovs,
            host_id,
        });
    }

    // Both halves in the analyzer: a br-int per node, each with a GRE port, each captured.
    let bridges = wait_query(
        analyzer_addr,
        "both nodes' br-int",
        "G.V().Has('Type', 'ovsbridge', 'Name', 'br-int')",
        len_is(2),
    );
    let tid_of: BTreeMap<String, String> = bridges
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["Host"].as_str().unwrap_or("").to_owned(),
                b["Metadata"]["TID"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for node in &nodes {
        assert!(tid_of.contains_key(&node.host_id), "{bridges:#}");
    }
    let gre = wait_query(
        analyzer_addr,
        "each node's GRE port",
        "G.V().Has('Type', 'ovsport', 'Name', 'mn-gre0')",
        len_is(2),
    );
    let gre_hosts: std::collections::BTreeSet<&str> = gre
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["Host"].as_str())
        .collect();
    assert_eq!(gre_hosts.len(), 2, "one GRE port per node: {gre:#}");
    wait_query(
        analyzer_addr,
        "the GRE interfaces with their remote",
        "G.V().Has('Type', 'gre', 'Name', 'mn-gre0').Values('Ovs.Options.remote_ip')",
        |v| has_str(v, &underlay_ip(1)) && has_str(v, &underlay_ip(2)),
    );
    eventually("an active capture on both br-int", || {
        let v = http::gremlin(
            analyzer_addr,
            "G.V().Has('Type', 'ovsbridge', 'Name', 'br-int').Values('Captures')",
        )?;
        let active = v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|caps| {
                        caps.as_array()
                            .is_some_and(|c| c.iter().any(|e| e["State"] == "active"))
                    })
                    .count()
            })
            .unwrap_or(0);
        (active == 2).then_some(()).ok_or_else(|| v.to_string())
    });

    // vm1 of node 1 pings vm1 of node 2 through the tunnel.
    ping(&vms[0], VM2_IP, 20);
    let q = format!(
        "G.Flows().Has('Network.A', '{VM1_IP}').Has('Network.B', '{VM2_IP}').Has('LayersPath', 'Ethernet/IPv4/ICMPv4')"
    );
    let tids: Vec<&String> = tid_of.values().collect();
    let (f1, f2) = eventually_for(
        "the ping's flow on both br-int, with one TrackingID",
        Duration::from_secs(40),
        || {
            let v = http::gremlin(analyzer_addr, &q)?;
            let flows = v.as_array().cloned().unwrap_or_default();
            let on = |tid: &str| -> Vec<Value> {
                flows
                    .iter()
                    .filter(|f| f["NodeTID"] == tid && f["Metric"]["ABPackets"].as_i64() > Some(0))
                    .cloned()
                    .collect()
            };
            let (a, b) = (on(tids[0]), on(tids[1]));
            a.iter()
                .find_map(|x| {
                    b.iter()
                        .find(|y| y["TrackingID"] == x["TrackingID"])
                        .map(|y| (x.clone(), y.clone()))
                })
                .ok_or_else(|| format!("{flows:#?}"))
        },
    );
    assert_ne!(f1["NodeTID"], f2["NodeTID"]);
    assert_ne!(f1["UUID"], f2["UUID"], "one flow per capture point");
    assert_eq!(f1["L3TrackingID"], f2["L3TrackingID"]);
    assert_eq!(
        f1["Link"], f2["Link"],
        "L2 over GRE: the same frames on both bridges"
    );

    for mut node in nodes {
        let st = node.agent.stop();
        assert!(st.success(), "agent {} exit: {st}", node.host_id);
    }
    let st = analyzer.stop();
    assert!(st.success(), "analyzer exit: {st}");
}

//! The host node, probe statuses and ID stability. These run without root (the netns probe then
//! reports itself unavailable).

use serde_json::json;
use skydive_probes::tid::{child_tid, host_tid, interface_node_id};
use skydive_probes::{ProbeState, TopologyConfig};

use crate::graph_query::{owned_named, start_agent, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_node_carries_identity_hardware_and_agent_metadata() {
    let mut cfg = TopologyConfig {
        probes: vec![
            "netlink".into(),
            "ovsdb".into(),
            "docker".into(),
            "bogus".into(),
        ],
        ..Default::default()
    };
    let no_socket = format!("/nonexistent/skt-{}/db.sock", std::process::id());
    cfg.ovs.ovsdb = format!("unix://{no_socket}");
    cfg.metadata.insert("Rack".into(), json!("r12"));
    cfg.metadata.insert("Labels".into(), json!({"env": "test"}));
    let (graph, topo) = start_agent(cfg).await;
    let host_id = topo.host().host_id.clone();
    {
        let g = graph.read();
        let host = g.node(topo.host_node_id()).expect("host node");
        let m = &host.metadata;
        assert_eq!(m.get_str("Type"), Some("host"));
        assert_eq!(m.get_str("Name"), Some(host_id.as_str()));
        assert_eq!(
            m.get_str("TID").map(str::to_owned),
            Some(host_tid(&host_id))
        );
        assert_eq!(
            m.get_str("Hostname"),
            Some(skydive_probes::host::hostname().as_str())
        );
        assert_eq!(m.get_str("Rack"), Some("r12"));
        assert_eq!(m.get_str("Labels.env"), Some("test"));
        assert_eq!(m.get_str("OS"), Some("linux"));
        assert!(m.get_str("KernelVersion").is_some_and(|k| !k.is_empty()));
        assert!(
            m.get("CPU")
                .and_then(|c| c.as_array())
                .is_some_and(|c| !c.is_empty())
        );
        assert_eq!(&*host.origin, format!("agent.{host_id}"));
    }

    // The host's loopback: owned by the host, with a deterministic ID and Skydive's TID.
    let lo = wait_for(&graph, "host lo", |g| {
        owned_named(g, topo.host_node_id(), "lo").cloned()
    })
    .await;
    assert_eq!(lo.id, interface_node_id(topo.host_node_id(), 1));
    assert_eq!(lo.metadata.get_str("Type"), Some("device"));
    assert_eq!(lo.metadata.get_str("EncapType"), Some("loopback"));
    assert_eq!(lo.metadata.get_i64("IfIndex"), Some(1));
    assert!(lo.metadata.values_at("LinkFlags").any(|f| f == "LOOPBACK"));
    assert!(lo.metadata.values_at("IPV4").any(|a| a == "127.0.0.1/8"));
    assert_eq!(
        lo.metadata.get_str("TID").map(str::to_owned),
        Some(child_tid(&host_tid(&host_id), "lo", "device"))
    );

    let status = topo.status();
    let names: Vec<&str> = status.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["hardware", "netlink", "netns", "ovsdb", "docker", "bogus"]
    );
    assert_eq!(status[0].state, ProbeState::Running);
    assert_eq!(status[1].state, ProbeState::Running, "{:?}", status[1]);
    assert_eq!(status[1].namespaces[0].namespace, "host");
    assert!(status[1].namespaces[0].interfaces >= 1);
    if nix::unistd::geteuid().is_root() {
        assert_eq!(status[2].state, ProbeState::Running);
    } else {
        assert!(
            matches!(&status[2].state, ProbeState::Unavailable { reason } if reason.contains("CAP_SYS_ADMIN"))
        );
    }
    assert!(
        matches!(&status[3].state, ProbeState::Unavailable { reason } if reason.contains(&format!("no {no_socket}"))),
        "{:?}",
        status[3]
    );
    assert!(
        matches!(&status[4].state, ProbeState::Unavailable { reason } if reason.contains("not implemented"))
    );
    assert!(
        matches!(&status[5].state, ProbeState::Unavailable { reason } if reason.contains("unknown topology probe `bogus`"))
    );
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json[1]["Namespaces"][0]["Namespace"], "host");
    assert_eq!(json[3]["State"], "unavailable");

    // Stopping removes nothing: the host and its loopback stay, and once stopped nothing
    // writes any more. (The node count before the stop is not compared: lab tests running in
    // parallel add and remove interfaces in the host namespace, which this agent follows.)
    let host_node = topo.host_node_id().clone();
    topo.stop().await;
    let after = graph.read().node_count();
    assert!(graph.read().node(&host_node).is_some());
    assert!(graph.read().node(&lo.id).is_some());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(graph.read().node_count(), after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_and_tids_are_stable_across_restarts_and_stop_and_remove_cleans_up() {
    let (g1, t1) = start_agent(TopologyConfig::default()).await;
    let lo1 = wait_for(&g1, "lo (first run)", |g| {
        owned_named(g, t1.host_node_id(), "lo").cloned()
    })
    .await;
    t1.stop().await;

    let (g2, t2) = start_agent(TopologyConfig::default()).await;
    let lo2 = wait_for(&g2, "lo (second run)", |g| {
        owned_named(g, t2.host_node_id(), "lo").cloned()
    })
    .await;
    assert_eq!(lo1.id, lo2.id);
    assert_eq!(lo1.metadata.get_str("TID"), lo2.metadata.get_str("TID"));
    assert_eq!(t1_host(&g1), t1_host(&g2));

    t2.stop_and_remove().await;
    assert_eq!(
        g2.read().node_count(),
        0,
        "stop_and_remove deletes the host subtree"
    );
}

fn t1_host(g: &skydive_graph::SharedGraph) -> Option<String> {
    let g = g.read();
    g.nodes()
        .find(|n| n.metadata.get_str("Type") == Some("host"))
        .map(|n| n.id.to_string())
}

#[tokio::test]
async fn invalid_configuration_is_refused_with_the_key() {
    let mut cfg = TopologyConfig::default();
    cfg.netlink.metrics_update = 0;
    let graph = skydive_graph::SharedGraph::new(skydive_graph::GraphOptions::new("h", "agent.h"));
    let err = skydive_probes::AgentTopology::start(cfg, graph.clone(), "h".into())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("agent.topology.netlink.metrics_update"),
        "{err}"
    );
    assert_eq!(graph.read().node_count(), 0);
}

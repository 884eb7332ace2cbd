//! The netns probe on a private `run_path`: a file that becomes a namespace mount only later,
//! two paths naming one namespace, a file that never becomes one, and removals.

use skydive_probes::netns::NetnsConfig;
use skydive_probes::{ProbeState, TopologyConfig};

use crate::graph_query::*;
use skydive_testlab::Lab;

fn netns_nodes_with_inode(g: &skydive_graph::Graph, ino: u64) -> usize {
    g.nodes()
        .filter(|n| {
            n.metadata.get_str("Type") == Some("netns")
                && n.metadata.get_i64("Inode") == Some(ino as i64)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn namespace_mounted_after_its_file_appears_and_dedup_by_inode() {
    let Some(mut lab) = Lab::new("ns-mount") else {
        return;
    };
    let ns = lab.netns("x");
    let dir = lab.dir("run");
    let cfg = TopologyConfig {
        netns: NetnsConfig {
            run_path: dir.clone(),
        },
        ..Default::default()
    };
    let (graph, topo) = start_agent(cfg).await;
    let host = topo.host_node_id().clone();

    // A plain file first (as `ip netns add` leaves it before mounting), then the mount.
    let junk = lab.placeholder(&dir, "junk");
    let first = lab.placeholder(&dir, "first");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        netns_node(&graph.read(), "first").is_none(),
        "not a namespace yet"
    );
    lab.bind_netns(&ns, &first);
    let node = wait_for(&graph, "namespace registered once mounted", |g| {
        let n = netns_node(g, "first")?;
        owned_named(g, &n.id, "lo")?;
        Some(n.clone())
    })
    .await;
    let ino = node.metadata.get_i64("Inode").unwrap() as u64;
    assert_eq!(
        node.metadata.get_str("Path"),
        Some(first.to_string_lossy().as_ref())
    );
    assert!(edge_from(&graph.read(), &host, &node.id, "ownership").is_some());

    // A second path to the same namespace: still one node.
    let second = lab.placeholder(&dir, "second");
    lab.bind_netns(&ns, &second);
    tokio::time::sleep(skydive_probes::netns::CHECK_PERIOD).await;
    assert_eq!(netns_nodes_with_inode(&graph.read(), ino), 1);

    // Removing one path keeps it; removing the last removes it and its interfaces.
    lab.unbind(&first);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        netns_nodes_with_inode(&graph.read(), ino),
        1,
        "still reachable through `second`"
    );
    let lo_id = owned_named(&graph.read(), &node.id, "lo")
        .map(|n| n.id.clone())
        .unwrap();
    lab.unbind(&second);
    wait_until(&graph, "namespace node and its interfaces removed", |g| {
        netns_nodes_with_inode(g, ino) == 0 && g.node(&lo_id).is_none()
    })
    .await;

    // The junk file never became a namespace and broke nothing.
    assert!(junk.exists());
    assert!(netns_node(&graph.read(), "junk").is_none());
    let netns = topo
        .status()
        .into_iter()
        .find(|s| s.name == "netns")
        .unwrap();
    assert_eq!(netns.state, ProbeState::Running);
    topo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_path_created_after_start() {
    let Some(mut lab) = Lab::new("ns-late-dir") else {
        return;
    };
    let ns = lab.netns("y");
    let parent = lab.dir("parent");
    let run = parent.join("netns");
    let cfg = TopologyConfig {
        netns: NetnsConfig {
            run_path: run.clone(),
        },
        ..Default::default()
    };
    let (graph, topo) = start_agent(cfg).await;
    std::fs::create_dir(&run).unwrap();
    let f = lab.placeholder(&run, "late");
    lab.bind_netns(&ns, &f);
    wait_for(
        &graph,
        "namespace in a directory created after start",
        |g| {
            let n = netns_node(g, "late")?;
            owned_named(g, &n.id, "lo").cloned()
        },
    )
    .await;
    lab.unbind(&f);
    wait_until(&graph, "namespace gone", |g| {
        netns_node(g, "late").is_none()
    })
    .await;
    topo.stop().await;
}

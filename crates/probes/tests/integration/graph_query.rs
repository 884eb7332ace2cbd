//! Reading the agent's graph from tests: find nodes by owner and name, edges between nodes, and
//! poll until a condition holds (with a deadline, never asserting on timings).

use std::sync::Arc;
use std::time::Duration;

use skydive_graph::{Edge, Graph, GraphOptions, Id, Node, SharedGraph};
use skydive_probes::{AgentTopology, NamespaceStatus, TopologyConfig};

/// How long a test waits for the graph to reflect a change (generous: CI machines are slow;
/// the probe normally takes milliseconds).
pub const DEADLINE: Duration = Duration::from_secs(15);

/// Logs of the probes go to the test output (`RUST_LOG` filters; default: warnings).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("skydive_probes=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Starts an agent topology on a fresh graph, as the agent binary does.
pub async fn start_agent(cfg: TopologyConfig) -> (SharedGraph, AgentTopology) {
    init_tracing();
    let host_id = format!("skt-host-{}", std::process::id());
    let graph = SharedGraph::new(GraphOptions::new(&host_id, format!("agent.{host_id}")));
    let topo = AgentTopology::start(cfg, graph.clone(), host_id)
        .await
        .expect("topology starts");
    (graph, topo)
}

/// Polls `f` until it returns `Some`, or panics after [`DEADLINE`] saying what was awaited.
pub async fn wait_for<T>(graph: &SharedGraph, what: &str, f: impl Fn(&Graph) -> Option<T>) -> T {
    let start = tokio::time::Instant::now();
    let deadline = start + DEADLINE;
    loop {
        if let Some(v) = f(&graph.read()) {
            eprintln!("waited {:?} for {what}", start.elapsed());
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "timed out waiting for {what}; graph has {} nodes, {} edges",
                graph.read().node_count(),
                graph.read().edge_count()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `f` holds.
pub async fn wait_until(graph: &SharedGraph, what: &str, f: impl Fn(&Graph) -> bool) {
    wait_for(graph, what, |g| f(g).then_some(())).await
}

pub fn rel(e: &Edge) -> Option<&str> {
    e.metadata.get_str("RelationType")
}

/// Nodes `owner` owns (through `ownership` edges).
pub fn owned<'a>(g: &'a Graph, owner: &Id) -> Vec<&'a Arc<Node>> {
    g.node_edges(owner)
        .filter(|e| e.parent == *owner && rel(e) == Some("ownership"))
        .filter_map(|e| g.node(&e.child))
        .collect()
}

/// The node named `name` that `owner` owns.
pub fn owned_named<'a>(g: &'a Graph, owner: &Id, name: &str) -> Option<&'a Arc<Node>> {
    owned(g, owner)
        .into_iter()
        .find(|n| n.metadata.get_str("Name") == Some(name))
}

/// The `netns` node named `name`.
pub fn netns_node<'a>(g: &'a Graph, name: &str) -> Option<&'a Arc<Node>> {
    g.nodes().find(|n| {
        n.metadata.get_str("Type") == Some("netns") && n.metadata.get_str("Name") == Some(name)
    })
}

/// Interface `name` inside the netns node named `ns`.
pub fn iface_in_ns<'a>(g: &'a Graph, ns: &str, name: &str) -> Option<&'a Arc<Node>> {
    owned_named(g, &netns_node(g, ns)?.id, name)
}

/// An edge with `relation` between `a` and `b`, in either direction.
pub fn edge_between<'a>(g: &'a Graph, a: &Id, b: &Id, relation: &str) -> Option<&'a Arc<Edge>> {
    g.node_edges(a)
        .find(|e| rel(e) == Some(relation) && e.other_end(a) == Some(b))
}

/// An edge with `relation` from `parent` to `child`.
pub fn edge_from<'a>(
    g: &'a Graph,
    parent: &Id,
    child: &Id,
    relation: &str,
) -> Option<&'a Arc<Edge>> {
    g.node_edges(parent)
        .find(|e| rel(e) == Some(relation) && e.parent == *parent && e.child == *child)
}

/// String values of a list key.
pub fn strings(n: &Node, key: &str) -> Vec<String> {
    n.metadata
        .values_at(key)
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// The netlink listener status of namespace `ns`.
pub fn ns_status(topo: &AgentTopology, ns: &str) -> Option<NamespaceStatus> {
    topo.status()
        .into_iter()
        .find(|s| s.name == "netlink")?
        .namespaces
        .into_iter()
        .find(|n| n.namespace == ns)
}

//! The host node, root of the agent's topology: `{Type: host, Name: <host_id>, Hostname, TID}`
//! plus the `agent.metadata` map from the configuration (as Skydive's `agent/host.go`). It is
//! created before any probe starts; every node the agent creates is owned by it, directly or
//! through a netns node. Hardware facts are added by the `hardware` probe.

use serde_json::{Map, Value};
use skydive_graph::{Id, Metadata, SharedGraph};

use crate::probe::ProbeError;
use crate::tid::{host_node_id, host_tid};

/// Who this agent is in the graph.
#[derive(Debug, Clone)]
pub struct HostIdentity {
    /// `host_id` from the configuration (default: the hostname): the host node's `Name`.
    pub host_id: String,
    /// ID of the host node.
    pub node_id: Id,
    /// TID of the host node (Skydive: v5(Name)).
    pub tid: String,
}

impl HostIdentity {
    pub fn new(host_id: &str) -> Self {
        HostIdentity {
            host_id: host_id.to_owned(),
            node_id: host_node_id(host_id),
            tid: host_tid(host_id),
        }
    }
}

/// The machine's hostname (what Skydive's `Hostname` holds).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The host node's own keys; `extra` (`agent.metadata`) is merged on top, except that it cannot
/// replace the identity keys (`Name`, `Type`, `TID`).
pub fn host_metadata(host: &HostIdentity, extra: &Map<String, Value>) -> Metadata {
    let mut m = Metadata::new();
    m.set("Hostname", Value::from(hostname()));
    for (k, v) in extra {
        m.set(k, v.clone());
    }
    m.set("Name", Value::from(host.host_id.clone()));
    m.set("Type", Value::from("host"));
    m.set("TID", Value::from(host.tid.clone()));
    m
}

/// Creates the host node, or refreshes its keys if the graph already holds it.
pub fn ensure_host_node(
    graph: &SharedGraph,
    host: &HostIdentity,
    extra: &Map<String, Value>,
) -> Result<(), ProbeError> {
    let meta = host_metadata(host, extra);
    let mut g = graph.write();
    let res = if g.node(&host.node_id).is_some() {
        g.update_node(&host.node_id, |m| {
            for (k, v) in meta.iter() {
                m.set(k, v.clone());
            }
        })
    } else {
        g.create_node(host.node_id.clone(), meta)
    };
    res.map(|_| ()).map_err(|source| ProbeError::Graph {
        context: "the host node".into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use skydive_graph::GraphOptions;

    #[test]
    fn host_node_has_identity_and_config_metadata() {
        let graph = SharedGraph::new(GraphOptions::new("h1", "agent.h1"));
        let host = HostIdentity::new("h1");
        let mut extra = Map::new();
        extra.insert("Rack".into(), json!("r12"));
        extra.insert("Type".into(), json!("not-a-host"));
        ensure_host_node(&graph, &host, &extra).unwrap();
        ensure_host_node(&graph, &host, &extra).unwrap();
        let g = graph.read();
        let n = g.node(&host.node_id).unwrap();
        assert_eq!(n.metadata.get_str("Type"), Some("host"));
        assert_eq!(n.metadata.get_str("Name"), Some("h1"));
        assert_eq!(n.metadata.get_str("Rack"), Some("r12"));
        assert_eq!(n.metadata.get_str("TID"), Some(host.tid.as_str()));
        assert_eq!(&*n.origin, "agent.h1");
        assert_eq!(n.revision, 1, "second call changed nothing");
    }
}

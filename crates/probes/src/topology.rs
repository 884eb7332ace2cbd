//! The agent's topology: the host node plus every topology probe, started and stopped together.
//! This is what the agent binary (and the server's `/api/status`) use.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use skydive_graph::{Id, SharedGraph};
use tokio_util::sync::CancellationToken;

use crate::host::{HostIdentity, ensure_host_node};
use crate::namespace::NsHandle;
use crate::netlink::{NamespaceRegistry, NetlinkConfig};
use crate::netns::NetnsConfig;
use crate::ovsdb::OvsConfig;
use crate::probe::{
    NOT_IMPLEMENTED, ProbeContext, ProbeError, ProbeHandle, ProbeState, ProbeStatus,
    TOPOLOGY_PROBES,
};
use crate::relation::delete_subtree;

/// How long [`AgentTopology::start`] waits for the probes to be up (the agent's own namespace
/// read, the netns directory watched).
const FIRST_SYNC_WAIT: Duration = Duration::from_secs(5);

/// `agent.topology.*` (plus `agent.metadata`), with Skydive's key names.
///
/// ```
/// let yaml = "probes: [netlink, netns]\nnetlink:\n  metrics_update: 10\nnetns:\n  run_path: /run/netns\n";
/// let cfg: skydive_probes::TopologyConfig = yaml_serde::from_str(yaml).unwrap();
/// assert_eq!(cfg.netlink.metrics_update, 10);
/// assert!(cfg.validate().is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TopologyConfig {
    /// `agent.topology.probes`: optional probes to run. `hardware`, `netlink` and `netns` always
    /// run (as in Skydive on Linux); names of probes this agent lacks are reported unavailable.
    pub probes: Vec<String>,
    /// `agent.topology.netlink.*`.
    pub netlink: NetlinkConfig,
    /// `agent.topology.netns.*`.
    pub netns: NetnsConfig,
    /// `agent.metadata` (outside `agent.topology`; the binary fills it): merged into the host
    /// node's metadata.
    #[serde(skip)]
    pub metadata: Map<String, Value>,
    /// `ovs.*` (a top-level section, outside `agent.topology`, as in Skydive; the binary fills
    /// it): where the `ovsdb` probe finds the OVSDB server.
    #[serde(skip)]
    pub ovs: OvsConfig,
}

impl TopologyConfig {
    /// Cross-field checks, with the offending key in the message.
    pub fn validate(&self) -> Result<(), ProbeError> {
        self.netlink.validate().map_err(ProbeError::Config)?;
        self.netns.validate().map_err(ProbeError::Config)?;
        self.ovs.validate().map_err(ProbeError::Config)?;
        Ok(())
    }
}

struct Running {
    name: String,
    handle: Option<ProbeHandle>,
    /// The state of a probe that did not start (unavailable, failed to start).
    fixed: Option<ProbeState>,
}

/// The topology side of an agent: owns the probes writing into the agent's graph.
pub struct AgentTopology {
    graph: SharedGraph,
    host: Arc<HostIdentity>,
    namespaces: Arc<NamespaceRegistry>,
    cancel: CancellationToken,
    probes: Vec<Running>,
}

impl std::fmt::Debug for AgentTopology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentTopology")
            .field("host", &self.host.host_id)
            .finish_non_exhaustive()
    }
}

impl AgentTopology {
    /// Creates the host node, then starts every probe. A probe that cannot run is reported in
    /// [`AgentTopology::status`], not returned as an error; errors are for what makes the
    /// topology meaningless (invalid configuration, no host node).
    ///
    /// `graph` should have been created with host `host_id` and origin `agent.<host_id>`: the
    /// nodes and edges are created with the graph's own host and origin. Returns once the
    /// agent's own namespace has been read and every probe is past `starting` (or after a few
    /// seconds if that is slow).
    pub async fn start(
        cfg: TopologyConfig,
        graph: SharedGraph,
        host_id: String,
    ) -> Result<AgentTopology, ProbeError> {
        cfg.validate()?;
        let host = Arc::new(HostIdentity::new(&host_id));
        ensure_host_node(&graph, &host, &cfg.metadata)?;
        let own_ns = NsHandle::current().map_err(|source| ProbeError::Io {
            context: "opening /proc/self/ns/net".into(),
            source,
        })?;
        let namespaces = NamespaceRegistry::new(
            graph.clone(),
            cfg.netlink.clone(),
            own_ns,
            host.node_id.clone(),
            host.tid.clone(),
        );
        let cancel = CancellationToken::new();
        let mut probes = Vec::new();
        for spec in TOPOLOGY_PROBES {
            if !spec.always_on && !cfg.probes.iter().any(|p| p == spec.name) {
                continue;
            }
            let running = match (spec.check)(&cfg) {
                Err(why) => {
                    tracing::warn!(probe = spec.name, reason = %why, "topology probe unavailable");
                    Running {
                        name: spec.name.into(),
                        handle: None,
                        fixed: Some(ProbeState::Unavailable { reason: why.0 }),
                    }
                }
                Ok(()) => {
                    let cx = ProbeContext {
                        graph: graph.clone(),
                        host: host.clone(),
                        namespaces: namespaces.clone(),
                        cancel: cancel.child_token(),
                    };
                    match (spec.start)(&cfg, cx) {
                        Ok(h) => Running {
                            name: spec.name.into(),
                            handle: Some(h),
                            fixed: None,
                        },
                        Err(e) => {
                            tracing::warn!(probe = spec.name, error = %e, "topology probe failed to start");
                            Running {
                                name: spec.name.into(),
                                handle: None,
                                fixed: Some(ProbeState::Failed {
                                    error: e.to_string(),
                                }),
                            }
                        }
                    }
                }
            };
            probes.push(running);
        }
        for name in &cfg.probes {
            if TOPOLOGY_PROBES.iter().any(|s| s.name == name)
                || probes.iter().any(|p| p.name == *name)
            {
                continue;
            }
            let reason = if NOT_IMPLEMENTED.contains(&name.as_str()) {
                format!("probe `{name}` is not implemented by this agent yet")
            } else {
                format!("unknown topology probe `{name}`")
            };
            tracing::warn!(probe = %name, %reason, "topology probe unavailable");
            probes.push(Running {
                name: name.clone(),
                handle: None,
                fixed: Some(ProbeState::Unavailable { reason }),
            });
        }
        let topo = AgentTopology {
            graph,
            host,
            namespaces,
            cancel,
            probes,
        };
        topo.wait_first_sync().await;
        Ok(topo)
    }

    /// Waits until no probe (nor the agent's own namespace listener) is still starting.
    async fn wait_first_sync(&self) {
        let deadline = tokio::time::Instant::now() + FIRST_SYNC_WAIT;
        let starting = |st: &ProbeStatus| {
            st.state == ProbeState::Starting
                || st
                    .namespaces
                    .iter()
                    .any(|n| n.path.is_none() && n.state == ProbeState::Starting)
        };
        while self.status().iter().any(starting) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// ID of the host node (the root of everything the agent creates).
    pub fn host_node_id(&self) -> &Id {
        &self.host.node_id
    }

    /// The host's identity (host id, node ID, TID).
    pub fn host(&self) -> &HostIdentity {
        &self.host
    }

    pub fn graph(&self) -> &SharedGraph {
        &self.graph
    }

    /// One status per probe (for `/api/status`), in start order.
    pub fn status(&self) -> Vec<ProbeStatus> {
        self.probes
            .iter()
            .map(|p| match (&p.handle, &p.fixed) {
                (Some(h), _) => h.status(),
                (None, Some(state)) => ProbeStatus::new(p.name.clone(), state.clone()),
                (None, None) => ProbeStatus::new(p.name.clone(), ProbeState::Stopped),
            })
            .collect()
    }

    /// Stops every probe (last started first). The graph keeps what the probes wrote.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        while let Some(p) = self.probes.pop() {
            if let Some(h) = p.handle {
                h.stop().await;
            }
        }
        self.namespaces.shutdown().await;
    }

    /// Stops every probe, then deletes the host node and everything it owns from the graph.
    pub async fn stop_and_remove(self) {
        let graph = self.graph.clone();
        let root = self.host.node_id.clone();
        self.stop().await;
        delete_subtree(&mut graph.write(), &root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The YAML example of docs/probes.md parses, names only known keys and shows the defaults.
    #[test]
    fn docs_example_matches_the_config() {
        let doc = include_str!("../../../docs/probes.md");
        let yaml = doc
            .split("```yaml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("a yaml block");
        let v: yaml_serde::Value = yaml_serde::from_str(yaml).unwrap();
        let topo = &v["agent"]["topology"];
        let keys = |v: &yaml_serde::Value| -> Vec<String> {
            v.as_mapping()
                .unwrap()
                .keys()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(keys(topo), ["probes", "netlink", "netns"]);
        assert_eq!(
            keys(&topo["netlink"]),
            ["metrics_update", "socket_buffer_bytes"]
        );
        assert_eq!(keys(&topo["netns"]), ["run_path"]);
        let cfg: TopologyConfig = yaml_serde::from_value(topo.clone()).unwrap();
        assert_eq!(
            cfg,
            TopologyConfig::default(),
            "the example shows the defaults"
        );
        assert!(v["agent"]["metadata"].as_mapping().is_some());
        let ovs: OvsConfig = yaml_serde::from_value(v["ovs"].clone()).unwrap();
        assert_eq!(ovs, OvsConfig::default(), "the example shows the defaults");
        assert_eq!(
            keys(&v["ovs"]),
            ["ovsdb", "enable_stats", "max_message_bytes"]
        );
    }
}

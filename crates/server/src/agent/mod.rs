//! The agent service: the host's topology probes keep a local graph live; the agent serves the
//! same API as the analyzer for that graph (REST, Gremlin, `/ws/subscriber`, no history) on
//! `agent.listen`, and forwards it to an analyzer ([`forwarder`]).
//!
//! Main types: [`Agent`] (start), [`RunningAgent`] (address, graph, shutdown), [`AgentConfig`]
//! (`agent.*`), [`AgentSettings`] (everything, checked by the binary).
//!
//! Failures: a probe that cannot run or breaks is reported in `/api/status`
//! (`TopologyProbes`), an analyzer that cannot be reached in `Analyzers`; neither stops the
//! agent. Only an invalid configuration, a host node that cannot be created or a listen
//! address that cannot be bound refuse to start.
//!
//! Must not: read files or the environment (the binary does), or touch the kernel itself
//! (`skydive-probes` does).

mod captures;
pub(crate) mod forwarder;
mod sync_chunks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use skydive_flow::FlowConfig;
use skydive_graph::{GraphOptions, SharedGraph, TimeMs};
use skydive_probes::capture::{CaptureConfig, CaptureContext, CapturesConfig, SflowConfig};
use skydive_probes::{AgentTopology, NetlinkConfig, NetnsConfig, OvsConfig, TopologyConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{self, HttpConfig};
use crate::conns::Registry;
use crate::heap_trim::HeapTrim;
use crate::state::{AppState, State};
use captures::{CaptureManager, ManagerConfig};
use forwarder::{Forwarder, ForwarderConfig, ForwarderStatus};

/// Flow batches (each at most `skydive_probes::capture::MAX_BATCH_FLOWS` flows) waiting for
/// the analyzer connection; when full, captures drop and count what does not fit.
const FLOW_QUEUE_BATCHES: usize = 64;

/// How long shutdown waits for WebSocket sessions to finish.
const SESSION_DRAIN: Duration = Duration::from_secs(5);

/// `agent.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentConfig {
    /// Address of the agent's own API: `host:port`, `:port` or `port`. Skydive: `127.0.0.1:8081`.
    pub listen: String,
    /// Analyzers to forward the graph to, tried in order (`host:port`); a YAML list, or one
    /// string with addresses separated by commas or spaces (Skydive's seed form). Absent: the
    /// top-level `analyzers`, else `127.0.0.1:8082`; `[]`: forward to none.
    #[serde(deserialize_with = "analyzer_list")]
    pub analyzers: Option<Vec<String>>,
    /// `agent.topology.*`.
    pub topology: AgentTopologyConfig,
    /// `agent.flow.*`.
    pub flow: AgentFlowConfig,
    /// `agent.capture.*`.
    pub capture: CaptureConfig,
    /// Merged into the host node's metadata.
    pub metadata: Map<String, Value>,
    /// Target size of one sync message, in bytes; a full sync is cut into chunks of about this
    /// size (each below `http.ws.max_message_bytes`). 64 KiB, not more: the analyzer's
    /// WebSocket read buffer grows to the largest message of a connection and keeps that
    /// size (1 MiB chunks cost 200 MiB for 200 agents), and each chunk holds the graph's
    /// write lock while it is applied.
    pub sync_chunk_bytes: usize,
    /// Longest wait between two rounds of connection attempts, in seconds.
    pub reconnect_max_secs: u64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            listen: "127.0.0.1:8081".to_owned(),
            analyzers: None,
            topology: AgentTopologyConfig::default(),
            flow: AgentFlowConfig::default(),
            capture: CaptureConfig::default(),
            metadata: Map::new(),
            sync_chunk_bytes: 64 << 10,
            reconnect_max_secs: 30,
        }
    }
}

/// `agent.flow.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentFlowConfig {
    /// Flow probes that run by themselves: `ovssflow` captures every OVS bridge without a
    /// capture being created (Skydive's first releases, the seed's `skydive.yml`). Captures
    /// created through `/api/capture` run whatever this lists.
    pub probes: Vec<String>,
    /// `agent.flow.sflow.*`: the agent's sFlow collectors.
    pub sflow: SflowConfig,
}

/// Flow probes `agent.flow.probes` may list.
const FLOW_PROBES: &[&str] = &["ovssflow"];

/// `agent.topology.*`: the keys of [`skydive_probes::TopologyConfig`] (its defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentTopologyConfig {
    /// Optional probes (`ovsdb`); `hardware`, `netlink` and `netns` always run.
    pub probes: Vec<String>,
    pub netlink: NetlinkKeys,
    pub netns: NetnsKeys,
}

/// `agent.topology.netlink.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetlinkKeys {
    /// Seconds between two reads of the interface counters.
    pub metrics_update: u64,
    /// Receive buffer of each namespace's notification socket, in bytes.
    pub socket_buffer_bytes: usize,
}

impl Default for NetlinkKeys {
    fn default() -> Self {
        let d = NetlinkConfig::default();
        NetlinkKeys {
            metrics_update: d.metrics_update,
            socket_buffer_bytes: d.socket_buffer_bytes,
        }
    }
}

/// `agent.topology.netns.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetnsKeys {
    /// Directory of namespace mounts to watch.
    pub run_path: PathBuf,
}

impl Default for NetnsKeys {
    fn default() -> Self {
        NetnsKeys {
            run_path: NetnsConfig::default().run_path,
        }
    }
}

/// `ovs.*` (top level, as in Skydive): where the `ovsdb` probe finds OVSDB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OvsKeys {
    pub ovsdb: String,
    pub enable_stats: bool,
    pub max_message_bytes: usize,
}

impl Default for OvsKeys {
    fn default() -> Self {
        let d = OvsConfig::default();
        OvsKeys {
            ovsdb: d.ovsdb,
            enable_stats: d.enable_stats,
            max_message_bytes: d.max_message_bytes,
        }
    }
}

/// Reads an analyzer list: a YAML list, a string (`"a:1,b:2"` or `"a:1 b:2"`) or null.
pub fn analyzer_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Form>::deserialize(d)? {
        None => None,
        Some(Form::One(s)) => Some(
            s.split([',', ' '])
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        Some(Form::Many(v)) => Some(
            v.into_iter()
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect(),
        ),
    })
}

/// Everything the agent needs, parsed and checked by the binary.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub host_id: String,
    pub agent: AgentConfig,
    /// The analyzers to forward to, resolved (`agent.analyzers`, else `analyzers`); empty:
    /// none.
    pub analyzers: Vec<String>,
    pub ovs: OvsKeys,
    /// `flow.*`: the agent's flow tables.
    pub flow: FlowConfig,
    pub http: HttpConfig,
    /// The configuration in effect, served by `GET /api/config/{key}`.
    pub effective_config: Value,
}

impl AgentSettings {
    /// The probes' configuration. Fields are set one by one on the probes' defaults, so a
    /// key the probes add later keeps its default until it is wired here.
    #[allow(clippy::field_reassign_with_default)]
    pub fn topology(&self) -> TopologyConfig {
        let t = &self.agent.topology;
        let mut netlink = NetlinkConfig::default();
        netlink.metrics_update = t.netlink.metrics_update;
        netlink.socket_buffer_bytes = t.netlink.socket_buffer_bytes;
        let mut netns = NetnsConfig::default();
        netns.run_path = t.netns.run_path.clone();
        let mut ovs = OvsConfig::default();
        ovs.ovsdb = self.ovs.ovsdb.clone();
        ovs.enable_stats = self.ovs.enable_stats;
        ovs.max_message_bytes = self.ovs.max_message_bytes;
        let mut cfg = TopologyConfig::default();
        cfg.probes = t.probes.clone();
        cfg.netlink = netlink;
        cfg.netns = netns;
        cfg.metadata = self.agent.metadata.clone();
        cfg.ovs = ovs;
        cfg
    }

    /// The captures' configuration.
    pub fn captures(&self) -> CapturesConfig {
        CapturesConfig {
            sflow: self.agent.flow.sflow.clone(),
            capture: self.agent.capture.clone(),
            flow: self.flow.clone(),
            ovs: self.topology().ovs,
        }
    }

    /// Checks what the agent would refuse at start, naming the key.
    pub fn validate(&self) -> Result<(), AgentError> {
        for p in &self.agent.flow.probes {
            if !FLOW_PROBES.contains(&p.as_str()) {
                return Err(AgentError::Config(format!(
                    "agent.flow.probes: `{p}` cannot run by itself (this agent knows {}); \
                     other capture types run through captures (POST /api/capture)",
                    FLOW_PROBES.join(", ")
                )));
            }
        }
        self.captures().validate().map_err(AgentError::Config)?;
        if self.agent.listen.trim().is_empty() {
            return Err(AgentError::Config(
                "agent.listen is empty: give an address like 127.0.0.1:8081".into(),
            ));
        }
        if self.agent.sync_chunk_bytes < 1024 {
            return Err(AgentError::Config(format!(
                "agent.sync_chunk_bytes is {}: at least 1024 bytes are needed",
                self.agent.sync_chunk_bytes
            )));
        }
        if self.agent.reconnect_max_secs == 0 {
            return Err(AgentError::Config(
                "agent.reconnect_max_secs must be at least 1".into(),
            ));
        }
        for a in &self.analyzers {
            let url = forwarder::analyzer_url(a);
            if !(url.starts_with("ws://") || url.starts_with("wss://")) {
                return Err(AgentError::Config(format!(
                    "analyzer address `{a}` is not host:port (agent.analyzers)"
                )));
            }
        }
        self.topology()
            .validate()
            .map_err(|e| AgentError::Config(e.to_string()))
    }
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on `{addr}` (agent.listen): {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the topology: {0}")]
    Topology(#[source] skydive_probes::ProbeError),
}

/// What the agent's `/api/status` reads.
pub(crate) struct AgentRuntime {
    topology: Mutex<Option<AgentTopology>>,
    forwarder: Option<Arc<ForwarderStatus>>,
    captures: Mutex<Option<CaptureManager>>,
}

impl AgentRuntime {
    /// `Captures` of the agent's status: by capture id, by node id.
    pub fn captures(&self) -> Value {
        match &*self.captures.lock() {
            Some(m) => m.status(),
            None => json!({}),
        }
    }

    /// `TopologyProbes`, `Analyzers` and `Forwarder` of the agent's status.
    pub fn status(&self) -> (Value, Value, Value) {
        let probes = match &*self.topology.lock() {
            Some(t) => {
                let mut m = Map::new();
                for p in t.status() {
                    let v = serde_json::to_value(&p).unwrap_or(Value::Null);
                    m.insert(p.name.clone(), v);
                }
                Value::Object(m)
            }
            None => json!({}),
        };
        let (analyzers, counters) = match &self.forwarder {
            Some(f) => (f.analyzers(), f.counters()),
            None => (json!({}), Value::Null),
        };
        (probes, analyzers, counters)
    }
}

/// The agent service.
pub struct Agent;

/// A started agent.
pub struct RunningAgent {
    addr: SocketAddr,
    state: State,
    runtime: Arc<AgentRuntime>,
    forwarder: Option<Forwarder>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Agent {
    /// Binds `agent.listen`, starts the probes, serves the API and starts forwarding.
    pub async fn start(settings: AgentSettings) -> Result<RunningAgent, AgentError> {
        settings.validate()?;
        let host_id = settings.host_id.clone();
        let graph = SharedGraph::new(GraphOptions::new(
            host_id.clone(),
            format!("agent.{host_id}"),
        ));
        let bind = api::bind_address(&settings.agent.listen);
        let listener = TcpListener::bind(&bind)
            .await
            .map_err(|source| AgentError::Bind {
                addr: settings.agent.listen.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| AgentError::Bind {
            addr: settings.agent.listen.clone(),
            source,
        })?;
        let topology = AgentTopology::start(settings.topology(), graph.clone(), host_id.clone())
            .await
            .map_err(AgentError::Topology)?;
        for p in topology.status() {
            tracing::info!(probe = %p.name, state = ?p.state, "topology probe");
        }

        let (flow_tx, flow_rx) = tokio::sync::mpsc::channel(FLOW_QUEUE_BATCHES);
        let manager = CaptureManager::start(
            ManagerConfig {
                host_id: host_id.clone(),
                auto_ovssflow: settings.agent.flow.probes.iter().any(|p| p == "ovssflow"),
                ovsdb: settings.agent.topology.probes.iter().any(|p| p == "ovsdb"),
            },
            CaptureContext::new(graph.clone(), host_id.clone(), settings.captures(), flow_tx),
        );
        let forwarder = (!settings.analyzers.is_empty()).then(|| {
            Forwarder::start(
                ForwarderConfig {
                    host_id: host_id.clone(),
                    analyzers: settings.analyzers.clone(),
                    ws: settings.http.ws.clone(),
                    chunk_bytes: settings.agent.sync_chunk_bytes,
                    backoff_max: Duration::from_secs(settings.agent.reconnect_max_secs),
                },
                graph.clone(),
                forwarder::CaptureLinks {
                    flows: flow_rx,
                    captures: manager.analyzer_list(),
                },
            )
        });
        if forwarder.is_none() {
            tracing::warn!(
                "no analyzer configured (agent.analyzers: []): the graph and flows stay on this agent"
            );
        }
        let runtime = Arc::new(AgentRuntime {
            topology: Mutex::new(Some(topology)),
            forwarder: forwarder.as_ref().map(|f| f.status().clone()),
            captures: Mutex::new(Some(manager)),
        });
        let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
        let heap_trim = HeapTrim::spawn(&tasks, shutdown.clone());
        let state: State = Arc::new(AppState {
            graph,
            history: None,
            history_backend: "memory".to_owned(),
            host_id,
            http: settings.http.clone(),
            effective_config: settings.effective_config.clone(),
            started: Instant::now(),
            started_at: TimeMs::now(),
            publishers: Registry::new("/ws/publisher"),
            subscribers: Registry::new("/ws/subscriber"),
            shutdown,
            tasks,
            service: "agent",
            agents: None,
            flows: None,
            captures: None,
            agent: Some(runtime.clone()),
            heap_trim,
        });
        let app =
            api::router(state.clone()).layer(axum::middleware::map_response(service_type_agent));
        let server = api::serve(listener, app, state.shutdown.clone());
        tracing::info!(%addr, analyzers = ?settings.analyzers, "agent listening");
        Ok(RunningAgent {
            addr,
            state,
            runtime,
            forwarder,
            server,
        })
    }
}

/// WebSocket handshakes answered by an agent name it in `X-Service-Type` (the shared handlers
/// write the analyzer's).
async fn service_type_agent(mut resp: axum::response::Response) -> axum::response::Response {
    if let Some(v) = resp.headers_mut().get_mut("X-Service-Type") {
        *v = axum::http::HeaderValue::from_static("agent");
    }
    resp
}

impl RunningAgent {
    /// The address of the agent's API.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The agent's graph.
    pub fn graph(&self) -> &SharedGraph {
        &self.state.graph
    }

    /// Whether the analyzer in use has acknowledged a full sync of this agent's graph.
    pub fn is_synced(&self) -> bool {
        self.forwarder
            .as_ref()
            .is_some_and(|f| f.status().is_synced())
    }

    /// Says `Bye` to the analyzer (which removes this host's subgraph), stops the probes and
    /// the API.
    pub async fn shutdown(self) {
        let RunningAgent {
            state,
            runtime,
            forwarder,
            server,
            ..
        } = self;
        // Captures first: their last flows and the removal of their sFlow rows happen while
        // the analyzer is still connected and OVSDB still watched.
        let manager = runtime.captures.lock().take();
        if let Some(m) = manager {
            m.stop().await;
        }
        if let Some(f) = forwarder {
            f.stop().await;
        }
        let topology = runtime.topology.lock().take();
        if let Some(t) = topology {
            t.stop().await;
        }
        state.shutdown.cancel();
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("agent HTTP server stopped with an error: {e}"),
            Err(e) => tracing::warn!("agent HTTP server task failed: {e}"),
        }
        state.tasks.close();
        let _ = tokio::time::timeout(SESSION_DRAIN, state.tasks.wait()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyzer_lists_accept_skydive_forms() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "analyzer_list")]
            a: Option<Vec<String>>,
        }
        let p = |y: &str| yaml_serde::from_str::<T>(y).unwrap().a;
        assert_eq!(p("a: 127.0.0.1:8082"), Some(vec!["127.0.0.1:8082".into()]));
        assert_eq!(
            p("a: 'h1:1, h2:2'"),
            Some(vec!["h1:1".into(), "h2:2".into()])
        );
        assert_eq!(
            p("a: [h1:1, h2:2]"),
            Some(vec!["h1:1".into(), "h2:2".into()])
        );
        assert_eq!(p("a: []"), Some(vec![]));
        assert_eq!(p("{}"), None);
    }

    #[test]
    fn keys_mirror_the_probes_defaults() {
        let s = AgentSettings {
            host_id: "h".into(),
            agent: AgentConfig::default(),
            analyzers: vec![],
            ovs: OvsKeys::default(),
            flow: FlowConfig::default(),
            http: HttpConfig::default(),
            effective_config: Value::Null,
        };
        let t = s.topology();
        let d = TopologyConfig::default();
        assert_eq!(
            (t.netlink, t.netns, t.probes),
            (d.netlink, d.netns, d.probes)
        );
        assert_eq!(t.ovs, d.ovs);
        assert!(s.validate().is_ok());
        let mut bad = s.clone();
        bad.agent.topology.netlink.metrics_update = 0;
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("agent.topology.netlink.metrics_update"), "{e}");
        let mut bad = s;
        bad.analyzers = vec!["ftp://x".into()];
        assert!(bad.validate().unwrap_err().to_string().contains("ftp://x"));
    }
}

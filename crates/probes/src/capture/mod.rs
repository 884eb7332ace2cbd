//! Captures: what the agent starts on a node when a capture's Gremlin selection matches it,
//! turning traffic into flows. This agent runs two kinds, both sFlow: `ovssflow` (Open
//! vSwitch samples a bridge for a collector of the agent) and `sflow` (a collector for any
//! exporter); the other Skydive kinds are refused with a clear error until they exist.
//!
//! Main types:
//! - [`CaptureSpec`]: a capture as the API describes it (Skydive's fields: `ID`, `Type`,
//!   `HeaderSize`, `SamplingRate`…); [`CaptureSpec::settings`] validates it for a node into
//!   [`CaptureSettings`] (defaults applied).
//! - [`CaptureTarget`]: the selected node (ID, TID, type, name, OVS UUID) and the host's TID.
//! - [`CaptureContext`]: the graph, the agent id, [`CapturesConfig`], and the bounded channel
//!   of [`FlowBatch`]es towards the analyzer.
//! - [`start`] → [`RunningCapture`]: `stats()`, `stop()`.
//! - [`CAPTURE_TYPES`]: the registry of capture types — which node types each may run on,
//!   which is the default for a node type, which this agent supports.
//! - [`cleanup_stale_sflow`]: removes `sFlow` rows a crashed run of this agent left in OVSDB.
//!
//! Organisation: `config.rs` (`agent.flow.sflow.*`, `agent.capture.*`), `collector.rs` (the
//! UDP socket and its two threads), `counters.rs` (counter samples → `SFlow` metadata),
//! `entry.rs` (the node's `Captures` entry), `ovssflow.rs` (the OVSDB row's life), `sflow.rs`.
//!
//! Threads: each capture has two named threads (`sflow-rx`: receive + decode + flow table;
//! `sflow-flows`: records → [`Flow`](skydive_flow::Flow)s) and one tokio task refreshing the node's metadata every
//! `agent.capture.stats_update`. OVSDB transactions run on tokio.
//!
//! Must not: write node metadata other than its `Captures` entry and the `SFlow` key, touch
//! an OVS bridge's `sflow` it did not set, block a tokio worker on the packet path.
//!
//! ```no_run
//! # async fn demo(graph: skydive_graph::SharedGraph, node: &skydive_graph::Node, host_tid: &str)
//! # -> Result<(), skydive_probes::capture::CaptureError> {
//! use skydive_probes::capture::{self, CaptureContext, CaptureSpec, CaptureTarget};
//! let (flows, mut batches) = tokio::sync::mpsc::channel(256);
//! let ctx = CaptureContext::new(graph, "host-1", Default::default(), flows);
//! let spec = CaptureSpec { id: "c1".into(), capture_type: "ovssflow".into(), ..Default::default() };
//! let running = capture::start(spec, CaptureTarget::from_node(node, host_tid)?, &ctx).await?;
//! while let Some(batch) = batches.recv().await {
//!     println!("{} flows", batch.len()); // to the analyzer
//! #   break;
//! }
//! let stats = running.stop().await?;
//! # Ok(()) }
//! ```

pub mod collector;
pub mod config;
pub mod counters;
pub mod entry;
pub mod ovssflow;
pub mod sflow;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use skydive_flow::{CaptureIds, LayerKeyMode};
use skydive_graph::{Id, Node, SharedGraph, TimeMs};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use collector::{
    CaptureStats, CollectorError, CollectorMonitor, CollectorOptions, FlowBatch, MAX_BATCH_FLOWS,
    SflowCollector,
};
pub use config::{CaptureConfig, CapturesConfig, SflowConfig};
pub use entry::remove_capture_entry;
pub use ovssflow::cleanup_stale_sflow;

use entry::{CaptureEntry, EntryState};

/// Skydive's default `HeaderSize` (`flow.DefaultCaptureLength`).
pub const DEFAULT_HEADER_SIZE: u32 = 256;
/// The largest `HeaderSize`.
pub const MAX_HEADER_SIZE: u32 = 4096;
/// `SamplingRate` when the capture gives none: every packet.
pub const DEFAULT_SAMPLING_RATE: u32 = 1;
/// `PollingInterval` (seconds between counter samples) when the capture gives none.
pub const DEFAULT_POLLING_INTERVAL: u32 = 10;

/// A capture type (the capture's `Type`, the word users write).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CaptureType {
    #[serde(rename = "afpacket")]
    Afpacket,
    #[serde(rename = "pcap")]
    Pcap,
    #[serde(rename = "pcapsocket")]
    Pcapsocket,
    #[serde(rename = "sflow")]
    Sflow,
    #[serde(rename = "ovssflow")]
    Ovssflow,
    #[serde(rename = "ovsnetflow")]
    Ovsnetflow,
    #[serde(rename = "ovsmirror")]
    Ovsmirror,
    #[serde(rename = "ebpf")]
    Ebpf,
    #[serde(rename = "dpdk")]
    Dpdk,
}

/// One capture type in the registry.
#[derive(Debug, Clone, Copy)]
pub struct CaptureTypeInfo {
    pub capture_type: CaptureType,
    pub name: &'static str,
    /// Whether this agent can run it.
    pub supported: bool,
    /// Node `Type`s it may run on; empty: any node.
    pub allowed_on: &'static [&'static str],
    /// Node `Type`s it is the default capture type of (a capture without `Type`).
    pub default_for: &'static [&'static str],
}

/// Defines [`LINUX_TYPES`] and [`PCAPSOCKET_TYPES`] from one list, so that they cannot drift.
macro_rules! linux_types {
    ($($name:literal),+ $(,)?) => {
        /// Linux interface types packet captures run on (Skydive's `CaptureTypes`).
        const LINUX_TYPES: &[&str] = &[$($name),+];
        /// `ovsbridge` and [`LINUX_TYPES`].
        const PCAPSOCKET_TYPES: &[&str] = &["ovsbridge", $($name),+];
    };
}

linux_types!(
    "device",
    "internal",
    "veth",
    "tun",
    "bridge",
    "dummy",
    "gre",
    "bond",
    "can",
    "hsr",
    "ifb",
    "macvlan",
    "macvtap",
    "vlan",
    "vxlan",
    "gretap",
    "ip6gretap",
    "geneve",
    "ipoib",
    "vcan",
    "ipip",
    "ipvlan",
    "lowpan",
    "ip6tnl",
    "ip6gre",
    "sit",
);

const fn info(
    capture_type: CaptureType,
    name: &'static str,
    supported: bool,
    allowed_on: &'static [&'static str],
    default_for: &'static [&'static str],
) -> CaptureTypeInfo {
    CaptureTypeInfo {
        capture_type,
        name,
        supported,
        allowed_on,
        default_for,
    }
}

/// Every capture type Skydive knows, in [`CaptureType`] order: where it may run, what it is
/// the default for, and whether this agent runs it.
pub const CAPTURE_TYPES: &[CaptureTypeInfo] = &[
    info(
        CaptureType::Afpacket,
        "afpacket",
        false,
        LINUX_TYPES,
        LINUX_TYPES,
    ),
    info(CaptureType::Pcap, "pcap", false, LINUX_TYPES, &[]),
    info(
        CaptureType::Pcapsocket,
        "pcapsocket",
        false,
        PCAPSOCKET_TYPES,
        &[],
    ),
    info(CaptureType::Sflow, "sflow", true, &[], &[]),
    info(
        CaptureType::Ovssflow,
        "ovssflow",
        true,
        &["ovsbridge"],
        &["ovsbridge"],
    ),
    info(
        CaptureType::Ovsnetflow,
        "ovsnetflow",
        false,
        &["ovsbridge"],
        &[],
    ),
    info(
        CaptureType::Ovsmirror,
        "ovsmirror",
        false,
        &["ovsport"],
        &["ovsport"],
    ),
    info(CaptureType::Ebpf, "ebpf", false, LINUX_TYPES, &[]),
    info(
        CaptureType::Dpdk,
        "dpdk",
        false,
        &["dpdkport"],
        &["dpdkport"],
    ),
];

impl CaptureType {
    /// The type named `name` (Skydive's words).
    pub fn parse(name: &str) -> Result<CaptureType, CaptureError> {
        CAPTURE_TYPES
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.capture_type)
            .ok_or_else(|| CaptureError::UnknownType(name.to_owned()))
    }

    pub fn info(self) -> &'static CaptureTypeInfo {
        // CAPTURE_TYPES is in declaration order (tested).
        &CAPTURE_TYPES[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Whether this agent runs it.
    pub fn is_supported(self) -> bool {
        self.info().supported
    }

    /// Whether it may run on a node of type `node_type`.
    pub fn allowed_on(self, node_type: &str) -> bool {
        let allowed = self.info().allowed_on;
        allowed.is_empty() || allowed.contains(&node_type)
    }

    /// The capture type of a capture without `Type` on a node of type `node_type` (Skydive's
    /// defaults: `ovssflow` for `ovsbridge`, `afpacket` for Linux interfaces…).
    pub fn default_for(node_type: &str) -> Option<CaptureType> {
        CAPTURE_TYPES
            .iter()
            .find(|i| i.default_for.contains(&node_type))
            .map(|i| i.capture_type)
    }
}

impl std::fmt::Display for CaptureType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a capture did not start (or stop cleanly). Messages say what to change.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "unknown capture type `{0}` (Skydive's are afpacket, pcap, pcapsocket, sflow, ovssflow, \
         ovsnetflow, ovsmirror, ebpf, dpdk)"
    )]
    UnknownType(String),
    #[error("capture type {0} is not supported yet (this agent runs ovssflow and sflow captures)")]
    Unsupported(CaptureType),
    #[error("capture type {capture_type} cannot run on a node of type `{node_type}` ({allowed})")]
    NotAllowed {
        capture_type: CaptureType,
        node_type: String,
        allowed: String,
    },
    #[error(
        "no default capture type for a node of type `{0}`: set the capture's Type (sflow runs \
         on any node)"
    )]
    NoDefaultType(String),
    /// A field the capture type cannot honour, or a value out of range.
    #[error("invalid capture: {0}")]
    Invalid(String),
    #[error("node `{node}` has no `{key}`: cannot capture on it")]
    Node { node: String, key: &'static str },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("sFlow collector: {0}")]
    Collector(#[from] CollectorError),
    #[error("OVSDB: {0}")]
    Ovsdb(#[from] crate::ovsdb::ClientError),
    #[error("OVSDB: {0}")]
    Ovs(String),
    #[error("capture task failed: {0}")]
    Task(String),
}

/// `ExtraLayers` as Skydive sends it: a bitmask, or a list of layer names.
fn extra_layers_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Number(n) => n.as_u64() != Some(0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

/// A capture as the API describes it (Skydive's `Capture` resource; the fields that select
/// nodes, like `GremlinQuery`, are the agent's business and ignored here).
///
/// ```
/// let spec: skydive_probes::capture::CaptureSpec = serde_json::from_value(serde_json::json!({
///     "UUID": "c1", "GremlinQuery": "G.V().Has('Type', 'ovsbridge')", "SamplingRate": 10
/// })).unwrap();
/// let s = spec.settings("ovsbridge").unwrap();
/// assert_eq!((s.capture_type.name(), s.sampling_rate, s.header_size), ("ovssflow", 10, 256));
/// assert!(spec.settings("veth").unwrap_err().to_string().contains("afpacket is not supported yet"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptureSpec {
    /// The capture's id (`CaptureID` of its flows); Skydive's `UUID`.
    #[serde(rename = "ID", alias = "UUID")]
    pub id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Description")]
    pub description: String,
    /// Capture type; empty: the default for the node's type.
    #[serde(rename = "Type")]
    pub capture_type: String,
    /// Not supported by sFlow captures.
    #[serde(rename = "BPFFilter")]
    pub bpf_filter: String,
    /// Bytes of each sampled packet kept (sFlow `header`); 0: 256. At most 4096.
    #[serde(rename = "HeaderSize")]
    pub header_size: u32,
    /// One packet sampled in `SamplingRate`; 0: 1 (every packet).
    #[serde(rename = "SamplingRate")]
    pub sampling_rate: u32,
    /// Seconds between counter samples; 0: 10.
    #[serde(rename = "PollingInterval")]
    pub polling_interval: u32,
    /// `sflow` captures: the collector's UDP port; 0: 6343.
    #[serde(rename = "Port")]
    pub port: u32,
    /// `L2` or `L3`; empty: `flow.default_layer_key_mode`.
    #[serde(rename = "LayerKeyMode")]
    pub layer_key_mode: String,
    #[serde(rename = "ExtraTCPMetric")]
    pub extra_tcp_metric: bool,
    #[serde(rename = "IPDefrag")]
    pub ip_defrag: bool,
    #[serde(rename = "ReassembleTCP")]
    pub reassemble_tcp: bool,
    #[serde(rename = "RawPacketLimit")]
    pub raw_packet_limit: u32,
    #[serde(rename = "ExtraLayers")]
    pub extra_layers: Value,
    #[serde(rename = "Target")]
    pub target: String,
    #[serde(rename = "TargetType")]
    pub target_type: String,
}

/// What a capture runs with, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureSettings {
    pub capture_type: CaptureType,
    pub header_size: u32,
    pub sampling_rate: u32,
    pub polling_interval: u32,
    /// `sflow`: the collector's port.
    pub port: u16,
    /// `None`: `flow.default_layer_key_mode`.
    pub layer_key_mode: Option<LayerKeyMode>,
}

impl CaptureSpec {
    /// The capture type for a node of type `node_type`: the capture's, or the node type's
    /// default.
    pub fn capture_type_for(&self, node_type: &str) -> Result<CaptureType, CaptureError> {
        if self.capture_type.is_empty() {
            CaptureType::default_for(node_type)
                .ok_or_else(|| CaptureError::NoDefaultType(node_type.to_owned()))
        } else {
            CaptureType::parse(&self.capture_type)
        }
    }

    /// Validates the capture for a node of type `node_type`.
    pub fn settings(&self, node_type: &str) -> Result<CaptureSettings, CaptureError> {
        let ty = self.capture_type_for(node_type)?;
        if !ty.allowed_on(node_type) {
            let allowed = ty.info().allowed_on;
            return Err(CaptureError::NotAllowed {
                capture_type: ty,
                node_type: node_type.to_owned(),
                allowed: format!("it runs on {}", allowed.join(", ")),
            });
        }
        if !ty.is_supported() {
            return Err(CaptureError::Unsupported(ty));
        }
        let invalid = |m: String| Err(CaptureError::Invalid(m));
        if !self.bpf_filter.trim().is_empty() {
            return invalid(format!(
                "BPFFilter is not supported by {ty} captures (the exporter samples before any \
                 filter): select flows with Flows().Has(…) instead"
            ));
        }
        if self.header_size > MAX_HEADER_SIZE {
            return invalid(format!(
                "HeaderSize {} is larger than {MAX_HEADER_SIZE}",
                self.header_size
            ));
        }
        let port = match (ty, self.port) {
            (CaptureType::Sflow, 0) => config::DEFAULT_SFLOW_PORT,
            (CaptureType::Sflow, p) => match u16::try_from(p) {
                Ok(p) => p,
                Err(_) => return invalid(format!("Port {p} is not a UDP port (1–65535)")),
            },
            (_, 0) => 0,
            (_, p) => {
                return invalid(format!(
                    "Port ({p}) applies to sflow captures only: {ty} collectors take a port from \
                     agent.flow.sflow.port_min..port_max"
                ));
            }
        };
        let layer_key_mode = match self.layer_key_mode.as_str() {
            "" => None,
            "L2" | "l2" => Some(LayerKeyMode::L2),
            "L3" | "l3" => Some(LayerKeyMode::L3),
            other => return invalid(format!("LayerKeyMode `{other}` is not L2 or L3")),
        };
        if self.extra_tcp_metric {
            return invalid(format!(
                "ExtraTCPMetric is not supported by {ty} captures yet"
            ));
        }
        if self.ip_defrag || self.reassemble_tcp {
            return invalid(format!(
                "IPDefrag and ReassembleTCP do not apply to {ty} captures: each sample is one \
                 packet's first bytes"
            ));
        }
        if self.raw_packet_limit > 0 {
            return invalid(
                "RawPacketLimit is not supported yet (flows keep no raw packets)".into(),
            );
        }
        if extra_layers_set(&self.extra_layers) {
            return invalid("ExtraLayers (DNS, DHCPv4, VRRP) are not decoded yet".into());
        }
        if !self.target.is_empty() || !self.target_type.is_empty() {
            return invalid(
                "Target/TargetType (ERSPAN, NetFlow export) are not supported yet: flows go to \
                 the analyzer"
                    .into(),
            );
        }
        Ok(CaptureSettings {
            capture_type: ty,
            header_size: if self.header_size == 0 {
                DEFAULT_HEADER_SIZE
            } else {
                self.header_size
            },
            sampling_rate: self.sampling_rate.max(DEFAULT_SAMPLING_RATE),
            polling_interval: if self.polling_interval == 0 {
                DEFAULT_POLLING_INTERVAL
            } else {
                self.polling_interval
            },
            port,
            layer_key_mode,
        })
    }
}

/// The node a capture runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureTarget {
    pub node_id: Id,
    /// The node's `TID`: every flow's `NodeTID`.
    pub node_tid: String,
    /// The node's `Type`.
    pub node_type: String,
    pub node_name: String,
    /// The node's `UUID` (OVS row uuid of an `ovsbridge`).
    pub uuid: Option<String>,
    /// The host node's `TID`.
    pub host_tid: String,
}

impl CaptureTarget {
    /// The target for `node`, which must have a `TID`.
    pub fn from_node(node: &Node, host_tid: &str) -> Result<CaptureTarget, CaptureError> {
        let m = &node.metadata;
        let name = m.get_str("Name").unwrap_or_default().to_owned();
        let node_tid = m
            .get_str("TID")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CaptureError::Node {
                node: if name.is_empty() {
                    node.id.to_string()
                } else {
                    name.clone()
                },
                key: "TID",
            })?
            .to_owned();
        Ok(CaptureTarget {
            node_id: node.id.clone(),
            node_tid,
            node_type: m.get_str("Type").unwrap_or_default().to_owned(),
            node_name: name,
            uuid: m
                .get_str("UUID")
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
            host_tid: host_tid.to_owned(),
        })
    }
}

/// What every capture shares.
#[derive(Clone)]
pub struct CaptureContext {
    /// The agent's graph: `Captures` entries and `SFlow` counters are written there.
    pub graph: SharedGraph,
    /// The agent's id (`host_id`): the `skydive-probe-id` of its OVSDB rows.
    pub agent_id: String,
    pub config: Arc<CapturesConfig>,
    /// Where flow batches go (towards the analyzer). Bounded; a full channel drops the batch,
    /// counted in `FlowRecordsDropped`.
    pub flows: mpsc::Sender<FlowBatch>,
    /// The network namespace collector sockets are opened in (a `/var/run/netns` path);
    /// `None`: the agent's own. [`CaptureContext::new`] takes it from
    /// `agent.flow.sflow.netns`. For an OVS whose `ovs-vswitchd` runs in another namespace than
    /// the agent: it can only reach collectors in its own.
    pub collector_netns: Option<PathBuf>,
}

impl CaptureContext {
    pub fn new(
        graph: SharedGraph,
        agent_id: impl Into<String>,
        config: CapturesConfig,
        flows: mpsc::Sender<FlowBatch>,
    ) -> Self {
        CaptureContext {
            graph,
            agent_id: agent_id.into(),
            collector_netns: config.sflow.netns_path(),
            config: Arc::new(config),
            flows,
        }
    }
}

/// Starts capture `spec` on `target`: validates it, opens the collector, attaches the
/// `sFlow` row (`ovssflow`), writes the node's `Captures` entry (`State: active`) and keeps
/// it fresh. On failure nothing is left running and the entry says `State: error` with the
/// reason (remove it with [`remove_capture_entry`] when the capture goes away).
pub async fn start(
    spec: CaptureSpec,
    target: CaptureTarget,
    ctx: &CaptureContext,
) -> Result<RunningCapture, CaptureError> {
    match start_capture(&spec, &target, ctx).await {
        Ok(r) => Ok(r),
        Err(e) => {
            tracing::warn!(capture = %spec.id, node = %target.node_name, error = %e, "capture did not start");
            set_error_entry(&ctx.graph, &target.node_id, &spec, &e.to_string());
            Err(e)
        }
    }
}

/// Writes `State: error` with `error` in `node`'s `Captures` entry for `spec`: what a capture
/// that cannot run there shows (remove it with [`remove_capture_entry`]).
pub fn set_error_entry(graph: &SharedGraph, node: &Id, spec: &CaptureSpec, error: &str) {
    let node_type = graph
        .read()
        .node(node)
        .and_then(|n| n.metadata.get_str("Type").map(str::to_owned))
        .unwrap_or_default();
    let entry = CaptureEntry {
        id: spec.id.clone(),
        state: EntryState::Error,
        name: spec.name.clone(),
        description: spec.description.clone(),
        bpf_filter: spec.bpf_filter.clone(),
        capture_type: spec
            .capture_type_for(&node_type)
            .map(|t| t.name().to_owned())
            .unwrap_or_else(|_| spec.capture_type.clone()),
        sflow_socket: String::new(),
        error: error.to_owned(),
        stats: CaptureStats::default(),
    };
    entry::set_entry(graph, node, &entry);
}

async fn start_capture(
    spec: &CaptureSpec,
    target: &CaptureTarget,
    ctx: &CaptureContext,
) -> Result<RunningCapture, CaptureError> {
    if spec.id.is_empty() {
        return Err(CaptureError::Invalid("the capture has no ID".into()));
    }
    let settings = spec.settings(&target.node_type)?;
    let cfg = &ctx.config;
    cfg.validate().map_err(CaptureError::Config)?;
    let mut table = cfg
        .flow
        .table_config()
        .map_err(|e| CaptureError::Config(e.to_string()))?;
    if let Some(mode) = settings.layer_key_mode {
        table.layer_key_mode = mode;
    }
    let ids = CaptureIds {
        node_tid: target.node_tid.clone(),
        capture_id: spec.id.clone(),
    };
    let netns = ctx.collector_netns.clone();
    let (opts, bridge) = match settings.capture_type {
        CaptureType::Sflow => (
            sflow::collector_options(cfg, &settings, table, ids, netns),
            None,
        ),
        CaptureType::Ovssflow => {
            let uuid = target.uuid.clone().ok_or_else(|| CaptureError::Node {
                node: target.node_name.clone(),
                key: "UUID",
            })?;
            (
                ovssflow::collector_options(cfg, table, ids, netns),
                Some(uuid),
            )
        }
        other => return Err(CaptureError::Unsupported(other)),
    };
    let flows = ctx.flows.clone();
    let collector = tokio::task::spawn_blocking(move || SflowCollector::start(opts, flows))
        .await
        .map_err(|e| CaptureError::Task(e.to_string()))??;
    let local = collector.local_addr();
    let row = match bridge {
        None => None,
        Some(bridge) => {
            let target_addr = ovssflow::target_for(local);
            match ovssflow::attach(
                &cfg.ovs,
                &bridge,
                &settings,
                &target_addr,
                &ctx.agent_id,
                &spec.id,
            )
            .await
            {
                Ok(row) => Some(row),
                Err(e) => {
                    let _ = tokio::task::spawn_blocking(move || collector.stop()).await;
                    return Err(e);
                }
            }
        }
    };
    tracing::info!(
        capture = %spec.id, node = %target.node_name, r#type = %settings.capture_type,
        collector = %local, rcvbuf = collector.rcvbuf_bytes(), "capture started"
    );
    let base = CaptureEntry {
        id: spec.id.clone(),
        state: EntryState::Active,
        name: spec.name.clone(),
        description: spec.description.clone(),
        bpf_filter: String::new(),
        capture_type: settings.capture_type.name().to_owned(),
        sflow_socket: local.to_string(),
        error: String::new(),
        stats: CaptureStats::default(),
    };
    let monitor = collector.monitor();
    let status = Status {
        graph: ctx.graph.clone(),
        node: target.node_id.clone(),
        base,
        monitor,
    };
    status.refresh();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(status.run(cfg.capture.stats_period(), cancel.clone()));
    Ok(RunningCapture {
        id: spec.id.clone(),
        settings,
        target: target.clone(),
        graph: ctx.graph.clone(),
        collector: Some(collector),
        row,
        cancel,
        status_task: Some(task),
    })
}

/// The task keeping a node's `Captures` entry and `SFlow` counters fresh.
struct Status {
    graph: SharedGraph,
    node: Id,
    base: CaptureEntry,
    monitor: CollectorMonitor,
}

impl Status {
    async fn run(self, period: std::time::Duration, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => self.refresh(),
            }
        }
    }

    fn refresh(&self) {
        let mut e = self.base.clone();
        e.stats = self.monitor.stats();
        if let Some(f) = self.monitor.failure() {
            e.state = EntryState::Error;
            e.error = f;
        }
        entry::set_entry(&self.graph, &self.node, &e);
        let counters = self
            .monitor
            .counters()
            .lock()
            .take_metadata(TimeMs::now().millis());
        if let Some(v) = counters {
            entry::set_sflow(&self.graph, &self.node, v);
        }
    }
}

/// A running capture. [`RunningCapture::stop`] ends it cleanly; dropping it stops its threads
/// (the table is flushed) but leaves the OVSDB row and the node's metadata as a crash would.
pub struct RunningCapture {
    id: String,
    settings: CaptureSettings,
    target: CaptureTarget,
    graph: SharedGraph,
    collector: Option<SflowCollector>,
    row: Option<ovssflow::SflowRow>,
    cancel: CancellationToken,
    status_task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningCapture")
            .field("id", &self.id)
            .field("type", &self.settings.capture_type)
            .field("node", &self.target.node_name)
            .field("collector", &self.collector)
            .finish()
    }
}

impl RunningCapture {
    /// The capture's `ID`.
    pub fn capture_id(&self) -> &str {
        &self.id
    }

    pub fn target(&self) -> &CaptureTarget {
        &self.target
    }

    pub fn settings(&self) -> &CaptureSettings {
        &self.settings
    }

    pub fn capture_type(&self) -> CaptureType {
        self.settings.capture_type
    }

    /// Where the collector listens (`SFlowSocket`).
    pub fn collector_address(&self) -> Option<SocketAddr> {
        self.collector.as_ref().map(SflowCollector::local_addr)
    }

    /// The OVS bridge's `sFlow` row uuid (`ovssflow`).
    pub fn sflow_row(&self) -> Option<&str> {
        self.row.as_ref().map(|r| r.row_uuid.as_str())
    }

    /// The counters so far.
    pub fn stats(&self) -> CaptureStats {
        self.collector
            .as_ref()
            .map(SflowCollector::stats)
            .unwrap_or_default()
    }

    /// Why the capture broke by itself (its entry then says `State: error`), if it did.
    pub fn failure(&self) -> Option<String> {
        self.collector.as_ref().and_then(|c| c.monitor().failure())
    }

    /// Stops the capture: detaches the OVSDB row (`ovssflow`), stops the collector (every flow
    /// leaves with a last record, waiting up to 1 s for room in the flow channel), removes
    /// the node's `Captures` entry and `SFlow` counters. Returns the final counters; an
    /// OVSDB error is returned after everything local was stopped (the row is then removed
    /// by [`cleanup_stale_sflow`] later).
    pub async fn stop(mut self) -> Result<CaptureStats, CaptureError> {
        self.cancel.cancel();
        if let Some(t) = self.status_task.take() {
            let _ = t.await;
        }
        let detached = match self.row.take() {
            Some(row) => ovssflow::detach(&row).await,
            None => Ok(()),
        };
        let stats = match self.collector.take() {
            Some(c) => tokio::task::spawn_blocking(move || c.stop())
                .await
                .unwrap_or_default(),
            None => CaptureStats::default(),
        };
        remove_capture_entry(&self.graph, &self.target.node_id, &self.id);
        entry::remove_sflow(&self.graph, &self.target.node_id);
        tracing::info!(capture = %self.id, node = %self.target.node_name, ?stats, "capture stopped");
        detached.map(|()| stats)
    }
}

impl Drop for RunningCapture {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[cfg(test)]
mod tests;

//! The probe model: one [`Probe`] trait, one file per probe, one registry ([`TOPOLOGY_PROBES`]).
//!
//! Every probe has the same life: [`Probe::check`] says whether it can run here (and why not),
//! [`Probe::start`] spawns its tasks and returns a [`ProbeHandle`]; the handle reports a
//! [`ProbeStatus`] (running, unavailable with the reason, failed with the error) and stops the
//! probe. A probe that cannot run or that fails is logged and reported, never fatal: the agent
//! keeps the rest of its topology.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;
use skydive_graph::SharedGraph;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::host::HostIdentity;
use crate::netlink::NamespaceRegistry;
use crate::topology::TopologyConfig;

/// Why a probe cannot run on this host (shown in `/api/status`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// Errors of the topology probes' setup.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("invalid topology configuration: {0}")]
    Config(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("graph refused {context}: {source}")]
    Graph {
        context: String,
        source: skydive_graph::GraphError,
    },
}

/// What every probe receives.
#[derive(Clone)]
pub struct ProbeContext {
    pub graph: SharedGraph,
    pub host: Arc<HostIdentity>,
    /// Network namespaces known to the agent; the netlink probe runs one listener in each.
    pub namespaces: Arc<NamespaceRegistry>,
    /// Cancelled when the probe must stop.
    pub cancel: CancellationToken,
}

/// The state of a probe (or of one of its namespace listeners).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "State")]
pub enum ProbeState {
    #[serde(rename = "starting")]
    Starting,
    #[serde(rename = "running")]
    Running,
    /// The probe cannot run here (missing privilege, feature or daemon).
    #[serde(rename = "unavailable")]
    Unavailable {
        #[serde(rename = "Reason")]
        reason: String,
    },
    /// The probe ran and broke; it may be retrying.
    #[serde(rename = "failed")]
    Failed {
        #[serde(rename = "Error")]
        error: String,
    },
    #[serde(rename = "stopped")]
    Stopped,
}

/// One netlink listener (one network namespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceStatus {
    /// `host` for the agent's own namespace, else the netns name.
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "Path", skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(flatten)]
    pub state: ProbeState,
    /// Interfaces currently in the graph for this namespace.
    #[serde(rename = "Interfaces")]
    pub interfaces: u64,
    /// Notifications received from the kernel.
    #[serde(rename = "Events")]
    pub events: u64,
    /// Full re-reads of the namespace after a receive-buffer overrun.
    #[serde(rename = "Resyncs")]
    pub resyncs: u64,
    /// Receive-buffer overruns (`ENOBUFS`): notifications the kernel dropped.
    #[serde(rename = "Overruns")]
    pub overruns: u64,
    /// Netlink messages that could not be decoded (skipped).
    #[serde(rename = "Undecodable")]
    pub undecodable: u64,
    /// Restarts after a failure.
    #[serde(rename = "Failures")]
    pub failures: u64,
    /// Cross-namespace refresh requests dropped because the target's queue was full.
    #[serde(rename = "DroppedRequests")]
    pub dropped_requests: u64,
}

/// A probe's status, as `/api/status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeStatus {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(flatten)]
    pub state: ProbeState,
    /// Per-namespace listeners (netlink only).
    #[serde(rename = "Namespaces", skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<NamespaceStatus>,
    /// Probe-specific counters (e.g. ovsdb's `Connects`, `Malformed`), by name.
    #[serde(rename = "Counters", skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<&'static str, u64>,
}

impl ProbeStatus {
    /// A status with no namespaces and no counters.
    pub fn new(name: impl Into<String>, state: ProbeState) -> Self {
        ProbeStatus {
            name: name.into(),
            state,
            namespaces: Vec::new(),
            counters: BTreeMap::new(),
        }
    }
}

type StatusFn = Box<dyn Fn() -> ProbeStatus + Send + Sync>;

/// A running probe: its tasks, its status, its stop signal.
pub struct ProbeHandle {
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    status: StatusFn,
    on_stop: Option<Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>>,
}

impl ProbeHandle {
    pub fn new(
        cancel: CancellationToken,
        status: impl Fn() -> ProbeStatus + Send + Sync + 'static,
    ) -> Self {
        ProbeHandle {
            cancel,
            tasks: Vec::new(),
            status: Box::new(status),
            on_stop: None,
        }
    }

    pub fn with_task(mut self, task: JoinHandle<()>) -> Self {
        self.tasks.push(task);
        self
    }

    /// Work to await after the tasks ended (e.g. stopping namespace listeners).
    pub fn on_stop(mut self, f: impl FnOnce() -> BoxFuture<'static, ()> + Send + 'static) -> Self {
        self.on_stop = Some(Box::new(f));
        self
    }

    pub fn status(&self) -> ProbeStatus {
        (self.status)()
    }

    /// Signals the probe and waits for its tasks.
    pub async fn stop(self) {
        self.cancel.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        if let Some(f) = self.on_stop {
            f().await;
        }
    }
}

/// A topology probe.
pub trait Probe: Send + 'static {
    /// The word users write in `agent.topology.probes` (and see in `/api/status`).
    const NAME: &'static str;
    /// Whether it runs without being listed in `agent.topology.probes` (Skydive's always-on
    /// Linux probes: hardware, netlink, netns).
    const ALWAYS_ON: bool;
    /// Can the probe run here? The error explains why not.
    fn check(cfg: &TopologyConfig) -> Result<(), Unavailable>;
    /// Spawns the probe's tasks (on the current tokio runtime).
    fn start(cfg: &TopologyConfig, cx: ProbeContext) -> Result<ProbeHandle, ProbeError>;
}

/// A probe in the registry, type-erased.
#[derive(Clone, Copy)]
pub struct ProbeSpec {
    pub name: &'static str,
    pub always_on: bool,
    pub check: fn(&TopologyConfig) -> Result<(), Unavailable>,
    pub start: fn(&TopologyConfig, ProbeContext) -> Result<ProbeHandle, ProbeError>,
}

impl ProbeSpec {
    pub const fn of<P: Probe>() -> Self {
        ProbeSpec {
            name: P::NAME,
            always_on: P::ALWAYS_ON,
            check: P::check,
            start: P::start,
        }
    }
}

impl std::fmt::Debug for ProbeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeSpec")
            .field("name", &self.name)
            .field("always_on", &self.always_on)
            .finish()
    }
}

/// Every topology probe this agent has, in start order (netlink before netns: netns hands its
/// namespaces to netlink).
pub const TOPOLOGY_PROBES: &[ProbeSpec] = &[
    ProbeSpec::of::<crate::hardware::HardwareProbe>(),
    ProbeSpec::of::<crate::netlink::NetlinkProbe>(),
    ProbeSpec::of::<crate::netns::NetnsProbe>(),
    ProbeSpec::of::<crate::ovsdb::OvsdbProbe>(),
];

/// Probe names Skydive knows that this agent does not implement yet: listing one in
/// `agent.topology.probes` reports it as unavailable instead of failing.
pub const NOT_IMPLEMENTED: &[&str] = &[
    "docker",
    "lxd",
    "runc",
    "libvirt",
    "lldp",
    "socketinfo",
    "neutron",
    "opencontrail",
    "vpp",
    "bess",
    "blockdev",
];

/// A status cell for probes whose state is a single value.
#[derive(Debug, Clone)]
pub struct StateCell(Arc<parking_lot::Mutex<ProbeState>>);

impl StateCell {
    pub fn new(s: ProbeState) -> Self {
        StateCell(Arc::new(parking_lot::Mutex::new(s)))
    }
    pub fn set(&self, s: ProbeState) {
        *self.0.lock() = s;
    }
    pub fn get(&self) -> ProbeState {
        self.0.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_json_shape() {
        let s = ProbeStatus::new(
            "netns",
            ProbeState::Unavailable {
                reason: "needs CAP_SYS_ADMIN".into(),
            },
        );
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"Name": "netns", "State": "unavailable", "Reason": "needs CAP_SYS_ADMIN"})
        );
        let running = ProbeStatus::new("netlink", ProbeState::Running);
        assert_eq!(
            serde_json::to_value(&running).unwrap(),
            json!({"Name": "netlink", "State": "running"})
        );
        let mut counted = ProbeStatus::new("ovsdb", ProbeState::Running);
        counted.counters.insert("Connects", 2);
        assert_eq!(
            serde_json::to_value(&counted).unwrap(),
            json!({"Name": "ovsdb", "State": "running", "Counters": {"Connects": 2}})
        );
    }

    #[test]
    fn registry_names_are_unique_and_ordered() {
        let names: Vec<_> = TOPOLOGY_PROBES.iter().map(|p| p.name).collect();
        assert_eq!(names, ["hardware", "netlink", "netns", "ovsdb"]);
        assert!(names.iter().all(|n| !NOT_IMPLEMENTED.contains(n)));
    }
}

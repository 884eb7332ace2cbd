//! `ovsdb` probe: keeps Open vSwitch's bridges, ports and interfaces in the graph, from the
//! OVSDB server (`ovs.ovsdb`), and a reusable OVSDB client for the other OVS probes.
//!
//! Organisation:
//! - [`OvsdbClient`] (`client.rs`): RFC 7047 JSON-RPC over `unix:`/`tcp:` — `transact`,
//!   `monitor`, `get_schema`, `list_dbs`, `echo`; [`Operation`] (`operation.rs`) and the value
//!   helpers of [`datum`] build transactions. The `ovssflow` capture uses these to add and
//!   remove `sFlow` rows.
//! - `jsonrpc.rs`: the framing of the unframed JSON stream and the message shapes (bounded:
//!   size and nesting); `monitor.rs`: what is monitored and the [`Mirror`] of those rows;
//!   `topology.rs`: rows → nodes and edges (Skydive's shapes, the merge with netlink nodes);
//!   `config.rs`: `ovs.*`.
//! - [`OvsdbProbe`]: the loop — connect, `get_schema`, `monitor` (Open_vSwitch, Bridge, Port,
//!   Interface), write the graph, apply each `update`; on any failure reconnect with backoff
//!   (250 ms doubling to 30 s) and resync from the new monitor reply, which removes what
//!   vanished meanwhile. The graph is left as is while disconnected.
//!
//! Status: `unavailable` while the server cannot be reached (the reason names the socket or
//! address; the probe keeps retrying), `running` once monitored, `failed` (with the error)
//! after losing a connection, until the next one succeeds; counters `Connects`, `Resyncs`,
//! `Failures`, `Updates`, `Malformed`, `EchoReplies`, `Bridges`, `Ports`, `Interfaces`,
//! `Merged`.
//!
//! Must not: delete or rewrite netlink's keys on an interface node it merged into (see
//! [`crate::interface_claims`]), or hold the graph lock across an `.await`.

mod client;
mod config;
pub mod datum;
pub mod jsonrpc;
pub mod monitor;
mod operation;
pub mod topology;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::json;
use skydive_graph::TimeMs;

pub use client::{ClientError, ClientOptions, ClientStats, Notification, OvsdbClient};
pub use config::{DEFAULT_OVSDB, OvsConfig, OvsdbAddress};
pub use monitor::Mirror;
pub use operation::{Condition, Mutation, Operation, TransactReply};

use crate::netlink::NamespaceRegistry;
use crate::probe::{
    Probe, ProbeContext, ProbeError, ProbeHandle, ProbeState, ProbeStatus, Unavailable,
};
use crate::topology::TopologyConfig;
use monitor::MonitorError;
use topology::{Counts, NamespaceRoot, Writer};

/// The id of the probe's monitor.
const MONITOR_ID: &str = "skydive";
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A session that ran this long before failing restarts the backoff (a server that fails
/// every session right after the monitor does not get a tight reconnection loop).
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How often the probe checks whether kernel nodes to merge with appeared or vanished.
const RECHECK_PERIOD: Duration = Duration::from_secs(1);
/// Notifications applied before the graph is written (bounds the latency of a burst).
const BATCH: usize = 256;

#[derive(Debug, Default)]
struct Counters {
    connects: AtomicU64,
    resyncs: AtomicU64,
    failures: AtomicU64,
    updates: AtomicU64,
    malformed: AtomicU64,
}

struct Shared {
    state: Mutex<ProbeState>,
    counters: Counters,
    client: Arc<ClientStats>,
    counts: Mutex<Counts>,
}

impl Shared {
    fn status(&self) -> ProbeStatus {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let c = &self.counters;
        let n = *self.counts.lock();
        let counters = BTreeMap::from([
            ("Connects", load(&c.connects)),
            ("Resyncs", load(&c.resyncs)),
            ("Failures", load(&c.failures)),
            ("Updates", load(&c.updates)),
            (
                "Malformed",
                load(&c.malformed) + load(&self.client.malformed),
            ),
            ("EchoReplies", load(&self.client.echo_replies)),
            ("Bridges", n.bridges),
            ("Ports", n.ports),
            ("Interfaces", n.interfaces),
            ("Merged", n.merged),
        ]);
        ProbeStatus {
            counters,
            ..ProbeStatus::new(OvsdbProbe::NAME, self.state.lock().clone())
        }
    }
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// The `ovsdb` probe.
pub struct OvsdbProbe;

impl Probe for OvsdbProbe {
    const NAME: &'static str = "ovsdb";
    const ALWAYS_ON: bool = false;

    fn check(cfg: &TopologyConfig) -> Result<(), Unavailable> {
        // A missing server is not a reason to give up: the probe waits for it (and says so).
        cfg.ovs.address().map(|_| ()).map_err(Unavailable)
    }

    fn start(cfg: &TopologyConfig, cx: ProbeContext) -> Result<ProbeHandle, ProbeError> {
        let address = cfg.ovs.address().map_err(ProbeError::Config)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(ProbeState::Starting),
            counters: Counters::default(),
            client: Arc::default(),
            counts: Mutex::default(),
        });
        let runner = Runner {
            address,
            cfg: cfg.ovs.clone(),
            writer: Writer::new(cx.host.node_id.clone(), cx.host.tid.clone()),
            shared: shared.clone(),
            cx: cx.clone(),
            connected_once: false,
        };
        let task = tokio::spawn(runner.run());
        Ok(ProbeHandle::new(cx.cancel.clone(), move || shared.status()).with_task(task))
    }
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Monitor(#[from] MonitorError),
}

struct Runner {
    address: OvsdbAddress,
    cfg: OvsConfig,
    writer: Writer,
    shared: Arc<Shared>,
    cx: ProbeContext,
    connected_once: bool,
}

impl Runner {
    fn set_state(&self, s: ProbeState) {
        *self.shared.state.lock() = s;
    }

    async fn run(mut self) {
        let mut backoff = MIN_BACKOFF;
        let mut last_error = String::new();
        loop {
            let cancel = self.cx.cancel.clone();
            let result = tokio::select! {
                _ = cancel.cancelled() => break,
                r = self.session() => r,
            };
            let (state, running_since) = match result {
                Ok(since) => (None, since),
                Err((e, since)) => {
                    add(&self.shared.counters.failures, 1);
                    let msg = e.to_string();
                    if msg != last_error {
                        tracing::warn!(address = %self.address, error = %msg, "ovsdb probe: no OVSDB connection, retrying with backoff");
                        last_error = msg.clone();
                    } else {
                        tracing::debug!(address = %self.address, error = %msg, "ovsdb probe: still failing");
                    }
                    let connect = matches!(&e, SessionError::Client(c) if c.is_connect());
                    let state = if connect && !self.connected_once {
                        ProbeState::Unavailable { reason: msg }
                    } else {
                        ProbeState::Failed { error: msg }
                    };
                    (Some(state), since)
                }
            };
            if let Some(s) = state {
                self.set_state(s);
            }
            if running_since.is_some_and(|t| t.elapsed() >= STABLE_AFTER) {
                backoff = MIN_BACKOFF;
                last_error.clear();
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        self.set_state(ProbeState::Stopped);
    }

    /// One connection: monitor, then apply updates until something breaks. The error comes
    /// with when the session got to `running`, if it did.
    async fn session(&mut self) -> Result<Option<Instant>, (SessionError, Option<Instant>)> {
        let opts = ClientOptions {
            max_message_bytes: self.cfg.max_message_bytes,
            stats: self.shared.client.clone(),
            ..ClientOptions::default()
        };
        let (client, mut notes) = OvsdbClient::connect(&self.address, opts)
            .await
            .map_err(|e| (e.into(), None))?;
        let schema = match client.get_schema(monitor::DB).await {
            Ok(s) => Some(s),
            Err(e) if e.is_closed() => return Err((e.into(), None)),
            Err(e) => {
                tracing::debug!(error = %e, "get_schema failed: monitoring every known column");
                None
            }
        };
        let requests = monitor::requests(schema.as_ref(), self.cfg.enable_stats);
        let initial = client
            .monitor(monitor::DB, json!(MONITOR_ID), requests)
            .await
            .map_err(|e| (e.into(), None))?;
        let (mut mirror, applied) = Mirror::from_initial(&initial).map_err(|e| (e.into(), None))?;
        add(&self.shared.counters.malformed, applied.malformed);
        add(&self.shared.counters.connects, 1);
        if self.connected_once {
            add(&self.shared.counters.resyncs, 1);
            tracing::info!(address = %self.address, "ovsdb probe: reconnected, topology resynchronised");
        }
        self.connected_once = true;
        self.sync(&mirror);
        self.set_state(ProbeState::Running);
        let since = Some(Instant::now());

        let mut recheck = tokio::time::interval(RECHECK_PERIOD);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let registry = self.cx.namespaces.clone();
        loop {
            tokio::select! {
                biased;
                n = notes.recv() => {
                    let Some(n) = n else {
                        let reason = client.close_reason().unwrap_or_else(|| "connection closed".into());
                        return Err((ClientError::Closed { reason }.into(), since));
                    };
                    self.apply(&mut mirror, &n).map_err(|e| (e, since))?;
                    for _ in 0..BATCH {
                        match notes.try_recv() {
                            Ok(n) => self.apply(&mut mirror, &n).map_err(|e| (e, since))?,
                            Err(_) => break,
                        }
                    }
                    self.sync(&mirror);
                }
                _ = registry.interfaces_changed() => self.recheck(&mirror, &registry),
                _ = recheck.tick() => self.recheck(&mirror, &registry),
            }
        }
    }

    /// Applies one notification to the mirror.
    fn apply(&self, mirror: &mut Mirror, n: &Notification) -> Result<(), SessionError> {
        let Some((id, updates)) = n.monitor_update() else {
            return Ok(());
        };
        if *id != MONITOR_ID {
            return Ok(());
        }
        add(&self.shared.counters.updates, 1);
        match mirror.apply(updates) {
            Ok(a) => {
                add(&self.shared.counters.malformed, a.malformed);
                if a.malformed > 0 {
                    tracing::warn!(rows = a.malformed, "malformed OVSDB row updates skipped");
                }
                Ok(())
            }
            Err(e) => {
                add(&self.shared.counters.malformed, 1);
                // The mirror may now be out of step: start over from a fresh monitor.
                Err(e.into())
            }
        }
    }

    fn namespaces(registry: &NamespaceRegistry) -> Vec<NamespaceRoot> {
        let host = registry.host_key();
        registry
            .snapshot()
            .1
            .iter()
            .map(|e| NamespaceRoot {
                key: e.key,
                root: e.root_id.clone(),
                root_tid: e.root_tid.clone(),
                host: e.key == host,
            })
            .collect()
    }

    fn recheck(&mut self, mirror: &Mirror, registry: &NamespaceRegistry) {
        let ns = Self::namespaces(registry);
        if self
            .writer
            .needs_recheck(&self.cx.graph.read(), &ns, registry.claims())
        {
            self.sync(mirror);
        }
    }

    fn sync(&mut self, mirror: &Mirror) {
        let registry = self.cx.namespaces.clone();
        let ns = Self::namespaces(&registry);
        let refresh = {
            let mut g = self.cx.graph.write();
            self.writer.sync(
                &mut g,
                mirror,
                &ns,
                registry.claims(),
                TimeMs::now().millis(),
            )
        };
        for (key, ifindex) in refresh {
            registry.request_refresh(key, ifindex);
        }
        *self.shared.counts.lock() = self.writer.counts();
    }
}

//! The analyzer's agents: who is connected to `/ws/agent/topology` (one connection per host
//! id: a second gets 409), how far each one's sync went, and the subgraphs of agents that are
//! gone but may come back.
//!
//! When an agent's subgraph (origin `agent.<host_id>`) is removed:
//! - at once, when the agent says `Bye` (it stops for good);
//! - after `analyzer.topology.agent_grace_secs`, when its connection is lost without a `Bye`,
//!   or when its elements were restored from history at start and it has not reconnected: a
//!   reconnecting agent resyncs within that time, and its reconciled sync changes only what
//!   really changed instead of deleting and re-adding everything;
//! - never when the analyzer itself stops: the elements stay in history as they were, are
//!   restored at the next start, and wait for the agent under the same grace period.
//!
//! Every removal goes through the graph, so history records it and `At()` still shows the
//! subgraph before it.
//!
//! Locks: the directory's mutex may be held while taking the graph's write lock (to delete an
//! expired origin without racing a reconnection), never the other way round.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Value, json};
use skydive_graph::{SharedGraph, TimeMs};
use tokio_util::sync::CancellationToken;

use crate::conns::{ConnCounters, HostConflict};
use crate::heap_trim::HeapTrim;
use crate::protocol::{self, SyncDone};

/// Counters of one agent connection.
#[derive(Debug, Default, Serialize)]
pub(crate) struct AgentCounters {
    /// Messages received.
    #[serde(rename = "Received", serialize_with = "atomic")]
    pub received: AtomicU64,
    /// Elements or messages refused (invalid, foreign origin, inconsistent).
    #[serde(rename = "Rejected", serialize_with = "atomic")]
    pub rejected: AtomicU64,
    /// Messages of a type this protocol version does not know, ignored.
    #[serde(rename = "Ignored", serialize_with = "atomic")]
    pub ignored: AtomicU64,
    /// Full syncs received.
    #[serde(rename = "Syncs", serialize_with = "atomic")]
    pub syncs: AtomicU64,
    /// `SyncRequest`s sent because the analyzer's copy diverged.
    #[serde(rename = "ResyncRequests", serialize_with = "atomic")]
    pub resync_requests: AtomicU64,
}

fn atomic<S: serde::Serializer>(v: &AtomicU64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(v.load(Relaxed))
}

/// Where an agent's sync stands.
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncInfo {
    /// `waiting` (connected, no sync yet), `syncing`, `synced`.
    pub state: &'static str,
    pub generation: u64,
    pub last_seq: u64,
    pub last: Option<SyncDone>,
}

/// One connected agent.
#[derive(Debug)]
pub(crate) struct AgentLink {
    pub host: String,
    pub origin: String,
    pub addr: SocketAddr,
    pub connect_time: SystemTime,
    pub counters: AgentCounters,
    /// Answers queued (`Sent`) and dropped on a full queue (`Dropped`).
    pub conn: Arc<ConnCounters>,
    pub sync: Mutex<SyncInfo>,
}

enum Entry {
    Connected(Arc<AgentLink>),
    /// Gone (or restored from history): deleted at `deadline` unless it comes back.
    Orphaned {
        origin: String,
        since: TimeMs,
        deadline: Instant,
        epoch: u64,
        reason: &'static str,
    },
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Departure {
    /// The agent said `Bye`: remove its subgraph now.
    Bye,
    /// The connection was lost: keep the subgraph for the grace period.
    Lost,
    /// The analyzer stops: keep everything.
    Shutdown,
}

/// The analyzer's agents (see the module docs).
pub(crate) struct Agents {
    graph: SharedGraph,
    grace: Duration,
    shutdown: CancellationToken,
    /// Asked for after a subgraph is removed (megabytes freed at once).
    heap_trim: HeapTrim,
    entries: Mutex<HashMap<String, Entry>>,
    epoch: AtomicU64,
    /// Subgraphs removed after their grace period.
    expired: AtomicU64,
}

impl Agents {
    pub fn new(
        graph: SharedGraph,
        grace: Duration,
        shutdown: CancellationToken,
        heap_trim: HeapTrim,
    ) -> Arc<Self> {
        Arc::new(Agents {
            graph,
            grace,
            shutdown,
            heap_trim,
            entries: Mutex::default(),
            epoch: AtomicU64::new(0),
            expired: AtomicU64::new(0),
        })
    }

    /// Records a new agent connection; refuses a host id already connected.
    pub fn connect(
        self: &Arc<Self>,
        host: &str,
        addr: SocketAddr,
    ) -> Result<Arc<AgentLink>, HostConflict> {
        let mut entries = self.entries.lock();
        if let Some(Entry::Connected(_)) = entries.get(host) {
            return Err(HostConflict {
                host: host.to_owned(),
                endpoint: protocol::ENDPOINT,
            });
        }
        let link = Arc::new(AgentLink {
            host: host.to_owned(),
            origin: format!("{}.{host}", protocol::CLIENT_TYPE),
            addr,
            connect_time: SystemTime::now(),
            counters: AgentCounters::default(),
            conn: Arc::default(),
            sync: Mutex::new(SyncInfo {
                state: "waiting",
                ..SyncInfo::default()
            }),
        });
        // Replacing an orphan entry cancels its grace timer (the epoch no longer matches).
        entries.insert(host.to_owned(), Entry::Connected(link.clone()));
        Ok(link)
    }

    /// Ends a connection (see [`Departure`]).
    pub async fn disconnect(self: &Arc<Self>, link: &Arc<AgentLink>, how: Departure) {
        match how {
            Departure::Shutdown => {
                self.remove_if_current(link);
            }
            Departure::Bye => {
                let this = self.clone();
                let gone = link.clone();
                let res = tokio::task::spawn_blocking(move || {
                    // Delete before freeing the host id, so a new connection cannot start
                    // syncing while the old subgraph is being removed.
                    let n = this.graph.write().delete_origin(&gone.origin);
                    this.remove_if_current(&gone);
                    n
                })
                .await;
                match res {
                    Ok(n) => {
                        self.heap_trim.after_burst();
                        tracing::info!(host = %link.host, deleted = n, "agent left: removed its subgraph")
                    }
                    Err(e) => tracing::warn!("agent removal task failed: {e}"),
                }
            }
            Departure::Lost => {
                let mut entries = self.entries.lock();
                if matches!(entries.get(&link.host), Some(Entry::Connected(l)) if Arc::ptr_eq(l, link))
                {
                    let epoch =
                        self.orphan(&mut entries, &link.host, &link.origin, "connection lost");
                    drop(entries);
                    tracing::info!(
                        host = %link.host,
                        grace_secs = self.grace.as_secs(),
                        "agent connection lost: its subgraph stays for the grace period"
                    );
                    self.arm(link.host.clone(), epoch);
                }
            }
        }
    }

    fn remove_if_current(&self, link: &Arc<AgentLink>) {
        let mut entries = self.entries.lock();
        if matches!(entries.get(&link.host), Some(Entry::Connected(l)) if Arc::ptr_eq(l, link)) {
            entries.remove(&link.host);
        }
    }

    fn orphan(
        &self,
        entries: &mut HashMap<String, Entry>,
        host: &str,
        origin: &str,
        reason: &'static str,
    ) -> u64 {
        let epoch = self.epoch.fetch_add(1, Relaxed) + 1;
        entries.insert(
            host.to_owned(),
            Entry::Orphaned {
                origin: origin.to_owned(),
                since: TimeMs::now(),
                deadline: Instant::now() + self.grace,
                epoch,
                reason,
            },
        );
        epoch
    }

    /// Subgraphs restored from history wait for their agents (see the module docs).
    pub fn restored(self: &Arc<Self>, origins: Vec<String>) {
        for origin in origins {
            let Some(host) = origin.strip_prefix("agent.") else {
                continue;
            };
            let epoch = {
                let mut entries = self.entries.lock();
                if entries.contains_key(host) {
                    continue;
                }
                self.orphan(&mut entries, host, &origin, "restored from history")
            };
            tracing::info!(%host, grace_secs = self.grace.as_secs(), "restored an agent's subgraph: waiting for the agent to resync");
            self.arm(host.to_owned(), epoch);
        }
    }

    /// Deletes the orphan `host` after the grace period, unless it came back meanwhile.
    fn arm(self: &Arc<Self>, host: String, epoch: u64) {
        let this = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(this.grace) => {}
                _ = this.shutdown.cancelled() => return,
            }
            let that = this.clone();
            let res = tokio::task::spawn_blocking(move || that.expire(&host, epoch)).await;
            if let Err(e) = res {
                tracing::warn!("agent expiry task failed: {e}");
            }
        });
    }

    fn expire(&self, host: &str, epoch: u64) {
        let mut entries = self.entries.lock();
        let origin = match entries.get(host) {
            Some(Entry::Orphaned {
                origin, epoch: e, ..
            }) if *e == epoch => origin.clone(),
            _ => return,
        };
        if self.shutdown.is_cancelled() {
            return;
        }
        // Still holding the directory: the agent cannot reconnect while its subgraph goes.
        let n = self.graph.write().delete_origin(&origin);
        entries.remove(host);
        self.expired.fetch_add(1, Relaxed);
        self.heap_trim.after_burst();
        tracing::info!(%host, deleted = n, "agent did not come back within the grace period: removed its subgraph");
    }

    /// `Agents` of `/api/status`, by host id.
    pub fn status(&self) -> BTreeMap<String, Value> {
        let entries = self.entries.lock();
        let now = Instant::now();
        entries
            .iter()
            .map(|(host, e)| {
                let v = match e {
                    Entry::Connected(l) => {
                        let sync = l.sync.lock().clone();
                        let mut v = json!({
                            "ServiceType": protocol::CLIENT_TYPE,
                            "ClientProtocol": format!("skydive-agent/{}", protocol::VERSION),
                            "Addr": l.addr.ip().to_string(),
                            "Port": l.addr.port(),
                            "IsConnected": true,
                            "ConnectTime": humantime::format_rfc3339_millis(l.connect_time).to_string(),
                            "Origin": l.origin,
                            "State": sync.state,
                            "Generation": sync.generation,
                            "LastSeq": sync.last_seq,
                            "LastSync": sync.last,
                            "Sent": l.conn.sent.load(Relaxed),
                            "Dropped": l.conn.dropped.load(Relaxed),
                        });
                        if let (Value::Object(m), Ok(Value::Object(c))) =
                            (&mut v, serde_json::to_value(&l.counters))
                        {
                            m.extend(c);
                        }
                        v
                    }
                    Entry::Orphaned {
                        origin,
                        since,
                        deadline,
                        reason,
                        ..
                    } => json!({
                        "ServiceType": protocol::CLIENT_TYPE,
                        "IsConnected": false,
                        "Origin": origin,
                        "State": "orphaned",
                        "Reason": reason,
                        "Since": since,
                        "RemovedInSecs": deadline.saturating_duration_since(now).as_secs(),
                    }),
                };
                (host.clone(), v)
            })
            .collect()
    }

    /// Subgraphs removed after their grace period, since start.
    pub fn expired(&self) -> u64 {
        self.expired.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use skydive_graph::{GraphOptions, Metadata, Node};

    fn graph_with(origin: &str) -> SharedGraph {
        let g = SharedGraph::new(GraphOptions::new("an", "analyzer.an"));
        g.write()
            .add_node(Node::new(
                "n".into(),
                Metadata::from_pairs([("Name", json!("n")), ("Type", json!("t"))]),
                "h1".into(),
                origin.into(),
            ))
            .unwrap();
        g
    }

    /// Waits (in real time: the removal runs on a blocking thread) until node `n` is gone.
    async fn wait_gone(g: &SharedGraph) {
        for _ in 0..2000 {
            if g.read().node("n").is_none() {
                return;
            }
            tokio::task::yield_now().await;
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("node `n` was not removed");
    }

    fn addr() -> SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn lost_agents_are_removed_after_the_grace_period_unless_they_return() {
        let g = graph_with("agent.h1");
        let agents = Agents::new(
            g.clone(),
            Duration::from_secs(10),
            CancellationToken::new(),
            HeapTrim::default(),
        );
        let l = agents.connect("h1", addr()).unwrap();
        assert!(agents.connect("h1", addr()).is_err(), "409 while connected");
        agents.disconnect(&l, Departure::Lost).await;
        assert_eq!(agents.status()["h1"]["State"], "orphaned");

        // Back within the grace period: nothing is deleted.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let l = agents.connect("h1", addr()).unwrap();
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(g.read().node("n").is_some());

        // Gone for good this time.
        agents.disconnect(&l, Departure::Lost).await;
        tokio::time::sleep(Duration::from_secs(11)).await;
        wait_gone(&g).await;
        assert!(agents.status().is_empty());
        assert_eq!(agents.expired(), 1);
    }

    #[tokio::test]
    async fn bye_removes_at_once_and_shutdown_keeps_everything() {
        let g = graph_with("agent.h1");
        let agents = Agents::new(
            g.clone(),
            Duration::from_secs(3600),
            CancellationToken::new(),
            HeapTrim::default(),
        );
        let l = agents.connect("h1", addr()).unwrap();
        agents.disconnect(&l, Departure::Shutdown).await;
        assert!(g.read().node("n").is_some());
        assert!(agents.status().is_empty());
        let l = agents.connect("h1", addr()).unwrap();
        agents.disconnect(&l, Departure::Bye).await;
        assert!(g.read().node("n").is_none());
        assert!(agents.status().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn restored_subgraphs_wait_for_their_agent() {
        let g = graph_with("agent.h2");
        let agents = Agents::new(
            g.clone(),
            Duration::from_secs(30),
            CancellationToken::new(),
            HeapTrim::default(),
        );
        agents.restored(vec!["agent.h2".into(), "api.x".into()]);
        let st = agents.status();
        assert_eq!(st.len(), 1);
        assert_eq!(st["h2"]["Reason"], "restored from history");
        tokio::time::sleep(Duration::from_secs(31)).await;
        wait_gone(&g).await;
    }
}

//! The analyzer's flows: [`LiveFlows`] (the flows active now) beside the [`FlowStore`] (every
//! update, for `At(…)` queries), fed by [`AnalyzerFlows::ingest`], read by Gremlin flow steps
//! through [`skydive_gremlin::FlowSource`] and by the `/rpc/flows` and `/rpc/conversation`
//! routes.
//!
//! Without a time context, queries read the live flows; under `At(t[, d])` they read the
//! store (a memory-only analyzer, `analyzer.topology.backend: memory`, has no store: flow
//! queries under `At` fail with a clear message).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use skydive_flow::{Flow, LiveConfig, LiveFlows};
use skydive_gremlin::{FlowMetrics, FlowRequest, FlowSource, MetricsRequest};
use skydive_store::{FlowSearch, FlowStore};

/// How often idle live flows are looked for.
pub(crate) const EXPIRE_EVERY: Duration = Duration::from_secs(10);

/// Batches kept for `/ws/subscriber/flow` clients that fall behind; one that falls further
/// behind loses batches (counted in `/api/status`, `Flows.SubscriberBatchesLost`).
const SUBSCRIBER_BATCHES: usize = 1024;

/// A batch of flow updates as ingested, shared by every flow subscriber.
pub(crate) type FlowBatch = Arc<Vec<Arc<Flow>>>;

/// Live flows and, when history is recorded, the flow store.
#[derive(Debug)]
pub struct AnalyzerFlows {
    live: LiveFlows,
    store: Option<FlowStore>,
    expire_ms: i64,
    subscribers: tokio::sync::broadcast::Sender<FlowBatch>,
    lost: AtomicU64,
    store_refused: AtomicU64,
    agents_dropped: AtomicU64,
}

impl AnalyzerFlows {
    pub fn new(cfg: LiveConfig, store: Option<FlowStore>) -> Self {
        let expire_ms = i64::try_from(cfg.expire.as_millis()).unwrap_or(i64::MAX);
        AnalyzerFlows {
            live: LiveFlows::new(cfg),
            store,
            expire_ms,
            subscribers: tokio::sync::broadcast::Sender::new(SUBSCRIBER_BATCHES),
            lost: AtomicU64::new(0),
            store_refused: AtomicU64::new(0),
            agents_dropped: AtomicU64::new(0),
        }
    }

    pub fn live(&self) -> &LiveFlows {
        &self.live
    }

    pub fn store(&self) -> Option<&FlowStore> {
        self.store.as_ref()
    }

    /// Takes a batch of flow updates from an agent: stored first (when a store is open),
    /// then applied to the live flows and sent to `/ws/subscriber/flow` clients. A store
    /// that refuses the batch (full buffer, closed) is logged and counted; the live state
    /// is updated anyway.
    pub fn ingest(&self, batch: Vec<Flow>) {
        if batch.is_empty() {
            return;
        }
        if let Some(store) = &self.store
            && let Err(e) = store.store(&batch)
        {
            self.store_refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("cannot store {} flow updates: {e}", batch.len());
        }
        let batch: Vec<Arc<Flow>> = batch.into_iter().map(Arc::new).collect();
        self.live
            .apply(batch.iter().cloned(), skydive_graph::TimeMs::now().0);
        if self.subscribers.receiver_count() > 0 {
            let _ = self.subscribers.send(Arc::new(batch));
        }
    }

    /// Counts the flow updates agents say they dropped (their send queue was full).
    pub(crate) fn agent_dropped(&self, updates: u64) {
        self.agents_dropped.fetch_add(updates, Ordering::Relaxed);
    }

    /// A receiver of every batch ingested from now on.
    pub(crate) fn subscribe(&self) -> tokio::sync::broadcast::Receiver<FlowBatch> {
        self.subscribers.subscribe()
    }

    /// Counts batches a slow flow subscriber lost.
    pub(crate) fn subscriber_lost(&self, batches: u64) {
        self.lost.fetch_add(batches, Ordering::Relaxed);
    }

    /// Removes idle live flows (called every [`EXPIRE_EVERY`]).
    pub fn expire(&self) -> usize {
        self.live.expire(skydive_graph::TimeMs::now().0)
    }

    /// Counters for `/api/status`.
    pub fn status(&self) -> serde_json::Value {
        serde_json::json!({
            "Live": self.live.stats(),
            "Store": self.store.as_ref().map(|s| s.stats()),
            "StoreBatchesRefused": self.store_refused.load(Ordering::Relaxed),
            "Subscribers": self.subscribers.receiver_count(),
            "SubscriberBatchesLost": self.lost.load(Ordering::Relaxed),
            "AgentUpdatesDropped": self.agents_dropped.load(Ordering::Relaxed),
        })
    }
}

impl FlowSource for AnalyzerFlows {
    fn flows(&self, req: &FlowRequest<'_>) -> Result<Vec<Arc<Flow>>, String> {
        let keep = |f: &Flow| req.matches(f);
        match req.slice {
            None => Ok(self.live.select(req.node_tids, keep, req.scan_limit())),
            Some(slice) => {
                let Some(store) = &self.store else {
                    return Err(
                        "flows under At() need the flow store (analyzer.topology.backend: embedded)"
                            .into(),
                    );
                };
                let tracking = req.equal_values("TrackingID");
                let search = FlowSearch::new(slice)
                    .expire_ms(self.expire_ms)
                    .node_tids(req.node_tids)
                    .tracking_ids(tracking.as_deref())
                    .filter(&keep)
                    .limit(req.scan_limit());
                let found = store.search(&search).map_err(|e| e.to_string())?;
                Ok(found.into_iter().map(Arc::new).collect())
            }
        }
    }

    fn metrics(&self, req: &MetricsRequest<'_>) -> Result<FlowMetrics, String> {
        let Some(store) = &self.store else {
            return Err(
                "Metrics() under At() needs the flow store (analyzer.topology.backend: embedded)"
                    .into(),
            );
        };
        let (from, to) = (req.window.start.0, req.window.last.0);
        store
            .metrics(req.uuids, from, to)
            .map_err(|e| e.to_string())
    }
}

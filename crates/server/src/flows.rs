//! The analyzer's flows: [`LiveFlows`] (the flows active now) beside the [`FlowStore`] (every
//! update, for `At(…)` queries), fed by [`AnalyzerFlows::ingest`], read by Gremlin flow steps
//! through [`skydive_gremlin::FlowSource`] and by the `/rpc/flows` and `/rpc/conversation`
//! routes.
//!
//! Without a time context, queries read the live flows; under `At(t[, d])` they read the
//! store (a memory-only analyzer, `analyzer.topology.backend: memory`, has no store: flow
//! queries under `At` fail with a clear message).

use std::sync::Arc;
use std::time::Duration;

use skydive_flow::{Flow, LiveConfig, LiveFlows};
use skydive_gremlin::{FlowMetrics, FlowRequest, FlowSource, MetricsRequest};
use skydive_store::{FlowSearch, FlowStore};

/// How often idle live flows are looked for.
pub(crate) const EXPIRE_EVERY: Duration = Duration::from_secs(10);

/// Live flows and, when history is recorded, the flow store.
#[derive(Debug)]
pub struct AnalyzerFlows {
    live: LiveFlows,
    store: Option<FlowStore>,
    expire_ms: i64,
}

impl AnalyzerFlows {
    pub fn new(cfg: LiveConfig, store: Option<FlowStore>) -> Self {
        let expire_ms = i64::try_from(cfg.expire.as_millis()).unwrap_or(i64::MAX);
        AnalyzerFlows {
            live: LiveFlows::new(cfg),
            store,
            expire_ms,
        }
    }

    pub fn live(&self) -> &LiveFlows {
        &self.live
    }

    pub fn store(&self) -> Option<&FlowStore> {
        self.store.as_ref()
    }

    /// Takes a batch of flow updates from an agent: stored first (when a store is open),
    /// then applied to the live flows. A store that refuses the batch (full buffer, closed)
    /// is logged; the live state is updated anyway.
    pub fn ingest(&self, batch: Vec<Flow>) {
        if batch.is_empty() {
            return;
        }
        if let Some(store) = &self.store
            && let Err(e) = store.store(&batch)
        {
            tracing::warn!("cannot store {} flow updates: {e}", batch.len());
        }
        self.live.apply(batch, skydive_graph::TimeMs::now().0);
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

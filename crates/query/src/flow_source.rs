//! Where flow steps read flows: a [`FlowSource`], implemented by the server over the
//! analyzer's live flows (no time context) and the flow store (under `At`), later over
//! agents' tables. This crate knows nothing about either: it asks with a [`FlowRequest`] and
//! a [`MetricsRequest`], and applies the dialect's semantics to what comes back.
//!
//! **The contract.** [`FlowSource::flows`] returns the flows of `req.slice` (the live ones
//! when `None`; under `At(t, d)` each flow active during the slice, once, in its latest
//! state) captured on `req.node_tids` (all when `None`), that satisfy `req.filters`. The
//! source may use the filters to narrow its search (indexes: see
//! [`FlowRequest::equal_values`]) and may ignore them: the evaluator tests every flow
//! returned with [`FlowRequest::matches`] again, then sorts, deduplicates and pages as the
//! query says. It must not leave out a matching flow, except that it may stop after
//! [`FlowRequest::scan_limit`] matches. Errors are shown to the user after
//! "the flow source failed: ".
//!
//! [`FlowSource::metrics`] returns, under `At`, the stored `LastUpdateMetric` series of
//! flows by UUID (without a time context the evaluator reads each flow's own
//! `LastUpdateMetric`).
//!
//! A source over the analyzer's state looks like (the server's code, sketched):
//!
//! ```ignore
//! fn flows(&self, req: &FlowRequest<'_>) -> Result<Vec<Arc<Flow>>, String> {
//!     let keep = |f: &Flow| req.matches(f);
//!     match req.slice {
//!         None => Ok(self.live.select(req.node_tids, keep, req.scan_limit())),
//!         Some(slice) => {
//!             let tracking = req.equal_values("TrackingID");
//!             let search = FlowSearch::new(slice).expire_ms(self.expire_ms)
//!                 .node_tids(req.node_tids).tracking_ids(tracking.as_deref())
//!                 .filter(&keep).limit(req.scan_limit());
//!             let found = self.store.search(&search).map_err(|e| e.to_string())?;
//!             Ok(found.into_iter().map(Arc::new).collect())
//!         }
//!     }
//! }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use skydive_flow::{Flow, FlowMetric};
use skydive_graph::TimeSlice;

use crate::ast::{Combine, Filter, Literal, Order, Predicate};

/// The `LastUpdateMetric` series of flows, by UUID: what `Metrics()` yields.
pub type FlowMetrics = BTreeMap<String, Vec<FlowMetric>>;

/// Answers flow steps.
pub trait FlowSource: Send + Sync {
    /// The flows `req` selects (see the module docs for what may be left out).
    fn flows(&self, req: &FlowRequest<'_>) -> Result<Vec<Arc<Flow>>, String>;

    /// Under `At`: the metric series of `req.uuids` within `req.window`.
    fn metrics(&self, req: &MetricsRequest<'_>) -> Result<FlowMetrics, String> {
        let _ = req;
        Err(
            "this flow source keeps no flow history, so Metrics() under At needs the flow store"
                .into(),
        )
    }
}

/// What a `Flows(…)` step (with the `Has`, `Sort`, `Dedup`, `Range` steps fused into it)
/// asks for. Build-time only: fields borrow from the query.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct FlowRequest<'a> {
    /// `None`: live flows. `Some`: the flows active during this slice (`At(t[, d])`).
    pub slice: Option<TimeSlice>,
    /// Flows captured on these nodes (their `TID`s); `None` for every flow (`G.Flows()`).
    pub node_tids: Option<&'a [String]>,
    /// Conditions every flow must meet (see [`FlowRequest::matches`]).
    pub filters: &'a [Filter],
    /// How the evaluator orders the flows afterwards (informational).
    pub sort: Option<(Order, &'a str)>,
    /// The key the evaluator deduplicates on afterwards (informational).
    pub dedup: Option<&'a str>,
    /// The items the evaluator keeps afterwards, `from..to` (informational).
    pub range: Option<(u64, u64)>,
}

impl<'a> FlowRequest<'a> {
    /// Every flow of `slice` matching `filters`.
    pub fn new(slice: Option<TimeSlice>, filters: &'a [Filter]) -> Self {
        FlowRequest {
            slice,
            node_tids: None,
            filters,
            sort: None,
            dedup: None,
            range: None,
        }
    }

    /// Only the flows captured on `node_tids`.
    pub fn on_nodes(self, node_tids: &'a [String]) -> Self {
        FlowRequest {
            node_tids: Some(node_tids),
            ..self
        }
    }

    /// Whether `flow` is captured on `node_tids` and meets every filter. A key `Network`,
    /// `Link` or `Transport` alone stands for either end (`.A` or `.B`), as in Skydive.
    pub fn matches(&self, flow: &Flow) -> bool {
        self.node_tids
            .is_none_or(|tids| tids.contains(&flow.node_tid))
            && self
                .filters
                .iter()
                .all(|f| crate::flow_fields::matches(f, flow))
    }

    /// How many matching flows are enough, when the query only keeps the first ones in no
    /// particular order (`Flows().Has(…).Limit(n)`, no `Sort` or `Dedup`): any `n` matches
    /// will do. `None`: every match is needed.
    pub fn scan_limit(&self) -> Option<usize> {
        match (self.sort, self.dedup, self.range) {
            (None, None, Some((_, to))) => Some(usize::try_from(to).unwrap_or(usize::MAX)),
            _ => None,
        }
    }

    /// The values `key` must equal for a flow to match, when a filter says so
    /// (`Has('TrackingID', 'abc')`, `Has('NodeTID', WITHIN('a', 'b'))`): a source with an
    /// index on `key` reads only those. `None` when no filter pins `key` to strings.
    pub fn equal_values(&self, key: &str) -> Option<Vec<String>> {
        self.filters
            .iter()
            .filter(|f| f.combine == Combine::All || f.terms.len() == 1)
            .flat_map(|f| f.terms.iter())
            .filter(|t| t.key == key)
            .find_map(|t| match &t.predicate {
                Predicate::Eq(Literal::Str(s)) => Some(vec![s.clone()]),
                Predicate::Within(values) => values
                    .iter()
                    .map(|v| match v {
                        Literal::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => None,
            })
    }
}

/// What `Metrics()` asks for under `At`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MetricsRequest<'a> {
    /// The flows whose series are wanted.
    pub uuids: &'a [String],
    /// Metrics whose `[Start, Last]` lies within this window (for `At(t)` alone, from the
    /// beginning of time up to `t`, as Skydive does).
    pub window: TimeSlice,
}

impl<'a> MetricsRequest<'a> {
    pub fn new(uuids: &'a [String], window: TimeSlice) -> Self {
        MetricsRequest { uuids, window }
    }
}

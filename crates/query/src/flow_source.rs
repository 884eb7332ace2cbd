//! Where flow steps will read flows. **Placeholder**: nothing implements or calls these traits
//! yet, and every flow step (`Flows`, `Metrics`, `CaptureNode`, …) currently fails with
//! "step `Flows` needs a flow source, none is configured".
//!
//! The shape the evaluator is built for: a flow step receives the current nodes (or none, after
//! `G`), the time context set by `At`, and the filter of `Flows(k, v, …)` plus following `Has`
//! steps, so a store can answer `Flows().Has().Sort().Limit()` as one search. Its result is
//! [`crate::Output::Flows`], a list of [`FlowRecord`]s that `Has`, `Dedup`, `Sort`, `Values`,
//! `Count`… read through [`FlowRecord::get`], exactly as they read node metadata. This crate
//! must not depend on the flow crate: flows stay behind these traits.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use skydive_graph::{Node, TimeSlice};

use crate::ast::Filter;

/// One flow, as flow steps see it.
pub trait FlowRecord: Send + Sync + fmt::Debug {
    /// A dotted Flow field (`Network.A`, `Metric.ABBytes`, `TrackingID`), if present.
    fn get(&self, key: &str) -> Option<Value>;
    /// The flow in Skydive's JSON shape.
    fn to_json(&self) -> Value;
}

/// What a flow step asks for.
#[derive(Debug, Clone, Copy)]
pub struct FlowQuery<'a> {
    /// Flows captured on these nodes; `None` for every flow (`G.Flows()`).
    pub nodes: Option<&'a [Arc<Node>]>,
    /// Flows active during this slice (`At`); `None` for live flows.
    pub slice: Option<TimeSlice>,
    /// Conditions the flows must meet.
    pub filter: &'a Filter,
}

/// Answers flow steps: the analyzer's live flow table, or the flow store under `At`.
pub trait FlowSource: Send + Sync {
    fn flows(&self, query: &FlowQuery<'_>) -> Result<Vec<Arc<dyn FlowRecord>>, String>;
}

//! Gremlin queries against a graph view (the live graph or a past one), with the past
//! reachable through `At(…)` when history is recorded.
//!
//! Queries are CPU work under the graph's read lock: callers run them in `spawn_blocking`
//! (never on an async worker, never across an `.await`).

use skydive_graph::{GraphView, TimeMs};
use skydive_gremlin::{Context, FlowSource, HistorySource, Output};

use crate::api::ApiError;
use crate::history_source::StoreHistory;

/// Runs `text` against `view`; Gremlin errors become 400s carrying the parser's message
/// (which points at the column).
pub fn run(
    view: &dyn GraphView,
    history: Option<&StoreHistory>,
    text: &str,
) -> Result<Output, ApiError> {
    let cx = Context {
        graph: view,
        history: history.map(|h| h as &dyn HistorySource),
        now: TimeMs::now(),
    };
    skydive_gremlin::execute(text, &cx).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// [`run`], with flow steps reading `flows` (without a source, they fail with a message
/// saying so).
pub fn run_with_flows(
    view: &dyn GraphView,
    history: Option<&StoreHistory>,
    flows: Option<&dyn FlowSource>,
    text: &str,
) -> Result<Output, ApiError> {
    let Some(flows) = flows else {
        return run(view, history, text);
    };
    let cx = Context {
        graph: view,
        history: history.map(|h| h as &dyn HistorySource),
        now: TimeMs::now(),
    };
    skydive_gremlin::execute_with_flows(text, &cx, flows)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

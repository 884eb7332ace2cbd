//! Gremlin queries against a graph view (the live graph or a past one), with the past
//! reachable through `At(…)` when history is recorded.
//!
//! Queries are CPU work under the graph's read lock: callers run them in `spawn_blocking`
//! (never on an async worker, never across an `.await`).

use skydive_graph::{GraphView, TimeMs};
use skydive_gremlin::{Context, HistorySource, Output};

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

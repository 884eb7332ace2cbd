//! Gremlin queries against a graph view (the live graph or a past one), with the past
//! reachable through `At(…)` when history is recorded.
//!
//! Queries are CPU work under the graph's read lock: callers run them in `spawn_blocking`
//! (never on an async worker, never across an `.await`).

use skydive_graph::{GraphView, TimeMs};
use skydive_gremlin::{Context, FlowSource, HistorySource, Output, StepKind};

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

/// Whether `text` reads only the past: its first step is `At(…)` / `Context(…)` (after `G`).
/// Such a query needs no lock on the live graph — which a history query, seconds long on a
/// large graph, would otherwise hold against every writer (agents syncing, publishers) for
/// its whole run. A text that does not parse is not (its error comes from the real run).
pub fn reads_only_the_past(text: &str) -> bool {
    let Ok(query) = skydive_gremlin::parse(text) else {
        return false;
    };
    let mut steps = query.steps().iter().map(|s| &s.kind);
    let first = match steps.next() {
        Some(StepKind::G) => steps.next(),
        other => other,
    };
    matches!(first, Some(StepKind::At(_)))
}

#[cfg(test)]
mod tests {
    use super::reads_only_the_past;

    #[test]
    fn only_queries_that_start_in_the_past_skip_the_live_graph() {
        assert!(reads_only_the_past("G.At('-1m').V().Count()"));
        assert!(reads_only_the_past("g.Context(1479899809, 60).V()"));
        assert!(reads_only_the_past("G.At(NOW).Flows()"));
        assert!(!reads_only_the_past("G.V().Count()"));
        assert!(!reads_only_the_past("G.V().SubGraph().At('-1m').V()"));
        assert!(!reads_only_the_past("G.At("));
    }
}

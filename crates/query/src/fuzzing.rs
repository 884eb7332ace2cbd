//! Fuzzing harnesses, called by the one-line targets in `fuzz/fuzz_targets/` (kept here so they
//! build and run with the crate's own tests).

use std::sync::{Arc, OnceLock};

use skydive_graph::{Graph, GraphView, HistoryViewBuilder, TimeMs, TimeSlice};

use crate::fixture::{FixtureFlows, NOW_MS};
use crate::{Context, HistorySource, evaluate_with_flows, parse};

/// Steps beyond which a fuzzed query is parsed but not evaluated: evaluation is bounded by
/// `MAX_ITEMS` / `MAX_VISITS`, but that bound is too slow a path for a fuzzer to explore.
const MAX_EVALUATED_STEPS: usize = 16;

/// `gremlin` target: any text must parse or fail cleanly; what parses must print back to text
/// that parses to the same steps, and must evaluate (or fail) without panicking.
pub fn gremlin(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = parse(text) else { return };
    let canonical = query.to_string();
    let again = parse(&canonical)
        .unwrap_or_else(|e| panic!("canonical text `{canonical}` of `{text}` fails: {e}"));
    let kinds = |q: &crate::Query| q.steps().iter().map(|s| s.kind.clone()).collect::<Vec<_>>();
    assert_eq!(
        kinds(&query),
        kinds(&again),
        "`{text}` prints as `{canonical}`"
    );
    if query.steps().len() <= MAX_EVALUATED_STEPS {
        let cx = Context::new(fixture())
            .with_history(&EmptyHistory)
            .at(TimeMs(NOW_MS));
        if let Ok(out) = evaluate_with_flows(&query, &cx, fixture_flows()) {
            let _ = out.to_json();
            let _ = out.to_dot();
            let _ = out.subgraph(fixture());
        }
    }
}

/// The fixture topology, built once.
fn fixture() -> &'static Graph {
    static GRAPH: OnceLock<Graph> = OnceLock::new();
    GRAPH.get_or_init(crate::fixture::topology)
}

/// The fixture flows, built once.
fn fixture_flows() -> &'static FixtureFlows {
    static FLOWS: OnceLock<FixtureFlows> = OnceLock::new();
    FLOWS.get_or_init(crate::fixture::flows)
}

struct EmptyHistory;

impl HistorySource for EmptyHistory {
    fn view(&self, slice: TimeSlice) -> Result<Arc<dyn GraphView>, String> {
        Ok(Arc::new(HistoryViewBuilder::new(slice, Vec::new()).build()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn harness_accepts_anything() {
        for input in [
            &b"G.V().Has('Name', 'eth0').Out().Count()"[..],
            b"\xff\xfe",
            b"G.V(",
            b"",
            b"G.At('-1m').V()",
            b"G.Flows().Has('Network', '10.0.0.2').Metrics().Aggregates(1).Sum()",
            b"G.At('-1m', 60).Flows().Hops()",
        ] {
            super::gremlin(input);
        }
    }

    /// The committed seeds (fuzz/corpus/gremlin) pass through the harness, as crash inputs
    /// added there later will.
    #[test]
    fn seed_corpus_passes() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/gremlin");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/gremlin exists") {
            let path = entry.unwrap().path();
            super::gremlin(&std::fs::read(&path).unwrap());
            n += 1;
        }
        assert!(n > 0, "no seeds in {}", dir.display());
    }
}

//! History benchmark: ingest with history recording on, then `At(t)` queries on the past.
//!
//! Builds a synthetic topology with the embedded store attached, notes a time t, changes 10%
//! of the interfaces (an `MTU` update each) and deletes 1% of the namespaces, then measures
//! reading the graph as of t (`HistoryStore::view`) and a Gremlin `At(t)` count through it.
//!
//! Usage: history_bench [NODES...]   (default: 100000 1000000)

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use skydive_bench::measure::{latency, ms, rss_bytes};
use skydive_bench::synth::{Shape, build};
use skydive_graph::{Graph, GraphOptions, GraphView, Id, TimeMs, TimeSlice};
use skydive_gremlin::{Context, HistorySource, execute};
use skydive_store::{HistoryConfig, HistoryStore};

struct Source(HistoryStore);

impl HistorySource for Source {
    fn view(&self, slice: TimeSlice) -> Result<Arc<dyn GraphView>, String> {
        self.0
            .view(slice)
            .map(|v| Arc::new(v) as Arc<dyn GraphView>)
            .map_err(|e| e.to_string())
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        sizes
    };
    for n in sizes {
        run(n);
    }
}

fn run(target: usize) {
    let dir = std::env::temp_dir().join(format!(
        "skydive-history-bench-{}-{target}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let store = HistoryStore::open(HistoryConfig::in_dir(&dir)).expect("open store");
    let shape = Shape::with_nodes(target, (target / 10_000).max(1));
    let mut g = Graph::new(GraphOptions::new("bench", "analyzer.bench"));
    g.set_changelog(store.changelog());
    let rss0 = rss_bytes();
    let t0 = Instant::now();
    build(&mut g, shape);
    store.flush().expect("flush");
    let ingest = t0.elapsed();
    let elements = g.node_count() + g.edge_count();
    println!(
        "\n{} nodes + {} edges recorded in {:.0} ms ({:.0} events/s with history, flushed), RSS +{} MiB",
        g.node_count(),
        g.edge_count(),
        ms(ingest),
        elements as f64 / ingest.as_secs_f64(),
        rss_bytes().saturating_sub(rss0) >> 20
    );

    std::thread::sleep(Duration::from_millis(5));
    let t = TimeMs::now();
    std::thread::sleep(Duration::from_millis(5));
    churn(&mut g);
    store.flush().expect("flush");

    let veth_now = g.nodes_by("Type", "veth").len();
    let l = latency(3, || {
        let v = store.view(TimeSlice::at(t)).expect("view");
        assert!(v.node_count() > 0);
    });
    println!("  view at t (read + build)        {l}");
    let source = Source(store.clone());
    let q = format!("G.At({}).V().Has('Type','veth').Count()", t.millis());
    let cx = Context::new(&g).with_history(&source);
    let past = execute(&q, &cx).expect("query").to_json();
    let l = latency(3, || {
        execute(&q, &cx).expect("query");
    });
    println!("  {q:<34} {l}   -> {past} (live: {veth_now})");
    drop(g);
    store.close().expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Changes the graph after t: 10% of the veths get a new MTU, 1% of namespaces go.
fn churn(g: &mut Graph) {
    let veths: Vec<Id> = g
        .nodes_by("Type", "veth")
        .into_iter()
        .map(|n| n.id.clone())
        .collect();
    for id in veths.iter().step_by(10) {
        g.set_node_metadata(id, "MTU", json!(9000)).expect("exists");
    }
    let netns: Vec<Id> = g
        .nodes_by("Type", "netns")
        .into_iter()
        .map(|n| n.id.clone())
        .collect();
    for id in netns.iter().step_by(100) {
        g.delete_node(id).expect("exists");
    }
}

//! History benchmark: ingest with history recording on, then `At(t)` queries on the past.
//!
//! Builds a synthetic topology with the embedded store attached, notes a time t, changes 10%
//! of the interfaces (an `MTU` update each) and deletes 1% of the namespaces, then measures
//! reading the graph as of t: the revisions alone (`HistoryStore::revisions`: read and
//! decode), the indexed view (`HistoryStore::view`: read, decode and build) and a Gremlin
//! `At(t)` count through it. Also prints the store's counters (checkpoints, buffer waits,
//! drops) and the process's resident memory, current and peak.
//!
//! Usage: history_bench [NODES...]   (default: 100000 1000000)
//! Runs on mimalloc, as `graph_bench` does; build with `--features system-alloc` to measure
//! glibc malloc instead (a view of a million nodes is millions of small allocations, and as
//! many frees when it is dropped: glibc spends more time there than the store reading).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use skydive_bench::measure::{latency, ms, rss_bytes};
use skydive_bench::synth::{Shape, build};
use skydive_graph::{Graph, GraphOptions, GraphView, Id, TimeMs, TimeSlice};
use skydive_gremlin::{Context, HistorySource, execute};
use skydive_store::{HistoryConfig, HistoryStore};

#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    for n in skydive_bench::sizes(std::env::args().skip(1)) {
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
    let built = t0.elapsed();
    store.flush().expect("flush");
    let ingest = t0.elapsed();
    let elements = g.node_count() + g.edge_count();
    println!(
        "\n{} nodes + {} edges recorded in {:.0} ms ({:.0} events/s with history, flushed; \
         graph alone done at {:.0} ms), RSS +{} MiB",
        g.node_count(),
        g.edge_count(),
        ms(ingest),
        elements as f64 / ingest.as_secs_f64(),
        ms(built),
        rss_bytes().saturating_sub(rss0) >> 20
    );
    print_stats("after the build", &store);

    std::thread::sleep(Duration::from_millis(5));
    let t = TimeMs::now();
    std::thread::sleep(Duration::from_millis(5));
    let t1 = Instant::now();
    churn(&mut g);
    store.flush().expect("flush");
    println!(
        "  churn after t, flushed           {:.0} ms",
        ms(t1.elapsed())
    );
    print_stats("after the churn", &store);

    let veth_now = g.nodes_by("Type", "veth").len();
    let l = latency(runs(target), || {
        let (n, _) = store.revisions(TimeSlice::at(t)).expect("revisions");
        assert!(!n.is_empty());
    });
    println!("  revisions at t (read only)       {l}");
    let l = latency(runs(target), || {
        let v = store.view(TimeSlice::at(t)).expect("view");
        assert!(v.node_count() > 0);
    });
    println!("  view at t (read + build)         {l}");
    let source = Source(store.clone());
    let q = format!("G.At({}).V().Has('Type','veth').Count()", t.millis());
    let cx = Context::new(&g).with_history(&source);
    let past = execute(&q, &cx).expect("query").to_json();
    let l = latency(runs(target), || {
        execute(&q, &cx).expect("query");
    });
    println!("  {q:<34} {l}   -> {past} (live: {veth_now})");
    println!(
        "  RSS now {} MiB, peak {} MiB (process, whole run so far)",
        rss_bytes() >> 20,
        peak_rss_bytes() >> 20
    );
    drop(g);
    store.close().expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs of each measured query: fewer on the largest graphs, where one takes seconds.
fn runs(nodes: usize) -> usize {
    if nodes > 200_000 { 3 } else { 5 }
}

fn print_stats(when: &str, store: &HistoryStore) {
    let s = store.stats();
    println!(
        "  store {when}: {} events written, {} dropped, {} record waits, {} checkpoints \
         written, {} MiB on disk",
        s.events_written,
        s.events_dropped,
        s.record_waits,
        s.checkpoints_written,
        s.disk_bytes >> 20
    );
}

/// Peak resident set size of this process (`VmHWM`), in bytes.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
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

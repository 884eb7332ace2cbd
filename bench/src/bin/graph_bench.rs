//! Graph engine benchmark: build time, resident memory per node, event ingest rate.
//!
//! Usage: graph_bench [NODES...]   (default: 100000 1000000); each size runs in a child
//! process of its own (`--one NODES`), so the resident memory of one does not hide the next.
//! Query latencies live in `gremlin_bench`; history in `history_bench`.
//! Event rates are given twice: over wall-clock time, and over the CPU time of the measuring
//! thread (`/proc/thread-self/schedstat`), which time spent descheduled by other work on a
//! shared machine does not inflate.
//! Runs on mimalloc; build with `--features system-alloc` to measure glibc malloc instead
//! (bench/RESULTS.md has both).

use std::time::Instant;

use serde_json::json;
use skydive_bench::measure::{ms, rss_bytes};
use skydive_bench::synth::{Shape, build};
use skydive_graph::{Graph, GraphOptions, Id, MetadataOp, Node, TimeMs};

#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, n] = args.as_slice()
        && flag == "--one"
    {
        run(n.parse().expect("--one takes a node count"));
        return;
    }
    let sizes = skydive_bench::sizes(&args);
    println!(
        "{:>9} {:>9} {:>10} {:>12} {:>14} {:>13} {:>13} {:>13} {:>13}",
        "nodes",
        "edges",
        "build ms",
        "RSS/node B",
        "build nodes/s",
        "add/s wall",
        "add/s cpu",
        "update/s wall",
        "update/s cpu"
    );
    // Each size in a fresh process: memory freed by a previous size and kept by the
    // allocator would otherwise be reused and hide part of the next graph from the RSS.
    let exe = std::env::current_exe().expect("own executable");
    for n in sizes {
        let status = std::process::Command::new(&exe)
            .args(["--one", &n.to_string()])
            .status()
            .expect("run one size");
        assert!(status.success(), "graph_bench --one {n} failed");
    }
}

fn run(target: usize) {
    let shape = Shape::with_nodes(target, (target / 10_000).max(1));
    let rss0 = rss_bytes();
    let t = Instant::now();
    let mut g = Graph::new(GraphOptions::new("bench", "analyzer.bench"));
    build(&mut g, shape);
    let build_time = t.elapsed();
    let rss = rss_bytes().saturating_sub(rss0);
    let nodes = g.node_count();
    let edges = g.edge_count();

    // Ingest as an analyzer sees it: whole nodes from an agent's sync, then partial updates.
    let incoming: Vec<Node> = g.nodes().take(200_000).map(|n| Node::clone(n)).collect();
    let mut fresh = Graph::new(GraphOptions::new("bench", "analyzer.bench"));
    let (t, cpu) = (Instant::now(), thread_cpu_ns());
    for n in incoming {
        fresh.upsert_node(n).expect("unique ids");
    }
    let add_wall = fresh.node_count() as f64 / t.elapsed().as_secs_f64();
    let add_cpu = fresh.node_count() as f64 / cpu_secs_since(cpu);
    drop(fresh);

    let ids: Vec<Id> = g.nodes().take(200_000).map(|n| n.id.clone()).collect();
    let updates: Vec<(Id, i64, [MetadataOp; 1])> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                id.clone(),
                1_000 + i as i64,
                [MetadataOp::add(
                    "Metric",
                    json!({"RxBytes": i, "TxBytes": i * 2, "RxPackets": i / 64}),
                )],
            )
        })
        .collect();
    let (t, cpu) = (Instant::now(), thread_cpu_ns());
    for (id, rev, ops) in &updates {
        g.apply_node_ops(id, *rev, TimeMs(0), ops)
            .expect("node exists");
    }
    let upd_wall = updates.len() as f64 / t.elapsed().as_secs_f64();
    let upd_cpu = updates.len() as f64 / cpu_secs_since(cpu);

    println!(
        "{:>9} {:>9} {:>10.0} {:>12} {:>14.0} {:>13.0} {:>13.0} {:>13.0} {:>13.0}",
        nodes,
        edges,
        ms(build_time),
        rss / nodes as u64,
        nodes as f64 / build_time.as_secs_f64(),
        add_wall,
        add_cpu,
        upd_wall,
        upd_cpu
    );
}

/// Nanoseconds this thread has run on a CPU (first field of `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn cpu_secs_since(start_ns: u64) -> f64 {
    (thread_cpu_ns().saturating_sub(start_ns) as f64 / 1e9).max(1e-9)
}

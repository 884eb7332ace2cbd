//! Query latency on synthetic topologies: indexed `Has().Count()`, a name look-up followed by
//! two hops, and a `ShortestPathTo` across hosts.
//!
//! Usage: gremlin_bench [NODES...]   (default: 100000 1000000)

use std::time::Instant;

use skydive_bench::measure::{latency, ms, rss_bytes};
use skydive_bench::synth::{Shape, build, host_veth_name};
use skydive_graph::{Graph, GraphOptions, TimeMs};
use skydive_gremlin::{Context, execute};

fn main() {
    for n in skydive_bench::sizes(std::env::args().skip(1)) {
        run(n);
    }
}

fn run(target: usize) {
    let shape = Shape::with_nodes(target, (target / 10_000).max(1));
    let rss0 = rss_bytes();
    let t = Instant::now();
    let mut g = Graph::new(GraphOptions::new("bench", "analyzer.bench"));
    build(&mut g, shape);
    println!(
        "\n{} nodes, {} edges, {} hosts: built in {:.0} ms, {} B resident per node",
        g.node_count(),
        g.edge_count(),
        shape.hosts,
        ms(t.elapsed()),
        rss_bytes().saturating_sub(rss0) / g.node_count() as u64
    );
    let far = shape.hosts - 1;
    let unit = shape.units_per_host / 2;
    let queries = [
        (
            "indexed count",
            "G.V().Has('Type','veth').Count()".to_string(),
            200,
        ),
        (
            "name + 2 hops",
            format!(
                "G.V().Has('Name','{}').Out().Out()",
                host_veth_name(0, unit)
            ),
            200,
        ),
        (
            "shortest path across hosts",
            format!(
                "G.V().Has('Name','{}').ShortestPathTo(Metadata('Name','{}'))",
                host_veth_name(0, unit),
                host_veth_name(far, unit)
            ),
            20,
        ),
        (
            "scan count (no index)",
            "G.V().Has('MTU',1500).Count()".to_string(),
            5,
        ),
    ];
    for (what, q, runs) in queries {
        let cx = Context {
            graph: &g,
            history: None,
            now: TimeMs::now(),
        };
        let out = execute(&q, &cx).unwrap_or_else(|e| panic!("{q}: {e}"));
        let summary = out.to_json().to_string();
        let l = latency(runs, || {
            execute(&q, &cx).expect("ran once already");
        });
        println!(
            "  {what:<28} {l}   -> {}",
            &summary[..summary.len().min(60)]
        );
    }
}

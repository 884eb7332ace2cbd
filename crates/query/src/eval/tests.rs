//! Evaluator tests on the fixture topology (see `fixture.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use skydive_graph::{
    DEFAULT_INDEXED_KEYS, Edge, Graph, GraphView, HistoryViewBuilder, IdRef, IndexValue, Metadata,
    Node, SharedStr, TimeMs, TimeSlice, gen_id,
};

use crate::fixture::{id, topology};
use crate::{Context, EvalErrorKind, GremlinError, HistorySource, Output, execute};

fn run(g: &dyn GraphView, q: &str) -> Output {
    execute(q, &Context::new(g)).unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn fail(g: &dyn GraphView, q: &str) -> GremlinError {
    match execute(q, &Context::new(g)) {
        Ok(out) => panic!("{q}: expected an error, got {}", out.to_json()),
        Err(e) => e,
    }
}

/// The names of the nodes a query yields, sorted.
fn names(g: &dyn GraphView, q: &str) -> Vec<String> {
    let mut v: Vec<String> = match run(g, q) {
        Output::Nodes(n) => n
            .iter()
            .map(|n| n.metadata.get_str("Name").unwrap_or("?").to_owned())
            .collect(),
        other => panic!("{q}: expected nodes, got {}", other.kind()),
    };
    v.sort();
    v
}

fn json_of(g: &dyn GraphView, q: &str) -> Value {
    run(g, q).to_json()
}

#[test]
fn sources_and_counts() {
    let g = topology();
    assert_eq!(json_of(&g, "G.V().Count()"), json!(7));
    assert_eq!(json_of(&g, "G.E().Count()"), json!(9));
    assert_eq!(
        names(&g, "G.V().Has('Type', 'veth')"),
        ["eth0", "veth-host"]
    );
    assert_eq!(names(&g, &format!("G.V('{}')", id("br0"))), ["br0"]);
    assert_eq!(names(&g, "G.V('no-such-id')"), Vec::<String>::new());
    assert_eq!(
        json_of(&g, &format!("G.E('{}').Count()", gen_id(&["br0", "eth1"]))),
        json!(1)
    );
    assert_eq!(json_of(&g, "G.V().Has('Type', 'veth').Count()"), json!(2));
    assert_eq!(
        json_of(&g, "G.V().Has('Type', 'veth', 'Name', 'eth0').Count()"),
        json!(1)
    );
    assert_eq!(json_of(&g, "G.V().Has('Type', 'nope').Count()"), json!(0));
    assert_eq!(
        json_of(&g, "G.V().Has('Type', 'veth').Out().Count()"),
        json!(1)
    );
}

#[test]
fn predicates() {
    let g = topology();
    assert_eq!(names(&g, "G.V().Has('MTU', GT(1500))"), ["eth1", "lo"]);
    assert_eq!(
        names(&g, "G.V().Has('MTU', LTE(1500), 'Type', 'veth')"),
        ["eth0", "veth-host"]
    );
    assert_eq!(names(&g, "G.V().Has('MTU', INSIDE(1500, 65536))"), ["eth1"]);
    assert_eq!(
        names(&g, "G.V().Has('MTU', BETWEEN(1500, 9000))"),
        ["br0", "eth0", "veth-host"]
    );
    assert_eq!(names(&g, "G.V().Has('MTU', OUTSIDE(1500, 9000))"), ["lo"]);
    assert_eq!(
        names(&g, "G.V().Has('IPV4', IPV4RANGE('192.168.2.0/24'))"),
        ["eth1"]
    );
    assert_eq!(
        names(&g, "G.V().Has('Name', REGEX('eth.*'))"),
        ["eth0", "eth1"]
    );
    assert_eq!(
        names(&g, "G.V().Has('Name', Regex('eth'))"),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&g, "G.V().Has('Type', WITHIN('bridge', 'netns'))"),
        ["br0", "ns1"]
    );
    assert_eq!(
        names(&g, "G.V().Has('Type', WITHOUT('veth', 'device'))"),
        ["br0", "host1", "ns1"]
    );
    assert_eq!(names(&g, "G.V().HasNot('MTU')"), ["host1", "ns1"]);
    assert_eq!(names(&g, "G.V().HasKey('IPV4')"), ["eth0", "eth1", "lo"]);
    assert_eq!(names(&g, "G.V().Has('IPV4')"), ["eth0", "eth1", "lo"]);
    assert_eq!(
        names(&g, "G.V().HasEither('Name', 'eth0', 'Type', 'bridge')"),
        ["br0", "eth0"]
    );
    assert_eq!(names(&g, "G.V().Has('Speed', NE(1000))"), ["veth-host"]);
    assert_eq!(names(&g, "G.V().Has('Speed', NEE(1000))").len(), 6);
    // 1.0e4 in the graph equals 10000 in the query.
    assert_eq!(names(&g, "G.V().Has('Speed', 10000)"), ["veth-host"]);
    assert_eq!(
        names(&g, "G.V().Has('Ovs.Options.remote_ip', '10.1.1.1')"),
        ["eth0"]
    );
    assert_eq!(
        names(
            &g,
            "G.V().Has('@Revision', 1, '@Host', 'host1', '@Origin', 'agent.host1').Has('Type', 'host')"
        ),
        ["host1"]
    );
    assert_eq!(
        names(&g, &format!("G.V().Has('@ID', '{}')", id("lo"))),
        ["lo"]
    );
    assert_eq!(
        names(
            &g,
            "G.V().Has('@CreatedAt', GT(0), '@DeletedAt', NEE(0)).Has('Name', 'lo')"
        ),
        ["lo"]
    );
}

#[test]
fn hops() {
    let g = topology();
    assert_eq!(names(&g, "G.V().Has('Name', 'ns1').Out()"), ["eth0", "lo"]);
    assert_eq!(
        names(&g, "G.V().Has('Name', 'ns1').Out('Type', 'veth')"),
        ["eth0"]
    );
    assert_eq!(names(&g, "G.V().Has('Name', 'eth0').In()"), ["ns1"]);
    assert_eq!(
        names(&g, "G.V().Has('Name', 'veth-host').Both()"),
        ["br0", "eth0", "host1"]
    );
    assert_eq!(
        names(
            &g,
            "G.V().Has('Name', 'br0').OutE().Has('RelationType', 'layer2').OutV()"
        ),
        ["eth1", "veth-host"]
    );
    assert_eq!(
        names(
            &g,
            "G.V().Has('Name', 'br0').OutE('RelationType', 'layer2').OutV('MTU', 9000)"
        ),
        ["eth1"]
    );
    assert_eq!(names(&g, "G.V().Has('Name', 'eth0').InE().InV()"), ["ns1"]);
    assert_eq!(
        names(&g, "G.V().Has('Name', 'eth0').BothE().BothV().Dedup()"),
        ["eth0", "ns1", "veth-host"]
    );
    assert_eq!(
        json_of(&g, "G.V().Has('Name', 'veth-host').InE().Count()"),
        json!(3)
    );
    assert_eq!(
        json_of(&g, "G.E().Has('RelationType', 'layer2').InV().Count()"),
        json!(3)
    );
    assert_eq!(
        names(&g, "G.E().Has('RelationType', 'layer2').InV().Dedup()"),
        ["br0", "eth0"]
    );
    // Duplicates are kept until Dedup, as in Skydive.
    assert_eq!(
        json_of(&g, "G.V().Has('Type', 'veth').In().Count()"),
        json!(4)
    );
    assert_eq!(
        json_of(&g, "G.V().Has('Type', 'veth').In('Type', 'netns').Count()"),
        json!(1)
    );
    assert_eq!(
        json_of(
            &g,
            "G.V().Has('Type', WITHIN('veth', 'device')).In('Type', 'netns').Count()"
        ),
        json!(2)
    );
    assert_eq!(
        json_of(
            &g,
            "G.V().Has('Type', WITHIN('veth', 'device')).In('Type', 'netns').Dedup().Count()"
        ),
        json!(1)
    );
}

#[test]
fn projections_and_aggregates() {
    let g = topology();
    assert_eq!(
        json_of(&g, "G.V().Has('Name', 'eth0').Values('IPV4')"),
        json!([["10.0.0.1/24"]])
    );
    assert_eq!(
        json_of(&g, "G.V().Has('Name', 'eth0').Values('Empty')"),
        json!([])
    );
    assert_eq!(
        json_of(&g, "G.V().Has('Name', 'eth0').Values('@CreatedAt').Count()"),
        json!(1)
    );
    assert_eq!(
        json_of(
            &g,
            "G.V().Has('Name', 'eth0').ValueMap('Name', 'MTU', 'Nope')"
        ),
        json!([{"Name": "eth0", "MTU": 1500}])
    );
    assert_eq!(
        json_of(
            &g,
            "G.V().Has('Type', 'veth').ValueMap('Name', 'MTU').Has('Name', 'eth0')"
        ),
        json!([{"Name": "eth0", "MTU": 1500}])
    );
    assert_eq!(
        json_of(&g, "G.V().Has('Type', 'veth').Sum('MTU')"),
        json!(3000)
    );
    assert_eq!(
        json_of(&g, "G.V().Has('Type', 'veth').Values('MTU').Sum()"),
        json!(3000)
    );
    assert_eq!(json_of(&g, "G.V().Sum('Speed')"), json!(11000.0));
    assert_eq!(
        json_of(&g, "G.V().HasKey('MTU').Dedup('MTU').Count()"),
        json!(3)
    );
    assert_eq!(json_of(&g, "G.V().Dedup('Type').Count()"), json!(5));
    assert_eq!(
        json_of(&g, "G.V().Values('Type').Dedup().Count()"),
        json!(5)
    );
    let keys = json_of(&g, "G.V().Has('Name', 'eth0').Keys()");
    let keys: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        keys[..6],
        [
            "@ID",
            "@Host",
            "@Origin",
            "@CreatedAt",
            "@UpdatedAt",
            "@Revision"
        ]
    );
    for k in [
        "Name",
        "Type",
        "MTU",
        "IPV4",
        "MAC",
        "Ovs.Options.remote_ip",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    let e = fail(&g, "G.V().Sum('Name')");
    assert!(
        matches!(&e, GremlinError::Eval(e) if matches!(&e.kind, EvalErrorKind::NotANumber { key, .. } if key == "Name")),
        "{e}"
    );
    assert_eq!(e.column(), 7);
    assert!(fail(&g, "G.V().Sum()").to_string().contains("Sum('MTU')"));
}

#[test]
fn sort_and_paging() {
    let g = topology();
    assert_eq!(
        json_of(&g, "G.V().HasKey('MTU').Sort(DESC, 'MTU').Values('MTU')"),
        json!([65536, 9000, 1500, 1500, 1500])
    );
    assert_eq!(
        json_of(&g, "G.V().Sort('Name').Values('Name')"),
        json!(["br0", "eth0", "eth1", "host1", "lo", "ns1", "veth-host"])
    );
    assert_eq!(
        json_of(&g, "G.V().Sort('Name').Range(1, 3).Values('Name')"),
        json!(["eth0", "eth1"])
    );
    assert_eq!(
        json_of(&g, "G.V().Sort('Name').Limit(2).Values('Name')"),
        json!(["br0", "eth0"])
    );
    assert_eq!(
        json_of(&g, "G.V().Sort('Name').Range(5, 100).Values('Name')"),
        json!(["ns1", "veth-host"])
    );
    assert_eq!(
        json_of(&g, "G.V().Sort('Name').Range(3, 1).Count()"),
        json!(0)
    );
    assert_eq!(
        json_of(&g, "G.V().Values('Name').Sort(DESC).Limit(1)"),
        json!(["veth-host"])
    );
    // Fused with the source: Limit and Range stop early but mean the same.
    assert_eq!(
        json_of(&g, "G.V().Has('Type', 'veth').Limit(1).Count()"),
        json!(1)
    );
    assert_eq!(json_of(&g, "G.V().Limit(3).Count()"), json!(3));
    assert_eq!(json_of(&g, "G.V().Range(6, 10).Count()"), json!(1));
    assert_eq!(
        json_of(&g, "G.E().Has('RelationType', 'layer2').Limit(2).Count()"),
        json!(2)
    );
}

#[test]
fn shortest_paths() {
    let g = topology();
    let path = |q: &str| -> Vec<Vec<String>> {
        match run(&g, q) {
            Output::Paths(p) => p
                .iter()
                .map(|p| {
                    p.iter()
                        .map(|n| n.metadata.get_str("Name").unwrap().to_owned())
                        .collect()
                })
                .collect(),
            other => panic!("{q}: {}", other.kind()),
        }
    };
    assert_eq!(
        path(
            "G.V().Has('Name', 'eth0').ShortestPathTo(Metadata('Name', 'eth1'), Metadata('RelationType', 'layer2'))"
        ),
        [["eth0", "veth-host", "br0", "eth1"]]
    );
    assert_eq!(
        path(
            "G.V().Has('Name', 'eth0').ShortestPathTo(Metadata('Type', 'host'), Metadata('RelationType', 'ownership'))"
        ),
        [["eth0", "ns1", "host1"]]
    );
    assert_eq!(
        path("G.V().Has('Type', 'veth').ShortestPathTo(Metadata('Type', 'veth'))").len(),
        2
    );
    assert!(path("G.V().Has('Name', 'lo').ShortestPathTo(Metadata('Name', 'eth1'), Metadata('RelationType', 'layer2'))").is_empty());
    let out = json_of(
        &g,
        "G.V().Has('Name', 'eth0').ShortestPathTo(Metadata('Name', 'ns1'))",
    );
    assert_eq!(out[0][1]["Metadata"]["Name"], json!("ns1"));
    assert_eq!(out[0][0]["ID"], json!(id("eth0")));
    assert_eq!(names(&g, "G.V().Has('Name', 'eth0').ShortestPathTo(Metadata('Name', 'eth1'), Metadata('RelationType', 'layer2')).Dedup()").len(), 4);
}

#[test]
fn subgraphs() {
    let g = topology();
    assert_eq!(
        json_of(
            &g,
            "G.E().Has('RelationType', 'layer2').SubGraph().V().Count()"
        ),
        json!(4)
    );
    assert_eq!(
        json_of(
            &g,
            "G.E().Has('RelationType', 'layer2').SubGraph().E().Count()"
        ),
        json!(3)
    );
    assert_eq!(
        names(
            &g,
            "G.E().Has('RelationType', 'layer2').SubGraph().V().Has('Name', 'eth0').Out()"
        ),
        ["veth-host"]
    );
    let out = json_of(&g, "G.V().Has('Type', 'veth').SubGraph()");
    assert_eq!(out.as_array().unwrap().len(), 1);
    assert_eq!(out[0]["Nodes"].as_array().unwrap().len(), 2);
    assert_eq!(out[0]["Edges"].as_array().unwrap().len(), 1);
    assert_eq!(
        out[0]["Edges"][0]["Metadata"]["RelationType"],
        json!("layer2")
    );
    let paths = "G.V().Has('Name', 'eth0').ShortestPathTo(Metadata('Type', 'host'), Metadata('RelationType', 'ownership'))";
    assert_eq!(
        json_of(&g, &format!("{paths}.SubGraph().E().Count()")),
        json!(2)
    );
}

#[test]
fn the_bare_graph_is_wrapped_like_skydive() {
    let g = topology();
    let out = json_of(&g, "G");
    assert_eq!(out.as_array().unwrap().len(), 1);
    assert_eq!(out[0]["Nodes"].as_array().unwrap().len(), 7);
    assert_eq!(out[0]["Edges"].as_array().unwrap().len(), 9);
    let first = &out[0]["Nodes"][0];
    for field in [
        "ID",
        "Metadata",
        "Host",
        "Origin",
        "CreatedAt",
        "UpdatedAt",
        "Revision",
    ] {
        assert!(first.get(field).is_some(), "{field}");
    }
}

#[test]
fn as_and_select() {
    let g = topology();
    let q = "G.V().Has('Type', 'netns').As('a').G.V().Has('Type', 'bridge').As('b').Select('a', 'b').Values('Name')";
    assert_eq!(json_of(&g, q), json!(["ns1", "br0"]));
    assert_eq!(
        json_of(
            &g,
            "G.E().Has('RelationType', 'layer2').As('l2').G.V().Select('l2').Count()"
        ),
        json!(3)
    );
    let e = fail(&g, "G.V().As('a').Select('b')");
    assert_eq!(
        e.to_string(),
        "`Select`: nothing is named `b`; name a result first with `As('b')` (column 15)"
    );
    let e = fail(&g, "G.V().As('a').G.E().As('b').Select('a', 'b')");
    assert!(
        e.to_string()
            .starts_with("`Select` mixes results of different kinds"),
        "{e}"
    );
    assert!(
        fail(&g, "G.V().Count().As('n')")
            .to_string()
            .starts_with("`As` can name nodes or edges, not a number")
    );
}

#[test]
fn multi_level_walks() {
    let g = topology();
    assert_eq!(
        names(&g, "G.V().Has('Type', 'host').Descendants()"),
        ["br0", "eth1", "host1", "ns1", "veth-host"]
    );
    assert_eq!(
        names(&g, "G.V().Has('Type', 'host').Descendants(0)").len(),
        7
    );
    assert_eq!(
        names(&g, "G.V().Has('Type', 'host').Descendants(2)").len(),
        7
    );
    assert_eq!(
        names(&g, "G.V().Has('Name', 'eth0').Ascendants(0)"),
        ["eth0", "host1", "ns1"]
    );
    assert_eq!(
        names(&g, "G.V().Has('Name', 'eth0').Ascendants()"),
        ["eth0", "ns1"]
    );
    assert_eq!(
        names(
            &g,
            "G.V().Has('Name', 'eth0').Neighbors('RelationType', 'layer2', 0)"
        ),
        ["br0", "eth0", "eth1", "veth-host"]
    );
    assert_eq!(
        names(
            &g,
            "G.V().Has('Name', 'eth0').Neighbors('RelationType', 'layer2', 2)"
        ),
        ["br0", "eth0", "veth-host"]
    );
    assert_eq!(
        names(&g, "G.V().Has('Name', 'ns1').Neighbors()"),
        ["eth0", "host1", "lo", "ns1"]
    );
    assert_eq!(names(&g, "G.V().Has('Name', 'ns1').Neighbors('RelationType', 'layer2', 'RelationType', 'ownership')").len(), 4);
}

#[test]
fn misuse_points_at_the_step() {
    let g = topology();
    let cases = [
        (
            "G.V().OutV()",
            7,
            "`OutV` applies to edges, but the previous step yields nodes",
        ),
        (
            "G.E().Out()",
            7,
            "`Out` applies to nodes, but the previous step yields edges",
        ),
        (
            "G.Count()",
            3,
            "`Count` applies to nodes, edges, paths or values, but the previous step yields the graph",
        ),
        (
            "G.V().V()",
            7,
            "`V` applies to the graph (after G), but the previous step yields nodes",
        ),
        (
            "G.V().Count().Values('x')",
            15,
            "`Values` applies to nodes or edges, but the previous step yields a number",
        ),
        (
            "G.V().Has('Name', 'eth0').Flows().Count()",
            27,
            "step `Flows` needs a flow source, none is configured",
        ),
        (
            "G.Flows()",
            3,
            "step `Flows` needs a flow source, none is configured",
        ),
        (
            "G.V().NextHop('10.0.0.1')",
            7,
            "step `NextHop` is not supported yet",
        ),
        (
            "G.At('-1m').V()",
            3,
            "`At` needs a history store, none is configured",
        ),
    ];
    for (q, column, message) in cases {
        let e = fail(&g, q);
        assert_eq!(e.column(), column, "{q}: {e}");
        assert!(e.to_string().starts_with(message), "{q}: {e}");
    }
}

#[test]
fn outputs_render_and_give_subgraphs() {
    let g = topology();
    let veths = run(&g, "G.V().Has('Type', 'veth')");
    let (nodes, edges) = veths.subgraph(&g);
    assert_eq!((nodes.len(), edges.len()), (2, 1));
    let layer2 = run(&g, "G.E().Has('RelationType', 'layer2')");
    let (nodes, edges) = layer2.subgraph(&g);
    assert_eq!((nodes.len(), edges.len()), (4, 3));
    assert_eq!(run(&g, "G.V().Count()").subgraph(&g).0.len(), 0);
    let (nodes, edges) = run(&g, "G").subgraph(&g);
    assert_eq!((nodes.len(), edges.len()), (7, 9));

    let dot = run(&g, "G.E().Has('RelationType', 'layer2').SubGraph()").to_dot();
    assert!(
        dot.starts_with("digraph g {\n") && dot.ends_with("}\n"),
        "{dot}"
    );
    assert!(
        dot.contains(&format!("\"{}\" [label=\"eth0\"];", id("eth0"))),
        "{dot}"
    );
    assert!(
        dot.contains(&format!(
            "\"{}\" -> \"{}\" [label=\"layer2\", dir=both];",
            id("br0"),
            id("eth1")
        )),
        "{dot}"
    );
    assert_eq!(dot.matches("->").count(), 3);
    let own = run(&g, "G").to_dot();
    assert!(own.contains("[label=\"ownership\"]"));
    assert_eq!(run(&g, "G.V().Count()").to_dot(), "digraph g {\n}\n");
    let paths = run(
        &g,
        "G.V().Has('Name', 'eth0').ShortestPathTo(Metadata('Type', 'host'), Metadata('RelationType', 'ownership'))",
    );
    assert_eq!(paths.to_dot().matches("->").count(), 2);
}

// ----- index use -----

/// A view that counts how it is read.
struct Spy<'a> {
    g: &'a Graph,
    scans: AtomicUsize,
    lookups: AtomicUsize,
    lookup_counts: AtomicUsize,
}

impl<'a> Spy<'a> {
    fn new(g: &'a Graph) -> Self {
        Spy {
            g,
            scans: AtomicUsize::new(0),
            lookups: AtomicUsize::new(0),
            lookup_counts: AtomicUsize::new(0),
        }
    }

    fn reads(&self) -> (usize, usize, usize) {
        let get = |a: &AtomicUsize| a.swap(0, Ordering::SeqCst);
        (
            get(&self.scans),
            get(&self.lookups),
            get(&self.lookup_counts),
        )
    }
}

type NodeIter<'a> = Box<dyn Iterator<Item = &'a Arc<Node>> + 'a>;
type EdgeIter<'a> = Box<dyn Iterator<Item = &'a Arc<Edge>> + 'a>;

impl GraphView for Spy<'_> {
    fn node(&self, id: IdRef<'_>) -> Option<&Arc<Node>> {
        GraphView::node(self.g, id)
    }
    fn edge(&self, id: IdRef<'_>) -> Option<&Arc<Edge>> {
        GraphView::edge(self.g, id)
    }
    fn nodes(&self) -> NodeIter<'_> {
        self.scans.fetch_add(1, Ordering::SeqCst);
        GraphView::nodes(self.g)
    }
    fn edges(&self) -> EdgeIter<'_> {
        self.scans.fetch_add(1, Ordering::SeqCst);
        GraphView::edges(self.g)
    }
    fn node_edges(&self, id: IdRef<'_>) -> EdgeIter<'_> {
        GraphView::node_edges(self.g, id)
    }
    fn lookup(&self, key: &str, value: &IndexValue) -> Option<NodeIter<'_>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        GraphView::lookup(self.g, key, value)
    }
    fn lookup_count(&self, key: &str, value: &IndexValue) -> Option<usize> {
        self.lookup_counts.fetch_add(1, Ordering::SeqCst);
        GraphView::lookup_count(self.g, key, value)
    }
    fn node_count(&self) -> usize {
        self.g.node_count()
    }
    fn edge_count(&self) -> usize {
        self.g.edge_count()
    }
    fn time_slice(&self) -> Option<TimeSlice> {
        None
    }
}

#[test]
fn indexed_equality_never_scans() {
    let g = topology();
    let spy = Spy::new(&g);
    assert_eq!(
        names(&spy, "G.V().Has('Type', 'veth')"),
        ["eth0", "veth-host"]
    );
    let (scans, lookups, _) = spy.reads();
    assert_eq!((scans, lookups), (0, 1));
    // Count of one indexed equality: the index answers alone.
    assert_eq!(json_of(&spy, "G.V().Has('Type', 'veth').Count()"), json!(2));
    assert_eq!(spy.reads(), (0, 0, 1));
    // Several equalities: the most selective index is used, the rest filter.
    assert_eq!(
        names(
            &spy,
            "G.V().Has('Type', 'veth').Has('Name', 'eth0', 'MTU', 1500).Out()"
        ),
        ["veth-host"]
    );
    let (scans, lookups, _) = spy.reads();
    assert_eq!((scans, lookups), (0, 1));
    assert_eq!(
        json_of(&spy, "G.V().Has('MAC', 'aa:00:00:00:00:01').Count()"),
        json!(1)
    );
    assert_eq!(spy.reads().0, 0);
    assert_eq!(json_of(&spy, "G.V().Has('IfIndex', 3).Count()"), json!(0));
    assert_eq!(spy.reads().0, 0);
    assert_eq!(
        names(&spy, &format!("G.V().Has('@ID', '{}').In()", id("eth0"))),
        ["ns1"]
    );
    assert_eq!(spy.reads().0, 0);
    // Hops follow adjacency only.
    assert_eq!(
        names(
            &spy,
            "G.V().Has('Name', 'host1').Descendants(0).Has('Type', 'veth')"
        ),
        ["eth0", "veth-host"]
    );
    assert_eq!(spy.reads().0, 0);
    // Not indexed: a scan.
    assert_eq!(names(&spy, "G.V().Has('MTU', 9000)"), ["eth1"]);
    assert_eq!(spy.reads().0, 1);
    assert_eq!(
        json_of(
            &spy,
            "G.V().HasEither('Type', 'veth', 'Name', 'br0').Count()"
        ),
        json!(3)
    );
    assert_eq!(spy.reads().0, 1);
}

#[test]
fn default_index_keys_cover_the_common_lookups() {
    for k in ["Type", "Name", "MAC"] {
        assert!(DEFAULT_INDEXED_KEYS.contains(&k));
    }
}

// ----- time travel -----

/// Hands out one fixed view and remembers the slices asked for.
struct FixedHistory {
    view: Arc<dyn GraphView>,
    asked: Mutex<Vec<TimeSlice>>,
}

impl HistorySource for FixedHistory {
    fn view(&self, slice: TimeSlice) -> Result<Arc<dyn GraphView>, String> {
        self.asked.lock().unwrap().push(slice);
        Ok(self.view.clone())
    }
}

struct BrokenHistory;

impl HistorySource for BrokenHistory {
    fn view(&self, _: TimeSlice) -> Result<Arc<dyn GraphView>, String> {
        Err("store unreachable".into())
    }
}

fn revision(
    name: &str,
    ty: &str,
    rev: i64,
    created: i64,
    deleted: Option<i64>,
    mtu: i64,
) -> Arc<Node> {
    let md = Metadata::from_pairs([
        ("Name", json!(name)),
        ("Type", json!(ty)),
        ("MTU", json!(mtu)),
    ]);
    let mut n = Node::new(
        id(name),
        md,
        SharedStr::from("host1"),
        SharedStr::from("agent.host1"),
    );
    n.revision = rev;
    n.created_at = TimeMs(created);
    n.updated_at = TimeMs(created + rev);
    n.deleted_at = deleted.map(TimeMs);
    Arc::new(n)
}

fn past() -> FixedHistory {
    let slice = TimeSlice {
        start: TimeMs(1_000),
        last: TimeMs(5_000),
    };
    let keys = DEFAULT_INDEXED_KEYS.iter().map(|k| k.to_string()).collect();
    let mut b = HistoryViewBuilder::new(slice, keys);
    b.node(revision("old0", "veth", 1, 1_000, Some(4_000), 1500));
    b.node(revision("old0", "veth", 2, 1_000, Some(4_000), 9000));
    b.node(revision("br9", "bridge", 1, 500, None, 1500));
    let md = Metadata::from_pairs([("RelationType", json!("layer2"))]);
    let e = Edge::new(
        gen_id(&["br9", "old0"]),
        id("br9"),
        id("old0"),
        md,
        SharedStr::from("host1"),
        SharedStr::from("agent.host1"),
    );
    b.edge(Arc::new(e));
    FixedHistory {
        view: Arc::new(b.build()),
        asked: Mutex::new(Vec::new()),
    }
}

#[test]
fn at_reads_the_history_view() {
    let g = topology();
    let h = past();
    let now = TimeMs(1_700_000_000_000);
    let cx = Context::new(&g).with_history(&h).at(now);
    let run = |q: &str| {
        execute(q, &cx)
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .to_json()
    };
    // Both revisions of old0 are alive in the slice; the live graph is not consulted.
    assert_eq!(run("G.At('-1m').V().Has('Name', 'old0').Count()"), json!(2));
    assert_eq!(
        run("G.At('-1m').V().Has('Name', 'old0').Values('MTU')")
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        run("G.At('-1m').V().Has('Type', 'veth').Dedup().Count()"),
        json!(1)
    );
    assert_eq!(run("G.At('-1m').V().Has('Name', 'eth0').Count()"), json!(0));
    assert_eq!(
        run("G.At('-1m').V().Has('Name', 'br9').Out().Values('MTU')"),
        json!([9000])
    );
    assert_eq!(run("G.at(NOW, '1h').E().Count()"), json!(1));
    assert_eq!(run("G.At(1479899809, FOREVER).V().Count()"), json!(3));
    assert_eq!(run("G.At(1479899809123, 60).V().Count()"), json!(3));
    assert_eq!(
        run("G.At('Sun, 06 Nov 2016 08:49:37 GMT').V().Count()"),
        json!(3)
    );
    assert_eq!(run("G.V().Count()"), json!(7), "no At: the live graph");
    let g_out = run("G.At('-1m')");
    assert_eq!(g_out[0]["Nodes"].as_array().unwrap().len(), 3);
    let asked = h.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        [
            TimeSlice::at(TimeMs(now.0 - 60_000)),
            TimeSlice::at(TimeMs(now.0 - 60_000)),
            TimeSlice::at(TimeMs(now.0 - 60_000)),
            TimeSlice::at(TimeMs(now.0 - 60_000)),
            TimeSlice::at(TimeMs(now.0 - 60_000)),
            TimeSlice {
                start: TimeMs(now.0 - 3_600_000),
                last: now
            },
            TimeSlice {
                start: TimeMs(0),
                last: TimeMs(1_479_899_809_000)
            },
            TimeSlice {
                start: TimeMs(1_479_899_809_123 - 60_000),
                last: TimeMs(1_479_899_809_123)
            },
            TimeSlice::at(TimeMs(1_478_422_177_000)),
            TimeSlice::at(TimeMs(now.0 - 60_000)),
        ]
    );
    let broken = Context::new(&g).with_history(&BrokenHistory);
    let e = execute("G.At(NOW).V()", &broken).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`At`: the history store failed: store unreachable (column 3)"
    );
}

//! What a query yields, and its renderings: Skydive's JSON shapes and Graphviz dot.
//!
//! JSON shapes (as Skydive's `POST /api/topology` answers):
//! - nodes / edges: arrays of node / edge objects;
//! - paths (`ShortestPathTo`): an array of paths, each an array of nodes;
//! - the graph (`G`, `SubGraph()`): an array holding one `{"Nodes": […], "Edges": […]}` object
//!   (Skydive marshals a graph step as the list of its values);
//! - `Count()`, `Sum()`: a bare number;
//! - `Values()`, `ValueMap()`, `Keys()`: an array of values, maps or key strings (`[]` when
//!   empty, where Skydive gave `null`);
//! - flows: an array of flows in Skydive's flow JSON;
//! - `Metrics()`, `Aggregates()`: an array of one object mapping each flow UUID (or
//!   `Aggregated`) to its metrics, `[{"<uuid>": [{"ABPackets": …, "Start": …, "Last": …}]}]`,
//!   or `[]` when there are none; `Metrics().Sum()`: one metric object (`null` without
//!   metrics);
//! - `Group()`: an array of one object mapping each group's value to its flows, or `[]`.
//!
//! Elements are shared (`Arc`) with the graph they came from; rendering borrows them.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};
use skydive_flow::{Flow, FlowMetric};
use skydive_graph::{Edge, GraphView, Id, Node};

use crate::flow_source::FlowMetrics;

/// The result of a query.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Output {
    /// A whole graph: `G`, `G.At(…)`, `….SubGraph()`.
    Graph {
        nodes: Vec<Arc<Node>>,
        edges: Vec<Arc<Edge>>,
    },
    Nodes(Vec<Arc<Node>>),
    Edges(Vec<Arc<Edge>>),
    /// `ShortestPathTo`: each path runs from a start node to the node found.
    Paths(Vec<Vec<Arc<Node>>>),
    /// `Values`, `ValueMap`, `Keys`.
    Values(Vec<Value>),
    /// `Count`, `Sum`.
    Number(Number),
    /// Flows (`Flows()` and the steps that filter, sort and page them).
    Flows(Vec<Arc<Flow>>),
    /// `Metrics()`, `Aggregates()`: metric series by flow UUID (or `Aggregated`).
    Metrics(FlowMetrics),
    /// `Metrics().Sum()`: the total metric; `None` when there was none.
    Metric(Option<FlowMetric>),
    /// `Group()`: flows by the value of the grouping key.
    FlowGroups(BTreeMap<String, Vec<Arc<Flow>>>),
}

impl Output {
    /// Skydive's JSON for this result.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Graphviz dot (`Accept: text/vnd.graphviz`): nodes labelled by `Name`, edges by
    /// `RelationType`. Results without nodes or edges give an empty graph.
    pub fn to_dot(&self) -> String {
        match self {
            Output::Graph { nodes, edges } => dot(nodes, edges),
            Output::Nodes(nodes) => dot(nodes, &[]),
            Output::Edges(edges) => dot(&[], edges),
            Output::Paths(paths) => paths_dot(paths),
            Output::Values(_)
            | Output::Number(_)
            | Output::Flows(_)
            | Output::Metrics(_)
            | Output::Metric(_)
            | Output::FlowGroups(_) => dot(&[], &[]),
        }
    }

    /// The nodes and edges of this result as a graph, for subscriptions filtered by a query
    /// (`X-Gremlin-Filter`): nodes (or path nodes) with the edges of `g` among them; edges with
    /// their end nodes; a graph as it is. Values and numbers give nothing. Duplicates go.
    pub fn subgraph(&self, g: &dyn GraphView) -> (Vec<Arc<Node>>, Vec<Arc<Edge>>) {
        match self {
            Output::Graph { nodes, edges } => (nodes.clone(), edges.clone()),
            Output::Nodes(nodes) => with_edges_among(g, nodes.iter()),
            Output::Paths(paths) => with_edges_among(g, paths.iter().flatten()),
            Output::Edges(edges) => with_end_nodes(g, edges),
            Output::Values(_)
            | Output::Number(_)
            | Output::Flows(_)
            | Output::Metrics(_)
            | Output::Metric(_)
            | Output::FlowGroups(_) => (Vec::new(), Vec::new()),
        }
    }

    /// What this result is, in words: "nodes", "a number"…
    pub fn kind(&self) -> &'static str {
        match self {
            Output::Graph { .. } => "a graph",
            Output::Nodes(_) => "nodes",
            Output::Edges(_) => "edges",
            Output::Paths(_) => "paths",
            Output::Values(_) => "values",
            Output::Number(_) => "a number",
            Output::Flows(_) => "flows",
            Output::Metrics(_) => "metrics",
            Output::Metric(_) => "a metric",
            Output::FlowGroups(_) => "flow groups",
        }
    }
}

fn with_edges_among<'a>(
    g: &dyn GraphView,
    nodes: impl Iterator<Item = &'a Arc<Node>>,
) -> (Vec<Arc<Node>>, Vec<Arc<Edge>>) {
    let mut seen: HashSet<Id> = HashSet::new();
    let nodes: Vec<Arc<Node>> = nodes
        .filter(|n| seen.insert(n.id.clone()))
        .cloned()
        .collect();
    let mut seen_edges: HashSet<Id> = HashSet::new();
    let mut edges = Vec::new();
    for n in &nodes {
        for e in g.node_edges(n.id.as_id_ref()) {
            if seen.contains(&e.parent)
                && seen.contains(&e.child)
                && seen_edges.insert(e.id.clone())
            {
                edges.push(e.clone());
            }
        }
    }
    (nodes, edges)
}

fn with_end_nodes(g: &dyn GraphView, edges: &[Arc<Edge>]) -> (Vec<Arc<Node>>, Vec<Arc<Edge>>) {
    let mut seen_edges: HashSet<Id> = HashSet::new();
    let edges: Vec<Arc<Edge>> = edges
        .iter()
        .filter(|e| seen_edges.insert(e.id.clone()))
        .cloned()
        .collect();
    let mut seen: HashSet<Id> = HashSet::new();
    let nodes = edges
        .iter()
        .flat_map(|e| [&e.parent, &e.child])
        .filter(|id| seen.insert(Id::clone(id)))
        .filter_map(|id| g.node(id.as_id_ref()).cloned())
        .collect();
    (nodes, edges)
}

impl Serialize for Output {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Output::Graph { nodes, edges } => {
                let mut seq = s.serialize_seq(Some(1))?;
                seq.serialize_element(&GraphJson { nodes, edges })?;
                seq.end()
            }
            Output::Nodes(nodes) => s.collect_seq(nodes.iter().map(|n| &**n)),
            Output::Edges(edges) => s.collect_seq(edges.iter().map(|e| &**e)),
            Output::Paths(paths) => s.collect_seq(paths.iter().map(|p| PathJson(p))),
            Output::Values(values) => values.serialize(s),
            Output::Number(n) => n.serialize(s),
            Output::Flows(flows) => s.collect_seq(flows.iter().map(|f| &**f)),
            Output::Metrics(m) => one_map_or_empty(s, m.is_empty(), m),
            Output::Metric(m) => m.serialize(s),
            Output::FlowGroups(g) => {
                let groups: BTreeMap<&str, FlowsJson<'_>> =
                    g.iter().map(|(k, v)| (k.as_str(), FlowsJson(v))).collect();
                one_map_or_empty(s, groups.is_empty(), &groups)
            }
        }
    }
}

/// Skydive marshals metrics and groups as the list of its one map, or `[]` when empty.
fn one_map_or_empty<S: Serializer, T: Serialize>(
    s: S,
    empty: bool,
    map: &T,
) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(usize::from(!empty)))?;
    if !empty {
        seq.serialize_element(map)?;
    }
    seq.end()
}

struct FlowsJson<'a>(&'a [Arc<Flow>]);

impl Serialize for FlowsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|f| &**f))
    }
}

struct GraphJson<'a> {
    nodes: &'a [Arc<Node>],
    edges: &'a [Arc<Edge>],
}

impl Serialize for GraphJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("Nodes", &PathJson(self.nodes))?;
        map.serialize_entry("Edges", &EdgesJson(self.edges))?;
        map.end()
    }
}

struct PathJson<'a>(&'a [Arc<Node>]);

impl Serialize for PathJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|n| &**n))
    }
}

struct EdgesJson<'a>(&'a [Arc<Edge>]);

impl Serialize for EdgesJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|e| &**e))
    }
}

// ----- Graphviz -----

/// Graphviz dot of nodes and edges: nodes labelled by `Name` (their ID when unnamed), edges by
/// `RelationType`; `layer2` edges are drawn both ways, as Skydive drew them.
pub fn dot(nodes: &[Arc<Node>], edges: &[Arc<Edge>]) -> String {
    let mut out = String::from("digraph g {\n");
    for n in nodes {
        let id = n.id.as_str();
        let label = n.metadata.get_str("Name").unwrap_or(&id);
        let _ = writeln!(out, "  \"{}\" [label=\"{}\"];", escape(&id), escape(label));
    }
    for e in edges {
        let _ = write!(
            out,
            "  \"{}\" -> \"{}\"",
            escape(&e.parent.as_str()),
            escape(&e.child.as_str())
        );
        match e.metadata.get_str("RelationType") {
            Some("layer2") => out.push_str(" [label=\"layer2\", dir=both]"),
            Some(rel) => {
                let _ = write!(out, " [label=\"{}\"]", escape(rel));
            }
            None => {}
        }
        out.push_str(";\n");
    }
    out.push('}');
    out.push('\n');
    out
}

/// Paths as a graph: their nodes, and one arrow per hop.
fn paths_dot(paths: &[Vec<Arc<Node>>]) -> String {
    let mut seen = HashSet::new();
    let nodes: Vec<Arc<Node>> = paths
        .iter()
        .flatten()
        .filter(|n| seen.insert(n.id.clone()))
        .cloned()
        .collect();
    let mut out = dot(&nodes, &[]);
    out.truncate(out.len() - 2);
    let mut hops = HashSet::new();
    for p in paths {
        for w in p.windows(2) {
            if hops.insert((w[0].id.clone(), w[1].id.clone())) {
                let _ = writeln!(
                    out,
                    "  \"{}\" -> \"{}\";",
                    escape(&w[0].id.as_str()),
                    escape(&w[1].id.as_str())
                );
            }
        }
    }
    out.push_str("}\n");
    out
}

/// Text inside a dot double-quoted string.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

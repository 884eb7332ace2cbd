//! Skydive's Gremlin dialect: the query language of `POST /api/topology`, capture selections
//! and subscription filters (`X-Gremlin-Filter`).
//!
//! A query is parsed once into a [`Query`] (a list of typed [`Step`]s; errors say which column
//! and what was expected), then evaluated over a [`GraphView`] — the live graph, or a past one
//! obtained through a [`HistorySource`] when the query says `At(…)` — and, for flow steps
//! (`Flows()`, `Metrics()`, `CaptureNode()`, …), a [`FlowSource`]: the analyzer's live flows,
//! or its flow store under `At`. The result is an [`Output`], rendered as Skydive's JSON
//! ([`Output::to_json`]) or Graphviz dot.
//!
//! Main items:
//! - [`parse`], [`evaluate`], [`execute`] (both at once), [`Context`]; with flows,
//!   [`evaluate_with_flows`], [`execute_with_flows`];
//! - [`Query`], [`Step`], [`StepKind`]: the parsed form, printable back as canonical text;
//! - [`Output`]: nodes, edges, paths, values, a number, a graph, flows, metrics;
//! - [`STEPS`], [`PREDICATES`]: the dialect's tables, from which `docs/gremlin.md` is checked;
//! - [`ParseError`], [`EvalError`], [`GremlinError`];
//! - [`HistorySource`]; [`FlowSource`] with its [`FlowRequest`] and [`MetricsRequest`].
//!
//! This crate must not depend on HTTP or storage: history and flows come in through traits
//! (it knows the flow *model*, `skydive_flow::Flow`, not where flows are kept). It reads graphs only through [`GraphView`], starts from indexes where a
//! filter allows, walks edges through adjacency (never by scanning), and bounds its input
//! (query size, nesting depth) and its work (result size, edges visited).
//!
//! ```
//! use serde_json::json;
//! use skydive_graph::{Graph, GraphOptions, Metadata, gen_id};
//! use skydive_gremlin::{Context, execute};
//!
//! let mut g = Graph::new(GraphOptions::new("host1", "analyzer.host1"));
//! let md = |name: &str, ty: &str| Metadata::from_pairs([("Name", json!(name)), ("Type", json!(ty))]);
//! let br = g.create_node(gen_id(&["br0"]), md("br0", "bridge")).unwrap();
//! let p = g.create_node(gen_id(&["p1"]), md("p1", "veth")).unwrap();
//! g.create_edge(gen_id(&["br0", "p1"]), br.id.clone(), p.id.clone(), Metadata::new()).unwrap();
//!
//! let out = execute("G.V().Has('Name', 'br0').Out().Values('Name')", &Context::new(&g)).unwrap();
//! assert_eq!(out.to_json(), json!(["p1"]));
//! let err = execute("G.V().Has('Name', 'br0').Flows()", &Context::new(&g)).unwrap_err();
//! assert_eq!(err.to_string(), "step `Flows` needs a flow source, none is configured (column 26)");
//! ```
#![forbid(unsafe_code)]

mod arguments;
mod ast;
mod error;
mod eval;
mod fixture;
mod flow_fields;
mod flow_source;
mod history;
mod lexer;
mod lookup;
mod metrics;
mod output;
mod parser;
mod predicate;
mod projection;
mod steps;
mod subgraph;
mod time_arg;
mod walk;

pub mod fuzzing;

pub use ast::{
    Arg, Combine, Filter, Literal, Num, Order, Pattern, Predicate, Query, Step, StepKind, Term,
    Walk,
};
pub use error::{EvalError, EvalErrorKind, GremlinError, ParseError, ParseErrorKind};
pub use eval::{Context, evaluate, evaluate_with_flows};
pub use flow_source::{FlowMetrics, FlowRequest, FlowSource, MetricsRequest};
pub use history::HistorySource;
pub use output::{Output, dot};
pub use parser::{MAX_DEPTH, MAX_QUERY_LEN, parse};
pub use steps::{
    Availability, PREDICATES, PredicateSpec, STEPS, StepSpec, find_predicate, find_step,
};
pub use time_arg::{Span, TimeArg, TimePoint};
pub use walk::{MAX_ITEMS, MAX_VISITS};

#[doc(no_inline)]
pub use skydive_graph::GraphView;

/// Parses and evaluates a query.
pub fn execute(text: &str, cx: &Context<'_>) -> Result<Output, GremlinError> {
    let query = parse(text)?;
    Ok(evaluate(&query, cx)?)
}

/// Parses and evaluates a query whose flow steps read `flows`.
pub fn execute_with_flows(
    text: &str,
    cx: &Context<'_>,
    flows: &dyn FlowSource,
) -> Result<Output, GremlinError> {
    let query = parse(text)?;
    Ok(evaluate_with_flows(&query, cx, flows)?)
}

#[cfg(test)]
mod docs_examples;

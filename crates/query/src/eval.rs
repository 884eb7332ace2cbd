//! Evaluation: runs a [`Query`]'s steps over a graph view, left to right.
//!
//! Each step turns the current [`Traversal`] into the next. A source step (`V()`, `E()`) takes
//! the filter steps that follow it (`Has`, `HasEither`, `HasKey`, `HasNot`) and a closing
//! `Count()` or `Limit()`/`Range()` into one pass, and starts from an index look-up when one
//! of those filters asks for equality on an indexed key (or `@ID`): `V().Has('Type', 'veth')`
//! touches only veths, and `V().Has('Type', 'veth').Count()` asks the index for a number.
//!
//! Elements travel as `Arc<Node>` / `Arc<Edge>`, shared with the graph: no metadata is cloned
//! until a step projects values out of it. `At` swaps the view for a past one from the
//! [`HistorySource`]; `SubGraph` swaps it for a view of the elements at hand.
//!
//! Flow steps (`eval/flows.rs`) read flows from a [`FlowSource`], live or, after `At`, from
//! the time slice `At` set.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Number, Value};
use skydive_flow::{Flow, FlowMetric};
use skydive_graph::{Edge, GraphView, Id, IdRef, Node, TimeMs, TimeSlice};

use crate::ast::{Combine, Filter, Predicate, Query, Step, StepKind, Term, Walk};
use crate::error::{EvalError, EvalErrorKind};
use crate::flow_source::{FlowMetrics, FlowSource};
use crate::history::HistorySource;
use crate::lookup;
use crate::output::Output;
use crate::predicate::Fields;
use crate::projection::{count, dedup, keys, range, sort, sum, value_map, values};
use crate::subgraph::SubGraphView;
use crate::time_arg::TimeArg;
use crate::walk::{self, Budget, Dir, check_size};

/// What a query runs against.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The live graph (or any view).
    pub graph: &'a dyn GraphView,
    /// Where `At` finds the past; `None` makes `At` fail with a clear message.
    pub history: Option<&'a dyn HistorySource>,
    /// The time relative `At` arguments (`'-1m'`, `NOW`) count from.
    pub now: TimeMs,
}

impl<'a> Context<'a> {
    /// A context on `graph`, without history, at the current time.
    pub fn new(graph: &'a dyn GraphView) -> Self {
        Context {
            graph,
            history: None,
            now: TimeMs::now(),
        }
    }

    pub fn with_history(self, history: &'a dyn HistorySource) -> Self {
        Context {
            history: Some(history),
            ..self
        }
    }

    pub fn at(self, now: TimeMs) -> Self {
        Context { now, ..self }
    }
}

/// Runs a parsed query. Flow steps fail with "needs a flow source": see
/// [`evaluate_with_flows`].
pub fn evaluate(query: &Query, cx: &Context<'_>) -> Result<Output, EvalError> {
    run(query, cx, None)
}

/// Runs a parsed query whose flow steps read `flows`. (A separate entry point rather than a
/// field of [`Context`], so that code building a `Context` literal keeps compiling.)
pub fn evaluate_with_flows(
    query: &Query,
    cx: &Context<'_>,
    flows: &dyn FlowSource,
) -> Result<Output, EvalError> {
    run(query, cx, Some(flows))
}

fn run(
    query: &Query,
    cx: &Context<'_>,
    flows: Option<&dyn FlowSource>,
) -> Result<Output, EvalError> {
    let mut ev = Evaluator {
        cx,
        flows,
        slice: None,
        view: View::Borrowed(cx.graph),
        named: HashMap::new(),
        budget: Budget::new(),
    };
    let steps = query.steps();
    let mut cur = Traversal::Graph;
    let mut i = 0;
    while i < steps.len() {
        let (next, used) = ev.step(cur, steps, i)?;
        cur = next;
        i += used;
    }
    Ok(ev.output(cur))
}

/// The value between two steps.
#[derive(Debug, Clone)]
pub(crate) enum Traversal {
    /// The current graph view.
    Graph,
    Nodes(Vec<Arc<Node>>),
    Edges(Vec<Arc<Edge>>),
    Paths(Vec<Vec<Arc<Node>>>),
    Values(Vec<Value>),
    Number(Number),
    Flows(Vec<Arc<Flow>>),
    /// Metric series by flow UUID (`Metrics`, `Aggregates`).
    Metrics(FlowMetrics),
    /// One metric (`Metrics().Sum()`).
    Metric(Option<FlowMetric>),
    /// Flows by the value of a key (`Group`).
    Groups(BTreeMap<String, Vec<Arc<Flow>>>),
}

impl Traversal {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Traversal::Graph => "the graph",
            Traversal::Nodes(_) => "nodes",
            Traversal::Edges(_) => "edges",
            Traversal::Paths(_) => "paths",
            Traversal::Values(_) => "values",
            Traversal::Number(_) => "a number",
            Traversal::Flows(_) => "flows",
            Traversal::Metrics(_) => "metrics",
            Traversal::Metric(_) => "a metric",
            Traversal::Groups(_) => "flow groups",
        }
    }
}

/// The graph steps read: the context's, or one the query made (`At`, `SubGraph`).
enum View<'a> {
    Borrowed(&'a dyn GraphView),
    Owned(Arc<dyn GraphView>),
}

impl View<'_> {
    fn get(&self) -> &dyn GraphView {
        match self {
            View::Borrowed(g) => *g,
            View::Owned(g) => &**g,
        }
    }
}

struct Evaluator<'a> {
    cx: &'a Context<'a>,
    /// Where flow steps read flows.
    flows: Option<&'a dyn FlowSource>,
    /// The slice `At` set: flow steps read the flows of that time.
    slice: Option<TimeSlice>,
    view: View<'a>,
    /// Results named by `As`.
    named: HashMap<String, Traversal>,
    budget: Budget,
}

type StepResult = Result<(Traversal, usize), EvalError>;

pub(crate) fn fail(step: &Step, kind: EvalErrorKind) -> EvalError {
    EvalError {
        column: step.column,
        kind,
    }
}

pub(crate) fn wrong_input(step: &Step, expected: &'static str, found: &Traversal) -> EvalError {
    fail(
        step,
        EvalErrorKind::WrongInput {
            step: step.kind.name(),
            expected,
            found: found.kind(),
        },
    )
}

impl Evaluator<'_> {
    fn g(&self) -> &dyn GraphView {
        self.view.get()
    }

    /// Runs `steps[i]` (and the steps it fuses with); returns the result and how many steps
    /// were used.
    fn step(&mut self, cur: Traversal, steps: &[Step], i: usize) -> StepResult {
        let step = &steps[i];
        let cur = match self.flow_step(cur, steps, i)? {
            flows::Handled::Yes(t, used) => return Ok((t, used)),
            flows::Handled::No(cur) => cur,
        };
        let one = |t: Traversal| Ok((t, 1));
        use StepKind as K;
        match &step.kind {
            K::G => one(Traversal::Graph),
            K::At(time) => one(self.at(step, time)?),
            K::V(id) | K::E(id) => self.source(step, cur, id.as_deref(), steps, i),
            K::Has(f) | K::HasEither(f) => one(self.filter(step, cur, f)?),
            K::HasKey(k) => one(self.filter(step, cur, &key_filter(k, Predicate::Exists))?),
            K::HasNot(k) => one(self.filter(step, cur, &key_filter(k, Predicate::Absent))?),
            K::Out(f) => one(self.adjacent(step, cur, Dir::Out, f)?),
            K::In(f) => one(self.adjacent(step, cur, Dir::In, f)?),
            K::Both(f) => one(self.adjacent(step, cur, Dir::Both, f)?),
            K::OutE(f) => one(self.incident(step, cur, Dir::Out, f)?),
            K::InE(f) => one(self.incident(step, cur, Dir::In, f)?),
            K::BothE(f) => one(self.incident(step, cur, Dir::Both, f)?),
            K::OutV(f) => one(self.ends(step, cur, Dir::Out, f)?),
            K::InV(f) => one(self.ends(step, cur, Dir::In, f)?),
            K::BothV(f) => one(self.ends(step, cur, Dir::Both, f)?),
            K::Dedup(keys) => one(dedup(step, cur, keys)?),
            K::Count => one(count(step, cur)?),
            K::Values(k) => one(values(step, cur, k)?),
            K::ValueMap(keys) => one(value_map(step, cur, keys)?),
            K::Keys => one(keys(step, cur)?),
            K::Sum(k) => one(sum(step, cur, k.as_deref())?),
            K::Sort { order, key } => one(sort(step, cur, *order, key.as_deref())?),
            K::Range { from, to } => one(range(step, cur, *from, *to)?),
            K::Limit(n) => one(range(step, cur, 0, *n)?),
            K::ShortestPathTo { target, edges } => {
                one(self.shortest_paths(step, cur, target, edges.as_ref())?)
            }
            K::SubGraph => one(self.subgraph(step, cur)?),
            K::As(name) => one(self.name_result(step, cur, name)?),
            K::Select(names) => one(self.select(step, names)?),
            K::Descendants(w) => one(self.multi_level(step, cur, Dir::Out, w)?),
            K::Ascendants(w) => one(self.multi_level(step, cur, Dir::In, w)?),
            K::Neighbors(w) => one(self.multi_level(step, cur, Dir::Both, w)?),
            K::Flow { name, .. } => Err(fail(step, EvalErrorKind::NoFlowSource(name))),
            K::Unsupported { name, .. } => Err(fail(step, EvalErrorKind::Unsupported(name))),
        }
    }

    fn output(&self, cur: Traversal) -> Output {
        match cur {
            Traversal::Graph => {
                let g = self.g();
                let mut nodes: Vec<Arc<Node>> = g.nodes().cloned().collect();
                nodes.sort_by(|a, b| a.id.cmp(&b.id));
                let mut edges: Vec<Arc<Edge>> = g.edges().cloned().collect();
                edges.sort_by(|a, b| a.id.cmp(&b.id));
                Output::Graph { nodes, edges }
            }
            Traversal::Nodes(n) => Output::Nodes(n),
            Traversal::Edges(e) => Output::Edges(e),
            Traversal::Paths(p) => Output::Paths(p),
            Traversal::Values(v) => Output::Values(v),
            Traversal::Number(n) => Output::Number(n),
            Traversal::Flows(f) => Output::Flows(f),
            Traversal::Metrics(m) => Output::Metrics(m),
            Traversal::Metric(m) => Output::Metric(m),
            Traversal::Groups(g) => Output::FlowGroups(g),
        }
    }

    // ----- graph-level steps -----

    fn at(&mut self, step: &Step, time: &TimeArg) -> Result<Traversal, EvalError> {
        let slice = time
            .resolve(self.cx.now)
            .ok_or_else(|| fail(step, EvalErrorKind::TimeOutOfRange))?;
        let history = self
            .cx
            .history
            .ok_or_else(|| fail(step, EvalErrorKind::NoHistory))?;
        let view = history
            .view(slice)
            .map_err(|e| fail(step, EvalErrorKind::History(e)))?;
        self.view = View::Owned(view);
        self.slice = Some(slice);
        Ok(Traversal::Graph)
    }

    fn subgraph(&mut self, step: &Step, cur: Traversal) -> Result<Traversal, EvalError> {
        let g = self.g();
        let slice = g.time_slice();
        let sub = match cur {
            Traversal::Nodes(nodes) => with_edges(g, nodes),
            Traversal::Paths(paths) => with_edges(g, paths.into_iter().flatten().collect()),
            Traversal::Edges(edges) => {
                let ends: Vec<Arc<Node>> = edges
                    .iter()
                    .flat_map(|e| [&e.parent, &e.child])
                    .filter_map(|id| g.node(id.as_id_ref()).cloned())
                    .collect();
                SubGraphView::build(ends, edges, slice)
            }
            other => return Err(wrong_input(step, "nodes, edges or paths", &other)),
        };
        self.view = View::Owned(Arc::new(sub));
        Ok(Traversal::Graph)
    }

    // ----- sources: V(), E() with their fused filters -----

    fn source(
        &mut self,
        step: &Step,
        cur: Traversal,
        id: Option<&str>,
        steps: &[Step],
        i: usize,
    ) -> StepResult {
        if !matches!(cur, Traversal::Graph) {
            return Err(wrong_input(step, "the graph (after G)", &cur));
        }
        let is_nodes = matches!(step.kind, StepKind::V(_));
        let (filters, mut used) = fused_filters(&steps[i + 1..]);
        let tail = steps.get(i + 1 + used).map(|s| &s.kind);
        let tail = match tail {
            Some(StepKind::Count) => Tail::Count,
            Some(StepKind::Limit(n)) => Tail::Range(0, *n),
            Some(StepKind::Range { from, to }) => Tail::Range(*from, *to),
            _ => Tail::Collect,
        };
        if tail != Tail::Collect {
            used += 1;
        }
        let out = if is_nodes {
            self.nodes_source(id, &filters, tail)
        } else {
            self.edges_source(id, &filters, tail)
        };
        Ok((out.map_err(|kind| fail(step, kind))?, used + 1))
    }

    fn nodes_source(
        &self,
        id: Option<&str>,
        filters: &[Filter],
        tail: Tail,
    ) -> Result<Traversal, EvalErrorKind> {
        let g = self.g();
        if let Some(id) = id {
            return finish(
                g.node(IdRef::parse(id)).into_iter(),
                filters,
                tail,
                Traversal::Nodes,
            );
        }
        if tail == Tail::Count
            && let Some(n) = lookup::count(g, filters)
        {
            return Ok(Traversal::Number(n.into()));
        }
        match lookup::nodes(g, filters) {
            Some(candidates) => finish(candidates, filters, tail, Traversal::Nodes),
            None => finish(g.nodes(), filters, tail, Traversal::Nodes),
        }
    }

    fn edges_source(
        &self,
        id: Option<&str>,
        filters: &[Filter],
        tail: Tail,
    ) -> Result<Traversal, EvalErrorKind> {
        let g = self.g();
        match id {
            Some(id) => finish(
                g.edge(IdRef::parse(id)).into_iter(),
                filters,
                tail,
                Traversal::Edges,
            ),
            None => finish(g.edges(), filters, tail, Traversal::Edges),
        }
    }

    // ----- filters and hops -----

    fn filter(&self, step: &Step, cur: Traversal, f: &Filter) -> Result<Traversal, EvalError> {
        Ok(match cur {
            Traversal::Nodes(mut n) => {
                n.retain(|x| f.matches(&**x));
                Traversal::Nodes(n)
            }
            Traversal::Edges(mut e) => {
                e.retain(|x| f.matches(&**x));
                Traversal::Edges(e)
            }
            // Skydive filters the maps ValueMap yields.
            Traversal::Values(mut v) => {
                v.retain(|x| f.matches(x));
                Traversal::Values(v)
            }
            other => return Err(wrong_input(step, "nodes, edges or values", &other)),
        })
    }

    fn adjacent(
        &mut self,
        step: &Step,
        cur: Traversal,
        dir: Dir,
        f: &Filter,
    ) -> Result<Traversal, EvalError> {
        let Traversal::Nodes(nodes) = cur else {
            return Err(wrong_input(step, "nodes", &cur));
        };
        let out = walk::adjacent_nodes(self.view.get(), &nodes, dir, f, &mut self.budget);
        out.map(Traversal::Nodes).map_err(|k| fail(step, k))
    }

    fn incident(
        &mut self,
        step: &Step,
        cur: Traversal,
        dir: Dir,
        f: &Filter,
    ) -> Result<Traversal, EvalError> {
        let Traversal::Nodes(nodes) = cur else {
            return Err(wrong_input(step, "nodes", &cur));
        };
        let out = walk::incident_edges(self.view.get(), &nodes, dir, f, &mut self.budget);
        out.map(Traversal::Edges).map_err(|k| fail(step, k))
    }

    fn ends(
        &self,
        step: &Step,
        cur: Traversal,
        dir: Dir,
        f: &Filter,
    ) -> Result<Traversal, EvalError> {
        let Traversal::Edges(edges) = cur else {
            return Err(wrong_input(step, "edges", &cur));
        };
        walk::edge_ends(self.g(), &edges, dir, f)
            .map(Traversal::Nodes)
            .map_err(|k| fail(step, k))
    }

    fn multi_level(
        &mut self,
        step: &Step,
        cur: Traversal,
        dir: Dir,
        w: &Walk,
    ) -> Result<Traversal, EvalError> {
        let Traversal::Nodes(nodes) = cur else {
            return Err(wrong_input(step, "nodes", &cur));
        };
        let out = walk::multi_level(self.view.get(), &nodes, dir, w, &mut self.budget);
        out.map(Traversal::Nodes).map_err(|k| fail(step, k))
    }

    fn shortest_paths(
        &mut self,
        step: &Step,
        cur: Traversal,
        target: &Filter,
        edges: Option<&Filter>,
    ) -> Result<Traversal, EvalError> {
        let Traversal::Nodes(nodes) = cur else {
            return Err(wrong_input(step, "nodes", &cur));
        };
        let out = walk::shortest_paths(self.view.get(), &nodes, target, edges, &mut self.budget);
        out.map(Traversal::Paths).map_err(|k| fail(step, k))
    }

    // ----- naming -----

    fn name_result(
        &mut self,
        step: &Step,
        cur: Traversal,
        name: &str,
    ) -> Result<Traversal, EvalError> {
        match cur {
            Traversal::Nodes(_) | Traversal::Edges(_) => {
                self.named.insert(name.to_owned(), cur.clone());
                Ok(cur)
            }
            other => Err(fail(step, EvalErrorKind::CannotName(other.kind()))),
        }
    }

    /// The union of named results, in the order named; all must be of one kind.
    fn select(&self, step: &Step, names: &[String]) -> Result<Traversal, EvalError> {
        let mut out: Option<(&str, Traversal)> = None;
        for name in names {
            let t = self
                .named
                .get(name)
                .ok_or_else(|| fail(step, EvalErrorKind::UnknownName(name.clone())))?;
            // Naming one big result many times must not multiply memory unchecked.
            let grown = |len: usize, more: usize| check_size(len + more).map_err(|k| fail(step, k));
            out = Some(match (out, t) {
                (None, t) => (name, t.clone()),
                (Some((first, Traversal::Nodes(mut a))), Traversal::Nodes(b)) => {
                    grown(a.len(), b.len())?;
                    a.extend(b.iter().cloned());
                    (first, Traversal::Nodes(a))
                }
                (Some((first, Traversal::Edges(mut a))), Traversal::Edges(b)) => {
                    grown(a.len(), b.len())?;
                    a.extend(b.iter().cloned());
                    (first, Traversal::Edges(a))
                }
                (Some((first, a)), b) => {
                    let kind = EvalErrorKind::MixedSelect {
                        first: first.to_owned(),
                        first_kind: a.kind(),
                        other: name.clone(),
                        other_kind: b.kind(),
                    };
                    return Err(fail(step, kind));
                }
            });
        }
        Ok(out.map(|(_, t)| t).unwrap_or(Traversal::Nodes(Vec::new())))
    }
}

pub(crate) fn key_filter(key: &str, predicate: Predicate) -> Filter {
    Filter {
        combine: Combine::All,
        terms: vec![Term {
            key: key.to_owned(),
            predicate,
        }],
    }
}

/// The nodes plus the edges of `g` among them.
fn with_edges(g: &dyn GraphView, nodes: Vec<Arc<Node>>) -> SubGraphView {
    let ids: HashSet<&Id> = nodes.iter().map(|n| &n.id).collect();
    let mut edges = Vec::new();
    for n in &nodes {
        edges.extend(
            g.node_edges(n.id.as_id_ref())
                .filter(|e| ids.contains(&e.parent) && ids.contains(&e.child))
                .cloned(),
        );
    }
    SubGraphView::build(nodes.iter().cloned(), edges, g.time_slice())
}

// ----- source fusion -----

/// What closes a fused source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    Collect,
    Count,
    Range(u64, u64),
}

/// The filter steps right after a source, as filters, and how many steps they are.
fn fused_filters(after: &[Step]) -> (Vec<Filter>, usize) {
    let mut filters = Vec::new();
    for s in after {
        match &s.kind {
            StepKind::Has(f) | StepKind::HasEither(f) => filters.push(f.clone()),
            StepKind::HasKey(k) => filters.push(key_filter(k, Predicate::Exists)),
            StepKind::HasNot(k) => filters.push(key_filter(k, Predicate::Absent)),
            _ => break,
        }
    }
    let n = filters.len();
    (filters, n)
}

/// Filters the candidates and closes the pass as `tail` says.
fn finish<'g, T: Fields + 'g>(
    candidates: impl Iterator<Item = &'g Arc<T>>,
    filters: &[Filter],
    tail: Tail,
    wrap: fn(Vec<Arc<T>>) -> Traversal,
) -> Result<Traversal, EvalErrorKind> {
    let kept = candidates.filter(|x| filters.iter().all(|f| f.matches(&***x)));
    match tail {
        Tail::Count => Ok(Traversal::Number(kept.count().into())),
        Tail::Range(from, to) => {
            let (from, to) = (
                usize::try_from(from).unwrap_or(usize::MAX),
                usize::try_from(to).unwrap_or(usize::MAX),
            );
            let taken: Vec<Arc<T>> = kept
                .skip(from)
                .take(to.saturating_sub(from))
                .cloned()
                .collect();
            check_size(taken.len())?;
            Ok(wrap(taken))
        }
        Tail::Collect => {
            let mut out = Vec::new();
            for x in kept {
                out.push(x.clone());
                check_size(out.len())?;
            }
            Ok(wrap(out))
        }
    }
}

mod flows;

#[cfg(test)]
mod tests;

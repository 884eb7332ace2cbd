//! Flow steps. `Flows()` asks the [`FlowSource`] for the flows of the current nodes (or all
//! of them after `G`), live or in the slice `At` set, with the `Has`, `Sort`, `Dedup` and
//! `Limit`/`Range` steps right after it fused into the request (so a store can answer
//! `Flows().Has(…).Limit(n)` with one search); whatever the source returns is checked and
//! ordered here again, so sources only narrow, never decide. Then:
//!
//! - `Has`, `HasEither`, `HasKey`, `HasNot`, `Dedup` (default key `TrackingID`), `Sort`
//!   (default key `Last`), `Range`, `Limit`, `Count`, `Values`, `ValueMap`, `Keys`,
//!   `Sum(key)` work on flows as on nodes, over the flows' dotted keys;
//! - `CaptureNode`, `Nodes`, `Hops`, `In`, `Out`, `Both` go from flows to graph nodes: by
//!   `TID` (= the flow's `NodeTID`) and by `MAC` / `PeerIntfMAC` (= `Link.A` / `Link.B`),
//!   through the graph's indexes, in the current view (the past one under `At`);
//! - `Metrics` gives each flow's `LastUpdateMetric` series (its own update when live, the
//!   stored ones under `At`), `Aggregates` re-buckets them, `Sum`, `Count`, `Keys` apply;
//! - `Group` and `MoreThan` group flows by a key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value};
use skydive_flow::{FIELD_KEYS, FieldRef, Flow};
use skydive_graph::{GraphView, Id, IndexValue, Node, TimeMs, TimeSlice};

use super::{Evaluator, Traversal, fail, key_filter, wrong_input};
use crate::arguments::{self, FlowArgs};
use crate::ast::{Combine, Filter, Literal, Order, Predicate, Step, StepKind, Term};
use crate::error::{EvalError, EvalErrorKind};
use crate::flow_source::{FlowMetrics, FlowRequest, FlowSource, MetricsRequest};
use crate::metrics;
use crate::predicate::{self, FieldValue, Fields};
use crate::walk::check_size;

/// What flows are sorted by when `Sort` names no key.
const DEFAULT_SORT_KEY: &str = "Last";
/// What flows are deduplicated on when `Dedup` names no key.
const DEFAULT_DEDUP_KEY: &str = "TrackingID";
/// `Aggregates()` slice length, Skydive's default.
const DEFAULT_AGGREGATE_SECS: u64 = 30;

/// Whether a flow step took the current step.
pub(super) enum Handled {
    /// The result, and how many steps it used.
    Yes(Traversal, usize),
    /// Not a flow matter: the generic steps take it.
    No(Traversal),
}

impl Evaluator<'_> {
    /// Runs `steps[i]` if it is a flow step or applies to flows, metrics or flow groups.
    pub(super) fn flow_step(
        &mut self,
        cur: Traversal,
        steps: &[Step],
        i: usize,
    ) -> Result<Handled, EvalError> {
        let step = &steps[i];
        use StepKind as K;
        if let K::Flow { name, args } = &step.kind {
            let typed = arguments::flow_args(name, args).map_err(|e| {
                let message = e.kind.to_string();
                fail(
                    step,
                    EvalErrorKind::BadStep {
                        step: name,
                        message,
                    },
                )
            })?;
            return self.named_flow_step(step, name, typed, cur, steps, i);
        }
        let yes = |t| Ok(Handled::Yes(t, 1));
        match (&step.kind, cur) {
            (kind, Traversal::Flows(flows)) if applies_to_flows(kind) => {
                yes(self.on_flows(step, flows)?)
            }
            (K::Count, Traversal::Metrics(m)) => yes(Traversal::Number(m.len().into())),
            (K::Sum(key), Traversal::Metrics(m)) => yes(sum_metrics(step, &m, key.as_deref())?),
            (K::Keys, Traversal::Metrics(m)) => yes(metric_keys(&m)),
            (K::Count, Traversal::Groups(g)) => yes(Traversal::Number(g.len().into())),
            (_, cur) => Ok(Handled::No(cur)),
        }
    }

    fn flow_source(&self, step: &Step, name: &'static str) -> Result<&dyn FlowSource, EvalError> {
        self.flows
            .ok_or_else(|| fail(step, EvalErrorKind::NoFlowSource(name)))
    }

    fn named_flow_step(
        &mut self,
        step: &Step,
        name: &'static str,
        args: FlowArgs,
        cur: Traversal,
        steps: &[Step],
        i: usize,
    ) -> Result<Handled, EvalError> {
        let one = |t| Ok(Handled::Yes(t, 1));
        match (name, args) {
            ("Flows", FlowArgs::Filter(f)) => self.flows_source(step, f, cur, steps, i),
            ("CaptureNode" | "Nodes" | "Hops", FlowArgs::Filter(f)) => {
                let Traversal::Flows(flows) = cur else {
                    return Err(wrong_input(step, "flows", &cur));
                };
                let nodes = match name {
                    "CaptureNode" => capture_nodes(self.g(), &flows, &f),
                    "Nodes" => all_nodes(self.g(), &flows, &f),
                    _ => self.hops(step, &flows, &f)?,
                };
                check_size(nodes.len()).map_err(|k| fail(step, k))?;
                one(Traversal::Nodes(nodes))
            }
            ("Metrics", FlowArgs::Key(key)) => one(self.metrics(step, cur, key.as_deref())?),
            ("Aggregates", FlowArgs::Count(secs)) => {
                let Traversal::Metrics(m) = cur else {
                    return Err(wrong_input(step, "metrics (after Metrics())", &cur));
                };
                one(self.aggregates(&m, secs.unwrap_or(DEFAULT_AGGREGATE_SECS)))
            }
            ("Group", FlowArgs::Key(key)) => {
                let Traversal::Flows(flows) = cur else {
                    return Err(wrong_input(step, "flows", &cur));
                };
                one(group(flows, key.as_deref().unwrap_or(DEFAULT_DEDUP_KEY)))
            }
            ("MoreThan", FlowArgs::Count(n)) => {
                let Traversal::Groups(mut g) = cur else {
                    return Err(wrong_input(step, "flow groups (after Group())", &cur));
                };
                let n = usize::try_from(n.unwrap_or(1)).unwrap_or(usize::MAX);
                g.retain(|_, flows| flows.len() > n);
                one(Traversal::Groups(g))
            }
            _ => Err(fail(step, EvalErrorKind::Unsupported(name))),
        }
    }

    // ----- Flows() and what fuses into it -----

    fn flows_source(
        &mut self,
        step: &Step,
        filter: Filter,
        cur: Traversal,
        steps: &[Step],
        i: usize,
    ) -> Result<Handled, EvalError> {
        let source = self.flow_source(step, "Flows")?;
        let tids: Option<Vec<String>> = match &cur {
            Traversal::Graph => None,
            Traversal::Nodes(n) => Some(tids_of(n.iter())),
            Traversal::Paths(p) => Some(tids_of(p.iter().flatten())),
            other => return Err(wrong_input(step, "the graph, nodes or paths", other)),
        };
        let fused = Fused::read(filter, &steps[i + 1..]);
        let used = 1 + fused.steps;
        if tids.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Handled::Yes(Traversal::Flows(Vec::new()), used));
        }
        let mut req = FlowRequest::new(self.slice, &fused.filters);
        req.node_tids = tids.as_deref();
        req.sort = fused.sort.as_ref().map(|(o, k)| (*o, k.as_str()));
        req.dedup = fused.dedup.as_deref();
        req.range = fused.range;
        let got = source.flows(&req).map_err(|message| {
            fail(
                step,
                EvalErrorKind::FlowSource {
                    step: "Flows",
                    message,
                },
            )
        })?;
        check_size(got.len()).map_err(|k| fail(step, k))?;
        let mut flows: Vec<Arc<Flow>> = got.into_iter().filter(|f| req.matches(f)).collect();
        if let Some((order, key)) = &fused.sort {
            sort_flows(&mut flows, *order, key);
        }
        if let Some(key) = &fused.dedup {
            flows = dedup_flows(flows, std::slice::from_ref(key));
        }
        if let Some((from, to)) = fused.range {
            flows = page(flows, from, to);
        }
        Ok(Handled::Yes(Traversal::Flows(flows), used))
    }

    // ----- steps on flows -----

    fn on_flows(&mut self, step: &Step, mut flows: Vec<Arc<Flow>>) -> Result<Traversal, EvalError> {
        use StepKind as K;
        let keep = |flows: Vec<Arc<Flow>>, f: &Filter| -> Vec<Arc<Flow>> {
            flows
                .into_iter()
                .filter(|x| crate::flow_fields::matches(f, x))
                .collect()
        };
        Ok(Traversal::Flows(match &step.kind {
            K::Has(f) | K::HasEither(f) => keep(flows, f),
            K::HasKey(k) => keep(flows, &key_filter(k, Predicate::Exists)),
            K::HasNot(k) => keep(flows, &key_filter(k, Predicate::Absent)),
            K::Dedup(keys) if keys.is_empty() => {
                dedup_flows(flows, &[DEFAULT_DEDUP_KEY.to_owned()])
            }
            K::Dedup(keys) => dedup_flows(flows, keys),
            K::Sort { order, key } => {
                sort_flows(
                    &mut flows,
                    *order,
                    key.as_deref().unwrap_or(DEFAULT_SORT_KEY),
                );
                flows
            }
            K::Range { from, to } => page(flows, *from, *to),
            K::Limit(n) => page(flows, 0, *n),
            K::Count => return Ok(Traversal::Number(flows.len().into())),
            K::Values(k) => {
                return Ok(Traversal::Values(
                    flows.iter().filter_map(|f| f.field_json(k)).collect(),
                ));
            }
            K::ValueMap(keys) => return Ok(Traversal::Values(value_maps(&flows, keys))),
            K::Keys => return Ok(Traversal::Values(flow_keys(&flows))),
            K::Sum(key) => return sum_flows(step, &flows, key.as_deref()),
            K::In(f) => return self.flow_ends(step, &flows, &[End::A], f),
            K::Out(f) => return self.flow_ends(step, &flows, &[End::B], f),
            K::Both(f) => return self.flow_ends(step, &flows, &[End::A, End::B], f),
            _ => {
                return Err(wrong_input(
                    step,
                    "nodes, edges or values",
                    &Traversal::Flows(flows),
                ));
            }
        }))
    }

    /// `In`, `Out`, `Both` on flows: the node of each end, by `MAC` then `PeerIntfMAC`.
    fn flow_ends(
        &self,
        step: &Step,
        flows: &[Arc<Flow>],
        ends: &[End],
        filter: &Filter,
    ) -> Result<Traversal, EvalError> {
        let mut finder = NodeFinder::new(self.g());
        let mut out = Vec::new();
        for f in flows {
            let Some(link) = &f.link else { continue };
            for end in ends {
                let mac = match end {
                    End::A => &link.a,
                    End::B => &link.b,
                };
                if mac.is_empty() {
                    continue;
                }
                let found = finder
                    .first("MAC", mac, filter)
                    .or_else(|| finder.first("PeerIntfMAC", mac, filter));
                out.extend(found);
            }
            check_size(out.len()).map_err(|k| fail(step, k))?;
        }
        Ok(Traversal::Nodes(out))
    }

    /// `Hops`: the capture nodes of every flow with the TrackingID of one of `flows` (in the
    /// same time context), each node once.
    fn hops(
        &self,
        step: &Step,
        flows: &[Arc<Flow>],
        filter: &Filter,
    ) -> Result<Vec<Arc<Node>>, EvalError> {
        let source = self.flow_source(step, "Hops")?;
        let mut ids: Vec<Literal> = Vec::new();
        let mut seen_ids: HashSet<&str> = HashSet::new();
        for f in flows {
            if !f.tracking_id.is_empty() && seen_ids.insert(&f.tracking_id) {
                ids.push(Literal::Str(f.tracking_id.clone()));
            }
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let by_tracking = [Filter {
            combine: Combine::All,
            terms: vec![Term {
                key: "TrackingID".to_owned(),
                predicate: Predicate::Within(ids),
            }],
        }];
        let req = FlowRequest::new(self.slice, &by_tracking);
        let mut seen = source.flows(&req).map_err(|message| {
            fail(
                step,
                EvalErrorKind::FlowSource {
                    step: "Hops",
                    message,
                },
            )
        })?;
        check_size(seen.len()).map_err(|k| fail(step, k))?;
        seen.retain(|f| req.matches(f));
        seen.sort_by(|a, b| (a.start, &a.uuid).cmp(&(b.start, &b.uuid)));
        let mut finder = NodeFinder::new(self.g());
        let mut nodes = Vec::new();
        let mut ids_seen: HashSet<Id> = HashSet::new();
        for f in flows.iter().chain(&seen) {
            if let Some(n) = finder.first("TID", &f.node_tid, filter)
                && ids_seen.insert(n.id.clone())
            {
                nodes.push(n);
            }
        }
        Ok(nodes)
    }

    // ----- metrics -----

    fn metrics(
        &self,
        step: &Step,
        cur: Traversal,
        key: Option<&str>,
    ) -> Result<Traversal, EvalError> {
        let flows = match cur {
            Traversal::Flows(f) => f,
            Traversal::Nodes(_) => {
                let message = "on nodes (interface metrics) is not supported yet; use it on flows, e.g. G.Flows().Metrics()".to_owned();
                return Err(fail(
                    step,
                    EvalErrorKind::BadStep {
                        step: "Metrics",
                        message,
                    },
                ));
            }
            other => return Err(wrong_input(step, "flows", &other)),
        };
        if let Some(k) = key.filter(|k| *k != "LastUpdateMetric") {
            let message = format!("on flows takes no key, or 'LastUpdateMetric'; found '{k}'");
            return Err(fail(
                step,
                EvalErrorKind::BadStep {
                    step: "Metrics",
                    message,
                },
            ));
        }
        let series = match self.slice {
            None => {
                let mut m = FlowMetrics::new();
                for f in &flows {
                    let metric = f.last_update_metric.unwrap_or(f.metric);
                    m.entry(f.uuid.clone()).or_default().push(metric);
                }
                m
            }
            Some(slice) => {
                let source = self.flow_source(step, "Metrics")?;
                let mut seen = HashSet::new();
                let uuids: Vec<String> = flows
                    .iter()
                    .filter(|f| seen.insert(f.uuid.as_str()))
                    .map(|f| f.uuid.clone())
                    .collect();
                // Skydive: `At(t)` alone means every metric up to `t`.
                let window = if slice.start == slice.last {
                    TimeSlice {
                        start: TimeMs(i64::MIN),
                        last: slice.last,
                    }
                } else {
                    slice
                };
                source
                    .metrics(&MetricsRequest::new(&uuids, window))
                    .map_err(|message| {
                        fail(
                            step,
                            EvalErrorKind::FlowSource {
                                step: "Metrics",
                                message,
                            },
                        )
                    })?
            }
        };
        let points: usize = series.values().map(Vec::len).sum();
        check_size(points).map_err(|k| fail(step, k))?;
        Ok(Traversal::Metrics(series))
    }

    /// `Aggregates`: over the `At` slice when it has a length, else over the metrics' span.
    fn aggregates(&self, series: &FlowMetrics, secs: u64) -> Traversal {
        let window = match self.slice {
            Some(s) if s.start < s.last => Some((s.start.0, s.last.0)),
            _ => metrics::span(series),
        };
        let slice_ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let buckets = window.map_or_else(Vec::new, |(start, last)| {
            metrics::aggregate(series, start, last, slice_ms)
        });
        Traversal::Metrics(FlowMetrics::from([("Aggregated".to_owned(), buckets)]))
    }
}

fn applies_to_flows(kind: &StepKind) -> bool {
    use StepKind as K;
    matches!(
        kind,
        K::Has(_)
            | K::HasEither(_)
            | K::HasKey(_)
            | K::HasNot(_)
            | K::Dedup(_)
            | K::Sort { .. }
            | K::Range { .. }
            | K::Limit(_)
            | K::Count
            | K::Values(_)
            | K::ValueMap(_)
            | K::Keys
            | K::Sum(_)
            | K::In(_)
            | K::Out(_)
            | K::Both(_)
    )
}

/// The steps after `Flows(…)` that fuse into its request, in the order they apply: filters,
/// then one `Sort`, then one single-key `Dedup`, then one `Limit`/`Range`. A step out of that
/// order ends the fusion (it is evaluated on its own, which gives the same result).
struct Fused {
    filters: Vec<Filter>,
    sort: Option<(Order, String)>,
    dedup: Option<String>,
    range: Option<(u64, u64)>,
    steps: usize,
}

impl Fused {
    fn read(first: Filter, after: &[Step]) -> Self {
        use StepKind as K;
        let mut f = Fused {
            filters: Vec::new(),
            sort: None,
            dedup: None,
            range: None,
            steps: 0,
        };
        if !first.is_everything() {
            f.filters.push(first);
        }
        for s in after {
            let filtering = f.dedup.is_none() && f.range.is_none();
            match &s.kind {
                K::Has(x) | K::HasEither(x) if filtering => f.filters.push(x.clone()),
                K::HasKey(k) if filtering => f.filters.push(key_filter(k, Predicate::Exists)),
                K::HasNot(k) if filtering => f.filters.push(key_filter(k, Predicate::Absent)),
                K::Sort { order, key } if filtering && f.sort.is_none() => {
                    let key = key.clone().unwrap_or_else(|| DEFAULT_SORT_KEY.to_owned());
                    f.sort = Some((*order, key));
                }
                K::Dedup(keys) if filtering && keys.len() <= 1 => {
                    let key = keys.first().cloned();
                    f.dedup = Some(key.unwrap_or_else(|| DEFAULT_DEDUP_KEY.to_owned()));
                }
                K::Limit(n) if f.range.is_none() => f.range = Some((0, *n)),
                K::Range { from, to } if f.range.is_none() => f.range = Some((*from, *to)),
                _ => break,
            }
            f.steps += 1;
        }
        f
    }
}

/// The `TID`s of nodes, each once, in order.
fn tids_of<'a>(nodes: impl Iterator<Item = &'a Arc<Node>>) -> Vec<String> {
    let mut seen = HashSet::new();
    nodes
        .filter_map(|n| n.metadata.get_str("TID"))
        .filter(|t| !t.is_empty() && seen.insert(*t))
        .map(str::to_owned)
        .collect()
}

fn sort_flows(flows: &mut [Arc<Flow>], order: Order, key: &str) {
    flows.sort_by(|a, b| {
        let o = predicate::sort_order(Fields::get(&**a, key), Fields::get(&**b, key));
        if order == Order::Desc { o.reverse() } else { o }
    });
}

/// The first flow of each distinct value of `keys`; flows holding none of them are kept.
fn dedup_flows(flows: Vec<Arc<Flow>>, keys: &[String]) -> Vec<Arc<Flow>> {
    let mut seen: HashSet<String> = HashSet::new();
    flows
        .into_iter()
        .filter(|f| {
            let values: Vec<Value> = keys
                .iter()
                .filter_map(|k| Fields::get(&**f, k))
                .map(FieldValue::to_json)
                .collect();
            values.is_empty() || seen.insert(Value::Array(values).to_string())
        })
        .collect()
}

fn page(mut flows: Vec<Arc<Flow>>, from: u64, to: u64) -> Vec<Arc<Flow>> {
    let to = usize::try_from(to).unwrap_or(usize::MAX).min(flows.len());
    let from = usize::try_from(from).unwrap_or(usize::MAX).min(to);
    flows.truncate(to);
    flows.drain(..from);
    flows
}

fn value_maps(flows: &[Arc<Flow>], keys: &[String]) -> Vec<Value> {
    flows
        .iter()
        .filter_map(|f| {
            let map: Map<String, Value> = keys
                .iter()
                .filter_map(|k| Some((k.clone(), f.field_json(k)?)))
                .collect();
            (!map.is_empty()).then_some(Value::Object(map))
        })
        .collect()
}

/// Every leaf key some flow has, in the flow JSON's order.
fn flow_keys(flows: &[Arc<Flow>]) -> Vec<Value> {
    FIELD_KEYS
        .iter()
        .filter(|k| flows.iter().any(|f| f.field(k).is_some()))
        .map(|k| Value::String((*k).to_owned()))
        .collect()
}

fn sum_flows(step: &Step, flows: &[Arc<Flow>], key: Option<&str>) -> Result<Traversal, EvalError> {
    let Some(key) = key else {
        let message = "on flows needs a key, e.g. Sum('Metric.ABBytes')".to_owned();
        return Err(fail(
            step,
            EvalErrorKind::BadStep {
                step: "Sum",
                message,
            },
        ));
    };
    let mut total: i64 = 0;
    for f in flows {
        let v = match f.field(key) {
            None => continue,
            Some(FieldRef::Int(i) | FieldRef::Enum { number: i, .. }) => i,
            Some(FieldRef::Str(s)) => {
                let kind = EvalErrorKind::NotANumber {
                    key: key.to_owned(),
                    value: Value::String(s.to_owned()).to_string(),
                };
                return Err(fail(step, kind));
            }
        };
        total = total.saturating_add(v);
    }
    Ok(Traversal::Number(total.into()))
}

fn sum_metrics(step: &Step, m: &FlowMetrics, key: Option<&str>) -> Result<Traversal, EvalError> {
    let Some(key) = key else {
        return Ok(Traversal::Metric(metrics::total(m)));
    };
    let mut total: i64 = 0;
    for point in m.values().flatten() {
        let Some(v) = metrics::field(point, key) else {
            let message = format!(
                "on metrics: unknown field '{key}'; fields are {}",
                metrics::METRIC_KEYS.join(", ")
            );
            return Err(fail(
                step,
                EvalErrorKind::BadStep {
                    step: "Sum",
                    message,
                },
            ));
        };
        total = total.saturating_add(v);
    }
    Ok(Traversal::Number(total.into()))
}

fn metric_keys(m: &FlowMetrics) -> Traversal {
    let points = || m.values().flatten();
    let keys = metrics::METRIC_KEYS
        .iter()
        .filter(|k| **k != "RTT" || points().any(|p| p.rtt != 0))
        .filter(|_| points().next().is_some())
        .map(|k| Value::String((*k).to_owned()))
        .collect();
    Traversal::Values(keys)
}

fn group(flows: Vec<Arc<Flow>>, key: &str) -> Traversal {
    let mut groups: BTreeMap<String, Vec<Arc<Flow>>> = BTreeMap::new();
    for f in flows {
        let Some(v) = f.field(key).map(|v| v.to_text().into_owned()) else {
            continue;
        };
        groups.entry(v).or_default().push(f);
    }
    Traversal::Groups(groups)
}

#[derive(Clone, Copy)]
enum End {
    A,
    B,
}

/// `CaptureNode`: the node each flow was captured on (duplicates kept, as Skydive).
fn capture_nodes(g: &dyn GraphView, flows: &[Arc<Flow>], filter: &Filter) -> Vec<Arc<Node>> {
    let mut finder = NodeFinder::new(g);
    flows
        .iter()
        .filter_map(|f| finder.first("TID", &f.node_tid, filter))
        .collect()
}

/// `Nodes`: per flow, its capture node, then the nodes whose `MAC` is `Link.A`, `Link.B`.
fn all_nodes(g: &dyn GraphView, flows: &[Arc<Flow>], filter: &Filter) -> Vec<Arc<Node>> {
    let mut finder = NodeFinder::new(g);
    let mut out = Vec::new();
    for f in flows {
        out.extend(finder.first("TID", &f.node_tid, filter));
        if let Some(l) = &f.link {
            out.extend(finder.first("MAC", &l.a, filter));
            out.extend(finder.first("MAC", &l.b, filter));
        }
    }
    out
}

/// Nodes by an equality on one key, through the view's index when it has one; each answer
/// remembered for the step (many flows share a capture node).
struct NodeFinder<'g> {
    g: &'g dyn GraphView,
    found: HashMap<(&'static str, String), Vec<Arc<Node>>>,
}

impl<'g> NodeFinder<'g> {
    fn new(g: &'g dyn GraphView) -> Self {
        NodeFinder {
            g,
            found: HashMap::new(),
        }
    }

    /// The first node (by ID, in its latest revision in the view) whose `key` is `value`
    /// and that matches `filter`.
    fn first(&mut self, key: &'static str, value: &str, filter: &Filter) -> Option<Arc<Node>> {
        if value.is_empty() {
            return None;
        }
        let g = self.g;
        let nodes = self
            .found
            .entry((key, value.to_owned()))
            .or_insert_with(|| {
                let eq = Predicate::Eq(Literal::Str(value.to_owned()));
                let holds = |n: &&Arc<Node>| eq.matches(&***n, key);
                let mut v: Vec<Arc<Node>> = match g.lookup(key, &IndexValue::Str(value.into())) {
                    Some(it) => it.filter(holds).cloned().collect(),
                    None => g.nodes().filter(holds).cloned().collect(),
                };
                v.sort_by(|a, b| a.id.cmp(&b.id));
                v.dedup_by(|a, b| a.id == b.id);
                // A past view may list several revisions of a node: use its latest.
                v.into_iter()
                    .map(|n| g.node(n.id.as_id_ref()).cloned().unwrap_or(n))
                    .collect()
            });
        nodes.iter().find(|n| filter.matches(&***n)).cloned()
    }
}

#[cfg(test)]
mod tests;

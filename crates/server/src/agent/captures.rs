//! Capture orchestration on the agent: which capture runs on which node of the agent's graph.
//!
//! The wanted captures are the analyzer's (its `Captures` message, `docs/protocol.md`) plus,
//! when `agent.flow.probes` lists `ovssflow`, the agent's own capture of every OVS bridge
//! (Skydive's first releases captured bridges that way; the seed's walkthrough relies on it).
//! Each capture's `GremlinQuery` is evaluated on the agent's graph when the list changes and
//! whenever the graph changes (at most every [`SETTLE`]), so nodes that appear later are
//! captured too and nodes that go stop being captured.
//!
//! A node runs at most one `ovssflow` capture: an OVS bridge has one `sFlow` column. When
//! several captures select one bridge, the analyzer's come first (by id), the agent's own
//! last; the others show `State: error` on the node saying which capture holds the bridge.
//!
//! Failures: a capture that cannot start writes `State: error` and the reason in the node's
//! `Captures` entry ([`skydive_probes::capture::start`]); one that failed for a reason that may
//! pass (OVSDB unreachable, no free collector port) is retried every [`RETRY`]. A capture
//! whose type has no default for a node's type (e.g. `G.V()` selecting hosts) skips that node
//! silently, as Skydive does.
//!
//! Must not: block a tokio worker (queries run in `spawn_blocking`), or hold the slot lock
//! across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use skydive_graph::{GraphEvent, Id, Received, SharedGraph, Subscription};
use skydive_gremlin::{Context, Output};
use skydive_probes::capture::{
    self, CaptureContext, CaptureError, CaptureSpec, CaptureTarget, CaptureType, RunningCapture,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::captures::Capture;

/// How long the graph must be quiet before captures are re-evaluated (and the least time
/// between two evaluations caused by graph changes).
const SETTLE: Duration = Duration::from_millis(300);
/// Wait before retrying a capture that failed for a reason that may pass.
const RETRY: Duration = Duration::from_secs(5);
/// Metadata keys the captures write themselves: their changes do not re-evaluate.
const OWN_KEYS: [&str; 2] = ["Captures", "SFlow"];

/// What the manager needs.
#[derive(Clone)]
pub(crate) struct ManagerConfig {
    pub host_id: String,
    /// `agent.flow.probes` lists `ovssflow`: capture every OVS bridge.
    pub auto_ovssflow: bool,
    /// The `ovsdb` probe runs: remove this agent's leftover `sFlow` rows at start and exit.
    pub ovsdb: bool,
}

/// The capture the agent runs by itself on every OVS bridge (`agent.flow.probes: [ovssflow]`);
/// its id is stable per host, so flows of successive runs share a `CaptureID`.
pub(crate) fn auto_capture(host_id: &str) -> Capture {
    Capture {
        uuid: skydive_graph::gen_id(&[host_id, "/agent.flow.probes/ovssflow"]).to_string(),
        gremlin_query: "G.V().Has('Type', 'ovsbridge')".to_owned(),
        name: "ovssflow".to_owned(),
        description: "every OVS bridge (agent.flow.probes lists ovssflow)".to_owned(),
        kind: "ovssflow".to_owned(),
        ..Capture::default()
    }
}

/// A capture on one node.
type Key = (String, Id);

enum Slot {
    Running {
        capture: Box<RunningCapture>,
        spec: CaptureSpec,
    },
    Failed {
        spec: CaptureSpec,
        error: String,
        /// `None`: the failure cannot pass by itself (an invalid capture for this node).
        retry_at: Option<tokio::time::Instant>,
        /// Refused by the selection (the bridge is another capture's, the node has no TID)
        /// rather than by `capture::start`.
        by_selection: bool,
    },
}

impl Slot {
    fn spec(&self) -> &CaptureSpec {
        match self {
            Slot::Running { spec, .. } | Slot::Failed { spec, .. } => spec,
        }
    }
}

/// A capture the selection wants on a node.
struct Wanted {
    spec: CaptureSpec,
    target: Result<CaptureTarget, String>,
}

/// The running manager.
pub(crate) struct CaptureManager {
    analyzer_list: watch::Sender<Option<Vec<Capture>>>,
    slots: Arc<Mutex<BTreeMap<Key, Slot>>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl CaptureManager {
    /// Starts evaluating captures on `ctx.graph`.
    pub fn start(cfg: ManagerConfig, ctx: CaptureContext) -> CaptureManager {
        let (analyzer_list, rx) = watch::channel(None);
        let slots = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(cfg, ctx, rx, slots.clone(), stop.clone()));
        CaptureManager {
            analyzer_list,
            slots,
            stop,
            task,
        }
    }

    /// Where the forwarder puts the analyzer's capture list.
    pub fn analyzer_list(&self) -> watch::Sender<Option<Vec<Capture>>> {
        self.analyzer_list.clone()
    }

    /// `Captures` of the agent's `/api/status`: by capture id, by node, the state and the
    /// counters.
    pub fn status(&self) -> Value {
        let slots = self.slots.lock();
        let mut out = Map::new();
        for ((cid, node), slot) in slots.iter() {
            let v = match slot {
                Slot::Running { capture, .. } => {
                    let mut v = serde_json::to_value(capture.stats()).unwrap_or(json!({}));
                    v["Type"] = json!(capture.capture_type().name());
                    v["Node"] = json!(capture.target().node_name);
                    match capture.failure() {
                        Some(e) => {
                            v["State"] = json!("error");
                            v["Error"] = json!(e);
                        }
                        None => v["State"] = json!("active"),
                    }
                    v
                }
                Slot::Failed { error, .. } => json!({"State": "error", "Error": error}),
            };
            let per_capture = out
                .entry(cid.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            per_capture[node.to_string()] = v;
        }
        Value::Object(out)
    }

    /// Stops every capture (their `sFlow` rows go), then removes any row of this agent left.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::warn!("capture manager task failed: {e}");
        }
    }
}

async fn run(
    cfg: ManagerConfig,
    ctx: CaptureContext,
    mut analyzer_list: watch::Receiver<Option<Vec<Capture>>>,
    slots: Arc<Mutex<BTreeMap<Key, Slot>>>,
    stop: CancellationToken,
) {
    if cfg.ovsdb {
        cleanup(&ctx, "at start").await;
    }
    let mut events = Some(ctx.graph.bus().subscribe());
    let mut dirty = true;
    let mut retry = tokio::time::interval(RETRY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if dirty {
            // Let a burst of changes (a namespace with its interfaces) settle first.
            tokio::select! {
                _ = tokio::time::sleep(SETTLE) => {}
                _ = stop.cancelled() => break,
            }
            drain(&mut events);
            let list = analyzer_list.borrow_and_update().clone();
            let wanted = wanted(&cfg, &ctx, list).await;
            reconcile(&ctx, &slots, wanted).await;
            dirty = false;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            r = analyzer_list.changed() => match r {
                Ok(()) => dirty = true,
                // The agent is stopping.
                Err(_) => break,
            },
            r = next_event(&mut events) => match r {
                // Without any capture, graph changes cannot start one: not even looked at.
                Received::Event(ev) => dirty = has_captures(&cfg, &analyzer_list) && relevant(&ev),
                Received::Lagged(_) => dirty = true,
                Received::Closed => events = None,
            },
            _ = retry.tick() => dirty = retry_due(&slots),
        }
    }
    let all = std::mem::take(&mut *slots.lock());
    for ((_, node), slot) in all {
        finish(&ctx, &node, slot).await;
    }
    if cfg.ovsdb {
        cleanup(&ctx, "at exit").await;
    }
}

/// Removes `sFlow` rows this agent left in OVSDB (a crash, or a failed detach).
async fn cleanup(ctx: &CaptureContext, when: &str) {
    match capture::cleanup_stale_sflow(&ctx.config.ovs, &ctx.agent_id).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rows = n, "removed this agent's leftover sFlow rows {when}"),
        Err(e) => tracing::warn!("cannot check for leftover sFlow rows {when}: {e}"),
    }
}

async fn next_event(events: &mut Option<Subscription>) -> Received {
    match events {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Discards the events already queued: the evaluation about to run sees their effect.
fn drain(events: &mut Option<Subscription>) {
    if let Some(s) = events {
        while let Some(r) = s.try_recv() {
            if matches!(r, Received::Closed) {
                *events = None;
                return;
            }
        }
    }
}

/// Whether any capture is wanted (the analyzer's or the agent's own).
fn has_captures(
    cfg: &ManagerConfig,
    analyzer_list: &watch::Receiver<Option<Vec<Capture>>>,
) -> bool {
    cfg.auto_ovssflow
        || analyzer_list
            .borrow()
            .as_ref()
            .is_some_and(|l| !l.is_empty())
}

/// Whether a change may change what the captures select (their own writes do not).
fn relevant(ev: &GraphEvent) -> bool {
    match ev {
        GraphEvent::NodePartiallyUpdated(_, ops) | GraphEvent::EdgePartiallyUpdated(_, ops) => {
            ops.iter().any(|op| {
                let top = op.key.split('.').next().unwrap_or_default();
                !OWN_KEYS.contains(&top)
            })
        }
        _ => true,
    }
}

fn retry_due(slots: &Mutex<BTreeMap<Key, Slot>>) -> bool {
    let now = tokio::time::Instant::now();
    slots.lock().values().any(|s| match s {
        Slot::Failed { retry_at, .. } => retry_at.is_some_and(|t| t <= now),
        Slot::Running { capture, .. } => capture.failure().is_some(),
    })
}

/// Every (capture, node) pair the captures select now.
async fn wanted(
    cfg: &ManagerConfig,
    ctx: &CaptureContext,
    from_analyzer: Option<Vec<Capture>>,
) -> BTreeMap<Key, Wanted> {
    let mut captures = from_analyzer.unwrap_or_default();
    captures.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    if cfg.auto_ovssflow {
        captures.push(auto_capture(&cfg.host_id));
    }
    let graph = ctx.graph.clone();
    let host_id = cfg.host_id.clone();
    tokio::task::spawn_blocking(move || select_all(&graph, &host_id, &captures))
        .await
        .unwrap_or_else(|e| {
            tracing::warn!("capture selection task failed: {e}");
            BTreeMap::new()
        })
}

fn select_all(graph: &SharedGraph, host_id: &str, captures: &[Capture]) -> BTreeMap<Key, Wanted> {
    let g = graph.read();
    let host_tid = g
        .nodes_by("Type", "host")
        .into_iter()
        .find(|n| n.metadata.get_str("Name") == Some(host_id))
        .and_then(|n| n.metadata.get_str("TID").map(str::to_owned))
        .unwrap_or_default();
    let cx = Context {
        graph: &*g,
        history: None,
        now: skydive_graph::TimeMs::now(),
    };
    let mut out = BTreeMap::new();
    // Bridge → the capture sampling it (`ovssflow`: one per bridge).
    let mut sampled: HashMap<Id, String> = HashMap::new();
    for c in captures {
        let nodes = match skydive_gremlin::execute(&c.gremlin_query, &cx) {
            Ok(Output::Nodes(n)) | Ok(Output::Graph { nodes: n, .. }) => n,
            Ok(_) => {
                tracing::debug!(capture = %c.uuid, "GremlinQuery selects no nodes");
                continue;
            }
            Err(e) => {
                tracing::debug!(capture = %c.uuid, "GremlinQuery fails on this agent: {e}");
                continue;
            }
        };
        let spec = c.spec();
        for node in nodes {
            let node_type = node.metadata.get_str("Type").unwrap_or_default();
            // Whatever depends only on the capture and the node's type is refused here, once.
            let ty = match spec.settings(node_type) {
                Ok(settings) => settings.capture_type,
                // Nothing captures this kind of node by default: not an error.
                Err(CaptureError::NoDefaultType(_)) => continue,
                Err(e) => {
                    let w = Wanted {
                        spec: spec.clone(),
                        target: Err(e.to_string()),
                    };
                    out.insert((c.uuid.clone(), node.id.clone()), w);
                    continue;
                }
            };
            let mut target = CaptureTarget::from_node(&node, &host_tid).map_err(|e| e.to_string());
            if ty == CaptureType::Ovssflow {
                match sampled.get(&node.id) {
                    Some(holder) => {
                        target = Err(format!(
                            "the bridge is already sampled by capture {holder} (an OVS bridge \
                             has one sFlow exporter): delete that capture first"
                        ));
                    }
                    None => {
                        sampled.insert(node.id.clone(), c.uuid.clone());
                    }
                }
            }
            let w = Wanted {
                spec: spec.clone(),
                target,
            };
            out.insert((c.uuid.clone(), node.id.clone()), w);
        }
    }
    out
}

/// Brings the running captures in line with `wanted`.
async fn reconcile(
    ctx: &CaptureContext,
    slots: &Mutex<BTreeMap<Key, Slot>>,
    mut wanted: BTreeMap<Key, Wanted>,
) {
    let now = tokio::time::Instant::now();
    let (gone, todo) = {
        let mut s = slots.lock();
        let mut gone = Vec::new();
        for (key, slot) in std::mem::take(&mut *s) {
            if wanted.get(&key).is_some_and(|w| still_right(&slot, w, now)) {
                wanted.remove(&key);
                s.insert(key, slot);
            } else {
                gone.push((key, slot));
            }
        }
        (gone, wanted)
    };
    for (key, slot) in gone {
        // A failed capture about to be retried keeps its entry: the new attempt overwrites it.
        if matches!(slot, Slot::Running { .. }) || !todo.contains_key(&key) {
            finish(ctx, &key.1, slot).await;
        }
    }
    for ((cid, node), w) in todo {
        let slot = start(ctx, &node, w).await;
        slots.lock().insert((cid, node), slot);
    }
}

/// Whether `slot` is what the selection wants on its node now.
fn still_right(slot: &Slot, w: &Wanted, now: tokio::time::Instant) -> bool {
    if w.spec != *slot.spec() {
        return false;
    }
    match (slot, &w.target) {
        (Slot::Running { capture, .. }, Ok(_)) => capture.failure().is_none(),
        (Slot::Failed { by_selection, .. }, Err(_)) => *by_selection,
        (
            Slot::Failed {
                by_selection: false,
                retry_at,
                ..
            },
            Ok(_),
        ) => retry_at.is_none_or(|t| t > now),
        // The node became someone else's (a bridge taken by another capture), or free again.
        _ => false,
    }
}

async fn start(ctx: &CaptureContext, node: &Id, w: Wanted) -> Slot {
    let target = match w.target {
        Ok(t) => t,
        Err(error) => {
            capture::set_error_entry(&ctx.graph, node, &w.spec, &error);
            return Slot::Failed {
                spec: w.spec,
                error,
                retry_at: None,
                by_selection: true,
            };
        }
    };
    match capture::start(w.spec.clone(), target, ctx).await {
        Ok(c) => Slot::Running {
            capture: Box::new(c),
            spec: w.spec,
        },
        Err(e) => Slot::Failed {
            spec: w.spec,
            retry_at: may_pass(&e).then(|| tokio::time::Instant::now() + RETRY),
            error: e.to_string(),
            by_selection: false,
        },
    }
}

/// Whether a failure may pass by itself (the environment), rather than being the capture's.
fn may_pass(e: &CaptureError) -> bool {
    matches!(
        e,
        CaptureError::Collector(_)
            | CaptureError::Ovsdb(_)
            | CaptureError::Ovs(_)
            | CaptureError::Task(_)
    )
}

/// Stops a capture, or removes the error entry of one that did not run.
async fn finish(ctx: &CaptureContext, node: &Id, slot: Slot) {
    match slot {
        Slot::Running { capture, spec } => {
            if let Err(e) = capture.stop().await {
                tracing::warn!(capture = %spec.id, "capture did not stop cleanly: {e}");
            }
        }
        Slot::Failed { spec, .. } => capture::remove_capture_entry(&ctx.graph, node, &spec.id),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use skydive_graph::{GraphOptions, Metadata, gen_id};

    use super::*;

    fn capture(uuid: &str, query: &str, kind: &str) -> Capture {
        Capture {
            uuid: uuid.to_owned(),
            gremlin_query: query.to_owned(),
            kind: kind.to_owned(),
            ..Capture::default()
        }
    }

    fn node(g: &SharedGraph, name: &str, ty: &str, extra: &[(&str, Value)]) -> Id {
        let mut pairs = vec![
            ("Name", json!(name)),
            ("Type", json!(ty)),
            ("TID", json!(format!("tid-{name}"))),
        ];
        pairs.extend(extra.iter().cloned());
        g.write()
            .create_node(gen_id(&[name]), Metadata::from_pairs(pairs))
            .unwrap()
            .id
            .clone()
    }

    #[test]
    fn a_bridge_goes_to_one_ovssflow_capture_the_analyzers_first() {
        let g = SharedGraph::new(GraphOptions::new("h1", "agent.h1"));
        node(&g, "h1", "host", &[]);
        node(&g, "ns1", "netns", &[]);
        let br = node(&g, "br-int", "ovsbridge", &[("UUID", json!("u-br"))]);
        let auto = auto_capture("h1");
        // As `wanted` orders them: the analyzer's by id, then the agent's own.
        let ordered = [
            capture("c1", "G.V().Has('Type', 'ovsbridge')", "ovssflow"),
            capture("c2", "G.V()", ""),
            auto.clone(),
        ];
        let w = select_all(&g, "h1", &ordered);
        // The host and the namespace have no default capture type: skipped, not errors.
        assert_eq!(w.len(), 3, "{:?}", w.keys().collect::<Vec<_>>());
        let c1 = &w[&("c1".to_owned(), br.clone())];
        let t = c1.target.as_ref().expect("c1 holds the bridge");
        assert_eq!(
            (t.node_tid.as_str(), t.uuid.as_deref()),
            ("tid-br-int", Some("u-br"))
        );
        assert_eq!(t.host_tid, "tid-h1");
        for other in ["c2", auto.uuid.as_str()] {
            let e = w[&(other.to_owned(), br.clone())]
                .target
                .as_ref()
                .unwrap_err();
            assert!(e.contains("already sampled by capture c1"), "{e}");
        }
    }

    #[test]
    fn a_capture_that_cannot_run_on_a_node_says_why() {
        let g = SharedGraph::new(GraphOptions::new("h1", "agent.h1"));
        let host = node(&g, "h1", "host", &[]);
        let w = select_all(
            &g,
            "h1",
            &[capture("c1", "G.V().Has('Type', 'host')", "ovssflow")],
        );
        let e = w[&("c1".to_owned(), host)].target.as_ref().unwrap_err();
        assert!(e.contains("ovsbridge"), "{e}");
    }

    #[test]
    fn own_metadata_writes_do_not_trigger_a_new_selection() {
        let g = SharedGraph::new(GraphOptions::new("h1", "agent.h1"));
        let mut sub = g.bus().subscribe();
        let id = node(&g, "br", "ovsbridge", &[]);
        g.write()
            .update_node(&id, |m| {
                m.set("Captures", json!([{"ID": "c1"}]));
            })
            .unwrap();
        g.write()
            .update_node(&id, |m| {
                m.set("Name", json!("br2"));
            })
            .unwrap();
        let mut seen = Vec::new();
        while let Some(Received::Event(ev)) = sub.try_recv() {
            seen.push(relevant(&ev));
        }
        assert_eq!(seen, [true, false, true]);
    }
}

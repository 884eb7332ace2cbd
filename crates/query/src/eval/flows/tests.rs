//! Flow steps on the fixture topology and the fixture flows (real flow-table output; see
//! `fixture.rs`): 4 live flows (a ping seen on eth0 and veth-host, TCP and UDP on eth0), and
//! 7 stored updates (adding a TCP flow on eth1 finished by FIN).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use skydive_flow::Flow;
use skydive_graph::{GraphView, TimeMs, TimeSlice};

use crate::ast::Order;
use crate::fixture::{FixtureFlows, NOW_MS, T0_MS, flows, topology};
use crate::flow_source::{FlowMetrics, FlowRequest, FlowSource, MetricsRequest};
use crate::{
    Context, EvalErrorKind, GremlinError, HistorySource, Output, execute, execute_with_flows,
};

/// `At` shows the present graph: the fixture topology does not change.
struct PresentAsPast(Arc<dyn GraphView>);

impl HistorySource for PresentAsPast {
    fn view(&self, _: TimeSlice) -> Result<Arc<dyn GraphView>, String> {
        Ok(self.0.clone())
    }
}

struct Env {
    graph: skydive_graph::Graph,
    history: PresentAsPast,
    flows: FixtureFlows,
}

fn env() -> Env {
    Env {
        graph: topology(),
        history: PresentAsPast(Arc::new(topology())),
        flows: flows(),
    }
}

impl Env {
    fn cx(&self) -> Context<'_> {
        Context::new(&self.graph)
            .with_history(&self.history)
            .at(TimeMs(NOW_MS))
    }

    fn try_run(&self, q: &str) -> Result<Output, GremlinError> {
        execute_with_flows(q, &self.cx(), &self.flows)
    }

    fn run(&self, q: &str) -> Output {
        self.try_run(q).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    fn json(&self, q: &str) -> Value {
        self.run(q).to_json()
    }

    fn count(&self, q: &str) -> u64 {
        match self.run(q) {
            Output::Flows(f) => f.len() as u64,
            Output::Number(n) => n.as_u64().unwrap_or_else(|| panic!("{q}: {n}")),
            other => panic!("{q}: expected flows, got {}", other.kind()),
        }
    }

    fn flows(&self, q: &str) -> Vec<Arc<Flow>> {
        match self.run(q) {
            Output::Flows(f) => f,
            other => panic!("{q}: expected flows, got {}", other.kind()),
        }
    }

    /// The names of the nodes a query yields, in order.
    fn names(&self, q: &str) -> Vec<String> {
        match self.run(q) {
            Output::Nodes(n) => n
                .iter()
                .map(|n| n.metadata.get_str("Name").unwrap_or("?").to_owned())
                .collect(),
            other => panic!("{q}: expected nodes, got {}", other.kind()),
        }
    }

    fn error(&self, q: &str) -> GremlinError {
        match self.try_run(q) {
            Ok(out) => panic!("{q}: expected an error, got {}", out.to_json()),
            Err(e) => e,
        }
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn flows_live_all_and_per_node() {
    let e = env();
    assert_eq!(e.count("G.Flows()"), 4);
    assert_eq!(e.count("G.Flows().Count()"), 4);
    assert_eq!(e.count("G.V().Has('Name', 'eth0').Flows()"), 3);
    assert_eq!(e.count("G.V().Has('Name', 'veth-host').Flows()"), 1);
    // eth1's flow finished (FIN): no longer live. lo has no TID.
    assert_eq!(e.count("G.V().Has('Name', 'eth1').Flows()"), 0);
    assert_eq!(e.count("G.V().Has('Name', 'lo').Flows()"), 0);
    assert_eq!(e.count("G.V().Has('Type', 'veth').Flows()"), 4);
    assert_eq!(e.count("G.V().Has('Type', 'veth').Flows().Dedup()"), 3);
    // Flows(k, v) is a filter; on paths, the flows of every node of the paths.
    assert_eq!(e.count("G.Flows('Application', 'TCP')"), 1);
    assert_eq!(
        e.count("G.Flows('Network', '10.0.0.53', 'Transport.B', 53)"),
        1
    );
    assert_eq!(
        e.count(
            "G.V().Has('Name', 'eth0').ShortestPathTo(Metadata('Name', 'br0'), Metadata('RelationType', 'layer2')).Flows()"
        ),
        4
    );
    // Every flow is captured on a node whose TID is its NodeTID.
    for f in e.flows("G.Flows()") {
        assert!(f.node_tid.starts_with("tid-"), "{}", f.node_tid);
    }
}

#[test]
fn has_on_flow_fields() {
    let e = env();
    let n = |q: &str| e.count(&format!("G.Flows().{q}"));
    assert_eq!(n("Has('Network.A', '10.0.0.1')"), 4);
    assert_eq!(n("Has('Network.B', '10.0.0.53')"), 1);
    // `Network` alone: either end.
    assert_eq!(n("Has('Network', '10.0.0.53')"), 1);
    assert_eq!(n("Has('Network', '10.0.0.1')"), 4);
    assert_eq!(n("Has('Network', IPV4RANGE('10.0.0.0/24'))"), 4);
    assert_eq!(n("Has('Network', IPV4RANGE('192.168.0.0/16'))"), 0);
    assert_eq!(n("Has('Transport.B', 80)"), 1);
    assert_eq!(n("Has('Transport', 53)"), 1);
    assert_eq!(n("Has('Link', 'aa:00:00:00:00:02')"), 4);
    assert_eq!(n("Has('Metric.ABPackets', GT(2))"), 1);
    assert_eq!(
        n("Has('Metric.ABPackets', GTE(2), 'Metric.BAPackets', LT(2))"),
        0
    );
    assert_eq!(
        n("Has('Metric.RTT', GT(0))"),
        3,
        "ping (x2) and TCP measured an RTT"
    );
    assert_eq!(n("Has('LayersPath', REGEX('.*/ICMPv4'))"), 2);
    assert_eq!(n("Has('LayersPath', 'Ethernet/IPv4/TCP')"), 1);
    assert_eq!(n("Has('Application', WITHIN('UDP', 'TCP'))"), 2);
    assert_eq!(n("Has('Application', NE('TCP'))"), 3);
    assert_eq!(
        n("HasEither('Application', 'UDP', 'NodeTID', 'tid-veth-host')"),
        2
    );
    assert_eq!(n("HasKey('ICMP')"), 2);
    assert_eq!(n("HasNot('Transport')"), 2);
    assert_eq!(n("Has('ICMP.Type', 'ECHO', 'ICMP.ID', 7)"), 2);
    assert_eq!(n("Has('FinishType')"), 0, "live flows are not finished");
    assert_eq!(n("Has('NodeTID', 'tid-eth0').Has('Application', 'UDP')"), 1);
    assert_eq!(n("Has('Start', BETWEEN(0, 1))"), 0);
    // The same filters after a step that does not fuse.
    assert_eq!(n("Dedup().Has('Application', 'ICMPv4')"), 1);
}

#[test]
fn dedup_sort_and_paging() {
    let e = env();
    // Dedup: TrackingID by default (the ping seen twice is one conversation).
    assert_eq!(e.count("G.Flows().Dedup()"), 3);
    assert_eq!(e.count("G.Flows().Dedup('TrackingID')"), 3);
    assert_eq!(e.count("G.Flows().Dedup('NodeTID')"), 2);
    assert_eq!(e.count("G.Flows().Dedup('NodeTID', 'Application')"), 4);
    assert_eq!(
        e.json("G.Flows().Sort(DESC, 'Metric.ABPackets').Limit(1).Values('Application')"),
        json!(["TCP"])
    );
    // Sort without a key orders by Last, ascending.
    let lasts: Vec<i64> = e.flows("G.Flows().Sort()").iter().map(|f| f.last).collect();
    assert!(lasts.windows(2).all(|w| w[0] <= w[1]), "{lasts:?}");
    let lasts: Vec<i64> = e
        .flows("G.Flows().Sort(DESC)")
        .iter()
        .map(|f| f.last)
        .collect();
    assert!(lasts.windows(2).all(|w| w[0] >= w[1]), "{lasts:?}");
    assert_eq!(e.count("G.Flows().Sort().Range(1, 3)"), 2);
    assert_eq!(e.count("G.Flows().Range(3, 10)"), 1);
    assert_eq!(e.count("G.Flows().Limit(0)"), 0);
    // Fused or not, the same answer: Sort then Dedup keeps the first in sorted order.
    let fused = e.json("G.Flows().Sort(DESC, 'NodeTID').Dedup().Values('NodeTID')");
    let apart = e.json("G.Flows().Dedup('UUID').Sort(DESC, 'NodeTID').Dedup().Values('NodeTID')");
    assert_eq!(fused, apart);
    assert_eq!(fused, json!(["tid-veth-host", "tid-eth0", "tid-eth0"]));
    // A Limit before a filter pages first, then filters (not fused together).
    let first = e.flows("G.Flows().Sort('UUID').Limit(1)");
    let q = format!(
        "G.Flows().Sort('UUID').Limit(1).Has('UUID', '{}')",
        first[0].uuid
    );
    assert_eq!(e.count(&q), 1);
    let q = format!(
        "G.Flows().Sort('UUID').Limit(1).Has('UUID', NE('{}'))",
        first[0].uuid
    );
    assert_eq!(e.count(&q), 0);
}

#[test]
fn projections_and_sums() {
    let e = env();
    assert_eq!(
        e.json("G.Flows().Values('Network.A').Dedup()"),
        json!(["10.0.0.1"])
    );
    assert_eq!(
        e.json("G.Flows().Has('Application', 'UDP').Values('Network')"),
        json!([{"Protocol": "IPV4", "A": "10.0.0.1", "B": "10.0.0.53", "ID": 0}])
    );
    assert_eq!(
        e.json(
            "G.Flows().Has('Application', 'UDP').ValueMap('Application', 'Transport.B', 'ICMP')"
        ),
        json!([{"Application": "UDP", "Transport.B": 53}])
    );
    assert_eq!(
        e.json("G.Flows().Has('Application', 'TCP').Values('Transport.B')"),
        json!([80])
    );
    let keys = e.json("G.Flows().Keys()");
    let keys: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        keys[..4],
        ["UUID", "LayersPath", "Application", "Link.Protocol"]
    );
    for k in [
        "ICMP.Type",
        "Transport.B",
        "Metric.RTT",
        "NodeTID",
        "CaptureID",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    assert!(!keys.contains(&"FinishType"));
    // Packets from A: ping 2 + 2 (two captures), TCP 3, UDP 1.
    assert_eq!(e.json("G.Flows().Sum('Metric.ABPackets')"), json!(8));
    assert_eq!(
        e.json(
            "G.Flows().Has('LayersPath', 'Ethernet/IPv4/ICMPv4').Dedup().Sum('Metric.ABPackets')"
        ),
        json!(2)
    );
    assert_eq!(e.json("G.Flows().Sum('ICMP.ID')"), json!(14));
    let err = e.error("G.Flows().Sum()");
    assert_eq!(
        err.to_string(),
        "`Sum` on flows needs a key, e.g. Sum('Metric.ABBytes') (column 11)"
    );
    assert!(matches!(
        e.error("G.Flows().Sum('Application')"),
        GremlinError::Eval(e) if matches!(&e.kind, EvalErrorKind::NotANumber { key, .. } if key == "Application")
    ));
}

#[test]
fn from_flows_to_nodes() {
    let e = env();
    assert_eq!(
        sorted(e.names("G.Flows().CaptureNode()")),
        ["eth0", "eth0", "eth0", "veth-host"]
    );
    assert_eq!(
        e.names("G.Flows().Has('Application', 'TCP').Node()"),
        ["eth0"]
    );
    assert_eq!(
        e.names("G.Flows().Has('Application', 'ICMPv4').CaptureNode('Name', 'veth-host')"),
        ["veth-host"]
    );
    // Nodes: the capture node, then the nodes whose MAC is Link.A and Link.B.
    assert_eq!(
        e.names("G.Flows().Has('Application', 'TCP').Nodes()"),
        ["eth0", "eth0", "eth1"]
    );
    assert_eq!(
        e.names("G.Flows().Has('Application', 'TCP').Nodes('Type', 'device')"),
        ["eth1"]
    );
    // In: A end (MAC, else PeerIntfMAC); Out: B end; Both: both.
    assert_eq!(
        e.names("G.Flows().Has('Application', 'UDP').In()"),
        ["eth0"]
    );
    assert_eq!(
        e.names("G.Flows().Has('Application', 'UDP').Out()"),
        ["eth1"]
    );
    assert_eq!(
        e.names("G.Flows().Has('Application', 'UDP').Both()"),
        ["eth0", "eth1"]
    );
    assert_eq!(
        e.names("G.Flows().Has('Application', 'UDP').In('Type', 'veth', 'Name', 'veth-host')"),
        ["veth-host"],
        "by PeerIntfMAC when the MAC's node does not match the filter"
    );
    // Hops: every capture node of the conversation, each once.
    assert_eq!(
        sorted(e.names("G.V().Has('Name', 'eth0').Flows().Has('Application', 'ICMPv4').Hops()")),
        ["eth0", "veth-host"]
    );
    assert_eq!(
        e.names("G.Flows().Has('Application', 'ICMPv4').Hops('Name', 'veth-host')"),
        ["veth-host"]
    );
    assert_eq!(
        e.names("G.Flows().Has('Application', 'TCP').Hops()"),
        ["eth0"]
    );
    // Node steps continue as usual.
    assert_eq!(
        e.names("G.Flows().Has('Application', 'TCP').CaptureNode().In()"),
        ["ns1"]
    );
}

#[test]
fn metrics_of_live_flows() {
    let e = env();
    let udp = e.flows("G.Flows().Has('Application', 'UDP')");
    let lum = udp[0].last_update_metric.unwrap();
    assert_eq!(
        e.json("G.Flows().Has('Application', 'UDP').Metrics()"),
        json!([{ udp[0].uuid.clone(): [serde_json::to_value(lum).unwrap()] }])
    );
    assert_eq!(
        e.json("G.Flows().Metrics('LastUpdateMetric').Count()"),
        json!(4)
    );
    assert_eq!(
        e.json("G.Flows().Has('Application', 'DNS').Metrics()"),
        json!([])
    );
    // The total: counters summed, the earliest Start and the latest Last.
    let total = e.json("G.Flows().Has('Network', '10.0.0.2').Metrics().Sum()");
    assert_eq!(
        total["ABPackets"],
        json!(2 + 2 + 1),
        "ping ×2 and TCP since its last update"
    );
    assert_eq!(total["Start"], json!(T0_MS));
    assert_eq!(total.get("RTT"), None);
    assert_eq!(
        e.json("G.Flows().Has('Network', '10.0.0.2').Metrics().Sum('ABPackets')"),
        json!(5)
    );
    assert_eq!(
        e.json("G.Flows().Has('Application', 'UDP').Metrics().Keys()"),
        json!([
            "ABPackets",
            "ABBytes",
            "BAPackets",
            "BABytes",
            "Start",
            "Last"
        ])
    );
    assert_eq!(
        e.json("G.Flows().Has('Application', 'DNS').Metrics().Sum()"),
        Value::Null
    );
    // Aggregates without a time slice: over the metrics' own span, 30 s slices.
    let agg = e.json("G.Flows().Metrics().Aggregates()");
    let buckets = agg[0]["Aggregated"].as_array().unwrap();
    assert_eq!(buckets.len(), 1);
    assert_eq!(buckets[0]["ABPackets"], json!(2 + 2 + 1 + 1));
    assert_eq!(buckets[0]["Start"], json!(T0_MS));
}

#[test]
fn flows_at_a_past_time_come_from_the_store() {
    let e = env();
    // All five flows were active a minute ago (within flow.expire of their last packet),
    // the finished one included, in its latest state.
    assert_eq!(e.count("G.At('-1m').Flows()"), 5);
    assert_eq!(e.count("G.At('-1m').V().Has('Name', 'eth1').Flows()"), 1);
    assert_eq!(
        e.json("G.At('-1m').V().Has('Name', 'eth1').Flows().Values('FinishType')"),
        json!([2])
    );
    assert_eq!(
        e.count("G.At('-1m').Flows().Has('FinishType', 'TCP_FIN')"),
        1
    );
    assert_eq!(e.count("G.At('-1m').Flows().Has('FinishType', 2)"), 1);
    // Ten minutes after the last packet they have all expired; before the first, none.
    assert_eq!(e.count("G.At('-1m', 60).Flows()"), 5);
    assert_eq!(
        e.count(&format!("G.At({}).Flows()", T0_MS + 3_501 + 600_000)),
        1
    );
    assert_eq!(
        e.count(&format!("G.At({}).Flows()", T0_MS + 3_501 + 600_001)),
        0
    );
    assert_eq!(e.count(&format!("G.At({}).Flows()", T0_MS - 1)), 0);
    // Mid-way, the TCP flow on eth0 is shown as its first update left it.
    let q = format!(
        "G.At({}).Flows().Has('Application', 'TCP', 'NodeTID', 'tid-eth0')",
        T0_MS + 2_000
    );
    assert_eq!(e.flows(&q)[0].metric.ab_packets, 2);
    let q = format!(
        "G.At({}).Flows().Has('Application', 'TCP', 'NodeTID', 'tid-eth0')",
        T0_MS + 4_000
    );
    assert_eq!(e.flows(&q)[0].metric.ab_packets, 3);
    // Hops under At see the stored flows.
    assert_eq!(
        sorted(e.names("G.At('-1m').Flows().Has('Application', 'ICMPv4').Limit(1).Hops()")),
        ["eth0", "veth-host"]
    );
}

#[test]
fn metrics_at_a_past_time_are_the_stored_series() {
    let e = env();
    // Both TCP flows had two updates; At(t) alone: every metric up to t.
    let m = e.json("G.At('-1m').Flows().Has('Application', 'TCP').Metrics()");
    let series = m[0].as_object().unwrap();
    assert_eq!(series.len(), 2);
    assert!(
        series.values().all(|s| s.as_array().unwrap().len() == 2),
        "{m:#}"
    );
    assert_eq!(
        e.json("G.At('-1m').Flows().Has('Application', 'TCP').Metrics().Count()"),
        json!(2)
    );
    // SYN+ACK and PSH from A on eth0; SYN+ACK and FIN on eth1.
    assert_eq!(
        e.json("G.At('-1m').Flows().Has('Application', 'TCP').Metrics().Sum('ABPackets')"),
        json!(6)
    );
    // A slice: only the metrics within it. [T0 - 10 s, T0 + 10 s] holds all four; bucketed
    // by 5 s they all fall in [T0, T0 + 5 s].
    let at = format!("G.At({}, 20)", T0_MS + 10_000);
    let agg = e.json(&format!(
        "{at}.Flows().Has('Application', 'TCP').Metrics().Aggregates(5)"
    ));
    assert_eq!(
        agg,
        json!([{"Aggregated": [
            {"ABPackets": 6, "ABBytes": agg[0]["Aggregated"][0]["ABBytes"], "BAPackets": 4,
             "BABytes": agg[0]["Aggregated"][0]["BABytes"], "Start": T0_MS, "Last": T0_MS + 5_000}
        ]}])
    );
    let agg = e.json(&format!(
        "{at}.Flows().Has('Application', 'TCP').Metrics().Aggregates(1)"
    ));
    let buckets = agg[0]["Aggregated"].as_array().unwrap();
    assert_eq!(buckets.len(), 5, "{agg:#}");
    let packets: i64 = buckets
        .iter()
        .map(|b| b["ABPackets"].as_i64().unwrap())
        .sum();
    assert_eq!(packets, 6, "spreading loses nothing");
    // A slice before the updates: no metric.
    let early = format!("G.At({}, 1).Flows().Metrics()", T0_MS + 1_000);
    assert_eq!(e.json(&early), json!([]));
}

#[test]
fn groups() {
    let e = env();
    let g = e.json("G.Flows().Group().MoreThan(1)");
    let groups = g[0].as_object().unwrap();
    assert_eq!(groups.len(), 1, "the ping, seen twice");
    let (_, flows) = groups.iter().next().unwrap();
    assert_eq!(flows.as_array().unwrap().len(), 2);
    assert_eq!(e.json("G.Flows().Group('NodeTID').Count()"), json!(2));
    assert_eq!(
        e.json("G.Flows().Group('NodeTID').MoreThan(2)")
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(e.json("G.Flows().Group('NodeTID').MoreThan(3)"), json!([]));
    assert_eq!(e.json("G.Flows().Group().MoreThan(0).Count()"), json!(3));
    assert_eq!(
        e.json("G.Flows().Sort(DESC, 'Last').Limit(100).Group('TrackingID').MoreThan(1).Count()"),
        json!(1)
    );
}

#[test]
fn flow_json_is_skydive_flow_json() {
    let e = env();
    let out = e.json("G.Flows().Has('Application', 'TCP')");
    let flow = &out[0];
    // Skydive's field names, checked against an independent list.
    for k in [
        "UUID",
        "LayersPath",
        "Application",
        "Link",
        "Network",
        "Transport",
        "LastUpdateMetric",
        "Metric",
        "Start",
        "Last",
        "TrackingID",
        "L3TrackingID",
        "ParentUUID",
        "NodeTID",
        "CaptureID",
        "RawPacketsCaptured",
    ] {
        assert!(flow.get(k).is_some(), "{k} missing from {flow:#}");
    }
    assert_eq!(
        flow["Transport"],
        json!({"Protocol": "TCP", "A": 43210, "B": 80, "ID": 0})
    );
    assert_eq!(flow["Metric"]["ABPackets"], json!(3));
    assert_eq!(flow.get("FinishType"), None);
    assert_eq!(e.run("G.Flows()").to_dot(), "digraph g {\n}\n");
    assert_eq!(e.run("G.Flows()").kind(), "flows");
}

#[test]
fn misuse_and_failures_say_what_to_do() {
    let e = env();
    let msg = |q: &str| e.error(q).to_string();
    assert_eq!(
        msg("G.E().Flows()"),
        "`Flows` applies to the graph, nodes or paths, but the previous step yields edges (column 7)"
    );
    assert_eq!(
        msg("G.V().Metrics()"),
        "`Metrics` on nodes (interface metrics) is not supported yet; use it on flows, e.g. G.Flows().Metrics() (column 7)"
    );
    assert_eq!(
        msg("G.Flows().Metrics('Ovs')"),
        "`Metrics` on flows takes no key, or 'LastUpdateMetric'; found 'Ovs' (column 11)"
    );
    assert_eq!(
        msg("G.Flows().Aggregates()"),
        "`Aggregates` applies to metrics (after Metrics()), but the previous step yields flows (column 11)"
    );
    assert_eq!(
        msg("G.Flows().MoreThan(1)"),
        "`MoreThan` applies to flow groups (after Group()), but the previous step yields flows (column 11)"
    );
    assert_eq!(
        msg("G.V().CaptureNode()"),
        "`CaptureNode` applies to flows, but the previous step yields nodes (column 7)"
    );
    assert!(msg("G.Flows().OutE()").contains("the previous step yields flows"));
    assert_eq!(
        msg("G.Flows().Metrics().Sum('Bytes')"),
        "`Sum` on metrics: unknown field 'Bytes'; fields are ABPackets, ABBytes, BAPackets, BABytes, Start, Last, RTT (column 21)"
    );
    assert_eq!(
        msg("G.Flows().As('f')"),
        "`As` can name nodes or edges, not flows (column 11)"
    );
    assert_eq!(
        msg("G.Flows().RawPackets()"),
        "step `RawPackets` is not supported yet (column 11)"
    );
    // Parse-time checks of flow step arguments.
    assert!(msg("G.Flows().Metrics().Aggregates(0)").contains("positive number of seconds"));
    assert_eq!(
        e.count("G.Flows('Network')"),
        4,
        "a lone key: the flows that have it"
    );
    assert!(msg("G.Flows('a', 'b', 'c')").contains("key/value pairs"));
    // Without a flow source.
    let g = topology();
    let err = execute("G.Flows()", &Context::new(&g)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "step `Flows` needs a flow source, none is configured (column 3)"
    );
    // A failing source.
    struct Broken;
    impl FlowSource for Broken {
        fn flows(&self, _: &FlowRequest<'_>) -> Result<Vec<Arc<Flow>>, String> {
            Err("flow store unavailable".into())
        }
    }
    let err = execute_with_flows("G.Flows()", &Context::new(&g), &Broken).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`Flows`: the flow source failed: flow store unavailable (column 3)"
    );
    // A source without history: Metrics under At says so.
    struct LiveOnly(FixtureFlows);
    impl FlowSource for LiveOnly {
        fn flows(&self, req: &FlowRequest<'_>) -> Result<Vec<Arc<Flow>>, String> {
            self.0.flows(req)
        }
    }
    let live_only = LiveOnly(flows());
    let err = execute_with_flows("G.At('-1m').Flows().Metrics()", &e.cx(), &live_only).unwrap_err();
    assert!(err.to_string().contains("keeps no flow history"), "{err}");
}

/// What a source was asked.
#[derive(Debug, Clone, PartialEq)]
struct Asked {
    slice: Option<TimeSlice>,
    node_tids: Option<Vec<String>>,
    filters: usize,
    sort: Option<(Order, String)>,
    dedup: Option<String>,
    range: Option<(u64, u64)>,
    scan_limit: Option<usize>,
    tracking: Option<Vec<String>>,
}

struct Recording {
    inner: FixtureFlows,
    asked: Mutex<Vec<Asked>>,
    uuids: Mutex<Vec<Vec<String>>>,
}

impl FlowSource for Recording {
    fn flows(&self, req: &FlowRequest<'_>) -> Result<Vec<Arc<Flow>>, String> {
        self.asked.lock().unwrap().push(Asked {
            slice: req.slice,
            node_tids: req.node_tids.map(<[String]>::to_vec),
            filters: req.filters.len(),
            sort: req.sort.map(|(o, k)| (o, k.to_owned())),
            dedup: req.dedup.map(str::to_owned),
            range: req.range,
            scan_limit: req.scan_limit(),
            tracking: req.equal_values("TrackingID"),
        });
        self.inner.flows(req)
    }

    fn metrics(&self, req: &MetricsRequest<'_>) -> Result<FlowMetrics, String> {
        self.uuids.lock().unwrap().push(req.uuids.to_vec());
        self.inner.metrics(req)
    }
}

#[test]
fn has_sort_dedup_limit_are_pushed_into_the_request() {
    let e = env();
    let rec = Recording {
        inner: flows(),
        asked: Mutex::new(Vec::new()),
        uuids: Mutex::new(Vec::new()),
    };
    let run = |q: &str| {
        rec.asked.lock().unwrap().clear();
        let out = execute_with_flows(q, &e.cx(), &rec).unwrap_or_else(|err| panic!("{q}: {err}"));
        (out, rec.asked.lock().unwrap().clone())
    };
    let (out, asked) = run(
        "G.V().Has('Name', 'eth0').Flows('Application', 'TCP').Has('Transport.B', 80).Sort(DESC, 'Last').Dedup().Limit(2)",
    );
    assert_eq!(out.to_json().as_array().unwrap().len(), 1);
    assert_eq!(
        asked,
        [Asked {
            slice: None,
            node_tids: Some(vec!["tid-eth0".into()]),
            filters: 2,
            sort: Some((Order::Desc, "Last".into())),
            dedup: Some("TrackingID".into()),
            range: Some((0, 2)),
            scan_limit: None,
            tracking: None,
        }]
    );
    // Only a limit: any n matches will do.
    let (_, asked) = run("G.Flows().Has('Network', '10.0.0.2').Limit(3)");
    assert_eq!(asked[0].scan_limit, Some(3));
    assert_eq!(asked[0].filters, 1);
    // A TrackingID equality is offered to indexes; under At the slice is passed.
    let (_, asked) = run("G.At('-1m').Flows().Has('TrackingID', WITHIN('a', 'b'))");
    assert_eq!(asked[0].tracking, Some(vec!["a".into(), "b".into()]));
    let slice = asked[0].slice.unwrap();
    assert_eq!(slice.last, TimeMs(NOW_MS - 60_000));
    // Hops asks again, by TrackingID, in the same time context.
    let (_, asked) = run("G.At('-1m').Flows().Has('Application', 'ICMPv4').Hops()");
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[1].tracking.as_ref().map(Vec::len), Some(1));
    assert_eq!(asked[1].slice, asked[0].slice);
    // Nodes without a TID have no flows: the source is not even asked.
    let (out, asked) = run("G.V().Has('Name', 'lo').Flows()");
    assert_eq!(out.to_json(), json!([]));
    assert!(asked.is_empty());
    // Metrics under At asks for the flows' UUIDs, each once.
    rec.uuids.lock().unwrap().clear();
    run("G.At('-1m').Flows().Has('Application', 'ICMPv4').Metrics()");
    assert_eq!(rec.uuids.lock().unwrap()[0].len(), 2);
}

//! `ovssflow` captures against a real Open vSwitch (userspace datapath): Skydive's seed
//! walkthrough at the probe level — a bridge with two namespaces on veths, a capture on the
//! bridge, pings and a TCP transfer between the namespaces — then the `sFlow` row's life:
//! removed on stop, left by a crash and removed by `cleanup_stale_sflow`, never taken from
//! someone else.
//!
//! Where the collector lives: `ovs.rs` runs `ovs-vswitchd` inside a namespace of the test
//! (`sw`), and a vswitchd in a namespace can only send sFlow to addresses of that namespace.
//! The capture's collector is therefore opened inside `sw` (`CaptureContext::collector_netns`:
//! its receive thread enters the namespace before binding), exactly as an agent running in
//! the switch's namespace would open it. Running the vswitchd in the host namespace instead
//! would forbid running these tests in parallel (two netdev vswitchds in one namespace fight
//! over the `ovs-netdev` tap).

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use skydive_flow::Flow;
use skydive_graph::SharedGraph;
use skydive_probes::capture::{
    self, CaptureContext, CaptureSpec, CaptureTarget, CapturesConfig, FlowBatch,
    cleanup_stale_sflow,
};
use tokio::sync::mpsc;

use crate::graph_query::*;
use crate::ovsdb_lab::{ovs_config, typed};
use skydive_testlab::Ovs;
use skydive_testlab::{Lab, run_in};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique id for captures and agents of this test process.
pub fn unique(what: &str) -> String {
    format!(
        "skt-{what}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every flow record received, and the latest record of each flow (by UUID).
#[derive(Default)]
pub struct Received {
    pub records: usize,
    pub latest: BTreeMap<String, Flow>,
}

/// Drains the capture's channel into a [`Received`].
pub fn collect(mut rx: mpsc::Receiver<FlowBatch>) -> Arc<Mutex<Received>> {
    let out = Arc::new(Mutex::new(Received::default()));
    let o = out.clone();
    tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            let mut r = o.lock();
            r.records += batch.len();
            for f in batch {
                r.latest.insert(f.uuid.clone(), f);
            }
        }
    });
    out
}

/// Polls the received flows until `f` finds something, or panics after [`DEADLINE`] with
/// `describe` of what was there.
pub async fn wait_flows<T>(
    flows: &Mutex<Received>,
    what: &str,
    f: impl Fn(&Received) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f(&flows.lock()) {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            let r = flows.lock();
            let seen: Vec<String> = r
                .latest
                .values()
                .map(|f| {
                    format!(
                        "{} {:?} {:?} ab={} ba={} abB={} baB={}",
                        f.layers_path,
                        f.network.as_ref().map(|n| (&n.a, &n.b)),
                        f.icmp.as_ref().map(|i| i.id),
                        f.metric.ab_packets,
                        f.metric.ba_packets,
                        f.metric.ab_bytes,
                        f.metric.ba_bytes
                    )
                })
                .collect();
            panic!("timed out waiting for {what}; flows: {seen:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A process inside a namespace, killed when dropped (before the lab deletes the namespace).
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The world of a walkthrough: a switch namespace running OVS with bridge `br`, and two
/// "VMs" (namespaces) on its ports with 10.99.41.1 and .2.
struct World {
    // Field order = drop order: the daemons stop before the namespaces go.
    ovs: Ovs,
    lab: Lab,
    sw: String,
    vm1: String,
    vm2: String,
    br: String,
    vm1_if: String,
    /// What the web server serves.
    www: std::path::PathBuf,
}

const VM1_IP: &str = "10.99.41.1";
const VM2_IP: &str = "10.99.41.2";

impl World {
    fn new(test: &str) -> Option<World> {
        let mut lab = Lab::new(test)?;
        for cmd in ["ping", "ethtool", "python3"] {
            if Command::new("sh")
                .args(["-c", &format!("command -v {cmd}")])
                .output()
                .map_or(true, |o| !o.status.success())
            {
                eprintln!("skipping {test}: `{cmd}` is not installed");
                return None;
            }
        }
        let sw = lab.netns("sw");
        let vm1 = lab.netns("vm1");
        let vm2 = lab.netns("vm2");
        let ovs = Ovs::switch(test, &sw, false)?;
        let br = lab.ifname("bi");
        ovs.vsctl(&[
            "add-br",
            &br,
            "--",
            "set",
            "bridge",
            &br,
            "datapath_type=netdev",
        ]);
        let (v1, v1n) = lab.veth_between("v1", &sw, "v1n", &vm1);
        let (v2, v2n) = lab.veth_between("v2", &sw, "v2n", &vm2);
        ovs.vsctl(&["add-port", &br, &v1]);
        ovs.vsctl(&["add-port", &br, &v2]);
        for (ns, dev, ip) in [(&vm1, &v1n, VM1_IP), (&vm2, &v2n, VM2_IP)] {
            lab.ip_in(ns, &["addr", "add", &format!("{ip}/24"), "dev", dev]);
            // TCP through the netdev datapath needs the namespace side's tx offload off.
            run_in(ns, &["ethtool", "-K", dev, "tx", "off"]);
        }
        let www = lab.dir("www");
        Some(World {
            ovs,
            lab,
            www,
            sw,
            vm1,
            vm2,
            br,
            vm1_if: v1n,
        })
    }

    fn ping(&self, count: u32) {
        run_in(
            &self.vm1,
            &[
                "ping",
                "-c",
                &count.to_string(),
                "-i",
                "0.2",
                "-W",
                "2",
                "-q",
                VM2_IP,
            ],
        );
    }

    fn sflow_rows(&self) -> String {
        self.ovs.vsctl(&["list", "sflow"])
    }
}

/// ICMP flows between the VMs, by ICMP id.
fn icmp_flows(r: &Received) -> BTreeMap<u32, Flow> {
    r.latest
        .values()
        .filter(|f| f.icmp.is_some() && f.network.as_ref().is_some_and(|n| n.a == VM1_IP))
        .filter_map(|f| Some((f.icmp.as_ref()?.id, f.clone())))
        .collect()
}

fn captures_config(ovs: &Ovs) -> CapturesConfig {
    let mut cfg = CapturesConfig::default();
    cfg.ovs.ovsdb = ovs.unix_address();
    cfg.flow.update = 1;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ovssflow_capture_follows_pings_and_tcp_then_removes_its_row() {
    let Some(w) = World::new("ovssflow") else {
        return;
    };
    let (graph, topo) = start_agent(ovs_config(w.ovs.unix_address())).await;
    let bridge = wait_for(&graph, "the bridge node", |g| {
        typed(g, "ovsbridge", &w.br).cloned()
    })
    .await;
    let target = CaptureTarget::from_node(&bridge, &topo.host().tid).unwrap();
    let (tx, rx) = mpsc::channel(1024);
    let flows = collect(rx);
    let agent_id = unique("agent");
    let mut ctx = CaptureContext::new(graph.clone(), &agent_id, captures_config(&w.ovs), tx);
    ctx.collector_netns = Some(format!("/var/run/netns/{}", w.sw).into());
    let capture_id = unique("cap");
    let spec = CaptureSpec {
        id: capture_id.clone(),
        name: "walkthrough".into(),
        // No Type: the default for an ovsbridge, ovssflow.
        sampling_rate: 1,
        polling_interval: 1,
        header_size: 128,
        ..CaptureSpec::default()
    };
    let cap = capture::start(spec, target.clone(), &ctx)
        .await
        .expect("the capture starts");
    let collector = cap.collector_address().unwrap();
    assert_eq!(cap.capture_type().name(), "ovssflow");

    // The row in OVSDB: our collector, the capture's settings, our ids.
    let row = cap.sflow_row().unwrap().to_owned();
    assert_eq!(w.ovs.vsctl(&["get", "bridge", &w.br, "sflow"]), row);
    let get = |col: &str| w.ovs.vsctl(&["get", "sflow", &row, col]);
    assert_eq!(
        get("targets"),
        format!("[\"127.0.0.1:{}\"]", collector.port())
    );
    assert_eq!(get("agent"), "lo");
    assert_eq!(get("sampling"), "1");
    assert_eq!(get("polling"), "1");
    assert_eq!(get("header"), "128");
    assert_eq!(
        get("external_ids:skydive-probe-id").trim_matches('"'),
        agent_id
    );
    assert_eq!(
        get("external_ids:skydive-capture-id").trim_matches('"'),
        capture_id
    );

    // Its Captures entry.
    let entry = wait_for(&graph, "an active Captures entry", |g| {
        let caps = g.node(&target.node_id)?.metadata.get("Captures")?.clone();
        (caps[0]["State"] == "active").then_some(caps[0].clone())
    })
    .await;
    assert_eq!(entry["ID"], capture_id.as_str());
    assert_eq!(entry["Type"], "ovssflow");
    assert_eq!(entry["Name"], "walkthrough");
    assert_eq!(entry["SFlowSocket"], collector.to_string());

    // Warm up until OVS samples reach us, then the measured pings: a flow of their own (ping
    // ids differ per run) whose counts are exact with sampling 1.
    let warm = {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            w.ping(1);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let seen: HashSet<u32> = icmp_flows(&flows.lock()).into_keys().collect();
            if !seen.is_empty() {
                break seen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no ICMP flow from the bridge; capture stats {:?}",
                cap.stats()
            );
        }
    };
    // Flows of the warm-up pings must not be mistaken for the measured one: wait until the
    // table has emitted them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let warm: HashSet<u32> = warm
        .union(&icmp_flows(&flows.lock()).into_keys().collect())
        .copied()
        .collect();
    const PINGS: i64 = 10;
    w.ping(PINGS as u32);
    let ping = wait_flows(
        &flows,
        "the measured ping flow with 10 requests and 10 replies",
        |r| {
            icmp_flows(r)
                .into_iter()
                .find(|(id, f)| {
                    !warm.contains(id)
                        && f.metric.ab_packets >= PINGS
                        && f.metric.ba_packets >= PINGS
                })
                .map(|(_, f)| f)
        },
    )
    .await;
    assert_eq!(
        (ping.metric.ab_packets, ping.metric.ba_packets),
        (PINGS, PINGS),
        "sampling 1: every request (A→B) and reply (B→A), once"
    );
    let net = ping.network.as_ref().unwrap();
    assert_eq!(
        (net.a.as_str(), net.b.as_str()),
        (VM1_IP, VM2_IP),
        "A is the pinging side"
    );
    let vm1_mac = w.lab.mac(Some(&w.vm1), &w.vm1_if);
    assert_eq!(ping.link.as_ref().unwrap().a, vm1_mac);
    assert_eq!(ping.layers_path, "Ethernet/IPv4/ICMPv4");
    assert_eq!(ping.node_tid, target.node_tid);
    assert_eq!(ping.node_tid, bridge.metadata.get_str("TID").unwrap());
    assert_eq!(ping.capture_id, capture_id);
    assert_eq!(ping.sampling_rate, 1);
    // 98-byte echo frames (84 bytes of IP + 14 of Ethernet) both ways.
    assert_eq!(ping.metric.ab_bytes, PINGS * 98);
    assert_eq!(ping.metric.ba_bytes, PINGS * 98);
    assert_eq!(
        ping.metric.rtt, 0,
        "no RTT from sFlow: samples carry no time, and OVS sends a request and its reply in one datagram"
    );

    // A TCP transfer: 300 000 bytes from vm2's web server to vm1.
    const SIZE: i64 = 300_000;
    let dir = w.www.clone();
    std::fs::write(dir.join("blob"), vec![b'x'; SIZE as usize]).unwrap();
    let _server = Spawned(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &w.vm2,
                "python3",
                "-m",
                "http.server",
                "18080",
            ])
            .args(["--bind", VM2_IP, "--directory"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 http.server"),
    );
    let fetched = run_in(
        &w.vm1,
        &[
            "python3",
            "-c",
            "import time, urllib.request\n\
             for i in range(100):\n\
             \x20   try:\n\
             \x20       print(len(urllib.request.urlopen('http://10.99.41.2:18080/blob', timeout=5).read())); break\n\
             \x20   except OSError:\n\
             \x20       time.sleep(0.1)\n",
        ],
    );
    assert_eq!(fetched.trim(), SIZE.to_string(), "the transfer itself");
    let tcp = wait_flows(&flows, "the HTTP flow with every byte", |r| {
        r.latest
            .values()
            .find(|f| {
                f.transport.as_ref().is_some_and(|t| t.b == 18080)
                    && f.metric.ba_bytes >= SIZE
                    && f.finish_type != skydive_flow::FinishType::NotFinished
            })
            .cloned()
    })
    .await;
    let t = tcp.transport.as_ref().unwrap();
    assert_eq!(
        tcp.network.as_ref().unwrap().a,
        VM1_IP,
        "the client opened it"
    );
    assert!(t.a > 1024, "client port {}", t.a);
    // Sampling 1: the server's bytes are the file, HTTP headers and per-frame overhead
    // (Ethernet + IP + TCP, at least 54 bytes per frame of at most 1514). On a loaded machine
    // TCP retransmits some segments, which are on the wire too: up to a fifth more is accepted.
    let frames = tcp.metric.ba_packets;
    assert!(
        tcp.metric.ba_bytes >= SIZE + frames * 54
            && tcp.metric.ba_bytes <= frames * 1514
            && tcp.metric.ba_bytes <= SIZE + SIZE / 5,
        "BABytes {} for a {SIZE}-byte body in {frames} frames",
        tcp.metric.ba_bytes
    );
    assert!(tcp.metric.ab_packets > 0 && tcp.metric.ab_bytes > 0);

    // Counter samples (polling 1 s) land on the bridge.
    let sflow = wait_for(&graph, "SFlow counters on the bridge", |g| {
        let m = g.node(&target.node_id)?.metadata.get("SFlow")?.clone();
        (m["Metric"]["IfInOctets"].as_i64()? > 0).then_some(m)
    })
    .await;
    let ifs = sflow["IfMetrics"].as_object().unwrap();
    assert!(!ifs.is_empty(), "{sflow}");
    assert!(sflow["Metric"]["Last"].as_i64().unwrap() > 0, "{sflow}");

    let live = cap.stats();
    assert!(
        live.packets_received > 0 && live.samples_decoded > 0,
        "{live:?}"
    );
    assert_eq!(live.datagram_errors, 0, "{live:?}");
    assert!(live.counter_samples > 0, "{live:?}");
    let entry = wait_for(&graph, "counters in the Captures entry", |g| {
        let caps = g.node(&target.node_id)?.metadata.get("Captures")?.clone();
        (caps[0]["SamplesDecoded"].as_u64()? > 0).then_some(caps[0].clone())
    })
    .await;
    assert!(entry["PacketsReceived"].as_u64().unwrap() > 0, "{entry}");

    // Stop: the row goes, the node's keys go, the last records are sent.
    let before = flows.lock().records;
    let stats = cap.stop().await.expect("a clean stop");
    assert_eq!(w.sflow_rows(), "", "no sFlow row left in OVSDB");
    assert_eq!(w.ovs.vsctl(&["get", "bridge", &w.br, "sflow"]), "[]");
    {
        let g = graph.read();
        let n = g.node(&target.node_id).unwrap();
        assert!(n.metadata.get("Captures").is_none());
        assert!(n.metadata.get("SFlow").is_none());
    }
    assert_eq!(stats.flow_records_dropped, 0, "{stats:?}");
    assert_eq!(stats.packets_dropped, 0, "{stats:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(flows.lock().records > before, "the final records");
    topo.stop().await;
}

/// An `ovsbridge` node for a bridge that exists only in OVSDB (no switch running): what the
/// crash tests need.
fn bridge_node(graph: &SharedGraph, ovs: &Ovs, br: &str) -> CaptureTarget {
    use serde_json::json;
    use skydive_graph::{Metadata, gen_id};
    let uuid = ovs.uuid("bridge", br);
    let id = gen_id(&["skt-bridge", br]);
    let node = graph
        .write()
        .create_node(
            id,
            Metadata::from_pairs([
                ("Name", json!(br)),
                ("Type", json!("ovsbridge")),
                ("UUID", json!(uuid)),
                ("TID", json!(format!("tid-{br}"))),
            ]),
        )
        .unwrap();
    CaptureTarget::from_node(&node, "host-tid").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_capture_leaves_its_row_and_cleanup_removes_only_ours() {
    let Some(lab) = Lab::new("ovssflow-crash") else {
        return;
    };
    let Some(ovs) = Ovs::server("ovssflow-crash", false) else {
        return;
    };
    init_tracing();
    let (br, other) = (lab.ifname("b0"), lab.ifname("b1"));
    for b in [&br, &other] {
        ovs.vsctl(&["--no-wait", "add-br", b]);
    }
    // Someone else's sFlow configuration on the second bridge.
    ovs.vsctl(&[
        "--no-wait",
        "--",
        "--id=@s",
        "create",
        "sflow",
        "agent=lo",
        "targets=\"127.0.0.1:9999\"",
        "external_ids:owner=someone-else",
        "--",
        "set",
        "bridge",
        &other,
        "sflow=@s",
    ]);
    let graph = SharedGraph::new(skydive_graph::GraphOptions::new("h", "agent.h"));
    let target = bridge_node(&graph, &ovs, &br);
    let foreign = bridge_node(&graph, &ovs, &other);
    let (tx, _rx) = mpsc::channel(64);
    let agent_id = unique("agent");
    let ctx = CaptureContext::new(graph.clone(), &agent_id, captures_config(&ovs), tx);

    // A bridge sampled by someone else is refused, and says so on the node.
    let spec = |id: &str| CaptureSpec {
        id: id.into(),
        capture_type: "ovssflow".into(),
        ..CaptureSpec::default()
    };
    let err = capture::start(spec("c-foreign"), foreign.clone(), &ctx)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("already has an sFlow configuration"), "{err}");
    let caps = graph
        .read()
        .node(&foreign.node_id)
        .unwrap()
        .metadata
        .get("Captures")
        .cloned();
    assert_eq!(caps.unwrap()[0]["State"], "error");

    // A crash: the capture is dropped without stop; its row stays in OVSDB.
    let cap = capture::start(spec("c-crash"), target.clone(), &ctx)
        .await
        .expect("the capture starts");
    let row = cap.sflow_row().unwrap().to_owned();
    drop(cap);
    assert_eq!(ovs.vsctl(&["get", "bridge", &br, "sflow"]), row);

    // A restarted agent with the same id takes the bridge over (its stale row is replaced)…
    let again = capture::start(spec("c-again"), target.clone(), &ctx)
        .await
        .expect("restarting over this agent's own stale row");
    assert_ne!(again.sflow_row().unwrap(), row);
    drop(again);

    // …and cleanup at start removes what it left, not the other agent's row.
    let other_agent = cleanup_stale_sflow(&ctx.config.ovs, "some-other-agent")
        .await
        .unwrap();
    assert_eq!(other_agent, 0);
    let removed = cleanup_stale_sflow(&ctx.config.ovs, &agent_id)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert_eq!(ovs.vsctl(&["get", "bridge", &br, "sflow"]), "[]");
    let rows = ovs.vsctl(&["--columns=external_ids", "list", "sflow"]);
    assert!(rows.contains("someone-else"), "{rows}");
    assert!(!rows.contains(&agent_id), "{rows}");
    assert_eq!(
        cleanup_stale_sflow(&ctx.config.ovs, &agent_id)
            .await
            .unwrap(),
        0
    );
}

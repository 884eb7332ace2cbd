//! Analyzer fan-in: one real `skydive analyzer` (a separate process, history on) fed by many
//! simulated agents, each a WebSocket client of `/ws/agent/topology` speaking protocol version 1
//! (`docs/protocol.md`) from a tokio task of this process. Prints:
//!
//! - sync: all agents connect at once and send a full sync (`SyncBegin`, `SyncChunk`s of about
//!   1 MiB, `SyncEnd`) of their host's graph — a host node, a bridge, a vxlan tunnel, a `lo`
//!   device and namespace units (netns node, `eth0` veth, `eth1` macvlan, host-side veth peer)
//!   from `bench/src/synth.rs`, 1000 nodes and 1746 edges with netlink-like metadata; the time
//!   until every `SyncDone` is back and until `G.V().Count()` shows every node; the analyzer's
//!   CPU during the sync and its RSS after it, then its CPU and RSS idle for 10 s;
//! - changes: each agent then changes `--rate` nodes a second for `--secs` seconds (nine
//!   `NodePartiallyUpdated` with a `BenchSeq` counter and a `Metric` object, then one whole
//!   `NodeUpdated`, and so on), `Seq` numbered without gaps; the analyzer's CPU and RSS
//!   meanwhile;
//! - the final state: how long after the last change the analyzer shows every agent's last
//!   `BenchSeq` on the right node (one `G.V('<id>').Values('BenchSeq')` per agent) and the
//!   expected number of touched nodes (`G.V().Has('BenchSeq').Count()`), and any `Error` or
//!   `SyncRequest` the analyzer sent.
//!
//! Usage (from the workspace root, after `cargo build --release -p skydive -p skydive-bench`):
//!
//! ```text
//! target/release/fanin_bench [--agents 200] [--nodes 1000] [--rate 10] [--secs 30] [--skydive PATH]
//! ```
//!
//! `--nodes` is rounded to 4 per namespace unit plus 4 (host, bridge, tunnel, lo).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use skydive_bench::http_client::{gremlin, gremlin_count};
use skydive_bench::measure::{CpuWindow, cpu_time, mib, rss_bytes_of};
use skydive_bench::skydive_process::{SkydiveProcess, free_addr, skydive_bin};
use skydive_bench::synth;
use skydive_graph::{Graph, GraphOptions, Metadata, gen_id};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Upper bound on any wait, so a broken run ends. Not a timing claim.
const PATIENCE: Duration = Duration::from_secs(600);
/// Target size of one `SyncChunk`, as the agent's default `agent.sync_chunk_bytes`.
const CHUNK_BYTES: usize = 64 << 10;
/// Idle window after the sync.
const IDLE: Duration = Duration::from_secs(10);
/// Every how many changes one is a whole `NodeUpdated` (the others are partial updates).
const WHOLE_EVERY: u64 = 10;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Options {
    agents: usize,
    nodes: usize,
    rate: u64,
    secs: u64,
    bin: std::path::PathBuf,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: u64| {
        args.windows(2)
            .find(|w| w[0] == name)
            .and_then(|w| w[1].parse::<u64>().ok())
            .unwrap_or(default)
    };
    Options {
        agents: flag("--agents", 200) as usize,
        nodes: flag("--nodes", 1000) as usize,
        rate: flag("--rate", 10).max(1),
        secs: flag("--secs", 30),
        bin: skydive_bin(&args),
    }
}

fn main() -> ExitCode {
    let opts = options();
    // Two workers: the machine has two cores, shared with the analyzer.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fanin_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One simulated agent: its host's graph, pre-serialised, and what it changed.
struct SimAgent {
    host_id: String,
    /// Each node's JSON, as an agent sends it in a sync.
    nodes: Vec<String>,
    node_ids: Vec<String>,
    /// Each node's revision as the agent last reported it.
    revisions: Vec<i64>,
    edges: Vec<String>,
}

impl SimAgent {
    fn new(tag: &str, index: usize, units: usize) -> Self {
        let host_id = format!("{tag}-{index}");
        let mut g = Graph::new(GraphOptions::new(
            host_id.clone(),
            format!("agent.{host_id}"),
        ));
        synth::build_host(&mut g, index, units);
        add_loopback(&mut g, index);
        let mut nodes = Vec::new();
        let mut node_ids = Vec::new();
        let mut revisions = Vec::new();
        for n in g.nodes() {
            nodes.push(serde_json::to_string(&**n).expect("node JSON"));
            node_ids.push(n.id.to_string());
            revisions.push(n.revision);
        }
        let edges = g
            .edges()
            .map(|e| serde_json::to_string(&**e).expect("edge JSON"))
            .collect();
        SimAgent {
            host_id,
            nodes,
            node_ids,
            revisions,
            edges,
        }
    }

    /// `SyncBegin`, the chunks, `SyncEnd`: the frames' `Obj`s with their types.
    fn sync_messages(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![(
            "SyncBegin",
            json!({"Generation": 1, "Nodes": self.nodes.len(), "Edges": self.edges.len()})
                .to_string(),
        )];
        let mut chunk = Chunk::default();
        for (i, n) in self.nodes.iter().enumerate() {
            chunk.nodes.push(i);
            chunk.bytes += n.len() + 1;
            if chunk.bytes >= CHUNK_BYTES {
                out.push(("SyncChunk", std::mem::take(&mut chunk).render(self)));
            }
        }
        for (i, e) in self.edges.iter().enumerate() {
            chunk.edges.push(i);
            chunk.bytes += e.len() + 1;
            if chunk.bytes >= CHUNK_BYTES {
                out.push(("SyncChunk", std::mem::take(&mut chunk).render(self)));
            }
        }
        if chunk.bytes > 0 {
            out.push(("SyncChunk", chunk.render(self)));
        }
        out.push(("SyncEnd", json!({"Generation": 1}).to_string()));
        out
    }

    /// The `k`-th change of this agent: which node, the message type and its `Obj`.
    fn change(&mut self, k: u64) -> (usize, &'static str, String) {
        let i = (k % self.nodes.len() as u64) as usize;
        self.revisions[i] += 1;
        let now = now_ms();
        let metric = json!({"RxBytes": k * 1500, "TxBytes": k * 900, "RxPackets": k,
                            "TxPackets": k, "Start": now - 1000, "Last": now});
        if k % WHOLE_EVERY == WHOLE_EVERY - 1 {
            let mut node: Value = serde_json::from_str(&self.nodes[i]).expect("own JSON");
            node["Metadata"]["BenchSeq"] = json!(k);
            node["Metadata"]["Metric"] = metric;
            node["UpdatedAt"] = json!(now);
            node["Revision"] = json!(self.revisions[i]);
            self.nodes[i] = node.to_string();
            return (i, "NodeUpdated", self.nodes[i].clone());
        }
        let obj = json!({"ID": self.node_ids[i], "UpdatedAt": now, "Revision": self.revisions[i],
            "Ops": [{"Type": 1, "Key": "BenchSeq", "Value": k},
                    {"Type": 1, "Key": "Metric", "Value": metric}]});
        (i, "NodePartiallyUpdated", obj.to_string())
    }
}

/// A host's `lo`, so that a host holds 4 + 4 × units nodes.
fn add_loopback(g: &mut Graph, index: usize) {
    let host = gen_id(&[&format!("host-{index}")]);
    let lo = gen_id(&[&host.as_str(), "lo"]);
    let md = Metadata::from_pairs([
        ("Name", json!("lo")),
        ("Type", json!("device")),
        ("TID", json!(lo)),
        ("IfIndex", json!(1)),
        ("MTU", json!(65536)),
        ("State", json!("UP")),
        ("EncapType", json!("loopback")),
        ("IPV4", json!(["127.0.0.1/8"])),
    ]);
    g.create_node(lo.clone(), md).expect("fresh id");
    let edge = gen_id(&[&host.as_str(), &lo.as_str(), "ownership"]);
    let md = Metadata::from_pairs([("RelationType", json!("ownership"))]);
    g.create_edge(edge, host, lo, md).expect("ends exist");
}

#[derive(Default)]
struct Chunk {
    nodes: Vec<usize>,
    edges: Vec<usize>,
    bytes: usize,
}

impl Chunk {
    fn render(self, a: &SimAgent) -> String {
        let join = |items: &[String], idx: &[usize]| {
            idx.iter()
                .map(|&i| items[i].as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "{{\"Generation\":1,\"Nodes\":[{}],\"Edges\":[{}]}}",
            join(&a.nodes, &self.nodes),
            join(&a.edges, &self.edges)
        )
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What the run's phases tell the agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Sync,
    Change,
    Leave,
}

/// What an agent reports to the benchmark.
enum Report {
    Synced { added: u64, rejected: u64 },
    Changed(ChangeStats),
    Failed(String),
}

#[derive(Debug, Default, Clone)]
struct ChangeStats {
    agent: usize,
    sent: u64,
    /// (node ID, `BenchSeq`) of the last change.
    last: Option<(String, u64)>,
    errors: u64,
    sync_requests: u64,
    first_error: Option<String>,
}

async fn run(opts: Options) -> Result<(), String> {
    let tag = format!("fanin{:x}", std::process::id());
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let api = free_addr()?;
    let yaml = format!(
        "host_id: {tag}-analyzer\nanalyzer:\n  listen: {api}\nstorage:\n  data_dir: {}\n\
         logging:\n  level: INFO\n",
        dir.path().join("data").display()
    );
    let mut analyzer = SkydiveProcess::spawn(&opts.bin, "analyzer", &yaml, dir.path())?;
    analyzer.wait_listening(api, Duration::from_secs(30))?;
    let result = phases(&opts, &tag, api, &mut analyzer).await;
    if result.is_err() {
        eprintln!("analyzer log (end):\n{}", analyzer.log_tail(20));
    }
    result
}

async fn phases(
    opts: &Options,
    tag: &str,
    api: SocketAddr,
    analyzer: &mut SkydiveProcess,
) -> Result<(), String> {
    let pid = analyzer.pid();
    let units = opts.nodes.saturating_sub(4) / synth::NODES_PER_UNIT;
    let t = Instant::now();
    let agents: Vec<SimAgent> = (0..opts.agents)
        .map(|i| SimAgent::new(tag, i, units))
        .collect();
    let (per_nodes, per_edges) = (agents[0].nodes.len(), agents[0].edges.len());
    let total_nodes = (per_nodes * agents.len()) as u64;
    println!(
        "{} agents × {per_nodes} nodes + {per_edges} edges built in {:.2} s; analyzer pid {pid}",
        agents.len(),
        t.elapsed().as_secs_f64()
    );
    let baseline = query_count(api, "G.V().Count()").await?;
    let (phase_tx, phase_rx) = watch::channel(Phase::Sync);
    let (report_tx, mut reports) = mpsc::unbounded_channel();
    let ws_url = format!("ws://{api}/ws/agent/topology");
    let expected_touched: u64 = agents
        .iter()
        .map(|a| (opts.rate * opts.secs).min(a.nodes.len() as u64))
        .sum();

    // Sync: every agent at once, as after an analyzer restart.
    let sync_cpu = CpuWindow::start(pid);
    let bench_cpu0 = cpu_time();
    let t0 = Instant::now();
    for (i, a) in agents.into_iter().enumerate() {
        let ctx = AgentCtx {
            index: i,
            url: ws_url.clone(),
            phase: phase_rx.clone(),
            report: report_tx.clone(),
            rate: opts.rate,
            secs: opts.secs,
        };
        tokio::spawn(agent_task(a, ctx));
    }
    drop(report_tx);
    let (added, rejected) = wait_synced(&mut reports, opts.agents).await?;
    let synced = t0.elapsed();
    let sync_cpu_s = sync_cpu.cpu().as_secs_f64();
    let want = baseline + total_nodes;
    let held = wait_count(api, "G.V().Count()", want, t0).await?;
    println!(
        "sync: all {} SyncDone after {:.2} s (Added {added}, Rejected {rejected}); analyzer holds \
         {} nodes after {:.2} s; analyzer CPU during sync {sync_cpu_s:.2} s ({:.0} % of a core), \
         RSS {:.1} MiB; bench CPU {:.2} s",
        opts.agents,
        synced.as_secs_f64(),
        held.0,
        held.1.as_secs_f64(),
        100.0 * sync_cpu_s / synced.as_secs_f64(),
        mib(rss_bytes_of(pid)),
        (cpu_time() - bench_cpu0).as_secs_f64()
    );

    let idle = CpuWindow::start(pid);
    tokio::time::sleep(IDLE).await;
    println!(
        "after sync, idle {:.0} s: analyzer CPU {:.1} % of a core, RSS {:.1} MiB",
        IDLE.as_secs_f64(),
        idle.percent(),
        mib(rss_bytes_of(pid))
    );

    // Changes.
    let change_cpu = CpuWindow::start(pid);
    let bench_cpu0 = cpu_time();
    let t1 = Instant::now();
    let _ = phase_tx.send(Phase::Change);
    let mut peak = 0;
    while t1.elapsed() < Duration::from_secs(opts.secs) {
        analyzer.check_alive()?;
        peak = peak.max(rss_bytes_of(pid));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let stats = wait_changed(&mut reports, opts.agents).await?;
    let changes_done = Instant::now();
    let sent: u64 = stats.iter().map(|s| s.sent).sum();
    println!(
        "changes {} s: {sent} sent ({:.0}/s over {} agents); analyzer CPU {:.1} % of a core \
         ({:.2} s), RSS {:.1} MiB (peak {:.1} MiB); bench CPU {:.2} s",
        opts.secs,
        sent as f64 / t1.elapsed().as_secs_f64(),
        opts.agents,
        change_cpu.percent(),
        change_cpu.cpu().as_secs_f64(),
        mib(rss_bytes_of(pid)),
        mib(peak.max(rss_bytes_of(pid))),
        (cpu_time() - bench_cpu0).as_secs_f64()
    );

    let verdict = verify(api, &stats, expected_touched, changes_done).await;
    let _ = phase_tx.send(Phase::Leave);
    report_errors(&stats);
    verdict
}

/// Waits for every agent's `SyncDone`; the sums of their `Added` and `Rejected`.
async fn wait_synced(
    reports: &mut mpsc::UnboundedReceiver<Report>,
    agents: usize,
) -> Result<(u64, u64), String> {
    let (mut added, mut rejected) = (0, 0);
    for _ in 0..agents {
        match tokio::time::timeout(PATIENCE, reports.recv()).await {
            Ok(Some(Report::Synced {
                added: a,
                rejected: r,
            })) => {
                added += a;
                rejected += r;
            }
            Ok(Some(Report::Failed(e))) => return Err(e),
            Ok(Some(Report::Changed(_))) => return Err("change before sync".to_owned()),
            Ok(None) => return Err("agents ended before their sync".to_owned()),
            Err(_) => return Err(format!("syncs not acknowledged within {PATIENCE:?}")),
        }
    }
    Ok((added, rejected))
}

async fn wait_changed(
    reports: &mut mpsc::UnboundedReceiver<Report>,
    agents: usize,
) -> Result<Vec<ChangeStats>, String> {
    let mut stats = Vec::with_capacity(agents);
    while stats.len() < agents {
        match tokio::time::timeout(PATIENCE, reports.recv()).await {
            Ok(Some(Report::Changed(s))) => stats.push(s),
            Ok(Some(Report::Failed(e))) => return Err(e),
            Ok(Some(Report::Synced { .. })) => {}
            Ok(None) => return Err("agents ended before their changes".to_owned()),
            Err(_) => return Err(format!("changes not done within {PATIENCE:?}")),
        }
    }
    stats.sort_by_key(|s| s.agent);
    Ok(stats)
}

/// Polls until the analyzer shows every agent's last change and the expected number of
/// touched nodes; prints how long after the last change that took.
async fn verify(
    api: SocketAddr,
    stats: &[ChangeStats],
    expected_touched: u64,
    since: Instant,
) -> Result<(), String> {
    let deadline = since + Duration::from_secs(120);
    loop {
        let touched = query_count(api, "G.V().Has('BenchSeq').Count()").await?;
        let stale = stale_agents(api, stats).await?;
        if touched == expected_touched && stale.is_empty() {
            println!(
                "final state: every agent's last change visible {:.2} s after the change phase \
                 ended; {touched} nodes carry a BenchSeq (expected {expected_touched})",
                since.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "final state differs: {touched} nodes carry a BenchSeq (expected \
                 {expected_touched}); {} agents' last change missing, first: {:?}",
                stale.len(),
                stale.first()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Agents whose last change the analyzer does not show: (agent, what it shows).
async fn stale_agents(
    api: SocketAddr,
    stats: &[ChangeStats],
) -> Result<Vec<(usize, Value)>, String> {
    let mut stale = Vec::new();
    for s in stats {
        let Some((id, k)) = &s.last else { continue };
        let q = format!("G.V('{id}').Values('BenchSeq')");
        let v = tokio::task::spawn_blocking(move || gremlin(api, &q))
            .await
            .map_err(|e| e.to_string())??;
        if v != json!([k]) {
            stale.push((s.agent, v));
        }
    }
    Ok(stale)
}

fn report_errors(stats: &[ChangeStats]) {
    let errors: u64 = stats.iter().map(|s| s.errors).sum();
    let requests: u64 = stats.iter().map(|s| s.sync_requests).sum();
    let first = stats.iter().find_map(|s| s.first_error.clone());
    println!(
        "analyzer answers: {errors} Error, {requests} SyncRequest{}",
        first.map_or_else(String::new, |e| format!(" (first: {e})"))
    );
}

async fn query_count(api: SocketAddr, q: &str) -> Result<u64, String> {
    let q = q.to_owned();
    tokio::task::spawn_blocking(move || gremlin_count(api, &q))
        .await
        .map_err(|e| e.to_string())?
}

/// Polls a count until it reaches `want`; the count and when (since `t0`).
async fn wait_count(
    api: SocketAddr,
    q: &str,
    want: u64,
    t0: Instant,
) -> Result<(u64, Duration), String> {
    loop {
        let n = query_count(api, q).await?;
        if n >= want {
            return Ok((n, t0.elapsed()));
        }
        if t0.elapsed() > PATIENCE {
            return Err(format!("{q} answers {n}, expected {want}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What one agent task needs besides its graph.
struct AgentCtx {
    index: usize,
    url: String,
    phase: watch::Receiver<Phase>,
    report: mpsc::UnboundedSender<Report>,
    rate: u64,
    secs: u64,
}

async fn agent_task(agent: SimAgent, ctx: AgentCtx) {
    let report = ctx.report.clone();
    if let Err(e) = agent_session(agent, ctx).await {
        let _ = report.send(Report::Failed(e));
    }
}

async fn agent_session(mut agent: SimAgent, mut ctx: AgentCtx) -> Result<(), String> {
    let ws = connect(&ctx.url, &agent.host_id).await?;
    let (mut tx, rx) = ws.split();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let reader = read_analyzer(rx, done_tx);
    let mut seq = 0u64;
    for (kind, obj) in agent.sync_messages() {
        seq += 1;
        send(&mut tx, seq, kind, &obj).await?;
    }
    let done = tokio::time::timeout(PATIENCE, done_rx.recv())
        .await
        .map_err(|_| format!("{}: no SyncDone", agent.host_id))?
        .ok_or_else(|| {
            let closed = reader.1.lock().expect("answers lock").closed.clone();
            format!(
                "{}: connection closed before SyncDone (analyzer's close frame: {closed:?})",
                agent.host_id
            )
        })?;
    let _ = ctx.report.send(Report::Synced {
        added: done["Added"].as_u64().unwrap_or(0),
        rejected: done["Rejected"].as_u64().unwrap_or(0),
    });
    wait_phase(&mut ctx.phase, Phase::Change).await;
    let mut stats = ChangeStats {
        agent: ctx.index,
        ..ChangeStats::default()
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1) / ctx.rate as u32);
    for k in 0..ctx.rate * ctx.secs {
        tick.tick().await;
        let (i, kind, obj) = agent.change(k);
        seq += 1;
        if let Err(e) = send(&mut tx, seq, kind, &obj).await {
            let closed = reader.1.lock().expect("answers lock").closed.clone();
            return Err(format!(
                "{}: {e} (analyzer closed: {closed:?})",
                agent.host_id
            ));
        }
        stats.sent += 1;
        stats.last = Some((agent.node_ids[i].clone(), k));
    }
    // The analyzer's answers so far; the reader keeps the connection alive (pongs) meanwhile.
    let (errors, requests, first) = reader_counts(&reader);
    (stats.errors, stats.sync_requests, stats.first_error) = (errors, requests, first);
    let _ = ctx.report.send(Report::Changed(stats));
    wait_phase(&mut ctx.phase, Phase::Leave).await;
    seq += 1;
    let _ = send(&mut tx, seq, "Bye", "{}").await;
    let _ = tx.close().await;
    Ok(())
}

async fn connect(url: &str, host_id: &str) -> Result<Ws, String> {
    let mut req = url
        .into_client_request()
        .map_err(|e| format!("{url}: {e}"))?;
    let h = req.headers_mut();
    let hv = |s: &str| s.parse().expect("ASCII header value");
    h.insert("X-Host-ID", hv(host_id));
    h.insert("X-Client-Type", hv("agent"));
    h.insert("X-Skydive-Agent-Protocol", hv("1"));
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .map_err(|e| format!("{host_id}: cannot connect to {url}: {e}"))?;
    Ok(ws)
}

async fn send(
    tx: &mut SplitSink<Ws, Message>,
    seq: u64,
    kind: &str,
    obj: &str,
) -> Result<(), String> {
    let frame = format!("{{\"Seq\":{seq},\"Type\":\"{kind}\",\"Obj\":{obj}}}");
    tx.send(Message::text(frame))
        .await
        .map_err(|e| format!("sending {kind} (Seq {seq}): {e}"))
}

async fn wait_phase(rx: &mut watch::Receiver<Phase>, want: Phase) {
    let _ = rx.wait_for(|p| *p == want).await;
}

/// What the analyzer said on one connection.
#[derive(Default)]
struct Answers {
    errors: u64,
    sync_requests: u64,
    first_error: Option<String>,
    /// Why the analyzer closed the connection, if it did.
    closed: Option<String>,
}

type SharedAnswers = Arc<std::sync::Mutex<Answers>>;

/// Reads the analyzer's messages: hands `SyncDone` over, counts `Error` and `SyncRequest`.
fn read_analyzer(
    mut rx: SplitStream<Ws>,
    done: mpsc::UnboundedSender<Value>,
) -> (tokio::task::JoinHandle<()>, SharedAnswers) {
    let answers = SharedAnswers::default();
    let shared = answers.clone();
    let task = tokio::spawn(async move {
        while let Some(Ok(msg)) = rx.next().await {
            let text = match msg {
                Message::Text(text) => text,
                Message::Close(frame) => {
                    let why = frame.map_or_else(|| "no reason".to_owned(), |f| f.to_string());
                    shared.lock().expect("answers lock").closed = Some(why);
                    break;
                }
                _ => continue,
            };
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let mut a = shared.lock().expect("answers lock");
            match v["Type"].as_str() {
                Some("SyncDone") => {
                    let _ = done.send(v["Obj"].clone());
                }
                Some("Error") => {
                    a.errors += 1;
                    a.first_error.get_or_insert_with(|| v["Obj"].to_string());
                }
                Some("SyncRequest") => a.sync_requests += 1,
                _ => {}
            }
        }
    });
    (task, answers)
}

fn reader_counts(
    reader: &(tokio::task::JoinHandle<()>, SharedAnswers),
) -> (u64, u64, Option<String>) {
    let a = reader.1.lock().expect("answers lock");
    (a.errors, a.sync_requests, a.first_error.clone())
}

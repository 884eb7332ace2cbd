//! The agent's analyzer client: forwards the agent's graph to one analyzer at a time over
//! `/ws/agent/topology` ([`crate::protocol`], `docs/protocol.md`).
//!
//! On each connection: a full sync (the graph and a subscription to its changes taken
//! atomically, sent as `SyncBegin`, chunks of about `agent.sync_chunk_bytes`, `SyncEnd`:
//! [`super::sync_chunks`]), then every change as a delta, in order.
//!
//! Queues and losses: changes wait in the graph's event ring, then in the connection's send
//! queue (`http.ws.queue_size` messages). Neither blocks the probes. When the ring overwrites
//! changes the forwarder had not read, or the send queue is full, the changes are counted as
//! dropped and the forwarder sends a new full sync as soon as the queue has room again, so
//! the analyzer never silently misses a change. An element too large for one message
//! (`http.ws.max_message_bytes`) is skipped, with the edges touching it, and counted.
//!
//! Analyzers: `agent.analyzers` is tried in order; the agent forwards to the first that
//! accepts it and stays there. When that connection is lost it tries the next one, and so on
//! round the list; after a round where none answered it waits (0.5 s doubling to
//! `agent.reconnect_max_secs`, with jitter) and starts again. Keepalive: the agent pings
//! every `http.ws.ping_delay` seconds and drops an analyzer silent for
//! `ping_delay + pong_timeout`. On stop it says `Bye`, so the analyzer removes its subgraph
//! at once.
//!
//! Captures and flows (protocol features `captures` and `flows`, offered in the handshake
//! and used when the analyzer names them too): the analyzer's `Captures` list goes to the
//! agent's capture manager ([`super::captures`]); the captures' flow batches go out as
//! `Flows` messages. Flow batches never trigger a resync: one the send queue cannot take is
//! dropped, and the count goes in the next `Flows` message (`Dropped`) and `/api/status`
//! (`Forwarder.FlowsDropped`). While no analyzer is connected, batches wait in the capture
//! queue, whose overflow the captures count.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Value, json};
use skydive_graph::{GraphEvent, Id, Received, SharedGraph, Subscription};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::sync_chunks::SyncCursor;
use crate::captures::Capture;
use crate::protocol::{self, AnalyzerMessage, PartialOut, SyncDone, features, types};
use crate::ws::WsConfig;

/// First wait after a round of failed connections.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// How long a connection attempt (TCP + handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a forwarder that lost changes checks whether it can resync.
const RESYNC_CHECK: Duration = Duration::from_millis(50);
/// Least time between two syncs asked for by the analyzer.
const MIN_REQUESTED_RESYNC: Duration = Duration::from_secs(1);
/// How long `Bye` may take to leave on stop.
const BYE_WAIT: Duration = Duration::from_secs(3);
/// Messages written before the socket is flushed.
const WRITE_BATCH: usize = 256;

/// What the forwarder needs.
#[derive(Debug, Clone)]
pub(crate) struct ForwarderConfig {
    pub host_id: String,
    /// `host:port`, `ws://host:port[/path]` or `http://host:port`.
    pub analyzers: Vec<String>,
    pub ws: WsConfig,
    pub chunk_bytes: usize,
    pub backoff_max: Duration,
}

/// The WebSocket URL of an analyzer address.
pub(crate) fn analyzer_url(addr: &str) -> String {
    let a = addr.trim().trim_end_matches('/');
    let (scheme, rest) = match a.split_once("://") {
        Some(("http", r)) => ("ws", r),
        Some(("https", r)) => ("wss", r),
        Some((s, r)) => (s, r),
        None => ("ws", a),
    };
    if rest.contains('/') {
        format!("{scheme}://{rest}")
    } else {
        format!("{scheme}://{rest}{}", protocol::ENDPOINT)
    }
}

/// Counters of the forwarder, over every connection.
#[derive(Debug, Default, Serialize)]
struct Counters {
    /// Graph changes sent as deltas.
    #[serde(rename = "Events", serialize_with = "atomic")]
    events: AtomicU64,
    /// Messages written to analyzers (sync messages included).
    #[serde(rename = "Sent", serialize_with = "atomic")]
    sent: AtomicU64,
    /// Changes lost before they could be sent (event ring overwritten, send queue full); each
    /// loss is repaired by a resync.
    #[serde(rename = "Dropped", serialize_with = "atomic")]
    dropped: AtomicU64,
    /// Elements (or changes) too large for one message, not sent.
    #[serde(rename = "Oversized", serialize_with = "atomic")]
    oversized: AtomicU64,
    /// Full syncs sent.
    #[serde(rename = "Syncs", serialize_with = "atomic")]
    syncs: AtomicU64,
    /// Of those, syncs sent to repair losses or because the analyzer asked.
    #[serde(rename = "Resyncs", serialize_with = "atomic")]
    resyncs: AtomicU64,
    /// Connections established.
    #[serde(rename = "Connects", serialize_with = "atomic")]
    connects: AtomicU64,
    /// Connection attempts that failed, and connections lost.
    #[serde(rename = "Failures", serialize_with = "atomic")]
    failures: AtomicU64,
    /// Flow updates sent in `Flows` messages.
    #[serde(rename = "FlowsSent", serialize_with = "atomic")]
    flows_sent: AtomicU64,
    /// Flow updates dropped: the send queue was full, or the analyzer takes no flows.
    #[serde(rename = "FlowsDropped", serialize_with = "atomic")]
    flows_dropped: AtomicU64,
}

fn atomic<S: serde::Serializer>(v: &AtomicU64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(v.load(Relaxed))
}

/// One configured analyzer, as `/api/status` shows it.
#[derive(Debug, Default, Clone, Serialize)]
struct Slot {
    #[serde(rename = "URL")]
    url: String,
    /// `idle`, `connecting`, `syncing`, `synced`, `failed`.
    #[serde(rename = "State")]
    state: &'static str,
    #[serde(rename = "IsConnected")]
    is_connected: bool,
    #[serde(rename = "ConnectTime", skip_serializing_if = "Option::is_none")]
    connect_time: Option<String>,
    #[serde(rename = "LastError", skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(rename = "LastSync", skip_serializing_if = "Option::is_none")]
    last_sync: Option<SyncDone>,
}

/// What the forwarder shows in `/api/status`.
#[derive(Debug)]
pub(crate) struct ForwarderStatus {
    addrs: Vec<String>,
    slots: Mutex<Vec<Slot>>,
    /// Index of the analyzer in use, `usize::MAX` when none.
    active: AtomicUsize,
    counters: Counters,
}

impl ForwarderStatus {
    fn new(addrs: &[String]) -> Self {
        ForwarderStatus {
            addrs: addrs.to_vec(),
            slots: Mutex::new(
                addrs
                    .iter()
                    .map(|a| Slot {
                        url: analyzer_url(a),
                        state: "idle",
                        ..Slot::default()
                    })
                    .collect(),
            ),
            active: AtomicUsize::new(usize::MAX),
            counters: Counters::default(),
        }
    }

    fn with(&self, i: usize, f: impl FnOnce(&mut Slot)) {
        if let Some(s) = self.slots.lock().get_mut(i) {
            f(s);
        }
    }

    /// `Analyzers` of the agent's `/api/status`: one entry per configured address.
    pub fn analyzers(&self) -> Value {
        let active = self.active.load(Relaxed);
        let slots = self.slots.lock();
        let mut m = serde_json::Map::new();
        for (i, (addr, s)) in self.addrs.iter().zip(slots.iter()).enumerate() {
            let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
            if let Value::Object(o) = &mut v {
                o.insert("Active".into(), Value::Bool(i == active));
            }
            m.insert(addr.clone(), v);
        }
        Value::Object(m)
    }

    /// Counters over every connection.
    pub fn counters(&self) -> Value {
        serde_json::to_value(&self.counters).unwrap_or(Value::Null)
    }

    /// Whether the analyzer in use has acknowledged a full sync.
    pub fn is_synced(&self) -> bool {
        let i = self.active.load(Relaxed);
        self.slots
            .lock()
            .get(i)
            .is_some_and(|s| s.state == "synced")
    }
}

/// What links the forwarder to the agent's captures.
pub(crate) struct CaptureLinks {
    /// The captures' flow batches, to send.
    pub flows: mpsc::Receiver<skydive_probes::capture::FlowBatch>,
    /// Where the analyzer's capture list goes.
    pub captures: tokio::sync::watch::Sender<Option<Vec<Capture>>>,
}

/// A running forwarder.
pub(crate) struct Forwarder {
    status: Arc<ForwarderStatus>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Forwarder {
    pub fn start(cfg: ForwarderConfig, graph: SharedGraph, links: CaptureLinks) -> Forwarder {
        let status = Arc::new(ForwarderStatus::new(&cfg.analyzers));
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(cfg, graph, links, status.clone(), stop.clone()));
        Forwarder { status, stop, task }
    }

    pub fn status(&self) -> &Arc<ForwarderStatus> {
        &self.status
    }

    /// Says `Bye` to the analyzer in use (if any) and stops.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::warn!("analyzer forwarder task failed: {e}");
        }
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn run(
    cfg: ForwarderConfig,
    graph: SharedGraph,
    mut links: CaptureLinks,
    status: Arc<ForwarderStatus>,
    stop: CancellationToken,
) {
    let n = cfg.analyzers.len();
    if n == 0 {
        return;
    }
    let mut next = 0usize;
    let mut backoff = BACKOFF_MIN;
    loop {
        let mut delivered = false;
        for k in 0..n {
            let i = (next + k) % n;
            if stop.is_cancelled() {
                return;
            }
            status.with(i, |s| s.state = "connecting");
            let url = analyzer_url(&cfg.analyzers[i]);
            let attempt = tokio::select! {
                r = connect(&url, &cfg) => r,
                _ = stop.cancelled() => return,
            };
            let (ws, offered) = match attempt {
                Ok(c) => c,
                Err(e) => {
                    status.counters.failures.fetch_add(1, Relaxed);
                    tracing::debug!(analyzer = %url, "cannot connect: {e}");
                    status.with(i, |s| {
                        s.state = "failed";
                        s.last_error = Some(e);
                    });
                    continue;
                }
            };
            tracing::info!(analyzer = %url, "connected to analyzer");
            status.counters.connects.fetch_add(1, Relaxed);
            status.active.store(i, Relaxed);
            status.with(i, |s| {
                s.is_connected = true;
                s.connect_time =
                    Some(humantime::format_rfc3339_millis(SystemTime::now()).to_string());
                s.last_error = None;
            });
            let mut session = Session::new(&cfg, &graph, &status, i);
            session.flows_on = features::listed(&offered, features::FLOWS);
            let end = session.run(ws, &stop, &mut links).await;
            status.active.store(usize::MAX, Relaxed);
            let stopped = matches!(end, End::Stopped);
            status.with(i, |s| {
                s.is_connected = false;
                s.state = if stopped { "idle" } else { "failed" };
                if let End::Lost(why) = &end {
                    s.last_error = Some(why.clone());
                }
            });
            if stopped {
                return;
            }
            if let End::Lost(why) = &end {
                status.counters.failures.fetch_add(1, Relaxed);
                tracing::warn!(analyzer = %url, "connection to analyzer lost: {why}");
            }
            if session.synced {
                delivered = true;
                backoff = BACKOFF_MIN;
            }
            // Fail over: start the next round with the analyzer after this one.
            next = (i + 1) % n;
            break;
        }
        if delivered {
            continue;
        }
        let wait = jitter(backoff);
        tracing::debug!(
            wait_ms = wait.as_millis() as u64,
            "no analyzer reachable; retrying later"
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(cfg.backoff_max.max(BACKOFF_MIN));
    }
}

/// `d` ± 20%, so many agents do not reconnect in step.
fn jitter(d: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let f = 0.8 + f64::from(nanos % 1000) / 2500.0;
    d.mul_f64(f)
}

/// Connects; returns the socket and the features the analyzer answered with.
async fn connect(url: &str, cfg: &ForwarderConfig) -> Result<(Ws, String), String> {
    let mut req = url
        .into_client_request()
        .map_err(|e| format!("invalid analyzer address `{url}`: {e}"))?;
    let h = req.headers_mut();
    let mut put = |k: &'static str, v: &str| -> Result<(), String> {
        let v = v
            .parse()
            .map_err(|_| format!("host id `{v}` cannot be sent in a header"))?;
        h.insert(k, v);
        Ok(())
    };
    put("X-Host-ID", &cfg.host_id)?;
    put("X-Client-Type", protocol::CLIENT_TYPE)?;
    put(protocol::VERSION_HEADER, &protocol::VERSION.to_string())?;
    put(protocol::FEATURES_HEADER, &features::SUPPORTED.join(","))?;
    let max = cfg.ws.max_message_bytes.max(1024);
    let wsc = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let r = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(req, Some(wsc), true),
    )
    .await
    .map_err(|_| format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()))?;
    match r {
        Ok((ws, resp)) => {
            let speaks = resp
                .headers()
                .get(protocol::VERSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if speaks != protocol::VERSION.to_string() {
                return Err(format!(
                    "the analyzer does not speak agent protocol version {} (it answered `{speaks}`)",
                    protocol::VERSION
                ));
            }
            let offered = resp
                .headers()
                .get(protocol::FEATURES_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            Ok((ws, offered))
        }
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_deref()
                .map(|b| {
                    serde_json::from_slice::<Value>(b)
                        .ok()
                        .and_then(|v| v["error"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| String::from_utf8_lossy(b).into_owned())
                })
                .unwrap_or_default();
            Err(format!("refused with HTTP {}: {body}", resp.status()))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Why a session ended.
enum End {
    /// The agent stops (`Bye` sent).
    Stopped,
    /// The connection failed or the analyzer went away.
    Lost(String),
}

/// What the session hands its writer.
enum Out {
    Msg(&'static str, String),
    Close(u16, &'static str),
}

/// One connection to an analyzer.
struct Session<'a> {
    cfg: &'a ForwarderConfig,
    graph: &'a SharedGraph,
    status: &'a Arc<ForwarderStatus>,
    slot: usize,
    generation: u64,
    /// Whether the analyzer acknowledged a sync on this connection.
    synced: bool,
    /// Elements too large to send, and the edges touching them.
    skipped: HashSet<Id>,
    max_obj: usize,
    /// The analyzer takes `Flows` messages.
    flows_on: bool,
    /// Flow updates dropped since the last `Flows` message.
    flows_dropped: u64,
}

impl<'a> Session<'a> {
    fn new(
        cfg: &'a ForwarderConfig,
        graph: &'a SharedGraph,
        status: &'a Arc<ForwarderStatus>,
        slot: usize,
    ) -> Self {
        Session {
            cfg,
            graph,
            status,
            slot,
            generation: 0,
            synced: false,
            skipped: HashSet::new(),
            max_obj: cfg
                .ws
                .max_message_bytes
                .max(1024)
                .saturating_sub(protocol::FRAME_OVERHEAD),
            flows_on: false,
            flows_dropped: 0,
        }
    }

    /// The graph and a subscription to what follows it, as a sync to send.
    fn start_sync(&mut self) -> (SyncCursor, Subscription) {
        self.generation += 1;
        self.skipped.clear();
        let ((nodes, edges), sub) = self.graph.subscribe_with(|g| {
            (
                g.nodes().cloned().collect::<Vec<_>>(),
                g.edges().cloned().collect::<Vec<_>>(),
            )
        });
        self.status.counters.syncs.fetch_add(1, Relaxed);
        self.status.with(self.slot, |s| s.state = "syncing");
        (
            SyncCursor::new(
                self.generation,
                nodes,
                edges,
                self.cfg.chunk_bytes.clamp(1024, self.max_obj),
                self.max_obj,
            ),
            sub,
        )
    }

    async fn run(&mut self, ws: Ws, stop: &CancellationToken, links: &mut CaptureLinks) -> End {
        let (sink, mut stream) = ws.split();
        let (tx, rx) = mpsc::channel::<Out>(self.cfg.ws.queue_size.max(16));
        let ping_every = Duration::from_secs(self.cfg.ws.ping_delay.max(1));
        let silence =
            Duration::from_secs(self.cfg.ws.ping_delay.max(1) + self.cfg.ws.pong_timeout.max(1));
        let writer = tokio::spawn(writer(sink, rx, ping_every, self.status.clone()));

        let (cursor, sub) = self.start_sync();
        let mut pending = Some(cursor);
        let mut sub = Some(sub);
        let mut desynced = false;
        let mut last_requested: Option<tokio::time::Instant> = None;
        let mut last_seen = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(RESYNC_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        let end = loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => {
                    let bye = async {
                        let _ = tx.send(Out::Msg(types::BYE, "{}".to_owned())).await;
                        let _ = tx.send(Out::Close(1000, "agent stopping")).await;
                    };
                    let _ = tokio::time::timeout(BYE_WAIT, bye).await;
                    break End::Stopped;
                }
                permit = tx.reserve(), if pending.is_some() => {
                    let Ok(permit) = permit else { break End::Lost("writer stopped".into()) };
                    let msg = pending.as_mut().and_then(|c| c.next(&mut self.skipped, &self.status.counters.oversized));
                    match msg {
                        Some((kind, obj)) => permit.send(Out::Msg(kind, obj)),
                        None => pending = None,
                    }
                }
                r = next_event(&mut sub), if pending.is_none() => {
                    match r {
                        // Waiting for a resync: the change is counted, the resync carries it.
                        Received::Event(_) if desynced => {
                            self.status.counters.dropped.fetch_add(1, Relaxed);
                        }
                        Received::Event(ev) => {
                            if let Err(lost) = self.forward(&tx, ev) {
                                if lost {
                                    break End::Lost("writer stopped".into());
                                }
                                desynced = true;
                            }
                        }
                        Received::Lagged(n) => {
                            self.status.counters.dropped.fetch_add(n, Relaxed);
                            if !desynced {
                                tracing::warn!(lost = n, "forwarder fell behind the graph's event ring: resyncing");
                            }
                            desynced = true;
                        }
                        Received::Closed => break End::Lost("the agent's graph is gone".into()),
                    }
                }
                _ = tick.tick(), if desynced && pending.is_none() => {
                    // Resync once the queue has drained to half: the sync then has room.
                    if tx.capacity() * 2 >= tx.max_capacity() {
                        self.status.counters.resyncs.fetch_add(1, Relaxed);
                        let (c, s) = self.start_sync();
                        pending = Some(c);
                        sub = Some(s);
                        desynced = false;
                    }
                }
                Some(batch) = links.flows.recv() => self.forward_flows(&tx, batch),
                m = stream.next() => {
                    last_seen = tokio::time::Instant::now();
                    match m {
                        Some(Ok(Message::Text(t))) => self.on_analyzer(t.as_bytes(), &mut desynced, &mut last_requested, &links.captures),
                        Some(Ok(Message::Binary(b))) => self.on_analyzer(&b, &mut desynced, &mut last_requested, &links.captures),
                        Some(Ok(Message::Close(frame))) => {
                            break End::Lost(match frame {
                                Some(f) => format!("analyzer closed the connection ({}: {})", u16::from(f.code), f.reason),
                                None => "analyzer closed the connection".to_owned(),
                            });
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => break End::Lost(e.to_string()),
                        None => break End::Lost("connection closed".to_owned()),
                    }
                }
                _ = tokio::time::sleep_until(last_seen + silence) => {
                    break End::Lost(format!("analyzer silent for {}s", silence.as_secs()));
                }
            }
        };
        drop(tx);
        match &end {
            End::Stopped => {
                let _ = tokio::time::timeout(BYE_WAIT, writer).await;
            }
            End::Lost(_) => writer.abort(),
        }
        end
    }

    /// Handles an analyzer message.
    fn on_analyzer(
        &mut self,
        bytes: &[u8],
        desynced: &mut bool,
        last_requested: &mut Option<tokio::time::Instant>,
        captures: &tokio::sync::watch::Sender<Option<Vec<Capture>>>,
    ) {
        match protocol::decode_analyzer(bytes) {
            Ok(AnalyzerMessage::Captures(list)) => {
                tracing::debug!(
                    captures = list.captures.len(),
                    "capture list from the analyzer"
                );
                captures.send_replace(Some(list.captures));
            }
            Ok(AnalyzerMessage::SyncDone(d)) => {
                if d.generation == self.generation {
                    self.synced = true;
                    self.status.with(self.slot, |s| {
                        s.state = "synced";
                        s.last_sync = Some(d);
                    });
                }
            }
            Ok(AnalyzerMessage::SyncRequest(r)) => {
                let now = tokio::time::Instant::now();
                if last_requested.is_some_and(|t| now < t + MIN_REQUESTED_RESYNC) {
                    tracing::debug!(
                        "analyzer asked for a sync again too soon; ignored: {}",
                        r.reason
                    );
                    return;
                }
                *last_requested = Some(now);
                tracing::info!("analyzer asked for a full sync: {}", r.reason);
                *desynced = true;
            }
            Ok(AnalyzerMessage::Error(e)) => {
                tracing::debug!(seq = ?e.seq, "analyzer refused a message: {}", e.error);
            }
            Ok(AnalyzerMessage::Unknown(kind)) => {
                tracing::debug!("ignoring analyzer message of unknown type `{kind}`");
            }
            Err(e) => tracing::debug!("unreadable analyzer message: {e}"),
        }
    }

    /// Queues a batch of flow updates as `Flows` messages (split to fit a message); what the
    /// queue cannot take, or an analyzer without the `flows` feature, drops (counted).
    fn forward_flows(&mut self, tx: &mpsc::Sender<Out>, batch: Vec<skydive_flow::Flow>) {
        let n = batch.len() as u64;
        if !self.flows_on {
            self.status.counters.flows_dropped.fetch_add(n, Relaxed);
            return;
        }
        let mut parts = vec![batch];
        while let Some(flows) = parts.pop() {
            let count = flows.len() as u64;
            let msg = protocol::FlowBatch {
                flows,
                dropped: self.flows_dropped,
            };
            let obj = serde_json::to_string(&msg).unwrap_or_default();
            if obj.len() > self.max_obj && msg.flows.len() > 1 {
                let mut first = msg.flows;
                let second = first.split_off(first.len() / 2);
                parts.push(second);
                parts.push(first);
                continue;
            }
            if obj.len() > self.max_obj || obj.is_empty() {
                self.status.counters.oversized.fetch_add(1, Relaxed);
                self.flows_dropped += count;
                self.status.counters.flows_dropped.fetch_add(count, Relaxed);
                continue;
            }
            match tx.try_send(Out::Msg(types::FLOWS, obj)) {
                Ok(()) => {
                    self.flows_dropped = 0;
                    self.status.counters.flows_sent.fetch_add(count, Relaxed);
                }
                Err(_) => {
                    self.flows_dropped += count;
                    self.status.counters.flows_dropped.fetch_add(count, Relaxed);
                }
            }
        }
    }

    /// Queues one change. `Err(false)`: the queue is full (changes lost, resync);
    /// `Err(true)`: the writer is gone.
    fn forward(&mut self, tx: &mpsc::Sender<Out>, ev: GraphEvent) -> Result<(), bool> {
        let Some((kind, obj)) = self.encode(&ev) else {
            return Ok(());
        };
        match tx.try_send(Out::Msg(kind, obj)) {
            Ok(()) => {
                self.status.counters.events.fetch_add(1, Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.status.counters.dropped.fetch_add(1, Relaxed);
                tracing::warn!(
                    "send queue to the analyzer is full (http.ws.queue_size): resyncing"
                );
                Err(false)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(true),
        }
    }

    /// A change as a message; `None` when it concerns an element too large to send.
    fn encode(&mut self, ev: &GraphEvent) -> Option<(&'static str, String)> {
        use GraphEvent::*;
        let id = ev
            .node()
            .map(|n| &n.id)
            .or_else(|| ev.edge().map(|e| &e.id))?;
        if let Some(e) = ev.edge()
            && (self.skipped.contains(&e.parent) || self.skipped.contains(&e.child))
        {
            return self.skip(id, ev);
        }
        let (kind, obj) = match ev {
            NodeAdded(n) => (types::NODE_ADDED, protocol::node_obj(n)),
            NodeUpdated(n) => (types::NODE_UPDATED, protocol::node_obj(n)),
            NodePartiallyUpdated(n, ops) if !self.skipped.contains(&n.id) => {
                if ops.iter().any(|o| o.key.contains('.')) {
                    // A top-level key with a dot would read as a path on the other side.
                    (types::NODE_UPDATED, protocol::node_obj(n))
                } else {
                    (
                        types::NODE_PARTIALLY_UPDATED,
                        partial(&n.id, n.updated_at, n.revision, ops),
                    )
                }
            }
            NodeDeleted(n) => (types::NODE_DELETED, deletion(&n.id, n.deleted_at)),
            EdgeAdded(e) => (types::EDGE_ADDED, protocol::edge_obj(e)),
            EdgeUpdated(e) => (types::EDGE_UPDATED, protocol::edge_obj(e)),
            EdgePartiallyUpdated(e, ops) if !self.skipped.contains(&e.id) => {
                if ops.iter().any(|o| o.key.contains('.')) {
                    (types::EDGE_UPDATED, protocol::edge_obj(e))
                } else {
                    (
                        types::EDGE_PARTIALLY_UPDATED,
                        partial(&e.id, e.updated_at, e.revision, ops),
                    )
                }
            }
            EdgeDeleted(e) => (types::EDGE_DELETED, deletion(&e.id, e.deleted_at)),
            NodePartiallyUpdated(..) | EdgePartiallyUpdated(..) => return self.skip(id, ev),
        };
        if matches!(ev, NodeDeleted(_) | EdgeDeleted(_)) && self.skipped.remove(id) {
            // The analyzer never had it.
            return None;
        }
        if obj.len() > self.max_obj {
            return self.skip(id, ev);
        }
        if matches!(
            ev,
            NodeAdded(_) | NodeUpdated(_) | EdgeAdded(_) | EdgeUpdated(_)
        ) {
            self.skipped.remove(id);
        }
        Some((kind, obj))
    }

    fn skip(&mut self, id: &Id, ev: &GraphEvent) -> Option<(&'static str, String)> {
        self.status.counters.oversized.fetch_add(1, Relaxed);
        if matches!(ev, GraphEvent::NodeDeleted(_) | GraphEvent::EdgeDeleted(_)) {
            self.skipped.remove(id);
        } else {
            self.skipped.insert(id.clone());
        }
        None
    }
}

fn partial(
    id: &Id,
    updated_at: skydive_graph::TimeMs,
    revision: i64,
    ops: &[skydive_graph::MetadataOp],
) -> String {
    serde_json::to_string(&PartialOut {
        id,
        updated_at,
        revision,
        ops,
    })
    .unwrap_or_else(|_| "null".to_owned())
}

fn deletion(id: &Id, at: Option<skydive_graph::TimeMs>) -> String {
    json!({"ID": id, "DeletedAt": at}).to_string()
}

async fn next_event(sub: &mut Option<Subscription>) -> Received {
    match sub {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes queued messages (numbering them), pings, and closes.
async fn writer(
    mut sink: futures::stream::SplitSink<Ws, Message>,
    mut rx: mpsc::Receiver<Out>,
    ping_every: Duration,
    status: Arc<ForwarderStatus>,
) {
    let mut seq = 0u64;
    let mut ping = tokio::time::interval(ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let frame = |seq: &mut u64, kind: &str, obj: &str| {
        *seq += 1;
        Message::Text(protocol::agent_frame(*seq, kind, obj).into())
    };
    loop {
        tokio::select! {
            m = rx.recv() => {
                let Some(first) = m else {
                    let _ = sink.close().await;
                    return;
                };
                let mut next = Some(first);
                let mut n = 0;
                while let Some(out) = next.take() {
                    match out {
                        Out::Msg(kind, obj) => {
                            if sink.feed(frame(&mut seq, kind, &obj)).await.is_err() {
                                return;
                            }
                            status.counters.sent.fetch_add(1, Relaxed);
                        }
                        Out::Close(code, reason) => {
                            let _ = sink
                                .send(Message::Close(Some(CloseFrame {
                                    code: code.into(),
                                    reason: reason.into(),
                                })))
                                .await;
                            let _ = sink.close().await;
                            return;
                        }
                    }
                    n += 1;
                    if n < WRITE_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_urls() {
        assert_eq!(
            analyzer_url("127.0.0.1:8082"),
            "ws://127.0.0.1:8082/ws/agent/topology"
        );
        assert_eq!(analyzer_url("http://a:1/"), "ws://a:1/ws/agent/topology");
        assert_eq!(analyzer_url("ws://a:1/custom"), "ws://a:1/custom");
    }

    #[test]
    fn jitter_stays_near_the_delay() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
    }
}

//! Agents for the tests: real in-process agents (`TestAgent`, with the probes) and a
//! hand-driven one speaking the protocol frame by frame (`FakeAgent`).

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use skydive_server::{Agent, AgentConfig, AgentSettings, HttpConfig, OvsKeys, RunningAgent};
use tokio_tungstenite::tungstenite::Message;

use crate::util::{PATIENCE, TestAnalyzer, Ws, ws_connect};

/// A host id unique to this test process.
pub fn host_id(role: &str) -> String {
    format!("t-{role}-{}", std::process::id())
}

pub fn agent_settings(host_id: &str, analyzers: Vec<String>) -> AgentSettings {
    AgentSettings {
        host_id: host_id.to_owned(),
        agent: AgentConfig {
            listen: "127.0.0.1:0".to_owned(),
            ..AgentConfig::default()
        },
        analyzers,
        ovs: OvsKeys::default(),
        flow: Default::default(),
        http: HttpConfig::default(),
        effective_config: json!({"host_id": host_id}),
    }
}

/// A real agent (host, hardware, netlink, netns probes) in this process.
pub struct TestAgent {
    pub host_id: String,
    pub addr: SocketAddr,
    running: Option<RunningAgent>,
    _run_dir: Option<tempfile::TempDir>,
}

impl TestAgent {
    /// An agent forwarding to `analyzer`, watching an empty private netns directory (so it
    /// only reports the host's namespace).
    pub async fn start(host_id: &str, analyzer: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut s = agent_settings(host_id, vec![analyzer.to_string()]);
        s.agent.topology.netns.run_path = dir.path().to_owned();
        Self::start_with(s, Some(dir)).await
    }

    pub async fn start_with(settings: AgentSettings, run_dir: Option<tempfile::TempDir>) -> Self {
        let host_id = settings.host_id.clone();
        let running = Agent::start(settings).await.expect("agent starts");
        TestAgent {
            host_id,
            addr: running.local_addr(),
            running: Some(running),
            _run_dir: run_dir,
        }
    }

    pub fn running(&self) -> &RunningAgent {
        self.running.as_ref().expect("running")
    }

    pub fn origin(&self) -> String {
        format!("agent.{}", self.host_id)
    }

    /// IDs of the agent's own nodes, sorted.
    pub fn node_ids(&self) -> Vec<String> {
        let g = self.running().graph().read();
        let mut ids: Vec<String> = g.nodes().map(|n| n.id.to_string()).collect();
        ids.sort();
        ids
    }

    /// Clean stop: `Bye`, probes stopped.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

/// IDs of the analyzer's nodes of `origin`, sorted.
pub async fn origin_node_ids(a: &TestAnalyzer, origin: &str) -> Vec<String> {
    let v = a
        .query(&format!("G.V().Has('@Origin', '{origin}').Values('@ID')"))
        .await;
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_str().expect("an id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// Waits until the analyzer holds exactly the agent's nodes under the agent's origin.
pub async fn wait_mirrored(a: &TestAnalyzer, agent: &TestAgent) {
    let origin = agent.origin();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let want = agent.node_ids();
        let got = origin_node_ids(a, &origin).await;
        if got == want && !want.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the analyzer does not mirror agent {}: it has {} nodes of {origin}, the agent {}",
            agent.host_id,
            got.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the analyzer holds the agent's nodes and edges with the same metadata.
pub async fn wait_identical(a: &TestAnalyzer, agent: &TestAgent) {
    use std::collections::BTreeMap;
    let origin = agent.origin();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let want: BTreeMap<String, Value> = {
            let g = agent.running().graph().read();
            g.nodes()
                .map(|n| (n.id.to_string(), serde_json::to_value(&n.metadata).unwrap()))
                .chain(
                    g.edges()
                        .map(|e| (e.id.to_string(), serde_json::to_value(&e.metadata).unwrap())),
                )
                .collect()
        };
        let mut got = BTreeMap::new();
        for q in ["V", "E"] {
            let v = a
                .query(&format!("G.{q}().Has('@Origin', '{origin}')"))
                .await;
            for e in v.as_array().unwrap_or(&Vec::new()) {
                got.insert(
                    e["ID"].as_str().unwrap_or_default().to_owned(),
                    e["Metadata"].clone(),
                );
            }
        }
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the analyzer's copy of agent {} differs: {} elements there, {} on the agent",
            agent.host_id,
            got.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A protocol client driven by hand, frame by frame.
pub struct FakeAgent {
    pub ws: Ws,
    seq: u64,
}

pub const PROTOCOL: (&str, &str) = ("X-Skydive-Agent-Protocol", "1");

impl FakeAgent {
    pub async fn connect(a: &TestAnalyzer, host: &str) -> Self {
        let ws = ws_connect(
            a.addr,
            "/ws/agent/topology",
            &[("X-Host-ID", host), ("X-Client-Type", "agent"), PROTOCOL],
        )
        .await
        .expect("agent handshake accepted");
        FakeAgent { ws, seq: 0 }
    }

    /// A client over an established connection (its first message gets `Seq` 1).
    pub fn from_ws(ws: Ws) -> Self {
        FakeAgent { ws, seq: 0 }
    }

    /// Sends a message with the next `Seq`.
    pub async fn send(&mut self, kind: &str, obj: Value) {
        self.seq += 1;
        self.send_raw(json!({"Seq": self.seq, "Type": kind, "Obj": obj}))
            .await;
    }

    pub async fn send_raw(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    /// A whole sync in one chunk; returns the analyzer's `SyncDone`.
    pub async fn sync(&mut self, generation: u64, nodes: Vec<Value>, edges: Vec<Value>) -> Value {
        self.send(
            "SyncBegin",
            json!({"Generation": generation, "Nodes": nodes.len(), "Edges": edges.len()}),
        )
        .await;
        self.send(
            "SyncChunk",
            json!({"Generation": generation, "Nodes": nodes, "Edges": edges}),
        )
        .await;
        self.send("SyncEnd", json!({"Generation": generation}))
            .await;
        self.recv_type("SyncDone").await
    }

    /// The next analyzer message (pings skipped); `None` when the connection closed, with
    /// the close frame's code.
    pub async fn recv(&mut self) -> Result<Value, Option<u16>> {
        loop {
            let m = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a message in time");
            match m {
                Some(Ok(Message::Text(t))) => {
                    return Ok(serde_json::from_str(&t).expect("JSON message"));
                }
                Some(Ok(Message::Close(c))) => return Err(c.map(|c| u16::from(c.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(None),
            }
        }
    }

    /// The next message of type `kind`, skipping others.
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let m = self
                .recv()
                .await
                .unwrap_or_else(|c| panic!("closed ({c:?}) while waiting for {kind}"));
            if m["Type"] == kind {
                return m["Obj"].clone();
            }
        }
    }
}

pub fn node(id: &str, name: &str, extra: Value) -> Value {
    let mut meta = json!({"Name": name, "Type": "device"});
    if let (Value::Object(m), Value::Object(x)) = (&mut meta, extra) {
        m.extend(x);
    }
    json!({"ID": id, "Metadata": meta, "Revision": 1})
}

pub fn edge(id: &str, parent: &str, child: &str) -> Value {
    json!({"ID": id, "Parent": parent, "Child": child, "Metadata": {"RelationType": "ownership"}, "Revision": 1})
}

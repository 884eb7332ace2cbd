//! A real analyzer on a free loopback port, an HTTP/1.1 client and a WebSocket client.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use skydive_server::{Analyzer, AnalyzerConfig, AnalyzerSettings, HttpConfig, RunningAnalyzer};
use skydive_store::HistoryConfig;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Upper bound on any wait, so a broken test fails instead of hanging. Not a timing claim.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct TestAnalyzer {
    pub addr: SocketAddr,
    running: Option<RunningAnalyzer>,
    _dir: Option<tempfile::TempDir>,
}

pub fn settings(data_dir: Option<&Path>) -> AnalyzerSettings {
    // Through serde, as the binary does: only the documented keys are relied upon.
    let history = data_dir.map(|d| {
        serde_json::from_value::<HistoryConfig>(json!({ "data_dir": d })).expect("history config")
    });
    AnalyzerSettings {
        host_id: "test-analyzer".to_owned(),
        analyzer: AnalyzerConfig {
            listen: "127.0.0.1:0".to_owned(),
            ..AnalyzerConfig::default()
        },
        http: HttpConfig::default(),
        history,
        flow: Default::default(),
        effective_config: json!({"host_id": "test-analyzer", "analyzer": {"listen": "127.0.0.1:0"}}),
    }
}

impl TestAnalyzer {
    /// An analyzer with history in a fresh temporary directory.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Same, with settings adjusted by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut AnalyzerSettings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut s = settings(Some(dir.path()));
        tweak(&mut s);
        let running = Analyzer::start(s).await.expect("analyzer starts");
        TestAnalyzer {
            addr: running.local_addr(),
            running: Some(running),
            _dir: Some(dir),
        }
    }

    /// An analyzer whose history lives in `dir` (which outlives it).
    pub async fn start_in(dir: &Path) -> Self {
        let running = Analyzer::start(settings(Some(dir)))
            .await
            .expect("analyzer starts");
        TestAnalyzer {
            addr: running.local_addr(),
            running: Some(running),
            _dir: None,
        }
    }

    /// An analyzer with exactly these settings (its history directory outlives it).
    pub async fn start_settings(s: AnalyzerSettings) -> Self {
        let running = Analyzer::start(s).await.expect("analyzer starts");
        TestAnalyzer {
            addr: running.local_addr(),
            running: Some(running),
            _dir: None,
        }
    }

    pub fn running(&self) -> &RunningAnalyzer {
        self.running.as_ref().expect("running")
    }

    /// Graceful stop: connections closed, history flushed and closed.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("clean shutdown");
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Resp {
        http(self.addr, method, path, body, headers).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.request(
            Method::POST,
            path,
            Some(body.to_string().as_bytes()),
            &[("Content-Type", "application/json")],
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.request(
            Method::PATCH,
            path,
            Some(body.to_string().as_bytes()),
            &[("Content-Type", "application/json")],
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.request(Method::DELETE, path, None, &[]).await
    }

    /// Runs a Gremlin query and returns the JSON answer (asserting a 200).
    pub async fn query(&self, gremlin: &str) -> Value {
        let r = self
            .post("/api/topology", &json!({ "GremlinQuery": gremlin }))
            .await;
        assert_eq!(r.status, 200, "{gremlin}: {}", r.text());
        r.json()
    }

    pub async fn ws(&self, path: &str, headers: &[(&str, &str)]) -> Ws {
        ws_connect(self.addr, path, headers)
            .await
            .expect("websocket connects")
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The message of a JSON error, asserting the shape `{"error": "…"}`.
    pub fn error(&self) -> String {
        assert!(
            self.content_type().starts_with("application/json"),
            "{}: {}",
            self.content_type(),
            self.text()
        );
        let v = self.json();
        assert_eq!(v.as_object().map(|m| m.len()), Some(1), "{v}");
        v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error string: {v}"))
            .to_owned()
    }
}

pub async fn http(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> Resp {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("Host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))
        .expect("request");
    let resp = tokio::time::timeout(PATIENCE, tx.send_request(req))
        .await
        .expect("answer in time")
        .expect("response");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Resp {
        status,
        headers,
        body,
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn ws_connect(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Ws, tungstenite::Error> {
    let mut req = format!("ws://{addr}{path}").into_client_request()?;
    for (k, v) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            v.parse().expect("header value"),
        );
    }
    let (ws, _) = tokio_tungstenite::connect_async(req).await?;
    Ok(ws)
}

/// The next `Graph` message (pings and pongs skipped).
pub async fn recv(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a message in time")
            .expect("connection open")
            .expect("frame");
        match m {
            Message::Text(t) => return serde_json::from_str(&t).expect("JSON message"),
            Message::Binary(b) => return serde_json::from_slice(&b).expect("JSON message"),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => continue,
        }
    }
}

/// Reads messages until one satisfies `pred`, returning it and those skipped.
pub async fn recv_until(ws: &mut Ws, mut pred: impl FnMut(&Value) -> bool) -> (Value, Vec<Value>) {
    let mut skipped = Vec::new();
    loop {
        let m = recv(ws).await;
        if pred(&m) {
            return (m, skipped);
        }
        skipped.push(m);
    }
}

pub async fn send(ws: &mut Ws, msg: &Value) {
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .expect("send");
}

/// A `Graph` message as clients send it.
pub fn msg(kind: &str, uuid: &str, obj: Value) -> Value {
    json!({"Namespace": "Graph", "Type": kind, "UUID": uuid, "Status": 200, "Obj": obj})
}

pub fn node_body(id: &str, name: &str, ty: &str) -> Value {
    json!({"ID": id, "Metadata": {"Name": name, "Type": ty}})
}

pub fn edge_body(id: &str, parent: &str, child: &str) -> Value {
    json!({"ID": id, "Parent": parent, "Child": child, "Metadata": {"RelationType": "ownership"}})
}

/// Polls `check` until it holds (for effects of a disconnect, which the server sees later).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// IDs of a JSON list of elements, sorted.
pub fn ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|e| e["ID"].as_str().expect("ID").to_owned())
        .collect();
    ids.sort();
    ids
}

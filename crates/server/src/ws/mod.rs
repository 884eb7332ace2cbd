//! WebSocket endpoints: `/ws/subscriber` (read the graph: sync, then live events) and
//! `/ws/publisher` (write the graph), speaking Skydive's JSON envelope ([`envelope`]).
//!
//! Handshake (Skydive's `graffiti/websocket/server.go`): the client names itself with
//! `X-Host-ID` (else its address is used) and `X-Client-Type` (required); `X-Client-Protocol`
//! must be `json` or absent; every header may instead be a lower-case query parameter
//! (`?x-host-id=…`, for browsers). A second connection with the same host id on the same
//! endpoint is refused with 409. The server answers with its own `X-Host-ID` and
//! `X-Service-Type: analyzer`.
//!
//! Each connection has one writer task fed by a bounded queue (`http.ws.queue_size`): what
//! does not fit is dropped and counted, and a subscriber that lost events is resynchronised
//! with a fresh `SyncReply`. The server pings every `http.ws.ping_delay` seconds and drops a
//! client silent for `ping_delay + pong_timeout`. Frames larger than
//! `http.ws.max_message_bytes` close the connection with code 1009.

mod agent;
pub mod envelope;
mod flow;
mod publisher;
mod subscriber;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{
    CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::ApiError;
use crate::conns::ConnCounters;
use crate::state::State as AppState;

pub(crate) use agent::agent_handler;
pub(crate) use flow::flow_subscriber_handler;
pub(crate) use publisher::publisher_handler;
pub(crate) use subscriber::subscriber_handler;

/// `http.ws.*`: WebSocket keep-alive, queues and limits (Skydive's key names; sizes and
/// durations of new keys carry their unit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WsConfig {
    /// Seconds between two pings to each client (Skydive: 2).
    pub ping_delay: u64,
    /// Seconds a client may stay silent after a ping before it is dropped (Skydive: 5).
    pub pong_timeout: u64,
    /// Messages a connection may have waiting to be sent; more are dropped, counted in
    /// `/api/status`, and a subscriber that lost some is resynchronised (Skydive: 10000).
    pub queue_size: usize,
    /// Accepted for compatibility with Skydive's configuration files; frames are sent
    /// uncompressed.
    pub enable_write_compression: bool,
    /// Largest message a client may send, in bytes; a larger one closes the connection
    /// with code 1009.
    pub max_message_bytes: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            ping_delay: 2,
            pong_timeout: 5,
            queue_size: 10_000,
            enable_write_compression: true,
            max_message_bytes: 64 * 1024 * 1024,
        }
    }
}

impl WsConfig {
    fn ping_every(&self) -> Duration {
        Duration::from_secs(self.ping_delay.max(1))
    }

    /// How long a client may stay silent.
    fn silence_limit(&self) -> Duration {
        Duration::from_secs(self.ping_delay.max(1) + self.pong_timeout.max(1))
    }
}

/// `X-Update-Policy`: how a subscriber receives metadata changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdatePolicy {
    /// `NodeUpdated`/`EdgeUpdated` with the whole element (default).
    Full,
    /// `NodePartiallyUpdated`/`EdgePartiallyUpdated` with the changed keys only.
    Partial,
}

impl UpdatePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdatePolicy::Full => "full",
            UpdatePolicy::Partial => "partial",
        }
    }
}

/// What a client said about itself when connecting.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub host_id: String,
    pub client_type: String,
    pub addr: SocketAddr,
    /// `X-Websocket-Namespace`: the client only wants these namespaces (empty: all).
    pub namespaces: Vec<String>,
    pub gremlin_filter: Option<String>,
    pub update_policy: UpdatePolicy,
    pub persistence_policy: Option<String>,
}

impl Handshake {
    /// Reads the handshake from headers, falling back to lower-case query parameters.
    pub fn parse(
        headers: &HeaderMap,
        query: Option<&str>,
        addr: SocketAddr,
    ) -> Result<Self, ApiError> {
        let params: Vec<(String, String)> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let get = |name: &str| -> Result<Option<String>, ApiError> {
            if let Some(v) = headers.get(name) {
                let v = v.to_str().map_err(|_| {
                    ApiError::bad_request(format!("header {name} is not valid text"))
                })?;
                if !v.is_empty() {
                    return Ok(Some(v.to_owned()));
                }
            }
            let lower = name.to_ascii_lowercase();
            Ok(params
                .iter()
                .find(|(k, v)| *k == lower && !v.is_empty())
                .map(|(_, v)| v.clone()))
        };
        let host_id = get("X-Host-ID")?.unwrap_or_else(|| addr.to_string());
        let client_type = get("X-Client-Type")?.ok_or_else(|| {
            ApiError::bad_request(
                "X-Client-Type header (or x-client-type query parameter) is required: say what \
                 connects, e.g. `X-Client-Type: webui`",
            )
        })?;
        match get("X-Client-Protocol")?.as_deref() {
            None | Some("json") => {}
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "X-Client-Protocol `{other}` is not supported here: use `json`"
                )));
            }
        }
        let update_policy = match get("X-Update-Policy")?
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("full") => UpdatePolicy::Full,
            Some("partial") => UpdatePolicy::Partial,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "invalid X-Update-Policy `{other}`: use `full` or `partial`"
                )));
            }
        };
        let mut namespaces: Vec<String> = headers
            .get_all("X-Websocket-Namespace")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        namespaces.extend(
            params
                .iter()
                .filter(|(k, _)| k == "x-websocket-namespace")
                .map(|(_, v)| v.clone()),
        );
        Ok(Handshake {
            host_id,
            client_type,
            addr,
            namespaces,
            gremlin_filter: get("X-Gremlin-Filter")?,
            update_policy,
            persistence_policy: get("X-Persistence-Policy")?,
        })
    }

    /// Whether this client wants messages of the `Graph` namespace.
    pub fn wants_graph(&self) -> bool {
        self.namespaces.is_empty()
            || self
                .namespaces
                .iter()
                .any(|n| n == envelope::NAMESPACE || n == "*")
    }

    /// Skydive's origin of what this client writes: `<client type>.<host id>`.
    pub fn origin(&self) -> String {
        format!("{}.{}", self.client_type, self.host_id)
    }
}

/// What `/ws/subscriber` and `/ws/publisher` check first: a WebSocket upgrade with a valid
/// handshake, or the refusal to answer with.
pub(crate) fn accept(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    headers: &HeaderMap,
    query: Option<&str>,
    addr: SocketAddr,
) -> Result<(WebSocketUpgrade, Handshake), ApiError> {
    let ws = ws.map_err(upgrade_rejection)?;
    let hs = Handshake::parse(headers, query, addr)?;
    Ok((ws, hs))
}

/// Answers the handshake (with the size limits and the server's identity) and runs
/// `session` on the socket, tracked so that shutdown waits for it.
pub(crate) fn upgrade<F, Fut>(ws: WebSocketUpgrade, state: &AppState, session: F) -> Response
where
    F: FnOnce(WebSocket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let tasks = state.tasks.clone();
    let resp =
        limit(ws, &state.http.ws).on_upgrade(move |socket| tasks.track_future(session(socket)));
    identify(resp, &state.host_id)
}

/// The upgrade extractor's refusals, as JSON errors.
pub(crate) fn upgrade_rejection(r: WebSocketUpgradeRejection) -> ApiError {
    ApiError::new(
        r.status(),
        format!("{} (this endpoint only speaks WebSocket)", r.body_text()),
    )
}

/// Adds the server's identity to the upgrade response.
fn identify(mut resp: Response, host_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(host_id) {
        resp.headers_mut().insert("X-Host-ID", v);
    }
    resp.headers_mut()
        .insert("X-Service-Type", HeaderValue::from_static("analyzer"));
    resp
}

/// Configures the upgrade with the size limits.
fn limit(ws: WebSocketUpgrade, cfg: &WsConfig) -> WebSocketUpgrade {
    let max = cfg.max_message_bytes.max(1024);
    ws.max_message_size(max).max_frame_size(max)
}

/// What the session hands the writer task.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Text(String),
    Close(u16, String),
}

/// The sending half of a connection: a bounded queue to its writer task.
#[derive(Clone)]
pub(crate) struct Sender {
    tx: mpsc::Sender<Outgoing>,
    counters: Arc<ConnCounters>,
}

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The queue is full: the message was dropped (and counted).
    Full,
    /// The writer is gone: the connection is closing.
    Closed,
}

impl Sender {
    /// Queues a message without waiting; a full queue drops it and counts the drop.
    pub fn send(&self, text: String) -> Result<(), SendError> {
        use std::sync::atomic::Ordering::Relaxed;
        match self.tx.try_send(Outgoing::Text(text)) {
            Ok(()) => {
                self.counters.sent.fetch_add(1, Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.counters.dropped.fetch_add(1, Relaxed);
                Err(SendError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
        }
    }

    /// Free slots in the queue.
    pub fn capacity(&self) -> usize {
        self.tx.capacity()
    }

    pub fn max_capacity(&self) -> usize {
        self.tx.max_capacity()
    }

    /// Asks the writer to close the connection after what is queued.
    pub async fn close(&self, code: u16, reason: impl Into<String>) {
        let _ = self.tx.send(Outgoing::Close(code, reason.into())).await;
    }
}

/// Splits a socket: spawns its writer task (queue and pings per `http.ws`, stopped on the
/// server's shutdown) and returns the queue's sending half and the socket's receiving half.
pub(crate) fn start_writer(
    socket: WebSocket,
    state: &AppState,
    counters: Arc<ConnCounters>,
) -> (Sender, futures::stream::SplitStream<WebSocket>) {
    let cfg = &state.http.ws;
    let (sink, stream) = socket.split();
    let (tx, rx) = mpsc::channel(cfg.queue_size.max(1));
    state
        .tasks
        .spawn(writer(sink, rx, cfg.ping_every(), state.shutdown.clone()));
    (Sender { tx, counters }, stream)
}

async fn writer(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outgoing>,
    ping_every: Duration,
    shutdown: CancellationToken,
) {
    let mut ping = tokio::time::interval(ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let msg = tokio::select! {
            // Shutdown first: a session that stops on shutdown drops its queue too, and the
            // client should learn why (1001) rather than see a bare close.
            biased;
            _ = shutdown.cancelled() => {
                let frame = CloseFrame { code: 1001, reason: "analyzer shutting down".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
            m = rx.recv() => match m {
                Some(Outgoing::Text(t)) => Message::Text(t.into()),
                Some(Outgoing::Close(code, reason)) => {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
                None => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            },
            _ = ping.tick() => Message::Ping(Default::default()),
        };
        if sink.send(msg).await.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
}

/// What the reader got from the socket.
pub(crate) enum Frame {
    /// A message's bytes (text, or binary holding JSON).
    Data(bytes::Bytes),
    /// Keep-alive or other control traffic.
    Control,
    /// The peer closed, or the connection failed.
    Gone,
    /// The peer sent more than `max_message_bytes`: closed with 1009.
    TooBig(String),
}

/// Classifies one read from the socket.
pub(crate) fn frame(r: Option<Result<Message, axum::Error>>, cfg: &WsConfig) -> Frame {
    match r {
        None => Frame::Gone,
        Some(Ok(Message::Text(t))) => Frame::Data(bytes::Bytes::from(t)),
        Some(Ok(Message::Binary(b))) => Frame::Data(b),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Frame::Control,
        Some(Ok(Message::Close(_))) => Frame::Gone,
        Some(Err(e)) => {
            use tokio_tungstenite::tungstenite::Error as WsError;
            let mut too_big = false;
            let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = src {
                if let Some(WsError::Capacity(_)) = s.downcast_ref::<WsError>() {
                    too_big = true;
                }
                src = s.source();
            }
            let text = e.to_string();
            if too_big || text.contains("Space limit exceeded") {
                Frame::TooBig(format!(
                    "message larger than http.ws.max_message_bytes ({} bytes)",
                    cfg.max_message_bytes
                ))
            } else {
                tracing::debug!("websocket read failed: {text}");
                Frame::Gone
            }
        }
    }
}

/// Status code of a refused handshake.
pub(crate) fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError::new(status, message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:4000".parse().unwrap()
    }

    #[test]
    fn handshake_reads_headers_then_query_parameters() {
        let mut h = HeaderMap::new();
        h.insert("X-Host-ID", "h1".parse().unwrap());
        h.insert("X-Client-Type", "webui".parse().unwrap());
        let hs = Handshake::parse(
            &h,
            Some("x-gremlin-filter=G.V().Has(%27Type%27%2C%27host%27)&x-update-policy=partial"),
            addr(),
        )
        .unwrap();
        assert_eq!(hs.host_id, "h1");
        assert_eq!(hs.origin(), "webui.h1");
        assert_eq!(
            hs.gremlin_filter.as_deref(),
            Some("G.V().Has('Type','host')")
        );
        assert_eq!(hs.update_policy, UpdatePolicy::Partial);
        assert!(hs.wants_graph());

        let hs = Handshake::parse(
            &HeaderMap::new(),
            Some("x-client-type=cli&x-websocket-namespace=Flow"),
            addr(),
        )
        .unwrap();
        assert_eq!(hs.host_id, "127.0.0.1:4000");
        assert!(!hs.wants_graph());
    }

    #[test]
    fn handshake_errors_say_what_to_send() {
        let e = Handshake::parse(&HeaderMap::new(), None, addr()).unwrap_err();
        assert!(e.message.contains("X-Client-Type"), "{}", e.message);
        let mut h = HeaderMap::new();
        h.insert("X-Client-Type", "a".parse().unwrap());
        h.insert("X-Client-Protocol", "protobuf".parse().unwrap());
        assert!(
            Handshake::parse(&h, None, addr())
                .unwrap_err()
                .message
                .contains("use `json`")
        );
        h.remove("X-Client-Protocol");
        h.insert("X-Update-Policy", "sometimes".parse().unwrap());
        assert!(
            Handshake::parse(&h, None, addr())
                .unwrap_err()
                .message
                .contains("`full` or `partial`")
        );
    }
}

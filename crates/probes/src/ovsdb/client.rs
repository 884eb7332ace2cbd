//! An OVSDB client (RFC 7047) over `unix:` or `tcp:`: requests with replies (`transact`,
//! `monitor`, `get_schema`, `list_dbs`, `echo`), server notifications (`update`) on a bounded
//! channel, and the server's `echo` keep-alives answered automatically.
//!
//! One [`OvsdbClient`] is one connection, driven by one tokio task. Clones share it; when the
//! last clone is dropped the connection closes. When the connection ends (server gone, a
//! framing error, an inactivity timeout), every pending and later call fails with
//! [`ClientError::Closed`] carrying the reason, and the notification channel ends. The client
//! does not reconnect: callers that must survive server restarts (the `ovsdb` probe) connect
//! again and re-issue their `monitor`.
//!
//! Bounds: every message is framed by [`super::jsonrpc::Framer`] with the size and depth
//! limits of [`ClientOptions`]; a message that is delimited but malformed is logged, counted
//! in [`ClientStats::malformed`] and skipped. Notifications go to a channel of
//! [`ClientOptions::notification_queue`] entries: when it is full the task waits (up to
//! [`ClientOptions::request_timeout`]) for the consumer, then gives up on the connection,
//! because dropping a monitor update would silently desynchronise the consumer; a consumer
//! that resynchronises on reconnect (the probe) then recovers. A consumer that dropped its
//! receiver gets nothing (counted in [`ClientStats::dropped_notifications`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), skydive_probes::ovsdb::ClientError> {
//! use serde_json::json;
//! use skydive_probes::ovsdb::{ClientOptions, Condition, OvsdbAddress, OvsdbClient, Operation};
//! let addr: OvsdbAddress = "unix:///var/run/openvswitch/db.sock".parse().unwrap();
//! let (client, _updates) = OvsdbClient::connect(&addr, ClientOptions::default()).await?;
//! let reply = client
//!     .transact("Open_vSwitch", &[Operation::select("Bridge", vec![]).with_columns(["name"])])
//!     .await?;
//! for row in reply.rows(0) {
//!     println!("{}", row.str("name").unwrap_or_default());
//! }
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::config::OvsdbAddress;
use super::jsonrpc::{DEFAULT_MAX_DEPTH, DEFAULT_MAX_MESSAGE_BYTES, Framer, Message};
use super::operation::{Operation, TransactReply};

/// Id of the `echo` requests the client sends to check an idle connection.
const PROBE_ID: &str = "skydive-echo";
/// Requests queued towards the connection task.
const COMMAND_QUEUE: usize = 64;
/// Bytes read from the socket at once.
const READ_CHUNK: usize = 64 << 10;

/// Counters of one or more connections (share one `Arc` across reconnections to accumulate).
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Messages received.
    pub messages: AtomicU64,
    /// Delimited messages that were not valid JSON-RPC (skipped), plus responses to no request.
    pub malformed: AtomicU64,
    /// Server `echo` requests answered.
    pub echo_replies: AtomicU64,
    /// Notifications handed to the consumer.
    pub notifications: AtomicU64,
    /// Notifications discarded because the consumer had dropped its receiver.
    pub dropped_notifications: AtomicU64,
}

fn add(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Tuning of a connection.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Largest message accepted; a larger one closes the connection.
    pub max_message_bytes: usize,
    /// Deepest nesting accepted; a deeper message closes the connection.
    pub max_depth: u32,
    /// How long to wait for the socket to connect.
    pub connect_timeout: Duration,
    /// How long a call waits for its reply (and a full notification queue for its consumer).
    pub request_timeout: Duration,
    /// After this long without any message, send an `echo`; after twice this long, close the
    /// connection as dead. `None`: never (the server's own probes keep TCP connections honest).
    pub inactivity_probe: Option<Duration>,
    /// Capacity of the notification channel.
    pub notification_queue: usize,
    pub stats: Arc<ClientStats>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            inactivity_probe: Some(Duration::from_secs(30)),
            notification_queue: 1024,
            stats: Arc::default(),
        }
    }
}

/// What went wrong with a call or a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        address: String,
        kind: io::ErrorKind,
        reason: String,
    },
    #[error("connection to the OVSDB server closed: {reason}")]
    Closed { reason: String },
    #[error("no reply to `{method}` within {secs} s")]
    Timeout { method: String, secs: u64 },
    #[error("`{method}` failed: {error}")]
    Rpc { method: String, error: String },
    #[error("transaction failed at operation {index}: {error}{}", details.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Transaction {
        /// Index of the failed operation (the number of operations for a commit failure).
        index: usize,
        error: String,
        details: Option<String>,
    },
    #[error("unexpected reply to `{method}`: {what}")]
    UnexpectedReply { method: String, what: &'static str },
}

impl ClientError {
    /// The server socket does not exist (a Unix path that is not there).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Connect { kind, .. } if *kind == io::ErrorKind::NotFound)
    }

    /// The connection could not be made (nothing listening, no socket, timeout).
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Connect { .. })
    }

    /// The connection is gone; reconnecting may help.
    pub fn is_closed(&self) -> bool {
        matches!(self, ClientError::Closed { .. })
    }
}

/// A message the server sent without being asked (`update`, `locked`, `stolen`…).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub method: String,
    pub params: Value,
}

impl Notification {
    /// For a monitor `update`: the monitor id and the table-updates object.
    pub fn monitor_update(&self) -> Option<(&Value, &Value)> {
        if self.method != "update" {
            return None;
        }
        match self.params.as_array()?.as_slice() {
            [id, updates] => Some((id, updates)),
            _ => None,
        }
    }
}

type Reply = Result<Value, ClientError>;

enum Cmd {
    Call {
        id: u64,
        method: String,
        params: Value,
        reply: oneshot::Sender<Reply>,
    },
}

struct Shared {
    reason: Mutex<Option<String>>,
    closed: CancellationToken,
}

struct Inner {
    cmds: mpsc::Sender<Cmd>,
    next_id: AtomicU64,
    address: OvsdbAddress,
    shared: Arc<Shared>,
    request_timeout: Duration,
    stats: Arc<ClientStats>,
}

/// A connection to an OVSDB server. See the module docs.
#[derive(Clone)]
pub struct OvsdbClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OvsdbClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvsdbClient")
            .field("address", &self.inner.address.to_string())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl OvsdbClient {
    /// Connects and starts the connection task (on the current tokio runtime). Returns the
    /// client and the receiver of the server's notifications.
    pub async fn connect(
        address: &OvsdbAddress,
        opts: ClientOptions,
    ) -> Result<(OvsdbClient, mpsc::Receiver<Notification>), ClientError> {
        let fail = |kind: io::ErrorKind, reason: String| ClientError::Connect {
            address: address.to_string(),
            kind,
            reason,
        };
        let timeout = opts.connect_timeout;
        let timed_out = || {
            fail(
                io::ErrorKind::TimedOut,
                format!("no connection within {} s", timeout.as_secs_f32()),
            )
        };
        match address {
            OvsdbAddress::Unix(path) => {
                let stream = tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(|e| {
                        let reason = if e.kind() == io::ErrorKind::NotFound {
                            format!("no {} (is ovsdb-server running?)", path.display())
                        } else {
                            e.to_string()
                        };
                        fail(e.kind(), reason)
                    })?;
                let (r, w) = stream.into_split();
                Ok(Self::start(address.clone(), r, w, opts))
            }
            OvsdbAddress::Tcp(hostport) => {
                let stream = tokio::time::timeout(
                    timeout,
                    tokio::net::TcpStream::connect(hostport.as_str()),
                )
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| fail(e.kind(), e.to_string()))?;
                let _ = stream.set_nodelay(true);
                let (r, w) = stream.into_split();
                Ok(Self::start(address.clone(), r, w, opts))
            }
        }
    }

    /// Runs the protocol over an already connected stream (tests, or a transport of one's own).
    pub fn start<R, W>(
        address: OvsdbAddress,
        reader: R,
        writer: W,
        opts: ClientOptions,
    ) -> (OvsdbClient, mpsc::Receiver<Notification>)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (note_tx, note_rx) = mpsc::channel(opts.notification_queue.max(1));
        let shared = Arc::new(Shared {
            reason: Mutex::new(None),
            closed: CancellationToken::new(),
        });
        let inner = Arc::new(Inner {
            cmds: cmd_tx,
            next_id: AtomicU64::new(1),
            address,
            shared: shared.clone(),
            request_timeout: opts.request_timeout,
            stats: opts.stats.clone(),
        });
        let conn = Connection {
            framer: Framer::new(opts.max_message_bytes, opts.max_depth),
            pending: HashMap::new(),
            notes: note_tx,
            opts,
        };
        tokio::spawn(async move {
            let reason = conn.run(reader, writer, cmd_rx).await;
            tracing::debug!(%reason, "OVSDB connection closed");
            *shared.reason.lock() = Some(reason);
            shared.closed.cancel();
        });
        (OvsdbClient { inner }, note_rx)
    }

    pub fn address(&self) -> &OvsdbAddress {
        &self.inner.address
    }

    /// Counters of this connection.
    pub fn stats(&self) -> &Arc<ClientStats> {
        &self.inner.stats
    }

    pub fn is_closed(&self) -> bool {
        self.inner.shared.closed.is_cancelled()
    }

    /// Why the connection ended, once it has.
    pub fn close_reason(&self) -> Option<String> {
        self.inner.shared.reason.lock().clone()
    }

    /// Resolves when the connection has ended.
    pub async fn closed(&self) {
        self.inner.shared.closed.cancelled().await
    }

    fn closed_error(&self) -> ClientError {
        ClientError::Closed {
            reason: self
                .close_reason()
                .unwrap_or_else(|| "connection task ended".into()),
        }
    }

    /// Sends a request and waits for its result (the `result` of the response; a non-null
    /// `error` becomes [`ClientError::Rpc`]).
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let cmd = Cmd::Call {
            id,
            method: method.to_owned(),
            params,
            reply: tx,
        };
        if self.inner.cmds.send(cmd).await.is_err() {
            self.closed().await;
            return Err(self.closed_error());
        }
        match tokio::time::timeout(self.inner.request_timeout, rx).await {
            Err(_) => Err(ClientError::Timeout {
                method: method.to_owned(),
                secs: self.inner.request_timeout.as_secs(),
            }),
            Ok(Err(_)) => {
                self.closed().await;
                Err(self.closed_error())
            }
            Ok(Ok(r)) => r,
        }
    }

    /// `echo`: a round trip through the server.
    pub async fn echo(&self) -> Result<(), ClientError> {
        self.call("echo", json!(["skydive"])).await.map(|_| ())
    }

    /// `list_dbs`: the databases the server holds.
    pub async fn list_dbs(&self) -> Result<Vec<String>, ClientError> {
        let v = self.call("list_dbs", json!([])).await?;
        let list = v.as_array().ok_or(ClientError::UnexpectedReply {
            method: "list_dbs".into(),
            what: "not an array",
        })?;
        Ok(list
            .iter()
            .filter_map(|d| d.as_str().map(str::to_owned))
            .collect())
    }

    /// `get_schema`: the schema of `db` (`{"name", "version", "tables": {…}}`).
    pub async fn get_schema(&self, db: &str) -> Result<Value, ClientError> {
        self.call("get_schema", json!([db])).await
    }

    /// `transact`: runs `ops` atomically on `db`. A failed operation (or a failed commit)
    /// gives [`ClientError::Transaction`] with its index; nothing was changed then.
    pub async fn transact(
        &self,
        db: &str,
        ops: &[Operation],
    ) -> Result<TransactReply, ClientError> {
        let mut params = vec![Value::from(db)];
        for op in ops {
            params.push(
                serde_json::to_value(op).map_err(|_| ClientError::UnexpectedReply {
                    method: "transact".into(),
                    what: "operation not serialisable",
                })?,
            );
        }
        let v = self.call("transact", Value::Array(params)).await?;
        let Value::Array(results) = v else {
            return Err(ClientError::UnexpectedReply {
                method: "transact".into(),
                what: "result is not an array",
            });
        };
        for (index, r) in results.iter().enumerate() {
            if let Some(err) = r.get("error").filter(|e| !e.is_null()) {
                return Err(ClientError::Transaction {
                    index,
                    error: err.as_str().map_or_else(|| err.to_string(), str::to_owned),
                    details: r.get("details").and_then(Value::as_str).map(str::to_owned),
                });
            }
        }
        Ok(TransactReply(results))
    }

    /// `monitor`: asks for the rows and columns of `requests` (`{table: [{"columns": […]}]}`)
    /// and returns their current contents (table-updates with `new` rows); later changes
    /// arrive as `update` notifications tagged with `id`.
    pub async fn monitor(
        &self,
        db: &str,
        id: Value,
        requests: Value,
    ) -> Result<Value, ClientError> {
        self.call("monitor", json!([db, id, requests])).await
    }

    /// `monitor_cancel`: stops the updates of monitor `id`.
    pub async fn monitor_cancel(&self, id: Value) -> Result<(), ClientError> {
        self.call("monitor_cancel", json!([id])).await.map(|_| ())
    }
}

/// The state of the connection task.
struct Connection {
    framer: Framer,
    /// Calls waiting for their response: id → (method, reply).
    pending: HashMap<u64, (String, oneshot::Sender<Reply>)>,
    notes: mpsc::Sender<Notification>,
    opts: ClientOptions,
}

impl Connection {
    /// Drives the connection until it ends; returns why.
    async fn run<R, W>(
        mut self,
        mut reader: R,
        mut writer: W,
        mut cmds: mpsc::Receiver<Cmd>,
    ) -> String
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut buf = vec![0u8; READ_CHUNK];
        let idle = self.opts.inactivity_probe;
        let far = Duration::from_secs(86400 * 365);
        let mut deadline = tokio::time::Instant::now() + idle.unwrap_or(far);
        let mut probing = false;
        loop {
            tokio::select! {
                cmd = cmds.recv() => {
                    let Some(Cmd::Call { id, method, params, reply }) = cmd else {
                        return "client dropped".into();
                    };
                    let msg = Message::Request { id: Value::from(id), method: method.clone(), params };
                    if let Err(e) = writer.write_all(&msg.encode()).await {
                        let _ = reply.send(Err(ClientError::Closed { reason: format!("write failed: {e}") }));
                        return format!("write failed: {e}");
                    }
                    self.pending.insert(id, (method, reply));
                }
                n = reader.read(&mut buf) => {
                    let n = match n {
                        Ok(0) => return "closed by the server".into(),
                        Ok(n) => n,
                        Err(e) => return format!("read failed: {e}"),
                    };
                    self.framer.extend(&buf[..n]);
                    if let Err(reason) = self.drain(&mut writer).await {
                        return reason;
                    }
                    deadline = tokio::time::Instant::now() + idle.unwrap_or(far);
                    probing = false;
                }
                _ = tokio::time::sleep_until(deadline), if idle.is_some() => {
                    let Some(idle) = idle else { continue };
                    if probing {
                        return format!("no message from the server for {} s", (idle * 2).as_secs());
                    }
                    let probe = Message::Request { id: Value::from(PROBE_ID), method: "echo".into(), params: json!([]) };
                    if let Err(e) = writer.write_all(&probe.encode()).await {
                        return format!("write failed: {e}");
                    }
                    probing = true;
                    deadline = tokio::time::Instant::now() + idle;
                }
            }
        }
    }

    /// Handles every complete message buffered.
    async fn drain<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> Result<(), String> {
        loop {
            let msg = match self.framer.next_frame() {
                Ok(None) => return Ok(()),
                Ok(Some(frame)) => Message::decode(frame),
                Err(e) => {
                    add(&self.opts.stats.malformed);
                    return Err(format!("unreadable stream: {e}"));
                }
            };
            add(&self.opts.stats.messages);
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    add(&self.opts.stats.malformed);
                    tracing::warn!(error = %e, "malformed OVSDB message skipped");
                    continue;
                }
            };
            match msg {
                Message::Response { id, result, error } => self.on_response(id, result, error),
                Message::Request { id, method, params } => {
                    let reply = if method == "echo" {
                        add(&self.opts.stats.echo_replies);
                        Message::Response {
                            id,
                            result: params,
                            error: Value::Null,
                        }
                    } else {
                        Message::Response {
                            id,
                            result: Value::Null,
                            error: Value::from("unknown method"),
                        }
                    };
                    writer
                        .write_all(&reply.encode())
                        .await
                        .map_err(|e| format!("write failed: {e}"))?;
                }
                Message::Notification { method, params } => {
                    self.on_notification(Notification { method, params })
                        .await?
                }
            }
        }
    }

    fn on_response(&mut self, id: Value, result: Value, error: Value) {
        if id == PROBE_ID {
            return;
        }
        let Some((method, reply)) = id.as_u64().and_then(|i| self.pending.remove(&i)) else {
            add(&self.opts.stats.malformed);
            tracing::warn!(%id, "OVSDB response to no pending request skipped");
            return;
        };
        let r = if error.is_null() {
            Ok(result)
        } else {
            Err(ClientError::Rpc {
                method,
                error: error
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_owned),
            })
        };
        let _ = reply.send(r);
    }

    async fn on_notification(&mut self, n: Notification) -> Result<(), String> {
        match self.notes.try_send(n) {
            Ok(()) => add(&self.opts.stats.notifications),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                add(&self.opts.stats.dropped_notifications)
            }
            Err(mpsc::error::TrySendError::Full(n)) => {
                match tokio::time::timeout(self.opts.request_timeout, self.notes.send(n)).await {
                    Ok(Ok(())) => add(&self.opts.stats.notifications),
                    Ok(Err(_)) => add(&self.opts.stats.dropped_notifications),
                    Err(_) => {
                        return Err(format!(
                            "notification queue full ({} entries) for {} s",
                            self.opts.notification_queue,
                            self.opts.request_timeout.as_secs()
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

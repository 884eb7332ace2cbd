//! The agent ↔ analyzer topology protocol, version [`VERSION`]: what an agent sends on
//! `/ws/agent/topology` and what the analyzer answers. User documentation, with every field:
//! `docs/protocol.md`.
//!
//! # Format
//!
//! One JSON object per WebSocket text frame. Agent → analyzer:
//!
//! ```text
//! {"Seq": 7, "Type": "NodeAdded", "Obj": {…}}
//! ```
//!
//! `Seq` numbers the agent's messages of one connection from 1, without gaps. Types:
//! `SyncBegin {Generation, Nodes, Edges}`, `SyncChunk {Generation, Nodes: […], Edges: […]}`,
//! `SyncEnd {Generation}` (a full sync, cut into chunks), then deltas: `NodeAdded`,
//! `NodeUpdated`, `NodeDeleted` (a node), `EdgeAdded`, `EdgeUpdated`, `EdgeDeleted` (an edge),
//! `NodePartiallyUpdated`, `EdgePartiallyUpdated` (`{ID, UpdatedAt, Revision, Ops}`), and
//! `Bye` (the agent leaves for good); with the `flows` feature (below), `Flows {Flows: […],
//! Dropped}` (batches of flow updates). Analyzer → agent: `{"Type": …, "Obj": {…}}` with
//! `SyncDone`, `SyncRequest {Reason}`, `Error {Seq, Error}` and, with the `captures` feature,
//! `Captures {Captures: […]}` (every capture the analyzer holds, sent on connect and after
//! each change). The lists may grow (see the versioning rule in the user documentation).
//!
//! Decoding is bounded: the frame size is limited before it gets here
//! (`http.ws.max_message_bytes`), JSON nesting to 128 levels (`serde_json`), a chunk to
//! [`MAX_CHUNK_ELEMENTS`] elements and a whole sync to [`MAX_SYNC_ELEMENTS`]; elements are
//! checked like REST bodies ([`crate::validate`]) when applied, not here.
//!
//! Must not: touch the graph or sockets. `ws::agent` (analyzer side) and `agent::forwarder`
//! (agent side) do.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use skydive_graph::{Edge, Id, MetadataOp, Node, TimeMs};

use crate::validate::WireElement;
use crate::ws::envelope::{PartialUpdate, null_as_empty, truncate};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;
/// Handshake header carrying the version (sent by the agent, answered by the analyzer).
pub const VERSION_HEADER: &str = "X-Skydive-Agent-Protocol";
/// The analyzer's endpoint for agents.
pub const ENDPOINT: &str = "/ws/agent/topology";
/// The `X-Client-Type` of an agent.
pub const CLIENT_TYPE: &str = "agent";
/// Most elements (nodes plus edges) in one `SyncChunk`.
pub const MAX_CHUNK_ELEMENTS: usize = 65_536;
/// Most elements a `SyncBegin` may announce.
pub const MAX_SYNC_ELEMENTS: u64 = 10_000_000;
/// Header listing the optional features an agent can use (comma-separated); the analyzer
/// answers with those it supports too. Features extend version 1 without a new version: an
/// agent uses one only when the analyzer's answer names it.
pub const FEATURES_HEADER: &str = "X-Skydive-Agent-Features";
/// Most flow updates in one `Flows` message.
pub const MAX_FLOW_BATCH: usize = 10_000;

/// Optional features (see [`FEATURES_HEADER`]).
pub mod features {
    /// The agent sends `Flows` messages (batches of flow updates).
    pub const FLOWS: &str = "flows";
    /// The analyzer sends `Captures` messages (the captures agents should run).
    pub const CAPTURES: &str = "captures";
    /// What this build supports, on either side.
    pub const SUPPORTED: &[&str] = &[FLOWS, CAPTURES];

    /// Whether a features header value (`flows, captures`) names `feature`.
    pub fn listed(header: &str, feature: &str) -> bool {
        header
            .split([',', ' '])
            .any(|f| f.trim().eq_ignore_ascii_case(feature))
    }
}

/// Message types, as on the wire.
pub mod types {
    pub const SYNC_BEGIN: &str = "SyncBegin";
    pub const SYNC_CHUNK: &str = "SyncChunk";
    pub const SYNC_END: &str = "SyncEnd";
    pub const NODE_ADDED: &str = "NodeAdded";
    pub const NODE_UPDATED: &str = "NodeUpdated";
    pub const NODE_DELETED: &str = "NodeDeleted";
    pub const NODE_PARTIALLY_UPDATED: &str = "NodePartiallyUpdated";
    pub const EDGE_ADDED: &str = "EdgeAdded";
    pub const EDGE_UPDATED: &str = "EdgeUpdated";
    pub const EDGE_DELETED: &str = "EdgeDeleted";
    pub const EDGE_PARTIALLY_UPDATED: &str = "EdgePartiallyUpdated";
    pub const BYE: &str = "Bye";
    pub const FLOWS: &str = "Flows";
    pub const SYNC_DONE: &str = "SyncDone";
    pub const SYNC_REQUEST: &str = "SyncRequest";
    pub const ERROR: &str = "Error";
    pub const CAPTURES: &str = "Captures";

    /// What an agent may send.
    pub const AGENT: &[&str] = &[
        SYNC_BEGIN,
        SYNC_CHUNK,
        SYNC_END,
        NODE_ADDED,
        NODE_UPDATED,
        NODE_DELETED,
        NODE_PARTIALLY_UPDATED,
        EDGE_ADDED,
        EDGE_UPDATED,
        EDGE_DELETED,
        EDGE_PARTIALLY_UPDATED,
        BYE,
        FLOWS,
    ];
}

/// `SyncBegin`: a full sync of generation `Generation` follows, with this many elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncBegin {
    #[serde(rename = "Generation")]
    pub generation: u64,
    #[serde(rename = "Nodes")]
    pub nodes: u64,
    #[serde(rename = "Edges")]
    pub edges: u64,
}

/// `SyncChunk`: some of the sync's elements. Every node chunk comes before the first edge.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncChunk {
    #[serde(rename = "Generation")]
    pub generation: u64,
    #[serde(rename = "Nodes", default, deserialize_with = "null_as_empty")]
    pub nodes: Vec<WireElement>,
    #[serde(rename = "Edges", default, deserialize_with = "null_as_empty")]
    pub edges: Vec<WireElement>,
}

/// `SyncEnd`: the sync is complete; whatever of the agent's origin it did not name is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncEnd {
    #[serde(rename = "Generation")]
    pub generation: u64,
}

/// `SyncDone` (analyzer → agent): what a sync changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDone {
    #[serde(rename = "Generation")]
    pub generation: u64,
    /// `Seq` of the `SyncEnd` this answers.
    #[serde(rename = "Seq")]
    pub seq: u64,
    #[serde(rename = "Added")]
    pub added: u64,
    #[serde(rename = "Updated")]
    pub updated: u64,
    #[serde(rename = "Unchanged")]
    pub unchanged: u64,
    #[serde(rename = "Deleted")]
    pub deleted: u64,
    /// Elements refused (invalid, or owned by another origin).
    #[serde(rename = "Rejected")]
    pub rejected: u64,
}

/// `SyncRequest` (analyzer → agent): send a full sync again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    #[serde(rename = "Reason", default)]
    pub reason: String,
}

/// `Error` (analyzer → agent): a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    #[serde(rename = "Seq", default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(rename = "Error")]
    pub error: String,
}

/// `Flows` (feature `flows`): flow updates captured by the agent, and how many updates it
/// dropped since its previous `Flows` message (its send queue was full).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowBatch {
    #[serde(rename = "Flows", default, deserialize_with = "null_as_empty")]
    pub flows: Vec<skydive_flow::Flow>,
    #[serde(rename = "Dropped", default)]
    pub dropped: u64,
}

/// A message from an agent.
#[derive(Debug, Clone)]
pub enum AgentMessage {
    SyncBegin(SyncBegin),
    SyncChunk(SyncChunk),
    SyncEnd(SyncEnd),
    NodeAdded(WireElement),
    NodeUpdated(WireElement),
    NodeDeleted(WireElement),
    NodePartiallyUpdated(PartialUpdate),
    EdgeAdded(WireElement),
    EdgeUpdated(WireElement),
    EdgeDeleted(WireElement),
    EdgePartiallyUpdated(PartialUpdate),
    Bye,
    Flows(FlowBatch),
}

impl AgentMessage {
    /// The message type, as on the wire.
    pub fn kind(&self) -> &'static str {
        use types::*;
        match self {
            AgentMessage::SyncBegin(_) => SYNC_BEGIN,
            AgentMessage::SyncChunk(_) => SYNC_CHUNK,
            AgentMessage::SyncEnd(_) => SYNC_END,
            AgentMessage::NodeAdded(_) => NODE_ADDED,
            AgentMessage::NodeUpdated(_) => NODE_UPDATED,
            AgentMessage::NodeDeleted(_) => NODE_DELETED,
            AgentMessage::NodePartiallyUpdated(_) => NODE_PARTIALLY_UPDATED,
            AgentMessage::EdgeAdded(_) => EDGE_ADDED,
            AgentMessage::EdgeUpdated(_) => EDGE_UPDATED,
            AgentMessage::EdgeDeleted(_) => EDGE_DELETED,
            AgentMessage::EdgePartiallyUpdated(_) => EDGE_PARTIALLY_UPDATED,
            AgentMessage::Bye => BYE,
            AgentMessage::Flows(_) => FLOWS,
        }
    }

    /// The payload as JSON (for re-encoding).
    pub fn obj(&self) -> serde_json::Value {
        let r = match self {
            AgentMessage::SyncBegin(b) => serde_json::to_value(b),
            AgentMessage::SyncChunk(c) => serde_json::to_value(c),
            AgentMessage::SyncEnd(e) => serde_json::to_value(e),
            AgentMessage::NodeAdded(e)
            | AgentMessage::NodeUpdated(e)
            | AgentMessage::NodeDeleted(e)
            | AgentMessage::EdgeAdded(e)
            | AgentMessage::EdgeUpdated(e)
            | AgentMessage::EdgeDeleted(e) => serde_json::to_value(e),
            AgentMessage::NodePartiallyUpdated(p) | AgentMessage::EdgePartiallyUpdated(p) => {
                serde_json::to_value(p)
            }
            AgentMessage::Bye => Ok(serde_json::json!({})),
            AgentMessage::Flows(b) => serde_json::to_value(b),
        };
        // Plain data with string keys: serialising into a `Value` cannot fail.
        r.unwrap_or(serde_json::Value::Null)
    }
}

/// A decoded agent frame.
#[derive(Debug, Clone)]
pub struct AgentFrame {
    pub seq: u64,
    pub message: AgentMessage,
}

/// Why a frame could not be decoded. `seq` is the frame's, when it could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    pub seq: Option<u64>,
    pub message: String,
    /// The type is unknown to this version: the frame may be ignored (see the versioning rule).
    pub unknown_type: bool,
}

#[derive(Deserialize)]
struct RawAgentFrame<'a> {
    #[serde(rename = "Seq", default)]
    seq: Option<u64>,
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(rename = "Obj", default, borrow)]
    obj: Option<&'a RawValue>,
}

/// Decodes one agent frame.
pub fn decode_agent(frame: &[u8]) -> Result<AgentFrame, DecodeError> {
    let raw: RawAgentFrame<'_> = serde_json::from_slice(frame).map_err(|e| DecodeError {
        seq: None,
        message: json_error("message", &e),
        unknown_type: false,
    })?;
    let seq = raw.seq;
    let fail = |message: String| DecodeError {
        seq,
        message,
        unknown_type: false,
    };
    let Some(seq_value) = seq.filter(|s| *s > 0) else {
        return Err(fail(
            "message has no `Seq`: number the messages of a connection from 1".to_owned(),
        ));
    };
    let kind = raw.kind.as_str();
    let obj = raw.obj.map(RawValue::get);
    macro_rules! obj {
        ($t:ty) => {{
            let Some(text) = obj else {
                return Err(fail(format!("{kind} message has no `Obj`")));
            };
            serde_json::from_str::<$t>(text)
                .map_err(|e| fail(json_error(&format!("{kind} object"), &e)))?
        }};
    }
    use types::*;
    let message = match kind {
        SYNC_BEGIN => {
            let b: SyncBegin = obj!(SyncBegin);
            if b.nodes.saturating_add(b.edges) > MAX_SYNC_ELEMENTS {
                return Err(fail(format!(
                    "SyncBegin announces {} elements, at most {MAX_SYNC_ELEMENTS} are accepted",
                    b.nodes.saturating_add(b.edges)
                )));
            }
            AgentMessage::SyncBegin(b)
        }
        SYNC_CHUNK => {
            let c: SyncChunk = obj!(SyncChunk);
            if c.nodes.len() + c.edges.len() > MAX_CHUNK_ELEMENTS {
                return Err(fail(format!(
                    "SyncChunk holds {} elements, at most {MAX_CHUNK_ELEMENTS} are accepted",
                    c.nodes.len() + c.edges.len()
                )));
            }
            AgentMessage::SyncChunk(c)
        }
        SYNC_END => AgentMessage::SyncEnd(obj!(SyncEnd)),
        NODE_ADDED => AgentMessage::NodeAdded(obj!(WireElement)),
        NODE_UPDATED => AgentMessage::NodeUpdated(obj!(WireElement)),
        NODE_DELETED => AgentMessage::NodeDeleted(obj!(WireElement)),
        NODE_PARTIALLY_UPDATED => AgentMessage::NodePartiallyUpdated(obj!(PartialUpdate)),
        EDGE_ADDED => AgentMessage::EdgeAdded(obj!(WireElement)),
        EDGE_UPDATED => AgentMessage::EdgeUpdated(obj!(WireElement)),
        EDGE_DELETED => AgentMessage::EdgeDeleted(obj!(WireElement)),
        EDGE_PARTIALLY_UPDATED => AgentMessage::EdgePartiallyUpdated(obj!(PartialUpdate)),
        BYE => AgentMessage::Bye,
        FLOWS => {
            let b: FlowBatch = obj!(FlowBatch);
            if b.flows.len() > MAX_FLOW_BATCH {
                return Err(fail(format!(
                    "Flows holds {} flow updates, at most {MAX_FLOW_BATCH} are accepted",
                    b.flows.len()
                )));
            }
            AgentMessage::Flows(b)
        }
        "" => return Err(fail("message has no `Type`".to_owned())),
        other => {
            return Err(DecodeError {
                seq,
                message: format!(
                    "unknown message type `{}` for protocol version {VERSION} (expected one of {})",
                    truncate(other),
                    types::AGENT.join(", ")
                ),
                unknown_type: true,
            });
        }
    };
    Ok(AgentFrame {
        seq: seq_value,
        message,
    })
}

/// `Captures` (analyzer → agent, feature `captures`): every capture the analyzer holds; the
/// agent runs each on the nodes of its graph the capture's `GremlinQuery` selects, and stops
/// those no longer listed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaptureList {
    #[serde(rename = "Captures", default, deserialize_with = "null_as_empty")]
    pub captures: Vec<crate::captures::Capture>,
}

/// A message from the analyzer.
#[derive(Debug, Clone, PartialEq)]
pub enum AnalyzerMessage {
    SyncDone(SyncDone),
    SyncRequest(SyncRequest),
    Error(ErrorReply),
    Captures(CaptureList),
    /// A type this version does not know: ignored.
    Unknown(String),
}

#[derive(Deserialize)]
struct RawAnalyzerFrame<'a> {
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(rename = "Obj", default, borrow)]
    obj: Option<&'a RawValue>,
}

/// Decodes one analyzer frame (agent side).
pub fn decode_analyzer(frame: &[u8]) -> Result<AnalyzerMessage, String> {
    let raw: RawAnalyzerFrame<'_> =
        serde_json::from_slice(frame).map_err(|e| json_error("message", &e))?;
    let obj = raw.obj.map(RawValue::get).unwrap_or("{}");
    let kind = raw.kind.as_str();
    let parse_err = |e: serde_json::Error| json_error(&format!("{kind} object"), &e);
    Ok(match kind {
        types::SYNC_DONE => {
            AnalyzerMessage::SyncDone(serde_json::from_str(obj).map_err(parse_err)?)
        }
        types::SYNC_REQUEST => {
            AnalyzerMessage::SyncRequest(serde_json::from_str(obj).map_err(parse_err)?)
        }
        types::ERROR => AnalyzerMessage::Error(serde_json::from_str(obj).map_err(parse_err)?),
        types::CAPTURES => AnalyzerMessage::Captures(serde_json::from_str(obj).map_err(parse_err)?),
        other => AnalyzerMessage::Unknown(truncate(other).to_owned()),
    })
}

/// Encodes an analyzer → agent message.
pub fn encode_analyzer<T: Serialize + ?Sized>(kind: &str, obj: &T) -> String {
    #[derive(Serialize)]
    struct Out<'a, T: Serialize + ?Sized> {
        #[serde(rename = "Type")]
        kind: &'a str,
        #[serde(rename = "Obj")]
        obj: &'a T,
    }
    serde_json::to_string(&Out { kind, obj }).unwrap_or_else(|e| {
        format!(
            r#"{{"Type":"Error","Obj":{{"Error":{}}}}}"#,
            serde_json::Value::String(format!("cannot encode {kind}: {e}"))
        )
    })
}

/// An agent → analyzer frame: `obj` is already JSON. `kind` must be one of [`types`].
pub fn agent_frame(seq: u64, kind: &str, obj: &str) -> String {
    let mut s = String::with_capacity(obj.len() + kind.len() + 32);
    s.push_str("{\"Seq\":");
    s.push_str(&seq.to_string());
    s.push_str(",\"Type\":\"");
    s.push_str(kind);
    s.push_str("\",\"Obj\":");
    s.push_str(obj);
    s.push('}');
    s
}

/// Bytes a frame adds around its `Obj` (a `Seq` of 20 digits and the longest type).
pub const FRAME_OVERHEAD: usize = 64;

/// `NodePartiallyUpdated`/`EdgePartiallyUpdated` as the agent encodes them.
#[derive(Serialize)]
pub struct PartialOut<'a> {
    #[serde(rename = "ID")]
    pub id: &'a Id,
    #[serde(rename = "UpdatedAt")]
    pub updated_at: TimeMs,
    #[serde(rename = "Revision")]
    pub revision: i64,
    #[serde(rename = "Ops")]
    pub ops: &'a [MetadataOp],
}

/// Encodes a node as a message object.
pub fn node_obj(n: &Node) -> String {
    serde_json::to_string(n).unwrap_or_else(|_| "null".to_owned())
}

/// Encodes an edge as a message object.
pub fn edge_obj(e: &Edge) -> String {
    serde_json::to_string(e).unwrap_or_else(|_| "null".to_owned())
}

fn json_error(what: &str, e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.starts_with("recursion limit exceeded") {
        return format!("{what} nests more than 128 levels deep ({msg})");
    }
    match e.classify() {
        serde_json::error::Category::Data => format!("invalid {what}: {msg}"),
        _ => format!("malformed JSON {what}: {msg}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_every_agent_message() {
        let frames = [
            json!({"Seq": 1, "Type": "SyncBegin", "Obj": {"Generation": 1, "Nodes": 2, "Edges": 1}}),
            json!({"Seq": 2, "Type": "SyncChunk", "Obj": {"Generation": 1, "Nodes": [{"ID": "a", "Metadata": {"Name": "a", "Type": "t"}}], "Edges": null}}),
            json!({"Seq": 3, "Type": "SyncEnd", "Obj": {"Generation": 1}}),
            json!({"Seq": 4, "Type": "NodeAdded", "Obj": {"ID": "a", "Metadata": {"Name": "a", "Type": "t"}}}),
            json!({"Seq": 5, "Type": "NodePartiallyUpdated", "Obj": {"ID": "a", "UpdatedAt": 5, "Revision": 2, "Ops": [{"Type": 1, "Key": "MTU", "Value": 1500}]}}),
            json!({"Seq": 6, "Type": "EdgeDeleted", "Obj": {"ID": "e", "Parent": "a", "Child": "b", "Metadata": null}}),
            json!({"Seq": 7, "Type": "Bye"}),
        ];
        let kinds: Vec<&str> = frames
            .iter()
            .map(|f| {
                decode_agent(f.to_string().as_bytes())
                    .unwrap()
                    .message
                    .kind()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "SyncBegin",
                "SyncChunk",
                "SyncEnd",
                "NodeAdded",
                "NodePartiallyUpdated",
                "EdgeDeleted",
                "Bye"
            ]
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("nope", "malformed JSON message"),
            (r#"{"Type": "Bye"}"#, "no `Seq`"),
            (r#"{"Seq": 0, "Type": "Bye"}"#, "no `Seq`"),
            (r#"{"Seq": 1}"#, "no `Type`"),
            (
                r#"{"Seq": 1, "Type": "NodeAdded"}"#,
                "NodeAdded message has no `Obj`",
            ),
            (
                r#"{"Seq": 1, "Type": "SyncEnd", "Obj": {}}"#,
                "missing field `Generation`",
            ),
            (
                r#"{"Seq": 1, "Type": "SyncBegin", "Obj": {"Generation": 1, "Nodes": 99999999999, "Edges": 0}}"#,
                "at most 10000000",
            ),
            (
                r#"{"Seq": 1, "Type": "Frobnicate", "Obj": {}}"#,
                "unknown message type `Frobnicate`",
            ),
        ];
        for (frame, want) in cases {
            let e = decode_agent(frame.as_bytes()).unwrap_err();
            assert!(e.message.contains(want), "{frame}: {}", e.message);
        }
        let e = decode_agent(br#"{"Seq": 3, "Type": "Frobnicate"}"#).unwrap_err();
        assert!(e.unknown_type);
        assert_eq!(e.seq, Some(3));
    }

    #[test]
    fn chunks_are_bounded() {
        let nodes: Vec<_> = (0..MAX_CHUNK_ELEMENTS + 1)
            .map(|i| json!({"ID": i.to_string(), "Metadata": null}))
            .collect();
        let f = json!({"Seq": 1, "Type": "SyncChunk", "Obj": {"Generation": 1, "Nodes": nodes}});
        let e = decode_agent(f.to_string().as_bytes()).unwrap_err();
        assert!(e.message.contains("at most 65536"), "{}", e.message);
    }

    #[test]
    fn frames_round_trip() {
        let f = agent_frame(42, types::SYNC_END, r#"{"Generation":3}"#);
        let d = decode_agent(f.as_bytes()).unwrap();
        assert_eq!(d.seq, 42);
        assert!(matches!(
            d.message,
            AgentMessage::SyncEnd(SyncEnd { generation: 3 })
        ));
        let a = encode_analyzer(
            types::SYNC_DONE,
            &SyncDone {
                generation: 3,
                seq: 42,
                added: 1,
                ..SyncDone::default()
            },
        );
        match decode_analyzer(a.as_bytes()).unwrap() {
            AnalyzerMessage::SyncDone(d) => assert_eq!((d.generation, d.seq, d.added), (3, 42, 1)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decode_analyzer(br#"{"Type": "Later"}"#).unwrap(),
            AnalyzerMessage::Unknown("Later".into())
        );
    }
}

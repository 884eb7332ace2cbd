//! Skydive's WebSocket message format (JSON protocol), decoded from untrusted frames.
//!
//! # Format
//!
//! Every frame is one JSON object, the envelope, with the payload inlined as `Obj`:
//!
//! ```text
//! {"Namespace": "Graph", "Type": "NodeAdded", "UUID": "…", "Status": 200, "Obj": {…}}
//! ```
//!
//! `UUID` correlates a reply with its request; `Status` is HTTP-like (200, 400…). The `Graph`
//! namespace's types are `SyncRequest` (`Obj`: `{Time?, GremlinFilter?}`), `SyncReply` and
//! `Sync` (`{Nodes, Edges}`), `NodeAdded`/`NodeUpdated`/`NodeDeleted` (a node),
//! `EdgeAdded`/`EdgeUpdated`/`EdgeDeleted` (an edge), `NodePartiallyUpdated`/
//! `EdgePartiallyUpdated` (`{ID, UpdatedAt, Revision, Ops: [{Type: 1 add | 2 del, Key,
//! Value}]}`). An invalid message is answered with type `Error`, `Status` 400 and `Obj`
//! `{"error": "…"}`. The list of types may grow.
//!
//! Decoding is bounded: frames are size-limited before they reach here
//! (`http.ws.max_message_bytes`), and JSON nesting is limited to 128 levels by `serde_json`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use skydive_graph::{MetadataOp, TimeMs};

use crate::validate::WireElement;

/// The only namespace these endpoints serve.
pub const NAMESPACE: &str = "Graph";

/// Message types of the `Graph` namespace.
pub mod types {
    pub const SYNC_REQUEST: &str = "SyncRequest";
    pub const SYNC_REPLY: &str = "SyncReply";
    pub const SYNC: &str = "Sync";
    pub const NODE_ADDED: &str = "NodeAdded";
    pub const NODE_UPDATED: &str = "NodeUpdated";
    pub const NODE_DELETED: &str = "NodeDeleted";
    pub const NODE_PARTIALLY_UPDATED: &str = "NodePartiallyUpdated";
    pub const EDGE_ADDED: &str = "EdgeAdded";
    pub const EDGE_UPDATED: &str = "EdgeUpdated";
    pub const EDGE_DELETED: &str = "EdgeDeleted";
    pub const EDGE_PARTIALLY_UPDATED: &str = "EdgePartiallyUpdated";
    /// Our answer to a message we could not use.
    pub const ERROR: &str = "Error";

    pub const ALL: &[&str] = &[
        SYNC_REQUEST,
        SYNC_REPLY,
        SYNC,
        NODE_ADDED,
        NODE_UPDATED,
        NODE_DELETED,
        NODE_PARTIALLY_UPDATED,
        EDGE_ADDED,
        EDGE_UPDATED,
        EDGE_DELETED,
        EDGE_PARTIALLY_UPDATED,
    ];
}

/// An envelope as received, its payload still raw.
#[derive(Debug, Deserialize)]
struct RawEnvelope<'a> {
    #[serde(rename = "Namespace", default)]
    namespace: String,
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(rename = "UUID", default)]
    uuid: Option<String>,
    #[serde(rename = "Status", default)]
    #[allow(dead_code)]
    status: Option<i64>,
    #[serde(rename = "Obj", default, borrow)]
    obj: Option<&'a RawValue>,
}

/// `SyncRequest`'s payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Epoch milliseconds of the past graph wanted; absent or 0 for the live graph.
    #[serde(rename = "Time", default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    /// `Some("")` clears the subscriber's filter, `None` keeps it.
    #[serde(
        rename = "GremlinFilter",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub gremlin_filter: Option<String>,
}

impl SyncRequest {
    pub fn time(&self) -> Option<TimeMs> {
        self.time.filter(|t| *t != 0).map(TimeMs)
    }
}

/// `Sync`/`SyncReply` payload: a whole graph.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncPayload {
    #[serde(rename = "Nodes", default, deserialize_with = "null_as_empty")]
    pub nodes: Vec<WireElement>,
    #[serde(rename = "Edges", default, deserialize_with = "null_as_empty")]
    pub edges: Vec<WireElement>,
}

/// Reads an absent or `null` list as empty (Skydive's Go encoder writes nil slices as `null`).
pub(crate) fn null_as_empty<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// `NodePartiallyUpdated`/`EdgePartiallyUpdated` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialUpdate {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "UpdatedAt", default)]
    pub updated_at: i64,
    #[serde(rename = "Revision", default)]
    pub revision: i64,
    #[serde(rename = "Ops", default, deserialize_with = "null_as_empty")]
    pub ops: Vec<MetadataOp>,
}

/// A decoded message of the `Graph` namespace.
#[derive(Debug, Clone)]
pub enum GraphMessage {
    SyncRequest(SyncRequest),
    /// `Sync` or `SyncReply` sent by a publisher: replace everything of its origin.
    Sync(SyncPayload),
    NodeAdded(WireElement),
    NodeUpdated(WireElement),
    NodeDeleted(WireElement),
    NodePartiallyUpdated(PartialUpdate),
    EdgeAdded(WireElement),
    EdgeUpdated(WireElement),
    EdgeDeleted(WireElement),
    EdgePartiallyUpdated(PartialUpdate),
}

impl GraphMessage {
    /// The message type, as on the wire.
    pub fn kind(&self) -> &'static str {
        use types::*;
        match self {
            GraphMessage::SyncRequest(_) => SYNC_REQUEST,
            GraphMessage::Sync(_) => SYNC,
            GraphMessage::NodeAdded(_) => NODE_ADDED,
            GraphMessage::NodeUpdated(_) => NODE_UPDATED,
            GraphMessage::NodeDeleted(_) => NODE_DELETED,
            GraphMessage::NodePartiallyUpdated(_) => NODE_PARTIALLY_UPDATED,
            GraphMessage::EdgeAdded(_) => EDGE_ADDED,
            GraphMessage::EdgeUpdated(_) => EDGE_UPDATED,
            GraphMessage::EdgeDeleted(_) => EDGE_DELETED,
            GraphMessage::EdgePartiallyUpdated(_) => EDGE_PARTIALLY_UPDATED,
        }
    }

    /// The payload as JSON, for re-encoding.
    pub fn obj(&self) -> serde_json::Value {
        let r = match self {
            GraphMessage::SyncRequest(r) => serde_json::to_value(r),
            GraphMessage::Sync(s) => serde_json::to_value(s),
            GraphMessage::NodeAdded(e)
            | GraphMessage::NodeUpdated(e)
            | GraphMessage::NodeDeleted(e)
            | GraphMessage::EdgeAdded(e)
            | GraphMessage::EdgeUpdated(e)
            | GraphMessage::EdgeDeleted(e) => serde_json::to_value(e),
            GraphMessage::NodePartiallyUpdated(p) | GraphMessage::EdgePartiallyUpdated(p) => {
                serde_json::to_value(p)
            }
        };
        // Serialising plain data into a `Value` cannot fail (string keys, finite numbers).
        r.unwrap_or(serde_json::Value::Null)
    }
}

/// A message that could not be decoded; `uuid` is the request's, for the error reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    pub uuid: Option<String>,
    pub message: String,
}

/// A received message: its UUID (for replies) and its content.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub uuid: Option<String>,
    pub message: GraphMessage,
}

/// Decodes one frame.
pub fn decode(frame: &[u8]) -> Result<Incoming, DecodeError> {
    let env: RawEnvelope<'_> = serde_json::from_slice(frame).map_err(|e| DecodeError {
        uuid: None,
        message: envelope_error(&e),
    })?;
    let uuid = env.uuid.clone().filter(|u| !u.is_empty());
    let fail = |message: String| DecodeError {
        uuid: uuid.clone(),
        message,
    };
    if env.namespace != NAMESPACE {
        return Err(fail(format!(
            "namespace `{}` is not served here: use `{NAMESPACE}`",
            truncate(&env.namespace)
        )));
    }
    let raw = env.obj.map(RawValue::get);
    let kind = env.kind.as_str();
    macro_rules! obj {
        ($t:ty) => {{
            let Some(raw) = raw else {
                return Err(fail(format!("{kind} message has no `Obj`")));
            };
            serde_json::from_str::<$t>(raw)
                .map_err(|e| fail(format!("invalid {kind} object: {}", obj_error(&e))))?
        }};
    }
    use types::*;
    let message = match kind {
        SYNC_REQUEST => match raw {
            // Skydive 0.2's UI sent a bare `{"Type": "SyncRequest"}`.
            None | Some("null") => GraphMessage::SyncRequest(SyncRequest::default()),
            Some(_) => GraphMessage::SyncRequest(obj!(SyncRequest)),
        },
        SYNC | SYNC_REPLY => GraphMessage::Sync(obj!(SyncPayload)),
        NODE_ADDED => GraphMessage::NodeAdded(obj!(WireElement)),
        NODE_UPDATED => GraphMessage::NodeUpdated(obj!(WireElement)),
        NODE_DELETED => GraphMessage::NodeDeleted(obj!(WireElement)),
        NODE_PARTIALLY_UPDATED => GraphMessage::NodePartiallyUpdated(obj!(PartialUpdate)),
        EDGE_ADDED => GraphMessage::EdgeAdded(obj!(WireElement)),
        EDGE_UPDATED => GraphMessage::EdgeUpdated(obj!(WireElement)),
        EDGE_DELETED => GraphMessage::EdgeDeleted(obj!(WireElement)),
        EDGE_PARTIALLY_UPDATED => GraphMessage::EdgePartiallyUpdated(obj!(PartialUpdate)),
        "" => return Err(fail("message has no `Type`".to_owned())),
        other => {
            return Err(fail(format!(
                "unknown message type `{}` (expected one of {})",
                truncate(other),
                types::ALL.join(", ")
            )));
        }
    };
    Ok(Incoming { uuid, message })
}

/// At most 64 characters of an untrusted name, for an error message.
pub(crate) fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn envelope_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.starts_with("recursion limit exceeded") {
        return format!("message nests more than 128 levels deep ({msg})");
    }
    match e.classify() {
        serde_json::error::Category::Data => format!("invalid message envelope: {msg}"),
        _ => format!("malformed JSON message: {msg}"),
    }
}

fn obj_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.starts_with("recursion limit exceeded") {
        return format!("it nests more than 128 levels deep ({msg})");
    }
    msg
}

/// An outgoing envelope.
#[derive(Serialize)]
struct Out<'a, T: Serialize + ?Sized> {
    #[serde(rename = "Namespace")]
    namespace: &'a str,
    #[serde(rename = "Type")]
    kind: &'a str,
    #[serde(rename = "UUID")]
    uuid: &'a str,
    #[serde(rename = "Status")]
    status: u16,
    #[serde(rename = "Obj")]
    obj: &'a T,
}

/// Encodes a `Graph` message. `uuid` is the request's for replies, else a fresh one.
pub fn encode<T: Serialize + ?Sized>(
    kind: &str,
    uuid: Option<&str>,
    status: u16,
    obj: &T,
) -> String {
    let fresh;
    let uuid = match uuid {
        Some(u) => u,
        None => {
            fresh = uuid::Uuid::new_v4().to_string();
            &fresh
        }
    };
    let out = Out {
        namespace: NAMESPACE,
        kind,
        uuid,
        status,
        obj,
    };
    // Our own types with string keys: serialisation cannot fail; keep a valid frame if it did.
    serde_json::to_string(&out).unwrap_or_else(|e| {
        format!(
            r#"{{"Namespace":"Graph","Type":"Error","UUID":"{uuid}","Status":500,"Obj":{{"error":{}}}}}"#,
            serde_json::Value::String(format!("cannot encode {kind}: {e}"))
        )
    })
}

/// Encodes the answer to a message we could not use.
pub fn encode_error(uuid: Option<&str>, message: &str) -> String {
    encode(
        types::ERROR,
        uuid,
        400,
        &serde_json::json!({ "error": message }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_python_client_messages() {
        // What skydive-client 0.10's WSMessage sends.
        let m = decode(
            br#"{"UUID": "ab12", "Namespace": "Graph", "Type": "SyncRequest", "Obj": {"GremlinFilter": ""}, "Status": 200}"#,
        )
        .unwrap();
        assert_eq!(m.uuid.as_deref(), Some("ab12"));
        match m.message {
            GraphMessage::SyncRequest(r) => assert_eq!(r.gremlin_filter.as_deref(), Some("")),
            other => panic!("{other:?}"),
        }
        let m = decode(
            br#"{"UUID": "1", "Namespace": "Graph", "Type": "NodeAdded", "Status": 200,
                 "Obj": {"ID": "n", "Host": "h", "Metadata": {"Name": "a", "Type": "b"}, "CreatedAt": 1}}"#,
        )
        .unwrap();
        assert_eq!(m.message.kind(), "NodeAdded");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cases: &[(&[u8], &str)] = &[
            (b"not json", "malformed JSON message"),
            (br#"{"Namespace": "Flow", "Type": "x"}"#, "namespace `Flow` is not served"),
            (br#"{"Namespace": "Graph", "Type": "Bogus", "UUID": "u"}"#, "unknown message type `Bogus`"),
            (br#"{"Namespace": "Graph", "Type": "NodeAdded"}"#, "NodeAdded message has no `Obj`"),
            (br#"{"Namespace": "Graph", "Type": "NodeAdded", "Obj": {"ID": 3}}"#, "invalid NodeAdded object"),
            (
                br#"{"Namespace": "Graph", "Type": "NodePartiallyUpdated", "Obj": {"ID": "n", "Ops": [{"Type": 9, "Key": "a"}]}}"#,
                "unknown partial update type 9",
            ),
        ];
        for (frame, want) in cases {
            let e = decode(frame).unwrap_err();
            assert!(
                e.message.contains(want),
                "{}: {}",
                String::from_utf8_lossy(frame),
                e.message
            );
        }
        let e = decode(br#"{"Namespace": "Graph", "Type": "Bogus", "UUID": "u"}"#).unwrap_err();
        assert_eq!(e.uuid.as_deref(), Some("u"));
    }

    #[test]
    fn deep_objects_are_refused() {
        let deep = format!(
            r#"{{"Namespace": "Graph", "Type": "NodeAdded", "Obj": {{"ID": "n", "Metadata": {{"a": {}1{}}}}}}}"#,
            "[".repeat(300),
            "]".repeat(300)
        );
        let e = decode(deep.as_bytes()).unwrap_err();
        assert!(e.message.contains("128 levels"), "{}", e.message);
    }

    #[test]
    fn encodes_skydive_envelopes() {
        let s = encode(
            "SyncReply",
            Some("u1"),
            200,
            &json!({"Nodes": [], "Edges": []}),
        );
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            v,
            json!({"Namespace": "Graph", "Type": "SyncReply", "UUID": "u1", "Status": 200, "Obj": {"Nodes": [], "Edges": []}})
        );
        let v: serde_json::Value = serde_json::from_str(&encode_error(None, "boom")).unwrap();
        assert_eq!(v["Status"], 400);
        assert_eq!(v["Obj"]["error"], "boom");
        assert_eq!(v["UUID"].as_str().unwrap().len(), 36);
    }
}

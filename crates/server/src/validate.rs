//! Nodes and edges as clients send them (REST bodies, publisher messages), checked and turned
//! into graph elements.
//!
//! The rules are Skydive's JSON schemas (`statics/schemas/{node,edge}.schema`): a non-empty
//! string `ID`; a `Metadata` key that is an object or `null` (`null` means none, which the
//! official Python client sends when given no metadata); a node's metadata names it with
//! non-empty `Type` and `Name` (a `netns` also has `Path`, an `ovsport` a `UUID`); an edge has
//! non-empty `Parent`, `Child` and `Metadata.RelationType`. Times are epoch milliseconds.
//! Unknown top-level fields are ignored, as Skydive's decoder does.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use skydive_graph::{Edge, Id, Metadata, Node, SharedStr, TimeMs};

/// Longest accepted element identifier, in bytes.
pub const MAX_ID_BYTES: usize = 1024;

/// Why an element was refused; the message names the field and what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidElement(pub String);

fn invalid(msg: impl Into<String>) -> InvalidElement {
    InvalidElement(msg.into())
}

/// A node or an edge as received: everything optional, so errors can say what is missing.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireElement {
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `None`: key absent; `Some(None)`: `null`.
    #[serde(
        rename = "Metadata",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<Option<Value>>,
    #[serde(rename = "Host", default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(rename = "Origin", default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(rename = "CreatedAt", default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(rename = "UpdatedAt", default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    #[serde(rename = "DeletedAt", default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<i64>,
    #[serde(rename = "Revision", default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    #[serde(rename = "Parent", default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(rename = "Child", default, skip_serializing_if = "Option::is_none")]
    pub child: Option<String>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Value>>, D::Error> {
    Option::<Value>::deserialize(d).map(Some)
}

/// What the receiver fills in when the client left it out.
#[derive(Debug, Clone, Copy)]
pub struct Defaults<'a> {
    /// `Host` when absent or empty.
    pub host: &'a str,
    /// `Origin` when absent or empty (or always, with `force_origin`).
    pub origin: &'a str,
    /// Publishers' elements always carry the publisher's origin, whatever they say.
    pub force_origin: bool,
    pub now: TimeMs,
}

impl WireElement {
    fn id(&self, what: &str) -> Result<Id, InvalidElement> {
        check_id(self.id.as_deref(), what, "ID")
    }

    fn metadata(&self, what: &str) -> Result<Option<Map<String, Value>>, InvalidElement> {
        match &self.metadata {
            None => Err(invalid(format!(
                "{what} has no `Metadata`: send an object (or null for none)"
            ))),
            Some(None) => Ok(None),
            Some(Some(Value::Object(m))) => Ok(Some(m.clone())),
            Some(Some(other)) => Err(invalid(format!(
                "{what} `Metadata` must be a JSON object, found {}",
                kind(other)
            ))),
        }
    }

    fn check_times(&self, what: &str) -> Result<(), InvalidElement> {
        for (name, v) in [
            ("CreatedAt", self.created_at),
            ("UpdatedAt", self.updated_at),
            ("DeletedAt", self.deleted_at),
        ] {
            if let Some(t) = v
                && t < 0
            {
                return Err(invalid(format!(
                    "{what} `{name}` must be epoch milliseconds, found {t}"
                )));
            }
        }
        if let Some(r) = self.revision
            && r < 0
        {
            return Err(invalid(format!(
                "{what} `Revision` must not be negative, found {r}"
            )));
        }
        Ok(())
    }

    /// The node this describes, checked against Skydive's node schema.
    pub fn into_node(self, d: Defaults<'_>) -> Result<Node, InvalidElement> {
        let id = self.id("node")?;
        let metadata = self.metadata("node")?;
        if let Some(m) = &metadata {
            check_node_metadata(m)?;
        }
        self.check_times("node")?;
        let (host, origin, created_at, updated_at, revision) = self.common(d);
        Ok(Node {
            id,
            metadata: metadata.map(Metadata::from).unwrap_or_default(),
            host,
            origin,
            created_at,
            updated_at,
            deleted_at: self.deleted_at.map(TimeMs),
            revision,
        })
    }

    /// The edge this describes, checked against Skydive's edge schema. Whether its ends
    /// exist is the graph's business.
    pub fn into_edge(self, d: Defaults<'_>) -> Result<Edge, InvalidElement> {
        let id = self.id("edge")?;
        let parent = check_id(self.parent.as_deref(), "edge", "Parent")?;
        let child = check_id(self.child.as_deref(), "edge", "Child")?;
        let metadata = self.metadata("edge")?;
        if let Some(m) = &metadata {
            check_edge_metadata(m)?;
        }
        self.check_times("edge")?;
        let (host, origin, created_at, updated_at, revision) = self.common(d);
        Ok(Edge {
            id,
            metadata: metadata.map(Metadata::from).unwrap_or_default(),
            parent,
            child,
            host,
            origin,
            created_at,
            updated_at,
            deleted_at: self.deleted_at.map(TimeMs),
            revision,
        })
    }

    fn common(&self, d: Defaults<'_>) -> (SharedStr, SharedStr, TimeMs, TimeMs, i64) {
        let host = match self.host.as_deref() {
            Some(h) if !h.is_empty() => h,
            _ => d.host,
        };
        let origin = match self.origin.as_deref() {
            Some(o) if !o.is_empty() && !d.force_origin => o,
            _ => d.origin,
        };
        let created_at = self
            .created_at
            .filter(|t| *t > 0)
            .map(TimeMs)
            .unwrap_or(d.now);
        let updated_at = self
            .updated_at
            .filter(|t| *t > 0)
            .map(TimeMs)
            .unwrap_or(created_at);
        let revision = self.revision.filter(|r| *r > 0).unwrap_or(1);
        (
            SharedStr::from(host),
            SharedStr::from(origin),
            created_at,
            updated_at,
            revision,
        )
    }
}

/// Checks an identifier field (`ID`, `Parent`, `Child`).
pub fn check_id(id: Option<&str>, what: &str, field: &str) -> Result<Id, InvalidElement> {
    match id {
        None => Err(invalid(format!(
            "{what} has no `{field}`: send a non-empty string"
        ))),
        Some("") => Err(invalid(format!("{what} `{field}` must not be empty"))),
        Some(s) if s.len() > MAX_ID_BYTES => Err(invalid(format!(
            "{what} `{field}` is {} bytes long, at most {MAX_ID_BYTES} are accepted",
            s.len()
        ))),
        Some(s) if s.chars().any(char::is_control) => Err(invalid(format!(
            "{what} `{field}` must not contain control characters"
        ))),
        Some(s) => Ok(Id::from(s)),
    }
}

fn non_empty_str(m: &Map<String, Value>, key: &str, what: &str) -> Result<(), InvalidElement> {
    match m.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(()),
        Some(Value::String(_)) => Err(invalid(format!(
            "{what} `Metadata.{key}` must not be empty"
        ))),
        Some(other) => Err(invalid(format!(
            "{what} `Metadata.{key}` must be a string, found {}",
            kind(other)
        ))),
        None => Err(invalid(format!(
            "{what} `Metadata.{key}` is required (a non-empty string)"
        ))),
    }
}

fn is_str(m: &Map<String, Value>, key: &str, what: &str) -> Result<(), InvalidElement> {
    match m.get(key) {
        Some(Value::String(_)) => Ok(()),
        Some(other) => Err(invalid(format!(
            "{what} `Metadata.{key}` must be a string, found {}",
            kind(other)
        ))),
        None => Err(invalid(format!(
            "{what} `Metadata.{key}` is required (a string)"
        ))),
    }
}

/// Skydive's node schema on the metadata: `Type` and `Name`; `netns` adds `Path`, `ovsport`
/// adds `UUID`.
pub fn check_node_metadata(m: &Map<String, Value>) -> Result<(), InvalidElement> {
    match m.get("Type").and_then(Value::as_str) {
        Some("netns") => {
            non_empty_str(m, "Name", "netns node")?;
            is_str(m, "Path", "netns node")
        }
        Some("ovsport") => {
            non_empty_str(m, "Name", "ovsport node")?;
            is_str(m, "UUID", "ovsport node")
        }
        _ => {
            non_empty_str(m, "Type", "node")?;
            non_empty_str(m, "Name", "node")
        }
    }
}

/// Skydive's edge schema on the metadata: a non-empty `RelationType`.
pub fn check_edge_metadata(m: &Map<String, Value>) -> Result<(), InvalidElement> {
    non_empty_str(m, "RelationType", "edge")
}

/// A JSON value's kind, for error messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaults() -> Defaults<'static> {
        Defaults {
            host: "an",
            origin: "api.an",
            force_origin: false,
            now: TimeMs(1000),
        }
    }

    fn wire(v: Value) -> WireElement {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn node_defaults_and_kept_fields() {
        let n = wire(json!({"ID": "n1", "Metadata": {"Name": "a", "Type": "b"}, "Host": "h", "CreatedAt": 5}))
            .into_node(defaults())
            .unwrap();
        assert_eq!(n.id, "n1");
        assert_eq!(&*n.host, "h");
        assert_eq!(&*n.origin, "api.an");
        assert_eq!(n.created_at, TimeMs(5));
        assert_eq!(n.updated_at, TimeMs(5));
        assert_eq!(n.revision, 1);
    }

    #[test]
    fn null_metadata_is_none_but_missing_is_an_error() {
        let n = wire(json!({"ID": "n1", "Metadata": null}))
            .into_node(defaults())
            .unwrap();
        assert!(n.metadata.is_empty());
        let e = wire(json!({"ID": "n1"})).into_node(defaults()).unwrap_err();
        assert!(e.0.contains("no `Metadata`"), "{e}");
    }

    #[test]
    fn node_schema_errors_name_the_field() {
        let cases = [
            (json!({"Metadata": {}}), "node has no `ID`"),
            (json!({"ID": "", "Metadata": {}}), "`ID` must not be empty"),
            (
                json!({"ID": "x", "Metadata": []}),
                "must be a JSON object, found an array",
            ),
            (
                json!({"ID": "x", "Metadata": {"Name": "a"}}),
                "`Metadata.Type` is required",
            ),
            (
                json!({"ID": "x", "Metadata": {"Type": "t", "Name": 3}}),
                "`Metadata.Name` must be a string, found a number",
            ),
            (
                json!({"ID": "x", "Metadata": {"Type": "netns", "Name": "n"}}),
                "`Metadata.Path` is required",
            ),
            (
                json!({"ID": "x", "Metadata": {"Type": "t", "Name": "n"}, "Revision": -1}),
                "must not be negative",
            ),
        ];
        for (v, want) in cases {
            let e = wire(v.clone()).into_node(defaults()).unwrap_err();
            assert!(e.0.contains(want), "{v}: {e}");
        }
    }

    #[test]
    fn edge_needs_ends_and_relation_type() {
        let ok = wire(json!({"ID": "e", "Parent": "a", "Child": "b", "Metadata": {"RelationType": "ownership"}}))
            .into_edge(defaults())
            .unwrap();
        assert_eq!(ok.parent, "a");
        let e = wire(json!({"ID": "e", "Child": "b", "Metadata": {"RelationType": "x"}}))
            .into_edge(defaults())
            .unwrap_err();
        assert!(e.0.contains("no `Parent`"), "{e}");
        let e = wire(json!({"ID": "e", "Parent": "a", "Child": "b", "Metadata": {}}))
            .into_edge(defaults())
            .unwrap_err();
        assert!(e.0.contains("RelationType"), "{e}");
    }

    #[test]
    fn forced_origin_wins() {
        let d = Defaults {
            force_origin: true,
            origin: "pub.h",
            ..defaults()
        };
        let n = wire(json!({"ID": "n", "Metadata": null, "Origin": "evil"}))
            .into_node(d)
            .unwrap();
        assert_eq!(&*n.origin, "pub.h");
    }
}

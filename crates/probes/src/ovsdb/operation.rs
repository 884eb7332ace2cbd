//! The operations of an OVSDB `transact` (RFC 7047 §5.2) and its reply.
//!
//! [`Operation`] serialises to the exact JSON the server expects (`{"op": "insert", "table":
//! …}`); values inside rows and conditions are OVSDB JSON values, built with the helpers of
//! [`super::datum`]. A transaction is atomic: every operation applies, or none does.
//!
//! ```
//! use serde_json::json;
//! use skydive_probes::ovsdb::datum::{named_uuid, set, string_map, uuid};
//! use skydive_probes::ovsdb::{Condition, Operation};
//!
//! // What the ovssflow capture does: a new sFlow row, attached to a bridge.
//! let ops = vec![
//!     Operation::insert("sFlow", json!({
//!         "agent": "lo",
//!         "targets": set([json!("127.0.0.1:6345")]),
//!         "sampling": 1, "polling": 10, "header": 128,
//!         "external_ids": string_map([("skydive-probe-id", "c1")]),
//!     }))
//!     .with_uuid_name("sflow"),
//!     Operation::update(
//!         "Bridge",
//!         vec![Condition::eq("_uuid", uuid("0b0ad6a9-6ad3-4d6d-9a6f-8dcbc4e2b3a1"))],
//!         json!({"sflow": named_uuid("sflow")}),
//!     ),
//! ];
//! assert_eq!(serde_json::to_value(&ops[1]).unwrap()["where"][0][1], "==");
//! ```

use serde::Serialize;
use serde::ser::SerializeSeq;
use serde_json::{Map, Value};

/// `[column, function, value]`: selects rows (`where`).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: String,
    /// `==`, `!=`, `<`, `<=`, `>`, `>=`, `includes`, `excludes`.
    pub function: &'static str,
    pub value: Value,
}

impl Condition {
    pub fn new(column: impl Into<String>, function: &'static str, value: Value) -> Self {
        Condition {
            column: column.into(),
            function,
            value,
        }
    }

    /// `column == value`.
    pub fn eq(column: impl Into<String>, value: Value) -> Self {
        Self::new(column, "==", value)
    }

    /// `column includes value` (a set or map column holds these members).
    pub fn includes(column: impl Into<String>, value: Value) -> Self {
        Self::new(column, "includes", value)
    }
}

impl Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(3))?;
        seq.serialize_element(&self.column)?;
        seq.serialize_element(self.function)?;
        seq.serialize_element(&self.value)?;
        seq.end()
    }
}

/// `[column, mutator, value]`: changes a column in place (`mutate`).
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    pub column: String,
    /// `+=`, `-=`, `*=`, `/=`, `%=`, `insert`, `delete`.
    pub mutator: &'static str,
    pub value: Value,
}

impl Mutation {
    pub fn new(column: impl Into<String>, mutator: &'static str, value: Value) -> Self {
        Mutation {
            column: column.into(),
            mutator,
            value,
        }
    }

    /// Adds members to a set or map column.
    pub fn insert(column: impl Into<String>, value: Value) -> Self {
        Self::new(column, "insert", value)
    }

    /// Removes members (or map keys) from a set or map column.
    pub fn delete(column: impl Into<String>, value: Value) -> Self {
        Self::new(column, "delete", value)
    }
}

impl Serialize for Mutation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(3))?;
        seq.serialize_element(&self.column)?;
        seq.serialize_element(self.mutator)?;
        seq.serialize_element(&self.value)?;
        seq.end()
    }
}

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Operation {
    Insert {
        table: String,
        row: Map<String, Value>,
        /// Name under which later operations of the same transaction refer to the new row
        /// (`["named-uuid", name]`).
        #[serde(rename = "uuid-name", skip_serializing_if = "Option::is_none")]
        uuid_name: Option<String>,
    },
    Select {
        table: String,
        #[serde(rename = "where")]
        conditions: Vec<Condition>,
        #[serde(skip_serializing_if = "Option::is_none")]
        columns: Option<Vec<String>>,
    },
    Update {
        table: String,
        #[serde(rename = "where")]
        conditions: Vec<Condition>,
        row: Map<String, Value>,
    },
    Mutate {
        table: String,
        #[serde(rename = "where")]
        conditions: Vec<Condition>,
        mutations: Vec<Mutation>,
    },
    Delete {
        table: String,
        #[serde(rename = "where")]
        conditions: Vec<Condition>,
    },
    /// Fails the transaction unless the rows selected by `conditions` compare to `rows`
    /// (`until`: `==` or `!=`) within `timeout` ms.
    Wait {
        table: String,
        #[serde(rename = "where")]
        conditions: Vec<Condition>,
        columns: Vec<String>,
        until: &'static str,
        rows: Vec<Map<String, Value>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        timeout: Option<u64>,
    },
    Commit {
        durable: bool,
    },
    Abort,
    /// Recorded in the database log.
    Comment {
        comment: String,
    },
}

fn object(row: Value) -> Map<String, Value> {
    match row {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl Operation {
    /// Inserts a row (`row` must be a JSON object of column → value; anything else inserts
    /// a row of defaults).
    pub fn insert(table: impl Into<String>, row: Value) -> Self {
        Operation::Insert {
            table: table.into(),
            row: object(row),
            uuid_name: None,
        }
    }

    /// Names the row an `insert` creates, for `["named-uuid", name]` references.
    pub fn with_uuid_name(mut self, name: impl Into<String>) -> Self {
        if let Operation::Insert { uuid_name, .. } = &mut self {
            *uuid_name = Some(name.into());
        }
        self
    }

    /// Selects the rows matching every condition (all rows when `conditions` is empty).
    pub fn select(table: impl Into<String>, conditions: Vec<Condition>) -> Self {
        Operation::Select {
            table: table.into(),
            conditions,
            columns: None,
        }
    }

    /// Restricts a `select` to these columns.
    pub fn with_columns<S: Into<String>>(mut self, cols: impl IntoIterator<Item = S>) -> Self {
        if let Operation::Select { columns, .. } = &mut self {
            *columns = Some(cols.into_iter().map(Into::into).collect());
        }
        self
    }

    /// Sets columns of the matching rows.
    pub fn update(table: impl Into<String>, conditions: Vec<Condition>, row: Value) -> Self {
        Operation::Update {
            table: table.into(),
            conditions,
            row: object(row),
        }
    }

    pub fn mutate(
        table: impl Into<String>,
        conditions: Vec<Condition>,
        mutations: Vec<Mutation>,
    ) -> Self {
        Operation::Mutate {
            table: table.into(),
            conditions,
            mutations,
        }
    }

    /// Deletes the matching rows (rows of non-root tables are also deleted by the server when
    /// nothing refers to them any more).
    pub fn delete(table: impl Into<String>, conditions: Vec<Condition>) -> Self {
        Operation::Delete {
            table: table.into(),
            conditions,
        }
    }

    pub fn comment(text: impl Into<String>) -> Self {
        Operation::Comment {
            comment: text.into(),
        }
    }
}

/// The results of a successful transaction, one per operation, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactReply(pub Vec<Value>);

impl TransactReply {
    /// The UUID of the row inserted by operation `i`.
    pub fn uuid(&self, i: usize) -> Option<&str> {
        self.0.get(i)?.get("uuid").and_then(super::datum::as_uuid)
    }

    /// The number of rows operation `i` (update, mutate, delete) touched.
    pub fn count(&self, i: usize) -> Option<u64> {
        self.0.get(i)?.get("count")?.as_u64()
    }

    /// The rows operation `i` (select) returned.
    pub fn rows(&self, i: usize) -> Vec<super::datum::Row> {
        self.0
            .get(i)
            .and_then(|r| r.get("rows"))
            .and_then(Value::as_array)
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| r.as_object().cloned().map(super::datum::Row))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::datum::{set, uuid};
    use serde_json::json;

    #[test]
    fn operations_serialise_as_rfc_7047() {
        let ops = vec![
            Operation::insert("sFlow", json!({"agent": "lo"})).with_uuid_name("s"),
            Operation::select("Bridge", vec![Condition::eq("name", json!("br0"))])
                .with_columns(["_uuid", "sflow"]),
            Operation::update(
                "Bridge",
                vec![Condition::eq("_uuid", uuid("u"))],
                json!({"sflow": set([])}),
            ),
            Operation::mutate(
                "Bridge",
                vec![],
                vec![Mutation::delete("external_ids", set([json!("k")]))],
            ),
            Operation::delete("sFlow", vec![Condition::includes("targets", json!("a"))]),
            Operation::comment("skydive"),
            Operation::Commit { durable: false },
            Operation::Abort,
        ];
        assert_eq!(
            serde_json::to_value(&ops).unwrap(),
            json!([
                {"op": "insert", "table": "sFlow", "row": {"agent": "lo"}, "uuid-name": "s"},
                {"op": "select", "table": "Bridge", "where": [["name", "==", "br0"]], "columns": ["_uuid", "sflow"]},
                {"op": "update", "table": "Bridge", "where": [["_uuid", "==", ["uuid", "u"]]], "row": {"sflow": ["set", []]}},
                {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["external_ids", "delete", ["set", ["k"]]]]},
                {"op": "delete", "table": "sFlow", "where": [["targets", "includes", "a"]]},
                {"op": "comment", "comment": "skydive"},
                {"op": "commit", "durable": false},
                {"op": "abort"},
            ])
        );
    }

    #[test]
    fn reply_accessors() {
        let r = TransactReply(vec![
            json!({"uuid": ["uuid", "9b5a"]}),
            json!({"count": 1}),
            json!({"rows": [{"name": "br0"}, 5]}),
        ]);
        assert_eq!(r.uuid(0), Some("9b5a"));
        assert_eq!(r.count(1), Some(1));
        assert_eq!(r.rows(2).len(), 1);
        assert_eq!(r.rows(2)[0].str("name"), Some("br0"));
        assert_eq!(r.uuid(5), None);
    }
}

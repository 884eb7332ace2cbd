//! OVSDB values (RFC 7047 §5.1) as they travel in JSON: atoms (`1`, `"br0"`, `true`,
//! `["uuid", "…"]`, `["named-uuid", "…"]`) and datums (an atom, `["set", [atoms]]`,
//! `["map", [[key, value], …]]`).
//!
//! Two halves:
//! - **Reading** rows the server sends: [`Row`] wraps one row's JSON object and reads a column
//!   leniently (a column that is missing or has an unexpected shape reads as absent/empty, so
//!   a server with a different schema never makes the probe fail).
//! - **Writing** values for `transact`: [`uuid()`], [`named_uuid`], [`set`], [`map`],
//!   [`string_map`] build the JSON forms.
//!
//! A one-element set and the bare atom are the same value in OVSDB (`"tag": 10` and
//! `"tag": ["set", [10]]`); the readers accept both.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// `["uuid", u]`: a reference to an existing row.
pub fn uuid(u: &str) -> Value {
    Value::Array(vec![Value::from("uuid"), Value::from(u)])
}

/// `["named-uuid", n]`: a reference to a row inserted earlier in the same transaction under
/// `uuid-name` `n`.
pub fn named_uuid(n: &str) -> Value {
    Value::Array(vec![Value::from("named-uuid"), Value::from(n)])
}

/// `["set", [atoms]]`.
pub fn set<I: IntoIterator<Item = Value>>(atoms: I) -> Value {
    Value::Array(vec![
        Value::from("set"),
        Value::Array(atoms.into_iter().collect()),
    ])
}

/// `["map", [[key, value], …]]`.
pub fn map<I: IntoIterator<Item = (Value, Value)>>(pairs: I) -> Value {
    Value::Array(vec![
        Value::from("map"),
        Value::Array(
            pairs
                .into_iter()
                .map(|(k, v)| Value::Array(vec![k, v]))
                .collect(),
        ),
    ])
}

/// A string → string map (`external_ids`, `options`, `other_config`).
pub fn string_map<'a, I: IntoIterator<Item = (&'a str, &'a str)>>(pairs: I) -> Value {
    map(pairs
        .into_iter()
        .map(|(k, v)| (Value::from(k), Value::from(v))))
}

/// The UUID inside `["uuid", u]`.
pub fn as_uuid(v: &Value) -> Option<&str> {
    match v.as_array()?.as_slice() {
        [tag, Value::String(u)] if tag == "uuid" => Some(u),
        _ => None,
    }
}

/// The atoms of a datum: the atom itself, or the members of a `set`.
fn atoms(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) if a.len() == 2 && a[0] == "set" => a[1].as_array().map_or(&[], |s| s),
        // `["uuid", …]` / `["named-uuid", …]` are single atoms.
        Value::Array(a) if a.len() == 2 && (a[0] == "uuid" || a[0] == "named-uuid") => {
            std::slice::from_ref(v)
        }
        Value::Array(_) | Value::Object(_) | Value::Null => &[],
        _ => std::slice::from_ref(v),
    }
}

/// The pairs of a `map` datum (empty for anything else).
fn pairs(v: &Value) -> impl Iterator<Item = (&Value, &Value)> {
    let list: &[Value] = match v {
        Value::Array(a) if a.len() == 2 && a[0] == "map" => a[1].as_array().map_or(&[], |s| s),
        _ => &[],
    };
    list.iter().filter_map(|p| match p.as_array()?.as_slice() {
        [k, v] => Some((k, v)),
        _ => None,
    })
}

/// A scalar atom as a string, for maps whose values may be numbers (`statistics`).
fn atom_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => as_uuid(v).map(str::to_owned),
    }
}

/// One row as the server sent it (the `new` or `old` object of a row update).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row(pub Map<String, Value>);

impl Row {
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.0.get(column)
    }

    /// A string column, or the single member of an optional (0..1) string column.
    pub fn str(&self, column: &str) -> Option<&str> {
        match atoms(self.0.get(column)?) {
            [Value::String(s)] => Some(s),
            _ => None,
        }
    }

    /// A non-empty string column.
    pub fn non_empty_str(&self, column: &str) -> Option<&str> {
        self.str(column).filter(|s| !s.is_empty())
    }

    /// An integer column, or the single member of an optional integer column.
    pub fn int(&self, column: &str) -> Option<i64> {
        match atoms(self.0.get(column)?) {
            [v] => v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)),
            _ => None,
        }
    }

    /// The integers of a set column.
    pub fn ints(&self, column: &str) -> Vec<i64> {
        self.0
            .get(column)
            .map(|v| atoms(v).iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default()
    }

    /// The strings of a set column.
    pub fn strings(&self, column: &str) -> Vec<String> {
        self.0
            .get(column)
            .map(|v| {
                atoms(v)
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The row references of a column (`Bridge.ports`, `Port.interfaces`).
    pub fn uuids(&self, column: &str) -> Vec<String> {
        self.0
            .get(column)
            .map(|v| {
                atoms(v)
                    .iter()
                    .filter_map(|a| as_uuid(a).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A map column with scalar keys and values, as strings (numbers printed).
    pub fn string_map(&self, column: &str) -> BTreeMap<String, String> {
        self.0
            .get(column)
            .map(|v| {
                pairs(v)
                    .filter_map(|(k, v)| Some((atom_string(k)?, atom_string(v)?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One key of a string map column.
    pub fn map_value(&self, column: &str, key: &str) -> Option<String> {
        pairs(self.0.get(column)?)
            .find(|(k, _)| k.as_str() == Some(key))
            .and_then(|(_, v)| atom_string(v))
    }

    /// A map column with integer values (`statistics`).
    pub fn int_map(&self, column: &str) -> BTreeMap<String, i64> {
        self.0
            .get(column)
            .map(|v| {
                pairs(v)
                    .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_i64()?)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Row {
        Row(v.as_object().unwrap().clone())
    }

    #[test]
    fn reads_columns_as_ovsdb_sends_them() {
        let r = row(json!({
            "name": "br0",
            "tag": ["set", []],
            "ofport": 3,
            "mac_in_use": ["set", ["aa:bb:cc:dd:ee:ff"]],
            "error": ["set", []],
            "trunks": ["set", [1, 2, 3]],
            "one_trunk": 7,
            "protocols": ["set", ["OpenFlow10", "OpenFlow13"]],
            "ports": ["set", [["uuid", "p1"], ["uuid", "p2"]]],
            "interfaces": ["uuid", "i1"],
            "options": ["map", [["remote_ip", "10.0.0.2"], ["key", "flow"]]],
            "statistics": ["map", [["rx_bytes", 10], ["tx_packets", 2]]],
            "status": ["map", [["driver_name", "veth"], ["odd", 5]]],
            "bad": {"not": "a datum"},
        }));
        assert_eq!(r.str("name"), Some("br0"));
        assert_eq!(r.int("tag"), None);
        assert_eq!(r.int("ofport"), Some(3));
        assert_eq!(r.str("mac_in_use"), Some("aa:bb:cc:dd:ee:ff"));
        assert_eq!(r.non_empty_str("error"), None);
        assert_eq!(r.ints("trunks"), [1, 2, 3]);
        assert_eq!(r.ints("one_trunk"), [7]);
        assert_eq!(r.strings("protocols"), ["OpenFlow10", "OpenFlow13"]);
        assert_eq!(r.uuids("ports"), ["p1", "p2"]);
        assert_eq!(r.uuids("interfaces"), ["i1"]);
        assert_eq!(
            r.map_value("options", "remote_ip").as_deref(),
            Some("10.0.0.2")
        );
        assert_eq!(r.string_map("status")["odd"], "5");
        assert_eq!(r.int_map("statistics")["rx_bytes"], 10);
        assert!(r.string_map("bad").is_empty());
        assert_eq!(r.str("bad"), None);
        assert_eq!(r.str("missing"), None);
        assert!(r.uuids("name").is_empty());
    }

    #[test]
    fn builds_values_for_transact() {
        assert_eq!(uuid("u"), json!(["uuid", "u"]));
        assert_eq!(named_uuid("n"), json!(["named-uuid", "n"]));
        assert_eq!(set([json!("a"), json!("b")]), json!(["set", ["a", "b"]]));
        assert_eq!(string_map([("k", "v")]), json!(["map", [["k", "v"]]]));
        assert_eq!(as_uuid(&uuid("x")), Some("x"));
        assert_eq!(as_uuid(&json!(["named-uuid", "x"])), None);
    }
}

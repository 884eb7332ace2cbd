//! Free-form element metadata with dotted-key access (`Ovs.Options.remote_ip`).
//!
//! Metadata is a JSON object; a dotted key walks nested objects. A key that names a list
//! matches a value the list contains (Skydive's list-aware term match): that rule lives in
//! `values_at`, used by the indexes and by query predicates alike.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The metadata of a node or edge: a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds metadata from `(key, value)` pairs; keys may be dotted.
    pub fn from_pairs<K: AsRef<str>, V: Into<Value>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut m = Self::new();
        for (k, v) in pairs {
            m.set(k.as_ref(), v.into());
        }
        m
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at a dotted key, if every step exists. An exact top-level key wins over
    /// the dotted walk, so a key that really contains a dot stays reachable.
    pub fn get(&self, key: &str) -> Option<&Value> {
        if let Some(v) = self.0.get(key) {
            return Some(v);
        }
        let mut parts = key.split('.');
        let mut cur = self.0.get(parts.next()?)?;
        for p in parts {
            cur = cur.as_object()?.get(p)?;
        }
        Some(cur)
    }

    /// The string at a dotted key, if it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_i64)
    }

    /// Sets a dotted key, creating intermediate objects (and replacing non-objects on the way).
    /// Returns true when the stored value changed.
    pub fn set(&mut self, key: &str, value: Value) -> bool {
        let mut parts = key.split('.').peekable();
        let mut cur = &mut self.0;
        while let Some(p) = parts.next() {
            if parts.peek().is_none() {
                if cur.get(p) == Some(&value) {
                    return false;
                }
                cur.insert(p.to_owned(), value);
                return true;
            }
            let slot = cur.entry(p.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            cur = match slot {
                Value::Object(m) => m,
                _ => unreachable!("slot was just made an object"),
            };
        }
        false
    }

    /// Removes a dotted key; returns the removed value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        if let Some(v) = self.0.remove(key) {
            return Some(v);
        }
        let (parent, last) = key.rsplit_once('.')?;
        let mut cur = &mut self.0;
        for p in parent.split('.') {
            cur = cur.get_mut(p)?.as_object_mut()?;
        }
        cur.remove(last)
    }

    /// Applies one partial-update operation.
    pub fn apply(&mut self, op: &MetadataOp) -> bool {
        match op.kind {
            OpKind::Add => self.set(&op.key, op.value.clone().unwrap_or(Value::Null)),
            OpKind::Del => self.remove(&op.key).is_some(),
        }
    }

    /// Every scalar a key stands for: the value itself, or each element of a list.
    pub fn values_at<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a Value> + 'a {
        let (single, list) = match self.get(key) {
            Some(Value::Array(items)) => (None, Some(items.iter())),
            other => (other, None),
        };
        single.into_iter().chain(list.into_iter().flatten())
    }

    /// The dotted keys of every leaf (non-object value), as Skydive's `Keys()` lists them.
    pub fn leaf_keys(&self) -> Vec<String> {
        fn walk(prefix: &str, m: &Map<String, Value>, out: &mut Vec<String>) {
            for (k, v) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                match v {
                    Value::Object(inner) if !inner.is_empty() => walk(&key, inner, out),
                    _ => out.push(key),
                }
            }
        }
        let mut out = Vec::new();
        walk("", &self.0, &mut out);
        out
    }

    /// The operations that turn `self` into `other`, at top-level key granularity.
    pub fn diff(&self, other: &Metadata) -> Vec<MetadataOp> {
        let mut ops = Vec::new();
        for (k, v) in &other.0 {
            if self.0.get(k) != Some(v) {
                ops.push(MetadataOp::add(k.clone(), v.clone()));
            }
        }
        for k in self.0.keys() {
            if !other.0.contains_key(k) {
                ops.push(MetadataOp::del(k.clone()));
            }
        }
        ops
    }
}

impl From<Map<String, Value>> for Metadata {
    fn from(m: Map<String, Value>) -> Self {
        Metadata(m)
    }
}

/// Kind of a partial-update operation; serialised as Skydive's numbers (1 = add, 2 = del).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum OpKind {
    Add,
    Del,
}

impl From<OpKind> for u8 {
    fn from(k: OpKind) -> u8 {
        match k {
            OpKind::Add => 1,
            OpKind::Del => 2,
        }
    }
}

impl TryFrom<u8> for OpKind {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            1 => Ok(OpKind::Add),
            2 => Ok(OpKind::Del),
            other => Err(format!("unknown partial update type {other}, expected 1 (add) or 2 (del)")),
        }
    }
}

/// One operation of a partial update (`NodePartiallyUpdated`): `{Type, Key, Value}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataOp {
    #[serde(rename = "Type")]
    pub kind: OpKind,
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl MetadataOp {
    pub fn add(key: impl Into<String>, value: Value) -> Self {
        MetadataOp { kind: OpKind::Add, key: key.into(), value: Some(value) }
    }

    pub fn del(key: impl Into<String>) -> Self {
        MetadataOp { kind: OpKind::Del, key: key.into(), value: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_get_set_remove() {
        let mut m = Metadata::new();
        assert!(m.set("Ovs.Options.remote_ip", json!("10.0.0.2")));
        assert!(!m.set("Ovs.Options.remote_ip", json!("10.0.0.2")));
        assert_eq!(m.get_str("Ovs.Options.remote_ip"), Some("10.0.0.2"));
        assert_eq!(m.get("Ovs.Options"), Some(&json!({"remote_ip": "10.0.0.2"})));
        assert_eq!(m.remove("Ovs.Options.remote_ip"), Some(json!("10.0.0.2")));
        assert_eq!(m.get("Ovs.Options.remote_ip"), None);
        assert_eq!(m.get("Ovs.Nope.x"), None);
    }

    #[test]
    fn literal_dotted_key_is_reachable() {
        let m: Metadata = serde_json::from_value(json!({"a.b": 1, "a": {"b": 2}})).unwrap();
        assert_eq!(m.get("a.b"), Some(&json!(1)));
    }

    #[test]
    fn list_values_are_flattened() {
        let m = Metadata::from_pairs([("IPV4", json!(["10.0.0.1/24", "10.0.1.1/24"])), ("Name", json!("eth0"))]);
        assert_eq!(m.values_at("IPV4").count(), 2);
        assert_eq!(m.values_at("Name").count(), 1);
        assert_eq!(m.values_at("Nope").count(), 0);
    }

    #[test]
    fn diff_then_apply_reproduces() {
        let a = Metadata::from_pairs([("A", json!(1)), ("B", json!("x"))]);
        let b = Metadata::from_pairs([("A", json!(2)), ("C", json!(true))]);
        let mut c = a.clone();
        for op in a.diff(&b) {
            c.apply(&op);
        }
        assert_eq!(c, b);
    }

    #[test]
    fn op_kind_rejects_unknown_numbers() {
        let bad: Result<MetadataOp, _> = serde_json::from_value(json!({"Type": 7, "Key": "a"}));
        assert!(bad.unwrap_err().to_string().contains("unknown partial update type 7"));
    }
}

//! Free-form element metadata with dotted-key access (`Ovs.Options.remote_ip`).
//!
//! Metadata is a JSON object; a dotted key walks nested objects. A key that names a list
//! matches a value the list contains (Skydive's list-aware term match): that rule lives in
//! `values_at`, used by the indexes and by query predicates alike.
//!
//! Representation: the top level is a boxed slice of entries sorted by key, each entry an
//! `Arc` of (interned key, value), shared process-wide when its value is small and likely to
//! repeat (see `interned.rs`): a graph holds millions of small maps that share a few dozen key
//! names and mostly the same values (`Type`, `State`, `MTU`, `LinkFlags`…). An entry then
//! costs 8 bytes in its element, plus 56 bytes and the value's own heap when not shared.
//! Metadata of a few shared entries only (`{RelationType: "ownership"}`, most edges) is
//! itself one shared slice, copied on write: it costs its element nothing but the pointer. A
//! `BTreeMap` per element cost a full 11-slot node plus a copy of every key and value
//! (`bench/graph_bench`: 3.4 KiB per node with its edges then, 1.1 KiB now). Nested objects
//! stay `serde_json` maps: they are rarer and their keys vary more. Serialised output is
//! sorted by key, like Skydive's (Go marshals maps in key order).

use std::fmt;
use std::sync::Arc;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::interned::{Entry, Key, SharedEntries, entry, intern_key, pooled, share, shareable};

/// The metadata of a node or edge: a JSON object.
#[derive(Clone)]
pub struct Metadata(Repr);

/// Entries sorted by key: the element's own, or shared (when [`shareable`], always).
#[derive(Clone)]
enum Repr {
    Own(Box<[Arc<Entry>]>),
    Shared(SharedEntries),
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata(Repr::Own(Box::default()))
    }
}

impl PartialEq for Metadata {
    fn eq(&self, other: &Self) -> bool {
        if let (Repr::Shared(a), Repr::Shared(b)) = (&self.0, &other.0)
            && Arc::ptr_eq(a, b)
        {
            return true;
        }
        let (a, b) = (self.entries(), other.entries());
        a.len() == b.len()
            && a.iter()
                .zip(b.iter())
                .all(|(a, b)| Arc::ptr_eq(a, b) || **a == **b)
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Metadata {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds metadata from `(key, value)` pairs; keys may be dotted.
    pub fn from_pairs<K: AsRef<str>, V: Into<Value>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut m = Self::new();
        for (k, v) in pairs {
            m.set(k.as_ref(), v.into());
        }
        m
    }

    fn entries(&self) -> &[Arc<Entry>] {
        match &self.0 {
            Repr::Own(e) => e,
            Repr::Shared(e) => e,
        }
    }

    /// The entries, made this metadata's own first if they were shared.
    fn entries_mut(&mut self) -> &mut Box<[Arc<Entry>]> {
        if let Repr::Shared(e) = &self.0 {
            self.0 = Repr::Own(Box::clone(e));
        }
        match &mut self.0 {
            Repr::Own(e) => e,
            Repr::Shared(_) => unreachable!("made own above"),
        }
    }

    /// Shares the entries if they may be: after every change, so equal small metadata is
    /// always one allocation.
    fn settle(&mut self) {
        if let Repr::Own(e) = &mut self.0
            && shareable(e)
        {
            self.0 = Repr::Shared(share(std::mem::take(e)));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// Number of top-level keys.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Top-level entries, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> + '_ {
        self.entries().iter().map(|e| (&*e.key, &e.value))
    }

    /// A copy as a JSON object.
    pub fn to_json_map(&self) -> Map<String, Value> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect()
    }

    fn slot(&self, key: &str) -> Result<usize, usize> {
        self.entries().binary_search_by(|e| (*e.key).cmp(key))
    }

    fn top(&self, key: &str) -> Option<&Value> {
        self.slot(key).ok().map(|i| &self.entries()[i].value)
    }

    /// Inserts `e` at position `i` (keys stay sorted): one exact-size allocation.
    fn insert_at(&mut self, i: usize, e: Arc<Entry>) {
        let old = self.entries();
        let mut v = Vec::with_capacity(old.len() + 1);
        v.extend_from_slice(&old[..i]);
        v.push(e);
        v.extend_from_slice(&old[i..]);
        self.0 = Repr::Own(v.into_boxed_slice());
    }

    fn remove_at(&mut self, i: usize) -> Arc<Entry> {
        let mut v = std::mem::take(self.entries_mut()).into_vec();
        let e = v.remove(i);
        self.0 = Repr::Own(v.into_boxed_slice());
        e
    }

    /// The value at a dotted key, if every step exists. An exact top-level key wins over
    /// the dotted walk, so a key that really contains a dot stays reachable.
    pub fn get(&self, key: &str) -> Option<&Value> {
        if let Some(v) = self.top(key) {
            return Some(v);
        }
        let (first, rest) = key.split_once('.')?;
        let mut cur = self.top(first)?;
        for p in rest.split('.') {
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
        let changed = self.set_unsettled(key, value);
        self.settle();
        changed
    }

    fn set_unsettled(&mut self, key: &str, value: Value) -> bool {
        let (first, rest) = match key.split_once('.') {
            Some((f, r)) => (f, Some(r)),
            None => (key, None),
        };
        let Some(rest) = rest else {
            return match self.slot(first) {
                Ok(i) if self.entries()[i].value == value => false,
                Ok(i) => {
                    // A counter updated in place keeps its allocation; a value that may be
                    // shared goes through the pool.
                    let entries = self.entries_mut();
                    match Arc::get_mut(&mut entries[i]) {
                        Some(e) if !pooled(&value) => e.value = value,
                        _ => entries[i] = entry(entries[i].key.clone(), value),
                    }
                    true
                }
                Err(i) => {
                    self.insert_at(i, entry(intern_key(first), value));
                    true
                }
            };
        };
        let i = match self.slot(first) {
            Ok(i) => i,
            Err(i) => {
                self.insert_at(i, entry(intern_key(first), Value::Object(Map::new())));
                i
            }
        };
        if self.entries()[i].value.is_object() {
            let mut probe = &self.entries()[i].value;
            let mut found = true;
            for p in rest.split('.') {
                match probe.as_object().and_then(|m| m.get(p)) {
                    Some(v) => probe = v,
                    None => {
                        found = false;
                        break;
                    }
                }
            }
            if found && *probe == value {
                return false;
            }
        }
        set_nested(
            &mut Arc::make_mut(&mut self.entries_mut()[i]).value,
            rest,
            value,
        )
    }

    /// Removes a dotted key; returns the removed value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let removed = self.remove_unsettled(key);
        self.settle();
        removed
    }

    fn remove_unsettled(&mut self, key: &str) -> Option<Value> {
        if let Ok(i) = self.slot(key) {
            let e = self.remove_at(i);
            return Some(Arc::try_unwrap(e).map_or_else(|e| e.value.clone(), |e| e.value));
        }
        let (first, rest) = key.split_once('.')?;
        let i = self.slot(first).ok()?;
        let (parent, last) = match rest.rsplit_once('.') {
            Some((p, l)) => (Some(p), l),
            None => (None, rest),
        };
        // Look before copying a shared entry.
        let mut probe = self.entries()[i].value.as_object()?;
        for p in parent.into_iter().flat_map(|p| p.split('.')) {
            probe = probe.get(p)?.as_object()?;
        }
        probe.get(last)?;
        let mut cur = Arc::make_mut(&mut self.entries_mut()[i])
            .value
            .as_object_mut()?;
        for p in parent.into_iter().flat_map(|p| p.split('.')) {
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
        fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(inner) if !inner.is_empty() => {
                    for (k, v) in inner {
                        walk(&format!("{prefix}.{k}"), v, out);
                    }
                }
                _ => out.push(prefix.to_owned()),
            }
        }
        let mut out = Vec::new();
        for (k, v) in self.iter() {
            walk(k, v, &mut out);
        }
        out
    }

    /// The operations that turn `self` into `other`, at top-level key granularity.
    pub fn diff(&self, other: &Metadata) -> Vec<MetadataOp> {
        let mut ops = Vec::new();
        for e in other.entries() {
            let same = match self.slot(&e.key) {
                Ok(i) => {
                    let mine = &self.entries()[i];
                    Arc::ptr_eq(mine, e) || mine.value == e.value
                }
                Err(_) => false,
            };
            if !same {
                ops.push(MetadataOp::add(&*e.key, e.value.clone()));
            }
        }
        for (k, _) in self.iter() {
            if other.top(k).is_none() {
                ops.push(MetadataOp::del(k));
            }
        }
        ops
    }
}

fn set_nested(slot: &mut Value, dotted: &str, value: Value) -> bool {
    let mut cur = slot;
    let mut parts = dotted.split('.').peekable();
    while let Some(p) = parts.next() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else {
            unreachable!("made an object above")
        };
        if parts.peek().is_none() {
            if map.get(p) == Some(&value) {
                return false;
            }
            map.insert(p.to_owned(), value);
            return true;
        }
        cur = map
            .entry(p.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    false
}

/// Sorted, last-of-duplicates-wins entries from interned keys and values.
fn from_sorted_unique(mut v: Vec<(Key, Value)>) -> Metadata {
    // Stable sort, then keep the last of duplicate keys, as JSON object parsing does.
    v.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<Arc<Entry>> = Vec::with_capacity(v.len());
    let mut pending: Option<(Key, Value)> = None;
    for (k, val) in v {
        match &mut pending {
            Some(p) if p.0 == k => p.1 = val,
            _ => {
                if let Some((pk, pv)) = pending.replace((k, val)) {
                    out.push(entry(pk, pv));
                }
            }
        }
    }
    if let Some((pk, pv)) = pending {
        out.push(entry(pk, pv));
    }
    let mut m = Metadata(Repr::Own(out.into_boxed_slice()));
    m.settle();
    m
}

impl Metadata {
    /// Metadata from top-level `(key, value)` entries, keys taken literally (not as dotted
    /// paths); of duplicate keys the last wins, as when parsing a JSON object. For decoders
    /// that read entries one at a time: no intermediate JSON map and no copy of each key.
    pub fn from_entries<K: AsRef<str>>(entries: impl IntoIterator<Item = (K, Value)>) -> Self {
        from_sorted_unique(
            entries
                .into_iter()
                .map(|(k, val)| (intern_key(k.as_ref()), val))
                .collect(),
        )
    }
}

impl From<Map<String, Value>> for Metadata {
    fn from(m: Map<String, Value>) -> Self {
        // A serde_json map is already sorted by key (no `preserve_order`), but sort anyway so
        // the invariant never depends on a feature flag elsewhere in the build.
        from_sorted_unique(m.into_iter().map(|(k, v)| (intern_key(&k), v)).collect())
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries = self.entries();
        let mut map = s.serialize_map(Some(entries.len()))?;
        for e in entries {
            map.serialize_entry(&*e.key, &e.value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Metadata, A::Error> {
                let mut v: Vec<(Key, Value)> =
                    Vec::with_capacity(access.size_hint().unwrap_or(0).min(256));
                while let Some((k, val)) =
                    access.next_entry::<std::borrow::Cow<'de, str>, Value>()?
                {
                    v.push((intern_key(&k), val));
                }
                Ok(from_sorted_unique(v))
            }
        }
        d.deserialize_map(V)
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
            other => Err(format!(
                "unknown partial update type {other}, expected 1 (add) or 2 (del)"
            )),
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
        MetadataOp {
            kind: OpKind::Add,
            key: key.into(),
            value: Some(value),
        }
    }

    pub fn del(key: impl Into<String>) -> Self {
        MetadataOp {
            kind: OpKind::Del,
            key: key.into(),
            value: None,
        }
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
        assert_eq!(
            m.get("Ovs.Options"),
            Some(&json!({"remote_ip": "10.0.0.2"}))
        );
        assert_eq!(m.remove("Ovs.Options.remote_ip"), Some(json!("10.0.0.2")));
        assert_eq!(m.get("Ovs.Options.remote_ip"), None);
        assert_eq!(m.get("Ovs.Nope.x"), None);
    }

    #[test]
    fn json_round_trip_sorted() {
        let m: Metadata = serde_json::from_str(r#"{"b": 1, "a": {"x": 2}, "b": 3}"#).unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"a":{"x":2},"b":3}"#);
        assert!(serde_json::from_str::<Metadata>("[1]").is_err());
    }

    #[test]
    fn from_entries_keeps_keys_literal_and_the_last_duplicate() {
        let m = Metadata::from_entries([("b", json!(1)), ("a.x", json!(2)), ("b", json!(3))]);
        assert_eq!(serde_json::to_value(&m).unwrap(), json!({"a.x": 2, "b": 3}));
        assert_eq!(
            m,
            serde_json::from_str(r#"{"b": 1, "a.x": 2, "b": 3}"#).unwrap()
        );
    }

    #[test]
    fn literal_dotted_key_is_reachable() {
        let m: Metadata = serde_json::from_value(json!({"a.b": 1, "a": {"b": 2}})).unwrap();
        assert_eq!(m.get("a.b"), Some(&json!(1)));
    }

    #[test]
    fn list_values_are_flattened() {
        let m = Metadata::from_pairs([
            ("IPV4", json!(["10.0.0.1/24", "10.0.1.1/24"])),
            ("Name", json!("eth0")),
        ]);
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
    fn small_shared_metadata_is_one_allocation_copied_on_write() {
        let a = Metadata::from_pairs([("RelationType", json!("ownership"))]);
        let mut b: Metadata = serde_json::from_value(json!({"RelationType": "ownership"})).unwrap();
        let (Repr::Shared(x), Repr::Shared(y)) = (&a.0, &b.0) else {
            panic!("small pooled metadata is shared")
        };
        assert!(Arc::ptr_eq(x, y));
        assert!(b.set("Type", json!("veth")));
        assert_eq!(a.len(), 1);
        assert_eq!(b.get_str("Type"), Some("veth"));
        assert!(matches!(b.0, Repr::Shared(_)));
        assert_eq!(b.remove("Type"), Some(json!("veth")));
        assert_eq!(a, b);
        // A value that is not pooled keeps the metadata its element's own.
        assert!(b.set("Counter", json!({"RxBytes": 1})));
        assert!(matches!(b.0, Repr::Own(_)));
        assert!(b.set("Counter.RxBytes", json!(2)));
        assert_eq!(a.get("Counter.RxBytes"), None);
        assert_eq!(b.remove("Counter"), Some(json!({"RxBytes": 2})));
        assert!(matches!(b.0, Repr::Shared(_)));
    }

    #[test]
    fn op_kind_rejects_unknown_numbers() {
        let bad: Result<MetadataOp, _> = serde_json::from_value(json!({"Type": 7, "Key": "a"}));
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("unknown partial update type 7")
        );
    }
}

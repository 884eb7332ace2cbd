//! Secondary indexes on node metadata, so `Has('Type', …)` and look-ups by `Name`, `MAC` or
//! `TID` touch only the matching nodes. A list-valued key is indexed under each element.
//!
//! Values are normalised to a [`IndexValue`]: numbers compare by value whatever their JSON
//! representation (`3`, `3.0`), strings and booleans as themselves; objects and null are not
//! indexed (queries on them fall back to a scan).

use serde_json::Value;

use crate::{FastMap, FastSet, Id, Metadata};

/// The keys indexed unless the graph is configured otherwise.
pub const DEFAULT_INDEXED_KEYS: &[&str] = &["Type", "Name", "MAC", "TID", "PeerIntfMAC", "IfIndex"];

/// A metadata value in the form the index compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IndexValue {
    Str(Box<str>),
    Int(i64),
    /// A non-integral number, by its bits (NaN never reaches here: JSON has none).
    Float(u64),
    Bool(bool),
}

impl IndexValue {
    /// The index form of a JSON scalar; `None` for null, arrays and objects.
    pub fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(IndexValue::Str(s.as_str().into())),
            Value::Bool(b) => Some(IndexValue::Bool(*b)),
            Value::Number(n) => Some(Self::from_number(n)),
            _ => None,
        }
    }

    /// The borrowed form, for hashing and comparing without allocating.
    pub(crate) fn as_scalar(&self) -> Scalar<'_> {
        match self {
            IndexValue::Str(s) => Scalar::Str(s),
            IndexValue::Int(i) => Scalar::Int(*i),
            IndexValue::Float(f) => Scalar::Float(*f),
            IndexValue::Bool(b) => Scalar::Bool(*b),
        }
    }

    fn from_number(n: &serde_json::Number) -> Self {
        if let Some(i) = n.as_i64() {
            return IndexValue::Int(i);
        }
        let f = n.as_f64().unwrap_or(0.0);
        if f.fract() == 0.0 && f >= i64::MIN as f64 && f <= i64::MAX as f64 {
            IndexValue::Int(f as i64)
        } else {
            IndexValue::Float(f.to_bits())
        }
    }
}

/// An [`IndexValue`] borrowed from a JSON value: hashes and compares alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scalar<'a> {
    Str(&'a str),
    Int(i64),
    Float(u64),
    Bool(bool),
}

impl<'a> Scalar<'a> {
    pub(crate) fn of(v: &'a Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(Scalar::Str(s)),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Number(n) => Some(match IndexValue::from_number(n) {
                IndexValue::Int(i) => Scalar::Int(i),
                IndexValue::Float(f) => Scalar::Float(f),
                _ => unreachable!("numbers normalise to Int or Float"),
            }),
            _ => None,
        }
    }

    pub(crate) fn to_owned(self) -> IndexValue {
        match self {
            Scalar::Str(s) => IndexValue::Str(s.into()),
            Scalar::Int(i) => IndexValue::Int(i),
            Scalar::Float(f) => IndexValue::Float(f),
            Scalar::Bool(b) => IndexValue::Bool(b),
        }
    }
}

/// The ids holding one value: most values (names, MACs, TIDs) are held by one node, so the
/// common case costs no set allocation.
#[derive(Debug)]
enum Holders {
    One(Id),
    Many(FastSet<Id>),
}

impl Holders {
    fn insert(&mut self, id: &Id) {
        match self {
            Holders::One(existing) if existing == id => {}
            Holders::One(existing) => {
                let set: FastSet<Id> = [existing.clone(), id.clone()].into_iter().collect();
                *self = Holders::Many(set);
            }
            Holders::Many(set) => {
                set.insert(id.clone());
            }
        }
    }

    /// Removes `id`; returns true when nothing is left.
    fn remove(&mut self, id: &Id) -> bool {
        match self {
            Holders::One(existing) => existing == id,
            Holders::Many(set) => {
                set.remove(id);
                if set.len() == 1 {
                    let last = set.iter().next().cloned().expect("one element");
                    *self = Holders::One(last);
                }
                false
            }
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = &Id> + '_> {
        match self {
            Holders::One(id) => Box::new(std::iter::once(id)),
            Holders::Many(set) => Box::new(set.iter()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Holders::One(_) => 1,
            Holders::Many(set) => set.len(),
        }
    }
}

/// Whether a partial update of `keys` may change a value indexed under one of `indexed`: the
/// same key, or one inside the other (`Ovs` and `Ovs.Options.remote_ip`).
pub(crate) fn touches<'a>(indexed: &[Box<str>], mut keys: impl Iterator<Item = &'a str>) -> bool {
    keys.any(|k| {
        indexed.iter().any(|ik| {
            let ik: &str = ik;
            ik == k
                || ik.strip_prefix(k).is_some_and(|r| r.starts_with('.'))
                || k.strip_prefix(ik).is_some_and(|r| r.starts_with('.'))
        })
    })
}

/// Value → ids, for each indexed key. A standalone index keyed by ids; the graph itself uses
/// a more compact one keyed by element handles (`node_index.rs`).
#[derive(Debug)]
pub struct MetadataIndex {
    keys: Vec<Box<str>>,
    maps: Vec<FastMap<IndexValue, Holders>>,
}

impl MetadataIndex {
    pub fn new<S: AsRef<str>>(keys: &[S]) -> Self {
        MetadataIndex {
            keys: keys.iter().map(|k| k.as_ref().into()).collect(),
            maps: keys.iter().map(|_| FastMap::default()).collect(),
        }
    }

    pub fn is_indexed(&self, key: &str) -> bool {
        self.slot(key).is_some()
    }

    fn slot(&self, key: &str) -> Option<usize> {
        self.keys.iter().position(|k| &**k == key)
    }

    pub fn insert(&mut self, id: &Id, m: &Metadata) {
        for (i, key) in self.keys.iter().enumerate() {
            for v in m.values_at(key).filter_map(IndexValue::from_json) {
                self.maps[i]
                    .entry(v)
                    .or_insert_with(|| Holders::One(id.clone()))
                    .insert(id);
            }
        }
    }

    pub fn remove(&mut self, id: &Id, m: &Metadata) {
        for (i, key) in self.keys.iter().enumerate() {
            for v in m.values_at(key).filter_map(IndexValue::from_json) {
                if let Some(h) = self.maps[i].get_mut(&v)
                    && h.remove(id)
                {
                    self.maps[i].remove(&v);
                }
            }
        }
    }

    /// Re-indexes an element whose metadata changed from `old` to `new`; keys whose value
    /// did not change are left alone (most updates are counters, not indexed keys).
    pub fn update(&mut self, id: &Id, old: &Metadata, new: &Metadata) {
        for i in 0..self.keys.len() {
            let key = &self.keys[i];
            if old.get(key) == new.get(key) {
                continue;
            }
            let (olds, news): (Vec<IndexValue>, Vec<IndexValue>) = (
                old.values_at(key)
                    .filter_map(IndexValue::from_json)
                    .collect(),
                new.values_at(key)
                    .filter_map(IndexValue::from_json)
                    .collect(),
            );
            let map = &mut self.maps[i];
            for v in olds {
                if let Some(h) = map.get_mut(&v)
                    && h.remove(id)
                {
                    map.remove(&v);
                }
            }
            for v in news {
                map.entry(v)
                    .or_insert_with(|| Holders::One(id.clone()))
                    .insert(id);
            }
        }
    }

    /// Whether a partial update with these keys may change an indexed value.
    pub fn touched_by<'a>(&self, keys: impl Iterator<Item = &'a str>) -> bool {
        touches(&self.keys, keys)
    }

    /// The ids whose `key` holds `value`; `None` when `key` is not indexed (the caller scans).
    pub fn lookup(
        &self,
        key: &str,
        value: &IndexValue,
    ) -> Option<Box<dyn Iterator<Item = &Id> + '_>> {
        let map = &self.maps[self.slot(key)?];
        Some(match map.get(value) {
            Some(h) => h.iter(),
            None => Box::new(std::iter::empty()),
        })
    }

    /// How many ids hold `value` under `key`, without iterating; `None` when not indexed.
    pub fn count(&self, key: &str, value: &IndexValue) -> Option<usize> {
        let map = &self.maps[self.slot(key)?];
        Some(map.get(value).map_or(0, Holders::len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_normalise() {
        assert_eq!(
            IndexValue::from_json(&json!(3)),
            IndexValue::from_json(&json!(3.0))
        );
        assert_ne!(
            IndexValue::from_json(&json!(3)),
            IndexValue::from_json(&json!("3"))
        );
        assert_eq!(IndexValue::from_json(&json!({"a": 1})), None);
    }

    #[test]
    fn insert_lookup_remove() {
        let mut idx = MetadataIndex::new(&["Type", "IPV4"]);
        let a = Id::from("a");
        let b = Id::from("b");
        let ma = Metadata::from_pairs([
            ("Type", json!("veth")),
            ("IPV4", json!(["10.0.0.1/24", "10.0.0.2/24"])),
        ]);
        let mb = Metadata::from_pairs([("Type", json!("veth"))]);
        idx.insert(&a, &ma);
        idx.insert(&b, &mb);
        let veth = IndexValue::Str("veth".into());
        assert_eq!(idx.count("Type", &veth), Some(2));
        assert_eq!(
            idx.lookup("IPV4", &IndexValue::Str("10.0.0.2/24".into()))
                .unwrap()
                .count(),
            1
        );
        assert!(idx.lookup("Name", &veth).is_none());
        idx.remove(&a, &ma);
        assert_eq!(idx.count("Type", &veth), Some(1));
        idx.remove(&b, &mb);
        assert_eq!(idx.count("Type", &veth), Some(0));
    }
}

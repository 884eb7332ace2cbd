//! Process-wide sharing of what millions of elements repeat: metadata key names, whole
//! `(key, value)` entries such as `Type: "veth"`, `State: "UP"`, `MTU: 1500` or
//! `LinkFlags: ["UP", "BROADCAST", "MULTICAST"]`, and whole small metadata made only of such
//! entries (`{RelationType: "ownership"}`, held by most edges of a graph).
//!
//! A metadata entry is an `Arc<Entry>` (8 bytes in its element); equal entries of small scalar
//! values are one allocation for the whole process. Only values that are likely to repeat are
//! pooled (booleans, numbers, strings of at most [`MAX_POOLED_STR`] bytes, short lists of
//! those); other entries (UUIDs, objects such as counters) get their own allocation and never
//! touch the pool. Metadata of at most [`MAX_SHARED_ENTRIES`] entries, all pooled, is itself
//! one shared list of entry pointers ([`SharedEntries`]), found by the addresses of its
//! entries (pooled entries are unique while alive, so equal lists are the same addresses).
//! The pools forget what no element holds: a shard sweeps values only it still holds whenever
//! it has doubled since its last sweep, so hostile input with endless distinct values cannot
//! grow it beyond twice what is alive.
//!
//! Must not: hand out mutable access to a pooled entry (callers go through `Arc::make_mut`,
//! which copies a shared entry first).

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, LazyLock};

use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;

/// A metadata key name: a thin pointer (8 bytes in each entry, where `Arc<str>` takes 16).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key(Arc<Box<str>>);

impl std::ops::Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Interned key names. Bounded so hostile input with endless distinct keys cannot grow it
/// forever: past the bound, keys are simply not shared.
static KEYS: LazyLock<RwLock<HashSet<Key, foldhash::fast::RandomState>>> =
    LazyLock::new(Default::default);
const MAX_INTERNED_KEYS: usize = 65_536;

/// The shared copy of a key name.
pub(crate) fn intern_key(key: &str) -> Key {
    if let Some(k) = KEYS.read().get(key) {
        return k.clone();
    }
    let mut keys = KEYS.write();
    if let Some(k) = keys.get(key) {
        return k.clone();
    }
    let k = Key(Arc::new(key.into()));
    if keys.len() < MAX_INTERNED_KEYS {
        keys.insert(k.clone());
    }
    k
}

/// One top-level metadata entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: Key,
    pub value: Value,
}

/// Longest string value that is pooled: names, states, types, drivers; not MAC addresses
/// (17 bytes) nor UUIDs, which are unique by construction and would only cost a pool slot.
pub(crate) const MAX_POOLED_STR: usize = 16;
/// Longest list value that is pooled (`LinkFlags`, `IPV4` with one address…).
const MAX_POOLED_LIST: usize = 8;
const SHARDS: usize = 16;

/// Most entries of a metadata that is shared as a whole.
pub(crate) const MAX_SHARED_ENTRIES: usize = 4;

/// The entries of a metadata shared as a whole: a thin pointer, so that a `Metadata` holding
/// either its own entries or shared ones stays 16 bytes.
pub(crate) type SharedEntries = Arc<Box<[Arc<Entry>]>>;

struct Shard<T> {
    /// Values with their hash (kept so growing the table never re-reads a value).
    table: HashTable<(u64, Arc<T>)>,
    sweep_at: usize,
}

struct Pool<T> {
    shards: [Mutex<Shard<T>>; SHARDS],
    hasher: foldhash::fast::RandomState,
}

impl<T> Pool<T> {
    fn new() -> Self {
        Pool {
            shards: std::array::from_fn(|_| {
                Mutex::new(Shard {
                    table: HashTable::new(),
                    sweep_at: 1024,
                })
            }),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// The pooled value equal to `v` (by `eq`; `hash` is `v`'s), or `v`, now pooled.
    fn get_or_insert(&self, hash: u64, v: T, eq: impl Fn(&T, &T) -> bool) -> Arc<T> {
        let mut shard = self.shards[(hash >> 32) as usize % SHARDS].lock();
        if let Some((_, p)) = shard.table.find(hash, |(h, p)| *h == hash && eq(p, &v)) {
            return p.clone();
        }
        if shard.table.len() >= shard.sweep_at {
            // Under the lock, a count of 1 means only the pool holds the value: nobody can
            // get it back except through this (locked) table.
            shard.table.retain(|(_, v)| Arc::strong_count(v) > 1);
            shard.sweep_at = (shard.table.len() * 2).max(1024);
        }
        let v = Arc::new(v);
        shard
            .table
            .insert_unique(hash, (hash, v.clone()), |(h, _)| *h);
        v
    }
}

static POOL: LazyLock<Pool<Entry>> = LazyLock::new(Pool::new);
static LISTS: LazyLock<Pool<Box<[Arc<Entry>]>>> = LazyLock::new(Pool::new);

fn pooled_scalar(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => true,
        Value::String(s) => s.len() <= MAX_POOLED_STR,
        Value::Array(_) | Value::Object(_) => false,
    }
}

/// Whether entries with this value go through the pool.
pub(crate) fn pooled(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.len() <= MAX_POOLED_LIST && items.iter().all(pooled_scalar),
        other => pooled_scalar(other),
    }
}

/// Hashes a pooled value consistently with `Value`'s equality (numbers by their exact
/// representation: `3` and `3.0` are different JSON values).
fn hash_value(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::Null => h.write_u8(0),
        Value::Bool(b) => h.write_u8(1 + u8::from(*b)),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                h.write_u8(3);
                h.write_u64(u);
            } else if let Some(i) = n.as_i64() {
                h.write_u8(4);
                h.write_i64(i);
            } else {
                h.write_u8(5);
                h.write_u64(n.as_f64().unwrap_or(0.0).to_bits());
            }
        }
        Value::String(s) => {
            h.write_u8(6);
            h.write(s.as_bytes());
            h.write_u8(0xff);
        }
        Value::Array(items) => {
            h.write_u8(7);
            h.write_usize(items.len());
            for i in items {
                hash_value(i, h);
            }
        }
        Value::Object(_) => h.write_u8(8),
    }
}

/// An entry for `key: value`: the pooled one if an equal entry is alive, else a new one.
pub(crate) fn entry(key: Key, value: Value) -> Arc<Entry> {
    if !pooled(&value) {
        return Arc::new(Entry { key, value });
    }
    let pool = &*POOL;
    let mut h = pool.hasher.build_hasher();
    h.write(key.as_bytes());
    h.write_u8(0xff);
    hash_value(&value, &mut h);
    let hash = h.finish();
    pool.get_or_insert(hash, Entry { key, value }, |a, b| {
        (Arc::ptr_eq(&a.key.0, &b.key.0) || a.key == b.key) && a.value == b.value
    })
}

/// Whether metadata made of `entries` is shared as a whole.
pub(crate) fn shareable(entries: &[Arc<Entry>]) -> bool {
    !entries.is_empty()
        && entries.len() <= MAX_SHARED_ENTRIES
        && entries.iter().all(|e| pooled(&e.value))
}

/// The shared list equal to `entries` (which must be [`shareable`]): found by the addresses
/// of its entries, which pooled entries make unique.
pub(crate) fn share(entries: Box<[Arc<Entry>]>) -> SharedEntries {
    let pool = &*LISTS;
    let mut h = pool.hasher.build_hasher();
    for e in entries.iter() {
        h.write_usize(Arc::as_ptr(e) as usize);
    }
    pool.get_or_insert(h.finish(), entries, |a, b| {
        a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| Arc::ptr_eq(x, y))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn small_values_are_shared_and_others_are_not() {
        let a = entry(intern_key("State"), json!("UP"));
        let b = entry(intern_key("State"), json!("UP"));
        assert!(Arc::ptr_eq(&a, &b));
        let c = entry(intern_key("Other"), json!("UP"));
        assert!(!Arc::ptr_eq(&a, &c));
        let f1 = entry(intern_key("LinkFlags"), json!(["UP", "BROADCAST"]));
        let f2 = entry(intern_key("LinkFlags"), json!(["UP", "BROADCAST"]));
        assert!(Arc::ptr_eq(&f1, &f2));
        // 3 and 3.0 are different JSON values and must stay apart.
        let i = entry(intern_key("MTU"), json!(3));
        let f = entry(intern_key("MTU"), json!(3.0));
        assert_ne!(i.value, f.value);
        let uuid = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
        let u1 = entry(intern_key("TID"), json!(uuid));
        let u2 = entry(intern_key("TID"), json!(uuid));
        assert!(!Arc::ptr_eq(&u1, &u2));
        assert_eq!(u1, u2);
    }
}

//! The graph's secondary indexes: for each indexed metadata key, value → node handles.
//!
//! Built for millions of nodes whose names, MACs and TIDs are unique: a value held by one
//! node costs 8 bytes in a hash table (part of the value's hash and the node's handle) and
//! no copy of the value, which is read back from the node's metadata when a look-up needs to
//! compare. Only a value held by several nodes (`Type: veth`) keeps a copy, with the set of
//! its holders. Same normalisation as [`crate::MetadataIndex`]: numbers by value, lists
//! indexed under each element, objects and null not indexed.
//!
//! Limit: two values of one node's list whose 32-bit hash fragments collide share one entry;
//! removing one of them while the node keeps the other keeps the entry (the node is checked).
//!
//! Must not: hold ids or elements; the graph resolves handles (`slab.rs`).

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::index::{IndexValue, Scalar};
use crate::{FastSet, Metadata};

const MANY: u32 = 1 << 31;

/// One table slot: `who` is a node handle, or `MANY | i` for `KeyIndex::many[i]`.
#[derive(Debug, Clone, Copy)]
struct Holder {
    frag: u32,
    who: u32,
}

#[derive(Debug)]
struct Many {
    value: IndexValue,
    nodes: FastSet<u32>,
}

#[derive(Debug, Default)]
struct KeyIndex {
    table: HashTable<Holder>,
    many: Vec<Option<Many>>,
    free: Vec<u32>,
}

fn spread(frag: u32) -> u64 {
    u64::from(frag).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Whether node metadata `m` holds scalar `s` under `key`.
fn holds(m: &Metadata, key: &str, s: &Scalar<'_>) -> bool {
    m.values_at(key).any(|v| Scalar::of(v).as_ref() == Some(s))
}

impl KeyIndex {
    fn many(&self, who: u32) -> &Many {
        self.many[(who & !MANY) as usize]
            .as_ref()
            .expect("live group")
    }

    /// The slot of a value held by several nodes.
    fn find_many(&self, frag: u32, s: &Scalar<'_>) -> Option<Holder> {
        self.table
            .iter_hash(spread(frag))
            .find(|h| {
                h.frag == frag && h.who & MANY != 0 && self.many(h.who).value.as_scalar() == *s
            })
            .copied()
    }

    fn insert<'m>(
        &mut self,
        key: &str,
        frag: u32,
        s: Scalar<'_>,
        node: u32,
        md: &impl Fn(u32) -> &'m Metadata,
    ) {
        if let Some(h) = self.find_many(frag, &s) {
            let i = (h.who & !MANY) as usize;
            self.many[i]
                .as_mut()
                .expect("live group")
                .nodes
                .insert(node);
            return;
        }
        let one = self.table.find_mut(spread(frag), |h| {
            h.frag == frag && h.who & MANY == 0 && (h.who == node || holds(md(h.who), key, &s))
        });
        match one {
            Some(h) if h.who == node => {}
            Some(h) => {
                let group = Many {
                    value: s.to_owned(),
                    nodes: [h.who, node].into_iter().collect(),
                };
                let i = match self.free.pop() {
                    Some(i) => {
                        self.many[i as usize] = Some(group);
                        i
                    }
                    None => {
                        self.many.push(Some(group));
                        u32::try_from(self.many.len() - 1).expect("fewer than 2^31 groups")
                    }
                };
                h.who = MANY | i;
            }
            None => {
                self.table
                    .insert_unique(spread(frag), Holder { frag, who: node }, |h| spread(h.frag));
            }
        }
    }

    /// Removes `node` as a holder of `s`; `keep` says whether the node still holds another
    /// value with the same fragment (then its single-holder slot stays).
    fn remove(&mut self, frag: u32, s: Scalar<'_>, node: u32, keep: bool) {
        if let Some(h) = self.find_many(frag, &s) {
            let i = (h.who & !MANY) as usize;
            let group = self.many[i].as_mut().expect("live group");
            if !group.nodes.remove(&node) || group.nodes.len() > 1 {
                return;
            }
            let last = group.nodes.iter().next().copied();
            self.many[i] = None;
            self.free.push(i as u32);
            let Ok(slot) = self
                .table
                .find_entry(spread(frag), |x| x.frag == frag && x.who == h.who)
            else {
                return;
            };
            match last {
                Some(last) => slot.into_mut().who = last,
                None => {
                    slot.remove();
                }
            }
            return;
        }
        if keep {
            return;
        }
        if let Ok(slot) = self
            .table
            .find_entry(spread(frag), |x| x.frag == frag && x.who == node)
        {
            slot.remove();
        }
    }

    /// The slot holding `s`, if any.
    fn find<'m>(
        &self,
        key: &str,
        frag: u32,
        s: &Scalar<'_>,
        md: &impl Fn(u32) -> &'m Metadata,
    ) -> Option<Holder> {
        self.find_many(frag, s).or_else(|| {
            self.table
                .find(spread(frag), |h| {
                    h.frag == frag && h.who & MANY == 0 && holds(md(h.who), key, s)
                })
                .copied()
        })
    }
}

/// Value → node handles for each indexed key. See the module docs.
#[derive(Debug)]
pub(crate) struct NodeIndex {
    keys: Vec<Box<str>>,
    maps: Vec<KeyIndex>,
    hasher: foldhash::fast::RandomState,
}

impl NodeIndex {
    pub fn new<S: AsRef<str>>(keys: &[S]) -> Self {
        NodeIndex {
            keys: keys.iter().map(|k| k.as_ref().into()).collect(),
            maps: keys.iter().map(|_| KeyIndex::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn frag(&self, s: &Scalar<'_>) -> u32 {
        (self.hasher.hash_one(s) >> 32) as u32
    }

    fn slot(&self, key: &str) -> Option<usize> {
        self.keys.iter().position(|k| &**k == key)
    }

    pub fn is_indexed(&self, key: &str) -> bool {
        self.slot(key).is_some()
    }

    /// Indexes node `node` whose metadata is `md(node)`.
    pub fn insert<'m>(&mut self, node: u32, md: impl Fn(u32) -> &'m Metadata) {
        assert!(node < MANY, "fewer than 2^31 nodes");
        let m = md(node);
        for i in 0..self.keys.len() {
            for s in m.values_at(&self.keys[i]).filter_map(Scalar::of) {
                let frag = self.frag(&s);
                self.maps[i].insert(&self.keys[i], frag, s, node, &md);
            }
        }
    }

    /// Forgets node `node` whose metadata was `old`.
    pub fn remove(&mut self, node: u32, old: &Metadata) {
        for i in 0..self.keys.len() {
            for s in old.values_at(&self.keys[i]).filter_map(Scalar::of) {
                let frag = self.frag(&s);
                self.maps[i].remove(frag, s, node, false);
            }
        }
    }

    /// Re-indexes node `node` whose metadata changed from `old` to `md(node)`; keys whose
    /// value did not change are left alone (most updates are counters, not indexed keys).
    pub fn update<'m>(&mut self, node: u32, old: &Metadata, md: impl Fn(u32) -> &'m Metadata) {
        let new = md(node);
        for i in 0..self.keys.len() {
            let key = &*self.keys[i];
            if old.get(key) == new.get(key) {
                continue;
            }
            for s in old.values_at(key).filter_map(Scalar::of) {
                if new.values_at(key).any(|v| Scalar::of(v) == Some(s)) {
                    continue;
                }
                let frag = self.frag(&s);
                let keep = new
                    .values_at(key)
                    .filter_map(Scalar::of)
                    .any(|n| self.frag(&n) == frag);
                self.maps[i].remove(frag, s, node, keep);
            }
            for s in new.values_at(key).filter_map(Scalar::of) {
                let frag = self.frag(&s);
                self.maps[i].insert(key, frag, s, node, &md);
            }
        }
    }

    /// Whether a partial update with these keys may change an indexed value.
    pub fn touched_by<'a>(&self, keys: impl Iterator<Item = &'a str>) -> bool {
        crate::index::touches(&self.keys, keys)
    }

    /// Handles of the nodes whose `key` holds `value`; `None` when `key` is not indexed.
    pub fn lookup<'s, 'm>(
        &'s self,
        key: &str,
        value: &IndexValue,
        md: impl Fn(u32) -> &'m Metadata,
    ) -> Option<Box<dyn Iterator<Item = u32> + 's>> {
        let i = self.slot(key)?;
        let s = value.as_scalar();
        let map = &self.maps[i];
        Some(match map.find(key, self.frag(&s), &s, &md) {
            None => Box::new(std::iter::empty()),
            Some(h) if h.who & MANY == 0 => Box::new(std::iter::once(h.who)),
            Some(h) => Box::new(map.many(h.who).nodes.iter().copied()),
        })
    }

    /// How many nodes hold `value` under `key`; `None` when not indexed.
    pub fn count<'m>(
        &self,
        key: &str,
        value: &IndexValue,
        md: impl Fn(u32) -> &'m Metadata,
    ) -> Option<usize> {
        let i = self.slot(key)?;
        let s = value.as_scalar();
        let map = &self.maps[i];
        Some(match map.find(key, self.frag(&s), &s, &md) {
            None => 0,
            Some(h) if h.who & MANY == 0 => 1,
            Some(h) => map.many(h.who).nodes.len(),
        })
    }
}

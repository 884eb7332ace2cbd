//! Element storage: a slab of slots addressed by `u32` handles, plus an id → handle table.
//!
//! Adjacency lists and indexes hold handles (4 bytes) instead of copies of 16-byte ids, and
//! the id table holds 8 bytes per element (part of the id's hash and the handle) instead of
//! the id and the element themselves. Look-ups hash an [`IdRef`], so text parsed from a
//! request finds the element its `Id` was built from. A handle stays valid until its element is removed;
//! freed handles are reused.
//!
//! Must not: know what an element is beyond its id ([`Keyed`]).

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::{AsIdRef, Id, IdRef};

/// What a slab slot is looked up by.
pub(crate) trait Keyed {
    fn key(&self) -> &Id;
}

/// A slab of `T` with look-up by id.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
    /// `(hash fragment, handle)`; the fragment spares growing the table from reading every
    /// element again and most failed comparisons from reading an id.
    ids: HashTable<(u32, u32)>,
    hasher: foldhash::fast::RandomState,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            ids: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

/// The table hash of a fragment: spreads its 32 bits over the 64 the table reads (low bits
/// pick the bucket, the top 7 are the tag).
fn spread(frag: u32) -> u64 {
    u64::from(frag).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl<T: Keyed> Slab<T> {
    fn frag(&self, id: IdRef<'_>) -> u32 {
        (self.hasher.hash_one(id) >> 32) as u32
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn reserve(&mut self, more: usize) {
        self.slots.reserve(more.saturating_sub(self.free.len()));
        self.ids.reserve(more, |(f, _)| spread(*f));
    }

    /// The handle of element `id`.
    pub fn handle(&self, id: &(impl AsIdRef + ?Sized)) -> Option<u32> {
        let id = id.as_id_ref();
        let frag = self.frag(id);
        let slots = &self.slots;
        self.ids
            .find(spread(frag), |&(f, h)| {
                f == frag && slots[h as usize].as_ref().is_some_and(|t| *t.key() == id)
            })
            .map(|&(_, h)| h)
    }

    pub fn get(&self, id: &(impl AsIdRef + ?Sized)) -> Option<&T> {
        self.handle(id).map(|h| self.at(h))
    }

    pub fn get_mut(&mut self, id: &(impl AsIdRef + ?Sized)) -> Option<&mut T> {
        self.handle(id).map(|h| self.at_mut(h))
    }

    pub fn contains(&self, id: &(impl AsIdRef + ?Sized)) -> bool {
        self.handle(id).is_some()
    }

    /// The element at a live handle.
    pub fn at(&self, h: u32) -> &T {
        self.slots[h as usize]
            .as_ref()
            .expect("handle of a live element")
    }

    pub fn at_mut(&mut self, h: u32) -> &mut T {
        self.slots[h as usize]
            .as_mut()
            .expect("handle of a live element")
    }

    /// Adds an element whose id is not present yet; returns its handle.
    pub fn insert(&mut self, t: T) -> u32 {
        let frag = self.frag(t.key().as_id_ref());
        let h = match self.free.pop() {
            Some(h) => {
                self.slots[h as usize] = Some(t);
                h
            }
            None => {
                let h = u32::try_from(self.slots.len()).expect("fewer than 2^32 elements");
                self.slots.push(Some(t));
                h
            }
        };
        self.ids
            .insert_unique(spread(frag), (frag, h), |(f, _)| spread(*f));
        h
    }

    /// Removes element `id`; returns its handle and the element.
    pub fn remove(&mut self, id: &(impl AsIdRef + ?Sized)) -> Option<(u32, T)> {
        let id = id.as_id_ref();
        let frag = self.frag(id);
        let slots = &self.slots;
        let found = self
            .ids
            .find_entry(spread(frag), |&(f, h)| {
                f == frag && slots[h as usize].as_ref().is_some_and(|t| *t.key() == id)
            })
            .ok()?;
        let ((_, h), _) = found.remove();
        let t = self.slots[h as usize].take().expect("live handle");
        self.free.push(h);
        Some((h, t))
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.slots.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Keyed for Id {
        fn key(&self) -> &Id {
            self
        }
    }

    #[test]
    fn insert_find_remove_reuse() {
        let mut s: Slab<Id> = Slab::default();
        let ids: Vec<Id> = (0..1000).map(|i| Id::from(format!("id-{i}"))).collect();
        for id in &ids {
            s.insert(id.clone());
        }
        assert_eq!(s.len(), 1000);
        assert_eq!(s.get("id-7").map(Id::to_string).as_deref(), Some("id-7"));
        let (h, _) = s.remove("id-7").unwrap();
        assert!(s.get("id-7").is_none());
        assert!(s.remove("id-7").is_none());
        assert_eq!(s.insert(Id::from("again")), h);
        assert_eq!(s.handle("again"), Some(h));
        assert_eq!(s.iter().count(), 1000);
        assert_eq!(s.handle("id-999"), Some(999));
    }
}

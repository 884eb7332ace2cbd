//! Checkpoints: the full set of elements alive at one log position, so that reading the past
//! replays at most the changes since the newest checkpoint instead of the whole log.
//!
//! A checkpoint at position `p` is stored as chunks of [`CHUNK`] elements under
//! `topology_checkpoint [p][chunk]`, then an entry in `topology_checkpoint_index [p]` written
//! last: a checkpoint without its index entry (a crash while writing it) is ignored, and its
//! chunks are removed at the next open.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};

use fjall::{Readable, Slice};

use crate::StoreError;
use crate::codec::{self, FORMAT, Revision};
use crate::db::{Db, KS_CHECKPOINT, KS_CHECKPOINT_INDEX};
use crate::decode::decode_all;
use crate::keys::LogKey;
use crate::state::AliveSet;

/// Elements per chunk: big enough to compress well, small enough to decode in parallel.
pub(crate) const CHUNK: usize = 512;

/// Chunks per write batch: keeps a batch (and the journal entry it makes) a few MiB.
const CHUNKS_PER_BATCH: usize = 32;

/// What the index says about one checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CheckpointMeta {
    /// The last log entry it includes.
    pub at: LogKey,
    pub nodes: u64,
    pub edges: u64,
    pub chunks: u32,
}

impl CheckpointMeta {
    fn encode(&self) -> [u8; 21] {
        let mut v = [0; 21];
        v[0] = FORMAT;
        v[1..9].copy_from_slice(&self.nodes.to_be_bytes());
        v[9..17].copy_from_slice(&self.edges.to_be_bytes());
        v[17..].copy_from_slice(&self.chunks.to_be_bytes());
        v
    }

    fn decode(key: &[u8], value: &[u8]) -> Result<Self, StoreError> {
        let bad = |why: &str| StoreError::corrupt(KS_CHECKPOINT_INDEX, key, why);
        let at = LogKey::decode(key).ok_or_else(|| bad("key is not a log position"))?;
        let v: &[u8; 21] = value
            .try_into()
            .map_err(|_| bad("summary is not 21 bytes"))?;
        if v[0] != FORMAT {
            return Err(bad("unknown checkpoint format version"));
        }
        let u64_at = |i: usize| u64::from_be_bytes(v[i..i + 8].try_into().unwrap_or_default());
        let chunks = u32::from_be_bytes(v[17..].try_into().unwrap_or_default());
        Ok(CheckpointMeta {
            at,
            nodes: u64_at(1),
            edges: u64_at(9),
            chunks,
        })
    }
}

/// The newest complete checkpoint at or before log position `upto`.
pub(crate) fn newest_upto(
    db: &Db,
    snap: &impl Readable,
    upto: LogKey,
) -> Result<Option<CheckpointMeta>, StoreError> {
    let range = (Bound::Unbounded, Bound::Included(upto.encode()));
    match snap.range(&db.checkpoint_index, range).next_back() {
        None => Ok(None),
        Some(g) => {
            let (k, v) = g.into_inner()?;
            CheckpointMeta::decode(&k, &v).map(Some)
        }
    }
}

/// Adds the checkpoint's elements to `state`, decoding its chunks in parallel, except the
/// elements `state` already holds or `gone` names: newer changes of them were applied first.
pub(crate) fn load_into(
    db: &Db,
    snap: &impl Readable,
    meta: &CheckpointMeta,
    state: &mut AliveSet,
    gone: &(dyn Fn(bool, &str) -> bool + Sync),
) -> Result<(), StoreError> {
    let chunks: Vec<(Slice, Slice)> = snap
        .prefix(&db.checkpoint, meta.at.encode())
        .map(|g| g.into_inner())
        .collect::<Result<_, _>>()?;
    check_chunks(meta, &chunks)?;
    let (nodes, edges) = (AtomicU64::new(0), AtomicU64::new(0));
    let revs = {
        let known: &AliveSet = state;
        let skip = |is_node: bool, id: &str| known.contains(is_node, id) || gone(is_node, id);
        decode_all(&chunks, 1, |k, v, it, out| {
            let c = codec::decode_chunk(v, it, &skip, out)
                .map_err(|e| StoreError::corrupt(KS_CHECKPOINT, k, e))?;
            nodes.fetch_add(c.nodes, Ordering::Relaxed);
            edges.fetch_add(c.edges, Ordering::Relaxed);
            Ok(())
        })?
    };
    let (nodes, edges) = (nodes.into_inner(), edges.into_inner());
    if nodes != meta.nodes || edges != meta.edges {
        let why = format!(
            "checkpoint holds {nodes} nodes and {edges} edges, its index says {} and {}",
            meta.nodes, meta.edges
        );
        return Err(StoreError::corrupt(
            KS_CHECKPOINT_INDEX,
            &meta.at.encode(),
            why,
        ));
    }
    state.reserve(revs.len());
    for r in revs {
        state.insert(r);
    }
    Ok(())
}

/// Chunks must be numbered 0..n without gaps, n as the index says.
fn check_chunks(meta: &CheckpointMeta, chunks: &[(Slice, Slice)]) -> Result<(), StoreError> {
    for (i, (k, _)) in chunks.iter().enumerate() {
        match LogKey::of_chunk_key(k) {
            Some((at, n)) if at == meta.at && n as usize == i => {}
            _ => {
                return Err(StoreError::corrupt(
                    KS_CHECKPOINT,
                    k,
                    format!("expected chunk {i} of this checkpoint"),
                ));
            }
        }
    }
    if chunks.len() != meta.chunks as usize {
        let why = format!(
            "checkpoint has {} chunks, its index says {}",
            chunks.len(),
            meta.chunks
        );
        return Err(StoreError::corrupt(
            KS_CHECKPOINT_INDEX,
            &meta.at.encode(),
            why,
        ));
    }
    Ok(())
}

/// Writes `state` as the checkpoint at position `at`: chunks first, index entry last.
pub(crate) fn write(db: &Db, at: LogKey, state: &AliveSet) -> Result<CheckpointMeta, StoreError> {
    let revs: Vec<Revision> = state.revisions().collect();
    let meta = CheckpointMeta {
        at,
        nodes: state.nodes.len() as u64,
        edges: state.edges.len() as u64,
        chunks: u32::try_from(revs.len().div_ceil(CHUNK))
            .map_err(|_| StoreError::Write("graph too large for one checkpoint".into()))?,
    };
    // Chunks left at this position by an interrupted attempt would read as part of this one.
    remove_keys(
        db,
        &db.checkpoint,
        at.chunk_key(0).to_vec()..=at.chunk_key(u32::MAX).to_vec(),
    )?;
    let mut batch = db.db.batch();
    for (i, part) in revs.chunks(CHUNK).enumerate() {
        batch.insert(
            &db.checkpoint,
            &at.chunk_key(i as u32)[..],
            codec::encode_chunk(part),
        );
        if batch.len() >= CHUNKS_PER_BATCH {
            std::mem::replace(&mut batch, db.db.batch()).commit()?;
        }
    }
    batch.insert(&db.checkpoint_index, &at.encode()[..], &meta.encode()[..]);
    batch.commit()?;
    Ok(meta)
}

/// Removes every checkpoint older than position `keep` (index entries first, so a crash
/// half-way leaves only orphan chunks). Returns how many index entries went.
pub(crate) fn delete_before(db: &Db, keep: LogKey) -> Result<u64, StoreError> {
    let dropped = remove_keys(db, &db.checkpoint_index, ..keep.encode().to_vec())?;
    remove_keys(db, &db.checkpoint, ..keep.chunk_key(0).to_vec())?;
    Ok(dropped)
}

/// Removes chunks written after the newest complete checkpoint: a checkpoint interrupted by a
/// crash before its index entry.
pub(crate) fn remove_incomplete(db: &Db) -> Result<u64, StoreError> {
    let snap = db.db.snapshot();
    let from = match newest_upto(db, &snap, LogKey::end_of(skydive_graph::TimeMs(i64::MAX)))? {
        Some(m) => Bound::Excluded(m.at.chunk_key(u32::MAX).to_vec()),
        None => Bound::Unbounded,
    };
    remove_keys(db, &db.checkpoint, (from, Bound::Unbounded))
}

/// Deletes every key of `ks` in `range`, in batches. Returns how many keys were deleted.
pub(crate) fn remove_keys(
    db: &Db,
    ks: &fjall::Keyspace,
    range: impl std::ops::RangeBounds<Vec<u8>>,
) -> Result<u64, StoreError> {
    const BATCH: usize = 10_000;
    let mut n = 0u64;
    let mut batch = db.db.batch();
    for g in ks.range(range) {
        batch.remove(ks, g.key()?);
        n += 1;
        if batch.len() >= BATCH {
            std::mem::replace(&mut batch, db.db.batch()).commit()?;
        }
    }
    batch.commit()?;
    Ok(n)
}

/// Takes a checkpoint at the end of the log, unless one is already there. Returns it.
pub(crate) fn take(db: &Db) -> Result<Option<CheckpointMeta>, StoreError> {
    let snap = db.db.snapshot();
    let Some(g) = snap.last_key_value(&db.log) else {
        return Ok(None);
    };
    let k = g.key()?;
    let last = LogKey::decode(&k)
        .ok_or_else(|| StoreError::corrupt(crate::db::KS_LOG, &k, "key is not a log position"))?;
    if newest_upto(db, &snap, last)?.is_some_and(|m| m.at == last) {
        return Ok(None);
    }
    let state = crate::replay::state_at(db, &snap, last)?;
    write(db, last, &state).map(Some)
}

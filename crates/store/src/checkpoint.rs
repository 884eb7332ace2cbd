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
use skydive_graph::FastSet;

use crate::StoreError;
use crate::codec::{self, Change, ChunkBuilder, FORMAT};
use crate::db::{Db, KS_CHECKPOINT, KS_CHECKPOINT_INDEX, KS_LOG};
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
    check_counts(meta, chunks.len(), nodes.into_inner(), edges.into_inner())?;
    state.reserve(revs.len());
    for r in revs {
        state.insert(r);
    }
    Ok(())
}

/// Chunks must be numbered 0..n without gaps (n is checked with the counts).
fn check_chunks(meta: &CheckpointMeta, chunks: &[(Slice, Slice)]) -> Result<(), StoreError> {
    for (i, (k, _)) in chunks.iter().enumerate() {
        check_chunk_key(meta, i, k)?;
    }
    Ok(())
}

/// `key` must be chunk `i` of checkpoint `meta`.
fn check_chunk_key(meta: &CheckpointMeta, i: usize, key: &[u8]) -> Result<(), StoreError> {
    match LogKey::of_chunk_key(key) {
        Some((at, n)) if at == meta.at && n as usize == i => Ok(()),
        _ => Err(StoreError::corrupt(
            KS_CHECKPOINT,
            key,
            format!("expected chunk {i} of this checkpoint"),
        )),
    }
}

/// The chunks, nodes and edges found must be what the index entry says.
fn check_counts(
    meta: &CheckpointMeta,
    chunks: usize,
    nodes: u64,
    edges: u64,
) -> Result<(), StoreError> {
    if chunks != meta.chunks as usize {
        let why = format!(
            "checkpoint has {chunks} chunks, its index says {}",
            meta.chunks
        );
        return Err(index_disagrees(meta, why));
    }
    if nodes != meta.nodes || edges != meta.edges {
        let why = format!(
            "checkpoint holds {nodes} nodes and {edges} edges, its index says {} and {}",
            meta.nodes, meta.edges
        );
        return Err(index_disagrees(meta, why));
    }
    Ok(())
}

fn index_disagrees(meta: &CheckpointMeta, why: String) -> StoreError {
    StoreError::corrupt(KS_CHECKPOINT_INDEX, &meta.at.encode(), why)
}

/// Writes the checkpoint at log position `at`, as `snap` sees the store: the newest
/// checkpoint before `at` updated with the changes since, chunks first, index entry last.
///
/// Elements are copied as they are stored, checked but not decoded: the log is walked newest
/// first, and the first change met for an element decides it (its revision is copied, or it
/// is gone); then the older checkpoint's elements that no change named are copied. Memory is
/// one id per element changed since that checkpoint and one batch of chunks, not a decoded
/// copy of the graph (gigabytes for a million nodes, on top of the live graph).
pub(crate) fn write_at(
    db: &Db,
    snap: &impl Readable,
    at: LogKey,
) -> Result<CheckpointMeta, StoreError> {
    let base = newest_upto(db, snap, at)?;
    let chunks_at = || at.chunk_key(0).to_vec()..=at.chunk_key(u32::MAX).to_vec();
    // Chunks left at this position by an interrupted attempt would read as part of this one.
    remove_keys(db, &db.checkpoint, chunks_at())?;
    let written = copy_alive(db, snap, base, at);
    if written.is_err() {
        // Best effort: the next open removes them anyway.
        let _ = remove_keys(db, &db.checkpoint, chunks_at());
    }
    written
}

fn copy_alive(
    db: &Db,
    snap: &impl Readable,
    base: Option<CheckpointMeta>,
    at: LogKey,
) -> Result<CheckpointMeta, StoreError> {
    let mut out = ChunkWriter::new(db, at);
    let mut decided = IdSet::default();
    let lo = base.map_or(Bound::Unbounded, |m| Bound::Excluded(m.at.encode()));
    for g in snap
        .range(&db.log, (lo, Bound::Included(at.encode())))
        .rev()
    {
        let (k, v) = g.into_inner()?;
        let corrupt = |e| StoreError::corrupt(KS_LOG, &k, e);
        let (is_node, change, id) = codec::peek_record(&v).map_err(corrupt)?;
        if !decided.insert(is_node, id) || change == Change::Deleted {
            continue;
        }
        let (_, _, _, element) = codec::walk_record(&v).map_err(corrupt)?;
        out.push(is_node, element)?;
    }
    if let Some(meta) = &base {
        copy_undecided(db, snap, meta, &decided, &mut out)?;
    }
    drop(decided);
    out.finish()
}

/// Copies the elements of checkpoint `meta` that `decided` does not name into `out`.
fn copy_undecided(
    db: &Db,
    snap: &impl Readable,
    meta: &CheckpointMeta,
    decided: &IdSet,
    out: &mut ChunkWriter<'_>,
) -> Result<(), StoreError> {
    let (mut nodes, mut edges, mut chunks) = (0u64, 0u64, 0usize);
    for g in snap.prefix(&db.checkpoint, meta.at.encode()) {
        let (k, v) = g.into_inner()?;
        check_chunk_key(meta, chunks, &k)?;
        chunks += 1;
        let corrupt = |e| StoreError::corrupt(KS_CHECKPOINT, &k, e);
        for el in codec::walk_chunk(&v).map_err(corrupt)? {
            let (is_node, id, element) = el.map_err(corrupt)?;
            *(if is_node { &mut nodes } else { &mut edges }) += 1;
            if !decided.contains(is_node, id) {
                out.push(is_node, element)?;
            }
        }
    }
    check_counts(meta, chunks, nodes, edges)
}

/// Ids of nodes and edges.
#[derive(Debug, Default)]
struct IdSet {
    nodes: FastSet<Box<str>>,
    edges: FastSet<Box<str>>,
}

impl IdSet {
    /// Adds `id`; false if it was there already.
    fn insert(&mut self, is_node: bool, id: &str) -> bool {
        let set = if is_node {
            &mut self.nodes
        } else {
            &mut self.edges
        };
        !set.contains(id) && set.insert(id.into())
    }

    fn contains(&self, is_node: bool, id: &str) -> bool {
        if is_node {
            self.nodes.contains(id)
        } else {
            self.edges.contains(id)
        }
    }
}

/// Writes a checkpoint's chunks as elements come, in batches of [`CHUNKS_PER_BATCH`].
struct ChunkWriter<'a> {
    db: &'a Db,
    at: LogKey,
    chunk: ChunkBuilder,
    batch: fjall::OwnedWriteBatch,
    chunks: u32,
    nodes: u64,
    edges: u64,
}

impl<'a> ChunkWriter<'a> {
    fn new(db: &'a Db, at: LogKey) -> Self {
        ChunkWriter {
            db,
            at,
            chunk: ChunkBuilder::default(),
            batch: db.db.batch(),
            chunks: 0,
            nodes: 0,
            edges: 0,
        }
    }

    fn push(&mut self, is_node: bool, element: &[u8]) -> Result<(), StoreError> {
        self.chunk.push(is_node, element);
        *(if is_node {
            &mut self.nodes
        } else {
            &mut self.edges
        }) += 1;
        if self.chunk.len() >= CHUNK {
            self.end_chunk()?;
        }
        Ok(())
    }

    fn end_chunk(&mut self) -> Result<(), StoreError> {
        let key = self.at.chunk_key(self.chunks);
        self.chunks = self
            .chunks
            .checked_add(1)
            .ok_or_else(|| StoreError::Write("graph too large for one checkpoint".into()))?;
        self.batch
            .insert(&self.db.checkpoint, &key[..], self.chunk.finish());
        if self.batch.len() >= CHUNKS_PER_BATCH {
            std::mem::replace(&mut self.batch, self.db.db.batch()).commit()?;
        }
        Ok(())
    }

    /// Writes the last chunk, then the index entry that makes the checkpoint count.
    fn finish(mut self) -> Result<CheckpointMeta, StoreError> {
        if self.chunk.len() > 0 {
            self.end_chunk()?;
        }
        let meta = CheckpointMeta {
            at: self.at,
            nodes: self.nodes,
            edges: self.edges,
            chunks: self.chunks,
        };
        self.batch.insert(
            &self.db.checkpoint_index,
            &self.at.encode()[..],
            &meta.encode()[..],
        );
        self.batch.commit()?;
        Ok(meta)
    }
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
    write_at(db, &snap, last).map(Some)
}

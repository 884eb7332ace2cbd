//! Reading the past: the alive set at a log position (newest checkpoint, then the changes
//! after it), and every revision alive during a time slice.
//!
//! A revision is alive from the time of the change that made it until the time of the next
//! change of the same element (exclusive). A view of `[start, last]` holds every revision
//! whose life overlaps the slice: the elements alive at `start`, plus every revision made in
//! `(start, last]`. Elements deleted in `(start, last]` carry their `DeletedAt`; elements
//! deleted later are shown as they were (a view never depends on what happened after it).

use std::ops::Bound;
use std::sync::Arc;

use fjall::{Readable, Slice};
use skydive_graph::{Edge, FastSet, Node, TimeSlice};

use crate::StoreError;
use crate::checkpoint;
use crate::codec::{Change, Record, Revision, decode_record, peek_record};
use crate::db::{Db, KS_LOG};
use crate::decode::{BLOCK, decode_all};
use crate::keys::LogKey;
use crate::state::AliveSet;

/// Log records decoded per thread at least; fewer are decoded inline.
const RECORDS_PER_THREAD: usize = 512;

/// Streams the log records in `(after, upto]` to `f`, in log order.
pub(crate) fn replay(
    db: &Db,
    snap: &impl Readable,
    after: Option<LogKey>,
    upto: LogKey,
    mut f: impl FnMut(Record),
) -> Result<(), StoreError> {
    let lo = after.map_or(Bound::Unbounded, |k| Bound::Excluded(k.encode()));
    let range = (lo, Bound::Included(upto.encode()));
    let mut block: Vec<(Slice, Slice)> = Vec::with_capacity(BLOCK);
    for g in snap.range(&db.log, range) {
        block.push(g.into_inner()?);
        if block.len() == BLOCK {
            apply_block(&mut block, &mut f)?;
        }
    }
    apply_block(&mut block, &mut f)
}

fn apply_block(
    block: &mut Vec<(Slice, Slice)>,
    f: &mut impl FnMut(Record),
) -> Result<(), StoreError> {
    let recs = decode_all(block, RECORDS_PER_THREAD, |k, v, it, out| {
        out.push(decode_record(v, it).map_err(|e| StoreError::corrupt(KS_LOG, k, e))?);
        Ok(())
    })?;
    block.clear();
    recs.into_iter().for_each(f);
    Ok(())
}

/// The elements alive once every change up to `upto` is applied.
///
/// Changes since the newest checkpoint are read newest first, so that only the latest
/// revision of each element is decoded in full; the checkpoint's elements changed since are
/// only walked over. Reading the past thus decodes each alive element once, however many
/// times it changed.
pub(crate) fn state_at(
    db: &Db,
    snap: &impl Readable,
    upto: LogKey,
) -> Result<AliveSet, StoreError> {
    let base = checkpoint::newest_upto(db, snap, upto)?;
    let mut state = AliveSet::default();
    let mut gone = Gone::default();
    newest_first(db, snap, base.map(|m| m.at), upto, &mut state, &mut gone)?;
    if let Some(meta) = &base {
        checkpoint::load_into(db, snap, meta, &mut state, &|is_node, id| {
            gone.contains(is_node, id)
        })?;
    }
    state.share_edge_ends();
    Ok(state)
}

/// Ids whose latest change (up to the position asked) is a deletion.
#[derive(Debug, Default)]
struct Gone {
    nodes: FastSet<Box<str>>,
    edges: FastSet<Box<str>>,
}

impl Gone {
    fn contains(&self, is_node: bool, id: &str) -> bool {
        if is_node {
            self.nodes.contains(id)
        } else {
            self.edges.contains(id)
        }
    }

    fn insert(&mut self, is_node: bool, id: &str) {
        if is_node {
            &mut self.nodes
        } else {
            &mut self.edges
        }
        .insert(id.into());
    }
}

/// Applies the changes in `(after, upto]` newest first: the first change met for an element
/// decides it (its revision, or its absence); older ones are skipped undecoded.
fn newest_first(
    db: &Db,
    snap: &impl Readable,
    after: Option<LogKey>,
    upto: LogKey,
    state: &mut AliveSet,
    gone: &mut Gone,
) -> Result<(), StoreError> {
    let lo = after.map_or(Bound::Unbounded, |k| Bound::Excluded(k.encode()));
    let range = (lo, Bound::Included(upto.encode()));
    let mut block: Vec<(Slice, Slice)> = Vec::with_capacity(BLOCK);
    for g in snap.range(&db.log, range).rev() {
        block.push(g.into_inner()?);
        if block.len() == BLOCK {
            claim_block(&mut block, state, gone)?;
        }
    }
    claim_block(&mut block, state, gone)
}

fn claim_block(
    block: &mut Vec<(Slice, Slice)>,
    state: &mut AliveSet,
    gone: &mut Gone,
) -> Result<(), StoreError> {
    let mut wanted: Vec<(Slice, Slice)> = Vec::new();
    let mut claimed: FastSet<(bool, &str)> = FastSet::default();
    for (k, v) in block.iter() {
        let (is_node, change, id) =
            peek_record(v).map_err(|e| StoreError::corrupt(KS_LOG, k, e))?;
        if state.contains(is_node, id)
            || gone.contains(is_node, id)
            || !claimed.insert((is_node, id))
        {
            continue;
        }
        if change == Change::Deleted {
            gone.insert(is_node, id);
        } else {
            wanted.push((k.clone(), v.clone()));
        }
    }
    drop(claimed);
    let recs = decode_all(&wanted, RECORDS_PER_THREAD, |k, v, it, out| {
        out.push(decode_record(v, it).map_err(|e| StoreError::corrupt(KS_LOG, k, e))?);
        Ok(())
    })?;
    for r in recs {
        state.insert(r.rev);
    }
    block.clear();
    Ok(())
}

/// Every revision alive during `slice`: the latest of each element (alive at the end, or
/// deleted within the slice) and the older ones.
#[derive(Debug, Default)]
pub(crate) struct SliceRevisions {
    pub latest: AliveSet,
    pub older_nodes: Vec<Arc<Node>>,
    pub older_edges: Vec<Arc<Edge>>,
}

pub(crate) fn slice_revisions(
    db: &Db,
    snap: &impl Readable,
    slice: TimeSlice,
) -> Result<SliceRevisions, StoreError> {
    let start = LogKey::end_of(slice.start);
    let mut revs = SliceRevisions {
        latest: state_at(db, snap, start)?,
        ..SliceRevisions::default()
    };
    if slice.last > slice.start {
        replay(db, snap, Some(start), LogKey::end_of(slice.last), |rec| {
            revs.supersede(rec)
        })?;
        revs.latest.share_edge_ends();
    }
    Ok(revs)
}

impl SliceRevisions {
    /// Applies a change made inside the slice, keeping what it replaces.
    fn supersede(&mut self, rec: Record) {
        match rec.rev {
            Revision::Node(n) => {
                let prev = self.latest.nodes.insert(n.id.clone(), n.clone());
                self.older_nodes
                    .extend(prev.filter(|p| !is_deletion_of(rec.change, &**p, &*n)));
            }
            Revision::Edge(e) => {
                let prev = self.latest.edges.insert(e.id.clone(), e.clone());
                self.older_edges
                    .extend(prev.filter(|p| !is_deletion_of(rec.change, &**p, &*e)));
            }
        }
    }
}

/// Whether `rec` only marks `prev` deleted: the deletion carries the last revision with its
/// `DeletedAt`, which then stands for it.
fn is_deletion_of<T: skydive_graph::Element>(change: Change, prev: &T, rec: &T) -> bool {
    change == Change::Deleted && prev.revision() == rec.revision() && prev.deleted_at().is_none()
}

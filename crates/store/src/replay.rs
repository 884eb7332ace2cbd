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
use skydive_graph::{Edge, Node, TimeSlice};

use crate::StoreError;
use crate::checkpoint;
use crate::codec::{Change, Record, Revision, decode_record};
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
    mut f: impl FnMut(LogKey, Record),
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
    f: &mut impl FnMut(LogKey, Record),
) -> Result<(), StoreError> {
    let recs = decode_all(block, RECORDS_PER_THREAD, |k, v, it, out| {
        let corrupt = |why: &dyn std::fmt::Display| StoreError::corrupt(KS_LOG, k, why);
        let key = LogKey::decode(k).ok_or_else(|| corrupt(&"key is not a log position"))?;
        out.push((key, decode_record(v, it).map_err(|e| corrupt(&e))?));
        Ok(())
    })?;
    block.clear();
    for (k, r) in recs {
        f(k, r);
    }
    Ok(())
}

/// The elements alive once every change up to `upto` is applied.
pub(crate) fn state_at(
    db: &Db,
    snap: &impl Readable,
    upto: LogKey,
) -> Result<AliveSet, StoreError> {
    let base = checkpoint::newest_upto(db, snap, upto)?;
    let mut state = match &base {
        Some(meta) => checkpoint::load(db, snap, meta)?,
        None => AliveSet::default(),
    };
    replay(db, snap, base.map(|m| m.at), upto, |_, rec| {
        state.apply(rec)
    })?;
    Ok(state)
}

/// Every revision alive during `slice`.
#[derive(Debug, Default)]
pub(crate) struct SliceRevisions {
    pub nodes: Vec<Arc<Node>>,
    pub edges: Vec<Arc<Edge>>,
}

pub(crate) fn slice_revisions(
    db: &Db,
    snap: &impl Readable,
    slice: TimeSlice,
) -> Result<SliceRevisions, StoreError> {
    let start = LogKey::end_of(slice.start);
    let mut current = state_at(db, snap, start)?;
    let mut older = SliceRevisions::default();
    if slice.last > slice.start {
        replay(
            db,
            snap,
            Some(start),
            LogKey::end_of(slice.last),
            |_, rec| supersede(&mut current, &mut older, rec),
        )?;
    }
    older.nodes.extend(current.nodes.into_values());
    older.edges.extend(current.edges.into_values());
    Ok(older)
}

/// Applies a change made inside the slice, keeping what it replaces.
fn supersede(current: &mut AliveSet, older: &mut SliceRevisions, rec: Record) {
    match (rec.change, rec.rev) {
        (Change::Deleted, Revision::Node(n)) => {
            // The deletion carries the last revision with `DeletedAt`: it replaces the same
            // revision without it.
            if let Some(prev) = current
                .nodes
                .remove(&n.id)
                .filter(|p| p.revision != n.revision)
            {
                older.nodes.push(prev);
            }
            older.nodes.push(n);
        }
        (Change::Deleted, Revision::Edge(e)) => {
            if let Some(prev) = current
                .edges
                .remove(&e.id)
                .filter(|p| p.revision != e.revision)
            {
                older.edges.push(prev);
            }
            older.edges.push(e);
        }
        (_, Revision::Node(n)) => older.nodes.extend(current.nodes.insert(n.id.clone(), n)),
        (_, Revision::Edge(e)) => older.edges.extend(current.edges.insert(e.id.clone(), e)),
    }
}

//! Retention: history older than `storage.retention_secs` is dropped.
//!
//! The log cannot simply be cut at the cutoff: reading the past starts from a checkpoint.
//! So retention keeps the newest checkpoint at or before the cutoff (writing one there if
//! there is none), then drops every older checkpoint and every change it already includes.
//! History stays readable from that checkpoint's time on, a little before the cutoff at most
//! (`storage.checkpoint_max_interval_secs`); earlier times get [`StoreError::HistoryDropped`].
//!
//! Order matters for crash safety: the new readable bound is recorded first, then old
//! checkpoints' index entries, their chunks, and the log entries are deleted; an interrupted
//! run leaves only garbage that the next run deletes.

use std::ops::Bound;

use fjall::Readable;
use serde::Serialize;
use skydive_graph::TimeMs;

use crate::db::{Db, KS_LOG};
use crate::keys::LogKey;
use crate::{StoreError, checkpoint};

/// What one retention run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetentionReport {
    /// History older than this is due to go (`None`: retention is disabled).
    pub cutoff: Option<TimeMs>,
    /// History can be read at this time and later (`None`: nothing was ever dropped).
    pub retained_from: Option<TimeMs>,
    pub log_entries_dropped: u64,
    pub checkpoints_dropped: u64,
    /// Whether a checkpoint had to be written at the cutoff.
    pub checkpoint_written: bool,
}

/// Enforces a retention of `retention_ms` (`None`: keep forever) as of `now`.
pub(crate) fn enforce(
    db: &Db,
    retention_ms: Option<i64>,
    now: TimeMs,
) -> Result<RetentionReport, StoreError> {
    let snap = db.db.snapshot();
    let mut report = RetentionReport {
        cutoff: None,
        retained_from: db.retained_from(&snap)?,
        log_entries_dropped: 0,
        checkpoints_dropped: 0,
        checkpoint_written: false,
    };
    let Some(ms) = retention_ms else {
        return Ok(report);
    };
    let cutoff = now.saturating_sub_ms(ms);
    report.cutoff = Some(cutoff);
    let limit = LogKey::end_of(cutoff);
    let kept = match checkpoint::newest_upto(db, &snap, limit)? {
        Some(meta) => meta,
        None => {
            let Some(last_old) = last_log_key_upto(db, &snap, limit)? else {
                return Ok(report);
            };
            report.checkpoint_written = true;
            checkpoint::write_at(db, &snap, last_old)?
        }
    };
    let from = kept.at.time;
    if report.retained_from.is_none_or(|r| r < from) {
        let mut batch = db.db.batch();
        db.set_retained_from(&mut batch, from);
        batch.commit()?;
        report.retained_from = Some(from);
    }
    report.checkpoints_dropped = checkpoint::delete_before(db, kept.at)?;
    report.log_entries_dropped =
        checkpoint::remove_keys(db, &db.log, ..=kept.at.encode().to_vec())?;
    Ok(report)
}

fn last_log_key_upto(
    db: &Db,
    snap: &impl Readable,
    upto: LogKey,
) -> Result<Option<LogKey>, StoreError> {
    let range = (Bound::Unbounded, Bound::Included(upto.encode()));
    match snap.range(&db.log, range).next_back() {
        None => Ok(None),
        Some(g) => {
            let k = g.key()?;
            LogKey::decode(&k)
                .map(Some)
                .ok_or_else(|| StoreError::corrupt(KS_LOG, &k, "key is not a log position"))
        }
    }
}

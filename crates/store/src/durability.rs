//! What the two writer threads share (`history-writer` in `writer.rs`, `flow-writer` in
//! `flow_writer.rs`): when written batches are synced to disk, what a caller waiting in
//! `flush()` or `close()` is told, and how a writer is asked to stop.
//!
//! Main type: [`Durability`]. A batch is flushed to the OS when it is committed; the journal
//! is synced once the oldest unsynced write has waited `fsync`, or at once for a waiting
//! caller. A write that failed since the last answer makes that answer an error, even if the
//! sync then succeeds: the caller's data is not all on disk.
//!
//! Must not: decide what a batch holds, how it is encoded or counted; each writer does.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, bounded};
use fjall::PersistMode;

use crate::StoreError;
use crate::db::Db;

/// How often an idle writer wakes up (the history writer looks at its checkpoint interval).
const TICK: Duration = Duration::from_secs(1);

/// Where a writer answers a `flush()` or `close()`.
pub(crate) type Reply = Sender<Result<(), StoreError>>;

/// A writer's sync schedule, and the write error its next answer must report.
pub(crate) struct Durability {
    /// How long a committed write may stay unsynced.
    fsync: Duration,
    /// When the oldest write not yet synced to disk happened.
    dirty_since: Option<Instant>,
    /// The first write error since the last answer, reported to that answer.
    failed: Option<String>,
}

impl Durability {
    pub fn new(fsync: Duration) -> Self {
        Durability {
            fsync,
            dirty_since: None,
            failed: None,
        }
    }

    /// How long to wait for messages: until a sync is due, and at most [`TICK`].
    pub fn timeout(&self) -> Duration {
        match self.dirty_since {
            Some(t) => self.fsync.saturating_sub(t.elapsed()).min(TICK),
            None => TICK,
        }
    }

    /// A batch was committed: it must be synced within `fsync`.
    pub fn committed(&mut self) {
        self.dirty_since.get_or_insert_with(Instant::now);
    }

    /// A batch could not be written: the next answer says so.
    pub fn failed(&mut self, e: &dyn std::fmt::Display) {
        self.failed.get_or_insert_with(|| e.to_string());
    }

    /// Whether the oldest unsynced write has waited `fsync`.
    pub fn sync_due(&self) -> bool {
        self.dirty_since.is_some_and(|t| t.elapsed() >= self.fsync)
    }

    /// Syncs `db` to disk; the writer counts and reports an error.
    pub fn sync(&mut self, db: &Db, mode: PersistMode) -> Result<(), fjall::Error> {
        self.dirty_since = None;
        db.db.persist(mode)
    }

    /// Tells each waiting caller whether everything it waited for is safe, given the sync
    /// just made (`synced`); `error` makes the store's error from the reason.
    pub fn answer(
        &mut self,
        replies: Vec<Reply>,
        synced: Result<(), String>,
        error: fn(String) -> StoreError,
    ) {
        let failed = self.failed.take();
        for r in replies {
            let res = match (&failed, &synced) {
                (Some(e), _) | (None, Err(e)) => Err(error(e.clone())),
                (None, Ok(())) => Ok(()),
            };
            // The caller may have given up waiting: nothing to tell then.
            let _ = r.send(res);
        }
    }
}

/// Asks the writer thread `name` to write what is queued, sync and stop (`shutdown` makes
/// its message), then waits for its answer and for the thread.
pub(crate) fn stop_writer<M>(
    tx: &Sender<M>,
    shutdown: fn(Reply) -> M,
    writer: JoinHandle<()>,
    name: &'static str,
) -> Result<(), StoreError> {
    let (reply, answer) = bounded(1);
    let gone = || StoreError::Thread(name, "exited early".into());
    let result = match tx.send(shutdown(reply)) {
        Ok(()) => answer.recv().unwrap_or_else(|_| Err(gone())),
        Err(_) => Err(gone()),
    };
    if writer.join().is_err() {
        return result.and(Err(StoreError::Thread(name, "panicked".into())));
    }
    result
}

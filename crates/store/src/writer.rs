//! Recording changes: the graph hands every event to a [`Recorder`] under its write lock; the
//! recorder only queues it (a reference count and a timestamp), and the writer thread encodes
//! queued events and writes them in batches.
//!
//! **When the queue is full** the graph waits, up to `storage.buffer_full_wait_ms`, for room:
//! losing history is worse than slowing the graph down for a moment. If the writer still does
//! not catch up (a stalled disk), the event is dropped and counted in `EventsDropped`, so that
//! a stuck store cannot freeze the analyzer. Events recorded after the store is closed are
//! dropped and counted too.
//!
//! **Batches** are whatever is queued when the writer wakes up, up to [`MAX_BATCH`]: one
//! event alone when the graph is quiet, big batches under load. Each batch is one atomic
//! fjall write, flushed to the OS (so it survives the process being killed), and the journal
//! is synced to disk every `storage.fsync_ms` (so at most that much survives no power loss).
//!
//! **Time of a change** is the element's own time (`UpdatedAt`, or `DeletedAt` for a
//! deletion) — what Skydive's `At()` compares — but clamped so the log never goes back in time
//! (an agent whose clock is late, or a resync of old elements, is filed when the analyzer
//! learnt it) and never ahead of the analyzer's clock (an agent whose clock is early). Times
//! never go backwards, so a checkpoint never misses a change filed before it.

use std::ops::Bound;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError};
use fjall::{PersistMode, Readable};
use skydive_graph::{ChangeLog, GraphEvent, TimeMs};

use crate::checkpoint;
use crate::codec::{Change, Record, peek_record};
use crate::db::{Db, KS_LOG};
use crate::durability::{Durability, Reply};
use crate::keys::LogKey;
use crate::maintenance::MaintMsg;
use crate::stats::Counters;
use crate::{HistoryConfig, StoreError};

/// Most events written in one batch.
pub(crate) const MAX_BATCH: usize = 4096;

/// A checkpoint is not worth taking for fewer changes than this, however small the graph.
const CHECKPOINT_MIN_EVENTS: u64 = 10_000;

pub(crate) enum WriterMsg {
    /// A graph event and when it was recorded.
    Event(GraphEvent, TimeMs),
    /// Answer once everything queued before is written and synced.
    Flush(Reply),
    /// Write what is queued, sync, answer and stop.
    Shutdown(Reply),
}

/// The [`ChangeLog`] handed to the graph.
pub(crate) struct Recorder {
    pub tx: Sender<WriterMsg>,
    pub counters: Arc<Counters>,
    pub wait: Duration,
}

impl ChangeLog for Recorder {
    fn record(&self, event: &GraphEvent) {
        Counters::add(&self.counters.recorded, 1);
        let msg = WriterMsg::Event(event.clone(), TimeMs::now());
        let lost = match self.tx.try_send(msg) {
            Ok(()) => return,
            Err(TrySendError::Full(msg)) => {
                Counters::add(&self.counters.waits, 1);
                match self.tx.send_timeout(msg, self.wait) {
                    Ok(()) => return,
                    Err(SendTimeoutError::Timeout(_)) => "buffer full (storage.buffer_events)",
                    Err(SendTimeoutError::Disconnected(_)) => "store closed",
                }
            }
            Err(TrySendError::Disconnected(_)) => "store closed",
        };
        let before = self
            .counters
            .dropped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Log the first loss and then every 10000th, not every one.
        if before.is_multiple_of(10_000) {
            self.counters.error("change dropped from history", &lost);
        }
    }
}

/// Where the writer resumes: read from the store at open.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Resume {
    /// The last position written (log or checkpoint).
    pub last: Option<LogKey>,
    /// Elements alive at the end of the log (approximately: it only steers checkpoints).
    pub live: u64,
    /// Changes since the newest checkpoint.
    pub since_checkpoint: u64,
}

impl Resume {
    pub fn read(db: &Db) -> Result<Self, StoreError> {
        let snap = db.db.snapshot();
        let base = checkpoint::newest_upto(db, &snap, LogKey::end_of(TimeMs(i64::MAX)))?;
        let mut r = Resume {
            last: base.map(|m| m.at),
            live: base.map_or(0, |m| m.nodes + m.edges),
            since_checkpoint: 0,
        };
        let lo = base.map_or(Bound::Unbounded, |m| Bound::Excluded(m.at.encode()));
        for g in snap.range(&db.log, (lo, Bound::Unbounded)) {
            let (k, v) = g.into_inner()?;
            let corrupt = |why: &dyn std::fmt::Display| StoreError::corrupt(KS_LOG, &k, why);
            let key = LogKey::decode(&k).ok_or_else(|| corrupt(&"key is not a log position"))?;
            match peek_record(&v).map_err(|e| corrupt(&e))? {
                (_, Change::Added, _) => r.live += 1,
                (_, Change::Deleted, _) => r.live = r.live.saturating_sub(1),
                (_, Change::Updated, _) => {}
            }
            r.since_checkpoint += 1;
            r.last = r.last.max(Some(key));
        }
        Ok(r)
    }
}

pub(crate) fn spawn(
    db: Db,
    cfg: &HistoryConfig,
    counters: Arc<Counters>,
    rx: Receiver<WriterMsg>,
    maint: Sender<MaintMsg>,
    resume: Resume,
) -> std::io::Result<JoinHandle<()>> {
    let w = Writer {
        db,
        rx,
        counters,
        maint,
        durability: Durability::new(cfg.fsync_interval()),
        checkpoint_interval: Duration::from_secs(cfg.checkpoint_max_interval_secs),
        last: resume.last,
        live: resume.live,
        since_checkpoint: resume.since_checkpoint,
        last_checkpoint: Instant::now(),
        buf: Vec::with_capacity(1024),
    };
    std::thread::Builder::new()
        .name("history-writer".into())
        .spawn(move || w.run())
}

struct Writer {
    db: Db,
    rx: Receiver<WriterMsg>,
    counters: Arc<Counters>,
    maint: Sender<MaintMsg>,
    durability: Durability,
    checkpoint_interval: Duration,
    last: Option<LogKey>,
    live: u64,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    buf: Vec<u8>,
}

impl Writer {
    fn run(mut self) {
        loop {
            let first = match self.rx.recv_timeout(self.durability.timeout()) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.sync(PersistMode::SyncAll);
                    return;
                }
            };
            let mut events = Vec::new();
            let mut replies = Vec::new();
            let mut stop = None;
            for msg in first.into_iter().chain(self.rx.try_iter().take(MAX_BATCH)) {
                match msg {
                    WriterMsg::Event(ev, at) => events.push((ev, at)),
                    WriterMsg::Flush(r) => replies.push(r),
                    WriterMsg::Shutdown(r) => stop = Some(r),
                }
            }
            self.write(&events);
            if stop.is_some() {
                self.stop(replies, stop);
                return;
            }
            if replies.is_empty() {
                self.maybe_sync();
            } else {
                self.answer(replies, PersistMode::SyncData);
            }
            self.maybe_checkpoint();
        }
    }

    /// Writes everything still queued (events recorded before `close()` belong in history),
    /// syncs everything and answers.
    fn stop(&mut self, mut replies: Vec<Reply>, stop: Option<Reply>) {
        let mut events = Vec::new();
        for msg in self.rx.try_iter() {
            match msg {
                WriterMsg::Event(ev, at) => events.push((ev, at)),
                WriterMsg::Flush(r) | WriterMsg::Shutdown(r) => replies.push(r),
            }
        }
        self.write(&events);
        replies.extend(stop);
        self.answer(replies, PersistMode::SyncAll);
    }

    fn write(&mut self, events: &[(GraphEvent, TimeMs)]) {
        if events.is_empty() {
            return;
        }
        let mut batch = self.db.db.batch();
        for (ev, recorded_at) in events {
            let rec = Record::from_event(ev);
            let key = self.next_key(rec.element_time(), *recorded_at);
            self.buf.clear();
            rec.encode(&mut self.buf);
            batch.insert(&self.db.log, &key.encode()[..], &self.buf[..]);
            self.count(rec.change);
        }
        let n = events.len() as u64;
        match batch.commit() {
            Ok(()) => {
                Counters::add(&self.counters.written, n);
                self.durability.committed();
            }
            Err(e) => {
                Counters::add(&self.counters.write_errors, 1);
                Counters::add(&self.counters.dropped, n);
                self.counters.error("writing history", &e);
                self.durability.failed(&e);
            }
        }
    }

    /// The log position of a change: see the module docs for why times are clamped.
    fn next_key(&mut self, element_time: TimeMs, recorded_at: TimeMs) -> LogKey {
        let t = element_time.min(recorded_at);
        let key = match self.last {
            Some(l) => LogKey {
                time: t.max(l.time),
                seq: l.seq + 1,
            },
            None => LogKey { time: t, seq: 0 },
        };
        self.last = Some(key);
        key
    }

    fn count(&mut self, change: Change) {
        match change {
            Change::Added => self.live += 1,
            Change::Deleted => self.live = self.live.saturating_sub(1),
            Change::Updated => {}
        }
        self.since_checkpoint += 1;
    }

    fn maybe_sync(&mut self) {
        if self.durability.sync_due() {
            let _ = self.sync(PersistMode::SyncData);
        }
    }

    fn sync(&mut self, mode: PersistMode) -> Result<(), StoreError> {
        self.durability.sync(&self.db, mode).map_err(|e| {
            Counters::add(&self.counters.write_errors, 1);
            self.counters.error("syncing history to disk", &e);
            StoreError::from(e)
        })
    }

    /// Syncs, then tells each waiting caller whether everything it waited for is safe.
    fn answer(&mut self, replies: Vec<Reply>, mode: PersistMode) {
        let synced = self.sync(mode).map_err(|e| e.to_string());
        self.durability.answer(replies, synced, StoreError::Write);
    }

    /// Asks for a checkpoint once the changes since the last one outnumber the graph (so that
    /// reading the past never replays more than about one graph's worth of changes), or
    /// after `storage.checkpoint_max_interval_secs`.
    fn maybe_checkpoint(&mut self) {
        if self.since_checkpoint == 0 {
            return;
        }
        let by_size = self.since_checkpoint >= self.live.max(CHECKPOINT_MIN_EVENTS);
        if by_size || self.last_checkpoint.elapsed() >= self.checkpoint_interval {
            // Full means one is already asked for: it will cover these changes too.
            let _ = self.maint.try_send(MaintMsg::Checkpoint);
            self.since_checkpoint = 0;
            self.last_checkpoint = Instant::now();
        }
    }
}

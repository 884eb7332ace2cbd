//! The flow store's threads: `flow-writer` writes queued updates in batches, and
//! `flow-retention` deletes old ones.
//!
//! **Batches** are what is queued when the writer wakes up, up to [`MAX_BATCH`] updates per
//! atomic fjall write; each update's record and its three index entries are in the same
//! batch, so a crash never leaves an update half-indexed. Batches are flushed to the OS at
//! once (they survive the process being killed) and the journal is synced every `fsync_ms`.
//!
//! **Retention** walks `flow_records` from its oldest key up to the cutoff (keys are ordered
//! by `Last`), deleting each record with its index entries (found from the record's ids
//! without decoding the rest), a few thousand per atomic batch. A record too damaged to
//! name its ids is deleted with the entries its key names; what cannot be found (its node
//! and tracking entries) is left behind, and searches skip index entries without a record.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use fjall::PersistMode;
use parking_lot::Mutex;
use skydive_graph::TimeMs;

use crate::StoreError;
use crate::db::Db;
use crate::durability::{self, Durability, Reply};
use crate::flow_codec::{index_key, parse_record_key, peek_ids, uuid_key};
use crate::flow_store::{FlowRetentionReport, FlowStoreConfig};
use crate::keys::time_bytes;

/// Most updates written in one batch.
pub(crate) const MAX_BATCH: usize = 4096;

/// Records deleted per retention batch (each with its three index entries).
const RETENTION_BATCH: usize = 2500;

/// One update, encoded on the caller's thread.
pub(crate) struct Encoded {
    pub last: i64,
    pub uuid: String,
    pub node_tid: String,
    pub tracking_id: String,
    pub value: Vec<u8>,
    pub metric: Vec<u8>,
}

pub(crate) enum FlowMsg {
    Flows(Vec<Encoded>),
    /// Answer once everything queued before is written and synced.
    Flush(Reply),
    /// Write what is queued, sync, answer and stop.
    Shutdown(Reply),
}

/// Live counters, shared by callers, the writer and retention.
#[derive(Debug, Default)]
pub(crate) struct FlowCounters {
    pub received: AtomicU64,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub invalid: AtomicU64,
    pub write_errors: AtomicU64,
    pub expired: AtomicU64,
    pub retention_errors: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl FlowCounters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// Remembers the latest error for `/api/status` and logs it.
    pub fn error(&self, what: &str, e: &dyn std::fmt::Display) {
        tracing::warn!("flow store: {what}: {e}");
        *self.last_error.lock() = Some(format!("{what}: {e}"));
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }
}

/// The running threads of a flow store.
pub(crate) struct Threads {
    writer: JoinHandle<()>,
    retention: Option<(JoinHandle<()>, Sender<()>)>,
}

impl Threads {
    /// Stops both threads; the writer writes and syncs what is queued first.
    pub fn stop(self, tx: &Sender<FlowMsg>) -> Result<(), StoreError> {
        let mut result = durability::stop_writer(tx, FlowMsg::Shutdown, self.writer, "flow-writer");
        if let Some((handle, stop)) = self.retention {
            drop(stop);
            if handle.join().is_err() {
                result = result.and(Err(StoreError::Thread("flow-retention", "panicked".into())));
            }
        }
        result
    }
}

pub(crate) fn spawn(
    db: &Db,
    cfg: &FlowStoreConfig,
    counters: Arc<FlowCounters>,
    queued: Arc<AtomicUsize>,
    rx: Receiver<FlowMsg>,
) -> Result<Threads, StoreError> {
    let spawn_err = |what, e: std::io::Error| StoreError::Thread(what, e.to_string());
    let w = Writer {
        db: db.clone(),
        rx,
        counters: counters.clone(),
        queued,
        durability: Durability::new(Duration::from_millis(cfg.fsync_ms)),
    };
    let writer = std::thread::Builder::new()
        .name("flow-writer".into())
        .spawn(move || w.run())
        .map_err(|e| spawn_err("flow-writer", e))?;
    let retention = match (cfg.retention_ms(), cfg.retention_check_secs) {
        (Some(ms), secs) if secs > 0 => {
            let (stop_tx, stop_rx) = bounded::<()>(0);
            let period = Duration::from_secs(secs);
            let db = db.clone();
            let handle = std::thread::Builder::new()
                .name("flow-retention".into())
                .spawn(move || {
                    while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(period) {
                        if let Err(e) = enforce_retention(&db, Some(ms), TimeMs::now(), &counters) {
                            FlowCounters::add(&counters.retention_errors, 1);
                            counters.error("retention", &e);
                        }
                    }
                })
                .map_err(|e| spawn_err("flow-retention", e))?;
            Some((handle, stop_tx))
        }
        _ => None,
    };
    Ok(Threads { writer, retention })
}

struct Writer {
    db: Db,
    rx: Receiver<FlowMsg>,
    counters: Arc<FlowCounters>,
    queued: Arc<AtomicUsize>,
    durability: Durability,
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
            let mut flows = Vec::new();
            let mut replies = Vec::new();
            let mut stop = None;
            let mut pending = first;
            while let Some(msg) = pending.take() {
                match msg {
                    FlowMsg::Flows(batch) => flows.extend(batch),
                    FlowMsg::Flush(r) => replies.push(r),
                    FlowMsg::Shutdown(r) => {
                        stop = Some(r);
                        break;
                    }
                }
                if flows.len() < MAX_BATCH {
                    pending = self.rx.try_recv().ok();
                }
            }
            if stop.is_some() {
                // Everything queued before `close()` belongs in the store.
                for msg in self.rx.try_iter() {
                    match msg {
                        FlowMsg::Flows(batch) => flows.extend(batch),
                        FlowMsg::Flush(r) | FlowMsg::Shutdown(r) => replies.push(r),
                    }
                }
            }
            for chunk in flows.chunks(MAX_BATCH) {
                self.write(chunk);
            }
            if let Some(r) = stop {
                replies.push(r);
                self.answer(replies, PersistMode::SyncAll);
                return;
            }
            if replies.is_empty() {
                if self.durability.sync_due() {
                    let _ = self.sync(PersistMode::SyncData);
                }
            } else {
                self.answer(replies, PersistMode::SyncData);
            }
        }
    }

    fn write(&mut self, flows: &[Encoded]) {
        if flows.is_empty() {
            return;
        }
        let db = &self.db;
        let mut batch = db.db.batch();
        for f in flows {
            batch.insert(
                &db.flow_records,
                crate::flow_codec::record_key(f.last, &f.uuid),
                &f.value[..],
            );
            batch.insert(
                &db.flow_by_node,
                index_key(&f.node_tid, f.last, &f.uuid),
                &[][..],
            );
            batch.insert(
                &db.flow_by_tracking,
                index_key(&f.tracking_id, f.last, &f.uuid),
                &[][..],
            );
            batch.insert(&db.flow_by_uuid, uuid_key(&f.uuid, f.last), &f.metric[..]);
        }
        let n = flows.len() as u64;
        match batch.commit() {
            Ok(()) => {
                FlowCounters::add(&self.counters.written, n);
                self.durability.committed();
            }
            Err(e) => {
                FlowCounters::add(&self.counters.write_errors, 1);
                FlowCounters::add(&self.counters.dropped, n);
                self.counters.error("writing flows", &e);
                self.durability.failed(&e);
            }
        }
        self.queued.fetch_sub(flows.len(), Ordering::AcqRel);
    }

    fn sync(&mut self, mode: PersistMode) -> Result<(), StoreError> {
        self.durability.sync(&self.db, mode).map_err(|e| {
            FlowCounters::add(&self.counters.write_errors, 1);
            self.counters.error("syncing flows to disk", &e);
            StoreError::from(e)
        })
    }

    fn answer(&mut self, replies: Vec<Reply>, mode: PersistMode) {
        let synced = self.sync(mode).map_err(|e| e.to_string());
        self.durability
            .answer(replies, synced, StoreError::FlowWrite);
    }
}

/// Deletes the updates whose `Last` is before `now − retention_ms` (`None`: keep all).
pub(crate) fn enforce_retention(
    db: &Db,
    retention_ms: Option<i64>,
    now: TimeMs,
    counters: &FlowCounters,
) -> Result<FlowRetentionReport, StoreError> {
    let Some(ms) = retention_ms else {
        return Ok(FlowRetentionReport {
            cutoff: None,
            flows_deleted: 0,
        });
    };
    let cutoff = now.saturating_sub_ms(ms);
    let mut deleted = 0u64;
    let mut batch = db.db.batch();
    let mut in_batch = 0;
    for g in db.flow_records.range(..time_bytes(cutoff).to_vec()) {
        let (k, v) = g.into_inner()?;
        if let Some((last, uuid)) = parse_record_key(&k) {
            if let Ok((node_tid, tracking_id)) = peek_ids(&v) {
                batch.remove(&db.flow_by_node, index_key(node_tid, last, uuid));
                batch.remove(&db.flow_by_tracking, index_key(tracking_id, last, uuid));
            }
            batch.remove(&db.flow_by_uuid, uuid_key(uuid, last));
        }
        batch.remove(&db.flow_records, k);
        deleted += 1;
        in_batch += 1;
        if in_batch >= RETENTION_BATCH {
            std::mem::replace(&mut batch, db.db.batch()).commit()?;
            FlowCounters::add(&counters.expired, in_batch as u64);
            in_batch = 0;
        }
    }
    batch.commit()?;
    FlowCounters::add(&counters.expired, in_batch as u64);
    Ok(FlowRetentionReport {
        cutoff: Some(cutoff),
        flows_deleted: deleted,
    })
}

//! The maintenance thread: takes checkpoints when the writer asks for one, and enforces
//! retention every `storage.retention_check_secs`. Both can take seconds on a large graph,
//! which is why they do not run on the writer thread (the graph would wait on a full buffer).
//!
//! The same work can be asked for directly ([`crate::HistoryStore::checkpoint_now`],
//! [`crate::HistoryStore::enforce_retention`]); one lock keeps the two from interleaving.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::Mutex;
use skydive_graph::TimeMs;

use crate::checkpoint::{self, CheckpointMeta};
use crate::db::Db;
use crate::retention::{self, RetentionReport};
use crate::stats::Counters;
use crate::{HistoryConfig, StoreError};

pub(crate) enum MaintMsg {
    /// Take a checkpoint at the end of the log.
    Checkpoint,
    Shutdown,
}

pub(crate) struct Maintenance {
    db: Db,
    cfg: HistoryConfig,
    counters: Arc<Counters>,
    lock: Mutex<()>,
}

impl Maintenance {
    pub fn new(db: Db, cfg: HistoryConfig, counters: Arc<Counters>) -> Self {
        Maintenance {
            db,
            cfg,
            counters,
            lock: Mutex::new(()),
        }
    }

    pub fn checkpoint(&self) -> Result<Option<CheckpointMeta>, StoreError> {
        let _one_at_a_time = self.lock.lock();
        let meta = checkpoint::take(&self.db)?;
        if meta.is_some() {
            Counters::add(&self.counters.checkpoints_written, 1);
        }
        Ok(meta)
    }

    pub fn enforce_retention(&self, now: TimeMs) -> Result<RetentionReport, StoreError> {
        let _one_at_a_time = self.lock.lock();
        let report = retention::enforce(&self.db, self.cfg.retention_ms(), now)?;
        Counters::add(
            &self.counters.log_entries_dropped,
            report.log_entries_dropped,
        );
        if report.checkpoint_written {
            Counters::add(&self.counters.checkpoints_written, 1);
        }
        Ok(report)
    }

    pub fn spawn(self: &Arc<Self>, rx: Receiver<MaintMsg>) -> std::io::Result<JoinHandle<()>> {
        let this = self.clone();
        std::thread::Builder::new()
            .name("history-maint".into())
            .spawn(move || this.run(rx))
    }

    fn run(&self, rx: Receiver<MaintMsg>) {
        let period = (self.cfg.retention_check_secs > 0 && self.cfg.retention_ms().is_some())
            .then(|| Duration::from_secs(self.cfg.retention_check_secs));
        let mut next_retention = period.map(|p| Instant::now() + p);
        loop {
            let timeout = next_retention.map_or(Duration::from_secs(3600), |t| {
                t.saturating_duration_since(Instant::now())
            });
            match rx.recv_timeout(timeout) {
                Ok(MaintMsg::Checkpoint) => {
                    if let Err(e) = self.checkpoint() {
                        self.failed("checkpoint", &e);
                    }
                }
                Ok(MaintMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(p) = period {
                        if let Err(e) = self.enforce_retention(TimeMs::now()) {
                            self.failed("retention", &e);
                        }
                        next_retention = Some(Instant::now() + p);
                    }
                }
            }
        }
    }

    fn failed(&self, what: &str, e: &StoreError) {
        Counters::add(&self.counters.maintenance_errors, 1);
        self.counters.error(what, e);
    }
}

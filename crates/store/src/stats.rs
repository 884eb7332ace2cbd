//! Counters of the history store, and the snapshot of them shown in `/api/status`.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Serialize;
use skydive_graph::TimeMs;

/// Live counters, shared by the recorder, the writer and the maintenance thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub recorded: AtomicU64,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub waits: AtomicU64,
    pub write_errors: AtomicU64,
    pub maintenance_errors: AtomicU64,
    pub checkpoints_written: AtomicU64,
    pub log_entries_dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// Remembers the latest error for `/api/status` and logs it.
    pub fn error(&self, what: &str, e: &dyn std::fmt::Display) {
        tracing::warn!("history store: {what}: {e}");
        *self.last_error.lock() = Some(format!("{what}: {e}"));
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }
}

/// What the history store has done since it was opened, and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryStats {
    /// Changes handed over by the graph.
    pub events_recorded: u64,
    /// Changes written to the store.
    pub events_written: u64,
    /// Changes lost from history: the buffer stayed full longer than
    /// `storage.buffer_full_wait_ms`, the store was closed, or a write failed. Should stay 0.
    pub events_dropped: u64,
    /// Changes waiting in memory for the writer.
    pub events_queued: u64,
    /// Times a graph change had to wait for room in the buffer (history kept, writer slowed).
    pub record_waits: u64,
    /// Failed batch writes (their changes are counted in `events_dropped`).
    pub write_errors: u64,
    /// Failed checkpoints or retention runs (retried at the next occasion).
    pub maintenance_errors: u64,
    /// Checkpoints currently kept.
    pub checkpoints: u64,
    /// Checkpoints written since the store was opened.
    pub checkpoints_written: u64,
    /// Change-log entries dropped by retention since the store was opened.
    pub log_entries_dropped: u64,
    /// The oldest time history can be read at (`None`: nothing recorded yet).
    pub oldest_retained: Option<TimeMs>,
    /// `storage.retention_secs` in force (0: forever).
    pub retention_secs: u64,
    /// Size of the database on disk.
    pub disk_bytes: u64,
    /// The latest error, if any.
    pub last_error: Option<String>,
}

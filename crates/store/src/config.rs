//! `storage.*`: where topology history and flows are kept, for how long, and how often they
//! are made durable.
//!
//! Parsed once from the config file (keys under `storage.`), then checked by
//! [`HistoryConfig::validate`] before [`crate::HistoryStore::open`] uses it.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::{FlowStoreConfig, StoreError};

/// Seven days, Skydive's usual history horizon.
pub const DEFAULT_RETENTION_SECS: u64 = 7 * 24 * 3600;

/// How topology history is stored. Every field has a default, so an empty section is valid.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// `storage.data_dir`: directory holding the embedded database (created if missing; the
    /// database itself lives in `<data_dir>/db`). Default `/var/lib/skydive`.
    pub data_dir: PathBuf,
    /// `storage.retention_secs`: how long history is kept, in seconds; `0` keeps it forever.
    /// Older history is dropped about once a minute. Default 604800 (7 days).
    pub retention_secs: u64,
    /// `storage.fsync_ms`: at most this many milliseconds of written history may be lost if the
    /// machine (not just the process) goes down; `0` syncs every batch. Default 1000.
    pub fsync_ms: u64,
    /// `storage.checkpoint_max_interval_secs`: a checkpoint (full copy of the graph, so that
    /// reading the past never replays more than about one graph's worth of changes) is taken
    /// at least this often while the graph changes. Default 3600.
    pub checkpoint_max_interval_secs: u64,
    /// `storage.buffer_events`: changes that may wait in memory for the writer thread. When it
    /// is full, graph writers wait (see `buffer_full_wait_ms`). Default 65536.
    pub buffer_events: usize,
    /// `storage.buffer_full_wait_ms`: how long a graph change waits for room in a full buffer
    /// before it is dropped from history (counted as `EventsDropped`). Default 5000.
    pub buffer_full_wait_ms: u64,
    /// `storage.retention_check_secs`: how often retention is enforced; `0` only when asked
    /// through the API. Default 60.
    pub retention_check_secs: u64,
    /// `storage.flows_retention_secs`: how long flow updates are kept, in seconds; `0` keeps
    /// them forever. Default: as `storage.retention_secs`.
    pub flows_retention_secs: Option<u64>,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            data_dir: PathBuf::from("/var/lib/skydive"),
            retention_secs: DEFAULT_RETENTION_SECS,
            fsync_ms: 1000,
            checkpoint_max_interval_secs: 3600,
            buffer_events: 65_536,
            buffer_full_wait_ms: 5000,
            retention_check_secs: 60,
            flows_retention_secs: None,
        }
    }
}

impl HistoryConfig {
    /// The default configuration, storing under `data_dir` (handy for tests and tools).
    pub fn in_dir(data_dir: impl Into<PathBuf>) -> Self {
        HistoryConfig {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }

    /// Cross-field checks, with the offending key in the message.
    pub fn validate(&self) -> Result<(), StoreError> {
        let bad = |msg: String| Err(StoreError::Config(msg));
        if self.data_dir.as_os_str().is_empty() {
            return bad("storage.data_dir must not be empty".into());
        }
        if self.buffer_events == 0 {
            return bad("storage.buffer_events must be at least 1".into());
        }
        if self.checkpoint_max_interval_secs == 0 {
            return bad("storage.checkpoint_max_interval_secs must be at least 1".into());
        }
        // Millisecond times are i64: refuse spans that would overflow them.
        const MAX_SECS: u64 = i64::MAX as u64 / 1000;
        if self.retention_secs > MAX_SECS {
            return bad(format!(
                "storage.retention_secs {} is too large (at most {MAX_SECS})",
                self.retention_secs
            ));
        }
        self.flow_config().validate()
    }

    /// The flow store's configuration these keys give (`storage.flows_retention_secs`,
    /// `storage.fsync_ms`, `storage.retention_check_secs`; the rest at their defaults).
    pub fn flow_config(&self) -> FlowStoreConfig {
        FlowStoreConfig {
            data_dir: self.data_dir.clone(),
            retention_secs: self.flows_retention_secs.unwrap_or(self.retention_secs),
            retention_check_secs: self.retention_check_secs,
            fsync_ms: self.fsync_ms,
            ..FlowStoreConfig::default()
        }
    }

    pub(crate) fn retention_ms(&self) -> Option<i64> {
        // validate() bounds retention_secs, so the product fits.
        (self.retention_secs > 0).then(|| (self.retention_secs as i64).saturating_mul(1000))
    }

    pub(crate) fn fsync_interval(&self) -> Duration {
        Duration::from_millis(self.fsync_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_section_gives_defaults() {
        let cfg: HistoryConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(cfg, HistoryConfig::default());
        assert_eq!(cfg.retention_secs, 604_800);
        cfg.validate().unwrap();
    }

    #[test]
    fn keys_are_skydive_style_and_unknown_keys_are_refused() {
        let cfg: HistoryConfig =
            serde_json::from_str(r#"{"data_dir": "/tmp/x", "retention_secs": 60, "fsync_ms": 0}"#)
                .unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(cfg.retention_secs, 60);
        assert_eq!(cfg.fsync_ms, 0);
        let err = serde_json::from_str::<HistoryConfig>(r#"{"retention": 5}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `retention`"),
            "{err}"
        );
    }

    #[test]
    fn validation_names_the_key() {
        let cfg = HistoryConfig {
            buffer_events: 0,
            ..HistoryConfig::default()
        };
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("storage.buffer_events")
        );
        let cfg = HistoryConfig {
            retention_secs: u64::MAX,
            ..HistoryConfig::default()
        };
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("storage.retention_secs")
        );
    }
}

//! What can go wrong in the store, with messages a person can act on.

use std::path::PathBuf;

use skydive_graph::TimeMs;

/// An error of the history store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("invalid storage configuration: {0}")]
    Config(String),
    #[error("cannot open history store in `{path}`: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "history store in `{path}` is in use by another process (or another store in this one)"
    )]
    Locked { path: PathBuf },
    #[error(
        "history store in `{path}` has format version {found}, this program reads up to {supported}"
    )]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("storage engine: {0}")]
    Engine(#[from] fjall::Error),
    /// A stored record does not decode: the store is damaged (or written by a newer version).
    #[error("corrupt record in `{keyspace}` at key {key}: {reason}")]
    Corrupt {
        keyspace: &'static str,
        key: String,
        reason: String,
    },
    /// The asked time is older than what retention keeps.
    #[error(
        "history before {} has been dropped by retention (storage.retention_secs = {retention_secs})",
        rfc3339(*.retained_from)
    )]
    HistoryDropped {
        retained_from: TimeMs,
        retention_secs: u64,
    },
    #[error("time slice starts at {} after it ends at {}", rfc3339(*.start), rfc3339(*.last))]
    InvalidSlice { start: TimeMs, last: TimeMs },
    #[error("writing history failed: {0}")]
    Write(String),
    #[error("history store is closed")]
    Closed,
    #[error("history store thread `{0}` failed: {1}")]
    Thread(&'static str, String),
    /// A flow search matched more flows (or metric points) than it may return.
    #[error(
        "more than {limit} flows match; narrow the query (Has(...), a shorter time slice) or add Limit(...)"
    )]
    TooManyFlows { limit: usize },
    #[error("writing flows failed: {0}")]
    FlowWrite(String),
    #[error("flow store is closed")]
    FlowStoreClosed,
}

impl StoreError {
    /// Whether this error is about a time outside the retained history (the caller's fault,
    /// an HTTP 400, rather than the store's).
    pub fn is_out_of_range(&self) -> bool {
        matches!(
            self,
            StoreError::HistoryDropped { .. } | StoreError::InvalidSlice { .. }
        )
    }

    pub(crate) fn corrupt(keyspace: &'static str, key: &[u8], reason: impl ToString) -> Self {
        StoreError::Corrupt {
            keyspace,
            key: hex(key),
            reason: reason.to_string(),
        }
    }
}

/// A time as RFC 3339 (UTC, milliseconds), or the raw number when it is before the epoch.
pub(crate) fn rfc3339(t: TimeMs) -> String {
    match u64::try_from(t.0) {
        Ok(ms) => {
            let st = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            humantime::format_rfc3339_millis(st).to_string()
        }
        Err(_) => format!("{}ms since the epoch", t.0),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_history_message_names_time_and_key() {
        let e = StoreError::HistoryDropped {
            retained_from: TimeMs(1_700_000_000_123),
            retention_secs: 604_800,
        };
        assert_eq!(
            e.to_string(),
            "history before 2023-11-14T22:13:20.123Z has been dropped by retention (storage.retention_secs = 604800)"
        );
        assert!(e.is_out_of_range());
    }

    #[test]
    fn corrupt_names_key_in_hex() {
        let e = StoreError::corrupt("topology_log", &[0xde, 0xad], "truncated");
        assert_eq!(
            e.to_string(),
            "corrupt record in `topology_log` at key dead: truncated"
        );
    }
}

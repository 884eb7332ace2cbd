//! Time as Skydive serialises it: milliseconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in time in epoch milliseconds, the unit of every `*At` field in Skydive's JSON.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct TimeMs(pub i64);

impl TimeMs {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        TimeMs(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    /// `self - ms`, saturating at the epoch's lower bound instead of overflowing.
    pub const fn saturating_sub_ms(self, ms: i64) -> Self {
        TimeMs(self.0.saturating_sub(ms))
    }
}

impl std::fmt::Display for TimeMs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

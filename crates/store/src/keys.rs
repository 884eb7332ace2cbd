//! Byte layout of the keys the history keeps. Integers are big-endian and signed times have
//! their sign bit flipped, so that byte order (what the LSM tree sorts by) is time order.
//!
//! ```text
//! topology_log               [time: 8][seq: 8]              -> one changed revision
//! topology_checkpoint_index  [time: 8][seq: 8]              -> checkpoint summary
//! topology_checkpoint        [time: 8][seq: 8][chunk: 4]    -> part of the checkpoint's elements
//! meta                       ASCII name                     -> small values
//! ```
//! A checkpoint is named by the log position it includes: it holds the elements alive once
//! every change up to that key has been applied.

use skydive_graph::TimeMs;

/// A position in the change log: the time of a change, then a sequence number that keeps
/// changes of the same millisecond in the order they happened. Unique and ever increasing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct LogKey {
    pub time: TimeMs,
    pub seq: u64,
}

pub(crate) const LOG_KEY_LEN: usize = 16;
pub(crate) const CHUNK_KEY_LEN: usize = LOG_KEY_LEN + 4;

impl LogKey {
    /// The greatest key at `time`: every change of that millisecond is at or before it.
    pub fn end_of(time: TimeMs) -> Self {
        LogKey {
            time,
            seq: u64::MAX,
        }
    }

    pub fn encode(self) -> [u8; LOG_KEY_LEN] {
        let mut k = [0; LOG_KEY_LEN];
        k[..8].copy_from_slice(&time_bytes(self.time));
        k[8..].copy_from_slice(&self.seq.to_be_bytes());
        k
    }

    pub fn decode(b: &[u8]) -> Option<Self> {
        let b: &[u8; LOG_KEY_LEN] = b.try_into().ok()?;
        let (t, s) = b.split_at(8);
        Some(LogKey {
            time: time_from(t.try_into().ok()?),
            seq: u64::from_be_bytes(s.try_into().ok()?),
        })
    }

    /// Key of part `chunk` of the checkpoint taken at this position.
    pub fn chunk_key(self, chunk: u32) -> [u8; CHUNK_KEY_LEN] {
        let mut k = [0; CHUNK_KEY_LEN];
        k[..LOG_KEY_LEN].copy_from_slice(&self.encode());
        k[LOG_KEY_LEN..].copy_from_slice(&chunk.to_be_bytes());
        k
    }

    /// The checkpoint position and part number of a chunk key.
    pub fn of_chunk_key(b: &[u8]) -> Option<(Self, u32)> {
        let b: &[u8; CHUNK_KEY_LEN] = b.try_into().ok()?;
        let (k, c) = b.split_at(LOG_KEY_LEN);
        Some((Self::decode(k)?, u32::from_be_bytes(c.try_into().ok()?)))
    }
}

pub(crate) fn time_bytes(t: TimeMs) -> [u8; 8] {
    ((t.0 as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn time_from(b: [u8; 8]) -> TimeMs {
    TimeMs((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_is_time_order() {
        let keys = [
            LogKey {
                time: TimeMs(i64::MIN),
                seq: 0,
            },
            LogKey {
                time: TimeMs(-5),
                seq: 9,
            },
            LogKey {
                time: TimeMs(0),
                seq: 0,
            },
            LogKey {
                time: TimeMs(0),
                seq: 1,
            },
            LogKey {
                time: TimeMs(1_700_000_000_000),
                seq: 0,
            },
            LogKey::end_of(TimeMs(1_700_000_000_000)),
            LogKey::end_of(TimeMs(i64::MAX)),
        ];
        for w in keys.windows(2) {
            assert!(w[0] < w[1]);
            assert!(w[0].encode() < w[1].encode(), "{:?} vs {:?}", w[0], w[1]);
        }
        for k in keys {
            assert_eq!(LogKey::decode(&k.encode()), Some(k));
        }
        assert_eq!(LogKey::decode(&[1, 2, 3]), None);
    }

    #[test]
    fn chunk_keys_group_under_their_checkpoint() {
        let id = LogKey {
            time: TimeMs(42),
            seq: 7,
        };
        let k = id.chunk_key(3);
        assert!(k.starts_with(&id.encode()));
        assert_eq!(LogKey::of_chunk_key(&k), Some((id, 3)));
        assert!(id.chunk_key(3) < id.chunk_key(4));
        assert!(
            id.chunk_key(u32::MAX)
                < LogKey {
                    time: TimeMs(42),
                    seq: 8
                }
                .chunk_key(0)
        );
    }
}

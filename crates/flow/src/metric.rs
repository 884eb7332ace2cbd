//! [`FlowMetric`] (Skydive's `Metric` and `LastUpdateMetric`) and [`Timestamp`], the time
//! every table operation is given by its caller (packet timestamps, so replays are exact).

use serde::{Deserialize, Serialize};

/// Packet and byte counters of a flow, per direction, over `[Start, Last]` (epoch ms).
///
/// `AB` is from endpoint A (the sender of the first packet seen) to B. `RTT` is in
/// nanoseconds (TCP SYN → SYN-ACK, or ICMP echo request → reply), omitted while unknown.
/// For sFlow captures the counters count *samples*, as Skydive does; see
/// [`Flow::sampling_rate`](crate::Flow::sampling_rate) to scale them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowMetric {
    #[serde(rename = "ABPackets", default)]
    pub ab_packets: i64,
    #[serde(rename = "ABBytes", default)]
    pub ab_bytes: i64,
    #[serde(rename = "BAPackets", default)]
    pub ba_packets: i64,
    #[serde(rename = "BABytes", default)]
    pub ba_bytes: i64,
    #[serde(rename = "Start", default)]
    pub start: i64,
    #[serde(rename = "Last", default)]
    pub last: i64,
    #[serde(rename = "RTT", default, skip_serializing_if = "is_zero")]
    pub rtt: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// A point in time, nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis.saturating_mul(1_000_000))
    }

    /// A pcap record's time: seconds and microseconds (or nanoseconds with `nanos`).
    pub const fn from_secs_frac(secs: u32, frac: u32, nanos: bool) -> Self {
        let sub = if nanos {
            frac as i64
        } else {
            frac as i64 * 1_000
        };
        Timestamp(secs as i64 * 1_000_000_000 + sub)
    }

    /// The current wall-clock time, for callers without packet timestamps (sFlow).
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Epoch milliseconds, the unit of Skydive's `Start`/`Last`.
    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    pub fn saturating_add(self, d: std::time::Duration) -> Self {
        let nanos = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metric_json_uses_skydive_names() {
        let m = FlowMetric {
            ab_packets: 1,
            ab_bytes: 98,
            ba_packets: 2,
            ba_bytes: 196,
            start: 10,
            last: 20,
            rtt: 0,
        };
        let v = serde_json::to_value(m).unwrap();
        assert_eq!(
            v,
            json!({"ABPackets": 1, "ABBytes": 98, "BAPackets": 2, "BABytes": 196, "Start": 10, "Last": 20})
        );
        let with_rtt = FlowMetric { rtt: 5, ..m };
        assert_eq!(serde_json::to_value(with_rtt).unwrap()["RTT"], 5);
        let back: FlowMetric = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn timestamps_convert() {
        let t = Timestamp::from_secs_frac(1_700_000_000, 250_000, false);
        assert_eq!(t.as_millis(), 1_700_000_000_250);
        assert_eq!(Timestamp::from_millis(5).as_nanos(), 5_000_000);
        assert_eq!(Timestamp::from_nanos(-1).as_millis(), -1);
    }
}

//! Interface counters as Skydive's `InterfaceMetric` (`topology/metrics.go`): the 23 kernel
//! counters plus `Start`/`Last` (epoch ms). JSON keys are Skydive's; zero values are omitted,
//! as Skydive's `omitempty` does. `Metric` holds the cumulative values at `Last`;
//! `LastUpdateMetric` the difference since the previous poll, over `[Start, Last]`.

use netlink_packet_route::link::Stats64;
use serde::{Deserialize, Serialize};

fn is_zero(v: &i64) -> bool {
    *v == 0
}

macro_rules! interface_metric {
    ($($field:ident => $json:literal <- $stat:ident),* $(,)?) => {
        /// Skydive's `InterfaceMetric`.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct InterfaceMetric {
            $(
                #[serde(rename = $json, default, skip_serializing_if = "is_zero")]
                pub $field: i64,
            )*
            #[serde(rename = "Start", default, skip_serializing_if = "is_zero")]
            pub start: i64,
            #[serde(rename = "Last", default, skip_serializing_if = "is_zero")]
            pub last: i64,
        }

        impl InterfaceMetric {
            /// The counters of a link (`IFLA_STATS64`); times are left at zero.
            pub fn from_stats(s: &Stats64) -> Self {
                InterfaceMetric {
                    $($field: i64::try_from(s.$stat).unwrap_or(i64::MAX),)*
                    start: 0,
                    last: 0,
                }
            }

            /// `self - earlier`, counter by counter (a counter that went backwards, e.g. after
            /// a driver reset, gives its new value rather than a negative delta).
            pub fn delta(&self, earlier: &Self) -> Self {
                InterfaceMetric {
                    $($field: if self.$field >= earlier.$field { self.$field - earlier.$field } else { self.$field },)*
                    start: 0,
                    last: 0,
                }
            }

            /// Whether every counter is zero (times are ignored).
            pub fn is_zero(&self) -> bool {
                true $(&& self.$field == 0)*
            }
        }
    };
}

interface_metric! {
    collisions => "Collisions" <- collisions,
    multicast => "Multicast" <- multicast,
    rx_bytes => "RxBytes" <- rx_bytes,
    rx_compressed => "RxCompressed" <- rx_compressed,
    rx_crc_errors => "RxCrcErrors" <- rx_crc_errors,
    rx_dropped => "RxDropped" <- rx_dropped,
    rx_errors => "RxErrors" <- rx_errors,
    rx_fifo_errors => "RxFifoErrors" <- rx_fifo_errors,
    rx_frame_errors => "RxFrameErrors" <- rx_frame_errors,
    rx_length_errors => "RxLengthErrors" <- rx_length_errors,
    rx_missed_errors => "RxMissedErrors" <- rx_missed_errors,
    rx_over_errors => "RxOverErrors" <- rx_over_errors,
    rx_packets => "RxPackets" <- rx_packets,
    tx_aborted_errors => "TxAbortedErrors" <- tx_aborted_errors,
    tx_bytes => "TxBytes" <- tx_bytes,
    tx_carrier_errors => "TxCarrierErrors" <- tx_carrier_errors,
    tx_compressed => "TxCompressed" <- tx_compressed,
    tx_dropped => "TxDropped" <- tx_dropped,
    tx_errors => "TxErrors" <- tx_errors,
    tx_fifo_errors => "TxFifoErrors" <- tx_fifo_errors,
    tx_heartbeat_errors => "TxHeartbeatErrors" <- tx_heartbeat_errors,
    tx_packets => "TxPackets" <- tx_packets,
    tx_window_errors => "TxWindowErrors" <- tx_window_errors,
}

impl InterfaceMetric {
    pub fn at(mut self, start: i64, last: i64) -> Self {
        self.start = start;
        self.last = last;
        self
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_uses_skydive_names_and_omits_zeroes() {
        let mut s = Stats64::default();
        s.rx_packets = 10;
        s.tx_bytes = 1500;
        s.rx_dropped = 1;
        let m = InterfaceMetric::from_stats(&s).at(0, 1_700_000_000_000);
        assert_eq!(
            m.to_json(),
            json!({"RxPackets": 10, "TxBytes": 1500, "RxDropped": 1, "Last": 1_700_000_000_000_i64})
        );
        let back: InterfaceMetric = serde_json::from_value(m.to_json()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn delta_and_zero() {
        let a = InterfaceMetric {
            rx_packets: 10,
            tx_packets: 4,
            ..Default::default()
        };
        let b = InterfaceMetric {
            rx_packets: 15,
            tx_packets: 4,
            ..Default::default()
        };
        let d = b.delta(&a).at(1000, 2000);
        assert_eq!(
            d.to_json(),
            json!({"RxPackets": 5, "Start": 1000, "Last": 2000})
        );
        assert!(b.delta(&b).is_zero());
        assert!(!d.is_zero());
        let reset = InterfaceMetric {
            rx_packets: 2,
            ..Default::default()
        };
        assert_eq!(reset.delta(&b).rx_packets, 2);
    }
}

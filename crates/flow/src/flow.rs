//! The flow model: [`Flow`] and its layers, serialised exactly as Skydive's API shows them
//! (`flow/flow.proto` through Go's `encoding/json`): same field names, same order, same
//! omitted-when-empty fields, protocol and ICMP type enums as their names, `FinishType` as
//! its number.
//!
//! A `Flow` is the owned, allocated record that leaves the table (updates, expiries, live
//! queries); the table's per-packet path never touches one.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

use crate::layers::IcmpVersion;
use crate::metric::FlowMetric;

/// One conversation at one capture point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// Unique per capture point: hash of the flow key (parent UUID included), `Start` and
    /// `NodeTID`, as 16 lowercase hex digits at most.
    #[serde(rename = "UUID", default, skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    /// Decoded layer names joined by `/`, e.g. `Ethernet/IPv4/UDP/VXLAN`.
    #[serde(
        rename = "LayersPath",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub layers_path: String,
    /// The last layer of `LayersPath`.
    #[serde(
        rename = "Application",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub application: String,
    #[serde(rename = "Link", default, skip_serializing_if = "Option::is_none")]
    pub link: Option<FlowLayer>,
    #[serde(rename = "Network", default, skip_serializing_if = "Option::is_none")]
    pub network: Option<FlowLayer>,
    #[serde(rename = "Transport", default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportLayer>,
    #[serde(rename = "ICMP", default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpLayer>,
    /// Counters since the previous update the table emitted (absent until the first one).
    #[serde(
        rename = "LastUpdateMetric",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_update_metric: Option<FlowMetric>,
    /// Counters over the flow's whole life.
    #[serde(rename = "Metric", default)]
    pub metric: FlowMetric,
    /// First packet, epoch ms.
    #[serde(rename = "Start", default)]
    pub start: i64,
    /// Last packet, epoch ms.
    #[serde(rename = "Last", default)]
    pub last: i64,
    /// Same for the same conversation on every interface of every host (see `docs/flows.md`).
    #[serde(
        rename = "TrackingID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub tracking_id: String,
    /// Like `TrackingID` without the MAC addresses: survives routing.
    #[serde(
        rename = "L3TrackingID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub l3_tracking_id: String,
    /// UUID of the enclosing tunnel's flow; empty for an outermost flow.
    #[serde(rename = "ParentUUID", default)]
    pub parent_uuid: String,
    /// TID of the graph node the capture runs on.
    #[serde(rename = "NodeTID", default, skip_serializing_if = "String::is_empty")]
    pub node_tid: String,
    #[serde(
        rename = "CaptureID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub capture_id: String,
    /// Raw packets kept with the flow (always 0: raw packet capture is not implemented).
    #[serde(rename = "RawPacketsCaptured", default)]
    pub raw_packets_captured: i64,
    #[serde(
        rename = "FinishType",
        default,
        skip_serializing_if = "FinishType::is_not_finished"
    )]
    pub finish_type: FinishType,
    /// sFlow: the exporter samples 1 packet in `SamplingRate` (the last rate seen for this
    /// flow); `Metric` counts samples, so multiply to estimate traffic. Absent (0) for
    /// unsampled captures. Not in Skydive's model: clients that do not know it ignore it.
    #[serde(rename = "SamplingRate", default, skip_serializing_if = "is_zero_u32")]
    pub sampling_rate: u32,
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// `Link` and `Network`: MAC or IP addresses as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowLayer {
    #[serde(rename = "Protocol")]
    pub protocol: FlowProtocol,
    #[serde(rename = "A", default, skip_serializing_if = "String::is_empty")]
    pub a: String,
    #[serde(rename = "B", default, skip_serializing_if = "String::is_empty")]
    pub b: String,
    /// `Link`: stacked VLAN ids, outermost in the low 12 bits. `Network`: the VXLAN/Geneve
    /// VNI or GRE key of the tunnel this flow's packets carry.
    #[serde(rename = "ID", default)]
    pub id: i64,
}

/// `Transport`: ports as numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportLayer {
    #[serde(rename = "Protocol")]
    pub protocol: FlowProtocol,
    #[serde(rename = "A", default)]
    pub a: i64,
    #[serde(rename = "B", default)]
    pub b: i64,
    #[serde(rename = "ID", default)]
    pub id: i64,
}

/// `ICMP`: the message kind (request and reply share one), code and query identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcmpLayer {
    #[serde(rename = "Type")]
    pub icmp_type: IcmpType,
    #[serde(rename = "Code", default, skip_serializing_if = "is_zero_u32")]
    pub code: u32,
    #[serde(rename = "ID", default, skip_serializing_if = "is_zero_u32")]
    pub id: u32,
}

/// Defines a Skydive enum serialised by name, with its numeric value.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $num:literal => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            #[default]
            $($variant = $num,)*
        }

        impl $name {
            /// Skydive's name.
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// Parses Skydive's name.
            pub fn from_name(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }

            /// Skydive's protobuf number.
            pub const fn number(self) -> i32 {
                self as i32
            }

            /// From the protobuf number.
            pub fn from_number(n: i64) -> Option<Self> {
                match n { $($num => Some($name::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

// `#[default]` lands on the first variant.
named_enum! {
    /// Skydive's `FlowProtocol`.
    FlowProtocol {
        Ethernet = 0 => "ETHERNET",
        Ipv4 = 1 => "IPV4",
        Tcp = 2 => "TCP",
        Udp = 3 => "UDP",
        Sctp = 4 => "SCTP",
        Ipv6 = 5 => "IPV6",
        Icmpv4 = 6 => "ICMPV4",
        Icmpv6 = 7 => "ICMPV6",
    }
}

named_enum! {
    /// Skydive's `ICMPType`: request and reply of one exchange map to one kind.
    IcmpType {
        Unknown = 0 => "UNKNOWN",
        DestinationUnreachable = 1 => "DESTINATION_UNREACHABLE",
        Echo = 2 => "ECHO",
        Neighbor = 3 => "NEIGHBOR",
        AddressMask = 4 => "ADDRESS_MASK",
        Info = 5 => "INFO",
        ParameterProblem = 6 => "PARAMETER_PROBLEM",
        Redirect = 7 => "REDIRECT",
        Router = 8 => "ROUTER",
        SourceQuench = 9 => "SOURCE_QUENCH",
        TimeExceeded = 10 => "TIME_EXCEEDED",
        Timestamp = 11 => "TIMESTAMP",
        PacketTooBig = 12 => "PACKET_TOO_BIG",
    }
}

named_enum! {
    /// Skydive's `FlowFinishType`: why a flow ended.
    FinishType {
        NotFinished = 0 => "NOT_FINISHED",
        Timeout = 1 => "TIMEOUT",
        TcpFin = 2 => "TCP_FIN",
        TcpRst = 3 => "TCP_RST",
    }
}

impl FinishType {
    pub fn is_not_finished(&self) -> bool {
        *self == FinishType::NotFinished
    }
}

impl IcmpType {
    /// Skydive's `ICMPv4TypeToFlowICMPType` / `ICMPv6TypeToFlowICMPType`.
    pub fn from_raw(version: IcmpVersion, raw: u8) -> IcmpType {
        match version {
            IcmpVersion::V4 => match raw {
                0 | 8 => IcmpType::Echo,
                17 | 18 => IcmpType::AddressMask,
                3 => IcmpType::DestinationUnreachable,
                15 | 16 => IcmpType::Info,
                12 => IcmpType::ParameterProblem,
                5 => IcmpType::Redirect,
                9 | 10 => IcmpType::Router,
                4 => IcmpType::SourceQuench,
                11 => IcmpType::TimeExceeded,
                13 | 14 => IcmpType::Timestamp,
                _ => IcmpType::Unknown,
            },
            IcmpVersion::V6 => match raw {
                128 | 129 => IcmpType::Echo,
                135 | 136 => IcmpType::Neighbor,
                1 => IcmpType::DestinationUnreachable,
                2 => IcmpType::PacketTooBig,
                4 => IcmpType::ParameterProblem,
                137 => IcmpType::Redirect,
                133 | 134 => IcmpType::Router,
                3 => IcmpType::TimeExceeded,
                _ => IcmpType::Unknown,
            },
        }
    }
}

/// Serialises a named enum as its name (Skydive's `MarshalJSON` on these types).
macro_rules! serde_by_name {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(EnumVisitor::<$name>::new(
                    stringify!($name),
                    $name::from_name,
                    $name::from_number,
                ))
            }
        }
    };
}

serde_by_name!(FlowProtocol);
serde_by_name!(IcmpType);

/// `FinishType` has no `MarshalJSON` in Skydive, so its API shows the number (omitted when
/// `NOT_FINISHED`). Both the number and the name are accepted when reading.
impl Serialize for FinishType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(self.number())
    }
}

impl<'de> Deserialize<'de> for FinishType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EnumVisitor::<FinishType>::new(
            "FinishType",
            FinishType::from_name,
            FinishType::from_number,
        ))
    }
}

/// Reads a named enum from its name or its number.
struct EnumVisitor<T> {
    what: &'static str,
    by_name: fn(&str) -> Option<T>,
    by_number: fn(i64) -> Option<T>,
}

impl<T> EnumVisitor<T> {
    fn new(
        what: &'static str,
        by_name: fn(&str) -> Option<T>,
        by_number: fn(i64) -> Option<T>,
    ) -> Self {
        EnumVisitor {
            what,
            by_name,
            by_number,
        }
    }
}

impl<T> Visitor<'_> for EnumVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} name or number", self.what)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.by_name)(v).ok_or_else(|| E::custom(format!("unknown {} `{v}`", self.what)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        (self.by_number)(v).ok_or_else(|| E::custom(format!("unknown {} number {v}", self.what)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_i64(i64::try_from(v).unwrap_or(-1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enums_use_skydive_names() {
        assert_eq!(
            serde_json::to_value(FlowProtocol::Ipv6).unwrap(),
            json!("IPV6")
        );
        assert_eq!(
            serde_json::to_value(IcmpType::DestinationUnreachable).unwrap(),
            json!("DESTINATION_UNREACHABLE")
        );
        assert_eq!(serde_json::to_value(FinishType::TcpRst).unwrap(), json!(3));
        let p: FlowProtocol = serde_json::from_value(json!("SCTP")).unwrap();
        assert_eq!(p, FlowProtocol::Sctp);
        let f: FinishType = serde_json::from_value(json!("TCP_FIN")).unwrap();
        assert_eq!(f, FinishType::TcpFin);
        let f: FinishType = serde_json::from_value(json!(1)).unwrap();
        assert_eq!(f, FinishType::Timeout);
        let err = serde_json::from_value::<FlowProtocol>(json!("TCPX")).unwrap_err();
        assert!(
            err.to_string().contains("unknown FlowProtocol `TCPX`"),
            "{err}"
        );
    }

    #[test]
    fn icmp_types_map_like_skydive() {
        assert_eq!(IcmpType::from_raw(IcmpVersion::V4, 8), IcmpType::Echo);
        assert_eq!(IcmpType::from_raw(IcmpVersion::V4, 0), IcmpType::Echo);
        assert_eq!(
            IcmpType::from_raw(IcmpVersion::V4, 11),
            IcmpType::TimeExceeded
        );
        assert_eq!(IcmpType::from_raw(IcmpVersion::V6, 129), IcmpType::Echo);
        assert_eq!(
            IcmpType::from_raw(IcmpVersion::V6, 2),
            IcmpType::PacketTooBig
        );
        assert_eq!(IcmpType::from_raw(IcmpVersion::V6, 136), IcmpType::Neighbor);
        assert_eq!(IcmpType::from_raw(IcmpVersion::V6, 200), IcmpType::Unknown);
    }

    #[test]
    fn empty_fields_are_omitted_like_skydive() {
        let v = serde_json::to_value(Flow::default()).unwrap();
        assert_eq!(
            v,
            json!({
                "Metric": {"ABPackets": 0, "ABBytes": 0, "BAPackets": 0, "BABytes": 0, "Start": 0, "Last": 0},
                "Start": 0, "Last": 0, "ParentUUID": "", "RawPacketsCaptured": 0
            })
        );
    }
}

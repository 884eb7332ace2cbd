//! A flow's fields by their dotted JSON names (`Network.A`, `Metric.ABBytes`, `FinishType`):
//! what filters (Gremlin `Has` on flows, `/rpc/flows?key=value`), sorts and projections read.
//!
//! [`Flow::field`] borrows; nothing is formatted or allocated. A field is present exactly when
//! the flow's JSON has it: `ICMP.Code` is absent when 0, `Link.A` when the flow has no
//! Ethernet layer, `ParentUUID` is always there (possibly `""`). [`FIELD_KEYS`] lists every
//! leaf key in JSON order.

use std::borrow::Cow;

use serde_json::Value;

use crate::flow::{Flow, FlowLayer};
use crate::metric::FlowMetric;

/// One field of a flow, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRef<'a> {
    Str(&'a str),
    Int(i64),
    /// An enumeration the JSON shows as its number (`FinishType`); filters may use either
    /// the number or the name (`TCP_FIN`).
    Enum {
        name: &'static str,
        number: i64,
    },
}

impl FieldRef<'_> {
    /// The value as the flow's JSON shows it.
    pub fn to_json(self) -> Value {
        match self {
            FieldRef::Str(s) => Value::String(s.to_owned()),
            FieldRef::Int(i) | FieldRef::Enum { number: i, .. } => Value::from(i),
        }
    }

    /// The value as text: strings as they are, numbers in decimal, enumerations by name.
    pub fn to_text(self) -> Cow<'static, str> {
        match self {
            FieldRef::Str(s) => Cow::Owned(s.to_owned()),
            FieldRef::Int(i) => Cow::Owned(i.to_string()),
            FieldRef::Enum { name, .. } => Cow::Borrowed(name),
        }
    }

    /// Whether the value equals `text`: a string exactly, a number by its decimal form, an
    /// enumeration by name or number. What `/rpc/flows?key=value` compares.
    pub fn matches_text(self, text: &str) -> bool {
        match self {
            FieldRef::Str(s) => s == text,
            FieldRef::Int(i) => text.trim().parse::<i64>() == Ok(i),
            FieldRef::Enum { name, number } => {
                name == text || text.trim().parse::<i64>() == Ok(number)
            }
        }
    }
}

/// Every leaf key of a flow, in the order its JSON shows them.
pub const FIELD_KEYS: &[&str] = &[
    "UUID",
    "LayersPath",
    "Application",
    "Link.Protocol",
    "Link.A",
    "Link.B",
    "Link.ID",
    "Network.Protocol",
    "Network.A",
    "Network.B",
    "Network.ID",
    "Transport.Protocol",
    "Transport.A",
    "Transport.B",
    "Transport.ID",
    "ICMP.Type",
    "ICMP.Code",
    "ICMP.ID",
    "LastUpdateMetric.ABPackets",
    "LastUpdateMetric.ABBytes",
    "LastUpdateMetric.BAPackets",
    "LastUpdateMetric.BABytes",
    "LastUpdateMetric.Start",
    "LastUpdateMetric.Last",
    "LastUpdateMetric.RTT",
    "Metric.ABPackets",
    "Metric.ABBytes",
    "Metric.BAPackets",
    "Metric.BABytes",
    "Metric.Start",
    "Metric.Last",
    "Metric.RTT",
    "Start",
    "Last",
    "TrackingID",
    "L3TrackingID",
    "ParentUUID",
    "NodeTID",
    "CaptureID",
    "RawPacketsCaptured",
    "FinishType",
    "SamplingRate",
];

fn non_empty(s: &str) -> Option<FieldRef<'_>> {
    (!s.is_empty()).then_some(FieldRef::Str(s))
}

fn non_zero(i: i64) -> Option<FieldRef<'static>> {
    (i != 0).then_some(FieldRef::Int(i))
}

fn layer_field<'a>(l: &'a FlowLayer, key: &str) -> Option<FieldRef<'a>> {
    match key {
        "Protocol" => Some(FieldRef::Str(l.protocol.name())),
        "A" => non_empty(&l.a),
        "B" => non_empty(&l.b),
        "ID" => Some(FieldRef::Int(l.id)),
        _ => None,
    }
}

fn metric_field(m: &FlowMetric, key: &str) -> Option<FieldRef<'static>> {
    Some(FieldRef::Int(match key {
        "ABPackets" => m.ab_packets,
        "ABBytes" => m.ab_bytes,
        "BAPackets" => m.ba_packets,
        "BABytes" => m.ba_bytes,
        "Start" => m.start,
        "Last" => m.last,
        "RTT" => return non_zero(m.rtt),
        _ => return None,
    }))
}

impl Flow {
    /// The leaf field named `key` (`Network.A`, `Metric.ABBytes`, `TrackingID`), if the
    /// flow's JSON has it. Objects (`Network`, `Metric`) are not leaves: `None`.
    pub fn field(&self, key: &str) -> Option<FieldRef<'_>> {
        let (head, tail) = match key.split_once('.') {
            Some((h, t)) => (h, Some(t)),
            None => (key, None),
        };
        match (head, tail) {
            ("Link", Some(t)) => layer_field(self.link.as_ref()?, t),
            ("Network", Some(t)) => layer_field(self.network.as_ref()?, t),
            ("Transport", Some(t)) => {
                let l = self.transport.as_ref()?;
                match t {
                    "Protocol" => Some(FieldRef::Str(l.protocol.name())),
                    "A" => Some(FieldRef::Int(l.a)),
                    "B" => Some(FieldRef::Int(l.b)),
                    "ID" => Some(FieldRef::Int(l.id)),
                    _ => None,
                }
            }
            ("ICMP", Some(t)) => {
                let i = self.icmp.as_ref()?;
                match t {
                    "Type" => Some(FieldRef::Str(i.icmp_type.name())),
                    "Code" => non_zero(i64::from(i.code)),
                    "ID" => non_zero(i64::from(i.id)),
                    _ => None,
                }
            }
            ("Metric", Some(t)) => metric_field(&self.metric, t),
            ("LastUpdateMetric", Some(t)) => metric_field(self.last_update_metric.as_ref()?, t),
            (_, Some(_)) => None,
            ("UUID", None) => non_empty(&self.uuid),
            ("LayersPath", None) => non_empty(&self.layers_path),
            ("Application", None) => non_empty(&self.application),
            ("Start", None) => Some(FieldRef::Int(self.start)),
            ("Last", None) => Some(FieldRef::Int(self.last)),
            ("TrackingID", None) => non_empty(&self.tracking_id),
            ("L3TrackingID", None) => non_empty(&self.l3_tracking_id),
            ("ParentUUID", None) => Some(FieldRef::Str(&self.parent_uuid)),
            ("NodeTID", None) => non_empty(&self.node_tid),
            ("CaptureID", None) => non_empty(&self.capture_id),
            ("RawPacketsCaptured", None) => Some(FieldRef::Int(self.raw_packets_captured)),
            ("FinishType", None) => (!self.finish_type.is_not_finished()).then(|| FieldRef::Enum {
                name: self.finish_type.name(),
                number: i64::from(self.finish_type.number()),
            }),
            ("SamplingRate", None) => non_zero(i64::from(self.sampling_rate)),
            _ => None,
        }
    }

    /// The value at `key` as the flow's JSON shows it, objects included (`Network`,
    /// `Metric`): what `Values('Network')` projects.
    pub fn field_json(&self, key: &str) -> Option<Value> {
        if let Some(f) = self.field(key) {
            return Some(f.to_json());
        }
        let object = match key {
            "Link" => serde_json::to_value(self.link.as_ref()?),
            "Network" => serde_json::to_value(self.network.as_ref()?),
            "Transport" => serde_json::to_value(self.transport.as_ref()?),
            "ICMP" => serde_json::to_value(self.icmp.as_ref()?),
            "Metric" => serde_json::to_value(self.metric),
            "LastUpdateMetric" => serde_json::to_value(self.last_update_metric.as_ref()?),
            _ => return None,
        };
        object.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{FinishType, FlowProtocol, IcmpLayer, IcmpType, TransportLayer};
    use serde_json::json;

    fn flow() -> Flow {
        Flow {
            uuid: "u1".into(),
            layers_path: "Ethernet/IPv4/TCP".into(),
            application: "TCP".into(),
            link: Some(FlowLayer {
                protocol: FlowProtocol::Ethernet,
                a: "02:00:00:00:00:01".into(),
                b: "02:00:00:00:00:02".into(),
                id: 0,
            }),
            network: Some(FlowLayer {
                protocol: FlowProtocol::Ipv4,
                a: "10.0.0.1".into(),
                b: "10.0.0.2".into(),
                id: 0,
            }),
            transport: Some(TransportLayer {
                protocol: FlowProtocol::Tcp,
                a: 43210,
                b: 80,
                id: 0,
            }),
            metric: FlowMetric {
                ab_packets: 3,
                ab_bytes: 300,
                ..FlowMetric::default()
            },
            tracking_id: "t1".into(),
            finish_type: FinishType::TcpFin,
            ..Flow::default()
        }
    }

    #[test]
    fn every_leaf_key_reads_like_the_json() {
        let mut f = flow();
        f.icmp = Some(IcmpLayer {
            icmp_type: IcmpType::Echo,
            code: 1,
            id: 7,
        });
        f.last_update_metric = Some(FlowMetric {
            rtt: 5,
            ..FlowMetric::default()
        });
        f.node_tid = "n".into();
        f.capture_id = "c".into();
        f.l3_tracking_id = "l3".into();
        f.sampling_rate = 2;
        f.metric.rtt = 9;
        let json = serde_json::to_value(&f).unwrap();
        for key in FIELD_KEYS {
            let mut cur = &json;
            for part in key.split('.') {
                cur = &cur[part];
            }
            let field = f.field(key).unwrap_or_else(|| panic!("{key} absent"));
            assert_eq!(&field.to_json(), cur, "{key}");
        }
    }

    #[test]
    fn absent_when_the_json_omits_it() {
        let f = flow();
        assert_eq!(f.field("ICMP.Type"), None);
        assert_eq!(f.field("Metric.RTT"), None);
        assert_eq!(f.field("LastUpdateMetric.ABBytes"), None);
        assert_eq!(f.field("NodeTID"), None);
        assert_eq!(f.field("ParentUUID"), Some(FieldRef::Str("")));
        assert_eq!(f.field("Network"), None, "objects are not leaves");
        assert_eq!(f.field("Nope.A"), None);
        assert_eq!(
            f.field("FinishType"),
            Some(FieldRef::Enum {
                name: "TCP_FIN",
                number: 2
            })
        );
    }

    #[test]
    fn text_matching() {
        let f = flow();
        assert!(f.field("Transport.B").unwrap().matches_text("80"));
        assert!(f.field("FinishType").unwrap().matches_text("TCP_FIN"));
        assert!(f.field("FinishType").unwrap().matches_text("2"));
        assert!(f.field("Network.A").unwrap().matches_text("10.0.0.1"));
        assert!(!f.field("Network.A").unwrap().matches_text("10.0.0.2"));
        assert_eq!(f.field("FinishType").unwrap().to_text(), "TCP_FIN");
    }

    #[test]
    fn objects_project_as_json() {
        let f = flow();
        assert_eq!(
            f.field_json("Network"),
            Some(json!({"Protocol": "IPV4", "A": "10.0.0.1", "B": "10.0.0.2", "ID": 0}))
        );
        assert_eq!(
            f.field_json("Metric")
                .and_then(|m| m.get("ABBytes").cloned()),
            Some(json!(300))
        );
        assert_eq!(f.field_json("ICMP"), None);
        assert_eq!(f.field_json("Transport.B"), Some(json!(80)));
    }
}

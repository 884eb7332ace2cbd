//! [`FlowUpdate`]: a flow's state as the table keeps and emits it. Fixed-size, `Copy`, no
//! heap: addresses are bytes, ids are integers, the layer path is an array of kinds. It
//! becomes the owned, string-laden [`Flow`] of the API only when someone needs the JSON
//! ([`FlowUpdate::to_flow`]), typically the thread that sends flows to the analyzer, so the
//! capture thread never allocates for a flow, neither on a miss nor on an update.

use std::net::IpAddr;

use crate::flow::{FinishType, Flow, FlowLayer, FlowProtocol, IcmpLayer, IcmpType, TransportLayer};
use crate::layers::{LayerPath, TransportKind};
use crate::metric::FlowMetric;
use crate::table::CaptureIds;

/// `Link`: MACs of A and B, stacked VLAN ids (outermost in the low 12 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    pub a: [u8; 6],
    pub b: [u8; 6],
    pub vlan_id: u64,
}

/// `Network`: addresses of A and B, and the tunnel id (VNI, GRE key) of this flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkInfo {
    pub a: IpAddr,
    pub b: IpAddr,
    pub id: u32,
}

/// `Transport`: ports of A and B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportInfo {
    pub kind: TransportKind,
    pub a: u16,
    pub b: u16,
}

/// `ICMP`: message kind, code and query identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpInfo {
    pub icmp_type: IcmpType,
    pub code: u8,
    pub id: u16,
}

/// A flow's identity and counters at one moment. Field meanings are [`Flow`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowUpdate {
    pub uuid: u64,
    /// 0 for an outermost flow.
    pub parent_uuid: u64,
    pub tracking_id: u64,
    pub l3_tracking_id: u64,
    pub layers: LayerPath,
    pub link: Option<LinkInfo>,
    pub network: Option<NetworkInfo>,
    pub transport: Option<TransportInfo>,
    pub icmp: Option<IcmpInfo>,
    /// Whole-life counters; `metric.start`/`metric.last` are the flow's `Start`/`Last`.
    pub metric: FlowMetric,
    pub last_update_metric: Option<FlowMetric>,
    pub finish_type: FinishType,
    /// 0 when not sampled.
    pub sampling_rate: u32,
}

impl FlowUpdate {
    /// The API's [`Flow`]: formats addresses and ids (this is where the strings are made).
    pub fn to_flow(&self, ids: &CaptureIds) -> Flow {
        Flow {
            uuid: format!("{:x}", self.uuid),
            layers_path: self.layers.to_string(),
            application: self
                .layers
                .last()
                .map(|k| k.name().to_owned())
                .unwrap_or_default(),
            link: self.link.map(|l| FlowLayer {
                protocol: FlowProtocol::Ethernet,
                a: mac_string(&l.a),
                b: mac_string(&l.b),
                id: l.vlan_id as i64,
            }),
            network: self.network.map(|n| FlowLayer {
                protocol: match n.a {
                    IpAddr::V4(_) => FlowProtocol::Ipv4,
                    IpAddr::V6(_) => FlowProtocol::Ipv6,
                },
                a: n.a.to_string(),
                b: n.b.to_string(),
                id: i64::from(n.id),
            }),
            transport: self.transport.map(|t| TransportLayer {
                protocol: match t.kind {
                    TransportKind::Tcp => FlowProtocol::Tcp,
                    TransportKind::Udp => FlowProtocol::Udp,
                    TransportKind::Sctp => FlowProtocol::Sctp,
                },
                a: i64::from(t.a),
                b: i64::from(t.b),
                id: 0,
            }),
            icmp: self.icmp.map(|i| IcmpLayer {
                icmp_type: i.icmp_type,
                code: u32::from(i.code),
                id: u32::from(i.id),
            }),
            last_update_metric: self.last_update_metric,
            metric: self.metric,
            start: self.metric.start,
            last: self.metric.last,
            tracking_id: format!("{:x}", self.tracking_id),
            l3_tracking_id: format!("{:x}", self.l3_tracking_id),
            parent_uuid: match self.parent_uuid {
                0 => String::new(),
                p => format!("{p:x}"),
            },
            node_tid: ids.node_tid.clone(),
            capture_id: ids.capture_id.clone(),
            raw_packets_captured: 0,
            finish_type: self.finish_type,
            sampling_rate: self.sampling_rate,
        }
    }
}

/// `aa:bb:cc:dd:ee:ff`, as Go's `net.HardwareAddr.String()`.
fn mac_string(mac: &[u8; 6]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_print_like_go() {
        assert_eq!(
            mac_string(&[0x02, 0x42, 0xac, 0x11, 0, 0xff]),
            "02:42:ac:11:00:ff"
        );
    }

    #[test]
    fn updates_are_plain_data() {
        fn is_copy<T: Copy + Send + Sync>() {}
        is_copy::<FlowUpdate>();
        assert!(std::mem::size_of::<FlowUpdate>() <= 320);
    }
}

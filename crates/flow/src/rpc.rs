//! Skydive v0.2's flow routes, as pure functions over flows (the server mounts them):
//!
//! - `GET /rpc/flows?<key>=<value>…` → [`search_flows`]: the flows whose dotted fields equal
//!   the values (all of them), newest first, at most [`RPC_FLOWS_LIMIT`] (v0.2 asked its
//!   store for the 5 latest). The answer is a JSON array of flows.
//! - `GET /rpc/conversation/{ethernet|ipv4|ipv6|tcp|udp|sctp}` → [`conversation`]: who talks
//!   to whom at one layer, as the d3 matrix v0.2's conversation view drew:
//!
//! ```json
//! {"nodes": [{"name": "10.0.0.1", "group": 0}, {"name": "10.0.0.2", "group": 0}],
//!  "links": [{"source": 0, "target": 1, "value": 1960}]}
//! ```
//!
//! A node is an endpoint of the layer (a MAC, an IP address, a port number as text), its
//! `group` the index of the first `LayersPath` it was seen with; a link joins the two ends of
//! the flows between them (either direction), `source`/`target` index `nodes`, `value` is
//! their bytes (`Metric.ABBytes + Metric.BABytes`, summed over those flows).
//!
//! Both accept any iterator of flows (`&Flow`, `Arc<Flow>`, …) and never fail: an unknown
//! key matches nothing, a flow without the layer is left out.

use std::borrow::Borrow;
use std::collections::HashMap;

use serde::Serialize;

use crate::flow::{Flow, FlowProtocol};

/// How many flows `/rpc/flows` answers at most (v0.2's store query size).
pub const RPC_FLOWS_LIMIT: usize = 5;

/// The flows matching every `key = value` pair (dotted flow keys such as `Network.A`,
/// `Transport.B`, `NodeTID`; `Link`, `Network` and `Transport` alone match either end),
/// newest (`Last`) first, at most `limit`. Values compare as text: `Transport.B=80`,
/// `FinishType=TCP_FIN` or `FinishType=2`.
pub fn search_flows<I, K, V>(flows: I, params: &[(K, V)], limit: usize) -> Vec<I::Item>
where
    I: IntoIterator,
    I::Item: Borrow<Flow>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut found: Vec<I::Item> = flows
        .into_iter()
        .filter(|f| {
            params
                .iter()
                .all(|(k, v)| matches(f.borrow(), k.as_ref(), v.as_ref()))
        })
        .collect();
    found.sort_by(|a, b| {
        let (a, b) = (a.borrow(), b.borrow());
        b.last.cmp(&a.last).then_with(|| a.uuid.cmp(&b.uuid))
    });
    found.truncate(limit);
    found
}

fn matches(flow: &Flow, key: &str, value: &str) -> bool {
    let either = |a: &str, b: &str| {
        [a, b]
            .iter()
            .any(|k| flow.field(k).is_some_and(|f| f.matches_text(value)))
    };
    match key {
        "Link" => either("Link.A", "Link.B"),
        "Network" => either("Network.A", "Network.B"),
        "Transport" => either("Transport.A", "Transport.B"),
        _ => flow.field(key).is_some_and(|f| f.matches_text(value)),
    }
}

/// The layer of a conversation matrix: the last segment of `/rpc/conversation/{layer}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationLayer {
    Ethernet,
    Ipv4,
    /// Not in v0.2, which predates IPv6 flows.
    Ipv6,
    Tcp,
    Udp,
    Sctp,
}

impl ConversationLayer {
    /// From the route's word, in any case (`ethernet`, `ipv4`, `ipv6`, `tcp`, `udp`, `sctp`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "ethernet" => ConversationLayer::Ethernet,
            "ipv4" => ConversationLayer::Ipv4,
            "ipv6" => ConversationLayer::Ipv6,
            "tcp" => ConversationLayer::Tcp,
            "udp" => ConversationLayer::Udp,
            "sctp" => ConversationLayer::Sctp,
            _ => return None,
        })
    }

    /// The flow's two ends at this layer, if it has the layer.
    fn ends(self, f: &Flow) -> Option<(String, String)> {
        let network = |p: FlowProtocol| {
            let n = f.network.as_ref().filter(|n| n.protocol == p)?;
            Some((n.a.clone(), n.b.clone()))
        };
        let transport = |p: FlowProtocol| {
            let t = f.transport.as_ref().filter(|t| t.protocol == p)?;
            Some((t.a.to_string(), t.b.to_string()))
        };
        match self {
            ConversationLayer::Ethernet => {
                let l = f.link.as_ref()?;
                Some((l.a.clone(), l.b.clone()))
            }
            ConversationLayer::Ipv4 => network(FlowProtocol::Ipv4),
            ConversationLayer::Ipv6 => network(FlowProtocol::Ipv6),
            ConversationLayer::Tcp => transport(FlowProtocol::Tcp),
            ConversationLayer::Udp => transport(FlowProtocol::Udp),
            ConversationLayer::Sctp => transport(FlowProtocol::Sctp),
        }
    }
}

/// The d3 matrix of `/rpc/conversation/{layer}` (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Conversation {
    pub nodes: Vec<ConversationNode>,
    pub links: Vec<ConversationLink>,
}

/// An endpoint: its address (or port) and the index of its first `LayersPath`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConversationNode {
    pub name: String,
    pub group: usize,
}

/// The traffic between two endpoints: indexes into `nodes`, and bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConversationLink {
    pub source: usize,
    pub target: usize,
    pub value: i64,
}

/// Who talks to whom at `layer` among `flows`. Flows are taken in (`Start`, `UUID`) order,
/// so the answer does not depend on the order they are given in.
pub fn conversation<I>(flows: I, layer: ConversationLayer) -> Conversation
where
    I: IntoIterator,
    I::Item: Borrow<Flow>,
{
    let mut flows: Vec<I::Item> = flows.into_iter().collect();
    flows.sort_by(|a, b| {
        let (a, b) = (a.borrow(), b.borrow());
        (a.start, &a.uuid).cmp(&(b.start, &b.uuid))
    });
    let mut out = Conversation::default();
    let mut groups: HashMap<String, usize> = HashMap::new();
    let mut nodes: HashMap<String, usize> = HashMap::new();
    let mut links: HashMap<(usize, usize), usize> = HashMap::new();
    for f in &flows {
        let f = f.borrow();
        let Some((a, b)) = layer.ends(f) else {
            continue;
        };
        let next_group = groups.len();
        let group = *groups.entry(f.layers_path.clone()).or_insert(next_group);
        let mut node = |name: String| {
            *nodes.entry(name.clone()).or_insert_with(|| {
                out.nodes.push(ConversationNode { name, group });
                out.nodes.len() - 1
            })
        };
        let (ia, ib) = (node(a), node(b));
        let bytes = f.metric.ab_bytes.saturating_add(f.metric.ba_bytes);
        let pair = (ia.min(ib), ia.max(ib));
        match links.get(&pair) {
            Some(&i) => {
                let link = &mut out.links[i];
                link.value = link.value.saturating_add(bytes);
            }
            None => {
                links.insert(pair, out.links.len());
                out.links.push(ConversationLink {
                    source: ia,
                    target: ib,
                    value: bytes,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        CaptureIds, FinishType, FlowTable, FrameBuilder, LinkType, TableConfig, Timestamp,
        tcp_flags,
    };
    use serde_json::json;

    const T0: i64 = 1_700_000_000_000;
    const MAC: [[u8; 6]; 3] = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 3]];
    const IP: [[u8; 4]; 3] = [[10, 0, 0, 1], [10, 0, 0, 2], [10, 0, 0, 3]];

    /// Real flows: 1→2 TCP (3 frames), 2→1 TCP on another port, 1→3 UDP, 1→2 ping.
    fn flows() -> Vec<Flow> {
        let ids = CaptureIds {
            node_tid: "tid-1".into(),
            capture_id: "cap".into(),
        };
        let mut t = FlowTable::new(TableConfig::default(), ids);
        let mut at = 0;
        let mut send = |f: Vec<u8>| {
            at += 1;
            let ts = Timestamp::from_millis(T0 + at);
            t.process_frame(&f, f.len() as u32, LinkType::Ethernet, ts)
                .unwrap();
        };
        let eth = |a: usize, b: usize| FrameBuilder::new().ethernet(MAC[a], MAC[b]);
        for _ in 0..3 {
            send(
                eth(0, 1)
                    .ipv4(IP[0], IP[1])
                    .tcp(40000, 80, tcp_flags::ACK)
                    .build(),
            );
        }
        send(
            eth(1, 0)
                .ipv4(IP[1], IP[0])
                .tcp(40001, 22, tcp_flags::ACK)
                .build(),
        );
        send(eth(0, 2).ipv4(IP[0], IP[2]).udp(5353, 53).build());
        send(
            eth(0, 1)
                .ipv4(IP[0], IP[1])
                .icmpv4_echo_request(1, 1)
                .build(),
        );
        t.tick(Timestamp::from_millis(T0 + 2_500));
        let mut out = Vec::new();
        t.drain_flows(&mut out);
        assert_eq!(out.len(), 4);
        out
    }

    #[test]
    fn rpc_flows_filters_on_dotted_keys_newest_first() {
        let fl = flows();
        let q = |p: &[(&str, &str)]| -> Vec<String> {
            search_flows(&fl, p, RPC_FLOWS_LIMIT)
                .into_iter()
                .map(|f| f.application.clone())
                .collect()
        };
        assert_eq!(q(&[("Network", "10.0.0.3")]), ["UDP"]);
        assert_eq!(
            q(&[("Network.A", "10.0.0.1"), ("Transport.B", "80")]),
            ["TCP"]
        );
        assert_eq!(q(&[("Application", "ICMPv4")]), ["ICMPv4"]);
        assert_eq!(q(&[("Nope", "x")]), Vec::<String>::new());
        // Newest first: the ping was the last frame.
        assert_eq!(q(&[("NodeTID", "tid-1")]), ["ICMPv4", "UDP", "TCP", "TCP"]);
        assert_eq!(search_flows(&fl, &[("NodeTID", "tid-1")], 2).len(), 2);
        let mut fin = fl[0].clone();
        fin.finish_type = FinishType::TcpFin;
        assert_eq!(
            search_flows([&fin], &[("FinishType", "TCP_FIN")], 5).len(),
            1
        );
        assert_eq!(search_flows([&fin], &[("FinishType", "2")], 5).len(), 1);
    }

    #[test]
    fn conversation_matrices() {
        let fl = flows();
        let ipv4 = serde_json::to_value(conversation(&fl, ConversationLayer::Ipv4)).unwrap();
        // Frames are 54 (TCP) / 42 (UDP) / 42 (ICMP) bytes: 3×54+54 between .1 and .2 by
        // TCP plus 42 by ICMP; 42 between .1 and .3.
        assert_eq!(
            ipv4,
            json!({
                "nodes": [
                    {"name": "10.0.0.1", "group": 0},
                    {"name": "10.0.0.2", "group": 0},
                    {"name": "10.0.0.3", "group": 1},
                ],
                "links": [
                    {"source": 0, "target": 1, "value": 3 * 54 + 54 + 42},
                    {"source": 0, "target": 2, "value": 42},
                ]
            }),
            "{ipv4:#}"
        );
        let tcp = conversation(&fl, ConversationLayer::Tcp);
        let names: Vec<&str> = tcp.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["40000", "80", "40001", "22"]);
        assert_eq!(tcp.links.len(), 2);
        assert_eq!(
            conversation(&fl, ConversationLayer::Ethernet).links.len(),
            2
        );
        assert_eq!(
            conversation(&fl, ConversationLayer::Sctp),
            Conversation::default()
        );
        assert_eq!(
            ConversationLayer::from_name("IPv4"),
            Some(ConversationLayer::Ipv4)
        );
        assert_eq!(ConversationLayer::from_name("dns"), None);
        // Order of input does not matter.
        let mut rev = fl.clone();
        rev.reverse();
        assert_eq!(
            conversation(&rev, ConversationLayer::Ipv4),
            conversation(&fl, ConversationLayer::Ipv4)
        );
    }
}

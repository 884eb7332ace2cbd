//! Fuzz harness bodies: each target in `fuzz/fuzz_targets/` is one call to a function here
//! (`netlink_msg`, `ovsdb_jsonrpc`), so the harness builds with the crate and its tests can
//! replay crashes. Every function must return normally for every input; a panic is a bug.

use netlink_packet_route::RouteNetlinkMessage;
use serde_json::json;
use skydive_graph::{Graph, GraphOptions, Metadata};

use crate::interface_claims::InterfaceClaims;
use crate::namespace::NsKey;
use crate::ovsdb::jsonrpc::{Framer, Message};
use crate::ovsdb::monitor::Mirror;
use crate::ovsdb::topology::{NamespaceRoot, Writer};
use crate::tid::{host_node_id, host_tid};

use crate::netlink::link::Link;
use crate::netlink::model::NsModel;
use crate::netlink::socket::{FrameBody, parse_datagram};

/// Target `netlink_msg`: one datagram as the kernel would send it on a `NETLINK_ROUTE` socket.
/// Splits it into messages, applies each to a namespace mirror (as notifications, then as
/// deletions) and computes every interface's metadata.
pub fn netlink_msg(data: &[u8]) {
    let mut frames = Vec::new();
    parse_datagram(data, &mut frames);
    let mut model = NsModel::default();
    for pass in [true, false] {
        for f in &frames {
            let FrameBody::Message(m) = &f.body else {
                continue;
            };
            match m {
                RouteNetlinkMessage::NewLink(l) | RouteNetlinkMessage::DelLink(l) => {
                    if let Some(link) = Link::from_message(l) {
                        if pass {
                            model.set_link(link);
                        } else {
                            model.remove_link(link.index);
                        }
                    }
                }
                RouteNetlinkMessage::NewAddress(a) | RouteNetlinkMessage::DelAddress(a) => {
                    model.apply_address(pass, a);
                }
                RouteNetlinkMessage::NewRoute(r) | RouteNetlinkMessage::DelRoute(r) => {
                    model.apply_route(pass, f.header.flags, r);
                }
                RouteNetlinkMessage::NewNeighbour(n) | RouteNetlinkMessage::DelNeighbour(n) => {
                    model.apply_neighbor(pass, n);
                }
                _ => {}
            }
            let indexes: Vec<u32> = model.links.keys().copied().collect();
            for i in indexes {
                let _ = model.interface_metadata(i);
            }
        }
    }
}

/// Target `ovsdb_jsonrpc`: bytes as an OVSDB server would stream them. The first byte picks
/// the read size (the stream is fed in pieces, as reads from a socket); every frame is
/// decoded, re-encoded and decoded again (must give the same message); responses and
/// `update` notifications are applied to a monitor mirror, which is then written into a
/// graph as the probe does, twice (the second write must change nothing).
pub fn ovsdb_jsonrpc(data: &[u8]) {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 64) + 1;
    let mut framer = Framer::new(1 << 20, 32);
    let mut mirror = Mirror::default();
    'feed: for piece in stream.chunks(chunk) {
        framer.extend(piece);
        loop {
            let msg = match framer.next_frame() {
                Ok(Some(frame)) => Message::decode(frame),
                Ok(None) => break,
                Err(_) => break 'feed,
            };
            let Ok(msg) = msg else { continue };
            let again = Message::decode(&msg.encode()).expect("an encoded message decodes");
            assert!(
                same_message(&again, &msg),
                "decode(encode(m)) != m: {msg:?}"
            );
            let updates = match &msg {
                Message::Response { result, .. } => Some(result),
                Message::Notification { method, params } if method == "update" => params.get(1),
                _ => None,
            };
            if let Some(u) = updates {
                let _ = mirror.apply(u);
            }
        }
    }
    let mut g = Graph::new(GraphOptions::new("fuzz", "agent.fuzz"));
    let host = host_node_id("fuzz");
    let tid = host_tid("fuzz");
    let _ = g.create_node(
        host.clone(),
        Metadata::from_pairs([("Name", json!("fuzz")), ("Type", json!("host"))]),
    );
    let ns = [NamespaceRoot {
        key: NsKey { dev: 0, ino: 1 },
        root: host.clone(),
        root_tid: tid.clone(),
        host: true,
    }];
    let claims = InterfaceClaims::default();
    let mut writer = Writer::new(host, tid);
    writer.sync(&mut g, &mirror, &ns, &claims, 1);
    let revisions: Vec<(String, i64)> = g.nodes().map(|n| (n.id.to_string(), n.revision)).collect();
    writer.sync(&mut g, &mirror, &ns, &claims, 1);
    for (id, rev) in revisions {
        assert_eq!(
            g.node(&id).map(|n| n.revision),
            Some(rev),
            "second sync rewrote {id}"
        );
    }
}

/// Message equality, numbers compared as parsed (serde_json's default float parsing may be
/// one ULP off on re-parsing its own output: 2001722586675415205660 is a float here).
fn same_message(a: &Message, b: &Message) -> bool {
    match (a, b) {
        (
            Message::Request { id, method, params },
            Message::Request {
                id: i2,
                method: m2,
                params: p2,
            },
        ) => same(id, i2) && method == m2 && same(params, p2),
        (
            Message::Notification { method, params },
            Message::Notification {
                method: m2,
                params: p2,
            },
        ) => method == m2 && same(params, p2),
        (
            Message::Response { id, result, error },
            Message::Response {
                id: i2,
                result: r2,
                error: e2,
            },
        ) => same(id, i2) && same(result, r2) && same(error, e2),
        _ => false,
    }
}

fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => {
            x == y
                || match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => (x - y).abs() <= x.abs().max(y.abs()) * 1e-15,
                    _ => false,
                }
        }
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the committed seed corpus (and any crash files added next to it).
    #[test]
    fn replay_corpus() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/netlink_msg");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for e in entries.flatten() {
            netlink_msg(&std::fs::read(e.path()).unwrap());
        }
    }

    /// Replays the committed `ovsdb_jsonrpc` seed corpus (and any crash files added next to it).
    #[test]
    fn replay_ovsdb_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/ovsdb_jsonrpc");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for e in entries.flatten() {
            ovsdb_jsonrpc(&std::fs::read(e.path()).unwrap());
        }
    }

    #[test]
    fn ovsdb_odd_inputs() {
        ovsdb_jsonrpc(&[]);
        ovsdb_jsonrpc(b"\x00{");
        ovsdb_jsonrpc(b"\x03{\"id\":1,\"result\":{\"Bridge\":{\"b\":{\"new\":{\"name\":1,\"ports\":[\"set\",[[\"uuid\",\"b\"]]]}}},\"Port\":{\"b\":{\"new\":{\"interfaces\":[\"uuid\",\"b\"]}}},\"Interface\":{\"b\":{\"new\":{\"type\":\"patch\",\"options\":[\"map\",[[\"peer\",\"\"]]],\"ifindex\":-5,\"statistics\":[\"map\",[[\"rx_bytes\",-1]]]}}}},\"error\":null}");
        ovsdb_jsonrpc(&[b'\x01'; 300]);
    }

    #[test]
    fn odd_inputs() {
        netlink_msg(&[]);
        netlink_msg(&[0xff; 64]);
        let mut hdr = vec![0u8; 16];
        hdr[0] = 16;
        hdr[4] = 16; // RTM_NEWLINK with an empty body
        netlink_msg(&hdr);
    }
}

//! Fuzz harness bodies: `fuzz/fuzz_targets/netlink_msg.rs` is one call to [`netlink_msg`], so
//! the harness builds with the crate and its tests can replay crashes. Every function must
//! return normally for every input; a panic is a bug.

use netlink_packet_route::RouteNetlinkMessage;

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

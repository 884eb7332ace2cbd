//! Identifiers the agent gives its nodes and edges.
//!
//! Two kinds:
//! - **`TID`** (metadata key): Skydive's stable, cross-restart identifier, computed exactly as
//!   Skydive's `topology/tid.go` does, with the same UUID namespace (`NamespaceOID`,
//!   `6ba7b812-9dad-11d1-80b4-00c04fd430c8`), so a node gets the TID a Skydive agent would give
//!   it: host = v5(Name); netns = v5(hostTID + Path + "netns"); any other node =
//!   v5(ownershipParentTID + Name + Type). Flows name their capture point by this value.
//! - **Element IDs**: deterministic too (Skydive used random v4 IDs for nodes), built with the
//!   graph's [`gen_id`] over the host id, the namespace identity and the interface index, so an
//!   agent restart gives every node the ID it had before. Typed edges use
//!   gen_id(parent + child + relation type), the shape of Skydive's `NewLink`.
//!
//! Difference from Skydive: Skydive set an interface's TID once (from its first Name/Type) and
//! kept it across renames until the agent restarted; here the TID follows the current Name and
//! Type, i.e. it is always the value a freshly started agent would compute.

use skydive_graph::{Id, gen_id};
use uuid::Uuid;

/// The UUID namespace of Skydive's TIDs (`uuid.NamespaceOID` in satori/go.uuid).
pub const TID_NAMESPACE: Uuid = Uuid::NAMESPACE_OID;

fn v5(parts: &[&str]) -> String {
    let mut joined = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        joined.push_str(p);
    }
    Uuid::new_v5(&TID_NAMESPACE, joined.as_bytes()).to_string()
}

/// TID of the host node: v5(host Name).
pub fn host_tid(host_name: &str) -> String {
    v5(&[host_name])
}

/// TID of a netns node: v5(hostTID + Path + "netns").
pub fn netns_tid(host_tid: &str, path: &str) -> String {
    v5(&[host_tid, path, "netns"])
}

/// TID of a node owned by `parent_tid`: v5(parentTID + Name + Type).
pub fn child_tid(parent_tid: &str, name: &str, kind: &str) -> String {
    v5(&[parent_tid, name, kind])
}

/// ID of the host node.
pub fn host_node_id(host_id: &str) -> Id {
    gen_id(&["host/", host_id])
}

/// ID of a netns node: one per (path, namespace identity) on this host.
pub fn netns_node_id(host_node: &Id, path: &str, dev: u64, ino: u64) -> Id {
    gen_id(&[
        &host_node.as_str(),
        "/netns/",
        path,
        "/",
        &dev.to_string(),
        ":",
        &ino.to_string(),
    ])
}

/// ID of an interface node: its namespace root node and its index in that namespace.
pub fn interface_node_id(root: &Id, ifindex: u32) -> Id {
    gen_id(&[&root.as_str(), "/ifindex/", &ifindex.to_string()])
}

/// TID of an OVS bridge or port: v5(hostTID + OVS UUID + Type), as Skydive's `TIDMapper`
/// (`kind` is `ovsbridge` or `ovsport`).
pub fn ovs_tid(host_tid: &str, uuid: &str, kind: &str) -> String {
    v5(&[host_tid, uuid, kind])
}

/// ID of a node the `ovsdb` probe creates: its OVS table (`bridge`, `port`, `interface`) and
/// row UUID, on this host.
pub fn ovs_node_id(host_node: &Id, table: &str, uuid: &str) -> Id {
    gen_id(&[&host_node.as_str(), "/ovs/", table, "/", uuid])
}

/// ID of a typed edge, as Skydive's `NewLink`: parent + child + relation type.
pub fn edge_id(parent: &Id, child: &Id, relation: &str) -> Id {
    gen_id(&[&parent.as_str(), &child.as_str(), relation])
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed independently (Python: uuid.uuid5(uuid.NAMESPACE_OID, …)),
    // which is what Skydive's satori/go.uuid NewV5(NamespaceOID, …) computes.
    #[test]
    fn tids_match_skydive() {
        let host = host_tid("host1");
        assert_eq!(host, "1a21f896-ade2-5afd-9969-4d690a305de0");
        let ns = netns_tid(&host, "/var/run/netns/ns1");
        assert_eq!(ns, "a261d0e8-7f2d-5746-aadf-88477dad93c5");
        assert_eq!(
            child_tid(&ns, "eth0", "veth"),
            "f1f61850-56ee-56a3-9d30-b3bff1911d8f"
        );
        // uuid.uuid5(uuid.NAMESPACE_OID, host + "0b0ad6a9-6ad3-4d6d-9a6f-8dcbc4e2b3a1" + "ovsbridge")
        assert_eq!(
            ovs_tid(&host, "0b0ad6a9-6ad3-4d6d-9a6f-8dcbc4e2b3a1", "ovsbridge"),
            "7d850c3b-6411-5b71-81bc-6e94afe123c0"
        );
    }

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let h = host_node_id("h");
        assert_eq!(h, host_node_id("h"));
        assert_ne!(interface_node_id(&h, 1), interface_node_id(&h, 11));
        assert_ne!(netns_node_id(&h, "/a", 1, 2), netns_node_id(&h, "/a", 1, 3));
        let (a, b) = (Id::from("a"), Id::from("b"));
        assert_ne!(edge_id(&a, &b, "ownership"), edge_id(&a, &b, "layer2"));
    }
}

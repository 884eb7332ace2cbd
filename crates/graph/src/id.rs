//! Element identifiers: random (UUIDv4) or deterministic (UUIDv5 over parts), as Skydive's `GenID`.

use std::sync::Arc;

use uuid::Uuid;

/// Identifier of a node or an edge. Shared (`Arc<str>`) because it is held by the element,
/// the adjacency lists and the indexes at once.
pub type Id = Arc<str>;

/// Namespace of our deterministic identifiers. Any fixed UUID works as long as it never
/// changes: probes rely on `gen_id` giving the same answer across restarts and hosts.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6ba7_b810_9dad_11d1_80b4_00c0_4fd4_30c8);

/// A deterministic identifier: UUIDv5 of the parts joined in order.
///
/// ```
/// let a = skydive_graph::gen_id(&["host1", "eth0", "device"]);
/// assert_eq!(a, skydive_graph::gen_id(&["host1", "eth0", "device"]));
/// assert_ne!(a, skydive_graph::gen_id(&["host1", "eth1", "device"]));
/// ```
pub fn gen_id(parts: &[&str]) -> Id {
    let mut joined = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        joined.push_str(p);
    }
    Arc::from(Uuid::new_v5(&ID_NAMESPACE, joined.as_bytes()).to_string())
}

/// A fresh random identifier (UUIDv4).
pub fn random_id() -> Id {
    Arc::from(Uuid::new_v4().to_string())
}

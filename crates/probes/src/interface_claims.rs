//! Interface nodes shared by two probes: a kernel interface that OVS also manages (a veth or a
//! tap attached to an OVS bridge) is ONE node, created and keyed by the `netlink` probe
//! (`interface_node_id(namespace root, ifindex)`), onto which the `ovsdb` probe merges its keys
//! (`UUID`, `OfPort`, `Ovs`, `ExtID`…). This table records which netlink nodes OVS has merged
//! into, so that neither probe deletes a node the other still describes:
//!
//! | event | netlink node without claim | netlink node claimed by OVS |
//! |---|---|---|
//! | kernel link deleted | netlink deletes the node | netlink strips its keys and edges, marks `netlink_gone`; the node stays |
//! | OVS row gone / unmerged | — | OVS strips its keys and edges; deletes the node if `netlink_gone` |
//!
//! It also carries OVS's interface type when it replaces the kernel's (`internal` for a tap):
//! netlink writes that `Type` (and computes the TID with it) instead of its own, so the two
//! probes never fight over the key (Skydive's rule: the OVS type wins).
//!
//! Locking: a mutex held for map operations only, always taken while the caller holds the
//! graph's write lock (graph lock first, then this one), never across an `.await`.

use std::collections::HashMap;

use parking_lot::Mutex;
use skydive_graph::Id;

use crate::namespace::NsKey;

/// OVS's hold on a netlink interface node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvsClaim {
    /// OVS's interface type when it replaces the kernel's (`internal`, `dpdk`…).
    pub type_override: Option<String>,
    /// Where the kernel interface is (to ask its netlink listener to re-read it).
    pub ns: NsKey,
    pub ifindex: u32,
    /// The kernel interface is gone: netlink left the node to OVS.
    pub netlink_gone: bool,
}

/// Netlink nodes the `ovsdb` probe has merged into.
#[derive(Debug, Default)]
pub struct InterfaceClaims {
    inner: Mutex<HashMap<Id, OvsClaim>>,
}

impl InterfaceClaims {
    pub fn get(&self, id: &Id) -> Option<OvsClaim> {
        self.inner.lock().get(id).cloned()
    }

    /// OVS's type for node `id`, if it replaces the kernel's.
    pub fn type_override(&self, id: &Id) -> Option<String> {
        self.inner
            .lock()
            .get(id)
            .and_then(|c| c.type_override.clone())
    }

    /// Records (or updates) OVS's claim on `id`, keeping `netlink_gone` as it was.
    pub fn claim(&self, id: Id, ns: NsKey, ifindex: u32, type_override: Option<String>) {
        let mut inner = self.inner.lock();
        let c = inner.entry(id).or_insert(OvsClaim {
            type_override: None,
            ns,
            ifindex,
            netlink_gone: false,
        });
        c.type_override = type_override;
        c.ns = ns;
        c.ifindex = ifindex;
    }

    /// Removes OVS's claim; returns it.
    pub fn release(&self, id: &Id) -> Option<OvsClaim> {
        self.inner.lock().remove(id)
    }

    /// Netlink saw the link go: returns whether OVS holds the node (netlink must then keep it).
    pub fn netlink_left(&self, id: &Id) -> bool {
        match self.inner.lock().get_mut(id) {
            Some(c) => {
                c.netlink_gone = true;
                true
            }
            None => false,
        }
    }

    /// Netlink writes the node again (the link exists).
    pub fn netlink_present(&self, id: &Id) {
        if let Some(c) = self.inner.lock().get_mut(id) {
            c.netlink_gone = false;
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_lifecycle() {
        let c = InterfaceClaims::default();
        let ns = NsKey { dev: 1, ino: 2 };
        let a = Id::from("a");
        assert!(!c.netlink_left(&a), "unclaimed: netlink deletes");
        c.claim(a.clone(), ns, 7, Some("internal".into()));
        assert_eq!(c.type_override(&a).as_deref(), Some("internal"));
        assert!(c.netlink_left(&a));
        c.claim(a.clone(), ns, 7, None);
        assert!(c.get(&a).unwrap().netlink_gone, "kept across claim updates");
        c.netlink_present(&a);
        assert!(!c.get(&a).unwrap().netlink_gone);
        assert_eq!(c.release(&a).unwrap().ifindex, 7);
        assert!(c.is_empty());
    }
}

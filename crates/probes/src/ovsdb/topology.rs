//! OVSDB rows → graph nodes and edges, with Skydive's shapes (`topology/probes/ovsdb/ovsdb.go`).
//!
//! Each sync recomputes what the graph should hold from the whole [`Mirror`] (cheap: a few
//! map lookups per row) and writes only the difference from the previous sync, in one pass
//! under the graph lock. That makes a full resync after a reconnection the same operation as
//! an update: elements whose rows vanished are removed.
//!
//! | row | node | edges |
//! |---|---|---|
//! | Bridge | `{Type: ovsbridge, Name, UUID, TID, Ovs{OtherConfig, Protocols}, ExtID}` | host → bridge `ownership` |
//! | Port | `{Type: ovsport, Name, UUID, TID, Vlans, BondMode, LACP, ExtID, Ovs{OtherConfig}}` | bridge → port `ownership` + `layer2` |
//! | Interface | merged into the netlink node, or its own node (below) | port → interface `layer2`; bridge → own interface `ownership`; patch peers `layer2` `Type: patch` |
//! | Open_vSwitch | `Ovs{Version, DBVersion, OtherConfig}` + `ExtID` on the `ovs-system` node, else on the host node | |
//!
//! **Merge rule.** An interface row with an `ifindex` is the kernel interface of that index
//! and name in one of the namespaces the agent knows (host namespace first), if the netlink
//! node there has that `Name` and `IfIndex` and, when OVS reports `mac_in_use`, that `MAC`. (Without a MAC
//! only the host namespace is trusted.) OVS then adds `UUID, OfPort, ExtID, Ovs, LocalIP…`
//! to that node and, when its type is not the plain system one, its `Type` (recorded in
//! [`InterfaceClaims`] so netlink writes it too); the kernel keys stay netlink's. Otherwise
//! the probe creates the node: `{Name, UUID, Type (OVS type, `system` for ""), Driver
//! (status.driver_name or `openvswitch`), OfPort, MAC (mac_in_use, not for internal),
//! IfIndex, ExtID, Ovs{Options, OtherConfig, Error, Metric, LastUpdateMetric}, TID}`, owned
//! by its bridge. Tunnels (gre, vxlan, geneve…) add `LocalIP`, `RemoteIP`, `TunEgressIface`,
//! `TunEgressIfaceCarrier`.
//!
//! Must not: delete a netlink node it merged into unless netlink gave it up
//! ([`InterfaceClaims`]), or touch keys it did not write.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value, json};
use skydive_graph::{Graph, Id, Metadata};

use super::datum::Row;
use super::monitor::Mirror;
use crate::interface_claims::InterfaceClaims;
use crate::namespace::NsKey;
use crate::netlink::metric::InterfaceMetric;
use crate::relation::{EdgeSpec, LAYER2, OWNERSHIP, ensure_edge, remove_edge};
use crate::tid::{child_tid, interface_node_id, ovs_node_id, ovs_tid};

/// Interface types whose options name tunnel endpoints.
const TUNNEL_TYPES: &[&str] = &[
    "gre",
    "vxlan",
    "geneve",
    "stt",
    "lisp",
    "gtpu",
    "bareudp",
    "erspan",
    "ip6erspan",
    "ip6gre",
    "srv6",
];

/// Every key the probe may write on an interface node it merged into (besides `Type`).
const MERGED_KEYS: &[&str] = &[
    "UUID",
    "OfPort",
    "ExtID",
    "Ovs",
    "LocalIP",
    "RemoteIP",
    "TunEgressIface",
    "TunEgressIfaceCarrier",
];

/// Every key the probe may write on a node it created.
const OWN_KEYS: &[&str] = &[
    "Type",
    "Name",
    "UUID",
    "TID",
    "Ovs",
    "ExtID",
    "Vlans",
    "BondMode",
    "LACP",
    "Driver",
    "OfPort",
    "MAC",
    "IfIndex",
    "LocalIP",
    "RemoteIP",
    "TunEgressIface",
    "TunEgressIfaceCarrier",
];

/// Keys of the `Open_vSwitch` row on its target node.
const SYSTEM_KEYS: &[&str] = &["Ovs", "ExtID"];

/// A namespace where netlink interface nodes may be merged into.
#[derive(Debug, Clone)]
pub struct NamespaceRoot {
    pub key: NsKey,
    /// The node owning the namespace's interfaces (host or netns node).
    pub root: Id,
    /// Its TID (interfaces' TIDs derive from it).
    pub root_tid: String,
    /// The agent's own namespace.
    pub host: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Role {
    /// A node this probe created (bridge, port, interface without a kernel node).
    Own,
    /// A netlink node this probe added its keys to.
    Merged {
        ns: NsKey,
        ifindex: u32,
        type_override: Option<String>,
        /// The TID netlink would give the node with OVS's type.
        tid: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct NodeWant {
    role: Role,
    keys: Vec<(&'static str, Value)>,
}

impl NodeWant {
    fn has(&self, k: &str) -> bool {
        self.keys.iter().any(|(x, _)| *x == k)
    }
}

/// Element counts of the last sync (for the probe's status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub bridges: u64,
    pub ports: u64,
    pub interfaces: u64,
    /// Interfaces merged into netlink nodes.
    pub merged: u64,
    /// Interfaces with an ifindex but no netlink node found (yet): looked for again later.
    pub unresolved: u64,
}

#[derive(Debug, Default)]
struct Want {
    nodes: HashMap<Id, NodeWant>,
    edges: HashMap<Id, EdgeSpec>,
    /// Keys of the Open_vSwitch row.
    system: Option<Vec<(&'static str, Value)>>,
    counts: Counts,
    /// Interfaces with an ifindex but no kernel node found: (name, ifindex, mac).
    unresolved: Vec<(String, u32, Option<String>)>,
}

impl Want {
    fn edge(&mut self, e: EdgeSpec) {
        self.edges.insert(e.id.clone(), e);
    }
}

/// Counters of an interface as last written.
#[derive(Debug, Clone)]
struct MetricState {
    counters: InterfaceMetric,
    at: i64,
    metric: Value,
    last_update: Option<Value>,
}

/// Writes the OVS part of the graph. See the module docs.
#[derive(Debug)]
pub struct Writer {
    host_node: Id,
    host_tid: String,
    written: Want,
    /// Node holding the Open_vSwitch row's keys.
    system_target: Option<Id>,
    metrics: HashMap<String, MetricState>,
    adopted: bool,
}

impl Writer {
    pub fn new(host_node: Id, host_tid: String) -> Self {
        Writer {
            host_node,
            host_tid,
            written: Want::default(),
            system_target: None,
            metrics: HashMap::new(),
            adopted: false,
        }
    }

    /// Counts of the last sync.
    pub fn counts(&self) -> Counts {
        self.written.counts
    }

    /// Whether the graph changed under the last sync in a way a new sync would repair: a
    /// kernel node appeared for an interface that had none, or a node merged into vanished
    /// (its namespace was deleted) or was left by netlink (the kernel interface is gone).
    /// Cheap: a few lookups per such interface.
    pub fn needs_recheck(
        &self,
        g: &Graph,
        namespaces: &[NamespaceRoot],
        claims: &InterfaceClaims,
    ) -> bool {
        let vanished = self.written.nodes.iter().any(|(id, w)| {
            matches!(w.role, Role::Merged { .. })
                && (g.node(id).is_none() || claims.get(id).is_some_and(|c| c.netlink_gone))
        });
        vanished
            || self.written.unresolved.iter().any(|(name, idx, mac)| {
                find_kernel_node(g, namespaces, name, *idx, mac.as_deref()).is_some()
            })
    }

    /// Makes the graph show `mirror`. Returns the kernel interfaces whose netlink listener
    /// must re-read them (OVS gave up its `Type` on them); the caller asks after unlocking.
    pub fn sync(
        &mut self,
        g: &mut Graph,
        mirror: &Mirror,
        namespaces: &[NamespaceRoot],
        claims: &InterfaceClaims,
        now: i64,
    ) -> Vec<(NsKey, u32)> {
        if !self.adopted {
            self.adopt(g, claims);
            self.adopted = true;
        }
        let want = self.want(g, mirror, namespaces, now);
        self.apply(g, want, claims)
    }

    // ----- rows → wanted nodes and edges -----

    fn want(&mut self, g: &Graph, mirror: &Mirror, namespaces: &[NamespaceRoot], now: i64) -> Want {
        let mut w = Want::default();
        let mut seen_ports = HashSet::new();
        let mut seen_ifaces = HashSet::new();
        // Patch interfaces: name → node, and (node, name, peer name).
        let mut patch_by_name: HashMap<String, Id> = HashMap::new();
        let mut patches: Vec<(Id, String, String)> = Vec::new();
        for (buuid, brow) in mirror.rows("Bridge") {
            let bid = ovs_node_id(&self.host_node, "bridge", buuid);
            let btid = ovs_tid(&self.host_tid, buuid, "ovsbridge");
            w.nodes.insert(
                bid.clone(),
                NodeWant {
                    role: Role::Own,
                    keys: bridge_keys(buuid, brow, &btid),
                },
            );
            w.counts.bridges += 1;
            w.edge(EdgeSpec::new(
                self.host_node.clone(),
                bid.clone(),
                OWNERSHIP,
            ));
            for puuid in brow.uuids("ports") {
                let Some(prow) = mirror.row("Port", &puuid) else {
                    continue;
                };
                if !seen_ports.insert(puuid.clone()) {
                    continue;
                }
                let pid = ovs_node_id(&self.host_node, "port", &puuid);
                let ptid = ovs_tid(&self.host_tid, &puuid, "ovsport");
                w.nodes.insert(
                    pid.clone(),
                    NodeWant {
                        role: Role::Own,
                        keys: port_keys(&puuid, prow, &ptid),
                    },
                );
                w.counts.ports += 1;
                w.edge(EdgeSpec::new(bid.clone(), pid.clone(), OWNERSHIP));
                w.edge(EdgeSpec::new(bid.clone(), pid.clone(), LAYER2));
                for iuuid in prow.uuids("interfaces") {
                    let Some(irow) = mirror.row("Interface", &iuuid) else {
                        continue;
                    };
                    if !seen_ifaces.insert(iuuid.clone()) {
                        continue;
                    }
                    let (iid, nw) = self.interface(g, &iuuid, irow, &btid, namespaces, now);
                    w.counts.interfaces += 1;
                    w.edge(EdgeSpec::new(pid.clone(), iid.clone(), LAYER2));
                    match &nw.role {
                        Role::Own => {
                            w.edge(EdgeSpec::new(bid.clone(), iid.clone(), OWNERSHIP));
                            if let Some(idx) = irow
                                .int("ifindex")
                                .filter(|i| *i > 0)
                                .and_then(|i| u32::try_from(i).ok())
                            {
                                w.counts.unresolved += 1;
                                w.unresolved.push((
                                    irow.str("name").unwrap_or_default().to_owned(),
                                    idx,
                                    irow.non_empty_str("mac_in_use").map(str::to_owned),
                                ));
                            }
                        }
                        Role::Merged { .. } => w.counts.merged += 1,
                    }
                    if irow.str("type") == Some("patch") {
                        let name = irow.str("name").unwrap_or_default().to_owned();
                        patch_by_name.insert(name.clone(), iid.clone());
                        if let Some(peer) = irow.map_value("options", "peer") {
                            patches.push((iid.clone(), name, peer));
                        }
                    }
                    w.nodes.insert(iid, nw);
                }
            }
        }
        // A patch pair is linked when each end names the other (as OVS requires to connect them).
        let peer_of: HashMap<&str, &str> = patches
            .iter()
            .map(|(_, name, peer)| (name.as_str(), peer.as_str()))
            .collect();
        let mut links = Vec::new();
        for (iid, name, peer) in &patches {
            let Some(pid) = patch_by_name.get(peer) else {
                continue;
            };
            if pid == iid || peer_of.get(peer.as_str()) != Some(&name.as_str()) {
                continue;
            }
            links.push((iid.clone(), name.clone(), peer.clone(), pid.clone()));
        }
        for (iid, name, peer, pid) in links {
            let (parent, child) = if name < peer { (iid, pid) } else { (pid, iid) };
            w.edge(EdgeSpec::new(parent, child, LAYER2).with("Type", "patch"));
        }
        if let Some((_, row)) = mirror.rows("Open_vSwitch").next() {
            w.system = Some(system_keys(row));
        }
        self.metrics.retain(|u, _| seen_ifaces.contains(u));
        w
    }

    fn interface(
        &mut self,
        g: &Graph,
        uuid: &str,
        row: &Row,
        bridge_tid: &str,
        namespaces: &[NamespaceRoot],
        now: i64,
    ) -> (Id, NodeWant) {
        let name = row.str("name").unwrap_or_default();
        let otype = row.str("type").unwrap_or_default();
        let ifindex = row
            .int("ifindex")
            .filter(|i| *i > 0)
            .and_then(|i| u32::try_from(i).ok());
        let mac = row.non_empty_str("mac_in_use");

        let mut keys: Vec<(&'static str, Value)> = vec![("UUID", json!(uuid))];
        if let Some(ofport) = row.int("ofport").filter(|p| *p != 0) {
            keys.push(("OfPort", json!(ofport)));
        }
        if let Some(ext) = map_json(row, "external_ids") {
            keys.push(("ExtID", ext));
        }
        if TUNNEL_TYPES.contains(&otype) {
            for (key, col, sub) in [
                ("LocalIP", "options", "local_ip"),
                ("RemoteIP", "options", "remote_ip"),
                ("TunEgressIface", "status", "tunnel_egress_iface"),
                (
                    "TunEgressIfaceCarrier",
                    "status",
                    "tunnel_egress_iface_carrier",
                ),
            ] {
                if let Some(v) = row.map_value(col, sub).filter(|v| !v.is_empty()) {
                    keys.push((key, json!(v)));
                }
            }
        }
        let mut ovs = Map::new();
        if let Some(o) = map_json(row, "options") {
            ovs.insert("Options".into(), o);
        }
        if let Some(o) = map_json(row, "other_config") {
            ovs.insert("OtherConfig".into(), o);
        }
        if let Some(e) = row.non_empty_str("error") {
            ovs.insert("Error".into(), json!(e));
        }
        if row.get("statistics").is_some() {
            let m = self.metric(uuid, row, now);
            ovs.insert("Metric".into(), m.metric.clone());
            if let Some(l) = &m.last_update {
                ovs.insert("LastUpdateMetric".into(), l.clone());
            }
        }
        keys.push(("Ovs", Value::Object(ovs)));

        if let Some(idx) = ifindex
            && let Some((id, ns)) = find_kernel_node(g, namespaces, name, idx, mac)
        {
            let type_override = (!otype.is_empty()).then(|| otype.to_owned());
            let tid = type_override
                .as_ref()
                .map(|t| child_tid(&ns.root_tid, name, t));
            let role = Role::Merged {
                ns: ns.key,
                ifindex: idx,
                type_override,
                tid,
            };
            return (id, NodeWant { role, keys });
        }
        let kind = if otype.is_empty() { "system" } else { otype };
        keys.push(("Name", json!(name)));
        keys.push(("Type", json!(kind)));
        let driver = row
            .map_value("status", "driver_name")
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "openvswitch".into());
        keys.push(("Driver", json!(driver)));
        if let Some(mac) = mac.filter(|_| otype != "internal") {
            keys.push(("MAC", json!(mac)));
        }
        if let Some(idx) = ifindex {
            keys.push(("IfIndex", json!(idx)));
        }
        keys.push(("TID", json!(child_tid(bridge_tid, name, kind))));
        (
            ovs_node_id(&self.host_node, "interface", uuid),
            NodeWant {
                role: Role::Own,
                keys,
            },
        )
    }

    /// `Ovs.Metric` / `Ovs.LastUpdateMetric` from the `statistics` column: the counters at
    /// `now`, and the difference since the previous change (Skydive's shapes).
    fn metric(&mut self, uuid: &str, row: &Row, now: i64) -> &MetricState {
        let cur = ovs_metric(&row.int_map("statistics"));
        let st = self
            .metrics
            .entry(uuid.to_owned())
            .or_insert_with(|| MetricState {
                counters: cur,
                at: now,
                metric: cur.at(0, now).to_json(),
                last_update: None,
            });
        if st.counters != cur {
            let delta = cur.delta(&st.counters);
            if !delta.is_zero() {
                st.last_update = Some(delta.at(st.at, now).to_json());
            }
            st.counters = cur;
            st.at = now;
            st.metric = cur.at(0, now).to_json();
        }
        st
    }

    // ----- wanted → graph -----

    fn apply(&mut self, g: &mut Graph, want: Want, claims: &InterfaceClaims) -> Vec<(NsKey, u32)> {
        let mut refresh = Vec::new();
        for (id, nw) in &want.nodes {
            let old = self.written.nodes.get(id);
            let stale: Vec<&'static str> = old
                .map(|o| {
                    o.keys
                        .iter()
                        .map(|(k, _)| *k)
                        .filter(|k| !nw.has(k) && *k != "Type")
                        .collect()
                })
                .unwrap_or_default();
            match &nw.role {
                Role::Own => {
                    if g.node(id).is_none() {
                        let md = Metadata::from_entries(nw.keys.iter().cloned());
                        if let Err(e) = g.create_node(id.clone(), md) {
                            tracing::warn!(error = %e, "cannot create OVS node");
                        }
                    } else {
                        let _ = g.update_node(id, |m| {
                            for (k, v) in &nw.keys {
                                m.set(k, v.clone());
                            }
                            for k in &stale {
                                m.remove(k);
                            }
                        });
                    }
                }
                Role::Merged {
                    ns,
                    ifindex,
                    type_override,
                    tid,
                } => {
                    claims.claim(id.clone(), *ns, *ifindex, type_override.clone());
                    let _ = g.update_node(id, |m| {
                        for (k, v) in &nw.keys {
                            m.set(k, v.clone());
                        }
                        if let (Some(t), Some(tid)) = (type_override, tid) {
                            m.set("Type", json!(t));
                            m.set("TID", json!(tid));
                        }
                        for k in &stale {
                            m.remove(k);
                        }
                    });
                    if type_override.is_none()
                        && matches!(
                            old,
                            Some(NodeWant {
                                role: Role::Merged {
                                    type_override: Some(_),
                                    ..
                                },
                                ..
                            })
                        )
                    {
                        refresh.push((*ns, *ifindex));
                    }
                }
            }
        }
        for (id, old) in &self.written.nodes {
            if want.nodes.contains_key(id) {
                continue;
            }
            match &old.role {
                Role::Own => {
                    if g.node(id).is_some() {
                        let _ = g.delete_node(id);
                    }
                }
                Role::Merged {
                    ns,
                    ifindex,
                    type_override,
                    ..
                } => {
                    let gone = claims.release(id).is_some_and(|c| c.netlink_gone);
                    if gone {
                        if g.node(id).is_some() {
                            let _ = g.delete_node(id);
                        }
                    } else {
                        let _ = g.update_node(id, |m| {
                            for (k, _) in &old.keys {
                                if *k != "Type" {
                                    m.remove(k);
                                }
                            }
                        });
                        if type_override.is_some() {
                            refresh.push((*ns, *ifindex));
                        }
                    }
                }
            }
        }
        for (id, _) in self.written.edges.iter() {
            if !want.edges.contains_key(id) {
                remove_edge(g, id);
            }
        }
        for spec in want.edges.values() {
            ensure_edge(g, spec);
        }

        // The Open_vSwitch row: on ovs-system (kernel datapath) as Skydive, else on the host.
        let target = ovs_system_node(g, &self.host_node).unwrap_or_else(|| self.host_node.clone());
        let old_keys: Vec<&'static str> = self
            .written
            .system
            .iter()
            .flatten()
            .map(|(k, _)| *k)
            .collect();
        if let Some(prev) = self.system_target.take().filter(|p| *p != target)
            && g.node(&prev).is_some()
        {
            let _ = g.update_node(&prev, |m| {
                for k in &old_keys {
                    m.remove(k);
                }
            });
        }
        let new_keys = want.system.clone().unwrap_or_default();
        if (!new_keys.is_empty() || !old_keys.is_empty()) && g.node(&target).is_some() {
            let _ = g.update_node(&target, |m| {
                for k in &old_keys {
                    if !new_keys.iter().any(|(n, _)| n == k) {
                        m.remove(k);
                    }
                }
                for (k, v) in &new_keys {
                    m.set(k, v.clone());
                }
            });
        }
        self.system_target = Some(target);
        self.written = want;
        refresh
    }

    /// First sync: takes over what a previous run of the probe left in the graph (nodes with
    /// `UUID` and `Ovs` created by this agent), so that what vanished since is removed.
    fn adopt(&mut self, g: &Graph, claims: &InterfaceClaims) {
        let origin = g.origin().clone();
        for n in g.nodes() {
            if n.origin != origin || n.metadata.get("Ovs").is_none() {
                continue;
            }
            let Some(uuid) = n.metadata.get_str("UUID") else {
                continue;
            };
            let own = ["bridge", "port", "interface"]
                .iter()
                .any(|t| ovs_node_id(&self.host_node, t, uuid) == n.id);
            let (role, names) = if own {
                (Role::Own, OWN_KEYS)
            } else {
                let c = claims.get(&n.id);
                let role = Role::Merged {
                    ns: c.as_ref().map_or(NsKey { dev: 0, ino: 0 }, |c| c.ns),
                    ifindex: c.as_ref().map_or(0, |c| c.ifindex),
                    type_override: c.and_then(|c| c.type_override),
                    tid: None,
                };
                (role, MERGED_KEYS)
            };
            let keys = names
                .iter()
                .filter(|k| n.metadata.get(k).is_some())
                .map(|k| (*k, Value::Null))
                .collect();
            self.written
                .nodes
                .insert(n.id.clone(), NodeWant { role, keys });
        }
        let adopted_own: HashSet<&Id> = self
            .written
            .nodes
            .iter()
            .filter(|(_, w)| w.role == Role::Own)
            .map(|(id, _)| id)
            .collect();
        let mut edges = HashMap::new();
        for e in g.edges() {
            let relation = match e.metadata.get_str("RelationType") {
                Some("ownership") => OWNERSHIP,
                Some("layer2") => LAYER2,
                _ => continue,
            };
            let patch = e.metadata.get_str("Type") == Some("patch");
            if adopted_own.contains(&e.parent) || adopted_own.contains(&e.child) || patch {
                let mut spec = EdgeSpec::new(e.parent.clone(), e.child.clone(), relation);
                spec.id = e.id.clone();
                edges.insert(e.id.clone(), spec);
            }
        }
        self.written.edges = edges;
        let target = ovs_system_node(g, &self.host_node).unwrap_or_else(|| self.host_node.clone());
        if let Some(t) = g.node(&target).filter(|t| t.metadata.get("Ovs").is_some()) {
            let keys = SYSTEM_KEYS
                .iter()
                .filter(|k| t.metadata.get(k).is_some())
                .map(|k| (*k, Value::Null))
                .collect();
            self.written.system = Some(keys);
            self.system_target = Some(target);
        }
    }
}

/// The netlink node of interface `name`/`ifindex` in one of `namespaces` (see the module
/// docs for the rule).
fn find_kernel_node<'a>(
    g: &Graph,
    namespaces: &'a [NamespaceRoot],
    name: &str,
    ifindex: u32,
    mac: Option<&str>,
) -> Option<(Id, &'a NamespaceRoot)> {
    let ordered = namespaces
        .iter()
        .filter(|n| n.host)
        .chain(namespaces.iter().filter(|n| !n.host));
    for ns in ordered {
        if mac.is_none() && !ns.host {
            continue;
        }
        let id = interface_node_id(&ns.root, ifindex);
        let Some(n) = g.node(&id) else { continue };
        // A node netlink has left (kernel keys removed) is no kernel interface any more.
        if n.metadata.get_str("Name") != Some(name)
            || n.metadata.get_i64("IfIndex") != Some(i64::from(ifindex))
        {
            continue;
        }
        if let Some(mac) = mac
            && !n
                .metadata
                .get_str("MAC")
                .is_some_and(|m| m.eq_ignore_ascii_case(mac))
        {
            continue;
        }
        return Some((id, ns));
    }
    None
}

/// The kernel datapath's `ovs-system` interface, if the host namespace has one.
fn ovs_system_node(g: &Graph, host: &Id) -> Option<Id> {
    g.node_edges(host)
        .filter(|e| e.parent == *host && e.metadata.get_str("RelationType") == Some(OWNERSHIP))
        .filter_map(|e| g.node(&e.child))
        .find(|n| {
            n.metadata.get_str("Name") == Some("ovs-system")
                && n.metadata.get_str("Type") == Some("openvswitch")
        })
        .map(|n| n.id.clone())
}

/// A map column as a JSON object, `None` when empty.
fn map_json(row: &Row, column: &str) -> Option<Value> {
    let m: BTreeMap<String, String> = row.string_map(column);
    if m.is_empty() {
        return None;
    }
    Some(Value::Object(
        m.into_iter().map(|(k, v)| (k, Value::from(v))).collect(),
    ))
}

fn bridge_keys(uuid: &str, row: &Row, tid: &str) -> Vec<(&'static str, Value)> {
    let mut keys = vec![
        ("Type", json!("ovsbridge")),
        ("Name", json!(row.str("name").unwrap_or_default())),
        ("UUID", json!(uuid)),
        ("TID", json!(tid)),
    ];
    let mut ovs = Map::new();
    if let Some(o) = map_json(row, "other_config") {
        ovs.insert("OtherConfig".into(), o);
    }
    let protocols = row.strings("protocols");
    if !protocols.is_empty() {
        ovs.insert("Protocols".into(), json!(protocols));
    }
    keys.push(("Ovs", Value::Object(ovs)));
    if let Some(ext) = map_json(row, "external_ids") {
        keys.push(("ExtID", ext));
    }
    keys
}

fn port_keys(uuid: &str, row: &Row, tid: &str) -> Vec<(&'static str, Value)> {
    let mut keys = vec![
        ("Type", json!("ovsport")),
        ("Name", json!(row.str("name").unwrap_or_default())),
        ("UUID", json!(uuid)),
        ("TID", json!(tid)),
    ];
    // Skydive's `Vlans`: the access tag (a number); here also the trunks (a list) when untagged.
    if let Some(tag) = row.int("tag") {
        keys.push(("Vlans", json!(tag)));
    } else {
        let trunks = row.ints("trunks");
        if !trunks.is_empty() {
            keys.push(("Vlans", json!(trunks)));
        }
    }
    if let Some(mode) = row.non_empty_str("bond_mode") {
        keys.push(("BondMode", json!(mode)));
    }
    if let Some(lacp) = row.non_empty_str("lacp") {
        keys.push(("LACP", json!(lacp)));
    }
    if let Some(ext) = map_json(row, "external_ids") {
        keys.push(("ExtID", ext));
    }
    let mut ovs = Map::new();
    if let Some(o) = map_json(row, "other_config") {
        ovs.insert("OtherConfig".into(), o);
    }
    keys.push(("Ovs", Value::Object(ovs)));
    keys
}

fn system_keys(row: &Row) -> Vec<(&'static str, Value)> {
    let mut ovs = Map::new();
    if let Some(v) = row.non_empty_str("ovs_version") {
        ovs.insert("Version".into(), json!(v));
    }
    if let Some(v) = row.non_empty_str("db_version") {
        ovs.insert("DBVersion".into(), json!(v));
    }
    if let Some(o) = map_json(row, "other_config") {
        ovs.insert("OtherConfig".into(), o);
    }
    let mut keys = vec![("Ovs", Value::Object(ovs))];
    if let Some(ext) = map_json(row, "external_ids") {
        keys.push(("ExtID", ext));
    }
    debug_assert!(keys.iter().all(|(k, _)| SYSTEM_KEYS.contains(k)));
    keys
}

/// Skydive's `InterfaceMetric` from OVS `statistics` keys.
fn ovs_metric(s: &BTreeMap<String, i64>) -> InterfaceMetric {
    let g = |k: &str| s.get(k).copied().unwrap_or(0).max(0);
    InterfaceMetric {
        collisions: g("collisions"),
        multicast: g("rx_multicast_packets"),
        rx_bytes: g("rx_bytes"),
        rx_crc_errors: g("rx_crc_err"),
        rx_dropped: g("rx_dropped"),
        rx_errors: g("rx_errors"),
        rx_frame_errors: g("rx_frame_err"),
        rx_missed_errors: g("rx_missed_errors"),
        rx_over_errors: g("rx_over_err"),
        rx_packets: g("rx_packets"),
        tx_bytes: g("tx_bytes"),
        tx_dropped: g("tx_dropped"),
        tx_errors: g("tx_errors"),
        tx_packets: g("tx_packets"),
        ..InterfaceMetric::default()
    }
}

#[cfg(test)]
mod tests;

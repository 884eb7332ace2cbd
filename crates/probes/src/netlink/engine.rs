//! The netlink listener of one namespace: keeps that namespace's interfaces in the graph.
//!
//! Life: open two sockets and an ethtool handle inside the namespace (on a `setns` thread),
//! subscribe to notifications, dump everything (links, addresses, routes, neighbours, FDB) into
//! the [`NsModel`] mirror, write the graph, then apply notifications as they come. After every
//! batch, the interfaces the batch touched are recomputed and written in one graph transaction
//! each (so one kernel change is one graph event per interface).
//!
//! - Overrun (`ENOBUFS`): the mirror is rebuilt from fresh dumps and the graph reconciled
//!   (interfaces that vanished meanwhile are deleted); counted in `Resyncs`/`Overruns`.
//! - Failure (socket error): logged, state `failed`, restarted with backoff; the first pass
//!   after a start adopts the nodes a previous run left in the graph.
//! - Stop: returns as soon as cancelled; nodes stay in the graph (the netns probe removes a
//!   vanished namespace's subtree itself).
//!
//! Edges: `ownership` root → interface; `layer2` master (bridge) → member; `layer2` lower
//! device → VLAN/macvlan/VXLAN child (edge `Type` = child kind); `layer2` between veth peers
//! (edge `Type: veth`, parent = the end with the larger ifindex), across namespaces too. Edge
//! IDs are deterministic, so both ends of a pair converge on the same edge. An edge whose other
//! end is not in the graph yet is retried (at the next batch, or within a second).
//!
//! Must not: hold the graph lock across an `.await`, or touch nodes it does not own (it only
//! deletes interface nodes whose ID it computes from its root and an ifindex).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use serde_json::{Value, json};
use skydive_graph::{Graph, Id, Metadata, SharedGraph, TimeMs};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ethtool::Ethtool;
use super::link::Link;
use super::metric::InterfaceMetric;
use super::model::{MANAGED_KEYS, NsModel};
use super::registry::{Cmd, EngineStats, KnownNamespaces, NamespaceRegistry, NsEntry};
use super::route::Route;
use super::socket::{self, NlError, RouteSocket, TOPOLOGY_GROUPS};
use crate::namespace::NsKey;
use crate::probe::ProbeState;
use crate::relation::{EdgeOutcome, EdgeSpec, LAYER2, OWNERSHIP, ensure_edge, remove_edge};
use crate::tid::{child_tid, interface_node_id};

/// Datagrams read before the graph is written (bounds the latency of a burst).
const BATCH_DATAGRAMS: usize = 64;
/// How often edges waiting for their other end are retried.
const RETRY_PERIOD: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// IFF_UP | IFF_RUNNING | IFF_LOWER_UP: a change means IPv4 routes may have gone silently.
const LINK_STATE_FLAGS: u32 = 1 | (1 << 6) | (1 << 16);

/// Runs a namespace's listener until cancelled, restarting it after failures.
pub(crate) async fn run(
    entry: Arc<NsEntry>,
    registry: Arc<NamespaceRegistry>,
    mut cmds: mpsc::Receiver<Cmd>,
    cancel: CancellationToken,
) {
    let label = entry.name.clone().unwrap_or_else(|| "host".into());
    let mut backoff = Duration::from_secs(1);
    loop {
        entry.stats.set_state(ProbeState::Starting);
        let result = async {
            let mut engine = Engine::open(entry.clone(), registry.clone()).await?;
            engine.run(&mut cmds, &cancel).await
        };
        let result = tokio::select! {
            _ = cancel.cancelled() => Ok(()),
            r = result => r,
        };
        match result {
            Ok(()) => {
                entry.stats.set_state(ProbeState::Stopped);
                return;
            }
            Err(e) => {
                tracing::warn!(namespace = %label, error = %e, "netlink listener failed; restarting in {backoff:?}");
                EngineStats::add(&entry.stats.failures, 1);
                entry.stats.set_state(ProbeState::Failed {
                    error: e.to_string(),
                });
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => {
                entry.stats.set_state(ProbeState::Stopped);
                return;
            }
            _ = tokio::time::sleep(backoff) => backoff = (backoff * 2).min(MAX_BACKOFF),
        }
    }
}

/// Where the other end of a link (veth peer, lower device) lives.
#[derive(Debug, Clone)]
enum Place {
    Here,
    There(Arc<NsEntry>),
    /// In a namespace the agent does not know (yet).
    Unknown,
}

#[derive(Debug, Default)]
struct NodeState {
    edges: Vec<EdgeSpec>,
    /// The veth peer: (its namespace, its ifindex).
    veth_peer: Option<(crate::namespace::NsKey, u32)>,
    /// Last counters written to `Metric`, and when (epoch ms).
    metric: Option<(InterfaceMetric, i64)>,
}

struct Engine {
    entry: Arc<NsEntry>,
    registry: Arc<NamespaceRegistry>,
    graph: SharedGraph,
    events: RouteSocket,
    dump: RouteSocket,
    ethtool: Ethtool,
    model: NsModel,
    nodes: HashMap<u32, NodeState>,
    dirty: BTreeSet<u32>,
    pending: BTreeSet<u32>,
    refresh: BTreeSet<u32>,
    ethtool_stale: BTreeSet<u32>,
    ipv4_routes_stale: bool,
    /// First graph pass after a start: prune edges of adopted nodes that are not wanted.
    adopting: bool,
    /// The registered namespaces, as of `known.generation`, re-read only when the registry's
    /// generation changes (every cross-namespace link is located on each flush), and shared
    /// with every other listener.
    known: Arc<KnownNamespaces>,
    /// The nsid each registered namespace has from here (`None`: it has none), asked once.
    nsids: HashMap<NsKey, Option<i32>>,
    /// The reverse of `nsids`.
    by_nsid: HashMap<i32, NsKey>,
    /// nsids no registered namespace had, with the registry generation when asked.
    nsid_misses: HashMap<i32, u64>,
}

impl Engine {
    async fn open(
        entry: Arc<NsEntry>,
        registry: Arc<NamespaceRegistry>,
    ) -> Result<Engine, NlError> {
        let rcvbuf = registry.config().socket_buffer_bytes;
        let label = entry.name.clone().unwrap_or_else(|| "host".into());
        let (events, dump, ethtool) = entry
            .handle
            .run_inside(&label, move || {
                Ok((
                    socket::open(TOPOLOGY_GROUPS, Some(rcvbuf))?,
                    socket::open(&[], None)?,
                    Ethtool::open()?,
                ))
            })
            .await?;
        Ok(Engine {
            graph: registry.graph().clone(),
            entry,
            registry,
            events: RouteSocket::new(events)?,
            dump: RouteSocket::new(dump)?,
            ethtool,
            model: NsModel::default(),
            nodes: HashMap::new(),
            dirty: BTreeSet::new(),
            pending: BTreeSet::new(),
            refresh: BTreeSet::new(),
            ethtool_stale: BTreeSet::new(),
            ipv4_routes_stale: false,
            adopting: true,
            known: Arc::default(),
            nsids: HashMap::new(),
            by_nsid: HashMap::new(),
            nsid_misses: HashMap::new(),
        })
    }

    fn stats(&self) -> &EngineStats {
        &self.entry.stats
    }

    async fn run(
        &mut self,
        cmds: &mut mpsc::Receiver<Cmd>,
        cancel: &CancellationToken,
    ) -> Result<(), NlError> {
        self.resync(true).await?;
        self.stats().set_state(ProbeState::Running);
        let period = Duration::from_secs(self.registry.config().metrics_update.max(1));
        let mut metrics = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        metrics.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retry = tokio::time::interval(RETRY_PERIOD);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(()),
                r = self.events.recv_notifications(&mut batch, BATCH_DATAGRAMS) => match r {
                    Ok(()) => {
                        EngineStats::add(&self.stats().events, batch.len() as u64);
                        for (flags, msg) in batch.drain(..) {
                            self.apply(flags, msg);
                        }
                        self.sync_counters();
                        self.flush().await?;
                    }
                    Err(NlError::Overrun | NlError::TooLarge(_)) => {
                        EngineStats::add(&self.stats().events, batch.len() as u64);
                        batch.clear();
                        EngineStats::add(&self.stats().overruns, 1);
                        self.events.discard_queued();
                        tracing::info!(namespace = ?self.entry.name, "netlink overrun: resynchronising");
                        self.resync(false).await?;
                    }
                    Err(e) => return Err(e),
                },
                Some(cmd) = cmds.recv() => {
                    self.command(cmd);
                    while let Ok(cmd) = cmds.try_recv() {
                        self.command(cmd);
                    }
                    self.flush().await?;
                }
                _ = metrics.tick() => self.poll_metrics().await?,
                _ = retry.tick(), if !self.pending.is_empty() => self.flush().await?,
            }
        }
    }

    fn sync_counters(&self) {
        let undecodable = self.events.undecodable + self.dump.undecodable;
        self.stats()
            .undecodable
            .store(undecodable, Ordering::Relaxed);
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::RefreshLink(idx) => {
                self.refresh.insert(idx);
            }
            Cmd::RegistryChanged => {
                self.refresh_known();
                let cross: Vec<u32> = self
                    .model
                    .links
                    .iter()
                    .filter(|(_, e)| e.link.link_netnsid.is_some())
                    .map(|(i, _)| *i)
                    .collect();
                self.dirty.extend(cross);
            }
        }
    }

    // ----- kernel → mirror -----

    fn apply(&mut self, nl_flags: u16, msg: RouteNetlinkMessage) {
        match msg {
            RouteNetlinkMessage::NewLink(l) => self.on_link_message(&l),
            RouteNetlinkMessage::DelLink(l) => {
                if l.header.interface_family == AddressFamily::Bridge {
                    // A port left its bridge (the link itself lives on): re-read it.
                    self.refresh.insert(l.header.index);
                } else {
                    self.on_link_deleted(l.header.index);
                }
            }
            RouteNetlinkMessage::NewAddress(a) => {
                self.dirty.extend(self.model.apply_address(true, &a))
            }
            RouteNetlinkMessage::DelAddress(a) => {
                self.dirty.extend(self.model.apply_address(false, &a))
            }
            RouteNetlinkMessage::NewRoute(r) => self
                .dirty
                .extend(self.model.apply_route(true, nl_flags, &r)),
            RouteNetlinkMessage::DelRoute(r) => self
                .dirty
                .extend(self.model.apply_route(false, nl_flags, &r)),
            RouteNetlinkMessage::NewNeighbour(n) => {
                self.dirty.extend(self.model.apply_neighbor(true, &n))
            }
            RouteNetlinkMessage::DelNeighbour(n) => {
                self.dirty.extend(self.model.apply_neighbor(false, &n))
            }
            _ => {}
        }
    }

    fn on_link_message(&mut self, l: &LinkMessage) {
        if l.header.interface_family == AddressFamily::Bridge {
            self.refresh.insert(l.header.index);
            return;
        }
        if let Some(link) = Link::from_message(l) {
            self.on_link(link);
        }
    }

    fn on_link(&mut self, link: Link) {
        let idx = link.index;
        let old_flags = self.model.links.get(&idx).map(|e| e.link.flags);
        let flags = link.flags;
        if self.model.set_link(link) {
            self.dirty.insert(idx);
            self.ethtool_stale.insert(idx);
        }
        if old_flags.is_some_and(|f| (f ^ flags) & LINK_STATE_FLAGS != 0) {
            // The kernel drops IPv4 routes of a link going down without notifying.
            self.ipv4_routes_stale = true;
        }
    }

    fn on_link_deleted(&mut self, idx: u32) {
        if self.model.remove_link(idx).is_some() {
            self.dirty.insert(idx);
        }
    }

    // ----- dumps -----

    async fn resync(&mut self, initial: bool) -> Result<(), NlError> {
        let links = self
            .dump
            .dump("link", RouteNetlinkMessage::GetLink(LinkMessage::default()))
            .await?;
        let addrs = self
            .dump
            .dump(
                "address",
                RouteNetlinkMessage::GetAddress(Default::default()),
            )
            .await?;
        let routes = self
            .dump
            .dump(
                "route",
                RouteNetlinkMessage::GetRoute(RouteMessage::default()),
            )
            .await?;
        let neighs = self
            .dump
            .dump(
                "neighbour",
                RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()),
            )
            .await?;
        let mut fdb_req = NeighbourMessage::default();
        fdb_req.header.family = AddressFamily::Bridge;
        let fdb = self
            .dump
            .dump("fdb", RouteNetlinkMessage::GetNeighbour(fdb_req))
            .await?;

        let mut model = NsModel::default();
        for m in &links {
            if let RouteNetlinkMessage::NewLink(l) = m
                && let Some(link) = Link::from_message(l)
            {
                model.set_link(link);
            }
        }
        for m in &addrs {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                model.apply_address(true, a);
            }
        }
        model.replace_routes(
            routes
                .iter()
                .filter_map(|m| match m {
                    RouteNetlinkMessage::NewRoute(r) => Route::from_message(r),
                    _ => None,
                })
                .collect(),
        );
        for m in neighs.iter().chain(&fdb) {
            if let RouteNetlinkMessage::NewNeighbour(n) = m {
                model.apply_neighbor(true, n);
            }
        }
        for e in model.links.values_mut() {
            e.ethtool = self.ethtool.info(&e.link.name);
        }

        let mut dirty: BTreeSet<u32> = self
            .model
            .links
            .keys()
            .chain(self.nodes.keys())
            .copied()
            .collect();
        dirty.extend(model.links.keys());
        if initial {
            dirty.extend(self.adoptable_nodes());
        } else {
            EngineStats::add(&self.stats().resyncs, 1);
        }
        self.model = model;
        self.ethtool_stale.clear();
        self.ipv4_routes_stale = false;
        self.refresh.clear();
        self.dirty.extend(dirty);
        self.sync_counters();
        self.flush().await
    }

    /// Interfaces a previous run left in the graph under this namespace's root.
    fn adoptable_nodes(&self) -> Vec<u32> {
        let g = self.graph.read();
        let root = &self.entry.root_id;
        g.node_edges(root)
            .filter(|e| e.parent == *root && e.metadata.get_str("RelationType") == Some(OWNERSHIP))
            .filter_map(|e| {
                let n = g.node(&e.child)?;
                let idx = u32::try_from(n.metadata.get_i64("IfIndex")?).ok()?;
                (interface_node_id(root, idx) == n.id).then_some(idx)
            })
            .collect()
    }

    async fn dump_ipv4_routes(&mut self) -> Result<(), NlError> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let msgs = self
            .dump
            .dump("route", RouteNetlinkMessage::GetRoute(req))
            .await?;
        let mut routes: Vec<Route> = msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => Route::from_message(r).filter(|r| !r.v6),
                _ => None,
            })
            .collect();
        routes.extend(self.model.routes.values().filter(|r| r.v6).cloned());
        let touched = self.model.replace_routes(routes);
        self.dirty.extend(touched);
        Ok(())
    }

    async fn nsid_of(&mut self, other: &NsEntry) -> Option<i32> {
        let mut req = NsidMessage::default();
        req.attributes.push(NsidAttribute::Fd(
            u32::try_from(other.handle.raw_fd()).ok()?,
        ));
        match self
            .dump
            .request("nsid", RouteNetlinkMessage::GetNsId(req), false)
            .await
        {
            Ok(replies) => replies.iter().find_map(|m| match m {
                RouteNetlinkMessage::NewNsId(n) => n.attributes.iter().find_map(|a| match a {
                    NsidAttribute::Id(id) if *id >= 0 => Some(*id),
                    _ => None,
                }),
                _ => None,
            }),
            Err(e) => {
                tracing::debug!(error = %e, "RTM_GETNSID failed");
                None
            }
        }
    }

    /// Re-reads the registered namespaces if they changed; returns the generation.
    fn refresh_known(&mut self) -> u64 {
        let generation = self.registry.generation();
        if self.known.generation == Some(generation) {
            return generation;
        }
        self.known = self.registry.known();
        let known = &self.known;
        self.nsids.retain(|k, _| known.by_key.contains_key(k));
        self.by_nsid.retain(|_, k| known.by_key.contains_key(k));
        known.generation.unwrap_or(generation)
    }

    /// Which registered namespace `nsid` (as seen from this namespace) names.
    async fn locate(&mut self, nsid: Option<i32>) -> Place {
        let Some(nsid) = nsid else { return Place::Here };
        let generation = self.refresh_known();
        if let Some(e) = self
            .by_nsid
            .get(&nsid)
            .and_then(|k| self.known.by_key.get(k))
        {
            return Place::There(e.clone());
        }
        if self.nsid_misses.get(&nsid) == Some(&generation) {
            return Place::Unknown;
        }
        // Ask the kernel for the nsids of the namespaces not asked yet, host first.
        let unasked: Vec<Arc<NsEntry>> = self
            .known
            .entries
            .iter()
            // A namespace that had no nsid may have one now (the kernel gives one when a
            // link first refers to it): asked again.
            .filter(|e| e.key != self.entry.key && !matches!(self.nsids.get(&e.key), Some(Some(_))))
            .cloned()
            .collect();
        for e in unasked {
            let id = self.nsid_of(&e).await;
            self.nsids.insert(e.key, id);
            if let Some(id) = id {
                self.by_nsid.insert(id, e.key);
            }
            if id == Some(nsid) {
                return Place::There(e);
            }
        }
        self.nsid_misses.insert(nsid, generation);
        Place::Unknown
    }

    // ----- mirror → graph -----

    /// Writes every dirty (and every pending) interface to the graph.
    async fn flush(&mut self) -> Result<(), NlError> {
        for _round in 0..4 {
            for idx in std::mem::take(&mut self.refresh) {
                let mut req = LinkMessage::default();
                req.header.index = idx;
                match self
                    .dump
                    .request("link", RouteNetlinkMessage::GetLink(req), false)
                    .await
                {
                    Ok(replies) => {
                        for m in &replies {
                            if let RouteNetlinkMessage::NewLink(l) = m {
                                self.on_link_message(l);
                            }
                        }
                        // A refreshed link is rewritten even if unchanged here: its peer moved.
                        if self.model.links.contains_key(&idx) {
                            self.dirty.insert(idx);
                        }
                    }
                    Err(e) if e.is_not_found() => self.on_link_deleted(idx),
                    Err(e) => return Err(e),
                }
            }
            // Refreshed links are AF_UNSPEC replies: no new refresh can come from them.
            self.refresh.clear();
            if std::mem::take(&mut self.ipv4_routes_stale) {
                self.dump_ipv4_routes().await?;
            }
            for idx in std::mem::take(&mut self.ethtool_stale) {
                if let Some(e) = self.model.links.get_mut(&idx) {
                    e.ethtool = self.ethtool.info(&e.link.name);
                }
            }
            let work: BTreeSet<u32> = self
                .dirty
                .iter()
                .chain(self.pending.iter())
                .copied()
                .collect();
            self.dirty.clear();
            if work.is_empty() {
                break;
            }
            let mut places = HashMap::new();
            for idx in &work {
                if let Some(nsid) = self.model.links.get(idx).and_then(|e| e.link.link_netnsid) {
                    places.insert(*idx, self.locate(Some(nsid)).await);
                }
            }
            let mut pokes: Vec<(Arc<NsEntry>, u32)> = Vec::new();
            let mut created = false;
            {
                let graph = self.graph.clone();
                let mut g = graph.write();
                let now = TimeMs::now().millis();
                for idx in work {
                    let place = places.remove(&idx).unwrap_or(Place::Here);
                    if self.model.links.contains_key(&idx) {
                        created |= self.write_interface(&mut g, idx, place, now, &mut pokes);
                    } else {
                        self.remove_interface(&mut g, idx, &mut pokes);
                    }
                }
            }
            if created {
                self.registry.notify_interfaces_changed();
            }
            self.adopting = false;
            self.stats()
                .interfaces
                .store(self.nodes.len() as u64, Ordering::Relaxed);
            for (target, idx) in pokes {
                target.request(Cmd::RefreshLink(idx), self.stats());
            }
            if self.refresh.is_empty() && self.dirty.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Writes one interface and its edges; returns whether its node was created.
    fn write_interface(
        &mut self,
        g: &mut Graph,
        idx: u32,
        place: Place,
        now: i64,
        pokes: &mut Vec<(Arc<NsEntry>, u32)>,
    ) -> bool {
        let root = self.entry.root_id.clone();
        let id = interface_node_id(&root, idx);
        let Some(mut meta) = self.model.interface_metadata(idx) else {
            return false;
        };
        let Some(e) = self.model.links.get(&idx) else {
            return false;
        };
        // An interface OVS also manages: OVS's type wins (Skydive's rule), TID included.
        let claims = self.registry.claims();
        claims.netlink_present(&id);
        let kind = match claims.type_override(&id) {
            Some(t) => {
                if let Some(slot) = meta.iter_mut().find(|(k, _)| *k == "Type") {
                    slot.1 = json!(t);
                }
                t
            }
            None => e.link_type().to_owned(),
        };
        meta.push((
            "TID",
            json!(child_tid(&self.entry.root_tid, &e.link.name, &kind)),
        ));
        if let Place::There(other) = &place
            && let Some(name) = &other.name
        {
            meta.push(("LinkNetNsName", json!(name)));
        }
        let state = self.nodes.entry(idx).or_default();
        let created = g.node(&id).is_none();
        if created {
            let mut md = Metadata::new();
            for (k, v) in &meta {
                md.set(k, v.clone());
            }
            if let Some(stats) = &e.link.stats {
                let cur = InterfaceMetric::from_stats(stats);
                if !cur.is_zero() {
                    md.set("Metric", cur.at(0, now).to_json());
                }
                state.metric = Some((cur, now));
            }
            if let Err(err) = g.create_node(id.clone(), md) {
                tracing::warn!(error = %err, "cannot create interface node");
                return false;
            }
        } else {
            let _ = g.update_node(&id, |m| {
                for k in MANAGED_KEYS {
                    match meta.iter().find(|(mk, _)| mk == k) {
                        Some((_, v)) => {
                            m.set(k, v.clone());
                        }
                        None => {
                            m.remove(k);
                        }
                    }
                }
            });
            if state.metric.is_none()
                && let Some(stats) = &e.link.stats
            {
                state.metric = Some((InterfaceMetric::from_stats(stats), now));
            }
        }

        // Edges this interface wants.
        let mut specs = vec![EdgeSpec::new(root.clone(), id.clone(), OWNERSHIP)];
        let mut unresolved = false;
        if let Some(m) = e.link.master
            && self
                .model
                .links
                .get(&m)
                .is_none_or(|x| x.link.name != "ovs-system")
        {
            specs.push(EdgeSpec::new(
                interface_node_id(&root, m),
                id.clone(),
                LAYER2,
            ));
        }
        let other_root = match &place {
            Place::Here => Some((self.entry.key, root.clone())),
            Place::There(o) => Some((o.key, o.root_id.clone())),
            Place::Unknown => None,
        };
        let mut veth_peer = None;
        if e.is_veth() {
            if let Some(p) = e.link.link {
                match &other_root {
                    Some((key, peer_root)) => {
                        let peer_id = interface_node_id(peer_root, p);
                        let (parent, child) = if (idx, &id) > (p, &peer_id) {
                            (id.clone(), peer_id)
                        } else {
                            (peer_id, id.clone())
                        };
                        specs.push(EdgeSpec::new(parent, child, LAYER2).with("Type", "veth"));
                        veth_peer = Some((*key, p));
                    }
                    None => unresolved = true,
                }
            }
        } else {
            let lower = if e.link.kind.as_deref() == Some("vxlan") {
                e.link.vxlan_link
            } else {
                e.link.link
            };
            if let Some(lower) = lower.filter(|l| *l != idx || e.link.link_netnsid.is_some()) {
                match &other_root {
                    Some((_, lower_root)) => specs.push(
                        EdgeSpec::new(interface_node_id(lower_root, lower), id.clone(), LAYER2)
                            .with("Type", e.link_type().to_owned()),
                    ),
                    None => unresolved = true,
                }
            }
        }

        let state = self.nodes.entry(idx).or_default();
        for old in &state.edges {
            if !specs.iter().any(|s| s.id == old.id) {
                remove_edge(g, &old.id);
            }
        }
        let old_peer = state.veth_peer;
        state.edges = specs.clone();
        state.veth_peer = veth_peer;
        if self.adopting {
            prune_unwanted_edges(g, &id, &specs, unresolved);
        }
        let mut missing = unresolved;
        for s in &specs {
            missing |= ensure_edge(g, s) == EdgeOutcome::MissingEnd;
        }
        if missing {
            self.pending.insert(idx);
        } else {
            self.pending.remove(&idx);
        }
        // The peer's side is not notified when this end appears or moves: ask it to re-read.
        if veth_peer != old_peer || created {
            if let (Some((key, p)), Place::There(other)) = (veth_peer, &place)
                && key == other.key
            {
                pokes.push((other.clone(), p));
            }
            if let Some(old) = old_peer.filter(|o| Some(*o) != veth_peer) {
                self.poke(old, pokes);
            }
        }
        created
    }

    fn remove_interface(&mut self, g: &mut Graph, idx: u32, pokes: &mut Vec<(Arc<NsEntry>, u32)>) {
        let id = interface_node_id(&self.entry.root_id, idx);
        let state = self.nodes.remove(&idx);
        if self.registry.claims().netlink_left(&id) {
            self.registry.notify_interfaces_changed();
            // OVS still describes this interface: leave the node to the ovsdb probe, without
            // what the kernel said about it.
            for e in state.iter().flat_map(|s| &s.edges) {
                remove_edge(g, &e.id);
            }
            let _ = g.update_node(&id, |m| {
                for k in MANAGED_KEYS
                    .iter()
                    .chain(&["Metric", "LastUpdateMetric"])
                    .filter(|k| !matches!(**k, "Name" | "Type"))
                {
                    m.remove(k);
                }
            });
        } else if g.node(&id).is_some() {
            let _ = g.delete_node(&id);
        }
        self.pending.remove(&idx);
        if let Some(peer) = state.and_then(|s| s.veth_peer) {
            self.poke(peer, pokes);
        }
    }

    fn poke(
        &mut self,
        (key, idx): (crate::namespace::NsKey, u32),
        pokes: &mut Vec<(Arc<NsEntry>, u32)>,
    ) {
        if key == self.entry.key {
            self.refresh.insert(idx);
        } else if let Some(other) = self.registry.get(key) {
            pokes.push((other, idx));
        }
    }

    // ----- counters -----

    async fn poll_metrics(&mut self) -> Result<(), NlError> {
        let msgs = self
            .dump
            .dump("link", RouteNetlinkMessage::GetLink(LinkMessage::default()))
            .await?;
        let mut seen = BTreeSet::new();
        for m in &msgs {
            if let RouteNetlinkMessage::NewLink(l) = m
                && let Some(link) = Link::from_message(l)
            {
                seen.insert(link.index);
                self.on_link(link);
            }
        }
        let gone: Vec<u32> = self
            .model
            .links
            .keys()
            .filter(|i| !seen.contains(i))
            .copied()
            .collect();
        for idx in gone {
            self.on_link_deleted(idx);
        }
        self.flush().await?;

        let now = TimeMs::now().millis();
        let graph = self.graph.clone();
        let mut g = graph.write();
        for (idx, state) in self.nodes.iter_mut() {
            let Some(stats) = self
                .model
                .links
                .get(idx)
                .and_then(|e| e.link.stats.as_ref())
            else {
                continue;
            };
            let cur = InterfaceMetric::from_stats(stats);
            if cur.is_zero() {
                continue;
            }
            let last_update = match state.metric {
                Some((prev, at)) => {
                    let d = cur.delta(&prev);
                    if d.is_zero() {
                        continue;
                    }
                    Some(d.at(at, now))
                }
                None => None,
            };
            let id = interface_node_id(&self.entry.root_id, *idx);
            let _ = g.update_node(&id, |m| {
                m.set("Metric", cur.at(0, now).to_json());
                if let Some(d) = last_update {
                    m.set("LastUpdateMetric", d.to_json());
                }
            });
            state.metric = Some((cur, now));
        }
        Ok(())
    }
}

/// On adoption, removes `layer2` edges touching `node` that it does not want any more: those
/// where it is the child, and veth edges when its own peer is known.
fn prune_unwanted_edges(g: &mut Graph, node: &Id, wanted: &[EdgeSpec], peer_unknown: bool) {
    let stale: Vec<Id> = g
        .node_edges(node)
        .filter(|e| e.metadata.get_str("RelationType") == Some(LAYER2))
        .filter(|e| !wanted.iter().any(|w| w.id == e.id))
        .filter(|e| {
            let veth = e.metadata.get("Type") == Some(&Value::from("veth"));
            (e.child == *node && !veth) || (veth && !peer_unknown)
        })
        // Only edges between interfaces are netlink's (an OVS port → interface edge is not).
        .filter(|e| {
            e.other_end(node)
                .and_then(|o| g.node(o))
                .is_some_and(|o| o.metadata.get("IfIndex").is_some())
        })
        .map(|e| e.id.clone())
        .collect();
    for id in stale {
        remove_edge(g, &id);
    }
}

//! The network namespaces the agent knows (its own, plus those the netns probe found), each with
//! its netlink listener ([`super::engine`]) once the netlink probe is enabled.
//!
//! The registry is how listeners find each other: a veth whose peer is in another namespace
//! names it by a namespace id (`IFLA_LINK_NETNSID`); the listener maps that id to a registered
//! namespace (asking the kernel, `RTM_GETNSID`, with each namespace's fd) to know the peer's
//! node, and sends that namespace's listener a refresh request for the peer, because the kernel
//! does not notify the peer's side when one end of a pair changes namespace.
//!
//! Locking: one mutex, held only for map operations, never across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use skydive_graph::{Id, SharedGraph};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::NetlinkConfig;
use super::engine;
use crate::interface_claims::InterfaceClaims;
use crate::namespace::{NsHandle, NsKey};
use crate::probe::{NamespaceStatus, ProbeState};

/// Capacity of a listener's request queue (refresh requests from other namespaces).
const COMMAND_QUEUE: usize = 256;

/// A request to a namespace listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmd {
    /// Re-read one interface (its veth peer moved or vanished).
    RefreshLink(u32),
    /// A namespace was added or removed: re-resolve cross-namespace peers.
    RegistryChanged,
}

/// Counters and state of one listener.
#[derive(Debug)]
pub(crate) struct EngineStats {
    pub state: Mutex<ProbeState>,
    pub events: AtomicU64,
    pub resyncs: AtomicU64,
    pub overruns: AtomicU64,
    pub undecodable: AtomicU64,
    pub failures: AtomicU64,
    pub dropped_requests: AtomicU64,
    pub interfaces: AtomicU64,
}

impl Default for EngineStats {
    fn default() -> Self {
        EngineStats {
            state: Mutex::new(ProbeState::Starting),
            events: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            overruns: AtomicU64::new(0),
            undecodable: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            dropped_requests: AtomicU64::new(0),
            interfaces: AtomicU64::new(0),
        }
    }
}

impl EngineStats {
    pub fn set_state(&self, s: ProbeState) {
        *self.state.lock() = s;
    }
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// One registered namespace.
#[derive(Debug)]
pub(crate) struct NsEntry {
    pub key: NsKey,
    /// `None` for the agent's own namespace.
    pub name: Option<String>,
    pub path: Option<String>,
    /// The node that owns this namespace's interfaces (host or netns node).
    pub root_id: Id,
    pub root_tid: String,
    pub handle: NsHandle,
    pub cmd: mpsc::Sender<Cmd>,
    pub stats: Arc<EngineStats>,
}

impl NsEntry {
    /// Sends a request without waiting; a full queue drops it (counted on `from`).
    pub fn request(&self, cmd: Cmd, from: &EngineStats) {
        if self.cmd.try_send(cmd).is_err() {
            EngineStats::add(&from.dropped_requests, 1);
        }
    }
}

struct Slot {
    entry: Arc<NsEntry>,
    rx: Option<mpsc::Receiver<Cmd>>,
    engine: Option<(CancellationToken, JoinHandle<()>)>,
}

struct Inner {
    enabled: bool,
    generation: u64,
    slots: BTreeMap<NsKey, Slot>,
    /// The registered namespaces as of `generation`, built on first demand after a change.
    known: Option<Arc<KnownNamespaces>>,
}

/// The registered namespaces at one generation, indexed. One copy is shared by every listener:
/// a copy per listener made N namespaces hold N² entries, rebuilt N times on every change
/// (1000 namespaces: +55 MiB resident and most of the agent's CPU under namespace churn).
#[derive(Debug, Default)]
pub(crate) struct KnownNamespaces {
    /// `None` for the empty placeholder a listener starts with.
    pub generation: Option<u64>,
    /// The host namespace first: most cross-namespace links lead there.
    pub entries: Vec<Arc<NsEntry>>,
    pub by_key: HashMap<NsKey, Arc<NsEntry>>,
}

/// The namespaces known to the agent and their netlink listeners.
pub struct NamespaceRegistry {
    graph: SharedGraph,
    config: NetlinkConfig,
    host_key: NsKey,
    inner: Mutex<Inner>,
    /// Netlink nodes the `ovsdb` probe merged into (see [`InterfaceClaims`]).
    claims: InterfaceClaims,
    /// Signalled after a listener created interface nodes, or left one to the `ovsdb` probe
    /// (which then looks for interfaces to merge or to take back).
    interfaces_changed: Notify,
}

impl std::fmt::Debug for NamespaceRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceRegistry")
            .field("host_key", &self.host_key)
            .finish_non_exhaustive()
    }
}

impl NamespaceRegistry {
    /// A registry holding the agent's own namespace, owned by the host node.
    pub(crate) fn new(
        graph: SharedGraph,
        config: NetlinkConfig,
        host: NsHandle,
        host_root: Id,
        host_tid: String,
    ) -> Arc<Self> {
        let host_key = host.key();
        let reg = Arc::new(NamespaceRegistry {
            graph,
            config,
            host_key,
            inner: Mutex::new(Inner {
                enabled: false,
                generation: 0,
                slots: BTreeMap::new(),
                known: None,
            }),
            claims: InterfaceClaims::default(),
            interfaces_changed: Notify::new(),
        });
        reg.add(host, None, None, host_root, host_tid);
        reg
    }

    /// Identity of the agent's own namespace.
    pub fn host_key(&self) -> NsKey {
        self.host_key
    }

    pub(crate) fn graph(&self) -> &SharedGraph {
        &self.graph
    }

    pub(crate) fn config(&self) -> &NetlinkConfig {
        &self.config
    }

    /// Netlink nodes the `ovsdb` probe merged into.
    pub(crate) fn claims(&self) -> &InterfaceClaims {
        &self.claims
    }

    /// Tells the (one) waiter of [`NamespaceRegistry::interfaces_changed`] that interface
    /// nodes were created or left to OVS; a signal with nobody waiting is kept for the next
    /// wait.
    pub(crate) fn notify_interfaces_changed(&self) {
        self.interfaces_changed.notify_one();
    }

    /// Resolves after a listener created interface nodes or left one to OVS.
    pub(crate) async fn interfaces_changed(&self) {
        self.interfaces_changed.notified().await
    }

    /// Asks the listener of namespace `key` to re-read interface `ifindex` (fire and forget:
    /// a full queue drops the request). Returns whether it was queued.
    pub(crate) fn request_refresh(&self, key: NsKey, ifindex: u32) -> bool {
        self.get(key)
            .is_some_and(|e| e.cmd.try_send(Cmd::RefreshLink(ifindex)).is_ok())
    }

    /// Starts listeners in every registered namespace, and in those registered later.
    pub(crate) fn enable(self: &Arc<Self>) {
        let mut inner = self.inner.lock();
        inner.enabled = true;
        for slot in inner.slots.values_mut() {
            self.spawn(slot);
        }
    }

    fn spawn(self: &Arc<Self>, slot: &mut Slot) {
        if slot.engine.is_some() {
            return;
        }
        let Some(rx) = slot.rx.take() else { return };
        let cancel = CancellationToken::new();
        let task = tokio::spawn(engine::run(
            slot.entry.clone(),
            self.clone(),
            rx,
            cancel.clone(),
        ));
        slot.engine = Some((cancel, task));
    }

    /// Registers a namespace (a no-op if already known) and starts its listener when enabled.
    pub(crate) fn add(
        self: &Arc<Self>,
        handle: NsHandle,
        name: Option<String>,
        path: Option<String>,
        root_id: Id,
        root_tid: String,
    ) -> bool {
        let key = handle.key();
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let entry = Arc::new(NsEntry {
            key,
            name,
            path,
            root_id,
            root_tid,
            handle,
            cmd: tx,
            stats: Arc::default(),
        });
        let mut inner = self.inner.lock();
        if inner.slots.contains_key(&key) {
            return false;
        }
        let mut slot = Slot {
            entry,
            rx: Some(rx),
            engine: None,
        };
        if inner.enabled {
            self.spawn(&mut slot);
        }
        inner.slots.insert(key, slot);
        inner.generation += 1;
        inner.known = None;
        Self::broadcast(&inner, key);
        true
    }

    /// Unregisters a namespace, stopping its listener and waiting for it to end. The graph is
    /// left as is (the caller removes the namespace's nodes).
    pub(crate) async fn remove(&self, key: NsKey) {
        let slot = {
            let mut inner = self.inner.lock();
            let slot = inner.slots.remove(&key);
            inner.generation += 1;
            inner.known = None;
            Self::broadcast(&inner, key);
            slot
        };
        if let Some(Slot {
            engine: Some((cancel, task)),
            ..
        }) = slot
        {
            cancel.cancel();
            let _ = task.await;
        }
    }

    fn broadcast(inner: &Inner, except: NsKey) {
        for (k, s) in &inner.slots {
            if *k != except {
                let _ = s.entry.cmd.try_send(Cmd::RegistryChanged);
            }
        }
    }

    /// The current generation (bumped on every add/remove): cheap, for callers that keep
    /// [`NamespaceRegistry::known`] until it changes.
    pub(crate) fn generation(&self) -> u64 {
        self.inner.lock().generation
    }

    /// The registered namespaces at the current generation, shared: built once per change by
    /// the first listener asking, then handed out as the same `Arc`.
    pub(crate) fn known(&self) -> Arc<KnownNamespaces> {
        let mut inner = self.inner.lock();
        if let Some(k) = &inner.known {
            return k.clone();
        }
        let mut entries: Vec<Arc<NsEntry>> =
            inner.slots.values().map(|s| s.entry.clone()).collect();
        entries.sort_by_key(|e| e.key != self.host_key);
        let by_key = entries.iter().map(|e| (e.key, e.clone())).collect();
        let known = Arc::new(KnownNamespaces {
            generation: Some(inner.generation),
            entries,
            by_key,
        });
        inner.known = Some(known.clone());
        known
    }

    /// The current generation and the registered namespaces, as a fresh list.
    pub(crate) fn snapshot(&self) -> (u64, Vec<Arc<NsEntry>>) {
        let inner = self.inner.lock();
        (
            inner.generation,
            inner.slots.values().map(|s| s.entry.clone()).collect(),
        )
    }

    pub(crate) fn get(&self, key: NsKey) -> Option<Arc<NsEntry>> {
        self.inner.lock().slots.get(&key).map(|s| s.entry.clone())
    }

    /// Stops every listener (the namespaces stay registered, the graph untouched).
    pub(crate) async fn shutdown(&self) {
        let engines: Vec<_> = {
            let mut inner = self.inner.lock();
            inner.enabled = false;
            inner
                .slots
                .values_mut()
                .filter_map(|s| s.engine.take())
                .collect()
        };
        for (cancel, _) in &engines {
            cancel.cancel();
        }
        for (_, task) in engines {
            let _ = task.await;
        }
    }

    /// One status per listener, the agent's namespace first.
    pub fn statuses(&self) -> Vec<NamespaceStatus> {
        let inner = self.inner.lock();
        let mut out: Vec<NamespaceStatus> = inner
            .slots
            .values()
            .map(|s| {
                let e = &s.entry;
                let st = &e.stats;
                let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
                let state = if s.engine.is_some() {
                    st.state.lock().clone()
                } else {
                    ProbeState::Stopped
                };
                NamespaceStatus {
                    namespace: e.name.clone().unwrap_or_else(|| "host".into()),
                    path: e.path.clone(),
                    state,
                    interfaces: load(&st.interfaces),
                    events: load(&st.events),
                    resyncs: load(&st.resyncs),
                    overruns: load(&st.overruns),
                    undecodable: load(&st.undecodable),
                    failures: load(&st.failures),
                    dropped_requests: load(&st.dropped_requests),
                }
            })
            .collect();
        out.sort_by_key(|s| (s.path.is_some(), s.namespace.clone()));
        out
    }

    /// State of the listener in the agent's own namespace.
    pub fn host_state(&self) -> ProbeState {
        let inner = self.inner.lock();
        match inner.slots.get(&self.host_key) {
            Some(s) if s.engine.is_some() => s.entry.stats.state.lock().clone(),
            _ => ProbeState::Stopped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skydive_graph::GraphOptions;

    fn registry() -> Arc<NamespaceRegistry> {
        let host = NsHandle::current().expect("this process's namespace");
        NamespaceRegistry::new(
            SharedGraph::new(GraphOptions::new("h", "agent.h")),
            NetlinkConfig::default(),
            host,
            Id::from("host-node"),
            "host-tid".to_owned(),
        )
    }

    #[tokio::test]
    async fn listeners_share_one_copy_of_the_namespaces_per_generation() {
        let reg = registry();
        let a = reg.known();
        let b = reg.known();
        assert!(Arc::ptr_eq(&a, &b), "one copy for every listener");
        assert_eq!(a.generation, Some(reg.generation()));
        assert_eq!(a.entries.len(), 1);
        assert!(a.by_key.contains_key(&reg.host_key()));

        // A change makes a new copy; the old one stays whole for whoever still holds it.
        reg.remove(reg.host_key()).await;
        let c = reg.known();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(c.generation, Some(reg.generation()));
        assert!(c.entries.is_empty() && c.by_key.is_empty());
        assert_eq!(a.entries.len(), 1);
    }
}

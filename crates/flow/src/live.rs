//! [`LiveFlows`]: the analyzer's state of the flows active now, fed by the flow updates agents
//! send (each carries the flow's whole-life `Metric` and its `LastUpdateMetric`), read by
//! queries without a time context (`G.Flows()`).
//!
//! - **One entry per flow `UUID`**, holding the latest update as an `Arc<Flow>`: a query's
//!   snapshot costs one reference count per flow, never a copy.
//! - **Finished flows leave** as soon as their final update (`FinishType` set: TCP FIN/RST, or
//!   TIMEOUT) arrives. **Idle flows leave** when no update came for `flow.expire`
//!   ([`LiveFlows::expire`], called periodically by the owner): the safety net for an agent
//!   that went away without sending final updates. Idleness is measured on the analyzer's
//!   clock (when updates arrived), so agents' clocks do not matter.
//! - **Out-of-order updates** (an update whose `Last` is older than the one kept) are ignored
//!   and counted as stale.
//! - **Bounded** by `max_flows`: an update for a new flow that does not fit is dropped and
//!   counted (not intended: raise the bound); flows already tracked keep being updated.
//!
//! Thread-safe (a read-write lock); `apply` takes the write lock once per batch. No I/O, no
//! async: the owner decides when to call [`LiveFlows::expire`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use crate::flow::Flow;
use crate::table::{DEFAULT_EXPIRE_SECS, DEFAULT_MAX_ENTRIES};

/// How live flows are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConfig {
    /// Most flows kept (default 500000, as `flow.max_entries`).
    pub max_flows: usize,
    /// A flow without updates for this long is dropped (`flow.expire`, default 600 s).
    pub expire: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            max_flows: DEFAULT_MAX_ENTRIES,
            expire: Duration::from_secs(DEFAULT_EXPIRE_SECS),
        }
    }
}

/// Counters of a [`LiveFlows`], cumulative since it was created (but `flows`: now).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LiveStats {
    /// Flows kept now.
    pub flows: u64,
    /// Updates applied (kept, or final updates that removed their flow).
    pub updates_applied: u64,
    /// Updates older than the state kept (out-of-order delivery): ignored.
    pub updates_stale: u64,
    /// Updates of new flows refused because `max_flows` flows were kept. Not intended.
    pub updates_dropped: u64,
    /// Updates without a `UUID`: ignored.
    pub updates_invalid: u64,
    /// Flows removed by their final update (`FinishType` set).
    pub flows_finished: u64,
    /// Flows removed after `expire` without updates.
    pub flows_expired: u64,
}

/// What one [`LiveFlows::apply`] did with its batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub applied: u64,
    pub stale: u64,
    pub dropped: u64,
    pub invalid: u64,
}

struct Entry {
    flow: Arc<Flow>,
    /// When its latest update arrived (analyzer clock, epoch ms).
    seen_ms: i64,
}

#[derive(Default)]
struct State {
    flows: HashMap<Arc<str>, Entry>,
    /// NodeTID → UUIDs of the flows captured there.
    by_node: HashMap<Arc<str>, HashSet<Arc<str>>>,
}

impl State {
    fn remove(&mut self, uuid: &str) -> Option<Entry> {
        let (key, entry) = self.flows.remove_entry(uuid)?;
        self.unindex(&entry.flow.node_tid, &key);
        Some(entry)
    }

    fn index(&mut self, node_tid: &str, uuid: Arc<str>) {
        match self.by_node.get_mut(node_tid) {
            Some(set) => {
                set.insert(uuid);
            }
            None => {
                self.by_node.insert(node_tid.into(), HashSet::from([uuid]));
            }
        }
    }

    fn unindex(&mut self, node_tid: &str, uuid: &str) {
        if let Some(set) = self.by_node.get_mut(node_tid) {
            set.remove(uuid);
            if set.is_empty() {
                self.by_node.remove(node_tid);
            }
        }
    }
}

#[derive(Default)]
struct Counters {
    applied: AtomicU64,
    stale: AtomicU64,
    dropped: AtomicU64,
    invalid: AtomicU64,
    finished: AtomicU64,
    expired: AtomicU64,
}

/// The flows active now, by UUID. See the module docs.
pub struct LiveFlows {
    cfg: LiveConfig,
    state: RwLock<State>,
    counters: Counters,
}

impl std::fmt::Debug for LiveFlows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFlows")
            .field("cfg", &self.cfg)
            .field("flows", &self.len())
            .finish()
    }
}

impl Default for LiveFlows {
    fn default() -> Self {
        LiveFlows::new(LiveConfig::default())
    }
}

impl LiveFlows {
    pub fn new(cfg: LiveConfig) -> Self {
        LiveFlows {
            cfg,
            state: RwLock::new(State::default()),
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &LiveConfig {
        &self.cfg
    }

    // A panic while holding the lock cannot leave the maps half-updated in a way that
    // matters more than losing the service: keep serving.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a batch of flow updates that arrived at `now_ms` (epoch ms, analyzer clock).
    /// Takes `Flow`s or `Arc<Flow>`s: a batch stored first by reference
    /// (`FlowStore::store(&batch)`) then moves here without a copy.
    pub fn apply<I>(&self, updates: I, now_ms: i64) -> Applied
    where
        I: IntoIterator,
        I::Item: Into<Arc<Flow>>,
    {
        let mut out = Applied::default();
        let mut finished = 0;
        {
            let mut st = self.write();
            for flow in updates {
                match Self::apply_one(&mut st, flow.into(), now_ms, self.cfg.max_flows) {
                    Outcome::Kept => out.applied += 1,
                    Outcome::Finished(removed) => {
                        out.applied += 1;
                        finished += u64::from(removed);
                    }
                    Outcome::Stale => out.stale += 1,
                    Outcome::Dropped => out.dropped += 1,
                    Outcome::Invalid => out.invalid += 1,
                }
            }
        }
        let c = &self.counters;
        c.applied.fetch_add(out.applied, Ordering::Relaxed);
        c.stale.fetch_add(out.stale, Ordering::Relaxed);
        c.dropped.fetch_add(out.dropped, Ordering::Relaxed);
        c.invalid.fetch_add(out.invalid, Ordering::Relaxed);
        c.finished.fetch_add(finished, Ordering::Relaxed);
        out
    }

    fn apply_one(st: &mut State, flow: Arc<Flow>, now_ms: i64, max: usize) -> Outcome {
        if flow.uuid.is_empty() {
            return Outcome::Invalid;
        }
        let Some((key, kept)) = st.flows.get_key_value(flow.uuid.as_str()) else {
            if !flow.finish_type.is_not_finished() {
                return Outcome::Finished(false);
            }
            if st.flows.len() >= max {
                return Outcome::Dropped;
            }
            let uuid: Arc<str> = flow.uuid.as_str().into();
            st.index(&flow.node_tid, uuid.clone());
            let entry = Entry {
                flow,
                seen_ms: now_ms,
            };
            st.flows.insert(uuid, entry);
            return Outcome::Kept;
        };
        if flow.last < kept.flow.last {
            return Outcome::Stale;
        }
        if !flow.finish_type.is_not_finished() {
            st.remove(&flow.uuid);
            return Outcome::Finished(true);
        }
        // A UUID names one capture point, so its NodeTID never changes; should an agent
        // say otherwise, the index follows.
        if kept.flow.node_tid != flow.node_tid {
            let (key, old) = (key.clone(), kept.flow.node_tid.clone());
            st.unindex(&old, &key);
            st.index(&flow.node_tid, key);
        }
        if let Some(kept) = st.flows.get_mut(flow.uuid.as_str()) {
            kept.flow = flow;
            kept.seen_ms = now_ms;
        }
        Outcome::Kept
    }

    /// Removes the flows without updates for `expire` as of `now_ms`; returns how many.
    pub fn expire(&self, now_ms: i64) -> usize {
        let expire_ms = i64::try_from(self.cfg.expire.as_millis()).unwrap_or(i64::MAX);
        let deadline = now_ms.saturating_sub(expire_ms);
        let mut st = self.write();
        let idle: Vec<Arc<str>> = st
            .flows
            .iter()
            .filter(|(_, e)| e.seen_ms <= deadline)
            .map(|(k, _)| k.clone())
            .collect();
        for uuid in &idle {
            st.remove(uuid);
        }
        drop(st);
        self.counters
            .expired
            .fetch_add(idle.len() as u64, Ordering::Relaxed);
        idle.len()
    }

    /// Every flow kept, in no particular order.
    pub fn snapshot(&self) -> Vec<Arc<Flow>> {
        self.read().flows.values().map(|e| e.flow.clone()).collect()
    }

    /// The flows captured on `node_tids` (all flows for `None`) that `keep` accepts, at
    /// most `limit` of them (which ones is unspecified). The filter runs after the lock
    /// is released: writers never wait for a query's predicates.
    pub fn select(
        &self,
        node_tids: Option<&[String]>,
        keep: impl Fn(&Flow) -> bool,
        limit: Option<usize>,
    ) -> Vec<Arc<Flow>> {
        let candidates: Vec<Arc<Flow>> = {
            let st = self.read();
            match node_tids {
                None => st.flows.values().map(|e| e.flow.clone()).collect(),
                Some(tids) => {
                    let mut seen: HashSet<&str> = HashSet::new();
                    tids.iter()
                        .filter(|t| seen.insert(t.as_str()))
                        .filter_map(|t| st.by_node.get(t.as_str()))
                        .flatten()
                        .filter_map(|uuid| st.flows.get(uuid))
                        .map(|e| e.flow.clone())
                        .collect()
                }
            }
        };
        let kept = candidates.into_iter().filter(|f| keep(f));
        match limit {
            Some(n) => kept.take(n).collect(),
            None => kept.collect(),
        }
    }

    /// The flow with this UUID, if kept.
    pub fn get(&self, uuid: &str) -> Option<Arc<Flow>> {
        self.read().flows.get(uuid).map(|e| e.flow.clone())
    }

    pub fn len(&self) -> usize {
        self.read().flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters for `/api/status` and `/metrics`.
    pub fn stats(&self) -> LiveStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LiveStats {
            flows: self.len() as u64,
            updates_applied: get(&c.applied),
            updates_stale: get(&c.stale),
            updates_dropped: get(&c.dropped),
            updates_invalid: get(&c.invalid),
            flows_finished: get(&c.finished),
            flows_expired: get(&c.expired),
        }
    }
}

enum Outcome {
    Kept,
    /// A final update; whether it removed a kept flow.
    Finished(bool),
    Stale,
    Dropped,
    Invalid,
}

#[cfg(test)]
mod tests;

//! [`FlowStore`]: every flow update the analyzer receives, kept for `At(…)` queries on flows
//! and for `Metrics()` time series.
//!
//! - **Where**: in the same fjall database as topology history (`<data_dir>/db`), keyspaces
//!   `flow_*` (layout in `flow_codec`): [`crate::HistoryStore::flow_store`] opens it on the
//!   history store's database; [`FlowStore::open`] opens the database alone when there is no
//!   history store.
//! - **Writing**: [`FlowStore::store`] encodes the updates on the caller's thread and queues
//!   them; a writer thread writes what is queued as atomic batches (each update and its
//!   index entries together), flushed to the OS at once and synced to disk every
//!   `fsync_ms`. It never blocks: when `buffer_flows` updates are already queued, the rest
//!   are dropped and counted (`FlowsDropped`), as Skydive's analyzer dropped flows beyond
//!   `analyzer.flow.max_buffer_size`.
//! - **Searching**: [`FlowStore::search`] answers "the flows active during `[start, last]`":
//!   for each flow UUID its latest update whose `Last` is in `[start − flow.expire, last]`
//!   (Skydive's rule: a flow stays in its agent's table `flow.expire` after its last packet,
//!   so a flow last seen a little before the slice was still live during it). Newest first.
//!   NodeTIDs and TrackingIDs are indexed: `Flows()` on nodes and `Has('TrackingID', …)`
//!   read only their own entries. [`FlowStore::metrics`] reads the `LastUpdateMetric` series
//!   of given UUIDs from their own index.
//! - **Retention**: updates whose `Last` is older than `retention_secs` are deleted every
//!   `retention_check_secs`, index entries with them.
//! - **Bounds**: a search returns at most `max_results` flows (its `limit` when smaller,
//!   else an error: [`StoreError::TooManyFlows`]).
//!
//! Must not: know about Gremlin (the server turns a query's flow request into a
//! [`FlowSearch`] with a plain predicate), or block the caller of `store`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::{Sender, bounded, unbounded};
use fjall::{PersistMode, Readable};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use skydive_flow::{DEFAULT_EXPIRE_SECS, Flow, FlowMetric};
use skydive_graph::{TimeMs, TimeSlice};

use crate::db::{Db, KS_FLOW_BY_NODE, KS_FLOW_BY_TRACKING, KS_FLOW_BY_UUID, KS_FLOW_RECORDS};
use crate::flow_codec::{
    MAX_ID_LEN, decode_flow, decode_metric, encode_flow, encode_metric, id_prefix, parse_index_key,
    parse_record_key, record_key, time_range,
};
use crate::flow_writer::{self, Encoded, FlowCounters, FlowMsg};
use crate::{DEFAULT_RETENTION_SECS, StoreError};

/// How flows are stored. Every field has a default, so an empty section is valid.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowStoreConfig {
    /// Directory of the database (`<data_dir>/db`), for [`FlowStore::open`] only: a flow
    /// store opened from a history store uses the history store's. Default `/var/lib/skydive`.
    pub data_dir: PathBuf,
    /// `storage.flows_retention_secs`: how long flow updates are kept, in seconds; `0` keeps
    /// them forever. Default: `storage.retention_secs` (7 days).
    pub retention_secs: u64,
    /// How often old updates are deleted; `0` only when asked. Default 60.
    pub retention_check_secs: u64,
    /// At most this many milliseconds of written updates may be lost if the machine goes
    /// down; `0` syncs every batch. Default 1000.
    pub fsync_ms: u64,
    /// Updates that may wait for the writer thread; beyond, updates are dropped and counted
    /// (Skydive's `analyzer.flow.max_buffer_size`). Default 100000.
    pub buffer_flows: usize,
    /// Most flows (or metric points) one search returns. Default 100000.
    pub max_results: usize,
}

impl Default for FlowStoreConfig {
    fn default() -> Self {
        FlowStoreConfig {
            data_dir: PathBuf::from("/var/lib/skydive"),
            retention_secs: DEFAULT_RETENTION_SECS,
            retention_check_secs: 60,
            fsync_ms: 1000,
            buffer_flows: 100_000,
            max_results: 100_000,
        }
    }
}

impl FlowStoreConfig {
    /// The default configuration, storing under `data_dir`.
    pub fn in_dir(data_dir: impl Into<PathBuf>) -> Self {
        FlowStoreConfig {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }

    /// Checks, with the offending key in the message.
    pub fn validate(&self) -> Result<(), StoreError> {
        let bad = |msg: String| Err(StoreError::Config(msg));
        if self.buffer_flows == 0 {
            return bad("flow store buffer_flows must be at least 1".into());
        }
        if self.max_results == 0 {
            return bad("flow store max_results must be at least 1".into());
        }
        const MAX_SECS: u64 = i64::MAX as u64 / 1000;
        if self.retention_secs > MAX_SECS {
            return bad(format!(
                "storage.flows_retention_secs {} is too large (at most {MAX_SECS})",
                self.retention_secs
            ));
        }
        Ok(())
    }

    pub(crate) fn retention_ms(&self) -> Option<i64> {
        (self.retention_secs > 0).then(|| (self.retention_secs as i64).saturating_mul(1000))
    }
}

/// What [`FlowStore::search`] looks for. Build with [`FlowSearch::new`] and the setters.
#[derive(Clone, Copy)]
pub struct FlowSearch<'a> {
    /// The time slice of the query (`At(t)` is `[t, t]`).
    pub slice: TimeSlice,
    /// `flow.expire` in ms: how long after its last packet a flow still counts as active.
    pub expire_ms: i64,
    /// Only flows captured on these nodes (`NodeTID`); `None` for all.
    pub node_tids: Option<&'a [String]>,
    /// Only flows with one of these `TrackingID`s; `None` for all.
    pub tracking_ids: Option<&'a [String]>,
    /// Only flows this accepts (tested on each flow's latest update in the window).
    pub filter: Option<&'a (dyn Fn(&Flow) -> bool + Sync)>,
    /// Return at most this many flows (the newest); beyond `max_results`, an error instead.
    pub limit: Option<usize>,
}

impl std::fmt::Debug for FlowSearch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowSearch")
            .field("slice", &self.slice)
            .field("expire_ms", &self.expire_ms)
            .field("node_tids", &self.node_tids)
            .field("tracking_ids", &self.tracking_ids)
            .field("filter", &self.filter.is_some())
            .field("limit", &self.limit)
            .finish()
    }
}

impl<'a> FlowSearch<'a> {
    /// Every flow active during `slice`, with the default `flow.expire` (600 s).
    pub fn new(slice: TimeSlice) -> Self {
        FlowSearch {
            slice,
            expire_ms: DEFAULT_EXPIRE_SECS as i64 * 1000,
            node_tids: None,
            tracking_ids: None,
            filter: None,
            limit: None,
        }
    }

    pub fn expire_ms(self, expire_ms: i64) -> Self {
        FlowSearch { expire_ms, ..self }
    }

    pub fn node_tids(self, node_tids: Option<&'a [String]>) -> Self {
        FlowSearch { node_tids, ..self }
    }

    pub fn tracking_ids(self, tracking_ids: Option<&'a [String]>) -> Self {
        FlowSearch {
            tracking_ids,
            ..self
        }
    }

    pub fn filter(self, filter: &'a (dyn Fn(&Flow) -> bool + Sync)) -> Self {
        FlowSearch {
            filter: Some(filter),
            ..self
        }
    }

    pub fn limit(self, limit: Option<usize>) -> Self {
        FlowSearch { limit, ..self }
    }

    /// The window of `Last` values searched: `[slice.start − expire, slice.last]`.
    pub fn window(&self) -> (i64, i64) {
        (
            self.slice.start.0.saturating_sub(self.expire_ms.max(0)),
            self.slice.last.0,
        )
    }

    fn accepts(&self, f: &Flow) -> bool {
        self.node_tids.is_none_or(|t| t.contains(&f.node_tid))
            && self.tracking_ids.is_none_or(|t| t.contains(&f.tracking_id))
            && self.filter.is_none_or(|keep| keep(f))
    }
}

/// The `LastUpdateMetric` series of flows, by UUID (Skydive's `Metrics()` on flows).
pub type FlowMetricSeries = BTreeMap<String, Vec<FlowMetric>>;

/// What the flow store has done since it was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FlowStoreStats {
    /// Updates handed to `store`.
    pub flows_received: u64,
    /// Updates written.
    pub flows_written: u64,
    /// Updates lost: the buffer was full (`buffer_flows`), the store closed, or a write
    /// failed. Should stay 0.
    pub flows_dropped: u64,
    /// Updates refused: no `UUID`, or an id longer than 1024 bytes.
    pub flows_invalid: u64,
    /// Updates waiting for the writer now.
    pub flows_queued: u64,
    pub write_errors: u64,
    /// Updates deleted by retention since the store was opened.
    pub flows_expired: u64,
    pub retention_errors: u64,
    /// `storage.flows_retention_secs` in force (0: forever).
    pub retention_secs: u64,
    /// The `Last` of the oldest update kept (`None`: none).
    pub oldest: Option<TimeMs>,
    pub last_error: Option<String>,
}

/// What one retention run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FlowRetentionReport {
    /// Updates whose `Last` is before this were deleted (`None`: retention is disabled).
    pub cutoff: Option<TimeMs>,
    pub flows_deleted: u64,
}

/// Flow updates in the embedded store. Cheap to clone; every clone is the same store.
/// Dropping the last clone closes it like [`FlowStore::close`], logging errors.
#[derive(Clone)]
pub struct FlowStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    cfg: FlowStoreConfig,
    counters: Arc<FlowCounters>,
    queued: Arc<AtomicUsize>,
    tx: Sender<FlowMsg>,
    threads: Mutex<Option<flow_writer::Threads>>,
}

impl std::fmt::Debug for FlowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowStore")
            .field("path", &self.inner.db.path)
            .finish()
    }
}

impl FlowStore {
    /// Opens (or creates) the database under `cfg.data_dir` for flows alone. Fails with
    /// [`StoreError::Locked`] if a history store has it open: use
    /// [`crate::HistoryStore::flow_store`] then.
    pub fn open(cfg: FlowStoreConfig) -> Result<Self, StoreError> {
        cfg.validate()?;
        let db = Db::open(&cfg.data_dir)?;
        Self::start(db, cfg)
    }

    /// Starts a flow store over an open database.
    pub(crate) fn start(db: Db, cfg: FlowStoreConfig) -> Result<Self, StoreError> {
        cfg.validate()?;
        let counters = Arc::new(FlowCounters::default());
        let queued = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = unbounded();
        let threads = flow_writer::spawn(&db, &cfg, counters.clone(), queued.clone(), rx)?;
        Ok(FlowStore {
            inner: Arc::new(Inner {
                db,
                cfg,
                counters,
                queued,
                tx,
                threads: Mutex::new(Some(threads)),
            }),
        })
    }

    pub fn config(&self) -> &FlowStoreConfig {
        &self.inner.cfg
    }

    /// Queues flow updates for writing; never blocks. Returns how many were queued: the
    /// others were invalid or did not fit in the buffer (both counted, see
    /// [`FlowStore::stats`]). Fails only when the store is closed.
    pub fn store(&self, flows: &[Flow]) -> Result<usize, StoreError> {
        let i = &*self.inner;
        let c = &*i.counters;
        FlowCounters::add(&c.received, flows.len() as u64);
        if i.threads.lock().is_none() {
            FlowCounters::add(&c.dropped, flows.len() as u64);
            return Err(StoreError::FlowStoreClosed);
        }
        let invalid = flows.len() - flows.iter().filter(|f| valid(f)).count();
        FlowCounters::add(&c.invalid, invalid as u64);
        let want = flows.len() - invalid;
        // Reserve room in the buffer for what fits.
        let mut room = 0;
        let _ = i
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                room = want.min(i.cfg.buffer_flows.saturating_sub(q));
                Some(q + room)
            });
        if room < want {
            let lost = (want - room) as u64;
            let before = c.dropped.fetch_add(lost, Ordering::Relaxed);
            if before / 10_000 != (before + lost) / 10_000 || before == 0 {
                c.error(
                    "flow updates dropped",
                    &"buffer full (the writer does not keep up)",
                );
            }
        }
        if room == 0 {
            return Ok(0);
        }
        let batch: Vec<Encoded> = flows
            .iter()
            .filter(|f| valid(f))
            .take(room)
            .map(Encoded::new)
            .collect();
        if i.tx.send(FlowMsg::Flows(batch)).is_err() {
            i.queued.fetch_sub(room, Ordering::AcqRel);
            FlowCounters::add(&c.dropped, room as u64);
            return Err(StoreError::FlowStoreClosed);
        }
        Ok(room)
    }

    /// The flows active during `q.slice` (see the module docs): for each UUID its latest
    /// update in the window, accepted by `q`'s constraints, newest first.
    pub fn search(&self, q: &FlowSearch<'_>) -> Result<Vec<Flow>, StoreError> {
        if q.slice.start > q.slice.last {
            return Err(StoreError::InvalidSlice {
                start: q.slice.start,
                last: q.slice.last,
            });
        }
        let db = &self.inner.db;
        let max = self.inner.cfg.max_results;
        let limit = q.limit.unwrap_or(usize::MAX);
        let (lo, hi) = q.window();
        let snap = db.db.snapshot();
        let mut out = Vec::new();
        let push = |f: Flow, out: &mut Vec<Flow>| -> Result<bool, StoreError> {
            if !q.accepts(&f) {
                return Ok(true);
            }
            if out.len() >= max && limit > max {
                return Err(StoreError::TooManyFlows { limit: max });
            }
            out.push(f);
            Ok(out.len() < limit)
        };
        if limit == 0 {
            return Ok(out);
        }
        let indexed = match (q.tracking_ids, q.node_tids) {
            (Some(ids), _) => Some((&db.flow_by_tracking, KS_FLOW_BY_TRACKING, ids)),
            (None, Some(ids)) => Some((&db.flow_by_node, KS_FLOW_BY_NODE, ids)),
            (None, None) => None,
        };
        match indexed {
            None => {
                // Newest first; the first update met of a UUID is its latest in the window.
                let mut seen: HashSet<Box<str>> = HashSet::new();
                let (from, to) = time_range(&[], lo, hi);
                for g in snap.range(&db.flow_records, from..=to).rev() {
                    let (k, v) = g.into_inner()?;
                    let (_, uuid) =
                        parse_record_key(&k).ok_or_else(|| corrupt_key(KS_FLOW_RECORDS, &k))?;
                    if seen.contains(uuid) {
                        continue;
                    }
                    seen.insert(uuid.into());
                    let flow = decode_flow(uuid, &v)
                        .map_err(|e| StoreError::corrupt(KS_FLOW_RECORDS, &k, e))?;
                    if !push(flow, &mut out)? {
                        break;
                    }
                }
            }
            Some((ks, ks_name, ids)) => {
                // The latest update of each UUID under each id, then newest first overall.
                let mut latest: Vec<(i64, String)> = Vec::new();
                let mut seen: HashSet<String> = HashSet::new();
                let mut ids_seen: HashSet<&str> = HashSet::new();
                for id in ids.iter().filter(|id| ids_seen.insert(id.as_str())) {
                    let prefix = id_prefix(id);
                    let (from, to) = time_range(&prefix, lo, hi);
                    for g in snap.range(ks, from..=to).rev() {
                        let k = g.key()?;
                        let (last, uuid) = parse_index_key(&k, prefix.len())
                            .ok_or_else(|| corrupt_key(ks_name, &k))?;
                        if seen.insert(uuid.to_owned()) {
                            latest.push((last, uuid.to_owned()));
                        }
                    }
                }
                latest.sort_by(|a, b| b.cmp(a));
                for (last, uuid) in latest {
                    let key = record_key(last, &uuid);
                    // An index entry without its record: damage, or a record just deleted
                    // by retention. Either way there is nothing to show.
                    let Some(v) = snap.get(&db.flow_records, &key)? else {
                        continue;
                    };
                    let flow = decode_flow(&uuid, &v)
                        .map_err(|e| StoreError::corrupt(KS_FLOW_RECORDS, &key, e))?;
                    if !push(flow, &mut out)? {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// The metric series of flows `uuids`: every stored update's `LastUpdateMetric` (its
    /// `Metric` before the first update) whose `[Start, Last]` lies within `[from, to]`
    /// (epoch ms), oldest first. UUIDs without any are left out.
    pub fn metrics(
        &self,
        uuids: &[String],
        from: i64,
        to: i64,
    ) -> Result<FlowMetricSeries, StoreError> {
        let db = &self.inner.db;
        let max = self.inner.cfg.max_results;
        let snap = db.db.snapshot();
        let mut out = FlowMetricSeries::new();
        let mut points = 0usize;
        for uuid in uuids {
            if out.contains_key(uuid) {
                continue;
            }
            let mut series = Vec::new();
            for g in snap.prefix(&db.flow_by_uuid, id_prefix(uuid)) {
                let (k, v) = g.into_inner()?;
                let m =
                    decode_metric(&v).map_err(|e| StoreError::corrupt(KS_FLOW_BY_UUID, &k, e))?;
                if m.start >= from && m.last <= to {
                    points += 1;
                    if points > max {
                        return Err(StoreError::TooManyFlows { limit: max });
                    }
                    series.push(m);
                }
            }
            if !series.is_empty() {
                out.insert(uuid.clone(), series);
            }
        }
        Ok(out)
    }

    /// Waits until every update queued so far is written and synced to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (reply, answer) = bounded(1);
        self.inner
            .tx
            .send(FlowMsg::Flush(reply))
            .map_err(|_| StoreError::FlowStoreClosed)?;
        answer.recv().map_err(|_| StoreError::FlowStoreClosed)?
    }

    /// Deletes the updates older than `retention_secs` before `now` (also done every
    /// `retention_check_secs` by the store itself).
    pub fn enforce_retention(&self, now: TimeMs) -> Result<FlowRetentionReport, StoreError> {
        let i = &*self.inner;
        flow_writer::enforce_retention(&i.db, i.cfg.retention_ms(), now, &i.counters)
    }

    /// Counters for `/api/status`.
    pub fn stats(&self) -> FlowStoreStats {
        let i = &*self.inner;
        let c = &*i.counters;
        let get = FlowCounters::get;
        let oldest =
            i.db.db
                .snapshot()
                .first_key_value(&i.db.flow_records)
                .and_then(|g| g.key().ok())
                .and_then(|k| parse_record_key(&k).map(|(t, _)| TimeMs(t)));
        FlowStoreStats {
            flows_received: get(&c.received),
            flows_written: get(&c.written),
            flows_dropped: get(&c.dropped),
            flows_invalid: get(&c.invalid),
            flows_queued: i.queued.load(Ordering::Relaxed) as u64,
            write_errors: get(&c.write_errors),
            flows_expired: get(&c.expired),
            retention_errors: get(&c.retention_errors),
            retention_secs: i.cfg.retention_secs,
            oldest,
            last_error: c.last_error(),
        }
    }

    /// Writes what is queued, syncs it and stops the store's threads. Updates stored
    /// afterwards fail with [`StoreError::FlowStoreClosed`]; searches keep working while a
    /// clone is alive.
    pub fn close(self) -> Result<(), StoreError> {
        self.inner.shutdown()
    }
}

impl Inner {
    fn shutdown(&self) -> Result<(), StoreError> {
        let Some(t) = self.threads.lock().take() else {
            return Ok(());
        };
        let result = t.stop(&self.tx);
        result.and(
            self.db
                .db
                .persist(PersistMode::SyncAll)
                .map_err(StoreError::from),
        )
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!("closing flow store in {}: {e}", self.db.path.display());
        }
    }
}

fn valid(f: &Flow) -> bool {
    !f.uuid.is_empty()
        && f.uuid.len() <= MAX_ID_LEN
        && f.node_tid.len() <= MAX_ID_LEN
        && f.tracking_id.len() <= MAX_ID_LEN
}

fn corrupt_key(keyspace: &'static str, k: &[u8]) -> StoreError {
    StoreError::corrupt(keyspace, k, "key is not a flow record position")
}

impl Encoded {
    fn new(f: &Flow) -> Self {
        let mut value = Vec::with_capacity(160);
        encode_flow(f, &mut value);
        let mut metric = Vec::with_capacity(24);
        encode_metric(f, &mut metric);
        Encoded {
            last: f.last,
            uuid: f.uuid.clone(),
            node_tid: f.node_tid.clone(),
            tracking_id: f.tracking_id.clone(),
            value,
            metric,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow_codec::{index_key, uuid_key};

    const T0: i64 = 1_700_000_000_000;

    fn flow(uuid: &str, last: i64) -> Flow {
        Flow {
            uuid: uuid.into(),
            node_tid: "node".into(),
            tracking_id: "track".into(),
            start: last,
            last,
            ..Flow::default()
        }
    }

    fn store_with(flows: &[Flow]) -> (tempfile::TempDir, FlowStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FlowStore::open(FlowStoreConfig {
            retention_check_secs: 0,
            ..FlowStoreConfig::in_dir(dir.path())
        })
        .unwrap();
        store.store(flows).unwrap();
        store.flush().unwrap();
        (dir, store)
    }

    fn window() -> FlowSearch<'static> {
        FlowSearch::new(TimeSlice {
            start: TimeMs(T0),
            last: TimeMs(T0 + 1000),
        })
    }

    fn count(ks: &fjall::Keyspace) -> usize {
        ks.iter().count()
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_its_key_not_a_panic() {
        let (_dir, store) = store_with(&[flow("a", T0), flow("b", T0 + 10)]);
        let db = &store.inner.db;
        let key = record_key(T0, "a");
        db.flow_records.insert(&key, [1u8, 0xff, 0xff]).unwrap();
        let err = store.search(&window()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("corrupt record in `flow_records` at key "),
            "{msg}"
        );
        assert!(msg.contains(&crate::error::hex(&key)), "{msg}");
        // Through the index too; a search that does not reach it still works.
        let tids = vec!["node".to_string()];
        assert!(store.search(&window().node_tids(Some(&tids))).is_err());
        assert_eq!(store.search(&window().limit(Some(1))).unwrap().len(), 1);
        // A damaged metric record, and a damaged key.
        db.flow_by_uuid
            .insert(uuid_key("b", T0 + 10), [9u8])
            .unwrap();
        let err = store
            .metrics(&["b".into()], i64::MIN, i64::MAX)
            .unwrap_err();
        assert!(err.to_string().contains("`flow_by_uuid`"), "{err}");
        db.flow_records.insert([1u8, 2], [0u8]).unwrap();
        let all = FlowSearch::new(TimeSlice {
            start: TimeMs(i64::MIN + 1),
            last: TimeMs(i64::MAX),
        });
        assert!(matches!(
            store.search(&all),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn index_entries_without_their_record_are_skipped() {
        let (_dir, store) = store_with(&[flow("a", T0)]);
        let db = &store.inner.db;
        db.flow_by_node
            .insert(index_key("node", T0 + 5, "ghost"), [])
            .unwrap();
        let tids = vec!["node".to_string()];
        let found = store.search(&window().node_tids(Some(&tids))).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].uuid, "a");
    }

    #[test]
    fn retention_removes_every_index_entry() {
        let (_dir, store) = store_with(&[flow("a", T0), flow("b", T0 + 5000)]);
        let db = &store.inner.db;
        // A record too damaged to name its ids still goes.
        db.flow_records
            .insert(record_key(T0 + 1, "c"), [7u8])
            .unwrap();
        let counts = || {
            [
                count(&db.flow_records),
                count(&db.flow_by_node),
                count(&db.flow_by_tracking),
                count(&db.flow_by_uuid),
            ]
        };
        assert_eq!(counts(), [3, 2, 2, 2]);
        let report = flow_writer::enforce_retention(
            db,
            Some(1000),
            TimeMs(T0 + 1002),
            &store.inner.counters,
        )
        .unwrap();
        assert_eq!(report.flows_deleted, 2);
        assert_eq!(counts(), [1, 1, 1, 1]);
    }

    #[test]
    fn config_checks_name_the_key() {
        let cfg: FlowStoreConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(cfg, FlowStoreConfig::default());
        let err = FlowStoreConfig {
            retention_secs: u64::MAX,
            ..FlowStoreConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(
            err.to_string().contains("storage.flows_retention_secs"),
            "{err}"
        );
        assert!(serde_json::from_str::<FlowStoreConfig>(r#"{"retention": 1}"#).is_err());
        let h = crate::HistoryConfig {
            retention_secs: 10,
            ..crate::HistoryConfig::default()
        };
        assert_eq!(h.flow_config().retention_secs, 10);
        let h = crate::HistoryConfig {
            flows_retention_secs: Some(0),
            ..h
        };
        assert_eq!(h.flow_config().retention_secs, 0);
    }
}

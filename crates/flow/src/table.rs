//! [`FlowTable`]: packets in, flow records out, on the caller's clock.
//!
//! # Per packet
//! [`FlowTable::process_frame`] decodes the frame segment by segment ([`decode_with`]: one
//! [`Segment`] on the stack at a time), builds one [`FlowKey`] per segment (outer flow, then
//! each inner flow keyed with its parent's UUID) and hashes it once. An index of 8-byte
//! slots (entry number + 32-bit hash, in a `hashbrown::HashTable`) leads to the entry; the
//! hash doubles as a fingerprint checked before the entry is read, and the index grows
//! without rehashing a key. A hit updates the entry's inline counters (AB/BA packets and
//! bytes: L2 length in L2 key mode, L3 length in L3 mode), last-seen time, TCP finish state
//! and RTT. A miss computes the flow's stable ids and stores its identity as plain data
//! beside the entry. Nothing on this path allocates: entries live in two dense slabs
//! (what every packet touches, 128 bytes on a 64-byte boundary, so two cache lines; what
//! updates and a few packets read, 208 bytes: RTT clock, sampling rate, UUID) reserved for
//! up to `max_entries` flows (virtual memory: pages are touched as flows arrive).
//!
//! # Timers
//! Time only moves when the caller says so: each packet's timestamp, or [`FlowTable::tick`]
//! when the capture is idle. When it passes the next update time (every `update`, default
//! 2 s), a scan:
//! - emits every flow touched since the previous update (the packet path lists them, so
//!   this costs nothing for idle flows), with `LastUpdateMetric` = the counters since then:
//!   a flow reaches the analyzer at most `update` after its first packet;
//! - every 10 s (or `expire`/`hold` if shorter), sweeps all flows: those idle for `expire`
//!   (default 600 s) are emitted one last time with `FinishType = TIMEOUT` and removed;
//!   those finished by FIN or RST and idle for `hold` (15 s, Skydive's hold time) are
//!   removed, their last update having carried `TCP_FIN`/`TCP_RST`.
//!
//! Emitted records are [`FlowUpdate`]s (plain data, no heap) waiting in an outbox until
//! [`FlowTable::drain_emitted`]; the owned JSON-shaped [`Flow`] is made from them by
//! whoever sends them ([`FlowUpdate::to_flow`], or [`FlowTable::drain_flows`]). The outbox
//! holds at most one record per flow per scan and is capped at twice `max_entries` (records
//! beyond are counted in [`TableStats::updates_dropped`]). [`FlowTable::flush`] ends a
//! capture: every flow leaves with a last record.
//!
//! # Bounds
//! At most `max_entries` flows (Skydive's `flow.max_entries`, 500 000). A new flow that does
//! not fit is not created and counted in [`TableStats::flows_dropped`] (Skydive's
//! `FlowDropped`), with its packet. Skydive instead evicts the least recently used flow
//! without sending it; refusing the newcomer keeps every flow already reported consistent.

use std::time::Duration;

use hashbrown::HashTable;

use crate::decode::{DecodeError, DecodeErrorCounts, decode_with};
use crate::flow::{FinishType, Flow, IcmpType};
use crate::flow_update::{FlowUpdate, IcmpInfo, LinkInfo, TransportInfo};
use crate::key::{FlowKey, LayerKeyMode, StableIds};
use crate::layers::{LayerPath, Layers, LinkType, Segment, TransportKind, tcp_flags};
use crate::metric::{FlowMetric, Timestamp};

/// What a table runs with; see [`FlowConfig`] for the config keys that fill it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    /// Period of flow updates (`flow.update`).
    pub update: Duration,
    /// Idle time after which a flow expires (`flow.expire`).
    pub expire: Duration,
    /// Most flows kept (`flow.max_entries`).
    pub max_entries: usize,
    /// Key mode (`flow.default_layer_key_mode`, or the capture's `LayerKeyMode`).
    pub layer_key_mode: LayerKeyMode,
    /// How long a FIN/RST-finished flow stays after its last packet (Skydive: 15 s, fixed).
    pub hold: Duration,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            update: Duration::from_secs(DEFAULT_UPDATE_SECS),
            expire: Duration::from_secs(DEFAULT_EXPIRE_SECS),
            max_entries: DEFAULT_MAX_ENTRIES,
            layer_key_mode: LayerKeyMode::L2,
            hold: Duration::from_secs(15),
        }
    }
}

/// 2 s, not Skydive's 60 s: flows must reach the analyzer within 2 s of their first packet.
pub const DEFAULT_UPDATE_SECS: u64 = 2;
/// Skydive's default.
pub const DEFAULT_EXPIRE_SECS: u64 = 600;
/// Skydive's default.
pub const DEFAULT_MAX_ENTRIES: usize = 500_000;

/// The `flow.*` configuration keys this crate owns, with Skydive's names and units (seconds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FlowConfig {
    /// `flow.update`: seconds between flow updates (default 2).
    pub update: u64,
    /// `flow.expire`: seconds of inactivity before a flow expires (default 600).
    pub expire: u64,
    /// `flow.max_entries`: flows per table (default 500000).
    pub max_entries: usize,
    /// `flow.default_layer_key_mode`: `L2` (default) or `L3`.
    pub default_layer_key_mode: LayerKeyMode,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            update: DEFAULT_UPDATE_SECS,
            expire: DEFAULT_EXPIRE_SECS,
            max_entries: DEFAULT_MAX_ENTRIES,
            default_layer_key_mode: LayerKeyMode::L2,
        }
    }
}

/// A `flow.*` value that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowConfigError {
    #[error("flow.update must be at least 1 second (got 0)")]
    ZeroUpdate,
    #[error("flow.expire ({expire} s) must be at least flow.update ({update} s)")]
    ExpireBelowUpdate { expire: u64, update: u64 },
    #[error("flow.max_entries must be at least 1 (got 0)")]
    ZeroMaxEntries,
}

impl FlowConfig {
    /// Validates into what a table runs with.
    pub fn table_config(&self) -> Result<TableConfig, FlowConfigError> {
        if self.update == 0 {
            return Err(FlowConfigError::ZeroUpdate);
        }
        if self.expire < self.update {
            return Err(FlowConfigError::ExpireBelowUpdate {
                expire: self.expire,
                update: self.update,
            });
        }
        if self.max_entries == 0 {
            return Err(FlowConfigError::ZeroMaxEntries);
        }
        Ok(TableConfig {
            update: Duration::from_secs(self.update),
            expire: Duration::from_secs(self.expire),
            max_entries: self.max_entries,
            layer_key_mode: self.default_layer_key_mode,
            ..TableConfig::default()
        })
    }
}

/// Who captured: copied into every flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureIds {
    /// TID of the graph node the capture runs on (`NodeTID`).
    pub node_tid: String,
    /// The capture's id (`CaptureID`).
    pub capture_id: String,
}

/// Counters of one table, cumulative since it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Frames given to the table (decoded or not).
    pub packets: u64,
    /// Their bytes on the wire.
    pub bytes: u64,
    pub flows_created: u64,
    /// Flows removed after `expire` of inactivity (emitted with `TIMEOUT`).
    pub flows_expired: u64,
    /// FIN/RST flows removed after the hold time.
    pub flows_finished: u64,
    /// New flows refused because the table was full (Skydive's `FlowDropped`); each one's
    /// packet is not counted in any flow. Not intended: raise `flow.max_entries`.
    pub flows_dropped: u64,
    /// Flow records put in the outbox.
    pub updates_emitted: u64,
    /// Flow records lost because the outbox was full (the caller did not drain it).
    pub updates_dropped: u64,
    /// Frames (or their inner part) that could not be decoded, by reason.
    pub decode_errors: DecodeErrorCounts,
}

const NO_RTT_START: i64 = i64::MIN;

/// Slots the index starts with (it grows, up to `max_entries`).
const INITIAL_CAPACITY: usize = 4096;

/// Flows the entry slabs reserve up front, at most: virtual memory only (pages are touched
/// as flows arrive), and it spares the copies of a growing `Vec` on the packet path.
const RESERVE_LIMIT: usize = 1 << 20;

/// A slot of the index: where the entry is, and its 32-bit hash (a fingerprint checked
/// before the entry is read, and what the index is rehashed with: entries never move).
#[derive(Clone, Copy)]
struct Slot {
    index: u32,
    hash: u32,
}

/// The 64-bit hash hashbrown wants, from the 32 bits a slot keeps: the low bits pick the
/// bucket, the top 7 bits the control byte, both taken from `h`.
#[inline]
fn spread(h: u32) -> u64 {
    u64::from(h) << 32 | u64::from(h)
}

/// What every packet reads and writes: the key and the counters, 128 bytes on a 64-byte
/// boundary, so a lookup and its update touch exactly two cache lines (which the CPU's
/// adjacent-line prefetch fetches as a pair) and one page. `repr(C)` keeps the key first.
/// What only some packets need (the RTT clock, sFlow's sampling rate, the UUID of a tunnel
/// flow for its inner flows) lives in [`Cold`].
#[repr(C, align(64))]
struct Entry {
    key: FlowKey,
    ab_packets: u64,
    ab_bytes: u64,
    ba_packets: u64,
    ba_bytes: u64,
    last_ns: i64,
    /// Update version of the last packet: `> table.version` means touched since the last
    /// update.
    touched: u32,
    finish: FinishType,
    /// The first packet's `swapped` flag: packets with the same flag go A→B.
    a_swapped: bool,
    /// False once removed (the slot waits in the free list).
    live: bool,
}

/// The RTT clock of a flow: started by a request (SYN, echo request), stopped by the reply
/// in the other direction.
struct Rtt {
    start_ns: i64,
    /// Direction of the request that started the clock.
    start_ab: bool,
    ns: i64,
}

impl Rtt {
    const IDLE: Rtt = Rtt {
        start_ns: NO_RTT_START,
        start_ab: false,
        ns: 0,
    };

    /// A request (SYN, echo request): the first one starts the clock.
    fn begin(&mut self, ab: bool, now: i64) {
        if self.start_ns == NO_RTT_START {
            self.start_ns = now;
            self.start_ab = ab;
        }
    }

    /// A reply in the other direction (SYN-ACK, RST, echo reply) stops it.
    fn end(&mut self, ab: bool, now: i64) {
        if self.start_ns != NO_RTT_START && ab != self.start_ab {
            self.ns = now.saturating_sub(self.start_ns).max(0);
            self.start_ns = NO_RTT_START;
        }
    }
}

/// What only updates and queries read, at the same index as its [`Entry`]: the parts of
/// the flow's identity its key does not hold (the network layer is rebuilt from the key),
/// and the last emission.
struct Cold {
    uuid: u64,
    rtt: Rtt,
    sampling_rate: u32,
    layers: LayerPath,
    link: Option<LinkInfo>,
    /// The first packet's ports (a UDP tunnel's key keeps only the destination port).
    transport: Option<TransportInfo>,
    icmp: Option<IcmpInfo>,
    tracking_id: u64,
    l3_tracking_id: u64,
    start_ms: i64,
    /// The last emitted `LastUpdateMetric` (meaningful once `emitted`).
    last_update: FlowMetric,
    /// Counters at the previous emission: `LastUpdateMetric` is the difference.
    sent: [u64; 4],
    emitted: bool,
}

impl Cold {
    /// The identity of a new flow, oriented by its first packet (A = its sender).
    fn first_packet(seg: &Segment<'_>, ids: &StableIds, uuid: u64, start_ms: i64) -> Cold {
        Cold {
            uuid,
            rtt: Rtt::IDLE,
            sampling_rate: 0,
            layers: seg.path,
            link: seg.link.map(|l| LinkInfo {
                a: *l.src,
                b: *l.dst,
                vlan_id: l.vlan_id,
            }),
            transport: seg.transport.map(|t| TransportInfo {
                kind: t.kind,
                a: t.src_port,
                b: t.dst_port,
            }),
            icmp: seg.icmp.map(|i| IcmpInfo {
                icmp_type: IcmpType::from_raw(i.version, i.icmp_type),
                code: i.code,
                id: i.id,
            }),
            tracking_id: ids.tracking,
            l3_tracking_id: ids.l3_tracking,
            start_ms,
            last_update: FlowMetric::default(),
            sent: [0; 4],
            emitted: false,
        }
    }
}

/// A flow table for one capture. Not thread-safe by design: one capture thread owns it.
pub struct FlowTable {
    cfg: TableConfig,
    ids: CaptureIds,
    seed: u64,
    /// Slots of live entries, by hash: 8 bytes each, so the index of a few hundred thousand
    /// flows stays in cache and the one cache miss per packet is the entry itself.
    map: HashTable<Slot>,
    /// Flows, densely; a removed one is marked dead and its index reused from `free`.
    entries: Vec<Entry>,
    cold: Vec<Cold>,
    free: Vec<u32>,
    /// Entries touched since the last scan (each once): what the next update emits.
    touched: Vec<u32>,
    /// Incremented by each update scan: one per `update` period (`flow.update` is at least
    /// 1 s, so 32 bits last 136 years).
    version: u32,
    /// Next update time (ns); `i64::MIN` until the first packet or tick starts the clock.
    next_update_ns: i64,
    /// Next sweep for idle and finished flows (ns).
    next_sweep_ns: i64,
    last_update_ms: i64,
    outbox: Vec<FlowUpdate>,
    stats: TableStats,
    /// Scratch of [`FlowTable::warm`]: hashes, then entry numbers (reused, never shrunk).
    warm_hashes: Vec<u32>,
    warm_entries: Vec<u32>,
}

impl FlowTable {
    pub fn new(cfg: TableConfig, ids: CaptureIds) -> Self {
        use std::hash::BuildHasher;
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        Self::with_hash_seed(cfg, ids, seed)
    }

    /// Like [`FlowTable::new`] with a fixed hash seed: the order of emitted records becomes
    /// reproducible (tests); keep `new` for live traffic.
    pub fn with_hash_seed(cfg: TableConfig, ids: CaptureIds, seed: u64) -> Self {
        let initial = cfg.max_entries.min(INITIAL_CAPACITY);
        let reserve = cfg.max_entries.min(RESERVE_LIMIT);
        FlowTable {
            cfg,
            ids,
            seed,
            map: HashTable::with_capacity(initial),
            entries: Vec::with_capacity(reserve),
            cold: Vec::with_capacity(reserve),
            free: Vec::new(),
            touched: Vec::with_capacity(initial),
            version: 0,
            next_update_ns: i64::MIN,
            next_sweep_ns: i64::MIN,
            last_update_ms: 0,
            outbox: Vec::new(),
            stats: TableStats::default(),
            warm_hashes: Vec::new(),
            warm_entries: Vec::new(),
        }
    }

    pub fn config(&self) -> &TableConfig {
        &self.cfg
    }

    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    /// Flows in the table (Skydive's `FlowCount`).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Decodes one captured frame and accounts it. A decode error is counted in
    /// [`TableStats::decode_errors`] and returned; the segments decoded before it are still
    /// accounted (a VXLAN packet whose inner frame is cut still counts for the tunnel flow).
    pub fn process_frame(
        &mut self,
        frame: &[u8],
        wire_len: u32,
        link: LinkType,
        ts: Timestamp,
    ) -> Result<(), DecodeError> {
        self.process_sampled_frame(frame, wire_len, link, ts, 0)
    }

    /// [`FlowTable::process_frame`] for a frame sampled 1 in `sampling_rate` (sFlow).
    pub fn process_sampled_frame(
        &mut self,
        frame: &[u8],
        wire_len: u32,
        link: LinkType,
        ts: Timestamp,
        sampling_rate: u32,
    ) -> Result<(), DecodeError> {
        self.count_frame(frame, wire_len, ts);
        let mut parent = None;
        let res = decode_with(frame, wire_len, link, |seg| {
            match self.account(seg, parent, ts, sampling_rate) {
                Some(index) => {
                    parent = Some(index);
                    true
                }
                None => false,
            }
        });
        if let Err(e) = &res {
            self.stats.decode_errors.add(e);
        }
        res
    }

    /// The per-frame part of [`FlowTable::process_sampled_frame`] before decoding: counters
    /// and the clock.
    #[inline]
    fn count_frame(&mut self, frame: &[u8], wire_len: u32, ts: Timestamp) {
        self.stats.packets += 1;
        self.stats.bytes += u64::from(wire_len.max(frame.len() as u32));
        if ts.as_nanos() >= self.next_update_ns {
            self.clock(ts);
        }
    }

    /// Accounts an already decoded frame (the decode error, if any, is the caller's to count).
    pub fn process_layers(&mut self, layers: &Layers<'_>, ts: Timestamp, sampling_rate: u32) {
        self.stats.packets += 1;
        self.stats.bytes += layers.segments().first().map_or(0, |s| u64::from(s.length));
        self.account_layers(layers, ts, sampling_rate);
    }

    fn account_layers(&mut self, layers: &Layers<'_>, ts: Timestamp, sampling_rate: u32) {
        if ts.as_nanos() >= self.next_update_ns {
            self.clock(ts);
        }
        let mut parent = None;
        for seg in layers.segments() {
            match self.account(seg, parent, ts, sampling_rate) {
                Some(index) => parent = Some(index),
                None => break,
            }
        }
    }

    /// Brings into the CPU cache what processing `frames` next will read — the index slot
    /// and the entry of each frame's outermost flow — for all frames at once, so that their
    /// memory is fetched in parallel instead of one frame's miss after the other's. Changes
    /// nothing in the table (no counter, no flow, no clock); frames that do not decode are
    /// skipped. Worth it for batches of frames (a `recvmmsg` of sFlow datagrams) when the
    /// table outgrows the caches: a lookup then costs two cache misses.
    ///
    /// ```
    /// use skydive_flow::{CaptureIds, FlowTable, FrameBuilder, LinkType, TableConfig, Timestamp};
    /// let mut table = FlowTable::new(TableConfig::default(), CaptureIds::default());
    /// let f = FrameBuilder::new().ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
    ///     .ipv4([10, 0, 0, 1], [10, 0, 0, 2]).udp(1, 2).build();
    /// table.warm([(&f[..], f.len() as u32, LinkType::Ethernet)]);
    /// assert_eq!((table.len(), table.stats().packets), (0, 0));
    /// ```
    pub fn warm<'f>(&mut self, frames: impl IntoIterator<Item = (&'f [u8], u32, LinkType)>) {
        let (mode, seed) = (self.cfg.layer_key_mode, self.seed);
        let mut hashes = std::mem::take(&mut self.warm_hashes);
        hashes.clear();
        for (frame, wire_len, link) in frames {
            let _ = decode_with(frame, wire_len, link, |seg| {
                hashes.push(FlowKey::new(seg, 0, mode).0.table_hash(seed));
                false
            });
        }
        // Index probes of every frame, independent of each other: the CPU overlaps their
        // misses. Only the slot's own hash is compared (no entry read yet).
        let mut found = std::mem::take(&mut self.warm_entries);
        found.clear();
        for &h in &hashes {
            if let Some(slot) = self.map.find(spread(h), |s| s.hash == h) {
                found.push(slot.index);
            }
        }
        // Then a read of both lines of each entry (the key's start, the update version),
        // and of the line of its cold part that a sampled packet writes, again all in
        // flight together.
        let mut touch = 0u64;
        for &i in &found {
            if let (Some(e), Some(c)) = (self.entries.get(i as usize), self.cold.get(i as usize)) {
                touch ^= e.key.first_word() ^ u64::from(e.touched) ^ u64::from(c.sampling_rate);
            }
        }
        std::hint::black_box(touch);
        self.warm_hashes = hashes;
        self.warm_entries = found;
    }

    /// Advances the clock without a packet (an idle capture still expires its flows).
    pub fn tick(&mut self, now: Timestamp) {
        if now.as_nanos() >= self.next_update_ns {
            self.clock(now);
        }
    }

    /// Starts the clock on the first call, then runs the update scan when it is due.
    fn clock(&mut self, now: Timestamp) {
        if self.next_update_ns == i64::MIN {
            self.last_update_ms = now.as_millis();
            self.next_sweep_ns = now.saturating_add(self.sweep_interval()).as_nanos();
        } else {
            self.scan(now, false);
        }
        self.next_update_ns = now.saturating_add(self.cfg.update).as_nanos();
    }

    /// Ends the capture: every flow is emitted a last time (`TIMEOUT` unless FIN/RST
    /// finished it) and removed.
    pub fn flush(&mut self, now: Timestamp) {
        self.scan(now, true);
    }

    /// Moves the emitted records into `out` (appending).
    pub fn drain_emitted(&mut self, out: &mut Vec<FlowUpdate>) {
        if out.is_empty() {
            // Trade buffers: no copy, and both keep their capacity.
            std::mem::swap(out, &mut self.outbox);
        } else {
            out.append(&mut self.outbox);
        }
    }

    /// Moves the emitted records into `out` as API [`Flow`]s (allocates their strings).
    pub fn drain_flows(&mut self, out: &mut Vec<Flow>) {
        out.extend(self.outbox.drain(..).map(|u| u.to_flow(&self.ids)));
    }

    /// Number of records waiting in the outbox.
    pub fn pending(&self) -> usize {
        self.outbox.len()
    }

    /// Who captured: what [`FlowUpdate::to_flow`] needs.
    pub fn ids(&self) -> &CaptureIds {
        &self.ids
    }

    /// The current state of every flow (live queries).
    pub fn snapshot(&self) -> impl Iterator<Item = FlowUpdate> + '_ {
        self.entries
            .iter()
            .zip(self.cold.iter())
            .filter(|(e, _)| e.live)
            .map(|(e, c)| e.record(c))
    }

    /// [`FlowTable::snapshot`] as API [`Flow`]s (allocates their strings).
    pub fn snapshot_flows(&self) -> impl Iterator<Item = Flow> + '_ {
        self.snapshot().map(|u| u.to_flow(&self.ids))
    }

    /// Accounts one segment; returns its flow's entry (the next segment's parent), or
    /// `None` when the table is full. `parent` is the enclosing segment's entry.
    #[inline]
    fn account(
        &mut self,
        seg: &Segment<'_>,
        parent: Option<usize>,
        ts: Timestamp,
        sampling_rate: u32,
    ) -> Option<usize> {
        // The parent's UUID is read only for inner segments: most packets never touch a
        // cold part.
        let parent = parent.map_or(0, |i| self.cold[i].uuid);
        let (key, swapped) = FlowKey::new(seg, parent, self.cfg.layer_key_mode);
        let hash = key.table_hash(self.seed);
        self.account_keyed(seg, &key, swapped, hash, ts, sampling_rate)
    }

    /// [`FlowTable::account`] with the key already built and hashed.
    #[inline]
    fn account_keyed(
        &mut self,
        seg: &Segment<'_>,
        key: &FlowKey,
        swapped: bool,
        hash: u32,
        ts: Timestamp,
        sampling_rate: u32,
    ) -> Option<usize> {
        let len = match self.cfg.layer_key_mode {
            LayerKeyMode::L3 if seg.ip_length > 0 => seg.ip_length,
            _ => seg.length,
        };
        let Some(index) = self.find_or_insert(key, hash, seg, swapped, ts) else {
            self.stats.flows_dropped += 1;
            return None;
        };
        let version = self.version + 1;
        let entry = &mut self.entries[index];
        if entry.touched <= self.version {
            self.touched.push(index as u32);
        }
        let ab = entry.update(seg, swapped, len, ts, version);
        // Rare per packet: sampled frames (sFlow) and the packets that start or stop an RTT
        // clock write to the cold part.
        if sampling_rate != 0 {
            self.cold[index].sampling_rate = sampling_rate;
        }
        if let Some((begin, now)) = rtt_event(seg, ts) {
            let rtt = &mut self.cold[index].rtt;
            if begin {
                rtt.begin(ab, now);
            } else {
                rtt.end(ab, now);
            }
        }
        Some(index)
    }

    /// The entry of `key`, created on a miss; `None` when it is new and the table is full.
    #[inline]
    fn find_or_insert(
        &mut self,
        key: &FlowKey,
        hash: u32,
        seg: &Segment<'_>,
        swapped: bool,
        ts: Timestamp,
    ) -> Option<usize> {
        let entries = &self.entries;
        // A plain lookup first: nine packets in ten hit, and a lookup does not track
        // where an insertion would go.
        if let Some(slot) = self.map.find(spread(hash), |s| {
            s.hash == hash && entries[s.index as usize].key == *key
        }) {
            return Some(slot.index as usize);
        }
        if self.map.len() >= self.cfg.max_entries {
            return None;
        }
        self.stats.flows_created += 1;
        let ids = key.ids();
        let start_ms = ts.as_millis();
        let uuid = ids.uuid(start_ms, &self.ids.node_tid);
        let entry = Entry::new(*key, swapped, ts);
        let cold = Cold::first_packet(seg, &ids, uuid, start_ms);
        let index = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = entry;
                self.cold[i as usize] = cold;
                i
            }
            None => {
                self.entries.push(entry);
                self.cold.push(cold);
                (self.entries.len() - 1) as u32
            }
        };
        self.map
            .insert_unique(spread(hash), Slot { index, hash }, |s| spread(s.hash));
        Some(index as usize)
    }

    /// Removes entry `i`: its slot leaves the index, its place goes to the free list.
    fn remove(&mut self, i: usize) {
        let e = &mut self.entries[i];
        e.live = false;
        let hash = e.key.table_hash(self.seed);
        if let Ok(slot) = self.map.find_entry(spread(hash), |s| s.index as usize == i) {
            slot.remove();
        }
        self.free.push(i as u32);
    }

    /// The update scan (see the module docs); with `all`, the end-of-capture flush.
    ///
    /// Updates visit only the flows touched since the previous scan (a list kept by the
    /// packet path); expiry and hold need every flow, so that sweep runs every
    /// `sweep_interval` only: flows leave at most that long after their deadline.
    fn scan(&mut self, now: Timestamp, all: bool) {
        let now_ns = now.as_nanos();
        let pass = Pass {
            window: Window {
                version: self.version,
                from_ms: self.last_update_ms,
                to_ms: now.as_millis(),
            },
            now_ns,
            expire_ns: duration_ns(self.cfg.expire),
            hold_ns: duration_ns(self.cfg.hold),
            all,
            cap: self.cfg.max_entries.saturating_mul(2).max(1024),
        };
        let mut touched = std::mem::take(&mut self.touched);
        // In memory order: the entries are then read as a stream, not at random.
        touched.sort_unstable();
        self.outbox.reserve(
            touched
                .len()
                .min(pass.cap.saturating_sub(self.outbox.len())),
        );
        for &i in &touched {
            self.visit(i as usize, true, &pass);
        }
        self.touched = touched;
        self.touched.clear();
        if all {
            self.flush_all(&pass);
        } else if now_ns >= self.next_sweep_ns {
            for i in 0..self.entries.len() {
                let e = &self.entries[i];
                if e.live && e.touched <= pass.window.version {
                    self.visit(i, false, &pass);
                }
            }
            self.next_sweep_ns = now.saturating_add(self.sweep_interval()).as_nanos();
        }
        self.version += 1;
        self.last_update_ms = pass.window.to_ms;
    }

    /// The end of a capture: every flow not emitted by this scan's updates leaves with a
    /// last record, then the table is emptied at once (no per-flow index removal).
    fn flush_all(&mut self, pass: &Pass) {
        for i in 0..self.entries.len() {
            let e = &mut self.entries[i];
            if !e.live {
                continue;
            }
            e.live = false;
            let was_finished = e.finish != FinishType::NotFinished;
            if was_finished {
                self.stats.flows_finished += 1;
            } else {
                self.stats.flows_expired += 1;
            }
            if e.touched > pass.window.version {
                continue; // emitted by the updates of this scan, with its final state
            }
            if !was_finished {
                e.finish = FinishType::Timeout;
                if self.outbox.len() < pass.cap {
                    let rec = e.emit(&mut self.cold[i], &pass.window, false);
                    self.outbox.push(rec);
                    self.stats.updates_emitted += 1;
                } else {
                    self.stats.updates_dropped += 1;
                }
            }
        }
        self.map.clear();
        self.entries.clear();
        self.cold.clear();
        self.free.clear();
    }

    /// How often idle and finished flows are looked for: 10 s, or the expire or hold time
    /// when shorter.
    fn sweep_interval(&self) -> Duration {
        Duration::from_secs(10)
            .min(self.cfg.expire)
            .min(self.cfg.hold)
    }

    /// One flow in a scan: emit it if touched (or expiring), remove it if expired, or
    /// finished and held long enough.
    fn visit(&mut self, i: usize, touched: bool, pass: &Pass) {
        let e = &mut self.entries[i];
        let idle = pass.now_ns.saturating_sub(e.last_ns);
        let was_finished = e.finish != FinishType::NotFinished;
        let expire = pass.all || (!was_finished && idle >= pass.expire_ns);
        if expire && !was_finished {
            e.finish = FinishType::Timeout;
        }
        if touched || (expire && !was_finished) {
            if self.outbox.len() < pass.cap {
                let rec = e.emit(&mut self.cold[i], &pass.window, touched);
                self.outbox.push(rec);
                self.stats.updates_emitted += 1;
            } else {
                self.stats.updates_dropped += 1;
            }
        }
        if pass.all {
            return; // flush_all empties the table at once
        }
        if expire || (was_finished && idle >= pass.hold_ns) {
            if was_finished {
                self.stats.flows_finished += 1;
            } else {
                self.stats.flows_expired += 1;
            }
            self.remove(i);
        }
    }
}

/// Parameters of one scan.
struct Pass {
    window: Window,
    now_ns: i64,
    expire_ns: i64,
    hold_ns: i64,
    all: bool,
    /// Outbox capacity.
    cap: usize,
}

/// The update being emitted.
struct Window {
    version: u32,
    from_ms: i64,
    to_ms: i64,
}

/// Whether `seg` starts (`true`) or stops (`false`) its flow's RTT clock, with the time:
/// a SYN or an echo request starts it; a SYN-ACK, an RST or an echo reply stops it.
#[inline]
fn rtt_event(seg: &Segment<'_>, ts: Timestamp) -> Option<(bool, i64)> {
    let begin = if let Some(t) = seg.transport {
        if t.kind != TransportKind::Tcp {
            return None;
        }
        let syn = t.tcp_flags & tcp_flags::SYN != 0;
        let ack = t.tcp_flags & tcp_flags::ACK != 0;
        let rst = t.tcp_flags & tcp_flags::RST != 0;
        if syn && !ack {
            true
        } else if (syn && ack) || rst {
            false
        } else {
            return None;
        }
    } else {
        let icmp = seg.icmp?;
        if icmp.is_echo_request() {
            true
        } else if icmp.is_echo_reply() {
            false
        } else {
            return None;
        }
    };
    Some((begin, ts.as_nanos()))
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Entry {
    fn new(key: FlowKey, swapped: bool, ts: Timestamp) -> Entry {
        Entry {
            key,
            ab_packets: 0,
            ab_bytes: 0,
            ba_packets: 0,
            ba_bytes: 0,
            last_ns: ts.as_nanos(),
            touched: 0,
            finish: FinishType::NotFinished,
            a_swapped: swapped,
            live: true,
        }
    }

    /// The per-packet update: counters, time, TCP finish state. Returns whether the packet
    /// went A→B.
    #[inline]
    fn update(
        &mut self,
        seg: &Segment<'_>,
        swapped: bool,
        len: u32,
        ts: Timestamp,
        version: u32,
    ) -> bool {
        let ab = swapped == self.a_swapped;
        if ab {
            self.ab_packets += 1;
            self.ab_bytes += u64::from(len);
        } else {
            self.ba_packets += 1;
            self.ba_bytes += u64::from(len);
        }
        self.last_ns = self.last_ns.max(ts.as_nanos());
        self.touched = version;
        if let Some(t) = seg.transport.filter(|t| t.kind == TransportKind::Tcp) {
            if t.tcp_flags & tcp_flags::RST != 0 {
                self.finish = FinishType::TcpRst;
            } else if t.tcp_flags & tcp_flags::FIN != 0 && self.finish == FinishType::NotFinished {
                self.finish = FinishType::TcpFin;
            }
        }
        ab
    }

    fn counters(&self) -> [u64; 4] {
        [
            self.ab_packets,
            self.ab_bytes,
            self.ba_packets,
            self.ba_bytes,
        ]
    }

    /// The flow as it stands: identity from the key and `cold`, counters from here.
    fn record(&self, cold: &Cold) -> FlowUpdate {
        let [abp, abb, bap, bab] = self
            .counters()
            .map(|c| i64::try_from(c).unwrap_or(i64::MAX));
        let last = Timestamp::from_nanos(self.last_ns).as_millis();
        FlowUpdate {
            uuid: cold.uuid,
            parent_uuid: self.key.parent(),
            tracking_id: cold.tracking_id,
            l3_tracking_id: cold.l3_tracking_id,
            layers: cold.layers,
            link: cold.link,
            network: self.key.network(self.a_swapped),
            transport: cold.transport,
            icmp: cold.icmp,
            metric: FlowMetric {
                ab_packets: abp,
                ab_bytes: abb,
                ba_packets: bap,
                ba_bytes: bab,
                start: cold.start_ms,
                last,
                rtt: cold.rtt.ns,
            },
            last_update_metric: cold.emitted.then_some(cold.last_update),
            finish_type: self.finish,
            sampling_rate: cold.sampling_rate,
        }
    }

    /// The record of this update: `LastUpdateMetric` covers the counters since the previous
    /// emission (zero when untouched), over `[previous update, now]`.
    fn emit(&self, cold: &mut Cold, w: &Window, touched: bool) -> FlowUpdate {
        let counters = self.counters();
        let from_ms = if cold.emitted {
            w.from_ms
        } else {
            cold.start_ms
        };
        let sent = cold.sent;
        let delta = |i: usize| i64::try_from(counters[i] - sent[i]).unwrap_or(i64::MAX);
        let mut lum = FlowMetric {
            start: from_ms,
            last: w.to_ms,
            rtt: cold.rtt.ns,
            ..FlowMetric::default()
        };
        if touched {
            lum.ab_packets = delta(0);
            lum.ab_bytes = delta(1);
            lum.ba_packets = delta(2);
            lum.ba_bytes = delta(3);
        }
        cold.sent = counters;
        cold.emitted = true;
        cold.last_update = lum;
        self.record(cold)
    }
}

#[cfg(test)]
mod tests;

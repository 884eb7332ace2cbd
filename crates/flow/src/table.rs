//! [`FlowTable`]: packets in, flow records out, on the caller's clock.
//!
//! # Per packet
//! [`FlowTable::process_frame`] decodes the frame into a stack [`Layers`], builds one
//! [`FlowKey`] per segment (outer flow, then each inner flow keyed with its parent's UUID),
//! hashes it once and probes a `hashbrown::HashTable` with that hash. A hit updates the
//! entry's inline counters (AB/BA packets and bytes: L2 length in L2 key mode, L3 length in
//! L3 mode), last-seen time, TCP finish state and RTT. A miss allocates the entry's owned
//! [`Flow`] (strings for addresses, ids): the only allocation on the packet path.
//!
//! # Timers
//! Time only moves when the caller says so: each packet's timestamp, or [`FlowTable::tick`]
//! when the capture is idle. When it passes the next update time (every `update`, default 2
//! s), one scan over the table:
//! - emits every flow touched since the previous update, with `LastUpdateMetric` = the
//!   counters since then (so a flow reaches the analyzer at most `update` after its first
//!   packet);
//! - expires flows idle for `expire` (default 600 s): emitted one last time with
//!   `FinishType = TIMEOUT`, then removed;
//! - removes flows finished by FIN or RST once idle for `hold` (15 s, Skydive's hold time);
//!   their last update already carried `TCP_FIN`/`TCP_RST`.
//!
//! Emitted records wait in an outbox until [`FlowTable::drain_emitted`]; it holds at most
//! one record per flow per scan and is capped at twice `max_entries` (records beyond are
//! counted in [`TableStats::updates_dropped`]).
//!
//! # Bounds and memory
//! At most `max_entries` flows (Skydive's `flow.max_entries`, 500 000). A new flow that does
//! not fit is not created and counted in [`TableStats::flows_dropped`] (Skydive's
//! `FlowDropped`), with its packet. Skydive instead evicts the least recently used flow
//! without sending it; refusing the newcomer keeps every flow already reported consistent.
//! An entry is about 200 bytes plus its `Flow` (about 400 bytes with its strings).

use std::time::Duration;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry as Slot;

use crate::decode::{DecodeError, DecodeErrorCounts, decode};
use crate::flow::{FinishType, Flow, FlowLayer, FlowProtocol, IcmpLayer, IcmpType, TransportLayer};
use crate::key::{FlowKey, LayerKeyMode};
use crate::layers::{Layers, LinkType, Network, Segment, TransportKind, tcp_flags};
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
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

/// One flow in the table: hot counters inline, the owned record behind a box.
struct Entry {
    key: FlowKey,
    hash: u64,
    uuid: u64,
    ab_packets: u64,
    ab_bytes: u64,
    ba_packets: u64,
    ba_bytes: u64,
    last_ns: i64,
    rtt_start_ns: i64,
    rtt_ns: i64,
    /// Update version of the last packet: `> table.version` means touched since the last
    /// update.
    touched: u64,
    /// The first packet's `swapped` flag: packets with the same flag go A→B.
    a_swapped: bool,
    rtt_start_ab: bool,
    finish: FinishType,
    sampling_rate: u32,
    cold: Box<Cold>,
}

/// What only updates and queries read.
struct Cold {
    flow: Flow,
    /// Counters at the previous emission: `LastUpdateMetric` is the difference.
    sent: [u64; 4],
    emitted: bool,
}

/// A flow table for one capture. Not thread-safe by design: one capture thread owns it.
pub struct FlowTable {
    cfg: TableConfig,
    ids: CaptureIds,
    seed: u64,
    map: HashTable<Entry>,
    /// Incremented by each update scan.
    version: u64,
    /// Next update time (ns); `i64::MIN` until the first packet or tick starts the clock.
    next_update_ns: i64,
    last_update_ms: i64,
    outbox: Vec<Flow>,
    stats: TableStats,
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
        FlowTable {
            cfg,
            ids,
            seed,
            map: HashTable::new(),
            version: 0,
            next_update_ns: i64::MIN,
            last_update_ms: 0,
            outbox: Vec::new(),
            stats: TableStats::default(),
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
        let mut layers = Layers::new();
        let res = decode(frame, wire_len, link, &mut layers);
        if let Err(e) = &res {
            self.stats.decode_errors.add(e);
        }
        self.stats.packets += 1;
        self.stats.bytes += u64::from(wire_len.max(frame.len() as u32));
        self.account_layers(&layers, ts, sampling_rate);
        res
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
        let mut parent = 0;
        for seg in layers.segments() {
            match self.account(seg, parent, ts, sampling_rate) {
                Some(uuid) => parent = uuid,
                None => break,
            }
        }
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
    pub fn drain_emitted(&mut self, out: &mut Vec<Flow>) {
        out.append(&mut self.outbox);
    }

    /// Number of records waiting in the outbox.
    pub fn pending(&self) -> usize {
        self.outbox.len()
    }

    /// The current state of every flow (live queries). Allocates one `Flow` per flow.
    pub fn snapshot(&self) -> impl Iterator<Item = Flow> + '_ {
        self.map.iter().map(|e| {
            let mut f = e.cold.flow.clone();
            e.fill(&mut f);
            f
        })
    }

    /// Accounts one segment; returns its flow's UUID (the next segment's parent), or `None`
    /// when the table is full.
    #[inline]
    fn account(
        &mut self,
        seg: &Segment<'_>,
        parent: u64,
        ts: Timestamp,
        sampling_rate: u32,
    ) -> Option<u64> {
        let (key, swapped) = FlowKey::new(seg, parent, self.cfg.layer_key_mode);
        let hash = key.table_hash(self.seed);
        let len = match self.cfg.layer_key_mode {
            LayerKeyMode::L3 if seg.ip_length > 0 => seg.ip_length,
            _ => seg.length,
        };
        let version = self.version + 1;
        let full = self.map.len() >= self.cfg.max_entries;
        let entry = match self.map.entry(hash, |e| e.key == key, |e| e.hash) {
            Slot::Occupied(o) => o.into_mut(),
            Slot::Vacant(v) => {
                if full {
                    self.stats.flows_dropped += 1;
                    return None;
                }
                self.stats.flows_created += 1;
                let entry = Entry::new(seg, key, hash, swapped, ts, &self.ids);
                v.insert(entry).into_mut()
            }
        };
        entry.update(seg, swapped, len, ts, version, sampling_rate);
        Some(entry.uuid)
    }

    /// The update scan (see the module docs); with `all`, the end-of-capture flush.
    fn scan(&mut self, now: Timestamp, all: bool) {
        let now_ns = now.as_nanos();
        let now_ms = now.as_millis();
        let expire_ns = duration_ns(self.cfg.expire);
        let hold_ns = duration_ns(self.cfg.hold);
        let window = Window {
            version: self.version,
            from_ms: self.last_update_ms,
            to_ms: now_ms,
        };
        let cap = self.cfg.max_entries.saturating_mul(2).max(1024);
        let FlowTable {
            map, outbox, stats, ..
        } = self;
        map.retain(|e| {
            let idle = now_ns.saturating_sub(e.last_ns);
            let touched = e.touched > window.version;
            let was_finished = e.finish != FinishType::NotFinished;
            let expire = all || (!was_finished && idle >= expire_ns);
            if expire && !was_finished {
                e.finish = FinishType::Timeout;
            }
            if touched || (expire && !was_finished) {
                if outbox.len() < cap {
                    outbox.push(e.emit(&window, touched));
                    stats.updates_emitted += 1;
                } else {
                    stats.updates_dropped += 1;
                }
            }
            let remove = expire || (was_finished && idle >= hold_ns);
            if remove {
                if was_finished {
                    stats.flows_finished += 1;
                } else {
                    stats.flows_expired += 1;
                }
            }
            !remove
        });
        self.version += 1;
        self.last_update_ms = now_ms;
    }
}

/// The update being emitted.
struct Window {
    version: u64,
    from_ms: i64,
    to_ms: i64,
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Entry {
    fn new(
        seg: &Segment<'_>,
        key: FlowKey,
        hash: u64,
        swapped: bool,
        ts: Timestamp,
        ids: &CaptureIds,
    ) -> Entry {
        let stable = key.ids();
        let start_ms = ts.as_millis();
        let uuid = stable.uuid(start_ms, &ids.node_tid);
        let flow = Flow {
            uuid: format!("{uuid:x}"),
            layers_path: seg.path.to_string(),
            application: seg
                .path
                .last()
                .map(|k| k.name().to_owned())
                .unwrap_or_default(),
            link: seg.link.map(|l| FlowLayer {
                protocol: FlowProtocol::Ethernet,
                a: mac_string(l.src),
                b: mac_string(l.dst),
                id: l.vlan_id as i64,
            }),
            network: seg.network.map(|n| FlowLayer {
                protocol: match n {
                    Network::V4 { .. } => FlowProtocol::Ipv4,
                    Network::V6 { .. } => FlowProtocol::Ipv6,
                },
                a: n.src().to_string(),
                b: n.dst().to_string(),
                id: i64::from(seg.tunnel_id()),
            }),
            transport: seg.transport.map(|t| TransportLayer {
                protocol: match t.kind {
                    TransportKind::Tcp => FlowProtocol::Tcp,
                    TransportKind::Udp => FlowProtocol::Udp,
                    TransportKind::Sctp => FlowProtocol::Sctp,
                },
                a: i64::from(t.src_port),
                b: i64::from(t.dst_port),
                id: 0,
            }),
            icmp: seg.icmp.map(|i| IcmpLayer {
                icmp_type: IcmpType::from_raw(i.version, i.icmp_type),
                code: u32::from(i.code),
                id: u32::from(i.id),
            }),
            start: start_ms,
            last: start_ms,
            metric: FlowMetric {
                start: start_ms,
                last: start_ms,
                ..FlowMetric::default()
            },
            tracking_id: format!("{:x}", stable.tracking),
            l3_tracking_id: format!("{:x}", stable.l3_tracking),
            parent_uuid: match key.parent() {
                0 => String::new(),
                p => format!("{p:x}"),
            },
            node_tid: ids.node_tid.clone(),
            capture_id: ids.capture_id.clone(),
            ..Flow::default()
        };
        Entry {
            key,
            hash,
            uuid,
            ab_packets: 0,
            ab_bytes: 0,
            ba_packets: 0,
            ba_bytes: 0,
            last_ns: ts.as_nanos(),
            rtt_start_ns: NO_RTT_START,
            rtt_ns: 0,
            touched: 0,
            a_swapped: swapped,
            rtt_start_ab: false,
            finish: FinishType::NotFinished,
            sampling_rate: 0,
            cold: Box::new(Cold {
                flow,
                sent: [0; 4],
                emitted: false,
            }),
        }
    }

    /// The per-packet update: counters, time, TCP finish state, RTT.
    #[inline]
    fn update(
        &mut self,
        seg: &Segment<'_>,
        swapped: bool,
        len: u32,
        ts: Timestamp,
        version: u64,
        sampling_rate: u32,
    ) {
        let ab = swapped == self.a_swapped;
        if ab {
            self.ab_packets += 1;
            self.ab_bytes += u64::from(len);
        } else {
            self.ba_packets += 1;
            self.ba_bytes += u64::from(len);
        }
        let now = ts.as_nanos();
        self.last_ns = self.last_ns.max(now);
        self.touched = version;
        if sampling_rate != 0 {
            self.sampling_rate = sampling_rate;
        }
        if let Some(t) = seg.transport {
            if t.kind == TransportKind::Tcp {
                self.tcp(t.tcp_flags, ab, now);
            }
        } else if let Some(icmp) = seg.icmp {
            if icmp.is_echo_request() {
                self.rtt_begin(ab, now);
            } else if icmp.is_echo_reply() {
                self.rtt_end(ab, now);
            }
        }
    }

    fn tcp(&mut self, flags: u8, ab: bool, now: i64) {
        let syn = flags & tcp_flags::SYN != 0;
        let ack = flags & tcp_flags::ACK != 0;
        let rst = flags & tcp_flags::RST != 0;
        if syn && !ack {
            self.rtt_begin(ab, now);
        } else if (syn && ack) || rst {
            self.rtt_end(ab, now);
        }
        if rst {
            self.finish = FinishType::TcpRst;
        } else if flags & tcp_flags::FIN != 0 && self.finish == FinishType::NotFinished {
            self.finish = FinishType::TcpFin;
        }
    }

    /// A request (SYN, echo request): the first one starts the RTT clock.
    fn rtt_begin(&mut self, ab: bool, now: i64) {
        if self.rtt_start_ns == NO_RTT_START {
            self.rtt_start_ns = now;
            self.rtt_start_ab = ab;
        }
    }

    /// A reply in the other direction (SYN-ACK, RST, echo reply) stops it.
    fn rtt_end(&mut self, ab: bool, now: i64) {
        if self.rtt_start_ns != NO_RTT_START && ab != self.rtt_start_ab {
            self.rtt_ns = now.saturating_sub(self.rtt_start_ns).max(0);
            self.rtt_start_ns = NO_RTT_START;
        }
    }

    fn counters(&self) -> [u64; 4] {
        [
            self.ab_packets,
            self.ab_bytes,
            self.ba_packets,
            self.ba_bytes,
        ]
    }

    /// Copies the hot state into a record.
    fn fill(&self, f: &mut Flow) {
        let [abp, abb, bap, bab] = self
            .counters()
            .map(|c| i64::try_from(c).unwrap_or(i64::MAX));
        let last_ms = Timestamp::from_nanos(self.last_ns).as_millis();
        f.metric.ab_packets = abp;
        f.metric.ab_bytes = abb;
        f.metric.ba_packets = bap;
        f.metric.ba_bytes = bab;
        f.metric.last = last_ms;
        f.metric.rtt = self.rtt_ns;
        f.last = last_ms;
        f.finish_type = self.finish;
        f.sampling_rate = self.sampling_rate;
    }

    /// The record of this update: `LastUpdateMetric` covers the counters since the previous
    /// emission (zero when untouched), over `[previous update, now]`.
    fn emit(&mut self, w: &Window, touched: bool) -> Flow {
        let counters = self.counters();
        let cold = &mut *self.cold;
        let from_ms = if cold.emitted {
            w.from_ms
        } else {
            cold.flow.start
        };
        let delta = |i: usize| i64::try_from(counters[i] - cold.sent[i]).unwrap_or(i64::MAX);
        let mut lum = FlowMetric {
            start: from_ms,
            last: w.to_ms,
            rtt: self.rtt_ns,
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
        cold.flow.last_update_metric = Some(lum);
        let mut f = cold.flow.clone();
        self.fill(&mut f);
        f
    }
}

/// `aa:bb:cc:dd:ee:ff`, as Go's `net.HardwareAddr.String()`.
fn mac_string(mac: &[u8; 6]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests;

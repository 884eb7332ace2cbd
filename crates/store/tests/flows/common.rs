//! Helpers: flow stores in temporary directories, and flow tables whose updates feed them.

use skydive_flow::{
    CaptureIds, Flow, FlowTable, FrameBuilder, LinkType, TableConfig, Timestamp, tcp_flags,
};
use skydive_graph::{TimeMs, TimeSlice};
use skydive_store::{FlowSearch, FlowStore, FlowStoreConfig};
use tempfile::TempDir;

/// 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;

/// Test configuration: no periodic retention (tests call it when they mean it).
pub fn config(dir: &TempDir) -> FlowStoreConfig {
    FlowStoreConfig {
        retention_check_secs: 0,
        ..FlowStoreConfig::in_dir(dir.path())
    }
}

pub fn open(dir: &TempDir) -> FlowStore {
    FlowStore::open(config(dir)).expect("open flow store")
}

pub fn mac(i: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0, i]
}

pub fn ip(i: u8) -> [u8; 4] {
    [10, 0, 0, i]
}

/// A TCP segment from host `a` to host `b`.
pub fn tcp(a: u8, b: u8, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    FrameBuilder::new()
        .ethernet(mac(a), mac(b))
        .ipv4(ip(a), ip(b))
        .tcp(sport, dport, flags)
        .build()
}

/// A flow table capturing on node `tid`.
pub struct Capture(FlowTable);

impl Capture {
    pub fn new(tid: &str) -> Self {
        let ids = CaptureIds {
            node_tid: tid.into(),
            capture_id: "capture-1".into(),
        };
        Capture(FlowTable::new(TableConfig::default(), ids))
    }

    pub fn send(&mut self, ms: i64, frame: &[u8]) -> &mut Self {
        let ts = Timestamp::from_millis(ms);
        self.0
            .process_frame(frame, frame.len() as u32, LinkType::Ethernet, ts)
            .expect("fixture frames decode");
        self
    }

    /// The updates the table emits by `ms`.
    pub fn updates(&mut self, ms: i64) -> Vec<Flow> {
        self.0.tick(Timestamp::from_millis(ms));
        let mut out = Vec::new();
        self.0.drain_flows(&mut out);
        out
    }
}

pub fn slice(start: i64, last: i64) -> TimeSlice {
    TimeSlice {
        start: TimeMs(start),
        last: TimeMs(last),
    }
}

/// Every flow active at `t` (point slice).
pub fn at(store: &FlowStore, t: i64) -> Vec<Flow> {
    store.search(&FlowSearch::new(slice(t, t))).expect("search")
}

pub fn uuids(flows: &[Flow]) -> Vec<&str> {
    flows.iter().map(|f| f.uuid.as_str()).collect()
}

/// Stores `flows` and waits until they are on disk.
pub fn put(store: &FlowStore, flows: &[Flow]) {
    assert_eq!(store.store(flows).expect("store"), flows.len());
    store.flush().expect("flush");
}

pub const SYN: u8 = tcp_flags::SYN;
pub const ACK: u8 = tcp_flags::ACK;
pub const FIN: u8 = tcp_flags::FIN;

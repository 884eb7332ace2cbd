//! Skydive flows: the flow model, a zero-copy packet decoder, flow keys, the flow table, and
//! the sFlow v5 and pcap codecs.
//!
//! Main types:
//! - [`Flow`] and its layers ([`FlowLayer`], [`TransportLayer`], [`IcmpLayer`],
//!   [`FlowMetric`]): the records, serialised exactly as Skydive's API shows them.
//! - [`decode`] → [`Layers`]: a frame's headers as a borrowed, fixed-size view, one
//!   [`Segment`] per encapsulation level; [`DecodeError`] says what stopped it.
//! - [`FlowKey`]: the direction-independent identity of a flow, hashed once per packet;
//!   also the source of `TrackingID`, `L3TrackingID` and `UUID`.
//! - [`FlowTable`]: accounts packets into flows, emits [`FlowUpdate`]s (plain data) every
//!   `flow.update`, expires idle flows, bounded by `flow.max_entries`; [`TableStats`] counts
//!   everything it drops. [`FlowUpdate::to_flow`] makes the API's `Flow`.
//! - [`sflow`]: sFlow v5 datagrams (decoder, encoder, [`sflow::SflowIngest`] into a table).
//! - [`LiveFlows`]: the analyzer's live state of active flows, fed by agents' updates, read
//!   by queries without a time context; [`Flow::field`] reads a flow's dotted fields.
//! - [`rpc`]: Skydive v0.2's `/rpc/flows` and `/rpc/conversation` answers over flow lists.
//! - [`pcap`]: classic pcap files over byte slices. [`FrameBuilder`]: frames for tests,
//!   fixtures, benchmarks and packet injection.
//!
//! What this crate must not do: I/O (it reads and writes byte slices only: sockets, files
//! and rings belong to `skydive-probes`), async (no tokio: tables run on the capture thread
//! that owns them), or depend on the graph (`skydive-graph`): a flow names its capture
//! node by its `NodeTID` string. It has no `unsafe` code.
//!
//! ```
//! use skydive_flow::{CaptureIds, FlowTable, FrameBuilder, LinkType, TableConfig, Timestamp};
//!
//! let mut table = FlowTable::new(TableConfig::default(), CaptureIds::default());
//! let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
//! let ping = FrameBuilder::new().ethernet(a, b).ipv4([10, 0, 0, 1], [10, 0, 0, 2])
//!     .icmpv4_echo_request(1, 1).build();
//! let pong = FrameBuilder::new().ethernet(b, a).ipv4([10, 0, 0, 2], [10, 0, 0, 1])
//!     .icmpv4_echo_reply(1, 1).build();
//! let t0 = Timestamp::from_millis(1_700_000_000_000);
//! table.process_frame(&ping, ping.len() as u32, LinkType::Ethernet, t0).unwrap();
//! table.process_frame(&pong, pong.len() as u32, LinkType::Ethernet,
//!     Timestamp::from_nanos(t0.as_nanos() + 250_000)).unwrap();
//! table.flush(Timestamp::from_millis(1_700_000_001_000));
//!
//! let mut flows = Vec::new();
//! table.drain_flows(&mut flows);
//! assert_eq!(flows.len(), 1);
//! assert_eq!(flows[0].layers_path, "Ethernet/IPv4/ICMPv4");
//! assert_eq!((flows[0].metric.ab_packets, flows[0].metric.ba_packets), (1, 1));
//! assert_eq!(flows[0].metric.rtt, 250_000);
//! ```
#![forbid(unsafe_code)]

mod cursor;
mod decode;
mod field;
mod flow;
mod flow_update;
mod frame_builder;
pub mod fuzzing;
mod key;
mod layers;
mod live;
mod metric;
pub mod pcap;
pub mod rpc;
pub mod sflow;
mod table;

pub use decode::{
    DecodeError, DecodeErrorCounts, DecodeReason, DecodeReasonKind, decode, decode_with,
};
pub use field::{FIELD_KEYS, FieldRef};
pub use flow::{FinishType, Flow, FlowLayer, FlowProtocol, IcmpLayer, IcmpType, TransportLayer};
pub use flow_update::{FlowUpdate, IcmpInfo, LinkInfo, NetworkInfo, TransportInfo};
pub use frame_builder::FrameBuilder;
pub use key::{FlowKey, LayerKeyMode, StableIds};
pub use layers::{
    Ethernet, Fragment, Icmp, IcmpVersion, LayerKind, LayerPath, Layers, LinkType, MAX_PATH,
    MAX_SEGMENTS, MAX_VLANS, Network, Segment, Transport, TransportKind, TunnelKind, tcp_flags,
};
pub use live::{Applied, LiveConfig, LiveFlows, LiveStats};
pub use metric::{FlowMetric, Timestamp};
pub use table::{
    CaptureIds, DEFAULT_EXPIRE_SECS, DEFAULT_MAX_ENTRIES, DEFAULT_UPDATE_SECS, FlowConfig,
    FlowConfigError, FlowTable, TableConfig, TableStats,
};

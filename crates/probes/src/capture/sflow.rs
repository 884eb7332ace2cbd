//! `sflow` captures: a plain sFlow v5 collector for any exporter (a physical switch,
//! `hsflowd`, an OVS configured by hand), on `agent.flow.sflow.bind_address` and the
//! capture's `Port` (default 6343). Its flows are attributed to the selected node, whatever
//! its type (`NodeTID` = the node's TID), and its counter samples go to that node's `SFlow`
//! metadata.
//!
//! The agent configures nothing outside itself: pointing the exporter at the collector is
//! the user's job. One port serves one capture (a port already in use is an error that
//! names it); exporters sharing a collector are told apart only by their flows.

use std::path::PathBuf;

use skydive_flow::{CaptureIds, TableConfig};

use super::CaptureSettings;
use super::collector::CollectorOptions;
use super::config::CapturesConfig;

/// The collector of an `sflow` capture: one port, the capture's.
pub fn collector_options(
    cfg: &CapturesConfig,
    settings: &CaptureSettings,
    table: TableConfig,
    ids: CaptureIds,
    netns: Option<PathBuf>,
) -> CollectorOptions {
    CollectorOptions {
        bind: cfg.sflow.bind_address,
        ports: settings.port..=settings.port,
        rcvbuf_bytes: cfg.sflow.rcvbuf_bytes,
        netns,
        table,
        ids,
        queue_size: cfg.capture.queue_size,
    }
}

//! Integration tests of skydive-flow, one binary: pcap fixtures through a flow table, the
//! flow JSON against Skydive's shape, and properties (no panics, symmetric keys).

mod fixtures;
mod json;
mod pcaps;
mod props;

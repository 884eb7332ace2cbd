//! Integration tests of the topology probes and captures, built as one binary (STYLE §9).
//!
//! Lab tests need root: they build namespaces, veths and bridges under unique names through a
//! [`skydive_testlab::Lab`] guard that removes them even on failure, and skip with a printed reason
//! otherwise. Traffic stays inside the namespaces they create.

mod capture_ovssflow;
mod capture_sflow;
mod graph_query;
mod host_topology;
mod netlink_lab;
mod netlink_links;
mod netlink_overrun;
mod netns_lab;
mod ovsdb_client;
mod ovsdb_lab;
mod ovsdb_restart;

//! `netlink` probe: keeps every known namespace's interfaces in the graph, in step with the
//! kernel (one listener per namespace: the agent's own, plus each one the netns probe finds).
//!
//! Per interface node (owned by the namespace's root: host or netns node), Skydive's keys:
//! `Name, Type, EncapType, IfIndex, Driver, MTU, MAC, State, LinkFlags, IPV4, IPV6,
//! MasterIndex, ParentIndex, PeerIfIndex, LinkNetNsID, LinkNetNsName, Speed, BusInfo, Vlan,
//! RoutingTables, Neighbors, FDB, Metric, LastUpdateMetric, TID` (see `docs/probes.md`).
//!
//! Organisation:
//! - [`NetlinkProbe`], [`NetlinkConfig`]: the probe and its `agent.topology.netlink` keys;
//! - [`NamespaceRegistry`] (`registry.rs`): namespaces and their listeners;
//! - `engine.rs`: one namespace's listener (dumps, notifications, resync, graph writes);
//! - `model.rs`: the mirror of a namespace's kernel state and the metadata computed from it;
//! - `link.rs`, `route.rs`, `neighbor.rs`, `metric.rs`: message → metadata conversions;
//! - `socket.rs`: the netlink sockets; `ethtool.rs`: the ethtool ioctl.
//!
//! Threads: sockets are opened on a short-lived `setns` thread, then driven by tokio.
//! Must not: touch nodes it did not create, or hold the graph lock across an `.await`.

mod engine;
pub mod ethtool;
pub mod link;
pub mod metric;
pub mod model;
pub mod neighbor;
mod registry;
pub mod route;
pub mod socket;

use futures::FutureExt;
use serde::Deserialize;

pub use registry::NamespaceRegistry;

use crate::probe::{Probe, ProbeContext, ProbeError, ProbeHandle, ProbeStatus, Unavailable};
use crate::topology::TopologyConfig;

/// `agent.topology.netlink.*`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NetlinkConfig {
    /// `metrics_update`: seconds between two reads of the interface counters (`Metric`,
    /// `LastUpdateMetric`). Skydive's key and default: 30.
    pub metrics_update: u64,
    /// `socket_buffer_bytes`: receive buffer of each namespace's notification socket. A burst
    /// larger than this makes the kernel drop notifications; the probe then re-reads the whole
    /// namespace. Default 4 MiB (forced past `net.core.rmem_max` when the agent may).
    pub socket_buffer_bytes: usize,
}

impl Default for NetlinkConfig {
    fn default() -> Self {
        NetlinkConfig {
            metrics_update: 30,
            socket_buffer_bytes: 4 << 20,
        }
    }
}

impl NetlinkConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.metrics_update == 0 {
            return Err("agent.topology.netlink.metrics_update must be at least 1 (second)".into());
        }
        if self.socket_buffer_bytes < 4096 {
            return Err(format!(
                "agent.topology.netlink.socket_buffer_bytes must be at least 4096, got {}",
                self.socket_buffer_bytes
            ));
        }
        Ok(())
    }
}

/// The `netlink` probe.
pub struct NetlinkProbe;

impl Probe for NetlinkProbe {
    const NAME: &'static str = "netlink";
    const ALWAYS_ON: bool = true;

    fn check(_cfg: &TopologyConfig) -> Result<(), Unavailable> {
        netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)
            .map(|_| ())
            .map_err(|e| Unavailable(format!("cannot open a NETLINK_ROUTE socket: {e}")))
    }

    fn start(_cfg: &TopologyConfig, cx: ProbeContext) -> Result<ProbeHandle, ProbeError> {
        cx.namespaces.enable();
        let reg = cx.namespaces.clone();
        let stop_reg = cx.namespaces.clone();
        Ok(ProbeHandle::new(cx.cancel.clone(), move || ProbeStatus {
            namespaces: reg.statuses(),
            ..ProbeStatus::new(Self::NAME, reg.host_state())
        })
        .on_stop(move || async move { stop_reg.shutdown().await }.boxed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_and_defaults() {
        let c: NetlinkConfig =
            serde_json::from_value(serde_json::json!({"metrics_update": 5})).unwrap();
        assert_eq!(
            c,
            NetlinkConfig {
                metrics_update: 5,
                ..NetlinkConfig::default()
            }
        );
        assert_eq!(NetlinkConfig::default().metrics_update, 30);
        assert!(
            NetlinkConfig {
                metrics_update: 0,
                ..NetlinkConfig::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            NetlinkConfig {
                socket_buffer_bytes: 10,
                ..NetlinkConfig::default()
            }
            .validate()
            .is_err()
        );
        assert!(NetlinkConfig::default().validate().is_ok());
    }
}

//! The configuration captures run with: `agent.flow.sflow.*` (where sFlow collectors listen),
//! `agent.capture.*` (status refresh, queues), plus the `flow.*` table keys of `skydive-flow`
//! and the `ovs.*` section of the `ovsdb` probe, gathered in [`CapturesConfig`].
//!
//! ```
//! use skydive_probes::capture::SflowConfig;
//! let cfg: SflowConfig = yaml_serde::from_str("bind_address: 0.0.0.0\nport_min: 7000\nport_max: 7010").unwrap();
//! assert_eq!((cfg.port_min, cfg.port_max, cfg.rcvbuf_bytes), (7000, 7010, 8 << 20));
//! assert!(cfg.validate().is_ok());
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use skydive_flow::FlowConfig;

use crate::ovsdb::OvsConfig;

/// Skydive's `agent.flow.sflow.port_min`.
pub const DEFAULT_PORT_MIN: u16 = 6345;
/// Skydive's `agent.flow.sflow.port_max`.
pub const DEFAULT_PORT_MAX: u16 = 6355;
/// The port of an `sflow` capture without `Port` (the IANA sFlow port).
pub const DEFAULT_SFLOW_PORT: u16 = 6343;

/// `agent.flow.sflow.*`: where this agent's sFlow collectors listen (Skydive's keys, plus
/// `rcvbuf_bytes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SflowConfig {
    /// `bind_address`: the address collectors bind to. Default `127.0.0.1` (Skydive's): OVS on
    /// the same host reaches it; an `sflow` capture fed by a switch needs a routable address
    /// (or `0.0.0.0`).
    pub bind_address: IpAddr,
    /// `port_min`, `port_max`: the ports `ovssflow` collectors take, the first free one in
    /// order (Skydive: 6345–6355, so at most 11 bridges captured at once).
    pub port_min: u16,
    pub port_max: u16,
    /// `rcvbuf_bytes`: receive buffer of each collector socket, in bytes (forced past
    /// `net.core.rmem_max` when the agent has CAP_NET_ADMIN). A socket never gets less than
    /// the kernel's default (`net.core.rmem_default`); 0 keeps that default. Default 8 MiB:
    /// about 30 ms of a 1.5 M samples/s stream. A full buffer drops datagrams, counted in
    /// `PacketsDropped`.
    pub rcvbuf_bytes: usize,
    /// `netns`: the network namespace collector sockets are opened in — a name under
    /// `/var/run/netns` or an absolute path; empty (the default): the agent's own. Needed
    /// when `ovs-vswitchd` runs in another namespace than the agent: OVS sends its samples
    /// to the collector address from its own namespace.
    pub netns: String,
}

impl SflowConfig {
    /// [`SflowConfig::netns`] as a path; `None` for the agent's own namespace.
    pub fn netns_path(&self) -> Option<std::path::PathBuf> {
        let n = self.netns.trim();
        if n.is_empty() {
            None
        } else if n.starts_with('/') {
            Some(n.into())
        } else {
            Some(std::path::Path::new("/var/run/netns").join(n))
        }
    }
}

impl Default for SflowConfig {
    fn default() -> Self {
        SflowConfig {
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_min: DEFAULT_PORT_MIN,
            port_max: DEFAULT_PORT_MAX,
            rcvbuf_bytes: 8 << 20,
            netns: String::new(),
        }
    }
}

impl SflowConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.port_min == 0 || self.port_min > self.port_max {
            return Err(format!(
                "agent.flow.sflow.port_min ({}) must be at least 1 and at most agent.flow.sflow.port_max ({})",
                self.port_min, self.port_max
            ));
        }
        if self.netns.contains("..") || (!self.netns.starts_with('/') && self.netns.contains('/')) {
            return Err(format!(
                "agent.flow.sflow.netns `{}` must be a namespace name (under /var/run/netns) or an absolute path",
                self.netns
            ));
        }
        if self.rcvbuf_bytes > 1 << 30 {
            return Err(format!(
                "agent.flow.sflow.rcvbuf_bytes must be at most 1 GiB, got {}",
                self.rcvbuf_bytes
            ));
        }
        Ok(())
    }
}

/// `agent.capture.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptureConfig {
    /// `stats_update`: seconds between two refreshes of a node's `Captures` entry (its
    /// counters) and `SFlow` counters. Skydive's key and default: 1.
    pub stats_update: u64,
    /// `queue_size`: flow-table scans waiting between a capture's packet thread and the
    /// thread that turns them into flow batches. When full, the newest scan's records are
    /// dropped and counted (`FlowRecordsDropped`); each scan holds at most twice
    /// `flow.max_entries` records. Default 4.
    pub queue_size: usize,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            stats_update: 1,
            queue_size: 4,
        }
    }
}

impl CaptureConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.stats_update == 0 {
            return Err("agent.capture.stats_update must be at least 1 (second)".into());
        }
        if self.queue_size == 0 {
            return Err("agent.capture.queue_size must be at least 1".into());
        }
        Ok(())
    }

    pub fn stats_period(&self) -> Duration {
        Duration::from_secs(self.stats_update.max(1))
    }
}

/// Everything a capture runs with; the binary fills it from the configuration file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapturesConfig {
    /// `agent.flow.sflow.*`.
    pub sflow: SflowConfig,
    /// `agent.capture.*`.
    pub capture: CaptureConfig,
    /// `flow.*`: the flow table of each capture.
    pub flow: FlowConfig,
    /// `ovs.*`: where `ovssflow` captures write their `sFlow` rows.
    pub ovs: OvsConfig,
}

impl CapturesConfig {
    /// Cross-field checks, with the offending key in the message.
    pub fn validate(&self) -> Result<(), String> {
        self.sflow.validate()?;
        self.capture.validate()?;
        self.flow.table_config().map_err(|e| e.to_string())?;
        self.ovs.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_skydives() {
        let s = SflowConfig::default();
        assert_eq!(s.bind_address.to_string(), "127.0.0.1");
        assert_eq!((s.port_min, s.port_max), (6345, 6355));
        assert_eq!(CaptureConfig::default().stats_update, 1);
        assert!(CapturesConfig::default().validate().is_ok());
    }

    #[test]
    fn keys_parse_and_bad_values_name_their_key() {
        let c: CaptureConfig =
            serde_json::from_value(serde_json::json!({"stats_update": 5})).unwrap();
        assert_eq!(c.stats_period(), Duration::from_secs(5));
        let bad = SflowConfig {
            port_min: 7000,
            port_max: 6999,
            ..SflowConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("agent.flow.sflow.port_min")
        );
        let bad = CaptureConfig {
            stats_update: 0,
            ..CaptureConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("agent.capture.stats_update")
        );
        let mut all = CapturesConfig::default();
        all.flow.update = 0;
        assert!(all.validate().unwrap_err().contains("flow.update"));
    }
}

//! `ovs.*`: where the OVSDB server is and what the probe reads from it (Skydive's keys, plus
//! `max_message_bytes`).
//!
//! ```
//! use skydive_probes::ovsdb::{OvsConfig, OvsdbAddress};
//! let cfg: OvsConfig = yaml_serde::from_str("ovsdb: tcp://127.0.0.1:6400\nenable_stats: true").unwrap();
//! assert_eq!(cfg.address().unwrap(), OvsdbAddress::Tcp("127.0.0.1:6400".into()));
//! assert_eq!(OvsConfig::default().address().unwrap().to_string(), "unix:///var/run/openvswitch/db.sock");
//! ```

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::jsonrpc::DEFAULT_MAX_MESSAGE_BYTES;

/// Skydive's default `ovs.ovsdb`.
pub const DEFAULT_OVSDB: &str = "unix:///var/run/openvswitch/db.sock";

/// `ovs.*` (a top-level section of the agent's configuration, as in Skydive).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct OvsConfig {
    /// `ovsdb`: the OVSDB server. `unix:///path`, `unix:/path`, `tcp://host:port`,
    /// `tcp:host:port` or `host:port`. Default `unix:///var/run/openvswitch/db.sock`.
    pub ovsdb: String,
    /// `enable_stats`: also monitor `Interface.statistics` (updated by ovs-vswitchd every 5 s)
    /// and write `Ovs.Metric`/`Ovs.LastUpdateMetric`. Skydive's key and default: false.
    pub enable_stats: bool,
    /// `max_message_bytes`: largest OVSDB message accepted (the initial monitor reply of a
    /// large switch is the biggest); a larger one drops the connection. Default 64 MiB.
    pub max_message_bytes: usize,
}

impl Default for OvsConfig {
    fn default() -> Self {
        OvsConfig {
            ovsdb: DEFAULT_OVSDB.into(),
            enable_stats: false,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

impl OvsConfig {
    /// The parsed `ovsdb` address.
    pub fn address(&self) -> Result<OvsdbAddress, String> {
        OvsdbAddress::parse(&self.ovsdb).map_err(|e| format!("ovs.ovsdb: {e}"))
    }

    pub fn validate(&self) -> Result<(), String> {
        self.address()?;
        if self.max_message_bytes < 4096 {
            return Err(format!(
                "ovs.max_message_bytes must be at least 4096, got {}",
                self.max_message_bytes
            ));
        }
        Ok(())
    }
}

/// Where an OVSDB server listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OvsdbAddress {
    /// A Unix socket path.
    Unix(PathBuf),
    /// `host:port` (a name, an IPv4 address, or an IPv6 address in brackets).
    Tcp(String),
}

impl OvsdbAddress {
    /// Parses Skydive's and OVS's address forms.
    pub fn parse(s: &str) -> Result<OvsdbAddress, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty address".into());
        }
        if let Some(rest) = s.strip_prefix("unix:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(format!(
                    "`{s}`: a unix socket path must be absolute (e.g. unix:///var/run/openvswitch/db.sock)"
                ));
            }
            return Ok(OvsdbAddress::Unix(PathBuf::from(path)));
        }
        let hostport = if let Some(rest) = s.strip_prefix("tcp:") {
            rest.strip_prefix("//").unwrap_or(rest)
        } else if let Some((scheme, _)) = s.split_once("://") {
            return Err(format!(
                "`{s}`: unsupported scheme `{scheme}` (use unix:// or tcp://)"
            ));
        } else if s.starts_with("ssl:") || s.starts_with("punix:") || s.starts_with("ptcp:") {
            return Err(format!(
                "`{s}`: only active unix: and tcp: connections are supported"
            ));
        } else {
            s
        };
        let hostport = hostport.trim_end_matches('/');
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => return Err(format!("`{s}`: missing port (e.g. tcp://127.0.0.1:6640)")),
        };
        if host.is_empty() {
            return Err(format!("`{s}`: missing host"));
        }
        if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
            return Err(format!(
                "`{s}`: write IPv6 addresses in brackets, e.g. [::1]:6640"
            ));
        }
        match port.parse::<u16>() {
            Ok(p) if p != 0 => {}
            _ => return Err(format!("`{s}`: invalid port `{port}`")),
        }
        Ok(OvsdbAddress::Tcp(hostport.to_owned()))
    }
}

impl fmt::Display for OvsdbAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OvsdbAddress::Unix(p) => write!(f, "unix://{}", p.display()),
            OvsdbAddress::Tcp(hp) => write!(f, "tcp://{hp}"),
        }
    }
}

impl std::str::FromStr for OvsdbAddress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_skydive_and_ovs_address_forms() {
        let unix = OvsdbAddress::Unix("/var/run/openvswitch/db.sock".into());
        for s in [
            "unix:///var/run/openvswitch/db.sock",
            "unix:/var/run/openvswitch/db.sock",
        ] {
            assert_eq!(OvsdbAddress::parse(s).unwrap(), unix, "{s}");
        }
        let tcp = OvsdbAddress::Tcp("127.0.0.1:6400".into());
        for s in [
            "tcp://127.0.0.1:6400",
            "127.0.0.1:6400",
            "tcp:127.0.0.1:6400",
            " tcp://127.0.0.1:6400/ ",
        ] {
            assert_eq!(OvsdbAddress::parse(s).unwrap(), tcp, "{s}");
        }
        assert_eq!(
            OvsdbAddress::parse("tcp://[::1]:6640").unwrap(),
            OvsdbAddress::Tcp("[::1]:6640".into())
        );
        assert_eq!(
            OvsdbAddress::parse("ovs.example:6640").unwrap().to_string(),
            "tcp://ovs.example:6640"
        );
        assert_eq!(unix.to_string(), DEFAULT_OVSDB);
    }

    #[test]
    fn refuses_what_cannot_work_and_says_why() {
        for (s, why) in [
            ("", "empty"),
            ("unix:db.sock", "absolute"),
            ("ssl:1.2.3.4:6640", "only active"),
            ("http://1.2.3.4:6640", "unsupported scheme `http`"),
            ("127.0.0.1", "missing port"),
            ("127.0.0.1:0", "invalid port"),
            ("tcp://:6640", "missing host"),
            ("::1:6640", "brackets"),
        ] {
            let err = OvsdbAddress::parse(s).unwrap_err();
            assert!(err.contains(why), "{s}: {err}");
        }
        let cfg = OvsConfig {
            ovsdb: "nope".into(),
            ..OvsConfig::default()
        };
        assert!(cfg.validate().unwrap_err().starts_with("ovs.ovsdb: "));
        let cfg = OvsConfig {
            max_message_bytes: 10,
            ..OvsConfig::default()
        };
        assert!(
            cfg.validate()
                .unwrap_err()
                .contains("ovs.max_message_bytes")
        );
    }

    #[test]
    fn keys_and_defaults() {
        let c: OvsConfig =
            serde_json::from_value(serde_json::json!({"enable_stats": true})).unwrap();
        assert_eq!(
            c,
            OvsConfig {
                enable_stats: true,
                ..OvsConfig::default()
            }
        );
        assert!(OvsConfig::default().validate().is_ok());
    }
}

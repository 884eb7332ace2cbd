//! Who is connected to each WebSocket endpoint, with per-connection counters: what
//! `/api/status` lists under `Publishers` and `Subscribers`, and what refuses a second
//! connection with the same `X-Host-ID` (HTTP 409, as Skydive does).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use parking_lot::Mutex;
use serde::Serialize;

/// Counters of one connection. Every message that is not delivered is counted somewhere.
#[derive(Debug, Default)]
pub struct ConnCounters {
    /// Messages queued for sending.
    pub sent: AtomicU64,
    /// Messages dropped because the connection's send queue was full (`http.ws.queue_size`).
    pub dropped: AtomicU64,
    /// Messages received from the client.
    pub received: AtomicU64,
    /// Received messages refused (malformed, invalid, not applicable).
    pub rejected: AtomicU64,
    /// Full re-synchronisations sent because events were lost (bus lag or full queue).
    pub resyncs: AtomicU64,
}

impl ConnCounters {
    fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            sent: self.sent.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            resyncs: self.resyncs.load(Ordering::Relaxed),
        }
    }
}

/// A copy of [`ConnCounters`], as shown in `/api/status`.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct CountersSnapshot {
    #[serde(rename = "Sent")]
    pub sent: u64,
    #[serde(rename = "Dropped")]
    pub dropped: u64,
    #[serde(rename = "Received")]
    pub received: u64,
    #[serde(rename = "Rejected")]
    pub rejected: u64,
    #[serde(rename = "Resyncs")]
    pub resyncs: u64,
}

impl CountersSnapshot {
    fn add(&mut self, o: &CountersSnapshot) {
        self.sent += o.sent;
        self.dropped += o.dropped;
        self.received += o.received;
        self.rejected += o.rejected;
        self.resyncs += o.resyncs;
    }
}

/// What is known about one connection.
#[derive(Debug)]
pub struct ConnInfo {
    pub service_type: String,
    pub addr: SocketAddr,
    pub connect_time: SystemTime,
    pub counters: Arc<ConnCounters>,
    /// The subscriber's current Gremlin filter, if any.
    pub filter: Mutex<Option<String>>,
    pub update_policy: Option<&'static str>,
    pub persistence_policy: Option<String>,
}

/// One connection in `/api/status`; Skydive's `ConnStatus` fields plus our counters.
#[derive(Debug, Serialize)]
pub struct ConnStatus {
    #[serde(rename = "ServiceType")]
    pub service_type: String,
    #[serde(rename = "ClientProtocol")]
    pub client_protocol: &'static str,
    #[serde(rename = "Addr")]
    pub addr: String,
    #[serde(rename = "Port")]
    pub port: u16,
    #[serde(rename = "IsConnected")]
    pub is_connected: bool,
    /// RFC 3339, as Go marshals a `time.Time`.
    #[serde(rename = "ConnectTime")]
    pub connect_time: String,
    #[serde(rename = "GremlinFilter", skip_serializing_if = "Option::is_none")]
    pub gremlin_filter: Option<String>,
    #[serde(rename = "UpdatePolicy", skip_serializing_if = "Option::is_none")]
    pub update_policy: Option<&'static str>,
    #[serde(rename = "PersistencePolicy", skip_serializing_if = "Option::is_none")]
    pub persistence_policy: Option<String>,
    #[serde(flatten)]
    pub counters: CountersSnapshot,
}

/// The connections of one endpoint.
#[derive(Debug)]
pub struct Registry {
    endpoint: &'static str,
    conns: Mutex<HashMap<String, Arc<ConnInfo>>>,
    /// Counters of connections already gone, so totals never go backwards.
    closed: Mutex<CountersSnapshot>,
}

/// A second connection with a host id already connected to the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host id `{host}` is already connected to {endpoint}: give each client its own X-Host-ID")]
pub struct HostConflict {
    pub host: String,
    pub endpoint: &'static str,
}

/// Removes its connection from the registry when dropped.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<Registry>,
    host: String,
    pub info: Arc<ConnInfo>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut conns = self.registry.conns.lock();
        if conns
            .get(&self.host)
            .is_some_and(|c| Arc::ptr_eq(c, &self.info))
        {
            conns.remove(&self.host);
        }
        drop(conns);
        self.registry
            .closed
            .lock()
            .add(&self.info.counters.snapshot());
    }
}

impl Registry {
    pub fn new(endpoint: &'static str) -> Arc<Self> {
        Arc::new(Registry {
            endpoint,
            conns: Mutex::default(),
            closed: Mutex::default(),
        })
    }

    /// Records a connection; refuses a host id already connected.
    pub fn register(
        self: &Arc<Self>,
        host: &str,
        info: ConnInfo,
    ) -> Result<Registration, HostConflict> {
        let mut conns = self.conns.lock();
        if conns.contains_key(host) {
            return Err(HostConflict {
                host: host.to_owned(),
                endpoint: self.endpoint,
            });
        }
        let info = Arc::new(info);
        conns.insert(host.to_owned(), info.clone());
        Ok(Registration {
            registry: self.clone(),
            host: host.to_owned(),
            info,
        })
    }

    /// Every connection, by host id.
    pub fn status(&self) -> BTreeMap<String, ConnStatus> {
        let conns = self.conns.lock();
        conns
            .iter()
            .map(|(host, c)| {
                let status = ConnStatus {
                    service_type: c.service_type.clone(),
                    client_protocol: "json",
                    addr: c.addr.ip().to_string(),
                    port: c.addr.port(),
                    is_connected: true,
                    connect_time: humantime::format_rfc3339_millis(c.connect_time).to_string(),
                    gremlin_filter: c.filter.lock().clone(),
                    update_policy: c.update_policy,
                    persistence_policy: c.persistence_policy.clone(),
                    counters: c.counters.snapshot(),
                };
                (host.clone(), status)
            })
            .collect()
    }

    /// Counters summed over every connection this endpoint ever had.
    pub fn totals(&self) -> CountersSnapshot {
        let mut t = *self.closed.lock();
        for c in self.conns.lock().values() {
            t.add(&c.counters.snapshot());
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ConnInfo {
        ConnInfo {
            service_type: "test".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            connect_time: SystemTime::now(),
            counters: Arc::default(),
            filter: Mutex::new(None),
            update_policy: None,
            persistence_policy: None,
        }
    }

    #[test]
    fn same_host_twice_conflicts_until_the_first_leaves() {
        let r = Registry::new("/ws/subscriber");
        let a = r.register("h1", info()).unwrap();
        let e = r.register("h1", info()).unwrap_err();
        assert!(
            e.to_string()
                .contains("`h1` is already connected to /ws/subscriber")
        );
        a.info.counters.dropped.fetch_add(3, Ordering::Relaxed);
        drop(a);
        assert_eq!(r.totals().dropped, 3);
        let _b = r.register("h1", info()).unwrap();
        assert_eq!(r.status().len(), 1);
    }
}

//! Capture definitions (`/api/capture`): Skydive's fields, validated, kept by the analyzer
//! and persisted to `<storage.data_dir>/captures.json` (rewritten atomically on every change)
//! so they survive a restart. A memory-only analyzer keeps them in memory.
//!
//! Every change bumps a revision that agent sessions watch ([`Captures::subscribe`]): they
//! then send the whole list to their agent (`Captures` message, `docs/protocol.md`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use skydive_probes::capture::CaptureSpec;
use tokio::sync::watch;

/// Capture types an agent can start.
pub const TYPES: &[&str] = &["ovssflow", "sflow", "pcap", "afpacket", "pcapsocket"];

/// A capture, with Skydive's JSON field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Capture {
    #[serde(rename = "UUID")]
    pub uuid: String,
    #[serde(rename = "GremlinQuery")]
    pub gremlin_query: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "BPFFilter")]
    pub bpf_filter: String,
    #[serde(rename = "HeaderSize")]
    pub header_size: i64,
    #[serde(rename = "RawPacketLimit")]
    pub raw_packet_limit: i64,
    #[serde(rename = "LayerKeyMode")]
    pub layer_key_mode: String,
    #[serde(rename = "SamplingRate")]
    pub sampling_rate: u32,
    #[serde(rename = "PollingInterval")]
    pub polling_interval: u32,
    #[serde(rename = "Port")]
    pub port: i64,
    #[serde(rename = "ExtraTCPMetric")]
    pub extra_tcp_metric: bool,
    /// Nodes the capture runs on now (filled when answering).
    #[serde(rename = "Count")]
    pub count: u64,
}

impl Capture {
    /// Checks a capture as a client created it; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.gremlin_query.trim().is_empty() {
            return Err("GremlinQuery is required: the nodes to capture on, e.g. G.V().Has('Type', 'ovsbridge')".into());
        }
        skydive_gremlin::parse(&self.gremlin_query)
            .map_err(|e| format!("GremlinQuery is not a valid query: {e}"))?;
        if !self.kind.is_empty() && !TYPES.contains(&self.kind.as_str()) {
            return Err(format!(
                "Type `{}` is not a capture type: {}",
                self.kind,
                TYPES.join(", ")
            ));
        }
        if !matches!(self.layer_key_mode.as_str(), "" | "L2" | "L3") {
            return Err(format!(
                "LayerKeyMode `{}` is invalid: L2 or L3",
                self.layer_key_mode
            ));
        }
        if !(0..=65_535).contains(&self.header_size) {
            return Err(format!(
                "HeaderSize {} is out of 0..65535",
                self.header_size
            ));
        }
        if self.raw_packet_limit < 0 {
            return Err("RawPacketLimit must not be negative".into());
        }
        if !(0..=65_535).contains(&self.port) {
            return Err(format!("Port {} is out of 0..65535", self.port));
        }
        Ok(())
    }
}

impl Capture {
    /// What an agent runs for this capture on a node (the selection, `GremlinQuery`, is the
    /// agent's to evaluate). Values were validated on creation; out-of-range numbers from a
    /// hand-edited file saturate, and the capture then fails on the node with a message.
    pub fn spec(&self) -> CaptureSpec {
        let u32_of = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        CaptureSpec {
            id: self.uuid.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            capture_type: self.kind.clone(),
            bpf_filter: self.bpf_filter.clone(),
            header_size: u32_of(self.header_size),
            sampling_rate: self.sampling_rate,
            polling_interval: self.polling_interval,
            port: u32_of(self.port),
            layer_key_mode: self.layer_key_mode.clone(),
            extra_tcp_metric: self.extra_tcp_metric,
            raw_packet_limit: u32_of(self.raw_packet_limit),
            ..CaptureSpec::default()
        }
    }
}

/// The analyzer's captures, by UUID.
#[derive(Debug)]
pub struct Captures {
    file: Option<PathBuf>,
    map: Mutex<BTreeMap<String, Capture>>,
    /// Bumped after every change.
    revision: watch::Sender<u64>,
}

impl Captures {
    /// Loads `file` when given (a missing file is an empty set).
    pub fn open(file: Option<PathBuf>) -> Result<Self, String> {
        let map = match &file {
            Some(f) => match std::fs::read(f) {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|e| format!("cannot read captures from {}: {e}", f.display()))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                Err(e) => return Err(format!("cannot read {}: {e}", f.display())),
            },
            None => BTreeMap::new(),
        };
        Ok(Captures {
            file,
            map: Mutex::new(map),
            revision: watch::Sender::new(0),
        })
    }

    /// A receiver woken after every change (the value is a revision counter).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    fn changed(&self) {
        self.revision.send_modify(|r| *r += 1);
    }

    fn save(&self, map: &BTreeMap<String, Capture>) -> Result<(), String> {
        let Some(f) = &self.file else { return Ok(()) };
        let tmp = f.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(map).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, f))
            .map_err(|e| format!("cannot write {}: {e}", f.display()))
    }

    /// Adds a validated capture, giving it a UUID when it has none.
    pub fn create(&self, mut c: Capture) -> Result<Capture, String> {
        if c.uuid.is_empty() {
            c.uuid = uuid::Uuid::new_v4().to_string();
        }
        c.count = 0;
        let mut map = self.map.lock();
        let mut next = map.clone();
        next.insert(c.uuid.clone(), c.clone());
        self.save(&next)?;
        *map = next;
        drop(map);
        self.changed();
        Ok(c)
    }

    pub fn list(&self) -> BTreeMap<String, Capture> {
        self.map.lock().clone()
    }

    pub fn get(&self, id: &str) -> Option<Capture> {
        self.map.lock().get(id).cloned()
    }

    /// Removes a capture; `Ok(false)` when there was none.
    pub fn delete(&self, id: &str) -> Result<bool, String> {
        let mut map = self.map.lock();
        if !map.contains_key(id) {
            return Ok(false);
        }
        let mut next = map.clone();
        next.remove(id);
        self.save(&next)?;
        *map = next;
        drop(map);
        self.changed();
        Ok(true)
    }
}

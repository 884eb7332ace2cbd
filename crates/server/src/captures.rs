//! Capture definitions (`/api/capture`): Skydive's fields, validated, kept by the analyzer
//! and persisted to `<storage.data_dir>/captures.json` (rewritten atomically on every change)
//! so they survive a restart. A memory-only analyzer keeps them in memory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

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

/// The analyzer's captures, by UUID.
#[derive(Debug)]
pub struct Captures {
    file: Option<PathBuf>,
    map: Mutex<BTreeMap<String, Capture>>,
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
        })
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
        Ok(true)
    }
}

//! The node metadata a capture owns: its entry in the node's `Captures` list (Skydive's
//! `CaptureMetadata`) and, for sFlow captures, the node's `SFlow` counters.
//!
//! ```text
//! Captures: [{ID, State: active|error, Name, Description, BPFFilter, Type, SFlowSocket, Error,
//!             PacketsReceived, PacketsDropped, PacketsIfDropped, …CaptureStats}]
//! ```
//!
//! Several captures can run on one node, so each one replaces or removes only the entry with
//! its `ID`; every write is one graph transaction (`update_node`): one revision, one event.
//! Writes to a node that vanished are ignored (the capture is then stopped by its owner).

use serde_json::{Map, Value};
use skydive_graph::{Id, SharedGraph};

use super::collector::CaptureStats;

/// The `Captures` key.
pub const CAPTURES_KEY: &str = "Captures";
/// The `SFlow` key.
pub const SFLOW_KEY: &str = "SFlow";

/// `State` of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    Active,
    Error,
}

/// One capture's entry.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureEntry {
    pub id: String,
    pub state: EntryState,
    pub name: String,
    pub description: String,
    pub bpf_filter: String,
    pub capture_type: String,
    pub sflow_socket: String,
    pub error: String,
    pub stats: CaptureStats,
}

impl CaptureEntry {
    /// The JSON object: the counters, then the strings that are not empty (as Skydive's
    /// `omitempty`).
    pub fn to_json(&self) -> Value {
        let mut m = match serde_json::to_value(self.stats) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let state = match self.state {
            EntryState::Active => "active",
            EntryState::Error => "error",
        };
        for (k, v) in [
            ("ID", self.id.as_str()),
            ("State", state),
            ("Name", &self.name),
            ("Description", &self.description),
            ("BPFFilter", &self.bpf_filter),
            ("Type", &self.capture_type),
            ("SFlowSocket", &self.sflow_socket),
            ("Error", &self.error),
        ] {
            if !v.is_empty() {
                m.insert(k.to_owned(), Value::from(v));
            }
        }
        Value::Object(m)
    }
}

fn entry_id(v: &Value) -> Option<&str> {
    v.get("ID").and_then(Value::as_str)
}

/// Writes (adds or replaces) the entry with `entry`'s `ID` in `node`'s `Captures`; false when
/// the node is not in the graph.
pub fn set_entry(graph: &SharedGraph, node: &Id, entry: &CaptureEntry) -> bool {
    let value = entry.to_json();
    let mut g = graph.write();
    g.update_node(node, |m| {
        let mut list = match m.get(CAPTURES_KEY) {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        match list.iter_mut().find(|e| entry_id(e) == Some(&entry.id)) {
            Some(e) => *e = value,
            None => list.push(value),
        }
        m.set(CAPTURES_KEY, Value::Array(list));
    })
    .is_ok()
}

/// Removes capture `capture_id`'s entry from `node`'s `Captures` (the key goes with its last
/// entry). The agent calls it when a capture that failed to start (its entry says `error`)
/// is deleted or no longer selects the node; a stopped capture removes its own entry.
pub fn remove_capture_entry(graph: &SharedGraph, node: &Id, capture_id: &str) {
    let mut g = graph.write();
    let _ = g.update_node(node, |m| {
        let Some(Value::Array(list)) = m.get(CAPTURES_KEY) else {
            return;
        };
        let rest: Vec<Value> = list
            .iter()
            .filter(|e| entry_id(e) != Some(capture_id))
            .cloned()
            .collect();
        if rest.is_empty() {
            m.remove(CAPTURES_KEY);
        } else {
            m.set(CAPTURES_KEY, Value::Array(rest));
        }
    });
}

/// Sets `node`'s `SFlow` counters.
pub fn set_sflow(graph: &SharedGraph, node: &Id, value: Value) {
    let _ = graph.write().update_node(node, |m| {
        m.set(SFLOW_KEY, value);
    });
}

/// Removes `node`'s `SFlow` counters.
pub fn remove_sflow(graph: &SharedGraph, node: &Id) {
    let _ = graph.write().update_node(node, |m| {
        m.remove(SFLOW_KEY);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use skydive_graph::{GraphOptions, Metadata, gen_id};

    fn entry(id: &str, state: EntryState) -> CaptureEntry {
        CaptureEntry {
            id: id.into(),
            state,
            name: "cap".into(),
            description: String::new(),
            bpf_filter: String::new(),
            capture_type: "sflow".into(),
            sflow_socket: "127.0.0.1:6343".into(),
            error: String::new(),
            stats: CaptureStats {
                packets_received: 3,
                ..CaptureStats::default()
            },
        }
    }

    #[test]
    fn entries_are_replaced_by_id_and_removed() {
        let graph = SharedGraph::new(GraphOptions::new("h", "agent.h"));
        let id = gen_id(&["n"]);
        graph
            .write()
            .create_node(id.clone(), Metadata::from_pairs([("Name", json!("n"))]))
            .unwrap();
        assert!(set_entry(&graph, &id, &entry("a", EntryState::Active)));
        assert!(set_entry(&graph, &id, &entry("b", EntryState::Active)));
        let mut again = entry("a", EntryState::Error);
        again.error = "boom".into();
        assert!(set_entry(&graph, &id, &again));
        let caps = graph
            .read()
            .node(&id)
            .unwrap()
            .metadata
            .get("Captures")
            .cloned();
        let caps = caps.unwrap();
        assert_eq!(caps.as_array().unwrap().len(), 2);
        assert_eq!(caps[0]["ID"], "a");
        assert_eq!(caps[0]["State"], "error");
        assert_eq!(caps[0]["Error"], "boom");
        assert_eq!(caps[0]["PacketsReceived"], 3);
        assert_eq!(caps[0]["PacketsIfDropped"], 0);
        assert_eq!(caps[1]["SFlowSocket"], "127.0.0.1:6343");
        assert!(
            caps[1].get("Description").is_none(),
            "empty strings are left out"
        );
        remove_capture_entry(&graph, &id, "a");
        remove_capture_entry(&graph, &id, "b");
        assert!(
            graph
                .read()
                .node(&id)
                .unwrap()
                .metadata
                .get("Captures")
                .is_none()
        );
        let gone = gen_id(&["gone"]);
        assert!(!set_entry(&graph, &gone, &entry("a", EntryState::Active)));
    }
}

//! A full sync cut into messages: `SyncBegin`, `SyncChunk`s of about `agent.sync_chunk_bytes`
//! (at most [`protocol::MAX_CHUNK_ELEMENTS`] elements each, every node before the first
//! edge), `SyncEnd`. Elements are encoded one at a time, so only one chunk is in memory.
//!
//! An element whose JSON alone exceeds the largest message is skipped, with the edges touching
//! a skipped node, and counted (`Forwarder.Oversized`): the analyzer would refuse the frame.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde_json::json;
use skydive_graph::{Edge, Id, Node};

use crate::protocol::{self, types};

/// A full sync being sent: `SyncBegin`, chunks, `SyncEnd`.
pub(crate) struct SyncCursor {
    generation: u64,
    nodes: Vec<Arc<Node>>,
    edges: Vec<Arc<Edge>>,
    began: bool,
    node_pos: usize,
    edge_pos: usize,
    ended: bool,
    chunk_bytes: usize,
    max_obj: usize,
}

impl SyncCursor {
    /// A sync of `nodes` and `edges` in chunks of about `chunk_bytes`; an element whose JSON
    /// exceeds `max_obj` bytes is skipped.
    pub fn new(
        generation: u64,
        nodes: Vec<Arc<Node>>,
        edges: Vec<Arc<Edge>>,
        chunk_bytes: usize,
        max_obj: usize,
    ) -> Self {
        SyncCursor {
            generation,
            nodes,
            edges,
            began: false,
            node_pos: 0,
            edge_pos: 0,
            ended: false,
            chunk_bytes,
            max_obj,
        }
    }

    /// The next message, or `None` when the sync is sent. Skipped elements go to `skipped`.
    pub fn next(
        &mut self,
        skipped: &mut HashSet<Id>,
        oversized: &AtomicU64,
    ) -> Option<(&'static str, String)> {
        if !self.began {
            self.began = true;
            let obj = json!({"Generation": self.generation, "Nodes": self.nodes.len(), "Edges": self.edges.len()});
            return Some((types::SYNC_BEGIN, obj.to_string()));
        }
        if self.node_pos < self.nodes.len() || self.edge_pos < self.edges.len() {
            return Some(self.chunk(skipped, oversized));
        }
        if !self.ended {
            self.ended = true;
            let obj = json!({"Generation": self.generation});
            return Some((types::SYNC_END, obj.to_string()));
        }
        None
    }

    fn chunk(
        &mut self,
        skipped: &mut HashSet<Id>,
        oversized: &AtomicU64,
    ) -> (&'static str, String) {
        let mut nodes = String::new();
        let mut edges = String::new();
        let mut count = 0usize;
        let full = |len: usize, count: usize, chunk: usize| {
            len >= chunk || count >= protocol::MAX_CHUNK_ELEMENTS
        };
        while self.node_pos < self.nodes.len() && !full(nodes.len(), count, self.chunk_bytes) {
            let n = &self.nodes[self.node_pos];
            let text = protocol::node_obj(n);
            if text.len() > self.max_obj {
                oversized.fetch_add(1, Relaxed);
                skipped.insert(n.id.clone());
                tracing::warn!(node = %n.id, bytes = text.len(), "node too large for one message (http.ws.max_message_bytes): not forwarded");
                self.node_pos += 1;
                continue;
            }
            if !nodes.is_empty() && nodes.len() + text.len() > self.chunk_bytes {
                break;
            }
            if !nodes.is_empty() {
                nodes.push(',');
            }
            nodes.push_str(&text);
            count += 1;
            self.node_pos += 1;
        }
        if self.node_pos >= self.nodes.len() {
            while self.edge_pos < self.edges.len()
                && !full(nodes.len() + edges.len(), count, self.chunk_bytes)
            {
                let e = &self.edges[self.edge_pos];
                if skipped.contains(&e.parent) || skipped.contains(&e.child) {
                    oversized.fetch_add(1, Relaxed);
                    skipped.insert(e.id.clone());
                    self.edge_pos += 1;
                    continue;
                }
                let text = protocol::edge_obj(e);
                if text.len() > self.max_obj {
                    oversized.fetch_add(1, Relaxed);
                    skipped.insert(e.id.clone());
                    self.edge_pos += 1;
                    continue;
                }
                let used = nodes.len() + edges.len();
                if used > 0 && used + text.len() > self.chunk_bytes {
                    break;
                }
                if !edges.is_empty() {
                    edges.push(',');
                }
                edges.push_str(&text);
                count += 1;
                self.edge_pos += 1;
            }
        }
        (
            types::SYNC_CHUNK,
            format!(
                "{{\"Generation\":{},\"Nodes\":[{nodes}],\"Edges\":[{edges}]}}",
                self.generation
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use skydive_graph::{GraphOptions, Metadata, SharedGraph};

    #[test]
    fn syncs_are_chunked_nodes_first_and_skip_oversized_elements() {
        let g = SharedGraph::new(GraphOptions::new("h", "agent.h"));
        let mut ids = Vec::new();
        for i in 0..50 {
            let pad = if i == 3 {
                "x".repeat(5000)
            } else {
                String::new()
            };
            let n = g
                .write()
                .create_node(
                    format!("n{i:02}").into(),
                    Metadata::from_pairs([
                        ("Name", json!(format!("n{i}"))),
                        ("Type", json!("t")),
                        ("Pad", json!(pad)),
                    ]),
                )
                .unwrap();
            ids.push(n.id.clone());
        }
        for i in 0..10 {
            g.write()
                .create_edge(
                    format!("e{i}").into(),
                    ids[i].clone(),
                    ids[i + 1].clone(),
                    Metadata::from_pairs([("RelationType", json!("layer2"))]),
                )
                .unwrap();
        }
        let (nodes, edges) = {
            let r = g.read();
            let mut n: Vec<_> = r.nodes().cloned().collect();
            n.sort_by(|a, b| a.id.cmp(&b.id));
            let mut e: Vec<_> = r.edges().cloned().collect();
            e.sort_by(|a, b| a.id.cmp(&b.id));
            (n, e)
        };
        let mut c = SyncCursor::new(7, nodes, edges, 2048, 4096);
        let mut skipped = HashSet::new();
        let oversized = AtomicU64::new(0);
        let mut msgs = Vec::new();
        while let Some((kind, obj)) = c.next(&mut skipped, &oversized) {
            assert!(obj.len() <= 2048 + 4096, "{}", obj.len());
            msgs.push((kind, serde_json::from_str::<Value>(&obj).unwrap()));
        }
        assert_eq!(msgs.first().unwrap().0, "SyncBegin");
        assert_eq!(
            msgs.first().unwrap().1,
            json!({"Generation": 7, "Nodes": 50, "Edges": 10})
        );
        assert_eq!(msgs.last().unwrap().0, "SyncEnd");
        let chunks: Vec<&Value> = msgs
            .iter()
            .filter(|(k, _)| *k == "SyncChunk")
            .map(|(_, v)| v)
            .collect();
        assert!(chunks.len() > 2, "cut into several chunks");
        let count = |key: &str| {
            chunks
                .iter()
                .map(|c| c[key].as_array().unwrap().len())
                .sum::<usize>()
        };
        assert_eq!(count("Nodes"), 49, "the oversized node is skipped");
        // n03's edges (e2: n02->n03, e3: n03->n04) are skipped with it.
        assert_eq!(count("Edges"), 8);
        assert_eq!(oversized.load(Relaxed), 3);
        let first_edge_chunk = chunks
            .iter()
            .position(|c| !c["Edges"].as_array().unwrap().is_empty())
            .unwrap();
        assert!(
            chunks[first_edge_chunk + 1..]
                .iter()
                .all(|c| c["Nodes"].as_array().unwrap().is_empty())
        );
        // Every element is decodable by the analyzer.
        for c in &chunks {
            let frame = protocol::agent_frame(2, "SyncChunk", &c.to_string());
            protocol::decode_agent(frame.as_bytes()).unwrap();
        }
    }
}

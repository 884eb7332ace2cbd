//! Nodes and edges, serialised exactly as Skydive's JSON:
//! `{ID, Metadata, Host, Origin, CreatedAt, UpdatedAt, DeletedAt?, Revision}`, edges add
//! `Parent` and `Child`. Times are epoch milliseconds; `DeletedAt` is omitted while alive.
//!
//! Size matters here: a graph holds one `Arc<Node>` per node and one `Arc<Edge>` per edge, so
//! a `Node` is 88 bytes and an `Edge` 120 (ids 16, host and origin 8 each), the largest that
//! fit glibc's 112- and 144-byte chunks with the `Arc` counts. A field added here costs a
//! chunk size (16 bytes) per element at once; a test below checks the sizes.

use serde::{Deserialize, Serialize};

use crate::{AsIdRef, Id, Metadata, SharedStr, TimeMs};

/// A graph node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: Id,
    #[serde(rename = "Metadata", default)]
    pub metadata: Metadata,
    #[serde(rename = "Host", default)]
    pub host: SharedStr,
    #[serde(rename = "Origin", default)]
    pub origin: SharedStr,
    #[serde(rename = "CreatedAt", default)]
    pub created_at: TimeMs,
    #[serde(rename = "UpdatedAt", default)]
    pub updated_at: TimeMs,
    #[serde(rename = "DeletedAt", default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<TimeMs>,
    #[serde(rename = "Revision", default)]
    pub revision: i64,
}

/// A directed graph edge, from `Parent` to `Child`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    #[serde(rename = "ID")]
    pub id: Id,
    #[serde(rename = "Metadata", default)]
    pub metadata: Metadata,
    #[serde(rename = "Parent")]
    pub parent: Id,
    #[serde(rename = "Child")]
    pub child: Id,
    #[serde(rename = "Host", default)]
    pub host: SharedStr,
    #[serde(rename = "Origin", default)]
    pub origin: SharedStr,
    #[serde(rename = "CreatedAt", default)]
    pub created_at: TimeMs,
    #[serde(rename = "UpdatedAt", default)]
    pub updated_at: TimeMs,
    #[serde(rename = "DeletedAt", default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<TimeMs>,
    #[serde(rename = "Revision", default)]
    pub revision: i64,
}

impl Node {
    /// A new node created now by `host` on behalf of `origin`, at revision 1.
    pub fn new(id: Id, metadata: Metadata, host: SharedStr, origin: SharedStr) -> Self {
        let now = TimeMs::now();
        Node {
            id,
            metadata,
            host,
            origin,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            revision: 1,
        }
    }
}

impl Edge {
    /// A new edge created now by `host` on behalf of `origin`, at revision 1.
    pub fn new(
        id: Id,
        parent: Id,
        child: Id,
        metadata: Metadata,
        host: SharedStr,
        origin: SharedStr,
    ) -> Self {
        let now = TimeMs::now();
        Edge {
            id,
            metadata,
            parent,
            child,
            host,
            origin,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            revision: 1,
        }
    }

    /// The end of this edge that is not `node`, if `node` is one of its ends.
    pub fn other_end(&self, node: &(impl AsIdRef + ?Sized)) -> Option<&Id> {
        let node = node.as_id_ref();
        if self.parent == node {
            Some(&self.child)
        } else if self.child == node {
            Some(&self.parent)
        } else {
            None
        }
    }
}

/// Which kind of element: used by history records and the `@`-keys of queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ElementKind {
    Node,
    Edge,
}

/// What nodes and edges have in common, for code that treats both alike (filters, history).
pub trait Element {
    fn id(&self) -> &Id;
    fn metadata(&self) -> &Metadata;
    fn host(&self) -> &str;
    fn origin(&self) -> &str;
    fn created_at(&self) -> TimeMs;
    fn updated_at(&self) -> TimeMs;
    fn deleted_at(&self) -> Option<TimeMs>;
    fn revision(&self) -> i64;
    fn kind(&self) -> ElementKind;
}

macro_rules! impl_element {
    ($t:ty, $kind:expr) => {
        impl Element for $t {
            fn id(&self) -> &Id {
                &self.id
            }
            fn metadata(&self) -> &Metadata {
                &self.metadata
            }
            fn host(&self) -> &str {
                &self.host
            }
            fn origin(&self) -> &str {
                &self.origin
            }
            fn created_at(&self) -> TimeMs {
                self.created_at
            }
            fn updated_at(&self) -> TimeMs {
                self.updated_at
            }
            fn deleted_at(&self) -> Option<TimeMs> {
                self.deleted_at
            }
            fn revision(&self) -> i64 {
                self.revision
            }
            fn kind(&self) -> ElementKind {
                $kind
            }
        }
    };
}

impl_element!(Node, ElementKind::Node);
impl_element!(Edge, ElementKind::Edge);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn elements_fit_their_allocator_size_classes() {
        assert_eq!(std::mem::size_of::<Node>(), 88);
        assert_eq!(std::mem::size_of::<Edge>(), 120);
    }

    #[test]
    fn node_json_matches_skydive() {
        let mut n = Node::new(
            Id::from("n1"),
            Metadata::from_pairs([("Name", json!("eth0"))]),
            SharedStr::from("h"),
            SharedStr::from("agent.h"),
        );
        n.created_at = TimeMs(1000);
        n.updated_at = TimeMs(2000);
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(
            v,
            json!({"ID": "n1", "Metadata": {"Name": "eth0"}, "Host": "h", "Origin": "agent.h",
                   "CreatedAt": 1000, "UpdatedAt": 2000, "Revision": 1})
        );
        let back: Node = serde_json::from_value(v).unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn edge_json_has_parent_child_and_deleted_at() {
        let mut e = Edge::new(
            Id::from("e"),
            Id::from("a"),
            Id::from("b"),
            Metadata::new(),
            SharedStr::from("h"),
            SharedStr::from("o"),
        );
        e.deleted_at = Some(TimeMs(5));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["Parent"], "a");
        assert_eq!(v["Child"], "b");
        assert_eq!(v["DeletedAt"], 5);
        assert_eq!(e.other_end("a"), Some(&Id::from("b")));
        assert_eq!(e.other_end("z"), None);
    }
}

//! Compact binary encoding of element revisions, for the change log and checkpoints.
//!
//! JSON would work, but reading the past decodes every element of the graph (a million for a
//! large deployment), and parsing text is several times slower than reading lengths and
//! integers. Host and origin strings, repeated on every element, are shared while decoding.
//!
//! ```text
//! record     = FORMAT tag element                  (one change, in `topology_log`)
//! chunk      = FORMAT count:varint (tag element)*   (part of a checkpoint; tags are "added")
//! tag        = kind | change      kind: 0x10 node, 0x20 edge; change: 1 added, 2 updated, 3 deleted
//! element    = id [parent child] host origin created:zz updated:zz deleted revision:zz metadata
//! deleted    = 0 | 1 time:zz
//! string     = len:varint utf8-bytes
//! value      = 0 null | 1 false | 2 true | 3 varint (u64) | 4 varint (-1-n, negative i64)
//!            | 5 f64-le | 6 string | 7 count:varint value* | 8 count:varint (string value)*
//! ```
//! `varint` is LEB128, `zz` a zigzag varint. Metadata deeper than [`MAX_DEPTH`] is cut (the
//! deeper part is stored as null) so that every record written can be read back.
//!
//! Decoding never panics and never allocates more than the input could hold: every length is
//! checked against what remains before use. Errors are [`DecodeError`]s; callers add the key.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Number, Value};
use skydive_graph::{Edge, GraphEvent, Id, Metadata, Node, SharedStr, TimeMs};

/// Version of the record and chunk layouts; a reader refuses versions it does not know.
pub(crate) const FORMAT: u8 = 1;

/// Nesting limit of metadata values (serde_json's own parser stops at 128 too).
pub(crate) const MAX_DEPTH: usize = 128;

const KIND_NODE: u8 = 0x10;
const KIND_EDGE: u8 = 0x20;

/// What a record did to its element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Added = 1,
    Updated = 2,
    Deleted = 3,
}

/// One revision of a node or an edge.
#[derive(Debug, Clone)]
pub(crate) enum Revision {
    Node(Arc<Node>),
    Edge(Arc<Edge>),
}

/// One change as the log keeps it: the whole new revision (a deletion carries `DeletedAt`).
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub change: Change,
    pub rev: Revision,
}

impl Record {
    /// The record of a graph event: costs reference counts, not copies.
    pub fn from_event(ev: &GraphEvent) -> Self {
        use GraphEvent::*;
        let (change, rev) = match ev {
            NodeAdded(n) => (Change::Added, Revision::Node(n.clone())),
            NodeUpdated(n) | NodePartiallyUpdated(n, _) => {
                (Change::Updated, Revision::Node(n.clone()))
            }
            NodeDeleted(n) => (Change::Deleted, Revision::Node(n.clone())),
            EdgeAdded(e) => (Change::Added, Revision::Edge(e.clone())),
            EdgeUpdated(e) | EdgePartiallyUpdated(e, _) => {
                (Change::Updated, Revision::Edge(e.clone()))
            }
            EdgeDeleted(e) => (Change::Deleted, Revision::Edge(e.clone())),
        };
        Record { change, rev }
    }

    /// The element's own time for this change: `DeletedAt` for a deletion, else `UpdatedAt`.
    pub fn element_time(&self) -> TimeMs {
        let (updated, deleted) = match &self.rev {
            Revision::Node(n) => (n.updated_at, n.deleted_at),
            Revision::Edge(e) => (e.updated_at, e.deleted_at),
        };
        match self.change {
            Change::Deleted => deleted.unwrap_or(updated),
            _ => updated,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(FORMAT);
        encode_revision(self.change, &self.rev, out);
    }
}

/// Why bytes did not decode. Small and `Copy`: a damaged store may yield many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DecodeError(pub(crate) &'static str);

pub(crate) type DResult<T> = Result<T, DecodeError>;

// ----- encoding -----

fn encode_revision(change: Change, rev: &Revision, out: &mut Vec<u8>) {
    match rev {
        Revision::Node(n) => {
            out.push(KIND_NODE | change as u8);
            put_str(out, &n.id.as_str());
            put_common(
                out,
                &n.host,
                &n.origin,
                n.created_at,
                n.updated_at,
                n.deleted_at,
                n.revision,
            );
            put_metadata(out, &n.metadata);
        }
        Revision::Edge(e) => {
            out.push(KIND_EDGE | change as u8);
            put_str(out, &e.id.as_str());
            put_str(out, &e.parent.as_str());
            put_str(out, &e.child.as_str());
            put_common(
                out,
                &e.host,
                &e.origin,
                e.created_at,
                e.updated_at,
                e.deleted_at,
                e.revision,
            );
            put_metadata(out, &e.metadata);
        }
    }
}

/// A checkpoint chunk holding `revs` (alive elements, so stored as "added").
#[cfg(test)]
pub(crate) fn encode_chunk(revs: &[Revision]) -> Vec<u8> {
    let mut out = Vec::with_capacity(revs.len() * 256);
    out.push(FORMAT);
    put_varint(&mut out, revs.len() as u64);
    for r in revs {
        encode_revision(Change::Added, r, &mut out);
    }
    out
}

fn put_common(
    out: &mut Vec<u8>,
    host: &str,
    origin: &str,
    created: TimeMs,
    updated: TimeMs,
    deleted: Option<TimeMs>,
    revision: i64,
) {
    put_str(out, host);
    put_str(out, origin);
    put_zigzag(out, created.0);
    put_zigzag(out, updated.0);
    match deleted {
        None => out.push(0),
        Some(t) => {
            out.push(1);
            put_zigzag(out, t.0);
        }
    }
    put_zigzag(out, revision);
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_metadata(out: &mut Vec<u8>, m: &Metadata) {
    put_varint(out, m.len() as u64);
    for (k, v) in m.iter() {
        put_str(out, k);
        put_value(out, v, 1);
    }
}

fn put_object(out: &mut Vec<u8>, m: &Map<String, Value>, depth: usize) {
    put_varint(out, m.len() as u64);
    for (k, v) in m {
        put_str(out, k);
        put_value(out, v, depth + 1);
    }
}

fn put_value(out: &mut Vec<u8>, v: &Value, depth: usize) {
    // A container at the deepest level would hold values the reader refuses: cut it here.
    if depth >= MAX_DEPTH && (v.is_array() || v.is_object()) {
        out.push(0);
        return;
    }
    match v {
        Value::Null => out.push(0),
        Value::Bool(false) => out.push(1),
        Value::Bool(true) => out.push(2),
        Value::Number(n) => put_number(out, n),
        Value::String(s) => {
            out.push(6);
            put_str(out, s);
        }
        Value::Array(items) => {
            out.push(7);
            put_varint(out, items.len() as u64);
            for item in items {
                put_value(out, item, depth + 1);
            }
        }
        Value::Object(m) => {
            out.push(8);
            put_object(out, m, depth);
        }
    }
}

fn put_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(u) = n.as_u64() {
        out.push(3);
        put_varint(out, u);
    } else if let Some(i) = n.as_i64() {
        // Negative here: store -1-i, which is >= 0.
        out.push(4);
        put_varint(out, !i as u64);
    } else {
        out.push(5);
        out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
    }
}

// ----- decoding -----

/// Shares the host and origin strings of decoded elements: thousands of elements carry the
/// same few values, so this saves an allocation and memory per element.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    seen: HashSet<SharedStr>,
}

impl Interner {
    /// Distinct values kept; past that, strings are allocated (a cap against hostile data).
    const CAP: usize = 4096;

    fn get(&mut self, s: &str) -> SharedStr {
        if let Some(v) = self.seen.get(s) {
            return v.clone();
        }
        let v = SharedStr::from(s);
        if self.seen.len() < Self::CAP {
            self.seen.insert(v.clone());
        }
        v
    }
}

/// Decodes one log record.
pub(crate) fn decode_record(bytes: &[u8], it: &mut Interner) -> DResult<Record> {
    let mut r = Reader { buf: bytes };
    r.format()?;
    let rec = r.revision(it)?;
    r.end()?;
    Ok(rec)
}

/// What a log record is about, without decoding the element: node or edge, the change,
/// and the element's id.
pub(crate) fn peek_record(bytes: &[u8]) -> DResult<(bool, Change, &str)> {
    let mut r = Reader { buf: bytes };
    r.format()?;
    let (is_node, change) = split_tag(r.u8()?)?;
    Ok((is_node, change, r.str()?))
}

/// A log record checked without being decoded: node or edge, the change, the element's id,
/// and the element's bytes as a chunk holds them (from its id on), for
/// [`ChunkBuilder::push`].
pub(crate) fn walk_record(bytes: &[u8]) -> DResult<(bool, Change, &str, &[u8])> {
    let mut r = Reader { buf: bytes };
    r.format()?;
    let (is_node, change) = split_tag(r.u8()?)?;
    let element = r.buf;
    let id = r.str()?;
    r.skip_element(is_node)?;
    r.end()?;
    Ok((is_node, change, id, element))
}

/// The elements of a checkpoint chunk, checked but not decoded: whether each is a node, its
/// id, and its bytes (from its id on), for [`ChunkBuilder::push`].
pub(crate) fn walk_chunk(bytes: &[u8]) -> DResult<ChunkElements<'_>> {
    let mut r = Reader { buf: bytes };
    r.format()?;
    let left = r.count(1)?;
    if left == 0 {
        r.end()?;
    }
    Ok(ChunkElements { r, left })
}

/// Iterator of [`walk_chunk`]; it stops at the first error.
pub(crate) struct ChunkElements<'a> {
    r: Reader<'a>,
    left: usize,
}

impl<'a> ChunkElements<'a> {
    fn next_element(&mut self) -> DResult<(bool, &'a str, &'a [u8])> {
        let (is_node, change) = split_tag(self.r.u8()?)?;
        if change != Change::Added {
            return Err(DecodeError("checkpoint element is not an alive revision"));
        }
        let start = self.r.buf;
        let id = self.r.str()?;
        self.r.skip_element(is_node)?;
        let len = start.len() - self.r.buf.len();
        if self.left == 0 {
            self.r.end()?;
        }
        Ok((is_node, id, &start[..len]))
    }
}

impl<'a> Iterator for ChunkElements<'a> {
    type Item = DResult<(bool, &'a str, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = self.next_element();
        if item.is_err() {
            self.left = 0;
        }
        Some(item)
    }
}

/// Assembles a checkpoint chunk from elements' bytes as they are stored ([`walk_record`],
/// [`walk_chunk`]), without decoding them: a checkpoint copies bytes.
#[derive(Debug, Default)]
pub(crate) struct ChunkBuilder {
    body: Vec<u8>,
    count: usize,
}

impl ChunkBuilder {
    /// Adds an alive element (`element` starts with its id).
    pub fn push(&mut self, is_node: bool, element: &[u8]) {
        let kind = if is_node { KIND_NODE } else { KIND_EDGE };
        self.body.push(kind | Change::Added as u8);
        self.body.extend_from_slice(element);
        self.count += 1;
    }

    /// Elements added since the last [`ChunkBuilder::finish`].
    pub fn len(&self) -> usize {
        self.count
    }

    /// The chunk of the elements added so far; the builder is then empty again.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 11);
        out.push(FORMAT);
        put_varint(&mut out, self.count as u64);
        out.extend_from_slice(&self.body);
        self.body.clear();
        self.count = 0;
        out
    }
}

/// How many nodes and edges a chunk held, skipped ones included.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkCounts {
    pub nodes: u64,
    pub edges: u64,
}

/// Decodes a checkpoint chunk, appending its elements to `out` except those for which
/// `skip(is_node, id)` holds (already known from a newer change): those are only walked
/// over, which checks them without allocating.
pub(crate) fn decode_chunk(
    bytes: &[u8],
    it: &mut Interner,
    skip: &dyn Fn(bool, &str) -> bool,
    out: &mut Vec<Revision>,
) -> DResult<ChunkCounts> {
    let mut r = Reader { buf: bytes };
    r.format()?;
    let n = r.count(1)?;
    out.reserve(n);
    let mut counts = ChunkCounts::default();
    for _ in 0..n {
        let (is_node, change) = split_tag(r.u8()?)?;
        if change != Change::Added {
            return Err(DecodeError("checkpoint element is not an alive revision"));
        }
        *(if is_node {
            &mut counts.nodes
        } else {
            &mut counts.edges
        }) += 1;
        let id = r.str()?;
        if skip(is_node, id) {
            r.skip_element(is_node)?;
        } else {
            out.push(r.element(is_node, id, it)?);
        }
    }
    r.end()?;
    Ok(counts)
}

fn split_tag(tag: u8) -> DResult<(bool, Change)> {
    let change = match tag & 0x0f {
        1 => Change::Added,
        2 => Change::Updated,
        3 => Change::Deleted,
        _ => return Err(DecodeError("unknown change tag")),
    };
    match tag & 0xf0 {
        KIND_NODE => Ok((true, change)),
        KIND_EDGE => Ok((false, change)),
        _ => Err(DecodeError("unknown element kind tag")),
    }
}

#[cfg(test)]
thread_local! {
    /// Elements decoded by this thread: tests check that some paths decode none.
    pub(crate) static DECODED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A cursor over untrusted bytes: every read is bounds-checked.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn format(&mut self) -> DResult<()> {
        match self.u8()? {
            FORMAT => Ok(()),
            _ => Err(DecodeError("unknown record format version")),
        }
    }

    pub(crate) fn end(&self) -> DResult<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError("trailing bytes after record"))
        }
    }

    pub(crate) fn u8(&mut self) -> DResult<u8> {
        let (&b, rest) = self
            .buf
            .split_first()
            .ok_or(DecodeError("truncated record"))?;
        self.buf = rest;
        Ok(b)
    }

    pub(crate) fn take(&mut self, n: usize) -> DResult<&'a [u8]> {
        let (head, rest) = self
            .buf
            .split_at_checked(n)
            .ok_or(DecodeError("truncated record"))?;
        self.buf = rest;
        Ok(head)
    }

    pub(crate) fn varint(&mut self) -> DResult<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError("varint overflows 64 bits"));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint longer than 10 bytes"))
    }

    pub(crate) fn zigzag(&mut self) -> DResult<i64> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A count of items each taking at least `min_item` bytes: bounded by what remains, so a
    /// damaged count cannot make us reserve gigabytes.
    fn count(&mut self, min_item: usize) -> DResult<usize> {
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.buf.len() / min_item => Ok(n),
            _ => Err(DecodeError("item count exceeds record size")),
        }
    }

    pub(crate) fn str(&mut self) -> DResult<&'a str> {
        let n = self.count(1)?;
        std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError("string is not UTF-8"))
    }

    fn time(&mut self) -> DResult<TimeMs> {
        self.zigzag().map(TimeMs)
    }

    fn revision(&mut self, it: &mut Interner) -> DResult<Record> {
        let (is_node, change) = split_tag(self.u8()?)?;
        let id = self.str()?;
        Ok(Record {
            change,
            rev: self.element(is_node, id, it)?,
        })
    }

    /// The rest of an element whose tag and id were read.
    fn element(&mut self, is_node: bool, id: &str, it: &mut Interner) -> DResult<Revision> {
        #[cfg(test)]
        DECODED.with(|n| n.set(n.get() + 1));
        Ok(if is_node {
            Revision::Node(Arc::new(self.node(id, it)?))
        } else {
            Revision::Edge(Arc::new(self.edge(id, it)?))
        })
    }

    /// Walks over the rest of an element, checking its structure, allocating nothing.
    fn skip_element(&mut self, is_node: bool) -> DResult<()> {
        // [parent child] host origin
        for _ in 0..(if is_node { 2 } else { 4 }) {
            self.str()?;
        }
        self.varint()?; // created
        self.varint()?; // updated
        match self.u8()? {
            0 => {}
            1 => {
                self.varint()?;
            }
            _ => return Err(DecodeError("bad DeletedAt marker")),
        }
        self.varint()?; // revision
        for _ in 0..self.count(2)? {
            self.str()?;
            self.skip_value(1)?;
        }
        Ok(())
    }

    fn skip_value(&mut self, depth: usize) -> DResult<()> {
        if depth > MAX_DEPTH {
            return Err(DecodeError("metadata nested too deeply"));
        }
        match self.u8()? {
            0..=2 => {}
            3 | 4 => {
                self.varint()?;
            }
            5 => {
                self.take(8)?;
            }
            6 => {
                self.str()?;
            }
            7 => {
                for _ in 0..self.count(1)? {
                    self.skip_value(depth + 1)?;
                }
            }
            8 => {
                for _ in 0..self.count(2)? {
                    self.str()?;
                    self.skip_value(depth + 1)?;
                }
            }
            _ => return Err(DecodeError("unknown value tag")),
        }
        Ok(())
    }

    fn node(&mut self, id: &str, it: &mut Interner) -> DResult<Node> {
        let id = Id::new(id);
        let c = self.common(it)?;
        let metadata = self.metadata()?;
        Ok(Node {
            id,
            metadata,
            host: c.host,
            origin: c.origin,
            created_at: c.created,
            updated_at: c.updated,
            deleted_at: c.deleted,
            revision: c.revision,
        })
    }

    fn edge(&mut self, id: &str, it: &mut Interner) -> DResult<Edge> {
        let id = Id::new(id);
        let parent = Id::new(self.str()?);
        let child = Id::new(self.str()?);
        let c = self.common(it)?;
        let metadata = self.metadata()?;
        Ok(Edge {
            id,
            metadata,
            parent,
            child,
            host: c.host,
            origin: c.origin,
            created_at: c.created,
            updated_at: c.updated,
            deleted_at: c.deleted,
            revision: c.revision,
        })
    }

    fn common(&mut self, it: &mut Interner) -> DResult<Common> {
        let host = it.get(self.str()?);
        let origin = it.get(self.str()?);
        let created = self.time()?;
        let updated = self.time()?;
        let deleted = match self.u8()? {
            0 => None,
            1 => Some(self.time()?),
            _ => return Err(DecodeError("bad DeletedAt marker")),
        };
        let revision = self.zigzag()?;
        Ok(Common {
            host,
            origin,
            created,
            updated,
            deleted,
            revision,
        })
    }

    fn metadata(&mut self) -> DResult<Metadata> {
        let n = self.count(2)?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.str()?;
            entries.push((k, self.value(1)?));
        }
        Ok(Metadata::from_entries(entries))
    }

    fn object(&mut self, depth: usize) -> DResult<Map<String, Value>> {
        // Each entry is at least a key length and a value tag.
        let n = self.count(2)?;
        let mut m = Map::new();
        for _ in 0..n {
            let k = self.str()?.to_owned();
            let v = self.value(depth + 1)?;
            m.insert(k, v);
        }
        Ok(m)
    }

    fn value(&mut self, depth: usize) -> DResult<Value> {
        if depth > MAX_DEPTH {
            return Err(DecodeError("metadata nested too deeply"));
        }
        Ok(match self.u8()? {
            0 => Value::Null,
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => Value::Number(self.varint()?.into()),
            4 => {
                let v = i64::try_from(self.varint()?)
                    .map_err(|_| DecodeError("negative integer out of range"))?;
                Value::Number((!v).into())
            }
            5 => {
                let b: [u8; 8] = self
                    .take(8)?
                    .try_into()
                    .map_err(|_| DecodeError("truncated float"))?;
                let f = f64::from_le_bytes(b);
                Value::Number(Number::from_f64(f).ok_or(DecodeError("float is not finite"))?)
            }
            6 => Value::String(self.str()?.to_owned()),
            7 => {
                let n = self.count(1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            8 => Value::Object(self.object(depth)?),
            _ => return Err(DecodeError("unknown value tag")),
        })
    }
}

struct Common {
    host: SharedStr,
    origin: SharedStr,
    created: TimeMs,
    updated: TimeMs,
    deleted: Option<TimeMs>,
    revision: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn node(md: Value) -> Node {
        Node {
            id: Id::from("n1"),
            metadata: serde_json::from_value(md).unwrap(),
            host: SharedStr::from("h1"),
            origin: SharedStr::from("agent.h1"),
            created_at: TimeMs(-3),
            updated_at: TimeMs(1_700_000_000_000),
            deleted_at: Some(TimeMs(1_700_000_000_001)),
            revision: 42,
        }
    }

    fn round_trip(rec: &Record) -> Record {
        let mut buf = Vec::new();
        rec.encode(&mut buf);
        decode_record(&buf, &mut Interner::default()).unwrap()
    }

    /// Ids are stored as their text, as before ids became values: records written by earlier
    /// versions read back, and an id spelt differently (upper case) stays that spelling.
    #[test]
    fn ids_are_stored_as_their_text() {
        let uuid = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
        let upper = "6BA7B810-9DAD-11D1-80B4-00C04FD430C8";
        for text in [uuid, upper, "n1"] {
            let mut n = node(json!({}));
            n.id = Id::from(text);
            let rec = Record {
                change: Change::Added,
                rev: Revision::Node(Arc::new(n.clone())),
            };
            let mut buf = Vec::new();
            rec.encode(&mut buf);
            let mut text_bytes = vec![text.len() as u8];
            text_bytes.extend_from_slice(text.as_bytes());
            assert_eq!(&buf[2..2 + text_bytes.len()], &text_bytes[..]);
            assert_eq!(peek_record(&buf).unwrap(), (true, Change::Added, text));
            match round_trip(&rec).rev {
                Revision::Node(back) => {
                    assert_eq!(*back, n);
                    assert_eq!(back.id.to_string(), text);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn node_and_edge_round_trip() {
        let md = json!({"Name": "eth0", "MTU": 1500, "Neg": -7, "Min": i64::MIN, "Max": u64::MAX, "F": 1.5,
                        "L": [1, "a", null, true, false, {"x": []}], "Ovs": {"Options": {"remote_ip": "10.0.0.2"}}});
        let n = Arc::new(node(md));
        let rec = Record {
            change: Change::Deleted,
            rev: Revision::Node(n.clone()),
        };
        match round_trip(&rec) {
            Record {
                change: Change::Deleted,
                rev: Revision::Node(back),
            } => assert_eq!(back, n),
            other => panic!("{other:?}"),
        }
        let e = Arc::new(Edge {
            id: Id::from("e"),
            metadata: Metadata::from_pairs([("RelationType", json!("ownership"))]),
            parent: Id::from("p"),
            child: Id::from("c"),
            host: SharedStr::from(""),
            origin: SharedStr::from(""),
            created_at: TimeMs(1),
            updated_at: TimeMs(2),
            deleted_at: None,
            revision: 1,
        });
        match round_trip(&Record {
            change: Change::Updated,
            rev: Revision::Edge(e.clone()),
        }) {
            Record {
                change: Change::Updated,
                rev: Revision::Edge(back),
            } => assert_eq!(back, e),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn chunk_round_trip_shares_host_strings() {
        let a = Arc::new(node(json!({"A": 1})));
        let mut b = node(json!({}));
        b.id = Id::from("n2");
        let revs = vec![Revision::Node(a.clone()), Revision::Node(Arc::new(b))];
        let bytes = encode_chunk(&revs);
        let mut out = Vec::new();
        let counts =
            decode_chunk(&bytes, &mut Interner::default(), &|_, _| false, &mut out).unwrap();
        assert_eq!(counts, ChunkCounts { nodes: 2, edges: 0 });
        assert_eq!(out.len(), 2);
        let (Revision::Node(x), Revision::Node(y)) = (&out[0], &out[1]) else {
            panic!()
        };
        assert_eq!(x, &a);
        assert!(SharedStr::ptr_eq(&x.host, &y.host));
    }

    #[test]
    fn skipped_chunk_elements_are_walked_over() {
        let md = json!({"L": [1, -2, 2.5, "x", null, true, {"o": {"p": []}}], "S": "s"});
        let mut revs = Vec::new();
        for i in 0..4 {
            let mut n = node(md.clone());
            n.id = Id::from(format!("n{i}"));
            revs.push(Revision::Node(Arc::new(n)));
        }
        let e = Edge {
            id: Id::from("e"),
            metadata: Metadata::new(),
            parent: Id::from("n0"),
            child: Id::from("n1"),
            host: SharedStr::from("h"),
            origin: SharedStr::from("o"),
            created_at: TimeMs(1),
            updated_at: TimeMs(2),
            deleted_at: Some(TimeMs(3)),
            revision: 1,
        };
        revs.push(Revision::Edge(Arc::new(e)));
        let bytes = encode_chunk(&revs);
        let mut out = Vec::new();
        let skip = |is_node: bool, id: &str| !is_node || id == "n1" || id == "n2";
        let counts = decode_chunk(&bytes, &mut Interner::default(), &skip, &mut out).unwrap();
        assert_eq!(counts, ChunkCounts { nodes: 4, edges: 1 });
        let ids: Vec<&Id> = out
            .iter()
            .map(|r| match r {
                Revision::Node(n) => &n.id,
                Revision::Edge(e) => &e.id,
            })
            .collect();
        assert_eq!(ids, ["n0", "n3"]);
        let rec = Record {
            change: Change::Deleted,
            rev: revs[4].clone(),
        };
        let mut buf = Vec::new();
        rec.encode(&mut buf);
        assert_eq!(peek_record(&buf).unwrap(), (false, Change::Deleted, "e"));
    }

    #[test]
    fn chunks_copied_from_records_read_like_encoded_ones() {
        let md = json!({"L": [1, -2, 2.5, "x", null, true, {"o": {"p": []}}], "S": "s"});
        let n = Arc::new(node(md));
        let e = Arc::new(Edge {
            id: Id::from("e"),
            metadata: Metadata::from_pairs([("RelationType", json!("ownership"))]),
            parent: Id::from("n1"),
            child: Id::from("n2"),
            host: SharedStr::from("h"),
            origin: SharedStr::from("o"),
            created_at: TimeMs(1),
            updated_at: TimeMs(2),
            deleted_at: None,
            revision: 3,
        });
        let revs = [Revision::Node(n), Revision::Edge(e)];
        let mut builder = ChunkBuilder::default();
        for (rev, change) in revs.iter().zip([Change::Updated, Change::Added]) {
            let mut buf = Vec::new();
            encode_revision(change, rev, &mut buf);
            buf.insert(0, FORMAT);
            let (is_node, seen, _, element) = walk_record(&buf).unwrap();
            assert_eq!(seen, change);
            builder.push(is_node, element);
        }
        assert_eq!(builder.len(), 2);
        let copied = builder.finish();
        assert_eq!(copied, encode_chunk(&revs));
        assert_eq!(builder.len(), 0);
        let walked: Vec<(bool, &str)> = walk_chunk(&copied)
            .unwrap()
            .map(|r| r.map(|(is_node, id, _)| (is_node, id)))
            .collect::<DResult<_>>()
            .unwrap();
        assert_eq!(walked, [(true, "n1"), (false, "e")]);
        // Damage is found while walking, as while decoding.
        assert!(walk_record(&copied).is_err());
        let cut = &copied[..copied.len() - 1];
        assert!(walk_chunk(cut).unwrap().any(|r| r.is_err()));
        let mut longer = copied.clone();
        longer.push(0);
        assert!(walk_chunk(&longer).unwrap().any(|r| r.is_err()));
        assert!(walk_chunk(&[FORMAT, 0, 0]).is_err());
    }

    #[test]
    fn too_deep_metadata_is_cut_not_unreadable() {
        let mut v = json!(1);
        for _ in 0..(MAX_DEPTH + 10) {
            v = json!({ "a": v });
        }
        let n = Arc::new(node(v));
        let back = round_trip(&Record {
            change: Change::Added,
            rev: Revision::Node(n),
        });
        assert!(matches!(back.rev, Revision::Node(_)));
    }

    #[test]
    fn damaged_records_are_errors() {
        let mut buf = Vec::new();
        Record {
            change: Change::Added,
            rev: Revision::Node(Arc::new(node(json!({"A": "b"})))),
        }
        .encode(&mut buf);
        let it = &mut Interner::default();
        for cut in 0..buf.len() {
            assert!(
                decode_record(&buf[..cut], it).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
        let mut extra = buf.clone();
        extra.push(0);
        assert_eq!(
            decode_record(&extra, it).unwrap_err().to_string(),
            "trailing bytes after record"
        );
        let mut future = buf.clone();
        future[0] = 99;
        assert_eq!(
            decode_record(&future, it).unwrap_err().to_string(),
            "unknown record format version"
        );
        // A huge count must be refused before anything is reserved.
        let huge = [
            FORMAT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert!(decode_chunk(&huge, it, &|_, _| false, &mut Vec::new()).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_record(&bytes, &mut Interner::default());
            let _ = decode_chunk(&bytes, &mut Interner::default(), &|_, _| false, &mut Vec::new());
            let _ = decode_chunk(&bytes, &mut Interner::default(), &|_, _| true, &mut Vec::new());
        }

        #[test]
        fn arbitrary_metadata_round_trips(md in arb_json(3)) {
            let mut m = Map::new();
            m.insert("k".into(), md);
            let n = Arc::new(node(Value::Object(m)));
            let back = round_trip(&Record { change: Change::Updated, rev: Revision::Node(n.clone()) });
            let Revision::Node(b) = back.rev else { panic!() };
            prop_assert_eq!(b, n);
        }
    }

    fn arb_json(depth: u32) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            (-1e12f64..1e12).prop_map(|f| json!(f)),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(depth, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}

//! Element identifiers: random (UUIDv4) or deterministic (UUIDv5 over parts), as Skydive's
//! `GenID`, held as a value.
//!
//! [`Id`] is 16 bytes. A canonical UUID text (lowercase, hyphenated: what [`gen_id`] and
//! [`random_id`] produce and what Skydive agents send) is kept as its 128 bits, inline; any
//! other text (`"n1"`, an upper-case UUID, the nil UUID) in a shared allocation of its own.
//! Which form an id takes is a function of its text alone, so equality, hashing and ordering
//! are those of the text: an id parsed from JSON equals the one built in memory, and an
//! upper-case UUID stays a different id from its lower-case spelling, as it was in Skydive.
//! On the wire an id is the same JSON string as ever.
//!
//! Borrowed forms: [`IdRef`] (what look-ups take, built from an `&str` without allocating)
//! and [`IdStr`] (the text of an id, on the stack for an inline UUID; derefs to `&str`).
//!
//! Before, `Id` was an `Arc<str>`: 16 bytes in each holder plus a 52-byte allocation (a
//! 64-byte glibc chunk) per element, i.e. ~176 B per node with its 1.75 edges.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU64;
use std::sync::Arc;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Identifier of a node or an edge. See the module docs.
#[derive(Clone, PartialEq, Eq)]
pub struct Id(Repr);

/// The low half is non-zero for every RFC 4122 UUID (its variant bits), so the compiler keeps
/// the text pointer beside it and `Id` stays 16 bytes.
#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Uuid(u64, NonZeroU64),
    Text(Arc<Box<str>>),
}

/// A borrowed identifier: what look-ups take. `IdRef::from("…")` parses without allocating.
/// Its form is private so that it is always the one its text parses to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRef<'a>(Ref<'a>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ref<'a> {
    /// A canonical UUID text, as its high and low halves.
    Uuid(u64, NonZeroU64),
    /// Any other text.
    Text(&'a str),
}

/// Length of a hyphenated UUID text.
const UUID_LEN: usize = 36;

/// The 128 bits of a canonical (lowercase, hyphenated) UUID text with a non-zero low half.
fn parse_canonical(s: &str) -> Option<(u64, NonZeroU64)> {
    let b = s.as_bytes();
    if b.len() != UUID_LEN {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        let digit = match c {
            b'-' if matches!(i, 8 | 13 | 18 | 23) => continue,
            b'0'..=b'9' if !matches!(i, 8 | 13 | 18 | 23) => c - b'0',
            b'a'..=b'f' if !matches!(i, 8 | 13 | 18 | 23) => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u128::from(digit);
    }
    let lo = NonZeroU64::new(v as u64)?;
    Some(((v >> 64) as u64, lo))
}

fn uuid_of(hi: u64, lo: NonZeroU64) -> Uuid {
    Uuid::from_u64_pair(hi, lo.get())
}

impl<'a> IdRef<'a> {
    /// The identifier spelt `s`.
    pub fn parse(s: &'a str) -> Self {
        match parse_canonical(s) {
            Some((hi, lo)) => IdRef(Ref::Uuid(hi, lo)),
            None => IdRef(Ref::Text(s)),
        }
    }

    /// An owned copy.
    pub fn to_id(self) -> Id {
        match self.0 {
            Ref::Uuid(hi, lo) => Id(Repr::Uuid(hi, lo)),
            Ref::Text(s) => Id(Repr::Text(Arc::new(s.into()))),
        }
    }

    /// The text of this identifier.
    pub fn as_str(self) -> IdStr<'a> {
        match self.0 {
            Ref::Uuid(hi, lo) => {
                let mut buf = [0u8; UUID_LEN];
                uuid_of(hi, lo).hyphenated().encode_lower(&mut buf);
                IdStr(Text::Uuid(buf))
            }
            Ref::Text(s) => IdStr(Text::Borrowed(s)),
        }
    }

    pub fn is_empty(self) -> bool {
        matches!(self.0, Ref::Text(""))
    }
}

impl<'a> From<&'a str> for IdRef<'a> {
    fn from(s: &'a str) -> Self {
        IdRef::parse(s)
    }
}

impl<'a> From<&'a Id> for IdRef<'a> {
    fn from(id: &'a Id) -> Self {
        id.as_id_ref()
    }
}

impl Hash for IdRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self.0 {
            Ref::Uuid(hi, lo) => {
                h.write_u64(hi);
                h.write_u64(lo.get());
            }
            Ref::Text(s) => {
                h.write_u8(0xff);
                s.hash(h);
            }
        }
    }
}

impl Ord for IdRef<'_> {
    /// The order of the texts: for two canonical UUIDs, the order of their bits.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.0, other.0) {
            (Ref::Uuid(a, b), Ref::Uuid(c, d)) => (a, b).cmp(&(c, d)),
            (Ref::Text(a), Ref::Text(b)) => a.cmp(b),
            _ => (*self.as_str()).cmp(&*other.as_str()),
        }
    }
}

impl PartialOrd for IdRef<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for IdRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ref::Uuid(hi, lo) => fmt::Display::fmt(&uuid_of(hi, lo).hyphenated(), f),
            Ref::Text(s) => f.write_str(s),
        }
    }
}

/// The text of an identifier: on the stack for an inline UUID. Derefs to `&str`.
#[derive(Clone, Copy)]
pub struct IdStr<'a>(Text<'a>);

#[derive(Clone, Copy)]
enum Text<'a> {
    Uuid([u8; UUID_LEN]),
    Borrowed(&'a str),
}

impl std::ops::Deref for IdStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match &self.0 {
            Text::Uuid(buf) => std::str::from_utf8(buf).expect("hex digits and hyphens"),
            Text::Borrowed(s) => s,
        }
    }
}

impl AsRef<str> for IdStr<'_> {
    fn as_ref(&self) -> &str {
        self
    }
}

impl fmt::Display for IdStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl fmt::Debug for IdStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl Id {
    /// The identifier spelt `s`.
    pub fn new(s: &str) -> Self {
        IdRef::parse(s).to_id()
    }

    /// A borrowed form, for look-ups and comparisons.
    pub fn as_id_ref(&self) -> IdRef<'_> {
        match &self.0 {
            Repr::Uuid(hi, lo) => IdRef(Ref::Uuid(*hi, *lo)),
            Repr::Text(s) => IdRef(Ref::Text(s)),
        }
    }

    /// The text of this identifier (on the stack for a UUID: no allocation).
    pub fn as_str(&self) -> IdStr<'_> {
        self.as_id_ref().as_str()
    }

    /// The UUID this identifier is the canonical text of, if it is one.
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self.0 {
            Repr::Uuid(hi, lo) => Some(uuid_of(hi, lo)),
            Repr::Text(_) => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.as_id_ref().is_empty()
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id::new(s)
    }
}

impl From<&String> for Id {
    fn from(s: &String) -> Self {
        Id::new(s)
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        match parse_canonical(&s) {
            Some((hi, lo)) => Id(Repr::Uuid(hi, lo)),
            None => Id(Repr::Text(Arc::new(s.into_boxed_str()))),
        }
    }
}

impl From<Uuid> for Id {
    fn from(u: Uuid) -> Self {
        let (hi, lo) = u.as_u64_pair();
        match NonZeroU64::new(lo) {
            Some(lo) => Id(Repr::Uuid(hi, lo)),
            None => Id::from(u.hyphenated().to_string()),
        }
    }
}

impl From<IdRef<'_>> for Id {
    fn from(r: IdRef<'_>) -> Self {
        r.to_id()
    }
}

impl From<&Id> for Id {
    fn from(id: &Id) -> Self {
        id.clone()
    }
}

impl std::str::FromStr for Id {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Id::new(s))
    }
}

impl Hash for Id {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_id_ref().hash(h);
    }
}

impl Ord for Id {
    /// The order of the texts.
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_id_ref().cmp(&other.as_id_ref())
    }
}

impl PartialOrd for Id {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq<str> for Id {
    fn eq(&self, other: &str) -> bool {
        self.as_id_ref() == IdRef::parse(other)
    }
}

impl PartialEq<&str> for Id {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialEq<String> for Id {
    fn eq(&self, other: &String) -> bool {
        *self == **other
    }
}

impl PartialEq<Id> for str {
    fn eq(&self, other: &Id) -> bool {
        *other == *self
    }
}

impl PartialEq<Id> for &str {
    fn eq(&self, other: &Id) -> bool {
        *other == **self
    }
}

impl PartialEq<IdRef<'_>> for Id {
    fn eq(&self, other: &IdRef<'_>) -> bool {
        self.as_id_ref() == *other
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_id_ref(), f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.as_str(), f)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_str())
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an identifier string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Id, E> {
                Ok(Id::new(s))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Id, E> {
                Ok(Id::from(s))
            }
        }
        d.deserialize_str(V)
    }
}

/// What look-ups by identifier accept: an [`Id`], an [`IdRef`], or the text of one
/// (`&str`, `String`), parsed without allocating.
pub trait AsIdRef {
    fn as_id_ref(&self) -> IdRef<'_>;
}

impl AsIdRef for Id {
    fn as_id_ref(&self) -> IdRef<'_> {
        self.as_id_ref()
    }
}

impl AsIdRef for IdRef<'_> {
    fn as_id_ref(&self) -> IdRef<'_> {
        *self
    }
}

impl AsIdRef for str {
    fn as_id_ref(&self) -> IdRef<'_> {
        IdRef::parse(self)
    }
}

impl AsIdRef for String {
    fn as_id_ref(&self) -> IdRef<'_> {
        IdRef::parse(self)
    }
}

impl<T: AsIdRef + ?Sized> AsIdRef for &T {
    fn as_id_ref(&self) -> IdRef<'_> {
        (**self).as_id_ref()
    }
}

/// Namespace of our deterministic identifiers. Any fixed UUID works as long as it never
/// changes: probes rely on `gen_id` giving the same answer across restarts and hosts.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6ba7_b810_9dad_11d1_80b4_00c0_4fd4_30c8);

/// A deterministic identifier: UUIDv5 of the parts joined in order.
///
/// ```
/// let a = skydive_graph::gen_id(&["host1", "eth0", "device"]);
/// assert_eq!(a, skydive_graph::gen_id(&["host1", "eth0", "device"]));
/// assert_ne!(a, skydive_graph::gen_id(&["host1", "eth1", "device"]));
/// ```
pub fn gen_id(parts: &[&str]) -> Id {
    let mut joined = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        joined.push_str(p);
    }
    Id::from(Uuid::new_v5(&ID_NAMESPACE, joined.as_bytes()))
}

/// A fresh random identifier (UUIDv4).
pub fn random_id() -> Id {
    Id::from(Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Id>(), 16);
    }

    #[test]
    fn canonical_uuids_are_inline_and_round_trip() {
        let text = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
        let id = Id::from(text);
        assert!(id.as_uuid().is_some());
        assert_eq!(id.to_string(), text);
        assert_eq!(&*id.as_str(), text);
        assert_eq!(id, text);
        assert_eq!(id, Id::from(text.to_owned()));
        assert_eq!(id, Id::from(Uuid::parse_str(text).unwrap()));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<Id>(&json).unwrap(), id);
        assert_eq!(format!("{id:?}"), format!("{text:?}"));
        let g = gen_id(&["a"]);
        assert!(g.as_uuid().is_some());
        assert_eq!(Id::from(&*g.as_str()), g);
    }

    #[test]
    fn other_texts_stay_texts() {
        let upper = "6BA7B810-9DAD-11D1-80B4-00C04FD430C8";
        let lower = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
        let nil = "00000000-0000-0000-0000-000000000000";
        for text in [upper, nil, "n1", "", "6ba7b810_9dad-11d1-80b4-00c04fd430c8"] {
            let id = Id::from(text);
            assert!(id.as_uuid().is_none(), "{text}");
            assert_eq!(id.to_string(), text);
            assert_eq!(id, text);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(serde_json::from_str::<Id>(&json).unwrap(), id);
        }
        assert_ne!(Id::from(upper), Id::from(lower));
        assert_ne!(Id::from(upper), lower);
        assert!(Id::from("").is_empty());
        assert!(!Id::from(lower).is_empty());
    }

    #[test]
    fn order_and_hash_are_the_texts() {
        use std::hash::BuildHasher;
        let mut texts = vec![
            "ffffffff-0000-0000-0000-000000000001",
            "00000000-0000-0000-0000-000000000001",
            "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
            "6ba7b810-9dad-11d1-80b4-00c04fd430c9",
            "6ba7b810",
            "7",
            "Z",
            "",
            "6BA7B810-9DAD-11D1-80B4-00C04FD430C8",
        ];
        let mut ids: Vec<Id> = texts.iter().map(|t| Id::from(*t)).collect();
        texts.sort();
        ids.sort();
        let sorted: Vec<String> = ids.iter().map(Id::to_string).collect();
        assert_eq!(sorted, texts);
        let s = foldhash::fast::RandomState::default();
        for t in texts {
            assert_eq!(s.hash_one(Id::from(t)), s.hash_one(IdRef::parse(t)));
        }
    }
}

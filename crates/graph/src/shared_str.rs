//! [`SharedStr`]: text repeated on many elements (host names, origins), one allocation per
//! distinct value, behind a thin pointer.
//!
//! 8 bytes in each holder where an `Arc<str>` takes 16: with two of them per node and per
//! edge, that is what brings a node (104 → 88 bytes) and an edge (136 → 120) under the next
//! smaller glibc chunk size. Reading the text costs one more pointer hop, which only
//! serialisation and `@Host`/`@Origin` filters pay.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Shared, immutable text. Compares, hashes and orders as its `str`; derefs to it.
#[derive(Clone)]
pub struct SharedStr(Arc<Box<str>>);

static EMPTY: LazyLock<SharedStr> = LazyLock::new(|| SharedStr(Arc::new(Box::default())));

impl SharedStr {
    /// Whether `a` and `b` are the same allocation (not only equal text).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SharedStr {
    /// The empty text, shared by every default.
    fn default() -> Self {
        EMPTY.clone()
    }
}

impl Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SharedStr {
    fn from(s: &str) -> Self {
        SharedStr(Arc::new(s.into()))
    }
}

impl From<String> for SharedStr {
    fn from(s: String) -> Self {
        SharedStr(Arc::new(s.into_boxed_str()))
    }
}

impl From<&String> for SharedStr {
    fn from(s: &String) -> Self {
        SharedStr::from(s.as_str())
    }
}

impl PartialEq for SharedStr {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || **self.0 == **other.0
    }
}

impl Eq for SharedStr {}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        **self.0 == *other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        **self.0 == **other
    }
}

impl Hash for SharedStr {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (**self.0).hash(h);
    }
}

impl PartialOrd for SharedStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SharedStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self.0).cmp(&**other.0)
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.0, f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SharedStr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SharedStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SharedStr::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thin_and_text_like() {
        assert_eq!(std::mem::size_of::<SharedStr>(), 8);
        let a = SharedStr::from("agent.h1");
        let b = SharedStr::from(String::from("agent.h1"));
        assert_eq!(a, b);
        assert!(!SharedStr::ptr_eq(&a, &b));
        assert_eq!(a, "agent.h1");
        assert_eq!(&*a, "agent.h1");
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"agent.h1\"");
        let back: SharedStr = serde_json::from_str("\"agent.h1\"").unwrap();
        assert_eq!(back, a);
        assert!(SharedStr::default().is_empty());
        let (a, b) = (SharedStr::from("a"), SharedStr::from("b"));
        assert!(a < b);
    }
}

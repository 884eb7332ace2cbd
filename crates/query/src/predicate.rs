//! How filters and predicates decide: reading a key of an element, and comparing what it holds.
//!
//! Keys are dotted metadata paths (`Ovs.Options.remote_ip`; a leading `Metadata.` is allowed)
//! or the special keys `@ID @Host @Origin @CreatedAt @UpdatedAt @DeletedAt @Revision`. A key
//! holding a list stands for each of its elements ([`Metadata::values_at`]). Numbers compare by
//! value whatever their JSON form (`3` = `3.0`); strings never equal numbers.
//!
//! Nothing here clones metadata: values are read in place.

use std::cmp::Ordering;
use std::net::Ipv4Addr;

use serde_json::{Map, Number, Value};
use skydive_graph::{Edge, Element, IdStr, Metadata, Node};

use crate::ast::{Combine, Filter, Literal, Num, Predicate};

/// What a key holds, borrowed from the element.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FieldValue<'a> {
    Json(&'a Value),
    Str(&'a str),
    /// An element's `@ID`: its text, built on the stack for a UUID.
    Id(IdStr<'a>),
    Int(i64),
    /// An enumeration shown as its number (a flow's `FinishType`); equal to its name too.
    Enum(&'static str, i64),
}

/// One scalar a key stands for (an element of a list, or the value itself).
#[derive(Debug, Clone, Copy)]
enum Scalar<'a> {
    Str(&'a str),
    Num(&'a Number),
    Int(i64),
    Bool(bool),
    Enum(&'static str, i64),
    /// null, an object, or a list inside a list: equals nothing.
    Other,
}

impl FieldValue<'_> {
    pub(crate) fn to_json(self) -> Value {
        match self {
            FieldValue::Json(v) => v.clone(),
            FieldValue::Str(s) => Value::String(s.to_owned()),
            FieldValue::Id(s) => Value::String(s.to_string()),
            FieldValue::Int(i) | FieldValue::Enum(_, i) => Value::from(i),
        }
    }

    /// Calls `f` on each scalar, until it returns true.
    fn any_scalar(self, f: &mut dyn FnMut(Scalar<'_>) -> bool) -> bool {
        match self {
            FieldValue::Str(s) => f(Scalar::Str(s)),
            FieldValue::Id(s) => f(Scalar::Str(&s)),
            FieldValue::Int(i) => f(Scalar::Int(i)),
            FieldValue::Enum(name, i) => f(Scalar::Enum(name, i)),
            FieldValue::Json(Value::Array(items)) => items.iter().any(|v| f(scalar(v))),
            FieldValue::Json(v) => f(scalar(v)),
        }
    }
}

fn scalar(v: &Value) -> Scalar<'_> {
    match v {
        Value::String(s) => Scalar::Str(s),
        Value::Number(n) => Scalar::Num(n),
        Value::Bool(b) => Scalar::Bool(*b),
        _ => Scalar::Other,
    }
}

/// Something with keys a filter can read: nodes, edges, and the maps `ValueMap` yields.
pub(crate) trait Fields {
    /// What `key` holds; `None` when absent or null.
    fn get(&self, key: &str) -> Option<FieldValue<'_>>;
}

impl Fields for Node {
    fn get(&self, key: &str) -> Option<FieldValue<'_>> {
        element_get(self, key)
    }
}

impl Fields for Edge {
    fn get(&self, key: &str) -> Option<FieldValue<'_>> {
        element_get(self, key)
    }
}

impl Fields for Value {
    fn get(&self, key: &str) -> Option<FieldValue<'_>> {
        let map = self.as_object()?;
        dotted(map, key)
            .filter(|v| !v.is_null())
            .map(FieldValue::Json)
    }
}

fn element_get<'e, E: Element>(e: &'e E, key: &str) -> Option<FieldValue<'e>> {
    if key.starts_with('@') {
        return special(e, key);
    }
    let key = key.strip_prefix("Metadata.").unwrap_or(key);
    metadata_get(e.metadata(), key).map(FieldValue::Json)
}

fn metadata_get<'a>(m: &'a Metadata, key: &str) -> Option<&'a Value> {
    m.get(key).filter(|v| !v.is_null())
}

/// The `@` keys: the element's own fields rather than its metadata.
fn special<'e, E: Element>(e: &'e E, key: &str) -> Option<FieldValue<'e>> {
    Some(match key {
        "@ID" => FieldValue::Id(e.id().as_str()),
        "@Host" => FieldValue::Str(e.host()),
        "@Origin" => FieldValue::Str(e.origin()),
        "@CreatedAt" => FieldValue::Int(e.created_at().0),
        "@UpdatedAt" => FieldValue::Int(e.updated_at().0),
        "@DeletedAt" => FieldValue::Int(e.deleted_at()?.0),
        "@Revision" => FieldValue::Int(e.revision()),
        _ => return None,
    })
}

/// The special keys, in the order `Keys()` lists them.
pub(crate) const SPECIAL_KEYS: [&str; 7] = [
    "@ID",
    "@Host",
    "@Origin",
    "@CreatedAt",
    "@UpdatedAt",
    "@DeletedAt",
    "@Revision",
];

/// A dotted key in a JSON object; an exact key wins over the walk, as in [`Metadata::get`].
fn dotted<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(v) = map.get(key) {
        return Some(v);
    }
    let mut parts = key.split('.');
    let mut cur = map.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

impl Filter {
    pub(crate) fn matches<F: Fields + ?Sized>(&self, fields: &F) -> bool {
        match self.combine {
            Combine::All => self
                .terms
                .iter()
                .all(|t| t.predicate.matches(fields, &t.key)),
            Combine::Any => {
                self.terms.is_empty()
                    || self
                        .terms
                        .iter()
                        .any(|t| t.predicate.matches(fields, &t.key))
            }
        }
    }
}

impl Predicate {
    /// Whether what `key` holds in `fields` satisfies this predicate.
    pub(crate) fn matches<F: Fields + ?Sized>(&self, fields: &F, key: &str) -> bool {
        let value = fields.get(key);
        let any = |f: &mut dyn FnMut(Scalar<'_>) -> bool| value.is_some_and(|v| v.any_scalar(f));
        use Predicate::*;
        match self {
            Exists => value.is_some(),
            Absent => value.is_none(),
            Eq(l) => any(&mut |s| equals(s, l)),
            Ne(l) => value.is_some() && !any(&mut |s| equals(s, l)),
            Nee(l) => !any(&mut |s| equals(s, l)),
            Lt(n) => any(&mut |s| compare(s, *n) == Some(Ordering::Less)),
            Gt(n) => any(&mut |s| compare(s, *n) == Some(Ordering::Greater)),
            Lte(n) => {
                any(&mut |s| matches!(compare(s, *n), Some(Ordering::Less | Ordering::Equal)))
            }
            Gte(n) => {
                any(&mut |s| matches!(compare(s, *n), Some(Ordering::Greater | Ordering::Equal)))
            }
            Inside(a, b) => any(&mut |s| {
                compare(s, *a) == Some(Ordering::Greater) && compare(s, *b) == Some(Ordering::Less)
            }),
            Outside(a, b) => any(&mut |s| {
                compare(s, *a) == Some(Ordering::Less) || compare(s, *b) == Some(Ordering::Greater)
            }),
            Between(a, b) => any(&mut |s| {
                compare(s, *a).is_some_and(Ordering::is_ge)
                    && compare(s, *b) == Some(Ordering::Less)
            }),
            Within(ls) => any(&mut |s| ls.iter().any(|l| equals(s, l))),
            Without(ls) => !any(&mut |s| ls.iter().any(|l| equals(s, l))),
            Regex(p) => any(&mut |s| match s {
                Scalar::Str(text) | Scalar::Enum(text, _) => p.regex.is_match(text),
                _ => false,
            }),
            Ipv4Range(net) => any(
                &mut |s| matches!(s, Scalar::Str(text) if ipv4_of(text).is_some_and(|a| net.contains(&a))),
            ),
        }
    }
}

/// The address of `10.0.0.1` or `10.0.0.1/24` (interface addresses carry their prefix).
fn ipv4_of(text: &str) -> Option<Ipv4Addr> {
    text.split('/').next()?.parse().ok()
}

fn equals(s: Scalar<'_>, l: &Literal) -> bool {
    match (s, l) {
        (Scalar::Str(a) | Scalar::Enum(a, _), Literal::Str(b)) => a == b,
        (Scalar::Bool(a), Literal::Bool(b)) => a == *b,
        (_, Literal::Int(i)) => compare(s, Num::Int(*i)) == Some(Ordering::Equal),
        (_, Literal::Float(f)) => compare(s, Num::Float(*f)) == Some(Ordering::Equal),
        _ => false,
    }
}

/// How a scalar compares with a number; `None` when it is not a number.
fn compare(s: Scalar<'_>, n: Num) -> Option<Ordering> {
    match s {
        Scalar::Int(i) | Scalar::Enum(_, i) => compare_numbers(Exact::Int(i), n),
        Scalar::Num(v) => compare_numbers(exact(v), n),
        _ => None,
    }
}

/// A JSON number without losing integer precision.
#[derive(Debug, Clone, Copy)]
enum Exact {
    Int(i64),
    /// Above `i64::MAX`.
    Big(u64),
    Float(f64),
}

fn exact(n: &Number) -> Exact {
    if let Some(i) = n.as_i64() {
        Exact::Int(i)
    } else if let Some(u) = n.as_u64() {
        Exact::Big(u)
    } else {
        Exact::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

fn compare_numbers(a: Exact, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Exact::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        (Exact::Big(_), Num::Int(_)) => Some(Ordering::Greater),
        (Exact::Int(x), Num::Float(y)) => (x as f64).partial_cmp(&y),
        (Exact::Big(x), Num::Float(y)) => (x as f64).partial_cmp(&y),
        (Exact::Float(x), Num::Int(y)) => x.partial_cmp(&(y as f64)),
        (Exact::Float(x), Num::Float(y)) => x.partial_cmp(&y),
    }
}

/// The total order `Sort` uses: absent first, then booleans, numbers (by value), strings,
/// and anything else by its JSON text.
pub(crate) fn sort_order(a: Option<FieldValue<'_>>, b: Option<FieldValue<'_>>) -> Ordering {
    fn rank(v: &Option<FieldValue<'_>>) -> u8 {
        match v {
            None => 0,
            Some(FieldValue::Json(Value::Bool(_))) => 1,
            Some(
                FieldValue::Int(_) | FieldValue::Enum(..) | FieldValue::Json(Value::Number(_)),
            ) => 2,
            Some(FieldValue::Str(_) | FieldValue::Json(Value::String(_))) => 3,
            Some(_) => 4,
        }
    }
    let (ra, rb) = (rank(&a), rank(&b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match (a, b) {
        (Some(x), Some(y)) => same_rank_order(x, y),
        _ => Ordering::Equal,
    }
}

fn same_rank_order(a: FieldValue<'_>, b: FieldValue<'_>) -> Ordering {
    let text = |v: FieldValue<'_>| match v {
        FieldValue::Str(s) => Some(s.to_owned()),
        FieldValue::Json(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let number = |v: FieldValue<'_>| match v {
        FieldValue::Int(i) | FieldValue::Enum(_, i) => Some(Exact::Int(i)),
        FieldValue::Json(Value::Number(n)) => Some(exact(n)),
        _ => None,
    };
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return compare_exact(x, y);
    }
    if let (FieldValue::Json(Value::Bool(x)), FieldValue::Json(Value::Bool(y))) = (a, b) {
        return x.cmp(y);
    }
    match (text(a), text(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.to_json().to_string().cmp(&b.to_json().to_string()),
    }
}

fn compare_exact(a: Exact, b: Exact) -> Ordering {
    let as_num = |e: Exact| match e {
        Exact::Int(i) => Num::Int(i),
        Exact::Big(u) => Num::Float(u as f64),
        Exact::Float(f) => Num::Float(f),
    };
    compare_numbers(a, as_num(b)).unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ast::{Pattern, Term};
    use skydive_graph::{Id, SharedStr};

    fn node(md: Value) -> Node {
        let mut n = Node::new(
            Id::from("n1"),
            serde_json::from_value(md).unwrap(),
            SharedStr::from("host1"),
            SharedStr::from("agent.host1"),
        );
        n.created_at = skydive_graph::TimeMs(1000);
        n
    }

    fn pattern(src: &str) -> Pattern {
        Pattern {
            source: src.to_owned(),
            regex: regex::Regex::new(&format!("^(?:{src})$")).unwrap(),
        }
    }

    #[test]
    fn equality_lists_and_numbers() {
        let n = node(
            json!({"Name": "eth0", "MTU": 1500, "Speed": 1.0e3, "IPV4": ["10.0.0.1/24", "10.0.1.1/24"], "Up": true, "Neutron": {"Tenant": "t1"}}),
        );
        let eq = |k: &str, l: Literal| Predicate::Eq(l).matches(&n, k);
        assert!(eq("Name", Literal::Str("eth0".into())));
        assert!(eq("MTU", Literal::Float(1500.0)));
        assert!(eq("Speed", Literal::Int(1000)));
        assert!(!eq("MTU", Literal::Str("1500".into())));
        assert!(eq("IPV4", Literal::Str("10.0.1.1/24".into())));
        assert!(eq("Up", Literal::Bool(true)));
        assert!(eq("Neutron.Tenant", Literal::Str("t1".into())));
        assert!(eq("Metadata.Name", Literal::Str("eth0".into())));
        assert!(eq("@ID", Literal::Str("n1".into())));
        assert!(eq("@CreatedAt", Literal::Int(1000)));
        assert!(!Predicate::Exists.matches(&n, "@DeletedAt"));
    }

    #[test]
    fn negations_and_ranges() {
        let n = node(json!({"MTU": 1500, "IPV4": ["10.0.0.1/24", "10.0.1.1/24"]}));
        let m = |p: Predicate, k: &str| p.matches(&n, k);
        assert!(m(Predicate::Ne(Literal::Int(1400)), "MTU"));
        assert!(!m(Predicate::Ne(Literal::Int(1400)), "Nope"));
        assert!(m(Predicate::Nee(Literal::Int(1400)), "Nope"));
        assert!(!m(
            Predicate::Ne(Literal::Str("10.0.0.1/24".into())),
            "IPV4"
        ));
        assert!(m(Predicate::Lt(Num::Int(1501)), "MTU"));
        assert!(!m(Predicate::Lt(Num::Int(1500)), "MTU"));
        assert!(m(Predicate::Lte(Num::Float(1500.0)), "MTU"));
        assert!(m(Predicate::Inside(Num::Int(1000), Num::Int(2000)), "MTU"));
        assert!(!m(Predicate::Inside(Num::Int(1500), Num::Int(2000)), "MTU"));
        assert!(m(Predicate::Between(Num::Int(1500), Num::Int(2000)), "MTU"));
        assert!(!m(
            Predicate::Between(Num::Int(1000), Num::Int(1500)),
            "MTU"
        ));
        assert!(m(Predicate::Outside(Num::Int(0), Num::Int(1000)), "MTU"));
        assert!(m(
            Predicate::Within(vec![Literal::Int(9000), Literal::Int(1500)]),
            "MTU"
        ));
        assert!(m(Predicate::Without(vec![Literal::Int(9000)]), "MTU"));
        assert!(m(Predicate::Without(vec![Literal::Int(9000)]), "Nope"));
    }

    #[test]
    fn regex_and_ipv4_ranges() {
        let n = node(json!({"Name": "tap1234", "IPV4": ["192.168.0.5/24"], "Addr": "10.1.2.3"}));
        assert!(Predicate::Regex(pattern("tap.*")).matches(&n, "Name"));
        assert!(
            !Predicate::Regex(pattern("tap")).matches(&n, "Name"),
            "anchored"
        );
        let net = |s: &str| Predicate::Ipv4Range(s.parse().unwrap());
        assert!(net("192.168.0.0/24").matches(&n, "IPV4"));
        assert!(!net("192.168.1.0/24").matches(&n, "IPV4"));
        assert!(net("10.0.0.0/8").matches(&n, "Addr"));
    }

    #[test]
    fn filters_combine() {
        let n = node(json!({"Type": "veth", "Name": "eth0"}));
        let t = |k: &str, v: &str| Term {
            key: k.into(),
            predicate: Predicate::Eq(Literal::Str(v.into())),
        };
        let all = Filter {
            combine: Combine::All,
            terms: vec![t("Type", "veth"), t("Name", "eth1")],
        };
        let any = Filter {
            combine: Combine::Any,
            terms: all.terms.clone(),
        };
        assert!(!all.matches(&n));
        assert!(any.matches(&n));
        assert!(Filter::everything().matches(&n));
        let map = json!({"Name": "eth0", "MTU": 1500});
        assert!(
            Filter {
                combine: Combine::All,
                terms: vec![t("Name", "eth0")]
            }
            .matches(&map)
        );
    }

    #[test]
    fn sort_order_is_total() {
        let one = json!(1);
        let two = json!(2.5);
        let s = json!("a");
        assert_eq!(
            sort_order(None, Some(FieldValue::Json(&one))),
            Ordering::Less
        );
        assert_eq!(
            sort_order(Some(FieldValue::Int(3)), Some(FieldValue::Json(&two))),
            Ordering::Greater
        );
        assert_eq!(
            sort_order(Some(FieldValue::Json(&s)), Some(FieldValue::Json(&one))),
            Ordering::Greater
        );
        assert_eq!(
            sort_order(Some(FieldValue::Str("b")), Some(FieldValue::Json(&s))),
            Ordering::Greater
        );
    }
}

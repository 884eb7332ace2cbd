//! Steps that reshape or summarise a result without walking the graph: `Count`, `Values`,
//! `ValueMap`, `Keys`, `Sum`, `Sort`, `Range`/`Limit` and `Dedup`. Values are cloned out of
//! metadata only here, where a step projects them into its result.

use std::collections::HashSet;
use std::sync::Arc;

use indexmap::IndexSet;
use serde_json::{Map, Number, Value};
use skydive_graph::{Edge, Node};

use crate::ast::{Order, Step};
use crate::error::{EvalError, EvalErrorKind};
use crate::eval::{Traversal, fail, wrong_input};
use crate::predicate::{self, FieldValue, Fields, SPECIAL_KEYS};

/// Nodes or edges, seen alike by the projection steps.
enum Elements<'t> {
    Nodes(&'t [Arc<Node>]),
    Edges(&'t [Arc<Edge>]),
}

impl<'t> Elements<'t> {
    fn of(t: &'t Traversal) -> Option<Self> {
        match t {
            Traversal::Nodes(n) => Some(Elements::Nodes(n)),
            Traversal::Edges(e) => Some(Elements::Edges(e)),
            _ => None,
        }
    }

    fn fields(&self) -> Box<dyn Iterator<Item = &'t dyn ElementFields> + 't> {
        match *self {
            Elements::Nodes(n) => Box::new(n.iter().map(|x| &**x as &dyn ElementFields)),
            Elements::Edges(e) => Box::new(e.iter().map(|x| &**x as &dyn ElementFields)),
        }
    }
}

/// Fields plus the metadata keys `Keys()` lists.
trait ElementFields {
    fn field(&self, key: &str) -> Option<FieldValue<'_>>;
    fn leaf_keys(&self) -> Vec<String>;
}

impl ElementFields for Node {
    fn field(&self, key: &str) -> Option<FieldValue<'_>> {
        self.get(key)
    }
    fn leaf_keys(&self) -> Vec<String> {
        self.metadata.leaf_keys()
    }
}

impl ElementFields for Edge {
    fn field(&self, key: &str) -> Option<FieldValue<'_>> {
        self.get(key)
    }
    fn leaf_keys(&self) -> Vec<String> {
        self.metadata.leaf_keys()
    }
}

pub(crate) fn count(step: &Step, cur: Traversal) -> Result<Traversal, EvalError> {
    let n = match &cur {
        Traversal::Nodes(n) => n.len(),
        Traversal::Edges(e) => e.len(),
        Traversal::Paths(p) => p.len(),
        Traversal::Values(v) => v.len(),
        other => return Err(wrong_input(step, "nodes, edges, paths or values", other)),
    };
    Ok(Traversal::Number(n.into()))
}

/// Skydive leaves out empty lists and maps.
fn is_empty_composite(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

pub(crate) fn values(step: &Step, cur: Traversal, key: &str) -> Result<Traversal, EvalError> {
    let Some(elements) = Elements::of(&cur) else {
        return Err(wrong_input(step, "nodes or edges", &cur));
    };
    let out = elements
        .fields()
        .filter_map(|e| e.field(key))
        .map(FieldValue::to_json)
        .filter(|v| !is_empty_composite(v))
        .collect();
    Ok(Traversal::Values(out))
}

pub(crate) fn value_map(
    step: &Step,
    cur: Traversal,
    keys: &[String],
) -> Result<Traversal, EvalError> {
    let Some(elements) = Elements::of(&cur) else {
        return Err(wrong_input(step, "nodes or edges", &cur));
    };
    let mut out = Vec::new();
    for e in elements.fields() {
        let map: Map<String, Value> = keys
            .iter()
            .filter_map(|k| Some((k.clone(), e.field(k)?.to_json())))
            .collect();
        if !map.is_empty() {
            out.push(Value::Object(map));
        }
    }
    Ok(Traversal::Values(out))
}

pub(crate) fn keys(step: &Step, cur: Traversal) -> Result<Traversal, EvalError> {
    let Some(elements) = Elements::of(&cur) else {
        return Err(wrong_input(step, "nodes or edges", &cur));
    };
    let mut seen: IndexSet<String> = IndexSet::new();
    for e in elements.fields() {
        for k in SPECIAL_KEYS {
            if e.field(k).is_some() && !seen.contains(k) {
                seen.insert(k.to_owned());
            }
        }
        for k in e.leaf_keys() {
            seen.insert(k);
        }
    }
    Ok(Traversal::Values(
        seen.into_iter().map(Value::String).collect(),
    ))
}

/// A running sum: exact while every addend is an integer and it fits.
enum Total {
    Int(i64),
    Float(f64),
}

impl Total {
    fn add(self, v: &Value) -> Option<Self> {
        let n = v.as_number()?;
        Some(match (self, n.as_i64()) {
            (Total::Int(t), Some(i)) => match t.checked_add(i) {
                Some(s) => Total::Int(s),
                None => Total::Float(t as f64 + i as f64),
            },
            (Total::Int(t), None) => Total::Float(t as f64 + n.as_f64()?),
            (Total::Float(t), _) => Total::Float(t + n.as_f64()?),
        })
    }

    fn number(self) -> Option<Number> {
        match self {
            Total::Int(i) => Some(i.into()),
            Total::Float(f) => Number::from_f64(f),
        }
    }
}

pub(crate) fn sum(step: &Step, cur: Traversal, key: Option<&str>) -> Result<Traversal, EvalError> {
    let addends: Vec<Value> = match (&cur, key) {
        (Traversal::Values(v), None) => v.clone(),
        (Traversal::Values(v), Some(k)) => v
            .iter()
            .filter_map(|x| Fields::get(x, k))
            .map(FieldValue::to_json)
            .collect(),
        (t, Some(k)) if Elements::of(t).is_some() => Elements::of(t)
            .into_iter()
            .flat_map(|e| e.fields())
            .filter_map(|e| e.field(k))
            .map(FieldValue::to_json)
            .collect(),
        (t, None) if Elements::of(t).is_some() => {
            let message = EvalErrorKind::WrongInput {
                step: "Sum",
                expected: "values, or a key such as Sum('MTU')",
                found: t.kind(),
            };
            return Err(fail(step, message));
        }
        (other, _) => return Err(wrong_input(step, "nodes, edges or values", other)),
    };
    let key_name = key.unwrap_or("the value");
    let mut total = Total::Int(0);
    for v in addends.iter().flat_map(|v| {
        v.as_array()
            .map_or_else(|| std::slice::from_ref(v), Vec::as_slice)
    }) {
        total = total.add(v).ok_or_else(|| {
            fail(
                step,
                EvalErrorKind::NotANumber {
                    key: key_name.to_owned(),
                    value: v.to_string(),
                },
            )
        })?;
    }
    let n = total.number().ok_or_else(|| {
        fail(
            step,
            EvalErrorKind::NotANumber {
                key: key_name.to_owned(),
                value: "an infinite sum".to_owned(),
            },
        )
    })?;
    Ok(Traversal::Number(n))
}

pub(crate) fn sort(
    step: &Step,
    cur: Traversal,
    order: Order,
    key: Option<&str>,
) -> Result<Traversal, EvalError> {
    let key_or_created = key.unwrap_or("@CreatedAt");
    let ordered = |a: Option<FieldValue<'_>>, b: Option<FieldValue<'_>>| {
        let o = predicate::sort_order(a, b);
        if order == Order::Desc { o.reverse() } else { o }
    };
    Ok(match cur {
        Traversal::Nodes(mut n) => {
            n.sort_by(|a, b| ordered(a.get(key_or_created), b.get(key_or_created)));
            Traversal::Nodes(n)
        }
        Traversal::Edges(mut e) => {
            e.sort_by(|a, b| ordered(a.get(key_or_created), b.get(key_or_created)));
            Traversal::Edges(e)
        }
        Traversal::Values(mut v) => {
            match key {
                Some(k) => v.sort_by(|a, b| ordered(Fields::get(a, k), Fields::get(b, k))),
                None => v.sort_by(|a, b| ordered(json_field(a), json_field(b))),
            }
            Traversal::Values(v)
        }
        other => return Err(wrong_input(step, "nodes, edges or values", &other)),
    })
}

fn json_field(v: &Value) -> Option<FieldValue<'_>> {
    (!v.is_null()).then_some(FieldValue::Json(v))
}

pub(crate) fn range(
    step: &Step,
    cur: Traversal,
    from: u64,
    to: u64,
) -> Result<Traversal, EvalError> {
    fn slice<T>(mut v: Vec<T>, from: u64, to: u64) -> Vec<T> {
        let to = usize::try_from(to).unwrap_or(usize::MAX).min(v.len());
        let from = usize::try_from(from).unwrap_or(usize::MAX).min(to);
        v.truncate(to);
        v.drain(..from);
        v
    }
    Ok(match cur {
        Traversal::Nodes(n) => Traversal::Nodes(slice(n, from, to)),
        Traversal::Edges(e) => Traversal::Edges(slice(e, from, to)),
        Traversal::Paths(p) => Traversal::Paths(slice(p, from, to)),
        Traversal::Values(v) => Traversal::Values(slice(v, from, to)),
        other => return Err(wrong_input(step, "nodes, edges, paths or values", &other)),
    })
}

pub(crate) fn dedup(step: &Step, cur: Traversal, keys: &[String]) -> Result<Traversal, EvalError> {
    Ok(match cur {
        Traversal::Nodes(n) => Traversal::Nodes(dedup_elements(n, keys)),
        Traversal::Edges(e) => Traversal::Edges(dedup_elements(e, keys)),
        // Skydive: the nodes of every path, each once.
        Traversal::Paths(p) => {
            Traversal::Nodes(dedup_elements(p.into_iter().flatten().collect(), keys))
        }
        Traversal::Values(v) => {
            let mut seen = HashSet::new();
            Traversal::Values(
                v.into_iter()
                    .filter(|x| seen.insert(x.to_string()))
                    .collect(),
            )
        }
        other => return Err(wrong_input(step, "nodes, edges, paths or values", &other)),
    })
}

/// By identity, or by the values of `keys` (elements holding none of them are all kept).
fn dedup_elements<T: Fields + skydive_graph::Element>(
    items: Vec<Arc<T>>,
    keys: &[String],
) -> Vec<Arc<T>> {
    let mut seen: HashSet<String> = HashSet::new();
    items
        .into_iter()
        .filter(|x| {
            if keys.is_empty() {
                return seen.insert(x.id().to_string());
            }
            let values: Vec<Value> = keys
                .iter()
                .filter_map(|k| x.get(k))
                .map(FieldValue::to_json)
                .collect();
            values.is_empty() || seen.insert(Value::Array(values).to_string())
        })
        .collect()
}

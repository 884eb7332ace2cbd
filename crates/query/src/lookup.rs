//! Index look-ups for node filters: which equality a set of filters requires of every node,
//! and which of those an index can answer best (fewest candidates). The candidates a look-up
//! gives still go through the filters: the index only narrows where to look.

use std::sync::Arc;

use serde_json::Value;
use skydive_graph::{GraphView, IdRef, IndexValue, Node};

use crate::ast::{Combine, Filter, Literal, Predicate, Term};

type NodeIter<'g> = Box<dyn Iterator<Item = &'g Arc<Node>> + 'g>;

/// Candidate nodes for `filters` from the best index, or `None` when no index applies (scan).
pub(crate) fn nodes<'g>(g: &'g dyn GraphView, filters: &[Filter]) -> Option<NodeIter<'g>> {
    best_candidate(g, filters)?.look_up(g)
}

/// An equality some filter requires of every node, that an index may answer.
struct Candidate<'f> {
    key: &'f str,
    value: &'f Literal,
}

impl Candidate<'_> {
    fn look_up<'g>(&self, g: &'g dyn GraphView) -> Option<NodeIter<'g>> {
        if self.key == "@ID" {
            let Literal::Str(id) = self.value else {
                return Some(Box::new(std::iter::empty()));
            };
            return Some(Box::new(g.node(IdRef::parse(id)).into_iter()));
        }
        g.lookup(self.key, &index_value(self.value)?)
    }

    /// How many nodes the look-up yields, when the index can tell without iterating.
    fn count(&self, g: &dyn GraphView) -> Option<usize> {
        if self.key == "@ID" {
            return Some(usize::from(
                matches!(self.value, Literal::Str(id) if g.node(IdRef::parse(id)).is_some()),
            ));
        }
        g.lookup_count(self.key, &index_value(self.value)?)
    }
}

/// The equality whose index gives the fewest candidates; failing counts, the first indexed one.
fn best_candidate<'f>(g: &dyn GraphView, filters: &'f [Filter]) -> Option<Candidate<'f>> {
    let counted = index_candidates(filters)
        .filter_map(|c| Some((c.count(g)?, c)))
        .min_by_key(|(n, _)| *n);
    match counted {
        Some((_, c)) => Some(c),
        None => index_candidates(filters).find(|c| c.look_up(g).is_some()),
    }
}

/// The equalities every match must meet: the terms of all-of filters that test equality.
fn index_candidates(filters: &[Filter]) -> impl Iterator<Item = Candidate<'_>> {
    filters
        .iter()
        .filter(|f| f.combine == Combine::All || f.terms.len() == 1)
        .flat_map(|f| f.terms.iter())
        .filter_map(|t| match &t.predicate {
            Predicate::Eq(value) => Some(Candidate { key: &t.key, value }),
            _ => None,
        })
}

/// The count an index gives directly, when the only filter is one indexed equality.
pub(crate) fn count(g: &dyn GraphView, filters: &[Filter]) -> Option<usize> {
    let [f] = filters else { return None };
    let [
        Term {
            key,
            predicate: Predicate::Eq(value),
        },
    ] = f.terms.as_slice()
    else {
        return None;
    };
    if key.starts_with('@') {
        return None;
    }
    let value = index_value(value)?;
    g.lookup_count(key, &value)
        .or_else(|| g.lookup(key, &value).map(Iterator::count))
}

fn index_value(l: &Literal) -> Option<IndexValue> {
    let json = match l {
        Literal::Str(s) => return Some(IndexValue::Str(s.as_str().into())),
        Literal::Int(i) => Value::from(*i),
        Literal::Float(f) => Value::from(*f),
        Literal::Bool(b) => Value::Bool(*b),
    };
    IndexValue::from_json(&json)
}

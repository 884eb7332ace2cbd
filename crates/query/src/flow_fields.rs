//! Flows seen by filters and projections: [`Fields`] over a flow's dotted keys
//! (`Network.A`, `Metric.ABBytes`, `FinishType`, as `skydive_flow::Flow::field` reads them),
//! and Skydive's one rule that is special to flows: a key `Network`, `Link` or `Transport`
//! alone stands for either end, so `Has('Network', '10.0.0.1')` finds the flows from or to
//! that address. `HasKey('ICMP')` (and `Metric`, `LastUpdateMetric`) test for the object.

use skydive_flow::{FieldRef, Flow};

use crate::ast::{Combine, Filter, Predicate, Term};
use crate::predicate::{FieldValue, Fields};

impl Fields for Flow {
    fn get(&self, key: &str) -> Option<FieldValue<'_>> {
        Some(match self.field(key)? {
            FieldRef::Str(s) => FieldValue::Str(s),
            FieldRef::Int(i) => FieldValue::Int(i),
            FieldRef::Enum { name, number } => FieldValue::Enum(name, number),
        })
    }
}

/// The two keys a layer name alone stands for.
fn either_end(key: &str) -> Option<[&'static str; 2]> {
    Some(match key {
        "Link" => ["Link.A", "Link.B"],
        "Network" => ["Network.A", "Network.B"],
        "Transport" => ["Transport.A", "Transport.B"],
        _ => return None,
    })
}

/// Whether a flow has the object `key` (not a leaf, so not a field), for `HasKey('ICMP')`.
fn has_object(flow: &Flow, key: &str) -> Option<bool> {
    match key {
        "ICMP" => Some(flow.icmp.is_some()),
        "LastUpdateMetric" => Some(flow.last_update_metric.is_some()),
        "Metric" => Some(true),
        _ => None,
    }
}

fn term_matches(t: &Term, flow: &Flow) -> bool {
    if let Some([a, b]) = either_end(&t.key) {
        return t.predicate.matches(flow, a) || t.predicate.matches(flow, b);
    }
    match (&t.predicate, has_object(flow, &t.key)) {
        (Predicate::Exists, Some(present)) => present,
        (Predicate::Absent, Some(present)) => !present,
        _ => t.predicate.matches(flow, &t.key),
    }
}

/// Whether `flow` meets `filter`.
pub(crate) fn matches(filter: &Filter, flow: &Flow) -> bool {
    match filter.combine {
        Combine::All => filter.terms.iter().all(|t| term_matches(t, flow)),
        Combine::Any => {
            filter.terms.is_empty() || filter.terms.iter().any(|t| term_matches(t, flow))
        }
    }
}

//! `docs/gremlin.md` stays true: every line of its `gremlin` blocks parses and runs on the
//! fixture topology and the fixture flows (unsupported steps fail as documented), every step
//! and predicate of the tables has a section, and every section names a real step or
//! predicate.

use std::sync::Arc;

use skydive_graph::{GraphView, TimeMs, TimeSlice};

use crate::fixture::{NOW_MS, flows, topology};
use crate::{
    Context, EvalErrorKind, HistorySource, PREDICATES, STEPS, evaluate_with_flows, find_predicate,
    find_step, parse,
};

fn doc(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn docs() -> String {
    doc("gremlin.md")
}

/// `(line number, text)` of each line inside a ```gremlin block.
fn examples(md: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for (i, line) in md.lines().enumerate() {
        let trimmed = line.trim();
        if inside && trimmed == "```" {
            inside = false;
        } else if inside && !trimmed.is_empty() {
            out.push((i + 1, trimmed.to_owned()));
        } else if trimmed == "```gremlin" {
            inside = true;
        }
    }
    out
}

/// Headings `### Name` between `## {from}` and the next `## ` section.
fn headings<'a>(md: &'a str, section: &str) -> Vec<&'a str> {
    let start = md
        .find(&format!("\n## {section}\n"))
        .unwrap_or_else(|| panic!("no `## {section}` section"));
    let rest = &md[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    rest[..end]
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .collect()
}

struct PresentAsPast(Arc<dyn GraphView>);

impl HistorySource for PresentAsPast {
    fn view(&self, _: TimeSlice) -> Result<Arc<dyn GraphView>, String> {
        Ok(self.0.clone())
    }
}

#[test]
fn every_example_parses_and_runs() {
    let md = docs();
    let all = examples(&md);
    assert!(all.len() > 60, "only {} examples found", all.len());
    let g = topology();
    let history = PresentAsPast(Arc::new(topology()));
    let flows = flows();
    let cx = Context::new(&g).with_history(&history).at(TimeMs(NOW_MS));
    for (line, text) in all {
        let query =
            parse(&text).unwrap_or_else(|e| panic!("docs/gremlin.md:{line}: `{text}`: {e}"));
        match evaluate_with_flows(&query, &cx, &flows) {
            Ok(_) => {}
            Err(e) if matches!(e.kind, EvalErrorKind::Unsupported(_)) => {}
            Err(e) => panic!("docs/gremlin.md:{line}: `{text}`: {e}"),
        }
    }
}

/// `docs/flows.md` queries flows too: its examples must run.
#[test]
fn flow_docs_examples_run() {
    let all = examples(&doc("flows.md"));
    assert!(all.len() >= 4, "only {} examples found", all.len());
    let g = topology();
    let history = PresentAsPast(Arc::new(topology()));
    let flows = flows();
    let cx = Context::new(&g).with_history(&history).at(TimeMs(NOW_MS));
    for (line, text) in all {
        let query = parse(&text).unwrap_or_else(|e| panic!("docs/flows.md:{line}: `{text}`: {e}"));
        if let Err(e) = evaluate_with_flows(&query, &cx, &flows) {
            panic!("docs/flows.md:{line}: `{text}`: {e}");
        }
    }
}

#[test]
fn every_step_and_predicate_has_its_section() {
    let md = docs();
    for spec in STEPS {
        assert!(
            md.contains(&format!("\n### {}\n", spec.name)),
            "no section for step `{}`",
            spec.name
        );
        assert!(
            md.contains(&format!("`{}`", spec.usage)),
            "usage `{}` of `{}` not in the docs",
            spec.usage,
            spec.name
        );
        for alias in spec.aliases {
            assert!(
                md.contains(&format!("alias `{alias}`")),
                "alias `{alias}` of `{}` not in the docs",
                spec.name
            );
        }
    }
    for spec in PREDICATES {
        assert!(
            md.contains(&format!("\n### {}\n", spec.name)),
            "no section for predicate `{}`",
            spec.name
        );
        assert!(
            md.contains(&format!("`{}`", spec.usage)),
            "usage `{}` not in the docs",
            spec.usage
        );
    }
    for h in headings(&md, "Steps") {
        assert!(
            find_step(h).is_some_and(|s| s.name == h),
            "section `{h}` under Steps is not a step"
        );
    }
    for h in headings(&md, "Predicates") {
        assert!(
            find_predicate(h).is_some_and(|p| p.name == h),
            "section `{h}` under Predicates is not a predicate"
        );
    }
}

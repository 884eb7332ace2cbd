//! The step and predicate tables: every name the dialect knows, how it is called, what it
//! yields. The parser resolves names here (case-insensitively, with suggestions for typos) and
//! `docs/gremlin.md` is checked against these tables, so the reference cannot drift.

/// Whether a step runs here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Available,
    /// A flow step: reads flows through a [`crate::FlowSource`], or works on what one gave.
    NeedsFlowSource,
    /// Part of Skydive's dialect, parsed, not evaluated yet.
    NotYetSupported,
}

/// One step of the dialect.
#[derive(Debug, Clone, Copy)]
pub struct StepSpec {
    /// The documented spelling; names are matched case-insensitively.
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// How it is called, e.g. `Has(key[, value, …])`.
    pub usage: &'static str,
    /// What it applies to.
    pub input: &'static str,
    /// What it yields.
    pub output: &'static str,
    pub summary: &'static str,
    pub availability: Availability,
}

/// One predicate (or argument form) of the dialect.
#[derive(Debug, Clone, Copy)]
pub struct PredicateSpec {
    pub name: &'static str,
    pub usage: &'static str,
    pub summary: &'static str,
}

const fn step(
    name: &'static str,
    usage: &'static str,
    input: &'static str,
    output: &'static str,
    summary: &'static str,
) -> StepSpec {
    StepSpec {
        name,
        aliases: &[],
        usage,
        input,
        output,
        summary,
        availability: Availability::Available,
    }
}

const fn flow_step(name: &'static str, usage: &'static str, summary: &'static str) -> StepSpec {
    StepSpec {
        name,
        aliases: &[],
        usage,
        input: "flows or nodes",
        output: "flows",
        summary,
        availability: Availability::NeedsFlowSource,
    }
}

const FILTERABLE: &str = "nodes, edges, flows";

/// Every step, in documentation order.
pub const STEPS: &[StepSpec] = &[
    step(
        "G",
        "G",
        "-",
        "graph",
        "the graph; starts every query and may reappear to start again (with As/Select)",
    ),
    StepSpec {
        aliases: &["Context"],
        ..step(
            "At",
            "At(time[, duration])",
            "graph",
            "graph",
            "the graph as it was at `time`, or during [time - duration, time]; only right after G",
        )
    },
    step(
        "V",
        "V([id])",
        "graph",
        "nodes",
        "all nodes, or the node with this ID",
    ),
    step(
        "E",
        "E([id])",
        "graph",
        "edges",
        "all edges, or the edge with this ID",
    ),
    step(
        "Has",
        "Has(key[, value, key, value, …])",
        FILTERABLE,
        "same",
        "keep elements matching every pair; a lone key keeps those that have it",
    ),
    step(
        "HasEither",
        "HasEither(key, value[, key, value, …])",
        FILTERABLE,
        "same",
        "keep elements matching at least one pair",
    ),
    step(
        "HasKey",
        "HasKey(key)",
        FILTERABLE,
        "same",
        "keep elements that have the key",
    ),
    step(
        "HasNot",
        "HasNot(key)",
        FILTERABLE,
        "same",
        "keep elements that lack the key",
    ),
    step(
        "Out",
        "Out([key, value, …])",
        "nodes, flows",
        "nodes",
        "children: nodes at the child end of edges leaving each node; of a flow, the node of its B end",
    ),
    step(
        "In",
        "In([key, value, …])",
        "nodes, flows",
        "nodes",
        "parents: nodes at the parent end of edges entering each node; of a flow, the node of its A end (MAC or PeerIntfMAC = Link.A)",
    ),
    step(
        "Both",
        "Both([key, value, …])",
        "nodes, flows",
        "nodes",
        "parents and children; of a flow, the nodes of both ends",
    ),
    step(
        "OutE",
        "OutE([key, value, …])",
        "nodes",
        "edges",
        "edges leaving each node (it is their parent)",
    ),
    step(
        "InE",
        "InE([key, value, …])",
        "nodes",
        "edges",
        "edges entering each node (it is their child)",
    ),
    step(
        "BothE",
        "BothE([key, value, …])",
        "nodes",
        "edges",
        "edges touching each node",
    ),
    step(
        "OutV",
        "OutV([key, value, …])",
        "edges",
        "nodes",
        "the child end of each edge",
    ),
    step(
        "InV",
        "InV([key, value, …])",
        "edges",
        "nodes",
        "the parent end of each edge",
    ),
    step(
        "BothV",
        "BothV([key, value, …])",
        "edges",
        "nodes",
        "both ends of each edge",
    ),
    step(
        "Dedup",
        "Dedup([key, …])",
        "nodes, edges, paths, values, flows",
        "same (paths become nodes)",
        "remove duplicates, by identity or by the values of the keys (flows: by TrackingID by default)",
    ),
    step(
        "Count",
        "Count()",
        "nodes, edges, paths, values, flows, metrics, flow groups",
        "number",
        "how many",
    ),
    step(
        "Values",
        "Values(key)",
        FILTERABLE,
        "values",
        "the value of the key of each element that has it",
    ),
    step(
        "ValueMap",
        "ValueMap(key[, key, …])",
        FILTERABLE,
        "values (maps)",
        "a map of the keys present, per element",
    ),
    step(
        "Keys",
        "Keys()",
        "nodes, edges, flows, metrics",
        "values (strings)",
        "every key present, each once",
    ),
    step(
        "Sum",
        "Sum([key])",
        "nodes, edges, values, flows, metrics",
        "number",
        "sum of the key's numbers (of the values themselves after Values)",
    ),
    step(
        "Sort",
        "Sort([ASC|DESC][, key])",
        "nodes, edges, values, flows",
        "same",
        "order by the key (default @CreatedAt; Last for flows), ascending unless DESC",
    ),
    step(
        "Range",
        "Range(from, to)",
        "nodes, edges, paths, values, flows",
        "same",
        "items from `from` (included) to `to` (excluded)",
    ),
    step(
        "Limit",
        "Limit(n)",
        "nodes, edges, paths, values, flows",
        "same",
        "the first n items",
    ),
    step(
        "ShortestPathTo",
        "ShortestPathTo(Metadata(key, value, …)[, Metadata(edge filter)])",
        "nodes",
        "paths",
        "from each node, the shortest path to the nearest node matching, over edges matching the edge filter",
    ),
    step(
        "SubGraph",
        "SubGraph()",
        "nodes, edges, paths",
        "graph",
        "the graph made of these elements (and edges among the nodes); continue with V() or E()",
    ),
    step(
        "As",
        "As(name)",
        "nodes, edges",
        "same",
        "name the current result for Select",
    ),
    step(
        "Select",
        "Select(name[, name, …])",
        "any",
        "nodes or edges",
        "the union of named results",
    ),
    step(
        "Descendants",
        "Descendants([key, value, …][, depth])",
        "nodes",
        "nodes",
        "the nodes and what they own, following child-ward edges matching any pair (default RelationType ownership), depth levels (default 1, 0 = no limit)",
    ),
    step(
        "Ascendants",
        "Ascendants([key, value, …][, depth])",
        "nodes",
        "nodes",
        "the nodes and their owners, following parent-ward edges as Descendants does",
    ),
    step(
        "Neighbors",
        "Neighbors([key, value, …][, depth])",
        "nodes",
        "nodes",
        "the nodes and their neighbours in both directions, as Descendants does",
    ),
    StepSpec {
        input: "graph, nodes, paths",
        ..flow_step(
            "Flows",
            "Flows([key, value, …])",
            "flows captured on the nodes, or all flows after G; live, or active during the At slice",
        )
    },
    StepSpec {
        input: "flows",
        output: "metrics",
        ..flow_step(
            "Metrics",
            "Metrics([key])",
            "the LastUpdateMetric time series of each flow, by UUID",
        )
    },
    StepSpec {
        input: "metrics",
        output: "metrics",
        ..flow_step(
            "Aggregates",
            "Aggregates([seconds])",
            "metrics of every flow re-bucketed into fixed slices (default 30 s) and summed",
        )
    },
    StepSpec {
        availability: Availability::NotYetSupported,
        ..flow_step("RawPackets", "RawPackets()", "raw packets of flows")
    },
    StepSpec {
        availability: Availability::NotYetSupported,
        ..flow_step("BPF", "BPF(filter)", "raw packets matching a BPF filter")
    },
    StepSpec {
        availability: Availability::NotYetSupported,
        ..flow_step(
            "Sockets",
            "Sockets()",
            "sockets and processes of flows or nodes",
        )
    },
    StepSpec {
        input: "flows",
        output: "nodes",
        ..flow_step(
            "Nodes",
            "Nodes([key, value, …])",
            "the capture, A and B nodes of each flow (by TID and MAC)",
        )
    },
    StepSpec {
        aliases: &["Node"],
        input: "flows",
        output: "nodes",
        ..flow_step(
            "CaptureNode",
            "CaptureNode([key, value, …])",
            "the node each flow was captured on (its TID is the flow's NodeTID)",
        )
    },
    StepSpec {
        input: "flows",
        output: "nodes",
        ..flow_step(
            "Hops",
            "Hops([key, value, …])",
            "every capture node where the flows' TrackingIDs were seen, each once",
        )
    },
    StepSpec {
        input: "flows",
        output: "flow groups",
        ..flow_step(
            "Group",
            "Group([key])",
            "flows grouped by the value of a key (default TrackingID)",
        )
    },
    StepSpec {
        input: "flow groups",
        output: "flow groups",
        ..flow_step(
            "MoreThan",
            "MoreThan([n])",
            "the groups with more than n flows (default 1)",
        )
    },
    StepSpec {
        availability: Availability::NotYetSupported,
        ..step(
            "NextHop",
            "NextHop(ip)",
            "nodes",
            "values (maps)",
            "route lookup through the nodes' routing tables",
        )
    },
    StepSpec {
        availability: Availability::NotYetSupported,
        ..step(
            "Workflow",
            "Workflow(name, args…)",
            "any",
            "any",
            "run a stored workflow",
        )
    },
];

/// Every predicate and argument form.
pub const PREDICATES: &[PredicateSpec] = &[
    PredicateSpec {
        name: "NE",
        usage: "NE(value)",
        summary: "present and not equal",
    },
    PredicateSpec {
        name: "NEE",
        usage: "NEE(value)",
        summary: "not equal, or absent",
    },
    PredicateSpec {
        name: "LT",
        usage: "LT(number)",
        summary: "less than",
    },
    PredicateSpec {
        name: "GT",
        usage: "GT(number)",
        summary: "greater than",
    },
    PredicateSpec {
        name: "LTE",
        usage: "LTE(number)",
        summary: "less than or equal",
    },
    PredicateSpec {
        name: "GTE",
        usage: "GTE(number)",
        summary: "greater than or equal",
    },
    PredicateSpec {
        name: "INSIDE",
        usage: "INSIDE(a, b)",
        summary: "a < x < b",
    },
    PredicateSpec {
        name: "OUTSIDE",
        usage: "OUTSIDE(a, b)",
        summary: "x < a or x > b",
    },
    PredicateSpec {
        name: "BETWEEN",
        usage: "BETWEEN(a, b)",
        summary: "a <= x < b",
    },
    PredicateSpec {
        name: "WITHIN",
        usage: "WITHIN(value, …)",
        summary: "equal to one of the values",
    },
    PredicateSpec {
        name: "WITHOUT",
        usage: "WITHOUT(value, …)",
        summary: "equal to none of the values (or absent)",
    },
    PredicateSpec {
        name: "REGEX",
        usage: "REGEX(expression)",
        summary: "the whole string matches the regular expression",
    },
    PredicateSpec {
        name: "IPV4RANGE",
        usage: "IPV4RANGE(cidr)",
        summary: "an IPv4 address (or address/prefix) inside the range",
    },
    PredicateSpec {
        name: "Metadata",
        usage: "Metadata(key, value, …)",
        summary: "a filter given as an argument (ShortestPathTo)",
    },
];

/// The step named `name` (any case, aliases included).
pub fn find_step(name: &str) -> Option<&'static StepSpec> {
    STEPS.iter().find(|s| {
        s.name.eq_ignore_ascii_case(name) || s.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The predicate named `name` (any case).
pub fn find_predicate(name: &str) -> Option<&'static PredicateSpec> {
    PREDICATES
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The closest step name to a misspelt one, if close enough to be a typo.
pub(crate) fn suggest_step(found: &str) -> Option<&'static str> {
    closest(
        found,
        STEPS
            .iter()
            .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied())),
    )
}

/// The closest predicate name to a misspelt one.
pub(crate) fn suggest_predicate(found: &str) -> Option<&'static str> {
    closest(found, PREDICATES.iter().map(|p| p.name))
}

fn closest(found: &str, names: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    // Long inputs cannot be typos of our short names; this also bounds the work.
    if found.len() > 32 {
        return None;
    }
    let lower = found.to_ascii_lowercase();
    let max = (found.chars().count() / 3).max(1);
    names
        .map(|n| (edit_distance(&lower, &n.to_ascii_lowercase()), n))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance, over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_in_any_case() {
        assert_eq!(find_step("hAsEiThEr").map(|s| s.name), Some("HasEither"));
        assert_eq!(find_step("context").map(|s| s.name), Some("At"));
        assert_eq!(find_step("node").map(|s| s.name), Some("CaptureNode"));
        assert_eq!(
            find_predicate("ipv4range").map(|p| p.name),
            Some("IPV4RANGE")
        );
        assert!(find_step("Hass").is_none());
    }

    #[test]
    fn typos_get_suggestions() {
        assert_eq!(suggest_step("Hass"), Some("Has"));
        assert_eq!(suggest_step("shortestpath"), Some("ShortestPathTo"));
        assert_eq!(suggest_step("Decendants"), Some("Descendants"));
        assert_eq!(suggest_step("Xyzzy"), None);
        assert_eq!(suggest_predicate("Withn"), Some("WITHIN"));
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<String> = STEPS
            .iter()
            .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
            .chain(PREDICATES.iter().map(|p| p.name))
            .map(str::to_ascii_lowercase)
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}

//! The parsed form of a query: a list of typed [`Step`]s, each with the column it starts at.
//!
//! Steps are checked when parsed (argument count and types, regular expressions compiled,
//! CIDRs and dates read), so evaluation never has to reject an argument. `Display` prints the
//! canonical text of a query, which parses back to the same value.

use std::fmt::{self, Display};

use ipnet::Ipv4Net;

use crate::time_arg::TimeArg;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub(crate) steps: Vec<Step>,
}

impl Query {
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }
}

/// One step of a query and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// 1-based column of the step name.
    pub column: u32,
    pub kind: StepKind,
}

/// What a step does, with its checked arguments.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StepKind {
    /// The graph (first step; may reappear mid-query to start again, with `As`/`Select`).
    G,
    /// `At(t[, d])` / `Context(t[, d])`: evaluate what follows against the graph as it was.
    At(TimeArg),
    /// All nodes, or the one with this ID.
    V(Option<String>),
    /// All edges, or the one with this ID.
    E(Option<String>),
    /// Keep elements matching every term.
    Has(Filter),
    /// Keep elements matching at least one term.
    HasEither(Filter),
    HasKey(String),
    HasNot(String),
    /// Children (nodes at the child end of edges leaving the node), filtered.
    Out(Filter),
    /// Parents, filtered.
    In(Filter),
    /// Parents and children, filtered.
    Both(Filter),
    /// Edges whose parent is the node, filtered.
    OutE(Filter),
    /// Edges whose child is the node, filtered.
    InE(Filter),
    BothE(Filter),
    /// The child end of each edge (Skydive's orientation), filtered.
    OutV(Filter),
    /// The parent end of each edge, filtered.
    InV(Filter),
    BothV(Filter),
    /// Remove duplicates: by identity, or by the values of these keys.
    Dedup(Vec<String>),
    Count,
    Values(String),
    ValueMap(Vec<String>),
    Keys,
    /// Sum of a key over nodes or edges; of the values themselves after `Values`.
    Sum(Option<String>),
    Sort {
        order: Order,
        key: Option<String>,
    },
    /// Items `from..to` (end excluded).
    Range {
        from: u64,
        to: u64,
    },
    Limit(u64),
    ShortestPathTo {
        target: Filter,
        edges: Option<Filter>,
    },
    SubGraph,
    As(String),
    Select(Vec<String>),
    Descendants(Walk),
    Ascendants(Walk),
    Neighbors(Walk),
    /// A step on flows (`Flows`, `Metrics`, …): parsed, evaluated by a flow source.
    Flow {
        name: &'static str,
        args: Vec<Arg>,
    },
    /// A step of Skydive's dialect this implementation does not evaluate yet.
    Unsupported {
        name: &'static str,
        args: Vec<Arg>,
    },
}

/// How the terms of a [`Filter`] combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    All,
    Any,
}

/// A metadata filter: `(key, predicate)` terms, all or any of which must hold. No term
/// matches everything.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub combine: Combine,
    pub terms: Vec<Term>,
}

impl Filter {
    pub fn everything() -> Self {
        Filter {
            combine: Combine::All,
            terms: Vec::new(),
        }
    }

    pub fn is_everything(&self) -> bool {
        self.terms.is_empty()
    }
}

/// One condition on one (dotted or `@`) key.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub key: String,
    pub predicate: Predicate,
}

/// A condition on a value. A key holding a list matches when an element matches (for the
/// negative predicates NE, NEE and WITHOUT: when no element equals the value).
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// The key is present (`Has('key')`, `HasKey`).
    Exists,
    /// The key is absent (`HasNot`).
    Absent,
    Eq(Literal),
    /// Present and different.
    Ne(Literal),
    /// Different or absent.
    Nee(Literal),
    Lt(Num),
    Gt(Num),
    Lte(Num),
    Gte(Num),
    /// `a < x < b`
    Inside(Num, Num),
    /// `x < a` or `x > b`
    Outside(Num, Num),
    /// `a <= x < b`
    Between(Num, Num),
    Within(Vec<Literal>),
    Without(Vec<Literal>),
    /// The whole string value matches.
    Regex(Pattern),
    /// An IPv4 address (or an address with a prefix length, `10.0.0.1/24`) inside the range.
    Ipv4Range(Ipv4Net),
}

/// A scalar written in a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// A number written in a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
}

/// A regular expression, anchored at both ends when compiled.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub(crate) regex: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

/// A multi-level walk (`Descendants`, `Ascendants`, `Neighbors`): which edges to follow and
/// how many levels; `depth == 0` means no limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Walk {
    pub edges: Filter,
    pub depth: u32,
}

impl Walk {
    /// Skydive's default for multi-level walks: follow ownership edges.
    pub fn ownership_edges() -> Filter {
        let term = Term {
            key: "RelationType".to_owned(),
            predicate: Predicate::Eq(Literal::Str("ownership".to_owned())),
        };
        Filter {
            combine: Combine::Any,
            terms: vec![term],
        }
    }
}

/// An argument kept as written, for steps evaluated elsewhere (flow steps).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Literal(Literal),
    Order(Order),
    Now,
    Forever,
    Predicate(Predicate),
    Metadata(Filter),
}

// ----- canonical text -----

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{}", step.kind)?;
        }
        Ok(())
    }
}

impl StepKind {
    /// The step's name as documented (`Has`, `ShortestPathTo`).
    pub fn name(&self) -> &'static str {
        use StepKind::*;
        match self {
            G => "G",
            At(_) => "At",
            V(_) => "V",
            E(_) => "E",
            Has(_) => "Has",
            HasEither(_) => "HasEither",
            HasKey(_) => "HasKey",
            HasNot(_) => "HasNot",
            Out(_) => "Out",
            In(_) => "In",
            Both(_) => "Both",
            OutE(_) => "OutE",
            InE(_) => "InE",
            BothE(_) => "BothE",
            OutV(_) => "OutV",
            InV(_) => "InV",
            BothV(_) => "BothV",
            Dedup(_) => "Dedup",
            Count => "Count",
            Values(_) => "Values",
            ValueMap(_) => "ValueMap",
            Keys => "Keys",
            Sum(_) => "Sum",
            Sort { .. } => "Sort",
            Range { .. } => "Range",
            Limit(_) => "Limit",
            ShortestPathTo { .. } => "ShortestPathTo",
            SubGraph => "SubGraph",
            As(_) => "As",
            Select(_) => "Select",
            Descendants(_) => "Descendants",
            Ascendants(_) => "Ascendants",
            Neighbors(_) => "Neighbors",
            Flow { name, .. } | Unsupported { name, .. } => name,
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use StepKind::*;
        let name = self.name();
        match self {
            G => f.write_str("G"),
            At(t) => write!(f, "At({t})"),
            V(id) | E(id) => write!(f, "{name}({})", OptStr(id.as_deref())),
            Has(filter) | HasEither(filter) | Out(filter) | In(filter) | Both(filter)
            | OutE(filter) | InE(filter) | BothE(filter) | OutV(filter) | InV(filter)
            | BothV(filter) => {
                write!(f, "{name}({})", FilterArgs(filter))
            }
            HasKey(k) | HasNot(k) | Values(k) | As(k) => write!(f, "{name}({})", Quoted(k)),
            Dedup(keys) | ValueMap(keys) | Select(keys) => write!(f, "{name}({})", List(keys)),
            Count | Keys | SubGraph => write!(f, "{name}()"),
            Sum(k) => write!(f, "Sum({})", OptStr(k.as_deref())),
            Sort { order, key } => match key {
                Some(k) => write!(f, "Sort({order}, {})", Quoted(k)),
                None => write!(f, "Sort({order})"),
            },
            Range { from, to } => write!(f, "Range({from}, {to})"),
            Limit(n) => write!(f, "Limit({n})"),
            ShortestPathTo { target, edges } => {
                write!(f, "ShortestPathTo(Metadata({})", FilterArgs(target))?;
                if let Some(e) = edges {
                    write!(f, ", Metadata({})", FilterArgs(e))?;
                }
                f.write_str(")")
            }
            Descendants(w) | Ascendants(w) | Neighbors(w) => {
                let default_edges = w.edges == Walk::ownership_edges();
                match (default_edges, w.depth) {
                    (true, 1) => write!(f, "{name}()"),
                    (true, depth) => write!(f, "{name}({depth})"),
                    (false, depth) => write!(f, "{name}({}, {depth})", FilterArgs(&w.edges)),
                }
            }
            Flow { args, .. } | Unsupported { args, .. } => write!(f, "{name}({})", List(args)),
        }
    }
}

struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("'")?;
        for c in self.0.chars() {
            if c == '\'' || c == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("'")
    }
}

struct OptStr<'a>(Option<&'a str>);

impl fmt::Display for OptStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => Quoted(s).fmt(f),
            None => Ok(()),
        }
    }
}

struct List<'a, T>(&'a [T]);

impl<T: ListItem> fmt::Display for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            item.write(f)?;
        }
        Ok(())
    }
}

trait ListItem {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl ListItem for String {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Quoted(self).fmt(f)
    }
}

impl ListItem for Literal {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt(f)
    }
}

impl ListItem for Arg {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt(f)
    }
}

struct FilterArgs<'a>(&'a Filter);

impl fmt::Display for FilterArgs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.0.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            Quoted(&term.key).fmt(f)?;
            match &term.predicate {
                // A lone key means "exists"; HasNot/HasKey print their own form.
                Predicate::Exists | Predicate::Absent => {}
                p => write!(f, ", {p}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => Quoted(s).fmt(f),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => Num::Float(*x).fmt(f),
            Literal::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Int(i) => write!(f, "{i}"),
            // Keep a fraction so the text reads back as a float.
            Num::Float(x) if x.fract() == 0.0 => write!(f, "{x:.1}"),
            Num::Float(x) => write!(f, "{x}"),
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        })
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Predicate::*;
        match self {
            Exists | Absent => Ok(()),
            Eq(v) => v.fmt(f),
            Ne(v) => write!(f, "NE({v})"),
            Nee(v) => write!(f, "NEE({v})"),
            Lt(n) => write!(f, "LT({n})"),
            Gt(n) => write!(f, "GT({n})"),
            Lte(n) => write!(f, "LTE({n})"),
            Gte(n) => write!(f, "GTE({n})"),
            Inside(a, b) => write!(f, "INSIDE({a}, {b})"),
            Outside(a, b) => write!(f, "OUTSIDE({a}, {b})"),
            Between(a, b) => write!(f, "BETWEEN({a}, {b})"),
            Within(vs) => write!(f, "WITHIN({})", List(vs)),
            Without(vs) => write!(f, "WITHOUT({})", List(vs)),
            Regex(p) => write!(f, "REGEX({})", Quoted(&p.source)),
            Ipv4Range(net) => write!(f, "IPV4RANGE('{net}')"),
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Literal(l) => l.fmt(f),
            Arg::Order(o) => o.fmt(f),
            Arg::Now => f.write_str("NOW"),
            Arg::Forever => f.write_str("FOREVER"),
            Arg::Predicate(p) => p.fmt(f),
            Arg::Metadata(m) => write!(f, "Metadata({})", FilterArgs(m)),
        }
    }
}

//! Checking and typing of arguments: raw arguments of a step or predicate, as parsed, become
//! the typed [`StepKind`] / [`Predicate`]. Every rule of the dialect about argument counts and
//! types lives here, and each error points at the offending argument (or at the step when one
//! is missing).

use ipnet::Ipv4Net;

use crate::ast::{
    Arg, Combine, Filter, Literal, Num, Order, Pattern, Predicate, StepKind, Term, Walk,
};
use crate::error::{ParseError, ParseErrorKind};
use crate::steps::{Availability, PredicateSpec, StepSpec};
use crate::time_arg::{Span, TimeArg, TimePoint};

/// Largest compiled regular expression, so a query cannot make us build a huge automaton.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// An argument and the column it starts at.
#[derive(Debug, Clone)]
pub(crate) struct Spanned {
    pub column: u32,
    pub arg: Arg,
}

/// Types the arguments of step `spec` (at `column`, closed at `close`).
pub(crate) fn step(
    spec: &'static StepSpec,
    column: u32,
    close: u32,
    args: Vec<Spanned>,
) -> Result<StepKind, ParseError> {
    let cx = StepArgs {
        name: spec.name,
        column,
        close,
    };
    match spec.availability {
        Availability::NeedsFlowSource => {
            cx.flow_args(&args)?;
            return Ok(StepKind::Flow {
                name: spec.name,
                args: raw(args),
            });
        }
        Availability::NotYetSupported => {
            return Ok(StepKind::Unsupported {
                name: spec.name,
                args: raw(args),
            });
        }
        Availability::Available => {}
    }
    Ok(match spec.name {
        "At" => StepKind::At(cx.time(args)?),
        "V" => StepKind::V(cx.optional_string(args)?),
        "E" => StepKind::E(cx.optional_string(args)?),
        "Has" => StepKind::Has(cx.filter(args, Combine::All, true)?),
        "HasEither" => StepKind::HasEither(cx.filter(args, Combine::Any, true)?),
        "HasKey" => StepKind::HasKey(cx.one_string(args)?),
        "HasNot" => StepKind::HasNot(cx.one_string(args)?),
        "Out" => StepKind::Out(cx.filter(args, Combine::All, false)?),
        "In" => StepKind::In(cx.filter(args, Combine::All, false)?),
        "Both" => StepKind::Both(cx.filter(args, Combine::All, false)?),
        "OutE" => StepKind::OutE(cx.filter(args, Combine::All, false)?),
        "InE" => StepKind::InE(cx.filter(args, Combine::All, false)?),
        "BothE" => StepKind::BothE(cx.filter(args, Combine::All, false)?),
        "OutV" => StepKind::OutV(cx.filter(args, Combine::All, false)?),
        "InV" => StepKind::InV(cx.filter(args, Combine::All, false)?),
        "BothV" => StepKind::BothV(cx.filter(args, Combine::All, false)?),
        "Dedup" => StepKind::Dedup(cx.strings(args, 0)?),
        "Count" => cx.none(args, StepKind::Count)?,
        "Keys" => cx.none(args, StepKind::Keys)?,
        "SubGraph" => cx.none(args, StepKind::SubGraph)?,
        "Values" => StepKind::Values(cx.one_string(args)?),
        "ValueMap" => StepKind::ValueMap(cx.strings(args, 1)?),
        "Sum" => StepKind::Sum(cx.optional_string(args)?),
        "Sort" => cx.sort(args)?,
        "Range" => cx.range(args)?,
        "Limit" => StepKind::Limit(cx.one_count(args)?),
        "ShortestPathTo" => cx.shortest_path(args)?,
        "As" => StepKind::As(cx.one_string(args)?),
        "Select" => StepKind::Select(cx.strings(args, 1)?),
        "Descendants" => StepKind::Descendants(cx.walk(args)?),
        "Ascendants" => StepKind::Ascendants(cx.walk(args)?),
        "Neighbors" => StepKind::Neighbors(cx.walk(args)?),
        other => unreachable!("step `{other}` is in the table but has no argument rule"),
    })
}

fn raw(args: Vec<Spanned>) -> Vec<Arg> {
    args.into_iter().map(|a| a.arg).collect()
}

/// The typed arguments of a flow step, read again from its raw ones at evaluation (they
/// were checked when parsed, so this does not fail on a parsed query).
pub(crate) enum FlowArgs {
    /// `Flows`, `Nodes`, `CaptureNode`, `Hops`: key/value pairs.
    Filter(Filter),
    /// `Metrics`, `Group`: an optional key.
    Key(Option<String>),
    /// `Aggregates`, `MoreThan`: an optional count.
    Count(Option<u64>),
}

pub(crate) fn flow_args(name: &'static str, args: &[Arg]) -> Result<FlowArgs, ParseError> {
    let cx = StepArgs {
        name,
        column: 0,
        close: 0,
    };
    let spanned: Vec<Spanned> = args
        .iter()
        .map(|arg| Spanned {
            column: 0,
            arg: arg.clone(),
        })
        .collect();
    cx.typed_flow_args(spanned)
}

/// The step whose arguments are being checked, for error messages.
struct StepArgs {
    name: &'static str,
    column: u32,
    close: u32,
}

impl StepArgs {
    /// Checks a flow step's arguments (kept raw in the step).
    fn flow_args(&self, args: &[Spanned]) -> Result<(), ParseError> {
        self.typed_flow_args(args.to_vec()).map(|_| ())
    }

    fn typed_flow_args(&self, args: Vec<Spanned>) -> Result<FlowArgs, ParseError> {
        Ok(match self.name {
            "Metrics" | "Group" => FlowArgs::Key(self.optional_string(args)?),
            "Aggregates" => match args.len() {
                0 => FlowArgs::Count(None),
                1 => {
                    let a = args.into_iter().next().expect("one");
                    let column = a.column;
                    match self.count(a)? {
                        0 => return Err(self.bad(column, "expects a positive number of seconds")),
                        n => FlowArgs::Count(Some(n)),
                    }
                }
                n => return Err(self.bad_count("at most one slice length in seconds", n)),
            },
            "MoreThan" => match args.len() {
                0 => FlowArgs::Count(None),
                1 => FlowArgs::Count(Some(self.count(args.into_iter().next().expect("one"))?)),
                n => return Err(self.bad_count("at most one integer", n)),
            },
            _ => FlowArgs::Filter(self.filter(args, Combine::All, false)?),
        })
    }

    fn bad(&self, column: u32, message: impl Into<String>) -> ParseError {
        ParseError::new(
            column,
            ParseErrorKind::BadArguments {
                step: self.name,
                message: message.into(),
            },
        )
    }

    /// An error about the argument list as a whole: points at the step.
    fn bad_count(&self, usage: &str, given: usize) -> ParseError {
        self.bad(self.column, format!("takes {usage}; {given} given"))
    }

    fn none(&self, args: Vec<Spanned>, kind: StepKind) -> Result<StepKind, ParseError> {
        match args.first() {
            None => Ok(kind),
            Some(a) => Err(self.bad(a.column, "takes no arguments")),
        }
    }

    fn string(&self, a: Spanned, what: &str) -> Result<String, ParseError> {
        match a.arg {
            Arg::Literal(Literal::Str(s)) => Ok(s),
            other => Err(self.bad(
                a.column,
                format!("expects {what} (a string), found {}", describe(&other)),
            )),
        }
    }

    fn one_string(&self, args: Vec<Spanned>) -> Result<String, ParseError> {
        let [a] = <[Spanned; 1]>::try_from(args)
            .map_err(|args| self.bad_count("one key (a string)", args.len()))?;
        self.string(a, "a key")
    }

    fn optional_string(&self, args: Vec<Spanned>) -> Result<Option<String>, ParseError> {
        match args.len() {
            0 => Ok(None),
            1 => self
                .string(args.into_iter().next().expect("one"), "a key or ID")
                .map(Some),
            n => Err(self.bad_count("at most one argument", n)),
        }
    }

    fn strings(&self, args: Vec<Spanned>, min: usize) -> Result<Vec<String>, ParseError> {
        if args.len() < min {
            return Err(self.bad(self.close, format!("takes at least {min} key (a string)")));
        }
        args.into_iter().map(|a| self.string(a, "a key")).collect()
    }

    fn count(&self, a: Spanned) -> Result<u64, ParseError> {
        match a.arg {
            Arg::Literal(Literal::Int(i)) if i >= 0 => Ok(i as u64),
            other => Err(self.bad(
                a.column,
                format!("expects a non-negative integer, found {}", describe(&other)),
            )),
        }
    }

    fn one_count(&self, args: Vec<Spanned>) -> Result<u64, ParseError> {
        let [a] = <[Spanned; 1]>::try_from(args)
            .map_err(|args| self.bad_count("one integer", args.len()))?;
        self.count(a)
    }

    fn range(&self, args: Vec<Spanned>) -> Result<StepKind, ParseError> {
        let [from, to] = <[Spanned; 2]>::try_from(args)
            .map_err(|args| self.bad_count("two integers, from and to", args.len()))?;
        Ok(StepKind::Range {
            from: self.count(from)?,
            to: self.count(to)?,
        })
    }

    fn sort(&self, args: Vec<Spanned>) -> Result<StepKind, ParseError> {
        let mut order = Order::Asc;
        let mut key = None;
        let n = args.len();
        if n > 2 {
            return Err(self.bad_count("at most an order (ASC or DESC) and a key", n));
        }
        for (i, a) in args.into_iter().enumerate() {
            match a.arg {
                Arg::Order(o) if i == 0 => order = o,
                Arg::Literal(Literal::Str(s)) if i == n - 1 => key = Some(s),
                other => {
                    let what = if i == 0 && n == 2 {
                        "ASC or DESC"
                    } else {
                        "ASC, DESC or a key (a string)"
                    };
                    return Err(self.bad(
                        a.column,
                        format!("expects {what}, found {}", describe(&other)),
                    ));
                }
            }
        }
        Ok(StepKind::Sort { order, key })
    }

    /// `key` alone (key exists), or `key, value` pairs; `required` when at least one is needed.
    fn filter(
        &self,
        args: Vec<Spanned>,
        combine: Combine,
        required: bool,
    ) -> Result<Filter, ParseError> {
        if args.is_empty() {
            if required {
                return Err(self.bad(self.close, "takes a key, or key/value pairs"));
            }
            return Ok(Filter {
                combine,
                terms: Vec::new(),
            });
        }
        if args.len() == 1 {
            let key = self.string(args.into_iter().next().expect("one"), "a key")?;
            return Ok(Filter {
                combine,
                terms: vec![Term {
                    key,
                    predicate: Predicate::Exists,
                }],
            });
        }
        pairs(self.name, args, combine)
    }

    fn shortest_path(&self, args: Vec<Spanned>) -> Result<StepKind, ParseError> {
        let n = args.len();
        if !(1..=2).contains(&n) {
            return Err(self.bad_count(
                "Metadata(…) of the target, then optionally Metadata(…) of the edges to follow",
                n,
            ));
        }
        let mut filters = args.into_iter().map(|a| match a.arg {
            Arg::Metadata(f) => Ok(f),
            other => Err(self.bad(
                a.column,
                format!(
                    "expects Metadata(key, value, …), found {}",
                    describe(&other)
                ),
            )),
        });
        let target = filters.next().expect("one at least")?;
        let edges = filters.next().transpose()?;
        Ok(StepKind::ShortestPathTo { target, edges })
    }

    /// `([key, value, …][, depth])`: Skydive's rule is that an odd count ends with the depth.
    fn walk(&self, args: Vec<Spanned>) -> Result<Walk, ParseError> {
        let mut args = args;
        let mut depth = 1;
        if args.len() % 2 == 1 {
            let last = args.pop().expect("odd count");
            depth = match last.arg {
                Arg::Literal(Literal::Int(d)) if (0..=i64::from(u32::MAX)).contains(&d) => d as u32,
                other => {
                    return Err(self.bad(
                        last.column,
                        format!(
                            "expects the depth last (an integer, 0 for no limit), found {}",
                            describe(&other)
                        ),
                    ));
                }
            };
        }
        let edges = if args.is_empty() {
            Walk::ownership_edges()
        } else {
            pairs(self.name, args, Combine::Any)?
        };
        Ok(Walk { edges, depth })
    }

    fn time(&self, args: Vec<Spanned>) -> Result<TimeArg, ParseError> {
        let n = args.len();
        if !(1..=2).contains(&n) {
            return Err(self.bad_count("a time, then optionally a duration", n));
        }
        let mut it = args.into_iter();
        let t = it.next().expect("one at least");
        let at = match t.arg {
            Arg::Now => TimePoint::Now,
            Arg::Literal(Literal::Int(i)) => TimePoint::Unix(i),
            Arg::Literal(Literal::Str(s)) => TimePoint::from_text(&s)
                .ok_or_else(|| ParseError::new(t.column, ParseErrorKind::InvalidTime(s)))?,
            other => {
                return Err(ParseError::new(
                    t.column,
                    ParseErrorKind::InvalidTime(other.to_string()),
                ));
            }
        };
        let span = it.next().map(span).transpose()?;
        Ok(TimeArg { at, span })
    }
}

fn span(d: Spanned) -> Result<Span, ParseError> {
    match d.arg {
        Arg::Forever => Ok(Span::Forever),
        Arg::Literal(Literal::Int(s)) if s >= 0 => Ok(Span::Seconds(s)),
        Arg::Literal(Literal::Str(s)) => Span::from_text(&s)
            .ok_or_else(|| ParseError::new(d.column, ParseErrorKind::InvalidDuration(s))),
        other => Err(ParseError::new(
            d.column,
            ParseErrorKind::InvalidDuration(other.to_string()),
        )),
    }
}

/// `key, value` pairs into terms; values are literals or predicates.
fn pairs(owner: &'static str, args: Vec<Spanned>, combine: Combine) -> Result<Filter, ParseError> {
    let bad = |column, message: String| {
        ParseError::new(
            column,
            ParseErrorKind::BadArguments {
                step: owner,
                message,
            },
        )
    };
    if args.len() % 2 == 1 {
        let last = args.last().map_or(1, |a| a.column);
        return Err(bad(
            last,
            format!(
                "takes key/value pairs; this key has no value ({} arguments given)",
                args.len()
            ),
        ));
    }
    let mut terms = Vec::with_capacity(args.len() / 2);
    let mut it = args.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        let key = match k.arg {
            Arg::Literal(Literal::Str(s)) => s,
            other => {
                return Err(bad(
                    k.column,
                    format!("expects a key (a string), found {}", describe(&other)),
                ));
            }
        };
        let predicate = match v.arg {
            Arg::Literal(l) => Predicate::Eq(l),
            Arg::Predicate(p) => p,
            other => {
                return Err(bad(
                    v.column,
                    format!("expects a value or a predicate, found {}", describe(&other)),
                ));
            }
        };
        terms.push(Term { key, predicate });
    }
    Ok(Filter { combine, terms })
}

/// Types a predicate (or `Metadata(…)`) written as an argument.
pub(crate) fn predicate_arg(
    spec: &'static PredicateSpec,
    column: u32,
    args: Vec<Spanned>,
) -> Result<Arg, ParseError> {
    let p = PredicateArgs {
        name: spec.name,
        column,
    };
    Ok(match spec.name {
        "Metadata" => Arg::Metadata(pairs("Metadata", args, Combine::All)?),
        "NE" => Arg::Predicate(Predicate::Ne(p.one_literal(args)?)),
        "NEE" => Arg::Predicate(Predicate::Nee(p.one_literal(args)?)),
        "LT" => Arg::Predicate(Predicate::Lt(p.one_number(args)?)),
        "GT" => Arg::Predicate(Predicate::Gt(p.one_number(args)?)),
        "LTE" => Arg::Predicate(Predicate::Lte(p.one_number(args)?)),
        "GTE" => Arg::Predicate(Predicate::Gte(p.one_number(args)?)),
        "INSIDE" => p
            .two_numbers(args)
            .map(|(a, b)| Arg::Predicate(Predicate::Inside(a, b)))?,
        "OUTSIDE" => p
            .two_numbers(args)
            .map(|(a, b)| Arg::Predicate(Predicate::Outside(a, b)))?,
        "BETWEEN" => p
            .two_numbers(args)
            .map(|(a, b)| Arg::Predicate(Predicate::Between(a, b)))?,
        "WITHIN" => Arg::Predicate(Predicate::Within(p.literals(args)?)),
        "WITHOUT" => Arg::Predicate(Predicate::Without(p.literals(args)?)),
        "REGEX" => Arg::Predicate(Predicate::Regex(p.regex(args)?)),
        "IPV4RANGE" => Arg::Predicate(Predicate::Ipv4Range(p.cidr(args)?)),
        other => unreachable!("predicate `{other}` is in the table but has no argument rule"),
    })
}

struct PredicateArgs {
    name: &'static str,
    column: u32,
}

impl PredicateArgs {
    fn bad(&self, column: u32, message: String) -> ParseError {
        ParseError::new(
            column,
            ParseErrorKind::BadArguments {
                step: self.name,
                message,
            },
        )
    }

    fn exactly<const N: usize>(
        &self,
        args: Vec<Spanned>,
        usage: &str,
    ) -> Result<[Spanned; N], ParseError> {
        <[Spanned; N]>::try_from(args)
            .map_err(|args| self.bad(self.column, format!("takes {usage}; {} given", args.len())))
    }

    fn literal(&self, a: Spanned) -> Result<Literal, ParseError> {
        match a.arg {
            Arg::Literal(l) => Ok(l),
            other => Err(self.bad(
                a.column,
                format!("takes plain values, found {}", describe(&other)),
            )),
        }
    }

    fn number(&self, a: Spanned) -> Result<Num, ParseError> {
        match a.arg {
            Arg::Literal(Literal::Int(i)) => Ok(Num::Int(i)),
            Arg::Literal(Literal::Float(f)) => Ok(Num::Float(f)),
            other => Err(self.bad(
                a.column,
                format!("compares numbers, found {}", describe(&other)),
            )),
        }
    }

    fn string(&self, a: Spanned) -> Result<(String, u32), ParseError> {
        match a.arg {
            Arg::Literal(Literal::Str(s)) => Ok((s, a.column)),
            other => Err(self.bad(
                a.column,
                format!("takes a string, found {}", describe(&other)),
            )),
        }
    }

    fn one_literal(&self, args: Vec<Spanned>) -> Result<Literal, ParseError> {
        let [a] = self.exactly(args, "one value")?;
        self.literal(a)
    }

    fn one_number(&self, args: Vec<Spanned>) -> Result<Num, ParseError> {
        let [a] = self.exactly(args, "one number")?;
        self.number(a)
    }

    fn two_numbers(&self, args: Vec<Spanned>) -> Result<(Num, Num), ParseError> {
        let [a, b] = self.exactly(args, "two numbers")?;
        Ok((self.number(a)?, self.number(b)?))
    }

    fn literals(&self, args: Vec<Spanned>) -> Result<Vec<Literal>, ParseError> {
        if args.is_empty() {
            return Err(self.bad(self.column, "takes at least one value".to_owned()));
        }
        args.into_iter().map(|a| self.literal(a)).collect()
    }

    fn regex(&self, args: Vec<Spanned>) -> Result<Pattern, ParseError> {
        let [a] = self.exactly(args, "one regular expression (a string)")?;
        let (source, column) = self.string(a)?;
        // Skydive anchors every expression: the whole value must match.
        let regex = regex::RegexBuilder::new(&format!("^(?:{source})$"))
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| {
                ParseError::new(column, ParseErrorKind::InvalidRegex(regex_message(&e)))
            })?;
        Ok(Pattern { source, regex })
    }

    fn cidr(&self, args: Vec<Spanned>) -> Result<Ipv4Net, ParseError> {
        let [a] = self.exactly(args, "one CIDR (a string)")?;
        let (text, column) = self.string(a)?;
        let net = text
            .parse::<Ipv4Net>()
            .or_else(|_| text.parse::<std::net::Ipv4Addr>().map(Ipv4Net::from))
            .map_err(|_| ParseError::new(column, ParseErrorKind::InvalidCidr(text.clone())))?;
        Ok(net.trunc())
    }
}

/// The regex crate's message without its multi-line source diagram.
fn regex_message(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// How an error message names an argument.
fn describe(arg: &Arg) -> String {
    match arg {
        Arg::Literal(Literal::Str(s)) => format!("string '{s}'"),
        Arg::Literal(Literal::Int(i)) => format!("number {i}"),
        Arg::Literal(Literal::Float(f)) => format!("number {f}"),
        Arg::Literal(Literal::Bool(b)) => format!("`{b}`"),
        Arg::Order(o) => format!("`{o}`"),
        Arg::Now => "`NOW`".to_owned(),
        Arg::Forever => "`FOREVER`".to_owned(),
        Arg::Predicate(p) => format!("predicate `{p}`"),
        Arg::Metadata(_) => "`Metadata(…)`".to_owned(),
    }
}

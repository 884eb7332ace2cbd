//! Parser tests: accepted forms, canonical text, and errors (kind and column).

use proptest::prelude::*;

use super::*;
use crate::ast::{Combine, Filter, Num, Predicate, Term, Walk};
use crate::time_arg::{Span, TimeArg, TimePoint};

fn kinds(text: &str) -> Vec<StepKind> {
    parse(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .steps
        .into_iter()
        .map(|s| s.kind)
        .collect()
}

fn err(text: &str) -> ParseError {
    parse(text).expect_err(text)
}

fn eq(key: &str, value: Literal) -> Term {
    Term {
        key: key.into(),
        predicate: Predicate::Eq(value),
    }
}

fn s(v: &str) -> Literal {
    Literal::Str(v.into())
}

#[test]
fn names_are_case_insensitive_and_quotes_interchangeable() {
    let a = kinds("G.V().Has('Type', 'veth').Out().Count()");
    assert_eq!(a, kinds(r#"g.v().has("Type", "veth").OUT().count()"#));
    assert_eq!(
        a,
        kinds("  G . V ( ) .\n Has ( 'Type' ,\t\"veth\" ) . Out() . Count()  ")
    );
    assert_eq!(
        a[2],
        StepKind::Has(Filter {
            combine: Combine::All,
            terms: vec![eq("Type", s("veth"))]
        })
    );
}

#[test]
fn values_and_predicates() {
    let k = kinds(
        "G.V().Has('A', 1, 'B', -2.5, 'C', true, 'D', FALSE, 'E', NE('x'), 'F', lt(3), 'G', Inside(1, 2.5), \
         'H', within('a', 1), 'I', Regex('tap\\d+'), 'J', ipv4range('10.0.0.0/8'), 'K', Between(1, 5))",
    );
    let StepKind::Has(f) = &k[2] else {
        panic!("{k:?}")
    };
    let preds: Vec<&Predicate> = f.terms.iter().map(|t| &t.predicate).collect();
    assert_eq!(preds[0], &Predicate::Eq(Literal::Int(1)));
    assert_eq!(preds[1], &Predicate::Eq(Literal::Float(-2.5)));
    assert_eq!(preds[2], &Predicate::Eq(Literal::Bool(true)));
    assert_eq!(preds[3], &Predicate::Eq(Literal::Bool(false)));
    assert_eq!(preds[4], &Predicate::Ne(s("x")));
    assert_eq!(preds[5], &Predicate::Lt(Num::Int(3)));
    assert_eq!(preds[6], &Predicate::Inside(Num::Int(1), Num::Float(2.5)));
    assert_eq!(preds[7], &Predicate::Within(vec![s("a"), Literal::Int(1)]));
    assert!(
        matches!(preds[8], Predicate::Regex(p) if p.source == "tap\\d+" && p.regex.is_match("tap12") && !p.regex.is_match("xtap1"))
    );
    assert_eq!(
        preds[9],
        &Predicate::Ipv4Range("10.0.0.0/8".parse().unwrap())
    );
    assert_eq!(preds[10], &Predicate::Between(Num::Int(1), Num::Int(5)));
}

#[test]
fn every_step_form() {
    let k = kinds(
        "G.At('-1m', 3600).V('id1').Has('Name').HasEither('a', 1, 'b', 2).HasKey('k').HasNot('n').In('Type', 'x')\
         .Both().OutE().InV().InE().OutV().BothE().BothV().Dedup('Name').Sort(DESC, 'MTU').Sort('MTU').Sort()\
         .Range(1, 3).Limit(2).As('a').Select('a').Descendants().Ascendants(3).Neighbors('RelationType', 'layer2', 0)\
         .ShortestPathTo(Metadata('Type', 'host'), Metadata('RelationType', 'layer2')).Count()",
    );
    let names: Vec<&str> = k.iter().map(StepKind::name).collect();
    assert_eq!(names[..4], ["G", "At", "V", "Has"]);
    assert_eq!(
        k[1],
        StepKind::At(TimeArg {
            at: TimePoint::Relative {
                text: "-1m".into(),
                offset_ms: -60_000
            },
            span: Some(Span::Seconds(3600))
        })
    );
    assert_eq!(k[2], StepKind::V(Some("id1".into())));
    assert_eq!(
        k[3],
        StepKind::Has(Filter {
            combine: Combine::All,
            terms: vec![Term {
                key: "Name".into(),
                predicate: Predicate::Exists
            }]
        })
    );
    assert_eq!(
        k[16],
        StepKind::Sort {
            order: Order::Desc,
            key: Some("MTU".into())
        }
    );
    assert_eq!(
        k[17],
        StepKind::Sort {
            order: Order::Asc,
            key: Some("MTU".into())
        }
    );
    assert_eq!(
        k[18],
        StepKind::Sort {
            order: Order::Asc,
            key: None
        }
    );
    assert_eq!(k[19], StepKind::Range { from: 1, to: 3 });
    let ownership = Filter {
        combine: Combine::Any,
        terms: vec![eq("RelationType", s("ownership"))],
    };
    assert_eq!(
        k[23],
        StepKind::Descendants(Walk {
            edges: ownership.clone(),
            depth: 1
        })
    );
    assert_eq!(
        k[24],
        StepKind::Ascendants(Walk {
            edges: ownership,
            depth: 3
        })
    );
    let layer2 = Filter {
        combine: Combine::Any,
        terms: vec![eq("RelationType", s("layer2"))],
    };
    assert_eq!(
        k[25],
        StepKind::Neighbors(Walk {
            edges: layer2.clone(),
            depth: 0
        })
    );
    let host = Filter {
        combine: Combine::All,
        terms: vec![eq("Type", s("host"))],
    };
    let l2 = Filter {
        combine: Combine::All,
        ..layer2
    };
    assert_eq!(
        k[26],
        StepKind::ShortestPathTo {
            target: host,
            edges: Some(l2)
        }
    );
}

#[test]
fn at_arguments() {
    let at = |text: &str| match &kinds(text)[1] {
        StepKind::At(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(at("G.At(1479899809)").at, TimePoint::Unix(1479899809));
    assert_eq!(
        at("G.Context(NOW, FOREVER)"),
        TimeArg {
            at: TimePoint::Now,
            span: Some(Span::Forever)
        }
    );
    assert!(
        matches!(at("G.At('Sun, 06 Nov 2016 08:49:37 GMT')").at, TimePoint::Date { at, .. } if at.0 == 1_478_422_177_000)
    );
    assert!(matches!(
        at("G.At(NOW, '90s')").span,
        Some(Span::Duration { ms: 90_000, .. })
    ));
}

#[test]
fn flow_steps_parse_and_keep_their_arguments() {
    let k = kinds(
        "G.V().Flows('Network', IPV4RANGE('10.0.0.0/24')).Has('Application', 'DNS').Dedup().CaptureNode().nexthop('10.0.0.1')",
    );
    assert!(matches!(&k[2], StepKind::Flow { name: "Flows", args } if args.len() == 2));
    assert!(matches!(
        &k[5],
        StepKind::Flow {
            name: "CaptureNode",
            ..
        }
    ));
    assert!(matches!(
        &k[6],
        StepKind::Unsupported {
            name: "NextHop",
            ..
        }
    ));
}

#[test]
fn canonical_text_round_trips() {
    for text in [
        "G",
        "G.V()",
        "G.V('x').Both().Count()",
        "G.At('-1m', 3600).V().Has('Type', WITHIN('veth', 'tun'), 'MTU', GTE(1500))",
        "G.At(NOW, FOREVER).E().Has('RelationType', 'layer2').SubGraph().V()",
        "G.At('Sun, 06 Nov 2016 08:49:37 GMT').V()",
        "G.V().Has('Name', REGEX('it\\'s \\\\d')).Values('Name')",
        "G.V().Has('X', 2.0, 'Y', -1.5, 'Z', false, 'W', NEE('a')).Sort(DESC, '@CreatedAt').Range(0, 10)",
        "G.V().Descendants().Ascendants('RelationType', 'ownership', 'RelationType', 'layer2', 0)",
        "G.V().ShortestPathTo(Metadata('Type', 'host'))",
        "G.V().As('a').G.E().As('b').Select('a', 'b').Dedup('Name', 'Type')",
        "G.Flows().Has('Network', IPV4RANGE('10.0.0.0/24')).Sort(DESC, 'Metric.ABPackets').Limit(1)",
        "G.V().Values('IPV4').Sum()",
        "G.V().ValueMap('Name', 'MTU').Keys()",
    ] {
        let q = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let printed = q.to_string();
        assert_eq!(
            printed.to_lowercase().replace(' ', ""),
            text.to_lowercase().replace(' ', ""),
            "{text}"
        );
        assert_eq!(kinds(&printed), kinds(text), "{printed}");
    }
}

#[test]
fn errors_name_the_column_and_what_was_expected() {
    let cases: &[(&str, u32, &str)] = &[
        (
            "G.V().Hass('Type')",
            7,
            "unknown step `Hass` (did you mean `Has`?)",
        ),
        (
            "G.V().Has('Name', 'x'",
            22,
            "expected `,` or `)` to close `Has(`, found end of query",
        ),
        (
            "G.V().Has('Name' 'x')",
            18,
            "expected `,` or `)` to close `Has(`, found string 'x'",
        ),
        (
            "G.V().Has('Name, 'x')",
            19,
            "expected `,` or `)` to close `Has(`, found `x`",
        ),
        (
            "G.V().Has('Name', \"x)",
            19,
            "unclosed string; missing closing `\"`",
        ),
        (
            "V().Count()",
            1,
            "expected `G` at the start of the query, found `V`",
        ),
        ("", 1, "empty query; a query starts with `G`, e.g. `G.V()`"),
        (
            "   ",
            4,
            "empty query; a query starts with `G`, e.g. `G.V()`",
        ),
        ("G.V", 4, "expected `(` after `V`, found end of query"),
        ("G.V()..Count()", 7, "expected a step name, found `.`"),
        (
            "G.V() Count()",
            7,
            "expected `.` before the next step, or the end of the query, found `Count`",
        ),
        ("G()", 2, "`G` takes no parentheses; write `G.V()`"),
        (
            "G.V().At('-1m')",
            7,
            "`At` must come right after `G`, e.g. `G.At('-1m').V()`",
        ),
        (
            "G.V().Within('a')",
            7,
            "`WITHIN` is a predicate, not a step",
        ),
        (
            "G.V().Has('a', Withn(1))",
            16,
            "unknown predicate `Withn` (did you mean `WITHIN`?)",
        ),
        (
            "G.V().Has(Name, 'x')",
            11,
            "unexpected identifier `Name`; strings must be quoted, e.g. 'Name'",
        ),
        ("G.V().Has('a', Out())", 16, "`Out` is a step, not a value"),
        (
            "G.V().Has('a', 'b', 'c')",
            21,
            "`Has` takes key/value pairs; this key has no value (3 arguments given)",
        ),
        (
            "G.V().Has(1, 'b')",
            11,
            "`Has` expects a key (a string), found number 1",
        ),
        ("G.V().Has()", 11, "`Has` takes a key, or key/value pairs"),
        (
            "G.V().Has('a', ASC)",
            16,
            "`Has` expects a value or a predicate, found `ASC`",
        ),
        (
            "G.V().Range(1)",
            7,
            "`Range` takes two integers, from and to; 1 given",
        ),
        (
            "G.V().Limit(-1)",
            13,
            "`Limit` expects a non-negative integer, found number -1",
        ),
        (
            "G.V().Values()",
            7,
            "`Values` takes one key (a string); 0 given",
        ),
        ("G.V().Count(1)", 13, "`Count` takes no arguments"),
        (
            "G.V(1)",
            5,
            "`V` expects a key or ID (a string), found number 1",
        ),
        (
            "G.V().Sort('MTU', DESC)",
            12,
            "`Sort` expects ASC or DESC, found string 'MTU'",
        ),
        (
            "G.V().ShortestPathTo('x')",
            22,
            "`ShortestPathTo` expects Metadata(key, value, …), found string 'x'",
        ),
        (
            "G.V().Has('a', LT('x'))",
            19,
            "`LT` compares numbers, found string 'x'",
        ),
        (
            "G.V().Has('a', NE(1, 2))",
            16,
            "`NE` takes one value; 2 given",
        ),
        (
            "G.V().Has('a', REGEX('('))",
            22,
            "invalid regular expression",
        ),
        (
            "G.V().Has('a', IPV4RANGE('10.0.0/33'))",
            26,
            "invalid IPv4 range `10.0.0/33`",
        ),
        ("G.At('yesterday').V()", 6, "invalid time `yesterday`"),
        ("G.At(NOW, '-1h').V()", 11, "invalid duration `-1h`"),
        (
            "G.V().Descendants('a', 'b', 'c')",
            29,
            "`Descendants` expects the depth last",
        ),
        (
            "G.V().Has('a', 12ab)",
            16,
            "invalid number `12ab`: a number cannot run into letters",
        ),
        (
            "G.V().Has('a', 1) # comment",
            19,
            "unexpected character `#`",
        ),
        (
            "G.V().Has('é', 'ü'",
            19,
            "expected `,` or `)` to close `Has(`, found end of query",
        ),
    ];
    for (text, column, message) in cases {
        let e = err(text);
        assert!(
            e.to_string().starts_with(message),
            "{text}: got `{e}`, want `{message}`"
        );
        assert_eq!(e.column, *column, "{text}: {e}");
        assert!(
            e.to_string().ends_with(&format!("(column {column})")),
            "{e}"
        );
    }
}

#[test]
fn input_is_bounded() {
    let long = format!("G.V().Has('Name', '{}')", "x".repeat(MAX_QUERY_LEN));
    assert!(matches!(err(&long).kind, ParseErrorKind::TooLong { .. }));
    let deep = format!("G.V().Has('a', {}1{})", "NE(".repeat(50), ")".repeat(50));
    let e = err(&deep);
    assert!(
        matches!(e.kind, ParseErrorKind::TooDeep { max: MAX_DEPTH }),
        "{e}"
    );
    // Just inside the limits is fine (then rejected for its meaning, not its size).
    let nested = format!("G.V().Has('a', {}1{})", "NE(".repeat(2), ")".repeat(2));
    assert!(matches!(
        err(&nested).kind,
        ParseErrorKind::BadArguments { step: "NE", .. }
    ));
}

/// Text made of the dialect's own pieces, so generated inputs get past the lexer.
fn gremlin_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("G".to_owned()),
        Just(".".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(",".to_owned()),
        Just("'a'".to_owned()),
        Just("\"b\"".to_owned()),
        Just("'".to_owned()),
        Just("1".to_owned()),
        Just("-2.5".to_owned()),
        Just(" ".to_owned()),
        prop::sample::select(
            crate::STEPS
                .iter()
                .map(|s| s.name.to_owned())
                .collect::<Vec<_>>()
        ),
        prop::sample::select(
            crate::PREDICATES
                .iter()
                .map(|p| p.name.to_owned())
                .collect::<Vec<_>>()
        ),
        prop::sample::select(vec![
            "ASC".to_owned(),
            "NOW".to_owned(),
            "FOREVER".to_owned(),
            "true".to_owned()
        ]),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_text(text in ".{0,200}") {
        crate::fuzzing::gremlin(text.as_bytes());
    }

    #[test]
    fn never_panics_on_gremlin_like_text(text in gremlin_soup()) {
        crate::fuzzing::gremlin(text.as_bytes());
        if let Err(e) = parse(&text) {
            // Columns stay inside the text (or one past its end).
            prop_assert!(e.column as usize <= text.chars().count() + 1, "{e} for {text}");
        }
    }
}

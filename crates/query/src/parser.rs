//! Recursive-descent parser: text → [`Query`].
//!
//! Grammar (names are case-insensitive):
//! ```text
//! query := "G" ("." step)* EOF
//! step  := "G" | NAME "(" [arg ("," arg)*] ")"
//! arg   := STRING | NUMBER | true | false | ASC | DESC | NOW | FOREVER
//!        | PREDICATE "(" [arg ("," arg)*] ")" | Metadata "(" … ")"
//! ```
//! Input is bounded: at most [`MAX_QUERY_LEN`] bytes and [`MAX_DEPTH`] levels of nested
//! arguments, so hostile text costs little and never overflows the stack. Each step's
//! arguments are checked as soon as its `)` is read (see `arguments.rs`), so errors point at
//! the offending argument.

use crate::arguments::{self, Spanned};
use crate::ast::{Arg, Literal, Order, Query, Step, StepKind};
use crate::error::{ParseError, ParseErrorKind};
use crate::lexer::{Lexer, Tok, Token};
use crate::steps::{self, find_predicate, find_step};

/// Longest query accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 64 * 1024;
/// Deepest nesting of arguments: `Has('k', NE(1))` is 2 levels deep.
pub const MAX_DEPTH: u32 = 8;

/// Parses a query.
///
/// ```
/// let q = skydive_gremlin::parse("g.v().has('Type', \"veth\").count()").unwrap();
/// assert_eq!(q.to_string(), "G.V().Has('Type', 'veth').Count()");
/// let e = skydive_gremlin::parse("G.V().Hass('Type')").unwrap_err();
/// assert_eq!(e.to_string(), "unknown step `Hass` (did you mean `Has`?) (column 7)");
/// ```
pub fn parse(text: &str) -> Result<Query, ParseError> {
    if text.len() > MAX_QUERY_LEN {
        return Err(ParseError::new(
            1,
            ParseErrorKind::TooLong {
                len: text.len(),
                max: MAX_QUERY_LEN,
            },
        ));
    }
    Parser {
        lexer: Lexer::new(text),
        peeked: None,
    }
    .query()
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token<'a>>,
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> Result<Token<'a>, ParseError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    fn peek(&mut self) -> Result<&Token<'a>, ParseError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn query(&mut self) -> Result<Query, ParseError> {
        let first = self.peek()?.clone();
        match &first.tok {
            Tok::Eof => return Err(ParseError::new(first.column, ParseErrorKind::Empty)),
            Tok::Ident(name) if name.eq_ignore_ascii_case("g") => {}
            other => {
                return Err(expected(
                    first.column,
                    "`G` at the start of the query",
                    other,
                ));
            }
        }
        let mut steps: Vec<Step> = Vec::new();
        loop {
            let step = self.step(steps.last())?;
            steps.push(step);
            let t = self.next()?;
            match t.tok {
                Tok::Dot => continue,
                Tok::Eof => return Ok(Query { steps }),
                other => {
                    return Err(expected(
                        t.column,
                        "`.` before the next step, or the end of the query",
                        &other,
                    ));
                }
            }
        }
    }

    fn step(&mut self, previous: Option<&Step>) -> Result<Step, ParseError> {
        let t = self.next()?;
        let column = t.column;
        let name = match t.tok {
            Tok::Ident(name) => name,
            other => return Err(expected(column, "a step name", &other)),
        };
        let Some(spec) = find_step(name) else {
            return Err(ParseError::new(column, unknown_step(name)));
        };
        if spec.name == "G" {
            return self.g_step(column);
        }
        if previous.is_none() {
            return Err(expected(
                column,
                "`G` at the start of the query",
                &Tok::Ident(name),
            ));
        }
        if spec.name == "At" && !matches!(previous.map(|s| &s.kind), Some(StepKind::G)) {
            let rule = "must come right after `G`, e.g. `G.At('-1m').V()`";
            return Err(ParseError::new(
                column,
                ParseErrorKind::Misplaced { step: "At", rule },
            ));
        }
        let open = self.next()?;
        if open.tok != Tok::LParen {
            return Err(expected(
                open.column,
                &format!("`(` after `{}`", spec.name),
                &open.tok,
            ));
        }
        let (args, close_column) = self.args(spec.name, 1)?;
        let kind = arguments::step(spec, column, close_column, args)?;
        Ok(Step { column, kind })
    }

    fn g_step(&mut self, column: u32) -> Result<Step, ParseError> {
        if self.peek()?.tok == Tok::LParen {
            let message = "takes no parentheses; write `G.V()`".to_owned();
            return Err(ParseError::new(
                self.peek()?.column,
                ParseErrorKind::BadArguments { step: "G", message },
            ));
        }
        Ok(Step {
            column,
            kind: StepKind::G,
        })
    }

    /// Arguments after `(`, through the closing `)`; returns them and the column of `)`.
    fn args(&mut self, owner: &str, depth: u32) -> Result<(Vec<Spanned>, u32), ParseError> {
        let mut args = Vec::new();
        let first = self.peek()?.clone();
        if first.tok == Tok::RParen {
            self.next()?;
            return Ok((args, first.column));
        }
        loop {
            args.push(self.arg(depth)?);
            let t = self.next()?;
            match t.tok {
                Tok::Comma => continue,
                Tok::RParen => return Ok((args, t.column)),
                other => {
                    return Err(expected(
                        t.column,
                        &format!("`,` or `)` to close `{owner}(`"),
                        &other,
                    ));
                }
            }
        }
    }

    fn arg(&mut self, depth: u32) -> Result<Spanned, ParseError> {
        let t = self.next()?;
        let column = t.column;
        let arg = match t.tok {
            Tok::Str(s) => Arg::Literal(Literal::Str(s)),
            Tok::Int(i) => Arg::Literal(Literal::Int(i)),
            Tok::Float(f) => Arg::Literal(Literal::Float(f)),
            Tok::Ident(name) => self.ident_arg(name, column, depth)?,
            other => return Err(expected(column, "a value", &other)),
        };
        Ok(Spanned { column, arg })
    }

    fn ident_arg(&mut self, name: &str, column: u32, depth: u32) -> Result<Arg, ParseError> {
        if let Some(keyword) = keyword(name) {
            return Ok(keyword);
        }
        let Some(spec) = find_predicate(name) else {
            let kind = match find_step(name) {
                Some(step) => ParseErrorKind::StepAsArgument(step.name),
                None if self.peek()?.tok == Tok::LParen => unknown_predicate(name),
                None => ParseErrorKind::UnquotedIdent(name.to_owned()),
            };
            return Err(ParseError::new(column, kind));
        };
        if depth >= MAX_DEPTH {
            return Err(ParseError::new(
                column,
                ParseErrorKind::TooDeep { max: MAX_DEPTH },
            ));
        }
        let open = self.next()?;
        if open.tok != Tok::LParen {
            return Err(expected(
                open.column,
                &format!("`(` after `{}`", spec.name),
                &open.tok,
            ));
        }
        let (args, _) = self.args(spec.name, depth + 1)?;
        arguments::predicate_arg(spec, column, args)
    }
}

/// The argument keywords: booleans, sort orders, time words.
fn keyword(name: &str) -> Option<Arg> {
    let upper = name.to_ascii_uppercase();
    Some(match upper.as_str() {
        "TRUE" => Arg::Literal(Literal::Bool(true)),
        "FALSE" => Arg::Literal(Literal::Bool(false)),
        "ASC" => Arg::Order(Order::Asc),
        "DESC" => Arg::Order(Order::Desc),
        "NOW" => Arg::Now,
        "FOREVER" => Arg::Forever,
        _ => return None,
    })
}

fn unknown_step(name: &str) -> ParseErrorKind {
    match find_predicate(name) {
        Some(p) => ParseErrorKind::PredicateAsStep(p.name),
        None => ParseErrorKind::UnknownStep {
            found: name.to_owned(),
            suggestion: steps::suggest_step(name),
        },
    }
}

fn unknown_predicate(name: &str) -> ParseErrorKind {
    ParseErrorKind::UnknownPredicate {
        found: name.to_owned(),
        suggestion: steps::suggest_predicate(name),
    }
}

fn expected(column: u32, what: &str, found: &Tok<'_>) -> ParseError {
    ParseError::new(
        column,
        ParseErrorKind::Expected {
            expected: what.to_owned(),
            found: found.describe(),
        },
    )
}

#[cfg(test)]
mod tests;

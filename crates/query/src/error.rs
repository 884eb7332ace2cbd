//! Errors: [`ParseError`] (the text is not a query), [`EvalError`] (the query cannot run
//! against this graph) and [`GremlinError`], either of them. Each carries the 1-based column
//! (in characters, counted over the whole query text) of what went wrong, and its `Display` is
//! a message a person can act on: `unknown step `Hass` (did you mean `Has`?) (column 9)`.
//! Callers branch on the kinds, never on the wording.

/// The text is not a valid query.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind} (column {column})")]
pub struct ParseError {
    pub column: u32,
    pub kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(column: u32, kind: ParseErrorKind) -> Self {
        ParseError { column, kind }
    }
}

/// Why a query does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    #[error("empty query; a query starts with `G`, e.g. `G.V()`")]
    Empty,
    #[error("query is {len} bytes long, the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error("arguments nested more than {max} levels deep")]
    TooDeep { max: u32 },
    #[error("unexpected character `{0}`")]
    UnexpectedChar(char),
    #[error("unclosed string; missing closing {quote}", quote = quoted_char(*.quote))]
    UnclosedString { quote: char },
    #[error("invalid number `{text}`: {reason}")]
    InvalidNumber { text: String, reason: &'static str },
    #[error("expected {expected}, found {found}")]
    Expected { expected: String, found: String },
    #[error("unknown step `{found}`{hint}", hint = did_you_mean(*.suggestion))]
    UnknownStep {
        found: String,
        suggestion: Option<&'static str>,
    },
    #[error("unknown predicate `{found}`{hint}", hint = did_you_mean(*.suggestion))]
    UnknownPredicate {
        found: String,
        suggestion: Option<&'static str>,
    },
    #[error(
        "`{0}` is a predicate, not a step; use it as a value in a filter, e.g. `Has('MTU', {0}(...))`"
    )]
    PredicateAsStep(&'static str),
    #[error("`{0}` is a step, not a value; chain it with a dot, e.g. `G.V().{0}(...)`")]
    StepAsArgument(&'static str),
    #[error("unexpected identifier `{0}`; strings must be quoted, e.g. '{0}'")]
    UnquotedIdent(String),
    #[error("`{step}` {message}")]
    BadArguments { step: &'static str, message: String },
    #[error("`{step}` {rule}")]
    Misplaced {
        step: &'static str,
        rule: &'static str,
    },
    #[error("invalid regular expression: {0}")]
    InvalidRegex(String),
    #[error("invalid IPv4 range `{0}`; expected a CIDR such as '10.0.0.0/24'")]
    InvalidCidr(String),
    #[error(
        "invalid time `{0}`; expected Unix seconds or milliseconds, an RFC 1123 date such as 'Sun, 06 Nov 2016 08:49:37 GMT', a duration relative to now such as '-1m', or NOW"
    )]
    InvalidTime(String),
    #[error(
        "invalid duration `{0}`; expected seconds, a duration such as '1h' or '90s', or FOREVER"
    )]
    InvalidDuration(String),
}

fn quoted_char(c: char) -> String {
    match c {
        '\'' => "`'`".to_owned(),
        other => format!("`{other}`"),
    }
}

fn did_you_mean(suggestion: Option<&'static str>) -> String {
    suggestion
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

/// The query parsed but cannot be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind} (column {column})")]
pub struct EvalError {
    /// Column of the step that failed.
    pub column: u32,
    pub kind: EvalErrorKind,
}

/// Why evaluation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalErrorKind {
    #[error("`{step}` applies to {expected}, but the previous step yields {found}")]
    WrongInput {
        step: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("step `{0}` needs a flow source, none is configured")]
    NoFlowSource(&'static str),
    #[error("step `{0}` is not supported yet")]
    Unsupported(&'static str),
    /// The flow source could not answer (its message).
    #[error("`{step}`: the flow source failed: {message}")]
    FlowSource { step: &'static str, message: String },
    /// A step used in a way it cannot work, e.g. `Sum()` on flows without a key.
    #[error("`{step}` {message}")]
    BadStep { step: &'static str, message: String },
    #[error(
        "`At` needs a history store, none is configured (time travel requires the analyzer's topology storage)"
    )]
    NoHistory,
    #[error("`At`: the history store failed: {0}")]
    History(String),
    #[error("`At`: time is out of range")]
    TimeOutOfRange,
    #[error("`Select`: nothing is named `{0}`; name a result first with `As('{0}')`")]
    UnknownName(String),
    #[error(
        "`Select` mixes results of different kinds: `{first}` holds {first_kind}, `{other}` holds {other_kind}"
    )]
    MixedSelect {
        first: String,
        first_kind: &'static str,
        other: String,
        other_kind: &'static str,
    },
    #[error("`As` can name nodes or edges, not {0}")]
    CannotName(&'static str),
    #[error("`Sum`: `{key}` holds {value}, which is not a number")]
    NotANumber { key: String, value: String },
    #[error("the result would exceed {limit} items; narrow the query with Has(...) or Limit(...)")]
    TooLarge { limit: usize },
    #[error(
        "the query visits more than {limit} elements; narrow it with Has(...) or a smaller depth"
    )]
    TooExpensive { limit: u64 },
}

/// Parsing or evaluation failed; `Display` is the underlying message with its column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GremlinError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Eval(#[from] EvalError),
}

impl GremlinError {
    /// The 1-based column the error points at.
    pub fn column(&self) -> u32 {
        match self {
            GremlinError::Parse(e) => e.column,
            GremlinError::Eval(e) => e.column,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_well() {
        let e = ParseError::new(
            9,
            ParseErrorKind::UnknownStep {
                found: "Hass".into(),
                suggestion: Some("Has"),
            },
        );
        assert_eq!(
            e.to_string(),
            "unknown step `Hass` (did you mean `Has`?) (column 9)"
        );
        let e = ParseError::new(3, ParseErrorKind::UnclosedString { quote: '\'' });
        assert_eq!(
            e.to_string(),
            "unclosed string; missing closing `'` (column 3)"
        );
        let e = EvalError {
            column: 3,
            kind: EvalErrorKind::NoFlowSource("Flows"),
        };
        assert_eq!(
            e.to_string(),
            "step `Flows` needs a flow source, none is configured (column 3)"
        );
        assert_eq!(GremlinError::from(e).column(), 3);
    }
}

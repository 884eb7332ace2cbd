//! Tokens of the Gremlin dialect, each with the 1-based column (in characters) where it starts.
//!
//! Lexical rules (Skydive's, with two deliberate differences noted):
//! - identifiers: an ASCII letter, then letters, digits or `_`; case is kept (the parser
//!   compares case-insensitively);
//! - strings: `'…'` or `"…"`, closed by the same quote (Skydive closed on either: `"it's"`
//!   works here). A backslash escapes a quote or a backslash; before any other character it is
//!   kept, so regular expressions such as `'tap\d+'` need no doubling;
//! - numbers: digits with an optional fraction, optionally preceded by `-` (Skydive had no
//!   negative literals); integers must fit in an `i64`;
//! - punctuation `( ) , .`; whitespace is space, tab, CR and LF.

use crate::error::{ParseError, ParseErrorKind};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok<'a> {
    Ident(&'a str),
    Str(String),
    Int(i64),
    Float(f64),
    LParen,
    RParen,
    Comma,
    Dot,
    Eof,
}

impl Tok<'_> {
    /// How an error message names this token.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Int(i) => format!("number {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::LParen => "`(`".to_owned(),
            Tok::RParen => "`)`".to_owned(),
            Tok::Comma => "`,`".to_owned(),
            Tok::Dot => "`.`".to_owned(),
            Tok::Eof => "end of query".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token<'a> {
    pub tok: Tok<'a>,
    pub column: u32,
}

/// Splits a query into tokens; never panics, whatever the input.
pub(crate) struct Lexer<'a> {
    text: &'a str,
    /// Byte offset of the next character.
    pos: usize,
    /// Column of the next character.
    column: u32,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Lexer {
            text,
            pos: 0,
            column: 1,
        }
    }

    fn peek_char(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.text[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        self.column = self.column.saturating_add(1);
        Some(c)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek_char(), Some(' ' | '\t' | '\n' | '\r')) {
            self.bump();
        }
    }

    pub(crate) fn next_token(&mut self) -> Result<Token<'a>, ParseError> {
        self.skip_whitespace();
        let column = self.column;
        let Some(c) = self.peek_char() else {
            return Ok(Token {
                tok: Tok::Eof,
                column,
            });
        };
        let tok = match c {
            '(' | ')' | ',' | '.' => {
                self.bump();
                match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    _ => Tok::Dot,
                }
            }
            '\'' | '"' => self.string(column)?,
            '0'..='9' => self.number(column)?,
            '-' if self.peek_second().is_some_and(|d| d.is_ascii_digit()) => self.number(column)?,
            c if c.is_ascii_alphabetic() => self.ident(),
            other => {
                return Err(ParseError::new(
                    column,
                    ParseErrorKind::UnexpectedChar(other),
                ));
            }
        };
        Ok(Token { tok, column })
    }

    fn ident(&mut self) -> Tok<'a> {
        let start = self.pos;
        while self
            .peek_char()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.bump();
        }
        Tok::Ident(&self.text[start..self.pos])
    }

    fn string(&mut self, column: u32) -> Result<Tok<'a>, ParseError> {
        let quote = self.bump().unwrap_or('\'');
        let mut out = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(ParseError::new(
                        column,
                        ParseErrorKind::UnclosedString { quote },
                    ));
                }
                Some(c) if c == quote => return Ok(Tok::Str(out)),
                Some('\\') => match self.peek_char() {
                    Some(e @ ('\\' | '\'' | '"')) => {
                        self.bump();
                        out.push(e);
                    }
                    // Kept as written: regular expressions use backslashes freely.
                    _ => out.push('\\'),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn number(&mut self, column: u32) -> Result<Tok<'a>, ParseError> {
        let start = self.pos;
        if self.peek_char() == Some('-') {
            self.bump();
        }
        self.digits();
        let mut is_float = false;
        if self.peek_char() == Some('.') && self.peek_second().is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            self.bump();
            self.digits();
        }
        if self
            .peek_char()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            while self
                .peek_char()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                self.bump();
            }
            let text = self.text[start..self.pos].to_owned();
            return Err(invalid_number(
                column,
                text,
                "a number cannot run into letters",
            ));
        }
        let text = &self.text[start..self.pos];
        if is_float {
            return text
                .parse::<f64>()
                .map(Tok::Float)
                .map_err(|_| invalid_number(column, text.to_owned(), "not a decimal number"));
        }
        text.parse::<i64>().map(Tok::Int).map_err(|_| {
            invalid_number(column, text.to_owned(), "does not fit in a 64-bit integer")
        })
    }

    fn digits(&mut self) {
        while self.peek_char().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }
}

fn invalid_number(column: u32, text: String, reason: &'static str) -> ParseError {
    ParseError::new(column, ParseErrorKind::InvalidNumber { text, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Result<Vec<(Tok<'_>, u32)>, ParseError> {
        let mut lx = Lexer::new(text);
        let mut out = Vec::new();
        loop {
            let t = lx.next_token()?;
            let end = t.tok == Tok::Eof;
            out.push((t.tok, t.column));
            if end {
                return Ok(out);
            }
        }
    }

    #[test]
    fn columns_count_characters() {
        let t = tokens("G.V('é', 1)").unwrap();
        assert_eq!(
            t,
            vec![
                (Tok::Ident("G"), 1),
                (Tok::Dot, 2),
                (Tok::Ident("V"), 3),
                (Tok::LParen, 4),
                (Tok::Str("é".into()), 5),
                (Tok::Comma, 8),
                (Tok::Int(1), 10),
                (Tok::RParen, 11),
                (Tok::Eof, 12),
            ]
        );
    }

    #[test]
    fn strings_numbers_escapes() {
        let t = tokens(r#"'it\'s' "say \"hi\"" 'a\d+\\' -3 2.5 "it's""#).unwrap();
        let toks: Vec<_> = t.into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            toks,
            vec![
                Tok::Str("it's".into()),
                Tok::Str("say \"hi\"".into()),
                Tok::Str("a\\d+\\".into()),
                Tok::Int(-3),
                Tok::Float(2.5),
                Tok::Str("it's".into()),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn lexical_errors_point_at_their_start() {
        let e = tokens("G.V('abc").unwrap_err();
        assert_eq!(
            (e.column, e.kind),
            (5, ParseErrorKind::UnclosedString { quote: '\'' })
        );
        let e = tokens("G.V(12ab)").unwrap_err();
        assert_eq!(e.column, 5);
        assert!(matches!(e.kind, ParseErrorKind::InvalidNumber { .. }));
        let e = tokens("G.V(99999999999999999999)").unwrap_err();
        assert!(e.to_string().contains("64-bit"));
        let e = tokens("G#").unwrap_err();
        assert_eq!((e.column, e.kind), (2, ParseErrorKind::UnexpectedChar('#')));
    }
}

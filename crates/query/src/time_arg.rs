//! The arguments of `At(t[, d])` / `Context(t[, d])`, read as Skydive reads them.
//!
//! `t` is Unix seconds, or Unix milliseconds when greater than 2^31 − 1; an RFC 1123 date
//! (`'Sun, 06 Nov 2016 08:49:37 GMT'`); a Go duration relative to now (`'-1m'`, `'-2h30m'`);
//! or `NOW`. `d` is seconds, a Go duration (`'1h'`, `'90s'`) or `FOREVER`; it widens the point
//! `t` into the slice `[t − d, t]`. Relative times are resolved against the evaluation
//! context's `now`, so the parsed form is independent of the clock.

use std::fmt;
use std::time::UNIX_EPOCH;

use skydive_graph::{TimeMs, TimeSlice};

/// `t` and the optional `d` of `At(t[, d])`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeArg {
    pub at: TimePoint,
    pub span: Option<Span>,
}

/// When: `t` of `At(t, …)`, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum TimePoint {
    Now,
    /// Seconds, or milliseconds when greater than 2^31 − 1.
    Unix(i64),
    /// An RFC 1123 date, with its text.
    Date {
        text: String,
        at: TimeMs,
    },
    /// A duration relative to now, with its text.
    Relative {
        text: String,
        offset_ms: i64,
    },
}

/// How far back: `d` of `At(t, d)`, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Span {
    Forever,
    Seconds(i64),
    Duration { text: String, ms: i64 },
}

impl TimePoint {
    /// Reads a string `t`: an RFC 1123 date first, then a duration relative to now.
    pub(crate) fn from_text(text: &str) -> Option<Self> {
        if let Some(at) = parse_rfc1123(text) {
            return Some(TimePoint::Date {
                text: text.to_owned(),
                at,
            });
        }
        let offset_ms = parse_go_duration(text)?;
        Some(TimePoint::Relative {
            text: text.to_owned(),
            offset_ms,
        })
    }

    fn resolve(&self, now: TimeMs) -> Option<TimeMs> {
        match self {
            TimePoint::Now => Some(now),
            // Skydive's rule: beyond the largest i32, a number is milliseconds.
            TimePoint::Unix(n) if *n > i64::from(i32::MAX) => Some(TimeMs(*n)),
            TimePoint::Unix(n) => n.checked_mul(1000).map(TimeMs),
            TimePoint::Date { at, .. } => Some(*at),
            TimePoint::Relative { offset_ms, .. } => now.0.checked_add(*offset_ms).map(TimeMs),
        }
    }
}

impl Span {
    /// Reads a string `d`: a non-negative Go duration.
    pub(crate) fn from_text(text: &str) -> Option<Self> {
        let ms = parse_go_duration(text).filter(|ms| *ms >= 0)?;
        Some(Span::Duration {
            text: text.to_owned(),
            ms,
        })
    }
}

impl TimeArg {
    /// The time slice this argument stands for, given the current time.
    pub fn resolve(&self, now: TimeMs) -> Option<TimeSlice> {
        let last = self.at.resolve(now)?;
        let start = match &self.span {
            None => return Some(TimeSlice::at(last)),
            // Everything up to `t`: Skydive subtracted "now" as a duration, i.e. back to the epoch.
            Some(Span::Forever) => TimeMs(last.0.min(0)),
            Some(Span::Seconds(s)) => TimeMs(last.0.checked_sub(s.checked_mul(1000)?)?),
            Some(Span::Duration { ms, .. }) => TimeMs(last.0.checked_sub(*ms)?),
        };
        Some(TimeSlice { start, last })
    }
}

/// `Sun, 06 Nov 2016 08:49:37 GMT` (also with `UTC`), to epoch milliseconds.
fn parse_rfc1123(text: &str) -> Option<TimeMs> {
    let normalized;
    let text = match text.strip_suffix(" UTC") {
        Some(head) => {
            normalized = format!("{head} GMT");
            normalized.as_str()
        }
        None => text,
    };
    let t = httpdate::parse_http_date(text).ok()?;
    let ms = t.duration_since(UNIX_EPOCH).ok()?.as_millis();
    i64::try_from(ms).ok().map(TimeMs)
}

/// A Go duration (`-1m`, `2h30m`, `1.5h`, `300ms`, `0`) in milliseconds, truncated toward
/// zero. Units: ns, us (µs), ms, s, m, h. Like Go, at most about 292 years.
pub(crate) fn parse_go_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_ns: i128 = 0;
    while !rest.is_empty() {
        let (ns, tail) = component(rest)?;
        total_ns += ns;
        if total_ns > i128::from(i64::MAX) {
            return None;
        }
        rest = tail;
    }
    let ms = i64::try_from(total_ns / 1_000_000).ok()?;
    Some(if negative { -ms } else { ms })
}

/// One `<number><unit>` of a Go duration, in nanoseconds, and what follows it.
fn component(s: &str) -> Option<(i128, &str)> {
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    let (int_part, after_int) = s.split_at(int_len);
    let (frac_part, after_num) = match after_int.strip_prefix('.') {
        Some(f) => {
            let n = f.bytes().take_while(u8::is_ascii_digit).count();
            f.split_at(n)
        }
        None => ("", after_int),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let unit_len = after_num
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(after_num.len());
    let (unit, tail) = after_num.split_at(unit_len);
    let scale: i128 = match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    };
    let int: i128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse::<u64>().ok()?.into()
    };
    let mut ns = int.checked_mul(scale)?;
    // Fraction: only the digits that can still matter at nanosecond resolution.
    let frac_digits = &frac_part[..frac_part.len().min(18)];
    if !frac_digits.is_empty() {
        let frac: i128 = frac_digits.parse::<u64>().ok()?.into();
        ns += frac * scale / 10i128.pow(frac_digits.len() as u32);
    }
    Some((ns, tail))
}

// ----- canonical text -----

impl fmt::Display for TimeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            TimePoint::Now => f.write_str("NOW")?,
            TimePoint::Unix(n) => write!(f, "{n}")?,
            TimePoint::Date { text, .. } | TimePoint::Relative { text, .. } => {
                write!(f, "'{}'", escape(text))?
            }
        }
        match &self.span {
            None => Ok(()),
            Some(Span::Forever) => f.write_str(", FOREVER"),
            Some(Span::Seconds(s)) => write!(f, ", {s}"),
            Some(Span::Duration { text, .. }) => write!(f, ", '{}'", escape(text)),
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("-1m"), Some(-60_000));
        assert_eq!(parse_go_duration("2h30m"), Some(9_000_000));
        assert_eq!(parse_go_duration("-2h30m"), Some(-9_000_000));
        assert_eq!(parse_go_duration("1.5h"), Some(5_400_000));
        assert_eq!(parse_go_duration("90s"), Some(90_000));
        assert_eq!(parse_go_duration("300ms"), Some(300));
        assert_eq!(parse_go_duration("1500us"), Some(1));
        assert_eq!(parse_go_duration(".5s"), Some(500));
        assert_eq!(parse_go_duration("0"), Some(0));
        for bad in [
            "",
            "-",
            "1",
            "1x",
            "h",
            "1h-2m",
            "1..5h",
            "99999999999999999999h",
            "3000000h",
        ] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc1123_dates() {
        assert_eq!(
            parse_rfc1123("Sun, 06 Nov 2016 08:49:37 GMT"),
            Some(TimeMs(1_478_422_177_000))
        );
        assert_eq!(
            parse_rfc1123("Sun, 06 Nov 2016 08:49:37 UTC"),
            Some(TimeMs(1_478_422_177_000))
        );
        assert_eq!(parse_rfc1123("yesterday"), None);
    }

    #[test]
    fn slices() {
        let now = TimeMs(10_000_000);
        let arg = |at, span| TimeArg { at, span };
        // Seconds below 2^31, milliseconds above.
        assert_eq!(
            arg(TimePoint::Unix(1000), None).resolve(now),
            Some(TimeSlice::at(TimeMs(1_000_000)))
        );
        let ms = 1_478_422_177_000;
        assert_eq!(
            arg(TimePoint::Unix(ms), None).resolve(now),
            Some(TimeSlice::at(TimeMs(ms)))
        );
        let rel = TimePoint::from_text("-1m").unwrap();
        assert_eq!(
            arg(rel.clone(), None).resolve(now),
            Some(TimeSlice::at(TimeMs(9_940_000)))
        );
        let s = arg(rel, Some(Span::Seconds(3600))).resolve(now).unwrap();
        assert_eq!(
            s,
            TimeSlice {
                start: TimeMs(9_940_000 - 3_600_000),
                last: TimeMs(9_940_000)
            }
        );
        let s = arg(TimePoint::Now, Some(Span::Forever))
            .resolve(now)
            .unwrap();
        assert_eq!(
            s,
            TimeSlice {
                start: TimeMs(0),
                last: now
            }
        );
        let s = arg(TimePoint::Now, Some(Span::from_text("90s").unwrap()))
            .resolve(now)
            .unwrap();
        assert_eq!(s.start, TimeMs(10_000_000 - 90_000));
        assert_eq!(Span::from_text("-1h"), None);
        assert_eq!(
            arg(TimePoint::Unix(i64::from(i32::MAX)), None)
                .resolve(now)
                .map(|s| s.last.0),
            Some(2_147_483_647_000)
        );
    }
}

//! Arithmetic on flow metric series (`Metrics()`): their total (`Sum()`), one field's total
//! (`Sum('ABBytes')`), and their re-bucketing into fixed slices (`Aggregates(n)`).
//!
//! A metric counts packets and bytes over `[Start, Last]`. To put it in slices, its counters
//! are spread evenly over that interval, as Skydive does; the share of a slice is computed
//! from cumulative integer amounts (`⌊v·(cut−Start)/(Last−Start)⌋`), so the shares of one
//! metric add up exactly to its counters (Skydive rounded each share down and lost the
//! remainders). A metric with `Start == Last` falls whole into the slice holding that
//! instant. Parts outside the window are left out. `RTT` is not summed (0).

use skydive_flow::FlowMetric;

use crate::flow_source::FlowMetrics;

/// The metric field names, in JSON order (what `Keys()` lists).
pub(crate) const METRIC_KEYS: [&str; 7] = [
    "ABPackets",
    "ABBytes",
    "BAPackets",
    "BABytes",
    "Start",
    "Last",
    "RTT",
];

/// The field `key` of a metric.
pub(crate) fn field(m: &FlowMetric, key: &str) -> Option<i64> {
    Some(match key {
        "ABPackets" => m.ab_packets,
        "ABBytes" => m.ab_bytes,
        "BAPackets" => m.ba_packets,
        "BABytes" => m.ba_bytes,
        "Start" => m.start,
        "Last" => m.last,
        "RTT" => m.rtt,
        _ => return None,
    })
}

fn add_counters(total: &mut FlowMetric, m: &FlowMetric) {
    total.ab_packets = total.ab_packets.saturating_add(m.ab_packets);
    total.ab_bytes = total.ab_bytes.saturating_add(m.ab_bytes);
    total.ba_packets = total.ba_packets.saturating_add(m.ba_packets);
    total.ba_bytes = total.ba_bytes.saturating_add(m.ba_bytes);
}

/// Every metric summed, `Start` the earliest, `Last` the latest; `None` without metrics.
pub(crate) fn total(series: &FlowMetrics) -> Option<FlowMetric> {
    let mut out: Option<FlowMetric> = None;
    for m in series.values().flatten() {
        match &mut out {
            None => {
                out = Some(FlowMetric { rtt: 0, ..*m });
            }
            Some(t) => {
                add_counters(t, m);
                t.start = t.start.min(m.start);
                t.last = t.last.max(m.last);
            }
        }
    }
    out
}

/// The earliest `Start` and latest `Last` of the series.
pub(crate) fn span(series: &FlowMetrics) -> Option<(i64, i64)> {
    let mut it = series.values().flatten();
    let first = it.next()?;
    Some(it.fold((first.start, first.last), |(s, l), m| {
        (s.min(m.start), l.max(m.last))
    }))
}

/// The amount of `v` spread over `[start, last]` that falls before `cut`.
fn share_before(v: i64, start: i64, last: i64, cut: i64) -> i64 {
    let cut = cut.clamp(start, last);
    let dur = i128::from(last) - i128::from(start);
    if dur <= 0 {
        return if cut >= last { v } else { 0 };
    }
    let part = i128::from(v) * (i128::from(cut) - i128::from(start)) / dur;
    i64::try_from(part).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// The part of `m` inside `[from, to)`.
fn part(m: &FlowMetric, from: i64, to: i64) -> FlowMetric {
    let between = |v: i64| {
        if m.start == m.last {
            // An instant: whole in the slice holding it.
            return if (from..to).contains(&m.start) { v } else { 0 };
        }
        share_before(v, m.start, m.last, to) - share_before(v, m.start, m.last, from)
    };
    FlowMetric {
        ab_packets: between(m.ab_packets),
        ab_bytes: between(m.ab_bytes),
        ba_packets: between(m.ba_packets),
        ba_bytes: between(m.ba_bytes),
        start: from,
        last: to,
        rtt: 0,
    }
}

/// The series re-bucketed into slices of `slice_ms` from `start` up to `last`, summed over
/// every flow; slices nothing fell into are left out. Each bucket's `Start`/`Last` are the
/// slice's bounds (the last one ends at `last`).
pub(crate) fn aggregate(
    series: &FlowMetrics,
    start: i64,
    last: i64,
    slice_ms: i64,
) -> Vec<FlowMetric> {
    let slice_ms = slice_ms.max(1);
    if last < start {
        return Vec::new();
    }
    let span = i128::from(last) - i128::from(start);
    let buckets = usize::try_from((span / i128::from(slice_ms)) + 1)
        .unwrap_or(usize::MAX)
        .min(crate::walk::MAX_ITEMS);
    let mut out: Vec<Option<FlowMetric>> = vec![None; buckets];
    for m in series.values().flatten() {
        if m.last < start || m.start > last {
            continue;
        }
        // Only the buckets the metric overlaps.
        let first = usize::try_from((m.start.max(start) - start) / slice_ms).unwrap_or(0);
        for (b, slot) in out.iter_mut().enumerate().skip(first) {
            let from = start.saturating_add(slice_ms.saturating_mul(b as i64));
            if from > m.last || from > last {
                break;
            }
            // The window's end belongs to the last slice.
            let to = from.saturating_add(slice_ms).min(last.saturating_add(1));
            let p = part(m, from, to);
            if p.ab_packets == 0 && p.ab_bytes == 0 && p.ba_packets == 0 && p.ba_bytes == 0 {
                continue;
            }
            let slot = slot.get_or_insert(FlowMetric {
                start: from,
                last: from.saturating_add(slice_ms).min(last),
                ..FlowMetric::default()
            });
            add_counters(slot, &p);
        }
    }
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(start: i64, last: i64, bytes: i64) -> FlowMetric {
        FlowMetric {
            ab_packets: bytes / 100,
            ab_bytes: bytes,
            ba_packets: 0,
            ba_bytes: 0,
            start,
            last,
            rtt: 7,
        }
    }

    fn series(ms: &[(&str, FlowMetric)]) -> FlowMetrics {
        let mut s = FlowMetrics::new();
        for (k, v) in ms {
            s.entry(k.to_string()).or_default().push(*v);
        }
        s
    }

    #[test]
    fn totals() {
        let s = series(&[
            ("a", m(10, 20, 1000)),
            ("b", m(5, 15, 300)),
            ("a", m(20, 30, 1)),
        ]);
        let t = total(&s).unwrap();
        assert_eq!((t.ab_bytes, t.start, t.last, t.rtt), (1301, 5, 30, 0));
        assert_eq!(total(&FlowMetrics::new()), None);
        assert_eq!(span(&s), Some((5, 30)));
        assert_eq!(field(&t, "ABBytes"), Some(1301));
        assert_eq!(field(&t, "Nope"), None);
    }

    #[test]
    fn aggregates_spread_evenly_and_lose_nothing() {
        // 1000 bytes over [0, 30000]: a third in each 10 s slice.
        let s = series(&[("a", m(0, 30_000, 1000))]);
        let b = aggregate(&s, 0, 30_000, 10_000);
        let bytes: Vec<i64> = b.iter().map(|x| x.ab_bytes).collect();
        assert_eq!(bytes, [333, 333, 334]);
        assert_eq!(bytes.iter().sum::<i64>(), 1000);
        assert_eq!((b[0].start, b[0].last), (0, 10_000));
        assert_eq!((b[2].start, b[2].last), (20_000, 30_000));
        // Two flows summed into the same slices; empty slices left out.
        let s = series(&[
            ("a", m(0, 1000, 100)),
            ("b", m(500, 1000, 100)),
            ("c", m(25_000, 25_000, 5)),
        ]);
        let b = aggregate(&s, 0, 30_000, 10_000);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].ab_bytes, 200);
        assert_eq!(b[1].ab_bytes, 5, "an instant falls whole in its slice");
        assert_eq!(b[1].start, 20_000);
        // Parts outside the window are left out.
        let s = series(&[("a", m(0, 20_000, 1000))]);
        let b = aggregate(&s, 10_000, 20_000, 30_000);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].ab_bytes, 500);
        assert_eq!((b[0].start, b[0].last), (10_000, 20_000));
        assert!(aggregate(&s, 10, 5, 1000).is_empty());
    }
}

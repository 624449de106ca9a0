//! Latency statistics and the per-cell counters.

use std::collections::BTreeMap;
use std::time::Duration;

/// Longest error message kept as a key in the error sample map.
const ERROR_KEY_MAX: usize = 160;
/// Distinct error messages kept per cell (the count of errors is always exact).
const ERROR_KINDS_MAX: usize = 20;

/// What one virtual user (or a whole cell, after merging) observed.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Latency of every successful operation, in microseconds.
    pub latencies_us: Vec<u64>,
    /// Number of failed operations.
    pub errors: u64,
    /// A sample of error messages with their counts.
    pub error_kinds: BTreeMap<String, u64>,
    /// Free-form counters a workload wants to report (e.g. refresh tokens rotated).
    pub notes: BTreeMap<String, u64>,
}

impl Tally {
    pub fn ok(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    pub fn record_ok(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latencies_us.push(us);
    }

    pub fn record_error(&mut self, message: &str) {
        self.errors += 1;
        let key = truncate(message, ERROR_KEY_MAX);
        if let Some(n) = self.error_kinds.get_mut(&key) {
            *n += 1;
        } else if self.error_kinds.len() < ERROR_KINDS_MAX {
            self.error_kinds.insert(key, 1);
        } else {
            *self.error_kinds.entry("(other errors)".to_owned()).or_insert(0) += 1;
        }
    }

    pub fn note(&mut self, name: &str) {
        *self.notes.entry(name.to_owned()).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        for (k, v) in other.error_kinds {
            if let Some(n) = self.error_kinds.get_mut(&k) {
                *n += v;
            } else if self.error_kinds.len() < ERROR_KINDS_MAX {
                self.error_kinds.insert(k, v);
            } else {
                *self.error_kinds.entry("(other errors)".to_owned()).or_insert(0) += v;
            }
        }
        for (k, v) in other.notes {
            *self.notes.entry(k).or_insert(0) += v;
        }
    }

    /// p50 and p99 of the successful operations, in milliseconds.
    pub fn percentiles_ms(&self) -> Option<(f64, f64)> {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let p50 = percentile(&sorted, 50.0)?;
        let p99 = percentile(&sorted, 99.0)?;
        Some((p50 as f64 / 1000.0, p99 as f64 / 1000.0))
    }
}

/// Nearest-rank percentile of an ascending slice: the smallest value such that at least
/// `p` percent of the values are less than or equal to it. `None` for an empty slice.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let p = p.clamp(0.0, 100.0);
    // rank in 1..=n
    let rank = (p * n as f64 / 100.0).ceil() as usize;
    let idx = rank.clamp(1, n) - 1;
    sorted.get(idx).copied()
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn percentile_of_empty_is_none() {
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn percentile_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        let one = [7u64];
        assert_eq!(percentile(&one, 50.0), Some(7));
        assert_eq!(percentile(&one, 99.0), Some(7));
        let ten: Vec<u64> = (1..=10).map(|x| x * 10).collect();
        assert_eq!(percentile(&ten, 50.0), Some(50));
        assert_eq!(percentile(&ten, 99.0), Some(100));
        assert_eq!(percentile(&ten, 91.0), Some(100));
        assert_eq!(percentile(&ten, 90.0), Some(90));
    }

    #[test]
    fn tally_percentiles_sort_and_convert_to_ms() {
        let mut t = Tally::default();
        for us in [3000u64, 1000, 2000, 5000, 4000] {
            t.record_ok(Duration::from_micros(us));
        }
        assert_eq!(t.ok(), 5);
        assert_eq!(t.percentiles_ms(), Some((3.0, 5.0)));
        assert_eq!(Tally::default().percentiles_ms(), None);
    }

    #[test]
    fn tally_merge_adds_counts_and_caps_kinds() {
        let mut a = Tally::default();
        a.record_ok(Duration::from_millis(1));
        a.record_error("boom");
        let mut b = Tally::default();
        b.record_error("boom");
        b.record_error("bang");
        b.note("rotated");
        a.merge(b);
        assert_eq!(a.ok(), 1);
        assert_eq!(a.errors, 3);
        assert_eq!(a.error_kinds.get("boom"), Some(&2));
        assert_eq!(a.error_kinds.get("bang"), Some(&1));
        assert_eq!(a.notes.get("rotated"), Some(&1));

        let mut c = Tally::default();
        for i in 0..(ERROR_KINDS_MAX + 5) {
            c.record_error(&format!("e{i}"));
        }
        assert_eq!(c.errors, (ERROR_KINDS_MAX + 5) as u64);
        assert_eq!(c.error_kinds.get("(other errors)"), Some(&5));
    }

    #[test]
    fn long_error_messages_are_truncated_on_char_boundary() {
        let mut t = Tally::default();
        let long = "é".repeat(200);
        t.record_error(&long);
        let key = t.error_kinds.keys().next().cloned().unwrap_or_default();
        assert!(key.len() <= ERROR_KEY_MAX + "…".len());
        assert!(key.ends_with('…'));
    }
}

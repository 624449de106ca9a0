//! Brute-force protection for password (and later birthdate/second-factor) attempts.
//! Counters are kept per submitted user ID whether or not it exists, so an unknown ID locks
//! exactly like a real one and the lock reveals nothing. Pure rules here; storage in
//! `store::failures`.
//!
//! Rule (after Keycloak's "multiple" strategy): a failure more than `failure_reset_seconds`
//! after the previous one starts counting afresh; every `max_failures` failures lock the ID
//! for `wait_increment × (failures / max_failures)`, capped at `max_wait_seconds`. While locked,
//! attempts are refused without checking the password and without counting.

use chrono::{Duration, NaiveDateTime};

use crate::realm::settings::BruteForceSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRecord {
    pub failures: i32,
    pub last_failure_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
}

/// Whether an attempt may be checked now.
pub fn is_locked(rec: Option<&FailureRecord>, s: &BruteForceSettings, now: NaiveDateTime) -> bool {
    s.enabled && rec.and_then(|r| r.locked_until).is_some_and(|until| until > now)
}

/// The record after one more failure.
pub fn after_failure(rec: Option<&FailureRecord>, s: &BruteForceSettings, now: NaiveDateTime) -> FailureRecord {
    let stale = |r: &&FailureRecord| now - r.last_failure_at > Duration::seconds(s.failure_reset_seconds);
    let previous = rec.filter(|r| !stale(r)).map(|r| r.failures).unwrap_or(0);
    let failures = previous.saturating_add(1);
    let steps = i64::from(failures / s.max_failures.max(1));
    let locked_until = (steps > 0).then(|| {
        let wait = (s.wait_increment_seconds.saturating_mul(steps)).min(s.max_wait_seconds);
        now + Duration::seconds(wait)
    });
    FailureRecord { failures, last_failure_at: now, locked_until }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realm::RealmSettings;

    fn t0() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).map(|d| d.naive_utc()).unwrap_or_default()
    }

    #[test]
    fn locks_after_max_failures_and_grows_then_caps() {
        let mut s = RealmSettings::default().brute_force;
        s.max_failures = 3;
        let now = t0();
        let mut rec = None;
        for _ in 0..2 {
            rec = Some(after_failure(rec.as_ref(), &s, now));
            assert!(!is_locked(rec.as_ref(), &s, now));
        }
        rec = Some(after_failure(rec.as_ref(), &s, now));
        assert!(is_locked(rec.as_ref(), &s, now));
        assert!(!is_locked(rec.as_ref(), &s, now + Duration::seconds(61)));
        for _ in 0..3 {
            rec = Some(after_failure(rec.as_ref(), &s, now));
        }
        assert_eq!(rec.and_then(|r| r.locked_until), Some(now + Duration::seconds(120)));
        for _ in 0..300 {
            rec = Some(after_failure(rec.as_ref(), &s, now));
        }
        assert_eq!(rec.and_then(|r| r.locked_until), Some(now + Duration::seconds(900)));
    }

    #[test]
    fn old_failures_are_forgotten_and_disabled_never_locks() {
        let mut s = RealmSettings::default().brute_force;
        s.max_failures = 2;
        let now = t0();
        let first = after_failure(None, &s, now);
        let later = after_failure(Some(&first), &s, now + Duration::seconds(s.failure_reset_seconds + 1));
        assert_eq!(later.failures, 1);
        let locked = after_failure(Some(&first), &s, now);
        assert!(is_locked(Some(&locked), &s, now));
        s.enabled = false;
        assert!(!is_locked(Some(&locked), &s, now));
    }
}

//! Who may see results, and what stands in the way: a recent enough sign-in (`max_age`), a
//! second factor when the union requires one, and the notice accepted once. Pure.

use chrono::NaiveDateTime;

use crate::config::PortalConfig;
use crate::oidc_client::has_second_factor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// The IdP sign-in is older than `results.max_age_seconds`: back to the IdP with max_age.
    NeedsRecentLogin,
    /// `results.require_second_factor` is on and `amr` shows only a password.
    NeedsSecondFactor,
    /// 「健診結果に関する注意事項」 not yet accepted.
    NeedsNotice,
}

pub fn results_access(
    cfg: &PortalConfig,
    auth_time: NaiveDateTime,
    amr: &[String],
    notice_accepted: bool,
    now: NaiveDateTime,
) -> Access {
    if (now - auth_time).num_seconds() > cfg.results.max_age_seconds {
        return Access::NeedsRecentLogin;
    }
    if cfg.results.require_second_factor && !has_second_factor(amr) {
        return Access::NeedsSecondFactor;
    }
    if !notice_accepted {
        return Access::NeedsNotice;
    }
    Access::Allowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn each_condition_in_order() {
        let mut cfg = PortalConfig::default();
        assert!(cfg.results.require_second_factor, "results need a second factor by default");
        cfg.results.require_second_factor = false;
        let now = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).and_then(|d| d.and_hms_opt(12, 0, 0)).unwrap_or_default();
        let fresh = now - Duration::seconds(60);
        let old = now - Duration::seconds(cfg.results.max_age_seconds + 1);
        let pwd = vec!["pwd".to_string()];
        assert_eq!(results_access(&cfg, fresh, &pwd, true, now), Access::Allowed);
        assert_eq!(results_access(&cfg, old, &pwd, true, now), Access::NeedsRecentLogin);
        assert_eq!(results_access(&cfg, fresh, &pwd, false, now), Access::NeedsNotice);
        cfg.results.require_second_factor = true;
        assert_eq!(results_access(&cfg, fresh, &pwd, true, now), Access::NeedsSecondFactor);
        assert_eq!(results_access(&cfg, fresh, &["pwd".into(), "otp".into()], true, now), Access::Allowed);
    }
}

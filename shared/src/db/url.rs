use std::path::PathBuf;

use super::StoreError;

/// A database URL, parsed from its scheme. Anything that is not clearly SQLite or PostgreSQL is
/// refused: a silent fallback to SQLite would lose a production deployment's data.
#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DbUrl {
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(without_loopback_tls(raw)));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .ok_or_else(|| StoreError::BadUrl("expected sqlite://PATH or postgres://… (postgresql://…)".into()))?;
        if path.is_empty() {
            return Err(StoreError::BadUrl("sqlite:// needs a file path".into()));
        }
        Ok(DbUrl::Sqlite(PathBuf::from(path)))
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, DbUrl::Sqlite(_))
    }

    /// The URL without any password, for logs and error messages.
    pub fn redacted(&self) -> String {
        match self {
            DbUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DbUrl::Postgres(u) => match ::url::Url::parse(u) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("***"));
                    }
                    parsed.to_string()
                }
                Err(_) => "postgres://…".into(),
            },
        }
    }
}

/// A PostgreSQL URL that names no `sslmode` and reaches the server over loopback or a Unix
/// socket gets `sslmode=disable`: libpq's default (`prefer`) would encrypt every round trip to
/// a server on the same host, which protects nothing and cost 10-17 % of the login and refresh
/// throughput (W4/W6, PERFORMANCE.md). Any explicit `sslmode` is kept as written; a remote host
/// keeps libpq's default.
fn without_loopback_tls(raw: &str) -> String {
    let Ok(parsed) = ::url::Url::parse(raw) else { return raw.to_string() };
    if parsed.query_pairs().any(|(k, _)| k == "sslmode") {
        return raw.to_string();
    }
    // A `host` parameter overrides the authority (libpq); a path there is a Unix socket folder.
    let host_param = parsed.query_pairs().find(|(k, _)| k == "host").map(|(_, v)| v.into_owned());
    let local = match (&host_param, parsed.host()) {
        (Some(h), _) => h.starts_with('/') || is_loopback_name(h),
        (None, None) => true, // no host at all: libpq's default Unix socket
        (None, Some(::url::Host::Domain(d))) => {
            let d = ::url::form_urlencoded::parse(format!("h={d}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            d.is_empty() || d.starts_with('/') || is_loopback_name(&d)
        }
        (None, Some(::url::Host::Ipv4(ip))) => ip.is_loopback(),
        (None, Some(::url::Host::Ipv6(ip))) => ip.is_loopback(),
    };
    if !local {
        return raw.to_string();
    }
    with_param(raw, "sslmode", "disable")
}

/// `raw` with `key=value` added to its query unless the URL already names `key`: how a default
/// for a libpq connection parameter is set without overriding the operator's choice.
pub(super) fn with_default_param(raw: &str, key: &str, value: &str) -> String {
    match ::url::Url::parse(raw) {
        Ok(parsed) if !parsed.query_pairs().any(|(k, _)| k == key) => with_param(raw, key, value),
        _ => raw.to_string(),
    }
}

fn with_param(raw: &str, key: &str, value: &str) -> String {
    let (base, fragment) = raw.split_once('#').map_or((raw, None), |(b, f)| (b, Some(f)));
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{sep}{key}={value}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_both_backends_and_rejects_others() {
        assert!(matches!(DbUrl::parse("sqlite://data/x.db"), Ok(DbUrl::Sqlite(_))));
        assert!(matches!(DbUrl::parse("sqlite:x.db"), Ok(DbUrl::Sqlite(_))));
        assert!(matches!(DbUrl::parse("postgres://u@h/db"), Ok(DbUrl::Postgres(_))));
        assert!(matches!(DbUrl::parse("postgresql://u@h/db"), Ok(DbUrl::Postgres(_))));
        assert!(DbUrl::parse("mysql://h/db").is_err());
        assert!(DbUrl::parse("x.db").is_err());
        assert!(DbUrl::parse("sqlite://").is_err());
    }

    fn pg(raw: &str) -> String {
        match DbUrl::parse(raw) {
            Ok(DbUrl::Postgres(u)) => u,
            other => format!("not a PostgreSQL URL: {other:?}"),
        }
    }

    #[test]
    fn loopback_postgres_skips_tls_unless_asked_for() {
        assert_eq!(pg("postgres://u@127.0.0.1:5432/db"), "postgres://u@127.0.0.1:5432/db?sslmode=disable");
        assert_eq!(
            pg("postgres://u@localhost/db?application_name=x"),
            "postgres://u@localhost/db?application_name=x&sslmode=disable"
        );
        assert_eq!(pg("postgresql://u@[::1]/db"), "postgresql://u@[::1]/db?sslmode=disable");
        assert_eq!(
            pg("postgres://u@%2Fvar%2Frun%2Fpostgresql/db"),
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/db?sslmode=disable"
        );
        assert_eq!(pg("postgres:///db"), "postgres:///db?sslmode=disable");
        assert_eq!(
            pg("postgres://u@db.example/db?host=/run/pg"),
            "postgres://u@db.example/db?host=/run/pg&sslmode=disable"
        );
        // Explicit choices and remote servers are left to libpq.
        assert_eq!(pg("postgres://u@127.0.0.1/db?sslmode=require"), "postgres://u@127.0.0.1/db?sslmode=require");
        assert_eq!(pg("postgres://u@db.example:5432/db"), "postgres://u@db.example:5432/db");
        assert_eq!(pg("postgres://u@10.0.0.5/db"), "postgres://u@10.0.0.5/db");
        assert_eq!(pg("postgres://u@127.0.0.1/db?host=db.example"), "postgres://u@127.0.0.1/db?host=db.example");
    }

    #[test]
    fn a_default_parameter_never_overrides_the_url() {
        assert_eq!(
            with_default_param("postgres://h/db", "connect_timeout", "10"),
            "postgres://h/db?connect_timeout=10"
        );
        assert_eq!(
            with_default_param("postgres://h/db?sslmode=disable", "connect_timeout", "10"),
            "postgres://h/db?sslmode=disable&connect_timeout=10"
        );
        assert_eq!(
            with_default_param("postgres://h/db?connect_timeout=3", "connect_timeout", "10"),
            "postgres://h/db?connect_timeout=3"
        );
    }

    #[test]
    fn redacted_hides_password() {
        let u = DbUrl::parse("postgres://app:s3cret@db:5432/kenpo").unwrap_or(DbUrl::Sqlite("x".into()));
        assert!(!u.redacted().contains("s3cret"));
        assert!(!format!("{u:?}").contains("s3cret"));
    }
}

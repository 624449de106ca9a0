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
            return Ok(DbUrl::Postgres(raw.to_string()));
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

    #[test]
    fn redacted_hides_password() {
        let u = DbUrl::parse("postgres://app:s3cret@db:5432/kenpo").unwrap_or(DbUrl::Sqlite("x".into()));
        assert!(!u.redacted().contains("s3cret"));
        assert!(!format!("{u:?}").contains("s3cret"));
    }
}

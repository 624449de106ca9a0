//! What the union's operators do, for the command line and tests alike: import results,
//! load the demo data set, list the reference table with its unverified numbers.

use crate::checkups::import::{self, ImportError};
use crate::checkups::reference::{Bands, ReferenceTable, SexBands};
use crate::store::results::{self, ImportSummary};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    /// The file was refused; nothing was imported.
    #[error("{0}")]
    Invalid(ImportError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Validates the whole file, then stores it in one transaction (all or nothing).
pub fn import_results(store: &Store, table: &ReferenceTable, bytes: &[u8]) -> Result<ImportSummary, ImportFailure> {
    let today = chrono::Utc::now().date_naive();
    let rows = import::parse(bytes, table, today).map_err(ImportFailure::Invalid)?;
    let now = crate::store::now();
    Ok(store.run_sync(|c| results::import(c, &rows, now))?)
}

/// The demo data set (idempotent: loading it again changes nothing).
pub fn load_demo(store: &Store, table: &ReferenceTable) -> Result<ImportSummary, ImportFailure> {
    import_results(store, table, crate::checkups::DEMO_RESULTS.as_bytes())
}

/// The table as operators read it, one line per item and sex, unverified numbers flagged.
pub fn describe_reference(table: &ReferenceTable) -> Vec<String> {
    let mut out = Vec::new();
    for item in table.items() {
        let per_sex: Vec<(&str, &Bands)> = match &item.bands {
            SexBands::All(b) => vec![("", b)],
            SexBands::BySex { m, f } => vec![(" (m)", m), (" (f)", f)],
        };
        for (sex, bands) in per_sex {
            let detail = match bands {
                Bands::None => "not judged".to_string(),
                Bands::Numeric(n) => n
                    .intervals()
                    .iter()
                    .map(|(_, name, i)| {
                        let f = |v: Option<crate::checkups::value::Milli>| {
                            v.map(|m| m.format(item.decimals)).unwrap_or_default()
                        };
                        format!("{name} {}..{}", f(i.min), f(i.max))
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Bands::Qualitative(q) => {
                    q.iter().map(|(g, b)| format!("{} {}", g.display(), b.letter())).collect::<Vec<_>>().join(", ")
                }
            };
            out.push(format!(
                "{}{sex} [{}] {}: {detail}  (status {}, sources {})",
                item.code, item.unit, item.name_ja, item.status, item.source_key
            ));
            if !item.unverified.is_empty() {
                out.push(format!("    UNVERIFIED: {}", item.unverified));
            }
        }
    }
    out.push(
        "NOTE: no JDPM number has been checked against the 2026-04-01 PDF yet; check every one before go-live.".into(),
    );
    out
}

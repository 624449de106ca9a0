//! Administration used by the command line (and later the admin API): realms, clients and
//! members, with every input validated before anything is written.

pub mod clients;
pub mod demo;
pub mod realms;
pub mod users;

use crate::realm::validate::FieldError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Input that breaks a rule: (field, message). Nothing was written.
    #[error("{}", format_invalid(.0))]
    Invalid(Vec<(String, String)>),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn format_invalid(v: &[(String, String)]) -> String {
    v.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("\n")
}

impl AdminError {
    pub fn field(field: &str, msg: impl Into<String>) -> Self {
        AdminError::Invalid(vec![(field.to_string(), msg.into())])
    }

    /// Validation errors with their English and Japanese catalog text.
    pub fn from_field_errors(
        errors: &[FieldError],
        pages: &crate::web::render::Pages,
        policy: &crate::realm::validate::PasswordPolicy,
    ) -> Self {
        use kenpo_shared::i18n::Locale;
        AdminError::Invalid(
            errors
                .iter()
                .map(|e| {
                    let fill = |mut text: String| {
                        for (k, v) in e.params(policy) {
                            text = text.replace(&format!("{{{k}}}"), &v);
                        }
                        text
                    };
                    let en = fill(pages.message(Locale::En, e.key()));
                    let ja = fill(pages.message(Locale::Ja, e.key()));
                    (e.field().to_string(), format!("{en} ({ja})"))
                })
                .collect(),
        )
    }
}

//! Pages: tera templates and message catalogs, embedded in the binary and parsed once.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;
use tera::Tera;

use kenpo_shared::i18n::{Catalogs, Locale, TemplateMessages};

use crate::realm::Realm;

/// Templates embedded at build time: one binary runs anywhere.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("logout_confirm.html", include_str!("../../templates/logout_confirm.html")),
    ("logged_out.html", include_str!("../../templates/logged_out.html")),
    ("form_post.html", include_str!("../../templates/form_post.html")),
    ("info.html", include_str!("../../templates/info.html")),
    ("required_birthdate.html", include_str!("../../templates/required_birthdate.html")),
    ("required_terms.html", include_str!("../../templates/required_terms.html")),
    ("required_choose.html", include_str!("../../templates/required_choose.html")),
    ("required_update_password.html", include_str!("../../templates/required_update_password.html")),
    ("required_verify_email.html", include_str!("../../templates/required_verify_email.html")),
    ("required_configure_totp.html", include_str!("../../templates/required_configure_totp.html")),
    ("required_email_otp.html", include_str!("../../templates/required_email_otp.html")),
    ("required_recovery_codes.html", include_str!("../../templates/required_recovery_codes.html")),
    ("required_webauthn.html", include_str!("../../templates/required_webauthn.html")),
    ("factor_others.html", include_str!("../../templates/factor_others.html")),
    ("factor_otp.html", include_str!("../../templates/factor_otp.html")),
    ("factor_email.html", include_str!("../../templates/factor_email.html")),
    ("factor_recovery.html", include_str!("../../templates/factor_recovery.html")),
    ("factor_passkey.html", include_str!("../../templates/factor_passkey.html")),
];

pub const STYLESHEET: &str = include_str!("../../static/kenpo.css");

pub struct Pages {
    tera: Tera,
    catalogs: Catalogs,
    /// Per template, the messages it shows: the page context carries only those.
    messages: TemplateMessages,
}

/// What every page gets besides its own view model.
#[derive(Serialize)]
struct Frame<'a, T: Serialize> {
    t: &'a std::collections::BTreeMap<String, String>,
    lang: &'static str,
    realm_name: &'a str,
    realm_display: &'a str,
    primary_color: &'a str,
    logo_url: &'a str,
    page: &'a T,
}

impl Pages {
    pub fn load() -> Result<Self, String> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES.iter().copied()).map_err(|e| format!("templates: {e:?}"))?;
        tera.autoescape_on(vec![".html"]);
        let ja = [include_str!("../../locales/ja.toml"), include_str!("../../locales/validation.ja.toml")].join("\n");
        let en = [include_str!("../../locales/en.toml"), include_str!("../../locales/validation.en.toml")].join("\n");
        let catalogs = Catalogs::from_toml(&ja, &en)?;
        let messages = catalogs.per_template(TEMPLATES);
        Ok(Pages { tera, catalogs, messages })
    }

    pub fn message(&self, locale: Locale, key: &str) -> String {
        self.catalogs.get(locale, key).to_string()
    }

    pub fn render<T: Serialize>(
        &self,
        status: StatusCode,
        template: &str,
        locale: Locale,
        realm: Option<&Realm>,
        page: &T,
    ) -> HttpResponse {
        let frame = Frame {
            t: self.messages.for_template(template, locale),
            lang: locale.code(),
            realm_name: realm.map(|r| r.name.as_str()).unwrap_or(""),
            realm_display: realm.map(|r| r.display_name.as_str()).unwrap_or("Kenpo ID"),
            primary_color: realm.map(|r| r.settings.theme.primary_color.as_str()).unwrap_or("#1d5fa8"),
            logo_url: realm.map(|r| r.settings.theme.logo_url.as_str()).unwrap_or(""),
            page,
        };
        let ctx = match tera::Context::from_serialize(&frame) {
            Ok(c) => c,
            Err(e) => return kenpo_shared::web::render_failure(&e),
        };
        match self.tera.render(template, &ctx) {
            Ok(body) => HttpResponse::build(status)
                .insert_header(("Cache-Control", "no-store"))
                .insert_header(("Pragma", "no-cache"))
                .content_type("text/html; charset=utf-8")
                .body(body),
            Err(e) => kenpo_shared::web::render_failure(&e),
        }
    }

    /// The error page: a message key and, where there is one, a way back.
    pub fn error(
        &self,
        status: StatusCode,
        locale: Locale,
        realm: Option<&Realm>,
        message_key: &str,
        back_url: Option<&str>,
    ) -> HttpResponse {
        #[derive(Serialize)]
        struct ErrorPage<'a> {
            message: String,
            back_url: Option<&'a str>,
        }
        self.render(
            status,
            "error.html",
            locale,
            realm,
            &ErrorPage { message: self.message(locale, message_key), back_url },
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_and_catalogs_load() {
        if let Err(e) = super::Pages::load() {
            unreachable!("{e}");
        }
    }
}

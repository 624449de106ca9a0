//! Pages: tera templates and message catalogs, embedded in the binary and parsed once.

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;
use tera::Tera;

use kenpo_shared::i18n::{Catalogs, Locale, TemplateMessages};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("index.html", include_str!("../../templates/index.html")),
    ("home.html", include_str!("../../templates/home.html")),
    ("expired.html", include_str!("../../templates/expired.html")),
    ("login_failed.html", include_str!("../../templates/login_failed.html")),
    ("logout_confirm.html", include_str!("../../templates/logout_confirm.html")),
    ("results/notice.html", include_str!("../../templates/results/notice.html")),
    ("results/year.html", include_str!("../../templates/results/year.html")),
    ("results/item.html", include_str!("../../templates/results/item.html")),
    ("results/none.html", include_str!("../../templates/results/none.html")),
    ("results/second_factor.html", include_str!("../../templates/results/second_factor.html")),
    ("error.html", include_str!("../../templates/error.html")),
];

pub const STYLESHEET: &str = include_str!("../../static/portal.css");

pub struct Pages {
    tera: Tera,
    catalogs: Catalogs,
    /// Per template, the messages it shows: the page context carries only those.
    messages: TemplateMessages,
}

/// Who is looking, for the header: the member's name and the IdP account links.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Viewer {
    pub name: Option<String>,
    pub profile_url: String,
    pub login_methods_url: String,
}

#[derive(Serialize)]
struct Frame<'a, T: Serialize> {
    t: &'a BTreeMap<String, String>,
    lang: &'static str,
    viewer: &'a Viewer,
    page: &'a T,
}

impl Pages {
    pub fn load() -> Result<Self, String> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES.iter().copied()).map_err(|e| format!("templates: {e:?}"))?;
        tera.autoescape_on(vec![".html"]);
        let catalogs =
            Catalogs::from_toml(include_str!("../../locales/ja.toml"), include_str!("../../locales/en.toml"))?;
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
        viewer: &Viewer,
        page: &T,
    ) -> HttpResponse {
        let frame = Frame { t: self.messages.for_template(template, locale), lang: locale.code(), viewer, page };
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

    /// A short page with a message and, where there is one, a way on.
    pub fn error(&self, status: StatusCode, locale: Locale, viewer: &Viewer, message_key: &str) -> HttpResponse {
        #[derive(Serialize)]
        struct ErrorPage {
            message: String,
        }
        self.render(status, "error.html", locale, viewer, &ErrorPage { message: self.message(locale, message_key) })
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

//! Locale negotiation (Japanese by default, English second) and flat message catalogs.
//! Each app embeds its own catalogs (`locales/ja.toml`, `locales/en.toml`): keys like
//! `login.password.invalid` map to the exact text the spec gives.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    Ja,
    En,
}

impl Locale {
    pub fn code(self) -> &'static str {
        match self {
            Locale::Ja => "ja",
            Locale::En => "en",
        }
    }

    pub fn parse(tag: &str) -> Option<Locale> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "ja" => Some(Locale::Ja),
            "en" => Some(Locale::En),
            _ => None,
        }
    }

    /// `ui_locales` (space-separated, in order of preference) wins over Accept-Language
    /// (comma-separated with q-values); Japanese when neither names a supported language.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Locale {
        if let Some(l) = ui_locales.and_then(|s| s.split_whitespace().find_map(Locale::parse)) {
            return l;
        }
        let Some(header) = accept_language else {
            return Locale::Ja;
        };
        let mut best: Option<(f32, Locale)> = None;
        for part in header.split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("");
            let q = it.find_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.parse::<f32>().ok())).unwrap_or(1.0);
            if let Some(l) = Locale::parse(tag)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Locale::Ja)
    }
}

/// All messages of one app, per locale. A key missing in English falls back to Japanese.
#[derive(Debug, Clone)]
pub struct Catalogs {
    ja: BTreeMap<String, String>,
    en: BTreeMap<String, String>,
}

impl Catalogs {
    pub fn from_toml(ja: &str, en: &str) -> Result<Self, String> {
        let ja = flatten(ja).map_err(|e| format!("ja catalog: {e}"))?;
        let mut en = flatten(en).map_err(|e| format!("en catalog: {e}"))?;
        for (k, v) in &ja {
            en.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Ok(Catalogs { ja, en })
    }

    pub fn for_locale(&self, l: Locale) -> &BTreeMap<String, String> {
        match l {
            Locale::Ja => &self.ja,
            Locale::En => &self.en,
        }
    }

    /// Per template and locale, only the messages that template (with the templates it extends
    /// or includes) names as `t["…"]`. A page's context is serialised on every render; the
    /// whole catalog (over 200 messages) was most of that work for a login page.
    pub fn per_template(&self, templates: &[(&str, &str)]) -> TemplateMessages {
        let mut by_template = HashMap::new();
        for (name, _) in templates {
            // A template that looks a key up at run time (`t[page.reason]`) gets everything.
            let Some(keys) = keys_used(templates, name) else { continue };
            let pick = |all: &BTreeMap<String, String>| {
                keys.iter().filter_map(|k| all.get(k).map(|v| (k.clone(), v.clone()))).collect()
            };
            by_template.insert((*name).to_string(), [pick(&self.ja), pick(&self.en)]);
        }
        TemplateMessages { by_template, all: self.clone() }
    }

    /// The message for `key`, or the key itself (visible in tests, never a panic).
    pub fn get<'a>(&'a self, l: Locale, key: &'a str) -> &'a str {
        self.for_locale(l).get(key).map(String::as_str).unwrap_or(key)
    }
}

/// See `Catalogs::per_template`.
#[derive(Debug, Clone)]
pub struct TemplateMessages {
    by_template: HashMap<String, [BTreeMap<String, String>; 2]>,
    all: Catalogs,
}

impl TemplateMessages {
    /// The messages `template` uses; the whole catalog for a template it was not built from.
    pub fn for_template(&self, template: &str, l: Locale) -> &BTreeMap<String, String> {
        match self.by_template.get(template) {
            Some([ja, en]) => match l {
                Locale::Ja => ja,
                Locale::En => en,
            },
            None => self.all.for_locale(l),
        }
    }
}

/// The keys `name` names as `t["…"]`, following `{% extends "…" %}` and `{% include "…" %}`;
/// None when one of them indexes `t` with anything but a string literal.
fn keys_used(templates: &[(&str, &str)], name: &str) -> Option<BTreeSet<String>> {
    let mut keys = BTreeSet::new();
    let mut pending = vec![name.to_string()];
    let mut seen = BTreeSet::new();
    while let Some(current) = pending.pop() {
        if !seen.insert(current.clone()) {
            continue;
        }
        let Some((_, src)) = templates.iter().find(|(n, _)| *n == current) else { continue };
        if src.match_indices("t[").any(|(i, _)| !src[i + 2..].starts_with('"')) {
            return None;
        }
        keys.extend(quoted_after(src, "t[\""));
        for tag in ["extends", "include"] {
            for marker in ["{% ", "{%- "] {
                pending.extend(quoted_after(src, &format!("{marker}{tag} \"")));
            }
        }
    }
    Some(keys)
}

/// Every string that follows `opening` up to the next double quote.
fn quoted_after(src: &str, opening: &str) -> Vec<String> {
    src.match_indices(opening)
        .filter_map(|(i, _)| {
            let rest = &src[i + opening.len()..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .collect()
}

fn flatten(src: &str) -> Result<BTreeMap<String, String>, String> {
    let value: toml::Table = src.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut out = BTreeMap::new();
    walk("", &toml::Value::Table(value), &mut out)?;
    Ok(out)
}

fn walk(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, String>) -> Result<(), String> {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                walk(&key, v, out)?;
            }
            Ok(())
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
            Ok(())
        }
        _ => Err(format!("{prefix}: only strings and tables are allowed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiate_prefers_ui_locales_then_accept_language_then_japanese() {
        assert_eq!(Locale::negotiate(Some("en"), Some("ja")), Locale::En);
        assert_eq!(Locale::negotiate(Some("fr ja"), None), Locale::Ja);
        assert_eq!(Locale::negotiate(None, Some("en-US,en;q=0.9")), Locale::En);
        assert_eq!(Locale::negotiate(None, Some("fr,en;q=0.5,ja;q=0.8")), Locale::Ja);
        assert_eq!(Locale::negotiate(None, Some("fr")), Locale::Ja);
        assert_eq!(Locale::negotiate(None, None), Locale::Ja);
    }

    #[test]
    fn per_template_messages_follow_extends_and_include() {
        let c = Catalogs::from_toml("a = \"A\"\nb = \"B\"\nc = \"C\"\nd = \"D\"", "a = \"A-en\"")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let templates = [
            ("base.html", r#"<title>{{ t["a"] }}</title>{% block body %}{% endblock %}"#),
            (
                "page.html",
                r#"{% extends "base.html" %}{% block body %}{{ t["b"] }}{% include "part.html" %}{% endblock %}"#,
            ),
            ("part.html", r#"{%- include "part.html" %}{% if t["c"] in x %}{% endif %}"#),
            ("dynamic.html", r#"{% extends "base.html" %}{{ t[page.reason] }}"#),
        ];
        let m = c.per_template(&templates);
        let keys = |t: &str, l| m.for_template(t, l).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();
        assert_eq!(keys("page.html", Locale::Ja), ["a=A", "b=B", "c=C"]);
        assert_eq!(keys("page.html", Locale::En), ["a=A-en", "b=B", "c=C"]);
        assert_eq!(keys("base.html", Locale::Ja), ["a=A"]);
        assert_eq!(m.for_template("other.html", Locale::Ja).len(), 4, "unknown template: whole catalog");
        assert_eq!(m.for_template("dynamic.html", Locale::Ja).len(), 4, "a key looked up at run time: whole catalog");
    }

    #[test]
    fn catalogs_flatten_and_fall_back() {
        let c = Catalogs::from_toml("[login]\ntitle = \"ログイン\"\nonly_ja = \"x\"", "[login]\ntitle = \"Sign in\"")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(c.get(Locale::Ja, "login.title"), "ログイン");
        assert_eq!(c.get(Locale::En, "login.title"), "Sign in");
        assert_eq!(c.get(Locale::En, "login.only_ja"), "x");
        assert_eq!(c.get(Locale::En, "missing.key"), "missing.key");
    }
}

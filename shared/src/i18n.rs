//! Locale negotiation (Japanese by default, English second) and flat message catalogs.
//! Each app embeds its own catalogs (`locales/ja.toml`, `locales/en.toml`): keys like
//! `login.password.invalid` map to the exact text the spec gives.

use std::collections::BTreeMap;

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

    /// The message for `key`, or the key itself (visible in tests, never a panic).
    pub fn get<'a>(&'a self, l: Locale, key: &'a str) -> &'a str {
        self.for_locale(l).get(key).map(String::as_str).unwrap_or(key)
    }
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
    fn catalogs_flatten_and_fall_back() {
        let c = Catalogs::from_toml("[login]\ntitle = \"ログイン\"\nonly_ja = \"x\"", "[login]\ntitle = \"Sign in\"")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(c.get(Locale::Ja, "login.title"), "ログイン");
        assert_eq!(c.get(Locale::En, "login.title"), "Sign in");
        assert_eq!(c.get(Locale::En, "login.only_ja"), "x");
        assert_eq!(c.get(Locale::En, "missing.key"), "missing.key");
    }
}

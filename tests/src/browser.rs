//! A browser stand-in: reqwest with a cookie jar and redirects followed by hand, so tests can
//! look at every hop (and stop at the redirect to the relying party).

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::cookie::Jar;
use reqwest::redirect::Policy;

pub struct Browser {
    pub http: reqwest::Client,
    pub jar: Arc<Jar>,
}

#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub url: String,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// The first form on the page: its absolute action and its inputs' names and values.
    pub fn form(&self) -> Option<(String, Vec<(String, String)>)> {
        self.form_where("")
    }

    /// The first form whose opening tag contains `marker` (e.g. `data-webauthn="conditional"`):
    /// its absolute action and its inputs' names and values.
    pub fn form_where(&self, marker: &str) -> Option<(String, Vec<(String, String)>)> {
        let start = self.form_start(marker)?;
        let end = self.body[start..].find("</form>").map(|e| start + e)?;
        let form = &self.body[start..end];
        let action = attr(form, "action").unwrap_or_default();
        let action = url::Url::parse(&self.url).ok()?.join(&html_unescape(&action)).ok()?.to_string();
        let mut fields = Vec::new();
        let mut rest = form;
        while let Some(i) = rest.find("<input") {
            let tag_end = rest[i..].find('>').map(|e| i + e).unwrap_or(rest.len());
            let tag = &rest[i..tag_end];
            if let Some(name) = attr(tag, "name") {
                let kind = attr(tag, "type").unwrap_or_default();
                if kind != "checkbox" || tag.contains(" checked") {
                    fields.push((name, html_unescape(&attr(tag, "value").unwrap_or_default())));
                }
            }
            rest = &rest[tag_end..];
        }
        Some((action, fields))
    }

    /// The value (HTML-unescaped) of attribute `name` on the first form whose opening tag
    /// contains `marker`.
    pub fn form_attr(&self, marker: &str, name: &str) -> Option<String> {
        let start = self.form_start(marker)?;
        let tag_end = self.body[start..].find('>').map(|e| start + e)?;
        attr(&self.body[start..tag_end], name).map(|v| html_unescape(&v))
    }

    fn form_start(&self, marker: &str) -> Option<usize> {
        let mut from = 0;
        while let Some(i) = self.body[from..].find("<form").map(|i| from + i) {
            let tag_end = self.body[i..].find('>').map(|e| i + e)?;
            if self.body[i..tag_end].contains(marker) {
                return Some(i);
            }
            from = tag_end;
        }
        None
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        let loc = self.location.as_ref()?;
        let u = url::Url::parse(loc).ok()?;
        u.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let i = tag.find(&needle)? + needle.len();
    let j = tag[i..].find('"')? + i;
    Some(tag[i..j].to_string())
}

pub fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        let jar = Arc::new(Jar::default());
        let http =
            reqwest::Client::builder().cookie_provider(jar.clone()).redirect(Policy::none()).build().expect("client");
        Browser { http, jar }
    }

    pub async fn get(&self, url: &str) -> Page {
        let r = self.http.get(url).send().await.expect("GET");
        to_page(url, r).await
    }

    pub async fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Page {
        let mut rb = self.http.get(url);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        to_page(url, rb.send().await.expect("GET")).await
    }

    pub async fn post_form(&self, url: &str, fields: &[(String, String)]) -> Page {
        let r = self.http.post(url).form(fields).send().await.expect("POST");
        to_page(url, r).await
    }

    /// Follows redirects within the IdP; stops at (and returns) a redirect leaving `base`.
    pub async fn follow(&self, mut page: Page, base: &str) -> Page {
        for _ in 0..10 {
            let Some(loc) = page.location.clone() else { return page };
            let abs = url::Url::parse(&page.url).and_then(|u| u.join(&loc)).map(|u| u.to_string()).unwrap_or(loc);
            if !abs.starts_with(base) {
                page.location = Some(abs);
                return page;
            }
            page = self.get(&abs).await;
        }
        page
    }

    /// Submits the page's login form with these credentials (plus its hidden fields).
    pub async fn submit_login(&self, page: &Page, username: &str, password: &str, extra: &[(&str, &str)]) -> Page {
        let (action, fields) = page.form().expect("a login form");
        let mut data: Vec<(String, String)> =
            fields.into_iter().filter(|(k, _)| k != "username" && k != "password").collect();
        data.push(("username".into(), username.into()));
        data.push(("password".into(), password.into()));
        for (k, v) in extra {
            data.push((k.to_string(), v.to_string()));
        }
        self.post_form(&action, &data).await
    }
}

async fn to_page(url: &str, r: reqwest::Response) -> Page {
    let status = r.status().as_u16();
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = r.text().await.unwrap_or_default();
    Page { status, url: url.to_string(), location, body }
}

/// Query parameters of a URL as a map.
pub fn query_map(u: &str) -> HashMap<String, String> {
    url::Url::parse(u).map(|u| u.query_pairs().into_owned().collect()).unwrap_or_default()
}

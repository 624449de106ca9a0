//! A small, forgiving HTML form reader: enough to find a login form, its action URL and the
//! controls a browser would submit (hidden CSRF tokens included). Not a general HTML parser.

use anyhow::{Context, Result};
use url::Url;

/// One `<form>` as a browser would submit it without user interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// The action attribute resolved against the page URL (the page URL when missing).
    pub action: Url,
    /// `get` or `post` (lowercase; `get` when missing, as in HTML).
    pub method: String,
    /// Successful controls in document order: name and value.
    pub fields: Vec<(String, String)>,
    /// Name of the first `<input type=password>`.
    pub password_field: Option<String>,
    /// The input named `username`, else the first text or email input.
    pub username_field: Option<String>,
}

impl Form {
    /// Set a field's value, replacing every existing value of that name (or appending it).
    pub fn set(&mut self, name: &str, value: &str) {
        let mut found = false;
        self.fields.retain_mut(|(k, v)| {
            if k != name {
                return true;
            }
            if found {
                return false;
            }
            found = true;
            value.clone_into(v);
            true
        });
        if !found {
            self.fields.push((name.to_owned(), value.to_owned()));
        }
    }

    #[cfg(test)]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The fields as an `application/x-www-form-urlencoded` body.
    pub fn encoded(&self) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.fields {
            ser.append_pair(k, v);
        }
        ser.finish()
    }
}

/// Every form of the page, in document order. Forms whose action cannot be resolved are skipped.
pub fn parse_forms(html: &str, page: &Url) -> Vec<Form> {
    let clean = strip_comments(html);
    let lc = clean.to_ascii_lowercase();
    let mut forms = Vec::new();
    let mut pos = 0;
    while let Some(start) = find_tag(&lc, "form", pos) {
        let Some(open_end) = tag_end(&clean, start) else {
            break;
        };
        let open_attrs = attributes(&clean[start + "<form".len()..open_end]);
        let body_start = open_end + 1;
        let body_end = lc[body_start..].find("</form").map_or(clean.len(), |i| body_start + i);
        pos = body_end;
        if let Ok(form) = build_form(&open_attrs, &clean[body_start..body_end], page) {
            forms.push(form);
        }
    }
    forms
}

/// The first form that has a password input.
pub fn login_form(forms: &[Form]) -> Option<&Form> {
    forms.iter().find(|f| f.password_field.is_some())
}

fn build_form(attrs: &[(String, String)], body: &str, page: &Url) -> Result<Form> {
    let action = match attr(attrs, "action").map(str::trim) {
        Some(a) if !a.is_empty() => page.join(a).with_context(|| format!("bad form action {a:?}"))?,
        _ => page.clone(),
    };
    let method = attr(attrs, "method")
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "get".to_owned());
    let mut form = Form { action, method, fields: Vec::new(), password_field: None, username_field: None };
    let lc = body.to_ascii_lowercase();
    let mut pos = 0;
    let mut submit_taken = false;
    let mut first_text: Option<String> = None;
    loop {
        let next_input = find_tag(&lc, "input", pos).map(|i| (i, "input"));
        let next_button = find_tag(&lc, "button", pos).map(|i| (i, "button"));
        let (start, kind) = match (next_input, next_button) {
            (Some(a), Some(b)) => {
                if a.0 < b.0 {
                    a
                } else {
                    b
                }
            }
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        let Some(end) = tag_end(body, start) else {
            break;
        };
        pos = end + 1;
        let a = attributes(&body[start + 1 + kind.len()..end]);
        if has(&a, "disabled") {
            continue;
        }
        let Some(name) = attr(&a, "name").filter(|n| !n.is_empty()) else {
            continue;
        };
        let default_type = if kind == "button" { "submit" } else { "text" };
        let ty = attr(&a, "type")
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| default_type.to_owned());
        let value = attr(&a, "value").unwrap_or("").to_owned();
        match ty.as_str() {
            "submit" => {
                // A browser sends only the button that was clicked: take the first one.
                if !submit_taken {
                    submit_taken = true;
                    form.fields.push((name.to_owned(), value));
                }
            }
            "checkbox" | "radio" => {
                if has(&a, "checked") {
                    let v = if value.is_empty() { "on".to_owned() } else { value };
                    form.fields.push((name.to_owned(), v));
                }
            }
            "button" | "reset" | "image" | "file" => {}
            "password" => {
                if form.password_field.is_none() {
                    form.password_field = Some(name.to_owned());
                }
                form.fields.push((name.to_owned(), value));
            }
            _ => {
                if (ty == "text" || ty == "email") && first_text.is_none() {
                    first_text = Some(name.to_owned());
                }
                if name == "username" && form.username_field.is_none() {
                    form.username_field = Some(name.to_owned());
                }
                form.fields.push((name.to_owned(), value));
            }
        }
    }
    if form.username_field.is_none() {
        form.username_field = first_text;
    }
    Ok(form)
}

/// Position of the next `<name` tag (followed by whitespace, `/` or `>`) at or after `from`.
/// `lc` must be the lowercase text.
fn find_tag(lc: &str, name: &str, from: usize) -> Option<usize> {
    let needle = format!("<{name}");
    let mut pos = from;
    while let Some(i) = lc.get(pos..)?.find(&needle) {
        let at = pos + i;
        let after = lc.as_bytes().get(at + needle.len()).copied();
        match after {
            Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>') | None => return Some(at),
            _ => pos = at + needle.len(),
        }
    }
    None
}

/// Index of the `>` closing the tag that starts at `start`, skipping quoted attribute values.
fn tag_end(s: &str, start: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, &b) in s.as_bytes().iter().enumerate().skip(start) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i),
            None => {}
        }
    }
    None
}

/// Attributes of a tag, names lowercased, values HTML-unescaped. `s` is the text between the
/// tag name and the closing `>`.
fn attributes(s: &str) -> Vec<(String, String)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
    while i < b.len() {
        while i < b.len() && (is_space(b[i]) || b[i] == b'/') {
            i += 1;
        }
        let name_start = i;
        while i < b.len() && !is_space(b[i]) && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        if i == name_start {
            i += 1;
            continue;
        }
        let name = s[name_start..i].to_ascii_lowercase();
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let v_start = i + 1;
                let mut j = v_start;
                while j < b.len() && b[j] != q {
                    j += 1;
                }
                value = unescape(&s[v_start..j]);
                i = j + 1;
            } else {
                let v_start = i;
                while i < b.len() && !is_space(b[i]) {
                    i += 1;
                }
                value = unescape(&s[v_start..i]);
            }
        }
        out.push((name, value));
    }
    out
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn has(attrs: &[(String, String)], name: &str) -> bool {
    attrs.iter().any(|(k, _)| k == name)
}

fn strip_comments(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find("<!--") {
        out.push_str(&rest[..i]);
        match rest[i + 4..].find("-->") {
            Some(j) => rest = &rest[i + 4 + j + 3..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Decode the HTML character references found in attribute values: the common named ones
/// and every numeric one. Unknown references are kept as they are.
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let semi = rest.find(';').filter(|&j| j <= 12);
        let decoded = semi.and_then(|j| decode_ref(&rest[1..j]).map(|c| (c, j)));
        match decoded {
            Some((c, j)) => {
                out.push(c);
                rest = &rest[j + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_ref(r: &str) -> Option<char> {
    if let Some(num) = r.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match r {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("http://127.0.0.1:8080/realms/bench/login-actions/authenticate?x=1").unwrap()
    }

    #[test]
    fn login_form_with_hidden_inputs_relative_action_and_amp() {
        let html = r#"<!doctype html><html><body>
          <form id="search" action="/search" method="get"><input name="q"></form>
          <!-- <form action="/commented" method="post"><input type="password" name="nope"></form> -->
          <FORM class="login" method="POST"
                action="authenticate?session_code=abc&amp;execution=e1&amp;tab_id=T">
            <input type="hidden" name="csrf" value="tok&lt;1&gt;&#x2F;&#39;">
            <input type='text' name='username' id='username' autofocus>
            <input type=password name=password>
            <input type="checkbox" name="remember" value="on">
            <input type="checkbox" name="terms" checked>
            <input type="hidden" name="disabled_one" value="x" disabled>
            <input type="submit" name="login" value="Sign in">
            <button type="submit" name="cancel" value="1">Cancel</button>
          </FORM></body></html>"#;
        let forms = parse_forms(html, &page());
        assert_eq!(forms.len(), 2);
        let f = login_form(&forms).unwrap();
        assert_eq!(f.method, "post");
        assert_eq!(
            f.action.as_str(),
            "http://127.0.0.1:8080/realms/bench/login-actions/authenticate?session_code=abc&execution=e1&tab_id=T"
        );
        assert_eq!(f.password_field.as_deref(), Some("password"));
        assert_eq!(f.username_field.as_deref(), Some("username"));
        assert_eq!(f.get("csrf"), Some("tok<1>/'"));
        assert_eq!(f.get("terms"), Some("on"));
        assert_eq!(f.get("remember"), None);
        assert_eq!(f.get("disabled_one"), None);
        assert_eq!(f.get("login"), Some("Sign in"));
        assert_eq!(f.get("cancel"), None);
    }

    #[test]
    fn username_falls_back_to_first_text_or_email_input() {
        // The shape of oidc-provider's devInteractions login page.
        let html = r#"<form autocomplete="off" action="/interaction/abc/login" method="post">
            <input type="hidden" name="prompt" value="login"/>
            <input required type="text" name="login" placeholder="Enter any login" autofocus="on">
            <input required type="password" name="password" placeholder="and password" >
            <button type="submit" class="login login-submit">Sign-in</button></form>"#;
        let forms = parse_forms(html, &page());
        let mut f = login_form(&forms).unwrap().clone();
        assert_eq!(f.action.as_str(), "http://127.0.0.1:8080/interaction/abc/login");
        assert_eq!(f.username_field.as_deref(), Some("login"));
        f.set("login", "bench00001");
        f.set("password", "p&ss word");
        assert_eq!(f.encoded(), "prompt=login&login=bench00001&password=p%26ss+word");

        let email = r#"<form method="post"><input type="email" name="mail"><input type="password" name="pw"></form>"#;
        let forms = parse_forms(email, &page());
        let f = login_form(&forms).unwrap();
        assert_eq!(f.username_field.as_deref(), Some("mail"));
        // No action: the page URL itself.
        assert_eq!(f.action, page());
    }

    #[test]
    fn page_without_password_form() {
        let forms = parse_forms("<p>hello</p><form method=post><input name=a value=b></form>", &page());
        assert_eq!(forms.len(), 1);
        assert!(login_form(&forms).is_none());
        assert!(parse_forms("<formula>", &page()).is_empty());
    }

    #[test]
    fn unescape_entities() {
        assert_eq!(unescape("a&amp;b&amp;amp;"), "a&b&amp;");
        assert_eq!(unescape("&#47;&#x2f;&#X2F;&quot;&apos;"), "///\"'");
        assert_eq!(unescape("R&D &unknown; & x"), "R&D &unknown; & x");
        assert_eq!(unescape("plain"), "plain");
    }

    #[test]
    fn set_replaces_all_values_of_a_name() {
        let mut f = Form {
            action: page(),
            method: "post".into(),
            fields: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
            password_field: None,
            username_field: None,
        };
        f.set("a", "3");
        f.set("b", "4");
        assert_eq!(f.encoded(), "a=3&b=4");
    }
}

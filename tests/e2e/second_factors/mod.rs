//! Second factors at login and their enrolment (SPEC §5, §9), end to end on both backends:
//! authenticator-app codes computed by an independent RFC 4226/6238 generator written here,
//! e-mail codes caught by a real SMTP server on localhost, recovery codes, the second-factor
//! lockout, and the guards that keep a client from getting a code without the factor.

mod email_otp;
mod flow_guards;
mod otp;
mod recovery;

use diesel::prelude::*;
use hmac::{Hmac, Mac};
use kenpo_e2e::browser::{Page, html_unescape, query_map};
use kenpo_e2e::smtp::ReceivedMail;
use kenpo_e2e::{Browser, Fixture, TestIdp};
use kenpo_idp::admin;
use kenpo_idp::store::schema;

use crate::common::{self, AuthzRequest, Rp};

pub const OTP_TITLE: &str = "ワンタイムパスワードの入力";
pub const OTP_WRONG: &str = "ワンタイムパスワードが正しくありません";
pub const ENROL_OTP_TITLE: &str = "ワンタイムパスワードの設定";
pub const ENROL_WRONG: &str = "認証コードが異なります";
pub const DEVICE_EMPTY: &str = "デバイス名を入力してください。";
pub const DEVICE_TAKEN: &str = "このデバイス名は既に使われています。";
pub const LOCKED: &str = "認証に連続して失敗したため";
pub const PASSWORD_LOCKED: &str = "アカウントがロックされました";
pub const EMAIL_TITLE: &str = "ワンタイムパスワード (OTP) メール認証";
pub const EMAIL_INTRO: &str = "受信したワンタイムパスワードを入力してください。";
pub const EMAIL_EXPIRED: &str = "ワンタイムパスワードの有効期限が切れたか、入力回数の上限に達しました。";
pub const EMAIL_TOO_SOON: &str = "ワンタイムパスワードは送信済みです。しばらくしてから再送信してください。";
pub const EMAIL_RESENT: &str = "ワンタイムパスワードを再送信しました。";
pub const RECOVERY_TITLE: &str = "リカバリーコードの入力";
pub const RECOVERY_WRONG: &str = "リカバリーコードが正しくないか、既に使用されています";
pub const RECOVERY_ENROL_TITLE: &str = "リカバリーコードの保存";
pub const RECOVERY_CONFIRM: &str = "リカバリーコードを保存したことを確認し、チェックを入れてください。";
pub const CHOOSE_TITLE: &str = "ユーザIDの変更・認証方法の設定";
pub const FLOW_MISSING: &str = "ログインの手続きが見つからないか、有効期限が切れました。";

// ---------------------------------------------------------------------------------------------
// An independent TOTP generator (RFC 4226 HOTP, RFC 6238 TOTP, RFC 4648 Base32)
// ---------------------------------------------------------------------------------------------

/// An authenticator app: the shared secret, SHA1, 6 digits, 30-second steps.
#[derive(Debug, Clone)]
pub struct Totp {
    pub key: Vec<u8>,
}

pub const PERIOD: u64 = 30;

impl Totp {
    /// From the secret as the enrolment page shows it (Base32, spaces allowed).
    pub fn from_base32(text: &str) -> Totp {
        Totp { key: base32_decode(text).unwrap_or_else(|| panic!("not Base32: {text}")) }
    }

    /// The code of time step `step` (RFC 6238: HOTP with counter = unix time / period).
    pub fn at_step(&self, step: u64) -> String {
        hotp(&self.key, step, 6)
    }

    /// The code the app shows now.
    pub fn now(&self) -> String {
        self.at_step(current_step())
    }

    /// The code `n` steps before now.
    pub fn steps_ago(&self, n: u64) -> String {
        self.at_step(current_step() - n)
    }
}

pub fn current_step() -> u64 {
    let now = u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970");
    now / PERIOD
}

/// Waits (at most a few seconds) until the current time step has at least 8 seconds left, so
/// a code computed now is still in the same step when the IdP checks it. Nothing is asserted
/// about time; this only keeps step-sensitive checks off a step boundary.
pub async fn away_from_step_boundary() {
    loop {
        let now = u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970");
        if PERIOD - now % PERIOD >= 8 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// RFC 4226 §5.3: HMAC-SHA1 over the big-endian counter, dynamic truncation, modulo 10^digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let bin = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    format!("{:0width$}", bin % 10u32.pow(digits), width = digits as usize)
}

/// RFC 4648 Base32 (A-Z, 2-7), case-insensitive, spaces and padding ignored.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = match c.to_ascii_uppercase() {
            u @ 'A'..='Z' => u as u32 - 'A' as u32,
            d @ '2'..='7' => d as u32 - '2' as u32 + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[test]
fn own_generator_matches_rfc_4226_and_6238_vectors() {
    let key = b"12345678901234567890";
    let rfc4226 = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
    for (i, want) in rfc4226.iter().enumerate() {
        assert_eq!(hotp(key, i as u64, 6), *want, "RFC 4226 counter {i}");
    }
    // RFC 6238 Appendix B, SHA1, 8 digits.
    for (t, want) in [(59u64, "94287082"), (1_111_111_109, "07081804"), (1_234_567_890, "89005924")] {
        assert_eq!(hotp(key, t / 30, 8), want, "RFC 6238 t={t}");
    }
    assert_eq!(base32_decode("GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ").as_deref(), Some(&key[..]));
}

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

pub fn with_smtp(port: u16) -> impl FnOnce(&mut kenpo_idp::config::IdpConfig) {
    move |c| {
        c.mail.smtp_host = "127.0.0.1".into();
        c.mail.smtp_port = port;
        c.mail.smtp_tls = "none".into();
        c.mail.from = "no-reply@kenpo.test".into();
    }
}

/// Changes realm settings and drops this process's cached copy of the realm.
pub fn set_realm(idp: &TestIdp, f: &Fixture, assignments: &[&str]) {
    let list: Vec<String> = assignments.iter().map(|a| a.to_string()).collect();
    admin::realms::set(&idp.state.store, &f.realm, &list).expect("realm set");
    idp.state.forget_realm(&f.realm);
}

pub fn require(idp: &TestIdp, f: &Fixture, action: &str) {
    admin::users::require_action(&idp.state.store, &f.realm, &f.username, action).expect("require action");
}

/// The fixture for another member of the same realm (created here, e-mail verified).
pub fn other_member(idp: &TestIdp, f: &Fixture, username: &str, email: &str) -> Fixture {
    let password = "Second-Member-Pass-42".to_string();
    idp.add_member(f, username, &password, Some(email));
    Fixture { username: username.into(), password, ..f.clone() }
}

// ---------------------------------------------------------------------------------------------
// The database as the tests see it
// ---------------------------------------------------------------------------------------------

pub fn user_id(idp: &TestIdp, f: &Fixture) -> String {
    idp.state
        .store
        .run_sync(|c| {
            let realm = kenpo_idp::store::realms::find_by_name(c, &f.realm)?.expect("realm");
            kenpo_idp::store::users::find_by_username(c, &realm.id, &f.username.to_lowercase())
        })
        .expect("user lookup")
        .expect("user exists")
        .id
}

pub fn user(idp: &TestIdp, f: &Fixture) -> kenpo_idp::store::users::UserRow {
    let id = user_id(idp, f);
    idp.state.store.run_sync(|c| kenpo_idp::store::users::find(c, &id)).expect("user").expect("user row")
}

/// (kind, label) of the member's enrolled factors, oldest first.
pub fn devices(idp: &TestIdp, f: &Fixture) -> Vec<(String, String)> {
    let id = user_id(idp, f);
    use schema::user_credentials as uc;
    idp.state
        .store
        .run_sync(|c| {
            Ok(uc::table
                .filter(uc::user_id.eq(&id))
                .order((uc::created_at.asc(), uc::id.asc()))
                .select((uc::kind, uc::label))
                .load::<(String, String)>(c)?)
        })
        .expect("devices")
}

/// "Time passes": the member's devices forget which time steps they accepted, as if their
/// last use were long ago. (A step is accepted once per device; tests log in many times
/// within one 30-second step.)
pub fn time_passes(idp: &TestIdp) {
    use schema::user_credentials as uc;
    idp.state
        .store
        .run_sync(|c| {
            diesel::update(uc::table).set(uc::last_used_step.eq(None::<i64>)).execute(c)?;
            Ok(())
        })
        .expect("reset used steps");
}

pub fn count_codes(idp: &TestIdp) -> i64 {
    idp.state.store.run_sync(|c| Ok(schema::auth_codes::table.count().get_result::<i64>(c)?)).expect("count codes")
}

/// (username_key, failures) of every brute-force counter of the realm.
pub fn failure_counters(idp: &TestIdp) -> Vec<(String, i32)> {
    use schema::login_failures as lf;
    idp.state
        .store
        .run_sync(|c| Ok(lf::table.select((lf::username_key, lf::failures)).load::<(String, i32)>(c)?))
        .expect("failure counters")
}

// ---------------------------------------------------------------------------------------------
// A login as a relying party and a member's browser see it
// ---------------------------------------------------------------------------------------------

/// One login: the RP's request, the member's browser, and the page it is on now.
pub struct Login<'a> {
    pub idp: &'a TestIdp,
    pub rp: Rp,
    pub req: AuthzRequest,
    pub browser: Browser,
    pub page: Page,
}

/// Opens the RP's authorization URL in a new browser and submits user ID and password; the
/// page is wherever the IdP sends the member next (second factor, required action, client).
pub async fn login<'a>(idp: &'a TestIdp, f: &Fixture) -> Login<'a> {
    login_in(idp, f, Browser::new()).await
}

pub async fn login_in<'a>(idp: &'a TestIdp, f: &Fixture, browser: Browser) -> Login<'a> {
    let rp = common::rp(idp, f).await;
    let req = rp.authorize(&["profile"], &[]);
    let page = common::open(&browser, idp, &req.url).await;
    assert!(common::is_login_page(&page), "expected the login page: {} {}", page.status, page.body);
    let after = browser.submit_login(&page, &f.username, &f.password, &[]).await;
    let page = browser.follow(after, &idp.base_url).await;
    Login { idp, rp, req, browser, page }
}

impl Login<'_> {
    /// Submits the page's first form with these fields replacing or adding to its own.
    pub async fn submit(&mut self, fields: &[(&str, &str)]) -> &Page {
        let (action, existing) = form_fields(&self.page).unwrap_or_else(|| panic!("no form on: {}", self.page.body));
        let mut data: Vec<(String, String)> =
            existing.into_iter().filter(|(k, _)| !fields.iter().any(|(f, _)| f == k)).collect();
        data.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.post(&action, &data).await
    }

    /// POSTs exactly these fields to `action` and follows redirects inside the IdP.
    pub async fn post(&mut self, action: &str, data: &[(String, String)]) -> &Page {
        let r = self.browser.post_form(action, data).await;
        self.page = self.browser.follow(r, &self.idp.base_url).await;
        &self.page
    }

    pub async fn get(&mut self, url: &str) -> &Page {
        self.page = common::open(&self.browser, self.idp, url).await;
        &self.page
    }

    /// 「別の方法でログインする」: the switch form for `to` on the current factor page.
    pub async fn switch_to(&mut self, to: &str) -> &Page {
        let action = factor_url(self.idp, &self.realm());
        let data = vec![
            ("csrf".to_string(), self.csrf()),
            ("op".to_string(), "switch".to_string()),
            ("to".to_string(), to.to_string()),
        ];
        self.post(&action, &data).await
    }

    pub fn csrf(&self) -> String {
        form_fields(&self.page)
            .and_then(|(_, f)| f.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v))
            .unwrap_or_else(|| panic!("no csrf on: {}", self.page.body))
    }

    fn realm(&self) -> String {
        let u = url::Url::parse(&self.req.url).expect("url");
        u.path().split('/').nth(2).expect("realm in path").to_string()
    }

    /// The authorization code, when the page is the redirect back to the client.
    pub fn code(&self) -> Option<String> {
        let loc = self.page.location.as_deref()?;
        loc.starts_with(&self.rp.redirect_uri).then(|| query_map(loc).get("code").cloned()).flatten()
    }

    pub fn assert_no_code(&self, what: &str) {
        assert!(self.code().is_none(), "{what}: the client got a code: {:?}", self.page.location);
    }

    /// Exchanges the code as the RP and returns the verified ID token's claims.
    pub async fn id_token_claims(&self) -> serde_json::Value {
        let code = self.code().unwrap_or_else(|| panic!("no code: {} {}", self.page.status, self.page.body));
        let q = query_map(self.page.location.as_deref().expect("location"));
        assert_eq!(q.get("state"), Some(self.req.state.secret()));
        let tokens = self.rp.exchange(&code, &self.req.verifier).await.expect("token response");
        let id_token = openidconnect::TokenResponse::id_token(&tokens).expect("ID token");
        self.rp.verify_id_token(id_token, Some(&self.req.nonce));
        common::jwt_claims(&id_token.to_string())
    }

    pub fn body(&self) -> &str {
        &self.page.body
    }

    pub fn has(&self, text: &str) -> bool {
        self.page.body.contains(text)
    }
}

pub fn factor_url(idp: &TestIdp, realm: &str) -> String {
    format!("{}/realms/{realm}/login-actions/second-factor", idp.base_url)
}

pub fn action_url(idp: &TestIdp, realm: &str) -> String {
    format!("{}/realms/{realm}/login-actions/required-action", idp.base_url)
}

/// Asserts the ID token says how the member authenticated.
pub fn assert_amr(claims: &serde_json::Value, amr: &[&str], acr: &str) {
    let got: Vec<&str> = claims["amr"].as_array().expect("amr").iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(got, amr, "amr in {claims}");
    assert_eq!(claims["acr"].as_str(), Some(acr), "acr in {claims}");
}

/// The first form of a page: its absolute action and its fields as a browser would send them
/// (hidden and text inputs with their values; checkboxes and radios only when checked).
pub fn form_fields(page: &Page) -> Option<(String, Vec<(String, String)>)> {
    let start = page.body.find("<form")?;
    let end = page.body[start..].find("</form>").map(|e| start + e)?;
    let form = &page.body[start..end];
    let open_end = form.find('>')?;
    let action = attr(&form[..open_end], "action").unwrap_or_default();
    let action = url::Url::parse(&page.url).ok()?.join(&html_unescape(&action)).ok()?.to_string();
    let mut fields = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find("<input") {
        let tag_end = rest[i..].find('>').map(|e| i + e).unwrap_or(rest.len());
        let tag = &rest[i..tag_end];
        if let Some(name) = attr(tag, "name") {
            let kind = attr(tag, "type").unwrap_or_default();
            if !matches!(kind.as_str(), "checkbox" | "radio") || tag.contains(" checked") {
                fields.push((name, html_unescape(&attr(tag, "value").unwrap_or_default())));
            }
        }
        rest = &rest[tag_end..];
    }
    Some((action, fields))
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let i = tag.find(&needle)? + needle.len();
    let j = tag[i..].find('"')? + i;
    Some(tag[i..j].to_string())
}

/// (value, label) of the radio buttons named `name` on the page.
pub fn radios(page: &Page, name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = page.body.as_str();
    while let Some(i) = rest.find("<input") {
        let tag_end = rest[i..].find('>').map(|e| i + e).unwrap_or(rest.len());
        let tag = &rest[i..tag_end];
        if attr(tag, "type").as_deref() == Some("radio") && attr(tag, "name").as_deref() == Some(name) {
            let label_end = rest[tag_end..].find("</label>").map(|e| tag_end + e).unwrap_or(rest.len());
            let label = html_unescape(rest[tag_end + 1..label_end].trim());
            out.push((html_unescape(&attr(tag, "value").unwrap_or_default()), label));
        }
        rest = &rest[tag_end..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Enrolment helpers
// ---------------------------------------------------------------------------------------------

/// The secret on a 「ワンタイムパスワードの設定」 page, checked to be shown in groups of four.
pub fn secret_on_page(page: &Page) -> Totp {
    let start = page.body.find("id=\"otp-secret\">").expect("the secret is shown") + "id=\"otp-secret\">".len();
    let end = page.body[start..].find('<').expect("end of secret") + start;
    let shown = page.body[start..end].trim();
    let groups: Vec<&str> = shown.split(' ').collect();
    assert!(groups.len() >= 2, "secret not grouped: {shown}");
    assert!(groups.iter().all(|g| g.len() == 4), "groups of four: {shown}");
    let totp = Totp::from_base32(shown);
    assert_eq!(totp.key.len(), 20, "a 160-bit secret: {shown}");
    totp
}

/// Completes the 「ワンタイムパスワードの設定」 page on which `l` stands.
pub async fn complete_totp_enrolment(l: &mut Login<'_>, label: &str) -> Totp {
    assert!(l.has(ENROL_OTP_TITLE), "expected the TOTP enrolment page: {}", l.body());
    let totp = secret_on_page(&l.page);
    away_from_step_boundary().await;
    let code = totp.now();
    l.submit(&[("totp", &code), ("userLabel", label)]).await;
    totp
}

/// Enrols an authenticator app named `label` for the member through the CONFIGURE_TOTP
/// required action (the admin's "configure OTP"): logs in, passes `existing` if the member
/// already has a device, reads the secret off the page and answers with a code.
pub async fn enrol_totp(idp: &TestIdp, f: &Fixture, label: &str, existing: Option<&Totp>) -> Totp {
    require(idp, f, "CONFIGURE_TOTP");
    let mut l = login(idp, f).await;
    if let Some(t) = existing {
        time_passes(idp);
        pass_otp(&mut l, t).await;
    }
    let totp = complete_totp_enrolment(&mut l, label).await;
    assert!(l.code().is_some(), "enrolment did not complete: {}", l.body());
    totp
}

/// Answers the 「ワンタイムパスワードの入力」 page with the current code of `totp`.
pub async fn pass_otp(l: &mut Login<'_>, totp: &Totp) {
    assert!(l.has(OTP_TITLE), "expected the OTP page: {}", l.body());
    away_from_step_boundary().await;
    let code = totp.now();
    l.submit(&[("otp", &code)]).await;
}

/// The 6-digit code in an e-mail-OTP mail.
pub fn mailed_code(mail: &ReceivedMail) -> String {
    let body = mail.body();
    body.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no 6-digit code in: {body}"))
        .to_string()
}

/// Every mail in the IdP's outbox (sent or waiting), oldest first.
pub fn outbox(idp: &TestIdp) -> Vec<kenpo_idp::store::mail::MailRow> {
    let mut rows = idp.state.store.run_sync(|c| kenpo_idp::store::mail::recent(c, 1000)).expect("outbox");
    rows.sort_by_key(|r| r.created_at);
    rows
}

/// Moves a column of every e-mail code (`expires_at` or `sent_at`) to `minutes` from now.
pub fn move_email_codes(idp: &TestIdp, column: &str, minutes: i64) {
    use schema::email_otps as eo;
    let at = chrono::Utc::now().naive_utc() + chrono::Duration::minutes(minutes);
    let column = column.to_string();
    idp.state
        .store
        .run_sync(move |c| {
            match column.as_str() {
                "expires_at" => diesel::update(eo::table).set(eo::expires_at.eq(at)).execute(c)?,
                "sent_at" => diesel::update(eo::table).set(eo::sent_at.eq(at)).execute(c)?,
                other => unreachable!("{other}"),
            };
            Ok(())
        })
        .expect("move e-mail codes");
}

/// Enrols the member's verified address as an e-mail OTP channel through the
/// CONFIGURE_EMAIL_OTP required action; the code is read from the mail the sink caught.
pub async fn enrol_email(idp: &TestIdp, f: &Fixture, sink: &kenpo_e2e::smtp::SmtpSink) {
    require(idp, f, "CONFIGURE_EMAIL_OTP");
    let before = sink.received().len();
    let mut l = login(idp, f).await;
    assert!(l.has(EMAIL_TITLE), "expected the e-mail enrolment page: {}", l.body());
    let mails = sink.wait_for(before + 1).await;
    assert_eq!(mails.len(), before + 1, "one code mail");
    let code = mailed_code(&mails[before]);
    l.submit(&[("otp", &code)]).await;
    assert!(l.code().is_some(), "e-mail enrolment did not complete: {}", l.body());
}

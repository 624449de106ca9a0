//! Validation and normalisation of what members type (SPEC §2, §4 item 5).
//!
//! Pure functions: no I/O, no clock, no database. Each rule violation is one [`FieldError`]
//! whose [`FieldError::key`] is a message-catalog key under `[validation]` in
//! `idp/locales/validation.{ja,en}.toml`, and whose [`FieldError::field`] names the form field
//! the message belongs next to.
//!
//! Placeholders: only `validation.password.length` contains `{min}` and `{max}`; the caller
//! substitutes them with [`FieldError::params`] (the realm's [`PasswordPolicy`] decides them).
//! All other messages carry their numbers in the text (user ID 8-13, e-mail 255, names 50, …).
//!
//! Checks that need the outside world are the caller's: uniqueness of the user ID and e-mail
//! ([`FieldError::UsernameTaken`], [`FieldError::EmailInUse`]), "differs from the current
//! password" ([`password_differs`], after verifying against the stored hash), and "birthdate not
//! in the future" ([`check_birthdate_not_future`], given today's date).

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

// ---------------------------------------------------------------------------------------------
// Limits (SPEC §2). The password limits are realm policy; these are not.
// ---------------------------------------------------------------------------------------------

pub const USERNAME_MIN_CHARS: usize = 8;
pub const USERNAME_MAX_CHARS: usize = 13;
/// The symbols a user ID may contain besides `a-z` and `0-9`.
pub const USERNAME_SYMBOLS: &[char] = &['-', '_', '.', '@'];
pub const EMAIL_MAX_CHARS: usize = 255;
/// RFC 5321 §4.5.3.1.1: local part at most 64 octets.
pub const EMAIL_LOCAL_MAX_CHARS: usize = 64;
/// RFC 1035: a DNS label is at most 63 octets.
pub const EMAIL_LABEL_MAX_CHARS: usize = 63;
pub const NAME_MAX_CHARS: usize = 50;
pub const KANA_MAX_CHARS: usize = 50;
pub const BIRTH_YEAR_MIN: i32 = 1900;
pub const BIRTH_YEAR_MAX: i32 = 2100;
pub const INSURER_NUMBER_DIGITS: usize = 8;
pub const CARD_SYMBOL_MAX_CHARS: usize = 20;
pub const CARD_NUMBER_MAX_CHARS: usize = 20;

// ---------------------------------------------------------------------------------------------
// Password policy
// ---------------------------------------------------------------------------------------------

/// Realm policy for passwords (realm settings; defaults per SPEC §2).
///
/// Missing fields deserialise to their defaults, so a stored settings document written before a
/// field existed still loads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    /// Minimum length in characters (Unicode scalar values). Default 8.
    pub min_length: usize,
    /// Maximum length in characters. Default 64.
    pub max_length: usize,
    /// Accept non-ASCII characters (NFC-normalised before hashing). Default false: anything
    /// outside printable ASCII and `¥` is refused with a message saying so.
    pub allow_unicode: bool,
    /// Refuse common passwords, one repeated character and simple sequences. Default true.
    pub check_blocklist: bool,
    /// Composition rules (NIST SP 800-63B advises against them): all off by default.
    pub require_upper: bool,
    pub require_lower: bool,
    pub require_digit: bool,
    pub require_symbol: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 8,
            max_length: 64,
            allow_unicode: false,
            check_blocklist: true,
            require_upper: false,
            require_lower: false,
            require_digit: false,
            require_symbol: false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Which of the two name inputs a name / kana error belongs to. It only changes
/// [`FieldError::field`]; the message (key) is the same for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamePart {
    /// The caller did not say ([`normalize_name`], [`normalize_kana`]): field `name` / `kana`.
    Unspecified,
    /// 姓 / セイ: field `family_name` / `family_kana`.
    Family,
    /// 名 / メイ: field `given_name` / `given_kana`.
    Given,
}

/// Every rule violation is one variant; `key()` returns a message-catalog key such as
/// "validation.username.length".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldError {
    // user ID
    UsernameEmpty,
    /// Not 8-13 characters.
    UsernameLength,
    /// Full-width (or any other non-ASCII) character, e.g. `ａ`, `１`, `あ`.
    UsernameFullWidth,
    /// An ASCII character outside `a-z 0-9 - _ . @` (space, quotes, `<`, `;`, control, …).
    UsernameInvalidChar,
    /// Used by another account of the realm (the caller checks).
    UsernameTaken,

    // password
    PasswordEmpty,
    /// Outside the policy's `min_length..=max_length`; message has `{min}`/`{max}`.
    PasswordLength,
    /// Non-ASCII (other than `¥`) while the realm does not allow Unicode.
    PasswordNonAscii,
    /// Control characters (tab, newline, DEL, …) and invisible formatting characters.
    PasswordControlChar,
    /// Equals or contains the user ID (case-insensitive).
    PasswordContainsUsername,
    /// On the embedded list of common passwords (or one of them with digits/symbols around it).
    PasswordBlocklisted,
    /// One character repeated, a short pattern repeated, or a sequence (12345678, abcdefgh,
    /// qwertyui).
    PasswordTooSimple,
    PasswordRequireUpper,
    PasswordRequireLower,
    PasswordRequireDigit,
    PasswordRequireSymbol,
    /// Same as the current password (the caller checks against the stored hash).
    PasswordSameAsCurrent,
    /// Password and its confirmation differ.
    PasswordConfirmationMismatch,

    // e-mail (SPEC §4 item 5: messages 1-4)
    EmailEmpty,
    /// Used by another account of the realm (the caller checks).
    EmailInUse,
    EmailInvalid,
    /// 256 characters or more; always reported together with [`FieldError::EmailInvalid`].
    EmailTooLong,

    // birthdate
    BirthdateEmpty,
    /// Not 8 digits (nor `YYYY-MM-DD` / `YYYY/MM/DD`).
    BirthdateFormat,
    /// Not a calendar date, e.g. 19790230.
    BirthdateInvalidDate,
    /// Year outside 1900..=2100 (typically a Japanese-era year typed as the year).
    BirthdateOutOfRange,
    /// After today (see [`check_birthdate_not_future`]).
    BirthdateInFuture,

    // family / given name
    NameEmpty(NamePart),
    NameLength(NamePart),
    NameInvalidChar(NamePart),

    // reading in full-width katakana
    KanaEmpty(NamePart),
    KanaLength(NamePart),
    /// Anything but full-width katakana, `ー` and the full-width space (e.g. hiragana, kanji).
    KanaInvalidChar(NamePart),

    // union data
    InsurerNumberEmpty,
    /// Not exactly 8 digits.
    InsurerNumberFormat,
    CardSymbolEmpty,
    CardSymbolLength,
    /// Characters other than letters, digits and single hyphens between them.
    CardSymbolFormat,
    CardNumberEmpty,
    CardNumberLength,
    /// Characters other than digits and single hyphens between them.
    CardNumberFormat,
}

impl FieldError {
    /// Every variant once (name/kana variants with [`NamePart::Unspecified`]); for catalog
    /// completeness checks.
    pub const ALL: &'static [FieldError] = &[
        FieldError::UsernameEmpty,
        FieldError::UsernameLength,
        FieldError::UsernameFullWidth,
        FieldError::UsernameInvalidChar,
        FieldError::UsernameTaken,
        FieldError::PasswordEmpty,
        FieldError::PasswordLength,
        FieldError::PasswordNonAscii,
        FieldError::PasswordControlChar,
        FieldError::PasswordContainsUsername,
        FieldError::PasswordBlocklisted,
        FieldError::PasswordTooSimple,
        FieldError::PasswordRequireUpper,
        FieldError::PasswordRequireLower,
        FieldError::PasswordRequireDigit,
        FieldError::PasswordRequireSymbol,
        FieldError::PasswordSameAsCurrent,
        FieldError::PasswordConfirmationMismatch,
        FieldError::EmailEmpty,
        FieldError::EmailInUse,
        FieldError::EmailInvalid,
        FieldError::EmailTooLong,
        FieldError::BirthdateEmpty,
        FieldError::BirthdateFormat,
        FieldError::BirthdateInvalidDate,
        FieldError::BirthdateOutOfRange,
        FieldError::BirthdateInFuture,
        FieldError::NameEmpty(NamePart::Unspecified),
        FieldError::NameLength(NamePart::Unspecified),
        FieldError::NameInvalidChar(NamePart::Unspecified),
        FieldError::KanaEmpty(NamePart::Unspecified),
        FieldError::KanaLength(NamePart::Unspecified),
        FieldError::KanaInvalidChar(NamePart::Unspecified),
        FieldError::InsurerNumberEmpty,
        FieldError::InsurerNumberFormat,
        FieldError::CardSymbolEmpty,
        FieldError::CardSymbolLength,
        FieldError::CardSymbolFormat,
        FieldError::CardNumberEmpty,
        FieldError::CardNumberLength,
        FieldError::CardNumberFormat,
    ];

    /// The message-catalog key, e.g. `"validation.username.length"`.
    pub fn key(self) -> &'static str {
        use FieldError as E;
        match self {
            E::UsernameEmpty => "validation.username.empty",
            E::UsernameLength => "validation.username.length",
            E::UsernameFullWidth => "validation.username.full_width",
            E::UsernameInvalidChar => "validation.username.invalid_char",
            E::UsernameTaken => "validation.username.taken",
            E::PasswordEmpty => "validation.password.empty",
            E::PasswordLength => "validation.password.length",
            E::PasswordNonAscii => "validation.password.non_ascii",
            E::PasswordControlChar => "validation.password.control_char",
            E::PasswordContainsUsername => "validation.password.contains_username",
            E::PasswordBlocklisted => "validation.password.blocklisted",
            E::PasswordTooSimple => "validation.password.too_simple",
            E::PasswordRequireUpper => "validation.password.require_upper",
            E::PasswordRequireLower => "validation.password.require_lower",
            E::PasswordRequireDigit => "validation.password.require_digit",
            E::PasswordRequireSymbol => "validation.password.require_symbol",
            E::PasswordSameAsCurrent => "validation.password.same_as_current",
            E::PasswordConfirmationMismatch => "validation.password.confirmation_mismatch",
            E::EmailEmpty => "validation.email.empty",
            E::EmailInUse => "validation.email.in_use",
            E::EmailInvalid => "validation.email.invalid",
            E::EmailTooLong => "validation.email.too_long",
            E::BirthdateEmpty => "validation.birthdate.empty",
            E::BirthdateFormat => "validation.birthdate.format",
            E::BirthdateInvalidDate => "validation.birthdate.invalid_date",
            E::BirthdateOutOfRange => "validation.birthdate.out_of_range",
            E::BirthdateInFuture => "validation.birthdate.in_future",
            E::NameEmpty(_) => "validation.name.empty",
            E::NameLength(_) => "validation.name.length",
            E::NameInvalidChar(_) => "validation.name.invalid_char",
            E::KanaEmpty(_) => "validation.kana.empty",
            E::KanaLength(_) => "validation.kana.length",
            E::KanaInvalidChar(_) => "validation.kana.invalid_char",
            E::InsurerNumberEmpty => "validation.insurer_number.empty",
            E::InsurerNumberFormat => "validation.insurer_number.format",
            E::CardSymbolEmpty => "validation.card_symbol.empty",
            E::CardSymbolLength => "validation.card_symbol.length",
            E::CardSymbolFormat => "validation.card_symbol.format",
            E::CardNumberEmpty => "validation.card_number.empty",
            E::CardNumberLength => "validation.card_number.length",
            E::CardNumberFormat => "validation.card_number.format",
        }
    }

    /// The form field the message belongs to: `username`, `password`, `password_confirm`,
    /// `email`, `birthdate`, `name`/`family_name`/`given_name`, `kana`/`family_kana`/
    /// `given_kana`, `insurer_number`, `card_symbol`, `card_number`.
    pub fn field(self) -> &'static str {
        use FieldError as E;
        match self {
            E::UsernameEmpty | E::UsernameLength | E::UsernameFullWidth | E::UsernameInvalidChar | E::UsernameTaken => {
                "username"
            }
            E::PasswordConfirmationMismatch => "password_confirm",
            E::PasswordEmpty
            | E::PasswordLength
            | E::PasswordNonAscii
            | E::PasswordControlChar
            | E::PasswordContainsUsername
            | E::PasswordBlocklisted
            | E::PasswordTooSimple
            | E::PasswordRequireUpper
            | E::PasswordRequireLower
            | E::PasswordRequireDigit
            | E::PasswordRequireSymbol
            | E::PasswordSameAsCurrent => "password",
            E::EmailEmpty | E::EmailInUse | E::EmailInvalid | E::EmailTooLong => "email",
            E::BirthdateEmpty
            | E::BirthdateFormat
            | E::BirthdateInvalidDate
            | E::BirthdateOutOfRange
            | E::BirthdateInFuture => "birthdate",
            E::NameEmpty(p) | E::NameLength(p) | E::NameInvalidChar(p) => match p {
                NamePart::Unspecified => "name",
                NamePart::Family => "family_name",
                NamePart::Given => "given_name",
            },
            E::KanaEmpty(p) | E::KanaLength(p) | E::KanaInvalidChar(p) => match p {
                NamePart::Unspecified => "kana",
                NamePart::Family => "family_kana",
                NamePart::Given => "given_kana",
            },
            E::InsurerNumberEmpty | E::InsurerNumberFormat => "insurer_number",
            E::CardSymbolEmpty | E::CardSymbolLength | E::CardSymbolFormat => "card_symbol",
            E::CardNumberEmpty | E::CardNumberLength | E::CardNumberFormat => "card_number",
        }
    }

    /// Values for the placeholders of this error's message: `{min}`/`{max}` for
    /// [`FieldError::PasswordLength`], nothing for every other error.
    pub fn params(self, policy: &PasswordPolicy) -> Vec<(&'static str, String)> {
        match self {
            FieldError::PasswordLength => {
                vec![("min", policy.min_length.to_string()), ("max", policy.max_length.to_string())]
            }
            _ => Vec::new(),
        }
    }

    /// The same error attributed to the given name input (only name and kana errors change).
    pub fn for_part(self, part: NamePart) -> FieldError {
        use FieldError as E;
        match self {
            E::NameEmpty(_) => E::NameEmpty(part),
            E::NameLength(_) => E::NameLength(part),
            E::NameInvalidChar(_) => E::NameInvalidChar(part),
            E::KanaEmpty(_) => E::KanaEmpty(part),
            E::KanaLength(_) => E::KanaLength(part),
            E::KanaInvalidChar(_) => E::KanaInvalidChar(part),
            other => other,
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

impl std::error::Error for FieldError {}

// ---------------------------------------------------------------------------------------------
// Character helpers
// ---------------------------------------------------------------------------------------------

/// Full-width ASCII variants (U+FF01-U+FF5E) → ASCII, ideographic space → space; every other
/// character unchanged. Used for number-like fields only (never for passwords).
fn fold_full_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Dashes and long-vowel marks members type for a hyphen in card symbols, card numbers and
/// dates: `-`, `－`, `‐`, `‑`, `‒`, `–`, `—`, `―`, `−`, `ー`, `ｰ`, `﹣`.
fn is_hyphen_like(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{FF0D}'
            | '\u{2010}'
            | '\u{2011}'
            | '\u{2012}'
            | '\u{2013}'
            | '\u{2014}'
            | '\u{2015}'
            | '\u{2212}'
            | '\u{30FC}'
            | '\u{FF70}'
            | '\u{FE63}'
    )
}

/// Invisible characters that change how text is shown without being seen: soft hyphen,
/// zero-width characters, bidirectional controls, word joiners, BOM, line/paragraph separators.
/// Variation selectors (異体字 IVS) are *not* included: they are legitimate in Japanese names.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{FFFE}'
            | '\u{FFFF}'
    )
}

/// Control (Cc: C0, DEL, C1) or invisible formatting character.
fn is_control_or_invisible(c: char) -> bool {
    c.is_control() || is_invisible_format(c)
}

// ---------------------------------------------------------------------------------------------
// User ID
// ---------------------------------------------------------------------------------------------

/// The lookup form of a typed user ID for login: surrounding whitespace trimmed and ASCII
/// lowercased, *without* checking the rules, so that the login page answers every wrong user ID
/// the same way (SPEC §3) and union-issued IDs from before the rules still work.
pub fn username_lookup_key(input: &str) -> String {
    input.trim().to_ascii_lowercase()
}

/// A new or changed user ID (SPEC §2): surrounding whitespace (including the full-width space)
/// is trimmed, `A-Z` is lowercased, then it must be 8-13 characters of `a-z 0-9 - _ . @`.
///
/// One error is returned, the most helpful first: empty, then full-width characters (typed with
/// the IME on; never converted silently), then other forbidden characters, then the length.
pub fn normalize_username(input: &str) -> Result<String, FieldError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(FieldError::UsernameEmpty);
    }
    let lowered = trimmed.to_ascii_lowercase();
    let mut full_width = false;
    let mut invalid = false;
    for c in lowered.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || USERNAME_SYMBOLS.contains(&c) {
            continue;
        }
        if c.is_ascii() || is_control_or_invisible(c) {
            invalid = true;
        } else {
            full_width = true;
        }
    }
    if full_width {
        return Err(FieldError::UsernameFullWidth);
    }
    if invalid {
        return Err(FieldError::UsernameInvalidChar);
    }
    let len = lowered.chars().count();
    if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&len) {
        return Err(FieldError::UsernameLength);
    }
    Ok(lowered)
}

// ---------------------------------------------------------------------------------------------
// Password
// ---------------------------------------------------------------------------------------------

/// Characters accepted in a password when the realm does not allow Unicode: printable ASCII
/// including space (U+0020-U+007E) and `¥` (U+00A5, what a Japanese keyboard may send for the
/// ¥ key). `¥` is kept as typed, never mapped to `\`.
fn is_password_ascii(c: char) -> bool {
    matches!(c, ' '..='~' | '\u{00A5}')
}

/// Checks a new password against the realm policy (SPEC §2) and returns the string to hash:
/// NFC-normalised when the policy allows Unicode, otherwise exactly as typed (never trimmed,
/// never converted). On failure every violated rule is returned, in a stable order: length,
/// non-ASCII, control characters, user ID, blocklist / too simple, composition.
///
/// Length counts characters, not bytes. The user ID check is case-insensitive and skipped when
/// `username` is empty (self-registration before a user ID exists); "contains" needs a user ID
/// of at least 3 characters so that a short legacy ID does not forbid half the alphabet.
/// A common password is reported as [`FieldError::PasswordBlocklisted`] only, not also as
/// [`FieldError::PasswordTooSimple`].
pub fn validate_password(policy: &PasswordPolicy, username: &str, password: &str) -> Result<String, Vec<FieldError>> {
    if password.is_empty() {
        return Err(vec![FieldError::PasswordEmpty]);
    }
    let candidate: String = if policy.allow_unicode { password.nfc().collect() } else { password.to_owned() };
    let mut errors = Vec::new();

    let len = candidate.chars().count();
    if len < policy.min_length || len > policy.max_length {
        errors.push(FieldError::PasswordLength);
    }

    let mut non_ascii = false;
    let mut control = false;
    for c in candidate.chars() {
        if is_control_or_invisible(c) {
            control = true;
        } else if !policy.allow_unicode && !is_password_ascii(c) {
            non_ascii = true;
        }
    }
    if non_ascii {
        errors.push(FieldError::PasswordNonAscii);
    }
    if control {
        errors.push(FieldError::PasswordControlChar);
    }

    // Comparison form for the user ID and blocklist checks: lowercase, and in Unicode mode also
    // NFKC so that "ｐａｓｓｗｏｒｄ" or "ＴＡＲＯ．ＫＥＮＰＯ" do not slip through.
    let lower = if policy.allow_unicode {
        candidate.nfkc().collect::<String>().to_lowercase()
    } else {
        candidate.to_lowercase()
    };
    let user = username.trim().nfkc().collect::<String>().to_lowercase();
    if !user.is_empty() && (lower == user || (user.chars().count() >= 3 && lower.contains(&user))) {
        errors.push(FieldError::PasswordContainsUsername);
    }

    if policy.check_blocklist {
        if is_blocklisted(&lower) {
            errors.push(FieldError::PasswordBlocklisted);
        } else if is_too_simple(&lower) {
            errors.push(FieldError::PasswordTooSimple);
        }
    }

    let has = |pred: fn(char) -> bool| candidate.chars().any(pred);
    if policy.require_upper && !has(char::is_uppercase) {
        errors.push(FieldError::PasswordRequireUpper);
    }
    if policy.require_lower && !has(char::is_lowercase) {
        errors.push(FieldError::PasswordRequireLower);
    }
    if policy.require_digit && !has(|c| c.is_ascii_digit() || c.is_numeric()) {
        errors.push(FieldError::PasswordRequireDigit);
    }
    if policy.require_symbol && !has(|c| !c.is_alphanumeric() && !c.is_whitespace() && !is_control_or_invisible(c)) {
        errors.push(FieldError::PasswordRequireSymbol);
    }

    if errors.is_empty() { Ok(candidate) } else { Err(errors) }
}

/// `matches_current` is the result of verifying `new_password` against the member's current
/// hash (done by the caller). The manual: 「現在ご使用中のパスワードでは更新できません」.
pub fn password_differs(new_password: &str, matches_current: bool) -> Result<(), FieldError> {
    let _ = new_password;
    if matches_current { Err(FieldError::PasswordSameAsCurrent) } else { Ok(()) }
}

/// 「パスワード」 and 「パスワード確認用」 must be identical (compared as typed).
pub fn password_confirmation_matches(password: &str, confirmation: &str) -> Result<(), FieldError> {
    if password == confirmation { Ok(()) } else { Err(FieldError::PasswordConfirmationMismatch) }
}

/// Common passwords (lowercase): the top of the published breach-corpus lists, keyboard walks,
/// and Japanese favourites and context words (kenpo, hoken, kumiai). Compared in lowercase,
/// whole password or its core once leading/trailing digits and symbols are stripped
/// ("Sakura2024!" → "sakura").
#[rustfmt::skip]
const COMMON_PASSWORDS: &[&str] = &[
    // numbers
    "0000", "1111", "1234", "12345", "123456", "1234567", "12345678", "123456789", "1234567890",
    "0123456789", "000000", "00000000", "111111", "11111111", "121212", "123123", "12341234",
    "123321", "112233", "11223344", "147258", "147258369", "159357", "159753", "654321", "666666",
    "7777777", "88888888", "987654321", "789456123", "741852963", "131313", "101010", "696969",
    "520520", "5201314",
    // keyboard walks
    "qwerty", "qwerty1", "qwerty12", "qwerty123", "qwerty1234", "qwertyuiop", "qwertyui", "qwe123",
    "qweasd", "qweasdzxc", "qazwsx", "qazwsxedc", "1qaz2wsx", "1qazxsw2", "zaq12wsx", "zaq1xsw2",
    "1q2w3e", "1q2w3e4r", "1q2w3e4r5t", "1q2w3e4r5t6y", "q1w2e3r4", "q1w2e3r4t5", "asdfgh",
    "asdfghjk", "asdfghjkl", "asdf1234", "asdfasdf", "asdfqwer", "zxcvbn", "zxcvbnm", "zxcv1234",
    "qwer1234", "qwerqwer", "1234qwer", "azerty", "abc123", "abc12345", "abcd1234", "1234abcd",
    "abcd123", "a1b2c3", "a1b2c3d4", "1a2b3c4d", "a123456", "a12345678", "aa123456", "qq123456",
    "123qwe", "123abc", "abcdef", "abcdefg", "abcdefgh",
    // the word "password" and friends
    "password", "password1", "password12", "password123", "password!", "passw0rd", "p@ssw0rd",
    "p@ssword", "pa$$word", "pass1234", "passpass", "passport", "mypassword", "mypass", "secret",
    "changeme", "default", "letmein", "letmein1", "welcome", "welcome1", "welcome123", "login",
    "access", "admin", "admin123", "administrator", "root", "toor", "guest", "user", "test",
    "test1234", "testtest", "master", "trustno1", "whatever", "nothing", "hello", "hello123",
    "iloveyou", "iloveu", "loveyou", "loveme", "lovely", "forever",
    // names, sports, things
    "monkey", "dragon", "sunshine", "princess", "football", "baseball", "basketball", "soccer",
    "shadow", "superman", "batman", "michael", "jennifer", "jordan", "jordan23", "hunter",
    "hunter2", "freedom", "mustang", "starwars", "charlie", "donald", "computer", "internet",
    "killer", "flower", "summer", "winter", "spring", "autumn", "chocolate", "cookie", "cheese",
    "orange", "banana", "apple", "purple", "silver", "ginger", "maggie", "buster", "tigger",
    "pepper", "ashley", "daniel", "thomas", "jessica", "andrew", "joshua", "matthew", "robert",
    "george", "michelle", "nicole", "harley", "ranger", "angel", "angels", "babygirl", "butterfly",
    "snoopy", "mickey", "minnie", "kitty", "hellokitty", "blink182", "matrix", "london", "paris",
    "america", "google", "yahoo", "facebook", "twitter", "instagram", "iphone", "android",
    "samsung", "microsoft", "windows", "ferrari", "porsche", "mercedes", "liverpool", "chelsea",
    "arsenal", "barcelona", "yankees", "cowboys", "money", "pokemon", "pikachu",
    // Japanese favourites
    "naruto", "doraemon", "anpanman", "gundam", "totoro", "sakura", "hikari", "tsubasa", "daisuki",
    "aishiteru", "arigatou", "arigato", "sayonara", "ganbare", "samurai", "ninja", "sushi", "tokyo",
    "osaka", "kyoto", "yokohama", "nagoya", "fukuoka", "sapporo", "nippon", "japan", "fujisan",
    "tigers", "giants", "hanshin", "suzuki", "tanaka", "takahashi", "watanabe", "yamamoto",
    "hiroshi", "takashi",
    // context words (SPEC §13 "context-specific": this service)
    "kenpo", "kenkohoken", "kenkouhoken", "hoken", "kumiai", "kenpokumiai", "kosmo", "portal",
];

/// Exact match, or match of a core left after stripping leading and/or trailing digits,
/// symbols and spaces (see [`weak_cores`]).
fn is_blocklisted(lower: &str) -> bool {
    COMMON_PASSWORDS.contains(&lower) || weak_cores(lower).iter().any(|core| COMMON_PASSWORDS.contains(core))
}

/// The cores of `lower` once leading, trailing, or both leading and trailing digits, symbols
/// and spaces are stripped — only cores of at least 4 characters, and only when what was
/// stripped is itself weak (at most 6 characters per side, or a pattern like "12345678").
/// "Sakura2024!" → "sakura"; "abcd83920174" keeps its 8 random digits and yields nothing.
fn weak_cores(lower: &str) -> Vec<&str> {
    let strip = |c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c == ' ' || c == '¥';
    let len = lower.len();
    let start = len - lower.trim_start_matches(strip).len();
    let end = lower.trim_end_matches(strip).len();
    let weak_affix = |a: &str| a.chars().count() <= 6 || is_pattern(a);
    let mut out = Vec::new();
    for (s, e) in [(0, end), (start, len), (start, end)] {
        if s >= e || (s == 0 && e == len) {
            continue;
        }
        let (Some(core), Some(prefix), Some(suffix)) = (lower.get(s..e), lower.get(..s), lower.get(e..)) else {
            continue;
        };
        if core.chars().count() >= 4 && weak_affix(prefix) && weak_affix(suffix) && !out.contains(&core) {
            out.push(core);
        }
    }
    out
}

/// Keyboard rows (JIS and US layouts) for keyboard-walk detection, lowercase.
const KEYBOARD_ROWS: &[&str] = &[
    "1234567890-^\\",
    "qwertyuiop@[",
    "asdfghjkl;:]",
    "zxcvbnm,./\\",
    "1234567890-=",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "`1234567890",
];

/// One character repeated, a unit shorter than 8 characters repeated ("abababab", "12341234",
/// "xyz123xyz123", "passpass"), an ascending/descending run ("12345678", "90123456",
/// "hgfedcba") or a straight keyboard walk ("qwertyui", "lkjhgfds") — for the whole password or
/// its core once leading and trailing digits/symbols are stripped ("aaaa1234", "abcd!!!!"; see
/// [`weak_cores`]).
fn is_too_simple(lower: &str) -> bool {
    is_pattern(lower) || weak_cores(lower).iter().any(|core| is_pattern(core))
}

fn is_pattern(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n < 2 {
        return false;
    }
    // Periodic with a period shorter than the default minimum length, repeated at least twice
    // (covers one repeated character). "Xk7#qLm2Xk7#qLm2" (an 8-character unit) passes.
    for period in 1..=7usize {
        if n >= period * 2 && chars.iter().zip(chars.iter().skip(period)).all(|(a, b)| a == b) {
            return true;
        }
    }
    if n < 3 {
        return false;
    }
    // Ascending or descending run of digits (wrapping 9→0) or of letters a-z.
    let steps: Vec<Option<i32>> = chars.windows(2).map(|w| step(w[0], w[1])).collect();
    if let Some(Some(first)) = steps.first()
        && steps.iter().all(|s| *s == Some(*first))
    {
        return true;
    }
    // Straight keyboard walk, forwards or backwards.
    if n >= 4 {
        let reversed: String = chars.iter().rev().collect();
        for row in KEYBOARD_ROWS {
            if row.contains(s) || row.contains(reversed.as_str()) {
                return true;
            }
        }
    }
    false
}

/// +1 / -1 between neighbouring digits (modulo 10) or letters a-z; `None` otherwise.
fn step(a: char, b: char) -> Option<i32> {
    let (ai, bi) = (a as i32, b as i32);
    if a.is_ascii_digit() && b.is_ascii_digit() {
        match (bi - ai).rem_euclid(10) {
            1 => Some(1),
            9 => Some(-1),
            _ => None,
        }
    } else if a.is_ascii_lowercase() && b.is_ascii_lowercase() {
        match bi - ai {
            1 => Some(1),
            -1 => Some(-1),
            _ => None,
        }
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// E-mail
// ---------------------------------------------------------------------------------------------

/// A new e-mail address (SPEC §2, §4 item 5). Surrounding whitespace is trimmed, the domain is
/// lowercased, the local part is kept as typed.
///
/// Errors: empty → `[EmailEmpty]`; more than 255 characters → `[EmailTooLong, EmailInvalid]`
/// (the manual shows message 3 together with 4); otherwise anything that is not a plain
/// `local@domain` → `[EmailInvalid]`. Plain means: ASCII only; local part of at most 64
/// characters from letters, digits and ``! # $ % & ' * + - / = ^ _ ` { | } ~`` (RFC 5322 atext
/// without `?`, which the manual refuses) separated by single dots, not starting or ending with
/// a dot (so no dot right before `@`); no quoted local parts; a domain of at least two DNS labels
/// (letters, digits, inner hyphens, at most 63 each), the last one not all digits; no IP
/// literals.
pub fn normalize_email(input: &str) -> Result<String, Vec<FieldError>> {
    let s = input.trim();
    if s.is_empty() {
        return Err(vec![FieldError::EmailEmpty]);
    }
    if s.chars().count() > EMAIL_MAX_CHARS {
        return Err(vec![FieldError::EmailTooLong, FieldError::EmailInvalid]);
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Err(vec![FieldError::EmailInvalid]);
    };
    if !is_valid_local_part(local) || !is_valid_domain(domain) {
        return Err(vec![FieldError::EmailInvalid]);
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// The form to compare for "used by another account" (SPEC §2 uniqueness): the whole
/// normalised address lowercased (practically every mailbox provider ignores case in the local
/// part, and `Taro@` and `taro@` should not pass as two family members' addresses).
pub fn email_uniqueness_key(normalized: &str) -> String {
    normalized.to_lowercase()
}

fn is_valid_local_part(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+-/=^_`{|}~";
    !local.is_empty()
        && local.len() <= EMAIL_LOCAL_MAX_CHARS
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c)))
}

fn is_valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= EMAIL_LABEL_MAX_CHARS
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let tld_ok = labels.last().is_some_and(|t| t.len() >= 2 && !t.chars().all(|c| c.is_ascii_digit()));
    labels.iter().all(label_ok) && tld_ok
}

// ---------------------------------------------------------------------------------------------
// Birthdate
// ---------------------------------------------------------------------------------------------

/// A birthdate typed as 8 digits `YYYYMMDD` (e.g. `19790822`); full-width digits are
/// normalised, and `YYYY-MM-DD` / `YYYY/MM/DD` / `YYYY年M月D日` (month and day may be one digit
/// with a separator, full-width separators accepted) are accepted for convenience. The year must be
/// within 1900..=2100 and the date must exist. Whether it lies in the future needs a clock: see
/// [`check_birthdate_not_future`].
pub fn parse_birthdate(input: &str) -> Result<chrono::NaiveDate, FieldError> {
    let folded: String =
        input.trim().chars().map(fold_full_width).map(|c| if is_hyphen_like(c) { '-' } else { c }).collect();
    let folded = folded.strip_suffix('日').unwrap_or(&folded).replace(['年', '月'], "/");
    if folded.is_empty() {
        return Err(FieldError::BirthdateEmpty);
    }
    let (y, m, d) = split_date(&folded).ok_or(FieldError::BirthdateFormat)?;
    if !(BIRTH_YEAR_MIN..=BIRTH_YEAR_MAX).contains(&y) {
        return Err(FieldError::BirthdateOutOfRange);
    }
    chrono::NaiveDate::from_ymd_opt(y, m, d).ok_or(FieldError::BirthdateInvalidDate)
}

/// Year, month, day from `YYYYMMDD`, `YYYY-M-D` or `YYYY/M/D` (ASCII digits only).
fn split_date(s: &str) -> Option<(i32, u32, u32)> {
    let all_digits = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
    if s.len() == 8 && all_digits(s) {
        let (y, md) = s.split_at(4);
        let (m, d) = md.split_at(2);
        return Some((y.parse().ok()?, m.parse().ok()?, d.parse().ok()?));
    }
    let sep = if s.contains('-') { '-' } else { '/' };
    let parts: Vec<&str> = s.split(sep).collect();
    match parts.as_slice() {
        [y, m, d]
            if y.len() == 4
                && (1..=2).contains(&m.len())
                && (1..=2).contains(&d.len())
                && [y, m, d].iter().all(|p| all_digits(p)) =>
        {
            Some((y.parse().ok()?, m.parse().ok()?, d.parse().ok()?))
        }
        _ => None,
    }
}

/// A birthdate after `today` is refused ([`FieldError::BirthdateInFuture`]).
pub fn check_birthdate_not_future(date: chrono::NaiveDate, today: chrono::NaiveDate) -> Result<(), FieldError> {
    if date > today { Err(FieldError::BirthdateInFuture) } else { Ok(()) }
}

// ---------------------------------------------------------------------------------------------
// Names and readings
// ---------------------------------------------------------------------------------------------

/// Family or given name (errors attributed to field `name`; see [`normalize_name_part`]):
/// surrounding whitespace trimmed, NFC, 1-50 characters, no control or invisible formatting
/// characters. Kanji variants (IVS) and any script are accepted.
pub fn normalize_name(input: &str) -> Result<String, FieldError> {
    normalize_name_part(NamePart::Unspecified, input)
}

/// [`normalize_name`] with errors attributed to `family_name` / `given_name`.
pub fn normalize_name_part(part: NamePart, input: &str) -> Result<String, FieldError> {
    let name: String = input.trim().nfc().collect();
    if name.is_empty() {
        return Err(FieldError::NameEmpty(part));
    }
    if name.chars().any(is_control_or_invisible) {
        return Err(FieldError::NameInvalidChar(part));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(FieldError::NameLength(part));
    }
    Ok(name)
}

/// Reading in full-width katakana (errors attributed to field `kana`; see
/// [`normalize_kana_part`]). NFKC first (half-width ｹﾝﾎﾟ → ケンポ), spaces become one full-width
/// space each run, surrounding spaces are trimmed; then only U+30A0-U+30FF (katakana, `ー`, `・`)
/// and U+3000 are allowed, 1-50 characters. Hiragana is refused, not converted.
pub fn normalize_kana(input: &str) -> Result<String, FieldError> {
    normalize_kana_part(NamePart::Unspecified, input)
}

/// [`normalize_kana`] with errors attributed to `family_kana` / `given_kana`.
pub fn normalize_kana_part(part: NamePart, input: &str) -> Result<String, FieldError> {
    let nfkc: String = input.nfkc().collect();
    let mut out = String::with_capacity(nfkc.len());
    let mut pending_space = false;
    for c in nfkc.trim().chars() {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space {
            out.push('\u{3000}');
            pending_space = false;
        }
        out.push(c);
    }
    if out.is_empty() {
        return Err(FieldError::KanaEmpty(part));
    }
    if !out.chars().all(|c| matches!(c, '\u{30A0}'..='\u{30FF}' | '\u{3000}')) {
        return Err(FieldError::KanaInvalidChar(part));
    }
    if out.chars().count() > KANA_MAX_CHARS {
        return Err(FieldError::KanaLength(part));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Union data
// ---------------------------------------------------------------------------------------------

/// 保険者番号: exactly 8 digits after full-width → ASCII, leading zeros kept, surrounding
/// whitespace trimmed.
pub fn normalize_insurer_number(input: &str) -> Result<String, FieldError> {
    let s: String = input.trim().chars().map(fold_full_width).collect();
    if s.is_empty() {
        return Err(FieldError::InsurerNumberEmpty);
    }
    if s.len() == INSURER_NUMBER_DIGITS && s.chars().all(|c| c.is_ascii_digit()) {
        Ok(s)
    } else {
        Err(FieldError::InsurerNumberFormat)
    }
}

/// Full-width → ASCII and every hyphen-like character → `-`, surrounding whitespace trimmed.
fn fold_card_input(input: &str) -> String {
    input.trim().chars().map(|c| if is_hyphen_like(c) { '-' } else { fold_full_width(c) }).collect()
}

/// Hyphens only between other characters, never two in a row.
fn hyphens_well_placed(s: &str) -> bool {
    !s.starts_with('-') && !s.ends_with('-') && !s.contains("--")
}

/// 記号: 1-20 characters of digits, ASCII letters (stored upper-case) and hyphens; full-width
/// characters are normalised and `ー` `－` `‐` (and other dashes) become `-`.
pub fn normalize_card_symbol(input: &str) -> Result<String, FieldError> {
    let s = fold_card_input(input).to_ascii_uppercase();
    if s.is_empty() {
        return Err(FieldError::CardSymbolEmpty);
    }
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || !hyphens_well_placed(&s) {
        return Err(FieldError::CardSymbolFormat);
    }
    if s.chars().count() > CARD_SYMBOL_MAX_CHARS {
        return Err(FieldError::CardSymbolLength);
    }
    Ok(s)
}

/// 番号: 1-20 characters of digits and hyphens (full-width normalised, dashes → `-`).
pub fn normalize_card_number(input: &str) -> Result<String, FieldError> {
    let s = fold_card_input(input);
    if s.is_empty() {
        return Err(FieldError::CardNumberEmpty);
    }
    if !s.chars().all(|c| c.is_ascii_digit() || c == '-') || !hyphens_well_placed(&s) {
        return Err(FieldError::CardNumberFormat);
    }
    if s.chars().count() > CARD_NUMBER_MAX_CHARS {
        return Err(FieldError::CardNumberLength);
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn pw(p: &str) -> Result<String, Vec<FieldError>> {
        validate_password(&PasswordPolicy::default(), "taro.kenpo", p)
    }

    fn pw_errs(p: &str) -> Vec<FieldError> {
        pw(p).err().unwrap_or_default()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    // ----- user ID ---------------------------------------------------------------------------

    #[test]
    fn username_length_boundaries() {
        assert_eq!(normalize_username("abcdefg"), Err(FieldError::UsernameLength)); // 7
        assert_eq!(normalize_username("abcdefgh").as_deref(), Ok("abcdefgh")); // 8
        assert_eq!(normalize_username("abcdefghijklm").as_deref(), Ok("abcdefghijklm")); // 13
        assert_eq!(normalize_username("abcdefghijklmn"), Err(FieldError::UsernameLength)); // 14
        assert_eq!(normalize_username("a"), Err(FieldError::UsernameLength));
    }

    #[test]
    fn username_each_allowed_symbol_and_digits() {
        for sym in ['-', '_', '.', '@'] {
            let id = format!("taro{sym}1234");
            assert_eq!(normalize_username(&id), Ok(id.clone()), "{sym}");
        }
        assert_eq!(normalize_username("12345678").as_deref(), Ok("12345678"));
        assert_eq!(normalize_username("a-b_c.d@e").as_deref(), Ok("a-b_c.d@e"));
        assert_eq!(normalize_username("0123456789abc").as_deref(), Ok("0123456789abc"));
    }

    #[test]
    fn username_upper_case_is_lowercased() {
        assert_eq!(normalize_username("TaroKenpo01").as_deref(), Ok("tarokenpo01"));
        assert_eq!(normalize_username("ABCDEFGH").as_deref(), Ok("abcdefgh"));
        assert_eq!(username_lookup_key("  TARO.Kenpo "), "taro.kenpo");
        // The lookup key does not validate: legacy IDs still resolve.
        assert_eq!(username_lookup_key("ABC"), "abc");
    }

    #[test]
    fn username_trims_surrounding_whitespace() {
        assert_eq!(normalize_username("  tarokenpo  ").as_deref(), Ok("tarokenpo"));
        assert_eq!(normalize_username("\ttarokenpo\n").as_deref(), Ok("tarokenpo"));
        assert_eq!(normalize_username("\u{3000}tarokenpo\u{3000}").as_deref(), Ok("tarokenpo"));
        // Trimming happens before the length count: 7 characters plus spaces is still too short.
        assert_eq!(normalize_username(" abcdefg "), Err(FieldError::UsernameLength));
    }

    #[test]
    fn username_full_width_refused() {
        assert_eq!(normalize_username("ｔａｒｏｋｅｎｐｏ"), Err(FieldError::UsernameFullWidth));
        assert_eq!(normalize_username("taro１２３４"), Err(FieldError::UsernameFullWidth));
        assert_eq!(normalize_username("たろうけんぽ12"), Err(FieldError::UsernameFullWidth));
        assert_eq!(normalize_username("taro　kenpo"), Err(FieldError::UsernameFullWidth));
        assert_eq!(normalize_username("taro＠kenpo"), Err(FieldError::UsernameFullWidth));
        // Full-width wins over other problems: it is the likeliest cause (IME left on).
        assert_eq!(normalize_username("ａ b"), Err(FieldError::UsernameFullWidth));
    }

    #[test]
    fn username_metacharacters_and_controls_refused() {
        #[rustfmt::skip]
        let cases = [
            "taro'kenpo", "taro\"kenpo", "taro<kenpo", "taro>kenpo", "taro;kenpo", "taro kenpo",
            "taro/kenpo", "taro\\kenpo", "taro&kenpo", "taro%kenpo", "taro+kenpo", "taro#kenpo",
            "taro!kenpo", "taro?kenpo", "taro=kenpo", "taro,kenpo", "taro*kenpo", "taro(kenpo",
            "taro`kenpo", "taro~kenpo", "taro|kenpo", "taro:kenpo", "taro$kenpo", "taro{kenpo",
            "' or 1=1 --", "<script>x", "taro\u{0}kenpo", "taro\tkenpo", "taro\nkenpo",
            "taro\u{7f}kenpo", "taro\u{85}kenpo", "taro\u{200b}kenpo",
        ];
        for bad in cases {
            assert_eq!(normalize_username(bad), Err(FieldError::UsernameInvalidChar), "{bad:?}");
        }
    }

    #[test]
    fn username_empty() {
        assert_eq!(normalize_username(""), Err(FieldError::UsernameEmpty));
        assert_eq!(normalize_username("   "), Err(FieldError::UsernameEmpty));
        assert_eq!(normalize_username("\u{3000}"), Err(FieldError::UsernameEmpty));
    }

    // ----- password --------------------------------------------------------------------------

    #[test]
    fn password_policy_defaults() {
        let p = PasswordPolicy::default();
        assert_eq!((p.min_length, p.max_length), (8, 64));
        assert!(!p.allow_unicode);
        assert!(p.check_blocklist);
        assert!(!(p.require_upper || p.require_lower || p.require_digit || p.require_symbol));
    }

    #[test]
    fn password_length_boundaries() {
        assert_eq!(pw_errs("Xk7#qLm"), vec![FieldError::PasswordLength]); // 7
        assert_eq!(pw("Xk7#qLm2").as_deref(), Ok("Xk7#qLm2")); // 8
        let p64: String = "Xk7#qLm2".repeat(8);
        let p64 = format!("{}Zz", &p64[..62]);
        assert_eq!(p64.chars().count(), 64);
        assert_eq!(pw(&p64), Ok(p64.clone()));
        let p65 = format!("{p64}w");
        assert_eq!(pw_errs(&p65), vec![FieldError::PasswordLength]);
        // Length is counted in characters, not bytes: 8 × ¥ (2 bytes each) plus letters.
        assert_eq!(pw("¥¥mK9pQz").as_deref(), Ok("¥¥mK9pQz"));
    }

    #[test]
    fn password_length_follows_policy_and_params() {
        let policy = PasswordPolicy { min_length: 15, max_length: 20, ..PasswordPolicy::default() };
        assert_eq!(validate_password(&policy, "", "Xk7#qLm2Xk7#qL"), Err(vec![FieldError::PasswordLength]));
        assert!(validate_password(&policy, "", "Xk7#qLm2Xk7#qLm").is_ok());
        assert_eq!(
            FieldError::PasswordLength.params(&policy),
            vec![("min", "15".to_string()), ("max", "20".to_string())]
        );
        assert!(FieldError::UsernameLength.params(&policy).is_empty());
    }

    #[test]
    fn password_every_printable_ascii_accepted() {
        // The manual's list !"#$%&'()=~`{+*}<>?^¥@[;:],./ plus the rest of printable ASCII.
        let manual = "!\"#$%&'()=~`{+*}<>?^¥@[;:],./";
        assert!(pw(&format!("Km9{manual}")).is_ok());
        let all: Vec<char> = (0x20u8..=0x7e).map(char::from).collect();
        for chunk in all.chunks(48) {
            let p: String = chunk.iter().collect();
            assert!(pw(&p).is_ok(), "{p:?}: {:?}", pw(&p));
        }
    }

    #[test]
    fn password_space_and_yen_accepted_as_typed() {
        assert_eq!(pw("my cat ¥ 42kg").as_deref(), Ok("my cat ¥ 42kg"));
        // Leading/trailing spaces are part of the password: never trimmed.
        assert_eq!(pw(" Xk7#qLm2 ").as_deref(), Ok(" Xk7#qLm2 "));
        // ¥ is not turned into a backslash (nor the other way round).
        assert_eq!(pw("Xk7¥qLm2").as_deref(), Ok("Xk7¥qLm2"));
        assert_eq!(pw("Xk7\\qLm2").as_deref(), Ok("Xk7\\qLm2"));
    }

    #[test]
    fn password_full_width_refused_never_converted() {
        assert_eq!(pw_errs("Ｘｋ７＃ｑＬｍ２"), vec![FieldError::PasswordNonAscii]);
        assert_eq!(pw_errs("Xk7#qLm2あ"), vec![FieldError::PasswordNonAscii]);
        assert_eq!(pw_errs("Xk7#　qLm2"), vec![FieldError::PasswordNonAscii]); // full-width space
        assert_eq!(pw_errs("Xk7#qLm2￥"), vec![FieldError::PasswordNonAscii]); // full-width yen
        assert_eq!(pw_errs("Xk7#qLm2é"), vec![FieldError::PasswordNonAscii]);
        assert_eq!(pw_errs("Xk7#qLm2🔑"), vec![FieldError::PasswordNonAscii]);
    }

    #[test]
    fn password_control_chars_refused_always() {
        for bad in ["Xk7#\tqLm2", "Xk7#qLm2\n", "Xk7#\u{0}qLm2", "Xk7#\u{7f}qLm2", "Xk7#\u{1b}qLm2"] {
            assert_eq!(pw_errs(bad), vec![FieldError::PasswordControlChar], "{bad:?}");
        }
        let unicode = PasswordPolicy { allow_unicode: true, ..PasswordPolicy::default() };
        for bad in ["Xk7#\tqLm2", "Xk7#\u{85}qLm2", "Xk7#\u{200b}qLm2", "Xk7#\u{202e}qLm2"] {
            assert_eq!(validate_password(&unicode, "", bad), Err(vec![FieldError::PasswordControlChar]), "{bad:?}");
        }
    }

    #[test]
    fn password_must_not_contain_username() {
        assert_eq!(pw_errs("taro.kenpo"), vec![FieldError::PasswordContainsUsername]);
        assert_eq!(pw_errs("TARO.KENPO"), vec![FieldError::PasswordContainsUsername]);
        assert_eq!(pw_errs("xx Taro.Kenpo!9"), vec![FieldError::PasswordContainsUsername]);
        assert!(pw("taro.kenp0 Zq").is_ok());
        // Username given un-normalised by the caller.
        let p = PasswordPolicy::default();
        assert_eq!(
            validate_password(&p, " TaroKenpo ", "zz-tarokenpo-zz"),
            Err(vec![FieldError::PasswordContainsUsername])
        );
        // No user ID yet (self-registration): the rule is skipped.
        assert!(validate_password(&p, "", "Xk7#qLm2").is_ok());
        // Very short legacy ID: only equality counts.
        assert!(validate_password(&p, "ab", "abXk7#qLm2").is_ok());
    }

    #[test]
    fn password_blocklist() {
        #[rustfmt::skip]
        let cases = [
            "password", "Password", "PASSWORD1", "p@ssw0rd", "iloveyou", "qwertyuiop", "1qaz2wsx",
            "sakura", "Sakura2024!", "doraemon", "kenpo1234", "!!password!!", "12345678",
            "123456789",
        ];
        for bad in cases {
            assert!(pw_errs(bad).contains(&FieldError::PasswordBlocklisted), "{bad}");
            assert!(!pw_errs(bad).contains(&FieldError::PasswordTooSimple), "{bad}");
        }
        // A common word with a long random suffix is not "the same" password.
        assert!(pw("password83920174").is_ok());
        assert!(pw("sakuramochi-77").is_ok());
        let off = PasswordPolicy { check_blocklist: false, ..PasswordPolicy::default() };
        assert!(validate_password(&off, "", "password").is_ok());
        assert!(validate_password(&off, "", "aaaaaaaa").is_ok());
    }

    #[test]
    fn password_blocklist_is_lowercase_and_unique() {
        assert!(COMMON_PASSWORDS.len() >= 200, "{}", COMMON_PASSWORDS.len());
        let mut seen = std::collections::HashSet::new();
        for p in COMMON_PASSWORDS {
            assert_eq!(*p, p.to_lowercase(), "{p}");
            assert!(seen.insert(*p), "duplicate {p}");
        }
    }

    #[test]
    fn password_repeats_and_sequences_refused() {
        #[rustfmt::skip]
        let cases = [
            "aaaaaaaa", "11111111", "        ", "!!!!!!!!", "abcdefgh", "hgfedcba", "ABCDEFGH",
            "87654321", "90123456", "34567890", "abababab", "abcabcab", "12341234", "asdfghjk",
            "lkjhgfds", "zxcvbnm,", "qwertyui", "aaaa1234", "efgh5678", "abcd!!!!", "xyz123xyz123",
            "Xk7#qLmXk7#qLm",
        ];
        for bad in cases {
            let e = pw_errs(bad);
            assert!(
                e.contains(&FieldError::PasswordTooSimple) || e.contains(&FieldError::PasswordBlocklisted),
                "{bad}: {e:?}"
            );
        }
        for ok in
            ["abcdefgx", "Xk7#qLm2", "abcd83920174", "correct horse battery staple", "Tr0ub4dor&3", "Xk7#qLm2Xk7#qLm2"]
        {
            assert!(pw(ok).is_ok(), "{ok}: {:?}", pw(ok));
        }
    }

    #[test]
    fn password_unicode_option_nfc() {
        let p = PasswordPolicy { allow_unicode: true, ..PasswordPolicy::default() };
        // "パスワード" written with a combining voiced mark composes to the precomposed form.
        let decomposed = "ハ\u{309a}スワート\u{3099}ですよ";
        assert_eq!(validate_password(&p, "", decomposed).as_deref(), Ok("パスワードですよ"));
        assert_eq!(validate_password(&p, "", "Cafe\u{301} au lait").as_deref(), Ok("Café au lait"));
        // Full-width characters are accepted as typed (NFC, not NFKC).
        assert_eq!(validate_password(&p, "", "ｐａｓｓ　ｗｏｒｄ").as_deref(), Ok("ｐａｓｓ　ｗｏｒｄ"));
        // Length is checked after NFC: 7 composed characters are too short.
        assert_eq!(validate_password(&p, "", "ハ\u{309a}スワート\u{3099}です"), Err(vec![FieldError::PasswordLength]));
        // Full-width look-alikes of a common password or of the user ID are still caught.
        assert_eq!(validate_password(&p, "", "ｐａｓｓｗｏｒｄ"), Err(vec![FieldError::PasswordBlocklisted]));
        assert_eq!(
            validate_password(&p, "taro.kenpo", "ＴＡＲＯ．ＫＥＮＰＯ!!"),
            Err(vec![FieldError::PasswordContainsUsername])
        );
        // Without the option the same input is refused with its own message.
        assert!(pw_errs(decomposed).contains(&FieldError::PasswordNonAscii));
    }

    #[test]
    fn password_composition_rules() {
        let all = PasswordPolicy {
            require_upper: true,
            require_lower: true,
            require_digit: true,
            require_symbol: true,
            ..PasswordPolicy::default()
        };
        assert_eq!(
            validate_password(&all, "", "xkqlmzvw"),
            Err(vec![
                FieldError::PasswordRequireUpper,
                FieldError::PasswordRequireDigit,
                FieldError::PasswordRequireSymbol
            ])
        );
        assert_eq!(
            validate_password(&all, "", "XKQLMZVW"),
            Err(vec![
                FieldError::PasswordRequireLower,
                FieldError::PasswordRequireDigit,
                FieldError::PasswordRequireSymbol
            ])
        );
        assert!(validate_password(&all, "", "Xk7#qLm2").is_ok());
        assert!(validate_password(&all, "", "Xk7¥qLm2").is_ok()); // ¥ counts as a symbol
        assert_eq!(
            validate_password(&all, "", "Xk7 qLm2"),
            Err(vec![FieldError::PasswordRequireSymbol]) // a space is not a symbol
        );
    }

    #[test]
    fn password_returns_all_violations() {
        let p = PasswordPolicy { require_digit: true, ..PasswordPolicy::default() };
        assert_eq!(
            validate_password(&p, "taro.kenpo", "\u{3042}\ttaro.kenpo"),
            Err(vec![
                FieldError::PasswordNonAscii,
                FieldError::PasswordControlChar,
                FieldError::PasswordContainsUsername,
                FieldError::PasswordRequireDigit,
            ])
        );
        assert_eq!(
            validate_password(&p, "taro.kenpo", "aaaa"),
            Err(vec![FieldError::PasswordLength, FieldError::PasswordTooSimple, FieldError::PasswordRequireDigit])
        );
        assert_eq!(pw(""), Err(vec![FieldError::PasswordEmpty]));
    }

    #[test]
    fn password_same_as_current_and_confirmation() {
        assert_eq!(password_differs("Xk7#qLm2", true), Err(FieldError::PasswordSameAsCurrent));
        assert_eq!(password_differs("Xk7#qLm2", false), Ok(()));
        assert_eq!(FieldError::PasswordSameAsCurrent.key(), "validation.password.same_as_current");
        assert_eq!(password_confirmation_matches("Xk7#qLm2", "Xk7#qLm2"), Ok(()));
        assert_eq!(
            password_confirmation_matches("Xk7#qLm2", "Xk7#qLm2 "),
            Err(FieldError::PasswordConfirmationMismatch)
        );
        assert_eq!(FieldError::PasswordConfirmationMismatch.field(), "password_confirm");
    }

    // ----- e-mail ----------------------------------------------------------------------------

    /// A syntactically valid address of exactly `n` characters (n ≥ 70).
    fn email_of_len(n: usize) -> String {
        let local = "a".repeat(64);
        let mut domain_len = n - 65; // after "local@"
        let mut labels = Vec::new();
        while domain_len > 0 {
            if domain_len <= 63 {
                labels.push("b".repeat(domain_len - 3) + ".jp");
                domain_len = 0;
            } else {
                let take = (domain_len - 4).min(63);
                labels.push("c".repeat(take));
                domain_len -= take + 1;
            }
        }
        let e = format!("{local}@{}", labels.join("."));
        assert_eq!(e.chars().count(), n);
        e
    }

    #[test]
    fn email_four_messages() {
        assert_eq!(normalize_email(""), Err(vec![FieldError::EmailEmpty]));
        assert_eq!(normalize_email("   "), Err(vec![FieldError::EmailEmpty]));
        assert_eq!(normalize_email("a?b@c.jp"), Err(vec![FieldError::EmailInvalid]));
        let long = email_of_len(256);
        assert_eq!(normalize_email(&long), Err(vec![FieldError::EmailTooLong, FieldError::EmailInvalid]));
        // The fourth message ("used by another account") is decided by the caller.
        assert_eq!(FieldError::EmailInUse.key(), "validation.email.in_use");
        assert_eq!(FieldError::EmailInUse.field(), "email");
    }

    #[test]
    fn email_255_vs_256() {
        let ok = email_of_len(255);
        assert_eq!(normalize_email(&ok), Ok(ok.clone()));
        let too_long = email_of_len(256);
        let e = normalize_email(&too_long).unwrap_err();
        assert!(e.contains(&FieldError::EmailTooLong) && e.contains(&FieldError::EmailInvalid));
        // Even otherwise garbage input of 256+ characters gets both messages.
        assert_eq!(normalize_email(&"x".repeat(300)), Err(vec![FieldError::EmailTooLong, FieldError::EmailInvalid]));
        // Counting happens after trimming.
        assert_eq!(normalize_email(&format!("  {ok}  ")), Ok(ok));
    }

    #[test]
    fn email_invalid_forms() {
        #[rustfmt::skip]
        let cases = [
            "a.@b.jp", "a?b@c.jp", "a@b", "a@b.", "a@.b.jp", "a@b..jp", "a..b@c.jp", ".a@b.jp",
            "ab.jp", "a@@b.jp", "a@b@c.jp", "a b@c.jp", "a@b c.jp", "@b.jp", "a@", "a@-b.jp",
            "a@b-.jp", "a@b_c.jp", "a@b.j", "a@1.2.3.4", "a@[1.2.3.4]", "\"a b\"@c.jp",
            "たろう@example.jp", "taro@例え.jp", "ｔａｒｏ@example.jp", "taro@example.jp?x", "a(b)@c.jp",
            "a,b@c.jp", "a;b@c.jp", "a<b>@c.jp", "a\\b@c.jp", "a\"b@c.jp", "a\tb@c.jp", "a:b@c.jp",
        ];
        for bad in cases {
            assert_eq!(normalize_email(bad), Err(vec![FieldError::EmailInvalid]), "{bad:?}");
        }
        let long_local = format!("{}@example.jp", "a".repeat(65));
        assert_eq!(normalize_email(&long_local), Err(vec![FieldError::EmailInvalid]));
        let long_label = format!("a@{}.jp", "b".repeat(64));
        assert_eq!(normalize_email(&long_label), Err(vec![FieldError::EmailInvalid]));
    }

    #[test]
    fn email_valid_and_normalised() {
        assert_eq!(normalize_email("taro.kenpo+x@example.co.jp").as_deref(), Ok("taro.kenpo+x@example.co.jp"));
        // Domain lowercased, local part kept as typed, surrounding whitespace trimmed.
        assert_eq!(normalize_email("  Taro.Kenpo@Example.CO.JP \u{3000}").as_deref(), Ok("Taro.Kenpo@example.co.jp"));
        for ok in [
            "a@b.jp",
            "a_b-c@sub-domain.example.com",
            "o'brien@example.ie",
            "1234@567.jp",
            "x!#$%&'*+-/=^_`{|}~y@example.com",
            "a@xn--eckwd4c7c.xn--zckzah",
        ] {
            assert_eq!(normalize_email(ok).as_deref(), Ok(ok), "{ok}");
        }
        assert_eq!(email_uniqueness_key("Taro.Kenpo@example.co.jp"), "taro.kenpo@example.co.jp");
        assert_eq!(normalize_email("taro@example.jp\n").as_deref(), Ok("taro@example.jp"));
    }

    // ----- birthdate -------------------------------------------------------------------------

    #[test]
    fn birthdate_valid_forms() {
        assert_eq!(parse_birthdate("19790822"), Ok(date(1979, 8, 22)));
        assert_eq!(parse_birthdate("１９７９０８２２"), Ok(date(1979, 8, 22)));
        assert_eq!(parse_birthdate(" 19790822 "), Ok(date(1979, 8, 22)));
        assert_eq!(parse_birthdate("1979-08-22"), Ok(date(1979, 8, 22)));
        assert_eq!(parse_birthdate("1979/08/22"), Ok(date(1979, 8, 22)));
        assert_eq!(parse_birthdate("1979/8/2"), Ok(date(1979, 8, 2)));
        assert_eq!(parse_birthdate("１９７９／０８／２２"), Ok(date(1979, 8, 22)));
        assert_eq!(parse_birthdate("１９７９－０８－２２"), Ok(date(1979, 8, 22)));
        assert_eq!(parse_birthdate("1979年8月22日"), Ok(date(1979, 8, 22)));
        assert_eq!(parse_birthdate("１９７９年０８月２２日"), Ok(date(1979, 8, 22)));
        assert_eq!(parse_birthdate("20000229"), Ok(date(2000, 2, 29)));
        assert_eq!(parse_birthdate("19000101"), Ok(date(1900, 1, 1)));
        assert_eq!(parse_birthdate("21001231"), Ok(date(2100, 12, 31)));
    }

    #[test]
    fn birthdate_invalid() {
        assert_eq!(parse_birthdate("19790230"), Err(FieldError::BirthdateInvalidDate));
        assert_eq!(parse_birthdate("19791301"), Err(FieldError::BirthdateInvalidDate));
        assert_eq!(parse_birthdate("19790000"), Err(FieldError::BirthdateInvalidDate));
        assert_eq!(parse_birthdate("19000229"), Err(FieldError::BirthdateInvalidDate));
        assert_eq!(parse_birthdate("1979082"), Err(FieldError::BirthdateFormat));
        assert_eq!(parse_birthdate("197908221"), Err(FieldError::BirthdateFormat));
        assert_eq!(parse_birthdate("abcdefgh"), Err(FieldError::BirthdateFormat));
        assert_eq!(parse_birthdate("1979O822"), Err(FieldError::BirthdateFormat));
        assert_eq!(parse_birthdate("昭和54年8月22日"), Err(FieldError::BirthdateFormat));
        assert_eq!(parse_birthdate("1979-08/22"), Err(FieldError::BirthdateFormat));
        assert_eq!(parse_birthdate("79-08-22"), Err(FieldError::BirthdateFormat));
        assert_eq!(parse_birthdate("+1979082"), Err(FieldError::BirthdateFormat));
        assert_eq!(parse_birthdate(""), Err(FieldError::BirthdateEmpty));
        assert_eq!(parse_birthdate("  "), Err(FieldError::BirthdateEmpty));
        assert_eq!(parse_birthdate("18991231"), Err(FieldError::BirthdateOutOfRange));
        assert_eq!(parse_birthdate("21010101"), Err(FieldError::BirthdateOutOfRange));
        assert_eq!(parse_birthdate("05408220"), Err(FieldError::BirthdateOutOfRange));
    }

    #[test]
    fn birthdate_future() {
        let today = date(2025, 4, 1);
        assert_eq!(check_birthdate_not_future(date(2025, 4, 1), today), Ok(()));
        assert_eq!(check_birthdate_not_future(date(2025, 4, 2), today), Err(FieldError::BirthdateInFuture));
    }

    // ----- names and kana --------------------------------------------------------------------

    #[test]
    fn kana_normalisation() {
        assert_eq!(normalize_kana("ｹﾝﾎﾟ").as_deref(), Ok("ケンポ"));
        assert_eq!(normalize_kana("ｹﾝｺｳ ﾀﾛｳ").as_deref(), Ok("ケンコウ\u{3000}タロウ"));
        assert_eq!(normalize_kana("ガッコウ").as_deref(), Ok("ガッコウ"));
        assert_eq!(normalize_kana("ｶﾞｯｺｳ").as_deref(), Ok("ガッコウ"));
        assert_eq!(normalize_kana("ケンポ　タロウ").as_deref(), Ok("ケンポ\u{3000}タロウ"));
        assert_eq!(normalize_kana(" ケンポ  　タロウ ").as_deref(), Ok("ケンポ\u{3000}タロウ"));
        assert_eq!(normalize_kana("ヴァイオリン").as_deref(), Ok("ヴァイオリン"));
        assert_eq!(normalize_kana("マイケル・ジョーダン").as_deref(), Ok("マイケル・ジョーダン"));
        // Decomposed voiced marks compose.
        assert_eq!(normalize_kana("ホ\u{309a}ン").as_deref(), Ok("ポン"));
    }

    #[test]
    fn kana_prolonged_sound_mark_allowed() {
        assert_eq!(normalize_kana("ユーザー").as_deref(), Ok("ユーザー"));
        assert_eq!(normalize_kana("ﾕｰｻﾞｰ").as_deref(), Ok("ユーザー"));
    }

    #[test]
    fn kana_refused() {
        assert_eq!(normalize_kana("けんぽ"), Err(FieldError::KanaInvalidChar(NamePart::Unspecified)));
        assert_eq!(normalize_kana("ケンぽ"), Err(FieldError::KanaInvalidChar(NamePart::Unspecified)));
        assert_eq!(normalize_kana("健保"), Err(FieldError::KanaInvalidChar(NamePart::Unspecified)));
        assert_eq!(normalize_kana("KENPO"), Err(FieldError::KanaInvalidChar(NamePart::Unspecified)));
        assert_eq!(normalize_kana("ケンポ1"), Err(FieldError::KanaInvalidChar(NamePart::Unspecified)));
        assert_eq!(normalize_kana("ケン-ポ"), Err(FieldError::KanaInvalidChar(NamePart::Unspecified)));
        assert_eq!(normalize_kana("ケン\tポ").as_deref(), Ok("ケン\u{3000}ポ")); // whitespace → space
        assert_eq!(normalize_kana("ケン\u{0}ポ"), Err(FieldError::KanaInvalidChar(NamePart::Unspecified)));
        assert_eq!(normalize_kana(""), Err(FieldError::KanaEmpty(NamePart::Unspecified)));
        assert_eq!(normalize_kana("\u{3000} "), Err(FieldError::KanaEmpty(NamePart::Unspecified)));
        assert_eq!(normalize_kana(&"ア".repeat(50)), Ok("ア".repeat(50)));
        assert_eq!(normalize_kana(&"ア".repeat(51)), Err(FieldError::KanaLength(NamePart::Unspecified)));
        // Half-width input counts after normalisation: 50 × ﾎﾟ is 50 characters.
        assert_eq!(normalize_kana(&"ﾎﾟ".repeat(50)), Ok("ポ".repeat(50)));
        assert_eq!(normalize_kana(""), Err(FieldError::KanaEmpty(NamePart::Unspecified)));
    }

    #[test]
    fn kana_and_name_parts() {
        assert_eq!(normalize_kana_part(NamePart::Family, "けんぽ"), Err(FieldError::KanaInvalidChar(NamePart::Family)));
        assert_eq!(FieldError::KanaInvalidChar(NamePart::Family).field(), "family_kana");
        assert_eq!(FieldError::KanaEmpty(NamePart::Given).field(), "given_kana");
        assert_eq!(FieldError::KanaEmpty(NamePart::Unspecified).field(), "kana");
        assert_eq!(FieldError::NameEmpty(NamePart::Family).field(), "family_name");
        assert_eq!(FieldError::NameLength(NamePart::Given).field(), "given_name");
        assert_eq!(FieldError::NameLength(NamePart::Unspecified).field(), "name");
        assert_eq!(
            FieldError::KanaLength(NamePart::Unspecified).for_part(NamePart::Given),
            FieldError::KanaLength(NamePart::Given)
        );
        assert_eq!(FieldError::EmailEmpty.for_part(NamePart::Given), FieldError::EmailEmpty);
        assert_eq!(FieldError::KanaEmpty(NamePart::Family).key(), FieldError::KanaEmpty(NamePart::Given).key());
        assert_eq!(normalize_name_part(NamePart::Given, " "), Err(FieldError::NameEmpty(NamePart::Given)));
    }

    #[test]
    fn names() {
        assert_eq!(normalize_name(" 健保 ").as_deref(), Ok("健保"));
        assert_eq!(normalize_name("\u{3000}太郎\u{3000}").as_deref(), Ok("太郎"));
        assert_eq!(normalize_name("Smith-Jones").as_deref(), Ok("Smith-Jones"));
        assert_eq!(normalize_name("Jose\u{301}").as_deref(), Ok("José")); // NFC
        assert_eq!(normalize_name("ｹﾝﾎﾟ").as_deref(), Ok("ｹﾝﾎﾟ")); // NFC, not NFKC
        assert_eq!(normalize_name("辻\u{E0100}").as_deref(), Ok("辻\u{E0100}")); // IVS kept
        assert_eq!(normalize_name(""), Err(FieldError::NameEmpty(NamePart::Unspecified)));
        assert_eq!(normalize_name(" \t "), Err(FieldError::NameEmpty(NamePart::Unspecified)));
        assert_eq!(normalize_name(&"山".repeat(50)), Ok("山".repeat(50)));
        assert_eq!(normalize_name(&"山".repeat(51)), Err(FieldError::NameLength(NamePart::Unspecified)));
        for bad in ["山\u{0}田", "山\n田", "山\u{7f}田", "山\u{200b}田", "山\u{202e}田", "山\u{85}田"] {
            assert_eq!(normalize_name(bad), Err(FieldError::NameInvalidChar(NamePart::Unspecified)), "{bad:?}");
        }
    }

    // ----- union data ------------------------------------------------------------------------

    #[test]
    fn insurer_numbers() {
        assert_eq!(normalize_insurer_number("01234567").as_deref(), Ok("01234567"));
        assert_eq!(normalize_insurer_number("０１２３４５６７").as_deref(), Ok("01234567"));
        assert_eq!(normalize_insurer_number(" 06130012 ").as_deref(), Ok("06130012"));
        assert_eq!(normalize_insurer_number("1234567"), Err(FieldError::InsurerNumberFormat));
        assert_eq!(normalize_insurer_number("123456789"), Err(FieldError::InsurerNumberFormat));
        assert_eq!(normalize_insurer_number("0123-4567"), Err(FieldError::InsurerNumberFormat));
        assert_eq!(normalize_insurer_number("0123456a"), Err(FieldError::InsurerNumberFormat));
        assert_eq!(normalize_insurer_number("０１２３４５６"), Err(FieldError::InsurerNumberFormat));
        assert_eq!(normalize_insurer_number(""), Err(FieldError::InsurerNumberEmpty));
    }

    #[test]
    fn card_symbols() {
        assert_eq!(normalize_card_symbol("1234").as_deref(), Ok("1234"));
        assert_eq!(normalize_card_symbol("12-34").as_deref(), Ok("12-34"));
        assert_eq!(normalize_card_symbol("１２ー３４").as_deref(), Ok("12-34"));
        assert_eq!(normalize_card_symbol("１２－３４").as_deref(), Ok("12-34"));
        assert_eq!(normalize_card_symbol("12‐34").as_deref(), Ok("12-34"));
        assert_eq!(normalize_card_symbol("12ｰ34").as_deref(), Ok("12-34"));
        assert_eq!(normalize_card_symbol("ab-12").as_deref(), Ok("AB-12"));
        assert_eq!(normalize_card_symbol("ＡＢ１").as_deref(), Ok("AB1"));
        assert_eq!(normalize_card_symbol("A").as_deref(), Ok("A"));
        assert_eq!(normalize_card_symbol(&"1".repeat(20)), Ok("1".repeat(20)));
        assert_eq!(normalize_card_symbol(&"1".repeat(21)), Err(FieldError::CardSymbolLength));
        assert_eq!(normalize_card_symbol(""), Err(FieldError::CardSymbolEmpty));
        for bad in ["-12", "12-", "12--34", "-", "12 34", "12/34", "健12", "12_34", "<1>"] {
            assert_eq!(normalize_card_symbol(bad), Err(FieldError::CardSymbolFormat), "{bad}");
        }
    }

    #[test]
    fn card_numbers() {
        assert_eq!(normalize_card_number("1").as_deref(), Ok("1"));
        assert_eq!(normalize_card_number("0012").as_deref(), Ok("0012"));
        assert_eq!(normalize_card_number("１２３").as_deref(), Ok("123"));
        assert_eq!(normalize_card_number("12-3").as_deref(), Ok("12-3"));
        assert_eq!(normalize_card_number("１２ー３").as_deref(), Ok("12-3"));
        assert_eq!(normalize_card_number(&"9".repeat(20)), Ok("9".repeat(20)));
        assert_eq!(normalize_card_number(&"9".repeat(21)), Err(FieldError::CardNumberLength));
        assert_eq!(normalize_card_number(" "), Err(FieldError::CardNumberEmpty));
        for bad in ["12a", "AB", "-1", "1-", "1--2", "1 2", "１２３あ"] {
            assert_eq!(normalize_card_number(bad), Err(FieldError::CardNumberFormat), "{bad}");
        }
    }

    // ----- catalog ---------------------------------------------------------------------------

    /// Dotted keys (`validation.username.length`) defined in a catalog file made of `[table]`
    /// headers and `key = "value"` lines, with the value (for placeholder checks).
    fn catalog_keys(toml: &str) -> Vec<(String, String)> {
        let mut table = String::new();
        let mut out = Vec::new();
        for line in toml.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(t) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                table = t.trim().to_string();
            } else if let Some((k, v)) = line.split_once('=') {
                out.push((format!("{table}.{}", k.trim()), v.trim().to_string()));
            }
        }
        out
    }

    #[test]
    fn every_key_resolves_in_both_catalogs() {
        let catalogs = [
            ("ja", include_str!("../../locales/validation.ja.toml")),
            ("en", include_str!("../../locales/validation.en.toml")),
        ];
        for (lang, text) in catalogs {
            let keys = catalog_keys(text);
            for e in FieldError::ALL {
                let Some((_, v)) = keys.iter().find(|(k, _)| k == e.key()) else {
                    panic!("{lang}: missing {}", e.key());
                };
                let has_placeholder = v.contains("{min}") || v.contains("{max}");
                assert_eq!(has_placeholder, *e == FieldError::PasswordLength, "{lang}: {}", e.key());
            }
            for (k, _) in &keys {
                assert!(FieldError::ALL.iter().any(|e| e.key() == k), "{lang}: unused key {k}");
            }
        }
        let ja = catalog_keys(catalogs[0].1);
        let text = |key: &str| ja.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        assert_eq!(text("validation.email.empty").as_deref(), Some("\"メールアドレスを入力してください。\""));
        assert_eq!(
            text("validation.email.invalid").as_deref(),
            Some("\"無効なメールアドレスです。入力したメールアドレスに誤りがないかご確認ください。\"")
        );
        assert_eq!(
            text("validation.email.too_long").as_deref(),
            Some("\"設定可能なメールアドレスの最大文字数は255文字です。\"")
        );
        assert_eq!(
            text("validation.email.in_use").as_deref(),
            Some("\"他のアカウントで設定されているメールアドレスです。別のメールアドレスを入力してください。\"")
        );
    }

    #[test]
    fn keys_and_fields_are_consistent() {
        let mut seen = std::collections::HashSet::new();
        for e in FieldError::ALL {
            assert!(seen.insert(e.key()), "duplicate key {}", e.key());
            let section = e.key().split('.').nth(1).unwrap();
            assert!(e.key().starts_with("validation."));
            // The key's section names the field, except names/kana (part-specific fields) and
            // the confirmation.
            match e {
                FieldError::PasswordConfirmationMismatch => {
                    assert_eq!(e.field(), "password_confirm")
                }
                _ => assert_eq!(section, e.field(), "{e:?}"),
            }
            assert_eq!(e.to_string(), e.key());
        }
    }
}

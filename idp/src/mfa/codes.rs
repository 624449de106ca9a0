//! Short one-time codes: e-mail OTPs (6 digits) and recovery codes. Pure: generation from the
//! OS CSPRNG, input normalisation, and the hashes that are all the database keeps.

use rand::Rng;

/// Recovery codes per set (SPEC §5: ten, single use).
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code: no 0/O, 1/I/L, so a code read off paper is typed right.
const RECOVERY_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// 12 characters of 31 → 59 bits each.
const RECOVERY_LEN: usize = 12;

/// A 6-digit code, uniformly distributed (leading zeros kept).
pub fn email_code() -> String {
    format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
}

/// The stored form of an e-mail code, bound to the flow it was sent for.
pub fn email_code_hash(flow_id: &str, code: &str) -> String {
    kenpo_shared::crypto::token_hash(&format!("email-otp:{flow_id}:{code}"))
}

/// Digits only: spaces dropped, full-width digits mapped; None unless exactly 6 digits remain.
pub fn normalise_email_code(input: &str) -> Option<String> {
    let mut out = String::new();
    for c in input.chars().filter(|c| !c.is_whitespace()) {
        match c {
            '0'..='9' => out.push(c),
            '０'..='９' => out.push(char::from_digit(u32::from(c) - u32::from('０'), 10)?),
            _ => return None,
        }
    }
    (out.len() == 6).then_some(out)
}

/// A new set of recovery codes, formatted `XXXX-XXXX-XXXX` for reading.
pub fn recovery_codes() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let raw: String = (0..RECOVERY_LEN)
                .map(|_| char::from(RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())]))
                .collect();
            format!("{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12])
        })
        .collect()
}

/// Upper case, hyphens and spaces removed, full-width folded; None when it cannot be a code.
pub fn normalise_recovery_code(input: &str) -> Option<String> {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = input.nfkc().filter(|c| !c.is_whitespace() && *c != '-').collect();
    let upper = folded.to_ascii_uppercase();
    (upper.len() == RECOVERY_LEN && upper.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))).then_some(upper)
}

/// The stored form of a recovery code (normalised), salted with the member's id.
pub fn recovery_code_hash(user_id: &str, normalised: &str) -> String {
    kenpo_shared::crypto::token_hash(&format!("recovery:{user_id}:{normalised}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..200).map(|_| email_code()).collect();
        assert!(codes.len() > 190, "codes repeat far too often");
        assert!(codes.iter().all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
        assert_eq!(normalise_email_code(" １２3 456 ").as_deref(), Some("123456"));
        assert_eq!(normalise_email_code("12345"), None);
        assert_eq!(normalise_email_code("12345a"), None);
        assert_ne!(email_code_hash("f1", "123456"), email_code_hash("f2", "123456"));
    }

    #[test]
    fn recovery_codes_round_trip_through_normalisation() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::HashSet<&String> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        for c in &codes {
            assert_eq!(c.len(), 14);
            let n = normalise_recovery_code(&c.to_lowercase()).unwrap_or_default();
            assert_eq!(n, c.replace('-', ""));
        }
        assert_eq!(normalise_recovery_code("ＡＢＣＤ－ＥＦＧＨ－ＪＫＭＮ").as_deref(), Some("ABCDEFGHJKMN"));
        assert_eq!(normalise_recovery_code("ABCD-EFGH-JKM0"), None, "0 is not in the alphabet");
        assert_eq!(normalise_recovery_code("ABCD"), None);
        assert_ne!(recovery_code_hash("u1", "ABCDEFGHJKMN"), recovery_code_hash("u2", "ABCDEFGHJKMN"));
    }
}

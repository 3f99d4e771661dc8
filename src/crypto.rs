//! Random identifiers, token secrets, codes, secret hashing and constant-time comparison (spec §5).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Entity ids, action invocation ids, token secrets and rate-limit entry ids.
pub const LOWERCASE_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// Email address verification codes and temporary passwords.
pub const UPPERCASE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Fills `buf` from the operating system's CSPRNG (`crypto.getRandomValues` on Workers).
///
/// A CSPRNG failure leaves no safe way to continue: every id and secret depends on it.
pub fn random_bytes(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the system CSPRNG is unavailable");
}

/// `len` characters, each `alphabet[byte >> 3]` for one random byte (5 bits per character).
fn random_string(alphabet: &[u8; 32], len: usize) -> String {
    let mut bytes = vec![0u8; len];
    random_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| alphabet[(b >> 3) as usize] as char)
        .collect()
}

/// A 24-character id (120 bits): entities, action invocations, rate-limit entries.
pub fn generate_id() -> String {
    random_string(LOWERCASE_ALPHABET, 24)
}

/// A 24-character token secret (120 bits).
pub fn generate_secret() -> String {
    random_string(LOWERCASE_ALPHABET, 24)
}

/// An 8-character email address verification code (40 bits).
pub fn generate_email_address_verification_code() -> String {
    random_string(UPPERCASE_ALPHABET, 8)
}

/// A 12-character temporary password (60 bits).
pub fn generate_temporary_password() -> String {
    random_string(UPPERCASE_ALPHABET, 12)
}

/// `len` characters of the uppercase alphabet (5 bits each): recovery codes.
pub fn random_uppercase(len: usize) -> String {
    random_string(UPPERCASE_ALPHABET, len)
}

/// Random salt of `size` bytes for a password hash.
pub fn generate_salt(size: usize) -> Vec<u8> {
    let mut salt = vec![0u8; size];
    random_bytes(&mut salt);
    salt
}

/// What is stored in place of a token secret: SHA-256 of its UTF-8 bytes (spec §5.3).
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Checks a presented secret against a stored secret hash in constant time.
pub fn verify_secret(secret: &str, stored_hash: &[u8]) -> bool {
    constant_time_eq(&hash_secret(secret), stored_hash)
}

/// Constant-time equality; a length mismatch is simply "not equal".
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A parsed `<id>.<secret>` token (spec §2.1): exactly two parts, no other check.
pub struct Token<'a> {
    pub id: &'a str,
    pub secret: &'a str,
}

/// Whether `s` could be a generated id: 24 characters of the lowercase alphabet.
pub fn is_valid_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| LOWERCASE_ALPHABET.contains(&b))
}

/// Splits a token on every `.`; anything but exactly two parts is invalid (spec §2.1). An id that
/// no generated id could equal is refused too, before any storage lookup (the spec's MAY: the
/// outcome is the same, and garbage ids then cost no Durable Object request). The secret is not
/// pre-validated: expired entities must still be found and deleted first.
pub fn parse_token(token: &str) -> Option<Token<'_>> {
    let mut parts = token.split('.');
    let id = parts.next()?;
    let secret = parts.next()?;
    if parts.next().is_some() || !is_valid_id(id) {
        return None;
    }
    Some(Token { id, secret })
}

/// Joins an id and a secret into a token.
pub fn format_token(id: &str, secret: &str) -> String {
    let mut token = String::with_capacity(id.len() + 1 + secret.len());
    token.push_str(id);
    token.push('.');
    token.push_str(secret);
    token
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn in_alphabet(s: &str, alphabet: &[u8; 32]) -> bool {
        s.bytes().all(|b| alphabet.contains(&b))
    }

    #[test]
    fn generated_values_use_the_spec_alphabets_and_lengths() {
        for _ in 0..200 {
            let id = generate_id();
            assert_eq!(id.len(), 24);
            assert!(in_alphabet(&id, LOWERCASE_ALPHABET));
            let code = generate_email_address_verification_code();
            assert_eq!(code.len(), 8);
            assert!(in_alphabet(&code, UPPERCASE_ALPHABET));
            let temp = generate_temporary_password();
            assert_eq!(temp.len(), 12);
            assert!(in_alphabet(&temp, UPPERCASE_ALPHABET));
        }
    }

    #[test]
    fn token_parsing_requires_exactly_two_parts() {
        assert!(parse_token("abc").is_none());
        assert!(parse_token("a.b.c").is_none());
        assert!(parse_token("").is_none());
        assert!(parse_token(".").is_none());
        assert!(parse_token("id.secret").is_none(), "not a possible id");
        assert!(
            parse_token("abcdefghijkmnpqrstuvwxyl.x").is_none(),
            "l is not in the alphabet"
        );
        let t = parse_token("abcdefghijkmnpqrstuvwxyz.").unwrap();
        assert_eq!((t.id, t.secret), ("abcdefghijkmnpqrstuvwxyz", ""));
    }

    #[test]
    fn secret_hash_round_trip() {
        let h = hash_secret("g9nepmvhg6sdsqebqcepyib7");
        assert_eq!(h.len(), 32);
        assert!(verify_secret("g9nepmvhg6sdsqebqcepyib7", &h));
        assert!(!verify_secret("g9nepmvhg6sdsqebqcepyib8", &h));
        assert!(!verify_secret("", &h));
    }
}

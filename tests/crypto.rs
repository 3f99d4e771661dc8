//! Spec §5: distribution smoke tests for the random values (ids, token secrets, email address
//! verification codes, temporary passwords), token format, and the semantics of secret hashing
//! and constant-time comparison.
//!
//! The statistical bounds are generous: each chi-square test fails with probability about 1e-6
//! for a correct generator, so a failure means a broken mapping (a missing symbol, a biased or
//! constant position, correlated neighbours), not bad luck.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
use common::*;

use faroe_worker::crypto::{
    self, constant_time_eq, format_token, generate_email_address_verification_code, generate_id,
    generate_secret, generate_temporary_password, hash_secret, parse_token, verify_secret,
    LOWERCASE_ALPHABET, UPPERCASE_ALPHABET,
};
use serde_json::json;
use std::collections::HashSet;

/// Characters drawn per generator.
const CHARACTERS: usize = 200_000;
/// Chi-square critical value for 31 degrees of freedom at p = 1e-6 (83.64).
const CHI_SQUARE_31_DOF: f64 = 83.64;
/// Chi-square critical value for 1023 degrees of freedom at p = 1e-6 (1252.58).
const CHI_SQUARE_1023_DOF: f64 = 1252.58;

const LOWERCASE: &str = "abcdefghijkmnpqrstuvwxyz23456789";
const UPPERCASE: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

fn chi_square(observed: &[u64]) -> f64 {
    let total: u64 = observed.iter().sum();
    let expected = total as f64 / observed.len() as f64;
    observed
        .iter()
        .map(|&o| (o as f64 - expected).powi(2) / expected)
        .sum()
}

fn symbol_index(alphabet: &[u8; 32], c: u8) -> Option<usize> {
    alphabet.iter().position(|&a| a == c)
}

/// Draws values until at least `CHARACTERS` characters were produced, checks length and alphabet
/// of each, then checks the distribution overall, per position and of adjacent pairs.
fn check_generator(what: &str, generate: fn() -> String, length: usize, alphabet: &[u8; 32]) {
    let draws = CHARACTERS.div_ceil(length);
    let mut overall = [0u64; 32];
    let mut per_position = vec![[0u64; 32]; length];
    let mut pairs = vec![0u64; 32 * 32];
    for _ in 0..draws {
        let value = generate();
        assert_eq!(value.len(), length, "{what} {value:?} has the wrong length");
        let mut previous: Option<usize> = None;
        for (position, c) in value.bytes().enumerate() {
            let i = symbol_index(alphabet, c).unwrap_or_else(|| {
                panic!("{what} {value:?} has {:?}, not in the alphabet", c as char)
            });
            overall[i] += 1;
            per_position[position][i] += 1;
            if let Some(p) = previous {
                pairs[p * 32 + i] += 1;
            }
            previous = Some(i);
        }
    }

    for (i, &count) in overall.iter().enumerate() {
        assert!(
            count > 0,
            "{what}: symbol {:?} never appeared in {} characters",
            alphabet[i] as char,
            draws * length
        );
    }
    let statistic = chi_square(&overall);
    assert!(
        statistic < CHI_SQUARE_31_DOF,
        "{what}: chi-square {statistic:.1} over {} characters (counts {overall:?})",
        draws * length
    );
    for (position, counts) in per_position.iter().enumerate() {
        let statistic = chi_square(counts);
        assert!(
            statistic < CHI_SQUARE_31_DOF,
            "{what}: position {position} chi-square {statistic:.1} (counts {counts:?})"
        );
    }
    let statistic = chi_square(&pairs);
    assert!(
        statistic < CHI_SQUARE_1023_DOF,
        "{what}: adjacent-pair chi-square {statistic:.1} over {} pairs",
        pairs.iter().sum::<u64>()
    );
}

#[test]
fn the_alphabets_are_the_spec_alphabets() {
    assert_eq!(LOWERCASE_ALPHABET, LOWERCASE.as_bytes());
    assert_eq!(UPPERCASE_ALPHABET, UPPERCASE.as_bytes());
    for alphabet in [LOWERCASE_ALPHABET, UPPERCASE_ALPHABET] {
        let distinct: HashSet<u8> = alphabet.iter().copied().collect();
        assert_eq!(distinct.len(), 32);
    }
    for excluded in b"lo01" {
        assert!(!LOWERCASE_ALPHABET.contains(excluded));
    }
    for excluded in b"IO01" {
        assert!(!UPPERCASE_ALPHABET.contains(excluded));
    }
}

#[test]
fn ids_are_uniform_over_the_lowercase_alphabet() {
    check_generator("id", generate_id, 24, LOWERCASE_ALPHABET);
}

#[test]
fn secrets_are_uniform_over_the_lowercase_alphabet() {
    check_generator("secret", generate_secret, 24, LOWERCASE_ALPHABET);
}

#[test]
fn verification_codes_are_uniform_over_the_uppercase_alphabet() {
    check_generator(
        "verification code",
        generate_email_address_verification_code,
        8,
        UPPERCASE_ALPHABET,
    );
}

#[test]
fn temporary_passwords_are_uniform_over_the_uppercase_alphabet() {
    check_generator(
        "temporary password",
        generate_temporary_password,
        12,
        UPPERCASE_ALPHABET,
    );
}

#[test]
fn no_duplicate_ids_or_secrets_in_100_000_draws() {
    let mut ids = HashSet::with_capacity(100_000);
    let mut secrets = HashSet::with_capacity(100_000);
    for _ in 0..100_000 {
        let id = generate_id();
        assert!(ids.insert(id.clone()), "duplicate id {id}");
        let secret = generate_secret();
        assert!(secrets.insert(secret.clone()), "duplicate secret {secret}");
    }
    // Ids and secrets come from the same generator; they do not coincide either.
    assert!(ids.is_disjoint(&secrets));
}

#[test]
fn salts_are_random_bytes_of_the_requested_size() {
    let mut seen = HashSet::new();
    for size in [0, 1, 16, 32] {
        let salt = crypto::generate_salt(size);
        assert_eq!(salt.len(), size);
        if size >= 16 {
            assert!(seen.insert(salt), "salt repeated");
        }
    }
    // All 256 byte values occur in 64 KiB of salt.
    let mut bytes = [0u64; 256];
    for b in crypto::generate_salt(64 * 1024) {
        bytes[b as usize] += 1;
    }
    assert!(bytes.iter().all(|&count| count > 0));
}

/// `^[a-km-np-z2-9]{24}\.[a-km-np-z2-9]{24}$`, written out.
fn matches_token_pattern(s: &str) -> bool {
    let class = |c: char| matches!(c, 'a'..='k' | 'm'..='n' | 'p'..='z' | '2'..='9');
    let bytes: Vec<char> = s.chars().collect();
    bytes.len() == 49
        && bytes[24] == '.'
        && bytes[..24].iter().all(|&c| class(c))
        && bytes[25..].iter().all(|&c| class(c))
}

#[test]
fn the_token_pattern_is_the_lowercase_alphabet() {
    // The character class of the spec's regex is exactly the lowercase alphabet.
    let class: String = ('\0'..='\u{7f}')
        .filter(|c| {
            matches_token_pattern(&format!("{}.{}", c.to_string().repeat(24), "a".repeat(24)))
        })
        .collect();
    let mut expected: Vec<char> = LOWERCASE.chars().collect();
    expected.sort();
    assert_eq!(class, expected.into_iter().collect::<String>());
    assert!(!matches_token_pattern(&format!(
        "{}.{}",
        "a".repeat(24),
        "a".repeat(23)
    )));
    assert!(!matches_token_pattern(&format!(
        "{}:{}",
        "a".repeat(24),
        "a".repeat(24)
    )));
    assert!(!matches_token_pattern(&format!(
        "{}.{}",
        "A".repeat(24),
        "a".repeat(24)
    )));
}

#[test]
fn tokens_match_the_spec_pattern_and_parse_back() {
    for _ in 0..10_000 {
        let (id, secret) = (generate_id(), generate_secret());
        let token = format_token(&id, &secret);
        assert!(matches_token_pattern(&token), "{token}");
        let parsed = parse_token(&token).expect("a formatted token parses");
        assert_eq!((parsed.id, parsed.secret), (id.as_str(), secret.as_str()));
    }
}

#[test]
fn tokens_handed_out_by_the_server_match_the_spec_pattern() {
    let h = Harness::new();
    let session = h.signin_u1();
    let (signup, _) = h.create_signup("new@example.com");
    let mut tokens = vec![
        session.clone(),
        signup,
        h.create_signin("user2@example.com"),
    ];
    for (action, arguments, name) in [
        (
            "create_user_email_address_update",
            json!({ "session_token": session, "new_email_address": "alice@new.example" }),
            "user_email_address_update_token",
        ),
        (
            "create_user_password_update",
            json!({ "session_token": session }),
            "user_password_update_token",
        ),
        (
            "create_user_deletion",
            json!({ "session_token": session }),
            "user_deletion_token",
        ),
        (
            "create_user_password_reset",
            json!({ "user_email_address": "user2@example.com" }),
            "user_password_reset_token",
        ),
    ] {
        tokens.push(h.ok(action, arguments)[name].as_str().unwrap().to_string());
    }
    for token in &tokens {
        assert!(matches_token_pattern(token), "{token}");
    }
    let distinct: HashSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), tokens.len());
}

#[test]
fn constant_time_eq_is_plain_equality_including_lengths() {
    assert!(constant_time_eq(b"", b""));
    assert!(constant_time_eq(b"abc", b"abc"));
    let long = vec![7u8; 4096];
    assert!(constant_time_eq(&long, &long.clone()));

    // Unequal at the first, a middle and the last byte.
    assert!(!constant_time_eq(b"xbc", b"abc"));
    assert!(!constant_time_eq(b"axc", b"abc"));
    assert!(!constant_time_eq(b"abx", b"abc"));
    let mut other = long.clone();
    other[4095] ^= 1;
    assert!(!constant_time_eq(&long, &other));

    // A length mismatch is "not equal", whichever side is longer, prefixes included.
    assert!(!constant_time_eq(b"abc", b"abcd"));
    assert!(!constant_time_eq(b"abcd", b"abc"));
    assert!(!constant_time_eq(b"", b"a"));
    assert!(!constant_time_eq(b"a", b""));
    assert!(!constant_time_eq(&long, &long[..4095]));
}

#[test]
fn secrets_are_stored_as_sha256_and_verified_exactly() {
    let secret = "g9nepmvhg6sdsqebqcepyib7";
    let stored = hash_secret(secret);
    // SHA-256 of the secret's UTF-8 bytes (spec §5.3, "SHOULD"), not Go's secret ‖ SHA-256("").
    let expected = "24e43bd9ffb94a5f43f08c3d2de1056bd00649dc33095c61c31df3a7406922f3";
    let hex: String = stored.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, expected);
    assert_ne!(stored, secret.as_bytes(), "the secret itself is not stored");

    assert!(verify_secret(secret, &stored));
    assert!(!verify_secret("g9nepmvhg6sdsqebqcepyib8", &stored));
    assert!(!verify_secret("G9NEPMVHG6SDSQEBQCEPYIB7", &stored));
    assert!(!verify_secret("g9nepmvhg6sdsqebqcepyib", &stored));
    assert!(!verify_secret("", &stored));
    assert!(!verify_secret(secret, &stored[..31]));
    assert!(!verify_secret(secret, &[]));
    assert!(!verify_secret(secret, secret.as_bytes()));

    // An entry written with the Go construction does not verify (one scheme per deployment).
    let mut go_construction = secret.as_bytes().to_vec();
    go_construction.extend_from_slice(&hash_secret(""));
    assert_eq!(go_construction.len(), 56);
    assert!(!verify_secret(secret, &go_construction));

    // Every fresh secret verifies against its own hash and no other.
    let a = generate_secret();
    let b = generate_secret();
    assert!(verify_secret(&a, &hash_secret(&a)));
    assert!(!verify_secret(&a, &hash_secret(&b)));
}

//! What a storage reader finds (SECURITY.md, "Storage readers" and "Never stored"): token secrets
//! only as their SHA-256, verification codes in plaintext inside the pending entity.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
use common::*;

use faroe_worker::adapters::memory::EmailKind;
use faroe_worker::crypto::hash_secret;
use faroe_worker::ports::Cache;
use futures::executor::block_on;
use serde_json::json;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn split(token: &str) -> (&str, &str) {
    token.split_once('.').expect("id.secret")
}

#[test]
fn token_secrets_are_stored_only_as_sha256() {
    let h = Harness::new();
    let session = h.signin_u1();
    let (signup, _) = h.create_signup("new@example.com");
    let signin = h.create_signin("user2@example.com");
    for (prefix, token) in [("aaaa.", &session), ("aaab.", &signup), ("aaac.", &signin)] {
        let (id, secret) = split(token);
        let stored = h.main.value(&format!("{prefix}{id}")).expect("stored");
        assert!(
            !contains(&stored, secret.as_bytes()),
            "{prefix}: secret stored"
        );
        assert!(
            contains(&stored, &hash_secret(secret)),
            "{prefix}: SHA-256 stored"
        );
    }
    // The KV copy of the session holds the digest too, never the secret.
    let (id, secret) = split(&session);
    let cached = block_on(h.cache.get(&format!("aaaa.{id}"))).expect("cached");
    assert!(!contains(&cached, secret.as_bytes()));
    assert!(contains(&cached, &hash_secret(secret)));
}

#[test]
fn verification_codes_are_stored_in_plaintext_in_the_pending_entity() {
    let h = Harness::new();
    let (signup, code) = h.create_signup("new@example.com");
    let (id, _) = split(&signup);
    let stored = h.main.value(&format!("aaab.{id}")).expect("signup stored");
    assert!(contains(&stored, code.as_bytes()));

    let session = h.signin_u1();
    let values = h.ok(
        "create_user_email_address_update",
        json!({ "session_token": session, "new_email_address": "alice@new.example" }),
    );
    let update = values["user_email_address_update_token"].as_str().unwrap();
    let code = h
        .email
        .sent_of(EmailKind::UserEmailAddressUpdateEmailAddressVerificationCode)
        .last()
        .expect("code email")
        .secret
        .clone();
    let (id, _) = split(update);
    let stored = h.main.value(&format!("aaad.{id}")).expect("update stored");
    assert!(contains(&stored, code.as_bytes()));
}

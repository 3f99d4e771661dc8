//! Races of the passkeys extension, interleaved at every storage and user-store call by the memory
//! adapters' yields: `MainStorage::add` has one winner, a registration completes once, a
//! credential id goes to one user, the 20th place to one registration, a passkey's counter is
//! stored by one sign-in, and the last two second factors cannot both go under
//! SECOND_FACTOR_REQUIRED.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod passkeys_helpers;

use common::*;
use faroe_worker::adapters::memory::MemoryMainStorage;
use faroe_worker::extensions::passkeys::record::{CredentialIndexEntry, PasskeyRecord};
use faroe_worker::ports::{MainStorage, StorageError};
use faroe_worker::webauthn::Algorithm;
use futures::executor::block_on;
use futures::future::join_all;
use passkeys_helpers::*;
use serde_json::{json, Value};

fn set_yielding(h: &Harness, yielding: bool) {
    h.main.instrumentation.set_yielding(yielding);
    h.rate.instrumentation.set_yielding(yielding);
    h.accounts.instrumentation.set_yielding(yielding);
    h.cache.instrumentation.set_yielding(yielding);
    h.users.set_yielding(yielding);
}

/// Runs every `(action, arguments)` concurrently; the error code of each (`"ok"` on success).
fn concurrently(h: &Harness, calls: &[(&str, Value)]) -> Vec<String> {
    let bodies: Vec<String> = calls
        .iter()
        .map(|(action, arguments)| json!({ "action": action, "arguments": arguments }).to_string())
        .collect();
    set_yielding(h, true);
    let results = block_on(join_all(
        bodies.iter().map(|body| h.server.resolve(body.as_bytes())),
    ));
    set_yielding(h, false);
    results
        .into_iter()
        .map(|r| {
            let result: Value = serde_json::from_str(&r.expect("a result")).unwrap();
            result["error_code"].as_str().unwrap_or("ok").to_string()
        })
        .collect()
}

fn count(codes: &[String], code: &str) -> usize {
    codes.iter().filter(|c| *c == code).count()
}

fn passkey_keys(h: &Harness, user_id: &str) -> usize {
    h.accounts
        .keys(user_id)
        .iter()
        .filter(|k| k.starts_with("passkey."))
        .count()
}

#[test]
fn main_storage_add_creates_only_if_absent_and_concurrent_adds_have_one_winner() {
    let storage = MemoryMainStorage::new();
    block_on(storage.add("k", vec![1], 0)).unwrap();
    assert_eq!(
        block_on(storage.add("k", vec![2], 0)),
        Err(StorageError::AlreadyExists)
    );
    let entry = block_on(storage.get("k")).unwrap();
    assert_eq!((entry.value, entry.counter), (vec![1], 0));
    storage.instrumentation.set_yielding(true);
    let results = block_on(join_all((0..5u8).map(|n| storage.add("race", vec![n], 0))));
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results
        .iter()
        .filter(|r| r.is_err())
        .all(|r| *r == Err(StorageError::AlreadyExists)));
    // After a delete the key can be added again.
    block_on(storage.delete("k")).unwrap();
    block_on(storage.add("k", vec![3], 0)).unwrap();
}

#[test]
fn two_completes_of_one_registration_one_wins() {
    let h = passkeys_harness();
    let s = h.signin_u1();
    let (t, options) = verified_registration(&h, &s, U1_PASSWORD);
    let credential = Authenticator::new(Algorithm::Es256, 1).register(&options, &Tweak::default());
    let args = complete_reg_args(&s, &t, "A", &credential);
    let codes = concurrently(
        &h,
        &[
            ("complete_user_passkey_registration", args.clone()),
            ("complete_user_passkey_registration", args),
        ],
    );
    assert_eq!(count(&codes, "ok"), 1, "{codes:?}");
    assert_eq!(
        count(&codes, "invalid_user_passkey_registration_token"),
        1,
        "{codes:?}"
    );
    assert_eq!(passkey_keys(&h, "u1"), 1);
}

#[test]
fn two_users_registering_one_credential_id_one_wins() {
    let h = passkeys_harness();
    let s1 = h.signin_u1();
    let s2 = h.signin("user2@example.com", U2_PASSWORD);
    let authenticator = Authenticator::new(Algorithm::EdDsa, 1);
    let (t1, o1) = verified_registration(&h, &s1, U1_PASSWORD);
    let (t2, o2) = verified_registration(&h, &s2, U2_PASSWORD);
    let c1 = authenticator.register(&o1, &Tweak::default());
    let c2 = authenticator.register(&o2, &Tweak::default());
    let codes = concurrently(
        &h,
        &[
            (
                "complete_user_passkey_registration",
                complete_reg_args(&s1, &t1, "A", &c1),
            ),
            (
                "complete_user_passkey_registration",
                complete_reg_args(&s2, &t2, "A", &c2),
            ),
        ],
    );
    assert_eq!(count(&codes, "ok"), 1, "{codes:?}");
    assert_eq!(count(&codes, "passkey_already_registered"), 1, "{codes:?}");
    let winner = if codes[0] == "ok" { "u1" } else { "u2" };
    let loser = if winner == "u1" { "u2" } else { "u1" };
    let index = CredentialIndexEntry::decode(
        &h.main
            .value(&CredentialIndexEntry::key_for(&authenticator.credential_id))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(index.user_id, winner);
    assert_eq!(passkey_keys(&h, winner), 1);
    assert_eq!(passkey_keys(&h, loser), 0);
    assert!(!h
        .accounts
        .keys(loser)
        .contains(&"second_factors".to_string()));
}

#[test]
fn two_registrations_racing_for_the_20th_place_one_wins() {
    let h = passkeys_harness();
    let s = h.signin_u1();
    for n in 0..19u8 {
        register(
            &h,
            &s,
            U1_PASSWORD,
            &Authenticator::new(Algorithm::EdDsa, n + 1),
            "K",
        );
    }
    // Two registrations of the 20th, both created and verified at 19.
    let pending: Vec<(String, String)> = (0..2)
        .map(|_| {
            let created = h.ok("create_user_passkey_registration", s_args(&s));
            let t = token(&created, "user_passkey_registration_token");
            h.ok(
                "verify_user_passkey_registration_user_password",
                reg_password_args(&s, &t, U1_PASSWORD),
            );
            (t, token(&created, "credential_creation_options"))
        })
        .collect();
    let calls: Vec<_> = pending
        .iter()
        .enumerate()
        .map(|(i, (t, options))| {
            let c = Authenticator::new(Algorithm::EdDsa, 100 + i as u8)
                .register(options, &Tweak::default());
            (
                "complete_user_passkey_registration",
                complete_reg_args(&s, t, "K", &c),
            )
        })
        .collect();
    let codes = concurrently(&h, &calls);
    assert_eq!(count(&codes, "ok"), 1, "{codes:?}");
    assert_eq!(count(&codes, "internal_conflict"), 1, "{codes:?}");
    assert_eq!(passkey_keys(&h, "u1"), 20);
    // The loser's index entry was removed again: exactly the 20 stored credentials are indexed.
    assert_eq!(
        h.main
            .keys()
            .iter()
            .filter(|k| k.starts_with("passkey_credential."))
            .count(),
        20
    );
}

#[test]
fn concurrent_sign_ins_with_one_passkey_store_one_counter() {
    let h = passkeys_harness();
    let s = h.signin_u1();
    let authenticator = Authenticator::new(Algorithm::Es256, 1);
    let id = token(
        register(&h, &s, U1_PASSWORD, &authenticator, "A")["user_passkey"]
            .as_object()
            .unwrap(),
        "id",
    );
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let (t, options) = create_passkey_signin(&h);
            let c = authenticator.assert(&options, &Tweak::default());
            ("complete_passkey_signin", ps_complete_args(&t, &c))
        })
        .collect();
    let codes = concurrently(&h, &calls);
    assert!(count(&codes, "ok") >= 1, "{codes:?}");
    // Every loser either lost the record's compare-and-set or, reading after a higher counter,
    // was refused by the counter rule; never a session for a stale counter.
    assert!(
        codes
            .iter()
            .all(|c| c == "ok" || c == "internal_conflict" || c == "invalid_passkey_credential"),
        "{codes:?}"
    );
    let record = PasskeyRecord::decode(
        &h.accounts
            .value("u1", &PasskeyRecord::key_for(&id))
            .unwrap(),
    )
    .unwrap();
    let winners: Vec<u32> = codes
        .iter()
        .enumerate()
        .filter(|(_, c)| *c == "ok")
        .map(|(i, _)| i as u32 + 1)
        .collect();
    assert!(
        winners.contains(&record.sign_count),
        "{winners:?} {}",
        record.sign_count
    );
    // Interleaved at every call, all three read counter 0: one write wins.
    assert_eq!(count(&codes, "ok"), 1, "{codes:?}");
}

#[test]
fn the_last_two_passkeys_cannot_both_go_under_second_factor_required() {
    let h = harness(passkeys_extensions(false, true));
    let s = h.signin_u1();
    let a = Authenticator::new(Algorithm::Es256, 1);
    let b = Authenticator::new(Algorithm::EdDsa, 2);
    let id_a = token(
        register(&h, &s, U1_PASSWORD, &a, "A")["user_passkey"]
            .as_object()
            .unwrap(),
        "id",
    );
    let id_b = token(
        register(&h, &s, U1_PASSWORD, &b, "B")["user_passkey"]
            .as_object()
            .unwrap(),
        "id",
    );
    let ta = verified_passkey_deletion(&h, &s, &id_a, U1_PASSWORD);
    let tb = verified_passkey_deletion(&h, &s, &id_b, U1_PASSWORD);
    let codes = concurrently(
        &h,
        &[
            ("complete_user_passkey_deletion", pdel_args(&s, &ta)),
            ("complete_user_passkey_deletion", pdel_args(&s, &tb)),
        ],
    );
    assert_eq!(count(&codes, "ok"), 1, "{codes:?}");
    assert_eq!(passkey_keys(&h, "u1"), 1, "{codes:?}");
    assert!(h.accounts.value("u1", "second_factors").is_some());
}

#[test]
fn totp_removal_and_last_passkey_removal_cannot_both_win() {
    use faroe_worker::extensions::totp::code;
    use faroe_worker::ports::Clock;
    let h = harness(passkeys_extensions(true, true));
    let s = h.signin_u1();
    let a = Authenticator::new(Algorithm::Es256, 1);
    let id = token(
        register(&h, &s, U1_PASSWORD, &a, "A")["user_passkey"]
            .as_object()
            .unwrap(),
        "id",
    );
    // TOTP enrollment.
    let t = token(
        &h.ok("create_user_totp_enrollment", s_args(&s)),
        "user_totp_enrollment_token",
    );
    let values = h.ok(
        "verify_user_totp_enrollment_user_password",
        json!({ "session_token": s, "user_totp_enrollment_token": t, "password": U1_PASSWORD }),
    );
    let key = decode_base32(values["totp_key"].as_str().unwrap());
    let c = code::code_for_step(&key, code::step_at(h.clock.now()));
    h.ok(
        "verify_user_totp_enrollment_totp_code",
        json!({ "session_token": s, "user_totp_enrollment_token": t, "totp_code": c }),
    );
    h.ok(
        "complete_user_totp_enrollment",
        json!({ "session_token": s, "user_totp_enrollment_token": t }),
    );
    refill_buckets(&h);
    let totp_deletion = token(
        &h.ok("create_user_totp_deletion", s_args(&s)),
        "user_totp_deletion_token",
    );
    h.ok(
        "verify_user_totp_deletion_user_password",
        json!({ "session_token": s, "user_totp_deletion_token": totp_deletion, "password": U1_PASSWORD }),
    );
    let passkey_deletion = verified_passkey_deletion(&h, &s, &id, U1_PASSWORD);
    let codes = concurrently(
        &h,
        &[
            (
                "complete_user_totp_deletion",
                json!({ "session_token": s, "user_totp_deletion_token": totp_deletion }),
            ),
            (
                "complete_user_passkey_deletion",
                pdel_args(&s, &passkey_deletion),
            ),
        ],
    );
    assert!(count(&codes, "ok") <= 1, "{codes:?}");
    let factors = h.ok("get_user_second_factors", s_args(&s))["user_second_factors"].clone();
    let remaining = factors["passkey_count"].as_u64().unwrap()
        + u64::from(factors["totp_enabled"].as_bool().unwrap());
    assert!(remaining >= 1, "{codes:?} {factors}");
}

fn decode_base32(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut count, mut out) = (0u64, 0, Vec::new());
    for c in s.bytes() {
        bits = (bits << 5) | ALPHABET.iter().position(|a| *a == c).unwrap() as u64;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

#[test]
fn a_removal_racing_a_sign_in_with_the_same_passkey_still_removes_it() {
    let h = passkeys_harness();
    let s = h.signin_u1();
    let a = Authenticator::new(Algorithm::Es256, 1);
    let b = Authenticator::new(Algorithm::EdDsa, 2);
    let id = token(
        register(&h, &s, U1_PASSWORD, &a, "A")["user_passkey"]
            .as_object()
            .unwrap(),
        "id",
    );
    register(&h, &s, U1_PASSWORD, &b, "B");
    let deletion = verified_passkey_deletion(&h, &s, &id, U1_PASSWORD);
    let (t, options) = create_passkey_signin(&h);
    let assertion = a.assert(&options, &Tweak::default());
    let codes = concurrently(
        &h,
        &[
            ("complete_user_passkey_deletion", pdel_args(&s, &deletion)),
            ("complete_passkey_signin", ps_complete_args(&t, &assertion)),
        ],
    );
    assert_eq!(codes[0], "ok", "{codes:?}");
    assert!(h
        .accounts
        .value("u1", &PasskeyRecord::key_for(&id))
        .is_none());
    assert!(h
        .main
        .value(&CredentialIndexEntry::key_for(&a.credential_id))
        .is_none());
}

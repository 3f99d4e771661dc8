//! Races of the TOTP extension, interleaved at every storage and user-store call by the memory
//! adapters' yields: one recovery code, one TOTP step and one enrollment each win exactly once.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod totp_helpers;

use common::*;
use faroe_worker::extensions::totp::record::SecondFactors;
use futures::executor::block_on;
use futures::future::join_all;
use serde_json::{json, Value};
use totp_helpers::*;

const U1: &str = "user1@example.com";

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

fn record(h: &Harness) -> SecondFactors {
    SecondFactors::decode(&h.accounts.value("u1", "second_factors").unwrap()).unwrap()
}

#[test]
fn concurrent_uses_of_one_recovery_code_one_wins() {
    let h = Harness::with_totp();
    let (_, _, codes) = u1_enrolled(&h);
    h.at(600);
    let signins: Vec<String> = (0..4)
        .map(|_| password_verified_signin(&h, U1, U1_PASSWORD))
        .collect();
    let calls: Vec<_> = signins
        .iter()
        .map(|t| {
            (
                "verify_signin_recovery_code",
                signin_recovery_args(t, &codes[2]),
            )
        })
        .collect();
    let outcomes = concurrently(&h, &calls);
    assert_eq!(
        outcomes.iter().filter(|o| *o == "ok").count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes
        .iter()
        .all(|o| ["ok", "internal_conflict", "incorrect_recovery_code"].contains(&o.as_str())));
    // The interleaving is real: others found the code unused and lost the compare-and-set.
    assert!(
        outcomes.iter().any(|o| o == "internal_conflict"),
        "{outcomes:?}"
    );
    assert_eq!(record(&h).unused_recovery_code_count(), 9);
    // Exactly one of the signins can complete.
    let completed = signins
        .iter()
        .filter(|t| h.call("complete_signin", json!({ "signin_token": t }))["ok"] == true)
        .count();
    assert_eq!(completed, 1);
    assert!(h.logger.entries().is_empty(), "lost races are not logged");
}

#[test]
fn concurrent_verifications_of_one_totp_step_one_wins() {
    let h = Harness::with_totp();
    let (_, key, _) = u1_enrolled(&h);
    h.at(600);
    let a = password_verified_signin(&h, U1, U1_PASSWORD);
    let b = password_verified_signin(&h, U1, U1_PASSWORD);
    let code = code_at(&h, &key, 0);
    let outcomes = concurrently(
        &h,
        &[
            ("verify_signin_totp_code", signin_code_args(&a, &code)),
            ("verify_signin_totp_code", signin_code_args(&b, &code)),
        ],
    );
    let mut sorted = outcomes.clone();
    sorted.sort();
    assert!(
        sorted == ["internal_conflict", "ok"] || sorted == ["incorrect_totp_code", "ok"],
        "{outcomes:?}"
    );
    assert_eq!(record(&h).totp.unwrap().last_used_step, step(&h));
    assert!(h.logger.entries().is_empty());
}

#[test]
fn concurrent_completes_of_one_enrollment_one_wins() {
    let h = Harness::with_totp();
    let s = h.signin_u1();
    let (t, _) = verified_enrollment(&h, &s, U1_PASSWORD);
    let outcomes = concurrently(
        &h,
        &[
            ("complete_user_totp_enrollment", en_args(&s, &t)),
            ("complete_user_totp_enrollment", en_args(&s, &t)),
            ("complete_user_totp_enrollment", en_args(&s, &t)),
        ],
    );
    let mut sorted = outcomes.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "invalid_user_totp_enrollment_token",
            "invalid_user_totp_enrollment_token",
            "ok"
        ]
    );
    assert_eq!(record(&h).unused_recovery_code_count(), 10);
    assert_eq!(h.accounts.counter("u1", "second_factors"), Some(0));
}

#[test]
fn concurrent_completes_of_two_enrollments_enable_totp_once() {
    let h = Harness::with_totp();
    let s = h.signin_u1();
    let (first, _) = verified_enrollment(&h, &s, U1_PASSWORD);
    h.at(600);
    let (second, second_key) = verified_enrollment(&h, &s, U1_PASSWORD);
    let outcomes = concurrently(
        &h,
        &[
            ("complete_user_totp_enrollment", en_args(&s, &first)),
            ("complete_user_totp_enrollment", en_args(&s, &second)),
        ],
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "ok").count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes
        .iter()
        .all(|o| ["ok", "internal_conflict", "totp_already_enabled"].contains(&o.as_str())));
    assert_eq!(h.accounts.keys("u1"), ["second_factors"]);
    // The stored key is the winner's: the second's code works only if the second won.
    h.at(1200);
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    let result = h.call(
        "verify_signin_totp_code",
        signin_code_args(&t, &code_at(&h, &second_key, 0)),
    );
    assert_eq!(result["ok"] == true, outcomes[1] == "ok");
}

#[test]
fn a_recovery_code_regeneration_racing_a_recovery_code_use_leaves_one_consistent_record() {
    let h = Harness::with_totp();
    let (s, _, codes) = u1_enrolled(&h);
    h.at(600);
    let regeneration = verified_regeneration(&h, &s, U1_PASSWORD);
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    let outcomes = concurrently(
        &h,
        &[
            (
                "complete_user_recovery_code_regeneration",
                rg_args(&s, &regeneration),
            ),
            (
                "verify_signin_recovery_code",
                signin_recovery_args(&t, &codes[0]),
            ),
        ],
    );
    let record = record(&h);
    match (outcomes[0].as_str(), outcomes[1].as_str()) {
        // Regeneration first (the old code refused, or its write lost), or the use first and
        // the regeneration after it: ten fresh codes either way.
        ("ok", "incorrect_recovery_code" | "internal_conflict" | "ok") => {
            assert_eq!(record.unused_recovery_code_count(), 10);
            assert!(record.find_unused_recovery_code("u1", &codes[0]).is_none());
        }
        // The use first: regeneration lost its compare-and-set.
        ("internal_conflict", "ok") => assert_eq!(record.unused_recovery_code_count(), 9),
        other => panic!("unexpected outcomes {other:?}"),
    }
}

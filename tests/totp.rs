//! The TOTP extension (docs/extensions.md): RFC 6238 vectors, enrollment, sign-in with a code or a
//! recovery code, management, the operator action, key rotation, what storage holds, and Faroe's
//! actions with the extension off and on.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod totp_helpers;

use common::*;
use faroe_worker::adapters::memory::{EmailKind, Op};
use faroe_worker::encoding::SequenceWriter;
use faroe_worker::extensions::totp::{code, record::SecondFactors, ACTIONS as TOTP_ACTIONS};
use faroe_worker::ports::StorageError;
use faroe_worker::{crypto, ActionFilter};
use serde_json::{json, Value};
use totp_helpers::*;

const U1: &str = "user1@example.com";

fn record_of(h: &Harness, user_id: &str) -> Option<SecondFactors> {
    h.accounts
        .value(user_id, "second_factors")
        .map(|v| SecondFactors::decode(&v).expect("decodable record"))
}

#[test]
fn rfc_6238_appendix_b_sha1_vectors() {
    // The RFC's SHA-1 seed and its 8-digit values at the listed times (T0 = 0, X = 30 s).
    let key = b"12345678901234567890";
    for (time, expected) in [
        (59i64, 94287082u32),
        (1111111109, 7081804),
        (1111111111, 14050471),
        (1234567890, 89005924),
        (2000000000, 69279037),
        (20000000000, 65353130),
    ] {
        let step = code::step_at(time * 1000);
        assert_eq!(code::hotp(key, step as u64, 8), expected, "T = {time}");
        // The six-digit code the extension uses is the same value's last six digits.
        assert_eq!(
            code::code_for_step(key, step),
            format!("{:06}", expected % 1_000_000)
        );
    }
}

#[test]
fn enrollment_shows_the_key_once_then_needs_a_code_then_issues_ten_recovery_codes() {
    let h = Harness::with_totp();
    let s = h.signin_u1();
    let created = h.ok("create_user_totp_enrollment", s_args(&s));
    let t = token(&created, "user_totp_enrollment_token");
    assert!(is_token(&t));
    let model = &created["user_totp_enrollment"];
    assert_eq!(
        model.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "id",
            "user_id",
            "session_id",
            "user_identity_verified",
            "totp_code_verified",
            "created_at",
            "expires_at"
        ]
    );
    assert_eq!(model["user_id"], "u1");
    assert_eq!(model["session_id"], Harness::session_id(&s));
    assert_eq!(model["user_identity_verified"], false);
    assert_eq!(model["expires_at"], json!(T0_SECONDS + 600));
    // No code before the password.
    h.err_unlogged(
        "verify_user_totp_enrollment_totp_code",
        en_code_args(&s, &t, "123456"),
        "user_identity_not_verified",
    );
    let values = h.ok(
        "verify_user_totp_enrollment_user_password",
        en_password_args(&s, &t, U1_PASSWORD),
    );
    assert_eq!(
        values.keys().collect::<Vec<_>>(),
        ["totp_key", "totp_key_uri"]
    );
    let shown = values["totp_key"].as_str().unwrap();
    assert_eq!(shown.len(), 32, "20 bytes in base32 without padding");
    assert!(shown
        .bytes()
        .all(|b| b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".contains(&b)));
    let key = decode_base32(shown);
    assert_eq!(key.len(), 20);
    assert_eq!(
        values["totp_key_uri"],
        format!("otpauth://totp/Faroe%20Test:user1%40example.com?secret={shown}&issuer=Faroe%20Test&algorithm=SHA1&digits=6&period=30")
    );
    // The key is never shown again.
    let again = h.ok("get_user_totp_enrollment", en_args(&s, &t));
    assert!(!again.to_string_lossy().contains(shown));
    assert_eq!(
        again["user_totp_enrollment"]["user_identity_verified"],
        true
    );
    h.err_unlogged(
        "complete_user_totp_enrollment",
        en_args(&s, &t),
        "totp_code_not_verified",
    );
    h.err_unlogged(
        "verify_user_totp_enrollment_totp_code",
        en_code_args(&s, &t, &wrong_code(&h, &key)),
        "incorrect_totp_code",
    );
    h.ok(
        "verify_user_totp_enrollment_totp_code",
        en_code_args(&s, &t, &code_at(&h, &key, 0)),
    );
    assert_eq!(
        h.ok("get_user_totp_enrollment", en_args(&s, &t))["user_totp_enrollment"]
            ["totp_code_verified"],
        true
    );
    assert!(
        h.accounts.user_ids().is_empty(),
        "nothing stored before completion"
    );
    h.at(5);
    let done = h.ok("complete_user_totp_enrollment", en_args(&s, &t));
    assert_eq!(
        done["user_second_factors"],
        json!({
            "user_id": "u1",
            "totp_enabled": true,
            "totp_enabled_at": T0_SECONDS + 5,
            "recovery_code_count": 10,
            "recovery_codes_created_at": T0_SECONDS + 5,
        })
    );
    let codes: Vec<&str> = done["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| is_code(c, 12)));
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10);
    // The enrollment is spent; the status says the same as the completion.
    h.err_unlogged(
        "get_user_totp_enrollment",
        en_args(&s, &t),
        "invalid_user_totp_enrollment_token",
    );
    assert_eq!(
        h.ok("get_user_second_factors", s_args(&s))["user_second_factors"],
        done["user_second_factors"]
    );
    let sent = h
        .email
        .sent_of(EmailKind::UserSecondFactorAddedNotification);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].email_address, U1);
    assert_eq!(sent[0].display_name, "Alice");
    assert_eq!(sent[0].second_factor, "totp");
    assert_eq!(sent[0].timestamp, Some(T0 + 5 * SECOND));
    assert!(h.logger.entries().is_empty());
    // Only one TOTP at a time.
    h.err_unlogged(
        "create_user_totp_enrollment",
        s_args(&s),
        "totp_already_enabled",
    );
}

trait Lossy {
    fn to_string_lossy(&self) -> String;
}
impl Lossy for serde_json::Map<String, Value> {
    fn to_string_lossy(&self) -> String {
        Value::Object(self.clone()).to_string()
    }
}

#[test]
fn sign_in_needs_the_second_factor_and_complete_signin_refuses_without_it() {
    let h = Harness::with_totp();
    let (_, key, _) = u1_enrolled(&h);
    h.at(60);
    let created = h.ok("create_signin", json!({ "user_email_address": U1 }));
    let t = token(&created, "signin_token");
    assert_eq!(
        created["signin"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        [
            "id",
            "user_id",
            "user_first_factor_verified",
            "user_second_factor_required",
            "user_second_factor_verified",
            "created_at",
            "expires_at"
        ]
    );
    assert_eq!(created["signin"]["user_second_factor_required"], true);
    assert_eq!(created["signin"]["user_second_factor_verified"], false);
    // The second factor comes after the password.
    h.err_unlogged(
        "verify_signin_totp_code",
        signin_code_args(&t, &code_at(&h, &key, 0)),
        "user_first_factor_not_verified",
    );
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": t, "password": U1_PASSWORD }),
    );
    h.err_unlogged(
        "complete_signin",
        json!({ "signin_token": t }),
        "user_second_factor_not_verified",
    );
    // The signin is kept for the second factor.
    h.ok("get_signin", json!({ "signin_token": t }));
    h.ok(
        "verify_signin_totp_code",
        signin_code_args(&t, &code_at(&h, &key, 0)),
    );
    let signin = h.ok("get_signin", json!({ "signin_token": t }))["signin"].clone();
    assert_eq!(signin["user_second_factor_verified"], true);
    h.err_unlogged(
        "verify_signin_totp_code",
        signin_code_args(&t, &code_at(&h, &key, 1)),
        "user_second_factor_already_verified",
    );
    h.err_unlogged(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, "AAAAAAAAAAAA"),
        "user_second_factor_already_verified",
    );
    let values = h.ok("complete_signin", json!({ "signin_token": t }));
    assert!(is_token(values["session_token"].as_str().unwrap()));
}

#[test]
fn totp_enabled_between_create_and_complete_signin_still_counts() {
    let h = Harness::with_totp();
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    assert_eq!(
        h.ok("get_signin", json!({ "signin_token": t }))["signin"]["user_second_factor_required"],
        false
    );
    let (_, key, _) = u1_enrolled(&h);
    h.err_unlogged(
        "complete_signin",
        json!({ "signin_token": t }),
        "user_second_factor_not_verified",
    );
    h.at(31);
    h.ok(
        "verify_signin_totp_code",
        signin_code_args(&t, &code_at(&h, &key, 0)),
    );
    h.ok("complete_signin", json!({ "signin_token": t }));
    // A user without a second factor signs in as before, with the two members false.
    let t = password_verified_signin(&h, "user2@example.com", U2_PASSWORD);
    let signin = h.ok("get_signin", json!({ "signin_token": t }))["signin"].clone();
    assert_eq!(signin["user_second_factor_required"], false);
    assert_eq!(signin["user_second_factor_verified"], false);
    h.err_unlogged(
        "verify_signin_totp_code",
        signin_code_args(&t, "123456"),
        "totp_not_enabled",
    );
    h.err_unlogged(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, "AAAAAAAAAAAA"),
        "second_factor_not_enabled",
    );
    h.ok("complete_signin", json!({ "signin_token": t }));
}

#[test]
fn codes_of_the_previous_current_and_next_step_pass_once_each() {
    let h = Harness::with_totp();
    let (_, key, _) = u1_enrolled(&h);
    // The enrollment's code used the step at T0; move on so all three steps are fresh.
    h.at(120);
    // Fresh buckets for each attempt: this test is about the window, not the limits.
    let sign_in = |code: &str| {
        h.rate.remove_raw("aaaa.u1");
        h.rate.remove_raw("second_factor.u1");
        let t = password_verified_signin(&h, U1, U1_PASSWORD);
        let result = h.call("verify_signin_totp_code", signin_code_args(&t, code));
        result["error_code"].as_str().unwrap_or("ok").to_string()
    };
    assert_eq!(sign_in(&code_at(&h, &key, -2)), "incorrect_totp_code");
    assert_eq!(sign_in(&code_at(&h, &key, 2)), "incorrect_totp_code");
    assert_eq!(sign_in(&code_at(&h, &key, -1)), "ok");
    assert_eq!(
        sign_in(&code_at(&h, &key, -1)),
        "incorrect_totp_code",
        "replay"
    );
    assert_eq!(sign_in(&code_at(&h, &key, 0)), "ok");
    assert_eq!(sign_in(&code_at(&h, &key, 1)), "ok");
    // Every step up to +1 is used now: even the current one is refused.
    assert_eq!(sign_in(&code_at(&h, &key, 0)), "incorrect_totp_code");
    assert_eq!(sign_in(&code_at(&h, &key, 1)), "incorrect_totp_code");
    h.at(150);
    assert_eq!(
        sign_in(&code_at(&h, &key, 0)),
        "incorrect_totp_code",
        "step +1 of before"
    );
    assert_eq!(sign_in(&code_at(&h, &key, 1)), "ok");
    assert_eq!(
        record_of(&h, "u1").unwrap().totp.unwrap().last_used_step,
        step(&h) + 1
    );
    // Malformed codes are incorrect codes.
    for bad in ["", "12345", "1234567", "abcdef", "12345 "] {
        assert_eq!(sign_in(bad), "incorrect_totp_code", "{bad:?}");
    }
}

#[test]
fn the_verify_second_factor_bucket_allows_5_then_1_per_minute_consumed_before_comparing() {
    let h = Harness::with_totp();
    let (_, key, codes) = u1_enrolled(&h);
    // The enrollment's code took one token.
    assert_eq!(h.bucket_count("second_factor.u1"), Some(4));
    h.at(60 * 5);
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    for _ in 0..5 {
        h.err_unlogged(
            "verify_signin_totp_code",
            signin_code_args(&t, &wrong_code(&h, &key)),
            "incorrect_totp_code",
        );
    }
    assert_eq!(h.bucket_count("second_factor.u1"), Some(0));
    // The correct code and a correct recovery code are refused without being compared.
    h.err_unlogged(
        "verify_signin_totp_code",
        signin_code_args(&t, &code_at(&h, &key, 0)),
        "rate_limited",
    );
    h.err_unlogged(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, &codes[0]),
        "rate_limited",
    );
    assert_eq!(
        record_of(&h, "u1").unwrap().unused_recovery_code_count(),
        10
    );
    h.at(60 * 5 + 59);
    h.err_unlogged(
        "verify_signin_totp_code",
        signin_code_args(&t, &code_at(&h, &key, 0)),
        "rate_limited",
    );
    h.at(60 * 6);
    h.ok(
        "verify_signin_totp_code",
        signin_code_args(&t, &code_at(&h, &key, 0)),
    );
    // A success takes a token too, and refunds nothing.
    assert_eq!(h.bucket_count("second_factor.u1"), Some(0));
    // The enrollment's code verification shares the bucket.
    let h = Harness::with_totp();
    let s = h.signin_u1();
    let (t, key) = enrollment_with_key(&h, &s, U1_PASSWORD);
    for _ in 0..5 {
        h.err(
            "verify_user_totp_enrollment_totp_code",
            en_code_args(&s, &t, &wrong_code(&h, &key)),
        );
    }
    h.err_unlogged(
        "verify_user_totp_enrollment_totp_code",
        en_code_args(&s, &t, &code_at(&h, &key, 0)),
        "rate_limited",
    );
}

#[test]
fn recovery_codes_are_single_use_and_case_and_hyphen_insensitive() {
    let h = Harness::with_totp();
    let (s, _, codes) = u1_enrolled(&h);
    let code = &codes[4];
    let typed = format!(
        "{}-{} {}",
        &code[..4],
        code[4..8].to_lowercase(),
        &code[8..]
    );
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    h.err_unlogged(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, "AAAA-AAAA-AAAA"),
        "incorrect_recovery_code",
    );
    h.ok(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, &typed),
    );
    h.ok("complete_signin", json!({ "signin_token": t }));
    assert_eq!(
        h.ok("get_user_second_factors", s_args(&s))["user_second_factors"]["recovery_code_count"],
        9
    );
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    h.err_unlogged(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, code),
        "incorrect_recovery_code",
    );
    // Another code still works.
    h.ok(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, &codes[5]),
    );
    // U1's codes are not U2's (the hash includes the user id).
    let t = password_verified_signin(&h, "user2@example.com", U2_PASSWORD);
    h.err_unlogged(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, &codes[6]),
        "second_factor_not_enabled",
    );
}

#[test]
fn regeneration_needs_the_password_and_replaces_every_code() {
    let h = Harness::with_totp();
    let (s, _, old_codes) = u1_enrolled(&h);
    let created = h.ok("create_user_recovery_code_regeneration", s_args(&s));
    let model = &created["user_recovery_code_regeneration"];
    assert_eq!(
        model.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "id",
            "user_id",
            "session_id",
            "user_identity_verified",
            "created_at",
            "expires_at"
        ]
    );
    let t = token(&created, "user_recovery_code_regeneration_token");
    h.err_unlogged(
        "complete_user_recovery_code_regeneration",
        rg_args(&s, &t),
        "user_identity_not_verified",
    );
    h.err_unlogged(
        "verify_user_recovery_code_regeneration_user_password",
        rg_password_args(&s, &t, "wrong-password"),
        "incorrect_password",
    );
    h.ok(
        "verify_user_recovery_code_regeneration_user_password",
        rg_password_args(&s, &t, U1_PASSWORD),
    );
    h.at(90);
    let done = h.ok("complete_user_recovery_code_regeneration", rg_args(&s, &t));
    assert_eq!(done["user_second_factors"]["recovery_code_count"], 10);
    assert_eq!(
        done["user_second_factors"]["recovery_codes_created_at"],
        json!(T0_SECONDS + 90)
    );
    assert_eq!(
        done["user_second_factors"]["totp_enabled_at"],
        json!(T0_SECONDS)
    );
    let new_codes: Vec<String> = done["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !old_codes.contains(c)));
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    h.err_unlogged(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, &old_codes[0]),
        "incorrect_recovery_code",
    );
    h.ok(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, &new_codes[0]),
    );
}

#[test]
fn totp_removal_needs_the_password_and_removes_the_record() {
    let h = Harness::with_totp();
    let (s, _, codes) = u1_enrolled(&h);
    let created = h.ok("create_user_totp_deletion", s_args(&s));
    let t = token(&created, "user_totp_deletion_token");
    assert_eq!(
        created["user_totp_deletion"]["user_identity_verified"],
        false
    );
    h.err_unlogged(
        "complete_user_totp_deletion",
        del_args(&s, &t),
        "user_identity_not_verified",
    );
    h.ok(
        "verify_user_totp_deletion_user_password",
        del_password_args(&s, &t, U1_PASSWORD),
    );
    h.at(7);
    let done = h.ok("complete_user_totp_deletion", del_args(&s, &t));
    assert_eq!(
        done["user_second_factors"],
        json!({
            "user_id": "u1",
            "totp_enabled": false,
            "totp_enabled_at": null,
            "recovery_code_count": 0,
            "recovery_codes_created_at": null,
        })
    );
    assert!(
        h.accounts.keys("u1").is_empty(),
        "the recovery codes went too"
    );
    let removed = h
        .email
        .sent_of(EmailKind::UserSecondFactorRemovedNotification);
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].second_factor, "totp");
    assert_eq!(removed[0].timestamp, Some(T0 + 7 * SECOND));
    // Sign-in is Faroe's again; the old recovery codes are gone.
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    h.err_unlogged(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, &codes[0]),
        "second_factor_not_enabled",
    );
    h.ok("complete_signin", json!({ "signin_token": t }));
    h.err_unlogged("create_user_totp_deletion", s_args(&s), "totp_not_enabled");
    h.err_unlogged(
        "create_user_recovery_code_regeneration",
        s_args(&s),
        "second_factor_not_enabled",
    );
    // And TOTP can be enabled again.
    enroll(&h, &s, U1_PASSWORD);
}

#[test]
fn storage_never_holds_the_totp_key_or_a_recovery_code_in_plaintext() {
    let h = Harness::with_totp();
    let s = h.signin_u1();
    let (t, key) = enrollment_with_key(&h, &s, U1_PASSWORD);
    let base32 = code::base32(&key);
    let contains =
        |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    let check = |h: &Harness, codes: &[String]| {
        let mut values: Vec<Vec<u8>> = h
            .main
            .keys()
            .iter()
            .filter_map(|k| h.main.value(k))
            .collect();
        values.extend(h.accounts.all_values());
        values.extend(h.rate.keys().iter().filter_map(|k| h.rate.value(k)));
        assert!(!values.is_empty());
        for value in &values {
            assert!(!contains(value, &key), "raw key bytes in storage");
            assert!(!contains(value, base32.as_bytes()), "base32 key in storage");
            for code in codes {
                assert!(
                    !contains(value, code.as_bytes()),
                    "recovery code in storage"
                );
                assert!(!contains(value, code.to_lowercase().as_bytes()));
            }
        }
    };
    // While enrolling, the entity holds the sealed key only.
    check(&h, &[]);
    h.ok(
        "verify_user_totp_enrollment_totp_code",
        en_code_args(&s, &t, &code_at(&h, &key, 0)),
    );
    let done = h.ok("complete_user_totp_enrollment", en_args(&s, &t));
    let codes: Vec<String> = done["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    check(&h, &codes);
    let record = record_of(&h, "u1").unwrap();
    assert_eq!(record.recovery_codes.len(), 10);
    let sealed = &record.totp.as_ref().unwrap().key;
    assert_eq!(sealed.key_id, "k1");
    assert_eq!(sealed.sealed.len(), 12 + 20 + 16, "nonce, ciphertext, tag");
    // Each stored hash is SHA-256(user id ‖ 0 ‖ code).
    let expected = faroe_worker::extensions::totp::record::recovery_code_hash("u1", &codes[0]);
    assert_eq!(record.recovery_codes[0].hash, expected);
    // Nor in the emails or the log.
    for email in h.email.sent() {
        assert!(!format!("{email:?}").contains(&base32));
    }
    // After sign-ins with each kind, still nothing (10 minutes apart: the buckets are full).
    h.at(600);
    signin_with_code(&h, U1, U1_PASSWORD, &code_at(&h, &key, 0));
    h.at(1200);
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    h.ok(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, &codes[1]),
    );
    check(&h, &codes);
}

#[test]
fn key_rotation_old_keys_decrypt_and_writes_reseal_with_the_first_key() {
    const OLD: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    const NEW: &str = "k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    let mut h = Harness::with_totp();
    let (_, key, codes) = u1_enrolled(&h);
    assert_eq!(record_of(&h, "u1").unwrap().totp.unwrap().key.key_id, "k1");
    // Rotate: the new key first, the old one kept.
    h.config.extensions = totp_extensions(&format!("{NEW},{OLD}"));
    h.rebuild();
    h.at(600);
    signin_with_code(&h, U1, U1_PASSWORD, &code_at(&h, &key, 0));
    let sealed = record_of(&h, "u1").unwrap().totp.unwrap().key;
    assert_eq!(sealed.key_id, "k2", "re-sealed with the first key on write");
    // A new enrollment is sealed with the first key from the start.
    let s2 = h.signin("user2@example.com", U2_PASSWORD);
    let (key2, _) = enroll(&h, &s2, U2_PASSWORD);
    assert_eq!(record_of(&h, "u2").unwrap().totp.unwrap().key.key_id, "k2");
    // The old key can go now.
    h.config.extensions = totp_extensions(NEW);
    h.rebuild();
    h.at(1200);
    signin_with_code(&h, U1, U1_PASSWORD, &code_at(&h, &key, 0));
    signin_with_code(&h, "user2@example.com", U2_PASSWORD, &code_at(&h, &key2, 0));
    // Removing the key that sealed a record breaks its TOTP (logged), not its recovery codes.
    h.config.extensions = totp_extensions(OLD);
    h.rebuild();
    h.at(1800);
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    h.err_internal(
        "verify_signin_totp_code",
        signin_code_args(&t, &code_at(&h, &key, 0)),
    );
    assert!(h
        .logger
        .entries()
        .last()
        .unwrap()
        .message
        .contains("\"k2\""));
    h.ok(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, &codes[0]),
    );
    assert_eq!(record_of(&h, "u1").unwrap().totp.unwrap().key.key_id, "k2");
}

#[test]
fn a_record_copied_to_another_user_does_not_decrypt() {
    let h = Harness::with_totp();
    let (_, key, _) = u1_enrolled(&h);
    let s2 = h.signin("user2@example.com", U2_PASSWORD);
    enroll(&h, &s2, U2_PASSWORD);
    // Replace U2's record by U1's: the ciphertext is bound to "u1".
    h.accounts.put_raw(
        "u2",
        "second_factors",
        h.accounts.value("u1", "second_factors").unwrap(),
    );
    h.at(60);
    let t = password_verified_signin(&h, "user2@example.com", U2_PASSWORD);
    h.err_internal(
        "verify_signin_totp_code",
        signin_code_args(&t, &code_at(&h, &key, 0)),
    );
    assert!(h
        .logger
        .entries()
        .last()
        .unwrap()
        .message
        .contains("does not decrypt"));
}

#[test]
fn a_password_change_invalidates_the_entities() {
    let h = Harness::with_totp();
    let s = h.signin_u1();
    let t = create_enrollment(&h, &s);
    h.users.modify("u1", |u| u.password_hash_counter += 1);
    h.err_unlogged(
        "get_user_totp_enrollment",
        en_args(&s, &t),
        "invalid_user_totp_enrollment_token",
    );
    assert!(!h
        .main
        .keys()
        .iter()
        .any(|k| k.starts_with("totp_enrollment.")));
}

#[test]
fn the_entities_expire_one_instant_after_ten_minutes() {
    let h = Harness::with_totp();
    let (s, _, _) = u1_enrolled(&h);
    let t = token(
        &h.ok("create_user_totp_deletion", s_args(&s)),
        "user_totp_deletion_token",
    );
    h.at(600);
    h.ok("get_user_totp_deletion", del_args(&s, &t));
    h.at(601);
    h.err_unlogged(
        "get_user_totp_deletion",
        del_args(&s, &t),
        "invalid_user_totp_deletion_token",
    );
}

#[test]
fn the_operator_action_removes_every_second_factor_of_a_user() {
    let h = Harness::with_totp();
    let (_, _, codes) = u1_enrolled(&h);
    h.ok("delete_user_second_factors", json!({ "user_id": "u1" }));
    assert!(h.accounts.keys("u1").is_empty());
    assert_eq!(
        h.email
            .sent_of(EmailKind::UserSecondFactorRemovedNotification)
            .len(),
        1
    );
    // Nothing left to remove: still ok, no second notification.
    h.ok("delete_user_second_factors", json!({ "user_id": "u1" }));
    assert_eq!(
        h.email
            .sent_of(EmailKind::UserSecondFactorRemovedNotification)
            .len(),
        1
    );
    h.err_unlogged(
        "delete_user_second_factors",
        json!({ "user_id": "nobody" }),
        "user_not_found",
    );
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    h.err_unlogged(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, &codes[0]),
        "second_factor_not_enabled",
    );
    h.ok("complete_signin", json!({ "signin_token": t }));
    // Blocked like any action where the deployment blocks it.
    let filter = ActionFilter::Blocklist(vec!["delete_user_second_factors".into()]);
    let body = json!({ "action": "delete_user_second_factors", "arguments": { "user_id": "u1" } });
    let e = h.raw_filtered(&body.to_string(), &filter).unwrap_err();
    assert_eq!(e.reason(), "action is not allowed on this endpoint");
}

#[test]
fn complete_user_deletion_deletes_the_account_storage() {
    let h = Harness::with_totp();
    let (s, _, _) = u1_enrolled(&h);
    let s2 = h.signin("user2@example.com", U2_PASSWORD);
    enroll(&h, &s2, U2_PASSWORD);
    let deletion = |h: &Harness, s: &str, password: &str| {
        let t = token(
            &h.ok("create_user_deletion", s_args(s)),
            "user_deletion_token",
        );
        let args = json!({ "session_token": s, "user_deletion_token": t });
        let mut with_password = args.clone();
        with_password["password"] = json!(password);
        h.ok("verify_user_deletion_user_password", with_password);
        args
    };
    let args = deletion(&h, &s, U1_PASSWORD);
    h.ok("complete_user_deletion", args);
    assert!(h.accounts.keys("u1").is_empty());
    assert_eq!(h.accounts.user_ids(), ["u2"], "other users keep theirs");
    assert_eq!(h.accounts.instrumentation.count(Op::DeleteAll, "u1/"), 1);
    // A failure there is logged; the user is deleted all the same.
    let args = deletion(&h, &s2, U2_PASSWORD);
    h.accounts.instrumentation.fail_next(
        Op::DeleteAll,
        "u2/",
        StorageError::Failed("injected".into()),
    );
    let result = h.call("complete_user_deletion", args);
    assert_eq!(result["ok"], true);
    let entries = h.logger.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "complete_user_deletion");
    assert_eq!(
        json!(entries[0].action_invocation_id),
        result["action_invocation_id"]
    );
    assert!(h.users.user("u2").is_none());
}

#[test]
fn failed_notifications_are_logged_and_change_nothing() {
    let h = Harness::with_totp();
    h.email
        .set_failing(EmailKind::UserSecondFactorAddedNotification, true);
    let s = h.signin_u1();
    let (t, _) = verified_enrollment(&h, &s, U1_PASSWORD);
    let result = h.call("complete_user_totp_enrollment", en_args(&s, &t));
    assert_eq!(result["ok"], true);
    assert_eq!(
        result["values"]["recovery_codes"].as_array().unwrap().len(),
        10
    );
    let entries = h.logger.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "complete_user_totp_enrollment");
    assert!(entries[0]
        .message
        .contains("second factor added notification"));
    h.email
        .set_failing(EmailKind::UserSecondFactorRemovedNotification, true);
    let t = verified_deletion(&h, &s, U1_PASSWORD);
    assert_eq!(
        h.call("complete_user_totp_deletion", del_args(&s, &t))["ok"],
        true
    );
    assert_eq!(h.logger.entries().len(), 2);
    assert!(h.accounts.keys("u1").is_empty());
    enroll(&h, &s, U1_PASSWORD);
    assert_eq!(
        h.call("delete_user_second_factors", json!({ "user_id": "u1" }))["ok"],
        true
    );
    assert_eq!(h.logger.entries().len(), 4);
    assert_eq!(h.logger.entries()[3].action, "delete_user_second_factors");
}

// ---- the extension off ----

#[test]
fn with_the_extension_off_its_actions_are_unknown_and_touch_nothing() {
    let h = Harness::new();
    let s = h.signin_u1();
    for action in TOTP_ACTIONS {
        let arguments: serde_json::Map<String, Value> = action
            .params
            .iter()
            .map(|p| {
                (
                    p.to_string(),
                    json!(if *p == "session_token" {
                        s.as_str()
                    } else {
                        "x"
                    }),
                )
            })
            .collect();
        let body = json!({ "action": action.name, "arguments": arguments }).to_string();
        let e = h.raw(&body).unwrap_err();
        assert_eq!(e.reason(), "unknown action", "{}", action.name);
    }
    assert!(h.accounts.instrumentation.operations().is_empty());
    // With it on, the same requests are dispatched.
    let h = Harness::with_totp();
    let body =
        json!({ "action": "get_user_second_factors", "arguments": { "session_token": "x" } });
    assert!(h
        .raw(&body.to_string())
        .unwrap()
        .contains("invalid_session_token"));
}

/// Faroe's 7-item signin encoding of spec §6.5, from the model and the token.
fn faroe_signin_encoding(signin: &Value, token: &str) -> Vec<u8> {
    let secret = token.split('.').nth(1).unwrap();
    SequenceWriter::new()
        .string(signin["id"].as_str().unwrap())
        .string(signin["user_id"].as_str().unwrap())
        .bytes(&crypto::hash_secret(secret))
        .bool(signin["user_first_factor_verified"].as_bool().unwrap())
        .int32(0)
        .int32(0)
        .int64(signin["created_at"].as_i64().unwrap())
        .finish()
}

#[test]
fn the_signin_encoding_and_model_are_faroes_when_off_and_gain_two_trailing_items_when_on() {
    let h = Harness::new();
    let created = h.ok("create_signin", json!({ "user_email_address": U1 }));
    let t = token(&created, "signin_token");
    let key = format!("aaac.{}", t.split('.').next().unwrap());
    assert_eq!(
        h.main.value(&key).unwrap(),
        faroe_signin_encoding(&created["signin"], &t)
    );
    assert_eq!(
        created["signin"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        [
            "id",
            "user_id",
            "user_first_factor_verified",
            "created_at",
            "expires_at"
        ]
    );
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": t, "password": U1_PASSWORD }),
    );
    let verified = h.ok("get_signin", json!({ "signin_token": t }))["signin"].clone();
    assert_eq!(
        h.main.value(&key).unwrap(),
        faroe_signin_encoding(&verified, &t)
    );
    h.ok("complete_signin", json!({ "signin_token": t }));
    assert!(
        h.accounts.instrumentation.operations().is_empty(),
        "account storage untouched"
    );

    let h = Harness::with_totp();
    let created = h.ok("create_signin", json!({ "user_email_address": U1 }));
    let t = token(&created, "signin_token");
    let key = format!("aaac.{}", t.split('.').next().unwrap());
    let mut expected = faroe_signin_encoding(&created["signin"], &t);
    expected.extend([1, 0, 1, 0]); // required false, verified false
    assert_eq!(h.main.value(&key).unwrap(), expected);

    // A signin stored while the extension was off reads as "not required" once it is on.
    let mut h = Harness::new();
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    h.config.extensions = totp_extensions(TOTP_KEYS);
    h.rebuild();
    let signin = h.ok("get_signin", json!({ "signin_token": t }))["signin"].clone();
    assert_eq!(signin["user_second_factor_required"], false);
    h.ok("complete_signin", json!({ "signin_token": t }));
}

#[test]
fn a_deployment_that_turns_totp_off_signs_users_in_with_the_password_again() {
    let mut h = Harness::with_totp();
    u1_enrolled(&h);
    h.config.extensions = Default::default();
    h.rebuild();
    h.signin_u1();
    assert!(h
        .accounts
        .keys("u1")
        .contains(&"second_factors".to_string()));
}

//! The TOTP extension's error matrix: for every one of its 20 actions, success and every error code
//! of its set, and the set observed equals the set docs/extensions.md documents (which this file
//! reads). Client codes and `internal_conflict` are not logged; `internal_error` is logged once
//! with the action name and the invocation id. Also: the params documented equal the table's.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod extension_matrix;
mod flow_helpers;
mod totp_helpers;

use common::*;
use extension_matrix::{documented, Matrix, DOCS};
use faroe_worker::adapters::memory::{MemoryAccountStorage, Op};
use faroe_worker::extensions::totp::ACTIONS as TOTP_ACTIONS;
use faroe_worker::ports::StorageError;
use flow_helpers::{id_of, storage_failed, user_store_failed};
use serde_json::json;
use std::collections::BTreeSet;
use totp_helpers::*;

fn failed() -> StorageError {
    storage_failed()
}

fn record_key(user_id: &str) -> String {
    MemoryAccountStorage::instrumentation_key(user_id, "second_factors")
}

/// Two sessions of U1 (the second for `session_mismatch`), TOTP not yet enabled.
fn two_sessions() -> (Harness, String, String) {
    let h = Harness::with_totp();
    let s = h.signin_u1();
    let other = h.signin_u1();
    (h, s, other)
}

#[test]
fn the_docs_list_the_20_actions_with_the_tables_params() {
    for action in TOTP_ACTIONS {
        assert_eq!(
            documented(action.name, "**Params**:"),
            action.params,
            "{}",
            action.name
        );
    }
    // Counted in the TOTP section only: other extensions document their actions too.
    let start = DOCS.find("\n## The TOTP extension").expect("TOTP section");
    let section = &DOCS[start + 1..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    assert_eq!(section.matches("\n#### ").count(), 20);
}

// ---- enrollment ----

#[test]
fn create_user_totp_enrollment() {
    let (h, s, _) = two_sessions();
    let m = Matrix::new(&h, "create_user_totp_enrollment");
    m.ok(s_args(&s));
    m.err(s_args("bad"), "invalid_session_token");
    h.accounts
        .instrumentation
        .fail_next(Op::Get, &record_key("u1"), failed());
    m.internal(s_args(&s));
    h.main
        .instrumentation
        .fail_next(Op::Set, "totp_enrollment.", failed());
    m.internal(s_args(&s));
    h.accounts.put_raw("u1", "second_factors", vec![0xff]);
    m.internal(s_args(&s));
    let h2 = Harness::with_totp();
    let m = m.on(&h2);
    let (s, _, _) = u1_enrolled(&h2);
    m.err(s_args(&s), "totp_already_enabled");
    m.done();
}

#[test]
fn get_user_totp_enrollment() {
    let (h, s, other) = two_sessions();
    let t = create_enrollment(&h, &s);
    let m = Matrix::new(&h, "get_user_totp_enrollment");
    m.ok(en_args(&s, &t));
    m.err(en_args("bad", &t), "invalid_session_token");
    m.err(en_args(&s, "bad"), "invalid_user_totp_enrollment_token");
    m.err(
        en_args(&s, &wrong_secret(&t)),
        "invalid_user_totp_enrollment_token",
    );
    m.err(en_args(&other, &t), "session_mismatch");
    h.main
        .instrumentation
        .fail_next(Op::Get, "totp_enrollment.", failed());
    m.internal(en_args(&s, &t));
    h.users.fail_next("get_user", user_store_failed());
    m.internal(en_args(&s, &t));
    m.done();
}

#[test]
fn delete_user_totp_enrollment() {
    let (h, s, other) = two_sessions();
    let t = create_enrollment(&h, &s);
    let m = Matrix::new(&h, "delete_user_totp_enrollment");
    m.err(en_args("bad", &t), "invalid_session_token");
    m.err(en_args(&s, "bad"), "invalid_user_totp_enrollment_token");
    m.err(en_args(&other, &t), "session_mismatch");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "totp_enrollment.", failed());
    m.internal(en_args(&s, &t));
    h.main
        .instrumentation
        .fail_next(Op::Delete, "totp_enrollment.", StorageError::NotFound);
    m.err(en_args(&s, &t), "invalid_user_totp_enrollment_token");
    m.ok(en_args(&s, &t));
    m.err(en_args(&s, &t), "invalid_user_totp_enrollment_token");
    m.done();
}

#[test]
fn verify_user_totp_enrollment_user_password() {
    let (h, s, other) = two_sessions();
    let t = create_enrollment(&h, &s);
    let m = Matrix::new(&h, "verify_user_totp_enrollment_user_password");
    let args = |s: &str, t: &str, p: &str| en_password_args(s, t, p);
    m.err(args("bad", &t, U1_PASSWORD), "invalid_session_token");
    m.err(
        args(&s, "bad", U1_PASSWORD),
        "invalid_user_totp_enrollment_token",
    );
    m.err(args(&other, &t, U1_PASSWORD), "session_mismatch");
    h.rate.remove_raw("aaaa.u1"); // a fresh verify-user-password bucket to count in
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // token 1
    h.main
        .instrumentation
        .fail_next(Op::Update, "totp_enrollment.", StorageError::NotFound);
    m.err(args(&s, &t, U1_PASSWORD), "internal_conflict"); // 2
    h.main
        .instrumentation
        .fail_next(Op::Update, "totp_enrollment.", failed());
    m.internal(args(&s, &t, U1_PASSWORD)); // 3
    h.rate.instrumentation.fail_next(Op::Get, "aaaa.", failed());
    m.internal(args(&s, &t, U1_PASSWORD));
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // 4
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // 5
    m.err(args(&s, &t, U1_PASSWORD), "rate_limited");
    h.at(60);
    let values = m.ok(args(&s, &t, U1_PASSWORD));
    assert!(values["totp_key_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    m.err(args(&s, &t, U1_PASSWORD), "user_identity_already_verified");
    m.done();
}

#[test]
fn verify_user_totp_enrollment_totp_code() {
    let (h, s, other) = two_sessions();
    let t = create_enrollment(&h, &s);
    let m = Matrix::new(&h, "verify_user_totp_enrollment_totp_code");
    m.err(en_code_args(&s, &t, "123456"), "user_identity_not_verified");
    let values = h.ok(
        "verify_user_totp_enrollment_user_password",
        en_password_args(&s, &t, U1_PASSWORD),
    );
    let key = decode_base32(values["totp_key"].as_str().unwrap());
    let good = code_at(&h, &key, 0);
    m.err(en_code_args("bad", &t, &good), "invalid_session_token");
    m.err(
        en_code_args(&s, "bad", &good),
        "invalid_user_totp_enrollment_token",
    );
    m.err(en_code_args(&other, &t, &good), "session_mismatch");
    h.rate
        .instrumentation
        .fail_next(Op::Add, "second_factor.", StorageError::AlreadyExists);
    m.err(en_code_args(&s, &t, &good), "internal_conflict");
    h.rate
        .instrumentation
        .fail_next(Op::Get, "second_factor.", failed());
    m.internal(en_code_args(&s, &t, &good));
    m.err(
        en_code_args(&s, &t, &wrong_code(&h, &key)),
        "incorrect_totp_code",
    ); // token 1
    h.main
        .instrumentation
        .fail_next(Op::Update, "totp_enrollment.", StorageError::NotFound);
    m.err(en_code_args(&s, &t, &good), "internal_conflict"); // 2
    h.main
        .instrumentation
        .fail_next(Op::Update, "totp_enrollment.", failed());
    m.internal(en_code_args(&s, &t, &good)); // 3
    m.err(en_code_args(&s, &t, "abc"), "incorrect_totp_code"); // 4
    m.err(en_code_args(&s, &t, "abc"), "incorrect_totp_code"); // 5
    m.err(en_code_args(&s, &t, &good), "rate_limited");
    h.at(60);
    m.ok(en_code_args(&s, &t, &code_at(&h, &key, 0)));
    m.err(en_code_args(&s, &t, &good), "totp_code_already_verified");

    // A sealed key that does not open (the entity's user id changed under it) is internal.
    let h = Harness::with_totp();
    let m = m.on(&h);
    let s = h.signin_u1();
    let (t, key) = enrollment_with_key(&h, &s, U1_PASSWORD);
    let entity_key = format!("totp_enrollment.{}", id_of(&t));
    let mut value = h.main.value(&entity_key).unwrap();
    // Flip a byte of the sealed key's tag (the last bytes before the counters and created_at).
    let position = value.len() - 12;
    value[position] ^= 1;
    h.main.put_raw(&entity_key, value);
    m.internal(en_code_args(&s, &t, &code_at(&h, &key, 0)));
    m.done();
}

#[test]
fn complete_user_totp_enrollment() {
    let (h, s, other) = two_sessions();
    let m = Matrix::new(&h, "complete_user_totp_enrollment");
    let t = create_enrollment(&h, &s);
    m.err(en_args("bad", &t), "invalid_session_token");
    m.err(en_args(&s, "bad"), "invalid_user_totp_enrollment_token");
    m.err(en_args(&other, &t), "session_mismatch");
    m.err(en_args(&s, &t), "totp_code_not_verified");
    let (t, _) = verified_enrollment(&h, &s, U1_PASSWORD);
    h.main
        .instrumentation
        .fail_next(Op::Delete, "totp_enrollment.", StorageError::NotFound);
    m.err(en_args(&s, &t), "invalid_user_totp_enrollment_token");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "totp_enrollment.", failed());
    m.internal(en_args(&s, &t));
    // The enrollment is spent before the record is read or written.
    h.accounts
        .instrumentation
        .fail_next(Op::Get, &record_key("u1"), failed());
    m.internal(en_args(&s, &t));
    let (t, _) = verified_enrollment(&h, &s, U1_PASSWORD);
    h.accounts
        .instrumentation
        .fail_next(Op::Add, &record_key("u1"), StorageError::AlreadyExists);
    m.err(en_args(&s, &t), "internal_conflict");
    let (t, _) = verified_enrollment(&h, &s, U1_PASSWORD);
    h.accounts
        .instrumentation
        .fail_next(Op::Add, &record_key("u1"), failed());
    m.internal(en_args(&s, &t));
    // Two enrollments started before TOTP was on: the second finds it on.
    h.at(600);
    let (first, _) = verified_enrollment(&h, &s, U1_PASSWORD);
    h.at(1200);
    let (second, _) = verified_enrollment(&h, &s, U1_PASSWORD);
    let values = m.ok(en_args(&s, &first));
    assert_eq!(values["recovery_codes"].as_array().unwrap().len(), 10);
    m.err(en_args(&s, &second), "totp_already_enabled");
    m.done();
}

// ---- recovery-code regeneration ----

/// U1 enrolled, with a second session of U1 made before.
fn enrolled_with_other_session() -> (Harness, String, String, Vec<String>) {
    let (h, s, other) = two_sessions();
    let (_, codes) = enroll(&h, &s, U1_PASSWORD);
    (h, s, other, codes)
}

#[test]
fn create_user_recovery_code_regeneration() {
    const A: &str = "create_user_recovery_code_regeneration";
    let (h, s, _) = two_sessions();
    let m = Matrix::new(&h, A);
    m.err(s_args(&s), "second_factor_not_enabled");
    m.err(s_args("bad"), "invalid_session_token");
    enroll(&h, &s, U1_PASSWORD);
    let values = m.ok(s_args(&s));
    assert!(is_token(&token(
        &values,
        "user_recovery_code_regeneration_token"
    )));
    h.accounts
        .instrumentation
        .fail_next(Op::Get, &record_key("u1"), failed());
    m.internal(s_args(&s));
    h.main
        .instrumentation
        .fail_next(Op::Set, "recovery_code_regeneration.", failed());
    m.internal(s_args(&s));
    m.done();
}

fn create_regeneration(h: &Harness, s: &str) -> String {
    token(
        &h.ok("create_user_recovery_code_regeneration", s_args(s)),
        "user_recovery_code_regeneration_token",
    )
}

#[test]
fn get_user_recovery_code_regeneration() {
    let (h, s, other, _) = enrolled_with_other_session();
    let t = create_regeneration(&h, &s);
    let m = Matrix::new(&h, "get_user_recovery_code_regeneration");
    m.ok(rg_args(&s, &t));
    m.err(rg_args("bad", &t), "invalid_session_token");
    m.err(
        rg_args(&s, "bad"),
        "invalid_user_recovery_code_regeneration_token",
    );
    m.err(rg_args(&other, &t), "session_mismatch");
    h.main
        .instrumentation
        .fail_next(Op::Get, "recovery_code_regeneration.", failed());
    m.internal(rg_args(&s, &t));
    m.done();
}

#[test]
fn delete_user_recovery_code_regeneration() {
    let (h, s, other, _) = enrolled_with_other_session();
    let t = create_regeneration(&h, &s);
    let m = Matrix::new(&h, "delete_user_recovery_code_regeneration");
    m.err(rg_args("bad", &t), "invalid_session_token");
    m.err(
        rg_args(&s, "bad"),
        "invalid_user_recovery_code_regeneration_token",
    );
    m.err(rg_args(&other, &t), "session_mismatch");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "recovery_code_regeneration.", failed());
    m.internal(rg_args(&s, &t));
    m.ok(rg_args(&s, &t));
    m.err(
        rg_args(&s, &t),
        "invalid_user_recovery_code_regeneration_token",
    );
    m.done();
}

#[test]
fn verify_user_recovery_code_regeneration_user_password() {
    let (h, s, other, _) = enrolled_with_other_session();
    let t = create_regeneration(&h, &s);
    let m = Matrix::new(&h, "verify_user_recovery_code_regeneration_user_password");
    let args = |s: &str, t: &str, p: &str| rg_password_args(s, t, p);
    m.err(args("bad", &t, U1_PASSWORD), "invalid_session_token");
    m.err(
        args(&s, "bad", U1_PASSWORD),
        "invalid_user_recovery_code_regeneration_token",
    );
    m.err(args(&other, &t, U1_PASSWORD), "session_mismatch");
    h.rate.remove_raw("aaaa.u1"); // a fresh verify-user-password bucket to count in
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // token 1
    h.main.instrumentation.fail_next(
        Op::Update,
        "recovery_code_regeneration.",
        StorageError::NotFound,
    );
    m.err(args(&s, &t, U1_PASSWORD), "internal_conflict"); // 2
    h.main
        .instrumentation
        .fail_next(Op::Update, "recovery_code_regeneration.", failed());
    m.internal(args(&s, &t, U1_PASSWORD)); // 3
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // 4
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // 5
    m.err(args(&s, &t, U1_PASSWORD), "rate_limited");
    h.at(600);
    m.ok(args(&s, &t, U1_PASSWORD));
    m.err(args(&s, &t, U1_PASSWORD), "user_identity_already_verified");
    m.done();
}

#[test]
fn complete_user_recovery_code_regeneration() {
    let (h, s, other, _) = enrolled_with_other_session();
    let m = Matrix::new(&h, "complete_user_recovery_code_regeneration");
    let t = create_regeneration(&h, &s);
    m.err(rg_args("bad", &t), "invalid_session_token");
    m.err(
        rg_args(&s, "bad"),
        "invalid_user_recovery_code_regeneration_token",
    );
    m.err(rg_args(&other, &t), "session_mismatch");
    m.err(rg_args(&s, &t), "user_identity_not_verified");
    let t = verified_regeneration(&h, &s, U1_PASSWORD);
    h.accounts
        .instrumentation
        .fail_next(Op::Update, &record_key("u1"), StorageError::NotFound);
    m.err(rg_args(&s, &t), "internal_conflict");
    h.at(600);
    let t = verified_regeneration(&h, &s, U1_PASSWORD);
    h.accounts
        .instrumentation
        .fail_next(Op::Update, &record_key("u1"), failed());
    m.internal(rg_args(&s, &t));
    h.at(1200);
    let t = verified_regeneration(&h, &s, U1_PASSWORD);
    h.main.instrumentation.fail_next(
        Op::Delete,
        "recovery_code_regeneration.",
        StorageError::NotFound,
    );
    m.err(
        rg_args(&s, &t),
        "invalid_user_recovery_code_regeneration_token",
    );
    let t = verified_regeneration(&h, &s, U1_PASSWORD);
    let values = m.ok(rg_args(&s, &t));
    assert_eq!(values["recovery_codes"].as_array().unwrap().len(), 10);
    // The second factor went (operator) while a regeneration was under way.
    h.at(1800);
    let t = verified_regeneration(&h, &s, U1_PASSWORD);
    h.ok("delete_user_second_factors", json!({ "user_id": "u1" }));
    m.err(rg_args(&s, &t), "second_factor_not_enabled");
    m.done();
}

// ---- TOTP removal ----

fn create_totp_deletion(h: &Harness, s: &str) -> String {
    token(
        &h.ok("create_user_totp_deletion", s_args(s)),
        "user_totp_deletion_token",
    )
}

#[test]
fn create_user_totp_deletion() {
    let (h, s, _) = two_sessions();
    let m = Matrix::new(&h, "create_user_totp_deletion");
    m.err(s_args(&s), "totp_not_enabled");
    m.err(s_args("bad"), "invalid_session_token");
    enroll(&h, &s, U1_PASSWORD);
    m.ok(s_args(&s));
    h.accounts
        .instrumentation
        .fail_next(Op::Get, &record_key("u1"), failed());
    m.internal(s_args(&s));
    h.main
        .instrumentation
        .fail_next(Op::Set, "totp_deletion.", failed());
    m.internal(s_args(&s));
    m.done();
}

#[test]
fn get_user_totp_deletion() {
    let (h, s, other, _) = enrolled_with_other_session();
    let t = create_totp_deletion(&h, &s);
    let m = Matrix::new(&h, "get_user_totp_deletion");
    m.ok(del_args(&s, &t));
    m.err(del_args("bad", &t), "invalid_session_token");
    m.err(del_args(&s, "bad"), "invalid_user_totp_deletion_token");
    m.err(del_args(&other, &t), "session_mismatch");
    h.main
        .instrumentation
        .fail_next(Op::Get, "totp_deletion.", failed());
    m.internal(del_args(&s, &t));
    m.done();
}

#[test]
fn delete_user_totp_deletion() {
    let (h, s, other, _) = enrolled_with_other_session();
    let t = create_totp_deletion(&h, &s);
    let m = Matrix::new(&h, "delete_user_totp_deletion");
    m.err(del_args("bad", &t), "invalid_session_token");
    m.err(del_args(&s, "bad"), "invalid_user_totp_deletion_token");
    m.err(del_args(&other, &t), "session_mismatch");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "totp_deletion.", failed());
    m.internal(del_args(&s, &t));
    m.ok(del_args(&s, &t));
    m.err(del_args(&s, &t), "invalid_user_totp_deletion_token");
    m.done();
}

#[test]
fn verify_user_totp_deletion_user_password() {
    let (h, s, other, _) = enrolled_with_other_session();
    let t = create_totp_deletion(&h, &s);
    let m = Matrix::new(&h, "verify_user_totp_deletion_user_password");
    let args = |s: &str, t: &str, p: &str| del_password_args(s, t, p);
    m.err(args("bad", &t, U1_PASSWORD), "invalid_session_token");
    m.err(
        args(&s, "bad", U1_PASSWORD),
        "invalid_user_totp_deletion_token",
    );
    m.err(args(&other, &t, U1_PASSWORD), "session_mismatch");
    h.rate.remove_raw("aaaa.u1"); // a fresh verify-user-password bucket to count in
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // token 1
    h.main
        .instrumentation
        .fail_next(Op::Update, "totp_deletion.", StorageError::NotFound);
    m.err(args(&s, &t, U1_PASSWORD), "internal_conflict"); // 2
    h.main
        .instrumentation
        .fail_next(Op::Update, "totp_deletion.", failed());
    m.internal(args(&s, &t, U1_PASSWORD)); // 3
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // 4
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // 5
    m.err(args(&s, &t, U1_PASSWORD), "rate_limited");
    h.at(600);
    m.ok(args(&s, &t, U1_PASSWORD));
    m.err(args(&s, &t, U1_PASSWORD), "user_identity_already_verified");
    m.done();
}

#[test]
fn complete_user_totp_deletion() {
    let (h, s, other, _) = enrolled_with_other_session();
    let m = Matrix::new(&h, "complete_user_totp_deletion");
    let t = create_totp_deletion(&h, &s);
    m.err(del_args("bad", &t), "invalid_session_token");
    m.err(del_args(&s, "bad"), "invalid_user_totp_deletion_token");
    m.err(del_args(&other, &t), "session_mismatch");
    m.err(del_args(&s, &t), "user_identity_not_verified");
    let t = verified_deletion(&h, &s, U1_PASSWORD);
    h.accounts
        .instrumentation
        .fail_next(Op::Delete, &record_key("u1"), StorageError::NotFound);
    m.err(del_args(&s, &t), "internal_conflict");
    h.at(600);
    let t = verified_deletion(&h, &s, U1_PASSWORD);
    h.accounts
        .instrumentation
        .fail_next(Op::Delete, &record_key("u1"), failed());
    m.internal(del_args(&s, &t));
    h.at(1200);
    let t = verified_deletion(&h, &s, U1_PASSWORD);
    h.accounts
        .instrumentation
        .fail_next(Op::Get, &record_key("u1"), failed());
    m.internal(del_args(&s, &t));
    let t = verified_deletion(&h, &s, U1_PASSWORD);
    let values = m.ok(del_args(&s, &t));
    assert_eq!(values["user_second_factors"]["totp_enabled"], false);
    // Two removals started while TOTP was on: the second finds it off.
    enroll(&h, &s, U1_PASSWORD);
    h.at(1800);
    let first = verified_deletion(&h, &s, U1_PASSWORD);
    let second = verified_deletion(&h, &s, U1_PASSWORD);
    m.ok(del_args(&s, &first));
    m.err(del_args(&s, &second), "totp_not_enabled");
    m.done();
}

// ---- status, sign-in, operator ----

#[test]
fn get_user_second_factors() {
    let (h, s, _, _) = enrolled_with_other_session();
    let m = Matrix::new(&h, "get_user_second_factors");
    let values = m.ok(s_args(&s));
    assert_eq!(values["user_second_factors"]["recovery_code_count"], 10);
    m.err(s_args("bad"), "invalid_session_token");
    h.accounts
        .instrumentation
        .fail_next(Op::Get, &record_key("u1"), failed());
    m.internal(s_args(&s));
    h.accounts.put_raw("u1", "second_factors", vec![1, 2, 3]);
    m.internal(s_args(&s));
    m.done();
}

#[test]
fn verify_signin_totp_code() {
    const A: &str = "verify_signin_totp_code";
    let h = Harness::with_totp();
    let m = Matrix::new(&h, A);
    // U2 has no TOTP.
    let t2 = password_verified_signin(&h, "user2@example.com", U2_PASSWORD);
    m.err(signin_code_args(&t2, "123456"), "totp_not_enabled");
    let (_, key, _) = u1_enrolled(&h);
    h.at(600);
    let t = h.create_signin("user1@example.com");
    let good = |h: &Harness| code_at(h, &key, 0);
    m.err(
        signin_code_args(&t, &good(&h)),
        "user_first_factor_not_verified",
    );
    m.err(signin_code_args("bad", &good(&h)), "invalid_signin_token");
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": t, "password": U1_PASSWORD }),
    );
    h.accounts
        .instrumentation
        .fail_next(Op::Get, &record_key("u1"), failed());
    m.internal(signin_code_args(&t, &good(&h)));
    h.rate
        .instrumentation
        .fail_next(Op::Update, "second_factor.", StorageError::NotFound);
    m.err(signin_code_args(&t, &good(&h)), "internal_conflict");
    h.rate.remove_raw("second_factor.u1"); // a fresh bucket to count in
    m.err(
        signin_code_args(&t, &wrong_code(&h, &key)),
        "incorrect_totp_code",
    ); // token 1
    h.accounts
        .instrumentation
        .fail_next(Op::Update, &record_key("u1"), StorageError::NotFound);
    m.err(signin_code_args(&t, &good(&h)), "internal_conflict"); // 2
    h.accounts
        .instrumentation
        .fail_next(Op::Update, &record_key("u1"), failed());
    m.internal(signin_code_args(&t, &good(&h))); // 3
    m.err(signin_code_args(&t, "1"), "incorrect_totp_code"); // 4
    m.err(signin_code_args(&t, "1"), "incorrect_totp_code"); // 5
    m.err(signin_code_args(&t, &good(&h)), "rate_limited");
    h.at(660);
    // The signin's own compare-and-set can lose too (the code's step is spent by then).
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaac.", StorageError::NotFound);
    m.err(signin_code_args(&t, &good(&h)), "internal_conflict");
    h.at(720);
    m.ok(signin_code_args(&t, &good(&h)));
    m.err(
        signin_code_args(&t, &good(&h)),
        "user_second_factor_already_verified",
    );
    m.done();
}

#[test]
fn verify_signin_recovery_code() {
    const A: &str = "verify_signin_recovery_code";
    let h = Harness::with_totp();
    let m = Matrix::new(&h, A);
    let t2 = password_verified_signin(&h, "user2@example.com", U2_PASSWORD);
    m.err(
        signin_recovery_args(&t2, "AAAAAAAAAAAA"),
        "second_factor_not_enabled",
    );
    let (_, _, codes) = u1_enrolled(&h);
    h.at(600);
    let t = h.create_signin("user1@example.com");
    m.err(
        signin_recovery_args(&t, &codes[0]),
        "user_first_factor_not_verified",
    );
    m.err(
        signin_recovery_args("bad", &codes[0]),
        "invalid_signin_token",
    );
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": t, "password": U1_PASSWORD }),
    );
    h.accounts
        .instrumentation
        .fail_next(Op::Get, &record_key("u1"), failed());
    m.internal(signin_recovery_args(&t, &codes[0]));
    h.rate.remove_raw("second_factor.u1"); // a fresh bucket to count in
    m.err(
        signin_recovery_args(&t, "AAAAAAAAAAAA"),
        "incorrect_recovery_code",
    ); // token 1
    h.accounts
        .instrumentation
        .fail_next(Op::Update, &record_key("u1"), StorageError::NotFound);
    m.err(signin_recovery_args(&t, &codes[0]), "internal_conflict"); // 2
    h.accounts
        .instrumentation
        .fail_next(Op::Update, &record_key("u1"), failed());
    m.internal(signin_recovery_args(&t, &codes[0])); // 3
    m.err(signin_recovery_args(&t, ""), "incorrect_recovery_code"); // 4
    m.err(signin_recovery_args(&t, ""), "incorrect_recovery_code"); // 5
    m.err(signin_recovery_args(&t, &codes[0]), "rate_limited");
    h.at(660);
    m.ok(signin_recovery_args(&t, &codes[0]));
    m.err(
        signin_recovery_args(&t, &codes[1]),
        "user_second_factor_already_verified",
    );
    m.done();
}

#[test]
fn delete_user_second_factors() {
    const A: &str = "delete_user_second_factors";
    let h = Harness::with_totp();
    let m = Matrix::new(&h, A);
    let args = |id: &str| json!({ "user_id": id });
    m.err(args("nobody"), "user_not_found");
    u1_enrolled(&h);
    h.users.fail_next("get_user", user_store_failed());
    m.internal(args("u1"));
    h.accounts
        .instrumentation
        .fail_next(Op::Get, &record_key("u1"), failed());
    m.internal(args("u1"));
    h.accounts
        .instrumentation
        .fail_next(Op::Delete, &record_key("u1"), failed());
    m.internal(args("u1"));
    // The record changing under the delete twice is retried; three times in a row is an error.
    for _ in 0..3 {
        h.accounts
            .instrumentation
            .fail_next(Op::Delete, &record_key("u1"), StorageError::NotFound);
    }
    m.internal(args("u1"));
    assert!(h.accounts.value("u1", "second_factors").is_some());
    for _ in 0..2 {
        h.accounts
            .instrumentation
            .fail_next(Op::Delete, &record_key("u1"), StorageError::NotFound);
    }
    m.ok(args("u1"));
    assert!(h.accounts.value("u1", "second_factors").is_none());
    m.ok(args("u1"));
    m.done();
}

// ---- Faroe's actions with the extension on ----

/// With TOTP on, `complete_signin` returns Faroe's codes and `user_second_factor_not_verified`;
/// `create_signin` keeps Faroe's set, its new account-storage read failing as `internal_error`.
#[test]
fn faroes_signin_actions_with_totp_on() {
    let h = Harness::with_totp();
    u1_enrolled(&h);
    h.at(600);
    let m = Matrix::new(&h, "complete_signin");
    let t = h.create_signin("user1@example.com");
    m.err(json!({ "signin_token": "bad" }), "invalid_signin_token");
    m.err(
        json!({ "signin_token": t }),
        "user_first_factor_not_verified",
    );
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": t, "password": U1_PASSWORD }),
    );
    m.err(
        json!({ "signin_token": t }),
        "user_second_factor_not_verified",
    );
    h.accounts
        .instrumentation
        .fail_next(Op::Get, &record_key("u1"), failed());
    m.internal(json!({ "signin_token": t }));
    assert!(
        h.main.contains(&format!("aaac.{}", id_of(&t))),
        "the signin is kept"
    );
    let expected: BTreeSet<String> = [
        "internal_error",
        "invalid_signin_token",
        "user_first_factor_not_verified",
        "user_second_factor_not_verified",
    ]
    .map(String::from)
    .into();
    assert_eq!(*m.seen.borrow(), expected);
    assert!(DOCS.contains("`complete_signin`** gains the error `user_second_factor_not_verified`"));

    h.accounts
        .instrumentation
        .fail_next(Op::Get, &record_key("u1"), failed());
    h.err_internal(
        "create_signin",
        json!({ "user_email_address": "user1@example.com" }),
    );
}

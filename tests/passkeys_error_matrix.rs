//! The passkeys extension's error matrix: for every one of its 20 actions, success and every error
//! code of its set, and the set observed equals the set docs/extensions.md documents (which this
//! file reads). Client codes and `internal_conflict` are not logged; `internal_error` and
//! `invalid_passkey_credential` are logged once with the action name and the invocation id. Also:
//! the params documented equal the table's.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod extension_matrix;
mod flow_helpers;
mod passkeys_helpers;

use common::*;
use extension_matrix::{documented, Matrix, DOCS};
use faroe_worker::adapters::memory::{MemoryAccountStorage, Op};
use faroe_worker::extensions::passkeys::ACTIONS as PASSKEY_ACTIONS;
use faroe_worker::ports::StorageError;
use faroe_worker::webauthn::Algorithm;
use flow_helpers::{storage_failed, user_store_failed};
use passkeys_helpers::*;
use serde_json::{json, Value};

const U1: &str = "user1@example.com";

fn failed() -> StorageError {
    storage_failed()
}

fn account_key(key: &str) -> String {
    MemoryAccountStorage::instrumentation_key("u1", key)
}

/// Two sessions of U1 (the second for `session_mismatch`); passkeys and TOTP on.
fn two_sessions() -> (Harness, String, String) {
    let h = both_harness();
    let s = h.signin_u1();
    let other = h.signin_u1();
    (h, s, other)
}

fn create_registration(h: &Harness, s: &str) -> String {
    token(
        &h.ok("create_user_passkey_registration", s_args(s)),
        "user_passkey_registration_token",
    )
}

/// U1 with one passkey: (session, other session, authenticator, passkey id).
fn with_passkey(h: &Harness) -> (String, String, Authenticator, String) {
    let s = h.signin_u1();
    let other = h.signin_u1();
    let a = Authenticator::new(Algorithm::Es256, 1);
    let values = register(h, &s, U1_PASSWORD, &a, "A");
    let id = token(values["user_passkey"].as_object().unwrap(), "id");
    (s, other, a, id)
}

#[test]
fn the_docs_list_the_20_actions_with_the_tables_params() {
    for action in PASSKEY_ACTIONS {
        assert_eq!(
            documented(action.name, "**Params**:"),
            action.params,
            "{}",
            action.name
        );
    }
    // create_passkey_signin has no params: its line says "none".
    assert!(DOCS.contains("#### create_passkey_signin\n- **Params**: none"));
}

// ---- registration ----

#[test]
fn create_user_passkey_registration() {
    let (h, s, _) = two_sessions();
    let m = Matrix::new(&h, "create_user_passkey_registration");
    let values = m.ok(s_args(&s));
    assert!(values["credential_creation_options"].is_string());
    m.err(s_args("bad"), "invalid_session_token");
    h.accounts
        .instrumentation
        .fail_next(Op::List, &account_key("passkey."), failed());
    m.internal(s_args(&s));
    h.accounts
        .instrumentation
        .fail_next(Op::Get, &account_key("passkey_user"), failed());
    m.internal(s_args(&s));
    h.main
        .instrumentation
        .fail_next(Op::Set, "passkey_registration.", failed());
    m.internal(s_args(&s));
    h.accounts
        .put_raw("u1", "passkey.aaaaaaaaaaaaaaaaaaaaaaaa", vec![0xff]);
    m.internal(s_args(&s));
    let h2 = passkeys_harness();
    let m = m.on(&h2);
    let s = h2.signin_u1();
    for n in 0..20u8 {
        register(
            &h2,
            &s,
            U1_PASSWORD,
            &Authenticator::new(Algorithm::EdDsa, n + 1),
            "K",
        );
    }
    m.err(s_args(&s), "passkey_limit_reached");
    m.done();
}

#[test]
fn get_user_passkey_registration() {
    let (h, s, other) = two_sessions();
    let t = create_registration(&h, &s);
    let m = Matrix::new(&h, "get_user_passkey_registration");
    m.ok(reg_args(&s, &t));
    m.err(reg_args("bad", &t), "invalid_session_token");
    m.err(
        reg_args(&s, "bad"),
        "invalid_user_passkey_registration_token",
    );
    m.err(
        reg_args(&s, &wrong_secret(&t)),
        "invalid_user_passkey_registration_token",
    );
    m.err(reg_args(&other, &t), "session_mismatch");
    h.main
        .instrumentation
        .fail_next(Op::Get, "passkey_registration.", failed());
    m.internal(reg_args(&s, &t));
    h.users.fail_next("get_user", user_store_failed());
    m.internal(reg_args(&s, &t));
    m.done();
}

#[test]
fn delete_user_passkey_registration() {
    let (h, s, other) = two_sessions();
    let t = create_registration(&h, &s);
    let m = Matrix::new(&h, "delete_user_passkey_registration");
    m.err(reg_args("bad", &t), "invalid_session_token");
    m.err(
        reg_args(&s, "bad"),
        "invalid_user_passkey_registration_token",
    );
    m.err(reg_args(&other, &t), "session_mismatch");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "passkey_registration.", failed());
    m.internal(reg_args(&s, &t));
    m.ok(reg_args(&s, &t));
    m.err(reg_args(&s, &t), "invalid_user_passkey_registration_token");
    m.done();
}

#[test]
fn verify_user_passkey_registration_user_password() {
    let (h, s, other) = two_sessions();
    let t = create_registration(&h, &s);
    let m = Matrix::new(&h, "verify_user_passkey_registration_user_password");
    let args = |s: &str, t: &str, p: &str| reg_password_args(s, t, p);
    m.err(args("bad", &t, U1_PASSWORD), "invalid_session_token");
    m.err(
        args(&s, "bad", U1_PASSWORD),
        "invalid_user_passkey_registration_token",
    );
    m.err(args(&other, &t, U1_PASSWORD), "session_mismatch");
    h.rate.remove_raw("aaaa.u1");
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // 1
    h.main
        .instrumentation
        .fail_next(Op::Update, "passkey_registration.", StorageError::NotFound);
    m.err(args(&s, &t, U1_PASSWORD), "internal_conflict"); // 2
    h.main
        .instrumentation
        .fail_next(Op::Update, "passkey_registration.", failed());
    m.internal(args(&s, &t, U1_PASSWORD)); // 3
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // 4
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // 5
    m.err(args(&s, &t, U1_PASSWORD), "rate_limited");
    refill_buckets(&h);
    m.ok(args(&s, &t, U1_PASSWORD));
    m.err(args(&s, &t, U1_PASSWORD), "user_identity_already_verified");
    m.done();
}

/// TOTP enrollment of U1 (both on): the key.
fn enroll_totp(h: &Harness, s: &str) -> Vec<u8> {
    use faroe_worker::extensions::totp::code;
    use faroe_worker::ports::Clock;
    let t = token(
        &h.ok("create_user_totp_enrollment", s_args(s)),
        "user_totp_enrollment_token",
    );
    let values = h.ok(
        "verify_user_totp_enrollment_user_password",
        json!({ "session_token": s, "user_totp_enrollment_token": t, "password": U1_PASSWORD }),
    );
    let secret = values["totp_key"].as_str().unwrap();
    let key = base32(secret);
    let c = code::code_for_step(&key, code::step_at(h.clock.now()));
    h.ok(
        "verify_user_totp_enrollment_totp_code",
        json!({ "session_token": s, "user_totp_enrollment_token": t, "totp_code": c }),
    );
    h.ok(
        "complete_user_totp_enrollment",
        json!({ "session_token": s, "user_totp_enrollment_token": t }),
    );
    key
}

fn base32(s: &str) -> Vec<u8> {
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

fn current_code(h: &Harness, key: &[u8]) -> String {
    use faroe_worker::extensions::totp::code;
    use faroe_worker::ports::Clock;
    code::code_for_step(key, code::step_at(h.clock.now()))
}

/// The shared checks of the two `*_totp_code` verifications, on a fresh harness each.
fn totp_code_matrix(
    action: &'static str,
    create: impl Fn(&Harness, &str) -> String,
    args: impl Fn(&str, &str, &str) -> Value,
    invalid: &str,
    entity_prefix: &str,
) {
    // A user without TOTP.
    let (h, s, other) = two_sessions();
    let t = create(&h, &s);
    let m = Matrix::new(&h, action);
    m.err(args(&s, &t, "123456"), "totp_not_enabled");
    // With TOTP.
    let key = enroll_totp(&h, &s);
    refill_buckets(&h);
    let t = create(&h, &s);
    let good = current_code(&h, &key);
    m.err(args("bad", &t, &good), "invalid_session_token");
    m.err(args(&s, "bad", &good), invalid);
    m.err(args(&other, &t, &good), "session_mismatch");
    h.accounts
        .instrumentation
        .fail_next(Op::Get, &account_key("second_factors"), failed());
    h.rate.remove_raw("second_factor.u1"); // a fresh verify-second-factor bucket to count in
    m.internal(args(&s, &t, &good));
    m.err(args(&s, &t, "abc"), "incorrect_totp_code"); // token 1
    h.accounts.instrumentation.fail_next(
        Op::Update,
        &account_key("second_factors"),
        StorageError::NotFound,
    );
    m.err(args(&s, &t, &good), "internal_conflict"); // 2: the record's CAS
    h.main
        .instrumentation
        .fail_next(Op::Update, entity_prefix, StorageError::NotFound);
    m.err(args(&s, &t, &good), "internal_conflict"); // 3: the step stored, the flag's CAS lost
    advance(&h, 30);
    m.err(args(&s, &t, "abc"), "incorrect_totp_code"); // 4
    m.err(args(&s, &t, "abc"), "incorrect_totp_code"); // 5
    m.err(args(&s, &t, &current_code(&h, &key)), "rate_limited");
    advance(&h, 60);
    m.ok(args(&s, &t, &current_code(&h, &key)));
    m.err(args(&s, &t, &good), "user_identity_already_verified");
    m.done();
}

#[test]
fn verify_user_passkey_registration_totp_code() {
    totp_code_matrix(
        "verify_user_passkey_registration_totp_code",
        create_registration,
        reg_code_args,
        "invalid_user_passkey_registration_token",
        "passkey_registration.",
    );
}

#[test]
fn complete_user_passkey_registration() {
    let (h, s, other) = two_sessions();
    let m = Matrix::new(&h, "complete_user_passkey_registration");
    let a = Authenticator::new(Algorithm::Es256, 1);
    let args = |s: &str, t: &str, name: &str, c: &str| complete_reg_args(s, t, name, c);
    let created = h.ok("create_user_passkey_registration", s_args(&s));
    let t = token(&created, "user_passkey_registration_token");
    let c = a.register(
        &token(&created, "credential_creation_options"),
        &Tweak::default(),
    );
    m.err(args("bad", &t, "A", &c), "invalid_session_token");
    m.err(
        args(&s, "bad", "A", &c),
        "invalid_user_passkey_registration_token",
    );
    m.err(args(&other, &t, "A", &c), "session_mismatch");
    m.err(args(&s, &t, "A", &c), "user_identity_not_verified");
    let fresh = |h: &Harness| {
        let (t, options) = verified_registration(h, &s, U1_PASSWORD);
        (t, a.register(&options, &Tweak::default()))
    };
    let (t, c) = fresh(&h);
    m.err(args(&s, &t, " ", &c), "invalid_passkey_name");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "passkey_registration.", StorageError::NotFound);
    m.err(
        args(&s, &t, "A", &c),
        "invalid_user_passkey_registration_token",
    );
    let (t, c) = fresh(&h);
    h.main
        .instrumentation
        .fail_next(Op::Delete, "passkey_registration.", failed());
    m.internal(args(&s, &t, "A", &c));
    let (t, _) = fresh(&h);
    m.logged(args(&s, &t, "A", "{}"), "invalid_passkey_credential");
    let (t, c) = fresh(&h);
    h.accounts
        .instrumentation
        .fail_next(Op::List, &account_key("passkey."), failed());
    m.internal(args(&s, &t, "A", &c));
    let (t, c) = fresh(&h);
    h.main
        .instrumentation
        .fail_next(Op::Add, "passkey_credential.", failed());
    m.internal(args(&s, &t, "A", &c));
    // The record's add loses (another first second factor meanwhile): undone, internal_conflict.
    let (t, c) = fresh(&h);
    h.accounts.instrumentation.fail_next(
        Op::Add,
        &account_key("second_factors"),
        StorageError::AlreadyExists,
    );
    m.err(args(&s, &t, "A", &c), "internal_conflict");
    assert!(h
        .main
        .keys()
        .iter()
        .all(|k| !k.starts_with("passkey_credential.")));
    assert!(h
        .accounts
        .keys("u1")
        .iter()
        .all(|k| !k.starts_with("passkey.")));
    let (t, c) = fresh(&h);
    h.accounts
        .instrumentation
        .fail_next(Op::Add, &account_key("passkey."), failed());
    m.internal(args(&s, &t, "A", &c));
    let (t, c) = fresh(&h);
    let values = m.ok(args(&s, &t, "A", &c));
    assert_eq!(values["recovery_codes"].as_array().unwrap().len(), 10);
    let (t, c) = fresh(&h);
    m.err(args(&s, &t, "B", &c), "passkey_already_registered");
    // A second passkey: the record is written back; that write lost → undone.
    let b = Authenticator::new(Algorithm::EdDsa, 2);
    let (t, options) = verified_registration(&h, &s, U1_PASSWORD);
    h.accounts.instrumentation.fail_next(
        Op::Update,
        &account_key("second_factors"),
        StorageError::NotFound,
    );
    m.err(
        args(&s, &t, "B", &b.register(&options, &Tweak::default())),
        "internal_conflict",
    );
    assert!(
        h.main
            .keys()
            .iter()
            .filter(|k| k.starts_with("passkey_credential."))
            .count()
            == 1
    );
    // The limit at completion.
    let h2 = passkeys_harness();
    let m = m.on(&h2);
    let s = h2.signin_u1();
    let mut pending = None;
    for n in 0..20u8 {
        if n == 19 {
            pending = Some(verified_registration(&h2, &s, U1_PASSWORD));
        }
        register(
            &h2,
            &s,
            U1_PASSWORD,
            &Authenticator::new(Algorithm::EdDsa, n + 10),
            "K",
        );
    }
    let (t, options) = pending.unwrap();
    m.err(
        args(
            &s,
            &t,
            "K",
            &Authenticator::new(Algorithm::EdDsa, 99).register(&options, &Tweak::default()),
        ),
        "passkey_limit_reached",
    );
    m.done();
}

// ---- passwordless sign-in ----

#[test]
fn create_passkey_signin() {
    let h = passkeys_harness();
    let m = Matrix::new(&h, "create_passkey_signin");
    m.ok(json!({}));
    h.main
        .instrumentation
        .fail_next(Op::Set, "passkey_signin.", failed());
    m.internal(json!({}));
    m.done();
}

#[test]
fn get_passkey_signin() {
    let h = passkeys_harness();
    let (t, _) = passkeys_helpers::create_passkey_signin(&h);
    let m = Matrix::new(&h, "get_passkey_signin");
    m.ok(ps_args(&t));
    m.err(ps_args("bad"), "invalid_passkey_signin_token");
    m.err(ps_args(&wrong_secret(&t)), "invalid_passkey_signin_token");
    h.main
        .instrumentation
        .fail_next(Op::Get, "passkey_signin.", failed());
    m.internal(ps_args(&t));
    m.done();
}

#[test]
fn delete_passkey_signin() {
    let h = passkeys_harness();
    let (t, _) = passkeys_helpers::create_passkey_signin(&h);
    let m = Matrix::new(&h, "delete_passkey_signin");
    m.err(ps_args("bad"), "invalid_passkey_signin_token");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "passkey_signin.", failed());
    m.internal(ps_args(&t));
    m.ok(ps_args(&t));
    m.err(ps_args(&t), "invalid_passkey_signin_token");
    m.done();
}

#[test]
fn complete_passkey_signin() {
    let h = passkeys_harness();
    let (_, _, a, id) = with_passkey(&h);
    let m = Matrix::new(&h, "complete_passkey_signin");
    let attempt = |tweak: &Tweak, who: &Authenticator| {
        let (t, options) = passkeys_helpers::create_passkey_signin(&h);
        (t, who.assert(&options, tweak))
    };
    let (t, c) = attempt(&Tweak::default(), &a);
    m.err(ps_complete_args("bad", &c), "invalid_passkey_signin_token");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "passkey_signin.", StorageError::NotFound);
    m.err(ps_complete_args(&t, &c), "invalid_passkey_signin_token");
    let (t, c) = attempt(&Tweak::default(), &a);
    h.main
        .instrumentation
        .fail_next(Op::Delete, "passkey_signin.", failed());
    m.internal(ps_complete_args(&t, &c));
    let (t, _) = attempt(&Tweak::default(), &a);
    m.logged(ps_complete_args(&t, "[]"), "invalid_passkey_credential");
    let (t, c) = attempt(&Tweak::default(), &Authenticator::new(Algorithm::Es256, 50));
    m.err(ps_complete_args(&t, &c), "passkey_not_found");
    let (t, c) = attempt(&Tweak::default(), &a);
    h.main
        .instrumentation
        .fail_next(Op::Get, "passkey_credential.", failed());
    m.internal(ps_complete_args(&t, &c));
    let (t, c) = attempt(&Tweak::default(), &a);
    h.users.fail_next("get_user", user_store_failed());
    m.internal(ps_complete_args(&t, &c));
    let (t, c) = attempt(&Tweak::default(), &a);
    h.accounts.instrumentation.fail_next(
        Op::Get,
        &account_key(&format!("passkey.{id}")),
        StorageError::NotFound,
    );
    m.err(ps_complete_args(&t, &c), "passkey_not_found");
    let (t, c) = attempt(&Tweak::default(), &a);
    h.accounts.instrumentation.fail_next(
        Op::Update,
        &account_key("passkey."),
        StorageError::NotFound,
    );
    m.err(ps_complete_args(&t, &c), "internal_conflict");
    let (t, c) = attempt(&Tweak::default(), &a);
    h.main.instrumentation.fail_next(Op::Set, "aaaa.", failed());
    m.internal(ps_complete_args(&t, &c));
    let (t, c) = attempt(&Tweak::default(), &a);
    m.ok(ps_complete_args(&t, &c));
    let mut user = fixture_user("u1", U1, U1_PASSWORD, "Alice");
    user.disabled = true;
    h.users.insert(user);
    let (t, c) = attempt(&Tweak::default(), &a);
    m.err(ps_complete_args(&t, &c), "user_disabled");
    // The user deleted while the index entry stayed: not found.
    let h2 = passkeys_harness();
    let m = m.on(&h2);
    let (_, _, a, _) = with_passkey(&h2);
    h2.users.remove("u1");
    let (t, options) = passkeys_helpers::create_passkey_signin(&h2);
    m.err(
        ps_complete_args(&t, &a.assert(&options, &Tweak::default())),
        "passkey_not_found",
    );
    m.done();
}

// ---- second factor after the password ----

#[test]
fn get_signin_passkey_credential_request_options() {
    let h = passkeys_harness();
    with_passkey(&h);
    let m = Matrix::new(&h, "get_signin_passkey_credential_request_options");
    let t = h.create_signin(U1);
    m.err(signin_args(&t), "user_first_factor_not_verified");
    m.err(signin_args("bad"), "invalid_signin_token");
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    m.ok(signin_args(&t));
    h.accounts
        .instrumentation
        .fail_next(Op::List, &account_key("passkey."), failed());
    m.internal(signin_args(&t));
    let t2 = password_verified_signin(&h, "user2@example.com", U2_PASSWORD);
    m.err(signin_args(&t2), "passkey_not_found");
    m.done();
}

#[test]
fn verify_signin_passkey() {
    let h = passkeys_harness();
    let (_, _, a, _) = with_passkey(&h);
    let m = Matrix::new(&h, "verify_signin_passkey");
    let t = h.create_signin(U1);
    m.err(
        signin_credential_args(&t, "{}"),
        "user_first_factor_not_verified",
    );
    m.err(signin_credential_args("bad", "{}"), "invalid_signin_token");
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    let options = token(
        &h.ok(
            "get_signin_passkey_credential_request_options",
            signin_args(&t),
        ),
        "credential_request_options",
    );
    h.rate.remove_raw("second_factor.u1");
    m.logged(
        signin_credential_args(&t, "{}"),
        "invalid_passkey_credential",
    ); // 1
    let stranger = Authenticator::new(Algorithm::Es256, 60);
    m.err(
        signin_credential_args(&t, &stranger.assert(&options, &Tweak::default())),
        "passkey_not_found",
    ); // 2
    h.accounts.instrumentation.fail_next(
        Op::Update,
        &account_key("passkey."),
        StorageError::NotFound,
    );
    m.err(
        signin_credential_args(&t, &a.assert(&options, &Tweak::default())),
        "internal_conflict",
    ); // 3
    h.accounts
        .instrumentation
        .fail_next(Op::List, &account_key("passkey."), failed());
    m.internal(signin_credential_args(
        &t,
        &a.assert(&options, &Tweak::default()),
    )); // 4
    m.logged(
        signin_credential_args(&t, "{}"),
        "invalid_passkey_credential",
    ); // 5
    m.err(
        signin_credential_args(&t, &a.assert(&options, &Tweak::default())),
        "rate_limited",
    );
    refill_buckets(&h);
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    let options = token(
        &h.ok(
            "get_signin_passkey_credential_request_options",
            signin_args(&t),
        ),
        "credential_request_options",
    );
    m.ok(signin_credential_args(
        &t,
        &a.assert(&options, &Tweak::default()),
    ));
    m.err(
        signin_credential_args(&t, &a.assert(&options, &Tweak::default())),
        "user_second_factor_already_verified",
    );
    m.done();
}

// ---- management ----

#[test]
fn get_user_passkeys() {
    let h = passkeys_harness();
    let (s, _, _, _) = with_passkey(&h);
    let m = Matrix::new(&h, "get_user_passkeys");
    assert_eq!(
        m.ok(s_args(&s))["user_passkeys"].as_array().unwrap().len(),
        1
    );
    m.err(s_args("bad"), "invalid_session_token");
    h.accounts
        .instrumentation
        .fail_next(Op::List, &account_key("passkey."), failed());
    m.internal(s_args(&s));
    m.done();
}

#[test]
fn update_user_passkey_name() {
    let h = passkeys_harness();
    let (s, _, _, id) = with_passkey(&h);
    let m = Matrix::new(&h, "update_user_passkey_name");
    let args = |s: &str, id: &str, name: &str| json!({ "session_token": s, "user_passkey_id": id, "passkey_name": name });
    m.ok(args(&s, &id, "New"));
    m.err(args("bad", &id, "New"), "invalid_session_token");
    m.err(args(&s, &id, ""), "invalid_passkey_name");
    m.err(args(&s, "nope", "New"), "passkey_not_found");
    h.accounts
        .instrumentation
        .fail_next(Op::Get, &account_key("passkey."), failed());
    m.internal(args(&s, &id, "New"));
    h.accounts.instrumentation.fail_next(
        Op::Update,
        &account_key("passkey."),
        StorageError::NotFound,
    );
    m.err(args(&s, &id, "New"), "internal_conflict");
    m.done();
}

fn create_deletion(h: &Harness, s: &str, id: &str) -> String {
    token(
        &h.ok(
            "create_user_passkey_deletion",
            json!({ "session_token": s, "user_passkey_id": id }),
        ),
        "user_passkey_deletion_token",
    )
}

#[test]
fn create_user_passkey_deletion() {
    let h = passkeys_harness();
    let (s, _, _, id) = with_passkey(&h);
    let m = Matrix::new(&h, "create_user_passkey_deletion");
    let args = |s: &str, id: &str| json!({ "session_token": s, "user_passkey_id": id });
    m.ok(args(&s, &id));
    m.err(args("bad", &id), "invalid_session_token");
    m.err(args(&s, &"z".repeat(24)), "passkey_not_found");
    h.main
        .instrumentation
        .fail_next(Op::Set, "passkey_deletion.", failed());
    m.internal(args(&s, &id));
    m.done();
}

#[test]
fn get_user_passkey_deletion() {
    let h = passkeys_harness();
    let (s, other, _, id) = with_passkey(&h);
    let t = create_deletion(&h, &s, &id);
    let m = Matrix::new(&h, "get_user_passkey_deletion");
    m.ok(pdel_args(&s, &t));
    m.err(pdel_args("bad", &t), "invalid_session_token");
    m.err(pdel_args(&s, "bad"), "invalid_user_passkey_deletion_token");
    m.err(pdel_args(&other, &t), "session_mismatch");
    h.main
        .instrumentation
        .fail_next(Op::Get, "passkey_deletion.", failed());
    m.internal(pdel_args(&s, &t));
    m.done();
}

#[test]
fn delete_user_passkey_deletion() {
    let h = passkeys_harness();
    let (s, other, _, id) = with_passkey(&h);
    let t = create_deletion(&h, &s, &id);
    let m = Matrix::new(&h, "delete_user_passkey_deletion");
    m.err(pdel_args("bad", &t), "invalid_session_token");
    m.err(pdel_args(&s, "bad"), "invalid_user_passkey_deletion_token");
    m.err(pdel_args(&other, &t), "session_mismatch");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "passkey_deletion.", failed());
    m.internal(pdel_args(&s, &t));
    m.ok(pdel_args(&s, &t));
    m.err(pdel_args(&s, &t), "invalid_user_passkey_deletion_token");
    m.done();
}

#[test]
fn verify_user_passkey_deletion_user_password() {
    let h = passkeys_harness();
    let (s, other, _, id) = with_passkey(&h);
    let t = create_deletion(&h, &s, &id);
    let m = Matrix::new(&h, "verify_user_passkey_deletion_user_password");
    let args = |s: &str, t: &str, p: &str| pdel_password_args(s, t, p);
    m.err(args("bad", &t, U1_PASSWORD), "invalid_session_token");
    m.err(
        args(&s, "bad", U1_PASSWORD),
        "invalid_user_passkey_deletion_token",
    );
    m.err(args(&other, &t, U1_PASSWORD), "session_mismatch");
    h.rate.remove_raw("aaaa.u1");
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // 1
    h.main
        .instrumentation
        .fail_next(Op::Update, "passkey_deletion.", StorageError::NotFound);
    m.err(args(&s, &t, U1_PASSWORD), "internal_conflict"); // 2
    h.main
        .instrumentation
        .fail_next(Op::Update, "passkey_deletion.", failed());
    m.internal(args(&s, &t, U1_PASSWORD)); // 3
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // 4
    m.err(args(&s, &t, "wrong-password"), "incorrect_password"); // 5
    m.err(args(&s, &t, U1_PASSWORD), "rate_limited");
    refill_buckets(&h);
    m.ok(args(&s, &t, U1_PASSWORD));
    m.err(args(&s, &t, U1_PASSWORD), "user_identity_already_verified");
    m.done();
}

#[test]
fn verify_user_passkey_deletion_totp_code() {
    totp_code_matrix(
        "verify_user_passkey_deletion_totp_code",
        |h, s| {
            // A passkey to delete (registered once per harness).
            let existing = h.ok("get_user_passkeys", s_args(s))["user_passkeys"].clone();
            let id = match existing.as_array().unwrap().first() {
                Some(p) => p["id"].as_str().unwrap().to_string(),
                None => {
                    let a = Authenticator::new(Algorithm::Es256, 1);
                    let values = register(h, s, U1_PASSWORD, &a, "A");
                    token(values["user_passkey"].as_object().unwrap(), "id")
                }
            };
            create_deletion(h, s, &id)
        },
        pdel_code_args,
        "invalid_user_passkey_deletion_token",
        "passkey_deletion.",
    );
}

#[test]
fn complete_user_passkey_deletion() {
    let h = harness(passkeys_extensions(false, true));
    let (s, other, _, id) = with_passkey(&h);
    let b = Authenticator::new(Algorithm::EdDsa, 2);
    let id_b = token(
        register(&h, &s, U1_PASSWORD, &b, "B")["user_passkey"]
            .as_object()
            .unwrap(),
        "id",
    );
    let m = Matrix::new(&h, "complete_user_passkey_deletion");
    let t = create_deletion(&h, &s, &id);
    m.err(pdel_args("bad", &t), "invalid_session_token");
    m.err(pdel_args(&s, "bad"), "invalid_user_passkey_deletion_token");
    m.err(pdel_args(&other, &t), "session_mismatch");
    m.err(pdel_args(&s, &t), "user_identity_not_verified");
    let t = verified_passkey_deletion(&h, &s, &id, U1_PASSWORD);
    h.main
        .instrumentation
        .fail_next(Op::Delete, "passkey_deletion.", failed());
    m.internal(pdel_args(&s, &t));
    h.main
        .instrumentation
        .fail_next(Op::Delete, "passkey_deletion.", StorageError::NotFound);
    m.err(pdel_args(&s, &t), "invalid_user_passkey_deletion_token");
    // The record's write-back lost.
    let t = verified_passkey_deletion(&h, &s, &id, U1_PASSWORD);
    h.accounts.instrumentation.fail_next(
        Op::Update,
        &account_key("second_factors"),
        StorageError::NotFound,
    );
    m.err(pdel_args(&s, &t), "internal_conflict");
    let t = verified_passkey_deletion(&h, &s, &id, U1_PASSWORD);
    h.accounts
        .instrumentation
        .fail_next(Op::List, &account_key("passkey."), failed());
    m.internal(pdel_args(&s, &t));
    // Two deletions of one passkey: the second finds it gone.
    let first = verified_passkey_deletion(&h, &s, &id, U1_PASSWORD);
    let second = verified_passkey_deletion(&h, &s, &id, U1_PASSWORD);
    m.ok(pdel_args(&s, &first));
    m.err(pdel_args(&s, &second), "passkey_not_found");
    // The last one, with SECOND_FACTOR_REQUIRED.
    let t = verified_passkey_deletion(&h, &s, &id_b, U1_PASSWORD);
    m.err(pdel_args(&s, &t), "second_factor_required");
    m.done();
}

//! Spec Appendix B: for every action, success and every error code it may return. Client codes and
//! `internal_conflict` must not be logged; `internal_error` (and `session_not_created`) must be
//! logged exactly once with the action name and the invocation id (§11).

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod flow_helpers;

use common::*;
use faroe_worker::adapters::memory::{EmailKind, Op};
use faroe_worker::ports::{StorageError, UserStoreError};
use flow_helpers::*;
use serde_json::{json, Value};
use std::cell::Cell;
use std::rc::Rc;

fn failed() -> StorageError {
    storage_failed()
}

/// Removes the main-storage entry right before the `n`-th `Get` (1-based) of a key with `prefix`,
/// i.e. between validation and the compare-and-set re-read when `n == 2`.
fn vanish_before_get(h: &Harness, prefix: &'static str, n: usize) {
    let main = h.main.clone();
    let seen = Rc::new(Cell::new(0));
    h.main.instrumentation.set_hook(move |op, key| {
        if op == Op::Get && key.starts_with(prefix) {
            seen.set(seen.get() + 1);
            if seen.get() == n {
                main.remove_raw(key);
            }
        }
    });
}

/// Replaces a stored entity with bytes that do not decode.
fn corrupt(h: &Harness, key: &str) {
    assert!(h.main.contains(key));
    h.main.put_raw(key, vec![0xff]);
}

fn signup_code_args(t: &str, code: &str) -> Value {
    json!({ "signup_token": t, "email_address_verification_code": code })
}

fn signup_password_args(t: &str, password: &str) -> Value {
    json!({ "signup_token": t, "password": password })
}

fn signin_password_args(t: &str, password: &str) -> Value {
    json!({ "signin_token": t, "password": password })
}

/// A signup whose email address was verified.
fn verified_signup(h: &Harness, email: &str) -> String {
    let (t, code) = h.create_signup(email);
    h.ok(
        "verify_signup_email_address_verification_code",
        signup_code_args(&t, &code),
    );
    t
}

// =============================================================================================
// Signup
// =============================================================================================

#[test]
fn create_signup() {
    const A: &str = "create_signup";
    let args = |e: &str| json!({ "email_address": e });

    let h = Harness::new();
    ok_unlogged(&h, A, args("new@example.com"));
    h.err_unlogged(A, args("bad"), "invalid_email_address");
    h.err_unlogged(A, args("user1@example.com"), "email_address_already_used");
    h.email_checker.deny("blocked@example.com");
    h.err_unlogged(A, args("blocked@example.com"), "email_address_not_allowed");
    for _ in 0..4 {
        h.ok(A, args("new@example.com"));
    }
    h.err_unlogged(A, args("new@example.com"), "rate_limited");

    // rate_limited by the read-only check of the verify-email-code bucket.
    let h = Harness::new();
    let (t, _) = h.create_signup("new@example.com");
    for _ in 0..5 {
        h.err(
            "verify_signup_email_address_verification_code",
            signup_code_args(&t, "AAAAAAAA"),
        );
    }
    h.err_unlogged(A, args("new@example.com"), "rate_limited");

    // internal_conflict: the bucket appeared between Get and Add / changed before Update.
    let h = Harness::new();
    h.rate
        .instrumentation
        .fail_next(Op::Add, "aaab.", StorageError::AlreadyExists);
    h.err_unlogged(A, args("new@example.com"), "internal_conflict");
    h.ok(A, args("new@example.com"));
    h.rate
        .instrumentation
        .fail_next(Op::Update, "aaab.", StorageError::NotFound);
    h.err_unlogged(A, args("new@example.com"), "internal_conflict");

    // internal_error from every dependency.
    let h = Harness::new();
    h.users
        .fail_next("get_user_by_email_address", user_store_failed());
    h.err_internal(A, args("new@example.com"));
    h.email_checker.set_failing(true);
    h.err_internal(A, args("new@example.com"));
    h.email_checker.set_failing(false);
    h.rate.instrumentation.fail_next(Op::Get, "aaac.", failed());
    h.err_internal(A, args("new@example.com"));
    h.rate.instrumentation.fail_next(Op::Add, "aaab.", failed());
    h.err_internal(A, args("new@example.com"));
    h.main.instrumentation.fail_next(Op::Set, "aaab.", failed());
    h.err_internal(A, args("new@example.com"));
    h.email
        .set_failing(EmailKind::SignupEmailAddressVerificationCode, true);
    h.err_internal(A, args("new@example.com"));
}

#[test]
fn get_signup() {
    const A: &str = "get_signup";
    let h = Harness::new();
    let (t, _) = h.create_signup("new@example.com");
    let key = format!("aaab.{}", id_of(&t));
    ok_unlogged(&h, A, signup_args(&t));
    h.err_unlogged(A, signup_args("bad"), "invalid_signup_token");
    h.err_unlogged(A, signup_args(&wrong_secret(&t)), "invalid_signup_token");
    h.main.instrumentation.fail_next(Op::Get, "aaab.", failed());
    h.err_internal(A, signup_args(&t));
    // Expired, and deleting it fails.
    h.at(1200);
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaab.", failed());
    h.err_internal(A, signup_args(&t));
    h.at(0);
    corrupt(&h, &key);
    h.err_internal(A, signup_args(&t));
}

#[test]
fn delete_signup() {
    const A: &str = "delete_signup";
    let h = Harness::new();
    let (t, _) = h.create_signup("new@example.com");
    h.err_unlogged(A, signup_args("bad"), "invalid_signup_token");
    h.main.instrumentation.fail_next(Op::Get, "aaab.", failed());
    h.err_internal(A, signup_args(&t));
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaab.", failed());
    h.err_internal(A, signup_args(&t));
    // Deleted concurrently after validation.
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaab.", StorageError::NotFound);
    h.err_unlogged(A, signup_args(&t), "invalid_signup_token");
    ok_unlogged(&h, A, signup_args(&t));
    h.err_unlogged(A, signup_args(&t), "invalid_signup_token");
}

#[test]
fn send_signup_email_address_verification_code() {
    const A: &str = "send_signup_email_address_verification_code";
    let h = Harness::new();
    let (t, _) = h.create_signup("new@example.com");
    h.err_unlogged(A, signup_args("bad"), "invalid_signup_token");
    ok_unlogged(&h, A, signup_args(&t));
    h.rate
        .instrumentation
        .fail_next(Op::Update, "aaab.", StorageError::NotFound);
    h.err_unlogged(A, signup_args(&t), "internal_conflict");
    h.main.instrumentation.fail_next(Op::Get, "aaab.", failed());
    h.err_internal(A, signup_args(&t));
    h.rate.instrumentation.fail_next(Op::Get, "aaac.", failed());
    h.err_internal(A, signup_args(&t));
    h.rate.instrumentation.fail_next(Op::Get, "aaab.", failed());
    h.err_internal(A, signup_args(&t));
    h.email
        .set_failing(EmailKind::SignupEmailAddressVerificationCode, true);
    h.err_internal(A, signup_args(&t)); // spends the 3rd token
    h.email
        .set_failing(EmailKind::SignupEmailAddressVerificationCode, false);
    ok_unlogged(&h, A, signup_args(&t));
    ok_unlogged(&h, A, signup_args(&t));
    h.err_unlogged(A, signup_args(&t), "rate_limited");

    let h = Harness::new();
    let t = verified_signup(&h, "new@example.com");
    h.err_unlogged(A, signup_args(&t), "email_address_already_verified");
}

#[test]
fn verify_signup_email_address_verification_code() {
    const A: &str = "verify_signup_email_address_verification_code";
    let h = Harness::new();
    let (t, code) = h.create_signup("new@example.com");
    h.err_unlogged(A, signup_code_args("bad", &code), "invalid_signup_token");
    h.rate
        .instrumentation
        .fail_next(Op::Add, "aaac.", StorageError::AlreadyExists);
    h.err_unlogged(A, signup_code_args(&t, &code), "internal_conflict");
    h.rate.instrumentation.fail_next(Op::Get, "aaac.", failed());
    h.err_internal(A, signup_code_args(&t, &code));
    h.main.instrumentation.fail_next(Op::Get, "aaab.", failed());
    h.err_internal(A, signup_code_args(&t, &code));
    h.err_unlogged(
        A,
        signup_code_args(&t, "AAAAAAAA"),
        "incorrect_email_address_verification_code",
    );
    // CAS: counter mismatch / failure / entry vanished (FIX-4).
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaab.", StorageError::NotFound);
    h.err_unlogged(A, signup_code_args(&t, &code), "internal_conflict");
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaab.", failed());
    h.err_internal(A, signup_code_args(&t, &code));
    // Three tokens were spent above (wrong code, conflict, failed update); spend the other two.
    h.err(A, signup_code_args(&t, "AAAAAAAA"));
    h.err(A, signup_code_args(&t, "AAAAAAAA"));
    h.err_unlogged(A, signup_code_args(&t, &code), "rate_limited");
    assert_eq!(h.bucket_count("aaac.new@example.com"), Some(0));
    h.at(60);
    ok_unlogged(&h, A, signup_code_args(&t, &code));
    h.err_unlogged(
        A,
        signup_code_args(&t, &code),
        "email_address_already_verified",
    );

    let h = Harness::new();
    let (t, code) = h.create_signup("new@example.com");
    vanish_before_get(&h, "aaab.", 2);
    h.err_unlogged(A, signup_code_args(&t, &code), "internal_conflict");
}

#[test]
fn set_signup_password() {
    const A: &str = "set_signup_password";
    let h = Harness::new();
    let (t, code) = h.create_signup("new@example.com");
    h.err_unlogged(
        A,
        signup_password_args("bad", "correct-horse-9"),
        "invalid_signup_token",
    );
    h.err_unlogged(
        A,
        signup_password_args(&t, "correct-horse-9"),
        "email_address_not_verified",
    );
    h.ok(
        "verify_signup_email_address_verification_code",
        signup_code_args(&t, &code),
    );
    h.err_unlogged(
        A,
        signup_password_args(&t, "123456789"),
        "invalid_password_length",
    );
    h.err_unlogged(A, signup_password_args(&t, "password123"), "weak_password");
    h.strength.set_failing(true);
    h.err_internal(A, signup_password_args(&t, "correct-horse-9"));
    h.strength.set_failing(false);
    h.main.instrumentation.fail_next(Op::Get, "aaab.", failed());
    h.err_internal(A, signup_password_args(&t, "correct-horse-9"));
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaab.", StorageError::NotFound);
    h.err_unlogged(
        A,
        signup_password_args(&t, "correct-horse-9"),
        "internal_conflict",
    );
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaab.", failed());
    h.err_internal(A, signup_password_args(&t, "correct-horse-9"));
    ok_unlogged(&h, A, signup_password_args(&t, "correct-horse-9"));
    h.err_unlogged(
        A,
        signup_password_args(&t, "correct-horse-9"),
        "password_already_set",
    );

    let h = Harness::new();
    let t = verified_signup(&h, "new@example.com");
    vanish_before_get(&h, "aaab.", 2);
    h.err_unlogged(
        A,
        signup_password_args(&t, "correct-horse-9"),
        "internal_conflict",
    );
}

#[test]
fn complete_signup() {
    const A: &str = "complete_signup";
    let h = Harness::new();
    let (t, code) = h.create_signup("new@example.com");
    h.err_unlogged(A, signup_args("bad"), "invalid_signup_token");
    h.err_unlogged(A, signup_args(&t), "email_address_not_verified");
    h.ok(
        "verify_signup_email_address_verification_code",
        signup_code_args(&t, &code),
    );
    h.err_unlogged(A, signup_args(&t), "password_not_set");
    h.ok(
        "set_signup_password",
        signup_password_args(&t, "correct-horse-9"),
    );
    h.email_checker.set_failing(true);
    h.err_internal(A, signup_args(&t));
    h.email_checker.set_failing(false);
    h.users
        .fail_next("create_user", UserStoreError::UserNotFound);
    h.err_unlogged(A, signup_args(&t), "internal_conflict");
    h.users.fail_next("create_user", user_store_failed());
    h.err_internal(A, signup_args(&t));
    let values = ok_unlogged(&h, A, signup_args(&t));
    assert!(is_token(values["session_token"].as_str().unwrap()));

    // session_not_created is logged.
    let h = Harness::new();
    let t = h.signup_ready("new@example.com");
    h.main.instrumentation.fail_next(Op::Set, "aaaa.", failed());
    err_logged(&h, A, signup_args(&t), "session_not_created");

    // The checker now denies the address → invalid token.
    let h = Harness::new();
    let t = h.signup_ready("new@example.com");
    h.email_checker.deny("new@example.com");
    h.err_unlogged(A, signup_args(&t), "invalid_signup_token");

    // Address taken in the meantime → invalid token.
    let h = Harness::new();
    let t = h.signup_ready("new@example.com");
    h.users
        .insert(fixture_user("u3", "new@example.com", "x-correct-horse", ""));
    h.err_unlogged(A, signup_args(&t), "invalid_signup_token");
}

// =============================================================================================
// Signin
// =============================================================================================

#[test]
fn create_signin() {
    const A: &str = "create_signin";
    let args = |e: &str| json!({ "user_email_address": e });
    let h = Harness::new();
    ok_unlogged(&h, A, args("user1@example.com"));
    h.err_unlogged(A, args("bad"), "invalid_email_address");
    h.err_unlogged(A, args("nobody@example.com"), "user_not_found");
    h.users
        .fail_next("get_user_by_email_address", user_store_failed());
    h.err_internal(A, args("user1@example.com"));
    h.main.instrumentation.fail_next(Op::Set, "aaac.", failed());
    h.err_internal(A, args("user1@example.com"));
    h.users.modify("u1", |u| {
        u.disabled = true;
        u.disabled_counter += 1;
    });
    h.err_unlogged(A, args("user1@example.com"), "user_disabled");
}

#[test]
fn get_signin() {
    const A: &str = "get_signin";
    let h = Harness::new();
    let t = h.create_signin("user1@example.com");
    ok_unlogged(&h, A, signin_args(&t));
    h.err_unlogged(A, signin_args("bad"), "invalid_signin_token");
    h.err_unlogged(A, signin_args(&wrong_secret(&t)), "invalid_signin_token");
    h.main.instrumentation.fail_next(Op::Get, "aaac.", failed());
    h.err_internal(A, signin_args(&t));
    h.users.fail_next("get_user", user_store_failed());
    h.err_internal(A, signin_args(&t));
    corrupt(&h, &format!("aaac.{}", id_of(&t)));
    h.err_internal(A, signin_args(&t));
}

#[test]
fn delete_signin() {
    const A: &str = "delete_signin";
    let h = Harness::new();
    let t = h.create_signin("user1@example.com");
    h.err_unlogged(A, signin_args("bad"), "invalid_signin_token");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaac.", failed());
    h.err_internal(A, signin_args(&t));
    h.users.fail_next("get_user", user_store_failed());
    h.err_internal(A, signin_args(&t));
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaac.", StorageError::NotFound);
    h.err_unlogged(A, signin_args(&t), "invalid_signin_token");
    ok_unlogged(&h, A, signin_args(&t));
    h.err_unlogged(A, signin_args(&t), "invalid_signin_token");
}

#[test]
fn verify_signin_user_password() {
    const A: &str = "verify_signin_user_password";
    let h = Harness::new();
    let t = h.create_signin("user1@example.com");
    h.err_unlogged(
        A,
        signin_password_args("bad", U1_PASSWORD),
        "invalid_signin_token",
    );
    h.rate
        .instrumentation
        .fail_next(Op::Add, "aaaa.", StorageError::AlreadyExists);
    h.err_unlogged(
        A,
        signin_password_args(&t, U1_PASSWORD),
        "internal_conflict",
    );
    h.rate.instrumentation.fail_next(Op::Get, "aaaa.", failed());
    h.err_internal(A, signin_password_args(&t, U1_PASSWORD));
    h.err_unlogged(A, signin_password_args(&t, "wrong"), "incorrect_password"); // token 1
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaac.", StorageError::NotFound);
    h.err_unlogged(
        A,
        signin_password_args(&t, U1_PASSWORD),
        "internal_conflict",
    ); // 2
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaac.", failed());
    h.err_internal(A, signin_password_args(&t, U1_PASSWORD)); // 3
    h.users
        .modify("u1", |u| u.password_hash_algorithm_id = "unknown".into());
    h.err_internal(A, signin_password_args(&t, U1_PASSWORD)); // 4
    h.users
        .modify("u1", |u| u.password_hash_algorithm_id = "test-a".into());
    ok_unlogged(&h, A, signin_password_args(&t, U1_PASSWORD)); // 5
    h.err_unlogged(
        A,
        signin_password_args(&t, U1_PASSWORD),
        "user_first_factor_already_verified",
    );
    let t2 = h.create_signin("user1@example.com");
    h.err_unlogged(A, signin_password_args(&t2, U1_PASSWORD), "rate_limited");

    let h = Harness::new();
    let t = h.create_signin("user1@example.com");
    vanish_before_get(&h, "aaac.", 2);
    h.err_unlogged(
        A,
        signin_password_args(&t, U1_PASSWORD),
        "internal_conflict",
    );
}

#[test]
fn complete_signin() {
    const A: &str = "complete_signin";
    let h = Harness::new();
    let t = h.create_signin("user1@example.com");
    h.err_unlogged(A, signin_args("bad"), "invalid_signin_token");
    h.err_unlogged(A, signin_args(&t), "user_first_factor_not_verified");
    h.ok(
        "verify_signin_user_password",
        signin_password_args(&t, U1_PASSWORD),
    );
    h.users.fail_next("get_user", user_store_failed());
    h.err_internal(A, signin_args(&t));
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaac.", failed());
    h.err_internal(A, signin_args(&t));
    let values = ok_unlogged(&h, A, signin_args(&t));
    assert!(is_token(values["session_token"].as_str().unwrap()));
    h.err_unlogged(A, signin_args(&t), "invalid_signin_token");

    // Session creation fails → internal_error (not session_not_created).
    let h = Harness::new();
    let t = verified_signin(&h);
    h.main.instrumentation.fail_next(Op::Set, "aaaa.", failed());
    h.err_internal(A, signin_args(&t));
}

// =============================================================================================
// Sessions
// =============================================================================================

#[test]
fn get_session() {
    const A: &str = "get_session";
    let (h, s) = with_session();
    ok_unlogged(&h, A, session_args(&s));
    h.err_unlogged(A, session_args("bad"), "invalid_session_token");
    h.err_unlogged(A, session_args(&wrong_secret(&s)), "invalid_session_token");
    h.cache
        .instrumentation
        .fail_next(Op::Get, "aaaa.", failed());
    h.err_internal(A, session_args(&s));
    // Main path (the cached copy has expired).
    h.at(61);
    h.main.instrumentation.fail_next(Op::Get, "aaaa.", failed());
    h.err_internal(A, session_args(&s));
    h.users.fail_next("get_user", user_store_failed());
    h.err_internal(A, session_args(&s));
    h.cache
        .instrumentation
        .fail_next(Op::Set, "aaaa.", failed());
    h.err_internal(A, session_args(&s));
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaaa.", failed());
    h.err_internal(A, session_args(&s));
    ok_unlogged(&h, A, session_args(&s));
}

#[test]
fn delete_session() {
    const A: &str = "delete_session";
    let (h, s) = with_session();
    h.err_unlogged(A, session_args("bad"), "invalid_session_token");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaaa.", failed());
    h.err_internal(A, session_args(&s));
    h.cache
        .instrumentation
        .fail_next(Op::Delete, "aaaa.", failed());
    h.err_internal(A, session_args(&s));
    ok_unlogged(&h, A, session_args(&s));
    h.err_unlogged(A, session_args(&s), "invalid_session_token");
}

#[test]
fn delete_all_sessions() {
    const A: &str = "delete_all_sessions";
    let (h, s) = with_session();
    h.err_unlogged(A, session_args("bad"), "invalid_session_token");
    h.users.fail_next("get_user", user_store_failed());
    h.err_internal(A, session_args(&s));
    // KEEP: even user-not-found from the increment is an internal error.
    h.users.fail_next(
        "increment_user_sessions_counter",
        UserStoreError::UserNotFound,
    );
    h.err_internal(A, session_args(&s));
    h.users
        .fail_next("increment_user_sessions_counter", user_store_failed());
    h.err_internal(A, session_args(&s));
    ok_unlogged(&h, A, session_args(&s));
    assert_eq!(h.users.user("u1").unwrap().sessions_counter, 1);
}

// =============================================================================================
// User email address update
// =============================================================================================

#[test]
fn create_user_email_address_update() {
    const A: &str = "create_user_email_address_update";
    let args = |s: &str, e: &str| json!({ "session_token": s, "new_email_address": e });

    let (h, s) = with_session();
    h.err_unlogged(A, args(&s, "bad"), "invalid_email_address");
    h.err_unlogged(A, args("bad", NEW_EMAIL), "invalid_session_token");
    h.err_unlogged(
        A,
        args(&s, "user2@example.com"),
        "email_address_already_used",
    );
    h.email_checker.deny("blocked@example.com");
    h.err_unlogged(
        A,
        args(&s, "blocked@example.com"),
        "email_address_not_allowed",
    );
    ok_unlogged(&h, A, args(&s, NEW_EMAIL));
    for _ in 0..4 {
        h.ok(A, args(&s, NEW_EMAIL));
    }
    h.err_unlogged(A, args(&s, NEW_EMAIL), "rate_limited");

    // rate_limited by the check of the verify-email-code bucket.
    let (h, s) = with_session();
    let t = email_update(&h, &s, NEW_EMAIL);
    for _ in 0..5 {
        h.err(
            "verify_user_email_address_update_email_address_verification_code",
            eu_code_args(&s, &t, "AAAAAAAA"),
        );
    }
    h.err_unlogged(A, args(&s, NEW_EMAIL), "rate_limited");
    assert_eq!(h.bucket_count(&format!("aaab.{NEW_EMAIL}")), Some(4));

    let (h, s) = with_session();
    h.rate
        .instrumentation
        .fail_next(Op::Add, "aaab.", StorageError::AlreadyExists);
    h.err_unlogged(A, args(&s, NEW_EMAIL), "internal_conflict");

    let (h, s) = with_session();
    h.users.modify("u1", |u| u.email_address_counter = i32::MAX);
    h.err_internal(A, args(&s, NEW_EMAIL));
    h.users.modify("u1", |u| u.email_address_counter = 0);
    h.users.fail_next("get_user", user_store_failed());
    h.err_internal(A, args(&s, NEW_EMAIL));
    h.users
        .fail_next("get_user_by_email_address", user_store_failed());
    h.err_internal(A, args(&s, NEW_EMAIL));
    h.email_checker.set_failing(true);
    h.err_internal(A, args(&s, NEW_EMAIL));
    h.email_checker.set_failing(false);
    h.rate.instrumentation.fail_next(Op::Get, "aaac.", failed());
    h.err_internal(A, args(&s, NEW_EMAIL));
    h.rate.instrumentation.fail_next(Op::Add, "aaab.", failed());
    h.err_internal(A, args(&s, NEW_EMAIL));
    h.main.instrumentation.fail_next(Op::Set, "aaad.", failed());
    h.err_internal(A, args(&s, NEW_EMAIL));
    h.email.set_failing(
        EmailKind::UserEmailAddressUpdateEmailAddressVerificationCode,
        true,
    );
    h.err_internal(A, args(&s, NEW_EMAIL));
}

#[test]
fn get_user_email_address_update() {
    const A: &str = "get_user_email_address_update";
    let (h, s) = with_session();
    let s2 = h.signin_u1();
    let t = email_update(&h, &s, NEW_EMAIL);
    ok_unlogged(&h, A, eu_args(&s, &t));
    h.err_unlogged(A, eu_args("bad", &t), "invalid_session_token");
    h.err_unlogged(
        A,
        eu_args(&s, "bad"),
        "invalid_user_email_address_update_token",
    );
    h.err_unlogged(
        A,
        eu_args(&s, &wrong_secret(&t)),
        "invalid_user_email_address_update_token",
    );
    h.err_unlogged(A, eu_args(&s2, &t), "session_mismatch");
    h.main.instrumentation.fail_next(Op::Get, "aaad.", failed());
    h.err_internal(A, eu_args(&s, &t));
    h.users.fail_next("get_user", user_store_failed());
    h.err_internal(A, eu_args(&s, &t));
    h.cache
        .instrumentation
        .fail_next(Op::Get, "aaaa.", failed());
    h.err_internal(A, eu_args(&s, &t));
    corrupt(&h, &format!("aaad.{}", id_of(&t)));
    h.err_internal(A, eu_args(&s, &t));
}

#[test]
fn delete_user_email_address_update() {
    const A: &str = "delete_user_email_address_update";
    let (h, s) = with_session();
    let s2 = h.signin_u1();
    let t = email_update(&h, &s, NEW_EMAIL);
    h.err_unlogged(A, eu_args("bad", &t), "invalid_session_token");
    h.err_unlogged(
        A,
        eu_args(&s, "bad"),
        "invalid_user_email_address_update_token",
    );
    h.err_unlogged(A, eu_args(&s2, &t), "session_mismatch");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaad.", failed());
    h.err_internal(A, eu_args(&s, &t));
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaad.", StorageError::NotFound);
    h.err_unlogged(
        A,
        eu_args(&s, &t),
        "invalid_user_email_address_update_token",
    );
    ok_unlogged(&h, A, eu_args(&s, &t));
    h.err_unlogged(
        A,
        eu_args(&s, &t),
        "invalid_user_email_address_update_token",
    );
}

#[test]
fn send_user_email_address_update_email_address_verification_code() {
    const A: &str = "send_user_email_address_update_email_address_verification_code";
    let (h, s) = with_session();
    let s2 = h.signin_u1();
    let t = email_update(&h, &s, NEW_EMAIL); // token 1 of the send-email bucket
    h.err_unlogged(A, eu_args("bad", &t), "invalid_session_token");
    h.err_unlogged(
        A,
        eu_args(&s, "bad"),
        "invalid_user_email_address_update_token",
    );
    h.err_unlogged(A, eu_args(&s2, &t), "session_mismatch");
    ok_unlogged(&h, A, eu_args(&s, &t)); // 2
    h.rate
        .instrumentation
        .fail_next(Op::Update, "aaab.", StorageError::NotFound);
    h.err_unlogged(A, eu_args(&s, &t), "internal_conflict");
    h.rate.instrumentation.fail_next(Op::Get, "aaac.", failed());
    h.err_internal(A, eu_args(&s, &t));
    h.rate
        .instrumentation
        .fail_next(Op::Update, "aaab.", failed());
    h.err_internal(A, eu_args(&s, &t));
    h.main.instrumentation.fail_next(Op::Get, "aaad.", failed());
    h.err_internal(A, eu_args(&s, &t));
    h.email.set_failing(
        EmailKind::UserEmailAddressUpdateEmailAddressVerificationCode,
        true,
    );
    h.err_internal(A, eu_args(&s, &t)); // 3
    h.email.set_failing(
        EmailKind::UserEmailAddressUpdateEmailAddressVerificationCode,
        false,
    );
    h.ok(A, eu_args(&s, &t)); // 4
    h.ok(A, eu_args(&s, &t)); // 5
    h.err_unlogged(A, eu_args(&s, &t), "rate_limited");

    let (h, s) = with_session();
    let t = code_verified_email_update(&h, &s, NEW_EMAIL);
    h.err_unlogged(A, eu_args(&s, &t), "email_address_already_verified");

    // Rate-limited by the check of the verify-email-code bucket.
    let (h, s) = with_session();
    let t = email_update(&h, &s, NEW_EMAIL);
    for _ in 0..5 {
        h.err(
            "verify_user_email_address_update_email_address_verification_code",
            eu_code_args(&s, &t, "AAAAAAAA"),
        );
    }
    h.err_unlogged(A, eu_args(&s, &t), "rate_limited");
}

#[test]
fn verify_user_email_address_update_email_address_verification_code() {
    const A: &str = "verify_user_email_address_update_email_address_verification_code";
    let (h, s) = with_session();
    let s2 = h.signin_u1();
    let t = email_update(&h, &s, NEW_EMAIL);
    let code = email_update_code(&h);
    h.err_unlogged(A, eu_code_args("bad", &t, &code), "invalid_session_token");
    h.err_unlogged(
        A,
        eu_code_args(&s, "bad", &code),
        "invalid_user_email_address_update_token",
    );
    h.err_unlogged(A, eu_code_args(&s2, &t, &code), "session_mismatch");
    h.rate
        .instrumentation
        .fail_next(Op::Add, "aaac.", StorageError::AlreadyExists);
    h.err_unlogged(A, eu_code_args(&s, &t, &code), "internal_conflict");
    h.rate.instrumentation.fail_next(Op::Get, "aaac.", failed());
    h.err_internal(A, eu_code_args(&s, &t, &code));
    h.err_unlogged(
        A,
        eu_code_args(&s, &t, &code.to_lowercase()),
        "incorrect_email_address_verification_code",
    ); // token 1
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaad.", StorageError::NotFound);
    h.err_unlogged(A, eu_code_args(&s, &t, &code), "internal_conflict"); // 2
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaad.", failed());
    h.err_internal(A, eu_code_args(&s, &t, &code)); // 3
    ok_unlogged(&h, A, eu_code_args(&s, &t, &code)); // 4
    h.err_unlogged(
        A,
        eu_code_args(&s, &t, &code),
        "email_address_already_verified",
    );

    let (h, s) = with_session();
    let t = email_update(&h, &s, NEW_EMAIL);
    let code = email_update_code(&h);
    for _ in 0..5 {
        h.err_unlogged(
            A,
            eu_code_args(&s, &t, "AAAAAAAA"),
            "incorrect_email_address_verification_code",
        );
    }
    h.err_unlogged(A, eu_code_args(&s, &t, &code), "rate_limited");

    // FIX-4: the entry vanished before the compare-and-set re-read.
    let (h, s) = with_session();
    let t = email_update(&h, &s, NEW_EMAIL);
    let code = email_update_code(&h);
    vanish_before_get(&h, "aaad.", 2);
    h.err_unlogged(A, eu_code_args(&s, &t, &code), "internal_conflict");
}

#[test]
fn verify_user_email_address_update_user_password() {
    const A: &str = "verify_user_email_address_update_user_password";
    let (h, s) = with_session(); // verify-user-password token 1
    let s2 = h.signin_u1(); // 2
    let t = email_update(&h, &s, NEW_EMAIL);
    h.err_unlogged(
        A,
        eu_password_args(&s, &t, U1_PASSWORD),
        "email_address_not_verified",
    );
    let code = email_update_code(&h);
    h.ok(
        "verify_user_email_address_update_email_address_verification_code",
        eu_code_args(&s, &t, &code),
    );
    h.err_unlogged(
        A,
        eu_password_args("bad", &t, U1_PASSWORD),
        "invalid_session_token",
    );
    h.err_unlogged(
        A,
        eu_password_args(&s, "bad", U1_PASSWORD),
        "invalid_user_email_address_update_token",
    );
    h.err_unlogged(
        A,
        eu_password_args(&s2, &t, U1_PASSWORD),
        "session_mismatch",
    );
    h.rate
        .instrumentation
        .fail_next(Op::Update, "aaaa.", StorageError::NotFound);
    h.err_unlogged(
        A,
        eu_password_args(&s, &t, U1_PASSWORD),
        "internal_conflict",
    );
    h.rate.instrumentation.fail_next(Op::Get, "aaaa.", failed());
    h.err_internal(A, eu_password_args(&s, &t, U1_PASSWORD));
    h.err_unlogged(A, eu_password_args(&s, &t, "wrong"), "incorrect_password"); // 3
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaad.", StorageError::NotFound);
    h.err_unlogged(
        A,
        eu_password_args(&s, &t, U1_PASSWORD),
        "internal_conflict",
    ); // 4
    h.users
        .modify("u1", |u| u.password_hash_algorithm_id = "unknown".into());
    h.err_internal(A, eu_password_args(&s, &t, U1_PASSWORD)); // 5
    h.users
        .modify("u1", |u| u.password_hash_algorithm_id = "test-a".into());
    h.err_unlogged(A, eu_password_args(&s, &t, U1_PASSWORD), "rate_limited");
    h.at(60);
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaad.", failed());
    h.err_internal(A, eu_password_args(&s, &t, U1_PASSWORD));
    h.at(120);
    ok_unlogged(&h, A, eu_password_args(&s, &t, U1_PASSWORD));
    h.err_unlogged(
        A,
        eu_password_args(&s, &t, U1_PASSWORD),
        "user_identity_already_verified",
    );

    // FIX-4: the entry vanished before the compare-and-set re-read.
    let (h, s) = with_session();
    let t = code_verified_email_update(&h, &s, NEW_EMAIL);
    vanish_before_get(&h, "aaad.", 2);
    h.err_unlogged(
        A,
        eu_password_args(&s, &t, U1_PASSWORD),
        "internal_conflict",
    );
}

#[test]
fn complete_user_email_address_update() {
    const A: &str = "complete_user_email_address_update";
    let (h, s) = with_session();
    let s2 = h.signin_u1();
    let t = email_update(&h, &s, NEW_EMAIL);
    h.err_unlogged(A, eu_args(&s, &t), "email_address_not_verified");
    let code = email_update_code(&h);
    h.ok(
        "verify_user_email_address_update_email_address_verification_code",
        eu_code_args(&s, &t, &code),
    );
    h.err_unlogged(A, eu_args(&s, &t), "user_identity_not_verified");
    h.ok(
        "verify_user_email_address_update_user_password",
        eu_password_args(&s, &t, U1_PASSWORD),
    );
    h.err_unlogged(A, eu_args("bad", &t), "invalid_session_token");
    h.err_unlogged(
        A,
        eu_args(&s, "bad"),
        "invalid_user_email_address_update_token",
    );
    h.err_unlogged(A, eu_args(&s2, &t), "session_mismatch");
    h.email_checker.set_failing(true);
    h.err_internal(A, eu_args(&s, &t));
    h.email_checker.set_failing(false);
    h.users
        .fail_next("update_user_email_address", UserStoreError::UserNotFound);
    h.err_unlogged(A, eu_args(&s, &t), "internal_conflict");
    h.users
        .fail_next("update_user_email_address", user_store_failed());
    h.err_internal(A, eu_args(&s, &t));
    assert!(
        h.main.contains(&format!("aaad.{}", id_of(&t))),
        "entry kept"
    );
    ok_unlogged(&h, A, eu_args(&s, &t));
    h.err_unlogged(
        A,
        eu_args(&s, &t),
        "invalid_user_email_address_update_token",
    );

    // The checker now denies the address → invalid token, entry deleted.
    let (h, s) = with_session();
    let t = ready_email_update(&h, &s, NEW_EMAIL);
    h.email_checker.deny(NEW_EMAIL);
    h.err_unlogged(
        A,
        eu_args(&s, &t),
        "invalid_user_email_address_update_token",
    );
    assert!(!h.main.contains(&format!("aaad.{}", id_of(&t))));
    assert!(h.users.calls_to("update_user_email_address").is_empty());

    // The store reports the address as used → invalid token, entry deleted.
    let (h, s) = with_session();
    let t = ready_email_update(&h, &s, NEW_EMAIL);
    h.users.fail_next(
        "update_user_email_address",
        UserStoreError::EmailAddressAlreadyUsed,
    );
    h.err_unlogged(
        A,
        eu_args(&s, &t),
        "invalid_user_email_address_update_token",
    );
    assert!(!h.main.contains(&format!("aaad.{}", id_of(&t))));
}

// =============================================================================================
// User password update
// =============================================================================================

#[test]
fn create_user_password_update() {
    const A: &str = "create_user_password_update";
    let (h, s) = with_session();
    ok_unlogged(&h, A, session_args(&s));
    h.err_unlogged(A, session_args("bad"), "invalid_session_token");
    h.err_unlogged(A, session_args(&wrong_secret(&s)), "invalid_session_token");
    h.users.fail_next("get_user", user_store_failed());
    h.err_internal(A, session_args(&s));
    h.main.instrumentation.fail_next(Op::Set, "aaae.", failed());
    h.err_internal(A, session_args(&s));
    h.users.modify("u1", |u| u.password_hash_counter = i32::MAX);
    h.err_internal(A, session_args(&s));
}

#[test]
fn get_user_password_update() {
    const A: &str = "get_user_password_update";
    let (h, s) = with_session();
    let s2 = h.signin_u1();
    let t = password_update(&h, &s);
    ok_unlogged(&h, A, pu_args(&s, &t));
    h.err_unlogged(A, pu_args("bad", &t), "invalid_session_token");
    h.err_unlogged(A, pu_args(&s, "bad"), "invalid_password_update_token");
    h.err_unlogged(
        A,
        pu_args(&s, &wrong_secret(&t)),
        "invalid_password_update_token",
    );
    h.err_unlogged(A, pu_args(&s2, &t), "session_mismatch");
    h.main.instrumentation.fail_next(Op::Get, "aaae.", failed());
    h.err_internal(A, pu_args(&s, &t));
    h.users.fail_next("get_user", user_store_failed());
    h.err_internal(A, pu_args(&s, &t));
    corrupt(&h, &format!("aaae.{}", id_of(&t)));
    h.err_internal(A, pu_args(&s, &t));
}

#[test]
fn delete_user_password_update() {
    const A: &str = "delete_user_password_update";
    let (h, s) = with_session();
    let s2 = h.signin_u1();
    let t = password_update(&h, &s);
    h.err_unlogged(A, pu_args("bad", &t), "invalid_session_token");
    h.err_unlogged(A, pu_args(&s, "bad"), "invalid_user_password_update_token");
    h.err_unlogged(A, pu_args(&s2, &t), "session_mismatch");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaae.", failed());
    h.err_internal(A, pu_args(&s, &t));
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaae.", StorageError::NotFound);
    h.err_unlogged(A, pu_args(&s, &t), "invalid_user_password_update_token");
    ok_unlogged(&h, A, pu_args(&s, &t));
    h.err_unlogged(A, pu_args(&s, &t), "invalid_user_password_update_token");
}

#[test]
fn verify_user_password_update_user_password() {
    const A: &str = "verify_user_password_update_user_password";
    let (h, s) = with_session(); // token 1
    let s2 = h.signin_u1(); // 2
    let t = password_update(&h, &s);
    h.err_unlogged(
        A,
        pu_password_args("bad", &t, U1_PASSWORD),
        "invalid_session_token",
    );
    h.err_unlogged(
        A,
        pu_password_args(&s, "bad", U1_PASSWORD),
        "invalid_password_update_token",
    );
    h.err_unlogged(
        A,
        pu_password_args(&s2, &t, U1_PASSWORD),
        "session_mismatch",
    );
    h.rate
        .instrumentation
        .fail_next(Op::Update, "aaaa.", StorageError::NotFound);
    h.err_unlogged(
        A,
        pu_password_args(&s, &t, U1_PASSWORD),
        "internal_conflict",
    );
    h.rate.instrumentation.fail_next(Op::Get, "aaaa.", failed());
    h.err_internal(A, pu_password_args(&s, &t, U1_PASSWORD));
    h.err_unlogged(A, pu_password_args(&s, &t, "wrong"), "incorrect_password"); // 3
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaae.", StorageError::NotFound);
    h.err_unlogged(
        A,
        pu_password_args(&s, &t, U1_PASSWORD),
        "internal_conflict",
    ); // 4
    h.users
        .modify("u1", |u| u.password_hash_algorithm_id = "unknown".into());
    h.err_internal(A, pu_password_args(&s, &t, U1_PASSWORD)); // 5
    h.users
        .modify("u1", |u| u.password_hash_algorithm_id = "test-a".into());
    h.err_unlogged(A, pu_password_args(&s, &t, U1_PASSWORD), "rate_limited");
    h.at(60);
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaae.", failed());
    h.err_internal(A, pu_password_args(&s, &t, U1_PASSWORD));
    h.at(120);
    ok_unlogged(&h, A, pu_password_args(&s, &t, U1_PASSWORD));
    h.err_unlogged(
        A,
        pu_password_args(&s, &t, U1_PASSWORD),
        "user_identity_already_verified",
    );

    // FIX-4: the entry vanished before the compare-and-set re-read.
    let (h, s) = with_session();
    let t = password_update(&h, &s);
    vanish_before_get(&h, "aaae.", 2);
    h.err_unlogged(
        A,
        pu_password_args(&s, &t, U1_PASSWORD),
        "internal_conflict",
    );
}

#[test]
fn set_user_password_update_new_password() {
    const A: &str = "set_user_password_update_new_password";
    let (h, s) = with_session();
    let s2 = h.signin_u1();
    let t = password_update(&h, &s);
    let pw = "correct-horse-7";
    h.err_unlogged(A, pu_password_args("bad", &t, pw), "invalid_session_token");
    h.err_unlogged(
        A,
        pu_password_args(&s, "bad", pw),
        "invalid_password_update_token",
    );
    h.err_unlogged(A, pu_password_args(&s2, &t, pw), "session_mismatch");
    h.err_unlogged(
        A,
        pu_password_args(&s, &t, pw),
        "user_identity_not_verified",
    );
    h.ok(
        "verify_user_password_update_user_password",
        pu_password_args(&s, &t, U1_PASSWORD),
    );
    h.err_unlogged(
        A,
        pu_password_args(&s, &t, "123456789"),
        "invalid_password_length",
    );
    h.err_unlogged(A, pu_password_args(&s, &t, "weakweakweak"), "weak_password");
    h.strength.set_failing(true);
    h.err_internal(A, pu_password_args(&s, &t, pw));
    h.strength.set_failing(false);
    h.main.instrumentation.fail_next(Op::Get, "aaae.", failed());
    h.err_internal(A, pu_password_args(&s, &t, pw));
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaae.", StorageError::NotFound);
    h.err_unlogged(A, pu_password_args(&s, &t, pw), "internal_conflict");
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaae.", failed());
    h.err_internal(A, pu_password_args(&s, &t, pw));
    ok_unlogged(&h, A, pu_password_args(&s, &t, pw));
    h.err_unlogged(A, pu_password_args(&s, &t, pw), "new_password_already_set");

    // FIX-4: the entry vanished before the compare-and-set re-read (Go: internal_error).
    let (h, s) = with_session();
    let t = verified_password_update(&h, &s);
    vanish_before_get(&h, "aaae.", 2);
    h.err_unlogged(A, pu_password_args(&s, &t, pw), "internal_conflict");
}

#[test]
fn complete_user_password_update() {
    const A: &str = "complete_user_password_update";
    let (h, s) = with_session();
    let s2 = h.signin_u1();
    let t = password_update(&h, &s);
    h.err_unlogged(A, pu_args(&s, &t), "user_identity_not_verified");
    h.ok(
        "verify_user_password_update_user_password",
        pu_password_args(&s, &t, U1_PASSWORD),
    );
    h.err_unlogged(A, pu_args(&s, &t), "new_password_not_set");
    h.ok(
        "set_user_password_update_new_password",
        pu_password_args(&s, &t, "correct-horse-7"),
    );
    h.err_unlogged(A, pu_args("bad", &t), "invalid_session_token");
    h.err_unlogged(A, pu_args(&s, "bad"), "invalid_password_update_token");
    h.err_unlogged(A, pu_args(&s2, &t), "session_mismatch");
    h.users
        .fail_next("update_user_password_hash", UserStoreError::UserNotFound);
    h.err_unlogged(A, pu_args(&s, &t), "internal_conflict");
    h.users
        .fail_next("update_user_password_hash", user_store_failed());
    h.err_internal(A, pu_args(&s, &t));
    h.main.instrumentation.fail_next(Op::Get, "aaae.", failed());
    h.err_internal(A, pu_args(&s, &t));
    assert!(h.main.contains(&format!("aaae.{}", id_of(&t))));
    ok_unlogged(&h, A, pu_args(&s, &t));
    h.err_unlogged(A, pu_args(&s, &t), "invalid_password_update_token");
}

// =============================================================================================
// User deletion
// =============================================================================================

#[test]
fn create_user_deletion() {
    const A: &str = "create_user_deletion";
    let (h, s) = with_session();
    ok_unlogged(&h, A, session_args(&s));
    h.err_unlogged(A, session_args("bad"), "invalid_session_token");
    h.err_unlogged(A, session_args(&wrong_secret(&s)), "invalid_session_token");
    h.users.fail_next("get_user", user_store_failed());
    h.err_internal(A, session_args(&s));
    h.main.instrumentation.fail_next(Op::Set, "aaag.", failed());
    h.err_internal(A, session_args(&s));
}

#[test]
fn get_user_deletion() {
    const A: &str = "get_user_deletion";
    let (h, s) = with_session();
    let s2 = h.signin_u1();
    let t = deletion(&h, &s);
    ok_unlogged(&h, A, ud_args(&s, &t));
    h.err_unlogged(A, ud_args("bad", &t), "invalid_session_token");
    h.err_unlogged(A, ud_args(&s, "bad"), "invalid_user_deletion_token");
    h.err_unlogged(
        A,
        ud_args(&s, &wrong_secret(&t)),
        "invalid_user_deletion_token",
    );
    h.err_unlogged(A, ud_args(&s2, &t), "session_mismatch");
    h.main.instrumentation.fail_next(Op::Get, "aaag.", failed());
    h.err_internal(A, ud_args(&s, &t));
    h.users.fail_next("get_user", user_store_failed());
    h.err_internal(A, ud_args(&s, &t));

    // FIX-6: an invalid entry whose delete finds it already gone → invalid token, not logged;
    // a real storage error on that delete → internal_error.
    h.users.modify("u1", |u| u.password_hash_counter += 1);
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaag.", failed());
    h.err_internal(A, ud_args(&s, &t));
    assert!(h.main.contains(&format!("aaag.{}", id_of(&t))));
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaag.", StorageError::NotFound);
    h.err_unlogged(A, ud_args(&s, &t), "invalid_user_deletion_token");
    h.err_unlogged(A, ud_args(&s, &t), "invalid_user_deletion_token");
    assert!(!h.main.contains(&format!("aaag.{}", id_of(&t))));

    let (h, s) = with_session();
    let t = deletion(&h, &s);
    corrupt(&h, &format!("aaag.{}", id_of(&t)));
    h.err_internal(A, ud_args(&s, &t));
}

#[test]
fn delete_user_deletion() {
    const A: &str = "delete_user_deletion";
    let (h, s) = with_session();
    let s2 = h.signin_u1();
    let t = deletion(&h, &s);
    h.err_unlogged(A, ud_args("bad", &t), "invalid_session_token");
    h.err_unlogged(A, ud_args(&s, "bad"), "invalid_user_deletion_token");
    h.err_unlogged(A, ud_args(&s2, &t), "session_mismatch");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaag.", failed());
    h.err_internal(A, ud_args(&s, &t));
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaag.", StorageError::NotFound);
    h.err_unlogged(A, ud_args(&s, &t), "invalid_user_deletion_token");
    ok_unlogged(&h, A, ud_args(&s, &t));
    h.err_unlogged(A, ud_args(&s, &t), "invalid_user_deletion_token");
}

#[test]
fn verify_user_deletion_user_password() {
    const A: &str = "verify_user_deletion_user_password";
    let (h, s) = with_session(); // token 1
    let s2 = h.signin_u1(); // 2
    let t = deletion(&h, &s);
    h.err_unlogged(
        A,
        ud_password_args("bad", &t, U1_PASSWORD),
        "invalid_session_token",
    );
    h.err_unlogged(
        A,
        ud_password_args(&s, "bad", U1_PASSWORD),
        "invalid_user_deletion_token",
    );
    h.err_unlogged(
        A,
        ud_password_args(&s2, &t, U1_PASSWORD),
        "session_mismatch",
    );
    h.rate
        .instrumentation
        .fail_next(Op::Update, "aaaa.", StorageError::NotFound);
    h.err_unlogged(
        A,
        ud_password_args(&s, &t, U1_PASSWORD),
        "internal_conflict",
    );
    h.rate.instrumentation.fail_next(Op::Get, "aaaa.", failed());
    h.err_internal(A, ud_password_args(&s, &t, U1_PASSWORD));
    h.err_unlogged(A, ud_password_args(&s, &t, "wrong"), "incorrect_password"); // 3
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaag.", StorageError::NotFound);
    h.err_unlogged(
        A,
        ud_password_args(&s, &t, U1_PASSWORD),
        "internal_conflict",
    ); // 4
    h.users
        .modify("u1", |u| u.password_hash_algorithm_id = "unknown".into());
    h.err_internal(A, ud_password_args(&s, &t, U1_PASSWORD)); // 5
    h.users
        .modify("u1", |u| u.password_hash_algorithm_id = "test-a".into());
    h.err_unlogged(A, ud_password_args(&s, &t, U1_PASSWORD), "rate_limited");
    h.at(60);
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaag.", failed());
    h.err_internal(A, ud_password_args(&s, &t, U1_PASSWORD));
    h.at(120);
    ok_unlogged(&h, A, ud_password_args(&s, &t, U1_PASSWORD));
    h.err_unlogged(
        A,
        ud_password_args(&s, &t, U1_PASSWORD),
        "user_identity_already_verified",
    );

    // FIX-4: the entry vanished before the compare-and-set re-read (Go: internal_error).
    let (h, s) = with_session();
    let t = deletion(&h, &s);
    vanish_before_get(&h, "aaag.", 2);
    h.err_unlogged(
        A,
        ud_password_args(&s, &t, U1_PASSWORD),
        "internal_conflict",
    );
}

#[test]
fn complete_user_deletion() {
    const A: &str = "complete_user_deletion";
    let (h, s) = with_session();
    let s2 = h.signin_u1();
    let t = deletion(&h, &s);
    h.err_unlogged(A, ud_args(&s, &t), "user_identity_not_verified");
    h.ok(
        "verify_user_deletion_user_password",
        ud_password_args(&s, &t, U1_PASSWORD),
    );
    h.err_unlogged(A, ud_args("bad", &t), "invalid_session_token");
    h.err_unlogged(A, ud_args(&s, "bad"), "invalid_user_deletion_token");
    h.err_unlogged(A, ud_args(&s2, &t), "session_mismatch");
    h.users
        .fail_next("delete_user", UserStoreError::UserNotFound);
    h.err_unlogged(A, ud_args(&s, &t), "internal_conflict");
    h.users.fail_next("delete_user", user_store_failed());
    h.err_internal(A, ud_args(&s, &t));
    h.main.instrumentation.fail_next(Op::Get, "aaag.", failed());
    h.err_internal(A, ud_args(&s, &t));
    assert!(h.users.user("u1").is_some());
    ok_unlogged(&h, A, ud_args(&s, &t));
    assert!(h.users.user("u1").is_none());
    h.err_unlogged(A, ud_args(&s, &t), "invalid_user_deletion_token");
}

// =============================================================================================
// User password reset
// =============================================================================================

#[test]
fn create_user_password_reset() {
    const A: &str = "create_user_password_reset";
    let args = |e: &str| json!({ "user_email_address": e });
    let h = Harness::new();
    ok_unlogged(&h, A, args("user1@example.com"));
    h.err_unlogged(A, args("bad"), "invalid_email_address");
    h.err_unlogged(A, args("nobody@example.com"), "user_not_found");
    for _ in 0..4 {
        h.ok(A, args("user1@example.com"));
    }
    h.err_unlogged(A, args("user1@example.com"), "rate_limited");

    let h = Harness::new();
    h.rate
        .instrumentation
        .fail_next(Op::Add, "aaab.", StorageError::AlreadyExists);
    h.err_unlogged(A, args("user1@example.com"), "internal_conflict");
    h.users
        .fail_next("get_user_by_email_address", user_store_failed());
    h.err_internal(A, args("user1@example.com"));
    h.rate.instrumentation.fail_next(Op::Get, "aaad.", failed());
    h.err_internal(A, args("user1@example.com"));
    h.rate.instrumentation.fail_next(Op::Get, "aaab.", failed());
    h.err_internal(A, args("user1@example.com"));
    h.main.instrumentation.fail_next(Op::Set, "aaaf.", failed());
    h.err_internal(A, args("user1@example.com"));
    h.email
        .set_failing(EmailKind::UserPasswordResetTemporaryPassword, true);
    h.err_internal(A, args("user1@example.com"));
    h.email
        .set_failing(EmailKind::UserPasswordResetTemporaryPassword, false);
    h.users.modify("u1", |u| u.password_hash_counter = i32::MAX);
    h.err_internal(A, args("user1@example.com"));
    h.users.modify("u1", |u| {
        u.password_hash_counter = 0;
        u.disabled = true;
        u.disabled_counter += 1;
    });
    h.err_unlogged(A, args("user1@example.com"), "user_disabled");
}

#[test]
fn get_user_password_reset() {
    const A: &str = "get_user_password_reset";
    let h = Harness::new();
    let (t, _) = reset_u1(&h);
    ok_unlogged(&h, A, pr_args(&t));
    h.err_unlogged(A, pr_args("bad"), "invalid_user_password_reset_token");
    h.err_unlogged(
        A,
        pr_args(&wrong_secret(&t)),
        "invalid_user_password_reset_token",
    );
    h.main.instrumentation.fail_next(Op::Get, "aaaf.", failed());
    h.err_internal(A, pr_args(&t));
    h.users.fail_next("get_user", user_store_failed());
    h.err_internal(A, pr_args(&t));
    corrupt(&h, &format!("aaaf.{}", id_of(&t)));
    h.err_internal(A, pr_args(&t));
}

#[test]
fn delete_user_password_reset() {
    const A: &str = "delete_user_password_reset";
    let h = Harness::new();
    let (t, _) = reset_u1(&h);
    h.err_unlogged(A, pr_args("bad"), "invalid_user_password_reset_token");
    // FIX-2: a real storage error is internal; "already gone" is an invalid token.
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaaf.", failed());
    h.err_internal(A, pr_args(&t));
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaaf.", StorageError::NotFound);
    h.err_unlogged(A, pr_args(&t), "invalid_user_password_reset_token");
    h.main.instrumentation.fail_next(Op::Get, "aaaf.", failed());
    h.err_internal(A, pr_args(&t));
    ok_unlogged(&h, A, pr_args(&t));
    h.err_unlogged(A, pr_args(&t), "invalid_user_password_reset_token");
}

#[test]
fn verify_user_password_reset_temporary_password() {
    const A: &str = "verify_user_password_reset_temporary_password";
    let h = Harness::new();
    let (t, p) = reset_u1(&h);
    h.err_unlogged(
        A,
        pr_temporary_args("bad", &p),
        "invalid_user_password_reset_token",
    );
    h.rate
        .instrumentation
        .fail_next(Op::Add, "aaad.", StorageError::AlreadyExists);
    h.err_unlogged(A, pr_temporary_args(&t, &p), "internal_conflict");
    h.rate.instrumentation.fail_next(Op::Get, "aaad.", failed());
    h.err_internal(A, pr_temporary_args(&t, &p));
    h.err_unlogged(
        A,
        pr_temporary_args(&t, "AAAAAAAAAAAA"),
        "incorrect_temporary_password",
    ); // token 1
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaaf.", StorageError::NotFound);
    h.err_unlogged(A, pr_temporary_args(&t, &p), "internal_conflict"); // 2
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaaf.", failed());
    h.err_internal(A, pr_temporary_args(&t, &p)); // 3
    h.main.instrumentation.fail_next(Op::Get, "aaaf.", failed());
    h.err_internal(A, pr_temporary_args(&t, &p));
    h.err(A, pr_temporary_args(&t, "AAAAAAAAAAAA")); // 4
    h.err(A, pr_temporary_args(&t, "AAAAAAAAAAAA")); // 5
    h.err_unlogged(A, pr_temporary_args(&t, &p), "rate_limited");
    h.at(60);
    ok_unlogged(&h, A, pr_temporary_args(&t, &p));
    h.err_unlogged(
        A,
        pr_temporary_args(&t, &p),
        "user_first_factor_already_verified",
    );

    // FIX-4: the entry vanished before the compare-and-set re-read (Go: internal_error).
    let h = Harness::new();
    let (t, p) = reset_u1(&h);
    vanish_before_get(&h, "aaaf.", 2);
    h.err_unlogged(A, pr_temporary_args(&t, &p), "internal_conflict");
}

#[test]
fn set_user_password_reset_new_password() {
    const A: &str = "set_user_password_reset_new_password";
    let pw = "correct-horse-5";
    let h = Harness::new();
    let (t, p) = reset_u1(&h);
    h.err_unlogged(
        A,
        pr_password_args("bad", pw),
        "invalid_user_password_reset_token",
    );
    h.err_unlogged(
        A,
        pr_password_args(&t, pw),
        "user_first_factor_not_verified",
    );
    h.ok(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &p),
    );
    h.err_unlogged(
        A,
        pr_password_args(&t, &"x".repeat(101)),
        "invalid_password_length",
    );
    h.err_unlogged(A, pr_password_args(&t, "password123"), "weak_password");
    h.strength.set_failing(true);
    h.err_internal(A, pr_password_args(&t, pw));
    h.strength.set_failing(false);
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaaf.", StorageError::NotFound);
    h.err_unlogged(A, pr_password_args(&t, pw), "internal_conflict");
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaaf.", failed());
    h.err_internal(A, pr_password_args(&t, pw));
    h.main.instrumentation.fail_next(Op::Get, "aaaf.", failed());
    h.err_internal(A, pr_password_args(&t, pw));
    ok_unlogged(&h, A, pr_password_args(&t, pw));
    h.err_unlogged(A, pr_password_args(&t, pw), "new_password_already_set");

    // FIX-4: the entry vanished before the compare-and-set re-read (Go: internal_error).
    let h = Harness::new();
    let t = verified_reset(&h);
    vanish_before_get(&h, "aaaf.", 2);
    h.err_unlogged(A, pr_password_args(&t, pw), "internal_conflict");
}

#[test]
fn complete_user_password_reset() {
    const A: &str = "complete_user_password_reset";
    let h = Harness::new();
    let (t, p) = reset_u1(&h);
    h.err_unlogged(A, pr_args("bad"), "invalid_user_password_reset_token");
    h.err_unlogged(A, pr_args(&t), "user_first_factor_not_verified");
    h.ok(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &p),
    );
    h.err_unlogged(A, pr_args(&t), "new_password_not_set");
    h.ok(
        "set_user_password_reset_new_password",
        pr_password_args(&t, "correct-horse-5"),
    );
    h.users
        .fail_next("update_user_password_hash", UserStoreError::UserNotFound);
    h.err_unlogged(A, pr_args(&t), "internal_conflict");
    h.users
        .fail_next("update_user_password_hash", user_store_failed());
    h.err_internal(A, pr_args(&t));
    h.main.instrumentation.fail_next(Op::Get, "aaaf.", failed());
    h.err_internal(A, pr_args(&t));
    assert!(h.main.contains(&format!("aaaf.{}", id_of(&t))));
    let values = ok_unlogged(&h, A, pr_args(&t));
    assert!(is_token(values["session_token"].as_str().unwrap()));
    h.err_unlogged(A, pr_args(&t), "invalid_user_password_reset_token");

    let h = Harness::new();
    let t = ready_reset(&h, "correct-horse-5");
    h.main.instrumentation.fail_next(Op::Set, "aaaa.", failed());
    err_logged(&h, A, pr_args(&t), "session_not_created");
}

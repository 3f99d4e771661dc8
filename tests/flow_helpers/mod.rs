//! Helpers shared by the flow conformance tests (email update, password update, deletion, password
//! reset, remaining scenarios and the error matrix). Each builds on the §14.1 harness in `common`.
#![allow(dead_code)]

use super::common::*;
use faroe_worker::adapters::memory::{EmailKind, SentEmail};
use faroe_worker::ports::{StorageError, UserStoreError};
use serde_json::{json, Map, Value};

/// A storage error that is neither "not found" nor "already exists".
pub fn storage_failed() -> StorageError {
    StorageError::Failed("injected storage failure".into())
}

/// A generic user-store error.
pub fn user_store_failed() -> UserStoreError {
    UserStoreError::Failed("injected user store failure".into())
}

/// The id part of a token.
pub fn id_of(token: &str) -> String {
    token.split('.').next().unwrap().to_string()
}

/// A fresh harness with `S = SIGNIN(U1)` at T0.
pub fn with_session() -> (Harness, String) {
    let h = Harness::new();
    let s = h.signin_u1();
    (h, s)
}

/// Asserts `code` and exactly one log entry for this invocation (codes that are logged, e.g.
/// `session_not_created`).
pub fn err_logged(h: &Harness, action: &str, arguments: Value, code: &str) {
    use faroe_worker::ports::Clock;
    let before = h.logger.entries().len();
    let result = h.call(action, arguments);
    assert_eq!(
        result["ok"],
        json!(false),
        "{action} unexpectedly succeeded"
    );
    assert_eq!(result["error_code"], json!(code), "{action}");
    let entries = h.logger.entries();
    assert_eq!(entries.len(), before + 1, "{action}: exactly one log entry");
    let entry = entries.last().unwrap();
    assert_eq!(entry.action, action);
    assert_eq!(
        json!(entry.action_invocation_id),
        result["action_invocation_id"]
    );
    assert_eq!(entry.timestamp, h.clock.now());
}

/// Asserts success and that nothing was logged by this call.
pub fn ok_unlogged(h: &Harness, action: &str, arguments: Value) -> Map<String, Value> {
    let before = h.logger.entries().len();
    let values = h.ok(action, arguments);
    assert_eq!(
        h.logger.entries().len(),
        before,
        "{action} logged on success"
    );
    values
}

pub fn last_email(h: &Harness, kind: EmailKind) -> SentEmail {
    h.email
        .sent_of(kind)
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no {kind:?} email"))
}

// ---- user email address update ----

pub const NEW_EMAIL: &str = "alice@new.example";

/// `create_user_email_address_update(S, new)`; returns (token, values).
pub fn create_email_update(h: &Harness, s: &str, new: &str) -> (String, Map<String, Value>) {
    let values = h.ok(
        "create_user_email_address_update",
        json!({ "session_token": s, "new_email_address": new }),
    );
    let token = values["user_email_address_update_token"]
        .as_str()
        .unwrap()
        .to_string();
    (token, values)
}

pub fn email_update(h: &Harness, s: &str, new: &str) -> String {
    create_email_update(h, s, new).0
}

/// The code of the most recent email-update verification email.
pub fn email_update_code(h: &Harness) -> String {
    last_email(
        h,
        EmailKind::UserEmailAddressUpdateEmailAddressVerificationCode,
    )
    .secret
}

pub fn eu_args(s: &str, t: &str) -> Value {
    json!({ "session_token": s, "user_email_address_update_token": t })
}

pub fn eu_code_args(s: &str, t: &str, code: &str) -> Value {
    json!({
        "session_token": s,
        "user_email_address_update_token": t,
        "email_address_verification_code": code,
    })
}

pub fn eu_password_args(s: &str, t: &str, password: &str) -> Value {
    json!({ "session_token": s, "user_email_address_update_token": t, "password": password })
}

/// An email update whose new address was verified (with the code just sent).
pub fn code_verified_email_update(h: &Harness, s: &str, new: &str) -> String {
    let t = email_update(h, s, new);
    let code = email_update_code(h);
    h.ok(
        "verify_user_email_address_update_email_address_verification_code",
        eu_code_args(s, &t, &code),
    );
    t
}

/// An email update ready to complete (code and password verified).
pub fn ready_email_update(h: &Harness, s: &str, new: &str) -> String {
    let t = code_verified_email_update(h, s, new);
    h.ok(
        "verify_user_email_address_update_user_password",
        eu_password_args(s, &t, U1_PASSWORD),
    );
    t
}

// ---- user password update ----

pub fn pu_args(s: &str, t: &str) -> Value {
    json!({ "session_token": s, "user_password_update_token": t })
}

pub fn pu_password_args(s: &str, t: &str, password: &str) -> Value {
    json!({ "session_token": s, "user_password_update_token": t, "password": password })
}

pub fn create_password_update(h: &Harness, s: &str) -> (String, Map<String, Value>) {
    let values = h.ok("create_user_password_update", json!({ "session_token": s }));
    let token = values["user_password_update_token"]
        .as_str()
        .unwrap()
        .to_string();
    (token, values)
}

pub fn password_update(h: &Harness, s: &str) -> String {
    create_password_update(h, s).0
}

pub fn verified_password_update(h: &Harness, s: &str) -> String {
    let t = password_update(h, s);
    h.ok(
        "verify_user_password_update_user_password",
        pu_password_args(s, &t, U1_PASSWORD),
    );
    t
}

pub fn ready_password_update(h: &Harness, s: &str, new_password: &str) -> String {
    let t = verified_password_update(h, s);
    h.ok(
        "set_user_password_update_new_password",
        pu_password_args(s, &t, new_password),
    );
    t
}

// ---- user deletion ----

pub fn ud_args(s: &str, t: &str) -> Value {
    json!({ "session_token": s, "user_deletion_token": t })
}

pub fn ud_password_args(s: &str, t: &str, password: &str) -> Value {
    json!({ "session_token": s, "user_deletion_token": t, "password": password })
}

pub fn create_deletion(h: &Harness, s: &str) -> (String, Map<String, Value>) {
    let values = h.ok("create_user_deletion", json!({ "session_token": s }));
    let token = values["user_deletion_token"].as_str().unwrap().to_string();
    (token, values)
}

pub fn deletion(h: &Harness, s: &str) -> String {
    create_deletion(h, s).0
}

pub fn verified_deletion(h: &Harness, s: &str) -> String {
    let t = deletion(h, s);
    h.ok(
        "verify_user_deletion_user_password",
        ud_password_args(s, &t, U1_PASSWORD),
    );
    t
}

// ---- user password reset ----

pub fn pr_args(t: &str) -> Value {
    json!({ "user_password_reset_token": t })
}

pub fn pr_temporary_args(t: &str, temporary_password: &str) -> Value {
    json!({ "user_password_reset_token": t, "temporary_password": temporary_password })
}

pub fn pr_password_args(t: &str, password: &str) -> Value {
    json!({ "user_password_reset_token": t, "password": password })
}

/// `create_user_password_reset(email)`; returns (token, temporary password, values).
pub fn create_reset(h: &Harness, email: &str) -> (String, String, Map<String, Value>) {
    let values = h.ok(
        "create_user_password_reset",
        json!({ "user_email_address": email }),
    );
    let token = values["user_password_reset_token"]
        .as_str()
        .unwrap()
        .to_string();
    let temporary = last_email(h, EmailKind::UserPasswordResetTemporaryPassword).secret;
    (token, temporary, values)
}

pub fn reset_u1(h: &Harness) -> (String, String) {
    let (t, p, _) = create_reset(h, "user1@example.com");
    (t, p)
}

pub fn verified_reset(h: &Harness) -> String {
    let (t, p) = reset_u1(h);
    h.ok(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &p),
    );
    t
}

pub fn ready_reset(h: &Harness, new_password: &str) -> String {
    let t = verified_reset(h);
    h.ok(
        "set_user_password_reset_new_password",
        pr_password_args(&t, new_password),
    );
    t
}

// ---- signup / signin ----

pub fn signup_args(t: &str) -> Value {
    json!({ "signup_token": t })
}

pub fn signin_args(t: &str) -> Value {
    json!({ "signin_token": t })
}

pub fn session_args(s: &str) -> Value {
    json!({ "session_token": s })
}

/// A signin whose first factor was verified.
pub fn verified_signin(h: &Harness) -> String {
    let t = h.create_signin("user1@example.com");
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": t, "password": U1_PASSWORD }),
    );
    t
}

/// Decodes lowercase hex (user-store call arguments).
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Asserts an `update_user_password_hash` call stored `password` hashed with `test-a` for `user`
/// against `counter`: args (user id, hash hex, algorithm id, salt hex, counter).
pub fn assert_password_hash_call(args: &[String], user: &str, password: &str, counter: i32) {
    assert_eq!(args.len(), 5);
    assert_eq!(args[0], user);
    assert_eq!(args[2], "test-a");
    let salt = unhex(&args[3]);
    assert_eq!(salt.len(), 16, "salt of 16 bytes");
    assert_eq!(
        args[1],
        hex(&hash_with_salt(password, &salt)),
        "hash = A(salt, password)"
    );
    assert_eq!(args[4], counter.to_string());
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
